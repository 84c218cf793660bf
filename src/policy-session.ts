/**
 * @module policy-session
 * A session of one principal (`db.as(principal)`): every operation is decided by policy before any
 * storage access, and recorded in the audit ledger with the principal and the deciding policies.
 *
 * - Table decisions (`read`, `insert`, `update`, `delete`, `query`) first; a denial throws
 *   `FX_FORBIDDEN` with a data-free explanation and is itself recorded.
 * - Column decisions: a column the principal may not `read` is left out; an encrypted column it
 *   may read but not `decrypt` comes back masked by the column's rule (and is never decrypted when
 *   the rule needs no plaintext). Filtering or ordering on a column needs `query` on it — else a
 *   blind-index lookup would confirm guesses about values the caller cannot see.
 * - Rows: the mandatory-access row filter (rows above the session's label are invisible) and the
 *   row filters of the principal's roles are ANDed into the SQL of every read, update and delete.
 *   Writes are checked against the row's label (no write down).
 */
import type { AuditResource } from './audit/entry/audit-entry.js';
import type { AuditHandle } from './audit-handle.js';
import type { Transaction } from './engine/engine.js';
import type { Job, JobOptions } from './engine/jobs/job.js';
import type { ColumnDefinition, EncryptOptions, TableDefinition } from './engine/schema/table-schema.js';
import type { DestroyResult, KeyInfo, KeyManager } from './keys/key-manager.js';
import { parseRotationPeriod } from './keys/keyring/rotation-period.js';
import type { SealProvider } from './keys/seal/seal-provider.js';
import { SessionAccess } from './session-access.js';
import type { AccessControl, PrincipalKind } from './access-control.js';
import { columnsOf } from './access-control.js';
import type { AccessActor, AccessLog } from './engine/access/access-log.js';
import type { Engine } from './engine/engine.js';
import type { Where } from './engine/query/where.js';
import type { AnyRow, StoredColumn, StoredTable } from './engine/schema/table-schema.js';
import type { FindOptions, RowScope, Table } from './engine/table/table.js';
import type { HmacSha256Key } from './crypto/mac/hmac-sha256-key.js';
import {
  Authorizer,
  type Decision,
  type EntityRef,
  type RequestContext,
} from './policy/authorizer/authorizer.js';
import type { LabelScheme, SecurityLabel } from './policy/mac/security-label.js';
import { maskValue, needsPlaintext, REDACTED, type MaskRule } from './policy/masking/masking.js';
import type { Action } from './policy/schema/fortress-schema.js';
import { FortressError, InvalidArgumentError } from './util/errors.js';
import type { SecretsKv } from './secrets/kv/secrets-kv.js';
import type { SecretsTransit } from './secrets/transit/secrets-transit.js';
import type { SecretsDatabase } from './secrets/database/secrets-database.js';
import { auditResourceOf, type SecretsAccess } from './secrets/secrets-access.js';

/** Who a session acts as. A string is a user name of the database's tenant; `service:name` a service account. */
export type SessionPrincipal =
  | string
  | {
      readonly user?: string;
      readonly service?: string;
      readonly tenant?: string;
      /** Work at this label (must be dominated by the clearance): Bell–LaPadula's current level. */
      readonly level?: string;
      /** Invoke break-glass policies for this session (every use is flagged in the audit log). */
      readonly breakGlass?: boolean;
      /** The client's network address, for policies that use `context.clientAddress`. */
      readonly clientAddress?: string;
    };

/** What a session needs from the database it belongs to. */
export interface SessionHost {
  engine(): Engine;
  readonly access: AccessControl;
  readonly accessLog: AccessLog;
  /** The keyed hash behind the `hash` mask (created on first use, zeroed at seal). */
  maskKey(): Promise<HmacSha256Key>;
  warn(message: string): void;
  /** Runs an administrative operation and records it (outcome included) as `actor`. */
  admin<T>(action: string, resource: AuditResource, body: () => Promise<T>, actor: AccessActor): Promise<T>;
  /** Records a denied operation on `resource` (not a table's) with the denying policies. */
  recordDenied(
    action: string,
    resource: AuditResource,
    error: FortressError,
    actor: AccessActor,
    denied: readonly string[],
  ): Promise<void>;
  /** The audit resource of the database, a table or a column. */
  resource(table?: string, column?: string): AuditResource;
  /** The key manager, every operation recorded as `actor`. */
  keys(actor: AccessActor): KeyManager;
  /** Access control, every change recorded as `actor`. */
  accessAs(actor: AccessActor): AccessControl;
  /** The audit ledger, its reads recorded as `actor`. */
  audit(actor: AccessActor): AuditHandle;
  seal(): void;
  /** The KV secrets engine, each operation decided by `authorize` and recorded. */
  kv(authorize: SecretsAccess['authorize']): SecretsKv;
  /** The transit secrets engine, each operation decided by `authorize` and recorded. */
  transit(authorize: SecretsAccess['authorize']): SecretsTransit;
  /** The database secrets engine, each operation decided by `authorize` and recorded. */
  database(authorize: SecretsAccess['authorize']): SecretsDatabase;
  readonly jobs: JobOptions | undefined;
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

/** Keys Fortress keeps for itself (the audit ledger's): system resources, not the tenant's. */
const SYSTEM_KEY_PREFIX = 'fortress/';

interface ColumnPlan {
  /** Columns fetched (and decrypted where encrypted). */
  readonly fetch: readonly string[];
  /** `fetch` is every column of the table (each once): the engine is asked for whole rows. */
  readonly fetchAll: boolean;
  /** Columns returned masked: name → rule (for rules needing plaintext, the column is fetched). */
  readonly masks: ReadonlyMap<string, Exclude<MaskRule, 'omit'>>;
  /** The same masks with each column's type, in order, for the per-row loop. */
  readonly maskSteps: readonly MaskStep[];
  /** Some mask is `hash`: the keyed-hash key is needed. */
  readonly needsHashKey: boolean;
  readonly policies: readonly string[];
}

interface MaskStep {
  readonly name: string;
  readonly type: StoredColumn['type'];
  readonly rule: Exclude<MaskRule, 'omit'>;
}

/** What a write returns through: nothing masked (the writer supplied the values). */
const UNMASKED: ColumnPlan = Object.freeze({
  fetch: Object.freeze([]),
  fetchAll: false,
  masks: new Map<string, Exclude<MaskRule, 'omit'>>(),
  maskSteps: Object.freeze([]),
  needsHashKey: false,
  policies: Object.freeze([]),
});

/** Column plans kept per table handle (one per distinct `select`); more than this starts over. */
const MAX_CACHED_PLANS = 64;
/** Formatted row labels kept per table handle; more than this starts over. */
const MAX_CACHED_LABELS = 4096;

/**
 * @example
 * ```ts
 * const ann = db.as('ann');
 * const rows = await ann.table('patients').find({ where: { age: { gte: 30 } } });
 * ```
 */
export class PolicySession {
  readonly kind: PrincipalKind;
  readonly name: string;
  readonly tenant: string;
  readonly #host: SessionHost;
  readonly #label: SecurityLabel;
  readonly #breakGlass: boolean;
  readonly #clientAddress: string | undefined;
  readonly #variant: string;
  readonly #attrs: { level: number; compartments: string[] };
  /** The parts of every request this session makes that never change, built once. */
  readonly #principalRef: EntityRef;
  readonly #auditPrincipal: AccessActor['principal'];
  /** Actors per decision object: cached decisions are reused, so are their actors (weakly held). */
  readonly #actors = new WeakMap<Decision, AccessActor>();
  readonly #context: RequestContext;

