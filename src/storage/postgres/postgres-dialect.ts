/**
 * @module storage/postgres/postgres-dialect
 * The shared backend: PostgreSQL through node-postgres (`pg`), for when several stateless Fortress
 * servers share one database. A pool of connections; transactions are SERIALIZABLE and run again
 * on a serialization failure (see postgres-driver.ts for why); the `?` SQL of the layers above is
 * translated to `$n` once per text and runs as a named prepared statement.
 *
 * `pg` is loaded with `import()` when the first driver opens, so SQLite-only deployments never
 * load it. The connection URL's password never appears in an error message: options errors do not
 * echo the URL, and connection errors name only host, port and database.
 */
import { assertInteger, assertOptions, assertString } from '../../util/bytes.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import type { ClusterChannel } from '../cluster.js';
import type { Dialect, StorageCapabilities, StorageDriver } from '../dialect.js';
import type { PgModule, PgPool } from './postgres-client.js';
import { fortressTypes } from './postgres-client.js';
import { POSTGRES_CAPABILITIES, PostgresDriver, type PostgresEndpoint } from './postgres-driver.js';
import { postgresError } from './postgres-errors.js';
import { PostgresCluster, type PgSessionClient } from './postgres-cluster.js';

export interface PostgresDialectOptions {
  /**
   * `postgres://user:password@host:port/database?…` (or `postgresql://`). Query parameters are
   * pg's (`sslmode`, `options`, `application_name`, …). The password is never echoed.
   */
  readonly url: string;
  /** Connections in the pool. @default 10 */
  readonly max?: number;
  /** Server-side limit per statement (`statement_timeout`); 0 or unset: the server's setting. */
  readonly statementTimeoutMs?: number;
  /** How long to wait for a new connection before failing. @default 10000 */
  readonly connectTimeoutMs?: number;
  /**
   * The schema Fortress's tables live in (`search_path` of every pooled connection). It must exist:
   * the dialect checks, but never creates it (that needs a privilege Fortress should not need).
   * Unset: the server's default search path (normally `public`).
   */
  readonly schema?: string;
  /** Translated statements kept (they name the prepared statements). @default 512 */
  readonly statementCacheSize?: number;
}

/** A plain identifier: it goes into `search_path` unescaped, so nothing else is accepted. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

interface ParsedUrl {
  readonly endpoint: PostgresEndpoint;
  /** The URL pg receives: the same, minus an `options` parameter merged into ours. */
  readonly connectionString: string;
  readonly options: string | undefined;
}

function parseUrl(url: string): ParsedUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not the URL itself, nor the parser's message: either may contain the password.
    throw new InvalidArgumentError('url', 'expected a postgres://user:password@host:port/database URL');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new InvalidArgumentError('url', 'expected a postgres:// or postgresql:// URL');
  }
  const secrets = new Set<string>();
  if (parsed.password !== '') {
    secrets.add(parsed.password);
    try {
      secrets.add(decodeURIComponent(parsed.password));
    } catch {
      // A malformed escape: pg will fail to log in; the raw spelling is already redacted.
    }
  }
  const query = parsed.searchParams;
  for (const key of ['password', 'sslpassword']) {
    const value = query.get(key);
    if (value !== null && value !== '') secrets.add(value);
  }
  const host = parsed.hostname !== '' ? parsed.hostname : (query.get('host') ?? 'localhost');
  const port = parsed.port !== '' ? parsed.port : (query.get('port') ?? '5432');
  let database = parsed.pathname.replace(/^\//, '');
  try {
    database = decodeURIComponent(database);
  } catch {
    // Keep the raw spelling for messages.
  }
  const where = `PostgreSQL at ${host}:${port}${database === '' ? '' : `/${database}`}`;
  // Defence in depth (neither pg nor the server quotes a password). A secret of one to three
  // characters is not searched for: replacing every "a" would garble the message, not protect it.
  const searched = [...secrets].filter((secret) => secret.length >= 4);
  const redact = (message: string): string => {
    let out = message;
    for (const secret of searched) out = out.split(secret).join('***');
    return out;
  };
  const options = query.get('options') ?? undefined;
  // pg lets the URL's `options` override ours; merge it into ours instead (and otherwise hand pg
  // the URL exactly as given).
  if (options !== undefined) query.delete('options');
  const connectionString = options === undefined ? url : parsed.toString();
  return { endpoint: { where: redact(where), redact }, connectionString, options };
}

interface Settings {
  readonly connectionString: string;
  readonly endpoint: PostgresEndpoint;
  readonly max: number;
  readonly connectTimeoutMs: number;
  readonly statementCacheSize: number;
  readonly schema: string | undefined;
  /** The startup `options` string: the URL's own, then search_path and statement_timeout. */
  readonly startupOptions: string | undefined;
}

