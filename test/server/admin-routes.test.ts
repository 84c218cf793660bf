/**
 * The administration routes over real HTTP against a real data directory: keys and jobs, policies,
 * principals and the audit ledger. Each route's success path as the init administrator; a principal
 * with no policy refused (403 FX_FORBIDDEN) on every administrative route; another tenant's
 * principal kept out of this tenant (its entries, principals, filters) and this tenant's entries
 * kept from it; malformed input → 400 FX_REQUEST_INVALID with nothing stored changed; unknown ids
 * → 404; and a fast-check fuzz of 3,000 requests with never a 5xx. Tokens for test principals are
 * minted in-process (no Argon2 login per test).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/entry/audit-entry.js';
import { openBackup } from '../../src/crypto/backup/key-backup.js';
import { generateRecipientKeys } from '../../src/crypto/hybrid/hybrid-kem.js';
import { auditEntryVisible } from '../../src/server/routes/audit-routes.js';
import type { RunningServer } from '../../src/server/server.js';
import { dropTestSchemas, startTestServer } from '../helpers/backend.js';

let server: RunningServer;
let dir: string;
let root: string;
let nobody: string;
let eve: string;

interface Reply {
  status: number;
  body: Record<string, unknown>;
  text: string;
  type: string;
}

async function call(
  method: string,
  route: string,
  options: { body?: unknown; raw?: string; token?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(server.url + route, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // text bodies (tlog proofs)
  }
  return { status: response.status, body: parsed, text, type: response.headers.get('content-type') ?? '' };
}

const code = (r: Reply): unknown => (r.body['error'] as { code?: unknown } | undefined)?.code;

function expectError(r: Reply, status: number, fx: string): void {
  expect(r.status, r.text).toBe(status);
  expect(code(r), r.text).toBe(fx);
}

async function ok(method: string, route: string, body?: unknown, token = root): Promise<Reply> {
  const r = await call(method, route, { token, ...(body === undefined ? {} : { body }) });
  expect(r.status, `${method} ${route}: ${r.text}`).toBeLessThan(300);
  return r;
}

/** A token for a principal, minted directly (a login costs an Argon2id hash). */
async function tokenFor(kind: 'user' | 'service', name: string, tenant = 'default'): Promise<string> {
  const { token } = await server.context.tokens.create({
    principal: { kind, name, tenant },
    method: 'test',
    ttlSeconds: 3600,
    maxTtlSeconds: 3600,
  });
  return token;
}

/** Principals, policies and keys as the data directory holds them, to show a refusal changed nothing. */
function snapshot(): string {
  const db = server.context.unsealed();
  return JSON.stringify({
    principals: db.access.listPrincipals(),
    roles: db.access.listRoles(),
    groups: db.access.listGroups(),
    filters: db.access.listRowFilters(),
    policies: db.access.listPolicies(),
    keys: db.keys.listKeys(),
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-admin-routes-'));
  server = await startTestServer(dir, { rateLimit: { perToken: 1_000_000, perAddress: 1_000_000 } });
  const init = await call('POST', '/v1/sys/init', { body: { shares: 3, threshold: 2 } });
  expect(init.status, init.text).toBe(200);
  root = init.body['rootToken'] as string;
  await ok('POST', '/v1/db/tables', {
    name: 'patients',
    definition: {
      columns: {
        id: { type: 'text', primaryKey: true },
        ssn: { type: 'text', encrypt: true, mask: 'last4' },
        ward: { type: 'text' },
        age: { type: 'integer' },
      },
    },
  });
  await ok('POST', '/v1/db/tables/patients/rows', {
    rows: Array.from({ length: 30 }, (_, i) => ({
      id: `p${i}`,
      ssn: `123-45-${1000 + i}`,
      ward: i % 2 === 0 ? 'north' : 'south',
      age: 20 + i,
    })),
  });
  const db = server.context.unsealed();
  await db.access.addUser('nobody');
  await db.access.addUser('eve', { tenant: 'other' });
  await db.keys.createKey({ name: 'test/kek', purpose: 'kek' });
  nobody = await tokenFor('user', 'nobody');
  eve = await tokenFor('user', 'eve', 'other');
}, 60_000);

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  await dropTestSchemas();
});

// ── keys and jobs ────────────────────────────────────────────────────────────────────────────────

