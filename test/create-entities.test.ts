/**
 * Rows are born from one JSON document, each field cast to its column's type. What lands in the
 * table must be what separate parameters would have stored: the same values and types, defaults
 * where a row names no value, the rows in the order given, and strings pg would have repaired
 * repaired the same way.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewClaudeJob } from '../src/db/tables/claude-job.table.js';
import { appendIdeaLogs } from '../src/kinds/idea-logs.js';
import { MACHINES } from '../src/machines/index.js';
import { createEntities, transition } from '../src/transitions/index.js';
import { idea, inTrx, product, sprint, sprintRun } from './helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

let test: TestDatabase;
beforeAll(async () => {
  test = await createTestDatabase();
});
afterAll(async () => {
  await test.drop();
});

/** Twelve PLAN_CHAT jobs, each for an idea of its own, the nth with `extra(n)` added to its values. */
function twelveJobs(extra: (n: number) => Partial<NewClaudeJob>) {
  return inTrx(test.db, async (trx) => {
    const p = await product(trx);
    const ideas = await Promise.all(Array.from({ length: 12 }, () => idea(trx, p.id)));
    return createEntities(
      trx,
      MACHINES.CLAUDE_JOB,
      ideas.map((i, n) => ({ kind: 'PLAN_CHAT' as const, idea_id: i.id, product_id: p.id, owner_id: p.owner_id, ...extra(n) })),
    );
  });
}

/** What pg stores for a string sent as a parameter of its own. */
const asParameter = async (text: string) => (await sql<{ text: string }>`SELECT ${text}::text AS text`.execute(test.db)).rows[0]!.text;

describe('creating rows', () => {
  it('stores each field as its column type: JSON from text or a value, timestamps, numbers, NULLs and defaults', async () => {
    const at = new Date('2026-12-02T06:21:34.812Z');
    const { runId, jobs } = await inTrx(test.db, async (trx) => {
      const p = await product(trx);
      const run = await sprintRun(trx, (await sprint(trx, p.id)).id);
      const i = await idea(trx, p.id);
      const created = await createEntities(trx, MACHINES.CLAUDE_JOB, [
        {
          kind: 'PLAN_CHAT',
          idea_id: i.id,
          product_id: p.id,
          owner_id: p.owner_id,
          payload: '{"message":"as JSON text"}',
          started_at: at,
          input_tokens: 7,
        },
        {
          kind: 'PLAN_CHAT',
          idea_id: i.id,
          product_id: p.id,
          owner_id: p.owner_id,
          payload: JSON.stringify({ nested: { list: [1, true, null] } }),
          cost_usd: '0.125000',
        },
        // Leaves payload out: it takes the column default.
        { kind: 'SPRINT_IMPLEMENTATION', sprint_run_id: run.id, product_id: p.id, owner_id: p.owner_id, started_at: at.toISOString() },
      ]);
      return { runId: run.id, jobs: created.map((c) => c.row) };
    });
    expect(jobs.map((job) => job.kind)).toEqual(['PLAN_CHAT', 'PLAN_CHAT', 'SPRINT_IMPLEMENTATION']);
    expect(jobs[0]).toMatchObject({
      payload: { message: 'as JSON text' },
      started_at: at,
      input_tokens: 7,
      cost_usd: null,
      status: 'QUEUED',
      claim_epoch: 0,
    });
    expect(jobs[1]).toMatchObject({
      payload: { nested: { list: [1, true, null] } },
      started_at: null,
      input_tokens: null,
      cost_usd: '0.125000',
    });
    expect(jobs[2]).toMatchObject({ payload: {}, sprint_run_id: runId, idea_id: null, started_at: at });
  });

  it('writes rows and their history in the order given when rows leave out columns without defaults', async () => {
    // Every third row names input_tokens; the others leave it out (it has no default).
    const jobs = await twelveJobs((n) => (n % 3 === 0 ? { input_tokens: n } : {}));
    expect(jobs.map((c) => c.row.input_tokens)).toEqual(Array.from({ length: 12 }, (_, n) => (n % 3 === 0 ? n : null)));
    const ids = jobs.map((c) => c.row.id);
    const history = await sql<{
      entity_id: string;
    }>`SELECT entity_id FROM transitions WHERE entity_id = ANY(${ids}::uuid[]) ORDER BY id`.execute(test.db);
    expect(history.rows.map((row) => row.entity_id)).toEqual(ids);
    // created_at is the clock at each row's insert: it follows the order given.
    const created = jobs.map((c) => c.row.created_at.getTime());
    expect(created).toEqual([...created].sort((a, b) => a - b));
  });

  it('answers the rows in the order given when some leave out a column with a default, and gives them the default', async () => {
    const rows = await twelveJobs((n) => (n % 2 === 0 ? { payload: JSON.stringify({ n }) } : {}));
    expect(rows.map((c) => c.row.payload)).toEqual(Array.from({ length: 12 }, (_, n) => (n % 2 === 0 ? { n } : {})));
  });

  it('stores a lone UTF-16 surrogate as pg does for a parameter, in rows, history reasons and idea logs', async () => {
    const broken = `a\ud800b \udc00c`;
    const repaired = await asParameter(broken);
    expect(repaired).toBe('a\ufffdb \ufffdc');
    const { ideaId } = await inTrx(test.db, async (trx) => {
      const p = await product(trx);
      const [created] = await createEntities(trx, MACHINES.IDEA, [{ product_id: p.id, title: broken, prompt_text: broken }]);
      const row = created!.row;
      await transition(trx, MACHINES.IDEA, {
        id: row.id,
        from: 'DRAFT',
        to: 'GRILLING',
        trigger: 'grill_enqueued',
        context: { reason: broken },
      });
      await appendIdeaLogs(trx, [{ ideaId: row.id, type: 'JOB_EVENT', content: broken, jobId: null, data: { [broken]: broken } }]);
      return { ideaId: row.id };
    });
    const stored = await sql<{ title: string; reason: string; content: string; data: Record<string, string> }>`
      SELECT i.title, t.reason, l.content, l.data FROM ideas i
      JOIN transitions t ON t.entity_id = i.id AND t.to_status = 'GRILLING'
      JOIN idea_logs l ON l.idea_id = i.id
      WHERE i.id = ${ideaId}
    `.execute(test.db);
    expect(stored.rows).toEqual([{ title: repaired, reason: repaired, content: repaired, data: { [repaired]: repaired } }]);
  });
});
