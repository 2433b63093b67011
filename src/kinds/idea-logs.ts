/**
 * Appending to ideas' logs. The chat kinds write a log row with every enqueue and every finish,
 * so the insert is one statement that takes the rows as one JSON document: its text is the same
 * for one row or a thousand, where a list of values cost a parameter per field and a new statement
 * text for every batch size.
 */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import { jsonDocument } from '../db/json-document.js';
import type { IdeaLogType } from '../db/tables/idea.table.js';

export interface IdeaLogEntry {
  ideaId: string;
  type: IdeaLogType;
  content: string;
  jobId: string | null;
  /** Stored as jsonb. */
  data?: unknown;
}

/** Inserts the entries in order (their created_at follows it). */
export async function appendIdeaLogs(db: Executor, entries: readonly IdeaLogEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = jsonDocument(
    entries.map((e) => ({ idea_id: e.ideaId, type: e.type, content: e.content, job_id: e.jobId, data: e.data ?? null })),
  );
  await sql`
    INSERT INTO idea_logs (idea_id, type, content, job_id, data)
    SELECT e.idea_id, e.type, e.content, e.job_id, e.data
    FROM ROWS FROM (jsonb_to_recordset(${rows}::jsonb) AS (idea_id uuid, type text, content text, job_id uuid, data jsonb)) WITH ORDINALITY AS e
    ORDER BY e.ordinality
  `.execute(db);
}
