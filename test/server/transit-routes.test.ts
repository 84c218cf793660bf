/**
 * `/v1/transit` over plain HTTP against a real server on the test backend: key lifecycle (create,
 * read, list, config, rotate, trim, delete), encrypt/decrypt/rewrap single and batched with
 * per-item errors, associated data, derived and convergent keys, data keys, HMAC, signatures
 * (ed25519, ml-dsa-65), random bytes, export, the minimum decryption version, policy per action
 * for non-root callers, audit entries and server logs without plaintexts, and malformed requests
 * refused with stable codes while nothing stored changes.
 */
import { createHmac, createPublicKey, verify as verifySignature } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { MAX_BATCH_ITEMS } from '../../src/secrets/transit/transit-engine.js';
import { startInitialisedTestServer, stopTestServer } from '../helpers/backend.js';
import { httpCalls } from '../helpers/http-calls.js';

const SENTINEL = 'transit-http-sentinel-Qm7v';
const SENTINEL_B64 = b64(SENTINEL);
let server: RunningServer;
let dir: string;
let root: string;
/** Every line the server logged (at debug level: the most it ever says about a request). */
const logs: string[] = [];

function b64(value: string | Uint8Array): string {
  return Buffer.from(value).toString('base64');
}

function unb64(value: unknown): Buffer {
  expect(typeof value).toBe('string');
  return Buffer.from(value as string, 'base64');
}

const { call, ok, expectError } = httpCalls(() => ({ url: server.url, token: root }));

async function tokenFor(name: string): Promise<string> {
  const { token } = await server.context.tokens.create({
    principal: { kind: 'user', name, tenant: 'default' },
    method: 'test',
    ttlSeconds: 3600,
    maxTtlSeconds: 3600,
  });
  return token;
}

async function encrypt(key: string, plaintext: string, extra: Record<string, unknown> = {}): Promise<string> {
  const body = await ok('POST', `/v1/transit/encrypt/${key}`, { plaintext: b64(plaintext), ...extra });
  return body['ciphertext'] as string;
}

type Results = { error?: { code: string; message: string } } & Record<string, unknown>;

beforeAll(async () => {
  ({ server, dir, root } = await startInitialisedTestServer('fx-transit-routes-', {
    logLevel: 'debug',
    logStream: {
      write: (line: string) => {
        logs.push(line);
      },
    },
  }));
}, 60_000);

afterAll(async () => {
  await stopTestServer(server, dir);
});

describe('/v1/transit keys', () => {
  it('creates, reads, lists, configures, rotates, trims and deletes a key', async () => {
    const created = await ok('POST', '/v1/transit/keys/orders', {});
    expect(created).toMatchObject({
      name: 'orders',
      type: 'xchacha20-poly1305',
      latestVersion: 1,
      minDecryptionVersion: 1,
      minEncryptionVersion: 0,
      exportable: false,
      derived: false,
      deletionAllowed: false,
      autoRotatePeriod: null,
      supportsEncryption: true,
      supportsSigning: false,
    });
    expect(created['versions']).toEqual([expect.objectContaining({ version: 1, state: 'active' })]);
    expectError(await call('POST', '/v1/transit/keys/orders', {}), 409, 'FX_TRANSIT_KEY_EXISTS');
    expect(await ok('GET', '/v1/transit/keys/orders')).toEqual(created);
    expectError(await call('GET', '/v1/transit/keys/missing'), 404, 'FX_TRANSIT_KEY_NOT_FOUND');

    expect(
      await ok('POST', '/v1/transit/keys/lifecycle', { type: 'aes-256-gcm', autoRotatePeriod: '30d' }),
    ).toMatchObject({ type: 'aes-256-gcm', autoRotatePeriod: '30d' });
    expect(await ok('POST', '/v1/transit/keys/lifecycle/rotate')).toMatchObject({ latestVersion: 2 });
    expect(await ok('POST', '/v1/transit/keys/lifecycle/rotate', {})).toMatchObject({ latestVersion: 3 });
    expect(
      await ok('POST', '/v1/transit/keys/lifecycle/config', {
        minDecryptionVersion: 2,
        minEncryptionVersion: 3,
        autoRotatePeriod: null,
      }),
    ).toMatchObject({ minDecryptionVersion: 2, minEncryptionVersion: 3, autoRotatePeriod: null });
    expectError(
      await call('POST', '/v1/transit/keys/lifecycle/trim', { minAvailableVersion: 3 }),
      400,
      'FX_INVALID_ARGUMENT',
    );
    const trimmed = await ok('POST', '/v1/transit/keys/lifecycle/trim', { minAvailableVersion: 2 });
    expect(trimmed).toMatchObject({ minAvailableVersion: 2 });
    expect((trimmed['versions'] as { version: number; state: string }[]).map((v) => v.state)).toEqual([
      'destroyed',
      expect.any(String),
      'active',
    ]);

    expectError(await call('DELETE', '/v1/transit/keys/lifecycle'), 409, 'FX_KEY_STATE');
    await ok('POST', '/v1/transit/keys/lifecycle/config', { deletionAllowed: true });
    expect(await ok('DELETE', '/v1/transit/keys/lifecycle')).toEqual({ deleted: true });
    expectError(await call('GET', '/v1/transit/keys/lifecycle'), 404, 'FX_TRANSIT_KEY_NOT_FOUND');
    expectError(await call('DELETE', '/v1/transit/keys/lifecycle'), 404, 'FX_TRANSIT_KEY_NOT_FOUND');
  });

  it('every route is in the OpenAPI document', async () => {
    const paths = Object.keys((await ok('GET', '/v1/openapi.json'))['paths'] as Record<string, unknown>);
    expect(paths.filter((p) => p.startsWith('/v1/transit/')).sort()).toEqual([
      '/v1/transit/datakey/plaintext/{name}',
      '/v1/transit/datakey/wrapped/{name}',
      '/v1/transit/decrypt/{name}',
      '/v1/transit/encrypt/{name}',
      '/v1/transit/export/{type}/{name}',
      '/v1/transit/export/{type}/{name}/{version}',
      '/v1/transit/hmac/{name}',
      '/v1/transit/keys',
      '/v1/transit/keys/{name}',
      '/v1/transit/keys/{name}/config',
      '/v1/transit/keys/{name}/rewrap-jobs',
      '/v1/transit/keys/{name}/rotate',
      '/v1/transit/keys/{name}/trim',
      '/v1/transit/random',
      '/v1/transit/random/{bytes}',
      '/v1/transit/rewrap-jobs',
      '/v1/transit/rewrap-jobs/{id}',
      '/v1/transit/rewrap-jobs/{id}/pause',
      '/v1/transit/rewrap-jobs/{id}/resume',
      '/v1/transit/rewrap-stream/{name}',
      '/v1/transit/rewrap/{name}',
      '/v1/transit/sign/{name}',
      '/v1/transit/verify/{name}',
    ]);
  });

  it('lists key names a page at a time', async () => {
    for (const name of ['list-a', 'list-b', 'list-c']) await ok('POST', `/v1/transit/keys/${name}`, {});
    const all = (await ok('GET', '/v1/transit/keys'))['keys'] as string[];
    expect(all).toEqual(expect.arrayContaining(['list-a', 'list-b', 'list-c', 'orders']));
    expect(all).toEqual([...all].sort());
    expect(await ok('GET', '/v1/transit/keys?after=list-&limit=2')).toEqual({
      keys: ['list-a', 'list-b'],
      next: 'list-b',
    });
    expect((await ok('GET', '/v1/transit/keys?after=list-b&limit=1'))['keys']).toEqual(['list-c']);
    expectError(await call('GET', '/v1/transit/keys?limit=5000'), 400, 'FX_INVALID_ARGUMENT');
    expectError(await call('GET', '/v1/transit/keys?limit=0'), 400, 'FX_REQUEST_INVALID');
    expectError(await call('GET', '/v1/transit/keys?cursor=x'), 400, 'FX_REQUEST_INVALID');
  });
});

