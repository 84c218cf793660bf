/**
 * @module client/api/kv-api
 * `client.kv`: the versioned KV secrets engine (`/v1/kv`). Writes are sent as POST, which the
 * transport never retries: a write whose answer was lost may have made a version, and a blind
 * retry would make another (use `cas` to make a retry safe).
 */
import { expectObject, type HttpTransport } from '../http-transport.js';
import type { JsonObject } from '../client-types.js';

/** A version's state. */
export interface KvVersionInfo {
  readonly version: number;
  readonly createdTime: string;
  readonly deletionTime: string | null;
  readonly destroyed: boolean;
}

/** A read: the data (null once deleted or destroyed) and the version's state. */
export interface KvSecret {
  readonly data: JsonObject | null;
  readonly metadata: KvVersionInfo & { readonly customMetadata: Readonly<Record<string, string>> };
}

export interface KvMetadata {
  readonly path: string;
  readonly currentVersion: number;
  readonly oldestVersion: number;
  readonly maxVersions: number;
  readonly casRequired: boolean;
  readonly deleteVersionAfter: number;
  readonly customMetadata: Readonly<Record<string, string>>;
  readonly createdTime: string;
  readonly updatedTime: string;
  readonly versions: readonly KvVersionInfo[];
}

export interface KvMetadataChanges {
  readonly maxVersions?: number;
  readonly casRequired?: boolean;
  /** Milliseconds, or `"30s"`, `"12h"`, `"7d"`. */
  readonly deleteVersionAfter?: number | string;
  readonly customMetadata?: Readonly<Record<string, string>>;
}

export interface KvConfig {
  readonly maxVersions: number;
  readonly casRequired: boolean;
  readonly deleteVersionAfter: number;
}

export interface KvList {
  readonly keys: readonly string[];
  readonly next: string | null;
}

/** A secret path (or folder) as URL segments: each encoded, `/` kept between them. */
function secretPath(route: string, path: string): string {
  if (typeof path !== 'string') throw new TypeError('path: expected a string such as "apps/billing/db"');
  const segments = path.split('/');
  for (const segment of segments.slice(0, path.endsWith('/') ? -1 : undefined)) {
    // URL parsing would resolve these, addressing another secret: refuse (the server refuses them too).
    if (segment === '.' || segment === '..' || segment === '') {
      throw new TypeError(`path: ${JSON.stringify(path.slice(0, 80))} has an empty, "." or ".." segment`);
    }
  }
  return `${route}${segments.map(encodeURIComponent).join('/')}`;
}

/** The answer as the route's schema describes it (the server validated it against that schema). */
function answer(body: unknown, what: string): unknown {
  return expectObject(body, what);
}

/**
 * @example
 * ```ts
 * await client.kv.put('apps/billing/db', { password: 's3cr3t' });
 * const { data, metadata } = await client.kv.get('apps/billing/db');
 * await client.kv.put('apps/billing/db', { password: 'n3w' }, { cas: metadata.version });
 * const { keys } = await client.kv.list('apps/');
 * ```
 */
