/**
 * The storage conformance suite on SQLite (a real file in a temp directory), plus SQLite specifics:
 * WAL mode, the durability setting, and bad options.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { FortressError } from '../../src/util/errors.js';
import { runStorageConformance, type ConformanceTypes } from './storage.case.js';

const types: ConformanceTypes = { int64: 'INTEGER', bytes: 'BLOB' };

runStorageConformance(
  'SQLite',
  async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sqlite-'));
    const file = path.join(dir, 'fortress.db');
    const dialect = new SqliteDialect({ path: file });
    return {
      driver: await dialect.createDriver(),
      reopen: () => new SqliteDialect({ path: file, mustExist: true }).createDriver(),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  types,
);

// The same suite with page encryption (SQLite3MultipleCiphers): every behaviour must be identical.
runStorageConformance(
  'SQLite, page-encrypted',
  async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sqlite-mc-'));
    const file = path.join(dir, 'fortress.db');
    const key = randomBytes(32);
    const dialect = new SqliteDialect({ path: file, pageKey: key });
    return {
      driver: await dialect.createDriver(),
      reopen: () => new SqliteDialect({ path: file, mustExist: true, pageKey: key }).createDriver(),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  types,
);

describe('SQLite page encryption', () => {
  it('keeps every page ciphertext, refuses a wrong or missing key, and zeroes its key copy', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sqlite-mc-'));
    try {
      const file = path.join(dir, 'fortress.db');
      const key = randomBytes(32);
      const keyCopy = Buffer.from(key);
      const db = await new SqliteDialect({ path: file, pageKey: key }).createDriver();
      await db.exec('CREATE TABLE secret_table_name (v TEXT)');
      await db.run('INSERT INTO secret_table_name (v) VALUES (?)', ['PAGE-SENTINEL-7f3a']);
      // The caller's key is untouched; the dialect's own copy is not reusable.
      expect(Buffer.from(key).equals(keyCopy)).toBe(true);
      for (const name of readdirSync(dir)) {
        const bytes = readFileSync(path.join(dir, name));
        expect(bytes.includes('PAGE-SENTINEL-7f3a'), name).toBe(false);
        expect(bytes.includes('secret_table_name'), name).toBe(false);
        expect(bytes.includes('SQLite format 3'), name).toBe(false);
      }
      await db.close();
      const wrong = await new SqliteDialect({ path: file, pageKey: randomBytes(32) })
        .createDriver()
        .catch((error: unknown) => error);
      expect((wrong as FortressError).code).toBe('FX_INTEGRITY');
      const plain = await new SqliteDialect({ path: file }).createDriver().catch((error: unknown) => error);
      expect((plain as FortressError).code).toBe('FX_STORAGE');
      const again = await new SqliteDialect({ path: file, pageKey: keyCopy }).createDriver();
      expect(await again.get('SELECT v FROM secret_table_name')).toEqual({ v: 'PAGE-SENTINEL-7f3a' });
      await again.close();
      expect(() => new SqliteDialect({ path: file, pageKey: new Uint8Array(16) })).toThrow(FortressError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a dialect with a page key opens one driver: its key copy is zeroed after use', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sqlite-mc-'));
    try {
      const dialect = new SqliteDialect({ path: path.join(dir, 'x.db'), pageKey: randomBytes(32) });
      const db = await dialect.createDriver();
      await db.close();
      const error = await dialect.createDriver().catch((e: unknown) => e);
      expect((error as FortressError).code).toBe('FX_STORAGE');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite specifics', () => {
  it('opens in WAL mode with the chosen durability', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sqlite-'));
    try {
      for (const [synchronous, expected] of [
        ['full', 2],
        ['normal', 1],
      ] as const) {
        const db = await new SqliteDialect({
          path: path.join(dir, `${synchronous}.db`),
          synchronous,
        }).createDriver();
        expect(await db.get('PRAGMA journal_mode')).toEqual({ journal_mode: 'wal' });
        expect(await db.get('PRAGMA synchronous')).toEqual({ synchronous: expected });
        expect(db.capabilities.concurrentWriters).toBe(false);
        await db.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad options and a missing file when mustExist', async () => {
    for (const bad of [
      { path: '' },
      { path: 'x.db', synchronous: 'off' },
      { path: 'x.db', busyTimeoutMs: -1 },
      null,
    ]) {
      expect(() => new SqliteDialect(bad as never)).toThrow(FortressError);
    }
    await expect(
      new SqliteDialect({
        path: path.join(os.tmpdir(), 'fortress-nope', 'x.db'),
        mustExist: true,
      }).createDriver(),
    ).rejects.toMatchObject({
      code: 'FX_STORAGE',
    });
  });
});
