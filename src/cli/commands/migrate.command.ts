import { parseArgs } from 'node:util';
import { createDatabase } from '../../db/database.js';
import { ensureDatabase } from '../../db/ensure-database.js';
import { migrateDownOne, migrateToLatest } from '../../db/migrator.js';
import { checkPostgres } from '../../services/reachability.js';
import type { Command } from './command.js';

export const migrateCommand: Command = {
  summary: 'create the database if missing and apply every pending migration (--down reverts the last one)',
  synopsis: '[--down]',
  async run(args, config) {
    const { values } = parseArgs({ args, options: { down: { type: 'boolean', default: false } }, strict: true });
    await checkPostgres({ DATABASE_URL: maintenanceOf(config.DATABASE_URL) });
    if (await ensureDatabase(config.DATABASE_URL)) process.stdout.write('created the database\n');
    const db = createDatabase({ connectionString: config.DATABASE_URL, poolMax: 1, applicationName: 'jobfleet-migrate' });
    try {
      const lines = values.down ? await migrateDownOne(db) : await migrateToLatest(db);
      process.stdout.write(lines.length ? `${lines.join('\n')}\n` : 'the database is up to date\n');
      return 0;
    } finally {
      await db.destroy();
    }
  },
};

function maintenanceOf(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = '/postgres';
  return parsed.toString();
}
