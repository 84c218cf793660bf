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
import type { Action } from '../../policy/schema/fortress-schema.js';
import { runAudited, type Facts, type SecretTarget, type SecretsAccess } from '../secrets-access.js';
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

/** What the KV facade needs: the shared secrets access, and the engine. */
export interface KvAccess extends SecretsAccess {
  engine(): Promise<KvEngine>;
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

  #run<T>(
    action: Action,
    auditAction: string,
    path: string | null,
    body: (engine: KvEngine) => Promise<T>,
    facts: (result: T) => Facts = () => ({}),
  ): Promise<T> {
    const target: SecretTarget | 'tenant' =
      path === null ? 'tenant' : { type: 'Secret', id: path, path: `kv:${path}` };
    return runAudited(
      this.#access,
      action,
      auditAction,
      target,
      async () => body(await this.#access.engine()),
      facts,
    );
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
