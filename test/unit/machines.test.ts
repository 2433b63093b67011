import { describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors/app-error.js';
import { type AnyMachine, ENTITY_TYPES, MACHINES, defineMachine } from '../../src/machines/index.js';
import { STATUS_SPELLING, taskStatus } from '../../src/spelling/api-spelling.js';
import { pathTo } from '../helpers/fixtures.js';

const SEED_STATUSES = {
  PBI: ['READY', 'BLOCKED', 'DONE', 'FAILED'],
  STORY: ['OPEN', 'IN_SPRINT', 'DONE', 'FAILED'],
  TASK: ['TO_DO', 'IN_PROGRESS', 'REVIEW', 'DONE', 'FAILED'],
  SPRINT: ['ACTIVE', 'COMPLETED', 'FAILED'],
  SPRINT_RUN: ['QUEUED', 'RUNNING', 'PAUSED', 'DONE', 'FAILED', 'CANCELLED'],
  CLAUDE_JOB: ['QUEUED', 'CLAIMED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED', 'SKIPPED'],
  IDEA: ['DRAFT', 'GRILLING', 'GRILL_FAILED', 'GRILLED', 'PLANNING', 'PLAN_FAILED', 'PLAN_READY', 'PLANNED'],
  STEP: ['PENDING', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'SKIPPED'],
  PROVIDER: ['ACTIVE', 'PAUSED'],
} as const;

describe('state machines', () => {
  it.each(ENTITY_TYPES)('%s has exactly the statuses of the contract', (entity) => {
    expect([...MACHINES[entity].statuses]).toEqual([...SEED_STATUSES[entity]]);
  });

  it.each(ENTITY_TYPES)('%s reaches every status from its initial one', (entity) => {
    const machine = MACHINES[entity] as AnyMachine;
    for (const status of machine.statuses) expect(() => pathTo(machine, status)).not.toThrow();
  });

  it('knows the edges of the seed diagrams and the ones the contract adds', () => {
    const job = MACHINES.CLAUDE_JOB;
    expect(job.canTransition('QUEUED', 'CLAIMED')).toBe(true);
    expect(job.canTransition('CLAIMED', 'QUEUED')).toBe(true);
    expect(job.canTransition('QUEUED', 'RUNNING')).toBe(false);
    expect(job.allowedFrom('RUNNING').sort()).toEqual(['CANCELLED', 'DONE', 'FAILED', 'QUEUED']);
    expect(job.allowedFrom('RUNNING', 'user')).toEqual(['CANCELLED']);
    expect(MACHINES.PBI.canTransition('BLOCKED', 'DONE')).toBe(false);
    expect(MACHINES.TASK.canTransition('REVIEW', 'IN_PROGRESS')).toBe(true);
    expect(MACHINES.IDEA.canTransition('PLAN_FAILED', 'PLANNING')).toBe(true);
  });

  it('lists the terminal statuses of each machine', () => {
    expect(MACHINES.CLAUDE_JOB.terminal).toEqual(['DONE', 'FAILED', 'CANCELLED', 'SKIPPED']);
    expect(MACHINES.IDEA.terminal).toEqual(['PLANNED']);
    expect(MACHINES.PBI.terminal).toEqual(['DONE', 'FAILED']);
    expect(MACHINES.SPRINT_RUN.terminal).toEqual(['DONE', 'FAILED', 'CANCELLED']);
  });

  it('refuses an unknown edge with invalid_transition naming the allowed next statuses', () => {
    try {
      MACHINES.TASK.assertTransition('TO_DO', 'DONE');
      expect.unreachable();
    } catch (error) {
      expect(isAppError(error, 'invalid_transition')).toBe(true);
      expect((error as Error).message).toBe('task cannot go from todo to done; allowed next: in_progress');
      expect((error as { details: { allowed: string[] } }).details).toEqual({
        entity: 'task',
        from: 'todo',
        to: 'done',
        allowed: ['in_progress'],
      });
    }
  });

  it('refuses a system-only edge to a user and says what triggers it', () => {
    expect(() => MACHINES.PBI.assertTransition('READY', 'DONE', { by: 'user' })).toThrow(
      /only by the system: every story of the PBI reaches done/,
    );
    expect(MACHINES.PBI.assertTransition('READY', 'BLOCKED', { by: 'user' }).trigger).toBe('user_blocks');
  });

  it('picks the rule of the named trigger and requires a name where an edge has several', () => {
    expect(MACHINES.TASK.assertTransition('TO_DO', 'IN_PROGRESS', { trigger: 'user_starts' }).by).toBe('user');
    expect(() => MACHINES.TASK.assertTransition('TO_DO', 'IN_PROGRESS')).toThrow(/several triggers/);
    expect(() => MACHINES.TASK.assertTransition('TO_DO', 'IN_PROGRESS', { trigger: 'nope' })).toThrow(/has no trigger nope/);
    expect(MACHINES.TASK.assertTransition('TO_DO', 'IN_PROGRESS', { by: 'system' }).trigger).toBe('agent_started');
  });

  it('rejects a definition whose edge names an unknown status', () => {
    expect(() =>
      defineMachine({
        entity: 'X',
        table: 'x',
        statuses: ['A', 'B'],
        initial: 'A',
        noun: 'x',
        spell: (status) => status.toLowerCase(),
        transitions: [{ from: 'A', to: 'C' as 'B', trigger: 't', by: 'user', description: 'd' }],
      }),
    ).toThrow(/unknown status/);
  });
});

describe('database and API spelling', () => {
  it.each(ENTITY_TYPES)('%s spells every status once, both ways', (entity) => {
    const spelling = STATUS_SPELLING[entity];
    const statuses = MACHINES[entity].statuses as readonly string[];
    expect(spelling.apiValues).toHaveLength(statuses.length);
    for (const status of statuses) {
      const api = (spelling.toApi as (s: string) => string)(status);
      expect(api).toMatch(/^[a-z_]+$/);
      expect(spelling.fromApi(api)).toBe(status);
    }
  });

  it('spells Task TO_DO as todo and maps nothing else to it', () => {
    expect(taskStatus.toApi('TO_DO')).toBe('todo');
    expect(taskStatus.fromApi('todo')).toBe('TO_DO');
    expect(taskStatus.fromApi('to_do')).toBeNull();
    expect(taskStatus.fromApi('TO_DO')).toBeNull();
  });

  it('maps unknown or non-string input to nothing', () => {
    for (const input of ['', 'DONE', 'Done', 'done ', 'bogus', 42, null, undefined, {}, ['done']]) {
      expect(taskStatus.fromApi(input)).toBeNull();
    }
  });
});
