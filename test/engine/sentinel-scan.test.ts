/**
 * "Nothing sensitive reaches the disk in plaintext."
 *
 * For every combination of page encryption (off/on) and encryption level (field/row/table), a table
 * with encrypted columns of every type is filled with distinctive sentinel values, some rows are
 * updated and one is deleted, and then every file of the data directory is read as raw bytes — once
 * while the database is still open (so the write-ahead log is not checkpointed) and once after close
 * — and searched for each sensitive value in many encodings (UTF-8, UTF-16, hex, base64, binary
 * integers and floats, …). A plaintext control column proves that the scan finds what is there.
 *
 * A second group encrypts a plaintext column online (`encryptColumn`) and checks that the old
 * plaintext is gone from every file once the job is done and the database closed.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Fortress } from '../../src/fortress.js';

// ── encodings ─────────────────────────────────────────────────────────────────────────────────

/** One way a sensitive value could appear in a file. */
interface Needle {
  /** What it is and how it is encoded, for failure messages. */
  readonly label: string;
  readonly bytes: Buffer;
}

/** A sensitive value as written through the API. */
type Sensitive =
  | { readonly kind: 'text'; readonly value: string }
  | { readonly kind: 'integer'; readonly value: number }
  | { readonly kind: 'real'; readonly value: number }
  | { readonly kind: 'timestamp'; readonly value: Date }
  | { readonly kind: 'json'; readonly value: unknown; readonly inner: readonly string[] }
  | { readonly kind: 'bytes'; readonly value: Buffer }
  | { readonly kind: 'uuid'; readonly value: string };

/**
 * Base64 of `data` as it would appear inside a longer base64 text: the data may start at any offset
 * modulo 3, so for each alignment keep only the complete 4-character groups.
 */
function base64Cores(data: Buffer, alphabet: 'base64' | 'base64url'): Buffer[] {
  const out: Buffer[] = [];
  for (let skip = 0; skip < 3; skip++) {
    const rest = data.subarray(skip);
    const whole = rest.subarray(0, Math.floor(rest.length / 3) * 3);
    const text = whole.toString(alphabet);
    if (text.length >= 12) out.push(Buffer.from(text, 'latin1'));
  }
  return out;
}

function stringNeedles(label: string, text: string): Needle[] {
  const utf8 = Buffer.from(text, 'utf8');
  const utf16be = Buffer.from(text, 'utf16le').swap16();
  const needles: Needle[] = [
    { label: `${label} as UTF-8`, bytes: utf8 },
    { label: `${label} as UTF-16LE`, bytes: Buffer.from(text, 'utf16le') },
    { label: `${label} as UTF-16BE`, bytes: utf16be },
    { label: `${label} as lower-case hex`, bytes: Buffer.from(utf8.toString('hex'), 'latin1') },
    { label: `${label} as upper-case hex`, bytes: Buffer.from(utf8.toString('hex').toUpperCase(), 'latin1') },
  ];
  for (const core of base64Cores(utf8, 'base64')) needles.push({ label: `${label} as base64`, bytes: core });
  for (const core of base64Cores(utf8, 'base64url'))
    needles.push({ label: `${label} as base64url`, bytes: core });
  return needles;
}

function binaryNeedles(label: string, bytes: Buffer): Needle[] {
  const needles: Needle[] = [
    { label: `${label} raw`, bytes },
    { label: `${label} as lower-case hex`, bytes: Buffer.from(bytes.toString('hex'), 'latin1') },
    {
      label: `${label} as upper-case hex`,
      bytes: Buffer.from(bytes.toString('hex').toUpperCase(), 'latin1'),
    },
  ];
  for (const core of base64Cores(bytes, 'base64')) needles.push({ label: `${label} as base64`, bytes: core });
  return needles;
}

/** An integer as SQLite's record format stores it: big-endian in the smallest of 1,2,3,4,6,8 bytes. */
function sqliteIntegerBytes(n: number): Buffer {
  const be = Buffer.alloc(8);
  be.writeBigInt64BE(BigInt(n));
  for (const width of [1, 2, 3, 4, 6]) {
    const limit = 2 ** (8 * width - 1);
    if (n >= -limit && n < limit) return be.subarray(8 - width);
  }
  return be;
}

