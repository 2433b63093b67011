/**
 * Products, PBIs, stories, tasks, sprints, sprint runs and steps: each one resource definition,
 * turned into its routes by resourceRoutes. Children are created under a parent the caller can
 * see; a hidden or missing parent answers 404.
 */
import { z } from '@hono/zod-openapi';
import { updateColumns } from '../../backlog/backlog-rows.js';
import { visibleOwnership } from '../../backlog/ownership.js';
import { AppError } from '../../errors/app-error.js';
import type { ApiDeps } from '../api-deps.js';
import {
  NewPbi,
  NewProduct,
  NewSprint,
  NewStory,
  NewTask,
  Pbi,
  PbiUpdate,
  Product,
  ProductUpdate,
  Sprint,
  SprintUpdate,
  Step,
  Story,
  StoryUpdate,
  Task,
  TaskUpdate,
  toApiPbi,
  toApiProduct,
  toApiSprint,
  toApiStep,
  toApiStory,
  toApiTask,
} from '../schemas/backlog.schemas.js';
import { Uuid } from '../schemas/common.schemas.js';
import { type Caller, createUnder, editable, resourceRoutes } from './resource-routes.js';

export function productRoutes(deps: ApiDeps) {
  return resourceRoutes(deps, {
    entity: 'PRODUCT',
    path: 'products',
    noun: 'product',
    schema: Product,
    toApi: toApiProduct,
    filters: { owner_id: z.string().max(200).optional() },
    create: {
      body: NewProduct,
      async run(trx, body: z.infer<typeof NewProduct>, caller: Caller) {
        const owner = ownerFor(body.owner_id, caller);
        return trx
          .insertInto('products')
          .values({ owner_id: owner, name: body.name, description: body.description ?? '' })
          .returningAll()
          .executeTakeFirstOrThrow();
      },
    },
    update: { body: ProductUpdate, run: (trx, row, body) => updateColumns(trx, 'PRODUCT', row.id, editable(body)) },
  });
}

/** Only an admin (who sees every owner) may create a product for someone else. */
function ownerFor(requested: string | undefined, caller: Caller): string {
  if (caller.ownerId === null) {
    if (!requested) throw new AppError('validation_failed', 'an admin creating a product must say whose: owner_id', { issues: [{ path: 'owner_id', message: 'required for admin tokens' }] });
    return requested;
  }
  if (requested !== undefined && requested !== caller.ownerId) {
    throw new AppError('forbidden', 'only admin tokens create products for another owner');
  }
  return caller.ownerId;
}

export function pbiRoutes(deps: ApiDeps) {
  return resourceRoutes(deps, {
    entity: 'PBI',
    path: 'pbis',
    noun: 'PBI',
    schema: Pbi,
    toApi: toApiPbi,
    filters: { product_id: Uuid.optional() },
    create: {
      body: NewPbi,
      async run(trx, body: z.infer<typeof NewPbi>, caller: Caller) {
        return createUnder(trx, caller, { entity: 'PRODUCT', id: body.product_id }, 'PBI', editable(body));
      },
    },
    update: { body: PbiUpdate, run: (trx, row, body) => updateColumns(trx, 'PBI', row.id, editable(body)) },
  });
}

export function storyRoutes(deps: ApiDeps) {
  return resourceRoutes(deps, {
    entity: 'STORY',
    path: 'stories',
    noun: 'story',
    schema: Story,
    toApi: toApiStory,
    filters: { pbi_id: Uuid.optional(), sprint_id: Uuid.optional() },
    create: {
      body: NewStory,
      async run(trx, body: z.infer<typeof NewStory>, caller: Caller) {
        return createUnder(trx, caller, { entity: 'PBI', id: body.pbi_id }, 'STORY', editable(body));
      },
    },
    update: { body: StoryUpdate, run: (trx, row, body) => updateColumns(trx, 'STORY', row.id, editable(body)) },
    transitionExtras: {
      fields: { sprint_id: Uuid.optional().openapi({ description: 'the sprint, when the story goes in_sprint' }) },
      async prepare(trx, story, to, body: { sprint_id?: string }, caller) {
        if (to === 'OPEN') return { sprint_id: null };
        if (to !== 'IN_SPRINT') {
          if (body.sprint_id) throw invalid('sprint_id', 'only when the story goes in_sprint');
          return {};
        }
        if (!body.sprint_id) throw invalid('sprint_id', 'required when the story goes in_sprint');
        const sprint = await visibleOwnership(trx, 'SPRINT', body.sprint_id, caller.ownerId);
        const story_ = await visibleOwnership(trx, 'STORY', story.id, caller.ownerId);
        if (sprint.productId !== story_.productId) throw invalid('sprint_id', 'the sprint belongs to another product than the story');
        const { status } = await trx.selectFrom('sprints').select('status').where('id', '=', body.sprint_id).executeTakeFirstOrThrow();
        if (status !== 'ACTIVE') throw new AppError('status_conflict', `sprint ${body.sprint_id} is ${status.toLowerCase()}; stories join active sprints only`, { current: status.toLowerCase(), allowed: ['active'] });
        return { sprint_id: body.sprint_id };
      },
    },
  });
}

function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', `invalid body: ${path}: ${message}`, { issues: [{ path, message }] });
}

export function taskRoutes(deps: ApiDeps) {
  return resourceRoutes(deps, {
    entity: 'TASK',
    path: 'tasks',
    noun: 'task',
    schema: Task,
    toApi: toApiTask,
    filters: { story_id: Uuid.optional(), sprint_id: Uuid.optional() },
    create: {
      body: NewTask,
      async run(trx, body: z.infer<typeof NewTask>, caller: Caller) {
        // A task joins its story's sprint (tasks carry the sprint id of their story). createUnder
        // checks that the caller may see the story before anything is written or answered.
        const story = await trx.selectFrom('stories').select('sprint_id').where('id', '=', body.story_id).executeTakeFirst();
        return createUnder(trx, caller, { entity: 'STORY', id: body.story_id }, 'TASK', { ...editable(body), sprint_id: story?.sprint_id ?? null });
      },
    },
    update: { body: TaskUpdate, run: (trx, row, body) => updateColumns(trx, 'TASK', row.id, editable(body)) },
  });
}

export function sprintRoutes(deps: ApiDeps) {
  return resourceRoutes(deps, {
    entity: 'SPRINT',
    path: 'sprints',
    noun: 'sprint',
    schema: Sprint,
    toApi: toApiSprint,
    filters: { product_id: Uuid.optional() },
    create: {
      body: NewSprint,
      async run(trx, body: z.infer<typeof NewSprint>, caller: Caller) {
        return createUnder(trx, caller, { entity: 'PRODUCT', id: body.product_id }, 'SPRINT', editable(body));
      },
    },
    update: { body: SprintUpdate, run: (trx, row, body) => updateColumns(trx, 'SPRINT', row.id, editable(body)) },
  });
}

export function stepRoutes(deps: ApiDeps) {
  return resourceRoutes(deps, {
    entity: 'STEP',
    path: 'steps',
    noun: 'step',
    schema: Step,
    toApi: toApiStep,
    filters: { sprint_run_id: Uuid.optional() },
  });
}
