/**
 * `fortress … --server URL`: the remote CLI as an operator runs it — the built CLI in child
 * processes, against a real `fortress server` child process with its self-signed certificate
 * trusted through `--ca-cert` (or FORTRESS_CACERT), the token in FORTRESS_HOME or FORTRESS_TOKEN.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLEAN_ENV, CLI, runCli, type CliRun } from './helpers/run-cli.js';

const BASE_ENV = CLEAN_ENV;
type Run = CliRun;

function fortress(
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  return runCli(args, options);
}

/** Starts `fortress server` on a free port; resolves with its URL once it listens. */
function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, 'server', '--data', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'silent'],
      { env: BASE_ENV, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const timer = setTimeout(() => {
      reject(new Error(`server did not start: ${output}`));
    }, 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      output += d;
      const match = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, url: match[1]! });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${String(code)}): ${output}`));
    });
  });
}

function stopServer(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => {
      resolve();
    });
    child.kill('SIGTERM');
  });
}

describe('fortress remote CLI', () => {
  let tmp: string;
  let server: ChildProcess | undefined;
  let url: string;
  let ca: string;
  let home: string;
  let env: Record<string, string>;
  let rootToken: string;
  let shares: string[];
  const password = 'remote-cli-test-password-41';

  /** Runs a remote command against the test server, logged in through FORTRESS_HOME. */
  const remote = (args: string[], input?: string, extraEnv: Record<string, string> = {}): Promise<Run> =>
    fortress([...args, '--server', url, '--ca-cert', ca], {
      ...(input === undefined ? {} : { input }),
      env: { ...env, ...extraEnv },
    });

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-remote-'));
    home = path.join(tmp, 'home');
    env = { FORTRESS_HOME: home };
    const started = await startServer(path.join(tmp, 'data'));
    server = started.child;
    url = started.url;
    ca = path.join(tmp, 'data', 'tls', 'server.crt');
  }, 60_000);

  afterAll(async () => {
    if (server !== undefined) await stopServer(server);
    await rm(tmp, { recursive: true, force: true });
  }, 60_000);

  it('bad flags and missing arguments: exit 2 with FX_CLI_USAGE', async () => {
    for (const args of [
      ['get', 'people', '--bogus'],
      ['token', 'create', '--token', 'abc'],
      ['table', 'list', '--token=abc'],
      ['insert', 'people'],
      ['find', 'people', '--limit', 'many'],
      ['find', 'people', '--where', '{not json'],
      ['table', 'frobnicate'],
      ['get', 'people'],
      ['init', '--shares', '3'],
    ]) {
      const run = await remote(args);
      expect(run.status, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toContain('[FX_CLI_USAGE]');
    }
    // A remote-only command without any server address says how to give one.
    const none = await fortress(['table', 'list'], { env });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no server: pass --server URL or set FORTRESS_ADDR \[FX_CLI_USAGE\]/);
  });

  it('an unreachable server: exit 2 and "is `fortress server` running?"', async () => {
    const run = await fortress(['status', '--server', 'https://127.0.0.1:1'], { env });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('cannot reach https://127.0.0.1:1: is `fortress server` running?');
    // Without the CA the self-signed certificate is refused, and the message says what to do.
    const untrusted = await fortress(['status', '--server', url], { env });
    expect(untrusted.status).toBe(2);
    expect(untrusted.stderr).toMatch(/certificate is not trusted.*--ca-cert FILE/);
  });

  it('status before init, and a data command before init names `fortress init`', async () => {
    const status = await remote(['status', '--json']);
    expect(status.status, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ initialized: false });
    const list = await remote(['table', 'list'], undefined, { FORTRESS_TOKEN: 'fxt_not-a-real-token' });
    expect(list.status).toBe(2);
    expect(list.stderr).toContain(`run \`fortress init --server ${url}\``);
  });

  it('init prints the shares and the root token once, with a warning', async () => {
    const run = await remote(['init', '--shares', '3', '--threshold', '2', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { shares: string[]; rootToken: string; threshold: number };
    expect(result.shares).toHaveLength(3);
    expect(result.threshold).toBe(2);
    expect(run.stderr).toMatch(/shown ONCE.*Store each share apart/s);
    shares = result.shares;
    rootToken = result.rootToken;
    // A second init is refused by the server, reported as an error.
    const again = await remote(['init']);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^fortress: .* \[FX_[A-Z_]+\]\n$/);
  });

  it('without a token: a helpful error naming `fortress login`', async () => {
    const run = await remote(['table', 'list']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('no token: run `fortress login');
    const bad = await remote(['table', 'list'], undefined, { FORTRESS_TOKEN: 'fxt_not-a-real-token' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/run `fortress login.*\[FX_UNAUTHENTICATED\]/);
  });

  it('user passwd and login read the password from stdin; the token file is 0600 in a 0700 dir', async () => {
    const passwd = await remote(['user', 'passwd', 'admin'], `${password}\n`, { FORTRESS_TOKEN: rootToken });
    expect(passwd.status, passwd.stderr).toBe(0);
    expect(passwd.stdout).toContain('password set for admin');
    const login = await remote(['login', 'admin'], `${password}\n`);
    expect(login.status, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/logged in as default\/admin; token saved to/);
    const token = (await readFile(path.join(home, 'token'), 'utf8')).trim();
    expect(token.length).toBeGreaterThan(10);
    for (const output of [passwd.stdout, passwd.stderr, login.stdout, login.stderr]) {
      expect(output).not.toContain(token);
      expect(output).not.toContain(password);
    }
    expect((await stat(path.join(home, 'token'))).mode & 0o777).toBe(0o600);
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    const wrong = await remote(['login', 'admin'], 'not-the-password\n');
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('[FX_LOGIN_FAILED]');
  });

  it('token create, lookup, renew and revoke', async () => {
    const lookup = await remote(['token', 'lookup', '--json']);
    expect(lookup.status, lookup.stderr).toBe(0);
    const self = JSON.parse(lookup.stdout) as { accessor: string; principal: { name: string } };
    expect(self.principal.name).toBe('admin');
    expect(lookup.stdout).not.toContain((await readFile(path.join(home, 'token'), 'utf8')).trim());

    const created = await remote(['token', 'create', '--ttl', '600', '--uses', '5', '--json']);
    expect(created.status, created.stderr).toBe(0);
    const grant = JSON.parse(created.stdout) as {
      token: string;
      info: { accessor: string; usesLeft: number };
    };
    expect(grant.token).toMatch(/^fxt_/);
    expect(grant.info.usesLeft).toBe(5);
    const child = await remote(['token', 'lookup'], undefined, { FORTRESS_TOKEN: grant.token });
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout).toMatch(/^accessor\s+\S+$/m);
    expect(child.stdout).not.toContain(grant.token);

    const renewed = await remote(['token', 'renew']);
    expect(renewed.status, renewed.stderr).toBe(0);
    expect(renewed.stdout).toContain(`renewed: token ${self.accessor}`);

    const revoked = await remote(['token', 'revoke', grant.info.accessor, '--json']);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: 1 });
    const gone = await remote(['token', 'lookup'], undefined, { FORTRESS_TOKEN: grant.token });
    expect(gone.status).toBe(2);
    expect(gone.stderr).toContain('run `fortress login');
  });

  it('tables: create from a schema file, list, describe (aligned and --json)', async () => {
    const schema = path.join(tmp, 'people.json');
    await writeFile(
      schema,
      JSON.stringify({
        columns: {
          id: { type: 'integer', primaryKey: true },
          email: { type: 'text', encrypt: { search: 'equality' } },
          name: { type: 'text' },
          note: { type: 'text' },
        },
      }),
    );
    const created = await remote(['table', 'create', 'people', '--schema', schema]);
    expect(created.status, created.stderr).toBe(0);
    expect(created.stdout).toContain('created table people');
    expect(created.stdout).toMatch(/^column\s+type\s+primaryKey/m);
    const list = await remote(['table', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toContain('people');
    const scratch = await remote(['table', 'create', 'scratch', '--schema', schema]);
    expect(scratch.status, scratch.stderr).toBe(0);
    const dropped = await remote(['table', 'drop', 'scratch']);
    expect(dropped.status, dropped.stderr).toBe(0);
    expect(dropped.stdout).toContain('dropped table scratch');
    expect(JSON.parse((await remote(['table', 'list', '--json'])).stdout)).toEqual(['people']);
    const described = await remote(['table', 'describe', 'people', '--json']);
    const table = JSON.parse(described.stdout) as { columns: { name: string }[] };
    expect(table.columns.map((c) => c.name)).toEqual(['id', 'email', 'name', 'note']);
  });

  it('rows: insert, get, find, count, update, delete; aligned tables truncate long values', async () => {
    const long = 'x'.repeat(200);
    const one = await remote([
      'insert',
      'people',
      '--row',
      JSON.stringify({ id: 1, email: 'ann@example.com', name: 'Ann', note: long }),
      '--json',
    ]);
    expect(one.status, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ id: 1, name: 'Ann' });

    const file = path.join(tmp, 'more.ndjson');
    const rows = Array.from({ length: 30 }, (_, i) => ({
      id: i + 2,
      email: `user${i + 2}@example.com`,
      name: `User ${i + 2}`,
      note: null,
    }));
    await writeFile(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const many = await remote(['insert', 'people', '--file', file]);
    expect(many.status, many.stderr).toBe(0);
    expect(many.stdout).toContain('inserted 30 rows into people');

    const got = await remote(['get', 'people', '1', '--select', 'id,name', '--json']);
    expect(JSON.parse(got.stdout)).toEqual({ id: 1, name: 'Ann' });

    const found = await remote(['find', 'people', '--where', '{"email":"ann@example.com"}']);
    expect(found.status, found.stderr).toBe(0);
    const lines = found.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^id\s+email\s+name\s+note$/);
    expect(lines[1]).toMatch(/^-+\s+-+/);
    expect(lines[2]).toContain('ann@example.com');
    expect(lines[2]).toContain('…');
    expect(lines[2]).not.toContain(long);
    // Columns are aligned: every line puts "email" values at the header's offset.
    expect(lines[2]!.indexOf('ann@example.com')).toBe(lines[0]!.indexOf('email'));

    const limited = await remote(['find', 'people', '--limit', '5', '--select', 'id', '--json']);
    expect(JSON.parse(limited.stdout)).toHaveLength(5);

    const counted = await remote(['count', 'people', '--json']);
    expect(JSON.parse(counted.stdout)).toEqual({ count: 31 });
    const countWhere = await remote(['count', 'people', '--where', '{"email":"user7@example.com"}']);
    expect(countWhere.stdout.trim()).toBe('1');

    const updated = await remote(['update', 'people', '2', '--set', '{"name":"Bea"}']);
    expect(updated.status, updated.stderr).toBe(0);
    expect(JSON.parse((await remote(['get', 'people', '2', '--json'])).stdout)).toMatchObject({
      name: 'Bea',
    });

    const deleted = await remote(['delete', 'people', '31']);
    expect(deleted.status, deleted.stderr).toBe(0);
    const missing = await remote(['get', 'people', '31']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('[FX_ROW_NOT_FOUND]');
  });

  it('import (ndjson and csv) and export (ndjson to a file, csv to stdout)', async () => {
    const ndjson = path.join(tmp, 'import.ndjson');
    await writeFile(
      ndjson,
      Array.from({ length: 50 }, (_, i) =>
        JSON.stringify({ id: 100 + i, email: `imp${i}@example.com`, name: `Imp ${i}` }),
      ).join('\n'),
    );
    const imported = await remote(['import', 'people', ndjson, '--json']);
    expect(imported.status, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toEqual({ inserted: 50 });

    const csv = path.join(tmp, 'import.csv');
    await writeFile(
      csv,
      'id,email,name,note\n200,"csv@example.com","Smith, Jo","a ""quoted"" note"\n201,c2@example.com,Lee,\n',
    );
    const csvImported = await remote(['import', 'people', csv]);
    expect(csvImported.status, csvImported.stderr).toBe(0);
    expect(csvImported.stdout).toContain('imported 2 rows into people');
    expect(JSON.parse((await remote(['get', 'people', '200', '--json'])).stdout)).toEqual({
      id: 200,
      email: 'csv@example.com',
      name: 'Smith, Jo',
      note: 'a "quoted" note',
    });

    const out = path.join(tmp, 'export.ndjson');
    const exported = await remote(['export', 'people', '--out', out]);
    expect(exported.status, exported.stderr).toBe(0);
    expect(exported.stdout).toContain('exported 82 rows of people');
    const exportedRows = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number });
    expect(exportedRows).toHaveLength(82);
    expect((await stat(out)).mode & 0o777).toBe(0o600);

    const csvOut = await remote(['export', 'people', '--format', 'csv']);
    expect(csvOut.status, csvOut.stderr).toBe(0);
    const csvLines = csvOut.stdout.trim().split('\n');
    expect(csvLines[0]).toBe('id,email,name,note');
    expect(csvLines).toHaveLength(83);
  });

  it('keys list and rotate', async () => {
    const list = await remote(['keys', 'list', '--json']);
    expect(list.status, list.stderr).toBe(0);
    const keys = JSON.parse(list.stdout) as { name: string; activeVersion: number }[];
    const key = keys.find((k) => k.name.includes('people') && k.name.includes('col.email'));
    expect(key).toBeDefined();
    const table = await remote(['keys', 'list']);
    expect(table.stdout).toMatch(/^name\s+purpose\s+algorithm/);
    const rotated = await remote(['keys', 'rotate', key!.name, '--json']);
    expect(rotated.status, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ activeVersion: key!.activeVersion + 1 });
    // Rows written under the old version still read.
    expect((await remote(['get', 'people', '1', '--json'])).status).toBe(0);
  });

  it('keys export writes a signed backup over HTTP that keys import restores offline', async () => {
    const recipientKey = path.join(tmp, 'dr.key');
    const made = await fortress(['keys', 'recipient', '--out', recipientKey], { env });
    expect(made.status, made.stderr).toBe(0);
    const backup = path.join(tmp, 'keys.fxbk');
    const exported = await remote(['keys', 'export', '--to', `${recipientKey}.pub`, '--out', backup]);
    expect(exported.status, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/^Wrote .*keys\.fxbk: \d+ keys, \d+ versions/m);
    expect((await stat(backup)).mode & 0o777).toBe(0o600);
    const signers = JSON.parse(await readFile(`${backup}.signers.json`, 'utf8')) as Record<string, string>;
    expect(Object.keys(signers).sort()).toEqual(['ed25519', 'mlDsa65']);
    // Never over an existing file.
    const again = await remote(['keys', 'export', '--to', `${recipientKey}.pub`, '--out', backup]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('does it already exist?');

    const restored = path.join(tmp, 'restored');
    const imported = await fortress(
      [
        'keys',
        'import',
        backup,
        '--recipient-key',
        recipientKey,
        '--trust',
        `${backup}.signers.json`,
        '--data',
        restored,
        '--json',
      ],
      { env },
    );
    expect(imported.status, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ dataDir: restored, seal: 'shamir' });
  });

  it('keys config sets and clears a rotation schedule and the minimum decryption version', async () => {
    const listed = async (): Promise<{ name: string; rotationPeriod: string | null }[]> =>
      JSON.parse((await remote(['keys', 'list', '--json'])).stdout) as {
        name: string;
        rotationPeriod: string | null;
      }[];
    const name = (await listed()).find(
      (k) => k.name.includes('people') && k.name.includes('col.email'),
    )!.name;
    const set = await remote(['keys', 'config', name, '--rotation-period', '30d', '--json']);
    expect(set.status, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ name, rotationPeriod: '30d' });
    expect((await listed()).find((k) => k.name === name)!.rotationPeriod).toBe('30d');

    const both = await remote([
      'keys',
      'config',
      name,
      '--rotation-period',
      'none',
      '--min-decryption-version',
      '1',
    ]);
    expect(both.status, both.stderr).toBe(0);
    expect(both.stdout).toBe(`${name}: versions below 1 refuse to decrypt; rotation by hand only\n`);
    expect((await listed()).find((k) => k.name === name)!.rotationPeriod).toBeNull();

    for (const args of [
      ['keys', 'config', name],
      ['keys', 'config', '--rotation-period', '30d'],
      ['keys', 'config', name, '--rotation-period', 'monthly'],
      ['keys', 'config', name, '--min-decryption-version', '0'],
      ['keys', 'rotate', name, '--rotation-period', '30d'],
    ]) {
      const run = await remote(args);
      expect(run.status, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toContain('[FX_CLI_USAGE]');
    }
    // Well-formed but under an hour: the server refuses it, and nothing changes.
    const short = await remote(['keys', 'config', name, '--rotation-period', '30m']);
    expect(short.status).toBe(2);
    expect(short.stderr).toContain('[FX_INVALID_ARGUMENT]');
    expect((await listed()).find((k) => k.name === name)!.rotationPeriod).toBeNull();
  });

  it('policy list, add (JSON and Cedar files) and remove', async () => {
    const json = path.join(tmp, 'p.json');
    await writeFile(
      json,
      JSON.stringify({
        'readers-read':
          'permit (principal in Fortress::Role::"default/reader", action == Fortress::Action::"read", resource);',
      }),
    );
    const added = await remote(['policy', 'add', json]);
    expect(added.status, added.stderr).toBe(0);
    expect(added.stdout).toContain('added 1 policy: readers-read');
    const list = await remote(['policy', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((p) => p.id)).toContain('readers-read');
    const cedar = path.join(tmp, 'p.cedar');
    await writeFile(
      cedar,
      '@id("auditors-audit")\npermit (principal in Fortress::Role::"default/auditor", action == Fortress::Action::"readAudit", resource);\n',
    );
    const cedarAdded = await remote(['policy', 'add', cedar, '--json']);
    expect(cedarAdded.status, cedarAdded.stderr).toBe(0);
    expect(JSON.parse(cedarAdded.stdout)).toEqual({ added: ['auditors-audit'] });
    expect((await remote(['policy', 'remove', 'auditors-audit'])).status).toBe(0);
    const removed = await remote(['policy', 'remove', 'readers-read']);
    expect(removed.status, removed.stderr).toBe(0);
    const after = await remote(['policy', 'list', '--json']);
    expect((JSON.parse(after.stdout) as { id: string }[]).map((p) => p.id)).not.toContain('readers-read');
    const invalid = await remote(['policy', 'add', path.join(tmp, 'no-such-file.cedar')]);
    expect(invalid.status).toBe(2);
  });

  it('access: roles, users and service accounts on the server; a per-user KV folder end to end', async () => {
    expect((await remote(['access', 'role', 'add', 'staff'])).stdout).toContain('added role staff');
    const added = await remote(['access', 'user', 'add', 'ann', '--roles', 'staff']);
    expect(added.status, added.stderr).toBe(0);
    expect(added.stdout).toContain('added user ann');
    // add refuses to overwrite; update keeps what no flag changes.
    const again = await remote(['access', 'user', 'add', 'ann']);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('user ann exists already; change it with fortress access user update');
    expect(again.stderr).toContain('[FX_POLICY_CONFLICT]');
    expect((await remote(['access', 'user', 'update', 'ann', '--clearance', 'secret'])).status).toBe(0);
    expect((await remote(['access', 'user', 'update', 'zed'])).stderr).toContain('[FX_NOT_FOUND]');
    expect((await remote(['access', 'user', 'add', 'ci', '--service', '--roles', 'staff'])).stdout).toContain(
      'added service account ci',
    );
    const listed = JSON.parse((await remote(['access', 'list', '--json'])).stdout) as {
      principals: { kind: string; name: string; clearance: string; roles: string[] }[];
    };
    expect(listed.principals.find((p) => p.name === 'ann')).toMatchObject({
      kind: 'user',
      clearance: 'secret',
      roles: ['staff'],
    });
    expect(listed.principals.find((p) => p.name === 'ci')).toMatchObject({
      kind: 'service',
      roles: ['staff'],
    });
    expect((await remote(['access', 'list'])).stdout).toMatch(
      /user {4}default\/ann +clearance secret +roles staff/,
    );
    // roles-of: direct roles, a group's, and what those inherit.
    expect((await remote(['access', 'role', 'add', 'reader'])).status).toBe(0);
    expect((await remote(['access', 'role', 'add', 'auditor', '--inherits', 'reader'])).status).toBe(0);
    expect((await remote(['access', 'group', 'add', 'oncall', '--roles', 'auditor'])).status).toBe(0);
    expect((await remote(['access', 'user', 'update', 'ann', '--groups', 'oncall'])).status).toBe(0);
    const held = await remote(['access', 'roles-of', 'ann']);
    expect(held.status, held.stderr).toBe(0);
    expect(held.stdout).toBe('auditor\nreader\nstaff\n');
    expect(JSON.parse((await remote(['access', 'roles-of', 'ci', '--service', '--json'])).stdout)).toEqual([
      'staff',
    ]);
    // Bad input: a flag the action does not take, an unknown action, an unknown principal.
    const stray = await remote(['access', 'user', 'remove', 'ann', '--clearance', 'x']);
    expect(stray.stderr).toContain('fortress access user remove takes no --clearance');
    expect((await remote(['access', 'role', 'rename', 'staff'])).stderr).toContain('expected add, remove');
    const nobody = await remote(['access', 'roles-of', 'zed']);
    expect(nobody.status).toBe(2);
    expect(nobody.stderr).toContain('no user "default/zed"');
    expect((await remote(['access', 'roles-of', 'ann', '--roles', 'x'])).status).toBe(2);
    expect((await remote(['access', 'user', 'update', 'ann', '--groups', ''])).status).toBe(0);
    expect((await remote(['access', 'group', 'remove', 'oncall'])).status).toBe(0);
    expect((await remote(['access', 'role', 'remove', 'auditor'])).status).toBe(0);
    expect((await remote(['access', 'role', 'remove', 'reader'])).status).toBe(0);

    // The per-user folder: one policy, then ann (logged in on her own) reaches her folder only.
    const policy = path.join(tmp, 'kv-users.cedar');
    await writeFile(
      policy,
      '@id("kv-own-folder")\npermit (principal in Fortress::Role::"default/staff", action in [Fortress::Action::"readSecret", Fortress::Action::"writeSecret"], resource is Fortress::Secret) when { resource.path like "users/*/*" && resource.owner == principal.name };\n',
    );
    expect((await remote(['policy', 'add', policy])).status).toBe(0);
    expect((await remote(['user', 'passwd', 'ann'], 'ann-password-for-kv-1\n')).status).toBe(0);
    const annHome = path.join(tmp, 'ann-home');
    const asAnn = (args: string[], input?: string): Promise<Run> =>
      remote(args, input, { FORTRESS_HOME: annHome });
    expect((await asAnn(['login', 'ann'], 'ann-password-for-kv-1\n')).status).toBe(0);
    const own = await asAnn(['kv', 'put', 'users/ann/notes', 'pin=1234']);
    expect(own.status, own.stderr).toBe(0);
    expect((await asAnn(['kv', 'get', 'users/ann/notes', '--field', 'pin'])).stdout.trim()).toBe('1234');
    const other = await asAnn(['kv', 'put', 'users/bob/notes', 'pin=1']);
    expect(other.status).toBe(2);
    expect(other.stderr).toContain('[FX_FORBIDDEN]');

    const removed = await remote(['access', 'user', 'remove', 'ann']);
    expect(removed.stdout).toContain('removed user ann');
    // Removing a user revokes her tokens.
    const gone = await asAnn(['kv', 'get', 'users/ann/notes']);
    expect(gone.status).toBe(2);
    expect(gone.stderr).toContain('[FX_UNAUTHENTICATED]');
    expect((await remote(['access', 'user', 'remove', 'ci', '--service'])).status).toBe(0);
    expect((await remote(['policy', 'remove', 'kv-own-folder'])).status).toBe(0);
    expect((await remote(['access', 'role', 'remove', 'staff'])).stdout).toContain('removed role staff');
  });

  it('audit tail and verify', async () => {
    const tail = await remote(['audit', 'tail', '-n', '5', '--json']);
    expect(tail.status, tail.stderr).toBe(0);
    const body = JSON.parse(tail.stdout) as { entries: { seq: number; action: string }[] };
    expect(body.entries).toHaveLength(5);
    const aligned = await remote(['audit', 'tail', '-n', '3']);
    expect(aligned.stdout).toMatch(/^seq\s+time\s+principal\s+action/);
    const verify = await remote(['audit', 'verify']);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^verify: OK — \d+ entries re-hashed/);
    const verifyJson = await remote(['audit', 'verify', '--json']);
    expect(JSON.parse(verifyJson.stdout)).toMatchObject({ ok: true });
  });

  // 42 CLI processes, each a Node start: ≈ 25 s alone, far longer beside the suite's other files.
  it('kv: put from pairs, stdin and a file; get, --field, versions, patch, delete/undelete/destroy, list, metadata, config', async () => {
    const put = await remote(['kv', 'put', 'apps/cli/db', 'user=billing', 'password=-'], 'pa$$ from stdin\n');
    expect(put.status, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^apps\/cli\/db: version 1, created /);
    const field = await remote(['kv', 'get', 'apps/cli/db', '--field', 'password']);
    expect(field.stdout).toBe('pa$$ from stdin\n');
    const file = path.join(tmp, 'secret.json');
    await writeFile(file, JSON.stringify({ user: 'billing', password: 'from a file', port: 5432 }));
    expect((await remote(['kv', 'put', 'apps/cli/db', '--file', file, '--cas', '1'])).status).toBe(0);
    const conflict = await remote(['kv', 'put', 'apps/cli/db', 'a=b', '--cas', '1']);
    expect(conflict.status).toBe(2);
    expect(conflict.stderr).toContain('FX_SECRET_CAS_MISMATCH');
    const got = JSON.parse((await remote(['kv', 'get', 'apps/cli/db', '--json'])).stdout) as {
      data: Record<string, unknown>;
      metadata: { version: number };
    };
    expect(got).toMatchObject({ data: { password: 'from a file', port: 5432 }, metadata: { version: 2 } });
    const aligned = await remote(['kv', 'get', 'apps/cli/db', '--version', '1']);
    expect(aligned.stdout).toMatch(/version 1/);
    expect(aligned.stdout).toMatch(/^user\s+billing$/m);
    expect((await remote(['kv', 'patch', 'apps/cli/db', 'port=6432'])).status).toBe(0);
    expect((await remote(['kv', 'get', 'apps/cli/db', '--field', 'port'])).stdout).toBe('6432\n');
    expect((await remote(['kv', 'delete', 'apps/cli/db'])).stdout).toBe(
      'deleted version 3 of apps/cli/db (kv undelete restores them)\n',
    );
    expect((await remote(['kv', 'undelete', 'apps/cli/db', '--versions', '3'])).stdout).toBe(
      'undeleted version 3 of apps/cli/db\n',
    );
    expect((await remote(['kv', 'destroy', 'apps/cli/db', '--versions', '1'])).stdout).toContain(
      'destroyed version 1 of apps/cli/db',
    );
    expect((await remote(['kv', 'rollback', 'apps/cli/db', '--version', '2'])).stdout).toMatch(/version 4/);
    await remote(['kv', 'put', 'apps/cli/other', 'k=v']);
    await remote(['kv', 'put', 'apps/cli/sub/x', 'k=v']);
    const list = await remote(['kv', 'list', 'apps/cli/', '--limit', '1']);
    expect(list.stdout).toBe('db\nother\nsub/\n');
    expect(JSON.parse((await remote(['kv', 'list', 'apps/', '--json'])).stdout)).toEqual({ keys: ['cli/'] });
    const meta = await remote([
      'kv',
      'metadata',
      'put',
      'apps/cli/db',
      '--max-versions',
      '3',
      '--delete-version-after',
      '7d',
      '--custom',
      'team=billing',
    ]);
    expect(meta.status, meta.stderr).toBe(0);
    expect(meta.stdout).toBe('apps/cli/db: max versions 3, cas required false, delete after 7d\n');
    const described = JSON.parse(
      (await remote(['kv', 'metadata', 'get', 'apps/cli/db', '--json'])).stdout,
    ) as Record<string, unknown>;
    expect(described).toMatchObject({
      maxVersions: 3,
      deleteVersionAfter: 7 * 86_400_000,
      customMetadata: { team: 'billing' },
    });
    expect((await remote(['kv', 'metadata', 'delete', 'apps/cli/other'])).stdout).toContain(
      'removed apps/cli/other',
    );
    expect(JSON.parse((await remote(['kv', 'config', '--json'])).stdout)).toMatchObject({ maxVersions: 10 });
    // Bad input: a usage error (exit 2) before anything is sent, or the server's code.
    for (const args of [
      ['kv', 'put', 'apps/cli/db'],
      ['kv', 'put', 'apps/cli/db', 'novalue'],
      ['kv', 'put', 'apps/cli/db', 'a=1', 'a=2'],
      ['kv', 'undelete', 'apps/cli/db'],
      ['kv', 'destroy', 'apps/cli/db', '--versions', 'one'],
      ['kv', 'metadata', 'put', 'apps/cli/db'],
      ['kv', 'metadata', 'get', 'apps/cli/db', '--max-versions', '3'],
      ['kv', 'config', '--delete-version-after', 'soon'],
      ['kv', 'get', 'apps/cli/db', '--field', 'nope'],
    ]) {
      const r = await remote(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('FX_CLI_USAGE');
    }
    const bad = await remote(['kv', 'put', 'apps/a b', 'k=v']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('FX_INVALID_ARGUMENT');
    // A path the SDK refuses before sending: the argument named, exit 2, no stack trace.
    const refused = await remote(['kv', 'get', 'apps//db']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^fortress: path: "apps\/\/db" has an empty.* \[FX_INVALID_ARGUMENT\]\n$/);
    // An empty folder: nothing on stdout (scripts loop over it), a note on stderr.
    const none = await remote(['kv', 'list', 'nothing/here/']);
    expect([none.status, none.stdout, none.stderr]).toEqual([0, '', '(no secrets under nothing/here/)\n']);
    expect(JSON.parse((await remote(['kv', 'get', 'apps/cli/db', '--json'])).stdout)).toMatchObject({
      metadata: { version: 4 },
    });
  }, 150_000);

  it('table rotate waits for the re-encryption job; --detach prints the job and job status waits for it', async () => {
    const waited = await remote(['table', 'rotate', 'people', '--json']);
    expect(waited.status, waited.stderr).toBe(0);
    const job = JSON.parse(waited.stdout) as { id: number; state: string; rewritten: number; total: number };
    expect(job.state).toBe('done');
    expect(job.rewritten).toBe(job.total);
    expect(job.total).toBe(82);

    const detached = await remote(['table', 'rotate', 'people', '--detach']);
    expect(detached.status, detached.stderr).toBe(0);
    const id = /job (\d+) \(`fortress job status \1`\)/.exec(detached.stdout)?.[1];
    expect(id, detached.stdout).toBeDefined();
    const status = await remote(['job', 'status', id!]);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^job ${id!} done: 82 of 82 rows re-encrypted`, 'm'));

    const bad = await remote(['job', 'status', 'x1']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('FX_CLI_USAGE');
    const unknown = await remote(['job', 'status', '999999']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/\[FX_[A-Z_]+\]/);
  });

  it('rekey: start, then each holder submits a current share on stdin; the new shares unseal', async () => {
    const started = await remote(['rekey', 'start', '--shares', '4', '--threshold', '2', '--json']);
    expect(started.status, started.stderr).toBe(0);
    const { nonce } = JSON.parse(started.stdout) as { nonce: string };
    const aligned = await remote(['rekey', 'status']);
    expect(aligned.stdout).toContain('rekey in progress: 0 of 2 current shares; new seal: 2 of 4');

    const first = await remote(['rekey', 'submit', '--nonce', nonce], `${shares[1]!}\n`);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('1 more current share(s) needed');
    const last = await remote(['rekey', 'submit', '--nonce', nonce], `${shares[2]!}\n`);
    expect(last.status, last.stderr).toBe(0);
    expect(last.stderr).toContain('shown ONCE');
    const fresh = [...last.stdout.matchAll(/^New unseal share \d: (\S+)$/gm)].map((m) => m[1]!);
    expect(fresh).toHaveLength(4);
    expect(last.stdout).toContain('Rekeyed');
    const stale = await remote(['rekey', 'submit', '--nonce', nonce], `${shares[0]!}\n`);
    expect(stale.status).toBe(2);
    expect(stale.stderr).toContain('[FX_NOT_FOUND]');
    shares = fresh;
  });

  it('seal → a data command says how to unseal; unseal reads shares from stdin with progress', async () => {
    const sealed = await remote(['seal']);
    expect(sealed.status, sealed.stderr).toBe(0);
    const find = await remote(['find', 'people']);
    expect(find.status).toBe(2);
    expect(find.stderr).toContain(`sealed: run \`fortress unseal --server ${url}\` [FX_SEALED]`);

    const first = await remote(['unseal'], `${shares[0]!}\n`);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('1 of 2');
    const status = await remote(['status']);
    expect(status.stdout).toMatch(/^sealed\s+yes$/m);
    expect(status.stdout).toMatch(/^progress\s+1 of 2$/m);
    const second = await remote(['unseal'], `${shares[2]!}\n`);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain('Unsealed.');
    for (const run of [first, second]) {
      for (const share of shares) expect(run.stdout + run.stderr).not.toContain(share);
    }
    expect((await remote(['count', 'people'])).stdout.trim()).toBe('82');
    const nothing = await remote(['unseal'], '');
    expect(nothing.stdout).toContain('already unsealed');
  });

  it('FORTRESS_ADDR and FORTRESS_CACERT select remote mode without flags', async () => {
    const run = await fortress(['count', 'people'], {
      env: { ...env, FORTRESS_ADDR: url, FORTRESS_CACERT: ca },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe('82');
    const status = await fortress(['status', '--json'], {
      env: { ...env, FORTRESS_ADDR: url, FORTRESS_CACERT: ca },
    });
    expect(JSON.parse(status.stdout)).toMatchObject({ initialized: true, sealed: false });
  });

  it('token revoke without an accessor revokes the saved token and forgets it', async () => {
    const run = await remote(['token', 'revoke']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/revoked \d+ tokens?/);
    await expect(stat(path.join(home, 'token'))).rejects.toThrow();
    const after = await remote(['table', 'list']);
    expect(after.status).toBe(2);
    expect(after.stderr).toContain('no token: run `fortress login');
  });
});
