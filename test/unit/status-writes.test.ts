/**
 * "No code outside the transition door writes a status column." The query builder cannot
 * (test/types/status-is-readonly.ts); this test reads every raw SQL template in src/ and fails
 * on one that updates or inserts a status column (or is a `status = ...` fragment) anywhere but the door's two files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.join(import.meta.dirname, '..', '..', 'src');
const DOOR = ['transitions/transition.ts', 'transitions/create-entities.ts'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Raw SQL statements that write a column named status. */
export function statusWrites(source: string): string[] {
  const templates = [...source.matchAll(/sql(?:<[^`]*?>)?`([^`]*)`/g)].map((match) => match[1]!);
  return templates.filter((text) => {
    // A SET-clause fragment built apart from its UPDATE (as the door builds its assignments);
    // `status = 'LITERAL'` alone is a comparison (an ORDER BY or WHERE fragment), not a write.
    if (/^\s*(SET\s+)?status\s*=(?!\s*')/i.test(text)) return true;
    const update = /\bUPDATE\b[\s\S]*?\bSET\b([\s\S]*?)(?:\bWHERE\b|\bFROM\b|\bRETURNING\b|$)/i.exec(text);
    if (update && /(^|[\s,(])status\s*=/i.test(update[1]!)) return true;
    const insert = /\bINSERT\s+INTO\s+\S+\s*\(([^)]*)\)/i.exec(text);
    return Boolean(insert && /(^|[\s,])status([\s,]|$)/i.test(insert[1]!));
  });
}

describe('status columns', () => {
  it('the scanner catches raw status writes and lets reads through', () => {
    expect(statusWrites('sql`UPDATE tasks SET title = $1, status = $2 WHERE id = $3`')).toHaveLength(1);
    expect(statusWrites('sql`INSERT INTO ideas (title, status) VALUES ($1, $2)`')).toHaveLength(1);
    expect(statusWrites('sql`status = req.to_status`')).toHaveLength(1);
    expect(statusWrites("sql`status = 'IN_PROGRESS'`")).toHaveLength(0);
    expect(statusWrites("sql`SELECT * FROM claude_jobs WHERE status = 'QUEUED'`")).toHaveLength(0);
    expect(statusWrites("sql`UPDATE claude_jobs SET lease_expires_at = now() WHERE status = 'RUNNING'`")).toHaveLength(0);
  });

  it('are written only by the transition door', () => {
    const offenders = sourceFiles(SRC)
      .filter((file) => !DOOR.includes(path.relative(SRC, file).split(path.sep).join('/')))
      .flatMap((file) => statusWrites(readFileSync(file, 'utf8')).map((statement) => `${path.relative(SRC, file)}: ${statement.trim()}`));
    expect(offenders).toEqual([]);
  });

  it('the door does write them (the scan would notice if it moved)', () => {
    const door = readFileSync(path.join(SRC, DOOR[0]!), 'utf8');
    expect(statusWrites(door).length).toBeGreaterThan(0);
  });
});
