/**
 * @module storage/postgres/postgres-client
 * The slice of node-postgres (`pg`) the driver uses, declared here so the rest of the backend
 * depends on these few methods rather than on pg's types; and the value conversions both ways.
 *
 * Values read back are only ever {@link SqlValue}s, as from SQLite: int8 becomes a number when it
 * fits a double exactly and a bigint otherwise, bytea a Buffer, boolean 1 or 0, and every type pg
 * would turn into an object (dates, JSON, arrays, intervals) stays the text PostgreSQL sent. The
 * parsers are handed to each pool (pg's `types` option), never installed globally, so other code in
 * the process that uses pg keeps its own settings.
 */
import { asBuffer, describe } from '../../util/bytes.js';
import { FortressError } from '../../util/errors.js';
import type { SqlValue } from '../dialect.js';

export interface PgResult {
  readonly command: string;
  readonly rowCount: number | null;
  readonly rows: Record<string, unknown>[];
}

export interface PgQueryConfig {
  readonly text: string;
  readonly values?: unknown[];
  readonly name?: string;
}

export interface PgClient {
  /** A string runs through the simple protocol (several statements, no parameters). */
  query(query: string | PgQueryConfig): Promise<PgResult>;
  /** Back to the pool; `true` destroys the connection instead. */
  release(destroy?: boolean): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface PgPool {
  connect(): Promise<PgClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

type TypeParser = (value: string) => unknown;

export interface PgTypes {
  getTypeParser(oid: number, format?: 'text' | 'binary'): TypeParser;
}

export interface PgPoolConfig {
  connectionString: string;
  max: number;
  connectionTimeoutMillis: number;
  idleTimeoutMillis: number;
  application_name: string;
  /** TCP keepalive: a database host that vanished without a reset is noticed. */
  keepAlive?: boolean;
  options?: string;
  types: PgTypes;
}

export interface PgModule {
  readonly Pool: new (config: PgPoolConfig) => PgPool;
  readonly types: PgTypes;
}

const MAX_EXACT = 9007199254740991n;

/** int8 as SQLite's driver normalises integers: a number within ±(2^53 − 1), a bigint beyond. */
export function parseInt8(text: string): number | bigint {
  // Up to 15 digits always fits a double exactly.
  if (text.length <= 15) return Number(text);
  const value = BigInt(text);
  return value >= -MAX_EXACT && value <= MAX_EXACT ? Number(value) : value;
}

const identity: TypeParser = (value) => value;
const parseBool: TypeParser = (value) => (value === 't' ? 1 : 0);

// Types whose pg default parser already yields a SqlValue (numbers, strings, Buffers).
const DEFAULT_PARSED = new Set([
  17, // bytea → Buffer
  21, // int2
  23, // int4
  26, // oid
  700, // float4
  701, // float8
]);

/** A type set for one pool: pg's parsers where they yield SqlValues, text everywhere else. */
export function fortressTypes(builtin: PgTypes): PgTypes {
  return {
    getTypeParser(oid: number, format: 'text' | 'binary' = 'text'): TypeParser {
      if (format !== 'text') return builtin.getTypeParser(oid, format);
      if (oid === 20) return parseInt8;
      if (oid === 16) return parseBool;
      return DEFAULT_PARSED.has(oid) ? builtin.getTypeParser(oid, format) : identity;
    },
  };
}

/**
 * Parameter values as pg sends them: bytes as binary bytea (a Buffer view, no copy), bigint as its
 * decimal text. Anything that is not a SqlValue is refused, as better-sqlite3 refuses it.
 */
export function toPgValues(params: readonly SqlValue[]): unknown[] {
  const values = new Array<unknown>(params.length);
  for (let i = 0; i < params.length; i++) {
    const value: unknown = params[i];
    if (value === null || typeof value === 'string' || typeof value === 'number') {
      values[i] = value;
    } else if (typeof value === 'bigint') {
      values[i] = value.toString();
    } else if (value instanceof Uint8Array) {
      values[i] = asBuffer(value);
    } else {
      throw new FortressError(
        'FX_STORAGE_QUERY',
        `parameter ${i + 1} cannot be bound: expected null, a number, a bigint, a string or bytes, got ${describe(value)}`,
      );
    }
  }
  return values;
}
