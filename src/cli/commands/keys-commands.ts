/**
 * @module cli/commands/keys-commands
 * `fortress init | status | unseal | seal | keys …` on an embedded data directory. Every command
 * that uses keys opens the directory through `Fortress.open` and works on `db.keys`, the audited
 * key manager: the unseal and each key operation leave an entry in the audit ledger.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AeadName } from '../../crypto/aead/aead.js';
import { generateRecipientKeys } from '../../crypto/hybrid/hybrid-kem.js';
import { SecretKey } from '../../crypto/memory/secret-key.js';
import { fromHex } from '../../util/bytes.js';
import type { KeyManager } from '../../keys/key-manager.js';
import { DevKeyFileSealProvider } from '../../keys/seal/dev-key-file-seal.js';
import { PassphraseSealProvider } from '../../keys/seal/passphrase-seal.js';
import type { SealProvider } from '../../keys/seal/seal-provider.js';
import { ShamirSealProvider } from '../../keys/seal/shamir-seal.js';
import type { KeyPurpose } from '../../keys/store/key-store.js';
import { FortressError } from '../../util/errors.js';
import {
  dataDirOf,
  DEV_WARNING,
  loadPkcs11Provider,
  observedProvider,
  openFortress,
  openKeys,
  warnOnStderr,
  withUnsealed,
} from '../data-dir.js';
import { readSecret } from '../input.js';

const DATA = { data: { type: 'string' } } as const;

/** The flags that choose a new seal (`init`, and `keys import` into a new directory). */
const SEAL_FLAGS = {
  seal: { type: 'string' },
  shares: { type: 'string' },
  threshold: { type: 'string' },
  'pkcs11-module': { type: 'string' },
  'pkcs11-token': { type: 'string' },
} as const;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function integerFlag(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,3}$/.test(value)) throw new FortressError('FX_CLI_USAGE', `--${name} expects a whole number`);
  return Number(value);
}

/** A new seal chosen by flags, and what unseals it again in the same command. */
interface NewSeal {
  readonly provider: SealProvider;
  /** The passphrase just chosen (for the unseal that follows an import). */
  readonly passphrase?: string;
}

/**
 * Checks the seal flags now and returns what makes the provider — which may prompt (passphrase,
 * HSM PIN), so it runs only once every other check has passed.
 */
function chooseSeal(
  values: {
    seal?: string | undefined;
    shares?: string | undefined;
    threshold?: string | undefined;
    'pkcs11-module'?: string | undefined;
    'pkcs11-token'?: string | undefined;
  },
  dataDir: string,
): () => Promise<NewSeal> {
  switch (values.seal ?? 'shamir') {
    case 'shamir': {
      const provider = new ShamirSealProvider({
        shares: integerFlag(values.shares, 'shares', 5),
        threshold: integerFlag(values.threshold, 'threshold', 3),
      });
      return () => Promise.resolve({ provider });
    }
    case 'passphrase':
      return async () => {
        const passphrase = await readSecret('New passphrase (at least 12 characters): ');
        const again = await readSecret('Repeat the passphrase: ');
        if (passphrase !== again) throw new FortressError('FX_CLI_USAGE', 'the two passphrases differ');
        return { provider: new PassphraseSealProvider({ passphrase }), passphrase };
      };
    case 'dev-key-file': {
      const provider = new DevKeyFileSealProvider({ path: path.join(dataDir, 'dev-unseal.key') });
      return () => Promise.resolve({ provider });
    }
    case 'pkcs11': {
      const module = values['pkcs11-module'];
      const tokenLabel = values['pkcs11-token'];
      if (module === undefined || tokenLabel === undefined) {
        throw new FortressError('FX_CLI_USAGE', '--seal pkcs11 needs --pkcs11-module and --pkcs11-token');
      }
      return async () => {
        const Pkcs11SealProvider = await loadPkcs11Provider();
        const pin = process.env['FORTRESS_PKCS11_PIN'] ?? (await readSecret('HSM user PIN: '));
        return { provider: new Pkcs11SealProvider({ module, tokenLabel, pin }) };
      };
    }
    default:
      throw new FortressError('FX_CLI_USAGE', `--seal must be shamir, passphrase, dev-key-file or pkcs11`);
  }
}

