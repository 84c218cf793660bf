/**
 * Three `fortress server` processes on one PostgreSQL schema — a cluster — driven through all three
 * by concurrent clients. Nodes started before init join when another node initialises; each is
 * unsealed with its own shares. A table created on A is used on B and C; a key rotated through A is
 * the key of B's next write; a token revoked on A is refused by C at once; a policy given on A binds
 * on B; the audit ledger verifies over the interleaved log. Then SIGKILL a node in the middle of a
 * write load and of a re-encryption job it runs: clients retrying on the others lose no acknowledged
 * write, and the job's lease passes to a survivor, which finishes it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFortressClientError, type FortressClient } from '../../src/client/index.js';
import { readEnvelopeHeader } from '../../src/crypto/envelope/envelope-format.js';
import type { StorageDriver } from '../../src/storage/dialect.js';
import { PG_URL, freshPgSchema, type PgSchema } from '../helpers/postgres-schema.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

let tmp: string;
let pg: PgSchema;
let sql: StorageDriver;
const nodes: ServerProcess[] = [];
let shares: readonly string[];
let rootToken: string;

function env(): Record<string, string> {
  return {
    FORTRESS_STORAGE_KIND: 'postgres',
    FORTRESS_STORAGE_URL: PG_URL,
    FORTRESS_STORAGE_SCHEMA: pg.schema,
    // Slow enough that the re-encryption job is still running when its node is killed.
    FORTRESS_JOBS_BATCH_SIZE: '100',
    FORTRESS_JOBS_ROWS_PER_SECOND: '400',
  };
}

function admin(i: number): FortressClient {
  return nodes[i]!.client(rootToken);
}

/** The key version of a row's encrypted `ssn`, read from PostgreSQL. */
async function ssnKeyVersion(table: string, id: number): Promise<number> {
  const row = await sql.get<{ e: Uint8Array }>(`SELECT e_ssn AS e FROM fx_t_${table} WHERE p_id = ?`, [id]);
  return readEnvelopeHeader(row!.e).keyVersion;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'fx-cluster-'));
  pg = await freshPgSchema();
  sql = await pg.open();
  for (const name of ['a', 'b', 'c']) nodes.push(await startServerProcess(path.join(tmp, name), env()));
}, 90_000);

afterAll(async () => {
  for (const node of nodes) await node.stop().catch(() => undefined);
  await pg.cleanup();
  await rm(tmp, { recursive: true, force: true });
}, 60_000);

