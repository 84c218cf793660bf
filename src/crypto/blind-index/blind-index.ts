/**
 * @module crypto/blind-index/blind-index
 * Blind indexes for equality search on encrypted values: HMAC-SHA256 under a per-column index key
 * (never the encryption key) over the normalised value, truncated to `bits` bits. Truncation turns
 * the index into a filter with false positives — which is what limits what the index leaks — so
 * callers must decrypt candidates and compare to get exact results.
 */
import { assertInteger, assertOptions, describe, isBytes, utf8Encoder } from '../../util/bytes.js';
import { InvalidArgumentError } from '../../util/errors.js';
import { DataKey, dataKeyMaterial } from '../envelope/data-key.js';
import { HmacSha256Key } from '../mac/hmac-sha256-key.js';
import { assertSecretKey, keyMaterial, type SecretKey } from '../memory/secret-key.js';
import { composeNormalizers, type NormalizerName } from './normalizers.js';

export interface BlindIndexOptions {
  /** Output size in bits, 1 to 256. Use `planBlindIndexBits` to choose it. */
  readonly bits: number;
  /** Applied to string values before hashing, in order. @default ['exact'] */
  readonly normalizers?: readonly NormalizerName[];
}

/**
 * One blind index (one column, one index key).
 *
 * @example
 * ```ts
 * const index = new BlindIndex(indexKey, { bits: 16, normalizers: ['nfc', 'trim', 'casefold'] });
 * index.compute('Ann@Example.com ').equals(index.compute('ann@example.com')); // true
 * ```
 */
export class BlindIndex implements Disposable {
  readonly bits: number;
  readonly normalizers: readonly NormalizerName[];
  /** Bytes of each index value: ceil(bits / 8). */
  readonly byteLength: number;
  readonly #normalize: (value: string) => string;
  readonly #mask: number;
  // The HMAC key with its pad blocks absorbed once (guarded memory, zeroed by dispose()): the key
  // is not re-imported on every call. See docs/security.md § Key memory.
  readonly #hmac: HmacSha256Key;
  /** Scratch for the full tag (an index value is a prefix of it; not secret once computed). */
  readonly #tag = Buffer.alloc(32);

  /** `key` is the column's index key: raw guarded bytes, or an index key version from the keyring. */
  constructor(key: SecretKey | DataKey, options: BlindIndexOptions) {
    let material: Buffer;
    if (key instanceof DataKey) {
      material = dataKeyMaterial(key);
    } else {
      assertSecretKey(key, 'key');
      material = keyMaterial(key);
    }
    if (material.length < 32) throw new InvalidArgumentError('key', 'an index key must be at least 32 bytes');
    assertOptions(options, 'options');
    assertInteger(options.bits, 'bits', 1, 256);
    const normalizers: unknown = options.normalizers ?? ['exact'];
    if (!Array.isArray(normalizers)) {
      throw new InvalidArgumentError(
        'normalizers',
        `expected an array of normaliser names, got ${describe(normalizers)}`,
      );
    }
    this.bits = options.bits;
    this.normalizers = Object.freeze([...(normalizers as NormalizerName[])]);
    this.#normalize = composeNormalizers(this.normalizers);
    this.byteLength = Math.ceil(this.bits / 8);
    const spare = this.byteLength * 8 - this.bits;
    this.#mask = (0xff << spare) & 0xff;
    this.#hmac = new HmacSha256Key(material);
  }

  /** The normalised form of `value` (what is actually hashed). */
  normalize(value: string): string {
    return this.#normalize(value);
  }

  /** The full HMAC of `value`, in the scratch tag (valid until the next call). */
  #mac(value: string | Uint8Array): Buffer {
    let bytes: Uint8Array;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) throw new InvalidArgumentError('value', 'contains a lone UTF-16 surrogate');
      bytes = utf8Encoder.encode(this.#normalize(value));
    } else if (isBytes(value)) {
      bytes = value;
    } else {
      throw new InvalidArgumentError('value', `expected a string or bytes, got ${describe(value)}`);
    }
    this.#hmac.macInto(bytes, this.#tag);
    return this.#tag;
  }

  /** The index value: `byteLength` bytes, with the bits past `bits` set to zero. */
  compute(value: string | Uint8Array): Buffer {
    const out = Buffer.from(this.#mac(value).subarray(0, this.byteLength));
    out[this.byteLength - 1]! &= this.#mask;
    return out;
  }

  /**
   * The index value as a non-negative integer (for `bits` ≤ 48), convenient for an INTEGER column.
   * It is the big-endian reading of the top `bits` bits of the HMAC.
   */
  computeInt(value: string | Uint8Array): number {
    if (this.bits > 48) throw new InvalidArgumentError('bits', 'computeInt needs bits ≤ 48; use compute()');
    const mac = this.#mac(value);
    let n = 0;
    for (let i = 0; i < 6; i++) n = n * 256 + mac[i]!;
    return Math.floor(n / 2 ** (48 - this.bits));
  }

  /** True once `dispose()` has zeroed the index key's state. */
  get disposed(): boolean {
    return this.#hmac.disposed;
  }

  /** Zeroes the index key's HMAC state (at seal). Idempotent; later use throws `FX_CRYPTO_KEY_DISPOSED`. */
  dispose(): void {
    this.#hmac.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
