/**
 * The X25519 + ML-KEM-768 hybrid KEM (src/crypto/hybrid/hybrid-kem.ts): round trips, the combiner
 * recomputed with independent code (@noble/curves X25519, @noble/hashes HKDF/SHA-256), binding of
 * every input, typed rejection of malformed keys and encapsulations, and Project Wycheproof vectors
 * driven through the public functions:
 * - x25519_test.json through both decapsulate (vector key = recipient X25519 key, vector public =
 *   ephemeral key) and encapsulateDerand (vector key = ephemeral, vector public = recipient key):
 *   every non-zero `shared` must come out of the combiner; every all-zero one must be rejected;
 * - mlkem_768_test.json (keygen from seed + decapsulation) through deriveRecipientPublicKey and decapsulate;
 * - mlkem_768_encaps_test.json through encapsulateDerand.
 * Each Wycheproof test asserts exactly how many cases it processed.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decapsulate,
  deriveRecipientPublicKey,
  encapsulate,
  encapsulateDerand,
  generateRecipientKeys,
  HYBRID_ENCAPSULATION_BYTES,
  HYBRID_PUBLIC_KEY_BYTES,
  HYBRID_SECRET_KEY_BYTES,
  HYBRID_SHARED_KEY_BYTES,
} from '../../src/crypto/hybrid/hybrid-kem.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { FortressError, InvalidArgumentError } from '../../src/util/errors.js';
import {
  hex,
  loadWycheproof,
  toHex,
  type WycheproofFile,
  type WycheproofGroup,
  type WycheproofTest,
} from '../helpers/vectors.js';

// ---------------------------------------------------------------------------------------------
// Vector schemas (not in test/helpers/vectors.ts yet)

/** xdh_comp_schema_v1: X25519 with raw 32-byte keys. */
interface XdhTest extends WycheproofTest {
  readonly public: string;
  readonly private: string;
  readonly shared: string;
}
type XdhFile = WycheproofFile<WycheproofGroup<XdhTest> & { readonly curve: string }>;

/** mlkem_test_schema: keygen from the 64-byte seed d ‖ z, then decapsulate `c`. */
interface MlKemTest extends WycheproofTest {
  readonly seed: string;
  readonly ek?: string;
  readonly c: string;
  readonly K: string;
}
type MlKemFile = WycheproofFile<WycheproofGroup<MlKemTest> & { readonly parameterSet: string }>;

/** mlkem_encaps_test_schema: encapsulate to `ek` with randomness `m`. */
interface MlKemEncapsTest extends WycheproofTest {
  readonly ek: string;
  readonly m: string;
  readonly c: string;
  readonly K: string;
}
type MlKemEncapsFile = WycheproofFile<WycheproofGroup<MlKemEncapsTest> & { readonly parameterSet: string }>;

// ---------------------------------------------------------------------------------------------
// Helpers

const LABEL = new TextEncoder().encode('fortress/v1/hybrid-kem/x25519-mlkem768');

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const V1 = Uint8Array.of(1);

/** The combiner written from the spec in the module comment, with independent libraries. */
function referenceSharedKey(
  ssMlKem: Uint8Array,
  ssX25519: Uint8Array,
  encapsulation: Uint8Array,
  publicKey: Uint8Array,
): string {
  const info = concat(LABEL, Uint8Array.of(0), sha256(concat(encapsulation, publicKey)));
  return toHex(hkdf(sha256, concat(ssMlKem, ssX25519), new Uint8Array(0), info, 32));
}

/** The key's bytes as hex; disposes the key. */
function take(key: SecretKey): string {
  const raw = key.exportRaw();
  key.dispose();
  return toHex(raw);
}

function secretKeyOf(...parts: Uint8Array[]): SecretKey {
  return SecretKey.fromBytes(concat(...parts));
}

type Outcome<T> =
  | { readonly threw: false; readonly value: T }
  | { readonly threw: true; readonly code: string; readonly argument?: string; readonly message: string };

