/**
 * @module engine/access/access-log
 * What the engine tells the audit trail about each access, without knowing how it is recorded
 * (the engine does not import the audit layer; `fortress.ts` wires an implementation in). Row keys
 * and query literals are passed as values: the recorder replaces them with keyed digests before
 * anything is stored.
 */
import type { StorageSession } from '../../storage/dialect.js';
import { MAX_WHERE_DEPTH } from '../query/where.js';

/**
 * Who acts and which policy let them (policy sessions, `db.as()`); absent for the embedded
 * process itself, which the recorder names.
 */
export interface AccessActor {
  readonly principal: { readonly type: string; readonly id: string; readonly tenant: string };
  /** The policies (by id) that allowed the operation. */
  readonly policies: readonly string[];
  /** Allowed by a break-glass policy: recorded with a flag and a warning. */
  readonly breakGlass: boolean;
  /** The client's network address (a server's caller), recorded in the entry. */
  readonly client?: string;
}

export interface AccessEvent {
  /** Dotted verb: `table.get`, `table.insert`, `schema.createTable`, … */
  readonly action: string;
  readonly table?: string;
  readonly column?: string;
  /** Primary keys read or written (digested by the recorder; at most 1000 are kept). */
  readonly rows?: readonly unknown[];
  /** Rows returned or changed. */
  readonly rowCount?: number;
  /** Literal values of a query's filter (digested by the recorder). */
  readonly literals?: readonly unknown[];
  /** Column names involved (not sensitive: they are schema). */
  readonly columns?: readonly string[];
  /** The acting principal and deciding policies (absent: the embedded process). */
  readonly actor?: AccessActor;
  /** The operation was refused by policy: these policies (or none: no permit) denied it. */
  readonly denied?: readonly string[];
}

/** Records accesses; both methods fail (FX_AUDIT_UNAVAILABLE) when the entry cannot be stored. */
export interface AccessLog {
  /**
   * Records inside a running transaction. A write's entry commits (or not) with the write. With
   * `keepOnRollback` — a read, or a failure, inside a caller's transaction — the entry must survive
   * that transaction rolling back: the recorder writes it again once the transaction is over.
   */
  within(session: StorageSession, event: AccessEvent, error: unknown, keepOnRollback: boolean): Promise<void>;
  /** Records outside any transaction and resolves once durable (group commit). */
  record(event: AccessEvent, error: unknown): Promise<void>;
  /**
   * The outermost transaction that recorded with `within` committed. Its entries are durable
   * already; this resolves once they are also in the log's order (where several processes share
   * the log they are numbered after the commit), so a read of the log right after sees them.
   */
  committed(): Promise<void>;
}

/**
 * How deep the literal walk goes in the caller's input: each filter level is at most two levels of
 * it (`{ and: [ … ] }`), a column condition three more. A filter nested deeper is refused by the
 * query parser, so nothing past this is a literal of a query that runs — and an unbounded walk of
 * hostile input would overflow the stack before the parser could refuse it.
 */
const MAX_WALK_DEPTH = 2 * MAX_WHERE_DEPTH + 4;

/** The primitive values of a filter (operators and column names are schema, not data). */
export function whereLiterals(where: unknown, out: unknown[] = [], depth = 0): unknown[] {
  if (out.length >= 1000 || depth > MAX_WALK_DEPTH) return out;
  if (where === null || where === undefined) return out;
  if (Array.isArray(where)) {
    for (const item of where) whereLiterals(item, out, depth + 1);
    return out;
  }
  if (typeof where === 'object' && !(where instanceof Date) && !(where instanceof Uint8Array)) {
    for (const value of Object.values(where as Record<string, unknown>)) whereLiterals(value, out, depth + 1);
    return out;
  }
  out.push(where);
  return out;
}
