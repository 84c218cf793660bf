/**
 * @module bench/engine
 * `npm run -s bench -- engine`: the encrypted table engine against plaintext better-sqlite3 on the
 * same schema, measured in the same run: a `people(id, email, ssn, name, age, notes)` table of
 * 100,000 rows with email/ssn/name/notes encrypted (email searchable). Reports ops/s, p50/p99 and
 * the ratio to plaintext for bulk insert, point read, equality lookup and update; data size on disk;
 * a do-it-yourself baseline (node:crypto AES-GCM per field + an HMAC column); and, unless --quick,
 * RSS while inserting and streaming back 1,000,000 rows and the time to re-encrypt them after a
 * rotation. Prints JSON.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { openUnauditedEngine } from './unaudited-engine.js';
import { PEOPLE_COLUMNS, personValues } from './people.js';
import type { EncryptionLevel } from '../src/engine/schema/table-schema.js';
import type { MillionReport } from './engine-million.bench.js';
import { machineInfo, median, progress, round, target, measure, type Latency } from './harness.js';
import { getAead } from '../src/crypto/aead/registry.js';
import { dataKeyMaterial } from '../src/crypto/envelope/data-key.js';
import { EncryptionContext } from '../src/crypto/envelope/encryption-context.js';
import { ENVELOPE_HEADER_LENGTH } from '../src/crypto/envelope/envelope-format.js';
import type { KeyResolver } from '../src/crypto/envelope/envelope.js';

const require = createRequire(import.meta.url);

interface Statement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  raw(toggle?: boolean): Statement;
}
interface Database {
  prepare(sql: string): Statement;
  pragma(sql: string): unknown;
  exec(sql: string): void;
  transaction<T>(fn: () => T): () => T;
  close(): void;
}
type DatabaseConstructor = new (file: string, options?: { readonly?: boolean }) => Database;

interface Person {
  id: string;
  email: string;
  ssn: string;
  name: string;
  age: number;
  notes: string;
}

function person(i: number): Person {
  return { id: randomUUID(), ...personValues(i) };
}

interface Compared {
  fortress: Latency;
  plaintext: Latency;
  ratio: number;
  rounds: number[];
}

/** Interleaved rounds; the ratio is the median of per-round ratios. */
async function compareOps(
  subject: (i: number) => Promise<unknown>,
  baseline: (i: number) => unknown,
  rounds: number,
  ms: number,
): Promise<Compared> {
  const s: Latency[] = [];
  const b: Latency[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      b.push(await measure(baseline, ms));
      s.push(await measure(subject, ms));
    } else {
      s.push(await measure(subject, ms));
      b.push(await measure(baseline, ms));
    }
    ratios.push(s[r]!.opsPerSec / b[r]!.opsPerSec);
  }
  const pick = (list: Latency[]): Latency => {
    const ops = median(list.map((l) => l.opsPerSec));
    return list.reduce((best, l) =>
      Math.abs(l.opsPerSec - ops) < Math.abs(best.opsPerSec - ops) ? l : best,
    );
  };
  return {
    fortress: pick(s),
    plaintext: pick(b),
    ratio: round(median(ratios), 3),
    rounds: ratios.map((r) => round(r, 3)),
  };
}

async function dirSize(dir: string, prefix: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir))
    if (name.startsWith(prefix)) total += (await stat(path.join(dir, name))).size;
  return total;
}

async function openPeople(dir: string, level: EncryptionLevel, expectedRows: number) {
  // The engine itself: the audit ledger's cost is measured by the audit suite.
  const db = await openUnauditedEngine(dir);
  const people = await db.engine.createTable('people', {
    encryption: level,
    expectedRows,
    columns: PEOPLE_COLUMNS,
  });
  return { db, people };
}

function openPlain(file: string): Database {
  const Sqlite = require('better-sqlite3') as DatabaseConstructor;
  const db = new Sqlite(file);
  db.pragma('journal_mode = WAL');
  // The same settings Fortress's SQLite driver uses, so the baseline differs only in encryption.
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -16384');
  db.pragma('wal_autocheckpoint = 8192');
  db.pragma(`journal_size_limit = ${8192 * 4096}`);
  db.exec(
    'CREATE TABLE people (id TEXT PRIMARY KEY, email TEXT, ssn TEXT, name TEXT, age INTEGER, notes TEXT); CREATE INDEX people_email ON people (email)',
  );
  return db;
}

