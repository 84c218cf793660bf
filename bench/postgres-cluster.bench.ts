/**
 * @module bench/postgres-cluster
 * The cluster section of `npm run -s bench -- postgres`: 1, 2 and 3 `fortress server` processes on
 * one PostgreSQL schema. Three real server processes start once (each with its own empty data
 * directory and self-signed certificate) in a fresh `fx_bench_<random>` schema that is dropped at the
 * end (also on failure or SIGINT/SIGTERM); node 1 is initialised, nodes 2 and 3 join and are
 * unsealed with two shares. An encrypted `people` table (the engine suite's: email searchable,
 * ssn/name/notes encrypted) is seeded through node 1. Then, for N = 1, 2, 3, one load generator
 * (this process) sends requests round-robin to nodes 1..N with a fixed total concurrency: encrypted
 * point reads by primary key, then single-row inserts. The nodes not addressed stay up, idle.
 *
 * PostgreSQL, the servers and the load generator share this machine's cores, so requests/s says
 * little about scaling on real hardware; each figure carries its CPU per request — every server
 * process, the PostgreSQL backends serving them and PostgreSQL's own processes (from /proc), and
 * the load generator — which is the figure that transfers.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { PostgresDialect } from '../src/storage/postgres/postgres-dialect.js';
import { machineInfo, progress, round } from './harness.js';
import { PEOPLE_COLUMNS, personValues, seedPeople } from './people.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'src', 'cli', 'main.js');

/** Server processes started (N goes 1..NODES). */
const NODES = 3;
/** Requests in flight in total, whatever N is. */
const CONCURRENCY = 64;
/** A server that does not stop within this after SIGTERM is killed. */
const STOP_TIMEOUT_MS = 15_000;

export interface ClusterBenchOptions {
  readonly quick: boolean;
  /**
   * The PostgreSQL server.
   * @default FORTRESS_BENCH_PG_URL, else postgres://postgres@127.0.0.1:5432/test (as `bench postgres`)
   */
  readonly url?: string;
}

function defaultUrl(): string {
  const url = process.env['FORTRESS_BENCH_PG_URL'];
  return url === undefined || url === '' ? 'postgres://postgres@127.0.0.1:5432/test' : url;
}

// --- server processes --------------------------------------------------------------------------

interface ServerNode {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly dataDir: string;
  /** Everything it printed after it started listening (warnings and errors: it logs at warn). */
  readonly output: string[];
}

/** The caller's environment without any Fortress setting of its own. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('FORTRESS_')) env[name] = value;
  }
  return env;
}

/** Starts a server; `children` gets its process at once (to be stopped even if it never listens). */
function startNode(
  name: string,
  dataDir: string,
  env: Record<string, string>,
  children: ChildProcess[],
): Promise<ServerNode> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, 'server', '--data', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv(), ...env } },
    );
    children.push(child);
    const output: string[] = [];
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`${name} did not start within 60 s: ${output.join('').slice(0, 500)}`));
    }, 60_000);
    const collect = (chunk: string): void => {
      output.push(chunk);
      if (started) return;
      const match = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(output.join(''));
      if (match === null || child.pid === undefined) return;
      started = true;
      clearTimeout(timer);
      output.length = 0;
      resolve({ name, child, pid: child.pid, url: match[1]!, dataDir, output });
    };
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`${name} exited (${String(code)}): ${output.join('').slice(0, 500)}`));
    });
  });
}

/** SIGTERM (the server drains and seals), SIGKILL if it does not exit in time. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** The log lines (JSON, warn and above) a node wrote after it started, and the first few (truncated). */
function logSummary(node: ServerNode): { lines: number; first: string[] } {
  // The startup banner (fingerprint, data directory, state) is plain text: not a log line.
  const lines = node.output
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'));
  return { lines: lines.length, first: lines.slice(0, 3).map((line) => line.slice(0, 300)) };
}

// --- HTTP --------------------------------------------------------------------------------------

