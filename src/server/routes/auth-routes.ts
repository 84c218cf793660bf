/**
 * @module server/routes/auth-routes
 * `/v1/auth`: log in with a user name and password (Argon2id), and manage tokens — create a child
 * token, look up, renew and revoke one's own, revoke by accessor (with its children, or alone).
 * Every login (failed ones too) and every token created or revoked is recorded in the audit ledger,
 * by accessor; tokens and passwords never are.
 */
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { FortressError } from '../../util/errors.js';
import type { ServerContext } from '../server-context.js';
import type { TokenInfo } from '../auth/token-store.js';
import { JwtLoginRefusal, type JwtIdentity, type RoleSync } from '../auth/jwt-login.js';
import { ErrorResponse } from '../http/schemas.js';

const NAME = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.@-]+$' });
const TENANT = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });

const TokenView = Type.Object({
  accessor: Type.String(),
  principal: Type.Object({ kind: Type.String(), name: Type.String(), tenant: Type.String() }),
  parent: Type.Union([Type.String(), Type.Null()]),
  method: Type.String(),
  displayName: Type.String(),
  createdAt: Type.String({ description: 'ISO 8601' }),
  expiresAt: Type.String({ description: 'ISO 8601' }),
  maxExpiresAt: Type.String({ description: 'ISO 8601' }),
  renewable: Type.Boolean(),
  usesLeft: Type.Union([Type.Integer(), Type.Null()]),
});

const Login = Type.Object({ token: Type.String(), info: TokenView });

/** A token as the API shows it. */
export interface TokenViewJson {
  accessor: string;
  principal: { kind: string; name: string; tenant: string };
  parent: string | null;
  method: string;
  displayName: string;
  createdAt: string;
  expiresAt: string;
  maxExpiresAt: string;
  renewable: boolean;
  usesLeft: number | null;
}

/** How a JWT-proven principal appears in the audit ledger. */
function auditPrincipal(who: JwtIdentity): { type: string; id: string; tenant: string } {
  return { type: who.kind, id: `${who.tenant}/${who.name}`, tenant: who.tenant };
}

/**
 * Audit facts from name lists: empty ones left out (an entry holds no empty string) and long ones
 * cut to the ledger's 512-character limit, saying how many names were left off.
 */
function auditFacts(facts: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(facts)) {
    if (value === '') continue;
    if (value.length <= 512) {
      out[key] = value;
      continue;
    }
    const kept = value.slice(0, 480).split(' ').slice(0, -1);
    out[key] = `${kept.join(' ')} (+${value.split(' ').length - kept.length} more)`;
  }
  return out;
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/** A token's record as the API shows it (times as ISO strings). */
export function tokenView(info: TokenInfo): TokenViewJson {
  return {
    accessor: info.accessor,
    principal: { ...info.principal },
    parent: info.parent,
    method: info.method,
    displayName: info.displayName,
    createdAt: iso(info.createdAt),
    expiresAt: iso(info.expiresAt),
    maxExpiresAt: iso(info.maxExpiresAt),
    renewable: info.renewable,
    usesLeft: info.usesLeft,
  };
}

