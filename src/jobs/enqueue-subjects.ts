/**
 * The subjects of an enqueue, locked, with their product, owner and (for callers' enqueues) the
 * owner's budget day: one statement per kind of subject instead of a lock, an ownership read and
 * a budget read. Each statement is a round trip that costs the API and Postgres more than the rows
 * it reads, and a coalesced single enqueue pays them once per batch of about twenty jobs.
 *
 * Enqueues for one subject take turns: each locks its subjects first, in one global order
 * (subject table, then id), before anything else touches them. Without it two requests for one
 * idea both took the foreign key's share lock on insert and then both waited to upgrade it in
 * the idea's FOR UPDATE (a deadlock); and two requests for one task each superseded only what
 * was committed before them, leaving two live jobs. Waiting here, the later request sees the
 * earlier one's job and supersedes it. `FOR UPDATE OF x` locks the subject row only, in the
 * order of the sort below it, as a lock of the subject table alone did; the products, budgets and
 * spend joined to it are read, not locked, as the separate reads did. Subjects that do not exist
 * lock nothing and are refused (not_found) once every kind of subject is locked, and only then is
 * a spent owner refused, as before.
 */
import { sql } from 'kysely';
import { nounOf, ownershipChain } from '../backlog/ownership.js';
import { type BudgetDay, type DayRow, dayOf, refuseSpent } from '../budgets/owner-budgets.js';
import type { Trx } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import type { JobKind } from '../job-kinds.js';
import { KINDS } from '../queues/kinds.js';
import { groupBy } from '../util/group-by.js';

export interface SubjectOwner {
  productId: string;
  ownerId: string;
}

const SUBJECT_ENTITY = { idea_id: 'IDEA', task_id: 'TASK', sprint_run_id: 'SPRINT_RUN' } as const;

/**
 * Locks the requests' subjects and answers each one's product and owner. A subject that does not
 * exist, or belongs to another owner than `ownerId` (when not null), is not_found, naming it;
 * with `budgetDay`, a subject whose owner has spent that day's budget is budget_exhausted.
 */
export async function lockSubjectOwners(
  trx: Trx,
  requests: readonly { kind: JobKind; subjectId: string }[],
  ownerId: string | null,
  budgetDay: BudgetDay | undefined,
): Promise<Map<string, SubjectOwner>> {
  const bySubject = groupBy(requests, (request) => KINDS[request.kind].subject);
  const found = new Map<string, SubjectOwner & Partial<DayRow>>();
  for (const subject of [...bySubject.keys()].sort()) {
    const ids = [...new Set(bySubject.get(subject)!.map((request) => request.subjectId))].sort();
    // Aliases of their own: the ownership chains already use short ones (s, b, r).
    const budget = budgetDay ? sql`, own_budget.owner_id AS has_own, own_budget.daily_usd, day_spend.cost_usd` : sql``;
    const budgetJoins = budgetDay
      ? sql`LEFT JOIN owner_budgets own_budget ON own_budget.owner_id = p.owner_id LEFT JOIN owner_daily_spend day_spend ON day_spend.owner_id = p.owner_id AND day_spend.day = ${budgetDay.day}::date`
      : sql``;
    const { rows } = await sql<{ id: string; product_id: string; owner_id: string } & Partial<DayRow>>`
      SELECT x.id, p.id AS product_id, p.owner_id ${budget}
      FROM ${sql.raw(ownershipChain(SUBJECT_ENTITY[subject]))} ${budgetJoins}
      WHERE x.id = ANY(${ids}::uuid[])
      ORDER BY x.id
      FOR UPDATE OF x
    `.execute(trx);
    for (const row of rows) found.set(`${subject}:${row.id}`, { ...row, productId: row.product_id, ownerId: row.owner_id });
  }

  const owners = new Map<string, SubjectOwner & Partial<DayRow>>();
  for (const [subject, group] of bySubject) {
    for (const request of group) {
      const ownership = found.get(`${subject}:${request.subjectId}`);
      if (!ownership || (ownerId !== null && ownership.ownerId !== ownerId)) {
        throw new AppError('not_found', `${nounOf(SUBJECT_ENTITY[subject])} ${request.subjectId} does not exist`, {
          [subject]: request.subjectId,
        });
      }
      owners.set(request.subjectId, ownership);
    }
  }
  if (budgetDay) {
    const days = new Map([...owners.values()].map((row) => [row.productId, row]));
    refuseSpent(
      [...days.values()].map((row) =>
        dayOf(
          { owner_id: row.ownerId, has_own: row.has_own ?? null, daily_usd: row.daily_usd ?? null, cost_usd: row.cost_usd ?? null },
          budgetDay,
        ),
      ),
    );
  }
  return new Map([...owners].map(([id, { productId, ownerId: owner }]) => [id, { productId, ownerId: owner }]));
}
