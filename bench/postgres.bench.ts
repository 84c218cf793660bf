/**
 * @module bench/postgres
 * `npm run -s bench -- postgres`: Fortress on PostgreSQL against two baselines on the same server,
 * measured in the same run, each in a fresh `fx_bench_<random>` schema that is dropped at the end
 * (also on failure):
 * - Fortress: the engine suite's `people` table (email searchable, ssn/name/notes encrypted, age
 *   plaintext) through the unaudited engine (storage + crypto cost), and the point read and lookup
 *   through `Fortress.open()` as well — the real default, every read durable in the audit ledger;
 * - plain PostgreSQL: the same columns in plaintext, email under a B-tree index;
 * - PostgreSQL + pgcrypto: `pgp_sym_encrypt` per field and an `hmac(email, key, 'sha256')` column
 *   under an index, decrypted server-side with `pgp_sym_decrypt`.
 * The baselines run through Fortress's own PostgreSQL driver (`?` SQL, named prepared statements,
 * the same `pg` pool), so the client layer is the same for all three.
 *
 * PostgreSQL is another process: one caller at a time would measure round trips, not throughput.
 * Reads are timed with {@link CONCURRENCY} operations in flight, and each figure carries the CPU it
 * cost per operation in this Node process and, when the server runs on this machine, in PostgreSQL
 * (from /proc). Bulk inserts load 1,000 rows per transaction, batch b into every system in turn.
 * Then the cluster section (bench/postgres-cluster.bench.ts), under `cluster`. Prints JSON.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Fortress, type StorageOption } from '../src/fortress.js';
import type { SqlValue, StorageDriver } from '../src/storage/dialect.js';
import { PostgresDialect } from '../src/storage/postgres/postgres-dialect.js';
import { machineInfo, median, progress, round, target, type Latency } from './harness.js';
import { PEOPLE_COLUMNS, personValues } from './people.js';
import { run as runCluster } from './postgres-cluster.bench.js';
import { openUnauditedEngine } from './unaudited-engine.js';

const envUrl = process.env['FORTRESS_BENCH_PG_URL'];
/** The server measured: FORTRESS_BENCH_PG_URL, by default the local test server. */
const PG_URL = envUrl === undefined || envUrl === '' ? 'postgres://postgres@127.0.0.1:5432/test' : envUrl;

/** Operations in flight while reads are timed. */
const CONCURRENCY = 16;
/** Rows per insertMany call / per baseline transaction. */
const BATCH = 1000;
/** The pgcrypto baseline's key: a bench constant, bound as a parameter like any other value. */
const PGCRYPTO_KEY = 'fortress-bench-pgcrypto-key-0001';
/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

interface Person {
  id: string;
  email: string;
  ssn: string;
  name: string;
  age: number;
  notes: string;
}

/** A row as read back: every column may be null to the type system (none is, here). */
type PersonRow = { readonly [K in keyof Person]: Person[K] | null };

const FIELDS = ['id', 'email', 'ssn', 'name', 'age', 'notes'] as const;

/** One system under test, behind the operations every system offers. */
interface Subject {
  insertBatch(rows: readonly Person[]): Promise<void>;
  get(id: string): Promise<PersonRow | undefined>;
  findByEmail(email: string): Promise<PersonRow[]>;
}

/** The slice of a Fortress table handle the bench calls. */
interface PeopleTable {
  insertMany(rows: Person[]): Promise<unknown>;
  get(id: string): Promise<PersonRow | undefined>;
  find(query: { where: { email: string } }): Promise<PersonRow[]>;
}

function tableSubject(table: PeopleTable): Subject {
  return {
    insertBatch: async (rows) => {
      await table.insertMany([...rows]);
    },
    get: (id) => table.get(id),
    findByEmail: (email) => table.find({ where: { email } }),
  };
}

// --- schemas -----------------------------------------------------------------------------------

/** Fresh schemas on the server, and everything to close before they are dropped. */
class Scratch {
  readonly admin: StorageDriver;
  readonly #schemas: string[] = [];
  readonly #closers: (() => Promise<void>)[] = [];

  constructor(admin: StorageDriver) {
    this.admin = admin;
  }

