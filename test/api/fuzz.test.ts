/**
 * Property-based fuzzing of every route in the OpenAPI document, against real Postgres and
 * Redis: path ids that exist, that do not, and that are garbage; bodies that are anything, JSON,
 * the right keys with wrong values, oversized or malformed; content types and credentials of
 * every kind. Whatever arrives, the API never answers 5xx, answers every refusal in the error
 * shape, and a refused request writes nothing (row counts of every table are unchanged).
 * No worker runs: enqueued jobs stay queued.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { HTTP_STATUS } from '../../src/errors/app-error.js';
import { createApiHarness, type ApiHarness } from '../helpers/api-harness.js';
import { idea, inTrx, pbi, planChatJob, product, rowCounts, sprint, sprintRun, step, story, task, TABLES } from '../helpers/fixtures.js';
import { createIdeas } from '../helpers/subjects.js';
import { createTestEnv, type TestEnv } from '../helpers/test-env.js';

/** Fixed, so that a failure is reproduced by running the file again (FUZZ_SEED explores others). */
const SEED = Number(process.env.FUZZ_SEED ?? 0x6a6f62);
/** About 70 documented operations x 10 runs: some 700 requests in a few seconds (FUZZ_RUNS for a longer hunt). */
const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS ?? 10);
const BODY_LIMIT = 128 * 1024;

/** The URL segment of every resource; every documented route lives under one of them. */
const RESOURCES = [
  'products',
  'pbis',
  'stories',
  'tasks',
  'sprints',
  'sprint-runs',
  'steps',
  'ideas',
  'jobs',
  'workers',
  'stats',
  'events',
  'questions',
  'providers',
  'owners',
  'schedules',
] as const;
type Resource = (typeof RESOURCES)[number];

const PLAN_MD = [
  '---',
  'pbis:',
  '  - title: P',
  '    stories:',
  '      - title: S',
  '        tasks:',
  '          - key: t',
  '            title: T',
  '            implementation_plan: Do t.',
  '---',
  '',
].join('\n');

const API_STATUSES = [
  'ready',
  'blocked',
  'done',
  'failed',
  'open',
  'in_sprint',
  'todo',
  'in_progress',
  'review',
  'active',
  'completed',
  'queued',
  'running',
  'paused',
  'cancelled',
  'claimed',
  'skipped',
  'draft',
  'grilling',
  'grill_failed',
  'grilled',
  'planning',
  'plan_failed',
  'plan_ready',
  'planned',
  'pending',
];
const DB_STATUSES = ['READY', 'TO_DO', 'IN_PROGRESS', 'CANCELLED', 'PLAN_READY', 'QUEUED', 'to_do', 'Done'];
const KINDS = ['task_implementation', 'idea_grill', 'idea_make_plan', 'plan_chat', 'sprint_implementation'];

interface Operation {
  method: string;
  /** As documented: /api/v1/tasks/{id}/dependencies/{depends_on_task_id}. */
  path: string;
  resource: Resource;
  pathParams: string[];
  queryParams: string[];
  bodyKeys: string[] | null;
  /** The body fields the schema requires. */
  bodyRequired: string[];
}

interface Case {
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  /** Raw request text, or undefined for none. */
  body: string | undefined;
}

/** Token secrets by name, so that reports print `<admin token>` instead of a secret. */
const SECRET_NAMES = new Map<string, string>();
const redact = (value: string) => [...SECRET_NAMES].reduce((out, [secret, name]) => out.replaceAll(secret, name), value);

// ---------------------------------------------------------------------------------------------
// Generators

/** Strings that have broken APIs before: NUL, lone surrogates, SQL, paths, huge, blank. */
const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '💥🧨',
  'e\u0301',
  "' OR 1=1 --",
  '"; DROP TABLE products; --',
  '../../etc/passwd',
  '%00',
  '%',
  '${jndi:x}',
  '<script>alert(1)</script>',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  '\t\n\r',
  '\u202e',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '------------------------------------',
];

