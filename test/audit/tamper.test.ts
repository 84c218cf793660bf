/**
 * Tampering with a real Fortress data directory's audit ledger behind its back, then verifying it
 * offline with nothing but the pinned public keys (`audit.vkey`) — as an auditor would.
 *
 * A data directory is built once (a table, ~200 mixed operations, checkpoints in between, closed
 * cleanly). Each case works on a fresh copy: it opens `fortress.db` with plain better-sqlite3,
 * changes entries, tree nodes, checkpoints or state the way an attacker with write access to the
 * file could, and `verifyLedger` must report it (`ok: false`), naming the first bad entry
 * (`problem.seq`) where that is knowable, or the checkpoint that no longer matches.
 *
 * What no offline check can catch without help from outside the file is shown too: a tail cut off
 * together with the checkpoints covering it is detected only with a checkpoint the auditor kept.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAuditEntry } from '../../src/audit/entry/audit-entry.js';
import { AuditLedger } from '../../src/audit/ledger/audit-ledger.js';
import { hashChildren, hashLeaf, rangeNodes } from '../../src/audit/merkle/index.js';
import {
  ed25519NoteSigner,
  parseCheckpoint,
  signCheckpoint,
  type StandardNoteSigner,
} from '../../src/audit/note/index.js';
import {
  verifyLedger,
  type VerifyOptions,
  type VerifyReport,
} from '../../src/audit/verify/ledger-verifier.js';
import { readAuditVerifierKeys } from '../../src/audit-trail.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { createSigner } from '../../src/crypto/signature/signature.js';
import { Fortress } from '../../src/fortress.js';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { openRaw, type RawDatabase } from '../helpers/raw-sqlite.js';

// ── the data directory ────────────────────────────────────────────────────────────────────────

let root = '';
let base = '';
let copies = 0;
/** Entries in the untampered log, its origin, and its checkpoints (size → note), oldest first. */
let size = 0;
let origin = '';
let checkpoints: { size: number; note: string }[] = [];

function newSigner(name: string): StandardNoteSigner {
  return ed25519NoteSigner(name, createSigner('ed25519', SecretKey.generate(32)));
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'fx-audit-tamper-'));
  base = path.join(root, 'base');
  const db = await Fortress.open({
    path: base,
    onWarning: () => undefined,
    audit: { checkpointIntervalMs: 0 },
  });
  try {
    await db.createTable('people', {
      columns: {
        id: { type: 'uuid', primaryKey: true },
        email: { type: 'text', encrypt: { search: 'equality' } },
        name: { type: 'text', encrypt: true },
        age: { type: 'integer' },
      },
    });
    const people = db.table<{ id: string; email: string; name: string; age: number }>('people');
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      switch (i % 10) {
        case 0:
        case 1:
        case 2:
          ids.push(
            (await people.insert({ email: `p${i}@example.com`, name: `P ${i}`, age: 20 + (i % 50) })).id,
          );
          break;
        case 3:
          ids.push(
            ...(
              await people.insertMany([
                { email: `m${i}a@example.com`, name: `M ${i}a`, age: 30 },
                { email: `m${i}b@example.com`, name: `M ${i}b`, age: 31 },
              ])
            ).map((r) => r.id),
          );
          break;
        case 4:
          await people.get(ids[i % ids.length]!);
          break;
        case 5:
          await people.find({ where: { email: `p${i - 5}@example.com` } });
          break;
        case 6:
          await people.page({ limit: 3 });
          await people.count();
          break;
        case 7:
          await people.update(ids[(i * 7) % ids.length]!, { age: i });
          break;
        case 8:
          // A failed operation is recorded too (outcome error).
          await people.get('00000000-0000-4000-8000-000000000000').catch(() => undefined);
          await people
            .insert({ id: ids[0]!, email: 'dup@example.com', name: 'dup', age: 1 })
            .catch(() => undefined);
          break;
        case 9:
          if (i % 20 === 9) await people.delete(ids.pop()!);
          else await people.deleteMany({ where: { age: 31 } });
          for await (const row of people.iterate({ limit: 2 })) expect(row.id).toBeTypeOf('string');
          break;
      }
      if (i % 45 === 44) await db.audit.checkpoint();
    }
  } finally {
    await db.close();
  }
  const raw = openRaw(path.join(base, 'fortress.db'));
  try {
    size = (raw.prepare('SELECT count(*) AS n FROM fx_audit_entries').get() as { n: number }).n;
    origin = (raw.prepare('SELECT origin FROM fx_audit_state').get() as { origin: string }).origin;
    checkpoints = raw.prepare('SELECT size, note FROM fx_audit_checkpoints ORDER BY size').all() as {
      size: number;
      note: string;
    }[];
  } finally {
    raw.close();
  }
});

afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true });
});

/** A fresh copy of the data directory, tampered with by `change` through a raw connection. */
async function tampered(change: (raw: RawDatabase) => void): Promise<string> {
  const dir = path.join(root, `copy-${copies++}`);
  await cp(base, dir, { recursive: true });
  const raw = openRaw(path.join(dir, 'fortress.db'));
  try {
    change(raw);
  } finally {
    raw.close();
  }
  return dir;
}

/** `verifyLedger` on `dir`'s fortress.db with its pinned `audit.vkey` (unless `verifiers` given). */
async function verify(dir: string, options: Partial<VerifyOptions> = {}): Promise<VerifyReport> {
  const driver = await new SqliteDialect({
    path: path.join(dir, 'fortress.db'),
    mustExist: true,
  }).createDriver();
  try {
    return await verifyLedger(driver, { verifiers: await readAuditVerifierKeys(dir), ...options });
  } finally {
    await driver.close();
  }
}

function entryOf(raw: RawDatabase, seq: number): Buffer {
  const row = raw.prepare('SELECT entry FROM fx_audit_entries WHERE seq = ?').get(seq) as { entry: Buffer };
  return row.entry;
}

function setEntry(raw: RawDatabase, seq: number, bytes: Uint8Array): void {
  expect(raw.prepare('UPDATE fx_audit_entries SET entry = ? WHERE seq = ?').run(bytes, seq).changes).toBe(1);
}

function nodeOf(raw: RawDatabase, level: number, index: number): Buffer | undefined {
  const row = raw.prepare('SELECT hash FROM fx_audit_nodes WHERE level = ? AND idx = ?').get(level, index) as
    { hash: Buffer } | undefined;
  return row?.hash;
}

function setNode(raw: RawDatabase, level: number, index: number, hash: Uint8Array): void {
  const changed = raw
    .prepare('UPDATE fx_audit_nodes SET hash = ? WHERE level = ? AND idx = ?')
    .run(hash, level, index);
  expect(changed.changes).toBe(1);
}

/** Entry bytes with one character of its requestId (a UUID) changed: still a well-formed entry. */
function withChangedRequestId(bytes: Uint8Array): Buffer {
  const text = Buffer.from(bytes).toString('utf8');
  const at = text.indexOf('"requestId":"') + '"requestId":"'.length;
  const changed = `${text.slice(0, at)}${text[at] === 'a' ? 'b' : 'a'}${text.slice(at + 1)}`;
  decodeAuditEntry(Buffer.from(changed)); // still parses strictly: only the hashes can tell
  return Buffer.from(changed);
}

function expectProblem(
  report: VerifyReport,
  expected: { seq?: number; checkpoint?: number; message?: RegExp },
): void {
  expect(report.ok, JSON.stringify(report.problem)).toBe(false);
  expect(report.problem).not.toBeNull();
  if (expected.seq !== undefined) expect(report.problem!.seq, report.problem!.message).toBe(expected.seq);
  if (expected.checkpoint !== undefined) {
    expect(report.problem!.checkpoint, report.problem!.message).toBe(expected.checkpoint);
  }
  if (expected.message !== undefined) expect(report.problem!.message).toMatch(expected.message);
}

/** The middle of the log, not on a checkpoint boundary. */
function middle(): number {
  let m = Math.floor(size / 2);
  while (checkpoints.some((c) => c.size === m || c.size === m + 1)) m++;
  return m;
}

// ── the untampered directory ──────────────────────────────────────────────────────────────────

