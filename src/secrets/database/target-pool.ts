/**
 * @module secrets/database/target-pool
 * Connections to a target PostgreSQL — the database whose users the engine manages, not Fortress's
 * own storage: a small pool per configured connection (node-postgres, loaded on first use), the
 * connection URL template, and the target's errors as the engine's codes.
 *
 * Every statement list runs in one transaction. Failures are `FX_DB_CONNECTION_FAILED` (the target
 * cannot be reached or refused the login) or `FX_DB_STATEMENT_FAILED` (it rejected a statement),
 * with PostgreSQL's message and SQLSTATE but never its `detail`, and with every password of the
 * call (and the administrator's) replaced by `***`. A failure while COMMIT was in flight leaves
 * the outcome unknown: {@link isIndeterminate} tells the engine, which then keeps what it needs to
 * clean up (a lease to revoke, a pending password) instead of forgetting it.
 */
import { FortressError } from '../../util/errors.js';
import { DatabaseSecretsError } from './database-errors.js';

/** Statements on one target connection inside a transaction. */
export interface TargetSession {
  /** Runs SQL text through the simple protocol: no parameters, several statements allowed. */
  exec(sql: string): Promise<void>;
  /** Runs one statement with `$n` parameters; returns its rows. */
  query<T extends object>(sql: string, values?: readonly unknown[]): Promise<T[]>;
}

// The slice of pg the pool uses (see storage/postgres/postgres-client.ts for why not pg's types).
interface PgClientLike {
  query(config: { text: string; values?: unknown[] } | string): Promise<{ rows: unknown[] }>;
  release(destroy?: boolean): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

interface PgPoolLike {
  connect(): Promise<PgClientLike>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

interface PgModuleLike {
  readonly Pool: new (config: Record<string, unknown>) => PgPoolLike;
}

/** The placeholders a connection URL may hold, exactly as written. */
const USERINFO = /^(postgres(?:ql)?:\/\/)(\{\{username\}\}(?::\{\{password\}\})?@)?(.*)$/s;

/** A checked connection URL template. */
export interface ConnectionUrl {
  /** As given, with `{{username}}` / `{{password}}` or no user part. */
  readonly template: string;
  /** `PostgreSQL at host:port/database`, for messages (no credentials). */
  readonly where: string;
}

function invalidUrl(message: string): FortressError {
  // Never echo the URL: a mistaken one may hold a password.
  return new FortressError('FX_INVALID_ARGUMENT', `connectionUrl: ${message}`);
}

/**
 * Checks a connection URL template: `postgres://` or `postgresql://`, a host, and as user part
 * nothing, `{{username}}@` or `{{username}}:{{password}}@` — a literal user or password is
 * refused, because the URL is stored in clear: the password belongs in `password` (encrypted).
 */
export function checkConnectionUrl(value: unknown): ConnectionUrl {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) {
    throw invalidUrl('expected a postgresql://{{username}}:{{password}}@host:port/database URL');
  }
  const match = USERINFO.exec(value);
  if (match === null) throw invalidUrl('expected a postgres:// or postgresql:// URL');
  const rest = match[3]!;
  if (rest.includes('{{') || rest.includes('}}')) {
    throw invalidUrl('only the user part may hold placeholders: {{username}}:{{password}}@');
  }
  let url: URL;
  try {
    url = new URL(`${match[1]!}${rest}`);
  } catch {
    throw invalidUrl('not a well-formed URL');
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidUrl(
      'a literal user or password is not accepted (the URL is stored in clear): write {{username}}:{{password}}@ and set username and password',
    );
  }
  for (const key of url.searchParams.keys()) {
    if (['user', 'password', 'sslpassword', 'passfile'].includes(key.toLowerCase())) {
      throw invalidUrl(`the parameter ${key} is not accepted; set username and password instead`);
    }
  }
  // The host goes after the @: with none there, the URL cannot carry the credentials (pg would
  // fall back to PGUSER, PGPASSWORD or ~/.pgpass), so a query-string-only host is refused.
  const host = url.hostname;
  if (host === '') {
    throw invalidUrl('give the host after the @: postgresql://{{username}}:{{password}}@host:port/database');
  }
  let database = url.pathname.replace(/^\//, '');
  try {
    database = decodeURIComponent(database);
  } catch {
    // Keep the raw spelling for messages.
  }
  const port = url.port !== '' ? url.port : (url.searchParams.get('port') ?? '5432');
  return {
    template: value,
    where: `PostgreSQL at ${host}:${port}${database === '' ? '' : `/${database}`}`,
  };
}

/** The URL pg connects with: the template with the credentials in its user part, percent-encoded. */
function renderConnectionUrl(template: string, username: string, password: string): string {
  const match = USERINFO.exec(template)!;
  const url = new URL(`${match[1]!}${match[3]!}`);
  // Percent-encode first: the URL setters leave `%` alone, and pg decodes the user part.
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  return url.toString();
}

/** Node's socket and name-resolution errors: the target could not be reached, or the link broke. */
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

/** pg's own words for a connection that broke or could not be made in time. */
const LOST_CONNECTION =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable)/;

/** The SQLSTATE of a PostgreSQL server error; undefined for client-side and network errors. */
function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && code.length === 5 && typeof severity === 'string' ? code : undefined;
}

