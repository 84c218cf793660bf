/**
 * @module client/api/database-api
 * `client.database`: the database secrets engine (`/v1/database`) — PostgreSQL connections,
 * dynamic roles whose credentials are created per request with a lease, and static roles whose
 * password Fortress rotates. TTLs and periods are milliseconds, or a number with a unit
 * (`"15m"`, `"1h"`, `"7d"`).
 *
 * Getting credentials creates a user, so that call is never retried by the transport (a lost
 * answer would leave a user nobody knows the password of, until its lease expires).
 */
import { expectObject, path, type HttpTransport } from '../http-transport.js';
import type {
  ConnectionConfig,
  ConnectionInfo,
  Credentials,
  LeaseInfo,
  LeaseList,
  NameList,
  RoleConfig,
  RoleInfo,
  StaticCredentials,
  StaticRoleConfig,
  StaticRoleInfo,
} from '../../secrets/database/database-engine.js';

// The JSON shapes are the server's own: type imports, so nothing of the server is loaded.
export type {
  ConnectionConfig as DatabaseConnectionConfig,
  ConnectionInfo as DatabaseConnectionInfo,
  Credentials as DatabaseCredentials,
  LeaseInfo as DatabaseLeaseInfo,
  LeaseList as DatabaseLeaseList,
  NameList as DatabaseNameList,
  RoleInfo as DatabaseRoleInfo,
  StaticCredentials as DatabaseStaticCredentials,
  StaticRoleInfo as DatabaseStaticRoleInfo,
};

/** A duration: milliseconds, or a number with a unit (`"30s"`, `"15m"`, `"1h"`, `"7d"`). */
export type DatabaseDuration = number | string;

/** A dynamic role as written (TTLs as durations). */
export interface DatabaseRoleConfig extends Omit<RoleConfig, 'defaultTtl' | 'maxTtl'> {
  readonly defaultTtl: DatabaseDuration;
  readonly maxTtl: DatabaseDuration;
}

/** A static role as written (the period as a duration). */
export interface DatabaseStaticRoleConfig extends Omit<StaticRoleConfig, 'rotationPeriod'> {
  readonly rotationPeriod: DatabaseDuration;
}

export interface DatabaseListOptions {
  readonly after?: string;
  readonly limit?: number;
}

/**
 * @example
 * ```ts
 * const { username, password, leaseId } = await client.database.credentials('readonly', { ttl: '15m' });
 * await client.database.renewLease(leaseId, { increment: '30m' });
 * await client.database.revokeLease(leaseId);
 * ```
 */
