/**
 * @module secrets/transit/rewrap-job
 * The bulk rewrap job: every transit ciphertext in a table column brought to its key's newest
 * version, in batches, resumably, with progress — without a plaintext ever leaving Fortress.
 *
 * Each batch reads a page of rows after the job's checkpoint (a page cursor), rewraps the values
 * that are `fx:v<n>:` ciphertexts of an older version, then writes each one back only if the row
 * still holds the ciphertext that was read (compare-and-swap in one transaction): a value an
 * application changed meanwhile is left alone, never overwritten with a stale one. Rewrapping is
 * idempotent, so a crash between a batch's writes and its checkpoint only re-reads that batch.
 *
 * Jobs live in `fx_transit_jobs` (docs/formats.md § Transit). A job runs in one process at a time:
 * the runner holds a lease (renewed every batch); a job whose lease lapsed (its process died) is
 * picked up by `resume()`, which the database calls at open and unseal.
 */
import { randomUUID } from 'node:crypto';
import type { StorageDriver } from '../../storage/dialect.js';
import { assertInteger, assertOptions } from '../../util/bytes.js';
import { FortressError } from '../../util/errors.js';
import type { RewrapItem, TransitEngine } from './transit-engine.js';

/** What to rewrap: a column of a table, with optional columns holding each row's context or associated data. */
export interface RewrapColumnOptions {
  readonly table: string;
  readonly column: string;
  /** Derived keys: the column whose value (text, UTF-8) is each row's derivation context. */
  readonly contextColumn?: string;
  /** The column whose value (text, UTF-8) is each row's associated data. */
  readonly associatedDataColumn?: string;
  /** Rows per batch. @default 500 */
  readonly batchSize?: number;
}

export type RewrapJobState = 'running' | 'paused' | 'done' | 'failed';

export interface RewrapJobProgress {
  readonly id: string;
  readonly key: string;
  readonly table: string;
  readonly column: string;
  readonly state: RewrapJobState;
  /** Rows examined. */
  readonly processed: number;
  /** Values rewrapped (and written back). */
  readonly rewrapped: number;
  /** Values that could not be rewrapped (see `lastError`); they are left as they were. */
  readonly failed: number;
  /** Rows in the table when the job started. */
  readonly total: number;
  /** 0 to 100. */
  readonly percent: number;
  readonly lastError: string | null;
  readonly createdTime: string;
  readonly updatedTime: string;
}

/** One row as the job sees it. */
export interface RewrapRow {
  readonly key: string | number;
  readonly value: unknown;
  readonly context: unknown;
  readonly associatedData: unknown;
}

/** The table side of the job, provided by the database (the secrets layer does not reach into tables). */
export interface RewrapRows {
  /** Rows in the table (checks that the table and columns exist). */
  count(options: RewrapColumnOptions): Promise<number>;
  /** The next page of rows after `cursor` (null: from the start), in primary-key order. */
  page(
    options: RewrapColumnOptions,
    cursor: string | null,
    limit: number,
  ): Promise<{ rows: RewrapRow[]; next: string | null }>;
  /** In one transaction: each row whose column still holds `from` gets `to`. Returns how many did. */
  swap(
    options: RewrapColumnOptions,
    changes: readonly { key: string | number; from: string; to: string }[],
  ): Promise<number>;
}

const DEFAULT_BATCH = 500;
const MAX_BATCH = 10_000;
/** A runner renews its lease every batch; another process may take a job whose lease lapsed. */
const LEASE_MS = 30_000;
const PREFIX_RE = /^fx:v([1-9][0-9]{0,9}):/;

function ddl(driver: StorageDriver): string {
  const s = driver.spelling;
  return `
CREATE TABLE IF NOT EXISTS fx_transit_jobs (
  tenant ${s.text} NOT NULL,
  id ${s.text} NOT NULL,
  key_name ${s.text} NOT NULL,
  params ${s.text} NOT NULL,
  state ${s.text} NOT NULL,
  cursor ${s.text},
  processed ${s.int64} NOT NULL,
  rewrapped ${s.int64} NOT NULL,
  failed ${s.int64} NOT NULL,
  total ${s.int64} NOT NULL,
  last_error ${s.text},
  lease_owner ${s.text},
  lease_until ${s.int64} NOT NULL,
  created_at ${s.int64} NOT NULL,
  updated_at ${s.int64} NOT NULL,
  PRIMARY KEY (tenant, id)
)${s.withoutRowid};`;
}

