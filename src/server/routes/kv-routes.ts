/**
 * @module server/routes/kv-routes
 * `/v1/kv`: the versioned KV secrets engine, laid out as HashiCorp Vault's KV version 2 is (`data/`,
 * `metadata/`, `delete/`, `undelete/`, `destroy/`, plus `rollback/` and `config`), so a Vault user
 * finds each operation where they expect it. Field names are Fortress's (camelCase); durations are
 * milliseconds or a Vault-style string (`"30s"`, `"12h"`, `"7d"`). Each call is decided on the
 * secret's path by the caller's policies and recorded in the audit ledger (secrets-kv.ts).
 */
import { Type } from 'typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { SecretMetadata, SecretVersionInfo } from '../../secrets/kv/kv-engine.js';
import { FortressError } from '../../util/errors.js';
import type { ServerContext } from '../server-context.js';
import { Duration, durationMs, ErrorResponse } from '../http/schemas.js';

const Version = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const Versions = Type.Array(Version, { minItems: 1, maxItems: 1000 });
const Data = Type.Record(Type.String({ maxLength: 1024 }), Type.Unknown());
const WriteOptions = Type.Object(
  { cas: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })) },
  { additionalProperties: false },
);

const VersionInfo = Type.Object({
  version: Type.Integer(),
  createdTime: Type.String({ description: 'ISO 8601' }),
  deletionTime: Type.Union([Type.String(), Type.Null()], { description: 'ISO 8601, or null' }),
  destroyed: Type.Boolean(),
});
const Metadata = Type.Object({
  path: Type.String(),
  currentVersion: Type.Integer(),
  oldestVersion: Type.Integer(),
  maxVersions: Type.Integer({ description: '0: the engine setting' }),
  casRequired: Type.Boolean(),
  deleteVersionAfter: Type.Integer({ description: 'ms; 0: never (or the engine setting)' }),
  customMetadata: Type.Record(Type.String(), Type.String()),
  createdTime: Type.String(),
  updatedTime: Type.String(),
  versions: Type.Array(VersionInfo),
});
const Config = Type.Object({
  maxVersions: Type.Integer(),
  casRequired: Type.Boolean(),
  deleteVersionAfter: Type.Integer({ description: 'ms; 0: never' }),
});
const VersionsResult = Type.Object({ versions: Type.Array(Type.Integer()) });

/** A duration as milliseconds (the schema checked its form; the engine checks its range). */

/** The secret path of a wildcard route (`/v1/kv/data/apps/db` → `apps/db`). */
function pathOf(request: FastifyRequest): string {
  const path = (request.params as { '*'?: string })['*'] ?? '';
  return path;
}

function info(v: SecretVersionInfo) {
  return { ...v };
}

function metadataView(m: SecretMetadata) {
  return { ...m, versions: m.versions.map(info) };
}

