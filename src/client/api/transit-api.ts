/**
 * @module client/api/transit-api
 * `client.transit`: the transit secrets engine (`/v1/transit`), encryption as a service. Keys stay
 * on the server; the SDK sends bytes (a `Uint8Array`, or a string as its UTF-8) as base64 and hands
 * back `Uint8Array`s. Ciphertexts, HMACs and signatures are `fx:v<version>:…` strings to store as
 * they are.
 *
 * The data operations are retried like any call that changes nothing stored (a repeated encrypt
 * makes another ciphertext of the same plaintext; the lost answer was never seen); key management
 * is not. A batch call answers one result per item, in order: a value, or `{ error: { code,
 * message } }` for an item that failed while the others went through.
 */
import { FortressClientError, type FortressClientErrorCode } from '../client-errors.js';
import { expectObject, path, type HttpTransport } from '../http-transport.js';
import { fromBase64, toBase64 } from '../wire-codec.js';
import type {
  CreateTransitKeyOptions,
  ExportType,
  ExportedKey,
  HmacAlgorithm,
  TransitKeyChanges,
  TransitKeyInfo,
  TransitKeyList,
  TransitKeyType,
  TransitKeyVersion,
} from '../../secrets/transit/transit-engine.js';
import type { RewrapColumnOptions, RewrapJobProgress } from '../../secrets/transit/rewrap-job.js';

// The JSON shapes are the server's own: type imports, so nothing of the server is loaded.
export type {
  CreateTransitKeyOptions,
  TransitKeyChanges,
  TransitKeyInfo,
  TransitKeyList,
  TransitKeyType,
  TransitKeyVersion,
};
/** What a bulk rewrap job rewraps: a table column (and optional context / associated-data columns). */
export type TransitRewrapColumn = RewrapColumnOptions;
/** A bulk rewrap job's state and counts. */
export type TransitRewrapJob = RewrapJobProgress;
/** What `exportKey` exports: `encryption-key`, `signing-key`, `hmac-key` or `public-key`. */
export type TransitExportType = ExportType;
/** An export: version number → key bytes (base64). */
export type TransitExportedKey = ExportedKey;
/** `sha2-256` (the default) or `sha2-512`. */
export type TransitHmacAlgorithm = HmacAlgorithm;

/** Bytes to send: a `Uint8Array`, or a string (sent as its UTF-8). */
export type TransitBytes = Uint8Array | string;

export interface TransitDecryptOptions {
  /** Derived keys: the context the value was encrypted under. */
  readonly context?: TransitBytes;
  /** The associated data the value was encrypted with. */
  readonly associatedData?: TransitBytes;
}

export interface TransitEncryptOptions extends TransitDecryptOptions {
  /** Encrypt under this version instead of the latest (at or above the key's minimum). */
  readonly keyVersion?: number;
}

export interface TransitEncryptItem extends TransitEncryptOptions {
  readonly plaintext: TransitBytes;
}

export interface TransitDecryptItem extends TransitDecryptOptions {
  readonly ciphertext: string;
}

export interface TransitRewrapItem extends TransitEncryptOptions {
  readonly ciphertext: string;
}

export interface TransitSealed {
  /** `fx:v<version>:<base64>`. */
  readonly ciphertext: string;
  readonly keyVersion: number;
}

export interface TransitDataKeyOptions extends TransitEncryptOptions {
  /** @default 256 */
  readonly bits?: 128 | 256 | 512;
}

export interface TransitDataKey extends TransitSealed {
  /** The data key itself: only from `dataKey(name, 'plaintext')`. */
  readonly plaintext?: Uint8Array;
}

export interface TransitSignature {
  /** `fx:v<version>:<base64>`. */
  readonly signature: string;
  /** The signing version's public key, base64. */
  readonly publicKey: string;
}

/** One batch item that failed; the others are unaffected. */
export interface TransitItemError {
  readonly error: { readonly code: FortressClientErrorCode; readonly message: string };
}

export type TransitItemResult<T> = T | TransitItemError;

const utf8 = new TextEncoder();
const DATA_KEY_KINDS: readonly string[] = ['plaintext', 'wrapped'];

/** Bytes or a string as base64; `what` names the argument in a TypeError. */
function base64Of(value: TransitBytes, what: string): string {
  if (typeof value === 'string') return toBase64(utf8.encode(value));
  if (value instanceof Uint8Array) return toBase64(value);
  throw new TypeError(`${what}: expected a Uint8Array or a string`);
}

/** An item or options argument, checked to be an object (a stray string would go as garbage). */
function objectOf<T>(value: T, what: string): T {
  if (value === null || typeof value !== 'object') throw new TypeError(`${what}: expected an object`);
  return value;
}

