/**
 * @module crypto/envelope/envelope
 * Encrypts values into self-describing envelopes and back. The header (format version, algorithm,
 * key id, key version) and the encryption context are the AEAD's associated data, so changing any
 * header byte, moving the envelope to another context, or decrypting under another key all fail
 * with a typed error. Nonces are random for every encryption.
 *
 * Hot path: one output allocation per value (one per batch in the `…Many` forms); the header is
 * precomputed per key version; the associated data is written into scratch space that the context
 * reserved; the nonce goes through a persistent scratch array instead of a fresh view. On this
 * path the typed-array allocations, not the byte copies, are what costs (see docs/benchmarks.md).
 */
import { createHmac, hkdfSync } from 'node:crypto';
import { describe, isBytes } from '../../util/bytes.js';
import { CryptoError, IntegrityError, InvalidArgumentError } from '../../util/errors.js';
import type { Aead, AeadName } from '../aead/aead.js';
import { aeadById } from '../aead/registry.js';
import { nonces } from '../random.js';
import { DataKey, dataKeyAead, dataKeyHeader, dataKeyMaterial, reserveEncryptions } from './data-key.js';
import { EncryptionContext } from './encryption-context.js';
import { ENVELOPE_HEADER_LENGTH, MAX_PLAINTEXT_BYTES, parseEnvelope, readU32 } from './envelope-format.js';

/** Finds the data key for an envelope's (key id, version); returns undefined when it has none. */
export type KeyResolver = (keyId: number, keyVersion: number, algorithm: AeadName) => DataKey | undefined;

const aadOf = EncryptionContext.aadBuffer;

// One nonce scratch array per nonce length. The AEAD calls are synchronous, so a scratch array is
// never shared by two calls in flight.
const nonceScratch: Uint8Array[] = [];
function scratchNonce(length: number): Uint8Array {
  return (nonceScratch[length] ??= new Uint8Array(length));
}