export function kvRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['kv'];

  r.get(
    '/v1/kv/data/*',
    {
      schema: {
        tags,
        summary:
          'Read the latest version of a secret, or ?version=N; data is null once deleted or destroyed (readSecret)',
        querystring: Type.Object(
          { version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$', maxLength: 16 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            data: Type.Union([Data, Type.Null()]),
            metadata: Type.Object({
              ...VersionInfo.properties,
              customMetadata: Type.Record(Type.String(), Type.String()),
            }),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const version = request.query.version;
      return session.kv.get(pathOf(request), version === undefined ? {} : { version: Number(version) });
    },
  );

  const writeSchema = (summary: string) => ({
    tags,
    summary,
    body: Type.Object({ data: Data, options: Type.Optional(WriteOptions) }, { additionalProperties: false }),
    response: { 200: VersionInfo, '4xx': ErrorResponse },
  });
  for (const method of ['put', 'post'] as const) {
    r[method](
      '/v1/kv/data/*',
      {
        schema: writeSchema(
          'Write a new version of a secret; options.cas = 0 creates only, n writes only over version n (writeSecret)',
        ),
      },
      async (request) => {
        const { session } = await ctx.caller(request);
        return info(await session.kv.put(pathOf(request), request.body.data, request.body.options ?? {}));
      },
    );
  }

  r.patch(
    '/v1/kv/data/*',
    {
      schema: writeSchema(
        'Merge data into the current version (RFC 7386: null removes a member) as a new version (writeSecret)',
      ),
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return info(await session.kv.patch(pathOf(request), request.body.data, request.body.options ?? {}));
    },
  );

  r.delete(
    '/v1/kv/data/*',
    {
      schema: {
        tags,
        summary: 'Soft-delete the latest version (undelete restores it) (deleteSecret)',
        response: { 200: VersionsResult, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return { versions: await session.kv.delete(pathOf(request)) };
    },
  );

  const versionsRoute = (verb: 'delete' | 'undelete' | 'destroy', summary: string): void => {
    r.post(
      `/v1/kv/${verb}/*`,
      {
        schema: {
          tags,
          summary,
          body: Type.Object({ versions: Versions }, { additionalProperties: false }),
          response: { 200: VersionsResult, '4xx': ErrorResponse },
        },
      },
      async (request) => {
        const { session } = await ctx.caller(request);
        const path = pathOf(request);
        const versions = request.body.versions;
        return {
          versions:
            verb === 'delete'
              ? await session.kv.delete(path, versions)
              : verb === 'undelete'
                ? await session.kv.undelete(path, versions)
                : await session.kv.destroy(path, versions),
        };
      },
    );
  };
  versionsRoute('delete', 'Soft-delete versions (deleteSecret)');
  versionsRoute('undelete', 'Restore soft-deleted versions (deleteSecret)');
  versionsRoute('destroy', "Destroy versions' values for good (destroySecret)");

  r.get(
    '/v1/kv/metadata/*',
    {
      schema: {
        tags,
        summary:
          'A secret\'s metadata and versions (listSecrets); a folder (ending in "/", or the root) or ?list=true lists the secrets and sub-folders in it, a page at a time (listSecrets on the folder)',
        querystring: Type.Object(
          {
            list: Type.Optional(Type.Literal('true')),
            after: Type.Optional(Type.String({ minLength: 1, maxLength: 600 })),
            limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', maxLength: 4 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Union([
            Metadata,
            Type.Object({ keys: Type.Array(Type.String()), next: Type.Union([Type.String(), Type.Null()]) }),
          ]),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const path = pathOf(request);
      const { list, after, limit } = request.query;
      if (list === 'true' || path === '' || path.endsWith('/')) {
        const folder = path === '' || path.endsWith('/') ? path : `${path}/`;
        return session.kv.list(folder, {
          ...(after === undefined ? {} : { after }),
          ...(limit === undefined ? {} : { limit: Number(limit) }),
        });
      }
      if (after !== undefined || limit !== undefined) {
        throw new FortressError(
          'FX_REQUEST_INVALID',
          'after and limit apply to listings (a folder, or ?list=true)',
        );
      }
      return metadataView(await session.kv.metadata(path));
    },
  );

  // POST or PUT, as Vault takes either; fields left out keep their value (customMetadata, when
  // given, replaces the whole map).
  for (const method of ['post', 'put'] as const) {
    r[method](
      '/v1/kv/metadata/*',
      {
        schema: {
          tags,
          summary:
            "Set a secret's metadata: maxVersions, casRequired, deleteVersionAfter, customMetadata (writeSecret)",
          body: Type.Object(
            {
              maxVersions: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
              casRequired: Type.Optional(Type.Boolean()),
              deleteVersionAfter: Type.Optional(Duration),
              customMetadata: Type.Optional(Type.Record(Type.String(), Type.String())),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: Metadata, '4xx': ErrorResponse },
        },
      },
      async (request) => {
        const { session } = await ctx.caller(request);
        const { deleteVersionAfter, ...rest } = request.body;
        return metadataView(
          await session.kv.setMetadata(pathOf(request), {
            ...rest,
            ...(deleteVersionAfter === undefined
              ? {}
              : { deleteVersionAfter: durationMs(deleteVersionAfter) }),
          }),
        );
      },
    );
  }

  r.delete(
    '/v1/kv/metadata/*',
    {
      schema: {
        tags,
        summary: 'Remove a secret: every version (destroyed) and its metadata (destroySecret)',
        response: { 200: Type.Object({ deleted: Type.Boolean() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return { deleted: await session.kv.deleteAll(pathOf(request)) };
    },
  );

  r.post(
    '/v1/kv/rollback/*',
    {
      schema: {
        tags,
        summary: "Make a version's data current again, as a new version (writeSecret)",
        body: Type.Object(
          { version: Version, options: Type.Optional(WriteOptions) },
          { additionalProperties: false },
        ),
        response: { 200: VersionInfo, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return info(
        await session.kv.rollback(pathOf(request), request.body.version, request.body.options ?? {}),
      );
    },
  );

  r.get(
    '/v1/kv/config',
    {
      schema: {
        tags,
        summary: "The engine's settings for the tenant (configureSecrets)",
        response: { 200: Config, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return session.kv.config();
    },
  );

  r.post(
    '/v1/kv/config',
    {
      schema: {
        tags,
        summary:
          'Change the engine settings: maxVersions, casRequired, deleteVersionAfter (configureSecrets)',
        body: Type.Object(
          {
            maxVersions: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
            casRequired: Type.Optional(Type.Boolean()),
            deleteVersionAfter: Type.Optional(Duration),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Config, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const { deleteVersionAfter, ...rest } = request.body;
      return session.kv.configure({
        ...rest,
        ...(deleteVersionAfter === undefined ? {} : { deleteVersionAfter: durationMs(deleteVersionAfter) }),
      });
    },
  );
}
