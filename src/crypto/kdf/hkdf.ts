/**
 * @module crypto/kdf/hkdf
 * HKDF-SHA256 (RFC 5869) from OpenSSL via node:crypto, and purpose-labelled subkey derivation.
 */
import { hkdfSync } from 'node:crypto';
import { assertBytes, assertInteger, assertOptions, assertString, utf8Encoder } from '../../util/bytes.js';
import { InvalidArgumentError } from '../../util/errors.js';
import { assertSecretKey, keyMaterial, SecretKey, wipe } from '../memory/secret-key.js';

/** RFC 5869: output is at most 255 hash lengths. */
export const HKDF_SHA256_MAX_LENGTH: number = 255 * 32;

export interface HkdfOptions {
  /** @default empty (RFC 5869 then uses HashLen zero bytes) */
  readonly salt?: Uint8Array;
  /** @default empty */
  readonly info?: Uint8Array;
  /** Output length in bytes, 1 to 8160. */
  readonly length: number;
}

/**
 * Raw HKDF-SHA256. Input keying material is a SecretKey or bytes; output is plain bytes (use
 * `deriveSubkey` to get a SecretKey in guarded memory).
 */
export function hkdfSha256(ikm: SecretKey | Uint8Array, options: HkdfOptions): Uint8Array {
  assertOptions(options, 'options');
  const material = ikm instanceof SecretKey ? keyMaterial(ikm) : ikm;
  assertBytes(material, 'ikm');
  const salt = options.salt ?? new Uint8Array(0);
  const info = options.info ?? new Uint8Array(0);
  assertBytes(salt, 'salt');
  assertBytes(info, 'info', { max: 1024 });
  assertInteger(options.length, 'length', 1, HKDF_SHA256_MAX_LENGTH);
  return new Uint8Array(hkdfSync('sha256', material, salt, info, options.length));
}

const PURPOSE_RE = /^[a-z0-9][a-z0-9._/-]{0,127}$/;

/** The HKDF `info` for a purpose label: `fortress/v1/<purpose>` 0x00 `<context>`. */
export function purposeInfo(purpose: string, context: Uint8Array | string = ''): Uint8Array {
  assertString(purpose, 'purpose');
  if (!PURPOSE_RE.test(purpose)) {
    throw new InvalidArgumentError('purpose', 'expected 1-128 characters of a-z, 0-9, ".", "_", "/" or "-"');
  }
  const contextBytes = typeof context === 'string' ? utf8Encoder.encode(context) : context;
  assertBytes(contextBytes, 'context', { max: 512 });
  const label = utf8Encoder.encode(`fortress/v1/${purpose}`);
  const info = new Uint8Array(label.length + 1 + contextBytes.length);
  info.set(label, 0);
  info.set(contextBytes, label.length + 1);
  return info;
}

/**
 * Derives an independent subkey of `parent` for one purpose (e.g. `blind-index`, `kek/tenant`).
 * Different purposes or contexts give unrelated keys; the output never leaves guarded memory
 * except as a short-lived temporary that is zeroed.
 *
 * @example
 * ```ts
 * using indexKey = deriveSubkey(columnKey, 'blind-index', 'patients.email');
 * ```
 */
export function deriveSubkey(
  parent: SecretKey,
  purpose: string,
  context: Uint8Array | string = '',
  length = 32,
): SecretKey {
  assertSecretKey(parent, 'parent');
  assertInteger(length, 'length', 16, 64);
  const info = purposeInfo(purpose, context);
  const derived = new Uint8Array(hkdfSync('sha256', keyMaterial(parent), new Uint8Array(0), info, length));
  try {
    return SecretKey.fromBytes(derived);
  } finally {
    wipe(derived);
  }
}
