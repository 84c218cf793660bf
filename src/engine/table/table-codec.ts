/**
 * @module engine/table/table-codec
 * Turns logical rows into physical rows and back for one version of a table's schema: typed
 * encoding, envelopes bound to (tenant, database, table, column, primary key), blind indexes.
 * Everything here is synchronous so a row costs no promise; the only asynchronous steps — loading a
 * key version that is not yet unwrapped — happen outside, when a call reports `KeyMiss`.
 */
import { BlindIndex } from '../../crypto/blind-index/blind-index.js';
import { composeNormalizers } from '../../crypto/blind-index/normalizers.js';
import type { DataKey } from '../../crypto/envelope/data-key.js';
import { decrypt, encrypt, type KeyResolver } from '../../crypto/envelope/envelope.js';
import { EncryptionContext } from '../../crypto/envelope/encryption-context.js';
import { ENVELOPE_HEADER_LENGTH } from '../../crypto/envelope/envelope-format.js';
import type { KeyManager } from '../../keys/key-manager.js';
import type { SqlValue } from '../../storage/dialect.js';
import { CryptoError, FortressError } from '../../util/errors.js';
import { checkValue, fromSql, toSql } from '../schema/column-types.js';
import { decodeRow, decodeValue, encodeRow, encodeValue, type RowEntry } from '../codec/value-codec.js';
import {
  physicalColumns,
  ROW_ENVELOPE,
  type StoredColumn,
  type StoredTable,
} from '../schema/table-schema.js';

/** Thrown inside synchronous decoding when an envelope's key version is not unwrapped yet. */
export class KeyMiss extends Error {
  constructor(readonly envelope: Uint8Array) {
    super('key version not unwrapped yet');
  }
}

/** Thrown inside synchronous encoding when a data key is not ready to encrypt under. */
export class EncryptionKeyMiss extends Error {
  constructor(readonly keyId: number) {
    super('data key not ready to encrypt under');
  }
}

/** Loads keys a synchronous codec step reported missing. */
export interface KeyLoader {
  /** Unwraps the key version an envelope names (after a `KeyMiss`). */
  loadKey(envelope: Uint8Array): Promise<void>;
  /** Loads the key a write found not ready (after an `EncryptionKeyMiss`). */
  loadEncryptionKey(keyId: number): Promise<void>;
}

/**
 * Runs a synchronous codec step, loading keys it reports missing and retrying. Returns the result
 * directly when no key had to be loaded (the hot path allocates no promise).
 */
export function withKeys<T>(loader: KeyLoader, step: () => T): T | Promise<T> {
  try {
    return step();
  } catch (error) {
    if (error instanceof KeyMiss || error instanceof EncryptionKeyMiss)
      return withKeysSlow(loader, step, error);
    throw error;
  }
}

async function withKeysSlow<T>(loader: KeyLoader, step: () => T, first: unknown): Promise<T> {
  let error = first;
  for (let attempt = 0; attempt <= 64; attempt++) {
    if (error instanceof KeyMiss) await loader.loadKey(error.envelope);
    else if (error instanceof EncryptionKeyMiss) await loader.loadEncryptionKey(error.keyId);
    else throw error;
    try {
      return step();
    } catch (next) {
      error = next;
    }
  }
  throw error;
}

/** One column of a decode: its physical names and, at field level, its per-row context. */
interface DecodeStep {
  readonly column: StoredColumn;
  readonly name: string;
  readonly plain: string;
  readonly envelope: string;
  readonly context: ((row: string) => EncryptionContext) | null;
}

/** Where the table lives, for encryption contexts. */
export interface TableScope {
  readonly tenant: string;
  readonly database: string;
  /** Read a row's envelopes as one concatenated blob (StorageCapabilities.blobConcat). */
  readonly packEnvelopes?: boolean;
  /**
   * Index lookups come back in rowid order by themselves (StorageCapabilities.rowid); otherwise
   * they are ordered by the key, so results come in the same order as the general planner's.
   */
  readonly rowidOrder?: boolean;
}

/** Columns of one blind-index slot ready to compute. */
export interface SlotIndex {
  readonly column: string;
  readonly index: BlindIndex;
}

export const ROW_CONTEXT_COLUMN = '#row';

function readU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0
  );
}

/** Key id and version named by an envelope's header. */
export function envelopeKey(envelope: Uint8Array): { keyId: number; version: number } {
  return { keyId: readU32(envelope, 2), version: readU32(envelope, 6) };
}

