/**
 * @module fortress
 * The package root: the database facade (`Fortress.open`), its table API, the cryptographic core,
 * the keys layer, access control (`db.access`, `db.as()`) and the error classes. Subpaths:
 * `fortress/crypto`, `fortress/keys`, `fortress/policy`, `fortress/audit` and
 * `fortress/keys/pkcs11` (optional native binding).
 */
export { Fortress, Transaction, type FortressOptions } from './fortress.js';
export { Table, type FindOptions, type OrderBy, type Page } from './engine/table/table.js';
export {
  AccessControl,
  type PrincipalInfo,
  type PrincipalOptions,
  type RowFilterInfo,
} from './access-control.js';
export { GuardedTable, PolicySession, type SessionPrincipal } from './policy-session.js';
export type { ColumnFilter, Where } from './engine/query/where.js';
export type { KeyUsage } from './engine/engine.js';
export type { Job, JobKind, JobOptions, JobProgress, JobState } from './engine/jobs/job.js';
export type { ColumnType, ColumnValueTypes, JsonValue } from './engine/schema/column-types.js';
export type {
  AnyRow,
  ColumnDefinition,
  ColumnMask,
  EncryptionLevel,
  EncryptOptions,
  InsertOf,
  RowOf,
  StoredColumn,
  StoredTable,
  TableDefinition,
} from './engine/schema/table-schema.js';
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