  async schema(): Promise<string> {
    const name = `fx_bench_${randomBytes(6).toString('hex')}`;
    await this.admin.exec(`CREATE SCHEMA ${name}`);
    this.#schemas.push(name);
    return name;
  }

  async driver(schema: string): Promise<StorageDriver> {
    const driver = await new PostgresDialect({ url: PG_URL, schema }).createDriver();
    this.onClose(() => driver.close());
    return driver;
  }

  /** Fresh statistics for every table of these schemas (the planner's view after a bulk load). */
  async analyze(): Promise<void> {
    for (const schema of this.#schemas) {
      const tables = await this.admin.all<{ name: string }>(
        'SELECT tablename AS name FROM pg_tables WHERE schemaname = ?',
        [schema],
      );
      for (const { name } of tables) await this.admin.exec(`ANALYZE ${schema}."${name}"`);
    }
  }

  onClose(close: () => Promise<void>): void {
    this.#closers.push(close);
  }

  /** Closes every pool (newest first), drops every schema, then closes the admin connection. */
  async cleanup(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) await close().catch(() => undefined);
    for (const name of this.#schemas.splice(0)) {
      await this.admin.exec(`DROP SCHEMA IF EXISTS ${name} CASCADE`).catch((error: unknown) => {
        progress(`could not drop schema ${name}: ${String(error)}`);
      });
    }
    await this.admin.close();
  }
}

// --- CPU ---------------------------------------------------------------------------------------

interface CpuSample {
  /** µs of CPU per pid: this database's client backends. */
  readonly backends: Map<number, number>;
  /** µs of CPU per pid: every process named postgres (walwriter, checkpointer… too). */
  readonly all: Map<number, number>;
}

/** utime + stime of a process in µs, and its command name; undefined once it is gone. */
async function procStat(pid: number): Promise<{ comm: string; cpuUs: number } | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name sits in parentheses and may hold spaces: count fields from the last ')'.
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  // Fields 14 and 15 (utime, stime); fields[0] is field 3.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { comm: stat.slice(stat.indexOf('(') + 1, close), cpuUs: (ticks * 1e6) / CLOCK_TICKS };
}

/**
 * PostgreSQL's CPU time, when its processes are visible here (the server runs on this machine and
 * /proc exists): backends from pg_stat_activity, all processes by name. Connections that end
 * during a window take their CPU with them (the pools keep theirs for 30 s idle: none do).
 */
class PgCpu {
  readonly #admin: StorageDriver;
  readonly available: boolean;

  private constructor(admin: StorageDriver, available: boolean) {
    this.#admin = admin;
    this.available = available;
  }

  static async open(admin: StorageDriver): Promise<PgCpu> {
    const row = await admin.get<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const own = row === undefined ? undefined : await procStat(row.pid);
    return new PgCpu(admin, own?.comm === 'postgres');
  }

  async sample(): Promise<CpuSample | null> {
    if (!this.available) return null;
    const rows = await this.#admin.all<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    );
    const backendPids = new Set(rows.map((r) => r.pid));
    const backends = new Map<number, number>();
    const all = new Map<number, number>();
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      const stat = await procStat(pid);
      if (stat?.comm !== 'postgres') continue;
      all.set(pid, stat.cpuUs);
      if (backendPids.has(pid)) backends.set(pid, stat.cpuUs);
    }
    return { backends, all };
  }

  /** CPU µs spent since `before` (a process new since then counts from its start). */
  static spent(before: CpuSample | null, after: CpuSample | null): { backends: number; all: number } | null {
    if (before === null || after === null) return null;
    const sum = (b: Map<number, number>, a: Map<number, number>): number => {
      let total = 0;
      for (const [pid, us] of a) total += us - (b.get(pid) ?? 0);
      return total;
    };
    return { backends: sum(before.backends, after.backends), all: sum(before.all, after.all) };
  }
}

/** CPU per operation (µs): this Node process, and PostgreSQL's backends / all its processes. */
interface CpuPerOp {
  nodeCpuUsPerOp: number;
  pgBackendCpuUsPerOp: number | null;
  pgAllCpuUsPerOp: number | null;
}

