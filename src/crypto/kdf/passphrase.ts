/**
 * @module crypto/kdf/passphrase
 * Passphrase-based key derivation and passphrase hashing with Argon2id (the `argon2` package,
 * i.e. the reference implementation) and scrypt (OpenSSL via node:crypto). Parameters always travel
 * with the salt (and hash) in PHC string format, so old hashes still verify after defaults change.
 *
 * Formats (docs/formats.md § Passphrase KDF):
 *   $argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>[$<hash>]
 *   $scrypt$ln=<log2 N>,r=<block size>,p=<parallelism>$<salt>[$<hash>]
 * salt and hash are unpadded standard base64 (the PHC convention).
 */
import { scrypt as scryptCallback } from 'node:crypto';
import argon2 from 'argon2';
import { assertBytes, assertInteger, isBytes, utf8Encoder } from '../../util/bytes.js';
import { CryptoError, InvalidArgumentError } from '../../util/errors.js';
import { constantTimeEqual } from '../memory/constant-time.js';
import { SecretKey, wipe } from '../memory/secret-key.js';
import { randomBytes } from '../random.js';

export interface Argon2idParams {
  readonly algorithm: 'argon2id';
  /** Memory in KiB. */
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
  readonly salt: Uint8Array;
}

export interface ScryptParams {
  readonly algorithm: 'scrypt';
  /** log2 of the CPU/memory cost N. */
  readonly logN: number;
  readonly blockSize: number;
  readonly parallelism: number;
  readonly salt: Uint8Array;
}

export type PassphraseKdfParams = Argon2idParams | ScryptParams;
export type PassphraseKdfName = PassphraseKdfParams['algorithm'];

/**
 * RFC 9106 §4, second recommended option (for when 2 GiB per derivation is too much): Argon2id,
 * t=3, p=4, m=64 MiB. Fortress uses it as the default because the first option (t=1, m=2 GiB)
 * would take all memory on small servers.
 */
export const ARGON2ID_DEFAULTS: Omit<Argon2idParams, 'salt'> = Object.freeze({
  algorithm: 'argon2id',
  memoryKiB: 64 * 1024,
  iterations: 3,
  parallelism: 4,
});

/** scrypt N=2^17, r=8, p=1 (128 MiB), the current OWASP recommendation. */
export const SCRYPT_DEFAULTS: Omit<ScryptParams, 'salt'> = Object.freeze({
  algorithm: 'scrypt',
  logN: 17,
  blockSize: 8,
  parallelism: 1,
});

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const MAX_PASSPHRASE_BYTES = 4096;

/** Overrides of the default passphrase KDF parameters (a fresh salt is drawn when none is given). */
export type PassphraseKdfOverrides =
  | (Partial<Omit<Argon2idParams, 'algorithm'>> & { algorithm?: 'argon2id' })
  | (Partial<Omit<ScryptParams, 'algorithm'>> & { algorithm: 'scrypt' });

/** Fills in defaults and a fresh salt, then validates. */
export function passphraseParams(overrides: PassphraseKdfOverrides = {}): PassphraseKdfParams {
  if (typeof overrides !== 'object' || (overrides as unknown) === null || Array.isArray(overrides)) {
    throw bad('parameters must be an object');
  }
  const algorithm: unknown = overrides.algorithm;
  if (algorithm !== undefined && algorithm !== 'argon2id' && algorithm !== 'scrypt') {
    throw bad('algorithm must be "argon2id" or "scrypt"');
  }
  const salt = overrides.salt ?? randomBytes(SALT_BYTES);
  const params: PassphraseKdfParams =
    overrides.algorithm === 'scrypt'
      ? { ...SCRYPT_DEFAULTS, ...overrides, salt }
      : { ...ARGON2ID_DEFAULTS, ...overrides, algorithm: 'argon2id', salt };
  validateParams(params);
  return params;
}

function bad(message: string): CryptoError {
  return new CryptoError('FX_CRYPTO_INVALID_KDF_PARAMS', message);
}

function checkRange(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(`${name} must be an integer from ${min} to ${max}`);
  }
}

