/**
 * @module storage/postgres/postgres-cluster
 * The cluster channel on PostgreSQL: a generation counter per domain (`fx_generations`), bumped by a
 * statement trigger on every tracked table inside the writing transaction — so a change is counted
 * exactly when it commits, whoever wrote it — and announced with `pg_notify` (delivered at commit);
 * one dedicated connection LISTENs, another holds session-level advisory locks, which PostgreSQL
 * releases by itself when that connection dies (a killed node's job leases and checkpoint duty pass
 * to a survivor). Both connections reconnect with backoff.
 *
 * Everything is scoped to the schema Fortress lives in: notifications carry it, and lock keys hash
 * it, so two Fortress databases in one PostgreSQL database never see each other's changes.
 */
import { FortressError } from '../../util/errors.js';
import type { ClusterChannel, ClusterLock, TrackedTable } from '../cluster.js';
import type { StorageDriver } from '../dialect.js';
import type { PgResult } from './postgres-client.js';
import { postgresError } from './postgres-errors.js';
import { DDL_LOCK, type PostgresEndpoint } from './postgres-driver.js';

/** A dedicated (unpooled) connection: pg's `Client`, as far as this file uses it. */
export interface PgSessionClient {
  connect(): Promise<unknown>;
  query(text: string, values?: unknown[]): Promise<PgResult>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  end(): Promise<void>;
}

const CHANNEL = 'fortress_changes';
/** Serialises the DDL below across nodes starting at once (CREATE OR REPLACE races otherwise). */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,40}$/;

const SETUP = `
CREATE TABLE IF NOT EXISTS fx_generations (domain TEXT PRIMARY KEY, generation BIGINT NOT NULL);
CREATE OR REPLACE FUNCTION fx_bump_generation() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $fx$
BEGIN
  INSERT INTO fx_generations (domain, generation) VALUES (TG_ARGV[0], 1)
    ON CONFLICT (domain) DO UPDATE SET generation = fx_generations.generation + 1;
  PERFORM pg_notify('${CHANNEL}', current_schema() || ':' || TG_ARGV[0]);
  RETURN NULL;
END
$fx$;
`;

const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5_000;

class AdvisoryLock implements ClusterLock {
  readonly name: string;
  #held = true;
  readonly #release: (lock: AdvisoryLock) => Promise<void>;

  constructor(name: string, release: (lock: AdvisoryLock) => Promise<void>) {
    this.name = name;
    this.#release = release;
  }

  get held(): boolean {
    return this.#held;
  }

  /** @internal The connection died: PostgreSQL has released it already. */
  lost(): void {
    this.#held = false;
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    await this.#release(this);
  }
}

export class PostgresCluster implements ClusterChannel {
  readonly #driver: StorageDriver;
  readonly #newClient: () => PgSessionClient;
  readonly #endpoint: PostgresEndpoint;
  readonly #listeners: ((domain: string) => void)[] = [];
  #schema = '';
  #listen: PgSessionClient | null = null;
  #listenRetry: NodeJS.Timeout | null = null;
  #listenDelay = RECONNECT_MIN_MS;
  #lockClient: Promise<PgSessionClient> | null = null;
  readonly #locks = new Map<string, AdvisoryLock>();
  #closed = false;

  private constructor(driver: StorageDriver, newClient: () => PgSessionClient, endpoint: PostgresEndpoint) {
    this.#driver = driver;
    this.#newClient = newClient;
    this.#endpoint = endpoint;
  }

  /** Creates the generation table and trigger function (if missing) and starts listening. */
  static async open(
    driver: StorageDriver,
    newClient: () => PgSessionClient,
    endpoint: PostgresEndpoint,
  ): Promise<PostgresCluster> {
    const cluster = new PostgresCluster(driver, newClient, endpoint);
    cluster.#schema = (await driver.get<{ s: string }>('SELECT current_schema() AS s'))!.s;
    await driver.transaction(async (tx) => {
      await tx.get('SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))', [DDL_LOCK]);
      await tx.exec(SETUP);
    });
    try {
      await cluster.#connectListener();
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  #error(error: unknown): FortressError {
    return postgresError(error, this.#endpoint.where, this.#endpoint.redact);
  }

  async track(domain: string, tables: readonly TrackedTable[]): Promise<void> {
    if (!IDENTIFIER.test(domain)) throw new FortressError('FX_INVALID_ARGUMENT', 'invalid domain name');
    await this.#driver.transaction(async (tx) => {
      await tx.get('SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))', [DDL_LOCK]);
      await tx.run(
        'INSERT INTO fx_generations (domain, generation) VALUES (?, 0) ON CONFLICT (domain) DO NOTHING',
        [domain],
      );
      for (const { table, on } of tables) {
        if (!IDENTIFIER.test(table)) throw new FortressError('FX_INVALID_ARGUMENT', 'invalid table name');
        const events = (on ?? ['INSERT', 'UPDATE', 'DELETE']).join(' OR ');
        await tx.exec(
          `CREATE OR REPLACE TRIGGER ${table}_generation AFTER ${events} ON ${table} ` +
            `FOR EACH STATEMENT EXECUTE FUNCTION fx_bump_generation('${domain}')`,
        );
      }
    });
  }