/** A call that must succeed (setup and checks): the parsed JSON answer. */
async function call(
  pool: Pool,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
  token?: string,
): Promise<Record<string, unknown>> {
  const response = await pool.request({
    method,
    path: route,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300)
    throw new Error(`${method} ${route}: ${response.statusCode} ${text.slice(0, 300)}`);
  return (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
}

// --- CPU ---------------------------------------------------------------------------------------

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ). */
function clockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** utime + stime in ticks, or undefined once the process is gone. */
async function cpuTicks(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name sits in parentheses and may hold spaces: count fields from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Local TCP ports of these processes' connections to port `remotePort` (PostgreSQL's). */
async function socketPorts(pids: readonly number[], remotePort: number): Promise<Set<number>> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match !== null) inodes.add(match[1]!);
    }
  }
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const table = await readFile(file, 'utf8').catch(() => '');
    for (const line of table.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address cols[1] and rem_address cols[2] are hex ip:port; the socket's inode is cols[9].
      if (cols.length <= 9 || !inodes.has(cols[9]!)) continue;
      if (parseInt(cols[2]!.split(':').at(-1)!, 16) !== remotePort) continue;
      ports.add(parseInt(cols[1]!.split(':').at(-1)!, 16));
    }
  }
  return ports;
}

/** CPU ticks per process at one moment, classified. */
interface CpuSnapshot {
  readonly servers: Map<number, number>;
  /** PostgreSQL backends whose client is one of the servers. */
  readonly pgServing: Map<number, number>;
  /** PostgreSQL's own processes (postmaster, WAL writer, checkpointer, autovacuum…). */
  readonly pgOwn: Map<number, number>;
  /** Backends of other clients (other sessions on the same PostgreSQL): reported, not counted. */
  readonly pgOther: Map<number, number>;
  /** This process (the load generator), µs, when the snapshot began and when it ended. */
  readonly loadUsAtStart: number;
  readonly loadUsAtEnd: number;
}

/**
 * Every postgres process on the machine by name; a client backend's title holds its client's
 * address and port (`postgres: 15/main: postgres test 127.0.0.1(52366) idle`), which tells whose it is.
 */
async function snapshot(serverPids: readonly number[], pgPort: number): Promise<CpuSnapshot> {
  const usage = process.cpuUsage();
  const servers = new Map<number, number>();
  for (const pid of serverPids) servers.set(pid, (await cpuTicks(pid)) ?? 0);
  const ports = await socketPorts(serverPids, pgPort);
  const pgServing = new Map<number, number>();
  const pgOwn = new Map<number, number>();
  const pgOther = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'postgres') continue;
    const title = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    const ticks = await cpuTicks(pid);
    if (ticks === undefined) continue;
    const client = /\((\d+)\)/.exec(title) ?? /\[local\]/.exec(title);
    if (client === null) pgOwn.set(pid, ticks);
    else if (client[1] !== undefined && ports.has(Number(client[1]))) pgServing.set(pid, ticks);
    else pgOther.set(pid, ticks);
  }
  const end = process.cpuUsage();
  return {
    servers,
    pgServing,
    pgOwn,
    pgOther,
    loadUsAtStart: usage.user + usage.system,
    loadUsAtEnd: end.user + end.system,
  };
}

/** Ticks spent since `before` (a process new since then counts from its start). */
function spent(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ticks] of after) total += ticks - (before.get(pid) ?? 0);
  return total;
}

// --- load --------------------------------------------------------------------------------------

/** Sends one request of the load to `pool` (the load generator chose the node). */
type Send = (pool: Pool, k: number) => Promise<{ status: number; body: string }>;

