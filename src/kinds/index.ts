/** The handler of every job kind; a new kind does not compile until it has one. */
import type { JobKind } from '../queues/kinds.js';
import { ideaGrillKind } from './idea-grill.kind.js';
import { ideaMakePlanKind } from './idea-make-plan.kind.js';
import type { KindHandler } from './kind-handler.js';
import { planChatKind } from './plan-chat.kind.js';
import { sprintImplementationKind } from './sprint-implementation.kind.js';
import { taskImplementationKind } from './task-implementation.kind.js';

export type { ExecuteContext, FinishedJob, HandlerContext, JobError, KindHandler, ResultContext, Verdict } from './kind-handler.js';

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
