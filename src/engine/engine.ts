/**
 * @module engine/engine
 * The table engine: the catalog of tables (stored in `fx_tables`, beside the data), the keys each
 * table uses, schema changes, background jobs (`fx_jobs`) and transactions. Tables are reached
 * through `Table` handles; this class is what they call back into.
 *
 * Keys: one key-encryption key per (tenant, database); under it, per table, one data key per
 * encrypted column and algorithm (field level) or one row key (row and table levels), and one index
 * key per searchable column. Dropping a table or column destroys its keys (crypto-shredding).
 */
import type { AeadName } from '../crypto/aead/aead.js';
import { isAeadName } from '../crypto/aead/registry.js';
import { randomBytes } from '../crypto/random.js';
import type { KeyManager } from '../keys/key-manager.js';
import type { AccessActor, AccessLog } from './access/access-log.js';
import type { SqlSpelling, SqlValue, StorageDriver, StorageSession } from '../storage/dialect.js';
import { describe, toHex } from '../util/bytes.js';
import { FortressError } from '../util/errors.js';
import { Job, type JobKind, type JobOptions, type JobProgress, type JobRecord } from './jobs/job.js';
import {
  buildColumn,
  buildTable,
  checkName,
  checkPhysicalNames,
  createTableSql,
  indexName,
  indexSql,
  physicalColumns,
  physicalTable,
  ROW_ENVELOPE,
  ROW_ENVELOPE_COLUMN,
  columnSql,
  type AnyRow,
  type EncryptOptions,
  type InsertOf,
  type KeyNaming,
  type RowOf,
  type StoredColumn,
  type StoredTable,
  type TableDefinition,
  type ColumnDefinition,
  type PhysicalColumn,
} from './schema/table-schema.js';
import { TableCodec, envelopeKey, withKeys, type TableScope } from './table/table-codec.js';
import { Table, type RowScope, type TableHost } from './table/table.js';
import type { ClusterChannel, ClusterLock } from '../storage/cluster.js';

/** The catalog and the jobs table, in the backend's words. */
function catalogSql(s: SqlSpelling): string {
  return `
CREATE TABLE IF NOT EXISTS fx_tables (name ${s.text} PRIMARY KEY, id ${s.text} NOT NULL, schema ${s.text} NOT NULL);
CREATE TABLE IF NOT EXISTS fx_jobs (
  id ${s.autoId},
  kind ${s.text} NOT NULL,
  table_name ${s.text} NOT NULL,
  state ${s.text} NOT NULL,
  params ${s.text} NOT NULL,
  checkpoint ${s.text},
  processed ${s.int64} NOT NULL DEFAULT 0,
  rewritten ${s.int64} NOT NULL DEFAULT 0,
  total ${s.int64} NOT NULL DEFAULT 0,
  error ${s.text}
);
`;
}

export interface EngineOptions {
  readonly driver: StorageDriver;
  readonly keys: KeyManager;
  /** @default 'default' */
  readonly tenant?: string;
  /** @default 'main' */
  readonly database?: string;
  /**
   * Shared storage: schema changes and background jobs take a cluster-wide lock on their table, so
   * each job runs in one process, and moves to another when that one dies.
   */
  readonly cluster?: ClusterChannel;
}

interface TableEntry {
  schema: StoredTable;
  /** Random id in key names, so a re-created table never meets a dropped table's keys. */
  readonly id: string;
  codec: TableCodec | null;
  building: Promise<TableCodec> | null;
}

/** Rows of one key version in one column. */
export interface KeyUsage {
  readonly column: string;
  readonly key: string;
  readonly version: number;
  readonly rows: number;
}

/** Starts a background job that takes over the schema-change lock. */
type StartJob = (
  kind: JobKind,
  params: Record<string, unknown>,
  beforeRun?: () => Promise<void>,
) => Promise<Job>;

/** Free a schema-change lock with `release()`. */
interface TableLock {
  release(): void;
  /** The cluster-wide lock behind it (shared storage): lost with its connection. */
  readonly lease?: ClusterLock;
}

export class Engine implements TableHost {
  readonly driver: StorageDriver;
  readonly keys: KeyManager;
  readonly scope: TableScope;
  readonly rowid: boolean;
  readonly spelling: SqlSpelling;
  readonly #tables = new Map<string, TableEntry>();
  /** Bumped by every change this process makes to `#tables` (after its commit); see reloadCatalog. */
  #catalogEpoch = 0;
  #reloadsStarted = 0;
  #reloadsApplied = 0;
  readonly #jobs = new Map<number, Job>();
  /** Tables with a schema change or job in progress. */
  readonly #busy = new Set<string>();
  /** The table lock of each job that runs or is paused here. */
  readonly #held = new Map<number, TableLock>();
  #closed = false;
  readonly #kek: string;
  readonly #cluster: ClusterChannel | undefined;

