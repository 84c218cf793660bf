/**
 * @module fortress
 * The package root: the cryptographic core, the keys layer and the error classes; the database
 * facade (`Fortress.open`) arrives with the storage engine. Subpaths: `fortress/crypto`,
 * `fortress/keys`, and `fortress/keys/pkcs11` (optional native binding).
 */
export * from './crypto/index.js';
export * from './keys/index.js';
export {
  CryptoError,
  ERROR_CODES,
  FortressError,
  IntegrityError,
  InvalidArgumentError,
  type ErrorCode,
} from './util/errors.js';
