/**
 * A product names the git repository its implementation jobs work in: repository_url,
 * default_branch and check_command go in on create and patch, come back on every read, clear
 * with null, and anything git or the shell could misread is refused with a 422 naming the field
 * and what is allowed. Branch names that pass are ones real git accepts too.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

let env: TestEnv;
let api: ApiHarness;
beforeAll(async () => {
  env = await createTestEnv();
  api = await createApiHarness(env);
});
afterAll(async () => {
  await api.close();
  await env.teardown();
});

const create = (body: Record<string, unknown>) => api.call('POST', '/api/v1/products', { name: 'Repo', owner_id: 'owner-a', ...body });
const patch = (id: string, body: Record<string, unknown>) => api.call('PATCH', `/api/v1/products/${id}`, body);
const read = (id: string) => api.call('GET', `/api/v1/products/${id}`);

/** Asserts a 422 whose issues name exactly `field`, with a message saying what is allowed; returns it. */
function refusedOn(reply: { status: number; body: any }, field: string, allowed: RegExp): string {
  expect(reply.status, JSON.stringify(reply.body)).toBe(422);
  expect(reply.body.error.code).toBe('validation_failed');
  const issues = reply.body.error.details.issues as { path: string; message: string }[];
  expect(issues.map((issue) => issue.path)).toEqual([field]);
  expect(issues[0]!.message).toMatch(allowed);
  expect(reply.body.error.message).toContain(field);
  return issues[0]!.message;
}

/** A value as a test's name shows it: quoted, long ones cut short. */
const shown = (value: string) => JSON.stringify(value.length > 40 ? `${value.slice(0, 12)}...(${value.length} characters)` : value);
/** Each row of a table led by the value as its name shows it. */
const named = <T extends unknown[]>(rows: [string, ...T][]) => rows.map(([value, ...rest]) => [shown(value), value, ...rest] as const);

const ACCEPTED_URLS = ['/abs/path.git', 'https://github.com/o/r.git', 'ssh://git@h/r.git', 'git@github.com:o/r.git', 'file:///tmp/r.git'];

const REFUSED_URLS: [string, RegExp][] = [
  ['ext::sh -c x', /whitespace/],
  ['ext::sh', /"::"/],
  ['fd::17', /"::"/],
  ['-uhack', /must not start with "-"/],
  ['relative/path', /relative path/],
  ['ftp://h/x', /scheme "ftp" is not allowed/],
  ['https://bot:ghp_secret@github.com/o/r.git', /must not carry a password or token/],
  ['https://ghp_token0123@github.com/o/r.git', /must not carry a password or token/],
  ['ssh:///r.git', /needs a host/],
  ['ssh://-oProxyCommand=x/r.git', /must not start with "-"/],
  ['git@-oProxy:r.git', /must not start with "-"/],
  ['/srv/my repo.git', /whitespace/],
  ['/srv/repo.git\n', /whitespace or control/],
  ['/srv/\u0007bell.git', /control/],
  ['', /must not be empty/],
  [`/${'a'.repeat(2000)}`, /at most 2000 characters/],
];

const REFUSED_BRANCHES: [string, RegExp][] = [
  ['a..b', /must not contain "\.\."/],
  ['-x', /must not start with "-"/],
  ['x.lock', /\.lock/],
  ['/x', /must not start or end with "\/"/],
  ['x/', /must not start or end with "\/"/],
  ['.x', /must not start or end/],
  ['a//b', /"\/\/"/],
  ['a b', /only letters, digits/],
  ['a@{1}', /only letters, digits/],
  ['HEAD', /must not be HEAD/],
  ['', /must not be empty/],
  ['b'.repeat(201), /at most 200 characters/],
];

describe('a product with a repository', () => {
  it('takes the three fields on create, returns them on every read, and edits and clears them with PATCH', async () => {
    const created = await create({
      repository_url: 'git@github.com:acme/reports.git',
      default_branch: 'trunk',
      check_command: '  npm ci && npm test  ',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      repository_url: 'git@github.com:acme/reports.git',
      default_branch: 'trunk',
      check_command: 'npm ci && npm test',
    });
    const id = created.body.id as string;
    expect((await read(id)).body).toMatchObject({ repository_url: 'git@github.com:acme/reports.git', default_branch: 'trunk' });
    const listed = await api.call('GET', '/api/v1/products?owner_id=owner-a');
    expect(listed.body.items.find((item: { id: string }) => item.id === id)).toMatchObject({ check_command: 'npm ci && npm test' });

    const edited = await patch(id, { repository_url: '/srv/git/reports.git', default_branch: 'release/2.x', check_command: 'make check' });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({
      repository_url: '/srv/git/reports.git',
      default_branch: 'release/2.x',
      check_command: 'make check',
    });

    // A patch that names only one field leaves the others as they were.
    expect((await patch(id, { name: 'Reports' })).body).toMatchObject({ name: 'Reports', repository_url: '/srv/git/reports.git' });

    const cleared = await patch(id, { repository_url: null, check_command: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ repository_url: null, check_command: null, default_branch: 'release/2.x' });
    expect((await read(id)).body).toMatchObject({ repository_url: null, check_command: null, default_branch: 'release/2.x' });
    const row = await env.database.db.selectFrom('products').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ repository_url: null, check_command: null, default_branch: 'release/2.x' });
  });

  it('has no repository, branch main and no check when created without them', async () => {
    const created = await create({});
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ repository_url: null, default_branch: 'main', check_command: null });
    const nulls = await create({ repository_url: null, check_command: null });
    expect(nulls.body).toMatchObject({ repository_url: null, default_branch: 'main', check_command: null });
  });

  it.each(ACCEPTED_URLS)('accepts %s as a repository', async (url) => {
    const created = await create({ repository_url: url });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.repository_url).toBe(url);
    const edited = await patch(created.body.id, { repository_url: url });
    expect(edited.body.repository_url).toBe(url);
  });
});

