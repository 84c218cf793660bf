/**
 * @module engine/schema/table-schema
 * Table definitions as users write them, their validation, and the stored schema the engine keeps
 * in `fx_tables` (names of physical columns, keys, blind-index slots, transitions in progress).
 *
 * Physical layout of a table `t` (docs/formats.md § Tables): SQL table `fx_t_<t>` with
 * - `p_<c>`: a plaintext column (always the primary key) in its SQL type;
 * - `e_<c>`: a field-level envelope;
 * - `e__row`: the row envelope (row and table levels) holding every encrypted column;
 * - `b0_<c>`, `b1_<c>`: blind-index slots of a searchable column (two during an index key rotation).
 */
import { createHash } from 'node:crypto';
import type { AeadName } from '../../crypto/aead/aead.js';
import { isAeadName } from '../../crypto/aead/registry.js';
import type { NormalizerName } from '../../crypto/blind-index/normalizers.js';
import { planBlindIndexBits } from '../../crypto/blind-index/planner.js';
import { MAX_PLAINTEXT_BYTES } from '../../crypto/envelope/envelope-format.js';
import type { SqlColumnType, SqlSpelling } from '../../storage/dialect.js';
import { describe } from '../../util/bytes.js';
import { FortressError } from '../../util/errors.js';
import {
  COLUMN_TYPES,
  DEFAULT_MAX_VALUE_BYTES,
  sqlTypeOf,
  type ColumnType,
  type ColumnValueTypes,
} from './column-types.js';

/** Names of tables and columns: a letter, then letters, digits or `_`; at most 63 characters. */
export const NAME_RE: RegExp = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;

export type EncryptionLevel = 'field' | 'row' | 'table';

export interface EncryptOptions {
  /** `'equality'`: `=` and `IN` through a blind index. */
  readonly search?: 'equality';
  /** @default the table's algorithm */
  readonly algorithm?: AeadName;
  /** Blind-index size in bits; default: the planner's pick for `expectedRows`. */
  readonly indexBits?: number;
  /** What counts as equal for search. @default ['exact'] */
  readonly normalize?: readonly NormalizerName[];
}

export interface ColumnDefinition {
  readonly type: ColumnType;
  /** Exactly one column is the primary key (text, integer or uuid; never encrypted). */
  readonly primaryKey?: boolean;
  /** Encrypt this column (`true` or options). Under `encryption: 'table'` every non-key column is. */
  readonly encrypt?: boolean | EncryptOptions;
  /** Refuse null. @default false (the primary key is always required, generated when absent) */
  readonly required?: boolean;
  /** Largest value in bytes (text as UTF-8, json as its text). @default 1 MiB */
  readonly maxBytes?: number;
  /** Keep a SQL index on a plaintext column (range queries and ordering). */
  readonly index?: boolean;
  /**
   * What a caller who may `read` this column but not `decrypt` it sees (policy sessions, see
   * `db.as()`): `redact`, `last4`, `email` (a***@example.com), `hash` (keyed), `null`, or `omit`.
   * @default 'redact'
   */
  readonly mask?: ColumnMask;
}

/** Masking rules a column can declare (the policy layer implements them). */
export type ColumnMask = 'redact' | 'last4' | 'email' | 'hash' | 'null' | 'omit';
export const COLUMN_MASKS: readonly ColumnMask[] = Object.freeze([
  'redact',
  'last4',
  'email',
  'hash',
  'null',
  'omit',
]);

export interface TableDefinition {
  readonly columns: Readonly<Record<string, ColumnDefinition>>;
  /** @default 'field' */
  readonly encryption?: EncryptionLevel;
  /** Algorithm of encrypted columns. @default 'xchacha20-poly1305' */
  readonly algorithm?: AeadName;
  /** Rows the table is expected to grow to; sizes blind indexes. @default 1_000_000 */
  readonly expectedRows?: number;
  /**
   * The table's security label for mandatory access control, e.g. `'secret'` or
   * `'secret:alpha+beta'` (levels and compartments of the database's label scheme). Unlabelled
   * tables are at the lowest level.
   */
  readonly classification?: string;
  /**
   * An integer column holding each row's security label (packed by the label scheme; policy
   * sessions read and write it as label text). Rows above a session's clearance are filtered out
   * in SQL; writes labelled below its level are refused.
   */
  readonly rowLabel?: string;
}

// ── typed rows ─────────────────────────────────────────────────────────────────────────────────

