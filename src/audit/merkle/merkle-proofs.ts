/**
 * @module audit/merkle/merkle-proofs
 * Inclusion and consistency proofs for the ledger's Merkle tree: planning which stored nodes a proof
 * needs, assembling the proof from their hashes, and verifying proofs.
 *
 * Storage reads are asynchronous and batched, so producing a proof is split in two: a pure plan
 * (`inclusionPlan`, `consistencyPlan`, `rootPlan`) lists the complete nodes to fetch, and
 * `plan.assemble(hashes)` turns their hashes into the proof. A proof element that covers an
 * incomplete subtree on the right edge is not stored anywhere; it is folded from its complete parts.
 * Proofs are the RFC 6962 §2.1.1 PATH and §2.1.2 PROOF (identical to RFC 9162 §2.1.3.1 / §2.1.4.1),
 * lowest level first.
 *
 * Errors:
 * - Planning (`*Plan`, `assemble`) is the server asking for a proof of its own tree; a request for a
 *   proof that cannot exist (index ≥ size, size1 = 0, size1 > size2) or hashes of the wrong shape
 *   throw `FX_INVALID_ARGUMENT`.
 * - Verification treats everything in a proof as untrusted data: any value that makes the proof
 *   fail — an out-of-range or inexact (above 2^53 − 1) index or size, a hash that is not 32 bytes,
 *   a wrong number of elements, a root mismatch — throws `AuditError` `FX_AUDIT_PROOF` with a
 *   message that says which. Only arguments of the wrong JS type (a programming error) throw
 *   `FX_INVALID_ARGUMENT`.
 * @see https://www.rfc-editor.org/rfc/rfc6962#section-2.1.1
 * @see https://www.rfc-editor.org/rfc/rfc9162#section-2.1.3
 */
import { constantTimeEqual } from '../../crypto/memory/constant-time.js';
import { describe, isBytes } from '../../util/bytes.js';
import { AuditError, InvalidArgumentError } from '../../util/errors.js';
import { isOdd, popCount, shiftRight, trailingZeros, xorBitLength } from './integer-bits.js';
import { foldRight, HASH_BYTES, hashChildren } from './merkle-hash.js';
import { appendRangeNodes, assertTreeInteger, isTreeInteger, type NodeId } from './node-id.js';

/** Which nodes a proof needs, and how to turn their hashes into the proof. */
export interface ProofPlan {
  /** The distinct complete nodes to fetch, in a stable order. Frozen. */
  readonly nodes: readonly NodeId[];
  /**
   * The proof from the hashes of `nodes`, in the same order: an array of 32-byte hashes, lowest
   * level first (for `rootPlan`, `[root]`). Elements that are single nodes are the given arrays
   * themselves, not copies. Throws `FX_INVALID_ARGUMENT` for a wrong count or a hash not 32 bytes.
   */
  assemble(hashes: readonly Uint8Array[]): Uint8Array[];
}

/**
 * Builds a plan: `nodes` plus, for each proof element, the run of nodes it folds. Elements are
 * encoded as [start, count] pairs into `nodes` (count 1 is a stored node as is).
 */
class PlanBuilder {
  readonly nodes: NodeId[] = [];
  readonly #runs: number[] = [];

  /** One proof element that is a stored complete node. */
  node(level: number, index: number): void {
    this.#runs.push(this.nodes.length, 1);
    this.nodes.push({ level, index });
  }

  /** One proof element that is the hash of leaves [begin, end), folded from its compact range. */
  range(begin: number, end: number): void {
    const start = this.nodes.length;
    appendRangeNodes(this.nodes, begin, end);
    this.#runs.push(start, this.nodes.length - start);
  }

  build(): ProofPlan {
    const nodes = Object.freeze(this.nodes);
    const runs = this.#runs;
    return Object.freeze({
      nodes,
      assemble(hashes: readonly Uint8Array[]): Uint8Array[] {
        const given: unknown = hashes;
        if (!Array.isArray(given)) {
          throw new InvalidArgumentError('hashes', `expected an array, got ${describe(hashes)}`);
        }
        if (hashes.length !== nodes.length) {
          throw new InvalidArgumentError(
            'hashes',
            `the plan needs ${nodes.length} node hashes, got ${hashes.length}`,
          );
        }
        for (let i = 0; i < hashes.length; i++) {
          const hash: unknown = hashes[i];
          if (!isBytes(hash) || hash.length !== HASH_BYTES) {
            throw new InvalidArgumentError(
              `hashes[${i}]`,
              `expected ${HASH_BYTES} bytes, got ${describe(hash)}`,
            );
          }
        }
        const proof: Uint8Array[] = [];
        for (let r = 0; r < runs.length; r += 2) {
          const start = runs[r]!;
          const count = runs[r + 1]!;
          proof.push(count === 1 ? hashes[start]! : foldRight(hashes, start, start + count));
        }
        return proof;
      },
    });
  }
}

