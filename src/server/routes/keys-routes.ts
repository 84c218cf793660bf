/**
 * @module server/routes/keys-routes
 * `/v1/keys` and `/v1/jobs`: the keyring's metadata (never a key's bytes), rotation and its
 * schedule, the minimum decryption version, crypto-shredding, disaster-recovery export (encrypted
 * to a recipient's public key and signed), re-encryption of a table under fresh key versions, and
 * the background jobs that do it. Each key operation is decided on the key's entity — a tenant's
 * key (`Key <tenant>/<name>`) or one of Fortress's own (`fortress/…`, a system key of tenant `*`),
 * as policy sessions name them — and recorded in the audit ledger as the caller.
 */
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Fortress } from '../../fortress.js';
import type { PolicySession } from '../../policy-session.js';
import type { EntityRef } from '../../policy/authorizer/authorizer.js';
import { SYSTEM_TENANT } from '../../policy/schema/fortress-schema.js';
import type { JobProgress } from '../../engine/jobs/job.js';
import type { KeyInfo } from '../../keys/key-manager.js';
import { KEY_NAME_RE } from '../../keys/store/records.js';
import { HYBRID_PUBLIC_KEY_BYTES } from '../../crypto/hybrid/hybrid-kem.js';
import { FortressError } from '../../util/errors.js';
import type { ServerContext } from '../server-context.js';
import { ErrorResponse, Name } from '../http/schemas.js';

/** Fortress's own keys (the audit ledger's, …): system resources, as `PolicySession` decides them. */
const SYSTEM_KEY_PREFIX = 'fortress/';
const MAX_VERSION = 0xffff_ffff;
const DEFAULT_VERSIONS_PAGE = 100;
const MAX_VERSIONS_PAGE = 1000;

const KeyName = Type.String({ minLength: 1, maxLength: 256, pattern: KEY_NAME_RE.source });
const KeyParams = Type.Object({ name: KeyName });
/** `parseRotationPeriod`'s syntax; its range (1 hour to 10 years) is the key manager's to check. */
const RotationPeriod = Type.String({
  pattern: '^[0-9]{1,6}[mhdw]$',
  maxLength: 7,
  description: 'A number and a unit m, h, d or w, e.g. "30d"; from 1 hour to 10 years',
});
/** A decimal without sign or leading zeros (query strings and paths are text: no lenient coercion). */
const Count = (description: string) =>
  Type.String({ pattern: '^[1-9][0-9]{0,9}$', maxLength: 10, description });

const KeyView = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  purpose: Type.String(),
  algorithm: Type.String(),
  parentId: Type.Union([Type.Integer(), Type.Null()]),
  activeVersion: Type.Integer(),
  latestVersion: Type.Integer(),
  minDecryptionVersion: Type.Integer(),
  rotationPeriod: Type.Union([Type.String(), Type.Null()], { description: 'e.g. "30d", or null' }),
  createdAt: Type.String({ description: 'ISO 8601' }),
  rotatedAt: Type.String({ description: 'ISO 8601' }),
  system: Type.Boolean({ description: "One of Fortress's own keys (fortress/…)" }),
});

const VersionView = Type.Object({
  version: Type.Integer(),
  state: Type.String({ description: 'active, decrypt-only, retired or destroyed' }),
  createdAt: Type.String({ description: 'ISO 8601' }),
  encryptions: Type.Integer(),
});

