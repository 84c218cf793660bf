/**
 * @module secrets/kv/kv-engine
 * Versioned key/value secrets, with the semantics of HashiCorp Vault's KV version 2: every write
 * of a path is a new version (the oldest beyond `maxVersions` are removed for good), reads take the
 * latest or a given version, check-and-set guards against lost updates, versions are soft-deleted
 * and undeleted or destroyed, and each path carries metadata (custom fields, `casRequired`,
 * `deleteVersionAfter`).
 *
 * Storage (docs/formats.md): `fx_kv_secrets` (one row per path: its metadata, in clear),
 * `fx_kv_versions` (one row per version: times, state, and the value as an envelope) and
 * `fx_kv_config` (engine settings, per tenant). A value is the JSON text of its data, encrypted
 * under the tenant's `secrets/<tenant>/kv` data key with the context (tenant, `secrets`, `kv`,
 * path, version): a ciphertext copied to another path or version fails to decrypt. Paths, times
 * and custom metadata are not encrypted (docs/security.md).
 *
 * This class enforces no policy and records no audit: `Fortress.kv` and `PolicySession.kv` wrap it.
 */
import type { StorageDriver, StorageSession } from '../../storage/dialect.js';
import type { KeyManager } from '../../keys/key-manager.js';
import { ensureSecretsKey, secretsKeyName } from '../secrets-key.js';
import { EncryptionContext } from '../../crypto/envelope/encryption-context.js';
import { encrypt } from '../../crypto/envelope/envelope.js';
import { FortressError } from '../../util/errors.js';
import { StorageConstraintError } from '../../storage/constraint-error.js';
import { assertInteger, assertKnownFields, assertOptions } from '../../util/bytes.js';
import { checkFolder, checkSecretPath } from './kv-path.js';

/** Versions kept per path unless configured otherwise (Vault's default). */
export const DEFAULT_MAX_VERSIONS = 10;
/** The most versions a path may keep. */
export const MAX_VERSIONS_LIMIT = 1000;
/** Largest value (its JSON text), in bytes. */
export const MAX_VALUE_BYTES: number = 1024 * 1024;
/** Custom metadata bounds (as Vault's). */
const MAX_CUSTOM_KEYS = 64;
const MAX_CUSTOM_KEY = 128;
const MAX_CUSTOM_VALUE = 512;
const DEFAULT_LIST = 100;
/** The options each call accepts: anything else is refused, never ignored. */
const WRITE_OPTIONS: readonly string[] = ['cas'];
const GET_OPTIONS: readonly string[] = ['version'];
const LIST_OPTIONS: readonly string[] = ['after', 'limit'];
const MAX_LIST = 1000;
/** Longest `deleteVersionAfter`: 100 years, in ms. */
const MAX_DELETE_AFTER = 100 * 365 * 86_400_000;

/** A secret's data: a JSON object. */
export type SecretData = Readonly<Record<string, unknown>>;

/** One version's state. */
export interface SecretVersionInfo {
  readonly version: number;
  /** ISO 8601. */
  readonly createdTime: string;
  /** When it was (or will be) soft-deleted, ISO 8601; null if never. */
  readonly deletionTime: string | null;
  /** Its value is gone for good. */
  readonly destroyed: boolean;
}

/** A version as read: its data (null once deleted or destroyed) and its state. */
export interface SecretVersion {
  readonly data: SecretData | null;
  readonly metadata: SecretVersionInfo & { readonly customMetadata: Readonly<Record<string, string>> };
}

/** A path's metadata. */
export interface SecretMetadata {
  readonly path: string;
  readonly currentVersion: number;
  readonly oldestVersion: number;
  /** 0: the engine's setting. */
  readonly maxVersions: number;
  readonly casRequired: boolean;
  /** Versions are soft-deleted this long after they are written (ms); 0: never (or the engine's). */
  readonly deleteVersionAfter: number;
  readonly customMetadata: Readonly<Record<string, string>>;
  readonly createdTime: string;
  readonly updatedTime: string;
  /** Every kept version, oldest first. */
  readonly versions: readonly SecretVersionInfo[];
}

