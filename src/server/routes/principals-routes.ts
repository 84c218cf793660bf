/**
 * @module server/routes/principals-routes
 * `/v1/principals`: users, service accounts, roles, groups and row filters, through the caller's
 * `session.access` — `managePolicy` on the tenant they belong to, so each tenant's administrators
 * manage their own tenant only, and every change is recorded in the audit ledger as the caller.
 *
 * A PUT creates or replaces the whole record (what it leaves out is reset: no roles, the lowest
 * clearance), so repeating it is harmless. Removing a user also removes its password and revokes
 * every token it holds; removing a service account revokes its tokens.
 */
import { Type } from 'typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { PrincipalKind } from '../../access-control.js';
import type { PolicySession } from '../../policy-session.js';
import { POLICY_ID_RE } from '../../policy/authorizer/authorizer.js';
import { FortressError } from '../../util/errors.js';
import type { ServerContext } from '../server-context.js';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../auth/userpass.js';
import { ErrorResponse, Name } from '../http/schemas.js';

/** Principal, group, role and tenant names, as access control accepts them. */
const PrincipalName = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$',
});
const Tenant = PrincipalName;
const Names = Type.Array(PrincipalName, { maxItems: 256 });
const NameParams = Type.Object({ name: PrincipalName });
const TenantQuery = Type.Object({ tenant: Type.Optional(Tenant) }, { additionalProperties: false });
const FilterId = Type.String({ minLength: 1, maxLength: 128, pattern: POLICY_ID_RE.source });

const PrincipalBody = {
  tenant: Type.Optional(Tenant),
  clearance: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'e.g. secret:alpha' })),
  roles: Type.Optional(Names),
  groups: Type.Optional(Names),
};

const PrincipalView = Type.Object({
  kind: Type.String({ description: 'user or service' }),
  tenant: Type.String(),
  name: Type.String(),
  clearance: Type.String(),
  groups: Type.Array(Type.String()),
  roles: Type.Array(Type.String()),
});
const GroupView = Type.Object({
  tenant: Type.String(),
  name: Type.String(),
  groups: Type.Array(Type.String()),
  roles: Type.Array(Type.String()),
});
const RoleView = Type.Object({
  tenant: Type.String(),
  name: Type.String(),
  roles: Type.Array(Type.String(), { description: 'Roles this role inherits' }),
});
const RowFilterView = Type.Object({
  id: Type.String(),
  tenant: Type.String(),
  table: Type.String(),
  role: Type.String(),
  where: Type.Unknown(),
});

const NoContent = { 204: Type.Null(), '4xx': ErrorResponse };

function tenantOf(session: PolicySession, tenant: string | undefined): string {
  return tenant ?? session.tenant;
}

/** The principal's record exists (read without side effects, to choose between add and update). */
function exists(ctx: ServerContext, kind: PrincipalKind, name: string, tenant: string): boolean {
  return ctx
    .unsealed()
    .access.listPrincipals()
    .some((p) => p.kind === kind && p.name === name && p.tenant === tenant);
}

