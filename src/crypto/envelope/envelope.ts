/**
 * @module crypto/envelope/envelope
 * Encrypts values into self-describing envelopes and back. The header (format version, algorithm,
 * key id, key version) and the encryption context are the AEAD's associated data, so changing any
 * header byte, moving the envelope to another context, or decrypting under another key all fail
 * with a typed error. Nonces are random for every encryption.
 *
 * Hot path notes: one output allocation per value (one per batch in the `…Many` forms), the header
 * is precomputed per key version, and the associated data is written into scratch space that the
 * context reserved, so no per-call concatenation happens.
 */
import { describe, isBytes } from '../../util/bytes.js';
import { CryptoError, IntegrityError, InvalidArgumentError } from '../../util/errors.js';
import type { Aead, AeadName } from '../aead/aead.js';
import { nonces } from '../random.js';
import { DataKey, dataKeyAead, dataKeyHeader, dataKeyMaterial, reserveEncryptions } from './data-key.js';
import { EncryptionContext } from './encryption-context.js';
import { ENVELOPE_HEADER_LENGTH, MAX_PLAINTEXT_BYTES, parseEnvelope, readU32 } from './envelope-format.js';

/** Finds the data key for an envelope's (key id, version); returns undefined when it has none. */
export type KeyResolver = (keyId: number, keyVersion: number, algorithm: AeadName) => DataKey | undefined;

const aadOf = EncryptionContext.aadBuffer;

/**
 * A plain Uint8Array view of bytes [start, end) of `bytes`. Cheaper than Buffer#subarray, which
 * goes through Buffer's species constructor; this is on the per-value hot path.
 */