const FIELD_COLUMNS = ['email', 'ssn', 'name', 'notes'] as const;
const PACKED_ROW = `CAST(${FIELD_COLUMNS.map((c) => `coalesce("e_${c}", x'')`).join(' || ')} AS BLOB), ${FIELD_COLUMNS.map((c) => `octet_length("e_${c}")`).join(', ')}`;

/**
 * The floor of a field-level read with this storage layout, to show how close the engine comes to
 * it: the same packed SELECT on Fortress's own file through raw better-sqlite3 (array rows), then
 * the raw XChaCha20-Poly1305 call per value with the real key and associated data, and a UTF-8
 * decode — no argument checks, no async API, no typed rows. `sqlOnly` is the SELECT with no
 * decryption at all: no implementation of this layout can read faster.
 */
function openFloor(file: string, resolve: KeyResolver) {
  const Sqlite = require('better-sqlite3') as DatabaseConstructor;
  const raw = new Sqlite(file, { readonly: true });
  raw.pragma('cache_size = -16384');
  const byId = raw
    .prepare(`SELECT "p_id", "p_age", ${PACKED_ROW} FROM "fx_t_people" WHERE "p_id" = ?`)
    .raw(true);
  const byIndex = raw
    .prepare(`SELECT "p_id", "p_age", ${PACKED_ROW} FROM "fx_t_people" WHERE "b0_email" = ?`)
    .raw(true);
  const aead = getAead('xchacha20-poly1305');
  const contexts = FIELD_COLUMNS.map((column) =>
    EncryptionContext.of({ tenant: 'default', database: 'main', table: 'people', column }).rowScratch(),
  );
  const nonce = new Uint8Array(aead.nonceLength);
  const out = Buffer.alloc(64 * 1024);
  const bodyStart = ENVELOPE_HEADER_LENGTH + aead.nonceLength;
  const decryptRow = (r: unknown[]): Record<string, unknown> => {
    const id = r[0] as string;
    const packed = r[2] as Buffer;
    const row: Record<string, unknown> = { id, age: r[1] };
    let offset = 0;
    for (let c = 0; c < FIELD_COLUMNS.length; c++) {
      const length = r[3 + c] as number;
      const envelope = packed.subarray(offset, offset + length);
      offset += length;
      const key = resolve(envelope.readUInt32BE(2), envelope.readUInt32BE(6), 'xchacha20-poly1305')!;
      const aad = EncryptionContext.aadBuffer(contexts[c]!(id));
      envelope.copy(aad, 0, 0, ENVELOPE_HEADER_LENGTH);
      nonce.set(envelope.subarray(ENVELOPE_HEADER_LENGTH, bodyStart));
      const plainLength = length - bodyStart - aead.tagLength;
      if (
        !aead.decryptInto(
          out.subarray(0, plainLength),
          envelope.subarray(bodyStart),
          aad,
          nonce,
          dataKeyMaterial(key),
        )
      )
        throw new Error('floor: authentication failed');
      row[FIELD_COLUMNS[c]!] = out.toString('utf8', 1, plainLength);
    }
    return row;
  };
  return {
    sqlOnly: (id: string) => byId.get(id),
    get: (id: string) => decryptRow(byId.get(id) as unknown[]),
    sqlOnlyByIndex: (index: number) => byIndex.all(index),
    close: () => {
      raw.close();
    },
  };
}

