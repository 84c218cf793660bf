/**
 * @module server/routes/sys-routes
 * `/v1/sys`: health (for load balancers: 200 unsealed, 503 sealed, 501 uninitialised), status,
 * init, unseal share by share, seal, and the two key ceremonies that take the current unseal
 * inputs: rekey (new shares, threshold or passphrase for the same root key) and rotate-root (a new
 * root key). Health, status, init and unseal need no token (a sealed server cannot check one);
 * sealing needs the `seal` action on the system. A ceremony is started by a token allowed `unseal`
 * on the system; the holders then submit their inputs one at a time with the ceremony's nonce (no
 * token needed, as for unseal), and the last one runs it as the principal that started it.
 */
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { CeremonyKind, ServerContext } from '../server-context.js';
import { ErrorResponse } from '../http/schemas.js';
import { VERSION } from '../version.js';

const CeremonyStatus = Type.Object({
  kind: Type.String(),
  started: Type.Boolean(),
  nonce: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Integer({ description: 'Current unseal inputs received' }),
  required: Type.Integer({ description: 'Current unseal inputs needed' }),
  next: Type.Union([Type.Object({ shares: Type.Integer(), threshold: Type.Integer() }), Type.Null()]),
});
const CeremonyResult = Type.Object({
  ...CeremonyStatus.properties,
  complete: Type.Boolean(),
  shares: Type.Array(Type.String(), { description: 'The new unseal shares, once, when complete' }),
  rootVersion: Type.Union([Type.Integer(), Type.Null()]),
});
const CEREMONIES: readonly { kind: CeremonyKind; what: string }[] = [
  { kind: 'rekey', what: 'Rekey: new unseal shares, threshold or passphrase for the same root key' },
  { kind: 'rotate-root', what: 'Rotate the root key: a new root, every key-encryption key rewrapped' },
];

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
        summary:
          'Health for load balancers: 200 unsealed, 501 not initialised, 503 sealed (the status) or the database unreachable (an error: FX_STORAGE_UNAVAILABLE)',
        // On shared storage every request first checks the cluster's generations (server.ts): when
        // PostgreSQL is unreachable that check answers 503 FX_STORAGE_UNAVAILABLE — an error body,
        // which must fit this schema too, or the reply would become a serialization error (500).
        response: { 200: Status, 501: Status, 503: Type.Union([Status, ErrorResponse]) },
      },
    },
    async (_request, reply) => {
      await ctx.rejoin();
      const s = status();
      return reply.status(!s.initialized ? 501 : s.sealed ? 503 : 200).send(s);
    },
  );

  r.get(
    '/v1/sys/status',
    { schema: { tags: ['sys'], summary: 'Initialised? Sealed? Unseal progress', response: { 200: Status } } },
    async () => {
      await ctx.rejoin();
      return status();
    },
  );

  r.post(
    '/v1/sys/init',
    {
      schema: {
        tags: ['sys'],
        summary:
          'Create the root key, seal it, and return the unseal shares and a root token (once); seal, shares and threshold default to the configured seal.*',
        body: Type.Object(
          {
            seal: Type.Optional(
              Type.Union([
                Type.Literal('shamir'),
                Type.Literal('passphrase'),
                Type.Literal('pkcs11'),
                Type.Literal('dev-key-file'),
              ]),
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

  for (const { kind, what } of CEREMONIES) {
    r.get(
      `/v1/sys/${kind}`,
      {
        schema: {
          tags: ['sys'],
          summary: `${what}: the ceremony in progress`,
          response: { 200: CeremonyStatus, '4xx': ErrorResponse },
        },
      },
      async (request) => {
        await ctx.caller(request);
        return ctx.ceremonyStatus(kind);
      },
    );
    r.post(
      `/v1/sys/${kind}`,
      {
        schema: {
          tags: ['sys'],
          summary: `${what}: start (needs \`unseal\` on the system); holders then submit their inputs`,
          body: Type.Object(
            {
              shares: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
              threshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
              passphrase: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: CeremonyStatus, '4xx': ErrorResponse },
        },
      },
      async (request) => {
        const { session } = await ctx.caller(request);
        return ctx.beginCeremony(kind, session, request.body);
      },
    );
    r.post(
      `/v1/sys/${kind}/update`,
      {
        schema: {
          tags: ['sys'],
          summary: `${what}: submit one current unseal share (or the passphrase) with the nonce`,
          body: Type.Object(
            {
              nonce: Type.String({ minLength: 1, maxLength: 64 }),
              key: Type.String({ minLength: 1, maxLength: 4096 }),
            },
            { additionalProperties: false },
          ),
          response: { 200: CeremonyResult, '4xx': ErrorResponse },
        },
      },
      async (request) => {
        const result = await ctx.ceremonyUpdate(kind, request.body.nonce, request.body.key);
        return { ...result, shares: [...result.shares] };
      },
    );
    r.delete(
      `/v1/sys/${kind}`,
      {
        schema: {
          tags: ['sys'],
          summary: `${what}: cancel, forgetting the inputs received`,
          response: { 200: CeremonyStatus, '4xx': ErrorResponse },
        },
      },
      async (request) => {
        const { session } = await ctx.caller(request);
        return ctx.cancelCeremony(kind, session);
      },
    );
  }
}
