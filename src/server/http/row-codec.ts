/**
 * @module server/http/row-codec
 * Rows as JSON. Two column types have no JSON form of their own: `timestamp` travels as an ISO 8601
 * string and `bytes` as base64. Incoming rows, changes and filter literals are converted per the
 * table's schema (a malformed value is `FX_TYPE_MISMATCH` naming the column); outgoing rows are
 * converted back. Everything else passes through for the engine to check.
 */
import type { StoredTable } from '../../engine/schema/table-schema.js';
import { FortressError } from '../../util/errors.js';

type AnyRow = Record<string, unknown>;

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function special(schema: StoredTable): Map<string, 'timestamp' | 'bytes'> {
  const out = new Map<string, 'timestamp' | 'bytes'>();
  for (const c of schema.columns) if (c.type === 'timestamp' || c.type === 'bytes') out.set(c.name, c.type);
  return out;
}

function decodeValue(column: string, type: 'timestamp' | 'bytes', value: unknown): unknown {
  if (typeof value !== 'string') return value; // null, or a wrong type the engine reports
  if (type === 'timestamp') {
    const time = ISO_RE.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(time)) {
      throw new FortressError('FX_TYPE_MISMATCH', `column ${column}: expected an ISO 8601 timestamp string`);
    }
    return new Date(time);
  }
  if (value.length % 4 !== 0 || !BASE64_RE.test(value)) {
    throw new FortressError('FX_TYPE_MISMATCH', `column ${column}: expected base64 bytes`);
  }
  return Buffer.from(value, 'base64');
}

/** A row (or changes) from JSON into the engine's values. */
export function rowIn(schema: StoredTable, row: AnyRow): AnyRow {
  const types = special(schema);
  if (types.size === 0) return row;
  const out: AnyRow = { ...row };
  for (const [name, type] of types) if (name in out) out[name] = decodeValue(name, type, out[name]);
  return out;
}

/** Filter literals on timestamp and bytes columns, converted wherever the filter names the column. */
export function whereIn(schema: StoredTable, where: unknown): unknown {
  const types = special(schema);
  if (types.size === 0) return where;
  const walk = (node: unknown, column: string | null): unknown => {
    if (Array.isArray(node)) return node.map((n) => walk(n, column));
    if (node !== null && typeof node === 'object' && !(node instanceof Date)) {
      const out: AnyRow = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, types.has(k) ? k : column);
      return out;
    }
    return column === null ? node : decodeValue(column, types.get(column)!, node);
  };
  return walk(where, null);
}

/** A row from the engine into JSON: bytes as base64 (Dates serialise as ISO strings themselves). */
export function rowOut(row: AnyRow): AnyRow {
  let out: AnyRow | null = null;
  for (const [k, v] of Object.entries(row)) {
    if (v instanceof Uint8Array) {
      out ??= { ...row };
      out[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    }
  }
  return out ?? row;
}
