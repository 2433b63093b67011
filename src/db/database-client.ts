/**
 * The pg client behind every pool jobfleet opens. On the machines jobfleet was measured on, a
 * round trip to Postgres costs more CPU than most statements it carries (two processes woken,
 * their system calls; BENCHMARKS.md), so this client saves round trips where no caller can tell:
 * - statements marked with `prepared()` run as named prepared statements (prepared-statements.ts);
 * - a transaction's BEGIN is held back and written in one piece with the transaction's first
 *   statement: the pool runs pg in pipeline mode, which sends a query without waiting for the
 *   answer to the one before. A transaction that ends before its first statement sends nothing.
 *
 * Results, errors and transaction boundaries are what callers would get without it. A held-back
 * BEGIN that fails fails the statement sent with it; on a live connection outside a transaction
 * (where Kysely always begins) BEGIN has nothing that could fail.
 */
import pg from 'pg';
import { isStalePlan, preparedQueryOf } from './prepared-statements.js';

type QueryResult = pg.QueryResult<Record<string, unknown>>;

/** What a transaction command that was never sent answers. */
const unsent = (command: string): QueryResult => ({ command, rowCount: null, oid: 0, rows: [], fields: [] });

/** Kysely's transaction commands: plain text, no parameters. */
function transactionCommand(args: unknown[]): 'begin' | 'commit' | 'rollback' | null {
  const [text, values] = args;
  if (typeof text !== 'string' || args.length > 2 || (values !== undefined && !(Array.isArray(values) && values.length === 0))) return null;
  const command = text.trim().toLowerCase();
  return command === 'begin' || command === 'commit' || command === 'rollback' ? command : null;
}

export class DatabaseClient extends pg.Client {
  #generation = 0;
  #beginHeld = false;

  override query(...args: any[]): any {
    const command = transactionCommand(args);
    if (command === 'begin' && !this.#beginHeld) {
      this.#beginHeld = true;
      return Promise.resolve(unsent('BEGIN'));
    }
    if (this.#beginHeld && (command === 'commit' || command === 'rollback')) {
      this.#beginHeld = false;
      return Promise.resolve(unsent(command.toUpperCase()));
    }
    if (!this.#beginHeld) return this.#send(args);

    this.#beginHeld = false;
    const stream = this.connection.stream as { cork?: () => void; uncork?: () => void };
    stream.cork?.();
    try {
      const begun = super.query('BEGIN') as Promise<unknown>;
      const sent = this.#send(args);
      // Kysely, the pool's only user, queries with promises; a callback-style query would learn
      // of a failed BEGIN only through its own failure.
      if (!(sent instanceof Promise)) return void begun.catch(() => undefined), sent;
      return Promise.all([begun, sent]).then(([, result]) => result);
    } finally {
      stream.uncork?.();
    }
  }

  #send(args: any[]): any {
    const prepared = preparedQueryOf(args, this.#generation);
    if (!prepared) return (super.query as (...a: any[]) => any)(...args);
    return (super.query(prepared) as Promise<unknown>).catch((error: unknown) => {
      // A migration changed what the statement returns: prepare it afresh under a new name, so the
      // caller's retry (the worker's group commit retries) runs the new one.
      if (isStalePlan(error)) this.#generation += 1;
      throw error;
    });
  }
}