export function principalsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  /** Revokes every token of a removed principal (each revocation recorded, by accessor). */
  const revokeTokens = async (
    session: PolicySession,
    principal: { kind: PrincipalKind; name: string; tenant: string },
  ): Promise<number> => {
    const db = ctx.unsealed();
    let revoked = 0;
    for (const token of await ctx.tokens.listFor(principal)) {
      const n = await ctx.tokens.revoke(token.accessor);
      revoked += n;
      await db.recordEvent('auth.revokeToken', null, session.auditPrincipal, {
        accessor: token.accessor,
        revoked: n,
      });
    }
    return revoked;
  };

  /** Creates or replaces a user or service account. */
  const putPrincipal = async (
    request: FastifyRequest,
    kind: PrincipalKind,
    name: string,
    body: { tenant?: string; clearance?: string; roles?: string[]; groups?: string[] },
  ): Promise<{ session: PolicySession; tenant: string }> => {
    const { session } = await ctx.caller(request);
    const tenant = tenantOf(session, body.tenant);
    const options = {
      tenant,
      ...(body.clearance === undefined ? {} : { clearance: body.clearance }),
      ...(body.roles === undefined ? {} : { roles: body.roles }),
      ...(body.groups === undefined ? {} : { groups: body.groups }),
    };
    // Both paths decide managePolicy on the tenant before anything is read back or stored.
    if (exists(ctx, kind, name, tenant)) await session.access.updatePrincipal(kind, name, options);
    else if (kind === 'user') await session.access.addUser(name, options);
    else await session.access.addServiceAccount(name, options);
    return { session, tenant };
  };

  /** Removes a user or service account, then its password and tokens. */
  const removePrincipal = async (
    request: FastifyRequest,
    kind: PrincipalKind,
    name: string,
    tenantParam: string | undefined,
  ): Promise<void> => {
    const { session } = await ctx.caller(request);
    const tenant = tenantOf(session, tenantParam);
    await session.access.removePrincipal(kind, name, tenant);
    if (kind === 'user' && (await ctx.passwords.removePassword(tenant, name))) {
      await ctx.unsealed().recordEvent('auth.removePassword', null, session.auditPrincipal, {
        user: `${tenant}/${name}`,
      });
    }
    await revokeTokens(session, { kind, name, tenant });
  };

  r.get(
    '/v1/principals',
    {
      schema: {
        tags: ['principals'],
        summary:
          "The tenant's users and service accounts, roles, groups and row filters (managePolicy on the tenant)",
        response: {
          200: Type.Object({
            principals: Type.Array(PrincipalView),
            roles: Type.Array(RoleView),
            groups: Type.Array(GroupView),
            rowFilters: Type.Array(RowFilterView),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const access = session.access;
      const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : 1);
      return {
        principals: (await access.listPrincipals()).sort(
          (a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) || byName(a, b),
        ),
        roles: (await access.listRoles()).sort(byName),
        groups: (await access.listGroups()).sort(byName),
        rowFilters: (await access.listRowFilters()).sort((a, b) => (a.id < b.id ? -1 : 1)),
      };
    },
  );

  r.put(
    '/v1/principals/users/:name',
    {
      schema: {
        tags: ['principals'],
        summary:
          'Create or replace a user; with password, also set its password (managePolicy on the tenant)',
        params: NameParams,
        body: Type.Object(
          {
            ...PrincipalBody,
            password: Type.Optional(
              Type.String({ minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH }),
            ),
          },
          { additionalProperties: false },
        ),
        response: NoContent,
      },
      config: { sensitiveBody: true },
    },
    async (request, reply) => {
      const { password, ...body } = request.body;
      const { session, tenant } = await putPrincipal(request, 'user', request.params.name, body);
      if (password !== undefined) {
        await ctx.passwords.setPassword(tenant, request.params.name, password);
        await ctx.unsealed().recordEvent('auth.setPassword', null, session.auditPrincipal, {
          user: `${tenant}/${request.params.name}`,
        });
      }
      return reply.status(204).send(null);
    },
  );

  r.delete(
    '/v1/principals/users/:name',
    {
      schema: {
        tags: ['principals'],
        summary: 'Remove a user, its password and every token it holds (managePolicy on the tenant)',
        params: NameParams,
        querystring: TenantQuery,
        response: NoContent,
      },
    },
    async (request, reply) => {
      await removePrincipal(request, 'user', request.params.name, request.query.tenant);
      return reply.status(204).send(null);
    },
  );

  r.put(
    '/v1/principals/services/:name',
    {
      schema: {
        tags: ['principals'],
        summary: 'Create or replace a service account (managePolicy on the tenant)',
        params: NameParams,
        body: Type.Object(PrincipalBody, { additionalProperties: false }),
        response: NoContent,
      },
    },
    async (request, reply) => {
      await putPrincipal(request, 'service', request.params.name, request.body);
      return reply.status(204).send(null);
    },
  );

  r.delete(
    '/v1/principals/services/:name',
    {
      schema: {
        tags: ['principals'],
        summary: 'Remove a service account and revoke its tokens (managePolicy on the tenant)',
        params: NameParams,
        querystring: TenantQuery,
        response: NoContent,
      },
    },
    async (request, reply) => {
      await removePrincipal(request, 'service', request.params.name, request.query.tenant);
      return reply.status(204).send(null);
    },
  );

  for (const [segment, kind] of [
    ['users', 'user'],
    ['services', 'service'],
  ] as const) {
    r.get(
      `/v1/principals/${segment}/:name/roles`,
      {
        schema: {
          tags: ['principals'],
          summary: `Every role a ${kind === 'user' ? 'user' : 'service account'} holds: directly, through groups and by inheritance (managePolicy on the tenant)`,
          params: NameParams,
          querystring: TenantQuery,
          response: { 200: Type.Object({ roles: Type.Array(Type.String()) }), '4xx': ErrorResponse },
        },
      },
      async (request) => {
        const { session } = await ctx.caller(request);
        return { roles: await session.access.rolesOf(kind, request.params.name, request.query.tenant) };
      },
    );
  }

  r.put(
    '/v1/principals/roles/:name',
    {
      schema: {
        tags: ['principals'],
        summary: 'Create or replace a role and the roles it inherits (managePolicy on the tenant)',
        params: NameParams,
        body: Type.Object(
          {
            tenant: Type.Optional(Tenant),
            inherits: Type.Optional(Names),
            roles: Type.Optional(
              Type.Array(PrincipalName, {
                maxItems: 256,
                description: 'The same as inherits, named as GET lists it',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: NoContent,
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const { tenant, inherits, roles } = request.body;
      if (inherits !== undefined && roles !== undefined) {
        throw new FortressError('FX_REQUEST_INVALID', 'give inherits or roles, not both');
      }
      const parents = inherits ?? roles;
      await session.access.addRole(request.params.name, {
        tenant: tenantOf(session, tenant),
        ...(parents === undefined ? {} : { roles: parents }),
      });
      return reply.status(204).send(null);
    },
  );

  r.delete(
    '/v1/principals/roles/:name',
    {
      schema: {
        tags: ['principals'],
        summary: 'Remove a role (managePolicy on the tenant)',
        params: NameParams,
        querystring: TenantQuery,
        response: NoContent,
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.access.removeRole(request.params.name, tenantOf(session, request.query.tenant));
      return reply.status(204).send(null);
    },
  );

  r.put(
    '/v1/principals/groups/:name',
    {
      schema: {
        tags: ['principals'],
        summary: 'Create or replace a group: its roles and member groups (managePolicy on the tenant)',
        params: NameParams,
        body: Type.Object(
          { tenant: Type.Optional(Tenant), roles: Type.Optional(Names), groups: Type.Optional(Names) },
          { additionalProperties: false },
        ),
        response: NoContent,
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const { tenant, roles, groups } = request.body;
      await session.access.addGroup(request.params.name, {
        tenant: tenantOf(session, tenant),
        ...(roles === undefined ? {} : { roles }),
        ...(groups === undefined ? {} : { groups }),
      });
      return reply.status(204).send(null);
    },
  );

  r.delete(
    '/v1/principals/groups/:name',
    {
      schema: {
        tags: ['principals'],
        summary: 'Remove a group (managePolicy on the tenant)',
        params: NameParams,
        querystring: TenantQuery,
        response: NoContent,
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.access.removeGroup(request.params.name, tenantOf(session, request.query.tenant));
      return reply.status(204).send(null);
    },
  );

  r.put(
    '/v1/principals/row-filters/:id',
    {
      schema: {
        tags: ['principals'],
        summary:
          'Create or replace a row filter: holders of role see only the rows of table matching where (managePolicy on the tenant)',
        params: Type.Object({ id: FilterId }),
        body: Type.Object(
          {
            table: Name,
            role: PrincipalName,
            where: Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
              description: "A filter in the engine's query model, on plaintext columns",
            }),
            tenant: Type.Optional(Tenant),
          },
          { additionalProperties: false },
        ),
        response: NoContent,
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const { id } = request.params;
      const { table, role, where, tenant } = request.body;
      // Filter ids are shared by every tenant: replacing another tenant's filter is administering
      // that tenant (its guardrail refuses), not quietly taking the id over.
      const current = ctx
        .unsealed()
        .access.listRowFilters()
        .find((f) => f.id === id);
      if (current !== undefined && current.tenant !== tenantOf(session, tenant)) {
        await session.require('managePolicy', { type: 'Tenant', id: current.tenant }, 'access.addRowFilter');
      }
      await session.access.addRowFilter(id, {
        table,
        role,
        where,
        tenant: tenantOf(session, tenant),
      });
      return reply.status(204).send(null);
    },
  );

  r.delete(
    '/v1/principals/row-filters/:id',
    {
      schema: {
        tags: ['principals'],
        summary: 'Remove a row filter (managePolicy on its tenant)',
        params: Type.Object({ id: FilterId }),
        response: NoContent,
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.access.removeRowFilter(request.params.id);
      return reply.status(204).send(null);
    },
  );
}
