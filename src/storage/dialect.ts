/**
 * @module storage/dialect
 * The storage layer's contract, in the style of Kysely's dialects: a small driver interface every
 * backend implements (SQLite, PostgreSQL), capability flags for the differences that the layers
 * above must know about, the backend's spelling of the few SQL words that differ, and nothing else. Storage only ever sees ciphertext, blind indexes
 * and plaintext columns the schema declared plaintext: it imports neither `crypto/` nor `keys/`.
 *
 * Every backend passes the shared conformance suite (test/storage/storage.case.ts).
 */

/** A value bound to or read from SQL. Integers beyond 2^53 come back as bigint. */
export type SqlValue = null | number | bigint | string | Uint8Array;

export interface RunResult {
  /** Rows inserted, updated or deleted. */
  readonly changes: number;
  /** Row id of the last insert (SQLite); 0 where the backend has none. */
  readonly lastInsertRowid: number | bigint;
}

/** What differs between backends. Code above branches on these, never on a backend's name. */
export interface StorageCapabilities {
  /** `INSERT … RETURNING` works. */
  readonly returning: boolean;
  /** DDL can run inside a transaction and roll back. */
  readonly transactionalDdl: boolean;
  /** Several transactions can write at once (false: writes are serialised). */
  readonly concurrentWriters: boolean;
  /**
   * Every table has an implicit, indexed `rowid` that index lookups return in order (SQLite). The
   * engine pages by it when the caller asked for no order, so an index lookup needs no sort.
   */
  readonly rowid: boolean;
  /**
   * `CAST(a || b AS BLOB)` concatenates blobs byte for byte and `octet_length()` measures them
   * (SQLite). The engine then reads a row's envelopes as one blob: drivers pay per value fetched,
   * and one blob costs a fraction of four.
   */
  readonly blobConcat: boolean;
  /** Placeholder style: `?` (SQLite) or `$1` (PostgreSQL). */
  readonly placeholders: 'question' | 'dollar';
}

/** The column types the layers above declare, named by what they hold (see {@link SqlSpelling}). */
export type SqlColumnType = 'int64' | 'float64' | 'bytes' | 'text';

/**
 * How SQL is spelled where backends disagree. The layers above write one statement for every
 * backend and take the differing words from here — column types, literals, a few expressions —
 * never from a backend's name. Everything else they write is the common subset SQLite and
 * PostgreSQL both accept: `?` placeholders, `INSERT … ON CONFLICT … DO UPDATE`, `RETURNING`,
 * `NULLS FIRST`/`NULLS LAST`, `substr`, `length`, `coalesce`, `count`, `max`.
 *
 * A backend's spellings never change once a database exists: they are part of its on-disk schema
 * (SQLite's are exactly what Fortress always wrote, so older files read and compare unchanged).
 */
export interface SqlSpelling {
  /** A 64-bit signed integer column (SQLite: `INTEGER`, already 64-bit; PostgreSQL: `BIGINT`). */
  readonly int64: string;
  /** A double-precision float column (`REAL` / `DOUBLE PRECISION`). */
  readonly float64: string;
  /** A byte-string column (`BLOB` / `BYTEA`). */
  readonly bytes: string;
  /**
   * A text column that compares and sorts by code point, as SQLite's default BINARY collation
   * does (`TEXT` / `TEXT COLLATE "C"`): orderings, ranges and keyset cursors then agree with the
   * engine's in-memory comparison on every backend, whatever the server's default collation.
   */
  readonly text: string;
  /**
   * An integer primary key the database numbers itself when an insert leaves it out; read the new
   * value back with `INSERT … RETURNING` (SQLite: `INTEGER PRIMARY KEY`; PostgreSQL: an identity).
   */
  readonly autoId: string;
  /** A condition that always holds (`1` / `TRUE`). */
  readonly true: string;
  /** A condition that never holds (`0` / `FALSE`). */
  readonly false: string;
  /**
   * Appended to `CREATE TABLE (…)` for a table whose primary key is all it is looked up by: SQLite
   * then stores rows in the key's B-tree (no separate rowid); empty where that is not a thing.
   */
  readonly withoutRowid: string;
  /**
   * Appended to an index's column so that the index holds nulls first ascending — the order the
   * engine pages in — and can serve it (`''`: SQLite has no other order; ` NULLS FIRST`).
   */
  readonly indexNullsFirst: string;
  /**
   * A condition: the bytes in column `column` contain the UTF-8 text bound to the one `?` placeholder
   * the condition holds. Exact and case-sensitive (LIKE would ignore case).
   */
  bytesContainText(column: string): string;
  /**
   * The longest identifier the backend keeps, in bytes: PostgreSQL silently cuts longer ones to 63
   * (two names could then become one); null where there is no limit (SQLite).
   */
  readonly maxIdentifierLength: number | null;
  /**
   * The statement that folds the write-ahead log into the database file and truncates it (deleted
   * or overwritten values then leave the log as well), run outside any transaction; null where the
   * backend has no such step.
   */
  readonly checkpointLog: string | null;
}