function integerNeedles(label: string, n: number): Needle[] {
  const be = Buffer.alloc(8);
  be.writeBigInt64BE(BigInt(n));
  const le = Buffer.alloc(8);
  le.writeBigInt64LE(BigInt(n));
  const needles: Needle[] = [
    { label: `${label} as decimal text`, bytes: Buffer.from(String(n), 'utf8') },
    { label: `${label} as decimal UTF-16LE`, bytes: Buffer.from(String(n), 'utf16le') },
    { label: `${label} as int64 BE`, bytes: be },
    { label: `${label} as int64 LE`, bytes: le },
    { label: `${label} as int64 BE hex`, bytes: Buffer.from(be.toString('hex'), 'latin1') },
  ];
  const compact = sqliteIntegerBytes(n);
  if (compact.length >= 4 && compact.length < 8)
    needles.push({ label: `${label} as SQLite ${compact.length}-byte BE integer`, bytes: compact });
  return needles;
}

function needlesOf(label: string, s: Sensitive): Needle[] {
  switch (s.kind) {
    case 'text':
      return stringNeedles(label, s.value);
    case 'integer':
      return integerNeedles(label, s.value);
    case 'real': {
      const be = Buffer.alloc(8);
      be.writeDoubleBE(s.value);
      const le = Buffer.alloc(8);
      le.writeDoubleLE(s.value);
      return [
        { label: `${label} as float64 BE`, bytes: be },
        { label: `${label} as float64 LE`, bytes: le },
        { label: `${label} as decimal text`, bytes: Buffer.from(String(s.value), 'utf8') },
      ];
    }
    case 'timestamp':
      return [
        ...integerNeedles(`${label} (epoch ms)`, s.value.getTime()),
        ...stringNeedles(`${label} (ISO)`, s.value.toISOString()),
      ];
    case 'json':
      return [
        ...stringNeedles(`${label} (JSON text)`, JSON.stringify(s.value)),
        ...s.inner.flatMap((inner, i) => stringNeedles(`${label} (inner string ${i})`, inner)),
      ];
    case 'bytes':
      return binaryNeedles(label, s.value);
    case 'uuid': {
      const raw = Buffer.from(s.value.replaceAll('-', ''), 'hex');
      return [
        ...stringNeedles(label, s.value),
        ...stringNeedles(`${label} (upper case)`, s.value.toUpperCase()),
        { label: `${label} as dashless hex`, bytes: Buffer.from(raw.toString('hex'), 'latin1') },
        ...binaryNeedles(`${label} (16 raw bytes)`, raw),
      ];
    }
  }
}

// ── files ─────────────────────────────────────────────────────────────────────────────────────

/** Every regular file under `dir` (recursively), by relative name. */
async function readAllFiles(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const walk = async (sub: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, sub), { withFileTypes: true })) {
      const relative = path.join(sub, entry.name);
      if (entry.isDirectory()) await walk(relative);
      else if (entry.isFile()) files.set(relative, await readFile(path.join(dir, relative)));
    }
  };
  await walk('');
  return files;
}

interface Hit {
  readonly file: string;
  readonly offset: number;
  readonly label: string;
}

function findHits(files: ReadonlyMap<string, Buffer>, needles: readonly Needle[]): Hit[] {
  const hits: Hit[] = [];
  for (const [file, content] of files) {
    for (const needle of needles) {
      const offset = content.indexOf(needle.bytes);
      if (offset >= 0) hits.push({ file, offset, label: needle.label });
    }
  }
  return hits;
}

function describeHits(hits: readonly Hit[]): string {
  return hits
    .slice(0, 20)
    .map((h) => `${h.label} in ${h.file} at offset ${h.offset}`)
    .join('\n');
}

/** The files of the main database (not keys.db): fortress.db and its WAL and shared-memory files. */
function mainDatabaseFiles(files: ReadonlyMap<string, Buffer>): Map<string, Buffer> {
  return new Map([...files].filter(([name]) => name.startsWith('fortress.db')));
}

// ── fixtures ──────────────────────────────────────────────────────────────────────────────────

const dirs: string[] = [];

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sentinel-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
/** A random safe integer ≥ 2^50: SQLite stores it in 8 bytes, and it is vanishingly unlikely by chance. */
const bigInteger = (): number => 2 ** 50 + randomInt(2 ** 46) * 64 + randomInt(64);

