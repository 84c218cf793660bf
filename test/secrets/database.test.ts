/**
 * The database secrets engine against real PostgreSQL targets, with its own storage on the test
 * backend (SQLite, or PostgreSQL with FORTRESS_TEST_BACKEND=postgres):
 *
 * - the shared server of FORTRESS_TEST_PG_URL (trust authentication, superuser administrator):
 *   connections, leases, renewal up to the maximum, revocation (explicit, by prefix, on expiry,
 *   after a restart, by two engines at once, retried after a failure), bad input, what is stored;
 * - a private server with password (SCRAM) authentication and a CREATEROLE administrator, where
 *   passwords are actually checked: generated users log in with their password only and can do
 *   only what their template grants, revocation and expiry lock them out, rotateRoot and static
 *   rotation change passwords, and no password ever reaches the server's statement log.
 *
 * Every user created on the shared server carries this run's tag and is dropped in afterAll.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Fortress } from '../../src/fortress.js';
import { DatabaseEngine, type ConnectionConfig } from '../../src/secrets/database/database-engine.js';
import { DatabaseSecretsError } from '../../src/secrets/database/database-errors.js';
import { DevKeyFileSealProvider } from '../../src/keys/seal/dev-key-file-seal.js';
import type { SqlValue } from '../../src/storage/dialect.js';
import { FortressError } from '../../src/util/errors.js';
import { dropTestSchemas, openTestFortress, TEST_BACKEND } from '../helpers/backend.js';
import { startPgInstance, type PgInstance } from '../helpers/pg-instance.js';

const TARGET_URL = process.env['FORTRESS_TEST_PG_URL'];
/** This run's tag: every role and user name on the shared server starts with it. */
const TAG = `dbt${randomBytes(3).toString('hex')}`;
const SHARED_ADMIN_PASSWORD = `shared-admin-${randomBytes(8).toString('hex')}`;
const PRIVATE_ADMIN = 'fx_admin';
const PRIVATE_ADMIN_PASSWORD = `private-admin-${randomBytes(8).toString('hex')}`;
const STATIC_USER = 'app_static';
const STATIC_INITIAL_PASSWORD = `static-initial-${randomBytes(8).toString('hex')}`;

/** Every password the engine handed out or generated, for the statement-log check. */
const issuedPasswords: string[] = [];

let privateInstance: PgInstance | undefined;

function privatePg(): PgInstance {
  if (privateInstance === undefined) throw new Error('the private PostgreSQL server did not start');
  return privateInstance;
}

function requireTargetUrl(): URL {
  if (TARGET_URL === undefined || TARGET_URL === '') {
    throw new Error(
      'FORTRESS_TEST_PG_URL is not set: the database secrets tests need a PostgreSQL target ' +
        '(e.g. postgres://postgres@127.0.0.1:5432/test). They do not skip.',
    );
  }
  return new URL(TARGET_URL);
}

// Checked when the file loads: without a target the file fails (it never reports skipped tests).
const target: URL = requireTargetUrl();

async function targetQuery<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const sharedQuery = <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> =>
  targetQuery<T>(target.toString(), sql, params);
const privateQuery = <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> =>
  targetQuery<T>(privatePg().url, sql, params);

async function roleExists(query: typeof sharedQuery, username: string): Promise<boolean> {
  return (await query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username])).length === 1;
}

/** Logs in to the private server as `user`; returns the client, or the SQLSTATE of the refusal. */
async function login(user: string, password: string): Promise<pg.Client | string> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: privatePg().port,
    database: 'fortress',
    user,
    password,
  });
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    return (error as { code?: string }).code ?? String(error);
  }
}

async function canLogin(user: string, password: string): Promise<boolean> {
  const client = await login(user, password);
  if (typeof client === 'string') {
    expect(client).toBe('28P01');
    return false;
  }
  await client.end();
  return true;
}

/** The SQLSTATE `sql` fails with as `user`, or 'ok'. */
async function runAs(user: string, password: string, sql: string): Promise<string> {
  const client = await login(user, password);
  if (typeof client === 'string') throw new Error(`${user} cannot log in: ${client}`);
  try {
    await client.query(sql);
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.end();
  }
}

/** Asserts that `call` fails with a FortressError whose code is `code`; returns it. */
async function expectDbCode(call: Promise<unknown>, code: string): Promise<FortressError> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof FortressError)) {
      return expect.fail(
        `expected ${code}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      );
    }
    expect(error.code, `${error.code}: ${error.message}`).toBe(code);
    return error;
  }
  return expect.fail(`expected ${code}, but the call succeeded`);
}

function sqlStateOf(error: FortressError): string | undefined {
  expect(error).toBeInstanceOf(DatabaseSecretsError);
  return error instanceof DatabaseSecretsError ? error.sqlState : undefined;
}

/** The config without its password (an update keeps the stored one). */
function withoutPassword(config: ConnectionConfig): ConnectionConfig {
  const copy: { -readonly [K in keyof ConnectionConfig]?: ConnectionConfig[K] } = { ...config };
  delete copy.password;
  return copy as ConnectionConfig;
}

function sharedConnection(overrides: Partial<ConnectionConfig> = {}): ConnectionConfig {
  return {
    plugin: 'postgresql',
    connectionUrl: `postgresql://{{username}}:{{password}}@${target.host}${target.pathname}`,
    username: decodeURIComponent(target.username) || 'postgres',
    password: SHARED_ADMIN_PASSWORD,
    allowedRoles: [`${TAG}-*`],
    ...overrides,
  };
}

function privateConnection(overrides: Partial<ConnectionConfig> = {}): ConnectionConfig {
  return {
    plugin: 'postgresql',
    connectionUrl: `postgresql://{{username}}:{{password}}@127.0.0.1:${privatePg().port}/fortress`,
    username: PRIVATE_ADMIN,
    password: PRIVATE_ADMIN_PASSWORD,
    allowedRoles: ['*'],
    ...overrides,
  };
}

