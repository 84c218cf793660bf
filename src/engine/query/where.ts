/**
 * @module engine/query/where
 * Filters: validation, translation to SQL, and the exact check on decrypted rows.
 *
 * A filter on plaintext columns becomes plain SQL and is exact. A filter touching an encrypted
 * column becomes a SQL *superset* — blind-index matches, which include false positives — and the
 * engine decrypts every candidate and re-checks the whole filter here, so results are exact.
 * Operators an encrypted column cannot answer are refused with `FX_QUERY_UNSUPPORTED`, or — with
 * an explicit `scan: true` — contribute no SQL condition and are checked on every decrypted row.
 *
 * Both sides use SQL's three-valued logic (a comparison with null is unknown, `not unknown` is
 * unknown), so the SQL and the re-check agree on every row.
 */
import type { SqlSpelling, SqlValue } from '../../storage/dialect.js';
import { describe } from '../../util/bytes.js';
import { FortressError } from '../../util/errors.js';
import { checkedToValue, toSql } from '../schema/column-types.js';
import type { StoredColumn } from '../schema/table-schema.js';
import type { TableCodec } from '../table/table-codec.js';

export type Operator = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'notIn' | 'isNull' | 'bitsClear';
const OPERATORS: readonly Operator[] = [
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'notIn',
  'isNull',
  'bitsClear',
];
const MAX_IN_VALUES = 1000;
const MAX_BRANCHES = 256;
/** How deep filters nest (`and`/`or`/`not`); deeper ones are refused with FX_QUERY_INVALID. */
export const MAX_WHERE_DEPTH = 32;

/** Conditions on one column. Several operators in one object must all hold. */
export interface ColumnFilter<V> {
  eq?: V | null;
  ne?: V;
  gt?: V;
  gte?: V;
  lt?: V;
  lte?: V;
  in?: readonly V[];
  notIn?: readonly V[];
  isNull?: boolean;
  /**
   * Integer columns: none of the mask's bits is set (`(x & mask) = 0`). Security-label columns
   * use it for the compartment half of the mandatory-access row filter.
   */
  bitsClear?: number;
}

/**
 * A filter: column → value (equality; `null` means "is null") or operators; columns in one object
 * must all match. `and`, `or` and `not` combine filters.
 *
 * @example
 * ```ts
 * { email: 'ann@example.com' }
 * { age: { gte: 30, lt: 65 }, or: [{ name: 'Ann' }, { name: 'Bob' }] }
 * ```
 */
export type Where<R> = {
  [K in keyof R]?: R[K] | null | ColumnFilter<NonNullable<R[K]>>;
} & {
  and?: readonly Where<R>[];
  or?: readonly Where<R>[];
  not?: Where<R>;
};

type Node =
  | { readonly kind: 'and' | 'or'; readonly items: readonly Node[] }
  | { readonly kind: 'not'; readonly item: Node }
  | {
      readonly kind: 'cmp';
      readonly column: StoredColumn;
      readonly op: Operator;
      readonly value: unknown;
      readonly values: readonly unknown[];
    };

export interface CompiledWhere {
  /** SQL condition (a superset of the matches unless `exact`). */
  readonly sql: string;
  readonly params: SqlValue[];
  /** True when the SQL alone gives exactly the matches. */
  readonly exact: boolean;
  /** Columns the exact check reads. */
  readonly columns: ReadonlySet<StoredColumn>;
  /** The exact check on a decoded row. */
  test(row: Record<string, unknown>): boolean;
}