/** What a path's metadata may be set to (each field optional: the others keep their value). */
export interface SecretMetadataChanges {
  readonly maxVersions?: number;
  readonly casRequired?: boolean;
  readonly deleteVersionAfter?: number;
  readonly customMetadata?: Readonly<Record<string, string>>;
}

/** Engine-wide settings (for the tenant). */
export interface KvConfig {
  /** Versions kept for paths that set none. @default 10 */
  readonly maxVersions: number;
  /** Every write must carry `cas`. @default false */
  readonly casRequired: boolean;
  /** Soft-delete versions this long after writing (ms) for paths that set none; 0: never. */
  readonly deleteVersionAfter: number;
}

export interface WriteOptions {
  /** Check-and-set: 0 = only if the path has no version yet; n = only if the current version is n. */
  readonly cas?: number;
}

export interface ListOptions {
  /** Continue after this entry (the `next` of the previous page). */
  readonly after?: string;
  /** @default 100, at most 1000 */
  readonly limit?: number;
}

/** A page of a folder: the secrets and sub-folders (ending in `/`) directly in it, in order. */
export interface SecretList {
  readonly keys: readonly string[];
  /** Pass as `after` for the next page; null at the end. */
  readonly next: string | null;
}

export interface KvEngineOptions {
  readonly driver: StorageDriver;
  readonly keys: KeyManager;
  readonly tenant: string;
  /** @default Date.now */
  readonly now?: () => number;
}

interface SecretRow {
  readonly current_version: number;
  readonly oldest_version: number;
  readonly max_versions: number;
  readonly cas_required: number;
  readonly delete_after: number;
  readonly custom: string;
  readonly created_at: number;
  readonly updated_at: number;
}

interface VersionRow {
  readonly version: number;
  readonly created_at: number;
  readonly deleted_at: number | null;
  readonly destroyed: number;
  readonly value: unknown;
}

function ddl(driver: StorageDriver): string {
  const s = driver.spelling;
  return `
CREATE TABLE IF NOT EXISTS fx_kv_secrets (
  tenant ${s.text} NOT NULL,
  path ${s.text} NOT NULL,
  current_version ${s.int64} NOT NULL,
  oldest_version ${s.int64} NOT NULL,
  max_versions ${s.int64} NOT NULL,
  cas_required ${s.int64} NOT NULL,
  delete_after ${s.int64} NOT NULL,
  custom ${s.text} NOT NULL,
  created_at ${s.int64} NOT NULL,
  updated_at ${s.int64} NOT NULL,
  PRIMARY KEY (tenant, path)
)${s.withoutRowid};
CREATE TABLE IF NOT EXISTS fx_kv_versions (
  tenant ${s.text} NOT NULL,
  path ${s.text} NOT NULL,
  version ${s.int64} NOT NULL,
  created_at ${s.int64} NOT NULL,
  deleted_at ${s.int64},
  destroyed ${s.int64} NOT NULL,
  value ${s.bytes},
  PRIMARY KEY (tenant, path, version)
)${s.withoutRowid};
CREATE TABLE IF NOT EXISTS fx_kv_config (
  tenant ${s.text} PRIMARY KEY,
  max_versions ${s.int64} NOT NULL,
  cas_required ${s.int64} NOT NULL,
  delete_after ${s.int64} NOT NULL
);`;
}