  async generations(): Promise<ReadonlyMap<string, number>> {
    // int8: a bigint only past 2^53 changes, but typed as what the driver may return.
    const rows = await this.#driver.all<{ domain: string; generation: number | bigint }>(
      'SELECT domain, generation FROM fx_generations',
    );
    return new Map(rows.map((row) => [row.domain, Number(row.generation)]));
  }

  onChange(listener: (domain: string) => void): void {
    this.#listeners.push(listener);
  }

  #emit(domain: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(domain);
      } catch {
        // A listener's failure is its own; the others still hear of the change.
      }
    }
  }

  async #connectListener(): Promise<void> {
    const client = this.#newClient();
    // Registered before connecting: a failed connect also emits 'error'.
    client.on('error', () => {
      this.#listenerLost(client);
    });
    client.on('end', () => {
      this.#listenerLost(client);
    });
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || message.payload === undefined) return;
      const colon = message.payload.lastIndexOf(':');
      if (message.payload.slice(0, colon) !== this.#schema) return;
      this.#emit(message.payload.slice(colon + 1));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw this.#error(error);
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listen = client;
  }

  #listenerLost(client: PgSessionClient): void {
    if (this.#listen !== client && this.#listen !== null) return;
    this.#listen = null;
    void client.end().catch(() => undefined);
    this.#scheduleListener();
  }

  #scheduleListener(): void {
    if (this.#closed || this.#listenRetry !== null) return;
    const delay = this.#listenDelay;
    this.#listenDelay = Math.min(delay * 2, RECONNECT_MAX_MS);
    this.#listenRetry = setTimeout(() => {
      this.#listenRetry = null;
      this.#connectListener().then(
        () => {
          this.#listenDelay = RECONNECT_MIN_MS;
          // Changes may have committed while nobody listened.
          this.#emit('*');
        },
        () => {
          this.#scheduleListener();
        },
      );
    }, delay);
    this.#listenRetry.unref();
  }

  #lockConnection(): Promise<PgSessionClient> {
    this.#lockClient ??= (async () => {
      const client = this.#newClient();
      const lost = (): void => {
        // PostgreSQL ends the session's advisory locks with it.
        for (const lock of this.#locks.values()) lock.lost();
        this.#locks.clear();
        this.#lockClient = null;
        void client.end().catch(() => undefined);
      };
      client.on('error', lost);
      client.on('end', lost);
      try {
        await client.connect();
      } catch (error) {
        this.#lockClient = null;
        await client.end().catch(() => undefined);
        throw this.#error(error);
      }
      return client;
    })();
    return this.#lockClient;
  }

  async tryLock(name: string): Promise<ClusterLock | null> {
    if (this.#closed) throw new FortressError('FX_STORAGE_CLOSED', 'the database is closed');
    const existing = this.#locks.get(name);
    if (existing?.held === true) return null;
    const client = await this.#lockConnection();
    let got: boolean;
    try {
      const result = await client.query(
        'SELECT pg_try_advisory_lock(hashtext(current_schema()), hashtext($1)) AS got',
        [name],
      );
      // Booleans arrive as 1 and 0 (the pool's type parsers, as SQLite's).
      const value = result.rows[0]?.['got'];
      got = value === 1 || value === true;
    } catch (error) {
      throw this.#error(error);
    }
    if (!got) return null;
    const lock = new AdvisoryLock(name, async (released) => {
      if (this.#locks.get(name) === released) this.#locks.delete(name);
      await client
        .query('SELECT pg_advisory_unlock(hashtext(current_schema()), hashtext($1))', [name])
        .catch(() => undefined);
    });
    this.#locks.set(name, lock);
    return lock;
  }

  async exclusive<T>(name: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lock = await this.tryLock(name);
    for (let wait = 2; lock === null; wait = Math.min(wait * 2, 50)) {
      if (Date.now() > deadline) {
        throw new FortressError(
          'FX_STORAGE_BUSY',
          `the cluster lock ${name} stayed taken for ${timeoutMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      lock = await this.tryLock(name);
    }
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#listenRetry !== null) clearTimeout(this.#listenRetry);
    const listen = this.#listen;
    this.#listen = null;
    await listen?.end().catch(() => undefined);
    for (const lock of this.#locks.values()) lock.lost();
    this.#locks.clear();
    const locking = this.#lockClient;
    this.#lockClient = null;
    if (locking !== null) await (await locking.catch(() => null))?.end().catch(() => undefined);
  }
}
