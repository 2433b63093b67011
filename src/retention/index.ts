/**
 * Retention of job traffic (README "Retention"): the sweeper's step that ages out finished jobs,
 * their history and job-event logs, schedule firings, expired idempotency keys and stopped workers,
 * a bounded batch per sweep.
 */
export { type AgeOutDeps, ageOut } from './age-out.js';
export { purgeExpiredKeys } from './expired-keys.js';
export {
  type AgeOutReport,
  emptyAgeOutReport,
  MIN_RETENTION_DAYS,
  RETENTION_BATCH,
  type RetentionPolicy,
  retentionPolicyOf,
} from './retention-policy.js';