export class TableCodec {
  readonly schema: StoredTable;
  readonly primaryKey: StoredColumn;
  readonly columns: ReadonlyMap<string, StoredColumn>;
  readonly encrypted: readonly StoredColumn[];
  readonly plaintext: readonly StoredColumn[];
  /** Physical columns of the table, in creation order. */
  readonly physical: readonly string[];
  readonly insertSql: string;
  readonly physicalTable: string;
  readonly #keys: KeyManager;
  readonly #resolve: KeyResolver;
  readonly #pack: boolean;
  readonly #rowidOrder: boolean;
  /** Per-column scratch contexts: the row key is written in place (no allocation per value). */
  readonly #contexts = new Map<string, (row: string) => EncryptionContext>();
  readonly #selects = new Map<string, string>();
  readonly #decodePlans = new WeakMap<readonly StoredColumn[], readonly DecodeStep[]>();
  readonly #primaryPhysical: string;
  /** `[fx_l:<envelope column>, <envelope column>]` in physical order, for unpack(). */
  readonly #lengthColumns: (readonly [string, string])[] = [];
  readonly #splits = new Map<StoredColumn, readonly [StoredColumn[], StoredColumn[]]>();
  readonly #updates = new Map<string, string>();
  /** Data key id per encrypted column (field level) or of the row key. */
  readonly #dataKeyIds = new Map<string, number>();
  #rowKeyId = -1;
  /** Blind indexes per searchable column: [active, pending]. */
  readonly #indexes = new Map<
    string,
    { active: BlindIndex; pending: BlindIndex | null; normalize: (s: string) => string }
  >();

