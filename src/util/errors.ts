/**
 * @module util/errors
 * Fortress's error classes. Every error a caller can act on carries a stable `FX_…` code: the code
 * is the contract (documented in docs/architecture.md), the message is for humans and may change.
 * Messages never contain key bytes, plaintext values or secrets.
 */

/** Every stable error code Fortress raises, with what it means. */
export const ERROR_CODES = {
  FX_INVALID_ARGUMENT: 'An argument has the wrong type, length or range; the message names it.',
  FX_INTEGRITY:
    'Authenticated decryption failed: wrong key, tampered bytes, or a value moved to another context.',
  FX_CRYPTO_MALFORMED_ENVELOPE:
    'Bytes are not a well-formed Fortress envelope (truncated, extended, bad fields).',
  FX_CRYPTO_UNSUPPORTED_VERSION: 'The envelope or encoding has a format version this build does not read.',
  FX_CRYPTO_UNKNOWN_ALGORITHM: 'An algorithm name or id that this build does not provide.',
  FX_CRYPTO_KEY_MISMATCH: 'The key given does not match the key id, version or algorithm in the envelope.',
  FX_CRYPTO_KEY_DISPOSED: 'A key was used after it was disposed (zeroed).',
  FX_CRYPTO_KEY_USAGE_EXCEEDED: "A key version reached its algorithm's safe encryption limit; rotate it.",
  FX_CRYPTO_VALUE_TOO_LARGE: 'A value is larger than Fortress encrypts in one envelope.',
  FX_CRYPTO_INVALID_KDF_PARAMS: 'Key-derivation parameters are malformed or outside safe bounds.',
  FX_CRYPTO_INVALID_SHARE: 'A secret share is malformed or its checksum does not match (mistyped?).',
  FX_CRYPTO_SHARES_MISMATCH:
    'Shares come from different splits, repeat an index, or do not reconstruct the secret.',
  FX_CRYPTO_NOT_ENOUGH_SHARES: 'Fewer shares than the threshold were given.',
  FX_CRYPTO_NO_SAFE_INDEX_SIZE: 'No blind-index size is safe for the given row count and existing indexes.',
  FX_CRYPTO_INVALID_SIGNATURE_KEY: 'A signing or verification key is malformed.',
  FX_CLI_USAGE: 'The command line names an unknown command, flag or value.',
  FX_NOT_INITIALIZED: 'Fortress has not been initialised here yet (run `fortress init`).',
  FX_ALREADY_INITIALIZED: 'Fortress is already initialised here; refusing to overwrite its keys.',
  FX_SEALED: 'Fortress is sealed: no key (and so no data) operation works until it is unsealed.',
  FX_ALREADY_UNSEALED: 'Fortress is already unsealed.',
  FX_UNSEAL_FAILED:
    'The unseal material is wrong (wrong share, share combination or passphrase); the attempt was reset.',
  FX_SEAL_PROVIDER: 'The seal provider (HSM, key file, …) failed or is misconfigured.',
  FX_KEY_NOT_FOUND: 'No key with that id or name.',
  FX_KEY_VERSION_RETIRED: 'That key version is below the minimum decryption version and refuses to decrypt.',
  FX_KEY_VERSION_DESTROYED: 'That key version was destroyed (crypto-shredded); data under it is unreadable.',
  FX_KEY_STATE:
    'The operation is not allowed in the key or version state (e.g. destroying the active version).',
  FX_KEYSTORE_CORRUPT: 'The key store holds malformed or inconsistent records.',
  FX_STORAGE: 'The storage backend failed (I/O error, corrupt file, …); the message says how.',
  FX_STORAGE_QUERY: 'A statement was malformed or referred to something that does not exist.',
  FX_STORAGE_CONSTRAINT: 'A write broke a constraint (unique, not null, foreign key); nothing was written.',
  FX_STORAGE_BUSY: 'The database is locked by another process; try again.',
  FX_STORAGE_UNAVAILABLE:
    'The database server cannot be reached: connection refused or lost, server shutting down or starting up (HTTP 503); retry later. A write cut off during its commit may or may not have been applied.',
  FX_STORAGE_CLOSED: 'The database was closed.',
  FX_BACKUP_INVALID: 'A key backup is malformed, tampered with, or not addressed to this recipient.',
  FX_SCHEMA_INVALID: 'A table definition or schema change is malformed; the message names the part.',
  FX_TABLE_NOT_FOUND: 'No table with that name.',
  FX_TABLE_EXISTS: 'A table with that name already exists.',
  FX_COLUMN_NOT_FOUND: 'The table has no column with that name.',
  FX_TYPE_MISMATCH: "A value does not fit its column's type (or a required value is missing).",
  FX_VALUE_TOO_LARGE: "A value is larger than the column's limit.",
  FX_ROW_NOT_FOUND: 'No row with that primary key.',
  FX_DUPLICATE_KEY: 'A row with that primary key already exists.',
  FX_QUERY_INVALID: 'A query is malformed (unknown operator, bad cursor, bad limit, …).',
  FX_QUERY_UNSUPPORTED:
    "A column's encryption cannot answer this operator; the message names the column and the capability (pass `scan: true` for an explicit full scan).",
  FX_SECRET_NOT_FOUND: 'No secret at that path, or no such version of it.',
  FX_SECRET_DELETED:
    'That secret version is deleted or destroyed; undelete it (if only deleted) or use another.',
  FX_SECRET_CAS_REQUIRED: 'Writes to that secret (or to every secret, by the engine setting) must carry cas.',
  FX_SECRET_CAS_MISMATCH:
    "The write's cas does not match the secret's current version (someone wrote first).",
  FX_TRANSIT_KEY_NOT_FOUND: 'No transit key with that name.',
  FX_TRANSIT_KEY_EXISTS: 'A transit key with that name already exists.',
  FX_TRANSIT_UNSUPPORTED:
    "The transit key's type does not do that operation (e.g. signing with an encryption key).",
  FX_TRANSIT_CIPHERTEXT_INVALID:
    'A transit ciphertext, HMAC or signature is not an `fx:v<version>:<base64>` string of this key.',
  FX_TRANSIT_VERSION:
    'The requested key version is outside what the key allows (below its minimum encryption version, or newer than its latest).',
  FX_TRANSIT_NOT_EXPORTABLE:
    'The transit key was not created exportable; its key material never leaves Fortress.',
  FX_TRANSIT_EXPORTABLE_IRREVERSIBLE: 'An exportable transit key cannot be made non-exportable again.',
  FX_DB_CONNECTION_NOT_FOUND: 'No database connection with that name (HTTP 404).',
  FX_DB_ROLE_NOT_FOUND: 'No dynamic database role with that name (HTTP 404).',
  FX_DB_STATIC_ROLE_NOT_FOUND: 'No static database role with that name (HTTP 404).',
  FX_DB_LEASE_NOT_FOUND: 'No lease with that id: never issued, or already revoked (HTTP 404).',
  FX_DB_TEMPLATE_INVALID:
    'A statement template names an unknown placeholder, or one that kind of statement cannot use, or lacks a required one (HTTP 400).',
  FX_DB_ROLE_NOT_ALLOWED: "The role is not in its connection's allowedRoles (HTTP 400).",
  FX_DB_CONNECTION_FAILED:
    'The target database cannot be reached, refused the login, or the link broke during the call (if during a commit, the change may have been made; Fortress keeps what it needs to clean up) (HTTP 502).',
  FX_DB_STATEMENT_FAILED:
    'The target database rejected a statement; the message quotes its error with passwords redacted (HTTP 502).',
  FX_DB_IN_USE:
    'The name or user is in use: a connection still used by roles or leases, a user already managed by another static role, a name taken by the other kind of role (HTTP 409).',
  FX_DB_LEASE_EXPIRED: 'The lease has expired or is being revoked; it cannot be renewed (HTTP 409).',
  FX_DB_BUSY:
    'Another operation (a root or static rotation, a revocation) holds this item right now, possibly in another process; retry shortly (HTTP 409).',
  FX_JOB_CONFLICT: 'Another schema change or background job is already running on that table.',
  FX_JOB_NOT_FOUND: 'No background job with that id.',
  FX_CLOSED: 'The database was closed.',
  FX_AUDIT_FORMAT:
    'An audit artefact (entry, signed note, checkpoint, proof file, segment) is malformed; the message says where.',
  FX_AUDIT_PROOF: 'An inclusion or consistency proof does not verify against the given root(s).',
  FX_AUDIT_SIGNATURE: 'A signed note or checkpoint carries no valid signature by the expected key.',
  FX_AUDIT_UNAVAILABLE:
    'The audit ledger cannot durably record the entry, so the operation it describes was refused (fail-closed).',
  FX_AUDIT_VERIFY_FAILED: 'Ledger verification found an entry, hash or checkpoint that does not match.',
  FX_AUDIT_NOT_FOUND: 'No audit entry or checkpoint with that sequence number or size.',
  FX_FORBIDDEN:
    'Policy denies the operation; the message names the principal, action and resource and the deciding rule, never data.',
  FX_POLICY_INVALID:
    "A policy does not parse or does not validate against Fortress's Cedar schema; the message quotes the validator.",
  FX_POLICY_NOT_FOUND: 'No policy, principal, group, role or row filter with that id.',
  FX_POLICY_CONFLICT: 'An id is already taken, or a change would break a built-in guardrail.',
  FX_LABEL_INVALID:
    'A security label or clearance names an unknown level or compartment, or the label scheme is malformed.',
  FX_CONFIG_INVALID:
    'The server configuration (file, FORTRESS_* variable or flag) is malformed; the message lists every problem with its source.',
  FX_UNAUTHENTICATED:
    'The request carries no token, a malformed one, or one that is unknown or revoked (HTTP 401).',
  FX_TOKEN_EXPIRED: 'The token has passed its TTL or maximum TTL (HTTP 401); log in again.',
  FX_LOGIN_FAILED:
    'Wrong user name or password, or a JWT that does not verify (HTTP 401); the message never says which.',
  FX_REQUEST_INVALID:
    'The HTTP request does not match the route: malformed JSON, a wrong type, an unknown field, a bad path parameter (HTTP 400).',
  FX_PAYLOAD_TOO_LARGE: 'The request body exceeds the configured limit (HTTP 413).',
  FX_RATE_LIMITED:
    'Too many requests for this token or client address (HTTP 429); retry after the given delay.',
  FX_NOT_FOUND: 'No such route, or nothing in progress to act on (HTTP 404).',
  FX_CEREMONY_IN_PROGRESS:
    'A rekey or root rotation is already collecting unseal inputs (HTTP 409); finish or cancel it first.',
  FX_NONCE_MISMATCH:
    'An unseal input was sent for another rekey or root rotation than the one in progress (HTTP 409).',
  FX_INTERNAL: 'An unexpected error; the detail is in the server log under the request id (HTTP 500).',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every Fortress error. `code` is stable; match on it, not on the message. */
export class FortressError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A caller passed a value of the wrong type, length or range. `argument` names it. */
export class InvalidArgumentError extends FortressError {
  readonly argument: string;

  constructor(argument: string, message: string) {
    super('FX_INVALID_ARGUMENT', `${argument}: ${message}`);
    this.argument = argument;
  }
}

/** A cryptographic operation was refused or input bytes were malformed. */
export class CryptoError extends FortressError {}

/**
 * Authentication failed. Deliberately says nothing about *why* (wrong key, flipped bit, moved
 * value): telling them apart would give an attacker an oracle.
 */
export class IntegrityError extends FortressError {
  constructor(message = 'authentication failed: wrong key, tampered data or wrong encryption context') {
    super('FX_INTEGRITY', message);
  }
}

/** An audit artefact is malformed, a proof or signature does not verify, or the ledger refused a write. */
export class AuditError extends FortressError {}
