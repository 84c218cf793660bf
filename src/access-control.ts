/**
 * @module access-control
 * Fortress's access-control state and its administration: Cedar policies, principals (users and
 * service accounts), groups, roles, per-role row filters and the security-label scheme — all
 * persisted in the database (`fx_access`) and loaded, validated, at open. It is also the
 * {@link EntitySource} the authorizer reads: principals with their groups and roles, and
 * resources (tenant, database, tables, columns, rows, keys, policies, the audit log, the system)
 * with their tenant and security label.
 *
 * Every change bumps the authorizer's generation, dropping cached decisions, and is persisted
 * before it takes effect in memory; a change that fails validation changes nothing.
 */
import type { StoredTable } from './engine/schema/table-schema.js';
import type { Where } from './engine/query/where.js';
import {
  Authorizer,
  checkPolicies,
  POLICY_ID_RE,
  type CedarEntity,
  type EntityRef,
  type EntitySource,
  type PolicyIssue,
} from './policy/authorizer/authorizer.js';
import { LabelScheme, type LabelSchemeOptions, type SecurityLabel } from './policy/mac/security-label.js';
import { SYSTEM_TENANT, secretOwner } from './policy/schema/fortress-schema.js';
import type { AccessRecordRow, AccessStore } from './storage/access-store/access-store.js';
import { FortressError, InvalidArgumentError } from './util/errors.js';

/** Names of principals, groups, roles and tenants. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;
const MAX_MEMBERSHIPS = 256;

export type PrincipalKind = 'user' | 'service';

export interface PrincipalOptions {
  /** @default the database's tenant */
  readonly tenant?: string;
  /** Security clearance, e.g. `'secret:alpha'`. @default the lowest level */
  readonly clearance?: string;
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
}

export interface PrincipalInfo {
  readonly kind: PrincipalKind;
  readonly tenant: string;
  readonly name: string;
  readonly clearance: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
}

export interface GroupInfo {
  readonly tenant: string;
  readonly name: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
}

export interface RoleInfo {
  readonly tenant: string;
  readonly name: string;
  /** Roles this role inherits (is a member of). */
  readonly roles: readonly string[];
}

/**
 * A row filter for one role on one table: members of the role see only rows matching `where`
 * (plaintext columns only, pushed down to SQL). String values `"$principal.name"`,
 * `"$principal.tenant"` and `"$principal.id"` are replaced by the acting principal's.
 */
export interface RowFilterInfo {
  readonly id: string;
  readonly tenant: string;
  readonly table: string;
  readonly role: string;
  readonly where: Where<Record<string, unknown>>;
}

interface PrincipalRecord {
  clearance: string;
  groups: string[];
  roles: string[];
}

/** Runtime check for JavaScript callers, whatever the static type says. */
function isRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkNameOf(value: unknown, what: string): string {
  if (typeof value !== 'string' || !NAME_RE.test(value)) {
    throw new InvalidArgumentError(
      what,
      'expected 1-128 ASCII letters, digits or ._@- starting with a letter or digit',
    );
  }
  return value;
}

function checkNames(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_MEMBERSHIPS) {
    throw new InvalidArgumentError(what, `expected a list of at most ${MAX_MEMBERSHIPS} names`);
  }
  const names = value.map((v, i) => checkNameOf(v, `${what}[${i}]`));
  return [...new Set(names)].sort();
}

function corrupt(kind: string, id: string, why: string): FortressError {
  return new FortressError(
    'FX_STORAGE',
    `access record ${kind} ${JSON.stringify(id.slice(0, 80))} is invalid: ${why}`,
  );
}

