/**
 * Key derivation, blind indexes, signatures and guarded key memory.
 *
 * - HKDF: RFC 5869 known answer, agreement with @noble/hashes, and the `deriveSubkey` labelling
 *   (`fortress/v1/<purpose>` 0x00 `<context>`, empty salt) recomputed independently;
 * - passphrase KDFs: Argon2id and scrypt with small test parameters re-derive from stored PHC
 *   parameters, agree with @noble/hashes' argon2id and node:crypto's scryptSync, hash/verify, and
 *   refuse tampered PHC strings; one derivation with the RFC 9106 default parameters;
 * - blind indexes: normalisers, truncation, `computeInt`, bytes input, HMAC recomputed with
 *   @noble/hashes; the CipherSweet planning rule, checked with exact integer arithmetic;
 * - signatures: Ed25519 (RFC 8032 vector, @noble/curves cross-check) and ML-DSA-65 round trips,
 *   contexts, disposal;
 * - SecretKey and constantTimeEqual.
 *
 * Note: @noble/hashes and @noble/curves are installed as dependencies of @noble/post-quantum,
 * not as direct devDependencies.
 */
import { scryptSync } from 'node:crypto';
import { inspect } from 'node:util';
import { ed25519 } from '@noble/curves/ed25519.js';
import { argon2id } from '@noble/hashes/argon2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ARGON2ID_DEFAULTS,
  BlindIndex,
  composeNormalizers,
  constantTimeEqual,
  createSigner,
  createVerifier,
  decodeKdfParams,
  deriveKeyFromPassphrase,
  deriveSubkey,
  encodeKdfParams,
  generateSigner,
  hashPassphrase,
  hkdfSha256,
  hmacSha256,
  passphraseParams,
  planBlindIndexBits,
  SCRYPT_DEFAULTS,
  SecretKey,
  SIGNATURE_SEED_BYTES,
  signatureSizes,
  verifyHmacSha256,
  verifyPassphrase,
  type NormalizerName,
  type PassphraseKdfParams,
  type SignatureAlgorithm,
} from '../../src/crypto/index.js';
import { FortressError, type ErrorCode } from '../../src/util/errors.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function expectFx(fn: () => unknown, code: ErrorCode): FortressError {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof FortressError)) return expect.fail(`expected ${code}, got ${String(error)}`);
    expect(error.code).toBe(code);
    return error;
  }
  return expect.fail(`expected ${code}, but the call returned`);
}

async function expectFxAsync(fn: () => Promise<unknown>, code: ErrorCode): Promise<FortressError> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof FortressError)) return expect.fail(`expected ${code}, got ${String(error)}`);
    expect(error.code).toBe(code);
    return error;
  }
  return expect.fail(`expected ${code}, but the call returned`);
}

const keyBytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

