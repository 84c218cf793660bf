/**
 * `fortress database … --server URL`: the database secrets commands as an operator runs them —
 * the built CLI in child processes against a real `fortress server` child process, with the shared
 * PostgreSQL of FORTRESS_TEST_PG_URL as the target: a connection written with its password on
 * stdin (never a flag), a role, credentials whose user exists on the target, lease lookup, renewal,
 * listing and revocation, a static role, and usage errors (exit 2) before anything is sent. Every
 * user created carries this run's tag and is dropped in afterAll.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from './helpers/run-cli.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

const TARGET_URL = process.env['FORTRESS_TEST_PG_URL'];
if (TARGET_URL === undefined || TARGET_URL === '') {
  throw new Error('FORTRESS_TEST_PG_URL is not set: the database CLI tests need a PostgreSQL target');
}
const target = new URL(TARGET_URL);
const TAG = `dbc${randomBytes(3).toString('hex')}`;
const ROLE = `${TAG}-app`;
const CREATE_LOGIN = `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`;

let tmp: string;
let server: ServerProcess;
let ca: string;
let env: Record<string, string>;

function remote(args: string[], input?: string): Promise<CliRun> {
  return runCli([...args, '--server', server.url, '--ca-cert', ca], {
    env,
    ...(input === undefined ? {} : { input }),
  });
}

/** `database config write shared` for the test target, with `flags` added. */
function writeShared(flags: string[]): string[] {
  return [
    'database',
    'config',
    'write',
    'shared',
    '--connection-url',
    `postgresql://{{username}}:{{password}}@${target.host}${target.pathname}`,
    '--username',
    decodeURIComponent(target.username) || 'postgres',
    ...flags,
  ];
}