/** FX_ALREADY_INITIALIZED if the directory already has a sealed root key (checked before any prompt). */
async function refuseInitialised(dataDir: string, hint: string): Promise<void> {
  if (!existsSync(path.join(dataDir, 'fortress.json'))) return;
  const keys = await openKeys(dataDir);
  try {
    if (keys.state !== 'uninitialized') {
      throw new FortressError(
        'FX_ALREADY_INITIALIZED',
        `Fortress is already initialised in ${dataDir}${hint}`,
      );
    }
  } finally {
    await keys.close();
  }
}

function printShares(shares: readonly string[], threshold: number): void {
  out('');
  out(`Unseal key shares — any ${threshold} of these ${shares.length} unseal Fortress:`);
  out('');
  shares.forEach((share, i) => {
    out(`  Share ${i + 1}: ${share}`);
  });
  out('');
  out('!!! These shares are shown ONCE and are never stored. Give each to a different person and');
  out('!!! keep them apart. Fewer than the threshold reveal nothing; losing too many loses all data.');
}

/**
 * `fortress init [--seal shamir|passphrase|dev-key-file|pkcs11] [--shares N] [--threshold T]` —
 * through `Fortress.open`, so the directory starts with its audit ledger and `audit.vkey`, and the
 * ledger's first entry records the initialisation.
 */
export async function init(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...DATA, ...SEAL_FLAGS, json: { type: 'boolean', default: false } },
    strict: true,
  });
  const dataDir = dataDirOf(values.data);
  const makeSeal = chooseSeal(values, dataDir);
  await refuseInitialised(dataDir, '; refusing to overwrite its keys');
  const { provider } = await makeSeal();
  let shares: readonly string[] | undefined;
  const db = await openFortress({
    path: dataDir,
    unseal: {
      provider: observedProvider(provider, {
        onShares: (made) => {
          shares = made;
        },
      }),
    },
    onWarning: warnOnStderr,
  });
  try {
    if (values.json) {
      out(JSON.stringify({ dataDir, seal: provider.kind, shares: shares ?? [] }, null, 2));
      return 0;
    }
    out(`Initialised Fortress in ${dataDir} (seal: ${provider.kind}).`);
    out(`Audit ledger verifier key: ${path.join(dataDir, 'audit.vkey')} (keep a copy elsewhere)`);
    if (shares !== undefined) {
      printShares(shares, (db.keys.sealConfig?.['threshold'] as number | undefined) ?? shares.length);
    }
    if (provider.insecure) out(`\n${DEV_WARNING}`);
    return 0;
  } finally {
    await db.close();
  }
}

/** `fortress status` — what can be said without unsealing (nothing is opened through the ledger). */
export async function status(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...DATA, json: { type: 'boolean', default: false } },
    strict: true,
  });
  const dataDir = dataDirOf(values.data);
  if (!existsSync(path.join(dataDir, 'fortress.json'))) {
    if (values.json) out(JSON.stringify({ dataDir, initialized: false, state: 'uninitialized' }, null, 2));
    else out(`Data directory: ${dataDir}\nInitialised:    no (run \`fortress init\`)`);
    return 0;
  }
  const keys = await openKeys(dataDir);
  try {
    const config = keys.sealConfig;
    const report = {
      dataDir,
      initialized: keys.state !== 'uninitialized',
      state: keys.state === 'uninitialized' ? 'uninitialized' : 'sealed',
      mode: 'embedded (unsealed only while a command runs)',
      seal: config === undefined ? null : config.kind,
      threshold: config?.kind === 'shamir' ? config['threshold'] : undefined,
      shares: config?.kind === 'shamir' ? config['shares'] : undefined,
      insecure: config?.kind === 'dev-key-file',
    };
    if (values.json) {
      out(JSON.stringify(report, null, 2));
      return 0;
    }
    out(`Data directory: ${dataDir}`);
    out(`Initialised:    ${report.initialized ? 'yes' : 'no (run `fortress init`)'}`);
    if (config !== undefined) {
      out(
        `Seal:           ${config.kind}${config.kind === 'shamir' ? ` (${String(config['threshold'])} of ${String(config['shares'])} shares)` : ''}`,
      );
      out(`State:          sealed (embedded mode: unsealed only while a command runs)`);
    }
    if (report.insecure) out(`\n${DEV_WARNING}`);
    return 0;
  } finally {
    await keys.close();
  }
}

