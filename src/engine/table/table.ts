/**
 * @module engine/table/table
 * A table handle: insert, get, find, page, iterate, count, update, delete. Every value of an
 * encrypted column is encrypted before it reaches storage and decrypted after it leaves; filters on
 * encrypted columns go through blind indexes and are re-checked on the decrypted candidates.
 */
import { isUniqueViolation } from '../../storage/constraint-error.js';
import type { SqlSpelling, SqlValue, StorageSession } from '../../storage/dialect.js';
import { describe } from '../../util/bytes.js';
import { FortressError } from '../../util/errors.js';
import { checkedToValue } from '../schema/column-types.js';
import type { AnyRow, StoredColumn } from '../schema/table-schema.js';
import { uuidV7 } from '../schema/uuid-v7.js';
import { compileWhere, compareValues, queryInvalid, type CompiledWhere, type Where } from '../query/where.js';
import { withKeys, type KeyLoader, type TableCodec } from './table-codec.js';
import { whereLiterals, type AccessActor, type AccessEvent, type AccessLog } from '../access/access-log.js';

/** What a table handle needs from the engine. */
export interface TableHost extends KeyLoader {
  /** The table's codec: synchronously once built (the common case), else a promise. */
  codec(table: string): TableCodec | Promise<TableCodec>;
  /** Makes sure every data key of `codec` can encrypt `count` more values without awaiting. */
  prepareWrite(codec: TableCodec, count: number): Promise<void> | undefined;
  session(): StorageSession;
  /** The backend pages by an implicit rowid (see StorageCapabilities.rowid). */
  readonly rowid: boolean;
  /** The backend's words where SQL differs. */
  readonly spelling: SqlSpelling;
  /** Where accesses are recorded (absent: not audited). */
  readonly accessLog?: AccessLog | undefined;
  /** True when `session()` is inside a transaction (reads then record within it). */
  inTransaction(): boolean;
}

function isAuditFailure(error: unknown): boolean {
  return error instanceof FortressError && error.code.startsWith('FX_AUDIT_');
}

export type OrderBy<R> = { readonly [K in keyof R]?: 'asc' | 'desc' };

export interface FindOptions<R> {
  readonly where?: Where<R>;
  /** Plaintext columns (encrypted ones only with `scan: true`, sorted in memory). Ties break on the primary key. */
  readonly orderBy?: OrderBy<R> | readonly OrderBy<R>[];
  /** At most this many rows. */
  readonly limit?: number;
  /** A cursor from `page()`: continue after that row. */
  readonly after?: string;
  /** Columns to return (and decrypt); default all. The primary key is always returned. */
  readonly select?: readonly (keyof R & string)[];
  /**
   * Allow filters and orderings an encrypted column's capabilities cannot answer, by decrypting and
   * checking every row: a full scan, whose cost grows with the table.
   */
  readonly scan?: boolean;
}

export interface Page<R> {
  readonly rows: R[];
  /** Cursor of the next page, or null after the last one. */
  readonly next: string | null;
}

interface Order {
  readonly column: StoredColumn;
  readonly desc: boolean;
  /** Physical (quoted) SQL expression ordered by. */
  readonly sql: string;
}

interface Plan {
  readonly where: CompiledWhere;
  readonly order: readonly Order[];
  readonly sortInMemory: boolean;
  readonly wanted: readonly StoredColumn[];
  readonly limit: number;
  readonly after: readonly SqlValue[] | null;
}

const MAX_LIMIT = 1_000_000_000;
const BATCH = 512;
const FIND_OPTIONS = ['where', 'orderBy', 'limit', 'after', 'select', 'scan'];

/**
 * A filter a table handle applies to every read, whatever the caller asks: rows whose plaintext
 * integer `column` is below `below` and has none of the bits of `bitsClear` set (a policy
 * session's mandatory-access label range). Applied in SQL on every path — key reads, blind-index
 * lookups and the general planner — so a row outside it is never fetched or decrypted.
 */
export interface RowScope {
  readonly column: string;
  readonly below: number;
  readonly bitsClear: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * @example
 * ```ts
 * const patients = db.table('patients');
 * const { id } = await patients.insert({ email: 'ann@example.com', ssn: '123-45-6789', age: 41 });
 * await patients.find({ where: { email: 'ann@example.com' } });
 * await patients.update(id, { notes: 'follow-up' });
 * ```
 */
export class Table<R extends AnyRow = AnyRow, I extends AnyRow = Partial<R>> {
  readonly name: string;
  readonly #host: TableHost;
  readonly #actor: AccessActor | undefined;
  readonly #scope: RowScope | undefined;
  /** `#scope` as a filter, for the general planner. */
  readonly #scopeWhere: Where<AnyRow> | undefined;

  /** @internal Tables come from `Fortress.table()` / `createTable()` / a policy session. */
  constructor(host: TableHost, name: string, actor?: AccessActor, scope?: RowScope) {
    this.#host = host;
    this.name = name;
    this.#actor = actor;
    this.#scope = scope;
    this.#scopeWhere =
      scope === undefined ? undefined : { [scope.column]: { lt: scope.below, bitsClear: scope.bitsClear } };
  }

  /** `options` with the handle's row scope ANDed into its filter (malformed options pass through to be refused). */
  #scoped<O>(options: O): O {
    const scope = this.#scopeWhere;
    if (scope === undefined || !isPlainObject(options)) return options;
    const where = options['where'];
    return { ...options, where: where === undefined ? scope : { and: [where, scope] } };
  }

