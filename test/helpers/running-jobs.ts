/**
 * A job an agent is working on, without a worker: enqueued (not queued in Redis) and moved
 * QUEUED -> CLAIMED -> RUNNING through the door, so its history is what a worker's would be.
 */
import type { Db } from '../../src/db/database.js';
import type { ClaudeJob } from '../../src/db/tables/claude-job.table.js';
import { insertJobs } from '../../src/jobs/enqueue-jobs.js';
// The kind handlers the enqueue and the start hand the job to.
import '../../src/kinds/index.js';
import { claudeJobMachine } from '../../src/machines/index.js';
import { transition } from '../../src/transitions/index.js';
import { createIdeas } from './subjects.js';

export async function createRunningJob(db: Db, productId: string): Promise<ClaudeJob> {
  const [ideaId] = await createIdeas(db, productId, 1, 'DRAFT');
  return db.transaction().execute(async (trx) => {
    const { created } = await insertJobs(trx, [{ kind: 'IDEA_GRILL', subjectId: ideaId! }], { actorTokenId: null });
    const { id } = created[0]!;
    const started = await transition(trx, claudeJobMachine, { id, from: 'QUEUED', to: 'RUNNING', via: ['CLAIMED'] });
    return started.row;
  });
}