const SQL = {
  secret:
    'SELECT current_version, oldest_version, max_versions, cas_required, delete_after, custom, created_at, updated_at FROM fx_kv_secrets WHERE tenant = ? AND path = ?',
  insertSecret:
    'INSERT INTO fx_kv_secrets (tenant, path, current_version, oldest_version, max_versions, cas_required, delete_after, custom, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  updateSecret:
    'UPDATE fx_kv_secrets SET current_version = ?, oldest_version = ?, max_versions = ?, cas_required = ?, delete_after = ?, custom = ?, updated_at = ? WHERE tenant = ? AND path = ?',
  deleteSecret: 'DELETE FROM fx_kv_secrets WHERE tenant = ? AND path = ?',
  version:
    'SELECT version, created_at, deleted_at, destroyed, value FROM fx_kv_versions WHERE tenant = ? AND path = ? AND version = ?',
  versions:
    'SELECT version, created_at, deleted_at, destroyed FROM fx_kv_versions WHERE tenant = ? AND path = ? ORDER BY version',
  insertVersion:
    'INSERT INTO fx_kv_versions (tenant, path, version, created_at, deleted_at, destroyed, value) VALUES (?, ?, ?, ?, ?, 0, ?)',
  setDeleted:
    'UPDATE fx_kv_versions SET deleted_at = ? WHERE tenant = ? AND path = ? AND version = ? AND destroyed = 0',
  destroy:
    'UPDATE fx_kv_versions SET destroyed = 1, value = NULL WHERE tenant = ? AND path = ? AND version = ?',
  pruneBelow: 'DELETE FROM fx_kv_versions WHERE tenant = ? AND path = ? AND version < ?',
  deleteVersions: 'DELETE FROM fx_kv_versions WHERE tenant = ? AND path = ?',
  list: 'SELECT path FROM fx_kv_secrets WHERE tenant = ? AND path > ? AND substr(path, 1, ?) = ? ORDER BY path LIMIT ?',
  /** The same, from the cursor inclusive (after skipping a sub-folder). */
  listFrom:
    'SELECT path FROM fx_kv_secrets WHERE tenant = ? AND path >= ? AND substr(path, 1, ?) = ? ORDER BY path LIMIT ?',
  config: 'SELECT max_versions, cas_required, delete_after FROM fx_kv_config WHERE tenant = ?',
  upsertConfig:
    'INSERT INTO fx_kv_config (tenant, max_versions, cas_required, delete_after) VALUES (?, ?, ?, ?) ON CONFLICT (tenant) DO UPDATE SET max_versions = excluded.max_versions, cas_required = excluded.cas_required, delete_after = excluded.delete_after',
} as const;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function notFound(path: string, version?: number): FortressError {
  return new FortressError(
    'FX_SECRET_NOT_FOUND',
    version === undefined ? `no secret at ${path}` : `secret ${path} has no version ${version}`,
  );
}

function checkData(data: unknown, name = 'data'): SecretData {
  if (typeof data !== 'object' || data === null || Array.isArray(data) || data instanceof Uint8Array) {
    throw new FortressError('FX_INVALID_ARGUMENT', `${name}: expected a JSON object`);
  }
  return data as SecretData;
}

function encodeData(data: SecretData): Uint8Array {
  let text: string;
  try {
    text = JSON.stringify(data);
  } catch {
    throw new FortressError('FX_INVALID_ARGUMENT', 'data: not representable as JSON');
  }
  const bytes = utf8.encode(text);
  if (bytes.length > MAX_VALUE_BYTES) {
    throw new FortressError(
      'FX_VALUE_TOO_LARGE',
      `data: ${bytes.length} bytes of JSON; at most ${MAX_VALUE_BYTES}`,
    );
  }
  return bytes;
}

function checkCustom(custom: unknown): Record<string, string> {
  if (typeof custom !== 'object' || custom === null || Array.isArray(custom)) {
    throw new FortressError('FX_INVALID_ARGUMENT', 'customMetadata: expected an object of strings');
  }
  const entries = Object.entries(custom as Record<string, unknown>);
  if (entries.length > MAX_CUSTOM_KEYS) {
    throw new FortressError('FX_INVALID_ARGUMENT', `customMetadata: at most ${MAX_CUSTOM_KEYS} keys`);
  }
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > MAX_CUSTOM_KEY) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `customMetadata: keys of 1-${MAX_CUSTOM_KEY} characters`,
      );
    }
    if (typeof value !== 'string' || value.length > MAX_CUSTOM_VALUE) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `customMetadata.${key.slice(0, 40)}: expected a string of at most ${MAX_CUSTOM_VALUE} characters`,
      );
    }
    out[key] = value;
  }
  return out;
}