describe('keys and jobs', () => {
  const KEY = encodeURIComponent('test/kek');

  it('lists keys as metadata only, system keys flagged, never key bytes', async () => {
    const r = await ok('GET', '/v1/keys');
    const keys = r.body['keys'] as Record<string, unknown>[];
    const names = keys.map((k) => k['name']);
    expect(names).toContain('test/kek');
    expect(names).toContain('fortress/audit/hmac');
    expect(keys.find((k) => k['name'] === 'fortress/audit/hmac')!['system']).toBe(true);
    expect(keys.find((k) => k['name'] === 'test/kek')!['system']).toBe(false);
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(
        [
          'activeVersion',
          'algorithm',
          'createdAt',
          'id',
          'latestVersion',
          'minDecryptionVersion',
          'name',
          'parentId',
          'purpose',
          'rotatedAt',
          'rotationPeriod',
          'system',
        ].sort(),
      );
    }
    expect(r.text).not.toMatch(/wrapped|material|secret/i);
  });

  it('rotates, pages versions, sets the minimum decryption version', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await ok('POST', `/v1/keys/${KEY}/rotate`);
      expect((r.body['key'] as Record<string, unknown>)['activeVersion']).toBe(i + 2);
    }
    const first = await ok('GET', `/v1/keys/${KEY}?limit=2`);
    expect((first.body['key'] as Record<string, unknown>)['name']).toBe('test/kek');
    const versions = first.body['versions'] as Record<string, unknown>[];
    expect(versions.map((v) => v['version'])).toEqual([1, 2]);
    expect(versions[0]).toMatchObject({ state: 'decrypt-only', encryptions: expect.any(Number) as number });
    expect(first.body['next']).toBe(3);
    const rest = await ok('GET', `/v1/keys/${KEY}?from=3&limit=1000`);
    expect((rest.body['versions'] as Record<string, unknown>[]).map((v) => v['state'])).toEqual([
      'decrypt-only',
      'active',
    ]);
    expect(rest.body['next']).toBeNull();

    const config = await ok('POST', `/v1/keys/${KEY}/config`, { minDecryptionVersion: 2 });
    expect((config.body['key'] as Record<string, unknown>)['minDecryptionVersion']).toBe(2);
    const after = await ok('GET', `/v1/keys/${KEY}`);
    expect((after.body['versions'] as Record<string, unknown>[])[0]!['state']).toBe('retired');
    // Back to 1: reversible until destroyed.
    await ok('POST', `/v1/keys/${KEY}/config`, { minDecryptionVersion: 1 });
  });

  it('sets and clears a rotation schedule, each change recorded as the caller', async () => {
    const key = async (): Promise<Record<string, unknown>> =>
      (await ok('GET', `/v1/keys/${KEY}`)).body['key'] as Record<string, unknown>;
    const set = await ok('POST', `/v1/keys/${KEY}/config`, { rotationPeriod: '30d' });
    expect((set.body['key'] as Record<string, unknown>)['rotationPeriod']).toBe('30d');
    expect(await key()).toMatchObject({ rotationPeriod: '30d', minDecryptionVersion: 1 });
    // Both at once: both applied.
    await ok('POST', `/v1/keys/${KEY}/config`, { rotationPeriod: '12w', minDecryptionVersion: 2 });
    expect(await key()).toMatchObject({ rotationPeriod: '12w', minDecryptionVersion: 2 });

    // A period out of range (under 1 hour) passes the schema and is refused by the key manager;
    // with a valid minimum beside it, neither is applied.
    const before = snapshot();
    for (const body of [{ rotationPeriod: '30m' }, { rotationPeriod: '30m', minDecryptionVersion: 1 }]) {
      expectError(
        await call('POST', `/v1/keys/${KEY}/config`, { token: root, body }),
        400,
        'FX_INVALID_ARGUMENT',
      );
    }
    // A minimum past the active version refuses the period beside it too.
    const high = { rotationPeriod: '1d', minDecryptionVersion: 99 };
    expectError(
      await call('POST', `/v1/keys/${KEY}/config`, { token: root, body: high }),
      400,
      'FX_INVALID_ARGUMENT',
    );
    expect(snapshot()).toBe(before);
    expect(await key()).toMatchObject({ rotationPeriod: '12w', minDecryptionVersion: 2 });

    const cleared = await ok('POST', `/v1/keys/${KEY}/config`, {
      rotationPeriod: null,
      minDecryptionVersion: 1,
    });
    expect(cleared.body['key']).toMatchObject({ rotationPeriod: null, minDecryptionVersion: 1 });
    expect(await key()).toMatchObject({ rotationPeriod: null, minDecryptionVersion: 1 });

    // The ledger names the administrator and the policy that allowed it, never the server process.
    for (const action of ['key.setRotationPeriod', 'key.setMinDecryptionVersion']) {
      const found = await ok('GET', `/v1/audit/search?action=${action}&newestFirst=true&limit=1000`);
      const entries = (found.body['entries'] as AuditEntry[]).filter(
        (e) => e.action === action && e.resource.key === 'test/kek',
      );
      expect(entries.length, action).toBeGreaterThanOrEqual(action === 'key.setRotationPeriod' ? 3 : 2);
      for (const e of entries) {
        expect(e.principal).toEqual({ type: 'user', id: 'default/admin', tenant: 'default' });
        expect(e.decision.effect).toBe('allow');
        expect(e.decision.policies.length).toBeGreaterThan(0);
      }
      expect(entries.some((e) => e.outcome.status === 'ok')).toBe(true);
    }
  });

  it("describes Fortress's own keys too (a slash in the name is %2F)", async () => {
    const r = await ok('GET', `/v1/keys/${encodeURIComponent('fortress/audit/hmac')}`);
    expect((r.body['key'] as Record<string, unknown>)['system']).toBe(true);
  });

  it('destroys one version, refuses the active one, then the whole key', async () => {
    const one = await ok('POST', `/v1/keys/${KEY}/destroy`, { version: 1 });
    expect(one.body['destroyed']).toEqual([
      { keyId: expect.any(Number) as number, version: 1, encryptions: 0 },
    ]);
    const active = await call('POST', `/v1/keys/${KEY}/destroy`, { token: root, body: { version: 4 } });
    expectError(active, 409, 'FX_KEY_STATE');
    const states = await ok('GET', `/v1/keys/${KEY}`);
    expect((states.body['versions'] as Record<string, unknown>[]).map((v) => v['state'])).toEqual([
      'destroyed',
      'decrypt-only',
      'decrypt-only',
      'active',
    ]);
    await server.context.unsealed().keys.createKey({ name: 'test/doomed', purpose: 'kek' });
    const all = await ok('POST', '/v1/keys/test%2Fdoomed/destroy', { all: true });
    expect((all.body['destroyed'] as unknown[]).length).toBe(1);
  });

  it('unknown keys → 404; bad names, pages and bodies → 400, nothing changed', async () => {
    expectError(await call('GET', '/v1/keys/no-such-key', { token: root }), 404, 'FX_KEY_NOT_FOUND');
    expectError(await call('POST', '/v1/keys/no-such-key/rotate', { token: root }), 404, 'FX_KEY_NOT_FOUND');
    const before = snapshot();
    for (const [method, route, body] of [
      ['GET', `/v1/keys/${KEY}?limit=1001`, undefined],
      ['GET', `/v1/keys/${KEY}?limit=0`, undefined],
      ['GET', `/v1/keys/${KEY}?limit=1.5`, undefined],
      ['GET', `/v1/keys/${KEY}?from=-1`, undefined],
      ['GET', `/v1/keys/${KEY}?cursor=1`, undefined],
      ['GET', `/v1/keys/${encodeURIComponent('bad name!')}`, undefined],
      ['POST', `/v1/keys/${KEY}/config`, { minDecryptionVersion: 0 }],
      ['POST', `/v1/keys/${KEY}/config`, { minDecryptionVersion: '2' }],
      ['POST', `/v1/keys/${KEY}/config`, { rotationPeriod: 'monthly' }],
      ['POST', `/v1/keys/${KEY}/config`, { rotationPeriod: ' 30d' }],
      ['POST', `/v1/keys/${KEY}/config`, { rotationPeriod: '1234567d' }],
      ['POST', `/v1/keys/${KEY}/config`, { rotationPeriod: 30 }],
      ['POST', `/v1/keys/${KEY}/config`, { rotationPeriod: '30d', rotation: '30d' }],
      ['POST', `/v1/keys/${KEY}/config`, {}],
      ['POST', `/v1/keys/${KEY}/destroy`, { all: false }],
      ['POST', `/v1/keys/${KEY}/destroy`, { version: 2, all: true }],
      ['POST', `/v1/keys/${KEY}/destroy`, {}],
      ['POST', '/v1/keys/export', { recipient: 'AAAA' }],
      ['POST', '/v1/keys/export', { recipient: 'not base64!' }],
      ['POST', '/v1/keys/export', { recipient: 'AAAA', extra: 1 }],
      ['GET', '/v1/jobs/abc', undefined],
      ['GET', '/v1/jobs/0', undefined],
    ] as const) {
      const r = await call(method, route, { token: root, ...(body === undefined ? {} : { body }) });
      expectError(r, 400, 'FX_REQUEST_INVALID');
    }
    // Past the active version: refused by the key manager, still a 400.
    const high = await call('POST', `/v1/keys/${KEY}/config`, {
      token: root,
      body: { minDecryptionVersion: 99 },
    });
    expectError(high, 400, 'FX_INVALID_ARGUMENT');
    expect(snapshot()).toBe(before);
  });

  it('exports every key encrypted to a recipient, with the signer keys the CLI writes', async () => {
    const { publicKey, secretKey } = generateRecipientKeys();
    try {
      const r = await ok('POST', '/v1/keys/export', {
        recipient: Buffer.from(publicKey).toString('base64'),
        label: 'drill',
      });
      const signers = r.body['signers'] as { ed25519: string; mlDsa65: string };
      expect(signers.ed25519).toMatch(/^[0-9a-f]{64}$/);
      expect(signers.mlDsa65).toMatch(/^[0-9a-f]+$/);
      expect(r.body['keys']).toBe(server.context.unsealed().keys.listKeys().length);
      const opened = openBackup(Buffer.from(r.body['backup'] as string, 'base64'), {
        recipientSecretKey: secretKey,
        trusted: {
          ed25519: Buffer.from(signers.ed25519, 'hex'),
          mlDsa65: Buffer.from(signers.mlDsa65, 'hex'),
        },
      });
      expect(opened.label).toBe('drill');
      // The .pub text of `fortress keys recipient` is accepted as it is.
      const tagged = await ok('POST', '/v1/keys/export', {
        recipient: `fortress-backup-recipient-v1:${Buffer.from(publicKey).toString('hex')}\n`,
      });
      expect(tagged.body['backup']).toEqual(expect.any(String));
    } finally {
      secretKey.dispose();
    }
  });

  it("rotates a table's keys in a background job the caller can follow", async () => {
    const r = await ok('POST', '/v1/db/tables/patients/rotate');
    const job = r.body['job'] as Record<string, unknown>;
    expect(job).toMatchObject({ kind: 'reencrypt', table: 'patients' });
    const id = job['id'] as number;
    const list = await ok('GET', '/v1/jobs');
    expect((list.body['jobs'] as Record<string, unknown>[]).map((j) => j['id'])).toContain(id);
    let state = '';
    for (let i = 0; i < 100 && state !== 'done'; i++) {
      const one = await ok('GET', `/v1/jobs/${id}`);
      state = one.body['state'] as string;
      if (state !== 'done') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(state).toBe('done');
    expectError(await call('GET', '/v1/jobs/999999', { token: root }), 404, 'FX_JOB_NOT_FOUND');
    expectError(await call('POST', '/v1/db/tables/nope/rotate', { token: root }), 404, 'FX_TABLE_NOT_FOUND');
    // Rows still read back after re-encryption.
    const row = await ok('GET', '/v1/db/tables/patients/rows/p3');
    expect((row.body['row'] as Record<string, unknown>)['ssn']).toBe('123-45-1003');
  });

  it('a principal with no policy administers no key and sees no job', async () => {
    const before = snapshot();
    expect((await ok('GET', '/v1/keys', undefined, nobody)).body['keys']).toEqual([]);
    expect((await ok('GET', '/v1/jobs', undefined, nobody)).body['jobs']).toEqual([]);
    const { publicKey } = generateRecipientKeys();
    for (const [method, route, body] of [
      ['GET', `/v1/keys/${KEY}`, undefined],
      ['GET', '/v1/keys/no-such-key', undefined], // refused before the lookup: nothing learnt
      ['POST', `/v1/keys/${KEY}/rotate`, undefined],
      ['POST', `/v1/keys/${KEY}/config`, { minDecryptionVersion: 2 }],
      ['POST', `/v1/keys/${KEY}/config`, { rotationPeriod: '30d' }],
      ['POST', `/v1/keys/${KEY}/destroy`, { version: 2 }],
      ['POST', '/v1/keys/export', { recipient: Buffer.from(publicKey).toString('base64') }],
      ['POST', '/v1/db/tables/patients/rotate', undefined],
    ] as const) {
      for (const token of [nobody, eve]) {
        const r = await call(method, route, { token, ...(body === undefined ? {} : { body }) });
        expectError(r, 403, 'FX_FORBIDDEN');
      }
    }
    const jobs = server.context.unsealed().jobs();
    expect(jobs.length).toBeGreaterThan(0);
    expectError(await call('GET', `/v1/jobs/${jobs[0]!.id}`, { token: nobody }), 404, 'FX_JOB_NOT_FOUND');
    expect(snapshot()).toBe(before);
  });
});

