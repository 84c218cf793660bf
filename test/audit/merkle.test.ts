/**
 * Known-answer and edge-case tests for the audit ledger's Merkle tree math (src/audit/merkle).
 *
 * Vectors: `<vectors>/rfc6962-merkle/` (transparency-dev/merkle testonly/constants.go and testdata,
 * Apache-2.0), read in place, never copied. `tree.json` pins leaf hashes, every complete node and the
 * roots of sizes 0–8; every inclusion/consistency probe file must be accepted (`wantErr: false`) or
 * rejected with `FX_AUDIT_PROOF` (`wantErr: true`), with one documented exception (see below). The
 * symbolic examples of RFC 6962 §2.1.3 are checked against the planners too.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_ROOT,
  HASH_BYTES,
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
  verifyConsistency,
  verifyInclusion,
  type NodeId,
} from '../../src/audit/merkle/index.js';
import { AuditError } from '../../src/util/errors.js';
import { expectCode } from '../helpers/expect-code.js';
import { hex, toHex, vectorsDir } from '../helpers/vectors.js';

const DIR = path.join(vectorsDir(), 'rfc6962-merkle');

interface TreeVectors {
  readonly leafInputs: readonly string[];
  readonly nodeHashesByLevel: readonly (readonly string[])[];
  readonly rootHashesBySize: readonly string[];
}

const treeVectors = JSON.parse(readFileSync(path.join(DIR, 'tree.json'), 'utf8')) as TreeVectors;
const leafHashes = treeVectors.leafInputs.map((input) => hashLeaf(hex(input)));
const tree = new MerkleTree(leafHashes);

const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const hexAll = (hashes: readonly Uint8Array[]): string[] => hashes.map(toHex);

/** A proof from a plan, fetched from the in-memory tree. */
function prove(plan: ReturnType<typeof rootPlan>, source: MerkleTree = tree): Uint8Array[] {
  return plan.assemble(source.hashes(plan.nodes));
}

describe('hashes (RFC 6962 §2.1)', () => {
  it('EMPTY_ROOT is SHA-256 of the empty string', () => {
    expect(toHex(EMPTY_ROOT)).toBe(treeVectors.rootHashesBySize[0]);
    expect(HASH_BYTES).toBe(32);
  });

  it('hashLeaf gives the level-0 nodes of tree.json, hashChildren the level-1 nodes', () => {
    expect(hexAll(leafHashes)).toEqual(treeVectors.nodeHashesByLevel[0]);
    const level1 = [0, 2, 4, 6].map((i) => toHex(hashChildren(leafHashes[i]!, leafHashes[i + 1]!)));
    expect(level1).toEqual(treeVectors.nodeHashesByLevel[1]);
  });

  it('returns plain, fresh Uint8Arrays (not Buffers that alias on slice)', () => {
    const a = hashLeaf(new Uint8Array(3));
    const b = hashLeaf(new Uint8Array(3));
    expect(a).not.toBe(b);
    expect(Buffer.isBuffer(a)).toBe(false);
    expect(Buffer.isBuffer(hashChildren(a, b))).toBe(false);
  });

  it('hashes leaves of every size the same way, whether through the scratch buffer or streamed', () => {
    for (const size of [0, 1, 511, 512, 513, 4095, 16 * 1024 - 1, 16 * 1024, 100_000]) {
      const entry = new Uint8Array(size).map((_, i) => i * 7);
      expect(hashLeaf(entry)).toEqual(hashLeaf(Buffer.from(entry)));
      expect(toHex(hashLeaf(entry)), `entry of ${size} bytes`).toBe(
        sha256Hex(Buffer.concat([Buffer.from([0]), entry])),
      );
    }
  });

  it('refuses inputs that are not bytes or not 32-byte hashes', async () => {
    await expectCode(() => hashLeaf('x' as unknown as Uint8Array), 'FX_INVALID_ARGUMENT');
    await expectCode(() => hashChildren(new Uint8Array(31), new Uint8Array(32)), 'FX_INVALID_ARGUMENT');
    await expectCode(() => hashChildren(new Uint8Array(32), new Uint8Array(33)), 'FX_INVALID_ARGUMENT');
    await expectCode(
      () => hashChildren(new Uint8Array(32), [] as unknown as Uint8Array),
      'FX_INVALID_ARGUMENT',
    );
  });
});

