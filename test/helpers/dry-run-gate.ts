/**
 * Gates for the dry-run agent: a job whose prompt holds `gate.marker` keeps running until the
 * test calls `gate.open()`, in whatever process its worker runs. A test waits on what it means
 * (a step running, a job claimed), opens the gate, then waits on the outcome: no time windows.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dryRunGateDir } from '../../src/executors/dry-run.executor.js';
import { uniqueSuffix } from './names.js';

export interface DryRunGate {
  /** `[dry-run:gate=NAME]`: put it in a prompt (a task's plan, an idea's text). */
  marker: string;
  /** Lets every run waiting on this gate, and every later one, go on. */
  open(): void;
}

const created = new Set<string>();

/** A new closed gate. A gate never opened holds its runs until they are aborted. */
export function createDryRunGate(): DryRunGate {
  const name = `gate-${uniqueSuffix()}`;
  const file = path.join(dryRunGateDir(), name);
  created.add(file);
  return {
    marker: `[dry-run:gate=${name}]`,
    open() {
      mkdirSync(dryRunGateDir(), { recursive: true });
      writeFileSync(file, '');
    },
  };
}

/** Deletes the files of the gates this process opened; call it after the tests that used them. */
export function removeDryRunGates(): void {
  for (const file of created) rmSync(file, { force: true });
  created.clear();
}
