/**
 * A Provider is whose limits the fleet's agents run under (`anthropic`, or what a command agent
 * names). Its pauses go through the door, so each is a history row and a live event
 * (`provider_paused`, `provider_resumed`):
 *
 * - ACTIVE: its kinds' jobs run.
 * - PAUSED: its kinds' queues hold their jobs, fleet-wide; a rate limit or an overload ends by
 *   itself at `resume_at`, a spend limit only when an admin resumes it.
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const PROVIDER_STATUSES = ['ACTIVE', 'PAUSED'] as const;
export type ProviderStatus = (typeof PROVIDER_STATUSES)[number];

/** How the API spells each status. */
export const providerStatus = defineSpelling({
  ACTIVE: 'active',
  PAUSED: 'paused',
} as const satisfies Record<ProviderStatus, string>);

export const providerMachine = defineMachine({
  entity: 'PROVIDER',
  table: 'providers',
  statuses: PROVIDER_STATUSES,
  initial: 'ACTIVE',
  noun: 'provider',
  spell: providerStatus.toApi,
  transitions: [
    { from: 'ACTIVE', to: 'PAUSED', trigger: 'rate_limited', by: 'system', description: 'the provider answers 429 with a time to wait' },
    { from: 'ACTIVE', to: 'PAUSED', trigger: 'overloaded', by: 'system', description: 'the provider is overloaded (529, 5xx); back off' },
    {
      from: 'ACTIVE',
      to: 'PAUSED',
      trigger: 'spend_limit_reached',
      by: 'system',
      description: "the organisation's spend limit is reached; paused until an admin resumes",
    },
    { from: 'PAUSED', to: 'ACTIVE', trigger: 'pause_ended', by: 'system', description: "the provider's time to wait has passed" },
    { from: 'PAUSED', to: 'ACTIVE', trigger: 'admin_resumes', by: 'user', description: 'an admin resumes the provider' },
  ],
});
