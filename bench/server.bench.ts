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
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { machineInfo, progress, target } from './harness.js';
import {
  CONNECTIONS,
  interleavedRounds,
  load,
  startBenchServers,
  type BenchServers,
  type Load,
} from './http-load.js';
import { PEOPLE_COLUMNS, seedPeople } from './people.js';

export async function run(options: { quick: boolean }): Promise<object> {
  const rows = options.quick ? 2_000 : 20_000;
  const seconds = options.quick ? 3 : 10;
  const rounds = 3;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-server-'));
  let servers: BenchServers | undefined;
  try {
    servers = await startBenchServers(dir);
    const { api, token } = servers;
    const server = { url: servers.url };
    const baseline = { url: servers.baselineUrl };
    await api('POST', '/v1/db/tables', {
      name: 'people',
      definition: { columns: PEOPLE_COLUMNS, expectedRows: rows },
    });
    progress(`inserting ${rows} rows over HTTP`);
    const ids = await seedPeople(rows, (batch) => api('POST', '/v1/db/tables/people/rows', { rows: batch }));
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
    const sample = (await api('GET', `/v1/db/tables/people/rows/${ids[0]!}`)) as {
      row: { email: string };
    };
    if (sample.row.email !== 'user0@example.com') throw new Error('the server read back the wrong row');

    const { results, pick, ratio } = await interleavedRounds(
      rounds,
      { constant, pointRead, lookup },
      `${seconds} s, ${CONNECTIONS} connections`,
    );
    const read = pick('pointRead');
    const find = pick('lookup');
    const errors = [...results.pointRead, ...results.lookup].reduce((sum, l) => sum + l.errors + l.non2xx, 0);
    return {
      suite: 'server',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: machineInfo(),
      setup: `fortress server process (SQLite, TLS self-signed, audited), ${rows} people rows; autocannon ${CONNECTIONS} connections, ${seconds} s per run, ${rounds} interleaved rounds; baseline: plain Fastify HTTPS returning a constant`,
      constant: pick('constant'),
      pointRead: { ...read, ratioToConstant: ratio('pointRead'), rounds: results.pointRead },
      equalityLookup: { ...find, ratioToConstant: ratio('lookup'), rounds: results.lookup },
      errors,
      targets: {
        'encrypted point reads ≥ 10,000/s': target(read.requestsPerSec, 10_000),
        'point read p99 ≤ 20 ms': target(read.p99Ms, 20, true),
        'point reads ≥ 0.4× the constant route': target(ratio('pointRead'), 0.4),
        'equality lookups ≥ 0.4× the constant route': target(ratio('lookup'), 0.4),
        'no errors under load': target(errors, 0, true),
      },
    };
  } finally {
    await servers?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
