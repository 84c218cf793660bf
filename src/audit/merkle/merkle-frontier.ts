/**
 * @module audit/merkle/merkle-frontier
 * The right edge of the ledger's Merkle tree: the complete subtrees `rangeNodes(0, size)`, one per
 * set bit of the size. That is all an appender needs to add a leaf in O(log n) hashes and to
 * compute the current root, without reading storage. On restart the ledger reads those nodes back
 * ({@link MerkleFrontier.fromNodes}).
 */
import { isBytes } from '../../util/bytes.js';
import { AuditError, InvalidArgumentError } from '../../util/errors.js';
import { isOdd, popCount } from './integer-bits.js';
import { foldRight, HASH_BYTES, hashChildren } from './merkle-hash.js';
import { assertTreeInteger, MAX_TREE_SIZE, rangeNodes, type NodeId } from './node-id.js';

/** A complete node and its hash: what the caller persists after an append. */
export interface NodeWrite extends NodeId {
  readonly hash: Uint8Array;
}

function assertNodeHash(value: unknown, argument: string): asserts value is Uint8Array {
  if (!isBytes(value)) throw new InvalidArgumentError(argument, 'expected a Uint8Array');
  if (value.length !== HASH_BYTES) {
    throw new InvalidArgumentError(argument, `expected ${HASH_BYTES} bytes, got ${value.length}`);
  }
}

/**
 * The right edge of a Merkle tree: appends leaves and computes roots (RFC 6962 §2.1 MTH). Holds
 * private copies of every hash, and every hash it returns is a fresh copy, so neither side can
 * corrupt the other by reusing a buffer.
 *
 * @example
 * ```ts
 * const frontier = MerkleFrontier.empty();
 * for (const entry of entries) {
 *   const writes = frontier.append(hashLeaf(entry)); // persist exactly these nodes
 *   await nodeTable.insert(writes);
 * }
 * const root = frontier.root();
 * // after a restart:
 * const again = MerkleFrontier.fromNodes(size, await nodeTable.read(rangeNodes(0, size)));
 * ```
 */
export class MerkleFrontier {
  #size: number;
  /** Hashes of `rangeNodes(0, size)`: highest level (leftmost) first. Never mutated in place. */
  readonly #hashes: Uint8Array[];
  #root: Uint8Array | undefined;

  private constructor(size: number, hashes: Uint8Array[]) {
    this.#size = size;
    this.#hashes = hashes;
  }

  /** The frontier of the tree with no leaves. */
  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, []);
  }

  /**
   * Rebuilds the frontier of a tree of `size` leaves from the hashes of its nodes
   * `rangeNodes(0, size)`, in that order (as read back from storage). Throws `FX_INVALID_ARGUMENT`
   * for a bad size, a wrong number of hashes, or a hash that is not 32 bytes. The hashes are
   * copied; that they really are the stored tree's nodes is the caller's to know (a wrong one
   * shows as a root that does not match the signed checkpoint).
   */
  static fromNodes(size: number, hashes: readonly Uint8Array[]): MerkleFrontier {
    assertTreeInteger(size, 'size');
    if (!Array.isArray(hashes)) throw new InvalidArgumentError('hashes', 'expected an array');
    const expected = popCount(size);
    if (hashes.length !== expected) {
      throw new InvalidArgumentError(
        'hashes',
        `a tree of ${size} leaves has ${expected} right-edge nodes, got ${hashes.length} hashes`,
      );
    }
    const copies = hashes.map((hash, i) => {
      assertNodeHash(hash, `hashes[${i}]`);
      return new Uint8Array(hash);
    });
    return new MerkleFrontier(size, copies);
  }

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends one leaf hash (see `hashLeaf`) and returns the nodes that became complete: the leaf
   * itself at level 0, then every parent it completed, lowest level first. Persisting exactly these
   * keeps the node table holding every complete node once.
   * Throws `FX_INVALID_ARGUMENT` for a hash that is not 32 bytes, and `FX_AUDIT_UNAVAILABLE` when
   * the tree already holds 2^53 − 1 leaves.
   */
  append(leafHash: Uint8Array): NodeWrite[] {
    assertNodeHash(leafHash, 'leafHash');
    if (this.#size >= MAX_TREE_SIZE) {
      throw new AuditError(
        'FX_AUDIT_UNAVAILABLE',
        'the Merkle tree already holds 2^53 − 1 leaves, the most Fortress can index exactly',
      );
    }
    let hash: Uint8Array = new Uint8Array(leafHash);
    let level = 0;
    let index = this.#size;
    const writes: NodeWrite[] = [{ level, index, hash: new Uint8Array(hash) }];
    // Each set low bit of the old size is a complete left sibling on the frontier waiting for
    // exactly this right sibling: merge until the first clear bit (binary-counter carry).
    while (isOdd(index)) {
      hash = hashChildren(this.#hashes.pop()!, hash);
      level += 1;
      index = (index - 1) / 2;
      writes.push({ level, index, hash: new Uint8Array(hash) });
    }
    this.#hashes.push(hash);
    this.#size += 1;
    this.#root = undefined;
    return writes;
  }

  /**
   * The root (RFC 6962 §2.1 MTH) of the tree of the leaves appended so far; `EMPTY_ROOT` for no
   * leaves. Cached until the next append; returns a fresh copy each call.
   */
  root(): Uint8Array {
    this.#root ??= foldRight(this.#hashes);
    return new Uint8Array(this.#root);
  }

  /** An independent copy of this frontier. */
  clone(): MerkleFrontier {
    const copy = new MerkleFrontier(this.#size, [...this.#hashes]);
    copy.#root = this.#root;
    return copy;
  }

  /** The frontier nodes `rangeNodes(0, size)` with their hashes (copies), leftmost first. */
  nodes(): NodeWrite[] {
    return rangeNodes(0, this.#size).map((node, i) => ({ ...node, hash: new Uint8Array(this.#hashes[i]!) }));
  }
}
