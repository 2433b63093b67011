import type { JsonValue } from '../db/column-types.js';
import type { EntityType } from '../machines/index.js';

/** Who and why, written into every history row the change (and its cascades) produce. */
export interface TransitionContext {
  /** The token on whose behalf the change happens; null or absent for the system itself. */
  actorTokenId?: string | null;
  reason?: string | null;
  artifacts?: JsonValue | null;
  /** A task transition made by a sprint run: checked for ownership and propagated to the run. */
  sprintRunId?: string | null;
  /**
   * Set when a failed job is retried as a new job: the subject's failure side effects are left
   * out, because the retry carries on the subject's work.
   */
  retriedAs?: string | null;
}

export interface AppliedHop {
  from: string;
  to: string;
  trigger: string;
}

export interface AppliedTransition<Row = Record<string, unknown>> {
  entity: EntityType;
  /** The row as it is after the change. */
  row: Row;
  from: string;
  to: string;
  hops: AppliedHop[];
  context: TransitionContext;
}
