/**
 * Bad input at every public function of src/crypto/index.ts: wrong types (string, number, null,
 * undefined, array, plain object, Uint16Array/ArrayBuffer where bytes are expected), wrong key
 * lengths, empty and oversized values, unknown algorithm and normaliser names, bad context fields,
 * out-of-range parameters and malformed encodings.
 *
 * Every case must throw a FortressError with one specific `code` (never a TypeError or a library
 * error, never a silent success), with a short message that contains no key bytes, seed bytes or
 * passphrase.
 */
import { describe, expect, it } from 'vitest';
import {
  aeadDecrypt,
  aeadEncrypt,
  BlindIndex,
  combineShares,
  composeNormalizers,
  constantTimeEqual,
  createSigner,
  createVerifier,
  DataKey,
  decodeKdfParams,
  decrypt,
  decryptMany,
  deriveKeyFromPassphrase,
  deriveSubkey,
  encodeKdfParams,
  encrypt,
  encryptMany,
  EncryptionContext,
  generateSigner,
  getAead,
  hashPassphrase,
  hkdfSha256,
  hmacSha256,
  inspectShare,
  isAeadName,
  listAeads,
  MAX_CONTEXT_FIELD_BYTES,
  MAX_PLAINTEXT_BYTES,
  MAX_SECRET_KEY_BYTES,
  passphraseParams,
  planBlindIndexBits,
  randomBytes,
  readEnvelopeHeader,
  SecretKey,
  signatureSizes,
  splitSecret,
  verifyHmacSha256,
  verifyPassphrase,
  type PassphraseKdfParams,
} from '../../src/crypto/index.js';
import { FortressError, type ErrorCode } from '../../src/util/errors.js';

// ---------------------------------------------------------------------------------------------
// Fixtures. Keys use recognisable bytes so a leak into an error message is detectable.

const KEY_BYTES = Uint8Array.from({ length: 32 }, (_, i) => 0x5a ^ (i * 7));
const SEED_BYTES = Uint8Array.from({ length: 32 }, (_, i) => 0xc3 ^ (i * 11));
const PASSPHRASE = 'hunter2-very-secret-passphrase';
const SECRETS: readonly string[] = [
  Buffer.from(KEY_BYTES).toString('hex'),
  Buffer.from(KEY_BYTES.subarray(0, 8)).toString('hex'),
  Buffer.from(KEY_BYTES).toString('base64').slice(0, 16),
  Buffer.from(SEED_BYTES).toString('hex'),
  Buffer.from(SEED_BYTES.subarray(0, 8)).toString('hex'),
  Array.from(KEY_BYTES.subarray(0, 6)).join(','),
  PASSPHRASE,
];

const key = (bytes: Uint8Array = KEY_BYTES): SecretKey => SecretKey.fromBytes(bytes);
const keyOfLength = (length: number): SecretKey =>
  SecretKey.fromBytes(Uint8Array.from({ length }, (_, i) => KEY_BYTES[i % 32]!));
const disposedKey = (length = 32): SecretKey => {
  const k = keyOfLength(length);
  k.dispose();
  return k;
};
const dataKey = (algorithm: 'xchacha20-poly1305' | 'aes-256-gcm' = 'xchacha20-poly1305'): DataKey =>
  new DataKey({ id: 1, version: 1, algorithm, key: key() });
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const show = (value: unknown): string => (value === undefined ? 'undefined' : JSON.stringify(value));

let hugeCache: Uint8Array | undefined;
/** MAX_PLAINTEXT_BYTES + 1 bytes, allocated once. */
const huge = (): Uint8Array => (hugeCache ??= new Uint8Array(MAX_PLAINTEXT_BYTES + 1));

/** Values of the wrong type for an argument that expects bytes. */
const NOT_BYTES: readonly (readonly [string, unknown])[] = [
  ['a string', '00112233'],
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an array of numbers', [1, 2, 3]],
  ['a plain object', { length: 32 }],
  ['a Uint16Array', new Uint16Array(16)],
  ['an ArrayBuffer', new ArrayBuffer(32)],
  ['a DataView', new DataView(new ArrayBuffer(32))],
];
/** For optional parameters with a default (`= …`): undefined selects the default. */
const NOT_BYTES_OPTIONAL = NOT_BYTES.filter(([name]) => name !== 'undefined');
/** For optional option fields read with `?? default`: null and undefined both select the default. */
const NOT_BYTES_NULLISH_DEFAULT = NOT_BYTES_OPTIONAL.filter(([name]) => name !== 'null');

/** Values of the wrong type for an argument that expects a SecretKey. */
const NOT_A_KEY: readonly (readonly [string, unknown])[] = [
  ...NOT_BYTES,
  ['raw key bytes', KEY_BYTES],
  ['a Buffer of key bytes', Buffer.from(KEY_BYTES)],
  ['a key-like object', { length: 32, disposed: false }],
];

const NOT_AN_INTEGER: readonly (readonly [string, unknown])[] = [
  ['1.5', 1.5],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['a numeric string', '16'],
  ['null', null],
  ['an array', [16]],
  ['an object', {}],
];

// ---------------------------------------------------------------------------------------------

interface Case {
  readonly name: string;
  /** The expected code, or the codes acceptable where two are equally right. */
  readonly code: ErrorCode | readonly ErrorCode[];
  readonly run: () => unknown;
}

function caseList(
  build: (add: (name: string, code: Case['code'], run: () => unknown) => void) => void,
): Case[] {
  const cases: Case[] = [];
  build((name, code, run) => cases.push({ name, code, run }));
  return cases;
}

async function check({ code, run }: Case): Promise<void> {
  let outcome: unknown;
  let threw = false;
  try {
    outcome = await run();
  } catch (error) {
    threw = true;
    outcome = error;
  }
  if (!threw) return expect.fail(`expected ${String(code)}, but the call succeeded`);
  if (!(outcome instanceof FortressError)) {
    const described = outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : String(outcome);
    return expect.fail(`expected FortressError ${String(code)}, got ${described}`);
  }
  if (typeof code === 'string') expect(outcome.code).toBe(code);
  else expect(code).toContain(outcome.code);
  expect(outcome.message.length).toBeGreaterThan(0);
  expect(outcome.message.length).toBeLessThan(400);
  for (const secret of SECRETS) expect(outcome.message).not.toContain(secret);
  return undefined;
}

function run(cases: readonly Case[]): void {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await check(c);
  });
}

