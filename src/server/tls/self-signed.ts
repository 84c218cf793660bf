/**
 * @module server/tls/self-signed
 * TLS by default: a server with no configured certificate gets a self-signed one, made once in
 * `<data>/tls/` (ECDSA P-256, one year, SANs localhost, 127.0.0.1, ::1 and the listen host) with
 * `@peculiar/x509` over Node's WebCrypto. Clients pin it by its SHA-256 fingerprint (printed at
 * start) or trust the file. The private key is written 0600 in a 0700 directory and never logged.
 */
import { X509Certificate, createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { FortressError } from '../../util/errors.js';

export interface SelfSignedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** SHA-256 of the certificate's DER, as OpenSSL prints it (`AB:CD:…`). */
  readonly fingerprintSha256: string;
  /** False when an existing certificate was reused. */
  readonly created: boolean;
}

/** The SHA-256 fingerprint of a PEM certificate, colon-separated upper-case hex. */
export function certificateFingerprint(pem: string | Buffer): string {
  const cert = new X509Certificate(pem);
  const hex = createHash('sha256').update(cert.raw).digest('hex').toUpperCase();
  return hex.match(/../g)!.join(':');
}

function invalid(file: string, why: string): FortressError {
  return new FortressError('FX_CONFIG_INVALID', `${file}: ${why}`);
}

/** Loads `<dir>/tls/server.{crt,key}`, or makes them when absent. */
export async function ensureSelfSignedCertificate(
  dir: string,
  options: { hosts?: readonly string[]; now?: Date } = {},
): Promise<SelfSignedCertificate> {
  const tlsDir = path.join(dir, 'tls');
  const certFile = path.join(tlsDir, 'server.crt');
  const keyFile = path.join(tlsDir, 'server.key');
  if (existsSync(certFile) || existsSync(keyFile)) {
    const [certPem, keyPem] = await Promise.all([readFile(certFile), readFile(keyFile)]).catch(() => {
      throw invalid(tlsDir, 'server.crt and server.key must both exist (delete both to make new ones)');
    });
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch {
      throw invalid(certFile, 'not a PEM certificate');
    }
    let key;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      throw invalid(keyFile, 'not a PEM private key');
    }
    if (!cert.checkPrivateKey(key)) throw invalid(keyFile, 'does not match server.crt');
    return { certFile, keyFile, fingerprintSha256: certificateFingerprint(certPem), created: false };
  }
  await mkdir(tlsDir, { recursive: true, mode: 0o700 });
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = options.now ?? new Date();
  const names = new Set(['localhost', '127.0.0.1', '::1', ...(options.hosts ?? [])]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: 'CN=fortress',
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + 365 * 86_400_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        [...names].map((value) => ({ type: isIP(value) === 0 ? 'dns' : 'ip', value })),
      ),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd()}\n-----END PRIVATE KEY-----\n`;
  pkcs8.fill(0);
  const certPem = cert.toString('pem') + '\n';
  await writeFile(keyFile, keyPem, { mode: 0o600, flag: 'wx' });
  await writeFile(certFile, certPem, { mode: 0o644, flag: 'wx' });
  return { certFile, keyFile, fingerprintSha256: certificateFingerprint(certPem), created: true };
}
