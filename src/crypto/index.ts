/**
 * @module crypto
 * Fortress's cryptographic core: AEADs behind one interface, the self-describing envelope, key
 * derivation, blind indexes, Shamir sharing, signatures and guarded key memory. Everything here is
 * a composition of vetted libraries (libsodium, OpenSSL, argon2, noble); nothing implements a
 * primitive. This layer does no I/O.
 *
 * @example
 * ```ts
 * import { DataKey, EncryptionContext, encrypt, decrypt } from 'fortress/crypto';
 * using key = DataKey.generate({ id: 1, version: 1 });
 * const ctx = EncryptionContext.of({ table: 'patients', column: 'ssn', row: '42' });
 * const envelope = encrypt(key, new TextEncoder().encode('123-45-6789'), ctx);
 * decrypt(key, envelope, ctx); // the plaintext bytes
 * ```
 */
export type { Aead, AeadName } from './aead/aead.js';
export { DEFAULT_AEAD, getAead, isAeadName, listAeads } from './aead/registry.js';
export { aeadDecrypt, aeadEncrypt } from './aead/raw-aead.js';
export { SecretKey, MAX_SECRET_KEY_BYTES } from './memory/secret-key.js';
export { constantTimeEqual } from './memory/constant-time.js';
export { randomBytes } from './random.js';
export { DataKey, type DataKeyOptions } from './envelope/data-key.js';
export {
  EncryptionContext,
  MAX_CONTEXT_FIELD_BYTES,
  type ContextFields,
} from './envelope/encryption-context.js';
export {
  ENVELOPE_FORMAT_VERSION,
  ENVELOPE_HEADER_LENGTH,
  MAX_PLAINTEXT_BYTES,
  readEnvelopeHeader,
  type EnvelopeHeader,
} from './envelope/envelope-format.js';
export {
  decrypt,
  decryptMany,
  encrypt,
  encryptConvergent,
  encryptMany,
  type KeyResolver,
} from './envelope/envelope.js';
export { deriveSubkey, hkdfSha256, HKDF_SHA256_MAX_LENGTH, type HkdfOptions } from './kdf/hkdf.js';
export {
  ARGON2ID_DEFAULTS,
  SCRYPT_DEFAULTS,
  decodeKdfParams,
  deriveKeyFromPassphrase,
  encodeKdfParams,
  hashPassphrase,
  passphraseParams,
  verifyPassphrase,
  type Argon2idParams,
  type PassphraseKdfName,
  type PassphraseKdfOverrides,
  type PassphraseKdfParams,
  type ScryptParams,
} from './kdf/passphrase.js';
export { hmacSha256, verifyHmacSha256, HMAC_MIN_TAG_BYTES } from './mac/hmac.js';
export { BlindIndex, type BlindIndexOptions } from './blind-index/blind-index.js';
export { composeNormalizers, type NormalizerName } from './blind-index/normalizers.js';
export {
  planBlindIndexBits,
  type BlindIndexPlan,
  type BlindIndexPlanInput,
  type ExistingIndex,
} from './blind-index/planner.js';
export { combineShares, inspectShare, splitSecret, type ShareInfo } from './shamir/shamir.js';
export {
  createSigner,
  createVerifier,
  generateSigner,
  signatureSizes,
  SIGNATURE_SEED_BYTES,
  type SignatureAlgorithm,
  type SignatureOptions,
  type Signer,
  type Verifier,
} from './signature/signature.js';
export {
  decapsulate as hybridDecapsulate,
  deriveRecipientPublicKey,
  encapsulate as hybridEncapsulate,
  generateRecipientKeys,
  HYBRID_ENCAPSULATION_BYTES,
  HYBRID_KEM_VERSION,
  HYBRID_PUBLIC_KEY_BYTES,
  HYBRID_SECRET_KEY_BYTES,
  HYBRID_SHARED_KEY_BYTES,
} from './hybrid/hybrid-kem.js';
export {
  KEY_BACKUP_FORMAT_VERSION,
  KEY_BACKUP_MLDSA_CONTEXT,
  MAX_BACKUP_LABEL_BYTES,
  MAX_BACKUP_PAYLOAD_BYTES,
  keyBackupSignerOptions,
  openBackup,
  sealBackup,
  type BackupSigners,
  type OpenBackupOptions,
  type OpenedBackup,
  type SealBackupOptions,
  type TrustedBackupSigners,
} from './backup/key-backup.js';
