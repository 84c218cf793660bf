/**
 * @module policy/mac/security-label
 * Bell–LaPadula security labels: a hierarchical level (e.g. `unclassified < cui < secret <
 * top-secret`) plus a set of non-hierarchical compartments (need-to-know categories). A clearance
 * reads a label only if it dominates it: its level is at least the label's and it holds every one
 * of the label's compartments. Mandatory access control means this check holds whatever the
 * discretionary policies permit, so it has to be exact, cheap, and answerable by the storage layer
 * without decrypting anything.
 *
 * That is why a label packs into one safe integer (`pack`): the level's rank in the bits above 2^48
 * and one bit per compartment below, so a row filter is two integer comparisons (`readableRange`)
 * instead of a join. Labels have one canonical text form (`format`) and one canonical object form
 * (compartments in the scheme's declared order), so equal labels compare, hash and log identically.
 *
 * Pure: no I/O, no clock, no randomness.
 */
import { FortressError } from '../../util/errors.js';
import { describe } from '../../util/bytes.js';

/** A label scheme: the levels and compartments a deployment uses. */
export interface LabelSchemeOptions {
  /** Level names, lowest first, 1–16 of them: e.g. `['unclassified', 'cui', 'secret', 'top-secret']`. */
  readonly levels: readonly string[];
  /**
   * Compartment names, 0–48 of them. Their order fixes each one's bit in a packed label, so a
   * scheme may only grow by appending (see `LabelScheme.extends`).
   * @default []
   */
  readonly compartments?: readonly string[];
}

/** A level and a set of compartments. Canonical when compartments are in declared order, unique. */
export interface SecurityLabel {
  readonly level: string;
  readonly compartments: readonly string[];
}

/** Which packed labels a clearance may read; see `LabelScheme.readableRange`. */
export interface ReadableRange {
  /** A row is readable only if `floor(packed / 2^48) <= maxRank`. */
  readonly maxRank: number;
  /** …and `packed mod 2^48` shares no bit with this mask. */
  readonly forbiddenMask: number;
}

const MAX_LEVELS = 16;
const MAX_COMPARTMENTS = 48;
/** Rank multiplier in a packed label: compartments own the low 48 bits. */
const RANK_UNIT = 2 ** MAX_COMPARTMENTS;
/** Every bit of the compartment field, declared or not. */
const ALL_COMPARTMENT_BITS = RANK_UNIT - 1;
const HALF_UNIT = 2 ** 24;
const MAX_LABEL_TEXT = 1024;

const NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
/** Names that are safe to echo in a message: short, no spaces, quotes or control characters. */
const QUOTABLE_RE = /^[A-Za-z0-9_-]{1,32}$/;

function invalid(message: string): FortressError {
  return new FortressError('FX_LABEL_INVALID', message);
}

/** `"name"` when safe to echo, else a generic noun, so arbitrary input never reaches a log. */
function nameOf(name: string, kind: 'level' | 'compartment'): string {
  return QUOTABLE_RE.test(name) ? `${kind} "${name}"` : `an unknown ${kind}`;
}

/**
 * True when `a` and `b` share no bit. Both are below 2^48, beyond JavaScript's 32-bit bitwise
 * operators, so each is split into two 24-bit halves that are.
 */
function disjoint(a: number, b: number): boolean {
  const aHigh = Math.floor(a / HALF_UNIT);
  const bHigh = Math.floor(b / HALF_UNIT);
  return ((a - aHigh * HALF_UNIT) & (b - bHigh * HALF_UNIT)) === 0 && (aHigh & bHigh) === 0;
}

