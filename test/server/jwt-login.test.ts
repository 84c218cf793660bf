import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/entry/audit-entry.js';
import { JwtLogin, type JwtLoginOptions } from '../../src/server/auth/jwt-login.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { FortressError } from '../../src/util/errors.js';

let dir: string;
let jwksFile: string;
let server: RunningServer;
let root: string;
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let privateKey: SigningKey;
let otherKey: SigningKey;

const ISSUER = 'https://idp.example';
const AUDIENCE = 'fortress';
const BASE = { issuer: ISSUER, audience: AUDIENCE } as const;
/** IdP groups → Fortress roles on the main server; `no-such-role` is never created. */
const ROLE_MAP = {
  'idp-readers': 'reader',
  'idp-readers-alias': 'reader',
  'idp-auditors': 'auditor',
  'idp-broken': 'no-such-role',
};
const NOTES_POLICY = `permit (principal in Fortress::Role::"default/reader", action in [Fortress::Action::"read", Fortress::Action::"query"], resource in Fortress::Table::"default/main/notes");`;

async function call(
  method: 'GET' | 'POST',
  route: string,
  options: { body?: unknown; token?: string; on?: RunningServer } = {},
) {
  const response = await fetch((options.on ?? server).url + route, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function post(route: string, body: unknown, token?: string) {
  return call('POST', route, { body, ...(token === undefined ? {} : { token }) });
}

function jwt(
  claims: Record<string, unknown>,
  options: { key?: SigningKey; issuer?: string; expires?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expires ?? '10m')
    .sign(options.key ?? privateKey);
}

/** Logs in on `on` (default: the main server) with a JWT for `claims`; the response. */
async function login(claims: Record<string, unknown>, on?: RunningServer) {
  return call('POST', '/v1/auth/jwt/login', {
    body: { jwt: await jwt(claims) },
    ...(on === undefined ? {} : { on }),
  });
}

/** Logs in and returns the token (the login must succeed). */
async function tokenFor(claims: Record<string, unknown>, on?: RunningServer): Promise<string> {
  const r = await login(claims, on);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body['token'] as string;
}

function expectLoginFailed(r: { status: number; body: Record<string, unknown> }): void {
  expect(r.status).toBe(401);
  expect(r.body).toMatchObject({ error: { code: 'FX_LOGIN_FAILED', message: 'the JWT was not accepted' } });
}

function rolesOf(name: string, on: RunningServer = server): readonly string[] {
  return on.context.unsealed().access.principal('user', name).roles;
}

async function auditEntries(
  query: { action: string; principal?: string; outcome?: 'ok' | 'error' },
  on: RunningServer = server,
): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  for await (const entry of on.context.unsealed().audit.entries(query)) found.push(entry);
  return found;
}

/** Starts a server with JWT login, initialises it and returns it with its root token. */
async function startIdpServer(
  name: string,
  jwtOptions: Partial<JwtLoginOptions>,
): Promise<{ server: RunningServer; root: string }> {
  const started = await startServer({
    dataDir: path.join(dir, name),
    host: '127.0.0.1',
    port: 0,
    tls: null,
    insecureDev: true,
    logLevel: 'silent',
    jwt: { jwksFile, ...BASE, principalClaim: 'preferred_username', tenantClaim: 'tenant', ...jwtOptions },
  });
  const init = await call('POST', '/v1/sys/init', { body: { shares: 1, threshold: 1 }, on: started });
  expect(init.status).toBe(200);
  return { server: started, root: init.body['rootToken'] as string };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-jwt-'));
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  privateKey = pair.privateKey;
  otherKey = (await generateKeyPair('EdDSA')).privateKey;
  jwksFile = path.join(dir, 'idp.jwks.json');
  await writeFile(
    jwksFile,
    JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA' }] }),
  );
  ({ server, root } = await startIdpServer('data', { rolesClaim: 'groups', roleMap: ROLE_MAP }));
  const access = server.context.unsealed().access;
  await access.addUser('ann');
  for (const role of ['reader', 'auditor', 'analyst']) await access.addRole(role);
  await access.addUser('carl', { roles: ['analyst'] });
  await access.addPolicies({ 'reader-reads-notes': NOTES_POLICY });
  const table = await post(
    '/v1/db/tables',
    {
      name: 'notes',
      definition: { columns: { id: { type: 'text', primaryKey: true }, body: { type: 'text' } } },
    },
    root,
  );
  expect(table.status).toBe(201);
  expect((await post('/v1/db/tables/notes/rows', { row: { id: 'n1', body: 'hello' } }, root)).status).toBe(
    201,
  );
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('JWT login', () => {
  it('a valid JWT for an existing principal gets a token that never outlives it', async () => {
    const r = await post('/v1/auth/jwt/login', {
      jwt: await jwt({ preferred_username: 'ann', tenant: 'default' }, { expires: '5m' }),
    });
    expect(r.status).toBe(200);
    const info = r.body['info'] as { principal: unknown; method: string; maxExpiresAt: string };
    expect(info.principal).toEqual({ kind: 'user', name: 'ann', tenant: 'default' });
    expect(info.method).toBe('jwt');
    expect(Date.parse(info.maxExpiresAt)).toBeLessThanOrEqual(Date.now() + 5 * 60_000 + 1000);
    const self = await fetch(`${server.url}/v1/auth/token/lookup-self`, {
      headers: { authorization: `Bearer ${r.body['token'] as string}` },
    });
    expect(self.status).toBe(200);
  });

  it('refuses every flawed JWT alike: wrong key, issuer, expired, unknown principal, bad claims, alg none', async () => {
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ preferred_username: 'ann', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url')}.`;
    for (const token of [
      await jwt({ preferred_username: 'ann', tenant: 'default' }, { key: otherKey }),
      await jwt({ preferred_username: 'ann', tenant: 'default' }, { issuer: 'https://evil.example' }),
      await jwt({ preferred_username: 'ann', tenant: 'default' }, { expires: '-1m' }),
      await jwt({ preferred_username: 'ghost', tenant: 'default' }),
      await jwt({ preferred_username: 'ann', tenant: 'other' }),
      await jwt({ preferred_username: 'a b', tenant: 'default' }),
      await jwt({ preferred_username: '.ann', tenant: 'default' }),
      await jwt({ preferred_username: 'ann', tenant: '-default' }),
      await jwt({ tenant: 'default' }),
      none,
      'not.a.jwt',
    ]) {
      expectLoginFailed(await post('/v1/auth/jwt/login', { jwt: token }));
    }
  });
});

describe('JWT login: IdP claim → Fortress role mapping', () => {
  const carl = (groups?: unknown) => ({
    preferred_username: 'carl',
    tenant: 'default',
    ...(groups === undefined ? {} : { groups }),
  });

  it('syncs the IdP-managed roles at each login and keeps the ones an administrator assigned', async () => {
    const updatesBefore = (await auditEntries({ action: 'access.updatePrincipal' })).length;
    // An array claim: mapped values count (two mapping to one role), unmapped ones are ignored.
    await tokenFor(carl(['idp-readers', 'idp-readers-alias', 'somebody-elses-group', 'analyst']));
    expect(rolesOf('carl')).toEqual(['analyst', 'reader']);
    const sync = await auditEntries({ action: 'auth.syncRoles', principal: 'user:default/carl@default' });
    expect(sync.at(-1)).toMatchObject({
      outcome: { status: 'ok' },
      details: { method: 'jwt', created: false, added: 'reader' },
    });
    expect(sync.at(-1)!.details).not.toHaveProperty('removed');
    expect((await auditEntries({ action: 'access.updatePrincipal' })).length).toBe(updatesBefore + 1);

    // The same groups again: nothing to change, nothing written (no new policy generation).
    await tokenFor(carl(['idp-readers']));
    expect((await auditEntries({ action: 'access.updatePrincipal' })).length).toBe(updatesBefore + 1);
    expect(
      await auditEntries({ action: 'auth.syncRoles', principal: 'user:default/carl@default' }),
    ).toHaveLength(sync.length);

    // Another group: reader goes, auditor comes, analyst (not IdP-managed) stays.
    await tokenFor(carl(['idp-auditors']));
    expect(rolesOf('carl')).toEqual(['analyst', 'auditor']);
    const moved = await auditEntries({ action: 'auth.syncRoles', principal: 'user:default/carl@default' });
    expect(moved.at(-1)!.details).toMatchObject({ added: 'auditor', removed: 'reader' });

    // No roles claim at all: the IdP lists no groups, so it grants none.
    await tokenFor(carl());
    expect(rolesOf('carl')).toEqual(['analyst']);
  });

  it('a string claim is one value', async () => {
    await tokenFor(carl('idp-auditors'));
    expect(rolesOf('carl')).toEqual(['analyst', 'auditor']);
    await tokenFor(carl([]));
    expect(rolesOf('carl')).toEqual(['analyst']);
  });

  it('a mapped role grants access through policy, and losing the group takes the access away', async () => {
    const before = await tokenFor(carl(['somebody-elses-group']));
    expect((await call('GET', '/v1/db/tables/notes/rows/n1', { token: before })).status).toBe(403);

    const reader = await tokenFor(carl(['idp-readers']));
    const read = await call('GET', '/v1/db/tables/notes/rows/n1', { token: reader });
    expect(read.status).toBe(200);
    expect(read.body['row']).toMatchObject({ id: 'n1', body: 'hello' });

    // Removed from the group at the IdP: the next login takes the role away — from every token of
    // the principal, since decisions read its roles, not the token's.
    const after = await tokenFor(carl(['idp-auditors']));
    expect((await call('GET', '/v1/db/tables/notes/rows/n1', { token: after })).status).toBe(403);
    expect((await call('GET', '/v1/db/tables/notes/rows/n1', { token: reader })).status).toBe(403);
    await tokenFor(carl([]));
  });

  it('a mapped role that does not exist in Fortress refuses the login (fail closed) and says why in the ledger', async () => {
    await tokenFor(carl(['idp-readers']));
    expectLoginFailed(await login(carl(['idp-auditors', 'idp-broken'])));
    expect(rolesOf('carl')).toEqual(['analyst', 'reader']); // untouched
    const failures = await auditEntries({ action: 'auth.login', principal: 'user:default/carl@default' });
    expect(failures.at(-1)).toMatchObject({
      outcome: { status: 'error', code: 'FX_LOGIN_FAILED' },
      details: { method: 'jwt', reason: 'unknown role', unknownRoles: 'no-such-role' },
    });
    await tokenFor(carl([]));
  });

  it('refuses a malformed roles claim like any other flaw, changing nothing', async () => {
    await tokenFor(carl(['idp-readers']));
    for (const groups of [
      42,
      { 'idp-readers': true },
      null,
      '',
      [1],
      ['idp-readers', null],
      [['idp-readers']],
      ['x'.repeat(257)],
      ['idp-readers\u0000'],
      Array.from({ length: 257 }, (_, i) => `g${i}`),
    ]) {
      expectLoginFailed(await login(carl(groups)));
      expect(rolesOf('carl')).toEqual(['analyst', 'reader']);
    }
    // The claim is checked before the principal is known: the entry names no principal.
    const failures = await auditEntries({ action: 'auth.login', outcome: 'error' });
    expect(failures.at(-1)).toMatchObject({ details: { method: 'jwt', reason: 'roles claim' } });
    // 256 values are still fine.
    await tokenFor(carl([...Array.from({ length: 255 }, (_, i) => `g${i}`), 'idp-auditors']));
    expect(rolesOf('carl')).toEqual(['analyst', 'auditor']);
    await tokenFor(carl([]));
  });

  it('without create_users an unknown principal stays unknown, whatever its groups', async () => {
    expectLoginFailed(
      await login({ preferred_username: 'ghost', tenant: 'default', groups: ['idp-readers'] }),
    );
    expect(() => server.context.unsealed().access.principal('user', 'ghost')).toThrow(FortressError);
    const failures = await auditEntries({ action: 'auth.login', principal: 'user:default/ghost@default' });
    expect(failures.at(-1)).toMatchObject({ details: { reason: 'unknown principal' } });
  });
});

describe('JWT login with create_users and a nested roles claim', () => {
  let idp: RunningServer;

  beforeAll(async () => {
    ({ server: idp } = await startIdpServer('data-create', {
      rolesClaim: 'realm_access.roles',
      roleMap: { readers: 'reader', broken: 'no-such-role' },
      createUsers: true,
    }));
    await idp.context.unsealed().access.addRole('reader');
  });

  afterAll(async () => {
    await idp.close();
  });

  it('creates an unknown user with its mapped roles, at the lowest clearance', async () => {
    const access = idp.context.unsealed().access;
    await tokenFor(
      { preferred_username: 'dave', tenant: 'default', realm_access: { roles: ['readers', 'staff'] } },
      idp,
    );
    expect(access.principal('user', 'dave')).toEqual({
      kind: 'user',
      tenant: 'default',
      name: 'dave',
      clearance: access.labels.levels[0],
      groups: [],
      roles: ['reader'],
    });
    const created = await auditEntries(
      { action: 'auth.syncRoles', principal: 'user:default/dave@default' },
      idp,
    );
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ details: { method: 'jwt', created: true, added: 'reader' } });

    // Logging in again finds it, and the nested claim keeps syncing.
    await tokenFor({ preferred_username: 'dave', tenant: 'default', realm_access: { roles: [] } }, idp);
    expect(rolesOf('dave', idp)).toEqual([]);
    // A claim that is not there (no realm_access at all) lists nothing.
    await tokenFor({ preferred_username: 'dave', tenant: 'default' }, idp);
    expect(rolesOf('dave', idp)).toEqual([]);
  });

  it('creates nobody when a mapped role does not exist', async () => {
    expectLoginFailed(
      await login(
        { preferred_username: 'erin', tenant: 'default', realm_access: { roles: ['broken'] } },
        idp,
      ),
    );
    expect(() => idp.context.unsealed().access.principal('user', 'erin')).toThrow(FortressError);
  });

  it('creates a service account when the JWT names services', async () => {
    const services = new JwtLogin({
      jwksFile,
      ...BASE,
      kind: 'service',
      rolesClaim: 'roles',
      roleMap: { readers: 'reader' },
      createUsers: true,
    });
    const who = await services.verify(await jwt({ sub: 'etl', roles: ['readers'] }));
    const access = idp.context.unsealed().access;
    expect(await services.syncPrincipal(access, who)).toEqual({
      created: true,
      added: ['reader'],
      removed: [],
    });
    expect(access.principal('service', 'etl').roles).toEqual(['reader']);
    expect(await services.syncPrincipal(access, who)).toEqual({ created: false, added: [], removed: [] });
  });
});

