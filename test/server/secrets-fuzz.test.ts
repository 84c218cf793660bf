/**
 * Bad input at the secrets engines' routes (`/v1/kv`, `/v1/transit`, `/v1/database`), generated:
 * a fast-check fuzz sends requests whose bodies use each engine's own field names with wrong,
 * extreme or hostile values (nested batches, huge versions, foreign ciphertexts, broken durations,
 * malformed JSON), as root so that everything reaches the engines. Every answer must be a 2xx or a
 * 4xx with a stable FX_ code — the only 5xx allowed is the 502 that reports a target database
 * Fortress cannot reach — the server stays up, and what the fuzz does not address (a secret, a key
 * and a ciphertext kept aside) reads back unchanged, with the audit ledger still verifying.
 *
 * The fuzz's database connections point at a closed port: the engine's validation and bookkeeping
 * are exercised, never a real PostgreSQL with generated SQL (the real-PostgreSQL credential tests
 * are in database-routes.test.ts).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { startInitialisedTestServer, stopTestServer } from '../helpers/backend.js';
import { httpCalls } from '../helpers/http-calls.js';

let server: RunningServer;
let dir: string;
let root: string;

const { call, ok } = httpCalls(() => ({ url: server.url, token: root }));

const TRANSIT_KEYS = [
  ['f-aes', 'aes-256-gcm'],
  ['f-xc', 'xchacha20-poly1305'],
  ['f-cc', 'chacha20-poly1305'],
  ['f-aegis', 'aegis-256'],
  ['f-hmac', 'hmac'],
  ['f-ed', 'ed25519'],
  ['f-ml', 'ml-dsa-65'],
] as const;

/** Each engine's body fields: generated bodies mostly use these, so they pass the first checks. */
const FIELDS = {
  kv: [
    'data',
    'options',
    'cas',
    'versions',
    'version',
    'maxVersions',
    'casRequired',
    'deleteVersionAfter',
    'customMetadata',
  ],
  transit: [
    'type',
    'exportable',
    'derived',
    'convergent',
    'deletionAllowed',
    'autoRotatePeriod',
    'plaintext',
    'ciphertext',
    'context',
    'associatedData',
    'keyVersion',
    'batch',
    'input',
    'hmac',
    'signature',
    'algorithm',
    'bits',
    'bytes',
    'format',
    'minDecryptionVersion',
    'minEncryptionVersion',
    'minAvailableVersion',
    'table',
    'column',
    'contextColumn',
    'associatedDataColumn',
    'batchSize',
  ],
  database: [
    'connectionUrl',
    'username',
    'password',
    'allowedRoles',
    'verifyConnection',
    'maxOpenConnections',
    'connection',
    'creationStatements',
    'revocationStatements',
    'renewStatements',
    'rootRotationStatements',
    'rotationStatements',
    'defaultTtl',
    'maxTtl',
    'ttl',
    'leaseId',
    'increment',
    'prefix',
    'rotationPeriod',
    'passwordLength',
  ],
} as const;
type Engine = keyof typeof FIELDS;

