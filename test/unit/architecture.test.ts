/**
 * House rules that keep the code readable, checked on the source: no circular imports between
 * modules, layers that only import downward (type-only imports count: a reader follows them
 * too), and only src/config.ts reads the environment.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Runtime imports of a file: relative `import ... from` and `export ... from`, not `import type`. */
export function runtimeImports(file: string, source: string): string[] {
  const statements = source.match(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)';/gms) ?? [];
  return statements
    .filter((statement) => !/^(?:import|export)\s+type\s/.test(statement))
    .filter((statement) => {
      // `import { type A, type B } from` is type-only too.
      const names = /\{([^}]*)\}/.exec(statement)?.[1];
      return !names || names.split(',').some((name) => name.trim() && !name.trim().startsWith('type '));
    })
    .map((statement) => path.resolve(path.dirname(file), /'(\.[^']+)'/.exec(statement)![1]!.replace(/\.js$/, '.ts')));
}

/** Every relative import of a file: runtime, type-only, side-effect, re-export and dynamic. */
export function allImports(file: string, source: string): string[] {
  const statements = /^(?:import|export)\s[^;]*?from\s+'(\.[^']+)';|^import\s+'(\.[^']+)';|\bimport\(\s*'(\.[^']+)'\s*\)/gms;
  return [...source.matchAll(statements)].map((match) =>
    path.resolve(path.dirname(file), (match[1] ?? match[2] ?? match[3])!.replace(/\.js$/, '.ts')),
  );
}

/**
 * The layers of src/, top first. A module imports from its own layer or from the layers below,
 * never from a layer above; inside a layer the folders import each other one way only.
 * - api and cli: the edges, which open resources and wire everything;
 * - workers and sweeper: the long-running loops;
 * - kinds and sprints (a kind's effects live in its handler; a kind may drive a sprint run, a
 *   sprint never asks for a kind), schedules (whose firings enqueue jobs and start sprint runs),
 *   with events and metrics, which report on the fleet;
 * - jobs and backlog: the job services (enqueue, claim, finish, retry) and the backlog rows, with
 *   providers, budgets and fairness (providers' pauses, owners' daily budgets, owners' caps and turns),
 *   and retention (job traffic aged out by the sweeper);
 * - transitions: the door, history, and the cascades that know only machines and rows;
 * - db, queues, machines, spelling, with auth, executors and services (adapters to the outside);
 * - util, errors, config, logger, telemetry (tracing) and the leaves that define the job kinds and job budgets.
 * A folder is named by its first segment under src/; a file at the top of src/ by its name.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['api', 'cli'],
  ['workers', 'sweeper'],
  ['kinds', 'sprints', 'schedules', 'events', 'metrics'],
  ['jobs', 'backlog', 'providers', 'budgets', 'fairness', 'retention'],
  ['transitions'],
  ['db', 'queues', 'machines', 'spelling', 'auth', 'executors', 'services', 'workspaces'],
  ['util', 'errors', 'config', 'logger', 'version', 'package-root', 'job-kinds', 'job-budget', 'telemetry'],
];

export function folderOf(root: string, file: string): string {
  const relative = path.relative(root, file);
  return relative.includes(path.sep) ? relative.split(path.sep)[0]! : relative.replace(/\.ts$/, '');
}

/**
 * What breaks the layering in a graph of files: imports that point up a layer, folders in no
 * layer, and a cycle between the folders of one layer.
 */
export function layerViolations(root: string, graph: Map<string, string[]>, layers: readonly (readonly string[])[]): string[] {
  const rank = new Map(layers.flatMap((folders, index) => folders.map((folder) => [folder, index] as const)));
  const violations: string[] = [];
  const folders = new Map<string, Set<string>>();
  for (const [file, targets] of graph) {
    const from = folderOf(root, file);
    if (!rank.has(from)) violations.push(`${path.relative(root, file)} is in no layer`);
    for (const target of targets) {
      const to = folderOf(root, target);
      if (from === to) continue;
      if (rank.has(from) && rank.has(to) && rank.get(to)! < rank.get(from)!) {
        violations.push(`${path.relative(root, file)} imports ${path.relative(root, target)} from a layer above`);
      }
      folders.set(from, (folders.get(from) ?? new Set()).add(to));
    }
  }
  const cycle = findCycle(new Map([...folders].map(([folder, targets]) => [folder, [...targets]])));
  if (cycle) violations.push(`the folders import each other: ${cycle.join(' -> ')}`);
  return violations;
}