interface LoadFigures {
  nodes: number;
  requests: number;
  seconds: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  scalingToOneNode: number;
  /**
   * µs of CPU per successful request. The PostgreSQL figures are null when its processes are not
   * visible here (it runs on another machine); `total` then leaves them out.
   */
  cpuUsPerRequest: {
    total: number;
    servers: number;
    postgresBackends: number | null;
    postgresOwnProcesses: number | null;
    loadGenerator: number;
    /** Other clients' backends on the same PostgreSQL in the window: not in `total`. */
    otherPostgresClientsNotCounted: number | null;
  };
  /** Share of the machine's cores kept busy by the counted processes. */
  coresBusy: number;
  perNode: {
    node: string;
    requests: number;
    statuses: Record<string, number>;
    /** The first few answers that were not `okStatus` (truncated), to tell what failed. */
    failures: string[];
    serverCpuUsPerRequest: number;
  }[];
  errors: number;
  ledgerAtStart: LedgerState;
}

/** What every timed run shares. */
interface Bench {
  readonly nodes: readonly ServerNode[];
  /** One connection pool per node, in the same order. */
  readonly pools: readonly Pool[];
  readonly warmMs: number;
  readonly ticksPerSec: number;
  /** PostgreSQL's TCP port: the servers' connections to it tell their backends apart. */
  readonly pgPort: number;
  /** The shared audit ledger's size now (read from PostgreSQL). */
  readonly ledger: () => Promise<LedgerState>;
}

/**
 * The ledger when a run starts. `sinceTreeFlush` is how many entries a node re-reads and re-hashes
 * when it finds that another appended (the ledger reloads from its last stored tree, every 4,096
 * entries): the figures depend on it.
 */
interface LedgerState {
  entries: number;
  sinceTreeFlush: number;
}

/** `send` to nodes 1..n round-robin, {@link CONCURRENCY} in flight, for `ms` after a warm-up. */
async function runLoad(
  bench: Bench,
  n: number,
  send: Send,
  okStatus: number,
  ms: number,
): Promise<Omit<LoadFigures, 'scalingToOneNode'>> {
  const { nodes, pools, warmMs, ticksPerSec, pgPort } = bench;
  const ledgerAtStart = await bench.ledger();
  let next = 0;
  // Statuses over the whole run (warm-up and drain too); requests and latencies of the window only.
  const statuses = Array.from({ length: n }, (): Record<string, number> => ({}));
  const failures = Array.from({ length: n }, (): string[] => []);
  const counts = new Array<number>(n).fill(0);
  const samples: number[] = [];
  // One continuous load: the window opens after the warm-up (no burst from an idle start) and
  // closes at `end`; what completes outside it is not counted, and the stragglers drain before the
  // next run starts.
  const t = performance.now();
  const window = { open: t + warmMs, end: t + warmMs + ms };
  const loop = async (): Promise<void> => {
    while (performance.now() < window.end) {
      const k = next++;
      const node = k % n;
      const t0 = performance.now();
      let status: string;
      let body: string;
      try {
        const reply = await send(pools[node]!, k);
        status = String(reply.status);
        body = reply.body;
      } catch (error) {
        status = error instanceof Error ? error.name : 'error';
        body = String(error);
      }
      if (status !== String(okStatus) && failures[node]!.length < 3) {
        failures[node]!.push(`${status} ${body.slice(0, 300)}`);
      }
      const t1 = performance.now();
      const byStatus = statuses[node]!;
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      if (status === String(okStatus) && t1 >= window.open && t1 < window.end) {
        samples.push(t1 - t0);
        counts[node]!++;
      }
    }
  };
  const pids = nodes.map((node) => node.pid);
  const at = async (time: number): Promise<CpuSnapshot> => {
    await sleep(Math.max(0, time - performance.now()));
    return snapshot(pids, pgPort);
  };
  const [, before, after] = await Promise.all([
    Promise.all(Array.from({ length: CONCURRENCY }, loop)),
    at(window.open),
    at(window.end),
  ]);
  const ok = samples.length;
  const perRequest = (ticks: number) => round(((ticks / ticksPerSec) * 1e6) / Math.max(ok, 1), 1);
  const servers = perRequest(spent(before.servers, after.servers));
  // The servers hold connections to PostgreSQL throughout: none seen means it runs elsewhere.
  const pgVisible = after.pgServing.size > 0;
  const pgServing = pgVisible ? perRequest(spent(before.pgServing, after.pgServing)) : null;
  const pgOwn = pgVisible ? perRequest(spent(before.pgOwn, after.pgOwn)) : null;
  // Between the two snapshots, without the /proc scans themselves.
  const load = round((after.loadUsAtStart - before.loadUsAtEnd) / Math.max(ok, 1), 1);
  const total = round(servers + (pgServing ?? 0) + (pgOwn ?? 0) + load, 1);
  samples.sort((a, b) => a - b);
  const quantile = (q: number) => round(samples[Math.min(ok - 1, Math.floor(ok * q))] ?? NaN, 2);
  return {
    nodes: n,
    requests: ok,
    seconds: round(ms / 1000, 2),
    requestsPerSec: Math.round((ok / ms) * 1000),
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
    cpuUsPerRequest: {
      total,
      servers,
      postgresBackends: pgServing,
      postgresOwnProcesses: pgOwn,
      loadGenerator: load,
      otherPostgresClientsNotCounted: pgVisible ? perRequest(spent(before.pgOther, after.pgOther)) : null,
    },
    coresBusy: round((total * ok) / 1e3 / ms, 2),
    perNode: nodes.map((node, i) => ({
      node: node.name,
      requests: counts[i] ?? 0,
      statuses: statuses[i] ?? {},
      failures: failures[i] ?? [],
      serverCpuUsPerRequest: perRequest(
        (after.servers.get(node.pid) ?? 0) - (before.servers.get(node.pid) ?? 0),
      ),
    })),
    errors: statuses
      .flatMap((byStatus) => Object.entries(byStatus))
      .reduce((sum, [status, count]) => sum + (status === String(okStatus) ? 0 : count), 0),
    ledgerAtStart,
  };
}