/** `fortress unseal` — checks the unseal material (share by share, with progress); the unseal is audited. */
export async function unseal(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: DATA, strict: true });
  return withUnsealed(dataDirOf(values.data), () => {
    out('Unsealed: the unseal material is correct.');
    out('Embedded mode keeps nothing unsealed between commands; Fortress is sealed again now.');
    return Promise.resolve(0);
  });
}

/**
 * `fortress seal` — embedded mode holds no keys between commands, so there is nothing to zero; the
 * request is still recorded (`system.seal`). It opens the directory without asking for unseal
 * material (sealing never needs it). With page encryption the ledger cannot be opened while sealed,
 * so the request goes unrecorded there.
 */
export async function seal(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: DATA, strict: true });
  const dataDir = dataDirOf(values.data);
  const keys = await openKeys(dataDir);
  try {
    if (keys.state === 'uninitialized')
      throw new FortressError('FX_NOT_INITIALIZED', 'this data directory is not initialised');
  } finally {
    await keys.close();
  }
  // No `unseal` option: a sealed directory opens sealed (a dev key file one unseals itself).
  const db = await openFortress({ path: dataDir, onWarning: warnOnStderr });
  try {
    db.seal();
    out('Sealed. (Embedded mode: no process holds keys between commands.)');
    return 0;
  } finally {
    await db.close();
  }
}

/** Runs `fn` on the audited key manager of the unsealed directory. */
function withKeys<T>(dataFlag: string | undefined, fn: (keys: KeyManager) => Promise<T>): Promise<T> {
  return withUnsealed(dataDirOf(dataFlag), (db) => fn(db.keys));
}

/** Fortress's own keys (`fortress/…`: audit, storage, backup signing) are listed after the user's. */
function isReservedKey(name: string): boolean {
  return name === 'fortress' || name.startsWith('fortress/');
}

