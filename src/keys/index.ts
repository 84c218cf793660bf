/**
 * @module keys
 * The keys layer: seal providers, key stores and the KeyManager (root key, keyring, rotation,
 * shredding, backups). The PKCS#11 provider is on its own subpath, `fortress/keys/pkcs11`, because
 * its native binding is an optional dependency.
 *
 * @example
 * ```ts
 * import { KeyManager, FileKeyStore, ShamirSealProvider } from 'fortress/keys';
 * const keys = await KeyManager.open({ store: await FileKeyStore.open('./data/keys') });
 * ```
 */
export {
  KeyManager,
  type CreateKeyOptions,
  type DestroyResult,
  type KeyInfo,
  type KeyManagerOptions,
  type KeyManagerState,
  type EncryptionKeyOptions,
} from './key-manager.js';
export type {
  SealConfig,
  SealKind,
  SealProvider,
  SealResult,
  UnsealAttempt,
  UnsealProgress,
} from './seal/seal-provider.js';
export { ShamirSealProvider, type ShamirSealOptions } from './seal/shamir-seal.js';
export { PassphraseSealProvider, type PassphraseSealOptions } from './seal/passphrase-seal.js';
export {
  DevKeyFileSealProvider,
  DEV_KEY_FILE_WARNING,
  type DevKeyFileSealOptions,
} from './seal/dev-key-file-seal.js';
export type {
  KeyPurpose,
  KeyRecord,
  KeyStore,
  KeyVersionRecord,
  KeyVersionState,
} from './store/key-store.js';
export { MemoryKeyStore } from './store/memory-key-store.js';
export { FileKeyStore } from './store/file-key-store.js';
export { formatRotationPeriod, parseRotationPeriod } from './keyring/rotation-period.js';