/** N = 1..NODES in turn; the scaling ratio is against N = 1 of the same run. */
async function scaling(
  bench: Bench,
  label: string,
  send: Send,
  okStatus: number,
  ms: number,
): Promise<LoadFigures[]> {
  const figures: LoadFigures[] = [];
  const count = bench.nodes.length;
  for (let n = 1; n <= count; n++) {
    progress(`cluster: ${label} on ${n} of ${count} nodes (${CONCURRENCY} in flight, ${ms / 1000} s)`);
    const result = await runLoad(bench, n, send, okStatus, ms);
    const one = figures[0]?.requestsPerSec ?? result.requestsPerSec;
    figures.push({ ...result, scalingToOneNode: round(result.requestsPerSec / one, 3) });
    const cpu = result.cpuUsPerRequest;
    progress(
      `cluster: ${label}, ${n} node(s): ${result.requestsPerSec}/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms; ` +
        `CPU/request ${cpu.total} µs (servers ${cpu.servers}, postgres ${cpu.postgresBackends === null ? 'n/a' : round(cpu.postgresBackends + (cpu.postgresOwnProcesses ?? 0), 1)}, load ${cpu.loadGenerator}); ` +
        `per node ${result.perNode
          .slice(0, n)
          .map((p) => p.requests)
          .join(
            '/',
          )}; errors ${result.errors}; ledger ${result.ledgerAtStart.entries} entries, ${result.ledgerAtStart.sinceTreeFlush} since its tree flush`,
    );
  }
  return figures;
}

// --- the section -------------------------------------------------------------------------------

