/**
 * One workspace test file's world: its test env and API, a temp directory holding its
 * WORKSPACE_ROOT and the gates of the git agent
 * (test/fixtures/agents/git-agent.mjs), plus what the tests ask of it: products that name a
 * repository, tasks scripted with agent markers, worker processes, jobs waited on.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from '../../src/db/database.js';
import { createApiHarness, type ApiHarness } from './api-harness.js';
import { gitIn, removeTempDirs } from './git-repos.js';
import { type JobfleetProcess, killAll, spawnJobfleet } from './processes.js';
import { createTasks } from './subjects.js';
import { createTestEnv, type TestEnv } from './test-env.js';
import { waitFor } from './wait-for.js';

export const GIT_AGENT = path.join(import.meta.dirname, '..', 'fixtures', 'agents', 'git-agent.mjs');
export const GIT_AUTHOR = { name: 'Fleet Bot', email: 'fleet-bot@example.test' };

/** What the git agent's [agent:report=FILE] appends, one object a line. */
export interface AgentReport {
  cwd: string;
  JOBFLEET_WORKSPACE: string | null;
  JOBFLEET_BRANCH: string | null;
  JOBFLEET_BASE_SHA: string | null;
  JOBFLEET_JOB_ID: string | null;
  files: string[];
  prompt: string;
}

/** A gate an agent waits at ([agent:gate=NAME]) until the test opens it. */
export interface Gate {
  marker: string;
  /** Resolves with the waiting agent's pid once an agent waits at the gate. */
  reached(timeoutMs?: number): Promise<number>;
  open(): void;
}

export interface Repository {
  repository_url?: string | null;
  default_branch?: string;
  check_command?: string | null;
}

export type Worker = JobfleetProcess & { id: string };

export interface WorkspaceWorld {
  env: TestEnv;
  api: ApiHarness;
  db: Db;
  /** The file's temp directory (WORKSPACE_ROOT, gates, reports, scratch files live there). */
  dir: string;
  /** The WORKSPACE_ROOT every worker of the file uses. */
  root: string;
  /** A worker process with the git agent (`extra` overrides the environment). */
  startWorker(options?: { kinds?: string; concurrency?: number; env?: Record<string, string> }): Promise<Worker>;
  /** SIGTERM to every worker still running, and their exits awaited (so no workspace is left orphaned). */
  stopWorkers(): Promise<void>;
  workerEnv(extra?: Record<string, string>): Record<string, string>;
  product(repository: Repository): Promise<string>;
  /** A TO_DO task of `product` whose implementation plan is `markers`, one a line. */
  task(product: string, ...markers: string[]): Promise<string>;
  /** Enqueues a task_implementation job for the task; answers the job id. */
  implement(task: string): Promise<string>;
  /** The job (API shape) once its status is one of `statuses`. */
  job(id: string, statuses?: string[], timeoutMs?: number): Promise<any>;
  gate(): Gate;
  /** A new report file path, and a reader of its lines. */
  reportFile(): { marker: string; read(): AgentReport[] };
  /** What is left of job workspaces: the entries of `<root>/slots/<slot>/jobs/` (worktrees and their metadata files). */
  leftoverWorkspaces(): string[];
  close(): Promise<void>;
}

