/**
 * @module storage/postgres/postgres-driver
 * A pool of PostgreSQL connections behind the storage contract. Single statements borrow any free
 * connection; a transaction holds one connection from BEGIN to COMMIT or ROLLBACK, and nested
 * transactions are savepoints on it.
 *
 * **Isolation: SERIALIZABLE, with the transaction run again on a serialization failure.** The
 * layers above were written against SQLite, whose transactions run one at a time: they read a row
 * and write back what they computed from it (counters, key versions, the audit ledger's size).
 * Under READ COMMITTED two such transactions would both read the old value and one update would be
 * lost; the conformance suite's twenty concurrent increments catch exactly that. SERIALIZABLE
 * makes every committed set of transactions equivalent to some serial order — the guarantee the
 * code above already relies on — and PostgreSQL reports a conflict as SQLSTATE 40001 (or a deadlock
 * as 40P01) instead of losing an update. The driver then rolls back and runs the body again on a
 * fresh snapshot (with a growing, jittered pause), up to {@link MAX_ATTEMPTS} times, after which the
 * caller sees `FX_STORAGE_BUSY`. **A transaction body may therefore run more than once**: it must
 * do nothing but database work through its session (or derive any in-memory state from what it
 * read), which is what a body that can already fail and roll back must do anyway.
 *
 * Other differences from SQLite that the contract leaves open:
 * - A statement that fails inside a transaction aborts the whole transaction (PostgreSQL refuses
 *   every later statement until ROLLBACK). A body that swallows such an error and returns does not
 *   commit: the transaction fails with that error's code. Use a nested transaction (a savepoint)
 *   around a statement that may fail when the body should go on.
 * - Statements issued through the driver outside any transaction run on their own connection in
 *   autocommit mode, at the server's default isolation (READ COMMITTED): a single statement is
 *   atomic there and an `UPDATE … SET n = n + 1` never loses an update.
 * - `iterate` declares a server-side cursor and fetches {@link FETCH_ROWS} rows at a time, so only
 *   a `SELECT` (or `VALUES`) can be iterated.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FortressError } from '../../util/errors.js';
import type { RunResult, SqlValue, StorageCapabilities, StorageDriver, StorageSession } from '../dialect.js';
import type { PgClient, PgPool, PgResult } from './postgres-client.js';
import { toPgValues } from './postgres-client.js';
import { isConnectionFailure, isRetryable, isStalePlan, postgresError } from './postgres-errors.js';
import { StatementCache, type PreparedSql } from './postgres-sql.js';

/** How often a transaction runs before a serialization failure reaches the caller. */
export const MAX_ATTEMPTS = 40;
/** Rows fetched per round trip while iterating. */
export const FETCH_ROWS = 500;
/** Server-side prepared statements kept per connection; further statements run unprepared. */
const PREPARED_PER_CONNECTION = 512;

export const POSTGRES_CAPABILITIES: StorageCapabilities = Object.freeze({
  returning: true,
  transactionalDdl: true,
  concurrentWriters: true,
  rowid: false,
  blobConcat: false,
  // The driver accepts the `?` SQL the layers above write (and translates it); `$n` SQL works too.
  placeholders: 'question',
});

/** What the driver needs to know about where it connects, for messages. */
export interface PostgresEndpoint {
  /** "PostgreSQL at host:port/database" — never the password. */
  readonly where: string;
  /** Removes the password (in any spelling the URL allowed) from a message. */
  readonly redact: (message: string) => string;
}

/** A pooled connection and what the driver tracks about it. */
class Connection {
  readonly client: PgClient;
  /** Names of the statements this connection has prepared. */
  readonly prepared = new Set<string>();
  /** The connection failed: destroy it instead of returning it to the pool. */
  broken = false;

  constructor(client: PgClient) {
    this.client = client;
    // A checked-out client whose socket dies emits 'error'; unheard, that would crash the process.
    client.on('error', () => {
      this.broken = true;
    });
  }
}