async function engineSuite(dir: string, rows: number, rounds: number, ms: number, level: EncryptionLevel) {
  const data = Array.from({ length: rows }, (_, i) => person(i));
  const fortressDir = path.join(dir, `fortress-${level}`);
  const { db, people } = await openPeople(fortressDir, level, rows);
  const plainFile = path.join(dir, `plain-${level}.db`);
  const plain = openPlain(plainFile);
  const insertPlain = plain.prepare(
    'INSERT INTO people (id, email, ssn, name, age, notes) VALUES (?, ?, ?, ?, ?, ?)',
  );

  progress(`${level}: bulk insert of ${rows} rows (transactions of 1,000)`);
  let start = performance.now();
  for (let i = 0; i < rows; i += 1000) {
    plain.transaction(() => {
      for (const p of data.slice(i, i + 1000)) insertPlain.run(p.id, p.email, p.ssn, p.name, p.age, p.notes);
    })();
  }
  const plainInsertMs = performance.now() - start;
  start = performance.now();
  const batchTimes: number[] = [];
  for (let i = 0; i < rows; i += 1000) {
    const t0 = performance.now();
    await people.insertMany(data.slice(i, i + 1000));
    batchTimes.push(performance.now() - t0);
  }
  const fortressInsertMs = performance.now() - start;
  batchTimes.sort((a, b) => a - b);
  const insert = {
    fortressRowsPerSec: Math.round((rows / fortressInsertMs) * 1000),
    plaintextRowsPerSec: Math.round((rows / plainInsertMs) * 1000),
    ratio: round(plainInsertMs / fortressInsertMs, 3),
    batchOf1000P50Ms: round(batchTimes[Math.floor(batchTimes.length / 2)]!, 2),
    batchOf1000P99Ms: round(batchTimes[Math.floor(batchTimes.length * 0.99)]!, 2),
  };

  const pick = (i: number): Person => data[(i * 7919) % rows]!;
  progress(`${level}: point reads`);
  const getPlain = plain.prepare('SELECT id, email, ssn, name, age, notes FROM people WHERE id = ?');
  const pointRead = await compareOps(
    async (i) => {
      const row = await people.get(pick(i).id);
      if (row === undefined) throw new Error('missing row');
    },
    (i) => getPlain.get(pick(i).id),
    rounds,
    ms,
  );
  progress(`${level}: equality lookups`);
  const byEmail = plain.prepare('SELECT id, email, ssn, name, age, notes FROM people WHERE email = ?');
  const lookup = await compareOps(
    async (i) => {
      const found = await people.find({ where: { email: pick(i).email } });
      if (found.length !== 1) throw new Error(`expected one row, got ${found.length}`);
    },
    (i) => byEmail.all(pick(i).email),
    rounds,
    ms,
  );
  let floor: object | null = null;
  if (level === 'field') {
    progress('field: the floor of this layout (raw SQL, raw AEAD calls)');
    const raw = openFloor(path.join(fortressDir, 'fortress.db'), db.keys.resolver());
    const codec = await db.engine.codec('people');
    const indexOf = (p: Person): number => codec.indexValues(codec.column('email'), p.email)[0];
    const engineGet = async (i: number) => {
      if ((await people.get(pick(i).id)) === undefined) throw new Error('missing row');
    };
    const engineLookup = async (i: number) => {
      if ((await people.find({ where: { email: pick(i).email } })).length !== 1) throw new Error('lookup');
    };
    const pointVsFloor = await compareOps(engineGet, (i) => raw.get(pick(i).id), rounds, ms);
    const pointVsSql = await compareOps(engineGet, (i) => raw.sqlOnly(pick(i).id), rounds, ms);
    const lookupVsSql = await compareOps(
      engineLookup,
      (i) => raw.sqlOnlyByIndex(indexOf(pick(i))),
      rounds,
      ms,
    );
    raw.close();
    floor = {
      description:
        "the same rows read from Fortress's file with raw better-sqlite3 (packed SELECT, array rows) and, for pointRead, raw XChaCha20-Poly1305 calls with the real keys: the fastest any implementation of this layout can be",
      pointRead: { floorOpsPerSec: pointVsFloor.plaintext.opsPerSec, engineToFloor: pointVsFloor.ratio },
      pointReadSqlOnly: { opsPerSec: pointVsSql.plaintext.opsPerSec, engineToSql: pointVsSql.ratio },
      lookupSqlOnly: {
        description:
          'the blind-index SELECT of every candidate row, index value precomputed, nothing decrypted',
        opsPerSec: lookupVsSql.plaintext.opsPerSec,
        engineToSql: lookupVsSql.ratio,
      },
    };
  }
  progress(`${level}: updates`);
  const updatePlain = plain.prepare('UPDATE people SET notes = ? WHERE id = ?');
  const update = await compareOps(
    (i) => people.update(pick(i).id, { notes: `updated ${i}` }),
    (i) => updatePlain.run(`updated ${i}`, pick(i).id),
    rounds,
    ms,
  );
  plain.pragma('wal_checkpoint(TRUNCATE)');
  plain.close();
  await db.close();
  const fortressBytes = await dirSize(fortressDir, 'fortress.db');
  const plainBytes = await dirSize(dir, `plain-${level}.db`);
  return {
    level,
    rows,
    insert,
    pointRead,
    equalityLookup: lookup,
    floor,
    update,
    sizeOnDisk: { fortressBytes, plaintextBytes: plainBytes, ratio: round(fortressBytes / plainBytes, 3) },
  };
}

