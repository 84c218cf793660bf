import { X509Certificate, createHash, createPrivateKey, sign, verify } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { chmod, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { certificateFingerprint, ensureSelfSignedCertificate } from '../../src/server/tls/self-signed.js';
import { expectCode } from '../helpers/expect-code.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-tls-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** GETs `/` over HTTPS trusting only `ca`; resolves the body. */
function get(port: number, ca: Buffer, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, ca, servername, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve(body);
        });
      })
      .on('error', reject);
  });
}

describe('ensureSelfSignedCertificate', () => {
  it('makes the files with the right modes, and reuses them with the same fingerprint', async () => {
    const made = await ensureSelfSignedCertificate(dir);
    expect(made).toMatchObject({
      certFile: path.join(dir, 'tls', 'server.crt'),
      keyFile: path.join(dir, 'tls', 'server.key'),
      created: true,
    });
    expect(statSync(path.join(dir, 'tls')).mode & 0o777).toBe(0o700);
    expect(statSync(made.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(made.certFile).mode & 0o777).toBe(0o644);
    expect(readFileSync(made.keyFile, 'utf8')).toMatch(
      /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/,
    );
    expect(readFileSync(made.certFile, 'utf8')).toMatch(
      /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/,
    );

    const again = await ensureSelfSignedCertificate(dir, { hosts: ['other.example'] });
    expect(again).toEqual({ ...made, created: false });
  });

  it('the certificate verifies with node:crypto: names, dates, extensions, key pair', async () => {
    const now = new Date();
    const made = await ensureSelfSignedCertificate(dir, {
      hosts: ['Fortress.Internal', '10.1.2.3', '[fd00::1]'],
      now,
    });
    const pem = readFileSync(made.certFile);
    const cert = new X509Certificate(pem);
    expect(cert.subject).toBe('CN=fortress');
    expect(cert.issuer).toBe('CN=fortress');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('fortress.internal')).toBe('fortress.internal');
    expect(cert.checkHost('evil.example')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkIP('10.1.2.3')).toBe('10.1.2.3');
    expect(cert.checkIP('fd00::1')).toBe('fd00::1');
    expect(cert.checkIP('10.1.2.4')).toBeUndefined();
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth (Node reports the EKU here)
    expect(cert.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(cert.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(cert.verify(cert.publicKey)).toBe(true); // self-signed
    // Dates have a one-second resolution in the certificate.
    const seconds = (date: Date | string) => Math.floor(new Date(date).getTime() / 1000);
    expect(seconds(cert.validFrom)).toBe(seconds(now) - 5 * 60);
    expect(seconds(cert.validTo)).toBe(seconds(now) + 365 * 86_400);

    // The private key belongs to the certificate's public key.
    const key = createPrivateKey(readFileSync(made.keyFile));
    expect(cert.checkPrivateKey(key)).toBe(true);
    const message = Buffer.from('fortress self-signed');
    const signature = sign('sha256', message, key);
    expect(verify('sha256', message, cert.publicKey, signature)).toBe(true);
    expect(verify('sha256', Buffer.from('something else'), cert.publicKey, signature)).toBe(false);

    // The fingerprint is OpenSSL's: SHA-256 over the DER.
    const hex = createHash('sha256').update(cert.raw).digest('hex').toUpperCase();
    expect(made.fingerprintSha256).toBe(hex.match(/../g)!.join(':'));
    expect(made.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(certificateFingerprint(pem.toString('utf8'))).toBe(made.fingerprintSha256);
    expect(certificateFingerprint(cert.raw)).toBe(made.fingerprintSha256);
  });

  it('serves HTTPS to a client that pins the certificate as its only CA', async () => {
    const made = await ensureSelfSignedCertificate(dir);
    const cert = readFileSync(made.certFile);
    const server = https.createServer({ cert, key: readFileSync(made.keyFile) }, (_request, response) => {
      response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      expect(await get(port, cert, 'localhost')).toBe('ok');
      // The name is checked too, and another self-signed certificate is not trusted.
      await expect(get(port, cert, 'evil.example')).rejects.toMatchObject({
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });
      const other = await mkdtemp(path.join(os.tmpdir(), 'fx-tls-'));
      try {
        const stranger = readFileSync((await ensureSelfSignedCertificate(other)).certFile);
        await expect(get(port, stranger, 'localhost')).rejects.toThrow(/self[- ]signed/i);
      } finally {
        await rm(other, { recursive: true, force: true });
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('makes a different key and serial every time', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'fx-tls-'));
    try {
      const [a, b] = await Promise.all([
        ensureSelfSignedCertificate(dir),
        ensureSelfSignedCertificate(other),
      ]);
      expect(a.fingerprintSha256).not.toBe(b.fingerprintSha256);
      const serial = (file: string) => new X509Certificate(readFileSync(file)).serialNumber;
      expect(serial(a.certFile)).not.toBe(serial(b.certFile));
      expect(readFileSync(a.keyFile, 'utf8')).not.toBe(readFileSync(b.keyFile, 'utf8'));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('refuses malformed, mismatched, partial, exposed or expired files, naming the file', async () => {
    const made = await ensureSelfSignedCertificate(dir);
    const certPem = readFileSync(made.certFile);
    const keyPem = readFileSync(made.keyFile);
    const restore = async () => {
      await writeFile(made.certFile, certPem);
      await writeFile(made.keyFile, keyPem, { mode: 0o600 });
      await chmod(made.keyFile, 0o600);
    };
    const refused = async (pattern: RegExp) => {
      const error = await expectCode(ensureSelfSignedCertificate(dir), 'FX_CONFIG_INVALID');
      expect(error.message).toMatch(pattern);
      expect(error.message).not.toContain('PRIVATE KEY');
      await restore();
    };

    await writeFile(made.certFile, 'not a certificate');
    await refused(new RegExp(`^${made.certFile}: not a PEM certificate`));
    await writeFile(made.keyFile, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    await refused(new RegExp(`^${made.keyFile}: not a PEM private key`));

    const other = await mkdtemp(path.join(os.tmpdir(), 'fx-tls-'));
    try {
      await writeFile(made.certFile, readFileSync((await ensureSelfSignedCertificate(other)).certFile));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    await refused(new RegExp(`^${made.keyFile}: does not match server.crt`));

    await unlink(made.certFile);
    await refused(new RegExp(`^${made.certFile}: missing while its partner exists`));
    await unlink(made.keyFile);
    await refused(new RegExp(`^${made.keyFile}: missing while its partner exists`));

    await chmod(made.keyFile, 0o644);
    await refused(new RegExp(`^${made.keyFile}: the private key is accessible to other users`));

    const nextYear = new Date(Date.now() + 366 * 86_400_000);
    await expectCode(ensureSelfSignedCertificate(dir, { now: nextYear }), 'FX_CONFIG_INVALID').then(
      (error) => {
        expect(error.message).toMatch(new RegExp(`^${made.certFile}: expired `));
      },
    );
    expect(await ensureSelfSignedCertificate(dir)).toEqual({ ...made, created: false });
  });

  it('rejects bad host names and bad PEM input', async () => {
    for (const host of ['', 'a b', 'under_score.example', '-x.example', 'x'.repeat(64) + '.example']) {
      await expectCode(ensureSelfSignedCertificate(dir, { hosts: [host] }), 'FX_INVALID_ARGUMENT');
    }
    expect(() =>
      certificateFingerprint('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
    ).toThrow(expect.objectContaining({ code: 'FX_INVALID_ARGUMENT' }));
  });
});