const COLUMNS =
  'id, key_name, params, state, cursor, processed, rewrapped, failed, total, last_error, lease_owner, lease_until, created_at, updated_at';
const SQL = {
  insert: `INSERT INTO fx_transit_jobs (tenant, ${COLUMNS}) VALUES (?, ?, ?, ?, 'running', NULL, 0, 0, 0, ?, NULL, NULL, 0, ?, ?)`,
  get: `SELECT ${COLUMNS} FROM fx_transit_jobs WHERE tenant = ? AND id = ?`,
  list: `SELECT ${COLUMNS} FROM fx_transit_jobs WHERE tenant = ? ORDER BY created_at DESC, id LIMIT ?`,
  runnable: `SELECT id FROM fx_transit_jobs WHERE tenant = ? AND state = 'running' AND (lease_owner IS NULL OR lease_until < ?)`,
  claim:
    "UPDATE fx_transit_jobs SET lease_owner = ?, lease_until = ? WHERE tenant = ? AND id = ? AND state = 'running' AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
  progress:
    'UPDATE fx_transit_jobs SET cursor = ?, processed = ?, rewrapped = ?, failed = ?, last_error = ?, lease_until = ?, updated_at = ? WHERE tenant = ? AND id = ? AND lease_owner = ?',
  finish:
    'UPDATE fx_transit_jobs SET state = ?, last_error = COALESCE(?, last_error), lease_owner = NULL, updated_at = ? WHERE tenant = ? AND id = ? AND lease_owner = ?',
  release:
    'UPDATE fx_transit_jobs SET lease_owner = NULL, lease_until = 0 WHERE tenant = ? AND id = ? AND lease_owner = ?',
  pause:
    "UPDATE fx_transit_jobs SET state = 'paused', updated_at = ? WHERE tenant = ? AND id = ? AND state = 'running'",
  resume:
    "UPDATE fx_transit_jobs SET state = 'running', lease_owner = NULL, lease_until = 0, updated_at = ? WHERE tenant = ? AND id = ? AND state IN ('paused', 'failed')",
} as const;

interface JobRow {
  readonly id: string;
  readonly key_name: string;
  readonly params: string;
  readonly state: string;
  readonly cursor: string | null;
  readonly processed: number;
  readonly rewrapped: number;
  readonly failed: number;
  readonly total: number;
  readonly last_error: string | null;
  readonly lease_owner: string | null;
  readonly lease_until: number;
  readonly created_at: number;
  readonly updated_at: number;
}

function checkColumnName(value: unknown, what: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    throw new FortressError('FX_INVALID_ARGUMENT', `${what}: expected a column name`);
  }
}

function checkOptions(options: RewrapColumnOptions): RewrapColumnOptions {
  assertOptions(options, 'options');
  const known = ['table', 'column', 'contextColumn', 'associatedDataColumn', 'batchSize'];
  for (const field of Object.keys(options)) {
    if (!known.includes(field))
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `options: unknown field ${JSON.stringify(field.slice(0, 40))}`,
      );
  }
  if (typeof options.table !== 'string' || options.table.length === 0 || options.table.length > 128)
    throw new FortressError('FX_INVALID_ARGUMENT', 'table: expected a table name');
  checkColumnName(options.column, 'column');
  if (options.contextColumn !== undefined) checkColumnName(options.contextColumn, 'contextColumn');
  if (options.associatedDataColumn !== undefined)
    checkColumnName(options.associatedDataColumn, 'associatedDataColumn');
  if (options.batchSize !== undefined) assertInteger(options.batchSize, 'batchSize', 1, MAX_BATCH);
  return {
    table: options.table,
    column: options.column,
    ...(options.contextColumn === undefined ? {} : { contextColumn: options.contextColumn }),
    ...(options.associatedDataColumn === undefined
      ? {}
      : { associatedDataColumn: options.associatedDataColumn }),
    batchSize: options.batchSize ?? DEFAULT_BATCH,
  };
}

function bytesOf(value: unknown): Uint8Array | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return Buffer.from(String(value), 'utf8');
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * @example
 * ```ts
 * const job = await db.transit.startRewrap('orders', { table: 'payments', column: 'card' });
 * const done = await db.transit.waitForRewrap(job.id);   // { state: 'done', rewrapped: 1200, … }
 * ```
 */
