/**
 * The CLI as users run it: `jobfleet start` on a fresh database takes a job from curl to done;
 * every process names the service it cannot reach, where, and how to start it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/database.js';
import { maintenanceUrl } from '../src/db/ensure-database.js';
import { COMMANDS } from '../src/cli/commands/index.js';
import { MIGRATIONS_FOLDER } from '../src/db/migrator.js';
import { deleteKeys } from './helpers/test-env.js';
import { TEST_DB_PREFIX, TEST_REDIS_PREFIX, serverUrl, testRedisUrl, uniqueSuffix, withDatabaseName } from './helpers/names.js';
import { CLI, killAll, spawnJobfleet } from './helpers/processes.js';
import { createIdeas, createProduct } from './helpers/subjects.js';
import { createTestDatabase } from './helpers/test-database.js';
import { waitFor } from './helpers/wait-for.js';

const created: string[] = [];
const prefix = `${TEST_REDIS_PREFIX}${uniqueSuffix().replace('_', '-')}`;

afterEach(async () => {
  await killAll();
});
afterAll(async () => {
  const admin = new pg.Client({ connectionString: maintenanceUrl(serverUrl()) });
  await admin.connect();
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  await admin.end();
  await deleteKeys(testRedisUrl(), prefix);
});

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const baseEnv = () => ({
  REDIS_URL: testRedisUrl(),
  BULLMQ_PREFIX: prefix,
  PORT: '0',
  LOG_LEVEL: 'warn',
  HEARTBEAT_MS: '200',
  SWEEP_INTERVAL_MS: '200',
});

describe('jobfleet start', () => {
  it('creates and migrates its database, prints its URLs, takes a job from curl to done, and stops cleanly on SIGTERM', async () => {
    const name = `${TEST_DB_PREFIX}${uniqueSuffix()}`;
    created.push(name);
    const admin = 'test-admin-token-0123456789abcdef';
    const auth = { authorization: `Bearer ${admin}` };
    const fleet = spawnJobfleet(['start'], { ...baseEnv(), DATABASE_URL: withDatabaseName(name), ADMIN_TOKEN: admin });
    const [, base] = await fleet.line(/API:\s+(http:\/\/\S+)\/api\/v1/);
    await fleet.line(/OpenAPI:\s+http:\/\/\S+\/api\/v1\/openapi\.json/);

    const db = createDatabase({ connectionString: withDatabaseName(name), poolMax: 1 });
    try {
      const { id: product } = await db
        .insertInto('products')
        .values({ owner_id: 'me', name: 'Demo' })
        .returning('id')
        .executeTakeFirstOrThrow();
      const { id: idea } = await db
        .insertInto('ideas')
        .values({ product_id: product, title: 'CSV export', prompt_text: 'Export reports as CSV.' })
        .returning('id')
        .executeTakeFirstOrThrow();

      const posted = await fetch(`${base}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ kind: 'idea_grill', idea_id: idea }),
      });
      expect(posted.status).toBe(202);
      const job = (await posted.json()) as { id: string; status: string };
      expect(job.status).toBe('queued');

      const done = await waitFor('the job to be done', async () => {
        const body = (await (await fetch(`${base}/api/v1/jobs/${job.id}`, { headers: auth })).json()) as {
          status: string;
          result: { text: string };
        };
        return body.status === 'done' ? body : undefined;
      });
      expect(done.result.text).toContain('[dry run]');
    } finally {
      await db.destroy();
    }

    fleet.kill('SIGTERM');
    expect((await fleet.exited).code).toBe(0);
  });
});

describe('a process that cannot reach a service', () => {
  it('names Postgres, its address and how to start it, and exits non-zero', async () => {
    const port = await deadPort();
    const proc = spawnJobfleet(['worker'], { ...baseEnv(), DATABASE_URL: `postgres://127.0.0.1:${port}/jobfleet` });
    const { code } = await proc.exited;
    expect(code).not.toBe(0);
    expect(proc.output()).toMatch(new RegExp(`Postgres is not reachable at 127\\.0\\.0\\.1:${port} .*start it`));
  });

  it('names Redis, its address and how to start it, and exits non-zero', async () => {
    const test = await createTestDatabase();
    try {
      const port = await deadPort();
      const proc = spawnJobfleet(['api'], { ...baseEnv(), DATABASE_URL: test.url, REDIS_URL: `redis://127.0.0.1:${port}` });
      const { code } = await proc.exited;
      expect(code).not.toBe(0);
      expect(proc.output()).toMatch(new RegExp(`Redis is not reachable at 127\\.0\\.0\\.1:${port} .*redis-server`));
    } finally {
      await test.drop();
    }
  });

  it('says so when its database is not migrated', async () => {
    const name = `${TEST_DB_PREFIX}${uniqueSuffix()}`;
    created.push(name);
    const admin = new pg.Client({ connectionString: maintenanceUrl(serverUrl()) });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    await admin.end();
    const proc = spawnJobfleet(['worker'], { ...baseEnv(), DATABASE_URL: withDatabaseName(name) });
    expect((await proc.exited).code).toBe(1);
    const migrations = readdirSync(MIGRATIONS_FOLDER).filter((file) => /^\d{4}_.*\.ts$/.test(file)).length;
    expect(proc.output()).toContain(`is not migrated (${migrations} pending): run \`jobfleet migrate\``);
  });
});

describe('jobfleet enqueue', () => {
  it('enqueues a job per subject of a file in batches, showing progress and a summary', async () => {
    const test = await createTestDatabase();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-enqueue-'));
    try {
      const ideas = await createIdeas(test.db, await createProduct(test.db), 1200, 'PLAN_READY');
      const file = path.join(dir, 'ideas.txt');
      writeFileSync(file, `${ideas.join('\n')}\n`);
      const proc = spawnJobfleet(
        ['enqueue', 'plan_chat', '--subjects', file, '--payload', '{"message":"Anything new?"}', '--batch', '500'],
        {
          ...baseEnv(),
          DATABASE_URL: test.url,
        },
      );
      expect((await proc.exited).code).toBe(0);
      const output = proc.output();
      expect(output).toMatch(/enqueue plan_chat: 500\/1,200 \(41%, [\d,]+\/s\)/);
      expect(output).toMatch(/enqueue plan_chat: 1,200\/1,200 \(100%/);
      expect(output).toMatch(/enqueued 1,200 plan_chat jobs \(1200 queued, 0 superseded\) in [\d.]+ s/);
      const jobs = await test.db.selectFrom('claude_jobs').select(['status', 'kind']).execute();
      expect(jobs).toHaveLength(1200);
      expect(jobs.every((job) => job.status === 'QUEUED' && job.kind === 'PLAN_CHAT')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await test.drop();
    }
  });

  it('refuses a subject that is not an id, before writing anything', async () => {
    const proc = spawnJobfleet(['enqueue', 'idea_grill', '--idea', 'not-an-id'], baseEnv());
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toContain('"not-an-id" is not an idea id (a UUID)');
  });
});

describe('bad input on the command line', () => {
  it('stops at a bad variable with one line naming it, its value and what is allowed', async () => {
    const proc = spawnJobfleet(['worker'], { ...baseEnv(), WORKER_CONCURRENCY: 'lots' });
    expect((await proc.exited).code).toBe(1);
    expect(proc.output().trim()).toBe('jobfleet: WORKER_CONCURRENCY="lots" is not allowed: expected an integer from 1 to 1000');
  });

  it('refuses unknown kinds, listing the allowed ones', async () => {
    const proc = spawnJobfleet(['worker', '--kinds', 'idea_grill,baking'], baseEnv());
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toContain(
      '--kinds idea_grill,baking: baking not allowed; allowed: task_implementation, idea_grill, idea_make_plan, plan_chat, sprint_implementation',
    );
  });

  it('answers an unknown command with one line naming the commands and exit code 2', async () => {
    const { code, stdout, stderr } = await runCli(['fly']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`jobfleet: unknown command "fly"; commands: ${Object.keys(COMMANDS).join(', ')} (see jobfleet --help)\n`);
  });

  // One process per test: on a busy machine seven tsx start-ups at once can outlast a test's timeout.
  it.each(Object.keys(COMMANDS))('answers an unknown flag of `jobfleet %s` with one line on stderr and exit code 2', async (name) => {
    const stderr = `jobfleet: ${name}: unknown option '--bogus'; see jobfleet ${name} --help\n`;
    expect(await runCli([name, '--bogus'])).toEqual({ code: 2, stdout: '', stderr });
  });

  it('answers a flag without its value, or an argument a command does not take, with one line and exit code 2', async () => {
    const missing = await runCli(['worker', '--kinds']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("jobfleet: worker: option '--kinds <value>' argument missing; see jobfleet worker --help\n");
    const extra = await runCli(['sweeper', 'now']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toBe("jobfleet: sweeper: unexpected argument 'now'; see jobfleet sweeper --help\n");
  });
});

describe('asking for help', () => {
  it('lists every command with `jobfleet --help`, exit code 0', async () => {
    const { code, stdout, stderr } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    for (const [name, command] of Object.entries(COMMANDS)) expect(stdout).toContain(`  ${name.padEnd(9)} ${command.summary}`);
  });

  it.each(Object.keys(COMMANDS) as (keyof typeof COMMANDS)[])(
    'answers `jobfleet %s --help` with its usage on stdout and exit code 0, needing no services',
    async (name) => {
      const result = await runCli([name, '--help']);
      expect(result).toEqual({ code: 0, stdout: COMMANDS[name].usage(name), stderr: '' });
      expect(result.stdout).toMatch(new RegExp(`^usage: jobfleet ${name}[^]*-h, --help`));
    },
  );

  it('takes -h for --help, also after other options', async () => {
    const asked = await runCli(['worker', '--kinds', 'plan_chat', '-h']);
    expect(asked).toEqual({ code: 0, stdout: COMMANDS.worker.usage('worker'), stderr: '' });
  });
});

/** Runs the CLI to its end against a Postgres nobody listens on and a bad variable: help and usage errors need neither. */
async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const port = await deadPort();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH ?? '', ...baseEnv(), DATABASE_URL: `postgres://127.0.0.1:${port}/jf`, WORKER_CONCURRENCY: 'x' } },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}
