/**
 * An Idea is a pre-PBI staging area, grilled and planned by agents.
 *
 * - DRAFT: written, not yet grilled.
 * - GRILLING: an IDEA_GRILL job is queued or running.
 * - GRILL_FAILED: that job failed or was cancelled; grilling may be retried.
 * - GRILLED: grill_md holds the agent's questions and answers.
 * - PLANNING: an IDEA_MAKE_PLAN job is queued or running.
 * - PLAN_FAILED: the job failed or its plan_md did not parse; planning may be retried.
 * - PLAN_READY: plan_md parsed into PBIs, stories and tasks.
 * - PLANNED: the PBI tree was created in the backlog (terminal).
 */
import { defineSpelling } from '../util/define-spelling.js';
import { defineMachine } from './define-machine.js';

export const IDEA_STATUSES = ['DRAFT', 'GRILLING', 'GRILL_FAILED', 'GRILLED', 'PLANNING', 'PLAN_FAILED', 'PLAN_READY', 'PLANNED'] as const;
export type IdeaStatus = (typeof IDEA_STATUSES)[number];

/** How the API spells each status. */
export const ideaStatus = defineSpelling({
  DRAFT: 'draft',
  GRILLING: 'grilling',
  GRILL_FAILED: 'grill_failed',
  GRILLED: 'grilled',
  PLANNING: 'planning',
  PLAN_FAILED: 'plan_failed',
  PLAN_READY: 'plan_ready',
  PLANNED: 'planned',
} as const satisfies Record<IdeaStatus, string>);

export const ideaMachine = defineMachine({
  entity: 'IDEA',
  table: 'ideas',
  statuses: IDEA_STATUSES,
  initial: 'DRAFT',
  noun: 'idea',
  spell: ideaStatus.toApi,
  transitions: [
    {
      from: 'DRAFT',
      to: 'GRILLING',
      trigger: 'grill_enqueued',
      by: 'system',
      description: 'POST /ideas/{id}/grill enqueues an IDEA_GRILL job',
    },
    { from: 'GRILLING', to: 'GRILLED', trigger: 'grill_written', by: 'system', description: 'the IDEA_GRILL job writes grill_md' },
    { from: 'GRILLING', to: 'GRILL_FAILED', trigger: 'job_failed', by: 'system', description: 'the IDEA_GRILL job fails or is cancelled' },
    {
      from: 'GRILL_FAILED',
      to: 'GRILLING',
      trigger: 'grill_retried',
      by: 'system',
      description: 'POST /ideas/{id}/grill enqueues a new IDEA_GRILL job',
    },
    {
      from: 'GRILLED',
      to: 'PLANNING',
      trigger: 'plan_enqueued',
      by: 'system',
      description: 'POST /ideas/{id}/plan enqueues an IDEA_MAKE_PLAN job',
    },
    {
      from: 'PLANNING',
      to: 'PLAN_READY',
      trigger: 'plan_parsed',
      by: 'system',
      description: 'the IDEA_MAKE_PLAN job writes a plan_md that parses',
    },
    {
      from: 'PLANNING',
      to: 'PLAN_FAILED',
      trigger: 'plan_rejected',
      by: 'system',
      description: 'the plan_md written by the job does not parse',
    },
    {
      from: 'PLANNING',
      to: 'PLAN_FAILED',
      trigger: 'job_failed',
      by: 'system',
      description: 'the IDEA_MAKE_PLAN job fails or is cancelled',
    },
    {
      from: 'PLAN_FAILED',
      to: 'PLANNING',
      trigger: 'plan_retried',
      by: 'system',
      description: 'POST /ideas/{id}/plan enqueues a new IDEA_MAKE_PLAN job',
    },
    {
      from: 'PLAN_READY',
      to: 'PLANNED',
      trigger: 'materialized',
      by: 'system',
      description: 'POST /ideas/{id}/materialize creates the PBI tree',
    },
  ],
});
