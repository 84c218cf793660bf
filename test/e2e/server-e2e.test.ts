/**
 * End to end: a real `fortress server` process driven only through what users have — the SDK and
 * the CLI. Its life: init → restart (SIGTERM seals) → unseal share by share → an encrypted,
 * searchable table written, read and searched → the table's keys rotated by a background job →
 * the audit ledger verifies → seal, and data routes answer 503 FX_SEALED. Then a 60 s load test of
 * 64 concurrent clients (70% reads, 30% writes of unique rows): no errors, every acknowledged
 * write readable. Last, a sentinel scan: the debug log and the metrics never hold a row value, the
 * password, a token or an unseal share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FortressClient, isFortressClientError } from '../../src/client/index.js';
import { CLEAN_ENV, CLI, runCli, type CliRun } from '../helpers/run-cli.js';

const LOAD_CLIENTS = 64;
const LOAD_MS = 60_000;
const SEED_ROWS = 256;

/** Values that must never reach a log line or the metrics. */
const SENTINEL = `sentinel-${randomUUID()}`;
const PASSWORD = `pw-${randomUUID()}`;

const BASE_ENV = CLEAN_ENV;
type Run = CliRun;

interface Server {
  child: ChildProcess;
  url: string;
  /** Everything it printed (stdout and stderr), for the sentinel scan. */
  output: string[];
}

