/**
 * The backlog as the API shows it and takes it: one response schema and mapper per resource,
 * and the create/update bodies (only editable fields; statuses change through transitions).
 */
import { z } from '@hono/zod-openapi';
import type { Idea as IdeaRow, IdeaLog as IdeaLogRow } from '../../db/tables/idea.table.js';
import type { Pbi as PbiRow } from '../../db/tables/pbi.table.js';
import type { Product as ProductRow } from '../../db/tables/product.table.js';
import type { SprintRun as SprintRunRow } from '../../db/tables/sprint-run.table.js';
import type { Sprint as SprintRow } from '../../db/tables/sprint.table.js';
import type { Step as StepRow } from '../../db/tables/step.table.js';
import type { Story as StoryRow } from '../../db/tables/story.table.js';
import type { Task as TaskRow } from '../../db/tables/task.table.js';
import {
  ideaStatus,
  pbiStatus,
  sprintRunMode,
  sprintRunStatus,
  sprintStatus,
  stepStatus,
  storyStatus,
  taskStatus,
} from '../../spelling/api-spelling.js';
import { apiEnum, Uuid } from './common.schemas.js';
import { CheckCommand, DefaultBranch, RepositoryUrl } from './repository.schemas.js';

const iso = (date: Date | null) => (date ? date.toISOString() : null);
const title = z.string().trim().min(1, { error: 'must not be empty' }).max(300, { error: 'at most 300 characters' });
const text = (max: number) => z.string().max(max, { error: `at most ${max} characters` });
const order = z.number().int({ error: 'must be a whole number' }).min(-1_000_000).max(1_000_000);
const timestamps = { created_at: z.string(), updated_at: z.string() };

export const Product = z
  .object({
    id: z.uuid(),
    owner_id: z.string(),
    name: z.string(),
    description: z.string(),
    repository_url: RepositoryUrl.nullable(),
    default_branch: DefaultBranch,
    check_command: CheckCommand.nullable(),
    ...timestamps,
  })
  .openapi('Product');
/** The repository fields: absent leaves them as they are (on create: no repository, `main`, no check). */
const repositoryFields = {
  repository_url: RepositoryUrl.nullable().optional(),
  check_command: CheckCommand.nullable().optional(),
  default_branch: DefaultBranch.optional(),
};
export const NewProduct = z
  .object({
    name: title,
    description: text(20_000).optional(),
    owner_id: z.string().trim().min(1).max(200).optional().openapi({ description: 'admin tokens only; others create for their own owner' }),
    ...repositoryFields,
  })
  .strict();
export const ProductUpdate = z
  .object({ name: title.optional(), description: text(20_000).optional(), ...repositoryFields })
  .strict()
  .openapi({ description: 'null clears repository_url or check_command; default_branch cannot be null' });