  private constructor(schema: StoredTable, keys: KeyManager, scope: TableScope) {
    this.schema = schema;
    this.#keys = keys;
    this.#resolve = keys.resolver();
    this.#pack = scope.packEnvelopes === true;
    this.#rowidOrder = scope.rowidOrder === true;
    this.columns = new Map(schema.columns.map((c) => [c.name, c]));
    this.primaryKey = schema.columns.find((c) => c.primaryKey)!;
    this.#primaryPhysical = `p_${this.primaryKey.name}`;
    this.encrypted = schema.columns.filter((c) => c.encryption !== null);
    this.plaintext = schema.columns.filter((c) => c.encryption === null);
    this.physicalTable = `fx_t_${schema.name}`;
    const physical: string[] = [];
    for (const column of schema.columns) {
      for (const p of physicalColumns(column, schema.level)) physical.push(p.name);
      const base = { tenant: scope.tenant, database: scope.database, table: schema.name };
      if (column.encryption !== null && schema.level === 'field') {
        this.#contexts.set(column.name, EncryptionContext.of({ ...base, column: column.name }).rowScratch());
      }
    }
    if (schema.rowKey !== null) {
      physical.push(ROW_ENVELOPE);
      this.#contexts.set(
        ROW_CONTEXT_COLUMN,
        EncryptionContext.of({
          tenant: scope.tenant,
          database: scope.database,
          table: schema.name,
          column: ROW_CONTEXT_COLUMN,
        }).rowScratch(),
      );
    }
    this.physical = physical;
    for (const p of physical) if (p.startsWith('e_')) this.#lengthColumns.push([`fx_l:${p}`, p]);
    this.insertSql = `INSERT INTO "${this.physicalTable}" (${physical.map((p) => `"${p}"`).join(', ')}) VALUES (${physical.map(() => '?').join(', ')})`;
  }

  /** Builds the codec, unwrapping the index keys its blind indexes need. */
  static async create(schema: StoredTable, keys: KeyManager, scope: TableScope): Promise<TableCodec> {
    const codec = new TableCodec(schema, keys, scope);
    await codec.#load();
    return codec;
  }

  async #load(): Promise<void> {
    for (const column of this.encrypted) {
      const encryption = column.encryption!;
      if (this.schema.level === 'field')
        this.#dataKeyIds.set(column.name, this.#keys.getKey(encryption.key).id);
      const search = encryption.search;
      if (search !== null) {
        const options = { bits: search.bits, normalizers: search.normalize };
        const active = new BlindIndex(
          await this.#keys.indexKey(search.indexKey, search.active.keyVersion),
          options,
        );
        const pending =
          search.pending === null
            ? null
            : new BlindIndex(await this.#keys.indexKey(search.indexKey, search.pending.keyVersion), options);
        this.#indexes.set(column.name, { active, pending, normalize: composeNormalizers(search.normalize) });
      }
    }
    if (this.schema.rowKey !== null) this.#rowKeyId = this.#keys.getKey(this.schema.rowKey.key).id;
    this.dataKeyIds = Object.freeze([
      ...this.#dataKeyIds.values(),
      ...(this.#rowKeyId >= 0 ? [this.#rowKeyId] : []),
    ]);
  }

  /** Data key ids this table encrypts new values under. */
  dataKeyIds: readonly number[] = [];

  dataKeyIdOf(column: string | null): number {
    return column === null ? this.#rowKeyId : this.#dataKeyIds.get(column)!;
  }

  column(name: string): StoredColumn {
    const column = this.columns.get(name);
    if (column === undefined) {
      throw new FortressError(
        'FX_COLUMN_NOT_FOUND',
        `table ${this.schema.name} has no column ${JSON.stringify(name.slice(0, 80))}`,
      );
    }
    return column;
  }

  /** The primary key's text form, which every envelope of the row is bound to. */
  rowKeyText(checkedKey: unknown): string {
    return typeof checkedKey === 'number' ? String(checkedKey) : (checkedKey as string);
  }

  #dataKey(keyId: number): DataKey {
    const key = this.#keys.readyEncryptionKey(keyId);
    if (key === undefined) throw new EncryptionKeyMiss(keyId);
    return key;
  }

  /** Blind-index value(s) of a checked value for `column`: [active, pending?]. */
  indexValues(column: StoredColumn, checked: unknown): [number, number | null] {
    const index = this.#indexes.get(column.name)!;
    const bytes = this.#indexInput(column, checked, index.normalize);
    return [index.active.computeInt(bytes), index.pending === null ? null : index.pending.computeInt(bytes)];
  }

  #indexInput(column: StoredColumn, checked: unknown, normalize: (s: string) => string): Uint8Array {
    if (checked !== null && column.type === 'text') return encodeValue('text', normalize(checked as string));
    return encodeValue(column.type, checked);
  }

  /** The normalised comparison form of a text value for a searchable column. */
  normalizeForSearch(column: StoredColumn, value: string): string {
    return this.#indexes.get(column.name)!.normalize(value);
  }

  /**
   * Physical values for `checked` (a map of column → checked value). With `full`, columns not in
   * `checked` are written as null (inserts); otherwise only the given columns' physical columns are
   * returned (field-level updates). Row-level tables always need every encrypted column.
   */
  encode(
    checked: ReadonlyMap<string, unknown>,
    rowKey: string,
    out: Map<string, SqlValue>,
    /** False when re-encrypting values whose blind indexes are already current (no HMAC needed). */
    indexes = true,
  ): void {
    const level = this.schema.level;
    let entries: RowEntry[] | null = null;
    for (const [name, value] of checked) {
      const column = this.columns.get(name)!;
      const encryption = column.encryption;
      if (encryption === null) {
        out.set(`p_${name}`, value === null ? null : toSql(column.type, value));
        continue;
      }
      if (column.legacyPlaintext) out.set(`p_${name}`, null);
      const typed = encodeValue(column.type, value);
      if (level === 'field') {
        const context = this.#contexts.get(name)!(rowKey);
        out.set(`e_${name}`, encrypt(this.#dataKey(this.#dataKeyIds.get(name)!), typed, context));
      } else {
        (entries ??= []).push({ name, encoded: typed });
      }
      const search = encryption.search;
      if (search !== null && (indexes || column.legacyPlaintext || search.pending !== null)) {
        const [active, pending] = this.indexValues(column, value);
        out.set(`b${search.active.slot}_${name}`, active);
        if (search.pending !== null) out.set(`b${search.pending.slot}_${name}`, pending);
      }
    }
    if (entries !== null) {
      const context = this.#contexts.get(ROW_CONTEXT_COLUMN)!(rowKey);
      out.set(ROW_ENVELOPE, encrypt(this.#dataKey(this.#rowKeyId), encodeRow(entries), context));
    }
  }

  /** Zeroes the blind-index keys' HMAC states (the codec is dropped at seal and close). */
  dispose(): void {
    for (const { active, pending } of this.#indexes.values()) {
      active.dispose();
      pending?.dispose();
    }
  }

  /** Checks one value for a column; null is allowed unless the column is required. */
  check(column: StoredColumn, value: unknown): unknown {
    if (value === null || value === undefined) {
      if (column.required) {
        throw new FortressError('FX_TYPE_MISMATCH', `column ${column.name} is required and cannot be null`);
      }
      return null;
    }
    return checkValue(column.name, column.type, value, column.maxBytes);
  }

  #open(envelope: Uint8Array, context: EncryptionContext): Buffer {
    // Stored bytes are untrusted: anything too short for a header, or not bytes at all, is
    // reported as a malformed envelope before its header is read.
    if (!(envelope instanceof Uint8Array) || envelope.length <= ENVELOPE_HEADER_LENGTH) {
      throw new CryptoError(
        'FX_CRYPTO_MALFORMED_ENVELOPE',
        `a stored value of table ${this.schema.name} is not an envelope`,
      );
    }
    const key = this.#resolve(readU32(envelope, 2), readU32(envelope, 6), 'xchacha20-poly1305');
    if (key === undefined) throw new KeyMiss(envelope);
    return decrypt(key, envelope, context);
  }

  /**
   * A logical row from a physical one. `wanted` limits which columns are decoded (and decrypted);
   * the primary key is always included.
   */
  decode(raw: Record<string, unknown>, wanted: readonly StoredColumn[]): Record<string, unknown> {
    const row: Record<string, unknown> = {};
    const rawKey = raw[this.#primaryPhysical];
    const rowKey = this.rowKeyText(typeof rawKey === 'bigint' ? Number(rawKey) : rawKey);
    let rowValues: Map<string, Uint8Array> | null | undefined;
    for (const step of this.#decodePlan(wanted)) {
      const column = step.column;
      if (column.encryption === null) {
        row[step.name] = fromSql(column.type, raw[step.plain]);
        continue;
      }
      let value: unknown = null;
      let found = false;
      if (step.context !== null) {
        const envelope = raw[step.envelope] as Uint8Array | null | undefined;
        if (envelope !== null && envelope !== undefined) {
          value = decodeValue(column.type, this.#open(envelope, step.context(rowKey)), step.name);
          found = true;
        }
      } else {
        if (rowValues === undefined) {
          const envelope = raw[ROW_ENVELOPE] as Uint8Array | null | undefined;
          rowValues =
            envelope === null || envelope === undefined
              ? null
              : decodeRow(
                  this.#open(envelope, this.#contexts.get(ROW_CONTEXT_COLUMN)!(rowKey)),
                  this.schema.name,
                );
        }
        const encoded = rowValues?.get(step.name);
        if (encoded !== undefined) {
          value = decodeValue(column.type, encoded, step.name);
          found = true;
        }
      }
      if (!found && column.legacyPlaintext) value = fromSql(column.type, raw[step.plain]);
      row[step.name] = value;
    }
    return row;
  }

  /**
   * `[[column], every other column]`, the same arrays each time (decode plans are cached per
   * array), for decoding a searched column before the rest of the row.
   */
  splitColumns(column: StoredColumn): readonly [readonly StoredColumn[], readonly StoredColumn[]] {
    let split = this.#splits.get(column);
    if (split === undefined) {
      split = [[column], this.schema.columns.filter((c) => c !== column)];
      this.#splits.set(column, split);
    }
    return split;
  }

  /**
   * Per-column decode steps with their physical names and contexts worked out once (the read hot
   * path otherwise builds the same strings and map lookups for every value of every row).
   */
  #decodePlan(wanted: readonly StoredColumn[]): readonly DecodeStep[] {
    let plan = this.#decodePlans.get(wanted);
    if (plan === undefined) {
      plan = wanted.map((column) => ({
        column,
        name: column.name,
        plain: `p_${column.name}`,
        envelope: `e_${column.name}`,
        context: this.schema.level === 'field' ? (this.#contexts.get(column.name) ?? null) : null,
      }));
      this.#decodePlans.set(wanted, plan);
    }
    return plan;
  }

  /** `UPDATE … SET <columns> = ? … WHERE <primary key> = ?`, cached per column list. */
  updateSql(columns: readonly string[]): string {
    const cacheKey = columns.join(',');
    let sql = this.#updates.get(cacheKey);
    if (sql === undefined) {
      sql = `UPDATE "${this.physicalTable}" SET ${columns.map((c) => `"${c}" = ?`).join(', ')} WHERE "p_${this.primaryKey.name}" = ?`;
      if (this.#updates.size < 256) this.#updates.set(cacheKey, sql);
    }
    return sql;
  }

  /** Every column of the rows whose blind-index slot holds a value, in rowid (or key) order. */
  selectByIndexSql(column: StoredColumn, slot: 0 | 1, scope?: StoredColumn): string {
    const cacheKey = `#index:${column.name}:${slot}${scope === undefined ? '' : `#scope:${scope.name}`}`;
    let sql = this.#selects.get(cacheKey);
    if (sql === undefined) {
      const order = this.#rowidOrder ? '' : ` ORDER BY "p_${this.primaryKey.name}"`;
      sql = `SELECT ${this.selectList(this.physicalFor(this.schema.columns))} FROM "${this.physicalTable}" WHERE "b${slot}_${column.name}" = ?${scopeSql(scope)}${order}`;
      this.#selects.set(cacheKey, sql);
    }
    return sql;
  }

  /**
   * `SELECT <physical columns of wanted> FROM <table> WHERE <primary key> = ?`, cached per column
   * list; with `scope`, two more parameters bound: the row-scope bound and mask (see `RowScope`).
   */
  selectByKeySql(wanted: readonly StoredColumn[], scope?: StoredColumn): string {
    const columns = wanted === this.schema.columns ? '*' : wanted.map((c) => c.name).join(',');
    const cacheKey = scope === undefined ? columns : `${columns}#scope:${scope.name}`;
    let sql = this.#selects.get(cacheKey);
    if (sql === undefined) {
      sql = `SELECT ${this.selectList(this.physicalFor(wanted))} FROM "${this.physicalTable}" WHERE "p_${this.primaryKey.name}" = ?${scopeSql(scope)}`;
      if (this.#selects.size < 256) this.#selects.set(cacheKey, sql);
    }
    return sql;
  }

  /**
   * The SELECT list for physical columns. Where the backend can, several envelope columns come
   * back as one blob (`fx_env`) plus their lengths; `unpack()` splits it into views again.
   */
  selectList(physical: readonly string[]): string {
    // Envelopes in physical order whatever the order asked for: unpack() walks them in that order.
    const envelopes = this.physical.filter((p) => p.startsWith('e_') && physical.includes(p));
    if (!this.#pack || envelopes.length < 2) return physical.map((p) => `"${p}"`).join(', ');
    return [
      ...physical.filter((p) => !p.startsWith('e_')).map((p) => `"${p}"`),
      `CAST(${envelopes.map((e) => `coalesce("${e}", x'')`).join(' || ')} AS BLOB) AS fx_env`,
      ...envelopes.map((e) => `octet_length("${e}") AS "fx_l:${e}"`),
    ].join(', ');
  }

  /** Splits a packed row (see `selectList`) back into its envelope columns, as views. */
  unpack(raw: Record<string, unknown>): void {
    const packed = raw['fx_env'];
    if (!(packed instanceof Uint8Array)) return;
    let offset = 0;
    for (const [lengthColumn, name] of this.#lengthColumns) {
      const length = raw[lengthColumn];
      if (length === undefined) continue; // not selected
      if (typeof length !== 'number') {
        raw[name] = null;
      } else {
        raw[name] = packed.subarray(offset, offset + length);
        offset += length;
      }
    }
  }

  /** Physical columns a read of `wanted` needs. */
  physicalFor(wanted: readonly StoredColumn[]): string[] {
    const out = new Set<string>([`p_${this.primaryKey.name}`]);
    for (const column of wanted) {
      if (column.encryption === null || column.legacyPlaintext) out.add(`p_${column.name}`);
      if (column.encryption !== null)
        out.add(this.schema.level === 'field' ? `e_${column.name}` : ROW_ENVELOPE);
    }
    return [...out];
  }

  /**
   * True when a stored row does not match the current write layout: an envelope under another key
   * or an older version, a value still in plaintext, or a blind-index slot still to fill.
   */
  needsRewrite(raw: Record<string, unknown>, activeVersions: ReadonlyMap<number, number>): boolean {
    const stale = (envelope: unknown, keyId: number): boolean => {
      if (envelope === null || envelope === undefined) return false;
      const bytes = envelope as Uint8Array;
      if (bytes.length < ENVELOPE_HEADER_LENGTH) return true;
      return readU32(bytes, 2) !== keyId || readU32(bytes, 6) !== activeVersions.get(keyId);
    };
    for (const column of this.encrypted) {
      const name = column.name;
      if (column.legacyPlaintext && raw[`p_${name}`] !== null && raw[`p_${name}`] !== undefined) return true;
      if (this.schema.level === 'field' && stale(raw[`e_${name}`], this.#dataKeyIds.get(name)!)) return true;
      const pending = column.encryption!.search?.pending;
      // Rows indexed under the active slot but not yet the pending one (a row whose column predates
      // the index has neither, and queries find it through the null rule instead).
      if (pending != null && raw[`b${pending.slot}_${name}`] == null) {
        const active = column.encryption!.search!.active;
        if (raw[`b${active.slot}_${name}`] != null) return true;
      }
    }
    return this.schema.rowKey !== null && stale(raw[ROW_ENVELOPE], this.#rowKeyId);
  }
}

/** The row-scope predicate (`RowScope`): below a bound, none of a mask's bits; binds two parameters. */
function scopeSql(scope: StoredColumn | undefined): string {
  return scope === undefined ? '' : ` AND "p_${scope.name}" < ? AND ("p_${scope.name}" & ?) = 0`;
}