// ── policies ─────────────────────────────────────────────────────────────────────────────────────

describe('policies', () => {
  const READ =
    'permit (principal in Fortress::Role::"default/reader", action == Fortress::Action::"read", resource);';
  const QUERY =
    'permit (principal in Fortress::Role::"default/reader", action == Fortress::Action::"query", resource);';
  const FORBID_ALL_READ = 'forbid (principal, action == Fortress::Action::"read", resource);';

  it('lists and reads the policies in force', async () => {
    const list = await ok('GET', '/v1/policies');
    expect(list.body['policies']).toContainEqual({
      id: 'fortress-admin',
      effect: 'permit',
      text: expect.stringContaining('fortress-admin') as string,
    });
    const one = await ok('GET', '/v1/policies/fortress-admin');
    expect(one.body).toMatchObject({ id: 'fortress-admin', effect: 'permit' });
    expectError(await call('GET', '/v1/policies/no-such', { token: root }), 404, 'FX_POLICY_NOT_FOUND');
  });

  it('puts, replaces and removes one policy; conflicts and invalid text change nothing', async () => {
    await ok('PUT', '/v1/policies/readers-read', { text: READ });
    expectError(
      await call('PUT', '/v1/policies/readers-read', { token: root, body: { text: QUERY } }),
      409,
      'FX_POLICY_CONFLICT',
    );
    await ok('PUT', '/v1/policies/readers-read', { text: QUERY, replace: true });
    expect((await ok('GET', '/v1/policies/readers-read')).body['text']).toBe(QUERY);
    const before = snapshot();
    expectError(
      await call('PUT', '/v1/policies/readers-read', {
        token: root,
        body: { text: 'permit (', replace: true },
      }),
      400,
      'FX_POLICY_INVALID',
    );
    expect(snapshot()).toBe(before);
    await ok('DELETE', '/v1/policies/readers-read');
    expectError(
      await call('DELETE', '/v1/policies/readers-read', { token: root }),
      404,
      'FX_POLICY_NOT_FOUND',
    );
  });

  it('adds several policies atomically: all or none', async () => {
    const before = snapshot();
    expectError(
      await call('POST', '/v1/policies', {
        token: root,
        body: { policies: { 'bulk-a': READ, 'bulk-b': 'nope' } },
      }),
      400,
      'FX_POLICY_INVALID',
    );
    expect(snapshot()).toBe(before);
    const added = await call('POST', '/v1/policies', {
      token: root,
      body: { policies: { 'bulk-a': READ, 'bulk-b': QUERY } },
    });
    expect(added.status, added.text).toBe(201);
    expect(added.body['added']).toEqual(['bulk-a', 'bulk-b']);
    await ok('DELETE', '/v1/policies/bulk-a');
    await ok('DELETE', '/v1/policies/bulk-b');
  });

  it('validates policies, Cedar files and JSON files without storing anything (any caller)', async () => {
    const before = snapshot();
    const valid = await ok('POST', '/v1/policies/validate', { policies: { a: READ } }, nobody);
    expect(valid.body).toEqual({ valid: true, policies: 1, issues: [] });
    const invalid = await ok('POST', '/v1/policies/validate', {
      policies: { a: 'permit (principal, action == Fortress::Action::"fly", resource);' },
    });
    expect(invalid.body['valid']).toBe(false);
    expect((invalid.body['issues'] as { policy: string }[])[0]!.policy).toBe('a');
    const cedar = await ok('POST', '/v1/policies/validate', {
      file: `@id("one")\n${READ}\n\n@id("two")\n${QUERY}\n`,
    });
    expect(cedar.body).toMatchObject({ valid: true, policies: 2 });
    const json = await ok('POST', '/v1/policies/validate', { file: JSON.stringify({ one: READ }) });
    expect(json.body).toMatchObject({ valid: true, policies: 1 });
    const unparsable = await ok('POST', '/v1/policies/validate', { file: 'permit (' });
    expect(unparsable.body['valid']).toBe(false);
    const unnamed = await ok('POST', '/v1/policies/validate', { file: `${READ}\n${QUERY}` });
    expect(unnamed.body['valid']).toBe(false);
    expect(snapshot()).toBe(before);
    expectError(
      await call('POST', '/v1/policies/validate', { body: { policies: { a: READ } } }),
      401,
      'FX_UNAUTHENTICATED',
    );
  });

  it('lints the policies in force (an empty POST) or the policies given', async () => {
    const current = await ok('POST', '/v1/policies/lint');
    expect(current.body).toMatchObject({ findings: [] });
    expect(current.body['policies']).toBeGreaterThanOrEqual(1);
    const given = await ok(
      'POST',
      '/v1/policies/lint',
      { policies: { p: READ, f: FORBID_ALL_READ } },
      nobody,
    );
    expect(given.body['findings']).toEqual([
      { kind: 'shadowed', policies: ['p', 'f'], message: expect.any(String) as string },
    ]);
    expectError(await call('POST', '/v1/policies/lint', { token: nobody }), 403, 'FX_FORBIDDEN');
    expectError(
      await call('POST', '/v1/policies/lint', { token: root, body: { policies: { p: 'permit (' } } }),
      400,
      'FX_POLICY_INVALID',
    );
  });

  it('explains a decision, with candidate policies laid over those in force', async () => {
    const request = {
      principal: 'user:default/admin',
      action: 'read',
      resource: 'table:default/main/patients',
    };
    const allowed = await ok('POST', '/v1/policies/explain', request);
    expect(allowed.body).toMatchObject({
      decision: 'allow',
      policies: ['fortress-admin'],
      principal: { type: 'User', id: 'default/admin' },
      resource: { type: 'Table', id: 'default/main/patients' },
    });
    const denied = await ok('POST', '/v1/policies/explain', { ...request, principal: 'user:default/nobody' });
    expect(denied.body).toMatchObject({ decision: 'deny', explanation: 'no policy permits it' });
    const overlaid = await ok('POST', '/v1/policies/explain', {
      ...request,
      context: { breakGlass: false },
      with: { 'no-reads': FORBID_ALL_READ },
    });
    expect(overlaid.body).toMatchObject({ decision: 'deny', policies: ['no-reads'] });
    // The overlay was not stored.
    expect(
      server.context
        .unsealed()
        .access.listPolicies()
        .map((p) => p.id),
    ).not.toContain('no-reads');
    expectError(
      await call('POST', '/v1/policies/explain', { token: root, body: { ...request, principal: 'ann' } }),
      400,
      'FX_INVALID_ARGUMENT',
    );
    expectError(
      await call('POST', '/v1/policies/explain', { token: root, body: { ...request, action: 'fly' } }),
      400,
      'FX_REQUEST_INVALID',
    );
    // Another tenant's principals are that tenant's to ask about.
    expectError(
      await call('POST', '/v1/policies/explain', {
        token: root,
        body: { ...request, principal: 'user:other/eve' },
      }),
      403,
      'FX_FORBIDDEN',
    );
    expectError(
      await call('POST', '/v1/policies/explain', { token: nobody, body: request }),
      403,
      'FX_FORBIDDEN',
    );
  });

  it('runs test cases (or a test file), reporting every case as `fortress policy test` does', async () => {
    const cases = [
      {
        name: 'admin reads',
        principal: 'user:default/admin',
        action: 'read',
        resource: 'table:default/main/patients',
        expect: 'allow',
      },
      {
        name: 'nobody reads',
        principal: 'user:default/nobody',
        action: 'read',
        resource: 'table:default/main/patients',
        expect: 'allow',
      },
    ];
    const r = await ok('POST', '/v1/policies/test', { cases });
    expect(r.body['passed']).toBe(1);
    expect(r.body['failed']).toEqual([
      {
        name: 'nobody reads',
        expected: 'allow',
        explanation: 'expected allow, but no policy permits it',
        policies: [],
      },
    ]);
    expect(r.body['results']).toEqual([
      {
        name: 'admin reads',
        expected: 'allow',
        decision: 'allow',
        passed: true,
        policies: ['fortress-admin'],
      },
      { name: 'nobody reads', expected: 'allow', decision: 'deny', passed: false, policies: [] },
    ]);
    const file = await ok('POST', '/v1/policies/test', {
      file: JSON.stringify({ cases: [cases[0]] }),
      with: { 'no-reads': FORBID_ALL_READ },
    });
    expect(file.body).toMatchObject({ passed: 0, failed: [{ name: 'admin reads' }] });
    for (const body of [
      { cases: [{ ...cases[0], resource: 'table:default/main' }] },
      { cases: [cases[0], cases[0]] },
      { file: '{"cases": 1}' },
      { file: 'not json' },
    ]) {
      expectError(await call('POST', '/v1/policies/test', { token: root, body }), 400, 'FX_REQUEST_INVALID');
    }
    expectError(
      await call('POST', '/v1/policies/test', { token: nobody, body: { cases } }),
      403,
      'FX_FORBIDDEN',
    );
    expectError(
      await call('POST', '/v1/policies/test', {
        token: root,
        body: { cases: [{ ...cases[0], principal: 'user:other/eve' }] },
      }),
      403,
      'FX_FORBIDDEN',
    );
  });

  it('refuses every policy change and read to a principal with no policy, or of another tenant', async () => {
    const before = snapshot();
    for (const [method, route, body] of [
      ['GET', '/v1/policies', undefined],
      ['GET', '/v1/policies/fortress-admin', undefined],
      ['PUT', '/v1/policies/mine', { text: READ }],
      ['PUT', '/v1/policies/fortress-admin', { text: READ, replace: true }],
      ['DELETE', '/v1/policies/fortress-admin', undefined],
      ['POST', '/v1/policies', { policies: { mine: READ } }],
    ] as const) {
      for (const token of [nobody, eve]) {
        const r = await call(method, route, { token, ...(body === undefined ? {} : { body }) });
        expectError(r, 403, 'FX_FORBIDDEN');
      }
    }
    expect(snapshot()).toBe(before);
  });

  it('malformed bodies → 400 FX_REQUEST_INVALID, nothing stored', async () => {
    const before = snapshot();
    for (const [method, route, raw] of [
      ['PUT', '/v1/policies/x', '{"text": 1}'],
      ['PUT', '/v1/policies/x', '{"text": "permit (principal, action, resource);", "extra": true}'],
      ['PUT', '/v1/policies/x', '{'],
      ['PUT', `/v1/policies/${'x'.repeat(129)}`, '{"text": "t"}'],
      ['PUT', '/v1/policies/-bad', '{"text": "t"}'],
      ['POST', '/v1/policies', '{"policies": {}}'],
      ['POST', '/v1/policies', '{"policies": {"bad id!": "t"}}'],
      ['POST', '/v1/policies', '{"policies": ["t"]}'],
      ['POST', '/v1/policies/validate', '{"policies": {"a": "t"}, "file": "x"}'],
      ['POST', '/v1/policies/validate', '{}'],
      ['POST', '/v1/policies/lint', '{"policies": 3}'],
      ['POST', '/v1/policies/explain', '{"principal": "user:default/admin", "action": "read"}'],
      ['POST', '/v1/policies/test', '{"cases": []}'],
      ['POST', '/v1/policies/test', '{"cases": [{"name": "x"}]}'],
    ] as const) {
      const r = await call(method, route, { token: root, raw });
      expectError(r, 400, 'FX_REQUEST_INVALID');
    }
    expect(snapshot()).toBe(before);
  });
});