function checkNames(value: unknown, field: 'levels' | 'compartments', min: number, max: number): string[] {
  if (!Array.isArray(value)) {
    throw invalid(`label scheme: ${field} must be an array of names, got ${describe(value)}`);
  }
  if (value.length < min || value.length > max) {
    throw invalid(`label scheme: ${field} must hold ${min} to ${max} names, got ${value.length}`);
  }
  const names: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < value.length; i++) {
    const name: unknown = value[i];
    if (typeof name !== 'string') {
      throw invalid(`label scheme: ${field}[${i}] must be a string, got ${describe(name)}`);
    }
    if (!NAME_RE.test(name)) {
      const shown = QUOTABLE_RE.test(name) ? ` ("${name}")` : '';
      throw invalid(
        `label scheme: ${field}[${i}]${shown} must be 1–32 characters of a–z, 0–9, '_' or '-', starting with a letter`,
      );
    }
    if (seen.has(name)) throw invalid(`label scheme: ${field}[${i}] ("${name}") is a duplicate`);
    seen.add(name);
    names.push(name);
  }
  return names;
}

function sameNames(a: readonly string[], b: readonly string[], length: number): boolean {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The levels and compartments of a deployment, and every operation on labels under them.
 * Immutable.
 *
 * @example
 * ```ts
 * const scheme = new LabelScheme({ levels: ['public', 'secret'], compartments: ['hr', 'legal'] });
 * const row = scheme.parse('secret:legal');
 * const clearance = scheme.parse({ level: 'secret', compartments: ['hr', 'legal'] });
 * scheme.dominates(clearance, row); // true
 * scheme.canRead(clearance, scheme.pack(row)); // true
 * scheme.format(row); // 'secret:legal'
 * ```
 */
export class LabelScheme {
  /** Unclassified, CUI, secret, top secret; no compartments. */
  static readonly DEFAULT: LabelScheme = new LabelScheme({
    levels: ['unclassified', 'cui', 'secret', 'top-secret'],
  });

  /** Level names, lowest first. */
  readonly levels: readonly string[];
  /** Compartment names; the i-th owns bit i of a packed label. */
  readonly compartments: readonly string[];
  readonly #rankOf: ReadonlyMap<string, number>;
  readonly #bitOf: ReadonlyMap<string, number>;

  /** Throws `FX_LABEL_INVALID` naming the first bad entry and its index. */
  constructor(options: LabelSchemeOptions) {
    const raw: unknown = options;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw invalid(`label scheme: expected an options object, got ${describe(raw)}`);
    }
    this.levels = Object.freeze(checkNames(options.levels, 'levels', 1, MAX_LEVELS));
    this.compartments = Object.freeze(
      checkNames(options.compartments ?? [], 'compartments', 0, MAX_COMPARTMENTS),
    );
    this.#rankOf = new Map(this.levels.map((name, i) => [name, i]));
    this.#bitOf = new Map(this.compartments.map((name, i) => [name, i]));
    Object.freeze(this);
  }

  /**
   * The canonical label of `input`: a string `"secret"` or `"secret:alpha+beta"`, or an object
   * `{ level, compartments? }`. Names are case-sensitive and never trimmed; unknown or repeated
   * names, an empty compartment list (`"secret:"`) and unknown object properties are refused with
   * `FX_LABEL_INVALID`. `what` names the input in messages (e.g. `clearance`). Returns a frozen
   * label with compartments in declared order.
   */
  parse(input: unknown, what = 'label'): SecurityLabel {
    let level: unknown;
    let compartments: unknown[];
    if (typeof input === 'string') {
      if (input.length > MAX_LABEL_TEXT) {
        throw invalid(`${what}: longer than ${MAX_LABEL_TEXT} characters`);
      }
      const colon = input.indexOf(':');
      if (colon === -1) {
        level = input;
        compartments = [];
      } else {
        level = input.slice(0, colon);
        const list = input.slice(colon + 1);
        if (list === '') throw invalid(`${what}: no compartments after ':' (omit the ':' for none)`);
        compartments = list.split('+');
      }
    } else if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
      for (const key of Object.keys(input)) {
        if (key !== 'level' && key !== 'compartments') {
          const shown = QUOTABLE_RE.test(key) ? ` "${key}"` : '';
          throw invalid(`${what}: unknown property${shown} (expected level and compartments)`);
        }
      }
      const object = input as { level?: unknown; compartments?: unknown };
      level = object.level;
      if (object.compartments === undefined) compartments = [];
      else if (Array.isArray(object.compartments)) compartments = object.compartments as unknown[];
      else {
        throw invalid(
          `${what}: compartments must be an array of names, got ${describe(object.compartments)}`,
        );
      }
    } else {
      throw invalid(
        `${what}: expected a label string or a { level, compartments } object, got ${describe(input)}`,
      );
    }

    if (typeof level !== 'string') throw invalid(`${what}: level must be a string, got ${describe(level)}`);
    if (level === '') throw invalid(`${what}: the level is empty`);
    if (!this.#rankOf.has(level)) throw invalid(`${what}: ${nameOf(level, 'level')} is not in the scheme`);

    const present = new Array<boolean>(this.compartments.length).fill(false);
    for (const name of compartments) {
      if (typeof name !== 'string') {
        throw invalid(`${what}: compartments must be strings, got ${describe(name)}`);
      }
      if (name === '') throw invalid(`${what}: an empty compartment name`);
      const bit = this.#bitOf.get(name);
      if (bit === undefined) throw invalid(`${what}: ${nameOf(name, 'compartment')} is not in the scheme`);
      if (present[bit] === true) throw invalid(`${what}: compartment "${name}" is repeated`);
      present[bit] = true;
    }
    return Object.freeze({
      level,
      compartments: Object.freeze(this.compartments.filter((_, bit) => present[bit])),
    });
  }

  /** The canonical text of `label`: `"secret"` or `"secret:alpha+beta"` (declared order). */
  format(label: SecurityLabel): string {
    const canonical = this.parse(label);
    return canonical.compartments.length === 0
      ? canonical.level
      : `${canonical.level}:${canonical.compartments.join('+')}`;
  }

  /** The 0-based rank of `level` (lowest is 0). Throws `FX_LABEL_INVALID` for an unknown level. */
  rank(level: string): number {
    const rank = typeof level === 'string' ? this.#rankOf.get(level) : undefined;
    if (rank === undefined) {
      throw invalid(
        typeof level === 'string'
          ? `${nameOf(level, 'level')} is not in the scheme`
          : `level must be a string, got ${describe(level)}`,
      );
    }
    return rank;
  }

  /**
   * Bit i set for the i-th declared compartment in `compartments`. Built by adding powers of two,
   * since 48 bits do not fit JavaScript's 32-bit bitwise operators. Unknown or repeated names throw
   * `FX_LABEL_INVALID` (a repeat would otherwise carry into the next bit).
   */
  compartmentMask(compartments: readonly string[]): number {
    if (!Array.isArray(compartments)) {
      throw invalid(`compartments must be an array of names, got ${describe(compartments)}`);
    }
    const present = new Array<boolean>(this.compartments.length).fill(false);
    let mask = 0;
    for (const name of compartments) {
      const bit = typeof name === 'string' ? this.#bitOf.get(name) : undefined;
      if (bit === undefined) {
        throw invalid(
          typeof name === 'string'
            ? `${nameOf(name, 'compartment')} is not in the scheme`
            : `compartments must be strings, got ${describe(name)}`,
        );
      }
      if (present[bit] === true) throw invalid(`compartment "${name}" is repeated`);
      present[bit] = true;
      mask += 2 ** bit;
    }
    return mask;
  }

  /**
   * `label` as one safe integer: `rank * 2^48 + compartmentMask`. The level's rank (0–15) sits in
   * bits 48–51 and compartment i in bit i, so packed labels of one level sort together and the
   * largest (rank 15, 48 compartments) is 2^52 − 1, well inside `Number.MAX_SAFE_INTEGER`.
   */
  pack(label: SecurityLabel): number {
    return this.rank(label.level) * RANK_UNIT + this.compartmentMask(label.compartments);
  }

  /**
   * The label `packed` stands for. Throws `FX_LABEL_INVALID` unless it is a safe non-negative
   * integer whose rank and compartment bits this scheme declares.
   */
  unpack(packed: number): SecurityLabel {
    if (typeof packed !== 'number' || !Number.isSafeInteger(packed) || packed < 0) {
      throw invalid(`a packed label must be a non-negative safe integer, got ${describe(packed)}`);
    }
    const rank = Math.floor(packed / RANK_UNIT);
    let mask = packed - rank * RANK_UNIT;
    const level = this.levels[rank];
    if (level === undefined)
      throw invalid(`packed label has rank ${rank}; the scheme has ${this.levels.length} levels`);
    if (mask >= 2 ** this.compartments.length) {
      throw invalid(
        `packed label sets a compartment bit the scheme (${this.compartments.length} compartments) does not declare`,
      );
    }
    const compartments: string[] = [];
    for (let bit = 0; mask > 0; bit++, mask = Math.floor(mask / 2)) {
      if (mask % 2 === 1) compartments.push(this.compartments[bit]!);
    }
    return Object.freeze({ level, compartments: Object.freeze(compartments) });
  }

  /**
   * True when `a` dominates `b`: `a`'s level is at least `b`'s and `a` holds all of `b`'s
   * compartments. A clearance reads a label it dominates (no read up).
   */
  dominates(a: SecurityLabel, b: SecurityLabel): boolean {
    return (
      this.rank(a.level) >= this.rank(b.level) &&
      disjoint(
        this.compartmentMask(b.compartments),
        ALL_COMPARTMENT_BITS - this.compartmentMask(a.compartments),
      )
    );
  }

  /**
   * What a storage row filter needs to return only rows `clearance` dominates: a row whose packed
   * label is `p` is readable iff `floor(p / 2^48) <= maxRank` and `p mod 2^48` shares no bit with
   * `forbiddenMask`. The mask holds every compartment bit the clearance lacks — undeclared bits
   * too, so a row labelled by a newer scheme with more compartments (see `extends`) is hidden from
   * a reader that does not know them rather than shown to everyone.
   */
  readableRange(clearance: SecurityLabel): ReadableRange {
    return Object.freeze({
      maxRank: this.rank(clearance.level),
      forbiddenMask: ALL_COMPARTMENT_BITS - this.compartmentMask(clearance.compartments),
    });
  }

  /**
   * True when `clearance` may read a row labelled `packed`; exactly the `readableRange` filter.
   * Throws `FX_LABEL_INVALID` unless `packed` is a non-negative safe integer; a well-formed packed
   * label beyond this scheme's levels or compartments is unreadable, never an error.
   */
  canRead(clearance: SecurityLabel, packed: number): boolean {
    if (typeof packed !== 'number' || !Number.isSafeInteger(packed) || packed < 0) {
      throw invalid(`a packed label must be a non-negative safe integer, got ${describe(packed)}`);
    }
    const { maxRank, forbiddenMask } = this.readableRange(clearance);
    const rank = Math.floor(packed / RANK_UNIT);
    return rank <= maxRank && disjoint(packed - rank * RANK_UNIT, forbiddenMask);
  }

  /** The scheme as plain data; `new LabelScheme(scheme.toJSON())` rebuilds it. */
  toJSON(): { levels: string[]; compartments: string[] } {
    return { levels: [...this.levels], compartments: [...this.compartments] };
  }

  /** True when `other` has the same levels and compartments in the same order. */
  equals(other: LabelScheme): boolean {
    return (
      other.levels.length === this.levels.length &&
      other.compartments.length === this.compartments.length &&
      sameNames(this.levels, other.levels, this.levels.length) &&
      sameNames(this.compartments, other.compartments, this.compartments.length)
    );
  }

  /**
   * True when this scheme is `other` with zero or more compartments appended: every label packed
   * under `other` then means the same under this scheme, so a stored scheme may be replaced by this
   * one. Renaming, reordering or removing anything, or changing levels, would silently relabel rows.
   */
  extends(other: LabelScheme): boolean {
    return (
      other.levels.length === this.levels.length &&
      other.compartments.length <= this.compartments.length &&
      sameNames(this.levels, other.levels, this.levels.length) &&
      sameNames(this.compartments, other.compartments, other.compartments.length)
    );
  }
}
