/**
 * @module client/api/db-api
 * `client.db`: tables (create, describe, alter, drop), rows (insert one or a batch, get, find,
 * count, update, delete), transactions as a batch of operations, and streamed import and export.
 * Rows go out with `Uint8Array` as base64 and `Date` as ISO text; rows come back as the server's
 * JSON. find and count change nothing, so they are retried like GETs; writes are not.
 */
import { FortressClientError } from '../client-errors.js';
import { expectField, path, type HttpTransport } from '../http-transport.js';
import { CsvEncoder, RecordSplitter, ndjsonLine } from '../wire-codec.js';
import type {
  ColumnDefinition,
  FindOptions,
  ImportOptions,
  ImportResult,
  Row,
  RowFilter,
  RowInput,
  RowKey,
  StoredTable,
  TableDefinition,
  TransactionOperation,
  TransactionResult,
} from '../client-types.js';

/** Rows are encoded into chunks of about this many characters before they go to the connection. */
const IMPORT_CHUNK = 64 * 1024;

function iteratorOf(
  source: AsyncIterable<object> | Iterable<object>,
): AsyncIterator<object> | Iterator<object> {
  if (Symbol.asyncIterator in source) return source[Symbol.asyncIterator]();
  if (Symbol.iterator in source) return source[Symbol.iterator]();
  throw new TypeError('importRows: source must be an iterable or async iterable of rows');
}

/** The format, checked at run time too (JavaScript callers have no compiler to stop a typo). */
function checkFormat(format: unknown, what: string): 'ndjson' | 'csv' {
  if (format !== 'ndjson' && format !== 'csv')
    throw new TypeError(`${what}: format must be 'ndjson' or 'csv'`);
  return format;
}