describe('refusals', () => {
  it.each(named(REFUSED_URLS))('refuses repository_url %s on create and patch, saying what is allowed', async (_, url, reason) => {
    const message = refusedOn(await create({ repository_url: url }), 'repository_url', reason);
    if (url.length <= 2000) expect(message).toContain('allowed: an absolute path');
    const { body } = await create({});
    refusedOn(await patch(body.id, { repository_url: url }), 'repository_url', reason);
    expect((await read(body.id)).body.repository_url).toBeNull();
  });

  it.each(named(REFUSED_BRANCHES))('refuses default_branch %s on create and patch', async (_, branch, reason) => {
    refusedOn(await create({ default_branch: branch }), 'default_branch', reason);
    const { body } = await create({});
    refusedOn(await patch(body.id, { default_branch: branch }), 'default_branch', reason);
    expect((await read(body.id)).body.default_branch).toBe('main');
  });

  it('refuses a null default_branch: it cannot be cleared', async () => {
    const { body } = await create({ default_branch: 'trunk' });
    refusedOn(await patch(body.id, { default_branch: null }), 'default_branch', /cannot be null/);
    refusedOn(await create({ default_branch: null }), 'default_branch', /cannot be null/);
  });

  it.each(
    named<[RegExp]>([
      ['npm test\nrm -rf /', /one command line/],
      ['npm test\r', /one command line/],
      ['   ', /must not be empty/],
      ['', /must not be empty/],
      [`  ${'x'.repeat(2001)}  `, /at most 2000 characters/],
    ]),
  )('refuses check_command %s', async (_, command, reason) => {
    refusedOn(await create({ check_command: command }), 'check_command', reason);
    const { body } = await create({ check_command: 'true' });
    refusedOn(await patch(body.id, { check_command: command }), 'check_command', reason);
    expect((await read(body.id)).body.check_command).toBe('true');
  });

  it('counts a check command of 2000 characters after trimming as allowed', async () => {
    const command = `  ${'x'.repeat(2000)}  `;
    const created = await create({ check_command: command });
    expect(created.status).toBe(201);
    expect(created.body.check_command).toBe('x'.repeat(2000));
  });

  it('refuses values that are not strings, naming each field', async () => {
    const reply = await create({ repository_url: 42, default_branch: ['main'], check_command: { run: 'x' } });
    expect(reply.status).toBe(422);
    const paths = (reply.body.error.details.issues as { path: string }[]).map((issue) => issue.path).sort();
    expect(paths).toEqual(['check_command', 'default_branch', 'repository_url']);
  });
});

describe('branch names', () => {
  // Real git is the judge: a name let through here must never be refused in a worker later.
  const git = (name: string) => {
    try {
      execFileSync('git', ['check-ref-format', '--branch', name], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  it.each(named([['main'], ['trunk'], ['release/2.x'], ['feature/add-csv_export'], ['v1.2.3'], ['a.b/c-d'], ['x'.repeat(200)]]))(
    'accepts %s, which git accepts too',
    async (_, branch) => {
      expect(git(branch)).toBe(true);
      const created = await create({ default_branch: branch });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.default_branch).toBe(branch);
    },
  );

  it("accepts only names git's check-ref-format accepts", async () => {
    const names = [...REFUSED_BRANCHES.map(([name]) => name), 'a/.b', 'a.lock/b', 'a/b.', 'a..', '@', 'a:b', 'a~1', 'a^', 'a*', 'a?'];
    for (const name of names) {
      const reply = await create({ default_branch: name });
      if (reply.status === 201) expect(git(name), name).toBe(true);
      else expect(reply.status, name).toBe(422);
    }
  });
});

describe('the OpenAPI document', () => {
  it('describes the three fields of a product, with examples, on create, patch and read', async () => {
    const { body } = await api.call('GET', '/api/v1/openapi.json', undefined, { authorization: '' });
    const schemas = body.components.schemas as Record<string, { properties: Record<string, unknown> }>;
    const fieldsOf = (schema: unknown): Record<string, unknown> => {
      const resolved = schema as { $ref?: string; properties?: Record<string, unknown> };
      if (resolved.$ref) return schemas[resolved.$ref.split('/').pop()!]!.properties;
      return resolved.properties ?? {};
    };
    const bodyOf = (method: 'post' | 'patch', path: string) =>
      fieldsOf(body.paths[`/api/v1${path}`][method].requestBody.content['application/json'].schema);
    const text = (value: unknown) => JSON.stringify(value);
    for (const fields of [schemas.Product!.properties, bodyOf('post', '/products'), bodyOf('patch', '/products/{id}')]) {
      expect(text(fields.repository_url)).toMatch(/absolute path.*https, http, ssh, git or file/);
      expect(text(fields.repository_url)).toContain('git@github.com:acme/reports.git');
      expect(text(fields.default_branch)).toContain('branch new work starts from');
      expect(text(fields.default_branch)).toContain('"example":"main"');
      expect(text(fields.check_command)).toContain('/bin/sh -c');
      expect(text(fields.check_command)).toContain('npm ci && npm test');
    }
    // null is documented for the two fields that may be cleared, and not for default_branch.
    expect(text(bodyOf('patch', '/products/{id}').repository_url)).toContain('null');
    expect(text(schemas.Product!.properties.default_branch)).not.toContain('"null"');
  });
});
