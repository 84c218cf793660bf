/**
 * @module audit/merkle/merkle-tree
 * A whole Merkle tree held in memory: every complete node of a list of leaf hashes. It stands in
 * for the ledger's node table where everything fits in memory: in tests, and in the offline
 * verifier, which rebuilds the tree from an exported ledger and answers the same plans.
 */
import { isBytes } from '../../util/bytes.js';
import { InvalidArgumentError } from '../../util/errors.js';
import { HASH_BYTES, hashChildren } from './merkle-hash.js';
import { assertTreeInteger, type NodeId, type NodeSource } from './node-id.js';
import { rootPlan } from './merkle-proofs.js';

/**
 * Every complete node of the tree of `leafHashes` (n − 1 + n hashes in memory for n leaves).
 * Returns copies, so proofs built from it cannot alter it.
 *
 * @example
 * ```ts
 * const tree = new MerkleTree(entries.map(hashLeaf));
 * const plan = inclusionPlan(3, tree.size);
 * verifyInclusion(tree.node(0, 3), 3, tree.size, plan.assemble(tree.hashes(plan.nodes)), tree.root());
 * ```
 */
export class MerkleTree implements NodeSource {
  /** levels[L][i] is node (L, i); level L holds ⌊n / 2^L⌋ complete nodes. */
  readonly #levels: Uint8Array[][];

  /** Builds the tree; the leaf hashes are copied. Throws `FX_INVALID_ARGUMENT` for a hash not 32 bytes. */
  constructor(leafHashes: readonly Uint8Array[]) {
    if (!Array.isArray(leafHashes)) throw new InvalidArgumentError('leafHashes', 'expected an array');
    const leaves = leafHashes.map((hash, i) => {
      if (!isBytes(hash) || hash.length !== HASH_BYTES) {
        throw new InvalidArgumentError(`leafHashes[${i}]`, `expected a ${HASH_BYTES}-byte hash`);
      }
      return new Uint8Array(hash);
    });
    this.#levels = [leaves];
    for (let below: Uint8Array[] = leaves; below.length >= 2;) {
      const level: Uint8Array[] = [];
      for (let i = 0; i + 1 < below.length; i += 2) level.push(hashChildren(below[i]!, below[i + 1]!));
      this.#levels.push(level);
      below = level;
    }
  }

  /** Number of leaves. */
  get size(): number {
    return this.#levels[0]!.length;
  }

  /**
   * The hash of complete node (level, index), a copy. Throws `FX_INVALID_ARGUMENT` when the tree
   * has no such complete node.
   */
  node(level: number, index: number): Uint8Array {
    assertTreeInteger(level, 'level');
    assertTreeInteger(index, 'index');
    const hash = this.#levels[level]?.[index];
    if (hash === undefined) {
      throw new InvalidArgumentError(
        'index',
        `a tree of ${this.size} leaves has no complete node at level ${level}, index ${index}`,
      );
    }
    return new Uint8Array(hash);
  }

  /** The hashes of `nodes`, in order (copies): the `NodeSource` a plan's nodes are fetched from. */
  hashes(nodes: readonly NodeId[]): Uint8Array[] {
    return nodes.map((node) => this.node(node.level, node.index));
  }

  /** The root of the tree of the first `size` leaves (default: all); `EMPTY_ROOT` for 0. */
  root(size: number = this.size): Uint8Array {
    assertTreeInteger(size, 'size');
    if (size > this.size) {
      throw new InvalidArgumentError(
        'size',
        `the tree has ${this.size} leaves, asked for the root of ${size}`,
      );
    }
    const plan = rootPlan(size);
    return plan.assemble(this.hashes(plan.nodes))[0]!;
  }
}