// ---------------------------------------------------------------------------------------------
describe('HKDF', () => {
  it('hkdfSha256 gives the RFC 5869 test case 1 output', () => {
    const okm = hkdfSha256(new Uint8Array(22).fill(0x0b), {
      salt: unhex('000102030405060708090a0b0c'),
      info: unhex('f0f1f2f3f4f5f6f7f8f9'),
      length: 42,
    });
    expect(hex(okm)).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
  });

  it('hkdfSha256 agrees with @noble/hashes for random inputs (bytes and SecretKey ikm)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 80 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 1, max: 600 }),
        (ikm, salt, info, length) => {
          const expected = hex(hkdf(sha256, ikm, salt, info, length));
          expect(hex(hkdfSha256(ikm, { salt, info, length }))).toBe(expected);
          using key = SecretKey.fromBytes(ikm);
          expect(hex(hkdfSha256(key, { salt, info, length }))).toBe(expected);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('deriveSubkey = HKDF(parent, salt = empty, info = "fortress/v1/<purpose>" 0x00 <context>) (pins the labelling)', () => {
    fc.assert(
      fc.property(
        keyBytes32,
        fc.stringMatching(/^[a-z0-9][a-z0-9._/-]{0,20}$/),
        fc.oneof(
          fc.string({ maxLength: 40 }).filter((s) => s.isWellFormed()),
          fc.uint8Array({ maxLength: 40 }),
        ),
        fc.integer({ min: 16, max: 64 }),
        (parentBytes, purpose, context, length) => {
          using parent = SecretKey.fromBytes(parentBytes);
          using derived = deriveSubkey(parent, purpose, context, length);
          const contextBytes = typeof context === 'string' ? utf8(context) : context;
          const info = concat(utf8(`fortress/v1/${purpose}`), new Uint8Array([0]), contextBytes);
          expect(derived.length).toBe(length);
          expect(hex(derived.exportRaw())).toBe(
            hex(hkdf(sha256, parentBytes, new Uint8Array(0), info, length)),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('same inputs give the same key; other purposes, contexts, lengths or parents give other keys', () => {
    using parent = SecretKey.generate(32);
    using otherParent = SecretKey.generate(32);
    using a = deriveSubkey(parent, 'blind-index', 'patients.email');
    using again = deriveSubkey(parent, 'blind-index', 'patients.email');
    using fromBytes = deriveSubkey(parent, 'blind-index', utf8('patients.email'));
    expect(a.equals(again)).toBe(true);
    expect(a.equals(fromBytes)).toBe(true);
    const others = [
      deriveSubkey(parent, 'blind-index', 'patients.ssn'),
      deriveSubkey(parent, 'blind-index'),
      deriveSubkey(parent, 'kek/tenant', 'patients.email'),
      deriveSubkey(parent, 'blind-index/patients.email'),
      deriveSubkey(parent, 'blind-index', 'patients.email\u0000'),
      deriveSubkey(otherParent, 'blind-index', 'patients.email'),
    ];
    for (const other of others) {
      expect(a.equals(other)).toBe(false);
      other.dispose();
    }
    // Purpose/context boundaries are unambiguous (the purpose alphabet has no NUL).
    using p1 = deriveSubkey(parent, 'a', 'b/c');
    using p2 = deriveSubkey(parent, 'a/b', 'c');
    expect(p1.equals(p2)).toBe(false);
    // A longer output is not an extension of a shorter one's key object.
    using long = deriveSubkey(parent, 'blind-index', 'patients.email', 64);
    expect(long.equals(a)).toBe(false);
    expect(hex(long.exportRaw()).startsWith(hex(a.exportRaw()))).toBe(true); // HKDF-Expand is a prefix stream
  });

  it('rejects bad purpose labels and lengths with FX_INVALID_ARGUMENT', () => {
    using parent = SecretKey.generate(32);
    for (const purpose of [
      '',
      'Upper',
      'with space',
      '-leading',
      '.hidden',
      '/root',
      'é',
      'a\u0000b',
      'a'.repeat(129),
      'tab\t',
    ]) {
      expectFx(() => deriveSubkey(parent, purpose), 'FX_INVALID_ARGUMENT');
    }
    for (const purpose of ['a', '0', 'blind-index', 'kek/tenant', 'a.b_c-d/e', 'a'.repeat(128)]) {
      deriveSubkey(parent, purpose).dispose();
    }
    for (const length of [0, 15, 65, 16.5])
      expectFx(() => deriveSubkey(parent, 'x', '', length), 'FX_INVALID_ARGUMENT');
    expectFx(() => deriveSubkey(parent, 'x', 'c'.repeat(513)), 'FX_INVALID_ARGUMENT');
    deriveSubkey(parent, 'x', 'c'.repeat(512)).dispose();
  });
});

// ---------------------------------------------------------------------------------------------
describe('passphrase KDFs', () => {
  const ARGON_TEST = { algorithm: 'argon2id', memoryKiB: 1024, iterations: 1, parallelism: 1 } as const;
  const SCRYPT_TEST = { algorithm: 'scrypt', logN: 10, blockSize: 8, parallelism: 1 } as const;

  it('defaults are RFC 9106 §4 option 2 for Argon2id (m = 64 MiB, t = 3, p = 4) and scrypt N = 2^17, r = 8, p = 1', () => {
    expect(ARGON2ID_DEFAULTS).toEqual({
      algorithm: 'argon2id',
      memoryKiB: 65536,
      iterations: 3,
      parallelism: 4,
    });
    expect(SCRYPT_DEFAULTS).toEqual({ algorithm: 'scrypt', logN: 17, blockSize: 8, parallelism: 1 });
    const params = passphraseParams();
    expect(params).toMatchObject(ARGON2ID_DEFAULTS);
    expect(params.salt).toHaveLength(16);
    expect(hex(passphraseParams().salt)).not.toBe(hex(params.salt));
  });

  it('one derivation with the default parameters works and re-derives from its stored parameters', async () => {
    const { key, params } = await deriveKeyFromPassphrase('correct horse battery staple');
    expect(params).toMatchObject({ algorithm: 'argon2id', memoryKiB: 65536, iterations: 3, parallelism: 4 });
    expect(encodeKdfParams(params)).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}$/);
    expect(key.length).toBe(32);
    key.dispose();
  });

  for (const test of [ARGON_TEST, SCRYPT_TEST]) {
    it(`${test.algorithm}: re-derives the same key from encode → decode of the stored parameters`, async () => {
      const first = await deriveKeyFromPassphrase('correct horse battery staple', test);
      const stored = encodeKdfParams(first.params);
      const decoded = decodeKdfParams(stored);
      expect(decoded.hash).toBeUndefined();
      expect(decoded.params).toEqual(first.params);
      expect(encodeKdfParams(decoded.params)).toBe(stored);
      const again = await deriveKeyFromPassphrase('correct horse battery staple', decoded.params);
      expect(again.key.equals(first.key)).toBe(true);
      const wrong = await deriveKeyFromPassphrase('correct horse battery stapler', decoded.params);
      expect(wrong.key.equals(first.key)).toBe(false);
      const otherSalt = await deriveKeyFromPassphrase('correct horse battery staple', test);
      expect(otherSalt.key.equals(first.key)).toBe(false);
      // Strings are NFC-normalised; bytes are taken as given.
      const composed = await deriveKeyFromPassphrase('caf\u00e9', decoded.params);
      const decomposed = await deriveKeyFromPassphrase('cafe\u0301', decoded.params);
      const asBytes = await deriveKeyFromPassphrase(utf8('caf\u00e9'), decoded.params);
      const decomposedBytes = await deriveKeyFromPassphrase(utf8('cafe\u0301'), decoded.params);
      expect(composed.key.equals(decomposed.key)).toBe(true);
      expect(composed.key.equals(asBytes.key)).toBe(true);
      expect(composed.key.equals(decomposedBytes.key)).toBe(false);
      const long = await deriveKeyFromPassphrase('correct horse battery staple', decoded.params, 64);
      expect(long.key.length).toBe(64);
      for (const k of [first, again, wrong, otherSalt, composed, decomposed, asBytes, decomposedBytes, long])
        k.key.dispose();
    });
  }

  it('argon2id output matches @noble/hashes argon2id (independent implementation)', async () => {
    const salt = unhex('000102030405060708090a0b0c0d0e0f');
    for (const [passphrase, memoryKiB, iterations, parallelism, length] of [
      ['password', 1024, 1, 1, 32],
      ['pässwörd 🙂', 1024, 2, 2, 32],
      ['x', 2048, 1, 4, 64],
    ] as const) {
      const params: PassphraseKdfParams = { algorithm: 'argon2id', memoryKiB, iterations, parallelism, salt };
      const { key } = await deriveKeyFromPassphrase(passphrase, params, length);
      const expected = argon2id(utf8(passphrase.normalize('NFC')), salt, {
        m: memoryKiB,
        t: iterations,
        p: parallelism,
        dkLen: length,
      });
      expect(hex(key.exportRaw())).toBe(hex(expected));
      key.dispose();
    }
  });

  it('scrypt output matches node:crypto scryptSync called directly', async () => {
    const salt = unhex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
    for (const [logN, blockSize, parallelism, length] of [
      [10, 8, 1, 32],
      [11, 4, 2, 48],
      [10, 1, 3, 16],
    ] as const) {
      const params: PassphraseKdfParams = { algorithm: 'scrypt', logN, blockSize, parallelism, salt };
      const { key } = await deriveKeyFromPassphrase('pleaseletmein', params, length);
      const expected = scryptSync('pleaseletmein', salt, length, {
        N: 2 ** logN,
        r: blockSize,
        p: parallelism,
      });
      expect(hex(key.exportRaw())).toBe(hex(expected));
      key.dispose();
    }
  });

  for (const test of [ARGON_TEST, SCRYPT_TEST]) {
    it(`${test.algorithm}: hashPassphrase / verifyPassphrase`, async () => {
      const stored = await hashPassphrase('hunter2', test);
      const decoded = decodeKdfParams(stored);
      expect(decoded.params).toMatchObject(test);
      expect(decoded.hash).toHaveLength(32);
      expect(await verifyPassphrase(stored, 'hunter2')).toBe(true);
      expect(await verifyPassphrase(stored, utf8('hunter2'))).toBe(true);
      expect(await verifyPassphrase(stored, 'hunter3')).toBe(false);
      expect(await verifyPassphrase(stored, 'Hunter2')).toBe(false);
      expect(await verifyPassphrase(stored, 'hunter2 ')).toBe(false);
      // Two hashes of the same passphrase differ (fresh salt) and both verify.
      const second = await hashPassphrase('hunter2', test);
      expect(second).not.toBe(stored);
      expect(await verifyPassphrase(second, 'hunter2')).toBe(true);
      // A parameter string without a hash cannot verify anything.
      await expectFxAsync(
        () => verifyPassphrase(encodeKdfParams(decoded.params), 'hunter2'),
        'FX_CRYPTO_INVALID_KDF_PARAMS',
      );
    });

    it(`${test.algorithm}: every one-character change of a stored hash string gives false or FX_CRYPTO_INVALID_KDF_PARAMS`, async () => {
      const stored = await hashPassphrase('hunter2', test);
      const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
      const lastDollar = stored.lastIndexOf('$');
      const saltStart = stored.lastIndexOf('$', lastDollar - 1) + 1;
      for (let i = 0; i < stored.length; i++) {
        const c = stored[i]!;
        let replacement: string;
        if (i >= saltStart && c !== '$') {
          // Flip the top bit of the 6-bit value: always changes a data bit, even in the last character.
          replacement = B64[B64.indexOf(c) ^ 32]!;
        } else if (/\d/.test(c)) {
          // Downward for every digit but 0 keeps costs small (no accidental ln=20 or m=9024).
          replacement = c === '0' ? '1' : String(Number(c) - 1);
        } else {
          replacement = c === 'x' ? 'y' : 'x';
        }
        const tampered = stored.slice(0, i) + replacement + stored.slice(i + 1);
        let outcome: boolean | string;
        try {
          outcome = await verifyPassphrase(tampered, 'hunter2');
        } catch (error) {
          outcome = error instanceof FortressError ? error.code : `untyped ${String(error)}`;
        }
        if (outcome !== false && outcome !== 'FX_CRYPTO_INVALID_KDF_PARAMS') {
          expect.fail(`position ${i} (${JSON.stringify(tampered)}): ${String(outcome)}`);
        }
      }
    });
  }

  it('decodeKdfParams parses what encodeKdfParams writes, with and without a hash', () => {
    const salt = unhex('00112233445566778899aabbccddeeff');
    const argon: PassphraseKdfParams = {
      algorithm: 'argon2id',
      memoryKiB: 19456,
      iterations: 2,
      parallelism: 1,
      salt,
    };
    const scrypt: PassphraseKdfParams = { algorithm: 'scrypt', logN: 15, blockSize: 8, parallelism: 1, salt };
    expect(encodeKdfParams(argon)).toBe('$argon2id$v=19$m=19456,t=2,p=1$ABEiM0RVZneImaq7zN3u/w');
    expect(encodeKdfParams(scrypt)).toBe('$scrypt$ln=15,r=8,p=1$ABEiM0RVZneImaq7zN3u/w');
    const hash = new Uint8Array(32).fill(0xab);
    for (const params of [argon, scrypt]) {
      const encoded = encodeKdfParams(params, hash);
      const decoded = decodeKdfParams(encoded);
      expect(decoded.params).toEqual(params);
      expect(hex(decoded.hash ?? new Uint8Array(0))).toBe(hex(hash));
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('blind index', () => {
  const INDEX_KEY = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);

  function reference(value: string | Uint8Array, normalize: (s: string) => string = (s) => s): Uint8Array {
    return hmac(sha256, INDEX_KEY, typeof value === 'string' ? utf8(normalize(value)) : value);
  }

  function index(bits: number, normalizers?: readonly NormalizerName[]): BlindIndex {
    const key = SecretKey.fromBytes(INDEX_KEY);
    try {
      return normalizers === undefined
        ? new BlindIndex(key, { bits })
        : new BlindIndex(key, { bits, normalizers });
    } finally {
      key.dispose(); // the index imported its own copy
    }
  }

  it('is the HMAC-SHA256 of the value, truncated to `bits` bits with the rest zeroed', () => {
    const values = fc.oneof(
      fc.string({ maxLength: 30 }).filter((s) => s.isWellFormed()),
      fc.uint8Array({ maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 256 }), values, (bits, value) => {
        const bi = index(bits);
        const out = bi.compute(value);
        expect(bi.byteLength).toBe(Math.ceil(bits / 8));
        expect(out).toHaveLength(Math.ceil(bits / 8));
        const full = reference(value);
        const spare = out.length * 8 - bits;
        // Whole bytes equal the HMAC prefix; the last byte keeps only its top (8 - spare) bits.
        for (let i = 0; i < out.length - 1; i++) expect(out[i]).toBe(full[i]);
        expect(out[out.length - 1]).toBe(full[out.length - 1]! & ((0xff << spare) & 0xff));
        expect(out[out.length - 1]! & ((1 << spare) - 1)).toBe(0);
        if (bits <= 48) {
          // computeInt is the top `bits` bits of the HMAC read big-endian: compute()'s value shifted down.
          const asInt = out.reduce((n, byte) => n * 256 + byte, 0) / 2 ** spare;
          expect(bi.computeInt(value)).toBe(asInt);
          expect(bi.computeInt(value)).toBeLessThan(2 ** bits);
        } else {
          expectFx(() => bi.computeInt(value), 'FX_INVALID_ARGUMENT');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('pins a few exact values', () => {
    const full = hex(reference('ann@example.com'));
    expect(hex(index(256).compute('ann@example.com'))).toBe(full);
    expect(hex(index(8).compute('ann@example.com'))).toBe(full.slice(0, 2));
    expect(index(16).computeInt('ann@example.com')).toBe(parseInt(full.slice(0, 4), 16));
    expect(index(48).computeInt('ann@example.com')).toBe(parseInt(full.slice(0, 12), 16));
    expect(index(1).computeInt('ann@example.com')).toBe(parseInt(full.slice(0, 1), 16) >> 3);
  });

  it('equal values give equal indexes; string and its UTF-8 bytes agree under "exact"', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }).filter((s) => s.isWellFormed()),
        (value) => {
          const bi = index(32);
          // Deterministic, also across separately built indexes over the same key.
          expect(hex(bi.compute(value))).toBe(hex(index(32).compute(value)));
          expect(hex(bi.compute(value))).toBe(hex(bi.compute(utf8(value))));
        },
      ),
      { numRuns: 100 },
    );
    const bi = index(64);
    expect(hex(bi.compute('a'))).not.toBe(hex(bi.compute('b')));
    // Bytes are not normalised.
    const folded = index(64, ['casefold']);
    expect(hex(folded.compute(utf8('ABC')))).not.toBe(hex(folded.compute(utf8('abc'))));
    expect(hex(folded.compute('ABC'))).toBe(hex(folded.compute(utf8('abc'))));
  });

  it('another key gives other indexes', () => {
    using other = SecretKey.generate(32);
    const a = index(64);
    const b = new BlindIndex(other, { bits: 64 });
    expect(hex(a.compute('ann@example.com'))).not.toBe(hex(b.compute('ann@example.com')));
  });

  it('normalisers: nfc, trim, casefold (incl. ß vs SS) and their composition order', () => {
    const nfc = index(64, ['nfc']);
    const exact = index(64);
    expect(hex(nfc.compute('caf\u00e9'))).toBe(hex(nfc.compute('cafe\u0301')));
    expect(hex(exact.compute('caf\u00e9'))).not.toBe(hex(exact.compute('cafe\u0301')));

    const trim = index(64, ['trim']);
    for (const padded of [' x', 'x ', '\tx\n', '\u00a0x\u2003', '\ufeffx\u3000']) {
      expect(trim.normalize(padded)).toBe('x');
      expect(hex(trim.compute(padded))).toBe(hex(trim.compute('x')));
    }
    expect(hex(trim.compute('a b'))).not.toBe(hex(trim.compute('ab')));

    const fold = index(64, ['casefold']);
    for (const [a, b] of [
      ['straße', 'STRASSE'],
      ['ß', 'SS'],
      ['ß', 'ss'],
      ['ΣΊΣΥΦΟΣ', 'σίσυφος'],
      ['ς', 'σ'],
      ['Ann@Example.COM', 'ann@example.com'],
    ]) {
      expect(hex(fold.compute(a!))).toBe(hex(fold.compute(b!)));
    }
    expect(hex(exact.compute('ß'))).not.toBe(hex(exact.compute('SS')));

    const all = index(64, ['nfc', 'trim', 'casefold']);
    expect(hex(all.compute('  Café\n'))).toBe(hex(all.compute('cafe\u0301')));
    expect(all.normalizers).toEqual(['nfc', 'trim', 'casefold']);

    // Order matters: upper-/lower-casing can decompose ('ǰ' U+01F0 has no precomposed capital).
    const nfcThenFold = index(64, ['nfc', 'casefold']);
    const foldThenNfc = index(64, ['casefold', 'nfc']);
    expect(nfcThenFold.normalize('\u01f0')).toBe('j\u030c');
    expect(foldThenNfc.normalize('\u01f0')).toBe('\u01f0');
    expect(hex(nfcThenFold.compute('\u01f0'))).not.toBe(hex(foldThenNfc.compute('\u01f0')));
    expect(composeNormalizers(['exact', 'trim', 'exact'])(' a ')).toBe('a');
    expect(composeNormalizers(['trim', 'casefold'])('  ß ')).toBe('ss');
  });

  it('casefold treats capital sharp s (U+1E9E ẞ) like ß, SS and ss', () => {
    // Unicode CaseFolding.txt: 1E9E; F; 0073 0073. Upper- then lower-casing maps ẞ only to ß.
    const fold = index(64, ['casefold']);
    expect(fold.normalize('STRA\u1e9eE')).toBe('strasse');
    expect(hex(fold.compute('\u1e9e'))).toBe(hex(fold.compute('ss')));
    expect(hex(fold.compute('STRA\u1e9eE'))).toBe(hex(fold.compute('straße')));
  });

  it('casefold is idempotent on every code point (a folded value folds to itself)', () => {
    const fold = composeNormalizers(['casefold']);
    const unstable: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const once = fold(String.fromCodePoint(cp));
      if (fold(once) !== once) unstable.push(`U+${cp.toString(16).toUpperCase().padStart(4, '0')}`);
    }
    expect(unstable).toEqual([]);
  });

  it('the index is independent of the SecretKey it was built from (disposing the key does not change it)', () => {
    const key = SecretKey.fromBytes(INDEX_KEY);
    const bi = new BlindIndex(key, { bits: 32 });
    const before = hex(bi.compute('v'));
    key.dispose();
    expect(hex(bi.compute('v'))).toBe(before);
  });
});

// ---------------------------------------------------------------------------------------------
describe('blind index planner', () => {
  /** Largest b with 2^b ≤ rows, in exact integer arithmetic. */
  function floorLog2(rows: number): number {
    return BigInt(rows).toString(2).length - 1;
  }
  /** Smallest m with 4^m ≥ rows, i.e. ceil(log2(rows) / 2), exactly. */
  function ceilHalfLog2(rows: number): number {
    let m = 0;
    while (4n ** BigInt(m) < BigInt(rows)) m++;
    return m;
  }

  it("reproduces CipherSweet's documented example", () => {
    expect(planBlindIndexBits({ rows: 50_000 })).toMatchObject({ min: 8, max: 15, recommended: 15 });
    expect(planBlindIndexBits({ rows: 50_000 }).coincidences).toBeCloseTo(50_000 / 2 ** 15, 10);
    expect(planBlindIndexBits({ rows: 50_000, existing: [{ bits: 4, domainBits: 16 }] })).toMatchObject({
      min: 4,
      max: 11,
    });
    expect(planBlindIndexBits({ rows: 50_000, existing: [{ bits: 4 }] })).toMatchObject({ min: 4, max: 11 });
  });

  it('domainBits caps max; a narrower existing domain leaks less', () => {
    expect(planBlindIndexBits({ rows: 50_000, domainBits: 10 })).toMatchObject({ min: 8, max: 9 });
    expect(planBlindIndexBits({ rows: 50_000, domainBits: 9 })).toMatchObject({ min: 8, max: 8 });
    // An existing 16-bit index over a 2-bit domain leaks only 2 bits.
    expect(planBlindIndexBits({ rows: 50_000, existing: [{ bits: 16, domainBits: 2 }] })).toMatchObject({
      min: 6,
      max: 13,
    });
    expect(planBlindIndexBits({ rows: 50_000, existing: [{ bits: 3 }, { bits: 2 }] })).toMatchObject({
      min: 3,
      max: 10,
    });
  });

  it('impossible plans throw FX_CRYPTO_NO_SAFE_INDEX_SIZE', () => {
    for (const input of [
      { rows: 1 },
      { rows: 50_000, domainBits: 8 },
      { rows: 50_000, domainBits: 1 },
      { rows: 50_000, existing: [{ bits: 15 }] },
      { rows: 50_000, existing: [{ bits: 8 }, { bits: 8 }] },
    ]) {
      expectFx(() => planBlindIndexBits(input), 'FX_CRYPTO_NO_SAFE_INDEX_SIZE');
    }
    expect(planBlindIndexBits({ rows: 2 })).toMatchObject({ min: 1, max: 1 });
  });

  it('matches the rule computed exactly: max = floor(log2 R) − used, min = max(ceil(log2 √R) − used, 1)', () => {
    const rows = fc.oneof(
      fc.integer({ min: 2, max: 10_000_000 }),
      fc.integer({ min: 2, max: Number.MAX_SAFE_INTEGER }),
      // Just below, at and just above powers of two, where floating-point log2 can round the wrong way.
      fc
        .tuple(fc.integer({ min: 1, max: 52 }), fc.integer({ min: -1, max: 1 }))
        .map(([k, d]) => Math.max(2, 2 ** k + d)),
    );
    fc.assert(
      fc.property(rows, fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }), (r, existing) => {
        const used = existing.reduce((a, b) => a + b, 0);
        const max = floorLog2(r) - used;
        const min = Math.max(ceilHalfLog2(r) - used, 1);
        const input = { rows: r, existing: existing.map((bits) => ({ bits })) };
        if (max < 1 || min > max) {
          expectFx(() => planBlindIndexBits(input), 'FX_CRYPTO_NO_SAFE_INDEX_SIZE');
        } else {
          const plan = planBlindIndexBits(input);
          expect({ rows: r, min: plan.min, max: plan.max }).toEqual({ rows: r, min, max });
          expect(plan.recommended).toBe(plan.max);
        }
      }),
      {
        numRuns: 300,
        // Always include the two directions in which floating-point log2 rounds wrong.
        examples: [
          [2 ** 49 - 1, []],
          [2 ** 50 + 1, []],
        ],
      },
    );
  });

  it('never recommends more bits than rows support at powers of two minus one (2^k − 1 rows → k − 1 bits)', () => {
    for (let k = 2; k <= 53; k++) {
      const rows = 2 ** k - 1;
      const plan = planBlindIndexBits({ rows });
      expect({ k, max: plan.max }).toEqual({ k, max: k - 1 });
      expect(plan.coincidences).toBeGreaterThanOrEqual(1);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('signatures', () => {
  const RFC8032_SECRET = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
  const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
  const RFC8032_SIGNATURE =
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

  it('Ed25519 gives the RFC 8032 §7.1 test 1 key and signature', () => {
    using signer = createSigner('ed25519', SecretKey.fromBytes(unhex(RFC8032_SECRET)));
    expect(hex(signer.publicKey)).toBe(RFC8032_PUBLIC);
    expect(hex(signer.sign(new Uint8Array(0)))).toBe(RFC8032_SIGNATURE);
    expect(
      createVerifier('ed25519', unhex(RFC8032_PUBLIC)).verify(new Uint8Array(0), unhex(RFC8032_SIGNATURE)),
    ).toBe(true);
  });

  it('a verifier keeps its own copy of the public key (writing into .publicKey changes nothing)', () => {
    for (const algorithm of ['ed25519', 'ml-dsa-65'] as const) {
      using signer = createSigner(algorithm, SecretKey.fromBytes(new Uint8Array(32).fill(7)));
      const message = new TextEncoder().encode('checkpoint');
      const signature = signer.sign(message);
      const verifier = createVerifier(algorithm, signer.publicKey);
      verifier.publicKey.fill(0);
      expect(verifier.verify(message, signature)).toBe(true);
    }
  });

  it('Ed25519 agrees with @noble/curves for random seeds and messages', () => {
    fc.assert(
      fc.property(keyBytes32, fc.uint8Array({ maxLength: 300 }), (seed, message) => {
        using signer = createSigner('ed25519', SecretKey.fromBytes(seed));
        expect(hex(signer.publicKey)).toBe(hex(ed25519.getPublicKey(seed)));
        const signature = signer.sign(message);
        expect(hex(signature)).toBe(hex(ed25519.sign(message, seed)));
        expect(ed25519.verify(signature, message, signer.publicKey)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  for (const algorithm of ['ed25519', 'ml-dsa-65'] as const satisfies readonly SignatureAlgorithm[]) {
    it(`${algorithm}: sign/verify round trip; wrong message or signature → false`, () => {
      using signer = generateSigner(algorithm);
      const sizes = signatureSizes(algorithm);
      expect(signer.publicKey).toHaveLength(sizes.publicKey);
      const message = utf8('checkpoint 42: root=abcd');
      const signature = signer.sign(message);
      expect(signature).toHaveLength(sizes.signature);
      const verifier = signer.verifier();
      expect(verifier.algorithm).toBe(algorithm);
      expect(verifier.verify(message, signature)).toBe(true);
      expect(createVerifier(algorithm, signer.publicKey).verify(message, signature)).toBe(true);
      expect(verifier.verify(utf8('checkpoint 43: root=abcd'), signature)).toBe(false);
      expect(verifier.verify(new Uint8Array(0), signature)).toBe(false);
      for (const bit of [0, 7, 100, signature.length * 8 - 1]) {
        const bad = new Uint8Array(signature);
        bad[bit >>> 3]! ^= 1 << (bit & 7);
        expect(verifier.verify(message, bad)).toBe(false);
      }
      expect(verifier.verify(message, signature.subarray(0, signature.length - 1))).toBe(false);
      expect(verifier.verify(message, new Uint8Array(sizes.signature))).toBe(false);
      // Another key's verifier refuses it.
      using other = generateSigner(algorithm);
      expect(other.verifier().verify(message, signature)).toBe(false);
      // Malformed inputs are false, not exceptions.
      expect(verifier.verify('text' as unknown as Uint8Array, signature)).toBe(false);
      expect(verifier.verify(message, null as unknown as Uint8Array)).toBe(false);
    });

    it(`${algorithm}: the same seed gives the same public key; the signer owns and disposes the seed`, () => {
      const seed = Uint8Array.from({ length: SIGNATURE_SEED_BYTES }, (_, i) => i * 3);
      const seedKey = SecretKey.fromBytes(seed);
      const a = createSigner(algorithm, seedKey);
      using b = createSigner(algorithm, SecretKey.fromBytes(seed));
      using c = createSigner(algorithm, SecretKey.fromBytes(seed.map((x) => x ^ 1)));
      expect(hex(a.publicKey)).toBe(hex(b.publicKey));
      expect(hex(a.publicKey)).not.toBe(hex(c.publicKey));
      const message = utf8('m');
      const signature = a.sign(message);
      expect(b.verifier().verify(message, signature)).toBe(true);
      a.dispose();
      expect(seedKey.disposed).toBe(true);
      expectFx(() => a.sign(message), 'FX_CRYPTO_KEY_DISPOSED');
      a.dispose(); // idempotent
      // Public operations still work after the signer is gone.
      expect(a.verifier().verify(message, signature)).toBe(true);
    });
  }

  it('ML-DSA-65 contexts separate signing domains', () => {
    const seed = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
    const checkpoint = utf8('fortress/checkpoint');
    const backup = utf8('fortress/backup');
    using signer = createSigner('ml-dsa-65', SecretKey.fromBytes(seed), { context: checkpoint });
    using plain = createSigner('ml-dsa-65', SecretKey.fromBytes(seed));
    expect(hex(signer.publicKey)).toBe(hex(plain.publicKey)); // the context does not change the key
    const message = utf8('root=abcd');
    const signature = signer.sign(message);
    expect(signer.verifier().verify(message, signature)).toBe(true);
    expect(
      createVerifier('ml-dsa-65', signer.publicKey, { context: checkpoint }).verify(message, signature),
    ).toBe(true);
    expect(
      createVerifier('ml-dsa-65', signer.publicKey, { context: backup }).verify(message, signature),
    ).toBe(false);
    expect(createVerifier('ml-dsa-65', signer.publicKey).verify(message, signature)).toBe(false);
    expect(signer.verifier().verify(message, plain.sign(message))).toBe(false);
    expect(plain.verifier().verify(message, plain.sign(message))).toBe(true);
    // The context option is copied: changing the caller's buffer later changes nothing.
    const mutable = new Uint8Array(checkpoint);
    const verifier = createVerifier('ml-dsa-65', signer.publicKey, { context: mutable });
    mutable.fill(0);
    expect(verifier.verify(message, signature)).toBe(true);
  });

  it('signatureSizes are the documented sizes', () => {
    expect(signatureSizes('ed25519')).toEqual({ publicKey: 32, signature: 64 });
    expect(signatureSizes('ml-dsa-65')).toEqual({ publicKey: 1952, signature: 3309 });
    signatureSizes('ed25519').publicKey = 0; // a copy
    expect(signatureSizes('ed25519').publicKey).toBe(32);
  });
});

// ---------------------------------------------------------------------------------------------
describe('HMAC-SHA256', () => {
  it('gives the RFC 4231 test case 2 tag and verifies full and truncated tags', () => {
    const key = utf8('Jefe');
    const message = utf8('what do ya want for nothing?');
    const tag = hmacSha256(key, message);
    expect(hex(tag)).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    using secret = SecretKey.fromBytes(key);
    expect(hex(hmacSha256(secret, message))).toBe(hex(tag));
    expect(verifyHmacSha256(secret, message, tag)).toBe(true);
    expect(verifyHmacSha256(key, message, tag.subarray(0, 16))).toBe(true);
    expect(verifyHmacSha256(key, message, tag.subarray(0, 15))).toBe(false);
    expect(verifyHmacSha256(key, message, concat(tag, new Uint8Array(1)))).toBe(false);
    const bad = new Uint8Array(tag);
    bad[31]! ^= 1;
    expect(verifyHmacSha256(key, message, bad)).toBe(false);
    expect(verifyHmacSha256(key, utf8('what do ya want for nothing!'), tag)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
describe('SecretKey', () => {
  it('generate gives fresh keys of the requested length', () => {
    using a = SecretKey.generate();
    using b = SecretKey.generate();
    using c = SecretKey.generate(64);
    expect(a.length).toBe(32);
    expect(c.length).toBe(64);
    expect(a.equals(b)).toBe(false);
    expect(a.equals(a)).toBe(true);
  });

  it('fromBytes copies; wipeSource zeroes the source', () => {
    const source = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    using copy = SecretKey.fromBytes(source);
    source[0] = 0xff;
    expect(copy.exportRaw()[0]).toBe(1);
    const wiped = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    using kept = SecretKey.fromBytes(wiped, { wipeSource: true });
    expect(wiped.every((b) => b === 0)).toBe(true);
    expect(hex(kept.exportRaw())).toBe(hex(Uint8Array.from({ length: 32 }, (_, i) => i + 1)));
    // Only the view is wiped, not its neighbours in a larger buffer.
    const big = new Uint8Array(48).fill(0x11);
    SecretKey.fromBytes(big.subarray(8, 40), { wipeSource: true }).dispose();
    expect([...big.subarray(0, 8), ...big.subarray(40)].every((b) => b === 0x11)).toBe(true);
    expect(big.subarray(8, 40).every((b) => b === 0)).toBe(true);
    const kept2 = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    SecretKey.fromBytes(kept2, { wipeSource: false }).dispose();
    expect(kept2[0]).toBe(1);
  });

  it('equals compares in constant time, by content; different lengths are unequal', () => {
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => i);
    using a = SecretKey.fromBytes(bytes);
    using b = SecretKey.fromBytes(bytes);
    using shorter = SecretKey.fromBytes(bytes.subarray(0, 31));
    using flipped = SecretKey.fromBytes(bytes.map((x, i) => (i === 31 ? x ^ 1 : x)));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(shorter)).toBe(false);
    expect(a.equals(flipped)).toBe(false);
  });

  it('dispose zeroes and refuses later use', () => {
    const key = SecretKey.generate(32);
    using other = SecretKey.generate(32);
    expect(key.disposed).toBe(false);
    key.dispose();
    key.dispose();
    expect(key.disposed).toBe(true);
    expectFx(() => key.exportRaw(), 'FX_CRYPTO_KEY_DISPOSED');
    expectFx(() => key.equals(other), 'FX_CRYPTO_KEY_DISPOSED');
    expectFx(() => other.equals(key), 'FX_CRYPTO_KEY_DISPOSED');
    expectFx(() => hmacSha256(key, utf8('m')), 'FX_CRYPTO_KEY_DISPOSED');
    expectFx(() => deriveSubkey(key, 'x'), 'FX_CRYPTO_KEY_DISPOSED');
    expectFx(() => hkdfSha256(key, { length: 32 }), 'FX_CRYPTO_KEY_DISPOSED');
  });

  it('never serialises or prints its bytes', () => {
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => 0xc0 + i);
    using key = SecretKey.fromBytes(bytes);
    const forms = [
      JSON.stringify(key),
      JSON.stringify({ nested: { key } }),
      String(key),
      inspect(key, { showHidden: true, depth: 10 }),
      inspect({ key }, { showHidden: true, depth: 10 }),
    ];
    expect(JSON.stringify(key)).toBe('"[SecretKey]"');
    expect(String(key)).toBe('[SecretKey]');
    for (const form of forms) {
      expect(form).not.toContain(hex(bytes));
      expect(form).not.toContain('192'); // 0xc0, as inspect would print a byte array
      expect(form).not.toContain(Buffer.from(bytes).toString('base64'));
    }
    expect(Object.keys(key)).toEqual(['length']);
  });

  it('`using` disposes at the end of the block, also when it throws', () => {
    let escaped: SecretKey | undefined;
    {
      using key = SecretKey.generate(32);
      escaped = key;
    }
    expect(escaped.disposed).toBe(true);
    let thrown: SecretKey | undefined;
    expect(() => {
      using key = SecretKey.generate(32);
      thrown = key;
      throw new Error('boom');
    }).toThrow('boom');
    expect(thrown?.disposed).toBe(true);
  });

  it('fill writes straight into guarded memory, and zeroes it if the callback throws', () => {
    using key = SecretKey.fill(16, (target) => target.fill(7));
    expect(hex(key.exportRaw())).toBe('07'.repeat(16));
    let seen: Buffer | undefined;
    expect(() =>
      SecretKey.fill(16, (target) => {
        target.fill(9);
        seen = target;
        throw new Error('derive failed');
      }),
    ).toThrow('derive failed');
    expect(seen?.every((b) => b === 0)).toBe(true);
  });
});

describe('constantTimeEqual', () => {
  it('is byte equality', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(hex(a) === hex(b));
        expect(constantTimeEqual(a, new Uint8Array(a))).toBe(true);
        expect(constantTimeEqual(a, Buffer.from(a))).toBe(true);
      }),
      { numRuns: 200 },
    );
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(constantTimeEqual(new Uint8Array(1), new Uint8Array(0))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
  });
});