function routes(): (readonly [string, string])[] {
  const names = [
    'f-aes',
    'f-xc',
    'f-cc',
    'f-aegis',
    'f-hmac',
    'f-ed',
    'f-ml',
    'f-derived',
    'f-export',
    'missing',
    '..',
    'a'.repeat(300),
  ];
  return [
    ['POST', '/v1/kv/data/fz/a'],
    ['GET', '/v1/kv/data/fz/a'],
    ['PATCH', '/v1/kv/data/fz/a'],
    ['DELETE', '/v1/kv/data/fz/b'],
    ['POST', '/v1/kv/delete/fz/a'],
    ['POST', '/v1/kv/undelete/fz/a'],
    ['POST', '/v1/kv/destroy/fz/b'],
    ['GET', '/v1/kv/metadata/fz/'],
    ['POST', '/v1/kv/metadata/fz/a'],
    ['PUT', '/v1/kv/metadata/fz/a'],
    ['PATCH', '/v1/kv/metadata/fz/b'],
    ['DELETE', '/v1/kv/metadata/fz/c'],
    ['POST', '/v1/kv/rollback/fz/a'],
    ['POST', '/v1/kv/config'],
    ['GET', '/v1/kv/config'],
    ...names.flatMap((n) =>
      (
        [
          ['POST', `/v1/transit/keys/${n}`],
          ['GET', `/v1/transit/keys/${n}`],
          ['POST', `/v1/transit/keys/${n}/config`],
          ['POST', `/v1/transit/keys/${n}/rotate`],
          ['POST', `/v1/transit/keys/${n}/trim`],
          ['POST', `/v1/transit/encrypt/${n}`],
          ['POST', `/v1/transit/decrypt/${n}`],
          ['POST', `/v1/transit/rewrap/${n}`],
          ['POST', `/v1/transit/datakey/plaintext/${n}`],
          ['POST', `/v1/transit/datakey/wrapped/${n}`],
          ['POST', `/v1/transit/hmac/${n}`],
          ['POST', `/v1/transit/sign/${n}`],
          ['POST', `/v1/transit/verify/${n}`],
          ['GET', `/v1/transit/export/encryption-key/${n}`],
          ['GET', `/v1/transit/export/signing-key/${n}/1`],
          ['POST', `/v1/transit/keys/${n}/rewrap-jobs`],
        ] as const
      ).map(([m, r]) => [m, r] as const),
    ),
    ['GET', '/v1/transit/keys'],
    ['POST', '/v1/transit/random'],
    ['POST', '/v1/transit/random/16'],
    ['POST', '/v1/transit/random/0'],
    ['GET', '/v1/transit/export/encryption-key/f-export/latest'],
    ['GET', '/v1/transit/rewrap-jobs'],
    ['GET', '/v1/transit/rewrap-jobs/abc'],
    ['POST', '/v1/transit/rewrap-jobs/abc/pause'],
    ['POST', '/v1/database/config/fz'],
    ['GET', '/v1/database/config/fz'],
    ['POST', '/v1/database/reset/fz'],
    ['POST', '/v1/database/rotate-root/fz'],
    ['POST', '/v1/database/roles/fz'],
    ['GET', '/v1/database/roles/fz'],
    ['GET', '/v1/database/creds/fz'],
    ['POST', '/v1/database/leases/lookup'],
    ['POST', '/v1/database/leases/renew'],
    ['POST', '/v1/database/leases/revoke'],
    ['POST', '/v1/database/leases/revoke-prefix'],
    ['GET', '/v1/database/leases'],
    ['POST', '/v1/database/static-roles/fz'],
    ['GET', '/v1/database/static-creds/fz'],
    ['POST', '/v1/database/rotate-role/fz'],
  ];
}

beforeAll(async () => {
  ({ server, dir, root } = await startInitialisedTestServer('fx-secrets-fuzz-'));
}, 60_000);

afterAll(async () => {
  await stopTestServer(server, dir);
});

