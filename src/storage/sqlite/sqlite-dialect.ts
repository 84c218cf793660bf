/**
 * @module storage/sqlite/sqlite-dialect
 * The embedded backend: SQLite through better-sqlite3, in WAL mode. better-sqlite3 is synchronous,
 * which makes single statements cheap (no thread hop) and atomic; transactions whose body awaits
 * are serialised by a lock, so statements from other callers never land inside them.
 *
 * Durability: `synchronous: 'full'` (default) fsyncs the WAL at every commit, so an acknowledged
 * write survives a process crash and a power loss; `'normal'` survives a process crash only.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { assertInteger, assertOptions, assertString } from '../../util/bytes.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import { StorageConstraintError, type ConstraintKind } from '../constraint-error.js';
import type {
  Dialect,
  RunResult,
  SqlSpelling,
  SqlValue,
  StorageCapabilities,
  StorageDriver,
  StorageSession,
} from '../dialect.js';

/** The slice of better-sqlite3 this driver uses. */
interface SqliteStatement {
  readonly reader: boolean;
  run(...params: readonly SqlValue[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: readonly SqlValue[]): unknown;
  all(...params: readonly SqlValue[]): unknown[];
  iterate(...params: readonly SqlValue[]): IterableIterator<unknown>;
  safeIntegers(toggle?: boolean): SqliteStatement;
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  /** SQLite3MultipleCiphers only: sets the page key before the first read. */
  key?(key: Buffer): number;
  exec(sql: string): SqliteDatabase;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): SqliteDatabase;
}
type SqliteConstructor = new (
  path: string,
  options?: { fileMustExist?: boolean; timeout?: number },
) => SqliteDatabase;

const require = createRequire(import.meta.url);

export interface SqliteDialectOptions {
  /** Database file (created unless `mustExist`), or `:memory:`. */
  readonly path: string;
  /** @default 'full' */
  readonly synchronous?: 'full' | 'normal';
  /** How long to wait for another process's lock. @default 5000 */
  readonly busyTimeoutMs?: number;
  /** Prepared statements kept per connection. @default 256 */
  readonly statementCacheSize?: number;
  /**
   * Page cache per connection, in KiB. SQLite's own default (2 MiB) makes every lookup in a table
   * larger than that a system call; 16 MiB keeps the hot part of a sizeable table in memory while
   * the process stays small (see docs/benchmarks.md: RSS over a million rows).
   * @default 16384
   */
  readonly cacheSizeKiB?: number;
  /**
   * Write-ahead-log pages after which a commit checkpoints them into the database file (and, with
   * `synchronous: 'normal'`, the only fsyncs happen). SQLite's default of 1,000 pages (4 MiB) makes
   * bulk writes checkpoint and fsync every few thousand rows; 8,192 (32 MiB) measured ~+20 % bulk
   * insert throughput with no cost to reads (see docs/benchmarks.md). After a checkpoint the WAL
   * file is truncated back to at most this size.
   * @default 8192
   */
  readonly walAutocheckpointPages?: number;
  /** Refuse to create a new file. @default false */
  readonly mustExist?: boolean;
  /**
   * Page-level encryption: a 32-byte key. The database then opens through SQLite3MultipleCiphers
   * (ChaCha20-Poly1305 per page), so tables, indexes, free pages and the write-ahead log are all
   * ciphertext on disk. The bytes are copied into the driver and the copy zeroed at once.
   */
  readonly pageKey?: Uint8Array;
}

const CAPABILITIES: StorageCapabilities = Object.freeze({
  returning: true,
  transactionalDdl: true,
  concurrentWriters: false,
  rowid: true,
  blobConcat: true,
  placeholders: 'question',
});

/** Exactly the words Fortress has always written: existing files keep their schema. */
export const SQLITE_SPELLING: SqlSpelling = Object.freeze({
  int64: 'INTEGER',
  float64: 'REAL',
  bytes: 'BLOB',
  text: 'TEXT',
  autoId: 'INTEGER PRIMARY KEY',
  true: '1',
  false: '0',
  withoutRowid: ' WITHOUT ROWID',
  indexNullsFirst: '',
  bytesContainText: (column: string) => `instr(CAST(${column} AS TEXT), ?) > 0`,
  maxIdentifierLength: null,
  checkpointLog: 'PRAGMA wal_checkpoint(TRUNCATE)',
});

