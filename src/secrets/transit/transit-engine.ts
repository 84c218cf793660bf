/**
 * @module secrets/transit/transit-engine
 * Encryption as a service, with the semantics of HashiCorp Vault's transit engine: named keys that
 * never leave Fortress (unless created exportable) encrypt, decrypt, rewrap, make data keys, HMAC,
 * sign and verify for applications whose data lives elsewhere.
 *
 * Keys are keyring keys (`transit/<tenant>/<name>/<generation>`, under the tenant's KEK
 * `kek/<tenant>/transit`): AEAD types are `transit`-purpose keys of that algorithm, `hmac`,
 * `ed25519` and `ml-dsa-65` are `signing`-purpose keys whose 32-byte version material is the HMAC
 * key or the signature seed. Rotation, minimum decryption version, destruction (trim) and the
 * usage limits are the keyring's; this engine keeps the transit settings in `fx_transit_keys`.
 *
 * Ciphertexts are Fortress envelopes in `fx:v<version>:<base64>` strings, sealed with the context
 * (tenant, `transit`, key name, derived?, associated data): a ciphertext fails under another key,
 * another tenant or other associated data. Derived keys are HKDF-SHA256 of the version material
 * with the caller's context; convergent keys seal with a synthetic nonce (`encryptConvergent`).
 *
 * This class enforces no policy and records no audit: `Fortress.transit` and `PolicySession.transit`
 * wrap it. Batch forms return one result per item, in input order, with per-item errors.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import type { AeadName } from '../../crypto/aead/aead.js';
import { isAeadName } from '../../crypto/aead/registry.js';
import { DataKey, dataKeyMaterial } from '../../crypto/envelope/data-key.js';
import { EncryptionContext } from '../../crypto/envelope/encryption-context.js';
import { decrypt, encrypt, encryptConvergent, type KeyResolver } from '../../crypto/envelope/envelope.js';
import { MAX_PLAINTEXT_BYTES, readEnvelopeHeader } from '../../crypto/envelope/envelope-format.js';
import { constantTimeEqual } from '../../crypto/memory/constant-time.js';
import { SecretKey } from '../../crypto/memory/secret-key.js';
import { randomBytes } from '../../crypto/random.js';
import {
  createSigner,
  createVerifier,
  type SignatureAlgorithm,
  type Verifier,
} from '../../crypto/signature/signature.js';
import type { KeyInfo, KeyManager } from '../../keys/key-manager.js';
import type { StorageDriver } from '../../storage/dialect.js';
import { StorageConstraintError } from '../../storage/constraint-error.js';
import { assertInteger, assertKnownFields, assertOptions } from '../../util/bytes.js';
import { ensureSecretsKey, secretsKeyName } from '../secrets-key.js';
import {
  isUnsealable,
  sealSettings,
  settingsOf,
  upgradeSealedTables,
  verifySettings,
  type SealPlace,
  type SettingValue,
} from '../settings-seal.js';
import { FortressError, type ErrorCode } from '../../util/errors.js';
import { formatRotationPeriod, parseRotationPeriod } from '../../keys/keyring/rotation-period.js';
import { formatVersioned, parseVersioned } from './transit-format.js';

/** Key types: the four AEADs, an HMAC key, and two signature schemes. */
export type TransitKeyType = AeadName | 'hmac' | 'ed25519' | 'ml-dsa-65';

export const TRANSIT_KEY_TYPES: readonly TransitKeyType[] = Object.freeze([
  'xchacha20-poly1305',
  'aes-256-gcm',
  'chacha20-poly1305',
  'aegis-256',
  'hmac',
  'ed25519',
  'ml-dsa-65',
]);

/** Most items in one batch call. */
export const MAX_BATCH_ITEMS: number = 10_000;
/** Largest caller context (derivation input) and associated data, in bytes. */
const MAX_CONTEXT_BYTES = 4096;
/** Largest input to HMAC, sign or verify, in bytes. */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;
/** Largest `random` request, in bytes. */
export const MAX_RANDOM_BYTES: number = 1024 * 1024;
/** Settings are cached this long (ms): changes made on another node apply here within it. */
const SETTINGS_TTL_MS = 1000;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DEFAULT_LIST = 100;
const MAX_LIST = 1000;

// HKDF info strings in the layout of docs/formats.md § HKDF purpose labels: label ‖ 0x00 ‖ context.
const DERIVE_INFO = Buffer.from('fortress/v1/transit/derive\0', 'utf8');
const HMAC_INFO = Buffer.from('fortress/v1/transit/hmac\0', 'utf8');

export interface CreateTransitKeyOptions {
  /** @default 'xchacha20-poly1305' */
  readonly type?: TransitKeyType;
  /** The key's versions may be exported. Irreversible: once true, never false again. @default false */
  readonly exportable?: boolean;
  /** Every encryption takes a context; the key used is HKDF of the version with it. AEAD types only. */
  readonly derived?: boolean;
  /** Equal plaintexts under one context give equal ciphertexts. Requires `derived`. */
  readonly convergent?: boolean;
  /** The key may be deleted (off by default, so a mistaken delete cannot shred data). */
  readonly deletionAllowed?: boolean;
  /** Rotate automatically this often (`'12h'`, `'30d'`, `'2w'`; 1 hour to 10 years), or null for never. */
  readonly autoRotatePeriod?: string | null;
}

/** One version of a transit key. */
export interface TransitKeyVersion {
  readonly version: number;
  /** ISO 8601. */
  readonly createdTime: string;
  readonly state: 'active' | 'decrypt-only' | 'retired' | 'destroyed';
  /** Signature keys: the version's public key, base64. */
  readonly publicKey?: string;
}

export interface TransitKeyInfo {
  readonly name: string;
  readonly type: TransitKeyType;
  readonly latestVersion: number;
  readonly minDecryptionVersion: number;
  /** 0: encrypt with the latest version unless told otherwise. */
  readonly minEncryptionVersion: number;
  /** Versions below this were trimmed (destroyed). */
  readonly minAvailableVersion: number;
  readonly exportable: boolean;
  readonly derived: boolean;
  readonly convergent: boolean;
  readonly deletionAllowed: boolean;
  readonly autoRotatePeriod: string | null;
  readonly supportsEncryption: boolean;
  readonly supportsSigning: boolean;
  readonly supportsDerivation: boolean;
  readonly createdTime: string;
  readonly updatedTime: string;
  readonly versions: readonly TransitKeyVersion[];
}

/** What `configure` may change; each field optional. */
export interface TransitKeyChanges {
  readonly minDecryptionVersion?: number;
  readonly minEncryptionVersion?: number;
  readonly deletionAllowed?: boolean;
  /** Only `true`: exportability cannot be taken back. */
  readonly exportable?: boolean;
  readonly autoRotatePeriod?: string | null;
}

export interface EncryptItem {
  readonly plaintext: Uint8Array;
  /** Derived keys: the derivation context (required). */
  readonly context?: Uint8Array;
  /** Bound to the ciphertext; decryption must present the same bytes. */
  readonly associatedData?: Uint8Array;
  /** Encrypt under this version (≥ minEncryptionVersion) instead of the latest. */
  readonly keyVersion?: number;
}

