/**
 * The KV secrets engine through `db.kv` and `db.as(principal).kv`, on the test backend (SQLite, or
 * PostgreSQL with FORTRESS_TEST_BACKEND=postgres): versions, check-and-set, delete / undelete /
 * destroy, metadata, rollback and patch, pagination, encryption bound to path and version, policy
 * per path (including per-principal folders), the audit trail, and bad input refused without
 * touching what is stored.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Fortress } from '../../src/fortress.js';
import type { AuditEntry } from '../../src/audit/entry/audit-entry.js';
import { PostgresDialect } from '../../src/storage/postgres/postgres-dialect.js';
import type { StorageDriver } from '../../src/storage/dialect.js';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { dropTestSchemas, openTestFortress, testStorage } from '../helpers/backend.js';
import { expectCode } from '../helpers/expect-code.js';

const SENTINEL = 'kv-sentinel-Zq8v3';
const opened: { db: Fortress; dir: string }[] = [];
afterEach(async () => {
  for (const { db, dir } of opened.splice(0)) {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});
afterAll(dropTestSchemas);

async function open(): Promise<{ db: Fortress; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-kv-'));
  const db = await openTestFortress({
    path: dir,
    onWarning: () => undefined,
    audit: { checkpointIntervalMs: 0 },
  });
  opened.push({ db, dir });
  return { db, dir };
}

/** The database behind a data directory, opened beside Fortress (as an operator or a thief would). */
async function rawStorage(dir: string): Promise<StorageDriver> {
  const storage = await testStorage(dir);
  if (storage?.kind === 'postgres') {
    return new PostgresDialect({
      url: storage.url,
      max: 1,
      ...(storage.schema === undefined ? {} : { schema: storage.schema }),
    }).createDriver();
  }
  return new SqliteDialect({ path: path.join(dir, 'fortress.db') }).createDriver();
}

async function entries(db: Fortress, action: string): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const entry of db.audit.entries({ action })) out.push(entry);
  return out;
}

