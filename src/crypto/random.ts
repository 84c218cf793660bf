/**
 * @module crypto/random
 * Randomness from libsodium's CSPRNG (getrandom(2) on Linux).
 */
import sodium from 'sodium-native';
import { assertInteger } from '../util/bytes.js';

/** `length` random bytes. */
export function randomBytes(length: number): Uint8Array {
  assertInteger(length, 'length', 0, 1 << 30);
  const out = new Uint8Array(length);
  sodium.randombytes_buf(out);
  return out;
}

/**
 * Hands out random nonces from a buffer refilled 4 KiB at a time: one CSPRNG call serves ~170
 * XChaCha nonces, which removes most of the per-encryption randomness cost. Nonces are public, so
 * the pool needs no guarded memory; each byte is handed out once and never reused.
 */
export class NoncePool {
  readonly #pool = Buffer.allocUnsafeSlow(4096);
  #offset = 4096;

  /** Writes `length` fresh random bytes into `target` at `offset`. */
  fill(target: Uint8Array, offset: number, length: number): void {
    if (this.#offset + length > this.#pool.length) {
      sodium.randombytes_buf(this.#pool);
      this.#offset = 0;
    }
    const start = this.#offset;
    for (let i = 0; i < length; i++) target[offset + i] = this.#pool[start + i]!;
    this.#offset = start + length;
  }
}

/** The process-wide nonce pool used by envelopes. */
export const nonces: NoncePool = new NoncePool();