export interface DecryptItem {
  readonly ciphertext: string;
  readonly context?: Uint8Array;
  readonly associatedData?: Uint8Array;
}

export interface RewrapItem extends DecryptItem {
  readonly keyVersion?: number;
}

export interface Sealed {
  readonly ciphertext: string;
  readonly keyVersion: number;
}

export interface Opened {
  readonly plaintext: Uint8Array;
}

export interface HmacItem {
  readonly input: Uint8Array;
  readonly keyVersion?: number;
}

export interface VerifyHmacItem {
  readonly input: Uint8Array;
  readonly hmac: string;
}

export interface SignItem {
  readonly input: Uint8Array;
  readonly keyVersion?: number;
}

export interface VerifyItem {
  readonly input: Uint8Array;
  readonly signature: string;
}

export type HmacAlgorithm = 'sha2-256' | 'sha2-512';

export interface DataKeyOptions {
  /** 128, 256 or 512. @default 256 */
  readonly bits?: number;
  readonly context?: Uint8Array;
  readonly associatedData?: Uint8Array;
  readonly keyVersion?: number;
}

export interface GeneratedDataKey extends Sealed {
  /** Only from `dataKey(…, 'plaintext')`. */
  readonly plaintext?: Uint8Array;
}

export type ExportType = 'encryption-key' | 'signing-key' | 'hmac-key' | 'public-key';

export interface ExportedKey {
  readonly name: string;
  readonly type: ExportType;
  /** Version number → key bytes (base64). */
  readonly keys: Readonly<Record<string, string>>;
}

