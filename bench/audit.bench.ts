/**
 * @module bench/audit
 * `npm run -s bench -- audit`: the audit ledger, each figure beside a baseline measured in the
 * same run:
 * - appends/s with group commit at 1, 16 and 256 concurrent writers, against raw better-sqlite3
 *   inserting rows of the same size with one commit per 1, 16 and 256 rows;
 * - the cost of auditing on the engine's point-read benchmark: `Fortress` (every read recorded
 *   durably before it returns) against the same engine with no ledger, sequential and with 16
 *   concurrent readers;
 * - inclusion-proof generation (from the stored tree) and verification latency at 10,000,000
 *   entries (100,000 with --quick), against the raw SHA-256 calls a verification needs;
 * - a full `verify` of 1,000,000 entries (50,000 with --quick), against hashing the same entries.
 * Prints JSON.
 */
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AuditLedger } from '../src/audit/ledger/audit-ledger.js';
import { encodeAuditEntry, type AuditRecord } from '../src/audit/entry/audit-entry.js';
import { hashChildren, hashLeaf } from '../src/audit/merkle/merkle-hash.js';
import { MerkleFrontier } from '../src/audit/merkle/merkle-frontier.js';
import { verifyInclusion } from '../src/audit/merkle/merkle-proofs.js';
import { ed25519NoteSigner, type StandardNoteSigner } from '../src/audit/note/signed-note.js';
import { signCheckpoint } from '../src/audit/note/checkpoint.js';
import { verifyLedger } from '../src/audit/verify/ledger-verifier.js';
import { ledgerDdl } from '../src/audit/ledger/ledger-schema.js';
import { SecretKey } from '../src/crypto/memory/secret-key.js';
import { createSigner } from '../src/crypto/signature/signature.js';
import { Fortress } from '../src/fortress.js';
import { SQLITE_SPELLING, SqliteDialect } from '../src/storage/sqlite/sqlite-dialect.js';
import { machineInfo, median, progress, round, target } from './harness.js';
import { openUnauditedEngine } from './unaudited-engine.js';
import { PEOPLE_COLUMNS, personValues } from './people.js';

const require = createRequire(import.meta.url);

interface Statement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
}
interface Database {
  prepare(sql: string): Statement;
  pragma(sql: string): unknown;
  exec(sql: string): void;
  close(): void;
}
type DatabaseConstructor = new (file: string) => Database;

function openRaw(file: string): Database {
  const Sqlite = require('better-sqlite3') as DatabaseConstructor;
  const db = new Sqlite(file);
  // Fortress's settings, so the baseline differs only in what the ledger adds.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -16384');
  db.pragma('secure_delete = ON');
  db.pragma('wal_autocheckpoint = 8192');
  db.pragma(`journal_size_limit = ${8192 * 4096}`);
  return db;
}

function record(i: number): AuditRecord {
  return {
    principal: { type: 'process', id: 'bench', tenant: 'default' },
    action: 'table.get',
    resource: { type: 'table', tenant: 'default', database: 'main', table: 'people' },
    decision: { effect: 'allow', policies: ['builtin:embedded-owner'] },
    outcome: { status: 'ok' },
    requestId: randomUUID(),
    client: null,
    request: `sha256:${'0'.repeat(63)}${i % 10}`,
    details: { rows: [`hmac-sha256:${'a'.repeat(64)}`], rowCount: 1 },
  };
}

function signer(origin: string): StandardNoteSigner {
  return ed25519NoteSigner(origin, createSigner('ed25519', SecretKey.generate(32)));
}

async function openLedger(file: string, origin = 'fortress.bench/audit') {
  const driver = await new SqliteDialect({ path: file, synchronous: 'normal' }).createDriver();
  const s = signer(origin);
  const ledger = await AuditLedger.open({ driver, origin, signers: () => [s], checkpointIntervalMs: 0 });
  return { driver, ledger, signer: s };
}

/** Appends `total` entries from `concurrency` writers; returns entries/s. */
async function appendRate(ledger: AuditLedger, concurrency: number, total: number): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        await ledger.append(record(i));
      }
    }),
  );
  return (total / (performance.now() - start)) * 1000;
}

