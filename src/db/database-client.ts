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

/** Waits for every answer; fails with the first failure in the order the statements were sent. */
async function inOrder(answers: readonly Promise<unknown>[]): Promise<unknown> {
  const settled = await Promise.allSettled(answers);
  const failed = settled.find((answer) => answer.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return (settled.at(-1) as PromiseFulfilledResult<unknown>).value;
}

/** Marks a promise as handled: its failure is reported later, through inOrder. */
function held<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export class DatabaseClient extends pg.Client {
  #generation = 0;
  #inTransaction = false;
  #beginHeld = false;
  /** Sent and not yet answered to anyone: a held-back BEGIN, deferred writes. */
  #unanswered: Promise<unknown>[] = [];

  override query(...args: any[]): any {
    const command = transactionCommand(args);
    if (command) {
      const unsentAnswer = this.#transactionCommand(command);
      if (unsentAnswer) return Promise.resolve(unsentAnswer);
    }
    const stream = this.connection.stream as { cork?: () => void; uncork?: () => void };
    stream.cork?.();
    try {
      if (this.#beginHeld) {
        this.#beginHeld = false;
        this.#unanswered.push(held(super.query('BEGIN') as Promise<unknown>));
      }
      const sent = this.#send(args);
      if (!(sent instanceof Promise)) {
        // Kysely, the pool's only user, queries with promises; a callback-style query would learn
        // of an earlier failure only through its own.
        this.#unanswered = [];
        return sent;
      }
      if (this.#inTransaction && isDeferred(args)) {
        // Held until the next statement is answered; that statement fails with this one's error.
        this.#unanswered.push(held(sent));
        return Promise.resolve(unsent('DEFERRED'));
      }
      if (this.#unanswered.length === 0) return sent;
      const earlier = this.#unanswered;
      this.#unanswered = [];
      return inOrder([...earlier, sent]);
    } finally {
      stream.uncork?.();
    }
  }

  /** Tracks a transaction's edges; answers for a command that need not be sent at all. */
  #transactionCommand(command: 'begin' | 'commit' | 'rollback'): QueryResult | null {
    if (command === 'begin') {
      if (this.#inTransaction) return null;
      this.#inTransaction = true;
      this.#beginHeld = true;
      return unsent('BEGIN');
    }
    this.#inTransaction = false;
    if (this.#beginHeld) {
      this.#beginHeld = false;
      return unsent(command.toUpperCase());
    }
    // Whatever the deferred writes did is rolled back; their failures were why (they are held).
    if (command === 'rollback') this.#unanswered = [];
    return null;
  }

  #send(args: any[]): any {
    const prepared = preparedQueryOf(args, this.#generation);
    const sent = prepared
      ? (super.query(prepared) as Promise<unknown>).catch((error: unknown) => {
          // A migration changed what the statement returns: prepare it afresh under a new name, so
          // the caller's retry (the worker's group commit retries) runs the new one.
          if (isStalePlan(error)) this.#generation += 1;
          throw error;
        })
      : (super.query as (...a: any[]) => any)(...args);
    if (sent instanceof Promise) sent.catch((error: unknown) => this.#endIfFatal(error));
    return sent;
  }

  /**
   * A FATAL error (Postgres shutting down, the backend terminated) means the server is ending this
   * session, but the socket may not have closed yet when the caller hands the client back; ending
   * it now makes the pool drop it instead of lending out a connection that is about to die.
   */
  #endIfFatal(error: unknown): void {
    const severity = (error as { severity?: unknown } | null)?.severity;
    if (severity === 'FATAL' || severity === 'PANIC') void this.end().catch(() => undefined);
  }
}
