/**
 * The owner's cap end to end in one process: with OWNER_MAX_RUNNING=2 and room for six agents,
 * an owner with five held jobs never has more than two holding a claim; another owner's job runs
 * beside them; the capped jobs spend no attempt and write no history while they wait; each end
 * of a capped owner's job lets the next one in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDryRunGate, removeDryRunGates } from '../helpers/dry-run-gate.js';
import { historyOf, type LimitsWorld, startLimitsWorld, waitAllEnded } from '../helpers/limits-world.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { waitFor } from '../helpers/wait-for.js';

let world: LimitsWorld;
let productA: string;
let productB: string;

beforeAll(async () => {
  world = await startLimitsWorld({ env: { OWNER_MAX_RUNNING: '2', OWNER_CAP_RECHECK_MS: '60000' }, kinds: ['IDEA_GRILL'], concurrency: 6 });
  productA = await createProduct(world.db, 'owner-a', 'A');
  productB = await createProduct(world.db, 'owner-b', 'B');
});
afterAll(async () => {
  await world?.close();
  removeDryRunGates();
});

const held = async (owner: string) =>
  (
    await world.db
      .selectFrom('claude_jobs')
      .select('id')
      .where('owner_id', '=', owner)
      .where('status', 'in', ['CLAIMED', 'RUNNING'])
      .execute()
  ).length;

describe("an owner's cap", () => {
  it('holds an owner to two running jobs, runs another owner beside them, and lets one in as each ends', async () => {
    const gates = Array.from({ length: 5 }, () => createDryRunGate());
    const ideasA = [];
    for (const gate of gates) ideasA.push(...(await createIdeas(world.db, productA, 1, 'DRAFT', `Grill this. ${gate.marker}`)));
    const jobsA: string[] = [];
    for (const idea of ideasA) {
      const answer = await world.api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: idea });
      expect(answer.status).toBe(202);
      jobsA.push(answer.body.id);
    }
    await waitFor('two of owner A running', async () => (await held('owner-a')) === 2);

    const [ideaB] = await createIdeas(world.db, productB, 1, 'DRAFT');
    const b = await world.api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: ideaB });
    const [doneB] = await waitAllEnded(world.db, [b.body.id]);
    expect(doneB!.status).toBe('DONE');
    expect(await held('owner-a')).toBe(2);

    const load = await world.api.call('GET', '/api/v1/owners/owner-a/concurrency');
    expect(load.body).toEqual({ owner_id: 'owner-a', max_running: 2, source: 'default', running: 2, queued: 3 });

    // The three that wait spent nothing and wrote nothing.
    const waiting = await world.db
      .selectFrom('claude_jobs')
      .selectAll()
      .where('owner_id', '=', 'owner-a')
      .where('status', '=', 'QUEUED')
      .execute();
    expect(waiting).toHaveLength(3);
    for (const job of waiting) {
      expect(job.attempt_count).toBe(0);
      expect((await historyOf(world.db, 'CLAUDE_JOB', job.id)).map((row) => row.to_status)).toEqual(['QUEUED']);
    }

    // Open the gates one at a time, in the order the jobs started: each end lets the next in,
    // long before the minute-long recheck would.
    for (let opened = 0; opened < 5; opened += 1) {
      const running = await world.db
        .selectFrom('claude_jobs')
        .select(['id', 'payload'])
        .where('owner_id', '=', 'owner-a')
        .where('status', '=', 'RUNNING')
        .orderBy('started_at')
        .execute();
      expect(running.length).toBeLessThanOrEqual(2);
      const first = running[0]!;
      gates[
        ideasA.indexOf(
          (await world.db.selectFrom('claude_jobs').select('idea_id').where('id', '=', first.id).executeTakeFirstOrThrow()).idea_id!,
        )
      ]!.open();
      await waitFor('the oldest running job done', async () => {
        const row = await world.db.selectFrom('claude_jobs').select('status').where('id', '=', first.id).executeTakeFirstOrThrow();
        return row.status === 'DONE';
      });
      const left = 5 - opened - 1;
      await waitFor('the next one let in', async () => (await held('owner-a')) === Math.min(2, left));
    }
    const ended = await waitAllEnded(world.db, jobsA);
    expect(ended.map((job) => job.status)).toEqual(['DONE', 'DONE', 'DONE', 'DONE', 'DONE']);
  });
});
