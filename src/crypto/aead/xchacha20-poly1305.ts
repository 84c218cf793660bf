/**
 * @module crypto/aead/xchacha20-poly1305
 * XChaCha20-Poly1305 (IETF variant, 192-bit nonce) from libsodium via sodium-native: the default,
 * because random 192-bit nonces never collide in practice and libsodium writes straight into our
 * buffers with no per-call allocation.
 */
import sodium from 'sodium-native';
import type { Aead } from './aead.js';

export const xchacha20Poly1305: Aead = Object.freeze({
  name: 'xchacha20-poly1305',
  id: 1,
  keyLength: 32,
  nonceLength: 24,
  tagLength: 16,
  maxEncryptionsPerKey: Infinity,
  provider: 'libsodium (sodium-native)',
  encryptInto(
    out: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): void {
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, key);
  },
  decryptInto(
    out: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): boolean {
    try {
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, sealed, aad, nonce, key);
      return true;
    } catch {
      // libsodium verifies the tag before writing any plaintext; zero anyway so callers never see partial output.
      out.fill(0);
      return false;
    }
  },
} satisfies Aead);
