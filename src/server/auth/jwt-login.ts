/**
 * @module server/auth/jwt-login
 * Log in with a JWT from an identity provider: the signature is checked against a JWKS (a file, or
 * a URL fetched and cached by `jose`), with the configured issuer and audience, asymmetric
 * algorithms only (an `alg: none` or HMAC token is refused whatever the key set holds). A claim
 * names the principal (default `sub`), another optionally its tenant. The JWT proves who the caller
 * is; Fortress's policies decide what it may do.
 *
 * Optionally a claim lists the IdP's groups or roles, and `roleMap` turns the listed values into
 * Fortress roles. Only mapped values count — the IdP can grant the roles an operator put in
 * `roleMap` and nothing else — and those roles are *managed* by the IdP: at each login the
 * principal holds exactly the mapped ones, while roles an administrator assigned in Fortress stay.
 * The principal must exist, unless `createUsers` is on (it is then created at the lowest clearance;
 * the IdP never grants clearance). Every failure is the same `FX_LOGIN_FAILED`; the reason goes to
 * the audit ledger only, as a {@link JwtLoginRefusal}.
 */
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { AccessControl, PrincipalInfo, PrincipalKind } from '../../access-control.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';

export interface JwtLoginOptions {
  readonly jwksFile?: string;
  readonly jwksUrl?: string;
  readonly issuer: string;
  readonly audience: string;
  /** @default 'sub' */
  readonly principalClaim?: string;
  readonly tenantClaim?: string;
  /** The principal a JWT names is a user (default) or a service account. */
  readonly kind?: PrincipalKind;
  /**
   * The claim listing the IdP's groups or roles: a string or an array of strings. A dotted path
   * (`realm_access.roles`) reaches into nested claims; a claim whose own name holds dots
   * (`https://example.com/roles`) is found first. An absent claim lists nothing. Setting it makes
   * the IdP manage the roles in `roleMap` at every login.
   */
  readonly rolesClaim?: string;
  /** IdP value → Fortress role name (in the principal's tenant). Unmapped values are ignored. */
  readonly roleMap?: Readonly<Record<string, string>>;
  /** Create a principal the JWT names that does not exist yet (at the lowest clearance). @default false */
  readonly createUsers?: boolean;
}

const ALGORITHMS = ['EdDSA', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
/** Principal and role names as access control accepts them (a name it would refuse cannot log in). */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;
const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Bounds on what the roles claim may hold: an IdP listing more is misconfigured or hostile. */
export const MAX_CLAIM_VALUES = 256;
export const MAX_CLAIM_VALUE_LENGTH = 256;
export const MAX_ROLE_MAP_ENTRIES = 1024;

/** True for an IdP value `roleMap` may name and the roles claim may hold. */
export function isClaimValue(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= MAX_CLAIM_VALUE_LENGTH &&
    value.isWellFormed() &&
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    !/[\u0000-\u001f\u007f-\u009f]/.test(value)
  );
}

/** True for a Fortress role name. */
export function isRoleName(value: unknown): value is string {
  return typeof value === 'string' && NAME_RE.test(value);
}

export interface JwtIdentity {
  readonly kind: PrincipalKind;
  readonly name: string;
  readonly tenant: string;
  /** Seconds since the epoch when the JWT expires (a token issued from it never outlives it). */
  readonly expiresAt: number | null;
  /** The Fortress roles the roles claim maps to, deduplicated and sorted (none without `rolesClaim`). */
  readonly roles: readonly string[];
}

/**
 * Why a JWT login was refused, as the `cause` of its `FX_LOGIN_FAILED`: a short code and
 * non-secret facts (role names) for the audit ledger. The caller never sees it.
 */
export class JwtLoginRefusal extends Error {
  readonly reason: string;
  readonly facts: Readonly<Record<string, string>>;

  constructor(reason: string, facts: Readonly<Record<string, string>> = {}) {
    super(reason);
    this.name = 'JwtLoginRefusal';
    this.reason = reason;
    this.facts = facts;
  }
}

