/**
 * @module storage/cluster
 * What several processes sharing one database need from it beyond SQL: a change feed (so each
 * process knows when another changed keys, tables, policies or tokens it keeps in memory) and locks
 * that die with their holder (so a background job or the checkpoint signer runs once cluster-wide
 * and moves to a survivor when a node dies). Only shared backends have one (PostgreSQL); a SQLite
 * file is one process's, and its caches are always current.
 */

/** A table whose committed writes change a domain's generation. */
export interface TrackedTable {
  readonly table: string;
  /** Which writes count. @default every insert, update and delete */
  readonly on?: readonly ('INSERT' | 'UPDATE' | 'DELETE')[];
}

/** A lock held for this process until `release()` or until its connection to the database dies. */
export interface ClusterLock {
  readonly name: string;
  /** False once released or once the connection holding it was lost (another node may hold it now). */
  readonly held: boolean;
  release(): Promise<void>;
}

export interface ClusterChannel {
  /**
   * Counts every committed write to these tables (by anyone: any node, a psql session) as a change
   * of `domain`. Idempotent; run at every open.
   */
  track(domain: string, tables: readonly TrackedTable[]): Promise<void>;
  /** Every domain's generation now (one statement). A changed number means reload that domain. */
  generations(): Promise<ReadonlyMap<string, number>>;
  /**
   * Calls `listener` with a domain name soon after a change commits (any node's, this one's too),
   * and with `'*'` after the listening connection was lost and re-established (anything may have
   * changed meanwhile). Delivery is best-effort and prompt; `generations()` is the authority.
   */
  onChange(listener: (domain: string) => void): void;
  /** Takes the lock `name` if nobody holds it (never waits). Null: another process holds it. */
  tryLock(name: string): Promise<ClusterLock | null>;
  /**
   * Runs `fn` holding the lock `name`, waiting for it (briefly: for short critical sections such
   * as a key-store mutation) — FX_STORAGE_BUSY after `timeoutMs`.
   */
  exclusive<T>(name: string, fn: () => Promise<T>, timeoutMs?: number): Promise<T>;
  /** Releases every lock and stops listening. Idempotent. */
  close(): Promise<void>;
}
