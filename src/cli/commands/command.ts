import type { Config } from '../../config.js';

export interface Command {
  /** One line for `jobfleet --help`. */
  summary: string;
  /** The argument synopsis after the command name. */
  synopsis: string;
  /** Returns the process exit code. */
  run(args: string[], config: Config): Promise<number>;
}