describe('versions', () => {
  it('every write is a new version; reads take the latest or a given one; metadata lists them', async () => {
    const { db } = await open();
    const v1 = await db.kv.put('apps/billing/db', { user: 'billing', password: 'one' });
    expect(v1).toMatchObject({ version: 1, deletionTime: null, destroyed: false });
    const v2 = await db.kv.put('apps/billing/db', { user: 'billing', password: 'two' });
    expect(v2.version).toBe(2);
    expect(await db.kv.get('apps/billing/db')).toMatchObject({
      data: { user: 'billing', password: 'two' },
      metadata: { version: 2, destroyed: false, customMetadata: {} },
    });
    expect((await db.kv.get('apps/billing/db', { version: 1 })).data).toEqual({
      user: 'billing',
      password: 'one',
    });
    const meta = await db.kv.metadata('apps/billing/db');
    expect(meta).toMatchObject({
      path: 'apps/billing/db',
      currentVersion: 2,
      oldestVersion: 1,
      maxVersions: 0,
    });
    expect(meta.versions.map((v) => v.version)).toEqual([1, 2]);
    await expectCode(db.kv.get('apps/billing/db', { version: 3 }), 'FX_SECRET_NOT_FOUND');
    await expectCode(db.kv.get('apps/none'), 'FX_SECRET_NOT_FOUND');
    await expectCode(db.kv.metadata('apps/none'), 'FX_SECRET_NOT_FOUND');
  });

  it('keeps maxVersions (path, else engine, default 10) and removes older ones for good', async () => {
    const { db, dir } = await open();
    for (let i = 1; i <= 12; i++) await db.kv.put('a', { i });
    expect(await db.kv.metadata('a')).toMatchObject({ currentVersion: 12, oldestVersion: 3 });
    await expectCode(db.kv.get('a', { version: 2 }), 'FX_SECRET_NOT_FOUND');
    await db.kv.setMetadata('a', { maxVersions: 3 });
    await db.kv.put('a', { i: 13 });
    const meta = await db.kv.metadata('a');
    expect(meta.versions.map((v) => v.version)).toEqual([11, 12, 13]);
    await db.kv.configure({ maxVersions: 2 });
    for (let i = 1; i <= 3; i++) await db.kv.put('b', { i });
    expect((await db.kv.metadata('b')).versions.map((v) => v.version)).toEqual([2, 3]);
    const raw = await rawStorage(dir);
    try {
      const rows = await raw.all<{ version: number }>(
        "SELECT version FROM fx_kv_versions WHERE path = 'a' ORDER BY version",
      );
      expect(rows.map((r) => r.version)).toEqual([11, 12, 13]);
    } finally {
      await raw.close();
    }
  });

  it('check-and-set: 0 creates only, n writes only over version n; casRequired on a path or the engine', async () => {
    const { db } = await open();
    await db.kv.put('c', { n: 1 }, { cas: 0 });
    await expectCode(db.kv.put('c', { n: 2 }, { cas: 0 }), 'FX_SECRET_CAS_MISMATCH');
    await expectCode(db.kv.put('c', { n: 2 }, { cas: 2 }), 'FX_SECRET_CAS_MISMATCH');
    expect((await db.kv.put('c', { n: 2 }, { cas: 1 })).version).toBe(2);
    await db.kv.setMetadata('c', { casRequired: true });
    await expectCode(db.kv.put('c', { n: 3 }), 'FX_SECRET_CAS_REQUIRED');
    await db.kv.put('d', { n: 1 });
    await db.kv.configure({ casRequired: true });
    await expectCode(db.kv.put('d', { n: 2 }), 'FX_SECRET_CAS_REQUIRED');
    await db.kv.put('d', { n: 2 }, { cas: 1 });
    expect(await db.kv.config()).toEqual({ maxVersions: 10, casRequired: true, deleteVersionAfter: 0 });
    // Concurrent writers with the same cas: exactly one wins.
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => db.kv.put('d', { n: 10 + i }, { cas: 2 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'FX_SECRET_CAS_MISMATCH' });
    expect((await db.kv.metadata('d')).currentVersion).toBe(3);
    // A misspelt option is refused, not ignored (a write would otherwise skip its check-and-set).
    await expectCode(db.kv.put('d', { n: 4 }, { Cas: 3 } as never), 'FX_INVALID_ARGUMENT');
    await expectCode(db.kv.get('d', { versoin: 1 } as never), 'FX_INVALID_ARGUMENT');
    await expectCode(db.kv.list('', { limt: 5 } as never), 'FX_INVALID_ARGUMENT');
    expect((await db.kv.metadata('d')).currentVersion).toBe(3);
  });

  it('soft delete hides a version until undeleted; destroy removes its value for good', async () => {
    const { db, dir } = await open();
    await db.kv.put('s', { v: 1 });
    await db.kv.put('s', { v: 2 });
    expect(await db.kv.delete('s')).toEqual([2]);
    const deleted = await db.kv.get('s');
    expect(deleted.data).toBeNull();
    expect(deleted.metadata.deletionTime).not.toBeNull();
    expect(await db.kv.undelete('s', [2])).toEqual([2]);
    expect((await db.kv.get('s')).data).toEqual({ v: 2 });
    expect(await db.kv.destroy('s', [1])).toEqual([1]);
    expect(await db.kv.get('s', { version: 1 })).toMatchObject({ data: null, metadata: { destroyed: true } });
    await db.kv.undelete('s', [1]);
    expect((await db.kv.get('s', { version: 1 })).data).toBeNull();
    await expectCode(db.kv.rollback('s', 1), 'FX_SECRET_DELETED');
    const raw = await rawStorage(dir);
    try {
      expect(await raw.get("SELECT value FROM fx_kv_versions WHERE path = 's' AND version = 1")).toEqual({
        value: null,
      });
    } finally {
      await raw.close();
    }
    expect(await db.kv.deleteAll('s')).toBe(true);
    await expectCode(db.kv.get('s'), 'FX_SECRET_NOT_FOUND');
    expect(await db.kv.deleteAll('s')).toBe(false);
  });

  it('deleteVersionAfter soft-deletes each version that long after it was written', async () => {
    const { db } = await open();
    await db.kv.setMetadata('t', { deleteVersionAfter: 150 });
    const written = await db.kv.put('t', { v: 1 });
    expect(Date.parse(written.deletionTime!) - Date.parse(written.createdTime)).toBe(150);
    expect((await db.kv.get('t')).data).toEqual({ v: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect((await db.kv.get('t')).data).toBeNull();
    await db.kv.undelete('t', [1]);
    expect((await db.kv.get('t')).data).toEqual({ v: 1 });
  });

  it('patch merges (RFC 7386) into the current version; rollback makes an old version current as a new one', async () => {
    const { db } = await open();
    await db.kv.put('p', { a: 1, b: { c: 2, d: 3 }, e: 'x' });
    expect((await db.kv.patch('p', { b: { c: null, z: 9 }, e: null, f: [1] })).version).toBe(2);
    expect((await db.kv.get('p')).data).toEqual({ a: 1, b: { d: 3, z: 9 }, f: [1] });
    expect((await db.kv.rollback('p', 1)).version).toBe(3);
    expect((await db.kv.get('p')).data).toEqual({ a: 1, b: { c: 2, d: 3 }, e: 'x' });
    await expectCode(db.kv.patch('nothing', { a: 1 }), 'FX_SECRET_NOT_FOUND');
    await db.kv.delete('p');
    await expectCode(db.kv.patch('p', { a: 2 }), 'FX_SECRET_NOT_FOUND');
  });

  it('custom metadata is kept and returned with each read', async () => {
    const { db } = await open();
    await db.kv.put('m', { v: 1 });
    const meta = await db.kv.setMetadata('m', { customMetadata: { owner: 'billing', rotated: '2026-12' } });
    expect(meta.customMetadata).toEqual({ owner: 'billing', rotated: '2026-12' });
    expect((await db.kv.get('m')).metadata.customMetadata).toEqual({ owner: 'billing', rotated: '2026-12' });
    // A path may be described before its first version.
    expect(await db.kv.setMetadata('later', { maxVersions: 5 })).toMatchObject({
      currentVersion: 0,
      maxVersions: 5,
    });
    expect((await db.kv.put('later', { v: 1 })).version).toBe(1);
  });
});

describe('list', () => {
  it('lists the secrets and sub-folders directly in a folder, in pages that never skip or repeat', async () => {
    const { db } = await open();
    const paths = ['a/b', 'a/c/d', 'a/c/e', 'a/f', 'a/c/g/h', 'g', 'a.b', 'a', 'z/1'];
    for (const p of paths) await db.kv.put(p, { p });
    expect(await db.kv.list()).toEqual({ keys: ['a', 'a.b', 'a/', 'g', 'z/'], next: null });
    expect(await db.kv.list('a/')).toEqual({ keys: ['b', 'c/', 'f'], next: null });
    expect(await db.kv.list('a/c/')).toEqual({ keys: ['d', 'e', 'g/'], next: null });
    expect(await db.kv.list('nothing/')).toEqual({ keys: [], next: null });
    for (const limit of [1, 2, 3]) {
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 10; page++) {
        const got = await db.kv.list('', { limit, ...(after === undefined ? {} : { after }) });
        expect(got.keys.length).toBeLessThanOrEqual(limit);
        seen.push(...got.keys);
        if (got.next === null) break;
        after = got.next;
      }
      expect(seen).toEqual(['a', 'a.b', 'a/', 'g', 'z/']);
    }
    await expectCode(db.kv.list('', { limit: 1001 }), 'FX_INVALID_ARGUMENT');
    await expectCode(db.kv.list('a'), 'FX_INVALID_ARGUMENT');
  });
});

describe('encryption', () => {
  it('values are envelopes bound to path and version: no plaintext in storage, a moved value fails', async () => {
    const { db, dir } = await open();
    await db.kv.put('x/one', { secret: SENTINEL });
    await db.kv.put('x/two', { secret: 'other' });
    await db.kv.put('x/two', { secret: 'other 2' });
    const raw = await rawStorage(dir);
    try {
      const rows = await raw.all<{ path: string; version: number; value: Uint8Array }>(
        'SELECT path, version, value FROM fx_kv_versions ORDER BY path, version',
      );
      for (const row of rows) {
        expect(Buffer.from(row.value).includes(SENTINEL)).toBe(false);
        expect(Buffer.from(row.value).includes(Buffer.from(SENTINEL).toString('base64'))).toBe(false);
      }
      // The envelope of x/one moved onto x/two version 2, then onto x/two version 1's place.
      const one = rows.find((r) => r.path === 'x/one')!.value;
      await raw.run("UPDATE fx_kv_versions SET value = ? WHERE path = 'x/two' AND version = 2", [one]);
      const twoV1 = rows.find((r) => r.path === 'x/two' && r.version === 1)!.value;
      await raw.run("UPDATE fx_kv_versions SET value = ? WHERE path = 'x/two' AND version = 2", [twoV1]);
    } finally {
      await raw.close();
    }
    await expectCode(db.kv.get('x/two'), 'FX_INTEGRITY');
    expect((await db.kv.get('x/one')).data).toEqual({ secret: SENTINEL });
  });
});

describe('policy and audit', () => {
  it('per-path policy, per-principal folders (resource.owner == principal.name), denials recorded', async () => {
    const { db } = await open();
    await db.access.addUser('ann', { roles: ['staff'] });
    await db.access.addUser('bob', { roles: ['staff'] });
    await db.access.addUser('ops', { roles: ['ops'] });
    await db.access.addPolicies({
      'kv-home': `permit (
  principal in Fortress::Role::"default/staff",
  action in [Fortress::Action::"readSecret", Fortress::Action::"writeSecret", Fortress::Action::"listSecrets"],
  resource is Fortress::Secret
) when { resource.path like "users/*/*" && resource.owner == principal.name };`,
      'kv-ops': `permit (
  principal in Fortress::Role::"default/ops",
  action in [Fortress::Action::"readSecret", Fortress::Action::"writeSecret", Fortress::Action::"deleteSecret", Fortress::Action::"destroySecret", Fortress::Action::"listSecrets"],
  resource is Fortress::Secret
) when { resource.path like "apps/*" };`,
    });
    const ann = db.as('ann').kv;
    const bob = db.as('bob').kv;
    await ann.put('users/ann/github', { token: SENTINEL });
    expect((await ann.get('users/ann/github')).data).toEqual({ token: SENTINEL });
    await expectCode(bob.get('users/ann/github'), 'FX_FORBIDDEN');
    await expectCode(bob.put('users/ann/github', { token: 'x' }), 'FX_FORBIDDEN');
    await expectCode(ann.delete('users/ann/github'), 'FX_FORBIDDEN');
    await expectCode(ann.put('apps/billing', { x: 1 }), 'FX_FORBIDDEN');
    // users/ann (two segments) is not inside ann's folder.
    await expectCode(ann.put('users/ann', { x: 1 }), 'FX_FORBIDDEN');
    // The folder itself ("users/bob/") is inside the pattern too, so bob may list it.
    await bob.put('users/bob/mail', { password: 'b' });
    expect(await bob.list('users/bob/')).toEqual({ keys: ['mail'], next: null });
    await expectCode(bob.list(''), 'FX_FORBIDDEN');
    const ops = db.as('ops').kv;
    await ops.put('apps/billing', { key: 'v' });
    await ops.destroy('apps/billing', [1]);
    await expectCode(ops.get('users/ann/github'), 'FX_FORBIDDEN');
    await expectCode(ops.configure({ maxVersions: 3 }), 'FX_FORBIDDEN');
    // The denial is in the ledger, with the path and the error, as bob.
    const denied = (await entries(db, 'kv.read')).filter((e) => e.outcome.status === 'error');
    expect(denied[0]).toMatchObject({
      principal: { type: 'user', id: 'default/bob' },
      resource: { type: 'secret', path: 'kv:users/ann/github' },
      decision: { effect: 'deny' },
      outcome: { status: 'error', code: 'FX_FORBIDDEN' },
    });
  });

  it('every operation is recorded — path, versions, an HMAC of the data — and no value reaches the ledger', async () => {
    const { db } = await open();
    await db.kv.put('apps/a', { password: SENTINEL });
    await db.kv.get('apps/a');
    await db.kv.patch('apps/a', { more: SENTINEL });
    await db.kv.delete('apps/a', [1]);
    await db.kv.list('apps/');
    await expectCode(db.kv.get('apps/missing'), 'FX_SECRET_NOT_FOUND');
    const all: AuditEntry[] = [];
    for await (const entry of db.audit.entries({ action: 'kv.' })) all.push(entry);
    expect(all.map((e) => e.action)).toEqual([
      'kv.write',
      'kv.read',
      'kv.patch',
      'kv.delete',
      'kv.list',
      'kv.read',
    ]);
    expect(all[0]).toMatchObject({
      resource: { type: 'secret', path: 'kv:apps/a' },
      outcome: { status: 'ok' },
      details: { version: 1 },
    });
    // The digest of the data's JSON text, as `db.audit.hash` (and `fortress audit hash`) computes it.
    expect(all[0]!.details!['data']).toBe(db.audit.hash(JSON.stringify({ password: SENTINEL })));
    expect(all[5]).toMatchObject({ outcome: { status: 'error', code: 'FX_SECRET_NOT_FOUND' } });
    const text = JSON.stringify(all);
    expect(text).not.toContain(SENTINEL);
    expect(text).not.toContain(Buffer.from(SENTINEL).toString('base64'));
    expect((await db.audit.verify()).ok).toBe(true);
  });
});

describe('bad input', () => {
  it('is refused with FX_INVALID_ARGUMENT (or FX_VALUE_TOO_LARGE), and nothing stored changes', async () => {
    const { db } = await open();
    await db.kv.put('keep', { v: 1 });
    const bad: [string, () => Promise<unknown>][] = [
      ['leading slash', () => db.kv.put('/keep', { v: 2 })],
      ['trailing slash', () => db.kv.put('keep/', { v: 2 })],
      ['empty segment', () => db.kv.put('a//b', { v: 2 })],
      ['dot-dot', () => db.kv.put('a/../keep', { v: 2 })],
      ['dot segment', () => db.kv.put('a/./b', { v: 2 })],
      ['space', () => db.kv.put('a b', { v: 2 })],
      ['too long', () => db.kv.put('a'.repeat(513), { v: 2 })],
      ['not a string', () => db.kv.put(42 as unknown as string, { v: 2 })],
      ['array data', () => db.kv.put('keep', [1] as unknown as Record<string, unknown>)],
      ['null data', () => db.kv.put('keep', null as unknown as Record<string, unknown>)],
      ['negative cas', () => db.kv.put('keep', { v: 2 }, { cas: -1 })],
      ['fractional version', () => db.kv.get('keep', { version: 1.5 })],
      ['empty versions', () => db.kv.destroy('keep', [])],
      ['zero version', () => db.kv.delete('keep', [0])],
      ['unknown metadata', () => db.kv.setMetadata('keep', { colour: 'red' } as never)],
      ['custom not string', () => db.kv.setMetadata('keep', { customMetadata: { a: 1 } as never })],
      ['maxVersions too big', () => db.kv.setMetadata('keep', { maxVersions: 1001 })],
      ['unknown config', () => db.kv.configure({ versions: 3 } as never)],
    ];
    for (const [name, call] of bad) {
      const error = await expectCode(call(), 'FX_INVALID_ARGUMENT');
      expect(error.message, name).not.toContain('undefined');
    }
    await expectCode(db.kv.put('big', { v: 'x'.repeat(1024 * 1024) }), 'FX_VALUE_TOO_LARGE');
    expect(await db.kv.get('keep')).toMatchObject({ data: { v: 1 }, metadata: { version: 1 } });
    expect(await db.kv.metadata('keep')).toMatchObject({
      currentVersion: 1,
      maxVersions: 0,
      customMetadata: {},
    });
    expect(await db.kv.list()).toEqual({ keys: ['keep'], next: null });
  });
});
