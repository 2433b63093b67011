/**
 * `jobfleet <command>`: the only place that reads argv, loads the configuration and opens
 * connections. Each command lives in its own module under src/cli/commands/. Arguments are parsed
 * before the configuration is read, so `--help` and a wrong flag need neither a valid
 * environment nor a reachable service.
 */
import { ConfigError, loadConfig } from '../config.js';
import { WorkspaceRootError } from '../workspaces/index.js';
import { isAppError } from '../errors/app-error.js';
import '../kinds/index.js'; // installs the kind handlers and cascades every command's jobs go through
import { ServiceUnreachableError } from '../services/reachability.js';
import { COMMANDS, usage } from './commands/index.js';
import { PortInUseError } from './port-in-use-error.js';
import { UsageError } from './usage-error.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const asked = rest[0] === undefined ? undefined : commandNamed(rest[0]);
    process.stdout.write(asked ? asked.usage(rest[0]!) : usage());
    return name ? 0 : 1;
  }
  const command = commandNamed(name);
  if (!command) throw new UsageError(`unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')} (see jobfleet --help)`);
  const line = command.parse(name, rest);
  if (line.help) {
    process.stdout.write(command.usage(name));
    return 0;
  }
  return line.run(loadConfig(process.env));
}

function commandNamed(name: string) {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name as keyof typeof COMMANDS] : undefined;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // Errors an operator can act on are one line; anything else keeps its stack.
  if (
    error instanceof ConfigError ||
    error instanceof ServiceUnreachableError ||
    error instanceof PortInUseError ||
    error instanceof WorkspaceRootError ||
    isAppError(error)
  ) {
    process.stderr.write(`jobfleet: ${(error as Error).message}\n`);
  } else if (error instanceof UsageError) {
    process.stderr.write(`jobfleet: ${error.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`jobfleet: ${(error as Error)?.stack ?? String(error)}\n`);
  }
  process.exitCode ||= 1;
}
