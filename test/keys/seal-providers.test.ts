/**
 * The seal providers: each runs the shared SealProvider conformance suite (seal-provider.case.ts),
 * then the checks only it can fail.
 *
 * - Shamir (5,3), (1,1), (3,3): any threshold-subset unseals; shares of another seal, repeated
 *   and mistyped shares are refused at submit time with a message saying which; bad options.
 * - Passphrase (small Argon2id parameters for speed, one run with the defaults): short
 *   passphrases refused at construction, wrong ones fail, Unicode normalisation.
 * - Dev key file: 0600, never overwritten, refused when others can read it or it is malformed,
 *   and flagged insecure.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { DEV_KEY_FILE_WARNING, DevKeyFileSealProvider } from '../../src/keys/seal/dev-key-file-seal.js';
import { PassphraseSealProvider, type PassphraseSealOptions } from '../../src/keys/seal/passphrase-seal.js';
import type { SealResult } from '../../src/keys/seal/seal-provider.js';
import { ShamirSealProvider } from '../../src/keys/seal/shamir-seal.js';
import {
  expectCodeAsync,
  runSealProviderConformance,
  unsealWith,
  withoutField,
} from './seal-provider.case.js';
import { combinations } from '../helpers/expect-code.js';

// The cast works around a typing bug in PassphraseSealOptions['kdf']: `Omit` over the
// Argon2id | scrypt union keeps only their common keys, so `memoryKiB` and `iterations` are
// refused by the type although the provider uses them (see the report with these tests).
const FAST_KDF = {
  algorithm: 'argon2id',
  memoryKiB: 1024,
  iterations: 1,
  parallelism: 1,
} as NonNullable<PassphraseSealOptions['kdf']>;
const PASSPHRASE = 'correct horse battery staple';

const sharesOf = (result: SealResult): readonly string[] => {
  expect(result.shares).toBeDefined();
  return result.shares!;
};

/** The share with one hex digit (after the prefix) changed to another hex digit. */
function mistype(share: string, at: number): string {
  const i = 'fxs1-'.length + at;
  const c = share[i]!;
  const replacement = c === '0' ? '1' : '0';
  return share.slice(0, i) + replacement + share.slice(i + 1);
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'fortress-seal-'));
}

// --- Shamir -------------------------------------------------------------------------------------

for (const [shares, threshold] of [
  [5, 3],
  [1, 1],
  [3, 3],
] as const) {
  runSealProviderConformance(`ShamirSealProvider (${shares}, ${threshold})`, async () => {
    const provider = new ShamirSealProvider({ shares, threshold });
    // Shares of another Fortress (another seal of another root key).
    using otherRoot = SecretKey.generate(32);
    const foreign = sharesOf(await new ShamirSealProvider({ shares, threshold }).seal(otherRoot));
    return {
      provider,
      inputs: (result) => sharesOf(result).slice(0, threshold),
      wrongInputs: (result) => [...sharesOf(result).slice(0, threshold - 1), foreign[threshold - 1]!],
      cleanup: () => Promise.resolve(),
    };
  });
}

