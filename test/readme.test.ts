/**
 * The README is the front door: its configuration table must match what the code reads, and its
 * first steps must work when pasted in order into a terminal next to a fresh `npm start`.
 *
 * Which blocks run: every ```sh block that directly follows a line `<!-- readme-test: run -->`,
 * in document order. They run in one bash (`set -euo pipefail`, so a block stops at its first
 * failing command) from the checkout's root, so their variables carry from block to block as in a
 * user's terminal, against a fleet started as `jobfleet start` with its own database, BullMQ
 * prefix and port, and the environment the README has the user set (ADMIN_TOKEN for the fleet;
 * DATABASE_URL, REDIS_URL, BULLMQ_PREFIX and PORT naming this fleet). Blocks that are not marked,
 * the server itself or a stream that runs until Ctrl-C, are not run. Every `curl` of the blocks is
 * checked first: an id that came out of an error answer (`null`, or empty) fails the block.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, loadConfig } from '../src/config.js';
import { killAll, spawnJobfleet } from './helpers/processes.js';
import { createTestEnv, type TestEnv } from './helpers/test-env.js';

const ROOT = path.join(import.meta.dirname, '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const RUN_MARKER = '<!-- readme-test: run -->';

function configTable(): Map<string, string> {
  const section = README.slice(README.indexOf('## Configuration'));
  const rows = [...section.matchAll(/^\| `([A-Z_0-9]+)` \| ([^|]+) \|/gm)];
  return new Map(rows.map((row) => [row[1]!, row[2]!.trim()]));
}

interface RunBlock {
  /** The `##` heading the block stands under. */
  section: string;
  code: string;
}

function runBlocks(): RunBlock[] {
  const blocks: RunBlock[] = [];
  let section = '';
  const lines = README.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    if (lines[i]!.startsWith('## ')) section = lines[i]!.slice(3);
    if (lines[i]!.trim() !== RUN_MARKER) continue;
    expect(lines[i + 1], `the line after the marker at README line ${i + 1}`).toBe('```sh');
    const end = lines.indexOf('```', i + 2);
    blocks.push({ section, code: lines.slice(i + 2, end).join('\n') });
  }
  return blocks;
}

// Fails a block that passes an id it never got: `/ideas/null/grill`, `"idea_id":""`.
const CURL_GUARD = `curl() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      *api/v1/*/null|*api/v1/*/null/*|*api/v1/*//*|*=null*|*'"null"'*|*'""'*)
        echo "readme-test: curl given a missing id: $arg" >&2
        return 97 ;;
    esac
  done
  command curl "$@"
}`;

describe('README', () => {
  it('lists every configuration variable, and only those', () => {
    expect([...configTable().keys()].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('states the defaults the code uses', () => {
    const defaults = loadConfig({});
    for (const [name, documented] of configTable()) {
      const actual = (defaults as Record<string, unknown>)[name];
      if (typeof actual === 'number' || (typeof actual === 'string' && documented.startsWith('`'))) {
        // `~` stands for the home directory, as a reader's shell would expand it.
        expect(documented.replace('`~/', `\`${os.homedir()}/`), name).toBe(`\`${actual}\``);
      }
    }
  });

  it('names the two commands that run and test the fleet', () => {
    expect(README).toContain('npm install && ADMIN_TOKEN=change-me-to-a-long-secret npm start');
    expect(README).toContain('npm test');
  });

  it('marks the first steps to be run: the token, a job, the idea flow, sprint runs, schedules, fair shares', () => {
    const sections = runBlocks().map((block) => block.section);
    const expected = [
      'Run it',
      'A job from curl to done',
      'The idea flow: draft → grill → plan → materialize',
      'Sprint runs: a sprint implemented by agents',
      'Schedules',
      'Implementation jobs in a repository',
      'Fair shares',
    ];
    expect(new Set(sections)).toEqual(new Set(expected));
  });
});

describe("the README's first steps, pasted in order", () => {
  let env: TestEnv;
  let port: string;
  const ADMIN_TOKEN = 'readme-admin-token-0123456789';

  beforeAll(async () => {
    env = await createTestEnv();
    const fleet = spawnJobfleet(['start'], {
      DATABASE_URL: env.env.DATABASE_URL!,
      REDIS_URL: env.redisUrl,
      BULLMQ_PREFIX: env.prefix,
      WORKSPACE_ROOT: env.env.WORKSPACE_ROOT!,
      PORT: '0',
      LOG_LEVEL: 'warn',
      ADMIN_TOKEN,
    });
    port = new URL((await fleet.line(/API:\s+(http:\/\/\S+)\/api\/v1/))[1]!).port;
  });
  afterAll(async () => {
    await killAll();
    await env?.teardown();
  });

  it('run, every block exiting 0 and never using an id it did not get', { timeout: 300_000 }, async () => {
    const blocks = runBlocks();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-readme-'));
    try {
      const driver = ['set -euo pipefail', CURL_GUARD];
      blocks.forEach((block, i) => {
        const file = path.join(dir, `block-${i}.sh`);
        writeFileSync(file, `${block.code}\n`);
        driver.push(`echo "readme-test: block ${i} (${block.section})"`, `source ${JSON.stringify(file)}`);
        driver.push(`echo "readme-test: block ${i} ok"`);
      });
      writeFileSync(path.join(dir, 'driver.sh'), `${driver.join('\n')}\n`);
      const { code, output } = await runBash(path.join(dir, 'driver.sh'), {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        DATABASE_URL: env.env.DATABASE_URL!,
        REDIS_URL: env.redisUrl,
        BULLMQ_PREFIX: env.prefix,
        PORT: port,
        ADMIN_TOKEN,
      });
      expect(code, output).toBe(0);
      blocks.forEach((_, i) => expect(output).toContain(`readme-test: block ${i} ok`));
      expect(output).not.toContain('readme-test: curl given a missing id');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function runBash(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 280_000 });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('close', (code) => resolve({ code, output }));
  });
}
