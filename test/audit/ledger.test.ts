/**
 * The audit ledger (src/audit/ledger/audit-ledger.ts) on real SQLite files: group-committed
 * appends, appends inside a caller's transaction that rolls back, restart from a tree stored only
 * up to an earlier size, signed checkpoints (and the refusal to sign over an altered tree),
 * inclusion / consistency / tlog-proof evidence checked with the independent verifiers of
 * src/audit/merkle and src/audit/note, archiving to segment files, searches, and every bad input.
 *
 * The reference for the tree is `MerkleTree` over the leaf hashes of the entries as stored: the
 * ledger's incremental frontier, stored nodes and proofs must all agree with it.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeAuditEntry,
  encodeAuditEntry,
  principalText,
  resourcePath,
  type AuditDetail,
  type AuditEntry,
  type AuditRecord,
} from '../../src/audit/entry/audit-entry.js';
import {
  AuditLedger,
  type AuditLedgerOptions,
  type AuditQuery,
  type StoredCheckpoint,
} from '../../src/audit/ledger/audit-ledger.js';
import {
  MerkleTree,
  consistencyPlan,
  hashLeaf,
  inclusionPlan,
  rootPlan,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle/index.js';
import {
  ed25519NoteSigner,
  openCheckpoint,
  openTlogProof,
  type StandardNoteSigner,
} from '../../src/audit/note/index.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { FortressError } from '../../src/util/errors.js';
import { createSigner } from '../../src/crypto/signature/signature.js';
import type { StorageDriver } from '../../src/storage/dialect.js';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { expectCode } from '../helpers/expect-code.js';
import { toHex } from '../helpers/vectors.js';

// ── fixtures ──────────────────────────────────────────────────────────────────────────────────

const ORIGIN = 'ledger.test.example/audit';
const SIGNER: StandardNoteSigner = ed25519NoteSigner(ORIGIN, createSigner('ed25519', SecretKey.generate(32)));
const VERIFIER = SIGNER.verifier();
/** 2025-01-01T00:00:00.000Z: entries get deterministic times from a test clock. */
const T0 = Date.UTC(2025, 0, 1);
const REQUEST = `sha256:${'ab'.repeat(32)}`;
const digestOf = (n: number): string => `hmac-sha256:${n.toString(16).padStart(64, '0')}`;

function record(i: number, overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    principal: { type: 'user', id: `u${i % 3}`, tenant: 'acme' },
    action: 'table.get',
    resource: { type: 'table', tenant: 'acme', database: 'main', table: 'people' },
    decision: { effect: 'allow', policies: ['builtin:test'] },
    outcome: { status: 'ok' },
    requestId: `req-${i}`,
    client: null,
    request: REQUEST,
    ...overrides,
  };
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-ledger-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Opened {
  readonly ledger: AuditLedger;
  readonly driver: StorageDriver;
  readonly file: string;
  /** The test clock (ms): entries appended now get this time. */
  clock: number;
}

async function openDriver(file: string): Promise<StorageDriver> {
  const driver = await new SqliteDialect({ path: file }).createDriver();
  cleanups.push(() => driver.close());
  return driver;
}

/** Opens a ledger on `file` (a fresh file in a temp dir by default). */
async function openLedger(
  options: Partial<Omit<AuditLedgerOptions, 'driver'>> = {},
  file?: string,
): Promise<Opened> {
  const at = file ?? path.join(await tempDir(), 'ledger.db');
  const driver = await openDriver(at);
  const opened: Opened = { ledger: undefined as unknown as AuditLedger, driver, file: at, clock: T0 };
  const ledger = await AuditLedger.open({
    driver,
    origin: ORIGIN,
    signers: () => [SIGNER],
    checkpointIntervalMs: 0,
    now: () => opened.clock,
    ...options,
  });
  (opened as { ledger: AuditLedger }).ledger = ledger;
  // Runs before the driver's cleanup (cleanups run in reverse); a ledger whose driver was closed
  // under it (a simulated crash) cannot close cleanly, which is expected.
  cleanups.push(() => ledger.close().catch(() => undefined));
  return opened;
}

async function appendAll(ledger: AuditLedger, records: readonly AuditRecord[]): Promise<number[]> {
  return Promise.all(records.map((r) => ledger.append(r)));
}

/** The stored entries' bytes in seq order (asserting seqs are 0‥n−1 with no gap). */
async function storedEntries(driver: StorageDriver, from = 0): Promise<Uint8Array[]> {
  const rows = await driver.all<{ seq: number; entry: Uint8Array }>(
    'SELECT seq, entry FROM fx_audit_entries ORDER BY seq',
  );
  rows.forEach((row, i) => {
    expect(row.seq).toBe(from + i);
  });
  return rows.map((row) => new Uint8Array(row.entry));
}

async function rowCount(driver: StorageDriver, table: string): Promise<number> {
  return (await driver.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))!.n;
}

/** Checkpoints now and checks its root against the reference tree of every stored entry. */
async function expectTreeMatchesEntries(opened: Opened): Promise<StoredCheckpoint> {
  const checkpoint = await opened.ledger.checkpoint();
  const entries = await storedEntries(opened.driver);
  const tree = new MerkleTree(entries.map(hashLeaf));
  expect(checkpoint.size).toBe(entries.length);
  expect(opened.ledger.size).toBe(entries.length);
  expect(toHex(checkpoint.rootHash)).toBe(toHex(tree.root()));
  return checkpoint;
}

// ── append ────────────────────────────────────────────────────────────────────────────────────

