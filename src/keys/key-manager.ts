/**
 * @module keys/key-manager
 * The keys layer: seal state, the root key, and the keyring under it.
 *
 *   seal provider ──protects──▶ root key (guarded memory, only while unsealed)
 *                                 └─ key-encryption keys (per tenant / database), versioned
 *                                      └─ data keys (per table / column / index / transit key), versioned
 *
 * Every key version is stored only wrapped (an envelope under its parent's version, bound to the
 * key id and version), through the `KeyStore` interface. Unwrapped versions live in a bounded cache
 * of guarded memory; `seal()` zeroes the root key and the whole cache at once.
 *
 * States: uninitialised → (init) → unsealed ⇄ sealed. While sealed every key operation fails with
 * `FX_SEALED`.
 */
import type { AeadName } from '../crypto/aead/aead.js';
import { DEFAULT_AEAD, getAead } from '../crypto/aead/registry.js';
import { DataKey, dataKeyMaterial, reserveEncryptions } from '../crypto/envelope/data-key.js';
import { EncryptionContext } from '../crypto/envelope/encryption-context.js';
import { readEnvelopeHeader } from '../crypto/envelope/envelope-format.js';
import { decrypt, encrypt, type KeyResolver } from '../crypto/envelope/envelope.js';
import { keyMaterial, SecretKey, wipe } from '../crypto/memory/secret-key.js';
import { constantTimeEqual } from '../crypto/memory/constant-time.js';
import { hkdfSha256 } from '../crypto/kdf/hkdf.js';
import { hmacSha256 } from '../crypto/mac/hmac.js';
import { keyBackupSignerOptions, openBackup, sealBackup } from '../crypto/backup/key-backup.js';
import {
  createSigner,
  type SignatureAlgorithm,
  type SignatureOptions,
  type Signer,
} from '../crypto/signature/signature.js';
import {
  assertInteger,
  assertKnownFields,
  assertOptions,
  assertString,
  utf8Decoder,
  utf8Encoder,
} from '../util/bytes.js';
import { CryptoError, FortressError, InvalidArgumentError } from '../util/errors.js';
import { formatRotationPeriod, parseRotationPeriod } from './keyring/rotation-period.js';
import type { SealConfig, SealKind, SealProvider, UnsealProgress } from './seal/seal-provider.js';
import type {
  KeyPurpose,
  KeyRecord,
  KeyStore,
  KeyVersionRecord,
  KeyVersionState,
} from './store/key-store.js';
import { checkKeyRecord, KEY_NAME_RE, recordFields } from './store/records.js';
import { ValidatingKeyStore } from './store/validating-key-store.js';

export type KeyManagerState = 'uninitialized' | 'sealed' | 'unsealed';

export interface KeyManagerOptions {
  readonly store: KeyStore;
  /** Most unwrapped key versions kept in guarded memory; least recently used are zeroed. @default 1024 */
  readonly cacheSize?: number;
  /** Clock, for rotation schedules. @default () => new Date() */
  readonly now?: () => Date;
}

export interface EncryptionKeyOptions {
  /** Encryptions the caller is about to make: the usage lease must cover them. @default 1 */
  readonly headroom?: number;
  /**
   * Rotate first when the schedule or usage limit says so. Pass false inside a storage transaction
   * that may roll back: a rotation must never be undone underneath cached keys. @default true
   */
  readonly rotate?: boolean;
  /**
   * Encrypt under this version instead of the active one (transit's `key_version`): it must exist,
   * be at least the minimum decryption version and not be destroyed. No rotation happens then.
   */
  readonly version?: number;
}

export interface CreateKeyOptions {
  readonly name: string;
  readonly purpose: KeyPurpose;
  /** @default 'xchacha20-poly1305' */
  readonly algorithm?: AeadName;
  /** Name of the key-encryption key that wraps this key; omitted = the root key (KEKs only). */
  readonly parent?: string;
  /** Automatic rotation period, e.g. `30d`. */
  readonly rotationPeriod?: string;
}

/** A key's metadata as reported to callers. */
export interface KeyInfo extends KeyRecord {
  readonly rotationPeriod: string | null;
}

/** What `destroyVersion` did. */
export interface DestroyResult {
  readonly keyId: number;
  readonly version: number;
  /** Encryptions made under the destroyed version (an upper bound on the values it made unreadable). */
  readonly encryptions: number;
}

const SEAL_META = 'seal';
/**
 * Present once every key record carries a tag (written at init, or at the first unseal after an
 * upgrade tagged the records it found): from then on an untagged record is a changed one.
 */
const TAGS_META = 'record-tags';
const TAG_INFO = utf8Encoder.encode('fortress/keyring/record-tag/v1');

/** The fields a key record's tag covers, in a fixed order (docs/formats.md § Keys). */
function recordText(r: KeyRecord): Uint8Array {
  return utf8Encoder.encode(
    JSON.stringify([
      r.id,
      r.name,
      r.purpose,
      r.algorithm,
      r.parentId,
      r.activeVersion,
      r.latestVersion,
      r.minDecryptionVersion,
      r.rotationPeriodMs,
      r.createdAt,
      r.rotatedAt,
    ]),
  );
}

/** `r<root version>.<base64url HMAC-SHA256 of the record's fields>` under a tag key. */
function tagWith(key: Uint8Array, rootVersion: number, record: KeyRecord): string {
  return `r${rootVersion}.${Buffer.from(hmacSha256(key, recordText(record))).toString('base64url')}`;
}

function withoutTag(r: KeyRecord): KeyRecord {
  return r.tag === undefined ? r : recordFields(r);
}
const ROOT_KEY_ID = 0;
/** Encryptions leased (persisted ahead) at a time, so a crash never lets a counter go backwards. */
const USAGE_LEASE = 1 << 20;
/** Rotate an AES-GCM/ChaCha key version when fewer than this many encryptions remain. */
const FORCED_ROTATION_MARGIN = 2 ** 28;

const SYSTEM_KEK = 'fortress/system';
const SIGNING_ED25519 = 'fortress/system/backup-signing/ed25519';
const SIGNING_MLDSA = 'fortress/system/backup-signing/ml-dsa-65';

interface BackupVersionEntry {
  readonly keyId: number;
  readonly version: number;
  readonly state: KeyVersionState;
  readonly createdAt: string;
  readonly encryptions: number;
  /** Where this version's key bytes sit in the payload's key region (destroyed: 0, 0). */
  readonly offset: number;
  readonly length: number;
}

/** Splits a backup payload: u32 header length, JSON header (no secrets), then the key bytes. */
function parseBackupPayload(payload: Uint8Array): { keys: KeyRecord[]; versions: BackupVersionEntry[] } {
  const bad = (why: string): FortressError =>
    new FortressError('FX_BACKUP_INVALID', `the backup's key list is malformed: ${why}`);
  if (payload.length < 4) throw bad('too short');
  const headerLength = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
  if (4 + headerLength > payload.length) throw bad('header length');
  let header: { format?: unknown; keys?: unknown; versions?: unknown };
  try {
    header = JSON.parse(utf8Decoder.decode(payload.subarray(4, 4 + headerLength))) as typeof header;
  } catch (cause) {
    throw new FortressError('FX_BACKUP_INVALID', "the backup's key list is not valid JSON", { cause });
  }
  if (header.format !== 1 || !Array.isArray(header.keys) || !Array.isArray(header.versions))
    throw bad('fields');
  let keys: KeyRecord[];
  try {
    keys = header.keys.map((k) => checkKeyRecord(k));
  } catch (cause) {
    throw new FortressError('FX_BACKUP_INVALID', "the backup's key list holds a malformed key", { cause });
  }
  const region = 4 + headerLength;
  const versions = (header.versions as Partial<BackupVersionEntry>[]).map((v) => {
    if (
      typeof v !== 'object' ||
      !keys.some((k) => k.id === v.keyId) ||
      typeof v.version !== 'number' ||
      typeof v.offset !== 'number' ||
      typeof v.length !== 'number' ||
      typeof v.encryptions !== 'number' ||
      typeof v.createdAt !== 'string' ||
      !['active', 'decrypt-only', 'retired', 'destroyed'].includes(v.state as string) ||
      (v.state !== 'destroyed' && (v.length < 16 || region + v.offset + v.length > payload.length))
    ) {
      throw bad('a version entry');
    }
    return { ...(v as BackupVersionEntry), offset: region + v.offset };
  });
  return { keys, versions };
}

