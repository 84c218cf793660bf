/**
 * @module session-access
 * Access control as a policy session may manage it (`db.as(p).access`): every call needs
 * `managePolicy` — on the policy itself (`Policy` `<tenant>/<id>`) for policy changes, on the tenant
 * for principals, groups, roles, row filters and for reading the policy set — so the tenant
 * guardrail keeps each tenant's administrators to their own tenant. Changes are recorded in the
 * audit ledger as the session's principal, with the permitting policies.
 *
 * Holding `managePolicy` is holding the keys to the tenant's policies: a principal that may write
 * policies may grant itself anything its tenant's guardrails allow. Give it to administrators only.
 */
import type {
  AccessControl,
  GroupInfo,
  PrincipalInfo,
  PrincipalKind,
  PrincipalOptions,
  RoleInfo,
  RowFilterInfo,
} from './access-control.js';
import type { Where } from './engine/query/where.js';
import type { EntityRef } from './policy/authorizer/authorizer.js';
import type { PolicySession, SessionHost } from './policy-session.js';
import { InvalidArgumentError } from './util/errors.js';

export class SessionAccess {
  readonly #session: PolicySession;
  readonly #host: SessionHost;

  /** @internal Through `session.access`. */
  constructor(session: PolicySession, host: SessionHost) {
    this.#session = session;
    this.#host = host;
  }

  #tenantRef(tenant: unknown): EntityRef {
    const id = tenant === undefined ? this.#session.tenant : tenant;
    if (typeof id !== 'string') throw new InvalidArgumentError('tenant', 'expected a tenant name');
    return { type: 'Tenant', id };
  }

  /** Decides `managePolicy` on `resource` (denial: recorded, FX_FORBIDDEN) and returns access control acting as the session. */
  async #as(resource: EntityRef, method: string): Promise<AccessControl> {
    const decision = await this.#session.require('managePolicy', resource, `access.${method}`);
    return this.#host.accessAs(this.#session.actor(decision));
  }

  async #own(method: string): Promise<AccessControl> {
    return this.#as(this.#tenantRef(undefined), method);
  }

  // ── reading (the session's own tenant only) ──

  async listPolicies(): Promise<{ id: string; text: string }[]> {
    return (await this.#own('listPolicies')).listPolicies();
  }

  async getPolicy(id: string): Promise<string> {
    return (await this.#own('getPolicy')).getPolicy(id);
  }

  async listPrincipals(): Promise<PrincipalInfo[]> {
    const tenant = this.#session.tenant;
    return (await this.#own('listPrincipals')).listPrincipals().filter((p) => p.tenant === tenant);
  }

  async listGroups(): Promise<GroupInfo[]> {
    const tenant = this.#session.tenant;
    return (await this.#own('listGroups')).listGroups().filter((g) => g.tenant === tenant);
  }

  async listRoles(): Promise<RoleInfo[]> {
    const tenant = this.#session.tenant;
    return (await this.#own('listRoles')).listRoles().filter((r) => r.tenant === tenant);
  }

  /**
   * Every role a user or service account holds — directly, through (nested) groups and by role
   * inheritance — sorted (managePolicy on its tenant, by default the session's).
   */
  async rolesOf(kind: PrincipalKind, name: string, tenant?: string): Promise<string[]> {
    return (await this.#as(this.#tenantRef(tenant), 'rolesOf')).rolesOf(kind, name, tenant).sort();
  }

  async listRowFilters(): Promise<RowFilterInfo[]> {
    const tenant = this.#session.tenant;
    return (await this.#own('listRowFilters')).listRowFilters().filter((f) => f.tenant === tenant);
  }

  // ── policies: managePolicy on each policy ──

  async addPolicies(
    policies: Readonly<Record<string, string>>,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    if ((policies as unknown) === null || typeof policies !== 'object' || Array.isArray(policies)) {
      throw new InvalidArgumentError('policies', 'expected a record of policy id → Cedar text');
    }
    const ids = Object.keys(policies);
    if (ids.length === 0) throw new InvalidArgumentError('policies', 'expected at least one policy');
    let access: AccessControl | undefined;
    for (const id of ids) access = await this.#as(this.#policyRef(id), 'addPolicies');
    await access!.addPolicies(policies, options);
  }

  async addPolicy(id: string, text: string, options: { replace?: boolean } = {}): Promise<void> {
    await (await this.#as(this.#policyRef(id), 'addPolicy')).addPolicy(id, text, options);
  }

  async removePolicy(id: string): Promise<void> {
    await (await this.#as(this.#policyRef(id), 'removePolicy')).removePolicy(id);
  }

  #policyRef(id: unknown): EntityRef {
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) {
      throw new InvalidArgumentError('id', 'expected 1-128 letters, digits or ._:-');
    }
    return { type: 'Policy', id: `${this.#session.tenant}/${id}` };
  }

  // ── principals, groups, roles, row filters: managePolicy on their tenant ──

  async addUser(name: string, options: PrincipalOptions = {}): Promise<void> {
    await (await this.#as(this.#tenantRef(options.tenant), 'addUser')).addUser(name, options);
  }

  async addServiceAccount(name: string, options: PrincipalOptions = {}): Promise<void> {
    await (
      await this.#as(this.#tenantRef(options.tenant), 'addServiceAccount')
    ).addServiceAccount(name, options);
  }

  async updatePrincipal(kind: PrincipalKind, name: string, options: PrincipalOptions): Promise<void> {
    await (
      await this.#as(this.#tenantRef(options.tenant), 'updatePrincipal')
    ).updatePrincipal(kind, name, options);
  }

  async removePrincipal(kind: PrincipalKind, name: string, tenant?: string): Promise<void> {
    await (await this.#as(this.#tenantRef(tenant), 'removePrincipal')).removePrincipal(kind, name, tenant);
  }

  async addGroup(
    name: string,
    options: { tenant?: string; groups?: readonly string[]; roles?: readonly string[] } = {},
  ): Promise<void> {
    await (await this.#as(this.#tenantRef(options.tenant), 'addGroup')).addGroup(name, options);
  }

  async addRole(name: string, options: { tenant?: string; roles?: readonly string[] } = {}): Promise<void> {
    await (await this.#as(this.#tenantRef(options.tenant), 'addRole')).addRole(name, options);
  }

  async removeGroup(name: string, tenant?: string): Promise<void> {
    await (await this.#as(this.#tenantRef(tenant), 'removeGroup')).removeGroup(name, tenant);
  }

  async removeRole(name: string, tenant?: string): Promise<void> {
    await (await this.#as(this.#tenantRef(tenant), 'removeRole')).removeRole(name, tenant);
  }

  async addRowFilter(
    id: string,
    filter: { table: string; role: string; where: Where<Record<string, unknown>>; tenant?: string },
  ): Promise<void> {
    const tenant = (filter as { tenant?: unknown } | null)?.tenant;
    await (await this.#as(this.#tenantRef(tenant), 'addRowFilter')).addRowFilter(id, filter);
  }

  async removeRowFilter(id: string): Promise<void> {
    const access = this.#host.access;
    const filter = access.listRowFilters().find((f) => f.id === id);
    // Another tenant's filter is decided on that tenant (and so refused); an unknown id on one's own.
    await (await this.#as(this.#tenantRef(filter?.tenant), 'removeRowFilter')).removeRowFilter(id);
  }
}