  /** The scope's column, checked against the stored schema: a plaintext integer column. */
  #scopeColumn(codec: TableCodec, scope: RowScope): StoredColumn {
    const column = codec.columns.get(scope.column);
    if (column?.type !== 'integer' || column.encryption !== null) {
      throw new FortressError(
        'FX_QUERY_INVALID',
        `row scope column ${scope.column} of ${this.name} is not a plaintext integer column`,
      );
    }
    return column;
  }

  /**
   * The event as recorded: with the acting principal when a policy session acts. Events are made
   * fresh per call, so the actor is set in place (a spread here cost more than the rest of the entry).
   */
  #as(event: AccessEvent): AccessEvent {
    if (this.#actor !== undefined) (event as { actor?: AccessActor }).actor = this.#actor;
    return event;
  }

  #codec(): TableCodec | Promise<TableCodec> {
    return this.#host.codec(this.name);
  }

  // ── audited entry points ───────────────────────────────────────────────────────────────────────
  // Every public operation records one access event. A write and its entry commit in one
  // transaction; a read's entry is durable before its rows are returned (fail closed); a failed
  // operation is recorded with its error code.

  // Not async themselves: with no access log the body's promise is returned as is (an async
  // wrapper would add microtask hops to every call of the unaudited engine).
  #write<T>(event: (result: T | undefined) => AccessEvent, body: () => Promise<T>): Promise<T> {
    const log = this.#host.accessLog;
    return log === undefined ? body() : this.#writeAudited(log, event, body);
  }

  async #writeAudited<T>(
    log: AccessLog,
    event: (result: T | undefined) => AccessEvent,
    body: () => Promise<T>,
  ): Promise<T> {
    let result: T;
    try {
      result = await this.#host.session().transaction(async (tx) => {
        const done = await body();
        await log.within(tx, this.#as(event(done)), null, false);
        return done;
      });
    } catch (error) {
      if (!isAuditFailure(error)) await this.#recordFailure(log, this.#as(event(undefined)), error);
      throw error;
    }
    // Inside a caller's transaction nothing has committed yet: its end does this.
    if (!this.#host.inTransaction()) await log.committed();
    return result;
  }

  #read<T>(event: (result: T | undefined) => AccessEvent, body: () => Promise<T>): Promise<T> {
    const log = this.#host.accessLog;
    return log === undefined ? body() : this.#readAudited(log, event, body);
  }

  async #readAudited<T>(
    log: AccessLog,
    event: (result: T | undefined) => AccessEvent,
    body: () => Promise<T>,
  ): Promise<T> {
    let result: T;
    try {
      result = await body();
    } catch (error) {
      await this.#recordFailure(log, this.#as(event(undefined)), error);
      throw error;
    }
    // Inside a transaction the lock is ours: record in it rather than wait for a group commit.
    const recorded = this.#as(event(result));
    if (this.#host.inTransaction()) await log.within(this.#host.session(), recorded, null, true);
    else await log.record(recorded, null);
    return result;
  }

  async #recordFailure(log: AccessLog, event: AccessEvent, error: unknown): Promise<void> {
    if (this.#host.inTransaction()) await log.within(this.#host.session(), event, error, true);
    else await log.record(event, error);
  }

  /** Inserts a row and returns it as stored (with its generated key). `FX_DUPLICATE_KEY` if the key exists. */
  insert(row: I): Promise<R> {
    return this.#write(
      (r) => ({ action: 'table.insert', table: this.name, rows: r === undefined ? [] : [this.#keyOf(r)] }),
      () => this.#insert(row),
    );
  }

  /** Inserts rows atomically (one transaction); returns them as stored. */
  insertMany(rows: readonly I[]): Promise<R[]> {
    return this.#write(
      (r) => ({
        action: 'table.insertMany',
        table: this.name,
        rows: r === undefined ? [] : r.slice(0, 1000).map((row) => this.#keyOf(row)),
        rowCount: r?.length ?? 0,
      }),
      () => this.#insertMany(rows),
    );
  }

  /** The row with primary key `key`, or undefined. */
  get(
    key: R[keyof R] | string | number,
    options: { select?: readonly (keyof R & string)[] } = {},
  ): Promise<R | undefined> {
    return this.#read(
      (r) => ({ action: 'table.get', table: this.name, rows: [key], rowCount: r === undefined ? 0 : 1 }),
      () => this.#get(key, options),
    );
  }

  /** Rows matching `options.where`, in order. Buffers the result: use `iterate()` for large ones. */
  find(options: FindOptions<R> = {}): Promise<R[]> {
    return this.#read(
      (r) => ({
        action: 'table.find',
        table: this.name,
        ...this.#queryFacts(options),
        rowCount: r?.length ?? 0,
      }),
      () => this.#find(options),
    );
  }

  /** One page of rows (default 100) and the cursor of the next. */
  page(options: FindOptions<R> = {}): Promise<Page<R>> {
    return this.#read(
      (r) => ({
        action: 'table.page',
        table: this.name,
        ...this.#queryFacts(options),
        rowCount: r?.rows.length ?? 0,
      }),
      () => this.#page(this.#scoped(options)),
    );
  }

  /**
   * Streams matching rows in batches, without holding the database between them. The access is
   * recorded (durably) before the first row is read.
   */
  async *iterate(options: FindOptions<R> = {}): AsyncIterableIterator<R> {
    const log = this.#host.accessLog;
    if (log !== undefined) {
      const event = this.#as({ action: 'table.iterate', table: this.name, ...this.#queryFacts(options) });
      if (this.#host.inTransaction()) await log.within(this.#host.session(), event, null, true);
      else await log.record(event, null);
    }
    yield* this.#iterate(this.#scoped(options));
  }

  /** How many rows match. */
  count(options: Pick<FindOptions<R>, 'where' | 'scan'> = {}): Promise<number> {
    return this.#read(
      (r) => ({ action: 'table.count', table: this.name, ...this.#queryFacts(options), rowCount: r ?? 0 }),
      () => this.#count(this.#scoped(options)),
    );
  }

  /** Changes some columns of one row. `FX_ROW_NOT_FOUND` if there is no such row. */
  update(key: R[keyof R] | string | number, changes: Partial<I>): Promise<void> {
    return this.#write(
      () => ({
        action: 'table.update',
        table: this.name,
        rows: [key],
        columns: isPlainObject(changes) ? Object.keys(changes).slice(0, 100) : [],
      }),
      () => this.#update(key, changes),
    );
  }

  /** Deletes the row with primary key `key`; false if there was none. */
  delete(key: R[keyof R] | string | number): Promise<boolean> {
    return this.#write(
      (r) => ({ action: 'table.delete', table: this.name, rows: [key], rowCount: r === true ? 1 : 0 }),
      () => this.#delete(key),
    );
  }

  /** Deletes every matching row atomically; returns how many. */
  deleteMany(options: Pick<FindOptions<R>, 'where' | 'scan'>): Promise<number> {
    return this.#write(
      (r) => ({
        action: 'table.deleteMany',
        table: this.name,
        ...this.#queryFacts(options),
        rowCount: r ?? 0,
      }),
      () => this.#deleteMany(this.#scoped(options)),
    );
  }

  #keyOf(row: AnyRow): unknown {
    const pending = this.#codec();
    const name = pending instanceof Promise ? undefined : pending.primaryKey.name;
    return name === undefined ? null : row[name];
  }

  #queryFacts(options: unknown): Pick<AccessEvent, 'literals' | 'columns'> {
    if (!isPlainObject(options)) return {};
    const where = options['where'];
    return {
      literals: whereLiterals(where),
      columns: isPlainObject(where) ? Object.keys(where).slice(0, 100) : [],
    };
  }

  #checkRow(codec: TableCodec, row: unknown, mode: 'insert' | 'update'): Map<string, unknown> {
    if (!isPlainObject(row)) {
      throw new FortressError(
        'FX_TYPE_MISMATCH',
        `table ${this.name}: expected a row object, got ${describe(row)}`,
      );
    }
    const checked = new Map<string, unknown>();
    for (const [name, value] of Object.entries(row)) {
      if (value === undefined) continue;
      const column = codec.column(name);
      if (mode === 'update' && column.primaryKey) {
        throw new FortressError(
          'FX_TYPE_MISMATCH',
          `column ${name} is the primary key and cannot be updated`,
        );
      }
      checked.set(name, codec.check(column, value));
    }
    if (mode === 'insert') {
      for (const column of codec.schema.columns) {
        if (checked.has(column.name)) continue;
        if (column.primaryKey && (column.type === 'uuid' || column.type === 'integer')) continue;
        if (column.required) {
          throw new FortressError('FX_TYPE_MISMATCH', `column ${column.name} is required`);
        }
        checked.set(column.name, null);
      }
    }
    return checked;
  }

  #checkKey(codec: TableCodec, key: unknown): unknown {
    const column = codec.primaryKey;
    if (key === null || key === undefined) {
      throw new FortressError('FX_TYPE_MISMATCH', `table ${this.name}: a primary key value is required`);
    }
    return codec.check(column, key);
  }

  /** Inserts a row and returns it as stored (with its generated key). `FX_DUPLICATE_KEY` if the key exists. */
  async #insert(row: I): Promise<R> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    const checked = this.#checkRow(codec, row, 'insert');
    const preparing = this.#host.prepareWrite(codec, 1);
    if (preparing !== undefined) await preparing;
    return this.#insertChecked(codec, checked, this.#host.session());
  }

  /** Inserts rows atomically (one transaction); returns them as stored. */
  async #insertMany(rows: readonly I[]): Promise<R[]> {
    if (!Array.isArray(rows))
      throw new FortressError('FX_TYPE_MISMATCH', `insertMany takes an array of rows`);
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    const checked = rows.map((row) => this.#checkRow(codec, row, 'insert'));
    if (checked.length === 0) return [];
    await this.#host.prepareWrite(codec, rows.length);
    const keyName = codec.primaryKey.name;
    // Decided before the body: it may run more than once (see StorageDriver.transaction), and a
    // key generated by an earlier attempt must be generated afresh.
    const generated = checked.map((row) => codec.primaryKey.type === 'integer' && row.get(keyName) == null);
    return this.#host.session().transaction(async (tx) => {
      const out: R[] = [];
      const params: SqlValue[][] = [];
      // Generated integer keys: the largest key so far + 1, row by row, exactly as if each row were
      // inserted on its own (explicit keys earlier in the batch count).
      let stored: number | undefined; // the table's largest key, read once, when first needed
      let batchLargest = -Infinity;
      for (const [i, row] of checked.entries()) {
        if (codec.primaryKey.type === 'integer') {
          const key = row.get(keyName);
          if (generated[i]) {
            stored ??= (await this.#nextIntegerKey(codec, tx)) - 1;
            const next = Math.max(stored, batchLargest) + 1;
            if (next > Number.MAX_SAFE_INTEGER) throw this.#keysExhausted();
            row.set(keyName, next);
            batchLargest = next;
          } else if ((key as number) > batchLargest) {
            batchLargest = key as number;
          }
        }
        const encoding = this.#encodeInsert(codec, row);
        const encoded = encoding instanceof Promise ? await encoding : encoding;
        params.push(encoded);
        out.push(this.#storedRow(codec, row));
      }
      // One call for the whole batch: no promise per row.
      await this.#duplicateAware(tx.runBatch(codec.insertSql, params));
      return out;
    });
  }

  async #insertChecked(
    codec: TableCodec,
    checked: Map<string, unknown>,
    session: StorageSession,
  ): Promise<R> {
    const key = codec.primaryKey;
    const keyValue = checked.get(key.name);
    if ((keyValue === undefined || keyValue === null) && key.type === 'integer') {
      checked.set(key.name, await this.#nextIntegerKey(codec, session));
    }
    const encoding = this.#encodeInsert(codec, checked);
    const params = encoding instanceof Promise ? await encoding : encoding;
    await this.#duplicateAware(session.run(codec.insertSql, params));
    return this.#storedRow(codec, checked);
  }

  /** The insert's parameters (a generated uuid key is filled in); async only when a key must load. */
  #encodeInsert(codec: TableCodec, checked: Map<string, unknown>): SqlValue[] | Promise<SqlValue[]> {
    const key = codec.primaryKey;
    let keyValue = checked.get(key.name);
    if ((keyValue === undefined || keyValue === null) && key.type === 'uuid') {
      keyValue = uuidV7();
      checked.set(key.name, keyValue);
    }
    const rowKey = codec.rowKeyText(keyValue);
    const physical = new Map<string, SqlValue>();
    const params = (): SqlValue[] => codec.physical.map((name) => physical.get(name) ?? null);
    const encoding = withKeys(this.#host, () => {
      codec.encode(checked, rowKey, physical);
    });
    return encoding instanceof Promise ? encoding.then(params) : params();
  }

  #storedRow(codec: TableCodec, checked: Map<string, unknown>): R {
    const out: Record<string, unknown> = {};
    for (const [name, value] of checked) {
      out[name] = value === null ? null : checkedToValue(codec.column(name).type, value);
    }
    return out as R;
  }

  async #duplicateAware<T>(write: Promise<T>): Promise<T> {
    try {
      return await write;
    } catch (error) {
      // The only unique constraint of a data table is its primary key.
      if (isUniqueViolation(error)) {
        throw new FortressError(
          'FX_DUPLICATE_KEY',
          `table ${this.name} already has a row with that primary key`,
        );
      }
      throw error;
    }
  }

  #keysExhausted(): FortressError {
    return new FortressError(
      'FX_VALUE_TOO_LARGE',
      `table ${this.name}: no integer key is left after the largest one (2^53 − 1); give keys explicitly`,
    );
  }

  async #nextIntegerKey(codec: TableCodec, session: StorageSession): Promise<number> {
    // The engine's integer keys are max + 1 (never reused while the largest row exists).
    const row = await session.get<{ k: number | bigint | null }>(
      `SELECT max("p_${codec.primaryKey.name}") AS k FROM "${codec.physicalTable}"`,
    );
    const max = row?.k ?? 0;
    if (typeof max !== 'number' || max >= Number.MAX_SAFE_INTEGER) throw this.#keysExhausted();
    return max + 1;
  }

  /** The row with primary key `key`, or undefined. */
  /** Rejects option objects with keys the method does not know (a typo must not widen an operation). */
  #checkOptions(options: unknown, allowed: readonly string[], what: string): void {
    if (!isPlainObject(options))
      throw queryInvalid(`${what} options must be an object, got ${describe(options)}`);
    for (const key of Object.keys(options)) {
      if (!allowed.includes(key))
        throw queryInvalid(`unknown ${what} option ${JSON.stringify(key.slice(0, 40))}`);
    }
  }

  async #get(
    key: R[keyof R] | string | number,
    options: { select?: readonly (keyof R & string)[] },
  ): Promise<R | undefined> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    this.#checkOptions(options, ['select'], 'get');
    const checkedKey = this.#checkKey(codec, key);
    const wanted = this.#wanted(codec, options.select);
    const scope = this.#scope;
    const raw = await this.#host
      .session()
      .get<Record<string, unknown>>(
        scope === undefined
          ? codec.selectByKeySql(wanted)
          : codec.selectByKeySql(wanted, this.#scopeColumn(codec, scope)),
        scope === undefined
          ? [checkedKey as SqlValue]
          : [checkedKey as SqlValue, scope.below, scope.bitsClear],
      );
    if (raw === undefined) return undefined;
    codec.unpack(raw);
    const decoded = withKeys(this.#host, () => codec.decode(raw, wanted));
    return (decoded instanceof Promise ? await decoded : decoded) as R;
  }

  #wanted(codec: TableCodec, select: unknown): readonly StoredColumn[] {
    if (select === undefined) return codec.schema.columns;
    if (!Array.isArray(select) || select.length === 0)
      throw queryInvalid('select must be a non-empty array of column names');
    const out = new Set<StoredColumn>([codec.primaryKey]);
    for (const name of select) {
      if (typeof name !== 'string') throw queryInvalid('select must be a non-empty array of column names');
      out.add(codec.column(name));
    }
    return [...out];
  }

  #plan(codec: TableCodec, options: FindOptions<R>, needLimit: boolean): Plan {
    const raw: unknown = options;
    if (!isPlainObject(raw)) throw queryInvalid(`find options must be an object, got ${describe(options)}`);
    for (const key of Object.keys(options)) {
      if (!FIND_OPTIONS.includes(key))
        throw queryInvalid(`unknown find option ${JSON.stringify(key.slice(0, 40))}`);
    }
    const scan = options.scan ?? false;
    if (typeof scan !== 'boolean') throw queryInvalid('scan must be true or false');
    const where = compileWhere(codec, options.where, scan, this.#host.spelling);
    const order: Order[] = [];
    const orderList =
      options.orderBy === undefined
        ? []
        : Array.isArray(options.orderBy)
          ? options.orderBy
          : [options.orderBy];
    let sortInMemory = false;
    for (const entry of orderList as unknown[]) {
      if (!isPlainObject(entry))
        throw queryInvalid('orderBy must be { column: "asc" | "desc" } or a list of them');
      for (const [name, direction] of Object.entries(entry)) {
        if (direction !== 'asc' && direction !== 'desc')
          throw queryInvalid(`orderBy ${name}: expected "asc" or "desc"`);
        const column = codec.column(name);
        if (column.encryption !== null) {
          if (!scan) {
            throw new FortressError(
              'FX_QUERY_UNSUPPORTED',
              `column ${name} cannot answer orderBy: it is encrypted, so storage cannot order it. Pass scan: true to decrypt every row and sort in memory (a full scan)`,
            );
          }
          sortInMemory = true;
        }
        if (column.type === 'json')
          throw new FortressError('FX_QUERY_UNSUPPORTED', `column ${name} is json and cannot be ordered`);
        order.push({ column, desc: direction === 'desc', sql: `"p_${column.name}"` });
      }
    }
    let limit = MAX_LIMIT;
    if (options.limit !== undefined) {
      if (
        typeof options.limit !== 'number' ||
        !Number.isInteger(options.limit) ||
        options.limit < 1 ||
        options.limit > MAX_LIMIT
      ) {
        throw queryInvalid(`limit must be an integer from 1 to ${MAX_LIMIT}`);
      }
      limit = options.limit;
    } else if (needLimit) {
      limit = 100;
    }
    let after: SqlValue[] | null = null;
    if (options.after !== undefined) {
      if (sortInMemory) throw queryInvalid('cursors need an order on plaintext columns (not a scan sort)');
      after = decodeCursor(options.after, order);
    }
    return { where, order, sortInMemory, wanted: this.#wanted(codec, options.select), limit, after };
  }

  /** Rows matching `options.where`, in order. Buffers the result: use `iterate()` for large ones. */
  async #find(options: FindOptions<R>): Promise<R[]> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    const fast = this.#equalityFastPath(codec, options);
    if (fast !== undefined) return (await fast) as R[];
    const plan = this.#plan(codec, this.#scoped(options), false);
    const rows: R[] = [];
    for await (const batch of this.#batches(codec, plan)) for (const { row } of batch) rows.push(row as R);
    return rows;
  }

  /**
   * The commonest query — `{ where: { column: value } }` on a searchable encrypted column, nothing
   * else — without the general planner: one blind-index lookup, every candidate decrypted and
   * compared. Same results as the general path (which handles every other shape, including
   * columns in transition); undefined when it does not apply.
   */
  #equalityFastPath(codec: TableCodec, options: FindOptions<R>): Promise<AnyRow[]> | undefined {
    const raw: unknown = options;
    if (!isPlainObject(raw)) return undefined;
    const keys = Object.keys(raw);
    if (keys.length !== 1 || keys[0] !== 'where') return undefined;
    const where = raw['where'];
    if (!isPlainObject(where)) return undefined;
    const names = Object.keys(where);
    if (names.length !== 1) return undefined;
    const column = codec.columns.get(names[0]!);
    const value = where[names[0]!];
    const search = column?.encryption?.search;
    if (
      search == null ||
      column === undefined ||
      search.pending !== null ||
      column.legacyPlaintext ||
      value === null ||
      typeof value === 'object' ||
      typeof value === 'function'
    ) {
      return undefined;
    }
    let checked: unknown;
    try {
      checked = codec.check({ ...column, required: false }, value);
    } catch {
      return undefined; // the general path reports it with the right code
    }
    const [indexValue] = codec.indexValues(column, checked);
    const wanted = codec.schema.columns;
    const scope = this.#scope;
    const sql =
      scope === undefined
        ? codec.selectByIndexSql(column, search.active.slot)
        : codec.selectByIndexSql(column, search.active.slot, this.#scopeColumn(codec, scope));
    const params: SqlValue[] =
      scope === undefined ? [indexValue] : [indexValue, scope.below, scope.bitsClear];
    const expected =
      column.type === 'text'
        ? codec.normalizeForSearch(column, checked as string)
        : checkedToValue(column.type, checked);
    return this.#host
      .session()
      .all<Record<string, unknown>>(sql, params)
      .then(async (raws) => {
        const rows: AnyRow[] = [];
        // Field level: the searched column first, so a false positive of the index costs one
        // decryption, not all. Row level: one envelope holds everything, decrypt it once.
        const fieldLevel = codec.schema.level === 'field';
        const [searched, others] = fieldLevel ? codec.splitColumns(column) : [wanted, []];
        for (const row of raws) {
          codec.unpack(row);
          const testing = withKeys(this.#host, () => codec.decode(row, searched));
          const tested = testing instanceof Promise ? await testing : testing;
          const actual = tested[column.name];
          if (actual === null) continue;
          const form = column.type === 'text' ? codec.normalizeForSearch(column, actual as string) : actual;
          if (compareValues(form, expected) !== 0) continue;
          if (!fieldLevel) {
            rows.push(tested);
            continue;
          }
          const decoding = withKeys(this.#host, () => codec.decode(row, others));
          const rest = decoding instanceof Promise ? await decoding : decoding;
          const out: AnyRow = {};
          for (const c of wanted) out[c.name] = c === column ? actual : rest[c.name];
          rows.push(out);
        }
        return rows;
      });
  }

  /** The first matching row, or undefined. */
  async findOne(options: FindOptions<R> = {}): Promise<R | undefined> {
    const rows = await this.find({ ...options, limit: 1 });
    return rows[0];
  }

  /** One page of rows (default 100) and the cursor of the next. */
  async #page(options: FindOptions<R>): Promise<Page<R>> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    const plan = this.#plan(codec, options, true);
    if (plan.sortInMemory)
      throw queryInvalid('page() needs an order on plaintext columns; use find() for a scan sort');
    const rows: R[] = [];
    let last: readonly SqlValue[] | null = null;
    for await (const batch of this.#batches(codec, { ...plan, limit: plan.limit + 1 }, true)) {
      for (const { row, position } of batch) {
        if (rows.length === plan.limit) return { rows, next: encodeCursor(last!, plan.order) };
        rows.push(row as R);
        last = position;
      }
    }
    return { rows, next: null };
  }

  /** Streams matching rows in batches, without holding the database between them. */
  async *#iterate(options: FindOptions<R>): AsyncIterableIterator<R> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    const plan = this.#plan(codec, options, false);
    for await (const batch of this.#batches(codec, plan)) for (const { row } of batch) yield row as R;
  }

  /** How many rows match. */
  async #count(options: Pick<FindOptions<R>, 'where' | 'scan'>): Promise<number> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    this.#checkOptions(options, ['where', 'scan'], 'count');
    const plan = this.#plan(codec, { where: options.where, scan: options.scan } as FindOptions<R>, false);
    if (plan.where.exact) {
      const row = await this.#host
        .session()
        .get<{ n: number }>(
          `SELECT count(*) AS n FROM "${codec.physicalTable}" WHERE ${plan.where.sql}`,
          plan.where.params,
        );
      return row!.n;
    }
    let n = 0;
    for await (const batch of this.#batches(codec, { ...plan, wanted: [codec.primaryKey] }))
      n += batch.length;
    return n;
  }

  /**
   * Matching rows in order with their keyset position. Reads in batches by keyset pagination, so
   * nothing holds the connection while the caller works on a row.
   */
  /**
   * Matching rows in order, one array per SQL batch (a promise per batch, not per row), each with
   * its keyset position when `positions` is set. Reads in batches by keyset pagination, so nothing
   * holds the connection while the caller works on a batch.
   */
  async *#batches(
    codec: TableCodec,
    plan: Plan,
    positions = false,
  ): AsyncIterableIterator<{ row: AnyRow; position: SqlValue[] | null }[]> {
    const { where, order } = plan;
    const userOrder = order.filter((o) => !plan.sortInMemory || o.column.encryption === null);
    // Without a requested order, page by rowid where the backend has one: index lookups return
    // rows in rowid order, so no sort (and no scan of the primary-key index) is needed.
    const keyOrder: Order[] = [
      ...userOrder,
      userOrder.length === 0 && this.#host.rowid
        ? { column: codec.primaryKey, desc: false, sql: 'rowid' }
        : { column: codec.primaryKey, desc: false, sql: `"p_${codec.primaryKey.name}"` },
    ];
    const testColumns = where.exact ? [] : [...where.columns];
    const readColumns = new Set<StoredColumn>([
      ...plan.wanted,
      ...testColumns,
      ...(plan.sortInMemory ? order.map((o) => o.column) : []),
    ]);
    const physical = new Set(codec.physicalFor([...readColumns]));
    for (const o of keyOrder) if (o.sql !== 'rowid') physical.add(`p_${o.column.name}`);
    const select = [
      codec.selectList([...physical]),
      ...(keyOrder.some((o) => o.sql === 'rowid') ? ['rowid AS fx_rowid'] : []),
    ].join(', ');
    // Nulls placed explicitly where a column can hold them (backends differ by default): first
    // ascending, last descending, as SQLite sorts them and as the keyset condition and the
    // in-memory sort assume. The key never is null; left bare, its order stays an index's order.
    const orderSql = keyOrder
      .map((o) =>
        o.column.primaryKey
          ? `${o.sql} ${o.desc ? 'DESC' : 'ASC'}`
          : `${o.sql} ${o.desc ? 'DESC NULLS LAST' : 'ASC NULLS FIRST'}`,
      )
      .join(', ');
    const session = this.#host.session();
    const positionOf = (raw: Record<string, unknown>): SqlValue[] =>
      keyOrder.map((o) => (o.sql === 'rowid' ? raw['fx_rowid'] : raw[`p_${o.column.name}`]) as SqlValue);
    let after = plan.after;
    let emitted = 0;
    const buffered: { row: AnyRow; position: SqlValue[] | null }[] = [];
    // A scan sort needs its order columns decoded even when the caller did not select them.
    const decodeList = plan.sortInMemory
      ? [...new Set([...plan.wanted, ...order.map((o) => o.column)])]
      : plan.wanted;
    const wantedOnly = decodeList.filter((c) => !testColumns.includes(c));
    for (;;) {
      const params: SqlValue[] = [...where.params];
      let sql = `SELECT ${select} FROM "${codec.physicalTable}" WHERE ${where.sql}`;
      if (after !== null) {
        const keyset = keysetSql(keyOrder, after, this.#host.spelling);
        sql += ` AND ${keyset.sql}`;
        params.push(...keyset.params);
      }
      const batch = where.exact && !plan.sortInMemory ? Math.min(plan.limit - emitted, 4096) : BATCH;
      sql += ` ORDER BY ${orderSql} LIMIT ${batch}`;
      const raws = await session.all<Record<string, unknown>>(sql, params);
      const out: { row: AnyRow; position: SqlValue[] | null }[] = [];
      let full = false;
      for (const raw of raws) {
        codec.unpack(raw);
        let row: AnyRow;
        if (where.exact) {
          const decoded = withKeys(this.#host, () => codec.decode(raw, decodeList));
          row = decoded instanceof Promise ? await decoded : decoded;
        } else {
          const testing = withKeys(this.#host, () => codec.decode(raw, testColumns));
          const tested = testing instanceof Promise ? await testing : testing;
          if (!where.test(tested)) continue;
          const remaining = withKeys(this.#host, () => codec.decode(raw, wantedOnly));
          const rest = remaining instanceof Promise ? await remaining : remaining;
          row = {};
          for (const column of decodeList)
            row[column.name] = column.name in rest ? rest[column.name] : tested[column.name];
        }
        if (plan.sortInMemory) {
          buffered.push({ row, position: null });
          continue;
        }
        out.push({ row, position: positions ? positionOf(raw) : null });
        if (++emitted >= plan.limit) {
          full = true;
          break;
        }
      }
      if (out.length > 0) yield out;
      if (full || raws.length < batch) break;
      after = positionOf(raws[raws.length - 1]!);
    }
    if (plan.sortInMemory) {
      buffered.sort((a, b) => {
        for (const o of [...order, { column: codec.primaryKey, desc: false }]) {
          const x = a.row[o.column.name];
          const y = b.row[o.column.name];
          // SQL order: nulls first ascending, last descending.
          const c = x === null ? (y === null ? 0 : -1) : y === null ? 1 : compareValues(x, y);
          if (c !== 0) return o.desc ? -c : c;
        }
        return 0;
      });
      const selected = new Set(plan.wanted.map((c) => c.name));
      const out = buffered.slice(0, plan.limit).map((entry) => {
        const row: AnyRow = {};
        for (const key of Object.keys(entry.row)) if (selected.has(key)) row[key] = entry.row[key];
        return { row, position: null };
      });
      if (out.length > 0) yield out;
    }
  }

  /** Changes some columns of one row. `FX_ROW_NOT_FOUND` if there is no such row. */
  async #update(key: R[keyof R] | string | number, changes: Partial<I>): Promise<void> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    const checkedKey = this.#checkKey(codec, key);
    const checked = this.#checkRow(codec, changes, 'update');
    if (checked.size === 0) throw new FortressError('FX_TYPE_MISMATCH', 'update names no column to change');
    const preparing = this.#host.prepareWrite(codec, 1);
    if (preparing !== undefined) await preparing;
    const rowKey = codec.rowKeyText(checkedKey);
    const session = this.#host.session();
    const needsWholeRow =
      codec.schema.rowKey !== null &&
      [...checked.keys()].some((name) => codec.column(name).encryption !== null);
    if (!needsWholeRow) {
      const physical = new Map<string, SqlValue>();
      await withKeys(this.#host, () => {
        codec.encode(checked, rowKey, physical);
      });
      const result = await session.run(codec.updateSql([...physical.keys()]), [
        ...physical.values(),
        checkedKey as SqlValue,
      ]);
      if (result.changes === 0) throw notFound(this.name);
      return;
    }
    // A row envelope holds every encrypted column: read, merge, re-encrypt, atomically.
    await session.transaction(async (tx) => {
      const encrypted = codec.encrypted;
      const sql = `SELECT ${codec
        .physicalFor(encrypted)
        .map((c) => `"${c}"`)
        .join(', ')} FROM "${codec.physicalTable}" WHERE "p_${codec.primaryKey.name}" = ?`;
      const raw = await tx.get<Record<string, unknown>>(sql, [checkedKey as SqlValue]);
      if (raw === undefined) throw notFound(this.name);
      const current = await withKeys(this.#host, () => codec.decode(raw, encrypted));
      const merged = new Map<string, unknown>();
      for (const column of encrypted)
        merged.set(column.name, codec.check({ ...column, required: false }, current[column.name]));
      for (const [name, value] of checked) merged.set(name, value);
      const physical = new Map<string, SqlValue>();
      await withKeys(this.#host, () => {
        codec.encode(merged, rowKey, physical);
      });
      await tx.run(codec.updateSql([...physical.keys()]), [...physical.values(), checkedKey as SqlValue]);
    });
  }

  /** Deletes one row; returns whether it existed. */
  async #delete(key: R[keyof R] | string | number): Promise<boolean> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    const checkedKey = this.#checkKey(codec, key);
    const result = await this.#host
      .session()
      .run(`DELETE FROM "${codec.physicalTable}" WHERE "p_${codec.primaryKey.name}" = ?`, [
        checkedKey as SqlValue,
      ]);
    return result.changes > 0;
  }

  /** Deletes every row matching `where` (atomically); returns how many. */
  async #deleteMany(options: Pick<FindOptions<R>, 'where' | 'scan'>): Promise<number> {
    const pending = this.#codec();
    const codec = pending instanceof Promise ? await pending : pending;
    this.#checkOptions(options, ['where', 'scan'], 'deleteMany');
    if (options.where === undefined) throw queryInvalid('deleteMany needs a where filter');
    const plan = this.#plan(codec, { where: options.where, scan: options.scan } as FindOptions<R>, false);
    return this.#host.session().transaction(async (tx) => {
      if (plan.where.exact) {
        const result = await tx.run(
          `DELETE FROM "${codec.physicalTable}" WHERE ${plan.where.sql}`,
          plan.where.params,
        );
        return result.changes;
      }
      const keys: SqlValue[] = [];
      for await (const batch of this.#batches(codec, { ...plan, wanted: [codec.primaryKey] })) {
        for (const { row } of batch) keys.push(row[codec.primaryKey.name] as SqlValue);
      }
      for (const k of keys)
        await tx.run(`DELETE FROM "${codec.physicalTable}" WHERE "p_${codec.primaryKey.name}" = ?`, [k]);
      return keys.length;
    });
  }
}

