/**
 * @module keys/seal/wrap-root
 * Wraps and unwraps the root key under an unseal key, as a Fortress envelope bound to the seal
 * kind, so a wrapped root key cannot be presented to another kind of provider.
 */
import { DataKey } from '../../crypto/envelope/data-key.js';
import { EncryptionContext } from '../../crypto/envelope/encryption-context.js';
import { decrypt, encrypt } from '../../crypto/envelope/envelope.js';
import { keyMaterial, SecretKey, wipe } from '../../crypto/memory/secret-key.js';
import { CryptoError, FortressError } from '../../util/errors.js';
import type { SealKind } from './seal-provider.js';

const ROOT_KEY_ID = 0;
const ROOT_KEY_VERSION = 0;

function contextFor(kind: SealKind): EncryptionContext {
  return EncryptionContext.of({ table: 'fortress/seal', column: kind, row: 'root-key' });
}

/** Copies `unsealKey` into a throw-away DataKey (the caller keeps ownership of `unsealKey`). */
function wrappingKey(unsealKey: SecretKey): DataKey {
  return new DataKey({
    id: ROOT_KEY_ID,
    version: ROOT_KEY_VERSION,
    algorithm: 'xchacha20-poly1305',
    key: SecretKey.fromBytes(keyMaterial(unsealKey)),
  });
}

/** The root key sealed under `unsealKey`, as base64. */
export function wrapRoot(kind: SealKind, unsealKey: SecretKey, rootKey: SecretKey): string {
  using key = wrappingKey(unsealKey);
  return encrypt(key, keyMaterial(rootKey), contextFor(kind)).toString('base64');
}

/** The root key back in guarded memory; `FX_UNSEAL_FAILED` when `unsealKey` is not the right one. */
export function unwrapRoot(kind: SealKind, unsealKey: SecretKey, wrappedRoot: string): SecretKey {
  using key = wrappingKey(unsealKey);
  let plain: Uint8Array;
  try {
    plain = decrypt(key, Buffer.from(wrappedRoot, 'base64'), contextFor(kind));
  } catch (cause) {
    if (cause instanceof CryptoError && cause.code !== 'FX_INTEGRITY') {
      throw new FortressError('FX_KEYSTORE_CORRUPT', 'the stored wrapped root key is malformed', { cause });
    }
    throw new FortressError('FX_UNSEAL_FAILED', 'the unseal key does not open the root key', { cause });
  }
  try {
    return SecretKey.fromBytes(plain);
  } finally {
    wipe(plain);
  }
}
