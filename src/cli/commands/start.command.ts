import { createDatabase } from '../../db/database.js';
import { ensureDatabase } from '../../db/ensure-database.js';
import { migrateToLatest } from '../../db/migrator.js';
import { createLogger } from '../../logger.js';
import { checkPostgres, checkRedis } from '../../services/reachability.js';
import { Closers, shutdownSignal } from '../lifecycle.js';
import { openTracing } from '../open-services.js';
import { closeDeadline, openProducer, runSweeper, runWorkers } from '../roles.js';
import { defineCommand } from './command.js';
import { KIND_OPTIONS, KIND_OPTIONS_HELP, parseKinds, parsePositiveInt } from './kinds-option.js';

export const startCommand = defineCommand({
  summary: 'run the whole fleet in one process: migrations, API, workers for every kind, sweeper',
  synopsis: '[--kinds k1,k2] [--concurrency N]',
  options: KIND_OPTIONS,
  optionHelp: KIND_OPTIONS_HELP,
  async run({ values }, config) {
    const kinds = parseKinds(values.kinds, config.WORKER_KINDS);
    const concurrency = parsePositiveInt('concurrency', values.concurrency, config.WORKER_CONCURRENCY);
    const logger = createLogger(config, { process: 'start' });
    const closers = new Closers();
    try {
      await openTracing(config, closers, 'jobfleet');
      await checkPostgres({ DATABASE_URL: withDatabase(config.DATABASE_URL, 'postgres') });
      await checkRedis(config);
      if (await ensureDatabase(config.DATABASE_URL)) logger.info('created the database');
      const db = createDatabase({ connectionString: config.DATABASE_URL, poolMax: config.DB_POOL_MAX, applicationName: 'jobfleet-start' });
      closers.add('database', () => db.destroy());
      for (const line of await migrateToLatest(db)) logger.info(line);

      const producer = openProducer(config, closers, logger);
      runSweeper(config, db, producer, closers, logger);
      // Loaded here, not at the top: other commands (workers above all) never load the HTTP stack.
      const { runApi } = await import('../api-role.js');
      // The API first: its address is where this process's agents reach the MCP server, and it
      // closes after the workers, so agents still draining can talk back.
      const url = await runApi(config, db, producer, closers, logger);
      await runWorkers(config, db, closers, logger, { kinds, concurrency, apiUrl: url });
      process.stdout.write(
        [
          `jobfleet is running (${config.AGENT} agent, ${kinds.length} kinds, concurrency ${concurrency})`,
          `  Fleet:    ${url}/`,
          `  Queues:   ${url}/admin/queues`,
          `  API:      ${url}/api/v1`,
          `  OpenAPI:  ${url}/api/v1/openapi.json`,
          `  Events:   ${url}/api/v1/events (SSE), ${url.replace('http', 'ws')}/api/v1/ws`,
          `  Metrics:  ${url}/metrics`,
          `  MCP:      ${url}/mcp`,
          '',
        ].join('\n'),
      );
    } catch (error) {
      await closers.closeAll(logger);
      throw error;
    }
    await shutdownSignal(logger);
    return (await closers.closeAll(logger, closeDeadline(config))) ? 0 : 1;
  },
});

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