async function withCpu<T>(pg: PgCpu, fn: () => Promise<T>, opsOf: (result: T) => number) {
  const pgBefore = await pg.sample();
  const nodeBefore = process.cpuUsage();
  const result = await fn();
  const node = process.cpuUsage(nodeBefore);
  const spent = PgCpu.spent(pgBefore, await pg.sample());
  const ops = opsOf(result);
  const cpu: CpuPerOp = {
    nodeCpuUsPerOp: round((node.user + node.system) / ops, 1),
    pgBackendCpuUsPerOp: spent === null ? null : round(spent.backends / ops, 1),
    pgAllCpuUsPerOp: spent === null ? null : round(spent.all / ops, 1),
  };
  return { result, cpu };
}

// --- timing ------------------------------------------------------------------------------------

type Timed = Latency & CpuPerOp;

/** {@link CONCURRENCY} callers run `op` for about `ms` (after a warm-up); each call is timed. */
async function measureConcurrent(op: (i: number) => Promise<void>, ms: number, pg: PgCpu): Promise<Timed> {
  let next = 0;
  const callers = async (until: number, samples: number[] | null): Promise<void> => {
    const loop = async (): Promise<void> => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await op(next++);
        samples?.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  };
  await callers(performance.now() + Math.min(500, ms / 4), null);
  const { result, cpu } = await withCpu(
    pg,
    async () => {
      const samples: number[] = [];
      const start = performance.now();
      await callers(start + ms, samples);
      return { samples, elapsed: performance.now() - start };
    },
    (r) => r.samples.length,
  );
  const samples = result.samples.sort((a, b) => a - b);
  return {
    opsPerSec: Math.round((samples.length / result.elapsed) * 1000),
    p50Us: round(samples[Math.floor(samples.length * 0.5)]! * 1000, 1),
    p99Us: round(samples[Math.floor(samples.length * 0.99)]! * 1000, 1),
    ...cpu,
  };
}

interface Compared<K extends string> {
  /** Per system: the round closest to the median rate. */
  readonly figures: Record<K, Timed>;
  /** Per system: ops/s of each round. */
  readonly rounds: Record<K, number[]>;
  /** Median over rounds of the per-round ratio a/b, and the per-round ratios. */
  ratio(a: K, b: K): { ratio: number; rounds: number[] };
}

/** Interleaved rounds of every system; the order rotates each round. */
async function compareAll<K extends string>(
  ops: Record<K, (i: number) => Promise<void>>,
  rounds: number,
  ms: number,
  pg: PgCpu,
  label: string,
): Promise<Compared<K>> {
  const names = Object.keys(ops) as K[];
  const runs = Object.fromEntries(names.map((n) => [n, [] as Timed[]])) as Record<K, Timed[]>;
  for (let r = 0; r < rounds; r++) {
    progress(`${label}: round ${r + 1}/${rounds}`);
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length]!;
      runs[name].push(await measureConcurrent(ops[name], ms, pg));
    }
  }
  const pick = (list: Timed[]): Timed => {
    const ops = median(list.map((l) => l.opsPerSec));
    return list.reduce((best, l) =>
      Math.abs(l.opsPerSec - ops) < Math.abs(best.opsPerSec - ops) ? l : best,
    );
  };
  return {
    figures: Object.fromEntries(names.map((n) => [n, pick(runs[n])])) as Record<K, Timed>,
    rounds: Object.fromEntries(names.map((n) => [n, runs[n].map((t) => t.opsPerSec)])) as Record<K, number[]>,
    ratio: (a, b) => {
      const per = runs[a].map((t, r) => t.opsPerSec / runs[b][r]!.opsPerSec);
      return { ratio: round(median(per), 3), rounds: per.map((x) => round(x, 3)) };
    },
  };
}

/**
 * Loads `data` into every system in batches, interleaved: batch b goes into each system in turn
 * (the order rotating), so drift in the machine's speed falls on all of them alike. Rows/s over
 * the time spent in the batches themselves; CPU per row from samples around each batch.
 */