interface SentinelRow {
  txt: string;
  srch: string;
  num: number;
  flt: number;
  flag: boolean;
  at: Date;
  doc: { secret: string; nested: { code: string; n: number } };
  blob: Buffer;
  ref: string;
  plain: number;
}

function sentinelRow(i: number): SentinelRow {
  return {
    txt: `SENTINEL-TEXT-${hex(12)}`,
    srch: `SENTINEL-SRCH-${hex(10)}@example.com`,
    num: bigInteger(),
    flt: 12345.678901 + i + randomInt(1_000_000) / 1e12,
    flag: i % 2 === 0,
    // Far in the past: never equal to a creation timestamp the key store writes now.
    at: new Date(Date.UTC(1987, 2, 14) + randomInt(2 ** 40)),
    doc: {
      secret: `SENTINEL-JSON-${hex(12)}`,
      nested: { code: `SENTINEL-NESTED-${hex(8)}`, n: 918_273_645 + i },
    },
    blob: Buffer.concat([Buffer.from(`SENTINEL-BYTES-${i}-`, 'latin1'), randomBytes(24)]),
    ref: randomUUID(),
    plain: bigInteger(),
  };
}

/** Every sensitive value of a row (the plaintext control column only where the level encrypts it). */
function sensitiveOf(row: SentinelRow, plainIsEncrypted: boolean): [string, Sensitive][] {
  const out: [string, Sensitive][] = [
    ['txt', { kind: 'text', value: row.txt }],
    ['srch', { kind: 'text', value: row.srch }],
    ['num', { kind: 'integer', value: row.num }],
    ['flt', { kind: 'real', value: row.flt }],
    ['at', { kind: 'timestamp', value: row.at }],
    ['doc', { kind: 'json', value: row.doc, inner: [row.doc.secret, row.doc.nested.code] }],
    ['blob', { kind: 'bytes', value: row.blob }],
    ['ref', { kind: 'uuid', value: row.ref }],
  ];
  if (plainIsEncrypted) out.push(['plain', { kind: 'integer', value: row.plain }]);
  return out;
}

type Level = 'field' | 'row' | 'table';

const CONFIGS: { pageEncryption: boolean; level: Level }[] = [false, true].flatMap((pageEncryption) =>
  (['field', 'row', 'table'] as const).map((level) => ({ pageEncryption, level })),
);