export class KvApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** The latest version of a secret, or `version`. */
  async get(path: string, options: { readonly version?: number } = {}): Promise<KvSecret> {
    const body = await this.#http.request({
      method: 'GET',
      path: secretPath('/v1/kv/data/', path),
      query: { version: options.version },
    });
    return answer(body, 'kv.get') as KvSecret;
  }

  /** Writes `data` as the next version; `cas: 0` creates only, `cas: n` writes only over version n. */
  async put(path: string, data: JsonObject, options: { readonly cas?: number } = {}): Promise<KvVersionInfo> {
    const body = await this.#http.request({
      method: 'POST',
      path: secretPath('/v1/kv/data/', path),
      body: { data, ...(options.cas === undefined ? {} : { options: { cas: options.cas } }) },
    });
    return answer(body, 'kv.put') as KvVersionInfo;
  }

  /** Merges `changes` into the current version (RFC 7386: null removes a member), as a new version. */
  async patch(
    path: string,
    changes: JsonObject,
    options: { readonly cas?: number } = {},
  ): Promise<KvVersionInfo> {
    const body = await this.#http.request({
      method: 'PATCH',
      path: secretPath('/v1/kv/data/', path),
      body: { data: changes, ...(options.cas === undefined ? {} : { options: { cas: options.cas } }) },
    });
    return answer(body, 'kv.patch') as KvVersionInfo;
  }

  /** Soft-deletes versions (default: the latest). Answers the versions changed. */
  async delete(path: string, versions?: readonly number[]): Promise<number[]> {
    const body =
      versions === undefined
        ? await this.#http.request({ method: 'DELETE', path: secretPath('/v1/kv/data/', path) })
        : await this.#http.request({
            method: 'POST',
            path: secretPath('/v1/kv/delete/', path),
            body: { versions },
          });
    return (answer(body, 'kv.delete') as { versions: number[] }).versions;
  }

  /** Restores soft-deleted versions. */
  async undelete(path: string, versions: readonly number[]): Promise<number[]> {
    const body = await this.#http.request({
      method: 'POST',
      path: secretPath('/v1/kv/undelete/', path),
      body: { versions },
    });
    return (answer(body, 'kv.undelete') as { versions: number[] }).versions;
  }

  /** Destroys versions' values for good. */
  async destroy(path: string, versions: readonly number[]): Promise<number[]> {
    const body = await this.#http.request({
      method: 'POST',
      path: secretPath('/v1/kv/destroy/', path),
      body: { versions },
    });
    return (answer(body, 'kv.destroy') as { versions: number[] }).versions;
  }

  /** Removes the secret: every version and its metadata. */
  async deleteAll(path: string): Promise<boolean> {
    const body = await this.#http.request({ method: 'DELETE', path: secretPath('/v1/kv/metadata/', path) });
    return (answer(body, 'kv.deleteAll') as { deleted: boolean }).deleted;
  }

  /** Makes version `version`'s data current again, as a new version. */
  async rollback(
    path: string,
    version: number,
    options: { readonly cas?: number } = {},
  ): Promise<KvVersionInfo> {
    const body = await this.#http.request({
      method: 'POST',
      path: secretPath('/v1/kv/rollback/', path),
      body: { version, ...(options.cas === undefined ? {} : { options: { cas: options.cas } }) },
    });
    return answer(body, 'kv.rollback') as KvVersionInfo;
  }

  /** The secret's metadata and its versions' states. */
  async metadata(path: string): Promise<KvMetadata> {
    if (path.endsWith('/')) throw new TypeError('path: a secret, not a folder (use list for folders)');
    const body = await this.#http.request({ method: 'GET', path: secretPath('/v1/kv/metadata/', path) });
    return answer(body, 'kv.metadata') as KvMetadata;
  }

  /** Sets the secret's metadata (fields left out keep their value). */
  async setMetadata(path: string, changes: KvMetadataChanges): Promise<KvMetadata> {
    const body = await this.#http.request({
      method: 'POST',
      path: secretPath('/v1/kv/metadata/', path),
      body: changes,
    });
    return answer(body, 'kv.setMetadata') as KvMetadata;
  }

  /** One page of the secrets and sub-folders (ending in `/`) in a folder (`""` is the root). */
  async list(
    prefix = '',
    options: { readonly after?: string; readonly limit?: number } = {},
  ): Promise<KvList> {
    const folder = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    const body = await this.#http.request({
      method: 'GET',
      path: folder === '' ? '/v1/kv/metadata/' : secretPath('/v1/kv/metadata/', folder),
      query: { after: options.after, limit: options.limit },
    });
    return answer(body, 'kv.list') as KvList;
  }

  /** The engine's settings. */
  async config(): Promise<KvConfig> {
    return answer(
      await this.#http.request({ method: 'GET', path: '/v1/kv/config' }),
      'kv.config',
    ) as KvConfig;
  }

  /** Changes the engine's settings. */
  async configure(
    changes: Partial<Omit<KvConfig, 'deleteVersionAfter'>> & {
      readonly deleteVersionAfter?: number | string;
    },
  ): Promise<KvConfig> {
    const body = await this.#http.request({ method: 'POST', path: '/v1/kv/config', body: changes });
    return answer(body, 'kv.configure') as KvConfig;
  }
}