function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { threw: false, value: fn() };
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      return { threw: true, code: error.code, argument: error.argument, message: error.message };
    }
    if (error instanceof FortressError) return { threw: true, code: error.code, message: error.message };
    return { threw: true, code: `non-Fortress error: ${String(error)}`, message: String(error) };
  }
}

function describeOutcome(outcome: Outcome<unknown>): string {
  return outcome.threw ? `threw ${outcome.code} (${outcome.message})` : 'returned normally';
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * X25519 public key via OpenSSL (JWK import; Node derives `x` from `d`): much faster than noble's
 * pure-JS scalar multiplication, which matters across 518 vectors. The other tests pin the
 * public-key derivation against noble.
 */
function opensslX25519PublicKey(privateKey: Uint8Array): Uint8Array {
  const d = Buffer.from(privateKey).toString('base64url');
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: d }, format: 'jwk' });
  const { x } = createPublicKey(key).export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(x ?? '', 'base64url'));
}

// Fixed keys shared by the known-answer tests (arbitrary but pinned).
const FIXED_X25519_RECIPIENT = hex('a8'.repeat(31) + '46');
const FIXED_X25519_EPHEMERAL = hex('77'.repeat(32));
const FIXED_MLKEM_SEED = hex('5a'.repeat(64));
const FIXED_MLKEM_MESSAGE = hex('c3'.repeat(32));
const FIXED_MLKEM = ml_kem768.keygen(FIXED_MLKEM_SEED);
const FIXED_MLKEM_ENCAPS = ml_kem768.encapsulate(FIXED_MLKEM.publicKey, FIXED_MLKEM_MESSAGE);
const FIXED_X25519_RECIPIENT_PUBLIC = nobleX25519.getPublicKey(FIXED_X25519_RECIPIENT);
const FIXED_X25519_EPHEMERAL_PUBLIC = nobleX25519.getPublicKey(FIXED_X25519_EPHEMERAL);
const FIXED_SS_X25519 = nobleX25519.getSharedSecret(FIXED_X25519_EPHEMERAL, FIXED_X25519_RECIPIENT_PUBLIC);

// Low-order X25519 points (RFC 7748 §6.1 / Bernstein's list): 0, 1, and a point of order 8.
const LOW_ORDER_POINTS = [
  '00'.repeat(32),
  '01' + '00'.repeat(31),
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p - 1
];

// ---------------------------------------------------------------------------------------------