describe('secrets routes under generated bad input', () => {
  it('fuzz: 4,000 generated requests — 2xx or 4xx with a code, the server up, what was kept aside intact', async () => {
    for (const [name, type] of TRANSIT_KEYS) await ok('POST', `/v1/transit/keys/${name}`, { type });
    await ok('POST', '/v1/transit/keys/f-derived', { derived: true, convergent: true });
    await ok('POST', '/v1/transit/keys/f-export', { exportable: true, deletionAllowed: true });
    await ok('POST', '/v1/kv/data/fz/a', { data: { user: 'app' } });
    await ok('POST', '/v1/kv/data/fz/b', { data: { user: 'batch' } });
    const foreign = (await ok('POST', '/v1/transit/encrypt/f-aes', { plaintext: 'aGVsbG8=' }))[
      'ciphertext'
    ] as string;
    // Kept aside: nothing the fuzz sends names these.
    await ok('POST', '/v1/transit/keys/kept', {});
    const keptCiphertext = (await ok('POST', '/v1/transit/encrypt/kept', { plaintext: 'a2VwdA==' }))[
      'ciphertext'
    ] as string;
    await ok('POST', '/v1/kv/data/kept/secret', { data: { password: 'kept-aside' } });

    const b64 = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u).toString('base64'));
    const scalar = fc.oneof(
      fc.string(),
      b64,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(foreign),
      fc.constantFrom('fx:v1:AAAA', `fx:v99999999999:${'A'.repeat(80)}`, 'vault:v1:abc'),
      fc.constantFrom('1h', '-1s', '0', '99999999999d', 'P1D', ''),
      fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 53, 1e308),
      fc.constantFrom('postgres://fuzz@127.0.0.1:1/none', 'mysql://x@y/z', 'CREATE ROLE "{{name}}"'),
    );
    const inner = (engine: Engine) =>
      fc.oneof(
        scalar,
        fc.array(fc.string(), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom(...FIELDS[engine]), scalar, { maxKeys: 3 }),
        fc.array(fc.dictionary(fc.constantFrom(...FIELDS[engine]), scalar, { maxKeys: 4 }), { maxLength: 3 }),
      );
    const body = (engine: Engine) =>
      fc.oneof(
        {
          weight: 5,
          arbitrary: fc.dictionary(fc.constantFrom(...FIELDS[engine]), inner(engine), { maxKeys: 5 }),
        },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
        { weight: 1, arbitrary: fc.string().map((raw) => ({ raw })) },
      );
    const suffix = fc.constantFrom(
      '',
      '',
      '',
      '?version=2',
      '?list=true',
      '?list=true&limit=-1',
      '?after=%ZZ',
      '?version=abc',
      '/x',
    );
    const request = fc
      .constantFrom(...routes())
      .chain((route) =>
        fc.record({ route: fc.constant(route), body: body(route[1].split('/')[2] as Engine), suffix }),
      );
    const samples = fc.sample(request, { numRuns: 4_000, seed: 20261207 });
    const statuses = new Map<number, number>();
    const wrong: string[] = [];
    // Eight at a time: concurrency as a real client mix has it, within this 2-core machine.
    for (let i = 0; i < samples.length; i += 8) {
      await Promise.all(
        samples.slice(i, i + 8).map(async ({ route: [method, route], body: b, suffix: s }) => {
          const sent = b as unknown;
          const raw =
            sent !== null && typeof sent === 'object' && !Array.isArray(sent) && 'raw' in sent
              ? String(sent.raw)
              : undefined;
          const bodyless = method === 'GET' || method === 'DELETE';
          const r = await call(
            method,
            route + s,
            bodyless || raw !== undefined ? undefined : sent,
            root,
            bodyless ? undefined : raw,
          );
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          const error = r.body['error'] as { code?: unknown } | undefined;
          const fine =
            r.status < 400 ||
            (r.status < 500 && typeof error?.code === 'string' && error.code.startsWith('FX_')) ||
            (r.status === 502 && error?.code === 'FX_DB_CONNECTION_FAILED');
          if (!fine)
            wrong.push(
              `${method} ${route}${s} ${JSON.stringify(sent).slice(0, 200)} → ${r.status} ${r.text.slice(0, 200)}`,
            );
        }),
      );
    }
    expect(wrong).toEqual([]);
    // The fuzz reached the engines, not only the schema checks.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(200);
    expect((await call('GET', '/v1/sys/health')).status).toBe(200);
    const decrypted = await ok('POST', '/v1/transit/decrypt/kept', { ciphertext: keptCiphertext });
    expect(decrypted['plaintext']).toBe('a2VwdA==');
    expect(await ok('GET', '/v1/kv/data/kept/secret')).toMatchObject({ data: { password: 'kept-aside' } });
    expect(await ok('POST', '/v1/audit/verify')).toMatchObject({ ok: true, problem: null });
  }, 300_000);
});
