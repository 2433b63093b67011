/**
 * What a workspace adds to an implementation job (SPEC "Workspaces"), on a repository on this
 * machine: the open (fetch into the worker's mirror, a worktree on the job's branch), the publish
 * of a one-file change (commit, push, the record's numstat) and the remove. Agents take minutes;
 * this says whether the workspace's share of that is noise. One JSON line:
 *
 *   npm run bench:workspaces -- [--jobs 20] [--files 300]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { openWorkspaces } from '../src/workspaces/index.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '20' }, files: { type: 'string', default: '300' } } });
const jobs = Number(values.jobs);
const files = Number(values.files);

const root = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-bench-workspaces-'));
try {
  const origin = seedRepository(root, files);
  const workspaces = await openWorkspaces({
    root: path.join(root, 'workspaces'),
    gitAuthor: { name: 'jobfleet', email: 'jobfleet@localhost' },
    gitTimeoutMs: 60_000,
    cacheMaxAgeDays: 14,
    logger: pino({ level: 'silent' }),
  });
  const spent = { open: [] as number[], publish: [] as number[], remove: [] as number[] };
  // One more than measured: the first open clones the mirror, which a worker does once per repository.
  for (let job = 0; job <= jobs; job += 1) {
    const started = performance.now();
    const workspace = await workspaces.open({
      jobId: `bench-${job}`,
      claimEpoch: 1,
      repository: { url: origin, defaultBranch: 'main' },
      branch: `jobfleet/task-bench-${job}`,
    });
    const opened = performance.now();
    writeFileSync(path.join(workspace.dir, 'NOTES.md'), `job ${job}\n`);
    await workspace.publish();
    const published = performance.now();
    await workspace.remove();
    const removed = performance.now();
    if (job === 0) continue;
    spent.open.push(opened - started);
    spent.publish.push(published - opened);
    spent.remove.push(removed - published);
  }
  await workspaces.close();
  const mean = (samples: number[]) => Math.round((samples.reduce((sum, ms) => sum + ms, 0) / samples.length) * 10) / 10;
  console.log(
    JSON.stringify({
      jobs,
      files,
      open_ms: mean(spent.open),
      publish_ms: mean(spent.publish),
      remove_ms: mean(spent.remove),
      total_ms: mean(spent.open.map((ms, i) => ms + spent.publish[i]! + spent.remove[i]!)),
    }),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}

/** A bare repository with `count` small files on main, as a product's repository would be. */
function seedRepository(dir: string, count: number): string {
  const origin = path.join(dir, 'origin.git');
  const seed = path.join(dir, 'seed');
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', origin]);
  execFileSync('git', ['init', '--quiet', '--initial-branch=main', seed]);
  for (let file = 0; file < count; file += 1) {
    const folder = path.join(seed, `src${file % 10}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, `module${file}.ts`), `export const value${file} = ${file};\n`.repeat(20));
  }
  const git = (...args: string[]) => execFileSync('git', ['-C', seed, '-c', 'user.name=seed', '-c', 'user.email=seed@localhost', ...args]);
  git('add', '-A');
  git('commit', '--quiet', '-m', 'seed');
  git('push', '--quiet', origin, 'HEAD:main');
  return origin;
}