export function queryInvalid(message: string): FortressError {
  return new FortressError('FX_QUERY_INVALID', message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Validates a filter against the table and returns its tree. */
function parse(codec: TableCodec, where: unknown, depth: number): Node {
  if (depth > MAX_WHERE_DEPTH)
    throw queryInvalid(`the filter is nested deeper than ${MAX_WHERE_DEPTH} levels`);
  if (!isPlainObject(where)) throw queryInvalid(`a filter must be an object, got ${describe(where)}`);
  const items: Node[] = [];
  for (const [key, condition] of Object.entries(where)) {
    if (condition === undefined) continue;
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(condition)) throw queryInvalid(`${key} must be an array of filters`);
      if (condition.length > MAX_BRANCHES) throw queryInvalid(`${key} takes at most ${MAX_BRANCHES} filters`);
      items.push({ kind: key, items: condition.map((w: unknown) => parse(codec, w, depth + 1)) });
      continue;
    }
    if (key === 'not') {
      items.push({ kind: 'not', item: parse(codec, condition, depth + 1) });
      continue;
    }
    const column = codec.column(key);
    if (isPlainObject(condition) && !(column.type === 'json')) {
      const operators = Object.entries(condition).filter(([, v]) => v !== undefined);
      if (operators.length === 0) throw queryInvalid(`column ${key}: the condition names no operator`);
      for (const [op, operand] of operators) items.push(comparison(codec, column, op, operand));
    } else if (isPlainObject(condition)) {
      const operators = Object.entries(condition);
      for (const [op, operand] of operators) items.push(comparison(codec, column, op, operand));
    } else {
      items.push(comparison(codec, column, 'eq', condition));
    }
  }
  return items.length === 1 ? items[0]! : { kind: 'and', items };
}

function comparison(codec: TableCodec, column: StoredColumn, op: string, operand: unknown): Node {
  if (!(OPERATORS as readonly string[]).includes(op)) {
    throw queryInvalid(
      `column ${column.name}: unknown operator ${JSON.stringify(op.slice(0, 40))}; use ${OPERATORS.join(', ')}`,
    );
  }
  const operator = op as Operator;
  const check = (value: unknown): unknown => {
    // The column's own type check: a filter value of the wrong type is a caller error, not "no match".
    try {
      return codec.check({ ...column, required: false }, value);
    } catch (error) {
      if (error instanceof FortressError) throw queryInvalid(`filter on ${error.message}`);
      throw error;
    }
  };
  if (column.type === 'json' && operator !== 'isNull') {
    throw new FortressError(
      'FX_QUERY_UNSUPPORTED',
      `column ${column.name} is json: only isNull filters apply`,
    );
  }
  switch (operator) {
    case 'bitsClear':
      if (column.type !== 'integer')
        throw queryInvalid(`column ${column.name}: bitsClear applies to integer columns only`);
      if (typeof operand !== 'number' || !Number.isSafeInteger(operand) || operand < 0) {
        throw queryInvalid(`column ${column.name}: bitsClear takes a non-negative safe integer mask`);
      }
      return { kind: 'cmp', column, op: operator, value: operand, values: [] };
    case 'isNull':
      if (typeof operand !== 'boolean')
        throw queryInvalid(`column ${column.name}: isNull takes true or false`);
      return { kind: 'cmp', column, op: operator, value: operand, values: [] };
    case 'in':
    case 'notIn': {
      if (!Array.isArray(operand)) throw queryInvalid(`column ${column.name}: ${operator} takes an array`);
      if (operand.length > MAX_IN_VALUES)
        throw queryInvalid(`column ${column.name}: at most ${MAX_IN_VALUES} values in ${operator}`);
      const values = operand.map((v: unknown) => {
        if (v === null || v === undefined)
          throw queryInvalid(`column ${column.name}: ${operator} values cannot be null`);
        return check(v);
      });
      return { kind: 'cmp', column, op: operator, value: null, values };
    }
    case 'eq':
      return {
        kind: 'cmp',
        column,
        op: operator,
        value: operand === null ? null : check(operand),
        values: [],
      };
    default:
      if (operand === null || operand === undefined) {
        throw queryInvalid(`column ${column.name}: ${operator} needs a value (use isNull for nulls)`);
      }
      return { kind: 'cmp', column, op: operator, value: check(operand), values: [] };
  }
}

/** What an encrypted column can answer without a scan. */
function supported(column: StoredColumn, op: Operator, value: unknown): boolean {
  if (column.encryption === null) return true;
  if (column.encryption.search === null) return false;
  return op === 'eq' || op === 'in' || (op === 'isNull' && value === true);
}

function unsupported(column: StoredColumn, op: Operator): FortressError {
  const capability =
    column.encryption!.search === null
      ? 'it is encrypted without a search index, so it answers no filter'
      : 'its blind index answers only equality (eq, in, isNull: true)';
  return new FortressError(
    'FX_QUERY_UNSUPPORTED',
    `column ${column.name} cannot answer ${op}: ${capability}. Pass scan: true to decrypt and filter every row (a full scan)`,
  );
}

interface Emitted {
  sql: string;
  exact: boolean;
}

