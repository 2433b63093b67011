import { createLogger } from '../../logger.js';
import { Closers, shutdownSignal } from '../lifecycle.js';
import { openDatabase, openTracing } from '../open-services.js';
import { openProducer } from '../roles.js';
import { defineCommand } from './command.js';

export const apiCommand = defineCommand({
  summary: 'serve the HTTP API only (scale out behind a load balancer)',
  synopsis: '',
  options: {},
  optionHelp: {},
  async run(_parsed, config) {
    const logger = createLogger(config, { process: 'api' });
    const closers = new Closers();
    try {
      await openTracing(config, closers, 'jobfleet-api');
      const db = await openDatabase(config, closers, 'jobfleet-api');
      // Loaded here, not at the top: other commands (workers above all) never load the HTTP stack.
      const { runApi } = await import('../api-role.js');
      const url = await runApi(config, db, openProducer(config, closers, logger), closers, logger);
      process.stdout.write(`jobfleet API listening on ${url}/api/v1\n`);
    } catch (error) {
      await closers.closeAll(logger);
      throw error;
    }
    await shutdownSignal(logger);
    return (await closers.closeAll(logger)) ? 0 : 1;
  },
});
