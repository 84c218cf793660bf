/**
 * `/v1/kv` over real HTTPS-less HTTP against a real server on the test backend: the Vault-shaped
 * layout (data/, metadata/, delete/, undelete/, destroy/, rollback/, config), check-and-set,
 * listing pages, policy per path for a non-root caller, audit entries without values, and
 * malformed requests refused with stable codes while nothing stored changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { startInitialisedTestServer, stopTestServer } from '../helpers/backend.js';
import { httpCalls } from '../helpers/http-calls.js';

const SENTINEL = 'kv-http-sentinel-4Jx9';
let server: RunningServer;
let dir: string;
let root: string;

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

beforeAll(async () => {
  ({ server, dir, root } = await startInitialisedTestServer('fx-kv-routes-'));
}, 60_000);

afterAll(async () => {
  await stopTestServer(server, dir);
});

describe('/v1/kv', () => {
  it('writes, reads, patches, deletes, undeletes, destroys, rolls back and describes a secret', async () => {
    expect(await ok('PUT', '/v1/kv/data/apps/billing/db', { data: { password: SENTINEL } })).toMatchObject({
      version: 1,
      destroyed: false,
    });
    expect(
      await ok('POST', '/v1/kv/data/apps/billing/db', { data: { password: 'two' }, options: { cas: 1 } }),
    ).toMatchObject({ version: 2 });
    expectError(
      await call('PUT', '/v1/kv/data/apps/billing/db', { data: { p: 3 }, options: { cas: 1 } }),
      409,
      'FX_SECRET_CAS_MISMATCH',
    );
    expect(await ok('GET', '/v1/kv/data/apps/billing/db')).toMatchObject({
      data: { password: 'two' },
      metadata: { version: 2, deletionTime: null, customMetadata: {} },
    });
    expect((await ok('GET', '/v1/kv/data/apps/billing/db?version=1'))['data']).toEqual({
      password: SENTINEL,
    });
    expect(await ok('PATCH', '/v1/kv/data/apps/billing/db', { data: { user: 'billing' } })).toMatchObject({
      version: 3,
    });
    expect((await ok('GET', '/v1/kv/data/apps/billing/db'))['data']).toEqual({
      password: 'two',
      user: 'billing',
    });
    expect(await ok('DELETE', '/v1/kv/data/apps/billing/db')).toEqual({ versions: [3] });
    expect((await ok('GET', '/v1/kv/data/apps/billing/db'))['data']).toBeNull();
    expect(await ok('POST', '/v1/kv/undelete/apps/billing/db', { versions: [3] })).toEqual({ versions: [3] });
    expect(await ok('POST', '/v1/kv/delete/apps/billing/db', { versions: [2] })).toEqual({ versions: [2] });
    expect(await ok('POST', '/v1/kv/destroy/apps/billing/db', { versions: [1] })).toEqual({ versions: [1] });
    expect(await ok('GET', '/v1/kv/data/apps/billing/db?version=1')).toMatchObject({
      data: null,
      metadata: { destroyed: true },
    });
    expectError(
      await call('POST', '/v1/kv/rollback/apps/billing/db', { version: 1 }),
      409,
      'FX_SECRET_DELETED',
    );
    expect(await ok('POST', '/v1/kv/rollback/apps/billing/db', { version: 3 })).toMatchObject({ version: 4 });
    const meta = await ok('POST', '/v1/kv/metadata/apps/billing/db', {
      maxVersions: 3,
      casRequired: true,
      deleteVersionAfter: '30d',
      customMetadata: { owner: 'billing' },
    });
    expect(meta).toMatchObject({
      currentVersion: 4,
      maxVersions: 3,
      casRequired: true,
      deleteVersionAfter: 30 * 86_400_000,
    });
    // PUT as Vault also takes it: only the fields given change.
    expect(await ok('PUT', '/v1/kv/metadata/apps/billing/db', { maxVersions: 4 })).toMatchObject({
      maxVersions: 4,
      casRequired: true,
      customMetadata: { owner: 'billing' },
    });
    await ok('PUT', '/v1/kv/metadata/apps/billing/db', { maxVersions: 3 });
    expect(await ok('GET', '/v1/kv/metadata/apps/billing/db')).toMatchObject({
      path: 'apps/billing/db',
      customMetadata: { owner: 'billing' },
      versions: [{ version: 1, destroyed: true }, { version: 2 }, { version: 3 }, { version: 4 }],
    });
    expectError(
      await call('PUT', '/v1/kv/data/apps/billing/db', { data: { p: 5 } }),
      400,
      'FX_SECRET_CAS_REQUIRED',
    );
    expect(await ok('DELETE', '/v1/kv/metadata/apps/billing/db')).toEqual({ deleted: true });
    expectError(await call('GET', '/v1/kv/data/apps/billing/db'), 404, 'FX_SECRET_NOT_FOUND');
    expectError(await call('GET', '/v1/kv/metadata/apps/billing/db'), 404, 'FX_SECRET_NOT_FOUND');
  });

  it('lists a folder by its trailing slash or ?list=true, a page at a time', async () => {
    for (const p of ['l/a', 'l/b/c', 'l/b/d', 'l/e', 'l/f/g'])
      await ok('PUT', `/v1/kv/data/${p}`, { data: { p } });
    expect(await ok('GET', '/v1/kv/metadata/l/')).toEqual({ keys: ['a', 'b/', 'e', 'f/'], next: null });
    expect(await ok('GET', '/v1/kv/metadata/l?list=true')).toEqual({
      keys: ['a', 'b/', 'e', 'f/'],
      next: null,
    });
    const first = await ok('GET', '/v1/kv/metadata/l/?limit=2');
    expect(first).toEqual({ keys: ['a', 'b/'], next: 'b/' });
    expect(await ok('GET', `/v1/kv/metadata/l/?limit=2&after=${encodeURIComponent('b/')}`)).toEqual({
      keys: ['e', 'f/'],
      next: null,
    });
    expect((await ok('GET', '/v1/kv/metadata/'))['keys']).toContain('l/');
    expectError(await call('GET', '/v1/kv/metadata/l/?limit=5000'), 400, 'FX_INVALID_ARGUMENT');
    expectError(await call('GET', '/v1/kv/metadata/l/a?limit=2'), 400, 'FX_REQUEST_INVALID');
  });

  it('engine settings: read and change, durations as strings or milliseconds', async () => {
    expect(await ok('GET', '/v1/kv/config')).toEqual({
      maxVersions: 10,
      casRequired: false,
      deleteVersionAfter: 0,
    });
    expect(await ok('POST', '/v1/kv/config', { maxVersions: 20, deleteVersionAfter: '12h' })).toEqual({
      maxVersions: 20,
      casRequired: false,
      deleteVersionAfter: 12 * 3_600_000,
    });
    expect(await ok('POST', '/v1/kv/config', { deleteVersionAfter: 0 })).toMatchObject({
      deleteVersionAfter: 0,
    });
    expectError(
      await call('POST', '/v1/kv/config', { deleteVersionAfter: '12 hours' }),
      400,
      'FX_REQUEST_INVALID',
    );
    expectError(await call('POST', '/v1/kv/config', {}), 400, 'FX_REQUEST_INVALID');
  });

  it('policy decides each path for a non-root caller; denials and successes are audited without values', async () => {
    const db = server.context.unsealed();
    await db.access.addUser('ann', { roles: ['staff'] });
    await db.access.addUser('bob', { roles: ['staff'] });
    await db.access.addPolicies({
      'kv-home': `permit (
  principal in Fortress::Role::"default/staff",
  action in [Fortress::Action::"readSecret", Fortress::Action::"writeSecret", Fortress::Action::"listSecrets"],
  resource is Fortress::Secret
) when { resource.path like "users/*/*" && resource.owner == principal.name };`,
    });
    const ann = await tokenFor('ann');
    const bob = await tokenFor('bob');
    await ok('PUT', '/v1/kv/data/users/ann/github', { data: { token: SENTINEL } }, ann);
    expect((await ok('GET', '/v1/kv/data/users/ann/github', undefined, ann))['data']).toEqual({
      token: SENTINEL,
    });
    expectError(await call('GET', '/v1/kv/data/users/ann/github', undefined, bob), 403, 'FX_FORBIDDEN');
    expectError(
      await call('PUT', '/v1/kv/data/users/ann/github', { data: { token: 'x' } }, bob),
      403,
      'FX_FORBIDDEN',
    );
    expectError(
      await call('POST', '/v1/kv/destroy/users/ann/github', { versions: [1] }, ann),
      403,
      'FX_FORBIDDEN',
    );
    expectError(await call('GET', '/v1/kv/config', undefined, ann), 403, 'FX_FORBIDDEN');
    expect(await ok('GET', '/v1/kv/metadata/users/ann/', undefined, ann)).toEqual({
      keys: ['github'],
      next: null,
    });
    const entries = [];
    for await (const entry of db.audit.entries({ action: 'kv.' })) entries.push(entry);
    expect(
      entries.some(
        (e) =>
          e.principal.id === 'default/bob' &&
          e.action === 'kv.read' &&
          e.resource.path === 'kv:users/ann/github' &&
          e.outcome.status === 'error',
      ),
    ).toBe(true);
    const text = JSON.stringify(entries);
    expect(text).not.toContain(SENTINEL);
    expect(text).not.toContain(Buffer.from(SENTINEL).toString('base64'));
  });

  it('malformed requests are refused with a stable code, and nothing stored changes', async () => {
    await ok('PUT', '/v1/kv/data/keep/me', { data: { v: 1 } });
    const bad: [string, string, unknown, number, string, string?][] = [
      ['PUT', '/v1/kv/data/keep//me', { data: { v: 2 } }, 400, 'FX_INVALID_ARGUMENT'],
      ['PUT', '/v1/kv/data/keep/.hidden', { data: { v: 2 } }, 400, 'FX_INVALID_ARGUMENT'],
      ['PUT', '/v1/kv/data/keep%2Fme%00', { data: { v: 2 } }, 400, 'FX_INVALID_ARGUMENT'],
      ['PUT', '/v1/kv/data/', { data: { v: 2 } }, 400, 'FX_INVALID_ARGUMENT'],
      ['PUT', '/v1/kv/data/keep/me', { data: [1, 2] }, 400, 'FX_REQUEST_INVALID'],
      ['PUT', '/v1/kv/data/keep/me', { data: { v: 2 }, extra: true }, 400, 'FX_REQUEST_INVALID'],
      ['PUT', '/v1/kv/data/keep/me', { data: { v: 2 }, options: { cas: -1 } }, 400, 'FX_REQUEST_INVALID'],
      ['PUT', '/v1/kv/data/keep/me', undefined, 400, 'FX_REQUEST_INVALID', '{"data": {'],
      ['GET', '/v1/kv/data/keep/me?version=0', undefined, 400, 'FX_REQUEST_INVALID'],
      ['GET', '/v1/kv/data/keep/me?version=abc', undefined, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/kv/destroy/keep/me', { versions: [] }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/kv/undelete/keep/me', {}, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/kv/metadata/keep/me', { maxVersions: 2000 }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/kv/metadata/keep/me', { customMetadata: { a: 1 } }, 400, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/kv/rollback/keep/me', { version: 'one' }, 400, 'FX_REQUEST_INVALID'],
      ['GET', '/v1/kv/data/keep/me', undefined, 401, 'FX_UNAUTHENTICATED'],
    ];
    for (const [method, route, body, status, code, raw] of bad) {
      const token = status === 401 ? 'fxt_' + 'x'.repeat(43) : root;
      const r = await call(method, route, body, token, raw);
      expect(r.status, `${method} ${route}: ${r.text}`).toBe(status);
      expect((r.body['error'] as { code?: string }).code, `${method} ${route}`).toBe(code);
    }
    expect(await ok('GET', '/v1/kv/data/keep/me')).toMatchObject({
      data: { v: 1 },
      metadata: { version: 1 },
    });
    expect(await ok('GET', '/v1/kv/metadata/keep/me')).toMatchObject({ currentVersion: 1, maxVersions: 0 });
  });
});