// ---------------------------------------------------------------------------------------------
describe('AEAD registry and raw AEADs', () => {
  const UNKNOWN_NAMES: readonly unknown[] = [
    'aes-128-gcm',
    'AES-256-GCM',
    'aes-256-gcm ',
    'xchacha20poly1305',
    'chacha20',
    '',
    'x'.repeat(100_000),
    42,
    null,
    undefined,
    ['aes-256-gcm'],
    { name: 'aes-256-gcm' },
  ];

  run(
    caseList((add) => {
      for (const name of UNKNOWN_NAMES) {
        const label = typeof name === 'string' ? JSON.stringify(name.slice(0, 20)) : show(name);
        add(`getAead(${label})`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () => getAead(name as never));
        add(`aeadEncrypt(${label}, …)`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () =>
          aeadEncrypt(name as never, key(), new Uint8Array(12), new Uint8Array(1)),
        );
        add(`aeadDecrypt(${label}, …)`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () =>
          aeadDecrypt(name as never, key(), new Uint8Array(12), new Uint8Array(16)),
        );
      }
      for (const aead of listAeads()) {
        const n = aead.nonceLength;
        const name = aead.name;
        const nonce = new Uint8Array(n);
        const sealed = aeadEncrypt(name, key(), nonce, utf8('x'));
        for (const [what, value] of NOT_A_KEY) {
          add(`aeadEncrypt(${name}) key: ${what}`, 'FX_INVALID_ARGUMENT', () =>
            aeadEncrypt(name, value as never, nonce, utf8('x')),
          );
          add(`aeadDecrypt(${name}) key: ${what}`, 'FX_INVALID_ARGUMENT', () =>
            aeadDecrypt(name, value as never, nonce, sealed),
          );
        }
        for (const length of [16, 24, 31, 33, 64]) {
          add(`aeadEncrypt(${name}) key of ${length} bytes`, 'FX_INVALID_ARGUMENT', () =>
            aeadEncrypt(name, keyOfLength(length), nonce, utf8('x')),
          );
          add(`aeadDecrypt(${name}) key of ${length} bytes`, 'FX_INVALID_ARGUMENT', () =>
            aeadDecrypt(name, keyOfLength(length), nonce, sealed),
          );
        }
        add(`aeadEncrypt(${name}) disposed key`, 'FX_CRYPTO_KEY_DISPOSED', () =>
          aeadEncrypt(name, disposedKey(), nonce, utf8('x')),
        );
        add(`aeadDecrypt(${name}) disposed key`, 'FX_CRYPTO_KEY_DISPOSED', () =>
          aeadDecrypt(name, disposedKey(), nonce, sealed),
        );
        for (const [what, value] of NOT_BYTES) {
          add(`aeadEncrypt(${name}) nonce: ${what}`, 'FX_INVALID_ARGUMENT', () =>
            aeadEncrypt(name, key(), value as never, utf8('x')),
          );
          add(`aeadEncrypt(${name}) plaintext: ${what}`, 'FX_INVALID_ARGUMENT', () =>
            aeadEncrypt(name, key(), nonce, value as never),
          );
          add(`aeadDecrypt(${name}) nonce: ${what}`, 'FX_INVALID_ARGUMENT', () =>
            aeadDecrypt(name, key(), value as never, sealed),
          );
          add(`aeadDecrypt(${name}) sealed: ${what}`, 'FX_INVALID_ARGUMENT', () =>
            aeadDecrypt(name, key(), nonce, value as never),
          );
        }
        for (const [what, value] of NOT_BYTES_OPTIONAL) {
          add(`aeadEncrypt(${name}) aad: ${what}`, 'FX_INVALID_ARGUMENT', () =>
            aeadEncrypt(name, key(), nonce, utf8('x'), value as never),
          );
          add(`aeadDecrypt(${name}) aad: ${what}`, 'FX_INVALID_ARGUMENT', () =>
            aeadDecrypt(name, key(), nonce, sealed, value as never),
          );
        }
        for (const length of [0, n - 1, n + 1, n === 12 ? 24 : 12]) {
          add(`aeadEncrypt(${name}) nonce of ${length} bytes`, 'FX_INVALID_ARGUMENT', () =>
            aeadEncrypt(name, key(), new Uint8Array(length), utf8('x')),
          );
          add(`aeadDecrypt(${name}) nonce of ${length} bytes`, 'FX_INVALID_ARGUMENT', () =>
            aeadDecrypt(name, key(), new Uint8Array(length), sealed),
          );
        }
        add(`aeadDecrypt(${name}) sealed shorter than the tag`, 'FX_INVALID_ARGUMENT', () =>
          aeadDecrypt(name, key(), nonce, sealed.subarray(0, aead.tagLength - 1)),
        );
        add(`aeadDecrypt(${name}) empty sealed`, 'FX_INVALID_ARGUMENT', () =>
          aeadDecrypt(name, key(), nonce, new Uint8Array(0)),
        );
        add(`aeadDecrypt(${name}) a tag of zeros`, 'FX_INTEGRITY', () =>
          aeadDecrypt(name, key(), nonce, new Uint8Array(aead.tagLength)),
        );
        add(`aeadDecrypt(${name}) wrong key`, 'FX_INTEGRITY', () =>
          aeadDecrypt(name, key(SEED_BYTES), nonce, sealed),
        );
        add(`aeadDecrypt(${name}) wrong aad`, 'FX_INTEGRITY', () =>
          aeadDecrypt(name, key(), nonce, sealed, utf8('aad')),
        );
      }
    }),
  );

  it('isAeadName is false (never throws) for anything but a provided name', () => {
    for (const name of UNKNOWN_NAMES) expect(isAeadName(name)).toBe(false);
    for (const aead of listAeads()) expect(isAeadName(aead.name)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
describe('SecretKey, constantTimeEqual, randomBytes', () => {
  run(
    caseList((add) => {
      for (const [what, value] of [
        ...NOT_AN_INTEGER,
        ['0', 0],
        ['-1', -1],
        [`${MAX_SECRET_KEY_BYTES + 1}`, MAX_SECRET_KEY_BYTES + 1],
      ] as const) {
        add(`SecretKey.generate(${what})`, 'FX_INVALID_ARGUMENT', () => SecretKey.generate(value as never));
        add(`SecretKey.fill(${what}, …)`, 'FX_INVALID_ARGUMENT', () =>
          SecretKey.fill(value as never, () => undefined),
        );
      }
      for (const [what, value] of NOT_BYTES) {
        add(`SecretKey.fromBytes(${what})`, 'FX_INVALID_ARGUMENT', () => SecretKey.fromBytes(value as never));
      }
      add('SecretKey.fromBytes(empty)', 'FX_INVALID_ARGUMENT', () => SecretKey.fromBytes(new Uint8Array(0)));
      add(`SecretKey.fromBytes(${MAX_SECRET_KEY_BYTES + 1} bytes)`, 'FX_INVALID_ARGUMENT', () =>
        SecretKey.fromBytes(new Uint8Array(MAX_SECRET_KEY_BYTES + 1)),
      );
      add('SecretKey.fromBytes(bytes, null options)', 'FX_INVALID_ARGUMENT', () =>
        SecretKey.fromBytes(KEY_BYTES, null as never),
      );
      for (const [what, value] of NOT_A_KEY) {
        add(`key.equals(${what})`, 'FX_INVALID_ARGUMENT', () => key().equals(value as never));
      }
      add('key.equals(a disposed key)', 'FX_CRYPTO_KEY_DISPOSED', () => key().equals(disposedKey()));
      add('disposed.equals(key)', 'FX_CRYPTO_KEY_DISPOSED', () => disposedKey().equals(key()));
      add('disposed.exportRaw()', 'FX_CRYPTO_KEY_DISPOSED', () => disposedKey().exportRaw());
      for (const [what, value] of NOT_BYTES) {
        add(`constantTimeEqual(${what}, bytes)`, 'FX_INVALID_ARGUMENT', () =>
          constantTimeEqual(value as never, KEY_BYTES),
        );
        add(`constantTimeEqual(bytes, ${what})`, 'FX_INVALID_ARGUMENT', () =>
          constantTimeEqual(KEY_BYTES, value as never),
        );
      }
      for (const [what, value] of [
        ...NOT_AN_INTEGER,
        ['-1', -1],
        ['2^30 + 1', 2 ** 30 + 1],
        ['undefined', undefined],
      ] as const) {
        add(`randomBytes(${what})`, 'FX_INVALID_ARGUMENT', () => randomBytes(value as never));
      }
    }),
  );
});

// ---------------------------------------------------------------------------------------------
describe('DataKey', () => {
  const base = () => ({ id: 1, version: 1, algorithm: 'aes-256-gcm' as const, key: key() });
  run(
    caseList((add) => {
      for (const [what, value] of [
        ['null', null],
        ['undefined', undefined],
        ['a string', 'options'],
        ['a number', 1],
      ] as const) {
        add(`new DataKey(${what})`, 'FX_INVALID_ARGUMENT', () => new DataKey(value as never));
        add(`DataKey.generate(${what})`, 'FX_INVALID_ARGUMENT', () => DataKey.generate(value as never));
      }
      for (const field of ['id', 'version'] as const) {
        for (const [what, value] of [
          ...NOT_AN_INTEGER,
          ['-1', -1],
          ['2^32', 2 ** 32],
          ['undefined', undefined],
        ] as const) {
          add(
            `new DataKey({ ${field}: ${what} })`,
            'FX_INVALID_ARGUMENT',
            () => new DataKey({ ...base(), [field]: value as never }),
          );
          add(`DataKey.generate({ ${field}: ${what} })`, 'FX_INVALID_ARGUMENT', () =>
            DataKey.generate({ id: 1, version: 1, [field]: value as never }),
          );
        }
      }
      for (const name of ['aes-128-gcm', 'AES-256-GCM', '', 42, ['aes-256-gcm']] as const) {
        add(
          `new DataKey({ algorithm: ${JSON.stringify(name)} })`,
          'FX_CRYPTO_UNKNOWN_ALGORITHM',
          () => new DataKey({ ...base(), algorithm: name as never }),
        );
        add(`DataKey.generate({ algorithm: ${JSON.stringify(name)} })`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () =>
          DataKey.generate({ id: 1, version: 1, algorithm: name as never }),
        );
      }
      for (const [what, value] of NOT_A_KEY) {
        add(
          `new DataKey({ key: ${what} })`,
          'FX_INVALID_ARGUMENT',
          () => new DataKey({ ...base(), key: value as never }),
        );
      }
      for (const length of [16, 31, 33, 64]) {
        add(
          `new DataKey({ key: ${length}-byte SecretKey })`,
          'FX_INVALID_ARGUMENT',
          () => new DataKey({ ...base(), key: keyOfLength(length) }),
        );
      }
      add(
        'new DataKey({ key: disposed })',
        'FX_CRYPTO_KEY_DISPOSED',
        () => new DataKey({ ...base(), key: disposedKey() }),
      );
      for (const [what, value] of [
        ['-1', -1],
        ['1.5', 1.5],
        ['NaN', NaN],
        ['a numeric string', '0'],
        ['2^53', 2 ** 53],
      ] as const) {
        add(
          `new DataKey({ encryptions: ${what} })`,
          'FX_INVALID_ARGUMENT',
          () => new DataKey({ ...base(), encryptions: value as never }),
        );
      }
    }),
  );
});

// ---------------------------------------------------------------------------------------------
describe('EncryptionContext', () => {
  const FIELDS = ['tenant', 'database', 'table', 'column', 'row'] as const;
  const tooLong = 'a'.repeat(MAX_CONTEXT_FIELD_BYTES + 1);
  const tooLongMultibyte = 'é'.repeat(MAX_CONTEXT_FIELD_BYTES / 2 + 1); // 65,538 UTF-8 bytes in 32,769 characters
  run(
    caseList((add) => {
      for (const [what, value] of [
        ['null', null],
        ['undefined', undefined],
        ['a string', 'patients.ssn'],
        ['a number', 7],
        ['an array', ['acme']],
        ['bytes', new Uint8Array(4)],
      ] as const) {
        add(`EncryptionContext.of(${what})`, 'FX_INVALID_ARGUMENT', () =>
          EncryptionContext.of(value as never),
        );
      }
      for (const unknown of ['tenantId', 'Tenant', 'schema', 'rowKey', '', '__proto__', 'constructor']) {
        add(`EncryptionContext.of({ ${JSON.stringify(unknown)}: … })`, 'FX_INVALID_ARGUMENT', () =>
          EncryptionContext.of(JSON.parse(`{${JSON.stringify(unknown)}: "x"}`) as never),
        );
      }
      add('EncryptionContext.of({ table, extra: … })', 'FX_INVALID_ARGUMENT', () =>
        EncryptionContext.of({ table: 't', extra: 'x' } as never),
      );
      for (const field of FIELDS) {
        for (const [what, value] of [
          ['a number', 42],
          ['null', null],
          ['an array', ['x']],
          ['a plain object', { toString: () => 'x' }],
          ['a Uint16Array', new Uint16Array(2)],
          ['a boolean', true],
        ] as const) {
          add(`EncryptionContext.of({ ${field}: ${what} })`, 'FX_INVALID_ARGUMENT', () =>
            EncryptionContext.of({ [field]: value }),
          );
        }
        if (field !== 'row') {
          add(`EncryptionContext.of({ ${field}: bytes }) (only row takes bytes)`, 'FX_INVALID_ARGUMENT', () =>
            EncryptionContext.of({ [field]: utf8('x') }),
          );
        }
        for (const [what, value] of [
          ['a lone high surrogate', '\ud800'],
          ['a lone low surrogate', 'x\udc00y'],
          ['a truncated pair', 'ok\ud83d'],
          ['a reversed pair', '\ude00\ud83d'],
        ] as const) {
          add(`EncryptionContext.of({ ${field}: ${what} })`, 'FX_INVALID_ARGUMENT', () =>
            EncryptionContext.of({ [field]: value }),
          );
        }
        add(
          `EncryptionContext.of({ ${field}: ${MAX_CONTEXT_FIELD_BYTES + 1} ASCII bytes })`,
          'FX_INVALID_ARGUMENT',
          () => EncryptionContext.of({ [field]: tooLong }),
        );
        add(`EncryptionContext.of({ ${field}: 32,769 × "é" = 65,538 bytes })`, 'FX_INVALID_ARGUMENT', () =>
          EncryptionContext.of({ [field]: tooLongMultibyte }),
        );
      }
      add(`EncryptionContext.of({ row: ${MAX_CONTEXT_FIELD_BYTES + 1} bytes })`, 'FX_INVALID_ARGUMENT', () =>
        EncryptionContext.of({ row: new Uint8Array(MAX_CONTEXT_FIELD_BYTES + 1) }),
      );
      for (const [what, value] of [
        ['a number', 42],
        ['null', null],
        ['undefined', undefined],
        ['a Uint16Array', new Uint16Array(2)],
        ['a lone surrogate', '\udfff'],
        ['an over-long string', tooLong],
        ['over-long bytes', new Uint8Array(MAX_CONTEXT_FIELD_BYTES + 1)],
      ] as const) {
        add(`context.withRow(${what})`, 'FX_INVALID_ARGUMENT', () =>
          EncryptionContext.of({ table: 't' }).withRow(value as never),
        );
      }
    }),
  );

  it('accepts fields of exactly MAX_CONTEXT_FIELD_BYTES', () => {
    const exact = 'é'.repeat(MAX_CONTEXT_FIELD_BYTES / 2);
    expect(
      EncryptionContext.of({ tenant: exact, row: new Uint8Array(MAX_CONTEXT_FIELD_BYTES) }).encode().length,
    ).toBe(5 * 4 + 2 * MAX_CONTEXT_FIELD_BYTES);
  });
});

// ---------------------------------------------------------------------------------------------
describe('envelope functions', () => {
  const context = EncryptionContext.of({ table: 't' });
  const makeEnvelope = (): Uint8Array => encrypt(dataKey(), utf8('value'), context);
  const header = (bytes: readonly number[], length: number): Uint8Array => {
    const out = new Uint8Array(length);
    out.set(bytes);
    return out;
  };
  const NOT_A_DATA_KEY: readonly (readonly [string, unknown])[] = [
    ...NOT_A_KEY,
    ['a SecretKey', SecretKey.fromBytes(KEY_BYTES)],
    ['a DataKey-like object', { id: 1, version: 1, algorithm: 'xchacha20-poly1305' }],
  ];
  const NOT_A_CONTEXT: readonly (readonly [string, unknown])[] = [
    ['a plain object', { table: 't' }],
    ['a string', 't'],
    ['null', null],
    ['a number', 1],
    ['bytes', context.encode()],
  ];

  run(
    caseList((add) => {
      for (const [what, value] of NOT_BYTES) {
        add(`readEnvelopeHeader(${what})`, 'FX_INVALID_ARGUMENT', () => readEnvelopeHeader(value as never));
        add(`decrypt(key, ${what})`, 'FX_INVALID_ARGUMENT', () =>
          decrypt(dataKey(), value as never, context),
        );
        add(`encrypt(key, ${what})`, 'FX_INVALID_ARGUMENT', () =>
          encrypt(dataKey(), value as never, context),
        );
      }
      for (const length of [0, 1, 9]) {
        add(`readEnvelopeHeader(${length} bytes)`, 'FX_CRYPTO_MALFORMED_ENVELOPE', () =>
          readEnvelopeHeader(new Uint8Array(length).fill(1)),
        );
        add(`decrypt(key, ${length} bytes)`, 'FX_CRYPTO_MALFORMED_ENVELOPE', () =>
          decrypt(dataKey(), new Uint8Array(length).fill(1)),
        );
      }
      for (const version of [0, 2, 0x81, 255]) {
        add(`readEnvelopeHeader(format version ${version})`, 'FX_CRYPTO_UNSUPPORTED_VERSION', () =>
          readEnvelopeHeader(header([version, 1], 80)),
        );
      }
      for (const id of [0, 5, 0x81, 255]) {
        add(`readEnvelopeHeader(algorithm id ${id})`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () =>
          readEnvelopeHeader(header([1, id], 80)),
        );
        add(`decrypt(key, algorithm id ${id})`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () =>
          decrypt(dataKey(), header([1, id], 80)),
        );
      }
      for (const aead of listAeads()) {
        const min = 10 + aead.nonceLength + aead.tagLength;
        add(`readEnvelopeHeader(${aead.name}, ${min - 1} bytes)`, 'FX_CRYPTO_MALFORMED_ENVELOPE', () =>
          readEnvelopeHeader(header([1, aead.id], min - 1)),
        );
      }
      for (const [what, value] of NOT_A_DATA_KEY) {
        add(`encrypt(key: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          encrypt(value as never, utf8('v'), context),
        );
        add(`decrypt(key: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          decrypt(value as never, makeEnvelope(), context),
        );
        add(`encryptMany(key: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          encryptMany(value as never, [utf8('v')], context),
        );
        add(`decryptMany(key: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          decryptMany(value as never, [makeEnvelope()], context),
        );
        if (value !== undefined && value !== null) {
          add(`decrypt(resolver returning ${what})`, 'FX_INVALID_ARGUMENT', () =>
            decrypt(() => value as never, makeEnvelope(), context),
          );
        }
      }
      add('decrypt(resolver returning null)', 'FX_INVALID_ARGUMENT', () =>
        decrypt(() => null as never, makeEnvelope(), context),
      );
      add('decrypt(resolver returning a resolver)', 'FX_INVALID_ARGUMENT', () => {
        const resolver = (): unknown => resolver;
        return decrypt(resolver as never, makeEnvelope(), context);
      });
      add('decrypt(resolver returning undefined)', 'FX_CRYPTO_KEY_MISMATCH', () =>
        decrypt(() => undefined, makeEnvelope(), context),
      );
      for (const [what, value] of NOT_A_CONTEXT) {
        add(`encrypt(context: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          encrypt(dataKey(), utf8('v'), value as never),
        );
        add(`decrypt(context: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          decrypt(dataKey(), makeEnvelope(), value as never),
        );
        add(`encryptMany(contexts: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          encryptMany(dataKey(), [utf8('v')], value as never),
        );
        add(`decryptMany(contexts: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          decryptMany(dataKey(), [makeEnvelope()], value as never),
        );
        add(`encryptMany(contexts[1]: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          encryptMany(dataKey(), [utf8('a'), utf8('b')], [context, value as never]),
        );
        add(`decryptMany(contexts[1]: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          decryptMany(dataKey(), [makeEnvelope(), makeEnvelope()], [context, value as never]),
        );
      }
      add('encrypt(MAX_PLAINTEXT_BYTES + 1)', 'FX_CRYPTO_VALUE_TOO_LARGE', () =>
        encrypt(dataKey(), huge(), context),
      );
      add('encryptMany([small, MAX_PLAINTEXT_BYTES + 1])', 'FX_CRYPTO_VALUE_TOO_LARGE', () =>
        encryptMany(dataKey(), [utf8('a'), huge()], context),
      );
      for (const [what, value] of [
        ['a string', 'abc'],
        ['a number', 3],
        ['null', null],
        ['undefined', undefined],
        ['bytes (not an array of bytes)', utf8('abc')],
        ['a plain object', { 0: utf8('a'), length: 1 }],
      ] as const) {
        add(`encryptMany(plaintexts: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          encryptMany(dataKey(), value as never, context),
        );
        add(`decryptMany(envelopes: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          decryptMany(dataKey(), value as never, context),
        );
      }
      for (const [what, value] of NOT_BYTES) {
        add(`encryptMany(plaintexts[1]: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          encryptMany(dataKey(), [utf8('a'), value as never], context),
        );
        add(`decryptMany(envelopes[1]: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          decryptMany(dataKey(), [makeEnvelope(), value as never], context),
        );
      }
      add('encryptMany(2 plaintexts, 1 context)', 'FX_INVALID_ARGUMENT', () =>
        encryptMany(dataKey(), [utf8('a'), utf8('b')], [context]),
      );
      add('decryptMany(1 envelope, 2 contexts)', 'FX_INVALID_ARGUMENT', () =>
        decryptMany(dataKey(), [makeEnvelope()], [context, context]),
      );
      add('decryptMany(envelopes[1] truncated)', 'FX_CRYPTO_MALFORMED_ENVELOPE', () =>
        decryptMany(dataKey(), [makeEnvelope(), makeEnvelope().subarray(0, 12)], context),
      );
    }),
  );

  it('names the index of a bad batch element and counts nothing on a refused batch', () => {
    using k = dataKey('aes-256-gcm');
    const messageOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
      return '(no error)';
    };
    expect(messageOf(() => encryptMany(k, [utf8('a'), utf8('b'), 'c' as never], context))).toContain(
      'plaintexts[2]',
    );
    expect(messageOf(() => encryptMany(k, [utf8('a'), huge()], context))).toContain('plaintexts[1]');
    expect(messageOf(() => encryptMany(k, [utf8('a'), utf8('b')], [context, null as never]))).toContain(
      'contexts[1]',
    );
    expect(
      messageOf(() => decryptMany(k, [encrypt(k, utf8('a'), context), 'x' as never], context)),
    ).toContain('envelopes[1]');
    const before = k.encryptions;
    expect(messageOf(() => encryptMany(k, [utf8('a'), huge()], context))).toContain('limit');
    expect(messageOf(() => encrypt(k, huge(), context))).not.toContain('undefined');
    expect(k.encryptions).toBe(before);
  });
});

// ---------------------------------------------------------------------------------------------
describe('HKDF and HMAC', () => {
  run(
    caseList((add) => {
      for (const [what, value] of NOT_A_KEY.filter(
        ([name]) => name !== 'raw key bytes' && name !== 'a Buffer of key bytes',
      )) {
        add(`deriveSubkey(parent: ${what})`, 'FX_INVALID_ARGUMENT', () => deriveSubkey(value as never, 'x'));
      }
      add('deriveSubkey(parent: raw bytes)', 'FX_INVALID_ARGUMENT', () =>
        deriveSubkey(KEY_BYTES as never, 'x'),
      );
      add('deriveSubkey(parent: disposed)', 'FX_CRYPTO_KEY_DISPOSED', () => deriveSubkey(disposedKey(), 'x'));
      for (const purpose of [
        '',
        'Blind-Index',
        'blind index',
        '-x',
        '_x',
        '.x',
        '/x',
        'naïve',
        'x\u0000',
        'x\n',
        'a'.repeat(129),
        42,
        null,
        undefined,
        ['x'],
      ]) {
        add(`deriveSubkey(purpose: ${show(purpose)})`, 'FX_INVALID_ARGUMENT', () =>
          deriveSubkey(key(), purpose as never),
        );
      }
      for (const [what, value] of [
        ['a number', 42],
        ['null', null],
        ['an array', ['x']],
        ['a Uint16Array', new Uint16Array(2)],
        ['513 bytes', new Uint8Array(513)],
        ['a 513-byte string', 'x'.repeat(513)],
      ] as const) {
        add(`deriveSubkey(context: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          deriveSubkey(key(), 'x', value as never),
        );
      }
      for (const [what, value] of [...NOT_AN_INTEGER, ['0', 0], ['15', 15], ['65', 65]] as const) {
        add(`deriveSubkey(length: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          deriveSubkey(key(), 'x', '', value as never),
        );
      }
      for (const [what, value] of NOT_BYTES) {
        add(`hkdfSha256(ikm: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          hkdfSha256(value as never, { length: 32 }),
        );
      }
      for (const [what, value] of NOT_BYTES_NULLISH_DEFAULT) {
        add(`hkdfSha256(salt: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          hkdfSha256(KEY_BYTES, { salt: value as never, length: 32 }),
        );
        add(`hkdfSha256(info: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          hkdfSha256(KEY_BYTES, { info: value as never, length: 32 }),
        );
      }
      add('hkdfSha256(ikm: disposed key)', 'FX_CRYPTO_KEY_DISPOSED', () =>
        hkdfSha256(disposedKey(), { length: 32 }),
      );
      add('hkdfSha256(info: 1025 bytes)', 'FX_INVALID_ARGUMENT', () =>
        hkdfSha256(KEY_BYTES, { info: new Uint8Array(1025), length: 32 }),
      );
      for (const [what, value] of [
        ...NOT_AN_INTEGER,
        ['0', 0],
        ['8161', 255 * 32 + 1],
        ['undefined', undefined],
      ] as const) {
        add(`hkdfSha256(length: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          hkdfSha256(KEY_BYTES, { length: value as never }),
        );
      }
      for (const [what, value] of [
        ['null', null],
        ['undefined', undefined],
        ['a number', 32],
      ] as const) {
        add(`hkdfSha256(options: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          hkdfSha256(KEY_BYTES, value as never),
        );
      }
      for (const [what, value] of NOT_BYTES) {
        add(`hmacSha256(key: ${what})`, 'FX_INVALID_ARGUMENT', () => hmacSha256(value as never, utf8('m')));
        add(`hmacSha256(message: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          hmacSha256(KEY_BYTES, value as never),
        );
        add(`verifyHmacSha256(key: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          verifyHmacSha256(value as never, utf8('m'), new Uint8Array(32)),
        );
        add(`verifyHmacSha256(message: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          verifyHmacSha256(KEY_BYTES, value as never, new Uint8Array(32)),
        );
        add(`verifyHmacSha256(tag: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          verifyHmacSha256(KEY_BYTES, utf8('m'), value as never),
        );
      }
      add('hmacSha256(key: empty bytes)', 'FX_INVALID_ARGUMENT', () =>
        hmacSha256(new Uint8Array(0), utf8('m')),
      );
      add('hmacSha256(key: disposed)', 'FX_CRYPTO_KEY_DISPOSED', () => hmacSha256(disposedKey(), utf8('m')));
      add('verifyHmacSha256(key: disposed)', 'FX_CRYPTO_KEY_DISPOSED', () =>
        verifyHmacSha256(disposedKey(), utf8('m'), new Uint8Array(32)),
      );
    }),
  );
});

// ---------------------------------------------------------------------------------------------
describe('passphrase KDFs', () => {
  const SALT = new Uint8Array(16).fill(3);
  const ARGON = { algorithm: 'argon2id', memoryKiB: 1024, iterations: 1, parallelism: 1 } as const;
  const SCRYPT = { algorithm: 'scrypt', logN: 10, blockSize: 8, parallelism: 1 } as const;
  const FULL_ARGON: PassphraseKdfParams = { ...ARGON, salt: SALT };
  const SALT_B64 = 'AwMDAwMDAwMDAwMDAwMDAw'; // 16 × 0x03
  const HASH_B64 = Buffer.alloc(32, 9).toString('base64').replace(/=+$/, '');

  const BAD_OVERRIDES: readonly (readonly [string, Record<string, unknown>])[] = [
    ['memoryKiB 1023', { ...ARGON, memoryKiB: 1023 }],
    ['memoryKiB over 4 GiB', { ...ARGON, memoryKiB: 4 * 1024 * 1024 + 1 }],
    ['memoryKiB 1.5', { ...ARGON, memoryKiB: 1024.5 }],
    ['memoryKiB as a string', { ...ARGON, memoryKiB: '1024' }],
    ['memoryKiB below 8 × parallelism', { ...ARGON, parallelism: 200, memoryKiB: 1024 }],
    ['iterations 0', { ...ARGON, iterations: 0 }],
    ['iterations 65', { ...ARGON, iterations: 65 }],
    ['parallelism 0', { ...ARGON, parallelism: 0 }],
    ['parallelism 256', { ...ARGON, parallelism: 256 }],
    ['salt of 7 bytes', { ...ARGON, salt: new Uint8Array(7) }],
    ['salt of 65 bytes', { ...ARGON, salt: new Uint8Array(65) }],
    ['salt as a string', { ...ARGON, salt: 'saltsaltsalt' }],
    ['salt as a Uint16Array', { ...ARGON, salt: new Uint16Array(16) }],
    ['scrypt logN 9', { ...SCRYPT, logN: 9 }],
    ['scrypt logN 23', { ...SCRYPT, logN: 23 }],
    ['scrypt blockSize 0', { ...SCRYPT, blockSize: 0 }],
    ['scrypt blockSize 33', { ...SCRYPT, blockSize: 33 }],
    ['scrypt parallelism 0', { ...SCRYPT, parallelism: 0 }],
    ['scrypt parallelism 17', { ...SCRYPT, parallelism: 17 }],
    ['an unknown algorithm', { algorithm: 'pbkdf2', memoryKiB: 1024, iterations: 1, parallelism: 1 }],
  ];

  const BAD_PHC: readonly string[] = [
    '',
    'argon2id',
    '$argon2id',
    '$argon2id$v=19',
    `$argon2id$v=19$m=1024,t=1,p=1`,
    `$argon2id$v=19$m=1024,t=1,p=1$`,
    `$argon2i$v=19$m=1024,t=1,p=1$${SALT_B64}`,
    `$argon2d$v=19$m=1024,t=1,p=1$${SALT_B64}`,
    `$ARGON2ID$v=19$m=1024,t=1,p=1$${SALT_B64}`,
    `$argon2id$v=16$m=1024,t=1,p=1$${SALT_B64}`,
    `$argon2id$m=1024,t=1,p=1$${SALT_B64}`,
    `$argon2id$v=19$t=1,m=1024,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=1024,t=1,p=1,keyid=AAAA$${SALT_B64}`,
    `$argon2id$v=19$m=1024, t=1, p=1$${SALT_B64}`,
    `$argon2id$v=19$m=1023,t=1,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=4194305,t=1,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=99999999,t=1,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=1024,t=0,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=1024,t=65,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=1024,t=1,p=0$${SALT_B64}`,
    `$argon2id$v=19$m=1024,t=1,p=256$${SALT_B64}`,
    `$argon2id$v=19$m=-1024,t=1,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=1e4,t=1,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}==`,
    `$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAA.`,
    `$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAA-`,
    `$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAA`, // 9 characters: length ≡ 1 (mod 4)
    `$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAA`, // 6-byte salt
    `$argon2id$v=19$m=1024,t=1,p=1$${'A'.repeat(88)}`, // 66-byte salt
    `$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$`,
    `$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$${HASH_B64}$`,
    `$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$${HASH_B64}$${HASH_B64}`,
    `$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$${'A'.repeat(20)}`, // 15-byte hash
    `$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$${'A'.repeat(87)}`, // 65-byte hash
    `$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$${HASH_B64}\n`,
    ` $argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}`,
    `$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$${'A'.repeat(500)}`, // over 512 characters
    `$scrypt$ln=9,r=8,p=1$${SALT_B64}`,
    `$scrypt$ln=23,r=8,p=1$${SALT_B64}`,
    `$scrypt$ln=10,r=0,p=1$${SALT_B64}`,
    `$scrypt$ln=10,r=33,p=1$${SALT_B64}`,
    `$scrypt$ln=10,r=8,p=17$${SALT_B64}`,
    `$scrypt$ln=10,r=8$${SALT_B64}`,
    `$scrypt$N=1024,r=8,p=1$${SALT_B64}`,
    `$scrypt$v=19$ln=10,r=8,p=1$${SALT_B64}`,
    `$pbkdf2-sha256$i=100000$${SALT_B64}`,
    `$2b$12$${SALT_B64}`,
  ];

  run(
    caseList((add) => {
      for (const [what, overrides] of BAD_OVERRIDES) {
        add(`passphraseParams(${what})`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () => passphraseParams(overrides));
        add(`deriveKeyFromPassphrase(…, ${what})`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
          deriveKeyFromPassphrase(PASSPHRASE, { salt: SALT, ...overrides }),
        );
        add(`hashPassphrase(…, ${what})`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
          hashPassphrase(PASSPHRASE, overrides),
        );
        add(`encodeKdfParams(${what})`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
          encodeKdfParams({ salt: SALT, ...overrides } as never),
        );
      }
      add('passphraseParams(algorithm "Argon2id")', 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
        passphraseParams({ ...ARGON, algorithm: 'Argon2id' } as never),
      );
      // Only null here: a string or number is spread like an empty object and silently gives the defaults.
      add(
        'deriveKeyFromPassphrase(params: null)',
        ['FX_CRYPTO_INVALID_KDF_PARAMS', 'FX_INVALID_ARGUMENT'],
        () => deriveKeyFromPassphrase(PASSPHRASE, null as never),
      );
      add('hashPassphrase(overrides: null)', ['FX_CRYPTO_INVALID_KDF_PARAMS', 'FX_INVALID_ARGUMENT'], () =>
        hashPassphrase(PASSPHRASE, null as never),
      );
      add('passphraseParams(null)', ['FX_CRYPTO_INVALID_KDF_PARAMS', 'FX_INVALID_ARGUMENT'], () =>
        passphraseParams(null as never),
      );
      for (const [what, value] of [
        ['null', null],
        ['a string', '$argon2id$'],
        ['a number', 1],
      ] as const) {
        add(`encodeKdfParams(${what})`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
          encodeKdfParams(value as never),
        );
      }
      // One root cause (the hash argument is not validated); three symptoms: a TypeError, silent
      // garbage, and a string that decodeKdfParams then refuses.
      for (const [what, value] of [
        ['a number', 5],
        ['a string', 'hash'],
        ['8 bytes', new Uint8Array(8)],
      ] as const) {
        add(
          `encodeKdfParams(params, hash: ${what})`,
          ['FX_CRYPTO_INVALID_KDF_PARAMS', 'FX_INVALID_ARGUMENT'],
          () => encodeKdfParams(FULL_ARGON, value as never),
        );
      }
      for (const [what, value] of [
        ['an empty string', ''],
        ['empty bytes', new Uint8Array(0)],
        ['4097 bytes', new Uint8Array(4097).fill(0x61)],
        ['4097 ASCII characters', 'a'.repeat(4097)],
        ['a number', 1234],
        ['null', null],
        ['undefined', undefined],
        ['an array', ['p']],
        ['a Uint16Array', new Uint16Array(4)],
      ] as const) {
        add(`deriveKeyFromPassphrase(passphrase: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          deriveKeyFromPassphrase(value as never, FULL_ARGON),
        );
        add(`hashPassphrase(passphrase: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          hashPassphrase(value as never, ARGON),
        );
        add(`verifyPassphrase(…, passphrase: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          verifyPassphrase(`$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$${HASH_B64}`, value as never),
        );
      }
      // The output length is not validated. (argon2id with length -1 is left out on purpose: the
      // argon2 binding takes it as 2^32 - 1 and computes for about a minute before failing.)
      for (const [name, params, what, value] of [
        ['argon2id', FULL_ARGON, '0', 0],
        ['argon2id', FULL_ARGON, '1.5', 1.5],
        ['argon2id', FULL_ARGON, 'a numeric string', '32'],
        ['scrypt', { ...SCRYPT, salt: SALT }, '-1', -1],
        ['scrypt', { ...SCRYPT, salt: SALT }, '1.5', 1.5],
        ['scrypt', { ...SCRYPT, salt: SALT }, 'a numeric string', '32'],
      ] as const) {
        add(`deriveKeyFromPassphrase(${name}, length: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          deriveKeyFromPassphrase(PASSPHRASE, params, value as never),
        );
      }
      for (const phc of BAD_PHC) {
        const label = JSON.stringify(phc.length > 70 ? `${phc.slice(0, 60)}…(${phc.length})` : phc);
        add(`decodeKdfParams(${label})`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () => decodeKdfParams(phc));
        add(`verifyPassphrase(${label})`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
          verifyPassphrase(phc, PASSPHRASE),
        );
      }
      for (const [what, value] of [
        ['null', null],
        ['undefined', undefined],
        ['a number', 19],
        ['bytes', utf8(`$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}`)],
        ['an object', { params: FULL_ARGON }],
      ] as const) {
        add(`decodeKdfParams(${what})`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
          decodeKdfParams(value as never),
        );
        add(`verifyPassphrase(${what}, …)`, 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
          verifyPassphrase(value as never, PASSPHRASE),
        );
      }
      add('verifyPassphrase(parameter string without a hash)', 'FX_CRYPTO_INVALID_KDF_PARAMS', () =>
        verifyPassphrase(`$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}`, PASSPHRASE),
      );
    }),
  );

  it('the well-formed strings these cases are built from do parse', () => {
    expect(decodeKdfParams(`$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}`).params).toEqual(FULL_ARGON);
    expect(decodeKdfParams(`$argon2id$v=19$m=1024,t=1,p=1$${SALT_B64}$${HASH_B64}`).hash).toHaveLength(32);
    expect(decodeKdfParams(`$scrypt$ln=10,r=8,p=1$${SALT_B64}`).params).toEqual({ ...SCRYPT, salt: SALT });
    expect(passphraseParams({ ...ARGON, salt: SALT })).toEqual(FULL_ARGON);
  });
});

// ---------------------------------------------------------------------------------------------
describe('blind index and planner', () => {
  run(
    caseList((add) => {
      for (const [what, value] of NOT_A_KEY) {
        add(
          `new BlindIndex(key: ${what})`,
          'FX_INVALID_ARGUMENT',
          () => new BlindIndex(value as never, { bits: 16 }),
        );
      }
      for (const length of [1, 16, 31]) {
        add(
          `new BlindIndex(${length}-byte key)`,
          'FX_INVALID_ARGUMENT',
          () => new BlindIndex(keyOfLength(length), { bits: 16 }),
        );
      }
      add(
        'new BlindIndex(disposed key)',
        'FX_CRYPTO_KEY_DISPOSED',
        () => new BlindIndex(disposedKey(), { bits: 16 }),
      );
      for (const [what, value] of [
        ['null', null],
        ['undefined', undefined],
        ['a number', 16],
        ['a string', '16'],
      ] as const) {
        add(
          `new BlindIndex(key, options: ${what})`,
          'FX_INVALID_ARGUMENT',
          () => new BlindIndex(key(), value as never),
        );
      }
      for (const [what, value] of [
        ['0', 0],
        ['257', 257],
        ['1.5', 1.5],
        ['-8', -8],
        ['NaN', NaN],
        ['Infinity', Infinity],
        ['"16"', '16'],
        ['null', null],
        ['undefined', undefined],
      ] as const) {
        add(
          `new BlindIndex(bits: ${what})`,
          'FX_INVALID_ARGUMENT',
          () => new BlindIndex(key(), { bits: value as never }),
        );
      }
      for (const [what, value] of [
        ['["nfkc"]', ['nfkc']],
        ['["NFC"]', ['NFC']],
        ['["lowercase"]', ['lowercase']],
        ['[]', []],
        ['["exact", "bogus"]', ['exact', 'bogus']],
        ['[5]', [5]],
        ['[null]', [null]],
        ['"nfc" (a string, not a list)', 'nfc'],
        ['5', 5],
        ['{}', {}],
      ] as const) {
        add(
          `new BlindIndex(normalizers: ${what})`,
          'FX_INVALID_ARGUMENT',
          () => new BlindIndex(key(), { bits: 16, normalizers: value as never }),
        );
        add(`composeNormalizers(${what})`, 'FX_INVALID_ARGUMENT', () => composeNormalizers(value as never));
      }
      add('composeNormalizers(null)', 'FX_INVALID_ARGUMENT', () => composeNormalizers(null as never));
      add('composeNormalizers(undefined)', 'FX_INVALID_ARGUMENT', () =>
        composeNormalizers(undefined as never),
      );
      for (const [what, value] of [
        ['a number', 42],
        ['null', null],
        ['undefined', undefined],
        ['an array', ['a']],
        ['a plain object', {}],
        ['a Uint16Array', new Uint16Array(2)],
        ['a lone surrogate', 'a\ud800'],
      ] as const) {
        add(`index.compute(${what})`, 'FX_INVALID_ARGUMENT', () =>
          new BlindIndex(key(), { bits: 16 }).compute(value as never),
        );
        add(`index.computeInt(${what})`, 'FX_INVALID_ARGUMENT', () =>
          new BlindIndex(key(), { bits: 16 }).computeInt(value as never),
        );
      }
      for (const bits of [49, 64, 256]) {
        add(`index.computeInt() with ${bits} bits`, 'FX_INVALID_ARGUMENT', () =>
          new BlindIndex(key(), { bits }).computeInt('v'),
        );
      }

      for (const [what, value] of [
        ['null', null],
        ['undefined', undefined],
        ['a number', 50_000],
        ['a string', 'rows'],
      ] as const) {
        add(`planBlindIndexBits(${what})`, 'FX_INVALID_ARGUMENT', () => planBlindIndexBits(value as never));
      }
      for (const [what, value] of [
        ...NOT_AN_INTEGER,
        ['0', 0],
        ['-1', -1],
        ['2^53', 2 ** 53],
        ['undefined', undefined],
      ] as const) {
        add(`planBlindIndexBits(rows: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          planBlindIndexBits({ rows: value as never }),
        );
      }
      for (const [what, value] of [
        ...NOT_AN_INTEGER.filter(([name]) => name !== 'null'),
        ['0', 0],
        ['257', 257],
      ] as const) {
        add(`planBlindIndexBits(domainBits: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          planBlindIndexBits({ rows: 50_000, domainBits: value as never }),
        );
      }
      for (const [what, value] of [
        ['a string', 'none'],
        ['a number', 4],
        ['an object', { bits: 4 }],
        ['[null]', [null]],
        ['[4]', [4]],
        ['[{ bits: 0 }]', [{ bits: 0 }]],
        ['[{ bits: 257 }]', [{ bits: 257 }]],
        ['[{ bits: 1.5 }]', [{ bits: 1.5 }]],
        ['[{}]', [{}]],
        ['[{ bits: 4, domainBits: 0 }]', [{ bits: 4, domainBits: 0 }]],
        ['[{ bits: 4, domainBits: 2.5 }]', [{ bits: 4, domainBits: 2.5 }]],
      ] as const) {
        add(`planBlindIndexBits(existing: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          planBlindIndexBits({ rows: 50_000, existing: value as never }),
        );
      }
      for (const input of [
        { rows: 1 },
        { rows: 3, domainBits: 1 },
        { rows: 50_000, existing: [{ bits: 15 }] },
      ]) {
        add(`planBlindIndexBits(${JSON.stringify(input)})`, 'FX_CRYPTO_NO_SAFE_INDEX_SIZE', () =>
          planBlindIndexBits(input),
        );
      }
    }),
  );
});

// ---------------------------------------------------------------------------------------------
describe('Shamir', () => {
  let goodShares: string[] = [];
  const ensureShares = async (): Promise<string[]> => {
    if (goodShares.length === 0) goodShares = await splitSecret(key(), 3, 2);
    return goodShares;
  };
  run(
    caseList((add) => {
      for (const [what, value] of NOT_A_KEY) {
        add(`splitSecret(secret: ${what})`, 'FX_INVALID_ARGUMENT', () => splitSecret(value as never, 3, 2));
      }
      for (const length of [1, 15, 513]) {
        add(`splitSecret(${length}-byte secret)`, 'FX_INVALID_ARGUMENT', () =>
          splitSecret(keyOfLength(length), 3, 2),
        );
      }
      add('splitSecret(disposed secret)', 'FX_CRYPTO_KEY_DISPOSED', () => splitSecret(disposedKey(), 3, 2));
      for (const [what, value] of [
        ...NOT_AN_INTEGER,
        ['0', 0],
        ['256', 256],
        ['-1', -1],
        ['undefined', undefined],
      ] as const) {
        add(`splitSecret(shares: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          splitSecret(key(), value as never, 1),
        );
        add(`splitSecret(threshold: ${what})`, 'FX_INVALID_ARGUMENT', () =>
          splitSecret(key(), 255, value as never),
        );
      }
      for (const [shares, threshold] of [
        [3, 4],
        [1, 2],
        [254, 255],
      ] as const) {
        add(`splitSecret(shares ${shares} < threshold ${threshold})`, 'FX_INVALID_ARGUMENT', () =>
          splitSecret(key(), shares, threshold),
        );
      }
      for (const [what, value] of [
        ['null', null],
        ['undefined', undefined],
        ['a string', 'fxs1-00'],
        ['an empty array', []],
        ['256 shares', Array.from({ length: 256 }, () => 'fxs1-00')],
        ['a plain object', { 0: 'fxs1-00', length: 1 }],
      ] as const) {
        add(`combineShares(${what})`, 'FX_INVALID_ARGUMENT', () => combineShares(value as never));
      }
      for (const [what, value] of [
        ['a number', 1],
        ['null', null],
        ['undefined', undefined],
        ['bytes', utf8('fxs1-00')],
        ['an array', ['fxs1-00']],
      ] as const) {
        add(`combineShares([good, ${what}])`, 'FX_INVALID_ARGUMENT', async () =>
          combineShares([(await ensureShares())[0]!, value as never]),
        );
        add(`inspectShare(${what})`, 'FX_INVALID_ARGUMENT', () => inspectShare(value as never));
      }
      for (const share of [
        '',
        'fxs1-',
        'fxs1-0',
        'fxs1-zz',
        'fxs2-00',
        'share',
        'fxs1-' + '00'.repeat(20),
        'fxs1-' + '00'.repeat(600),
      ]) {
        add(`inspectShare(${JSON.stringify(share.slice(0, 30))})`, 'FX_CRYPTO_INVALID_SHARE', () =>
          inspectShare(share),
        );
        add(
          `combineShares([${JSON.stringify(share.slice(0, 30))}, good])`,
          'FX_CRYPTO_INVALID_SHARE',
          async () => combineShares([share, (await ensureShares())[0]!]),
        );
      }
    }),
  );
});

// ---------------------------------------------------------------------------------------------
describe('signatures', () => {
  const seed = (): SecretKey => SecretKey.fromBytes(SEED_BYTES);
  run(
    caseList((add) => {
      for (const name of [
        'Ed25519',
        'ed448',
        'ml-dsa-44',
        'ml-dsa-87',
        'ML-DSA-65',
        'rsa',
        '',
        42,
        null,
        undefined,
        ['ed25519'],
      ] as const) {
        const label = show(name);
        add(`createSigner(${label})`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () =>
          createSigner(name as never, seed()),
        );
        add(`createVerifier(${label})`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () =>
          createVerifier(name as never, new Uint8Array(32)),
        );
        add(`generateSigner(${label})`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () => generateSigner(name as never));
        add(`signatureSizes(${label})`, 'FX_CRYPTO_UNKNOWN_ALGORITHM', () => signatureSizes(name as never));
      }
      for (const algorithm of ['ed25519', 'ml-dsa-65'] as const) {
        const sizes = signatureSizes(algorithm);
        for (const [what, value] of NOT_A_KEY) {
          add(`createSigner(${algorithm}, seed: ${what})`, 'FX_INVALID_ARGUMENT', () =>
            createSigner(algorithm, value as never),
          );
        }
        for (const length of [16, 31, 33, 64]) {
          add(`createSigner(${algorithm}, ${length}-byte seed)`, 'FX_INVALID_ARGUMENT', () =>
            createSigner(algorithm, keyOfLength(length)),
          );
        }
        add(`createSigner(${algorithm}, disposed seed)`, 'FX_CRYPTO_KEY_DISPOSED', () =>
          createSigner(algorithm, disposedKey()),
        );
        for (const [what, value] of NOT_BYTES) {
          add(`createVerifier(${algorithm}, publicKey: ${what})`, 'FX_INVALID_ARGUMENT', () =>
            createVerifier(algorithm, value as never),
          );
          add(`${algorithm} signer.sign(${what})`, 'FX_INVALID_ARGUMENT', () =>
            createSigner(algorithm, seed()).sign(value as never),
          );
        }
        for (const length of [
          0,
          sizes.publicKey - 1,
          sizes.publicKey + 1,
          algorithm === 'ed25519' ? 1952 : 32,
        ]) {
          add(
            `createVerifier(${algorithm}, ${length}-byte public key)`,
            'FX_CRYPTO_INVALID_SIGNATURE_KEY',
            () => createVerifier(algorithm, new Uint8Array(length)),
          );
        }
        for (const [what, value] of NOT_BYTES_NULLISH_DEFAULT) {
          add(`createSigner(${algorithm}, context: ${what})`, 'FX_INVALID_ARGUMENT', () =>
            createSigner(algorithm, seed(), { context: value as never }),
          );
        }
      }
      // Options objects: null crashes with a TypeError today. (A string or number is silently ignored.)
      add('createSigner(ed25519, seed, options: null)', 'FX_INVALID_ARGUMENT', () =>
        createSigner('ed25519', seed(), null as never),
      );
      add('createVerifier(ml-dsa-65, pk, options: null)', 'FX_INVALID_ARGUMENT', () =>
        createVerifier('ml-dsa-65', new Uint8Array(1952), null as never),
      );
      add('generateSigner(ed25519, options: null)', 'FX_INVALID_ARGUMENT', () =>
        generateSigner('ed25519', null as never),
      );
      add('createSigner(ml-dsa-65, 256-byte context)', 'FX_INVALID_ARGUMENT', () =>
        createSigner('ml-dsa-65', seed(), { context: new Uint8Array(256) }),
      );
      add('createVerifier(ml-dsa-65, 256-byte context)', 'FX_INVALID_ARGUMENT', () =>
        createVerifier('ml-dsa-65', new Uint8Array(1952), { context: new Uint8Array(256) }),
      );
      add('createSigner(ed25519, with a context)', 'FX_INVALID_ARGUMENT', () =>
        createSigner('ed25519', seed(), { context: utf8('x') }),
      );
      add('createVerifier(ed25519, with a context)', 'FX_INVALID_ARGUMENT', () =>
        createVerifier('ed25519', new Uint8Array(32), { context: utf8('x') }),
      );
      add('generateSigner(ed25519, with a context)', 'FX_INVALID_ARGUMENT', () =>
        generateSigner('ed25519', { context: utf8('x') }),
      );
    }),
  );

  it('verify() returns false, never throws, for malformed input', () => {
    for (const algorithm of ['ed25519', 'ml-dsa-65'] as const) {
      using signer = createSigner(algorithm, SecretKey.fromBytes(SEED_BYTES));
      const verifier = signer.verifier();
      const good = signer.sign(utf8('m'));
      for (const [, value] of NOT_BYTES) {
        expect(verifier.verify(value as never, good)).toBe(false);
        expect(verifier.verify(utf8('m'), value as never)).toBe(false);
      }
      expect(verifier.verify(utf8('m'), new Uint8Array(0))).toBe(false);
      expect(verifier.verify(utf8('m'), new Uint8Array(good.length + 1))).toBe(false);
    }
  });
});
