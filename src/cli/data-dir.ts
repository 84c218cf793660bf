/**
 * @module cli/data-dir
 * The embedded data directory the CLI works on (`--data`, `$FORTRESS_DATA`, or `./fortress-data`),
 * and unsealing it for the length of one command. In embedded mode nothing stays unsealed between
 * commands: each command that needs keys asks for the unseal material (hidden prompt, or lines on
 * stdin), opens the directory through `Fortress.open` — so that the command and the unseal itself
 * are recorded in the audit ledger — and seals again when it ends.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Fortress, openDataDirectoryKeys, type FortressOptions, type StorageOption } from '../fortress.js';
import type { KeyManager } from '../keys/key-manager.js';
import { DEV_KEY_FILE_WARNING, DevKeyFileSealProvider } from '../keys/seal/dev-key-file-seal.js';
import { PassphraseSealProvider } from '../keys/seal/passphrase-seal.js';
import type { Pkcs11SealProvider } from '../keys/seal/pkcs11-seal.js';
import type {
  SealConfig,
  SealProvider,
  SealResult,
  UnsealAttempt,
  UnsealProgress,
} from '../keys/seal/seal-provider.js';
import { ShamirSealProvider } from '../keys/seal/shamir-seal.js';
import { FortressError } from '../util/errors.js';
import { readSecret } from './input.js';

export function dataDirOf(flag: string | undefined): string {
  return path.resolve(flag ?? process.env['FORTRESS_DATA'] ?? 'fortress-data');
}

/**
 * Where a directory's data lives, for a command on it. Its manifest says; a PostgreSQL directory
 * takes its database from the server's variables — FORTRESS_STORAGE_URL, FORTRESS_STORAGE_SCHEMA
 * and FORTRESS_STORAGE_PASSWORD — since the URL is never written into the directory. A directory
 * not created yet is a PostgreSQL one when FORTRESS_STORAGE_KIND=postgres.
 */
export async function storageOf(dataDir: string): Promise<StorageOption | undefined> {
  let kind: unknown;
  try {
    kind = (JSON.parse(await readFile(path.join(dataDir, 'fortress.json'), 'utf8')) as { storage?: unknown })
      .storage;
  } catch {
    // No (readable) manifest: Fortress.open reports it; a new directory follows the environment.
    kind = process.env['FORTRESS_STORAGE_KIND'];
  }
  if (kind !== 'postgres') return undefined;
  const raw = process.env['FORTRESS_STORAGE_URL'];
  if (raw === undefined || raw === '') {
    throw new FortressError(
      'FX_CONFIG_INVALID',
      `${dataDir} keeps its data in PostgreSQL: set FORTRESS_STORAGE_URL (and FORTRESS_STORAGE_SCHEMA, FORTRESS_STORAGE_PASSWORD) as for its servers`,
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FortressError(
      'FX_CONFIG_INVALID',
      'FORTRESS_STORAGE_URL: expected a postgres://user@host:port/database URL',
    );
  }
  if (url.password !== '') {
    throw new FortressError(
      'FX_CONFIG_INVALID',
      'FORTRESS_STORAGE_URL must not hold a password: give it in FORTRESS_STORAGE_PASSWORD',
    );
  }
  const password = process.env['FORTRESS_STORAGE_PASSWORD'];
  if (password !== undefined && password !== '') url.password = password;
  const schema = process.env['FORTRESS_STORAGE_SCHEMA'];
  return { kind: 'postgres', url: url.href, ...(schema === undefined || schema === '' ? {} : { schema }) };
}

/** `Fortress.open` for a CLI command: with the directory's storage (see {@link storageOf}). */
export async function openFortress(options: FortressOptions): Promise<Fortress> {
  const storage = options.storage ?? (await storageOf(options.path));
  return Fortress.open({ ...options, ...(storage === undefined ? {} : { storage }) });
}

/**
 * Opens the raw keys of a data directory — for what needs no unsealing (`status`, reading the seal
 * configuration before `Fortress.open`); nothing done through it is audited. Only `init` creates the
 * directory; every other command on a directory that does not exist reports `FX_NOT_INITIALIZED`
 * and leaves the file system alone.
 */
export async function openKeys(
  dataDir: string,
  options: { create?: boolean; pageEncryption?: boolean } = {},
): Promise<KeyManager> {
  // The same layout as Fortress.open(): keys live in the data directory's database.
  const storage = await storageOf(dataDir);
  const { keys } = await openDataDirectoryKeys(dataDir, {
    ...options,
    ownDriver: true,
    ...(storage === undefined ? {} : { storage }),
  });
  return keys;
}

/** Whether the directory's pages are encrypted (`fortress.json`); FX_NOT_INITIALIZED without one. */
export async function isPageEncrypted(dataDir: string): Promise<boolean> {
  const file = path.join(dataDir, 'fortress.json');
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FortressError(
        'FX_NOT_INITIALIZED',
        `${dataDir} is not an initialised Fortress data directory; run \`fortress init\``,
      );
    }
    throw new FortressError('FX_STORAGE', `cannot read ${file}`, { cause });
  }
  return (manifest as { pageEncryption?: unknown } | null)?.pageEncryption === true;
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

