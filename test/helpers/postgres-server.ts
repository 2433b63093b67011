/**
 * A Postgres server of a test's own, for tests that stop or restart Postgres: doing that to the
 * shared server would pull the ground from under every other test file running beside it.
 *
 * The data directory lives in a temporary folder owned by the `postgres` OS user (initdb refuses
 * to run as root), listens on a free port of 127.0.0.1 with trust authentication, and keeps its
 * socket in the same folder. `remove()` stops the server and deletes everything.
 *
 * A script that reaches it from other network namespaces (bench/scale-hosts.ts) gives it another
 * address to listen on and the network its clients come from, which is trusted like loopback.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

const run = promisify(execFile);

const BIN = ['17', '16', '15', '14']
  .map((version) => `/usr/lib/postgresql/${version}/bin`)
  .find((dir) => existsSync(path.join(dir, 'pg_ctl')));

export type ShutdownMode = 'fast' | 'immediate';

export interface PrivatePostgresOptions {
  /** The address it listens on and its URLs name. @defaultValue '127.0.0.1' */
  host?: string;
  /** A network (CIDR) whose clients are trusted like loopback's, e.g. `10.0.0.0/24`. */
  trustedNetwork?: string;
  /** The folder its own temporary folder is made in. @defaultValue the OS's temporary folder */
  parentDir?: string;
  /** @defaultValue 100 */
  maxConnections?: number;
}

export interface PrivatePostgres {
  port: number;
  host: string;
  /** The postmaster's process id while it runs, else null. */
  serverPid(): number | null;
  /** Whether the server was started and not stopped since. */
  readonly running: boolean;
  /** A connection string to `database` on this server. */
  url(database?: string): string;
  start(): Promise<void>;
  stop(mode: ShutdownMode): Promise<void>;
  restart(mode: ShutdownMode): Promise<void>;
  /** Stops the server (immediately) and deletes its data directory. */
  remove(): Promise<void>;
}

/** Runs a Postgres binary as the `postgres` OS user (or as ourselves when we are not root). */
async function asPostgres(binary: string, args: string[]): Promise<string> {
  if (!BIN) throw new Error('no Postgres server binaries found under /usr/lib/postgresql');
  const command = path.join(BIN, binary);
  const asRoot = process.getuid?.() === 0;
  const { stdout } = await run(asRoot ? 'runuser' : command, asRoot ? ['-u', 'postgres', '--', command, ...args] : args, {
    cwd: os.tmpdir(),
    timeout: 60_000,
  });
  return stdout;
}

export async function startPrivatePostgres(settings: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const host = settings.host ?? '127.0.0.1';
  const root = mkdtempSync(path.join(settings.parentDir ?? os.tmpdir(), 'jobfleet-pg-'));
  const dataDir = path.join(root, 'data');
  const port = await freePort();
  // The postgres user must reach its folder through a parent of ours (mkdtemp makes it 0700).
  if (settings.parentDir !== undefined && process.getuid?.() === 0) chmodSync(settings.parentDir, 0o755);
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    chownSync(root, Number(stdout.trim()), Number(group.trim()));
  }
  await asPostgres('initdb', ['-D', dataDir, '-U', 'root', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  if (settings.trustedNetwork !== undefined) {
    // initdb trusts loopback only. Appending keeps the file the postgres user's.
    appendFileSync(path.join(dataDir, 'pg_hba.conf'), `host all all ${settings.trustedNetwork} trust\n`);
  }
  const options = [
    `-p ${port}`,
    `-c listen_addresses=${host}`,
    `-c unix_socket_directories=${root}`,
    '-c fsync=off',
    `-c max_connections=${settings.maxConnections ?? 100}`,
  ];

  const url = (database = 'postgres') => `postgres://root@${host}:${port}/${database}`;
  const accepting = async () => {
    const client = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 1_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  };

  let running = false;
  const handle: PrivatePostgres = {
    port,
    host,
    serverPid() {
      try {
        return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
      } catch {
        return null;
      }
    },
    url,
    get running() {
      return running;
    },
    async start() {
      running = true;
      await asPostgres('pg_ctl', ['-D', dataDir, '-o', options.join(' '), '-l', path.join(root, 'server.log'), '-w', 'start']);
      await waitFor(`private Postgres on port ${port}`, accepting, { timeoutMs: 30_000, intervalMs: 100 });
    },
    async stop(mode) {
      running = false;
      await asPostgres('pg_ctl', ['-D', dataDir, '-m', mode, '-w', 'stop']);
    },
    async restart(mode) {
      await handle.stop(mode);
      await handle.start();
    },
    async remove() {
      if (existsSync(path.join(dataDir, 'postmaster.pid'))) await handle.stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}
