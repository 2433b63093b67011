import type { ColumnType, Insertable, Selectable } from 'kysely';
import type { CreatedAt, Id, NullableTimestamp, Timestamp } from '../column-types.js';

/** The fleet registry: one row per worker process, kept alive by its heartbeat. */
export interface WorkerTable {
  id: Id;
  host: string;
  pid: number;
  kinds: string[];
  concurrency: number;
  /** The token this worker binds its claims to. */
  token_id: string;
  version: string;
  /** `process`: a worker process; `pull`: an agent session working the queue over MCP. */
  mode: ColumnType<'process' | 'pull', 'process' | 'pull' | undefined, 'process' | 'pull'>;
  /** Whose limits the worker's executor runs under (null: a pull-mode session). */
  provider: ColumnType<string | null, string | null | undefined, string | null>;
  started_at: CreatedAt;
  heartbeat_at: Timestamp;
  stopped_at: NullableTimestamp;
}

export type WorkerRow = Selectable<WorkerTable>;
export type NewWorker = Insertable<WorkerTable>;
