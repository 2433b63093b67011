/**
 * Whether Redis may have lost data since reconcile last compared it with Postgres, told by marks
 * reconcile leaves in Redis itself: a mark is lost with the data it vouches for.
 *
 * One mark per queue, stored under the queue's own prefix (on a cluster, in its hash slot): every
 * master that holds a queue holds that queue's mark, so a master that lost its data (FLUSHALL, a
 * restart without persistence) lost a mark. A failover promotes a replica that may lack the last
 * writes and still holds the mark it replicated; it is told by its run id (INFO server `run_id`),
 * which differs on every server and after every restart: each mark records the run ids of every
 * master as they were when the check began.
 *
 * A mark is written as `checking` before a full check and turned into `checked` only once the
 * check completed, and only if it is still the one written: a crash mid-check leaves `checking`
 * (the next sweep checks everything again), and data lost mid-check takes the `checking` mark with
 * it, which is then not recreated. Each mark also carries the position in the history
 * (`transitions` id) up to which every job that entered QUEUED was seen present: the incremental
 * checks start there (src/sweeper/reconcile.ts).
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { JobQueues } from '../queues/job-queues.js';

/**
 * Why a sweep checks every QUEUED job against Redis rather than the ones new since the last check.
 * `postgres_outage` is the sweeper's own (src/sweeper/sweeper.ts): while Postgres was away, claims
 * failed and BullMQ may have given up on deliveries whose rows stayed QUEUED, which no mark tells.
 * `given_up_trimmed` is reconcile's: more deliveries failed since the last check than BullMQ
 * keeps, so some rows still QUEUED may have lost their delivery without a trace
 * (src/sweeper/given-up-deliveries.ts).
 */
export type FullCheckReason = 'mark_missing' | 'run_id_changed' | 'check_unfinished' | 'due' | 'postgres_outage' | 'given_up_trimmed';

/** A mark's content: the same in every queue's mark after a full check. */
interface Mark {
  state: 'checking' | 'checked';
  /** Unique per full check: the check turns into `checked` only the marks it wrote. */
  token: string;
  /** The masters' run ids, sorted, when the full check began. */
  runIds: string[];
  /** When the last full check began (ms since the epoch). */
  fullAt: number;
  /** The history position (transitions id, as text) up to which every entry into QUEUED was checked. */
  upTo: string;
  /**
   * When the check that set upTo began (ms since the epoch): deliveries BullMQ gave up on since
   * are looked at by the next check (src/sweeper/given-up-deliveries.ts). Absent in marks written
   * before it was kept: fullAt stands in.
   */
  checkedAt?: number;
}

/** Where reconcile stands: a full check is due (and why), or an incremental one from a position. */
export type CheckState =
  | { full: FullCheckReason; runIds: string[] }
  | { full: null; runIds: string[]; upTo: string; checkedAt: number; marks: Map<string, string> };

/** The key of a queue's mark: beside the queue's own keys, so in its slot on a cluster. */
function markKeys(queues: JobQueues): string[] {
  return queues.all().map((queue) => queue.toKey('jobfleet-reconciled'));
}

/** The run id of every master (one server: its own). */
async function runIdsOf(queues: JobQueues): Promise<string[]> {
  const redis = queues.connection;
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const ids = await Promise.all(
    servers.map(async (server) => {
      const info = await server.info('server');
      const id = /^run_id:(\w+)/m.exec(info)?.[1];
      if (!id) throw new Error('Redis did not tell its run_id');
      return id;
    }),
  );
  return ids.sort();
}

/** Sets a key only while it holds what the caller read: a mark lost or changed since is not written back. */
const SWAP = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`;

async function swap(queues: JobQueues, key: string, from: string, to: string): Promise<boolean> {
  return Number(await queues.connection.eval(SWAP, 1, key, from, to)) === 1;
}

function parse(value: string | null): Mark | null {
  if (value === null) return null;
  try {
    return JSON.parse(value) as Mark;
  } catch {
    return null;
  }
}

/**
 * Reads every mark and the masters' run ids, and says what kind of check is due. A position to go
 * on from is the lowest of the marks' (they differ only when an update reached some and not others).
 */
export async function readCheckState(queues: JobQueues, fullIntervalMs: number, now = Date.now()): Promise<CheckState> {
  const runIds = await runIdsOf(queues);
  const keys = markKeys(queues);
  // One GET per key: on a cluster the keys lie in different slots.
  const values = await Promise.all(keys.map((key) => queues.connection.get(key)));
  const marks = values.map(parse);
  if (marks.some((mark) => mark === null)) return { full: 'mark_missing', runIds };
  const read = marks as Mark[];
  if (read.some((mark) => mark.state !== 'checked')) return { full: 'check_unfinished', runIds };
  if (read.some((mark) => mark.runIds.join(',') !== runIds.join(','))) return { full: 'run_id_changed', runIds };
  if (read.some((mark) => now - mark.fullAt >= fullIntervalMs)) return { full: 'due', runIds };
  const [upTo] = read.map((mark) => BigInt(mark.upTo)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const checkedAt = Math.min(...read.map((mark) => mark.checkedAt ?? mark.fullAt));
  return { full: null, runIds, upTo: upTo!.toString(), checkedAt, marks: new Map(keys.map((key, index) => [key, values[index]!])) };
}

/** A full check under way: its marks, written as `checking` when it began. */
export interface FullCheck {
  /** Turns the marks into `checked` at this position; marks lost or taken over meanwhile stay as they are. */
  finish(upTo: string): Promise<void>;
}

export async function beginFullCheck(queues: JobQueues, runIds: string[], now = Date.now()): Promise<FullCheck> {
  const keys = markKeys(queues);
  const checking = JSON.stringify({ state: 'checking', token: randomUUID(), runIds, fullAt: now, upTo: '0' } satisfies Mark);
  await Promise.all(keys.map((key) => queues.connection.set(key, checking)));
  return {
    async finish(upTo) {
      const checked = JSON.stringify({ ...(JSON.parse(checking) as Mark), state: 'checked', upTo, checkedAt: now } satisfies Mark);
      await Promise.all(keys.map((key) => swap(queues, key, checking, checked)));
    },
  };
}

/**
 * Moves the marks read by readCheckState on to a new position and check time, each only if it is
 * unchanged since.
 */
export async function advanceMarks(queues: JobQueues, marks: Map<string, string>, upTo: string, checkedAt: number): Promise<void> {
  await Promise.all(
    [...marks].map(([key, value]) => swap(queues, key, value, JSON.stringify({ ...parse(value)!, upTo, checkedAt } satisfies Mark))),
  );
}
