/**
 * @module crypto/blind-index/planner
 * Chooses a blind index size with CipherSweet's rule. With R rows and an index of b bits, each
 * index value is shared by about C = R / 2^b rows ("coincidences"). Too few coincidences and the
 * index reveals which rows are equal; too many and every lookup decrypts many candidates.
 *
 * - upper bound: b ≤ floor(log2 R) − Σ(bits of existing indexes on the same rows), so that values
 *   still collide (C ≳ 1);
 * - lower bound: b ≥ ceil(log2 √R) − Σ(existing), so that C ≤ √R and lookups stay cheap;
 * - an index cannot usefully be wider than its input domain: b ≤ domainBits − 1 keeps at least two
 *   possible values behind every index value.
 *
 * This reproduces CipherSweet's documented example: 50,000 rows → 8 to 15 bits; with an existing
 * 4-bit index → 4 to 11 bits.
 */
import { assertInteger } from '../../util/bytes.js';
import { CryptoError, InvalidArgumentError } from '../../util/errors.js';

export interface ExistingIndex {
  /** Output size of the other index in bits. */
  readonly bits: number;
  /** log2 of its input domain size (rounded up); an index leaks at most min(bits, domainBits). */
  readonly domainBits?: number;
}

export interface BlindIndexPlanInput {
  /** Expected number of rows (plan for the population in a few years, not today's). */
  readonly rows: number;
  /** log2 of the number of distinct values the column can take (rounded up). @default 256 */
  readonly domainBits?: number;
  /** Other blind indexes over the same rows: their bits add up against the budget. */
  readonly existing?: readonly ExistingIndex[];
}

export interface BlindIndexPlan {
  /** Smallest safe-and-useful size. */
  readonly min: number;
  /** Largest safe size. */
  readonly max: number;
  /**
   * Fortress's pick: `max`, the fewest false positives (fewest candidate decryptions per lookup)
   * that the rule still considers safe.
   */
  readonly recommended: number;
  /** Expected rows per index value at `recommended` bits. */
  readonly coincidences: number;
}

/**
 * Recommends blind index sizes for a column. Throws `FX_CRYPTO_NO_SAFE_INDEX_SIZE` when no size
 * satisfies the rule (too few rows, or existing indexes already use the budget).
 *
 * @example
 * ```ts
 * planBlindIndexBits({ rows: 50_000 }); // { min: 8, max: 15, recommended: 15, coincidences: 1.53 }
 * ```
 */
export function planBlindIndexBits(input: BlindIndexPlanInput): BlindIndexPlan {
  if (typeof input !== 'object' || (input as unknown) === null)
    throw new InvalidArgumentError('input', 'expected an object');
  assertInteger(input.rows, 'rows', 1, Number.MAX_SAFE_INTEGER);
  const domainBits = input.domainBits ?? 256;
  assertInteger(domainBits, 'domainBits', 1, 256);
  const existing = input.existing ?? [];
  if (!Array.isArray(existing)) throw new InvalidArgumentError('existing', 'expected an array');
  let used = 0;
  existing.forEach((index: ExistingIndex, i) => {
    if (typeof index !== 'object' || (index as unknown) === null) {
      throw new InvalidArgumentError(`existing[${i}]`, 'expected an object with bits');
    }
    assertInteger(index.bits, `existing[${i}].bits`, 1, 256);
    const leaked = index.domainBits === undefined ? index.bits : Math.min(index.bits, index.domainBits);
    if (index.domainBits !== undefined) assertInteger(index.domainBits, `existing[${i}].domainBits`, 1, 256);
    used += leaked;
  });
  // Exact integer arithmetic: Math.log2 rounds wrongly near powers of two above 2^49.
  const rows = BigInt(input.rows);
  const floorLog2Rows = rows.toString(2).length - 1;
  let ceilLog2SqrtRows = 0; // smallest m with 4^m ≥ rows, i.e. 2^m ≥ √rows
  while (4n ** BigInt(ceilLog2SqrtRows) < rows) ceilLog2SqrtRows++;
  const max = Math.min(floorLog2Rows - used, domainBits - 1, 256);
  const min = Math.max(ceilLog2SqrtRows - used, 1);
  if (max < 1 || min > max) {
    throw new CryptoError(
      'FX_CRYPTO_NO_SAFE_INDEX_SIZE',
      `no safe blind index size for ${input.rows} rows with ${used} bits already used by other indexes and a ${domainBits}-bit domain`,
    );
  }
  return Object.freeze({ min, max, recommended: max, coincidences: input.rows / 2 ** max });
}
