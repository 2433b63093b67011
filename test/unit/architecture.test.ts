/**
 * House rules that keep the code readable, checked on the source: no circular imports between
 * modules (type-only imports do not count: they vanish at run time), and only src/config.ts
 * reads the environment.
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
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', ['b']], ['b', []]]))).toBeNull();
    expect(runtimeImports('/x/a.ts', "import type { T } from './t.js';\nimport { type U } from './u.js';\nimport { v } from './v.js';")).toEqual(['/x/v.ts']);
  });

  it('has no circular imports in src/', () => {
    const files = sourceFiles(SRC);
    const graph = new Map(files.map((file) => [file, runtimeImports(file, readFileSync(file, 'utf8'))]));
    const cycle = findCycle(graph);
    expect(cycle?.map((file) => path.relative(SRC, file))).toBeUndefined();
  });

  it('reads process.env only in src/config.ts (the CLI entry hands it over; the command agent passes it on to its child)', () => {
    const readers = sourceFiles(SRC)
      .filter((file) => /process\.env\b/.test(readFileSync(file, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')))
      .map((file) => path.relative(SRC, file));
    expect(readers.sort()).toEqual(['cli/main.ts', 'config.ts', 'executors/command.executor.ts']);
  });
});