describe.each(CONFIGS)('sentinel scan: page encryption $pageEncryption, $level level', (config) => {
  it('no sensitive value appears in any file, open (WAL not checkpointed) or closed', async () => {
    const { pageEncryption, level } = config;
    const dir = await freshDir();
    const suffix = hex(4);
    const tableName = `vault_${suffix}`;
    // Distinctive column names, so the page-encryption check can look for them.
    const names = {
      txt: `txt_${suffix}`,
      srch: `srch_${suffix}`,
      num: `num_${suffix}`,
      flt: `flt_${suffix}`,
      flag: `flag_${suffix}`,
      at: `at_${suffix}`,
      doc: `doc_${suffix}`,
      blob: `blob_${suffix}`,
      ref: `ref_${suffix}`,
      plain: `plain_${suffix}`,
    } as const;
    type Key = keyof typeof names;
    const toStored = (row: Partial<SentinelRow>): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row)) out[names[k as Key]] = v;
      return out;
    };

    const db = await Fortress.open({ path: dir, pageEncryption, onWarning: () => undefined });
    let closed = false;
    try {
      await db.createTable(tableName, {
        encryption: level,
        columns: {
          id: { type: 'uuid', primaryKey: true },
          [names.txt]: { type: 'text', encrypt: true },
          [names.srch]: { type: 'text', encrypt: { search: 'equality' } },
          [names.num]: { type: 'integer', encrypt: { search: 'equality' } },
          [names.flt]: { type: 'real', encrypt: true },
          [names.flag]: { type: 'boolean', encrypt: true },
          [names.at]: { type: 'timestamp', encrypt: true },
          [names.doc]: { type: 'json', encrypt: true },
          [names.blob]: { type: 'bytes', encrypt: true },
          [names.ref]: { type: 'uuid', encrypt: { search: 'equality' } },
          // Plaintext at field and row level; table level encrypts every non-key column.
          [names.plain]: { type: 'integer' },
        },
      });
      const table = db.table(tableName);
      const plainIsEncrypted = level === 'table';

      const written: SentinelRow[] = [];
      const ids: string[] = [];
      // Some rows one by one (one commit each), the rest in one transaction.
      for (let i = 0; i < 3; i++) {
        const row = sentinelRow(i);
        written.push(row);
        ids.push(String((await table.insert(toStored(row)))['id']));
      }
      const batch = [3, 4, 5, 6, 7].map((i) => sentinelRow(i));
      written.push(...batch);
      for (const r of await table.insertMany(batch.map(toStored))) ids.push(String(r['id']));

      // Updates: the old values must not linger in the WAL or in free space either.
      const current = written.map((r) => ({ ...r }));
      for (const i of [0, 4]) {
        const fresh = sentinelRow(100 + i);
        const changes: Partial<SentinelRow> = {
          txt: fresh.txt,
          srch: fresh.srch,
          num: fresh.num,
          doc: fresh.doc,
          blob: fresh.blob,
        };
        await table.update(ids[i]!, toStored(changes));
        written.push(fresh);
        Object.assign(current[i]!, changes);
      }
      await db.transaction(async (tx) => {
        const fresh = sentinelRow(200);
        const changes: Partial<SentinelRow> = { flt: fresh.flt, at: fresh.at, ref: fresh.ref };
        await tx.table(tableName).update(ids[1]!, toStored(changes));
        written.push(fresh);
        Object.assign(current[1]!, changes);
      });
      // A deleted row: its values must be gone too.
      const deleted = 2;
      expect(await table.delete(ids[deleted]!)).toBe(true);

      // The values read back (so the scan is not vacuous: they really were stored).
      for (let i = 0; i < current.length; i++) {
        const got = await table.get(ids[i]!);
        if (i === deleted) {
          expect(got).toBeUndefined();
          continue;
        }
        const want = current[i]!;
        expect(got).toEqual({
          id: ids[i],
          ...toStored({ ...want, blob: Buffer.from(want.blob) }),
        });
      }
      expect((await table.find({ where: { [names.srch]: current[3]!.srch } })).map((r) => r['id'])).toEqual([
        ids[3],
      ]);

      // Every value ever written to an encrypted column — including the overwritten fields of
      // `written` rows that only served as update sources (their unused fields were never stored,
      // which is harmless: they must not appear either).
      const needles: Needle[] = [];
      for (const [i, row] of written.entries()) {
        for (const [column, sensitive] of sensitiveOf(row, plainIsEncrypted))
          needles.push(...needlesOf(`row ${i} ${column}`, sensitive));
      }
      // Control: the plaintext column of live rows (and the primary keys, never encrypted).
      const controlRows = current.filter((_, i) => i !== deleted);
      const controlValues = controlRows.map((r) => sqliteIntegerBytes(r.plain));
      const controlKeys = ids.filter((_, i) => i !== deleted).map((id) => Buffer.from(id, 'utf8'));
      const metadataNeedles: Needle[] = [
        ...stringNeedles('table name', tableName),
        ...Object.values(names).flatMap((name) => stringNeedles(`column name ${name}`, name)),
      ];

      const check = async (phase: string): Promise<void> => {
        const files = await readAllFiles(dir);
        expect([...files.keys()], phase).toContain('fortress.db');
        if (pageEncryption) expect([...files.keys()], phase).toContain('keys.db');
        const hits = findHits(files, needles);
        expect(hits, `${phase}: plaintext found on disk:\n${describeHits(hits)}`).toEqual([]);

        const main = mainDatabaseFiles(files);
        const foundIn = (bytes: Buffer): boolean => [...main.values()].some((c) => c.includes(bytes));
        if (pageEncryption) {
          // Page encryption hides everything: values, keys, schema.
          const plainHits = findHits(main, [
            ...controlValues.map((bytes, i) => ({ label: `plaintext column value ${i}`, bytes })),
            ...controlRows.flatMap((r, i) => integerNeedles(`plaintext column value ${i}`, r.plain)),
            ...controlKeys.map((bytes, i) => ({ label: `primary key ${i}`, bytes })),
            ...metadataNeedles,
          ]);
          expect(
            plainHits,
            `${phase}: found in the page-encrypted database:\n${describeHits(plainHits)}`,
          ).toEqual([]);
        } else {
          // The control: the scan does find what is stored in plaintext.
          for (const key of controlKeys) expect(foundIn(key), `${phase}: primary key in the file`).toBe(true);
          expect(foundIn(Buffer.from(tableName, 'utf8')), `${phase}: table name in the file`).toBe(true);
          for (const [i, bytes] of controlValues.entries()) {
            expect(foundIn(bytes), `${phase}: plaintext column value ${i} in the file`).toBe(
              !plainIsEncrypted,
            );
          }
        }
      };

      // Open: the writes sit in the WAL, not yet folded into the database file.
      const wal = await stat(path.join(dir, 'fortress.db-wal'));
      expect(wal.size).toBeGreaterThan(0);
      await check('open, WAL not checkpointed');

      await db.close();
      closed = true;
      await check('closed, WAL checkpointed');
    } finally {
      if (!closed) await db.close();
    }
  });
});

