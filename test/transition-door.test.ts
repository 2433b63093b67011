import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, isAppError } from '../src/errors/app-error.js';
import { type AnyMachine, ENTITY_TYPES, type EntityType, MACHINES, type TransitionRule } from '../src/machines/index.js';
import { transition, transitionMany } from '../src/transitions/index.js';
import { freshRow, historyCount, idea, inTrx, planChatJob, product, rowIn, statusOf } from './helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

let test: TestDatabase;
beforeAll(async () => {
  test = await createTestDatabase();
});
afterAll(async () => {
  await test.drop();
});

const rules = ENTITY_TYPES.flatMap((entity) =>
  (MACHINES[entity].transitions as readonly TransitionRule<string>[]).map((rule) => ({ entity, ...rule })),
);

async function snapshot(entity: EntityType, id: string) {
  const table = MACHINES[entity].table;
  const row = (await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)} WHERE id = ${id}`.execute(test.db)).rows[0];
  return { row, history: await historyCount(test.db, entity, id) };
}

async function expectRefused(error: unknown, code: string) {
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
}

describe('the transition door', () => {
  it.each(rules)('$entity $from -> $to ($trigger) applies and writes exactly one history row', async (rule) => {
    const machine = MACHINES[rule.entity] as AnyMachine;
    const row = await inTrx(test.db, (trx) => rowIn(trx, rule.entity, rule.from));
    const before = await historyCount(test.db, rule.entity, row.id);

    const applied = await inTrx(test.db, (trx) =>
      transition(trx, machine, { id: row.id, from: rule.from, to: rule.to, trigger: rule.trigger } as never),
    );

    expect(applied.hops).toEqual([expect.objectContaining({ from: rule.from, to: rule.to, trigger: rule.trigger })]);
    expect(await statusOf(test.db, rule.entity, row.id)).toBe(rule.to);
    expect(await historyCount(test.db, rule.entity, row.id)).toBe(before + 1);
    const last = await test.db
      .selectFrom('transitions')
      .selectAll()
      .where('entity_id', '=', row.id)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(last).toMatchObject({ entity_type: rule.entity, from_status: rule.from, to_status: rule.to, trigger: rule.trigger });
  });

  describe.each(ENTITY_TYPES)('%s refuses', (entity) => {
    const machine = MACHINES[entity] as AnyMachine;
    const statuses = machine.statuses as readonly string[];

    it.each(statuses)('every edge the machine lacks from %s, leaving row and history untouched', async (from) => {
      const row = await inTrx(test.db, (trx) => rowIn(trx, entity, from));
      const before = await snapshot(entity, row.id);
      const missing = statuses.filter((to) => !machine.canTransition(from as never, to as never));
      if (machine.isTerminal(from as never)) expect(missing).toEqual(statuses);
      for (const to of missing) {
        const error = await inTrx(test.db, (trx) => transition(trx, machine, { id: row.id, from, to } as never)).catch((e) => e);
        await expectRefused(error, 'invalid_transition');
        expect((error as AppError).details.allowed).toEqual(machine.allowedFrom(from as never).map(machine.spell as (s: string) => string));
      }
      expect(await snapshot(entity, row.id)).toEqual(before);
    });
  });

  it('refuses an allowed edge whose from-status the row is no longer in, saying where it is', async () => {
    const row = await inTrx(test.db, (trx) => rowIn(trx, 'TASK', 'REVIEW'));
    const before = await snapshot('TASK', row.id);
    const error = await inTrx(test.db, (trx) =>
      transition(trx, MACHINES.TASK, { id: row.id, from: 'TO_DO', to: 'IN_PROGRESS', trigger: 'user_starts' }),
    ).catch((e) => e);
    await expectRefused(error, 'status_conflict');
    expect((error as AppError).details).toMatchObject({ current: 'review', expected: 'todo', allowed: ['done', 'in_progress', 'failed'] });
    expect(await snapshot('TASK', row.id)).toEqual(before);
  });

  it('refuses a system edge asked for by a user, naming what triggers it', async () => {
    const row = await inTrx(test.db, (trx) => rowIn(trx, 'PBI', 'READY'));
    const error = await inTrx(test.db, (trx) => transition(trx, MACHINES.PBI, { id: row.id, from: 'READY', to: 'DONE', by: 'user' })).catch(
      (e) => e,
    );
    await expectRefused(error, 'invalid_transition');
    expect((error as Error).message).toContain('every story of the PBI reaches done');
    expect(await statusOf(test.db, 'PBI', row.id)).toBe('READY');
  });

  it('answers not_found for a row that does not exist', async () => {
    const error = await inTrx(test.db, (trx) =>
      transition(trx, MACHINES.SPRINT, { id: '00000000-0000-4000-8000-000000000000', from: 'ACTIVE', to: 'COMPLETED' }),
    ).catch((e) => e);
    await expectRefused(error, 'not_found');
  });

  it('lets exactly one of two concurrent transitions from the same status win', async () => {
    const rows = await inTrx(test.db, async (trx) => {
      const p = await product(trx);
      const i = await idea(trx, p.id);
      return Promise.all(Array.from({ length: 20 }, () => planChatJob(trx, i.id)));
    });
    for (const row of rows) {
      const attempt = (to: 'CLAIMED' | 'CANCELLED') =>
        test.db.transaction().execute(async (trx) => {
          const applied = await transition(trx, MACHINES.CLAUDE_JOB, {
            id: row.id,
            from: 'QUEUED',
            to,
            trigger: to === 'CANCELLED' ? 'user_cancels' : 'claimed',
          });
          // Hold the row lock a moment so the other transaction has to wait on it.
          await sql`SELECT pg_sleep(0.005)`.execute(trx);
          return applied;
        });
      const outcomes = await Promise.allSettled([attempt('CLAIMED'), attempt('CANCELLED')]);
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(isAppError(lost[0]!.reason, 'status_conflict')).toBe(true);
      expect(await historyCount(test.db, 'CLAUDE_JOB', row.id)).toBe(2);
    }
  });

  it('applies a batch in one statement and returns the rows it could not move', async () => {
    const { jobs, moved } = await inTrx(test.db, async (trx) => {
      const p = await product(trx);
      const i = await idea(trx, p.id);
      const jobs = await Promise.all(Array.from({ length: 5 }, () => planChatJob(trx, i.id)));
      const moved = await transition(trx, MACHINES.CLAUDE_JOB, {
        id: jobs[4]!.id,
        from: 'QUEUED',
        to: 'CANCELLED',
        trigger: 'user_cancels',
      });
      return { jobs, moved };
    });
    expect(moved.to).toBe('CANCELLED');
    const outcome = await inTrx(test.db, (trx) =>
      transitionMany(trx, MACHINES.CLAUDE_JOB, [
        ...jobs.map((job) => ({ id: job.id, from: 'QUEUED' as const, to: 'CLAIMED' as const })),
        { id: jobs[0]!.id, from: 'QUEUED', to: 'SKIPPED' },
      ]),
    );
    expect(outcome.applied.map((a) => a.row.id).sort()).toEqual(
      jobs
        .slice(0, 4)
        .map((j) => j.id)
        .sort(),
    );
    expect(outcome.refused.map((r) => r.id).sort()).toEqual([jobs[4]!.id, jobs[0]!.id].sort());
    for (const job of jobs.slice(0, 4)) expect(await statusOf(test.db, 'CLAUDE_JOB', job.id)).toBe('CLAIMED');
  });

  it('takes several edges in one statement with a history row for each, writing columns and guards', async () => {
    const job = await inTrx(test.db, (trx) => rowIn(trx, 'CLAUDE_JOB', 'QUEUED'));
    const applied = await inTrx(test.db, (trx) =>
      transition(
        trx,
        MACHINES.CLAUDE_JOB,
        {
          id: job.id,
          from: 'QUEUED',
          via: ['CLAIMED'],
          to: 'RUNNING',
          set: { claimed_by_worker_id: '11111111-1111-4111-8111-111111111111', payload: { a: [1, 2] } },
          guard: { claim_epoch: 0 },
        },
        { setSql: { claim_epoch: sql`t.claim_epoch + 1`, claimed_at: sql`now()` } },
      ),
    );
    expect(applied.row).toMatchObject({
      status: 'RUNNING',
      claim_epoch: 1,
      claimed_by_worker_id: '11111111-1111-4111-8111-111111111111',
      payload: { a: [1, 2] },
    });
    expect(applied.hops.map((h) => `${h.from}>${h.to}:${h.trigger}`)).toEqual(['QUEUED>CLAIMED:claimed', 'CLAIMED>RUNNING:started']);
    const history = await test.db.selectFrom('transitions').select('to_status').where('entity_id', '=', job.id).orderBy('id').execute();
    expect(history.map((h) => h.to_status)).toEqual(['QUEUED', 'CLAIMED', 'RUNNING']);

    // The same guard no longer holds: the epoch moved on.
    const error = await inTrx(test.db, (trx) =>
      transition(trx, MACHINES.CLAUDE_JOB, { id: job.id, from: 'RUNNING', to: 'DONE', guard: { claim_epoch: 0 } }),
    ).catch((e) => e);
    await expectRefused(error, 'status_conflict');
    expect((error as AppError).details.mismatched).toEqual(['claim_epoch']);
    expect(await statusOf(test.db, 'CLAUDE_JOB', job.id)).toBe('RUNNING');
  });

  it('adds to numeric columns with `add`, a NULL counting as 0, per request of a batch, and refuses a column both set and added to', async () => {
    const [a, b] = await inTrx(test.db, async (trx) => [
      await rowIn(trx, 'CLAUDE_JOB', 'QUEUED'),
      await rowIn(trx, 'CLAUDE_JOB', 'QUEUED'),
    ]);
    await test.db.updateTable('claude_jobs').set({ input_tokens: 100, cost_usd: '0.25' }).where('id', '=', a!.id).execute();
    const outcome = await inTrx(test.db, (trx) =>
      transitionMany(trx, MACHINES.CLAUDE_JOB, [
        { id: a!.id, from: 'QUEUED', to: 'CLAIMED', add: { input_tokens: 7, cost_usd: 0.5 } },
        { id: b!.id, from: 'QUEUED', to: 'CLAIMED', add: { input_tokens: 3 } },
      ]),
    );
    expect(outcome.applied).toHaveLength(2);
    const rows = await test.db
      .selectFrom('claude_jobs')
      .select(['id', 'input_tokens', 'cost_usd'])
      .where('id', 'in', [a!.id, b!.id])
      .execute();
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(byId.get(a!.id)).toMatchObject({ input_tokens: 107, cost_usd: '0.750000' });
    expect(byId.get(b!.id)).toMatchObject({ input_tokens: 3, cost_usd: null });

    const both = await inTrx(test.db, (trx) =>
      transitionMany(trx, MACHINES.CLAUDE_JOB, [
        { id: b!.id, from: 'CLAIMED', to: 'QUEUED', set: { input_tokens: 1 } },
        { id: a!.id, from: 'CLAIMED', to: 'QUEUED', add: { input_tokens: 1 } },
      ]),
    ).catch((e: unknown) => e);
    expect((both as Error).message).toContain('input_tokens is both set and added to');
  });

  it('writes actor, reason and artifacts into the history row', async () => {
    const row = await inTrx(test.db, (trx) => freshRow(trx, 'SPRINT'));
    const token = await test.db
      .insertInto('api_tokens')
      .values({ name: 't', owner_id: 'o', scopes: ['admin'], token_hash: `h-${row.id}`, token_prefix: 'jf_x' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await inTrx(test.db, (trx) =>
      transition(trx, MACHINES.SPRINT, {
        id: row.id,
        from: 'ACTIVE',
        to: 'COMPLETED',
        context: { actorTokenId: token.id, reason: 'sprint review held', artifacts: { notes: 'https://example.test/review' } },
      }),
    );
    const last = await test.db
      .selectFrom('transitions')
      .selectAll()
      .where('entity_id', '=', row.id)
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(last).toMatchObject({
      actor_token_id: token.id,
      reason: 'sprint review held',
      artifacts: { notes: 'https://example.test/review' },
      trigger: 'user_closes',
    });
  });

  it("rolls back the change and its history when the caller's transaction fails", async () => {
    const row = await inTrx(test.db, (trx) => freshRow(trx, 'SPRINT'));
    const before = await snapshot('SPRINT', row.id);
    await expect(
      inTrx(test.db, async (trx) => {
        await transition(trx, MACHINES.SPRINT, { id: row.id, from: 'ACTIVE', to: 'COMPLETED' });
        throw new Error('caller fails after the transition');
      }),
    ).rejects.toThrow('caller fails');
    expect(await snapshot('SPRINT', row.id)).toEqual(before);
  });
});