function printKeys(keys: KeyManager, json: boolean): void {
  const list = keys.listKeys();
  if (json) {
    out(JSON.stringify(list, null, 2));
    return;
  }
  if (!list.some((k) => !isReservedKey(k.name))) {
    out('No keys yet. Create one with `fortress keys create <name> --purpose kek`.');
    if (list.length === 0) return;
    out('');
  }
  const ordered = [
    ...list.filter((k) => !isReservedKey(k.name)),
    ...list.filter((k) => isReservedKey(k.name)),
  ];
  const rows = ordered.map((k) => [
    String(k.id),
    k.name,
    k.purpose,
    k.algorithm,
    String(k.activeVersion),
    String(k.minDecryptionVersion),
    k.rotationPeriod ?? '-',
  ]);
  const header = ['id', 'name', 'purpose', 'algorithm', 'active', 'min-decrypt', 'rotation'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  out(line(header));
  for (const row of rows) out(line(row));
}

/** `fortress keys <list|create|rotate|destroy|min-version|versions> …` */
export async function keysCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'recipient' || sub === 'export' || sub === 'import') return backupCommand(sub, rest);
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      ...DATA,
      json: { type: 'boolean', default: false },
      purpose: { type: 'string' },
      parent: { type: 'string' },
      algorithm: { type: 'string' },
      rotation: { type: 'string' },
      version: { type: 'string' },
      all: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const name = positionals[0];
  const needName = (): string => {
    if (name === undefined)
      throw new FortressError('FX_CLI_USAGE', `fortress keys ${sub ?? ''} needs a key name`);
    return name;
  };
  const version = (): number => {
    if (values.version === undefined || !/^\d{1,10}$/.test(values.version)) {
      throw new FortressError('FX_CLI_USAGE', '--version expects a version number');
    }
    return Number(values.version);
  };
  // Usage errors are found before anything is asked for or opened.
  if (['create', 'rotate', 'min-version', 'destroy', 'versions'].includes(sub ?? '')) needName();
  if (sub === 'min-version' || (sub === 'destroy' && !values.all)) version();
  switch (sub) {
    case 'list':
      return withKeys(values.data, async (keys) => {
        printKeys(keys, values.json);
        return Promise.resolve(0);
      });
    case 'create':
      return withKeys(values.data, async (keys) => {
        const info = await keys.createKey({
          name: needName(),
          purpose: (values.purpose ?? 'data') as KeyPurpose,
          ...(values.parent === undefined ? {} : { parent: values.parent }),
          ...(values.algorithm === undefined ? {} : { algorithm: values.algorithm as AeadName }),
          ...(values.rotation === undefined ? {} : { rotationPeriod: values.rotation }),
        });
        out(`Created ${info.purpose} key ${info.name} (id ${info.id}, ${info.algorithm}, version 1 active).`);
        return 0;
      });
    case 'rotate':
      return withKeys(values.data, async (keys) => {
        const info = await keys.rotate(needName());
        out(`Rotated ${info.name}: version ${info.activeVersion} is active; older versions decrypt only.`);
        return 0;
      });
    case 'min-version':
      return withKeys(values.data, async (keys) => {
        const info = await keys.setMinDecryptionVersion(needName(), version());
        out(
          `${info.name}: versions below ${info.minDecryptionVersion} no longer decrypt (reversible until destroyed).`,
        );
        return 0;
      });
    case 'destroy':
      return withKeys(values.data, async (keys) => {
        if (values.all) {
          const results = await keys.destroyKey(needName());
          out(
            `Destroyed all ${results.length} versions of ${needName()}; data under it (and under any key it wraps) is unreadable.`,
          );
          return 0;
        }
        const result = await keys.destroyVersion(needName(), version());
        out(
          `Destroyed ${needName()} version ${result.version}: ${result.encryptions} encryptions were made under it; that data is now permanently unreadable.`,
        );
        return 0;
      });
    case 'versions':
      return withKeys(values.data, async (keys) => {
        const versions = await keys.listVersions(needName());
        if (values.json) out(JSON.stringify(versions, null, 2));
        else
          for (const v of versions)
            out(
              `${String(v.version).padStart(6)}  ${v.state.padEnd(12)}  ${v.createdAt}  ${v.encryptions} encryptions`,
            );
        return 0;
      });
    default:
      throw new FortressError(
        'FX_CLI_USAGE',
        `unknown keys command ${JSON.stringify(sub ?? '')}; expected list, versions, create, rotate, min-version, destroy, recipient, export or import`,
      );
  }
}