export async function createWorkspaceWorld(overrides: Record<string, string> = {}): Promise<WorkspaceWorld> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobfleet-ws-'));
  const root = path.join(dir, 'workspace-root');
  const gates = path.join(dir, 'gates');
  mkdirSync(gates);
  const env = await createTestEnv({
    AGENT: 'command',
    AGENT_COMMAND: `${JSON.stringify(process.execPath)} ${JSON.stringify(GIT_AGENT)}`,
    WORKSPACE_ROOT: root,
    WORKSPACE_GIT_AUTHOR: `${GIT_AUTHOR.name} <${GIT_AUTHOR.email}>`,
    GIT_AGENT_GATES: gates,
    ...overrides,
  });
  const api = await createApiHarness(env);
  const workers = new Set<Worker>();
  let names = 0;
  const unique = (what: string) => `${what}-${(names += 1)}-${Math.random().toString(36).slice(2, 8)}`;

  const workerEnv = (extra: Record<string, string> = {}) => ({ ...env.env, ...extra });

  const world: WorkspaceWorld = {
    env,
    api,
    db: env.database.db,
    dir,
    root,
    workerEnv,

    async startWorker(options = {}) {
      const args = ['worker', '--kinds', options.kinds ?? 'task_implementation', '--concurrency', String(options.concurrency ?? 1)];
      const process_ = spawnJobfleet(args, workerEnv(options.env));
      const [, id] = await process_.line(/jobfleet worker (\S+) running/, 60_000);
      const worker = Object.assign(process_, { id: id ?? '' });
      workers.add(worker);
      void worker.exited.then(() => workers.delete(worker));
      return worker;
    },

    async stopWorkers() {
      const running = [...workers];
      for (const worker of running) worker.kill('SIGTERM');
      await Promise.all(running.map((worker) => worker.exited));
    },

    async product(repository) {
      const created = await api.call('POST', '/api/v1/products', { name: 'Repo product', owner_id: 'owner-a', ...repository });
      if (created.status !== 201) throw new Error(`POST /api/v1/products answered ${created.status}: ${JSON.stringify(created.body)}`);
      return created.body.id as string;
    },

    async task(product, ...markers) {
      const [task] = await createTasks(env.database.db, product, 1, { plan: markers.join('\n') });
      if (!task) throw new Error('no task created');
      return task;
    },

    async implement(task) {
      const posted = await api.call('POST', '/api/v1/jobs', { kind: 'task_implementation', task_id: task });
      if (posted.status !== 202) throw new Error(`POST /api/v1/jobs answered ${posted.status}: ${JSON.stringify(posted.body)}`);
      return posted.body.id as string;
    },

    job(id, statuses = ['done', 'failed', 'cancelled'], timeoutMs = 60_000) {
      return waitFor(
        `job ${id} to be ${statuses.join(' or ')}`,
        async () => {
          const { body } = await api.call('GET', `/api/v1/jobs/${id}`);
          return statuses.includes(body.status) ? body : undefined;
        },
        { timeoutMs },
      );
    },

    gate() {
      const name = unique('gate');
      const file = path.join(gates, name);
      return {
        marker: `[agent:gate=${name}]`,
        reached: (timeoutMs = 60_000) =>
          waitFor(
            `an agent at ${name}`,
            () => {
              const waiting = `${file}.waiting`;
              return existsSync(waiting) && readFileSync(waiting, 'utf8') !== '' ? Number(readFileSync(waiting, 'utf8')) : undefined;
            },
            { timeoutMs },
          ),
        open: () => writeFileSync(file, ''),
      };
    },

    reportFile() {
      const file = path.join(dir, `${unique('report')}.jsonl`);
      return {
        marker: `[agent:report=${file}]`,
        read: () =>
          existsSync(file)
            ? readFileSync(file, 'utf8')
                .split('\n')
                .filter(Boolean)
                .map((line) => JSON.parse(line) as AgentReport)
            : [],
      };
    },

    leftoverWorkspaces() {
      const slots = path.join(root, 'slots');
      if (!existsSync(slots)) return [];
      return readdirSync(slots).flatMap((slot) => {
        const jobs = path.join(slots, slot, 'jobs');
        return existsSync(jobs) ? readdirSync(jobs).map((entry) => path.join(jobs, entry)) : [];
      });
    },

    async close() {
      await world.stopWorkers();
      await killAll();
      await api.close();
      await env.teardown();
      rmSync(dir, { recursive: true, force: true });
      removeTempDirs();
    },
  };
  return world;
}

/** The commits after `base` up to `head`, oldest first: subject and author name. */
export function commitsBetween(bare: string, base: string, head: string): { subject: string; author: string }[] {
  const out = gitIn(bare, 'log', '--reverse', '--format=%s%x09%an', `${base}..${head}`);
  return out
    ? out.split('\n').map((line) => {
        const [subject = '', author = ''] = line.split('\t');
        return { subject, author };
      })
    : [];
}
