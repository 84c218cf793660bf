/**
 * @module server/routes/database-routes
 * `/v1/database`: the database secrets engine (dynamic PostgreSQL credentials), laid out as
 * HashiCorp Vault's database engine is — `config/<connection>`, `reset/`, `rotate-root/`,
 * `roles/<role>`, `creds/<role>`, `static-roles/<role>`, `static-creds/<role>`,
 * `rotate-role/<role>` — with leases under `leases/` (Vault's `sys/leases`). Field names are
 * Fortress's (camelCase); TTLs and periods are milliseconds or a number with a unit (`"1h"`).
 *
 * Passwords travel only in the answers of `creds/` and `static-creds/` and in a connection's
 * write; they are never logged or recorded in the audit ledger (secrets-database.ts).
 */
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { PolicySession } from '../../policy-session.js';
import type { SecretsDatabase } from '../../secrets/database/secrets-database.js';
import type { ServerContext } from '../server-context.js';
import { durationMs, ErrorResponse } from '../http/schemas.js';

const STRICT = { additionalProperties: false } as const;
// Bounds are the engine's, so an oversized field is a request error (FX_REQUEST_INVALID) here.
const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' });
const NameParams = Type.Object({ name: Name });
const Statements = Type.Array(Type.String({ minLength: 1, maxLength: 16_384 }), { maxItems: 50 });
/** A TTL or period: at least a second (the engine sets each one's floor). */
const Ttl = Type.Union([
  Type.Integer({ minimum: 1000, maximum: 10 * 365 * 86_400_000, description: 'milliseconds' }),
  Type.String({ pattern: '^[0-9]{1,9}(ms|s|m|h|d)$', maxLength: 11, description: 'e.g. "15m", "1h", "7d"' }),
]);
const ListQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', maxLength: 4 })),
  },
  STRICT,
);
const NameList = Type.Object({
  keys: Type.Array(Type.String()),
  next: Type.Union([Type.String(), Type.Null()], { description: 'after for the next page; null at the end' }),
});
const LeaseId = Type.String({
  minLength: 1,
  maxLength: 300,
  description: '"database/creds/<role>/<id>", as creds/ returned it',
});

const ConnectionInfo = Type.Object({
  name: Type.String(),
  plugin: Type.String(),
  connectionUrl: Type.String(),
  username: Type.String(),
  allowedRoles: Type.Array(Type.String()),
  maxOpenConnections: Type.Integer(),
  passwordLength: Type.Integer(),
  rootRotationStatements: Type.Array(Type.String()),
  passwordAuthentication: Type.String(),
  createdTime: Type.String(),
  updatedTime: Type.String(),
  lastRootRotation: Type.Union([Type.String(), Type.Null()]),
});
const RoleInfo = Type.Object({
  name: Type.String(),
  connection: Type.String(),
  creationStatements: Type.Array(Type.String()),
  revocationStatements: Type.Array(Type.String()),
  renewStatements: Type.Array(Type.String()),
  defaultTtl: Type.Integer({ description: 'ms' }),
  maxTtl: Type.Integer({ description: 'ms' }),
  createdTime: Type.String(),
  updatedTime: Type.String(),
});
const StaticRoleInfo = Type.Object({
  name: Type.String(),
  connection: Type.String(),
  username: Type.String(),
  rotationPeriod: Type.Integer({ description: 'ms' }),
  rotationStatements: Type.Array(Type.String()),
  lastRotation: Type.Union([Type.String(), Type.Null()]),
  nextRotation: Type.String(),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdTime: Type.String(),
  updatedTime: Type.String(),
});
const LeaseInfo = Type.Object({
  leaseId: Type.String(),
  role: Type.String(),
  connection: Type.String(),
  username: Type.String(),
  issueTime: Type.String(),
  expireTime: Type.String(),
  maxExpireTime: Type.String(),
  ttl: Type.Integer({ description: 'ms until expiry' }),
  renewable: Type.Boolean(),
  state: Type.String({ description: 'creating, active, expired, revoking or revocation-failed' }),
  revocationAttempts: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()]),
});
const Deleted = Type.Object({ deleted: Type.Boolean() });