/** `fortress keys recipient|export|import …` — disaster-recovery key backups. */
export async function backupCommand(sub: string, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...DATA,
      ...SEAL_FLAGS,
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      to: { type: 'string' },
      label: { type: 'string' },
      'recipient-key': { type: 'string' },
      trust: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const need = (value: string | undefined, flag: string): string => {
    if (value === undefined) throw new FortressError('FX_CLI_USAGE', `fortress keys ${sub} needs ${flag}`);
    return value;
  };
  if (sub !== 'import') {
    for (const flag of Object.keys(SEAL_FLAGS)) {
      if (values[flag as keyof typeof SEAL_FLAGS] !== undefined) {
        throw new FortressError('FX_CLI_USAGE', `--${flag} applies to \`keys import\` only`);
      }
    }
  }
  if (sub === 'recipient') {
    const outPath = path.resolve(need(values.out, '--out FILE'));
    const { publicKey, secretKey } = generateRecipientKeys();
    try {
      await writeNew(
        outPath,
        `fortress-backup-recipient-secret-v1:${Buffer.from(secretKey.exportRaw()).toString('hex')}\n`,
        0o600,
      );
    } finally {
      secretKey.dispose();
    }
    await writeNew(
      `${outPath}.pub`,
      `fortress-backup-recipient-v1:${Buffer.from(publicKey).toString('hex')}\n`,
      0o644,
    );
    out(`Recipient secret key: ${outPath} (mode 0600 — keep it offline; it opens every backup made for it)`);
    out(`Recipient public key: ${outPath}.pub (give this to \`fortress keys export --to\`)`);
    return 0;
  }
  if (sub === 'export') {
    const recipient = readTagged(
      await readFile(path.resolve(need(values.to, '--to RECIPIENT.pub')), 'utf8'),
      'fortress-backup-recipient-v1',
      '--to',
    );
    const outPath = path.resolve(need(values.out, '--out FILE'));
    return withKeys(values.data, async (keys) => {
      const result = await keys.exportKeys({
        recipient,
        ...(values.label === undefined ? {} : { label: values.label }),
      });
      await writeNew(outPath, result.backup, 0o600);
      const signers = {
        ed25519: Buffer.from(result.signers.ed25519).toString('hex'),
        mlDsa65: Buffer.from(result.signers.mlDsa65).toString('hex'),
      };
      await writeNew(`${outPath}.signers.json`, `${JSON.stringify(signers, null, 2)}\n`, 0o644);
      out(
        `Wrote ${outPath}: ${result.keys} keys, ${result.versions} versions, encrypted to the recipient and signed.`,
      );
      out(`Signer public keys: ${outPath}.signers.json`);
      out(`  Ed25519 fingerprint:   ${fingerprint(result.signers.ed25519)}`);
      out(`  ML-DSA-65 fingerprint: ${fingerprint(result.signers.mlDsa65)}`);
      out('Whoever restores must check these fingerprints through a channel other than the backup file.');
      return 0;
    });
  }
  // import
  const backupPath = path.resolve(need(positionals[0], 'the backup file'));
  const secretText = await readFile(
    path.resolve(need(values['recipient-key'], '--recipient-key FILE')),
    'utf8',
  );
  let trustedJson: { ed25519?: unknown; mlDsa65?: unknown };
  try {
    trustedJson = JSON.parse(
      await readFile(path.resolve(need(values.trust, '--trust SIGNERS.json')), 'utf8'),
    ) as {
      ed25519?: unknown;
      mlDsa65?: unknown;
    };
  } catch (cause) {
    if (cause instanceof FortressError) throw cause;
    throw new FortressError('FX_CLI_USAGE', '--trust must name a readable JSON signers file', { cause });
  }
  if (typeof trustedJson.ed25519 !== 'string' || typeof trustedJson.mlDsa65 !== 'string') {
    throw new FortressError(
      'FX_CLI_USAGE',
      '--trust must be a JSON file with hex "ed25519" and "mlDsa65" public keys',
    );
  }
  const trusted = {
    ed25519: fromHex(trustedJson.ed25519, 'ed25519'),
    mlDsa65: fromHex(trustedJson.mlDsa65, 'mlDsa65'),
  };
  const secretBytes = readTagged(secretText, 'fortress-backup-recipient-secret-v1', '--recipient-key');
  using recipientSecretKey = SecretKey.fromBytes(secretBytes, { wipeSource: true });
  const backup = new Uint8Array(await readFile(backupPath));
  // `return await`: the recipient key must outlive the restore, not just this frame.
  return await restoreInto(
    dataDirOf(values.data),
    backup,
    { recipientSecretKey, trusted },
    values,
    values.json,
  );
}

/**
 * Restores a key backup into a NEW data directory, then opens it through `Fortress.open`.
 *
 * Why not into an initialised directory, through `db.keys.importKeys`: the key manager imports only
 * into an empty keyring, and a directory opened by Fortress always holds the audit ledger's own keys
 * (created at its first unseal). So the restore initialises the directory itself with the raw key
 * store, imports (the backup brings the source's audit keys along, so the restored directory signs
 * its ledger with the same key), and only then opens Fortress, which starts the ledger; its first
 * entry records that unseal. If the import fails, the files this command created are removed again.
 */
