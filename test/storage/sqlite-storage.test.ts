/**
 * The storage conformance suite on SQLite (a real file in a temp directory), plus SQLite specifics:
 * WAL mode, the durability setting, and bad options.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { FortressError } from '../../src/util/errors.js';
import { runStorageConformance } from './storage.case.js';

runStorageConformance('SQLite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sqlite-'));
  const file = path.join(dir, 'fortress.db');
  const dialect = new SqliteDialect({ path: file });
  return {
    driver: await dialect.createDriver(),
    reopen: () => new SqliteDialect({ path: file, mustExist: true }).createDriver(),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
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