describe('the untampered data directory', () => {
  it('was built as intended: a few hundred entries, several checkpoints, the last covering the whole log', () => {
    expect(size).toBeGreaterThan(250);
    expect(checkpoints.length).toBeGreaterThanOrEqual(5);
    expect(checkpoints.at(-1)!.size).toBe(size);
  });

  it('verifies ok with the pinned keys', async () => {
    const report = await verify(await tampered(() => undefined));
    expect(report.problem).toBeNull();
    expect(report).toMatchObject({
      ok: true,
      origin,
      size,
      entriesChecked: size,
      archivedByHashOnly: 0,
      checkpointsChecked: checkpoints.length,
    });
    expect(report.nodesChecked).toBeGreaterThanOrEqual(size);
  });
});

// ── entries ───────────────────────────────────────────────────────────────────────────────────

describe('tampering with entries', () => {
  it('one byte of an entry changed (still well-formed) → that seq', async () => {
    const m = middle();
    const dir = await tampered((raw) => {
      setEntry(raw, m, withChangedRequestId(entryOf(raw, m)));
    });
    expectProblem(await verify(dir), { seq: m, message: /modified/ });
  });

  it('one byte of an entry changed (no longer JSON) → that seq', async () => {
    const m = middle();
    const dir = await tampered((raw) => {
      const bytes = Buffer.from(entryOf(raw, m));
      bytes[bytes.length - 1] = 0x5d; // the closing "}" becomes "]"
      setEntry(raw, m, bytes);
    });
    expectProblem(await verify(dir), { seq: m, message: /malformed/ });
  });

  it('an entry deleted → that seq', async () => {
    const m = middle();
    const dir = await tampered((raw) => {
      expect(raw.prepare('DELETE FROM fx_audit_entries WHERE seq = ?').run(m).changes).toBe(1);
    });
    expectProblem(await verify(dir), { seq: m, message: /missing/ });
  });

  it('two entries’ bytes swapped → the first of them', async () => {
    const m = middle();
    const dir = await tampered((raw) => {
      const a = entryOf(raw, m);
      const b = entryOf(raw, m + 3);
      setEntry(raw, m, b);
      setEntry(raw, m + 3, a);
    });
    expectProblem(await verify(dir), { seq: m });
  });

  it('an extra entry row after the end (bytes of an existing entry) → the new seq', async () => {
    for (const source of [size - 1, middle()]) {
      const dir = await tampered((raw) => {
        const row = raw
          .prepare(
            'SELECT time, principal, action, resource, decision, outcome, entry FROM fx_audit_entries WHERE seq = ?',
          )
          .get(source) as Record<string, unknown>;
        raw
          .prepare(
            'INSERT INTO fx_audit_entries (seq, time, principal, action, resource, decision, outcome, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(
            size,
            row['time'],
            row['principal'],
            row['action'],
            row['resource'],
            row['decision'],
            row['outcome'],
            row['entry'],
          );
      });
      expectProblem(await verify(dir), { seq: size });
    }
  });

  it('only the searchable action column changed → that seq', async () => {
    const m = middle();
    const dir = await tampered((raw) => {
      const { action } = raw.prepare('SELECT action FROM fx_audit_entries WHERE seq = ?').get(m) as {
        action: string;
      };
      const other = action === 'table.get' ? 'table.count' : 'table.get';
      expect(raw.prepare('UPDATE fx_audit_entries SET action = ? WHERE seq = ?').run(other, m).changes).toBe(
        1,
      );
    });
    expectProblem(await verify(dir), { seq: m, message: /searchable columns/ });
  });

  it('an entry changed together with its leaf and every ancestor node → the checkpoint over it, naming the range', async () => {
    const m = middle();
    const dir = await tampered((raw) => {
      const bytes = withChangedRequestId(entryOf(raw, m));
      setEntry(raw, m, bytes);
      setNode(raw, 0, m, hashLeaf(bytes));
      for (let level = 1; level < 64; level++) {
        const index = Math.floor(m / 2 ** level);
        if (nodeOf(raw, level, index) === undefined) break;
        const left = nodeOf(raw, level - 1, index * 2)!;
        const right = nodeOf(raw, level - 1, index * 2 + 1)!;
        setNode(raw, level, index, hashChildren(left, right));
      }
    });
    const covering = checkpoints.find((c) => c.size > m)!.size;
    const lastGood = checkpoints.filter((c) => c.size <= m).at(-1)?.size ?? 0;
    const report = await verify(dir);
    expectProblem(report, { checkpoint: covering });
    expect(report.problem!.message).toContain(`[${lastGood}, ${covering})`);
  });
});