describe('append', () => {
  it('returns consecutive seqs, one call after another', async () => {
    const { ledger } = await openLedger();
    for (let i = 0; i < 5; i++) expect(await ledger.append(record(i))).toBe(i);
    expect(ledger.size).toBe(5);
  });

  it.each([
    { maxBatch: undefined, label: 'one batch' },
    { maxBatch: 7, label: 'batches of 7' },
  ])(
    '500 concurrent appends ($label) get distinct consecutive seqs, in call order, and all are stored',
    async ({ maxBatch }) => {
      const opened = await openLedger(maxBatch === undefined ? {} : { maxBatch });
      const { ledger, driver } = opened;
      const records = Array.from({ length: 500 }, (_, i) => record(i, { details: { n: i } }));
      const seqs = await appendAll(ledger, records);
      expect(seqs).toEqual(records.map((_, i) => i));
      expect(ledger.size).toBe(500);
      expect(await rowCount(driver, 'fx_audit_entries')).toBe(500);

      const time = new Date(T0).toISOString();
      const stored = await storedEntries(driver);
      const listed: AuditEntry[] = [];
      for await (const entry of ledger.entries()) listed.push(entry);
      expect(listed).toHaveLength(500);
      for (let seq = 0; seq < 500; seq++) {
        const expected = { ...records[seq]!, v: 1, seq, time };
        // The stored bytes are exactly the canonical encoding, and parse back strictly.
        expect(toHex(stored[seq]!)).toBe(toHex(encodeAuditEntry(records[seq]!, seq, time)));
        expect(decodeAuditEntry(stored[seq]!)).toEqual(expected);
        expect(await ledger.entry(seq)).toEqual(expected);
        expect(listed[seq]).toEqual(expected);
      }
      await expectTreeMatchesEntries(opened);
    },
  );

  it.each([
    { groupCommit: 'microtask' as const, commits: 8 },
    { groupCommit: 'turn' as const, commits: 1 },
  ])(
    'appends from 8 callbacks of one event-loop turn: $commits commit(s) with groupCommit $groupCommit',
    async ({ groupCommit, commits }) => {
      const { ledger, driver } = await openLedger({ groupCommit });
      let transactions = 0;
      const isolated = driver.isolatedTransaction.bind(driver);
      driver.isolatedTransaction = (fn) => {
        transactions++;
        return isolated(fn);
      };
      // Eight immediates run in the same check phase, like a server's requests that arrived
      // together on different connections: each appends from a callback of its own.
      const seqs = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) =>
            new Promise<number>((resolve, reject) => {
              setImmediate(() => {
                ledger.append(record(i)).then(resolve, reject);
              });
            }),
        ),
      );
      expect(seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(transactions).toBe(commits);
      expect(await rowCount(driver, 'fx_audit_entries')).toBe(8);
    },
  );

  it('stores the searchable columns as copies of the entry', async () => {
    const { ledger, driver } = await openLedger();
    const r = record(1, {
      principal: { type: 'service', id: 'etl', tenant: 'other' },
      action: 'key.rotate',
      resource: { type: 'key', tenant: 'other', key: 'fortress/k' },
      decision: { effect: 'deny', policies: [] },
      outcome: { status: 'error', code: 'FX_KEY_STATE' },
    });
    await ledger.append(r);
    const row = await driver.get<Record<string, unknown>>(
      'SELECT time, principal, action, resource, decision, outcome FROM fx_audit_entries WHERE seq = 0',
    );
    expect(row).toEqual({
      time: T0,
      principal: principalText(r.principal),
      action: 'key.rotate',
      resource: resourcePath(r.resource),
      decision: 'deny',
      outcome: 'error',
    });
    expect(resourcePath(r.resource)).toBe('key:fortress/k');
  });

  it('fails closed with FX_AUDIT_UNAVAILABLE when storage refuses, for every caller of the batch', async () => {
    const { ledger, driver } = await openLedger();
    await ledger.append(record(0));
    await driver.close();
    const results = await Promise.allSettled([ledger.append(record(1)), ledger.append(record(2))]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const error = (result as PromiseRejectedResult).reason as { code?: string };
      expect(error.code).toBe('FX_AUDIT_UNAVAILABLE');
    }
  });
  it(
    'never acknowledges an entry that a rollback then erases: append() called inside a transaction body',
    {
      timeout: 10_000,
    },
    async () => {
      // append() promises durability. Called from code that happens to run inside a transaction
      // (a helper handed the driver, an audited key operation), it must either refuse or commit on
      // its own — not join the caller's transaction and vanish with its rollback.
      const { ledger, driver } = await openLedger();
      let seq: number | undefined;
      let refused: unknown;
      const boom = new Error('the caller rolls back');
      await expect(
        driver.transaction(async () => {
          try {
            seq = await ledger.append(record(7));
          } catch (error) {
            refused = error;
          }
          throw boom;
        }),
      ).rejects.toBe(boom);
      if (seq === undefined) {
        expect((refused as { code?: string }).code).toMatch(/^FX_/);
      } else {
        expect((await ledger.entry(seq)).requestId).toBe('req-7');
      }
    },
  );
});

// ── appendWithin ──────────────────────────────────────────────────────────────────────────────

