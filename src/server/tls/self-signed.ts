/**
 * @module server/tls/self-signed
 * TLS by default: a server with no configured certificate gets a self-signed one, made once in
 * `<data>/tls/` (ECDSA P-256, one year, SANs localhost, 127.0.0.1, ::1 and the given hosts) with
 * `@peculiar/x509` over Node's WebCrypto. Clients pin it by its SHA-256 fingerprint (printed at
 * start) or trust the file. The private key is written 0600 in a 0700 directory and never logged.
 */
import { KeyObject, X509Certificate, createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';

export interface SelfSignedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** SHA-256 of the certificate's DER, as OpenSSL prints it (`AB:CD:…`). */
  readonly fingerprintSha256: string;
  /** False when an existing certificate was reused. */
  readonly created: boolean;
}

export interface SelfSignedOptions {
  /** Extra DNS names or IP addresses for the certificate (`[::1]` brackets are allowed). */
  readonly hosts?: readonly string[];
  /** The clock, for tests. @default new Date() */
  readonly now?: Date;
}

const DAY_MS = 86_400_000;
const DNS_NAME =
  /^(?=.{1,253}$)(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * The SHA-256 fingerprint of a certificate (PEM, or DER bytes), colon-separated upper-case hex as
 * `openssl x509 -fingerprint -sha256` prints it.
 */
export function certificateFingerprint(pem: string | Buffer): string {
  let der: Buffer;
  try {
    der = new X509Certificate(pem).raw;
  } catch {
    throw new InvalidArgumentError('pem', 'not an X.509 certificate');
  }
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

function invalid(file: string, why: string): FortressError {
  return new FortressError('FX_CONFIG_INVALID', `${file}: ${why}`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Subject alternative names: localhost and loopback always (clients on the machine use them). */
function alternativeNames(hosts: readonly string[]): x509.JsonGeneralName[] {
  const names = new Map<string, x509.JsonGeneralName>();
  for (const given of ['localhost', '127.0.0.1', '::1', ...hosts]) {
    const host = given.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0) names.set(host, { type: 'ip', value: host });
    else if (DNS_NAME.test(host)) names.set(host.toLowerCase(), { type: 'dns', value: host.toLowerCase() });
    else
      throw new InvalidArgumentError(
        'hosts',
        `${JSON.stringify(given)} is neither a DNS name nor an IP address`,
      );
  }
  return [...names.values()];
}

/** Loads the existing pair, refusing one that is broken, mismatched, expired or readable by others. */
async function loadExisting(certFile: string, keyFile: string, now: Date): Promise<SelfSignedCertificate> {
  for (const file of [certFile, keyFile]) {
    if (!(await exists(file))) {
      throw invalid(
        file,
        'missing while its partner exists; delete both server.crt and server.key to make new ones',
      );
    }
  }
  if (process.platform !== 'win32' && ((await lstat(keyFile)).mode & 0o077) !== 0) {
    throw invalid(keyFile, 'the private key is accessible to other users; run chmod 600 on it');
  }
  const [certPem, keyPem] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw invalid(certFile, 'not a PEM certificate; delete both server.crt and server.key to make new ones');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw invalid(keyFile, 'not a PEM private key; delete both server.crt and server.key to make new ones');
  } finally {
    keyPem.fill(0);
  }
  if (!cert.checkPrivateKey(key)) throw invalid(keyFile, 'does not match server.crt');
  if (new Date(cert.validTo) <= now) {
    throw invalid(
      certFile,
      `expired ${cert.validTo}; delete server.crt and server.key to make new ones (clients must pin the new fingerprint)`,
    );
  }
  return { certFile, keyFile, fingerprintSha256: certificateFingerprint(certPem), created: false };
}

/**
 * Returns `<dir>/tls/server.crt` and `server.key`, making them first when neither exists.
 *
 * @example
 * ```ts
 * const tls = await ensureSelfSignedCertificate(config.storage.path, { hosts: ['fortress.internal'] });
 * console.log(`TLS certificate SHA-256 fingerprint: ${tls.fingerprintSha256}`);
 * ```
 */
export async function ensureSelfSignedCertificate(
  dir: string,
  options: SelfSignedOptions = {},
): Promise<SelfSignedCertificate> {
  const now = options.now ?? new Date();
  const names = alternativeNames(options.hosts ?? []);
  const tlsDir = path.join(dir, 'tls');
  const certFile = path.join(tlsDir, 'server.crt');
  const keyFile = path.join(tlsDir, 'server.key');
  if ((await exists(certFile)) || (await exists(keyFile))) return loadExisting(certFile, keyFile, now);

  await mkdir(tlsDir, { recursive: true, mode: 0o700 });
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const serial = webcrypto.getRandomValues(new Uint8Array(16));
  // DER integers are signed and minimal: a clear top bit keeps the serial positive, a non-zero
  // first byte keeps it 16 bytes long.
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString('hex'),
    name: 'CN=fortress',
    // Five minutes back tolerates clients whose clocks run a little behind.
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + 365 * DAY_MS),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' });
  const certPem = cert.toString('pem') + '\n';
  try {
    // 'wx': never overwrite key material; a concurrent start that got there first wins.
    await writeFile(keyFile, keyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(certFile, certPem, { mode: 0o644, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadExisting(certFile, keyFile, now);
    throw error;
  }
  // The umask may have narrowed the modes; set them exactly.
  await chmod(keyFile, 0o600);
  await chmod(certFile, 0o644);
  return { certFile, keyFile, fingerprintSha256: certificateFingerprint(certPem), created: true };
}
