/**
 * The ledger as wired into Fortress: every data, schema, key and seal operation leaves an entry
 * with the right action, resource and outcome; sensitive values appear only as digests; a data
 * write and its entry commit together; and when the ledger cannot record, the operation fails
 * (fail-closed) without being acknowledged or stored.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Fortress } from '../../src/fortress.js';
import type { AuditEntry } from '../../src/audit/entry/audit-entry.js';
import { readAuditVerifierKeys } from '../../src/audit-trail.js';
import { openCheckpoint } from '../../src/audit/note/checkpoint.js';
import { DevKeyFileSealProvider } from '../../src/keys/seal/dev-key-file-seal.js';
import { PostgresDialect } from '../../src/storage/postgres/postgres-dialect.js';
import { dropTestSchemas, openTestFortress, testStorage } from '../helpers/backend.js';
import { expectCode } from '../helpers/expect-code.js';
import { openRaw } from '../helpers/raw-sqlite.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
afterAll(dropTestSchemas);

async function open(): Promise<{ db: Fortress; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-audit-'));
  dirs.push(dir);
  const db = await openTestFortress({
    path: dir,
    onWarning: () => undefined,
    audit: { checkpointIntervalMs: 0 },
  });
  return { db, dir };
}

async function all(db: Fortress): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const entry of db.audit.entries()) out.push(entry);
  return out;
}

const columns = {
  id: { type: 'text', primaryKey: true },
  email: { type: 'text', encrypt: { search: 'equality' } },
  ssn: { type: 'text', encrypt: true },
  age: { type: 'integer' },
} as const;

describe('every operation is recorded', () => {
  it('data, schema, key and seal operations each leave an entry with action, resource and outcome', async () => {
    const { db } = await open();
    const people = await db.createTable('people', { columns });
    await people.insert({ id: 'p1', email: 'ann@example.com', ssn: '123-45-6789', age: 41 });
    await people.insertMany([
      { id: 'p2', email: 'bob@example.com', ssn: '987-65-4321', age: 30 },
      { id: 'p3', email: 'cy@example.com', ssn: '555-55-5555', age: 22 },
    ]);
    await people.get('p1');
    await people.find({ where: { email: 'ann@example.com' } });
    await people.page({ where: { age: { gte: 20 } }, orderBy: { age: 'asc' }, limit: 2 });
    for await (const row of people.iterate({ where: { age: { gte: 0 } } })) expect(row.id).toBeDefined();
    await people.count({ where: { age: { lt: 40 } } });
    await people.update('p2', { age: 31 });
    await people.delete('p3');
    await people.deleteMany({ where: { email: 'nobody@example.com' } });
    await expectCode(people.insert({ id: 'p1', email: 'x@example.com' }), 'FX_DUPLICATE_KEY');
    // Names a caller got wrong (control characters, C1 included) are recorded as #invalid.
    await expectCode(people.update('p1', { 'x\u0085y': 1 } as never), 'FX_COLUMN_NOT_FOUND');
    await db.addColumn('people', 'notes', { type: 'text', encrypt: true });
    await (
      await db.rotateKeys('people')
    ).done;
    await db.keyUsage('people');
    await db.keys.createKey({ name: 'app/kek', purpose: 'kek' });
    await db.keys.rotate('app/kek');
    db.seal();
    await db.unseal(new DevKeyFileSealProvider({ path: path.join(db.path, 'dev-unseal.key') }));
    await db.dropTable('people');
    const entries = await all(db);
    const actions = entries.map((e) => `${e.action}:${e.outcome.status}`);
    for (const expected of [
      'schema.createTable:ok',
      'table.insert:ok',
      'table.insertMany:ok',
      'table.get:ok',
      'table.find:ok',
      'table.page:ok',
      'table.iterate:ok',
      'table.count:ok',
      'table.update:ok',
      'table.delete:ok',
      'table.deleteMany:ok',
      'table.insert:error',
      'schema.addColumn:ok',
      'key.rotateTable:ok',
      'key.usage:ok',
      'key.createKey:ok',
      'key.rotate:ok',
      'system.seal:ok',
      'system.unseal:ok',
      'schema.dropTable:ok',
    ]) {
      expect(actions, expected).toContain(expected);
    }
    const failed = entries.find((e) => e.action === 'table.insert' && e.outcome.status === 'error')!;
    expect(failed.outcome).toEqual({ status: 'error', code: 'FX_DUPLICATE_KEY' });
    const get = entries.find((e) => e.action === 'table.get')!;
    expect(get.resource).toEqual({ type: 'table', tenant: 'default', database: 'main', table: 'people' });
    expect(get.decision.effect).toBe('allow');
    expect(get.principal.type).toBe('process');
    // Row keys and literals are digests, findable with audit.hash.
    expect(get.details?.['rows']).toEqual([db.audit.hash('p1')]);
    const find = entries.find((e) => e.action === 'table.find')!;
    expect(find.details?.['literals']).toEqual([db.audit.hash('ann@example.com')]);
    const found: AuditEntry[] = [];
    for await (const e of db.audit.entries({ digest: db.audit.hash('p1') })) found.push(e);
    expect(found.map((e) => e.action)).toEqual(expect.arrayContaining(['table.insert', 'table.get']));
    // seq is the position in the log, contiguous from 0.
    entries.forEach((e, i) => {
      expect(e.seq).toBe(i);
    });
    expect((await db.audit.verify()).ok).toBe(true);
    await db.close();
  });

  it('the log verifies against the pinned audit.vkey after reopening, and checkpoints chain', async () => {
    const { db, dir } = await open();
    const t = await db.createTable('t', { columns });
    await t.insert({ id: 'a', email: 'a@example.com' });
    const first = await db.audit.checkpoint();
    await t.get('a');
    await db.close();
    const again = await openTestFortress({
      path: dir,
      onWarning: () => undefined,
      audit: { checkpointIntervalMs: 0 },
    });
    await again.table('t').get('a');
    const second = await again.audit.checkpoint();
    expect(second.size).toBeGreaterThan(first.size);
    const report = await again.audit.verify({
      verifiers: await readAuditVerifierKeys(dir),
      trusted: first.note,
    });
    expect(report).toMatchObject({ ok: true, problem: null });
    expect(report.checkpointsChecked).toBeGreaterThanOrEqual(2);
    // The checkpoint's own audit.checkpoint entry came after it: reported as not yet signed.
    expect(report.uncheckpointed).toBe(report.size - second.size);
    expect(report.uncheckpointed).toBeGreaterThanOrEqual(1);
    await again.close();
  });
});

describe('checkpoint signatures', () => {
  it('with audit.mlDsa, checkpoints carry an Ed25519 and an ML-DSA-65 signature, each verifying alone', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-audit-mldsa-'));
    dirs.push(dir);
    const db = await openTestFortress({
      path: dir,
      onWarning: () => undefined,
      audit: { checkpointIntervalMs: 0, mlDsa: true },
    });
    const t = await db.createTable('t', { columns });
    await t.insert({ id: 'a', email: 'a@example.com' });
    const checkpoint = await db.audit.checkpoint();
    const verifiers = await readAuditVerifierKeys(dir);
    expect(verifiers.map((v) => v.algorithm).sort()).toEqual(['ed25519', 'ml-dsa-65']);
    for (const verifier of verifiers) {
      const opened = openCheckpoint(checkpoint.note, [verifier], { origin: db.audit.origin });
      expect(opened.checkpoint.size).toBe(checkpoint.size);
      expect(opened.verified).toHaveLength(1);
      expect(opened.unverified).toHaveLength(1);
    }
    expect((await db.audit.verify({ verifiers: [verifiers[1]!] })).ok).toBe(true);
    await db.close();
  });

  it('sealed, no checkpoint can be signed (the signing seeds are zeroed); unsealed again, it signs', async () => {
    const { db } = await open();
    const t = await db.createTable('t', { columns });
    await t.insert({ id: 'a', email: 'a@example.com' });
    db.seal();
    await expectCode(db.audit.checkpoint(), 'FX_SEALED');
    await db.unseal(new DevKeyFileSealProvider({ path: path.join(db.path, 'dev-unseal.key') }));
    const checkpoint = await db.audit.checkpoint();
    expect(checkpoint.size).toBe(db.audit.size - 1); // the checkpoint's own audit.checkpoint entry follows it
    expect((await db.audit.verify()).ok).toBe(true);
    await db.close();
  });

  it('turning ML-DSA on later adds its key to audit.vkey beside the pinned Ed25519 key', async () => {
    const { db, dir } = await open();
    await db.close();
    const before = (await readAuditVerifierKeys(dir)).map((v) => v.verifierKey);
    expect(before).toHaveLength(1);
    const again = await openTestFortress({ path: dir, onWarning: () => undefined, audit: { mlDsa: true } });
    const after = (await readAuditVerifierKeys(dir)).map((v) => v.verifierKey);
    expect(after).toHaveLength(2);
    expect(after[0]).toBe(before[0]);
    expect((await again.audit.verify({ verifiers: await readAuditVerifierKeys(dir) })).ok).toBe(true);
    await again.close();
  });

  it('refuses to sign with a keyring key other than the pinned audit.vkey', async () => {
    const { db, dir } = await open();
    await db.close();
    const other = await mkdtemp(path.join(os.tmpdir(), 'fx-audit-other-'));
    dirs.push(other);
    const second = await openTestFortress({ path: other, onWarning: () => undefined });
    await second.close();
    await copyFile(path.join(other, 'audit.vkey'), path.join(dir, 'audit.vkey'));
    await expectCode(openTestFortress({ path: dir, onWarning: () => undefined }), 'FX_AUDIT_SIGNATURE');
  });
});

describe('a write and its entry commit together', () => {
  it('a write inside a transaction that rolls back leaves neither row nor entry', async () => {
    const { db } = await open();
    const t = await db.createTable('t', { columns });
    const before = db.audit.size;
    await expect(
      db.transaction(async (tx) => {
        await tx.table('t').insert({ id: 'gone', email: 'g@example.com' });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await t.get('gone')).toBeUndefined();
    const entries = await all(db);
    expect(entries.filter((e) => e.action === 'table.insert' && e.outcome.status === 'ok')).toHaveLength(0);
    expect(entries.length).toBeGreaterThan(before); // the get above was recorded
    expect((await db.audit.verify()).ok).toBe(true);
    await db.close();
  });
});

describe('concurrent writers', () => {
  // PostgreSQL runs these transactions at once on several connections; each entry still gets its
  // own seq, and the Merkle tree matches the entries.
  it('concurrent writes, reads and transactions each commit with their entry, and the log verifies', async () => {
    const { db } = await open();
    const t = await db.createTable('t', { columns });
    await t.insert({ id: 'a', email: 'a@example.com' });
    const before = db.audit.size;
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) =>
        i % 3 === 0 ? t.get('a') : t.insert({ id: `w${i}`, email: `w${i}@example.com` }),
      ),
      ...Array.from({ length: 10 }, (_, i) =>
        db.transaction(async (tx) => {
          await tx.table('t').insert({ id: `x${i}`, ssn: `ssn-${i}` });
          await tx.table('t').get('a');
        }),
      ),
    ]);
    expect(await t.count()).toBe(1 + 20 + 10);
    const entries: AuditEntry[] = [];
    for await (const e of db.audit.entries({ fromSeq: before, action: 'table.' })) entries.push(e);
    expect(entries.filter((e) => e.action === 'table.insert' && e.outcome.status === 'ok')).toHaveLength(30);
    expect(entries.filter((e) => e.action === 'table.get' && e.outcome.status === 'ok')).toHaveLength(20);
    expect((await db.audit.verify()).ok).toBe(true);
    await db.close();
  });
});

describe('entries and caller transactions', () => {
  it('reads and failures inside a transaction that rolls back are written again; entries queued from inside never join it', async () => {
    const { db } = await open();
    const t = await db.createTable('t', { columns });
    await t.insert({ id: 'a', email: 'a@example.com' });
    const before = db.audit.size;
    // An outside reader whose entry may share a group commit with an entry queued inside the body.
    let outside: Promise<unknown> = Promise.resolve();
    await expect(
      db.transaction(async (tx) => {
        await tx.table('t').get('a');
        await expectCode(tx.table('t').insert({ id: 'a', email: 'dup@example.com' }), 'FX_DUPLICATE_KEY');
        await db.keyUsage('t'); // an admin operation inside the body: its entry is queued
        outside = new Promise((resolve) => setTimeout(resolve, 5)).then(() => t.get('a'));
        await new Promise((resolve) => setTimeout(resolve, 30));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await outside;
    const entries: AuditEntry[] = [];
    for await (const e of db.audit.entries({ fromSeq: before })) entries.push(e);
    const seen = entries.map((e) => `${e.action}:${e.outcome.status}`);
    expect(seen).toEqual(expect.arrayContaining(['table.get:ok', 'table.insert:error', 'key.usage:ok']));
    expect(seen.filter((a) => a === 'table.get:ok').length).toBeGreaterThanOrEqual(2); // inside + outside
    expect((await db.audit.verify()).ok).toBe(true);
    await db.close();
  });

  it('audit-ledger operations refuse to run inside a transaction body instead of waiting for it', async () => {
    const { db } = await open();
    await db.createTable('t', { columns });
    await db.transaction(async () => {
      await expectCode(db.audit.checkpoint(), 'FX_AUDIT_UNAVAILABLE');
    });
    await db.close();
  });
});

/** The storage seen from outside Fortress, as a failing disk (or an operator) would touch it. */
interface Outside {
  /** From now on every insert into the audit ledger fails. */
  breakLedger(): Promise<void>;
  repairLedger(): Promise<void>;
  rows(table: string): Promise<number>;
  close(): Promise<void>;
}

