/**
 * @module audit/merkle/node-id
 * Addresses of complete subtrees ("nodes") of the ledger's Merkle tree. Node (level L, index i) is
 * the hash of leaves [i·2^L, (i+1)·2^L); level-0 nodes are leaf hashes. Only complete nodes are ever
 * stored: the hash of a subtree on the growing right edge changes with every append, so it is
 * recomputed from the complete nodes that cover it ({@link rangeNodes}).
 *
 * Sizes and indices are JS numbers, exact up to 2^53 − 1 leaves; anything else is refused rather
 * than rounded.
 */
import { describe } from '../../util/bytes.js';
import { InvalidArgumentError } from '../../util/errors.js';
import { bitLength, trailingZeros } from './integer-bits.js';

/** One complete subtree: the hash of leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/**
 * Anything that returns the stored hashes of complete nodes, in the order asked: the ledger's node
 * table, or {@link MerkleTree} in tests and the offline verifier.
 */
export interface NodeSource {
  hashes(nodes: readonly NodeId[]): Uint8Array[];
}

/** The most leaves a tree may hold: indices and sizes must stay exact JS integers. */
export const MAX_TREE_SIZE: number = Number.MAX_SAFE_INTEGER;

/** True for a non-negative safe integer (a valid leaf index or tree size). */
export function isTreeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Throws `FX_INVALID_ARGUMENT` unless `value` is a non-negative safe integer. */
export function assertTreeInteger(value: unknown, argument: string): asserts value is number {
  if (!isTreeInteger(value)) {
    throw new InvalidArgumentError(
      argument,
      typeof value === 'number'
        ? `expected an integer from 0 to 2^53 − 1, got ${value}`
        : `expected a number, got ${describe(value)}`,
    );
  }
}

/**
 * The maximal complete subtrees that exactly cover leaves [begin, end), left to right: the
 * "compact range" of the interval. Each step takes the largest aligned subtree that starts at the
 * cursor and fits, so sizes first grow, then shrink; there are at most 2·log2(end − begin) + 2.
 * `rangeNodes(0, size)` is the right edge of a tree of `size` leaves: one node per set bit of size.
 *
 * @example
 * ```ts
 * rangeNodes(0, 7); // [{ level: 2, index: 0 }, { level: 1, index: 2 }, { level: 0, index: 6 }]
 * rangeNodes(3, 8); // [{ level: 0, index: 3 }, { level: 2, index: 1 }]
 * ```
 */
export function rangeNodes(begin: number, end: number): NodeId[] {
  assertTreeInteger(begin, 'begin');
  assertTreeInteger(end, 'end');
  if (begin > end) throw new InvalidArgumentError('begin', `begin ${begin} is after end ${end}`);
  const nodes: NodeId[] = [];
  appendRangeNodes(nodes, begin, end);
  return nodes;
}

/** `rangeNodes` without validation, appending to `out` (the planners' hot path). */
export function appendRangeNodes(out: NodeId[], begin: number, end: number): void {
  let cursor = begin;
  while (cursor < end) {
    // The largest subtree that fits in what is left, capped by the alignment of the cursor (a
    // subtree of 2^L leaves must start at a multiple of 2^L). Cursor 0 is aligned to everything.
    let level = bitLength(end - cursor) - 1;
    if (cursor !== 0) level = Math.min(level, trailingZeros(cursor));
    const width = 2 ** level;
    out.push({ level, index: cursor / width });
    cursor += width;
  }
}
