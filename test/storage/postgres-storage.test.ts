/**
 * The storage conformance suite on PostgreSQL (the real server named by FORTRESS_TEST_PG_URL, each
 * run in a fresh schema that is dropped afterwards), plus PostgreSQL specifics: options, connection
 * failures that never show the password, error mapping without bound values, large bytea, int8
 * beyond 2^53, placeholder translation, serializable transactions across two drivers.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { StorageDriver } from '../../src/storage/dialect.js';
import { PostgresDialect, type PostgresDialectOptions } from '../../src/storage/postgres/postgres-dialect.js';
import { translatePlaceholders } from '../../src/storage/postgres/postgres-sql.js';
import { FortressError } from '../../src/util/errors.js';
import { expectCode } from '../helpers/expect-code.js';
import { runStorageConformance } from './storage.case.js';

// The local test server by default (the README's `npm test` on a machine like CI's); never a skip:
// without a reachable PostgreSQL these tests fail.
const envUrl = process.env['FORTRESS_TEST_PG_URL'];
const url: string =
  envUrl === undefined || envUrl === '' ? 'postgres://postgres@127.0.0.1:5432/test' : envUrl;

/** Creates a fresh schema; returns its name and a function that drops it. */
async function freshSchema(): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = `fx_test_${randomBytes(6).toString('hex')}`;
  const admin = await new PostgresDialect({ url, max: 1 }).createDriver();
  try {
    await admin.exec(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.close();
  }
  return {
    schema,
    drop: async () => {
      const again = await new PostgresDialect({ url, max: 1 }).createDriver();
      try {
        await again.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await again.close();
      }
    },
  };
}

/** Runs `fn` with a driver on a fresh schema, then closes it and drops the schema. */
async function withSchema(
  fn: (
    db: StorageDriver,
    open: (options?: Partial<PostgresDialectOptions>) => Promise<StorageDriver>,
  ) => Promise<void>,
): Promise<void> {
  const { schema, drop } = await freshSchema();
  const drivers: StorageDriver[] = [];
  const open = async (options: Partial<PostgresDialectOptions> = {}): Promise<StorageDriver> => {
    const driver = await new PostgresDialect({ url, schema, ...options }).createDriver();
    drivers.push(driver);
    return driver;
  };
  try {
    await fn(await open(), open);
  } finally {
    for (const driver of drivers) await driver.close();
    await drop();
  }
}

runStorageConformance(
  'PostgreSQL',
  async () => {
    const { schema, drop } = await freshSchema();
    return {
      driver: await new PostgresDialect({ url, schema }).createDriver(),
      reopen: () => new PostgresDialect({ url, schema }).createDriver(),
      cleanup: drop,
    };
  },
  { int64: 'BIGINT', bytes: 'BYTEA' },
);

describe('PostgreSQL options and connection failures', () => {
  const secret = 'pw-Zq81-secret';

  it('refuses bad options with FX_INVALID_ARGUMENT, never echoing the password', () => {
    const good = `postgres://fortress:${secret}@127.0.0.1:5432/test`;
    for (const bad of [
      null,
      'postgres://x',
      {},
      { url: 42 },
      { url: `not a url ${secret}` },
      { url: `mysql://fortress:${secret}@127.0.0.1/test` },
      { url: good, max: 0 },
      { url: good, max: 1.5 },
      { url: good, max: '10' },
      { url: good, statementTimeoutMs: -1 },
      { url: good, connectTimeoutMs: 0 },
      { url: good, statementCacheSize: 0 },
      { url: good, schema: '' },
      { url: good, schema: 'bad-name' },
      { url: good, schema: 'x" ; DROP SCHEMA public; --' },
      { url: good, schema: 'a'.repeat(64) },
      { url: good, schema: 7 },
    ]) {
      let caught: unknown;
      try {
        new PostgresDialect(bad as never);
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(bad)).toBeInstanceOf(FortressError);
      expect((caught as FortressError).code).toBe('FX_INVALID_ARGUMENT');
      expect((caught as FortressError).message).not.toContain(secret);
    }
    expect(new PostgresDialect({ url: good }).capabilities).toMatchObject({
      placeholders: 'question',
      returning: true,
      transactionalDdl: true,
      concurrentWriters: true,
      rowid: false,
      blobConcat: false,
    });
  });

  it('names host and port of an unreachable server, but not the password', async () => {
    const error = await expectCode(
      new PostgresDialect({ url: `postgres://fortress:${secret}@127.0.0.1:1/test` }).createDriver(),
      'FX_STORAGE_UNAVAILABLE',
    );
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).not.toContain(secret);
    expect(error.cause).toBeUndefined();
    expect(error.stack).not.toContain(secret);
  });

  it('reports a missing database and a missing schema clearly', async () => {
    const target = new URL(url);
    target.pathname = '/fx_no_such_database';
    const noDb = await expectCode(
      new PostgresDialect({ url: target.toString() }).createDriver(),
      'FX_STORAGE',
    );
    expect(noDb.message).toMatch(/fx_no_such_database/);
    expect(noDb.message).toContain(`${target.hostname}:`);
    const noSchema = await expectCode(
      new PostgresDialect({ url, schema: 'fx_no_such_schema' }).createDriver(),
      'FX_STORAGE',
    );
    expect(noSchema.message).toContain('schema "fx_no_such_schema" does not exist');
  });
});