export class DatabaseApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  async #object<T>(what: string, ...spec: Parameters<HttpTransport['request']>): Promise<T> {
    return expectObject(await this.#http.request(...spec), what) as unknown as T;
  }

  // ── connections ───────────────────────────────────────────────────────────────────────────────

  /** Creates or updates a connection; the administrator's password is stored encrypted, never answered. */
  writeConnection(name: string, config: ConnectionConfig): Promise<ConnectionInfo> {
    return this.#object('database.writeConnection', {
      method: 'POST',
      path: path`/v1/database/config/${name}`,
      body: config,
    });
  }

  readConnection(name: string): Promise<ConnectionInfo> {
    return this.#object('database.readConnection', {
      method: 'GET',
      path: path`/v1/database/config/${name}`,
    });
  }

  listConnections(options: DatabaseListOptions = {}): Promise<NameList> {
    return this.#object('database.listConnections', {
      method: 'GET',
      path: '/v1/database/config',
      query: { after: options.after, limit: options.limit },
    });
  }

  async deleteConnection(name: string): Promise<boolean> {
    const body = await this.#object<{ deleted: boolean }>('database.deleteConnection', {
      method: 'DELETE',
      path: path`/v1/database/config/${name}`,
    });
    return body.deleted;
  }

  /** Closes a connection's pooled target connections (they reconnect on next use). */
  async resetConnection(name: string): Promise<void> {
    await this.#http.request({ method: 'POST', path: path`/v1/database/reset/${name}` });
  }

  /** Replaces the administrator's password with a random one only Fortress knows. */
  rotateRoot(name: string): Promise<ConnectionInfo> {
    return this.#object('database.rotateRoot', {
      method: 'POST',
      path: path`/v1/database/rotate-root/${name}`,
    });
  }

  // ── dynamic roles and credentials ─────────────────────────────────────────────────────────────

  writeRole(name: string, config: DatabaseRoleConfig): Promise<RoleInfo> {
    return this.#object('database.writeRole', {
      method: 'POST',
      path: path`/v1/database/roles/${name}`,
      body: config,
    });
  }

  readRole(name: string): Promise<RoleInfo> {
    return this.#object('database.readRole', { method: 'GET', path: path`/v1/database/roles/${name}` });
  }

  listRoles(options: DatabaseListOptions = {}): Promise<NameList> {
    return this.#object('database.listRoles', {
      method: 'GET',
      path: '/v1/database/roles',
      query: { after: options.after, limit: options.limit },
    });
  }

  async deleteRole(name: string): Promise<boolean> {
    const body = await this.#object<{ deleted: boolean }>('database.deleteRole', {
      method: 'DELETE',
      path: path`/v1/database/roles/${name}`,
    });
    return body.deleted;
  }

  /** New credentials of a dynamic role, with a lease (`ttl`: default the role's, at most its maximum). */
  credentials(role: string, options: { readonly ttl?: DatabaseDuration } = {}): Promise<Credentials> {
    return this.#object('database.credentials', {
      method: 'GET',
      path: path`/v1/database/creds/${role}`,
      query: { ttl: options.ttl },
      once: true,
    });
  }

  // ── leases ────────────────────────────────────────────────────────────────────────────────────

  lookupLease(leaseId: string): Promise<LeaseInfo> {
    return this.#object('database.lookupLease', {
      method: 'POST',
      path: '/v1/database/leases/lookup',
      body: { leaseId },
      safe: true,
    });
  }

  /** Extends a lease by `increment` (default the role's TTL), never past its maximum. */
  renewLease(leaseId: string, options: { readonly increment?: DatabaseDuration } = {}): Promise<LeaseInfo> {
    return this.#object('database.renewLease', {
      method: 'POST',
      path: '/v1/database/leases/renew',
      body: { leaseId, ...(options.increment === undefined ? {} : { increment: options.increment }) },
    });
  }

  /** Revokes a lease now: its user is dropped. */
  async revokeLease(leaseId: string): Promise<void> {
    await this.#http.request({ method: 'POST', path: '/v1/database/leases/revoke', body: { leaseId } });
  }

  /** Revokes every lease whose id starts with `prefix`, e.g. `database/creds/<role>/`. */
  async revokePrefix(prefix: string): Promise<number> {
    const body = await this.#object<{ revoked: number }>('database.revokePrefix', {
      method: 'POST',
      path: '/v1/database/leases/revoke-prefix',
      body: { prefix },
    });
    return body.revoked;
  }

  listLeases(options: DatabaseListOptions & { readonly role?: string } = {}): Promise<LeaseList> {
    return this.#object('database.listLeases', {
      method: 'GET',
      path: '/v1/database/leases',
      query: { role: options.role, after: options.after, limit: options.limit },
    });
  }

  // ── static roles ──────────────────────────────────────────────────────────────────────────────

  writeStaticRole(name: string, config: DatabaseStaticRoleConfig): Promise<StaticRoleInfo> {
    return this.#object('database.writeStaticRole', {
      method: 'POST',
      path: path`/v1/database/static-roles/${name}`,
      body: config,
    });
  }

  readStaticRole(name: string): Promise<StaticRoleInfo> {
    return this.#object('database.readStaticRole', {
      method: 'GET',
      path: path`/v1/database/static-roles/${name}`,
    });
  }

  listStaticRoles(options: DatabaseListOptions = {}): Promise<NameList> {
    return this.#object('database.listStaticRoles', {
      method: 'GET',
      path: '/v1/database/static-roles',
      query: { after: options.after, limit: options.limit },
    });
  }

  async deleteStaticRole(name: string): Promise<boolean> {
    const body = await this.#object<{ deleted: boolean }>('database.deleteStaticRole', {
      method: 'DELETE',
      path: path`/v1/database/static-roles/${name}`,
    });
    return body.deleted;
  }

  /** Rotates a static role's password now. */
  rotateStaticRole(name: string): Promise<StaticRoleInfo> {
    return this.#object('database.rotateStaticRole', {
      method: 'POST',
      path: path`/v1/database/rotate-role/${name}`,
    });
  }

  /** A static role's user and current password. */
  staticCredentials(name: string): Promise<StaticCredentials> {
    return this.#object('database.staticCredentials', {
      method: 'GET',
      path: path`/v1/database/static-creds/${name}`,
    });
  }
}
