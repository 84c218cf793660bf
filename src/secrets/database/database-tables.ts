/**
 * @module secrets/database/database-tables
 * The database secrets engine's storage: five tables, every row keyed by tenant first, times in ms
 * since the epoch, statement lists as JSON text, passwords only as envelopes (docs/formats.md).
 *
 * - `fx_db_connections`: a target and its administrator. `password` is the administrator's
 *   password; `pending_password` the next one while a root rotation runs (kept if the rotation's
 *   outcome is unknown, and tried when the current one is refused). `generation` grows with every
 *   password change, so every process rebuilds its pool.
 * - `fx_db_roles`: dynamic roles (statements and TTLs; no secret).
 * - `fx_db_static_roles`: static roles, with the current and the pending password.
 * - `fx_db_leases`: issued credentials (never their password) and their state: `creating` (written,
 *   claimed, before its user is created — so a user never exists without a lease to revoke it),
 *   `active`, `revoking` (claimed), `failed` (a revocation to retry at `claim_until`).
 * - `fx_db_lease_owners`: which leases a caller owns (a server's token accessor): revoking the
 *   token revokes them. A table of its own, so data directories made before it need no migration.
 *
 * `claim_token` / `claim_until` mark an item one process is working on (a rotation, a
 * revocation): a conditional UPDATE claims it, so two processes sharing the storage never both
 * do; a claim whose process died lapses at `claim_until`.
 */
import type { StorageDriver } from '../../storage/dialect.js';

export function databaseTablesDdl(driver: StorageDriver): string {
  const s = driver.spelling;
  return `
CREATE TABLE IF NOT EXISTS fx_db_connections (
  tenant ${s.text} NOT NULL,
  name ${s.text} NOT NULL,
  plugin ${s.text} NOT NULL,
  connection_url ${s.text} NOT NULL,
  username ${s.text} NOT NULL,
  password ${s.bytes} NOT NULL,
  pending_password ${s.bytes},
  allowed_roles ${s.text} NOT NULL,
  max_open ${s.int64} NOT NULL,
  password_length ${s.int64} NOT NULL,
  password_auth ${s.text} NOT NULL,
  root_rotation ${s.text} NOT NULL,
  generation ${s.int64} NOT NULL,
  claim_token ${s.text},
  claim_until ${s.int64},
  created_at ${s.int64} NOT NULL,
  updated_at ${s.int64} NOT NULL,
  root_rotated_at ${s.int64},
  settings_seal ${s.bytes},
  PRIMARY KEY (tenant, name)
)${s.withoutRowid};
CREATE TABLE IF NOT EXISTS fx_db_roles (
  tenant ${s.text} NOT NULL,
  name ${s.text} NOT NULL,
  connection ${s.text} NOT NULL,
  creation ${s.text} NOT NULL,
  revocation ${s.text} NOT NULL,
  renew ${s.text} NOT NULL,
  default_ttl ${s.int64} NOT NULL,
  max_ttl ${s.int64} NOT NULL,
  created_at ${s.int64} NOT NULL,
  updated_at ${s.int64} NOT NULL,
  settings_seal ${s.bytes},
  PRIMARY KEY (tenant, name)
)${s.withoutRowid};
CREATE TABLE IF NOT EXISTS fx_db_static_roles (
  tenant ${s.text} NOT NULL,
  name ${s.text} NOT NULL,
  connection ${s.text} NOT NULL,
  username ${s.text} NOT NULL,
  rotation_period ${s.int64} NOT NULL,
  rotation ${s.text} NOT NULL,
  password ${s.bytes},
  pending_password ${s.bytes},
  last_rotation ${s.int64},
  next_rotation ${s.int64} NOT NULL,
  retry_at ${s.int64},
  last_error ${s.text},
  claim_token ${s.text},
  claim_until ${s.int64},
  created_at ${s.int64} NOT NULL,
  updated_at ${s.int64} NOT NULL,
  settings_seal ${s.bytes},
  PRIMARY KEY (tenant, name)
)${s.withoutRowid};
CREATE TABLE IF NOT EXISTS fx_db_leases (
  tenant ${s.text} NOT NULL,
  lease_id ${s.text} NOT NULL,
  role ${s.text} NOT NULL,
  connection ${s.text} NOT NULL,
  username ${s.text} NOT NULL,
  revocation ${s.text} NOT NULL,
  issued_at ${s.int64} NOT NULL,
  expires_at ${s.int64} NOT NULL,
  max_expires_at ${s.int64} NOT NULL,
  state ${s.text} NOT NULL,
  claim_token ${s.text},
  claim_until ${s.int64},
  attempts ${s.int64} NOT NULL,
  last_error ${s.text},
  settings_seal ${s.bytes},
  PRIMARY KEY (tenant, lease_id)
)${s.withoutRowid};
CREATE INDEX IF NOT EXISTS fx_db_leases_due ON fx_db_leases (tenant, state, expires_at);
CREATE INDEX IF NOT EXISTS fx_db_leases_connection ON fx_db_leases (tenant, connection);
CREATE TABLE IF NOT EXISTS fx_db_lease_owners (
  tenant ${s.text} NOT NULL,
  lease_id ${s.text} NOT NULL,
  owner ${s.text} NOT NULL,
  PRIMARY KEY (tenant, lease_id)
)${s.withoutRowid};
CREATE INDEX IF NOT EXISTS fx_db_lease_owners_owner ON fx_db_lease_owners (tenant, owner, lease_id);`;
}

