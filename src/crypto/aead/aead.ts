/**
 * @module crypto/aead/aead
 * One interface over every authenticated cipher Fortress uses. Implementations are thin adapters
 * over vetted libraries (libsodium, OpenSSL via node:crypto); none implements a primitive itself.
 */

/** Names of the AEADs Fortress provides. */
export type AeadName = 'xchacha20-poly1305' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aegis-256';

/** The raw cipher contract. Every method is synchronous and writes into caller-provided memory. */
export interface Aead {
  /** Stable name, used in configuration and key metadata. */
  readonly name: AeadName;
  /** Stable one-byte id written into envelopes (docs/formats.md). Never reused for another cipher. */
  readonly id: number;
  readonly keyLength: number;
  readonly nonceLength: number;
  readonly tagLength: number;
  /**
   * How many encryptions one key version may perform with random nonces before the collision
   * probability passes 2^-32 (NIST SP 800-38D §8.3 for 96-bit nonces). `Infinity` when the nonce is
   * wide enough (192/256 bits) that no realistic count matters.
   */
  readonly maxEncryptionsPerKey: number;
  /** Where the implementation comes from, for `fortress selftest` and the docs. */
  readonly provider: string;
  /**
   * Encrypts `plaintext` into `out`, which must be exactly `plaintext.length + tagLength` bytes:
   * ciphertext followed by the tag.
   */
  encryptInto(
    out: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): void;
  /**
   * Decrypts `sealed` (ciphertext‖tag) into `out` (`sealed.length - tagLength` bytes). Returns false
   * when the tag does not verify; `out` then holds zeros, never unauthenticated plaintext.
   */
  decryptInto(
    out: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
    nonce: Uint8Array,
    key: Uint8Array,
  ): boolean;
}
