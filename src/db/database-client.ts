/**
 * The pg client behind every pool jobfleet opens. On the machines jobfleet was measured on, a
 * round trip to Postgres costs more CPU than most statements it carries (two processes woken,
 * their system calls; BENCHMARKS.md), so this client saves round trips where no caller can tell:
 * - statements marked with `prepared()` run as named prepared statements (prepared-statements.ts);
 * - a transaction's BEGIN is held back and written in one piece with the transaction's first
 *   statement: the pool runs pg in pipeline mode, which sends a query without waiting for the
 *   answer to the one before. A transaction that ends before its first statement sends nothing;
 * - inside a transaction, a write marked with `deferred()` is sent without waiting for its
 *   answer, which is awaited with the next statement's (COMMIT, often).
 *
 * Results, errors and transaction boundaries are what callers would get without it, but for
 * when an error arrives: a failed deferred write fails the statement after it, with its own
 * error, and the transaction (which Postgres has aborted) commits nothing. A held-back BEGIN
 * that fails fails the statement sent with it; on a live connection outside a transaction
 * (where Kysely always begins) BEGIN has nothing that could fail.
 */
import { type RawBuilder, sql } from 'kysely';
import pg from 'pg';
import { isStalePlan, preparedQueryOf } from './prepared-statements.js';

type QueryResult = pg.QueryResult<Record<string, unknown>>;

/** What a transaction command that was never sent, or a deferred write, answers. */
const unsent = (command: string): QueryResult => ({ command, rowCount: null, oid: 0, rows: [], fields: [] });

const DEFERRED = '/* deferred */ ';

/**
 * Marks a write whose answer nobody reads (it returns no rows worth waiting for). Inside a
 * transaction the client sends it and lets the caller go on at once, so the statement after it
 * (often COMMIT) leaves in the same round trip; if the write fails, that next statement fails
 * with the write's error, and Postgres, which aborts the transaction, commits nothing.
 * Outside a transaction it runs like any other statement.
 */
export function deferred<T>(statement: RawBuilder<T>): RawBuilder<T> {
  return sql<T>`${sql.raw(DEFERRED)}${statement}`;
}

/** A deferred statement's mark leads its text (after a `prepared()` mark, when it has one). */
function isDeferred(args: unknown[]): boolean {
  const [text] = args;
  return typeof text === 'string' && text.slice(0, 40).includes(DEFERRED);
}

/** Kysely's transaction commands: plain text, no parameters. */
function transactionCommand(args: unknown[]): 'begin' | 'commit' | 'rollback' | null {
  const [text, values] = args;
  if (typeof text !== 'string' || args.length > 2 || (values !== undefined && !(Array.isArray(values) && values.length === 0))) return null;
  const command = text.trim().toLowerCase();
  return command === 'begin' || command === 'commit' || command === 'rollback' ? command : null;
}

export class DatabaseClient extends pg.Client {
  #generation = 0;
  #inTransaction = false;
  #beginHeld = false;
  /** Sent and not yet answered to anyone: a held-back BEGIN, deferred writes. */
  #unanswered: Promise<unknown>[] = [];

  override query(...args: any[]): any {
    const command = transactionCommand(args);
    if (command === 'begin' && !this.#inTransaction) {
      this.#inTransaction = true;
      this.#beginHeld = true;
      return Promise.resolve(unsent('BEGIN'));
    }
    if (command === 'commit' || command === 'rollback') {
      this.#inTransaction = false;
      if (this.#beginHeld) {
        this.#beginHeld = false;
        return Promise.resolve(unsent(command.toUpperCase()));
      }
      if (command === 'rollback') {
        // Whatever the deferred writes did is undone; their errors were the reason to roll back.
        for (const write of this.#unanswered) write.catch(() => undefined);
        this.#unanswered = [];
      }
    }

    const stream = this.connection.stream as { cork?: () => void; uncork?: () => void };
    stream.cork?.();
    try {
      if (this.#beginHeld) {
        this.#beginHeld = false;
        this.#unanswered.push(super.query('BEGIN') as Promise<unknown>);
      }
      const sent = this.#send(args);
      if (this.#inTransaction && isDeferred(args) && sent instanceof Promise) {
        // Held until the next statement answers, which is never after this one fails.
        sent.catch(() => undefined);
        this.#unanswered.push(sent);
        return Promise.resolve(unsent('DEFERRED'));
      }
      if (this.#unanswered.length === 0) return sent;
      const earlier = this.#unanswered;
      this.#unanswered = [];
      // Kysely, the pool's only user, queries with promises; a callback-style query would learn
      // of an earlier failure only through its own.
      if (!(sent instanceof Promise)) return void Promise.all(earlier).catch(() => undefined), sent;
      // The first failure in the order things were sent is the one to report.
      return Promise.all([...earlier, sent]).then((answers) => answers.at(-1));
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