/** The kind of a broken constraint, from SQLite's extended result code. */
function constraintKind(code: string): ConstraintKind {
  switch (code) {
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_ROWID':
      return 'unique';
    case 'SQLITE_CONSTRAINT_NOTNULL':
      return 'not-null';
    case 'SQLITE_CONSTRAINT_FOREIGNKEY':
      return 'foreign-key';
    case 'SQLITE_CONSTRAINT_CHECK':
      return 'check';
    default:
      return 'other';
  }
}

/** Maps SQLite's errors to stable codes; the message keeps SQLite's words (never bound values). */
export function storageError(error: unknown): FortressError {
  if (error instanceof FortressError) return error;
  const raw = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' ? raw : '';
  const message = error instanceof Error ? error.message : String(error);
  if (code.startsWith('SQLITE_CONSTRAINT'))
    return new StorageConstraintError(constraintKind(code), message, { cause: error });
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new FortressError('FX_STORAGE_BUSY', message, { cause: error });
  }
  if (code === 'SQLITE_ERROR' || error instanceof RangeError || error instanceof TypeError) {
    return new FortressError('FX_STORAGE_QUERY', message, { cause: error });
  }
  return new FortressError('FX_STORAGE', message, { cause: error });
}

/** Integers come back as bigint from SQLite; those that fit a double exactly become numbers. */
function normalizeRow(row: unknown): Record<string, unknown> {
  const record = row as Record<string, unknown>;
  for (const key in record) {
    const value = record[key];
    if (typeof value === 'bigint' && value >= -9007199254740991n && value <= 9007199254740991n) {
      record[key] = Number(value);
    }
  }
  return record;
}

/**
 * @example
 * ```ts
 * const db = await new SqliteDialect({ path: './data/fortress.db' }).createDriver();
 * await db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)');
 * await db.transaction(async (tx) => { await tx.run('INSERT INTO t (v) VALUES (?)', [bytes]); });
 * ```
 */
export class SqliteDialect implements Dialect {
  readonly name = 'sqlite';
  readonly capabilities: StorageCapabilities = CAPABILITIES;
  readonly #options: Required<Omit<SqliteDialectOptions, 'pageKey'>>;
  readonly #pageKey: Buffer | null;
  #pageKeyUsed = false;

