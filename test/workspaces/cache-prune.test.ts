/**
 * A live worker's cache is bounded too: an open deletes this worker's mirrors unused for longer
 * than WORKSPACE_CACHE_MAX_AGE_DAYS, except those a workspace uses, looking at most once per interval.
 */
import { existsSync, readdirSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mirrorName } from '../../src/workspaces/mirror.js';
import { openWorkspaces, type WorkspacesOptions } from '../../src/workspaces/index.js';
import { type BareRepo, gitIn, makeBareRepo, removeTempDirs, writeFiles } from '../helpers/git-repos.js';
import { workspaceOptions } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

async function worker(overrides: Partial<WorkspacesOptions>) {
  const options = workspaceOptions({ cacheMaxAgeDays: 1, ...overrides });
  const workspaces = await openWorkspaces(options);
  const open = (repo: BareRepo, jobId: string) =>
    workspaces.open({ jobId, claimEpoch: 1, repository: { url: repo.dir, defaultBranch: 'main' }, branch: `jobfleet/task-${jobId}` });
  /** The mirror of `repo` in this worker's one slot. */
  const mirrorOf = (repo: BareRepo) => {
    const [slot] = readdirSync(path.join(options.root, 'slots'));
    return path.join(options.root, 'slots', slot!, 'mirrors', mirrorName(repo.dir));
  };
  return { options, workspaces, open, mirrorOf };
}

/** The mirror was last used `days` ago. */
function lastUsed(mirror: string, days: number): void {
  const when = new Date(Date.now() - days * 24 * 60 * 60 * 1000);
  utimesSync(path.join(mirror, 'jobfleet-last-used'), when, when);
}

describe('pruning the cache of a live worker', () => {
  it('an open deletes a mirror unused for longer than the cache age, not one an open workspace uses', async () => {
    const [unused, busy, next] = [makeBareRepo(), makeBareRepo(), makeBareRepo()];
    const { options, workspaces, open, mirrorOf } = await worker({ cachePruneIntervalMs: 0 });
    await (await open(unused, 'unused')).remove();
    const stillOpen = await open(busy, 'busy');
    lastUsed(mirrorOf(unused), 3);
    lastUsed(mirrorOf(busy), 3);

    const ws = await open(next, 'next');

    expect(existsSync(mirrorOf(unused))).toBe(false);
    expect(existsSync(mirrorOf(busy))).toBe(true);
    expect(existsSync(mirrorOf(next))).toBe(true);
    expect(options.lines.filter((line) => line.includes('deleted a mirror unused'))).toHaveLength(1);
    // The deleted mirror is made again when its repository is next used.
    await (await open(unused, 'again')).remove();
    expect(existsSync(mirrorOf(unused))).toBe(true);
    await Promise.all([ws.remove(), stillOpen.remove()]);
    await workspaces.close();
  });

  it('never deletes the mirror of a workspace kept with work not yet saved', async () => {
    const [kept, next] = [makeBareRepo(), makeBareRepo()];
    const { workspaces, open, mirrorOf } = await worker({ cachePruneIntervalMs: 0 });
    const ws = await open(kept, 'kept');
    writeFiles(ws.dir, { 'scaffold/app.txt': 'only here\n' });
    gitIn(ws.dir, 'init', '-q', 'scaffold');
    expect((await ws.salvage('cancelled')).complete).toBe(false);
    await ws.remove();
    lastUsed(mirrorOf(kept), 3);

    await (await open(next, 'next')).remove();

    expect(existsSync(mirrorOf(kept))).toBe(true);
    expect(gitIn(ws.dir, 'status', '--porcelain')).toBe('?? scaffold/');
    await workspaces.close();
  });

  it('looks at most once per interval (an hour by default)', async () => {
    const [first, second] = [makeBareRepo(), makeBareRepo()];
    const { workspaces, open, mirrorOf } = await worker({});
    await (await open(first, 'first')).remove();
    lastUsed(mirrorOf(first), 3);
    await (await open(second, 'second')).remove();
    expect(existsSync(mirrorOf(first))).toBe(true);
    await workspaces.close();
  });
});
