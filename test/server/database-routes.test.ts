/**
 * `/v1/database` over HTTP against a real server on the test backend, with the shared PostgreSQL of
 * FORTRESS_TEST_PG_URL as the target: connections (password never answered), roles, credentials
 * through curl-style GETs and through `client.database` (the user exists on the target, and is
 * dropped on revocation), leases (lookup, renew, list, revoke, revoke by prefix), static roles,
 * policy per action for non-root callers, audit entries and server logs without passwords, and
 * malformed requests refused with stable codes while nothing stored changes. Every user created
 * carries this run's tag and is dropped in afterAll.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { FortressClient, FortressClientError } from '../../src/client/index.js';
import { startInitialisedTestServer, stopTestServer } from '../helpers/backend.js';
import { httpCalls } from '../helpers/http-calls.js';

const TARGET_URL = process.env['FORTRESS_TEST_PG_URL'];
if (TARGET_URL === undefined || TARGET_URL === '') {
  throw new Error('FORTRESS_TEST_PG_URL is not set: the database routes need a PostgreSQL target');
}
const target = new URL(TARGET_URL);
const TAG = `dbr${randomBytes(3).toString('hex')}`;
const ROLE = `${TAG}-ro`;
const ADMIN_PASSWORD = `admin-http-sentinel-${randomBytes(8).toString('hex')}`;
const CREATE_LOGIN = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`;

let server: RunningServer;
let dir: string;
let root: string;
const logs: string[] = [];
const passwords: string[] = [ADMIN_PASSWORD];

const { call, ok, expectError } = httpCalls(() => ({ url: server.url, token: root }));

async function userExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: TARGET_URL });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

async function tokenFor(name: string): Promise<string> {
  const { token } = await server.context.tokens.create({
    principal: { kind: 'user', name, tenant: 'default' },
    method: 'test',
    ttlSeconds: 3600,
    maxTtlSeconds: 3600,
  });
  return token;
}

const connection = {
  plugin: 'postgresql',
  connectionUrl: `postgresql://{{username}}:{{password}}@${target.host}${target.pathname}`,
  username: decodeURIComponent(target.username) || 'postgres',
  password: ADMIN_PASSWORD,
  allowedRoles: [`${TAG}-*`],
};

beforeAll(async () => {
  ({ server, dir, root } = await startInitialisedTestServer('fx-database-routes-', {
    // The server's sweeper setting (secrets.database_sweep_interval_ms): 1 s instead of 60.
    secrets: { databaseSweepIntervalMs: 1000 },
    logLevel: 'debug',
    logStream: {
      write: (line: string) => {
        logs.push(line);
      },
    },
  }));
}, 60_000);

afterAll(async () => {
  await call('POST', '/v1/database/leases/revoke-prefix', { prefix: 'database/creds/' });
  await stopTestServer(server, dir);
  const client = new pg.Client({ connectionString: TARGET_URL });
  await client.connect();
  try {
    const left = await client.query<{ rolname: string }>(
      'SELECT rolname FROM pg_roles WHERE rolname LIKE $1',
      [`${TAG}%`],
    );
    for (const row of left.rows) await client.query(`DROP ROLE IF EXISTS "${row.rolname}"`);
  } finally {
    await client.end();
  }
});

describe('/v1/database', () => {
  it('connections and roles: written, read without the password, listed; every route is in OpenAPI', async () => {
    const written = await ok('POST', '/v1/database/config/shared', connection);
    expect(written).toMatchObject({ name: 'shared', plugin: 'postgresql', allowedRoles: [`${TAG}-*`] });
    expect(JSON.stringify(written)).not.toContain(ADMIN_PASSWORD);
    expect(await ok('GET', '/v1/database/config/shared')).toMatchObject({ name: 'shared' });
    expect(await ok('GET', '/v1/database/config')).toEqual({ keys: ['shared'], next: null });

    const role = await ok('POST', `/v1/database/roles/${ROLE}`, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: '1h',
      maxTtl: '2h',
    });
    expect(role).toMatchObject({ name: ROLE, defaultTtl: 3_600_000, maxTtl: 7_200_000 });
    expect((await ok('GET', '/v1/database/roles'))['keys']).toEqual([ROLE]);

    const paths = Object.keys((await ok('GET', '/v1/openapi.json'))['paths'] as Record<string, unknown>);
    expect(paths.filter((p) => p.startsWith('/v1/database/')).sort()).toEqual([
      '/v1/database/config',
      '/v1/database/config/{name}',
      '/v1/database/creds/{name}',
      '/v1/database/leases',
      '/v1/database/leases/lookup',
      '/v1/database/leases/renew',
      '/v1/database/leases/revoke',
      '/v1/database/leases/revoke-prefix',
      '/v1/database/reset/{name}',
      '/v1/database/roles',
      '/v1/database/roles/{name}',
      '/v1/database/rotate-role/{name}',
      '/v1/database/rotate-root/{name}',
      '/v1/database/static-creds/{name}',
      '/v1/database/static-roles',
      '/v1/database/static-roles/{name}',
    ]);
  });

  it('GET creds makes a user with a lease; lookup, renew, list; revoke drops the user', async () => {
    const r = await call('GET', `/v1/database/creds/${ROLE}?ttl=10m`);
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const creds = r.body as { leaseId: string; username: string; password: string; leaseDuration: number };
    passwords.push(creds.password);
    expect(creds.leaseDuration).toBe(600_000);
    expect(await userExists(creds.username)).toBe(true);

    expect(await ok('POST', '/v1/database/leases/lookup', { leaseId: creds.leaseId })).toMatchObject({
      role: ROLE,
      state: 'active',
      username: creds.username,
    });
    const renewed = await ok('POST', '/v1/database/leases/renew', {
      leaseId: creds.leaseId,
      increment: '90m',
    });
    expect(renewed['ttl'] as number).toBeGreaterThan(600_000);
    const listed = await ok('GET', `/v1/database/leases?role=${ROLE}`);
    expect((listed['leases'] as { leaseId: string }[]).map((l) => l.leaseId)).toContain(creds.leaseId);
    expect(await ok('POST', '/v1/database/leases/revoke', { leaseId: creds.leaseId })).toEqual({
      revoked: true,
    });
    expect(await userExists(creds.username)).toBe(false);
    expectError(
      await call('POST', '/v1/database/leases/lookup', { leaseId: creds.leaseId }),
      404,
      'FX_DB_LEASE_NOT_FOUND',
    );
  });

  it('client.database: credentials, renew, revoke by prefix; static roles rotate an existing user', async () => {
    const client = new FortressClient({ address: server.url, token: root });
    const a = await client.database.credentials(ROLE, { ttl: '5m' });
    const b = await client.database.credentials(ROLE);
    passwords.push(a.password, b.password);
    expect(a.username).not.toBe(b.username);
    expect((await client.database.renewLease(a.leaseId, { increment: 60_000 })).state).toBe('active');
    expect(await client.database.revokePrefix(`database/creds/${ROLE}/`)).toBe(2);
    expect(await userExists(a.username)).toBe(false);
    expect(await userExists(b.username)).toBe(false);

    const staticUser = `${TAG}_static`;
    const admin = new pg.Client({ connectionString: TARGET_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE "${staticUser}" LOGIN PASSWORD 'initial'`);
    await admin.end();
    const role = await client.database.writeStaticRole(`${TAG}-static`, {
      connection: 'shared',
      username: staticUser,
      rotationPeriod: '1h',
    });
    expect(role).toMatchObject({ username: staticUser, rotationPeriod: 3_600_000 });
    const first = await client.database.staticCredentials(`${TAG}-static`);
    passwords.push(first.password);
    await client.database.rotateStaticRole(`${TAG}-static`);
    const second = await client.database.staticCredentials(`${TAG}-static`);
    passwords.push(second.password);
    expect(second.password).not.toBe(first.password);
    expect(second.username).toBe(staticUser);
    expect(await client.database.deleteStaticRole(`${TAG}-static`)).toBe(true);

    const error = await client.database.credentials('no-such-role').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FortressClientError);
    expect((error as FortressClientError).code).toBe('FX_DB_ROLE_NOT_FOUND');
  });

  it('policy: readCredentials on the role gives credentials and nothing else', async () => {
    const db = server.context.unsealed();
    await db.access.addUser('app', { roles: [] });
    await db.access.addPolicies({
      'app-creds': `permit (
  principal == Fortress::User::"default/app",
  action == Fortress::Action::"readCredentials",
  resource == Fortress::DatabaseRole::"default/${ROLE}"
);`,
    });
    const app = await tokenFor('app');
    const creds = await ok('GET', `/v1/database/creds/${ROLE}`, undefined, app);
    passwords.push(creds['password'] as string);
    expectError(
      await call('POST', '/v1/database/leases/revoke', { leaseId: creds['leaseId'] }, app),
      403,
      'FX_FORBIDDEN',
    );
    expectError(await call('GET', '/v1/database/config/shared', undefined, app), 403, 'FX_FORBIDDEN');
    expectError(await call('GET', '/v1/database/leases', undefined, app), 403, 'FX_FORBIDDEN');
    expectError(
      await call(
        'POST',
        `/v1/database/roles/${TAG}-mine`,
        { connection: 'shared', creationStatements: [CREATE_LOGIN], defaultTtl: 1000, maxTtl: 1000 },
        app,
      ),
      403,
      'FX_FORBIDDEN',
    );
    expectError(await call('GET', `/v1/database/creds/${TAG}-other`, undefined, app), 403, 'FX_FORBIDDEN');
    await ok('POST', '/v1/database/leases/revoke', { leaseId: creds['leaseId'] });
  });

  it("a token's leases die with it and never outlive it (revoke, revoke-self, a parent's revoke)", async () => {
    // "app" may read credentials of ROLE (previous test). A 30-minute token: the role's 1 h lease
    // is cut to the token's life, and cannot be renewed past it.
    const short = await server.context.tokens.create({
      principal: { kind: 'user', name: 'app', tenant: 'default' },
      method: 'test',
      ttlSeconds: 1800,
      maxTtlSeconds: 1800,
    });
    const a = await ok('GET', `/v1/database/creds/${ROLE}`, undefined, short.token);
    passwords.push(a['password'] as string);
    expect(a['leaseDuration'] as number).toBeLessThanOrEqual(1_800_000);
    expect(a['renewable']).toBe(false);
    const renewed = await ok('POST', '/v1/database/leases/renew', { leaseId: a['leaseId'], increment: '2h' });
    expect(Date.parse(renewed['expireTime'] as string)).toBeLessThanOrEqual(short.info.expiresAt * 1000);
    const mine = await ok('GET', `/v1/database/creds/${ROLE}?ttl=10m`);
    passwords.push(mine['password'] as string);
    expect(mine['renewable']).toBe(true);

    // Revoked by an administrator: its lease is revoked and the user dropped; root's is untouched.
    await ok('POST', '/v1/auth/token/revoke', { accessor: short.info.accessor });
    expectError(
      await call('POST', '/v1/database/leases/lookup', { leaseId: a['leaseId'] }),
      404,
      'FX_DB_LEASE_NOT_FOUND',
    );
    expect(await userExists(a['username'] as string)).toBe(false);
    expect(await ok('POST', '/v1/database/leases/lookup', { leaseId: mine['leaseId'] })).toMatchObject({
      state: 'active',
    });
    expect(await userExists(mine['username'] as string)).toBe(true);

    // revoke-self, and a child token's lease when its parent is revoked.
    const self = await tokenFor('app');
    const b = await ok('GET', `/v1/database/creds/${ROLE}`, undefined, self);
    passwords.push(b['password'] as string);
    await ok('POST', '/v1/auth/token/revoke-self', {}, self);
    expect(await userExists(b['username'] as string)).toBe(false);
    const parent = await server.context.tokens.create({
      principal: { kind: 'user', name: 'app', tenant: 'default' },
      method: 'test',
      ttlSeconds: 3600,
      maxTtlSeconds: 3600,
    });
    const child = await server.context.tokens.create({
      principal: { kind: 'user', name: 'app', tenant: 'default' },
      parent: parent.info.accessor,
      method: 'test',
      ttlSeconds: 3600,
      maxTtlSeconds: 3600,
    });
    const c = await ok('GET', `/v1/database/creds/${ROLE}`, undefined, child.token);
    passwords.push(c['password'] as string);
    await ok('POST', '/v1/auth/token/revoke', { accessor: parent.info.accessor });
    expect(await userExists(c['username'] as string)).toBe(false);

    // Each revocation is in the ledger, as the server, naming the token's accessor (never the token).
    const db = server.context.unsealed();
    const owners: unknown[] = [];
    for await (const e of db.audit.entries({ action: 'database.lease.revokeOwned' }))
      owners.push(e.details?.['owner']);
    expect(owners).toEqual(expect.arrayContaining([short.info.accessor, child.info.accessor]));
    const ledger = JSON.stringify(owners);
    expect(ledger).not.toContain(short.token);

    await ok('POST', '/v1/database/leases/revoke', { leaseId: mine['leaseId'] });
  });

  it("the server's sweeper drops an expired lease's user at the configured interval", async () => {
    const creds = await ok('GET', `/v1/database/creds/${ROLE}?ttl=1s`);
    passwords.push(creds['password'] as string);
    expect(await userExists(creds['username'] as string)).toBe(true);
    const deadline = Date.now() + 8000;
    while (await userExists(creds['username'] as string)) {
      if (Date.now() > deadline) throw new Error('the sweeper did not revoke the lease within 8 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expectError(
      await call('POST', '/v1/database/leases/lookup', { leaseId: creds['leaseId'] }),
      404,
      'FX_DB_LEASE_NOT_FOUND',
    );
  });

  it('malformed requests are refused with a stable code, and nothing stored changes', async () => {
    const before = await ok('GET', `/v1/database/roles/${ROLE}`);
    for (const [method, route, body, code] of [
      ['GET', `/v1/database/creds/${ROLE}?ttl=soon`, undefined, 'FX_REQUEST_INVALID'],
      ['GET', `/v1/database/creds/${ROLE}?extra=1`, undefined, 'FX_REQUEST_INVALID'],
      [
        'POST',
        `/v1/database/roles/${ROLE}`,
        { connection: 'shared', creationStatements: [CREATE_LOGIN], defaultTtl: -1, maxTtl: '1h' },
        'FX_REQUEST_INVALID',
      ],
      [
        'POST',
        `/v1/database/roles/${ROLE}`,
        {
          connection: 'shared',
          creationStatements: ['CREATE ROLE "{{nmae}}"'],
          defaultTtl: '1h',
          maxTtl: '1h',
        },
        'FX_DB_TEMPLATE_INVALID',
      ],
      [
        'POST',
        `/v1/database/roles/${ROLE}`,
        { connection: 'nowhere', creationStatements: [CREATE_LOGIN], defaultTtl: '1h', maxTtl: '1h' },
        'FX_DB_CONNECTION_NOT_FOUND',
      ],
      ['POST', '/v1/database/config/shared', { ...connection, plugin: 'mysql' }, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/database/config/shared', { ...connection, bogus: true }, 'FX_REQUEST_INVALID'],
      ['POST', '/v1/database/leases/renew', { leaseId: 'not-a-lease' }, 'FX_INVALID_ARGUMENT'],
      ['POST', '/v1/database/leases/revoke', {}, 'FX_REQUEST_INVALID'],
      ['DELETE', '/v1/database/config/shared', undefined, 'FX_DB_IN_USE'],
      [
        'POST',
        '/v1/database/config/other',
        { ...connection, connectionUrl: 'postgresql://{{username}}:{{password}}@/test?host=127.0.0.1' },
        'FX_INVALID_ARGUMENT',
      ],
      // The stored password is never sent to another host (or port, database, user) than its own.
      [
        'POST',
        '/v1/database/config/shared',
        {
          ...connection,
          password: undefined,
          connectionUrl: 'postgresql://{{username}}:{{password}}@localhost:5432/test',
        },
        'FX_INVALID_ARGUMENT',
      ],
      ['GET', `/v1/database/creds/${'r'.repeat(65)}`, undefined, 'FX_REQUEST_INVALID'],
      [
        'POST',
        `/v1/database/roles/${ROLE}`,
        { connection: 'shared', creationStatements: [CREATE_LOGIN], defaultTtl: 10, maxTtl: '1h' },
        'FX_REQUEST_INVALID',
      ],
    ] as const) {
      const r = await call(method, route, body);
      expect(r.status, `${method} ${route}: ${r.text}`).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect((r.body['error'] as { code: string }).code, `${method} ${route}: ${r.text}`).toBe(code);
    }
    expect(await ok('GET', `/v1/database/roles/${ROLE}`)).toEqual(before);
    expect(await ok('GET', '/v1/database/config/shared')).toMatchObject({ name: 'shared' });
  });

  it('a role whose statements were changed in storage is refused with FX_INTEGRITY, before any SQL runs', async () => {
    const role = `${TAG}-sealed`;
    await ok('POST', `/v1/database/roles/${role}`, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: '1h',
      maxTtl: '1h',
    });
    const driver = server.context.fortress().storageDriver();
    const evil = `${TAG}_evil`;
    const changed = await driver.run('UPDATE fx_db_roles SET creation = ? WHERE name = ?', [
      JSON.stringify([`CREATE ROLE "${evil}"`]),
      role,
    ]);
    expect(changed.changes).toBe(1);
    for (const route of [`/v1/database/creds/${role}`, `/v1/database/roles/${role}`]) {
      const r = await call('GET', route);
      expect(r.status, r.text).toBe(400);
      expect(r.body['error']).toMatchObject({ code: 'FX_INTEGRITY' });
      expect(r.text).toContain(`role ${role}`);
      expect(r.text).not.toContain(evil);
    }
    expect(await userExists(evil)).toBe(false);
    // Written again, it is sealed anew and works.
    await ok('POST', `/v1/database/roles/${role}`, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: '1h',
      maxTtl: '1h',
    });
    const creds = (await ok('GET', `/v1/database/creds/${role}`)) as { leaseId: string; password: string };
    passwords.push(creds.password);
    await ok('POST', '/v1/database/leases/revoke', { leaseId: creds.leaseId });
    await ok('DELETE', `/v1/database/roles/${role}`);
  });

  it('the audit ledger and the server log hold no password', async () => {
    const db = server.context.unsealed();
    const ledger: string[] = [];
    for await (const e of db.audit.entries({ limit: 10_000 })) ledger.push(JSON.stringify(e));
    const text = ledger.join('\n');
    expect(text).toContain('database.credentials.create');
    const log = logs.join('');
    expect(passwords.length).toBeGreaterThanOrEqual(6);
    for (const secret of passwords) {
      expect(text).not.toContain(secret);
      expect(log).not.toContain(secret);
    }
  });
});