const CREATE_LOGIN = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`;

interface Harness {
  readonly db: Fortress;
  readonly dir: string;
  readonly engine: DatabaseEngine;
  readonly clock: { now: number };
  closed: boolean;
}

const opened: Harness[] = [];

async function open(dir?: string, clock = { now: Date.now() }): Promise<Harness> {
  const where = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'fx-db-')));
  const db = await openTestFortress({
    path: where,
    onWarning: () => undefined,
    audit: { checkpointIntervalMs: 0 },
  });
  const engine = await DatabaseEngine.open({
    driver: db.storageDriver(),
    keys: db.keys,
    tenant: 'default',
    now: () => clock.now,
  });
  const harness: Harness = { db, dir: where, engine, clock, closed: false };
  opened.push(harness);
  return harness;
}

async function close(harness: Harness): Promise<void> {
  if (harness.closed) return;
  harness.closed = true;
  await harness.engine.stop();
  await harness.db.close();
}

/** Every row of every fx_db_ table, as comparable values. */
async function storedRows(h: Harness): Promise<Record<string, Record<string, unknown>[]>> {
  const driver = h.db.storageDriver();
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const table of ['fx_db_connections', 'fx_db_roles', 'fx_db_static_roles', 'fx_db_leases']) {
    const rows = await driver.all<Record<string, SqlValue>>(`SELECT * FROM ${table} ORDER BY 1, 2`);
    out[table] = rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([key, value]) => [
          key,
          value instanceof Uint8Array ? `bytes:${Buffer.from(value).toString('hex')}` : value,
        ]),
      ),
    );
  }
  return out;
}

beforeAll(async () => {
  privateInstance = await startPgInstance({ passwordAuth: true });
  await privateQuery(`
    CREATE ROLE ${PRIVATE_ADMIN} WITH LOGIN CREATEROLE PASSWORD '${PRIVATE_ADMIN_PASSWORD}';
    CREATE TABLE app_data (id int PRIMARY KEY, v text);
    INSERT INTO app_data VALUES (1, 'one');
    CREATE TABLE other_data (id int PRIMARY KEY);
    ALTER TABLE app_data OWNER TO ${PRIVATE_ADMIN};
    ALTER TABLE other_data OWNER TO ${PRIVATE_ADMIN};
    CREATE ROLE ${STATIC_USER} WITH LOGIN PASSWORD '${STATIC_INITIAL_PASSWORD}';
    GRANT SELECT ON app_data TO ${STATIC_USER};
  `);
}, 120_000);

afterEach(async () => {
  for (const harness of opened.splice(0)) {
    await close(harness);
    await rm(harness.dir, { recursive: true, force: true });
  }
});

afterAll(async () => {
  try {
    const leftovers = await sharedQuery<{ rolname: string }>(
      'SELECT rolname FROM pg_roles WHERE rolname LIKE $1',
      [`v-${TAG}%`],
    );
    for (const { rolname } of leftovers) {
      await sharedQuery(`DROP OWNED BY "${rolname}"; DROP ROLE IF EXISTS "${rolname}"`);
    }
    // Roles a refused statement would have made (none, unless a test failed).
    for (const { rolname } of await sharedQuery<{ rolname: string }>(
      'SELECT rolname FROM pg_roles WHERE rolname LIKE $1',
      [`${TAG}\\_%`],
    )) {
      await sharedQuery(`DROP ROLE IF EXISTS "${rolname}"`);
    }
  } finally {
    await privateInstance?.destroy();
    await dropTestSchemas();
  }
});

describe('connections', () => {
  it('are written, read without their password, listed, updated, reset and deleted', async () => {
    const { engine } = await open();
    const info = await engine.writeConnection('shared', sharedConnection({ maxOpenConnections: 2 }));
    expect(info).toMatchObject({
      name: 'shared',
      plugin: 'postgresql',
      username: sharedConnection().username,
      allowedRoles: [`${TAG}-*`],
      maxOpenConnections: 2,
      passwordLength: 32,
      passwordAuthentication: 'scram-sha-256',
      lastRootRotation: null,
    });
    expect(JSON.stringify(await engine.readConnection('shared'))).not.toContain(SHARED_ADMIN_PASSWORD);
    expect(Object.keys(info)).not.toContain('password');
    await engine.writeConnection('second', sharedConnection({ verifyConnection: false }));
    expect(await engine.listConnections()).toEqual({ keys: ['second', 'shared'], next: null });
    expect(await engine.listConnections({ limit: 1 })).toEqual({ keys: ['second'], next: 'second' });
    expect(await engine.listConnections({ after: 'second' })).toEqual({ keys: ['shared'], next: null });
    // An update without a password keeps the stored one (and still verifies).
    const updated = await engine.writeConnection('shared', {
      ...withoutPassword(sharedConnection()),
      allowedRoles: ['*'],
    });
    expect(updated.allowedRoles).toEqual(['*']);
    await engine.resetConnection('shared');
    expect(await engine.deleteConnection('second')).toBe(true);
    expect(await engine.deleteConnection('second')).toBe(false);
    await expectDbCode(engine.readConnection('second'), 'FX_DB_CONNECTION_NOT_FOUND');
    await expectDbCode(engine.resetConnection('second'), 'FX_DB_CONNECTION_NOT_FOUND');
  });

  it('an unreachable target or a wrong password is refused, stores nothing, and never shows the password', async () => {
    const { engine } = await open();
    const unreachable = await expectDbCode(
      engine.writeConnection(
        'down',
        sharedConnection({ connectionUrl: 'postgresql://{{username}}:{{password}}@127.0.0.1:1/test' }),
      ),
      'FX_DB_CONNECTION_FAILED',
    );
    expect(unreachable.message).not.toContain(SHARED_ADMIN_PASSWORD);
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const refused = await expectDbCode(
      engine.writeConnection('private', privateConnection({ password: wrong })),
      'FX_DB_CONNECTION_FAILED',
    );
    expect(refused.message).toContain('password authentication failed');
    expect(refused.message).not.toContain(wrong);
    expect(sqlStateOf(refused)).toBe('28P01');
    expect((await engine.listConnections()).keys).toEqual([]);
    // The right password is taken.
    await engine.writeConnection('private', privateConnection());
    expect((await engine.listConnections()).keys).toEqual(['private']);
  });

  it('refuses to be deleted while roles or leases use it', async () => {
    const { engine } = await open();
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-del`;
    await engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    const creds = await engine.createCredentials(role);
    const inUse = await expectDbCode(engine.deleteConnection('shared'), 'FX_DB_IN_USE');
    expect(inUse.message).toContain(`role ${role}`);
    expect(await engine.deleteRole(role)).toBe(true);
    await expectDbCode(engine.deleteConnection('shared'), 'FX_DB_IN_USE');
    // The lease outlives its role: revoking it still drops the user.
    await engine.revokeLease(creds.leaseId);
    expect(await roleExists(sharedQuery, creds.username)).toBe(false);
    expect(await engine.deleteConnection('shared')).toBe(true);
  });
});