/** A plain Uint8Array view of bytes [start, end) — cheaper than Buffer#subarray's species path. */
function view(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

function checkKey(key: unknown): asserts key is DataKey {
  if (!(key instanceof DataKey))
    throw new InvalidArgumentError('key', `expected a DataKey, got ${describe(key)}`);
}

function checkContext(context: unknown, argument: string): asserts context is EncryptionContext {
  if (!(context instanceof EncryptionContext)) {
    throw new InvalidArgumentError(
      argument,
      `expected an EncryptionContext (EncryptionContext.of({...})), got ${describe(context)}`,
    );
  }
}

function checkPlaintext(plaintext: unknown, index: number): asserts plaintext is Uint8Array {
  if (isBytes(plaintext) && plaintext.length <= MAX_PLAINTEXT_BYTES) return;
  const argument = index < 0 ? 'plaintext' : `plaintexts[${index}]`;
  if (!isBytes(plaintext))
    throw new InvalidArgumentError(argument, `expected a Uint8Array, got ${describe(plaintext)}`);
  throw new CryptoError(
    'FX_CRYPTO_VALUE_TOO_LARGE',
    `${argument}: ${plaintext.length} bytes is over the ${MAX_PLAINTEXT_BYTES}-byte limit of one envelope`,
  );
}

function overheadOf(aead: Aead): number {
  return ENVELOPE_HEADER_LENGTH + aead.nonceLength + aead.tagLength;
}

/** Seals `plaintext` into `out` at `offset`; returns the end offset. */
function sealInto(
  out: Uint8Array,
  offset: number,
  aead: Aead,
  header: Uint8Array,
  material: Buffer,
  plaintext: Uint8Array,
  context: EncryptionContext,
): number {
  const nonceLength = aead.nonceLength;
  const bodyStart = offset + ENVELOPE_HEADER_LENGTH + nonceLength;
  const end = bodyStart + plaintext.length + aead.tagLength;
  const nonce = scratchNonce(nonceLength);
  nonces.fill(nonce, 0, nonceLength);
  for (let i = 0; i < ENVELOPE_HEADER_LENGTH; i++) out[offset + i] = header[i]!;
  for (let i = 0; i < nonceLength; i++) out[offset + ENVELOPE_HEADER_LENGTH + i] = nonce[i]!;
  const aad = aadOf(context);
  for (let i = 0; i < ENVELOPE_HEADER_LENGTH; i++) aad[i] = header[i]!;
  aead.encryptInto(view(out, bodyStart, end), plaintext, aad, nonce, material);
  return end;
}

/** Opens the envelope into `out`; false when authentication fails (then `out` is zeroed). */
function openInto(
  out: Uint8Array,
  aead: Aead,
  key: DataKey,
  envelope: Uint8Array,
  context: EncryptionContext,
): boolean {
  const nonceLength = aead.nonceLength;
  const nonce = scratchNonce(nonceLength);
  for (let i = 0; i < nonceLength; i++) nonce[i] = envelope[ENVELOPE_HEADER_LENGTH + i]!;
  const header = dataKeyHeader(key);
  const aad = aadOf(context);
  for (let i = 0; i < ENVELOPE_HEADER_LENGTH; i++) aad[i] = header[i]!;
  return aead.decryptInto(
    out,
    view(envelope, ENVELOPE_HEADER_LENGTH + nonceLength, envelope.length),
    aad,
    nonce,
    dataKeyMaterial(key),
  );
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
export function encrypt(
  key: DataKey,
  plaintext: Uint8Array,
  context: EncryptionContext = EncryptionContext.EMPTY,
): Buffer {
  checkKey(key);
  checkPlaintext(plaintext, -1);
  checkContext(context, 'context');
  const aead = dataKeyAead(key);
  const material = dataKeyMaterial(key);
  reserveEncryptions(key, 1);
  const out = Buffer.allocUnsafe(overheadOf(aead) + plaintext.length);
  sealInto(out, 0, aead, dataKeyHeader(key), material, plaintext, context);
  return out;
}

// HKDF info in the layout of docs/formats.md § HKDF purpose labels (label ‖ 0x00 ‖ empty context).
const SYNTHETIC_NONCE_INFO = Buffer.from('fortress/v1/envelope/synthetic-nonce\0', 'utf8');

/**
 * Encrypts deterministically: the same key, plaintext and context always give the same envelope
 * (convergent encryption, for transit keys that must let equal values be matched). The nonce is
 * synthetic — the first bytes of HMAC-SHA256 over the associated data (header and context) and the
 * plaintext, under a nonce key derived from the data key with HKDF-SHA256 — so two different
 * plaintexts get different nonces unless HMAC collides on the nonce's width. That is the SIV
 * construction's idea composed from vetted parts; with 96-bit nonces (AES-GCM, ChaCha20-Poly1305)
 * keep well under 2^32 distinct values per key version, as the usage counter already enforces.
 *
 * What it leaks, by design: equal plaintexts under the same key version and context are visible
 * as equal envelopes (docs/security.md). Use `encrypt` everywhere else.
 */
export function encryptConvergent(
  key: DataKey,
  plaintext: Uint8Array,
  context: EncryptionContext = EncryptionContext.EMPTY,
): Buffer {
  checkKey(key);
  checkPlaintext(plaintext, -1);
  checkContext(context, 'context');
  const aead = dataKeyAead(key);
  const material = dataKeyMaterial(key);
  const header = dataKeyHeader(key);
  reserveEncryptions(key, 1);
  const nonceLength = aead.nonceLength;
  const out = Buffer.allocUnsafe(overheadOf(aead) + plaintext.length);
  const aad = aadOf(context);
  for (let i = 0; i < ENVELOPE_HEADER_LENGTH; i++) aad[i] = header[i]!;
  const nonceKey = Buffer.from(hkdfSync('sha256', material, new Uint8Array(0), SYNTHETIC_NONCE_INFO, 32));
  let mac: Buffer;
  try {
    // Length-prefix the associated data so (aad, plaintext) splits are unambiguous.
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(aad.length);
    mac = createHmac('sha256', nonceKey).update(length).update(aad).update(plaintext).digest();
  } finally {
    nonceKey.fill(0);
  }
  const nonce = scratchNonce(nonceLength);
  for (let i = 0; i < nonceLength; i++) nonce[i] = mac[i]!;
  mac.fill(0);
  for (let i = 0; i < ENVELOPE_HEADER_LENGTH; i++) out[i] = header[i]!;
  for (let i = 0; i < nonceLength; i++) out[ENVELOPE_HEADER_LENGTH + i] = nonce[i]!;
  const bodyStart = ENVELOPE_HEADER_LENGTH + nonceLength;
  aead.encryptInto(view(out, bodyStart, out.length), plaintext, aad, nonce, material);
  return out;
}

/** True when `envelope`'s algorithm, key id and version (header bytes 1..9) are `key`'s. */
function sameKey(key: DataKey, envelope: Uint8Array): boolean {
  return sameHeader(dataKeyHeader(key), envelope);
}

function sameHeader(header: Uint8Array, envelope: Uint8Array): boolean {
  for (let i = 1; i < ENVELOPE_HEADER_LENGTH; i++) if (envelope[i] !== header[i]) return false;
  return true;
}

function resolveKey(key: DataKey | KeyResolver, envelope: Uint8Array, aead: Aead, index: number): DataKey {
  const argument = (): string => (index < 0 ? 'envelope' : `envelopes[${index}]`);
  let found: unknown = key;
  if (typeof key === 'function') {
    const keyId = readU32(envelope, 2);
    const keyVersion = readU32(envelope, 6);
    found = key(keyId, keyVersion, aead.name);
    if (found === undefined) {
      throw new CryptoError(
        'FX_CRYPTO_KEY_MISMATCH',
        `${argument()}: no key for key ${keyId} version ${keyVersion}`,
      );
    }
    if (!(found instanceof DataKey)) {
      throw new InvalidArgumentError(
        'key',
        `the key resolver returned ${describe(found)}, not a DataKey or undefined`,
      );
    }
  }
  checkKey(found);
  // A mismatch is a caller error, reported as such rather than as an integrity failure. These
  // header fields are public, so comparing them early leaks nothing.
  if (sameKey(found, envelope)) return found;
  throw new CryptoError(
    'FX_CRYPTO_KEY_MISMATCH',
    `${argument()} was sealed with ${aead.name} key ${readU32(envelope, 2)} version ${readU32(envelope, 6)}, not ${found.algorithm} key ${found.id} version ${found.version}`,
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
  const dataKey =
    key instanceof DataKey && sameKey(key, envelope) ? key : resolveKey(key, envelope, aead, -1);
  const out = Buffer.allocUnsafe(envelope.length - overheadOf(aead));
  if (!openInto(out, aead, dataKey, envelope, context)) throw new IntegrityError();
  return out;
}

function checkBatch(
  values: unknown,
  argument: string,
  contexts: unknown,
): asserts values is readonly unknown[] {
  if (!Array.isArray(values))
    throw new InvalidArgumentError(argument, `expected an array, got ${describe(values)}`);
  if (Array.isArray(contexts)) {
    if (contexts.length !== values.length) {
      throw new InvalidArgumentError(
        'contexts',
        `has ${contexts.length} entries for ${values.length} values`,
      );
    }
    for (let i = 0; i < contexts.length; i++) checkContext(contexts[i], `contexts[${i}]`);
  } else {
    checkContext(contexts, 'contexts');
  }
}

function contextAt(
  contexts: EncryptionContext | readonly EncryptionContext[],
  index: number,
): EncryptionContext {
  return contexts instanceof EncryptionContext ? contexts : contexts[index]!;
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
): Uint8Array[] {
  checkKey(key);
  checkBatch(plaintexts, 'plaintexts', contexts);
  const aead = dataKeyAead(key);
  const material = dataKeyMaterial(key);
  const header = dataKeyHeader(key);
  const overhead = overheadOf(aead);
  let total = 0;
  for (let i = 0; i < plaintexts.length; i++) {
    const plaintext = plaintexts[i];
    checkPlaintext(plaintext, i);
    total += overhead + plaintext.length;
  }
  reserveEncryptions(key, plaintexts.length);
  const out = Buffer.allocUnsafe(total);
  const result = new Array<Uint8Array>(plaintexts.length);
  let offset = 0;
  for (let i = 0; i < plaintexts.length; i++) {
    const end = sealInto(out, offset, aead, header, material, plaintexts[i]!, contextAt(contexts, i));
    result[i] = view(out, offset, end);
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
): Uint8Array[] {
  checkBatch(envelopes, 'envelopes', contexts);
  const count = envelopes.length;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const aead = parseEnvelope(envelopes[i], i);
    total += envelopes[i]!.length - overheadOf(aead);
  }
  const out = Buffer.allocUnsafe(total);
  const result = new Array<Uint8Array>(count);
  let offset = 0;
  // Consecutive envelopes usually share a key version: keep the last key's header and bytes at hand
  // and resolve again only when the header differs.
  let last: DataKey | undefined;
  let header: Uint8Array | undefined;
  let material: Buffer | undefined;
  try {
    for (let i = 0; i < count; i++) {
      const envelope = envelopes[i]!;
      const aead = aeadById(envelope[1]!)!;
      if (header === undefined || !sameHeader(header, envelope)) {
        last = resolveKey(key, envelope, aead, i);
        header = dataKeyHeader(last);
        material = dataKeyMaterial(last);
      } else if (last!.disposed) {
        material = dataKeyMaterial(last!); // throws FX_CRYPTO_KEY_DISPOSED
      }
      const nonceLength = aead.nonceLength;
      const nonce = scratchNonce(nonceLength);
      for (let j = 0; j < nonceLength; j++) nonce[j] = envelope[ENVELOPE_HEADER_LENGTH + j]!;
      const aad = aadOf(contextAt(contexts, i));
      for (let j = 0; j < ENVELOPE_HEADER_LENGTH; j++) aad[j] = header[j]!;
      const end = offset + envelope.length - overheadOf(aead);
      const slot = view(out, offset, end);
      const sealed = view(envelope, ENVELOPE_HEADER_LENGTH + nonceLength, envelope.length);
      if (!aead.decryptInto(slot, sealed, aad, nonce, material!)) {
        throw new IntegrityError(
          `envelopes[${i}]: authentication failed: wrong key, tampered data or wrong encryption context`,
        );
      }
      result[i] = slot;
      offset = end;
    }
  } catch (error) {
    // Whatever failed (tag, key lookup, disposed key), no plaintext of this batch may survive.
    out.fill(0);
    throw error;
  }
  return result;
}
