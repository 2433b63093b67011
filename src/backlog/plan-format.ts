/**
 * The plan an IDEA_MAKE_PLAN agent writes: markdown whose YAML frontmatter lists PBIs, their
 * stories and their tasks (with implementation plans and dependencies between tasks). The body
 * after the frontmatter is free notes for humans. The README documents the format with an
 * example; `parsePlanMd` is the only judge of it.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { topologicalOrder } from './topological-order.js';

/** A text field: "required" when missing, "must be text" when not a string; limits say their own. */
const text = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? `${what} is required` : `${what} must be text`) }).trim();

const planTask = z.object({
  key: text('key').regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, {
    error: 'key must be 1-64 lowercase letters, digits, - or _, starting with a letter or digit',
  }),
  title: text('title').min(1, { error: 'title is required' }).max(300, { error: 'title is longer than 300 characters' }),
  description: text('description').max(20_000, { error: 'description is longer than 20000 characters' }).default(''),
  implementation_plan: text('implementation_plan')
    .min(1, { error: 'implementation_plan is required' })
    .max(50_000, { error: 'implementation_plan is longer than 50000 characters' }),
  depends_on: z.array(z.string({ error: 'depends_on lists task keys' })).default([]),
});

const planStory = z.object({
  title: text('title').min(1, { error: 'title is required' }).max(300, { error: 'title is longer than 300 characters' }),
  description: text('description').max(20_000, { error: 'description is longer than 20000 characters' }).default(''),
  tasks: z.array(planTask, { error: 'tasks must be a list' }).min(1, { error: 'a story needs at least one task' }),
});

const planPbi = z.object({
  title: text('title').min(1, { error: 'title is required' }).max(300, { error: 'title is longer than 300 characters' }),
  description: text('description').max(20_000, { error: 'description is longer than 20000 characters' }).default(''),
  priority: z.number({ error: 'priority must be a whole number' }).int({ error: 'priority must be a whole number' }).default(0),
  stories: z.array(planStory, { error: 'stories must be a list' }).min(1, { error: 'a PBI needs at least one story' }),
});

const planSchema = z.object({
  pbis: z.array(planPbi, { error: 'pbis must be a list' }).min(1, { error: 'a plan needs at least one PBI' }),
});

export type Plan = z.infer<typeof planSchema>;
export type PlanTask = z.infer<typeof planTask>;

export type PlanParseResult = { ok: true; plan: Plan; notes: string } | { ok: false; errors: string[] };

/** The frontmatter between a first line `---` and the next line `---`, and the body after it. */
function splitFrontmatter(markdown: string): { yaml: string; body: string; firstLine: number } | null {
  const lines = markdown.replace(/^\uFEFF/, '').split(/\r?\n/);
  const start = lines.findIndex((line) => line.trim() !== '');
  if (start === -1 || lines[start]!.trimEnd() !== '---') return null;
  const end = lines.findIndex((line, i) => i > start && line.trimEnd() === '---');
  if (end === -1) return null;
  return { yaml: lines.slice(start + 1, end).join('\n'), body: lines.slice(end + 1).join('\n'), firstLine: start + 2 };
}

export function parsePlanMd(markdown: string): PlanParseResult {
  const parts = splitFrontmatter(markdown);
  if (!parts) return { ok: false, errors: ['the plan must start with YAML frontmatter between two --- lines'] };

  let document: unknown;
  try {
    document = parseYaml(parts.yaml);
  } catch (error) {
    // Report the line in the plan the author wrote, not in the frontmatter alone.
    const line = error instanceof YAMLParseError && error.linePos ? parts.firstLine + error.linePos[0].line - 1 : null;
    const message = (error as Error).message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return { ok: false, errors: [`the frontmatter is not valid YAML${line ? ` (line ${line})` : ''}: ${message}`] };
  }

  const parsed = planSchema.safeParse(document ?? {});
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`) };
  }

  const errors = dependencyErrors(parsed.data);
  return errors.length ? { ok: false, errors } : { ok: true, plan: parsed.data, notes: parts.body.trim() };
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return 'frontmatter';
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i ? '.' : ''}${String(part)}`)).join('');
}

/** Every task of a plan, with the path a user would use to find it. */
export function planTasks(plan: Plan): { task: PlanTask; path: string }[] {
  return plan.pbis.flatMap((pbi, p) =>
    pbi.stories.flatMap((story, s) => story.tasks.map((task, t) => ({ task, path: `pbis[${p}].stories[${s}].tasks[${t}]` }))),
  );
}

function dependencyErrors(plan: Plan): string[] {
  const errors: string[] = [];
  const tasks = planTasks(plan);
  const keys = new Map<string, string>();
  for (const { task, path } of tasks) {
    if (keys.has(task.key)) errors.push(`${path}.key: "${task.key}" is also the key of ${keys.get(task.key)}`);
    else keys.set(task.key, path);
  }
  const edges: [string, string][] = [];
  for (const { task, path } of tasks) {
    task.depends_on.forEach((dependency, d) => {
      if (!keys.has(dependency)) errors.push(`${path}.depends_on[${d}]: no task has the key "${dependency}"`);
      else if (dependency === task.key) errors.push(`${path}.depends_on[${d}]: a task cannot depend on itself`);
      else edges.push([task.key, dependency]);
    });
  }
  if (errors.length) return errors;
  const order = topologicalOrder([...keys.keys()], edges);
  if (!order.ok) errors.push(`depends_on: the tasks ${order.cycle.join(' -> ')} depend on each other in a cycle`);
  return errors;
}
