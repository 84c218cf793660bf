/**
 * The narrow slice of sodium-native (libsodium bindings) that Fortress calls. Declared here rather
 * than taken from a third-party types package so that the surface we depend on is explicit.
 */
declare module 'sodium-native' {
  interface SodiumNative {
    sodium_malloc(size: number): Buffer & { secure?: boolean };
    sodium_memzero(buffer: Uint8Array): void;
    sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean;
    randombytes_buf(buffer: Uint8Array): void;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
      ciphertext: Uint8Array,
      message: Uint8Array,
      additionalData: Uint8Array | null,
      secretNonce: null,
      publicNonce: Uint8Array,
      key: Uint8Array,
    ): number;
    crypto_aead_xchacha20poly1305_ietf_decrypt(
      message: Uint8Array,
      secretNonce: null,
      ciphertext: Uint8Array,
      additionalData: Uint8Array | null,
      publicNonce: Uint8Array,
      key: Uint8Array,
    ): number;
    crypto_aead_xchacha20poly1305_ietf_KEYBYTES: number;
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES: number;
    crypto_aead_xchacha20poly1305_ietf_ABYTES: number;
    crypto_hash_sha256(out: Uint8Array, message: Uint8Array): void;
    crypto_hash_sha256_init(state: Uint8Array): void;
    crypto_hash_sha256_update(state: Uint8Array, message: Uint8Array): void;
    crypto_hash_sha256_final(state: Uint8Array, out: Uint8Array): void;
    crypto_hash_sha256_STATEBYTES: number;
  }
  const sodium: SodiumNative;
  export default sodium;
}