describe('appendWithin', () => {
  it('commits with the caller’s transaction', async () => {
    const opened = await openLedger();
    const { ledger, driver } = opened;
    await appendAll(ledger, [record(0), record(1)]);
    const first = await driver.transaction((tx) =>
      ledger.appendWithin(tx, [record(2), record(3), record(4)]),
    );
    expect(first).toBe(2);
    expect(ledger.size).toBe(5);
    expect((await ledger.entry(4)).requestId).toBe('req-4');
    await expectTreeMatchesEntries(opened);
  });

  it.each([
    { treeFlushEntries: undefined, label: 'tree not stored in the transaction' },
    { treeFlushEntries: 2, label: 'tree nodes stored inside the rolled-back transaction' },
  ])(
    'a transaction that throws takes its entries with it; the next append reuses the seq ($label)',
    async ({ treeFlushEntries }) => {
      const opened = await openLedger(treeFlushEntries === undefined ? {} : { treeFlushEntries });
      const { ledger, driver } = opened;
      await appendAll(ledger, [record(0), record(1), record(2), record(3), record(4)]);
      const nodesBefore = await rowCount(driver, 'fx_audit_nodes');
      const boom = new Error('the data write failed');
      await expect(
        driver.transaction(async (tx) => {
          expect(await ledger.appendWithin(tx, [record(50), record(51), record(52)])).toBe(5);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await rowCount(driver, 'fx_audit_entries')).toBe(5);
      expect(await rowCount(driver, 'fx_audit_nodes')).toBe(nodesBefore);
      await expectCode(ledger.entry(5), 'FX_AUDIT_NOT_FOUND');

      expect(await ledger.append(record(5))).toBe(5);
      expect((await ledger.entry(5)).requestId).toBe('req-5');
      const checkpoint = await expectTreeMatchesEntries(opened);
      expect(checkpoint.size).toBe(6);
      expect((await ledger.verify()).ok).toBe(true);

      // A second rollback straight after a checkpoint, then appendWithin that commits.
      await expect(
        driver.transaction(async (tx) => {
          await ledger.appendWithin(tx, [record(60)]);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await driver.transaction((tx) => ledger.appendWithin(tx, [record(6), record(7)]))).toBe(6);
      await expectTreeMatchesEntries(opened);
      const report = await ledger.verify();
      expect(report.problem).toBeNull();
      expect(report.ok).toBe(true);
    },
  );

  it('asking for a rolled-back entry → FX_AUDIT_NOT_FOUND (not an argument error)', async () => {
    const { ledger, driver } = await openLedger();
    await appendAll(ledger, [record(0), record(1)]);
    await expect(
      driver.transaction(async (tx) => {
        await ledger.appendWithin(tx, [record(2), record(3)]);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    await expectCode(ledger.proveInclusion(3), 'FX_AUDIT_NOT_FOUND');
    await expectCode(ledger.tlogProof(2), 'FX_AUDIT_NOT_FOUND');
    await expectCode(ledger.entry(2), 'FX_AUDIT_NOT_FOUND');
  });

  it('a rolled-back savepoint inside a committed transaction: only its entries vanish', async () => {
    const opened = await openLedger({ treeFlushEntries: 3 });
    const { ledger, driver } = opened;
    await appendAll(ledger, [record(0), record(1)]);
    await driver.transaction(async (tx) => {
      expect(await ledger.appendWithin(tx, [record(2)])).toBe(2);
      await expect(
        tx.transaction(async (inner) => {
          await ledger.appendWithin(inner, [record(90), record(91), record(92)]);
          throw new Error('inner');
        }),
      ).rejects.toThrow('inner');
      expect(await ledger.appendWithin(tx, [record(3)])).toBe(3);
    });
    expect((await storedEntries(driver)).map((e) => decodeAuditEntry(e).requestId)).toEqual([
      'req-0',
      'req-1',
      'req-2',
      'req-3',
    ]);
    await expectTreeMatchesEntries(opened);
    expect((await ledger.verify()).ok).toBe(true);
  });
});

// ── restart ───────────────────────────────────────────────────────────────────────────────────

describe('restart', () => {
  it('recovers size, root and proofs when the tree was stored only up to an earlier size', async () => {
    const first = await openLedger({ treeFlushEntries: 7 });
    for (let i = 0; i < 40; i++) await first.ledger.append(record(i));
    const early = await first.ledger.checkpoint();
    expect(early.size).toBe(40);
    for (let i = 40; i < 100; i++) await first.ledger.append(record(i));
    // Nodes are stored every 7 entries past the last store (…, 35, the checkpoint's 40, 47, …, 96):
    // the last 4 entries are in the log but not in the stored tree.
    const state = await first.driver.get<{ tree_size: number }>('SELECT tree_size FROM fx_audit_state');
    expect(state!.tree_size).toBe(96);
    // A crash: the driver goes away, the ledger never closes (no final flush, no checkpoint).
    await first.driver.close();

    const second = await openLedger({ treeFlushEntries: 7 }, first.file);
    const { ledger } = second;
    expect(ledger.size).toBe(100);
    const entries = await storedEntries(second.driver);
    const tree = new MerkleTree(entries.map(hashLeaf));
    const checkpoint = await expectTreeMatchesEntries(second);
    expect(checkpoint.size).toBe(100);
    for (let seq = 0; seq < 100; seq++) {
      const evidence = await ledger.proveInclusion(seq);
      expect(evidence.checkpoint.size).toBe(100);
      verifyInclusion(hashLeaf(evidence.entry!), seq, 100, evidence.proof, checkpoint.rootHash);
      expect(toHex(evidence.entry!)).toBe(toHex(entries[seq]!));
    }
    // The new head is consistent with the checkpoint signed before the crash.
    const proof = await ledger.proveConsistency(early.size, checkpoint.size);
    verifyConsistency(early.size, checkpoint.size, proof, early.rootHash, checkpoint.rootHash);
    expect(toHex(tree.root(40))).toBe(toHex(early.rootHash));
    // And it keeps appending correctly from there.
    for (let i = 100; i < 110; i++) expect(await ledger.append(record(i))).toBe(i);
    await expectTreeMatchesEntries(second);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('close() stores the tree and signs a final checkpoint; the origin is fixed at creation', async () => {
    const first = await openLedger({ treeFlushEntries: 1000 });
    await appendAll(
      first.ledger,
      Array.from({ length: 13 }, (_, i) => record(i)),
    );
    await first.ledger.close();
    await first.ledger.close(); // idempotent
    await first.driver.close();

    const second = await openLedger({ origin: 'another.example/origin' }, first.file);
    expect(second.ledger.origin).toBe(ORIGIN);
    expect(second.ledger.size).toBe(13);
    const state = await second.driver.get<{ tree_size: number }>('SELECT tree_size FROM fx_audit_state');
    expect(state!.tree_size).toBe(13);
    const latest = await second.ledger.latestCheckpoint();
    expect(latest?.size).toBe(13);
    expect(openCheckpoint(latest!.note, [VERIFIER], { origin: ORIGIN }).checkpoint.size).toBe(13);
  });
  it('refuses to open over a damaged store (a missing right-edge node, a gap in the entries)', async () => {
    const opened = await openLedger({ treeFlushEntries: 4 });
    await appendAll(
      opened.ledger,
      Array.from({ length: 13 }, (_, i) => record(i)),
    );
    await opened.ledger.flushTree();
    await opened.driver.close();
    // 13 = 8 + 4 + 1: the stored right edge is (3, 0), (2, 2), (0, 12).
    const raw = await openDriver(opened.file);
    await raw.run('DELETE FROM fx_audit_nodes WHERE level = 2 AND idx = 2');
    await expectCode(
      AuditLedger.open({ driver: raw, origin: ORIGIN, checkpointIntervalMs: 0 }),
      'FX_AUDIT_UNAVAILABLE',
    );

    const other = await openLedger({ treeFlushEntries: 100 });
    await appendAll(
      other.ledger,
      Array.from({ length: 10 }, (_, i) => record(i)),
    );
    await other.driver.close(); // the tree was never stored: a reopen re-hashes every entry
    const raw2 = await openDriver(other.file);
    await raw2.run('DELETE FROM fx_audit_entries WHERE seq = 4');
    await expectCode(
      AuditLedger.open({ driver: raw2, origin: ORIGIN, checkpointIntervalMs: 0 }),
      'FX_AUDIT_UNAVAILABLE',
    );
  });

  it('checkpointIntervalMs publishes checkpoints on its own while the log grows', async () => {
    const { ledger } = await openLedger({ checkpointIntervalMs: 20, now: Date.now });
    await appendAll(ledger, [record(0), record(1)]);
    const waitFor = async (size: number): Promise<void> => {
      for (let i = 0; i < 200 && (await ledger.latestCheckpoint())?.size !== size; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect((await ledger.latestCheckpoint())?.size).toBe(size);
    };
    await waitFor(2);
    await ledger.append(record(2));
    await waitFor(3);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect((await ledger.checkpoints()).map((c) => c.size)).toEqual([2, 3]);
  });
});

// ── checkpoints ───────────────────────────────────────────────────────────────────────────────

describe('checkpoint', () => {
  it('signs a C2SP checkpoint that opens with the log key and states the reference root', async () => {
    const opened = await openLedger();
    const { ledger } = opened;
    expect(await ledger.latestCheckpoint()).toBeNull();
    await appendAll(ledger, [record(0), record(1), record(2)]);
    opened.clock = T0 + 5000;
    const checkpoint = await ledger.checkpoint();
    expect(checkpoint.time).toBe(T0 + 5000);
    const { checkpoint: parsed, verified } = openCheckpoint(checkpoint.note, [VERIFIER], { origin: ORIGIN });
    expect(verified).toEqual([{ name: ORIGIN, keyId: SIGNER.keyId }]);
    expect(parsed.origin).toBe(ORIGIN);
    expect(parsed.size).toBe(3);
    expect(toHex(parsed.rootHash)).toBe(toHex(checkpoint.rootHash));
    await expectTreeMatchesEntries(opened);
    // A checkpoint of an empty log is allowed too (size 0, the empty root) on a fresh ledger.
    const empty = await openLedger();
    const zero = await empty.ledger.checkpoint();
    expect(zero.size).toBe(0);
    expect(toHex(zero.rootHash)).toBe(toHex(new MerkleTree([]).root()));
  });

  it('returns the same checkpoint while the log has not grown', async () => {
    const opened = await openLedger();
    const { ledger, driver } = opened;
    await ledger.append(record(0));
    const a = await ledger.checkpoint();
    opened.clock += 1000;
    const b = await ledger.checkpoint();
    expect(b).toEqual(a);
    expect(await ledger.latestCheckpoint()).toEqual(a);
    expect(await rowCount(driver, 'fx_audit_checkpoints')).toBe(1);
  });

  it('every pair of stored checkpoints is consistent (verified consistency proofs)', async () => {
    const opened = await openLedger({ treeFlushEntries: 5 });
    const { ledger } = opened;
    const sizes = [1, 2, 3, 4, 5, 8, 13, 16, 17, 31, 32, 33, 64, 65, 100];
    let n = 0;
    for (const size of sizes) {
      await appendAll(
        ledger,
        Array.from({ length: size - n }, (_, i) => record(n + i)),
      );
      n = size;
      opened.clock += 1000;
      expect((await ledger.checkpoint()).size).toBe(size);
    }
    const stored = await ledger.checkpoints();
    expect(stored.map((c) => c.size)).toEqual(sizes);
    const tree = new MerkleTree((await storedEntries(opened.driver)).map(hashLeaf));
    for (const c of stored) {
      expect(openCheckpoint(c.note, [VERIFIER], { origin: ORIGIN }).checkpoint.size).toBe(c.size);
      expect(toHex(c.rootHash)).toBe(toHex(tree.root(c.size)));
    }
    for (let i = 0; i < stored.length; i++) {
      for (let j = i; j < stored.length; j++) {
        const a = stored[i]!;
        const b = stored[j]!;
        const proof = await ledger.proveConsistency(a.size, b.size);
        verifyConsistency(a.size, b.size, proof, a.rootHash, b.rootHash);
      }
    }
  });

  it.each([
    { level: 4, index: 0, label: 'the node over entries 0–15' },
    { level: 2, index: 4, label: 'the node over entries 16–19' },
  ])(
    'refuses to sign over a stored tree altered under the last checkpoint ($label), and then refuses appends',
    async ({ level, index }) => {
      const opened = await openLedger();
      const { ledger, driver } = opened;
      await appendAll(
        ledger,
        Array.from({ length: 20 }, (_, i) => record(i)),
      );
      await ledger.checkpoint();
      expect(rootPlan(20).nodes).toContainEqual({ level, index });
      await appendAll(
        ledger,
        Array.from({ length: 10 }, (_, i) => record(20 + i)),
      );
      await ledger.flushTree();
      const changed = await driver.run('UPDATE fx_audit_nodes SET hash = ? WHERE level = ? AND idx = ?', [
        new Uint8Array(32).fill(7),
        level,
        index,
      ]);
      expect(changed.changes).toBe(1);

      await expectCode(ledger.checkpoint(), 'FX_AUDIT_VERIFY_FAILED');
      expect(await rowCount(driver, 'fx_audit_checkpoints')).toBe(1);
      await expectCode(ledger.append(record(99)), 'FX_AUDIT_VERIFY_FAILED');
      await expectCode(
        driver.transaction((tx) => ledger.appendWithin(tx, [record(98)])),
        'FX_AUDIT_VERIFY_FAILED',
      );
      await expectCode(ledger.checkpoint(), 'FX_AUDIT_VERIFY_FAILED');
      expect(await rowCount(driver, 'fx_audit_entries')).toBe(30);
      expect(await rowCount(driver, 'fx_audit_checkpoints')).toBe(1);
    },
  );

  it('refuses to sign when the log is shorter than its latest checkpoint (truncated)', async () => {
    const opened = await openLedger();
    const { ledger, driver } = opened;
    await appendAll(
      ledger,
      Array.from({ length: 10 }, (_, i) => record(i)),
    );
    await ledger.checkpoint();
    await ledger.close();
    await driver.run('DELETE FROM fx_audit_entries WHERE seq >= 6');
    await driver.run('DELETE FROM fx_audit_nodes WHERE idx * (1 << level) + (1 << level) > 6');
    await driver.run('UPDATE fx_audit_state SET tree_size = 6');
    const reopened = await openLedger({}, opened.file);
    expect(reopened.ledger.size).toBe(6);
    await expectCode(reopened.ledger.checkpoint(), 'FX_AUDIT_VERIFY_FAILED');
    await expectCode(reopened.ledger.append(record(6)), 'FX_AUDIT_VERIFY_FAILED');
  });
});

// ── proofs ────────────────────────────────────────────────────────────────────────────────────

describe('a ledger transaction that fails at commit', () => {
  it('a checkpoint whose COMMIT fails leaves memory as storage is: later checkpoints, verify and reopen succeed', async () => {
    const file = path.join(await tempDir(), 'ledger.db');
    const real = await openDriver(file);
    let failNext = false;
    // A driver whose next ledger transaction loses its connection at COMMIT: the body ran (tree
    // nodes written, memory moved on), then everything rolled back.
    const driver = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'isolatedTransaction') {
          return <T>(fn: (tx: never) => Promise<T>) =>
            target.isolatedTransaction(async (tx) => {
              const result = await fn(tx as never);
              if (failNext) {
                failNext = false;
                throw new FortressError('FX_STORAGE_UNAVAILABLE', 'connection lost at commit');
              }
              return result;
            });
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const ledger = await AuditLedger.open({
      driver,
      origin: ORIGIN,
      signers: () => [SIGNER],
      checkpointIntervalMs: 0,
    });
    await appendAll(
      ledger,
      Array.from({ length: 10 }, (_, i) => record(i)),
    );
    failNext = true;
    await expect(ledger.checkpoint()).rejects.toThrow('connection lost at commit');
    await appendAll(
      ledger,
      Array.from({ length: 5 }, (_, i) => record(10 + i)),
    );
    expect((await ledger.checkpoint()).size).toBe(15);
    expect((await ledger.verify()).ok).toBe(true);
    await ledger.close();
    const again = await AuditLedger.open({
      driver: real,
      origin: ORIGIN,
      signers: () => [SIGNER],
      checkpointIntervalMs: 0,
    });
    expect(again.size).toBe(15);
    expect((await again.verify()).ok).toBe(true);
    await again.close();
  });
});

describe('proofs on a 300-entry log', () => {
  it('inclusion of every entry against the latest and an older checkpoint, consistency of many pairs, tlog-proof files', async () => {
    const opened = await openLedger({ treeFlushEntries: 16 });
    const { ledger, driver } = opened;
    await appendAll(
      ledger,
      Array.from({ length: 100 }, (_, i) => record(i)),
    );
    const older = await ledger.checkpoint();
    await appendAll(
      ledger,
      Array.from({ length: 200 }, (_, i) => record(100 + i, { details: { i } })),
    );
    const latest = await ledger.checkpoint();
    expect([older.size, latest.size]).toEqual([100, 300]);
    const entries = await storedEntries(driver);
    const tree = new MerkleTree(entries.map(hashLeaf));
    expect(toHex(latest.rootHash)).toBe(toHex(tree.root()));

    for (let seq = 0; seq < 300; seq++) {
      const evidence = await ledger.proveInclusion(seq);
      expect(evidence.seq).toBe(seq);
      expect(evidence.checkpoint.size).toBe(300);
      expect(toHex(evidence.entry!)).toBe(toHex(entries[seq]!));
      verifyInclusion(hashLeaf(evidence.entry!), seq, 300, evidence.proof, latest.rootHash);
      const plan = inclusionPlan(seq, 300);
      expect(evidence.proof.map(toHex)).toEqual(plan.assemble(tree.hashes(plan.nodes)).map(toHex));
      if (seq < 100) {
        const old = await ledger.proveInclusion(seq, 100);
        expect(old.checkpoint.size).toBe(100);
        expect(old.checkpoint.note).toBe(older.note);
        verifyInclusion(hashLeaf(entries[seq]!), seq, 100, old.proof, older.rootHash);
      }
    }

    const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 99, 100, 101, 127, 128, 129];
    sizes.push(200, 255, 256, 257, 298, 299, 300);
    let pairs = 0;
    for (const a of sizes) {
      for (const b of sizes) {
        if (b < a) continue;
        const proof = await ledger.proveConsistency(a, b);
        verifyConsistency(a, b, proof, tree.root(a), tree.root(b));
        const plan = consistencyPlan(a, b);
        expect(proof.map(toHex)).toEqual(plan.assemble(tree.hashes(plan.nodes)).map(toHex));
        pairs++;
      }
    }
    expect(pairs).toBe((sizes.length * (sizes.length + 1)) / 2);

    for (let seq = 0; seq < 300; seq += 7) {
      const file = await ledger.tlogProof(seq);
      const opened = openTlogProof(file, [VERIFIER], { origin: ORIGIN });
      expect(opened.index).toBe(seq);
      expect(opened.checkpoint.size).toBe(300);
      const extra = opened.extra!;
      verifyInclusion(
        hashLeaf(extra),
        opened.index,
        opened.checkpoint.size,
        opened.proof,
        opened.checkpoint.rootHash,
      );
      expect(decodeAuditEntry(extra).seq).toBe(seq);
      expect(toHex(extra)).toBe(toHex(entries[seq]!));
    }
  });

  it('proveInclusion signs a checkpoint when none covers the entry yet', async () => {
    const { ledger } = await openLedger();
    await appendAll(ledger, [record(0), record(1)]);
    await ledger.checkpoint();
    await ledger.append(record(2));
    const evidence = await ledger.proveInclusion(2);
    expect(evidence.checkpoint.size).toBe(3);
    verifyInclusion(hashLeaf(evidence.entry!), 2, 3, evidence.proof, evidence.checkpoint.rootHash);
    expect((await ledger.checkpoints()).map((c) => c.size)).toEqual([2, 3]);
  });

  it('tlogProof works for an entry as large as the entry format allows (1000 row digests)', async () => {
    // What the audit trail writes for a deleteMany of 1000 rows: one digest per row key.
    const { ledger } = await openLedger();
    const rows = Array.from({ length: 1000 }, (_, i) => digestOf(i + 1));
    const seq = await ledger.append(
      record(0, { action: 'table.deleteMany', details: { rows, rowCount: 1000 } }),
    );
    const file = await ledger.tlogProof(seq);
    const opened = openTlogProof(file, [VERIFIER], { origin: ORIGIN });
    verifyInclusion(
      hashLeaf(opened.extra!),
      seq,
      opened.checkpoint.size,
      opened.proof,
      opened.checkpoint.rootHash,
    );
  });
});

// ── archive ───────────────────────────────────────────────────────────────────────────────────

describe('archive', () => {
  async function archivedLedger(): Promise<Opened & { dir: string; entries: Uint8Array[] }> {
    const opened = await openLedger({ treeFlushEntries: 8 });
    await appendAll(
      opened.ledger,
      Array.from({ length: 50 }, (_, i) => record(i)),
    );
    const entries = await storedEntries(opened.driver);
    const dir = path.join(await tempDir(), 'segments');
    return { ...opened, dir, entries };
  }

  it('writes a segment, prunes the rows, and proofs and verification still work', async () => {
    const a = await archivedLedger();
    const { ledger, driver, dir, entries } = a;
    const result = await ledger.archive({ before: 20, dir });
    expect(result).toEqual({
      file: path.join(dir, 'segment-0000000000000000-0000000000000019.fxseg'),
      first: 0,
      count: 20,
    });
    expect(await readdir(dir)).toEqual([path.basename(result.file)]);
    expect(ledger.archived).toBe(20);
    expect(ledger.size).toBe(50);
    expect(await rowCount(driver, 'fx_audit_entries')).toBe(30);
    expect(await rowCount(driver, 'fx_audit_segments')).toBe(1);
    await expectCode(ledger.entry(5), 'FX_AUDIT_NOT_FOUND');
    await expectCode(ledger.entry(19), 'FX_AUDIT_NOT_FOUND');
    expect((await ledger.entry(20)).requestId).toBe('req-20');
    const listed: number[] = [];
    for await (const entry of ledger.entries()) listed.push(entry.seq);
    expect(listed).toEqual(Array.from({ length: 30 }, (_, i) => 20 + i));

    const tree = new MerkleTree(entries.map(hashLeaf));
    for (const seq of [0, 5, 19, 20, 49]) {
      const evidence = await ledger.proveInclusion(seq);
      expect(evidence.entry === null).toBe(seq < 20);
      verifyInclusion(
        hashLeaf(entries[seq]!),
        seq,
        evidence.checkpoint.size,
        evidence.proof,
        evidence.checkpoint.rootHash,
      );
      expect(toHex(evidence.checkpoint.rootHash)).toBe(toHex(tree.root(evidence.checkpoint.size)));
    }
    const file = openTlogProof(await ledger.tlogProof(3), [VERIFIER], { origin: ORIGIN });
    expect(file.extra).toBeUndefined();
    verifyInclusion(hashLeaf(entries[3]!), 3, file.checkpoint.size, file.proof, file.checkpoint.rootHash);

    const byHash = await ledger.verify();
    expect(byHash.problem).toBeNull();
    expect(byHash).toMatchObject({ ok: true, size: 50, archivedByHashOnly: 20, entriesChecked: 30 });
    const full = await ledger.verify({ segmentsDir: dir });
    expect(full.problem).toBeNull();
    expect(full).toMatchObject({ ok: true, size: 50, archivedByHashOnly: 0, entriesChecked: 50 });

    // A second segment continues where the first ended; both verify.
    await appendAll(ledger, [record(50), record(51)]);
    const second = await ledger.archive({ before: 40, dir });
    expect(second).toMatchObject({ first: 20, count: 20 });
    expect((await readdir(dir)).sort()).toHaveLength(2);
    expect(await ledger.verify({ segmentsDir: dir })).toMatchObject({
      ok: true,
      size: 52,
      entriesChecked: 52,
    });
    expect(await ledger.verify()).toMatchObject({ ok: true, archivedByHashOnly: 40, entriesChecked: 12 });

    // Bad ranges.
    await expectCode(ledger.archive({ before: 40, dir }), 'FX_INVALID_ARGUMENT');
    await expectCode(ledger.archive({ before: 10, dir }), 'FX_INVALID_ARGUMENT');
    await expectCode(ledger.archive({ before: 53, dir }), 'FX_INVALID_ARGUMENT');
    expect(ledger.archived).toBe(40);

    // A restart keeps the archive mark and the size.
    await ledger.close();
    const reopened = await openLedger({}, a.file);
    expect(reopened.ledger.size).toBe(52);
    expect(reopened.ledger.archived).toBe(40);
    expect(await reopened.ledger.verify({ segmentsDir: dir })).toMatchObject({
      ok: true,
      entriesChecked: 52,
    });
    expect(await reopened.ledger.append(record(52))).toBe(52);
  });

  it('archiving every entry leaves an empty hot store that still appends and verifies', async () => {
    const { ledger, driver, dir } = await archivedLedger();
    await ledger.archive({ before: 50, dir });
    expect(await rowCount(driver, 'fx_audit_entries')).toBe(0);
    expect(await ledger.append(record(50))).toBe(50);
    expect(await ledger.verify({ segmentsDir: dir })).toMatchObject({
      ok: true,
      size: 51,
      entriesChecked: 51,
    });
  });

  it('verify reports (does not throw) a segment file whose entry bytes were changed', async () => {
    const { ledger, dir } = await archivedLedger();
    const { file } = await ledger.archive({ before: 20, dir });
    const text = await readFile(file, 'utf8');
    const at = text.indexOf('"requestId":"req-7"') + '"requestId":"req-'.length;
    expect(text[at]).toBe('7');
    await writeFile(file, `${text.slice(0, at)}8${text.slice(at + 1)}`);
    const report = await ledger.verify({ segmentsDir: dir });
    expect(report.ok).toBe(false);
    expect(report.problem).not.toBeNull();
    // Without the segment files, the hashes that stayed behind are still consistent.
    expect((await ledger.verify()).ok).toBe(true);
  });
});

// ── search ────────────────────────────────────────────────────────────────────────────────────

describe('entries(query)', () => {
  const PRINCIPALS = [
    { type: 'user', id: 'alice', tenant: 'acme' },
    { type: 'user', id: 'alicex', tenant: 'acme' },
    { type: 'user', id: 'bob', tenant: 'acme' },
    { type: 'service', id: 'etl', tenant: 'other' },
    { type: 'user', id: 'zoë😀', tenant: 'acme' },
  ];
  const ACTIONS = [
    'table.get',
    'table.insert',
    'tablex.get',
    'key.rotate',
    'schema.createTable',
    'audit.read',
    'table.deleteMany',
  ];
  const RESOURCES: AuditRecord['resource'][] = [
    { type: 'table', tenant: 'acme', database: 'main', table: 'people' },
    { type: 'column', tenant: 'acme', database: 'main', table: 'people', column: 'ssn' },
    { type: 'table', tenant: 'acme', database: 'main', table: 'peoplex' },
    { type: 'key', tenant: 'acme', key: 'fortress/audit/hmac' },
    { type: 'system' },
    { type: 'table', tenant: 'acme', database: 'main', table: '😀s' },
    { type: 'column', tenant: 'acme', database: 'main', table: '😀s', column: 'c' },
  ];
  const N = 700;
  const BATCH = 100;

  function searchRecord(i: number): AuditRecord {
    const details: Record<string, string[] | number> = { n: i };
    if (i % 11 === 0) details['rows'] = [digestOf(i % 4), digestOf(1000 + i)];
    return record(i, {
      principal: PRINCIPALS[i % PRINCIPALS.length]!,
      action: ACTIONS[i % ACTIONS.length]!,
      resource: RESOURCES[i % RESOURCES.length]!,
      decision: { effect: i % 4 === 3 ? 'deny' : 'allow', policies: [] },
      outcome: i % 6 === 5 ? { status: 'error', code: 'FX_X' } : { status: 'ok' },
      details,
    });
  }

  function matches(entry: AuditEntry, q: AuditQuery): boolean {
    const principal = principalText(entry.principal);
    const resource = resourcePath(entry.resource);
    const time = Date.parse(entry.time);
    if (q.fromSeq !== undefined && entry.seq < q.fromSeq) return false;
    if (q.toSeq !== undefined && entry.seq > q.toSeq) return false;
    if (q.principal !== undefined) {
      const prefix = q.principal.endsWith(':') || q.principal.endsWith('@');
      if (prefix ? !principal.startsWith(q.principal) : principal !== q.principal) return false;
    }
    if (q.action !== undefined) {
      if (q.action.endsWith('.') ? !entry.action.startsWith(q.action) : entry.action !== q.action)
        return false;
    }
    if (q.resource !== undefined && resource !== q.resource && !resource.startsWith(`${q.resource}/`))
      return false;
    if (q.decision !== undefined && entry.decision.effect !== q.decision) return false;
    if (q.outcome !== undefined && entry.outcome.status !== q.outcome) return false;
    if (q.since !== undefined && time < q.since) return false;
    if (q.until !== undefined && time > q.until) return false;
    if (q.digest !== undefined && !JSON.stringify(entry).includes(q.digest)) return false;
    return true;
  }

  async function collect(ledger: AuditLedger, q: AuditQuery): Promise<number[]> {
    const out: number[] = [];
    for await (const entry of ledger.entries(q)) out.push(entry.seq);
    return out;
  }

  it('each filter, alone and combined, returns exactly the matching entries in order', async () => {
    const opened = await openLedger();
    const { ledger } = opened;
    for (let b = 0; b < N / BATCH; b++) {
      opened.clock = T0 + b * 60_000;
      await appendAll(
        ledger,
        Array.from({ length: BATCH }, (_, i) => searchRecord(b * BATCH + i)),
      );
    }
    const all: AuditEntry[] = [];
    for await (const entry of ledger.entries()) all.push(entry);
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: N }, (_, i) => i));
    all.forEach((entry, i) => {
      expect(entry).toEqual({
        ...searchRecord(i),
        v: 1,
        seq: i,
        time: new Date(T0 + Math.floor(i / BATCH) * 60_000).toISOString(),
      });
    });

    const queries: AuditQuery[] = [
      {},
      { principal: 'user:' },
      { principal: 'user:alice@' },
      { principal: 'user:alice@acme' },
      { principal: 'user:alice' },
      { principal: 'service:etl@other' },
      { principal: 'service:' },
      { principal: 'user:zoë😀@' },
      { principal: 'user:zoë😀@acme' },
      { action: 'table.' },
      { action: 'table.get' },
      { action: 'table' },
      { action: 'tablex.' },
      { action: 'key.rotate' },
      { resource: 'acme/main/people' },
      { resource: 'acme/main/people/ssn' },
      { resource: 'acme' },
      { resource: 'acme/main/peop' },
      { resource: 'key:fortress/audit/hmac' },
      { resource: 'key:fortress' },
      { resource: 'system' },
      { resource: 'acme/main/😀s' },
      { decision: 'deny' },
      { decision: 'allow' },
      { outcome: 'error' },
      { outcome: 'ok' },
      { since: T0 + 120_000 },
      { until: T0 + 120_000 },
      { since: T0 + 60_000, until: T0 + 180_000 },
      { since: T0 + 60_001, until: T0 + 119_999 },
      { fromSeq: 123 },
      { toSeq: 123 },
      { fromSeq: 100, toSeq: 650 },
      { fromSeq: 5, toSeq: 5 },
      { fromSeq: 700 },
      { newestFirst: true },
      { newestFirst: true, limit: 600 },
      { limit: 1 },
      { limit: 513 },
      { limit: 10_000 },
      { digest: digestOf(2) },
      { digest: digestOf(1000 + 22) },
      { digest: digestOf(999_999) },
      { digest: digestOf(0), newestFirst: true, limit: 3 },
      { principal: 'user:', action: 'table.', decision: 'allow', outcome: 'ok', fromSeq: 50, limit: 520 },
      { resource: 'acme/main/people', since: T0 + 100_000, newestFirst: true },
    ];
    const wrong: string[] = [];
    for (const q of queries) {
      let expected = all.filter((e) => matches(e, q)).map((e) => e.seq);
      if (q.newestFirst === true) expected = expected.reverse();
      if (q.limit !== undefined) expected = expected.slice(0, q.limit);
      const got = await collect(ledger, q);
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        wrong.push(`${JSON.stringify(q)}: ${got.length} entries, expected ${expected.length}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

// ── bad input ─────────────────────────────────────────────────────────────────────────────────

describe('bad input', () => {
  type Mutation = readonly [label: string, mutate: (r: Record<string, unknown>) => unknown];
  const set =
    (pathText: string, value: unknown) =>
    (r: Record<string, unknown>): unknown => {
      const parts = pathText.split('.');
      let target = r;
      for (const part of parts.slice(0, -1)) {
        const next = { ...(target[part] as Record<string, unknown>) };
        target[part] = next;
        target = next;
      }
      const last = parts.at(-1)!;
      if (value === undefined) Reflect.deleteProperty(target, last);
      else target[last] = value;
      return r;
    };
  const MUTATIONS: Mutation[] = [
    ['not an object (null)', () => null],
    ['not an object (array)', () => []],
    ['not an object (string)', () => 'entry'],
    ['principal missing', set('principal', undefined)],
    ['principal not an object', set('principal', 'user:alice@acme')],
    ['principal extra field', set('principal.role', 'admin')],
    ['principal.type empty', set('principal.type', '')],
    ['principal.type too long', set('principal.type', 'x'.repeat(65))],
    ['principal.id not a string', set('principal.id', 7)],
    ['principal.id too long', set('principal.id', 'x'.repeat(513))],
    ['principal.id with a newline', set('principal.id', 'al\nice')],
    ['principal.id with DEL', set('principal.id', 'al\u007fice')],
    ['principal.id with a lone surrogate', set('principal.id', 'al\ud800ice')],
    ['principal.tenant missing', set('principal.tenant', undefined)],
    ['action missing', set('action', undefined)],
    ['action without a dot', set('action', 'get')],
    ['action capitalised', set('action', 'Table.get')],
    ['action trailing dot', set('action', 'table.')],
    ['action too long', set('action', `table.${'g'.repeat(60)}`)],
    ['resource missing', set('resource', undefined)],
    ['resource.type unknown', set('resource.type', 'file')],
    ['resource extra field', set('resource.row', 'r1')],
    ['resource.table empty', set('resource.table', '')],
    ['resource.table with a tab', set('resource.table', 'peo\tple')],
    ['decision missing', set('decision', undefined)],
    ['decision.effect wrong', set('decision.effect', 'maybe')],
    ['decision.policies not a list', set('decision.policies', 'p1')],
    [
      'decision.policies too many',
      set(
        'decision.policies',
        Array.from({ length: 65 }, (_, i) => `p${i}`),
      ),
    ],
    ['decision.policies with an empty id', set('decision.policies', [''])],
    ['decision extra field', set('decision.reason', 'x')],
    ['outcome missing', set('outcome', undefined)],
    ['outcome.status wrong', set('outcome.status', 'fail')],
    ['outcome ok with a code', set('outcome.code', 'FX_X')],
    ['outcome error without a code', () => ({ ...record(0), outcome: { status: 'error' } })],
    [
      'outcome error with an extra field',
      () => ({ ...record(0), outcome: { status: 'error', code: 'X', why: 'y' } }),
    ],
    ['requestId empty', set('requestId', '')],
    ['requestId too long', set('requestId', 'r'.repeat(129))],
    ['client empty', set('client', '')],
    ['client a number', set('client', 127001)],
    ['client missing', set('client', undefined)],
    ['request not a digest', set('request', 'sha256:xyz')],
    ['request upper-case hex', set('request', `sha256:${'AB'.repeat(32)}`)],
    ['request another algorithm', set('request', `md5:${'ab'.repeat(32)}`)],
    ['details not an object', set('details', ['a'])],
    ['details key not camelCase', set('details', { 'row-count': 1 })],
    ['details key too long', set('details', { ['k'.repeat(65)]: 1 })],
    ['details a fraction', set('details', { n: 1.5 })],
    ['details NaN', set('details', { n: Number.NaN })],
    ['details an unsafe integer', set('details', { n: 2 ** 53 })],
    ['details a nested object', set('details', { n: { a: 1 } })],
    ['details a list with a number', set('details', { rows: ['a', 1] })],
    ['details a list too long', set('details', { rows: Array.from({ length: 1001 }, () => 'a') })],
    [
      'details too many fields',
      set('details', Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]))),
    ],
    ['details a string with a control character', set('details', { note: 'a\u0000b' })],
    ['details a string with a C1 control character (NEL)', set('details', { note: 'a\u0085b' })],
    ['an unknown top-level field', set('extra', 1)],
    ['a v field (the ledger adds it)', set('v', 1)],
    ['a seq field (the ledger adds it)', set('seq', 0)],
    ['a time field (the ledger adds it)', set('time', '2025-01-01T00:00:00.000Z')],
  ];

  it.each(MUTATIONS)(
    '%s → FX_AUDIT_FORMAT from append and appendWithin, nothing stored',
    async (_label, mutate) => {
      const { ledger, driver } = await openLedger();
      await ledger.append(record(0));
      const bad = mutate(structuredClone(record(1)) as unknown as Record<string, unknown>) as AuditRecord;
      await expectCode(ledger.append(bad), 'FX_AUDIT_FORMAT');
      await expectCode(
        driver.transaction((tx) => ledger.appendWithin(tx, [record(2), bad])),
        'FX_AUDIT_FORMAT',
      );
      expect(await rowCount(driver, 'fx_audit_entries')).toBe(1);
      expect(ledger.size).toBe(1);
      // The ledger is not broken by a refused record.
      expect(await ledger.append(record(3))).toBe(1);
    },
  );

  it('a record that passes the checks but not the encoder (null-prototype details) never fails the other callers of its batch', async () => {
    const { ledger, driver } = await openLedger();
    const details = Object.assign(Object.create(null) as Record<string, AuditDetail>, { n: 1 });
    const odd = record(1, { details });
    const results = await Promise.allSettled([
      ledger.append(record(0)),
      ledger.append(odd),
      ledger.append(record(2)),
    ]);
    const outcome = results.map((r) =>
      r.status === 'fulfilled' ? 'stored' : (r.reason as { code?: string }).code,
    );
    // Either the odd record is stored (it is plain JSON data) or refused alone as malformed.
    expect(outcome[0]).toBe('stored');
    expect(outcome[2]).toBe('stored');
    expect(['stored', 'FX_AUDIT_FORMAT']).toContain(outcome[1]);
    let within: string;
    try {
      await driver.transaction((tx) => ledger.appendWithin(tx, [odd]));
      within = 'stored';
    } catch (error) {
      within = (error as { code?: string }).code ?? String(error);
    }
    expect(['stored', 'FX_AUDIT_FORMAT']).toContain(within);
    expect((await ledger.verify()).ok).toBe(true);
  });

  it('bad seq and size arguments → FX_INVALID_ARGUMENT or FX_AUDIT_NOT_FOUND', async () => {
    const { ledger } = await openLedger();
    await appendAll(
      ledger,
      Array.from({ length: 10 }, (_, i) => record(i)),
    );
    await ledger.checkpoint();
    const invalid: unknown[] = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', null, undefined, 2 ** 53];
    for (const v of invalid) {
      const n = v as number;
      await expectCode(() => ledger.entry(n), 'FX_INVALID_ARGUMENT');
      await expectCode(() => ledger.proveInclusion(n), 'FX_INVALID_ARGUMENT');
      if (v !== undefined) await expectCode(() => ledger.proveInclusion(0, n), 'FX_INVALID_ARGUMENT');
      await expectCode(() => ledger.proveConsistency(n, 5), 'FX_INVALID_ARGUMENT');
      await expectCode(() => ledger.proveConsistency(1, n), 'FX_INVALID_ARGUMENT');
      await expectCode(() => ledger.tlogProof(n), 'FX_INVALID_ARGUMENT');
    }
    await expectCode(() => ledger.entry(10), 'FX_AUDIT_NOT_FOUND');
    await expectCode(() => ledger.proveInclusion(10), 'FX_AUDIT_NOT_FOUND');
    await expectCode(() => ledger.tlogProof(10), 'FX_AUDIT_NOT_FOUND');
    await expectCode(() => ledger.proveInclusion(0, 0), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ledger.proveInclusion(5, 5), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ledger.proveInclusion(5, 3), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ledger.proveInclusion(0, 7), 'FX_AUDIT_NOT_FOUND'); // no checkpoint at 7
    await expectCode(() => ledger.proveInclusion(0, 11), 'FX_AUDIT_NOT_FOUND');
    await expectCode(() => ledger.proveConsistency(0, 5), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ledger.proveConsistency(6, 5), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ledger.proveConsistency(1, 11), 'FX_AUDIT_NOT_FOUND');
    expect(await ledger.proveConsistency(10, 10)).toEqual([]);
  });

  it('bad query options → FX_INVALID_ARGUMENT', async () => {
    const { ledger } = await openLedger();
    await ledger.append(record(0));
    const bad: unknown[] = [
      null,
      [],
      'seq',
      { fromSeq: -1 },
      { fromSeq: 1.5 },
      { toSeq: '3' },
      { principal: 5 },
      { action: null },
      { resource: {} },
      { decision: 'maybe' },
      { decision: 'ALLOW' },
      { outcome: 'failed' },
      { since: -1 },
      { until: 'yesterday' },
      { since: Number.NaN },
      { limit: 0 },
      { limit: -3 },
      { limit: 1.5 },
      { digest: 'abc' },
      { digest: `hmac-sha256:${'AB'.repeat(32)}` },
      { digest: `hmac-sha256:${'ab'.repeat(31)}` },
      { digest: `hmac-sha256:${'ab'.repeat(32)}%` },
    ];
    for (const q of bad) {
      await expectCode(async () => {
        for await (const entry of ledger.entries(q as AuditQuery)) expect.fail(`yielded ${entry.seq}`);
      }, 'FX_INVALID_ARGUMENT');
    }
  });

  it('bad AuditLedger.open options → FX_INVALID_ARGUMENT, and nothing is created', async () => {
    const file = path.join(await tempDir(), 'ledger.db');
    const driver = await openDriver(file);
    const base = { driver, origin: ORIGIN };
    const bad: unknown[] = [
      null,
      'options',
      [],
      { driver },
      { driver, origin: 7 },
      { driver, origin: '' },
      { driver, origin: 'has space' },
      { driver, origin: 'a+b' },
      { driver, origin: 'tab\there' },
      { driver, origin: 'x'.repeat(256) },
      { ...base, checkpointIntervalMs: -1 },
      { ...base, checkpointIntervalMs: 1.5 },
      { ...base, checkpointIntervalMs: 86_400_001 },
      { ...base, checkpointIntervalMs: '1000' },
      { ...base, treeFlushEntries: 0 },
      { ...base, treeFlushEntries: 1_000_001 },
      { ...base, maxBatch: 0 },
      { ...base, maxBatch: 100_001 },
      { ...base, groupCommit: 'later' },
      { ...base, signers: [SIGNER] },
      { ...base, now: 'now' },
      { origin: ORIGIN },
      { driver: {}, origin: ORIGIN },
    ];
    const accepted: string[] = [];
    for (const options of bad) {
      let outcome: string;
      try {
        const ledger = await AuditLedger.open(options as AuditLedgerOptions);
        await ledger.close();
        outcome = 'opened';
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'FX_INVALID_ARGUMENT') continue;
        outcome = code ?? `${(error as Error).name}: ${(error as Error).message}`;
      }
      accepted.push(
        `${JSON.stringify(options, (k, v: unknown) => (k === 'driver' && v === driver ? '<driver>' : v))} → ${outcome}`,
      );
      await driver.exec(
        'DROP TABLE IF EXISTS fx_audit_entries; DROP TABLE IF EXISTS fx_audit_nodes; DROP TABLE IF EXISTS fx_audit_checkpoints; DROP TABLE IF EXISTS fx_audit_segments; DROP TABLE IF EXISTS fx_audit_state;',
      );
    }
    expect(accepted).toEqual([]);
    const tables = await driver.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE name LIKE 'fx_audit%'",
    );
    expect(tables).toEqual([]);
  });

  /** Runs each call and lists those that did not fail with `code`. */
  async function notFailingWith(code: string, calls: [string, () => unknown][]): Promise<string[]> {
    const out: string[] = [];
    for (const [name, call] of calls) {
      try {
        await call();
        out.push(`${name}: succeeded`);
      } catch (error) {
        const got = (error as { code?: string }).code;
        if (got !== code) out.push(`${name}: ${got ?? String(error)}`);
      }
    }
    return out;
  }

  it('a closed ledger refuses writes, checkpoints, proofs, archiving and verification with FX_CLOSED', async () => {
    const { ledger, driver } = await openLedger();
    await appendAll(ledger, [record(0), record(1)]);
    await ledger.close();
    const dir = await tempDir();
    expect(
      await notFailingWith('FX_CLOSED', [
        ['append', () => ledger.append(record(2))],
        ['appendWithin', () => driver.transaction((tx) => ledger.appendWithin(tx, [record(2)]))],
        ['checkpoint', () => ledger.checkpoint()],
        ['flushTree', () => ledger.flushTree()],
        ['proveInclusion', () => ledger.proveInclusion(0)],
        ['proveConsistency', () => ledger.proveConsistency(1, 2)],
        ['tlogProof', () => ledger.tlogProof(0)],
        ['archive', () => ledger.archive({ before: 1, dir })],
        ['verify', () => ledger.verify()],
      ]),
    ).toEqual([]);
    expect(await rowCount(driver, 'fx_audit_entries')).toBe(2);
    await ledger.close(); // still idempotent
  });

  it('a closed ledger refuses reads with FX_CLOSED too (entry, entries, checkpoints)', async () => {
    const { ledger } = await openLedger();
    await appendAll(ledger, [record(0), record(1)]);
    await ledger.close();
    expect(
      await notFailingWith('FX_CLOSED', [
        ['entry', () => ledger.entry(0)],
        ['entryBytes', () => ledger.entryBytes(0)],
        [
          'entries',
          async () => {
            for await (const entry of ledger.entries()) return entry;
            return undefined;
          },
        ],
        ['latestCheckpoint', () => ledger.latestCheckpoint()],
        ['checkpoints', () => ledger.checkpoints()],
      ]),
    ).toEqual([]);
  });

  it.each([
    { signers: () => null, label: 'null' },
    { signers: () => [], label: 'empty' },
  ])(
    'without signers ($label): checkpoint and archive → FX_SEALED; appends still work',
    async ({ signers }) => {
      const { ledger, driver } = await openLedger({ signers });
      expect(await ledger.append(record(0))).toBe(0);
      expect(await driver.transaction((tx) => ledger.appendWithin(tx, [record(1)]))).toBe(1);
      await expectCode(ledger.checkpoint(), 'FX_SEALED');
      await expectCode(ledger.archive({ before: 1, dir: await tempDir() }), 'FX_SEALED');
      await expectCode(ledger.proveInclusion(0), 'FX_SEALED'); // would need a new checkpoint
      await expectCode(ledger.tlogProof(0), 'FX_SEALED');
      await expectCode(ledger.verify(), 'FX_SEALED'); // no keys to verify with, and none pinned given
      expect(await ledger.verify({ verifiers: [VERIFIER] })).toMatchObject({ ok: true, size: 2 });
      expect(await rowCount(driver, 'fx_audit_checkpoints')).toBe(0);
      expect(await rowCount(driver, 'fx_audit_segments')).toBe(0);
      await ledger.close(); // no final checkpoint, no error
      expect(await rowCount(driver, 'fx_audit_checkpoints')).toBe(0);
    },
  );
});