/** What a login changed in access control. */
export interface RoleSync {
  /** The principal did not exist and was created. */
  readonly created: boolean;
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** The access-control methods a login reads and writes. */
export type PrincipalDirectory = Pick<
  AccessControl,
  'principal' | 'listRoles' | 'addUser' | 'addServiceAccount' | 'updatePrincipal' | 'labels'
>;

function refused(reason: string, facts?: Readonly<Record<string, string>>): FortressError {
  return new FortressError('FX_LOGIN_FAILED', 'the JWT was not accepted', {
    cause: new JwtLoginRefusal(reason, facts),
  });
}

function isCode(error: unknown, code: string): boolean {
  return error instanceof FortressError && error.code === code;
}

function configError(message: string): FortressError {
  return new FortressError('FX_CONFIG_INVALID', `auth.jwt: ${message}`);
}

/** The claim at `name`: an own claim of that exact name, else the dotted path into nested objects. */
function claimAt(payload: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * @example
 * ```ts
 * const jwt = new JwtLogin({
 *   jwksFile: '/etc/fortress/idp.jwks.json',
 *   issuer: 'https://idp',
 *   audience: 'fortress',
 *   rolesClaim: 'groups',
 *   roleMap: { 'idp-analysts': 'analyst' },
 * });
 * const who = await jwt.verify(token); // { kind: 'user', name: 'ann', tenant: 'default', expiresAt, roles: ['analyst'] }
 * await jwt.syncPrincipal(db.access, who); // ann now holds exactly the IdP-managed roles it maps to
 * ```
 */
export class JwtLogin {
  readonly #options: JwtLoginOptions;
  readonly #keys: JWTVerifyGetKey;
  /** IdP value → role; a Map, so that a claim value like `constructor` finds nothing inherited. */
  readonly #roleMap: ReadonlyMap<string, string>;
  /** The roles the IdP manages: every value of the role map. */
  readonly #managed: ReadonlySet<string>;

  constructor(options: JwtLoginOptions) {
    const { rolesClaim, roleMap } = options;
    if (rolesClaim === '') throw configError('roles_claim must be a non-empty claim name');
    if (roleMap !== undefined && rolesClaim === undefined) throw configError('role_map needs roles_claim');
    const entries = Object.entries(roleMap ?? {});
    if (entries.length > MAX_ROLE_MAP_ENTRIES) {
      throw configError(`role_map has more than ${MAX_ROLE_MAP_ENTRIES} entries`);
    }
    for (const [value, role] of entries) {
      const shown = JSON.stringify(value.slice(0, 64));
      if (!isClaimValue(value)) throw configError(`role_map: ${shown} is not a usable IdP value`);
      if (!isRoleName(role)) {
        throw configError(
          `role_map: ${shown} maps to ${JSON.stringify(String(role).slice(0, 64))}, which is not a role name`,
        );
      }
    }
    this.#roleMap = new Map(entries);
    this.#managed = new Set(this.#roleMap.values());
    this.#options = Object.freeze({
      ...options,
      ...(roleMap === undefined ? {} : { roleMap: Object.freeze(Object.fromEntries(entries)) }),
    });

    if (options.jwksFile !== undefined) {
      let set: JSONWebKeySet;
      try {
        set = JSON.parse(readFileSync(options.jwksFile, 'utf8')) as JSONWebKeySet;
      } catch {
        throw configError(`${options.jwksFile} is not a readable JWKS file`);
      }
      this.#keys = createLocalJWKSet(set);
    } else if (options.jwksUrl !== undefined) {
      this.#keys = createRemoteJWKSet(new URL(options.jwksUrl), {
        timeoutDuration: 5000,
        cooldownDuration: 30_000,
      });
    } else {
      throw configError('set jwks_file or jwks_url');
    }
  }

  /** The roles the IdP manages (the values of `roleMap`), sorted. */
  get managedRoles(): readonly string[] {
    return [...this.#managed].sort();
  }

  /** The identity a JWT proves; FX_LOGIN_FAILED (with a {@link JwtLoginRefusal} as `cause`) for any flaw. */
  async verify(jwt: string): Promise<JwtIdentity> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(jwt, this.#keys, {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw refused(typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'invalid');
    }
    const name = payload[this.#options.principalClaim ?? 'sub'];
    if (typeof name !== 'string' || !NAME_RE.test(name)) throw refused('principal claim');
    let tenant = 'default';
    if (this.#options.tenantClaim !== undefined) {
      const claimed = payload[this.#options.tenantClaim];
      if (typeof claimed !== 'string' || !TENANT_RE.test(claimed)) throw refused('tenant claim');
      tenant = claimed;
    }
    return {
      kind: this.#options.kind ?? 'user',
      name,
      tenant,
      expiresAt: typeof payload['exp'] === 'number' ? payload['exp'] : null,
      roles: this.#mappedRoles(payload),
    };
  }

  /** The roles the roles claim maps to; a malformed claim refuses the login rather than granting less or more. */
  #mappedRoles(payload: Record<string, unknown>): string[] {
    if (this.#options.rolesClaim === undefined) return [];
    const claimed = claimAt(payload, this.#options.rolesClaim);
    if (claimed === undefined) return [];
    const values = typeof claimed === 'string' ? [claimed] : claimed;
    if (!Array.isArray(values) || values.length > MAX_CLAIM_VALUES || !values.every(isClaimValue)) {
      throw refused('roles claim');
    }
    const roles = new Set<string>();
    for (const value of values) {
      const role = this.#roleMap.get(value);
      if (role !== undefined) roles.add(role);
    }
    return [...roles].sort();
  }

  /**
   * Brings the principal `who` names in line with its JWT: creates it when it does not exist and
   * `createUsers` is on, and — with a roles claim configured — sets its IdP-managed roles to exactly
   * `who.roles`, keeping every other role. Writes only when something changes (a write bumps the
   * policy generation). FX_LOGIN_FAILED for an unknown principal (without `createUsers`) or a mapped
   * role that does not exist in the tenant; other errors (storage) pass through.
   */
  async syncPrincipal(access: PrincipalDirectory, who: JwtIdentity): Promise<RoleSync> {
    // Two first logins at once: the second one's create conflicts, and it syncs against the first's.
    for (let attempt = 0; ; attempt++) {
      let current: PrincipalInfo | null;
      try {
        current = access.principal(who.kind, who.name, who.tenant);
      } catch (error) {
        if (error instanceof InvalidArgumentError) throw refused('principal claim');
        if (!isCode(error, 'FX_POLICY_NOT_FOUND')) throw error;
        if (this.#options.createUsers !== true) throw refused('unknown principal');
        current = null;
      }
      const known = new Set(
        access
          .listRoles()
          .filter((role) => role.tenant === who.tenant)
          .map((role) => role.name),
      );
      // Fail closed: a mapping to a role nobody created is a configuration error, not "fewer roles".
      const unknown = who.roles.filter((role) => !known.has(role));
      if (unknown.length > 0) throw refused('unknown role', { unknownRoles: unknown.join(' ') });

      const before = current?.roles ?? [];
      const syncs = this.#options.rolesClaim !== undefined;
      const roles = syncs
        ? [...new Set([...before.filter((role) => !this.#managed.has(role)), ...who.roles])].sort()
        : [...before];
      const added = roles.filter((role) => !before.includes(role));
      const removed = before.filter((role) => !roles.includes(role));
      try {
        if (current === null) {
          const lowest = access.labels.levels[0];
          const options = {
            tenant: who.tenant,
            roles,
            ...(lowest === undefined ? {} : { clearance: lowest }),
          };
          if (who.kind === 'user') await access.addUser(who.name, options);
          else await access.addServiceAccount(who.name, options);
        } else if (added.length > 0 || removed.length > 0) {
          await access.updatePrincipal(who.kind, who.name, {
            tenant: who.tenant,
            clearance: current.clearance,
            groups: current.groups,
            roles,
          });
        }
      } catch (error) {
        if (current === null && attempt === 0 && isCode(error, 'FX_POLICY_CONFLICT')) continue;
        // Access control refused the record (e.g. more roles than a principal may hold).
        if (error instanceof InvalidArgumentError) throw refused('invalid principal');
        throw error;
      }
      return { created: current === null, added, removed };
    }
  }
}
