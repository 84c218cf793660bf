/**
 * The table engine end to end on real storage (SQLite files, or PostgreSQL with
 * FORTRESS_TEST_BACKEND=postgres): typed values through every encryption level, searches,
 * pagination, transactions, schema changes, key rotation with lazy re-encryption, blind index
 * rotation, sealing, and page encryption (SQLite only).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EncryptionLevel } from '../../src/engine/schema/table-schema.js';
import { DevKeyFileSealProvider } from '../../src/keys/seal/dev-key-file-seal.js';
import { TEST_BACKEND, dropTestSchemas, openTestFortress } from '../helpers/backend.js';
import { expectCode } from '../helpers/expect-code.js';

let dir: string;
const quiet = { onWarning: () => undefined };

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-engine-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterAll(dropTestSchemas);

const ALL_TYPES = {
  id: { type: 'uuid', primaryKey: true },
  text: { type: 'text', encrypt: { search: 'equality' } },
  int: { type: 'integer', encrypt: true },
  real: { type: 'real', encrypt: true },
  flag: { type: 'boolean', encrypt: { search: 'equality' } },
  at: { type: 'timestamp', encrypt: true },
  doc: { type: 'json', encrypt: true },
  blob: { type: 'bytes', encrypt: true },
  ref: { type: 'uuid', encrypt: { search: 'equality' } },
  plainInt: { type: 'integer', index: true },
  plainText: { type: 'text' },
} as const;

describe.each<EncryptionLevel>(['field', 'row', 'table'])('%s-level encryption', (level) => {
  it('round-trips every column type, including nulls, through insert, get, find and update', async () => {
    const db = await openTestFortress({ path: dir, ...quiet });
    const columns =
      level === 'table'
        ? ({
            ...ALL_TYPES,
            plainInt: { type: 'integer', encrypt: true },
            plainText: { type: 'text', encrypt: true },
          } as const)
        : ALL_TYPES;
    const t = await db.createTable('things', { encryption: level, columns });
    const at = new Date('2026-01-02T03:04:05.678Z');
    const full = {
      text: 'héllo wörld ✓',
      int: -9007199254740991,
      real: 3.25,
      flag: true,
      at,
      doc: { a: [1, 'two', null, { b: false }] },
      blob: new Uint8Array([0, 1, 254, 255]),
      ref: '0190f5c2-8a4b-7c3d-9e2f-0123456789ab',
      plainInt: 7,
      plainText: 'visible',
    };
    const stored = await t.insert(full);
    expect(stored.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const empty = await t.insert({});
    const got = await t.get(stored.id);
    expect(got).toEqual({ ...full, id: stored.id, blob: Buffer.from(full.blob) });
    expect(got!.at).toBeInstanceOf(Date);
    expect(await t.get(empty.id)).toEqual({
      id: empty.id,
      text: null,
      int: null,
      real: null,
      flag: null,
      at: null,
      doc: null,
      blob: null,
      ref: null,
      plainInt: null,
      plainText: null,
    });
    expect((await t.find({ where: { text: 'héllo wörld ✓' } })).map((r) => r.id)).toEqual([stored.id]);
    expect((await t.find({ where: { flag: true } })).map((r) => r.id)).toEqual([stored.id]);
    expect((await t.find({ where: { text: null } })).map((r) => r.id)).toEqual([empty.id]);
    expect(
      (await t.find({ where: { ref: { in: [full.ref, 'ffffffff-ffff-7fff-bfff-ffffffffffff'] } } })).length,
    ).toBe(1);
    await t.update(stored.id, { int: 42, doc: null });
    expect(await t.get(stored.id, { select: ['int', 'doc', 'text'] })).toEqual({
      id: stored.id,
      int: 42,
      doc: null,
      text: full.text,
    });
    expect(await t.count()).toBe(2);
    expect(await t.delete(empty.id)).toBe(true);
    expect(await t.delete(empty.id)).toBe(false);
    expect(await t.get(empty.id)).toBeUndefined();
    await db.close();
    // Everything survives a reopen.
    const again = await openTestFortress({ path: dir, ...quiet });
    expect((await again.table('things').get(stored.id))!['int']).toBe(42);
    await again.close();
  });
});

describe('queries', () => {
  async function people(expectedRows = 1000, indexBits?: number) {
    const db = await openTestFortress({ path: dir, ...quiet });
    const t = await db.createTable('people', {
      expectedRows,
      columns: {
        id: { type: 'integer', primaryKey: true },
        email: {
          type: 'text',
          encrypt: {
            search: 'equality',
            normalize: ['trim', 'casefold'],
            ...(indexBits ? { indexBits } : {}),
          },
        },
        ssn: { type: 'text', encrypt: true },
        age: { type: 'integer', index: true },
        city: { type: 'text' },
      },
    });
    const rows = Array.from({ length: 60 }, (_, i) => ({
      email: `user${i % 20}@example.com`,
      ssn: `ssn-${i}`,
      age: 20 + (i % 30),
      city: i % 3 === 0 ? null : ['Oslo', 'Lima'][i % 2]!,
    }));
    await t.insertMany(rows);
    return { db, t, rows };
  }

  it('equality on a searchable column is exact even with a 2-bit index (many false positives)', async () => {
    const { db, t, rows } = await people(1000, 2);
    const found = await t.find({ where: { email: ' USER3@example.COM' } });
    expect(found.map((r) => r.id).sort((a, b) => a - b)).toEqual(
      rows.flatMap((r, i) => (r.email === 'user3@example.com' ? [i + 1] : [])),
    );
    expect(await t.count({ where: { email: { in: ['user1@example.com', 'user2@example.com'] } } })).toBe(6);
    // The single-equality fast path and the general planner (any second option) agree exactly.
    for (const email of ['user3@example.com', ' USER3@EXAMPLE.COM', 'nobody@example.com']) {
      expect(await t.find({ where: { email } })).toEqual(await t.find({ where: { email }, scan: false }));
    }
    await db.close();
  });

  it('combines plaintext ranges, encrypted equality, or/not, orderBy and limit', async () => {
    const { db, t, rows } = await people();
    const expected = rows
      .map((r, i) => ({ ...r, id: i + 1 }))
      // SQL semantics: `not (city = 'Oslo')` is unknown for a null city, so those rows are excluded.
      .filter((r) => (r.email === 'user4@example.com' || r.age >= 45) && r.city !== null && r.city !== 'Oslo')
      .sort((a, b) => b.age - a.age || a.id - b.id)
      .slice(0, 7);
    const found = await t.find({
      where: { or: [{ email: 'user4@example.com' }, { age: { gte: 45 } }], not: { city: 'Oslo' } },
      orderBy: { age: 'desc' },
      limit: 7,
    });
    expect(found.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    expect(found.length).toBe(4);
    await db.close();
  });

  it('refuses what an encrypted column cannot answer, unless the caller asks for a scan', async () => {
    const { db, t, rows } = await people();
    const unsupported = await expectCode(t.find({ where: { ssn: { gt: 'ssn-5' } } }), 'FX_QUERY_UNSUPPORTED');
    expect(unsupported.message).toContain('ssn');
    expect(unsupported.message).toContain('scan: true');
    await expectCode(t.find({ where: { email: { ne: 'x' } } }), 'FX_QUERY_UNSUPPORTED');
    await expectCode(t.find({ orderBy: { ssn: 'asc' } }), 'FX_QUERY_UNSUPPORTED');
    const scanned = await t.find({ where: { ssn: { gt: 'ssn-50' } }, orderBy: { ssn: 'desc' }, scan: true });
    const expected = rows
      .map((r) => r.ssn)
      .filter((s) => s > 'ssn-50')
      .sort()
      .reverse();
    expect(scanned.map((r) => r.ssn)).toEqual(expected);
    await db.close();
  });

  it('pages with cursors through every row exactly once, in order, also over nulls', async () => {
    const { db, t } = await people();
    for (const orderBy of [{ city: 'asc' }, { city: 'desc' }, { age: 'asc' }] as const) {
      const seen: unknown[] = [];
      let after: string | undefined;
      for (let guard = 0; guard < 100; guard++) {
        const page = await t.page({ orderBy, limit: 7, ...(after ? { after } : {}) });
        seen.push(...page.rows.map((r) => r.id));
        if (page.next === null) break;
        after = page.next;
      }
      const all = await t.find({ orderBy });
      expect(seen).toEqual(all.map((r) => r.id));
      expect(new Set(seen).size).toBe(60);
    }
    await expectCode(t.page({ orderBy: { age: 'asc' }, after: 'bm90IGEgY3Vyc29y' }), 'FX_QUERY_INVALID');
    await db.close();
  });

  it('iterates in batches without buffering, and counts exactly', async () => {
    const { db, t } = await people();
    let n = 0;
    for await (const row of t.iterate({ where: { email: 'user7@example.com' } })) {
      expect(row.email).toBe('user7@example.com');
      n++;
    }
    expect(n).toBe(3);
    expect(await t.count({ where: { age: { lt: 25 } } })).toBe(10);
    expect(await t.count({ where: { city: { isNull: true } } })).toBe(20);
    await db.close();
  });
});

describe('transactions', () => {
  it('commit together, and a failure leaves nothing behind', async () => {
    const db = await openTestFortress({ path: dir, ...quiet });
    const t = await db.createTable('acct', {
      columns: { id: { type: 'text', primaryKey: true }, balance: { type: 'integer', encrypt: true } },
    });
    await t.insertMany([
      { id: 'a', balance: 100 },
      { id: 'b', balance: 0 },
    ]);
    await db.transaction(async (tx) => {
      const accounts = tx.table('acct');
      await accounts.update('a', { balance: 60 });
      await accounts.update('b', { balance: 40 });
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.table('acct').update('a', { balance: 0 });
        await tx.table('acct').insert({ id: 'c', balance: 1 });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect((await t.find({})).map((r) => [r.id, r.balance])).toEqual([
      ['a', 60],
      ['b', 40],
    ]);
    await expectCode(
      t.insertMany([
        { id: 'd', balance: 1 },
        { id: 'a', balance: 2 },
      ]),
      'FX_DUPLICATE_KEY',
    );
    expect(await t.count()).toBe(2);
    await db.close();
  });

  it('concurrent inserts with generated integer keys all succeed, each with a key of its own', async () => {
    const db = await openTestFortress({ path: dir, ...quiet });
    const t = await db.createTable('counter', {
      columns: { id: { type: 'integer', primaryKey: true }, v: { type: 'text', encrypt: true } },
    });
    const singles = Array.from({ length: 40 }, (_, i) => t.insert({ v: `s${i}` }));
    const batches = Array.from({ length: 5 }, (_, b) =>
      t.insertMany(Array.from({ length: 4 }, (_, i) => ({ v: `b${b}-${i}` }))),
    );
    const inserted = [...(await Promise.all(singles)), ...(await Promise.all(batches)).flat()];
    const ids = inserted.map((r) => r.id);
    expect(new Set(ids).size).toBe(60);
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    for (const row of inserted) expect((await t.get(row.id))?.v).toBe(row.v);
    await db.close();
  });
});

describe('schema changes and key rotation', () => {
  it('encrypts a plaintext column online; reads and equality stay right during and after the job', async () => {
    const db = await openTestFortress({ path: dir, ...quiet, jobs: { batchSize: 50 } });
    const t = await db.createTable('p', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        email: { type: 'text' },
        age: { type: 'integer' },
      },
    });
    await t.insertMany(Array.from({ length: 400 }, (_, i) => ({ email: `e${i % 40}`, age: i })));
    const job = await db.encryptColumn('p', 'email', { search: 'equality' });
    // Meanwhile: reads, equality lookups and writes keep working.
    await t.insert({ email: 'during', age: 1000 });
    expect((await t.find({ where: { email: 'e3' } })).length).toBe(10);
    const progress: number[] = [];
    job.on('progress', (p) => progress.push(p.percent));
    const done = await job.done;
    expect(done.state).toBe('done');
    expect(done.rewritten).toBeGreaterThanOrEqual(400);
    const email = db.describeTable('p').columns.find((c) => c.name === 'email')!;
    expect(email.legacyPlaintext).toBe(false);
    expect(email.encryption?.search?.bits).toBe(19);
    expect((await t.find({ where: { email: 'e3' } })).length).toBe(10);
    expect((await t.find({ where: { email: 'during' } }))[0]!.age).toBe(1000);
    await expectCode(t.find({ where: { email: { gt: 'a' } } }), 'FX_QUERY_UNSUPPORTED');
    const usage = await db.keyUsage('p');
    expect(usage).toHaveLength(1);
    expect(usage[0]!.rows).toBe(401);
    await db.close();
  });

  it('adds and drops columns; dropping a field-level column shreds its key', async () => {
    const db = await openTestFortress({ path: dir, ...quiet });
    const t = await db.createTable('p', {
      columns: { id: { type: 'integer', primaryKey: true }, a: { type: 'text', encrypt: true } },
    });
    await t.insert({ a: 'x' });
    await db.addColumn('p', 'b', { type: 'text', encrypt: { search: 'equality' } });
    // The typed handle knows the columns it was created with; a fresh handle sees the new one.
    const u = db.table('p');
    expect(await u.find({ where: { b: null } })).toHaveLength(1);
    await u.insert({ a: 'y', b: 'z' });
    expect((await u.find({ where: { b: 'z' } }))[0]!['a']).toBe('y');
    const keyName = db.describeTable('p').columns.find((c) => c.name === 'a')!.encryption!.key;
    expect(await db.dropColumn('p', 'a')).toBeNull();
    expect(await u.find({})).toEqual([
      { id: 1, b: null },
      { id: 2, b: 'z' },
    ]);
    const versions = await db.keys.listVersions(keyName);
    expect(versions.every((v) => v.state === 'destroyed')).toBe(true);
    await db.close();
  });

  it('rotates keys and re-encrypts lazily: old versions decrypt meanwhile, counts per version are exact', async () => {
    const db = await openTestFortress({ path: dir, ...quiet, jobs: { batchSize: 100 } });
    const t = await db.createTable('p', {
      encryption: 'row',
      columns: {
        id: { type: 'integer', primaryKey: true },
        s: { type: 'text', encrypt: { search: 'equality' } },
        n: { type: 'integer', encrypt: true },
      },
    });
    await t.insertMany(Array.from({ length: 500 }, (_, i) => ({ s: `v${i}`, n: i })));
    const rowKey = db.describeTable('p').rowKey!.key;
    await db.keys.rotate(rowKey);
    await t.insert({ s: 'new', n: -1 });
    expect((await db.keyUsage('p')).map((u) => [u.version, u.rows])).toEqual([
      [1, 500],
      [2, 1],
    ]);
    const job = await db.reencrypt('p');
    expect((await t.get(250))!.n).toBe(249);
    const done = await job.done;
    expect(done.rewritten).toBe(500);
    expect((await db.keyUsage('p')).map((u) => [u.version, u.rows])).toEqual([[2, 501]]);
    // Version 1 is unused now: it can be retired and destroyed without losing anything.
    await db.keys.setMinDecryptionVersion(rowKey, 2);
    await db.keys.destroyVersion(rowKey, 1);
    expect((await t.find({ where: { s: 'v7' } }))[0]!.n).toBe(7);
    await db.close();
  });

  it('rotates a blind index key with two slots: lookups stay exact throughout', async () => {
    const db = await openTestFortress({ path: dir, ...quiet, jobs: { batchSize: 20, rowsPerSecond: 2000 } });
    const t = await db.createTable('p', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        s: { type: 'text', encrypt: { search: 'equality' } },
      },
    });
    await t.insertMany(Array.from({ length: 200 }, (_, i) => ({ s: `v${i % 10}` })));
    const job = await db.rotateIndexKey('p', 's');
    let checks = 0;
    while (db.jobs().find((j) => j.id === job.id)!.state === 'running') {
      expect(await t.count({ where: { s: 'v3' } })).toBe(20);
      await t.insert({ s: 'v3' });
      await t.delete((await t.findOne({ where: { s: 'v3' }, orderBy: { id: 'desc' } }))!.id);
      checks++;
      // Database calls resolve as microtasks: yield to the event loop so the job's batches run.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await job.done;
    expect(checks).toBeGreaterThan(1);
    const search = db.describeTable('p').columns[1]!.encryption!.search!;
    expect(search.pending).toBeNull();
    expect(search.active).toEqual({ slot: 1, keyVersion: 2 });
    expect(await t.count({ where: { s: 'v3' } })).toBe(20);
    await db.close();
  });

  it('changes a column algorithm online', async () => {
    // Throttled (about half a second) so the job is still running at the second change: on a
    // storage with real I/O (PostgreSQL) an unthrottled job of 50 rows can end first.
    const db = await openTestFortress({ path: dir, ...quiet, jobs: { batchSize: 10, rowsPerSecond: 100 } });
    const t = await db.createTable('p', {
      columns: { id: { type: 'integer', primaryKey: true }, s: { type: 'text', encrypt: true } },
    });
    await t.insertMany(Array.from({ length: 50 }, (_, i) => ({ s: `v${i}` })));
    const job = await db.changeAlgorithm('p', 's', 'aes-256-gcm');
    await expectCode(db.changeAlgorithm('p', 's', 'aegis-256'), 'FX_JOB_CONFLICT');
    await job.done;
    const usage = await db.keyUsage('p');
    expect(usage).toHaveLength(1);
    expect(usage[0]!.key).toMatch(/aes-256-gcm$/);
    expect((await t.get(50))!.s).toBe('v49');
    await db.close();
  });
});

describe('sealing and page encryption', () => {
  it('a sealed database refuses data access and unseals with its provider', async () => {
    const db = await openTestFortress({ path: dir, ...quiet });
    const t = await db.createTable('p', {
      columns: { id: { type: 'integer', primaryKey: true }, s: { type: 'text', encrypt: true } },
    });
    await t.insert({ s: 'secret' });
    db.seal();
    await expectCode(t.get(1), 'FX_SEALED');
    await expectCode(t.insert({ s: 'x' }), 'FX_SEALED');
    await db.unseal(new DevKeyFileSealProvider({ path: path.join(dir, 'dev-unseal.key') }));
    expect((await t.get(1))!.s).toBe('secret');
    await db.close();
    await expectCode(t.get(1), 'FX_CLOSED');
  });

  // Page encryption encrypts SQLite's pages; PostgreSQL storage refuses the option.
  it.skipIf(TEST_BACKEND === 'postgres')(
    'page encryption: data round-trips, and the choice is fixed at creation',
    async () => {
      const db = await openTestFortress({ path: dir, ...quiet, pageEncryption: true });
      const t = await db.createTable('p', {
        columns: {
          id: { type: 'integer', primaryKey: true },
          s: { type: 'text', encrypt: { search: 'equality' } },
        },
      });
      await t.insert({ s: 'hello' });
      await db.close();
      await expectCode(
        openTestFortress({ path: dir, ...quiet, pageEncryption: false }),
        'FX_INVALID_ARGUMENT',
      );
      const again = await openTestFortress({ path: dir, ...quiet });
      expect((await again.table('p').find({ where: { s: 'hello' } })).length).toBe(1);
      await again.close();
    },
  );
});
