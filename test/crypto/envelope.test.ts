/**
 * Property and golden-vector tests of the envelope: `encrypt`/`decrypt`, `encryptMany`/
 * `decryptMany`, `readEnvelopeHeader`, `EncryptionContext` and `DataKey`.
 *
 * Covers round trips for every AEAD with random plaintexts and contexts; that every single-bit
 * change, truncation, extension, header swap, wrong key or changed context field is refused with a
 * typed error; nonce freshness; the batch forms; usage limits; disposal; and fixed envelopes that
 * pin the byte format (header layout, canonical context encoding, associated data) so it cannot
 * change by accident.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import sodium from 'libsodium-wrappers-sumo';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DataKey,
  decrypt,
  decryptMany,
  encrypt,
  encryptMany,
  EncryptionContext,
  ENVELOPE_FORMAT_VERSION,
  ENVELOPE_HEADER_LENGTH,
  getAead,
  listAeads,
  readEnvelopeHeader,
  SecretKey,
  type AeadName,
  type ContextFields,
  type KeyResolver,
} from '../../src/crypto/index.js';
import { FortressError, type ErrorCode } from '../../src/util/errors.js';

beforeAll(async () => {
  await sodium.ready;
});

const ALGORITHMS: readonly AeadName[] = listAeads().map((aead) => aead.name);

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

/** Runs `fn`, requires a FortressError (with `code` when given, else one of `codes`), returns it. */
function expectFx(fn: () => unknown, code: ErrorCode | readonly ErrorCode[]): FortressError {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    if (!(error instanceof FortressError)) {
      return expect.fail(`expected a FortressError, got ${String(error)}`);
    }
    if (typeof code === 'string') expect(error.code).toBe(code);
    else expect(code).toContain(error.code);
    return error;
  }
  return expect.fail(`expected ${String(code)}, but the call returned ${String(result)}`);
}

function keyFor(algorithm: AeadName, id = 1, version = 1, bytes?: Uint8Array): DataKey {
  if (bytes === undefined) return DataKey.generate({ id, version, algorithm });
  return new DataKey({ id, version, algorithm, key: SecretKey.fromBytes(bytes) });
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[bit >>> 3]! ^= 1 << (bit & 7);
  return copy;
}

function minLength(algorithm: AeadName): number {
  const aead = getAead(algorithm);
  return ENVELOPE_HEADER_LENGTH + aead.nonceLength + aead.tagLength;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const interesting = fc.constantFrom(
  '',
  'a',
  'ß',
  'SS',
  'e\u0301',
  '\u00e9',
  '𝔘𝔫𝔦',
  '\u0000',
  'a\u0000b',
  '漢字',
  '🙂',
);
const text: fc.Arbitrary<string> = fc
  .oneof(
    fc.string({ unit: 'grapheme', maxLength: 24 }),
    fc.string({ unit: 'binary', maxLength: 24 }),
    fc.string({ maxLength: 24 }),
    interesting,
  )
  .filter((s) => s.isWellFormed());
const rowKey: fc.Arbitrary<string | Uint8Array> = fc.oneof(text, fc.uint8Array({ maxLength: 32 }));
const contextFields: fc.Arbitrary<ContextFields> = fc.record(
  { tenant: text, database: text, table: text, column: text, row: rowKey },
  { requiredKeys: [] },
);
const plaintext4k: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4096 }) },
);
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

const FIELDS = ['tenant', 'database', 'table', 'column', 'row'] as const;
type FieldName = (typeof FIELDS)[number];

/** The bytes a field contributes to the canonical encoding. */
function fieldBytes(value: string | Uint8Array | undefined): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  return typeof value === 'string' ? utf8(value) : value;
}

function withoutField(fields: ContextFields, field: FieldName): ContextFields {
  return Object.fromEntries(Object.entries(fields).filter(([name]) => name !== field));
}

function sameField(a: string | Uint8Array | undefined, b: string | Uint8Array | undefined): boolean {
  return hex(fieldBytes(a)) === hex(fieldBytes(b));
}

/** The canonical encoding computed here from the documented rule, independently of the source. */
function expectedEncoding(fields: ContextFields): string {
  return FIELDS.map((name) => {
    const bytes = fieldBytes(fields[name]);
    return bytes.length.toString(16).padStart(8, '0') + hex(bytes);
  }).join('');
}

// ---------------------------------------------------------------------------------------------