export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'visiting') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('architecture', () => {
  it('the cycle finder finds a cycle and ignores type-only imports', () => {
    expect(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
        ]),
      ),
    ).toEqual(['a', 'b', 'c', 'a']);
    expect(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', []],
        ]),
      ),
    ).toBeNull();
    expect(
      runtimeImports('/x/a.ts', "import type { T } from './t.js';\nimport { type U } from './u.js';\nimport { v } from './v.js';"),
    ).toEqual(['/x/v.ts']);
  });

  it('the layer check finds an upward import, a folder in no layer and folders that import each other', () => {
    const graph = new Map([
      ['/s/top/a.ts', ['/s/low/b.ts', '/s/mid/c.ts']],
      ['/s/mid/c.ts', ['/s/low/b.ts', '/s/side/d.ts']],
      ['/s/side/d.ts', ['/s/low/b.ts']],
      ['/s/low/b.ts', ['/s/leaf.ts']],
      ['/s/leaf.ts', []],
    ]);
    const layers = [['top'], ['mid', 'side'], ['low', 'leaf']];
    expect(layerViolations('/s', graph, layers)).toEqual([]);
    graph.set('/s/low/b.ts', ['/s/leaf.ts', '/s/mid/c.ts']);
    expect(layerViolations('/s', graph, layers)).toEqual([
      'low/b.ts imports mid/c.ts from a layer above',
      'the folders import each other: low -> mid -> low',
    ]);
    graph.set('/s/low/b.ts', ['/s/leaf.ts']);
    graph.set('/s/leaf.ts', ['/s/top/a.ts']);
    expect(layerViolations('/s', graph, layers)[0]).toBe('leaf.ts imports top/a.ts from a layer above');
    graph.set('/s/leaf.ts', []);
    graph.set('/s/low/b.ts', ['/s/leaf.ts']);
    graph.set('/s/side/d.ts', ['/s/mid/c.ts']);
    expect(layerViolations('/s', graph, layers)).toEqual(['the folders import each other: mid -> side -> mid']);
    graph.set('/s/side/d.ts', []);
    graph.set('/s/new/e.ts', ['/s/low/b.ts']);
    expect(layerViolations('/s', graph, layers)).toEqual(['new/e.ts is in no layer']);
    const source = [
      "import type { T } from './t.js';",
      "import { type U } from './u.js';",
      "import './v.js';",
      "export * from './w.js';",
      "await import('./x.js');",
    ].join('\n');
    expect(allImports('/x/a.ts', source)).toEqual(['/x/t.ts', '/x/u.ts', '/x/v.ts', '/x/w.ts', '/x/x.ts']);
  });

  it('keeps src/ in layers that only import downward, type-only imports included', () => {
    const files = sourceFiles(SRC);
    const graph = new Map(files.map((file) => [file, allImports(file, readFileSync(file, 'utf8'))]));
    expect(layerViolations(SRC, graph, LAYERS)).toEqual([]);
  });

  it('has no circular imports in src/, type-only imports included', () => {
    const files = sourceFiles(SRC);
    const graph = new Map(files.map((file) => [file, allImports(file, readFileSync(file, 'utf8'))]));
    expect(findCycle(graph)?.map((file) => path.relative(SRC, file))).toBeUndefined();
  });

  it('has no circular imports in src/', () => {
    const files = sourceFiles(SRC);
    const graph = new Map(files.map((file) => [file, runtimeImports(file, readFileSync(file, 'utf8'))]));
    const cycle = findCycle(graph);
    expect(cycle?.map((file) => path.relative(SRC, file))).toBeUndefined();
  });

  it('reads process.env only in src/config.ts (the CLI entry hands it over; the command agent and git pass it on to their children)', () => {
    const readers = sourceFiles(SRC)
      .filter((file) => /process\.env\b/.test(readFileSync(file, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')))
      .map((file) => path.relative(SRC, file));
    // workspaces/git.ts: git needs the worker's credentials, proxy and ssh agent variables as they are.
    expect(readers.sort()).toEqual(['cli/main.ts', 'config.ts', 'executors/command.executor.ts', 'workspaces/git.ts']);
  });
});