/** Throws `FX_CRYPTO_INVALID_KDF_PARAMS` unless the parameters are well-formed and within safe bounds. */
export function validateParams(params: PassphraseKdfParams): void {
  if (typeof params !== 'object' || (params as unknown) === null) throw bad('parameters must be an object');
  if (!isBytes(params.salt) || params.salt.length < 8 || params.salt.length > 64) {
    throw bad('salt must be 8 to 64 bytes');
  }
  if (params.algorithm === 'argon2id') {
    checkRange('parallelism', params.parallelism, 1, 255);
    checkRange('iterations', params.iterations, 1, 64);
    // RFC 9106: m ≥ 8·p KiB. Upper bound 4 GiB keeps a forged parameter string from exhausting memory.
    checkRange('memoryKiB', params.memoryKiB, Math.max(8 * params.parallelism, 1024), 4 * 1024 * 1024);
  } else if ((params as { algorithm: unknown }).algorithm === 'scrypt') {
    // Reached only by well-typed scrypt parameters; the cast above guards untyped JavaScript callers.
    checkRange('logN', params.logN, 10, 22);
    checkRange('blockSize', params.blockSize, 1, 32);
    checkRange('parallelism', params.parallelism, 1, 16);
  } else {
    throw bad('algorithm must be "argon2id" or "scrypt"');
  }
}

function passphraseBytes(passphrase: string | Uint8Array): Uint8Array {
  const bytes = typeof passphrase === 'string' ? utf8Encoder.encode(passphrase.normalize('NFC')) : passphrase;
  if (!isBytes(bytes)) throw new InvalidArgumentError('passphrase', 'expected a string or bytes');
  assertBytes(bytes, 'passphrase', { min: 1, max: MAX_PASSPHRASE_BYTES });
  return bytes;
}

/**
 * @internal Raw Argon2id (version 0x13) with RFC 9106's optional secret and associated data, for
 * the known-answer self-test. Applications use `deriveKeyFromPassphrase`.
 */