async function ok(args: string[], input?: string): Promise<string> {
  const run = await remote(args, input);
  expect(run.status, `${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: TARGET_URL });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const userExists = async (name: string): Promise<boolean> =>
  (await query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).length === 1;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-database-'));
  const dataDir = path.join(tmp, 'data');
  server = await startServerProcess(dataDir, { FORTRESS_LOG_LEVEL: 'silent' });
  ca = path.join(dataDir, 'tls', 'server.crt');
  env = { FORTRESS_HOME: path.join(tmp, 'home') };
  const init = await remote(['init', '--shares', '1', '--threshold', '1', '--json']);
  expect(init.status, init.stderr).toBe(0);
  env['FORTRESS_TOKEN'] = (JSON.parse(init.stdout) as { rootToken: string }).rootToken;
}, 60_000);

afterAll(async () => {
  await remote(['database', 'lease', 'revoke-prefix', 'database/creds/']);
  await server.stop();
  for (const row of await query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [
    `${TAG}%`,
  ])) {
    await query(`DROP ROLE IF EXISTS "${row.rolname}"`);
  }
  await rm(tmp, { recursive: true, force: true });
}, 60_000);

describe('fortress database (remote)', () => {
  it('bad flags and missing arguments: exit 2 with FX_CLI_USAGE, before anything is sent', async () => {
    const CONFIG_X = ['database', 'config', 'write', 'x', '--connection-url', 'u', '--username', 'u'];
    for (const args of [
      ['database'],
      ['database', 'frobnicate'],
      ['database', 'config'],
      ['database', 'config', 'frob'],
      ['database', 'config', 'read'],
      ['database', 'config', 'write', 'x', '--username', 'u', '--allowed-roles', 'r'],
      [...CONFIG_X, '--allowed-roles', ','],
      ['database', 'config', 'list', 'extra'],
      ['database', 'config', 'write', 'x', '--password', 'p'],
      ['database', 'role', 'write', 'r', '--connection', 'c', '--default-ttl', '1h', '--max-ttl', '2h'],
      [
        'database',
        'role',
        'write',
        'r',
        '--connection',
        'c',
        '--creation-statement',
        's',
        '--default-ttl',
        'soon',
        '--max-ttl',
        '2h',
      ],
      ['database', 'creds'],
      ['database', 'creds', 'r', '--ttl', 'forever'],
      ['database', 'lease', 'renew'],
      ['database', 'lease', 'renew', 'id', '--increment', 'x'],
      ['database', 'static-role', 'write', 's', '--connection', 'c', '--username', 'u'],
      ['database', 'reset'],
      [...CONFIG_X, '--allowed-roles', 'r', '--password-length', '8'],
    ]) {
      const run = await remote(args);
      expect(run.status, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr, args.join(' ')).toContain('[FX_CLI_USAGE]');
    }
  });

  it('config (password on stdin), role, creds, lease lookup / renew / list / revoke, static role', async () => {
    const adminPassword = `cli-admin-${randomBytes(6).toString('hex')}`;
    const written = await ok(writeShared(['--allowed-roles', `${TAG}-*`]), `${adminPassword}\n`);
    expect(written).toMatch(/^name\s+shared$/m);
    expect(written).not.toContain(adminPassword);
    expect(await ok(['database', 'config', 'list'])).toBe('shared\n');
    // An update of the same target keeps the stored password (after rotate-root only Fortress has it).
    const kept = await ok(writeShared(['--allowed-roles', `${TAG}-*,${TAG}x-*`, '--keep-password']));
    expect(kept).toMatch(/^allowedRoles\s+/m);
    const longer = await ok(
      writeShared(['--allowed-roles', `${TAG}-*,${TAG}x-*`, '--password-length', '40', '--keep-password']),
    );
    expect(longer).toMatch(/^passwordLength\s+40$/m);
    expect(await ok(['database', 'reset', 'shared'])).toBe(
      'closed the pooled sessions of shared; the next use reconnects\n',
    );

    await ok([
      'database',
      'role',
      'write',
      ROLE,
      '--connection',
      'shared',
      '--creation-statement',
      CREATE_LOGIN,
      '--default-ttl',
      '1h',
      '--max-ttl',
      '2h',
    ]);
    // Tables show durations as such; JSON keeps the API's milliseconds.
    const roleTable = await ok(['database', 'role', 'read', ROLE]);
    expect(roleTable).toMatch(/^defaultTtl\s+1h$/m);
    expect(roleTable).toMatch(/^maxTtl\s+2h$/m);
    expect(JSON.parse(await ok(['database', 'role', 'read', ROLE, '--json']))).toMatchObject({
      defaultTtl: 3_600_000,
      maxTtl: 7_200_000,
    });

    const creds = JSON.parse(await ok(['database', 'creds', ROLE, '--ttl', '10m', '--json'])) as {
      leaseId: string;
      username: string;
      password: string;
    };
    expect(await userExists(creds.username)).toBe(true);
    expect(await ok(['database', 'lease', 'lookup', creds.leaseId])).toMatch(/^state\s+active$/m);
    expect(await ok(['database', 'lease', 'renew', creds.leaseId, '--increment', '30m'])).toMatch(
      /^state\s+active$/m,
    );
    expect(await ok(['database', 'lease', 'list', '--role', ROLE])).toContain(creds.username);
    expect(await ok(['database', 'lease', 'revoke', creds.leaseId])).toBe(`revoked ${creds.leaseId}\n`);
    expect(await userExists(creds.username)).toBe(false);
    const gone = await remote(['database', 'lease', 'lookup', creds.leaseId]);
    expect(gone.status).not.toBe(0);
    expect(gone.stderr).toContain('[FX_DB_LEASE_NOT_FOUND]');

    const staticUser = `${TAG}_static`;
    await query(`CREATE ROLE "${staticUser}" LOGIN PASSWORD 'initial'`);
    await ok([
      'database',
      'static-role',
      'write',
      `${TAG}-static`,
      '--connection',
      'shared',
      '--username',
      staticUser,
      '--rotation-period',
      '24h',
    ]);
    const first = JSON.parse(await ok(['database', 'static-creds', `${TAG}-static`, '--json'])) as {
      password: string;
    };
    await ok(['database', 'static-role', 'rotate', `${TAG}-static`]);
    const second = JSON.parse(await ok(['database', 'static-creds', `${TAG}-static`, '--json'])) as {
      username: string;
      password: string;
    };
    expect(second.username).toBe(staticUser);
    expect(second.password).not.toBe(first.password);
    expect(await ok(['database', 'static-role', 'delete', `${TAG}-static`])).toBe(
      `deleted static role ${TAG}-static\n`,
    );
    const inUse = await remote(['database', 'config', 'delete', 'shared']);
    expect(inUse.stderr).toContain('[FX_DB_IN_USE]');
  });
});
