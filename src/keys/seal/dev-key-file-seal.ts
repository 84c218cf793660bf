/**
 * @module keys/seal/dev-key-file-seal
 * Local development and tests only: the unseal key lives in a file readable only by its owner
 * (mode 0600), so Fortress unseals itself at start. Anyone who can read that file can unseal:
 * Fortress warns at every start and `fortress status` says so.
 */
import { chmod, open, readFile, stat } from 'node:fs/promises';
import { SecretKey, keyMaterial } from '../../crypto/memory/secret-key.js';
import { assertOptions, assertString } from '../../util/bytes.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import type { SealConfig, SealProvider, SealResult, UnsealAttempt } from './seal-provider.js';
import { unwrapRoot, wrapRoot } from './wrap-root.js';

export interface DevKeyFileSealOptions {
  /** Path of the key file; created with mode 0600 by `seal` if absent. */
  readonly path: string;
}

export const DEV_KEY_FILE_WARNING =
  'WARNING: Fortress is using a development key file to unseal itself. Anyone who can read that file can decrypt all data. Never use it in production.';

const HEADER = 'fortress-dev-unseal-key-v1:';

async function readKeyFile(path: string): Promise<SecretKey> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    throw new FortressError('FX_SEAL_PROVIDER', `cannot read the dev key file ${path}`, { cause });
  }
  if ((info.mode & 0o077) !== 0) {
    throw new FortressError(
      'FX_SEAL_PROVIDER',
      `the dev key file ${path} is readable by other users (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  const text = await readFile(path, 'utf8');
  const match = /^fortress-dev-unseal-key-v1:([0-9a-f]{64})\s*$/.exec(text);
  if (match === null) throw new FortressError('FX_SEAL_PROVIDER', `the dev key file ${path} is malformed`);
  const bytes = Buffer.from(match[1]!, 'hex');
  return SecretKey.fromBytes(bytes, { wipeSource: true });
}

async function writeKeyFile(path: string, key: SecretKey): Promise<void> {
  const hex = Buffer.from(keyMaterial(key)).toString('hex');
  // 'wx': never overwrite an existing key file (it may be the only way into existing data).
  const handle = await open(path, 'wx', 0o600).catch((cause: unknown) => {
    throw new FortressError(
      'FX_SEAL_PROVIDER',
      `cannot create the dev key file ${path} (does it already exist?)`,
      { cause },
    );
  });
  try {
    await handle.writeFile(`${HEADER}${hex}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(path, 0o600);
}

export class DevKeyFileSealProvider implements SealProvider {
  readonly kind = 'dev-key-file' as const;
  readonly insecure = true;
  readonly path: string;

  constructor(options: DevKeyFileSealOptions) {
    assertOptions(options, 'options');
    assertString(options.path, 'path');
    if (options.path.length === 0) throw new InvalidArgumentError('path', 'must not be empty');
    this.path = options.path;
  }

  async seal(rootKey: SecretKey): Promise<SealResult> {
    using unsealKey = SecretKey.generate(32);
    await writeKeyFile(this.path, unsealKey);
    return {
      config: {
        kind: 'dev-key-file',
        format: 1,
        wrappedRoot: wrapRoot('dev-key-file', unsealKey, rootKey),
        path: this.path,
      },
    };
  }

  beginUnseal(config: SealConfig): UnsealAttempt {
    if (config.kind !== 'dev-key-file' || typeof config.wrappedRoot !== 'string') {
      throw new FortressError(
        'FX_KEYSTORE_CORRUPT',
        'the stored dev key file seal configuration is malformed',
      );
    }
    const wrappedRoot = config.wrappedRoot;
    const path = this.path;
    return {
      required: 0,
      received: 0,
      submit: () =>
        Promise.reject(new InvalidArgumentError('input', 'the dev key file provider unseals automatically')),
      async auto(): Promise<SecretKey> {
        using unsealKey = await readKeyFile(path);
        return unwrapRoot('dev-key-file', unsealKey, wrappedRoot);
      },
      reset: () => undefined,
    };
  }
}