describe('dynamic credentials (shared server)', () => {
  it('creates a user per lease, renews up to the maximum TTL and revokes', async () => {
    const { engine, clock } = await open();
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-ro`;
    await engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 150_000,
    });
    expect(await engine.readRole(role)).toMatchObject({
      connection: 'shared',
      revocationStatements: [],
      renewStatements: [],
      defaultTtl: 60_000,
      maxTtl: 150_000,
    });
    const issued = clock.now;
    const creds = await engine.createCredentials(role);
    issuedPasswords.push(creds.password);
    expect(creds.leaseId).toMatch(new RegExp(`^database/creds/${role}/[A-Za-z0-9]{24}$`));
    expect(creds.username).toMatch(/^v-[a-z0-9-]+$/);
    expect(creds.username.startsWith(`v-${role}-`)).toBe(true);
    expect(Buffer.byteLength(creds.username)).toBeLessThanOrEqual(63);
    expect(creds.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(creds).toMatchObject({
      leaseDuration: 60_000,
      renewable: true,
      expiresAt: new Date(issued + 60_000).toISOString(),
    });
    const validUntil = async (): Promise<number> =>
      (
        await sharedQuery<{ v: Date }>('SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = $1', [
          creds.username,
        ])
      )[0]!.v.getTime();
    expect(await validUntil()).toBe(issued + 60_000);
    expect(await engine.lookupLease(creds.leaseId)).toMatchObject({
      role,
      connection: 'shared',
      username: creds.username,
      state: 'active',
      ttl: 60_000,
      renewable: true,
      maxExpireTime: new Date(issued + 150_000).toISOString(),
    });

    clock.now += 30_000;
    const renewed = await engine.renewLease(creds.leaseId);
    expect(renewed).toMatchObject({ ttl: 60_000, expireTime: new Date(issued + 90_000).toISOString() });
    expect(await validUntil()).toBe(issued + 90_000);
    clock.now += 50_000;
    // Capped at issue + maxTtl.
    const capped = await engine.renewLease(creds.leaseId, { increment: 100_000 });
    expect(capped).toMatchObject({
      expireTime: new Date(issued + 150_000).toISOString(),
      renewable: false,
      ttl: 70_000,
    });
    expect(await validUntil()).toBe(issued + 150_000);
    // At the maximum: unchanged.
    clock.now += 10_000;
    expect(await engine.renewLease(creds.leaseId)).toMatchObject({
      expireTime: new Date(issued + 150_000).toISOString(),
      ttl: 60_000,
    });

    // TTLs: capped at the maximum, shorter on request.
    const long = await engine.createCredentials(role, { ttl: 10_000_000 });
    expect(long.leaseDuration).toBe(150_000);
    const short = await engine.createCredentials(role, { ttl: 5_000 });
    expect(short.leaseDuration).toBe(5_000);

    // Listing pages through a role's leases.
    const page1 = await engine.listLeases({ role, limit: 2 });
    expect(page1.leases).toHaveLength(2);
    expect(page1.next).not.toBeNull();
    const page2 = await engine.listLeases({ role, after: page1.next!, limit: 2 });
    expect(page2).toMatchObject({ next: null });
    expect([...page1.leases, ...page2.leases].map((l) => l.leaseId).sort()).toEqual(
      [creds.leaseId, long.leaseId, short.leaseId].sort(),
    );
    expect((await engine.listLeases({ role: `${TAG}-other` })).leases).toEqual([]);

    await engine.revokeLease(creds.leaseId);
    expect(await roleExists(sharedQuery, creds.username)).toBe(false);
    await expectDbCode(engine.lookupLease(creds.leaseId), 'FX_DB_LEASE_NOT_FOUND');
    await expectDbCode(engine.revokeLease(creds.leaseId), 'FX_DB_LEASE_NOT_FOUND');
    await expectDbCode(engine.renewLease(creds.leaseId), 'FX_DB_LEASE_NOT_FOUND');

    expect(await engine.revokePrefix(`database/creds/${role}/`)).toBe(2);
    expect(await roleExists(sharedQuery, long.username)).toBe(false);
    expect(await roleExists(sharedQuery, short.username)).toBe(false);
    expect((await engine.listLeases()).leases).toEqual([]);
  });

  it('an expired lease cannot be renewed', async () => {
    const { engine, clock } = await open();
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-exp`;
    await engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 10_000,
      maxTtl: 60_000,
    });
    const creds = await engine.createCredentials(role);
    clock.now += 10_000;
    await expectDbCode(engine.renewLease(creds.leaseId), 'FX_DB_LEASE_EXPIRED');
    expect(await engine.lookupLease(creds.leaseId)).toMatchObject({
      state: 'expired',
      ttl: 0,
      renewable: false,
    });
    expect(await engine.revokeExpired()).toBe(1);
    expect(await roleExists(sharedQuery, creds.username)).toBe(false);
  });

  it('a lease whose user is already gone is revoked cleanly', async () => {
    const { engine } = await open();
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-gone`;
    await engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    const creds = await engine.createCredentials(role);
    await sharedQuery(`DROP ROLE "${creds.username}"`);
    await engine.revokeLease(creds.leaseId);
    await expectDbCode(engine.lookupLease(creds.leaseId), 'FX_DB_LEASE_NOT_FOUND');
  });

  it('failed creation stores no lease, leaves no user, and redacts the password from the error', async () => {
    const { engine } = await open();
    for (const auth of ['password', 'scram-sha-256'] as const) {
      await engine.writeConnection(`shared-${auth}`, sharedConnection({ passwordAuthentication: auth }));
      const role = `${TAG}-bad-${auth === 'password' ? 'p' : 's'}`;
      await engine.writeRole(role, {
        connection: `shared-${auth}`,
        // The second statement fails with an error that quotes the (hashed or plain) password.
        creationStatements: [CREATE_LOGIN, `SELECT '{{password}}'::int`],
        defaultTtl: 60_000,
        maxTtl: 60_000,
      });
      const error = await expectDbCode(engine.createCredentials(role), 'FX_DB_STATEMENT_FAILED');
      expect(error.message).toContain('invalid input syntax for type integer: "***"');
      expect(error.message).not.toMatch(/SCRAM-SHA-256\$/);
      expect(sqlStateOf(error)).toBe('22P02');
      expect((await engine.listLeases()).leases).toEqual([]);
      const users = await sharedQuery('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [`v-${role}-%`]);
      expect(users).toEqual([]);
    }
  });

  it('a revocation that fails is kept and retried later; two engines never both revoke a lease', async () => {
    const h = await open();
    const { engine, clock } = h;
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-retry`;
    const good = {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 10_000,
      maxTtl: 60_000,
    };
    await engine.writeRole(role, {
      ...good,
      revocationStatements: [`SELECT fx_no_such_function('{{name}}')`],
    });
    const creds = await engine.createCredentials(role);
    clock.now += 20_000;
    expect(await engine.revokeExpired()).toBe(0);
    const failed = await engine.lookupLease(creds.leaseId);
    expect(failed).toMatchObject({ state: 'revocation-failed', revocationAttempts: 1 });
    expect(failed.lastError).toContain('fx_no_such_function');
    expect(await roleExists(sharedQuery, creds.username)).toBe(true);
    // Not again before its retry time.
    expect(await engine.revokeExpired()).toBe(0);
    expect((await engine.lookupLease(creds.leaseId)).revocationAttempts).toBe(1);
    await engine.writeRole(role, good);
    clock.now += 31_000;
    expect(await engine.revokeExpired()).toBe(1);
    expect(await roleExists(sharedQuery, creds.username)).toBe(false);

    // Two engines on one storage sweep the same expired leases: each is revoked exactly once.
    const other = await DatabaseEngine.open({
      driver: h.db.storageDriver(),
      keys: h.db.keys,
      tenant: 'default',
      now: () => clock.now,
    });
    try {
      const many = [];
      for (let i = 0; i < 6; i++) many.push(await engine.createCredentials(role));
      clock.now += 20_000;
      const [a, b] = await Promise.all([engine.revokeExpired(), other.revokeExpired()]);
      expect(a + b).toBe(6);
      for (const creds of many) expect(await roleExists(sharedQuery, creds.username)).toBe(false);
    } finally {
      await other.stop();
    }
  });

  it('leases survive a restart: the first sweep after reopening revokes what expired meanwhile', async () => {
    const first = await open();
    const { engine, clock, dir } = first;
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-rs`;
    await engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 10_000,
      maxTtl: 600_000,
    });
    const soon = await engine.createCredentials(role);
    const later = await engine.createCredentials(role, { ttl: 300_000 });
    await close(first);

    const reopened = await open(dir, { now: clock.now + 60_000 });
    const actions: unknown[] = [];
    const swept = new Promise<unknown>((resolve) => {
      reopened.engine.startSweeper({
        intervalMs: 3_600_000,
        onSweep: resolve,
        onAction: (action, error) => actions.push({ ...action, error }),
      });
    });
    expect(await swept).toMatchObject({ revoked: 1, rotated: 0, failures: [] });
    // What the sweeper did, for the audit ledger (Fortress records each one).
    expect(actions).toEqual([{ kind: 'lease-expired', leaseId: soon.leaseId, role, error: null }]);
    expect(await roleExists(sharedQuery, soon.username)).toBe(false);
    expect(await roleExists(sharedQuery, later.username)).toBe(true);
    expect((await reopened.engine.lookupLease(later.leaseId)).state).toBe('active');
    await reopened.engine.revokeLease(later.leaseId);
    expect(await roleExists(sharedQuery, later.username)).toBe(false);
  });

  it('a sweeper started again while stop() waits for a sweep keeps running and reporting (seal, then unseal)', async () => {
    const h = await open();
    const { engine, clock } = h;
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-restart`;
    await engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 10_000,
      maxTtl: 60_000,
    });
    // startSweeper sweeps at once: stop() has a sweep in progress to wait for.
    engine.startSweeper({ intervalMs: 3_600_000, onAction: () => undefined });
    const stopping = engine.stop();
    const actions: unknown[] = [];
    let resolveSwept!: (value: unknown) => void;
    const swept = new Promise<unknown>((resolve) => {
      resolveSwept = resolve;
    });
    engine.startSweeper({
      intervalMs: 100,
      onAction: (action, error) => actions.push({ ...action, error }),
      onSweep: (result) => {
        if (result.revoked > 0) resolveSwept(result);
      },
    });
    await stopping;
    const creds = await engine.createCredentials(role);
    clock.now += 20_000;
    expect(await swept).toMatchObject({ revoked: 1, failures: [] });
    expect(actions).toEqual([{ kind: 'lease-expired', leaseId: creds.leaseId, role, error: null }]);
    expect(await roleExists(sharedQuery, creds.username)).toBe(false);
    await engine.stop();
  });
});