  private constructor(options: EngineOptions) {
    this.#cluster = options.cluster;
    this.driver = options.driver;
    this.keys = options.keys;
    this.rowid = options.driver.capabilities.rowid;
    this.spelling = options.driver.spelling;
    this.scope = { tenant: options.tenant ?? 'default', database: options.database ?? 'main' };
    this.#kek = `kek/${this.scope.tenant}/${this.scope.database}`;
  }

  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    await options.driver.exec(catalogSql(options.driver.spelling));
    await engine.reloadCatalog();
    return engine;
  }

  /**
   * Reads the catalog (again): at open, and when another process sharing the database created,
   * changed or dropped a table. Tables whose stored schema is unchanged keep their codecs.
   */
  async reloadCatalog(): Promise<void> {
    let rows: { name: string; id: string; schema: string }[];
    const started = ++this.#reloadsStarted;
    for (;;) {
      const epoch = this.#catalogEpoch;
      rows = await this.driver.all<{ name: string; id: string; schema: string }>(
        'SELECT name, id, schema FROM fx_tables',
      );
      // A table created, changed or dropped here while the read was under way: its commit came
      // before its change to memory, so a new read sees it — this one may not, and must not undo it.
      if (epoch === this.#catalogEpoch) break;
    }
    // Two reloads in flight: an older read never replaces what a newer one applied.
    if (started < this.#reloadsApplied) return;
    this.#reloadsApplied = started;
    const names = new Set<string>();
    for (const row of rows) {
      names.add(row.name);
      const known = this.#tables.get(row.name);
      if (known?.id === row.id && JSON.stringify(known.schema) === row.schema) continue;
      let schema: StoredTable;
      try {
        schema = JSON.parse(row.schema) as StoredTable;
      } catch (cause) {
        throw new FortressError('FX_STORAGE', `the schema of table ${row.name} is not valid JSON`, { cause });
      }
      this.#tables.set(row.name, { schema, id: row.id, codec: null, building: null });
    }
    for (const name of [...this.#tables.keys()]) if (!names.has(name)) this.#tables.delete(name);
  }

  // ── TableHost ──────────────────────────────────────────────────────────────────────────────────

  #open(): void {
    if (this.#closed) throw new FortressError('FX_CLOSED', 'the database is closed');
  }

  #entry(name: string): TableEntry {
    this.#open();
    const entry = typeof name === 'string' ? this.#tables.get(name) : undefined;
    if (entry === undefined) {
      throw new FortressError(
        'FX_TABLE_NOT_FOUND',
        `no table ${typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : describe(name)}`,
      );
    }
    return entry;
  }

  codec(name: string): TableCodec | Promise<TableCodec> {
    const entry = this.#entry(name);
    if (entry.codec !== null) return entry.codec;
    if (this.keys.state !== 'unsealed')
      return Promise.reject(new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first'));
    const schema = entry.schema;
    entry.building ??= TableCodec.create(schema, this.keys, {
      ...this.scope,
      packEnvelopes: this.driver.capabilities.blobConcat,
      rowidOrder: this.driver.capabilities.rowid,
    }).then(
      (codec) => {
        if (entry.schema === schema) entry.codec = codec;
        entry.building = null;
        return codec;
      },
      (error: unknown) => {
        entry.building = null;
        throw error;
      },
    );
    return entry.building;
  }

  /** Forgets every decoded key state (after a seal): the codecs' blind-index keys are zeroed. */
  dropCodecs(): void {
    for (const entry of this.#tables.values()) {
      entry.codec?.dispose();
      entry.codec = null;
      entry.building = null;
    }
  }

  /** Undefined when every key is ready (the hot path awaits nothing), else the loading. */
  prepareWrite(codec: TableCodec, count: number): Promise<void> | undefined {
    for (const id of codec.dataKeyIds) {
      if (this.keys.readyEncryptionKey(id, count) === undefined) return this.#prepareWriteSlow(codec, count);
    }
    return undefined;
  }

  async #prepareWriteSlow(codec: TableCodec, count: number): Promise<void> {
    for (const id of codec.dataKeyIds) {
      if (this.keys.readyEncryptionKey(id, count) === undefined) {
        await this.keys.encryptionKey(id, { headroom: count, rotate: !this.driver.inTransaction() });
      }
    }
  }

  async loadKey(envelope: Uint8Array): Promise<void> {
    await this.keys.keyForEnvelope(envelope);
  }

  async loadEncryptionKey(keyId: number): Promise<void> {
    await this.keys.encryptionKey(keyId, { rotate: !this.driver.inTransaction() });
  }

  session(): StorageSession {
    this.#open();
    return this.driver;
  }

  /** Where table accesses are recorded (set by the Fortress facade; absent: not audited). */
  accessLog: AccessLog | undefined = undefined;

  inTransaction(): boolean {
    return this.driver.inTransaction();
  }

  // ── tables ─────────────────────────────────────────────────────────────────────────────────────

  /** A handle on a table; `actor` is recorded with its accesses, `scope` filters every read (`RowScope`). */
  table<R extends AnyRow = AnyRow, I extends AnyRow = Partial<R>>(
    name: string,
    actor?: AccessActor,
    scope?: RowScope,
  ): Table<R, I> {
    this.#entry(name);
    return new Table<R, I>(this, name, actor, scope);
  }

  listTables(): string[] {
    this.#open();
    return [...this.#tables.keys()].sort();
  }

  describeTable(name: string): StoredTable {
    return this.#entry(name).schema;
  }

  #notInTransaction(what: string): void {
    if (this.driver.inTransaction()) {
      throw new FortressError(
        'FX_JOB_CONFLICT',
        `${what} cannot run inside a transaction (it creates keys, which must never roll back)`,
      );
    }
  }

  async #lock(table: string): Promise<TableLock> {
    if (this.#busy.has(table)) {
      throw new FortressError(
        'FX_JOB_CONFLICT',
        `table ${table} has a schema change or background job in progress`,
      );
    }
    this.#busy.add(table);
    const lease = await this.#lease(table).catch((error: unknown) => {
      this.#busy.delete(table);
      throw error;
    });
    if (lease === null) {
      this.#busy.delete(table);
      throw new FortressError(
        'FX_JOB_CONFLICT',
        `table ${table} has a schema change or background job in progress on another node`,
      );
    }
    return this.#tableLock(table, lease);
  }

  /** The cluster-wide lock on a table's schema and jobs; undefined without shared storage. */
  async #lease(table: string): Promise<ClusterLock | null | undefined> {
    return this.#cluster === undefined
      ? undefined
      : this.#cluster.tryLock(`table:${this.scope.database}/${table}`);
  }

  #tableLock(table: string, lease: ClusterLock | undefined): TableLock {
    return {
      release: () => {
        this.#busy.delete(table);
        lease?.release().catch(() => undefined);
      },
      ...(lease === undefined ? {} : { lease }),
    };
  }

  async #ensureKey(name: string, purpose: 'kek' | 'data' | 'index', algorithm?: AeadName): Promise<void> {
    const existing = this.keys.listKeys().find((k) => k.name === name);
    if (existing !== undefined) return;
    if (purpose !== 'kek') await this.#ensureKey(this.#kek, 'kek');
    try {
      await this.keys.createKey({
        name,
        purpose,
        ...(algorithm === undefined ? {} : { algorithm }),
        ...(purpose === 'kek' ? {} : { parent: this.#kek }),
      });
    } catch (error) {
      // Another node sharing the store created it first (the tenant's KEK, for two first tables).
      if (!(error instanceof FortressError && error.code === 'FX_KEY_STATE')) throw error;
      if (!this.keys.listKeys().some((k) => k.name === name)) throw error;
    }
  }

  async #ensureKeys(schema: StoredTable, columns: readonly StoredColumn[] = schema.columns): Promise<void> {
    for (const column of columns) {
      const encryption = column.encryption;
      if (encryption === null) continue;
      if (schema.level === 'field') await this.#ensureKey(encryption.key, 'data', encryption.algorithm);
      if (encryption.search !== null) await this.#ensureKey(encryption.search.indexKey, 'index');
    }
    if (schema.rowKey !== null) await this.#ensureKey(schema.rowKey.key, 'data', schema.rowKey.algorithm);
  }

  async createTable<const D extends TableDefinition>(
    name: string,
    definition: D,
  ): Promise<Table<RowOf<D>, InsertOf<D>>> {
    this.#open();
    this.#notInTransaction('createTable');
    checkName(name, 'table');
    if (
      this.#tables.has(name) ||
      [...this.#tables.keys()].some((t) => t.toLowerCase() === name.toLowerCase())
    ) {
      throw new FortressError('FX_TABLE_EXISTS', `table ${name} already exists`);
    }
    if (this.keys.state !== 'unsealed')
      throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
    const lock = await this.#lock(name);
    try {
      const id = toHex(randomBytes(4));
      const schema = buildTable(name, definition, this.#naming(name, id));
      checkPhysicalNames(name, schema.columns, schema.level, this.spelling);
      await this.#ensureKeys(schema);
      await this.driver.transaction(async (tx) => {
        for (const sql of createTableSql(schema, quote, this.spelling)) await tx.exec(sql);
        await tx.run('INSERT INTO fx_tables (name, id, schema) VALUES (?, ?, ?)', [
          name,
          id,
          JSON.stringify(schema),
        ]);
      });
      this.#tables.set(name, { schema, id, codec: null, building: null });
      this.#catalogEpoch++;
      return new Table<RowOf<D>, InsertOf<D>>(this, name);
    } finally {
      lock.release();
    }
  }

  /** Drops a table and destroys its keys: its data is unrecoverable, even from old backups. */
  async dropTable(name: string): Promise<void> {
    const entry = this.#entry(name);
    this.#notInTransaction('dropTable');
    const lock = await this.#lock(name);
    try {
      await this.driver.transaction(async (tx) => {
        await tx.exec(`DROP TABLE IF EXISTS ${quote(physicalTable(name))}`);
        await tx.run('DELETE FROM fx_tables WHERE name = ?', [name]);
        await tx.run(
          "UPDATE fx_jobs SET state = 'failed', error = 'table dropped' WHERE table_name = ? AND state IN ('running', 'paused')",
          [name],
        );
      });
      this.#tables.delete(name);
      this.#catalogEpoch++;
      await this.#shred(`${this.#keyPrefix(name, entry.id)}/`);
    } finally {
      lock.release();
    }
  }

  async #shred(prefix: string): Promise<void> {
    if (this.keys.state !== 'unsealed') return;
    for (const key of this.keys.listKeys()) {
      if (key.name.startsWith(prefix)) {
        try {
          await this.keys.destroyKey(key.id);
        } catch (error) {
          if (!(error instanceof FortressError && error.code === 'FX_KEY_STATE')) throw error;
        }
      }
    }
  }

  async #saveSchema(tx: StorageSession, schema: StoredTable): Promise<void> {
    await tx.run('UPDATE fx_tables SET schema = ? WHERE name = ?', [JSON.stringify(schema), schema.name]);
  }

  #setSchema(schema: StoredTable): void {
    const entry = this.#entry(schema.name);
    this.#catalogEpoch++;
    entry.schema = schema;
    entry.codec = null;
    entry.building = null;
  }

  #withColumns(schema: StoredTable, columns: StoredColumn[], extra: Partial<StoredTable> = {}): StoredTable {
    return Object.freeze({
      ...schema,
      ...extra,
      columns: Object.freeze(columns),
      version: schema.version + 1,
    });
  }

  #columnOf(schema: StoredTable, name: string): StoredColumn {
    const column = typeof name === 'string' ? schema.columns.find((c) => c.name === name) : undefined;
    if (column === undefined) {
      throw new FortressError(
        'FX_COLUMN_NOT_FOUND',
        `table ${schema.name} has no column ${typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : describe(name)}`,
      );
    }
    return column;
  }

  /** Adds a nullable column; existing rows read null. */
  async addColumn(table: string, name: string, definition: ColumnDefinition): Promise<void> {
    const entry = this.#entry(table);
    this.#notInTransaction('addColumn');
    const lock = await this.#lock(table);
    try {
      const schema = entry.schema;
      checkName(name, 'column');
      if (schema.columns.some((c) => c.name.toLowerCase() === name.toLowerCase())) {
        throw new FortressError('FX_SCHEMA_INVALID', `table ${table} already has a column ${name}`);
      }
      const column = buildColumn(
        table,
        name,
        definition,
        schema.level,
        schema.algorithm,
        schema.expectedRows,
        this.#namingFor(entry),
      );
      if (column.primaryKey)
        throw new FortressError(
          'FX_SCHEMA_INVALID',
          `column ${name}: a table has one primary key, set at creation`,
        );
      if (column.required)
        throw new FortressError(
          'FX_SCHEMA_INVALID',
          `column ${name}: an added column cannot be required (existing rows have no value)`,
        );
      let next = this.#withColumns(schema, [...schema.columns, column]);
      if (column.encryption !== null && schema.rowKey === null && schema.level !== 'field') {
        next = {
          ...next,
          rowKey: {
            key: this.#namingFor(entry).dataKey(table, null, schema.algorithm),
            algorithm: schema.algorithm,
          },
        };
      }
      checkPhysicalNames(table, [column], schema.level, this.spelling);
      if (this.keys.state !== 'unsealed' && column.encryption !== null)
        throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
      await this.#ensureKeys(next, [column]);
      await this.driver.transaction(async (tx) => {
        for (const p of physicalColumns(column, schema.level)) await this.#addPhysicalColumn(tx, table, p);
        if (next.rowKey !== null && schema.rowKey === null)
          await this.#addPhysicalColumn(tx, table, ROW_ENVELOPE_COLUMN);
        for (const sql of indexSql(next, column, quote, this.spelling)) await tx.exec(sql);
        await this.#saveSchema(tx, next);
      });
      this.#setSchema(next);
    } finally {
      lock.release();
    }
  }

  async #addPhysicalColumn(tx: StorageSession, table: string, column: PhysicalColumn): Promise<void> {
    await tx.exec(
      `ALTER TABLE ${quote(physicalTable(table))} ADD COLUMN ${columnSql(column, quote, this.spelling)}`,
    );
  }

  #namingFor(entry: TableEntry): KeyNaming {
    return this.#naming(entry.schema.name, entry.id);
  }

  /** Every key of a table is named under this prefix (see docs/formats.md § Catalog and jobs). */
  #keyPrefix(table: string, id: string): string {
    return `tbl/${this.scope.tenant}/${this.scope.database}/${table}-${id}`;
  }

  #naming(table: string, id: string): KeyNaming {
    const prefix = this.#keyPrefix(table, id);
    return {
      dataKey: (_t, column, algorithm) =>
        `${prefix}/${column === null ? 'row' : `col.${column}`}.${algorithm}`,
      indexKey: (_t, column) => `${prefix}/idx.${column}`,
    };
  }

  /**
   * Drops a column. Field-level and plaintext columns leave the file at once (SQLite rewrites the
   * table; secure_delete zeroes the freed pages) and the column's keys are destroyed; a column inside
   * row envelopes is stripped by a background job. Returns that job, or null.
   */
  /**
   * Runs a schema change under the table's lock (one change or job per table at a time). `change`
   * may hand the lock to a background job through `start`; the job releases it when it ends.
   * Otherwise — or if starting the job fails — the lock is released here.
   */
  async #schemaChange<T>(
    table: string,
    what: string,
    options: JobOptions,
    change: (entry: TableEntry, start: StartJob) => Promise<T>,
  ): Promise<T> {
    checkJobOptions(options);
    const entry = this.#entry(table);
    this.#notInTransaction(what);
    const lock = await this.#lock(table);
    const ownership = { handedOver: false };
    try {
      return await change(entry, async (kind, params, beforeRun) => {
        const job = await this.#startJob(table, kind, params, options, lock, beforeRun);
        ownership.handedOver = true;
        return job;
      });
    } finally {
      if (!ownership.handedOver) lock.release();
    }
  }

  dropColumn(table: string, name: string, options: JobOptions = {}): Promise<Job | null> {
    return this.#schemaChange(table, 'dropColumn', options, async (entry, start) => {
      const schema = entry.schema;
      const column = this.#columnOf(schema, name);
      if (column.primaryKey)
        throw new FortressError(
          'FX_SCHEMA_INVALID',
          `column ${name} is the primary key and cannot be dropped`,
        );
      if (schema.rowLabel === name)
        throw new FortressError(
          'FX_SCHEMA_INVALID',
          `column ${name} holds the rows' security labels and cannot be dropped`,
        );
      const next = this.#withColumns(
        schema,
        schema.columns.filter((c) => c !== column),
      );
      const inRow = column.encryption !== null && schema.level !== 'field';
      await this.driver.transaction(async (tx) => {
        for (const p of physicalColumns(column, schema.level)) {
          await tx.exec(`DROP INDEX IF EXISTS ${quote(indexName(table, p.name, this.spelling))}`);
          await tx.exec(`ALTER TABLE ${quote(physicalTable(table))} DROP COLUMN ${quote(p.name)}`);
        }
        await this.#saveSchema(tx, next);
      });
      this.#setSchema(next);
      await this.#checkpointWal();
      if (column.encryption !== null && schema.level === 'field') {
        const prefix = `${this.#keyPrefix(table, entry.id)}/col.${name}.`;
        await this.#shred(prefix);
      }
      if (column.encryption?.search) await this.#shred(column.encryption.search.indexKey);
      if (!inRow) return null;
      return start('drop-column', { column: name });
    });
  }

  /** Encrypts an existing plaintext column online; returns the background job that moves the values. */
  encryptColumn(
    table: string,
    name: string,
    encrypt: true | EncryptOptions = true,
    options: JobOptions = {},
  ): Promise<Job> {
    return this.#schemaChange(table, 'encryptColumn', options, async (entry, start) => {
      const schema = entry.schema;
      const column = this.#columnOf(schema, name);
      if (column.primaryKey)
        throw new FortressError(
          'FX_SCHEMA_INVALID',
          `column ${name} is the primary key and cannot be encrypted`,
        );
      if (column.encryption !== null)
        throw new FortressError('FX_SCHEMA_INVALID', `column ${name} is already encrypted`);
      if (schema.rowLabel === name)
        throw new FortressError(
          'FX_SCHEMA_INVALID',
          `column ${name} holds the rows' security labels: the row filter needs it in plaintext`,
        );
      const built = buildColumn(
        table,
        name,
        { type: column.type, required: column.required, maxBytes: column.maxBytes, encrypt },
        schema.level === 'table' ? 'row' : schema.level,
        schema.algorithm,
        schema.expectedRows,
        this.#namingFor(entry),
      );
      const target: StoredColumn = Object.freeze({
        ...built,
        legacyPlaintext: true,
        index: column.index,
        ...(column.mask === undefined ? {} : { mask: column.mask }),
      });
      let next = this.#withColumns(
        schema,
        schema.columns.map((c) => (c === column ? target : c)),
      );
      if (schema.level !== 'field' && schema.rowKey === null) {
        next = {
          ...next,
          rowKey: {
            key: this.#namingFor(entry).dataKey(table, null, schema.algorithm),
            algorithm: schema.algorithm,
          },
        };
      }
      checkPhysicalNames(table, [target], schema.level, this.spelling);
      if (this.keys.state !== 'unsealed')
        throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
      await this.#ensureKeys(next, [target]);
      await this.driver.transaction(async (tx) => {
        const before = new Set(physicalColumns(column, schema.level).map((p) => p.name));
        for (const p of physicalColumns(target, schema.level)) {
          if (!before.has(p.name)) await this.#addPhysicalColumn(tx, table, p);
        }
        if (next.rowKey !== null && schema.rowKey === null)
          await this.#addPhysicalColumn(tx, table, ROW_ENVELOPE_COLUMN);
        for (const sql of indexSql(next, target, quote, this.spelling)) await tx.exec(sql);
        await this.#saveSchema(tx, next);
      });
      this.#setSchema(next);
      return start('encrypt-column', { column: name });
    });
  }

  /**
   * Moves a column (field level) or the whole table (row and table levels: `column` null) to another
   * algorithm: new values use it at once, a background job re-encrypts the old ones.
   */
  changeAlgorithm(
    table: string,
    column: string | null,
    algorithm: AeadName,
    options: JobOptions = {},
  ): Promise<Job> {
    if (typeof algorithm !== 'string' || !isAeadName(algorithm)) {
      return Promise.reject(
        new FortressError('FX_SCHEMA_INVALID', `unknown algorithm ${describe(algorithm)}`),
      );
    }
    return this.#schemaChange(table, 'changeAlgorithm', options, async (entry, start) => {
      const schema = entry.schema;
      const naming = this.#namingFor(entry);
      let next: StoredTable;
      if (schema.level === 'field') {
        if (column === null)
          throw new FortressError('FX_SCHEMA_INVALID', `table ${table} encrypts per field: name the column`);
        const target = this.#columnOf(schema, column);
        if (target.encryption === null)
          throw new FortressError('FX_SCHEMA_INVALID', `column ${column} is not encrypted`);
        const encryption = { ...target.encryption, algorithm, key: naming.dataKey(table, column, algorithm) };
        next = this.#withColumns(
          schema,
          schema.columns.map((c) => (c === target ? Object.freeze({ ...c, encryption }) : c)),
        );
      } else {
        if (column !== null)
          throw new FortressError(
            'FX_SCHEMA_INVALID',
            `table ${table} encrypts whole rows: pass column null`,
          );
        next = this.#withColumns(
          schema,
          schema.columns.map((c) =>
            c.encryption === null ? c : Object.freeze({ ...c, encryption: { ...c.encryption, algorithm } }),
          ),
          {
            algorithm,
            rowKey:
              schema.rowKey === null ? null : { key: naming.dataKey(table, null, algorithm), algorithm },
          },
        );
      }
      if (this.keys.state !== 'unsealed')
        throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
      await this.#ensureKeys(next);
      await this.driver.transaction((tx) => this.#saveSchema(tx, next));
      this.#setSchema(next);
      return start('change-algorithm', { column, algorithm });
    });
  }

  /** Rotates every data key of a table and starts re-encrypting old values in the background. */
  rotateKeys(table: string, options: JobOptions = {}): Promise<Job> {
    return this.#schemaChange(table, 'rotateKeys', options, async (_entry, start) => {
      const pending = this.codec(table);
      const codec = pending instanceof Promise ? await pending : pending;
      // The job is recorded before the rotation: a crash in between leaves a job that resumes at the
      // next open and re-encrypts whatever is not under the active versions.
      return start('reencrypt', {}, async () => {
        for (const id of codec.dataKeyIds) await this.keys.rotate(id);
      });
    });
  }

  /** Re-encrypts every value not under its key's active version (after rotations made elsewhere). */
  reencrypt(table: string, options: JobOptions = {}): Promise<Job> {
    return this.#schemaChange(table, 'reencrypt', options, (_entry, start) => start('reencrypt', {}));
  }

  /**
   * Rotates a searchable column's index key. Until the job has re-indexed every row, writes fill both
   * index slots and lookups consult both, so equality queries stay exact throughout.
   */
  rotateIndexKey(table: string, column: string, options: JobOptions = {}): Promise<Job> {
    return this.#schemaChange(table, 'rotateIndexKey', options, async (entry, start) => {
      const schema = entry.schema;
      const target = this.#columnOf(schema, column);
      const search = target.encryption?.search;
      if (!search) throw new FortressError('FX_SCHEMA_INVALID', `column ${column} has no blind index`);
      const rotated = await this.keys.rotate(search.indexKey);
      const pending = { slot: (1 - search.active.slot) as 0 | 1, keyVersion: rotated.activeVersion };
      const encryption = { ...target.encryption, search: { ...search, pending } };
      const next = this.#withColumns(
        schema,
        schema.columns.map((c) => (c === target ? Object.freeze({ ...c, encryption }) : c)),
      );
      await this.driver.transaction(async (tx) => {
        await tx.run(
          `UPDATE ${quote(physicalTable(table))} SET ${quote(`b${pending.slot}_${column}`)} = NULL`,
        );
        for (const sql of indexSql(
          next,
          next.columns.find((c) => c.name === column)!,
          quote,
          this.spelling,
        ))
          await tx.exec(sql);
        await this.#saveSchema(tx, next);
      });
      this.#setSchema(next);
      return start('rotate-index', { column });
    });
  }

  /**
   * How many stored values each key version encrypts, per column — exact, counted from the envelope
   * headers. A version with no rows left can be retired (`keys.setMinDecryptionVersion`) and destroyed.
   */
  async keyUsage(table: string): Promise<KeyUsage[]> {
    const entry = this.#entry(table);
    const schema = entry.schema;
    const names = new Map(
      this.keys.state === 'uninitialized' ? [] : this.keys.listKeys().map((k) => [k.id, k.name]),
    );
    const envelopeColumns: [string, string][] = [];
    if (schema.level === 'field') {
      for (const c of schema.columns)
        if (c.encryption !== null) envelopeColumns.push([c.name, `e_${c.name}`]);
    } else if (schema.rowKey !== null) {
      envelopeColumns.push(['#row', ROW_ENVELOPE]);
    }
    const out: KeyUsage[] = [];
    for (const [column, physical] of envelopeColumns) {
      const rows = await this.driver.all<{ k: Uint8Array; n: number }>(
        `SELECT substr(${quote(physical)}, 3, 8) AS k, count(*) AS n FROM ${quote(physicalTable(table))} WHERE ${quote(physical)} IS NOT NULL GROUP BY k ORDER BY k`,
      );
      for (const row of rows) {
        const header = new Uint8Array(10);
        header.set(row.k, 2);
        const { keyId, version } = envelopeKey(header);
        out.push({ column, key: names.get(keyId) ?? `#${keyId}`, version, rows: row.n });
      }
    }
    return out;
  }

  /** Runs `fn` atomically; inside it, use `tx.table(...)`. */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    this.#open();
    // Keys are made ready before the write lock is taken, so the body rarely needs the key store.
    if (this.keys.state === 'unsealed' && !this.driver.inTransaction()) {
      for (const entry of this.#tables.values())
        if (entry.codec !== null) await this.prepareWrite(entry.codec, 4096);
    }
    return this.driver.transaction((session) => fn(new Transaction(this, session)));
  }

  // ── jobs ───────────────────────────────────────────────────────────────────────────────────────

  listJobs(): JobProgress[] {
    return [...this.#jobs.values()].map((j) => j.progress);
  }

  /**
   * A job's progress: this process's view when it runs here, else the stored record (a job another
   * node runs, or one that finished before this process started).
   */
  async jobProgress(id: number): Promise<JobProgress> {
    const local = this.#jobs.get(id);
    if (local !== undefined && (local.record.state === 'running' || this.#cluster === undefined)) {
      return local.progress;
    }
    const row = await this.driver.get<Record<string, unknown>>('SELECT * FROM fx_jobs WHERE id = ?', [id]);
    if (row === undefined) throw new FortressError('FX_JOB_NOT_FOUND', `no job ${String(id)}`);
    return new Job(toRecord(row), {}).progress;
  }

  job(id: number): Job {
    const job = this.#jobs.get(id);
    if (job === undefined) throw new FortressError('FX_JOB_NOT_FOUND', `no job ${String(id)}`);
    return job;
  }

  /**
   * Resumes jobs a previous process left running (after a crash) or paused. `orphansOnly`: only
   * jobs left running (a periodic scan on shared storage picks up a dead node's jobs, never a
   * paused one).
   */
  async resumeJobs(options: JobOptions = {}, orphansOnly = false): Promise<Job[]> {
    const rows = await this.driver.all<Record<string, unknown>>(
      orphansOnly
        ? "SELECT * FROM fx_jobs WHERE state = 'running' ORDER BY id"
        : "SELECT * FROM fx_jobs WHERE state IN ('running', 'paused') ORDER BY id",
    );
    const started: Job[] = [];
    for (let row of rows) {
      const id = Number(row['id']);
      const existing = this.#jobs.get(id);
      if (existing?.record.state === 'running') continue;
      const table = String(row['table_name']);
      if (!this.#tables.has(table)) continue;
      // A job paused here still holds its table; any other needs the table free, here and (shared
      // storage) cluster-wide: a job another node runs is locked there, a dead node's is free.
      let lock = existing === undefined ? undefined : this.#held.get(id);
      if (lock === undefined) {
        if (this.#busy.has(table)) continue;
        this.#busy.add(table);
        let lease: ClusterLock | null | undefined;
        try {
          lease = await this.#lease(table);
        } catch (error) {
          this.#busy.delete(table);
          throw error;
        }
        if (lease === null) {
          this.#busy.delete(table);
          continue;
        }
        lock = this.#tableLock(table, lease);
        if (lease !== undefined) {
          // Read again under the lock: the node that held it may have finished the job meanwhile.
          const current = await this.driver.get<Record<string, unknown>>(
            'SELECT * FROM fx_jobs WHERE id = ?',
            [id],
          );
          if (current === undefined || (current['state'] !== 'running' && current['state'] !== 'paused')) {
            lock.release();
            continue;
          }
          row = current;
        }
      }
      const record = toRecord(row);
      record.state = 'running';
      const job = existing ?? new Job(record, options);
      job.record = record;
      job.pauseRequested = false;
      this.#jobs.set(id, job);
      void this.#runJob(job, lock);
      started.push(job);
    }
    return started;
  }

  async #startJob(
    table: string,
    kind: JobKind,
    params: Record<string, unknown>,
    options: JobOptions,
    lock: TableLock,
    beforeRun?: () => Promise<void>,
  ): Promise<Job> {
    checkJobOptions(options);
    const total = (await this.driver.get<{ n: number }>(
      `SELECT count(*) AS n FROM ${quote(physicalTable(table))}`,
    ))!.n;
    // RETURNING (SQLite ≥ 3.35, PostgreSQL) rather than a last-insert rowid, which not every
    // backend has.
    const inserted = await this.driver.get<{ id: number }>(
      "INSERT INTO fx_jobs (kind, table_name, state, params, total) VALUES (?, ?, 'running', ?, ?) RETURNING id",
      [kind, table, JSON.stringify(params), total],
    );
    const record: JobRecord = {
      id: inserted!.id,
      kind,
      table,
      state: 'running',
      params,
      checkpoint: null,
      processed: 0,
      rewritten: 0,
      total,
      error: null,
    };
    const job = new Job(record, options);
    this.#jobs.set(job.id, job);
    if (beforeRun !== undefined) {
      try {
        await beforeRun();
      } catch (error) {
        this.#jobs.delete(job.id);
        await this.driver.run("UPDATE fx_jobs SET state = 'failed', error = ? WHERE id = ?", [
          error instanceof Error ? error.message : String(error),
          job.id,
        ]);
        throw error;
      }
    }
    void this.#runJob(job, lock);
    return job;
  }

  async #runJob(job: Job, tableLock: TableLock): Promise<void> {
    const record = job.record;
    this.#held.set(job.id, tableLock);
    const lock = {
      lease: tableLock.lease,
      release: () => {
        this.#held.delete(job.id);
        tableLock.release();
      },
    };
    try {
      for (;;) {
        if (this.#closed) return;
        if (lock.lease?.held === false) {
          // The connection holding the lease was lost: another node may be running the job now.
          // It stays 'running' in fx_jobs; whoever holds the lease next resumes it.
          lock.release();
          return;
        }
        if (job.pauseRequested) {
          record.state = 'paused';
          await this.driver.run("UPDATE fx_jobs SET state = 'paused' WHERE id = ?", [record.id]);
          job.emit('progress', job.progress);
          return;
        }
        const finished = await this.#jobBatch(job);
        job.emit('progress', job.progress);
        if (finished) break;
        // Let reads and writes in between batches; then honour the throttle.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const rate = job.options.rowsPerSecond;
        if (Number.isFinite(rate)) {
          const ahead = (job.processedHere / rate) * 1000 - (Date.now() - job.startedAt);
          if (ahead > 0) await new Promise<void>((resolve) => setTimeout(resolve, ahead));
        }
      }
      await this.#finishJob(job);
      record.state = 'done';
      await this.driver.run("UPDATE fx_jobs SET state = 'done' WHERE id = ?", [record.id]);
      lock.release();
      job.finish();
    } catch (error) {
      lock.release();
      if (
        this.#closed ||
        (error instanceof FortressError &&
          (error.code === 'FX_SEALED' || error.code === 'FX_STORAGE_CLOSED' || error.code === 'FX_CLOSED'))
      ) {
        // Stopped by a seal or a close: the job stays 'running' in fx_jobs and resumes next time.
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      record.state = 'failed';
      record.error = message;
      try {
        await this.driver.run("UPDATE fx_jobs SET state = 'failed', error = ? WHERE id = ?", [
          message,
          record.id,
        ]);
      } catch {
        // Reported through the job below; the row stays 'running' and is retried at next open.
      }
      job.fail(error instanceof Error ? error : new Error(message));
    }
  }

  /** One batch: rows after the checkpoint, rewritten where stale, checkpoint saved — one transaction. */
  async #jobBatch(job: Job): Promise<boolean> {
    const record = job.record;
    const codec = await this.codec(record.table);
    const all = record.kind === 'drop-column';
    const batchSize = job.options.batchSize;
    await this.prepareWrite(codec, batchSize);
    const active = new Map<number, number>();
    for (const id of codec.dataKeyIds) active.set(id, this.keys.getKey(id).activeVersion);
    const pk = `p_${codec.primaryKey.name}`;
    // Only what a rewrite reads: the key, envelopes (as one blob where possible), plaintext still
    // awaiting encryption, and blind-index slots.
    const needed = new Set(codec.physicalFor(codec.encrypted));
    for (const name of codec.physical) if (name.startsWith('b0_') || name.startsWith('b1_')) needed.add(name);
    const select = codec.selectList([...needed]);
    const after: SqlValue | null =
      record.checkpoint === null ? null : (JSON.parse(record.checkpoint) as SqlValue);
    // The body may run more than once (a backend with concurrent writers runs it again after a
    // serialization failure): it changes the job's record only once it has committed.
    const batch = await this.driver.transaction(async (tx) => {
      const raws = await tx.all<Record<string, unknown>>(
        `SELECT ${select} FROM ${quote(codec.physicalTable)}${after === null ? '' : ` WHERE ${quote(pk)} > ?`} ORDER BY ${quote(pk)} LIMIT ${batchSize}`,
        after === null ? [] : [after],
      );
      let rewritten = 0;
      // Updates grouped by statement and run as one call each: no promise per row.
      const updates = new Map<string, SqlValue[][]>();
      // The column's own type check, without `required` (a stored null stays null).
      const columns = codec.encrypted.map((column) => ({ ...column, required: false }));
      for (const raw of raws) {
        codec.unpack(raw);
        if (!all && !codec.needsRewrite(raw, active)) continue;
        const decoding = withKeys(this, () => codec.decode(raw, codec.encrypted));
        const row = decoding instanceof Promise ? await decoding : decoding;
        const checked = new Map<string, unknown>();
        for (const column of columns) checked.set(column.name, codec.check(column, row[column.name]));
        const physical = new Map<string, SqlValue>();
        const rowKey = codec.rowKeyText(raw[pk]);
        const encoding = withKeys(this, () => {
          physical.clear();
          codec.encode(checked, rowKey, physical, false);
        });
        if (encoding instanceof Promise) await encoding;
        // The last encrypted column of a row-level table was dropped: the envelope goes entirely.
        if (physical.size === 0) {
          if (codec.schema.rowKey === null) continue;
          physical.set(ROW_ENVELOPE, null);
        }
        const sql = codec.updateSql([...physical.keys()]);
        let group = updates.get(sql);
        if (group === undefined) updates.set(sql, (group = []));
        group.push([...physical.values(), raw[pk] as SqlValue]);
        rewritten++;
      }
      for (const [sql, rows] of updates) await tx.runBatch(sql, rows);
      const last = raws.length === 0 ? after : (raws[raws.length - 1]![pk] as SqlValue);
      const progress = {
        read: raws.length,
        processed: record.processed + raws.length,
        rewritten: record.rewritten + rewritten,
        checkpoint: last === null ? null : JSON.stringify(last),
      };
      await tx.run('UPDATE fx_jobs SET checkpoint = ?, processed = ?, rewritten = ? WHERE id = ?', [
        progress.checkpoint,
        progress.processed,
        progress.rewritten,
        record.id,
      ]);
      return progress;
    });
    record.processed = batch.processed;
    record.rewritten = batch.rewritten;
    record.checkpoint = batch.checkpoint;
    job.processedHere += batch.read;
    return batch.read < batchSize;
  }

  /** The schema step at the end of a job. */
  async #finishJob(job: Job): Promise<void> {
    const table = job.record.table;
    const entry = this.#entry(table);
    const schema = entry.schema;
    const column = job.record.params['column'];
    if (job.kind === 'encrypt-column' && typeof column === 'string') {
      const target = this.#columnOf(schema, column);
      const next = this.#withColumns(
        schema,
        schema.columns.map((c) =>
          c === target ? Object.freeze({ ...c, legacyPlaintext: false, index: false }) : c,
        ),
      );
      await this.driver.transaction(async (tx) => {
        await tx.exec(`DROP INDEX IF EXISTS ${quote(indexName(table, `p_${column}`, this.spelling))}`);
        await tx.exec(`ALTER TABLE ${quote(physicalTable(table))} DROP COLUMN ${quote(`p_${column}`)}`);
        await this.#saveSchema(tx, next);
      });
      this.#setSchema(next);
      // The plaintext's old pages may still sit in the write-ahead log: fold it in and truncate it.
      await this.#checkpointWal();
    } else if (job.kind === 'rotate-index' && typeof column === 'string') {
      const target = this.#columnOf(schema, column);
      const search = target.encryption!.search!;
      if (search.pending === null) return;
      const old = search.active.slot;
      const encryption = {
        ...target.encryption!,
        search: { ...search, active: search.pending, pending: null },
      };
      const next = this.#withColumns(
        schema,
        schema.columns.map((c) => (c === target ? Object.freeze({ ...c, encryption }) : c)),
      );
      await this.driver.transaction(async (tx) => {
        await tx.exec(`DROP INDEX IF EXISTS ${quote(indexName(table, `b${old}_${column}`, this.spelling))}`);
        await tx.run(`UPDATE ${quote(physicalTable(table))} SET ${quote(`b${old}_${column}`)} = NULL`);
        await this.#saveSchema(tx, next);
      });
      this.#setSchema(next);
    }
  }

  async #checkpointWal(): Promise<void> {
    const sql = this.spelling.checkpointLog;
    if (sql === null) return;
    try {
      await this.driver.exec(sql);
    } catch {
      // Not a WAL database: nothing to fold in.
    }
  }

  /** Stops jobs (they resume at the next open) and forgets tables. The driver is the caller's. */
  close(): void {
    this.#closed = true;
    this.dropCodecs();
  }
}