/** What `Fortress.open` needs to unseal a directory. */
export interface UnsealMaterial {
  readonly provider: SealProvider;
  readonly inputs: readonly string[];
}

/**
 * A provider that behaves exactly like `provider` and also reports what happens to the operator:
 * Shamir progress on stderr as each share is accepted, and the shares a new seal made (`init`), which
 * `Fortress.open` does not return.
 */
export function observedProvider(
  provider: SealProvider,
  options: { onShares?: (shares: readonly string[]) => void } = {},
): SealProvider {
  return {
    kind: provider.kind,
    insecure: provider.insecure,
    async seal(rootKey): Promise<SealResult> {
      const result = await provider.seal(rootKey);
      if (result.shares !== undefined) options.onShares?.(result.shares);
      return result;
    },
    beginUnseal(config): UnsealAttempt {
      const attempt = provider.beginUnseal(config);
      return {
        get required() {
          return attempt.required;
        },
        get received() {
          return attempt.received;
        },
        async submit(input): Promise<UnsealProgress> {
          const progress = await attempt.submit(input);
          if (!progress.done && config.kind === 'shamir') {
            process.stderr.write(`share accepted: ${progress.received} of ${progress.required}\n`);
          }
          return progress;
        },
        auto: () => attempt.auto(),
        reset: () => {
          attempt.reset();
        },
      };
    },
  };
}

/**
 * Reads the seal configuration of an initialised directory (through a short-lived raw key store,
 * closed again before anything else opens the database) and asks for the unseal material: the
 * threshold number of Shamir shares, one passphrase, or nothing for a key file or an HSM.
 */
export async function readUnsealMaterial(dataDir: string): Promise<UnsealMaterial> {
  const keys = await openKeys(dataDir);
  let config: SealConfig | undefined;
  try {
    config = keys.state === 'uninitialized' ? undefined : keys.sealConfig;
  } finally {
    await keys.close();
  }
  if (config === undefined) {
    throw new FortressError(
      'FX_NOT_INITIALIZED',
      'this data directory is not initialised; run `fortress init` first',
    );
  }
  const provider = await unsealProviderFor(config);
  if (provider.insecure) process.stderr.write(`\n${DEV_WARNING}\n\n`);
  const inputs: string[] = [];
  if (config.kind === 'shamir') {
    const threshold = config['threshold'];
    if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1 || threshold > 255) {
      throw new FortressError('FX_KEYSTORE_CORRUPT', 'the stored Shamir seal configuration is malformed');
    }
    for (let i = 0; i < threshold; i++) {
      inputs.push(await readSecret(`Unseal share (${i + 1} of ${threshold}): `));
    }
  } else if (config.kind === 'passphrase') {
    inputs.push(await readSecret('Passphrase: '));
  }
  return { provider: observedProvider(provider), inputs };
}

/** Where `Fortress.open` warnings go in the CLI. */
export function warnOnStderr(message: string): void {
  process.stderr.write(`\n!!! ${message} !!!\n\n`);
}

/**
 * Opens an initialised data directory through `Fortress.open`, unsealed with material asked for
 * now: every key operation made through `db.keys`, and the unseal itself, leave audit entries.
 */
export async function openUnsealed(dataDir: string): Promise<Fortress> {
  const unseal = await readUnsealMaterial(dataDir);
  return openFortress({ path: dataDir, unseal, onWarning: warnOnStderr });
}

/** Runs `fn` on the unsealed directory and closes it (sealing, storing the ledger's tail) after. */
export async function withUnsealed<T>(dataDir: string, fn: (db: Fortress) => Promise<T>): Promise<T> {
  const db = await openUnsealed(dataDir);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** The dev key file provider's own warning, framed so it stands out in a terminal. */
export const DEV_WARNING: string = `!!! ${DEV_KEY_FILE_WARNING} !!!`;