interface StoredSeal {
  readonly config: SealConfig;
  readonly rootVersion: number;
  /** During root rotation: older root keys wrapped under the current root, until every KEK is rewrapped. */
  readonly previousRoots: readonly { readonly version: number; readonly wrapped: string }[];
}

/**
 * A version's state as reported: versions below the key's minimum decryption version are
 * `retired` (derived from the key record, so moving the minimum needs no write per version and
 * is reversible until a version is destroyed).
 */
function effectiveState(
  record: KeyRecord,
  version: { version: number; state: KeyVersionState },
): KeyVersionState {
  if (version.state === 'decrypt-only' && version.version < record.minDecryptionVersion) return 'retired';
  return version.state;
}

function wrapContext(keyId: number, version: number): EncryptionContext {
  return EncryptionContext.of({ table: 'fortress/keyring', column: String(keyId), row: String(version) });
}

function nowIso(now: () => Date): string {
  return now().toISOString();
}

/** A tiny FIFO mutex: keyring mutations run one at a time. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

interface ActiveLease {
  leasedUpTo: number;
}

/**
 * @example
 * ```ts
 * const keys = await KeyManager.open({ store: await FileKeyStore.open('./data/keys') });
 * const { shares } = await keys.init(new ShamirSealProvider({ shares: 5, threshold: 3 }));
 * await keys.createKey({ name: 'kek/acme/main', purpose: 'kek' });
 * await keys.createKey({ name: 'acme/main/patients/ssn', purpose: 'data', parent: 'kek/acme/main' });
 * const envelope = await keys.encrypt('acme/main/patients/ssn', plaintext, context);
 * keys.seal(); // every unwrapped key zeroed
 * ```
 */
export class KeyManager {
  readonly #store: ValidatingKeyStore;
  readonly #cacheSize: number;
  readonly #now: () => Date;
  readonly #mutex = new Mutex();
  /** Set when other processes share the store: runs a mutation under their common lock. */
  #shared: (<T>(fn: () => Promise<T>) => Promise<T>) | null = null;
  /** Mutations running under the shared lock now (this process holds it: no need to take it again). */
  #holdingShared = 0;
  #state: KeyManagerState;
  #seal: StoredSeal | undefined;
  /** Root key versions while unsealed (current and, during a root rotation, previous ones). */
  #roots = new Map<number, DataKey>();
  #keysById = new Map<number, KeyRecord>();
  /** Each record's frozen `KeyInfo` (see `#info`). */
  readonly #infos = new WeakMap<KeyRecord, KeyInfo>();
  #keysByName = new Map<string, KeyRecord>();
  /** The `record-tags` marker was seen (or written): untagged records are refused from now on. */
  #tagsOn = false;
  /** LRU of unwrapped versions: Map iteration order is insertion order. */
  #cache = new Map<string, DataKey>();
  #leases = new Map<string, ActiveLease>();
  /** Bumped by every seal(), so async work that started before it cannot finish after it. */
  #generation = 0;

  private constructor(store: ValidatingKeyStore, seal: StoredSeal | undefined, options: KeyManagerOptions) {
    this.#store = store;
    this.#seal = seal;
    this.#state = seal === undefined ? 'uninitialized' : 'sealed';
    this.#cacheSize = options.cacheSize ?? 1024;
    this.#now = options.now ?? (() => new Date());
  }

  /** Opens the keys layer over `store`: uninitialised if the store holds no seal, otherwise sealed. */
  static async open(options: KeyManagerOptions): Promise<KeyManager> {
    assertOptions(options, 'options');
    if (typeof options.store !== 'object' || (options.store as unknown) === null) {
      throw new InvalidArgumentError('store', 'expected a KeyStore');
    }
    if (options.cacheSize !== undefined) assertInteger(options.cacheSize, 'cacheSize', 1, 1_000_000);
    // Every store is read through the validating boundary, whoever implemented it.
    const store = new ValidatingKeyStore(options.store);
    const raw = await store.getMeta(SEAL_META);
    return new KeyManager(store, raw === undefined ? undefined : parseSeal(raw), options);
  }

  get state(): KeyManagerState {
    return this.#state;
  }

  /** The seal provider kind in use, once initialised. */
  get sealKind(): SealKind | undefined {
    return this.#seal?.config.kind;
  }

  /** The persisted seal configuration (non-secret), e.g. for `fortress status`. */
  get sealConfig(): SealConfig | undefined {
    return this.#seal?.config;
  }

  #requireUnsealed(): void {
    if (this.#state === 'uninitialized')
      throw new FortressError('FX_NOT_INITIALIZED', 'Fortress is not initialised');
    if (this.#state === 'sealed') throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
  }

  /** Throws FX_SEALED if a seal() happened since `generation` was read (checked after every await). */
  #stillUnsealed(generation: number): void {
    if (generation !== this.#generation || this.#state !== 'unsealed') {
      throw new FortressError('FX_SEALED', 'Fortress was sealed during the operation');
    }
  }

  // ── init, unseal, seal ────────────────────────────────────────────────────────────────────────