describe('/v1/transit encryption', () => {
  it('encrypts and decrypts one value, and a batch with per-item errors in input order', async () => {
    const ciphertext = await encrypt('orders', SENTINEL);
    expect(ciphertext).toMatch(/^fx:v1:[A-Za-z0-9+/]+=*$/);
    expect(await ok('POST', '/v1/transit/decrypt/orders', { ciphertext })).toEqual({
      plaintext: SENTINEL_B64,
    });

    await ok('POST', '/v1/transit/keys/other', {});
    const foreign = await encrypt('other', 'from another key');
    const batch = await ok('POST', '/v1/transit/encrypt/orders', {
      batch: [
        { plaintext: b64('one') },
        { plaintext: b64('two'), keyVersion: 99 },
        { plaintext: b64('three') },
      ],
    });
    const sealed = batch['results'] as Results[];
    expect(sealed).toHaveLength(3);
    expect(sealed[0]).toEqual({ ciphertext: expect.stringMatching(/^fx:v1:/) as string, keyVersion: 1 });
    expect(sealed[1]).toEqual({
      error: {
        code: 'FX_TRANSIT_VERSION',
        message: expect.stringMatching(/^batch\[1\]\.keyVersion: 99 is outside/) as string,
      },
    });
    expect(sealed[2]).toMatchObject({ keyVersion: 1 });

    const opened = await ok('POST', '/v1/transit/decrypt/orders', {
      batch: [
        { ciphertext: sealed[2]!['ciphertext'] },
        { ciphertext: foreign },
        { ciphertext: 'fx:v1:not base64!' },
        { ciphertext: sealed[0]!['ciphertext'] },
        { ciphertext: 'vault:v1:AAAA' },
      ],
    });
    const plain = opened['results'] as Results[];
    expect(plain.map((r) => r.error?.code ?? unb64(r['plaintext']).toString())).toEqual([
      'three',
      'FX_TRANSIT_CIPHERTEXT_INVALID',
      'FX_TRANSIT_CIPHERTEXT_INVALID',
      'one',
      'FX_TRANSIT_CIPHERTEXT_INVALID',
    ]);
    expect(plain[1]!.error!.message).toMatch(/^batch\[1\]\.ciphertext: was not made by transit key orders/);

    // A single item's failure is the HTTP error, named as the body names it.
    const wrongKey = await call('POST', '/v1/transit/decrypt/orders', { ciphertext: foreign });
    expectError(wrongKey, 400, 'FX_TRANSIT_CIPHERTEXT_INVALID');
    expect((wrongKey.body['error'] as { message: string }).message).toMatch(/^ciphertext: was not made/);
    expectError(
      await call('POST', '/v1/transit/encrypt/orders', { plaintext: b64('x'), keyVersion: 7 }),
      400,
      'FX_TRANSIT_VERSION',
    );
    expectError(
      await call('POST', '/v1/transit/encrypt/missing', { plaintext: b64('x') }),
      404,
      'FX_TRANSIT_KEY_NOT_FOUND',
    );
  });

  it('binds associated data: decryption without it, or with other bytes, fails', async () => {
    const associatedData = b64('order:1234');
    const ciphertext = await encrypt('orders', SENTINEL, { associatedData });
    expect(await ok('POST', '/v1/transit/decrypt/orders', { ciphertext, associatedData })).toEqual({
      plaintext: SENTINEL_B64,
    });
    expectError(await call('POST', '/v1/transit/decrypt/orders', { ciphertext }), 400, 'FX_INTEGRITY');
    expectError(
      await call('POST', '/v1/transit/decrypt/orders', { ciphertext, associatedData: b64('order:1235') }),
      400,
      'FX_INTEGRITY',
    );
  });

  it('takes a batch of 10,000 items; one more is refused', async () => {
    const batch = Array.from({ length: MAX_BATCH_ITEMS }, (_, i) => ({
      plaintext: b64(Buffer.alloc(32, i % 251)),
    }));
    const sealed = (await ok('POST', '/v1/transit/encrypt/orders', { batch }))['results'] as Results[];
    expect(sealed).toHaveLength(MAX_BATCH_ITEMS);
    expect(sealed.every((r) => typeof r['ciphertext'] === 'string')).toBe(true);
    const opened = (
      await ok('POST', '/v1/transit/decrypt/orders', {
        batch: sealed.slice(0, 5000).map((r) => ({ ciphertext: r['ciphertext'] })),
      })
    )['results'] as Results[];
    expect(opened[4999]).toEqual({ plaintext: batch[4999]!.plaintext });
    const tooMany = await call('POST', '/v1/transit/encrypt/orders', {
      batch: Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => ({ plaintext: 'AA==' })),
    });
    expectError(tooMany, 400, 'FX_REQUEST_INVALID');
    expect(tooMany.text).toContain('10000');
  });

  it('derived keys need a context; a ciphertext opens only under its own context', async () => {
    await ok('POST', '/v1/transit/keys/tenants', { derived: true });
    const context = b64('tenant-1');
    const missing = await call('POST', '/v1/transit/encrypt/tenants', { plaintext: SENTINEL_B64 });
    expectError(missing, 400, 'FX_INVALID_ARGUMENT');
    expect((missing.body['error'] as { message: string }).message).toMatch(
      /^context: transit key tenants is derived/,
    );
    const ciphertext = await encrypt('tenants', SENTINEL, { context });
    expect(await ok('POST', '/v1/transit/decrypt/tenants', { ciphertext, context })).toEqual({
      plaintext: SENTINEL_B64,
    });
    const other = await call('POST', '/v1/transit/decrypt/tenants', { ciphertext, context: b64('tenant-2') });
    expect(other.status, other.text).toBe(400);
    expect(['FX_INTEGRITY', 'FX_TRANSIT_CIPHERTEXT_INVALID']).toContain(
      (other.body['error'] as { code: string }).code,
    );
    expectError(
      await call('POST', '/v1/transit/decrypt/tenants', { ciphertext }),
      400,
      'FX_INVALID_ARGUMENT',
    );
    // Two encryptions under one context differ (random nonces), unless the key is convergent.
    expect(await encrypt('tenants', 'same', { context })).not.toBe(
      await encrypt('tenants', 'same', { context }),
    );
    // A context given for a key that takes none is refused rather than ignored.
    expectError(
      await call('POST', '/v1/transit/encrypt/orders', { plaintext: SENTINEL_B64, context }),
      400,
      'FX_INVALID_ARGUMENT',
    );
  });

  it('convergent keys: equal plaintext and context give equal ciphertexts; another context does not', async () => {
    await ok('POST', '/v1/transit/keys/convergent', { derived: true, convergent: true });
    expectError(
      await call('POST', '/v1/transit/keys/bad-convergent', { convergent: true }),
      400,
      'FX_INVALID_ARGUMENT',
    );
    const a = await encrypt('convergent', 'ssn 078-05-1120', { context: b64('ctx-a') });
    expect(await encrypt('convergent', 'ssn 078-05-1120', { context: b64('ctx-a') })).toBe(a);
    expect(await encrypt('convergent', 'ssn 078-05-1120', { context: b64('ctx-b') })).not.toBe(a);
    expect(await encrypt('convergent', 'ssn 078-05-1121', { context: b64('ctx-a') })).not.toBe(a);
    expect(
      await ok('POST', '/v1/transit/decrypt/convergent', { ciphertext: a, context: b64('ctx-a') }),
    ).toEqual({
      plaintext: b64('ssn 078-05-1120'),
    });
  });

  it('rewrap moves a ciphertext to the latest version without answering its plaintext', async () => {
    await ok('POST', '/v1/transit/keys/rewrapped', {});
    const v1 = await encrypt('rewrapped', SENTINEL, { associatedData: b64('ad') });
    const second = await encrypt('rewrapped', 'second');
    await ok('POST', '/v1/transit/keys/rewrapped/rotate');
    const rewrap = await call('POST', '/v1/transit/rewrap/rewrapped', {
      ciphertext: v1,
      associatedData: b64('ad'),
    });
    expect(rewrap.status, rewrap.text).toBe(200);
    expect(Object.keys(rewrap.body).sort()).toEqual(['ciphertext', 'keyVersion']);
    expect(rewrap.body['keyVersion']).toBe(2);
    expect(rewrap.body['ciphertext']).toMatch(/^fx:v2:/);
    expect(rewrap.text).not.toContain(SENTINEL_B64);
    expect(
      await ok('POST', '/v1/transit/decrypt/rewrapped', {
        ciphertext: rewrap.body['ciphertext'],
        associatedData: b64('ad'),
      }),
    ).toEqual({ plaintext: SENTINEL_B64 });
    const batch = (
      await ok('POST', '/v1/transit/rewrap/rewrapped', {
        batch: [{ ciphertext: second }, { ciphertext: v1 }],
      })
    )['results'] as Results[];
    expect(batch[0]).toEqual({ ciphertext: expect.stringMatching(/^fx:v2:/) as string, keyVersion: 2 });
    expect(batch[1]!.error?.code).toBe('FX_INTEGRITY');
  });

  it('a minimum decryption version retires older ciphertexts', async () => {
    await ok('POST', '/v1/transit/keys/retiring', {});
    const old = await encrypt('retiring', SENTINEL);
    await ok('POST', '/v1/transit/keys/retiring/rotate');
    const fresh = await encrypt('retiring', SENTINEL);
    expect(fresh).toMatch(/^fx:v2:/);
    await ok('POST', '/v1/transit/keys/retiring/config', { minDecryptionVersion: 2 });
    expectError(
      await call('POST', '/v1/transit/decrypt/retiring', { ciphertext: old }),
      409,
      'FX_KEY_VERSION_RETIRED',
    );
    expect(await ok('POST', '/v1/transit/decrypt/retiring', { ciphertext: fresh })).toEqual({
      plaintext: SENTINEL_B64,
    });
    // Reversible until trimmed.
    await ok('POST', '/v1/transit/keys/retiring/config', { minDecryptionVersion: 1 });
    expect(await ok('POST', '/v1/transit/decrypt/retiring', { ciphertext: old })).toEqual({
      plaintext: SENTINEL_B64,
    });
  });

  it('data keys: plaintext with its ciphertext, or wrapped only; the wrapped one decrypts', async () => {
    const withPlain = await ok('POST', '/v1/transit/datakey/plaintext/orders', {});
    expect(Object.keys(withPlain).sort()).toEqual(['ciphertext', 'keyVersion', 'plaintext']);
    const key = unb64(withPlain['plaintext']);
    expect(key).toHaveLength(32);
    expect(await ok('POST', '/v1/transit/decrypt/orders', { ciphertext: withPlain['ciphertext'] })).toEqual({
      plaintext: withPlain['plaintext'],
    });
    const wrapped = await ok('POST', '/v1/transit/datakey/wrapped/orders', {
      bits: 512,
      associatedData: b64('dk'),
    });
    expect(Object.keys(wrapped).sort()).toEqual(['ciphertext', 'keyVersion']);
    const opened = await ok('POST', '/v1/transit/decrypt/orders', {
      ciphertext: wrapped['ciphertext'],
      associatedData: b64('dk'),
    });
    expect(unb64(opened['plaintext'])).toHaveLength(64);
    expect(
      unb64((await ok('POST', '/v1/transit/datakey/plaintext/orders', { bits: 128 }))['plaintext']),
    ).toHaveLength(16);
    expectError(
      await call('POST', '/v1/transit/datakey/wrapped/orders', { bits: 100 }),
      400,
      'FX_REQUEST_INVALID',
    );
    expectError(await call('POST', '/v1/transit/datakey/secret/orders', {}), 404, 'FX_NOT_FOUND');
  });
});

