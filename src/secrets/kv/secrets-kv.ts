/**
 * @module secrets/kv/secrets-kv
 * The KV engine as callers use it (`db.kv`, `db.as(principal).kv`, `/v1/kv`): every operation is
 * decided by policy on the secret's path (a session's; embedded use is the operator's own and is
 * not decided) and recorded in the audit ledger with its outcome — the path, the versions, and an
 * HMAC of the written data, never the data. A read whose entry cannot be recorded returns nothing
 * (fail closed).
 *
 * Policy: the resource is `Fortress::Secret::"<tenant>/<path>"` (a folder being listed ends in
 * `/`) with attributes `path` and `owner` (the second path segment), so per-principal folders are
 * one policy:
 *
 * ```cedar
 * permit (principal in Fortress::Role::"acme/staff",
 *         action in [Fortress::Action::"readSecret", Fortress::Action::"writeSecret"],
 *         resource is Fortress::Secret)
 * when { resource.path like "users/*" && resource.owner == principal.name };
 * ```
 */
import type { AuditResource } from '../../audit/entry/audit-entry.js';
import type { AccessActor } from '../../engine/access/access-log.js';
import type { Action } from '../../policy/schema/fortress-schema.js';
import { checkFolder, checkSecretPath } from './kv-path.js';
import type {
  KvConfig,
  KvEngine,
  ListOptions,
  SecretData,
  SecretList,
  SecretMetadata,
  SecretMetadataChanges,
  SecretVersion,
  SecretVersionInfo,
  WriteOptions,
} from './kv-engine.js';

type Facts = Readonly<Record<string, string | number | boolean>>;

/** What the KV facade needs from the database (and, for a session, its policy). */
export interface KvAccess {
  readonly tenant: string;
  engine(): Promise<KvEngine>;
  /**
   * Decides `action` on a secret (or folder, or — for `configureSecrets` — the tenant): returns the
   * audit actor (undefined: the embedded operator), or throws FX_FORBIDDEN after recording it.
   */
  authorize(
    action: Action,
    resource: { readonly path: string } | 'tenant',
    auditAction: string,
  ): Promise<AccessActor | undefined>;
  /** Records an operation's entry (fails with FX_AUDIT_UNAVAILABLE when it cannot). */
  record(
    action: string,
    resource: AuditResource,
    error: unknown,
    facts: Facts,
    actor?: AccessActor,
  ): Promise<void>;
  /** `hmac-sha256:<hex>` of a value, for the entry. */
  hash(value: string): string;
}

/**
 * @example
 * ```ts
 * await db.kv.put('apps/billing/db', { password: 's3cr3t' });
 * const { data } = await db.kv.get('apps/billing/db');
 * const ann = db.as('ann').kv;                 // decided by ann's policies
 * await ann.list('users/ann/');                // { keys: ['github', 'mail'], next: null }
 * ```
 */
export class SecretsKv {
  readonly #access: KvAccess;

  constructor(access: KvAccess) {
    this.#access = access;
  }

  #resource(path: string): AuditResource {
    return { type: 'secret', tenant: this.#access.tenant, path: `kv:${path}` };
  }

