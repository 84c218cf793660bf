/**
 * Property tests for the audit ledger's Merkle tree math (src/audit/merkle), against an independent
 * reference written here straight from the recursive definitions of RFC 6962 §2.1 (MTH, PATH,
 * SUBPROOF) with node:crypto SHA-256 — no code shared with the implementation under test.
 *
 * Small trees (up to 600 leaves) are compared with the reference; huge trees (up to 2^53 − 1 leaves,
 * beyond 32-bit arithmetic) use a periodic tree whose every node is cheap to compute but that is a
 * real, consistent Merkle tree, so its proofs must verify against its roots.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_TREE_SIZE,
  MerkleFrontier,
  MerkleTree,
  consistencyPlan,
  hashChildren,
  hashLeaf,
  inclusionPlan,
  isValidConsistencyProof,
  isValidInclusionProof,
  rangeNodes,
  rootFromConsistencyProof,
  rootFromInclusionProof,
  rootPlan,
  type NodeId,
  type NodeSource,
  type ProofPlan,
} from '../../src/audit/merkle/index.js';
import {
  bitLength,
  isOdd,
  popCount,
  shiftRight,
  trailingZeros,
  xorBitLength,
} from '../../src/audit/merkle/integer-bits.js';
import { toHex } from '../helpers/vectors.js';

const MAX = 600;
const RUNS = { numRuns: 200 };

// ---------------------------------------------------------------------------------------------
// Reference: RFC 6962 §2.1 as written (recursive, with k the largest power of two < n).

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
};
const entries = Array.from({ length: MAX }, (_, i) => new TextEncoder().encode(`audit entry #${i}`));
const refLeaves = entries.map((entry) => sha256(Uint8Array.of(0), entry));

function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const mthCache = new Map<number, Uint8Array>();
/** MTH(D[lo:hi]). */
function mth(lo: number, hi: number): Uint8Array {
  const key = lo * (MAX + 1) + hi;
  const cached = mthCache.get(key);
  if (cached !== undefined) return cached;
  const n = hi - lo;
  let out: Uint8Array;
  if (n === 0) out = sha256();
  else if (n === 1) out = refLeaves[lo]!;
  else {
    const k = splitPoint(n);
    out = sha256(Uint8Array.of(1), mth(lo, lo + k), mth(lo + k, hi));
  }
  mthCache.set(key, out);
  return out;
}

/** PATH(m, D[lo:hi]). */
function refPath(m: number, lo: number, hi: number): Uint8Array[] {
  const n = hi - lo;
  if (n <= 1) return [];
  const k = splitPoint(n);
  return m < k
    ? [...refPath(m, lo, lo + k), mth(lo + k, hi)]
    : [...refPath(m - k, lo + k, hi), mth(lo, lo + k)];
}

/** SUBPROOF(m, D[lo:hi], b); PROOF(m, D[n]) = SUBPROOF(m, D[0:n], true). */
function refSubproof(m: number, lo: number, hi: number, b: boolean): Uint8Array[] {
  const n = hi - lo;
  if (m === n) return b ? [] : [mth(lo, hi)];
  const k = splitPoint(n);
  return m <= k
    ? [...refSubproof(m, lo, lo + k, b), mth(lo + k, hi)]
    : [...refSubproof(m - k, lo + k, hi, false), mth(lo, lo + k)];
}

// ---------------------------------------------------------------------------------------------
// Under test

const tree = new MerkleTree(entries.map(hashLeaf));
const leaf = (i: number): Uint8Array => tree.node(0, i);
const prove = (plan: ProofPlan, source: NodeSource = tree): Uint8Array[] =>
  plan.assemble(source.hashes(plan.nodes));