describe('round trip', () => {
  it.each(ALGORITHMS)(
    '%s: decrypt(encrypt(p)) = p for random plaintexts, contexts, ids and versions',
    (algorithm) => {
      fc.assert(
        fc.property(plaintext4k, contextFields, u32, u32, (plaintext, fields, id, version) => {
          using key = keyFor(algorithm, id, version);
          const context = EncryptionContext.of(fields);
          const before = hex(plaintext);
          const envelope = encrypt(key, plaintext, context);
          expect(hex(plaintext)).toBe(before); // input untouched
          expect(envelope.length).toBe(plaintext.length + minLength(algorithm));
          expect(hex(decrypt(key, envelope, context))).toBe(before);
          // A context rebuilt from the same fields decrypts too: the encoding, not the object, matters.
          expect(hex(decrypt(key, envelope, EncryptionContext.of({ ...fields })))).toBe(before);
          const header = readEnvelopeHeader(envelope);
          expect(header).toEqual({
            formatVersion: ENVELOPE_FORMAT_VERSION,
            algorithm,
            keyId: id,
            keyVersion: version,
            overhead: minLength(algorithm),
          });
        }),
        { numRuns: 100 },
      );
    },
  );

  it('the default context is EncryptionContext.EMPTY, which equals of({}) and all-empty fields', () => {
    using key = keyFor('xchacha20-poly1305');
    const envelope = encrypt(key, utf8('x'));
    expect(hex(decrypt(key, envelope, EncryptionContext.EMPTY))).toBe(hex(utf8('x')));
    expect(hex(decrypt(key, envelope, EncryptionContext.of({})))).toBe(hex(utf8('x')));
    const allEmpty = EncryptionContext.of({ tenant: '', database: '', table: '', column: '', row: '' });
    expect(hex(decrypt(key, envelope, allEmpty))).toBe(hex(utf8('x')));
    expect(hex(decrypt(key, encrypt(key, utf8('y'), allEmpty)))).toBe(hex(utf8('y')));
  });

  it('a string row and its UTF-8 bytes are the same row (documented encoding)', () => {
    fc.assert(
      fc.property(text, (row) => {
        using key = keyFor('aes-256-gcm');
        const envelope = encrypt(key, utf8('v'), EncryptionContext.of({ table: 't', row }));
        expect(hex(decrypt(key, envelope, EncryptionContext.of({ table: 't', row: utf8(row) })))).toBe(
          hex(utf8('v')),
        );
      }),
      { numRuns: 50 },
    );
  });

  it('withRow gives the same encoding as of() with that row', () => {
    fc.assert(
      fc.property(contextFields, rowKey, (fields, row) => {
        const column = EncryptionContext.of(withoutField(fields, 'row'));
        expect(hex(column.withRow(row).encode())).toBe(
          hex(EncryptionContext.of({ ...fields, row }).encode()),
        );
      }),
      { numRuns: 100 },
    );
  });
});

describe('EncryptionContext encoding', () => {
  it('matches the documented rule: per field a 4-byte big-endian length then the bytes', () => {
    fc.assert(
      fc.property(contextFields, (fields) => {
        expect(hex(EncryptionContext.of(fields).encode())).toBe(expectedEncoding(fields));
      }),
      { numRuns: 200 },
    );
  });

  it('is injective: different field tuples never share an encoding', () => {
    fc.assert(
      fc.property(contextFields, contextFields, (a, b) => {
        const same = FIELDS.every((name) => sameField(a[name], b[name]));
        const ea = hex(EncryptionContext.of(a).encode());
        const eb = hex(EncryptionContext.of(b).encode());
        expect(ea === eb).toBe(same);
      }),
      { numRuns: 300 },
    );
  });

  it('field boundaries are unambiguous', () => {
    const pairs: readonly (readonly [ContextFields, ContextFields])[] = [
      [
        { table: 'ab', column: 'c' },
        { table: 'a', column: 'bc' },
      ],
      [
        { tenant: 'acme', database: '' },
        { tenant: 'acm', database: 'e' },
      ],
      [{ tenant: 'a' }, { database: 'a' }],
      [
        { column: 'x', row: '' },
        { column: '', row: 'x' },
      ],
      [
        { table: 'a\u0000', column: 'b' },
        { table: 'a', column: '\u0000b' },
      ],
      [{ row: '\u0000\u0000\u0000\u0001a' }, { column: '', row: 'a' }],
      // A field that contains what looks like a length prefix of the next field.
      [{ table: 'x\u0000\u0000\u0000\u0001y' }, { table: 'x', column: 'y' }],
    ];
    for (const [a, b] of pairs) {
      const ca = EncryptionContext.of(a);
      const cb = EncryptionContext.of(b);
      expect(hex(ca.encode())).not.toBe(hex(cb.encode()));
      for (const algorithm of ALGORITHMS) {
        using key = keyFor(algorithm);
        expectFx(() => decrypt(key, encrypt(key, utf8('secret'), ca), cb), 'FX_INTEGRITY');
        expectFx(() => decrypt(key, encrypt(key, utf8('secret'), cb), ca), 'FX_INTEGRITY');
      }
    }
  });

  it('is immutable: later changes to the caller’s row bytes do not change the context', () => {
    const row = new Uint8Array([1, 2, 3]);
    const context = EncryptionContext.of({ table: 't', row });
    const before = hex(context.encode());
    row[0] = 9;
    expect(hex(context.encode())).toBe(before);
    expect(Object.isFrozen(context.fields)).toBe(true);
    const encoded = context.encode();
    encoded.fill(0xff);
    expect(hex(context.encode())).toBe(before);
  });
});

