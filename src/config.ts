/**
 * The one place that reads the environment. Every other module receives a `Config`.
 *
 * A bad value stops the process with one line naming the variable, the value (masked for
 * secrets) and what is allowed, so an operator never has to read a stack trace to fix a typo.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { budgetDefaultsSchema } from './job-budget.js';
import { JOB_KINDS, type JobKind } from './job-kinds.js';
import { type TracingSwitch, tracingSwitchOf } from './telemetry/tracing-switch.js';

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ error: `an integer from ${min} to ${max}` })
    .int({ error: `an integer from ${min} to ${max}` })
    .min(min, { error: `an integer from ${min} to ${max}` })
    .max(max, { error: `an integer from ${min} to ${max}` });

const url = (protocols: readonly string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { error: `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

/** `Name <email>`, as git writes an author. */
const gitIdentity = z
  .string()
  .regex(/^[^<>\n]+ <[^<>\s]+@[^<>\s]+>$/, { error: 'a git identity, `Name <email@host>`' })
  .transform((value) => {
    const [, name, email] = /^(.+?) <(.+)>$/.exec(value)!;
    return { name: name!, email: email! };
  });

const absolutePath = z.string().refine((value) => path.isAbsolute(value), { error: 'an absolute path' });

const kindList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((kind) => kind.trim().toUpperCase())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.enum(JOB_KINDS, { error: `a comma-separated list of ${JOB_KINDS.map((k) => k.toLowerCase()).join(', ')}` }))
      .min(1, { error: 'at least one job kind' }),
  );

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

/**
 * Default budgets per kind, as JSON: `{"task_implementation": {"max_cost_usd": 5}, "*": {...}}`;
 * `*` applies to every kind without an entry of its own (src/budgets/job-budget.ts).
 */
const jobBudgets = z
  .string()
  .transform((value, context) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'JSON: an object of kind names to budgets' });
      return z.NEVER;
    }
  })
  .pipe(budgetDefaultsSchema);

/** `host:port,host:port`: the nodes a Redis Cluster client starts from (any of the cluster's nodes will do). */
const clusterNodes = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((node) => node.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(
        z
          .string()
          .regex(/^[^\s:,]+:\d{1,5}$/, { error: 'a comma-separated list of host:port' })
          .transform((node) => {
            const colon = node.lastIndexOf(':');
            return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) };
          })
          .refine((node) => node.port > 0 && node.port <= 65_535, { error: 'a comma-separated list of host:port' }),
      )
      .min(1, { error: 'at least one host:port' }),
  );

/** Most queues one kind may be split over. */
export const MAX_QUEUE_SHARDS = 64;

const SINGLE_QUEUES = Object.freeze(Object.fromEntries(JOB_KINDS.map((kind) => [kind, 1]))) as Readonly<Record<JobKind, number>>;

/**
 * How many queues each kind is split over: `N` for every kind, or `kind=N,...` (API spellings,
 * `*=N` for the kinds not named). Kinds not named and without `*` keep one queue.
 */
const queueShards = z.string().transform((value, context) => {
  const shards = { ...SINGLE_QUEUES };
  const expected = `an integer from 1 to ${MAX_QUEUE_SHARDS}, or kind=N,... (kinds: ${JOB_KINDS.map((k) => k.toLowerCase()).join(', ')}, or *)`;
  const count = (text: string) => {
    const n = Number(text.trim());
    return Number.isInteger(n) && n >= 1 && n <= MAX_QUEUE_SHARDS && /^\s*\d+\s*$/.test(text) ? n : null;
  };
  const every = count(value);
  if (every !== null) return Object.fromEntries(JOB_KINDS.map((kind) => [kind, every])) as Record<JobKind, number>;
  const named = new Map<string, number>();
  for (const part of value.split(',').filter((p) => p.trim() !== '')) {
    const [name, n] = part.split('=');
    const kind = name?.trim().toUpperCase() ?? '';
    const parsed = n === undefined ? null : count(n);
    if (parsed === null || (kind !== '*' && !(JOB_KINDS as readonly string[]).includes(kind))) {
      context.addIssue({ code: 'custom', message: expected });
      return z.NEVER;
    }
    named.set(kind, parsed);
  }
  for (const kind of JOB_KINDS) shards[kind] = named.get(kind) ?? named.get('*') ?? 1;
  return shards;
});

/**
 * Shortest retention allowed: the dashboard's longest series (7 days) reads its jobs' cost from the
 * start of the UTC day its first hour falls in, up to 8 days back (src/metrics/series-frame.ts).
 */