describe('JwtLogin options and claims', () => {
  it('maps nested, dotted-name and plain claims; dedupes and sorts; ignores inherited names', async () => {
    const options = {
      jwksFile,
      ...BASE,
      roleMap: { b: 'zeta', a: 'alpha', c: 'alpha', constructor: 'gamma' },
    };
    const verify = async (rolesClaim: string, claims: Record<string, unknown>) =>
      (await new JwtLogin({ ...options, rolesClaim }).verify(await jwt({ sub: 'ann', ...claims }))).roles;
    expect(await verify('groups', { groups: ['b', 'a', 'c', 'x'] })).toEqual(['alpha', 'zeta']);
    expect(await verify('realm_access.roles', { realm_access: { roles: ['b'] } })).toEqual(['zeta']);
    expect(await verify('https://example.com/roles', { 'https://example.com/roles': 'a' })).toEqual([
      'alpha',
    ]);
    expect(await verify('groups', { groups: ['toString', '__proto__', 'hasOwnProperty'] })).toEqual([]);
    expect(await verify('groups', { groups: ['constructor'] })).toEqual(['gamma']);
    // A path through something that is not an object finds nothing; `toString` is not a claim.
    expect(await verify('groups.toString', { groups: ['a'] })).toEqual([]);
    // Without a roles claim configured, no roles.
    const plain = new JwtLogin({ jwksFile, ...BASE });
    expect((await plain.verify(await jwt({ sub: 'ann', groups: ['a'] }))).roles).toEqual([]);
    expect(new JwtLogin({ ...options, rolesClaim: 'groups' }).managedRoles).toEqual([
      'alpha',
      'gamma',
      'zeta',
    ]);
  });

  it('refuses a bad role map at construction (FX_CONFIG_INVALID)', () => {
    for (const [bad, message] of [
      [{ roleMap: { a: 'reader' } }, /role_map needs roles_claim/],
      [
        { rolesClaim: 'groups', roleMap: { a: 'not a role!' } },
        /"a" maps to "not a role!", which is not a role name/,
      ],
      [{ rolesClaim: 'groups', roleMap: { '': 'reader' } }, /"" is not a usable IdP value/],
      [
        {
          rolesClaim: 'groups',
          roleMap: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`g${i}`, 'reader'])),
        },
        /more than 1024 entries/,
      ],
      [{ rolesClaim: '' }, /roles_claim must be a non-empty claim name/],
    ] as const) {
      expect(() => new JwtLogin({ jwksFile, ...BASE, ...bad })).toThrow(message);
      try {
        new JwtLogin({ jwksFile, ...BASE, ...bad });
      } catch (error) {
        expect(error).toMatchObject({ code: 'FX_CONFIG_INVALID' });
      }
    }
  });
});