export class RewrapJobs {
  readonly #driver: StorageDriver;
  readonly #tenant: string;
  readonly #engine: () => Promise<TransitEngine>;
  readonly #rows: RewrapRows;
  readonly #now: () => number;
  /** This process's identity as a lease holder. */
  readonly #owner = randomUUID();
  /** Jobs running in this process, with a way to wait for each. */
  readonly #running = new Map<string, Promise<void>>();
  #closed = false;

  private constructor(
    driver: StorageDriver,
    tenant: string,
    engine: () => Promise<TransitEngine>,
    rows: RewrapRows,
    now: () => number,
  ) {
    this.#driver = driver;
    this.#tenant = tenant;
    this.#engine = engine;
    this.#rows = rows;
    this.#now = now;
  }

  static async open(options: {
    readonly driver: StorageDriver;
    readonly tenant: string;
    readonly engine: () => Promise<TransitEngine>;
    readonly rows: RewrapRows;
    readonly now?: () => number;
  }): Promise<RewrapJobs> {
    await options.driver.exec(ddl(options.driver));
    return new RewrapJobs(
      options.driver,
      options.tenant,
      options.engine,
      options.rows,
      options.now ?? Date.now,
    );
  }

  /** Starts a job rewrapping `options.column` of `options.table` under transit key `key`. */
  async start(key: string, options: RewrapColumnOptions): Promise<RewrapJobProgress> {
    const checked = checkOptions(options);
    // Checks the key exists and encrypts, and the table and columns exist, before recording anything.
    const engine = await this.#engine();
    const info = await engine.readKey(key);
    if (!info.supportsEncryption) {
      throw new FortressError(
        'FX_TRANSIT_UNSUPPORTED',
        `transit key ${key} is a ${info.type} key: it has no ciphertexts to rewrap`,
      );
    }
    const total = await this.#rows.count(checked);
    const id = randomUUID();
    const at = this.#now();
    await this.#driver.run(SQL.insert, [this.#tenant, id, key, JSON.stringify(checked), total, at, at]);
    this.#launch(id);
    return this.progress(id);
  }

  /** A job's progress (from storage: any process's job). */
  async progress(id: string): Promise<RewrapJobProgress> {
    return this.#view(await this.#row(id));
  }