describe('fortress server end to end (SDK and CLI only)', () => {
  let tmp: string;
  let dataDir: string;
  let logFile: string;
  let ca: string;
  let server: Server | undefined;
  const printed: string[] = [];
  /** Every secret handed out, for the sentinel scan. */
  const secrets = { tokens: [] as string[], shares: [] as string[] };
  let adminToken: string;
  let agent: Agent;

  function startServer(): Promise<Server> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [CLI, 'server', '--data', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'debug'],
        {
          env: {
            ...BASE_ENV,
            FORTRESS_LOG_FILE: logFile,
            // The load test is many requests a minute from one address: lift the rate limits.
            FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN: '100000000',
            FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS: '100000000',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const output: string[] = [];
      const timer = setTimeout(() => {
        reject(new Error(`server did not start: ${output.join('')}`));
      }, 30_000);
      const collect = (d: string): void => {
        output.push(d);
        printed.push(d);
        const match = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(output.join(''));
        if (match !== null) {
          clearTimeout(timer);
          resolve({ child, url: match[1]!, output });
        }
      };
      child.stdout.setEncoding('utf8').on('data', collect);
      child.stderr.setEncoding('utf8').on('data', collect);
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${String(code)}): ${output.join('')}`));
      });
    });
  }

  function stopServer(s: Server): Promise<number | null> {
    return new Promise((resolve) => {
      if (s.child.exitCode !== null) {
        resolve(s.child.exitCode);
        return;
      }
      s.child.once('exit', (code) => {
        resolve(code);
      });
      s.child.kill('SIGTERM');
    });
  }

  function url(): string {
    if (server === undefined) throw new Error('no server running');
    return server.url;
  }

  /** A client of the running server, trusting its self-signed certificate. */
  function sdk(token?: string): FortressClient {
    const fetchFn = ((input: string, init?: object) =>
      undiciFetch(input, { ...init, dispatcher: agent })) as unknown as typeof fetch;
    return new FortressClient({ address: url(), fetch: fetchFn, ...(token === undefined ? {} : { token }) });
  }

  function cli(args: string[], input = '', env: Record<string, string> = {}): Promise<Run> {
    return runCli([...args, '--server', url(), '--ca-cert', ca], {
      input,
      env: { FORTRESS_HOME: path.join(tmp, 'home'), ...env },
    });
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'fortress-e2e-'));
    dataDir = path.join(tmp, 'data');
    logFile = path.join(tmp, 'server.log');
    ca = path.join(dataDir, 'tls', 'server.crt');
    server = await startServer();
    agent = new Agent({ connect: { ca: await readFile(ca, 'utf8') }, connections: LOAD_CLIENTS * 2 });
  }, 60_000);

  afterAll(async () => {
    if (server !== undefined) await stopServer(server);
    await agent.close();
    await rm(tmp, { recursive: true, force: true });
  }, 60_000);

  it('init, restart (SIGTERM seals), unseal share by share', async () => {
    const init = await cli(['init', '--shares', '3', '--threshold', '2', '--json']);
    expect(init.status, init.stderr).toBe(0);
    const result = JSON.parse(init.stdout) as { shares: string[]; rootToken: string };
    secrets.shares.push(...result.shares);
    secrets.tokens.push(result.rootToken);
    // The administrator's password, set with the root token (through the CLI: read from stdin).
    const passwd = await cli(['user', 'passwd', 'admin'], `${PASSWORD}\n`, {
      FORTRESS_TOKEN: result.rootToken,
    });
    expect(passwd.status, passwd.stderr).toBe(0);

    expect(await stopServer(server!)).toBe(0);
    expect(server!.output.join('')).toContain('sealed and stopped');
    server = await startServer();
    const anonymous = sdk();
    expect(await anonymous.sys.status()).toMatchObject({
      initialized: true,
      sealed: true,
      progress: 0,
      threshold: 2,
    });

    const first = await cli(['unseal'], `${result.shares[1]!}\n`);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('1 of 2');
    expect(await anonymous.sys.status()).toMatchObject({ sealed: true, progress: 1 });
    const second = await cli(['unseal'], `${result.shares[2]!}\n`);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('Unsealed.');
    expect(await anonymous.sys.status()).toMatchObject({ sealed: false });

    // Log in through the CLI (token saved under FORTRESS_HOME) and through the SDK.
    const login = await cli(['login', 'admin'], `${PASSWORD}\n`);
    expect(login.status, login.stderr).toBe(0);
    secrets.tokens.push((await readFile(path.join(tmp, 'home', 'token'), 'utf8')).trim());
    const client = sdk();
    const grant = await client.auth.login('admin', PASSWORD);
    adminToken = grant.token;
    secrets.tokens.push(adminToken);
  }, 90_000);

  it('an encrypted searchable table: write, read, search', async () => {
    const client = sdk(adminToken);
    await client.db.createTable('patients', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        email: { type: 'text', encrypt: { search: 'equality' } },
        note: { type: 'text', encrypt: true },
      },
    });
    await client.db.insert('patients', { id: 1, email: `${SENTINEL}@example.com`, note: SENTINEL });
    await client.db.insertMany(
      'patients',
      Array.from({ length: 99 }, (_, i) => ({
        id: i + 2,
        email: `p${i + 2}@example.com`,
        note: `note ${i}`,
      })),
    );
    expect(await client.db.get('patients', 1)).toEqual({
      id: 1,
      email: `${SENTINEL}@example.com`,
      note: SENTINEL,
    });
    const found = await client.db.find('patients', { where: { email: `${SENTINEL}@example.com` } });
    expect(found).toEqual([{ id: 1, email: `${SENTINEL}@example.com`, note: SENTINEL }]);
    expect(await client.db.count('patients', { email: 'p50@example.com' })).toBe(1);
    // A KV secret holding the sentinel, through the SDK and read back by the CLI.
    await client.kv.put('apps/e2e/db', { password: SENTINEL });
    const secret = await cli(['kv', 'get', 'apps/e2e/db', '--field', 'password']);
    expect(secret.stdout).toBe(`${SENTINEL}\n`);
    // The CLI reads the same row.
    const get = await cli(['get', 'patients', '1', '--json']);
    expect(get.status, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toMatchObject({ note: SENTINEL });
  }, 30_000);

  it("rotates the table's keys in a background job; rows still read and search", async () => {
    const client = sdk(adminToken);
    const before = (
      (await client.keys.list())['keys'] as { name: string; purpose: string; activeVersion: number }[]
    ).filter((k) => k.name.includes('patients'));
    expect(before.filter((k) => k.purpose === 'data').length).toBeGreaterThan(0);
    const started = await client.keys.rotateTable('patients');
    const job = (started['job'] as { id: number }).id;
    const done = await client.keys.waitForJob(job, { intervalMs: 100 });
    expect(done).toMatchObject({ state: 'done', processed: 100 });
    const after = (
      (await client.keys.list())['keys'] as { name: string; purpose: string; activeVersion: number }[]
    ).filter((k) => k.name.includes('patients'));
    // Data keys get a new version (blind-index keys stay: rotating one means rebuilding its index).
    for (const key of before.filter((k) => k.purpose === 'data')) {
      const now = after.find((k) => k.name === key.name);
      expect(now?.activeVersion, key.name).toBeGreaterThan(key.activeVersion);
    }
    expect(await client.db.get('patients', 1)).toMatchObject({ note: SENTINEL });
    expect(await client.db.find('patients', { where: { email: 'p99@example.com' } })).toHaveLength(1);
  }, 60_000);

  it('audit verify passes (CLI and SDK)', async () => {
    const verify = await cli(['audit', 'verify']);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^verify: OK/);
    expect(await sdk(adminToken).audit.verify()).toMatchObject({ ok: true, problem: null });
  }, 30_000);

  it('seal: data routes answer 503 FX_SEALED', async () => {
    const seal = await cli(['seal']);
    expect(seal.status, seal.stderr).toBe(0);
    const client = sdk(adminToken);
    const failure = await client.db.find('patients').catch((error: unknown) => error);
    expect(isFortressClientError(failure, 'FX_SEALED')).toBe(true);
    expect((failure as { status: number }).status).toBe(503);
    const raw = await undiciFetch(`${url()}/v1/db/tables/patients/rows/1`, {
      headers: { authorization: `Bearer ${adminToken}` },
      dispatcher: agent,
    });
    expect(raw.status).toBe(503);
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('FX_SEALED');
    const find = await cli(['find', 'patients']);
    expect(find.status).toBe(2);
    expect(find.stderr).toContain('sealed: run `fortress unseal');
  }, 30_000);

  it(`load: ${LOAD_CLIENTS} clients for ${LOAD_MS / 1000} s, 70% reads / 30% writes — no errors, every acknowledged write readable`, async () => {
    const anonymous = sdk();
    for (const share of secrets.shares.slice(0, 2)) await anonymous.sys.unseal(share);
    expect((await anonymous.sys.status()).sealed).toBe(false);
    const admin = sdk();
    const grant = await admin.auth.login('admin', PASSWORD);
    secrets.tokens.push(grant.token);
    await admin.db.createTable('load', {
      columns: {
        id: { type: 'text', primaryKey: true },
        n: { type: 'integer' },
        payload: { type: 'text', encrypt: true },
      },
    });
    const acknowledged = new Map<string, number>();
    const seed = Array.from({ length: SEED_ROWS }, (_, i) => ({
      id: `seed-${i}`,
      n: i,
      payload: `seed ${i}`,
    }));
    await admin.db.insertMany('load', seed);
    for (const row of seed) acknowledged.set(row.id, row.n);
    const ids = [...acknowledged.keys()];

    const tokens: string[] = [];
    for (let i = 0; i < LOAD_CLIENTS; i++) {
      tokens.push((await admin.auth.createToken({ ttl: 3600, displayName: `load-${i}` })).token);
    }
    secrets.tokens.push(...tokens);

    const errors: string[] = [];
    let reads = 0;
    let writes = 0;
    const end = Date.now() + LOAD_MS;
    const worker = async (w: number): Promise<void> => {
      const client = sdk(tokens[w]);
      let seq = 0;
      while (Date.now() < end) {
        try {
          if (Math.random() < 0.7) {
            const id = ids[Math.floor(Math.random() * ids.length)]!;
            const row = await client.db.get('load', id);
            if (row['n'] !== acknowledged.get(id)) errors.push(`read ${id}: ${JSON.stringify(row)}`);
            reads++;
          } else {
            const id = `w${w}-${seq++}`;
            await client.db.insert('load', { id, n: seq, payload: `payload ${id}` });
            acknowledged.set(id, seq);
            ids.push(id);
            writes++;
          }
        } catch (error) {
          errors.push(isFortressClientError(error) ? `${error.code}: ${error.message}` : String(error));
        }
      }
    };
    await Promise.all(Array.from({ length: LOAD_CLIENTS }, (_, w) => worker(w)));
    expect(errors.slice(0, 10), `${errors.length} errors`).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(writes).toBeGreaterThan(0);

    // Every acknowledged write is there, with its value.
    const stored = new Map<string, unknown>();
    for await (const row of admin.db.exportRows('load')) stored.set(row['id'] as string, row['n']);
    expect(stored.size).toBe(acknowledged.size);
    for (const [id, n] of acknowledged) expect(stored.get(id), id).toBe(n);
    expect(await admin.db.count('load')).toBe(SEED_ROWS + writes);
    console.info(
      `load: ${reads} reads, ${writes} writes in ${LOAD_MS / 1000} s (${Math.round((reads + writes) / (LOAD_MS / 1000))} req/s)`,
    );
  }, 150_000);

  it('sentinel scan: no log line and no metric holds a row value, the password, a token or a share', async () => {
    const client = sdk(adminToken);
    const metrics = await client.metrics().catch(async (error: unknown) => {
      // Retried with a fresh token, should the first have expired in the meantime.
      if (!isFortressClientError(error, 'FX_UNAUTHENTICATED')) throw error;
      return sdk(secrets.tokens.at(-1)).metrics();
    });
    expect(metrics).toMatch(/^# (HELP|TYPE) /m);
    // Stop the server so every log line is flushed to the file.
    expect(await stopServer(server!)).toBe(0);
    server = undefined;
    const log = await readFile(logFile, 'utf8');
    const lines = log.split('\n').filter((l) => l !== '');
    // The scan means something only if the log is verbose: a line for every request made.
    expect(lines.length).toBeGreaterThan(1000);
    expect(lines.filter((l) => l.includes('"route":"/v1/auth/userpass/login"')).length).toBeGreaterThan(0);
    // At debug level a request line names its caller by accessor and principal (never the token).
    const detailed = lines.find((l) => l.includes('"route":"/v1/db/tables/:table/rows/:key"'));
    expect(detailed, 'a row read in the debug log').toBeDefined();
    expect(JSON.parse(detailed!)).toMatchObject({
      level: 20,
      accessor: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/) as unknown,
      principal: expect.stringMatching(/^user:default\//) as unknown,
      client: '127.0.0.1',
    });
    const forbidden: [string, string][] = [
      ['the sentinel row value', SENTINEL],
      ['the password', PASSWORD],
      ...secrets.tokens.map((t, i): [string, string] => [`token ${i}`, t]),
      ...secrets.shares.map((s, i): [string, string] => [`unseal share ${i}`, s]),
    ];
    const sources: [string, string[]][] = [
      ['log file', lines],
      ['metrics', metrics.split('\n')],
      ['server output', printed.join('').split('\n')],
    ];
    const leaks: string[] = [];
    for (const [where, text] of sources) {
      for (const [what, secret] of forbidden) {
        const hit = text.find((l) => l.includes(secret));
        if (hit !== undefined) leaks.push(`${what} in ${where}: ${hit.slice(0, 200)}`);
      }
    }
    expect(leaks).toEqual([]);
  }, 60_000);
});
