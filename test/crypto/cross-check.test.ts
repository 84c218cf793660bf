/**
 * Cross-checks Fortress's raw AEADs (`aeadEncrypt`/`aeadDecrypt`) against independent
 * implementations on random keys, nonces, associated data (0–256 bytes) and messages
 * (0–64 KiB, biased toward small sizes, 64 KiB included):
 *
 * - AES-256-GCM, ChaCha20-Poly1305 and XChaCha20-Poly1305 against @noble/ciphers (pure JS, a code
 *   base unrelated to OpenSSL and libsodium);
 * - XChaCha20-Poly1305 and AEGIS-256 against libsodium-wrappers-sumo (libsodium compiled to
 *   WebAssembly). For XChaCha this is a different build of libsodium than Fortress's sodium-native.
 *   For AEGIS-256 it is a consistency check only: Fortress's aegis-256 itself calls
 *   libsodium-wrappers-sumo, so both sides run the same code; what is checked is Fortress's
 *   adapter (argument order, tag layout, output copying), not the cipher.
 *
 * Each side must produce the same ciphertext‖tag, decrypt the other's output, and reject a copy
 * with one flipped bit.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers-sumo';
import { beforeAll, describe, expect, it } from 'vitest';
import { aeadDecrypt, aeadEncrypt, getAead, SecretKey, type AeadName } from '../../src/crypto/index.js';
import { FortressError } from '../../src/util/errors.js';

const NUM_RUNS = 150;
const MAX_MESSAGE = 64 * 1024;

beforeAll(async () => {
  await sodium.ready;
});

/** Deterministic filler (xorshift32) so large messages cost one integer of generation, not 64 Ki. */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/**
 * Messages of 0–64 KiB: mostly small (byte-level shrinking), some medium, some large, and the
 * 64 KiB end itself. Large ones come from a seed so generation stays cheap.
 */
const message: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 65, maxLength: 1024 }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 1025, max: MAX_MESSAGE }), fc.integer())
      .map(([length, seed]) => pseudoRandomBytes(length, seed)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(MAX_MESSAGE - 1, MAX_MESSAGE), fc.integer())
      .map(([length, seed]) => pseudoRandomBytes(length, seed)),
  },
);

const aad: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 256 });
const key32: fc.Arbitrary<Uint8Array> = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonceOf = (length: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: length, maxLength: length });

interface Case {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
  readonly aad: Uint8Array;
  readonly message: Uint8Array;
  /** Which bit of the sealed output to flip for the negative check (taken modulo its bit length). */
  readonly flip: number;
}

const caseFor = (nonceLength: number): fc.Arbitrary<Case> =>
  fc.record({ key: key32, nonce: nonceOf(nonceLength), aad, message, flip: fc.nat() });

/** An independent implementation: encrypt returns ciphertext‖tag, decrypt throws on a bad tag. */
interface Reference {
  readonly label: string;
  encrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, message: Uint8Array): Uint8Array;
  decrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
}

const noble = (cipher: typeof gcm | typeof chacha20poly1305 | typeof xchacha20poly1305): Reference => ({
  label: '@noble/ciphers',
  encrypt: (key, nonce, ad, msg) => cipher(key, nonce, ad).encrypt(msg),
  decrypt: (key, nonce, ad, sealed) => cipher(key, nonce, ad).decrypt(sealed),
});

const sodiumXChaCha: Reference = {
  label: 'libsodium-wrappers-sumo',
  encrypt: (key, nonce, ad, msg) =>
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(msg, ad, null, nonce, key),
  decrypt: (key, nonce, ad, sealed) =>
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed, ad, nonce, key),
};

// Consistency check only: Fortress's AEGIS-256 adapter calls this very library.
const sodiumAegis: Reference = {
  label: 'libsodium-wrappers-sumo (same library as Fortress: consistency only)',
  encrypt: (key, nonce, ad, msg) => sodium.crypto_aead_aegis256_encrypt(msg, ad, null, nonce, key),
  decrypt: (key, nonce, ad, sealed) => sodium.crypto_aead_aegis256_decrypt(null, sealed, ad, nonce, key),
};

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function flipped(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  const i = bit % (copy.length * 8);
  copy[i >>> 3]! ^= 1 << (i & 7);
  return copy;
}

