/**
 * @module crypto/aead/aegis-256
 * AEGIS-256 (256-bit key, nonce and tag) from libsodium compiled to WebAssembly
 * (libsodium-wrappers-sumo). A native AES-NI build can replace it behind the same interface.
 * The WASM module loads once at import (top-level await).
 */
import sodium from 'libsodium-wrappers-sumo';
import type { Aead } from './aead.js';

await sodium.ready;

export const aegis256: Aead = Object.freeze({
  name: 'aegis-256',
  id: 4,
  keyLength: 32,
  nonceLength: 32,
  // libsodium's AEAD API fixes AEGIS-256's tag at 256 bits (the draft's stronger option).
  tagLength: 32,
  maxEncryptionsPerKey: Infinity,
  provider: 'libsodium (libsodium-wrappers-sumo, WebAssembly)',
  encryptInto(
    out: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): void {
    out.set(sodium.crypto_aead_aegis256_encrypt(plaintext, aad, null, nonce, key));
  },
  decryptInto(
    out: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): boolean {
    let plain: Uint8Array;
    try {
      plain = sodium.crypto_aead_aegis256_decrypt(null, sealed, aad, nonce, key);
    } catch {
      out.fill(0);
      return false;
    }
    out.set(plain);
    plain.fill(0);
    return true;
  },
} satisfies Aead);