/** Raw inserts of rows the size of an entry, one commit per `perCommit` rows; returns rows/s. */
function rawRate(db: Database, perCommit: number, total: number, entryBytes: Uint8Array): number {
  const insert = db.prepare(
    'INSERT INTO raw_entries (seq, time, principal, action, resource, decision, outcome, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  let seq = (db.prepare('SELECT coalesce(max(seq), -1) + 1 AS n FROM raw_entries').get() as { n: number }).n;
  const start = performance.now();
  for (let done = 0; done < total; done += perCommit) {
    begin.run();
    for (let i = 0; i < perCommit; i++) {
      insert.run(
        seq++,
        Date.now(),
        'process:bench@default',
        'table.get',
        'default/main/people',
        'allow',
        'ok',
        entryBytes,
      );
    }
    commit.run();
  }
  return (total / (performance.now() - start)) * 1000;
}

async function appendSuite(dir: string, quick: boolean) {
  const results: Record<string, unknown> = {};
  const sample = encodeAuditEntry(record(0), 123456, new Date().toISOString());
  for (const concurrency of [1, 16, 256]) {
    const total = quick ? (concurrency === 1 ? 5_000 : 20_000) : concurrency === 1 ? 20_000 : 200_000;
    const rounds = quick ? 1 : 3;
    const ledgerRates: number[] = [];
    const rawRates: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      progress(`appends: ${concurrency} writers, round ${r + 1}/${rounds}`);
      const { driver, ledger } = await openLedger(path.join(dir, `appends-${concurrency}-${r}.db`));
      const raw = openRaw(path.join(dir, `raw-${concurrency}-${r}.db`));
      raw.exec(ledgerDdl(SQLITE_SPELLING).replaceAll('fx_audit_entries', 'raw_entries'));
      const a = await appendRate(ledger, concurrency, total);
      const b = rawRate(raw, concurrency, total, sample);
      ledgerRates.push(a);
      rawRates.push(b);
      ratios.push(a / b);
      await ledger.close();
      await driver.close();
      raw.close();
    }
    results[`writers${concurrency}`] = {
      entriesPerSec: Math.round(median(ledgerRates)),
      baselineRowsPerSec: Math.round(median(rawRates)),
      baseline: `raw better-sqlite3 insert of a ${sample.length}-byte row, one commit per ${concurrency} row(s)`,
      ratio: round(median(ratios), 3),
    };
  }
  return { entryBytes: sample.length, ...results };
}

/** Point reads for ~`ms`, `concurrency` at a time; returns reads/s. */
async function readRate(
  get: (id: string) => Promise<unknown>,
  ids: readonly string[],
  concurrency: number,
  ms: number,
): Promise<number> {
  let n = 0;
  const end = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const row = await get(ids[(n++ * 7919) % ids.length]!);
        if (row === undefined) throw new Error('missing row');
      }
    }),
  );
  return (n / (performance.now() - start)) * 1000;
}