async function bulkInsert<K extends string>(
  subjects: Record<K, Subject>,
  data: readonly Person[],
  pg: PgCpu,
) {
  const names = Object.keys(subjects) as K[];
  const totals = names.map(() => ({ batches: [] as number[], node: 0, pgBackend: 0, pgAll: 0 }));
  for (let b = 0; b * BATCH < data.length; b++) {
    const batch = data.slice(b * BATCH, (b + 1) * BATCH);
    for (let k = 0; k < names.length; k++) {
      const n = (b + k) % names.length;
      const { result, cpu } = await withCpu(
        pg,
        async () => {
          const t0 = performance.now();
          await subjects[names[n]!].insertBatch(batch);
          return performance.now() - t0;
        },
        () => 1,
      );
      const total = totals[n]!;
      total.batches.push(result);
      total.node += cpu.nodeCpuUsPerOp;
      total.pgBackend += cpu.pgBackendCpuUsPerOp ?? 0;
      total.pgAll += cpu.pgAllCpuUsPerOp ?? 0;
    }
  }
  const perRow = (us: number) => round(us / data.length, 1);
  return Object.fromEntries(
    names.map((name, n) => {
      const { batches, node, pgBackend, pgAll } = totals[n]!;
      const elapsed = batches.reduce((a, x) => a + x, 0);
      batches.sort((a, x) => a - x);
      return [
        name,
        {
          rowsPerSec: Math.round((data.length / elapsed) * 1000),
          seconds: round(elapsed / 1000, 1),
          batchOf1000P50Ms: round(batches[Math.floor(batches.length / 2)]!, 1),
          batchOf1000P99Ms: round(batches[Math.floor(batches.length * 0.99)]!, 1),
          nodeCpuUsPerRow: perRow(node),
          pgBackendCpuUsPerRow: pg.available ? perRow(pgBackend) : null,
          pgAllCpuUsPerRow: pg.available ? perRow(pgAll) : null,
        },
      ];
    }),
  ) as Record<K, InsertFigures>;
}

interface InsertFigures {
  rowsPerSec: number;
  seconds: number;
  batchOf1000P50Ms: number;
  batchOf1000P99Ms: number;
  nodeCpuUsPerRow: number;
  pgBackendCpuUsPerRow: number | null;
  pgAllCpuUsPerRow: number | null;
}

// --- the baselines -----------------------------------------------------------------------------

const COLUMNS = 'id, email, ssn, name, age, notes';

function toPerson(row: Record<string, unknown>): PersonRow {
  const out: Record<string, unknown> = {};
  for (const field of FIELDS) out[field] = row[field];
  return out as PersonRow;
}

/** Plain PostgreSQL: the same table in plaintext, email under a B-tree index. */
async function plainSubject(driver: StorageDriver, idType: string): Promise<Subject> {
  await driver.exec(
    `CREATE TABLE people (id ${idType} PRIMARY KEY, email TEXT, ssn TEXT, name TEXT, age INTEGER, notes TEXT); CREATE INDEX people_email ON people (email)`,
  );
  const insert = `INSERT INTO people (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`;
  return {
    insertBatch: (rows) =>
      driver.transaction(async (tx) => {
        await tx.runBatch(
          insert,
          rows.map((p) => [p.id, p.email, p.ssn, p.name, p.age, p.notes]),
        );
      }),
    get: async (id) => {
      const row = await driver.get<Record<string, unknown>>(`SELECT ${COLUMNS} FROM people WHERE id = ?`, [
        id,
      ]);
      return row === undefined ? undefined : toPerson(row);
    },
    findByEmail: async (email) =>
      (
        await driver.all<Record<string, unknown>>(`SELECT ${COLUMNS} FROM people WHERE email = ?`, [email])
      ).map(toPerson),
  };
}

/**
 * PostgreSQL + pgcrypto: every sensitive field `pgp_sym_encrypt(value, key)` (bytea), email also
 * as `hmac(email, key, 'sha256')` under an index; reads decrypt server-side. `fn` qualifies the
 * extension's functions with the schema it lives in.
 */
