/**
 * @module server/routes/audit-routes
 * `/v1/audit`: read the ledger (tail, search), digest a value the way entries hold it (to search
 * for it), sign a checkpoint, fetch the latest one, prove an entry's inclusion (a C2SP tlog-proof)
 * or two tree sizes' consistency, and verify the whole ledger. Every route first asks the caller's
 * session for the ledger (`readAudit` on the tenant's audit log; a refusal is recorded), and the
 * searches, digests, checkpoints and proofs are themselves recorded (`audit.*`).
 *
 * Tenant isolation holds in the ledger too: a caller sees only entries whose principal and
 * resource belong to its own tenant; entries that name no tenant (the system's) are shown to the
 * database's own tenant only. An entry the caller may not see does not exist for it, in proofs too.
 */
import { Type, type Static } from 'typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { decodeAuditEntry, type AuditEntry } from '../../audit/entry/audit-entry.js';
import type { AuditQuery, StoredCheckpoint } from '../../audit/ledger/audit-ledger.js';
import { formatTlogProof } from '../../audit/note/tlog-proof.js';
import type { AuditHandle } from '../../audit-handle.js';
import { SYSTEM_TENANT } from '../../policy/schema/fortress-schema.js';
import { AuditError, FortressError } from '../../util/errors.js';
import type { ServerContext } from '../server-context.js';
import { ErrorResponse } from '../http/schemas.js';

const MAX_ENTRIES = 1000;
const DEFAULT_TAIL = 20;

/** Entry numbers and sizes: decimals without sign or leading zeros (query strings are text). */
const Seq = (description: string) =>
  Type.String({ pattern: '^(0|[1-9][0-9]{0,15})$', maxLength: 16, description });
const Count = (description: string) =>
  Type.String({ pattern: '^[1-9][0-9]{0,3}$', maxLength: 4, description });
/** Text filters: no control characters (they would forge lines in text exports). */
const Text = (description: string) =>
  Type.String({ minLength: 1, maxLength: 1024, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description });
const Time = (description: string) =>
  Type.String({
    maxLength: 40,
    pattern:
      '^([0-9]{1,15}|[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?)$',
    description: `${description}: ms since the epoch, or ISO 8601 (2026-01-31, 2026-01-31T09:30:00Z)`,
  });

const SearchQuery = Type.Object(
  {
    principal: Type.Optional(Text('type:id@tenant, or a prefix ending in ":" or "@"')),
    action: Type.Optional(
      Type.String({
        maxLength: 512,
        pattern: '^[a-z][a-zA-Z0-9]*(\\.[a-z][a-zA-Z0-9]*)*\\.?$',
        description: 'An action (table.get) or a prefix ending in "." (key.)',
      }),
    ),
    resource: Type.Optional(Text('A resource path prefix: tenant/database/table[/column] or key:<name>')),
    decision: Type.Optional(Type.Union([Type.Literal('allow'), Type.Literal('deny')])),
    outcome: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('error')])),
    since: Type.Optional(Time('Entries at or after')),
    until: Type.Optional(Time('Entries at or before')),
    fromSeq: Type.Optional(Seq('First entry number')),
    toSeq: Type.Optional(Seq('Last entry number')),
    digest: Type.Optional(
      Type.String({
        pattern: '^(hmac-sha256|sha256):[0-9a-f]{64}$',
        description: 'A digest from POST /v1/audit/hash, found anywhere in the entry',
      }),
    ),
    newestFirst: Type.Optional(Type.Boolean()),
    limit: Type.Optional(Count(`At most this many entries (≤ ${MAX_ENTRIES}; default ${MAX_ENTRIES})`)),
  },
  { additionalProperties: false },
);