/**
 * Adds the inclusion path of the complete node (level, index) in the tree of `size` leaves:
 * the sibling of each ancestor, lowest first (RFC 6962 PATH, lifted to level `level`).
 * Below the level where the paths to this node and to the last leaf diverge ("inner" part) every
 * sibling is complete except possibly the last, the right-hand subtree holding the last leaf, which
 * is folded from its compact range. Above it the path runs along the right edge ("border" part),
 * where only left siblings exist and all are complete.
 */
function addPath(plan: PlanBuilder, level: number, index: number, size: number): void {
  const last = shiftRight(size - 1, level);
  const inner = xorBitLength(index, last);
  for (let step = 0; step < inner; step++) {
    const nodeLevel = level + step;
    const at = shiftRight(index, step);
    if (isOdd(at)) {
      plan.node(nodeLevel, at - 1);
    } else if (step < inner - 1) {
      plan.node(nodeLevel, at + 1);
    } else {
      const width = 2 ** nodeLevel;
      const begin = (at + 1) * width;
      plan.range(begin, Math.min(begin + width, size));
    }
  }
  let at = shiftRight(index, inner);
  for (let nodeLevel = level + inner; at > 0; nodeLevel++, at = Math.floor(at / 2)) {
    if (isOdd(at)) plan.node(nodeLevel, at - 1);
  }
}

/**
 * The plan for the root of the tree of the first `size` leaves: `assemble` returns `[root]`
 * (`EMPTY_ROOT` for size 0), folded from the right-edge nodes `rangeNodes(0, size)`.
 *
 * @example
 * ```ts
 * const plan = rootPlan(size);
 * const [root] = plan.assemble(await nodeTable.read(plan.nodes));
 * ```
 */
export function rootPlan(size: number): ProofPlan {
  assertTreeInteger(size, 'size');
  const plan = new PlanBuilder();
  plan.range(0, size);
  return plan.build();
}

/**
 * The plan for the inclusion proof (RFC 6962 §2.1.1 PATH) of leaf `index` in the tree of the first
 * `size` leaves. Needs 0 ≤ index < size; otherwise throws `FX_INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * const plan = inclusionPlan(42, checkpoint.size);
 * const proof = plan.assemble(await nodeTable.read(plan.nodes));
 * verifyInclusion(leafHash, 42, checkpoint.size, proof, checkpoint.root);
 * ```
 */
export function inclusionPlan(index: number, size: number): ProofPlan {
  assertTreeInteger(index, 'index');
  assertTreeInteger(size, 'size');
  if (index >= size) {
    throw new InvalidArgumentError('index', `leaf index ${index} is not below the tree size ${size}`);
  }
  const plan = new PlanBuilder();
  addPath(plan, 0, index, size);
  return plan.build();
}

/**
 * The plan for the consistency proof (RFC 6962 §2.1.2 PROOF) that the tree of the first `size1`
 * leaves is a prefix of the tree of the first `size2`. Needs 0 < size1 ≤ size2 (RFC 9162 §2.1.4:
 * there is no proof from the empty tree); size1 = size2 gives the empty proof. Otherwise throws
 * `FX_INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * const plan = consistencyPlan(old.size, latest.size);
 * const proof = plan.assemble(await nodeTable.read(plan.nodes));
 * verifyConsistency(old.size, latest.size, proof, old.root, latest.root);
 * ```
 */
export function consistencyPlan(size1: number, size2: number): ProofPlan {
  assertTreeInteger(size1, 'size1');
  assertTreeInteger(size2, 'size2');
  if (size1 === 0) {
    throw new InvalidArgumentError(
      'size1',
      'there is no consistency proof from the empty tree (RFC 9162 §2.1.4)',
    );
  }
  if (size1 > size2) throw new InvalidArgumentError('size1', `size1 ${size1} is greater than size2 ${size2}`);
  const plan = new PlanBuilder();
  if (size1 < size2) {
    // The largest complete subtree that ends at size1. The proof is its hash (left out when it is
    // the whole old tree, size1 a power of two: the verifier has that root already) followed by its
    // inclusion path in the new tree.
    const level = trailingZeros(size1);
    const index = shiftRight(size1 - 1, level);
    if (index > 0) plan.node(level, index);
    addPath(plan, level, index, size2);
  }
  return plan.build();
}