// ── principals ───────────────────────────────────────────────────────────────────────────────────

describe('principals', () => {
  it('lists principals, roles, groups and row filters of the tenant only', async () => {
    const r = await ok('GET', '/v1/principals');
    const principals = r.body['principals'] as { name: string; tenant: string }[];
    expect(principals.map((p) => p.name)).toEqual(expect.arrayContaining(['admin', 'nobody']));
    expect(principals.every((p) => p.tenant === 'default')).toBe(true);
    expect(r.body['roles']).toContainEqual({ tenant: 'default', name: 'fortress-admin', roles: [] });
    expect(r.body).toHaveProperty('groups');
    expect(r.body).toHaveProperty('rowFilters');
  });

  it('creates, replaces and removes a user; its password logs in, and dies with it with its tokens', async () => {
    await ok('PUT', '/v1/principals/roles/clerk', {});
    await ok('PUT', '/v1/principals/users/carol', {
      roles: ['clerk'],
      password: 'carol-password-long-enough',
    });
    let carol = server.context.unsealed().access.principal('user', 'carol');
    expect(carol.roles).toEqual(['clerk']);
    const login = await call('POST', '/v1/auth/userpass/login', {
      body: { username: 'carol', password: 'carol-password-long-enough' },
    });
    expect(login.status, login.text).toBe(200);
    const token = login.body['token'] as string;
    const other = await tokenFor('user', 'carol');
    // A PUT replaces the record: what it leaves out is reset.
    await ok('PUT', '/v1/principals/users/carol', { groups: ['staff'] });
    carol = server.context.unsealed().access.principal('user', 'carol');
    expect(carol).toMatchObject({ roles: [], groups: ['staff'] });
    expect((await call('GET', '/v1/auth/token/lookup-self', { token })).status).toBe(200);

    await ok('DELETE', '/v1/principals/users/carol');
    expect(
      server.context
        .unsealed()
        .access.listPrincipals()
        .map((p) => p.name),
    ).not.toContain('carol');
    for (const t of [token, other]) {
      expectError(await call('GET', '/v1/auth/token/lookup-self', { token: t }), 401, 'FX_UNAUTHENTICATED');
    }
    expect(await server.context.passwords.hasPassword('default', 'carol')).toBe(false);
    expectError(
      await call('DELETE', '/v1/principals/users/carol', { token: root }),
      404,
      'FX_POLICY_NOT_FOUND',
    );
    await ok('DELETE', '/v1/principals/roles/clerk');
  });

  it('creates and removes a service account, revoking its tokens', async () => {
    await ok('PUT', '/v1/principals/services/etl', { roles: ['fortress-admin'] });
    expect(server.context.unsealed().access.principal('service', 'etl').roles).toEqual(['fortress-admin']);
    const token = await tokenFor('service', 'etl');
    expect((await call('GET', '/v1/policies', { token })).status).toBe(200);
    await ok('DELETE', '/v1/principals/services/etl');
    expectError(await call('GET', '/v1/policies', { token }), 401, 'FX_UNAUTHENTICATED');
    expectError(
      await call('DELETE', '/v1/principals/services/etl', { token: root }),
      404,
      'FX_POLICY_NOT_FOUND',
    );
  });

  it('puts and removes roles (inherits) and groups', async () => {
    await ok('PUT', '/v1/principals/roles/base', {});
    await ok('PUT', '/v1/principals/roles/senior', { inherits: ['base'] });
    await ok('PUT', '/v1/principals/groups/team', { roles: ['senior'], groups: [] });
    const list = await ok('GET', '/v1/principals');
    expect(list.body['roles']).toContainEqual({ tenant: 'default', name: 'senior', roles: ['base'] });
    expect(list.body['groups']).toContainEqual({
      tenant: 'default',
      name: 'team',
      groups: [],
      roles: ['senior'],
    });
    // Every role held: through the group, and what its role inherits; service accounts alike.
    await ok('PUT', '/v1/principals/users/dora', { roles: ['fortress-admin'], groups: ['team'] });
    const held = await ok('GET', '/v1/principals/users/dora/roles');
    expect(held.body).toEqual({ roles: ['base', 'fortress-admin', 'senior'] });
    await ok('PUT', '/v1/principals/services/batch', { groups: ['team'] });
    expect((await ok('GET', '/v1/principals/services/batch/roles')).body).toEqual({
      roles: ['base', 'senior'],
    });
    expect((await ok('GET', '/v1/principals/users/nobody/roles')).body).toEqual({ roles: [] });
    expectError(
      await call('GET', '/v1/principals/users/zed/roles', { token: root }),
      404,
      'FX_POLICY_NOT_FOUND',
    );
    expectError(
      await call('GET', '/v1/principals/services/dora/roles', { token: root }),
      404,
      'FX_POLICY_NOT_FOUND',
    );
    expectError(await call('GET', '/v1/principals/users/dora/roles', { token: nobody }), 403, 'FX_FORBIDDEN');
    expectError(
      await call('GET', '/v1/principals/users/dora/roles?colour=red', { token: root }),
      400,
      'FX_REQUEST_INVALID',
    );
    await ok('DELETE', '/v1/principals/users/dora');
    await ok('DELETE', '/v1/principals/services/batch');
    // roles is accepted as a synonym of inherits (what GET lists), never both.
    await ok('PUT', '/v1/principals/roles/senior', { roles: [] });
    expectError(
      await call('PUT', '/v1/principals/roles/senior', { token: root, body: { roles: [], inherits: [] } }),
      400,
      'FX_REQUEST_INVALID',
    );
    await ok('DELETE', '/v1/principals/groups/team');
    await ok('DELETE', '/v1/principals/roles/senior');
    await ok('DELETE', '/v1/principals/roles/base');
    expectError(
      await call('DELETE', '/v1/principals/groups/team', { token: root }),
      404,
      'FX_POLICY_NOT_FOUND',
    );
    expectError(
      await call('DELETE', '/v1/principals/roles/base', { token: root }),
      404,
      'FX_POLICY_NOT_FOUND',
    );
  });

  it('puts and removes row filters; they must name a table and plaintext columns', async () => {
    await ok('PUT', '/v1/principals/row-filters/north-only', {
      table: 'patients',
      role: 'nurse',
      where: { ward: 'north' },
    });
    expect(server.context.unsealed().access.listRowFilters()).toContainEqual({
      id: 'north-only',
      tenant: 'default',
      table: 'patients',
      role: 'nurse',
      where: { ward: 'north' },
    });
    const before = snapshot();
    expectError(
      await call('PUT', '/v1/principals/row-filters/x', {
        token: root,
        body: { table: 'nope', role: 'nurse', where: { ward: 'north' } },
      }),
      404,
      'FX_TABLE_NOT_FOUND',
    );
    expectError(
      await call('PUT', '/v1/principals/row-filters/x', {
        token: root,
        body: { table: 'patients', role: 'nurse', where: { ssn: '1' } },
      }),
      400,
      'FX_QUERY_UNSUPPORTED',
    );
    expect(snapshot()).toBe(before);
    await ok('DELETE', '/v1/principals/row-filters/north-only');
    expectError(
      await call('DELETE', '/v1/principals/row-filters/north-only', { token: root }),
      404,
      'FX_POLICY_NOT_FOUND',
    );
  });

  it("keeps another tenant's principals and row filters out of reach", async () => {
    await server.context.unsealed().access.addRowFilter('theirs', {
      table: 'patients',
      role: 'r',
      where: { ward: 'south' },
      tenant: 'other',
    });
    const before = snapshot();
    for (const [method, route, body] of [
      ['PUT', '/v1/principals/users/mallory', { tenant: 'other' }],
      ['PUT', '/v1/principals/users/eve', { tenant: 'other', password: 'taken-over-password' }],
      ['DELETE', '/v1/principals/users/eve?tenant=other', undefined],
      ['PUT', '/v1/principals/services/bot', { tenant: 'other' }],
      ['PUT', '/v1/principals/roles/r', { tenant: 'other' }],
      ['DELETE', '/v1/principals/roles/r?tenant=other', undefined],
      ['PUT', '/v1/principals/groups/g', { tenant: 'other' }],
      // Row-filter ids are global: a filter of another tenant is not ours to replace or remove.
      [
        'PUT',
        '/v1/principals/row-filters/theirs',
        { table: 'patients', role: 'r', where: { ward: 'north' } },
      ],
      ['DELETE', '/v1/principals/row-filters/theirs', undefined],
    ] as const) {
      const r = await call(method, route, { token: root, ...(body === undefined ? {} : { body }) });
      expectError(r, 403, 'FX_FORBIDDEN');
    }
    expect(snapshot()).toBe(before);
    const listed = await ok('GET', '/v1/principals');
    expect(JSON.stringify(listed.body)).not.toMatch(/eve|theirs|"other"/);
    await server.context.unsealed().access.removeRowFilter('theirs');
  });

  it('refuses a principal with no policy (and the other tenant) everything', async () => {
    const before = snapshot();
    for (const [method, route, body] of [
      ['GET', '/v1/principals', undefined],
      ['PUT', '/v1/principals/users/nobody', { roles: ['fortress-admin'] }],
      ['PUT', '/v1/principals/users/new', { password: 'a-long-enough-password' }],
      ['DELETE', '/v1/principals/users/admin', undefined],
      ['PUT', '/v1/principals/services/svc', {}],
      ['DELETE', '/v1/principals/services/svc', undefined],
      ['PUT', '/v1/principals/roles/fortress-admin', { inherits: [] }],
      ['DELETE', '/v1/principals/roles/fortress-admin', undefined],
      ['PUT', '/v1/principals/groups/g', {}],
      ['DELETE', '/v1/principals/groups/g', undefined],
      ['PUT', '/v1/principals/row-filters/f', { table: 'patients', role: 'r', where: { ward: 'x' } }],
      ['DELETE', '/v1/principals/row-filters/f', undefined],
    ] as const) {
      for (const token of [nobody, eve]) {
        const r = await call(method, route, { token, ...(body === undefined ? {} : { body }) });
        expectError(r, 403, 'FX_FORBIDDEN');
      }
    }
    expect(snapshot()).toBe(before);
  });

  it('malformed names and bodies → 400 FX_REQUEST_INVALID, nothing stored', async () => {
    const before = snapshot();
    for (const [method, route, raw] of [
      ['PUT', '/v1/principals/users/bad%20name', '{}'],
      ['PUT', '/v1/principals/users/.dot', '{}'],
      ['PUT', `/v1/principals/users/${'a'.repeat(129)}`, '{}'],
      ['PUT', '/v1/principals/users/dave', '{"password": "short"}'],
      ['PUT', '/v1/principals/users/dave', '{"roles": "admin"}'],
      ['PUT', '/v1/principals/users/dave', '{"roles": ["bad role"]}'],
      ['PUT', '/v1/principals/users/dave', '{"admin": true}'],
      ['PUT', '/v1/principals/users/dave', '{"tenant": "a/b"}'],
      ['PUT', '/v1/principals/users/dave', '[]'],
      ['PUT', '/v1/principals/users/dave', 'not json'],
      ['DELETE', '/v1/principals/users/dave?tenant=', ''],
      ['DELETE', '/v1/principals/users/dave?other=1', ''],
      ['PUT', '/v1/principals/services/svc', '{"password": "a-long-enough-password"}'],
      ['PUT', '/v1/principals/roles/r', '{"inherits": [1]}'],
      ['PUT', '/v1/principals/groups/g', '{"members": []}'],
      ['PUT', '/v1/principals/row-filters/f', '{"table": "patients", "role": "r"}'],
      ['PUT', '/v1/principals/row-filters/f', '{"table": "patients", "role": "r", "where": []}'],
      ['PUT', '/v1/principals/row-filters/bad%20id', '{"table": "patients", "role": "r", "where": {}}'],
    ] as const) {
      const r = await call(method, route, { token: root, ...(raw === '' ? {} : { raw }) });
      expectError(r, 400, 'FX_REQUEST_INVALID');
    }
    // A clearance the label scheme does not know: refused before anything is stored.
    expectError(
      await call('PUT', '/v1/principals/users/dave', { token: root, body: { clearance: 'cosmic' } }),
      400,
      'FX_LABEL_INVALID',
    );
    expect(snapshot()).toBe(before);
  });
});

