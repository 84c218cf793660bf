/**
 * @module policy/schema/fortress-schema
 * The Cedar schema every Fortress policy is validated against: the entity types (principals and
 * resources), their attributes, and which actions apply to which resources. Policies are written
 * against the `Fortress` namespace, e.g.
 *
 * ```cedar
 * permit(principal in Fortress::Role::"acme/analyst", action == Fortress::Action::"read",
 *        resource is Fortress::Table) when { resource.name == "patients" };
 * ```
 *
 * Entity ids are canonical paths built by Fortress, never by the caller: `<tenant>` for a tenant,
 * `<tenant>/<id>` for principals, groups, roles, keys, policies and audit logs,
 * `<tenant>/<database>` for a database, `<tenant>/<database>/<table>` for a table and
 * `<tenant>/<database>/<table>/<column>` for a column, `<tenant>/<path>` for a secret of the KV
 * engine (`path` is its path, or the folder being listed, ending in `/`; `owner` its second path
 * segment, for per-principal folders: `resource.owner == principal.name`). Every resource carries `tenant`, and data
 * resources carry their security label (`level` as a rank, `compartments` as names), so the
 * built-in guardrails can compare them with the principal's clearance.
 */

/** Every action Fortress authorizes. */
export const ACTIONS = [
  'read',
  'decrypt',
  'insert',
  'update',
  'delete',
  'query',
  'createTable',
  'alterTable',
  'dropTable',
  'rotateKey',
  'destroyKey',
  'exportKey',
  'managePolicy',
  'readAudit',
  'seal',
  'unseal',
  'readSecret',
  'writeSecret',
  'deleteSecret',
  'destroySecret',
  'listSecrets',
  'configureSecrets',
  'transitEncrypt',
  'transitDecrypt',
  'transitRewrap',
  'transitDataKey',
  'transitPlaintextDataKey',
  'transitHmac',
  'transitSign',
  'transitVerify',
  'readTransitKey',
  'manageTransitKey',
  'exportTransitKey',
  'listTransitKeys',
  'transitRandom',
  'readCredentials',
  'renewLease',
  'revokeLease',
  'manageDatabase',
] as const;

export type Action = (typeof ACTIONS)[number];

/** Principal entity types (who acts). */
export const PRINCIPAL_TYPES = ['User', 'ServiceAccount'] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

/** Resource entity types (what is acted on). */
export const RESOURCE_TYPES = [
  'Tenant',
  'Database',
  'Table',
  'Column',
  'Row',
  'Key',
  'Policy',
  'AuditLog',
  'System',
  'Secret',
  'TransitKey',
  'DatabaseRole',
] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** The Cedar namespace of Fortress's entity types and actions. */
export const NAMESPACE = 'Fortress';

/**
 * The schema, in Cedar's human-readable schema syntax. `context` carries the request time (Unix
 * seconds), the client's address when there is one, and whether break-glass was invoked.
 */
export const FORTRESS_CEDAR_SCHEMA = `namespace Fortress {
  type Context = {
    "now": Long,
    "clientAddress"?: String,
    "breakGlass": Bool,
  };

  entity Tenant = { "tenant": String };
  entity Role in [Role] = { "tenant": String, "name": String };
  entity Group in [Group, Role] = { "tenant": String, "name": String };
  entity User in [Group, Role] = {
    "tenant": String,
    "name": String,
    "level": Long,
    "compartments": Set<String>,
  };
  entity ServiceAccount in [Group, Role] = {
    "tenant": String,
    "name": String,
    "level": Long,
    "compartments": Set<String>,
  };

  entity System = { "tenant": String };
  entity Database in [Tenant] = { "tenant": String, "name": String };
  entity Table in [Database] = {
    "tenant": String,
    "database": String,
    "name": String,
    "level": Long,
    "compartments": Set<String>,
  };
  entity Column in [Table] = {
    "tenant": String,
    "database": String,
    "table": String,
    "name": String,
    "encrypted": Bool,
    "level": Long,
    "compartments": Set<String>,
  };
  entity Row in [Table] = {
    "tenant": String,
    "database": String,
    "table": String,
    "level": Long,
    "compartments": Set<String>,
  };
  entity Key in [Tenant] = { "tenant": String, "name": String };
  entity Policy in [Tenant] = { "tenant": String, "name": String };
  entity AuditLog in [Tenant] = { "tenant": String };
  entity Secret in [Tenant] = { "tenant": String, "path": String, "owner": String };
  entity TransitKey in [Tenant] = { "tenant": String, "name": String };
  entity DatabaseRole in [Tenant] = { "tenant": String, "name": String };

  action read appliesTo { principal: [User, ServiceAccount], resource: [Table, Column, Row], context: Context };
  action decrypt appliesTo { principal: [User, ServiceAccount], resource: [Column], context: Context };
  action query appliesTo { principal: [User, ServiceAccount], resource: [Table, Column], context: Context };
  action insert, update, delete appliesTo { principal: [User, ServiceAccount], resource: [Table, Row], context: Context };
  action createTable appliesTo { principal: [User, ServiceAccount], resource: [Database], context: Context };
  action alterTable, dropTable appliesTo { principal: [User, ServiceAccount], resource: [Table], context: Context };
  action rotateKey, destroyKey, exportKey appliesTo { principal: [User, ServiceAccount], resource: [Key, Table, Tenant], context: Context };
  action managePolicy appliesTo { principal: [User, ServiceAccount], resource: [Policy, Tenant], context: Context };
  action readAudit appliesTo { principal: [User, ServiceAccount], resource: [AuditLog], context: Context };
  action seal, unseal appliesTo { principal: [User, ServiceAccount], resource: [System], context: Context };
  action readSecret, writeSecret, deleteSecret, destroySecret, listSecrets appliesTo { principal: [User, ServiceAccount], resource: [Secret], context: Context };
  action configureSecrets appliesTo { principal: [User, ServiceAccount], resource: [Tenant], context: Context };
  action transitEncrypt, transitDecrypt, transitRewrap, transitDataKey, transitPlaintextDataKey, transitHmac, transitSign, transitVerify, readTransitKey, manageTransitKey, exportTransitKey appliesTo { principal: [User, ServiceAccount], resource: [TransitKey], context: Context };
  action listTransitKeys, transitRandom appliesTo { principal: [User, ServiceAccount], resource: [Tenant], context: Context };
  action readCredentials, renewLease, revokeLease appliesTo { principal: [User, ServiceAccount], resource: [DatabaseRole], context: Context };
  action manageDatabase appliesTo { principal: [User, ServiceAccount], resource: [Tenant], context: Context };
}
`;

/**
 * A Secret entity's `owner`: the second segment of its path (`users/ann/db` → `ann`), or `""`
 * for shorter paths — policies compare it with `principal.name` for per-principal folders.
 */
export function secretOwner(path: string): string {
  const parts = path.split('/');
  return parts.length >= 3 ? parts[1]! : '';
}

/** The tenant attribute value of the one `System` entity: system actions belong to no tenant. */
export const SYSTEM_TENANT = '*';
