/**
 * @module cli/data-dir
 * The embedded data directory the CLI works on (`--data`, `$FORTRESS_DATA`, or `./fortress-data`),
 * and unsealing it for the length of one command. In embedded mode nothing stays unsealed between
 * commands: each command that needs keys asks for the unseal material (hidden prompt, or lines on
 * stdin) and seals again when it ends.
 */
import path from 'node:path';
import type { KeyManager } from '../keys/key-manager.js';
import { DEV_KEY_FILE_WARNING, DevKeyFileSealProvider } from '../keys/seal/dev-key-file-seal.js';
import { PassphraseSealProvider } from '../keys/seal/passphrase-seal.js';
import type { Pkcs11SealProvider } from '../keys/seal/pkcs11-seal.js';
import type { SealConfig, SealProvider } from '../keys/seal/seal-provider.js';
import { ShamirSealProvider } from '../keys/seal/shamir-seal.js';
import { openDataDirectoryKeys } from '../fortress.js';
import { FortressError } from '../util/errors.js';
import { readSecret } from './input.js';

export function dataDirOf(flag: string | undefined): string {
  return path.resolve(flag ?? process.env['FORTRESS_DATA'] ?? 'fortress-data');
}

/**
 * Opens the keys of a data directory. Only `init` creates the directory; every other command on a
 * directory that does not exist reports `FX_NOT_INITIALIZED` and leaves the file system alone.
 */
export async function openKeys(
  dataDir: string,
  options: { create?: boolean; pageEncryption?: boolean } = {},
): Promise<KeyManager> {
  // The same layout as Fortress.open(): keys live in the data directory's database.
  const { keys } = await openDataDirectoryKeys(dataDir, { ...options, ownDriver: true });
  return keys;
}

/** The provider that unseals a stored config. */
export async function unsealProviderFor(config: SealConfig): Promise<SealProvider> {
  switch (config.kind) {
    case 'shamir':
      return new ShamirSealProvider();
    case 'passphrase':
      return new PassphraseSealProvider();
    case 'dev-key-file':
      return new DevKeyFileSealProvider({ path: String(config['path']) });
    case 'pkcs11': {
      const Pkcs11SealProvider = await loadPkcs11Provider();
      const pin = process.env['FORTRESS_PKCS11_PIN'] ?? (await readSecret('HSM user PIN: '));
      return new Pkcs11SealProvider({
        module: String(config['module']),
        tokenLabel: String(config['tokenLabel']),
        keyLabel: String(config['keyLabel']),
        pin,
      });
    }
    default:
      throw new FortressError('FX_KEYSTORE_CORRUPT', `unknown seal kind ${JSON.stringify(config.kind)}`);
  }
}

/**
 * The PKCS#11 provider, loaded on demand: its binding (pkcs11js) is an optional dependency built
 * from source, so a machine without a compiler still installs and runs everything else.
 */
export async function loadPkcs11Provider(): Promise<typeof Pkcs11SealProvider> {
  try {
    return (await import('../keys/seal/pkcs11-seal.js')).Pkcs11SealProvider;
  } catch (cause) {
    throw new FortressError(
      'FX_SEAL_PROVIDER',
      'PKCS#11 support needs the optional package pkcs11js, which is not installed (it builds from source: install a C++ compiler and run npm install again)',
      { cause },
    );
  }
}

/** Unseals `keys` for this command, reporting progress on stderr. */
export async function unsealForCommand(keys: KeyManager): Promise<void> {
  const config = keys.sealConfig;
  if (keys.state === 'uninitialized' || config === undefined) {
    throw new FortressError(
      'FX_NOT_INITIALIZED',
      'this data directory is not initialised; run `fortress init` first',
    );
  }
  const provider = await unsealProviderFor(config);
  if (provider.insecure) process.stderr.write(`\n${DEV_WARNING}\n\n`);
  const attempt = keys.beginUnseal(provider);
  if (attempt.required === 0) {
    await keys.unseal(provider);
    return;
  }
  while (keys.state !== 'unsealed') {
    const label =
      config.kind === 'shamir'
        ? `Unseal share (${attempt.received + 1} of ${attempt.required}): `
        : 'Passphrase: ';
    const progress = await attempt.submit(await readSecret(label));
    if (!progress.done)
      process.stderr.write(`share accepted: ${progress.received} of ${progress.required}\n`);
  }
}

/** The dev key file provider's own warning, framed so it stands out in a terminal. */
export const DEV_WARNING: string = `!!! ${DEV_KEY_FILE_WARNING} !!!`;