// ── audit ────────────────────────────────────────────────────────────────────────────────────────

describe('audit', () => {
  it('tails the newest entries, oldest first', async () => {
    const r = await ok('GET', '/v1/audit/tail?n=5');
    const entries = r.body['entries'] as AuditEntry[];
    expect(entries).toHaveLength(5);
    const seqs = entries.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(r.body['more']).toBe(true);
    expect(entries[0]).toMatchObject({ v: 1, principal: { type: expect.any(String) as string } });
    const all = await ok('GET', '/v1/audit/tail');
    expect((all.body['entries'] as unknown[]).length).toBe(20);
  });

  it('searches with the filters of `fortress audit search`', async () => {
    const denied = await ok('GET', '/v1/audit/search?decision=deny&action=key.&limit=3');
    const entries = denied.body['entries'] as AuditEntry[];
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThanOrEqual(3);
    for (const e of entries) {
      expect(e.decision.effect).toBe('deny');
      expect(e.action.startsWith('key.')).toBe(true);
    }
    const range = await ok('GET', '/v1/audit/search?fromSeq=2&toSeq=4');
    expect((range.body['entries'] as AuditEntry[]).map((e) => e.seq)).toEqual([2, 3, 4]);
    const newest = await ok('GET', '/v1/audit/search?newestFirst=true&limit=2&since=2000-01-01');
    const [a, b] = newest.body['entries'] as AuditEntry[];
    expect(a!.seq).toBeGreaterThan(b!.seq);
    const until = await ok('GET', `/v1/audit/search?until=${Date.parse('2000-01-01')}`);
    expect(until.body).toEqual({ entries: [], more: false });
    const byResource = await ok('GET', '/v1/audit/search?resource=default/main/patients/&outcome=ok&limit=5');
    for (const e of byResource.body['entries'] as AuditEntry[]) expect(e.resource.table).toBe('patients');
    const byPrincipal = await ok('GET', `/v1/audit/search?principal=${encodeURIComponent('user:')}&limit=5`);
    for (const e of byPrincipal.body['entries'] as AuditEntry[]) expect(e.principal.type).toBe('user');
  });

  it('digests a value the way entries hold it, to find the entries about it', async () => {
    await ok('GET', '/v1/db/tables/patients/rows/p7');
    const r = await ok('POST', '/v1/audit/hash', { value: 'p7' });
    const digest = r.body['digest'] as string;
    expect(digest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const found = await ok('GET', `/v1/audit/search?digest=${digest}&action=table.get`);
    expect((found.body['entries'] as unknown[]).length).toBeGreaterThan(0);
    expect(found.text).not.toContain('"p7"');
  });

  it('signs a checkpoint, serves the latest, proves inclusion and consistency, verifies', async () => {
    const signed = await ok('POST', '/v1/audit/checkpoint');
    const size = signed.body['size'] as number;
    expect(signed.body['note']).toMatch(/\n— /);
    const latest = await ok('GET', '/v1/audit/checkpoint');
    expect(latest.body['size']).toBeGreaterThanOrEqual(size);

    const proof = await ok('GET', '/v1/audit/proof/3');
    expect(proof.type).toMatch(/^text\/plain/);
    expect(proof.text.startsWith('c2sp.org/tlog-proof@v1\nextra ')).toBe(true);
    expect(proof.text).toContain('\nindex 3\n');
    expectError(await call('GET', '/v1/audit/proof/99999999', { token: root }), 404, 'FX_AUDIT_NOT_FOUND');

    const consistency = await ok('GET', `/v1/audit/consistency?from=2&to=${size}`);
    expect(consistency.body['proof']).toEqual(
      expect.arrayContaining([expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/)]),
    );
    expectError(
      await call('GET', `/v1/audit/consistency?from=1&to=${size + 1_000_000}`, { token: root }),
      404,
      'FX_AUDIT_NOT_FOUND',
    );

    const verified = await ok('POST', '/v1/audit/verify');
    expect(verified.body).toMatchObject({ ok: true, problem: null });
  });

  it("keeps tenants' entries apart: the other tenant reads nothing, this one sees none of the other's", async () => {
    // The other tenant's principal leaves entries (a login, refused reads) …
    const login = await call('POST', '/v1/auth/userpass/login', {
      body: { username: 'eve', password: 'not-her-password', tenant: 'other' },
    });
    expect(login.status).toBe(401);
    for (const [method, route, body] of [
      ['GET', '/v1/audit/tail', undefined],
      ['GET', '/v1/audit/search', undefined],
      ['POST', '/v1/audit/hash', { value: 'x' }],
      ['POST', '/v1/audit/checkpoint', undefined],
      ['GET', '/v1/audit/checkpoint', undefined],
      ['GET', '/v1/audit/proof/1', undefined],
      ['GET', '/v1/audit/consistency?from=1&to=2', undefined],
      ['POST', '/v1/audit/verify', undefined],
    ] as const) {
      for (const token of [eve, nobody]) {
        const r = await call(method, route, { token, ...(body === undefined ? {} : { body }) });
        expectError(r, 403, 'FX_FORBIDDEN');
      }
    }
    // … which are in the ledger, but never shown to this tenant's administrator.
    const theirs: number[] = [];
    for await (const entry of server.context
      .unsealed()
      .audit.entries({ principal: 'user:other/eve@other' })) {
      theirs.push(entry.seq);
    }
    expect(theirs.length).toBeGreaterThan(0);
    const search = await ok('GET', '/v1/audit/search?limit=1000');
    const shown = search.body['entries'] as AuditEntry[];
    expect(shown.length).toBeGreaterThan(0);
    for (const e of shown) {
      expect(e.principal.tenant).toBe('default');
      if (e.resource.tenant !== undefined) expect(e.resource.tenant).toBe('default');
    }
    const probe = await ok('GET', `/v1/audit/search?principal=${encodeURIComponent('user:other/eve@other')}`);
    expect(probe.body['entries']).toEqual([]);
    expectError(
      await call('GET', `/v1/audit/proof/${theirs[0]}`, { token: root }),
      404,
      'FX_AUDIT_NOT_FOUND',
    );
  });

  it('decides visibility from every tenant an entry names', () => {
    const entry = (principalTenant: string, resourceTenant?: string): AuditEntry =>
      ({
        principal: { type: 'user', id: `${principalTenant}/x`, tenant: principalTenant },
        resource:
          resourceTenant === undefined ? { type: 'system' } : { type: 'table', tenant: resourceTenant },
      }) as unknown as AuditEntry;
    expect(auditEntryVisible(entry('a', 'a'), 'a', 'default')).toBe(true);
    expect(auditEntryVisible(entry('a'), 'a', 'default')).toBe(true);
    expect(auditEntryVisible(entry('b', 'a'), 'a', 'default')).toBe(false);
    expect(auditEntryVisible(entry('a', 'b'), 'a', 'default')).toBe(false);
    expect(auditEntryVisible(entry('b'), 'a', 'default')).toBe(false);
    // An entry naming only the system tenant is the database tenant's.
    expect(auditEntryVisible(entry('*', '*'), 'default', 'default')).toBe(true);
    expect(auditEntryVisible(entry('*', '*'), 'a', 'default')).toBe(false);
  });

  it('malformed parameters → 400 FX_REQUEST_INVALID', async () => {
    for (const [method, route, raw] of [
      ['GET', '/v1/audit/tail?n=0', undefined],
      ['GET', '/v1/audit/tail?n=1001', undefined],
      ['GET', '/v1/audit/tail?n=x', undefined],
      ['GET', '/v1/audit/tail?limit=5', undefined],
      ['GET', '/v1/audit/search?limit=1001', undefined],
      ['GET', '/v1/audit/search?decision=maybe', undefined],
      ['GET', '/v1/audit/search?outcome=fine', undefined],
      ['GET', '/v1/audit/search?action=Table', undefined],
      ['GET', '/v1/audit/search?since=yesterday', undefined],
      ['GET', '/v1/audit/search?since=2026-01-02&until=2026-01-01', undefined],
      ['GET', '/v1/audit/search?fromSeq=5&toSeq=4', undefined],
      ['GET', '/v1/audit/search?fromSeq=-1', undefined],
      ['GET', '/v1/audit/search?fromSeq=01', undefined],
      ['GET', '/v1/audit/search?digest=abc', undefined],
      ['GET', '/v1/audit/search?value=secret', undefined],
      ['GET', '/v1/audit/search?principal=a%0Ab', undefined],
      ['GET', '/v1/audit/search?action=a&action=b', undefined],
      ['GET', '/v1/audit/proof/x', undefined],
      ['GET', '/v1/audit/proof/-1', undefined],
      ['GET', '/v1/audit/consistency?from=0&to=1', undefined],
      ['GET', '/v1/audit/consistency?from=3&to=2', undefined],
      ['GET', '/v1/audit/consistency?from=1', undefined],
      ['POST', '/v1/audit/hash', '{}'],
      ['POST', '/v1/audit/hash', '{"value": {"a": 1}}'],
      ['POST', '/v1/audit/hash', '{"value": "x", "more": 1}'],
    ] as const) {
      const r = await call(method, route, { token: root, ...(raw === undefined ? {} : { raw }) });
      expectError(r, 400, 'FX_REQUEST_INVALID');
    }
  });
});

