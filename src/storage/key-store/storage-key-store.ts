/**
 * @module storage/key-store/storage-key-store
 * The keys layer's `KeyStore` on a Fortress database, so wrapped keys, the seal configuration and
 * the data live in one file (one backup captures everything). It stores what the keys layer hands
 * it — wrapped key bytes and metadata, never an unwrapped key — and imports the keys layer's types
 * only; records are validated on the keys side (`ValidatingKeyStore`).
 *
 * Tables: fx_meta(name, value), fx_keys(id, name UNIQUE, record JSON),
 * fx_key_versions(key_id, version, record JSON, wrapped bytes).
 */
import type { KeyRecord, KeyStore, KeyVersionRecord } from '../../keys/store/key-store.js';
import { FortressError } from '../../util/errors.js';
import type { SqlSpelling, StorageDriver } from '../dialect.js';

function schemaSql(s: SqlSpelling): string {
  // Key ids are chosen by the keys layer (never numbered by the database).
  return `
CREATE TABLE IF NOT EXISTS fx_meta (name ${s.text} PRIMARY KEY, value ${s.bytes} NOT NULL);
CREATE TABLE IF NOT EXISTS fx_keys (id ${s.int64} PRIMARY KEY, name ${s.text} NOT NULL UNIQUE, record ${s.text} NOT NULL);
CREATE TABLE IF NOT EXISTS fx_key_versions (
  key_id ${s.int64} NOT NULL,
  version ${s.int64} NOT NULL,
  record ${s.text} NOT NULL,
  wrapped ${s.bytes},
  PRIMARY KEY (key_id, version)
);
`;
}

interface VersionRow {
  record: string;
  wrapped: Uint8Array | null;
}

function parse(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new FortressError('FX_KEYSTORE_CORRUPT', `${what} is not valid JSON`, { cause });
  }
}

function toVersion(row: VersionRow): KeyVersionRecord {
  const record = parse(row.record, 'a key version row') as Omit<KeyVersionRecord, 'wrapped'>;
  return { ...record, wrapped: row.wrapped === null ? null : new Uint8Array(row.wrapped) };
}

/**
 * @example
 * ```ts
 * const db = await new SqliteDialect({ path: './data/fortress.db' }).createDriver();
 * const keys = await KeyManager.open({ store: await StorageKeyStore.open(db) });
 * ```
 */
export class StorageKeyStore implements KeyStore {
  readonly description: string;
  readonly #driver: StorageDriver;
  #closed = false;
  readonly #ownsDriver: boolean;

  private constructor(db: StorageDriver, ownsDriver: boolean) {
    this.#driver = db;
    this.#ownsDriver = ownsDriver;
    this.description = `${db.dialect} database`;
  }

  /**
   * Creates the key tables if needed. By default the store does not own `db` (it holds data too):
   * `close()` leaves it open; with `ownsDriver`, closing the store closes the database.
   */
  static async open(db: StorageDriver, options: { ownsDriver?: boolean } = {}): Promise<StorageKeyStore> {
    await db.exec(schemaSql(db.spelling));
    return new StorageKeyStore(db, options.ownsDriver === true);
  }

  async getMeta(name: string): Promise<Uint8Array | undefined> {
    const row = await this.#db.get<{ value: Uint8Array }>('SELECT value FROM fx_meta WHERE name = ?', [name]);
    return row === undefined ? undefined : new Uint8Array(row.value);
  }

  async putMeta(name: string, value: Uint8Array): Promise<void> {
    await this.#db.run(
      'INSERT INTO fx_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
      [name, value],
    );
  }

  async createMeta(name: string, value: Uint8Array): Promise<boolean> {
    const { changes } = await this.#db.run(
      'INSERT INTO fx_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
      [name, value],
    );
    return changes === 1;
  }

  async deleteMeta(name: string): Promise<void> {
    await this.#db.run('DELETE FROM fx_meta WHERE name = ?', [name]);
  }

  async listKeys(): Promise<KeyRecord[]> {
    const rows = await this.#db.all<{ record: string }>('SELECT record FROM fx_keys ORDER BY id');
    return rows.map((row) => parse(row.record, 'a key row') as KeyRecord);
  }

  async getKey(id: number): Promise<KeyRecord | undefined> {
    const row = await this.#db.get<{ record: string }>('SELECT record FROM fx_keys WHERE id = ?', [id]);
    return row === undefined ? undefined : (parse(row.record, 'a key row') as KeyRecord);
  }

  async putKey(record: KeyRecord): Promise<void> {
    try {
      await this.#db.run(
        'INSERT INTO fx_keys (id, name, record) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, record = excluded.record',
        [record.id, record.name, JSON.stringify(record)],
      );
    } catch (error) {
      if (error instanceof FortressError && error.code === 'FX_STORAGE_CONSTRAINT') {
        throw new FortressError('FX_KEYSTORE_CORRUPT', `another key is already named ${record.name}`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async getVersion(keyId: number, version: number): Promise<KeyVersionRecord | undefined> {
    const row = await this.#db.get<VersionRow>(
      'SELECT record, wrapped FROM fx_key_versions WHERE key_id = ? AND version = ?',
      [keyId, version],
    );
    return row === undefined ? undefined : toVersion(row);
  }

  async putVersion(record: KeyVersionRecord): Promise<void> {
    const { wrapped, ...rest } = record;
    await this.#db.run(
      'INSERT INTO fx_key_versions (key_id, version, record, wrapped) VALUES (?, ?, ?, ?) ON CONFLICT (key_id, version) DO UPDATE SET record = excluded.record, wrapped = excluded.wrapped',
      [record.keyId, record.version, JSON.stringify(rest), wrapped],
    );
  }

  async listVersions(
    keyId: number,
    page: { fromVersion?: number; limit?: number } = {},
  ): Promise<KeyVersionRecord[]> {
    // No limit: no LIMIT clause (SQLite reads LIMIT -1 as none, PostgreSQL refuses it).
    const sql =
      'SELECT record, wrapped FROM fx_key_versions WHERE key_id = ? AND version >= ? ORDER BY version';
    const from = page.fromVersion ?? 1;
    const rows = await this.#db.all<VersionRow>(
      page.limit === undefined ? sql : `${sql} LIMIT ?`,
      page.limit === undefined ? [keyId, from] : [keyId, from, page.limit],
    );
    return rows.map(toVersion);
  }

  async shredVersion(keyId: number, version: number): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const row = await tx.get<VersionRow>(
        'SELECT record, wrapped FROM fx_key_versions WHERE key_id = ? AND version = ?',
        [keyId, version],
      );
      if (row === undefined)
        throw new FortressError('FX_KEY_NOT_FOUND', `no version ${version} of key ${keyId}`);
      const record = parse(row.record, 'a key version row') as Omit<KeyVersionRecord, 'wrapped'>;
      const tombstone = { ...record, state: 'destroyed' as const };
      // With secure_delete on (the SQLite dialect sets it), the old blob's bytes are overwritten in
      // the database file, not just unlinked.
      await tx.run('UPDATE fx_key_versions SET record = ?, wrapped = NULL WHERE key_id = ? AND version = ?', [
        JSON.stringify(tombstone),
        keyId,
        version,
      ]);
    });
  }

  /** The driver, unless this store was closed (the database itself stays open: it holds data too). */
  get #db(): StorageDriver {
    if (this.#closed) throw new FortressError('FX_INVALID_ARGUMENT', 'the key store is closed');
    return this.#driver;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsDriver) await this.#driver.close();
  }
}