describe('ShamirSealProvider', () => {
  let root: SecretKey;

  beforeEach(() => {
    root = SecretKey.generate(32);
  });

  afterEach(() => {
    root.dispose();
  });

  it('defaults to 5 shares, threshold 3, and hands out distinct fxs1- shares', async () => {
    const provider = new ShamirSealProvider();
    expect([provider.shares, provider.threshold]).toEqual([5, 3]);
    expect(provider.kind).toBe('shamir');
    expect(provider.insecure).toBe(false);
    const result = await provider.seal(root);
    const shares = sharesOf(result);
    expect(shares).toHaveLength(5);
    expect(new Set(shares).size).toBe(5);
    for (const share of shares) expect(share).toMatch(/^fxs1-[0-9a-f]+$/);
    expect(result.config).toMatchObject({ kind: 'shamir', format: 1, shares: 5, threshold: 3 });
    expect(provider.beginUnseal(result.config).required).toBe(3);
  });

  it('unseals with every 3-subset of the 5 shares (all 10), in either order', async () => {
    const provider = new ShamirSealProvider({ shares: 5, threshold: 3 });
    const result = await provider.seal(root);
    const shares = sharesOf(result);
    const subsets = combinations(5, 3);
    expect(subsets).toHaveLength(10);
    for (const [n, subset] of subsets.entries()) {
      const picked = subset.map((i) => shares[i]!);
      using key = await unsealWith(provider, result.config, n % 2 === 0 ? picked : picked.reverse());
      expect(key.equals(root), `subset ${subset.join(',')}`).toBe(true);
    }
  });

  it('accepts shares with surrounding white space and in upper case', async () => {
    const provider = new ShamirSealProvider({ shares: 3, threshold: 2 });
    const result = await provider.seal(root);
    const [a, b] = sharesOf(result);
    using key = await unsealWith(provider, result.config, [`  ${a!.toUpperCase()}\n`, `\t${b!} `]);
    expect(key.equals(root)).toBe(true);
  });

  it('refuses a share of another Fortress at submit time, mentioning "another"', async () => {
    const provider = new ShamirSealProvider();
    const result = await provider.seal(root);
    using otherRoot = SecretKey.generate(32);
    const foreign = sharesOf(await provider.seal(otherRoot));
    const attempt = provider.beginUnseal(result.config);
    await attempt.submit(sharesOf(result)[0]!);
    const error = await expectCodeAsync(() => attempt.submit(foreign[1]!), 'FX_UNSEAL_FAILED');
    expect(error.message).toMatch(/another/);
    expect(attempt.received).toBe(0);
    // The very first share can be foreign too.
    await expectCodeAsync(() => attempt.submit(foreign[0]!), 'FX_UNSEAL_FAILED');
    expect(attempt.received).toBe(0);
  });

  it('refuses the shares of an earlier seal of the same root (after a re-seal)', async () => {
    const provider = new ShamirSealProvider();
    const old = await provider.seal(root);
    const current = await provider.seal(root);
    const attempt = provider.beginUnseal(current.config);
    const error = await expectCodeAsync(() => attempt.submit(sharesOf(old)[0]!), 'FX_UNSEAL_FAILED');
    expect(error.message).toMatch(/another|older/);
  });

  it('refuses a repeated share, however it is written', async () => {
    const provider = new ShamirSealProvider();
    const result = await provider.seal(root);
    const [a, b] = sharesOf(result);
    const attempt = provider.beginUnseal(result.config);
    for (const repeat of [a!, ` ${a!.toUpperCase()} `]) {
      expect(await attempt.submit(a!)).toEqual({ done: false, received: 1, required: 3 });
      const error = await expectCodeAsync(() => attempt.submit(repeat), 'FX_UNSEAL_FAILED');
      expect(error.message).toMatch(/already/);
      expect(attempt.received).toBe(0);
    }
    // After two shares, repeating the first one is still refused.
    await attempt.submit(a!);
    await attempt.submit(b!);
    await expectCodeAsync(() => attempt.submit(b!), 'FX_UNSEAL_FAILED');
    expect(attempt.received).toBe(0);
    using key = await unsealWith(provider, result.config, sharesOf(result).slice(2, 5), attempt);
    expect(key.equals(root)).toBe(true);
  });

  it('refuses a mistyped share (one hex digit changed) as mistyped or damaged', async () => {
    const provider = new ShamirSealProvider();
    const result = await provider.seal(root);
    const shares = sharesOf(result);
    const hexLength = shares[0]!.length - 'fxs1-'.length;
    for (const at of [0, 5, 30, Math.floor(hexLength / 2), hexLength - 9, hexLength - 1]) {
      const attempt = provider.beginUnseal(result.config);
      await attempt.submit(shares[0]!);
      const error = await expectCodeAsync(() => attempt.submit(mistype(shares[1]!, at)), 'FX_UNSEAL_FAILED');
      expect(error.message).toMatch(/mistyped|checksum/);
      expect(attempt.received).toBe(0);
    }
    // A share with a non-hex character or a missing digit is refused too.
    const attempt = provider.beginUnseal(result.config);
    await expectCodeAsync(() => attempt.submit(shares[0]!.replace(/.$/, 'g')), 'FX_UNSEAL_FAILED');
    await expectCodeAsync(() => attempt.submit(shares[0]!.slice(0, -1)), 'FX_UNSEAL_FAILED');
    await expectCodeAsync(() => attempt.submit('not a share'), 'FX_UNSEAL_FAILED');
  });

  it('refuses bad options with FX_INVALID_ARGUMENT', async () => {
    const bad: unknown[] = [
      { shares: 3, threshold: 5 },
      { shares: 0 },
      { shares: 256 },
      { shares: 0, threshold: 256 },
      { threshold: 0 },
      { threshold: 256 },
      { shares: 2.5 },
      { shares: '5' },
      { threshold: Number.NaN },
      null,
    ];
    for (const options of bad) {
      await expectCodeAsync(
        () => new ShamirSealProvider(options as ConstructorParameters<typeof ShamirSealProvider>[0]),
        'FX_INVALID_ARGUMENT',
      );
    }
    // The extremes are fine.
    expect(new ShamirSealProvider({ shares: 255, threshold: 255 }).threshold).toBe(255);
    expect(new ShamirSealProvider({ shares: 1, threshold: 1 }).shares).toBe(1);
  });

  it('auto() rejects: Shamir unsealing needs the operators', async () => {
    const provider = new ShamirSealProvider();
    const result = await provider.seal(root);
    const attempt = provider.beginUnseal(result.config);
    await expectCodeAsync(() => attempt.auto(), 'FX_INVALID_ARGUMENT');
  });

  it('refuses a Shamir config missing its split fields with FX_KEYSTORE_CORRUPT', async () => {
    const provider = new ShamirSealProvider();
    const { config } = await provider.seal(root);
    for (const field of ['shares', 'threshold', 'splitId']) {
      await expectCodeAsync(() => provider.beginUnseal(withoutField(config, field)), 'FX_KEYSTORE_CORRUPT');
    }
  });
});

