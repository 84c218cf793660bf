/**
 * @module bench/secrets
 * `npm run -s bench -- secrets`: the secrets engines over HTTPS, with `autocannon` on loopback
 * against a real `fortress server` process (SQLite storage, TLS with its self-signed certificate,
 * every call decided by policy and recorded durably in the audit ledger before it answers):
 * - KV read: `GET /v1/kv/data/bench/s<i>` of 64-byte values, the latest version of one of N paths,
 * - KV write: `POST /v1/kv/data/bench/w<i>`, a new version of a 64-byte value each time,
 * - transit encrypt / decrypt of 64-byte values, one per request (`POST /v1/transit/encrypt/bench`),
 * - transit encrypt / decrypt in batches of 100 items per request (figures in items/s),
 * beside a plain Fastify HTTPS server (same certificate) whose route returns a constant — the
 * framework's limit — measured in the same run, in interleaved rounds; and the raw primitive (the
 * envelope encryption of a 64-byte value in this process, no HTTP) for the crypto's share.
 * Everything shares this machine's cores: server, baseline and load generator. Prints JSON.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DataKey } from '../src/crypto/envelope/data-key.js';
import { EncryptionContext } from '../src/crypto/envelope/encryption-context.js';
import { encrypt } from '../src/crypto/envelope/envelope.js';
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
    progress('creating transit key bench and ciphertexts');
    await api('POST', '/v1/transit/keys/bench', {});
    const plain64 = Buffer.alloc(64, 7).toString('base64');
    const sealed = (await api('POST', '/v1/transit/encrypt/bench', {
      batch: Array.from({ length: 100 }, () => ({ plaintext: plain64 })),
    })) as { results: { ciphertext: string }[] };
    const ciphertexts = sealed.results.map((r) => r.ciphertext);
    const check = (await api('POST', '/v1/transit/decrypt/bench', { ciphertext: ciphertexts[3] })) as {
      plaintext: string;
    };
    if (check.plaintext !== plain64) throw new Error('transit decrypted the wrong value');
    const encryptBody = JSON.stringify({ plaintext: plain64 });
    const encryptBatchBody = JSON.stringify({
      batch: Array.from({ length: 100 }, () => ({ plaintext: plain64 })),
    });
    const decryptBodies = ciphertexts.map((c) => JSON.stringify({ ciphertext: c }));
    const decryptBatchBody = JSON.stringify({ batch: ciphertexts.map((c) => ({ ciphertext: c })) });
    const post = (route: string, body: () => string) => (): Promise<Load> =>
      load({
        url: server.url,
        duration: seconds,
        requests: [
          { method: 'POST', path: route, headers, setupRequest: (request) => ({ ...request, body: body() }) },
        ],
      });
    const transitEncrypt = post('/v1/transit/encrypt/bench', () => encryptBody);
    const transitDecrypt = post(
      '/v1/transit/decrypt/bench',
      () => decryptBodies[n++ % decryptBodies.length]!,
    );
    const transitEncryptBatch = post('/v1/transit/encrypt/bench', () => encryptBatchBody);
    const transitDecryptBatch = post('/v1/transit/decrypt/bench', () => decryptBatchBody);
    const constant = (): Promise<Load> =>
      load({ url: `${baseline.url}/constant/${randomUUID()}`, duration: seconds });

    const { results, pick, ratio } = await interleavedRounds(
      rounds,
      { constant, kvRead, kvWrite, transitEncrypt, transitDecrypt, transitEncryptBatch, transitDecryptBatch },
      `${seconds} s, ${CONNECTIONS} connections`,
    );
    const errors = [
      ...results.kvRead,
      ...results.kvWrite,
      ...results.transitEncrypt,
      ...results.transitDecrypt,
      ...results.transitEncryptBatch,
      ...results.transitDecryptBatch,
    ].reduce((sum, l) => sum + l.errors + l.non2xx, 0);
    const primitive = primitiveRate();
    const items = (name: 'transitEncryptBatch' | 'transitDecryptBatch') => {
      const picked = pick(name);
      return {
        ...picked,
        itemsPerSecond: Math.round(picked.requestsPerSec * 100),
        ratioToConstant: ratio(name),
        rounds: results[name],
      };
    };
    return {
      suite: 'secrets',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: machineInfo(),
      setup: `fortress server process (SQLite, TLS self-signed, audited), ${paths} KV paths of 64-byte values; autocannon ${CONNECTIONS} connections, ${seconds} s per run, ${rounds} interleaved rounds; baseline: plain Fastify HTTPS returning a constant`,
      constant: pick('constant'),
      kvRead: { ...pick('kvRead'), ratioToConstant: ratio('kvRead'), rounds: results.kvRead },
      kvWrite: { ...pick('kvWrite'), ratioToConstant: ratio('kvWrite'), rounds: results.kvWrite },
      transitEncrypt: {
        ...pick('transitEncrypt'),
        ratioToConstant: ratio('transitEncrypt'),
        target: '>= 10,000 single encrypts/s',
        rounds: results.transitEncrypt,
      },
      transitDecrypt: {
        ...pick('transitDecrypt'),
        ratioToConstant: ratio('transitDecrypt'),
        rounds: results.transitDecrypt,
      },
      transitEncryptBatch: {
        ...items('transitEncryptBatch'),
        itemsPerRequest: 100,
        target: '>= 200,000 items/s',
      },
      transitDecryptBatch: { ...items('transitDecryptBatch'), itemsPerRequest: 100 },
      primitive: {
        what: 'envelope encrypt (XChaCha20-Poly1305) of a 64-byte value in this process, no HTTP',
        opsPerSecond: primitive,
      },
      errors,
    };
  } finally {
    await servers?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Envelope encryptions of a 64-byte value per second in this process: the crypto's own cost. */
function primitiveRate(): number {
  using key = DataKey.generate({ id: 1, version: 1 });
  const context = EncryptionContext.of({ tenant: 'default', database: 'transit', table: 'bench' });
  const plaintext = new Uint8Array(64);
  for (let i = 0; i < 20_000; i++) encrypt(key, plaintext, context); // warm up
  const count = 200_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) encrypt(key, plaintext, context);
  return Math.round(count / (Number(process.hrtime.bigint() - start) / 1e9));
}