class Compiler {
  readonly params: SqlValue[] = [];
  readonly columns = new Set<StoredColumn>();

  constructor(
    readonly codec: TableCodec,
    readonly scan: boolean,
    readonly spelling: SqlSpelling,
  ) {}

  emit(node: Node): Emitted {
    switch (node.kind) {
      case 'and':
      case 'or': {
        if (node.items.length === 0) {
          return { sql: node.kind === 'and' ? this.spelling.true : this.spelling.false, exact: true };
        }
        const parts = node.items.map((item) => this.emit(item));
        return {
          sql: `(${parts.map((p) => p.sql).join(node.kind === 'and' ? ' AND ' : ' OR ')})`,
          exact: parts.every((p) => p.exact),
        };
      }
      case 'not': {
        const mark = this.params.length;
        const inner = this.emit(node.item);
        // The negation of a superset is not a superset: leave it to the exact check.
        if (!inner.exact) {
          this.params.length = mark;
          return { sql: this.spelling.true, exact: false };
        }
        return { sql: `(NOT ${inner.sql})`, exact: true };
      }
      case 'cmp':
        return this.#comparison(node.column, node.op, node.value, node.values);
    }
  }

  #comparison(column: StoredColumn, op: Operator, value: unknown, values: readonly unknown[]): Emitted {
    if (column.encryption === null)
      return { sql: plainSql(column, op, value, values, this.params, this.spelling), exact: true };
    this.columns.add(column);
    if (!supported(column, op, value)) {
      if (!this.scan) throw unsupported(column, op);
      return { sql: this.spelling.true, exact: false };
    }
    const search = column.encryption.search!;
    const operands = op === 'in' ? values : [op === 'isNull' ? null : value];
    const terms: string[] = [];
    const slots = [search.active, ...(search.pending === null ? [] : [search.pending])];
    const activeValues: number[] = [];
    const pendingValues: number[] = [];
    for (const operand of operands) {
      const [active, pending] = this.codec.indexValues(column, operand);
      activeValues.push(active);
      if (pending !== null) pendingValues.push(pending);
      // Rows written before the column existed have no index value: they hold null.
      if (operand === null) terms.push(slots.map((s) => `"b${s.slot}_${column.name}" IS NULL`).join(' AND '));
    }
    // One IN list per slot (not a chain of ORs): SQLite bounds expression depth.
    for (const [slot, values] of [
      [search.active.slot, activeValues],
      ...(search.pending === null ? [] : [[search.pending.slot, pendingValues] as const]),
    ] as const) {
      if (values.length === 0) continue;
      terms.push(`"b${slot}_${column.name}" IN (${values.map(() => '?').join(', ')})`);
      this.params.push(...values);
    }
    if (column.legacyPlaintext) {
      // Rows the encrypt-column job has not reached yet still hold the value in plaintext.
      const exactForm = search.normalize.every((n) => n === 'exact');
      if (exactForm && operands.every((o) => o !== null)) {
        if (operands.length > 0) {
          terms.push(`"p_${column.name}" IN (${operands.map(() => '?').join(', ')})`);
          for (const operand of operands) this.params.push(toSql(column.type, operand));
        }
      } else {
        terms.push(`"p_${column.name}" IS NOT NULL`, `"p_${column.name}" IS NULL`);
      }
    }
    return { sql: terms.length === 0 ? this.spelling.false : `(${terms.join(' OR ')})`, exact: false };
  }
}

function plainSql(
  column: StoredColumn,
  op: Operator,
  value: unknown,
  values: readonly unknown[],
  params: SqlValue[],
  spelling: SqlSpelling,
): string {
  const name = `"p_${column.name}"`;
  const bind = (v: unknown): string => {
    params.push(toSql(column.type, v));
    return '?';
  };
  switch (op) {
    case 'isNull':
      return value === true ? `${name} IS NULL` : `${name} IS NOT NULL`;
    case 'eq':
      return value === null ? `${name} IS NULL` : `${name} = ${bind(value)}`;
    case 'ne':
      return `${name} <> ${bind(value)}`;
    case 'gt':
      return `${name} > ${bind(value)}`;
    case 'gte':
      return `${name} >= ${bind(value)}`;
    case 'lt':
      return `${name} < ${bind(value)}`;
    case 'lte':
      return `${name} <= ${bind(value)}`;
    case 'in':
      return values.length === 0 ? spelling.false : `${name} IN (${values.map(bind).join(', ')})`;
    case 'notIn':
      return values.length === 0 ? spelling.true : `${name} NOT IN (${values.map(bind).join(', ')})`;
    case 'bitsClear':
      params.push(value as number);
      return `(${name} & ?) = 0`;
  }
}