const text = fc.oneof(
  { weight: 3, arbitrary: fc.string() },
  { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii' }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}\u0000${b}`) },
  { weight: 1, arbitrary: fc.constantFrom(301, 2_001, 20_001, 50_001).map((n) => 'x'.repeat(n)) },
);

const number = fc.oneof(
  fc.integer(),
  fc.integer({ min: -1_000_001, max: 1_000_001 }),
  fc.double(),
  fc.constantFrom(0, -0, 2 ** 53, -(2 ** 63), 1e308, 0.5),
);

const anyValue: fc.Arbitrary<unknown> = fc.oneof(text, number, fc.boolean(), fc.constant(null), fc.anything({ maxDepth: 2 }));

/** ISO date-times the schemas accept and some they should not: years 0 and 9999, odd offsets. */
const dateTime = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00+14:00',
    '9999-12-31T23:59:59.999999-12:00',
    '2024-02-29T12:00:00Z',
    '2023-02-29T12:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-06-01T25:00:00Z',
    '2024-06-01',
    '2024-06-01T00:00:00',
    '+275760-09-13T00:00:00.000Z',
  ),
);

/** A segment as a client would send it: percent-encoded, or raw bytes (lone surrogates as broken UTF-8). */
function encodeSegment(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return `${encodeURIComponent(value.replace(/[\ud800-\udfff]/g, ''))}%ED%A0%80`;
  }
}

const garbageSegment = fc.oneof(
  fc.string({ minLength: 1 }).map(encodeSegment),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).map(encodeSegment),
  fc.constantFrom(...NASTY.filter(Boolean)).map(encodeSegment),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '..', '.', '%2F', '%2e%2e', 'x'.repeat(5_000), 'FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF'),
);

const headerGarbage = fc.string({ maxLength: 300 });

/** The value one time in six, otherwise null. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

function base64url(value: string): string {
  return Buffer.from(value).toString('base64url');
}

/** Cursors shaped like the real ones (createdMicros digits, a 36-character id) and otherwise. */
const shapedCursor = fc
  .record({
    createdMicros: fc.stringMatching(/^\d{1,20}$/),
    id: fc.oneof(fc.uuid().map(String), fc.stringMatching(/^[0-9a-f-]{36}$/)),
  })
  .map((position) => base64url(JSON.stringify(position)));
const cursor = fc.oneof(
  { weight: 3, arbitrary: shapedCursor },
  { weight: 1, arbitrary: fc.json().map(base64url) },
  { weight: 1, arbitrary: fc.string() },
);

const statusList = fc.oneof(
  fc.subarray([...API_STATUSES, ...KINDS], { minLength: 1, maxLength: 4 }).map((values) => values.join(',')),
  fc.constantFrom(...DB_STATUSES, ',', ',,done', 'done,', ' done '),
  fc.string(),
);

interface Seeded {
  ids: Record<Resource, string[]>;
  all: string[];
  /** Rows kept out of the random pools, so that the pinned cases find them as seeded. */
  pinned: { product: string; task: string; chatIdea: string; job: string };
  secrets: { admin: string; ownerA: string; read: string; worker: string; ownerB: string };
}

function idArb(seeded: Seeded, resource: Resource) {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...seeded.ids[resource]) },
    { weight: 1, arbitrary: fc.constantFrom(...seeded.all) },
    { weight: 2, arbitrary: fc.uuid().map(String) },
    { weight: 2, arbitrary: garbageSegment },
  );
}

/** A value a well-behaved client would send for a query parameter or body field, by its name. */
function plausibleValue(seeded: Seeded, name: string): fc.Arbitrary<unknown> {
  switch (name) {
    case 'to':
    case 'status':
      return fc.constantFrom(...API_STATUSES);
    case 'kind':
      return fc.constantFrom(...KINDS);
    case 'limit':
      return fc.integer({ min: 1, max: 200 });
    case 'cursor':
      return fc.constant(undefined);
    case 'owner_id':
      return fc.constantFrom('owner-a', 'owner-b');
    case 'starts_at':
    case 'ends_at':
      return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
    case 'priority':
    case 'sort_order':
      return fc.integer({ min: -100, max: 100 });
    case 'payload':
      return fc.constantFrom(
        {},
        { message: 'Shorter?' },
        { answers: 'EU only.' },
        { guidance: 'One PBI.' },
        { instructions: 'Use the helper.' },
      );
    case 'jobs':
      return fc.array(plausibleJob(seeded), { minLength: 1, maxLength: 3 });
    default: {
      if (!name.endsWith('_id')) return fc.string({ minLength: 1, maxLength: 40 });
      const resource = ID_FIELDS[name];
      return resource
        ? fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom(...seeded.ids[resource]) },
            { weight: 1, arbitrary: fc.constantFrom(...seeded.all) },
          )
        : fc.constantFrom(...seeded.all);
    }
  }
}