type ValueOf<C extends ColumnDefinition> = ColumnValueTypes[C['type']];
type IsRequired<C extends ColumnDefinition> = C extends { primaryKey: true } | { required: true }
  ? true
  : false;

/** A row as read back: every column, null where nothing is stored (unless required). */
export type RowOf<D extends TableDefinition> = {
  -readonly [K in keyof D['columns']]: IsRequired<D['columns'][K]> extends true
    ? ValueOf<D['columns'][K]>
    : ValueOf<D['columns'][K]> | null;
};

type Generated<C extends ColumnDefinition> = C extends { primaryKey: true; type: 'uuid' | 'integer' }
  ? true
  : false;

/** A row as inserted: required columns must be present, the generated key and nullable columns may not. */
export type InsertOf<D extends TableDefinition> = {
  -readonly [
    K in keyof D['columns'] as IsRequired<D['columns'][K]> extends true
      ? Generated<D['columns'][K]> extends true
        ? never
        : K
      : never
  ]: ValueOf<D['columns'][K]>;
} & {
  -readonly [
    K in keyof D['columns'] as IsRequired<D['columns'][K]> extends true
      ? Generated<D['columns'][K]> extends true
        ? K
        : never
      : K
  ]?: ValueOf<D['columns'][K]> | (IsRequired<D['columns'][K]> extends true ? never : null);
};

/** Any row, when the schema is not known at compile time. */
export type AnyRow = Record<string, unknown>;

// ── stored schema ──────────────────────────────────────────────────────────────────────────────

/** One blind-index slot: which index key version fills it. */
export interface IndexSlot {
  readonly slot: 0 | 1;
  readonly keyVersion: number;
}

export interface StoredSearch {
  readonly indexKey: string;
  readonly bits: number;
  readonly normalize: readonly NormalizerName[];
  /** The slot queries trust. */
  readonly active: IndexSlot;
  /** During an index key rotation: the slot being filled under the new version. */
  readonly pending: IndexSlot | null;
}

export interface StoredEncryption {
  /** The data key new values are encrypted under (field level); row-level tables use `StoredTable.rowKey`. */
  readonly key: string;
  readonly algorithm: AeadName;
  readonly search: StoredSearch | null;
}

export interface StoredColumn {
  readonly name: string;
  readonly type: ColumnType;
  readonly primaryKey: boolean;
  readonly required: boolean;
  readonly maxBytes: number;
  readonly index: boolean;
  readonly encryption: StoredEncryption | null;
  /** Set while an encrypt-column job runs: some rows still hold the value in `p_<name>`. */
  readonly legacyPlaintext: boolean;
  /** Masking rule for readers without `decrypt` (absent: redact). */
  readonly mask?: ColumnMask;
}

export interface StoredTable {
  readonly name: string;
  readonly level: EncryptionLevel;
  readonly algorithm: AeadName;
  readonly expectedRows: number;
  readonly columns: readonly StoredColumn[];
  /** Row and table levels: the data key of row envelopes. */
  readonly rowKey: { readonly key: string; readonly algorithm: AeadName } | null;
  /** Bumped at every schema change. */
  readonly version: number;
  /** Security label text (validated by the policy layer); absent: the lowest level. */
  readonly classification?: string;
  /** The row-label column, if rows carry labels. */
  readonly rowLabel?: string;
}

export function physicalTable(table: string): string {
  return `fx_t_${table}`;
}

export const ROW_ENVELOPE = 'e__row';

function invalid(message: string): FortressError {
  return new FortressError('FX_SCHEMA_INVALID', message);
}

export function checkName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw invalid(
      `${what} ${typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : describe(name)} is not a valid name: use a letter, then letters, digits or _ (at most 63)`,
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw invalid(`${where}: unknown option ${JSON.stringify(key.slice(0, 40))}`);
  }
}

const NORMALIZERS: readonly string[] = ['exact', 'nfc', 'trim', 'casefold'];
const KEY_TYPES: readonly ColumnType[] = ['text', 'integer', 'uuid'];

/** Names of the keys a table's columns use. */
export interface KeyNaming {
  dataKey(table: string, column: string | null, algorithm: AeadName): string;
  indexKey(table: string, column: string): string;
}

/**
 * Validates a column definition and returns its stored form. `level` and `tableAlgorithm` are the
 * table's; the keys it names are created by the caller.
 */
