/**
 * @module bench/secrets
 * `npm run -s bench -- secrets`: the secrets engines over HTTPS, with `autocannon` on loopback
 * against a real `fortress server` process (SQLite storage, TLS with its self-signed certificate,
 * every call decided by policy and recorded durably in the audit ledger before it answers):
 * - KV read: `GET /v1/kv/data/bench/s<i>` of 64-byte values, the latest version of one of N paths,
 * - KV write: `POST /v1/kv/data/bench/w<i>`, a new version of a 64-byte value each time,
 * beside a plain Fastify HTTPS server (same certificate) whose route returns a constant — the
 * framework's limit — measured in the same run, in interleaved rounds. Everything shares this
 * machine's cores: server, baseline and load generator.
 *
 * Transit (encryption as a service) is not built yet; its figures will join this suite.
 * Prints JSON.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { machineInfo, progress } from './harness.js';
import {
  CONNECTIONS,
  interleavedRounds,
  load,
  startBenchServers,
  type BenchServers,
  type Load,
} from './http-load.js';

/** A 64-byte JSON value: `{"v":"<56 characters>"}`. */
function value64(i: number): { v: string } {
  const v = `${i.toString(36)}-${'x'.repeat(56)}`.slice(0, 56);
  const value = { v };
  if (JSON.stringify(value).length !== 64) throw new Error('value64: not 64 bytes');
  return value;
}

export async function run(options: { quick: boolean }): Promise<object> {
  const paths = options.quick ? 200 : 1_000;
  const seconds = options.quick ? 3 : 10;
  const rounds = 3;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-secrets-'));
  let servers: BenchServers | undefined;
  try {
    servers = await startBenchServers(dir);
    const { api, token } = servers;
    const server = { url: servers.url };
    const baseline = { url: servers.baselineUrl };
    progress(`writing ${paths} secrets over HTTP`);
    for (let i = 0; i < paths; i++) await api('POST', `/v1/kv/data/bench/s${i}`, { data: value64(i) });
    // Check once that reads answer what was written before timing them.
    const sample = (await api('GET', '/v1/kv/data/bench/s7')) as { data: { v: string } };
    if (sample.data.v !== value64(7).v) throw new Error('the server read back the wrong secret');

    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    let n = 0;
    const kvRead = (): Promise<Load> =>
      load({
        url: server.url,
        duration: seconds,
        requests: [
          {
            method: 'GET',
            headers,
            setupRequest: (request) => ({ ...request, path: `/v1/kv/data/bench/s${n++ % paths}` }),
          },
        ],
      });
    const kvWrite = (): Promise<Load> =>
      load({
        url: server.url,
        duration: seconds,
        requests: [
          {
            method: 'POST',
            headers,
            setupRequest: (request) => {
              const i = n++;
              return {
                ...request,
                path: `/v1/kv/data/bench/w${i % paths}`,
                body: JSON.stringify({ data: value64(i) }),
              };
            },
          },
        ],
      });
    const constant = (): Promise<Load> =>
      load({ url: `${baseline.url}/constant/${randomUUID()}`, duration: seconds });

    const { results, pick, ratio } = await interleavedRounds(
      rounds,
      { constant, kvRead, kvWrite },
      `${seconds} s, ${CONNECTIONS} connections`,
    );
    const errors = [...results.kvRead, ...results.kvWrite].reduce((sum, l) => sum + l.errors + l.non2xx, 0);
    return {
      suite: 'secrets',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: machineInfo(),
      setup: `fortress server process (SQLite, TLS self-signed, audited), ${paths} KV paths of 64-byte values; autocannon ${CONNECTIONS} connections, ${seconds} s per run, ${rounds} interleaved rounds; baseline: plain Fastify HTTPS returning a constant`,
      constant: pick('constant'),
      kvRead: { ...pick('kvRead'), ratioToConstant: ratio('kvRead'), rounds: results.kvRead },
      kvWrite: { ...pick('kvWrite'), ratioToConstant: ratio('kvWrite'), rounds: results.kvWrite },
      transit:
        'not built yet (issue 9): single and batch encrypt/decrypt figures and their targets come with it',
      errors,
    };
  } finally {
    await servers?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