describe('three servers on one PostgreSQL', () => {
  it('nodes started before init join it and unseal with their own shares', async () => {
    expect((await nodes[1]!.client().sys.health()).initialized).toBe(false);
    const init = await nodes[0]!.client().sys.init({ shares: 3, threshold: 2 });
    shares = init.shares;
    rootToken = init.rootToken;
    // A second init, on another node, is refused: one cluster, one root key.
    await expect(nodes[2]!.client().sys.init({ shares: 3, threshold: 2 })).rejects.toMatchObject({
      code: 'FX_ALREADY_INITIALIZED',
    });
    for (const node of nodes.slice(1)) {
      const anonymous = node.client();
      expect(await anonymous.sys.status()).toMatchObject({ initialized: true, sealed: true });
      await anonymous.sys.unseal(shares[1]!);
      expect((await anonymous.sys.unseal(shares[2]!)).sealed).toBe(false);
    }
    // The token made on A works on every node.
    for (let i = 0; i < 3; i++)
      expect((await admin(i).auth.lookupSelf()).accessor).toBe(init.rootTokenAccessor);
  }, 60_000);

  it('tables created on all three nodes at once (one tenant key-encryption key between them)', async () => {
    await Promise.all(
      [0, 1, 2].map((i) =>
        admin(i).db.createTable(`first_${i}`, {
          columns: { id: { type: 'integer', primaryKey: true }, v: { type: 'text', encrypt: {} } },
        }),
      ),
    );
    for (let i = 0; i < 3; i++) await admin(i).db.insert(`first_${i}`, { id: 1, v: `from ${i}` });
    for (let i = 0; i < 3; i++) {
      expect(await admin((i + 1) % 3).db.get(`first_${i}`, 1)).toMatchObject({ v: `from ${i}` });
    }
    const keks = ((await admin(0).keys.list())['keys'] as { name: string }[]).filter((k) =>
      k.name.startsWith('kek/'),
    );
    expect(keks.map((k) => k.name)).toEqual(['kek/default/main']);
  }, 60_000);

  it('a table created on A is written on B and read and searched on C', async () => {
    await admin(0).db.createTable('patients', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        email: { type: 'text', encrypt: { search: 'equality' } },
        ssn: { type: 'text', encrypt: {} },
      },
    });
    await admin(1).db.insertMany(
      'patients',
      Array.from({ length: 20 }, (_, i) => ({ id: i, email: `p${i}@example.com`, ssn: `ssn-${i}` })),
    );
    expect(await admin(2).db.get('patients', 5)).toMatchObject({ ssn: 'ssn-5' });
    const found = await admin(2).db.find('patients', { where: { email: 'p7@example.com' } });
    expect(found.map((r) => r['id'])).toEqual([7]);
  }, 60_000);

  it('inserts with generated keys through all three nodes at once each get a key of their own', async () => {
    await admin(0).db.createTable('notes', {
      columns: { id: { type: 'integer', primaryKey: true }, text: { type: 'text', encrypt: {} } },
    });
    const rows = await Promise.all(
      Array.from({ length: 60 }, (_, i) => admin(i % 3).db.insert('notes', { text: `note ${i}` })),
    );
    const ids = rows.map((r) => r['id'] as number);
    expect(new Set(ids).size).toBe(60);
    for (const row of rows) expect(await admin(1).db.get('notes', row['id'] as number)).toMatchObject(row);
  }, 60_000);

  it("a key rotated through A is the key of B's next write; the job is followed from C", async () => {
    expect(await ssnKeyVersion('patients', 3)).toBe(1);
    await admin(1).db.get('patients', 3); // B has the active version unwrapped and cached
    const started = (await admin(0).keys.rotateTable('patients'))['job'] as { id: number };
    await admin(1).db.insert('patients', { id: 100, email: 'new@example.com', ssn: 'after-rotation' });
    expect(await ssnKeyVersion('patients', 100)).toBe(2);
    // The job runs on A; C reports its progress from the shared record.
    const done = await admin(2).keys.waitForJob(started.id, { intervalMs: 100 });
    expect(done).toMatchObject({ state: 'done' });
    for (const id of [0, 3, 19]) expect(await ssnKeyVersion('patients', id)).toBe(2);
    expect(await admin(2).db.get('patients', 3)).toMatchObject({ ssn: 'ssn-3' });
  }, 60_000);

  it('one key rotated through all three nodes at once: every rotation is a version of its own', async () => {
    const name = ((await admin(0).keys.list())['keys'] as { name: string }[])
      .map((k) => k.name)
      .find((n) => n.includes('/patients-') && n.includes('/col.ssn.'))!;
    const versionsOf = async (i: number): Promise<{ activeVersion: number; latestVersion: number }> =>
      (await admin(i).keys.get(name))['key'] as { activeVersion: number; latestVersion: number };
    const before = (await versionsOf(0)).latestVersion;
    const writes: Promise<unknown>[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) {
        writes.push(admin(i).keys.rotate(name));
        writes.push(
          admin((i + 1) % 3).db.insert('patients', {
            id: 200 + round * 3 + i,
            email: 'x',
            ssn: `r${round}-${i}`,
          }),
        );
      }
    }
    await Promise.all(writes);
    expect(await versionsOf(1)).toMatchObject({ latestVersion: before + 9, activeVersion: before + 9 });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) {
        expect(await admin(2).db.get('patients', 200 + round * 3 + i)).toMatchObject({
          ssn: `r${round}-${i}`,
        });
      }
    }
  }, 60_000);

  it('a token revoked on A is refused by C as soon as the revocation returns', async () => {
    for (let round = 0; round < 10; round++) {
      const grant = await admin(0).auth.createToken({ ttl: 600 });
      const onC = nodes[2]!.client(grant.token);
      // Used (and cached) on C first.
      expect((await onC.auth.lookupSelf()).accessor).toBe(grant.info.accessor);
      await onC.db.get('patients', 1);
      expect(await admin(0).auth.revoke(grant.info.accessor)).toBeGreaterThan(0);
      await expect(onC.db.get('patients', 1)).rejects.toMatchObject({ code: 'FX_UNAUTHENTICATED' });
    }
  }, 60_000);

  it('a principal and policy given on A bind on B at once', async () => {
    await admin(0).principals.putRole('reader');
    await admin(0).principals.putUser('ann', { roles: ['reader'] });
    await admin(0).auth.setPassword('ann', 'ann-password-long-enough');
    const login = await nodes[1]!.client().auth.login('ann', 'ann-password-long-enough');
    const ann = nodes[1]!.client(login.token);
    await expect(ann.db.get('patients', 1)).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    await admin(0).policies.put(
      'reader-reads',
      'permit (principal in Fortress::Role::"default/reader", action in [Fortress::Action::"read", Fortress::Action::"query"], resource in Fortress::Table::"default/main/patients");',
    );
    expect(await ann.db.get('patients', 1)).toMatchObject({ id: 1 });
  }, 60_000);

  it('SIGKILL one node mid-load: no acknowledged write is lost; its job moves to a survivor', async () => {
    // A table big enough that re-encrypting it (throttled to 400 rows/s) outlives the kill.
    await admin(1).db.createTable('events', {
      columns: { id: { type: 'integer', primaryKey: true }, ssn: { type: 'text', encrypt: {} } },
    });
    for (let start = 0; start < 2_000; start += 500) {
      await admin(1).db.insertMany(
        'events',
        Array.from({ length: 500 }, (_, i) => ({ id: start + i, ssn: `e-${start + i}` })),
      );
    }
    const job = (await admin(1).keys.rotateTable('events'))['job'] as { id: number };

    // Writers through all three nodes; a failed call is retried on the next node (the same row: if
    // the first attempt committed before the node died, the retry finds the row there).
    const acknowledged = new Map<number, string>();
    let stop = false;
    let next = 10_000;
    const errors: string[] = [];
    const writer = async (w: number): Promise<void> => {
      let node = w % 3;
      while (!stop) {
        const id = next++;
        const value = `w${w}-${id}`;
        for (let attempt = 0; ; attempt++) {
          const client = admin(node);
          try {
            await client.db.insert('patients', { id, email: `${id}@example.com`, ssn: value });
            acknowledged.set(id, value);
            break;
          } catch (error) {
            if (isFortressClientError(error) && error.code === 'FX_DUPLICATE_KEY') {
              // The first attempt committed before its node died: the row is there.
              acknowledged.set(id, value);
              break;
            }
            node = (node + 1) % 3;
            if (attempt > 20) {
              errors.push(error instanceof Error ? error.message : String(error));
              break;
            }
          }
        }
        node = (node + 1) % 3;
      }
    };
    const writers = Array.from({ length: 9 }, (_, w) => writer(w));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const before = (await admin(0).keys.job(job.id)) as { state: string; processed: number };
    expect(before.state).toBe('running');
    await nodes[1]!.kill();
    const killedAt = acknowledged.size;
    // Writers on nodes A and C go on (their B requests fail over).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    stop = true;
    await Promise.all(writers);
    expect(errors).toEqual([]);
    expect(acknowledged.size).toBeGreaterThan(killedAt);

    for (const [id, value] of acknowledged) {
      const row = await admin(id % 2 === 0 ? 0 : 2).db.get('patients', id);
      expect(row['ssn']).toBe(value);
    }

    // B's job lease died with its connection; A or C takes it over and finishes it.
    const done = await admin(2).keys.waitForJob(job.id, {
      intervalMs: 200,
      signal: AbortSignal.timeout(60_000),
    });
    expect(done).toMatchObject({ state: 'done' });
    const versions = await sql.all<{ e: Uint8Array }>('SELECT e_ssn AS e FROM fx_t_events');
    expect(versions).toHaveLength(2_000);
    for (const { e } of versions) expect(readEnvelopeHeader(e).keyVersion).toBe(2);
    // B had written nothing under its lease: the job's row count matches the table.
    expect(done['processed']).toBeGreaterThanOrEqual(2_000);
    expect(await admin(0).db.get('events', 1_999)).toMatchObject({ ssn: 'e-1999' });
  }, 120_000);

  it('the audit ledger verifies over the log all nodes wrote', async () => {
    const checkpoint = await admin(2).audit.checkpoint();
    expect(checkpoint['size']).toBeGreaterThan(100);
    const verified = await admin(0).audit.verify();
    expect(verified['ok']).toBe(true);
  }, 60_000);
});
