/**
 * BullMQ's lock on a delivery and its stalled check are timed from the job lease, so a delivery
 * whose worker died before claiming is handed on within about one lease.
 */
import { describe, expect, it } from 'vitest';
import { deliveryLockOptions } from '../../src/workers/delivery-locks.js';

describe('delivery lock options', () => {
  it('take half a lease for the lock and a quarter for the stalled check, so a dead delivery moves on within one lease', () => {
    const options = deliveryLockOptions({ leaseMs: 30_000, heartbeatMs: 5_000 });
    expect(options).toEqual({ lockDuration: 15_000, lockRenewTime: 5_000, stalledInterval: 7_500, maxStalledCount: 1 });
    // Found by two checks after the lock expired.
    expect(options.lockDuration + 2 * options.stalledInterval).toBeLessThanOrEqual(30_000);
  });

  it('follow a short lease, and renew the lock at least twice per lock even with a slow heartbeat', () => {
    expect(deliveryLockOptions({ leaseMs: 1_500, heartbeatMs: 200 })).toEqual({
      lockDuration: 750,
      lockRenewTime: 200,
      stalledInterval: 375,
      maxStalledCount: 1,
    });
    expect(deliveryLockOptions({ leaseMs: 4_000, heartbeatMs: 5_000 }).lockRenewTime).toBe(1_000);
  });
});
