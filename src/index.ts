/**
 * @module fortress
 * The package root. Today it exposes the cryptographic core and the error classes; the database
 * facade (`Fortress.open`) arrives with the storage engine. Subpath `fortress/crypto` holds the
 * same crypto API on its own.
 */
export * from './crypto/index.js';
export {
  CryptoError,
  ERROR_CODES,
  FortressError,
  IntegrityError,
  InvalidArgumentError,
  type ErrorCode,
} from './util/errors.js';