/**
 * @example
 * ```ts
 * const db = await new PostgresDialect({ url: 'postgres://fortress@db:5432/fortress', schema: 'fortress' })
 *   .createDriver();
 * await db.exec('CREATE TABLE IF NOT EXISTS t (id BIGINT PRIMARY KEY, v BYTEA)');
 * await db.transaction(async (tx) => { await tx.run('INSERT INTO t (id, v) VALUES (?, ?)', [1, bytes]); });
 * ```
 */
export class PostgresDialect implements Dialect {
  readonly name = 'postgres';
  readonly capabilities: StorageCapabilities = POSTGRES_CAPABILITIES;
  readonly #settings: Settings;

  constructor(options: PostgresDialectOptions) {
    assertOptions(options, 'options');
    assertString(options.url, 'url');
    const { endpoint, connectionString, options: urlOptions } = parseUrl(options.url);
    const max = options.max ?? 10;
    assertInteger(max, 'max', 1, 1000);
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    assertInteger(connectTimeoutMs, 'connectTimeoutMs', 1, 600_000);
    const statementCacheSize = options.statementCacheSize ?? 512;
    assertInteger(statementCacheSize, 'statementCacheSize', 1, 100_000);
    const startup: string[] = urlOptions === undefined ? [] : [urlOptions];
    if (options.statementTimeoutMs !== undefined) {
      assertInteger(options.statementTimeoutMs, 'statementTimeoutMs', 0, 2_147_483_647);
      startup.push(`-c statement_timeout=${options.statementTimeoutMs}`);
    }
    if (options.schema !== undefined) {
      assertString(options.schema, 'schema');
      if (!SCHEMA_NAME.test(options.schema)) {
        throw new InvalidArgumentError(
          'schema',
          'expected a plain identifier: a letter or _, then letters, digits or _ (at most 63)',
        );
      }
      startup.push(`-c search_path="${options.schema}"`);
    }
    this.#settings = Object.freeze({
      connectionString,
      endpoint,
      max,
      connectTimeoutMs,
      statementCacheSize,
      schema: options.schema,
      startupOptions: startup.length === 0 ? undefined : startup.join(' '),
    });
  }

  /** Opens a pool and checks that the server answers (and that the schema exists). */
  async createDriver(): Promise<StorageDriver> {
    const settings = this.#settings;
    const { where, redact } = settings.endpoint;
    const pg = await loadPg();
    let pool: PgPool;
    try {
      pool = new pg.Pool({
        connectionString: settings.connectionString,
        max: settings.max,
        connectionTimeoutMillis: settings.connectTimeoutMs,
        idleTimeoutMillis: 30_000,
        application_name: 'fortress',
        keepAlive: true,
        ...(settings.startupOptions === undefined ? {} : { options: settings.startupOptions }),
        types: fortressTypes(pg.types),
      });
    } catch (error) {
      throw new FortressError('FX_STORAGE', redact(`cannot open ${where}: ${String(error)}`));
    }
    // An idle pooled connection whose server goes away emits 'error' on the pool; unheard, that
    // would crash the process. The pool has already dropped it; the next statement reconnects.
    pool.on('error', () => undefined);
    const driver = new PostgresDriver(pool, settings.endpoint, settings.statementCacheSize);
    try {
      const row = await driver.get<{ schema: string | null }>('SELECT current_schema() AS schema');
      if (settings.schema !== undefined && row?.schema !== settings.schema) {
        throw new FortressError(
          'FX_STORAGE',
          `${where}: schema "${settings.schema}" does not exist (create it first: CREATE SCHEMA "${settings.schema}")`,
        );
      }
    } catch (error) {
      await driver.close().catch(() => undefined);
      // Connection failures already name the server ("PostgreSQL at host:port/db: …").
      throw postgresError(error, where, redact);
    }
    return driver;
  }

  /**
   * The cluster channel for processes sharing this database (change feed, locks), over two
   * connections of its own; `driver` (from this dialect) runs its DDL and generation reads.
   */
  async openCluster(driver: StorageDriver): Promise<ClusterChannel> {
    const settings = this.#settings;
    const pg = await loadPg();
    const Client = (pg as unknown as { Client: new (config: object) => PgSessionClient }).Client;
    return PostgresCluster.open(
      driver,
      () =>
        new Client({
          connectionString: settings.connectionString,
          connectionTimeoutMillis: settings.connectTimeoutMs,
          application_name: 'fortress-cluster',
          // A peer that vanished without closing its socket is noticed, and its locks freed.
          keepAlive: true,
          ...(settings.startupOptions === undefined ? {} : { options: settings.startupOptions }),
          types: fortressTypes(pg.types),
        }),
      settings.endpoint,
    );
  }
}

async function loadPg(): Promise<PgModule> {
  try {
    return (await import('pg')).default;
  } catch (error) {
    throw new FortressError('FX_STORAGE', 'the PostgreSQL driver (npm package pg) cannot be loaded', {
      cause: error,
    });
  }
}
