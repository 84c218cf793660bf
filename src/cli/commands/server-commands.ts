/**
 * @module cli/commands/server-commands
 * `fortress server` runs the HTTPS API over a data directory until SIGTERM/SIGINT, then finishes
 * in-flight requests, seals (keys zeroed) and exits. `fortress config check` validates a
 * configuration (file + FORTRESS_* variables + flags) and prints it with secrets hidden.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadServerConfig, describeConfig, type ServerConfig } from '../../server/config/server-config.js';
import { FortressError } from '../../util/errors.js';
import type { ServerSealOptions } from '../../server/server-context.js';
import type { StorageOption } from '../../fortress.js';

const SERVER_FLAGS = {
  config: { type: 'string' },
  data: { type: 'string' },
  listen: { type: 'string' },
  'insecure-dev': { type: 'boolean' },
  'tls-disable': { type: 'boolean' },
  'log-level': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
} as const;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function configFrom(args: string[]): { config: ServerConfig; json: boolean } {
  const { values } = parseArgs({
    args,
    options: { ...SERVER_FLAGS, json: { type: 'boolean' } },
    strict: true,
  });
  const config = loadServerConfig({
    ...(values.config === undefined ? {} : { file: values.config }),
    env: process.env,
    flags: {
      ...(values.data === undefined ? {} : { storagePath: values.data }),
      ...(values.listen === undefined ? {} : { listen: values.listen }),
      ...(values['insecure-dev'] === true ? { insecureDev: true } : {}),
      ...(values['tls-disable'] === true ? { tlsDisable: true } : {}),
      ...(values['log-level'] === undefined ? {} : { logLevel: values['log-level'] }),
      ...(values['tls-cert'] === undefined ? {} : { tlsCertFile: values['tls-cert'] }),
      ...(values['tls-key'] === undefined ? {} : { tlsKeyFile: values['tls-key'] }),
      ...(values['tls-client-ca'] === undefined ? {} : { tlsClientCaFile: values['tls-client-ca'] }),
    },
  });
  return { config, json: values.json === true };
}

/** `fortress config check [--config FILE] [flags] [--json]`: exit 0 when valid, 2 with every problem listed. */
export function configCheck(args: string[]): Promise<number> {
  const { config, json } = configFrom(args);
  const shown = describeConfig(config);
  out(json ? JSON.stringify(shown, null, 2) : `configuration is valid:\n${JSON.stringify(shown, null, 2)}`);
  return Promise.resolve(0);
}

/** `fortress server`: serves until a signal, then drains and seals. */
export async function server(args: string[]): Promise<number> {
  const { config } = configFrom(args);
  let tls: { cert: Buffer; key: Buffer; ca?: Buffer } | null = null;
  let fingerprint: string | null = null;
  if (config.tls.mode === 'off') {
    process.stderr.write(
      '!!! WARNING: --insecure-dev: plain HTTP, tokens and data cross the network unencrypted. Never in production. !!!\n',
    );
  } else {
    let certFile = config.tls.certFile;
    let keyFile = config.tls.keyFile;
    if (config.tls.mode === 'auto') {
      // Loaded on demand: the certificate toolkit and the HTTP stack are for the server alone.
      const { ensureSelfSignedCertificate } = await import('../../server/tls/self-signed.js');
      const made = await ensureSelfSignedCertificate(config.storage.path, {
        hosts: [config.listen.host].filter((h) => h !== '0.0.0.0' && h !== '::'),
      });
      certFile = made.certFile;
      keyFile = made.keyFile;
      fingerprint = made.fingerprintSha256;
    }
    if (certFile === undefined || keyFile === undefined) {
      throw new FortressError('FX_CONFIG_INVALID', 'tls: both cert_file and key_file are needed');
    }
    tls = {
      cert: readFileSync(certFile),
      key: readFileSync(keyFile),
      ...(config.tls.clientCaFile === undefined ? {} : { ca: readFileSync(config.tls.clientCaFile) }),
    };
  }
  const logStream =
    config.logging.file === undefined
      ? undefined
      : createWriteStream(config.logging.file, { flags: 'a', mode: 0o600 });
  const { startServer } = await import('../../server/server.js');
  const running = await startServer({
    dataDir: config.storage.path,
    host: config.listen.host,
    port: config.listen.port,
    tls,
    insecureDev: config.insecureDev,
    bodyLimit: config.limits.bodyBytes,
    requestTimeoutMs: config.limits.requestTimeoutMs,
    rateLimit: { perToken: config.limits.rateLimitPerToken, perAddress: config.limits.rateLimitPerAddress },
    tokenTtlSeconds: config.auth.tokenTtlSeconds,
    tokenMaxTtlSeconds: config.auth.tokenMaxTtlSeconds,
    logLevel: config.logging.level,
    ...(logStream === undefined ? {} : { logStream }),
    ...(config.auth.jwt === undefined ? {} : { jwt: config.auth.jwt }),
    seal: serverSeal(config.seal),
    ...(config.storage.kind === 'postgres' ? { storage: postgresStorage(config.storage) } : {}),
    jobs: config.jobs,
    secrets: config.secrets,
    onWarning: (message) => process.stderr.write(`${message}\n`),
  });
  const status = running.context.status();
  out(`Fortress server listening on ${running.url}`);
  if (fingerprint !== null) out(`TLS certificate (self-signed) SHA-256 fingerprint: ${fingerprint}`);
  out(`Data directory: ${config.storage.path}`);
  out(
    !status.initialized
      ? 'State: not initialised — run `fortress init --server ' + running.url + '`'
      : status.sealed
        ? 'State: sealed — run `fortress unseal --server ' + running.url + '`'
        : 'State: unsealed',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      out(`${signal}: finishing in-flight requests, then sealing`);
      void running.close().then(resolve, (error: unknown) => {
        process.stderr.write(`shutdown failed: ${(error as Error).message}\n`);
        resolve();
      });
    };
    process.once('SIGTERM', () => {
      stop('SIGTERM');
    });
    process.once('SIGINT', () => {
      stop('SIGINT');
    });
  });
  logStream?.end();
  out('sealed and stopped');
  return 0;
}

/** The configured seal as the server takes it (the PKCS#11 settings only when all three are set). */
function serverSeal(seal: ServerConfig['seal']): ServerSealOptions {
  const { pkcs11Module, pkcs11Token, pkcs11Pin } = seal;
  return {
    kind: seal.kind,
    ...(seal.shares === undefined ? {} : { shares: seal.shares }),
    ...(seal.threshold === undefined ? {} : { threshold: seal.threshold }),
    ...(pkcs11Module === undefined || pkcs11Token === undefined || pkcs11Pin === undefined
      ? {}
      : { pkcs11: { module: pkcs11Module, token: pkcs11Token, pin: pkcs11Pin } }),
  };
}

/** The PostgreSQL storage option, the password (from the environment) put into the URL. */
function postgresStorage(storage: Extract<ServerConfig['storage'], { kind: 'postgres' }>): StorageOption {
  const url = new URL(storage.url);
  if (storage.password !== undefined) url.password = storage.password;
  return {
    kind: 'postgres',
    url: url.href,
    ...(storage.schema === undefined ? {} : { schema: storage.schema }),
  };
}
