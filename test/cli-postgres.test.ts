/**
 * The embedded CLI on a data directory whose data lives in PostgreSQL: the database comes from the
 * servers' variables (FORTRESS_STORAGE_URL, _SCHEMA), never from the directory. init, unseal with
 * shares, status, keys, audit verify (offline, against PostgreSQL); without the URL, a clear error.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, freshPgSchema, type PgSchema } from './helpers/postgres-schema.js';
import { runCli } from './helpers/run-cli.js';

let tmp: string;
let dir: string;
let pg: PgSchema;
let env: Record<string, string>;
let shares: string[];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'fx-cli-pg-'));
  dir = path.join(tmp, 'data');
  pg = await freshPgSchema();
  env = {
    FORTRESS_STORAGE_KIND: 'postgres',
    FORTRESS_STORAGE_URL: PG_URL,
    FORTRESS_STORAGE_SCHEMA: pg.schema,
  };
});

afterAll(async () => {
  await pg.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

describe('the embedded CLI on a PostgreSQL data directory', () => {
  it('init creates the keys in PostgreSQL; the directory keeps no URL', async () => {
    const init = await runCli(['init', '--data', dir, '--shares', '3', '--threshold', '2', '--json'], {
      env,
    });
    expect(init.status, init.stderr).toBe(0);
    shares = (JSON.parse(init.stdout) as { shares: string[] }).shares;
    const manifest = await readFile(path.join(dir, 'fortress.json'), 'utf8');
    expect(JSON.parse(manifest)).toMatchObject({ storage: 'postgres' });
    expect(manifest).not.toContain('127.0.0.1');
    const driver = await pg.open();
    expect((await driver.all('SELECT name FROM fx_meta')).length).toBeGreaterThan(0);
  });

  it('status, keys and audit verify work with the servers\u2019 variables', async () => {
    const status = await runCli(['status', '--data', dir, '--json'], { env });
    expect(status.status, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ initialized: true, seal: 'shamir' });
    const create = await runCli(['keys', 'create', 'app/k', '--purpose', 'kek', '--data', dir], {
      env,
      input: `${shares[0]}\n${shares[2]}\n`,
    });
    expect(create.status, create.stderr).toBe(0);
    const list = await runCli(['keys', 'list', '--data', dir, '--json'], {
      env,
      input: `${shares[1]}\n${shares[2]}\n`,
    });
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toContain('app/k');
    const verify = await runCli(['audit', 'verify', '--data', dir, '--json'], { env });
    expect(verify.status, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  }, 60_000);

  it('without FORTRESS_STORAGE_URL: a clear error, exit 2, nothing touched', async () => {
    const run = await runCli(['status', '--data', dir]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('keeps its data in PostgreSQL: set FORTRESS_STORAGE_URL');
    expect(run.stderr).toContain('FX_CONFIG_INVALID');
    const withPassword = await runCli(['status', '--data', dir], {
      env: { ...env, FORTRESS_STORAGE_URL: PG_URL.replace('postgres@', 'postgres:hunter22@') },
    });
    expect(withPassword.status).not.toBe(0);
    expect(withPassword.stderr).toContain('FORTRESS_STORAGE_PASSWORD');
    expect(withPassword.stderr).not.toContain('hunter22');
  });
});