export function authRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { tokenTtlSeconds, tokenMaxTtlSeconds } = ctx.options;

  r.post(
    '/v1/auth/userpass/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in with a user name and password; returns a token',
        body: Type.Object(
          {
            username: NAME,
            password: Type.String({ minLength: 1, maxLength: 1024 }),
            tenant: Type.Optional(TENANT),
          },
          { additionalProperties: false },
        ),
        response: { 200: Login, '4xx': ErrorResponse },
      },
      config: { sensitiveBody: true },
    },
    async (request) => {
      const db = ctx.unsealed();
      const { username, password } = request.body;
      const tenant = request.body.tenant ?? 'default';
      const who = { type: 'user', id: `${tenant}/${username}`, tenant };
      try {
        await ctx.passwords.check(tenant, username, password);
        // The user must still exist as a principal (a removed user keeps no password that works).
        db.access.principal('user', username, tenant);
      } catch (error) {
        const failed =
          error instanceof FortressError && error.code === 'FX_POLICY_NOT_FOUND'
            ? new FortressError('FX_LOGIN_FAILED', 'wrong user name or password')
            : error;
        await db.recordEvent('auth.login', failed, who, { method: 'userpass' });
        throw failed;
      }
      const { token, info } = await ctx.tokens.create({
        principal: { kind: 'user', name: username, tenant },
        method: 'userpass',
        ttlSeconds: tokenTtlSeconds,
        maxTtlSeconds: tokenMaxTtlSeconds,
      });
      await db.recordEvent('auth.login', null, who, { method: 'userpass', accessor: info.accessor });
      return { token, info: tokenView(info) };
    },
  );

  r.post(
    '/v1/auth/jwt/login',
    {
      schema: {
        tags: ['auth'],
        summary:
          "Log in with an identity provider's JWT (checked against the configured JWKS); returns a token",
        body: Type.Object(
          { jwt: Type.String({ minLength: 1, maxLength: 16_384 }) },
          { additionalProperties: false },
        ),
        response: { 200: Login, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const jwt = ctx.jwt;
      if (jwt === null) throw new FortressError('FX_NOT_FOUND', 'JWT login is not configured on this server');
      const db = ctx.unsealed();
      let who: JwtIdentity | undefined;
      let sync: RoleSync;
      try {
        who = await jwt.verify(request.body.jwt);
        sync = await jwt.syncPrincipal(db.access, who);
      } catch (error) {
        // A refusal is FX_LOGIN_FAILED whatever its reason; a storage failure while syncing is not
        // the caller's fault and answers as itself. Either way the ledger has it, with the reason.
        const failed =
          who === undefined && !(error instanceof FortressError && error.code === 'FX_LOGIN_FAILED')
            ? new FortressError('FX_LOGIN_FAILED', 'the JWT was not accepted')
            : error;
        const refusal = error instanceof Error && error.cause instanceof JwtLoginRefusal ? error.cause : null;
        await db.recordEvent('auth.login', failed, who === undefined ? undefined : auditPrincipal(who), {
          method: 'jwt',
          ...(refusal === null ? {} : { reason: refusal.reason, ...auditFacts(refusal.facts) }),
        });
        throw failed;
      }
      if (sync.created || sync.added.length > 0 || sync.removed.length > 0) {
        await db.recordEvent('auth.syncRoles', null, auditPrincipal(who), {
          method: 'jwt',
          created: sync.created,
          ...auditFacts({ added: sync.added.join(' '), removed: sync.removed.join(' ') }),
        });
      }
      const now = Math.floor(Date.now() / 1000);
      // A token from a JWT never outlives the JWT.
      const left = who.expiresAt === null ? tokenTtlSeconds : Math.max(1, who.expiresAt - now);
      const { token, info } = await ctx.tokens.create({
        principal: { kind: who.kind, name: who.name, tenant: who.tenant },
        method: 'jwt',
        ttlSeconds: Math.min(tokenTtlSeconds, left),
        maxTtlSeconds: Math.min(tokenMaxTtlSeconds, left),
      });
      await db.recordEvent('auth.login', null, auditPrincipal(who), {
        method: 'jwt',
        accessor: info.accessor,
      });
      return { token, info: tokenView(info) };
    },
  );

  r.put(
    '/v1/auth/userpass/users/:name',
    {
      schema: {
        tags: ['auth'],
        summary: "Set a user's password (managePolicy on the tenant)",
        params: Type.Object({ name: NAME }),
        body: Type.Object(
          { password: Type.String({ minLength: 1, maxLength: 1024 }), tenant: Type.Optional(TENANT) },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), '4xx': ErrorResponse },
      },
      config: { sensitiveBody: true },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const tenant = request.body.tenant ?? session.tenant;
      await session.require('managePolicy', { type: 'Tenant', id: tenant }, 'auth.setPassword');
      const db = ctx.unsealed();
      db.access.principal('user', request.params.name, tenant);
      await ctx.passwords.setPassword(tenant, request.params.name, request.body.password);
      await db.recordEvent('auth.setPassword', null, session.auditPrincipal, {
        user: `${tenant}/${request.params.name}`,
      });
      return reply.status(204).send(null);
    },
  );

  r.post(
    '/v1/auth/token/create',
    {
      schema: {
        tags: ['auth'],
        summary: "Create a child token of the caller's (it dies with its parent)",
        body: Type.Object(
          {
            ttl: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 10 * 365 * 86400, description: 'seconds' }),
            ),
            maxTtl: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 10 * 365 * 86400, description: 'seconds' }),
            ),
            uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
            renewable: Type.Optional(Type.Boolean()),
            displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
            service: Type.Optional(NAME),
          },
          { additionalProperties: false },
        ),
        response: { 200: Login, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { token: parent, session } = await ctx.caller(request);
      const db = ctx.unsealed();
      const body = request.body;
      let principal = parent.principal;
      if (body.service !== undefined) {
        // A token for a service account: an administrator's act (managePolicy on the tenant).
        await session.require('managePolicy', { type: 'Tenant', id: session.tenant }, 'auth.createToken');
        db.access.principal('service', body.service, session.tenant);
        principal = { kind: 'service', name: body.service, tenant: session.tenant };
      }
      const maxTtl = Math.min(body.maxTtl ?? tokenMaxTtlSeconds, tokenMaxTtlSeconds);
      const { token, info } = await ctx.tokens.create({
        principal,
        parent: parent.accessor,
        method: 'token',
        ...(body.displayName === undefined ? {} : { displayName: body.displayName }),
        ttlSeconds: Math.min(body.ttl ?? tokenTtlSeconds, maxTtl),
        maxTtlSeconds: maxTtl,
        renewable: body.renewable ?? true,
        uses: body.uses ?? null,
      });
      await db.recordEvent('auth.createToken', null, session.auditPrincipal, {
        accessor: info.accessor,
        parent: parent.accessor,
      });
      return { token, info: tokenView(info) };
    },
  );

  r.get(
    '/v1/auth/token/lookup-self',
    {
      schema: {
        tags: ['auth'],
        summary: "The caller's token",
        response: { 200: TokenView, '4xx': ErrorResponse },
      },
    },
    async (request) => tokenView((await ctx.caller(request)).token),
  );

  r.post(
    '/v1/auth/token/renew-self',
    {
      schema: {
        tags: ['auth'],
        summary: "Extend the caller's token (never past its max TTL)",
        body: Type.Optional(
          Type.Object(
            { increment: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 86400 })) },
            { additionalProperties: false },
          ),
        ),
        response: { 200: TokenView, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { token } = await ctx.caller(request);
      const body = request.body as { increment?: number } | undefined; // an empty POST has no body
      return tokenView(await ctx.tokens.renew(token.accessor, body?.increment));
    },
  );

  r.post(
    '/v1/auth/token/revoke-self',
    {
      schema: {
        tags: ['auth'],
        summary: "Revoke the caller's token and its children",
        response: { 200: Type.Object({ revoked: Type.Integer() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { token, session } = await ctx.caller(request);
      const revoked = await ctx.tokens.revoke(token.accessor);
      await ctx
        .unsealed()
        .recordEvent('auth.revokeToken', null, session.auditPrincipal, { accessor: token.accessor, revoked });
      return { revoked };
    },
  );

  r.post(
    '/v1/auth/token/revoke',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke a token by accessor, with its children (orphan: true keeps them)',
        body: Type.Object(
          { accessor: Type.String({ minLength: 1, maxLength: 64 }), orphan: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ revoked: Type.Integer() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { token: caller, session } = await ctx.caller(request);
      const target = await ctx.tokens.lookup(request.body.accessor);
      const own =
        target !== undefined &&
        (target.accessor === caller.accessor || (await isDescendant(ctx, target, caller.accessor)));
      if (!own) {
        // Someone else's token (or none: the same answer, so accessors cannot be probed).
        await session.require(
          'managePolicy',
          { type: 'Tenant', id: target?.principal.tenant ?? session.tenant },
          'auth.revokeToken',
        );
        if (target === undefined) throw new FortressError('FX_NOT_FOUND', 'no such token');
      }
      const revoked =
        request.body.orphan === true
          ? await ctx.tokens.revokeOrphan(request.body.accessor)
          : await ctx.tokens.revoke(request.body.accessor);
      await ctx.unsealed().recordEvent('auth.revokeToken', null, session.auditPrincipal, {
        accessor: request.body.accessor,
        revoked,
      });
      return { revoked };
    },
  );
}

async function isDescendant(ctx: ServerContext, token: TokenInfo, ancestor: string): Promise<boolean> {
  let parent = token.parent;
  for (let depth = 0; parent !== null && depth < 1000; depth++) {
    if (parent === ancestor) return true;
    parent = (await ctx.tokens.lookup(parent))?.parent ?? null;
  }
  return false;
}
