/**
 * The lock a worker takes on a dead worker's slot before salvaging it, so that two workers
 * starting together salvage it once. The lock file is made whole and then linked into place
 * (link fails when the name exists: the O_EXCL of a complete file), so a reader never sees a
 * half-written holder. A lock whose holder died may be taken over.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { currentOwner, ownerIsGone, parseOwner } from './slot-owner.js';

const LOCK_FILE = 'salvage.lock';

/** Takes the slot's lock; null when a live process holds it or the slot is gone. */
export async function lockSlot(slotDir: string): Promise<(() => Promise<void>) | null> {
  const file = path.join(slotDir, LOCK_FILE);
  const nonce = randomBytes(6).toString('hex');
  const mine = JSON.stringify({ ...currentOwner(), nonce });
  const draft = `${file}.${nonce}`;
  try {
    await writeFile(draft, mine);
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code === 'ENOENT') return null; // the slot is gone
    throw thrown;
  }
  try {
    // Two rounds: a dead holder's lock taken over, then ours linked in its place.
    for (let round = 0; round < 2; round++) {
      try {
        await link(draft, file);
        return () => release(file, mine);
      } catch (thrown) {
        if ((thrown as NodeJS.ErrnoException).code !== 'EEXIST') throw thrown;
      }
      const held = await readFile(file, 'utf8').catch(() => null);
      if (held === null) continue; // released meanwhile
      const holder = parseOwner(held);
      if (!holder || !ownerIsGone(holder)) return null;
      if (!(await takeOver(file, held, nonce))) return null;
    }
    return null;
  } finally {
    await unlink(draft).catch(() => {});
  }
}

/**
 * Moves a dead holder's lock aside. Only one of several takers can move it; a taker that moved a
 * lock just made by another (it read the dead one, then lost the race) finds other content in
 * what it moved and puts it back.
 */
async function takeOver(file: string, deadHolder: string, nonce: string): Promise<boolean> {
  const aside = `${file}.stale-${nonce}`;
  try {
    await rename(file, aside);
  } catch {
    return false;
  }
  const moved = await readFile(aside, 'utf8').catch(() => null);
  if (moved !== deadHolder) {
    await link(aside, file).catch(() => {});
    await unlink(aside).catch(() => {});
    return false;
  }
  await unlink(aside).catch(() => {});
  return true;
}

async function release(file: string, mine: string): Promise<void> {
  const held = await readFile(file, 'utf8').catch(() => null);
  if (held === mine) await unlink(file).catch(() => {});
}