/** The resource an id field names. */
const ID_FIELDS: Record<string, Resource> = {
  product_id: 'products',
  pbi_id: 'pbis',
  story_id: 'stories',
  task_id: 'tasks',
  depends_on_task_id: 'tasks',
  sprint_id: 'sprints',
  sprint_run_id: 'sprint-runs',
  idea_id: 'ideas',
};

/** A job a client could enqueue: a kind with its own subject field (and payload). */
function plausibleJob(seeded: Seeded): fc.Arbitrary<Record<string, unknown>> {
  const ideas = fc.constantFrom(...seeded.ids.ideas);
  return fc.oneof(
    fc.record(
      { kind: fc.constant('idea_grill'), idea_id: ideas, payload: fc.constantFrom({}, { answers: 'EU only.' }) },
      { requiredKeys: ['kind', 'idea_id'] },
    ),
    fc.record(
      { kind: fc.constant('idea_make_plan'), idea_id: ideas, payload: fc.constantFrom({}, { guidance: 'One PBI.' }) },
      { requiredKeys: ['kind', 'idea_id'] },
    ),
    fc.record({ kind: fc.constant('plan_chat'), idea_id: ideas, payload: fc.constantFrom({ message: 'Shorter?' }) }),
    fc.record(
      {
        kind: fc.constant('task_implementation'),
        task_id: fc.constantFrom(...seeded.ids.tasks),
        payload: fc.constantFrom({}, { instructions: 'Go.' }),
      },
      { requiredKeys: ['kind', 'task_id'] },
    ),
    fc.record({ kind: fc.constant('sprint_implementation'), sprint_run_id: fc.constantFrom(...seeded.ids['sprint-runs']) }),
  );
}

/** A body a well-behaved client could send: the required fields, some optional ones. */
function plausibleBody(seeded: Seeded, op: Operation): fc.Arbitrary<Record<string, unknown>> {
  if (op.path === '/api/v1/jobs') return plausibleJob(seeded);
  if (op.path === '/api/v1/jobs/batch') return fc.record({ jobs: fc.array(plausibleJob(seeded), { minLength: 1, maxLength: 3 }) });
  const keys = op.bodyKeys ?? [];
  return fc.record(Object.fromEntries(keys.map((key) => [key, plausibleValue(seeded, key)])), {
    requiredKeys: op.bodyRequired.filter((key) => keys.includes(key)),
  });
}

/** A value meant to break the field: wrong shape, wrong range, hostile strings, other types. */
function hostileValue(seeded: Seeded, name: string): fc.Arbitrary<unknown> {
  const typed = (() => {
    switch (name) {
      case 'to':
      case 'status':
        return fc.oneof(fc.constantFrom(...DB_STATUSES), statusList, text);
      case 'kind':
        return fc.oneof(statusList, text);
      case 'limit':
        return fc.oneof(fc.integer({ min: -5, max: 300 }), fc.constantFrom('abc', '1.5', '1e2', '', ' 7', '0x10', 'NaN', 'Infinity'));
      case 'cursor':
        return cursor;
      case 'starts_at':
      case 'ends_at':
        return fc.oneof(dateTime, fc.constant(null), text);
      case 'priority':
      case 'sort_order':
        return number;
      case 'payload':
        return fc.dictionary(fc.constantFrom('message', 'answers', 'guidance', 'instructions', 'extra'), text, { maxKeys: 3 });
      case 'jobs':
        return fc.array(
          fc.record(
            {
              kind: fieldValue(seeded, 'kind'),
              idea_id: fieldValue(seeded, 'idea_id'),
              task_id: fieldValue(seeded, 'task_id'),
              payload: fieldValue(seeded, 'payload'),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 3 },
        );
      default:
        return name.endsWith('_id') ? fc.oneof(fc.uuid().map(String), text) : text;
    }
  })();
  return fc.oneof({ weight: 3, arbitrary: typed }, { weight: 1, arbitrary: anyValue });
}

function fieldValue(seeded: Seeded, name: string): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 2, arbitrary: plausibleValue(seeded, name) }, { weight: 3, arbitrary: hostileValue(seeded, name) });
}

