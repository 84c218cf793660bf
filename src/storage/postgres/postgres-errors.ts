/**
 * @module storage/postgres/postgres-errors
 * PostgreSQL's errors as Fortress's stable storage codes — the same codes the SQLite dialect raises
 * for the same situation, so code above never looks at a backend's own error codes.
 *
 * Messages keep PostgreSQL's words for the statement (table, column and constraint names) plus the
 * SQLSTATE, but never bound values: the server's `detail` ("Key (id)=(42) already exists"), `where`
 * and `internalQuery` fields are dropped, data-exception messages have their quoted literals
 * redacted, and the raw error is not kept as `cause` (a logger would print its `detail`). Nothing
 * here ever sees the connection password; the driver redacts it once more before anything leaves.
 *
 * A server that cannot be reached — connection refused, reset or cut, the server shutting down,
 * starting up or out of connection slots — is `FX_STORAGE_UNAVAILABLE`: a condition that passes
 * (the server answers 503 and clients retry), unlike `FX_STORAGE`, which means something is wrong.
 */
import { FortressError } from '../../util/errors.js';
import { StorageConstraintError, type ConstraintKind } from '../constraint-error.js';

/** SQLSTATEs after which running the whole transaction again may succeed. */
const RETRYABLE_STATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

const retryable = new WeakSet<FortressError>();

/** Integrity-constraint SQLSTATEs (class 23) by the kind of constraint broken. */
const CONSTRAINT_KINDS: Readonly<Record<string, ConstraintKind>> = {
  '23505': 'unique',
  '23502': 'not-null',
  '23503': 'foreign-key',
  '23514': 'check',
};

/**
 * True for a failure that says nothing about the statement, only about its timing: a
 * serialization failure or deadlock (the transaction can simply run again), or a prepared plan
 * that went stale under a schema change (the statement can run again unprepared).
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof FortressError && retryable.has(error);
}

/** The SQLSTATE of a PostgreSQL server error, or undefined for client-side and network errors. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  // Server errors carry a severity; Node's system errors (ECONNREFUSED, …) carry a code only.
  return typeof code === 'string' && code.length === 5 && typeof severity === 'string' ? code : undefined;
}

/** Node's socket and name-resolution errors: the server could not be reached, or the link broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** pg's own words for a connection that broke or could not be made in time (they carry no code). */
const LOST_CONNECTION =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/;

/**
 * SQLSTATEs that say the server cannot serve this connection now, though it may in a moment:
 * class 08 (connection exception), 57P01/57P02 (the server terminated the session: shutdown or
 * a crashed backend), 57P03 (cannot connect now: starting up, shutting down, in recovery) and
 * 53300 (too many connections).
 */
function isUnavailableState(state: string): boolean {
  return (
    state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03' || state === '53300'
  );
}

/** A socket-level failure: Node's error code, on the error itself or (Happy Eyeballs) on one of several. */
function isNetworkError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (error instanceof AggregateError) return error.errors.some(isNetworkError);
  return error instanceof Error && LOST_CONNECTION.test(error.message);
}

/**
 * True when the failure means the connection itself is gone or unusable (the pool must not hand it
 * out again): network errors, connection-class SQLSTATEs and server shutdowns.
 */
export function isConnectionFailure(error: unknown): boolean {
  const state = sqlState(error);
  if (state === undefined) return !(error instanceof FortressError);
  return state.startsWith('08') || state.startsWith('57P') || state === '53300';
}

/** `cached plan must not change result type`: a prepared `SELECT *` outlived an ALTER TABLE. */
export function isStalePlan(error: unknown): boolean {
  return (
    sqlState(error) === '0A000' &&
    error instanceof Error &&
    error.message.startsWith('cached plan must not change result type')
  );
}

/** Data-exception messages may quote the offending value: keep the words, drop the literals. */
function redactLiterals(message: string): string {
  const colon = message.indexOf(': ');
  const head = colon === -1 ? message : message.slice(0, colon);
  return head.replace(/"(?:[^"]|"")*"/g, '"…"').replace(/'(?:[^']|'')*'/g, "'…'");
}

/**
 * Maps any error from pg to a FortressError. `where` names the server ("PostgreSQL at
 * host:port/db") for connection failures; `redact` removes secrets from the final message.
 */
export function postgresError(
  error: unknown,
  where: string,
  redact: (message: string) => string = (message) => message,
): FortressError {
  if (error instanceof FortressError) return error;
  const raw = error instanceof Error ? error.message : String(error);
  const state = sqlState(error);
  if (state === undefined) {
    // Network and client-side failures: ECONNREFUSED, timeouts, "Connection terminated", TLS. A
    // refused connection to a name with several addresses is an AggregateError without a message.
    const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
    const text = raw !== '' ? raw : typeof code === 'string' ? code : 'connection failed';
    return new FortressError(
      isNetworkError(error) ? 'FX_STORAGE_UNAVAILABLE' : 'FX_STORAGE',
      redact(`${where}: ${text}`),
    );
  }
  const cls = state.slice(0, 2);
  const message = cls === '22' ? redactLiterals(raw) : raw;
  const text = redact(`${message} (SQLSTATE ${state})`);
  let mapped: FortressError;
  if (cls === '23') {
    // unique, foreign key, not null, check, exclusion: nothing was written.
    mapped = new StorageConstraintError(CONSTRAINT_KINDS[state] ?? 'other', text);
  } else if (RETRYABLE_STATES.has(state) || state === '55P03') {
    // A conflict with a concurrent transaction, or a lock that could not be had (lock_timeout):
    // what SQLITE_BUSY means for SQLite.
    mapped = new FortressError('FX_STORAGE_BUSY', text);
    if (RETRYABLE_STATES.has(state)) retryable.add(mapped);
  } else if (
    cls === '42' || // syntax error, undefined table or column, duplicate object
    cls === '22' || // data exception: a value that does not fit its type
    cls === '21' || // cardinality violation
    cls === '0A' || // feature not supported
    cls === '34' || // invalid cursor name
    cls === '26' || // invalid SQL statement name
    cls === '2B' // dependent objects still exist
  ) {
    mapped = new FortressError('FX_STORAGE_QUERY', text);
    if (isStalePlan(error)) retryable.add(mapped);
  } else if (isUnavailableState(state)) {
    // Connection lost, server shutting down or starting up, out of connection slots: name the
    // server; the condition passes.
    mapped = new FortressError('FX_STORAGE_UNAVAILABLE', redact(`${where}: ${message} (SQLSTATE ${state})`));
  } else if (state.startsWith('57P') || cls === '53' || cls === '28' || cls === '3D') {
    // Database dropped, out of memory or disk, authentication, no such database: name the server.
    mapped = new FortressError('FX_STORAGE', redact(`${where}: ${message} (SQLSTATE ${state})`));
  } else {
    mapped = new FortressError('FX_STORAGE', text);
  }
  return mapped;
}