describe('/v1/transit HMAC, signatures, random, export', () => {
  it('HMACs and checks them, single and batched; the HMAC is HMAC-SHA2 of the exported key', async () => {
    await ok('POST', '/v1/transit/keys/macs', { type: 'hmac', exportable: true });
    const input = b64('message to authenticate');
    const { hmac } = (await ok('POST', '/v1/transit/hmac/macs', { input })) as { hmac: string };
    expect(hmac).toMatch(/^fx:v1:/);
    const exported = await ok('GET', '/v1/transit/export/hmac-key/macs');
    const hmacKey = unb64((exported['keys'] as Record<string, string>)['1']);
    expect(hmac.slice('fx:v1:'.length)).toBe(
      createHmac('sha256', hmacKey).update('message to authenticate').digest('base64'),
    );
    expect(await ok('POST', '/v1/transit/verify/macs', { input, hmac })).toEqual({ valid: true });
    expect(
      await ok('POST', '/v1/transit/verify/macs', { input: b64('message to authenticatE'), hmac }),
    ).toEqual({
      valid: false,
    });
    const sha512 = (await ok('POST', '/v1/transit/hmac/macs', { input, algorithm: 'sha2-512' }))[
      'hmac'
    ] as string;
    expect(unb64(sha512.slice('fx:v1:'.length))).toHaveLength(64);
    expect(
      await ok('POST', '/v1/transit/verify/macs', { input, hmac: sha512, algorithm: 'sha2-512' }),
    ).toEqual({
      valid: true,
    });
    expect(await ok('POST', '/v1/transit/verify/macs', { input, hmac: sha512 })).toEqual({ valid: false });

    const results = (
      await ok('POST', '/v1/transit/hmac/macs', {
        batch: [{ input: b64('a') }, { input: b64('b'), keyVersion: 5 }, { input: b64('c') }],
      })
    )['results'] as Results[];
    expect(results.map((r) => r.error?.code ?? 'ok')).toEqual(['ok', 'FX_TRANSIT_VERSION', 'ok']);
    const checked = (
      await ok('POST', '/v1/transit/verify/macs', {
        batch: [
          { input: b64('a'), hmac: results[0]!['hmac'] },
          { input: b64('c'), hmac: results[0]!['hmac'] },
          { input: b64('c'), hmac: 'not an hmac' },
          { input: b64('c'), hmac: results[2]!['hmac'] },
        ],
      })
    )['results'] as Results[];
    expect(checked.map((r) => r.error?.code ?? r['valid'])).toEqual([
      true,
      false,
      'FX_TRANSIT_CIPHERTEXT_INVALID',
      true,
    ]);
    // An AEAD key has an HMAC key too.
    const aead = (await ok('POST', '/v1/transit/hmac/orders', { input }))['hmac'];
    expect(await ok('POST', '/v1/transit/verify/orders', { input, hmac: aead })).toEqual({ valid: true });
  });

  for (const type of ['ed25519', 'ml-dsa-65'] as const) {
    it(`signs with ${type} and verifies; a tampered input or signature is not valid`, async () => {
      const name = `signer-${type}`;
      const created = await ok('POST', `/v1/transit/keys/${name}`, { type });
      expect(created).toMatchObject({ supportsSigning: true, supportsEncryption: false });
      const publicKey = (created['versions'] as { publicKey?: string }[])[0]!.publicKey;
      expect(publicKey).toEqual(expect.any(String));
      const input = b64('release v1.2.3 sha256:abc');
      const signed = await ok('POST', `/v1/transit/sign/${name}`, { input });
      expect(signed).toEqual({ signature: expect.stringMatching(/^fx:v1:/) as string, publicKey });
      const signature = signed['signature'] as string;
      expect(await ok('POST', `/v1/transit/verify/${name}`, { input, signature })).toEqual({ valid: true });
      expect(
        await ok('POST', `/v1/transit/verify/${name}`, {
          input: b64('release v1.2.4 sha256:abc'),
          signature,
        }),
      ).toEqual({
        valid: false,
      });
      const bytes = unb64(signature.slice('fx:v1:'.length));
      bytes[10] = bytes[10]! ^ 1;
      expect(
        await ok('POST', `/v1/transit/verify/${name}`, {
          input,
          signature: `fx:v1:${bytes.toString('base64')}`,
        }),
      ).toEqual({ valid: false });
      if (type === 'ed25519') {
        // An independent implementation agrees (Node's OpenSSL Ed25519).
        const key = createPublicKey({
          key: { kty: 'OKP', crv: 'Ed25519', x: unb64(publicKey).toString('base64url') },
          format: 'jwk',
        });
        expect(
          verifySignature(null, Buffer.from('release v1.2.3 sha256:abc'), key, unb64(signature.slice(6))),
        ).toBe(true);
      }
      const exported = await ok('GET', `/v1/transit/export/public-key/${name}/1`);
      expect(exported).toEqual({ name, type: 'public-key', keys: { '1': publicKey } });
      const batch = (
        await ok('POST', `/v1/transit/sign/${name}`, { batch: [{ input }, { input, keyVersion: 3 }] })
      )['results'] as Results[];
      expect(batch.map((r) => r.error?.code ?? 'ok')).toEqual(['ok', 'FX_TRANSIT_VERSION']);
      expectError(
        await call('POST', `/v1/transit/encrypt/${name}`, { plaintext: input }),
        400,
        'FX_TRANSIT_UNSUPPORTED',
      );
      expectError(
        await call('POST', `/v1/transit/verify/${name}`, { input, signature, algorithm: 'sha2-256' }),
        400,
        'FX_REQUEST_INVALID',
      );
    });
  }

  it('verify takes exactly one of hmac and signature, the same in every batch item', async () => {
    const input = b64('x');
    expectError(await call('POST', '/v1/transit/verify/orders', { input }), 400, 'FX_REQUEST_INVALID');
    expectError(
      await call('POST', '/v1/transit/verify/orders', { input, hmac: 'fx:v1:AA==', signature: 'fx:v1:AA==' }),
      400,
      'FX_REQUEST_INVALID',
    );
    expectError(
      await call('POST', '/v1/transit/verify/orders', {
        batch: [
          { input, hmac: 'fx:v1:AA==' },
          { input, signature: 'fx:v1:AA==' },
        ],
      }),
      400,
      'FX_REQUEST_INVALID',
    );
    expectError(await call('POST', '/v1/transit/sign/orders', { input }), 400, 'FX_TRANSIT_UNSUPPORTED');
  });

  it('random bytes as base64 or hex; a bad count is refused', async () => {
    expect(unb64((await ok('POST', '/v1/transit/random', { bytes: 32 }))['random'])).toHaveLength(32);
    expect((await ok('POST', '/v1/transit/random', { bytes: 16, format: 'hex' }))['random']).toMatch(
      /^[0-9a-f]{32}$/,
    );
    const a = (await ok('POST', '/v1/transit/random', { bytes: 32 }))['random'];
    expect((await ok('POST', '/v1/transit/random', { bytes: 32 }))['random']).not.toBe(a);
    for (const bytes of [0, -1, 1.5, '32', 1024 * 1024 + 1]) {
      expectError(await call('POST', '/v1/transit/random', { bytes }), 400, 'FX_REQUEST_INVALID');
    }
    expectError(
      await call('POST', '/v1/transit/random', { bytes: 8, format: 'binary' }),
      400,
      'FX_REQUEST_INVALID',
    );
    expectError(await call('POST', '/v1/transit/random', {}), 400, 'FX_REQUEST_INVALID');
    // Vault's form: the count in the path, the body optional.
    expect(unb64((await ok('POST', '/v1/transit/random/24'))['random'])).toHaveLength(24);
    expect((await ok('POST', '/v1/transit/random/8', { format: 'hex' }))['random']).toMatch(/^[0-9a-f]{16}$/);
    for (const bytes of ['0', '-1', '1.5', 'abc', '1048577', '99999999']) {
      const r = await call('POST', `/v1/transit/random/${bytes}`);
      expect(r.status, bytes).toBe(400);
      expect(['FX_REQUEST_INVALID', 'FX_INVALID_ARGUMENT']).toContain(
        (r.body['error'] as { code: string }).code,
      );
    }
    expectError(await call('POST', '/v1/transit/random/8', { bytes: 8 }), 400, 'FX_REQUEST_INVALID');
    expectError(await call('POST', '/v1/transit/random/8', { format: 'binary' }), 400, 'FX_REQUEST_INVALID');
    expectError(await call('POST', '/v1/transit/random/8', [1]), 400, 'FX_REQUEST_INVALID');
    const unknown = await call('POST', '/v1/transit/random/8', { colour: 'red' });
    expectError(unknown, 400, 'FX_REQUEST_INVALID');
    expect((unknown.body['error'] as { message: string }).message).toBe('body at /colour: unknown field');
  });

  it('export: refused for a key not created exportable; exportability is irreversible', async () => {
    expectError(
      await call('GET', '/v1/transit/export/encryption-key/orders'),
      403,
      'FX_TRANSIT_NOT_EXPORTABLE',
    );
    await ok('POST', '/v1/transit/keys/portable', { exportable: true });
    await ok('POST', '/v1/transit/keys/portable/rotate');
    const all = await ok('GET', '/v1/transit/export/encryption-key/portable');
    expect(all['name']).toBe('portable');
    const keys = all['keys'] as Record<string, string>;
    expect(Object.keys(keys)).toEqual(['1', '2']);
    expect(unb64(keys['2'])).toHaveLength(32);
    // One version, by number or as `latest` (Vault's word for the newest).
    for (const version of ['2', 'latest']) {
      expect(await ok('GET', `/v1/transit/export/encryption-key/portable/${version}`)).toEqual({
        name: 'portable',
        type: 'encryption-key',
        keys: { '2': keys['2'] },
      });
    }
    expectError(
      await call('GET', '/v1/transit/export/encryption-key/portable/3'),
      400,
      'FX_INVALID_ARGUMENT',
    );
    expectError(
      await call('GET', '/v1/transit/export/encryption-key/portable/newest'),
      400,
      'FX_REQUEST_INVALID',
    );
    expectError(await call('GET', '/v1/transit/export/signing-key/portable'), 400, 'FX_TRANSIT_UNSUPPORTED');
    expectError(await call('GET', '/v1/transit/export/private-key/portable'), 400, 'FX_REQUEST_INVALID');
    expectError(
      await call('POST', '/v1/transit/keys/portable/config', { exportable: false }),
      409,
      'FX_TRANSIT_EXPORTABLE_IRREVERSIBLE',
    );
    // Exportable later: allowed, and then for good.
    await ok('POST', '/v1/transit/keys/late-export', {});
    expect(await ok('POST', '/v1/transit/keys/late-export/config', { exportable: true })).toMatchObject({
      exportable: true,
    });
    await ok('GET', '/v1/transit/export/encryption-key/late-export/1');
  });
});

