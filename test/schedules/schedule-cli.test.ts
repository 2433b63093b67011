/**
 * `jobfleet schedule` as users run it, beside a running fleet (`jobfleet start`): a schedule made
 * on the command line is installed at once, fired by the fleet and seen over the API; listed with
 * its firings; deleted, scheduler and all. A bad value is refused with exit code 2 naming the flag,
 * before anything is written.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobQueues } from '../../src/queues/job-queues.js';
import { createProducerConnection } from '../../src/queues/redis-connections.js';
import { CLI, killAll, spawnJobfleet } from '../helpers/processes.js';
import { createIdeas, createProduct } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';
import { waitFor } from '../helpers/wait-for.js';

const ADMIN_TOKEN = 'schedule-cli-admin-token-0123456789';
let env: TestEnv;
let base: string;
let idea: string;

beforeAll(async () => {
  env = await createTestEnv();
  const fleet = spawnJobfleet(['start'], { ...env.env, LOG_LEVEL: 'warn', ADMIN_TOKEN });
  base = (await fleet.line(/API:\s+(http:\/\/\S+)\/api\/v1/, 60_000))[1]!;
  idea = (await createIdeas(env.database.db, await createProduct(env.database.db, 'me', 'Reports'), 1))[0]!;
});
afterAll(async () => {
  await killAll();
  await env?.teardown();
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function schedule(...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'schedule', ...args],
      {
        env: {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: env.env.DATABASE_URL!,
          REDIS_URL: env.redisUrl,
          BULLMQ_PREFIX: env.prefix,
          LOG_LEVEL: 'warn',
        },
      },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

function printed(ran: Ran): Record<string, any>[] {
  expect(ran, ran.stderr).toMatchObject({ code: 0, stderr: '' });
  return ran.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, any>);
}

async function api(path: string) {
  const response = await fetch(`${base}/api/v1${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const schedulerIds = async () => {
  const connection = createProducerConnection(env.redis, env.logger);
  const queues = createJobQueues({ connection, layout: env.layout, logger: env.logger });
  try {
    return (await queues.schedules.installed()).map((scheduler) => scheduler.id);
  } finally {
    await queues.close();
    connection.disconnect();
  }
};

const count = async () =>
  Number(
    (
      await env.database.db
        .selectFrom('schedules')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('jobfleet schedule', { timeout: 180_000 }, () => {
  it('creates a schedule the running fleet fires, lists it with its firings, and deletes it', async () => {
    const [created] = printed(
      await schedule('create', 'plan_chat', '--idea', idea, '--every-ms', '1000', '--payload', '{"message":"Any news?"}'),
    );
    expect(created).toMatchObject({ kind: 'plan_chat', idea_id: idea, owner_id: 'me', every_ms: 1000, cron: null, enabled: true });
    expect(await schedulerIds()).toContain(created!.id);

    const fired = await waitFor('the fleet to fire the schedule', async () => {
      const { body } = await api(`/schedules/${created!.id}`);
      return body.firing_count >= 1 && body.last_job_id ? body : undefined;
    });
    expect(fired.last_outcome).toBe('enqueued');
    const job = await api(`/jobs/${fired.last_job_id}`);
    expect(job.body).toMatchObject({ kind: 'plan_chat', idea_id: idea, payload: { message: 'Any news?' } });

    const listed = printed(await schedule('list'));
    expect(listed.map((row) => row.id)).toEqual([created!.id]);
    expect(listed[0]!.firing_count).toBeGreaterThanOrEqual(1);
    expect(printed(await schedule('list', '--owner', 'someone-else'))).toEqual([]);

    const deleted = await schedule('delete', created!.id);
    expect(deleted).toMatchObject({ code: 0, stdout: `deleted ${created!.id}\n`, stderr: '' });
    expect((await api(`/schedules/${created!.id}`)).status).toBe(404);
    expect(await schedulerIds()).not.toContain(created!.id);

    const again = await schedule('delete', created!.id);
    expect(again).toMatchObject({ code: 1, stdout: '' });
    expect(again.stderr).toContain(`schedule ${created!.id} does not exist`);
  });

  it('refuses a bad cron expression, a subject flag that does not fit the kind and a bad interval with exit code 2, writing nothing', async () => {
    const before = await count();
    const badCron = await schedule('create', 'plan_chat', '--idea', idea, '--cron', '0 25 * * *', '--payload', '{"message":"hi"}');
    expect(badCron.code).toBe(2);
    expect(badCron.stderr).toMatch(/--cron: invalid cron expression "0 25 \* \* \*"/);
    const wrongSubject = await schedule('create', 'idea_grill', '--task', idea, '--cron', '0 2 * * *');
    expect(wrongSubject.code).toBe(2);
    expect(wrongSubject.stderr).toContain('--idea: required for idea_grill schedules');
    const badEvery = await schedule('create', 'idea_grill', '--idea', idea, '--every-ms', 'soon');
    expect(badEvery.code).toBe(2);
    expect(badEvery.stderr).toContain('--every-ms');
    expect(await count()).toBe(before);
    const help = await schedule('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: jobfleet schedule create <kind>');
  });
});
