/**
 * @module crypto/memory/constant-time
 * Comparison of secrets without timing leaks.
 */
import sodium from 'sodium-native';
import { assertBytes } from '../../util/bytes.js';

/**
 * Compares two byte strings in time that depends only on their length (libsodium `sodium_memcmp`).
 * Different lengths return false at once: lengths are not treated as secret.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  assertBytes(a, 'a');
  assertBytes(b, 'b');
  if (a.length !== b.length) return false;
  if (a.length === 0) return true;
  return sodium.sodium_memcmp(a, b);
}
