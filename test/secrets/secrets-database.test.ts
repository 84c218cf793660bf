/**
 * `db.database` and `db.as(principal).database`: the database secrets engine under policy and
 * audit, and its sweeper as Fortress runs it — started at open, stopped at seal and close, and
 * revoking at the next open a lease that expired while the database was closed. The target is the
 * shared PostgreSQL of FORTRESS_TEST_PG_URL; every user created carries this run's tag and is
 * dropped in afterAll. (test/secrets/database.test.ts covers the engine itself in depth.)
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fortress } from '../../src/fortress.js';
import { DevKeyFileSealProvider } from '../../src/keys/seal/dev-key-file-seal.js';
import type { AuditEntry } from '../../src/audit/entry/audit-entry.js';
import { dropTestSchemas, openTestFortress } from '../helpers/backend.js';

const TARGET_URL = process.env['FORTRESS_TEST_PG_URL'];
if (TARGET_URL === undefined || TARGET_URL === '') {
  throw new Error('FORTRESS_TEST_PG_URL is not set: the database secrets tests need a PostgreSQL target');
}
const target = new URL(TARGET_URL);
const TAG = `dbf${randomBytes(3).toString('hex')}`;
const ADMIN_PASSWORD = `admin-sentinel-${randomBytes(8).toString('hex')}`;
const CREATE_LOGIN = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`;

let dir: string;
let db: Fortress;
const warnings: string[] = [];
const issued: string[] = [];

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: TARGET_URL });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function userExists(name: string): Promise<boolean> {
  return (await query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).length === 1;
}

async function open(): Promise<Fortress> {
  return openTestFortress({
    path: dir,
    onWarning: (m) => warnings.push(m),
    audit: { checkpointIntervalMs: 0 },
    secrets: { databaseSweepIntervalMs: 200 },
  });
}

async function entries(action: string): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const e of db.audit.entries({ newestFirst: true, limit: 200 })) {
    if (e.action === action) out.push(e);
  }
  return out;
}

async function until(condition: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-secrets-database-'));
  db = await open();
  await db.database.writeConnection('shared', {
    plugin: 'postgresql',
    connectionUrl: `postgresql://{{username}}:{{password}}@${target.host}${target.pathname}`,
    username: decodeURIComponent(target.username) || 'postgres',
    password: ADMIN_PASSWORD,
    allowedRoles: [`${TAG}-*`],
  });
  await db.database.writeRole(`${TAG}-app`, {
    connection: 'shared',
    creationStatements: [CREATE_LOGIN],
    defaultTtl: 60_000,
    maxTtl: 120_000,
  });
}, 60_000);

afterAll(async () => {
  await db.database.revokePrefix('database/creds/').catch(() => 0);
  await db.close();
  for (const row of await query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [
    `${TAG}%`,
  ])) {
    await query(`DROP ROLE IF EXISTS "${row.rolname}"`);
  }
  await rm(dir, { recursive: true, force: true });
  await dropTestSchemas();
});

describe('db.database', () => {
  it('issues, renews and revokes credentials; each step is recorded without the password', async () => {
    const creds = await db.database.createCredentials(`${TAG}-app`, { ttl: 30_000 });
    issued.push(creds.password);
    expect(creds.leaseId.startsWith(`database/creds/${TAG}-app/`)).toBe(true);
    expect(await userExists(creds.username)).toBe(true);
    const renewed = await db.database.renewLease(creds.leaseId, { increment: 60_000 });
    expect(renewed.ttl).toBeGreaterThan(30_000);
    expect((await db.database.lookupLease(creds.leaseId)).state).toBe('active');
    await db.database.revokeLease(creds.leaseId);
    expect(await userExists(creds.username)).toBe(false);

    const [created] = await entries('database.credentials.create');
    expect(created!.details).toMatchObject({ lease: creds.leaseId, username: creds.username });
    expect(created!.resource).toMatchObject({ type: 'secret', path: `database:role/${TAG}-app` });
    expect((await entries('database.lease.revoke'))[0]!.details).toMatchObject({ lease: creds.leaseId });
    const ledger = JSON.stringify(await entries('database.connection.write')) + JSON.stringify(created);
    expect(ledger).not.toContain(creds.password);
    expect(ledger).not.toContain(ADMIN_PASSWORD);
  });

  it('a principal needs readCredentials on the role; leases need renewLease / revokeLease; configuration manageDatabase', async () => {
    await db.access.addUser('reporter', { roles: [] });
    await db.access.addPolicies({
      'reporter-creds': `permit (
  principal == Fortress::User::"default/reporter",
  action in [Fortress::Action::"readCredentials", Fortress::Action::"renewLease"],
  resource == Fortress::DatabaseRole::"default/${TAG}-app"
);`,
    });
    const reporter = db.as('reporter').database;
    const creds = await reporter.createCredentials(`${TAG}-app`);
    issued.push(creds.password);
    expect((await reporter.renewLease(creds.leaseId)).state).toBe('active');
    await expect(reporter.revokeLease(creds.leaseId)).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    await expect(reporter.listLeases()).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    await expect(reporter.readConnection('shared')).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    await expect(
      reporter.writeRole(`${TAG}-evil`, {
        connection: 'shared',
        creationStatements: [CREATE_LOGIN],
        defaultTtl: 1000,
        maxTtl: 1000,
      }),
    ).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    await db.access.addUser('outsider', { roles: [] });
    await expect(db.as('outsider').database.createCredentials(`${TAG}-app`)).rejects.toMatchObject({
      code: 'FX_FORBIDDEN',
    });
    const denied = await entries('database.lease.revoke');
    expect(denied.some((e) => e.decision.effect === 'deny' && e.principal.id === 'default/reporter')).toBe(
      true,
    );
    await db.database.revokeLease(creds.leaseId);
    expect(await userExists(creds.username)).toBe(false);
    // A malformed lease id is refused before anything is decided.
    await expect(reporter.renewLease('not-a-lease')).rejects.toMatchObject({ code: 'FX_INVALID_ARGUMENT' });
  });

  it("an owner's leases: capped at its expiry, revoked together, each recorded; others untouched", async () => {
    const now = Date.now();
    // notAfter below the role's maximum caps the lease and its renewals.
    const capped = await db.database.createCredentials(`${TAG}-app`, {
      ttl: 90_000,
      owner: 'token-a',
      notAfter: now + 45_000,
    });
    issued.push(capped.password);
    expect(capped.leaseDuration).toBeLessThanOrEqual(45_000);
    expect(capped.leaseDuration).toBeGreaterThan(40_000);
    expect(capped.renewable).toBe(false);
    const renewed = await db.database.renewLease(capped.leaseId, { increment: 120_000 });
    expect(Date.parse(renewed.expireTime)).toBeLessThanOrEqual(now + 45_000);
    expect(Date.parse(renewed.maxExpireTime)).toBeLessThanOrEqual(now + 45_000);
    const second = await db.database.createCredentials(`${TAG}-app`, { owner: 'token-a' });
    const other = await db.database.createCredentials(`${TAG}-app`, { owner: 'token-b' });
    const unowned = await db.database.createCredentials(`${TAG}-app`);
    issued.push(second.password, other.password, unowned.password);
    expect(second.renewable).toBe(true);

    const engine = db.database;
    expect(await engine.revokeOwned('token-a')).toBe(2);
    for (const c of [capped, second]) {
      expect(await userExists(c.username)).toBe(false);
      await expect(db.database.lookupLease(c.leaseId)).rejects.toMatchObject({
        code: 'FX_DB_LEASE_NOT_FOUND',
      });
    }
    for (const c of [other, unowned]) {
      expect(await userExists(c.username)).toBe(true);
      expect((await db.database.lookupLease(c.leaseId)).state).toBe('active');
    }
    // One entry for the operation, one per lease, as the process; nothing for an owner with none.
    const [owned] = await entries('database.lease.revokeOwned');
    expect(owned!.details).toMatchObject({ owner: 'token-a', revoked: 2 });
    const perLease = (await entries('database.lease.revoke')).map((e) => e.details?.['lease']);
    expect(perLease).toEqual(expect.arrayContaining([capped.leaseId, second.leaseId]));
    expect(await engine.revokeOwned('token-a')).toBe(0);
    expect(await engine.revokeOwned('nobody')).toBe(0);
    expect(await entries('database.lease.revokeOwned')).toHaveLength(1);
    // Decided first: a principal without manageDatabase learns nothing, not even "none held".
    await expect(db.as('reporter').database.revokeOwned('nobody')).rejects.toMatchObject({
      code: 'FX_FORBIDDEN',
    });

    // Malformed owners and an owner already (nearly) expired are refused; nothing is issued.
    const refusal = async (call: Promise<unknown>): Promise<{ code?: string; message?: string }> =>
      (await call.then(
        () => ({}),
        (e: unknown) => e,
      )) as { code?: string; message?: string };
    const badOwner = await refusal(db.database.createCredentials(`${TAG}-app`, { owner: 'has space' }));
    expect(badOwner.code).toBe('FX_INVALID_ARGUMENT');
    expect(badOwner.message).toContain('owner');
    const expiring = await refusal(
      db.database.createCredentials(`${TAG}-app`, { owner: 'token-c', notAfter: Date.now() + 10 }),
    );
    expect(expiring.code).toBe('FX_INVALID_ARGUMENT');
    expect(expiring.message).toContain('notAfter');
    expect((await refusal(db.database.createCredentials(`${TAG}-app`, { notAfter: 1.5 }))).code).toBe(
      'FX_INVALID_ARGUMENT',
    );
    expect((await refusal(engine.revokeOwned(''))).code).toBe('FX_INVALID_ARGUMENT');
    // The refusal is recorded (an error outcome), the malformed owner itself is not written out.
    const refusedOwner = (await entries('database.lease.revokeOwned')).filter(
      (e) => e.outcome.status === 'error' && e.outcome.code === 'FX_INVALID_ARGUMENT',
    );
    expect(refusedOwner).toHaveLength(1);
    expect(refusedOwner[0]!.details ?? {}).toEqual({});
    expect(
      (await db.database.listLeases({ role: `${TAG}-app` })).leases.map((l) => l.leaseId).sort(),
    ).toEqual([other.leaseId, unowned.leaseId].sort());
    await db.database.revokeOwned('token-b');
    await db.database.revokeLease(unowned.leaseId);
  });

  it('a lease that expires while the database is closed is revoked at the next open', async () => {
    const creds = await db.database.createCredentials(`${TAG}-app`, { ttl: 1500 });
    issued.push(creds.password);
    expect(await userExists(creds.username)).toBe(true);
    await db.close();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await userExists(creds.username)).toBe(true); // nobody was running to revoke it
    db = await open();
    await until(async () => !(await userExists(creds.username)));
    await expect(db.database.lookupLease(creds.leaseId)).rejects.toMatchObject({
      code: 'FX_DB_LEASE_NOT_FOUND',
    });
  });

  it('expiry while open: the sweeper drops the user and records it; sealed, nothing is swept until unseal', async () => {
    const open = await db.database.createCredentials(`${TAG}-app`, { ttl: 1000 });
    issued.push(open.password);
    await until(async () => !(await userExists(open.username)));
    // The sweeper's revocation is in the ledger like a user's, as the process, without a password.
    await until(async () =>
      (await entries('database.lease.expire')).some((e) => e.details?.['lease'] === open.leaseId),
    );
    const expired = (await entries('database.lease.expire')).find(
      (e) => e.details?.['lease'] === open.leaseId,
    )!;
    expect(expired.outcome).toEqual({ status: 'ok' });
    expect(expired.resource).toMatchObject({ type: 'secret', path: `database:role/${TAG}-app` });
    expect(JSON.stringify(expired)).not.toContain(open.password);

    const sealed = await db.database.createCredentials(`${TAG}-app`, { ttl: 1000 });
    issued.push(sealed.password);
    db.seal();
    await new Promise((resolve) => setTimeout(resolve, 1800));
    expect(await userExists(sealed.username)).toBe(true);
    await db.unseal(new DevKeyFileSealProvider({ path: path.join(dir, 'dev-unseal.key') }));
    await until(async () => !(await userExists(sealed.username)));
  });

  it('the one-time sealing of settings written by an older version is recorded in the ledger', async () => {
    const driver = db.storageDriver();
    for (const table of ['fx_db_connections', 'fx_db_roles', 'fx_db_static_roles', 'fx_db_leases']) {
      await driver.exec(`ALTER TABLE ${table} DROP COLUMN settings_seal`);
    }
    await db.close();
    db = await open();
    expect((await db.database.readRole(`${TAG}-app`)).connection).toBe('shared');
    await until(async () => (await entries('database.settings.upgrade')).length > 0);
    const [upgrade] = await entries('database.settings.upgrade');
    expect(upgrade!.outcome).toEqual({ status: 'ok' });
    expect(upgrade!.details).toMatchObject({ connections: 1, roles: 1, staticRoles: 0 });
    // Later opens find nothing to upgrade.
    await db.close();
    db = await open();
    await db.database.readConnection('shared');
    expect(await entries('database.settings.upgrade')).toHaveLength(1);
  });

  it('no password reaches storage in clear, the warnings, or the ledger', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.db') || f.endsWith('-wal'));
    const stored = (await Promise.all(files.map((f) => readFile(path.join(dir, f))))).map((b) =>
      b.toString('latin1'),
    );
    const ledger: string[] = [];
    for await (const e of db.audit.entries({ limit: 1000 })) ledger.push(JSON.stringify(e));
    for (const secret of [ADMIN_PASSWORD, ...issued]) {
      for (const text of stored) expect(text).not.toContain(secret);
      expect(ledger.join('\n')).not.toContain(secret);
      expect(warnings.join('\n')).not.toContain(secret);
    }
    expect(issued.length).toBeGreaterThanOrEqual(4);
  });
});
