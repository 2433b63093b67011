/**
 * What every entity with a state machine shows and takes about its status: the transitions open
 * from the current status, and the body of a user transition (`to` in the API's spelling).
 */
import { z } from '@hono/zod-openapi';
import type { Machine } from '../../machines/index.js';
import type { Spelling } from '../../util/define-spelling.js';
import { apiEnum } from './common.schemas.js';

export const ValidTransitions = z
  .object({
    status: z.string(),
    transitions: z.array(z.object({ to: z.string(), trigger: z.string(), description: z.string() })),
    system_transitions: z.array(z.object({ to: z.string(), trigger: z.string(), description: z.string() })),
  })
  .openapi('ValidTransitions');

export function validTransitions<S extends string>(machine: Machine<string, string, S>, spelling: { toApi(status: S): string }, status: S) {
  const rules = machine.transitions.filter((rule) => rule.from === status);
  const view = (rule: (typeof rules)[number]) => ({ to: spelling.toApi(rule.to), trigger: rule.trigger, description: rule.description });
  return {
    status: spelling.toApi(status),
    transitions: rules.filter((rule) => rule.by === 'user').map(view),
    system_transitions: rules.filter((rule) => rule.by === 'system').map(view),
  };
}

/** A user transition: where to, and why (written into the history row). */
export function transitionBody<Db extends string, Api extends string>(spelling: Spelling<Db, Api>) {
  return z.object({ to: apiEnum(spelling), reason: z.string().trim().min(1).max(2_000).optional() }).strict();
}

export const TRANSITIONS_DESCRIPTION = 'Only transitions a user may trigger; the others answer 409 saying what triggers them.';