export function buildColumn(
  table: string,
  name: string,
  definition: unknown,
  level: EncryptionLevel,
  tableAlgorithm: AeadName,
  expectedRows: number,
  naming: KeyNaming,
): StoredColumn {
  checkName(name, 'column');
  const where = `column ${name}`;
  if (!isObject(definition))
    throw invalid(`${where}: expected a column definition object, got ${describe(definition)}`);
  checkKeys(definition, ['type', 'primaryKey', 'encrypt', 'required', 'maxBytes', 'index', 'mask'], where);
  const mask = definition['mask'];
  if (mask !== undefined && !(COLUMN_MASKS as readonly unknown[]).includes(mask)) {
    throw invalid(`${where}: mask must be one of ${COLUMN_MASKS.join(', ')}`);
  }
  const type = definition['type'];
  if (typeof type !== 'string' || !(COLUMN_TYPES as readonly string[]).includes(type)) {
    throw invalid(`${where}: type must be one of ${COLUMN_TYPES.join(', ')}`);
  }
  const columnType = type as ColumnType;
  for (const flag of ['primaryKey', 'required', 'index'] as const) {
    if (definition[flag] !== undefined && typeof definition[flag] !== 'boolean') {
      throw invalid(`${where}: ${flag} must be true or false`);
    }
  }
  const primaryKey = definition['primaryKey'] === true;
  const maxBytes = definition['maxBytes'] ?? DEFAULT_MAX_VALUE_BYTES;
  if (
    typeof maxBytes !== 'number' ||
    !Number.isSafeInteger(maxBytes) ||
    maxBytes < 1 ||
    maxBytes > MAX_PLAINTEXT_BYTES - 1024
  ) {
    throw invalid(`${where}: maxBytes must be an integer from 1 to ${MAX_PLAINTEXT_BYTES - 1024}`);
  }
  let encrypt = definition['encrypt'];
  if (encrypt !== undefined && typeof encrypt !== 'boolean' && !isObject(encrypt)) {
    throw invalid(`${where}: encrypt must be true, false or an options object`);
  }
  if (primaryKey) {
    if (!KEY_TYPES.includes(columnType))
      throw invalid(`${where}: a primary key must be text, integer or uuid`);
    if (encrypt !== undefined && encrypt !== false) {
      throw invalid(
        `${where}: the primary key cannot be encrypted (it is part of every value's encryption context)`,
      );
    }
    encrypt = false;
  } else if (level === 'table' && encrypt === undefined) {
    encrypt = true;
  } else if (level === 'table' && encrypt === false) {
    throw invalid(`${where}: table-level encryption encrypts every non-key column`);
  }
  let encryption: StoredEncryption | null = null;
  if (encrypt === true || isObject(encrypt)) {
    const options: Record<string, unknown> = isObject(encrypt) ? encrypt : {};
    checkKeys(options, ['search', 'algorithm', 'indexBits', 'normalize'], `${where}: encrypt`);
    const algorithm = options['algorithm'] ?? tableAlgorithm;
    if (typeof algorithm !== 'string' || !isAeadName(algorithm)) {
      throw invalid(`${where}: unknown algorithm ${describe(algorithm)}`);
    }
    if (level !== 'field' && algorithm !== tableAlgorithm) {
      throw invalid(`${where}: under ${level}-level encryption every column uses the table's algorithm`);
    }
    if (definition['index'] === true)
      throw invalid(`${where}: an encrypted column has no SQL index (use search: 'equality')`);
    let search: StoredSearch | null = null;
    if (options['search'] !== undefined) {
      if (options['search'] !== 'equality') throw invalid(`${where}: search must be 'equality'`);
      if (columnType === 'json') throw invalid(`${where}: json columns are not searchable`);
      const bits = options['indexBits'] ?? planBlindIndexBits({ rows: expectedRows }).recommended;
      if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 1 || bits > 48) {
        throw invalid(`${where}: indexBits must be an integer from 1 to 48`);
      }
      const normalize = options['normalize'] ?? ['exact'];
      if (
        !Array.isArray(normalize) ||
        normalize.length === 0 ||
        normalize.some((n) => !NORMALIZERS.includes(n as string))
      ) {
        throw invalid(`${where}: normalize must be a list of ${NORMALIZERS.join(', ')}`);
      }
      if (columnType !== 'text' && normalize.some((n) => n !== 'exact')) {
        throw invalid(`${where}: only text columns take normalisers`);
      }
      search = {
        indexKey: naming.indexKey(table, name),
        bits,
        normalize: Object.freeze([...(normalize as NormalizerName[])]),
        active: { slot: 0, keyVersion: 1 },
        pending: null,
      };
    } else if (options['indexBits'] !== undefined || options['normalize'] !== undefined) {
      throw invalid(`${where}: indexBits and normalize need search: 'equality'`);
    }
    encryption = {
      key: level === 'field' ? naming.dataKey(table, name, algorithm) : '',
      algorithm,
      search,
    };
  }
  return Object.freeze({
    name,
    type: columnType,
    primaryKey,
    required: primaryKey || definition['required'] === true,
    maxBytes,
    index: definition['index'] === true,
    encryption,
    legacyPlaintext: false,
    ...(mask === undefined ? {} : { mask: mask as ColumnMask }),
  });
}

