/**
 * Property tests for audit entries and the ledger (fast-check):
 *
 * - the specialised `encodeAuditEntry` writes exactly what the generic RFC 8785 canonicaliser
 *   (`canonicalJson`) writes for the same entry, byte for byte, for records valid by construction
 *   whose strings carry the characters JSON escapes or passes through (quotes, backslashes,
 *   U+2028/9, combining marks, astral symbols, noncharacters), and
 *   `decodeAuditEntry` parses those bytes back to the same entry;
 * - random sequences of appends (group commit), appends inside transactions that commit or roll
 *   back, checkpoints, tree flushes and restarts (clean, or a crash that skips the final flush)
 *   keep `verify()` ok, the stored entries equal to the model, and every checkpoint's root equal
 *   to the root of a reference `MerkleTree` over the stored entries.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AUDIT_ENTRY_VERSION,
  decodeAuditEntry,
  encodeAuditEntry,
  type AuditDetail,
  type AuditRecord,
  type AuditResource,
  type AuditResourceType,
} from '../../src/audit/entry/audit-entry.js';
import { canonicalJson } from '../../src/audit/entry/canonical-json.js';
import { AuditLedger, type StoredCheckpoint } from '../../src/audit/ledger/audit-ledger.js';
import { MerkleTree, hashLeaf, verifyConsistency } from '../../src/audit/merkle/index.js';
import { ed25519NoteSigner, openCheckpoint } from '../../src/audit/note/index.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { createSigner } from '../../src/crypto/signature/signature.js';
import type { StorageDriver } from '../../src/storage/dialect.js';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { toHex } from '../helpers/vectors.js';

// ── arbitraries: records valid by construction ────────────────────────────────────────────────

/** Characters JSON escapes ('"', '\\') or passes through although other encoders might not. */
const SPECIAL = [
  '"',
  '\\',
  '/',
  '\u2028',
  '\u2029',
  '\u0080',
  '\u009f',
  '\u00a0',
  '\u00e9',
  'e\u0301',
  '\u200b',
  '\ufeff',
  '\ufffd',
  '\uffff',
  '😀',
  '𝄞',
  '<',
  '&',
  "'",
  ' ',
  '\\u0000',
];

/** Control characters (C0, DEL, C1: entries refuse them) become '·'; lone surrogates become U+FFFD. */
function entryText(raw: string, max: number): string {
  let s = '';
  for (const c of raw.toWellFormed()) {
    const code = c.charCodeAt(0);
    s += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? '·' : c;
  }
  if (s.length > max) s = s.slice(0, max).toWellFormed();
  // A pair cut in half became U+FFFD (one unit): still within max. Never empty.
  return s.length === 0 ? 'x' : s;
}

function text(max: number): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }) },
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }) },
  );
  return fc.array(piece, { minLength: 1, maxLength: 6 }).map((parts) => entryText(parts.join(''), max));
}

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const digest = fc.tuple(fc.constantFrom('sha256', 'hmac-sha256'), hex64).map(([alg, h]) => `${alg}:${h}`);
const identifier = fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,12}$/);
const action = fc
  .array(identifier, { minLength: 2, maxLength: 4 })
  .map((parts) => parts.join('.'))
  .filter((a) => a.length <= 64);
const RESOURCE_TYPES: AuditResourceType[] = [
  'system',
  'tenant',
  'database',
  'table',
  'column',
  'row',
  'key',
  'policy',
  'audit',
];
const resource: fc.Arbitrary<AuditResource> = fc
  .record(
    {
      type: fc.constantFrom(...RESOURCE_TYPES),
      tenant: text(64),
      database: text(64),
      table: text(64),
      column: text(64),
      key: text(100),
    },
    { requiredKeys: ['type'], noNullPrototype: true },
  )
  .map((r) => r as AuditResource);
const detailValue: fc.Arbitrary<AuditDetail> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: -1000, max: 1000 }),
  text(80),
  fc.array(fc.oneof(text(40), digest), { maxLength: 5 }),
);
const details = fc.dictionary(fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,15}$/), detailValue, {
  maxKeys: 6,
  noNullPrototype: true,
});