/**
 * An object over `keys`: plausible values with one of them (usually) made hostile, so that the
 * hostile value gets past the other checks and reaches the code behind them; or every value random.
 */
function fieldsArb(
  seeded: Seeded,
  keys: string[],
  plausible: fc.Arbitrary<Record<string, unknown>>,
): fc.Arbitrary<Record<string, unknown>> {
  const nearValid = fc
    .tuple(
      plausible,
      // fc.option's freq is the odds of null: 1 in 4 stays plausible, 3 in 4 get a hostile field.
      fc.option(
        fc.constantFrom(...keys).chain((key) => hostileValue(seeded, key).map((value) => [key, value] as const)),
        { freq: 4 },
      ),
    )
    .map(([record, hostile]) => (hostile ? { ...record, [hostile[0]]: hostile[1] } : record));
  const random = fc.record(Object.fromEntries(keys.map((key) => [key, fieldValue(seeded, key)])), { requiredKeys: [] });
  return fc.oneof({ weight: 3, arbitrary: nearValid }, { weight: 1, arbitrary: random });
}

const MALFORMED_BODIES = [
  '{',
  '{"a":',
  '[',
  'nul',
  '',
  '{"to":"done"',
  '\u0000',
  '{"name":"\\ud800"}',
  '{"title":"\\u0000"}',
  '[]',
  '"text"',
  '42',
  '{}{}',
  `${'['.repeat(5_000)}${']'.repeat(5_000)}`,
];

function bodyArb(seeded: Seeded, op: Operation): fc.Arbitrary<string | undefined> {
  if (op.method === 'GET') return fc.constant(undefined);
  const keys = op.bodyKeys ?? [];
  const shaped = keys.length
    ? fc
        .tuple(
          fieldsArb(seeded, keys, plausibleBody(seeded, op)),
          sometimes(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), anyValue)),
        )
        .map(([record, extra]) => JSON.stringify(extra ? { ...record, [extra[0]]: extra[1] } : record))
    : fc.constant('{}');
  const oversized = keys.length
    ? fc
        .tuple(fc.constantFrom(...keys), fc.constantFrom(301, 2_001, 20_001, 50_001, BODY_LIMIT + 1))
        .map(([key, n]) => JSON.stringify({ [key]: 'y'.repeat(n) }))
    : fc.constant(JSON.stringify({ padding: 'y'.repeat(BODY_LIMIT + 1) }));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.anything({ maxDepth: 3 }).map((value) => JSON.stringify(value) as string | undefined) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 20, arbitrary: shaped },
    { weight: 1, arbitrary: oversized },
    { weight: 1, arbitrary: fc.constantFrom(...MALFORMED_BODIES) },
  );
}

