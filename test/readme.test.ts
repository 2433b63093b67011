/** The README is the front door: its configuration table must match what the code reads. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.js';

const README = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');

function configTable(): Map<string, string> {
  const section = README.slice(README.indexOf('## Configuration'));
  const rows = [...section.matchAll(/^\| `([A-Z_0-9]+)` \| ([^|]+) \|/gm)];
  return new Map(rows.map((row) => [row[1]!, row[2]!.trim()]));
}

describe('README', () => {
  it('lists every configuration variable, and only those', () => {
    expect([...configTable().keys()].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('states the defaults the code uses', () => {
    const defaults = loadConfig({});
    for (const [name, documented] of configTable()) {
      const actual = (defaults as Record<string, unknown>)[name];
      if (typeof actual === 'number' || (typeof actual === 'string' && documented.startsWith('`'))) {
        expect(documented, name).toBe(`\`${actual}\``);
      }
    }
  });

  it('names the two commands that run and test the fleet', () => {
    expect(README).toContain('npm install && ADMIN_TOKEN=change-me-to-a-long-secret npm start');
    expect(README).toContain('npm test');
  });
});