/** True when the target never ran the statement because the link failed or the login was refused. */
function isConnectionFailure(error: unknown, state: string | undefined): boolean {
  if (state !== undefined) {
    // 08: connection exception; 28: invalid authorization (wrong password, no such user); 3D000:
    // no such database; 57P0x: server shutting down or starting; 53300: too many connections.
    return (
      state.startsWith('08') ||
      state.startsWith('28') ||
      state === '3D000' ||
      state.startsWith('57P') ||
      state === '53300'
    );
  }
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    (typeof code === 'string' && NETWORK_CODES.has(code)) ||
    (typeof message === 'string' && LOST_CONNECTION.test(message))
  );
}

const indeterminate = new WeakSet<FortressError>();

/**
 * True when the error came while COMMIT was in flight and the link failed: the target may or may
 * not have applied the transaction.
 */
export function isIndeterminate(error: unknown): boolean {
  return error instanceof FortressError && indeterminate.has(error);
}

type Redact = (text: string) => string;

function redactor(secrets: readonly string[]): Redact {
  const searched = secrets.filter((secret) => secret.length > 0);
  return (text) => {
    let out = text;
    for (const secret of searched) out = out.split(secret).join('***');
    return out;
  };
}

/** The target's failure as an engine error: PostgreSQL's message and SQLSTATE, redacted. */
function targetError(error: unknown, where: string, redact: Redact, doing: string): FortressError {
  if (error instanceof FortressError) return error;
  const state = sqlStateOf(error);
  const raw = error instanceof Error ? error.message : String(error);
  const message = redact(`${where}: ${doing}: ${raw}${state === undefined ? '' : ` (SQLSTATE ${state})`}`);
  return isConnectionFailure(error, state)
    ? new DatabaseSecretsError('FX_DB_CONNECTION_FAILED', message, state)
    : new DatabaseSecretsError('FX_DB_STATEMENT_FAILED', message, state);
}

let pgModule: Promise<PgModuleLike> | undefined;

async function loadPg(): Promise<PgModuleLike> {
  pgModule ??= import('pg').then(
    (module) => module.default as unknown as PgModuleLike,
    (error: unknown) => {
      pgModule = undefined;
      throw new FortressError('FX_INTERNAL', 'the PostgreSQL driver (npm package pg) cannot be loaded', {
        cause: error,
      });
    },
  );
  return pgModule;
}

export interface TargetPoolOptions {
  readonly url: ConnectionUrl;
  readonly username: string;
  readonly password: string;
  /** Connections at most. */
  readonly max: number;
  /** How long a new connection may take. */
  readonly connectTimeoutMs: number;
  /** `statement_timeout` of every connection. */
  readonly statementTimeoutMs: number;
}

