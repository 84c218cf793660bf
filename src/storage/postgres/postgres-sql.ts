/**
 * @module storage/postgres/postgres-sql
 * SQL text as PostgreSQL receives it. The layers above write `?` placeholders (SQLite's style);
 * PostgreSQL numbers them (`$1`, `$2`, …). Each SQL text is translated once and cached together with
 * the name of its server-side prepared statement, so the hot path neither rescans nor re-plans.
 *
 * A `?` is a placeholder only outside string constants (`'…'`, `E'…'`, dollar-quoted `$tag$…$tag$`),
 * quoted identifiers (`"…"`) and comments. PostgreSQL's own operators that contain `?` (jsonb `?`,
 * `?|`, `?&`) therefore cannot be written through this driver: use `jsonb_exists()` and friends.
 * SQL already written with `$n` placeholders passes through unchanged; mixing both styles is refused.
 */
import { createHash } from 'node:crypto';
import { FortressError } from '../../util/errors.js';

/** One SQL text, ready for PostgreSQL. */
export interface PreparedSql {
  /** The text with `$n` placeholders. */
  readonly text: string;
  /** How many parameter values the statement takes. */
  readonly parameters: number;
  /**
   * The server-side prepared statement name (derived from the text, so every pooled connection
   * agrees on it), or undefined for statements not worth preparing (schema changes, transaction
   * control): their plans are not reused, and a cached DDL statement would only hold server memory.
   */
  readonly name: string | undefined;
}

/** Statements whose plan is worth keeping: data queries and changes. */
const PREPARABLE = /^[\s(]*(?:select|insert|update|delete|with|values|merge)\b/i;

function isIdentifierChar(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) || // 0-9
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x61 && code <= 0x7a) || // a-z
    code === 0x5f || // _
    code === 0x24 || // $
    code >= 0x80
  );
}

/** The end (exclusive) of a quoted run that starts at `start` with `quote`; doubled quotes escape. */
function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i];
    if (backslashEscapes && ch === '\\') {
      i += 2;
    } else if (ch === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i += 2;
    } else {
      i++;
    }
  }
  return sql.length;
}

const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/y;

/**
 * Translates `?` placeholders to `$n`. Returns the new text and the number of parameters (for SQL
 * already using `$n`, the highest n).
 */
export function translatePlaceholders(sql: string): { text: string; parameters: number } {
  let out = '';
  let copied = 0;
  let questions = 0;
  let highestDollar = 0;
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === "'") {
      // E'…' strings take backslash escapes; a plain '…' does (standard_conforming_strings = on).
      const prefix = sql.charCodeAt(i - 1);
      const escapes =
        (prefix === 0x45 || prefix === 0x65) && (i < 2 || !isIdentifierChar(sql.charCodeAt(i - 2)));
      i = skipQuoted(sql, i, "'", escapes);
    } else if (ch === '"') {
      i = skipQuoted(sql, i, '"', false);
    } else if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (ch === '/' && next === '*') {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else {
          i++;
        }
      }
    } else if (ch === '$' && (i === 0 || !isIdentifierChar(sql.charCodeAt(i - 1)))) {
      const code = sql.charCodeAt(i + 1);
      if (code >= 0x30 && code <= 0x39) {
        let end = i + 1;
        while (end < sql.length && sql.charCodeAt(end) >= 0x30 && sql.charCodeAt(end) <= 0x39) end++;
        highestDollar = Math.max(highestDollar, Number(sql.slice(i + 1, end)));
        i = end;
      } else {
        DOLLAR_TAG.lastIndex = i;
        const tag = DOLLAR_TAG.exec(sql);
        if (tag === null) {
          i++;
        } else {
          const close = sql.indexOf(tag[0], i + tag[0].length);
          i = close === -1 ? sql.length : close + tag[0].length;
        }
      }
    } else if (ch === '?') {
      out += `${sql.slice(copied, i)}$${++questions}`;
      copied = i + 1;
      i++;
    } else {
      i++;
    }
  }
  if (questions > 0 && highestDollar > 0) {
    throw new FortressError('FX_STORAGE_QUERY', 'a statement mixes ? and $n placeholders');
  }
  if (questions === 0) return { text: sql, parameters: highestDollar };
  return { text: out + sql.slice(copied), parameters: questions };
}

/**
 * A bounded cache of translated statements, keyed by the caller's SQL text. Eviction is
 * first-in-first-out, as in the SQLite driver's statement cache: hot statements come back at once.
 */
export class StatementCache {
  readonly #size: number;
  readonly #entries = new Map<string, PreparedSql>();

  constructor(size: number) {
    this.#size = size;
  }

  get(sql: string): PreparedSql {
    let entry = this.#entries.get(sql);
    if (entry === undefined) {
      const { text, parameters } = translatePlaceholders(sql);
      // The name is a digest of the translated text: stable across connections and evictions, so a
      // connection that already prepared it never prepares it twice, and two texts never share one.
      const name = PREPARABLE.test(text)
        ? `fx_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
        : undefined;
      entry = Object.freeze({ text, parameters, name });
      this.#entries.set(sql, entry);
      if (this.#entries.size > this.#size) {
        this.#entries.delete(this.#entries.keys().next().value!);
      }
    }
    return entry;
  }
}