describe('tree.json: nodes and roots', () => {
  it('MerkleTree holds every complete node of tree.json', () => {
    treeVectors.nodeHashesByLevel.forEach((level, L) => {
      level.forEach((expected, i) => {
        expect(toHex(tree.node(L, i)), `node (${L}, ${i})`).toBe(expected);
      });
    });
    expect(tree.size).toBe(8);
  });

  it('MerkleTree has no incomplete nodes', async () => {
    const small = new MerkleTree(leafHashes.slice(0, 7));
    await expectCode(() => small.node(3, 0), 'FX_INVALID_ARGUMENT');
    await expectCode(() => small.node(0, 7), 'FX_INVALID_ARGUMENT');
    await expectCode(() => small.node(1, 3), 'FX_INVALID_ARGUMENT');
    await expectCode(() => small.node(-1, 0), 'FX_INVALID_ARGUMENT');
    await expectCode(() => small.root(8), 'FX_INVALID_ARGUMENT');
    await expectCode(() => new MerkleTree([new Uint8Array(31)]), 'FX_INVALID_ARGUMENT');
  });

  it('every root for sizes 0–8, by frontier appends, fromNodes, MerkleTree and rootPlan', () => {
    const frontier = MerkleFrontier.empty();
    for (let size = 0; size <= 8; size++) {
      const expected = treeVectors.rootHashesBySize[size];
      if (size > 0) frontier.append(leafHashes[size - 1]!);
      expect(frontier.size).toBe(size);
      expect(toHex(frontier.root()), `frontier root ${size}`).toBe(expected);
      const restored = MerkleFrontier.fromNodes(size, tree.hashes(rangeNodes(0, size)));
      expect(toHex(restored.root()), `fromNodes root ${size}`).toBe(expected);
      expect(toHex(tree.root(size)), `tree root ${size}`).toBe(expected);
      expect(hexAll(prove(rootPlan(size))), `rootPlan ${size}`).toEqual([expected]);
      expect(new MerkleTree(leafHashes.slice(0, size)).root()).toEqual(tree.root(size));
    }
  });

  it('the empty root is returned as a copy', () => {
    const root = MerkleFrontier.empty().root();
    root.fill(0);
    expect(toHex(MerkleFrontier.empty().root())).toBe(treeVectors.rootHashesBySize[0]);
    expect(toHex(EMPTY_ROOT)).toBe(treeVectors.rootHashesBySize[0]);
  });
});

