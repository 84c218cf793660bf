/**
 * @module crypto/mac/hmac
 * HMAC-SHA256 (RFC 2104 / FIPS 198-1) from OpenSSL via node:crypto, with constant-time verification.
 */
import { createHmac } from 'node:crypto';
import { assertBytes } from '../../util/bytes.js';
import { constantTimeEqual } from '../memory/constant-time.js';
import { keyMaterial, SecretKey } from '../memory/secret-key.js';

/** Shortest tag `verifyHmacSha256` accepts: shorter tags are too easy to forge. */
export const HMAC_MIN_TAG_BYTES = 16;

function material(key: SecretKey | Uint8Array): Uint8Array {
  if (key instanceof SecretKey) return keyMaterial(key);
  assertBytes(key, 'key', { min: 1 });
  return key;
}

/** The 32-byte HMAC-SHA256 of `message` under `key`. */
export function hmacSha256(key: SecretKey | Uint8Array, message: Uint8Array): Uint8Array {
  const k = material(key);
  assertBytes(message, 'message');
  return new Uint8Array(createHmac('sha256', k).update(message).digest());
}

/**
 * Checks `tag` (the full 32 bytes, or a truncation of at least 16 bytes) in constant time.
 * Returns false for a wrong or malformed tag; throws only for a bad key or message argument.
 */
export function verifyHmacSha256(key: SecretKey | Uint8Array, message: Uint8Array, tag: Uint8Array): boolean {
  const expected = hmacSha256(key, message);
  assertBytes(tag, 'tag');
  if (tag.length < HMAC_MIN_TAG_BYTES || tag.length > expected.length) return false;
  return constantTimeEqual(expected.subarray(0, tag.length), tag);
}
