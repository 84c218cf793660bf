/**
 * The keys commands as an operator runs them: a real `fortress` process on a real data directory,
 * shares fed on stdin (the CLI reads one per line when stdin is not a terminal).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/src/cli/main.js');

function fortress(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('fortress init / unseal / keys', () => {
  let dir: string;
  let shares: string[];
  const data = (): string[] => ['--data', dir];
  const three = (): string => `${shares[4]}\n${shares[0]}\n${shares[2]}\n`;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-'));
    const result = fortress(['init', '--shares', '5', '--threshold', '3', '--json', ...data()]);
    expect(result.status).toBe(0);
    shares = (JSON.parse(result.stdout) as { shares: string[] }).shares;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('init made five shares, and refuses to run twice', () => {
    expect(shares).toHaveLength(5);
    const again = fortress(['init', ...data()]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('FX_ALREADY_INITIALIZED');
  });

  it('prints shares with a warning when run for a person', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-'));
    try {
      const result = fortress(['init', '--data', other]);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/Share 5: fxs1-/);
      expect(result.stdout).toMatch(/shown ONCE/);
      expect((await stat(other)).mode & 0o077).toBe(0);
      expect(existsSync(path.join(other, 'fortress.db'))).toBe(true);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('status reports the seal without unsealing', () => {
    const result = fortress(['status', '--json', ...data()]);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      initialized: true,
      seal: 'shamir',
      threshold: 3,
      shares: 5,
    });
  });

  it('unseal reports progress, accepts any three shares, rejects too few or wrong ones', () => {
    const ok = fortress(['unseal', ...data()], three());
    expect(ok.status).toBe(0);
    expect(ok.stderr).toContain('share accepted: 2 of 3');
    expect(ok.stdout).toContain('Unsealed');
    const few = fortress(['unseal', ...data()], `${shares[1]}\n${shares[3]}\n`);
    expect(few.status).toBe(2);
    const typo = shares[1]!.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'));
    const wrong = fortress(['unseal', ...data()], `${shares[0]}\n${typo}\n${shares[2]}\n`);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('FX_UNSEAL_FAILED');
    expect(wrong.stderr).not.toContain(typo);
  });

  it('creates, rotates, retires and destroys keys', () => {
    expect(fortress(['keys', 'create', 'kek/acme/main', '--purpose', 'kek', ...data()], three()).status).toBe(
      0,
    );
    const created = fortress(
      [
        'keys',
        'create',
        'acme/main/people/ssn',
        '--purpose',
        'data',
        '--parent',
        'kek/acme/main',
        '--rotation',
        '30d',
        ...data(),
      ],
      three(),
    );
    expect(created.stdout).toContain('version 1 active');
    expect(fortress(['keys', 'rotate', 'acme/main/people/ssn', ...data()], three()).stdout).toContain(
      'version 2 is active',
    );
    const list = fortress(['keys', 'list', '--json', ...data()], three());
    const keys = JSON.parse(list.stdout) as {
      name: string;
      activeVersion: number;
      rotationPeriod: string | null;
    }[];
    expect(keys.find((k) => k.name === 'acme/main/people/ssn')).toMatchObject({
      activeVersion: 2,
      rotationPeriod: '30d',
    });
    const active = fortress(
      ['keys', 'destroy', 'acme/main/people/ssn', '--version', '2', ...data()],
      three(),
    );
    expect(active.status).toBe(2);
    expect(active.stderr).toContain('FX_KEY_STATE');
    expect(
      fortress(['keys', 'destroy', 'acme/main/people/ssn', '--version', '1', ...data()], three()).status,
    ).toBe(0);
    const versions = fortress(['keys', 'versions', 'acme/main/people/ssn', '--json', ...data()], three());
    expect((JSON.parse(versions.stdout) as { state: string }[]).map((v) => v.state)).toEqual([
      'destroyed',
      'active',
    ]);
  });

  it('records init, every unseal and every key operation in the audit ledger', () => {
    interface Entry {
      seq: number;
      action: string;
      resource: { key?: string };
      outcome: { status: string; code?: string };
    }
    const search = (...args: string[]): Entry[] => {
      const result = fortress(['audit', 'search', ...args, '--json', ...data()], three());
      expect(result.status, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as Entry[];
    };
    expect(search('--to-seq', '0').map((e) => e.action)).toEqual(['system.init']);
    const keyOps = search('--action', 'key.');
    expect(keyOps).toContainEqual(
      expect.objectContaining({
        action: 'key.createKey',
        resource: { type: 'key', tenant: 'default', key: 'kek/acme/main' },
      }),
    );
    expect(keyOps.map((e) => e.action)).toEqual(expect.arrayContaining(['key.rotate', 'key.destroyVersion']));
    // The refused destroy of the active version is recorded too, with its error code.
    expect(keyOps).toContainEqual(
      expect.objectContaining({
        action: 'key.destroyVersion',
        outcome: { status: 'error', code: 'FX_KEY_STATE' },
      }),
    );
    expect(search('--action', 'system.unseal', '--outcome', 'ok').length).toBeGreaterThanOrEqual(6);
  });

  it('exports an encrypted, signed key backup and restores it into a fresh data directory', async () => {
    const fresh = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-restore-'));
    try {
      expect(fortress(['keys', 'recipient', '--out', path.join(fresh, 'recipient.key')]).status).toBe(0);
      expect((await stat(path.join(fresh, 'recipient.key'))).mode & 0o777).toBe(0o600);
      const backup = path.join(fresh, 'keys.fxbk');
      const exported = fortress(
        ['keys', 'export', '--to', path.join(fresh, 'recipient.key.pub'), '--out', backup, ...data()],
        three(),
      );
      expect(exported.status).toBe(0);
      expect(exported.stdout).toMatch(/Ed25519 fingerprint: +[0-9a-f]{4}:/);
      // A restore makes a new data directory (sealed as `init` would), then starts its ledger.
      const target = path.join(fresh, 'data');
      const args = [
        'keys',
        'import',
        backup,
        '--recipient-key',
        path.join(fresh, 'recipient.key'),
        '--trust',
        `${backup}.signers.json`,
      ];
      const restored = fortress([...args, '--shares', '1', '--threshold', '1', '--json', '--data', target]);
      expect(restored.status, restored.stderr).toBe(0);
      const report = JSON.parse(restored.stdout) as { shares: string[]; keys: number };
      expect(report.keys).toBeGreaterThan(2);
      const share = report.shares[0]!;
      const list = JSON.parse(
        fortress(['keys', 'list', '--json', '--data', target], `${share}\n`).stdout,
      ) as { name: string }[];
      expect(list.map((k) => k.name)).toContain('acme/main/people/ssn');
      // The restored directory signs its (new) ledger with the audit key that came with the backup.
      const publicKey = async (d: string): Promise<string> =>
        (await readFile(path.join(d, 'audit.vkey'), 'utf8')).trim().split('+').at(-1)!;
      expect(await publicKey(target)).toBe(await publicKey(dir));
      const again = fortress([...args, '--data', target]);
      expect(again.status).toBe(2);
      expect(again.stderr).toContain('FX_ALREADY_INITIALIZED');
      // A restore that fails after creating the directory (signers not trusted) leaves nothing behind.
      const signers = JSON.parse(await readFile(`${backup}.signers.json`, 'utf8')) as { ed25519: string };
      const flipped = signers.ed25519.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
      const forged = path.join(fresh, 'forged.signers.json');
      await writeFile(forged, JSON.stringify({ ...signers, ed25519: flipped }));
      const other = path.join(fresh, 'other');
      const wrongTrust = fortress([...args.slice(0, -1), forged, '--seal', 'dev-key-file', '--data', other]);
      expect(wrongTrust.status).toBe(2);
      expect(wrongTrust.stderr).toMatch(/FX_BACKUP_INVALID|FX_CRYPTO_INVALID_SIGNATURE_KEY/);
      expect(existsSync(other)).toBe(false);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it('bad flags and names fail with stable codes', () => {
    expect(fortress(['keys', 'rotate', 'no/such/key', ...data()], three()).stderr).toContain(
      'FX_KEY_NOT_FOUND',
    );
    expect(
      fortress(['keys', 'create', 'x', '--purpose', 'kek', '--rotation', 'often', ...data()], three()).stderr,
    ).toContain('FX_INVALID_ARGUMENT');
    expect(fortress(['init', '--seal', 'magic', ...data()]).stderr).toContain('FX_CLI_USAGE');
    expect(fortress(['init', '--shares', 'x', ...data()]).stderr).toContain('FX_CLI_USAGE');
    expect(fortress(['keys', 'list', '--data', path.join(dir, 'nope')]).stderr).toContain(
      'FX_NOT_INITIALIZED',
    );
    const status = JSON.parse(
      fortress(['status', '--json', '--data', path.join(dir, 'nope')]).stdout,
    ) as object;
    expect(status).toMatchObject({ initialized: false });
    expect(existsSync(path.join(dir, 'nope'))).toBe(false);
  });

  it('passphrase and dev-key-file seals work from the command line; the dev seal warns loudly', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-seals-'));
    try {
      const pass = path.join(other, 'pass');
      const pp = 'a long enough passphrase';
      expect(fortress(['init', '--seal', 'passphrase', '--data', pass], `${pp}\n${pp}\n`).status).toBe(0);
      const mismatch = fortress(
        ['init', '--seal', 'passphrase', '--data', path.join(other, 'p2')],
        `${pp}\nother\n`,
      );
      expect(mismatch.stderr).toContain('differ');
      expect(
        fortress(['keys', 'create', 'kek/x', '--purpose', 'kek', '--data', pass], `${pp}\n`).status,
      ).toBe(0);
      const wrong = fortress(['keys', 'list', '--data', pass], 'not the passphrase\n');
      expect(wrong.stderr).toContain('FX_UNSEAL_FAILED');
      expect(wrong.stderr).not.toContain('not the passphrase');
      const dev = path.join(other, 'dev');
      expect(fortress(['init', '--seal', 'dev-key-file', '--data', dev]).stdout).toContain('WARNING');
      const list = fortress(['keys', 'list', '--data', dev]);
      expect(list.status).toBe(0);
      expect(list.stderr).toContain('WARNING');
      const status = JSON.parse(fortress(['status', '--json', '--data', dev]).stdout) as object;
      expect(status).toMatchObject({ insecure: true, seal: 'dev-key-file' });
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
