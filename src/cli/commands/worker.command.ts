import { parseArgs } from 'node:util';
import { createLogger } from '../../logger.js';
import { Closers, shutdownSignal } from '../lifecycle.js';
import { openDatabase } from '../open-services.js';
import { closeDeadline, runWorkers } from '../roles.js';
import type { Command } from './command.js';
import { parseKinds, parsePositiveInt } from './kinds-option.js';

export const workerCommand: Command = {
  summary: 'run a worker process (as many as needed, on as many machines as needed)',
  synopsis: '[--kinds k1,k2] [--concurrency N]',
  async run(args, config) {
    const { values } = parseArgs({ args, options: { kinds: { type: 'string' }, concurrency: { type: 'string' } }, strict: true });
    const kinds = parseKinds(values.kinds, config.WORKER_KINDS);
    const concurrency = parsePositiveInt('concurrency', values.concurrency, config.WORKER_CONCURRENCY);
    const logger = createLogger(config, { process: 'worker' });
    const closers = new Closers();
    try {
      const db = await openDatabase(config, closers, 'jobfleet-worker');
      const pool = await runWorkers(config, db, closers, logger, { kinds, concurrency });
      process.stdout.write(`jobfleet worker ${pool.identity.workerId} running ${kinds.join(', ')} at concurrency ${concurrency}\n`);
    } catch (error) {
      await closers.closeAll(logger);
      throw error;
    }
    await shutdownSignal(logger);
    return (await closers.closeAll(logger, closeDeadline(config))) ? 0 : 1;
  },
};