const JobView = Type.Object({
  id: Type.Integer(),
  kind: Type.String(),
  table: Type.String(),
  state: Type.String({ description: 'running, paused, done or failed' }),
  processed: Type.Integer(),
  total: Type.Integer(),
  rewritten: Type.Integer(),
  percent: Type.Number(),
  rowsPerSecond: Type.Number(),
  etaMs: Type.Union([Type.Number(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
});

/** Metadata only: a key record holds no key bytes (versions are stored wrapped, elsewhere). */
function keyView(info: KeyInfo) {
  return {
    id: info.id,
    name: info.name,
    purpose: info.purpose,
    algorithm: info.algorithm,
    parentId: info.parentId,
    activeVersion: info.activeVersion,
    latestVersion: info.latestVersion,
    minDecryptionVersion: info.minDecryptionVersion,
    rotationPeriod: info.rotationPeriod,
    createdAt: info.createdAt,
    rotatedAt: info.rotatedAt,
    system: info.name.startsWith(SYSTEM_KEY_PREFIX),
  };
}

function jobView(progress: JobProgress) {
  return { ...progress };
}

/** The Key entity a session decides key operations on (mirrors `PolicySession`'s own mapping). */
function keyRef(db: Fortress, name: string): EntityRef {
  const tenant = name.startsWith(SYSTEM_KEY_PREFIX) ? SYSTEM_TENANT : db.access.tenant;
  return { type: 'Key', id: `${tenant}/${name}` };
}

/** A recipient public key: base64 of its bytes, or the `fortress keys recipient` .pub text. */
function recipientBytes(text: string): Uint8Array {
  const tagged = /^fortress-backup-recipient-v1:([0-9a-f]+)\s*$/.exec(text);
  const bytes = tagged === null ? Buffer.from(text, 'base64') : Buffer.from(tagged[1]!, 'hex');
  const canonical = tagged === null ? bytes.toString('base64') === text.trim() : true;
  if (!canonical || bytes.length !== HYBRID_PUBLIC_KEY_BYTES) {
    throw new FortressError(
      'FX_REQUEST_INVALID',
      `recipient: expected a backup recipient public key (${HYBRID_PUBLIC_KEY_BYTES} bytes as base64, or the fortress-backup-recipient-v1 text of \`fortress keys recipient\`)`,
    );
  }
  return new Uint8Array(bytes);
}

/** A job the session may see: one on a table it may read (others do not exist for it). */
function visibleJob(session: PolicySession, job: JobProgress): boolean {
  return session.decide('read', session.tableRef(job.table)).allowed;
}

export function keysRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/v1/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'Keys the caller may administer (rotateKey on the key); metadata only, never key bytes',
        response: { 200: Type.Object({ keys: Type.Array(KeyView) }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const db = ctx.unsealed();
      const keys = db.keys
        .listKeys()
        .filter((k) => session.decide('rotateKey', keyRef(db, k.name)).allowed)
        .map(keyView);
      return { keys };
    },
  );

  r.get(
    '/v1/keys/:name',
    {
      schema: {
        tags: ['keys'],
        summary: 'A key and a page of its versions (rotateKey on the key)',
        params: KeyParams,
        querystring: Type.Object(
          {
            from: Type.Optional(Count('First version to list (default 1)')),
            limit: Type.Optional(Count(`Versions per page, at most ${MAX_VERSIONS_PAGE} (default 100)`)),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            key: KeyView,
            versions: Type.Array(VersionView),
            next: Type.Union([Type.Integer(), Type.Null()], {
              description: 'The `from` of the next page, or null on the last',
            }),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const db = ctx.unsealed();
      const { name } = request.params;
      const limit = Number(request.query.limit ?? DEFAULT_VERSIONS_PAGE);
      if (limit > MAX_VERSIONS_PAGE) {
        throw new FortressError('FX_REQUEST_INVALID', `limit: at most ${MAX_VERSIONS_PAGE}`);
      }
      const from = Number(request.query.from ?? 1);
      // Decided before the key is looked up: a caller who may not see a key learns nothing of it.
      await session.require('rotateKey', keyRef(db, name), 'key.describe');
      const key = db.keys.getKey(name);
      // One more than asked for says whether there is a next page.
      const page = await db.keys.listVersions(name, { fromVersion: from, limit: limit + 1 });
      const more = page.length > limit;
      const versions = page.slice(0, limit).map((v) => ({
        version: v.version,
        state: v.state,
        createdAt: v.createdAt,
        encryptions: v.encryptions,
      }));
      return { key: keyView(key), versions, next: more ? versions[versions.length - 1]!.version + 1 : null };
    },
  );

  r.post(
    '/v1/keys/:name/rotate',
    {
      schema: {
        tags: ['keys'],
        summary: 'A new active version; older versions decrypt only (rotateKey on the key)',
        params: KeyParams,
        response: { 200: Type.Object({ key: KeyView }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return { key: keyView(await session.rotateKey(request.params.name)) };
    },
  );

  r.post(
    '/v1/keys/:name/config',
    {
      schema: {
        tags: ['keys'],
        summary:
          'Set the minimum decryption version (older versions refuse to decrypt; reversible until destroyed) and/or the automatic rotation period (null turns it off) (rotateKey on the key)',
        params: KeyParams,
        body: Type.Object(
          {
            minDecryptionVersion: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_VERSION })),
            rotationPeriod: Type.Optional(
              Type.Union([RotationPeriod, Type.Null()], { description: 'null turns scheduled rotation off' }),
            ),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Type.Object({ key: KeyView }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      // Each change is recorded by the session's key manager as the caller, with its policies.
      return { key: keyView(await session.configureKey(request.params.name, request.body)) };
    },
  );

  r.post(
    '/v1/keys/:name/destroy',
    {
      schema: {
        tags: ['keys'],
        summary:
          'Crypto-shred one version ({ version }) or the whole key ({ all: true }); irreversible (destroyKey on the key)',
        params: KeyParams,
        body: Type.Union([
          Type.Object(
            { version: Type.Integer({ minimum: 1, maximum: MAX_VERSION }) },
            { additionalProperties: false },
          ),
          Type.Object({ all: Type.Literal(true) }, { additionalProperties: false }),
        ]),
        response: {
          200: Type.Object({
            destroyed: Type.Array(
              Type.Object({
                keyId: Type.Integer(),
                version: Type.Integer(),
                encryptions: Type.Integer({ description: 'Encryptions made under the version' }),
              }),
            ),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      const which = 'all' in body ? { all: true as const } : { version: body.version };
      const results = await session.destroyKey(request.params.name, which);
      return {
        destroyed: results.map((d) => ({ keyId: d.keyId, version: d.version, encryptions: d.encryptions })),
      };
    },
  );

  r.post(
    '/v1/keys/export',
    {
      schema: {
        tags: ['keys'],
        summary:
          'A disaster-recovery backup of every key, encrypted to a recipient public key and signed (exportKey on the tenant)',
        body: Type.Object(
          {
            recipient: Type.String({
              minLength: 1,
              maxLength: 4096,
              description: 'base64 public key, or the fortress-backup-recipient-v1 text',
            }),
            label: Type.Optional(Type.String({ maxLength: 256 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            backup: Type.String({ description: 'The backup file, base64' }),
            signers: Type.Object(
              { ed25519: Type.String(), mlDsa65: Type.String() },
              { description: 'Signer public keys, hex (what BACKUP.signers.json holds)' },
            ),
            keys: Type.Integer(),
            versions: Type.Integer(),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const recipient = recipientBytes(request.body.recipient);
      const label = request.body.label;
      const result = await session.exportKeys({ recipient, ...(label === undefined ? {} : { label }) });
      return {
        backup: Buffer.from(result.backup).toString('base64'),
        signers: {
          ed25519: Buffer.from(result.signers.ed25519).toString('hex'),
          mlDsa65: Buffer.from(result.signers.mlDsa65).toString('hex'),
        },
        keys: result.keys,
        versions: result.versions,
      };
    },
  );

  r.post(
    '/v1/db/tables/:table/rotate',
    {
      schema: {
        tags: ['keys'],
        summary:
          "Rotate a table's data keys and re-encrypt its values in a background job (rotateKey on the table)",
        params: Type.Object({ table: Name }),
        response: { 200: Type.Object({ job: JobView }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const schema = ctx.unsealed().describeTable(request.params.table);
      const job = await session.rotateTableKeys(schema.name);
      return { job: jobView(job.progress) };
    },
  );

  r.get(
    '/v1/jobs',
    {
      schema: {
        tags: ['keys'],
        summary: 'Background jobs on tables the caller may read',
        response: { 200: Type.Object({ jobs: Type.Array(JobView) }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const jobs = ctx
        .unsealed()
        .jobs()
        .filter((j) => visibleJob(session, j))
        .map(jobView);
      return { jobs };
    },
  );

  r.get(
    '/v1/jobs/:id',
    {
      schema: {
        tags: ['keys'],
        summary: "A job's progress (404 unless it is on a table the caller may read)",
        params: Type.Object({ id: Count('Job id') }),
        response: { 200: JobView, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const id = Number(request.params.id);
      const progress = await ctx.unsealed().jobProgress(id);
      if (!visibleJob(session, progress)) throw new FortressError('FX_JOB_NOT_FOUND', `no job ${id}`);
      return jobView(progress);
    },
  );
}