// ── the OpenAPI document ─────────────────────────────────────────────────────────────────────────

describe('OpenAPI', () => {
  it('describes every new route, with closed request bodies', async () => {
    const r = await call('GET', '/v1/openapi.json');
    expect(r.status).toBe(200);
    const paths = r.body['paths'] as Record<string, Record<string, { requestBody?: unknown }>>;
    for (const route of [
      '/v1/keys',
      '/v1/keys/{name}',
      '/v1/keys/{name}/rotate',
      '/v1/keys/{name}/config',
      '/v1/keys/{name}/destroy',
      '/v1/keys/export',
      '/v1/db/tables/{table}/rotate',
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/policies',
      '/v1/policies/{id}',
      '/v1/policies/validate',
      '/v1/policies/lint',
      '/v1/policies/explain',
      '/v1/policies/test',
      '/v1/principals',
      '/v1/principals/users/{name}',
      '/v1/principals/services/{name}',
      '/v1/principals/roles/{name}',
      '/v1/principals/groups/{name}',
      '/v1/principals/row-filters/{id}',
      '/v1/audit/tail',
      '/v1/audit/search',
      '/v1/audit/hash',
      '/v1/audit/checkpoint',
      '/v1/audit/proof/{seq}',
      '/v1/audit/consistency',
      '/v1/audit/verify',
    ]) {
      expect(paths, route).toHaveProperty([route]);
    }
    const closed = (schema: Record<string, unknown>): boolean => {
      const variants = (schema['anyOf'] as Record<string, unknown>[] | undefined) ?? [schema];
      return variants.every((v) => v['additionalProperties'] === false);
    };
    for (const [route, methods] of Object.entries(paths)) {
      if (!/^\/v1\/(keys|policies|principals|audit|jobs)|\/rotate$/.test(route)) continue;
      for (const [method, operation] of Object.entries(methods)) {
        const body = operation.requestBody as
          { content: Record<string, { schema: Record<string, unknown> }> } | undefined;
        if (body === undefined) continue;
        const schema = body.content['application/json']!.schema;
        expect(closed(schema), `${method} ${route}`).toBe(true);
      }
    }
  });
});

