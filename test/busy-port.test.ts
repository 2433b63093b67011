/**
 * An API that cannot listen because its port is taken says so in one line and exits non-zero,
 * instead of printing a stack trace and hanging on the connections it had already opened.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, spawnJobfleet } from './helpers/processes.js';
import { createTestEnv, type TestEnv } from './helpers/test-env.js';
import { waitFor } from './helpers/wait-for.js';

let env: TestEnv;
let holder: net.Server;
let port: number;
beforeAll(async () => {
  env = await createTestEnv({ LOG_LEVEL: 'warn' });
  holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  port = (holder.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await killAll();
  await new Promise((resolve) => holder.close(resolve));
  await env.teardown();
});

describe.each([['start'], ['api']])('jobfleet %s on a port another process holds', (command) => {
  it('exits non-zero with one line naming the port and what to do', async () => {
    const fleet = spawnJobfleet([command], { ...env.env, PORT: String(port) });
    const exited = () => (fleet.child.exitCode === null ? undefined : fleet.exited);
    const { code } = await waitFor('the process to exit', exited, { timeoutMs: 30_000 });
    expect(code).not.toBe(0);
    expect(fleet.output().trim()).toBe(`jobfleet: port ${port} on 127.0.0.1 is in use: stop what holds it, or set PORT to a free port`);
  });
});
