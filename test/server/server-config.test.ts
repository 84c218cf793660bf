import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeConfig, loadServerConfig } from '../../src/server/config/server-config.js';
import { certificateFingerprint, ensureSelfSignedCertificate } from '../../src/server/tls/self-signed.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toMatchObject({ code: 'FX_CONFIG_INVALID' });
    return (error as Error).message;
  }
  throw new Error('expected FX_CONFIG_INVALID');
}

describe('server configuration', () => {
  it('defaults: loopback 8200, TLS auto, rate limits, 24 h tokens', () => {
    const config = loadServerConfig({ env: {}, cwd: dir });
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8200 });
    expect(config.tls.mode).toBe('auto');
    expect(config.storage.path).toBe(path.join(dir, 'fortress-data'));
    expect(config.limits).toEqual({
      bodyBytes: 1 << 20,
      requestTimeoutMs: 30_000,
      rateLimitPerToken: 6000,
      rateLimitPerAddress: 12_000,
    });
    expect(config.auth.tokenTtlSeconds).toBe(86_400);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('flags beat the environment, which beats the file; file paths resolve against the file', async () => {
    const file = path.join(dir, 'fortress.toml');
    await writeFile(
      file,
      `listen = "0.0.0.0:9000"\n[storage]\npath = "data"\n[logging]\nlevel = "warn"\n[limits]\nbody_bytes = 4096\n`,
    );
    const fromFile = loadServerConfig({ file, env: {}, cwd: '/' });
    expect(fromFile.listen).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(fromFile.storage.path).toBe(path.join(dir, 'data'));
    expect(fromFile.logging.level).toBe('warn');
    expect(fromFile.limits.bodyBytes).toBe(4096);
    const fromEnv = loadServerConfig({
      file,
      env: { FORTRESS_LISTEN: '[::1]:9001', FORTRESS_LOG_LEVEL: 'error' },
      cwd: dir,
    });
    expect(fromEnv.listen).toEqual({ host: '::1', port: 9001 });
    expect(fromEnv.logging.level).toBe('error');
    const fromFlags = loadServerConfig({
      file,
      env: { FORTRESS_LISTEN: '[::1]:9001' },
      flags: { listen: '127.0.0.1:9002', storagePath: 'elsewhere' },
      cwd: dir,
    });
    expect(fromFlags.listen.port).toBe(9002);
    expect(fromFlags.storage.path).toBe(path.join(dir, 'elsewhere'));
  });

  it('every problem is reported at once, with its source and the expected form', async () => {
    const file = path.join(dir, 'bad.toml');
    await writeFile(file, `listen_adress = "x"\n[limits]\nbody_bytes = -1\n[logging]\nlevel = "loud"\n`);
    const message = problemsOf(() =>
      loadServerConfig({
        file,
        env: { FORTRESS_LISTEN: 'nowhere', FORTRESS_LIMITS_BODYBYTES: '1', FORTRESS_INSECURE_DEV: 'maybe' },
        cwd: dir,
      }),
    );
    expect(message).toContain('6 problems');
    expect(message).toContain(`${file}: unknown key listen_adress (did you mean listen?)`);
    expect(message).toContain(`${file}: limits.body_bytes: -1 is not valid; expected an integer from 1024`);
    expect(message).toContain(`${file}: logging.level: "loud" is not valid`);
    expect(message).toContain('FORTRESS_LISTEN: "nowhere" is not valid; expected host:port');
    expect(message).toContain(
      'FORTRESS_LIMITS_BODYBYTES: unknown environment variable (did you mean FORTRESS_LIMITS_BODY_BYTES?)',
    );
    expect(message).toContain('FORTRESS_INSECURE_DEV: "maybe" is not valid; expected 1, 0, true or false');
  });

  it('TOML syntax errors name the line; unreadable files are reported; TLS files go in pairs', async () => {
    const file = path.join(dir, 'syntax.toml');
    await writeFile(file, `listen = "127.0.0.1:1"\n[storage\npath = "x"\n`);
    expect(problemsOf(() => loadServerConfig({ file, env: {} }))).toMatch(/not valid TOML at line 2/);
    expect(problemsOf(() => loadServerConfig({ file: path.join(dir, 'missing.toml'), env: {} }))).toContain(
      'cannot read the configuration file (ENOENT)',
    );
    expect(problemsOf(() => loadServerConfig({ env: { FORTRESS_TLS_CERT_FILE: 'a.crt' } }))).toContain(
      'cert_file and key_file go together',
    );
    expect(
      problemsOf(() =>
        loadServerConfig({
          env: { FORTRESS_AUTH_TOKEN_TTL_SECONDS: '7200', FORTRESS_AUTH_TOKEN_MAX_TTL_SECONDS: '3600' },
        }),
      ),
    ).toContain('token_ttl_seconds (7200) exceeds token_max_ttl_seconds (3600)');
  });

  it('plain HTTP only with --insecure-dev; configured files mean TLS from files', () => {
    expect(loadServerConfig({ env: {}, flags: { insecureDev: true } }).tls.mode).toBe('off');
    const files = loadServerConfig({
      env: {},
      flags: { tlsCertFile: 'a.crt', tlsKeyFile: 'a.key' },
      cwd: dir,
    });
    expect(files.tls).toEqual({
      mode: 'files',
      certFile: path.join(dir, 'a.crt'),
      keyFile: path.join(dir, 'a.key'),
    });
    expect(describeConfig(files)).toMatchObject({ tls: { mode: 'files' } });
  });
});