// ── fuzz: last, since the administrator's requests among it may change what is stored ─────────────

describe('fuzz', () => {
  /** Marks a body sent as text, unparsed. */
  const RAW = '\u0000raw';

  it('3,000 generated requests across the administration routes: never a 5xx, always an FX_ code', async () => {
    const routes = [
      ['GET', '/v1/keys/:k'],
      ['POST', '/v1/keys/:k/rotate'],
      ['POST', '/v1/keys/:k/config'],
      ['POST', '/v1/keys/:k/destroy'],
      ['POST', '/v1/keys/export'],
      ['POST', '/v1/db/tables/:t/rotate'],
      ['GET', '/v1/jobs/:n'],
      ['GET', '/v1/policies/:p'],
      ['PUT', '/v1/policies/:p'],
      ['DELETE', '/v1/policies/:p'],
      ['POST', '/v1/policies'],
      ['POST', '/v1/policies/validate'],
      ['POST', '/v1/policies/lint'],
      ['POST', '/v1/policies/explain'],
      ['POST', '/v1/policies/test'],
      ['PUT', '/v1/principals/users/:u'],
      ['DELETE', '/v1/principals/users/:u'],
      ['PUT', '/v1/principals/services/:u'],
      ['PUT', '/v1/principals/roles/:u'],
      ['DELETE', '/v1/principals/roles/:u'],
      ['PUT', '/v1/principals/groups/:u'],
      ['PUT', '/v1/principals/row-filters/:p'],
      ['DELETE', '/v1/principals/row-filters/:p'],
      ['GET', '/v1/audit/tail'],
      ['GET', '/v1/audit/search'],
      ['POST', '/v1/audit/hash'],
      ['GET', '/v1/audit/proof/:n'],
      ['GET', '/v1/audit/consistency'],
    ] as const;
    const json = fc.jsonValue({ maxDepth: 3 });
    const segment = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom(
        'nobody',
        'eve',
        'test/kek',
        'patients',
        'fortress-admin',
        '0',
        '1',
        '-1',
        '99999999999999999',
      ),
    );
    const entityText = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('user:default/nobody', 'user:other/eve', 'table:default/main/patients', 'system'),
    );
    const request = fc.record({
      route: fc.constantFrom(...routes),
      segment,
      token: fc.constantFrom(root, nobody, eve),
      body: fc.oneof(
        json,
        fc.record({ minDecryptionVersion: json, version: json, all: json }, { requiredKeys: [] }),
        fc.record(
          { recipient: fc.oneof(fc.base64String({ maxLength: 2000 }), json), label: json },
          { requiredKeys: [] },
        ),
        fc.record({ text: fc.oneof(fc.string(), json), replace: json }, { requiredKeys: [] }),
        fc.record({ policies: fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string(), json)) }),
        fc.record({ file: fc.oneof(fc.string(), json) }),
        fc.record(
          {
            principal: entityText,
            action: fc.oneof(fc.constantFrom('read', 'managePolicy'), json),
            resource: entityText,
            context: json,
          },
          { requiredKeys: [] },
        ),
        fc.record({
          cases: fc.array(
            fc.record({
              name: fc.string(),
              principal: entityText,
              action: fc.string(),
              resource: entityText,
              expect: json,
            }),
            { maxLength: 3 },
          ),
        }),
        fc.record(
          { roles: json, groups: json, clearance: json, tenant: json, password: json, inherits: json },
          { requiredKeys: [] },
        ),
        fc.record({ table: json, role: json, where: json, tenant: json }, { requiredKeys: [] }),
        fc.record({ value: json }),
        fc.string().map((text) => ({ [RAW]: text })),
      ),
      query: fc.constantFrom(
        '',
        '?n=5',
        '?n=x',
        '?limit=2&from=1',
        '?from=1&to=2',
        '?from=2&to=1',
        '?tenant=other',
        '?since=2026-13-45',
        '?fromSeq=1&toSeq=2',
        '?x=%ZZ',
      ),
    });
    const samples = fc.sample(request, { numRuns: 3_000, seed: 20261206 });
    for (const sample of samples) {
      const [method, template] = sample.route;
      const route = template.replace(/:[a-z]+/, encodeURIComponent(sample.segment)) + sample.query;
      const body = sample.body as unknown;
      const raw =
        typeof body === 'object' && body !== null && RAW in body
          ? (body as Record<string, string>)[RAW]
          : undefined;
      const options =
        method === 'GET' || method === 'DELETE'
          ? { token: sample.token }
          : raw !== undefined
            ? { token: sample.token, raw }
            : { token: sample.token, body };
      const r = await call(method, route, options);
      expect(r.status, `${method} ${route}: ${r.text}`).toBeLessThan(500);
      if (r.status >= 400) expect(code(r), `${method} ${route}: ${r.text}`).toMatch(/^FX_[A-Z_]+$/);
    }
    expect((await call('GET', '/v1/sys/health')).status).toBe(200);
  });
});
