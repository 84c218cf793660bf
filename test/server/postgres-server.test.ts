/**
 * One server on PostgreSQL storage (the real server of FORTRESS_TEST_PG_URL, a fresh schema): the
 * whole path through the SDK — init, a table with encrypted and searchable columns, writes, reads,
 * an equality search, a key rotation with its re-encryption job, the audit ledger verified — then a
 * restart: the server comes back sealed, unseals share by share and reads what it wrote. Nothing
 * sensitive reaches PostgreSQL: a scan of every table's text for the plaintexts finds none.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FortressClient } from '../../src/client/index.js';
import type { RunningServer } from '../../src/server/server.js';
import { startTestServer } from '../helpers/backend.js';
import type { StorageOption } from '../../src/fortress.js';
import { PG_URL, freshPgSchema, type PgSchema } from '../helpers/postgres-schema.js';

const SENTINEL = 'pg-sentinel-4471-ssn';

let dir: string;
let pg: PgSchema;
let storage: StorageOption;
let server: RunningServer;
let client: FortressClient;
let shares: readonly string[];

function start(): Promise<RunningServer> {
  return startTestServer(dir, { storage });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-pg-server-'));
  pg = await freshPgSchema();
  storage = { kind: 'postgres', url: PG_URL, schema: pg.schema };
  server = await start();
  client = new FortressClient({ address: server.url, retries: 0 });
}, 60_000);

afterAll(async () => {
  await server.close();
  await pg.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('a server on PostgreSQL storage', () => {
  it('init, an encrypted table, writes, reads, an equality search', async () => {
    const init = await client.sys.init({ shares: 3, threshold: 2 });
    shares = init.shares;
    client.token = init.rootToken;
    await client.db.createTable('patients', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        email: { type: 'text', encrypt: { search: 'equality' } },
        ssn: { type: 'text', encrypt: {} },
        age: { type: 'integer', index: true },
        note: { type: 'text' },
      },
    });
    const rows = Array.from({ length: 50 }, (_, i) => ({
      id: i,
      email: `p${i}@example.com`,
      ssn: i === 7 ? SENTINEL : `ssn-${i}`,
      age: 20 + (i % 50),
      note: i % 2 === 0 ? null : `note ${i}`,
    }));
    await client.db.insertMany('patients', rows);
    expect(await client.db.get('patients', 7)).toMatchObject({ ssn: SENTINEL, email: 'p7@example.com' });
    expect(
      (await client.db.find('patients', { where: { email: 'p12@example.com' } })).map((r) => r['id']),
    ).toEqual([12]);
    const older = await client.db.find('patients', { where: { age: { gte: 65 } }, orderBy: { age: 'desc' } });
    expect(older.map((r) => r['age'])).toEqual([69, 68, 67, 66, 65]);
    expect(await client.db.count('patients', { note: null })).toBe(25);
    await client.db.update('patients', 3, { ssn: 'changed' });
    await client.db.delete('patients', 4);
    expect(await client.db.count('patients')).toBe(49);
  }, 60_000);

  it('rotates the table keys; the job re-encrypts every row; the ledger verifies', async () => {
    const job = (await client.keys.rotateTable('patients'))['job'] as { id: number };
    const done = await client.keys.waitForJob(job.id, { intervalMs: 100 });
    expect(done).toMatchObject({ state: 'done', rewritten: 49 });
    expect(await client.db.get('patients', 3)).toMatchObject({ ssn: 'changed' });
    const verified = await client.audit.verify();
    expect(verified['ok']).toBe(true);
  }, 60_000);

  it('restarts sealed, unseals share by share, and reads what it wrote', async () => {
    await server.close();
    server = await start();
    const anonymous = new FortressClient({ address: server.url, retries: 0 });
    expect((await anonymous.sys.health()).sealed).toBe(true);
    await anonymous.sys.unseal(shares[0]!);
    expect((await anonymous.sys.unseal(shares[2]!)).sealed).toBe(false);
    client = new FortressClient({ address: server.url, token: client.token!, retries: 0 });
    expect(await client.db.get('patients', 7)).toMatchObject({ ssn: SENTINEL });
  }, 60_000);

  it('PostgreSQL holds no plaintext of an encrypted column', async () => {
    const driver = await pg.open();
    const tables = await driver.all<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = ?',
      [pg.schema],
    );
    expect(tables.length).toBeGreaterThan(5);
    for (const { table_name: table } of tables) {
      const rows = await driver.all<{ t: string }>(`SELECT CAST(x AS TEXT) AS t FROM "${table}" AS x`);
      for (const row of rows) {
        expect(row.t, table).not.toContain(SENTINEL);
        expect(row.t, table).not.toContain(Buffer.from(SENTINEL).toString('hex'));
      }
    }
  });
});
