/**
 * Crash safety: child processes write to (or re-encrypt) a Fortress directory and are killed with
 * SIGKILL at random moments; after every kill the directory is reopened in this process and checked.
 *
 * 1. Writes: every write the child saw acknowledged (logged to an ack file after its promise
 *    resolved) is present with its decrypted values; the one write in flight at the kill is either
 *    wholly present or wholly absent; the tables hold exactly the acknowledged rows (plus the
 *    in-flight ones if they committed); blind-index lookups find exactly the right row.
 * 2. A key rotation's re-encryption job killed mid-way, several times, resumes and finishes: every
 *    row decrypts to what was inserted and sits under the newest version of every data key.
 *
 * The children run the built code (dist/), so `npm run build` must have run (`npm test` does it).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRow } from '../../src/engine/schema/table-schema.js';
import { Fortress } from '../../src/fortress.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WRITER = path.join(HERE, 'fixtures/crash-writer.mjs');
const REENCRYPT = path.join(HERE, 'fixtures/crash-reencrypt.mjs');
const DIST = path.resolve(HERE, '../../dist/src/fortress.js');

const dirs: string[] = [];

beforeAll(() => {
  if (!existsSync(DIST)) {
    throw new Error(`${DIST} is missing: run \`npm run build\` first (\`npm test\` builds through pretest)`);
  }
});

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

interface ChildRun {
  readonly lines: string[];
  readonly stderr: string;
  readonly killed: boolean;
  /** Lines printed before the kill was sent. */
  readonly linesAtKill: string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * Runs `node script ...args`; `delayMs` after the first stdout line starting with 'ready', sends
 * SIGKILL. Resolves when the child is gone (killed or exited by itself).
 */