async function pgcryptoSubject(driver: StorageDriver, idType: string, fn: string): Promise<Subject> {
  await driver.exec(
    `CREATE TABLE people (id ${idType} PRIMARY KEY, email BYTEA, email_hmac BYTEA, ssn BYTEA, name BYTEA, age INTEGER, notes BYTEA); CREATE INDEX people_email_hmac ON people (email_hmac)`,
  );
  const seal = `${fn}.pgp_sym_encrypt(?::text, ?::text)`;
  const insert = `INSERT INTO people (id, email, email_hmac, ssn, name, age, notes) VALUES (?, ${seal}, ${fn}.hmac(?::text, ?::text, 'sha256'), ${seal}, ${seal}, ?, ${seal})`;
  const open = (column: string) => `${fn}.pgp_sym_decrypt(${column}, ?::text) AS ${column}`;
  const select = `SELECT id, ${open('email')}, ${open('ssn')}, ${open('name')}, age, ${open('notes')} FROM people`;
  const k = PGCRYPTO_KEY;
  const keys: SqlValue[] = [k, k, k, k];
  return {
    insertBatch: (rows) =>
      driver.transaction(async (tx) => {
        await tx.runBatch(
          insert,
          rows.map((p) => [p.id, p.email, k, p.email, k, p.ssn, k, p.name, k, p.age, p.notes, k]),
        );
      }),
    get: async (id) => {
      const row = await driver.get<Record<string, unknown>>(`${select} WHERE id = ?`, [...keys, id]);
      return row === undefined ? undefined : toPerson(row);
    },
    findByEmail: async (email) =>
      (
        await driver.all<Record<string, unknown>>(
          `${select} WHERE email_hmac = ${fn}.hmac(?::text, ?::text, 'sha256')`,
          [...keys, email, k],
        )
      ).map(toPerson),
  };
}

/** Where pgcrypto lives: an existing installation, or one created in `schema` (dropped with it). */
async function pgcryptoSchema(admin: StorageDriver, schema: string): Promise<{ fn: string; note: string }> {
  const find = () =>
    admin.get<{ schema: string }>(
      "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'",
    );
  let found = await find();
  let note = `pgcrypto already installed in schema ${found?.schema ?? ''}; used there`;
  if (found === undefined) {
    await admin.exec(`CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA ${schema}`);
    found = await find();
    note = "pgcrypto created in the pgcrypto baseline's schema (dropped with it)";
  }
  if (found === undefined) throw new Error('pgcrypto could not be installed');
  return { fn: `"${found.schema}"`, note };
}

// --- the suite ---------------------------------------------------------------------------------

function same(a: PersonRow | undefined, b: Person): boolean {
  return a !== undefined && FIELDS.every((f) => a[f] === b[f]);
}

/** Before anything is timed: every system reads back the right rows. */
async function verify(subjects: Record<string, Subject>, data: readonly Person[]): Promise<void> {
  const probes = [0, 1, data.length >> 1, data.length - 1].map((i) => data[i]!);
  for (const [name, subject] of Object.entries(subjects)) {
    for (const expected of probes) {
      if (!same(await subject.get(expected.id), expected)) {
        throw new Error(`${name}: the point read of ${expected.id} did not return its row`);
      }
      const found = await subject.findByEmail(expected.email);
      if (found.length !== 1 || !same(found[0], expected)) {
        throw new Error(
          `${name}: the lookup of ${expected.email} found ${found.length} rows, not exactly its own`,
        );
      }
    }
    if ((await subject.get(randomUUID())) !== undefined) throw new Error(`${name}: a missing id was found`);
    if ((await subject.findByEmail('nobody@example.com')).length !== 0) {
      throw new Error(`${name}: a missing email was found`);
    }
  }
}