/** Validates a whole table definition; returns the stored schema (version 1). */
export function buildTable(name: unknown, definition: unknown, naming: KeyNaming): StoredTable {
  checkName(name, 'table');
  if (!isObject(definition))
    throw invalid(`table ${name}: expected a definition object, got ${describe(definition)}`);
  checkKeys(
    definition,
    ['columns', 'encryption', 'algorithm', 'expectedRows', 'classification', 'rowLabel'],
    `table ${name}`,
  );
  const classification = definition['classification'];
  if (classification !== undefined && (typeof classification !== 'string' || classification.length > 1024)) {
    throw invalid(`table ${name}: classification must be a security label such as 'secret'`);
  }
  const level = definition['encryption'] ?? 'field';
  if (level !== 'field' && level !== 'row' && level !== 'table') {
    throw invalid(`table ${name}: encryption must be 'field', 'row' or 'table'`);
  }
  const algorithm = definition['algorithm'] ?? 'xchacha20-poly1305';
  if (typeof algorithm !== 'string' || !isAeadName(algorithm)) {
    throw invalid(`table ${name}: unknown algorithm ${describe(algorithm)}`);
  }
  const expectedRows = definition['expectedRows'] ?? 1_000_000;
  if (typeof expectedRows !== 'number' || !Number.isSafeInteger(expectedRows) || expectedRows < 1) {
    throw invalid(`table ${name}: expectedRows must be a positive integer`);
  }
  const columnDefs = definition['columns'];
  if (!isObject(columnDefs)) throw invalid(`table ${name}: columns must be an object of column definitions`);
  const names = Object.keys(columnDefs);
  if (names.length === 0) throw invalid(`table ${name}: a table needs at least one column`);
  if (names.length > 500) throw invalid(`table ${name}: at most 500 columns`);
  const lower = new Set<string>();
  for (const column of names) {
    // SQL names are case-insensitive: `Email` and `email` would collide physically.
    if (lower.has(column.toLowerCase()))
      throw invalid(`table ${name}: columns ${column} differ only in case`);
    lower.add(column.toLowerCase());
  }
  const columns = names.map((column) =>
    buildColumn(name, column, columnDefs[column], level, algorithm, expectedRows, naming),
  );
  const keys = columns.filter((c) => c.primaryKey);
  if (keys.length !== 1)
    throw invalid(`table ${name}: exactly one column must be the primary key (found ${keys.length})`);
  const encrypted = columns.some((c) => c.encryption !== null);
  const rowLabel = definition['rowLabel'];
  if (rowLabel !== undefined) {
    const column = columns.find((c) => c.name === rowLabel);
    if (column === undefined) throw invalid(`table ${name}: rowLabel names no column of the table`);
    if (column.type !== 'integer' || column.encryption !== null || column.primaryKey) {
      throw invalid(
        `table ${name}: the rowLabel column ${column.name} must be a plaintext, non-key integer column (the row filter runs in SQL)`,
      );
    }
  }
  return Object.freeze({
    name,
    level,
    algorithm,
    expectedRows,
    columns: Object.freeze(columns),
    rowKey: level !== 'field' && encrypted ? { key: naming.dataKey(name, null, algorithm), algorithm } : null,
    version: 1,
    ...(classification === undefined ? {} : { classification: classification }),
    ...(rowLabel === undefined ? {} : { rowLabel: rowLabel as string }),
  });
}

/** The SQL that creates a table's physical form. */
export function createTableSql(
  table: StoredTable,
  quote: (name: string) => string,
  spelling: SqlSpelling,
): string[] {
  const parts: string[] = [];
  const indexes: string[] = [];
  const physical = physicalTable(table.name);
  for (const column of table.columns) {
    parts.push(...physicalColumns(column, table.level).map((c) => columnSql(c, quote, spelling)));
    indexes.push(...indexSql(table, column, quote, spelling));
  }
  if (table.rowKey !== null) parts.push(columnSql(ROW_ENVELOPE_COLUMN, quote, spelling));
  return [`CREATE TABLE ${quote(physical)} (${parts.join(', ')})`, ...indexes];
}

