/**
 * At worker start: the slots of dead workers on this host are salvaged. Agents still running in
 * them are stopped (src/workspaces/stray-agents.ts). Each job worktree's work
 * is committed and pushed to its salvage branch (or bundled), the worktree is removed, the
 * mirrors are adopted (recently used, and not one this worker already has) or deleted, and the
 * slot goes. A slot with work that could not all be saved (git refused to commit part of it, or
 * it could be neither pushed nor bundled) is left as it is for the next start.
 */
import { readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { coerceError } from '../errors/app-error.js';
import { git } from './git.js';
import { mirrorLastUsed } from './mirror.js';
import { entriesOf, jobsDir, listSlots, mirrorsDir, OWNER_FILE, ownerTouchedAt, readOwner } from './slot.js';
import { lockSlot } from './slot-lock.js';
import { stopStrayAgents } from './stray-agents.js';
import { heartbeatStopped, ownerIsGone, unjudgeableOwner } from './slot-owner.js';
import { type WorkspaceContext, type WorkspaceMetadata, workspaceOf } from './workspace.js';

export interface OrphanSweep {
  context: WorkspaceContext;
  cacheMaxAgeDays: number;
  /** OWNER_HEARTBEAT_MS: an owner judged by its heartbeat is dead after MISSED_HEARTBEATS of them. */
  heartbeatMs: number;
  /** This worker's slot, made on first use (only when a mirror is adopted). */
  ownSlot(): Promise<string>;
}

export async function salvageOrphans(sweep: OrphanSweep): Promise<void> {
  const otherNamespaces: string[] = [];
  for (const slot of await listSlots(sweep.context.root)) {
    try {
      if ((await salvageSlot(slot, sweep)) === 'another pid namespace') otherNamespaces.push(slot);
    } catch (thrown) {
      sweep.context.logger.error({ err: coerceError(thrown), slot }, 'could not salvage a dead worker slot');
    }
  }
  if (otherNamespaces.length > 0) {
    // One line per start: these slots stay, and every start would otherwise repeat itself per slot.
    sweep.context.logger.info(
      { slots: otherNamespaces.sort() },
      'left alone: slots of workers in another pid namespace (or of an owner.json without one), whose heartbeat (owner.json touched) is recent',
    );
  }
}

/** Salvages the slot when its owner is dead; says why a slot whose owner cannot be judged was skipped. */
async function salvageSlot(slot: string, sweep: OrphanSweep): Promise<ReturnType<typeof unjudgeableOwner>> {
  const { logger } = sweep.context;
  const owner = await readOwner(slot);
  let heartbeatLost = false;
  if (owner) {
    const unjudgeable = unjudgeableOwner(owner);
    if (unjudgeable === 'another host') return unjudgeable;
    if (unjudgeable) {
      // Its pid tells nothing here; its heartbeat does.
      const touchedAt = await ownerTouchedAt(slot);
      if (touchedAt === null || !heartbeatStopped(touchedAt, sweep.heartbeatMs)) return unjudgeable;
      heartbeatLost = true;
    } else if (!ownerIsGone(owner)) return null;
  }
  // No owner.json: a slot whose salvage was all but finished (owner.json goes last).
  const unlock = await lockSlot(slot);
  if (!unlock) return null;
  try {
    // Another worker may have finished this slot between our look and our lock.
    const stillOwned = await readOwner(slot);
    if (stillOwned) {
      logger.info(
        { slot, owner: stillOwned, ...(heartbeatLost && { owner_touched_at: new Date((await ownerTouchedAt(slot)) ?? 0).toISOString() }) },
        heartbeatLost
          ? 'salvaging the workspaces of a dead worker (another pid namespace, its owner.json untouched for too long)'
          : 'salvaging the workspaces of a dead worker',
      );
      // Its agents outlived it (each leads a process group of its own): stopped first, so the
      // salvage takes work that no longer changes and nothing goes on spending.
      const stopped = await stopStrayAgents(jobsDir(slot));
      if (stopped.length > 0) logger.warn({ slot, groups: stopped }, "stopped a dead worker's agents, still running in its workspaces");
      if (!(await salvageJobs(slot, sweep))) return null;
      await adoptMirrors(slot, sweep);
      await rm(path.join(slot, OWNER_FILE), { force: true });
    }
    await rm(slot, { recursive: true, force: true });
  } finally {
    await unlock();
  }
  return null;
}

/** False when some work is not saved (not committed, or neither pushed nor bundled): the slot then stays. */
async function salvageJobs(slot: string, sweep: OrphanSweep): Promise<boolean> {
  let allSaved = true;
  for (const name of await entriesOf(jobsDir(slot))) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(jobsDir(slot), name);
    const metadata = parseMetadata(await readFile(file, 'utf8').catch(() => ''));
    if (!metadata) {
      sweep.context.logger.warn({ file }, 'unreadable workspace metadata; its worktree is deleted unsalvaged');
      continue;
    }
    const workspace = workspaceOf(metadata, file, sweep.context);
    try {
      const { complete } = await workspace.salvage('worker_lost');
      if (!complete) {
        // Part of the work is only in the worktree: the slot stays, and the next start tries again.
        sweep.context.logger.error(
          { job_id: metadata.job_id, workspace: metadata.dir },
          'its work is not all saved: kept for the next worker start',
        );
        allSaved = false;
        continue;
      }
    } catch (thrown) {
      sweep.context.logger.error(
        { err: coerceError(thrown), job_id: metadata.job_id },
        'could not salvage a dead worker job; kept for the next worker start',
      );
      allSaved = false;
      continue;
    }
    await workspace.remove();
  }
  if (allSaved) await rm(jobsDir(slot), { recursive: true, force: true });
  return allSaved;
}

async function adoptMirrors(slot: string, sweep: OrphanSweep): Promise<void> {
  const maxAgeMs = sweep.cacheMaxAgeDays * 24 * 60 * 60 * 1000;
  for (const name of await entriesOf(mirrorsDir(slot))) {
    const mirror = path.join(mirrorsDir(slot), name);
    const fresh = Date.now() - (await mirrorLastUsed(mirror)).getTime() <= maxAgeMs;
    const target = fresh ? path.join(mirrorsDir(await sweep.ownSlot()), name) : null;
    if (target && !(await entriesOf(path.dirname(target))).includes(name)) {
      await rename(mirror, target);
      // Its worktrees were removed above; forget any the dead worker could not register as gone.
      // (Its config is rewritten before its next fetch.)
      await git(['worktree', 'prune'], { cwd: target, timeoutMs: sweep.context.gitTimeoutMs });
      sweep.context.logger.info({ mirror: target }, 'adopted the mirror of a dead worker');
    } else {
      await rm(mirror, { recursive: true, force: true });
    }
  }
}

function parseMetadata(text: string): WorkspaceMetadata | null {
  try {
    const value = JSON.parse(text) as Partial<WorkspaceMetadata>;
    const strings = [value.job_id, value.branch, value.base_sha, value.repository_url, value.mirror, value.dir];
    if (strings.some((field) => typeof field !== 'string') || typeof value.claim_epoch !== 'number') return null;
    return value as WorkspaceMetadata;
  } catch {
    return null;
  }
}