describe('hybrid KEM: round trips and the combiner', () => {
  it('generates keys of the documented sizes whose public key re-derives from the secret', () => {
    const { publicKey, secretKey } = generateRecipientKeys();
    expect(publicKey.length).toBe(HYBRID_PUBLIC_KEY_BYTES);
    expect(publicKey[0]).toBe(1);
    expect(secretKey.length).toBe(HYBRID_SECRET_KEY_BYTES);
    expect(toHex(deriveRecipientPublicKey(secretKey))).toBe(toHex(publicKey));
    // The public key is exactly X25519(sk[0..32]) ‖ ML-KEM.KeyGen(sk[32..96]) per independent code.
    const raw = secretKey.exportRaw();
    const expected = concat(
      V1,
      nobleX25519.getPublicKey(raw.subarray(0, 32)),
      ml_kem768.keygen(raw.subarray(32)).publicKey,
    );
    expect(toHex(publicKey)).toBe(toHex(expected));
    raw.fill(0);
    secretKey.dispose();
  });

  it('decapsulate recovers the encapsulated key; fresh randomness every time', () => {
    const { publicKey, secretKey } = generateRecipientKeys();
    fc.assert(
      fc.property(fc.constant(null), () => {
        const a = encapsulate(publicKey);
        const b = encapsulate(publicKey);
        expect(a.encapsulation.length).toBe(HYBRID_ENCAPSULATION_BYTES);
        expect(a.sharedKey.length).toBe(HYBRID_SHARED_KEY_BYTES);
        expect(toHex(a.encapsulation)).not.toBe(toHex(b.encapsulation));
        const aKey = take(a.sharedKey);
        expect(take(decapsulate(a.encapsulation, secretKey))).toBe(aKey);
        expect(take(b.sharedKey)).not.toBe(aKey);
      }),
      { numRuns: 5 },
    );
    secretKey.dispose();
  });

  it('matches the combiner recomputed with independent X25519, SHA-256 and HKDF code', () => {
    const secretKey = secretKeyOf(FIXED_X25519_RECIPIENT, FIXED_MLKEM_SEED);
    const publicKey = deriveRecipientPublicKey(secretKey);
    expect(toHex(publicKey)).toBe(toHex(concat(V1, FIXED_X25519_RECIPIENT_PUBLIC, FIXED_MLKEM.publicKey)));
    const { encapsulation, sharedKey } = encapsulateDerand(
      publicKey,
      FIXED_X25519_EPHEMERAL,
      FIXED_MLKEM_MESSAGE,
    );
    expect(toHex(encapsulation)).toBe(
      toHex(concat(V1, FIXED_X25519_EPHEMERAL_PUBLIC, FIXED_MLKEM_ENCAPS.cipherText)),
    );
    const expected = referenceSharedKey(
      FIXED_MLKEM_ENCAPS.sharedSecret,
      FIXED_SS_X25519,
      encapsulation,
      publicKey,
    );
    expect(take(sharedKey)).toBe(expected);
    expect(take(decapsulate(encapsulation, secretKey))).toBe(expected);
    secretKey.dispose();
  });

  it('binds every input: any changed byte of the encapsulation or recipient gives another key', () => {
    const secretKey = secretKeyOf(FIXED_X25519_RECIPIENT, FIXED_MLKEM_SEED);
    const publicKey = deriveRecipientPublicKey(secretKey);
    const { encapsulation, sharedKey } = encapsulateDerand(
      publicKey,
      FIXED_X25519_EPHEMERAL,
      FIXED_MLKEM_MESSAGE,
    );
    const original = take(sharedKey);
    const seen = new Set([original]);
    // Ephemeral X25519 key bytes, ML-KEM ciphertext bytes (first, middle, last).
    for (const index of [1, 16, 32, 33, 600, HYBRID_ENCAPSULATION_BYTES - 1]) {
      const tampered = new Uint8Array(encapsulation);
      tampered[index]! ^= 0x04;
      const outcome = attempt(() => take(decapsulate(tampered, secretKey)));
      if (!outcome.threw) {
        expect(seen.has(outcome.value), `byte ${index}`).toBe(false);
        seen.add(outcome.value);
      } else {
        // Only a tampered X25519 key may be refused (if it became a low-order point).
        expect(index).toBeLessThan(33);
      }
    }
    // Another recipient with the same X25519 key but a different ML-KEM key: different key.
    const other = secretKeyOf(FIXED_X25519_RECIPIENT, hex('5b'.repeat(64)));
    expect(seen.has(take(decapsulate(encapsulation, other)))).toBe(false);
    secretKey.dispose();
  });
});