async function outside(dir: string): Promise<Outside> {
  const storage = await testStorage(dir);
  if (storage?.kind === 'postgres') {
    const schema = storage.schema === undefined ? {} : { schema: storage.schema };
    const driver = await new PostgresDialect({ url: storage.url, max: 1, ...schema }).createDriver();
    return {
      // Entries written inside a data transaction are staged first on PostgreSQL: both tables fail.
      breakLedger: () =>
        driver.exec(
          "CREATE FUNCTION fx_test_block() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk I/O error (simulated)'; END $$; " +
            'CREATE TRIGGER fx_test_block BEFORE INSERT ON fx_audit_entries FOR EACH ROW EXECUTE FUNCTION fx_test_block(); ' +
            'CREATE TRIGGER fx_test_block BEFORE INSERT ON fx_audit_staged FOR EACH ROW EXECUTE FUNCTION fx_test_block()',
        ),
      repairLedger: () =>
        driver.exec(
          'DROP TRIGGER fx_test_block ON fx_audit_entries; DROP TRIGGER fx_test_block ON fx_audit_staged; DROP FUNCTION fx_test_block()',
        ),
      rows: async (table) =>
        (await driver.all<{ n: number }>(`SELECT CAST(count(*) AS INTEGER) AS n FROM ${table}`))[0]!.n,
      close: () => driver.close(),
    };
  }
  const raw = openRaw(path.join(dir, 'fortress.db'));
  const exec = (sql: string): Promise<void> => {
    raw.exec(sql);
    return Promise.resolve();
  };
  return {
    breakLedger: () =>
      exec(
        "CREATE TRIGGER fx_test_block BEFORE INSERT ON fx_audit_entries BEGIN SELECT RAISE(FAIL, 'disk I/O error (simulated)'); END",
      ),
    repairLedger: () => exec('DROP TRIGGER fx_test_block'),
    rows: (table) =>
      Promise.resolve((raw.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n),
    close: () => {
      raw.close();
      return Promise.resolve();
    },
  };
}

describe('fail-closed', () => {
  it('while the ledger cannot store entries, no operation is acknowledged and no write is stored', async () => {
    const { db, dir } = await open();
    const t = await db.createTable('t', { columns });
    await t.insert({ id: 'kept', email: 'k@example.com', ssn: '111-11-1111' });
    // Break the ledger from outside (as a failing disk would): every entry insert now fails.
    const storage = await outside(dir);
    await storage.breakLedger();
    const rowsBefore = await storage.rows('fx_t_t');
    await expectCode(t.insert({ id: 'lost', email: 'l@example.com' }), 'FX_AUDIT_UNAVAILABLE');
    await expectCode(t.update('kept', { age: 50 }), 'FX_AUDIT_UNAVAILABLE');
    await expectCode(t.delete('kept'), 'FX_AUDIT_UNAVAILABLE');
    await expectCode(t.get('kept'), 'FX_AUDIT_UNAVAILABLE');
    await expectCode(t.find({ where: { email: 'k@example.com' } }), 'FX_AUDIT_UNAVAILABLE');
    await expectCode(t.count(), 'FX_AUDIT_UNAVAILABLE');
    await expectCode(
      (async () => {
        for await (const row of t.iterate()) return row;
        return undefined;
      })(),
      'FX_AUDIT_UNAVAILABLE',
    );
    // Concurrent readers sharing one failed group commit all fail.
    const results = await Promise.allSettled(Array.from({ length: 32 }, () => t.get('kept')));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    await expectCode(db.createTable('u', { columns }), 'FX_AUDIT_UNAVAILABLE');
    // Nothing was written or changed.
    expect(await storage.rows('fx_t_t')).toBe(rowsBefore);
    await storage.repairLedger();
    await storage.close();
    // Service resumes once the ledger can write again; the kept row is unchanged.
    expect(await t.get('kept')).toMatchObject({ id: 'kept', age: null, ssn: '111-11-1111' });
    expect(await t.get('lost')).toBeUndefined();
    expect((await db.audit.verify()).ok).toBe(true);
    await db.close();
  });
});
