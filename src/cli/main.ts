/**
 * `jobfleet <command>`: the only place that reads argv, loads the configuration and opens
 * connections. Each command lives in its own module under src/cli/commands/.
 */
import { ConfigError, loadConfig } from '../config.js';
import { isAppError } from '../errors/app-error.js';
import { ServiceUnreachableError } from '../services/reachability.js';
import { COMMANDS, usage } from './commands/index.js';
import { UsageError } from './usage-error.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const command = COMMANDS[name as keyof typeof COMMANDS];
  if (!command) {
    process.stderr.write(`jobfleet: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const config = loadConfig(process.env);
  return command.run(rest, config);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // Errors an operator can act on are one line; anything else keeps its stack.
  if (error instanceof ConfigError || error instanceof ServiceUnreachableError || isAppError(error)) {
    process.stderr.write(`jobfleet: ${(error as Error).message}\n`);
  } else if (error instanceof UsageError) {
    process.stderr.write(`jobfleet: ${error.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`jobfleet: ${(error as Error)?.stack ?? String(error)}\n`);
  }
  process.exitCode ||= 1;
}