describe('RFC 6962 §2.1.3 examples (the tree of seven leaves d0…d6)', () => {
  // The figure's names: a…f, j are leaves 0…5 and 6; g, h, i the level-1 nodes; k the level-2
  // node; l = MTH(D[4:7]) is incomplete, folded from i and j.
  const t = new MerkleTree(leafHashes.slice(0, 7));
  const n = (level: number, index: number): string => toHex(t.node(level, index));
  const [, b, c, d, , f, j] = [0, 1, 2, 3, 4, 5, 6].map((i) => n(0, i));
  const [g, h, i] = [0, 1, 2].map((x) => n(1, x));
  const k = n(2, 0);
  const l = toHex(hashChildren(t.node(1, 2), t.node(0, 6)));
  const cases: [string, () => ReturnType<typeof rootPlan>, string[]][] = [
    ['PATH(0) = [b, h, l]', () => inclusionPlan(0, 7), [b!, h!, l]],
    ['PATH(3) = [c, g, l]', () => inclusionPlan(3, 7), [c!, g!, l]],
    ['PATH(4) = [f, j, k]', () => inclusionPlan(4, 7), [f!, j!, k]],
    ['PATH(6) = [i, k]', () => inclusionPlan(6, 7), [i!, k]],
    ['PROOF(3) = [c, d, g, l]', () => consistencyPlan(3, 7), [c!, d!, g!, l]],
    ['PROOF(4) = [l]', () => consistencyPlan(4, 7), [l]],
    ['PROOF(6) = [i, j, k]', () => consistencyPlan(6, 7), [i!, j!, k]],
  ];
  it.each(cases)('%s', (_name, plan, expected) => {
    expect(hexAll(prove(plan(), t))).toEqual(expected);
  });

  it('plans name exactly the complete nodes, folding only the incomplete one', () => {
    const ids = (nodes: readonly NodeId[]): string[] => nodes.map((x) => `${x.level}:${x.index}`);
    expect(ids(inclusionPlan(0, 7).nodes)).toEqual(['0:1', '1:1', '1:2', '0:6']);
    expect(ids(consistencyPlan(6, 7).nodes)).toEqual(['1:2', '0:6', '2:0']);
    expect(ids(rootPlan(7).nodes)).toEqual(['2:0', '1:2', '0:6']);
    expect(rootPlan(0).nodes).toEqual([]);
    expect(hexAll(rootPlan(0).assemble([]))).toEqual([toHex(EMPTY_ROOT)]);
    expect(Object.isFrozen(inclusionPlan(0, 7).nodes)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// transparency-dev/merkle probe files

interface InclusionProbe {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyProbe {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

function probes<T>(kind: string): [string, T][] {
  const root = path.join(DIR, kind);
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.json'))
    .sort();
  return files.map((file) => [file, JSON.parse(readFileSync(path.join(root, file), 'utf8')) as T]);
}

const inclusionProbes = probes<InclusionProbe>('inclusion');
const consistencyProbes = probes<ConsistencyProbe>('consistency');

/**
 * Equal sizes, empty proof, two equal 12-byte "roots" ("don't care 2"): like transparency-dev/merkle,
 * Fortress compares the roots as given for equal sizes, so this happy path passes too.
 */
const SHORT_EQUAL_ROOTS = path.join('additional', 'sizes-are-equal-one-and-proof-is-empty.json');

describe('transparency-dev/merkle inclusion probes', () => {
  it('finds every probe file, including the subfolders', () => {
    expect(inclusionProbes.length).toBe(98);
    expect(inclusionProbes.filter(([, p]) => !p.wantErr).length).toBe(6);
    expect(inclusionProbes.some(([file]) => file.startsWith(`single-entry${path.sep}`))).toBe(true);
    expect(inclusionProbes.some(([file]) => file.startsWith(`additional${path.sep}3${path.sep}`))).toBe(true);
  });

  it('indices beyond 2^53 − 1 arrive rounded by JSON.parse, and are refused rather than used', () => {
    const unsafe = inclusionProbes.filter(([, p]) => !Number.isSafeInteger(p.leafIdx));
    expect(unsafe.length).toBeGreaterThan(0);
    for (const [file, p] of unsafe) {
      expect(p.wantErr, file).toBe(true);
      expect(() => {
        verifyInclusion(b64(p.leafHash), p.leafIdx, p.treeSize, (p.proof ?? []).map(b64), b64(p.root));
      }).toThrow(/not an integer from 0 to 2\^53/);
    }
  });

  it.each(inclusionProbes)('%s', async (file, p) => {
    const call = (): void => {
      verifyInclusion(b64(p.leafHash), p.leafIdx, p.treeSize, (p.proof ?? []).map(b64), b64(p.root));
    };
    if (p.wantErr) {
      const error = await expectCode(call, 'FX_AUDIT_PROOF');
      expect(error).toBeInstanceOf(AuditError);
      return;
    }
    call();
    expect(
      isValidInclusionProof(b64(p.leafHash), p.leafIdx, p.treeSize, (p.proof ?? []).map(b64), b64(p.root)),
      file,
    ).toBe(true);
  });

  it('regenerates every happy-path proof over tree.json with inclusionPlan', () => {
    let regenerated = 0;
    for (const [file, p] of inclusionProbes) {
      if (p.wantErr || p.treeSize > tree.size) continue;
      if (toHex(tree.root(p.treeSize)) !== toHex(b64(p.root))) continue; // a probe over other leaves
      expect(toHex(tree.node(0, p.leafIdx)), file).toBe(toHex(b64(p.leafHash)));
      expect(hexAll(prove(inclusionPlan(p.leafIdx, p.treeSize))), file).toEqual(
        hexAll((p.proof ?? []).map(b64)),
      );
      regenerated++;
    }
    expect(regenerated).toBe(5);
  });
});

describe('transparency-dev/merkle consistency probes', () => {
  it('finds every probe file, including the subfolders', () => {
    expect(consistencyProbes.length).toBe(98);
    expect(consistencyProbes.filter(([, p]) => !p.wantErr).length).toBe(6);
    expect(consistencyProbes.some(([file]) => file === SHORT_EQUAL_ROOTS)).toBe(true);
  });

  it.each(consistencyProbes)('%s', async (file, p) => {
    const call = (): void => {
      verifyConsistency(p.size1, p.size2, (p.proof ?? []).map(b64), b64(p.root1), b64(p.root2));
    };
    if (p.wantErr) {
      await expectCode(call, 'FX_AUDIT_PROOF');
      return;
    }
    call();
    expect(
      isValidConsistencyProof(p.size1, p.size2, (p.proof ?? []).map(b64), b64(p.root1), b64(p.root2)),
      file,
    ).toBe(true);
  });

  it('accepts the short-root probe once its roots are real 32-byte hashes', () => {
    const root = tree.root(1);
    verifyConsistency(1, 1, [], root, tree.root(1));
    expect(isValidConsistencyProof(1, 1, [], root, tree.root(2))).toBe(false);
  });

  it('regenerates every happy-path proof over tree.json with consistencyPlan', () => {
    let regenerated = 0;
    for (const [file, p] of consistencyProbes) {
      if (p.wantErr || p.size2 > tree.size) continue;
      if (toHex(tree.root(p.size2)) !== toHex(b64(p.root2))) continue;
      expect(toHex(tree.root(p.size1)), file).toBe(toHex(b64(p.root1)));
      expect(hexAll(prove(consistencyPlan(p.size1, p.size2))), file).toEqual(
        hexAll((p.proof ?? []).map(b64)),
      );
      regenerated++;
    }
    expect(regenerated).toBe(5);
  });
});

// ---------------------------------------------------------------------------------------------

describe('rangeNodes', () => {
  const ids = (nodes: readonly NodeId[]): string[] => nodes.map((x) => `${x.level}:${x.index}`);

  it('covers intervals with maximal complete subtrees, left to right', () => {
    expect(ids(rangeNodes(0, 0))).toEqual([]);
    expect(ids(rangeNodes(5, 5))).toEqual([]);
    expect(ids(rangeNodes(0, 1))).toEqual(['0:0']);
    expect(ids(rangeNodes(0, 4))).toEqual(['2:0']);
    expect(ids(rangeNodes(0, 7))).toEqual(['2:0', '1:2', '0:6']);
    expect(ids(rangeNodes(3, 8))).toEqual(['0:3', '2:1']);
    expect(ids(rangeNodes(1, 15))).toEqual(['0:1', '1:1', '2:1', '2:2', '1:6', '0:14']);
  });

  it('handles sizes above 2^32 exactly, up to 2^53 − 1', () => {
    const top = rangeNodes(0, MAX_TREE_SIZE);
    expect(top.length).toBe(53);
    expect(top[0]).toEqual({ level: 52, index: 0 });
    expect(top[52]).toEqual({ level: 0, index: MAX_TREE_SIZE - 1 });
    expect(rangeNodes(2 ** 40 + 1, 2 ** 41)).toHaveLength(40);
    expect(rangeNodes(2 ** 33, 2 ** 34)).toEqual([{ level: 33, index: 1 }]);
  });

  it('refuses negative, fractional, unsafe and reversed bounds', async () => {
    for (const [begin, end] of [
      [-1, 3],
      [0, 1.5],
      [0, 2 ** 53],
      [0, Number.NaN],
      [0, Infinity],
      [4, 3],
    ] as const) {
      await expectCode(() => rangeNodes(begin, end), 'FX_INVALID_ARGUMENT');
    }
    await expectCode(() => rangeNodes('0' as unknown as number, 3), 'FX_INVALID_ARGUMENT');
  });
});

describe('MerkleFrontier', () => {
  it('append returns the leaf and every parent it completes', () => {
    const frontier = MerkleFrontier.empty();
    const shape: string[][] = [];
    for (const leaf of leafHashes) {
      shape.push(frontier.append(leaf).map((w) => `${w.level}:${w.index}`));
    }
    expect(shape).toEqual([
      ['0:0'],
      ['0:1', '1:0'],
      ['0:2'],
      ['0:3', '1:1', '2:0'],
      ['0:4'],
      ['0:5', '1:2'],
      ['0:6'],
      ['0:7', '1:3', '2:1', '3:0'],
    ]);
    expect(frontier.nodes().map((w) => [w.level, w.index, toHex(w.hash)])).toEqual([
      [3, 0, treeVectors.nodeHashesByLevel[3]![0]],
    ]);
  });

  it('keeps private copies: mutating inputs or outputs does not change the tree', () => {
    const frontier = MerkleFrontier.empty();
    const buffer = new Uint8Array(leafHashes[0]!);
    const writes = frontier.append(buffer);
    buffer.fill(1);
    writes[0]!.hash.fill(2);
    frontier.root().fill(3);
    frontier.nodes()[0]!.hash.fill(4);
    frontier.append(leafHashes[1]!);
    expect(toHex(frontier.root())).toBe(treeVectors.rootHashesBySize[2]);
  });

  it('clone is independent', () => {
    const frontier = MerkleFrontier.empty();
    frontier.append(leafHashes[0]!);
    const copy = frontier.clone();
    copy.append(leafHashes[1]!);
    expect(frontier.size).toBe(1);
    expect(toHex(frontier.root())).toBe(treeVectors.rootHashesBySize[1]);
    expect(toHex(copy.root())).toBe(treeVectors.rootHashesBySize[2]);
  });

  it('fromNodes validates the count and the hashes', async () => {
    await expectCode(() => MerkleFrontier.fromNodes(3, [leafHashes[0]!]), 'FX_INVALID_ARGUMENT');
    await expectCode(() => MerkleFrontier.fromNodes(1, []), 'FX_INVALID_ARGUMENT');
    await expectCode(() => MerkleFrontier.fromNodes(0, [leafHashes[0]!]), 'FX_INVALID_ARGUMENT');
    await expectCode(() => MerkleFrontier.fromNodes(1, [new Uint8Array(31)]), 'FX_INVALID_ARGUMENT');
    await expectCode(() => MerkleFrontier.fromNodes(-1, []), 'FX_INVALID_ARGUMENT');
    await expectCode(() => MerkleFrontier.fromNodes(2 ** 53, []), 'FX_INVALID_ARGUMENT');
    await expectCode(
      () => MerkleFrontier.fromNodes(1, 'x' as unknown as Uint8Array[]),
      'FX_INVALID_ARGUMENT',
    );
    await expectCode(() => MerkleFrontier.empty().append(new Uint8Array(33)), 'FX_INVALID_ARGUMENT');
  });

  it('refuses to grow past 2^53 − 1 leaves', async () => {
    const full = MerkleFrontier.fromNodes(
      MAX_TREE_SIZE,
      Array.from({ length: 53 }, () => leafHashes[0]!),
    );
    await expectCode(() => full.append(leafHashes[1]!), 'FX_AUDIT_UNAVAILABLE');
    expect(full.size).toBe(MAX_TREE_SIZE);
    expect(full.nodes()).toHaveLength(53);
  });
});

// ---------------------------------------------------------------------------------------------

describe('planner arguments (FX_INVALID_ARGUMENT)', () => {
  it('refuses proofs that cannot exist', async () => {
    await expectCode(() => inclusionPlan(5, 5), 'FX_INVALID_ARGUMENT');
    await expectCode(() => inclusionPlan(0, 0), 'FX_INVALID_ARGUMENT');
    await expectCode(() => inclusionPlan(-1, 5), 'FX_INVALID_ARGUMENT');
    await expectCode(() => inclusionPlan(1.5, 5), 'FX_INVALID_ARGUMENT');
    await expectCode(() => inclusionPlan(0, 2 ** 53), 'FX_INVALID_ARGUMENT');
    await expectCode(() => consistencyPlan(0, 5), 'FX_INVALID_ARGUMENT');
    await expectCode(() => consistencyPlan(0, 0), 'FX_INVALID_ARGUMENT');
    await expectCode(() => consistencyPlan(6, 5), 'FX_INVALID_ARGUMENT');
    await expectCode(() => consistencyPlan(1, Number.NaN), 'FX_INVALID_ARGUMENT');
    await expectCode(() => rootPlan(-1), 'FX_INVALID_ARGUMENT');
  });

  it('equal sizes give the empty consistency proof', () => {
    const plan = consistencyPlan(5, 5);
    expect(plan.nodes).toEqual([]);
    expect(plan.assemble([])).toEqual([]);
  });

  it('assemble refuses the wrong number or shape of hashes', async () => {
    const plan = inclusionPlan(3, 8);
    const hashes = tree.hashes(plan.nodes);
    await expectCode(() => plan.assemble(hashes.slice(1)), 'FX_INVALID_ARGUMENT');
    await expectCode(() => plan.assemble([...hashes, hashes[0]!]), 'FX_INVALID_ARGUMENT');
    await expectCode(() => plan.assemble([new Uint8Array(31), ...hashes.slice(1)]), 'FX_INVALID_ARGUMENT');
    await expectCode(() => plan.assemble(null as unknown as Uint8Array[]), 'FX_INVALID_ARGUMENT');
  });
});

describe('verifier arguments', () => {
  const root = tree.root(8);
  const proof = prove(inclusionPlan(2, 8));
  const leaf = leafHashes[2]!;
  // Thunks for expectCode: the verifiers return nothing and throw on failure.
  const inclusion =
    (...args: Parameters<typeof verifyInclusion>) =>
    (): void => {
      verifyInclusion(...args);
    };
  const consistency =
    (...args: Parameters<typeof verifyConsistency>) =>
    (): void => {
      verifyConsistency(...args);
    };

  it('accepts the right proof and says why a wrong one fails', async () => {
    verifyInclusion(leaf, 2, 8, proof, root);
    const cases: [() => void, RegExp][] = [
      [inclusion(leaf, 8, 8, proof, root), /leaf index 8 is not below the tree size 8/],
      [inclusion(leaf, 2 ** 53, 2 ** 53, proof, root), /not an integer from 0 to 2\^53/],
      [inclusion(leaf, -1, 8, proof, root), /not an integer/],
      [inclusion(leaf, 2, 8, proof.slice(1), root), /wrong proof length: expected 3 hashes, got 2/],
      [inclusion(leaf, 2, 8, [...proof, root], root), /wrong proof length/],
      [inclusion(leaf, 2, 8, [new Uint8Array(31), ...proof.slice(1)], root), /proof element 0 is 31 bytes/],
      [inclusion(leaf.subarray(1), 2, 8, proof, root), /the leaf hash is 31 bytes/],
      [inclusion(leaf, 2, 8, proof, new Uint8Array(0)), /the root is 0 bytes/],
      [inclusion(leafHashes[3]!, 2, 8, proof, root), /root mismatch/],
      [inclusion(leaf, 3, 8, proof, root), /root mismatch/],
    ];
    for (const [call, message] of cases) {
      const error = await expectCode(call, 'FX_AUDIT_PROOF');
      expect(error.message).toMatch(message);
    }
  });

  it('consistency: says why a wrong proof fails', async () => {
    const r3 = tree.root(3);
    const p = prove(consistencyPlan(3, 8));
    verifyConsistency(3, 8, p, r3, root);
    expect(toHex(rootFromConsistencyProof(3, 8, p, r3))).toBe(toHex(root));
    const cases: [() => void, RegExp][] = [
      [consistency(0, 8, p, r3, root), /no consistency proof from the empty tree/],
      [consistency(9, 8, p, r3, root), /size1 9 is greater than size2 8/],
      [consistency(8, 8, [root], root, root), /sizes are equal \(8\) but the proof is not empty/],
      [consistency(8, 8, [], root, r3), /two different roots for the same size 8/],
      [consistency(3, 8, p.slice(1), r3, root), /wrong proof length/],
      [consistency(3, 8, p, root, root), /does not lead back to the root of size 3/],
      [consistency(3, 8, p, r3, r3), /does not lead to the root of size 8/],
      [consistency(3, 8, p, r3.subarray(0, 16), root), /root1 is 16 bytes/],
      [consistency(3, 8, p, r3, new Uint8Array(33)), /root2 is 33 bytes/],
      [consistency(3, 2 ** 64, p, r3, root), /size2 18446744073709552000 is not an integer/],
    ];
    for (const [call, message] of cases) {
      const error = await expectCode(call, 'FX_AUDIT_PROOF');
      expect(error.message).toMatch(message);
    }
  });

  it('arguments of the wrong JS type are programming errors (FX_INVALID_ARGUMENT), also for the boolean forms', async () => {
    // `as never` stands for an untyped caller passing the wrong kind of value.
    await expectCode(inclusion('leaf' as never, 2, 8, proof, root), 'FX_INVALID_ARGUMENT');
    await expectCode(inclusion(leaf, '2' as never, 8, proof, root), 'FX_INVALID_ARGUMENT');
    await expectCode(inclusion(leaf, 2, 8, null as never, root), 'FX_INVALID_ARGUMENT');
    await expectCode(inclusion(leaf, 2, 8, [1, 2, 3] as never, root), 'FX_INVALID_ARGUMENT');
    await expectCode(consistency(3n as never, 8, [], root, root), 'FX_INVALID_ARGUMENT');
    await expectCode(
      () => isValidInclusionProof(leaf, 2, 8, proof, undefined as never),
      'FX_INVALID_ARGUMENT',
    );
    await expectCode(() => isValidConsistencyProof(3, 8, {} as never, root, root), 'FX_INVALID_ARGUMENT');
    expect(isValidInclusionProof(leaf, 9, 8, proof, root)).toBe(false);
  });

  it('rootFromInclusionProof returns a fresh array, even for the one-leaf tree', () => {
    const computed = rootFromInclusionProof(leaf, 0, 1, []);
    expect(computed).toEqual(leaf);
    expect(computed).not.toBe(leaf);
    expect(toHex(rootFromInclusionProof(leaf, 2, 8, proof))).toBe(toHex(root));
  });
});
