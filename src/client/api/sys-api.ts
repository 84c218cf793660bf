/**
 * @module client/api/sys-api
 * `client.sys`: health, status, init, unseal share by share, seal. Health, status, init and unseal
 * need no token; init and unseal are never retried (a repeated share would count twice).
 */
import { expectObject, type HttpTransport } from '../http-transport.js';
import type { InitOptions, InitResult, SysStatus } from '../client-types.js';

export class SysApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /**
   * The server's state, whatever the HTTP status (200 unsealed, 503 sealed, 501 not initialised):
   * load balancers read the status, a client reads the body.
   */
  async health(): Promise<SysStatus> {
    const body = await this.#http.request({ method: 'GET', path: '/v1/sys/health', accept: [501, 503] });
    return expectObject(body, 'sys.health') as unknown as SysStatus;
  }

  async status(): Promise<SysStatus> {
    const body = await this.#http.request({ method: 'GET', path: '/v1/sys/status' });
    return expectObject(body, 'sys.status') as unknown as SysStatus;
  }

  /**
   * Initialises the server once: creates the root key, seals it, and returns the unseal shares and
   * a root token (neither is shown again). The server is unsealed afterwards.
   *
   * @example
   * ```ts
   * const { shares, rootToken } = await client.sys.init({ shares: 5, threshold: 3 });
   * client.token = rootToken;
   * ```
   */
  async init(options: InitOptions = {}): Promise<InitResult> {
    const body = await this.#http.request({ method: 'POST', path: '/v1/sys/init', body: options });
    return expectObject(body, 'sys.init') as unknown as InitResult;
  }

  /**
   * Submits one unseal share (or the passphrase). The share that completes the threshold unseals;
   * the status tells the progress.
   *
   * @example
   * ```ts
   * for (const share of myShares) {
   *   const status = await client.sys.unseal(share);
   *   if (!status.sealed) break;
   * }
   * ```
   */
  async unseal(key: string): Promise<SysStatus> {
    const body = await this.#http.request({ method: 'POST', path: '/v1/sys/unseal', body: { key } });
    return expectObject(body, 'sys.unseal') as unknown as SysStatus;
  }

  /** Forgets the shares submitted so far. */
  async resetUnseal(): Promise<SysStatus> {
    const body = await this.#http.request({ method: 'POST', path: '/v1/sys/unseal', body: { reset: true } });
    return expectObject(body, 'sys.resetUnseal') as unknown as SysStatus;
  }

  /** Seals: the server zeroes every key and answers 503 until unsealed (needs the `seal` action). */
  async seal(): Promise<void> {
    await this.#http.request({ method: 'POST', path: '/v1/sys/seal' });
  }
}
