/**
 * @module audit/merkle/integer-bits
 * Bit arithmetic on tree sizes and indices. They are JS numbers up to 2^53 − 1, and JS bitwise
 * operators truncate to 32 bits, so a silent `>>` on a size above 2^32 would compute a different tree.
 * These helpers split a number into exact 32-bit halves instead; values below 2^32 (every realistic
 * ledger) take the one-word fast path. Internal to the Merkle code; callers validate their inputs
 * (non-negative safe integers) before using them.
 */

const TWO_32 = 2 ** 32;

/** Number of significant bits of `n` (0 for 0): ⌊log2 n⌋ + 1. */
export function bitLength(n: number): number {
  if (n < TWO_32) return 32 - Math.clz32(n);
  return 64 - Math.clz32(Math.floor(n / TWO_32));
}

/** Bit length of `a XOR b`: the height of the smallest aligned subtree holding leaves (or nodes) a and b. */
export function xorBitLength(a: number, b: number): number {
  if (a < TWO_32 && b < TWO_32) return 32 - Math.clz32((a ^ b) >>> 0);
  const high = (Math.floor(a / TWO_32) ^ Math.floor(b / TWO_32)) >>> 0;
  if (high !== 0) return 64 - Math.clz32(high);
  return 32 - Math.clz32(((a >>> 0) ^ (b >>> 0)) >>> 0);
}

function popCount32(x: number): number {
  let v = x >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Number of set bits of `n`. */
export function popCount(n: number): number {
  if (n < TWO_32) return popCount32(n);
  return popCount32(n >>> 0) + popCount32(Math.floor(n / TWO_32));
}

/** Number of trailing zero bits of `n` (> 0): the level of the largest aligned subtree ending at `n`. */
export function trailingZeros(n: number): number {
  const low = n >>> 0;
  if (low !== 0) return 31 - Math.clz32(low & -low);
  const high = Math.floor(n / TWO_32) >>> 0;
  return 32 + 31 - Math.clz32(high & -high);
}

/** ⌊n / 2^k⌋, exact for every safe integer `n` and 0 ≤ k ≤ 53. */
export function shiftRight(n: number, k: number): number {
  return k === 0 ? n : Math.floor(n / 2 ** k);
}

/** True when the lowest bit of `n` is set. */
export function isOdd(n: number): boolean {
  return n % 2 === 1;
}