const auditRecord: fc.Arbitrary<AuditRecord> = fc
  .record(
    {
      principal: fc.record({ type: text(64), id: text(200), tenant: text(64) }, { noNullPrototype: true }),
      action,
      resource,
      decision: fc.record(
        {
          effect: fc.constantFrom('allow' as const, 'deny' as const),
          policies: fc.array(text(60), { maxLength: 4 }),
        },
        { noNullPrototype: true },
      ),
      outcome: fc.oneof(
        fc.constant({ status: 'ok' as const }),
        text(64).map((code) => ({ status: 'error' as const, code })),
      ),
      requestId: text(128),
      client: fc.option(text(128), { nil: null }),
      request: digest,
      details,
    },
    {
      requiredKeys: [
        'principal',
        'action',
        'resource',
        'decision',
        'outcome',
        'requestId',
        'client',
        'request',
      ],
      noNullPrototype: true,
    },
  )
  .map((r) => r as AuditRecord);

/** Milliseconds from 1970 to 9999-12-31: the years RFC 3339 times in entries can hold. */
const entryTime = fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) });
const seqArb = fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

describe('encodeAuditEntry ≡ canonicalJson', () => {
  it('writes the RFC 8785 canonical bytes, and decodeAuditEntry parses them back', () => {
    const utf8 = new TextEncoder();
    fc.assert(
      fc.property(auditRecord, seqArb, entryTime, (record, seq, ms) => {
        const time = new Date(ms).toISOString();
        const bytes = encodeAuditEntry(record, seq, time);
        const canonical = canonicalJson({ ...record, v: AUDIT_ENTRY_VERSION, seq, time });
        expect(toHex(bytes)).toBe(toHex(utf8.encode(canonical)));
        const decoded = decodeAuditEntry(bytes);
        expect(decoded).toEqual(JSON.parse(canonical));
        expect(decoded).toEqual({ ...record, v: AUDIT_ENTRY_VERSION, seq, time });
        // What was decoded re-encodes to the same bytes (the entry is its own canonical form).
        expect(toHex(encodeAuditEntry(decoded, seq, time))).toBe(toHex(bytes));
      }),
      { numRuns: 400 },
    );
  });

  it('decodeAuditEntry refuses the same entry in any non-canonical spelling', () => {
    fc.assert(
      fc.property(auditRecord, fc.nat(10_000), (record, seq) => {
        const time = '2025-01-01T00:00:00.000Z';
        const entry = { ...record, v: AUDIT_ENTRY_VERSION, seq, time };
        // Insertion order (not sorted) and indentation: the same JSON value, other bytes.
        for (const spelling of [
          JSON.stringify(entry),
          JSON.stringify(JSON.parse(canonicalJson(entry)), null, 1),
        ]) {
          if (spelling === canonicalJson(entry)) continue;
          expect(() => decodeAuditEntry(new TextEncoder().encode(spelling))).toThrow(
            expect.objectContaining({ code: 'FX_AUDIT_FORMAT' }),
          );
        }
      }),
      { numRuns: 100 },
    );
  });
});

// ── random operation sequences on a real ledger ───────────────────────────────────────────────

const ORIGIN = 'ledger.property.example/audit';
const SIGNER = ed25519NoteSigner(ORIGIN, createSigner('ed25519', SecretKey.generate(32)));
const VERIFIER = SIGNER.verifier();
const REQUEST = `sha256:${'cd'.repeat(32)}`;

type Op =
  | { readonly kind: 'append'; readonly n: number }
  | { readonly kind: 'within'; readonly n: number; readonly commit: boolean }
  | { readonly kind: 'checkpoint' }
  | { readonly kind: 'flush' }
  | { readonly kind: 'restart'; readonly clean: boolean };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 1, max: 12 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('within' as const),
      n: fc.integer({ min: 1, max: 6 }),
      commit: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), clean: fc.boolean() }) },
);

function record(tag: string): AuditRecord {
  return {
    principal: { type: 'user', id: 'prop', tenant: 'acme' },
    action: 'table.insert',
    resource: { type: 'table', tenant: 'acme', database: 'main', table: 't' },
    decision: { effect: 'allow', policies: [] },
    outcome: { status: 'ok' },
    requestId: tag,
    client: null,
    request: REQUEST,
  };
}