describe('settings integrity', () => {
  /** Sets one column of one row in storage, as someone who can write it but holds no key would. */
  async function tamper(
    h: Harness,
    table: string,
    column: string,
    value: SqlValue,
    where: string,
  ): Promise<void> {
    const changed = await h.db
      .storageDriver()
      .run(`UPDATE ${table} SET ${column} = ? WHERE ${where}`, [value]);
    expect(changed.changes).toBe(1);
  }

  it('settings changed in storage are refused (FX_INTEGRITY) before any SQL reaches the target; writing them again heals', async () => {
    const h = await open();
    const { engine } = h;
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-sealed`;
    const roleConfig = {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    };
    await engine.writeRole(role, roleConfig);
    const creds = await engine.createCredentials(role);
    const evil = `${TAG}_evil`;
    const evilSql = JSON.stringify([`CREATE ROLE "${evil}"`]);

    // A role's creation statements.
    const original = (await storedRows(h))['fx_db_roles']!.find((r) => r['name'] === role)!;
    await tamper(h, 'fx_db_roles', 'creation', evilSql, `name = '${role}'`);
    const refused = await expectDbCode(engine.createCredentials(role), 'FX_INTEGRITY');
    expect(refused.message).toContain(`role ${role}`);
    expect(refused.message).not.toContain(evil);
    await expectDbCode(engine.readRole(role), 'FX_INTEGRITY');
    expect(await roleExists(sharedQuery, evil)).toBe(false);
    // Put back as it was, the row verifies again; written anew, it is sealed anew.
    await tamper(h, 'fx_db_roles', 'creation', original['creation'] as string, `name = '${role}'`);
    expect((await engine.readRole(role)).creationStatements).toEqual([CREATE_LOGIN]);
    await tamper(h, 'fx_db_roles', 'creation', evilSql, `name = '${role}'`);
    await engine.writeRole(role, roleConfig);
    const healed = await engine.createCredentials(role);
    await engine.revokeLease(healed.leaseId);

    // A lease's revocation statements and user: the revocation is refused and the lease kept.
    await tamper(h, 'fx_db_leases', 'revocation', evilSql, `lease_id = '${creds.leaseId}'`);
    await expectDbCode(engine.revokeLease(creds.leaseId), 'FX_INTEGRITY');
    await expectDbCode(engine.lookupLease(creds.leaseId), 'FX_INTEGRITY');
    await expectDbCode(engine.renewLease(creds.leaseId), 'FX_INTEGRITY');
    h.clock.now += 120_000;
    const swept = await engine.sweep();
    expect(swept.failures.map((f) => f.code)).toEqual(['FX_INTEGRITY']);
    expect(await roleExists(sharedQuery, evil)).toBe(false);
    expect(await roleExists(sharedQuery, creds.username)).toBe(true);
    await tamper(
      h,
      'fx_db_leases',
      'revocation',
      original['revocation'] as string,
      `lease_id = '${creds.leaseId}'`,
    );
    await tamper(h, 'fx_db_leases', 'username', 'postgres', `lease_id = '${creds.leaseId}'`);
    await expectDbCode(engine.revokeLease(creds.leaseId), 'FX_INTEGRITY');
    await tamper(h, 'fx_db_leases', 'username', creds.username, `lease_id = '${creds.leaseId}'`);
    // Restored (and its failed claim lapsed), the lease is revoked as usual.
    await tamper(h, 'fx_db_leases', 'claim_until', 0, `lease_id = '${creds.leaseId}'`);
    await engine.revokeLease(creds.leaseId);
    expect(await roleExists(sharedQuery, creds.username)).toBe(false);
    h.clock.now = Date.now();

    // A connection's allowed roles, host or administrator.
    await tamper(h, 'fx_db_connections', 'allowed_roles', '["*"]', "name = 'shared'");
    await expectDbCode(engine.readConnection('shared'), 'FX_INTEGRITY');
    await expectDbCode(engine.createCredentials(role), 'FX_INTEGRITY');
    await expectDbCode(engine.rotateRoot('shared'), 'FX_INTEGRITY');
    await expectDbCode(engine.writeRole(`${TAG}-other`, roleConfig), 'FX_INTEGRITY');
    // An update that keeps the stored password cannot trust the changed row; one that gives the
    // password anew overwrites it.
    await expectDbCode(engine.writeConnection('shared', withoutPassword(sharedConnection())), 'FX_INTEGRITY');
    await engine.writeConnection('shared', sharedConnection());
    expect((await engine.readConnection('shared')).allowedRoles).toEqual([`${TAG}-*`]);
    await tamper(
      h,
      'fx_db_connections',
      'connection_url',
      'postgresql://{{username}}:{{password}}@127.0.0.2:5432/test',
      "name = 'shared'",
    );
    await expectDbCode(engine.createCredentials(role), 'FX_INTEGRITY');
    await engine.writeConnection('shared', sharedConnection());

    // A seal copied from another row with the same settings, or no seal at all.
    await engine.writeRole(`${TAG}-twin`, roleConfig);
    await h.db
      .storageDriver()
      .run(
        `UPDATE fx_db_roles SET settings_seal = (SELECT settings_seal FROM fx_db_roles WHERE name = ?) WHERE name = ?`,
        [`${TAG}-twin`, role],
      );
    await expectDbCode(engine.readRole(role), 'FX_INTEGRITY');
    await tamper(h, 'fx_db_roles', 'settings_seal', null, `name = '${role}'`);
    await expectDbCode(engine.readRole(role), 'FX_INTEGRITY');
    // Deleting a changed row needs no seal: it is the way out.
    expect(await engine.deleteRole(role)).toBe(true);
    expect(await engine.deleteRole(`${TAG}-twin`)).toBe(true);
    expect(await roleExists(sharedQuery, evil)).toBe(false);
  });

  it("a static role's user and statements are sealed too", async () => {
    const h = await open();
    const { engine } = h;
    const user = `${TAG}_static`;
    await sharedQuery(`CREATE ROLE "${user}" WITH LOGIN`);
    try {
      await engine.writeConnection('shared', sharedConnection({ allowedRoles: ['*'] }));
      await engine.writeStaticRole('static', {
        connection: 'shared',
        username: user,
        rotationPeriod: 3_600_000,
      });
      await tamper(h, 'fx_db_static_roles', 'username', 'postgres', "name = 'static'");
      await expectDbCode(engine.rotateStaticRole('static'), 'FX_INTEGRITY');
      await expectDbCode(engine.readStaticCredentials('static'), 'FX_INTEGRITY');
      await tamper(h, 'fx_db_static_roles', 'username', user, "name = 'static'");
      await tamper(h, 'fx_db_static_roles', 'claim_until', 0, "name = 'static'");
      await tamper(h, 'fx_db_static_roles', 'rotation', JSON.stringify(['SELECT 1']), "name = 'static'");
      await expectDbCode(engine.readStaticRole('static'), 'FX_INTEGRITY');
      // The sweeper's scheduled rotation refuses it as well.
      h.clock.now += 7_200_000;
      expect((await engine.sweep()).failures.map((f) => f.code)).toEqual(['FX_INTEGRITY']);
      expect(await engine.deleteStaticRole('static')).toBe(true);
    } finally {
      await sharedQuery(`DROP ROLE IF EXISTS "${user}"`);
    }
  });

  it('storage written before settings were sealed is upgraded once, when unsealed, trusting what is there', async () => {
    const h = await open();
    await h.engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-legacy`;
    await h.engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    const creds = await h.engine.createCredentials(role);
    const driver = h.db.storageDriver();
    // Another tenant on the same storage, since crypto-shredded: its row can be sealed no more.
    const shredded = await DatabaseEngine.open({ driver, keys: h.db.keys, tenant: 'gone' });
    await shredded.writeConnection('shared', sharedConnection());
    await h.db.keys.destroyKey('secrets/gone/database');
    const tables = ['fx_db_connections', 'fx_db_roles', 'fx_db_static_roles', 'fx_db_leases'];
    // The tables as an older version made them.
    for (const table of tables) await driver.exec(`ALTER TABLE ${table} DROP COLUMN settings_seal`);
    const legacy = await storedRows(h);

    // Sealed: the upgrade waits, and nothing changes.
    const upgrades: unknown[] = [];
    const options = {
      driver,
      keys: h.db.keys,
      tenant: 'default',
      now: () => h.clock.now,
      onUpgrade: (sealed: unknown) => upgrades.push(sealed),
    };
    h.db.seal();
    await expectDbCode(DatabaseEngine.open(options), 'FX_SEALED');
    expect(await storedRows(h)).toEqual(legacy);
    await h.db.unseal(new DevKeyFileSealProvider({ path: path.join(h.dir, 'dev-unseal.key') }));

    const upgraded = await DatabaseEngine.open(options);
    // The shredded tenant's row is skipped, not a reason to refuse everyone else's upgrade.
    expect(upgrades).toEqual([{ connections: 1, roles: 1, staticRoles: 0, leases: 1, skipped: 1 }]);
    const rows = await storedRows(h);
    for (const table of tables) {
      for (const row of rows[table]!) {
        if (row['tenant'] === 'gone') expect(row['settings_seal']).toBeNull();
        else expect(String(row['settings_seal'])).toMatch(/^bytes:01/);
      }
    }
    await expectDbCode(shredded.readConnection('shared'), 'FX_INTEGRITY');
    // Everything else is as it was, and the engine works on the upgraded rows.
    const strip = (all: typeof rows): unknown =>
      JSON.parse(JSON.stringify(all, (key, value: unknown) => (key === 'settings_seal' ? undefined : value)));
    expect(strip(rows)).toEqual(legacy);
    expect((await upgraded.readRole(role)).creationStatements).toEqual([CREATE_LOGIN]);
    await upgraded.revokeLease(creds.leaseId);
    expect(await roleExists(sharedQuery, creds.username)).toBe(false);
    // Once upgraded, never again: a seal removed later is a change, not an old row.
    await DatabaseEngine.open(options);
    expect(upgrades).toHaveLength(1);
    await driver.run('UPDATE fx_db_roles SET settings_seal = NULL WHERE name = ?', [role]);
    await expectDbCode(upgraded.readRole(role), 'FX_INTEGRITY');
    await upgraded.stop();
  });
});

