/**
 * @module server/auth/jwt-login
 * Log in with a JWT from an identity provider: the signature is checked against a JWKS (a file, or
 * a URL fetched and cached by `jose`), with the configured issuer and audience, asymmetric
 * algorithms only (an `alg: none` or HMAC token is refused whatever the key set holds). A claim
 * names the principal (default `sub`), another optionally its tenant; the principal must exist in
 * Fortress's access control — the JWT proves who the caller is, Fortress's policies decide what it
 * may do. Every failure is the same `FX_LOGIN_FAILED`; the reason goes to the audit ledger only as
 * a code.
 */
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { FortressError } from '../../util/errors.js';

export interface JwtLoginOptions {
  readonly jwksFile?: string;
  readonly jwksUrl?: string;
  readonly issuer: string;
  readonly audience: string;
  /** @default 'sub' */
  readonly principalClaim?: string;
  readonly tenantClaim?: string;
  /** The principal a JWT names is a user (default) or a service account. */
  readonly kind?: 'user' | 'service';
}

const ALGORITHMS = ['EdDSA', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const NAME_RE = /^[A-Za-z0-9_.@-]{1,128}$/;
const TENANT_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export interface JwtIdentity {
  readonly kind: 'user' | 'service';
  readonly name: string;
  readonly tenant: string;
  /** Seconds since the epoch when the JWT expires (a token issued from it never outlives it). */
  readonly expiresAt: number | null;
}

/**
 * @example
 * ```ts
 * const jwt = new JwtLogin({ jwksFile: '/etc/fortress/idp.jwks.json', issuer: 'https://idp', audience: 'fortress' });
 * const who = await jwt.verify(token); // { kind: 'user', name: 'ann', tenant: 'default', expiresAt }
 * ```
 */
export class JwtLogin {
  readonly #options: JwtLoginOptions;
  readonly #keys: JWTVerifyGetKey;

  constructor(options: JwtLoginOptions) {
    this.#options = options;
    if (options.jwksFile !== undefined) {
      let set: JSONWebKeySet;
      try {
        set = JSON.parse(readFileSync(options.jwksFile, 'utf8')) as JSONWebKeySet;
      } catch {
        throw new FortressError(
          'FX_CONFIG_INVALID',
          `auth.jwt: ${options.jwksFile} is not a readable JWKS file`,
        );
      }
      this.#keys = createLocalJWKSet(set);
    } else if (options.jwksUrl !== undefined) {
      this.#keys = createRemoteJWKSet(new URL(options.jwksUrl), {
        timeoutDuration: 5000,
        cooldownDuration: 30_000,
      });
    } else {
      throw new FortressError('FX_CONFIG_INVALID', 'auth.jwt: set jwks_file or jwks_url');
    }
  }

  /** The identity a JWT proves; FX_LOGIN_FAILED (with the reason as `cause`) for any flaw. */
  async verify(jwt: string): Promise<JwtIdentity> {
    const failed = (reason: string): FortressError =>
      new FortressError('FX_LOGIN_FAILED', 'the JWT was not accepted', { cause: new Error(reason) });
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(jwt, this.#keys, {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw failed((error as { code?: string }).code ?? 'invalid');
    }
    const name = payload[this.#options.principalClaim ?? 'sub'];
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw failed('principal claim');
    let tenant = 'default';
    if (this.#options.tenantClaim !== undefined) {
      const claimed = payload[this.#options.tenantClaim];
      if (typeof claimed !== 'string' || !TENANT_RE.test(claimed)) throw failed('tenant claim');
      tenant = claimed;
    }
    return {
      kind: this.#options.kind ?? 'user',
      name,
      tenant,
      expiresAt: typeof payload['exp'] === 'number' ? payload['exp'] : null,
    };
  }
}