describe('/v1/transit policy, audit and malformed requests', () => {
  it('each operation is its own action: encrypt-only cannot decrypt; wrapped data keys are not plaintext ones', async () => {
    const db = server.context.unsealed();
    await db.access.addUser('enc', { roles: [] });
    await db.access.addUser('wrap', { roles: [] });
    await db.access.addPolicies({
      'transit-enc': `permit (
  principal == Fortress::User::"default/enc",
  action == Fortress::Action::"transitEncrypt",
  resource == Fortress::TransitKey::"default/orders"
);`,
      'transit-wrap': `permit (
  principal == Fortress::User::"default/wrap",
  action == Fortress::Action::"transitDataKey",
  resource == Fortress::TransitKey::"default/orders"
);`,
    });
    const enc = await tokenFor('enc');
    const wrap = await tokenFor('wrap');
    const { ciphertext } = (await ok(
      'POST',
      '/v1/transit/encrypt/orders',
      { plaintext: SENTINEL_B64 },
      enc,
    )) as {
      ciphertext: string;
    };
    expect(ciphertext).toMatch(/^fx:v/);
    const batch = await ok(
      'POST',
      '/v1/transit/encrypt/orders',
      { batch: [{ plaintext: SENTINEL_B64 }] },
      enc,
    );
    expect((batch['results'] as Results[])[0]).toHaveProperty('ciphertext');
    expectError(await call('POST', '/v1/transit/decrypt/orders', { ciphertext }, enc), 403, 'FX_FORBIDDEN');
    expectError(
      await call('POST', '/v1/transit/encrypt/other', { plaintext: SENTINEL_B64 }, enc),
      403,
      'FX_FORBIDDEN',
    );
    expectError(await call('POST', '/v1/transit/datakey/plaintext/orders', {}, enc), 403, 'FX_FORBIDDEN');
    expectError(await call('POST', '/v1/transit/datakey/wrapped/orders', {}, enc), 403, 'FX_FORBIDDEN');
    expectError(await call('GET', '/v1/transit/keys/orders', undefined, enc), 403, 'FX_FORBIDDEN');
    expectError(await call('GET', '/v1/transit/keys', undefined, enc), 403, 'FX_FORBIDDEN');
    expectError(await call('POST', '/v1/transit/keys/orders/rotate', undefined, enc), 403, 'FX_FORBIDDEN');
    expectError(await call('POST', '/v1/transit/random', { bytes: 8 }, enc), 403, 'FX_FORBIDDEN');

    const wrapped = await ok('POST', '/v1/transit/datakey/wrapped/orders', {}, wrap);
    expect(Object.keys(wrapped).sort()).toEqual(['ciphertext', 'keyVersion']);
    expectError(await call('POST', '/v1/transit/datakey/plaintext/orders', {}, wrap), 403, 'FX_FORBIDDEN');
    expectError(await call('POST', '/v1/transit/decrypt/orders', { ciphertext }, wrap), 403, 'FX_FORBIDDEN');

    const entries = [];
    for await (const entry of db.audit.entries({ action: 'transit.' })) entries.push(entry);
    const denied = entries.find(
      (e) =>
        e.principal.id === 'default/enc' && e.action === 'transit.decrypt' && e.decision.effect === 'deny',
    );
    expect(denied?.resource).toEqual({ type: 'secret', tenant: 'default', path: 'transit:orders' });
    expect(
      entries.some(
        (e) =>
          e.principal.id === 'default/wrap' &&
          e.action === 'transit.dataKey.wrapped' &&
          e.resource.path === 'transit:orders' &&
          e.outcome.status === 'ok',
      ),
    ).toBe(true);
    expect(
      entries.some(
        (e) =>
          e.principal.id === 'default/enc' &&
          e.action === 'transit.encrypt' &&
          e.resource.path === 'transit:orders' &&
          e.outcome.status === 'ok' &&
          e.details?.['items'] === 1,
      ),
    ).toBe(true);
  });

  it('the audit ledger and the server log hold no plaintext, data key or exported key', async () => {
    const entries = [];
    for await (const entry of server.context.unsealed().audit.entries({})) entries.push(entry);
    const transit = entries.filter((e) => e.action.startsWith('transit.'));
    expect(transit.length).toBeGreaterThan(50);
    for (const e of transit) {
      if (e.resource.type === 'secret') expect(e.resource.path).toMatch(/^transit:[A-Za-z0-9._-]+$/);
    }
    expect(new Set(transit.map((e) => e.action))).toEqual(
      new Set([
        'transit.createKey',
        'transit.readKey',
        'transit.listKeys',
        'transit.configure',
        'transit.rotate',
        'transit.trim',
        'transit.deleteKey',
        'transit.encrypt',
        'transit.decrypt',
        'transit.rewrap',
        'transit.dataKey.plaintext',
        'transit.dataKey.wrapped',
        'transit.hmac',
        'transit.verifyHmac',
        'transit.sign',
        'transit.verify',
        'transit.random',
        'transit.export',
      ]),
    );
    // Over HTTP each entry is whole (its secret path included), so it still hashes to the ledger's leaf.
    const searched = await ok('GET', '/v1/audit/search?action=transit.encrypt&limit=5');
    const first = (searched['entries'] as { resource: { path?: string } }[])[0]!;
    expect(first.resource.path).toMatch(/^transit:/);
    const ledger = JSON.stringify(entries);
    const log = logs.join('');
    expect(log).toContain('/v1/transit/decrypt/:name');
    for (const text of [ledger, log]) {
      expect(text).not.toContain(SENTINEL);
      expect(text).not.toContain(SENTINEL_B64);
      expect(text).not.toContain('fx:v1:');
      expect(text).not.toContain('ssn 078');
    }
  });

  it('malformed requests are refused with a stable code, and nothing stored changes', async () => {
    await ok('POST', '/v1/transit/keys/keep', {});
    const before = await ok('GET', '/v1/transit/keys/keep');
    const keysBefore = await ok('GET', '/v1/transit/keys?limit=1000');
    const bad: [string, string, unknown, number, string, string?][] = [
      ['POST', '/v1/transit/keys/keep2', undefined, 400, 'FX_REQUEST_INVALID', '{"type": '],
      ['POST', '/v1/transit/keys/keep2', { type: 'rot13' }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep2', { exportable: 'yes' }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep2', { colour: 'blue' }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep2', { autoRotatePeriod: '10m' }, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/transit/keys/keep2', { autoRotatePeriod: 'weekly' }, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/transit/keys/bad%20name', {}, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/transit/keys/-dash', {}, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', `/v1/transit/keys/${'k'.repeat(129)}`, {}, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep2', undefined, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep/config', {}, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep/config', { minDecryptionVersion: 0 }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep/config', { minDecryptionVersion: 2 }, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/transit/keys/keep/config', { convergent: true }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep/trim', {}, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/keys/keep/trim', { minAvailableVersion: 2 }, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/transit/encrypt/keep', { plaintext: 'not base64!' }, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/transit/encrypt/keep', { plaintext: 'QUJD' + '=' }, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/transit/encrypt/keep', { plaintext: 42 }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/encrypt/keep', {}, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/encrypt/keep', { plaintext: 'QUJD', extra: 1 }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/encrypt/keep', { plaintext: 'QUJD', keyVersion: -1 }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/encrypt/keep', { plaintext: 'QUJD', context: '***' }, 400, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/transit/encrypt/keep', { batch: [] }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/encrypt/keep', { batch: [{}] }, 400, 'FX_REQUEST_INVALID'],
      [
        'POST',
        '/v1/transit/encrypt/keep',
        { batch: [{ plaintext: 'QUJD' }, { plaintext: 'QU-D' }] },
        400,
        'FX_INVALID_ARGUMENT',
      ],
      [
        'POST',
        '/v1/transit/encrypt/keep',
        { batch: [{ plaintext: 'QUJD' }, { plaintext: 'QUJŁ' }] },
        400,
        'FX_INVALID_ARGUMENT',
      ],
      [
        'POST',
        '/v1/transit/encrypt/keep',
        { batch: [{ plaintext: 'QUJD', x: 1 }] },
        400,
        'FX_REQUEST_INVALID',
      ],
      [
        'POST',
        '/v1/transit/encrypt/keep',
        { batch: [{ plaintext: 'QUJD' }, { plaintext: '%%%%' }] },
        400,
        'FX_INVALID_ARGUMENT',
      ],
      [
        'POST',
        '/v1/transit/encrypt/keep',
        { plaintext: 'QUJD', batch: [{ plaintext: 'QUJD' }] },
        400,
        'FX_REQUEST_INVALID',
      ],
      ['POST', '/v1/transit/encrypt/keep', undefined, 400, 'FX_REQUEST_INVALID', '[1,2'],
      ['POST', '/v1/transit/decrypt/keep', { ciphertext: '' }, 400, 'FX_REQUEST_INVALID'],
      [
        'POST',
        '/v1/transit/decrypt/keep',
        { ciphertext: 'fx:v1:AAAA' },
        400,
        'FX_TRANSIT_CIPHERTEXT_INVALID',
      ],
      [
        'POST',
        '/v1/transit/decrypt/keep',
        { ciphertext: 'fx:v0:AAAA' },
        400,
        'FX_TRANSIT_CIPHERTEXT_INVALID',
      ],
      ['POST', '/v1/transit/hmac/keep', { input: 'QUJD', algorithm: 'md5' }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/transit/datakey/plaintext/keep', { bits: '256' }, 400, 'FX_REQUEST_INVALID'],
      ['GET', '/v1/transit/export/encryption-key/keep/0', undefined, 400, 'FX_REQUEST_INVALID'],
      ['GET', '/v1/transit/keys/keep', undefined, 401, 'FX_UNAUTHENTICATED'],
    ];
    for (const [method, route, body, status, code, raw] of bad) {
      const token = status === 401 ? 'fxt_' + 'x'.repeat(43) : root;
      const r = await call(method, route, body, token, raw);
      expect(r.status, `${method} ${route} ${JSON.stringify(body)}: ${r.text}`).toBe(status);
      expect((r.body['error'] as { code?: string }).code, `${method} ${route} ${JSON.stringify(body)}`).toBe(
        code,
      );
      expect((r.body['error'] as { message?: string }).message?.length ?? 0).toBeGreaterThan(5);
    }
    // The messages say what to change: the allowed values, the unknown field.
    const message = async (route: string, body: unknown): Promise<string | undefined> =>
      ((await call('POST', route, body)).body['error'] as { message?: string }).message;
    expect(await message('/v1/transit/keys/keep2', { type: 'rot13' })).toMatch(
      /^body at \/type: must be one of "xchacha20-poly1305", "aes-256-gcm", .*"ml-dsa-65"$/,
    );
    expect(await message('/v1/transit/keys/keep2', { colour: 'blue' })).toBe(
      'body at /colour: unknown field',
    );
    expect(await message('/v1/transit/encrypt/keep', { plaintext: 'QUJD', extra: 1 })).toBe(
      'body at /extra: unknown field',
    );
    expect(await message('/v1/transit/hmac/keep', { input: 'QUJD', algorithm: 'md5' })).toContain(
      '"sha2-256"',
    );
    expect(await ok('GET', '/v1/transit/keys/keep')).toEqual(before);
    expect(await ok('GET', '/v1/transit/keys?limit=1000')).toEqual(keysBefore);
    expectError(await call('GET', '/v1/transit/keys/keep2'), 404, 'FX_TRANSIT_KEY_NOT_FOUND');
  });
});

describe('/v1/transit bulk rewrap', () => {
  it('a rewrap job over a table column: started, followed to done, listed; values still decrypt', async () => {
    await ok('POST', '/v1/transit/keys/bulk', {});
    const table = await call('POST', '/v1/db/tables', {
      name: 'cards',
      definition: { columns: { id: { type: 'text', primaryKey: true }, token: { type: 'text' } } },
    });
    expect(table.status, table.text).toBe(201);
    const rows = [];
    for (let i = 0; i < 25; i++)
      rows.push({ id: `c${String(i).padStart(2, '0')}`, token: await encrypt('bulk', `${SENTINEL}-${i}`) });
    const inserted = await call('POST', '/v1/db/tables/cards/rows', { rows });
    expect(inserted.status, inserted.text).toBe(201);
    await ok('POST', '/v1/transit/keys/bulk/rotate');

    const started = await ok('POST', '/v1/transit/keys/bulk/rewrap-jobs', {
      table: 'cards',
      column: 'token',
      batchSize: 7,
    });
    expect(started).toMatchObject({ key: 'bulk', table: 'cards', column: 'token', total: 25 });
    const id = started['id'] as string;
    let job = started;
    for (let i = 0; i < 200 && job['state'] === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      job = await ok('GET', `/v1/transit/rewrap-jobs/${id}`);
    }
    expect(job).toMatchObject({ state: 'done', processed: 25, rewrapped: 25, failed: 0, percent: 100 });
    const listed = await ok('GET', '/v1/transit/rewrap-jobs?limit=5');
    expect((listed['jobs'] as { id: string }[]).map((j) => j.id)).toContain(id);

    const page = await ok('POST', '/v1/db/tables/cards/find', { orderBy: { id: 'asc' } });
    const stored = (page['rows'] as { id: string; token: string }[]).map((r) => r.token);
    expect(stored).toHaveLength(25);
    for (const [i, token] of stored.entries()) {
      expect(token.startsWith('fx:v2:')).toBe(true);
      const opened = await ok('POST', '/v1/transit/decrypt/bulk', { ciphertext: token });
      expect(unb64(opened['plaintext']).toString()).toBe(`${SENTINEL}-${i}`);
    }
    // A finished job cannot be resumed; an unknown one is 404; a missing column is refused.
    expectError(await call('POST', `/v1/transit/rewrap-jobs/${id}/resume`), 409, 'FX_KEY_STATE');
    expectError(await call('GET', '/v1/transit/rewrap-jobs/no-such-job'), 404, 'FX_JOB_NOT_FOUND');
    expectError(
      await call('POST', '/v1/transit/keys/bulk/rewrap-jobs', { table: 'cards', column: 'nope' }),
      404,
      'FX_COLUMN_NOT_FOUND',
    );
    expectError(
      await call('POST', '/v1/transit/keys/bulk/rewrap-jobs', { table: 'cards', column: 'token', extra: 1 }),
      400,
      'FX_REQUEST_INVALID',
    );
  });

  it('rewrap-stream: NDJSON in, one NDJSON result per line in order, per-item errors, no plaintext', async () => {
    await ok('POST', '/v1/transit/keys/streamed', {});
    const inputs: string[] = [];
    for (let i = 0; i < 30; i++)
      inputs.push(await encrypt('streamed', `${SENTINEL}-${i}`, { associatedData: b64(`r${i}`) }));
    await ok('POST', '/v1/transit/keys/streamed/rotate');
    const lines = inputs.map((ciphertext, i) =>
      // Item 3 omits its associated data: it fails alone; item 4 is a bare string.
      i === 3 ? JSON.stringify(ciphertext) : JSON.stringify({ ciphertext, associatedData: b64(`r${i}`) }),
    );
    lines[4] = JSON.stringify({ ciphertext: inputs[4], associatedData: b64('r4') });
    const response = await fetch(`${server.url}/v1/transit/rewrap-stream/streamed?batchSize=8`, {
      method: 'POST',
      headers: { authorization: `Bearer ${root}`, 'content-type': 'application/x-ndjson' },
      body: `${lines.join('\n')}\n`,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const text = await response.text();
    expect(text).not.toContain(SENTINEL_B64);
    const results = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Results & { index: number });
    expect(results.map((r) => r.index)).toEqual(inputs.map((_, i) => i));
    expect(results[3]!.error?.code).toBe('FX_INTEGRITY');
    for (const [i, r] of results.entries()) {
      if (i === 3) continue;
      expect(r['keyVersion']).toBe(2);
      const opened = await ok('POST', '/v1/transit/decrypt/streamed', {
        ciphertext: r['ciphertext'],
        associatedData: b64(`r${i}`),
      });
      expect(unb64(opened['plaintext']).toString()).toBe(`${SENTINEL}-${i}`);
    }

    // A malformed first line is a plain error; a malformed later line ends the stream with one.
    const stream = (body: string, type = 'application/x-ndjson') =>
      fetch(`${server.url}/v1/transit/rewrap-stream/streamed?batchSize=2`, {
        method: 'POST',
        headers: { authorization: `Bearer ${root}`, 'content-type': type },
        body,
      });
    const first = await stream('{not json\n');
    expect(first.status).toBe(400);
    expect(((await first.json()) as { error: { code: string } }).error.code).toBe('FX_REQUEST_INVALID');
    const later = await stream(`${JSON.stringify(inputs[0])}\n${JSON.stringify(inputs[1])}\n[1]\n`);
    expect(later.status).toBe(200);
    const tail = (await later.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(tail).toHaveLength(3);
    expect(tail[2]).toMatchObject({ error: { code: 'FX_REQUEST_INVALID' } });
    expect(tail[2]!['index']).toBeUndefined();
    expect((await stream('[]', 'application/json')).status).toBe(400);
    // The stream is transitRewrap: a caller without it is refused before any result.
    await server.context.unsealed().access.addUser('stream-nobody', { roles: [] });
    const nobody = await tokenFor('stream-nobody');
    const refused = await fetch(`${server.url}/v1/transit/rewrap-stream/streamed`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nobody}`, 'content-type': 'application/x-ndjson' },
      body: `${JSON.stringify(inputs[0])}\n`,
    });
    expect(refused.status).toBe(403);
  });
});