// --- Passphrase ---------------------------------------------------------------------------------

runSealProviderConformance('PassphraseSealProvider (Argon2id, small parameters)', () =>
  Promise.resolve({
    provider: new PassphraseSealProvider({ passphrase: PASSPHRASE, kdf: FAST_KDF }),
    inputs: () => [PASSPHRASE],
    wrongInputs: () => ['correct horse battery stapler'],
    cleanup: () => Promise.resolve(),
  }),
);

describe('PassphraseSealProvider', () => {
  let root: SecretKey;

  beforeEach(() => {
    root = SecretKey.generate(32);
  });

  afterEach(() => {
    root.dispose();
  });

  it('seals and unseals with the default KDF parameters', async () => {
    const provider = new PassphraseSealProvider({ passphrase: PASSPHRASE });
    expect(provider.kind).toBe('passphrase');
    expect(provider.insecure).toBe(false);
    const result = await provider.seal(root);
    expect(result.config['kdf']).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
    expect(result.shares).toBeUndefined();
    using key = await unsealWith(provider, result.config, [PASSPHRASE]);
    expect(key.equals(root)).toBe(true);
  });

  it('refuses a passphrase shorter than 12 characters at construction', async () => {
    for (const passphrase of ['', 'short', 'elevenchars', '           ', '🔑'.repeat(11), 42, null]) {
      await expectCodeAsync(
        () => new PassphraseSealProvider({ passphrase: passphrase as string, kdf: FAST_KDF }),
        'FX_INVALID_ARGUMENT',
      );
    }
    expect(new PassphraseSealProvider({ passphrase: 'twelve chars' }).kind).toBe('passphrase');
  });

  it('fails a wrong passphrase with FX_UNSEAL_FAILED and then accepts the right one', async () => {
    const provider = new PassphraseSealProvider({ passphrase: PASSPHRASE, kdf: FAST_KDF });
    const result = await provider.seal(root);
    const attempt = provider.beginUnseal(result.config);
    expect([attempt.required, attempt.received]).toEqual([1, 0]);
    for (const wrong of ['Correct horse battery staple', `${PASSPHRASE} `, 'x'.repeat(40)]) {
      const error = await expectCodeAsync(() => attempt.submit(wrong), 'FX_UNSEAL_FAILED');
      expect(error.message).toMatch(/wrong passphrase/);
      expect(error.message).not.toContain(wrong);
      expect(attempt.received).toBe(0);
    }
    await expectCodeAsync(() => attempt.submit(''), 'FX_INVALID_ARGUMENT');
    await expectCodeAsync(() => attempt.auto(), 'FX_INVALID_ARGUMENT');
    using key = await unsealWith(provider, result.config, [PASSPHRASE], attempt);
    expect(key.equals(root)).toBe(true);
  });

  it('unseals with the passphrase typed in another Unicode normalisation form', async () => {
    const nfc = 'crème brûlée à la café';
    const provider = new PassphraseSealProvider({ passphrase: nfc, kdf: FAST_KDF });
    const result = await provider.seal(root);
    using key = await unsealWith(provider, result.config, [nfc.normalize('NFD')]);
    expect(key.equals(root)).toBe(true);
  });

  it('unseals with any provider instance: the config carries the KDF parameters and salt', async () => {
    const result = await new PassphraseSealProvider({ passphrase: PASSPHRASE, kdf: FAST_KDF }).seal(root);
    const other = new PassphraseSealProvider({ passphrase: 'another passphrase entirely' });
    using key = await unsealWith(other, result.config, [PASSPHRASE]);
    expect(key.equals(root)).toBe(true);
  });

  it('refuses a stored config without a string kdf field with FX_KEYSTORE_CORRUPT', async () => {
    const provider = new PassphraseSealProvider({ passphrase: PASSPHRASE, kdf: FAST_KDF });
    const { config } = await provider.seal(root);
    await expectCodeAsync(() => provider.beginUnseal(withoutField(config, 'kdf')), 'FX_KEYSTORE_CORRUPT');
    await expectCodeAsync(() => provider.beginUnseal({ ...config, kdf: 7 }), 'FX_KEYSTORE_CORRUPT');
  });

  it('refuses a stored config whose kdf string is malformed with FX_KEYSTORE_CORRUPT', async () => {
    const provider = new PassphraseSealProvider({ passphrase: PASSPHRASE, kdf: FAST_KDF });
    const { config } = await provider.seal(root);
    for (const kdf of [
      'garbage',
      '$argon2id$v=19$m=1024,t=1,p=1$',
      // Parses, but below the minimum memory: a tampered config must not weaken the KDF.
      '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ',
    ]) {
      await expectCodeAsync(() => provider.beginUnseal({ ...config, kdf }), 'FX_KEYSTORE_CORRUPT');
    }
  });
});