async function runComparison(options: { quick: boolean }): Promise<object> {
  const rows = options.quick ? 5_000 : 100_000;
  const rounds = options.quick ? 1 : 3;
  const ms = options.quick ? 1000 : 2000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-postgres-'));
  const scratch = new Scratch(await new PostgresDialect({ url: PG_URL, max: 1 }).createDriver());
  try {
    const admin = scratch.admin;
    const server = await admin.get<{ version: string; sharedBuffers: string; synchronousCommit: string }>(
      'SELECT version() AS version, current_setting(\'shared_buffers\') AS "sharedBuffers", current_setting(\'synchronous_commit\') AS "synchronousCommit"',
    );
    const pg = await PgCpu.open(admin);
    const data: Person[] = Array.from({ length: rows }, (_, i) => ({ id: randomUUID(), ...personValues(i) }));

    // Fortress: the engine without the ledger, and the audited default, each in a schema of its own.
    const storageIn = (schema: string): StorageOption => ({ kind: 'postgres', url: PG_URL, schema });
    const engineSchema = await scratch.schema();
    const engine = await openUnauditedEngine(path.join(dir, 'unaudited'), storageIn(engineSchema));
    scratch.onClose(() => engine.close());
    const fortress = tableSubject(
      await engine.engine.createTable('people', {
        expectedRows: rows,
        columns: PEOPLE_COLUMNS,
      }),
    );
    const audited = await Fortress.open({
      path: path.join(dir, 'audited'),
      storage: storageIn(await scratch.schema()),
      onWarning: () => undefined,
    });
    scratch.onClose(() => audited.close());
    const fortressAudited = tableSubject(
      await audited.createTable('people', {
        expectedRows: rows,
        columns: PEOPLE_COLUMNS,
      }),
    );
    // The baselines' key column: the type Fortress gave its own (the same shape, the same index).
    const idType = await admin.get<{ type: string; collation: string | null }>(
      "SELECT format_type(a.atttypid, a.atttypmod) AS type, c.collname AS collation FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace LEFT JOIN pg_collation c ON c.oid = a.attcollation AND a.attcollation <> 100 WHERE n.nspname = ? AND t.relname = 'fx_t_people' AND a.attname = 'p_id'",
      [engineSchema],
    );
    if (idType === undefined) throw new Error("Fortress's people table was not found where expected");
    const idColumn = `${idType.type}${idType.collation === null ? '' : ` COLLATE "${idType.collation}"`}`;
    const plain = await plainSubject(await scratch.driver(await scratch.schema()), idColumn);
    const cryptoSchema = await scratch.schema();
    const { fn, note: pgcryptoNote } = await pgcryptoSchema(admin, cryptoSchema);
    const pgcrypto = await pgcryptoSubject(await scratch.driver(cryptoSchema), idColumn, fn);

    progress(`bulk insert of ${rows} rows into each system (batches of ${BATCH}, interleaved)`);
    const insert = await bulkInsert({ fortress, fortressAudited, plain, pgcrypto }, data, pg);
    await scratch.analyze();

    progress('verifying every system reads back the right rows');
    await verify({ fortress, fortressAudited, plain, pgcrypto }, data);

    const pick = (i: number): Person => data[(i * 7919) % rows]!;
    const point = (s: Subject) => async (i: number) => {
      if ((await s.get(pick(i).id)) === undefined) throw new Error('missing row');
    };
    const lookup = (s: Subject) => async (i: number) => {
      const found = await s.findByEmail(pick(i).email);
      if (found.length !== 1) throw new Error(`expected one row, got ${found.length}`);
    };
    const reads = await compareAll(
      {
        fortress: point(fortress),
        fortressAudited: point(fortressAudited),
        plain: point(plain),
        pgcrypto: point(pgcrypto),
      },
      rounds,
      ms,
      pg,
      'point reads',
    );
    const lookups = await compareAll(
      {
        fortress: lookup(fortress),
        fortressAudited: lookup(fortressAudited),
        plain: lookup(plain),
        pgcrypto: lookup(pgcrypto),
      },
      rounds,
      ms,
      pg,
      'equality lookups',
    );
    const ratios = (c: Compared<'fortress' | 'fortressAudited' | 'plain' | 'pgcrypto'>) => ({
      fortressToPlain: c.ratio('fortress', 'plain'),
      fortressToPgcrypto: c.ratio('fortress', 'pgcrypto'),
      auditedToPlain: c.ratio('fortressAudited', 'plain'),
      auditedToPgcrypto: c.ratio('fortressAudited', 'pgcrypto'),
      auditedToFortress: c.ratio('fortressAudited', 'fortress'),
    });
    const pointRatios = ratios(reads);
    const lookupRatios = ratios(lookups);
    return {
      suite: 'postgres',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: machineInfo(),
      server: {
        version: server?.version ?? 'unknown',
        sharedBuffers: server?.sharedBuffers,
        synchronousCommit: server?.synchronousCommit,
        sameMachine: pg.available,
      },
      setup: {
        rows,
        rounds,
        msPerRun: ms,
        concurrency: `${CONCURRENCY} operations in flight (Promise loops in this process), each system on a pool of 10 connections (the dialect's default); bulk inserts one batch at a time, batch b into every system in turn (rotating order)`,
        driver:
          "every system through Fortress's PostgresDialect driver: the same pg pool, ? SQL translated to $n, named prepared statements; batches of 1,000 rows per SERIALIZABLE transaction (runBatch: one round trip per row)",
        fortress:
          "the unaudited engine (bench/unaudited-engine.ts: same keys and storage as Fortress.open, no audit ledger) on the engine suite's people table: email searchable, ssn/name/notes encrypted, age plaintext",
        fortressAudited:
          'Fortress.open() defaults: every read and write durable in the audit ledger before it returns',
        plain: `people(id ${idColumn} PRIMARY KEY, email TEXT, ssn TEXT, name TEXT, age INTEGER, notes TEXT), B-tree index on email`,
        pgcrypto: `email/ssn/name/notes as pgp_sym_encrypt(value, key) BYTEA (pgcrypto defaults: AES-128, iterated and salted S2K per value), email_hmac = hmac(email, key, 'sha256') under a B-tree index; reads decrypt the four fields server-side with pgp_sym_decrypt; the key is a bench constant bound as a parameter; ${pgcryptoNote}`,
        schemas: 'each system in a fresh fx_bench_<random> schema, dropped at the end',
        cpu: pg.available
          ? 'CPU per operation: this Node process (process.cpuUsage); PostgreSQL from /proc/<pid>/stat — "backend": client backends of this database (pg_stat_activity), "all": every postgres process (walwriter, checkpointer…); 10 ms tick resolution; other work on the machine counts too'
          : 'PostgreSQL CPU not measured: its processes are not visible on this machine',
      },
      insert: {
        ...insert,
        fortressToPlain: round(insert.fortress.rowsPerSec / insert.plain.rowsPerSec, 3),
        fortressToPgcrypto: round(insert.fortress.rowsPerSec / insert.pgcrypto.rowsPerSec, 3),
        auditedToPlain: round(insert.fortressAudited.rowsPerSec / insert.plain.rowsPerSec, 3),
      },
      pointRead: { ...reads.figures, ratios: pointRatios, rounds: reads.rounds },
      equalityLookup: { ...lookups.figures, ratios: lookupRatios, rounds: lookups.rounds },
      targets: {
        'encrypted point read ≥ 0.6× plain PostgreSQL': target(pointRatios.fortressToPlain.ratio, 0.6),
        'encrypted point read ≥ 3× pgcrypto': target(pointRatios.fortressToPgcrypto.ratio, 3),
        'audited point read ≥ 0.6× plain PostgreSQL (reported; the target is for the engine)': target(
          pointRatios.auditedToPlain.ratio,
          0.6,
        ),
        'audited point read ≥ 3× pgcrypto (reported; the target is for the engine)': target(
          pointRatios.auditedToPgcrypto.ratio,
          3,
        ),
      },
    };
  } finally {
    await scratch.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The comparison, then the cluster section (bench/postgres-cluster.bench.ts: 1, 2 and 3 server processes
 * on one schema) under `cluster`. A failed cluster section is reported there, and on stderr, without
 * losing the comparison's figures.
 */
export async function run(options: { quick: boolean }): Promise<object> {
  const comparison = await runComparison(options);
  let cluster: object;
  try {
    cluster = await runCluster({ quick: options.quick, url: PG_URL });
  } catch (error) {
    progress(
      `cluster section failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    cluster = { error: error instanceof Error ? error.message : String(error) };
  }
  return { ...comparison, cluster };
}
