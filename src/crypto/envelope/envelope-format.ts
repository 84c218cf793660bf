/**
 * @module crypto/envelope/envelope-format
 * Byte layout of an envelope header (docs/formats.md § Envelope):
 *
 * | offset | size | field                           |
 * |--------|------|---------------------------------|
 * | 0      | 1    | format version (0x01)           |
 * | 1      | 1    | algorithm id                    |
 * | 2      | 4    | key id, unsigned big-endian     |
 * | 6      | 4    | key version, unsigned big-endian|
 * | 10     | n    | nonce (n set by the algorithm)  |
 * | 10+n   | m+16 | ciphertext ‖ tag                |
 */
import { CryptoError } from '../../util/errors.js';
import { isBytes } from '../../util/bytes.js';
import { InvalidArgumentError } from '../../util/errors.js';
import type { Aead, AeadName } from '../aead/aead.js';
import { aeadById } from '../aead/registry.js';

export const ENVELOPE_FORMAT_VERSION = 1;
export const ENVELOPE_HEADER_LENGTH = 10;
/** Largest plaintext one envelope holds. Larger values belong in chunked storage, not one field. */
export const MAX_PLAINTEXT_BYTES: number = 64 * 1024 * 1024;

/** The parsed, validated header of an envelope. */
export interface EnvelopeHeader {
  readonly formatVersion: number;
  readonly algorithm: AeadName;
  readonly keyId: number;
  readonly keyVersion: number;
  /** Total envelope overhead over the plaintext (header + nonce + tag). */
  readonly overhead: number;
}

/** Writes the 10-byte header into `target` at `offset`. */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  aead: Aead,
  keyId: number,
  keyVersion: number,
): void {
  target[offset] = ENVELOPE_FORMAT_VERSION;
  target[offset + 1] = aead.id;
  target[offset + 2] = keyId >>> 24;
  target[offset + 3] = (keyId >>> 16) & 0xff;
  target[offset + 4] = (keyId >>> 8) & 0xff;
  target[offset + 5] = keyId & 0xff;
  target[offset + 6] = keyVersion >>> 24;
  target[offset + 7] = (keyVersion >>> 16) & 0xff;
  target[offset + 8] = (keyVersion >>> 8) & 0xff;
  target[offset + 9] = keyVersion & 0xff;
}

/** Validates the structure of `envelope` and returns its AEAD; throws a typed error otherwise. */
export function parseEnvelope(envelope: unknown, index = -1): Aead {
  if (
    isBytes(envelope) &&
    envelope.length >= ENVELOPE_HEADER_LENGTH &&
    envelope[0] === ENVELOPE_FORMAT_VERSION
  ) {
    const aead = aeadById(envelope[1]!);
    if (aead !== undefined && envelope.length >= ENVELOPE_HEADER_LENGTH + aead.nonceLength + aead.tagLength)
      return aead;
  }
  return rejectEnvelope(envelope, index < 0 ? 'envelope' : `envelopes[${index}]`);
}

/** Slow path of parseEnvelope: says exactly what is wrong. */
function rejectEnvelope(envelope: unknown, argument: string): never {
  if (!isBytes(envelope)) throw new InvalidArgumentError(argument, 'expected a Uint8Array envelope');
  if (envelope.length < ENVELOPE_HEADER_LENGTH) {
    throw new CryptoError(
      'FX_CRYPTO_MALFORMED_ENVELOPE',
      `${argument}: ${envelope.length} bytes is shorter than the ${ENVELOPE_HEADER_LENGTH}-byte header`,
    );
  }
  if (envelope[0] !== ENVELOPE_FORMAT_VERSION) {
    throw new CryptoError(
      'FX_CRYPTO_UNSUPPORTED_VERSION',
      `${argument}: envelope format version ${envelope[0]} is not supported (this build reads version ${ENVELOPE_FORMAT_VERSION})`,
    );
  }
  const aead = aeadById(envelope[1]!);
  if (aead === undefined) {
    throw new CryptoError('FX_CRYPTO_UNKNOWN_ALGORITHM', `${argument}: unknown algorithm id ${envelope[1]}`);
  }
  throw new CryptoError(
    'FX_CRYPTO_MALFORMED_ENVELOPE',
    `${argument}: ${envelope.length} bytes is too short for a ${aead.name} envelope (at least ${ENVELOPE_HEADER_LENGTH + aead.nonceLength + aead.tagLength})`,
  );
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0
  );
}

/**
 * Reads an envelope's header without decrypting it: which key id and version to fetch.
 *
 * @example
 * ```ts
 * const { keyId, keyVersion } = readEnvelopeHeader(stored);
 * ```
 */
export function readEnvelopeHeader(envelope: Uint8Array): EnvelopeHeader {
  const aead = parseEnvelope(envelope);
  return Object.freeze({
    formatVersion: envelope[0]!,
    algorithm: aead.name,
    keyId: readU32(envelope, 2),
    keyVersion: readU32(envelope, 6),
    overhead: ENVELOPE_HEADER_LENGTH + aead.nonceLength + aead.tagLength,
  });
}