/** The tables whose rows carry a settings seal (secrets/settings-seal.ts). */
export const SEALED_TABLES = [
  { table: 'fx_db_connections', key: 'name', counted: 'connections' },
  { table: 'fx_db_roles', key: 'name', counted: 'roles' },
  { table: 'fx_db_static_roles', key: 'name', counted: 'staticRoles' },
  { table: 'fx_db_leases', key: 'lease_id', counted: 'leases' },
] as const;

/** Every statement the engine runs on its storage (`?` placeholders; tenant first). */
export const SQL = {
  connection:
    'SELECT name, plugin, connection_url, username, password, pending_password, allowed_roles, max_open, password_length, password_auth, root_rotation, generation, claim_token, claim_until, created_at, updated_at, root_rotated_at, settings_seal FROM fx_db_connections WHERE tenant = ? AND name = ?',
  insertConnection:
    'INSERT INTO fx_db_connections (tenant, name, plugin, connection_url, username, password, pending_password, allowed_roles, max_open, password_length, password_auth, root_rotation, generation, claim_token, claim_until, created_at, updated_at, root_rotated_at, settings_seal) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, 1, NULL, NULL, ?, ?, NULL, ?)',
  updateConnection:
    'UPDATE fx_db_connections SET plugin = ?, connection_url = ?, username = ?, password = ?, pending_password = NULL, allowed_roles = ?, max_open = ?, password_length = ?, password_auth = ?, root_rotation = ?, generation = generation + 1, updated_at = ?, settings_seal = ? WHERE tenant = ? AND name = ? AND generation = ?',
  deleteConnection: 'DELETE FROM fx_db_connections WHERE tenant = ? AND name = ?',
  listConnections: 'SELECT name FROM fx_db_connections WHERE tenant = ? AND name > ? ORDER BY name LIMIT ?',
  /** Claims a root rotation: stores the next password as pending. */
  claimRoot:
    'UPDATE fx_db_connections SET pending_password = ?, claim_token = ?, claim_until = ? WHERE tenant = ? AND name = ? AND generation = ? AND (claim_until IS NULL OR claim_until <= ?)',
  /** The target refused the new password for sure: forget it. */
  abandonRoot:
    'UPDATE fx_db_connections SET pending_password = NULL, claim_token = NULL, claim_until = NULL WHERE tenant = ? AND name = ? AND claim_token = ?',
  /** The outcome is unknown: keep the pending password (tried when the current one is refused). */
  releaseRoot:
    'UPDATE fx_db_connections SET claim_token = NULL, claim_until = NULL WHERE tenant = ? AND name = ? AND claim_token = ?',
  /** The target took the pending password: it becomes the password. */
  promoteRoot:
    'UPDATE fx_db_connections SET password = pending_password, pending_password = NULL, generation = generation + 1, claim_token = NULL, claim_until = NULL, root_rotated_at = ?, updated_at = ? WHERE tenant = ? AND name = ? AND pending_password IS NOT NULL AND generation = ?',
  rolesOfConnection: 'SELECT name FROM fx_db_roles WHERE tenant = ? AND connection = ? ORDER BY name LIMIT 5',
  staticRolesOfConnection:
    'SELECT name FROM fx_db_static_roles WHERE tenant = ? AND connection = ? ORDER BY name LIMIT 5',
  leasesOfConnection: 'SELECT lease_id FROM fx_db_leases WHERE tenant = ? AND connection = ? LIMIT 5',

  role: 'SELECT name, connection, creation, revocation, renew, default_ttl, max_ttl, created_at, updated_at, settings_seal FROM fx_db_roles WHERE tenant = ? AND name = ?',
  upsertRole:
    'INSERT INTO fx_db_roles (tenant, name, connection, creation, revocation, renew, default_ttl, max_ttl, created_at, updated_at, settings_seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, name) DO UPDATE SET connection = excluded.connection, creation = excluded.creation, revocation = excluded.revocation, renew = excluded.renew, default_ttl = excluded.default_ttl, max_ttl = excluded.max_ttl, updated_at = excluded.updated_at, settings_seal = excluded.settings_seal',
  deleteRole: 'DELETE FROM fx_db_roles WHERE tenant = ? AND name = ?',
  listRoles: 'SELECT name FROM fx_db_roles WHERE tenant = ? AND name > ? ORDER BY name LIMIT ?',

  staticRole:
    'SELECT name, connection, username, rotation_period, rotation, password, pending_password, last_rotation, next_rotation, retry_at, last_error, claim_token, claim_until, created_at, updated_at, settings_seal FROM fx_db_static_roles WHERE tenant = ? AND name = ?',
  staticRoleOfUser:
    'SELECT name FROM fx_db_static_roles WHERE tenant = ? AND connection = ? AND username = ? AND name <> ?',
  insertStaticRole:
    'INSERT INTO fx_db_static_roles (tenant, name, connection, username, rotation_period, rotation, password, pending_password, last_rotation, next_rotation, retry_at, last_error, claim_token, claim_until, created_at, updated_at, settings_seal) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, NULL, NULL, ?, ?, ?, ?, ?)',
  updateStaticRole:
    'UPDATE fx_db_static_roles SET rotation_period = ?, rotation = ?, next_rotation = ?, updated_at = ?, settings_seal = ? WHERE tenant = ? AND name = ?',
  deleteStaticRole:
    'DELETE FROM fx_db_static_roles WHERE tenant = ? AND name = ? AND (claim_until IS NULL OR claim_until <= ?)',
  deleteClaimedStaticRole: 'DELETE FROM fx_db_static_roles WHERE tenant = ? AND name = ? AND claim_token = ?',
  listStaticRoles: 'SELECT name FROM fx_db_static_roles WHERE tenant = ? AND name > ? ORDER BY name LIMIT ?',
  claimStatic:
    'UPDATE fx_db_static_roles SET claim_token = ?, claim_until = ? WHERE tenant = ? AND name = ? AND (claim_until IS NULL OR claim_until <= ?)',
  setStaticPending:
    'UPDATE fx_db_static_roles SET pending_password = ? WHERE tenant = ? AND name = ? AND claim_token = ?',
  promoteStatic:
    'UPDATE fx_db_static_roles SET password = pending_password, pending_password = NULL, last_rotation = ?, next_rotation = ?, retry_at = NULL, last_error = NULL, claim_token = NULL, claim_until = NULL, updated_at = ? WHERE tenant = ? AND name = ? AND claim_token = ?',
  /** A failed rotation: retry at `retry_at`; `pending_password` NULL when the target surely kept the old one. */
  failStatic:
    'UPDATE fx_db_static_roles SET pending_password = CASE WHEN ? = 1 THEN NULL ELSE pending_password END, retry_at = ?, last_error = ?, claim_token = NULL, claim_until = NULL WHERE tenant = ? AND name = ? AND claim_token = ?',
  dueStaticRoles:
    'SELECT name FROM fx_db_static_roles WHERE tenant = ? AND next_rotation <= ? AND (retry_at IS NULL OR retry_at <= ?) AND (claim_until IS NULL OR claim_until <= ?) ORDER BY next_rotation LIMIT ?',

  lease:
    'SELECT lease_id, role, connection, username, revocation, issued_at, expires_at, max_expires_at, state, claim_token, claim_until, attempts, last_error, settings_seal FROM fx_db_leases WHERE tenant = ? AND lease_id = ?',
  /** A lease is born claimed, in state `creating`, until its user exists. */
  insertLease:
    "INSERT INTO fx_db_leases (tenant, lease_id, role, connection, username, revocation, issued_at, expires_at, max_expires_at, state, claim_token, claim_until, attempts, last_error, settings_seal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'creating', ?, ?, 0, NULL, ?)",
  activateLease:
    "UPDATE fx_db_leases SET state = 'active', claim_token = NULL, claim_until = NULL WHERE tenant = ? AND lease_id = ? AND claim_token = ?",
  deleteClaimedLease: 'DELETE FROM fx_db_leases WHERE tenant = ? AND lease_id = ? AND claim_token = ?',
  renewLease:
    "UPDATE fx_db_leases SET expires_at = ? WHERE tenant = ? AND lease_id = ? AND state = 'active' AND expires_at = ?",
  /** Claims a lease for an explicit revocation: anything not being created or revoked right now. */
  claimLease:
    "UPDATE fx_db_leases SET state = 'revoking', claim_token = ?, claim_until = ? WHERE tenant = ? AND lease_id = ? AND (state IN ('active', 'failed') OR claim_until <= ?)",
  /**
   * Claims a lease for the sweeper: expired, a failed revocation whose retry time came, or a
   * creation or revocation whose process died (its claim lapsed).
   */
  claimDueLease:
    "UPDATE fx_db_leases SET state = 'revoking', claim_token = ?, claim_until = ? WHERE tenant = ? AND lease_id = ? AND ((state = 'active' AND expires_at <= ?) OR (state <> 'active' AND claim_until <= ?))",
  revokedLease: 'DELETE FROM fx_db_leases WHERE tenant = ? AND lease_id = ? AND claim_token = ?',
  insertLeaseOwner: 'INSERT INTO fx_db_lease_owners (tenant, lease_id, owner) VALUES (?, ?, ?)',
  deleteLeaseOwner: 'DELETE FROM fx_db_lease_owners WHERE tenant = ? AND lease_id = ?',
  anyOwned: 'SELECT lease_id FROM fx_db_lease_owners WHERE tenant = ? AND owner = ? LIMIT 1',
  /** A page of an owner's leases, in lease id order. */
  ownedLeases:
    'SELECT lease_id FROM fx_db_lease_owners WHERE tenant = ? AND owner = ? AND lease_id > ? ORDER BY lease_id LIMIT ?',
  /**
   * An owner's leases expire now (those being created too: they become active already expired),
   * so the sweeper revokes whatever an immediate revocation does not.
   */
  expireOwned:
    "UPDATE fx_db_leases SET expires_at = ?, max_expires_at = ? WHERE tenant = ? AND state IN ('active', 'creating') AND expires_at > ? AND lease_id IN (SELECT lease_id FROM fx_db_lease_owners WHERE tenant = ? AND owner = ?)",
  failLease:
    "UPDATE fx_db_leases SET state = 'failed', claim_token = NULL, claim_until = ?, attempts = attempts + 1, last_error = ? WHERE tenant = ? AND lease_id = ? AND claim_token = ?",
  dueLeases:
    "SELECT lease_id FROM fx_db_leases WHERE tenant = ? AND ((state = 'active' AND expires_at <= ?) OR (state <> 'active' AND claim_until <= ?)) ORDER BY expires_at LIMIT ?",
  leaseIdsFrom:
    'SELECT lease_id FROM fx_db_leases WHERE tenant = ? AND lease_id >= ? AND lease_id < ? ORDER BY lease_id LIMIT ?',
  leaseIdsAfter:
    'SELECT lease_id FROM fx_db_leases WHERE tenant = ? AND lease_id > ? AND lease_id < ? ORDER BY lease_id LIMIT ?',
  /** A page of leases whose id lies in (lower, upper). */
  listLeases:
    'SELECT lease_id, role, connection, username, revocation, issued_at, expires_at, max_expires_at, state, claim_token, claim_until, attempts, last_error, settings_seal FROM fx_db_leases WHERE tenant = ? AND lease_id > ? AND lease_id < ? ORDER BY lease_id LIMIT ?',
} as const;

