/**
 * A JSON string may escape half of a UTF-16 surrogate pair (`"\ud800"`): JavaScript parses it,
 * Postgres cannot store it. Such input is refused with 422 naming the field, before it reaches
 * the database, wherever it appears in a body.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
let productId: string;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
  productId = await createProduct(env.database.db, 'admin');
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

/** Sends `raw` exactly as written, so its `\ud800` escapes reach the server's JSON parser. */
async function postRaw(path: string, raw: string) {
  const response = await api.app.request(`/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.adminSecret}`, 'content-type': 'application/json' },
    body: raw,
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe('strings with a lone surrogate', () => {
  it('are refused with 422 naming the field in grill answers, plan guidance and chat messages', async () => {
    const [draft] = await createIdeas(env.database.db, productId, 1, 'DRAFT');
    const [grilled] = await createIdeas(env.database.db, productId, 1, 'GRILLED');
    const [ready] = await createIdeas(env.database.db, productId, 1, 'PLAN_READY');
    const cases: [string, string, string][] = [
      [`/ideas/${draft}/grill`, '{"answers":"small teams \\ud800"}', 'answers'],
      [`/ideas/${grilled}/plan`, '{"guidance":"\\udc00 keep it small"}', 'guidance'],
      [`/ideas/${ready}/chat`, '{"message":"why \\ud83d?"}', 'message'],
    ];
    for (const [path, raw, field] of cases) {
      const answer = await postRaw(path, raw);
      expect({ path, status: answer.status }).toEqual({ path, status: 422 });
      expect(answer.body.error.details.issues).toEqual([{ path: field, message: expect.stringContaining('lone surrogate') }]);
      expect(answer.body.error.message).not.toContain('invalid input syntax');
    }
    const jobs = await env.database.db.selectFrom('claude_jobs').select('id').execute();
    expect(jobs).toEqual([]);
  });

  it('names the field deep inside a job payload, a batch and an object key', async () => {
    const [idea] = await createIdeas(env.database.db, productId, 1, 'PLAN_READY');
    const single = await postRaw('/jobs', `{"kind":"plan_chat","idea_id":"${idea}","payload":{"message":"a \\ud800 b"}}`);
    expect(single.status).toBe(422);
    expect(single.body.error.details.issues[0].path).toBe('payload.message');

    const batch = await postRaw(
      '/jobs/batch',
      `{"jobs":[{"kind":"plan_chat","idea_id":"${idea}","payload":{"message":"ok"}},{"kind":"plan_chat","idea_id":"${idea}","payload":{"\\udfff":"x"}}]}`,
    );
    expect(batch.status).toBe(422);
    expect(batch.body.error.details.issues[0].path).toBe('jobs[1].payload.\\udfff');
  });

  it('are refused in any other body too, and a well-formed pair (an emoji) is accepted', async () => {
    const bad = await postRaw('/products', '{"name":"Reports \\ud800","owner_id":"admin"}');
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.issues[0].path).toBe('name');

    const emoji = await postRaw('/products', '{"name":"Reports \\ud83d\\ude80","owner_id":"admin"}');
    expect(emoji.status).toBe(201);
    expect(emoji.body.name).toBe('Reports 🚀');
  });
});