describe('claims and batches', () => {
  it('a lease claimed by a creation or revocation elsewhere is left alone until its claim lapses', async () => {
    const h = await open();
    const { engine, clock } = h;
    await engine.writeConnection('shared', sharedConnection());
    const role = `${TAG}-claim`;
    await engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 10_000,
      maxTtl: 60_000,
    });
    const creds = await engine.createCredentials(role);
    expect((await engine.lookupLease(creds.leaseId)).state).toBe('active');
    // As another process would leave it mid-creation: claimed for two minutes.
    const driver = h.db.storageDriver();
    await driver.run(
      "UPDATE fx_db_leases SET state = 'creating', claim_token = 'other', claim_until = ? WHERE lease_id = ?",
      [clock.now + 120_000, creds.leaseId],
    );
    clock.now += 20_000;
    expect((await engine.lookupLease(creds.leaseId)).state).toBe('creating');
    expect(await engine.revokeExpired()).toBe(0);
    await expectDbCode(engine.revokeLease(creds.leaseId), 'FX_DB_BUSY');
    await expectDbCode(engine.renewLease(creds.leaseId), 'FX_DB_LEASE_EXPIRED');
    expect(await roleExists(sharedQuery, creds.username)).toBe(true);
    // That process died: once its claim lapses, the sweeper takes the lease over.
    clock.now += 120_000;
    expect(await engine.revokeExpired()).toBe(1);
    expect(await roleExists(sharedQuery, creds.username)).toBe(false);
  });

  it('revokePrefix and listLeases page through more leases than one batch', async () => {
    const { engine } = await open();
    await engine.writeConnection('shared', sharedConnection({ maxOpenConnections: 2 }));
    const role = `${TAG}-many`;
    await engine.writeRole(role, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    const other = `${TAG}-many2`;
    await engine.writeRole(other, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    const ids = new Set<string>();
    for (let i = 0; i < 105; i++) ids.add((await engine.createCredentials(role)).leaseId);
    const kept = await engine.createCredentials(other);
    const listed: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await engine.listLeases({ role, limit: 40, ...(after === undefined ? {} : { after }) });
      listed.push(...page.leases.map((l) => l.leaseId));
      if (page.next === null) break;
      after = page.next;
    }
    expect(listed).toEqual([...ids].sort());
    expect(await engine.revokePrefix(`database/creds/${role}/`)).toBe(105);
    expect(await sharedQuery('SELECT 1 FROM pg_roles WHERE rolname LIKE $1', [`v-${role}-%`])).toEqual([]);
    expect((await engine.listLeases()).leases.map((l) => l.leaseId)).toEqual([kept.leaseId]);
    await engine.revokeLease(kept.leaseId);
  });
});

