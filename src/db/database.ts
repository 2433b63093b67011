/**
 * The typed shape of the jobfleet schema (see migrations/) and the factory that opens it.
 * Only entry points (the CLI, test helpers) call createDatabase; everything else receives `db`.
 */
import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import { createConnectionPool } from './connection-pool.js';
import { withDefaultUser } from './connection-string.js';
import type { ApiTokenTable } from './tables/api-token.table.js';
import type { ClaudeJobTable } from './tables/claude-job.table.js';
import type { IdeaLogTable, IdeaTable } from './tables/idea.table.js';
import type { FleetSecretTable } from './tables/fleet-secret.table.js';
import type { IdempotencyKeyTable } from './tables/idempotency-key.table.js';
import type { JobQuestionTable } from './tables/job-question.table.js';
import type { JobUsageRecordTable } from './tables/job-usage-record.table.js';
import type { PbiTable } from './tables/pbi.table.js';
import type { OwnerBudgetTable, OwnerDailySpendTable } from './tables/owner-budget.table.js';
import type { OwnerCapTable } from './tables/owner-cap.table.js';
import type { ProductTable } from './tables/product.table.js';
import type { ProviderTable } from './tables/provider.table.js';
import type { RetentionCursorTable, RetentionHeldJobTable } from './tables/retention.table.js';
import type { ScheduleFiringTable, ScheduleTable } from './tables/schedule.table.js';
import type { SprintRunTable } from './tables/sprint-run.table.js';
import type { SprintTable } from './tables/sprint.table.js';
import type { StepTable } from './tables/step.table.js';
import type { StoryTable } from './tables/story.table.js';
import type { TaskDependencyTable, TaskTable } from './tables/task.table.js';
import type { TransitionTable } from './tables/transition.table.js';
import type { WorkerTable } from './tables/worker.table.js';

export interface Database {
  api_tokens: ApiTokenTable;
  workers: WorkerTable;
  products: ProductTable;
  pbis: PbiTable;
  stories: StoryTable;
  tasks: TaskTable;
  task_dependencies: TaskDependencyTable;
  sprints: SprintTable;
  sprint_runs: SprintRunTable;
  steps: StepTable;
  ideas: IdeaTable;
  idea_logs: IdeaLogTable;
  claude_jobs: ClaudeJobTable;
  transitions: TransitionTable;
  providers: ProviderTable;
  owner_budgets: OwnerBudgetTable;
  owner_daily_spend: OwnerDailySpendTable;
  owner_caps: OwnerCapTable;
  schedules: ScheduleTable;
  schedule_firings: ScheduleFiringTable;
  idempotency_keys: IdempotencyKeyTable;
  job_questions: JobQuestionTable;
  job_usage_records: JobUsageRecordTable;
  fleet_secrets: FleetSecretTable;
  retention_cursors: RetentionCursorTable;
  retention_held_jobs: RetentionHeldJobTable;
}

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;
/** Repository functions take either; the caller decides whether a transaction is open. */
export type Executor = Db | Trx;

// int8 (bigint identity, count(*)) stays a string: JS numbers cannot hold every int8.
// numeric (cost) stays a string too; mappers convert where a number is safe.

export interface DatabaseOptions {
  connectionString: string;
  poolMax?: number;
  applicationName?: string;
}

export function createDatabase(options: DatabaseOptions): Db {
  const pool = createConnectionPool({
    connectionString: withDefaultUser(options.connectionString),
    max: options.poolMax ?? 10,
    applicationName: options.applicationName ?? 'jobfleet',
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