// ── truncation ────────────────────────────────────────────────────────────────────────────────

describe('cutting off the tail', () => {
  const CUT = 20;
  /** The first checkpoint that covers more than the remaining entries. */
  const firstBeyond = (): number => checkpoints.find((c) => c.size > size - CUT)!.size;

  it('the last 20 entries deleted → a checkpoint lies beyond the log', async () => {
    const dir = await tampered((raw) => {
      expect(raw.prepare('DELETE FROM fx_audit_entries WHERE seq >= ?').run(size - CUT).changes).toBe(CUT);
    });
    // Named either as the first missing entry (the stored tree still counts it) or as the first
    // checkpoint beyond the end of the log.
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    if (report.problem!.seq !== undefined) {
      expect(report.problem!.seq).toBe(size - CUT);
      expect(report.problem!.message).toMatch(/missing/);
    } else {
      expectProblem(report, { checkpoint: firstBeyond(), message: /truncated/ });
    }
  });

  it('the last 20 entries deleted with their tree nodes and a lowered tree size → still detected', async () => {
    const keep = size - CUT;
    const dir = await tampered((raw) => {
      raw.prepare('DELETE FROM fx_audit_entries WHERE seq >= ?').run(keep);
      // Every node whose leaves reach past the kept entries.
      const removed = raw
        .prepare('DELETE FROM fx_audit_nodes WHERE (idx + 1) * (1 << level) > ?')
        .run(keep).changes;
      expect(removed).toBeGreaterThanOrEqual(CUT);
      raw.prepare('UPDATE fx_audit_state SET tree_size = ?').run(keep);
    });
    expectProblem(await verify(dir), { checkpoint: firstBeyond(), message: /truncated/ });
  });

  it('…and with the checkpoints beyond it deleted too, only a checkpoint the auditor kept detects it', async () => {
    const keep = size - CUT;
    const dir = await tampered((raw) => {
      raw.prepare('DELETE FROM fx_audit_entries WHERE seq >= ?').run(keep);
      raw.prepare('DELETE FROM fx_audit_nodes WHERE (idx + 1) * (1 << level) > ?').run(keep);
      raw.prepare('UPDATE fx_audit_state SET tree_size = ?').run(keep);
      raw.prepare('DELETE FROM fx_audit_checkpoints WHERE size > ?').run(keep);
    });
    expect((await verify(dir)).ok).toBe(true);
    const kept = checkpoints.at(-1)!;
    expectProblem(await verify(dir, { trusted: kept.note }), { checkpoint: kept.size, message: /truncated/ });
  });
});

describe('tampering with the stored tree and state', () => {
  it('the tail deleted with the checkpoints beyond it, its tree nodes and tree size left behind → detected', async () => {
    // The stored leaf hashes and tree size still say how long the log was: an offline check can
    // see entries are missing (the ledger itself, reopened, counts the log as that long).
    const keep = size - 20;
    const dir = await tampered((raw) => {
      raw.prepare('DELETE FROM fx_audit_entries WHERE seq >= ?').run(keep);
      raw.prepare('DELETE FROM fx_audit_checkpoints WHERE size > ?').run(keep);
    });
    expectProblem(await verify(dir), { seq: keep });
  });

  it('a node of the stored right edge deleted → detected (the ledger cannot reopen over it)', async () => {
    // The edge of a tree of `size` leaves: the complete subtrees its root is folded from. None has
    // a stored parent, so only a check that every node below the stored tree size exists sees it.
    const edge = rangeNodes(0, size);
    const { level, index } = edge.at(-1)!;
    const dir = await tampered((raw) => {
      const changed = raw.prepare('DELETE FROM fx_audit_nodes WHERE level = ? AND idx = ?').run(level, index);
      expect(changed.changes).toBe(1);
    });
    await expect(
      Fortress.open({ path: dir, onWarning: () => undefined, audit: { checkpointIntervalMs: 0 } }),
    ).rejects.toMatchObject({ code: 'FX_AUDIT_UNAVAILABLE' });
    const report = await verify(dir);
    expect(report.ok, `verify passed a tree missing node (${level}, ${index})`).toBe(false);
  });

  it('the state’s origin changed → the first checkpoint (it names another log)', async () => {
    const dir = await tampered((raw) => {
      raw.prepare('UPDATE fx_audit_state SET origin = ?').run('fortress.local/audit/ffffffffffffffff');
    });
    expectProblem(await verify(dir), { checkpoint: checkpoints[0]!.size });
  });

  it('a checkpoint row moved to another size → that row', async () => {
    const target = checkpoints[2]!;
    const dir = await tampered((raw) => {
      raw
        .prepare('UPDATE fx_audit_checkpoints SET size = ? WHERE size = ?')
        .run(target.size + 1, target.size);
    });
    expectProblem(await verify(dir), { checkpoint: target.size + 1 });
  });
});

