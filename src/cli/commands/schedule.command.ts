/**
 * `jobfleet schedule create|list|delete`: schedules from the command line, straight in the
 * database (as `product` and `enqueue` do), with the scheduler installed in Redis at once. Input
 * is checked by the API's own schema and the schedules' own checks before a connection is opened,
 * so a bad value is refused with exit code 2, naming the flag. Schedules are printed as JSON
 * lines in the API's shape.
 *
 * A schedule made here is the fleet's own: it names no token, and its firings enqueue for its
 * subject's owner without one (as `jobfleet enqueue` does), still under that owner's budget.
 */
import type { z } from '@hono/zod-openapi';
import { NewSchedule, toApiSchedule } from '../../api/schemas/schedule.schemas.js';
import type { Db } from '../../db/database.js';
import type { PagePosition } from '../../db/pagination.js';
import type { Schedule } from '../../db/tables/schedule.table.js';
import { isAppError } from '../../errors/app-error.js';
import { createLogger } from '../../logger.js';
import { checkedNewSchedule, createSchedule, deleteSchedule, listSchedules, type NewScheduleInput } from '../../schedules/index.js';
import { isScheduleId } from '../../schedules/schedule.repository.js';
import { jobKind } from '../../spelling/api-spelling.js';
import { Closers } from '../lifecycle.js';
import { openDatabase } from '../open-services.js';
import { openProducer, type Producer } from '../roles.js';
import { UsageError } from '../usage-error.js';
import { defineCommand } from './command.js';

const USAGE =
  'schedule create <kind> (--idea|--task|--sprint ID) (--cron EXPR [--timezone TZ] | --every-ms MS) [--payload JSON] [--disabled]' +
  ' | schedule list [--owner OWNER] | schedule delete ID';

/** Each body field of the API and the flag that sets it. */
const FLAG_OF: Record<string, string> = {
  idea_id: 'idea',
  task_id: 'task',
  sprint_id: 'sprint',
  cron: 'cron',
  every_ms: 'every-ms',
  timezone: 'timezone',
  payload: 'payload',
  enabled: 'disabled',
};
const CREATE_ONLY = ['idea', 'task', 'sprint', 'cron', 'every-ms', 'timezone', 'payload', 'disabled'] as const;

export const scheduleCommand = defineCommand({
  summary: 'create, list or delete schedules: a job enqueued on a cron expression or every N ms (JSON lines)',
  synopsis: 'create <kind> (--idea|--task|--sprint ID) (--cron EXPR | --every-ms MS) [options] | list [--owner OWNER] | delete ID',
  options: {
    idea: { type: 'string' },
    task: { type: 'string' },
    sprint: { type: 'string' },
    cron: { type: 'string' },
    'every-ms': { type: 'string' },
    timezone: { type: 'string' },
    payload: { type: 'string' },
    disabled: { type: 'boolean' },
    owner: { type: 'string' },
  },
  optionHelp: {
    idea: ['ID', 'create: the idea of an idea_grill, idea_make_plan or plan_chat schedule'],
    task: ['ID', 'create: the task of a task_implementation schedule'],
    sprint: ['ID', 'create: the sprint a sprint_implementation schedule starts a run of'],
    cron: ['EXPR', "create: when it fires, a cron expression, e.g. '0 2 * * *' (6 fields: seconds first)"],
    'every-ms': ['MS', 'create: or fire every MS milliseconds (at least 1000; the first firing at once)'],
    timezone: ['TZ', 'create: the IANA time zone the cron expression is read in (default UTC)'],
    payload: ['JSON', 'create: each job\'s payload, e.g. \'{"message":"Any news?"}\' for plan_chat; sprints: \'{"mode":"sprint_batch"}\''],
    disabled: ['', 'create: make it disabled (PATCH /api/v1/schedules/ID {"enabled":true} enables it)'],
    owner: ['OWNER', "list: only this owner's"],
  },
  positionalHelp: [
    'actions:',
    '  create <kind>  make a schedule; prints it',
    "  list           every schedule (of --owner), newest first, one per line, with next_fire_at and the last firing's outcome",
    '  delete ID      delete a schedule (the jobs it made stay)',
    '',
    `<kind> is one of: ${jobKind.apiValues.join(', ')}`,
  ],
  async run({ values, positionals }, config) {
    const [action = '', ...rest] = positionals;
    const arity = { create: 1, list: 0, delete: 1 }[action];
    if (arity === undefined || rest.length !== arity) throw new UsageError(`usage: jobfleet ${USAGE}`);
    const stray =
      action === 'create'
        ? values.owner !== undefined && 'owner'
        : CREATE_ONLY.find((flag) => values[flag] !== undefined && values[flag] !== false);
    if (stray) throw new UsageError(`schedule ${action} takes no --${stray}; usage: jobfleet ${USAGE}`);

    // Everything is checked before a connection is opened: a bad value is a usage error (exit 2).
    const input = action === 'create' ? createInput(rest[0]!, values) : null;
    if (action === 'delete' && !isScheduleId(rest[0]!)) throw new UsageError(`"${rest[0]}" is not a schedule id (a UUID)`);
    const closers = new Closers();
    const logger = createLogger({ LOG_LEVEL: 'warn' });
    try {
      const db = await openDatabase(config, closers, 'jobfleet-schedule');
      const print = (row: Schedule) => process.stdout.write(`${JSON.stringify(toApiSchedule(row))}\n`);
      if (action === 'list') {
        for await (const row of allSchedules(db, values.owner)) print(row);
        return 0;
      }
      // Create and delete change the scheduler in Redis too, once the row is written: Redis is
      // opened then, not before (a refused change closes nothing half-open).
      let producer: Producer | null = null;
      const deps = {
        db,
        logger,
        get queues() {
          producer ??= openProducer(config, closers, logger);
          return producer.queues;
        },
      };
      if (input) print(await createSchedule(deps, input, FLEET));
      else {
        // An unknown id is an AppError: one line, exit 1.
        await deleteSchedule(deps, rest[0]!, FLEET);
        process.stdout.write(`deleted ${rest[0]}\n`);
      }
      return 0;
    } finally {
      await closers.closeAll(logger);
    }
  },
});

