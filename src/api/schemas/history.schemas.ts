import { z } from '@hono/zod-openapi';
import type { TransitionRow } from '../../db/tables/transition.table.js';
import { MACHINES } from '../../machines/index.js';
import { entityType, STATUS_SPELLING } from '../../spelling/api-spelling.js';

export const HistoryEntry = z
  .object({
    id: z.string(),
    entity_type: z.string(),
    entity_id: z.uuid(),
    from: z.string().nullable(),
    to: z.string(),
    trigger: z.string(),
    actor_token_id: z.uuid().nullable(),
    reason: z.string().nullable(),
    artifacts: z.unknown(),
    at: z.string(),
  })
  .openapi('HistoryEntry');

export const History = z.object({ items: z.array(HistoryEntry) }).openapi('History');

export function toApiHistory(row: TransitionRow): z.infer<typeof HistoryEntry> {
  const spelling = STATUS_SPELLING[row.entity_type] as { toApi(s: string): string };
  const machine = MACHINES[row.entity_type] as { isStatus(s: string): boolean };
  const spell = (status: string | null) => (status === null ? null : machine.isStatus(status) ? spelling.toApi(status) : status);
  return {
    id: row.id,
    entity_type: entityType.toApi(row.entity_type),
    entity_id: row.entity_id,
    from: spell(row.from_status),
    to: spell(row.to_status)!,
    trigger: row.trigger,
    actor_token_id: row.actor_token_id,
    reason: row.reason,
    artifacts: row.artifacts,
    at: row.created_at.toISOString(),
  };
}