async function readSuite(dir: string, quick: boolean) {
  const rows = quick ? 10_000 : 100_000;
  const rounds = quick ? 1 : 5;
  const ms = quick ? 300 : 1500;
  progress(`audited reads: loading ${rows} rows twice`);
  const audited = await Fortress.open({
    path: path.join(dir, 'audited'),
    onWarning: () => undefined,
    audit: { checkpointIntervalMs: 60_000 },
  });
  const plain = await openUnauditedEngine(path.join(dir, 'unaudited'));
  const auditedPeople = await audited.createTable('people', { expectedRows: rows, columns: PEOPLE_COLUMNS });
  const plainPeople = await plain.engine.createTable('people', {
    expectedRows: rows,
    columns: PEOPLE_COLUMNS,
  });
  const ids: string[] = [];
  for (let i = 0; i < rows; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, rows - i) }, (_, j) => personValues(i + j));
    for (const row of await auditedPeople.insertMany(batch)) ids.push(row.id);
  }
  // The same ids in the unaudited copy, so both read the same rows.
  for (let i = 0; i < rows; i += 1000) {
    await plainPeople.insertMany(ids.slice(i, i + 1000).map((id, j) => ({ id, ...personValues(i + j) })));
  }
  const out: Record<
    string,
    { auditedReadsPerSec: number; unauditedReadsPerSec: number; ratio: number; rounds: number[] }
  > = {};
  for (const concurrency of [1, 16]) {
    const a: number[] = [];
    const b: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      progress(`audited reads: ${concurrency} reader(s), round ${r + 1}/${rounds}`);
      const first = r % 2 === 0;
      const runPlain = () => readRate((id) => plainPeople.get(id), ids, concurrency, ms);
      const runAudited = () => readRate((id) => auditedPeople.get(id), ids, concurrency, ms);
      const x = first ? await runPlain() : 0;
      const y = await runAudited();
      const z = first ? x : await runPlain();
      a.push(y);
      b.push(z);
      ratios.push(y / z);
    }
    out[concurrency === 1 ? 'sequential' : `concurrent${concurrency}`] = {
      auditedReadsPerSec: Math.round(median(a)),
      unauditedReadsPerSec: Math.round(median(b)),
      ratio: round(median(ratios), 3),
      rounds: ratios.map((x) => round(x, 3)),
    };
  }
  const entries = audited.audit.size;
  await audited.close();
  await plain.close();
  return {
    rows,
    entriesWritten: entries,
    sequential: out['sequential']!,
    concurrent16: out['concurrent16']!,
  };
}

/** A tree of `size` leaves written straight into the node table (entries archived), then proofs. */
async function proofSuite(dir: string, size: number) {
  const file = path.join(dir, 'proofs.db');
  const origin = 'fortress.bench/proofs';
  progress(`proofs: building a ${size.toLocaleString('en')}-leaf tree`);
  const raw = openRaw(file);
  raw.exec(ledgerDdl(SQLITE_SPELLING));
  const insert = raw.prepare('INSERT INTO fx_audit_nodes (level, idx, hash) VALUES (?, ?, ?)');
  const frontier = MerkleFrontier.empty();
  const leafInput = Buffer.alloc(64);
  raw.exec('BEGIN');
  for (let i = 0; i < size; i++) {
    leafInput.writeUInt32BE(i, 0);
    for (const node of frontier.append(hashLeaf(leafInput))) insert.run(node.level, node.index, node.hash);
    if (i % 200_000 === 199_999) {
      raw.exec('COMMIT');
      raw.exec('BEGIN');
      if (i % 2_000_000 === 1_999_999) progress(`proofs: ${(i + 1).toLocaleString('en')} leaves`);
    }
  }
  raw.exec('COMMIT');
  const s = signer(origin);
  const note = signCheckpoint({ origin, size, rootHash: frontier.root() }, [s]);
  raw
    .prepare('INSERT INTO fx_audit_state (id, origin, tree_size, archived) VALUES (1, ?, ?, ?)')
    .run(origin, size, size);
  raw
    .prepare('INSERT INTO fx_audit_checkpoints (size, time, note) VALUES (?, ?, ?)')
    .run(size, Date.now(), note);
  raw.close();
  const driver = await new SqliteDialect({ path: file, synchronous: 'normal' }).createDriver();
  const ledger = await AuditLedger.open({ driver, origin, signers: () => [s], checkpointIntervalMs: 0 });
  const root = frontier.root();
  const generate: number[] = [];
  const verify: number[] = [];
  const samples = 2000;
  for (let k = 0; k < samples; k++) {
    const seq = Math.floor(Math.random() * size);
    const t0 = performance.now();
    const evidence = await ledger.proveInclusion(seq);
    const t1 = performance.now();
    leafInput.writeUInt32BE(seq, 0);
    verifyInclusion(hashLeaf(leafInput), seq, size, evidence.proof, root);
    const t2 = performance.now();
    generate.push(t1 - t0);
    verify.push(t2 - t1);
  }
  // The raw primitive work of one verification: one leaf hash and ~log2(n) node hashes.
  const depth = Math.ceil(Math.log2(size));
  const a = new Uint8Array(32);
  const t0 = performance.now();
  for (let k = 0; k < samples; k++) {
    let h = hashLeaf(leafInput);
    for (let d = 0; d < depth; d++) h = hashChildren(h, a);
  }
  const rawUs = ((performance.now() - t0) / samples) * 1000;
  await ledger.close();
  await driver.close();
  const pct = (list: number[], p: number) =>
    round([...list].sort((x, y) => x - y)[Math.floor(list.length * p)]! * 1000, 1);
  return {
    entries: size,
    proofHashes: depth,
    generateUs: { p50: pct(generate, 0.5), p99: pct(generate, 0.99) },
    verifyUs: { p50: pct(verify, 0.5), p99: pct(verify, 0.99) },
    baselineRawHashesUs: round(rawUs, 1),
    verifyRatioToRawHashes: round(pct(verify, 0.5) / rawUs, 2),
  };
}