/** The transaction a session belongs to. */
interface Scope {
  open: boolean;
  /** A statement failed in a way that running the transaction again may fix. */
  retry: boolean;
  savepoints: number;
}

interface Joined {
  readonly session: StorageSession;
  readonly scope: Scope;
}

function changesOf(result: PgResult): number {
  switch (result.command) {
    case 'INSERT':
    case 'UPDATE':
    case 'DELETE':
    case 'MERGE':
      return result.rowCount ?? 0;
    default:
      return 0;
  }
}

function closedError(): FortressError {
  return new FortressError('FX_STORAGE_CLOSED', 'the database is closed');
}

function endedError(): FortressError {
  return new FortressError('FX_STORAGE_CLOSED', 'the transaction has already ended');
}

export class PostgresDriver implements StorageDriver {
  readonly dialect = 'postgres';
  readonly capabilities: StorageCapabilities = POSTGRES_CAPABILITIES;
  readonly #pool: PgPool;
  readonly #endpoint: PostgresEndpoint;
  readonly #statements: StatementCache;
  readonly #connections = new WeakMap<PgClient, Connection>();
  #closed = false;
  #closing: Promise<void> | undefined;
  #cursors = 0;
  /**
   * The transaction whose body runs in the current async context: statements issued there through
   * the driver itself join it (a helper handed the driver must neither escape the transaction nor
   * wait for a connection the transaction holds).
   */
  readonly #current = new AsyncLocalStorage<Joined>();
  /** Transaction bodies running with async-context tracking on (it costs every promise a little). */
  #tracked = 0;
  /** Part of every prepared statement's name; a stale plan moves it on (see #query). */
  #epoch = 0;

  constructor(pool: PgPool, endpoint: PostgresEndpoint, statementCacheSize: number) {
    this.#pool = pool;
    this.#endpoint = endpoint;
    this.#statements = new StatementCache(statementCacheSize);
  }

  #error(error: unknown): FortressError {
    return postgresError(error, this.#endpoint.where, this.#endpoint.redact);
  }

  // --- connections -------------------------------------------------------------------------------

