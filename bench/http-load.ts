/**
 * @module bench/http-load
 * What the HTTP benchmarks share: starting a process that prints its https:// URL, stopping it,
 * and one `autocannon` run summarised (requests/s, p50/p99, statuses, errors).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Agent } from 'undici';
import { median, progress, round } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '..', 'src', 'cli', 'main.js');
const BASELINE = path.join(here, 'server-baseline.js');

/** Connections every HTTP benchmark keeps open. */
export const CONNECTIONS = 64;

/** Starts a process and resolves with the first https:// URL it prints. */
export function launch(
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

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

export interface Load {
  /** Responses by HTTP status (anything but 200 counts as an error). */
  statuses: Record<string, number>;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

export async function load(options: autocannon.Options): Promise<Load> {
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

/** A `fortress server` and the constant-route baseline under test, initialised, with a root token. */
export interface BenchServers {
  readonly url: string;
  readonly baselineUrl: string;
  /** The root token (rate limits are off for it). */
  readonly token: string;
  /** A JSON call to the server as root (throws on a non-2xx answer). */
  readonly api: (method: string, route: string, body?: unknown) => Promise<unknown>;
  /** Stops both processes. */
  readonly stop: () => Promise<void>;
}

/**
 * Starts `fortress server` on `dir` (SQLite, TLS with its self-signed certificate, rate limits
 * off the measured path) and the plain Fastify baseline on the same certificate, and initialises
 * the server (one share).
 */
export async function startBenchServers(dir: string): Promise<BenchServers> {
  const children: ChildProcess[] = [];
  const stopAll = async (): Promise<void> => {
    for (const child of children) await stop(child);
  };
  try {
    progress('starting fortress server (TLS, self-signed) and the constant-route baseline');
    const server = await launch(
      [CLI, 'server', '--data', dir, '--listen', '127.0.0.1:0', '--log-level', 'silent'],
      {
        FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN: '100000000',
        FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS: '100000000',
      },
    );
    children.push(server.child);
    const certFile = path.join(dir, 'tls', 'server.crt');
    const baseline = await launch([BASELINE, certFile, path.join(dir, 'tls', 'server.key')]);
    children.push(baseline.child);
    const dispatcher = new Agent({ connect: { ca: readFileSync(certFile) } });
    // The root token, once init has answered.
    const auth: { token?: string } = {};
    const api = async (method: string, route: string, body?: unknown): Promise<unknown> => {
      const response = await fetch(server.url + route, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(auth.token === undefined ? {} : { authorization: `Bearer ${auth.token}` }),
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
    auth.token = token;
    return { url: server.url, baselineUrl: baseline.url, token, api, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * Runs each named load `rounds` times, interleaved (round r starts at the r-th name, so drift on
 * a shared machine falls on every load alike). `constant` is the baseline the ratios divide by.
 */
export async function interleavedRounds<N extends string>(
  rounds: number,
  runs: Readonly<Record<N | 'constant', () => Promise<Load>>>,
  label: string,
): Promise<{
  results: Record<N | 'constant', Load[]>;
  /** The run whose requests/s is nearest the median of a load's rounds. */
  pick: (name: N | 'constant') => Load;
  /** Median over rounds of (load ÷ the same round's constant route). */
  ratio: (name: N) => number;
}> {
  const names = Object.keys(runs) as (N | 'constant')[];
  const results = Object.fromEntries(names.map((n) => [n, [] as Load[]])) as Record<N | 'constant', Load[]>;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length]!;
      progress(`round ${r + 1}/${rounds}: ${name} (${label})`);
      results[name].push(await runs[name]());
    }
  }
  const pick = (name: N | 'constant'): Load => {
    const list = results[name];
    const m = median(list.map((l) => l.requestsPerSec));
    return list.reduce((best, l) =>
      Math.abs(l.requestsPerSec - m) < Math.abs(best.requestsPerSec - m) ? l : best,
    );
  };
  const ratio = (name: N): number =>
    round(median(results[name].map((l, i) => l.requestsPerSec / results.constant[i]!.requestsPerSec)), 3);
  return { results, pick, ratio };
}
