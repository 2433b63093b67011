/**
 * A live worker's mirrors are bounded too: a mirror of a repository no job has used for longer
 * than WORKSPACE_CACHE_MAX_AGE_DAYS is deleted (a later job on it fetches it again). Cheap enough
 * to do from an open: the last-used markers of one slot's mirrors, read at most once per interval.
 * A mirror a workspace uses (being opened, open, or kept with work not yet saved: its worktree's
 * objects are in the mirror) is never deleted.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { coerceError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import { mirrorLastUsed } from './mirror.js';
import { entriesOf, mirrorsDir } from './slot.js';

export interface MirrorCache {
  /** A workspace starts using the mirror (counted: one mirror serves many workspaces). */
  use(mirror: string): void;
  /** A workspace of the mirror is gone (not a kept one: it keeps using the mirror). */
  release(mirror: string): void;
  /** Deletes the slot's mirrors unused for longer than the age and used by no workspace; at most once per interval. */
  prune(slot: string): Promise<void>;
}

export interface MirrorCacheOptions {
  maxAgeDays: number;
  intervalMs: number;
  /** The mirror lock: a mirror is deleted only while no open fetches it or adds a worktree to it. */
  lock: KeyedLock;
  logger: Logger;
}

export function createMirrorCache(options: MirrorCacheOptions): MirrorCache {
  const users = new Map<string, number>();
  let prunedAt = Number.NEGATIVE_INFINITY;
  const maxAgeMs = options.maxAgeDays * 24 * 60 * 60 * 1000;
  const stale = async (mirror: string) => !users.has(mirror) && Date.now() - (await mirrorLastUsed(mirror)).getTime() > maxAgeMs;

  return {
    use(mirror) {
      users.set(mirror, (users.get(mirror) ?? 0) + 1);
    },
    release(mirror) {
      const left = (users.get(mirror) ?? 0) - 1;
      if (left > 0) users.set(mirror, left);
      else users.delete(mirror);
    },
    async prune(slot) {
      if (Date.now() - prunedAt < options.intervalMs) return;
      prunedAt = Date.now();
      for (const name of await entriesOf(mirrorsDir(slot))) {
        const mirror = path.join(mirrorsDir(slot), name);
        try {
          if (!(await stale(mirror))) continue;
          await options.lock.run(mirror, async () => {
            // An open may have taken it up while we waited for the lock.
            if (!(await stale(mirror))) return;
            await rm(mirror, { recursive: true, force: true });
            options.logger.info(
              { mirror, max_age_days: options.maxAgeDays },
              'deleted a mirror unused for longer than WORKSPACE_CACHE_MAX_AGE_DAYS',
            );
          });
        } catch (thrown) {
          // Pruning never fails an open; the next look tries again.
          options.logger.warn({ err: coerceError(thrown), mirror }, 'could not prune a mirror');
        }
      }
    },
  };
}
