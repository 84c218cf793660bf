/**
 * The storage conformance suite: what every backend (SQLite now, PostgreSQL next) must do the same
 * way — value round trips, transactions that commit whole or not at all, savepoints, serialised
 * concurrent transactions, streaming, typed errors, and use after close. Each runner passes the
 * column types its backend spells differently ({@link ConformanceTypes}).
 */
import { describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/storage/dialect.js';
import { expectCode } from '../helpers/expect-code.js';

/**
 * Column types spelled differently by each backend. Only types whose meaning differs get one: the
 * cases otherwise use SQL both backends read the same way.
 */
export interface ConformanceTypes {
  /** A 64-bit integer column (SQLite `INTEGER`, PostgreSQL `BIGINT`; PostgreSQL's INTEGER is 32-bit). */
  readonly int64: string;
  /** A byte-string column (SQLite `BLOB`, PostgreSQL `BYTEA`). */
  readonly bytes: string;
}

export function runStorageConformance(
  name: string,
  open: () => Promise<{
    driver: StorageDriver;
    reopen: () => Promise<StorageDriver>;
    cleanup: () => Promise<void>;
  }>,
  types: ConformanceTypes,
): void {
  describe(`storage conformance: ${name}`, () => {
    const withDb = async (
      fn: (db: StorageDriver, reopen: () => Promise<StorageDriver>) => Promise<void>,
    ): Promise<void> => {
      const { driver, reopen, cleanup } = await open();
      try {
        await fn(driver, reopen);
      } finally {
        await driver.close();
        await cleanup();
      }
    };

    it('round-trips every value type exactly', () =>
      withDb(async (db) => {
        await db.exec(
          `CREATE TABLE v (id INTEGER PRIMARY KEY, i ${types.int64}, r REAL, t TEXT, b ${types.bytes}, n INTEGER)`,
        );
        const blob = new Uint8Array([0, 1, 2, 255, 0]);
        const big = 2n ** 62n + 1n;
        await db.run('INSERT INTO v (id, i, r, t, b, n) VALUES (?, ?, ?, ?, ?, ?)', [
          1,
          42,
          1.5,
          'héllo ✓',
          blob,
          null,
        ]);
        await db.run('INSERT INTO v (id, i, t) VALUES (?, ?, ?)', [2, big, '']);
        const row = await db.get<{ i: number; r: number; t: string; b: Uint8Array; n: null }>(
          'SELECT * FROM v WHERE id = ?',
          [1],
        );
        expect(row).toMatchObject({ i: 42, r: 1.5, t: 'héllo ✓', n: null });
        expect(new Uint8Array(row!.b)).toEqual(blob);
        const bigRow = await db.get<{ i: bigint; t: string }>('SELECT i, t FROM v WHERE id = 2');
        expect(bigRow?.i).toBe(big);
        expect(bigRow?.t).toBe('');
        expect(await db.get('SELECT * FROM v WHERE id = 99')).toBeUndefined();
      }));

    it('commits a transaction whole, and rolls back everything when its body throws', () =>
      withDb(async (db) => {
        await db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
        await db.transaction(async (tx) => {
          await tx.run('INSERT INTO t VALUES (1, ?)', ['a']);
          await tx.run('INSERT INTO t VALUES (2, ?)', ['b']);
        });
        await expect(
          db.transaction(async (tx) => {
            await tx.run('INSERT INTO t VALUES (3, ?)', ['c']);
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        await expectCode(
          db.transaction(async (tx) => {
            await tx.run('INSERT INTO t VALUES (4, ?)', ['d']);
            await tx.run('INSERT INTO t VALUES (1, ?)', ['duplicate id']);
          }),
          'FX_STORAGE_CONSTRAINT',
        );
        expect((await db.all<{ id: number }>('SELECT id FROM t ORDER BY id')).map((r) => r.id)).toEqual([
          1, 2,
        ]);
      }));

    it('nested transactions are savepoints: an inner failure rolls back only the inner part', () =>
      withDb(async (db) => {
        await db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
        await db.transaction(async (tx) => {
          await tx.run('INSERT INTO t VALUES (1)');
          await expect(
            tx.transaction(async (inner) => {
              await inner.run('INSERT INTO t VALUES (2)');
              throw new Error('inner');
            }),
          ).rejects.toThrow('inner');
          await tx.transaction(async (inner) => {
            await inner.run('INSERT INTO t VALUES (3)');
          });
        });
        expect((await db.all<{ id: number }>('SELECT id FROM t ORDER BY id')).map((r) => r.id)).toEqual([
          1, 3,
        ]);
      }));

    it('concurrent transactions do not interleave, and outside statements never land inside one', () =>
      withDb(async (db) => {
        await db.exec('CREATE TABLE c (n INTEGER NOT NULL)');
        await db.run('INSERT INTO c VALUES (0)');
        const increments = Array.from({ length: 20 }, () =>
          db.transaction(async (tx) => {
            const row = await tx.get<{ n: number }>('SELECT n FROM c');
            await new Promise((resolve) => setTimeout(resolve, 1));
            await tx.run('UPDATE c SET n = ?', [row!.n + 1]);
          }),
        );
        const failing = db.transaction(async (tx) => {
          await tx.run('UPDATE c SET n = n + 1000');
          await new Promise((resolve) => setTimeout(resolve, 2));
          throw new Error('abort');
        });
        // Observed at once: where transactions really run concurrently, it fails before the others end.
        const failed = expect(failing).rejects.toThrow('abort');
        const outside = db.run('UPDATE c SET n = n + 100');
        await Promise.all(increments);
        await failed;
        await outside;
        expect((await db.get<{ n: number }>('SELECT n FROM c'))?.n).toBe(120);
      }));

    it('runs a statement for many parameter lists in one call; a failure inside a transaction undoes the batch', () =>
      withDb(async (db) => {
        await db.exec('CREATE TABLE rb (k INTEGER PRIMARY KEY, v TEXT NOT NULL)');
        expect(
          await db.runBatch('INSERT INTO rb (k, v) VALUES (?, ?)', [
            [1, 'a'],
            [2, 'b'],
          ]),
        ).toBe(2);
        expect(await db.runBatch('INSERT INTO rb (k, v) VALUES (?, ?)', [])).toBe(0);
        const failed = await db
          .transaction((tx) =>
            tx.runBatch('INSERT INTO rb (k, v) VALUES (?, ?)', [
              [3, 'c'],
              [1, 'duplicate'],
            ]),
          )
          .catch((error: unknown) => error);
        expect((failed as { code?: string }).code).toBe('FX_STORAGE_CONSTRAINT');
        expect(await db.all('SELECT k, v FROM rb ORDER BY k')).toEqual([
          { k: 1, v: 'a' },
          { k: 2, v: 'b' },
        ]);
        expect(
          await db.transaction((tx) =>
            tx.runBatch('UPDATE rb SET v = ? WHERE k = ?', [
              ['x', 1],
              ['y', 2],
              ['z', 9],
            ]),
          ),
        ).toBe(2);
        expect(await db.all('SELECT v FROM rb ORDER BY k')).toEqual([{ v: 'x' }, { v: 'y' }]);
      }));

    it('runBatch in a transaction: thousands of inserts, and an upsert batch whose last write of a key wins', () =>
      withDb(async (db) => {
        await db.exec(`CREATE TABLE big (k ${types.int64} PRIMARY KEY, v TEXT NOT NULL, b ${types.bytes})`);
        const rows = Array.from({ length: 12_345 }, (_, i) => [i, `v${i}`, new Uint8Array([i % 256, 7])]);
        expect(
          await db.transaction((tx) => tx.runBatch('INSERT INTO big (k, v, b) VALUES (?, ?, ?)', rows)),
        ).toBe(12_345);
        expect((await db.get<{ n: number }>('SELECT count(*) AS n FROM big'))?.n).toBe(12_345);
        const one = await db.get<{ k: number; v: string; b: Uint8Array }>(
          'SELECT k, v, b FROM big WHERE k = ?',
          [300],
        );
        expect([one?.k, one?.v, [...(one?.b ?? [])]]).toEqual([300, 'v300', [44, 7]]);
        await db.exec(
          'CREATE TABLE up (a INTEGER NOT NULL, c INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY (a, c))',
        );
        await db.transaction((tx) =>
          tx.runBatch(
            'INSERT INTO up (a, c, v) VALUES (?, ?, ?) ON CONFLICT (a, c) DO UPDATE SET v = excluded.v',
            [
              [1, 1, 'first'],
              [1, 2, 'other'],
              [1, 1, 'second'],
              [2, 1, 'x'],
              [1, 1, 'last'],
            ],
          ),
        );
        expect(await db.all('SELECT a, c, v FROM up ORDER BY a, c')).toEqual([
          { a: 1, c: 1, v: 'last' },
          { a: 1, c: 2, v: 'other' },
          { a: 2, c: 1, v: 'x' },
        ]);
        // A duplicate among many plain inserts still fails the whole transaction.
        const failed = await db
          .transaction((tx) =>
            tx.runBatch('INSERT INTO big (k, v, b) VALUES (?, ?, ?)', [
              ...rows.slice(0, 3).map(([k]) => [Number(k) + 20_000, 'n', null]),
              [5, 'dup', null],
            ]),
          )
          .catch((error: unknown) => error);
        expect((failed as { code?: string }).code).toBe('FX_STORAGE_CONSTRAINT');
        expect((await db.get<{ n: number }>('SELECT count(*) AS n FROM big'))?.n).toBe(12_345);
      }));

    it('statements made through the driver from inside a transaction body join that transaction', () =>
      withDb(async (db) => {
        await db.exec('CREATE TABLE j (n INTEGER NOT NULL)');
        expect(db.inTransaction()).toBe(false);
        // A helper that was handed the driver, not the session: it must neither deadlock nor escape.
        const helper = async (n: number): Promise<void> => {
          await db.run('INSERT INTO j VALUES (?)', [n]);
        };
        await expect(
          db.transaction(async () => {
            expect(db.inTransaction()).toBe(true);
            await helper(1);
            expect(await db.all('SELECT n FROM j')).toEqual([{ n: 1 }]);
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        expect(await db.all('SELECT n FROM j')).toEqual([]);
        await db.transaction(async () => {
          await helper(2);
          await db.transaction(() => helper(3));
        });
        expect(await db.all('SELECT n FROM j ORDER BY n')).toEqual([{ n: 2 }, { n: 3 }]);
        expect(db.inTransaction()).toBe(false);
      }));

    it('streams rows, and releases the connection when iteration stops early', () =>
      withDb(async (db) => {
        await db.exec('CREATE TABLE s (id INTEGER PRIMARY KEY)');
        await db.transaction(async (tx) => {
          for (let i = 1; i <= 1000; i++) await tx.run('INSERT INTO s VALUES (?)', [i]);
        });
        let sum = 0;
        for await (const row of db.iterate<{ id: number }>('SELECT id FROM s ORDER BY id')) sum += row.id;
        expect(sum).toBe(500_500);
        let seen = 0;
        for await (const row of db.iterate<{ id: number }>('SELECT id FROM s ORDER BY id')) {
          seen = row.id;
          if (seen === 10) break;
        }
        expect(seen).toBe(10);
        expect((await db.get<{ c: number }>('SELECT count(*) AS c FROM s'))?.c).toBe(1000);
      }));

    it('reports malformed statements and wrong parameters with typed errors, storing nothing', () =>
      withDb(async (db) => {
        await db.exec('CREATE TABLE e (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
        await db.run('INSERT INTO e VALUES (1, ?)', ['kept']);
        await expectCode(db.run('INSERT INTO nowhere VALUES (1)'), 'FX_STORAGE_QUERY');
        await expectCode(db.all('SELEC * FROM e'), 'FX_STORAGE_QUERY');
        await expectCode(db.run('INSERT INTO e VALUES (?, ?)', [2]), 'FX_STORAGE_QUERY');
        await expectCode(db.run('INSERT INTO e VALUES (2, NULL)'), 'FX_STORAGE_CONSTRAINT');
        await expectCode(db.exec('CREATE TABLE e (x)'), 'FX_STORAGE_QUERY');
        expect(await db.all('SELECT * FROM e')).toEqual([{ id: 1, v: 'kept' }]);
      }));

    it('keeps committed data across close and reopen, and refuses use after close', () =>
      withDb(async (db, reopen) => {
        await db.exec(`CREATE TABLE p (id INTEGER PRIMARY KEY, v ${types.bytes})`);
        await db.run('INSERT INTO p VALUES (1, ?)', [new Uint8Array([9, 9])]);
        await db.close();
        await db.close();
        await expectCode(db.get('SELECT 1 AS one'), 'FX_STORAGE_CLOSED');
        const again = await reopen();
        try {
          const row = await again.get<{ v: Uint8Array }>('SELECT v FROM p WHERE id = 1');
          expect(new Uint8Array(row!.v)).toEqual(new Uint8Array([9, 9]));
        } finally {
          await again.close();
        }
      }));
  });
}