describe('self-signed certificate', () => {
  it('is made once (key 0600), verifies for localhost and loopback, and serves HTTPS to a pinning client', async () => {
    const made = await ensureSelfSignedCertificate(dir, { hosts: ['fortress.internal'] });
    expect(made.created).toBe(true);
    expect(statSync(made.keyFile).mode & 0o777).toBe(0o600);
    const again = await ensureSelfSignedCertificate(dir);
    expect(again).toMatchObject({ created: false, fingerprintSha256: made.fingerprintSha256 });
    const pem = (await import('node:fs')).readFileSync(made.certFile);
    const cert = new X509Certificate(pem);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('fortress.internal')).toBe('fortress.internal');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.ca).toBe(false);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 360 * 86_400_000);
    expect(made.fingerprintSha256).toBe(certificateFingerprint(pem));
    expect(made.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const key = createPrivateKey((await import('node:fs')).readFileSync(made.keyFile));
    const signature = sign('sha256', Buffer.from('fortress'), key);
    expect(
      verify(
        'sha256',
        Buffer.from('fortress'),
        createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' })),
        signature,
      ),
    ).toBe(true);

    const server = https.createServer(
      { cert: pem, key: (await import('node:fs')).readFileSync(made.keyFile) },
      (_q, r) => {
        r.end('ok');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port, ca: pem, servername: 'localhost' }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => {
              resolve(text);
            });
          })
          .on('error', reject);
      });
      expect(body).toBe('ok');
    } finally {
      server.close();
    }
  });

  it('refuses a malformed or mismatched pair with a clear code', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'fx-tls-'));
    try {
      await ensureSelfSignedCertificate(other);
      writeFileSync(path.join(other, 'tls', 'server.crt'), 'not a certificate');
      await expect(ensureSelfSignedCertificate(other)).rejects.toMatchObject({ code: 'FX_CONFIG_INVALID' });
      const third = await mkdtemp(path.join(os.tmpdir(), 'fx-tls-'));
      await ensureSelfSignedCertificate(third);
      writeFileSync(
        path.join(other, 'tls', 'server.crt'),
        (await import('node:fs')).readFileSync(path.join(third, 'tls', 'server.crt')),
      );
      await expect(ensureSelfSignedCertificate(other)).rejects.toThrow(/does not match/);
      await rm(third, { recursive: true, force: true });
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