function checkAgainst(algorithm: AeadName, reference: Reference): void {
  const aead = getAead(algorithm);
  fc.assert(
    fc.property(caseFor(aead.nonceLength), (c) => {
      using key = SecretKey.fromBytes(c.key);
      const ours = aeadEncrypt(algorithm, key, c.nonce, c.message, c.aad);
      const theirs = reference.encrypt(c.key, c.nonce, c.aad, c.message);
      expect(ours.length).toBe(c.message.length + aead.tagLength);
      // Same bytes (compared as hex so a failure prints something readable and short to diff).
      if (hex(ours) !== hex(theirs)) {
        expect.fail(
          `${algorithm}: Fortress and ${reference.label} disagree for a ${c.message.length}-byte message`,
        );
      }
      // Each side opens the other's output.
      expect(hex(aeadDecrypt(algorithm, key, c.nonce, theirs, c.aad))).toBe(hex(c.message));
      expect(hex(reference.decrypt(c.key, c.nonce, c.aad, ours))).toBe(hex(c.message));
      // Both reject the same one-bit change.
      const bad = flipped(ours, c.flip);
      let error: unknown;
      try {
        aeadDecrypt(algorithm, key, c.nonce, bad, c.aad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(FortressError);
      expect((error as FortressError).code).toBe('FX_INTEGRITY');
      expect(() => reference.decrypt(c.key, c.nonce, c.aad, bad)).toThrow();
    }),
    { numRuns: NUM_RUNS },
  );
}

describe('raw AEADs agree with @noble/ciphers', () => {
  it('aes-256-gcm', () => {
    checkAgainst('aes-256-gcm', noble(gcm));
  });
  it('chacha20-poly1305', () => {
    checkAgainst('chacha20-poly1305', noble(chacha20poly1305));
  });
  it('xchacha20-poly1305', () => {
    checkAgainst('xchacha20-poly1305', noble(xchacha20poly1305));
  });
});

describe('raw AEADs agree with libsodium-wrappers-sumo (WebAssembly)', () => {
  it('xchacha20-poly1305 (native libsodium in Fortress vs the WASM build)', () => {
    checkAgainst('xchacha20-poly1305', sodiumXChaCha);
  });
  it('aegis-256 (consistency only: Fortress uses this same library)', () => {
    checkAgainst('aegis-256', sodiumAegis);
  });
});

describe('edge sizes', () => {
  // Deterministic spot checks of the boundaries the property only reaches by chance.
  const sizes = [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 4095, 4096, MAX_MESSAGE - 1, MAX_MESSAGE];
  it.each(['aes-256-gcm', 'chacha20-poly1305', 'xchacha20-poly1305'] as const)(
    '%s at block and size boundaries',
    (algorithm) => {
      const aead = getAead(algorithm);
      const ref = noble(
        algorithm === 'aes-256-gcm'
          ? gcm
          : algorithm === 'chacha20-poly1305'
            ? chacha20poly1305
            : xchacha20poly1305,
      );
      const keyBytes = pseudoRandomBytes(32, 1);
      using key = SecretKey.fromBytes(keyBytes);
      for (const size of sizes) {
        const nonce = pseudoRandomBytes(aead.nonceLength, size + 7);
        const ad = pseudoRandomBytes(size % 257, size + 11);
        const msg = pseudoRandomBytes(size, size + 13);
        expect(hex(aeadEncrypt(algorithm, key, nonce, msg, ad))).toBe(
          hex(ref.encrypt(keyBytes, nonce, ad, msg)),
        );
      }
    },
  );
  it('aegis-256 and xchacha20-poly1305 against libsodium at the same sizes', () => {
    const keyBytes = pseudoRandomBytes(32, 2);
    using key = SecretKey.fromBytes(keyBytes);
    for (const [algorithm, ref] of [
      ['aegis-256', sodiumAegis],
      ['xchacha20-poly1305', sodiumXChaCha],
    ] as const) {
      const aead = getAead(algorithm);
      for (const size of sizes) {
        const nonce = pseudoRandomBytes(aead.nonceLength, size + 17);
        const ad = pseudoRandomBytes(size % 257, size + 19);
        const msg = pseudoRandomBytes(size, size + 23);
        expect(hex(aeadEncrypt(algorithm, key, nonce, msg, ad))).toBe(
          hex(ref.encrypt(keyBytes, nonce, ad, msg)),
        );
      }
    }
  });
  it('the default associated data is empty', () => {
    const keyBytes = pseudoRandomBytes(32, 3);
    using key = SecretKey.fromBytes(keyBytes);
    const nonce = pseudoRandomBytes(12, 4);
    const msg = pseudoRandomBytes(100, 5);
    expect(hex(aeadEncrypt('aes-256-gcm', key, nonce, msg))).toBe(hex(gcm(keyBytes, nonce).encrypt(msg)));
    expect(hex(aeadDecrypt('aes-256-gcm', key, nonce, gcm(keyBytes, nonce).encrypt(msg)))).toBe(hex(msg));
  });
});
