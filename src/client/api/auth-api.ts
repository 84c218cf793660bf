/**
 * @module client/api/auth-api
 * `client.auth`: log in with a user name and password, set passwords, and manage tokens (create a
 * child token, look up, renew and revoke one's own, revoke by accessor). Login is never retried:
 * a repeat would mint a second token and count as a second attempt.
 */
import { expectField, expectObject, path, type HttpTransport } from '../http-transport.js';
import type { CreateTokenOptions, TokenGrant, TokenView } from '../client-types.js';

export class AuthApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /**
   * Logs in; the client keeps the token for the calls that follow.
   *
   * @example
   * ```ts
   * const { info } = await client.auth.login('ann', 'correct horse battery staple');
   * console.log(`token ${info.accessor} expires ${info.expiresAt}`);
   * ```
   */
  async login(username: string, password: string, tenant?: string): Promise<TokenGrant> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/auth/userpass/login',
      body: { username, password, ...(tenant === undefined ? {} : { tenant }) },
    });
    expectField(body, 'token', 'auth.login');
    const grant = body as TokenGrant;
    this.#http.token = grant.token;
    return grant;
  }

  /** Sets (or replaces) a user's password (`managePolicy` on the tenant). The user must exist. */
  async setPassword(username: string, password: string, tenant?: string): Promise<void> {
    await this.#http.request({
      method: 'PUT',
      path: path`/v1/auth/userpass/users/${username}`,
      body: { password, ...(tenant === undefined ? {} : { tenant }) },
    });
  }

  /**
   * Creates a child of the client's token (revoked with it). The client keeps its own token.
   *
   * @example
   * ```ts
   * const { token } = await client.auth.createToken({ ttl: 600, uses: 10, displayName: 'batch job' });
   * const job = new FortressClient({ address, token });
   * ```
   */
  async createToken(options: CreateTokenOptions = {}): Promise<TokenGrant> {
    const body = await this.#http.request({ method: 'POST', path: '/v1/auth/token/create', body: options });
    return expectObject(body, 'auth.createToken') as unknown as TokenGrant;
  }

  /** The client's token, as the server knows it. */
  async lookupSelf(): Promise<TokenView> {
    const body = await this.#http.request({ method: 'GET', path: '/v1/auth/token/lookup-self' });
    return expectObject(body, 'auth.lookupSelf') as unknown as TokenView;
  }

  /** Extends the token by `increment` seconds (default: its TTL), never past its max TTL. */
  async renewSelf(increment?: number): Promise<TokenView> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/auth/token/renew-self',
      // Always a body: the route's schema refuses an empty POST ("body: must be object").
      body: increment === undefined ? {} : { increment },
    });
    return expectObject(body, 'auth.renewSelf') as unknown as TokenView;
  }

  /** Revokes the client's token and its children, and forgets it. Returns how many were revoked. */
  async revokeSelf(): Promise<number> {
    const body = await this.#http.request({ method: 'POST', path: '/v1/auth/token/revoke-self' });
    this.#http.token = undefined;
    return expectField(body, 'revoked', 'auth.revokeSelf') as number;
  }

  /**
   * Revokes a token by accessor, with its children (`orphan: true` keeps them). Returns how many
   * were revoked.
   */
  async revoke(accessor: string, options: { readonly orphan?: boolean } = {}): Promise<number> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/auth/token/revoke',
      body: { accessor, ...(options.orphan === undefined ? {} : { orphan: options.orphan }) },
    });
    return expectField(body, 'revoked', 'auth.revoke') as number;
  }
}