function headersArb(seeded: Seeded): fc.Arbitrary<Record<string, string>> {
  const { secrets } = seeded;
  const authorization = fc.oneof(
    { weight: 18, arbitrary: fc.constant(`Bearer ${secrets.admin}`) },
    { weight: 2, arbitrary: fc.constant(`Bearer ${secrets.ownerA}`) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${secrets.ownerB}`) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${secrets.read}`) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${secrets.worker}`) },
    { weight: 1, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('Bearer', 'Basic Zm9vOmJhcg==', `Bearer ${secrets.admin}x`, secrets.admin, `Bearer ${'a'.repeat(250)}`),
    },
    { weight: 1, arbitrary: headerGarbage.map((value) => `Bearer ${value}`) },
    { weight: 1, arbitrary: headerGarbage },
  );
  const contentType = fc.oneof(
    { weight: 14, arbitrary: fc.constant('application/json') },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        null,
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/merge-patch+json',
        'application/json; charset=latin1',
        '',
      ),
    },
    { weight: 1, arbitrary: headerGarbage },
  );
  return fc
    .record({ authorization, contentType, requestId: sometimes(headerGarbage) })
    .map(({ authorization: auth, contentType: type, requestId }) => ({
      ...(auth === null ? {} : { authorization: auth }),
      ...(type === null ? {} : { 'content-type': type }),
      ...(requestId === null ? {} : { 'x-request-id': requestId }),
    }));
}

function caseArb(seeded: Seeded, op: Operation): fc.Arbitrary<Case> {
  const params = fc.record(
    Object.fromEntries(op.pathParams.map((name) => [name, idArb(seeded, name === 'depends_on_task_id' ? 'tasks' : op.resource)])) as Record<
      string,
      fc.Arbitrary<string>
    >,
  );
  const query = op.queryParams.length
    ? fc
        .tuple(
          fieldsArb(
            seeded,
            op.queryParams,
            fc.record(Object.fromEntries(op.queryParams.map((name) => [name, plausibleValue(seeded, name)])), { requiredKeys: [] }),
          ),
          sometimes(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.string())),
        )
        .map(([record, extra]) => {
          const pairs: [string, string][] = Object.entries(record)
            .filter(([, value]) => value !== undefined)
            .map(([name, value]) => [name, typeof value === 'string' ? value : (JSON.stringify(value) ?? '')]);
          return extra ? [...pairs, extra] : pairs;
        })
    : fc.constant([] as [string, string][]);
  return fc
    .record({ params, query, headers: headersArb(seeded), body: bodyArb(seeded, op) })
    .map(({ params: values, query: pairs, headers, body }) =>
      withToString(op, { path: op.path.replace(/\{([^}]+)\}/g, (_, name: string) => values[name] ?? ''), query: pairs, headers, body }),
    );
}

/** fast-check prints counterexamples with this: the request as sent, secrets named, big bodies clipped. */
function withToString(op: Operation, c: Case): Case {
  const shown = () =>
    `${op.method} ${clip(urlOf(c), 400)} headers=${JSON.stringify(c.headers)} body=${c.body === undefined ? '(none)' : clip(JSON.stringify(c.body))}`;
  return Object.assign(c, { [fc.toStringMethod]: () => redact(shown()) });
}

function urlOf(c: Case): string {
  return c.query.length ? `${c.path}?${new URLSearchParams(c.query).toString()}` : c.path;
}

// ---------------------------------------------------------------------------------------------
// Checks

function clip(value: string, max = 600): string {
  return value.length > max ? `${value.slice(0, max)}... (${value.length} characters)` : value;
}

/** Problems with one answer; empty when it keeps every promise. */
function problemsOf(
  status: number,
  headers: Headers,
  raw: string,
  before: Record<string, number>,
  after: Record<string, number>,
): string[] {
  const problems: string[] = [];
  if (status >= 500) problems.push(`answered ${status}`);
  if (status < 400) return problems;
  let body: any;
  try {
    body = JSON.parse(raw);
  } catch {
    problems.push('the error body is not JSON');
    return problems;
  }
  if (!(headers.get('content-type') ?? '').startsWith('application/json'))
    problems.push(`the error's content-type is ${headers.get('content-type')}`);
  const error = body?.error;
  const shapeOk =
    body !== null &&
    typeof body === 'object' &&
    Object.keys(body).join() === 'error' &&
    error !== null &&
    typeof error === 'object' &&
    Object.keys(error).sort().join() === 'code,details,message,requestId' &&
    typeof error.code === 'string' &&
    typeof error.message === 'string' &&
    error.message.length > 0 &&
    error.details !== null &&
    typeof error.details === 'object' &&
    !Array.isArray(error.details) &&
    typeof error.requestId === 'string' &&
    error.requestId.length > 0;
  if (!shapeOk) problems.push('the error body is not { error: { code, message, details, requestId } }');
  else if (HTTP_STATUS[error.code as keyof typeof HTTP_STATUS] !== status)
    problems.push(`error code ${error.code} does not belong with status ${status}`);
  if (status === 401 && !headers.get('www-authenticate')) problems.push('a 401 without WWW-Authenticate');
  const changed = TABLES.filter((table) => before[table] !== after[table]).map((table) => `${table} ${before[table]} -> ${after[table]}`);
  if (changed.length) problems.push(`a refused request wrote rows: ${changed.join(', ')}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Pinned cases: run first on their route, whatever the seed, so that inputs that once broke the
// API stay in the fuzz. Each is the smallest request that showed its problem.

const cursorOf = (position: object) => base64url(JSON.stringify(position));

interface Pin {
  route: string;
  build(rows: Seeded['pinned']): { path: string; query?: [string, string][]; body?: unknown };
}

const PINNED: Pin[] = [
  // NUL in a text field reaches Postgres, which cannot store it in text or jsonb.
  { route: 'POST /api/v1/products', build: () => ({ path: '/api/v1/products', body: { name: 'a\u0000b', owner_id: 'owner-a' } }) },
  { route: 'PATCH /api/v1/tasks/{id}', build: (rows) => ({ path: `/api/v1/tasks/${rows.task}`, body: { implementation_plan: '\u0000' } }) },
  {
    route: 'POST /api/v1/ideas/{id}/chat',
    build: (rows) => ({ path: `/api/v1/ideas/${rows.chatIdea}/chat`, body: { message: 'a\u0000b' } }),
  },
  { route: 'POST /api/v1/jobs/{id}/cancel', build: (rows) => ({ path: `/api/v1/jobs/${rows.job}/cancel`, body: { reason: 'a\u0000b' } }) },
  { route: 'GET /api/v1/products', build: () => ({ path: '/api/v1/products', query: [['owner_id', '\u0000']] }) },
  // Cursors that pass the shape check but not Postgres: an id of 36 dashes, micros beyond bigint.
  {
    route: 'GET /api/v1/tasks',
    build: () => ({ path: '/api/v1/tasks', query: [['cursor', cursorOf({ createdMicros: '0', id: '-'.repeat(36) })]] }),
  },
  {
    route: 'GET /api/v1/jobs',
    build: () => ({
      path: '/api/v1/jobs',
      query: [['cursor', cursorOf({ createdMicros: '9'.repeat(20), id: '0199a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d' })]],
    }),
  },
  // Year 0000 is a valid ISO 8601 date-time for the schema, not for Postgres.
  {
    route: 'POST /api/v1/sprints',
    build: (rows) => ({ path: '/api/v1/sprints', body: { product_id: rows.product, name: 'S', starts_at: '0000-01-01T00:00:00Z' } }),
  },
];

describe('the API under fuzzed requests', () => {
  let env: TestEnv;
  let api: ApiHarness;
  let db: Db;
  let seeded: Seeded;
  let operations: Operation[];

  beforeAll(async () => {
    env = await createTestEnv({ BODY_LIMIT_BYTES: String(BODY_LIMIT) });
    api = await createApiHarness(env);
    db = env.database.db;
    seeded = await seed();
    for (const [name, secret] of Object.entries(seeded.secrets)) SECRET_NAMES.set(secret, `<${name} token>`);

    const doc = await api.call('GET', '/api/v1/openapi.json', undefined, { authorization: '' });
    expect(doc.status).toBe(200);
    operations = Object.entries(doc.body.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => {
        const resource = RESOURCES.find((r) => path.startsWith(`/api/v1/${r}`) && /^(\/|$)/.test(path.slice(`/api/v1/${r}`.length)));
        const parameters = (op.parameters ?? []) as { in: string; name: string }[];
        let schema = op.requestBody?.content?.['application/json']?.schema;
        if (schema?.$ref) schema = doc.body.components.schemas[String(schema.$ref).split('/').at(-1)!];
        return {
          method: method.toUpperCase(),
          path,
          resource: resource as Resource,
          pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
          queryParams: parameters.filter((p) => p.in === 'query').map((p) => p.name),
          bodyKeys: schema?.properties ? Object.keys(schema.properties) : null,
          bodyRequired: (schema?.required ?? []) as string[],
        };
      }),
    );
  });
  afterAll(async () => {
    await api?.close();
    await env?.teardown();
  });

  /** A row of every kind for two owners, a dependency, a queued job with its queue entry and an idea log. */
  async function seed(): Promise<Seeded> {
    const ids: Record<Resource, string[]> = {
      products: [],
      pbis: [],
      stories: [],
      tasks: [],
      sprints: [],
      'sprint-runs': [],
      steps: [],
      ideas: [],
      jobs: [],
      workers: [],
      stats: [],
      events: [],
      questions: [],
      providers: ['anthropic', 'dry-run'],
      owners: ['owner-a', 'owner-b'],
      schedules: [],
    };
    for (const owner of ['owner-a', 'owner-b']) {
      await inTrx(db, async (trx) => {
        const p = await product(trx, owner);
        const b = await pbi(trx, p.id);
        const sp = await sprint(trx, p.id);
        // A sprint that can run: a story and a planned task in it.
        const runnable = await sprint(trx, p.id);
        await task(trx, (await story(trx, b.id, runnable.id)).id, runnable.id);
        const s = await story(trx, b.id);
        const [t1, t2] = [await task(trx, s.id), await task(trx, s.id)];
        await trx.insertInto('task_dependencies').values({ task_id: t1!.id, depends_on_task_id: t2!.id }).execute();
        const run = await sprintRun(trx, (await sprint(trx, p.id)).id);
        const st = await step(trx, run.id);
        const i = await idea(trx, p.id);
        const job = await planChatJob(trx, i.id);
        ids.products.push(p.id);
        ids.pbis.push(b.id);
        ids.sprints.push(sp.id, runnable.id);
        ids.stories.push(s.id);
        ids.tasks.push(t1!.id, t2!.id);
        ids['sprint-runs'].push(run.id);
        ids.steps.push(st.id);
        ids.ideas.push(i.id);
        ids.jobs.push(job.id);
        // A schedule that never fires while the fuzz runs: it is installed only by its API or a sweep.
        const schedule = await trx
          .insertInto('schedules')
          .values({
            owner_id: owner,
            product_id: p.id,
            kind: 'PLAN_CHAT',
            idea_id: i.id,
            payload: '{"message":"Any news?"}',
            cron: '0 3 1 1 *',
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        ids.schedules.push(schedule.id);
      });
    }
    const productA = ids.products[0]!;
    const [draft, grilled, planReady, chat] = [
      ...(await createIdeas(db, productA, 1, 'DRAFT')),
      ...(await createIdeas(db, productA, 1, 'GRILLED')),
      ...(await createIdeas(db, productA, 1, 'PLAN_READY')),
      ...(await createIdeas(db, productA, 1, 'PLAN_READY')),
    ];
    await db.updateTable('ideas').set({ plan_md: PLAN_MD }).where('id', '=', planReady!).execute();
    ids.ideas.push(draft!, grilled!, planReady!, chat!);
    const secrets = {
      admin: api.adminSecret,
      ownerA: await api.token(['read', 'write', 'enqueue'], 'owner-a'),
      ownerB: await api.token(['read', 'write', 'enqueue'], 'owner-b'),
      read: await api.token(['read'], 'owner-a'),
      worker: await api.token(['worker'], 'fleet'),
    };
    const grill = await api.call('POST', '/api/v1/jobs', { kind: 'idea_grill', idea_id: draft });
    const chatted = await api.call('POST', `/api/v1/ideas/${chat}/chat`, { message: 'Shorter, please.' });
    expect([grill.status, chatted.status]).toEqual([202, 202]);
    ids.jobs.push(grill.body.id, chatted.body.id);

    const pinned = await inTrx(db, async (trx) => {
      const p = await product(trx, 'owner-a');
      const t = await task(trx, (await story(trx, (await pbi(trx, p.id)).id)).id);
      const i = await idea(trx, p.id);
      return { product: p.id, task: t.id, job: (await planChatJob(trx, i.id)).id };
    });
    const [chatIdea] = await createIdeas(db, pinned.product, 1, 'PLAN_READY');
    return { ids, all: Object.values(ids).flat(), secrets, pinned: { ...pinned, chatIdea: chatIdea! } };
  }

  function describeCase(op: Operation, c: Case, status: number, text: string, problems: string[]): string {
    return [
      `${problems.join('; ')}`,
      `request: ${op.method} ${clip(urlOf(c), 600)}`,
      `headers: ${redact(JSON.stringify(c.headers))}`,
      `body: ${c.body === undefined ? '(none)' : clip(JSON.stringify(c.body))}`,
      `answer: ${status} ${clip(redact(text))}`,
    ].join('\n  ');
  }

  async function send(op: Operation, c: Case) {
    const before = await rowCounts(db);
    const response = await api.app.request(urlOf(c), {
      method: op.method,
      headers: c.headers,
      ...(c.body === undefined ? {} : { body: c.body }),
    });
    // An event stream never ends: a 200 stream is an answer by its status alone.
    const streaming = response.headers.get('content-type')?.startsWith('text/event-stream');
    if (streaming) await response.body?.cancel();
    const text = streaming ? '' : await response.text();
    const after = response.status >= 400 ? await rowCounts(db) : before;
    return { status: response.status, headers: response.headers, text, before, after };
  }

  /** The pinned cases of an operation, in the shape fc.assert's `examples` takes. */
  function pinnedCases(op: Operation): [Case][] {
    return PINNED.filter((pin) => pin.route === `${op.method} ${op.path}`).map((pin) => {
      const { path, query = [], body } = pin.build(seeded.pinned);
      const headers = { authorization: `Bearer ${seeded.secrets.admin}`, 'content-type': 'application/json' };
      return [withToString(op, { path, query, headers, body: body === undefined ? undefined : JSON.stringify(body) })];
    });
  }

  /** Fuzzes each operation with its own seed (from its method and path, so adding a route moves no other's). */
  async function fuzz(ops: Operation[]): Promise<string[]> {
    const failures: string[] = [];
    for (const op of ops) {
      const seed = SEED ^ createHash('sha256').update(`${op.method} ${op.path}`).digest().readUInt32BE(0);
      try {
        await fc.assert(
          fc.asyncProperty(caseArb(seeded, op), async (c) => {
            const answer = await send(op, c);
            const problems = problemsOf(answer.status, answer.headers, answer.text, answer.before, answer.after);
            if (problems.length) throw new Error(describeCase(op, c, answer.status, answer.text, problems));
          }),
          { seed, numRuns: RUNS_PER_ROUTE, includeErrorInReport: true, examples: pinnedCases(op) },
        );
      } catch (error) {
        failures.push(`${op.method} ${op.path}: ${(error as Error).message}`);
      }
    }
    return failures;
  }

  it('finds every documented route under a resource it fuzzes, and at least 60 of them', () => {
    expect(operations.length).toBeGreaterThanOrEqual(60);
    expect(operations.filter((op) => op.resource === undefined).map((op) => `${op.method} ${op.path}`)).toEqual([]);
    for (const resource of RESOURCES)
      expect(
        operations.some((op) => op.resource === resource),
        resource,
      ).toBe(true);
    // Routes with a JSON body expose its fields, so that the fuzzer can aim at them.
    const withBody = operations.filter((op) => op.bodyKeys !== null);
    expect(withBody.length).toBeGreaterThanOrEqual(25);
    // A pinned case whose route went away would silently stop running.
    const routes = new Set(operations.map((op) => `${op.method} ${op.path}`));
    expect(PINNED.map((pin) => pin.route).filter((route) => !routes.has(route))).toEqual([]);
  });

  it.each(RESOURCES)(
    'never answers 5xx, answers refusals in the error shape, and writes nothing when refusing, on every /%s route',
    async (resource) => {
      const ops = operations.filter((op) => op.resource === resource);
      expect(ops.length).toBeGreaterThan(0);
      const failures = await fuzz(ops);
      expect(failures, failures.join('\n\n')).toEqual([]);
    },
  );
});