/** Each session's facade, made once (sessions are cached per token; the facade holds nothing else). */
const FACADES = new WeakMap<PolicySession, SecretsDatabase>();

function facadeOf(session: PolicySession): SecretsDatabase {
  let facade = FACADES.get(session);
  if (facade === undefined) {
    facade = session.database;
    FACADES.set(session, facade);
  }
  return facade;
}

function page(query: { readonly after?: string; readonly limit?: string }): {
  after?: string;
  limit?: number;
} {
  return {
    ...(query.after === undefined ? {} : { after: query.after }),
    ...(query.limit === undefined ? {} : { limit: Number(query.limit) }),
  };
}

export function databaseRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['database'];

  // ── connections ───────────────────────────────────────────────────────────────────────────────

  r.post(
    '/v1/database/config/:name',
    {
      schema: {
        tags,
        summary:
          "Create or update a PostgreSQL connection; the administrator's password is stored encrypted and never answered (manageDatabase)",
        params: NameParams,
        body: Type.Object(
          {
            plugin: Type.Literal('postgresql'),
            connectionUrl: Type.String({
              minLength: 1,
              maxLength: 2048,
              description: 'postgresql://{{username}}:{{password}}@host:port/database?sslmode=…',
            }),
            username: Type.String({ minLength: 1, maxLength: 63 }),
            password: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 1024,
                description: 'required when creating, and when the host, port, database or username changes',
              }),
            ),
            allowedRoles: Type.Array(Type.String({ minLength: 1, maxLength: 65 }), { maxItems: 1000 }),
            maxOpenConnections: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
            verifyConnection: Type.Optional(Type.Boolean()),
            passwordLength: Type.Optional(Type.Integer({ minimum: 16, maximum: 128 })),
            rootRotationStatements: Type.Optional(Statements),
            passwordAuthentication: Type.Optional(Type.Enum(['scram-sha-256', 'password'])),
          },
          STRICT,
        ),
        response: { 200: ConnectionInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).writeConnection(request.params.name, request.body);
    },
  );

  r.get(
    '/v1/database/config/:name',
    {
      schema: {
        tags,
        summary: "A connection's settings, never its password (manageDatabase)",
        params: NameParams,
        response: { 200: ConnectionInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).readConnection(request.params.name);
    },
  );

  r.get(
    '/v1/database/config',
    {
      schema: {
        tags,
        summary: 'A page of connection names (manageDatabase)',
        querystring: ListQuery,
        response: { 200: NameList, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).listConnections(page(request.query));
    },
  );

  r.delete(
    '/v1/database/config/:name',
    {
      schema: {
        tags,
        summary: 'Delete a connection no role, static role or lease uses (manageDatabase)',
        params: NameParams,
        response: { 200: Deleted, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return { deleted: await facadeOf(session).deleteConnection(request.params.name) };
    },
  );

  r.post(
    '/v1/database/reset/:name',
    {
      schema: {
        tags,
        summary:
          "Close a connection's pooled target connections; they reconnect on next use (manageDatabase)",
        params: NameParams,
        response: { 200: Type.Object({ reset: Type.Boolean() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      await facadeOf(session).resetConnection(request.params.name);
      return { reset: true };
    },
  );

  r.post(
    '/v1/database/rotate-root/:name',
    {
      schema: {
        tags,
        summary:
          "Replace the administrator's password with a random one only Fortress knows (manageDatabase)",
        params: NameParams,
        response: { 200: ConnectionInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).rotateRoot(request.params.name);
    },
  );

  // ── dynamic roles and credentials ─────────────────────────────────────────────────────────────

  r.post(
    '/v1/database/roles/:name',
    {
      schema: {
        tags,
        summary:
          'Create or update a dynamic role: SQL templates ({{name}}, {{password}}, {{expiration}}) and TTLs (manageDatabase)',
        params: NameParams,
        body: Type.Object(
          {
            connection: Name,
            creationStatements: Statements,
            revocationStatements: Type.Optional(Statements),
            renewStatements: Type.Optional(Statements),
            defaultTtl: Ttl,
            maxTtl: Ttl,
          },
          STRICT,
        ),
        response: { 200: RoleInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const { defaultTtl, maxTtl, ...rest } = request.body;
      return facadeOf(session).writeRole(request.params.name, {
        ...rest,
        defaultTtl: durationMs(defaultTtl),
        maxTtl: durationMs(maxTtl),
      });
    },
  );

  r.get(
    '/v1/database/roles/:name',
    {
      schema: {
        tags,
        summary: "A dynamic role's settings (manageDatabase)",
        params: NameParams,
        response: { 200: RoleInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).readRole(request.params.name);
    },
  );

  r.get(
    '/v1/database/roles',
    {
      schema: {
        tags,
        summary: 'A page of dynamic role names (manageDatabase)',
        querystring: ListQuery,
        response: { 200: NameList, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).listRoles(page(request.query));
    },
  );

  r.delete(
    '/v1/database/roles/:name',
    {
      schema: {
        tags,
        summary: 'Delete a dynamic role; its leases stay and are revoked as usual (manageDatabase)',
        params: NameParams,
        response: { 200: Deleted, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return { deleted: await facadeOf(session).deleteRole(request.params.name) };
    },
  );

  r.get(
    '/v1/database/creds/:name',
    {
      schema: {
        tags,
        summary:
          'New credentials of a dynamic role: a fresh user and password with a lease (readCredentials on the role); the password is answered once and stored nowhere',
        params: NameParams,
        querystring: Type.Object(
          {
            ttl: Type.Optional(
              Type.String({
                pattern: '^[0-9]{1,12}(ms|s|m|h|d)?$',
                maxLength: 14,
                description: 'Lease TTL: ms, or with a unit ("15m"); default the role\'s, at most its maxTtl',
              }),
            ),
          },
          STRICT,
        ),
        response: {
          200: Type.Object({
            leaseId: Type.String(),
            username: Type.String(),
            password: Type.String(),
            leaseDuration: Type.Integer({ description: 'ms' }),
            renewable: Type.Boolean(),
            expiresAt: Type.String(),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const { session, token } = await ctx.caller(request);
      const { ttl } = request.query;
      // The lease belongs to the calling token: revoking the token revokes it, and it never
      // outlives the token (Vault's lease tree).
      const credentials = await facadeOf(session).createCredentials(request.params.name, {
        ...(ttl === undefined ? {} : { ttl: durationMs(/^[0-9]+$/.test(ttl) ? Number(ttl) : ttl) }),
        owner: token.accessor,
        notAfter: token.expiresAt * 1000,
      });
      // A password: never cached by a proxy or the client.
      void reply.header('cache-control', 'no-store');
      return credentials;
    },
  );

  // ── leases ────────────────────────────────────────────────────────────────────────────────────

  r.post(
    '/v1/database/leases/lookup',
    {
      schema: {
        tags,
        summary: "A lease's state (readCredentials on its role)",
        body: Type.Object({ leaseId: LeaseId }, STRICT),
        response: { 200: LeaseInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).lookupLease(request.body.leaseId);
    },
  );

  r.post(
    '/v1/database/leases/renew',
    {
      schema: {
        tags,
        summary:
          "Extend a lease by increment (default the role's TTL), never past its maximum (renewLease on its role)",
        body: Type.Object({ leaseId: LeaseId, increment: Type.Optional(Ttl) }, STRICT),
        response: { 200: LeaseInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const { leaseId, increment } = request.body;
      return facadeOf(session).renewLease(
        leaseId,
        increment === undefined ? {} : { increment: durationMs(increment) },
      );
    },
  );

  r.post(
    '/v1/database/leases/revoke',
    {
      schema: {
        tags,
        summary: 'Revoke a lease now: its user is dropped (revokeLease on its role)',
        body: Type.Object({ leaseId: LeaseId }, STRICT),
        response: { 200: Type.Object({ revoked: Type.Boolean() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      await facadeOf(session).revokeLease(request.body.leaseId);
      return { revoked: true };
    },
  );

  r.post(
    '/v1/database/leases/revoke-prefix',
    {
      schema: {
        tags,
        summary:
          'Revoke every lease whose id starts with prefix, e.g. "database/creds/<role>/" (manageDatabase)',
        body: Type.Object({ prefix: Type.String({ minLength: 1, maxLength: 300 }) }, STRICT),
        response: { 200: Type.Object({ revoked: Type.Integer() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return { revoked: await facadeOf(session).revokePrefix(request.body.prefix) };
    },
  );

  r.get(
    '/v1/database/leases',
    {
      schema: {
        tags,
        summary: "A page of leases, all or one role's, in lease id order (manageDatabase)",
        querystring: Type.Object(
          {
            role: Type.Optional(Name),
            after: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
            limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', maxLength: 4 })),
          },
          STRICT,
        ),
        response: {
          200: Type.Object({ leases: Type.Array(LeaseInfo), next: Type.Union([Type.String(), Type.Null()]) }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const { role, ...rest } = request.query;
      return facadeOf(session).listLeases({ ...page(rest), ...(role === undefined ? {} : { role }) });
    },
  );

  // ── static roles ──────────────────────────────────────────────────────────────────────────────

  r.post(
    '/v1/database/static-roles/:name',
    {
      schema: {
        tags,
        summary:
          "Create or update a static role: Fortress rotates an existing user's password every rotationPeriod (manageDatabase)",
        params: NameParams,
        body: Type.Object(
          {
            connection: Name,
            username: Type.String({ minLength: 1, maxLength: 63 }),
            rotationPeriod: Ttl,
            rotationStatements: Type.Optional(Statements),
          },
          STRICT,
        ),
        response: { 200: StaticRoleInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const { rotationPeriod, ...rest } = request.body;
      return facadeOf(session).writeStaticRole(request.params.name, {
        ...rest,
        rotationPeriod: durationMs(rotationPeriod),
      });
    },
  );

  r.get(
    '/v1/database/static-roles/:name',
    {
      schema: {
        tags,
        summary: "A static role's settings, never its password (manageDatabase)",
        params: NameParams,
        response: { 200: StaticRoleInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).readStaticRole(request.params.name);
    },
  );

  r.get(
    '/v1/database/static-roles',
    {
      schema: {
        tags,
        summary: 'A page of static role names (manageDatabase)',
        querystring: ListQuery,
        response: { 200: NameList, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).listStaticRoles(page(request.query));
    },
  );

  r.delete(
    '/v1/database/static-roles/:name',
    {
      schema: {
        tags,
        summary:
          'Delete a static role; the user and its current password stay on the target (manageDatabase)',
        params: NameParams,
        response: { 200: Deleted, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return { deleted: await facadeOf(session).deleteStaticRole(request.params.name) };
    },
  );

  r.post(
    '/v1/database/rotate-role/:name',
    {
      schema: {
        tags,
        summary: "Rotate a static role's password now (manageDatabase)",
        params: NameParams,
        response: { 200: StaticRoleInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).rotateStaticRole(request.params.name);
    },
  );

  r.get(
    '/v1/database/static-creds/:name',
    {
      schema: {
        tags,
        summary: "A static role's user and current password (readCredentials on the role)",
        params: NameParams,
        response: {
          200: Type.Object({
            username: Type.String(),
            password: Type.String(),
            lastRotation: Type.String(),
            ttl: Type.Integer({ description: 'ms until the next rotation' }),
            rotationPeriod: Type.Integer({ description: 'ms' }),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const credentials = await facadeOf(session).readStaticCredentials(request.params.name);
      void reply.header('cache-control', 'no-store');
      return credentials;
    },
  );
}