async function restoreInto(
  dataDir: string,
  backup: Uint8Array,
  options: Parameters<KeyManager['importKeys']>[1],
  sealFlags: Parameters<typeof chooseSeal>[0],
  json: boolean,
): Promise<number> {
  const makeSeal = chooseSeal(sealFlags, dataDir);
  await refuseInitialised(
    dataDir,
    '; `keys import` restores into a new data directory (pass another --data, and seal flags as for init)',
  );
  const { provider, passphrase } = await makeSeal();
  const existedBefore = [dataDir, ...CREATED_FILES.map((f) => path.join(dataDir, f))].filter((f) =>
    existsSync(f),
  );
  const keys = await openKeys(dataDir, { create: true });
  let shares: readonly string[] | undefined;
  let result: Awaited<ReturnType<KeyManager['importKeys']>> | undefined;
  try {
    shares = (await keys.init(provider)).shares;
    result = await keys.importKeys(backup, options);
  } finally {
    await keys.close();
    if (result === undefined) await removeCreated(dataDir, existedBefore);
  }
  const threshold = provider instanceof ShamirSealProvider ? provider.threshold : 0;
  const inputs =
    shares !== undefined ? shares.slice(0, threshold) : passphrase === undefined ? [] : [passphrase];
  // Start the ledger now (and prove the restored keyring opens); its audit keys came with the backup.
  const db = await openFortress({
    path: dataDir,
    unseal: { provider: observedProvider(provider), inputs },
    onWarning: warnOnStderr,
  });
  await db.close();
  if (json) {
    out(JSON.stringify({ dataDir, seal: provider.kind, shares: shares ?? [], ...result }, null, 2));
    return 0;
  }
  out(
    `Restored ${result.keys} keys (${result.versions} versions) from a backup made ${result.createdAt}${result.label === '' ? '' : ` (${result.label})`} into ${dataDir} (seal: ${provider.kind}).`,
  );
  out(`  Ed25519 fingerprint:   ${fingerprint(options.trusted.ed25519)}`);
  out(`  ML-DSA-65 fingerprint: ${fingerprint(options.trusted.mlDsa65)}`);
  if (shares !== undefined) printShares(shares, threshold);
  if (provider.insecure) out(`\n${DEV_WARNING}`);
  return 0;
}

/** The files a restore may create in its data directory. */
const CREATED_FILES = [
  'fortress.json',
  'fortress.db',
  'fortress.db-wal',
  'fortress.db-shm',
  'dev-unseal.key',
];

/** Removes what a failed restore created — never a file (or the directory) that existed before. */
async function removeCreated(dataDir: string, existedBefore: readonly string[]): Promise<void> {
  for (const file of CREATED_FILES.map((f) => path.join(dataDir, f))) {
    if (!existedBefore.includes(file)) await rm(file, { force: true });
  }
  if (!existedBefore.includes(dataDir)) await rmdir(dataDir).catch(() => undefined);
}

function fingerprint(publicKey: Uint8Array): string {
  return createHash('sha256')
    .update(publicKey)
    .digest('hex')
    .slice(0, 32)
    .replace(/(.{4})(?!$)/g, '$1:');
}

function readTagged(text: string, tag: string, flag: string): Uint8Array {
  const match = new RegExp(`^${tag}:([0-9a-f]+)\\s*$`).exec(text);
  if (match === null) throw new FortressError('FX_CLI_USAGE', `${flag} is not a ${tag} file`);
  return fromHex(match[1]!, flag);
}

async function writeNew(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  try {
    await writeFile(file, data, { flag: 'wx', mode });
  } catch (cause) {
    throw new FortressError('FX_CLI_USAGE', `cannot create ${file} (does it already exist?)`, { cause });
  }
}
