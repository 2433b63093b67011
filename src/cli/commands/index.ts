import { apiCommand } from './api.command.js';
import { enqueueCommand } from './enqueue.command.js';
import type { Command } from './command.js';
import { migrateCommand } from './migrate.command.js';
import { productCommand } from './product.command.js';
import { scheduleCommand } from './schedule.command.js';
import { startCommand } from './start.command.js';
import { sweeperCommand } from './sweeper.command.js';
import { tokenCommand } from './token.command.js';
import { workerCommand } from './worker.command.js';

export const COMMANDS = {
  start: startCommand,
  api: apiCommand,
  worker: workerCommand,
  sweeper: sweeperCommand,
  migrate: migrateCommand,
  token: tokenCommand,
  product: productCommand,
  enqueue: enqueueCommand,
  schedule: scheduleCommand,
} satisfies Record<string, Command>;

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(9)} ${command.summary}`);
  return [
    'usage: jobfleet <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    '`jobfleet <command> --help` shows the options of one command.',
    'Configuration comes from environment variables; see README.md.',
    '',
  ].join('\n');
}
