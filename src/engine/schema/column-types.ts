/**
 * @module engine/schema/column-types
 * The column types a table can declare, the JavaScript value each one holds, and the checks a value
 * passes before it is stored. Values keep their type through encryption: the typed encoding in
 * `engine/codec` carries a type tag inside the plaintext, and plaintext columns map to the SQL type
 * that orders and compares like the JavaScript value.
 */
import type { SqlColumnType } from '../../storage/dialect.js';
import { FortressError } from '../../util/errors.js';
import { describe, isBytes } from '../../util/bytes.js';

export type ColumnType = 'text' | 'integer' | 'real' | 'boolean' | 'timestamp' | 'json' | 'bytes' | 'uuid';

export const COLUMN_TYPES: readonly ColumnType[] = Object.freeze([
  'text',
  'integer',
  'real',
  'boolean',
  'timestamp',
  'json',
  'bytes',
  'uuid',
]);

/** A JSON value, as a `json` column holds it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The JavaScript value of each column type. */
export interface ColumnValueTypes {
  text: string;
  /** Safe integers (|n| ≤ 2^53 − 1). */
  integer: number;
  /** Finite numbers. */
  real: number;
  boolean: boolean;
  /** Millisecond precision; read back as a `Date`. */
  timestamp: Date;
  json: JsonValue;
  bytes: Uint8Array;
  /** Canonical lower-case form, e.g. `0190f5c2-8a4b-7c3d-9e2f-0123456789ab`. */
  uuid: string;
}

/** Largest value (in encoded bytes) a column accepts unless its definition says otherwise: 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES: number = 1 << 20;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function mismatch(column: string, type: ColumnType, value: unknown): FortressError {
  return new FortressError(
    'FX_TYPE_MISMATCH',
    `column ${column}: expected ${article(type)} value, got ${describe(value)}`,
  );
}

function article(type: ColumnType): string {
  return type === 'integer' ? 'an integer' : `a ${type}`;
}

/**
 * Checks a non-null value against its column type and returns it in canonical form (a uuid in lower
 * case, a timestamp as a Date copy, bytes as a copy, json as its serialised text). Throws
 * `FX_TYPE_MISMATCH` or `FX_VALUE_TOO_LARGE`; the message names the column, never the value.
 */
export function checkValue(column: string, type: ColumnType, value: unknown, maxBytes: number): unknown {
  switch (type) {
    case 'text':
      if (typeof value !== 'string') throw mismatch(column, type, value);
      // A lone surrogate cannot be stored as UTF-8 without silently changing the value.
      if (!value.isWellFormed()) {
        throw new FortressError(
          'FX_TYPE_MISMATCH',
          `column ${column}: text contains a lone UTF-16 surrogate`,
        );
      }
      if (value.length > maxBytes || Buffer.byteLength(value, 'utf8') > maxBytes)
        throw tooLarge(column, maxBytes);
      return value;
    case 'integer':
      if (typeof value === 'bigint' && value >= -9007199254740991n && value <= 9007199254740991n) {
        return Number(value);
      }
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw mismatch(column, type, value);
      return value;
    case 'real':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw mismatch(column, type, value);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw mismatch(column, type, value);
      return value;
    case 'timestamp': {
      let ms: number;
      if (value instanceof Date) ms = value.getTime();
      else if (typeof value === 'string') ms = parseIsoTimestamp(column, value);
      else throw mismatch(column, type, value);
      if (!Number.isFinite(ms)) {
        throw new FortressError('FX_TYPE_MISMATCH', `column ${column}: invalid date`);
      }
      return new Date(ms);
    }
    case 'json': {
      // Only values that read back identical: no undefined, NaN, Infinity, class instances or cycles
      // (JSON.stringify would silently drop or change them).
      checkJson(column, value, 0, new Set());
      const text = JSON.stringify(value);
      if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes)
        throw tooLarge(column, maxBytes);
      return text;
    }
    case 'bytes':
      if (!isBytes(value)) throw mismatch(column, type, value);
      if (value.length > maxBytes) throw tooLarge(column, maxBytes);
      return Buffer.from(value);
    case 'uuid':
      if (typeof value !== 'string' || !UUID_RE.test(value)) throw mismatch(column, type, value);
      return value.toLowerCase();
  }
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 timestamp with an explicit offset; impossible dates are refused, not rolled over. */
function parseIsoTimestamp(column: string, text: string): number {
  const m = ISO_RE.exec(text);
  const bad = (): FortressError =>
    new FortressError(
      'FX_TYPE_MISMATCH',
      `column ${column}: expected a Date or an ISO 8601 timestamp with a time zone (e.g. 2026-01-02T03:04:05Z)`,
    );
  if (m === null) throw bad();
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(
    Number,
  ) as [number, number, number, number, number, number];
  const check = new Date(Date.UTC(year, month - 1, day));
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw bad();
  }
  return Date.parse(text);
}

function checkJson(column: string, value: unknown, depth: number, seen: Set<object>): void {
  const refuse = (why: string): FortressError =>
    new FortressError('FX_TYPE_MISMATCH', `column ${column}: not storable as JSON: ${why}`);
  if (depth > 256) throw refuse('nested deeper than 256 levels');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw refuse('a non-finite number');
    return;
  }
  if (typeof value !== 'object') throw refuse(`a ${typeof value}`);
  if (seen.has(value)) throw refuse('a circular reference');
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || value[i] === undefined) throw refuse('an array hole or undefined element');
      checkJson(column, value[i], depth + 1, seen);
    }
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) throw refuse('an object that is not a plain object');
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) throw refuse(`property ${JSON.stringify(key.slice(0, 40))} is undefined`);
      checkJson(column, item, depth + 1, seen);
    }
  }
  seen.delete(value);
}

function tooLarge(column: string, maxBytes: number): FortressError {
  return new FortressError(
    'FX_VALUE_TOO_LARGE',
    `column ${column}: the value is larger than ${maxBytes} bytes`,
  );
}

/** Storage type of a plaintext column (each backend spells it: `SqlSpelling`). */
export function sqlTypeOf(type: ColumnType): SqlColumnType {
  switch (type) {
    case 'integer':
    case 'boolean':
    case 'timestamp':
      // Safe integers, 0/1, and milliseconds since the epoch all need 64 bits.
      return 'int64';
    case 'real':
      return 'float64';
    case 'bytes':
      return 'bytes';
    default:
      return 'text';
  }
}

/** A checked value (see `checkValue`) as bound to SQL. */
export function toSql(type: ColumnType, checked: unknown): string | number | Uint8Array {
  switch (type) {
    case 'boolean':
      return checked === true ? 1 : 0;
    case 'timestamp':
      return (checked as Date).getTime();
    default:
      return checked as string | number | Uint8Array;
  }
}

/** A value read from SQL, as the column type's JavaScript value. */
export function fromSql(type: ColumnType, raw: unknown): unknown {
  if (raw === null || raw === undefined) return null;
  switch (type) {
    case 'boolean':
      return raw === 1 || raw === 1n;
    case 'timestamp':
      return new Date(Number(raw));
    case 'json':
      return JSON.parse(raw as string) as unknown;
    case 'bytes':
      return Buffer.from(raw as Uint8Array);
    case 'integer':
      return typeof raw === 'bigint' ? Number(raw) : raw;
    default:
      return raw;
  }
}

/** The JSON text of a checked json value back as a value (checked values of json are text). */
export function checkedToValue(type: ColumnType, checked: unknown): unknown {
  return type === 'json' ? (JSON.parse(checked as string) as unknown) : checked;
}
