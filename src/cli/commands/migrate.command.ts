import { createDatabase } from '../../db/database.js';
import { ensureDatabase } from '../../db/ensure-database.js';
import { migrateDownOne, migrateToLatest } from '../../db/migrator.js';
import { checkPostgres } from '../../services/reachability.js';
import { defineCommand } from './command.js';

export const migrateCommand = defineCommand({
  summary: 'create the database if missing and apply every pending migration (--down reverts the last one)',
  synopsis: '[--down]',
  options: { down: { type: 'boolean', default: false } },
  optionHelp: { down: ['', 'revert the last applied migration instead'] },
  async run({ values }, config) {
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
});

function maintenanceOf(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = '/postgres';
  return parsed.toString();
}