// ---------------------------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)

function proofError(message: string): AuditError {
  return new AuditError('FX_AUDIT_PROOF', message);
}

function checkTreeNumber(value: unknown, argument: string, what: string): asserts value is number {
  if (typeof value !== 'number') {
    throw new InvalidArgumentError(argument, `expected a number, got ${describe(value)}`);
  }
  if (!isTreeInteger(value)) {
    throw proofError(`${what} ${String(value)} is not an integer from 0 to 2^53 − 1`);
  }
}

function checkHash(value: unknown, argument: string, what: string): asserts value is Uint8Array {
  if (!isBytes(value))
    throw new InvalidArgumentError(argument, `expected a Uint8Array, got ${describe(value)}`);
  if (value.length !== HASH_BYTES)
    throw proofError(`${what} is ${value.length} bytes, expected ${HASH_BYTES}`);
}

function checkProof(proof: unknown): asserts proof is readonly Uint8Array[] {
  if (!Array.isArray(proof))
    throw new InvalidArgumentError('proof', `expected an array, got ${describe(proof)}`);
  for (let i = 0; i < proof.length; i++) {
    checkHash(proof[i], `proof[${i}]`, `proof element ${i}`);
  }
}

function checkLength(proof: readonly Uint8Array[], expected: number): void {
  if (proof.length !== expected) {
    throw proofError(`wrong proof length: expected ${expected} hashes, got ${proof.length}`);
  }
}

/** Length of the inclusion path of node `index` among `count` nodes of one level. */
function pathLength(index: number, count: number): number {
  const inner = xorBitLength(index, count - 1);
  return inner + popCount(shiftRight(index, inner));
}

/**
 * The root that an inclusion proof leads to from `leafHash` at `index` in a tree of `size` leaves
 * (RFC 9162 §2.1.3.2 steps 1–4). Throws `FX_AUDIT_PROOF` when index ≥ size, a value is out of range,
 * a hash is not 32 bytes, or the proof has the wrong length. The caller must compare the result with
 * a trusted root in constant time: prefer {@link verifyInclusion}.
 */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkTreeNumber(index, 'index', 'leaf index');
  checkTreeNumber(size, 'size', 'tree size');
  if (index >= size) throw proofError(`leaf index ${index} is not below the tree size ${size}`);
  checkHash(leafHash, 'leafHash', 'the leaf hash');
  checkProof(proof);
  checkLength(proof, pathLength(index, size));
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    // The length check makes this unreachable; kept because it is the RFC's own guard.
    if (sn === 0) throw proofError('the proof is longer than the path to the root');
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      // A left-edge node with no right sibling is promoted unchanged: skip the levels it climbs.
      while (!isOdd(fn) && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw proofError('the proof is shorter than the path to the root');
  return r === leafHash ? new Uint8Array(leafHash) : r;
}

/**
 * Verifies that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`
 * (RFC 9162 §2.1.3.2). Returns nothing; throws `AuditError` `FX_AUDIT_PROOF` saying why the proof
 * fails (index ≥ size, a hash not 32 bytes, wrong proof length, root mismatch).
 *
 * @example
 * ```ts
 * verifyInclusion(hashLeaf(entry), seq, checkpoint.size, proof, checkpoint.root); // throws if not included
 * ```
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkHash(root, 'root', 'the root');
  const computed = rootFromInclusionProof(leafHash, index, size, proof);
  if (!constantTimeEqual(computed, root)) {
    throw proofError(`root mismatch: the inclusion proof for leaf ${index} does not lead to the tree root`);
  }
}

/**
 * The root of the tree of `size2` leaves that a consistency proof leads to from the tree of `size1`
 * leaves with root `root1` (RFC 9162 §2.1.4.2), after checking in constant time that the proof also
 * leads back to `root1`. Throws `FX_AUDIT_PROOF` for size1 = 0, size1 > size2, a non-empty proof
 * for equal sizes, a hash not 32 bytes, a wrong proof length, or a proof that does not match `root1`.
 * The caller must compare the result with a trusted root: prefer {@link verifyConsistency}.
 */