  /** @internal Sessions come from `Fortress.as()`. */
  constructor(host: SessionHost, principal: SessionPrincipal) {
    this.#host = host;
    const access = host.access;
    const p = typeof principal === 'string' ? parsePrincipalString(principal) : principal;
    if ((p as unknown) === null || typeof (p as unknown) !== 'object')
      throw new InvalidArgumentError('principal', 'expected a name or { user | service, tenant?, level? }');
    if ((p.user === undefined) === (p.service === undefined)) {
      throw new InvalidArgumentError('principal', 'name exactly one of user or service');
    }
    this.kind = p.user !== undefined ? 'user' : 'service';
    const info = access.principal(this.kind, (p.user ?? p.service)!, p.tenant);
    this.name = info.name;
    this.tenant = info.tenant;
    const clearance = access.labels.parse(info.clearance, 'clearance');
    this.#label = p.level === undefined ? clearance : access.labels.parse(p.level, 'level');
    if (!access.labels.dominates(clearance, this.#label)) {
      throw new FortressError(
        'FX_FORBIDDEN',
        `${this.kind} ${this.tenant}/${this.name} cannot work above their clearance`,
      );
    }
    if (p.breakGlass !== undefined && typeof p.breakGlass !== 'boolean')
      throw new InvalidArgumentError('breakGlass', 'expected true or false');
    this.#breakGlass = p.breakGlass === true;
    if (
      p.clientAddress !== undefined &&
      (typeof p.clientAddress !== 'string' || p.clientAddress.length > 64)
    ) {
      throw new InvalidArgumentError('clientAddress', 'expected an address of at most 64 characters');
    }
    this.#clientAddress = p.clientAddress;
    this.#attrs = access.labelAttrs(this.#label);
    this.#variant = access.labels.format(this.#label);
    this.#principalRef = Object.freeze(this.entity);
    this.#auditPrincipal = Object.freeze({
      type: this.kind,
      id: `${this.tenant}/${this.name}`,
      tenant: this.tenant,
    });
    this.#context = Object.freeze({
      breakGlass: this.#breakGlass,
      ...(this.#clientAddress === undefined ? {} : { clientAddress: this.#clientAddress }),
    });
  }

  /** The principal as audit entries name it (`{ type, id: 'tenant/name', tenant }`). */
  get auditPrincipal(): AccessActor['principal'] {
    return this.#auditPrincipal;
  }

  /** The principal's entity reference. */
  get entity(): EntityRef {
    return { type: this.kind === 'user' ? 'User' : 'ServiceAccount', id: `${this.tenant}/${this.name}` };
  }

  /** The session's working label. */
  get label(): SecurityLabel {
    return this.#label;
  }

  /** Decides one request for this session (cached where policy allows). */
  decide(action: Action, resource: EntityRef): Decision {
    return this.#host.access.authorizer.authorize({
      principal: this.#principalRef,
      action,
      resource,
      variant: this.#variant,
      principalAttrs: this.#attrs,
      context: this.#context,
    });
  }

  /** Decides, and on denial records it and throws `FX_FORBIDDEN`. */
  require(
    action: Action,
    resource: EntityRef,
    auditAction: string,
    table?: string,
  ): Promise<Decision> | Decision {
    const decision = this.decide(action, resource);
    if (decision.allowed) {
      if (decision.breakGlass) {
        this.#host.warn(
          `break-glass: ${this.kind} ${this.tenant}/${this.name} ${action} ${resource.type} ${resource.id} (${decision.policies.join(', ')})`,
        );
      }
      // Allowed: no promise of its own (reads are the hot path; callers await either way).
      return decision;
    }
    return this.#deny(action, resource, decision, auditAction, table);
  }

  /** Records a denial and throws `FX_FORBIDDEN` with a data-free explanation. */
  async #deny(
    action: Action,
    resource: EntityRef,
    decision: Decision,
    auditAction: string,
    table: string | undefined,
  ): Promise<never> {
    const error = new FortressError(
      'FX_FORBIDDEN',
      `${this.kind} ${this.tenant}/${this.name} may not ${action} ${resource.type.toLowerCase()} ${resource.id}: ${Authorizer.explain(decision)}`,
    );
    await this.#host.accessLog.record(
      {
        action: auditAction,
        ...(table === undefined ? {} : { table }),
        actor: this.actor(decision),
        denied: decision.policies,
      },
      error,
    );
    throw error;
  }

  /** @internal The audit actor for a decision (the same object for the same cached decision). */
  actor(decision: Decision): AccessActor {
    let actor = this.#actors.get(decision);
    if (actor === undefined) {
      actor = Object.freeze({
        principal: this.#auditPrincipal,
        policies: decision.policies,
        breakGlass: decision.breakGlass,
        ...(this.#clientAddress === undefined ? {} : { client: this.#clientAddress }),
      });
      this.#actors.set(decision, actor);
    }
    return actor;
  }

  /** A policy-enforcing handle on a table. `FX_TABLE_NOT_FOUND` names exactly-spelled tables only. */
  table<R extends AnyRow = AnyRow, I extends AnyRow = Partial<R>>(name: string): GuardedTable<R, I> {
    const schema = this.#host.engine().describeTable(name);
    return new GuardedTable<R, I>(this, this.#host, schema);
  }

  /**
   * Runs `fn` atomically with this session's policies: every table it reaches through `tx.table()`
   * is decided and filtered as `session.table()` is; everything written commits together or not
   * at all (a denial inside rolls the whole transaction back, and is itself recorded).
   *
   * @example
   * ```ts
   * await db.as('service:billing').transaction(async (tx) => {
   *   await tx.table('invoices').insert({ id, amount });
   *   await tx.table('accounts').update(account, { balance });
   * });
   * ```
   */
  transaction<T>(fn: (tx: SessionTransaction) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'expected an async function');
    return this.#host.transaction((tx) => fn(new SessionTransaction(this, this.#host, tx)));
  }

  /**
   * The KV secrets engine as this principal: each operation needs its action (`readSecret`,
   * `writeSecret`, `deleteSecret`, `destroySecret`, `listSecrets`) on the secret's path — or
   * `configureSecrets` on the tenant — and is recorded with the deciding policies.
   *
   * @example
   * ```ts
   * const { data } = await db.as('ann').kv.get('users/ann/github');
   * ```
   */
  get kv(): SecretsKv {
    return this.#host.kv(this.#secretsAuthorizer());
  }

  /**
   * The transit secrets engine as this principal: each operation needs its action
   * (`transitEncrypt`, `transitDecrypt`, … on `Fortress::TransitKey::"<tenant>/<name>"`).
   *
   * @example
   * ```ts
   * const { ciphertext } = await db.as('service:billing').transit.encrypt('orders', { plaintext });
   * ```
   */
  get transit(): SecretsTransit {
    return this.#host.transit(this.#secretsAuthorizer());
  }

  /**
   * The database secrets engine as this principal: credentials need `readCredentials` on
   * `Fortress::DatabaseRole::"<tenant>/<role>"` (leases: `renewLease`, `revokeLease`), and
   * configuration `manageDatabase` on the tenant.
   *
   * @example
   * ```ts
   * const { username, password, leaseId } = await db.as('service:reports').database.createCredentials('readonly');
   * ```
   */
  get database(): SecretsDatabase {
    return this.#host.database(this.#secretsAuthorizer());
  }

  /** Decides secrets-engine operations for this principal; denials are recorded with their policies. */
  #secretsAuthorizer(): SecretsAccess['authorize'] {
    return async (action, target, auditAction) => {
      const tenant = this.#host.access.tenant;
      const ref: EntityRef =
        target === 'tenant'
          ? { type: 'Tenant', id: tenant }
          : { type: target.type, id: `${tenant}/${target.id}` };
      const decision = this.decide(action, ref);
      if (!decision.allowed) {
        const error = new FortressError(
          'FX_FORBIDDEN',
          `${this.kind} ${this.tenant}/${this.name} may not ${action} ${ref.type.toLowerCase()} ${ref.id}: ${Authorizer.explain(decision)}`,
        );
        await this.#host.recordDenied(
          auditAction,
          auditResourceOf(tenant, target),
          error,
          this.actor(decision),
          decision.policies,
        );
        throw error;
      }
      if (decision.breakGlass) {
        this.#host.warn(
          `break-glass: ${this.kind} ${this.tenant}/${this.name} ${action} ${ref.type} ${ref.id} (${decision.policies.join(', ')})`,
        );
      }
      return this.actor(decision);
    };
  }

  // ── administration: each needs its action on the resource, and is recorded as this principal ──

  async #administer<T>(
    action: Action,
    resource: EntityRef,
    auditAction: string,
    auditResource: AuditResource,
    body: () => Promise<T>,
    table?: string,
  ): Promise<T> {
    const decision = await this.require(action, resource, auditAction, table);
    return this.#host.admin(auditAction, auditResource, body, this.actor(decision));
  }

  #databaseRef(): EntityRef {
    const a = this.#host.access;
    return { type: 'Database', id: `${a.tenant}/${a.database}` };
  }

  /** A key's entity: the tenant's, or — for Fortress's own keys (`fortress/…`) — the system's (`*`). */
  #keyRef(name: string): EntityRef {
    if (typeof name !== 'string' || name.length === 0 || name.length > 512) {
      throw new InvalidArgumentError('name', 'expected a key name');
    }
    const tenant = name.startsWith(SYSTEM_KEY_PREFIX) ? '*' : this.#host.access.tenant;
    return { type: 'Key', id: `${tenant}/${name}` };
  }

  /**
   * Creates a table (`createTable` on the database). Its classification must be at or above the
   * session's level — creating an object below it would be a write down.
   */
  async createTable(name: string, definition: TableDefinition): Promise<GuardedTable> {
    if (typeof name !== 'string') throw new InvalidArgumentError('name', 'expected a table name');
    const labels = this.#host.access.labels;
    const classification = (definition as { classification?: unknown } | null)?.classification;
    const label =
      classification === undefined
        ? { level: labels.levels[0]!, compartments: [] }
        : labels.parse(classification, 'classification');
    if (labels.rank(label.level) < labels.rank(this.#label.level)) {
      const error = new FortressError(
        'FX_FORBIDDEN',
        `${this.kind} ${this.tenant}/${this.name} may not create table ${name.slice(0, 80)}: it is labelled below the session's level (no write down)`,
      );
      await this.#host.accessLog.record(
        {
          action: 'schema.createTable',
          actor: this.actor(this.decide('createTable', this.#databaseRef())),
          denied: ['fortress.guard.no-write-down'],
        },
        error,
      );
      throw error;
    }
    await this.#administer(
      'createTable',
      this.#databaseRef(),
      'schema.createTable',
      this.#host.resource(name),
      () => this.#host.engine().createTable(name, definition),
    );
    return this.table(name);
  }

  /** Drops a table and crypto-shreds its keys (`dropTable` on the table). */
  dropTable(name: string): Promise<void> {
    return this.#administer(
      'dropTable',
      this.tableRef(name),
      'schema.dropTable',
      this.#host.resource(name),
      () => this.#host.engine().dropTable(name),
      name,
    );
  }

  /** Adds a column (`alterTable`). */
  addColumn(table: string, name: string, definition: ColumnDefinition): Promise<void> {
    return this.#administer(
      'alterTable',
      this.tableRef(table),
      'schema.addColumn',
      this.#host.resource(table, name),
      () => this.#host.engine().addColumn(table, name, definition),
      table,
    );
  }

  /** Drops a column (`alterTable`). */
  dropColumn(table: string, name: string): Promise<Job | null> {
    return this.#administer(
      'alterTable',
      this.tableRef(table),
      'schema.dropColumn',
      this.#host.resource(table, name),
      () => this.#host.engine().dropColumn(table, name, this.#host.jobs),
      table,
    );
  }

  /** Encrypts a plaintext column online (`alterTable`). */
  encryptColumn(table: string, name: string, encrypt: true | EncryptOptions = true): Promise<Job> {
    return this.#administer(
      'alterTable',
      this.tableRef(table),
      'schema.encryptColumn',
      this.#host.resource(table, name),
      () => this.#host.engine().encryptColumn(table, name, encrypt, this.#host.jobs),
      table,
    );
  }

  /** Rotates a table's data keys and re-encrypts its values in the background (`rotateKey` on the table). */
  rotateTableKeys(table: string): Promise<Job> {
    return this.#administer(
      'rotateKey',
      this.tableRef(table),
      'key.rotateTable',
      this.#host.resource(table),
      () => this.#host.engine().rotateKeys(table, this.#host.jobs),
      table,
    );
  }

  /** A new active version of a key of the keyring (`rotateKey` on the key). */
  async rotateKey(name: string): Promise<KeyInfo> {
    const decision = await this.require('rotateKey', this.#keyRef(name), 'key.rotate');
    return this.#host.keys(this.actor(decision)).rotate(name);
  }

  /**
   * Sets a key's minimum decryption version and/or its automatic rotation period (`rotateKey` on
   * the key; a null period turns scheduled rotation off). Each change is recorded as this principal.
   * Both fields are checked before either is written, so a refused call changes nothing.
   *
   * @example
   * ```ts
   * await db.as('ann').configureKey('acme/main/patients/ssn', { rotationPeriod: '30d' });
   * ```
   */
  async configureKey(
    name: string,
    config: { minDecryptionVersion?: number; rotationPeriod?: string | null },
  ): Promise<KeyInfo> {
    const expected = 'expected { minDecryptionVersion?, rotationPeriod? } with at least one of them';
    if ((config as unknown) === null || typeof config !== 'object' || Array.isArray(config)) {
      throw new InvalidArgumentError('config', expected);
    }
    const fields = Object.keys(config).filter((k) => (config as Record<string, unknown>)[k] !== undefined);
    if (fields.length === 0 || fields.some((k) => k !== 'minDecryptionVersion' && k !== 'rotationPeriod')) {
      throw new InvalidArgumentError('config', expected);
    }
    const { minDecryptionVersion, rotationPeriod } = config;
    // The period is checked now; the minimum version (against the active version) by the key
    // manager, before the period is written.
    if (rotationPeriod !== undefined && rotationPeriod !== null) parseRotationPeriod(rotationPeriod);
    const decision = await this.require('rotateKey', this.#keyRef(name), 'key.config');
    const keys = this.#host.keys(this.actor(decision));
    let info: KeyInfo | undefined;
    if (minDecryptionVersion !== undefined) {
      info = await keys.setMinDecryptionVersion(name, minDecryptionVersion);
    }
    if (rotationPeriod !== undefined) info = await keys.setRotationPeriod(name, rotationPeriod);
    return info!;
  }

  /** Crypto-shreds one version of a key, or every version (`destroyKey` on the key). */
  async destroyKey(name: string, which: { version: number } | { all: true }): Promise<DestroyResult[]> {
    if ((which as unknown) === null || typeof which !== 'object') {
      throw new InvalidArgumentError('which', 'expected { version } or { all: true }');
    }
    const decision = await this.require('destroyKey', this.#keyRef(name), 'key.destroyKey');
    const keys = this.#host.keys(this.actor(decision));
    if ((which as { all?: unknown }).all === true) return keys.destroyKey(name);
    if ('version' in which) return [await keys.destroyVersion(name, which.version)];
    throw new InvalidArgumentError('which', 'expected { version } or { all: true }');
  }

  /** An encrypted, signed backup of every key for `recipient` (`exportKey` on the tenant). */
  async exportKeys(options: { recipient: Uint8Array; label?: string }): ReturnType<KeyManager['exportKeys']> {
    const tenant = { type: 'Tenant', id: this.#host.access.tenant };
    const decision = await this.require('exportKey', tenant, 'system.exportKeys');
    return this.#host.keys(this.actor(decision)).exportKeys(options);
  }

  /** The audit ledger (`readAudit` on the tenant's audit log); the reads themselves are recorded. */
  async readAudit(): Promise<AuditHandle> {
    const decision = await this.require(
      'readAudit',
      { type: 'AuditLog', id: this.#host.access.tenant },
      'audit.read',
    );
    // Every read through the handle is recorded as this session's principal, with its policies.
    return this.#host.audit(this.actor(decision));
  }

  /** Seals Fortress: every key is zeroed (`seal` on the system). */
  async seal(): Promise<void> {
    const decision = await this.require('seal', SYSTEM_REF, 'system.seal');
    await this.#host.admin(
      'system.seal',
      { type: 'system' },
      () => {
        this.#host.seal();
        return Promise.resolve();
      },
      this.actor(decision),
    );
  }

  /**
   * Re-protects the root key under new seal parameters (new shares or threshold, another
   * passphrase); data and keys are untouched. Needs `unseal` on the system — the action of whoever
   * holds unseal material — and the current unseal inputs themselves.
   */
  async rekey(
    current: { provider: SealProvider; inputs: readonly string[] },
    next: SealProvider,
  ): Promise<{ shares?: readonly string[] }> {
    const decision = await this.require('unseal', SYSTEM_REF, 'system.rekey');
    return this.#host.keys(this.actor(decision)).rekey(current, next);
  }

  /**
   * A new root key: every key-encryption key rewrapped under it and the seal re-made (new shares
   * for Shamir). Needs `unseal` on the system and the current unseal inputs.
   */
  async rotateRootKey(
    current: { provider: SealProvider; inputs: readonly string[] },
    next: SealProvider,
  ): Promise<{ shares?: readonly string[]; rootVersion: number }> {
    const decision = await this.require('unseal', SYSTEM_REF, 'system.rotateRootKey');
    return this.#host.keys(this.actor(decision)).rotateRootKey(current, next);
  }

  /**
   * Policies, principals, groups, roles and row filters, as this session may manage them: each
   * call needs `managePolicy` (on the policy, or on the tenant for the rest), and every change is
   * recorded as this principal.
   */
  get access(): SessionAccess {
    return new SessionAccess(this, this.#host);
  }

  /** @internal */
  tableRef(table: string): EntityRef {
    const a = this.#host.access;
    return { type: 'Table', id: `${a.tenant}/${a.database}/${table}` };
  }

  /** @internal */
  columnRef(table: string, column: string): EntityRef {
    const a = this.#host.access;
    return { type: 'Column', id: `${a.tenant}/${a.database}/${table}/${column}` };
  }

  /** @internal Row entity of a packed label. */
  rowRef(table: string, packed: number): EntityRef {
    const a = this.#host.access;
    return { type: 'Row', id: `${a.tenant}/${a.database}/${table}#${packed}` };
  }
}

/** The one System entity: seal, unseal and the key ceremonies act on it. */
const SYSTEM_REF: EntityRef = Object.freeze({ type: 'System', id: 'system' });

function parsePrincipalString(text: string): Exclude<SessionPrincipal, string> {
  if (text.startsWith('service:')) return { service: text.slice('service:'.length) };
  if (text.startsWith('user:')) return { user: text.slice('user:'.length) };
  return { user: text };
}

const FIND_OPTION_KEYS: ReadonlySet<string> = new Set([
  'where',
  'orderBy',
  'limit',
  'after',
  'select',
  'scan',
]);

/**
 * `{ ...options, where (when scoped), select }` for the engine. Object spread copies through a
 * generic runtime path that costs about a microsecond per read, so when every key is a find option
 * (the engine rejects any other) the same object is built by assignment; anything else is spread.
 */
function findQuery(
  options: FindOptions<AnyRow>,
  where: Where<AnyRow> | undefined,
  select: readonly string[] | undefined,
): FindOptions<AnyRow> {
  const keys = Object.keys(options);
  let query: Record<string, unknown>;
  if (!keys.every((key) => FIND_OPTION_KEYS.has(key))) {
    query = { ...options, ...(where === undefined ? {} : { where }) };
  } else {
    query = {};
    const source = options as Record<string, unknown>;
    for (const key of keys) query[key] = source[key];
    if (where !== undefined) query['where'] = where;
  }
  // Every column: no select, so the engine's fast paths (which return whole rows) still apply.
  if (select === undefined) delete query['select'];
  else query['select'] = select;
  return query;
}

/**
 * A table handle that enforces the session's policies. Same shapes as `Table`.
 *
 * Reads are the hot path, so a handle keeps what only changes when access control does: the
 * column plan of each `select` and the row scope, both dropped when the authorizer's generation
 * moves (any policy, principal, group, role or row-filter change bumps it). A plan is kept only
 * when `read` and `decrypt` are not decided from request context, i.e. only when the authorizer
 * itself would answer every decision in it from its cache. The table decision (and its audit and
 * break-glass warning) is still made on every call.
 */
export class GuardedTable<R extends AnyRow = AnyRow, I extends AnyRow = Partial<R>> {
  readonly name: string;
  readonly #session: PolicySession;
  readonly #host: SessionHost;
  readonly #schema: StoredTable;
  readonly #key: string;
  /** The handle's columns by name (the schema it was opened with, like `#schema`). */
  readonly #columns: ReadonlyMap<string, StoredColumn>;
  readonly #columnNames: readonly string[];
  readonly #tableRef: EntityRef;
  readonly #macScope: RowScope | undefined;
  readonly #open: TableOpener;
  readonly #columnRefs = new Map<string, EntityRef>();
  #lastDecision: Decision | null = null;
  #lastTable: Table<AnyRow, AnyRow> | null = null;
  readonly #plans = new Map<string, ColumnPlan>();
  #plansGeneration = -1;
  #scopeCache: Where<AnyRow> | undefined = undefined;
  #scopeGeneration = -1;
  readonly #labelTexts = new Map<number, string>();
  #labelScheme: LabelScheme | null = null;

  /** @internal `open` makes the engine handle: the database's, or a transaction's. */
  constructor(session: PolicySession, host: SessionHost, schema: StoredTable, open?: TableOpener) {
    this.#open = open ?? ((name, actor, scope) => host.engine().table(name, actor, scope));
    this.#session = session;
    this.#host = host;
    this.#schema = schema;
    this.name = schema.name;
    this.#key = schema.columns.find((c) => c.primaryKey)!.name;
    this.#columns = new Map(schema.columns.map((c) => [c.name, c]));
    this.#columnNames = schema.columns.map((c) => c.name);
    this.#tableRef = session.tableRef(schema.name);
    this.#macScope = this.#labelScope();
  }

  /** A column's entity reference, built once per column of this handle. */
  #columnRef(name: string): EntityRef {
    let ref = this.#columnRefs.get(name);
    if (ref === undefined) {
      ref = Object.freeze(this.#session.columnRef(this.name, name));
      this.#columnRefs.set(name, ref);
    }
    return ref;
  }

  /**
   * An engine handle acting for the session: its accesses carry the session's principal and
   * deciding policies, and in a row-labelled table every read it makes — key reads, blind-index
   * lookups, general queries, counts — is confined in SQL to the rows the session's label may read.
   */
  #table(decision: Decision): Table<AnyRow, AnyRow> {
    // Cached decisions come back as the same object: so does the engine handle made for them.
    if (decision === this.#lastDecision && this.#lastTable !== null) return this.#lastTable;
    const table = this.#open(this.name, this.#session.actor(decision), this.#macScope);
    this.#lastDecision = decision;
    this.#lastTable = table;
    return table;
  }

  /** The mandatory-access row scope: labels the session's label dominates (Bell–LaPadula). */
  #labelScope(): RowScope | undefined {
    const column = this.#schema.rowLabel;
    if (column === undefined) return undefined;
    const { maxRank, forbiddenMask } = this.#host.access.labels.readableRange(this.#session.label);
    // packed = rank·2^48 + compartments: rank ≤ maxRank ⟺ packed < (maxRank+1)·2^48.
    return Object.freeze({ column, below: (maxRank + 1) * 2 ** 48, bitsClear: forbiddenMask });
  }

  /** The per-role row filters that apply to this session (the label scope is the engine handle's). */
  #scope(): Where<AnyRow> | undefined {
    // Row filters and role memberships only change with the generation. The engine never mutates
    // a filter, so one object serves every call.
    const generation = this.#host.access.authorizer.generation;
    if (generation === this.#scopeGeneration) return this.#scopeCache;
    const parts: Where<AnyRow>[] = [];
    const filters = this.#host.access.rowFiltersFor(
      this.#session.kind,
      this.#session.name,
      this.#session.tenant,
      this.name,
    );
    if (filters.length === 1) parts.push(filters[0]!);
    else if (filters.length > 1) parts.push({ or: filters });
    const scope = parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : { and: parts };
    this.#scopeCache = scope;
    this.#scopeGeneration = generation;
    return scope;
  }

  /** The column plan for `select`: from this handle's cache when the decisions behind it are. */
  #plan(select: readonly string[] | undefined): ColumnPlan {
    const authorizer = this.#host.access.authorizer;
    if (authorizer.isContextual('read') || authorizer.isContextual('decrypt')) return this.#newPlan(select);
    if (authorizer.generation !== this.#plansGeneration) {
      this.#plans.clear();
      this.#plansGeneration = authorizer.generation;
    }
    // Only a list of strings has a key; anything else is planned (and rejected) afresh every time.
    const key =
      select === undefined
        ? '*'
        : Array.isArray(select) && select.every((name) => typeof name === 'string')
          ? JSON.stringify(select)
          : null;
    if (key === null) return this.#newPlan(select);
    let plan = this.#plans.get(key);
    if (plan === undefined) {
      plan = this.#newPlan(select);
      if (this.#plans.size >= MAX_CACHED_PLANS) this.#plans.clear();
      this.#plans.set(key, plan);
    }
    return plan;
  }

  #newPlan(select: readonly string[] | undefined): ColumnPlan {
    const masks = new Map<string, Exclude<MaskRule, 'omit'>>();
    const maskSteps: MaskStep[] = [];
    const fetch: string[] = [];
    const policies = new Set<string>();
    const wanted = select ?? this.#columnNames;
    for (const name of wanted) {
      const column = this.#columns.get(name);
      if (column === undefined) {
        throw new FortressError(
          'FX_COLUMN_NOT_FOUND',
          `table ${this.name} has no column ${JSON.stringify(name.slice(0, 80))}`,
        );
      }
      if (column.primaryKey) {
        fetch.push(name);
        continue;
      }
      const read = this.#session.decide('read', this.#session.columnRef(this.name, name));
      if (!read.allowed) {
        if (select !== undefined) {
          throw new FortressError(
            'FX_FORBIDDEN',
            `${this.#session.kind} ${this.#session.tenant}/${this.#session.name} may not read column ${this.name}.${name}: ${Authorizer.explain(read)}`,
          );
        }
        continue;
      }
      read.policies.forEach((p) => policies.add(p));
      if (column.encryption === null) {
        fetch.push(name);
        continue;
      }
      const decrypt = this.#session.decide('decrypt', this.#session.columnRef(this.name, name));
      if (decrypt.allowed) {
        decrypt.policies.forEach((p) => policies.add(p));
        fetch.push(name);
        continue;
      }
      const rule = column.mask ?? 'redact';
      if (rule === 'omit') continue;
      if (!masks.has(name)) maskSteps.push({ name, type: column.type, rule });
      masks.set(name, rule);
      if (needsPlaintext(rule)) fetch.push(name);
    }
    // Frozen: a cached plan is shared by every later read through this handle.
    return Object.freeze({
      fetch: Object.freeze(fetch),
      fetchAll: fetch.length === this.#columnNames.length && new Set(fetch).size === fetch.length,
      masks,
      maskSteps: Object.freeze(maskSteps),
      needsHashKey: maskSteps.some((step) => step.rule === 'hash'),
      policies: Object.freeze([...policies]),
    });
  }

  /** The text of a packed row label, formatted once per handle. */
  #labelText(labels: LabelScheme, packed: number): string {
    if (labels !== this.#labelScheme) {
      this.#labelTexts.clear();
      this.#labelScheme = labels;
    }
    let text = this.#labelTexts.get(packed);
    if (text === undefined) {
      text = labels.format(labels.unpack(packed));
      if (this.#labelTexts.size >= MAX_CACHED_LABELS) this.#labelTexts.clear();
      this.#labelTexts.set(packed, text);
    }
    return text;
  }

  async #mask(rows: AnyRow[], plan: ColumnPlan): Promise<R[]> {
    const labelColumn = this.#schema.rowLabel;
    const steps = plan.maskSteps;
    if (steps.length === 0 && labelColumn === undefined) return rows as R[];
    const hashKey = plan.needsHashKey ? await this.#host.maskKey() : null;
    const labels = this.#host.access.labels;
    for (const row of rows) {
      for (const { name, type, rule } of steps) {
        // redact and null never fetched the value: their output must not depend on it (not even on null).
        row[name] =
          rule === 'redact' ? REDACTED : rule === 'null' ? null : maskValue(rule, type, row[name], hashKey);
      }
      if (labelColumn !== undefined && typeof row[labelColumn] === 'number') {
        row[labelColumn] = this.#labelText(labels, row[labelColumn]);
      }
    }
    return rows as R[];
  }

  /** Checks `query` on the table and on every column a filter or ordering names. */
  #queryColumns(where: unknown, orderBy: unknown): void {
    const names = columnsOf(where);
    const orders = Array.isArray(orderBy) ? orderBy : orderBy === undefined ? [] : [orderBy];
    for (const o of orders)
      if (o !== null && typeof o === 'object') for (const k of Object.keys(o as object)) names.add(k);
    for (const name of names) {
      if (!this.#columns.has(name)) continue; // the engine reports unknown columns
      const d = this.#session.decide('query', this.#columnRef(name));
      if (!d.allowed) {
        throw new FortressError(
          'FX_FORBIDDEN',
          `${this.#session.kind} ${this.#session.tenant}/${this.#session.name} may not query column ${this.name}.${name}: ${Authorizer.explain(d)}`,
        );
      }
    }
  }

  #scoped(where: unknown): Where<AnyRow> | undefined {
    const scope = this.#scope();
    if (scope === undefined) return where as Where<AnyRow> | undefined;
    if (where === undefined) return scope;
    return { and: [where as Where<AnyRow>, scope] };
  }

  /** One row by primary key, or undefined when there is none the session may see. */
  async get(
    key: R[keyof R] | string | number,
    options: { select?: readonly (keyof R & string)[] } = {},
  ): Promise<R | undefined> {
    const decision = await this.#session.require('read', this.#tableRef, 'table.get', this.name);
    const plan = this.#plan(options.select);
    const table = this.#table(decision);
    const scope = this.#scope();
    const rows =
      scope === undefined
        ? [await table.get(key, plan.fetchAll ? {} : { select: plan.fetch })].filter(
            (r): r is AnyRow => r !== undefined,
          )
        : await table.find({ where: { and: [{ [this.#key]: key }, scope] }, limit: 1, select: plan.fetch });
    const [row] = await this.#mask(rows, plan);
    return row;
  }

  /** Rows matching `options.where` that the session may see, masked per column. */
  async find(options: FindOptions<R> = {}): Promise<R[]> {
    const decision = await this.#session.require('read', this.#tableRef, 'table.find', this.name);
    if (options.where !== undefined || options.orderBy !== undefined) {
      await this.#session.require('query', this.#tableRef, 'table.find', this.name);
      this.#queryColumns(options.where, options.orderBy);
    }
    const plan = this.#plan(options.select);
    const rows = await this.#table(decision).find(
      findQuery(options, this.#scoped(options.where), plan.fetchAll ? undefined : plan.fetch),
    );
    return this.#mask(rows, plan);
  }

  async findOne(options: FindOptions<R> = {}): Promise<R | undefined> {
    const [row] = await this.find({ ...options, limit: 1 });
    return row;
  }

  async count(options: Pick<FindOptions<R>, 'where' | 'scan'> = {}): Promise<number> {
    const decision = await this.#session.require(
      'read',
      this.#session.tableRef(this.name),
      'table.count',
      this.name,
    );
    if (options.where !== undefined) {
      await this.#session.require('query', this.#session.tableRef(this.name), 'table.count', this.name);
      this.#queryColumns(options.where, undefined);
    }
    const where = this.#scoped(options.where);
    return this.#table(decision).count({
      ...(options as FindOptions<AnyRow>),
      ...(where === undefined ? {} : { where }),
    });
  }

  /** The packed label a write carries: the given label text, else the session's own label. */
  #writeLabel(row: AnyRow): AnyRow {
    const column = this.#schema.rowLabel;
    if (column === undefined) return row;
    const labels = this.#host.access.labels;
    const given = row[column];
    const label = given === undefined || given === null ? this.#session.label : labels.parse(given, column);
    return { ...row, [column]: labels.pack(label) };
  }

  /**
   * Decides a write. In a row-labelled table the row's label governs (the Row entity, whose parent
   * is the table, so table-scoped policies still apply); otherwise the table's.
   */
  #requireWrite(
    action: 'insert' | 'update' | 'delete',
    packed: number | null,
    auditAction: string,
  ): Promise<Decision> | Decision {
    const resource =
      packed === null ? this.#session.tableRef(this.name) : this.#session.rowRef(this.name, packed);
    return this.#session.require(action, resource, auditAction, this.name);
  }

  /**
   * The decision a write starts from: on the table, or — in a row-labelled table, where the row's
   * label decides — a provisional one that only names the actor of the visibility lookup.
   */
  #startWrite(action: 'update' | 'delete', auditAction: string): Promise<Decision> | Decision {
    const table = this.#session.tableRef(this.name);
    return this.#schema.rowLabel === undefined
      ? this.#session.require(action, table, auditAction, this.name)
      : this.#session.decide(action, table);
  }

  async insert(row: I): Promise<R> {
    if ((row as unknown) === null || typeof (row as unknown) !== 'object')
      throw new InvalidArgumentError('row', 'expected a row object');
    const labelled = this.#writeLabel(row);
    const column = this.#schema.rowLabel;
    const decision = await this.#requireWrite(
      'insert',
      column === undefined ? null : (labelled[column] as number),
      'table.insert',
    );
    const stored = await this.#table(decision).insert(labelled);
    return (await this.#mask([stored], UNMASKED))[0]!;
  }

  async insertMany(rows: readonly I[]): Promise<R[]> {
    if (!Array.isArray(rows)) throw new InvalidArgumentError('rows', 'expected an array of rows');
    const column = this.#schema.rowLabel;
    const labelled = rows.map((r) => this.#writeLabel(r as AnyRow));
    let decision: Decision | null = null;
    if (column === undefined) decision = await this.#requireWrite('insert', null, 'table.insertMany');
    else {
      for (const packed of new Set(labelled.map((r) => r[column] as number))) {
        decision = await this.#requireWrite('insert', packed, 'table.insertMany');
      }
    }
    if (decision === null) return [];
    const stored = await this.#table(decision).insertMany(labelled);
    return this.#mask(stored, UNMASKED);
  }

  /** The packed label of a visible row, or `FX_ROW_NOT_FOUND` when the session cannot see it. */
  async #visibleLabel(key: unknown, decision: Decision): Promise<number | null> {
    const column = this.#schema.rowLabel;
    const rows = await this.#table(decision).find({
      where: this.#scoped({ [this.#key]: key }) ?? {},
      limit: 1,
      select: column === undefined ? [this.#key] : [this.#key, column],
    });
    if (rows.length === 0)
      throw new FortressError('FX_ROW_NOT_FOUND', `no row with that key in ${this.name}`);
    return column === undefined ? null : (rows[0]![column] as number);
  }

  async update(key: R[keyof R] | string | number, changes: Partial<I>): Promise<void> {
    let decision = await this.#startWrite('update', 'table.update');
    const current = await this.#visibleLabel(key, decision);
    if (current !== null) decision = await this.#requireWrite('update', current, 'table.update');
    const column = this.#schema.rowLabel;
    let next = changes as AnyRow;
    if (column !== undefined && column in next) {
      next = this.#writeLabel(next);
      await this.#requireWrite('update', next[column] as number, 'table.update');
    }
    await this.#table(decision).update(key, next);
  }

  async delete(key: R[keyof R] | string | number): Promise<boolean> {
    let decision = await this.#startWrite('delete', 'table.delete');
    let current: number | null;
    try {
      current = await this.#visibleLabel(key, decision);
    } catch (error) {
      if (error instanceof FortressError && error.code === 'FX_ROW_NOT_FOUND') return false;
      throw error;
    }
    if (current !== null) decision = await this.#requireWrite('delete', current, 'table.delete');
    return this.#table(decision).delete(key);
  }
}

/** Makes the engine handle a guarded table works through. */
type TableOpener = (name: string, actor: AccessActor, scope: RowScope | undefined) => Table<AnyRow, AnyRow>;

/** What a session's transaction body gets: guarded tables bound to the transaction. */
export class SessionTransaction {
  readonly #session: PolicySession;
  readonly #host: SessionHost;
  readonly #tx: Transaction;

  /** @internal */
  constructor(session: PolicySession, host: SessionHost, tx: Transaction) {
    this.#session = session;
    this.#host = host;
    this.#tx = tx;
  }

  table<R extends AnyRow = AnyRow, I extends AnyRow = Partial<R>>(name: string): GuardedTable<R, I> {
    const schema = this.#host.engine().describeTable(name);
    return new GuardedTable<R, I>(this.#session, this.#host, schema, (table, actor, scope) =>
      this.#tx.table(table, actor, scope),
    );
  }
}
