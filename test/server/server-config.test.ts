import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SERVER_SETTINGS,
  describeConfig,
  loadServerConfig,
  type FlagValues,
  type LoadServerConfigInput,
} from '../../src/server/config/server-config.js';
import { FortressError } from '../../src/util/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes a TOML file into the temp directory and returns its path. */
async function toml(text: string): Promise<string> {
  const file = path.join(dir, `config-${++files}.toml`);
  await writeFile(file, text);
  return file;
}

/** Loads with no ambient environment; returns the FX_CONFIG_INVALID message's problem lines. */
function problems(input: LoadServerConfigInput): string[] {
  try {
    loadServerConfig({ env: {}, cwd: dir, ...input });
  } catch (error) {
    expect(error).toBeInstanceOf(FortressError);
    expect(error).toMatchObject({ code: 'FX_CONFIG_INVALID' });
    const [head, ...lines] = (error as Error).message.split('\n');
    expect(head).toBe(
      `the server configuration has ${lines.length} problem${lines.length === 1 ? '' : 's'}:`,
    );
    return lines.map((line) => line.replace(/^ {2}- /, ''));
  }
  return expect.fail('expected FX_CONFIG_INVALID');
}

function problem(input: LoadServerConfigInput): string {
  const found = problems(input);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('loadServerConfig', () => {
  it('defaults: loopback 8200, TLS auto, shamir 5/3, limits, 24 h tokens; deeply frozen', () => {
    const config = loadServerConfig({ env: {}, cwd: dir });
    expect(config).toEqual({
      storage: { kind: 'sqlite', path: path.join(dir, 'fortress-data') },
      listen: { host: '127.0.0.1', port: 8200 },
      tls: { mode: 'auto' },
      insecureDev: false,
      seal: { kind: 'shamir', shares: 5, threshold: 3 },
      limits: {
        bodyBytes: 1 << 20,
        requestTimeoutMs: 30_000,
        rateLimitPerToken: 6000,
        rateLimitPerAddress: 12_000,
      },
      jobs: {},
      secrets: {},
      logging: { level: 'info' },
      auth: { tokenTtlSeconds: 86_400, tokenMaxTtlSeconds: 30 * 86_400 },
    });
    expect(Object.isFrozen(config)).toBe(true);
    for (const section of Object.values(config)) {
      if (typeof section === 'object') expect(Object.isFrozen(section)).toBe(true);
    }
  });

  it('reads every section from the file', async () => {
    const file = await toml(`
listen = "[::1]:9443"
[storage]
kind = "sqlite"
path = "/srv/fortress"
[tls]
cert_file = "/etc/f/server.crt"
key_file = "/etc/f/server.key"
client_ca_file = "/etc/f/clients.pem"
[seal]
kind = "pkcs11"
pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
pkcs11_token = "fortress"
[limits]
body_bytes = 2048
request_timeout_ms = 5000
rate_limit_per_token = 10
rate_limit_per_address = 20
max_connections = 100
[jobs]
batch_size = 200
rows_per_second = 5000
[secrets]
database_sweep_interval_ms = 5000
[logging]
level = "debug"
file = "/var/log/fortress.log"
[auth]
token_ttl_seconds = 600
token_max_ttl_seconds = 3600
[auth.jwt]
jwks_url = "https://idp.example.com/.well-known/jwks.json"
issuer = "https://idp.example.com/"
audience = "fortress"
principal_kind = "service"
roles_claim = "groups"
create_users = true
tenant_claim = "org"
[auth.jwt.role_map]
"idp-admins" = "fortress-admin"
"CN=Analysts,OU=Groups" = "analyst"
`);
    expect(loadServerConfig({ file, env: {} })).toEqual({
      storage: { kind: 'sqlite', path: '/srv/fortress' },
      listen: { host: '::1', port: 9443 },
      tls: {
        mode: 'files',
        certFile: '/etc/f/server.crt',
        keyFile: '/etc/f/server.key',
        clientCaFile: '/etc/f/clients.pem',
      },
      insecureDev: false,
      seal: { kind: 'pkcs11', pkcs11Module: '/usr/lib/softhsm/libsofthsm2.so', pkcs11Token: 'fortress' },
      limits: {
        bodyBytes: 2048,
        requestTimeoutMs: 5000,
        rateLimitPerToken: 10,
        rateLimitPerAddress: 20,
        maxConnections: 100,
      },
      jobs: { batchSize: 200, rowsPerSecond: 5000 },
      secrets: { databaseSweepIntervalMs: 5000 },
      logging: { level: 'debug', file: '/var/log/fortress.log' },
      auth: {
        tokenTtlSeconds: 600,
        tokenMaxTtlSeconds: 3600,
        jwt: {
          jwksUrl: 'https://idp.example.com/.well-known/jwks.json',
          issuer: 'https://idp.example.com/',
          audience: 'fortress',
          principalClaim: 'sub',
          kind: 'service',
          rolesClaim: 'groups',
          roleMap: { 'idp-admins': 'fortress-admin', 'CN=Analysts,OU=Groups': 'analyst' },
          createUsers: true,
          tenantClaim: 'org',
        },
      },
    });
  });

  it('precedence: flags > environment > file > defaults, key by key', async () => {
    const file = await toml(
      `listen = "0.0.0.0:9000"\n[logging]\nlevel = "warn"\n[limits]\nbody_bytes = 4096\nrate_limit_per_token = 7\n`,
    );
    const env = {
      FORTRESS_LISTEN: '10.0.0.1:9001',
      FORTRESS_LOG_LEVEL: 'error',
      FORTRESS_LIMITS_BODY_BYTES: '8192',
    };
    const fromFile = loadServerConfig({ file, env: {} });
    expect([fromFile.listen.port, fromFile.logging.level, fromFile.limits.bodyBytes]).toEqual([
      9000,
      'warn',
      4096,
    ]);
    const fromEnv = loadServerConfig({ file, env });
    expect(fromEnv.listen).toEqual({ host: '10.0.0.1', port: 9001 });
    expect([fromEnv.logging.level, fromEnv.limits.bodyBytes]).toEqual(['error', 8192]);
    expect(fromEnv.limits.rateLimitPerToken).toBe(7); // not overridden: still the file's
    const fromFlags = loadServerConfig({ file, env, flags: { listen: 'localhost:9002', logLevel: 'trace' } });
    expect(fromFlags.listen).toEqual({ host: 'localhost', port: 9002 });
    expect(fromFlags.logging.level).toBe('trace');
    expect(fromFlags.limits.bodyBytes).toBe(8192);
    // Flags may carry numbers as typed text.
    expect(loadServerConfig({ env: {}, flags: { sealShares: '7', sealThreshold: 4 } }).seal).toEqual({
      kind: 'shamir',
      shares: 7,
      threshold: 4,
    });
  });

  it('relative paths: against the file directory in the file, against cwd in env and flags', async () => {
    const file = await toml(`[storage]\npath = "data"\n[logging]\nfile = "../logs/f.log"\n`);
    const config = loadServerConfig({ file, env: {}, cwd: '/' });
    expect(config.storage.path).toBe(path.join(dir, 'data'));
    expect(config.logging.file).toBe(path.join(path.dirname(dir), 'logs', 'f.log'));
    const work = path.join(dir, 'work');
    expect(
      loadServerConfig({ file, env: { FORTRESS_STORAGE_PATH: 'env-data' }, cwd: work }).storage.path,
    ).toBe(path.join(work, 'env-data'));
    const tls = loadServerConfig({
      env: {},
      cwd: work,
      flags: { tlsCertFile: 'a.crt', tlsKeyFile: './k/a.key' },
    }).tls;
    expect(tls).toEqual({
      mode: 'files',
      certFile: path.join(work, 'a.crt'),
      keyFile: path.join(work, 'k', 'a.key'),
    });
    // A relative file name itself resolves against cwd.
    expect(loadServerConfig({ file: path.basename(file), env: {}, cwd: dir }).storage.path).toBe(
      path.join(dir, 'data'),
    );
  });

  it('environment values: typed text, empty means unset, other FORTRESS_* programs’ variables pass', () => {
    const config = loadServerConfig({
      env: {
        FORTRESS_INSECURE_DEV: 'true',
        FORTRESS_TLS_DISABLE: '1',
        FORTRESS_LIMITS_MAX_CONNECTIONS: '50',
        FORTRESS_LOG_FILE: '',
        FORTRESS_DATA: '/elsewhere',
        FORTRESS_PKCS11_PIN: '1234',
        FORTRESS_TEST_PG_URL: 'postgres://x',
        PATH: '/bin',
      },
    });
    expect(config.insecureDev).toBe(true);
    expect(config.tls).toEqual({ mode: 'off' });
    expect(config.limits.maxConnections).toBe(50);
    expect(config.logging).toEqual({ level: 'info' });
  });

  it('listen accepts IPv4, names and bracketed IPv6, and rejects the rest', () => {
    const listen = (value: string) => loadServerConfig({ env: {}, flags: { listen: value } }).listen;
    expect(listen('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 });
    expect(listen('[2001:db8::1]:443')).toEqual({ host: '2001:db8::1', port: 443 });
    expect(listen('fortress.internal:8200')).toEqual({ host: 'fortress.internal', port: 8200 });
    for (const bad of [
      '::1:8200',
      '[::g]:1',
      'host',
      'host:',
      ':8200',
      'a b:1',
      '1.2.3.4:65536',
      '999.1.1.1:80',
    ]) {
      expect(problem({ flags: { listen: bad } })).toMatch(
        /^listen from --listen: got ".*", expected (host:port|a port)/,
      );
    }
  });

  it('rejects a bad value in every section, naming key, source, value and what is expected', async () => {
    const cases: [string, string, string][] = [
      // [TOML line (in its section), env var, env value]
      ['listen = 8200', 'FORTRESS_LISTEN', 'localhost'],
      ['[storage]\nkind = "mysql"', 'FORTRESS_STORAGE_KIND', 'oracle'],
      ['[storage]\nurl = "postgres://u:pw@db/x"', 'FORTRESS_STORAGE_URL', 'mysql://db/x'],
      ['[storage]\npath = ""', 'FORTRESS_STORAGE_PATH', ' '],
      ['[tls]\ncert_file = 42', 'FORTRESS_TLS_CERT_FILE', 'a\u0001b'],
      ['[tls]\nclient_ca_file = ["a"]', 'FORTRESS_TLS_CLIENT_CA_FILE', 'x\u0000'],
      ['[tls]\ndisable = "yes"', 'FORTRESS_TLS_DISABLE', 'yes'],
      ['[seal]\nkind = "tpm"', 'FORTRESS_SEAL_KIND', 'Shamir'],
      ['[seal]\nshares = 0', 'FORTRESS_SEAL_SHARES', '256'],
      ['[seal]\nthreshold = 1.5', 'FORTRESS_SEAL_THRESHOLD', '-1'],
      ['[limits]\nbody_bytes = 1073741825', 'FORTRESS_LIMITS_BODY_BYTES', '1MiB'],
      ['[limits]\nrequest_timeout_ms = "30000"', 'FORTRESS_LIMITS_REQUEST_TIMEOUT_MS', '99'],
      ['[limits]\nrate_limit_per_token = 0', 'FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN', '0x10'],
      ['[limits]\nrate_limit_per_address = inf', 'FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS', '1e3'],
      ['[limits]\nmax_connections = 0', 'FORTRESS_LIMITS_MAX_CONNECTIONS', 'many'],
      ['[jobs]\nbatch_size = 0', 'FORTRESS_JOBS_BATCH_SIZE', '500 rows'],
      ['[jobs]\nrows_per_second = -5', 'FORTRESS_JOBS_ROWS_PER_SECOND', '1.5'],
      ['[secrets]\ndatabase_sweep_interval_ms = 999', 'FORTRESS_SECRETS_DATABASE_SWEEP_INTERVAL_MS', '1m'],
      ['[logging]\nlevel = "loud"', 'FORTRESS_LOG_LEVEL', 'INFO'],
      ['[logging]\nfile = true', 'FORTRESS_LOG_FILE', '\t'],
      ['[auth]\ntoken_ttl_seconds = 59', 'FORTRESS_AUTH_TOKEN_TTL_SECONDS', '1d'],
      ['[auth]\ntoken_max_ttl_seconds = 1979-05-27', 'FORTRESS_AUTH_TOKEN_MAX_TTL_SECONDS', '315360001'],
      ['[auth.jwt]\njwks_url = "ftp://idp/jwks"', 'FORTRESS_AUTH_JWT_JWKS_URL', 'not a url'],
      ['[auth.jwt]\nissuer = ""', 'FORTRESS_AUTH_JWT_ISSUER', ' '],
      ['[auth.jwt]\nrole_map = ["idp-admins"]', 'FORTRESS_AUTH_JWT_ROLE_MAP', 'idp-admins=admin'],
      ['[auth.jwt]\ncreate_users = 1', 'FORTRESS_AUTH_JWT_CREATE_USERS', 'on'],
      ['[auth.jwt]\nprincipal_kind = "robot"', 'FORTRESS_AUTH_JWT_PRINCIPAL_KIND', 'group'],
    ];
    const expected: Record<string, RegExp> = {
      integer: /expected an integer from \d+ to \d+$/,
      listen: /expected host:port/,
      enum: /expected one of /,
      boolean: /expected (true or false|1, 0, true or false)$/,
      path: /expected a file path$/,
      string: /expected a non-empty string without control characters$/,
      url: /expected an https:\/\/ URL$/,
      'postgres-url':
        /expected (a postgres:\/\/ URL|a URL without a password \(set FORTRESS_STORAGE_PASSWORD\))$/,
      'role-map': /expected (a table|a JSON object) of "IdP value"(:| =) "Fortress role" strings$/,
    };
    for (const [line, env, envValue] of cases) {
      const setting = SERVER_SETTINGS.find((s) => s.env === env)!;
      const name = setting.key.split('.').at(-1)!;
      const file = await toml(`${line}\n`);
      const fromFile = problems({ file }).find((p) => p.startsWith(`${setting.key} in ${file}: got `));
      expect(fromFile, `${line}: ${problems({ file }).join('; ')}`).toMatch(expected[setting.type.kind]!);
      expect(line).toContain(name);
      const fromEnv = problems({ env: { [env]: envValue } }).find((p) =>
        p.startsWith(`${setting.key} from ${env}: `),
      );
      expect(fromEnv, env).toBe(
        `${setting.key} from ${env}: got ${JSON.stringify(envValue)}, expected ${fromEnv!.split(', expected ')[1]!}`,
      );
      expect(fromEnv).toMatch(expected[setting.type.kind]!);
    }
    expect(problem({ flags: { sealShares: 'five' } })).toBe(
      'seal.shares from --shares: got "five", expected an integer from 1 to 255',
    );
    expect(problem({ flags: { insecureDev: 'yes' as unknown as boolean } })).toBe(
      'insecure_dev from --insecure-dev: got "yes", expected 1, 0, true or false',
    );
  });

  it('unknown keys, sections, variables and flags are errors, with the nearest valid name', async () => {
    const file = await toml(
      'listen_adress = "x"\nlisten_port = 1\n[limits]\nbody_byts = 1\n[limit]\nbody_bytes = 1\n[zzz]\nq = 1\n[storage]\npath = "d"\ncolour = "red"\n[auth.jwt]\nissuer = "i"\naudience = "a"\njwks_file = "k"\nprincipal_clam = "x"\n',
    );
    expect(problems({ file })).toEqual([
      `unknown key listen_adress in ${file} (did you mean listen?)`,
      `unknown key listen_port in ${file} (did you mean listen?)`,
      `unknown key limits.body_byts in ${file} (did you mean limits.body_bytes?)`,
      `unknown key limit in ${file} (did you mean limits?)`,
      `unknown key zzz in ${file}`,
      `unknown key storage.colour in ${file}`,
      `unknown key auth.jwt.principal_clam in ${file} (did you mean auth.jwt.principal_claim?)`,
    ]);
    expect(
      problems({ env: { FORTRESS_LIMITS_BODYBYTES: '1', FORTRESS_LISTEN_ADDR: 'x', FORTRESS_NOPE: 'x' } }),
    ).toEqual([
      'unknown environment variable FORTRESS_LIMITS_BODYBYTES (did you mean FORTRESS_LIMITS_BODY_BYTES?)',
      'unknown environment variable FORTRESS_LISTEN_ADDR (did you mean FORTRESS_LISTEN?)',
      'unknown environment variable FORTRESS_NOPE',
    ]);
    expect(problem({ flags: { colour: 'red' } as Partial<FlagValues> })).toBe('unknown flag field colour');
    // A section given as a value, or a setting given as a table.
    const misplaced = await toml('storage = "./data"\n[listen]\nhost = "x"\n');
    expect(problems({ file: misplaced })).toEqual([
      `storage in ${misplaced}: got "./data", expected a table ([storage])`,
      `listen in ${misplaced}: got {"host":"x"}, expected host:port, e.g. 127.0.0.1:8200 or [::1]:8200 (IPv6 in brackets)`,
    ]);
  });

  it('a TOML syntax error gives line and column but never quotes the file', async () => {
    const file = await toml('listen = "127.0.0.1:1"\n[seal\npkcs11_pin = "s3cr3t-pin"\n');
    const message = problem({ file });
    expect(message).toBe(`${file} is not valid TOML: line 2, column 6: illegal character in key`);
    expect(message).not.toContain('s3cr3t');
    const other = await toml('[limits]\nbody_bytes = 1\nbody_bytes = 2\n');
    expect(problem({ file: other })).toMatch(new RegExp(`^${other} is not valid TOML: line 3, column 1: `));
    expect(problem({ file: path.join(dir, 'missing.toml') })).toBe(
      `cannot read the configuration file ${path.join(dir, 'missing.toml')} (ENOENT)`,
    );
  });

  it('plain HTTP only with --insecure-dev; insecure_dev itself cannot come from the file', async () => {
    expect(loadServerConfig({ env: {}, flags: { insecureDev: true } }).tls.mode).toBe('auto');
    expect(loadServerConfig({ env: {}, flags: { insecureDev: true, tlsDisable: true } }).tls).toEqual({
      mode: 'off',
    });
    const file = await toml('[tls]\ndisable = true\n');
    expect(problem({ file })).toBe(
      `tls.disable in ${file}: plain HTTP sends tokens and data unencrypted; pass --insecure-dev (or set FORTRESS_INSECURE_DEV=1) on a development machine`,
    );
    expect(loadServerConfig({ file, env: { FORTRESS_INSECURE_DEV: '1' } }).tls.mode).toBe('off');
    expect(problem({ file, env: { FORTRESS_INSECURE_DEV: '0' } })).toContain('pass --insecure-dev');
    const sneaky = await toml('insecure_dev = true\n[tls]\ndisable = true\n');
    expect(problems({ file: sneaky })).toEqual([
      `insecure_dev in ${sneaky}: not allowed in a file; pass --insecure-dev or set FORTRESS_INSECURE_DEV=1`,
      expect.stringContaining(`tls.disable in ${sneaky}: plain HTTP`),
    ]);
    expect(problem({ flags: { insecureDev: true, tlsDisable: true, tlsClientCaFile: 'ca.pem' } })).toBe(
      'tls.disable from --tls-disable: conflicts with the TLS files that are also configured',
    );
    expect(problem({ env: { FORTRESS_SEAL_KIND: 'dev-key-file' } })).toMatch(
      /^seal.kind from FORTRESS_SEAL_KIND: dev-key-file .* pass --insecure-dev/,
    );
    expect(
      loadServerConfig({ env: { FORTRESS_SEAL_KIND: 'dev-key-file', FORTRESS_INSECURE_DEV: '1' } }).seal,
    ).toEqual({ kind: 'dev-key-file' });
  });

  it('checks settings against each other', async () => {
    expect(problem({ env: { FORTRESS_TLS_CERT_FILE: 'a.crt' } })).toBe(
      'tls.cert_file from FORTRESS_TLS_CERT_FILE: tls.key_file is missing; set both, or neither for a self-signed certificate',
    );
    expect(problem({ flags: { tlsKeyFile: 'a.key' } })).toMatch(
      /^tls.key_file from --tls-key: tls.cert_file is missing/,
    );
    expect(
      problem({
        env: { FORTRESS_AUTH_TOKEN_TTL_SECONDS: '7200', FORTRESS_AUTH_TOKEN_MAX_TTL_SECONDS: '3600' },
      }),
    ).toBe(
      'auth.token_ttl_seconds from FORTRESS_AUTH_TOKEN_TTL_SECONDS: 7200 exceeds auth.token_max_ttl_seconds (3600)',
    );
    expect(problem({ flags: { sealShares: 2 } })).toBe('seal.threshold: threshold 3 exceeds seal.shares 2');
    expect(problem({ flags: { sealKind: 'passphrase', sealShares: 3 } })).toBe(
      'seal.shares from --shares: does not apply to seal.kind passphrase',
    );
    expect(problems({ flags: { sealKind: 'pkcs11' } })).toEqual([
      'seal.kind from --seal: pkcs11 needs seal.pkcs11_module',
      'seal.kind from --seal: pkcs11 needs seal.pkcs11_token',
    ]);
    const jwt = await toml('[auth.jwt]\nroles_claim = "groups"\n');
    expect(problems({ file: jwt })).toEqual([
      'auth.jwt: set exactly one of auth.jwt.jwks_file and auth.jwt.jwks_url',
      'auth.jwt: auth.jwt.issuer is required',
      'auth.jwt: auth.jwt.audience is required',
    ]);
    const env = { FORTRESS_AUTH_JWT_ISSUER: 'i', FORTRESS_AUTH_JWT_AUDIENCE: 'a' };
    expect(problem({ env: { ...env, FORTRESS_AUTH_JWT_JWKS_URL: 'http://idp/jwks' } })).toMatch(
      /^auth.jwt.jwks_url from FORTRESS_AUTH_JWT_JWKS_URL: http:\/\/ lets a network attacker swap the keys/,
    );
    expect(
      loadServerConfig({ env: { ...env, FORTRESS_AUTH_JWT_JWKS_FILE: 'jwks.json' }, cwd: dir }).auth.jwt,
    ).toEqual({
      jwksFile: path.join(dir, 'jwks.json'),
      issuer: 'i',
      audience: 'a',
      principalClaim: 'sub',
      kind: 'user',
      createUsers: false,
    });
    const mapOnly = await toml(
      '[auth.jwt]\njwks_file = "k"\nissuer = "i"\naudience = "a"\nrole_map = { admins = "fortress-admin" }\n',
    );
    expect(problem({ file: mapOnly })).toBe(
      `auth.jwt.role_map in ${mapOnly}: needs auth.jwt.roles_claim, the claim the IdP lists groups or roles in`,
    );
    expect(
      problem({ env: { ...env, FORTRESS_AUTH_JWT_JWKS_FILE: 'k', FORTRESS_AUTH_JWT_ROLE_MAP: '{}' } }),
    ).toBe(
      'auth.jwt.role_map from FORTRESS_AUTH_JWT_ROLE_MAP: needs auth.jwt.roles_claim, the claim the IdP lists groups or roles in',
    );
  });

  it('auth.jwt.role_map: a TOML table in the file, JSON text in the environment; each flaw named', async () => {
    const env = {
      FORTRESS_AUTH_JWT_JWKS_FILE: 'jwks.json',
      FORTRESS_AUTH_JWT_ISSUER: 'i',
      FORTRESS_AUTH_JWT_AUDIENCE: 'a',
      FORTRESS_AUTH_JWT_ROLES_CLAIM: 'realm_access.roles',
    };
    const fromEnv = loadServerConfig({
      env: {
        ...env,
        FORTRESS_AUTH_JWT_ROLE_MAP: '{"idp-admins":"fortress-admin","/analysts":"analyst"}',
        FORTRESS_AUTH_JWT_CREATE_USERS: '1',
      },
      cwd: dir,
    }).auth.jwt!;
    expect(fromEnv).toMatchObject({
      rolesClaim: 'realm_access.roles',
      roleMap: { 'idp-admins': 'fortress-admin', '/analysts': 'analyst' },
      createUsers: true,
    });
    expect(Object.isFrozen(fromEnv.roleMap)).toBe(true);
    // An inline table in the file; the environment overrides it as a whole.
    const file = await toml(
      '[auth.jwt]\nroles_claim = "groups"\nrole_map = { "idp-admins" = "fortress-admin" }\ncreate_users = false\n',
    );
    expect(loadServerConfig({ file, env: { ...env }, cwd: dir }).auth.jwt).toMatchObject({
      rolesClaim: 'realm_access.roles',
      roleMap: { 'idp-admins': 'fortress-admin' },
      createUsers: false,
    });
    expect(
      loadServerConfig({ file, env: { ...env, FORTRESS_AUTH_JWT_ROLE_MAP: '{"x":"y"}' }, cwd: dir }).auth.jwt
        ?.roleMap,
    ).toEqual({ x: 'y' });

    const inFile = async (line: string): Promise<string> => {
      const bad = await toml(`[auth.jwt]\nroles_claim = "groups"\n${line}\n`);
      return problems({ file: bad, env })
        .find((p) => p.startsWith('auth.jwt.role_map'))!
        .replace(bad, 'F');
    };
    expect(await inFile('role_map = "admins"')).toBe(
      'auth.jwt.role_map in F: got "admins", expected a table of "IdP value" = "Fortress role" strings',
    );
    expect(await inFile('[auth.jwt.role_map]\nadmins = "not a role"')).toBe(
      'auth.jwt.role_map in F: got {"admins":"not a role"}, expected a Fortress role name for "admins" (letters, digits and _ . @ -, at most 128, starting with a letter or digit)',
    );
    expect(await inFile('[auth.jwt.role_map]\nadmins = 1')).toMatch(
      /expected a Fortress role name for "admins"/,
    );
    expect(await inFile('[auth.jwt.role_map]\nadmins = { x = "y" }')).toMatch(
      /expected a Fortress role name for "admins"/,
    );
    expect(await inFile('[auth.jwt.role_map]\n"" = "reader"')).toBe(
      'auth.jwt.role_map in F: got {"":"reader"}, expected IdP values of 1 to 256 characters without control characters',
    );
    expect(await inFile(`[auth.jwt.role_map]\n"${'g'.repeat(257)}" = "reader"`)).toMatch(
      /expected IdP values of 1 to 256 characters/,
    );
    const many = Array.from({ length: 1025 }, (_, i) => `g${i} = "reader"`).join('\n');
    expect(await inFile(`[auth.jwt.role_map]\n${many}`)).toMatch(
      /expected at most 1024 "IdP value" = "Fortress role" entries$/,
    );

    const inEnv = (value: string): string => problem({ env: { ...env, FORTRESS_AUTH_JWT_ROLE_MAP: value } });
    expect(inEnv('idp-admins=fortress-admin')).toBe(
      'auth.jwt.role_map from FORTRESS_AUTH_JWT_ROLE_MAP: got "idp-admins=fortress-admin", expected a JSON object of "IdP value": "Fortress role" strings',
    );
    expect(inEnv('["idp-admins"]')).toMatch(
      /expected a JSON object of "IdP value": "Fortress role" strings$/,
    );
    expect(inEnv('null')).toMatch(/expected a JSON object/);
    expect(inEnv('{"admins":"fortress admin"}')).toBe(
      'auth.jwt.role_map from FORTRESS_AUTH_JWT_ROLE_MAP: got "{\\"admins\\":\\"fortress admin\\"}", expected a Fortress role name for "admins" (letters, digits and _ . @ -, at most 128, starting with a letter or digit)',
    );
    expect(inEnv('{"a\\u0001b":"reader"}')).toMatch(
      /expected IdP values of 1 to 256 characters without control characters$/,
    );
    expect(problem({ env: { ...env, FORTRESS_AUTH_JWT_CREATE_USERS: 'yes' } })).toBe(
      'auth.jwt.create_users from FORTRESS_AUTH_JWT_CREATE_USERS: got "yes", expected 1, 0, true or false',
    );
  });

  it('never shows a secret: the PIN is environment-only, hidden in errors and in describeConfig', async () => {
    const file = await toml('[seal]\npkcs11_pin = "s3cr3t-pin"\n');
    const fromFile = problem({ file });
    expect(fromFile).toBe(
      `seal.pkcs11_pin in ${file}: (hidden): a secret is read only from FORTRESS_SEAL_PKCS11_PIN, never from a file`,
    );
    const bad = problem({
      env: { FORTRESS_SEAL_KIND: 'pkcs11', FORTRESS_SEAL_PKCS11_PIN: 's3cr3t\u0001' },
      flags: { pkcs11Module: 'lib.so', pkcs11Token: 't' },
    });
    expect(bad).toBe(
      'seal.pkcs11_pin from FORTRESS_SEAL_PKCS11_PIN: got (hidden), expected a non-empty string without control characters',
    );
    // A URL's password is hidden too, even as it is refused.
    expect(problem({ env: { FORTRESS_AUTH_JWT_JWKS_URL: 'https://u:hunter2@idp/jwks' } })).not.toContain(
      'hunter2',
    );

    const config = loadServerConfig({
      env: { FORTRESS_SEAL_KIND: 'pkcs11', FORTRESS_SEAL_PKCS11_PIN: 's3cr3t-pin' },
      flags: { pkcs11Module: 'lib.so', pkcs11Token: 'fortress' },
      cwd: dir,
    });
    expect(config.seal.pkcs11Pin).toBe('s3cr3t-pin');
    const shown = describeConfig(config);
    expect(shown).toMatchObject({
      seal: { kind: 'pkcs11', pkcs11Pin: '(hidden)', pkcs11Module: path.join(dir, 'lib.so') },
    });
    expect(JSON.stringify(shown)).not.toContain('s3cr3t');
    expect(config.seal.pkcs11Pin).toBe('s3cr3t-pin'); // describeConfig did not touch the config
    expect(describeConfig(loadServerConfig({ env: {} }))).toEqual(
      JSON.parse(JSON.stringify(loadServerConfig({ env: {} }))),
    );
  });

  it('storage: postgres with a URL, a schema and the password from the environment only', async () => {
    const config = loadServerConfig({
      env: {
        FORTRESS_STORAGE_KIND: 'postgres',
        FORTRESS_STORAGE_URL: 'postgres://fortress@db.internal:5432/fortress',
        FORTRESS_STORAGE_SCHEMA: 'fx',
        FORTRESS_STORAGE_PASSWORD: 'pg-s3cr3t',
      },
      cwd: dir,
    });
    expect(config.storage).toEqual({
      kind: 'postgres',
      path: path.join(dir, 'fortress-data'),
      url: 'postgres://fortress@db.internal:5432/fortress',
      schema: 'fx',
      password: 'pg-s3cr3t',
    });
    expect(JSON.stringify(describeConfig(config))).not.toContain('pg-s3cr3t');

    expect(problems({ env: { FORTRESS_STORAGE_KIND: 'postgres' } })[0]).toMatch(
      /^storage.kind from FORTRESS_STORAGE_KIND: postgres needs storage.url/,
    );
    const withPassword = await toml(
      '[storage]\nkind = "postgres"\nurl = "postgres://fortress:pg-s3cr3t@db/fortress"\n',
    );
    const refused = problems({ file: withPassword }).join('\n');
    expect(refused).toContain('a URL without a password (set FORTRESS_STORAGE_PASSWORD)');
    expect(refused).not.toContain('pg-s3cr3t');
    expect(problems({ env: { FORTRESS_STORAGE_URL: 'mysql://db/x' } }).join('\n')).toContain(
      'a postgres:// URL',
    );
    expect(problem({ env: { FORTRESS_STORAGE_URL: 'postgres://db/x' } })).toContain(
      'does not apply to storage.kind sqlite',
    );
    const passwordInFile = await toml('[storage]\nkind = "postgres"\npassword = "x"\n');
    expect(problems({ file: passwordInFile }).join('\n')).toContain('never from a file');
  });

  it('reports every problem from every source together, one per line', async () => {
    const file = await toml('listen_adress = "x"\n[limits]\nbody_bytes = -1\n[logging]\nlevel = "loud"\n');
    const found = problems({
      file,
      env: { FORTRESS_LISTEN: 'nowhere', FORTRESS_LIMITS_BODYBYTES: '1', FORTRESS_INSECURE_DEV: 'maybe' },
      flags: { sealThreshold: 'x', tlsDisable: true },
    });
    expect(found).toEqual([
      `unknown key listen_adress in ${file} (did you mean listen?)`,
      `limits.body_bytes in ${file}: got -1, expected an integer from 1024 to 1073741824`,
      `logging.level in ${file}: got "loud", expected one of fatal, error, warn, info, debug, trace, silent`,
      'listen from FORTRESS_LISTEN: got "nowhere", expected host:port, e.g. 127.0.0.1:8200 or [::1]:8200 (IPv6 in brackets)',
      'unknown environment variable FORTRESS_LIMITS_BODYBYTES (did you mean FORTRESS_LIMITS_BODY_BYTES?)',
      'insecure_dev from FORTRESS_INSECURE_DEV: got "maybe", expected 1, 0, true or false',
      'seal.threshold from --threshold: got "x", expected an integer from 1 to 255',
      expect.stringMatching(/^tls.disable from --tls-disable: plain HTTP .* pass --insecure-dev/),
    ]);
    // A bad value is reported even where a flag overrides it.
    expect(problem({ env: { FORTRESS_LISTEN: 'nowhere' }, flags: { listen: '127.0.0.1:1' } })).toMatch(
      /^listen from FORTRESS_LISTEN/,
    );
  });

  it('the settings table is consistent: FORTRESS_<SECTION>_<KEY> names, unique keys, flags and env', () => {
    const keys = SERVER_SETTINGS.map((s) => s.key);
    const envs = SERVER_SETTINGS.map((s) => s.env);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(envs).size).toBe(envs.length);
    const shortened: Record<string, string> = {
      'logging.level': 'FORTRESS_LOG_LEVEL',
      'logging.file': 'FORTRESS_LOG_FILE',
    };
    for (const s of SERVER_SETTINGS) {
      expect(s.env).toBe(shortened[s.key] ?? `FORTRESS_${s.key.replaceAll('.', '_').toUpperCase()}`);
      if (s.secret) expect(s.flag).toBeUndefined();
    }
  });
});