export interface ConnectionRow {
  readonly name: string;
  readonly plugin: string;
  readonly connection_url: string;
  readonly username: string;
  readonly password: unknown;
  readonly pending_password: unknown;
  readonly allowed_roles: string;
  readonly max_open: number;
  readonly password_length: number;
  readonly password_auth: string;
  readonly root_rotation: string;
  readonly generation: number;
  readonly claim_token: string | null;
  readonly claim_until: number | null;
  readonly created_at: number;
  readonly updated_at: number;
  readonly root_rotated_at: number | null;
  readonly settings_seal: unknown;
}

export interface RoleRow {
  readonly name: string;
  readonly connection: string;
  readonly creation: string;
  readonly revocation: string;
  readonly renew: string;
  readonly default_ttl: number;
  readonly max_ttl: number;
  readonly created_at: number;
  readonly updated_at: number;
  readonly settings_seal: unknown;
}

export interface StaticRoleRow {
  readonly name: string;
  readonly connection: string;
  readonly username: string;
  readonly rotation_period: number;
  readonly rotation: string;
  readonly password: unknown;
  readonly pending_password: unknown;
  readonly last_rotation: number | null;
  readonly next_rotation: number;
  readonly retry_at: number | null;
  readonly last_error: string | null;
  readonly claim_token: string | null;
  readonly claim_until: number | null;
  readonly created_at: number;
  readonly updated_at: number;
  readonly settings_seal: unknown;
}

export interface LeaseRow {
  readonly lease_id: string;
  readonly role: string;
  readonly connection: string;
  readonly username: string;
  readonly revocation: string;
  readonly issued_at: number;
  readonly expires_at: number;
  readonly max_expires_at: number;
  readonly state: 'creating' | 'active' | 'revoking' | 'failed';
  readonly claim_token: string | null;
  readonly claim_until: number | null;
  readonly attempts: number;
  readonly last_error: string | null;
  readonly settings_seal: unknown;
}