/** One batch item that failed; the others are unaffected. */
export interface ItemError {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

export type ItemResult<T> = T | ItemError;

export interface TransitKeyList {
  readonly keys: readonly string[];
  /** Pass as `after` for the next page; null at the end. */
  readonly next: string | null;
}

export interface TransitEngineOptions {
  readonly driver: StorageDriver;
  readonly keys: KeyManager;
  readonly tenant: string;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * Called once when `open` sealed the settings of keys written before settings were sealed (a
   * one-time upgrade, which trusts those rows as they are): `{ keys: <how many> }`. Fortress
   * records it in the audit ledger.
   */
  readonly onUpgrade?: (sealed: Readonly<Record<string, number>>) => void;
}

interface Settings {
  readonly name: string;
  readonly type: TransitKeyType;
  readonly keyName: string;
  readonly exportable: boolean;
  readonly derived: boolean;
  readonly convergent: boolean;
  readonly deletionAllowed: boolean;
  readonly minEncryptionVersion: number;
  readonly minAvailableVersion: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Base encryption context of the key (tenant, transit, name, derived?). */
  readonly context: EncryptionContext;
  readonly loadedAt: number;
}

interface KeyRow {
  readonly name: string;
  readonly type: string;
  readonly key_name: string;
  readonly exportable: number;
  readonly derived: number;
  readonly convergent: number;
  readonly deletion_allowed: number;
  readonly min_encryption_version: number;
  readonly min_available_version: number;
  readonly created_at: number;
  readonly updated_at: number;
  readonly settings_seal: unknown;
}

/**
 * What a key row's seal covers (secrets/settings-seal.ts): every setting, as stored — so
 * whoever can write the storage cannot switch `exportable` on, point the name at another keyring
 * key, or lower the minimum encryption version. In the row's column order.
 */
const KEY_SETTINGS = [
  'type',
  'key_name',
  'exportable',
  'derived',
  'convergent',
  'deletion_allowed',
  'min_encryption_version',
  'min_available_version',
] as const satisfies readonly (keyof KeyRow)[];

type SealedSettings = Pick<KeyRow, 'name' | (typeof KEY_SETTINGS)[number]>;

function keySeal(tenant: string, row: SealedSettings): readonly [SealPlace, readonly SettingValue[]] {
  return [{ tenant, engine: 'transit', item: `key/${row.name}` }, settingsOf(row, KEY_SETTINGS)];
}

/** The row's stored form of a key's settings (flags as 1 or 0). */
function storedSettings(settings: Settings): SealedSettings {
  return {
    name: settings.name,
    type: settings.type,
    key_name: settings.keyName,
    exportable: settings.exportable ? 1 : 0,
    derived: settings.derived ? 1 : 0,
    convergent: settings.convergent ? 1 : 0,
    deletion_allowed: settings.deletionAllowed ? 1 : 0,
    min_encryption_version: settings.minEncryptionVersion,
    min_available_version: settings.minAvailableVersion,
  };
}

/** The fields each call accepts: anything else is refused, never ignored. */
const CREATE_OPTIONS: readonly string[] = [
  'type',
  'exportable',
  'derived',
  'convergent',
  'deletionAllowed',
  'autoRotatePeriod',
];
const CHANGES: readonly string[] = [
  'minDecryptionVersion',
  'minEncryptionVersion',
  'deletionAllowed',
  'exportable',
  'autoRotatePeriod',
];
const LIST_OPTIONS: readonly string[] = ['after', 'limit'];
const DATA_KEY_OPTIONS: readonly string[] = ['bits', 'context', 'associatedData', 'keyVersion'];
const ENCRYPT_FIELDS: readonly string[] = ['plaintext', 'context', 'associatedData', 'keyVersion'];
// `keyVersion` too, so an encrypt's answer can be handed back as it is (the ciphertext's own
// version decides).
const DECRYPT_FIELDS: readonly string[] = ['ciphertext', 'context', 'associatedData', 'keyVersion'];
const REWRAP_FIELDS: readonly string[] = ['ciphertext', 'context', 'associatedData', 'keyVersion'];
const HMAC_FIELDS: readonly string[] = ['input', 'keyVersion'];
const VERIFY_HMAC_FIELDS: readonly string[] = ['input', 'hmac'];
const SIGN_FIELDS: readonly string[] = ['input', 'keyVersion'];
const VERIFY_FIELDS: readonly string[] = ['input', 'signature'];
function ddl(driver: StorageDriver): string {
  const s = driver.spelling;
  return `
CREATE TABLE IF NOT EXISTS fx_transit_keys (
  tenant ${s.text} NOT NULL,
  name ${s.text} NOT NULL,
  type ${s.text} NOT NULL,
  key_name ${s.text} NOT NULL,
  exportable ${s.int64} NOT NULL,
  derived ${s.int64} NOT NULL,
  convergent ${s.int64} NOT NULL,
  deletion_allowed ${s.int64} NOT NULL,
  min_encryption_version ${s.int64} NOT NULL,
  min_available_version ${s.int64} NOT NULL,
  created_at ${s.int64} NOT NULL,
  updated_at ${s.int64} NOT NULL,
  settings_seal ${s.bytes},
  PRIMARY KEY (tenant, name)
)${s.withoutRowid};`;
}

const COLUMNS =
  'name, type, key_name, exportable, derived, convergent, deletion_allowed, min_encryption_version, min_available_version, created_at, updated_at, settings_seal';
const SQL = {
  key: `SELECT ${COLUMNS} FROM fx_transit_keys WHERE tenant = ? AND name = ?`,
  insert: `INSERT INTO fx_transit_keys (tenant, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  update:
    'UPDATE fx_transit_keys SET exportable = ?, deletion_allowed = ?, min_encryption_version = ?, min_available_version = ?, updated_at = ?, settings_seal = ? WHERE tenant = ? AND name = ?',
  delete: 'DELETE FROM fx_transit_keys WHERE tenant = ? AND name = ?',
  list: 'SELECT name FROM fx_transit_keys WHERE tenant = ? AND name > ? ORDER BY name LIMIT ?',
} as const;

const SIGNATURE_TYPES: ReadonlySet<TransitKeyType> = new Set(['ed25519', 'ml-dsa-65']);

function isAeadType(type: TransitKeyType): type is AeadName {
  return isAeadName(type);
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new FortressError(
      'FX_INVALID_ARGUMENT',
      'name: expected 1-128 characters of letters, digits, ".", "_" or "-" (starting with a letter or digit)',
    );
  }
}

function checkBool(value: unknown, what: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean')
    throw new FortressError('FX_INVALID_ARGUMENT', `${what}: expected true or false`);
  return value;
}

function checkBytes(value: unknown, what: string, max: number): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array))
    throw new FortressError('FX_INVALID_ARGUMENT', `${what}: expected bytes`);
  if (value.length > max) throw new FortressError('FX_VALUE_TOO_LARGE', `${what}: more than ${max} bytes`);
  return value;
}

function checkItems(items: unknown, what: string): asserts items is readonly unknown[] {
  if (!Array.isArray(items) || items.length === 0) {
    throw new FortressError('FX_INVALID_ARGUMENT', `${what}: expected a non-empty list of items`);
  }
  if (items.length > MAX_BATCH_ITEMS) {
    throw new FortressError('FX_INVALID_ARGUMENT', `${what}: at most ${MAX_BATCH_ITEMS} items per call`);
  }
}

/**
 * An auto-rotation period as the keyring takes it (`'12h'`, `'30d'`, `'2w'`; 1 hour to 10
 * years), written the keyring's shortest way so a read gives back what config accepts; null, `'0'`
 * or `''` for never. Checked here, before anything changes.
 */
function checkPeriod(period: unknown): string | null {
  if (period === null || period === undefined || period === '0' || period === '') return null;
  let ms: number;
  try {
    ms = parseRotationPeriod(period as string);
  } catch {
    throw new FortressError(
      'FX_INVALID_ARGUMENT',
      'autoRotatePeriod: expected a number and a unit m, h, d or w ("12h", "30d", "2w"), from 1 hour to 10 years, or null for never',
    );
  }
  return formatRotationPeriod(ms);
}

function itemError(error: unknown): ItemError {
  if (error instanceof FortressError) return { error: { code: error.code, message: error.message } };
  return { error: { code: 'FX_INTERNAL', message: 'the item failed unexpectedly' } };
}

function unsupported(settings: Settings, operation: string): FortressError {
  return new FortressError(
    'FX_TRANSIT_UNSUPPORTED',
    `transit key ${settings.name} is a ${settings.type} key, which does not ${operation}`,
  );
}

/**
 * @example
 * ```ts
 * const transit = db.transit;
 * await transit.createKey('orders');
 * const { ciphertext } = await transit.encrypt('orders', utf8('4111 1111 1111 1111'));
 * // ciphertext === 'fx:v1:AQEAAA…'
 * const { plaintext } = await transit.decrypt('orders', ciphertext);
 * ```
 */
export class TransitEngine {
  readonly #driver: StorageDriver;
  readonly #keys: KeyManager;
  /** The keyring's synchronous resolver of unwrapped keys (decryption hot path), made at first use. */
  #resolve: KeyResolver | null = null;
  /** Scheduled rotations of HMAC and signing keys in flight, by keyring name (see `#rotateIfDue`). */
  readonly #rotations = new Map<string, Promise<KeyInfo>>();
  readonly #tenant: string;
  readonly #now: () => number;
  readonly #kek: string;
  /** The data key the settings rows are sealed under (`secrets/<tenant>/transit`). */
  readonly #sealKeyName: string;
  #sealKeyReady = false;
  readonly #settings = new Map<string, Settings>();
  /** Public keys' verifiers, by keyring key id and version (public material: no need to zero). */
  readonly #verifiers = new Map<string, Verifier>();

  private constructor(options: TransitEngineOptions) {
    this.#driver = options.driver;
    this.#keys = options.keys;
    this.#tenant = options.tenant;
    this.#now = options.now ?? Date.now;
    this.#kek = `kek/${options.tenant}/transit`;
    this.#sealKeyName = secretsKeyName(options.tenant, 'transit');
  }

  /** Creates the table if needed. */
  static async open(options: TransitEngineOptions): Promise<TransitEngine> {
    if (options.onUpgrade !== undefined && typeof options.onUpgrade !== 'function') {
      throw new FortressError('FX_INVALID_ARGUMENT', 'onUpgrade: expected a function');
    }
    await options.driver.exec(ddl(options.driver));
    const sealed = await upgradeSealedTables({
      driver: options.driver,
      keys: options.keys,
      tables: [{ table: 'fx_transit_keys', key: 'name', counted: 'keys' }],
      what: 'the transit tables',
      prepare: async (tenants) => {
        for (const tenant of tenants) {
          // A tenant whose keys were shredded gets none: its rows are skipped (and refused).
          await ensureSecretsKey(options.keys, tenant, 'transit').catch((error: unknown) => {
            if (!isUnsealable(error)) throw error;
          });
        }
      },
      seal: (_, row) =>
        sealSettings(
          options.keys,
          secretsKeyName(row.tenant, 'transit'),
          ...keySeal(row.tenant, row as unknown as KeyRow),
        ),
    });
    if (sealed !== null) options.onUpgrade?.(sealed);
    return new TransitEngine(options);
  }

  /** Seals a key's settings as they will be stored. */
  async #sealOf(settings: SealedSettings): Promise<Uint8Array> {
    if (!this.#sealKeyReady) {
      await ensureSecretsKey(this.#keys, this.#tenant, 'transit');
      this.#sealKeyReady = true;
    }
    return sealSettings(this.#keys, this.#sealKeyName, ...keySeal(this.#tenant, settings));
  }

  // ── keys ──────────────────────────────────────────────────────────────────────────────────────

  /** Creates a named key with version 1. */
  async createKey(name: string, options: CreateTransitKeyOptions = {}): Promise<TransitKeyInfo> {
    checkName(name);
    assertOptions(options, 'options');
    assertKnownFields(options, CREATE_OPTIONS, 'options');
    const type = options.type ?? 'xchacha20-poly1305';
    if (!TRANSIT_KEY_TYPES.includes(type)) {
      throw new FortressError('FX_INVALID_ARGUMENT', `type: expected one of ${TRANSIT_KEY_TYPES.join(', ')}`);
    }
    const exportable = checkBool(options.exportable, 'exportable') ?? false;
    const derived = checkBool(options.derived, 'derived') ?? false;
    const convergent = checkBool(options.convergent, 'convergent') ?? false;
    const deletionAllowed = checkBool(options.deletionAllowed, 'deletionAllowed') ?? false;
    const period = checkPeriod(options.autoRotatePeriod);
    if (derived && !isAeadType(type))
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `derived: only encryption keys are derived, not ${type}`,
      );
    if (convergent && !derived)
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        'convergent: convergent encryption requires derived: true',
      );
    if ((await this.#row(name)) !== undefined) {
      throw new FortressError('FX_TRANSIT_KEY_EXISTS', `a transit key named ${name} already exists`);
    }
    await this.#ensureKek();
    const at = this.#now();
    // A generation suffix: a deleted key's keyring entry (shredded) keeps its name, so a new key of
    // the same transit name needs a fresh one. Its ciphertexts never open under the old key's.
    const keyName = `transit/${this.#tenant}/${name}/${at.toString(36)}${Buffer.from(randomBytes(4)).toString('hex')}`;
    await this.#keys.createKey({
      name: keyName,
      purpose: isAeadType(type) ? 'transit' : 'signing',
      ...(isAeadType(type) ? { algorithm: type } : {}),
      parent: this.#kek,
      ...(period === null ? {} : { rotationPeriod: period }),
    });
    try {
      const row: SealedSettings = {
        name,
        type,
        key_name: keyName,
        exportable: exportable ? 1 : 0,
        derived: derived ? 1 : 0,
        convergent: convergent ? 1 : 0,
        deletion_allowed: deletionAllowed ? 1 : 0,
        min_encryption_version: 0,
        min_available_version: 1,
      };
      await this.#driver.run(SQL.insert, [
        this.#tenant,
        name,
        ...settingsOf(row, KEY_SETTINGS),
        at,
        at,
        await this.#sealOf(row),
      ]);
    } catch (error) {
      // Two creators raced: the loser's keyring key is shredded so nothing refers to it.
      await this.#keys.destroyKey(keyName).catch(() => undefined);
      if (error instanceof StorageConstraintError)
        throw new FortressError('FX_TRANSIT_KEY_EXISTS', `a transit key named ${name} already exists`);
      throw error;
    }
    this.#settings.delete(name);
    return this.readKey(name);
  }

  /** A key's settings and versions. */
  async readKey(name: string): Promise<TransitKeyInfo> {
    const settings = await this.#load(name, true);
    const info = this.#keyInfo(settings);
    const versions = await this.#keys.listVersions(settings.keyName);
    const out: TransitKeyVersion[] = [];
    for (const v of versions) {
      let publicKey: string | undefined;
      if (
        SIGNATURE_TYPES.has(settings.type) &&
        v.state !== 'destroyed' &&
        v.version >= info.minDecryptionVersion
      ) {
        publicKey = Buffer.from((await this.#verifier(settings, v.version)).publicKey).toString('base64');
      }
      out.push({
        version: v.version,
        createdTime: v.createdAt,
        state: v.state,
        ...(publicKey === undefined ? {} : { publicKey }),
      });
    }
    return {
      name,
      type: settings.type,
      latestVersion: info.latestVersion,
      minDecryptionVersion: info.minDecryptionVersion,
      minEncryptionVersion: settings.minEncryptionVersion,
      minAvailableVersion: settings.minAvailableVersion,
      exportable: settings.exportable,
      derived: settings.derived,
      convergent: settings.convergent,
      deletionAllowed: settings.deletionAllowed,
      autoRotatePeriod: info.rotationPeriod,
      supportsEncryption: isAeadType(settings.type),
      supportsSigning: SIGNATURE_TYPES.has(settings.type),
      supportsDerivation: isAeadType(settings.type),
      createdTime: new Date(settings.createdAt).toISOString(),
      // Settings live in this engine's table, versions in the keyring: a rotation (by hand or
      // automatic) changes the key too.
      updatedTime: new Date(
        Math.max(settings.updatedAt, ...versions.map((v) => Date.parse(v.createdAt))),
      ).toISOString(),
      versions: out,
    };
  }

  /** One page of key names, in order. */
  async listKeys(
    options: { readonly after?: string; readonly limit?: number } = {},
  ): Promise<TransitKeyList> {
    assertOptions(options, 'options');
    assertKnownFields(options, LIST_OPTIONS, 'options');
    const limit = options.limit ?? DEFAULT_LIST;
    assertInteger(limit, 'limit', 1, MAX_LIST);
    const after = options.after ?? '';
    if (typeof after !== 'string')
      throw new FortressError('FX_INVALID_ARGUMENT', 'after: expected a key name');
    const rows = await this.#driver.all<{ name: string }>(SQL.list, [this.#tenant, after, limit + 1]);
    const keys = rows.slice(0, limit).map((r) => r.name);
    return { keys, next: rows.length > limit ? keys[keys.length - 1]! : null };
  }

  /** Changes a key's settings. `exportable` may only become true. */
  async configure(name: string, changes: TransitKeyChanges): Promise<TransitKeyInfo> {
    assertOptions(changes, 'changes');
    assertKnownFields(changes, CHANGES, 'changes');
    const settings = await this.#load(name, true);
    const info = this.#keyInfo(settings);
    const exportable = checkBool(changes.exportable, 'exportable');
    if (exportable === false && settings.exportable) {
      throw new FortressError(
        'FX_TRANSIT_EXPORTABLE_IRREVERSIBLE',
        `transit key ${name} is exportable, and exportability cannot be taken back`,
      );
    }
    const deletionAllowed = checkBool(changes.deletionAllowed, 'deletionAllowed');
    let minDecryption = info.minDecryptionVersion;
    if (changes.minDecryptionVersion !== undefined) {
      assertInteger(changes.minDecryptionVersion, 'minDecryptionVersion', 1, info.latestVersion);
      if (changes.minDecryptionVersion < settings.minAvailableVersion) {
        throw new FortressError(
          'FX_INVALID_ARGUMENT',
          `minDecryptionVersion: versions below ${settings.minAvailableVersion} were trimmed`,
        );
      }
      minDecryption = changes.minDecryptionVersion;
    }
    let minEncryption = settings.minEncryptionVersion;
    if (changes.minEncryptionVersion !== undefined) {
      assertInteger(changes.minEncryptionVersion, 'minEncryptionVersion', 0, info.latestVersion);
      minEncryption = changes.minEncryptionVersion;
    }
    if (minEncryption !== 0 && minEncryption < minDecryption) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `minEncryptionVersion (${minEncryption}) must be 0 or at least minDecryptionVersion (${minDecryption})`,
      );
    }
    const period = 'autoRotatePeriod' in changes ? checkPeriod(changes.autoRotatePeriod) : undefined;
    // Everything is checked; now change.
    if (minDecryption !== info.minDecryptionVersion)
      await this.#keys.setMinDecryptionVersion(settings.keyName, minDecryption);
    if (period !== undefined) await this.#keys.setRotationPeriod(settings.keyName, period);
    const row: SealedSettings = {
      ...storedSettings(settings),
      exportable: (exportable ?? settings.exportable) ? 1 : 0,
      deletion_allowed: (deletionAllowed ?? settings.deletionAllowed) ? 1 : 0,
      min_encryption_version: minEncryption,
    };
    await this.#driver.run(SQL.update, [
      row.exportable,
      row.deletion_allowed,
      row.min_encryption_version,
      row.min_available_version,
      this.#now(),
      await this.#sealOf(row),
      this.#tenant,
      name,
    ]);
    this.#settings.delete(name);
    return this.readKey(name);
  }

  /** A new latest version; older versions still decrypt (down to minDecryptionVersion). */
  async rotate(name: string): Promise<TransitKeyInfo> {
    const settings = await this.#load(name, true);
    await this.#keys.rotate(settings.keyName);
    return this.readKey(name);
  }

  /**
   * Destroys (crypto-shreds) every version below `minAvailableVersion`, which may not be above
   * the minimum decryption version nor (when set) the minimum encryption version.
   */
  async trim(name: string, minAvailableVersion: number): Promise<TransitKeyInfo> {
    const settings = await this.#load(name, true);
    const info = this.#keyInfo(settings);
    assertInteger(minAvailableVersion, 'minAvailableVersion', 1, info.latestVersion);
    if (minAvailableVersion > info.minDecryptionVersion) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `minAvailableVersion: ${minAvailableVersion} is above minDecryptionVersion ${info.minDecryptionVersion}; raise that first`,
      );
    }
    if (settings.minEncryptionVersion !== 0 && minAvailableVersion > settings.minEncryptionVersion) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `minAvailableVersion: ${minAvailableVersion} is above minEncryptionVersion ${settings.minEncryptionVersion}`,
      );
    }
    // Recorded first: a crash part-way leaves the setting saying what the shredding is finishing.
    const floor = Math.max(settings.minAvailableVersion, minAvailableVersion);
    const row: SealedSettings = { ...storedSettings(settings), min_available_version: floor };
    await this.#driver.run(SQL.update, [
      row.exportable,
      row.deletion_allowed,
      row.min_encryption_version,
      row.min_available_version,
      this.#now(),
      await this.#sealOf(row),
      this.#tenant,
      name,
    ]);
    this.#settings.delete(name);
    for (const v of await this.#keys.listVersions(settings.keyName)) {
      if (v.version < floor && v.state !== 'destroyed')
        await this.#keys.destroyVersion(settings.keyName, v.version);
    }
    return this.readKey(name);
  }

  /** Deletes a key for good (every version shredded). Needs `deletionAllowed`. */
  async deleteKey(name: string): Promise<void> {
    const settings = await this.#load(name, true);
    if (!settings.deletionAllowed) {
      throw new FortressError(
        'FX_KEY_STATE',
        `transit key ${name} does not allow deletion; configure deletionAllowed: true first`,
      );
    }
    await this.#driver.run(SQL.delete, [this.#tenant, name]);
    this.#settings.delete(name);
    await this.#keys.destroyKey(settings.keyName);
  }

  /** The key's versions (all, or one), when the key is exportable (`public-key`: always, for signature keys). */
  async exportKey(name: string, type: ExportType, version?: number | 'latest'): Promise<ExportedKey> {
    const settings = await this.#load(name, true);
    const types: readonly ExportType[] = ['encryption-key', 'signing-key', 'hmac-key', 'public-key'];
    if (!types.includes(type))
      throw new FortressError('FX_INVALID_ARGUMENT', `type: expected one of ${types.join(', ')}`);
    const signing = SIGNATURE_TYPES.has(settings.type);
    if (
      (type === 'encryption-key' && !isAeadType(settings.type)) ||
      ((type === 'signing-key' || type === 'public-key') && !signing)
    ) {
      throw unsupported(settings, `export a ${type}`);
    }
    if (type !== 'public-key' && !settings.exportable) {
      throw new FortressError('FX_TRANSIT_NOT_EXPORTABLE', `transit key ${name} is not exportable`);
    }
    const info = this.#keyInfo(settings);
    // `latest`, as Vault spells it: the newest version.
    const one = version === 'latest' ? info.latestVersion : version;
    const wanted = one === undefined ? [] : (assertInteger(one, 'version', 1, info.latestVersion), [one]);
    if (wanted.length === 0) {
      for (const v of await this.#keys.listVersions(settings.keyName)) {
        if (v.state !== 'destroyed' && v.version >= info.minDecryptionVersion) wanted.push(v.version);
      }
    }
    const keys: Record<string, string> = {};
    for (const v of wanted) {
      if (type === 'public-key') {
        keys[String(v)] = Buffer.from((await this.#verifier(settings, v)).publicKey).toString('base64');
        continue;
      }
      const key = await this.#keys.keyVersion(settings.keyName, v);
      const material = dataKeyMaterial(key);
      if (type === 'hmac-key') {
        const hmacKey = this.#hmacKeyBytes(settings, material);
        keys[String(v)] = hmacKey.toString('base64');
        hmacKey.fill(0);
      } else {
        keys[String(v)] = material.toString('base64');
      }
    }
    return { name, type, keys };
  }

  // ── encryption ────────────────────────────────────────────────────────────────────────────────

  /** Encrypts one value: `{ ciphertext: 'fx:v<n>:…', keyVersion }`. */
  async encrypt(name: string, item: EncryptItem): Promise<Sealed> {
    const [result] = await this.#encryptAll(await this.#aeadKey(name), [item], false);
    return result as Sealed;
  }

  /** Encrypts many values; one result per item, in order, each a ciphertext or an error. */
  async encryptBatch(name: string, items: readonly EncryptItem[]): Promise<ItemResult<Sealed>[]> {
    checkItems(items, 'items');
    return this.#encryptAll(await this.#aeadKey(name), items, true);
  }

  /** Decrypts one ciphertext. */
  async decrypt(name: string, item: DecryptItem): Promise<Opened> {
    const [result] = await this.#decryptAll(await this.#aeadKey(name), [item], false);
    return result as Opened;
  }

  /** Decrypts many ciphertexts; per-item results and errors. */
  async decryptBatch(name: string, items: readonly DecryptItem[]): Promise<ItemResult<Opened>[]> {
    checkItems(items, 'items');
    return this.#decryptAll(await this.#aeadKey(name), items, true);
  }

  /** Re-encrypts a ciphertext under the latest version (or `keyVersion`) without returning its plaintext. */
  async rewrap(name: string, item: RewrapItem): Promise<Sealed> {
    const [result] = await this.#rewrapAll(await this.#aeadKey(name), [item], false);
    return result as Sealed;
  }

  /** Rewraps many ciphertexts; per-item results and errors. */
  async rewrapBatch(name: string, items: readonly RewrapItem[]): Promise<ItemResult<Sealed>[]> {
    checkItems(items, 'items');
    return this.#rewrapAll(await this.#aeadKey(name), items, true);
  }

  /**
   * A fresh random data key, encrypted under the transit key; with `kind: 'plaintext'` the
   * plaintext key too (the routes differ, so policy decides who may see plaintext keys).
   */
  async dataKey(
    name: string,
    kind: 'plaintext' | 'wrapped',
    options: DataKeyOptions = {},
  ): Promise<GeneratedDataKey> {
    if (!(['plaintext', 'wrapped'] as unknown[]).includes(kind))
      throw new FortressError('FX_INVALID_ARGUMENT', 'kind: expected "plaintext" or "wrapped"');
    assertOptions(options, 'options');
    assertKnownFields(options, DATA_KEY_OPTIONS, 'options');
    const bits = options.bits ?? 256;
    if (bits !== 128 && bits !== 256 && bits !== 512)
      throw new FortressError('FX_INVALID_ARGUMENT', 'bits: expected 128, 256 or 512');
    const settings = await this.#aeadKey(name);
    const plaintext = randomBytes(bits / 8);
    try {
      const [sealed] = await this.#encryptAll(
        settings,
        [
          {
            plaintext,
            ...(options.context === undefined ? {} : { context: options.context }),
            ...(options.associatedData === undefined ? {} : { associatedData: options.associatedData }),
            ...(options.keyVersion === undefined ? {} : { keyVersion: options.keyVersion }),
          },
        ],
        false,
      );
      const result = sealed as Sealed;
      return kind === 'plaintext' ? { ...result, plaintext: new Uint8Array(plaintext) } : result;
    } finally {
      plaintext.fill(0);
    }
  }

  /** Random bytes from the system CSPRNG (no key involved). */
  random(bytes: number): Uint8Array {
    assertInteger(bytes, 'bytes', 1, MAX_RANDOM_BYTES);
    return randomBytes(bytes);
  }

  // ── HMAC and signatures ───────────────────────────────────────────────────────────────────────

  /** HMACs of the inputs (`fx:v<n>:<base64>`), one per item. Any key type has an HMAC key. */
  async hmacBatch(
    name: string,
    items: readonly HmacItem[],
    algorithm: HmacAlgorithm = 'sha2-256',
  ): Promise<ItemResult<{ readonly hmac: string }>[]> {
    checkItems(items, 'items');
    const hash = this.#hash(algorithm);
    const settings = await this.#load(name);
    const info = await this.#rotateIfDue(settings);
    const results: ItemResult<{ readonly hmac: string }>[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        const item = this.#item(items[i], i, HMAC_FIELDS);
        const input = checkBytes(item['input'], `items[${i}].input`, MAX_INPUT_BYTES);
        if (input === undefined)
          throw new FortressError('FX_INVALID_ARGUMENT', `items[${i}].input: required`);
        const version = this.#encryptionVersion(settings, info, item['keyVersion'], i);
        const key = await this.#keys.keyVersion(settings.keyName, version);
        const hmacKey = this.#hmacKeyBytes(settings, dataKeyMaterial(key));
        try {
          results.push({
            hmac: formatVersioned(key.version, createHmac(hash, hmacKey).update(input).digest()),
          });
        } finally {
          hmacKey.fill(0);
        }
      } catch (error) {
        results.push(itemError(error));
      }
    }
    return results;
  }

  /** Checks HMACs in constant time; `valid: false` for a wrong one. */
  async verifyHmacBatch(
    name: string,
    items: readonly VerifyHmacItem[],
    algorithm: HmacAlgorithm = 'sha2-256',
  ): Promise<ItemResult<{ readonly valid: boolean }>[]> {
    checkItems(items, 'items');
    const hash = this.#hash(algorithm);
    const settings = await this.#load(name);
    const results: ItemResult<{ readonly valid: boolean }>[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        const item = this.#item(items[i], i, VERIFY_HMAC_FIELDS);
        const input = checkBytes(item['input'], `items[${i}].input`, MAX_INPUT_BYTES);
        if (input === undefined)
          throw new FortressError('FX_INVALID_ARGUMENT', `items[${i}].input: required`);
        const { version, bytes } = parseVersioned(item['hmac'], `items[${i}].hmac`);
        const key = await this.#keys.keyVersion(settings.keyName, version);
        const hmacKey = this.#hmacKeyBytes(settings, dataKeyMaterial(key));
        let expected: Buffer;
        try {
          expected = createHmac(hash, hmacKey).update(input).digest();
        } finally {
          hmacKey.fill(0);
        }
        results.push({ valid: bytes.length === expected.length && constantTimeEqual(expected, bytes) });
      } catch (error) {
        results.push(itemError(error));
      }
    }
    return results;
  }

  /** Signatures (`fx:v<n>:<base64>`) with an ed25519 or ml-dsa-65 key, one per item. */
  async signBatch(
    name: string,
    items: readonly SignItem[],
  ): Promise<ItemResult<{ readonly signature: string; readonly publicKey: string }>[]> {
    checkItems(items, 'items');
    const settings = await this.#load(name);
    if (!SIGNATURE_TYPES.has(settings.type)) throw unsupported(settings, 'sign');
    const info = await this.#rotateIfDue(settings);
    const results: ItemResult<{ readonly signature: string; readonly publicKey: string }>[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        const item = this.#item(items[i], i, SIGN_FIELDS);
        const input = checkBytes(item['input'], `items[${i}].input`, MAX_INPUT_BYTES);
        if (input === undefined)
          throw new FortressError('FX_INVALID_ARGUMENT', `items[${i}].input: required`);
        const version = this.#encryptionVersion(settings, info, item['keyVersion'], i);
        const key = await this.#keys.keyVersion(settings.keyName, version);
        using signer = createSigner(
          settings.type as SignatureAlgorithm,
          SecretKey.fromBytes(dataKeyMaterial(key)),
        );
        results.push({
          signature: formatVersioned(key.version, signer.sign(input)),
          publicKey: Buffer.from(signer.publicKey).toString('base64'),
        });
      } catch (error) {
        results.push(itemError(error));
      }
    }
    return results;
  }

  /** Verifies signatures; `valid: false` for a wrong one. */
  async verifyBatch(
    name: string,
    items: readonly VerifyItem[],
  ): Promise<ItemResult<{ readonly valid: boolean }>[]> {
    checkItems(items, 'items');
    const settings = await this.#load(name);
    if (!SIGNATURE_TYPES.has(settings.type)) throw unsupported(settings, 'verify signatures');
    const results: ItemResult<{ readonly valid: boolean }>[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        const item = this.#item(items[i], i, VERIFY_FIELDS);
        const input = checkBytes(item['input'], `items[${i}].input`, MAX_INPUT_BYTES);
        if (input === undefined)
          throw new FortressError('FX_INVALID_ARGUMENT', `items[${i}].input: required`);
        const { version, bytes } = parseVersioned(item['signature'], `items[${i}].signature`);
        const verifier = await this.#verifier(settings, version);
        results.push({ valid: verifier.verify(input, bytes) });
      } catch (error) {
        results.push(itemError(error));
      }
    }
    return results;
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────

  async #ensureKek(): Promise<void> {
    if (this.#keys.listKeys().some((k) => k.name === this.#kek)) return;
    try {
      await this.#keys.createKey({ name: this.#kek, purpose: 'kek' });
    } catch (error) {
      // Another caller created it meanwhile.
      if (!this.#keys.listKeys().some((k) => k.name === this.#kek)) throw error;
    }
  }

  async #row(name: string): Promise<KeyRow | undefined> {
    return this.#driver.get<KeyRow>(SQL.key, [this.#tenant, name]);
  }

  /** The key's settings (cached for a second); `fresh` reads storage (admin operations). */
  async #load(name: string, fresh = false): Promise<Settings> {
    checkName(name);
    const cached = this.#settings.get(name);
    if (!fresh && cached !== undefined && this.#now() - cached.loadedAt < SETTINGS_TTL_MS) return cached;
    const row = await this.#row(name);
    if (row === undefined) {
      this.#settings.delete(name);
      throw new FortressError('FX_TRANSIT_KEY_NOT_FOUND', `no transit key named ${name}`);
    }
    // Checked on every read from storage (at most once a second per key on the hot path).
    await verifySettings(
      this.#keys,
      this.#sealKeyName,
      row.settings_seal,
      ...keySeal(this.#tenant, row),
      `transit key ${name}`,
    );
    const derived = row.derived === 1;
    const settings: Settings = {
      name,
      type: row.type as TransitKeyType,
      keyName: row.key_name,
      exportable: row.exportable === 1,
      derived,
      convergent: row.convergent === 1,
      deletionAllowed: row.deletion_allowed === 1,
      minEncryptionVersion: row.min_encryption_version,
      minAvailableVersion: row.min_available_version,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      context: EncryptionContext.of({
        tenant: this.#tenant,
        database: 'transit',
        table: name,
        column: derived ? 'derived' : '',
      }),
      loadedAt: this.#now(),
    };
    if (this.#settings.size > 4096) this.#settings.clear();
    this.#settings.set(name, settings);
    return settings;
  }

  /**
   * Signing and HMAC keys rotate on their schedule here, at their next use (encryption keys rotate
   * inside the keyring's `encryptionKey`). Returns the key's current metadata.
   */
  async #rotateIfDue(settings: Settings): Promise<KeyInfo> {
    const info = this.#keyInfo(settings);
    if (
      isAeadType(settings.type) ||
      info.rotationPeriodMs === null ||
      Date.parse(info.rotatedAt) + info.rotationPeriodMs > this.#now()
    ) {
      return info;
    }
    // Concurrent first uses after the period share one rotation (each would otherwise add a
    // version: the keyring runs their rotations one after the other).
    let rotation = this.#rotations.get(settings.keyName);
    if (rotation === undefined) {
      rotation = this.#rotate(settings, info).finally(() => this.#rotations.delete(settings.keyName));
      this.#rotations.set(settings.keyName, rotation);
    }
    return rotation;
  }

  async #rotate(settings: Settings, info: KeyInfo): Promise<KeyInfo> {
    try {
      // Another process may find the key due at the same moment: it is rotated once.
      return await this.#keys.rotate(settings.keyName, { ifActiveVersion: info.activeVersion });
    } catch (error) {
      // Another process rotated it meanwhile: use what is current.
      const latest = this.#keyInfo(settings);
      if (latest.activeVersion !== info.activeVersion) return latest;
      throw error;
    }
  }

  #keyInfo(settings: Settings): KeyInfo {
    return this.#keys.getKey(settings.keyName);
  }

  async #aeadKey(name: string): Promise<Settings> {
    const settings = await this.#load(name);
    if (!isAeadType(settings.type)) throw unsupported(settings, 'encrypt or decrypt');
    return settings;
  }

  #item(item: unknown, index: number, fields: readonly string[]): Record<string, unknown> {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new FortressError('FX_INVALID_ARGUMENT', `items[${index}]: expected an object`);
    // A misspelt field (associated_data) would otherwise be ignored: no associated data bound.
    assertKnownFields(item, fields, `items[${index}]`);
    return item as Record<string, unknown>;
  }

  /** The version to encrypt/sign/HMAC under: the latest, or `keyVersion` within the allowed range. */
  #encryptionVersion(settings: Settings, info: KeyInfo, keyVersion: unknown, index: number): number {
    if (keyVersion === undefined || keyVersion === 0) return info.activeVersion;
    if (typeof keyVersion !== 'number' || !Number.isSafeInteger(keyVersion) || keyVersion < 1) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `items[${index}].keyVersion: expected a positive integer`,
      );
    }
    const floor = Math.max(settings.minEncryptionVersion, info.minDecryptionVersion, 1);
    if (keyVersion < floor || keyVersion > info.latestVersion) {
      throw new FortressError(
        'FX_TRANSIT_VERSION',
        `items[${index}].keyVersion: ${keyVersion} is outside ${floor}..${info.latestVersion} for transit key ${settings.name}`,
      );
    }
    return keyVersion;
  }

  /** The context bytes of a derived key's item, or a refusal when given for a key that takes none. */
  #derivation(settings: Settings, item: Record<string, unknown>, index: number): Uint8Array | undefined {
    const context = checkBytes(item['context'], `items[${index}].context`, MAX_CONTEXT_BYTES);
    if (settings.derived && (context === undefined || context.length === 0)) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `items[${index}].context: transit key ${settings.name} is derived; every item needs a context`,
      );
    }
    if (!settings.derived && context !== undefined) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `items[${index}].context: transit key ${settings.name} is not derived; use associatedData to bind data`,
      );
    }
    return context;
  }

  #contextOf(settings: Settings, item: Record<string, unknown>, index: number): EncryptionContext {
    const associated = checkBytes(
      item['associatedData'],
      `items[${index}].associatedData`,
      MAX_CONTEXT_BYTES,
    );
    return associated === undefined ? settings.context : settings.context.withRow(associated);
  }

  /** The per-context key of a derived key's version (the caller disposes it). */
  #derive(parent: DataKey, context: Uint8Array): DataKey {
    const info = Buffer.concat([DERIVE_INFO, context]);
    const bytes = new Uint8Array(hkdfSync('sha256', dataKeyMaterial(parent), new Uint8Array(0), info, 32));
    return new DataKey({
      id: parent.id,
      version: parent.version,
      algorithm: parent.algorithm,
      key: SecretKey.fromBytes(bytes, { wipeSource: true }),
    });
  }

  async #encryptAll(
    settings: Settings,
    items: readonly unknown[],
    batch: boolean,
  ): Promise<ItemResult<Sealed>[]> {
    const results = new Array<ItemResult<Sealed>>(items.length);
    const info = this.#keyInfo(settings);
    const keyId = info.id;
    // The active version's key, checked once with room for every remaining item: it stays valid
    // until the loop next awaits (only then can a seal, a rotation or other callers change it).
    let ready: DataKey | undefined;
    for (let i = 0; i < items.length; i++) {
      try {
        const item = this.#item(items[i], i, ENCRYPT_FIELDS);
        const plaintext = checkBytes(item['plaintext'], `items[${i}].plaintext`, MAX_PLAINTEXT_BYTES);
        if (plaintext === undefined)
          throw new FortressError('FX_INVALID_ARGUMENT', `items[${i}].plaintext: required`);
        const derivation = this.#derivation(settings, item, i);
        const context = this.#contextOf(settings, item, i);
        const version = this.#encryptionVersion(settings, info, item['keyVersion'], i);
        const active = info.activeVersion;
        let key =
          version === active ? (ready ??= this.#keys.readyEncryptionKey(keyId, items.length - i)) : undefined;
        if (key === undefined) {
          ready = undefined;
          key = await this.#keys.encryptionKey(settings.keyName, {
            headroom: items.length - i,
            ...(version === active ? {} : { version }),
          });
        }
        let envelope: Buffer;
        if (derivation === undefined) {
          envelope = encrypt(key, plaintext, context);
        } else {
          using derived = this.#derive(key, derivation);
          envelope = settings.convergent
            ? encryptConvergent(derived, plaintext, context)
            : encrypt(derived, plaintext, context);
        }
        results[i] = { ciphertext: formatVersioned(key.version, envelope), keyVersion: key.version };
      } catch (error) {
        if (!batch) throw error;
        results[i] = itemError(error);
      }
    }
    return results;
  }

  /**
   * Opens one item's ciphertext into a plaintext the caller must zero. `keyId` is the key's
   * keyring id, looked up once per batch by the caller (the lookup builds the key's whole info).
   * The common case — no derivation, the version's key already unwrapped — runs synchronously:
   * a batch of 100 then costs no await per item.
   */
  #open(
    settings: Settings,
    keyId: number,
    item: Record<string, unknown>,
    index: number,
  ): Buffer | Promise<Buffer> {
    const { version, bytes } = parseVersioned(item['ciphertext'], `items[${index}].ciphertext`);
    const derivation = this.#derivation(settings, item, index);
    const context = this.#contextOf(settings, item, index);
    let header;
    try {
      header = readEnvelopeHeader(bytes);
    } catch {
      throw new FortressError(
        'FX_TRANSIT_CIPHERTEXT_INVALID',
        `items[${index}].ciphertext: not a transit ciphertext`,
      );
    }
    if (header.keyId !== keyId) {
      throw new FortressError(
        'FX_TRANSIT_CIPHERTEXT_INVALID',
        `items[${index}].ciphertext: was not made by transit key ${settings.name}`,
      );
    }
    if (header.keyVersion !== version) {
      throw new FortressError(
        'FX_TRANSIT_CIPHERTEXT_INVALID',
        `items[${index}].ciphertext: its prefix says version ${version} but it was sealed with version ${header.keyVersion}`,
      );
    }
    if (derivation !== undefined) return this.#openDerived(settings, version, bytes, derivation, context);
    // The keyring's synchronous resolver applies keyForEnvelope's rules to cached keys (sealed,
    // retired, wrong purpose); a miss — not yet unwrapped, destroyed, out of range — goes the
    // asynchronous way, which unwraps or fails with the precise error.
    this.#resolve ??= this.#keys.resolver();
    const key = this.#resolve(keyId, version, header.algorithm);
    if (key !== undefined) return decrypt(key, bytes, context);
    return this.#keys.keyForEnvelope(bytes).then((found) => decrypt(found, bytes, context));
  }

  async #openDerived(
    settings: Settings,
    version: number,
    bytes: Buffer,
    derivation: Uint8Array,
    context: EncryptionContext,
  ): Promise<Buffer> {
    const parent = await this.#keys.keyVersion(settings.keyName, version);
    using derived = this.#derive(parent, derivation);
    return decrypt(derived, bytes, context);
  }

  async #decryptAll(
    settings: Settings,
    items: readonly unknown[],
    batch: boolean,
  ): Promise<ItemResult<Opened>[]> {
    const results = new Array<ItemResult<Opened>>(items.length);
    const keyId = this.#keyInfo(settings).id;
    for (let i = 0; i < items.length; i++) {
      try {
        const opened = this.#open(settings, keyId, this.#item(items[i], i, DECRYPT_FIELDS), i);
        results[i] = { plaintext: opened instanceof Promise ? await opened : opened };
      } catch (error) {
        if (!batch) throw error;
        results[i] = itemError(error);
      }
    }
    return results;
  }

  async #rewrapAll(
    settings: Settings,
    items: readonly unknown[],
    batch: boolean,
  ): Promise<ItemResult<Sealed>[]> {
    const results = new Array<ItemResult<Sealed>>(items.length);
    const keyId = this.#keyInfo(settings).id;
    for (let i = 0; i < items.length; i++) {
      try {
        const item = this.#item(items[i], i, REWRAP_FIELDS);
        const plaintext = await this.#open(settings, keyId, item, i);
        try {
          const [sealed] = await this.#encryptAll(
            settings,
            [
              {
                plaintext,
                context: item['context'],
                associatedData: item['associatedData'],
                keyVersion: item['keyVersion'],
              },
            ],
            false,
          );
          results[i] = sealed!;
        } finally {
          plaintext.fill(0);
        }
      } catch (error) {
        if (!batch) throw error;
        results[i] = itemError(error);
      }
    }
    return results;
  }

  #hash(algorithm: unknown): 'sha256' | 'sha512' {
    if (algorithm === 'sha2-256') return 'sha256';
    if (algorithm === 'sha2-512') return 'sha512';
    throw new FortressError('FX_INVALID_ARGUMENT', 'algorithm: expected "sha2-256" or "sha2-512"');
  }

  /** An `hmac` key's version material is its HMAC key; every other type's is derived from it. */
  #hmacKeyBytes(settings: Settings, material: Uint8Array): Buffer {
    if (settings.type === 'hmac') return Buffer.from(material);
    return Buffer.from(hkdfSync('sha256', material, new Uint8Array(0), HMAC_INFO, 32));
  }

  async #verifier(settings: Settings, version: number): Promise<Verifier> {
    const keyId = this.#keyInfo(settings).id;
    const cacheKey = `${keyId}:${version}`;
    const cached = this.#verifiers.get(cacheKey);
    // The keyring still refuses a retired or destroyed version, even for a cached public key.
    const key = await this.#keys.keyVersion(settings.keyName, version);
    if (cached !== undefined) return cached;
    using signer = createSigner(
      settings.type as SignatureAlgorithm,
      SecretKey.fromBytes(dataKeyMaterial(key)),
    );
    const verifier = createVerifier(signer.algorithm, signer.publicKey);
    if (this.#verifiers.size > 4096) this.#verifiers.clear();
    this.#verifiers.set(cacheKey, verifier);
    return verifier;
  }
}