describe('bad input', () => {
  it('is refused with a specific code, and nothing stored changes', async () => {
    const h = await open();
    const { engine } = h;
    await engine.writeConnection('shared', sharedConnection({ allowedRoles: [`${TAG}-ok`] }));
    const role = `${TAG}-ok`;
    const valid = {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 120_000,
    };
    await engine.writeRole(role, valid);
    const creds = await engine.createCredentials(role);
    const before = await storedRows(h);

    // Templates.
    const unknown = await expectDbCode(
      engine.writeRole(role, { ...valid, creationStatements: [`CREATE ROLE "{{nmae}}"`] }),
      'FX_DB_TEMPLATE_INVALID',
    );
    expect(unknown.message).toContain('unknown placeholder {{nmae}}');
    await expectDbCode(
      engine.writeRole(role, {
        ...valid,
        revocationStatements: [`ALTER ROLE "{{name}}" PASSWORD '{{password}}'`],
      }),
      'FX_DB_TEMPLATE_INVALID',
    );
    await expectDbCode(
      engine.writeRole(role, { ...valid, creationStatements: ['CREATE ROLE nobody'] }),
      'FX_DB_TEMPLATE_INVALID',
    );
    await expectDbCode(
      engine.writeStaticRole('s', {
        connection: 'shared',
        username: 'x',
        rotationPeriod: 60_000,
        rotationStatements: ['SELECT 1'],
      }),
      'FX_DB_TEMPLATE_INVALID',
    );
    // Missing, malformed, out-of-range and unknown fields.
    const noCreation = { connection: 'shared', defaultTtl: 60_000, maxTtl: 120_000 };
    await expectDbCode(engine.writeRole(role, noCreation as never), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.writeRole(role, { ...valid, defaultTtl: -1 }), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.writeRole(role, { ...valid, defaultTtl: 200_000 }), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.writeRole(role, { ...valid, extra: 1 } as never), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.writeRole('bad name!', valid), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.createCredentials(role, { ttl: -5 }), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.renewLease(creds.leaseId, { increment: 0 }), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.lookupLease('not-a-lease'), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.revokePrefix('kv/'), 'FX_INVALID_ARGUMENT');
    await expectDbCode(engine.listLeases({ limit: 0 }), 'FX_INVALID_ARGUMENT');
    await expectDbCode(
      engine.writeConnection('x', { ...sharedConnection(), plugin: 'mysql' as never }),
      'FX_INVALID_ARGUMENT',
    );
    const literal = await expectDbCode(
      engine.writeConnection(
        'x',
        sharedConnection({ connectionUrl: `postgresql://postgres:hunter22@${target.host}/test` }),
      ),
      'FX_INVALID_ARGUMENT',
    );
    expect(literal.message).not.toContain('hunter22');
    await expectDbCode(
      engine.writeConnection(
        'x',
        sharedConnection({ connectionUrl: `postgresql://{{username}}:{{password}}@${target.host}/{{name}}` }),
      ),
      'FX_INVALID_ARGUMENT',
    );
    await expectDbCode(
      engine.writeConnection('x', sharedConnection({ username: 'a"b' })),
      'FX_INVALID_ARGUMENT',
    );
    await expectDbCode(
      engine.writeConnection('new', withoutPassword(sharedConnection())),
      'FX_INVALID_ARGUMENT',
    );
    await expectDbCode(
      engine.writeConnection(
        'x',
        sharedConnection({ rootRotationStatements: [`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`] }),
      ),
      'FX_DB_TEMPLATE_INVALID',
    );
    // Unknown names.
    await expectDbCode(engine.createCredentials(`${TAG}-none`), 'FX_DB_ROLE_NOT_FOUND');
    await expectDbCode(engine.readRole(`${TAG}-none`), 'FX_DB_ROLE_NOT_FOUND');
    await expectDbCode(
      engine.writeRole(role, { ...valid, connection: 'none' }),
      'FX_DB_CONNECTION_NOT_FOUND',
    );
    await expectDbCode(
      engine.lookupLease(`database/creds/${role}/${'A'.repeat(24)}`),
      'FX_DB_LEASE_NOT_FOUND',
    );
    await expectDbCode(
      engine.revokeLease(`database/creds/${role}/${'A'.repeat(24)}`),
      'FX_DB_LEASE_NOT_FOUND',
    );
    await expectDbCode(engine.readStaticRole('none'), 'FX_DB_STATIC_ROLE_NOT_FOUND');
    await expectDbCode(engine.rotateStaticRole('none'), 'FX_DB_STATIC_ROLE_NOT_FOUND');
    await expectDbCode(engine.rotateRoot('none'), 'FX_DB_CONNECTION_NOT_FOUND');
    // A role its connection does not allow.
    await expectDbCode(engine.writeRole(`${TAG}-no`, { ...valid }), 'FX_DB_ROLE_NOT_ALLOWED');
    await expectDbCode(
      engine.writeStaticRole(`${TAG}-no`, { connection: 'shared', username: 'x', rotationPeriod: 60_000 }),
      'FX_DB_ROLE_NOT_ALLOWED',
    );
    // The administrator cannot be a static role's user.
    await engine.writeConnection('shared', sharedConnection({ allowedRoles: ['*'] }));
    const afterAllow = await storedRows(h);
    await expectDbCode(
      engine.writeStaticRole('admin', {
        connection: 'shared',
        username: sharedConnection().username,
        rotationPeriod: 60_000,
      }),
      'FX_DB_IN_USE',
    );
    await expectDbCode(
      engine.writeStaticRole(role, { connection: 'shared', username: 'x', rotationPeriod: 60_000 }),
      'FX_DB_IN_USE',
    );
    await expectDbCode(
      engine.writeStaticRole('nouser', {
        connection: 'shared',
        username: `${TAG}_no_such_user`,
        rotationPeriod: 60_000,
      }),
      'FX_DB_STATEMENT_FAILED',
    );
    expect(await storedRows(h)).toEqual(afterAllow);
    await engine.writeConnection('shared', sharedConnection({ allowedRoles: [`${TAG}-ok`] }));

    // Only the connection's generation, update time and envelopes (re-made with fresh nonces)
    // moved; everything else is as before.
    const after = await storedRows(h);
    const strip = (rows: typeof before): unknown =>
      JSON.parse(
        JSON.stringify(rows, (key, value: unknown) =>
          ['generation', 'updated_at', 'password', 'settings_seal'].includes(key) ? undefined : value,
        ),
      );
    expect(strip(after)).toEqual(strip(before));
    expect(after['fx_db_roles']).toEqual(before['fx_db_roles']);
    expect(after['fx_db_leases']).toEqual(before['fx_db_leases']);
    expect(after['fx_db_static_roles']).toEqual([]);
    await engine.revokeLease(creds.leaseId);
  });
});