/** The fleet itself: no token, any owner. */
const FLEET = { actorTokenId: null, ownerId: null } as const;

/** The API body the flags stand for, checked as the API checks it: a UsageError naming each bad flag. */
function createInput(kindArg: string, values: Record<string, string | boolean | undefined>): NewScheduleInput {
  const kind = jobKind.fromApi(kindArg.toLowerCase());
  if (!kind) throw new UsageError(`unknown kind "${kindArg}"; kinds: ${jobKind.apiValues.join(', ')}`);
  let payload: unknown;
  try {
    payload = values.payload === undefined ? undefined : JSON.parse(values.payload as string);
  } catch {
    throw new UsageError('--payload is not valid JSON');
  }
  const everyMs = values['every-ms'];
  const body = {
    kind: jobKind.toApi(kind),
    idea_id: values.idea,
    task_id: values.task,
    sprint_id: values.sprint,
    payload,
    cron: values.cron,
    every_ms: everyMs === undefined ? undefined : /^\d+$/.test(everyMs as string) ? Number(everyMs) : everyMs,
    timezone: values.timezone,
    enabled: values.disabled ? false : undefined,
  };
  const parsed = checked(NewSchedule, body);
  const input: NewScheduleInput = { ...parsed, kind };
  try {
    checkedNewSchedule(input);
  } catch (error) {
    if (!isAppError(error, 'validation_failed')) throw error;
    const issues = (error.details.issues as { path: string; message: string }[] | undefined) ?? [];
    throw new UsageError(issues.length ? issues.map((issue) => `${flagOf(issue.path)}: ${issue.message}`).join('; ') : error.message);
  }
  return input;
}

/** The flag that sets a body field, with the rest of the path when it is inside one (`--payload message`). */
function flagOf(path: string): string {
  const [field = '', ...inside] = path.split('.');
  return Object.hasOwn(FLAG_OF, field) ? `--${FLAG_OF[field]}${inside.length ? ` ${inside.join('.')}` : ''}` : path || 'input';
}

function checked<S extends z.ZodType>(schema: S, body: Record<string, unknown>): z.infer<S> {
  const result = schema.safeParse(Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined)));
  if (result.success) return result.data;
  throw new UsageError(result.error.issues.map((issue) => `${flagOf(issue.path.map(String).join('.'))}: ${issue.message}`).join('; '));
}

/** Every schedule (of one owner), newest first, a page at a time. */
async function* allSchedules(db: Db, owner: string | undefined): AsyncIterable<Schedule> {
  let after: PagePosition | undefined;
  do {
    const page = await listSchedules(db, owner ?? null, { limit: 200, after });
    yield* page.items;
    after = page.next ?? undefined;
  } while (after);
}
