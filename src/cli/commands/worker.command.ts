import { createLogger } from '../../logger.js';
import { Closers, shutdownSignal } from '../lifecycle.js';
import { openDatabase, openTracing } from '../open-services.js';
import { closeDeadline, runWorkers } from '../roles.js';
import { defineCommand } from './command.js';
import { KIND_OPTIONS, KIND_OPTIONS_HELP, parseKinds, parsePositiveInt } from './kinds-option.js';

export const workerCommand = defineCommand({
  summary: 'run a worker process (as many as needed, on as many machines as needed)',
  synopsis: '[--kinds k1,k2] [--concurrency N]',
  options: KIND_OPTIONS,
  optionHelp: KIND_OPTIONS_HELP,
  async run({ values }, config) {
    const kinds = parseKinds(values.kinds, config.WORKER_KINDS);
    const concurrency = parsePositiveInt('concurrency', values.concurrency, config.WORKER_CONCURRENCY);
    const logger = createLogger(config, { process: 'worker' });
    const closers = new Closers();
    try {
      // Its spans name their parents (the jobs' contexts): no active context to carry.
      await openTracing(config, closers, 'jobfleet-worker', { carriesContext: false });
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
});
