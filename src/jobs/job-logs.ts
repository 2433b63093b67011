/**
 * A job's log lines, from the two places they are written:
 * - the worker's lines (the agent's streamed output, its progress reports, the workspace and its
 *   check), kept by BullMQ beside the job's delivery in Redis, one list per delivery (a requeue
 *   makes a new delivery: src/queues/job-queues.ts bullJobId). BullMQ drops them with the finished
 *   delivery (KEEP_COMPLETED, KEEP_FAILED): the history in Postgres outlives them;
 * - its idea's log rows (idea jobs: a chat's message and reply, a grill's or plan's result, a
 *   failure), in Postgres for good.
 * A reader polls with the position it was handed and gets only what was written since: the
 * position holds where it stopped in each source, so one read never repeats or skips a line.
 *
 * Reading needs only Postgres, as every other read of a job does: when Redis is down or does not
 * answer within WORKER_LINES_DEADLINE_MS, a read gives the idea's rows, says the worker's lines
 * are unavailable, and keeps its worker position, so a later read picks them up where it stopped.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { ClaudeJob } from '../db/tables/claude-job.table.js';
import type { IdeaLogType } from '../db/tables/idea.table.js';
import { AppError } from '../errors/app-error.js';
import { bullJobId, type JobQueues } from '../queues/job-queues.js';
import { redisDeadline } from '../queues/redis-deadline.js';
import { isUuidShape } from '../util/uuid.js';

export interface JobLogPosition {
  /** The delivery (requeue count) whose worker lines were read last, and how many of its lines. */
  delivery: number;
  line: number;
  /** The last idea log row read: created_at in microseconds (as Postgres keeps it) and id. */
  ideaLog: { createdMicros: string; id: string } | null;
}

export type JobLogLine =
  | { source: 'worker'; delivery: number; line: number; text: string }
  | { source: 'idea_log'; id: string; type: IdeaLogType; text: string; at: Date };

export interface JobLogRead {
  lines: JobLogLine[];
  next: JobLogPosition;
  /** More lines were already written than this read returned. */
  more: boolean;
  /** Redis was down or did not answer: the worker's lines (past `next`) are missing from this read. */
  workerUnavailable: boolean;
}

export const START: JobLogPosition = { delivery: 0, line: 0, ideaLog: null };

/** How long a read waits for Redis before it answers without the worker's lines. */
export const WORKER_LINES_DEADLINE_MS = 2_000;
const withinDeadline = redisDeadline(WORKER_LINES_DEADLINE_MS);

/** A position this API handed out (it travels as an opaque cursor). */
export function isJobLogPosition(value: unknown): value is JobLogPosition {
  const v = value as JobLogPosition;
  const count = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (typeof v !== 'object' || v === null || !count(v.delivery) || !count(v.line)) return false;
  if (v.ideaLog === null) return true;
  return (
    typeof v.ideaLog === 'object' &&
    typeof v.ideaLog.createdMicros === 'string' &&
    /^\d{1,17}$/.test(v.ideaLog.createdMicros) &&
    typeof v.ideaLog.id === 'string' &&
    isUuidShape(v.ideaLog.id)
  );
}

/** Up to `limit` lines written after `after`: the idea's rows first, then the worker's lines. */
export async function readJobLogs(
  deps: { db: Db; queues: JobQueues },
  job: Pick<ClaudeJob, 'id' | 'kind' | 'idea_id' | 'requeue_count'>,
  after: JobLogPosition,
  limit: number,
): Promise<JobLogRead> {
  const ideas = job.idea_id === null ? { lines: [], last: after.ideaLog, more: false } : await ideaLines(deps.db, job, after, limit);
  const worker = await workerLines(deps.queues, job, after, limit - ideas.lines.length);
  return {
    lines: [...ideas.lines, ...worker.lines],
    next: { delivery: worker.delivery, line: worker.line, ideaLog: ideas.last },
    more: ideas.more || worker.more,
    workerUnavailable: worker.unavailable,
  };
}

async function ideaLines(db: Db, job: Pick<ClaudeJob, 'id' | 'idea_id'>, after: JobLogPosition, limit: number) {
  // The idea's log index (idea_id, created_at, id) serves this; the job's rows are a filter on it.
  let query = db
    .selectFrom('idea_logs')
    .select(['id', 'type', 'content', 'created_at', sql<string>`(extract(epoch from created_at) * 1000000)::bigint`.as('micros')])
    .where('idea_id', '=', job.idea_id!)
    .where('job_id', '=', job.id);
  if (after.ideaLog) {
    const { createdMicros, id } = after.ideaLog;
    query = query.where(
      sql<boolean>`(created_at, id) > (timestamptz 'epoch' + ${createdMicros}::bigint * interval '1 microsecond', ${id}::uuid)`,
    );
  }
  const rows = await query
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    lines: page.map((row): JobLogLine => ({ source: 'idea_log', id: row.id, type: row.type, text: row.content, at: row.created_at })),
    last: last ? { createdMicros: String(last.micros), id: last.id } : after.ideaLog,
    more: rows.length > limit,
  };
}

async function workerLines(queues: JobQueues, job: Pick<ClaudeJob, 'id' | 'kind' | 'requeue_count'>, after: JobLogPosition, room: number) {
  const lines: JobLogLine[] = [];
  let { delivery, line } = after;
  const queue = queues.queueOf(job);
  const stopped = (more: boolean, unavailable = false) => ({ lines, delivery, line, more, unavailable });
  // Earlier deliveries were removed at their requeue (with their lines): each is read to its end.
  for (; delivery <= job.requeue_count; delivery += 1, line = 0) {
    if (room <= lines.length) return stopped(true);
    // Known down: no command is sent (the producer connection would refuse it anyway).
    if (queues.connection.status !== 'ready') return stopped(false, true);
    const id = bullJobId({ id: job.id, requeue_count: delivery });
    let read: { logs: string[]; count: number };
    try {
      read = await withinDeadline('a log read', queue.getJobLogs(id, line, line + (room - lines.length) - 1, true));
    } catch (error) {
      if (!isRedisAway(error, queues)) throw error;
      return stopped(false, true);
    }
    for (const text of read.logs) lines.push({ source: 'worker', delivery, line: line++, text });
    if (line < read.count) return stopped(true);
    if (delivery === job.requeue_count) break;
  }
  return stopped(false);
}

/** The deadline passed, or the connection went away under the read: Redis is away, not the read wrong. */
function isRedisAway(error: unknown, queues: JobQueues): boolean {
  return (error instanceof AppError && error.code === 'service_unavailable') || queues.connection.status !== 'ready';
}
