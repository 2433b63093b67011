/**
 * `jobfleet product` as users run it: create, update and list products and the repository each
 * names, printed as JSON lines in the API's shape; the API's own checks refuse a bad value with
 * exit code 2, naming the flag, before anything is written.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from './helpers/processes.js';
import { testRedisUrl } from './helpers/names.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

let test: TestDatabase;
beforeAll(async () => {
  test = await createTestDatabase();
});
afterAll(async () => {
  await test.drop();
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function product(...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'product', ...args],
      { env: { PATH: process.env.PATH ?? '', DATABASE_URL: test.url, REDIS_URL: testRedisUrl(), LOG_LEVEL: 'warn' } },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

/** The JSON lines a successful run printed. */
function printed(ran: Ran): Record<string, unknown>[] {
  expect(ran, ran.stderr).toMatchObject({ code: 0, stderr: '' });
  return ran.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const count = async () =>
  Number(
    (
      await test.db
        .selectFrom('products')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

// Up to six CLI start-ups in a row: on a busy two-core machine each can take several seconds.
describe('jobfleet product', { timeout: 180_000 }, () => {
  it('creates a product with a repository, updates it, clears it with empty values, and lists it', async () => {
    const [created] = printed(
      await product(
        'create',
        '--name',
        'Reports',
        '--repository',
        'git@github.com:acme/reports.git',
        '--default-branch',
        'trunk',
        '--check-command',
        'npm ci && npm test',
      ),
    );
    expect(created).toMatchObject({
      owner_id: 'default',
      name: 'Reports',
      repository_url: 'git@github.com:acme/reports.git',
      default_branch: 'trunk',
      check_command: 'npm ci && npm test',
    });
    const id = created!.id as string;
    const row = await test.db.selectFrom('products').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ owner_id: 'default', repository_url: 'git@github.com:acme/reports.git', default_branch: 'trunk' });

    const [moved] = printed(await product('update', id, '--repository', '/srv/git/reports.git', '--default-branch', 'release/2.x'));
    expect(moved).toMatchObject({
      repository_url: '/srv/git/reports.git',
      default_branch: 'release/2.x',
      check_command: 'npm ci && npm test',
    });

    const [cleared] = printed(await product('update', id, '--repository', '', '--check-command', ''));
    expect(cleared).toMatchObject({ repository_url: null, check_command: null, default_branch: 'release/2.x' });
    expect(await test.db.selectFrom('products').selectAll().where('id', '=', id).executeTakeFirstOrThrow()).toMatchObject({
      repository_url: null,
      check_command: null,
    });

    const [other] = printed(await product('create', '--name', 'Theirs', '--owner', 'someone-else', '--description', 'Not ours.'));
    expect(other).toMatchObject({ owner_id: 'someone-else', description: 'Not ours.', repository_url: null, default_branch: 'main' });
    expect(printed(await product('list', '--owner', 'default')).map((p) => p.id)).toEqual([id]);
    expect(printed(await product('list')).map((p) => p.id)).toEqual([other!.id, id]);
  });

  it('refuses a value the API refuses, naming the flag and what is allowed, with exit code 2 and nothing written', async () => {
    const before = await count();
    const [url, branch, check] = await Promise.all([
      product('create', '--name', 'X', '--repository', 'ext::sh -c x'),
      product('create', '--name', 'X', '--default-branch', 'a..b'),
      product('create', '--name', 'X', '--check-command', 'make\nrm -rf /'),
    ]);
    expect(url).toMatchObject({ code: 2, stdout: '' });
    expect(url.stderr).toMatch(/^jobfleet: --repository: must not contain whitespace or control characters; allowed: an absolute path/);
    expect(branch).toMatchObject({ code: 2, stdout: '' });
    expect(branch.stderr).toMatch(/^jobfleet: --default-branch: must not contain "\.\."; allowed: letters, digits/);
    expect(check).toMatchObject({ code: 2, stdout: '' });
    expect(check.stderr).toContain('jobfleet: --check-command: must be one command line');
    expect(await count()).toBe(before);
  });

  it('refuses an update of a product that does not exist, a malformed id, and options an action does not take', async () => {
    const [missing, malformed, owner, nothing] = await Promise.all([
      product('update', '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d', '--name', 'Y'),
      product('update', 'not-an-id', '--name', 'Y'),
      product('update', '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d', '--owner', 'me'),
      product('update', '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d'),
    ]);
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'jobfleet: product 0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d does not exist\n' });
    expect(malformed).toEqual({ code: 2, stdout: '', stderr: 'jobfleet: "not-an-id" is not a product id (a UUID)\n' });
    expect(owner.code).toBe(2);
    expect(owner.stderr).toMatch(/^jobfleet: product update takes no --owner; usage: jobfleet product create/);
    expect(nothing).toEqual({ code: 2, stdout: '', stderr: 'jobfleet: product update: nothing to change; give at least one option\n' });
  });
});