function checkVersions(versions: unknown): number[] {
  if (!Array.isArray(versions) || versions.length === 0 || versions.length > MAX_VERSIONS_LIMIT) {
    throw new FortressError('FX_INVALID_ARGUMENT', 'versions: expected a non-empty list of version numbers');
  }
  versions.forEach((v, i) => {
    assertInteger(v, `versions[${i}]`, 1, Number.MAX_SAFE_INTEGER);
  });
  return [...new Set(versions as number[])];
}

/** RFC 7386 JSON merge patch: `null` removes a member, objects merge, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out = new Map<string, unknown>(
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? Object.entries(target as Record<string, unknown>)
      : [],
  );
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) out.delete(key);
    else out.set(key, mergePatch(out.get(key), value));
  }
  return Object.fromEntries(out);
}

/**
 * @example
 * ```ts
 * const kv = db.kv;
 * await kv.put('apps/billing/db', { user: 'billing', password: 's3cr3t' });
 * const { data, metadata } = await kv.get('apps/billing/db');   // latest version
 * await kv.put('apps/billing/db', { user: 'billing', password: 'n3w' }, { cas: metadata.version });
 * await kv.rollback('apps/billing/db', 1);                      // version 1's data as version 3
 * ```
 */
export class KvEngine {
  readonly #driver: StorageDriver;
  readonly #keys: KeyManager;
  readonly #tenant: string;
  readonly #now: () => number;
  readonly #keyName: string;
  #keyReady = false;

  private constructor(options: KvEngineOptions) {
    this.#driver = options.driver;
    this.#keys = options.keys;
    this.#tenant = options.tenant;
    this.#now = options.now ?? Date.now;
    this.#keyName = secretsKeyName(options.tenant, 'kv');
  }

  /** Creates the tables if needed. */
  static async open(options: KvEngineOptions): Promise<KvEngine> {
    await options.driver.exec(ddl(options.driver));
    return new KvEngine(options);
  }

  /** The key values are encrypted under (created on the first write). */
  get keyName(): string {
    return this.#keyName;
  }

  async #ensureKey(): Promise<void> {
    // Once it exists it stays (a destroyed key fails at encryptionKey): skip listing every key on each write.
    if (this.#keyReady) return;
    await ensureSecretsKey(this.#keys, this.#tenant, 'kv');
    this.#keyReady = true;
  }

  #context(path: string, version: number): EncryptionContext {
    return EncryptionContext.of({
      tenant: this.#tenant,
      database: 'secrets',
      table: 'kv',
      column: path,
      row: String(version),
    });
  }

  async #config(tx: StorageSession): Promise<KvConfig> {
    const row = await tx.get<{ max_versions: number; cas_required: number; delete_after: number }>(
      SQL.config,
      [this.#tenant],
    );
    return row === undefined
      ? { maxVersions: DEFAULT_MAX_VERSIONS, casRequired: false, deleteVersionAfter: 0 }
      : {
          maxVersions: row.max_versions,
          casRequired: row.cas_required === 1,
          deleteVersionAfter: row.delete_after,
        };
  }

  /** The engine's settings for this tenant. */
  config(): Promise<KvConfig> {
    return this.#config(this.#driver);
  }

