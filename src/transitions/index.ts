export { createEntities, createEntity, type Created } from './create-entities.js';
export { listHistory } from './history.repository.js';
export {
  type Applied,
  explainRefusal,
  transition,
  transitionMany,
  type BatchOptions,
  type BatchOutcome,
  type TransitionRequest,
} from './transition.js';
export type { AppliedHop, AppliedTransition, TransitionContext } from './transition-types.js';
export { type Cascade, type Door, inherited } from './cascades/cascade.js';
export { installCascades, type InstalledCascades } from './cascades/index.js';
