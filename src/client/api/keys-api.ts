/**
 * @module client/api/keys-api
 * `client.keys`: the key hierarchy's data keys (list, versions, rotate, configure, destroy),
 * encrypted key export to a recipient, table re-encryption after a rotation, and the background
 * jobs that do it (poll one, or wait for it with progress). Rotation, destruction and export are
 * never retried.
 */
import { FortressClientError } from '../client-errors.js';
import { expectObject, path, type HttpTransport } from '../http-transport.js';
import { toBase64 } from '../wire-codec.js';
import type {
  DestroyKeyOptions,
  ExportKeysOptions,
  JsonObject,
  KeyConfigOptions,
  KeyVersionsOptions,
  WaitForJobOptions,
} from '../client-types.js';

/** A job's record, wherever the answer keeps it (`{ job: {…} }` or the record itself). */
function jobRecord(body: JsonObject): JsonObject {
  const inner = body['job'];
  return inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? (inner as JsonObject) : body;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class KeysApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** Every key (metadata only; key bytes never leave the server). */
  async list(): Promise<JsonObject> {
    return expectObject(await this.#http.request({ method: 'GET', path: '/v1/keys' }), 'keys.list');
  }

  /** A key and a page of its versions. */
  async get(name: string, options: KeyVersionsOptions = {}): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'GET',
      path: path`/v1/keys/${name}`,
      query: { from: options.from, limit: options.limit },
    });
    return expectObject(body, 'keys.get');
  }

  /** Makes a new version active for encryption; older versions still decrypt. */
  async rotate(name: string): Promise<JsonObject> {
    const body = await this.#http.request({ method: 'POST', path: path`/v1/keys/${name}/rotate` });
    return expectObject(body, 'keys.rotate');
  }

  /**
   * Sets the minimum decryption version and/or the automatic rotation period (at least one; a null
   * period turns scheduled rotation off). Answers `{ key }`, the key as it now is.
   *
   * @example
   * ```ts
   * await client.keys.config('acme/main/patients/ssn', { rotationPeriod: '30d' });
   * await client.keys.config('acme/main/patients/ssn', { rotationPeriod: null, minDecryptionVersion: 2 });
   * ```
   */
  async config(name: string, options: KeyConfigOptions): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/keys/${name}/config`,
      body: options,
    });
    return expectObject(body, 'keys.config');
  }

  /**
   * Destroys one version of a key, or all of them: values encrypted under them can never be read
   * again (crypto-shredding). Irreversible.
   */
  async destroy(name: string, options: DestroyKeyOptions): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/keys/${name}/destroy`,
      body: options,
    });
    return expectObject(body, 'keys.destroy');
  }

  /** Exports the keys, sealed to a recipient's public key (hybrid X25519 + ML-KEM-768). */
  async exportKeys(options: ExportKeysOptions): Promise<JsonObject> {
    const recipient = typeof options.recipient === 'string' ? options.recipient : toBase64(options.recipient);
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/keys/export',
      body: { recipient, ...(options.label === undefined ? {} : { label: options.label }) },
    });
    return expectObject(body, 'keys.exportKeys');
  }

  /** Starts re-encrypting a table's rows under its keys' active versions; the answer names the job. */
  async rotateTable(table: string): Promise<JsonObject> {
    const body = await this.#http.request({ method: 'POST', path: path`/v1/db/tables/${table}/rotate` });
    return expectObject(body, 'keys.rotateTable');
  }

  /** Background jobs (re-encryption, column encryption, index rotation, column erasure). */
  async jobs(): Promise<JsonObject> {
    return expectObject(await this.#http.request({ method: 'GET', path: '/v1/jobs' }), 'keys.jobs');
  }

  /** One job's progress. */
  async job(id: number | string): Promise<JsonObject> {
    return expectObject(await this.#http.request({ method: 'GET', path: path`/v1/jobs/${id}` }), 'keys.job');
  }

  /**
   * Polls a job until it is done; resolves with its last record, or fails with `FX_JOB_FAILED`
   * (the job's own error as the message) if it fails.
   *
   * @example
   * ```ts
   * const job = await client.keys.waitForJob(jobId, {
   *   onProgress: (progress) => console.log(`${String(progress['percent'])}%`),
   * });
   * ```
   */
  async waitForJob(id: number | string, options: WaitForJobOptions = {}): Promise<JsonObject> {
    const interval = options.intervalMs ?? 500;
    if (!Number.isFinite(interval) || interval < 0) {
      throw new RangeError('waitForJob: intervalMs must be a non-negative number');
    }
    for (;;) {
      if (options.signal?.aborted === true) throw options.signal.reason as Error;
      const job = jobRecord(await this.job(id));
      options.onProgress?.(job);
      const state = job['state'];
      if (state === 'done') return job;
      if (state === 'failed') {
        const reason = typeof job['error'] === 'string' ? job['error'] : 'no reason given';
        throw new FortressClientError('FX_JOB_FAILED', `job ${String(id)} failed: ${reason}`);
      }
      await sleep(interval, options.signal);
    }
  }
}