  /** Changes the engine's settings; fields left out keep their value. */
  async configure(changes: Partial<KvConfig>): Promise<KvConfig> {
    assertOptions(changes, 'config');
    for (const key of Object.keys(changes)) {
      if (!['maxVersions', 'casRequired', 'deleteVersionAfter'].includes(key)) {
        throw new FortressError(
          'FX_INVALID_ARGUMENT',
          `config: unknown setting ${JSON.stringify(key.slice(0, 40))}`,
        );
      }
    }
    if (changes.maxVersions !== undefined)
      assertInteger(changes.maxVersions, 'maxVersions', 1, MAX_VERSIONS_LIMIT);
    if (changes.casRequired !== undefined && typeof changes.casRequired !== 'boolean') {
      throw new FortressError('FX_INVALID_ARGUMENT', 'casRequired: expected true or false');
    }
    if (changes.deleteVersionAfter !== undefined)
      assertInteger(changes.deleteVersionAfter, 'deleteVersionAfter', 0, MAX_DELETE_AFTER);
    return this.#driver.transaction(async (tx) => {
      const next = { ...(await this.#config(tx)), ...changes };
      await tx.run(SQL.upsertConfig, [
        this.#tenant,
        next.maxVersions,
        next.casRequired ? 1 : 0,
        next.deleteVersionAfter,
      ]);
      return next;
    });
  }

  /**
   * Writes `data` as the path's next version. `cas` (check-and-set): 0 = only if the path has no
   * version yet, n = only if the current version is n; required when the path or the engine says
   * `casRequired`. Returns the new version's state.
   */
  async put(path: string, data: SecretData, options: WriteOptions = {}): Promise<SecretVersionInfo> {
    checkSecretPath(path);
    const bytes = encodeData(checkData(data));
    return this.#write(path, options, false, () => bytes);
  }