describe('hybrid KEM: rejections', () => {
  const { publicKey, secretKey } = generateRecipientKeys();
  const { encapsulation, sharedKey } = encapsulate(publicKey);
  sharedKey.dispose();
  const disposed = SecretKey.generate(HYBRID_SECRET_KEY_BYTES);
  disposed.dispose();
  const withByte = (bytes: Uint8Array, index: number, value: number): Uint8Array => {
    const copy = new Uint8Array(bytes);
    copy[index] = value;
    return copy;
  };
  const notReduced = new Uint8Array(publicKey);
  notReduced[33] = 0xff; // first 12-bit coefficient becomes ≥ q = 3329
  notReduced[34] = 0xff;

  const cases: readonly [string, () => unknown, string, string?][] = [
    // encapsulate(recipientPublicKey)
    [
      'encapsulate: string',
      () => encapsulate('key' as unknown as Uint8Array),
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ],
    [
      'encapsulate: undefined',
      () => encapsulate(undefined as unknown as Uint8Array),
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ],
    [
      'encapsulate: ArrayBuffer',
      () => encapsulate(publicKey.buffer as unknown as Uint8Array),
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ],
    [
      'encapsulate: Uint16Array',
      () => encapsulate(new Uint16Array(1217) as unknown as Uint8Array),
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ],
    ['encapsulate: empty', () => encapsulate(new Uint8Array(0)), 'FX_INVALID_ARGUMENT', 'recipientPublicKey'],
    [
      'encapsulate: one byte short',
      () => encapsulate(publicKey.subarray(0, -1)),
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ],
    [
      'encapsulate: one byte long',
      () => encapsulate(concat(publicKey, V1)),
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ],
    [
      'encapsulate: bare ML-KEM key',
      () => encapsulate(FIXED_MLKEM.publicKey),
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ],
    ['encapsulate: version 0', () => encapsulate(withByte(publicKey, 0, 0)), 'FX_CRYPTO_UNSUPPORTED_VERSION'],
    ['encapsulate: version 2', () => encapsulate(withByte(publicKey, 0, 2)), 'FX_CRYPTO_UNSUPPORTED_VERSION'],
    [
      'encapsulate: ML-KEM key not reduced',
      () => encapsulate(notReduced),
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ],
    ...LOW_ORDER_POINTS.map((point): [string, () => unknown, string, string] => [
      `encapsulate: low-order X25519 key ${point.slice(0, 8)}…`,
      () => {
        const bad = new Uint8Array(publicKey);
        bad.set(hex(point), 1);
        return encapsulate(bad);
      },
      'FX_INVALID_ARGUMENT',
      'recipientPublicKey',
    ]),
    // decapsulate(encapsulation, recipientSecretKey)
    [
      'decapsulate: encapsulation null',
      () => decapsulate(null as unknown as Uint8Array, secretKey),
      'FX_INVALID_ARGUMENT',
      'encapsulation',
    ],
    [
      'decapsulate: encapsulation array',
      () => decapsulate([1, 2] as unknown as Uint8Array, secretKey),
      'FX_INVALID_ARGUMENT',
      'encapsulation',
    ],
    [
      'decapsulate: encapsulation short',
      () => decapsulate(encapsulation.subarray(1), secretKey),
      'FX_INVALID_ARGUMENT',
      'encapsulation',
    ],
    [
      'decapsulate: encapsulation long',
      () => decapsulate(concat(encapsulation, V1), secretKey),
      'FX_INVALID_ARGUMENT',
      'encapsulation',
    ],
    [
      'decapsulate: bare ML-KEM ciphertext',
      () => decapsulate(FIXED_MLKEM_ENCAPS.cipherText, secretKey),
      'FX_INVALID_ARGUMENT',
      'encapsulation',
    ],
    [
      'decapsulate: version 0',
      () => decapsulate(withByte(encapsulation, 0, 0), secretKey),
      'FX_CRYPTO_UNSUPPORTED_VERSION',
    ],
    [
      'decapsulate: version 255',
      () => decapsulate(withByte(encapsulation, 0, 255), secretKey),
      'FX_CRYPTO_UNSUPPORTED_VERSION',
    ],
    ...LOW_ORDER_POINTS.map((point): [string, () => unknown, string, string] => [
      `decapsulate: low-order ephemeral key ${point.slice(0, 8)}…`,
      () => {
        const bad = new Uint8Array(encapsulation);
        bad.set(hex(point), 1);
        return decapsulate(bad, secretKey);
      },
      'FX_INVALID_ARGUMENT',
      'encapsulation',
    ]),
    [
      'decapsulate: raw bytes as key',
      () => decapsulate(encapsulation, new Uint8Array(96) as unknown as SecretKey),
      'FX_INVALID_ARGUMENT',
      'recipientSecretKey',
    ],
    [
      'decapsulate: 32-byte key',
      () => decapsulate(encapsulation, SecretKey.generate(32)),
      'FX_INVALID_ARGUMENT',
      'recipientSecretKey',
    ],
    [
      'decapsulate: 97-byte key',
      () => decapsulate(encapsulation, SecretKey.generate(97)),
      'FX_INVALID_ARGUMENT',
      'recipientSecretKey',
    ],
    ['decapsulate: disposed key', () => decapsulate(encapsulation, disposed), 'FX_CRYPTO_KEY_DISPOSED'],
    // deriveRecipientPublicKey / encapsulateDerand
    [
      'deriveRecipientPublicKey: undefined',
      () => deriveRecipientPublicKey(undefined as unknown as SecretKey),
      'FX_INVALID_ARGUMENT',
      'recipientSecretKey',
    ],
    [
      'deriveRecipientPublicKey: 64-byte key',
      () => deriveRecipientPublicKey(SecretKey.generate(64)),
      'FX_INVALID_ARGUMENT',
      'recipientSecretKey',
    ],
    [
      'deriveRecipientPublicKey: disposed key',
      () => deriveRecipientPublicKey(disposed),
      'FX_CRYPTO_KEY_DISPOSED',
    ],
    [
      'encapsulateDerand: short ephemeral',
      () => encapsulateDerand(publicKey, new Uint8Array(31), new Uint8Array(32)),
      'FX_INVALID_ARGUMENT',
      'ephemeralX25519',
    ],
    [
      'encapsulateDerand: long message',
      () => encapsulateDerand(publicKey, new Uint8Array(32), new Uint8Array(33)),
      'FX_INVALID_ARGUMENT',
      'mlKemMessage',
    ],
  ];

  it.each(cases)('%s', (_name, fn, code, argument) => {
    const outcome = attempt(fn);
    expect(outcome.threw, describeOutcome(outcome)).toBe(true);
    if (!outcome.threw) return;
    expect(outcome.code, outcome.message).toBe(code);
    if (argument !== undefined) expect(outcome.argument).toBe(argument);
    expect(outcome.message.length).toBeLessThan(200);
  });

  it('never puts key bytes in error messages', () => {
    const raw = secretKey.exportRaw();
    const secretHex = [toHex(raw.subarray(0, 32)), toHex(raw.subarray(32, 64)), toHex(raw.subarray(64))];
    raw.fill(0);
    for (const [name, fn] of cases) {
      const outcome = attempt(fn);
      if (!outcome.threw) continue;
      for (const part of secretHex) expect(outcome.message.includes(part), name).toBe(false);
      expect(/[0-9a-f]{32}/i.test(outcome.message), name).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Wycheproof

/** Cases also run through encapsulate: the 31 all-zero ones plus those with tcId divisible by 4. */
const ENCAPSULATE_CHECKS = 153;

describe('hybrid KEM: Wycheproof x25519_test.json', () => {
  it('produces `shared` for every valid case, handles acceptable cases, rejects all-zero secrets', () => {
    const file = loadWycheproof<XdhFile>('x25519_test.json');
    const failures: string[] = [];
    const counts: Record<string, number> = {};
    let processed = 0;

    /** Checks one direction's outcome against the vector; returns true when `shared` came through. */
    const check = (
      test: XdhTest,
      what: string,
      outcome: Outcome<string>,
      expected: string | null,
    ): boolean => {
      if (expected === null) {
        // All-zero X25519 output: must be refused with a typed argument error.
        const argument = what === 'decapsulate' ? 'encapsulation' : 'recipientPublicKey';
        if (!outcome.threw || outcome.code !== 'FX_INVALID_ARGUMENT' || outcome.argument !== argument) {
          failures.push(
            `tcId ${test.tcId}: ${what} with an all-zero shared secret ${describeOutcome(outcome)}`,
          );
        }
        return false;
      }
      if (outcome.threw) {
        // 'acceptable' cases may be refused, but only with a typed error; 'valid' ones never.
        if (test.result === 'valid' || !outcome.code.startsWith('FX_')) {
          failures.push(`tcId ${test.tcId} (${test.result}): ${what} ${describeOutcome(outcome)}`);
        }
        return false;
      }
      if (outcome.value !== expected) {
        failures.push(`tcId ${test.tcId} (${test.result}): ${what} did not derive the key from \`shared\``);
        return false;
      }
      return true;
    };

    for (const group of file.testGroups) {
      expect(group.curve).toBe('curve25519');
      for (const test of group.tests) {
        processed++;
        const priv = hex(test.private);
        const peer = hex(test.public);
        const shared = /^(00){32}$/.test(test.shared) ? null : hex(test.shared);
        const privPublic = opensslX25519PublicKey(priv);

        // Direction 1, every case — recipient side: vector private = recipient X25519 key,
        // vector public = ephemeral key in the encapsulation.
        const secretKey = secretKeyOf(priv, FIXED_MLKEM_SEED);
        const encapsulation = concat(V1, peer, FIXED_MLKEM_ENCAPS.cipherText);
        const decap = attempt(() => take(decapsulate(encapsulation, secretKey)));
        secretKey.dispose();
        const recipientPublic = concat(V1, privPublic, FIXED_MLKEM.publicKey);
        const decapOk = check(
          test,
          'decapsulate',
          decap,
          shared === null
            ? null
            : referenceSharedKey(FIXED_MLKEM_ENCAPS.sharedSecret, shared, encapsulation, recipientPublic),
        );

        // Direction 2 — sender side: vector private = ephemeral key, vector public = recipient key.
        // The X25519 calls are direction 1's with the roles swapped, so besides the all-zero cases
        // (which must be refused here too) every 4th case is enough.
        let encapOk: boolean | undefined;
        if (shared === null || test.tcId % 4 === 0) {
          const toPublic = concat(V1, peer, FIXED_MLKEM.publicKey);
          const expectedEncapsulation = concat(V1, privPublic, FIXED_MLKEM_ENCAPS.cipherText);
          const encap = attempt(() => {
            const result = encapsulateDerand(toPublic, priv, FIXED_MLKEM_MESSAGE);
            if (toHex(result.encapsulation) !== toHex(expectedEncapsulation)) {
              failures.push(`tcId ${test.tcId}: encapsulation bytes differ`);
            }
            return take(result.sharedKey);
          });
          encapOk = check(
            test,
            'encapsulate',
            encap,
            shared === null
              ? null
              : referenceSharedKey(FIXED_MLKEM_ENCAPS.sharedSecret, shared, expectedEncapsulation, toPublic),
          );
        }

        if (shared === null) bump(counts, 'zero shared secret: rejected');
        else bump(counts, `${test.result}: ${decapOk && encapOk !== false ? 'matches shared' : 'rejected'}`);
        if (encapOk !== undefined) bump(counts, 'also checked through encapsulate');
      }
    }
    expect(failures).toEqual([]);
    expect(processed).toBe(518);
    // 264 valid; 254 acceptable, of which 31 give an all-zero secret and the other 223 (twist
    // points, non-canonical encodings, …) are accepted and computed as RFC 7748 says.
    expect(counts).toEqual({
      'valid: matches shared': 264,
      'acceptable: matches shared': 223,
      'zero shared secret: rejected': 31,
      'also checked through encapsulate': ENCAPSULATE_CHECKS,
    });
  });
});

describe('hybrid KEM: Wycheproof ML-KEM-768', () => {
  const recipientX25519Public = FIXED_X25519_RECIPIENT_PUBLIC;

  it('mlkem_768_test.json: keygen from the seed and decapsulation, through the hybrid API', () => {
    const file = loadWycheproof<MlKemFile>('mlkem_768_test.json');
    const failures: string[] = [];
    const counts: Record<string, number> = {};
    let processed = 0;
    for (const group of file.testGroups) {
      expect(group.parameterSet).toBe('ML-KEM-768');
      for (const test of group.tests) {
        processed++;
        const seed = hex(test.seed);
        const encapsulation = concat(V1, FIXED_X25519_EPHEMERAL_PUBLIC, hex(test.c));
        const secretKey = secretKeyOf(FIXED_X25519_RECIPIENT, seed);
        const publicKey = attempt(() => deriveRecipientPublicKey(secretKey));
        const shared = attempt(() => take(decapsulate(encapsulation, secretKey)));
        secretKey.dispose();
        if (test.result === 'valid') {
          if (publicKey.threw || shared.threw || test.ek === undefined) {
            failures.push(`tcId ${test.tcId}: ${describeOutcome(publicKey)} / ${describeOutcome(shared)}`);
            continue;
          }
          if (toHex(publicKey.value) !== toHex(concat(V1, recipientX25519Public, hex(test.ek)))) {
            failures.push(`tcId ${test.tcId}: derived encapsulation key differs from ek`);
          }
          const expected = referenceSharedKey(hex(test.K), FIXED_SS_X25519, encapsulation, publicKey.value);
          if (shared.value !== expected) failures.push(`tcId ${test.tcId}: shared key not derived from K`);
          bump(counts, 'valid');
        } else {
          // Invalid cases have a seed or ciphertext of the wrong length: a typed argument error.
          const argument = seed.length !== 64 ? 'recipientSecretKey' : 'encapsulation';
          if (!shared.threw || shared.code !== 'FX_INVALID_ARGUMENT' || shared.argument !== argument) {
            failures.push(`tcId ${test.tcId} (${test.comment}): decapsulate ${describeOutcome(shared)}`);
          }
          bump(counts, `invalid ${argument}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(processed).toBe(193);
    expect(counts).toEqual({ valid: 153, 'invalid recipientSecretKey': 20, 'invalid encapsulation': 20 });
  });

  it('mlkem_768_encaps_test.json: encapsulation with fixed randomness, through the hybrid API', () => {
    const file = loadWycheproof<MlKemEncapsFile>('mlkem_768_encaps_test.json');
    const failures: string[] = [];
    const counts: Record<string, number> = {};
    let processed = 0;
    for (const group of file.testGroups) {
      expect(group.parameterSet).toBe('ML-KEM-768');
      for (const test of group.tests) {
        processed++;
        const publicKey = concat(V1, recipientX25519Public, hex(test.ek));
        const outcome = attempt(() => {
          const result = encapsulateDerand(publicKey, FIXED_X25519_EPHEMERAL, hex(test.m));
          return { encapsulation: result.encapsulation, key: take(result.sharedKey) };
        });
        if (test.result === 'valid') {
          if (outcome.threw) {
            failures.push(`tcId ${test.tcId}: ${describeOutcome(outcome)}`);
            continue;
          }
          const expectedEncapsulation = concat(V1, FIXED_X25519_EPHEMERAL_PUBLIC, hex(test.c));
          if (toHex(outcome.value.encapsulation) !== toHex(expectedEncapsulation)) {
            failures.push(`tcId ${test.tcId}: ciphertext differs from c`);
          }
          const expected = referenceSharedKey(hex(test.K), FIXED_SS_X25519, expectedEncapsulation, publicKey);
          if (outcome.value.key !== expected)
            failures.push(`tcId ${test.tcId}: shared key not derived from K`);
          bump(counts, 'valid');
        } else {
          // Wrong-length keys fail the length check; unreduced keys fail FIPS 203's modulus check.
          if (
            !outcome.threw ||
            outcome.code !== 'FX_INVALID_ARGUMENT' ||
            outcome.argument !== 'recipientPublicKey'
          ) {
            failures.push(`tcId ${test.tcId} (${test.comment}): ${describeOutcome(outcome)}`);
          }
          bump(counts, hex(test.ek).length === 1184 ? 'invalid: not reduced' : 'invalid: wrong length');
        }
      }
    }
    expect(failures).toEqual([]);
    expect(processed).toBe(265);
    expect(counts).toEqual({ valid: 133, 'invalid: not reduced': 112, 'invalid: wrong length': 20 });
  });
});
