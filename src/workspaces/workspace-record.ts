/**
 * The record of a branch's change, taken from git itself so that it matches what a reviewer sees
 * with `git diff --numstat base head` in the repository.
 */
import { git } from './git.js';

/** What a job did to its branch, as `git diff --numstat base head` tells it. */
export interface WorkspaceRecord {
  branch: string;
  base_sha: string;
  head_sha: string;
  /** Sorted paths that differ between base and head (no rename detection: a move is two paths). */
  changed_files: string[];
  insertions: number;
  deletions: number;
  /** False when head equals base: nothing was pushed and the branch was not touched. */
  pushed: boolean;
}

export async function diffRecord(
  dir: string,
  timeoutMs: number,
  change: { branch: string; base: string; head: string; pushed: boolean },
): Promise<WorkspaceRecord> {
  const record: WorkspaceRecord = {
    branch: change.branch,
    base_sha: change.base,
    head_sha: change.head,
    changed_files: [],
    insertions: 0,
    deletions: 0,
    pushed: change.pushed,
  };
  if (change.base === change.head) return record;
  // -z: paths as they are (no quoting of unusual names); --no-renames: a move is a deletion and
  // an addition, so every path that changed is listed.
  const { stdout } = await git(['diff', '--numstat', '-z', '--no-renames', change.base, change.head, '--'], { cwd: dir, timeoutMs });
  for (const entry of stdout.split('\0')) {
    const match = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(entry);
    if (!match) continue;
    // A binary file counts no lines ("-").
    record.insertions += match[1] === '-' ? 0 : Number(match[1]);
    record.deletions += match[2] === '-' ? 0 : Number(match[2]);
    record.changed_files.push(match[3] ?? '');
  }
  record.changed_files.sort();
  return record;
}