  constructor(options: SqliteDialectOptions) {
    assertOptions(options, 'options');
    assertString(options.path, 'path');
    if (options.path.length === 0) throw new InvalidArgumentError('path', 'must not be empty');
    const synchronous: unknown = options.synchronous ?? 'full';
    if (synchronous !== 'full' && synchronous !== 'normal') {
      throw new InvalidArgumentError('synchronous', 'expected "full" or "normal"');
    }
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    assertInteger(busyTimeoutMs, 'busyTimeoutMs', 0, 600_000);
    const cacheSizeKiB = options.cacheSizeKiB ?? 16_384;
    assertInteger(cacheSizeKiB, 'cacheSizeKiB', 64, 16 * 1024 * 1024);
    const statementCacheSize = options.statementCacheSize ?? 256;
    assertInteger(statementCacheSize, 'statementCacheSize', 1, 100_000);
    const walAutocheckpointPages = options.walAutocheckpointPages ?? 8192;
    assertInteger(walAutocheckpointPages, 'walAutocheckpointPages', 1, 1_000_000);
    if (
      options.pageKey !== undefined &&
      (!(options.pageKey instanceof Uint8Array) || options.pageKey.length !== 32)
    ) {
      throw new InvalidArgumentError('pageKey', 'expected 32 bytes');
    }
    this.#pageKey = options.pageKey === undefined ? null : Buffer.from(options.pageKey);
    this.#options = {
      path: options.path,
      synchronous,
      busyTimeoutMs,
      statementCacheSize,
      cacheSizeKiB,
      walAutocheckpointPages,
      mustExist: options.mustExist ?? false,
    };
  }

  createDriver(): Promise<StorageDriver> {
    if (this.#pageKeyUsed) {
      return Promise.reject(
        new FortressError(
          'FX_STORAGE',
          'a page-keyed dialect opens one driver (its key copy is zeroed once used)',
        ),
      );
    }
    try {
      const Database = require(
        this.#pageKey === null ? 'better-sqlite3' : 'better-sqlite3-multiple-ciphers',
      ) as SqliteConstructor;
      const db = new Database(this.#options.path, {
        fileMustExist: this.#options.mustExist,
        timeout: this.#options.busyTimeoutMs,
      });
      try {
        if (this.#pageKey !== null) {
          db.pragma("cipher = 'chacha20'");
          // 'raw:' + 32 bytes: the key is used as is (no passphrase derivation); never a JS string.
          const material = Buffer.alloc(36);
          material.write('raw:', 0, 'latin1');
          this.#pageKey.copy(material, 4);
          try {
            db.key!(material);
          } finally {
            // Neither copy outlives the open: the key lives on only inside SQLite's codec.
            material.fill(0);
            this.#pageKey.fill(0);
            this.#pageKeyUsed = true;
          }
        }
        // The first statement that reads the file: a wrong page key fails here (SQLITE_NOTADB).
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${this.#options.synchronous.toUpperCase()}`);
        db.pragma('foreign_keys = ON');
        db.pragma(`cache_size = -${this.#options.cacheSizeKiB}`);
        db.pragma(`wal_autocheckpoint = ${this.#options.walAutocheckpointPages}`);
        // The WAL file keeps its largest size otherwise; truncate it back after checkpoints.
        db.pragma(`journal_size_limit = ${this.#options.walAutocheckpointPages * 4096}`);
        // Deleted or overwritten content is zeroed in the file, not just unlinked (crypto-shredding
        // of wrapped keys relies on it; free pages never keep old ciphertext around).
        db.pragma('secure_delete = ON');
      } catch (error) {
        db.close();
        throw error;
      }
      return Promise.resolve(new SqliteDriver(db, this.#options.statementCacheSize));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'SQLITE_NOTADB' && this.#pageKey !== null) {
        return Promise.reject(
          new FortressError(
            'FX_INTEGRITY',
            `cannot open the database ${this.#options.path}: wrong page key, or not an encrypted Fortress database`,
            { cause: error },
          ),
        );
      }
      return Promise.reject(
        new FortressError('FX_STORAGE', `cannot open the database ${this.#options.path}: ${message}`, {
          cause: error,
        }),
      );
    }
  }
}

class SqliteDriver implements StorageDriver {
  readonly dialect = 'sqlite';
  readonly capabilities: StorageCapabilities = CAPABILITIES;
  readonly spelling: SqlSpelling = SQLITE_SPELLING;
  readonly #db: SqliteDatabase;
  readonly #cacheSize: number;
  readonly #statements = new Map<string, SqliteStatement>();
  /** Resolves when the connection is free; a transaction or an iteration holds it. */
  #lock: Promise<void> = Promise.resolve();
  #held = false;
  #closed = false;
  #savepoints = 0;
  /**
   * The transaction whose body is running in the current async context. Statements issued from
   * inside a transaction body — through the session or through the driver itself — run in that
   * transaction, so code called from a transaction (the key store, a helper that was handed the
   * driver) cannot deadlock waiting for the connection the transaction holds.
   */
  readonly #current = new AsyncLocalStorage<StorageSession>();

  constructor(db: SqliteDatabase, cacheSize: number) {
    this.#db = db;
    this.#cacheSize = cacheSize;
  }