const EntryView = Type.Object({
  v: Type.Integer(),
  seq: Type.Integer(),
  time: Type.String({ description: 'RFC 3339 UTC' }),
  principal: Type.Object({ type: Type.String(), id: Type.String(), tenant: Type.String() }),
  action: Type.String(),
  resource: Type.Object({
    type: Type.String(),
    tenant: Type.Optional(Type.String()),
    database: Type.Optional(Type.String()),
    table: Type.Optional(Type.String()),
    column: Type.Optional(Type.String()),
    key: Type.Optional(Type.String()),
    path: Type.Optional(
      Type.String({ description: 'A secret, with its engine: kv:apps/db, transit:orders' }),
    ),
  }),
  decision: Type.Object({ effect: Type.String(), policies: Type.Array(Type.String()) }),
  outcome: Type.Object({ status: Type.String(), code: Type.Optional(Type.String()) }),
  requestId: Type.String(),
  client: Type.Union([Type.String(), Type.Null()]),
  request: Type.String({ description: 'sha256 of the canonical request' }),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
const Entries = Type.Object({
  entries: Type.Array(EntryView),
  more: Type.Boolean({ description: 'More entries match than were returned' }),
});
const CheckpointView = Type.Object({
  size: Type.Integer(),
  rootHash: Type.String({ description: 'base64' }),
  time: Type.String({ description: 'ISO 8601' }),
  note: Type.String({ description: 'The signed C2SP checkpoint note, verbatim' }),
});

/**
 * Whether `tenant`'s principals may see `entry`: every tenant it names must be theirs; an entry that
 * names none (a system entry) is for the database's own tenant (`homeTenant`) only.
 */
export function auditEntryVisible(entry: AuditEntry, tenant: string, homeTenant: string): boolean {
  const named = [entry.principal.tenant, entry.resource.tenant].filter(
    (t): t is string => t !== undefined && t !== '' && t !== SYSTEM_TENANT,
  );
  return named.length === 0 ? tenant === homeTenant : named.every((t) => t === tenant);
}

/** ISO 8601 or epoch milliseconds (the schema has checked the form). */
function timeOf(text: string, what: string): number {
  const ms = /^[0-9]+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new FortressError('FX_REQUEST_INVALID', `${what}: not a valid time`);
  }
  return ms;
}

/** The ledger query of the search parameters (the checks of `fortress audit search`). */
function queryOf(q: Static<typeof SearchQuery>): AuditQuery {
  const query: { -readonly [K in keyof AuditQuery]: AuditQuery[K] } = {};
  if (q.principal !== undefined) query.principal = q.principal;
  if (q.action !== undefined) query.action = q.action;
  if (q.resource !== undefined) query.resource = q.resource.replace(/\/+$/, '');
  if (q.decision !== undefined) query.decision = q.decision;
  if (q.outcome !== undefined) query.outcome = q.outcome;
  if (q.since !== undefined) query.since = timeOf(q.since, 'since');
  if (q.until !== undefined) query.until = timeOf(q.until, 'until');
  if (query.since !== undefined && query.until !== undefined && query.since > query.until) {
    throw new FortressError('FX_REQUEST_INVALID', 'since is after until: no entry can match');
  }
  if (q.fromSeq !== undefined) query.fromSeq = Number(q.fromSeq);
  if (q.toSeq !== undefined) query.toSeq = Number(q.toSeq);
  if (query.fromSeq !== undefined && query.toSeq !== undefined && query.fromSeq > query.toSeq) {
    throw new FortressError('FX_REQUEST_INVALID', 'fromSeq is greater than toSeq: no entry can match');
  }
  if (q.digest !== undefined) query.digest = q.digest;
  if (q.newestFirst !== undefined) query.newestFirst = q.newestFirst;
  return query;
}

function checkpointView(c: StoredCheckpoint): Static<typeof CheckpointView> {
  return {
    size: c.size,
    rootHash: Buffer.from(c.rootHash).toString('base64'),
    time: new Date(c.time).toISOString(),
    note: c.note,
  };
}

export function auditRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  /** The ledger as the caller may read it (`readAudit`), and which entries are theirs to see. */
  const open = async (
    request: FastifyRequest,
  ): Promise<{ audit: AuditHandle; visible: (entry: AuditEntry) => boolean }> => {
    const { session } = await ctx.caller(request);
    const audit = await session.readAudit();
    const home = ctx.unsealed().access.tenant;
    return { audit, visible: (entry) => auditEntryVisible(entry, session.tenant, home) };
  };

  /** Up to `limit` visible entries of `query` (entries the caller may not see are skipped, not counted). */
  const collect = async (
    audit: AuditHandle,
    visible: (entry: AuditEntry) => boolean,
    query: AuditQuery,
    limit: number,
  ): Promise<{ entries: AuditEntry[]; more: boolean }> => {
    const entries: AuditEntry[] = [];
    for await (const entry of audit.entries(query)) {
      if (!visible(entry)) continue;
      if (entries.length === limit) return { entries, more: true };
      entries.push(entry);
    }
    return { entries, more: false };
  };

  r.get(
    '/v1/audit/tail',
    {
      schema: {
        tags: ['audit'],
        summary: `The newest n entries, oldest first (readAudit; n ≤ ${MAX_ENTRIES}, default ${DEFAULT_TAIL})`,
        querystring: Type.Object(
          { n: Type.Optional(Count('How many entries')) },
          { additionalProperties: false },
        ),
        response: { 200: Entries, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { audit, visible } = await open(request);
      const n = Number(request.query.n ?? DEFAULT_TAIL);
      if (n > MAX_ENTRIES) throw new FortressError('FX_REQUEST_INVALID', `n: at most ${MAX_ENTRIES}`);
      const { entries, more } = await collect(audit, visible, { newestFirst: true }, n);
      return { entries: entries.reverse(), more };
    },
  );

  r.get(
    '/v1/audit/search',
    {
      schema: {
        tags: ['audit'],
        summary: 'Entries matching every filter given, oldest first unless newestFirst (readAudit)',
        querystring: SearchQuery,
        response: { 200: Entries, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { audit, visible } = await open(request);
      const limit = Number(request.query.limit ?? MAX_ENTRIES);
      if (limit > MAX_ENTRIES) throw new FortressError('FX_REQUEST_INVALID', `limit: at most ${MAX_ENTRIES}`);
      const query = queryOf(request.query);
      return collect(audit, visible, query, limit);
    },
  );

  r.post(
    '/v1/audit/hash',
    {
      schema: {
        tags: ['audit'],
        summary:
          'The keyed digest entries hold for a value, to search for it (readAudit; a POST, so the value is in no URL)',
        body: Type.Object(
          {
            value: Type.Union([Type.String({ maxLength: 64 * 1024 }), Type.Number(), Type.Boolean()]),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ digest: Type.String() }), '4xx': ErrorResponse },
      },
      config: { sensitiveBody: true },
    },
    async (request) => {
      const { audit } = await open(request);
      return { digest: audit.hash(request.body.value) };
    },
  );

  r.post(
    '/v1/audit/checkpoint',
    {
      schema: {
        tags: ['audit'],
        summary: 'Sign a checkpoint of the ledger now (the latest one if nothing changed) (readAudit)',
        response: { 200: CheckpointView, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { audit } = await open(request);
      return checkpointView(await audit.checkpoint());
    },
  );

  r.get(
    '/v1/audit/checkpoint',
    {
      schema: {
        tags: ['audit'],
        summary: 'The latest signed checkpoint (404 before the first) (readAudit)',
        response: { 200: CheckpointView, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { audit } = await open(request);
      const latest = await audit.latestCheckpoint();
      if (latest === null) throw new AuditError('FX_AUDIT_NOT_FOUND', 'no checkpoint has been signed yet');
      return checkpointView(latest);
    },
  );

  r.get(
    '/v1/audit/proof/:seq',
    {
      schema: {
        tags: ['audit'],
        summary:
          "Entry seq's inclusion proof as a C2SP tlog-proof (text/plain), the entry in its extra line (readAudit)",
        params: Type.Object({ seq: Seq('Entry number') }),
        response: {
          200: Type.String({ description: 'c2sp.org/tlog-proof@v1 text' }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const { audit, visible } = await open(request);
      const seq = Number(request.params.seq);
      const evidence = await audit.proveInclusion(seq);
      // The proof carries the entry: another tenant's is not there to prove. (An archived entry's
      // proof carries none, so it shows nothing of it.)
      if (evidence.entry !== null && !visible(decodeAuditEntry(evidence.entry))) {
        throw new AuditError('FX_AUDIT_NOT_FOUND', `no entry ${seq}`);
      }
      const proof = formatTlogProof({
        index: seq,
        proof: evidence.proof,
        checkpointNote: evidence.checkpoint.note,
        ...(evidence.entry === null ? {} : { extra: evidence.entry }),
      });
      return reply.type('text/plain; charset=utf-8').send(proof);
    },
  );

  r.get(
    '/v1/audit/consistency',
    {
      schema: {
        tags: ['audit'],
        summary: 'The consistency proof between tree sizes from and to (0 < from ≤ to) (readAudit)',
        querystring: Type.Object(
          { from: Seq('The older tree size'), to: Seq('The newer tree size') },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            from: Type.Integer(),
            to: Type.Integer(),
            proof: Type.Array(Type.String({ description: 'base64 hash' })),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { audit } = await open(request);
      const from = Number(request.query.from);
      const to = Number(request.query.to);
      if (from < 1 || from > to) {
        throw new FortressError('FX_REQUEST_INVALID', 'expected 0 < from ≤ to');
      }
      const proof = await audit.proveConsistency(from, to);
      return { from, to, proof: proof.map((h) => Buffer.from(h).toString('base64')) };
    },
  );

  r.post(
    '/v1/audit/verify',
    {
      schema: {
        tags: ['audit'],
        summary:
          'Verify the whole ledger: entries re-hashed, the Merkle tree recomputed, every checkpoint signature checked (readAudit)',
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            origin: Type.String(),
            size: Type.Integer(),
            entriesChecked: Type.Integer(),
            archivedByHashOnly: Type.Integer(),
            nodesChecked: Type.Integer(),
            checkpointsChecked: Type.Integer(),
            uncheckpointed: Type.Integer(),
            root: Type.String({ description: 'base64' }),
            problem: Type.Union([
              Type.Object({
                seq: Type.Optional(Type.Integer()),
                checkpoint: Type.Optional(Type.Integer()),
                message: Type.String(),
              }),
              Type.Null(),
            ]),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { audit } = await open(request);
      return audit.verify();
    },
  );
}