describe('password authentication (private server, SCRAM, CREATEROLE administrator)', () => {
  it('a generated user logs in with its password only, can do only what it was granted, and is locked out by revocation and expiry', async () => {
    const { engine, clock } = await open();
    await engine.writeConnection('private', privateConnection());
    await engine.writeRole('reader', {
      connection: 'private',
      creationStatements: [CREATE_LOGIN, 'GRANT SELECT ON app_data TO "{{name}}"'],
      defaultTtl: 60_000,
      maxTtl: 120_000,
    });
    const creds = await engine.createCredentials('reader');
    issuedPasswords.push(creds.password);
    expect(await canLogin(creds.username, creds.password)).toBe(true);
    expect(await canLogin(creds.username, `${creds.password}x`)).toBe(false);
    expect(await runAs(creds.username, creds.password, 'SELECT v FROM app_data')).toBe('ok');
    expect(await runAs(creds.username, creds.password, "INSERT INTO app_data VALUES (2, 'two')")).toBe(
      '42501',
    );
    expect(await runAs(creds.username, creds.password, 'SELECT * FROM other_data')).toBe('42501');

    // The built-in revocation as a CREATEROLE administrator: revoke the grants, drop the user.
    await engine.revokeLease(creds.leaseId);
    expect(await canLogin(creds.username, creds.password)).toBe(false);
    expect(await roleExists(privateQuery, creds.username)).toBe(false);

    const expiring = await engine.createCredentials('reader', { ttl: 10_000 });
    issuedPasswords.push(expiring.password);
    expect(await canLogin(expiring.username, expiring.password)).toBe(true);
    clock.now += 11_000;
    expect(await engine.revokeExpired()).toBe(1);
    expect(await canLogin(expiring.username, expiring.password)).toBe(false);
    expect(await privateQuery('SELECT 1 FROM pg_roles WHERE rolname LIKE $1', ['v-reader-%'])).toEqual([]);
  });

  it('rotateRoot gives the administrator a password only Fortress knows, and the engine keeps working', async () => {
    const h = await open();
    const { engine } = h;
    await engine.writeConnection('private', privateConnection());
    await engine.writeRole('rr', {
      connection: 'private',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    const before = await engine.createCredentials('rr');
    issuedPasswords.push(before.password);
    expect(await canLogin(PRIVATE_ADMIN, PRIVATE_ADMIN_PASSWORD)).toBe(true);
    const rotated = await engine.rotateRoot('private');
    expect(rotated.lastRootRotation).not.toBeNull();
    expect(await canLogin(PRIVATE_ADMIN, PRIVATE_ADMIN_PASSWORD)).toBe(false);
    // New pool, new password: creation and revocation still work, twice over.
    const after = await engine.createCredentials('rr');
    issuedPasswords.push(after.password);
    expect(await canLogin(after.username, after.password)).toBe(true);
    await engine.rotateRoot('private');
    await engine.revokeLease(before.leaseId);
    await engine.revokeLease(after.leaseId);
    expect(await canLogin(after.username, after.password)).toBe(false);
    // A failing rotation changes nothing stored, and the engine still works.
    await engine.writeConnection('private', {
      ...withoutPassword(privateConnection()),
      rootRotationStatements: [`ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}' NOSUCHOPTION`],
    });
    const rows = await storedRows(h);
    await expectDbCode(engine.rotateRoot('private'), 'FX_DB_STATEMENT_FAILED');
    expect(await storedRows(h)).toEqual(rows);
    const still = await engine.createCredentials('rr');
    await engine.revokeLease(still.leaseId);
    // Put the administrator's password back for the other tests (as postgres, the superuser).
    await privateQuery(`ALTER ROLE ${PRIVATE_ADMIN} PASSWORD '${PRIVATE_ADMIN_PASSWORD}'`);
  });

  it('an interrupted root rotation is resolved: the password the target took wins, an unapplied one is dropped', async () => {
    const h = await open();
    const { engine } = h;
    const driver = h.db.storageDriver();
    await engine.writeConnection('private', privateConnection());
    await engine.writeRole('heal', {
      connection: 'private',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    const envelope = async (): Promise<Uint8Array> =>
      (await driver.get<{ password: Uint8Array }>(
        "SELECT password FROM fx_db_connections WHERE name = 'private'",
      ))!.password;
    const oldEnvelope = await envelope();
    await engine.rotateRoot('private');
    const newEnvelope = await envelope();
    // As if the target took the new password but storing it failed: current = old, pending = new.
    await driver.run(
      "UPDATE fx_db_connections SET password = ?, pending_password = ? WHERE name = 'private'",
      [oldEnvelope, newEnvelope],
    );
    await engine.resetConnection('private');
    const creds = await engine.createCredentials('heal');
    await engine.revokeLease(creds.leaseId);
    const healed = await driver.get<{ password: Uint8Array; pending_password: Uint8Array | null }>(
      "SELECT password, pending_password FROM fx_db_connections WHERE name = 'private'",
    );
    expect(Buffer.from(healed!.password).equals(Buffer.from(newEnvelope))).toBe(true);
    expect(healed!.pending_password).toBeNull();
    // As if a rotation stored its pending password but never reached the target: it is dropped.
    await driver.run("UPDATE fx_db_connections SET pending_password = ? WHERE name = 'private'", [
      oldEnvelope,
    ]);
    await engine.resetConnection('private');
    const again = await engine.createCredentials('heal');
    await engine.revokeLease(again.leaseId);
    const dropped = await driver.get<{ password: Uint8Array; pending_password: Uint8Array | null }>(
      "SELECT password, pending_password FROM fx_db_connections WHERE name = 'private'",
    );
    expect(Buffer.from(dropped!.password).equals(Buffer.from(newEnvelope))).toBe(true);
    expect(dropped!.pending_password).toBeNull();
    await privateQuery(`ALTER ROLE ${PRIVATE_ADMIN} PASSWORD '${PRIVATE_ADMIN_PASSWORD}'`);
  });

  it('static roles: writing rotates at once, rotation changes the password, the sweeper rotates when due', async () => {
    const h = await open();
    const { engine, clock } = h;
    await engine.writeConnection('private', privateConnection());
    expect(await canLogin(STATIC_USER, STATIC_INITIAL_PASSWORD)).toBe(true);
    const info = await engine.writeStaticRole('app', {
      connection: 'private',
      username: STATIC_USER,
      rotationPeriod: 3_600_000,
    });
    expect(info).toMatchObject({ username: STATIC_USER, rotationPeriod: 3_600_000, lastError: null });
    expect(info.lastRotation).not.toBeNull();
    expect(await canLogin(STATIC_USER, STATIC_INITIAL_PASSWORD)).toBe(false);
    const first = await engine.readStaticCredentials('app');
    issuedPasswords.push(first.password);
    expect(first).toMatchObject({ username: STATIC_USER, ttl: 3_600_000, rotationPeriod: 3_600_000 });
    expect(await canLogin(STATIC_USER, first.password)).toBe(true);

    await engine.rotateStaticRole('app');
    const second = await engine.readStaticCredentials('app');
    issuedPasswords.push(second.password);
    expect(second.password).not.toBe(first.password);
    expect(await canLogin(STATIC_USER, first.password)).toBe(false);
    expect(await canLogin(STATIC_USER, second.password)).toBe(true);

    // A rotation interrupted after storing its pending password is finished with that password.
    const driver = h.db.storageDriver();
    await driver.run(
      "UPDATE fx_db_static_roles SET pending_password = password, password = NULL WHERE name = 'app'",
    );
    await engine.rotateStaticRole('app');
    expect((await engine.readStaticCredentials('app')).password).toBe(second.password);
    expect(await canLogin(STATIC_USER, second.password)).toBe(true);

    expect(await engine.rotateDueStaticRoles()).toBe(0);
    clock.now += 3_600_000;
    expect((await engine.readStaticCredentials('app')).ttl).toBe(0);
    // Due now: the sweeper rotates it and says so (Fortress records it in the ledger).
    const actions: { kind: string; error: unknown }[] = [];
    const swept = new Promise<unknown>((resolve) => {
      engine.startSweeper({
        intervalMs: 3_600_000,
        onSweep: resolve,
        onAction: (action, error) => actions.push({ ...action, error }),
      });
    });
    expect(await swept).toMatchObject({ rotated: 1, failures: [] });
    await engine.stop();
    expect(actions.filter((a) => a.kind === 'static-rotated')).toEqual([
      { kind: 'static-rotated', role: 'app', error: null },
    ]);
    const third = await engine.readStaticCredentials('app');
    issuedPasswords.push(third.password);
    expect(await canLogin(STATIC_USER, second.password)).toBe(false);
    expect(await canLogin(STATIC_USER, third.password)).toBe(true);

    // An update changes the period, not the password; a second role for the same user is refused.
    const updated = await engine.writeStaticRole('app', {
      connection: 'private',
      username: STATIC_USER,
      rotationPeriod: 7_200_000,
    });
    expect(updated.rotationPeriod).toBe(7_200_000);
    expect((await engine.readStaticCredentials('app')).password).toBe(third.password);
    await expectDbCode(
      engine.writeStaticRole('app2', {
        connection: 'private',
        username: STATIC_USER,
        rotationPeriod: 60_000,
      }),
      'FX_DB_IN_USE',
    );
    expect(await engine.listStaticRoles()).toEqual({ keys: ['app'], next: null });
    expect(await engine.deleteStaticRole('app')).toBe(true);
    expect(await engine.deleteStaticRole('app')).toBe(false);
    // The user stays, with its last password.
    expect(await canLogin(STATIC_USER, third.password)).toBe(true);
  });

  it('what the engine stores holds no password in clear, and an envelope moved to another connection fails', async () => {
    const h = await open();
    const { engine } = h;
    await engine.writeConnection('private', privateConnection());
    await engine.writeConnection('shared', sharedConnection({ allowedRoles: ['*'] }));
    await engine.writeRole('scan', {
      connection: 'private',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    const creds = await engine.createCredentials('scan');
    issuedPasswords.push(creds.password);
    await engine.writeStaticRole('scan-static', {
      connection: 'private',
      username: STATIC_USER,
      rotationPeriod: 3_600_000,
    });
    const statik = await engine.readStaticCredentials('scan-static');
    issuedPasswords.push(statik.password);
    const secrets = [PRIVATE_ADMIN_PASSWORD, SHARED_ADMIN_PASSWORD, creds.password, statik.password];

    const rows = await storedRows(h);
    const driver = h.db.storageDriver();
    let cells = 0;
    for (const table of Object.keys(rows)) {
      const raw = await driver.all<Record<string, SqlValue>>(`SELECT * FROM ${table}`);
      for (const row of raw) {
        for (const value of Object.values(row)) {
          cells++;
          const text = value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : String(value);
          for (const secret of secrets) expect(text).not.toContain(secret);
        }
      }
    }
    expect(cells).toBeGreaterThan(40);
    if (TEST_BACKEND === 'sqlite') {
      // The database files themselves (WAL included).
      for (const file of await readdir(h.dir)) {
        if (!file.startsWith('fortress.db')) continue;
        const bytes = await readFile(path.join(h.dir, file));
        for (const secret of secrets) expect(bytes.includes(Buffer.from(secret))).toBe(false);
      }
    }

    // The admin password envelope of one connection, copied to the other, does not decrypt there.
    await driver.run(
      "UPDATE fx_db_connections SET password = (SELECT password FROM fx_db_connections WHERE name = 'private') WHERE name = 'shared'",
    );
    await engine.resetConnection('shared');
    await engine.writeRole(`${TAG}-moved`, {
      connection: 'shared',
      creationStatements: [CREATE_LOGIN],
      defaultTtl: 60_000,
      maxTtl: 60_000,
    });
    await expectDbCode(engine.createCredentials(`${TAG}-moved`), 'FX_INTEGRITY');
    await engine.revokeLease(creds.leaseId);
    await engine.deleteStaticRole('scan-static');
  });

  it("no password ever reached the server's statement log", async () => {
    expect(issuedPasswords.length).toBeGreaterThanOrEqual(8);
    const log = await privatePg().log();
    expect(log).toContain('SCRAM-SHA-256$4096:');
    for (const password of issuedPasswords) expect(log).not.toContain(password);
  });
});