describe('PostgreSQL specifics', () => {
  it("keeps the URL's startup options beside the schema and the statement timeout", () =>
    withSchema(async (base) => {
      const target = new URL(url);
      target.searchParams.set('options', '-c work_mem=8MB');
      const { schema } = (await base.get<{ schema: string }>('SELECT current_schema() AS schema'))!;
      const db = await new PostgresDialect({
        url: target.toString(),
        schema,
        statementTimeoutMs: 200,
      }).createDriver();
      try {
        expect(await db.get('SELECT current_schema() AS s')).toEqual({ s: schema });
        expect(await db.get('SHOW work_mem')).toEqual({ work_mem: '8MB' });
        expect(await db.get('SHOW statement_timeout')).toEqual({ statement_timeout: '200ms' });
        const timedOut = await expectCode(db.get('SELECT pg_sleep(2)'), 'FX_STORAGE');
        expect(timedOut.message).toContain('57014');
      } finally {
        await db.close();
      }
    }));

  it('translates ? outside literals, identifiers and comments, and accepts $n SQL unchanged', async () => {
    expect(
      translatePlaceholders("SELECT ?, '?', \"a?\", E'\\'?', $$?$$, $t$ ? $t$ -- ?\n, /* ? /* ? */ */ ?"),
    ).toEqual({
      text: "SELECT $1, '?', \"a?\", E'\\'?', $$?$$, $t$ ? $t$ -- ?\n, /* ? /* ? */ */ $2",
      parameters: 2,
    });
    expect(translatePlaceholders("SELECT 'it''s ?' || ?")).toEqual({
      text: "SELECT 'it''s ?' || $1",
      parameters: 1,
    });
    expect(translatePlaceholders('SELECT $1::int + $2::int, a$1 FROM t')).toEqual({
      text: 'SELECT $1::int + $2::int, a$1 FROM t',
      parameters: 2,
    });
    expect(() => translatePlaceholders('SELECT ?, $1')).toThrow(FortressError);
    await withSchema(async (db) => {
      expect(await db.get("SELECT ? AS a, '?' AS b, $$?$$ AS c", ['x'])).toEqual({ a: 'x', b: '?', c: '?' });
      expect(await db.get('SELECT $1::int + $2::int AS s', [2, 3])).toEqual({ s: 5 });
      await expectCode(db.get('SELECT ? AS a, $1 AS b', ['x']), 'FX_STORAGE_QUERY');
      await expectCode(db.get('SELECT ?::int AS a', [1, 2]), 'FX_STORAGE_QUERY');
      await expectCode(db.get('SELECT ?::int AS a', [true as never]), 'FX_STORAGE_QUERY');
    });
  });

  it('maps constraint violations to FX_STORAGE_CONSTRAINT without the values involved', () =>
    withSchema(async (db) => {
      await db.exec(`
        CREATE TABLE parent (id TEXT PRIMARY KEY);
        CREATE TABLE child (id BIGINT PRIMARY KEY, parent TEXT REFERENCES parent (id), n INTEGER CHECK (n > 0));
      `);
      await db.run('INSERT INTO parent VALUES (?)', ['sensitive-key-4711']);
      const unique = await expectCode(
        db.run('INSERT INTO parent VALUES (?)', ['sensitive-key-4711']),
        'FX_STORAGE_CONSTRAINT',
      );
      // The engine recognises a duplicate primary key by these words (FX_DUPLICATE_KEY).
      expect(unique.message).toMatch(/unique/i);
      expect(unique.message).toContain('23505');
      const foreign = await expectCode(
        db.run('INSERT INTO child VALUES (1, ?, 1)', ['missing-parent-0815']),
        'FX_STORAGE_CONSTRAINT',
      );
      const check = await expectCode(
        db.run('INSERT INTO child VALUES (2, NULL, ?)', [-5]),
        'FX_STORAGE_CONSTRAINT',
      );
      const data = await expectCode(
        db.run('INSERT INTO child VALUES (?, NULL, 1)', ['not-a-number-9931']),
        'FX_STORAGE_QUERY',
      );
      const range = await expectCode(
        db.run('INSERT INTO child VALUES (3, NULL, ?)', [2 ** 40]),
        'FX_STORAGE_QUERY',
      );
      for (const [error, value] of [
        [unique, 'sensitive-key-4711'],
        [foreign, 'missing-parent-0815'],
        [check, '-5'],
        [data, 'not-a-number-9931'],
        [range, String(2 ** 40)],
      ] as const) {
        expect(error.message).not.toContain(value);
        expect(error.cause).toBeUndefined();
      }
    }));

  it('round-trips a large bytea and reads int8 as number within ±(2^53 − 1), bigint beyond', () =>
    withSchema(async (db) => {
      await db.exec('CREATE TABLE big (id BIGINT PRIMARY KEY, v BYTEA, n BIGINT)');
      const large = randomBytes(8 * 1024 * 1024 + 3);
      await db.run('INSERT INTO big (id, v) VALUES (?, ?)', [1, large]);
      const row = await db.get<{ v: Uint8Array }>('SELECT v FROM big WHERE id = ?', [1]);
      expect(row?.v).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(row!.v).equals(large)).toBe(true);
      // A Uint8Array that views part of a larger buffer binds exactly its own bytes.
      const view = new Uint8Array(new Uint8Array([7, 1, 2, 3, 7]).buffer, 1, 3);
      await db.run('INSERT INTO big (id, v) VALUES (?, ?)', [2, view]);
      expect(await db.get('SELECT octet_length(v) AS len FROM big WHERE id = 2')).toEqual({ len: 3 });
      const values: [bigint, number | bigint][] = [
        [2n ** 53n - 1n, Number.MAX_SAFE_INTEGER],
        [-(2n ** 53n) + 1n, Number.MIN_SAFE_INTEGER],
        [2n ** 53n, 2n ** 53n],
        [-(2n ** 53n), -(2n ** 53n)],
        [2n ** 63n - 1n, 2n ** 63n - 1n],
        [-(2n ** 63n), -(2n ** 63n)],
        [0n, 0],
        [-1n, -1],
      ];
      for (const [i, [stored]] of values.entries()) {
        await db.run('INSERT INTO big (id, n) VALUES (?, ?)', [100 + i, stored]);
      }
      const rows = await db.all<{ n: number | bigint }>('SELECT n FROM big WHERE id >= 100 ORDER BY id');
      expect(rows.map((r) => r.n)).toEqual(values.map(([, expected]) => expected));
      expect(await db.get('SELECT count(*) AS c, true AS t, false AS f, 1.5::float8 AS d FROM big')).toEqual({
        c: 10,
        t: 1,
        f: 0,
        d: 1.5,
      });
      // Types pg would turn into objects stay text, as every value read is a SqlValue.
      const other = await db.get<Record<string, unknown>>(
        `SELECT '2024-01-02'::date AS d, '{"a":1}'::jsonb AS j, ARRAY[1,2] AS a, 12.50::numeric AS m`,
      );
      expect(other).toEqual({ d: '2024-01-02', j: '{"a": 1}', a: '{1,2}', m: '12.50' });
    }));

  it('statements join the transaction body they are issued from; isolatedTransaction never does', () =>
    withSchema(async (db) => {
      await db.exec('CREATE TABLE j (n INTEGER NOT NULL)');
      await expect(
        db.transaction(async (tx) => {
          await tx.run('INSERT INTO j VALUES (1)');
          // Its own connection and snapshot: it neither sees the uncommitted row nor rolls back with it.
          await db.isolatedTransaction(async (own) => {
            expect(await own.all('SELECT n FROM j')).toEqual([]);
            await own.run('INSERT INTO j VALUES (2)');
          });
          expect(db.inTransaction()).toBe(true);
          expect(await db.get('SHOW transaction_isolation')).toEqual({
            transaction_isolation: 'serializable',
          });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await db.all('SELECT n FROM j')).toEqual([{ n: 2 }]);
    }));

  it('a body that swallows a failed statement does not commit', () =>
    withSchema(async (db) => {
      await db.exec('CREATE TABLE s (id INTEGER PRIMARY KEY)');
      await db.run('INSERT INTO s VALUES (1)');
      await expectCode(
        db.transaction(async (tx) => {
          await tx.run('INSERT INTO s VALUES (2)');
          await tx.run('INSERT INTO s VALUES (1)').catch(() => undefined);
        }),
        'FX_STORAGE',
      );
      // With a savepoint around the statement that may fail, the body can go on.
      await db.transaction(async (tx) => {
        await tx.run('INSERT INTO s VALUES (3)');
        await expectCode(
          tx.transaction((inner) => inner.run('INSERT INTO s VALUES (1)')),
          'FX_STORAGE_CONSTRAINT',
        );
        await tx.run('INSERT INTO s VALUES (4)');
      });
      expect((await db.all<{ id: number }>('SELECT id FROM s ORDER BY id')).map((r) => r.id)).toEqual([
        1, 3, 4,
      ]);
    }));

  it('iterates inside a transaction, with parameters, and across several fetches', () =>
    withSchema(async (db) => {
      await db.exec('CREATE TABLE it (id INTEGER PRIMARY KEY)');
      await db.runBatch(
        'INSERT INTO it VALUES (?)',
        Array.from({ length: 1234 }, (_, i) => [i + 1]),
      );
      const seen = await db.transaction(async (tx) => {
        let count = 0;
        for await (const row of tx.iterate<{ id: number }>(
          'SELECT id FROM it WHERE id > ? ORDER BY id',
          [34],
        )) {
          expect(row.id).toBe(35 + count);
          count++;
        }
        return count;
      });
      expect(seen).toBe(1200);
      await expectCode(async () => {
        const rows: unknown[] = [];
        for await (const row of db.iterate('INSERT INTO it VALUES (9999) RETURNING id')) rows.push(row);
      }, 'FX_STORAGE_QUERY');
      expect(await db.get('SELECT count(*) AS c FROM it')).toEqual({ c: 1234 });
    }));

  it('keeps working after a schema change invalidates a prepared statement', () =>
    withSchema(async (db) => {
      await db.exec('CREATE TABLE alt (id INTEGER PRIMARY KEY)');
      await db.run('INSERT INTO alt VALUES (1)');
      expect(await db.all('SELECT * FROM alt')).toEqual([{ id: 1 }]);
      await db.exec('ALTER TABLE alt ADD COLUMN v TEXT');
      expect(await db.all('SELECT * FROM alt')).toEqual([{ id: 1, v: null }]);
      expect(await db.transaction((tx) => tx.all('SELECT * FROM alt'))).toEqual([{ id: 1, v: null }]);
    }));

  it('two drivers running read-modify-write transactions on one row lose no update', () =>
    withSchema(async (first, open) => {
      const second = await open({ max: 4 });
      await first.exec('CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)');
      await first.run('INSERT INTO counter VALUES (1, 0)');
      const increment = (db: StorageDriver): Promise<void> =>
        db.transaction(async (tx) => {
          const row = await tx.get<{ n: number }>('SELECT n FROM counter WHERE id = 1');
          await new Promise((resolve) => setTimeout(resolve, 1));
          await tx.run('UPDATE counter SET n = ? WHERE id = 1', [row!.n + 1]);
        });
      await Promise.all(Array.from({ length: 12 }, (_, i) => increment(i % 2 === 0 ? first : second)));
      expect(await second.get('SELECT n FROM counter WHERE id = 1')).toEqual({ n: 12 });
    }));

  it('a connection the server drops fails clearly, and the pool carries on with a new one', () =>
    withSchema(async (db, open) => {
      const other = await open({ max: 1 });
      const kill = (pid: number): Promise<unknown> =>
        other.get('SELECT pg_terminate_backend(?::int) AS killed', [pid]);
      const dropped = await expectCode(
        db.transaction(async (tx) => {
          const { pid } = (await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))!;
          await kill(pid);
          await tx.get('SELECT 1 AS one');
        }),
        'FX_STORAGE_UNAVAILABLE',
      );
      expect(dropped.message).toContain(new URL(url).hostname);
      expect(await db.get('SELECT 1 AS one')).toEqual({ one: 1 });
      // An idle pooled connection dropped by the server must not crash the process either.
      const { pid } = (await db.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))!;
      await kill(pid);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await db.get('SELECT 2 AS two')).toEqual({ two: 2 });
    }));

  it('refuses a session after its transaction ended, and new work after close', () =>
    withSchema(async (db) => {
      let late: Parameters<Parameters<StorageDriver['transaction']>[0]>[0] | undefined;
      await db.transaction((tx) => {
        late = tx;
        return Promise.resolve();
      });
      await expectCode(late!.get('SELECT 1 AS one'), 'FX_STORAGE_CLOSED');
      await db.close();
      await expectCode(
        db.transaction(() => Promise.resolve()),
        'FX_STORAGE_CLOSED',
      );
      await expectCode(
        db.isolatedTransaction(() => Promise.resolve()),
        'FX_STORAGE_CLOSED',
      );
      await expectCode(db.runBatch('SELECT 1', []), 'FX_STORAGE_CLOSED');
      await expectCode(async () => {
        const rows: unknown[] = [];
        for await (const row of db.iterate('SELECT 1 AS one')) rows.push(row);
      }, 'FX_STORAGE_CLOSED');
    }));
});
