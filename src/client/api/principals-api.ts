/**
 * @module client/api/principals-api
 * `client.principals`: users, service accounts, roles, groups and row filters. Puts replace the
 * whole record (so they are idempotent and retried); removes are refused for what does not exist.
 */
import { FortressClientError } from '../client-errors.js';
import { expectField, expectObject, path, type HttpTransport, type QueryValues } from '../http-transport.js';
import type {
  JsonObject,
  PutGroupOptions,
  PutPrincipalOptions,
  PutRoleOptions,
  RowFilterDefinition,
} from '../client-types.js';

/** Which tenant a removal is about (the caller's when absent). */
export interface TenantOption {
  readonly tenant?: string;
}

function tenantQuery(options: TenantOption): QueryValues {
  return { tenant: options.tenant };
}

export class PrincipalsApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** Users, service accounts, roles, groups and row filters. */
  async list(): Promise<JsonObject> {
    const body = await this.#http.request({ method: 'GET', path: '/v1/principals' });
    return expectObject(body, 'principals.list');
  }

  /**
   * Creates or replaces a user.
   *
   * @example
   * ```ts
   * await client.principals.putUser('ann', { roles: ['analyst'], clearance: 'secret' });
   * await client.auth.setPassword('ann', 'correct horse battery staple');
   * ```
   */
  async putUser(name: string, options: PutPrincipalOptions = {}): Promise<void> {
    await this.#http.request({ method: 'PUT', path: path`/v1/principals/users/${name}`, body: options });
  }

  async removeUser(name: string, options: TenantOption = {}): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: path`/v1/principals/users/${name}`,
      query: tenantQuery(options),
    });
  }

  async putService(name: string, options: PutPrincipalOptions = {}): Promise<void> {
    await this.#http.request({ method: 'PUT', path: path`/v1/principals/services/${name}`, body: options });
  }

  async removeService(name: string, options: TenantOption = {}): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: path`/v1/principals/services/${name}`,
      query: tenantQuery(options),
    });
  }

  /**
   * Every role a user (or, with `service: true`, a service account) holds: directly, through
   * groups and by role inheritance, sorted.
   *
   * @example
   * ```ts
   * await client.principals.rolesOf('ann'); // ['analyst', 'reader']
   * ```
   */
  async rolesOf(
    name: string,
    options: TenantOption & { readonly service?: boolean } = {},
  ): Promise<string[]> {
    const { service, ...where } = options;
    if (service !== undefined && typeof service !== 'boolean') {
      throw new TypeError('options.service: expected true or false');
    }
    const body = await this.#http.request({
      method: 'GET',
      path:
        service === true
          ? path`/v1/principals/services/${name}/roles`
          : path`/v1/principals/users/${name}/roles`,
      query: tenantQuery(where),
    });
    const roles = expectField(body, 'roles', 'principals.rolesOf');
    if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) {
      throw new FortressClientError('FX_BAD_RESPONSE', 'principals.rolesOf: roles is not a list of names');
    }
    return roles;
  }

  async putRole(name: string, options: PutRoleOptions = {}): Promise<void> {
    await this.#http.request({ method: 'PUT', path: path`/v1/principals/roles/${name}`, body: options });
  }

  async removeRole(name: string, options: TenantOption = {}): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: path`/v1/principals/roles/${name}`,
      query: tenantQuery(options),
    });
  }

  async putGroup(name: string, options: PutGroupOptions = {}): Promise<void> {
    await this.#http.request({ method: 'PUT', path: path`/v1/principals/groups/${name}`, body: options });
  }

  async removeGroup(name: string, options: TenantOption = {}): Promise<void> {
    await this.#http.request({
      method: 'DELETE',
      path: path`/v1/principals/groups/${name}`,
      query: tenantQuery(options),
    });
  }

  /** Creates or replaces a row filter: rows of `table` a holder of `role` sees are those matching `where`. */
  async putRowFilter(id: string, filter: RowFilterDefinition): Promise<void> {
    await this.#http.request({ method: 'PUT', path: path`/v1/principals/row-filters/${id}`, body: filter });
  }

  async removeRowFilter(id: string): Promise<void> {
    await this.#http.request({ method: 'DELETE', path: path`/v1/principals/row-filters/${id}` });
  }
}