function view(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

function checkKey(key: unknown): asserts key is DataKey {
  if (!(key instanceof DataKey)) throw new InvalidArgumentError('key', `expected a DataKey, got ${describe(key)}`);
}

function checkContext(context: unknown, argument: string): asserts context is EncryptionContext {
  if (!(context instanceof EncryptionContext)) {
    throw new InvalidArgumentError(argument, `expected an EncryptionContext (EncryptionContext.of({...})), got ${describe(context)}`);
  }
}

function checkPlaintext(plaintext: unknown, argument: string): asserts plaintext is Uint8Array {
  if (!isBytes(plaintext)) throw new InvalidArgumentError(argument, `expected a Uint8Array, got ${describe(plaintext)}`);
  if (plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw new CryptoError(
      'FX_CRYPTO_VALUE_TOO_LARGE',
      `${argument}: ${plaintext.length} bytes is over the ${MAX_PLAINTEXT_BYTES}-byte limit of one envelope`,
    );
  }
}

function sealInto(
  out: Buffer,
  offset: number,
  aead: Aead,
  header: Uint8Array,
  material: Buffer,
  plaintext: Uint8Array,
  context: EncryptionContext,
): number {
  const nonceStart = offset + ENVELOPE_HEADER_LENGTH;
  const bodyStart = nonceStart + aead.nonceLength;
  const end = bodyStart + plaintext.length + aead.tagLength;
  out.set(header, offset);
  nonces.fill(out, nonceStart, aead.nonceLength);
  const aad = aadOf(context);
  aad.set(header, 0);
  aead.encryptInto(view(out, bodyStart, end), plaintext, aad, view(out, nonceStart, bodyStart), material);
  return end;
}

/**
 * Encrypts `plaintext` under `key` for `context`.
 *
 * @example
 * ```ts
 * const ctx = EncryptionContext.of({ tenant: 'acme', table: 'patients', column: 'ssn', row: id });
 * const envelope = encrypt(key, new TextEncoder().encode('123-45-6789'), ctx);
 * ```
 */
export function encrypt(key: DataKey, plaintext: Uint8Array, context: EncryptionContext = EncryptionContext.EMPTY): Buffer {
  checkKey(key);
  checkPlaintext(plaintext, 'plaintext');
  checkContext(context, 'context');
  const aead = dataKeyAead(key);
  const material = dataKeyMaterial(key);
  reserveEncryptions(key, 1);
  const out = Buffer.allocUnsafe(ENVELOPE_HEADER_LENGTH + aead.nonceLength + plaintext.length + aead.tagLength);
  sealInto(out, 0, aead, dataKeyHeader(key), material, plaintext, context);
  return out;
}

function resolveKey(key: DataKey | KeyResolver, envelope: Uint8Array, aead: Aead, argument: string): DataKey {
  if (typeof key !== 'function') {
    checkKey(key);
    const header = dataKeyHeader(key);
    // Bytes 1..9: algorithm id, key id, key version. A mismatch is a caller error, reported as such
    // rather than as an integrity failure. These fields are public, so comparing them early leaks nothing.
    for (let i = 1; i < ENVELOPE_HEADER_LENGTH; i++) {
      if (envelope[i] !== header[i]) {
        throw new CryptoError(
          'FX_CRYPTO_KEY_MISMATCH',
          `${argument} was sealed with ${aead.name} key ${readU32(envelope, 2)} version ${readU32(envelope, 6)}, not ${key.algorithm} key ${key.id} version ${key.version}`,
        );
      }
    }
    return key;
  }
  const keyId = readU32(envelope, 2);
  const keyVersion = readU32(envelope, 6);
  const found = key(keyId, keyVersion, aead.name);
  if (found === undefined) {
    throw new CryptoError('FX_CRYPTO_KEY_MISMATCH', `${argument}: no key for key ${keyId} version ${keyVersion}`);
  }
  return resolveKey(found, envelope, aead, argument);
}

function openInto(out: Buffer, aead: Aead, key: DataKey, envelope: Uint8Array, context: EncryptionContext): boolean {
  const nonceEnd = ENVELOPE_HEADER_LENGTH + aead.nonceLength;
  const aad = aadOf(context);
  aad.set(dataKeyHeader(key), 0);
  return aead.decryptInto(
    out,
    view(envelope, nonceEnd, envelope.length),
    aad,
    view(envelope, ENVELOPE_HEADER_LENGTH, nonceEnd),
    dataKeyMaterial(key),
  );
}

/**
 * Decrypts an envelope. `key` is the data key, or a resolver that picks one by the envelope's key
 * id and version. Throws `FX_INTEGRITY` when authentication fails (wrong key bytes, tampering,
 * wrong context), `FX_CRYPTO_KEY_MISMATCH` when the key's id/version/algorithm differ from the
 * header, and `FX_CRYPTO_MALFORMED_ENVELOPE`/`FX_CRYPTO_UNSUPPORTED_VERSION`/
 * `FX_CRYPTO_UNKNOWN_ALGORITHM` for bytes that are not an envelope.
 */
export function decrypt(
  key: DataKey | KeyResolver,
  envelope: Uint8Array,
  context: EncryptionContext = EncryptionContext.EMPTY,
): Buffer {
  const aead = parseEnvelope(envelope);
  checkContext(context, 'context');
  const dataKey = resolveKey(key, envelope, aead, 'envelope');
  const out = Buffer.allocUnsafe(envelope.length - ENVELOPE_HEADER_LENGTH - aead.nonceLength - aead.tagLength);
  if (!openInto(out, aead, dataKey, envelope, context)) throw new IntegrityError();
  return out;
}

function contextAt(contexts: EncryptionContext | readonly EncryptionContext[], index: number): EncryptionContext {
  if (contexts instanceof EncryptionContext) return contexts;
  const context = contexts[index];
  checkContext(context, `contexts[${index}]`);
  return context;
}

function checkBatch(values: unknown, argument: string, contexts: unknown): asserts values is readonly unknown[] {
  if (!Array.isArray(values)) throw new InvalidArgumentError(argument, `expected an array, got ${describe(values)}`);
  if (Array.isArray(contexts)) {
    if (contexts.length !== values.length) {
      throw new InvalidArgumentError('contexts', `has ${contexts.length} entries for ${values.length} values`);
    }
  } else {
    checkContext(contexts, 'contexts');
  }
}

/**
 * Encrypts several values under one key in one call: the key is checked once, the usage counter
 * is bumped once, and all envelopes share one allocation. `contexts` is one context for all values
 * or one per value. The returned envelopes are views into one buffer.
 */
export function encryptMany(
  key: DataKey,
  plaintexts: readonly Uint8Array[],
  contexts: EncryptionContext | readonly EncryptionContext[] = EncryptionContext.EMPTY,
): Buffer[] {
  checkKey(key);
  checkBatch(plaintexts, 'plaintexts', contexts);
  const aead = dataKeyAead(key);
  const material = dataKeyMaterial(key);
  const header = dataKeyHeader(key);
  const overhead = ENVELOPE_HEADER_LENGTH + aead.nonceLength + aead.tagLength;
  let total = 0;
  for (let i = 0; i < plaintexts.length; i++) {
    const plaintext = plaintexts[i];
    checkPlaintext(plaintext, `plaintexts[${i}]`);
    total += overhead + plaintext.length;
    contextAt(contexts, i);
  }
  reserveEncryptions(key, plaintexts.length);
  const out = Buffer.allocUnsafe(total);
  const result = new Array<Buffer>(plaintexts.length);
  let offset = 0;
  for (let i = 0; i < plaintexts.length; i++) {
    const end = sealInto(out, offset, aead, header, material, plaintexts[i]!, contextAt(contexts, i));
    result[i] = out.subarray(offset, end);
    offset = end;
  }
  return result;
}

/**
 * Decrypts several envelopes in one call, into one allocation (the results are views into it).
 * If any envelope fails, the whole call throws and every plaintext already written is zeroed;
 * the error message names the failing index.
 */
export function decryptMany(
  key: DataKey | KeyResolver,
  envelopes: readonly Uint8Array[],
  contexts: EncryptionContext | readonly EncryptionContext[] = EncryptionContext.EMPTY,
): Buffer[] {
  checkBatch(envelopes, 'envelopes', contexts);
  const count = envelopes.length;
  const aeads = new Array<Aead>(count);
  const keys = new Array<DataKey>(count);
  let total = 0;
  let lastKey: DataKey | undefined;
  for (let i = 0; i < count; i++) {
    const envelope = envelopes[i]!;
    const argument = `envelopes[${i}]`;
    const aead = parseEnvelope(envelope, argument);
    contextAt(contexts, i);
    aeads[i] = aead;
    // Consecutive envelopes usually share a key version: reuse the last match before resolving again.
    keys[i] = lastKey !== undefined && sameKey(lastKey, envelope) ? lastKey : resolveKey(key, envelope, aead, argument);
    lastKey = keys[i];
    total += envelope.length - ENVELOPE_HEADER_LENGTH - aead.nonceLength - aead.tagLength;
  }
  const out = Buffer.allocUnsafe(total);
  const result = new Array<Buffer>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const envelope = envelopes[i]!;
    const aead = aeads[i]!;
    const end = offset + envelope.length - ENVELOPE_HEADER_LENGTH - aead.nonceLength - aead.tagLength;
    const view = out.subarray(offset, end);
    if (!openInto(view, aead, keys[i]!, envelope, contextAt(contexts, i))) {
      out.fill(0, 0, end);
      throw new IntegrityError(`envelopes[${i}]: authentication failed: wrong key, tampered data or wrong encryption context`);
    }
    result[i] = view;
    offset = end;
  }
  return result;
}

function sameKey(key: DataKey, envelope: Uint8Array): boolean {
  const header = dataKeyHeader(key);
  for (let i = 1; i < ENVELOPE_HEADER_LENGTH; i++) if (envelope[i] !== header[i]) return false;
  return true;
}
