/**
 * The `fortress` command as a user runs it: a real child process of the built CLI.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/src/cli/main.js');

function fortress(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('fortress CLI', () => {
  it('demo (the README main command): a real server process driven over HTTPS from init to seal', () => {
    const { status, stdout, stderr } = fortress('demo', '--rows', '600');
    expect(status, stdout + stderr).toBe(0);
    expect(stdout).toMatch(/listening on https:\/\/127\.0\.0\.1:\d+/);
    expect(stdout).toMatch(/fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect(stdout).toContain('GET /v1/sys/health → 503');
    expect(stdout).toMatch(/unseal share → 1 of 3\n.*2 of 3\n.*unsealed/);
    expect(stdout).toMatch(/600 rows in \d+ ms/);
    expect(stdout).toContain("find email = '  ANN0@Example.com ' → Ann 0");
    expect(stdout).toContain('refused: 400 FX_QUERY_UNSUPPORTED');
    expect(stdout).toContain('ann reads row 0 → name [redacted], ssn [redacted]');
    expect(stdout).toContain('ann inserts a row → refused: 403 FX_FORBIDDEN');
    expect(stdout).toMatch(/job done: 600 rows re-encrypted/);
    expect(stdout).toContain('→ version 2; GET → user billing, a password of 19 characters (version 2)');
    expect(stdout).toContain('a write with a stale cas (version 1) → refused: 409 FX_SECRET_CAS_MISMATCH');
    expect(stdout).toContain('ann reads it → refused: 403 FX_FORBIDDEN');
    expect(stdout).toMatch(/transit encrypt with key payments → fx:v1:/);
    expect(stdout).toMatch(/rewrap → fx:v2:.*key version 2/);
    expect(stdout).toContain('decrypt → the same card number');
    expect(stdout).toMatch(/verify: OK — \d+ entries re-hashed/);
    expect(stdout).toContain('files holding any of them: none');
    expect(stdout).toContain('ann reads row 0 → 503 FX_SEALED');
    expect(stdout).toMatch(/Server stopped \(SIGTERM: drained, sealed; exit 0\)/);
    // The root token and the shares are shown only in part.
    expect(stdout).not.toMatch(/fxt_[A-Za-z0-9_-]{20,}/);
  });

  it('demo --embedded runs end to end: no plaintext in the file, rotation, a verified ledger', () => {
    const { status, stdout } = fortress('demo', '--embedded', '--rows', '1000');
    expect(status, stdout).toBe(0);
    expect(stdout).toMatch(/files containing the SSN [0-9-]+: none/);
    expect(stdout).toContain('refused: FX_QUERY_UNSUPPORTED');
    expect(stdout).toMatch(/job done: 1000 rows re-encrypted/);
    expect(stdout).toContain("kv.put('apps/billing/db') × 2 → version 2");
    expect(stdout).toMatch(/transit: fx:v1:.* rewrap → fx:v2:.* decrypts to the same card number/);
    expect(stdout).toContain('files containing the password or the card number: none');
    expect(stdout).toMatch(
      /entries about the searched email \(by its keyed digest, never the value\): [1-9]/,
    );
    expect(stdout).toMatch(/verify: OK — \d+ entries re-hashed/);
  });

  it('selftest passes every check and says so', () => {
    const { status, stdout } = fortress('selftest');
    expect(stdout).toContain('SELFTEST PASSED');
    expect(stdout).not.toContain('FAIL ');
    expect(status).toBe(0);
  });

  it('selftest --json reports every algorithm', () => {
    const { status, stdout } = fortress('selftest', '--json');
    const report = JSON.parse(stdout) as {
      passed: number;
      failed: number;
      results: { algorithm: string; ok: boolean }[];
    };
    expect(status).toBe(0);
    expect(report.failed).toBe(0);
    const algorithms = new Set(report.results.map((r) => r.algorithm));
    for (const name of [
      'xchacha20-poly1305',
      'aes-256-gcm',
      'chacha20-poly1305',
      'aegis-256',
      'hkdf-sha256',
      'hmac-sha256',
      'argon2id',
      'scrypt',
      'ed25519',
      'ml-dsa-65',
      'shamir',
    ]) {
      expect(algorithms, name).toContain(name);
    }
  });

  it('unknown commands, flags and suites are usage errors with a stable code and exit 2', () => {
    for (const args of [['frobnicate'], ['selftest', '--nope'], ['bench', 'nosuch'], ['audit', 'nosuch']]) {
      const { status, stderr } = fortress(...args);
      expect(status, args.join(' ')).toBe(2);
      expect(stderr).toContain('FX_CLI_USAGE');
    }
  });

  it('bench crypto --quick prints a JSON report with targets', () => {
    const { status, stdout } = fortress('bench', 'crypto', '--quick');
    expect(status).toBe(0);
    const report = JSON.parse(stdout) as {
      suite: string;
      targets: Record<string, { met: boolean }>;
      throughput: unknown[];
    };
    expect(report.suite).toBe('crypto');
    expect(Object.keys(report.targets).length).toBeGreaterThan(0);
    expect(report.throughput.length).toBe(8);
  });

  it('version and help', () => {
    expect(fortress('version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = fortress('help').stdout;
    expect(help).toContain('Usage: fortress');
    for (const command of [
      'verify',
      'prove',
      'check-proof',
      'tail',
      'search',
      'hash',
      'checkpoint',
      'archive',
    ]) {
      expect(help).toContain(`audit ${command}`);
    }
  });

  it('help for one command: `help COMMAND [SUB]` and `--help` / `-h` anywhere before `--`', () => {
    const transit = fortress('help', 'transit');
    expect(transit.status).toBe(0);
    expect(transit.stdout).toMatch(/^Usage: fortress transit …\n/);
    expect(transit.stdout).toContain('transit encrypt NAME');
    expect(transit.stdout).toContain('transit rewrap-job start NAME');
    // Only transit's entries, under the remote section's preamble; no other command's.
    expect(transit.stdout).toContain('Against a server (remote mode');
    expect(transit.stdout).not.toMatch(/^ {2}(kv|database|keys|audit) /m);
    // The same from the command itself, narrowed to a subcommand when one is named.
    const encrypt = fortress('transit', 'encrypt', 'orders', '--help');
    expect(encrypt.status).toBe(0);
    expect(encrypt.stdout).toMatch(/^Usage: fortress transit encrypt …\n/);
    expect(encrypt.stdout).toContain('transit encrypt NAME [TEXT|-]');
    expect(encrypt.stdout).not.toContain('transit decrypt');
    // A command with embedded and remote forms shows both, each under its own heading, and the
    // embedded notes (--data, unseal material) once.
    const keys = fortress('keys', 'rotate', '-h');
    expect(keys.status).toBe(0);
    expect(keys.stdout).toContain('Commands:\n  keys rotate NAME');
    expect(keys.stdout).toContain('keys list | rotate NAME');
    expect(keys.stdout).toContain('Embedded commands take --data DIR');
    // Forms continued on a later line count: the remote `access … | group add|remove` too.
    expect(fortress('help', 'access', 'group').stdout).toContain('| group add|remove NAME');
    // A misspelt subcommand still gets the command's help; an unknown command is a usage error.
    expect(fortress('help', 'kv', 'gett').stdout).toContain('kv get PATH');
    const unknown = fortress('help', 'nope');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command "nope" [FX_CLI_USAGE]');
    // Usage errors point at the command's own help.
    const bad = fortress('kv', 'get', '--bogus');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('Run `fortress help kv` for usage.');
    // After `--` a "--help" is an argument, not a request for help.
    const literal = fortress('keys', 'rotate', '--data', '/nonexistent/fortress', '--', '--help');
    expect(literal.stdout).not.toContain('Usage:');
    expect(literal.stderr).toContain('FX_NOT_INITIALIZED');
  });
});