function parseJson(row: AccessRecordRow): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(row.record);
  } catch {
    throw corrupt(row.kind, row.id, 'not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw corrupt(row.kind, row.id, 'not an object');
  return value as Record<string, unknown>;
}

export interface AccessControlOptions {
  readonly store: AccessStore;
  readonly tenant: string;
  readonly database: string;
  /** The label scheme to use; stored at first use, after which it may only gain compartments. */
  readonly labels?: LabelSchemeOptions;
  /** The stored schema of a table (labels), or undefined. */
  readonly describeTable: (table: string) => StoredTable | undefined;
}

/**
 * @example
 * ```ts
 * await db.access.addRole('analyst');
 * await db.access.addUser('ann', { roles: ['analyst'], clearance: 'secret' });
 * await db.access.addPolicy('analysts-read', `permit (principal in Fortress::Role::"default/analyst",
 *   action in [Fortress::Action::"read", Fortress::Action::"query"], resource);`);
 * const ann = db.as('ann');
 * await ann.table('patients').find({ where: { age: { gte: 30 } } });   // ssn comes back masked
 * ```
 */
export class AccessControl implements EntitySource {
  readonly authorizer: Authorizer;
  readonly tenant: string;
  readonly database: string;
  #labels: LabelScheme;
  readonly #store: AccessStore;
  readonly #describe: (table: string) => StoredTable | undefined;
  readonly #principals = new Map<string, PrincipalRecord>();
  readonly #groups = new Map<string, { groups: string[]; roles: string[] }>();
  readonly #roles = new Map<string, { roles: string[] }>();
  readonly #filters = new Map<string, RowFilterInfo>();

  private constructor(options: AccessControlOptions, labels: LabelScheme) {
    this.#store = options.store;
    this.tenant = options.tenant;
    this.database = options.database;
    this.#describe = options.describeTable;
    this.#labels = labels;
    this.authorizer = new Authorizer(this);
  }

  /** Loads and validates every stored record; stores the label scheme on first use. */
  static async open(options: AccessControlOptions): Promise<AccessControl> {
    const rows = await options.store.all();
    const stored = rows.find((r) => r.kind === 'meta' && r.id === 'labels');
    let scheme: LabelScheme;
    const configured = options.labels === undefined ? undefined : new LabelScheme(options.labels);
    if (stored === undefined) {
      scheme = configured ?? LabelScheme.DEFAULT;
      await options.store.apply([{ kind: 'meta', id: 'labels', record: JSON.stringify(scheme.toJSON()) }]);
    } else {
      let fromStore: LabelScheme;
      try {
        fromStore = new LabelScheme(parseJson(stored) as unknown as LabelSchemeOptions);
      } catch (error) {
        throw corrupt('meta', 'labels', error instanceof Error ? error.message : 'malformed');
      }
      scheme = fromStore;
      if (configured !== undefined && !configured.equals(fromStore)) {
        if (!configured.extends(fromStore)) {
          throw new FortressError(
            'FX_LABEL_INVALID',
            'the configured label scheme differs from the stored one: levels cannot change once set, compartments can only be appended',
          );
        }
        scheme = configured;
        await options.store.apply([{ kind: 'meta', id: 'labels', record: JSON.stringify(scheme.toJSON()) }]);
      }
    }
    const access = new AccessControl(options, scheme);
    access.#load(rows);
    return access;
  }

  /**
   * Reads every record again: another process sharing the storage changed policies, principals or
   * the label scheme. Cached decisions go with the authorizer's generation.
   */
  async reload(): Promise<void> {
    const rows = await this.#store.all();
    const stored = rows.find((r) => r.kind === 'meta' && r.id === 'labels');
    if (stored !== undefined) {
      try {
        this.#labels = new LabelScheme(parseJson(stored) as unknown as LabelSchemeOptions);
      } catch (error) {
        throw corrupt('meta', 'labels', error instanceof Error ? error.message : 'malformed');
      }
    }
    this.#principals.clear();
    this.#groups.clear();
    this.#roles.clear();
    this.#filters.clear();
    this.#load(rows);
  }

  #load(rows: readonly AccessRecordRow[]): void {
    const policies: Record<string, string> = {};
    for (const row of rows) {
      const record = row.kind === 'meta' ? {} : parseJson(row);
      switch (row.kind) {
        case 'meta':
          break;
        case 'policy':
          if (typeof record['text'] !== 'string') throw corrupt(row.kind, row.id, 'no text');
          policies[row.id] = record['text'];
          break;
        case 'user':
        case 'service': {
          const clearance = record['clearance'];
          try {
            this.#labels.parse(clearance, 'clearance');
            this.#principals.set(`${row.kind}:${row.id}`, {
              clearance: clearance as string,
              groups: checkNames(record['groups'], 'groups'),
              roles: checkNames(record['roles'], 'roles'),
            });
          } catch (error) {
            throw corrupt(row.kind, row.id, error instanceof Error ? error.message : 'malformed');
          }
          break;
        }
        case 'group':
          this.#groups.set(row.id, {
            groups: checkNames(record['groups'], 'groups'),
            roles: checkNames(record['roles'], 'roles'),
          });
          break;
        case 'role':
          this.#roles.set(row.id, { roles: checkNames(record['roles'], 'roles') });
          break;
        case 'rowFilter':
          this.#filters.set(row.id, record as unknown as RowFilterInfo);
          break;
        default:
          throw corrupt(row.kind, row.id, 'unknown kind');
      }
    }
    try {
      this.authorizer.setPolicies(policies);
    } catch (error) {
      throw new FortressError('FX_STORAGE', 'the stored policies no longer validate', { cause: error });
    }
  }

  /** The label scheme (levels lowest first, compartments). */
  get labels(): LabelScheme {
    return this.#labels;
  }

  // ── policies ────────────────────────────────────────────────────────────────────────────────

  /** Every user policy, by id. */
  listPolicies(): { id: string; text: string }[] {
    return Object.entries(this.authorizer.policies)
      .map(([id, text]) => ({ id, text }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  getPolicy(id: string): string {
    const text = this.authorizer.policies[id];
    if (text === undefined)
      throw new FortressError('FX_POLICY_NOT_FOUND', `no policy ${JSON.stringify(id.slice(0, 128))}`);
    return text;
  }

  /** Checks policies as `addPolicies` would, together with the ones in force; changes nothing. */
  validatePolicies(policies: Readonly<Record<string, string>>): PolicyIssue[] {
    return checkPolicies({ ...this.authorizer.policies, ...policies });
  }

  /** Adds (or, with `replace`, replaces) policies, validated as a whole set. */
  async addPolicies(
    policies: Readonly<Record<string, string>>,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    if (!isRecord(policies)) {
      throw new InvalidArgumentError('policies', 'expected a record of policy id → Cedar text');
    }
    for (const id of Object.keys(policies)) {
      if (options.replace !== true && id in this.authorizer.policies) {
        throw new FortressError(
          'FX_POLICY_CONFLICT',
          `a policy ${id} exists already (pass replace to change it)`,
        );
      }
    }
    const next = { ...this.authorizer.policies, ...policies };
    const probe = new Authorizer(this);
    probe.setPolicies(next); // FX_POLICY_INVALID with the validator's messages; nothing stored yet
    await this.#store.apply(
      Object.entries(policies).map(([id, text]) => ({
        kind: 'policy',
        id,
        record: JSON.stringify({ text }),
      })),
    );
    this.authorizer.setPolicies(next);
  }

  addPolicy(id: string, text: string, options: { replace?: boolean } = {}): Promise<void> {
    if (typeof id !== 'string' || !POLICY_ID_RE.test(id))
      throw new InvalidArgumentError('id', 'expected 1-128 letters, digits or ._:-');
    return this.addPolicies({ [id]: text }, options);
  }

  async removePolicy(id: string): Promise<void> {
    this.getPolicy(id);
    const next = Object.fromEntries(Object.entries(this.authorizer.policies).filter(([k]) => k !== id));
    await this.#store.apply([], [{ kind: 'policy', id }]);
    this.authorizer.setPolicies(next);
  }

  // ── principals, groups, roles ─────────────────────────────────────────────────────────────────

  #tenantOf(tenant: unknown): string {
    return tenant === undefined ? this.tenant : checkNameOf(tenant, 'tenant');
  }

  async #putPrincipal(
    kind: PrincipalKind,
    name: string,
    options: PrincipalOptions,
    mustBeNew: boolean,
  ): Promise<void> {
    checkNameOf(name, 'name');
    if (!isRecord(options)) throw new InvalidArgumentError('options', 'expected an object');
    const tenant = this.#tenantOf(options.tenant);
    const id = `${tenant}/${name}`;
    if (mustBeNew && this.#principals.has(`${kind}:${id}`)) {
      throw new FortressError('FX_POLICY_CONFLICT', `${kind} ${id} exists already`);
    }
    const clearance = this.#labels.format(
      this.#labels.parse(options.clearance ?? this.#labels.levels[0]!, 'clearance'),
    );
    const record: PrincipalRecord = {
      clearance,
      groups: checkNames(options.groups, 'groups'),
      roles: checkNames(options.roles, 'roles'),
    };
    await this.#store.apply([{ kind, id, record: JSON.stringify(record) }]);
    this.#principals.set(`${kind}:${id}`, record);
    this.authorizer.invalidate();
  }

  /** Adds a user (`FX_POLICY_CONFLICT` if it exists). */
  addUser(name: string, options: PrincipalOptions = {}): Promise<void> {
    return this.#putPrincipal('user', name, options, true);
  }

  addServiceAccount(name: string, options: PrincipalOptions = {}): Promise<void> {
    return this.#putPrincipal('service', name, options, true);
  }

  /** Replaces a principal's clearance, groups and roles. */
  updatePrincipal(kind: PrincipalKind, name: string, options: PrincipalOptions): Promise<void> {
    this.principal(kind, name, options.tenant);
    return this.#putPrincipal(kind, name, options, false);
  }

  async removePrincipal(kind: PrincipalKind, name: string, tenant?: string): Promise<void> {
    const info = this.principal(kind, name, tenant);
    await this.#store.apply([], [{ kind, id: `${info.tenant}/${info.name}` }]);
    this.#principals.delete(`${kind}:${info.tenant}/${info.name}`);
    this.authorizer.invalidate();
  }

  /** A principal (`FX_POLICY_NOT_FOUND` if there is none). */
  principal(kind: PrincipalKind, name: string, tenant?: string): PrincipalInfo {
    const t = this.#tenantOf(tenant);
    const record = this.#principals.get(`${kind}:${t}/${name}`);
    if (record === undefined) {
      throw new FortressError(
        'FX_POLICY_NOT_FOUND',
        `no ${kind === 'user' ? 'user' : 'service account'} ${JSON.stringify(`${t}/${name.slice(0, 128)}`)}`,
      );
    }
    return { kind, tenant: t, name, ...record };
  }

  listPrincipals(): PrincipalInfo[] {
    return [...this.#principals].map(([key, record]) => {
      const [kind, id] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      const slash = id.indexOf('/');
      return {
        kind: kind as PrincipalKind,
        tenant: id.slice(0, slash),
        name: id.slice(slash + 1),
        ...record,
      };
    });
  }

  async addGroup(
    name: string,
    options: { tenant?: string; groups?: readonly string[]; roles?: readonly string[] } = {},
  ): Promise<void> {
    checkNameOf(name, 'name');
    const id = `${this.#tenantOf(options.tenant)}/${name}`;
    const record = {
      groups: checkNames(options.groups, 'groups'),
      roles: checkNames(options.roles, 'roles'),
    };
    if (record.groups.includes(name))
      throw new InvalidArgumentError('groups', 'a group cannot contain itself');
    await this.#store.apply([{ kind: 'group', id, record: JSON.stringify(record) }]);
    this.#groups.set(id, record);
    this.authorizer.invalidate();
  }

  async addRole(name: string, options: { tenant?: string; roles?: readonly string[] } = {}): Promise<void> {
    checkNameOf(name, 'name');
    const id = `${this.#tenantOf(options.tenant)}/${name}`;
    const record = { roles: checkNames(options.roles, 'roles') };
    if (record.roles.includes(name)) throw new InvalidArgumentError('roles', 'a role cannot inherit itself');
    await this.#store.apply([{ kind: 'role', id, record: JSON.stringify(record) }]);
    this.#roles.set(id, record);
    this.authorizer.invalidate();
  }

  async removeGroup(name: string, tenant?: string): Promise<void> {
    const id = `${this.#tenantOf(tenant)}/${name}`;
    if (!this.#groups.has(id))
      throw new FortressError('FX_POLICY_NOT_FOUND', `no group ${JSON.stringify(id.slice(0, 160))}`);
    await this.#store.apply([], [{ kind: 'group', id }]);
    this.#groups.delete(id);
    this.authorizer.invalidate();
  }

  async removeRole(name: string, tenant?: string): Promise<void> {
    const id = `${this.#tenantOf(tenant)}/${name}`;
    if (!this.#roles.has(id))
      throw new FortressError('FX_POLICY_NOT_FOUND', `no role ${JSON.stringify(id.slice(0, 160))}`);
    await this.#store.apply([], [{ kind: 'role', id }]);
    this.#roles.delete(id);
    this.authorizer.invalidate();
  }

  listGroups(): GroupInfo[] {
    return [...this.#groups].map(([id, r]) => ({
      tenant: id.slice(0, id.indexOf('/')),
      name: id.slice(id.indexOf('/') + 1),
      ...r,
    }));
  }

  listRoles(): RoleInfo[] {
    return [...this.#roles].map(([id, r]) => ({
      tenant: id.slice(0, id.indexOf('/')),
      name: id.slice(id.indexOf('/') + 1),
      ...r,
    }));
  }

  /** Every role a principal holds, directly, through groups (nested) and through role inheritance. */
  rolesOf(kind: PrincipalKind, name: string, tenant?: string): string[] {
    const info = this.principal(kind, name, tenant);
    const roles = new Set<string>();
    const seenGroups = new Set<string>();
    const addRole = (role: string): void => {
      if (roles.has(role)) return;
      roles.add(role);
      for (const parent of this.#roles.get(`${info.tenant}/${role}`)?.roles ?? []) addRole(parent);
    };
    const addGroup = (group: string): void => {
      if (seenGroups.has(group)) return;
      seenGroups.add(group);
      const g = this.#groups.get(`${info.tenant}/${group}`);
      if (g === undefined) return;
      g.roles.forEach(addRole);
      g.groups.forEach(addGroup);
    };
    info.roles.forEach(addRole);
    info.groups.forEach(addGroup);
    return [...roles].sort();
  }

  // ── row filters ───────────────────────────────────────────────────────────────────────────────

  async addRowFilter(
    id: string,
    filter: { table: string; role: string; where: Where<Record<string, unknown>>; tenant?: string },
  ): Promise<void> {
    if (typeof id !== 'string' || !POLICY_ID_RE.test(id))
      throw new InvalidArgumentError('id', 'expected 1-128 letters, digits or ._:-');
    if (!isRecord(filter)) throw new InvalidArgumentError('filter', 'expected { table, role, where }');
    const table = this.#describe(filter.table);
    if (table === undefined)
      throw new FortressError('FX_TABLE_NOT_FOUND', `no table ${JSON.stringify(filter.table.slice(0, 80))}`);
    checkNameOf(filter.role, 'role');
    if (!isRecord(filter.where)) {
      throw new InvalidArgumentError('where', 'expected a filter object');
    }
    for (const column of columnsOf(filter.where)) {
      const stored = table.columns.find((c) => c.name === column);
      if (stored === undefined)
        throw new FortressError(
          'FX_COLUMN_NOT_FOUND',
          `table ${table.name} has no column ${JSON.stringify(column.slice(0, 80))}`,
        );
      if (stored.encryption !== null) {
        throw new FortressError(
          'FX_QUERY_UNSUPPORTED',
          `row filters run in SQL: column ${column} is encrypted`,
        );
      }
    }
    const info: RowFilterInfo = {
      id,
      tenant: this.#tenantOf(filter.tenant),
      table: table.name,
      role: filter.role,
      where: filter.where,
    };
    await this.#store.apply([{ kind: 'rowFilter', id, record: JSON.stringify(info) }]);
    this.#filters.set(id, info);
    this.authorizer.invalidate();
  }

  async removeRowFilter(id: string): Promise<void> {
    if (!this.#filters.has(id))
      throw new FortressError('FX_POLICY_NOT_FOUND', `no row filter ${JSON.stringify(id.slice(0, 128))}`);
    await this.#store.apply([], [{ kind: 'rowFilter', id }]);
    this.#filters.delete(id);
    this.authorizer.invalidate();
  }

  listRowFilters(): RowFilterInfo[] {
    return [...this.#filters.values()];
  }

  /** The row filters that apply to a principal on a table (one per role it holds), substituted. */
  rowFiltersFor(
    kind: PrincipalKind,
    name: string,
    tenant: string,
    table: string,
  ): Where<Record<string, unknown>>[] {
    if (this.#filters.size === 0) return [];
    const roles = new Set(this.rolesOf(kind, name, tenant));
    const out: Where<Record<string, unknown>>[] = [];
    for (const f of this.#filters.values()) {
      if (f.table !== table || f.tenant !== tenant || !roles.has(f.role)) continue;
      out.push(
        substitute(f.where, { name, tenant, id: `${tenant}/${name}` }) as Where<Record<string, unknown>>,
      );
    }
    return out;
  }

  // ── entities ─────────────────────────────────────────────────────────────────────────────────

  /** The label a table carries (lowest level when unlabelled). */
  tableLabel(table: StoredTable): SecurityLabel {
    return table.classification === undefined
      ? { level: this.#labels.levels[0]!, compartments: [] }
      : this.#labels.parse(table.classification, 'classification');
  }

  labelAttrs(label: SecurityLabel): { level: number; compartments: string[] } {
    return { level: this.#labels.rank(label.level), compartments: [...label.compartments] };
  }

  entities(principal: EntityRef, resource: EntityRef): CedarEntity[] {
    const out: CedarEntity[] = [];
    this.#principalEntities(principal, out);
    this.#resourceEntities(resource, out);
    return out;
  }

  #principalEntities(ref: EntityRef, out: CedarEntity[]): void {
    const kind = ref.type === 'User' ? 'user' : ref.type === 'ServiceAccount' ? 'service' : null;
    const record = kind === null ? undefined : this.#principals.get(`${kind}:${ref.id}`);
    if (record === undefined) return; // an unknown principal has no attributes: every policy on them errors → deny
    const tenant = ref.id.slice(0, ref.id.indexOf('/'));
    const label = this.#labels.parse(record.clearance, 'clearance');
    out.push({
      uid: ref,
      attrs: { tenant, name: ref.id.slice(tenant.length + 1), ...this.labelAttrs(label) },
      parents: [
        ...record.groups.map((g) => ({ type: 'Group', id: `${tenant}/${g}` })),
        ...record.roles.map((r) => ({ type: 'Role', id: `${tenant}/${r}` })),
      ],
    });
    const seen = new Set<string>();
    const addRole = (id: string): void => {
      if (seen.has(`r:${id}`)) return;
      seen.add(`r:${id}`);
      const r = this.#roles.get(id);
      out.push({
        uid: { type: 'Role', id },
        attrs: { tenant, name: id.slice(tenant.length + 1) },
        parents: (r?.roles ?? []).map((p) => ({ type: 'Role', id: `${tenant}/${p}` })),
      });
      for (const p of r?.roles ?? []) addRole(`${tenant}/${p}`);
    };
    const addGroup = (id: string): void => {
      if (seen.has(`g:${id}`)) return;
      seen.add(`g:${id}`);
      const g = this.#groups.get(id);
      out.push({
        uid: { type: 'Group', id },
        attrs: { tenant, name: id.slice(tenant.length + 1) },
        parents: [
          ...(g?.groups ?? []).map((p) => ({ type: 'Group', id: `${tenant}/${p}` })),
          ...(g?.roles ?? []).map((p) => ({ type: 'Role', id: `${tenant}/${p}` })),
        ],
      });
      for (const p of g?.groups ?? []) addGroup(`${tenant}/${p}`);
      for (const p of g?.roles ?? []) addRole(`${tenant}/${p}`);
    };
    record.roles.forEach((r) => {
      addRole(`${tenant}/${r}`);
    });
    record.groups.forEach((g) => {
      addGroup(`${tenant}/${g}`);
    });
  }

  #resourceEntities(ref: EntityRef, out: CedarEntity[]): void {
    const { tenant, database } = this;
    const tenantEntity: CedarEntity = { uid: { type: 'Tenant', id: tenant }, attrs: { tenant }, parents: [] };
    const dbRef = { type: 'Database', id: `${tenant}/${database}` };
    const dbEntity: CedarEntity = {
      uid: dbRef,
      attrs: { tenant, name: database },
      parents: [tenantEntity.uid],
    };
    /** Keys and policies are named `<tenant>/<name>`: the tenant is the id's, whichever it is. */
    const inNamedTenant = (): void => {
      const slash = ref.id.indexOf('/');
      const owner = slash <= 0 ? '' : ref.id.slice(0, slash);
      const ownerRef = { type: 'Tenant', id: owner };
      out.push(
        { uid: ref, attrs: { tenant: owner, name: ref.id.slice(slash + 1) }, parents: [ownerRef] },
        { uid: ownerRef, attrs: { tenant: owner }, parents: [] },
      );
    };
    const prefix = `${tenant}/${database}/`;
    switch (ref.type) {
      case 'System':
        out.push({ uid: ref, attrs: { tenant: SYSTEM_TENANT }, parents: [] });
        return;
      case 'Tenant':
        // Only this database's tenant exists here; another tenant's id gets its own name as tenant.
        out.push({ uid: ref, attrs: { tenant: ref.id }, parents: [] });
        return;
      case 'Database':
        if (ref.id === dbRef.id) out.push(dbEntity, tenantEntity);
        else inNamedTenant(); // another database or tenant: its own tenant decides (the guardrail)
        return;
      case 'Key':
      case 'Policy':
        inNamedTenant();
        return;
      case 'Secret': {
        const slash = ref.id.indexOf('/');
        const owner = slash <= 0 ? '' : ref.id.slice(0, slash);
        const path = ref.id.slice(slash + 1);
        const ownerRef = { type: 'Tenant', id: owner };
        out.push(
          { uid: ref, attrs: { tenant: owner, path, owner: secretOwner(path) }, parents: [ownerRef] },
          { uid: ownerRef, attrs: { tenant: owner }, parents: [] },
        );
        return;
      }
      case 'TransitKey':
      case 'DatabaseRole': {
        const slash = ref.id.indexOf('/');
        const owner = slash <= 0 ? '' : ref.id.slice(0, slash);
        const ownerRef = { type: 'Tenant', id: owner };
        out.push(
          { uid: ref, attrs: { tenant: owner, name: ref.id.slice(slash + 1) }, parents: [ownerRef] },
          { uid: ownerRef, attrs: { tenant: owner }, parents: [] },
        );
        return;
      }
      case 'AuditLog': {
        const owner = ref.id.split('/', 1)[0]!;
        const ownerRef = { type: 'Tenant', id: owner };
        out.push(
          { uid: ref, attrs: { tenant: owner }, parents: [ownerRef] },
          { uid: ownerRef, attrs: { tenant: owner }, parents: [] },
        );
        return;
      }
      case 'Table':
      case 'Column':
      case 'Row': {
        if (!ref.id.startsWith(prefix)) return;
        const rest = ref.id.slice(prefix.length);
        const tableName = rest.split(/[/#]/, 1)[0]!;
        const table = this.#describe(tableName);
        if (table === undefined) return;
        const tableRef = { type: 'Table', id: `${prefix}${table.name}` };
        const tableAttrs = { tenant, database, name: table.name, ...this.labelAttrs(this.tableLabel(table)) };
        out.push({ uid: tableRef, attrs: tableAttrs, parents: [dbRef] }, dbEntity, tenantEntity);
        if (ref.type === 'Column') {
          const column = table.columns.find((c) => c.name === rest.slice(table.name.length + 1));
          if (column === undefined) return;
          out.push({
            uid: ref,
            attrs: {
              ...tableAttrs,
              table: table.name,
              name: column.name,
              encrypted: column.encryption !== null,
            },
            parents: [tableRef],
          });
        } else if (ref.type === 'Row') {
          const packed = Number(rest.slice(table.name.length + 1));
          const label = this.#labels.unpack(packed);
          out.push({
            uid: ref,
            attrs: { tenant, database, table: table.name, ...this.labelAttrs(label) },
            parents: [tableRef],
          });
        }
        return;
      }
    }
  }
}

/** Column names a filter refers to. */
export function columnsOf(where: unknown, out: Set<string> = new Set<string>()): Set<string> {
  if (where === null || typeof where !== 'object' || Array.isArray(where)) return out;
  for (const [key, value] of Object.entries(where)) {
    if (key === 'and' || key === 'or') {
      if (Array.isArray(value)) for (const w of value) columnsOf(w, out);
    } else if (key === 'not') columnsOf(value, out);
    else out.add(key);
  }
  return out;
}

function substitute(value: unknown, principal: { name: string; tenant: string; id: string }): unknown {
  if (value === '$principal.name') return principal.name;
  if (value === '$principal.tenant') return principal.tenant;
  if (value === '$principal.id') return principal.id;
  if (Array.isArray(value)) return value.map((v) => substitute(v, principal));
  if (
    value !== null &&
    typeof value === 'object' &&
    !(value instanceof Date) &&
    !(value instanceof Uint8Array)
  ) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, principal)]));
  }
  return value;
}