// --- Dev key file -------------------------------------------------------------------------------

runSealProviderConformance('DevKeyFileSealProvider', async () => {
  const dir = await tempDir();
  return {
    provider: new DevKeyFileSealProvider({ path: path.join(dir, 'unseal.key') }),
    inputs: () => [],
    wrongInputs: () => [],
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('DevKeyFileSealProvider', () => {
  let dir: string;
  let keyFile: string;
  let root: SecretKey;

  beforeEach(async () => {
    dir = await tempDir();
    keyFile = path.join(dir, 'unseal.key');
    root = SecretKey.generate(32);
  });

  afterEach(async () => {
    root.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('is flagged insecure and comes with a loud warning', () => {
    const provider = new DevKeyFileSealProvider({ path: keyFile });
    expect(provider.insecure).toBe(true);
    expect(provider.kind).toBe('dev-key-file');
    expect(DEV_KEY_FILE_WARNING).toMatch(/never use it in production/i);
  });

  it('writes the key file with mode 0600, and the config holds not the unseal key', async () => {
    const provider = new DevKeyFileSealProvider({ path: keyFile });
    const result = await provider.seal(root);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const text = await readFile(keyFile, 'utf8');
    const match = /^fortress-dev-unseal-key-v1:([0-9a-f]{64})\n$/.exec(text);
    expect(match).not.toBeNull();
    const unsealHex = match![1]!;
    const json = JSON.stringify(result.config);
    expect(json).not.toContain(unsealHex);
    expect(json).not.toContain(Buffer.from(unsealHex, 'hex').toString('base64').replace(/=+$/, ''));
    const attempt = provider.beginUnseal(result.config);
    expect([attempt.required, attempt.received]).toEqual([0, 0]);
    using key = await attempt.auto();
    expect(key.equals(root)).toBe(true);
  });

  it('refuses to overwrite an existing key file (FX_SEAL_PROVIDER), leaving it as it was', async () => {
    const provider = new DevKeyFileSealProvider({ path: keyFile });
    const first = await provider.seal(root);
    const before = await readFile(keyFile, 'utf8');
    await expectCodeAsync(() => provider.seal(root), 'FX_SEAL_PROVIDER');
    await expectCodeAsync(() => new DevKeyFileSealProvider({ path: keyFile }).seal(root), 'FX_SEAL_PROVIDER');
    expect(await readFile(keyFile, 'utf8')).toBe(before);
    using key = await provider.beginUnseal(first.config).auto();
    expect(key.equals(root)).toBe(true);

    const unrelated = path.join(dir, 'notes.txt');
    await writeFile(unrelated, 'do not touch', { mode: 0o600 });
    await expectCodeAsync(
      () => new DevKeyFileSealProvider({ path: unrelated }).seal(root),
      'FX_SEAL_PROVIDER',
    );
    expect(await readFile(unrelated, 'utf8')).toBe('do not touch');
  });

  it('refuses a key file that group or others can read (FX_SEAL_PROVIDER), until it is chmod 600 again', async () => {
    const provider = new DevKeyFileSealProvider({ path: keyFile });
    const { config } = await provider.seal(root);
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606]) {
      await chmod(keyFile, mode);
      const error = await expectCodeAsync(() => provider.beginUnseal(config).auto(), 'FX_SEAL_PROVIDER');
      expect(error.message).toMatch(/chmod 600/);
    }
    await chmod(keyFile, 0o600);
    using key = await provider.beginUnseal(config).auto();
    expect(key.equals(root)).toBe(true);
  });

  it('refuses a malformed or missing key file with FX_SEAL_PROVIDER', async () => {
    const provider = new DevKeyFileSealProvider({ path: keyFile });
    const { config } = await provider.seal(root);
    const good = await readFile(keyFile, 'utf8');
    const hex = good.slice('fortress-dev-unseal-key-v1:'.length, -1);
    const malformed = [
      '',
      'garbage',
      hex,
      `fortress-dev-unseal-key-v1:${hex.slice(0, 62)}\n`,
      `fortress-dev-unseal-key-v1:${hex}00\n`,
      `fortress-dev-unseal-key-v1:${hex.toUpperCase()}\n`,
      `fortress-dev-unseal-key-v2:${hex}\n`,
      `fortress-dev-unseal-key-v1:${hex.slice(0, 63)}g\n`,
    ];
    for (const text of malformed) {
      await rm(keyFile);
      await writeFile(keyFile, text, { mode: 0o600 });
      await expectCodeAsync(() => provider.beginUnseal(config).auto(), 'FX_SEAL_PROVIDER');
    }
    await rm(keyFile);
    await expectCodeAsync(() => provider.beginUnseal(config).auto(), 'FX_SEAL_PROVIDER');
  });

  it('fails with FX_UNSEAL_FAILED when the key file holds another (well-formed) key', async () => {
    const provider = new DevKeyFileSealProvider({ path: keyFile });
    const { config } = await provider.seal(root);
    await rm(keyFile);
    const otherHex = Buffer.alloc(32, 0x5a).toString('hex');
    await writeFile(keyFile, `fortress-dev-unseal-key-v1:${otherHex}\n`, { mode: 0o600 });
    await expectCodeAsync(() => provider.beginUnseal(config).auto(), 'FX_UNSEAL_FAILED');
  });

  it('refuses an empty path at construction', async () => {
    await expectCodeAsync(() => new DevKeyFileSealProvider({ path: '' }), 'FX_INVALID_ARGUMENT');
    await expectCodeAsync(
      () => new DevKeyFileSealProvider({ path: 7 as unknown as string }),
      'FX_INVALID_ARGUMENT',
    );
  });
});
