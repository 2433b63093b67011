/**
 * Schedule firings older than JOB_RETENTION_DAYS: a firing's row only has to outlive a second
 * delivery of the same firing (minutes), and the firings of a busy schedule grow without end.
 * Read by their primary key (schedule_id, fired_for), the oldest first per schedule: a sweep
 * costs a probe per schedule, as the sweep's reinstall of schedules already does.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.js';

export async function ageOutScheduleFirings(db: Db, days: number, batch: number): Promise<number> {
  const result = await sql`
    DELETE FROM schedule_firings AS f
    USING (
      SELECT old.schedule_id, old.fired_for FROM schedules AS s
      CROSS JOIN LATERAL (
        SELECT o.schedule_id, o.fired_for FROM schedule_firings AS o
        WHERE o.schedule_id = s.id AND o.fired_for < now() - ${days} * interval '1 day'
        ORDER BY o.fired_for LIMIT ${batch}
      ) AS old
      LIMIT ${batch}
    ) AS doomed
    WHERE f.schedule_id = doomed.schedule_id AND f.fired_for = doomed.fired_for
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
