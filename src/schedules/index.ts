/**
 * Schedules (SPEC "Fair shares and schedules"): recurring enqueues whose rows in Postgres are the
 * truth and whose BullMQ job schedulers are the clock; the sweeper installs them again when Redis
 * lost them, and every sweeper process fires them through the ordinary enqueue path.
 */
export { type FiringDeps, type FiringResult, fireSchedule } from './fire-schedule.js';
export { type Reinstalled, reinstallSchedules } from './reinstall-schedules.js';
export { firedForOf, type ScheduleFirings, startScheduleFirings } from './schedule-firings.js';
export { getVisibleSchedule, listSchedules } from './schedule.repository.js';
export {
  changeSchedule,
  checkedNewSchedule,
  createSchedule,
  deleteSchedule,
  type NewScheduleInput,
  type ScheduleCaller,
  type ScheduleChanges,
  type ScheduleDeps,
} from './schedule.service.js';
export { SCHEDULE_SUBJECT_OF_KIND, type ScheduleSubjectColumn } from './schedule-subject.js';
export { MAX_EVERY_MS, MIN_EVERY_MS, nextFireAt } from './schedule-timing.js';