/** The do-it-yourself approach: node:crypto AES-256-GCM per field and an HMAC column for email. */
async function diySuite(dir: string, rows: number, rounds: number, ms: number) {
  const Sqlite = require('better-sqlite3') as DatabaseConstructor;
  const db = new Sqlite(path.join(dir, 'diy.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -16384');
  db.exec(
    'CREATE TABLE people (id TEXT PRIMARY KEY, email BLOB, email_mac BLOB, ssn BLOB, name BLOB, age INTEGER, notes BLOB); CREATE INDEX people_mac ON people (email_mac)',
  );
  const plain = openPlain(path.join(dir, 'diy-plain.db'));
  const key = randomBytes(32);
  const macKey = randomBytes(32);
  const seal = (text: string, aad: string): Buffer => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, ct, cipher.getAuthTag()]);
  };
  const open = (blob: Buffer, aad: string): string => {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(blob.subarray(blob.length - 16));
    return Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]).toString(
      'utf8',
    );
  };
  const data = Array.from({ length: rows }, (_, i) => person(i));
  const insert = db.prepare('INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insertPlain = plain.prepare('INSERT INTO people VALUES (?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const p of data) {
      insert.run(
        p.id,
        seal(p.email, p.id),
        createHmac('sha256', macKey).update(p.email).digest(),
        seal(p.ssn, p.id),
        seal(p.name, p.id),
        p.age,
        seal(p.notes, p.id),
      );
    }
  })();
  plain.transaction(() => {
    for (const p of data) insertPlain.run(p.id, p.email, p.ssn, p.name, p.age, p.notes);
  })();
  const get = db.prepare('SELECT * FROM people WHERE id = ?');
  const getPlain = plain.prepare('SELECT * FROM people WHERE id = ?');
  const pick = (i: number): Person => data[(i * 7919) % rows]!;
  const pointRead = await compareOps(
    (i) => {
      const row = get.get(pick(i).id) as Record<string, Buffer | string | number>;
      const id = row['id'] as string;
      for (const c of ['email', 'ssn', 'name', 'notes']) open(row[c] as Buffer, id);
      return Promise.resolve();
    },
    (i) => getPlain.get(pick(i).id),
    rounds,
    ms,
  );
  db.close();
  plain.close();
  return {
    description: 'node:crypto AES-256-GCM per field + HMAC-SHA256 email column, synchronous',
    pointRead,
  };
}

/**
 * The million-row run happens in a child process of its own, so its RSS is the engine's alone (not
 * the high-water mark of the suites before it).
 */
function millionSuite(dir: string, rows: number): MillionReport {
  const script = fileURLToPath(new URL('./engine-million.bench.js', import.meta.url));
  const output = execFileSync(process.execPath, [script, dir, String(rows)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(output) as MillionReport;
}

export async function run(options: { quick: boolean }): Promise<object> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-engine-'));
  const rows = options.quick ? 10_000 : 100_000;
  const rounds = options.quick ? 1 : 5;
  const ms = options.quick ? 200 : 1000;
  try {
    const field = await engineSuite(dir, rows, rounds, ms, 'field');
    const row = await engineSuite(dir, rows, rounds, ms, 'row');
    const diy = await diySuite(dir, options.quick ? 5_000 : 20_000, rounds, ms);
    const million = options.quick ? null : millionSuite(dir, 1_000_000);
    const met = (value: number, goal: number) => target(value, goal);
    return {
      suite: 'engine',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: machineInfo(),
      field,
      row,
      diy,
      million,
      targets: {
        'point read ≥ 60,000/s (field level)': met(field.pointRead.fortress.opsPerSec, 60_000),
        'point read stretch ≥ 100,000/s (row level)': met(row.pointRead.fortress.opsPerSec, 100_000),
        'equality lookup ≥ 50,000/s': met(field.equalityLookup.fortress.opsPerSec, 50_000),
        'insert ≥ 40,000 rows/s': met(field.insert.fortressRowsPerSec, 40_000),
        'update ≥ 25,000/s': met(field.update.fortress.opsPerSec, 25_000),
        'point read ≥ 0.5× plaintext': met(field.pointRead.ratio, 0.5),
        'equality lookup ≥ 0.5× plaintext': met(field.equalityLookup.ratio, 0.5),
        ...(million === null
          ? {}
          : {
              'RSS < 256 MiB over 1M rows': {
                value: million.maxRssMiB,
                target: 256,
                met: million.maxRssMiB < 256,
              },
              're-encrypt 1M rows < 60 s': {
                value: million.reencryptSeconds,
                target: 60,
                met: million.reencryptSeconds < 60,
              },
            }),
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