  #statement(sql: string): SqliteStatement {
    if (this.#closed) throw new FortressError('FX_STORAGE_CLOSED', 'the database is closed');
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql).safeIntegers(true);
      this.#statements.set(sql, statement);
      if (this.#statements.size > this.#cacheSize) {
        const oldest = this.#statements.keys().next().value!;
        this.#statements.delete(oldest);
      }
    }
    return statement;
  }

  /** Holds the connection for the duration of `fn` (transactions, iterations). */
  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.#acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Waits for the connection, holds it, and returns the function that frees it. */
  async #acquire(): Promise<() => void> {
    const previous = this.#lock;
    let free!: () => void;
    this.#lock = new Promise<void>((resolve) => {
      free = resolve;
    });
    await previous;
    this.#held = true;
    return () => {
      this.#held = false;
      free();
    };
  }

  /** Runs a synchronous statement now if the connection is free, otherwise after the holder. */
  #whenFree<T>(fn: () => T): Promise<T> {
    if (!this.#held) {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(storageError(error));
      }
    }
    return this.#exclusive(() => Promise.resolve(fn())).catch((error: unknown) => {
      throw storageError(error);
    });
  }

  // Direct (lock-free) operations, used by the driver when free and by transaction sessions.
  #run(sql: string, params: readonly SqlValue[]): RunResult {
    const result = this.#statement(sql).run(...params);
    return { changes: result.changes, lastInsertRowid: result.lastInsertRowid };
  }

  #runBatch(sql: string, rows: readonly (readonly SqlValue[])[]): number {
    const statement = this.#statement(sql);
    let changes = 0;
    for (const params of rows) changes += statement.run(...params).changes;
    return changes;
  }

  #get(sql: string, params: readonly SqlValue[]): Record<string, unknown> | undefined {
    const row = this.#statement(sql).get(...params);
    return row === undefined ? undefined : normalizeRow(row);
  }

  #all(sql: string, params: readonly SqlValue[]): Record<string, unknown>[] {
    return this.#statement(sql)
      .all(...params)
      .map((row) => normalizeRow(row));
  }

  #exec(sql: string): void {
    if (this.#closed) throw new FortressError('FX_STORAGE_CLOSED', 'the database is closed');
    this.#db.exec(sql);
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    const current = this.#held ? this.#current.getStore() : undefined;
    if (current !== undefined) return current.run(sql, params);
    return this.#whenFree(() => this.#run(sql, params));
  }

  runBatch(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<number> {
    const current = this.#held ? this.#current.getStore() : undefined;
    if (current !== undefined) return current.runBatch(sql, rows);
    return this.#whenFree(() => this.#runBatch(sql, rows));
  }

  get<T extends object>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    const current = this.#held ? this.#current.getStore() : undefined;
    if (current !== undefined) return current.get<T>(sql, params);
    return this.#whenFree<T | undefined>(() => this.#get(sql, params) as T | undefined);
  }

  all<T extends object>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const current = this.#held ? this.#current.getStore() : undefined;
    if (current !== undefined) return current.all<T>(sql, params);
    return this.#whenFree<T[]>(() => this.#all(sql, params) as T[]);
  }

  exec(sql: string): Promise<void> {
    const current = this.#held ? this.#current.getStore() : undefined;
    if (current !== undefined) return current.exec(sql);
    return this.#whenFree(() => {
      this.#exec(sql);
    });
  }

  /** True when called from inside a transaction body of this driver. */
  inTransaction(): boolean {
    return this.#held && this.#current.getStore() !== undefined;
  }

  iterate<T extends object>(sql: string, params: readonly SqlValue[] = []): AsyncIterableIterator<T> {
    const current = this.#held ? this.#current.getStore() : undefined;
    if (current !== undefined) return current.iterate<T>(sql, params);
    return this.#iterateHeld<T>(sql, params);
  }

  async *#iterateHeld<T>(sql: string, params: readonly SqlValue[]): AsyncIterableIterator<T> {
    const release = await this.#acquire();
    try {
      yield* this.#iterateDirect<T>(sql, params);
    } finally {
      release();
    }
  }

  // Async so every session offers the same streaming API; better-sqlite3 itself reads synchronously.
  // eslint-disable-next-line @typescript-eslint/require-await
  async *#iterateDirect<T>(sql: string, params: readonly SqlValue[]): AsyncIterableIterator<T> {
    let iterator: IterableIterator<unknown>;
    try {
      iterator = this.#statement(sql).iterate(...params);
    } catch (error) {
      throw storageError(error);
    }
    try {
      for (;;) {
        let next: IteratorResult<unknown>;
        try {
          next = iterator.next();
        } catch (error) {
          throw storageError(error);
        }
        if (next.done === true) return;
        yield normalizeRow(next.value) as T;
      }
    } finally {
      iterator.return?.();
    }
  }

  transaction<T>(fn: (tx: StorageSession) => Promise<T>): Promise<T> {
    const current = this.#held ? this.#current.getStore() : undefined;
    if (current !== undefined) return current.transaction(fn);
    return this.#exclusive(async () => {
      try {
        return await this.#transactionBody(fn);
      } finally {
        // Async-context tracking costs every promise in the process something (Node 20 tracks
        // them through async hooks while any AsyncLocalStorage is enabled): keep it on only while
        // a transaction runs. Transactions are serialised, so none is running after this one.
        this.#current.disable();
      }
    });
  }

  isolatedTransaction<T>(fn: (tx: StorageSession) => Promise<T>): Promise<T> {
    // Never joins a running transaction, even when called from inside its body (a group commit
    // scheduled from there must not commit or roll back with it): it waits for the lock.
    return this.#exclusive(() => this.#transactionBody(fn, false));
  }

  async #transactionBody<T>(fn: (tx: StorageSession) => Promise<T>, route = true): Promise<T> {
    try {
      this.#exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw storageError(error);
    }
    const scope = { open: true };
    const session = this.#session(scope);
    let result: T;
    try {
      result = route ? await this.#current.run(session, () => fn(session)) : await fn(session);
    } catch (error) {
      scope.open = false;
      this.#rollback('ROLLBACK');
      // The body's own error, unchanged: statement errors were already typed where they arose.
      throw error;
    }
    scope.open = false;
    try {
      this.#exec('COMMIT');
    } catch (error) {
      this.#rollback('ROLLBACK');
      throw storageError(error);
    }
    return result;
  }

  #rollback(sql: string): void {
    try {
      this.#exec(sql);
    } catch {
      // The transaction may already have been rolled back by SQLite itself.
    }
  }

  /**
   * The session handed to a transaction body: direct access, nested transactions as savepoints.
   * Once the transaction ends, the session refuses every call: a late statement must never land in
   * whatever runs on the connection next.
   */
  #session(scope: { open: boolean }): StorageSession {
    const wrap = <R>(fn: () => R): Promise<R> => {
      if (!scope.open) {
        return Promise.reject(new FortressError('FX_STORAGE_CLOSED', 'the transaction has already ended'));
      }
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(storageError(error));
      }
    };
    const session: StorageSession = {
      run: (sql, params = []) => wrap(() => this.#run(sql, params)),
      runBatch: (sql, rows) => wrap(() => this.#runBatch(sql, rows)),
      get: <R extends object>(sql: string, params: readonly SqlValue[] = []) =>
        wrap<R | undefined>(() => this.#get(sql, params) as R | undefined),
      all: <R extends object>(sql: string, params: readonly SqlValue[] = []) =>
        wrap<R[]>(() => this.#all(sql, params) as R[]),
      exec: (sql) =>
        wrap(() => {
          this.#exec(sql);
        }),
      iterate: <R extends object>(sql: string, params: readonly SqlValue[] = []) => {
        if (!scope.open) throw new FortressError('FX_STORAGE_CLOSED', 'the transaction has already ended');
        return this.#iterateDirect<R>(sql, params);
      },
      transaction: async <R>(inner: (tx: StorageSession) => Promise<R>): Promise<R> => {
        const name = `fx_sp_${++this.#savepoints}`;
        await wrap(() => {
          this.#exec(`SAVEPOINT ${name}`);
        });
        let result: R;
        try {
          result = await inner(session);
        } catch (error) {
          this.#rollback(`ROLLBACK TO ${name}`);
          this.#rollback(`RELEASE ${name}`);
          throw error;
        }
        try {
          this.#exec(`RELEASE ${name}`);
        } catch (error) {
          throw storageError(error);
        }
        return result;
      },
    };
    return session;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#lock;
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
  }
}