/** Adds the context and associated data an item binds, as the server takes them. */
function bindings(options: TransitDecryptOptions, body: Record<string, unknown>): Record<string, unknown> {
  if (options.context !== undefined) body['context'] = base64Of(options.context, 'context');
  if (options.associatedData !== undefined) {
    body['associatedData'] = base64Of(options.associatedData, 'associatedData');
  }
  return body;
}

function withVersion(options: TransitEncryptOptions, body: Record<string, unknown>): Record<string, unknown> {
  if (options.keyVersion !== undefined) body['keyVersion'] = options.keyVersion;
  return body;
}

function encryptBody(item: TransitEncryptItem): Record<string, unknown> {
  objectOf(item, 'item');
  return withVersion(item, bindings(item, { plaintext: base64Of(item.plaintext, 'plaintext') }));
}

function decryptBody(item: TransitDecryptItem): Record<string, unknown> {
  if (typeof objectOf(item, 'item').ciphertext !== 'string') {
    throw new TypeError('ciphertext: expected an "fx:v<version>:…" string');
  }
  return bindings(item, { ciphertext: item.ciphertext });
}

function rewrapBody(item: TransitRewrapItem): Record<string, unknown> {
  return withVersion(item, decryptBody(item));
}

/** The most items the server takes in one batch (its MAX_BATCH_ITEMS). */
const MAX_ITEMS = 10_000;

function itemsOf<T>(items: readonly T[], what: string): readonly T[] {
  const list: unknown = items; // JavaScript callers may pass anything
  if (!Array.isArray(list) || list.length === 0)
    throw new TypeError(`${what}: expected a non-empty array of items`);
  return items;
}

/** The `results` of a batch answer, checked to be one per item. */
function resultsOf(body: unknown, count: number, what: string): Record<string, unknown>[] {
  const results = expectObject(body, what)['results'];
  if (!Array.isArray(results) || results.length !== count) {
    throw new FortressClientError('FX_BAD_RESPONSE', `${what}: expected ${count} results in the answer`);
  }
  return results as Record<string, unknown>[];
}

/** A string field of the answer, or FX_BAD_RESPONSE naming the call. */
function textField(body: Record<string, unknown>, key: string, what: string): string {
  const value = body[key];
  if (typeof value !== 'string') {
    throw new FortressClientError('FX_BAD_RESPONSE', `${what}: the answer has no ${key}`);
  }
  return value;
}

function isItemError(result: Record<string, unknown>): boolean {
  return result['error'] !== undefined;
}

/**
 * A stream's result: its index in the whole stream. The server names a failed item by its place in
 * one request (`batch[2].ciphertext: …`), which means nothing to the stream's reader: dropped.
 */
function streamResult(
  result: TransitItemResult<TransitSealed>,
  index: number,
): TransitItemResult<TransitSealed> & { readonly index: number } {
  if (!('error' in result)) return { ...result, index };
  const message = result.error.message.replace(/^batch\[\d+\]\./, '');
  return { error: { ...result.error, message }, index };
}

/**
 * @example
 * ```ts
 * await client.transit.createKey('orders');
 * const { ciphertext } = await client.transit.encrypt('orders', '4111 1111 1111 1111');
 * // store ciphertext ('fx:v1:…') in your own database; later:
 * const card = await client.transit.decryptText('orders', ciphertext);
 * ```
 */