  /**
   * Creates the root key and seals it with `provider`. Leaves Fortress unsealed. For Shamir,
   * returns the shares: show them once and store them apart; they are never stored.
   */
  async init(provider: SealProvider): Promise<{ shares?: readonly string[] }> {
    return this.#mutex.run(async () => {
      if (this.#state !== 'uninitialized' || (await this.#store.getMeta(SEAL_META)) !== undefined) {
        throw new FortressError('FX_ALREADY_INITIALIZED', 'Fortress is already initialised here');
      }
      const root = SecretKey.generate(32);
      let result;
      try {
        result = await provider.seal(root);
      } catch (error) {
        root.dispose();
        throw error;
      }
      const seal: StoredSeal = { config: result.config, rootVersion: 1, previousRoots: [] };
      // Atomic: of two processes initialising one shared store at once, one wins.
      if (!(await this.#store.createMeta(SEAL_META, encodeSeal(seal)))) {
        root.dispose();
        throw new FortressError('FX_ALREADY_INITIALIZED', 'Fortress is already initialised here');
      }
      this.#seal = seal;
      this.#roots.set(1, new DataKey({ id: ROOT_KEY_ID, version: 1, key: root }));
      await this.#loadKeys();
      this.#state = 'unsealed';
      return result.shares === undefined ? {} : { shares: result.shares };
    });
  }

  /**
   * Starts unsealing with `provider` (the same kind that sealed). Submit inputs one at a time; the
   * call that completes the threshold unseals Fortress.
   */
  beginUnseal(provider: SealProvider): {
    readonly required: number;
    readonly received: number;
    submit(input: string): Promise<UnsealProgress | { done: true }>;
    reset(): void;
  } {
    const seal = this.#requireSealed(provider);
    const attempt = provider.beginUnseal(seal.config);
    return {
      get required() {
        return attempt.required;
      },
      get received() {
        return attempt.received;
      },
      submit: async (input: string) => {
        const progress = await attempt.submit(input);
        if (!progress.done) return progress;
        await this.#completeUnseal(seal, progress.rootKey);
        return { done: true };
      },
      reset: () => {
        attempt.reset();
      },
    };
  }

  /** Unseals with an automatic provider (HSM, dev key file), or with all inputs at once. */
  async unseal(provider: SealProvider, inputs: readonly string[] = []): Promise<void> {
    const seal = this.#requireSealed(provider);
    const attempt = provider.beginUnseal(seal.config);
    if (attempt.required === 0) {
      await this.#completeUnseal(seal, await attempt.auto());
      return;
    }
    let progress: UnsealProgress | undefined;
    for (const input of inputs) {
      progress = await attempt.submit(input);
      if (progress.done) break;
    }
    if (progress?.done !== true) {
      attempt.reset();
      throw new FortressError(
        'FX_UNSEAL_FAILED',
        `${attempt.required} inputs are needed to unseal, ${inputs.length} were given`,
      );
    }
    await this.#completeUnseal(seal, progress.rootKey);
  }

  #requireSealed(provider: SealProvider): StoredSeal {
    if (this.#state === 'uninitialized' || this.#seal === undefined) {
      throw new FortressError('FX_NOT_INITIALIZED', 'Fortress is not initialised');
    }
    if (this.#state === 'unsealed')
      throw new FortressError('FX_ALREADY_UNSEALED', 'Fortress is already unsealed');
    if (provider.kind !== this.#seal.config.kind) {
      throw new FortressError(
        'FX_SEAL_PROVIDER',
        `Fortress is sealed with ${this.#seal.config.kind}, not ${provider.kind}`,
      );
    }
    return this.#seal;
  }

  async #completeUnseal(seal: StoredSeal, root: SecretKey): Promise<void> {
    if (this.#state === 'unsealed') {
      root.dispose();
      throw new FortressError('FX_ALREADY_UNSEALED', 'Fortress is already unsealed');
    }
    const roots = new Map<number, DataKey>();
    const current = new DataKey({ id: ROOT_KEY_ID, version: seal.rootVersion, key: root });
    roots.set(seal.rootVersion, current);
    try {
      for (const previous of seal.previousRoots) {
        const bytes = decrypt(
          current,
          Buffer.from(previous.wrapped, 'base64'),
          wrapContext(ROOT_KEY_ID, previous.version),
        );
        roots.set(
          previous.version,
          new DataKey({
            id: ROOT_KEY_ID,
            version: previous.version,
            key: SecretKey.fromBytes(bytes, { wipeSource: true }),
          }),
        );
      }
      this.#roots = roots;
      await this.#loadKeys();
    } catch (error) {
      for (const key of roots.values()) key.dispose();
      this.#roots = new Map();
      throw error;
    }
    this.#state = 'unsealed';
  }

  /**
   * @internal Other processes share the key store (a cluster on PostgreSQL): every mutation runs
   * under `exclusive` — a lock they all take — on key records read afresh inside it, so two nodes
   * never both create version N of a key, hand out one key id twice, or write back a stale record;
   * usage leases too, so AES-GCM's per-version encryption bound holds across nodes.
   */
  shareStore(exclusive: <T>(fn: () => Promise<T>) => Promise<T>): void {
    this.#shared = exclusive;
  }

  /** A keyring mutation: one at a time here, and under the shared lock when the store is shared. */
  #mutating<T>(fn: () => Promise<T>): Promise<T> {
    const shared = this.#shared;
    if (shared === null) return this.#mutex.run(fn);
    return this.#mutex.run(() =>
      shared(async () => {
        this.#holdingShared++;
        try {
          if (this.#state === 'unsealed') await this.#loadKeys();
          return await fn();
        } finally {
          this.#holdingShared--;
        }
      }),
    );
  }

  /**
   * Reads the key records again: another process sharing the key store rotated, configured or
   * destroyed keys. Cached versions that were destroyed meanwhile are zeroed. If the root key was
   * rotated elsewhere (this process cannot unwrap under the new root), this one seals itself — fail
   * closed — and answers `'sealed'`: unseal it with the new shares. A rekey elsewhere (same root,
   * new shares) is taken over. Sealed or uninitialised: nothing to do.
   */
  async reload(): Promise<'current' | 'sealed'> {
    return this.#mutex.run(async () => {
      if (this.#state === 'uninitialized') {
        const raw = await this.#store.getMeta(SEAL_META);
        // Another process initialised the shared store (the mutex keeps this process's init out).
        if (raw !== undefined) {
          this.#seal = parseSeal(raw);
          this.#state = 'sealed';
        }
        return 'sealed';
      }
      if (this.#state !== 'unsealed') {
        const raw = await this.#store.getMeta(SEAL_META);
        if (raw !== undefined) this.#seal = parseSeal(raw);
        return 'sealed';
      }
      const generation = this.#generation;
      const raw = await this.#store.getMeta(SEAL_META);
      this.#stillUnsealed(generation);
      const seal = raw === undefined ? undefined : parseSeal(raw);
      if (seal === undefined || seal.rootVersion !== this.#seal?.rootVersion) {
        this.seal();
        if (seal !== undefined) this.#seal = seal;
        return 'sealed';
      }
      this.#seal = seal;
      await this.#loadKeys();
      this.#stillUnsealed(generation);
      for (const [cacheKey, key] of [...this.#cache]) {
        const [id, version] = cacheKey.split(':').map(Number) as [number, number];
        const stored = this.#keysById.has(id) ? await this.#store.getVersion(id, version) : undefined;
        this.#stillUnsealed(generation);
        if (stored === undefined || stored.state === 'destroyed' || stored.wrapped === null) {
          key.dispose();
          this.#cache.delete(cacheKey);
          this.#leases.delete(cacheKey);
        }
      }
      return 'current';
    });
  }

  /**
   * Zeroes the root key and every cached unwrapped key, synchronously. Afterwards every key
   * operation fails with `FX_SEALED` until the next unseal. Idempotent.
   */
  seal(): void {
    if (this.#state === 'uninitialized')
      throw new FortressError('FX_NOT_INITIALIZED', 'Fortress is not initialised');
    this.#generation++;
    for (const key of this.#roots.values()) key.dispose();
    for (const key of this.#cache.values()) key.dispose();
    this.#roots = new Map();
    this.#cache = new Map();
    this.#leases = new Map();
    // Key metadata is reloaded at unseal; sealed, Fortress answers nothing about its keys.
    this.#keysById = new Map();
    this.#keysByName = new Map();
    this.#state = 'sealed';
  }

  /** Seals (if unsealed) and closes the store. */
  async close(): Promise<void> {
    if (this.#state === 'unsealed') this.seal();
    await this.#store.close();
  }

  /**
   * Re-protects the current root key with another provider or new parameters (new shares, a new
   * threshold, another passphrase, a move to an HSM). Requires the current unseal material; data
   * and the keyring are not touched. Returns the new shares for Shamir.
   */
  async rekey(
    current: { provider: SealProvider; inputs?: readonly string[] },
    next: SealProvider,
  ): Promise<{ shares?: readonly string[] }> {
    return this.#mutating(async () => {
      const seal = this.#seal;
      if (seal === undefined) throw new FortressError('FX_NOT_INITIALIZED', 'Fortress is not initialised');
      using root = await this.#openRootWith(seal, current.provider, current.inputs ?? []);
      const result = await next.seal(root);
      const updated: StoredSeal = { ...seal, config: result.config };
      await this.#store.putMeta(SEAL_META, encodeSeal(updated));
      this.#seal = updated;
      return result.shares === undefined ? {} : { shares: result.shares };
    });
  }

  /**
   * Rotates the root key: a new root key, every key-encryption key version rewrapped under it, the
   * seal re-made with `next` (or the current provider's kind with the same options). Data keys and
   * data are not touched. Requires the current unseal material. Crash-safe: until every KEK is
   * rewrapped the old root is kept, wrapped under the new one.
   */
  async rotateRootKey(
    current: { provider: SealProvider; inputs?: readonly string[] },
    next: SealProvider = current.provider,
  ): Promise<{ shares?: readonly string[]; rootVersion: number }> {
    return this.#mutating(async () => {
      this.#requireUnsealed();
      const generation = this.#generation;
      const seal = this.#seal!;
      // Proves the caller holds the unseal material; the root itself is already in memory.
      (await this.#openRootWith(seal, current.provider, current.inputs ?? [])).dispose();
      this.#stillUnsealed(generation);
      const oldVersion = seal.rootVersion;
      const newVersion = oldVersion + 1;
      const newRoot = SecretKey.generate(32);
      const newRootKey = new DataKey({ id: ROOT_KEY_ID, version: newVersion, key: newRoot });
      const previousRoots = [...this.#roots.entries()].map(([version, key]) => ({
        version,
        wrapped: encrypt(newRootKey, dataKeyMaterial(key), wrapContext(ROOT_KEY_ID, version)).toString(
          'base64',
        ),
      }));
      let result;
      try {
        result = await next.seal(newRoot);
      } catch (error) {
        newRootKey.dispose();
        throw error;
      }
      const staged: StoredSeal = { config: result.config, rootVersion: newVersion, previousRoots };
      await this.#store.putMeta(SEAL_META, encodeSeal(staged));
      this.#seal = staged;
      this.#roots.set(newVersion, newRootKey);
      // Rewrap every KEK version under the new root, one atomic record at a time.
      for (const record of this.#keysById.values()) {
        if (record.parentId !== null) continue;
        for (const version of await this.#store.listVersions(record.id)) {
          this.#stillUnsealed(generation);
          if (version.wrapped === null) continue;
          const header = readEnvelopeHeader(version.wrapped);
          if (header.keyVersion === newVersion) continue;
          const plain = decrypt(
            this.#rootVersion(header.keyVersion),
            version.wrapped,
            wrapContext(record.id, version.version),
          );
          try {
            const wrapped = encrypt(newRootKey, plain, wrapContext(record.id, version.version));
            await this.#store.putVersion({ ...version, wrapped });
          } finally {
            plain.fill(0);
          }
        }
      }
      // Every record's tag under the new root, before the old roots go.
      for (const record of [...this.#keysById.values()]) {
        this.#stillUnsealed(generation);
        const retagged = this.#tagged(record);
        await this.#store.putKey(retagged);
        this.#keysById.set(retagged.id, retagged);
        this.#keysByName.set(retagged.name, retagged);
      }
      const done: StoredSeal = { config: result.config, rootVersion: newVersion, previousRoots: [] };
      await this.#store.putMeta(SEAL_META, encodeSeal(done));
      this.#seal = done;
      for (const [version, key] of this.#roots) {
        if (version !== newVersion) key.dispose();
      }
      this.#roots = new Map([[newVersion, newRootKey]]);
      return { ...(result.shares === undefined ? {} : { shares: result.shares }), rootVersion: newVersion };
    });
  }

  async #openRootWith(
    seal: StoredSeal,
    provider: SealProvider,
    inputs: readonly string[],
  ): Promise<SecretKey> {
    if (provider.kind !== seal.config.kind) {
      throw new FortressError(
        'FX_SEAL_PROVIDER',
        `Fortress is sealed with ${seal.config.kind}, not ${provider.kind}`,
      );
    }
    const attempt = provider.beginUnseal(seal.config);
    if (attempt.required === 0) return attempt.auto();
    for (const input of inputs) {
      const progress = await attempt.submit(input);
      if (progress.done) return progress.rootKey;
    }
    attempt.reset();
    throw new FortressError(
      'FX_UNSEAL_FAILED',
      `${attempt.required} unseal inputs are needed, ${inputs.length} were given`,
    );
  }

  #rootVersion(version: number): DataKey {
    const root = this.#roots.get(version);
    if (root === undefined) {
      throw new FortressError(
        'FX_KEYSTORE_CORRUPT',
        `a key is wrapped under root key version ${version}, which is not available`,
      );
    }
    return root;
  }

  // ── keyring ───────────────────────────────────────────────────────────────────────────────────

  async #loadKeys(): Promise<void> {
    const records = await this.#checkTags(await this.#store.listKeys());
    this.#keysById = new Map(records.map((r) => [r.id, r]));
    this.#keysByName = new Map(records.map((r) => [r.name, r]));
  }

  /** The key records are tagged with under root key version `rootVersion` (zero it after use). */
  #tagKey(rootVersion: number): Uint8Array {
    return hkdfSha256(dataKeyMaterial(this.#rootVersion(rootVersion)), { info: TAG_INFO, length: 32 });
  }

  /** The record as saved: tagged under the current root key (see `KeyRecord.tag`). */
  #tagged(record: KeyRecord): KeyRecord {
    const rootVersion = this.#seal!.rootVersion;
    const key = this.#tagKey(rootVersion);
    try {
      return { ...withoutTag(record), tag: tagWith(key, rootVersion, record) };
    } finally {
      key.fill(0);
    }
  }

  /**
   * Checks every record's tag: one changed outside Fortress (a lowered minimum decryption version,
   * an older active version, another algorithm or name) fails the load with FX_KEYSTORE_CORRUPT,
   * as a malformed record does. Records written before tags existed are tagged as they are, once —
   * until the `record-tags` marker exists; after it, an untagged record is a changed one.
   */
  async #checkTags(records: KeyRecord[]): Promise<KeyRecord[]> {
    const untagged: KeyRecord[] = [];
    // One derivation per root version for the whole list (a cluster reloads on every mutation).
    const tagKeys = new Map<number, Uint8Array>();
    try {
      for (const record of records) {
        if (record.tag === undefined) {
          untagged.push(record);
          continue;
        }
        const version = Number(record.tag.slice(1, record.tag.indexOf('.')));
        if (!this.#roots.has(version)) {
          throw new FortressError(
            'FX_KEYSTORE_CORRUPT',
            `key record ${record.id} is tagged under root key version ${version}, which this process does not hold (rotated elsewhere? unseal again)`,
          );
        }
        let key = tagKeys.get(version);
        if (key === undefined) {
          key = this.#tagKey(version);
          tagKeys.set(version, key);
        }
        const expected = utf8Encoder.encode(tagWith(key, version, record));
        if (!constantTimeEqual(utf8Encoder.encode(record.tag), expected)) {
          throw new FortressError(
            'FX_KEYSTORE_CORRUPT',
            `key record ${record.id} (${record.name}) was changed outside Fortress: its tag does not match`,
          );
        }
      }
    } finally {
      for (const key of tagKeys.values()) key.fill(0);
    }
    if (!this.#tagsOn) this.#tagsOn = (await this.#store.getMeta(TAGS_META)) !== undefined;
    if (untagged.length > 0 && this.#tagsOn) {
      throw new FortressError(
        'FX_KEYSTORE_CORRUPT',
        `key record ${untagged[0]!.id} (${untagged[0]!.name}) has no tag: it was written or changed outside Fortress`,
      );
    }
    if (this.#tagsOn) return records;
    // The first load by a version with tags: trust what is there, once.
    const tagged = new Map<number, KeyRecord>();
    for (const record of untagged) {
      const next = this.#tagged(record);
      await this.#store.putKey(next);
      tagged.set(record.id, next);
    }
    await this.#store.putMeta(TAGS_META, new Uint8Array([1]));
    this.#tagsOn = true;
    return records.map((r) => tagged.get(r.id) ?? r);
  }

  #record(nameOrId: string | number): KeyRecord {
    // Async work that resumes after a seal() lands here first: report the seal, not a missing key.
    this.#requireUnsealed();
    const record =
      typeof nameOrId === 'number' ? this.#keysById.get(nameOrId) : this.#keysByName.get(nameOrId);
    if (record === undefined) {
      throw new FortressError(
        'FX_KEY_NOT_FOUND',
        `no key ${typeof nameOrId === 'number' ? nameOrId : JSON.stringify(nameOrId)}`,
      );
    }
    return record;
  }

  /** Persists a key record and updates the in-memory indexes (after checking no seal intervened). */
  async #saveKey(untagged: KeyRecord, generation: number): Promise<KeyInfo> {
    const record = this.#tagged(untagged);
    await this.#store.putKey(record);
    this.#stillUnsealed(generation);
    this.#keysById.set(record.id, record);
    this.#keysByName.set(record.name, record);
    return this.#info(record);
  }

  #info(record: KeyRecord): KeyInfo {
    // Records are immutable (every change saves a new one), so each one's frozen info is made once:
    // transit and the engine look a key up on every request.
    let info = this.#infos.get(record);
    if (info === undefined) {
      info = Object.freeze({
        ...withoutTag(record),
        rotationPeriod:
          record.rotationPeriodMs === null ? null : formatRotationPeriod(record.rotationPeriodMs),
      });
      this.#infos.set(record, info);
    }
    return info;
  }

  /** Every key's metadata. */
  listKeys(): KeyInfo[] {
    this.#requireUnsealed();
    return [...this.#keysById.values()].sort((a, b) => a.id - b.id).map((r) => this.#info(r));
  }

  /** One key's metadata. */
  getKey(nameOrId: string | number): KeyInfo {
    this.#requireUnsealed();
    return this.#info(this.#record(nameOrId));
  }

  /** Versions of a key (a page of them for keys with very many). */
  async listVersions(
    nameOrId: string | number,
    page?: { fromVersion?: number; limit?: number },
  ): Promise<Omit<KeyVersionRecord, 'wrapped'>[]> {
    this.#requireUnsealed();
    const record = this.#record(nameOrId);
    const versions = await this.#store.listVersions(record.id, page);
    return versions.map((v) => ({
      keyId: v.keyId,
      version: v.version,
      state: effectiveState(record, v),
      createdAt: v.createdAt,
      encryptions: v.encryptions,
    }));
  }

  /** Creates a key with version 1 active. KEKs are wrapped by the root key; other keys need a KEK parent. */
  async createKey(options: CreateKeyOptions): Promise<KeyInfo> {
    assertOptions(options, 'options');
    assertString(options.name, 'name');
    if (!KEY_NAME_RE.test(options.name)) {
      throw new InvalidArgumentError(
        'name',
        'expected 1-256 characters of letters, digits, ".", "_", ":", "/" or "-"',
      );
    }
    if (!(['kek', 'data', 'index', 'transit', 'signing'] as const).includes(options.purpose)) {
      throw new InvalidArgumentError('purpose', 'expected kek, data, index, transit or signing');
    }
    if (options.purpose === 'signing' && (options.algorithm ?? DEFAULT_AEAD) !== 'xchacha20-poly1305') {
      throw new InvalidArgumentError(
        'algorithm',
        'signing keys are 32-byte seeds; leave the algorithm at its default',
      );
    }
    const algorithm = getAead(options.algorithm ?? DEFAULT_AEAD).name;
    const rotationPeriodMs =
      options.rotationPeriod === undefined ? null : parseRotationPeriod(options.rotationPeriod);
    return this.#mutating(async () => {
      this.#requireUnsealed();
      const generation = this.#generation;
      if (this.#keysByName.has(options.name)) {
        throw new FortressError('FX_KEY_STATE', `a key named ${JSON.stringify(options.name)} already exists`);
      }
      let parentId: number | null = null;
      if (options.purpose === 'kek') {
        if (options.parent !== undefined)
          throw new InvalidArgumentError('parent', 'key-encryption keys are wrapped by the root key');
      } else {
        if (options.parent === undefined)
          throw new InvalidArgumentError(
            'parent',
            `a ${options.purpose} key needs a key-encryption key parent`,
          );
        const parent = this.#record(options.parent);
        if (parent.purpose !== 'kek')
          throw new InvalidArgumentError('parent', `${options.parent} is not a key-encryption key`);
        parentId = parent.id;
      }
      const id = this.#nextId();
      const at = nowIso(this.#now);
      const record: KeyRecord = {
        id,
        name: options.name,
        purpose: options.purpose,
        algorithm,
        parentId,
        activeVersion: 1,
        latestVersion: 1,
        minDecryptionVersion: 1,
        rotationPeriodMs,
        createdAt: at,
        rotatedAt: at,
      };
      await this.#writeNewVersion(record, 1, generation);
      return this.#saveKey(record, generation);
    });
  }

  #nextId(): number {
    let max = ROOT_KEY_ID;
    for (const id of this.#keysById.keys()) if (id > max) max = id;
    if (max >= 0xffff_ffff) throw new FortressError('FX_KEY_STATE', 'key ids are exhausted');
    return max + 1;
  }

  /** Generates, wraps and stores a new version (state active). */
  async #writeNewVersion(record: KeyRecord, version: number, generation: number): Promise<void> {
    const parent =
      record.parentId === null
        ? this.#rootVersion(this.#seal!.rootVersion)
        : await this.#activeKey(record.parentId, generation);
    this.#stillUnsealed(generation);
    const fresh = SecretKey.generate(getAead(record.algorithm).keyLength);
    try {
      const wrapped = encrypt(parent, keyMaterial(fresh), wrapContext(record.id, version));
      await this.#store.putVersion({
        keyId: record.id,
        version,
        state: 'active',
        createdAt: nowIso(this.#now),
        encryptions: 0,
        wrapped,
      });
    } finally {
      fresh.dispose();
    }
  }

  /** The active version of a key, unwrapped (cached). */
  async #activeKey(keyId: number, generation: number): Promise<DataKey> {
    const record = this.#record(keyId);
    return this.#versionKey(record, record.activeVersion, generation);
  }

  /** Unwraps (or returns from the cache) one version of a key, enforcing its state. */
  async #versionKey(record: KeyRecord, version: number, generation: number): Promise<DataKey> {
    const cacheKey = `${record.id}:${version}`;
    const cached = this.#cache.get(cacheKey);
    if (cached !== undefined && !cached.disposed) {
      this.#cache.delete(cacheKey);
      this.#cache.set(cacheKey, cached);
      return cached;
    }
    const stored = await this.#store.getVersion(record.id, version);
    this.#stillUnsealed(generation);
    if (stored === undefined)
      throw new FortressError('FX_KEY_NOT_FOUND', `key ${record.name} has no version ${version}`);
    if (stored.state === 'destroyed' || stored.wrapped === null) {
      throw new FortressError(
        'FX_KEY_VERSION_DESTROYED',
        `key ${record.name} version ${version} was destroyed`,
      );
    }
    const header = readEnvelopeHeader(stored.wrapped);
    if (header.keyId !== (record.parentId ?? ROOT_KEY_ID)) {
      throw new FortressError(
        'FX_KEYSTORE_CORRUPT',
        `key ${record.name} version ${version} is wrapped by the wrong key`,
      );
    }
    const parent =
      record.parentId === null
        ? this.#rootVersion(header.keyVersion)
        : await this.#versionKey(this.#record(record.parentId), header.keyVersion, generation);
    this.#stillUnsealed(generation);
    let bytes: Buffer;
    try {
      bytes = decrypt(parent, stored.wrapped, wrapContext(record.id, version));
    } catch (cause) {
      throw new FortressError(
        'FX_KEYSTORE_CORRUPT',
        `key ${record.name} version ${version} does not unwrap`,
        { cause },
      );
    }
    const key = new DataKey({
      id: record.id,
      version,
      algorithm: record.algorithm,
      key: SecretKey.fromBytes(bytes, { wipeSource: true }),
      encryptions: stored.encryptions,
    });
    // A racing call may have unwrapped the same version meanwhile: keep one, zero the other.
    const raced = this.#cache.get(cacheKey);
    if (raced !== undefined && !raced.disposed) {
      key.dispose();
      return raced;
    }
    this.#cache.set(cacheKey, key);
    this.#evict();
    return key;
  }

  #evict(): void {
    while (this.#cache.size > this.#cacheSize) {
      const [oldest, key] = this.#cache.entries().next().value!;
      // Safe for active versions too: their usage was leased ahead in the store, so a reload
      // resumes from a count at least as high as the true one.
      this.#cache.delete(oldest);
      key.dispose();
      this.#leases.delete(oldest);
    }
  }

  /**
   * Rotates a key: a new active version; older versions become decrypt-only. With
   * `ifActiveVersion`, only if that version is still the active one once the keyring's lock is
   * held (and, on a shared store, the records re-read): processes that find a key due at the same
   * moment then rotate it once, and each gets the version the first one made.
   */
  async rotate(nameOrId: string | number, options: { ifActiveVersion?: number } = {}): Promise<KeyInfo> {
    this.#requireUnsealed();
    assertOptions(options, 'options');
    assertKnownFields(options, ['ifActiveVersion'], 'options');
    const expected = options.ifActiveVersion;
    if (expected !== undefined) assertInteger(expected, 'ifActiveVersion', 1, 0xffff_ffff);
    return this.#rotateIf(nameOrId, expected);
  }

  /** Rotates under the keyring's lock, unless `expected` is given and no longer the active version. */
  #rotateIf(nameOrId: string | number, expected: number | undefined): Promise<KeyInfo> {
    return this.#mutating(async () => {
      const record = this.#record(nameOrId);
      if (expected !== undefined && record.activeVersion !== expected) return this.getKey(record.id);
      return this.#rotateLocked(record.id);
    });
  }

  async #rotateLocked(keyId: number): Promise<KeyInfo> {
    this.#requireUnsealed();
    const generation = this.#generation;
    const record = this.#record(keyId);
    await this.#persistUsage(record.id, record.activeVersion);
    const version = record.latestVersion + 1;
    if (version > 0xffff_ffff)
      throw new FortressError('FX_KEY_STATE', `key ${record.name} has no versions left`);
    await this.#writeNewVersion(record, version, generation);
    const previous = await this.#store.getVersion(record.id, record.activeVersion);
    if (previous?.state === 'active') {
      await this.#store.putVersion({ ...previous, state: 'decrypt-only' });
    }
    const updated: KeyRecord = {
      ...record,
      activeVersion: version,
      latestVersion: version,
      rotatedAt: nowIso(this.#now),
    };
    return this.#saveKey(updated, generation);
  }

  /** Versions below `version` refuse to decrypt (`FX_KEY_VERSION_RETIRED`); reversible until destroyed. */
  async setMinDecryptionVersion(nameOrId: string | number, version: number): Promise<KeyInfo> {
    return this.#mutating(async () => {
      this.#requireUnsealed();
      const record = this.#record(nameOrId);
      assertInteger(version, 'version', 1, record.activeVersion);
      return this.#saveKey({ ...record, minDecryptionVersion: version }, this.#generation);
    });
  }

  /**
   * Sets (`'30d'`, as `createKey`'s `rotationPeriod`) or clears (null) a key's automatic rotation
   * period. The schedule counts from the key's last rotation: a period that has already elapsed
   * makes the key due at once (its next encryption, or `rotateDue`, rotates it).
   */
  async setRotationPeriod(nameOrId: string | number, period: string | null): Promise<KeyInfo> {
    // Parsed before the lock: an invalid period changes nothing.
    const rotationPeriodMs = period === null ? null : parseRotationPeriod(period);
    return this.#mutating(async () => {
      this.#requireUnsealed();
      const record = this.#record(nameOrId);
      return this.#saveKey({ ...record, rotationPeriodMs }, this.#generation);
    });
  }

  /**
   * Crypto-shredding: overwrites and removes one version's wrapped bytes. Data under it becomes
   * permanently unreadable. The active version cannot be destroyed (rotate first).
   */
  async destroyVersion(nameOrId: string | number, version: number): Promise<DestroyResult> {
    return this.#mutating(async () => {
      this.#requireUnsealed();
      const record = this.#record(nameOrId);
      assertInteger(version, 'version', 1, record.latestVersion);
      if (version === record.activeVersion) {
        throw new FortressError(
          'FX_KEY_STATE',
          `version ${version} of ${record.name} is active; rotate the key before destroying it`,
        );
      }
      return this.#shred(record, version);
    });
  }

  async #shred(record: KeyRecord, version: number): Promise<DestroyResult> {
    const stored = await this.#store.getVersion(record.id, version);
    if (stored === undefined)
      throw new FortressError('FX_KEY_NOT_FOUND', `key ${record.name} has no version ${version}`);
    const cacheKey = `${record.id}:${version}`;
    this.#cache.get(cacheKey)?.dispose();
    this.#cache.delete(cacheKey);
    this.#leases.delete(cacheKey);
    if (stored.state !== 'destroyed') await this.#store.shredVersion(record.id, version);
    return { keyId: record.id, version, encryptions: stored.encryptions };
  }

  /**
   * Shreds a whole key: every version destroyed, including the active one. For a tenant's KEK this
   * shreds the tenant: every data key under it can no longer be unwrapped.
   */
  async destroyKey(nameOrId: string | number): Promise<DestroyResult[]> {
    return this.#mutating(async () => {
      this.#requireUnsealed();
      const record = this.#record(nameOrId);
      const results: DestroyResult[] = [];
      for (const version of await this.#store.listVersions(record.id)) {
        results.push(await this.#shred(record, version.version));
      }
      // Cached children unwrapped under this key must go too.
      for (const child of this.#keysById.values()) {
        if (child.parentId !== record.id) continue;
        for (const [cacheKey, key] of this.#cache) {
          if (cacheKey.startsWith(`${child.id}:`)) {
            key.dispose();
            this.#cache.delete(cacheKey);
          }
        }
      }
      return results;
    });
  }

  /** Rotates every key whose rotation period has elapsed. Returns the rotated keys. */
  async rotateDue(): Promise<KeyInfo[]> {
    this.#requireUnsealed();
    const now = this.#now().getTime();
    const due = [...this.#keysById.values()].filter(
      (r) => r.rotationPeriodMs !== null && Date.parse(r.rotatedAt) + r.rotationPeriodMs <= now,
    );
    const rotated: KeyInfo[] = [];
    // Another process sharing the store may rotate the same keys now: each is rotated once.
    for (const record of due)
      rotated.push(await this.rotate(record.id, { ifActiveVersion: record.activeVersion }));
    return rotated;
  }

  // ── using keys ────────────────────────────────────────────────────────────────────────────────

  /**
   * Encrypts under the active version of a data key. Rotates first when the key's schedule is due
   * or its algorithm's usage limit is near; leases usage ahead in the store so a crash never lets
   * a counter go backwards.
   */
  async encrypt(
    nameOrId: string | number,
    plaintext: Uint8Array,
    context?: EncryptionContext,
  ): Promise<Buffer> {
    const generation = this.#generation;
    const key = await this.encryptionKey(nameOrId);
    this.#stillUnsealed(generation);
    return encrypt(key, plaintext, context);
  }

  /**
   * The active version of a data key, ready to encrypt under: rotated first when its schedule is
   * due or its algorithm's usage limit is near, with usage leased ahead in the store. Valid until
   * the next await; hot paths pair it with `readyEncryptionKey`.
   */
  async encryptionKey(nameOrId: string | number, options: EncryptionKeyOptions = {}): Promise<DataKey> {
    this.#requireUnsealed();
    const headroom = options.headroom ?? 1;
    const generation = this.#generation;
    let record = this.#record(nameOrId);
    if (record.purpose !== 'data' && record.purpose !== 'transit')
      throw new FortressError('FX_KEY_STATE', `${record.name} is a ${record.purpose} key, not a data key`);
    const limit = getAead(record.algorithm).maxEncryptionsPerKey;
    if (options.version !== undefined && options.version !== record.activeVersion) {
      const older = await this.#usableVersion(record, options.version, generation);
      await this.#leaseUsage(record, older, generation, headroom);
      this.#stillUnsealed(generation);
      return older;
    }
    let key = await this.#versionKey(record, record.activeVersion, generation);
    if (options.rotate === false) {
      await this.#leaseUsage(record, key, generation, headroom);
      this.#stillUnsealed(generation);
      return key;
    }
    if (
      this.#rotationDue(record) ||
      key.remainingEncryptions < Math.min(FORCED_ROTATION_MARGIN, limit / 16)
    ) {
      await this.#rotateIf(record.id, record.activeVersion);
      record = this.#record(record.id);
      key = await this.#versionKey(record, record.activeVersion, generation);
    }
    await this.#leaseUsage(record, key, generation, headroom);
    // A rotation may have completed while this call awaited: never encrypt under a version that is
    // no longer the active one.
    for (let attempt = 0; this.#record(record.id).activeVersion !== key.version; attempt++) {
      if (attempt === 3)
        throw new FortressError('FX_KEY_STATE', `key ${record.name} is rotating too fast to encrypt under`);
      record = this.#record(record.id);
      key = await this.#versionKey(record, record.activeVersion, generation);
      await this.#leaseUsage(record, key, generation, headroom);
    }
    this.#stillUnsealed(generation);
    return key;
  }

  #rotationDue(record: KeyRecord): boolean {
    return (
      record.rotationPeriodMs !== null &&
      Date.parse(record.rotatedAt) + record.rotationPeriodMs <= this.#now().getTime()
    );
  }

  /**
   * The synchronous fast path of `encryptionKey`: the cached active version of data key `keyId`
   * when it needs nothing asynchronous first (not sealed, not due for rotation, near no usage
   * limit, usage leased), otherwise undefined — then `await encryptionKey(keyId)` once.
   */
  readyEncryptionKey(keyId: number, headroom = 1): DataKey | undefined {
    if (this.#state !== 'unsealed')
      throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
    const record = this.#keysById.get(keyId);
    if (record === undefined || (record.purpose !== 'data' && record.purpose !== 'transit')) return undefined;
    const cacheKey = `${keyId}:${record.activeVersion}`;
    const key = this.#cache.get(cacheKey);
    if (key === undefined || key.disposed || this.#rotationDue(record)) return undefined;
    const limit = getAead(record.algorithm).maxEncryptionsPerKey;
    if (Number.isFinite(limit)) {
      if (key.remainingEncryptions < Math.min(FORCED_ROTATION_MARGIN, limit / 16)) return undefined;
      const lease = this.#leases.get(cacheKey);
      if (lease === undefined || key.encryptions + headroom > lease.leasedUpTo) return undefined;
    }
    return key;
  }

  /**
   * One version (default: the active one) of an index key, for blind indexes. Index keys are never
   * used to encrypt, so they have no usage counter. The key is valid until the next seal.
   */
  async indexKey(nameOrId: string | number, version?: number): Promise<DataKey> {
    this.#requireUnsealed();
    const generation = this.#generation;
    const record = this.#record(nameOrId);
    if (record.purpose !== 'index')
      throw new FortressError('FX_KEY_STATE', `${record.name} is a ${record.purpose} key, not an index key`);
    const wanted = version ?? record.activeVersion;
    if (version !== undefined) assertInteger(version, 'version', 1, record.latestVersion);
    if (wanted < record.minDecryptionVersion) {
      throw new FortressError(
        'FX_KEY_VERSION_RETIRED',
        `key ${record.name} version ${wanted} is below the minimum decryption version ${record.minDecryptionVersion}`,
      );
    }
    return this.#versionKey(record, wanted, generation);
  }

  /**
   * One version (default: the active one) of a `transit` or `signing` key, for uses other than
   * sealing an envelope with the active version: deriving per-context keys, HMAC, signing with a
   * chosen version, verifying, exporting. Refused below the minimum decryption version and after
   * destruction. The key is valid until the next await (a seal zeroes it).
   */
  async keyVersion(nameOrId: string | number, version?: number): Promise<DataKey> {
    this.#requireUnsealed();
    const generation = this.#generation;
    const record = this.#record(nameOrId);
    if (record.purpose !== 'transit' && record.purpose !== 'signing') {
      throw new FortressError(
        'FX_KEY_STATE',
        `${record.name} is a ${record.purpose} key, not a transit or signing key`,
      );
    }
    return this.#usableVersion(record, version ?? record.activeVersion, generation);
  }

  async #usableVersion(record: KeyRecord, version: number, generation: number): Promise<DataKey> {
    if (!Number.isSafeInteger(version) || version < 1 || version > record.latestVersion) {
      throw new FortressError('FX_KEY_NOT_FOUND', `key ${record.name} has no version ${String(version)}`);
    }
    if (version < record.minDecryptionVersion) {
      throw new FortressError(
        'FX_KEY_VERSION_RETIRED',
        `key ${record.name} version ${version} is below the minimum decryption version ${record.minDecryptionVersion}`,
      );
    }
    return this.#versionKey(record, version, generation);
  }

  async #leaseUsage(record: KeyRecord, key: DataKey, generation: number, headroom = 1): Promise<void> {
    if (!Number.isFinite(getAead(record.algorithm).maxEncryptionsPerKey)) return;
    const cacheKey = `${record.id}:${key.version}`;
    const lease = this.#leases.get(cacheKey);
    if (lease !== undefined && key.encryptions + headroom <= lease.leasedUpTo) return;
    const take = async (): Promise<void> => {
      const stored = await this.#store.getVersion(record.id, key.version);
      this.#stillUnsealed(generation);
      if (stored === undefined)
        throw new FortressError('FX_KEY_NOT_FOUND', `key ${record.name} has no version ${key.version}`);
      const mine = this.#leases.get(cacheKey)?.leasedUpTo;
      if (this.#shared !== null && stored.encryptions > key.encryptions && stored.encryptions !== mine) {
        // Other processes leased up to there: their encryptions count against this version here too.
        reserveEncryptions(key, stored.encryptions - key.encryptions);
      }
      const leasedUpTo = Math.max(stored.encryptions, key.encryptions) + Math.max(USAGE_LEASE, headroom);
      await this.#store.putVersion({ ...stored, encryptions: leasedUpTo });
      this.#leases.set(cacheKey, { leasedUpTo });
    };
    await (this.#shared === null || this.#holdingShared > 0 ? take() : this.#shared(take));
  }

  async #persistUsage(keyId: number, version: number): Promise<void> {
    const key = this.#cache.get(`${keyId}:${version}`);
    if (key === undefined || key.disposed) return;
    const stored = await this.#store.getVersion(keyId, version);
    if (stored !== undefined && stored.wrapped !== null && key.encryptions > stored.encryptions) {
      await this.#store.putVersion({ ...stored, encryptions: key.encryptions });
    }
  }

  /** Decrypts an envelope with whichever version of whichever key its header names. */
  async decrypt(envelope: Uint8Array, context?: EncryptionContext): Promise<Buffer> {
    this.#requireUnsealed();
    const generation = this.#generation;
    const key = await this.keyForEnvelope(envelope);
    this.#stillUnsealed(generation);
    // Only data and transit keys decrypt values; a header naming a KEK or an index key is refused.
    const record = this.#record(key.id);
    if (record.purpose !== 'data' && record.purpose !== 'transit') {
      throw new FortressError(
        'FX_KEY_STATE',
        `${record.name} is a ${record.purpose} key and decrypts no values`,
      );
    }
    return decrypt(key, envelope, context);
  }

  /**
   * The key version an envelope was sealed with, unwrapped and checked against the key's state:
   * `FX_KEY_VERSION_RETIRED` below the minimum decryption version, `FX_KEY_VERSION_DESTROYED`
   * after shredding. The returned key is only valid until the next await (a seal may zero it).
   */
  async keyForEnvelope(envelope: Uint8Array): Promise<DataKey> {
    this.#requireUnsealed();
    const generation = this.#generation;
    const header = readEnvelopeHeader(envelope);
    if (header.keyId === ROOT_KEY_ID)
      throw new FortressError('FX_KEY_STATE', 'envelopes under the root key are not decrypted here');
    const record = this.#record(header.keyId);
    if (header.keyVersion < record.minDecryptionVersion) {
      throw new FortressError(
        'FX_KEY_VERSION_RETIRED',
        `key ${record.name} version ${header.keyVersion} is below the minimum decryption version ${record.minDecryptionVersion}`,
      );
    }
    if (header.keyVersion > record.latestVersion || header.keyVersion < 1) {
      throw new FortressError('FX_KEY_NOT_FOUND', `key ${record.name} has no version ${header.keyVersion}`);
    }
    if (header.algorithm !== record.algorithm) {
      throw new CryptoError(
        'FX_CRYPTO_KEY_MISMATCH',
        `the envelope uses ${header.algorithm}; key ${record.name} is ${record.algorithm}`,
      );
    }
    return this.#versionKey(record, header.keyVersion, generation);
  }

  /**
   * A synchronous `KeyResolver` over the cache of unwrapped keys, for hot paths that decrypt
   * inside synchronous code: it returns the cached version an envelope names, or undefined on a
   * miss (then `await keyForEnvelope(envelope)` once, which fills the cache). It enforces the same
   * rules as `keyForEnvelope`: `FX_SEALED`, `FX_KEY_VERSION_RETIRED`.
   *
   * @example
   * ```ts
   * const resolve = keys.resolver();
   * const plain = decrypt((id, v, alg) => resolve(id, v, alg) ?? missing(id, v), envelope, context);
   * ```
   */
  resolver(): KeyResolver {
    // The last key handed out per key id: a hit skips the cache's string key and LRU bookkeeping
    // (the read hot path resolves one key per value). Sealing, destroying and evicting dispose the
    // key, so a disposed memo is simply a miss; the record checks below still run on every call.
    const memo = new Map<number, DataKey>();
    return (keyId: number, version: number): DataKey | undefined => {
      if (this.#state !== 'unsealed')
        throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
      const record = this.#keysById.get(keyId);
      if (record === undefined) return undefined;
      if (record.purpose !== 'data' && record.purpose !== 'transit') {
        throw new FortressError(
          'FX_KEY_STATE',
          `${record.name} is a ${record.purpose} key and decrypts no values`,
        );
      }
      if (version < record.minDecryptionVersion) {
        throw new FortressError(
          'FX_KEY_VERSION_RETIRED',
          `key ${record.name} version ${version} is below the minimum decryption version ${record.minDecryptionVersion}`,
        );
      }
      const last = memo.get(keyId);
      if (last?.version === version && !last.disposed) return last;
      const cacheKey = `${keyId}:${version}`;
      const key = this.#cache.get(cacheKey);
      if (key === undefined || key.disposed) return undefined;
      // Keep the LRU order honest: a hit moves the key to the young end.
      this.#cache.delete(cacheKey);
      this.#cache.set(cacheKey, key);
      memo.set(keyId, key);
      return key;
    };
  }

  /** The state of one version, for reports. */
  async versionState(nameOrId: string | number, version: number): Promise<KeyVersionState> {
    this.#requireUnsealed();
    const record = this.#record(nameOrId);
    const stored = await this.#store.getVersion(record.id, version);
    if (stored === undefined) throw new FortressError('FX_KEY_NOT_FOUND', `no version ${version}`);
    return effectiveState(record, stored);
  }

  /** Persists usage counters of cached versions (also done at rotation). */
  async flushUsage(): Promise<void> {
    this.#requireUnsealed();
    for (const cacheKey of [...this.#cache.keys()]) {
      const [id, version] = cacheKey.split(':').map(Number) as [number, number];
      await this.#persistUsage(id, version);
    }
  }

  // ── key backups ───────────────────────────────────────────────────────────────────────────────

  /** The Ed25519 and ML-DSA-65 signers of this Fortress's key backups (created on first use). */
  async #backupSigners(): Promise<{ ed25519: Signer; mlDsa65: Signer }> {
    for (const [name, purpose, parent] of [
      [SYSTEM_KEK, 'kek', undefined],
      [SIGNING_ED25519, 'signing', SYSTEM_KEK],
      [SIGNING_MLDSA, 'signing', SYSTEM_KEK],
    ] as const) {
      if (!this.#keysByName.has(name)) {
        await this.createKey({ name, purpose, ...(parent === undefined ? {} : { parent }) });
      }
    }
    const generation = this.#generation;
    const seed = async (name: string): Promise<SecretKey> => {
      const key = await this.#activeKey(this.#record(name).id, generation);
      return SecretKey.fromBytes(dataKeyMaterial(key));
    };
    return {
      ed25519: createSigner('ed25519', await seed(SIGNING_ED25519)),
      mlDsa65: createSigner('ml-dsa-65', await seed(SIGNING_MLDSA), keyBackupSignerOptions()),
    };
  }

  /**
   * A signer from a `signing`-purpose key's active version (its 32-byte seed): Ed25519, or ML-DSA-65
   * with `options`. The caller owns the signer and disposes it (the seed copy is in guarded memory).
   *
   * @example
   * ```ts
   * await keys.createKey({ name: 'audit/ed25519', purpose: 'signing', parent: 'kek/audit' });
   * using signer = await keys.signer('audit/ed25519');
   * ```
   */
  async signer(
    nameOrId: string | number,
    algorithm: SignatureAlgorithm = 'ed25519',
    options: SignatureOptions = {},
  ): Promise<Signer> {
    this.#requireUnsealed();
    const record = this.#record(nameOrId);
    if (record.purpose !== 'signing')
      throw new FortressError('FX_KEY_STATE', `${record.name} is a ${record.purpose} key, not a signing key`);
    const key = await this.#activeKey(record.id, this.#generation);
    return createSigner(algorithm, SecretKey.fromBytes(dataKeyMaterial(key)), options);
  }

  /**
   * The public keys that sign this Fortress's key backups. Record them somewhere safe: whoever
   * restores a backup must be told which signers to trust.
   */
  async backupSigningKeys(): Promise<{ ed25519: Uint8Array; mlDsa65: Uint8Array }> {
    this.#requireUnsealed();
    const signers = await this.#backupSigners();
    try {
      return { ed25519: signers.ed25519.publicKey, mlDsa65: signers.mlDsa65.publicKey };
    } finally {
      signers.ed25519.dispose();
      signers.mlDsa65.dispose();
    }
  }

  /**
   * A disaster-recovery backup of the whole keyring: every key and every version that is not
   * destroyed, unwrapped and re-encrypted to `recipient`'s hybrid X25519 + ML-KEM-768 public key,
   * signed with Ed25519 and ML-DSA-65 (see docs/formats.md § Key backup).
   */
  async exportKeys(options: { recipient: Uint8Array; label?: string }): Promise<{
    backup: Uint8Array;
    signers: { ed25519: Uint8Array; mlDsa65: Uint8Array };
    keys: number;
    versions: number;
  }> {
    assertOptions(options, 'options');
    this.#requireUnsealed();
    const signers = await this.#backupSigners();
    const generation = this.#generation;
    const entries: BackupVersionEntry[] = [];
    const chunks: Uint8Array[] = [];
    let offset = 0;
    try {
      const records = [...this.#keysById.values()].sort((a, b) => a.id - b.id);
      for (const record of records) {
        for (const version of await this.#store.listVersions(record.id)) {
          this.#stillUnsealed(generation);
          const destroyed: BackupVersionEntry = {
            keyId: record.id,
            version: version.version,
            state: 'destroyed',
            createdAt: version.createdAt,
            encryptions: version.encryptions,
            offset: 0,
            length: 0,
          };
          if (version.state === 'destroyed' || version.wrapped === null) {
            entries.push(destroyed);
            continue;
          }
          let key: DataKey;
          try {
            key = await this.#versionKey(record, version.version, generation);
          } catch (error) {
            // A version whose parent key was shredded is itself unreadable: back it up as destroyed.
            if (!(error instanceof FortressError && error.code === 'FX_KEY_VERSION_DESTROYED')) throw error;
            entries.push(destroyed);
            continue;
          }
          const bytes = new Uint8Array(dataKeyMaterial(key));
          chunks.push(bytes);
          entries.push({
            keyId: record.id,
            version: version.version,
            state: version.state,
            createdAt: version.createdAt,
            encryptions: Math.max(version.encryptions, key.encryptions),
            offset,
            length: bytes.length,
          });
          offset += bytes.length;
        }
      }
      // Tags are this keyring's (its root key's): a restore tags the records under its own.
      const header = utf8Encoder.encode(
        JSON.stringify({ format: 1, keys: records.map(withoutTag), versions: entries }),
      );
      const payload = new Uint8Array(4 + header.length + offset);
      new DataView(payload.buffer).setUint32(0, header.length);
      payload.set(header, 4);
      let at = 4 + header.length;
      for (const chunk of chunks) {
        payload.set(chunk, at);
        at += chunk.length;
      }
      try {
        const backup = sealBackup({
          payload,
          recipient: options.recipient,
          signers,
          ...(options.label === undefined ? {} : { label: options.label }),
        });
        return {
          backup,
          signers: { ed25519: signers.ed25519.publicKey, mlDsa65: signers.mlDsa65.publicKey },
          keys: records.length,
          versions: entries.length,
        };
      } finally {
        wipe(payload);
      }
    } finally {
      for (const chunk of chunks) wipe(chunk);
      signers.ed25519.dispose();
      signers.mlDsa65.dispose();
    }
  }

  /**
   * Restores a key backup into this Fortress, which must be initialised and hold no keys yet (a
   * fresh data directory). Verifies both signatures against `trusted` before reading anything;
   * every version is re-wrapped under this Fortress's own root key.
   */
  async importKeys(
    backup: Uint8Array,
    options: { recipientSecretKey: SecretKey; trusted: { ed25519: Uint8Array; mlDsa65: Uint8Array } },
  ): Promise<{ keys: number; versions: number; label: string; createdAt: string }> {
    assertOptions(options, 'options');
    return this.#mutating(async () => {
      this.#requireUnsealed();
      const generation = this.#generation;
      if (this.#keysById.size > 0) {
        throw new FortressError(
          'FX_KEY_STATE',
          'keys can only be imported into a Fortress that has none yet (a fresh data directory)',
        );
      }
      const opened = openBackup(backup, options);
      const payload = opened.payload;
      try {
        const { keys, versions } = parseBackupPayload(payload);
        for (const record of keys) {
          const own = versions.filter((v) => v.keyId === record.id).sort((a, b) => a.version - b.version);
          for (const entry of own) {
            if (entry.state === 'destroyed') {
              await this.#store.putVersion({
                keyId: record.id,
                version: entry.version,
                state: 'destroyed',
                createdAt: entry.createdAt,
                encryptions: entry.encryptions,
                wrapped: null,
              });
              continue;
            }
            const parent =
              record.parentId === null
                ? this.#rootVersion(this.#seal!.rootVersion)
                : await this.#activeKey(record.parentId, generation);
            const bytes = payload.subarray(entry.offset, entry.offset + entry.length);
            const wrapped = encrypt(parent, bytes, wrapContext(record.id, entry.version));
            await this.#store.putVersion({
              keyId: record.id,
              version: entry.version,
              state: entry.state,
              createdAt: entry.createdAt,
              encryptions: entry.encryptions,
              wrapped,
            });
          }
          await this.#saveKey(record, generation);
        }
        return {
          keys: keys.length,
          versions: versions.length,
          label: opened.label,
          createdAt: opened.createdAt,
        };
      } finally {
        wipe(payload);
      }
    });
  }

  /** Number of unwrapped versions in guarded memory (for status and tests). */
  get cachedKeyCount(): number {
    return this.#cache.size;
  }
}

function encodeSeal(seal: StoredSeal): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(seal));
}

function parseSeal(bytes: Uint8Array): StoredSeal {
  let value: unknown;
  try {
    value = JSON.parse(utf8Decoder.decode(bytes));
  } catch (cause) {
    throw new FortressError('FX_KEYSTORE_CORRUPT', 'the stored seal configuration is not valid JSON', {
      cause,
    });
  }
  const seal = value as Partial<StoredSeal> | null;
  if (
    typeof seal !== 'object' ||
    seal === null ||
    typeof seal.config !== 'object' ||
    (seal.config as unknown) === null ||
    typeof seal.config.kind !== 'string' ||
    typeof seal.config.wrappedRoot !== 'string' ||
    typeof seal.rootVersion !== 'number' ||
    !Number.isInteger(seal.rootVersion) ||
    seal.rootVersion < 1 ||
    !Array.isArray(seal.previousRoots)
  ) {
    throw new FortressError('FX_KEYSTORE_CORRUPT', 'the stored seal configuration is malformed');
  }
  return seal as StoredSeal;
}