describe('tampering', () => {
  const KEY_BYTES = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 ^ i);
  const CONTEXT = EncryptionContext.of({ tenant: 't', table: 'users', column: 'email', row: '7' });

  /** What a one-bit change in header byte `byte` must produce. */
  function expectedCodes(byte: number): readonly ErrorCode[] {
    if (byte === 0) return ['FX_CRYPTO_UNSUPPORTED_VERSION'];
    // Another algorithm id: unknown, or known but the key is for another algorithm, or too short for it.
    if (byte === 1)
      return ['FX_CRYPTO_UNKNOWN_ALGORITHM', 'FX_CRYPTO_KEY_MISMATCH', 'FX_CRYPTO_MALFORMED_ENVELOPE'];
    if (byte < ENVELOPE_HEADER_LENGTH) return ['FX_CRYPTO_KEY_MISMATCH'];
    return ['FX_INTEGRITY'];
  }

  it.each(ALGORITHMS)('%s: flipping any single bit of an envelope throws a typed error', (algorithm) => {
    using key = keyFor(algorithm, 0x01020304, 5, KEY_BYTES);
    const resolver: KeyResolver = () => key;
    for (const plaintext of [new Uint8Array(0), utf8('hello, world')]) {
      const envelope = encrypt(key, plaintext, CONTEXT);
      for (let bit = 0; bit < envelope.length * 8; bit++) {
        const bad = flipBit(envelope, bit);
        const codes = expectedCodes(bit >>> 3);
        expectFx(() => decrypt(key, bad, CONTEXT), codes);
        // Through a resolver that hands out the key whatever the header says, the header is still checked.
        expectFx(() => decrypt(resolver, bad, CONTEXT), codes);
      }
    }
  });

  it.each(ALGORITHMS)('%s: random single-bit flips of random envelopes are refused', (algorithm) => {
    fc.assert(
      fc.property(plaintext4k, contextFields, fc.nat(), (plaintext, fields, seed) => {
        using key = keyFor(algorithm, 3, 4);
        const context = EncryptionContext.of(fields);
        const envelope = encrypt(key, plaintext, context);
        const bit = seed % (envelope.length * 8);
        expectFx(() => decrypt(key, flipBit(envelope, bit), context), expectedCodes(bit >>> 3));
      }),
      { numRuns: 150 },
    );
  });

  it.each(ALGORITHMS)('%s: every truncation of an envelope is refused', (algorithm) => {
    using key = keyFor(algorithm, 9, 9, KEY_BYTES);
    const envelope = encrypt(key, utf8('a value of some length'), CONTEXT);
    for (let length = 0; length < envelope.length; length++) {
      const cut = envelope.subarray(0, length);
      const code: ErrorCode = length < minLength(algorithm) ? 'FX_CRYPTO_MALFORMED_ENVELOPE' : 'FX_INTEGRITY';
      expectFx(() => decrypt(key, cut, CONTEXT), code);
      // Also as a fresh copy (not a view into a larger buffer).
      expectFx(() => decrypt(key, new Uint8Array(cut), CONTEXT), code);
      if (length < minLength(algorithm))
        expectFx(() => readEnvelopeHeader(cut), 'FX_CRYPTO_MALFORMED_ENVELOPE');
    }
  });

  it.each(ALGORITHMS)('%s: random truncations and appended bytes are refused', (algorithm) => {
    fc.assert(
      fc.property(
        plaintext4k,
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        (plaintext, cutSeed, extra) => {
          using key = keyFor(algorithm, 1, 2);
          const envelope = encrypt(key, plaintext, CONTEXT);
          const length = cutSeed % envelope.length;
          expectFx(
            () => decrypt(key, envelope.subarray(0, length), CONTEXT),
            length < minLength(algorithm) ? 'FX_CRYPTO_MALFORMED_ENVELOPE' : 'FX_INTEGRITY',
          );
          const longer = new Uint8Array(envelope.length + extra.length);
          longer.set(envelope);
          longer.set(extra, envelope.length);
          expectFx(() => decrypt(key, longer, CONTEXT), 'FX_INTEGRITY');
          // Appending zero bytes too (a common padding accident).
          expectFx(
            () => decrypt(key, Buffer.concat([envelope, Buffer.alloc(extra.length)]), CONTEXT),
            'FX_INTEGRITY',
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it.each(ALGORITHMS)('%s: swapping the headers of two envelopes fails', (algorithm) => {
    using a = keyFor(algorithm, 11, 1);
    using b = keyFor(algorithm, 12, 7);
    const resolver: KeyResolver = (id) => (id === 11 ? a : id === 12 ? b : undefined);
    const ea = encrypt(a, utf8('alpha'), CONTEXT);
    const eb = encrypt(b, utf8('bravo'), CONTEXT);
    const swappedA = Buffer.concat([
      eb.subarray(0, ENVELOPE_HEADER_LENGTH),
      ea.subarray(ENVELOPE_HEADER_LENGTH),
    ]);
    const swappedB = Buffer.concat([
      ea.subarray(0, ENVELOPE_HEADER_LENGTH),
      eb.subarray(ENVELOPE_HEADER_LENGTH),
    ]);
    // The header is authenticated: the key it now names cannot open the body.
    expectFx(() => decrypt(resolver, swappedA, CONTEXT), 'FX_INTEGRITY');
    expectFx(() => decrypt(resolver, swappedB, CONTEXT), 'FX_INTEGRITY');
    expectFx(() => decrypt(b, swappedA, CONTEXT), 'FX_INTEGRITY');
    expectFx(() => decrypt(a, swappedB, CONTEXT), 'FX_INTEGRITY');
    // The key that did seal the body no longer matches the header.
    expectFx(() => decrypt(a, swappedA, CONTEXT), 'FX_CRYPTO_KEY_MISMATCH');
    expectFx(() => decrypt(b, swappedB, CONTEXT), 'FX_CRYPTO_KEY_MISMATCH');
    // Same key, only the version field differs.
    using a2 = keyFor(algorithm, 11, 2);
    const ea2 = encrypt(a2, utf8('alpha'), CONTEXT);
    const versionSwapped = Buffer.concat([
      ea.subarray(0, ENVELOPE_HEADER_LENGTH),
      ea2.subarray(ENVELOPE_HEADER_LENGTH),
    ]);
    expectFx(() => decrypt(a, versionSwapped, CONTEXT), 'FX_INTEGRITY');
  });

  it.each(ALGORITHMS)(
    '%s: a key with the same id and version but other bytes gives FX_INTEGRITY',
    (algorithm) => {
      using right = keyFor(algorithm, 5, 5);
      using wrong = keyFor(algorithm, 5, 5);
      const envelope = encrypt(right, utf8('value'), CONTEXT);
      expectFx(() => decrypt(wrong, envelope, CONTEXT), 'FX_INTEGRITY');
      expectFx(() => decryptMany(wrong, [envelope], CONTEXT), 'FX_INTEGRITY');
    },
  );

  it.each(ALGORITHMS)(
    '%s: a DataKey with another id, version or algorithm gives FX_CRYPTO_KEY_MISMATCH',
    (algorithm) => {
      const bytes = new Uint8Array(getAead(algorithm).keyLength).fill(7);
      using right = keyFor(algorithm, 5, 5, bytes);
      const envelope = encrypt(right, utf8('value'), CONTEXT);
      using otherId = keyFor(algorithm, 6, 5, bytes);
      using otherVersion = keyFor(algorithm, 5, 6, bytes);
      expectFx(() => decrypt(otherId, envelope, CONTEXT), 'FX_CRYPTO_KEY_MISMATCH');
      expectFx(() => decrypt(otherVersion, envelope, CONTEXT), 'FX_CRYPTO_KEY_MISMATCH');
      for (const other of ALGORITHMS.filter((name) => name !== algorithm)) {
        using otherAlgorithm = keyFor(other, 5, 5, new Uint8Array(getAead(other).keyLength).fill(7));
        expectFx(() => decrypt(otherAlgorithm, envelope, CONTEXT), 'FX_CRYPTO_KEY_MISMATCH');
      }
      const message = expectFx(() => decrypt(otherId, envelope, CONTEXT), 'FX_CRYPTO_KEY_MISMATCH').message;
      expect(message).toContain('5');
      expect(message).not.toContain(hex(bytes));
    },
  );
});

describe('context binding', () => {
  it.each(ALGORITHMS)('%s: changing any one context field gives FX_INTEGRITY', (algorithm) => {
    fc.assert(
      fc.property(
        contextFields,
        fc.constantFrom<FieldName>(...FIELDS),
        rowKey,
        plaintext4k,
        (fields, field, replacement, plaintext) => {
          const value =
            field === 'row' ? replacement : typeof replacement === 'string' ? replacement : hex(replacement);
          fc.pre(!sameField(fields[field], value));
          using key = keyFor(algorithm, 1, 1);
          const envelope = encrypt(key, plaintext, EncryptionContext.of(fields));
          const changed = EncryptionContext.of({ ...fields, [field]: value });
          expectFx(() => decrypt(key, envelope, changed), 'FX_INTEGRITY');
          expectFx(() => decryptMany(key, [envelope], [changed]), 'FX_INTEGRITY');
        },
      ),
      { numRuns: 100 },
    );
  });

  it('each field matters on its own (fixed example, every algorithm)', () => {
    const base = { tenant: 'acme', database: 'main', table: 'patients', column: 'ssn', row: '42' } as const;
    for (const algorithm of ALGORITHMS) {
      using key = keyFor(algorithm);
      const envelope = encrypt(key, utf8('123-45-6789'), EncryptionContext.of(base));
      for (const field of FIELDS) {
        for (const value of ['', `${base[field]}x`, base[field].toUpperCase()]) {
          if (value === base[field]) continue;
          expectFx(
            () => decrypt(key, envelope, EncryptionContext.of({ ...base, [field]: value })),
            'FX_INTEGRITY',
          );
        }
        expectFx(
          () => decrypt(key, envelope, EncryptionContext.of(withoutField(base, field))),
          'FX_INTEGRITY',
        );
      }
      expectFx(() => decrypt(key, envelope), 'FX_INTEGRITY');
    }
  });
});

describe('nonces', () => {
  it.each(ALGORITHMS)(
    '%s: two encryptions of the same plaintext use different nonces and ciphertexts',
    (algorithm) => {
      using key = keyFor(algorithm);
      const nonceLength = getAead(algorithm).nonceLength;
      const seen = new Set<string>();
      const bodies = new Set<string>();
      const plaintext = utf8('same plaintext every time');
      const envelopes = [
        ...Array.from({ length: 50 }, () => encrypt(key, plaintext)),
        ...encryptMany(
          key,
          Array.from({ length: 50 }, () => plaintext),
        ),
      ];
      for (const envelope of envelopes) {
        seen.add(hex(envelope.subarray(ENVELOPE_HEADER_LENGTH, ENVELOPE_HEADER_LENGTH + nonceLength)));
        bodies.add(hex(envelope.subarray(ENVELOPE_HEADER_LENGTH + nonceLength)));
        expect(hex(decrypt(key, envelope))).toBe(hex(plaintext));
      }
      expect(seen.size).toBe(envelopes.length);
      expect(bodies.size).toBe(envelopes.length);
    },
  );
});

describe('encryptMany / decryptMany', () => {
  it.each(ALGORITHMS)(
    '%s: agree with the single-value calls (shared and per-value contexts)',
    (algorithm) => {
      fc.assert(
        fc.property(
          fc.array(plaintext4k, { maxLength: 8 }),
          fc.array(contextFields, { minLength: 8, maxLength: 8 }),
          fc.boolean(),
          (plaintexts, fieldList, shared) => {
            using key = keyFor(algorithm, 2, 3);
            const perValue = plaintexts.map((_, i) => EncryptionContext.of(fieldList[i]!));
            const one = EncryptionContext.of(fieldList[0]!);
            const contexts = shared ? one : perValue;
            const contextAt = (i: number): EncryptionContext => (shared ? one : perValue[i]!);
            const before = key.encryptions;
            const envelopes = encryptMany(key, plaintexts, contexts);
            expect(key.encryptions).toBe(before + plaintexts.length);
            expect(envelopes).toHaveLength(plaintexts.length);
            envelopes.forEach((envelope, i) => {
              expect(envelope.length).toBe(plaintexts[i]!.length + minLength(algorithm));
              expect(hex(decrypt(key, envelope, contextAt(i)))).toBe(hex(plaintexts[i]!));
            });
            // And single-call envelopes open in a batch.
            const singles = plaintexts.map((p, i) => encrypt(key, p, contextAt(i)));
            expect(decryptMany(key, singles, contexts).map(hex)).toEqual(plaintexts.map(hex));
            expect(decryptMany(key, envelopes, contexts).map(hex)).toEqual(plaintexts.map(hex));
          },
        ),
        { numRuns: 40 },
      );
    },
  );

  it('empty batches are fine and count nothing', () => {
    using key = keyFor('aes-256-gcm');
    expect(encryptMany(key, [])).toEqual([]);
    expect(decryptMany(key, [])).toEqual([]);
    expect(key.encryptions).toBe(0);
  });

  it('a bad envelope at index i throws with envelopes[i] in the message', () => {
    using key = keyFor('xchacha20-poly1305', 1, 1);
    using other = keyFor('xchacha20-poly1305', 2, 1);
    const context = EncryptionContext.of({ table: 't' });
    const good = encryptMany(key, [utf8('a'), utf8('b'), utf8('c'), utf8('d')], context);
    const cases: readonly (readonly [string, (e: Uint8Array) => Uint8Array, ErrorCode])[] = [
      ['tampered', (e) => flipBit(e, e.length * 8 - 1), 'FX_INTEGRITY'],
      ['truncated', (e) => e.subarray(0, 20), 'FX_CRYPTO_MALFORMED_ENVELOPE'],
      ['bad version', (e) => flipBit(e, 1), 'FX_CRYPTO_UNSUPPORTED_VERSION'],
      ['other key', () => encrypt(other, utf8('x'), context), 'FX_CRYPTO_KEY_MISMATCH'],
    ];
    for (const [, damage, code] of cases) {
      for (let i = 0; i < good.length; i++) {
        const batch = good.map((e, j) => (j === i ? damage(e) : e));
        const error = expectFx(() => decryptMany(key, batch, context), code);
        expect(error.message).toContain(`envelopes[${i}]`);
        for (let j = 0; j < good.length; j++)
          if (j !== i) expect(error.message).not.toContain(`envelopes[${j}]`);
      }
    }
    // Wrong context for one value only.
    const contexts = good.map(() => context);
    contexts[2] = EncryptionContext.of({ table: 'u' });
    expect(expectFx(() => decryptMany(key, good, contexts), 'FX_INTEGRITY').message).toContain(
      'envelopes[2]',
    );
  });

  it('a KeyResolver picks keys by id and version; an unknown id gives FX_CRYPTO_KEY_MISMATCH', () => {
    using k1 = keyFor('xchacha20-poly1305', 1, 1);
    using k1v2 = keyFor('aes-256-gcm', 1, 2);
    using k2 = keyFor('aegis-256', 2, 1);
    const keys = [k1, k1v2, k2];
    const calls: [number, number, AeadName][] = [];
    const resolver: KeyResolver = (id, version, algorithm) => {
      calls.push([id, version, algorithm]);
      return keys.find((k) => k.id === id && k.version === version);
    };
    const envelopes = [
      encrypt(k1, utf8('one')),
      encrypt(k1v2, utf8('two')),
      encrypt(k2, utf8('three')),
      encrypt(k1, utf8('four')),
    ];
    const text = new TextDecoder();
    expect(decryptMany(resolver, envelopes).map((b) => text.decode(b))).toEqual([
      'one',
      'two',
      'three',
      'four',
    ]);
    expect(calls).toContainEqual([1, 2, 'aes-256-gcm']);
    expect(calls).toContainEqual([2, 1, 'aegis-256']);
    expect(decrypt(resolver, envelopes[2]!).toString()).toBe('three');
    using stranger = keyFor('xchacha20-poly1305', 99, 1);
    const unknown = encrypt(stranger, utf8('?'));
    expectFx(() => decrypt(resolver, unknown), 'FX_CRYPTO_KEY_MISMATCH');
    const error = expectFx(() => decryptMany(resolver, [...envelopes, unknown]), 'FX_CRYPTO_KEY_MISMATCH');
    expect(error.message).toContain('envelopes[4]');
    // A resolver that returns the wrong version is caught too.
    expectFx(() => decrypt(() => k1, envelopes[1]!), 'FX_CRYPTO_KEY_MISMATCH');
  });

  describe('a failed batch leaves no plaintext behind (documented: "every plaintext already written is zeroed")', () => {
    // decryptMany writes all plaintexts into one Buffer.allocUnsafe allocation. Small ones come
    // from Node's shared 8 KiB pool, whose ArrayBuffer any other small Buffer.allocUnsafe exposes:
    // scan it (before and after, in case the pool was replaced) for the plaintext of envelope 0.
    // (Searched by hand: Buffer.from(needle) would itself copy the needle into the pool.)
    function poolContains(pools: readonly ArrayBufferLike[], needle: Uint8Array): boolean {
      return pools.some((pool) => {
        const bytes = new Uint8Array(pool);
        outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
          for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
          return true;
        }
        return false;
      });
    }

    function failBatch(
      marker: string,
      second: (k: DataKey) => { key: DataKey | KeyResolver; envelope: Uint8Array },
    ): {
      leaked: boolean;
      code: string;
    } {
      using k = keyFor('xchacha20-poly1305', 1, 1);
      const secret = utf8(marker);
      const first = encrypt(k, secret);
      const { key, envelope } = second(k);
      const before = Buffer.allocUnsafe(1).buffer;
      let code = '(no error)';
      try {
        decryptMany(key, [first, envelope]);
      } catch (error) {
        code = error instanceof FortressError ? error.code : String(error);
      }
      const after = Buffer.allocUnsafe(1).buffer;
      return { leaked: poolContains([before, after], secret), code };
    }

    it('after FX_INTEGRITY at index 1', () => {
      const result = failBatch('PLAINTEXT-MARKER-integrity-7f3a', (k) => {
        const bad = new Uint8Array(encrypt(k, utf8('second value')));
        bad[bad.length - 1]! ^= 1;
        return { key: k, envelope: bad };
      });
      expect(result).toEqual({ leaked: false, code: 'FX_INTEGRITY' });
    });

    it('after FX_CRYPTO_KEY_MISMATCH at index 1', () => {
      const result = failBatch('PLAINTEXT-MARKER-mismatch-91c2', (k) => {
        using other = keyFor('xchacha20-poly1305', 2, 1);
        return { key: k, envelope: encrypt(other, utf8('second value')) };
      });
      expect(result).toEqual({ leaked: false, code: 'FX_CRYPTO_KEY_MISMATCH' });
    });

    it('after a resolver finds no key for index 1', () => {
      const result = failBatch('PLAINTEXT-MARKER-resolver-44d0', (k) => {
        using other = keyFor('xchacha20-poly1305', 2, 1);
        return { key: (id) => (id === 1 ? k : undefined), envelope: encrypt(other, utf8('second value')) };
      });
      expect(result).toEqual({ leaked: false, code: 'FX_CRYPTO_KEY_MISMATCH' });
    });
  });
});

describe('usage limits', () => {
  it.each(['aes-256-gcm', 'chacha20-poly1305'] as const)(
    '%s: 2^32 - 1 used → one more, then FX_CRYPTO_KEY_USAGE_EXCEEDED',
    (algorithm) => {
      expect(getAead(algorithm).maxEncryptionsPerKey).toBe(2 ** 32);
      using key = new DataKey({
        id: 1,
        version: 1,
        algorithm,
        key: SecretKey.generate(32),
        encryptions: 2 ** 32 - 1,
      });
      expect(key.encryptions).toBe(2 ** 32 - 1);
      expect(key.remainingEncryptions).toBe(1);
      // A batch of two does not fit and is refused whole, without counting.
      expectFx(() => encryptMany(key, [utf8('a'), utf8('b')]), 'FX_CRYPTO_KEY_USAGE_EXCEEDED');
      expect(key.encryptions).toBe(2 ** 32 - 1);
      const envelope = encrypt(key, utf8('last'));
      expect(key.encryptions).toBe(2 ** 32);
      expect(key.remainingEncryptions).toBe(0);
      expectFx(() => encrypt(key, utf8('one too many')), 'FX_CRYPTO_KEY_USAGE_EXCEEDED');
      expectFx(() => encryptMany(key, [utf8('x')]), 'FX_CRYPTO_KEY_USAGE_EXCEEDED');
      expect(key.encryptions).toBe(2 ** 32);
      // Decryption is not limited.
      expect(decrypt(key, envelope).toString()).toBe('last');
    },
  );

  it('counts single and batch encryptions', () => {
    using key = keyFor('aes-256-gcm');
    expect(key.encryptions).toBe(0);
    expect(key.remainingEncryptions).toBe(2 ** 32);
    encrypt(key, utf8('a'));
    encryptMany(key, [utf8('b'), utf8('c'), utf8('d')]);
    expect(key.encryptions).toBe(4);
    expect(key.remainingEncryptions).toBe(2 ** 32 - 4);
    expect(JSON.parse(JSON.stringify(key))).toEqual({
      id: 1,
      version: 1,
      algorithm: 'aes-256-gcm',
      encryptions: 4,
    });
  });

  it.each(['xchacha20-poly1305', 'aegis-256'] as const)('%s has no practical limit', (algorithm) => {
    expect(getAead(algorithm).maxEncryptionsPerKey).toBe(Infinity);
    using key = new DataKey({
      id: 1,
      version: 1,
      algorithm,
      key: SecretKey.generate(32),
      encryptions: Number.MAX_SAFE_INTEGER - 1,
    });
    expect(key.remainingEncryptions).toBe(Infinity);
    encrypt(key, utf8('a'));
    expect(key.encryptions).toBe(Number.MAX_SAFE_INTEGER);
    expect(key.remainingEncryptions).toBe(Infinity);
  });
});

describe('disposal', () => {
  it.each(ALGORITHMS)(
    '%s: a disposed DataKey refuses every operation with FX_CRYPTO_KEY_DISPOSED',
    (algorithm) => {
      const key = keyFor(algorithm, 1, 1);
      const envelope = encrypt(key, utf8('v'));
      expect(key.disposed).toBe(false);
      key.dispose();
      key.dispose(); // idempotent
      expect(key.disposed).toBe(true);
      expectFx(() => encrypt(key, utf8('v')), 'FX_CRYPTO_KEY_DISPOSED');
      expectFx(() => encryptMany(key, [utf8('v')]), 'FX_CRYPTO_KEY_DISPOSED');
      expectFx(() => decrypt(key, envelope), 'FX_CRYPTO_KEY_DISPOSED');
      expectFx(() => decryptMany(key, [envelope]), 'FX_CRYPTO_KEY_DISPOSED');
      expectFx(() => decrypt(() => key, envelope), 'FX_CRYPTO_KEY_DISPOSED');
      expect(key.encryptions).toBe(1);
    },
  );

  it('disposing the SecretKey a DataKey owns disposes the DataKey, and vice versa', () => {
    const secret = SecretKey.generate(32);
    const key = new DataKey({ id: 1, version: 1, key: secret });
    secret.dispose();
    expect(key.disposed).toBe(true);
    expectFx(() => encrypt(key, utf8('v')), 'FX_CRYPTO_KEY_DISPOSED');
    const secret2 = SecretKey.generate(32);
    const key2 = new DataKey({ id: 1, version: 1, key: secret2 });
    key2.dispose();
    expect(secret2.disposed).toBe(true);
  });

  it('a disposed SecretKey cannot become a DataKey', () => {
    const secret = SecretKey.generate(32);
    secret.dispose();
    expectFx(() => new DataKey({ id: 1, version: 1, key: secret }), 'FX_CRYPTO_KEY_DISPOSED');
  });

  it('`using` disposes at the end of the block', () => {
    let escaped: DataKey | undefined;
    {
      using key = keyFor('xchacha20-poly1305');
      escaped = key;
      expect(key.disposed).toBe(false);
    }
    expect(escaped.disposed).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Golden vectors. Generated once (envelope format 1) with key bytes 00..1f, key id
// 0x01020304, version 5, the context below and plaintext '123-45-6789'. If any of these fails, the
// envelope format changed: that breaks every stored value and must be a deliberate, versioned change.

const GOLDEN_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const GOLDEN_FIELDS = {
  tenant: 'acme',
  database: 'main',
  table: 'patients',
  column: 'ssn',
  row: '42',
} as const;
const GOLDEN_PLAINTEXT = '123-45-6789';
const GOLDEN_CONTEXT_HEX =
  '00000004' +
  '61636d65' + // tenant 'acme'
  '00000004' +
  '6d61696e' + // database 'main'
  '00000008' +
  '70617469656e7473' + // table 'patients'
  '00000003' +
  '73736e' + // column 'ssn'
  '00000002' +
  '3432'; // row '42'

interface Golden {
  readonly algorithm: AeadName;
  readonly id: number;
  readonly header: string;
  readonly overhead: number;
  readonly envelope: string;
}

const GOLDEN: readonly Golden[] = [
  {
    algorithm: 'xchacha20-poly1305',
    id: 1,
    header: '01010102030400000005',
    overhead: 10 + 24 + 16,
    envelope:
      '010101020304000000052e3c0fe7d95fbcfcd7b6e3ab7913566822da3cedf0c6f03106966ebf218fcec043af572ba1a362d068ceec43bbe1cc1cfc4856',
  },
  {
    algorithm: 'aes-256-gcm',
    id: 2,
    header: '01020102030400000005',
    overhead: 10 + 12 + 16,
    envelope:
      '01020102030400000005c52191b336ee216bea3febb7be10158e3a235a2d2faee880fc5e8ff5649cd3abb14e86b0b752f4',
  },
  {
    algorithm: 'chacha20-poly1305',
    id: 3,
    header: '01030102030400000005',
    overhead: 10 + 12 + 16,
    envelope:
      '01030102030400000005b94b9eaec68c807587f1bc9b2095355d0fa1e9b77b9c84854262a9d31f5ed91510b31fe76d36b7',
  },
  {
    algorithm: 'aegis-256',
    id: 4,
    header: '01040102030400000005',
    overhead: 10 + 32 + 32,
    envelope:
      '01040102030400000005f150c0b358d251ce257c19112504297c9972f57b1ec44ac7255c38b9b037c521455e926b133731e7f1d5675c08d3cca2ce628764e4d69cc8544927f83b9defc1242b9a18b031974c61bd81',
  },
];

/** Opens an envelope with an implementation other than Fortress's, given the documented layout. */
function referenceOpen(
  algorithm: AeadName,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array {
  switch (algorithm) {
    case 'xchacha20-poly1305':
      return xchacha20poly1305(key, nonce, aad).decrypt(sealed);
    case 'aes-256-gcm':
      return gcm(key, nonce, aad).decrypt(sealed);
    case 'chacha20-poly1305':
      return chacha20poly1305(key, nonce, aad).decrypt(sealed);
    case 'aegis-256':
      return sodium.crypto_aead_aegis256_decrypt(null, sealed, aad, nonce, key);
  }
}

describe('golden vectors (format pin)', () => {
  it('pins the constants and algorithm ids', () => {
    expect(ENVELOPE_FORMAT_VERSION).toBe(1);
    expect(ENVELOPE_HEADER_LENGTH).toBe(10);
    expect(Object.fromEntries(listAeads().map((aead) => [aead.name, aead.id]))).toEqual({
      'xchacha20-poly1305': 1,
      'aes-256-gcm': 2,
      'chacha20-poly1305': 3,
      'aegis-256': 4,
    });
    expect(
      Object.fromEntries(listAeads().map((a) => [a.name, [a.keyLength, a.nonceLength, a.tagLength]])),
    ).toEqual({
      'xchacha20-poly1305': [32, 24, 16],
      'aes-256-gcm': [32, 12, 16],
      'chacha20-poly1305': [32, 12, 16],
      'aegis-256': [32, 32, 32],
    });
  });

  it('pins the canonical context encoding', () => {
    expect(hex(EncryptionContext.of(GOLDEN_FIELDS).encode())).toBe(GOLDEN_CONTEXT_HEX);
    expect(hex(EncryptionContext.of({ ...GOLDEN_FIELDS, row: utf8('42') }).encode())).toBe(
      GOLDEN_CONTEXT_HEX,
    );
    expect(hex(EncryptionContext.EMPTY.encode())).toBe('00'.repeat(20));
    expect(hex(EncryptionContext.of({ row: new Uint8Array([0, 0xff]) }).encode())).toBe(
      '00000000'.repeat(4) + '0000000200ff',
    );
    expect(hex(EncryptionContext.of({ table: 'é' }).encode())).toBe(
      '0000000000000000' + '00000002c3a9' + '0000000000000000',
    );
  });

  it.each(GOLDEN)('$algorithm: the fixed envelope decrypts and its header reads back', (golden) => {
    using key = keyFor(golden.algorithm, 0x01020304, 5, GOLDEN_KEY);
    const envelope = unhex(golden.envelope);
    const context = EncryptionContext.of(GOLDEN_FIELDS);
    expect(new TextDecoder().decode(decrypt(key, envelope, context))).toBe(GOLDEN_PLAINTEXT);
    expect(readEnvelopeHeader(envelope)).toEqual({
      formatVersion: 1,
      algorithm: golden.algorithm,
      keyId: 0x01020304,
      keyVersion: 5,
      overhead: golden.overhead,
    });
    expect(envelope.length).toBe(golden.overhead + GOLDEN_PLAINTEXT.length);
    // Header bytes: version 0x01, algorithm id, key id (u32 BE), key version (u32 BE).
    expect(hex(envelope.subarray(0, 10))).toBe(golden.header);
    expect(golden.header).toBe(`01${golden.id.toString(16).padStart(2, '0')}0102030400000005`);
  });

  it.each(GOLDEN)(
    '$algorithm: the fixed envelope opens with an independent AEAD given the documented layout',
    (golden) => {
      // envelope = header ‖ nonce ‖ AEAD(key, nonce, aad = header ‖ canonical context, plaintext)
      const aead = getAead(golden.algorithm);
      const envelope = unhex(golden.envelope);
      const header = envelope.subarray(0, ENVELOPE_HEADER_LENGTH);
      const nonce = envelope.subarray(ENVELOPE_HEADER_LENGTH, ENVELOPE_HEADER_LENGTH + aead.nonceLength);
      const sealed = envelope.subarray(ENVELOPE_HEADER_LENGTH + aead.nonceLength);
      const aad = Buffer.concat([header, unhex(GOLDEN_CONTEXT_HEX)]);
      const opened = referenceOpen(golden.algorithm, GOLDEN_KEY, nonce, aad, sealed);
      expect(new TextDecoder().decode(opened)).toBe(GOLDEN_PLAINTEXT);
    },
  );

  it.each(GOLDEN)('$algorithm: fresh envelopes keep the pinned header and length', (golden) => {
    using key = keyFor(golden.algorithm, 0x01020304, 5, GOLDEN_KEY);
    const envelope = encrypt(key, utf8(GOLDEN_PLAINTEXT), EncryptionContext.of(GOLDEN_FIELDS));
    expect(hex(envelope.subarray(0, 10))).toBe(golden.header);
    expect(envelope.length).toBe(unhex(golden.envelope).length);
    // And an independent implementation opens a fresh one too.
    const aead = getAead(golden.algorithm);
    const opened = referenceOpen(
      golden.algorithm,
      GOLDEN_KEY,
      envelope.subarray(10, 10 + aead.nonceLength),
      Buffer.concat([envelope.subarray(0, 10), unhex(GOLDEN_CONTEXT_HEX)]),
      envelope.subarray(10 + aead.nonceLength),
    );
    expect(new TextDecoder().decode(opened)).toBe(GOLDEN_PLAINTEXT);
  });

  it('header fields use the full unsigned 32-bit range, big-endian', () => {
    for (const [id, version, expected] of [
      [0, 0, '0000000000000000'],
      [0xffff_ffff, 0xffff_ffff, 'ffffffffffffffff'],
      [0x8000_0000, 1, '8000000000000001'],
    ] as const) {
      using key = keyFor('xchacha20-poly1305', id, version);
      const envelope = encrypt(key, utf8('v'));
      expect(hex(envelope.subarray(2, 10))).toBe(expected);
      const header = readEnvelopeHeader(envelope);
      expect([header.keyId, header.keyVersion]).toEqual([id, version]);
      expect(decrypt(key, envelope).toString()).toBe('v');
    }
  });
});