  async #acquire(): Promise<Connection> {
    if (this.#closed) throw closedError();
    let client: PgClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      // close() may have ended the pool while this waited for a connection.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.#closed) throw closedError();
      throw this.#error(error);
    }
    let connection = this.#connections.get(client);
    if (connection === undefined) {
      connection = new Connection(client);
      this.#connections.set(client, connection);
    }
    return connection;
  }

  #release(connection: Connection): void {
    connection.client.release(connection.broken);
  }

  /** Runs `fn` on a connection of its own (autocommit), then gives the connection back. */
  async #borrow<R>(fn: (connection: Connection) => Promise<R>): Promise<R> {
    const connection = await this.#acquire();
    try {
      return await fn(connection);
    } finally {
      this.#release(connection);
    }
  }

  /** The translated statement and its values, checked against each other before anything is sent. */
  #bind(sql: string, params: readonly SqlValue[]): { statement: PreparedSql; values: unknown[] } {
    const statement = this.#statements.get(sql);
    if (params.length !== statement.parameters) {
      throw new FortressError(
        'FX_STORAGE_QUERY',
        `the statement takes ${statement.parameters} parameter(s), ${params.length} given`,
      );
    }
    return { statement, values: toPgValues(params) };
  }

  /** One statement with parameters: translated, prepared once per connection, typed errors. */
  async #query(
    connection: Connection,
    sql: string,
    params: readonly SqlValue[],
    inTransaction: boolean,
  ): Promise<PgResult> {
    const { statement, values } = this.#bind(sql, params);
    const epoch = this.#epoch;
    const name = statement.name === undefined ? undefined : `${statement.name}_${epoch}`;
    const named =
      name !== undefined &&
      (connection.prepared.has(name) || connection.prepared.size < PREPARED_PER_CONNECTION);
    if (named) connection.prepared.add(name);
    try {
      return await connection.client.query(
        named ? { name, text: statement.text, values } : { text: statement.text, values },
      );
    } catch (error) {
      if (named && isStalePlan(error)) {
        // A schema change left prepared plans with the old result columns, here and on every
        // other connection that prepared them: from now on every statement is prepared afresh
        // under a new name. Outside a transaction this statement simply runs again, unprepared;
        // inside one the transaction is run again (the error is retryable).
        if (epoch === this.#epoch) this.#epoch++;
        if (!inTransaction) {
          try {
            return await connection.client.query({ text: statement.text, values });
          } catch (again) {
            throw this.#fail(connection, again);
          }
        }
      }
      throw this.#fail(connection, error);
    }
  }

  /** A statement without parameters (simple protocol: several statements are allowed). */
  async #simple(connection: Connection, sql: string): Promise<PgResult> {
    try {
      return await connection.client.query(sql);
    } catch (error) {
      throw this.#fail(connection, error);
    }
  }

  #fail(connection: Connection, error: unknown): FortressError {
    if (isConnectionFailure(error)) connection.broken = true;
    return this.#error(error);
  }

  /**
   * Runs a statement that ends something (a transaction, a cursor, a savepoint) where its failure
   * must not hide the error being reported. A connection that cannot end its transaction, or whose
   * link failed, is retired rather than handed out again in an unknown state.
   */
  async #quietly(connection: Connection, sql: 'ROLLBACK' | 'COMMIT' | (string & {})): Promise<void> {
    if (connection.broken) return;
    try {
      await connection.client.query(sql);
    } catch (error) {
      if (sql === 'ROLLBACK' || sql === 'COMMIT' || isConnectionFailure(error)) connection.broken = true;
    }
  }

  // --- statements on a connection ----------------------------------------------------------------

  async #run(
    connection: Connection,
    sql: string,
    params: readonly SqlValue[],
    tx: boolean,
  ): Promise<RunResult> {
    const result = await this.#query(connection, sql, params, tx);
    return { changes: changesOf(result), lastInsertRowid: 0 };
  }

  async #runBatch(
    connection: Connection,
    sql: string,
    rows: readonly (readonly SqlValue[])[],
    tx: boolean,
  ): Promise<number> {
    let changes = 0;
    // One after the other, stopping at the first failure, as SQLite does: pg would send queued
    // statements one by one anyway, and outside a transaction the rows after a failure must not run.
    for (const params of rows) changes += changesOf(await this.#query(connection, sql, params, tx));
    return changes;
  }

  async #get<T>(
    connection: Connection,
    sql: string,
    params: readonly SqlValue[],
    tx: boolean,
  ): Promise<T | undefined> {
    const result = await this.#query(connection, sql, params, tx);
    return result.rows[0] as T | undefined;
  }

  async #all<T>(connection: Connection, sql: string, params: readonly SqlValue[], tx: boolean): Promise<T[]> {
    const result = await this.#query(connection, sql, params, tx);
    return result.rows as T[];
  }

  /**
   * Streams through a server-side cursor inside the transaction the connection is in. The cursor
   * is closed when the iteration ends, breaks or throws.
   */
  async *#cursor<T>(
    connection: Connection,
    sql: string,
    params: readonly SqlValue[],
    scope: Scope | undefined,
  ): AsyncGenerator<T, void, undefined> {
    const cursor = `fx_cursor_${++this.#cursors}`;
    const { statement, values } = this.#bind(sql, params);
    try {
      await connection.client.query({
        text: `DECLARE ${cursor} NO SCROLL CURSOR FOR ${statement.text}`,
        values,
      });
    } catch (error) {
      throw this.#fail(connection, error);
    }
    try {
      for (;;) {
        if (scope !== undefined && !scope.open) throw endedError();
        const batch = await this.#simple(connection, `FETCH ${FETCH_ROWS} FROM ${cursor}`);
        for (const row of batch.rows) yield row as T;
        if (batch.rows.length < FETCH_ROWS) return;
      }
    } finally {
      if (scope === undefined || scope.open) await this.#quietly(connection, `CLOSE ${cursor}`);
    }
  }

  async *#iterateAlone<T>(sql: string, params: readonly SqlValue[]): AsyncGenerator<T, void, undefined> {
    // A cursor lives in a transaction: this one only reads, and holds its connection until the
    // iteration ends (or breaks).
    const connection = await this.#acquire();
    let ok = false;
    try {
      await this.#simple(connection, 'BEGIN');
      yield* this.#cursor<T>(connection, sql, params, undefined);
      ok = true;
    } finally {
      await this.#quietly(connection, ok ? 'COMMIT' : 'ROLLBACK');
      this.#release(connection);
    }
  }

  // --- the driver's own statements: join the running transaction body, or borrow a connection --

  #joined(): Joined | undefined {
    if (this.#tracked === 0) return undefined;
    const joined = this.#current.getStore();
    return joined?.scope.open === true ? joined : undefined;
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    const joined = this.#joined();
    if (joined !== undefined) return joined.session.run(sql, params);
    return this.#borrow((c) => this.#run(c, sql, params, false));
  }

  runBatch(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<number> {
    const joined = this.#joined();
    if (joined !== undefined) return joined.session.runBatch(sql, rows);
    if (this.#closed) return Promise.reject(closedError());
    if (rows.length === 0) return Promise.resolve(0);
    return this.#borrow((c) => this.#runBatch(c, sql, rows, false));
  }

  get<T extends object>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    const joined = this.#joined();
    if (joined !== undefined) return joined.session.get<T>(sql, params);
    return this.#borrow((c) => this.#get<T>(c, sql, params, false));
  }

  all<T extends object>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const joined = this.#joined();
    if (joined !== undefined) return joined.session.all<T>(sql, params);
    return this.#borrow((c) => this.#all<T>(c, sql, params, false));
  }

  exec(sql: string): Promise<void> {
    const joined = this.#joined();
    if (joined !== undefined) return joined.session.exec(sql);
    return this.#borrow(async (c) => {
      await this.#simple(c, sql);
    });
  }

  iterate<T extends object>(sql: string, params: readonly SqlValue[] = []): AsyncIterableIterator<T> {
    const joined = this.#joined();
    if (joined !== undefined) return joined.session.iterate<T>(sql, params);
    return this.#iterateAlone<T>(sql, params);
  }

  inTransaction(): boolean {
    return this.#joined() !== undefined;
  }

  transaction<T>(fn: (tx: StorageSession) => Promise<T>): Promise<T> {
    const joined = this.#joined();
    if (joined !== undefined) return joined.session.transaction(fn);
    return this.#transaction(fn, true);
  }

  isolatedTransaction<T>(fn: (tx: StorageSession) => Promise<T>): Promise<T> {
    // Never joins a running transaction, even from inside its body: a connection of its own.
    // Statements the body issues through the driver (not `tx`) stay where they would have gone.
    return this.#transaction(fn, false);
  }

  // --- transactions ------------------------------------------------------------------------------

  async #transaction<T>(fn: (tx: StorageSession) => Promise<T>, route: boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        // Jittered and growing, so transactions that collided do not collide again in lockstep.
        await sleep(Math.random() * Math.min(2 ** attempt, 100));
      }
      const scope: Scope = { open: true, retry: false, savepoints: 0 };
      const connection = await this.#acquire();
      try {
        return await this.#attempt(connection, scope, fn, route);
      } catch (error) {
        if (!(scope.retry && attempt < MAX_ATTEMPTS && !this.#closed)) throw error;
      } finally {
        this.#release(connection);
      }
    }
  }

  async #attempt<T>(
    connection: Connection,
    scope: Scope,
    fn: (tx: StorageSession) => Promise<T>,
    route: boolean,
  ): Promise<T> {
    await this.#simple(connection, 'BEGIN ISOLATION LEVEL SERIALIZABLE');
    const session = this.#session(connection, scope);
    let result: T;
    try {
      result = route ? await this.#tracking({ session, scope }, () => fn(session)) : await fn(session);
    } catch (error) {
      scope.open = false;
      await this.#quietly(connection, 'ROLLBACK');
      // The body's own error, unchanged: statement errors were already typed where they arose.
      throw error;
    }
    scope.open = false;
    let commit: PgResult;
    try {
      commit = await this.#simple(connection, 'COMMIT');
    } catch (error) {
      if (isRetryable(error)) scope.retry = true;
      await this.#quietly(connection, 'ROLLBACK');
      throw error;
    }
    if (commit.command === 'ROLLBACK') {
      // PostgreSQL answers COMMIT with ROLLBACK when a statement failed and the body went on.
      throw new FortressError(
        scope.retry ? 'FX_STORAGE_BUSY' : 'FX_STORAGE',
        'the transaction was rolled back: one of its statements failed and the body did not stop',
      );
    }
    return result;
  }

  async #tracking<T>(joined: Joined, fn: () => Promise<T>): Promise<T> {
    this.#tracked++;
    try {
      return await this.#current.run(joined, fn);
    } finally {
      // Keep async-context tracking on only while some transaction body runs.
      if (--this.#tracked === 0) this.#current.disable();
    }
  }

  /**
   * The session handed to a transaction body. Once the transaction ends it refuses every call: a
   * late statement must never land in whatever runs on the connection next.
   */
  #session(connection: Connection, scope: Scope): StorageSession {
    const guard = async <R>(fn: () => Promise<R>): Promise<R> => {
      if (!scope.open) throw endedError();
      try {
        return await fn();
      } catch (error) {
        if (isRetryable(error)) scope.retry = true;
        throw error;
      }
    };
    const session: StorageSession = {
      run: (sql, params = []) => guard(() => this.#run(connection, sql, params, true)),
      runBatch: (sql, rows) => guard(() => this.#runBatch(connection, sql, rows, true)),
      get: <R extends object>(sql: string, params: readonly SqlValue[] = []) =>
        guard(() => this.#get<R>(connection, sql, params, true)),
      all: <R extends object>(sql: string, params: readonly SqlValue[] = []) =>
        guard(() => this.#all<R>(connection, sql, params, true)),
      exec: (sql) =>
        guard(async () => {
          await this.#simple(connection, sql);
        }),
      iterate: <R extends object>(sql: string, params: readonly SqlValue[] = []) => {
        if (!scope.open) throw endedError();
        return this.#trackedCursor<R>(connection, sql, params, scope);
      },
      transaction: async <R>(inner: (tx: StorageSession) => Promise<R>): Promise<R> => {
        const name = `fx_sp_${++scope.savepoints}`;
        await guard(() => this.#simple(connection, `SAVEPOINT ${name}`));
        let result: R;
        try {
          result = await inner(session);
        } catch (error) {
          if (scope.open) {
            await this.#quietly(connection, `ROLLBACK TO SAVEPOINT ${name}`);
            await this.#quietly(connection, `RELEASE SAVEPOINT ${name}`);
          }
          throw error;
        }
        await guard(() => this.#simple(connection, `RELEASE SAVEPOINT ${name}`));
        return result;
      },
    };
    return session;
  }

  async *#trackedCursor<T>(
    connection: Connection,
    sql: string,
    params: readonly SqlValue[],
    scope: Scope,
  ): AsyncGenerator<T, void, undefined> {
    try {
      yield* this.#cursor<T>(connection, sql, params, scope);
    } catch (error) {
      if (isRetryable(error)) scope.retry = true;
      throw error;
    }
  }

  close(): Promise<void> {
    // pg's Pool.end waits for every borrowed connection to come back (running transactions and
    // iterations finish), then disconnects; new work is refused from now on.
    this.#closing ??= (async () => {
      this.#closed = true;
      await this.#pool.end();
      this.#current.disable();
    })();
    return this.#closing;
  }
}