// ── the exact check ──────────────────────────────────────────────────────────────────────────

type Truth = boolean | null;

/** Orders two non-null values of one column type as SQL does (text by UTF-8 bytes, BINARY). */
export function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') {
    if (a === b) return 0;
    return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a instanceof Date && b instanceof Date) return compareValues(a.getTime(), b.getTime());
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b);
  return 0;
}

function evaluate(codec: TableCodec, node: Node, row: Record<string, unknown>): Truth {
  switch (node.kind) {
    case 'and': {
      let result: Truth = true;
      for (const item of node.items) {
        const t = evaluate(codec, item, row);
        if (t === false) return false;
        if (t === null) result = null;
      }
      return result;
    }
    case 'or': {
      let result: Truth = false;
      for (const item of node.items) {
        const t = evaluate(codec, item, row);
        if (t === true) return true;
        if (t === null) result = null;
      }
      return result;
    }
    case 'not': {
      const t = evaluate(codec, node.item, row);
      return t === null ? null : !t;
    }
    case 'cmp':
      return compare(codec, node.column, node.op, node.value, node.values, row[node.column.name]);
  }
}

function compare(
  codec: TableCodec,
  column: StoredColumn,
  op: Operator,
  operand: unknown,
  operands: readonly unknown[],
  actual: unknown,
): Truth {
  if (op === 'isNull') return (actual === null) === operand;
  const searchable = column.encryption?.search != null && column.type === 'text';
  const form = (v: unknown): unknown => {
    const value = checkedToValue(column.type, v);
    return searchable ? codec.normalizeForSearch(column, value as string) : value;
  };
  if (op === 'eq' && operand === null) return actual === null;
  // SQL: `x IN ()` is false and `x NOT IN ()` true, even when x is null.
  if (op === 'in' && operands.length === 0) return false;
  if (op === 'notIn' && operands.length === 0) return true;
  if (actual === null) return null;
  const have = searchable ? codec.normalizeForSearch(column, actual as string) : actual;
  switch (op) {
    case 'eq':
      return compareValues(have, form(operand)) === 0;
    case 'ne':
      return compareValues(have, form(operand)) !== 0;
    case 'gt':
      return compareValues(actual, checkedToValue(column.type, operand)) > 0;
    case 'gte':
      return compareValues(actual, checkedToValue(column.type, operand)) >= 0;
    case 'lt':
      return compareValues(actual, checkedToValue(column.type, operand)) < 0;
    case 'lte':
      return compareValues(actual, checkedToValue(column.type, operand)) <= 0;
    case 'in':
      return operands.some((o) => compareValues(have, form(o)) === 0);
    case 'notIn':
      return !operands.some((o) => compareValues(have, form(o)) === 0);
    case 'bitsClear':
      // Masks reach 2^48: beyond JavaScript's 32-bit bitwise operators.
      return (BigInt(actual as number) & BigInt(operand as number)) === 0n;
  }
}

/** Validates and compiles `where` (undefined: every row) into SQL spelled by `spelling`. */
export function compileWhere(
  codec: TableCodec,
  where: unknown,
  scan: boolean,
  spelling: SqlSpelling,
): CompiledWhere {
  if (where === undefined) {
    return { sql: spelling.true, params: [], exact: true, columns: new Set(), test: () => true };
  }
  const tree = parse(codec, where, 0);
  const compiler = new Compiler(codec, scan, spelling);
  const emitted = compiler.emit(tree);
  // The exact check reads every column the filter names, plaintext ones included.
  const columns = new Set<StoredColumn>();
  const collect = (node: Node): void => {
    if (node.kind === 'cmp') columns.add(node.column);
    else if (node.kind === 'not') collect(node.item);
    else node.items.forEach(collect);
  };
  collect(tree);
  return {
    sql: emitted.sql,
    params: compiler.params,
    exact: emitted.exact,
    columns,
    test: (row) => evaluate(codec, tree, row) === true,
  };
}