function notFound(table: string): FortressError {
  return new FortressError('FX_ROW_NOT_FOUND', `table ${table} has no row with that primary key`);
}

/** The keyset condition "after this position" for an ordering (SQL order: nulls first ascending). */
function keysetSql(
  order: readonly Order[],
  position: readonly SqlValue[],
  spelling: SqlSpelling,
): { sql: string; params: SqlValue[] } {
  const params: SqlValue[] = [];
  const alternatives: string[] = [];
  for (let i = 0; i < order.length; i++) {
    const name = order[i]!.sql;
    const v = position[i] ?? null;
    // Nulls come last descending: nothing sorts after a null there but other nulls (ties).
    if (order[i]!.desc && v === null) continue;
    const terms: string[] = [];
    const termParams: SqlValue[] = [];
    for (let j = 0; j < i; j++) {
      const prior = order[j]!.sql;
      const p = position[j] ?? null;
      if (p === null) terms.push(`${prior} IS NULL`);
      else {
        terms.push(`${prior} = ?`);
        termParams.push(p);
      }
    }
    if (order[i]!.desc) {
      terms.push(`(${name} < ? OR ${name} IS NULL)`);
      termParams.push(v);
    } else if (v === null) {
      terms.push(`${name} IS NOT NULL`);
    } else {
      terms.push(`${name} > ?`);
      termParams.push(v);
    }
    alternatives.push(`(${terms.join(' AND ')})`);
    params.push(...termParams);
  }
  return { sql: alternatives.length === 0 ? spelling.false : `(${alternatives.join(' OR ')})`, params };
}

