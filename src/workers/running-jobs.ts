/**
 * The jobs this worker process is running right now, each with its lease and the abort
 * controller of its agent. The heartbeat renews their leases; a cancel signal, a lost lease,
 * a timeout or shutdown aborts them through here.
 */
import type { Lease } from '../jobs/job-lease.js';

export type AbortCause = 'cancelled' | 'lease_lost' | 'timeout' | 'shutdown' | 'budget_exceeded';

export interface RunningJob {
  lease: Lease;
  controller: AbortController;
}

export class RunningJobs {
  private readonly jobs = new Map<string, RunningJob>();

  add(lease: Lease): RunningJob {
    const running = { lease, controller: new AbortController() };
    this.jobs.set(lease.jobId, running);
    return running;
  }

  delete(jobId: string): void {
    this.jobs.delete(jobId);
  }

  get size(): number {
    return this.jobs.size;
  }

  leases(): Lease[] {
    return [...this.jobs.values()].map((job) => job.lease);
  }

  /** Aborts the agents of these jobs (those not running here are ignored). */
  abort(jobIds: Iterable<string>, cause: AbortCause): number {
    let aborted = 0;
    for (const id of jobIds) {
      const job = this.jobs.get(id);
      if (job && !job.controller.signal.aborted) {
        job.controller.abort(cause);
        aborted += 1;
      }
    }
    return aborted;
  }

  abortAll(cause: AbortCause): number {
    return this.abort([...this.jobs.keys()], cause);
  }
}