  /**
   * Applies a JSON merge patch (RFC 7386: `null` removes a member) to the current version's data
   * and writes the result as the next version. The current version must be readable.
   */
  async patch(path: string, changes: SecretData, options: WriteOptions = {}): Promise<SecretVersionInfo> {
    checkSecretPath(path);
    checkData(changes, 'changes');
    return this.#write(path, options, true, (current) => {
      if (current === null) {
        throw new FortressError('FX_SECRET_NOT_FOUND', `no readable current version of ${path} to patch`);
      }
      return encodeData(checkData(mergePatch(current, changes)));
    });
  }

  /** Writes version `version`'s data as the path's next version (a new version; history is kept). */
  async rollback(path: string, version: number, options: WriteOptions = {}): Promise<SecretVersionInfo> {
    checkSecretPath(path);
    assertInteger(version, 'version', 1, Number.MAX_SAFE_INTEGER);
    const read = await this.get(path, { version });
    if (read.data === null) {
      throw new FortressError(
        'FX_SECRET_DELETED',
        `version ${version} of ${path} is deleted or destroyed; undelete it before rolling back to it`,
      );
    }
    const bytes = encodeData(read.data);
    return this.#write(path, options, false, () => bytes);
  }

  /** The shared write: `value` gets the current version's data when `needsCurrent` (a patch). */
  async #write(
    path: string,
    options: WriteOptions,
    needsCurrent: boolean,
    value: (current: SecretData | null) => Uint8Array,
  ): Promise<SecretVersionInfo> {
    assertOptions(options, 'options');
    // A misspelt cas would otherwise write without the check it asked for.
    assertKnownFields(options, WRITE_OPTIONS, 'options');
    if (options.cas !== undefined) assertInteger(options.cas, 'cas', 0, Number.MAX_SAFE_INTEGER);
    await this.#ensureKey();
    // Outside the transaction: a due rotation happens here, never inside one that may roll back.
    await this.#keys.encryptionKey(this.#keyName);
    // Two writers of one path that both read it before either committed insert the same version:
    // the second fails on the key (PostgreSQL reports that as a constraint violation, not as a
    // serialization failure) and runs again, seeing the first — so cas answers as it should.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#writeOnce(path, options, needsCurrent, value);
      } catch (error) {
        if (!(error instanceof StorageConstraintError && error.constraint === 'unique') || attempt === 5)
          throw error;
      }
    }
  }

  async #writeOnce(
    path: string,
    options: WriteOptions,
    needsCurrent: boolean,
    value: (current: SecretData | null) => Uint8Array,
  ): Promise<SecretVersionInfo> {
    return this.#driver.transaction(async (tx) => {
      const now = this.#now();
      const config = await this.#config(tx);
      const secret = await tx.get<SecretRow>(SQL.secret, [this.#tenant, path]);
      const casRequired = config.casRequired || secret?.cas_required === 1;
      const currentVersion = secret?.current_version ?? 0;
      if (options.cas === undefined && casRequired) {
        throw new FortressError('FX_SECRET_CAS_REQUIRED', `writes to ${path} must carry cas (check-and-set)`);
      }
      if (options.cas !== undefined && options.cas !== currentVersion) {
        throw new FortressError(
          'FX_SECRET_CAS_MISMATCH',
          `cas ${options.cas} does not match the current version of ${path} (${currentVersion})`,
        );
      }
      let current: SecretData | null = null;
      if (needsCurrent && secret !== undefined && currentVersion > 0) {
        current = await this.#readData(tx, path, currentVersion, now);
      }
      const plaintext = value(current);
      const version = currentVersion + 1;
      const deleteAfter =
        secret !== undefined && secret.delete_after > 0 ? secret.delete_after : config.deleteVersionAfter;
      const key = await this.#keys.encryptionKey(this.#keyName, { rotate: false });
      const envelope = encrypt(key, plaintext, this.#context(path, version));
      const deletedAt = deleteAfter > 0 ? now + deleteAfter : null;
      await tx.run(SQL.insertVersion, [this.#tenant, path, version, now, deletedAt, envelope]);
      const maxVersions =
        secret !== undefined && secret.max_versions > 0 ? secret.max_versions : config.maxVersions;
      const oldest = Math.max(secret?.oldest_version ?? 1, version - maxVersions + 1);
      if (secret === undefined) {
        await tx.run(SQL.insertSecret, [this.#tenant, path, version, oldest, 0, 0, 0, '{}', now, now]);
      } else {
        // Versions beyond the kept number go for good (as Vault's do).
        if (oldest > secret.oldest_version) await tx.run(SQL.pruneBelow, [this.#tenant, path, oldest]);
        await tx.run(SQL.updateSecret, [
          version,
          oldest,
          secret.max_versions,
          secret.cas_required,
          secret.delete_after,
          secret.custom,
          now,
          this.#tenant,
          path,
        ]);
      }
      return {
        version,
        createdTime: iso(now),
        deletionTime: deletedAt === null ? null : iso(deletedAt),
        destroyed: false,
      };
    });
  }

  async #readData(
    tx: StorageSession,
    path: string,
    version: number,
    now: number,
  ): Promise<SecretData | null> {
    const row = await tx.get<VersionRow>(SQL.version, [this.#tenant, path, version]);
    if (row === undefined || row.destroyed === 1 || (row.deleted_at !== null && row.deleted_at <= now))
      return null;
    return this.#open(path, row);
  }

  async #open(path: string, row: VersionRow): Promise<SecretData> {
    if (!(row.value instanceof Uint8Array)) {
      throw new FortressError(
        'FX_STORAGE',
        `the stored value of ${path} version ${row.version} is not bytes`,
      );
    }
    const plaintext = await this.#keys.decrypt(row.value, this.#context(path, row.version));
    try {
      return checkData(JSON.parse(fromUtf8.decode(plaintext)) as unknown);
    } finally {
      plaintext.fill(0);
    }
  }

  /**
   * Reads the latest version, or `version`. `data` is null when that version is deleted (also by
   * `deleteVersionAfter`) or destroyed. FX_SECRET_NOT_FOUND when the path or version does not exist.
   */
  async get(path: string, options: { readonly version?: number } = {}): Promise<SecretVersion> {
    checkSecretPath(path);
    assertOptions(options, 'options');
    assertKnownFields(options, GET_OPTIONS, 'options');
    if (options.version !== undefined) assertInteger(options.version, 'version', 1, Number.MAX_SAFE_INTEGER);
    const now = this.#now();
    const secret = await this.#driver.get<SecretRow>(SQL.secret, [this.#tenant, path]);
    if (secret === undefined) throw notFound(path);
    const version = options.version ?? secret.current_version;
    const row = await this.#driver.get<VersionRow>(SQL.version, [this.#tenant, path, version]);
    if (row === undefined) throw notFound(path, version);
    const info = versionInfo(row);
    const readable = row.destroyed === 0 && (row.deleted_at === null || row.deleted_at > now);
    return {
      data: readable ? await this.#open(path, row) : null,
      metadata: { ...info, customMetadata: JSON.parse(secret.custom) as Record<string, string> },
    };
  }

  async #versionsChange(
    path: string,
    versions: readonly number[] | undefined,
    change: (tx: StorageSession, version: number, now: number) => Promise<void>,
  ): Promise<number[]> {
    checkSecretPath(path);
    const chosen = versions === undefined ? undefined : checkVersions(versions);
    return this.#driver.transaction(async (tx) => {
      const now = this.#now();
      const secret = await tx.get<SecretRow>(SQL.secret, [this.#tenant, path]);
      if (secret === undefined) throw notFound(path);
      const list = chosen ?? [secret.current_version];
      const kept = list.filter((v) => v >= secret.oldest_version && v <= secret.current_version);
      for (const version of kept) await change(tx, version, now);
      return kept;
    });
  }

  /** Soft-deletes versions (default: the latest); undelete restores them. Returns those changed. */
  async delete(path: string, versions?: readonly number[]): Promise<number[]> {
    return this.#versionsChange(path, versions, async (tx, version, now) => {
      await tx.run(SQL.setDeleted, [now, this.#tenant, path, version]);
    });
  }

  /** Undoes soft deletes (not destroys). */
  async undelete(path: string, versions: readonly number[]): Promise<number[]> {
    return this.#versionsChange(path, checkVersions(versions), async (tx, version) => {
      await tx.run(SQL.setDeleted, [null, this.#tenant, path, version]);
    });
  }

  /** Removes versions' values for good (their metadata stays, marked destroyed). */
  async destroy(path: string, versions: readonly number[]): Promise<number[]> {
    return this.#versionsChange(path, checkVersions(versions), async (tx, version) => {
      await tx.run(SQL.destroy, [this.#tenant, path, version]);
    });
  }

  /** Removes the path: every version (values destroyed) and its metadata. */
  async deleteAll(path: string): Promise<boolean> {
    checkSecretPath(path);
    return this.#driver.transaction(async (tx) => {
      await tx.run(SQL.deleteVersions, [this.#tenant, path]);
      return (await tx.run(SQL.deleteSecret, [this.#tenant, path])).changes > 0;
    });
  }

  /** The path's metadata and every kept version's state. */
  async metadata(path: string): Promise<SecretMetadata> {
    checkSecretPath(path);
    const secret = await this.#driver.get<SecretRow>(SQL.secret, [this.#tenant, path]);
    if (secret === undefined) throw notFound(path);
    const rows = await this.#driver.all<VersionRow>(SQL.versions, [this.#tenant, path]);
    return {
      path,
      currentVersion: secret.current_version,
      oldestVersion: secret.oldest_version,
      maxVersions: secret.max_versions,
      casRequired: secret.cas_required === 1,
      deleteVersionAfter: secret.delete_after,
      customMetadata: JSON.parse(secret.custom) as Record<string, string>,
      createdTime: iso(secret.created_at),
      updatedTime: iso(secret.updated_at),
      versions: rows.map(versionInfo),
    };
  }

  /**
   * Sets a path's metadata (creating the path, with no version, if needed). Lowering `maxVersions`
   * removes the oldest versions beyond it at the next write, as Vault does.
   */
  async setMetadata(path: string, changes: SecretMetadataChanges): Promise<SecretMetadata> {
    checkSecretPath(path);
    assertOptions(changes, 'metadata');
    for (const key of Object.keys(changes)) {
      if (!['maxVersions', 'casRequired', 'deleteVersionAfter', 'customMetadata'].includes(key)) {
        throw new FortressError(
          'FX_INVALID_ARGUMENT',
          `metadata: unknown field ${JSON.stringify(key.slice(0, 40))}`,
        );
      }
    }
    if (changes.maxVersions !== undefined)
      assertInteger(changes.maxVersions, 'maxVersions', 0, MAX_VERSIONS_LIMIT);
    if (changes.casRequired !== undefined && typeof changes.casRequired !== 'boolean') {
      throw new FortressError('FX_INVALID_ARGUMENT', 'casRequired: expected true or false');
    }
    if (changes.deleteVersionAfter !== undefined)
      assertInteger(changes.deleteVersionAfter, 'deleteVersionAfter', 0, MAX_DELETE_AFTER);
    const custom =
      changes.customMetadata === undefined ? undefined : JSON.stringify(checkCustom(changes.customMetadata));
    await this.#driver.transaction(async (tx) => {
      const now = this.#now();
      const secret = await tx.get<SecretRow>(SQL.secret, [this.#tenant, path]);
      const max = changes.maxVersions ?? secret?.max_versions ?? 0;
      const cas =
        changes.casRequired === undefined ? (secret?.cas_required ?? 0) : changes.casRequired ? 1 : 0;
      const after = changes.deleteVersionAfter ?? secret?.delete_after ?? 0;
      if (secret === undefined) {
        await tx.run(SQL.insertSecret, [this.#tenant, path, 0, 1, max, cas, after, custom ?? '{}', now, now]);
      } else {
        await tx.run(SQL.updateSecret, [
          secret.current_version,
          secret.oldest_version,
          max,
          cas,
          after,
          custom ?? secret.custom,
          now,
          this.#tenant,
          path,
        ]);
      }
    });
    return this.metadata(path);
  }

  /**
   * One page of the secrets and sub-folders (ending in `/`) directly inside `prefix` (a folder
   * ending in `/`, or empty for the root), in code-point order.
   */
  async list(prefix = '', options: ListOptions = {}): Promise<SecretList> {
    const folder = checkFolder(prefix);
    assertOptions(options, 'options');
    assertKnownFields(options, LIST_OPTIONS, 'options');
    const limit = options.limit ?? DEFAULT_LIST;
    assertInteger(limit, 'limit', 1, MAX_LIST);
    if (options.after !== undefined && (typeof options.after !== 'string' || options.after.length > 600)) {
      throw new FortressError('FX_INVALID_ARGUMENT', 'after: expected the `next` of a previous page');
    }
    const keys: string[] = [];
    // Scan from the cursor; a sub-folder is listed once and then skipped past as a whole.
    const after = options.after ?? '';
    let cursor = after.endsWith('/') ? `${folder}${after.slice(0, -1)}0` : folder + after;
    let inclusive = after.endsWith('/');
    let more = false;
    scan: for (;;) {
      const rows = await this.#driver.all<{ path: string }>(inclusive ? SQL.listFrom : SQL.list, [
        this.#tenant,
        cursor,
        folder.length,
        folder,
        limit + 1,
      ]);
      inclusive = false;
      for (const { path } of rows) {
        const rest = path.slice(folder.length);
        const slash = rest.indexOf('/');
        const entry = slash < 0 ? rest : rest.slice(0, slash + 1);
        if (keys.length === limit) {
          more = true;
          break scan;
        }
        keys.push(entry);
        if (slash >= 0) {
          // Everything in that sub-folder sorts before folder + name + "0" ("0" follows "/").
          cursor = `${folder}${entry.slice(0, -1)}0`;
          inclusive = true;
          continue scan;
        }
        cursor = path;
      }
      if (rows.length <= limit) break;
    }
    return { keys, next: more ? keys[keys.length - 1]! : null };
  }
}

function versionInfo(row: VersionRow): SecretVersionInfo {
  return {
    version: row.version,
    createdTime: iso(row.created_at),
    deletionTime: row.deleted_at === null ? null : iso(row.deleted_at),
    destroyed: row.destroyed === 1,
  };
}