/** One physical column: its name, what it stores, and whether it is the primary key. */
export interface PhysicalColumn {
  readonly name: string;
  readonly type: SqlColumnType;
  readonly primaryKey?: boolean;
}

/** The row envelope's column (row and table levels). */
export const ROW_ENVELOPE_COLUMN: PhysicalColumn = Object.freeze({ name: ROW_ENVELOPE, type: 'bytes' });

/** A column's definition in `CREATE TABLE` or `ALTER TABLE … ADD COLUMN`. */
export function columnSql(
  column: PhysicalColumn,
  quote: (name: string) => string,
  spelling: SqlSpelling,
): string {
  const type = spelling[column.type];
  return `${quote(column.name)} ${column.primaryKey === true ? `${type} PRIMARY KEY NOT NULL` : type}`;
}

/** Physical columns of one logical column (not the row envelope). */
export function physicalColumns(column: StoredColumn, level: EncryptionLevel): PhysicalColumn[] {
  const out: PhysicalColumn[] = [];
  if (column.encryption === null || column.legacyPlaintext) {
    const type = sqlTypeOf(column.type);
    out.push(
      column.primaryKey
        ? { name: `p_${column.name}`, type, primaryKey: true }
        : { name: `p_${column.name}`, type },
    );
  }
  if (column.encryption !== null) {
    if (level === 'field') out.push({ name: `e_${column.name}`, type: 'bytes' });
    if (column.encryption.search !== null) {
      // Blind-index values reach 2^48.
      out.push({ name: `b0_${column.name}`, type: 'int64' }, { name: `b1_${column.name}`, type: 'int64' });
    }
  }
  return out;
}

/**
 * The name of the SQL index on a physical column. Where the backend cuts longer identifiers short
 * (PostgreSQL), a name that would be cut keeps its first characters and ends in a digest of the
 * whole name, so two indexes never share one; SQLite's names are never shortened.
 */
export function indexName(table: string, what: string, spelling: SqlSpelling): string {
  const name = `fx_i_${table}__${what}`;
  const max = spelling.maxIdentifierLength;
  if (max === null || name.length <= max) return name;
  return `${name.slice(0, max - 17)}_${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

/**
 * Refuses a table or column name whose physical names the backend would cut short (PostgreSQL
 * keeps 63 bytes: `fx_t_` + 58 for a table, `b0_` + 60 for a searchable column). Names are ASCII,
 * so characters are bytes.
 */
export function checkPhysicalNames(
  table: string,
  columns: readonly StoredColumn[],
  level: EncryptionLevel,
  spelling: SqlSpelling,
): void {
  const max = spelling.maxIdentifierLength;
  if (max === null) return;
  if (physicalTable(table).length > max) {
    throw invalid(`table name ${table} is too long for this database: at most ${max - 5} characters`);
  }
  for (const column of columns) {
    for (const p of physicalColumns(column, level)) {
      if (p.name.length > max) {
        throw invalid(
          `column name ${column.name} is too long for this database: its stored form ${p.name} has more than ${max} characters`,
        );
      }
    }
  }
}

/** Index statements for one column's current state. */
export function indexSql(
  table: StoredTable,
  column: StoredColumn,
  quote: (name: string) => string,
  spelling: SqlSpelling,
): string[] {
  const physical = quote(physicalTable(table.name));
  const out: string[] = [];
  if (column.encryption === null && column.index && !column.primaryKey) {
    // Ordered reads page by this index: it holds nulls where the engine's order puts them.
    out.push(
      `CREATE INDEX IF NOT EXISTS ${quote(indexName(table.name, `p_${column.name}`, spelling))} ON ${physical} (${quote(`p_${column.name}`)}${spelling.indexNullsFirst})`,
    );
  }
  const search = column.encryption?.search;
  if (search) {
    for (const slot of [search.active, search.pending]) {
      if (slot === null) continue;
      const name = `b${slot.slot}_${column.name}`;
      out.push(
        `CREATE INDEX IF NOT EXISTS ${quote(indexName(table.name, name, spelling))} ON ${physical} (${quote(name)})`,
      );
    }
  }
  return out;
}