const hexAll = (hashes: readonly Uint8Array[]): string[] => hashes.map(toHex);
const sameProof = (a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean =>
  a.length === b.length && a.every((x, i) => toHex(x) === toHex(b[i]!));

/** Distinct, complete within `size`, and O(log n) many. */
function checkPlanNodes(nodes: readonly NodeId[], size: number): void {
  const keys = new Set(nodes.map((node) => `${node.level}:${node.index}`));
  expect(keys.size, 'plan nodes are distinct').toBe(nodes.length);
  for (const node of nodes) {
    expect((node.index + 1) * 2 ** node.level, 'plan nodes are complete').toBeLessThanOrEqual(size);
  }
  expect(nodes.length).toBeLessThanOrEqual(2 * Math.max(0, Math.log2(size)) + 2);
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(bytes);
  out[(bit >>> 3) % out.length]! ^= 1 << (bit & 7);
  return out;
}

const sizeAndIndex = fc
  .integer({ min: 1, max: MAX })
  .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 })));
const twoSizes = fc
  .integer({ min: 1, max: MAX })
  .chain((size2) => fc.tuple(fc.integer({ min: 1, max: size2 }), fc.constant(size2)));
const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('against the RFC 6962 reference (up to 600 leaves)', () => {
  it('leaf hashes', () => {
    expect(hexAll(entries.map(hashLeaf))).toEqual(hexAll(refLeaves));
  });

  it('rootPlan and MerkleTree.root give MTH', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX }), (size) => {
        const plan = rootPlan(size);
        checkPlanNodes(plan.nodes, size);
        expect(hexAll(prove(plan))).toEqual([toHex(mth(0, size))]);
        expect(toHex(tree.root(size))).toBe(toHex(mth(0, size)));
      }),
      RUNS,
    );
  });

  it('inclusionPlan gives PATH, and the proof verifies', () => {
    fc.assert(
      fc.property(sizeAndIndex, ([size, index]) => {
        const plan = inclusionPlan(index, size);
        checkPlanNodes(plan.nodes, size);
        const proof = prove(plan);
        expect(hexAll(proof)).toEqual(hexAll(refPath(index, 0, size)));
        expect(isValidInclusionProof(leaf(index), index, size, proof, mth(0, size))).toBe(true);
        expect(toHex(rootFromInclusionProof(leaf(index), index, size, proof))).toBe(toHex(mth(0, size)));
      }),
      RUNS,
    );
  });

  it('consistencyPlan gives PROOF, and the proof verifies', () => {
    fc.assert(
      fc.property(twoSizes, ([size1, size2]) => {
        const plan = consistencyPlan(size1, size2);
        checkPlanNodes(plan.nodes, size2);
        const proof = prove(plan);
        expect(hexAll(proof)).toEqual(hexAll(refSubproof(size1, 0, size2, true)));
        expect(isValidConsistencyProof(size1, size2, proof, mth(0, size1), mth(0, size2))).toBe(true);
        expect(toHex(rootFromConsistencyProof(size1, size2, proof, mth(0, size1)))).toBe(
          toHex(mth(0, size2)),
        );
      }),
      RUNS,
    );
  });
});

describe('tampered inclusion proofs fail', () => {
  it('a flipped bit anywhere, a dropped or an added element, another index', () => {
    fc.assert(
      fc.property(sizeAndIndex, fc.nat(), fc.nat(), hash32, ([size, index], pick, bit, extra) => {
        const proof = prove(inclusionPlan(index, size));
        const root = mth(0, size);
        const valid = (l: Uint8Array, i: number, n: number, p: Uint8Array[], r: Uint8Array): boolean =>
          isValidInclusionProof(l, i, n, p, r);
        expect(valid(flipBit(leaf(index), bit), index, size, proof, root)).toBe(false);
        expect(valid(leaf(index), index, size, proof, flipBit(root, bit))).toBe(false);
        if (proof.length > 0) {
          const k = pick % proof.length;
          expect(valid(leaf(index), index, size, proof.with(k, flipBit(proof[k]!, bit)), root)).toBe(false);
          expect(valid(leaf(index), index, size, proof.toSpliced(k, 1), root)).toBe(false);
        }
        const at = pick % (proof.length + 1);
        expect(valid(leaf(index), index, size, proof.toSpliced(at, 0, extra), root)).toBe(false);
        if (size > 1) {
          const other = (index + 1 + (pick % (size - 1))) % size;
          expect(valid(leaf(index), other, size, proof, root)).toBe(false);
        }
      }),
      RUNS,
    );
  });

  it('another size verifies (against that size’s root) only where the two proofs are the same', () => {
    // The root alone does not commit to the size (RFC 6962 hashes carry no length); a signed
    // checkpoint binds the two. So the exact property is: the proof for (index, size) is accepted for
    // (index, size′) against root(size′) if and only if it *is* the proof for (index, size′).
    fc.assert(
      fc.property(sizeAndIndex, fc.integer({ min: 1, max: MAX }), ([size, index], other) => {
        fc.pre(other > index && other !== size);
        const proof = prove(inclusionPlan(index, size));
        expect(isValidInclusionProof(leaf(index), index, other, proof, mth(0, other))).toBe(
          sameProof(proof, refPath(index, 0, other)),
        );
      }),
      RUNS,
    );
  });
});

