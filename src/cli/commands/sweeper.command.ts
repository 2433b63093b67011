import { createLogger } from '../../logger.js';
import { sweep } from '../../sweeper/sweep.js';
import { Closers, shutdownSignal } from '../lifecycle.js';
import { openDatabase, openTracing } from '../open-services.js';
import { openProducer, runSweeper, sweepDepsOf } from '../roles.js';
import { defineCommand } from './command.js';

export const sweeperCommand = defineCommand({
  summary: 'run the sweeper (one is active across the fleet; others stand by); --once sweeps once and exits',
  synopsis: '[--once]',
  options: { once: { type: 'boolean', default: false } },
  optionHelp: { once: ['', 'sweep once now, print what was repaired, and exit'] },
  async run({ values }, config) {
    const logger = createLogger(config, { process: 'sweeper' });
    const closers = new Closers();
    try {
      await openTracing(config, closers, 'jobfleet-sweeper');
      const db = await openDatabase(config, closers, 'jobfleet-sweeper');
      const producer = openProducer(config, closers, logger);
      if (values.once) {
        const report = await sweep(sweepDepsOf(config, db, producer.queues, logger));
        process.stdout.write(`${JSON.stringify(report)}\n`);
        return (await closers.closeAll(logger)) ? 0 : 1;
      }
      runSweeper(config, db, producer, closers, logger);
      process.stdout.write(`jobfleet sweeper running every ${config.SWEEP_INTERVAL_MS} ms\n`);
    } catch (error) {
      await closers.closeAll(logger);
      throw error;
    }
    await shutdownSignal(logger);
    return (await closers.closeAll(logger)) ? 0 : 1;
  },
});
