/** What an implementing agent is told about its task, and how it may say it failed. */
import type { JsonValue } from '../db/column-types.js';
import type { Executor as DbExecutor } from '../db/database.js';
import type { Prompt } from '../executors/executor.js';

const SYSTEM = [
  'You are a software engineer implementing one task of a sprint in its repository. Follow the',
  'implementation plan, keep the change focused, run the tests that cover it, and finish with a',
  'short report: what you changed, how you verified it, and anything you deferred. When you can,',
  'answer with JSON: {"summary": string, "verified": boolean, "deferred": string[], "success": boolean}.',
].join(' ');

export async function loadTaskBriefs(db: DbExecutor, taskIds: readonly string[]) {
  if (taskIds.length === 0) return new Map<string, TaskBrief>();
  const rows = await db
    .selectFrom('tasks')
    .innerJoin('stories', 'stories.id', 'tasks.story_id')
    .innerJoin('pbis', 'pbis.id', 'stories.pbi_id')
    .select([
      'tasks.id',
      'tasks.title',
      'tasks.description',
      'tasks.implementation_plan',
      'stories.title as story_title',
      'pbis.title as pbi_title',
    ])
    .where('tasks.id', 'in', taskIds)
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}

export type TaskBrief = {
  id: string;
  title: string;
  description: string;
  implementation_plan: string | null;
  story_title: string;
  pbi_title: string;
};

/** The failed check an attempt follows (SPEC "Workspaces": the retry's prompt carries the failing output). */
export interface CheckFailure {
  attempt: number;
  command: string;
  failure: string;
}

export function taskPrompt(task: TaskBrief, instructions?: string, previous?: CheckFailure): Prompt {
  const parts = [
    `Task: ${task.title}`,
    `Part of story "${task.story_title}" of backlog item "${task.pbi_title}".`,
    task.description,
    `Implementation plan:\n${task.implementation_plan ?? '(none given: work from the title and description)'}`,
  ];
  if (instructions) parts.push(`Further instructions:\n${instructions}`);
  if (previous) parts.push(checkFailureSection(previous));
  return { system: SYSTEM, user: parts.filter(Boolean).join('\n\n') };
}

export function checkFailureSection(previous: CheckFailure): string {
  return [
    `This is attempt ${previous.attempt}: the check failed on the previous attempt's work, which your workspace starts from.`,
    `\`${previous.command}\` said (its last lines):`,
    '```',
    previous.failure,
    '```',
    'Fix what it reports.',
  ].join('\n');
}

/** An agent may report failure in its structured output even when it exits cleanly. */
export function reportedFailure(data: JsonValue): string | null {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return null;
  if (data.success === false || data.is_error === true) {
    const said = data.error ?? data.summary ?? data.result;
    return typeof said === 'string' ? said : 'the agent reported failure';
  }
  return null;
}