describe('tampered consistency proofs fail', () => {
  it('a flipped bit anywhere, a dropped or an added element, swapped roots', () => {
    fc.assert(
      fc.property(twoSizes, fc.nat(), fc.nat(), hash32, ([size1, size2], pick, bit, extra) => {
        const proof = prove(consistencyPlan(size1, size2));
        const [root1, root2] = [mth(0, size1), mth(0, size2)];
        const valid = (p: Uint8Array[], r1: Uint8Array, r2: Uint8Array): boolean =>
          isValidConsistencyProof(size1, size2, p, r1, r2);
        expect(valid(proof, flipBit(root1, bit), root2)).toBe(false);
        expect(valid(proof, root1, flipBit(root2, bit))).toBe(false);
        if (proof.length > 0) {
          const k = pick % proof.length;
          expect(valid(proof.with(k, flipBit(proof[k]!, bit)), root1, root2)).toBe(false);
          expect(valid(proof.toSpliced(k, 1), root1, root2)).toBe(false);
        }
        expect(valid(proof.toSpliced(pick % (proof.length + 1), 0, extra), root1, root2)).toBe(false);
        if (size1 !== size2) expect(valid(proof, root2, root1)).toBe(false);
      }),
      RUNS,
    );
  });

  it('other sizes verify (against their roots) only where the proofs are the same', () => {
    fc.assert(
      fc.property(twoSizes, fc.integer({ min: 1, max: MAX }), ([size1, size2], other) => {
        const proof = prove(consistencyPlan(size1, size2));
        if (other <= size2 && other !== size1) {
          expect(isValidConsistencyProof(other, size2, proof, mth(0, other), mth(0, size2))).toBe(
            sameProof(proof, refSubproof(other, 0, size2, true)),
          );
        }
        if (other >= size1 && other !== size2) {
          expect(isValidConsistencyProof(size1, other, proof, mth(0, size1), mth(0, other))).toBe(
            sameProof(proof, refSubproof(size1, 0, other, true)),
          );
        }
      }),
      RUNS,
    );
  });
});