  async #run<T>(
    action: Action,
    auditAction: string,
    path: string | null,
    body: (engine: KvEngine) => Promise<T>,
    facts: (result: T) => Facts = () => ({}),
    known: Facts = {},
  ): Promise<T> {
    const actor = await this.#access.authorize(action, path === null ? 'tenant' : { path }, auditAction);
    const resource: AuditResource =
      path === null ? { type: 'tenant', tenant: this.#access.tenant } : this.#resource(path);
    let result: T;
    try {
      result = await body(await this.#access.engine());
    } catch (error) {
      await this.#access.record(auditAction, resource, error, known, actor);
      throw error;
    }
    await this.#access.record(auditAction, resource, null, { ...known, ...facts(result) }, actor);
    return result;
  }

  /** The latest version of a secret, or `version` (data null once deleted or destroyed). */
  async get(path: string, options: { readonly version?: number } = {}): Promise<SecretVersion> {
    checkSecretPath(path);
    return this.#run(
      'readSecret',
      'kv.read',
      path,
      (kv) => kv.get(path, options),
      (r) => ({ version: r.metadata.version, found: r.data !== null }),
    );
  }

  /** Writes `data` as the next version (`cas` to check-and-set). */
  async put(path: string, data: SecretData, options: WriteOptions = {}): Promise<SecretVersionInfo> {
    checkSecretPath(path);
    return this.#run(
      'writeSecret',
      'kv.write',
      path,
      (kv) => kv.put(path, data, options),
      (r) => ({ version: r.version, data: this.#digest(data) }),
    );
  }

  /** Merges `changes` (RFC 7386) into the current version, as the next version. */
  async patch(path: string, changes: SecretData, options: WriteOptions = {}): Promise<SecretVersionInfo> {
    checkSecretPath(path);
    return this.#run(
      'writeSecret',
      'kv.patch',
      path,
      (kv) => kv.patch(path, changes, options),
      (r) => ({ version: r.version, changes: this.#digest(changes) }),
    );
  }

  /** Makes version `version`'s data current again, as a new version. */
  async rollback(path: string, version: number, options: WriteOptions = {}): Promise<SecretVersionInfo> {
    checkSecretPath(path);
    return this.#run(
      'writeSecret',
      'kv.rollback',
      path,
      (kv) => kv.rollback(path, version, options),
      (r) => ({ version: r.version, from: version }),
    );
  }

  /** Soft-deletes versions (default: the latest). */
  async delete(path: string, versions?: readonly number[]): Promise<number[]> {
    checkSecretPath(path);
    return this.#run(
      'deleteSecret',
      'kv.delete',
      path,
      (kv) => kv.delete(path, versions),
      (r) => ({ versions: r.join(',') }),
    );
  }

  /** Restores soft-deleted versions. */
  async undelete(path: string, versions: readonly number[]): Promise<number[]> {
    checkSecretPath(path);
    return this.#run(
      'deleteSecret',
      'kv.undelete',
      path,
      (kv) => kv.undelete(path, versions),
      (r) => ({ versions: r.join(',') }),
    );
  }

  /** Destroys versions' values for good. */
  async destroy(path: string, versions: readonly number[]): Promise<number[]> {
    checkSecretPath(path);
    return this.#run(
      'destroySecret',
      'kv.destroy',
      path,
      (kv) => kv.destroy(path, versions),
      (r) => ({ versions: r.join(',') }),
    );
  }

  /** Removes the secret: every version and its metadata. */
  async deleteAll(path: string): Promise<boolean> {
    checkSecretPath(path);
    return this.#run(
      'destroySecret',
      'kv.deleteAll',
      path,
      (kv) => kv.deleteAll(path),
      (r) => ({ found: r }),
    );
  }

  /** The secret's metadata and its versions' states (`listSecrets` on the path). */
  async metadata(path: string): Promise<SecretMetadata> {
    checkSecretPath(path);
    return this.#run('listSecrets', 'kv.metadata', path, (kv) => kv.metadata(path));
  }

  /** Sets the secret's metadata (`writeSecret` on the path). */
  async setMetadata(path: string, changes: SecretMetadataChanges): Promise<SecretMetadata> {
    checkSecretPath(path);
    return this.#run('writeSecret', 'kv.setMetadata', path, (kv) => kv.setMetadata(path, changes));
  }

  /** One page of the secrets and sub-folders in a folder (`listSecrets` on the folder). */
  async list(prefix = '', options: ListOptions = {}): Promise<SecretList> {
    const folder = checkFolder(prefix);
    return this.#run(
      'listSecrets',
      'kv.list',
      folder,
      (kv) => kv.list(folder, options),
      (r) => ({ count: r.keys.length }),
    );
  }

  /** The engine's settings (`configureSecrets` on the tenant). */
  async config(): Promise<KvConfig> {
    return this.#run('configureSecrets', 'kv.readConfig', null, (kv) => kv.config());
  }

  /** Changes the engine's settings (`configureSecrets` on the tenant). */
  async configure(changes: Partial<KvConfig>): Promise<KvConfig> {
    return this.#run('configureSecrets', 'kv.configure', null, (kv) => kv.configure(changes));
  }

  #digest(data: unknown): string {
    let text: string;
    try {
      text = JSON.stringify(data);
    } catch {
      text = '#unrepresentable';
    }
    return this.#access.hash(text);
  }
}
