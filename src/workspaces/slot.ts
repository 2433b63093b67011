/**
 * A worker process's slot: `<root>/slots/<slot-id>/` with owner.json, its mirrors and its jobs'
 * worktrees. Only its owner writes in it while the owner lives; once the owner is dead the next
 * worker to start on the host salvages it (orphans.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { currentOwner, parseOwner, type SlotOwner } from './slot-owner.js';

export const OWNER_FILE = 'owner.json';
/** A slot being made; it gets its name once owner.json is in it, so no one sees it ownerless. */
const DRAFT_PREFIX = '.new-';
/** A draft older than this belongs to a process that died while making it. */
const STALE_DRAFT_MS = 10 * 60 * 1000;

export const slotsDir = (root: string) => path.join(root, 'slots');
export const jobsDir = (slot: string) => path.join(slot, 'jobs');
export const mirrorsDir = (slot: string) => path.join(slot, 'mirrors');

export async function createSlot(root: string): Promise<string> {
  const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const draft = path.join(slotsDir(root), `${DRAFT_PREFIX}${id}`);
  await mkdir(jobsDir(draft), { recursive: true });
  await mkdir(mirrorsDir(draft), { recursive: true });
  await writeFile(path.join(draft, OWNER_FILE), `${JSON.stringify(currentOwner())}\n`);
  const slot = path.join(slotsDir(root), id);
  await rename(draft, slot);
  return slot;
}

/** The slots under the root, except drafts; stale drafts are deleted on the way. */
export async function listSlots(root: string): Promise<string[]> {
  const entries = await readdir(slotsDir(root)).catch(() => []);
  const slots: string[] = [];
  for (const name of entries) {
    const full = path.join(slotsDir(root), name);
    if (!name.startsWith(DRAFT_PREFIX)) slots.push(full);
    else if (Date.now() - (await stat(full).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > STALE_DRAFT_MS) {
      await rm(full, { recursive: true, force: true });
    }
  }
  return slots;
}

/** The slot's owner; null when owner.json is missing or unreadable. */
export async function readOwner(slot: string): Promise<SlotOwner | null> {
  const text = await readFile(path.join(slot, OWNER_FILE), 'utf8').catch(() => null);
  return text === null ? null : parseOwner(text);
}

/** When owner.json was last written or touched (its heartbeat); null when it is gone. */
export async function ownerTouchedAt(slot: string): Promise<number | null> {
  return (await stat(path.join(slot, OWNER_FILE)).catch(() => null))?.mtimeMs ?? null;
}

/** The owner's heartbeat: owner.json's mtime moved to now. */
export async function touchOwner(slot: string): Promise<void> {
  const now = new Date();
  await utimes(path.join(slot, OWNER_FILE), now, now);
}

/** Entries of a directory, none when it does not exist. */
export async function entriesOf(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