/** Validates job options up front, before any schema change is made. */
export function checkJobOptions(options: JobOptions | undefined): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new FortressError('FX_INVALID_ARGUMENT', 'job options: expected an object');
  }
  for (const key of Object.keys(options)) {
    if (key !== 'batchSize' && key !== 'rowsPerSecond') {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `job options: unknown option ${JSON.stringify(key.slice(0, 40))}`,
      );
    }
  }
  if (
    options.batchSize !== undefined &&
    (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > 100_000)
  ) {
    throw new FortressError('FX_INVALID_ARGUMENT', 'batchSize: expected an integer from 1 to 100000');
  }
  if (
    options.rowsPerSecond !== undefined &&
    !(typeof options.rowsPerSecond === 'number' && options.rowsPerSecond > 0)
  ) {
    throw new FortressError('FX_INVALID_ARGUMENT', 'rowsPerSecond: expected a positive number');
  }
}

function toRecord(row: Record<string, unknown>): JobRecord {
  return {
    id: Number(row['id']),
    kind: row['kind'] as JobKind,
    table: String(row['table_name']),
    state: row['state'] as JobRecord['state'],
    params: JSON.parse(String(row['params'])) as Record<string, unknown>,
    checkpoint: typeof row['checkpoint'] === 'string' ? row['checkpoint'] : null,
    processed: Number(row['processed']),
    rewritten: Number(row['rewritten']),
    total: Number(row['total']),
    error: typeof row['error'] === 'string' ? row['error'] : null,
  };
}

export function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The handle a transaction body gets: tables bound to the transaction. */
export class Transaction {
  readonly #engine: Engine;
  readonly #session: StorageSession;

  /** @internal */
  constructor(engine: Engine, session: StorageSession) {
    this.#engine = engine;
    this.#session = session;
  }

  table<R extends AnyRow = AnyRow, I extends AnyRow = Partial<R>>(
    name: string,
    actor?: AccessActor,
    scope?: RowScope,
  ): Table<R, I> {
    this.#engine.describeTable(name);
    const session = this.#session;
    const engine = this.#engine;
    const host: TableHost = {
      codec: (t) => engine.codec(t),
      prepareWrite: (c, n) => engine.prepareWrite(c, n),
      loadKey: (e) => engine.loadKey(e),
      loadEncryptionKey: (k) => engine.loadEncryptionKey(k),
      session: () => session,
      rowid: engine.rowid,
      spelling: engine.spelling,
      accessLog: engine.accessLog,
      inTransaction: () => true,
    };
    return new Table<R, I>(host, name, actor, scope);
  }
}