// ── encryptColumn leaves no plaintext behind ──────────────────────────────────────────────────

describe.each(['field', 'row'] as const)('encryptColumn on a %s-level table', (level) => {
  it('removes the old plaintext from every file once the job is done and the database closed', async () => {
    const dir = await freshDir();
    const db = await Fortress.open({ path: dir, onWarning: () => undefined, jobs: { batchSize: 7 } });
    let closed = false;
    try {
      const table = await db.createTable('people', {
        encryption: level,
        columns: {
          id: { type: 'uuid', primaryKey: true },
          // Plaintext with a SQL index: the value also sits in the index b-tree.
          secret: { type: 'text', index: true },
          note: { type: 'text', encrypt: true },
          age: { type: 'integer' },
        },
      });
      const values = new Map<string, string>();
      const everWritten: string[] = [];
      const rows = Array.from({ length: 30 }, (_, i) => ({
        secret: `SENTINEL-PLAIN-${i}-${hex(12)}`,
        note: `note ${i}`,
        age: 20 + i,
      }));
      for (const r of await table.insertMany(rows)) {
        values.set(r.id, r.secret!);
        everWritten.push(r.secret!);
      }
      const ids = [...values.keys()];
      // Overwritten and deleted plaintext must go too.
      for (const id of ids.slice(0, 3)) {
        const secret = `SENTINEL-PLAIN-UPDATED-${hex(12)}`;
        await table.update(id, { secret });
        values.set(id, secret);
        everWritten.push(secret);
      }
      await table.delete(ids[5]!);
      values.delete(ids[5]!);

      const needles = everWritten.flatMap((s, i) => stringNeedles(`secret ${i}`, s));
      // Control: before encryption the live values are on disk in plaintext.
      const before = await readAllFiles(dir);
      for (const s of values.values()) {
        expect(findHits(before, stringNeedles('live secret', s)).length, 'plaintext before').toBeGreaterThan(
          0,
        );
      }

      const job = await db.encryptColumn('people', 'secret', { search: 'equality' });
      const progress = await job.done;
      expect(progress.state).toBe('done');
      expect(db.describeTable('people').columns.find((c) => c.name === 'secret')!.legacyPlaintext).toBe(
        false,
      );

      // Still readable, and searchable through the new blind index.
      for (const [id, secret] of values) {
        expect((await table.get(id))!.secret).toBe(secret);
      }
      const [someId, someSecret] = [...values][7]!;
      expect((await table.find({ where: { secret: someSecret } })).map((r) => r.id)).toEqual([someId]);

      // While open, after the job: the engine dropped the column and truncated the WAL.
      const open = await readAllFiles(dir);
      const openHits = findHits(open, needles);
      expect(openHits, `open after job.done:\n${describeHits(openHits)}`).toEqual([]);

      await db.close();
      closed = true;
      const after = await readAllFiles(dir);
      const hits = findHits(after, needles);
      expect(hits, `closed after job.done:\n${describeHits(hits)}`).toEqual([]);
    } finally {
      if (!closed) await db.close();
    }
  });
});