export async function argon2idRaw(
  password: Uint8Array,
  params: Omit<Argon2idParams, 'algorithm'>,
  length: number,
  extra: { secret?: Uint8Array; associatedData?: Uint8Array } = {},
): Promise<Uint8Array> {
  const out = await argon2.hash(Buffer.from(password), {
    type: argon2.argon2id,
    raw: true,
    salt: Buffer.from(params.salt),
    memoryCost: params.memoryKiB,
    timeCost: params.iterations,
    parallelism: params.parallelism,
    hashLength: length,
    version: 0x13,
    ...(extra.secret === undefined ? {} : { secret: Buffer.from(extra.secret) }),
    ...(extra.associatedData === undefined ? {} : { associatedData: Buffer.from(extra.associatedData) }),
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

async function rawDerive(
  passphrase: Uint8Array,
  params: PassphraseKdfParams,
  length: number,
): Promise<Uint8Array> {
  if (params.algorithm === 'argon2id') return argon2idRaw(passphrase, params, length);
  return scryptRaw(passphrase, params, length);
}

/**
 * @internal Raw scrypt (RFC 7914) without Fortress's parameter policy, for the known-answer
 * self-test (whose salt is shorter than the policy allows). Applications use `deriveKeyFromPassphrase`.
 */
export function scryptRaw(
  password: Uint8Array,
  params: Omit<ScryptParams, 'algorithm'>,
  length: number,
): Promise<Uint8Array> {
  const N = 2 ** params.logN;
  return new Promise((resolve, reject) => {
    scryptCallback(
      password,
      params.salt,
      length,
      { N, r: params.blockSize, p: params.parallelism, maxmem: 256 * N * params.blockSize + 1024 * 1024 },
      (error, key) => {
        if (error) reject(error);
        else resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
      },
    );
  });
}

/**
 * Derives a key from a passphrase. Pass the stored `params` to re-derive the same key; omit them
 * (or pass overrides) to get fresh parameters with a new salt, which you must store. `length` is
 * the key size in bytes, 16 to 64.
 *
 * @example
 * ```ts
 * const { key, params } = await deriveKeyFromPassphrase('correct horse battery staple');
 * store(encodeKdfParams(params));
 * const again = await deriveKeyFromPassphrase('correct horse battery staple', decodeKdfParams(stored).params);
 * ```
 */
export async function deriveKeyFromPassphrase(
  passphrase: string | Uint8Array,
  params: PassphraseKdfParams | PassphraseKdfOverrides = {},
  length = 32,
): Promise<{ key: SecretKey; params: PassphraseKdfParams }> {
  const bytes = passphraseBytes(passphrase);
  assertInteger(length, 'length', 16, 64);
  const full = isComplete(params) ? params : passphraseParams(params);
  validateParams(full);
  const raw = await rawDerive(bytes, full, length);
  try {
    return { key: SecretKey.fromBytes(raw), params: full };
  } finally {
    wipe(raw);
  }
}

function isComplete(params: PassphraseKdfParams | PassphraseKdfOverrides): params is PassphraseKdfParams {
  if (typeof params !== 'object' || (params as unknown) === null || !isBytes(params.salt)) return false;
  return params.algorithm === 'scrypt'
    ? 'logN' in params && 'blockSize' in params && 'parallelism' in params
    : params.algorithm === 'argon2id' &&
        'memoryKiB' in params &&
        'iterations' in params &&
        'parallelism' in params;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64').replace(/=+$/, '');
const B64_RE = /^[A-Za-z0-9+/]+$/;

function fromB64(text: string, what: string): Uint8Array {
  if (!B64_RE.test(text) || text.length % 4 === 1) throw bad(`${what} is not unpadded base64`);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Encodes parameters (and optionally a hash) as a PHC string. */
export function encodeKdfParams(params: PassphraseKdfParams, hash?: Uint8Array): string {
  validateParams(params);
  if (hash !== undefined && (!isBytes(hash) || hash.length < 16 || hash.length > 64)) {
    throw bad('hash must be 16 to 64 bytes');
  }
  const head =
    params.algorithm === 'argon2id'
      ? `$argon2id$v=19$m=${params.memoryKiB},t=${params.iterations},p=${params.parallelism}`
      : `$scrypt$ln=${params.logN},r=${params.blockSize},p=${params.parallelism}`;
  return `${head}$${b64(params.salt)}${hash === undefined ? '' : `$${b64(hash)}`}`;
}

const ARGON_RE = /^\$argon2id\$v=19\$m=(\d{1,8}),t=(\d{1,3}),p=(\d{1,3})\$([^$]+)(?:\$([^$]+))?$/;
const SCRYPT_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([^$]+)(?:\$([^$]+))?$/;

/** Parses a PHC string produced by `encodeKdfParams`/`hashPassphrase`; throws `FX_CRYPTO_INVALID_KDF_PARAMS`. */
export function decodeKdfParams(encoded: string): { params: PassphraseKdfParams; hash?: Uint8Array } {
  if (typeof encoded !== 'string' || encoded.length > 512)
    throw bad('expected a PHC string of at most 512 characters');
  let params: PassphraseKdfParams;
  let hashText: string | undefined;
  const argon = ARGON_RE.exec(encoded);
  const scrypt = argon === null ? SCRYPT_RE.exec(encoded) : null;
  if (argon !== null) {
    params = {
      algorithm: 'argon2id',
      memoryKiB: Number(argon[1]),
      iterations: Number(argon[2]),
      parallelism: Number(argon[3]),
      salt: fromB64(argon[4]!, 'salt'),
    };
    hashText = argon[5];
  } else if (scrypt !== null) {
    params = {
      algorithm: 'scrypt',
      logN: Number(scrypt[1]),
      blockSize: Number(scrypt[2]),
      parallelism: Number(scrypt[3]),
      salt: fromB64(scrypt[4]!, 'salt'),
    };
    hashText = scrypt[5];
  } else {
    throw bad('not a $argon2id$v=19$… or $scrypt$… parameter string');
  }
  validateParams(params);
  if (hashText === undefined) return { params };
  const hash = fromB64(hashText, 'hash');
  if (hash.length < 16 || hash.length > 64) throw bad('hash must be 16 to 64 bytes');
  return { params, hash };
}

/** Hashes a passphrase for storage (e.g. an operator password): returns a PHC string with parameters, salt and hash. */
export async function hashPassphrase(
  passphrase: string | Uint8Array,
  overrides: PassphraseKdfOverrides = {},
): Promise<string> {
  const bytes = passphraseBytes(passphrase);
  const params = passphraseParams(overrides);
  const hash = await rawDerive(bytes, params, HASH_BYTES);
  return encodeKdfParams(params, hash);
}

/** Checks a passphrase against a stored PHC string, comparing in constant time. */
export async function verifyPassphrase(encoded: string, passphrase: string | Uint8Array): Promise<boolean> {
  const { params, hash } = decodeKdfParams(encoded);
  if (hash === undefined) throw bad('the PHC string has no hash to verify against');
  const bytes = passphraseBytes(passphrase);
  const candidate = await rawDerive(bytes, params, hash.length);
  try {
    return constantTimeEqual(candidate, hash);
  } finally {
    wipe(candidate);
  }
}