function orderSignature(order: readonly Order[]): string {
  return order.map((o) => `${o.column.name}:${o.desc ? 'd' : 'a'}`).join(',');
}

function encodeCursor(position: readonly SqlValue[], order: readonly Order[]): string {
  const values = position.map((v) =>
    v instanceof Uint8Array
      ? { b: Buffer.from(v).toString('base64') }
      : typeof v === 'bigint'
        ? { i: v.toString() }
        : v,
  );
  return Buffer.from(JSON.stringify({ o: orderSignature(order), v: values }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: unknown, order: readonly Order[]): SqlValue[] {
  const bad = (): FortressError =>
    queryInvalid('after: not a cursor from this query (cursors are tied to the orderBy)');
  if (typeof cursor !== 'string' || cursor.length > 65_536) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!isPlainObject(parsed) || parsed['o'] !== orderSignature(order) || !Array.isArray(parsed['v']))
    throw bad();
  const values = parsed['v'] as unknown[];
  if (values.length !== order.length + 1) throw bad();
  return values.map((v) => {
    if (v === null || typeof v === 'string' || typeof v === 'number') return v;
    if (isPlainObject(v) && typeof v['b'] === 'string') return Buffer.from(v['b'], 'base64');
    if (isPlainObject(v) && typeof v['i'] === 'string' && /^-?\d{1,19}$/.test(v['i'])) {
      const n = BigInt(v['i']);
      if (n >= -(2n ** 63n) && n < 2n ** 63n) return n;
    }
    throw bad();
  });
}