async function verifySuite(dir: string, size: number) {
  progress(`verify: appending ${size.toLocaleString('en')} entries`);
  const { driver, ledger, signer: s } = await openLedger(path.join(dir, 'verify.db'));
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < size) {
        const i = next++;
        await ledger.append(record(i));
        if (i % 250_000 === 249_999) await ledger.checkpoint();
      }
    }),
  );
  await ledger.checkpoint();
  await ledger.close();
  progress('verify: full verification');
  const t0 = performance.now();
  const report = await verifyLedger(driver, { verifiers: [s.verifier()] });
  const verifyMs = performance.now() - t0;
  if (!report.ok) throw new Error(`verify failed: ${report.problem?.message}`);
  // Baseline: reading every entry back and hashing it (no parsing, no tree, no node checks).
  const t1 = performance.now();
  for (let from = 0; from < size; from += 4096) {
    const rows = await driver.all<{ entry: Uint8Array }>(
      'SELECT entry FROM fx_audit_entries WHERE seq >= ? AND seq < ?',
      [from, from + 4096],
    );
    for (const row of rows) hashLeaf(row.entry);
  }
  const hashMs = performance.now() - t1;
  await driver.close();
  return {
    entries: size,
    verifySeconds: round(verifyMs / 1000, 2),
    entriesPerSec: Math.round((size / verifyMs) * 1000),
    nodesChecked: report.nodesChecked,
    checkpointsChecked: report.checkpointsChecked,
    baselineReadAndHashSeconds: round(hashMs / 1000, 2),
    ratioToBaseline: round(verifyMs / hashMs, 2),
  };
}

export async function run(options: { quick: boolean }): Promise<object> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-audit-'));
  try {
    const appends = await appendSuite(dir, options.quick);
    const reads = await readSuite(dir, options.quick);
    const proofs = await proofSuite(dir, options.quick ? 100_000 : 10_000_000);
    const verify = await verifySuite(dir, options.quick ? 50_000 : 1_000_000);
    const met = target;
    const byWriters = appends as unknown as Record<string, { entriesPerSec: number }>;
    return {
      suite: 'audit',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: machineInfo(),
      appends,
      reads,
      proofs,
      verify,
      targets: {
        'appends ≥ 50,000/s (256 writers)': met(byWriters['writers256']!.entriesPerSec, 50_000),
        'appends ≥ 50,000/s (16 writers)': met(byWriters['writers16']!.entriesPerSec, 50_000),
        'audited reads ≥ 0.8× unaudited (sequential)': met(reads.sequential.ratio, 0.8),
        'audited reads ≥ 0.8× unaudited (16 readers)': met(reads.concurrent16.ratio, 0.8),
        [`inclusion proof generation p50 ≤ 1 ms at ${proofs.entries.toLocaleString('en')}`]: met(
          proofs.generateUs.p50 / 1000,
          1,
          true,
        ),
        [`inclusion proof verification p50 ≤ 1 ms at ${proofs.entries.toLocaleString('en')}`]: met(
          proofs.verifyUs.p50 / 1000,
          1,
          true,
        ),
        [`full verify of ${verify.entries.toLocaleString('en')} entries ≤ 20 s`]: met(
          verify.verifySeconds,
          20,
          true,
        ),
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