let root = '';
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'fx-ledger-prop-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('random operation sequences', () => {
  it('keep verify() ok and every checkpoint equal to the reference tree of the stored entries', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 5 }),
        async (ops, treeFlushEntries, maxBatch) => {
          const file = path.join(root, `run-${run++}.db`);
          const open = async (): Promise<{ driver: StorageDriver; ledger: AuditLedger }> => {
            const driver = await new SqliteDialect({ path: file, synchronous: 'normal' }).createDriver();
            const ledger = await AuditLedger.open({
              driver,
              origin: ORIGIN,
              signers: () => [SIGNER],
              checkpointIntervalMs: 0,
              treeFlushEntries,
              maxBatch,
            });
            return { driver, ledger };
          };
          let { driver, ledger } = await open();
          const model: string[] = [];
          const checkpoints: StoredCheckpoint[] = [];
          let tag = 0;
          try {
            for (const o of ops) {
              switch (o.kind) {
                case 'append': {
                  const tags = Array.from({ length: o.n }, () => `t${tag++}`);
                  const seqs = await Promise.all(tags.map((t) => ledger.append(record(t))));
                  expect(seqs).toEqual(tags.map((_, i) => model.length + i));
                  model.push(...tags);
                  break;
                }
                case 'within': {
                  const tags = Array.from({ length: o.n }, () => `t${tag++}`);
                  const rollback = new Error('rollback');
                  const result = driver.transaction(async (tx) => {
                    const first = await ledger.appendWithin(
                      tx,
                      tags.map((t) => record(t)),
                    );
                    expect(first).toBe(model.length);
                    if (!o.commit) throw rollback;
                  });
                  if (o.commit) {
                    await result;
                    model.push(...tags);
                  } else {
                    await expect(result).rejects.toBe(rollback);
                  }
                  break;
                }
                case 'checkpoint':
                  checkpoints.push(await ledger.checkpoint());
                  expect(checkpoints.at(-1)!.size).toBe(model.length);
                  break;
                case 'flush':
                  await ledger.flushTree();
                  break;
                case 'restart':
                  if (o.clean) await ledger.close();
                  await driver.close();
                  ({ driver, ledger } = await open());
                  expect(ledger.size).toBe(model.length);
                  break;
              }
            }

            const rows = await driver.all<{ seq: number; entry: Uint8Array }>(
              'SELECT seq, entry FROM fx_audit_entries ORDER BY seq',
            );
            expect(rows.map((r) => r.seq)).toEqual(model.map((_, i) => i));
            expect(rows.map((r) => decodeAuditEntry(r.entry).requestId)).toEqual(model);
            const tree = new MerkleTree(rows.map((r) => hashLeaf(r.entry)));

            const report = await ledger.verify();
            expect(report.problem).toBeNull();
            expect(report.ok).toBe(true);
            expect(report.size).toBe(model.length);
            expect(report.root).toBe(Buffer.from(tree.root()).toString('base64'));

            const latest = await ledger.checkpoint();
            expect(latest.size).toBe(model.length);
            expect(toHex(latest.rootHash)).toBe(toHex(tree.root()));
            const stored = await ledger.checkpoints();
            for (const c of stored) {
              expect(openCheckpoint(c.note, [VERIFIER], { origin: ORIGIN }).checkpoint.size).toBe(c.size);
              expect(toHex(c.rootHash)).toBe(toHex(tree.root(c.size)));
            }
            for (const c of checkpoints) expect(stored.map((s) => s.note)).toContain(c.note);
            for (let i = 1; i < stored.length; i++) {
              const a = stored[i - 1]!;
              const b = stored[i]!;
              if (a.size === 0) continue;
              verifyConsistency(
                a.size,
                b.size,
                await ledger.proveConsistency(a.size, b.size),
                a.rootHash,
                b.rootHash,
              );
            }
          } finally {
            await ledger.close().catch(() => undefined);
            await driver.close();
            await rm(file, { force: true });
            await rm(`${file}-wal`, { force: true });
            await rm(`${file}-shm`, { force: true });
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});
