import type { Trx } from '../../db/database.js';
import type { AnyMachine } from '../../machines/index.js';
import type { AppliedTransition, TransitionContext } from '../transition-types.js';

/**
 * What a cascade may call: the door itself, handed in rather than imported so that the door
 * and its cascades do not import each other.
 */
export interface CascadeRequest {
  id: string;
  from: string;
  to: string;
  trigger?: string;
  set?: Record<string, any>;
  context?: TransitionContext;
}

export interface Door {
  transition(trx: Trx, machine: AnyMachine, request: CascadeRequest): Promise<AppliedTransition<any>>;
  transitionMany(
    trx: Trx,
    machine: AnyMachine,
    requests: readonly CascadeRequest[],
  ): Promise<{ applied: AppliedTransition<any>[]; refused: CascadeRequest[] }>;
}

export type Cascade = (trx: Trx, changes: readonly AppliedTransition<any>[], door: Door) => Promise<void>;

/** The context a cascaded change inherits: same actor, the cause named in its reason. */
export function inherited(change: AppliedTransition, reason: string): TransitionContext {
  return { actorTokenId: change.context.actorTokenId ?? null, reason };
}
