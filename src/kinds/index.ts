/**
 * The handler of every job kind; a new kind does not compile until it has one. Loading this
 * module installs the handlers where the layers below reach them: the job services (enqueue,
 * finish) and the door, which runs the job cascade (a kind's onStarted / onFailed) and the sprint
 * run's cascade. Every process that moves jobs loads it (the CLI roles do, through their workers,
 * routes and sweeps; tests through their helpers).
 */
import { installKindHandlers } from '../jobs/installed-kinds.js';
import type { KindHandler } from '../jobs/kind-handler.js';
import type { JobKind } from '../queues/kinds.js';
import { sprintRunCascade } from '../sprints/sprint-run.cascade.js';
import { installCascades } from '../transitions/index.js';
import { claudeJobCascade } from './claude-job.cascade.js';
import { ideaGrillKind } from './idea-grill.kind.js';
import { ideaMakePlanKind } from './idea-make-plan.kind.js';
import { planChatKind } from './plan-chat.kind.js';
import { sprintImplementationKind } from './sprint-implementation.kind.js';
import { taskImplementationKind } from './task-implementation.kind.js';

export type {
  ExecuteContext,
  FinishedJob,
  HandlerContext,
  JobError,
  KindHandler,
  ResultContext,
  RunOutput,
  Verdict,
  WorkspaceSettings,
} from '../jobs/kind-handler.js';

export const KIND_HANDLERS = {
  TASK_IMPLEMENTATION: taskImplementationKind,
  IDEA_GRILL: ideaGrillKind,
  IDEA_MAKE_PLAN: ideaMakePlanKind,
  PLAN_CHAT: planChatKind,
  SPRINT_IMPLEMENTATION: sprintImplementationKind,
} satisfies { [K in JobKind]: KindHandler<K> };

export function handlerOf(kind: JobKind): KindHandler {
  return KIND_HANDLERS[kind] as KindHandler;
}

installKindHandlers(KIND_HANDLERS);
installCascades({ CLAUDE_JOB: claudeJobCascade(KIND_HANDLERS), SPRINT_RUN: sprintRunCascade });
