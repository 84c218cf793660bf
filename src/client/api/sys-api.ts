/**
 * @module client/api/sys-api
 * `client.sys`: health, status, init, unseal share by share, seal, and the rekey and rotate-root
 * ceremonies. Health, status, init, unseal and ceremony updates need no token; none of these
 * writes is retried (a repeated share would count twice).
 */
import { expectObject, type HttpTransport } from '../http-transport.js';
import type {
  CeremonyKind,
  CeremonyOptions,
  CeremonyResult,
  CeremonyStatus,
  InitOptions,
  InitResult,
  SysStatus,
} from '../client-types.js';

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

  /**
   * Starts a rekey or a root rotation (needs `unseal` on the system). The holders of the current
   * unseal shares then each call {@link ceremonyUpdate} with the returned nonce.
   *
   * @example
   * ```ts
   * const { nonce } = await client.sys.beginCeremony('rekey', { shares: 7, threshold: 4 });
   * let result;
   * for (const share of currentShares) result = await client.sys.ceremonyUpdate('rekey', nonce!, share);
   * console.log(result!.shares); // the 7 new shares, shown once
   * ```
   */
  async beginCeremony(kind: CeremonyKind, options: CeremonyOptions = {}): Promise<CeremonyStatus> {
    const body = await this.#http.request({ method: 'POST', path: `/v1/sys/${kind}`, body: options });
    return expectObject(body, `sys.${kind}`) as unknown as CeremonyStatus;
  }

  /** Submits one current unseal share (or the passphrase); the last one runs the ceremony. */
  async ceremonyUpdate(kind: CeremonyKind, nonce: string, key: string): Promise<CeremonyResult> {
    const body = await this.#http.request({
      method: 'POST',
      path: `/v1/sys/${kind}/update`,
      body: { nonce, key },
    });
    return expectObject(body, `sys.${kind}.update`) as unknown as CeremonyResult;
  }

  /** The ceremony of `kind` in progress (started: false when none). */
  async ceremonyStatus(kind: CeremonyKind): Promise<CeremonyStatus> {
    const body = await this.#http.request({ method: 'GET', path: `/v1/sys/${kind}` });
    return expectObject(body, `sys.${kind}.status`) as unknown as CeremonyStatus;
  }

  /** Cancels the ceremony of `kind`, forgetting the inputs received. */
  async cancelCeremony(kind: CeremonyKind): Promise<CeremonyStatus> {
    const body = await this.#http.request({ method: 'DELETE', path: `/v1/sys/${kind}` });
    return expectObject(body, `sys.${kind}.cancel`) as unknown as CeremonyStatus;
  }
}