function parseRecord(record: string, format: 'ndjson' | 'csv'): Row | string {
  if (format === 'csv') return record;
  let value: unknown;
  try {
    value = JSON.parse(record);
  } catch (error) {
    throw new FortressClientError('FX_BAD_RESPONSE', 'db.exportRows: a line of the export is not JSON', {
      status: 200,
      cause: error,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FortressClientError('FX_BAD_RESPONSE', 'db.exportRows: a line of the export is not an object', {
      status: 200,
    });
  }
  return value as Row;
}

export class DbApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** Tables the caller may read. */
  async listTables(): Promise<string[]> {
    const body = await this.#http.request({ method: 'GET', path: '/v1/db/tables' });
    return expectField(body, 'tables', 'db.listTables') as string[];
  }

  /**
   * Creates a table; returns its stored schema.
   *
   * @example
   * ```ts
   * await client.db.createTable('patients', {
   *   columns: {
   *     id: { type: 'integer', primaryKey: true },
   *     email: { type: 'text', encrypt: { search: 'equality' } },
   *     ssn: { type: 'text', encrypt: true, mask: 'last4' },
   *     scan: { type: 'bytes', encrypt: true },
   *     admittedAt: { type: 'timestamp' },
   *   },
   * });
   * ```
   */
  async createTable(name: string, definition: TableDefinition): Promise<StoredTable> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/db/tables',
      body: { name, definition },
    });
    return expectField(body, 'table', 'db.createTable') as StoredTable;
  }

  async describeTable(name: string): Promise<StoredTable> {
    const body = await this.#http.request({ method: 'GET', path: path`/v1/db/tables/${name}` });
    return expectField(body, 'table', 'db.describeTable') as StoredTable;
  }

  async dropTable(name: string): Promise<void> {
    await this.#http.request({ method: 'DELETE', path: path`/v1/db/tables/${name}` });
  }

  /** Adds a column; returns the new schema. */
  async addColumn(table: string, name: string, definition: ColumnDefinition): Promise<StoredTable> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/db/tables/${table}/columns`,
      body: { name, definition },
    });
    return expectField(body, 'table', 'db.addColumn') as StoredTable;
  }

  /** Drops a column; returns the id of the job erasing its values (null when there is nothing to erase). */
  async dropColumn(table: string, column: string): Promise<number | null> {
    const body = await this.#http.request({
      method: 'DELETE',
      path: path`/v1/db/tables/${table}/columns/${column}`,
    });
    return expectField(body, 'job', 'db.dropColumn') as number | null;
  }

  /**
   * Inserts a row; returns it as stored (with a generated key, if any).
   *
   * @example
   * ```ts
   * const row = await client.db.insert('patients', {
   *   email: 'ann@example.com',
   *   scan: new Uint8Array([1, 2, 3]),   // sent as base64
   *   admittedAt: new Date(),            // sent as ISO 8601
   * });
   * ```
   */
  async insert(table: string, row: RowInput): Promise<Row> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/db/tables/${table}/rows`,
      body: { row },
    });
    return expectField(body, 'row', 'db.insert') as Row;
  }

  /** Inserts rows atomically (all or none; at most 10 000 a call). */
  async insertMany(table: string, rows: readonly RowInput[]): Promise<Row[]> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/db/tables/${table}/rows`,
      body: { rows },
    });
    return expectField(body, 'rows', 'db.insertMany') as Row[];
  }

  /** One row by primary key; `FX_ROW_NOT_FOUND` when there is none the caller may see. */
  async get(table: string, key: RowKey, options: { readonly select?: readonly string[] } = {}): Promise<Row> {
    const body = await this.#http.request({
      method: 'GET',
      path: path`/v1/db/tables/${table}/rows/${key}`,
      query: { select: options.select?.join(',') },
    });
    return expectField(body, 'row', 'db.get') as Row;
  }

  /**
   * Rows matching a filter (at most 1000 unless `limit` says). Equality on an encrypted searchable
   * column goes through its blind index.
   *
   * @example
   * ```ts
   * const rows = await client.db.find('patients', {
   *   where: { email: 'ann@example.com', admittedAt: { gte: new Date('2024-01-01') } },
   *   select: ['id', 'email'],
   * });
   * ```
   */
  async find(table: string, options: FindOptions = {}): Promise<Row[]> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/db/tables/${table}/find`,
      body: options,
      safe: true,
    });
    return expectField(body, 'rows', 'db.find') as Row[];
  }

  /** How many rows the caller may see match a filter. */
  async count(table: string, where?: RowFilter, options: { readonly scan?: boolean } = {}): Promise<number> {
    const body = await this.#http.request({
      method: 'POST',
      path: path`/v1/db/tables/${table}/count`,
      body: {
        ...(where === undefined ? {} : { where }),
        ...(options.scan === undefined ? {} : { scan: options.scan }),
      },
      safe: true,
    });
    return expectField(body, 'count', 'db.count') as number;
  }

  /** Changes some columns of a row. */
  async update(table: string, key: RowKey, changes: RowInput): Promise<void> {
    await this.#http.request({
      method: 'PATCH',
      path: path`/v1/db/tables/${table}/rows/${key}`,
      body: { changes },
    });
  }

  /** Deletes a row; `FX_ROW_NOT_FOUND` when there is none the caller may see. */
  async delete(table: string, key: RowKey): Promise<void> {
    await this.#http.request({ method: 'DELETE', path: path`/v1/db/tables/${table}/rows/${key}` });
  }

  /**
   * Applies operations atomically and in order; returns one result per operation.
   *
   * @example
   * ```ts
   * const [created, , read] = await client.db.transaction([
   *   { op: 'insert', table: 'accounts', row: { id: 'b', balance: 10 } },
   *   { op: 'update', table: 'accounts', key: 'a', changes: { balance: 90 } },
   *   { op: 'get', table: 'accounts', key: 'a' },
   * ]);
   * ```
   */
  async transaction(operations: readonly TransactionOperation[]): Promise<TransactionResult[]> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/db/transaction',
      body: { operations },
    });
    return expectField(body, 'results', 'db.transaction') as TransactionResult[];
  }

  /**
   * Streams rows into a table as NDJSON or CSV, without holding them all in memory: the body is a
   * ReadableStream pulled as the connection drains. The server inserts 500 rows per transaction;
   * if it fails part way, the rows of earlier batches stay (its message says how many). Never
   * retried. For CSV, the first row's columns are the header. `timeoutMs` applies as an idle time:
   * the import may run long while data keeps moving. (Browsers stream request bodies only over
   * HTTP/2 or later, and only Chromium-based ones so far.)
   *
   * @example
   * ```ts
   * async function* rows() {
   *   for await (const line of readLines('patients.ndjson')) yield JSON.parse(line);
   * }
   * const { inserted } = await client.db.importRows('patients', rows(), {
   *   format: 'ndjson',
   *   onProgress: ({ rows }) => console.log(`${rows} rows sent`),
   * });
   * ```
   */
  async importRows(
    table: string,
    source: AsyncIterable<object> | Iterable<object>,
    options: ImportOptions,
  ): Promise<ImportResult> {
    const format = checkFormat(options.format, 'importRows');
    const iterator = iteratorOf(source);
    const csv = format === 'csv' ? new CsvEncoder() : null;
    const encoder = new TextEncoder();
    const deadline = this.#http.deadline();
    let rows = 0;
    let bytes = 0;
    /** Set when the source is exhausted, failed or released (an object: closures below write it). */
    const state = { finished: false };
    /** A failure of the caller's source (or a row that cannot be encoded) is reported as itself. */
    let sourceError: { readonly error: unknown } | null = null;
    const onProgress = options.onProgress;

    const stream = new ReadableStream<Uint8Array>({
      async pull(controller): Promise<void> {
        deadline.touch();
        try {
          let text = '';
          while (text.length < IMPORT_CHUNK) {
            const next = await iterator.next();
            if (next.done === true) {
              state.finished = true;
              break;
            }
            text += csv === null ? ndjsonLine(next.value, rows) : csv.encode(next.value, rows);
            rows++;
          }
          if (text !== '') {
            const chunk = encoder.encode(text);
            bytes += chunk.byteLength;
            controller.enqueue(chunk);
            onProgress?.({ rows, bytes });
          }
          if (state.finished) controller.close();
        } catch (error) {
          sourceError = { error };
          state.finished = true;
          controller.error(error);
          // End the exchange now, rather than whenever the connection notices the broken body.
          deadline.abort();
        }
        deadline.touch();
      },
      async cancel(): Promise<void> {
        state.finished = true;
        try {
          await iterator.return?.();
        } catch {
          // Whoever cancelled has its own reason to report.
        }
      },
    });

    try {
      const body = await this.#http.request(
        {
          method: 'POST',
          path: path`/v1/db/tables/${table}/import`,
          stream: {
            body: stream,
            contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
          },
        },
        deadline,
      );
      return { inserted: expectField(body, 'inserted', 'db.importRows') as number };
    } catch (error) {
      const failed = sourceError as { readonly error: unknown } | null;
      if (failed !== null) throw failed.error;
      throw error;
    } finally {
      deadline.clear();
      // The server may answer (with an error) before the body is all sent: stop reading the source.
      if (!state.finished) {
        state.finished = true;
        try {
          await iterator.return?.();
        } catch {
          // The call's own outcome is what to report; a source failing to close adds nothing.
        }
      }
    }
  }

  /**
   * Every row the caller may see, in primary-key order, streamed: NDJSON rows are parsed one by
   * one as they arrive; CSV comes as its records (the header first), each without its line break.
   * Breaking out of the loop closes the connection. `timeoutMs` applies to the wait for each chunk
   * from the server, not to the whole export.
   *
   * @example
   * ```ts
   * for await (const row of client.db.exportRows('patients')) console.log(row['email']);
   * for await (const line of client.db.exportRows('patients', { format: 'csv' })) out.write(`${line}\n`);
   * ```
   */
  exportRows(table: string, options: { readonly format: 'csv' }): AsyncIterable<string>;
  exportRows(table: string, options?: { readonly format?: 'ndjson' }): AsyncIterable<Row>;
  exportRows(
    table: string,
    options: { readonly format?: 'ndjson' | 'csv' } = {},
  ): AsyncIterable<Row> | AsyncIterable<string> {
    const format = checkFormat(options.format ?? 'ndjson', 'exportRows');
    return this.#export(table, format) as AsyncIterable<Row> | AsyncIterable<string>;
  }

  async *#export(table: string, format: 'ndjson' | 'csv'): AsyncGenerator<Row | string> {
    const { response, deadline } = await this.#http.open({
      method: 'GET',
      path: path`/v1/db/tables/${table}/export`,
      query: { format },
    });
    const requestId = response.headers.get('x-request-id');
    if (response.body === null) {
      deadline.clear();
      throw new FortressClientError('FX_BAD_RESPONSE', 'db.exportRows: the answer has no body', {
        status: response.status,
        requestId,
      });
    }
    const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
    const decoder = new TextDecoder();
    const splitter = new RecordSplitter(format);
    let complete = false;
    try {
      for (;;) {
        // The idle timer runs only while waiting for the server, not while the caller handles rows.
        deadline.touch();
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw deadline.translate(
            new FortressClientError('FX_NETWORK', 'db.exportRows: the export was cut off', {
              status: response.status,
              requestId,
              cause: error,
            }),
          );
        } finally {
          deadline.clear();
        }
        if (chunk.done) break;
        for (const record of splitter.push(decoder.decode(chunk.value, { stream: true }))) {
          yield parseRecord(record, format);
        }
      }
      complete = true;
      for (const record of [...splitter.push(decoder.decode()), ...splitter.end()]) {
        yield parseRecord(record, format);
      }
    } finally {
      deadline.clear();
      if (!complete) await reader.cancel().catch(() => undefined);
    }
  }
}