/** Runs the cluster section and returns its report (an object like every suite's). */
export async function run(options: ClusterBenchOptions): Promise<object> {
  const url = options.url ?? defaultUrl();
  const rows = options.quick ? 1_000 : 5_000;
  const readMs = options.quick ? 2_000 : 8_000;
  const insertMs = options.quick ? 1_000 : 5_000;
  const warmMs = options.quick ? 500 : 1_000;
  const ticksPerSec = clockTicks();
  const began = performance.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-cluster-'));
  const admin = await new PostgresDialect({ url, max: 1 }).createDriver();
  const schema = `fx_bench_${randomBytes(6).toString('hex')}`;
  const nodes: ServerNode[] = [];
  const pools: Pool[] = [];
  const children: ChildProcess[] = [];
  let created = false;
  let cleaning: Promise<void> | null = null;
  // Stops every server (SIGTERM: they drain and seal) and drops the schema; once, whoever asks first.
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await Promise.all(pools.map((pool) => pool.close().catch(() => undefined)));
      await Promise.all(children.map(stopChild));
      if (created) {
        await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((error: unknown) => {
          progress(`cluster: could not drop schema ${schema}: ${String(error)}`);
        });
      }
      await admin.close();
      await rm(dir, { recursive: true, force: true });
    })());
  // Interrupted: the servers are processes of their own and would outlive this one.
  const onSignal = (signal: NodeJS.Signals): void => {
    progress(`cluster: ${signal}: stopping the servers and dropping ${schema}`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const version = await admin.get<{ version: string }>('SELECT version() AS version');
    await admin.exec(`CREATE SCHEMA ${schema}`);
    created = true;
    const env = {
      FORTRESS_STORAGE_KIND: 'postgres',
      FORTRESS_STORAGE_URL: url,
      FORTRESS_STORAGE_SCHEMA: schema,
      // One token sends every request: lift the rate limits off the measured path.
      FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN: '100000000',
      FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS: '100000000',
    };
    progress(`cluster: starting ${NODES} fortress server processes on schema ${schema}`);
    // One after another: servers starting at the same moment on an empty schema race on their
    // CREATE TABLE IF NOT EXISTS (seen here: a node exits with SQLSTATE 23505 on pg_type).
    for (let i = 1; i <= NODES; i++) {
      nodes.push(await startNode(`node${i}`, path.join(dir, `node${i}`), env, children));
    }
    for (const node of nodes) {
      const ca = readFileSync(path.join(node.dataDir, 'tls', 'server.crt'));
      pools.push(new Pool(node.url, { connections: CONCURRENCY, connect: { ca } }));
    }

    // Init through node 1; the others, started before, join and unseal with two shares of three.
    const init = await call(pools[0]!, 'POST', '/v1/sys/init', { shares: 3, threshold: 2 });
    const token = String(init['rootToken']);
    const shares = init['shares'] as string[];
    for (const pool of pools.slice(1)) {
      for (const share of shares.slice(0, 2)) await call(pool, 'POST', '/v1/sys/unseal', { key: share });
      const status = await call(pool, 'GET', '/v1/sys/status');
      if (status['sealed'] !== false) throw new Error(`a node is still sealed: ${JSON.stringify(status)}`);
    }
    await call(
      pools[0]!,
      'POST',
      '/v1/db/tables',
      { name: 'people', definition: { columns: PEOPLE_COLUMNS, expectedRows: rows } },
      token,
    );
    progress(`cluster: seeding ${rows} rows through node 1`);
    const ids = await seedPeople(rows, (batch) =>
      call(pools[0]!, 'POST', '/v1/db/tables/people/rows', { rows: batch }, token),
    );
    // Every node reads back the right row before anything is timed.
    for (const [i, pool] of pools.entries()) {
      const k = (i * 7919) % rows;
      const got = await call(pool, 'GET', `/v1/db/tables/people/rows/${ids[k]!}`, undefined, token);
      if ((got['row'] as { email?: unknown } | undefined)?.email !== `user${k}@example.com`) {
        throw new Error(`node${i + 1} read back the wrong row`);
      }
    }

    const auth = `Bearer ${token}`;
    const pointRead: Send = async (pool, k) => {
      const response = await pool.request({
        method: 'GET',
        path: `/v1/db/tables/people/rows/${ids[(k * 7919) % rows]!}`,
        headers: { authorization: auth },
      });
      return { status: response.statusCode, body: await response.body.text() };
    };
    const insertBase = rows;
    let inserted = 0;
    const insert: Send = async (pool, k) => {
      const response = await pool.request({
        method: 'POST',
        path: '/v1/db/tables/people/rows',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ row: { id: randomUUID(), ...personValues(insertBase + k) } }),
      });
      if (response.statusCode === 201) inserted++;
      return { status: response.statusCode, body: await response.body.text() };
    };

    const pgPort = Number(new URL(url).port || 5432);
    const ledger = async (): Promise<LedgerState> => {
      const row = await admin.get<{ entries: number | null; treeSize: number | null }>(
        `SELECT (SELECT max(seq) + 1 FROM ${schema}.fx_audit_entries)::int AS entries, (SELECT tree_size FROM ${schema}.fx_audit_state WHERE id = 1)::int AS "treeSize"`,
      );
      const entries = row?.entries ?? 0;
      return { entries, sinceTreeFlush: entries - (row?.treeSize ?? 0) };
    };
    const bench: Bench = { nodes, pools, warmMs, ticksPerSec, pgPort, ledger };
    const reads = await scaling(bench, 'encrypted point reads', pointRead, 200, readMs);
    const inserts = await scaling(bench, 'single-row inserts', insert, 201, insertMs);
    // Every acknowledged insert is there, whichever node took it (counted through the last node).
    const count = Number(
      (await call(pools[NODES - 1]!, 'POST', '/v1/db/tables/people/count', {}, token))['count'],
    );
    const errors = [...reads, ...inserts].reduce((sum, f) => sum + f.errors, 0);
    const seconds = round((performance.now() - began) / 1000, 1);
    progress(
      `cluster: done in ${seconds} s; ${errors} failed requests; ${count - rows} of ${inserted} inserts counted`,
    );
    return {
      suite: 'postgres-cluster',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: {
        ...machineInfo(),
        availableParallelism: os.availableParallelism(),
        clockTicksPerSecond: ticksPerSec,
      },
      server: { version: version?.version ?? 'unknown' },
      setup: {
        nodes: `${NODES} fortress server processes started once (node dist/src/cli/main.js server, own empty data directory, own self-signed TLS certificate, PostgreSQL storage, log level warn, rate limits lifted) on one fresh schema ${schema}, dropped at the end; node 1 initialised (Shamir 2 of 3), nodes 2 and 3 joined and unsealed with two shares; for N nodes the load goes to nodes 1..N, the others stay up and idle`,
        table: `people (email searchable, ssn/name/notes encrypted, age plaintext), ${rows} rows seeded through node 1`,
        load: `this process: ${CONCURRENCY} requests in flight in total (undici, one pool of up to ${CONCURRENCY} keep-alive TLS connections per node), request k to node k mod N; per N one continuous load: ${warmMs} ms warm-up, then a window of ${readMs / 1000} s of point reads (GET /v1/db/tables/people/rows/:id, every read audited) or ${insertMs / 1000} s of single-row inserts (POST …/rows { row }, audited); requests, latencies and CPU count what completes inside the window, stragglers drain before the next run; reads for N = 1, 2, 3, then inserts for N = 1, 2, 3`,
        cpu: `CPU per successful request, µs: utime+stime from /proc/<pid>/stat (${ticksPerSec} ticks/s) of all ${NODES} server processes, of the PostgreSQL backends connected to them (matched by socket port) and of PostgreSQL's own processes (WAL writer, checkpointer, autovacuum…), plus this process (process.cpuUsage), measured before and after each timed run; other clients' backends are reported apart and not counted`,
        cores: `${os.availableParallelism()} cores shared by PostgreSQL, the servers and the load generator`,
      },
      pointRead: reads,
      insert: inserts,
      checks: {
        acknowledgedInserts: inserted,
        rowsCountedAfterwards: count,
        everyAcknowledgedInsertCounted: count === rows + inserted,
      },
      errors,
      serverLogs: Object.fromEntries(nodes.map((node) => [node.name, logSummary(node)])),
      // A node that died under load (it should not): its exit code or signal.
      nodesExited: nodes
        .filter((node) => node.child.exitCode !== null || node.child.signalCode !== null)
        .map((node) => `${node.name}: ${String(node.child.exitCode ?? node.child.signalCode)}`),
      seconds,
    };
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await cleanup();
  }
}