describe('MerkleFrontier', () => {
  it('appends, fromNodes and MerkleTree agree on every root up to 600 leaves; the writes cover every complete node once', () => {
    const frontier = MerkleFrontier.empty();
    const written = new Map<string, string>();
    for (let size = 0; size <= MAX; size++) {
      if (size > 0) {
        for (const write of frontier.append(leaf(size - 1))) {
          const key = `${write.level}:${write.index}`;
          expect(written.has(key), `${key} written twice`).toBe(false);
          expect((write.index + 1) * 2 ** write.level, `${key} is complete`).toBeLessThanOrEqual(size);
          written.set(key, toHex(write.hash));
        }
      }
      const expected = toHex(mth(0, size));
      expect(toHex(frontier.root()), `append root ${size}`).toBe(expected);
      expect(toHex(MerkleFrontier.fromNodes(size, tree.hashes(rangeNodes(0, size))).root())).toBe(expected);
      expect(toHex(frontier.clone().root())).toBe(expected);
      expect(frontier.nodes().map((n) => `${n.level}:${n.index}`)).toEqual(
        rangeNodes(0, size).map((n) => `${n.level}:${n.index}`),
      );
    }
    let complete = 0;
    for (let level = 0; 2 ** level <= MAX; level++) {
      for (let index = 0; (index + 1) * 2 ** level <= MAX; index++) {
        expect(written.get(`${level}:${index}`), `node ${level}:${index}`).toBe(
          toHex(tree.node(level, index)),
        );
        complete++;
      }
    }
    expect(written.size).toBe(complete);
  });

  it('agrees with MerkleTree for random leaves', () => {
    fc.assert(
      fc.property(fc.array(hash32, { maxLength: 70 }), (leaves) => {
        const frontier = MerkleFrontier.empty();
        for (const l of leaves) frontier.append(l);
        expect(toHex(frontier.root())).toBe(toHex(new MerkleTree(leaves).root()));
      }),
      { numRuns: 50 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Huge trees

/**
 * The tree whose leaf i is leaf (i mod 2^PERIOD) of a small random-looking set: every node below
 * level PERIOD depends on its position modulo the period, every node at or above it is the same
 * for its level. A real Merkle tree (each node is the hash of its children), with 2^53 − 1 leaves
 * costing only a few dozen hashes.
 */
const PERIOD = 4;
const periodic: Uint8Array[][] = [
  Array.from({ length: 2 ** PERIOD }, (_, i) => hashLeaf(Uint8Array.of(i, 0xaa))),
];
for (let level = 1; level <= 53; level++) {
  const below = periodic[level - 1]!;
  const width = Math.max(1, below.length / 2);
  periodic.push(
    Array.from({ length: width }, (_, i) =>
      hashChildren(below[(2 * i) % below.length]!, below[(2 * i + 1) % below.length]!),
    ),
  );
}
const periodicSource: NodeSource = {
  hashes: (nodes) => nodes.map(({ level, index }) => periodic[level]![index % periodic[level]!.length]!),
};
const periodicRoot = (size: number): Uint8Array => prove(rootPlan(size), periodicSource)[0]!;
const bigSize = fc.oneof(
  fc.integer({ min: 1, max: MAX_TREE_SIZE }),
  fc.integer({ min: 2 ** 32 - 64, max: 2 ** 32 + 64 }),
  fc.integer({ min: MAX_TREE_SIZE - 1000, max: MAX_TREE_SIZE }),
);

describe('trees beyond 2^32 leaves (periodic tree)', () => {
  it('the periodic source is a real tree: small prefixes match MerkleTree', () => {
    const leaves = Array.from({ length: 100 }, (_, i) => periodic[0]![i % 2 ** PERIOD]!);
    const small = new MerkleTree(leaves);
    for (let size = 0; size <= 100; size++) expect(toHex(periodicRoot(size))).toBe(toHex(small.root(size)));
  });

  it('inclusion proofs verify and stay O(log n); a flipped bit or a neighbour index fails', () => {
    fc.assert(
      fc.property(
        bigSize.chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 }))),
        fc.nat(),
        ([size, index], bit) => {
          const plan = inclusionPlan(index, size);
          checkPlanNodes(plan.nodes, size);
          const proof = prove(plan, periodicSource);
          const leafHash = periodic[0]![index % 2 ** PERIOD]!;
          const root = periodicRoot(size);
          expect(isValidInclusionProof(leafHash, index, size, proof, root)).toBe(true);
          expect(isValidInclusionProof(leafHash, index, size, proof, flipBit(root, bit))).toBe(false);
          if (proof.length > 0) {
            const k = bit % proof.length;
            expect(
              isValidInclusionProof(leafHash, index, size, proof.with(k, flipBit(proof[k]!, bit)), root),
            ).toBe(false);
          }
          // Leaves repeat with period 16, so a neighbour index has a different leaf hash *and* path.
          if (index + 1 < size) {
            expect(isValidInclusionProof(leafHash, index + 1, size, proof, root)).toBe(false);
          }
        },
      ),
      RUNS,
    );
  });

  it('consistency proofs verify and stay O(log n)', () => {
    fc.assert(
      fc.property(
        bigSize.chain((size2) => fc.tuple(fc.integer({ min: 1, max: size2 }), fc.constant(size2))),
        fc.nat(),
        ([size1, size2], bit) => {
          const plan = consistencyPlan(size1, size2);
          checkPlanNodes(plan.nodes, size2);
          const proof = prove(plan, periodicSource);
          const [root1, root2] = [periodicRoot(size1), periodicRoot(size2)];
          expect(isValidConsistencyProof(size1, size2, proof, root1, root2)).toBe(true);
          expect(isValidConsistencyProof(size1, size2, proof, root1, flipBit(root2, bit))).toBe(false);
          if (proof.length > 0) {
            const k = bit % proof.length;
            expect(isValidConsistencyProof(size1, size2, proof.toSpliced(k, 1), root1, root2)).toBe(false);
          }
        },
      ),
      RUNS,
    );
  });

  it('the frontier appends exactly across 2^32 and near 2^53', () => {
    for (const start of [2 ** 32 - 5, MAX_TREE_SIZE - 9]) {
      const frontier = MerkleFrontier.fromNodes(start, periodicSource.hashes(rangeNodes(0, start)));
      for (let size = start + 1; size <= start + 8 && size <= MAX_TREE_SIZE; size++) {
        const writes = frontier.append(periodic[0]![(size - 1) % 2 ** PERIOD]!);
        expect(writes[0]).toMatchObject({ level: 0, index: size - 1 });
        expect(toHex(frontier.root())).toBe(toHex(periodicRoot(size)));
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Helpers: exact against BigInt

describe('integer bit helpers and rangeNodes on safe integers', () => {
  const safe = fc.oneof(fc.maxSafeNat(), fc.nat(), fc.integer({ min: 2 ** 32 - 3, max: 2 ** 32 + 3 }));

  it('bitLength, xorBitLength, popCount, trailingZeros, shiftRight, isOdd match BigInt', () => {
    fc.assert(
      fc.property(safe, safe, fc.integer({ min: 0, max: 53 }), (a, b, k) => {
        const A = BigInt(a);
        const B = BigInt(b);
        expect(bitLength(a)).toBe(A.toString(2).replace(/^0$/, '').length);
        expect(xorBitLength(a, b)).toBe((A ^ B).toString(2).replace(/^0$/, '').length);
        expect(popCount(a)).toBe(A.toString(2).replaceAll('0', '').length);
        if (a > 0) expect(trailingZeros(a)).toBe(A.toString(2).length - 1 - A.toString(2).lastIndexOf('1'));
        expect(shiftRight(a, k)).toBe(Number(A >> BigInt(k)));
        expect(isOdd(a)).toBe((A & 1n) === 1n);
      }),
      { numRuns: 1000 },
    );
  });

  it('rangeNodes covers [begin, end) exactly with aligned, maximal subtrees', () => {
    fc.assert(
      fc.property(safe, safe, (x, y) => {
        const [begin, end] = x <= y ? [x, y] : [y, x];
        const nodes = rangeNodes(begin, end);
        let cursor = BigInt(begin);
        for (const [i, { level, index }] of nodes.entries()) {
          expect(BigInt(index) << BigInt(level), 'contiguous and aligned').toBe(cursor);
          cursor += 1n << BigInt(level);
          const next = nodes[i + 1];
          // Two neighbours of one level that are siblings (left index even) would be one node.
          if (next?.level === level) expect(index % 2).toBe(1);
        }
        expect(cursor).toBe(BigInt(end));
        expect(nodes.length).toBeLessThanOrEqual(2 * bitLength(end - begin));
      }),
      { numRuns: 1000 },
    );
  });
});
