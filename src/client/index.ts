/**
 * @module fortress/client
 * The TypeScript SDK of a Fortress server, over `fetch` only (Node 20+, browsers, Deno, Bun):
 * `FortressClient` with one typed method per route, `FortressClientError` with the server's stable
 * `FX_…` codes, and the base64 helpers for `bytes` columns.
 *
 * @example
 * ```ts
 * import { FortressClient } from 'fortress/client';
 * const client = new FortressClient({ address: 'https://fortress.internal:8200', token });
 * const tables = await client.db.listTables();
 * ```
 */
export { FortressClient, type FortressClientOptions } from './fortress-client.js';
export {
  FortressClientError,
  isFortressClientError,
  type ClientFailureCode,
  type FortressClientErrorCode,
  type FortressClientErrorOptions,
} from './client-errors.js';
export { fromBase64, toBase64 } from './wire-codec.js';
export type { SysApi } from './api/sys-api.js';
export type { AuthApi } from './api/auth-api.js';
export type { DbApi } from './api/db-api.js';
export type { KeysApi } from './api/keys-api.js';
export type { PoliciesApi } from './api/policies-api.js';
export type { PrincipalsApi, TenantOption } from './api/principals-api.js';
export type { AuditApi } from './api/audit-api.js';
export type {
  KvApi,
  KvConfig,
  KvList,
  KvMetadata,
  KvMetadataChanges,
  KvSecret,
  KvVersionInfo,
} from './api/kv-api.js';
export type {
  CreateTransitKeyOptions,
  TransitApi,
  TransitBytes,
  TransitDataKey,
  TransitDataKeyOptions,
  TransitDecryptItem,
  TransitDecryptOptions,
  TransitEncryptItem,
  TransitEncryptOptions,
  TransitExportType,
  TransitExportedKey,
  TransitHmacAlgorithm,
  TransitItemError,
  TransitItemResult,
  TransitKeyChanges,
  TransitKeyInfo,
  TransitKeyList,
  TransitKeyType,
  TransitKeyVersion,
  TransitRewrapColumn,
  TransitRewrapItem,
  TransitRewrapJob,
  TransitSealed,
  TransitSignature,
} from './api/transit-api.js';
export type {
  DatabaseApi,
  DatabaseConnectionConfig,
  DatabaseConnectionInfo,
  DatabaseCredentials,
  DatabaseDuration,
  DatabaseLeaseInfo,
  DatabaseLeaseList,
  DatabaseListOptions,
  DatabaseNameList,
  DatabaseRoleConfig,
  DatabaseRoleInfo,
  DatabaseStaticCredentials,
  DatabaseStaticRoleConfig,
  DatabaseStaticRoleInfo,
} from './api/database-api.js';
export type * from './client-types.js';