export const MIN_RETENTION_DAYS = 8;

/** Rows each retention walk reads and deletes per sweep unless RETENTION_BATCH says otherwise. */
export const RETENTION_BATCH = 5_000;

/**
 * Days to keep job traffic, or `forever` (null). At least MIN_RETENTION_DAYS: the dashboard's
 * series read up to 8 days of history.
 */
const retentionDays = z.string().transform((value, context) => {
  if (value.trim().toLowerCase() === 'forever') return null;
  const days = Number(value.trim());
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(days) || days < MIN_RETENTION_DAYS || days > 36_500) {
    context.addIssue({ code: 'custom', message: `an integer from ${MIN_RETENTION_DAYS} to 36500 (days), or forever` });
    return z.NEVER;
  }
  return days;
});

const dollars = z
  .string()
  .regex(/^\d+(\.\d+)?$/, { error: 'a non-negative number of US dollars' })
  .transform((value) => Number(value));

const schema = z.object({
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://127.0.0.1:5432/jobfleet'),
  DB_POOL_MAX: integer(1, 200).default(10),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: optionalText.pipe(clusterNodes.optional()),
  QUEUE_SHARDS: optionalText.pipe(queueShards.optional()).transform((value) => value ?? SINGLE_QUEUES),
  BULLMQ_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, { error: 'letters, digits, dot, dash or underscore (no colon)' })
    .default('jobfleet'),
  HOST: z.string().min(1, { error: 'a host name or address' }).default('127.0.0.1'),
  PORT: integer(0, 65535).default(3000),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  ADMIN_TOKEN: optionalText.pipe(z.string().min(16, { error: 'at least 16 characters' }).optional()),
  BODY_LIMIT_BYTES: integer(1024, 64 * 1024 * 1024).default(1024 * 1024),
  IDEMPOTENCY_TTL_MS: integer(1000).default(24 * 60 * 60 * 1000),
  DASHBOARD_USER: optionalText,
  DASHBOARD_PASSWORD: optionalText.pipe(z.string().min(12, { error: 'at least 12 characters' }).optional()),
  API_URL: optionalText.pipe(url(['http:', 'https:']).optional()),
  PULL_LEASE_MS: integer(1000).default(5 * 60 * 1000),
  METRICS_PUBLIC: z
    .enum(['true', 'false'], { error: 'true or false' })
    .default('false')
    .transform((value) => value === 'true'),
  METRICS_KEEP_MS: integer(0, 60 * 60 * 1000).default(5000),

  AGENT: z.enum(['dry-run', 'anthropic', 'command'], { error: 'one of dry-run, anthropic, command' }).default('dry-run'),
  AGENT_TIMEOUT_MS: integer(1000).default(30 * 60 * 1000),
  AGENT_COMMAND: optionalText,
  ANTHROPIC_API_KEY: optionalText,
  ANTHROPIC_BASE_URL: optionalText.pipe(url(['http:', 'https:']).optional()),
  ANTHROPIC_MODEL: z.string().min(1, { error: 'a model name' }).default('claude-sonnet-4-6'),
  ANTHROPIC_MAX_TOKENS: integer(1, 1_000_000).default(8192),
  // The SDK's retries inside one call: of 408 and 409 answers and per-attempt timeouts only. A 429,
  // 529, 5xx or lost connection is never retried in the job: the fleet pauses the provider instead.
  ANTHROPIC_MAX_RETRIES: integer(0, 20).default(2),
  DRY_RUN_DELAY_MS: integer(0, 3_600_000).default(0),
  AGENT_PROVIDER: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, { error: 'a provider name: lowercase letters, digits, dot, dash or underscore' })
    .default('anthropic'),

  PROVIDER_RATE_LIMIT_DEFAULT_MS: integer(100, 24 * 3_600_000).default(60_000),
  PROVIDER_BACKOFF_BASE_MS: integer(10, 3_600_000).default(2_000),
  PROVIDER_BACKOFF_MAX_MS: integer(10, 24 * 3_600_000).default(5 * 60_000),
  JOB_BUDGETS: optionalText.pipe(jobBudgets.optional()).transform((value) => value ?? {}),
  OWNER_DAILY_BUDGET_USD: optionalText.pipe(dollars.optional()),
  BUDGET_RECHECK_MS: integer(100, 24 * 3_600_000).default(60_000),
  OWNER_MAX_RUNNING: integer(0, 1_000_000).optional(),
  OWNER_CAP_RECHECK_MS: integer(100, 24 * 3_600_000).default(30_000),

  WORKER_KINDS: kindList.default([...JOB_KINDS]),
  WORKER_CONCURRENCY: integer(1, 1000).default(10),
  LEASE_MS: integer(1000).default(30_000),
  HEARTBEAT_MS: integer(100).default(5_000),
  STALE_CLAIM_MS: integer(1000).default(30 * 60 * 1000),
  JOB_MAX_RETRIES: integer(0, 100).default(2),
  SWEEP_INTERVAL_MS: integer(100).default(10_000),
  RECONCILE_GRACE_MS: integer(0).default(5_000),
  RECONCILE_FULL_INTERVAL_MS: integer(1_000).default(3_600_000),
  SHUTDOWN_TIMEOUT_MS: integer(0).default(30_000),
  // A month of job history covers the series' week and a look back at last month's incidents;
  // jobs (their results, errors, cost) a quarter, for a quarter's bills and audits.
  HISTORY_RETENTION_DAYS: retentionDays.default(30),
  JOB_RETENTION_DAYS: retentionDays.default(90),
  RETENTION_BATCH: integer(1, 1_000_000).default(RETENTION_BATCH),

  WORKSPACE_ROOT: absolutePath.default(path.join(homedir(), '.cache', 'jobfleet', 'workspaces')),
  WORKSPACE_GIT_AUTHOR: gitIdentity.default({ name: 'jobfleet', email: 'jobfleet@localhost' }),
  WORKSPACE_CACHE_MAX_AGE_DAYS: integer(1, 3650).default(14),
  GIT_TIMEOUT_MS: integer(1000).default(5 * 60 * 1000),
  VERIFY_MAX_ATTEMPTS: integer(1, 20).default(3),
  VERIFY_TIMEOUT_MS: integer(1000).default(10 * 60 * 1000),
});

