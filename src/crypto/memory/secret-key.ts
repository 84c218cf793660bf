/**
 * @module crypto/memory/secret-key
 * Key bytes in guarded memory. A `SecretKey` keeps its bytes in libsodium's `sodium_malloc`
 * region: locked with mlock (never swapped, where RLIMIT_MEMLOCK allows), fenced by guard pages,
 * and zeroed by `dispose()`. No method hands out the bytes; other crypto modules reach them through
 * `keyMaterial()`, which the package does not export. `exportRaw()` is the one deliberate copy.
 */
import sodium from 'sodium-native';
import { CryptoError, InvalidArgumentError } from '../../util/errors.js';
import { assertBytes, assertInteger, assertOptions, isBytes } from '../../util/bytes.js';

/** Largest key Fortress keeps in guarded memory (ML-DSA-65's expanded secret key is 4,032 bytes). */
export const MAX_SECRET_KEY_BYTES = 8192;

let readMaterial: (key: SecretKey) => Buffer;

/**
 * Secret bytes in locked, zero-on-dispose memory.
 *
 * @example
 * ```ts
 * using key = SecretKey.generate(32); // zeroed when the block ends
 * const same = key.equals(other);     // constant time
 * ```
 */
export class SecretKey implements Disposable {
  #bytes: Buffer | null;
  /** Length of the key in bytes. */
  readonly length: number;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
    this.length = bytes.length;
  }

  static {
    readMaterial = (key: SecretKey): Buffer => {
      const bytes = key.#bytes;
      if (bytes === null)
        throw new CryptoError('FX_CRYPTO_KEY_DISPOSED', 'the key was disposed and its bytes zeroed');
      return bytes;
    };
  }

  /** A fresh random key of `length` bytes (default 32) from libsodium's CSPRNG. */
  static generate(length = 32): SecretKey {
    assertInteger(length, 'length', 1, MAX_SECRET_KEY_BYTES);
    const bytes = sodium.sodium_malloc(length);
    sodium.randombytes_buf(bytes);
    return new SecretKey(bytes);
  }

  /**
   * Copies `bytes` into guarded memory. With `wipeSource: true` the source is zeroed afterwards,
   * so the only copy left is the guarded one.
   */
  static fromBytes(bytes: Uint8Array, options: { wipeSource?: boolean } = {}): SecretKey {
    assertBytes(bytes, 'bytes', { min: 1, max: MAX_SECRET_KEY_BYTES });
    assertOptions(options, 'options');
    const guarded = sodium.sodium_malloc(bytes.length);
    guarded.set(bytes);
    if (options.wipeSource === true) sodium.sodium_memzero(bytes);
    return new SecretKey(guarded);
  }

  /** Allocates zeroed guarded memory and lets `fill` write into it (used to decrypt or derive straight into it). */
  static fill(length: number, fill: (target: Buffer) => void): SecretKey {
    assertInteger(length, 'length', 1, MAX_SECRET_KEY_BYTES);
    const guarded = sodium.sodium_malloc(length);
    guarded.fill(0);
    try {
      fill(guarded);
    } catch (error) {
      sodium.sodium_memzero(guarded);
      throw error;
    }
    return new SecretKey(guarded);
  }

  /** True once `dispose()` has zeroed the key. */
  get disposed(): boolean {
    return this.#bytes === null;
  }

  /** Constant-time equality with another key (lengths are not secret). */
  equals(other: SecretKey): boolean {
    if (!(other instanceof SecretKey)) throw new InvalidArgumentError('other', 'expected a SecretKey');
    const a = readMaterial(this);
    const b = readMaterial(other);
    return a.length === b.length && sodium.sodium_memcmp(a, b);
  }

  /**
   * The deliberate export path: a plain copy of the key bytes, outside guarded memory. Used only
   * to wrap, split or back up a key. The caller must zero the copy (`wipe()`) when done.
   */
  exportRaw(): Uint8Array {
    return new Uint8Array(readMaterial(this));
  }

  /** Zeroes the key bytes. Idempotent. Any later use throws `FX_CRYPTO_KEY_DISPOSED`. */
  dispose(): void {
    const bytes = this.#bytes;
    if (bytes === null) return;
    sodium.sodium_memzero(bytes);
    this.#bytes = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Keys never serialise: logging one prints a placeholder. */
  toJSON(): string {
    return '[SecretKey]';
  }

  toString(): string {
    return '[SecretKey]';
  }
}

/**
 * The guarded bytes of `key`, for other crypto modules only (not exported by the package).
 * Throws `FX_CRYPTO_KEY_DISPOSED` after dispose.
 */
export function keyMaterial(key: SecretKey): Buffer {
  return readMaterial(key);
}

/** Asserts `value` is a live SecretKey of `length` bytes. */
export function assertSecretKey(
  value: unknown,
  argument: string,
  length?: number,
): asserts value is SecretKey {
  if (!(value instanceof SecretKey)) {
    throw new InvalidArgumentError(
      argument,
      isBytes(value)
        ? 'expected a SecretKey, got raw bytes (use SecretKey.fromBytes)'
        : 'expected a SecretKey',
    );
  }
  if (value.disposed) throw new CryptoError('FX_CRYPTO_KEY_DISPOSED', `${argument}: the key was disposed`);
  if (length !== undefined && value.length !== length) {
    throw new InvalidArgumentError(argument, `expected a ${length}-byte key, got ${value.length} bytes`);
  }
}

/** Zeroes `bytes` in place (for temporaries that held key material or plaintext). */
export function wipe(bytes: Uint8Array): void {
  sodium.sodium_memzero(bytes);
}
