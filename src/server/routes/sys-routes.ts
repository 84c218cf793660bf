/**
 * @module server/routes/sys-routes
 * `/v1/sys`: health (for load balancers: 200 unsealed, 503 sealed, 501 uninitialised), status,
 * init, unseal share by share, seal. Health, status, init and unseal need no token (a sealed server
 * cannot check one); sealing needs the `seal` action on the system.
 */
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ServerContext } from '../server-context.js';
import { ErrorResponse } from '../http/schemas.js';
import { VERSION } from '../version.js';

const Status = Type.Object({
  initialized: Type.Boolean(),
  sealed: Type.Boolean(),
  seal: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Integer({ description: 'Unseal inputs received in the current attempt' }),
  threshold: Type.Integer({ description: 'Unseal inputs needed (0: the seal unseals itself)' }),
  version: Type.String(),
});

export function sysRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const status = () => ({ ...ctx.status(), version: VERSION });

  r.get(
    '/v1/sys/health',
    {
      schema: {
        tags: ['sys'],
        summary: 'Health for load balancers: 200 unsealed, 503 sealed, 501 not initialised',
        response: { 200: Status, 501: Status, 503: Status },
      },
    },
    async (_request, reply) => {
      const s = status();
      return reply.status(!s.initialized ? 501 : s.sealed ? 503 : 200).send(s);
    },
  );

  r.get(
    '/v1/sys/status',
    { schema: { tags: ['sys'], summary: 'Initialised? Sealed? Unseal progress', response: { 200: Status } } },
    () => Promise.resolve(status()),
  );

  r.post(
    '/v1/sys/init',
    {
      schema: {
        tags: ['sys'],
        summary: 'Create the root key, seal it, and return the unseal shares and a root token (once)',
        body: Type.Object(
          {
            seal: Type.Optional(
              Type.Union([Type.Literal('shamir'), Type.Literal('passphrase'), Type.Literal('dev-key-file')]),
            ),
            shares: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
            threshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
            passphrase: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            seal: Type.String(),
            shares: Type.Array(Type.String()),
            threshold: Type.Union([Type.Integer(), Type.Null()]),
            rootToken: Type.String(),
            rootTokenAccessor: Type.String(),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const result = await ctx.init(request.body);
      return { ...result, shares: [...result.shares] };
    },
  );

  r.post(
    '/v1/sys/unseal',
    {
      schema: {
        tags: ['sys'],
        summary: 'Submit one unseal share (or the passphrase); reset: true forgets the shares so far',
        body: Type.Union([
          Type.Object(
            { key: Type.String({ minLength: 1, maxLength: 4096 }) },
            { additionalProperties: false },
          ),
          Type.Object({ reset: Type.Literal(true) }, { additionalProperties: false }),
        ]),
        response: { 200: Status, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const body = request.body;
      if ('reset' in body) ctx.resetUnseal();
      else await ctx.unseal(body.key);
      return status();
    },
  );

  r.post(
    '/v1/sys/seal',
    {
      schema: {
        tags: ['sys'],
        summary: 'Seal: zero every key; data routes answer 503 until unsealed',
        response: { 204: Type.Null(), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      // The session decides and records; the server then drops its own state with the keys.
      await session.seal();
      ctx.seal();
      return reply.status(204).send(null);
    },
  );
}
