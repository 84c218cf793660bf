/**
 * @module secrets/database/secrets-database
 * The database secrets engine as callers use it (`db.database`, `db.as(principal).database`,
 * `/v1/database`): every operation is decided by policy and recorded in the audit ledger with its
 * outcome — connection, role, lease id, user name, TTLs — never a password.
 *
 * Policy:
 * - `readCredentials` on `Fortress::DatabaseRole::"<tenant>/<role>"`: new dynamic credentials of
 *   the role, a static role's current credentials, and looking up the role's leases;
 * - `renewLease` / `revokeLease` on the lease's role (a lease id names its role:
 *   `database/creds/<role>/<id>`);
 * - `manageDatabase` on the tenant: connections, roles, static roles, root rotation, listing and
 *   bulk revocation of leases.
 *
 * ```cedar
 * permit (principal == Fortress::ServiceAccount::"acme/billing",
 *         action in [Fortress::Action::"readCredentials", Fortress::Action::"renewLease"],
 *         resource == Fortress::DatabaseRole::"acme/billing-readonly");
 * ```
 */
import type { Action } from '../../policy/schema/fortress-schema.js';
import {
  runAudited,
  runDecided,
  type Facts,
  type SecretTarget,
  type SecretsAccess,
} from '../secrets-access.js';
import {
  roleOfLease,
  type ConnectionConfig,
  type ConnectionInfo,
  type CreateCredentialsOptions,
  type Credentials,
  type DatabaseEngine,
  type LeaseInfo,
  type LeaseList,
  type LeaseListOptions,
  type ListOptions,
  type NameList,
  type RoleConfig,
  type RoleInfo,
  type StaticCredentials,
  type StaticRoleConfig,
  type StaticRoleInfo,
} from './database-engine.js';

/** What the facade needs: the shared secrets access, and the engine. */
export interface DatabaseAccess extends SecretsAccess {
  engine(): Promise<DatabaseEngine>;
}

/** A name as an audit fact, before the engine has checked it: a string, and never a long one. */
function named(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 256) : typeof value;
}

function roleTarget(role: string): SecretTarget {
  return { type: 'DatabaseRole', id: role, path: `database:role/${role}` };
}

function leaseFacts(lease: LeaseInfo): Facts {
  return {
    lease: lease.leaseId,
    username: lease.username,
    ttl: lease.ttl,
    expireTime: lease.expireTime,
  };
}

/**
 * @example
 * ```ts
 * await db.database.writeConnection('orders-db', {
 *   plugin: 'postgresql',
 *   connectionUrl: 'postgresql://{{username}}:{{password}}@127.0.0.1:5432/orders',
 *   username: 'fortress_admin',
 *   password: process.env.ADMIN_PASSWORD!,
 *   allowedRoles: ['readonly'],
 * });
 * await db.database.writeRole('readonly', {
 *   connection: 'orders-db',
 *   creationStatements: [
 *     `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
 *     'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
 *   ],
 *   defaultTtl: 3_600_000,
 *   maxTtl: 86_400_000,
 * });
 * const { username, password, leaseId } = await db.as('service:reports').database.createCredentials('readonly');
 * ```
 */
export class SecretsDatabase {
  readonly #access: DatabaseAccess;

  constructor(access: DatabaseAccess) {
    this.#access = access;
  }