export const toApiProduct = (row: ProductRow) => ({
  id: row.id,
  owner_id: row.owner_id,
  name: row.name,
  description: row.description,
  repository_url: row.repository_url,
  default_branch: row.default_branch,
  check_command: row.check_command,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export const Pbi = z
  .object({
    id: z.uuid(),
    product_id: z.uuid(),
    title: z.string(),
    description: z.string(),
    status: apiEnum(pbiStatus),
    priority: z.number().int(),
    sort_order: z.number().int(),
    ...timestamps,
  })
  .openapi('Pbi');
export const NewPbi = z
  .object({ product_id: Uuid, title, description: text(20_000).optional(), priority: order.optional(), sort_order: order.optional() })
  .strict();
export const PbiUpdate = z
  .object({ title: title.optional(), description: text(20_000).optional(), priority: order.optional(), sort_order: order.optional() })
  .strict();
export const toApiPbi = (row: PbiRow) => ({
  id: row.id,
  product_id: row.product_id,
  title: row.title,
  description: row.description,
  status: pbiStatus.toApi(row.status),
  priority: row.priority,
  sort_order: row.sort_order,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export const Story = z
  .object({
    id: z.uuid(),
    pbi_id: z.uuid(),
    sprint_id: z.uuid().nullable(),
    title: z.string(),
    description: z.string(),
    status: apiEnum(storyStatus),
    sort_order: z.number().int(),
    ...timestamps,
  })
  .openapi('Story');
export const NewStory = z.object({ pbi_id: Uuid, title, description: text(20_000).optional(), sort_order: order.optional() }).strict();
export const StoryUpdate = z
  .object({ title: title.optional(), description: text(20_000).optional(), sort_order: order.optional() })
  .strict();
export const toApiStory = (row: StoryRow) => ({
  id: row.id,
  pbi_id: row.pbi_id,
  sprint_id: row.sprint_id,
  title: row.title,
  description: row.description,
  status: storyStatus.toApi(row.status),
  sort_order: row.sort_order,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export const Task = z
  .object({
    id: z.uuid(),
    story_id: z.uuid(),
    sprint_id: z.uuid().nullable(),
    title: z.string(),
    description: z.string(),
    implementation_plan: z.string().nullable(),
    status: apiEnum(taskStatus),
    sort_order: z.number().int(),
    ...timestamps,
  })
  .openapi('Task');
export const NewTask = z
  .object({
    story_id: Uuid,
    title,
    description: text(20_000).optional(),
    implementation_plan: text(50_000).optional(),
    sort_order: order.optional(),
  })
  .strict();
export const TaskUpdate = z
  .object({
    title: title.optional(),
    description: text(20_000).optional(),
    implementation_plan: text(50_000).nullable().optional(),
    sort_order: order.optional(),
  })
  .strict();
export const toApiTask = (row: TaskRow) => ({
  id: row.id,
  story_id: row.story_id,
  sprint_id: row.sprint_id,
  title: row.title,
  description: row.description,
  implementation_plan: row.implementation_plan,
  status: taskStatus.toApi(row.status),
  sort_order: row.sort_order,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

const when = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).refine(
  (value) => {
    const year = new Date(value).getUTCFullYear();
    return year >= 1 && year <= 9999;
  },
  { error: 'must be a date-time between the years 1 and 9999' },
);
export const Sprint = z
  .object({
    id: z.uuid(),
    product_id: z.uuid(),
    name: z.string(),
    goal: z.string(),
    status: apiEnum(sprintStatus),
    starts_at: z.string().nullable(),
    ends_at: z.string().nullable(),
    ...timestamps,
  })
  .openapi('Sprint');
export const NewSprint = z
  .object({ product_id: Uuid, name: title, goal: text(20_000).optional(), starts_at: when.optional(), ends_at: when.optional() })
  .strict();
export const SprintUpdate = z
  .object({
    name: title.optional(),
    goal: text(20_000).optional(),
    starts_at: when.nullable().optional(),
    ends_at: when.nullable().optional(),
  })
  .strict();
export const toApiSprint = (row: SprintRow) => ({
  id: row.id,
  product_id: row.product_id,
  name: row.name,
  goal: row.goal,
  status: sprintStatus.toApi(row.status),
  starts_at: iso(row.starts_at),
  ends_at: iso(row.ends_at),
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export const RunProgress = z
  .object({
    steps_total: z.number().int(),
    steps_completed: z.number().int(),
    steps_failed: z.number().int(),
    steps_skipped: z.number().int(),
    steps_in_progress: z.number().int(),
    current_step: z
      .object({ id: z.uuid(), position: z.number().int(), name: z.string(), task_id: z.uuid().nullable(), status: z.string() })
      .nullable(),
  })
  .openapi('RunProgress');

export const SprintRun = z
  .object({
    id: z.uuid(),
    sprint_id: z.uuid(),
    mode: apiEnum(sprintRunMode),
    status: apiEnum(sprintRunStatus),
    progress: RunProgress.optional(),
    result: z
      .unknown()
      .openapi({ description: 'when the run has ended: success, steps_completed, steps_total, agent_results, deferred, duration_seconds' }),
    error: z.string().nullable(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    ...timestamps,
  })
  .openapi('SprintRun');
export const toApiSprintRun = (row: SprintRunRow) => ({
  id: row.id,
  sprint_id: row.sprint_id,
  mode: sprintRunMode.toApi(row.mode),
  status: sprintRunStatus.toApi(row.status),
  result: row.result,
  error: row.error,
  started_at: iso(row.started_at),
  finished_at: iso(row.finished_at),
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export const Step = z
  .object({
    id: z.uuid(),
    sprint_run_id: z.uuid(),
    task_id: z.uuid().nullable(),
    position: z.number().int(),
    name: z.string(),
    status: apiEnum(stepStatus),
    agent: z.string().nullable(),
    job_id: z.uuid().nullable(),
    output: z.unknown(),
    metadata: z.unknown(),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
    ...timestamps,
  })
  .openapi('Step');
export const toApiStep = (row: StepRow) => ({
  id: row.id,
  sprint_run_id: row.sprint_run_id,
  task_id: row.task_id,
  position: row.position,
  name: row.name,
  status: stepStatus.toApi(row.status),
  agent: row.agent,
  job_id: row.job_id,
  output: row.output,
  metadata: row.metadata,
  started_at: iso(row.started_at),
  completed_at: iso(row.completed_at),
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export const Idea = z
  .object({
    id: z.uuid(),
    product_id: z.uuid(),
    title: z.string(),
    prompt_text: z.string(),
    status: apiEnum(ideaStatus),
    grill_md: z.string().nullable(),
    plan_md: z.string().nullable(),
    plan_errors: z.array(z.string()).nullable(),
    ...timestamps,
  })
  .openapi('Idea');
export const NewIdea = z.object({ product_id: Uuid, title, prompt_text: text(50_000).optional() }).strict();
export const IdeaUpdate = z.object({ title: title.optional(), prompt_text: text(50_000).optional() }).strict();
export const toApiIdea = (row: IdeaRow) => ({
  id: row.id,
  product_id: row.product_id,
  title: row.title,
  prompt_text: row.prompt_text,
  status: ideaStatus.toApi(row.status),
  grill_md: row.grill_md,
  plan_md: row.plan_md,
  plan_errors: row.plan_errors,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export const IdeaLogEntry = z
  .object({ id: z.uuid(), type: z.string(), content: z.string(), data: z.unknown(), job_id: z.uuid().nullable(), created_at: z.string() })
  .openapi('IdeaLogEntry');
export const toApiIdeaLog = (row: IdeaLogRow) => ({
  id: row.id,
  type: row.type.toLowerCase(),
  content: row.content,
  data: row.data,
  job_id: row.job_id,
  created_at: row.created_at.toISOString(),
});