  /** The newest jobs first (at most `limit`). */
  async list(limit = 100): Promise<RewrapJobProgress[]> {
    assertInteger(limit, 'limit', 1, 1000);
    const rows = await this.#driver.all<JobRow>(SQL.list, [this.#tenant, limit]);
    return rows.map((r) => this.#view(r));
  }

  /** Asks a running job to stop after its current batch; `resumeJob` continues it. */
  async pause(id: string): Promise<RewrapJobProgress> {
    await this.#row(id);
    await this.#driver.run(SQL.pause, [this.#now(), this.#tenant, id]);
    await this.#running.get(id);
    return this.progress(id);
  }

  /** Continues a paused or failed job from its checkpoint. */
  async resumeJob(id: string): Promise<RewrapJobProgress> {
    const row = await this.#row(id);
    if (row.state === 'done') throw new FortressError('FX_KEY_STATE', `rewrap job ${id} is done`);
    await this.#driver.run(SQL.resume, [this.#now(), this.#tenant, id]);
    this.#launch(id);
    return this.progress(id);
  }

  /**
   * Resolves when the job is no longer running (done, failed or paused) — here or in another
   * process sharing the storage — with its progress.
   */
  async wait(id: string, pollMs = 100): Promise<RewrapJobProgress> {
    for (;;) {
      await this.#running.get(id);
      const progress = await this.progress(id);
      if (progress.state !== 'running' || this.#closed) return progress;
      await new Promise<void>((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Picks up every running job whose runner is gone (this process restarted, or another died). */
  async resume(): Promise<number> {
    const rows = await this.#driver.all<{ id: string }>(SQL.runnable, [this.#tenant, this.#now()]);
    for (const { id } of rows) this.#launch(id);
    return rows.length;
  }

  /** Stops launching batches (running jobs stop after their current one and resume elsewhere or later). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#running.values()]);
  }

  async #row(id: string): Promise<JobRow> {
    if (typeof id !== 'string' || id.length === 0 || id.length > 64)
      throw new FortressError('FX_INVALID_ARGUMENT', 'id: expected a job id');
    const row = await this.#driver.get<JobRow>(SQL.get, [this.#tenant, id]);
    if (row === undefined) throw new FortressError('FX_JOB_NOT_FOUND', `no rewrap job ${id}`);
    return row;
  }

  #view(row: JobRow): RewrapJobProgress {
    const params = JSON.parse(row.params) as RewrapColumnOptions;
    const done = row.state === 'done';
    return {
      id: row.id,
      key: row.key_name,
      table: params.table,
      column: params.column,
      state: row.state as RewrapJobState,
      processed: row.processed,
      rewrapped: row.rewrapped,
      failed: row.failed,
      total: row.total,
      percent: done ? 100 : row.total === 0 ? 0 : Math.min(99.9, (row.processed / row.total) * 100),
      lastError: row.last_error,
      createdTime: new Date(row.created_at).toISOString(),
      updatedTime: new Date(row.updated_at).toISOString(),
    };
  }

  #launch(id: string): void {
    if (this.#closed || this.#running.has(id)) return;
    const run = this.#run(id)
      .catch(() => undefined)
      .finally(() => {
        this.#running.delete(id);
      });
    this.#running.set(id, run);
  }

  async #release(id: string): Promise<void> {
    await this.#driver.run(SQL.release, [this.#tenant, id, this.#owner]);
  }

  async #run(id: string): Promise<void> {
    const claimed = await this.#driver.run(SQL.claim, [
      this.#owner,
      this.#now() + LEASE_MS,
      this.#tenant,
      id,
      this.#owner,
      this.#now(),
    ]);
    if (claimed.changes === 0) return; // paused, done, or running elsewhere
    let row = await this.#row(id);
    const params = JSON.parse(row.params) as RewrapColumnOptions;
    let { cursor, processed, rewrapped, failed } = row;
    let lastError = row.last_error;
    try {
      for (;;) {
        if (this.#closed) {
          await this.#release(id);
          return;
        }
        row = await this.#row(id);
        if (row.state !== 'running' || row.lease_owner !== this.#owner) return; // paused, or taken over
        const engine = await this.#engine();
        const info = await engine.readKey(row.key_name);
        const page = await this.#rows.page(params, cursor, params.batchSize ?? DEFAULT_BATCH);
        const stale: { row: RewrapRow; ciphertext: string }[] = [];
        for (const r of page.rows) {
          if (typeof r.value !== 'string') continue;
          const match = PREFIX_RE.exec(r.value);
          if (match === null || Number(match[1]) >= info.latestVersion) continue;
          stale.push({ row: r, ciphertext: r.value });
        }
        if (stale.length > 0) {
          const items: RewrapItem[] = stale.map(({ row: r, ciphertext }) => {
            const context = params.contextColumn === undefined ? undefined : bytesOf(r.context);
            const associatedData =
              params.associatedDataColumn === undefined ? undefined : bytesOf(r.associatedData);
            return {
              ciphertext,
              ...(context === undefined ? {} : { context }),
              ...(associatedData === undefined ? {} : { associatedData }),
            };
          });
          const results = await engine.rewrapBatch(row.key_name, items);
          const changes: { key: string | number; from: string; to: string }[] = [];
          results.forEach((result, i) => {
            if ('error' in result) {
              failed++;
              lastError = `${result.error.code}: ${result.error.message}`;
            } else {
              changes.push({ key: stale[i]!.row.key, from: stale[i]!.ciphertext, to: result.ciphertext });
            }
          });
          if (changes.length > 0) rewrapped += await this.#rows.swap(params, changes);
        }
        processed += page.rows.length;
        cursor = page.next ?? cursor;
        const at = this.#now();
        await this.#driver.run(SQL.progress, [
          cursor,
          processed,
          rewrapped,
          failed,
          lastError,
          at + LEASE_MS,
          at,
          this.#tenant,
          id,
          this.#owner,
        ]);
        if (page.next === null) {
          await this.#driver.run(SQL.finish, ['done', null, this.#now(), this.#tenant, id, this.#owner]);
          return;
        }
      }
    } catch (error) {
      if (
        this.#closed ||
        (error instanceof FortressError &&
          (error.code === 'FX_SEALED' || error.code === 'FX_STORAGE_CLOSED' || error.code === 'FX_CLOSED'))
      ) {
        // Stopped by a seal or close: the job stays running, free for the next resume.
        await this.#release(id).catch(() => undefined);
        return;
      }
      const message =
        error instanceof FortressError ? `${error.code}: ${error.message}` : 'the job failed unexpectedly';
      await this.#driver
        .run(SQL.finish, ['failed', message, this.#now(), this.#tenant, id, this.#owner])
        .catch(() => undefined);
    }
  }
}