  #run<T>(
    action: Action,
    auditAction: string,
    on: SecretTarget | 'tenant',
    body: (engine: DatabaseEngine) => Promise<T>,
    facts: (result: T) => Facts = () => ({}),
    known: Facts = {},
  ): Promise<T> {
    return runAudited(
      this.#access,
      action,
      auditAction,
      on,
      async () => body(await this.#access.engine()),
      facts,
      known,
    );
  }

  /** Management of the engine's configuration: `manageDatabase` on the tenant. */
  #manage<T>(
    auditAction: string,
    known: Facts,
    body: (engine: DatabaseEngine) => Promise<T>,
    facts?: (result: T) => Facts,
  ): Promise<T> {
    return this.#run('manageDatabase', auditAction, 'tenant', body, facts, known);
  }

  // ── connections ───────────────────────────────────────────────────────────────────────────────

  /**
   * Creates or updates a connection (the administrator's password is stored encrypted and never
   * returned; left out on an update, it is kept). Verifies it by connecting, unless told not to.
   */
  writeConnection(name: string, config: ConnectionConfig): Promise<ConnectionInfo> {
    return this.#manage('database.connection.write', { connection: named(name) }, (e) =>
      e.writeConnection(name, config),
    );
  }

  /** A connection's settings (never its password). */
  readConnection(name: string): Promise<ConnectionInfo> {
    return this.#manage('database.connection.read', { connection: named(name) }, (e) =>
      e.readConnection(name),
    );
  }

  /** One page of connection names. */
  listConnections(options: ListOptions = {}): Promise<NameList> {
    return this.#manage(
      'database.connection.list',
      {},
      (e) => e.listConnections(options),
      (r) => ({ count: r.keys.length }),
    );
  }

  /** Deletes a connection no role, static role or lease uses (FX_DB_IN_USE otherwise). */
  deleteConnection(name: string): Promise<boolean> {
    return this.#manage(
      'database.connection.delete',
      { connection: named(name) },
      (e) => e.deleteConnection(name),
      (deleted) => ({ deleted }),
    );
  }

  /** Closes a connection's pooled target connections (they reconnect on next use). */
  resetConnection(name: string): Promise<void> {
    return this.#manage('database.connection.reset', { connection: named(name) }, (e) =>
      e.resetConnection(name),
    );
  }

  /** Replaces the administrator's password with a random one only Fortress knows. */
  rotateRoot(name: string): Promise<ConnectionInfo> {
    return this.#manage('database.connection.rotateRoot', { connection: named(name) }, (e) =>
      e.rotateRoot(name),
    );
  }

  // ── dynamic roles ─────────────────────────────────────────────────────────────────────────────

  /** Creates or updates a dynamic role (statement templates and TTLs, in ms). */
  writeRole(name: string, config: RoleConfig): Promise<RoleInfo> {
    return this.#manage('database.role.write', { role: named(name) }, (e) => e.writeRole(name, config));
  }

  /** A dynamic role's settings. */
  readRole(name: string): Promise<RoleInfo> {
    return this.#manage('database.role.read', { role: named(name) }, (e) => e.readRole(name));
  }

  /** One page of dynamic role names. */
  listRoles(options: ListOptions = {}): Promise<NameList> {
    return this.#manage(
      'database.role.list',
      {},
      (e) => e.listRoles(options),
      (r) => ({ count: r.keys.length }),
    );
  }

  /** Deletes a dynamic role; its leases stay and are revoked as usual. */
  deleteRole(name: string): Promise<boolean> {
    return this.#manage(
      'database.role.delete',
      { role: named(name) },
      (e) => e.deleteRole(name),
      (deleted) => ({ deleted }),
    );
  }

  // ── credentials and leases ────────────────────────────────────────────────────────────────────

  /**
   * New credentials of a dynamic role (`readCredentials` on the role): a fresh user and password,
   * with a lease of `ttl` ms (default the role's, at most its maximum). The password is returned
   * here once and stored nowhere; the ledger records the lease and the user name. An `owner` (a
   * server passes the caller's token accessor) ties the lease to it: see `revokeOwned`.
   */
  createCredentials(role: string, options: CreateCredentialsOptions = {}): Promise<Credentials> {
    return this.#run(
      'readCredentials',
      'database.credentials.create',
      roleTarget(named(role)),
      (e) => e.createCredentials(role, options),
      (c) => ({ lease: c.leaseId, username: c.username, ttl: c.leaseDuration, expireTime: c.expiresAt }),
    );
  }

  /**
   * Revokes every lease created with `owner` (`manageDatabase`): a server calls it when a token is
   * revoked, so the credentials the token obtained die with it, as in Vault. Each lease is also
   * recorded (`database.lease.revoke`); leases a target refused now are left expired for the
   * sweeper to retry, and the first failure is thrown. An owner without leases (most revoked
   * tokens) costs one read and records nothing.
   */
  async revokeOwned(owner: string): Promise<number> {
    const auditAction = 'database.lease.revokeOwned';
    // Decided before the read: whether an owner holds leases is told only to who may revoke them.
    const actor = await this.#access.authorize('manageDatabase', 'tenant', auditAction);
    const engine = await this.#access.engine();
    let owns: boolean;
    try {
      owns = await engine.ownsLeases(owner);
    } catch (error) {
      // A malformed owner is refused and recorded, like any other refused call.
      return runDecided(this.#access, actor, auditAction, 'tenant', () =>
        Promise.reject(error instanceof Error ? error : new Error(String(error))),
      );
    }
    if (!owns) return 0;
    return runDecided(
      this.#access,
      actor,
      auditAction,
      'tenant',
      () => engine.revokeOwned(owner),
      (revoked) => ({ revoked }),
      { owner: named(owner) },
    );
  }

  /** A lease's state (`readCredentials` on its role). */
  async lookupLease(leaseId: string): Promise<LeaseInfo> {
    // async: a malformed lease id rejects, like every other failure, rather than throwing.
    return await this.#run(
      'readCredentials',
      'database.lease.lookup',
      roleTarget(roleOfLease(leaseId)),
      (e) => e.lookupLease(leaseId),
      leaseFacts,
      { lease: named(leaseId) },
    );
  }

  /** Extends a lease by `increment` ms (default the role's TTL), never past its maximum (`renewLease`). */
  async renewLease(leaseId: string, options: { readonly increment?: number } = {}): Promise<LeaseInfo> {
    // async: a malformed lease id rejects, like every other failure, rather than throwing.
    return await this.#run(
      'renewLease',
      'database.lease.renew',
      roleTarget(roleOfLease(leaseId)),
      (e) => e.renewLease(leaseId, options),
      leaseFacts,
      { lease: named(leaseId) },
    );
  }

  /** Revokes a lease now: its user is dropped (`revokeLease` on its role). */
  async revokeLease(leaseId: string): Promise<void> {
    // async: a malformed lease id rejects, like every other failure, rather than throwing.
    await this.#run(
      'revokeLease',
      'database.lease.revoke',
      roleTarget(roleOfLease(leaseId)),
      (e) => e.revokeLease(leaseId),
      () => ({}),
      { lease: named(leaseId) },
    );
  }

  /** Revokes every lease whose id starts with `prefix`, e.g. `database/creds/<role>/` (`manageDatabase`). */
  revokePrefix(prefix: string): Promise<number> {
    return this.#manage(
      'database.lease.revokePrefix',
      { prefix: named(prefix) },
      (e) => e.revokePrefix(prefix),
      (revoked) => ({ revoked }),
    );
  }

  /** One page of leases, all or one role's, in lease id order (`manageDatabase`). */
  listLeases(options: LeaseListOptions = {}): Promise<LeaseList> {
    return this.#manage(
      'database.lease.list',
      {},
      (e) => e.listLeases(options),
      (r) => ({ count: r.leases.length }),
    );
  }

  // ── static roles ──────────────────────────────────────────────────────────────────────────────

  /** Creates or updates a static role: Fortress rotates an existing user's password every `rotationPeriod` ms. */
  writeStaticRole(name: string, config: StaticRoleConfig): Promise<StaticRoleInfo> {
    return this.#manage('database.staticRole.write', { role: named(name) }, (e) =>
      e.writeStaticRole(name, config),
    );
  }

  /** A static role's settings (never its password). */
  readStaticRole(name: string): Promise<StaticRoleInfo> {
    return this.#manage('database.staticRole.read', { role: named(name) }, (e) => e.readStaticRole(name));
  }

  /** One page of static role names. */
  listStaticRoles(options: ListOptions = {}): Promise<NameList> {
    return this.#manage(
      'database.staticRole.list',
      {},
      (e) => e.listStaticRoles(options),
      (r) => ({ count: r.keys.length }),
    );
  }

  /** Deletes a static role (the user and its current password stay on the target). */
  deleteStaticRole(name: string): Promise<boolean> {
    return this.#manage(
      'database.staticRole.delete',
      { role: named(name) },
      (e) => e.deleteStaticRole(name),
      (deleted) => ({ deleted }),
    );
  }

  /** Rotates a static role's password now. */
  rotateStaticRole(name: string): Promise<StaticRoleInfo> {
    return this.#manage('database.staticRole.rotate', { role: named(name) }, (e) => e.rotateStaticRole(name));
  }

  /** A static role's user and current password (`readCredentials` on the role). */
  readStaticCredentials(name: string): Promise<StaticCredentials> {
    return this.#run(
      'readCredentials',
      'database.staticCredentials.read',
      roleTarget(named(name)),
      (e) => e.readStaticCredentials(name),
      (c) => ({ username: c.username, lastRotation: c.lastRotation }),
    );
  }
}
