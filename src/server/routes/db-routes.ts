/**
 * @module server/routes/db-routes
 * `/v1/db`: tables (create, describe, alter, drop), rows (insert one or a batch, get, find, count,
 * update, delete), transactions as a batch of operations, and streamed import / export (NDJSON or
 * CSV). Every call runs in the policy session of the caller's token: decided by policy, masked per
 * column, confined to the rows the principal's label may read, and audited as that principal.
 */
import { Readable } from 'node:stream';
import { Type, type Static } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { GuardedTable, PolicySession } from '../../policy-session.js';
import type { StoredTable, TableDefinition, ColumnDefinition } from '../../engine/schema/table-schema.js';
import { FortressError } from '../../util/errors.js';
import type { ServerContext } from '../server-context.js';
import { ErrorResponse, Name, Row } from '../http/schemas.js';
import { ndjsonValues } from '../http/ndjson.js';
import { rowIn, rowOut, whereIn } from '../http/row-codec.js';
import { csvHeader, csvLine, parseCsvRecords } from '../http/csv.js';

type AnyRow = Record<string, unknown>;

const TableParams = Type.Object({ table: Name });
const RowParams = Type.Object({ table: Name, key: Type.String({ minLength: 1, maxLength: 1024 }) });
const Select = Type.Array(Name, { maxItems: 1000 });
const FindBody = Type.Object(
  {
    where: Type.Optional(Type.Unknown()),
    orderBy: Type.Optional(Type.Unknown()),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
    select: Type.Optional(Select),
    scan: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const Operation = Type.Union([
  Type.Object({ op: Type.Literal('insert'), table: Name, row: Row }, { additionalProperties: false }),
  Type.Object(
    {
      op: Type.Literal('update'),
      table: Name,
      key: Type.Union([Type.String(), Type.Integer()]),
      changes: Row,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { op: Type.Literal('delete'), table: Name, key: Type.Union([Type.String(), Type.Integer()]) },
    { additionalProperties: false },
  ),
  Type.Object(
    { op: Type.Literal('get'), table: Name, key: Type.Union([Type.String(), Type.Integer()]) },
    { additionalProperties: false },
  ),
]);

/** Rows a find returns at most when no limit is given (a server never answers unboundedly). */
export const DEFAULT_FIND_LIMIT = 1000;
const EXPORT_PAGE = 500;
const IMPORT_BATCH = 500;

function keyOf(schema: StoredTable, raw: string | number): string | number {
  const pk = schema.columns.find((c) => c.primaryKey)!;
  if (pk.type !== 'integer' || typeof raw === 'number') return raw;
  if (!/^-?\d{1,16}$/.test(raw)) {
    throw new FortressError('FX_TYPE_MISMATCH', `the primary key of ${schema.name} is an integer`);
  }
  return Number(raw);
}

/** Guarded table handles per session and schema version (plans and decisions stay cached in them). */
class Handles {
  readonly #cache = new WeakMap<PolicySession, Map<string, { version: number; table: GuardedTable }>>();

  /** The session's handle on `schema`'s table, made anew when the schema's version moved. */
  get(session: PolicySession, schema: StoredTable): GuardedTable {
    const name = schema.name;
    let tables = this.#cache.get(session);
    if (tables === undefined) {
      tables = new Map();
      this.#cache.set(session, tables);
    }
    const hit = tables.get(name);
    if (hit?.version === schema.version) return hit.table;
    const table = session.table(name);
    if (tables.size > 1000) tables.clear();
    tables.set(name, { version: schema.version, table });
    return table;
  }
}

export function dbRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const handles = new Handles();
  const open = async (request: Parameters<ServerContext['caller']>[0], name: string) => {
    const { session } = await ctx.caller(request);
    const schema = ctx.unsealed().describeTable(name);
    return { session, schema, table: handles.get(session, schema) };
  };

  r.get(
    '/v1/db/tables',
    {
      schema: {
        tags: ['db'],
        summary: 'Tables the caller may read',
        response: { 200: Type.Object({ tables: Type.Array(Type.String()) }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const tables = ctx
        .unsealed()
        .listTables()
        .filter((t) => session.decide('read', session.tableRef(t)).allowed);
      return { tables };
    },
  );

  r.post(
    '/v1/db/tables',
    {
      schema: {
        tags: ['db'],
        summary: 'Create a table (createTable on the database)',
        body: Type.Object(
          { name: Name, definition: Type.Record(Type.String(), Type.Unknown()) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ table: Type.Unknown() }), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.createTable(request.body.name, request.body.definition as unknown as TableDefinition);
      return reply.status(201).send({ table: ctx.unsealed().describeTable(request.body.name) });
    },
  );

  r.get(
    '/v1/db/tables/:table',
    {
      schema: {
        tags: ['db'],
        summary: "A table's schema (read on the table)",
        params: TableParams,
        response: { 200: Type.Object({ table: Type.Unknown() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const db = ctx.unsealed();
      const schema = db.describeTable(request.params.table);
      await session.require('read', session.tableRef(schema.name), 'schema.describeTable', schema.name);
      return { table: schema };
    },
  );

  r.delete(
    '/v1/db/tables/:table',
    {
      schema: {
        tags: ['db'],
        summary: 'Drop a table (dropTable)',
        params: TableParams,
        response: { 204: Type.Null(), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.dropTable(request.params.table);
      return reply.status(204).send(null);
    },
  );

  r.post(
    '/v1/db/tables/:table/columns',
    {
      schema: {
        tags: ['db'],
        summary: 'Add a column (alterTable)',
        params: TableParams,
        body: Type.Object(
          { name: Name, definition: Type.Record(Type.String(), Type.Unknown()) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ table: Type.Unknown() }), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.addColumn(
        request.params.table,
        request.body.name,
        request.body.definition as unknown as ColumnDefinition,
      );
      return reply.status(201).send({ table: ctx.unsealed().describeTable(request.params.table) });
    },
  );

  r.delete(
    '/v1/db/tables/:table/columns/:column',
    {
      schema: {
        tags: ['db'],
        summary: 'Drop a column (alterTable); its values are erased by a background job',
        params: Type.Object({ table: Name, column: Name }),
        response: {
          200: Type.Object({ job: Type.Union([Type.Integer(), Type.Null()]) }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const job = await session.dropColumn(request.params.table, request.params.column);
      return { job: job === null ? null : job.id };
    },
  );

  r.post(
    '/v1/db/tables/:table/rows',
    {
      schema: {
        tags: ['db'],
        summary: 'Insert one row ({ row }) or a batch ({ rows }, atomically)',
        params: TableParams,
        body: Type.Union([
          Type.Object({ row: Row }, { additionalProperties: false }),
          Type.Object(
            { rows: Type.Array(Row, { minItems: 1, maxItems: 10_000 }) },
            { additionalProperties: false },
          ),
        ]),
        response: {
          201: Type.Union([Type.Object({ row: Row }), Type.Object({ rows: Type.Array(Row) })]),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const { schema, table } = await open(request, request.params.table);
      const body = request.body;
      if ('row' in body) {
        return reply.status(201).send({ row: rowOut(await table.insert(rowIn(schema, body.row))) });
      }
      const rows = await table.insertMany(body.rows.map((row) => rowIn(schema, row)));
      return reply.status(201).send({ rows: rows.map(rowOut) });
    },
  );

  r.get(
    '/v1/db/tables/:table/rows/:key',
    {
      schema: {
        tags: ['db'],
        summary: 'One row by primary key (404 when there is none the caller may see)',
        params: RowParams,
        querystring: Type.Object(
          { select: Type.Optional(Type.String({ maxLength: 10_000 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ row: Row }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { schema, table } = await open(request, request.params.table);
      const select = request.query.select?.split(',');
      const row = await table.get(keyOf(schema, request.params.key), select === undefined ? {} : { select });
      if (row === undefined) throw new FortressError('FX_ROW_NOT_FOUND', `no such row in ${schema.name}`);
      return { row: rowOut(row) };
    },
  );

  r.post(
    '/v1/db/tables/:table/find',
    {
      schema: {
        tags: ['db'],
        summary: `Rows matching a filter (the engine's query model as JSON; at most ${DEFAULT_FIND_LIMIT} unless limit says)`,
        params: TableParams,
        body: FindBody,
        response: { 200: Type.Object({ rows: Type.Array(Row) }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { schema, table } = await open(request, request.params.table);
      const body = request.body;
      const rows = await table.find({
        ...(body.where === undefined ? {} : { where: whereIn(schema, body.where) as never }),
        ...(body.orderBy === undefined ? {} : { orderBy: body.orderBy as never }),
        ...(body.select === undefined ? {} : { select: body.select }),
        ...(body.scan === undefined ? {} : { scan: body.scan }),
        limit: body.limit ?? DEFAULT_FIND_LIMIT,
      });
      return { rows: rows.map(rowOut) };
    },
  );

  r.post(
    '/v1/db/tables/:table/count',
    {
      schema: {
        tags: ['db'],
        summary: 'How many rows the caller may see match a filter',
        params: TableParams,
        body: Type.Object(
          { where: Type.Optional(Type.Unknown()), scan: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ count: Type.Integer() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { schema, table } = await open(request, request.params.table);
      const count = await table.count({
        ...(request.body.where === undefined ? {} : { where: whereIn(schema, request.body.where) as never }),
        ...(request.body.scan === undefined ? {} : { scan: request.body.scan }),
      });
      return { count };
    },
  );

  r.patch(
    '/v1/db/tables/:table/rows/:key',
    {
      schema: {
        tags: ['db'],
        summary: 'Change some columns of a row',
        params: RowParams,
        body: Type.Object({ changes: Row }, { additionalProperties: false }),
        response: { 204: Type.Null(), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { schema, table } = await open(request, request.params.table);
      await table.update(keyOf(schema, request.params.key), rowIn(schema, request.body.changes));
      return reply.status(204).send(null);
    },
  );

  r.delete(
    '/v1/db/tables/:table/rows/:key',
    {
      schema: {
        tags: ['db'],
        summary: 'Delete a row (404 when there is none the caller may see)',
        params: RowParams,
        response: { 204: Type.Null(), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { schema, table } = await open(request, request.params.table);
      const deleted = await table.delete(keyOf(schema, request.params.key));
      if (!deleted) throw new FortressError('FX_ROW_NOT_FOUND', `no such row in ${schema.name}`);
      return reply.status(204).send(null);
    },
  );

  r.post(
    '/v1/db/transaction',
    {
      schema: {
        tags: ['db'],
        summary: 'Operations applied atomically, in order: all or none',
        body: Type.Object(
          { operations: Type.Array(Operation, { minItems: 1, maxItems: 1000 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ results: Type.Array(Type.Unknown()) }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const db = ctx.unsealed();
      const ops: Static<typeof Operation>[] = request.body.operations;
      const results = await session.transaction(async (tx) => {
        const out: unknown[] = [];
        for (const op of ops) {
          const schema = db.describeTable(op.table);
          const table = tx.table(op.table);
          switch (op.op) {
            case 'insert':
              out.push({ row: rowOut(await table.insert(rowIn(schema, op.row))) });
              break;
            case 'update':
              await table.update(keyOf(schema, op.key), rowIn(schema, op.changes));
              out.push({ updated: true });
              break;
            case 'delete':
              out.push({ deleted: await table.delete(keyOf(schema, op.key)) });
              break;
            case 'get': {
              const row = await table.get(keyOf(schema, op.key));
              out.push({ row: row === undefined ? null : rowOut(row) });
              break;
            }
          }
        }
        return out;
      });
      return { results };
    },
  );

  // ── streamed import / export ───────────────────────────────────────────────────────────────────

  r.get(
    '/v1/db/tables/:table/export',
    {
      schema: {
        tags: ['db'],
        summary: 'Every row the caller may see, streamed as NDJSON (default) or CSV, in primary-key order',
        params: TableParams,
        querystring: Type.Object(
          { format: Type.Optional(Type.Union([Type.Literal('ndjson'), Type.Literal('csv')])) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const { schema, table } = await open(request, request.params.table);
      const format = request.query.format ?? 'ndjson';
      const pk = schema.columns.find((c) => c.primaryKey)!.name;
      // The first page runs before any byte is sent, so a refusal is still a clean error response.
      let page = await table.find({ orderBy: { [pk]: 'asc' } as never, limit: EXPORT_PAGE });
      const columns = schema.columns.map((c) => c.name);
      void reply.header(
        'content-type',
        format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      );
      void reply.header('content-disposition', `attachment; filename="${schema.name}.${format}"`);
      async function* lines(): AsyncGenerator<string> {
        if (format === 'csv') yield csvHeader(columns);
        while (page.length > 0) {
          for (const row of page)
            yield format === 'csv' ? csvLine(columns, rowOut(row)) : `${JSON.stringify(rowOut(row))}\n`;
          if (page.length < EXPORT_PAGE) break;
          const last = page[page.length - 1]![pk];
          page = await table.find({
            where: { [pk]: { gt: last } },
            orderBy: { [pk]: 'asc' } as never,
            limit: EXPORT_PAGE,
          });
        }
      }
      return reply.send(Readable.from(lines(), { objectMode: false }));
    },
  );

  r.post(
    '/v1/db/tables/:table/import',
    {
      schema: {
        tags: ['db'],
        summary: `Insert rows from an NDJSON (application/x-ndjson) or CSV (text/csv, header line) body, ${IMPORT_BATCH} rows per transaction`,
        params: TableParams,
        response: {
          200: Type.Object({ inserted: Type.Integer() }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const { schema, table } = await open(request, request.params.table);
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (type !== 'application/x-ndjson' && type !== 'text/csv') {
        throw new FortressError('FX_REQUEST_INVALID', 'import takes application/x-ndjson or text/csv');
      }
      const body = request.body as AsyncIterable<Buffer>;
      let inserted = 0;
      let batch: AnyRow[] = [];
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        await table.insertMany(batch);
        inserted += batch.length;
        batch = [];
      };
      const records = type === 'text/csv' ? parseCsvRecords(body) : ndjsonRecords(body);
      let line = 0;
      try {
        for await (const record of records) {
          line++;
          batch.push(rowIn(schema, record));
          if (batch.length >= IMPORT_BATCH) await flush();
        }
        await flush();
      } catch (error) {
        if (error instanceof FortressError) {
          // Rows before the failing batch are stored; say how many, and where it stopped.
          throw new FortressError(
            error.code,
            `${error.message} (record ${line}; ${inserted} rows were imported before this batch)`,
          );
        }
        throw error;
      }
      return reply.send({ inserted });
    },
  );
}

async function* ndjsonRecords(body: AsyncIterable<Buffer>): AsyncGenerator<AnyRow> {
  for await (const { value, line } of ndjsonValues(body)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new FortressError('FX_REQUEST_INVALID', `NDJSON line ${line} is not a JSON object`);
    }
    yield value as AnyRow;
  }
}
