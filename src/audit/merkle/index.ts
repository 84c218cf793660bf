/**
 * @module audit/merkle
 * The Merkle tree math of the audit ledger, exactly RFC 6962 / RFC 9162 (SHA-256, 0x00 leaf and
 * 0x01 node prefixes): leaf and node hashes, the right-edge frontier an appender keeps, proof plans
 * (which stored nodes a proof needs) and their assembly, and proof verification. Pure computation:
 * no I/O; storage is the caller's.
 *
 * @example
 * ```ts
 * import { MerkleTree, hashLeaf, inclusionPlan, verifyInclusion } from './audit/merkle/index.js';
 * const tree = new MerkleTree(entries.map(hashLeaf));
 * const plan = inclusionPlan(1, tree.size);
 * const proof = plan.assemble(tree.hashes(plan.nodes));
 * verifyInclusion(hashLeaf(entries[1]), 1, tree.size, proof, tree.root());
 * ```
 */
export { EMPTY_ROOT, HASH_BYTES, hashChildren, hashLeaf } from './merkle-hash.js';
export { MAX_TREE_SIZE, rangeNodes, type NodeId, type NodeSource } from './node-id.js';
export { MerkleFrontier, type NodeWrite } from './merkle-frontier.js';
export {
  consistencyPlan,
  inclusionPlan,
  isValidConsistencyProof,
  isValidInclusionProof,
  rootFromConsistencyProof,
  rootFromInclusionProof,
  rootPlan,
  verifyConsistency,
  verifyInclusion,
  type ProofPlan,
} from './merkle-proofs.js';
export { MerkleTree } from './merkle-tree.js';
