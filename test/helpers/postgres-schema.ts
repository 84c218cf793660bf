/**
 * The PostgreSQL server the tests run against (FORTRESS_TEST_PG_URL, by default the local test
 * server) and a fresh schema per test, dropped afterwards. Never a skip: without a reachable
 * PostgreSQL these tests fail.
 */
import { randomBytes } from 'node:crypto';
import type { StorageDriver } from '../../src/storage/dialect.js';
import { PostgresDialect, type PostgresDialectOptions } from '../../src/storage/postgres/postgres-dialect.js';

const envUrl = process.env['FORTRESS_TEST_PG_URL'];
export const PG_URL: string =
  envUrl === undefined || envUrl === '' ? 'postgres://postgres@127.0.0.1:5432/test' : envUrl;

async function adminExec(sql: string): Promise<void> {
  const admin = await new PostgresDialect({ url: PG_URL, max: 1 }).createDriver();
  try {
    await admin.exec(sql);
  } finally {
    await admin.close();
  }
}

export interface PgSchema {
  readonly schema: string;
  /** A new driver on the schema (closed by `cleanup`). */
  open(options?: Partial<PostgresDialectOptions>): Promise<StorageDriver>;
  /** Closes every driver opened, then drops the schema. */
  cleanup(): Promise<void>;
}

/** A fresh `fx_test_<random>` schema. */
export async function freshPgSchema(): Promise<PgSchema> {
  const schema = `fx_test_${randomBytes(6).toString('hex')}`;
  await adminExec(`CREATE SCHEMA ${schema}`);
  const drivers: StorageDriver[] = [];
  return {
    schema,
    open: async (options = {}) => {
      const driver = await new PostgresDialect({ url: PG_URL, schema, ...options }).createDriver();
      drivers.push(driver);
      return driver;
    },
    cleanup: async () => {
      for (const driver of drivers.splice(0)) await driver.close();
      await adminExec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}
