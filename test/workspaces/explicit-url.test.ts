/**
 * jobfleet fetches from and pushes to the product's URL itself, never through the mirror's
 * `origin` section: agents of other workspaces of the mirror share its config and can rewrite
 * that section (url, pushurl) between jobfleet's config rewrite and its fetch or push.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeyedLock } from '../../src/util/keyed-lock.js';
import { createMirror, fetchMirror, initConfig, writeMirrorConfig } from '../../src/workspaces/mirror.js';
import { type WorkspaceContext, type WorkspaceMetadata, workspaceOf } from '../../src/workspaces/workspace.js';
import { branchesOf, gitIn, makeBareRepo, removeTempDirs, showFiles, tempDir, tipOf, writeFiles } from '../helpers/git-repos.js';
import { AUTHOR, openOne } from '../helpers/workspace-options.js';

afterAll(removeTempDirs);

const TIMEOUT_MS = 30_000;

/** What a parallel agent does to the shared config: every fetch and push of `origin` goes to `decoy`. */
function hijackOrigin(mirror: string, decoy: string): void {
  gitIn(mirror, 'config', 'remote.origin.url', decoy);
  gitIn(mirror, 'config', 'remote.origin.pushurl', decoy);
}

describe('fetches and pushes name the URL', () => {
  it('publish and salvage push to the product repository when the origin section is rewritten right after jobfleet rewrote it', async () => {
    const repo = makeBareRepo();
    const decoy = makeBareRepo({ files: { 'decoy.txt': 'not the product\n' } });
    const { ws, done, options } = await openOne(repo.dir, 'job-url', 2);
    const file = `${ws.dir}.json`;
    const metadata = JSON.parse(readFileSync(file, 'utf8')) as WorkspaceMetadata;
    const init = await initConfig(options.root, TIMEOUT_MS);
    // The same workspace, its config rewrite followed at once by the agent's.
    const context: WorkspaceContext = {
      root: options.root,
      gitAuthor: AUTHOR,
      gitTimeoutMs: TIMEOUT_MS,
      logger: options.logger,
      mirrorLock: createKeyedLock(),
      async resetMirrorConfig(mirror, url) {
        await writeMirrorConfig(mirror, { init, url, author: AUTHOR });
        hijackOrigin(mirror, decoy.dir);
      },
    };
    const raced = workspaceOf(metadata, file, context);

    writeFiles(ws.dir, { 'work.txt': 'published\n' });
    expect(await raced.publish()).toMatchObject({ pushed: true, changed_files: ['work.txt'] });
    writeFiles(ws.dir, { 'more.txt': 'salvaged\n' });
    expect(await raced.salvage('cancelled')).toMatchObject({ complete: true, record: { pushed: true } });

    expect(branchesOf(repo.dir)).toEqual(['jobfleet/salvage/job-url-2', 'jobfleet/task-job-url', 'main']);
    expect(showFiles(repo.dir, 'jobfleet/task-job-url')['work.txt']).toBe('published\n');
    expect(showFiles(repo.dir, 'jobfleet/salvage/job-url-2')['more.txt']).toBe('salvaged\n');
    expect(branchesOf(decoy.dir)).toEqual(['main']);
    await done();
  });

  it('the fetch reads the product repository when the origin section names another', async () => {
    const repo = makeBareRepo();
    const decoy = makeBareRepo({ files: { 'decoy.txt': 'not the product\n' } });
    const mirror = path.join(tempDir('jobfleet-mirror-'), 'm.git');
    await createMirror(mirror, TIMEOUT_MS);
    await writeMirrorConfig(mirror, { init: await initConfig(path.dirname(mirror), TIMEOUT_MS), url: repo.dir, author: AUTHOR });
    hijackOrigin(mirror, decoy.dir);

    await fetchMirror(mirror, repo.dir, TIMEOUT_MS);

    expect(tipOf(mirror, 'refs/remotes/origin/main')).toBe(tipOf(repo.dir, 'main'));
    expect(tipOf(repo.dir, 'main')).not.toBe(tipOf(decoy.dir, 'main'));
  });
});
