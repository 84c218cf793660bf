/**
 * @module crypto/envelope/data-key
 * A data key: one version of a key, with the algorithm it encrypts under and a usage counter.
 * The keys layer issues these; the envelope encrypts and decrypts with them.
 */
import { assertInteger, assertOptions } from '../../util/bytes.js';
import { CryptoError } from '../../util/errors.js';
import type { Aead, AeadName } from '../aead/aead.js';
import { DEFAULT_AEAD, getAead } from '../aead/registry.js';
import { assertSecretKey, keyMaterial, SecretKey } from '../memory/secret-key.js';
import { ENVELOPE_HEADER_LENGTH, writeHeader } from './envelope-format.js';

export interface DataKeyOptions {
  /** Key id (unsigned 32-bit), assigned by the keyring. */
  readonly id: number;
  /** Key version (unsigned 32-bit), starting at 1. */
  readonly version: number;
  /** @default 'xchacha20-poly1305' */
  readonly algorithm?: AeadName;
  /** The key bytes. The DataKey takes ownership: disposing the DataKey disposes it. */
  readonly key: SecretKey;
  /** Encryptions already performed under this version (persisted by the keys layer). @default 0 */
  readonly encryptions?: number;
}

// Accessors for the envelope code, set in DataKey's static block: module functions rather than
// public members, so the package never exposes key bytes and the hot path allocates nothing.
let aeadOf: (key: DataKey) => Aead;
let headerOf: (key: DataKey) => Uint8Array;
let materialOf: (key: DataKey) => Buffer;
let reserveFor: (key: DataKey, count: number) => void;

/**
 * One version of a data key.
 *
 * @example
 * ```ts
 * using key = DataKey.generate({ id: 7, version: 1 });
 * const envelope = encrypt(key, utf8('123-45-6789'), context);
 * if (key.remainingEncryptions < 1e6) scheduleRotation();
 * ```
 */
export class DataKey implements Disposable {
  readonly id: number;
  readonly version: number;
  readonly algorithm: AeadName;
  readonly #aead: Aead;
  readonly #secret: SecretKey;
  readonly #header: Uint8Array;
  #encryptions: number;

  constructor(options: DataKeyOptions) {
    assertOptions(options, 'options');
    assertInteger(options.id, 'id', 0, 0xffff_ffff);
    assertInteger(options.version, 'version', 0, 0xffff_ffff);
    const aead = getAead(options.algorithm ?? DEFAULT_AEAD);
    assertSecretKey(options.key, 'key', aead.keyLength);
    const encryptions = options.encryptions ?? 0;
    assertInteger(encryptions, 'encryptions', 0, Number.MAX_SAFE_INTEGER);
    this.id = options.id;
    this.version = options.version;
    this.algorithm = aead.name;
    this.#aead = aead;
    this.#secret = options.key;
    this.#encryptions = encryptions;
    this.#header = new Uint8Array(ENVELOPE_HEADER_LENGTH);
    writeHeader(this.#header, 0, aead, this.id, this.version);
  }

  static {
    aeadOf = (key) => key.#aead;
    headerOf = (key) => key.#header;
    materialOf = (key) => keyMaterial(key.#secret);
    reserveFor = (key, count) => {
      key.#reserve(count);
    };
  }

  /** A data key with fresh random bytes. */
  static generate(options: Omit<DataKeyOptions, 'key'>): DataKey {
    assertOptions(options, 'options');
    const aead = getAead(options.algorithm ?? DEFAULT_AEAD);
    return new DataKey({ ...options, key: SecretKey.generate(aead.keyLength) });
  }

  /** Encryptions performed under this version so far. */
  get encryptions(): number {
    return this.#encryptions;
  }

  /** How many more encryptions the algorithm's safety bound allows (`Infinity` for 192/256-bit nonces). */
  get remainingEncryptions(): number {
    return this.#aead.maxEncryptionsPerKey - this.#encryptions;
  }

  /** True once disposed. */
  get disposed(): boolean {
    return this.#secret.disposed;
  }

  #reserve(count: number): void {
    if (this.#encryptions + count > this.#aead.maxEncryptionsPerKey) {
      throw new CryptoError(
        'FX_CRYPTO_KEY_USAGE_EXCEEDED',
        `key ${this.id} version ${this.version} reached the ${this.algorithm} limit of ${this.#aead.maxEncryptionsPerKey} encryptions; rotate the key`,
      );
    }
    this.#encryptions += count;
  }

  /** Zeroes the key bytes. */
  dispose(): void {
    this.#secret.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toJSON(): object {
    return { id: this.id, version: this.version, algorithm: this.algorithm, encryptions: this.#encryptions };
  }
}

/** @internal The key's AEAD. */
export function dataKeyAead(key: DataKey): Aead {
  return aeadOf(key);
}

/** @internal The 10-byte envelope header for this key version. */
export function dataKeyHeader(key: DataKey): Uint8Array {
  return headerOf(key);
}

/** @internal The guarded key bytes; throws `FX_CRYPTO_KEY_DISPOSED` after dispose. */
export function dataKeyMaterial(key: DataKey): Buffer {
  return materialOf(key);
}

/** @internal Counts `count` encryptions against the usage limit, or throws `FX_CRYPTO_KEY_USAGE_EXCEEDED`. */
export function reserveEncryptions(key: DataKey, count: number): void {
  reserveFor(key, count);
}