/** Every variable jobfleet reads (the README's configuration table lists exactly these). */
export const CONFIG_VARIABLES = Object.keys(schema.shape);

export type Config = Readonly<
  Omit<z.infer<typeof schema>, 'WORKER_KINDS' | 'QUEUE_SHARDS'> & {
    WORKER_KINDS: readonly JobKind[];
    QUEUE_SHARDS: Readonly<Record<JobKind, number>>;
    /** Whether to trace, from the standard OTEL_* variables (the SDK reads the rest itself). */
    tracing?: TracingSwitch;
  }
>;

/** Variables whose values never appear in an error message. */
const SECRETS = new Set(['ADMIN_TOKEN', 'ANTHROPIC_API_KEY', 'DATABASE_URL', 'REDIS_URL', 'DASHBOARD_PASSWORD']);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Parses the environment into a frozen Config. Throws a ConfigError whose message is one line
 * per bad variable: `PORT="abc" is not allowed: expected an integer from 0 to 65535`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    // An empty variable means "not set": `PORT= npm start` should not fail on "".
    input[key] = value === '' ? undefined : value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const raw = input[name];
      const shown = raw === undefined ? '(unset)' : SECRETS.has(name) ? '"***"' : JSON.stringify(raw);
      return `${name}=${shown} is not allowed: expected ${issue.message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  const config = parsed.data;
  // libpq's rule: a connection string without a user means PGUSER when it is set.
  const pgUser = env.PGUSER;
  if (pgUser) {
    const url = new URL(config.DATABASE_URL);
    if (!url.username) {
      url.username = pgUser;
      config.DATABASE_URL = url.toString();
    }
  }
  if (Boolean(config.DASHBOARD_USER) !== Boolean(config.DASHBOARD_PASSWORD)) {
    throw new ConfigError(
      `${config.DASHBOARD_USER ? 'DASHBOARD_PASSWORD' : 'DASHBOARD_USER'}=(unset) is not allowed: expected DASHBOARD_USER and DASHBOARD_PASSWORD together`,
    );
  }
  if (config.AGENT === 'command' && !config.AGENT_COMMAND) {
    throw new ConfigError('AGENT_COMMAND=(unset) is not allowed: expected a command line when AGENT=command');
  }
  if (config.AGENT === 'anthropic' && !config.ANTHROPIC_API_KEY) {
    throw new ConfigError('ANTHROPIC_API_KEY=(unset) is not allowed: expected an API key when AGENT=anthropic');
  }
  return Object.freeze({
    ...config,
    WORKER_KINDS: Object.freeze([...config.WORKER_KINDS]),
    QUEUE_SHARDS: Object.freeze({ ...config.QUEUE_SHARDS }),
    tracing: tracingSwitchOf(env),
  });
}