export function rootFromConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
): Uint8Array {
  checkTreeNumber(size1, 'size1', 'size1');
  checkTreeNumber(size2, 'size2', 'size2');
  if (size1 === 0) {
    throw proofError('there is no consistency proof from the empty tree (size1 = 0, RFC 9162 §2.1.4)');
  }
  if (size1 > size2) throw proofError(`size1 ${size1} is greater than size2 ${size2}`);
  checkHash(root1, 'root1', 'root1');
  checkProof(proof);
  if (size1 === size2) {
    if (proof.length !== 0) {
      throw proofError(`sizes are equal (${size1}) but the proof is not empty (${proof.length} hashes)`);
    }
    return new Uint8Array(root1);
  }
  // Step 4's shift: the largest complete subtree ending at size1 is at level trailingZeros(size1).
  const level = trailingZeros(size1);
  let fn = shiftRight(size1 - 1, level);
  let sn = shiftRight(size2 - 1, level);
  // Step 2: a power-of-two size1 is that subtree itself, so its root is the seed and not sent.
  const seeded = fn === 0;
  checkLength(proof, (seeded ? 0 : 1) + pathLength(fn, sn + 1));
  let fr = seeded ? root1 : proof[0]!;
  let sr = fr;
  for (let i = seeded ? 0 : 1; i < proof.length; i++) {
    const c = proof[i]!;
    if (sn === 0) throw proofError('the proof is longer than the path to the root');
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw proofError('the proof is shorter than the path to the root');
  if (!constantTimeEqual(fr, root1)) {
    throw proofError(`root mismatch: the consistency proof does not lead back to the root of size ${size1}`);
  }
  return sr;
}

/**
 * Verifies that the tree of `size1` leaves with root `root1` is a prefix of the tree of `size2`
 * leaves with root `root2` (RFC 9162 §2.1.4.2). Needs 0 < size1 ≤ size2; for size1 = size2 the
 * proof must be empty and the roots equal. Returns nothing; throws `AuditError` `FX_AUDIT_PROOF`
 * saying why the proof fails.
 *
 * @example
 * ```ts
 * verifyConsistency(old.size, latest.size, proof, old.root, latest.root); // throws if the log forked
 * ```
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  checkTreeNumber(size1, 'size1', 'size1');
  checkTreeNumber(size2, 'size2', 'size2');
  if (size1 === size2 && size1 > 0 && isBytes(root1) && isBytes(root2)) {
    // RFC 9162 §2.1.4.2 step 1: equal sizes need an empty proof and equal roots — compared as
    // given, as the reference implementation (transparency-dev/merkle) and its vectors do.
    if (proof.length !== 0) {
      throw proofError(`sizes are equal (${size1}) but the proof is not empty (${proof.length} hashes)`);
    }
    if (!constantTimeEqual(root1, root2)) {
      throw proofError(`root mismatch: two different roots for the same size ${size1}`);
    }
    return;
  }
  checkHash(root1, 'root1', 'root1');
  checkHash(root2, 'root2', 'root2');
  const computed = rootFromConsistencyProof(size1, size2, proof, root1);
  if (!constantTimeEqual(computed, root2)) {
    throw proofError(
      size1 === size2
        ? `root mismatch: two different roots for the same size ${size1}`
        : `root mismatch: the consistency proof does not lead to the root of size ${size2}`,
    );
  }
}

function isProofFailure(error: unknown): boolean {
  return error instanceof AuditError && error.code === 'FX_AUDIT_PROOF';
}

/**
 * `verifyInclusion` as a boolean: false where it throws `FX_AUDIT_PROOF`. Arguments of the wrong
 * JS type still throw `FX_INVALID_ARGUMENT` (a bug, not a bad proof).
 */
export function isValidInclusionProof(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    verifyInclusion(leafHash, index, size, proof, root);
    return true;
  } catch (error) {
    if (isProofFailure(error)) return false;
    throw error;
  }
}

/**
 * `verifyConsistency` as a boolean: false where it throws `FX_AUDIT_PROOF`. Arguments of the wrong
 * JS type still throw `FX_INVALID_ARGUMENT`.
 */
export function isValidConsistencyProof(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  try {
    verifyConsistency(size1, size2, proof, root1, root2);
    return true;
  } catch (error) {
    if (isProofFailure(error)) return false;
    throw error;
  }
}