// ── checkpoints and keys ──────────────────────────────────────────────────────────────────────

describe('tampering with checkpoints and keys', () => {
  it('a checkpoint’s root rewritten and re-signed with a different key → that checkpoint', async () => {
    const target = checkpoints[Math.floor(checkpoints.length / 2)]!;
    const forger = newSigner(origin);
    const dir = await tampered((raw) => {
      const parsed = parseCheckpoint(target.note.slice(0, target.note.indexOf('\n\n') + 1));
      const note = signCheckpoint({ origin, size: target.size, rootHash: new Uint8Array(32).fill(9) }, [
        forger,
      ]);
      expect(parsed.size).toBe(target.size);
      raw.prepare('UPDATE fx_audit_checkpoints SET note = ? WHERE size = ?').run(note, target.size);
    });
    expectProblem(await verify(dir), { checkpoint: target.size });
  });

  it('a checkpoint’s root rewritten under its original signature → that checkpoint', async () => {
    const target = checkpoints[1]!;
    const dir = await tampered((raw) => {
      const lines = target.note.split('\n');
      const root = Buffer.from(lines[2]!, 'base64');
      root[0] = root[0]! ^ 1;
      lines[2] = root.toString('base64');
      raw
        .prepare('UPDATE fx_audit_checkpoints SET note = ? WHERE size = ?')
        .run(lines.join('\n'), target.size);
    });
    expectProblem(await verify(dir), { checkpoint: target.size });
  });

  it('every checkpoint re-signed with a new key → detected with the pinned audit.vkey (and only with it)', async () => {
    const forger = newSigner(origin);
    const resigned = await tampered((raw) => {
      for (const c of checkpoints) {
        const parsed = parseCheckpoint(c.note.slice(0, c.note.indexOf('\n\n') + 1));
        const note = signCheckpoint({ origin, size: parsed.size, rootHash: parsed.rootHash }, [forger]);
        raw.prepare('UPDATE fx_audit_checkpoints SET note = ? WHERE size = ?').run(note, c.size);
      }
    });
    expectProblem(await verify(resigned), { checkpoint: checkpoints[0]!.size });
    // Whoever trusts the key found in the file itself is fooled: pinning is what catches this.
    expect((await verify(resigned, { verifiers: [forger.verifier()] })).ok).toBe(true);
  });

  it('an inner tree node changed → detected, naming the first entry under it', async () => {
    const m = middle();
    const level = 3;
    const index = Math.floor(m / 2 ** level);
    const dir = await tampered((raw) => {
      const hash = Buffer.from(nodeOf(raw, level, index)!);
      hash[5] = hash[5]! ^ 0x80;
      setNode(raw, level, index, hash);
    });
    expectProblem(await verify(dir), { seq: index * 2 ** level, message: /tree node \(3, / });
  });

  it('a leaf hash changed → that seq', async () => {
    const m = middle();
    const dir = await tampered((raw) => {
      setNode(raw, 0, m, new Uint8Array(32).fill(1));
    });
    expectProblem(await verify(dir), { seq: m });
  });
});

// ── trusted checkpoints ───────────────────────────────────────────────────────────────────────

describe('verifying against a trusted checkpoint', () => {
  it('passes with the log’s own earlier (and latest) checkpoint', async () => {
    const dir = await tampered(() => undefined);
    for (const c of [checkpoints[1]!, checkpoints.at(-1)!]) {
      const report = await verify(dir, { trusted: c.note });
      expect(report.problem).toBeNull();
      expect(report.ok).toBe(true);
    }
  });

  /** A small log of its own: another origin and key unless given. */
  async function otherLog(name: string, signer: StandardNoteSigner, entries: number): Promise<string> {
    const file = path.join(root, `other-${copies++}.db`);
    const driver = await new SqliteDialect({ path: file }).createDriver();
    try {
      const ledger = await AuditLedger.open({
        driver,
        origin: name,
        signers: () => [signer],
        checkpointIntervalMs: 0,
      });
      for (let i = 0; i < entries; i++) {
        await ledger.append({
          principal: { type: 'user', id: 'mallory', tenant: 'default' },
          action: 'table.get',
          resource: { type: 'system' },
          decision: { effect: 'allow', policies: [] },
          outcome: { status: 'ok' },
          requestId: `forged-${i}`,
          client: null,
          request: `sha256:${'ee'.repeat(32)}`,
        });
      }
      const { note } = await ledger.checkpoint();
      await ledger.close();
      return note;
    } finally {
      await driver.close();
    }
  }

  it('fails with a checkpoint from another log', async () => {
    const dir = await tampered(() => undefined);
    const note = await otherLog(
      'fortress.local/audit/0123456789abcdef',
      newSigner('fortress.local/audit/0123456789abcdef'),
      5,
    );
    let report: VerifyReport | undefined;
    try {
      report = await verify(dir, { trusted: note });
    } catch (error) {
      // Refusing the trusted checkpoint outright (no valid signature by a pinned key) is a failure too.
      expect((error as { code?: string }).code).toMatch(/^FX_AUDIT_/);
    }
    if (report !== undefined) expect(report.ok).toBe(false);
  });

  it('fails with a checkpoint of a forked log under the same origin, even when its key is trusted too', async () => {
    const dir = await tampered(() => undefined);
    const forker = newSigner(origin);
    const note = await otherLog(origin, forker, 7);
    const pinned = await readAuditVerifierKeys(dir);
    const report = await verify(dir, { trusted: note, verifiers: [...pinned, forker.verifier()] });
    expectProblem(report, { checkpoint: 7, message: /trusted/ });
  });
});

// ── entries that must not be erasable ─────────────────────────────────────────────────────────

describe('erasing entries without touching the file', () => {
  it('a read inside a transaction that then rolls back stays in the log', async () => {
    const dir = await tampered(() => undefined);
    const db = await Fortress.open({
      path: dir,
      onWarning: () => undefined,
      audit: { checkpointIntervalMs: 0 },
    });
    try {
      const [row] = await db.table('people').find({ limit: 1 });
      const key = String(row!['id']);
      const from = db.audit.size;
      let read: unknown;
      await expect(
        db.transaction(async (tx) => {
          read = await tx.table('people').get(key);
          throw new Error('cancel after reading');
        }),
      ).rejects.toThrow('cancel after reading');
      // The caller holds the row: its read must be on record.
      expect(read).toMatchObject({ id: key });
      const reads: number[] = [];
      for await (const entry of db.audit.entries({ action: 'table.get', fromSeq: from }))
        reads.push(entry.seq);
      expect(reads).toHaveLength(1);
    } finally {
      await db.close();
    }
  });

  it('reading the audit log inside a transaction that then rolls back stays in the log', async () => {
    const dir = await tampered(() => undefined);
    const db = await Fortress.open({
      path: dir,
      onWarning: () => undefined,
      audit: { checkpointIntervalMs: 0 },
    });
    try {
      const from = db.audit.size;
      await expect(
        db.transaction(async () => {
          await db.audit.entry(0);
          throw new Error('cancel after reading');
        }),
      ).rejects.toThrow('cancel after reading');
      const reads: number[] = [];
      for await (const entry of db.audit.entries({ action: 'audit.read', fromSeq: from }))
        reads.push(entry.seq);
      expect(reads).toHaveLength(1);
    } finally {
      await db.close();
    }
  });
});
