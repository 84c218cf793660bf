/**
 * `client.transit` against a real server in this process (plain HTTP on 127.0.0.1, the test
 * backend): key lifecycle, encrypt/decrypt of strings and bytes with context and associated data,
 * batches with per-item errors, rewrap, data keys, HMAC, signatures, random bytes and export — the
 * SDK's base64 round trips through the server's — typed errors, and which calls are retried.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import {
  FortressClient,
  FortressClientError,
  type FortressClientErrorCode,
  type TransitApi,
} from '../../src/client/index.js';
import { dropTestSchemas, startTestServer } from '../helpers/backend.js';

let server: RunningServer;
let dir: string;
let rootToken: string;
let transit: TransitApi;

async function expectClientError(
  call: Promise<unknown>,
  code: FortressClientErrorCode,
  status?: number,
): Promise<FortressClientError> {
  let outcome: unknown;
  try {
    outcome = await call;
  } catch (error) {
    if (!(error instanceof FortressClientError)) {
      return expect.fail(`expected ${code}, got ${error instanceof Error ? error.stack : String(error)}`);
    }
    expect(error.code, error.message).toBe(code);
    if (status !== undefined) expect(error.status).toBe(status);
    return error;
  }
  return expect.fail(`expected ${code}, but the call returned ${JSON.stringify(outcome)}`);
}

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-transit-client-'));
  server = await startTestServer(dir);
  const anonymous = new FortressClient({ address: server.url });
  rootToken = (await anonymous.sys.init({ shares: 1, threshold: 1 })).rootToken;
  transit = new FortressClient({ address: server.url, token: rootToken }).transit;
}, 60_000);

afterAll(async () => {
  const closing = server.close();
  server.app.server.closeAllConnections();
  await closing;
  await rm(dir, { recursive: true, force: true });
  await dropTestSchemas();
});

describe('client.transit', () => {
  it('keys: create, read, list, configure, rotate, trim, delete', async () => {
    const created = await transit.createKey('sdk-orders');
    expect(created).toMatchObject({ name: 'sdk-orders', type: 'xchacha20-poly1305', latestVersion: 1 });
    await transit.createKey('sdk-lifecycle', {
      type: 'aegis-256',
      deletionAllowed: true,
      autoRotatePeriod: '30d',
    });
    expect(await transit.readKey('sdk-lifecycle')).toMatchObject({
      type: 'aegis-256',
      autoRotatePeriod: '30d',
    });
    expect((await transit.listKeys()).keys).toEqual(['sdk-lifecycle', 'sdk-orders']);
    expect(await transit.listKeys({ limit: 1 })).toEqual({ keys: ['sdk-lifecycle'], next: 'sdk-lifecycle' });
    expect(await transit.listKeys({ after: 'sdk-lifecycle' })).toEqual({ keys: ['sdk-orders'], next: null });
    expect((await transit.rotate('sdk-lifecycle')).latestVersion).toBe(2);
    expect(await transit.configure('sdk-lifecycle', { minDecryptionVersion: 2 })).toMatchObject({
      minDecryptionVersion: 2,
    });
    const trimmed = await transit.trim('sdk-lifecycle', 2);
    expect(trimmed.versions.map((v) => v.state)).toEqual(['destroyed', 'active']);
    await transit.deleteKey('sdk-lifecycle');
    await expectClientError(transit.readKey('sdk-lifecycle'), 'FX_TRANSIT_KEY_NOT_FOUND', 404);
    await expectClientError(transit.createKey('sdk-orders'), 'FX_TRANSIT_KEY_EXISTS', 409);
    await expectClientError(transit.createKey('bad name'), 'FX_INVALID_ARGUMENT', 400);
    await expect(transit.readKey('..')).rejects.toThrow(TypeError);
  });

  it('encrypts strings and bytes; decrypts to bytes or text; binds context and associated data', async () => {
    const text = await transit.encrypt('sdk-orders', '4111 1111 1111 1111 — naïve ☃');
    expect(text).toEqual({ ciphertext: expect.stringMatching(/^fx:v1:/) as string, keyVersion: 1 });
    expect(await transit.decryptText('sdk-orders', text.ciphertext)).toBe('4111 1111 1111 1111 — naïve ☃');
    const bytes = await transit.encrypt('sdk-orders', ALL_BYTES, { associatedData: 'row:7' });
    expect(await transit.decrypt('sdk-orders', bytes.ciphertext, { associatedData: 'row:7' })).toEqual(
      ALL_BYTES,
    );
    await expectClientError(transit.decrypt('sdk-orders', bytes.ciphertext), 'FX_INTEGRITY', 400);
    await expect(
      transit.decryptText('sdk-orders', bytes.ciphertext, { associatedData: 'row:7' }),
    ).rejects.toThrow(TypeError);
    const empty = await transit.encrypt('sdk-orders', new Uint8Array(0));
    expect(await transit.decrypt('sdk-orders', empty.ciphertext)).toEqual(new Uint8Array(0));

    await transit.createKey('sdk-derived', { derived: true, convergent: true });
    const a = await transit.encrypt('sdk-derived', 'same', { context: new Uint8Array([1, 2, 3]) });
    expect(
      (await transit.encrypt('sdk-derived', 'same', { context: new Uint8Array([1, 2, 3]) })).ciphertext,
    ).toBe(a.ciphertext);
    expect(
      await transit.decryptText('sdk-derived', a.ciphertext, { context: new Uint8Array([1, 2, 3]) }),
    ).toBe('same');
    await expectClientError(transit.encrypt('sdk-derived', 'same'), 'FX_INVALID_ARGUMENT', 400);
    await expect(transit.encrypt('sdk-orders', 42 as unknown as string)).rejects.toThrow(TypeError);
  });

  it('batches: one result per item, in order, failed items as errors', async () => {
    const sealed = await transit.encryptBatch('sdk-orders', [
      { plaintext: 'first' },
      { plaintext: ALL_BYTES, keyVersion: 9 },
      { plaintext: 'third', associatedData: ALL_BYTES },
    ]);
    expect(sealed).toHaveLength(3);
    expect(sealed[1]).toEqual({
      error: {
        code: 'FX_TRANSIT_VERSION',
        message: expect.stringMatching(/^batch\[1\]\.keyVersion/) as string,
      },
    });
    const first = sealed[0] as { ciphertext: string };
    const third = sealed[2] as { ciphertext: string };
    const opened = await transit.decryptBatch('sdk-orders', [
      { ciphertext: third.ciphertext, associatedData: ALL_BYTES },
      { ciphertext: third.ciphertext },
      { ciphertext: first.ciphertext },
    ]);
    expect(opened[0]).toEqual({ plaintext: new TextEncoder().encode('third') });
    expect(opened[1]).toMatchObject({ error: { code: 'FX_INTEGRITY' } });
    expect(opened[2]).toEqual({ plaintext: new TextEncoder().encode('first') });
    await expect(transit.encryptBatch('sdk-orders', [])).rejects.toThrow(TypeError);
  });

  it('rewrap, data keys, HMAC, signatures, random bytes and export', async () => {
    const old = await transit.encrypt('sdk-orders', 'rewrap me');
    await transit.rotate('sdk-orders');
    const rewrapped = await transit.rewrap('sdk-orders', old.ciphertext);
    expect(rewrapped.keyVersion).toBe(2);
    expect(await transit.decryptText('sdk-orders', rewrapped.ciphertext)).toBe('rewrap me');
    const batch = await transit.rewrapBatch('sdk-orders', [
      { ciphertext: old.ciphertext },
      { ciphertext: 'x' },
    ]);
    expect(batch.map((r) => ('error' in r ? r.error.code : r.keyVersion))).toEqual([
      2,
      'FX_TRANSIT_CIPHERTEXT_INVALID',
    ]);

    const plain = await transit.dataKey('sdk-orders', 'plaintext', { bits: 128 });
    expect(plain.plaintext).toHaveLength(16);
    expect(await transit.decrypt('sdk-orders', plain.ciphertext)).toEqual(plain.plaintext);
    const wrapped = await transit.dataKey('sdk-orders', 'wrapped');
    expect(wrapped).not.toHaveProperty('plaintext');
    expect(await transit.decrypt('sdk-orders', wrapped.ciphertext)).toHaveLength(32);
    await expect(transit.dataKey('sdk-orders', 'raw' as 'wrapped')).rejects.toThrow(TypeError);

    await transit.createKey('sdk-mac', { type: 'hmac', exportable: true });
    const mac = await transit.hmac('sdk-mac', 'payload');
    const key = (await transit.exportKey('sdk-mac', 'hmac-key', 1)).keys['1']!;
    expect(mac).toBe(
      `fx:v1:${createHmac('sha256', Buffer.from(key, 'base64')).update('payload').digest('base64')}`,
    );
    expect(await transit.verifyHmac('sdk-mac', 'payload', mac)).toBe(true);
    expect(await transit.verifyHmac('sdk-mac', 'payloaD', mac)).toBe(false);
    const mac512 = await transit.hmac('sdk-mac', ALL_BYTES, { algorithm: 'sha2-512' });
    expect(await transit.verifyHmac('sdk-mac', ALL_BYTES, mac512, { algorithm: 'sha2-512' })).toBe(true);

    await transit.createKey('sdk-signer', { type: 'ed25519' });
    const signed = await transit.sign('sdk-signer', ALL_BYTES);
    expect(signed.publicKey).toBe((await transit.readKey('sdk-signer')).versions[0]!.publicKey);
    expect(await transit.verify('sdk-signer', ALL_BYTES, signed.signature)).toBe(true);
    expect(await transit.verify('sdk-signer', ALL_BYTES.subarray(1), signed.signature)).toBe(false);
    expect(await transit.exportKey('sdk-signer', 'public-key')).toEqual({
      name: 'sdk-signer',
      type: 'public-key',
      keys: { '1': signed.publicKey },
    });
    expect(await transit.exportKey('sdk-signer', 'public-key', 'latest')).toEqual({
      name: 'sdk-signer',
      type: 'public-key',
      keys: { '1': signed.publicKey },
    });
    await expectClientError(transit.exportKey('sdk-signer', 'signing-key'), 'FX_TRANSIT_NOT_EXPORTABLE', 403);
    await expectClientError(transit.sign('sdk-orders', 'x'), 'FX_TRANSIT_UNSUPPORTED', 400);

    const random = await transit.random(48);
    expect(random).toHaveLength(48);
    expect(await transit.random(48)).not.toEqual(random);
    await expectClientError(transit.random(0), 'FX_REQUEST_INVALID', 400);
  });

  it('data operations are retried after a transient 503; key management is not', async () => {
    let calls = 0;
    let failNext = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls++;
      if (failNext > 0) {
        failNext--;
        return new Response(
          JSON.stringify({ error: { code: 'FX_STORAGE_UNAVAILABLE', message: 'down', requestId: 'r' } }),
          { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '0' } },
        );
      }
      return fetch(input, init);
    };
    const client = new FortressClient({ address: server.url, token: rootToken, fetch: flaky, retries: 2 });
    failNext = 1;
    const { ciphertext } = await client.transit.encrypt('sdk-orders', 'retried');
    expect(calls).toBe(2);
    failNext = 1;
    expect(await client.transit.decryptText('sdk-orders', ciphertext)).toBe('retried');
    expect(calls).toBe(4);
    failNext = 1;
    await expectClientError(client.transit.rotate('sdk-orders'), 'FX_STORAGE_UNAVAILABLE', 503);
    expect(calls).toBe(5);
    expect((await client.transit.readKey('sdk-orders')).latestVersion).toBe(2);
  });

  it('bulk rewrap: a job over a table column followed to done, and a stream of ciphertexts', async () => {
    const client = new FortressClient({ address: server.url, token: rootToken });
    await transit.createKey('sdk-bulk');
    await client.db.createTable('sdk_tokens', {
      columns: { id: { type: 'text', primaryKey: true }, token: { type: 'text' } },
    });
    const sealed: string[] = [];
    for (let i = 0; i < 12; i++) sealed.push((await transit.encrypt('sdk-bulk', `value-${i}`)).ciphertext);
    await client.db.insertMany(
      'sdk_tokens',
      sealed.map((token, i) => ({ id: `t${String(i).padStart(2, '0')}`, token })),
    );
    await transit.rotate('sdk-bulk');
    const job = await transit.startRewrap('sdk-bulk', { table: 'sdk_tokens', column: 'token', batchSize: 5 });
    const done = await transit.waitForRewrap(job.id, { pollMs: 20 });
    expect(done).toMatchObject({ state: 'done', processed: 12, rewrapped: 12, failed: 0 });
    expect((await transit.listRewrapJobs(10)).map((j) => j.id)).toContain(job.id);
    const rows = await client.db.find('sdk_tokens', { orderBy: { id: 'asc' } });
    for (const [i, row] of rows.entries()) {
      expect(String(row['token']).startsWith('fx:v2:')).toBe(true);
      expect(await transit.decryptText('sdk-bulk', String(row['token']))).toBe(`value-${i}`);
    }
    await expectClientError(transit.rewrapJob('no-such-job'), 'FX_JOB_NOT_FOUND', 404);

    function* source(): Generator<string> {
      yield* sealed;
      yield 'fx:v1:not-base64!';
    }
    const results = [];
    for await (const r of transit.rewrapStream('sdk-bulk', source(), { batchSize: 5 })) results.push(r);
    expect(results.map((r) => r.index)).toEqual([...Array(13).keys()]);
    expect(results.slice(0, 12).every((r) => 'ciphertext' in r && r.keyVersion === 2)).toBe(true);
    expect(results[12]).toMatchObject({ error: { code: 'FX_TRANSIT_CIPHERTEXT_INVALID' } });
    // The message names the field, not the item's place in one of the stream's requests (batch[2]).
    expect((results[12] as { error: { message: string } }).error.message).toMatch(/^ciphertext: /);
    await expect(async () => {
      for await (const r of transit.rewrapStream('sdk-bulk', sealed, { batchSize: 0 }))
        expect(r).toBeUndefined();
    }).rejects.toThrow(TypeError);
  });
});
