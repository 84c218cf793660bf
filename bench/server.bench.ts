/**
 * @module bench/server
 * `npm run -s bench -- server`: the HTTP API under load, with `autocannon` on loopback against a
 * real `fortress server` process (SQLite storage, TLS on with its self-signed certificate, every
 * read decided by policy and recorded durably in the audit ledger before it returns):
 * - an encrypted point read by id (`GET /v1/db/tables/people/rows/:id`, four fields decrypted),
 * - an equality lookup on an encrypted searchable column (`POST …/find { where: { email } }`),
 * each at 64 connections, beside a plain Fastify HTTPS server (same certificate) whose route
 * returns a constant — the framework's limit — measured in the same run, in interleaved rounds.
 * Everything shares this machine's cores: server, baseline and load generator.
 * Prints JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Agent } from 'undici';
import { machineInfo, median, progress, round, target } from './harness.js';
import { PEOPLE_COLUMNS, seedPeople } from './people.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'src', 'cli', 'main.js');
const BASELINE = path.join(here, 'server-baseline.js');
const CONNECTIONS = 64;

/** Starts a process and resolves with the first https:// URL it prints. */
function launch(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let seen = '';
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /(https:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (match !== null) resolve({ child, url: match[1]! });
    });
    child.once('exit', (code) => {
      reject(new Error(`${path.basename(args[0]!)} exited (${String(code)}): ${errors.slice(0, 500)}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface Load {
  /** Responses by HTTP status (anything but 200 counts as an error). */
  statuses: Record<string, number>;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

async function load(options: autocannon.Options): Promise<Load> {
  const statuses: Record<string, number> = {};
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ connections: CONNECTIONS, pipelining: 1, ...options }, (error, done) => {
      if (error !== null && error !== undefined) reject(error as Error);
      else resolve(done);
    });
    instance.on('response', (_client: unknown, status: number) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
  });
  return {
    statuses,
    requestsPerSec: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export async function run(options: { quick: boolean }): Promise<object> {
  const rows = options.quick ? 2_000 : 20_000;
  const seconds = options.quick ? 3 : 10;
  const rounds = 3;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-server-'));
  const children: ChildProcess[] = [];
  try {
    progress('starting fortress server (TLS, self-signed) and the constant-route baseline');
    // Rate limits off the path being measured (one token sends every request).
    const server = await launch(
      [CLI, 'server', '--data', dir, '--listen', '127.0.0.1:0', '--log-level', 'silent'],
      {
        FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN: '100000000',
        FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS: '100000000',
      },
    );
    children.push(server.child);
    const certFile = path.join(dir, 'tls', 'server.crt');
    const keyFile = path.join(dir, 'tls', 'server.key');
    const baseline = await launch([BASELINE, certFile, keyFile]);
    children.push(baseline.child);
    const dispatcher = new Agent({ connect: { ca: readFileSync(certFile) } });
    const api = async (method: string, route: string, body?: unknown, token?: string): Promise<unknown> => {
      const response = await fetch(server.url + route, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        dispatcher,
      } as unknown as RequestInit);
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text.slice(0, 300)}`);
      return text === '' ? null : (JSON.parse(text) as unknown);
    };
    const init = (await api('POST', '/v1/sys/init', { shares: 1, threshold: 1 })) as { rootToken: string };
    const token = init.rootToken;
    await api(
      'POST',
      '/v1/db/tables',
      { name: 'people', definition: { columns: PEOPLE_COLUMNS, expectedRows: rows } },
      token,
    );
    progress(`inserting ${rows} rows over HTTP`);
    const ids = await seedPeople(rows, (batch) =>
      api('POST', '/v1/db/tables/people/rows', { rows: batch }, token),
    );
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    let n = 0;
    const pointRead = (): Promise<Load> =>
      load({
        url: server.url,
        duration: seconds,
        requests: [
          {
            method: 'GET',
            headers,
            setupRequest: (request) => ({
              ...request,
              path: `/v1/db/tables/people/rows/${ids[n++ % ids.length]!}`,
            }),
          },
        ],
      });
    const lookup = (): Promise<Load> =>
      load({
        url: server.url,
        duration: seconds,
        requests: [
          {
            method: 'POST',
            path: '/v1/db/tables/people/find',
            headers,
            setupRequest: (request) => ({
              ...request,
              body: JSON.stringify({ where: { email: `user${(n++ * 7919) % rows}@example.com` } }),
            }),
          },
        ],
      });
    const constant = (): Promise<Load> =>
      load({ url: `${baseline.url}/constant/${randomUUID()}`, duration: seconds });
    // Check once that each side answers what it should before timing it.
    const sample = (await api('GET', `/v1/db/tables/people/rows/${ids[0]!}`, undefined, token)) as {
      row: { email: string };
    };
    if (sample.row.email !== 'user0@example.com') throw new Error('the server read back the wrong row');

    const results: Record<'constant' | 'pointRead' | 'lookup', Load[]> = {
      constant: [],
      pointRead: [],
      lookup: [],
    };
    const order = ['constant', 'pointRead', 'lookup'] as const;
    const run = { constant, pointRead, lookup };
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < order.length; k++) {
        const name = order[(r + k) % order.length]!;
        progress(`round ${r + 1}/${rounds}: ${name} (${seconds} s, ${CONNECTIONS} connections)`);
        results[name].push(await run[name]());
      }
    }
    const pick = (list: Load[]): Load => {
      const m = median(list.map((l) => l.requestsPerSec));
      return list.reduce((best, l) =>
        Math.abs(l.requestsPerSec - m) < Math.abs(best.requestsPerSec - m) ? l : best,
      );
    };
    const ratio = (list: Load[]): number =>
      round(median(list.map((l, i) => l.requestsPerSec / results.constant[i]!.requestsPerSec)), 3);
    const read = pick(results.pointRead);
    const find = pick(results.lookup);
    const errors = [...results.pointRead, ...results.lookup].reduce((sum, l) => sum + l.errors + l.non2xx, 0);
    return {
      suite: 'server',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: machineInfo(),
      setup: `fortress server process (SQLite, TLS self-signed, audited), ${rows} people rows; autocannon ${CONNECTIONS} connections, ${seconds} s per run, ${rounds} interleaved rounds; baseline: plain Fastify HTTPS returning a constant`,
      constant: pick(results.constant),
      pointRead: { ...read, ratioToConstant: ratio(results.pointRead), rounds: results.pointRead },
      equalityLookup: { ...find, ratioToConstant: ratio(results.lookup), rounds: results.lookup },
      errors,
      targets: {
        'encrypted point reads ≥ 10,000/s': target(read.requestsPerSec, 10_000),
        'point read p99 ≤ 20 ms': target(read.p99Ms, 20, true),
        'point reads ≥ 0.4× the constant route': target(ratio(results.pointRead), 0.4),
        'equality lookups ≥ 0.4× the constant route': target(ratio(results.lookup), 0.4),
        'no errors under load': target(errors, 0, true),
      },
    };
  } finally {
    for (const child of children) await stop(child);
    await rm(dir, { recursive: true, force: true });
  }
}
