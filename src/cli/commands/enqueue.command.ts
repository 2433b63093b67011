/**
 * `jobfleet enqueue <kind> --idea|--task|--sprint-run ID [--payload JSON]`, or in bulk: one job
 * per subject id read from a file (or - for stdin), in batches of one transaction each, with
 * progress and a summary. Jobs are enqueued as the fleet's own (no owner restriction).
 */
import { readFileSync } from 'node:fs';
import { isAppError } from '../../errors/app-error.js';
import { type EnqueueRequest, enqueueJobs, MAX_BATCH } from '../../jobs/enqueue-jobs.js';
import { createLogger } from '../../logger.js';
import { KINDS } from '../../queues/kinds.js';
import { jobKind } from '../../spelling/api-spelling.js';
import { Closers } from '../lifecycle.js';
import { openDatabase } from '../open-services.js';
import { createProgress } from '../progress.js';
import { openProducer } from '../roles.js';
import { UsageError } from '../usage-error.js';
import { defineCommand } from './command.js';
import { isUuidShape } from '../../util/uuid.js';

const SUBJECT_FLAGS = { idea_id: 'idea', task_id: 'task', sprint_run_id: 'sprint-run' } as const;

export const enqueueCommand = defineCommand({
  summary: 'enqueue a job, or one per subject id of a file (--subjects FILE, - for stdin) with progress',
  synopsis: '<kind> (--idea|--task|--sprint-run ID | --subjects FILE) [--payload JSON] [--batch N]',
  options: {
    idea: { type: 'string' },
    task: { type: 'string' },
    'sprint-run': { type: 'string' },
    subjects: { type: 'string' },
    payload: { type: 'string' },
    batch: { type: 'string' },
  },
  optionHelp: {
    idea: ['ID', 'the idea of an idea_grill, idea_make_plan or plan_chat job'],
    task: ['ID', 'the task of a task_implementation job'],
    'sprint-run': ['ID', 'the sprint run of a sprint_implementation job'],
    subjects: ['FILE', 'one job per subject id of FILE (whitespace-separated; - reads stdin)'],
    payload: ['JSON', 'the payload of every job, e.g. \'{"message":"Any news?"}\' for plan_chat'],
    batch: ['N', `ids enqueued per transaction (default 500, at most ${MAX_BATCH})`],
  },
  positionalHelp: [`<kind> is one of: ${jobKind.apiValues.join(', ')}`],
  async run({ values, positionals }, config) {
    const kind = jobKind.fromApi(positionals[0]?.toLowerCase());
    if (!kind || positionals.length !== 1)
      throw new UsageError(`usage: jobfleet enqueue ${enqueueCommand.synopsis}; kinds: ${jobKind.apiValues.join(', ')}`);
    const flag = SUBJECT_FLAGS[KINDS[kind].subject];
    const single = values[flag];
    if (Boolean(single) === Boolean(values.subjects))
      throw new UsageError(`${positionals[0]} jobs need --${flag} ID or --subjects FILE (one of them)`);
    let payload: Record<string, unknown> = {};
    try {
      payload = values.payload ? (JSON.parse(values.payload) as Record<string, unknown>) : {};
    } catch {
      throw new UsageError('--payload is not valid JSON');
    }
    const batch = values.batch === undefined ? 500 : Number(values.batch);
    if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH)
      throw new UsageError(`--batch ${values.batch}: expected a whole number from 1 to ${MAX_BATCH}`);

    const ids = single ? [single] : readIds(values.subjects!);
    const malformed = ids.find((id) => !isUuidShape(id));
    if (malformed) throw new UsageError(`"${malformed}" is not ${/^[aeiou]/.test(flag) ? 'an' : 'a'} ${flag} id (a UUID)`);

    const logger = createLogger({ LOG_LEVEL: 'warn' });
    const closers = new Closers();
    try {
      const db = await openDatabase(config, closers, 'jobfleet-enqueue');
      const producer = openProducer(config, closers, logger);
      const progress = createProgress(`enqueue ${positionals[0]}`, ids.length);
      const counts = { queued: 0, skipped: 0 };
      for (let start = 0; start < ids.length; start += batch) {
        const requests: EnqueueRequest[] = ids.slice(start, start + batch).map((subjectId) => ({ kind, subjectId, payload }));
        try {
          for (const job of await enqueueJobs({ db, queues: producer.queues, logger }, requests, { actorTokenId: null })) {
            if (job.status === 'SKIPPED') counts.skipped += 1;
            else counts.queued += 1;
            if (single) process.stdout.write(`${job.id}\n`);
          }
        } catch (error) {
          progress.finish(
            `stopped after ${start.toLocaleString('en')} of ${ids.length.toLocaleString('en')}: ${isAppError(error) ? error.message : (error as Error).message}`,
          );
          return 1;
        }
        progress.update(Math.min(start + batch, ids.length));
      }
      progress.finish(
        `enqueued ${ids.length.toLocaleString('en')} ${positionals[0]} jobs (${counts.queued} queued, ${counts.skipped} superseded)`,
      );
      return 0;
    } finally {
      await closers.closeAll(logger);
    }
  },
});

function readIds(file: string): string[] {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  return text
    .split(/\s+/)
    .map((line) => line.trim())
    .filter(Boolean);
}
