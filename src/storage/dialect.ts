/**
 * @module storage/dialect
 * The storage layer's contract, in the style of Kysely's dialects: a small driver interface every
 * backend implements (SQLite now, PostgreSQL next), capability flags for the differences that the
 * layers above must know about, and nothing else. Storage only ever sees ciphertext, blind indexes
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
   * Nested calls become savepoints.
   */
  transaction<T>(fn: (tx: StorageSession) => Promise<T>): Promise<T>;
}

/** An open database. */
export interface StorageDriver extends StorageSession {
  readonly dialect: string;
  readonly capabilities: StorageCapabilities;
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
  isolatedTransaction<T>(fn: (tx: StorageSession) => Promise<T>): Promise<T>;
  /** Closes the database; every later call fails with `FX_STORAGE_CLOSED`. Idempotent. */
  close(): Promise<void>;
}

/** A backend: knows how to open a driver. */
export interface Dialect {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  createDriver(): Promise<StorageDriver>;
}