export class TransitApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  // ── keys ──────────────────────────────────────────────────────────────────────────────────────

  /** Creates a named key (version 1); by default an xchacha20-poly1305 encryption key. */
  async createKey(name: string, options: CreateTransitKeyOptions = {}): Promise<TransitKeyInfo> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/transit/keys/${name}`,
      body: options,
    });
    return expectObject(body, 'transit.createKey') as unknown as TransitKeyInfo;
  }

  /** A key's settings and versions (never its bytes). */
  async readKey(name: string): Promise<TransitKeyInfo> {
    const body = await this.#http.request({ method: 'GET', path: path`/v1/transit/keys/${name}` });
    return expectObject(body, 'transit.readKey') as unknown as TransitKeyInfo;
  }

  /** One page of key names, in order; pass `next` as `after` for the next page. */
  async listKeys(
    options: { readonly after?: string; readonly limit?: number } = {},
  ): Promise<TransitKeyList> {
    const body = await this.#http.request({
      method: 'GET',
      path: '/v1/transit/keys',
      query: { after: options.after, limit: options.limit },
    });
    return expectObject(body, 'transit.listKeys') as unknown as TransitKeyList;
  }

  /** Changes a key's settings (at least one); `exportable` may only become true. */
  async configure(name: string, changes: TransitKeyChanges): Promise<TransitKeyInfo> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/transit/keys/${name}/config`,
      body: changes,
    });
    return expectObject(body, 'transit.configure') as unknown as TransitKeyInfo;
  }

  /** A new latest version; older versions still decrypt (down to the minimum decryption version). */
  async rotate(name: string): Promise<TransitKeyInfo> {
    const body = await this.#http.request({ method: 'POST', path: path`/v1/transit/keys/${name}/rotate` });
    return expectObject(body, 'transit.rotate') as unknown as TransitKeyInfo;
  }

  /** Destroys every version below `minAvailableVersion` for good. */
  async trim(name: string, minAvailableVersion: number): Promise<TransitKeyInfo> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/transit/keys/${name}/trim`,
      body: { minAvailableVersion },
    });
    return expectObject(body, 'transit.trim') as unknown as TransitKeyInfo;
  }

  /** Deletes a key that allows deletion; its ciphertexts never decrypt again. */
  async deleteKey(name: string): Promise<void> {
    await this.#http.request({ method: 'DELETE', path: path`/v1/transit/keys/${name}` });
  }

  /**
   * Key versions of an exportable key (`public-key`: of any signature key), base64 by version:
   * every version still able to decrypt, or one (`version`, or `'latest'`).
   */
  async exportKey(
    name: string,
    type: TransitExportType,
    version?: number | 'latest',
  ): Promise<TransitExportedKey> {
    const body = await this.#http.request({
      method: 'GET',
      path:
        version === undefined
          ? path`/v1/transit/export/${type}/${name}`
          : path`/v1/transit/export/${type}/${name}/${version}`,
    });
    return expectObject(body, 'transit.exportKey') as unknown as TransitExportedKey;
  }

  // ── encryption ────────────────────────────────────────────────────────────────────────────────

  /** Encrypts one value (a string is encrypted as its UTF-8). */
  async encrypt(
    name: string,
    plaintext: TransitBytes,
    options: TransitEncryptOptions = {},
  ): Promise<TransitSealed> {
    return this.#sealed(
      await this.#post(
        path`/v1/transit/encrypt/${name}`,
        encryptBody({ ...objectOf(options, 'options'), plaintext }),
      ),
      'transit.encrypt',
    );
  }

  /** Encrypts up to 10,000 values in one call; one result per item, in order. */
  async encryptBatch(
    name: string,
    items: readonly TransitEncryptItem[],
  ): Promise<TransitItemResult<TransitSealed>[]> {
    const batch = itemsOf(items, 'items').map(encryptBody);
    const body = await this.#post(path`/v1/transit/encrypt/${name}`, { batch });
    return resultsOf(
      body,
      batch.length,
      'transit.encryptBatch',
    ) as unknown as TransitItemResult<TransitSealed>[];
  }

  /** Decrypts one ciphertext into its bytes. */
  async decrypt(name: string, ciphertext: string, options: TransitDecryptOptions = {}): Promise<Uint8Array> {
    const body = await this.#post(
      path`/v1/transit/decrypt/${name}`,
      decryptBody({ ...objectOf(options, 'options'), ciphertext }),
    );
    return fromBase64(textField(expectObject(body, 'transit.decrypt'), 'plaintext', 'transit.decrypt'));
  }

  /**
   * Decrypts one ciphertext of text (UTF-8).
   * @throws TypeError when the plaintext is not UTF-8 (decrypt gives the bytes).
   */
  async decryptText(name: string, ciphertext: string, options: TransitDecryptOptions = {}): Promise<string> {
    return new TextDecoder('utf-8', { fatal: true }).decode(await this.decrypt(name, ciphertext, options));
  }

  /** Decrypts up to 10,000 ciphertexts in one call; one result per item, in order. */
  async decryptBatch(
    name: string,
    items: readonly TransitDecryptItem[],
  ): Promise<TransitItemResult<{ readonly plaintext: Uint8Array }>[]> {
    const batch = itemsOf(items, 'items').map(decryptBody);
    const body = await this.#post(path`/v1/transit/decrypt/${name}`, { batch });
    return resultsOf(body, batch.length, 'transit.decryptBatch').map((r) =>
      isItemError(r)
        ? (r as unknown as TransitItemError)
        : { plaintext: fromBase64(textField(r, 'plaintext', 'transit.decryptBatch')) },
    );
  }

  /** Re-encrypts a ciphertext under the latest version (or `keyVersion`); the plaintext never travels. */
  async rewrap(
    name: string,
    ciphertext: string,
    options: TransitEncryptOptions = {},
  ): Promise<TransitSealed> {
    return this.#sealed(
      await this.#post(
        path`/v1/transit/rewrap/${name}`,
        rewrapBody({ ...objectOf(options, 'options'), ciphertext }),
      ),
      'transit.rewrap',
    );
  }

  /** Rewraps up to 10,000 ciphertexts in one call; one result per item, in order. */
  async rewrapBatch(
    name: string,
    items: readonly TransitRewrapItem[],
  ): Promise<TransitItemResult<TransitSealed>[]> {
    const batch = itemsOf(items, 'items').map(rewrapBody);
    const body = await this.#post(path`/v1/transit/rewrap/${name}`, { batch });
    return resultsOf(
      body,
      batch.length,
      'transit.rewrapBatch',
    ) as unknown as TransitItemResult<TransitSealed>[];
  }

  /**
   * A fresh data key encrypted under the key: `'wrapped'` answers only its ciphertext (decrypt
   * opens it where it is needed), `'plaintext'` the key's bytes too. Policy allows them separately.
   */
  async dataKey(
    name: string,
    kind: 'plaintext' | 'wrapped',
    options: TransitDataKeyOptions = {},
  ): Promise<TransitDataKey> {
    if (!DATA_KEY_KINDS.includes(kind)) throw new TypeError('kind: expected "plaintext" or "wrapped"');
    const fields = withVersion(options, bindings(objectOf(options, 'options'), {}));
    if (options.bits !== undefined) fields['bits'] = options.bits;
    const body = expectObject(
      await this.#post(path`/v1/transit/datakey/${kind}/${name}`, fields),
      'transit.dataKey',
    );
    const sealed = this.#sealed(body, 'transit.dataKey');
    return kind === 'plaintext'
      ? { ...sealed, plaintext: fromBase64(textField(body, 'plaintext', 'transit.dataKey')) }
      : sealed;
  }

  // ── HMAC, signatures, random bytes ────────────────────────────────────────────────────────────

  /** An HMAC of `input` (`fx:v<version>:<base64>`); any key type has an HMAC key. */
  async hmac(
    name: string,
    input: TransitBytes,
    options: { readonly algorithm?: TransitHmacAlgorithm; readonly keyVersion?: number } = {},
  ): Promise<string> {
    const body = await this.#post(path`/v1/transit/hmac/${name}`, {
      input: base64Of(input, 'input'),
      ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
      ...(options.keyVersion === undefined ? {} : { keyVersion: options.keyVersion }),
    });
    return textField(expectObject(body, 'transit.hmac'), 'hmac', 'transit.hmac');
  }

  /** Whether `hmac` is the key's HMAC of `input` (compared in constant time on the server). */
  async verifyHmac(
    name: string,
    input: TransitBytes,
    hmac: string,
    options: { readonly algorithm?: TransitHmacAlgorithm } = {},
  ): Promise<boolean> {
    return this.#valid(
      await this.#post(path`/v1/transit/verify/${name}`, {
        input: base64Of(input, 'input'),
        hmac,
        ...(options.algorithm === undefined ? {} : { algorithm: options.algorithm }),
      }),
      'transit.verifyHmac',
    );
  }

  /** Signs `input` with an ed25519 or ml-dsa-65 key. */
  async sign(
    name: string,
    input: TransitBytes,
    options: { readonly keyVersion?: number } = {},
  ): Promise<TransitSignature> {
    const body = expectObject(
      await this.#post(path`/v1/transit/sign/${name}`, {
        input: base64Of(input, 'input'),
        ...(options.keyVersion === undefined ? {} : { keyVersion: options.keyVersion }),
      }),
      'transit.sign',
    );
    return {
      signature: textField(body, 'signature', 'transit.sign'),
      publicKey: textField(body, 'publicKey', 'transit.sign'),
    };
  }

  /** Whether `signature` is the key's signature of `input`. */
  async verify(name: string, input: TransitBytes, signature: string): Promise<boolean> {
    return this.#valid(
      await this.#post(path`/v1/transit/verify/${name}`, { input: base64Of(input, 'input'), signature }),
      'transit.verify',
    );
  }

  /**
   * Rewraps a stream of ciphertexts of any length (strings, or items with context / associated
   * data), `batchSize` per request (default 1,000), yielding one result per input in order with
   * its `index`. Memory stays bounded by one batch.
   *
   * @example
   * ```ts
   * for await (const r of client.transit.rewrapStream('orders', ciphertexts)) {
   *   if ('error' in r) console.error(r.index, r.error.code); else save(r.index, r.ciphertext);
   * }
   * ```
   */
  async *rewrapStream(
    name: string,
    source: AsyncIterable<string | TransitRewrapItem> | Iterable<string | TransitRewrapItem>,
    options: { readonly batchSize?: number } = {},
  ): AsyncGenerator<TransitItemResult<TransitSealed> & { readonly index: number }> {
    const batchSize = options.batchSize ?? 1000;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_ITEMS) {
      throw new TypeError(`batchSize: expected an integer from 1 to ${MAX_ITEMS}`);
    }
    let index = 0;
    let batch: TransitRewrapItem[] = [];
    for await (const input of source) {
      batch.push(typeof input === 'string' ? { ciphertext: input } : input);
      if (batch.length < batchSize) continue;
      for (const result of await this.rewrapBatch(name, batch)) yield streamResult(result, index++);
      batch = [];
    }
    if (batch.length > 0) {
      for (const result of await this.rewrapBatch(name, batch)) yield streamResult(result, index++);
    }
  }

  // ── bulk rewrap jobs ──────────────────────────────────────────────────────────────────────────

  /**
   * Starts a resumable job on the server that rewraps every older-version ciphertext of the key
   * in a table column to the latest version. Follow it with `rewrapJob` or `waitForRewrap`.
   */
  async startRewrap(name: string, column: TransitRewrapColumn): Promise<TransitRewrapJob> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/transit/keys/${name}/rewrap-jobs`,
      body: objectOf(column, 'column'),
    });
    return expectObject(body, 'transit.startRewrap') as unknown as TransitRewrapJob;
  }

  /** A rewrap job's progress. */
  async rewrapJob(id: string): Promise<TransitRewrapJob> {
    const body = await this.#http.request({ method: 'GET', path: path`/v1/transit/rewrap-jobs/${id}` });
    return expectObject(body, 'transit.rewrapJob') as unknown as TransitRewrapJob;
  }

  /** Polls a rewrap job (every `pollMs`, default 500) until it is no longer running. */
  async waitForRewrap(id: string, options: { readonly pollMs?: number } = {}): Promise<TransitRewrapJob> {
    const pollMs = options.pollMs ?? 500;
    for (;;) {
      const job = await this.rewrapJob(id);
      if (job.state !== 'running') return job;
      await new Promise<void>((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** The newest rewrap jobs first (at most `limit`, default 100). */
  async listRewrapJobs(limit?: number): Promise<TransitRewrapJob[]> {
    const body = await this.#http.request({
      method: 'GET',
      path: '/v1/transit/rewrap-jobs',
      query: { limit },
    });
    const jobs = expectObject(body, 'transit.listRewrapJobs')['jobs'];
    if (!Array.isArray(jobs)) {
      throw new FortressClientError('FX_BAD_RESPONSE', 'transit.listRewrapJobs: the answer has no jobs');
    }
    return jobs as TransitRewrapJob[];
  }

  /** Stops a rewrap job after its current batch. */
  async pauseRewrap(id: string): Promise<TransitRewrapJob> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/transit/rewrap-jobs/${id}/pause`,
    });
    return expectObject(body, 'transit.pauseRewrap') as unknown as TransitRewrapJob;
  }

  /** Continues a paused or failed rewrap job from its checkpoint. */
  async resumeRewrap(id: string): Promise<TransitRewrapJob> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/transit/rewrap-jobs/${id}/resume`,
    });
    return expectObject(body, 'transit.resumeRewrap') as unknown as TransitRewrapJob;
  }

  /** `bytes` random bytes from the server's CSPRNG (at most 1 MiB). */
  async random(bytes: number): Promise<Uint8Array> {
    const body = await this.#post('/v1/transit/random', { bytes });
    return fromBase64(textField(expectObject(body, 'transit.random'), 'random', 'transit.random'));
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────

  /** A data operation: it changes nothing stored, so the transport may retry it. */
  #post(route: string, body: Record<string, unknown>): Promise<unknown> {
    return this.#http.request({ method: 'POST', path: route, body, safe: true });
  }

  #sealed(body: unknown, what: string): TransitSealed {
    const answer = expectObject(body, what);
    const keyVersion = answer['keyVersion'];
    if (typeof keyVersion !== 'number') {
      throw new FortressClientError('FX_BAD_RESPONSE', `${what}: the answer has no keyVersion`);
    }
    return { ciphertext: textField(answer, 'ciphertext', what), keyVersion };
  }

  #valid(body: unknown, what: string): boolean {
    const valid = expectObject(body, what)['valid'];
    if (typeof valid !== 'boolean')
      throw new FortressClientError('FX_BAD_RESPONSE', `${what}: the answer has no valid`);
    return valid;
  }
}
