/**
 * @module crypto/aead/raw-aead
 * Validated one-shot calls to a raw AEAD with a caller-chosen nonce. The envelope is what
 * applications use; these exist for known-answer tests, interoperability and the self-test.
 * Never reuse a nonce under the same key.
 */
import { assertBytes } from '../../util/bytes.js';
import { IntegrityError } from '../../util/errors.js';
import { assertSecretKey, keyMaterial, type SecretKey } from '../memory/secret-key.js';
import { getAead } from './registry.js';
import type { AeadName } from './aead.js';

/** Encrypts with an explicit nonce; returns ciphertext‖tag. */
export function aeadEncrypt(
  algorithm: AeadName,
  key: SecretKey,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const aead = getAead(algorithm);
  assertSecretKey(key, 'key', aead.keyLength);
  assertBytes(nonce, 'nonce', { exact: aead.nonceLength });
  assertBytes(plaintext, 'plaintext');
  assertBytes(aad, 'aad');
  const out = new Uint8Array(plaintext.length + aead.tagLength);
  aead.encryptInto(out, plaintext, aad, nonce, keyMaterial(key));
  return out;
}

/** Decrypts ciphertext‖tag; throws `FX_INTEGRITY` when the tag does not verify. */
export function aeadDecrypt(
  algorithm: AeadName,
  key: SecretKey,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const aead = getAead(algorithm);
  assertSecretKey(key, 'key', aead.keyLength);
  assertBytes(nonce, 'nonce', { exact: aead.nonceLength });
  assertBytes(sealed, 'sealed', { min: aead.tagLength });
  assertBytes(aad, 'aad');
  const out = new Uint8Array(sealed.length - aead.tagLength);
  if (!aead.decryptInto(out, sealed, aad, nonce, keyMaterial(key))) throw new IntegrityError();
  return out;
}