/** Statements on a connection or inside a transaction. */
export interface StorageSession {
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  /**
   * Runs one statement once per parameter list, in order, as one call (bulk inserts and updates:
   * no promise per row). Not atomic by itself — call it inside a transaction. Returns the total of
   * rows changed.
   */
  runBatch(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<number>;
  get<T extends object>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  all<T extends object>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Streams rows; the session is held until the iteration ends (or `break`s). */
  iterate<T extends object>(sql: string, params?: readonly SqlValue[]): AsyncIterableIterator<T>;
  /** Runs one or more statements without parameters (schema changes). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` atomically: everything it does commits together, or — if it throws — nothing does.
   * Nested calls become savepoints. Where writers run concurrently (`concurrentWriters`), `fn` may
   * run again after a serialization failure: it must do nothing but database work through `tx`,
   * and change in-memory state only from what it read, or after the transaction has returned.
   */
  transaction<T>(fn: (tx: StorageSession) => Promise<T>): Promise<T>;
}

/** How an `isolatedTransaction` runs. */
export interface IsolatedTransactionOptions {
  /**
   * `read-committed`: every statement sees what was committed before it began (where writers run
   * concurrently; serialised backends ignore it). Only for bodies that serialise themselves with a
   * row lock taken first — they then always read the latest committed state and never fail with a
   * serialization conflict. `snapshot`: a read-only transaction that sees one consistent state
   * from its first statement (PostgreSQL REPEATABLE READ READ ONLY) — for long reads that must not
   * see concurrent commits halfway, nor make writers fail. @default 'serializable'
   */
  readonly isolation?: 'serializable' | 'read-committed' | 'snapshot';
}

/** An open database. */
export interface StorageDriver extends StorageSession {
  readonly dialect: string;
  readonly capabilities: StorageCapabilities;
  /** The backend's words where SQL differs between backends. */
  readonly spelling: SqlSpelling;
  /**
   * True when called from inside one of this driver's transaction bodies. Statements issued there
   * through the driver itself join that transaction.
   */
  inTransaction(): boolean;
  /**
   * A transaction of its own that never joins a running one: only statements issued through `tx`
   * belong to it, and it waits for any running transaction to end — so a caller inside another
   * transaction's body must not wait for it (that would wait for itself). For bodies that use
   * nothing but `tx`; cheaper where the backend routes driver statements into a running
   * transaction (SQLite tracks async context for that).
   */
  isolatedTransaction<T>(
    fn: (tx: StorageSession) => Promise<T>,
    options?: IsolatedTransactionOptions,
  ): Promise<T>;
  /** Closes the database; every later call fails with `FX_STORAGE_CLOSED`. Idempotent. */
  close(): Promise<void>;
}

/** A backend: knows how to open a driver. */
export interface Dialect {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  createDriver(): Promise<StorageDriver>;
}
