/**
 * The database layer stands on node-postgres's and Kysely's documented APIs only: no subclass of
 * pg's Client or Pool, none of their private fields, no statement chosen by a comment in its SQL.
 * A pg upgrade may change its internals at will; code that leaned on them broke in ways no type
 * checker sees (a client subclass once took processes down when Postgres restarted).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Source without its comment lines, so prose may name what the code must not do. */
function code(file: string): string {
  return readFileSync(file, 'utf8').replace(/^\s*(?:\/\/|\/\*|\*).*$/gm, '');
}

const FORBIDDEN: Array<[string, RegExp]> = [
  ['a subclass of pg.Client or pg.Pool', /\bextends\s+(?:pg\.)?(?:Client|Pool)\b/],
  ["pg's connection stream", /\.connection\s*\.\s*stream\b|\.(?:cork|uncork)\s*\(/],
  ["pg's pipeline mode", /\bpipeline\s*:/],
  [
    'a private field of pg',
    /\.(?:_queryable|_ending|_ended|_connecting|_connected|_activeQuery|activeQuery|_queryQueue|queryQueue|_poolUseCount|_clients|_idle)\b/,
  ],
  ['a statement marked by a comment in its SQL', /\/\*\s*(?:prepared|deferred)\s*\*\//],
];

describe('the database layer', () => {
  it('the checks find what they look for', () => {
    const samples = [
      'class C extends pg.Client {}',
      'this.connection.stream.cork()',
      'new pg.Pool({ pipeline: true })',
      'if (!client._queryable) return',
      "sql`${sql.raw('/* deferred */ ')}`",
    ];
    expect(samples.map((sample) => FORBIDDEN.filter(([, pattern]) => pattern.test(sample)).length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('uses only documented APIs of node-postgres: no client subclass, no private fields, no comment markers', () => {
    const found = sourceFiles(SRC).flatMap((file) => {
      const text = code(file);
      return FORBIDDEN.filter(([, pattern]) => pattern.test(text)).map(([what]) => `${path.relative(SRC, file)}: ${what}`);
    });
    expect(found).toEqual([]);
  });
});
