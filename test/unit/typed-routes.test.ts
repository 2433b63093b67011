/**
 * The HTTP layer keeps Hono's types: path, query and body types infer from each route's schemas,
 * and answers are checked against its response schemas. A cast to `never` switches that check
 * off, so none is allowed in src/api.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const API = path.join(import.meta.dirname, '..', '..', 'src', 'api');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('typed routes', () => {
  it('src/api casts nothing to never', () => {
    const casts = sourceFiles(API).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, index) => (/\bas\s+never\b/.test(line) ? [`${path.relative(API, file)}:${index + 1}: ${line.trim()}`] : [])),
    );
    expect(casts).toEqual([]);
  });
});
