/**
 * A jobfleet command: its options declared once, parsed with Node's own `util.parseArgs`, so that
 * every command answers `--help`/`-h` with its usage and a wrong flag with one line (a UsageError,
 * exit 2) before it reads the configuration or opens a connection.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Config } from '../../config.js';
import { UsageError } from '../usage-error.js';

type OptionsSpec = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends OptionsSpec> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true }>>;

export interface CommandSpec<O extends OptionsSpec> {
  /** One line for `jobfleet --help`. */
  summary: string;
  /** The argument synopsis after the command name. */
  synopsis: string;
  options: O;
  /** For `--help`: per option, its value's placeholder ('' for a flag) and what it does. */
  optionHelp: { [K in keyof O]: readonly [value: string, text: string] };
  /** For `--help`: lines about the positional arguments, when the command takes any. */
  positionalHelp?: readonly string[];
  /** Returns the process exit code. */
  run(parsed: Parsed<O>, config: Config): Promise<number>;
}

/** What the CLI entry sees of a command once its arguments are parsed. */
export type CommandLine = { help: true } | { help: false; run(config: Config): Promise<number> };

export interface Command {
  summary: string;
  synopsis: string;
  /** The text of `jobfleet <name> --help`. */
  usage(name: string): string;
  /** Parses the arguments; throws a UsageError naming a wrong flag or argument. */
  parse(name: string, args: string[]): CommandLine;
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

export function defineCommand<const O extends OptionsSpec>(spec: CommandSpec<O>): Command {
  const usage = (name: string) => {
    const described = Object.entries(spec.optionHelp as Record<string, readonly [string, string]>);
    const options = described.map(([option, [value, text]]): [string, string] => [`--${option}${value ? ` ${value}` : ''}`, text]);
    options.push(['-h, --help', 'show this help']);
    const width = Math.max(...options.map(([flag]) => flag.length)) + 2;
    return [
      `usage: jobfleet ${name}${spec.synopsis ? ` ${spec.synopsis}` : ''}`,
      '',
      spec.summary,
      ...(spec.positionalHelp?.length ? ['', ...spec.positionalHelp] : []),
      '',
      'options:',
      ...options.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`),
      '',
    ].join('\n');
  };
  return {
    summary: spec.summary,
    synopsis: spec.synopsis,
    usage,
    parse(name, args) {
      const loose: ParseArgsConfig = { args, options: { ...spec.options, ...HELP_OPTION }, strict: true, allowPositionals: true };
      try {
        if (parseArgs(loose).values.help === true) return { help: true };
      } catch (error) {
        throw toUsageError(name, error);
      }
      // The same arguments without --help, parsed again for their types: this parse cannot fail.
      const parsed: Parsed<O> = parseArgs({ args, options: spec.options, strict: true, allowPositionals: true });
      if (!spec.positionalHelp && parsed.positionals.length) {
        throw new UsageError(`${name}: unexpected argument '${parsed.positionals[0]}'; see jobfleet ${name} --help`);
      }
      return { help: false, run: (config) => spec.run(parsed, config) };
    },
  };
}

/** parseArgs's own errors (a TypeError with an ERR_PARSE_ARGS_* code) as one line. */
function toUsageError(name: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (!code?.startsWith('ERR_PARSE_ARGS_')) return error;
  // Node explains how to pass a positional that starts with '-': the first sentence is the point.
  const first = (error as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '');
  return new UsageError(`${name}: ${first.charAt(0).toLowerCase()}${first.slice(1)}; see jobfleet ${name} --help`);
}