function runAndKill(script: string, args: string[], delayMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let linesAtKill: string[] = [];
    let partial = '';
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(script)} never got ready: ${lines.join(' | ')} ${stderr}`));
    }, 30_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (timer === undefined && line.startsWith('ready')) {
          timer = setTimeout(() => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            linesAtKill = [...lines];
            killed = child.kill('SIGKILL');
          }, delayMs);
        }
      }
    });
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      if (partial.length > 0) lines.push(partial);
      resolve({ lines, stderr, killed: killed && signal === 'SIGKILL', linesAtKill, code, signal });
    });
  });
}

// ── 1. crash during writes ───────────────────────────────────────────────────────────────────────

type TableName = 'field_rows' | 'row_rows';
const TABLES: readonly TableName[] = ['field_rows', 'row_rows'];

interface Values extends AnyRow {
  email: string;
  payload: string;
  seq: number;
}
interface LoggedRow extends Values {
  id?: string;
  table?: TableName;
}
interface Logged {
  t: 'intent' | 'ack';
  n: number;
  op: 'insert' | 'insertMany' | 'update' | 'transaction';
  table?: TableName;
  rows: LoggedRow[];
}
interface Expected extends Values {
  table: TableName;
}
interface StoredRow extends Values {
  id: string;
}

/** Parses an ack file; only its last line may be unparsable (cut by the kill). */
function parseLog(text: string): Logged[] {
  const lines = text.split('\n');
  const out: Logged[] = [];
  lines.forEach((line, i) => {
    if (line === '') return;
    try {
      out.push(JSON.parse(line) as Logged);
    } catch (error) {
      if (i !== lines.length - 1)
        throw new Error(`ack file line ${i + 1} is corrupt: ${line}`, { cause: error });
    }
  });
  return out;
}

function valuesOf(row: Values): Values {
  return { email: row.email, payload: row.payload, seq: row.seq };
}

describe('crash during writes', () => {
  it('keeps every acknowledged write across ≥ 20 SIGKILLs', { timeout: 120_000 }, async () => {
    const root = await tempDir('fortress-crash-writes-');
    const dir = path.join(root, 'data');
    /** Every row the database must hold, by id: acknowledged writes, plus in-flight ones that committed. */
    const expected = new Map<string, Expected>();
    const ROUNDS = 22;
    let acked = 0;
    let inFlightCommitted = 0;
    let inFlightLost = 0;
    const started = Date.now();

    for (let round = 1; round <= ROUNDS; round++) {
      const ackFile = path.join(root, `ack-${round}.jsonl`);
      const delay = randomInt(150, 900);
      const run = await runAndKill(WRITER, [dir, ackFile, String(round)], delay);
      const context = `round ${round} (kill after ${delay} ms)`;
      expect(run.killed, `${context}: the writer exited by itself: ${run.stderr}`).toBe(true);
      expect(run.stderr, context).toBe('');

      // Replay the log: acknowledged writes are facts; an intent without an ack is in flight.
      const log = parseLog(existsSync(ackFile) ? await readFile(ackFile, 'utf8') : '');
      let pending: Logged | null = null;
      let ackedThisRound = 0;
      const replacedEmails: { table: TableName; email: string }[] = [];
      /** Rows acknowledged this round, in order. */
      const touched: string[] = [];
      for (const entry of log) {
        if (entry.t === 'intent') {
          expect(pending, `${context}: intent ${entry.n} while ${pending?.n} is in flight`).toBeNull();
          pending = entry;
          continue;
        }
        expect(entry.n, `${context}: ack without its intent`).toBe(pending?.n);
        pending = null;
        ackedThisRound++;
        for (const row of entry.rows) {
          const table = entry.table ?? row.table!;
          const before = expected.get(row.id!);
          if (entry.op === 'update') {
            expect(before, `${context}: update of an unknown row ${row.id}`).toBeDefined();
            expect(before!.table).toBe(table);
            replacedEmails.push({ table, email: before!.email });
          } else {
            expect(before, `${context}: insert of an existing id ${row.id}`).toBeUndefined();
          }
          expected.set(row.id!, { table, ...valuesOf(row) });
          touched.push(row.id!);
        }
      }
      acked += ackedThisRound;
      expect(ackedThisRound, `${context}: the writer acknowledged nothing`).toBeGreaterThan(0);

      const db = await Fortress.open({ path: dir, onWarning: () => undefined });
      try {
        // The write in flight at the kill: all of it or none of it.
        if (pending !== null) {
          const rows = pending.rows.map((r) => ({ ...r, table: pending.table ?? r.table! }));
          const found: (StoredRow | undefined)[] = [];
          for (const r of rows) {
            const t = db.table<StoredRow>(r.table);
            if (pending.op === 'insert') {
              const hits = await t.find({ where: { email: r.email } });
              expect(hits.length, `${context}: in-flight insert`).toBeLessThanOrEqual(1);
              found.push(hits[0]);
            } else {
              found.push(await t.get(r.id!));
            }
          }
          if (pending.op === 'update') {
            const r = rows[0]!;
            const stored = found[0];
            const before = expected.get(r.id!);
            expect(before, `${context}: in-flight update of an unknown row`).toBeDefined();
            expect(stored, `${context}: in-flight update lost the row`).toBeDefined();
            const now = valuesOf(stored!);
            if (JSON.stringify(now) === JSON.stringify(valuesOf(r))) {
              inFlightCommitted++;
              replacedEmails.push({ table: r.table, email: before!.email });
              expected.set(r.id!, { table: r.table, ...now });
              touched.push(r.id!);
            } else {
              inFlightLost++;
              expect(now, `${context}: in-flight update left a third state`).toEqual(valuesOf(before!));
            }
          } else {
            const present = found.filter((f) => f !== undefined).length;
            expect([0, rows.length], `${context}: in-flight ${pending.op} partly committed`).toContain(
              present,
            );
            if (present === 0) inFlightLost++;
            else {
              inFlightCommitted++;
              rows.forEach((r, i) => {
                const stored = found[i]!;
                expect(valuesOf(stored), `${context}: in-flight ${pending.op}`).toEqual(valuesOf(r));
                expect(expected.has(stored.id)).toBe(false);
                expected.set(stored.id, { table: r.table, ...valuesOf(stored) });
                touched.push(stored.id);
              });
            }
          }
        }

        // Each table holds exactly the expected rows, every one decrypting to its expected values.
        for (const table of TABLES) {
          const t = db.table<StoredRow>(table);
          const want = new Map([...expected].filter(([, e]) => e.table === table));
          const rows = await t.find();
          const got = new Map(rows.map((r) => [r.id, valuesOf(r)]));
          expect(got.size, `${context}: ${table} row count`).toBe(want.size);
          expect(await t.count(), `${context}: ${table} count()`).toBe(want.size);
          const wrong: string[] = [];
          for (const [id, e] of want) {
            const g = got.get(id);
            if (g?.email !== e.email || g.payload !== e.payload || g.seq !== e.seq) {
              wrong.push(`${id}: ${JSON.stringify(g)} instead of ${JSON.stringify(valuesOf(e))}`);
            }
          }
          expect(wrong.length, `${context}: ${table} rows\n${wrong.slice(0, 10).join('\n')}`).toBe(0);
        }

        // Blind-index lookups: a sample of rows (all of them, and the latest written) is found by its
        // email, and only it.
        const ids = [...expected.keys()];
        const sample = [
          ...touched.slice(-15),
          ...Array.from({ length: 25 }, () => ids[randomInt(0, ids.length - 1)]!),
        ];
        for (const id of sample) {
          const e = expected.get(id)!;
          const hits = await db.table<StoredRow>(e.table).find({ where: { email: e.email } });
          expect(
            hits.map((h) => h.id),
            `${context}: find by email ${e.email}`,
          ).toEqual([id]);
        }
        // An email an update replaced finds nothing any more (emails are never reused).
        for (const { table, email } of replacedEmails.slice(-10)) {
          expect(await db.table(table).find({ where: { email } }), `${context}: stale email`).toEqual([]);
        }
      } finally {
        await db.close();
      }
    }

    const elapsed = Date.now() - started;
    console.log(
      `crash-writes: ${ROUNDS} SIGKILLs, ${acked} acknowledged writes, ${expected.size} rows, ` +
        `in-flight writes committed ${inFlightCommitted} / lost ${inFlightLost}, ${elapsed} ms`,
    );
  });
});

// ── 2. crash during a re-encryption job ──────────────────────────────────────────────────────────

interface Person extends AnyRow {
  id: string;
  email: string;
  ssn: string;
  notes: string;
  age: number;
}

describe('crash during a re-encryption job', () => {
  it('resumes a rotateKeys job killed mid-way and finishes it exactly', { timeout: 120_000 }, async () => {
    const root = await tempDir('fortress-crash-reencrypt-');
    const dir = path.join(root, 'data');
    const marker = path.join(root, 'rotated');
    const ROWS = 20_000;
    const started = Date.now();

    const original = new Map<string, Omit<Person, 'id'>>();
    {
      const db = await Fortress.open({ path: dir, onWarning: () => undefined });
      try {
        const people = await db.createTable('people', {
          columns: {
            id: { type: 'uuid', primaryKey: true },
            email: { type: 'text', encrypt: { search: 'equality' } },
            ssn: { type: 'text', encrypt: true },
            notes: { type: 'text', encrypt: { algorithm: 'aes-256-gcm' } },
            age: { type: 'integer' },
          },
        });
        for (let b = 0; b < ROWS / 1000; b++) {
          const batch = Array.from({ length: 1000 }, (_, j) => {
            const i = b * 1000 + j;
            return { email: `user${i}@example.com`, ssn: `ssn-${i}`, notes: `notes for person ${i}`, age: i };
          });
          const stored = await people.insertMany(batch);
          stored.forEach((row, j) => original.set(row.id, batch[j]!));
        }
      } finally {
        await db.close();
      }
    }
    const seeded = Date.now();

    const runs: string[] = [];
    let kills = 0;
    let midJobKills = 0;
    let finished = false;
    while (kills < 5 && !finished) {
      const delay = randomInt(100, 600);
      const run = await runAndKill(REENCRYPT, [dir, 'people', marker], delay);
      expect(run.stderr).toBe('');
      const last = run.lines.at(-1) ?? '';
      runs.push(`${run.killed ? `killed@${delay}ms` : 'exited'}: ${run.lines[0]} … ${last}`);
      if (run.killed) {
        kills++;
        const beforeKill = run.linesAtKill;
        if (beforeKill.some((l) => l.startsWith('progress')) && !beforeKill.some((l) => l.startsWith('done')))
          midJobKills++;
      } else {
        expect(run.code, runs.join('\n')).toBe(0);
        finished = run.lines.some((l) => l.startsWith('done') || l === 'nothing to do');
      }
    }
    expect(kills, runs.join('\n')).toBeGreaterThanOrEqual(5);
    expect(finished, runs.join('\n')).toBe(false);
    expect(midJobKills, runs.join('\n')).toBeGreaterThanOrEqual(3);
    expect(existsSync(marker), 'the job was never started').toBe(true);
    const killedAt = Date.now();

    // Finish in this process: opening resumes the unfinished job in the background.
    {
      const db = await Fortress.open({ path: dir, onWarning: () => undefined, jobs: { batchSize: 200 } });
      try {
        const jobs = db.jobs().filter((j) => j.table === 'people');
        const jobId = Number((await readFile(marker, 'utf8')).trim());
        expect(
          jobs.map((j) => j.id),
          'the unfinished job resumes on open',
        ).toEqual([jobId]);
        expect(jobs[0]!.processed).toBeLessThan(ROWS);
        const final = await db.job(jobId).done;
        expect(final.state).toBe('done');
        // Each batch commits with its checkpoint, so across all the kills every row was examined
        // and rewritten exactly once.
        expect(final.processed).toBe(ROWS);
        expect(final.rewritten).toBe(ROWS);

        const people = db.table<Person>('people');
        expect(await people.count()).toBe(ROWS);
        const rows = await people.find();
        expect(rows.length).toBe(ROWS);
        for (const row of rows) {
          const { id, ...values } = row;
          expect(values, `row ${id}`).toEqual(original.get(id));
        }
        for (const i of [0, 1, 7777, 19_999]) {
          const hits = await people.find({ where: { email: `user${i}@example.com` } });
          expect(hits.map((h) => h.ssn)).toEqual([`ssn-${i}`]);
        }

        // Every envelope is under the newest version of its column's data key.
        const active = new Map(db.keys.listKeys().map((k) => [k.name, k.activeVersion]));
        const usage = await db.keyUsage('people');
        const schema = db.describeTable('people');
        for (const column of ['email', 'ssn', 'notes']) {
          const entries = usage.filter((u) => u.column === column);
          const key = schema.columns.find((c) => c.name === column)!.encryption!.key;
          expect(entries, `key usage of ${column}: ${JSON.stringify(usage)}`).toEqual([
            { column, key, version: active.get(key), rows: ROWS },
          ]);
          expect(active.get(key)).toBeGreaterThanOrEqual(2);
        }
        expect(usage.length).toBe(3);
      } finally {
        await db.close();
      }
    }

    // The finished job stays finished.
    {
      const db = await Fortress.open({ path: dir, onWarning: () => undefined });
      try {
        expect(db.jobs()).toEqual([]);
        expect(await db.table('people').count()).toBe(ROWS);
      } finally {
        await db.close();
      }
    }
    console.log(
      `crash-reencrypt: seeded ${ROWS} rows in ${seeded - started} ms, ${kills} SIGKILLs (${midJobKills} mid-job) ` +
        `in ${killedAt - seeded} ms, total ${Date.now() - started} ms\n  ${runs.join('\n  ')}`,
    );
  });
});