/**
 * A pool of connections to one target, as one administrator. Lazy: nothing connects until the
 * first transaction (or `verify`).
 */
export class TargetPool {
  readonly #pool: PgPoolLike;
  readonly #where: string;
  readonly #password: string;
  #closed: Promise<void> | null = null;

  private constructor(pool: PgPoolLike, where: string, password: string) {
    this.#pool = pool;
    this.#where = where;
    this.#password = password;
  }

  static async open(options: TargetPoolOptions): Promise<TargetPool> {
    const pg = await loadPg();
    const pool = new pg.Pool({
      connectionString: renderConnectionUrl(options.url.template, options.username, options.password),
      max: options.max,
      connectionTimeoutMillis: options.connectTimeoutMs,
      idleTimeoutMillis: 10_000,
      // Idle target connections never keep the process alive.
      allowExitOnIdle: true,
      keepAlive: true,
      statement_timeout: options.statementTimeoutMs,
      application_name: 'fortress-database-secrets',
    });
    // An idle connection whose server goes away emits 'error' on the pool; unheard, it would crash
    // the process. The pool has dropped it already; the next checkout reconnects.
    pool.on('error', () => undefined);
    return new TargetPool(pool, options.url.where, options.password);
  }

  /** `PostgreSQL at host:port/database`. */
  get where(): string {
    return this.#where;
  }

  /** Connects and runs `SELECT 1`: FX_DB_CONNECTION_FAILED when the target or the login fails. */
  async verify(): Promise<void> {
    await this.transaction(async (session) => {
      await session.query('SELECT 1');
    });
  }

  /**
   * Runs `fn` in a transaction on one connection: COMMIT when it returns, ROLLBACK when it throws.
   * `secrets` (the passwords and verifiers the statements carry) are redacted from any error.
   */
  async transaction<T>(
    fn: (session: TargetSession) => Promise<T>,
    secrets: readonly string[] = [],
  ): Promise<T> {
    if (this.#closed !== null) {
      // Dropped meanwhile (a reset, a password change): nothing ran; the next call opens a new one.
      throw new DatabaseSecretsError(
        'FX_DB_CONNECTION_FAILED',
        `${this.#where}: the pooled connections were reset meanwhile; retry`,
      );
    }
    const redact = redactor([this.#password, encodeURIComponent(this.#password), ...secrets]);
    let client: PgClientLike;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw targetError(error, this.#where, redact, 'cannot connect');
    }
    // A checked-out client whose socket dies emits 'error'; unheard, that would crash the process.
    const link = { broken: false };
    const onError = (): void => {
      link.broken = true;
    };
    client.on('error', onError);
    const session: TargetSession = {
      exec: async (sql) => {
        await client.query(sql);
      },
      query: async <R extends object>(sql: string, values: readonly unknown[] = []): Promise<R[]> =>
        (await client.query({ text: sql, values: [...values] })).rows as R[],
    };
    let committing = false;
    try {
      await client.query('BEGIN');
      const result = await fn(session);
      committing = true;
      await client.query('COMMIT');
      return result;
    } catch (error) {
      const state = sqlStateOf(error);
      const failure = targetError(
        error,
        this.#where,
        redact,
        committing ? 'commit failed' : 'statement failed',
      );
      // A server error at COMMIT means it rolled back; a link that broke during COMMIT says nothing.
      if (committing && state === undefined && !(error instanceof FortressError)) indeterminate.add(failure);
      if (!link.broken) {
        try {
          await client.query('ROLLBACK');
        } catch {
          link.broken = true;
        }
      }
      throw failure;
    } finally {
      client.removeListener('error', onError);
      client.release(link.broken);
    }
  }

  /** Closes every connection (waits for checked-out ones to come back). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#pool.end().catch(() => undefined);
    return this.#closed;
  }
}
