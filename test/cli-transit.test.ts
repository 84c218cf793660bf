/**
 * `fortress transit … --server URL`: the transit commands as an operator runs them — the built CLI
 * in child processes against a real `fortress server` child process (its self-signed certificate
 * trusted through `--ca-cert`, the root token in FORTRESS_TOKEN): key lifecycle, encrypt/decrypt
 * of text and of stdin's bytes as they are, context and associated data, rewrap, data keys, HMAC
 * and signatures (exit 1 when not valid), random bytes, export, and usage errors.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLEAN_ENV, CLI, runCli, type CliRun } from './helpers/run-cli.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

let tmp: string;
let server: ServerProcess;
let ca: string;
let env: Record<string, string>;

/** Runs `fortress …args --server URL --ca-cert CA` with text on stdin. */
function remote(args: string[], input?: string): Promise<CliRun> {
  return runCli([...args, '--server', server.url, '--ca-cert', ca], {
    env,
    ...(input === undefined ? {} : { input }),
  });
}

/** The same with bytes on stdin and stdout kept as bytes (decrypt writes the plaintext as it is). */
function remoteBytes(
  args: string[],
  input: Uint8Array = new Uint8Array(0),
): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, '--server', server.url, '--ca-cert', ca], {
      env: { ...CLEAN_ENV, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      resolve({ status, stdout: Buffer.concat(chunks), stderr });
    });
    child.stdin.end(input);
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const run = await remote(args, input);
  expect(run.status, `${args.join(' ')}: ${run.stderr}`).toBe(0);
  return run.stdout;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-transit-'));
  const dataDir = path.join(tmp, 'data');
  server = await startServerProcess(dataDir, { FORTRESS_LOG_LEVEL: 'silent' });
  ca = path.join(dataDir, 'tls', 'server.crt');
  env = { FORTRESS_HOME: path.join(tmp, 'home') };
  const init = await remote(['init', '--shares', '1', '--threshold', '1', '--json']);
  expect(init.status, init.stderr).toBe(0);
  env['FORTRESS_TOKEN'] = (JSON.parse(init.stdout) as { rootToken: string }).rootToken;
}, 60_000);

afterAll(async () => {
  await server.stop();
  await rm(tmp, { recursive: true, force: true });
}, 60_000);

describe('fortress transit (remote)', () => {
  it('bad flags and missing arguments: exit 2 with FX_CLI_USAGE, before anything is sent', async () => {
    for (const args of [
      ['transit'],
      ['transit', 'frobnicate'],
      ['transit', 'create'],
      ['transit', 'read', 'a', 'b'],
      ['transit', 'encrypt', 'k', 'x', '--bogus'],
      ['transit', 'encrypt', 'k', 'x', '--context', 'not base64'],
      ['transit', 'encrypt', 'k', 'x', '--hex'],
      ['transit', 'decrypt', 'k'],
      ['transit', 'datakey', 'k'],
      ['transit', 'datakey', 'k', '--plaintext', '--wrapped'],
      ['transit', 'datakey', 'k', '--wrapped', '--bits', '100'],
      ['transit', 'verify', 'k', 'x'],
      ['transit', 'verify', 'k', 'x', '--hmac', 'h', '--signature', 's'],
      ['transit', 'verify', 'k', 'x', '--signature', 's', '--algorithm', 'sha2-512'],
      ['transit', 'hmac', 'k', 'x', '--algorithm', 'md5'],
      ['transit', 'random', 'lots'],
      ['transit', 'random', '0'],
      ['transit', 'export', 'k', 'private-key'],
      ['transit', 'config', 'k'],
      ['transit', 'config', 'k', '--deletion-allowed', 'yes'],
      ['transit', 'create', 'k', '--auto-rotate', 'weekly'],
      ['transit', 'trim', 'k'],
      ['transit', 'read', '..'],
      ['transit', 'rewrap-job', 'frob'],
      ['transit', 'rewrap-job', 'start'],
      ['transit', 'rewrap-job', 'start', 'k', '--table', 't'],
      ['transit', 'rewrap-job', 'status'],
      ['transit', 'rewrap-job', 'list', 'x'],
      ['transit', 'rewrap-stream', 'k', '--batch-size', '0'],
    ]) {
      const run = await remote(args);
      expect(run.status, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr, args.join(' ')).toContain('[FX_CLI_USAGE]');
    }
    expect(await ok(['transit', 'list', '--json'])).toBe('{\n  "keys": []\n}\n');
  });

  it('keys: create, read, list, config, rotate, trim, delete', async () => {
    const created = JSON.parse(await ok(['transit', 'create', 'orders', '--json'])) as Record<
      string,
      unknown
    >;
    expect(created).toMatchObject({ name: 'orders', type: 'xchacha20-poly1305', latestVersion: 1 });
    const aligned = await ok([
      'transit',
      'create',
      'portable',
      '--type',
      'aes-256-gcm',
      '--exportable',
      '--deletion-allowed',
      'true',
      '--auto-rotate',
      '30d',
    ]);
    expect(aligned).toMatch(/^type\s+aes-256-gcm$/m);
    expect(aligned).toMatch(/^exportable\s+true$/m);
    expect(aligned).toMatch(/^deletionAllowed\s+true$/m);
    expect(aligned).toMatch(/^autoRotatePeriod\s+30d$/m);
    expect(aligned).toMatch(/^version\s+createdTime\s+state/m);
    const exists = await remote(['transit', 'create', 'orders']);
    expect(exists.status).toBe(2);
    expect(exists.stderr).toContain('[FX_TRANSIT_KEY_EXISTS]');
    const badType = await remote(['transit', 'create', 'x', '--type', 'rot13']);
    expect(badType.status).toBe(2);
    expect(badType.stderr).toContain('[FX_REQUEST_INVALID]');
    expect(await ok(['transit', 'list'])).toBe('orders\nportable\n');
    expect(await ok(['transit', 'list', '--limit', '1', '--json'])).toContain('"portable"');
    expect(await ok(['transit', 'rotate', 'portable'])).toBe(
      'rotated portable: new ciphertexts use version 2\n',
    );
    const configured = JSON.parse(
      await ok([
        'transit',
        'config',
        'portable',
        '--min-decryption-version',
        '2',
        '--auto-rotate',
        '0',
        '--json',
      ]),
    ) as Record<string, unknown>;
    expect(configured).toMatchObject({ minDecryptionVersion: 2, autoRotatePeriod: null });
    expect(await ok(['transit', 'trim', 'portable', '--min-available-version', '2'])).toBe(
      'trimmed portable: versions below 2 are destroyed\n',
    );
    expect(await ok(['transit', 'read', 'portable'])).toMatch(/^1\s+\S+\s+destroyed$/m);
    expect((await ok(['transit', 'export', 'portable', 'encryption-key'])).split('\n')[0]).toMatch(
      /^2 {2}[A-Za-z0-9+/]{43}=$/,
    );
    expect(await ok(['transit', 'export', 'portable', 'encryption-key', '--version', 'latest'])).toMatch(
      /^\d+ {2}[A-Za-z0-9+/]{43}=\n$/,
    );
    expect(await ok(['transit', 'delete', 'portable'])).toContain('deleted transit key portable');
    const gone = await remote(['transit', 'read', 'portable']);
    expect(gone.status).toBe(2);
    expect(gone.stderr).toContain('[FX_TRANSIT_KEY_NOT_FOUND]');
    const refused = await remote(['transit', 'delete', 'orders']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('[FX_KEY_STATE]');
  });

  it('encrypt and decrypt: text, stdin bytes as they are, associated data and derived keys', async () => {
    const ciphertext = (await ok(['transit', 'encrypt', 'orders', '4111 1111 1111 1111'])).trim();
    expect(ciphertext).toMatch(/^fx:v1:[A-Za-z0-9+/]+=*$/);
    const raw = await remoteBytes(['transit', 'decrypt', 'orders', ciphertext]);
    expect(raw.status, raw.stderr).toBe(0);
    expect(raw.stdout.toString()).toBe('4111 1111 1111 1111');
    expect(await ok(['transit', 'decrypt', 'orders', ciphertext, '--base64'])).toBe(
      `${Buffer.from('4111 1111 1111 1111').toString('base64')}\n`,
    );

    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
    const sealed = await remoteBytes(['transit', 'encrypt', 'orders', '-', '--json'], bytes);
    expect(sealed.status, sealed.stderr).toBe(0);
    const { ciphertext: binary } = JSON.parse(sealed.stdout.toString()) as { ciphertext: string };
    const opened = await remoteBytes(['transit', 'decrypt', 'orders', binary]);
    expect(opened.stdout.equals(bytes)).toBe(true);
    const noArg = await remoteBytes(['transit', 'encrypt', 'orders'], Buffer.from('from stdin\n'));
    const back = await remoteBytes(['transit', 'decrypt', 'orders', noArg.stdout.toString().trim()]);
    expect(back.stdout.toString()).toBe('from stdin\n');

    const ad = Buffer.from('order:7').toString('base64');
    const bound = (await ok(['transit', 'encrypt', 'orders', 'bound', '--associated-data', ad])).trim();
    expect(await ok(['transit', 'decrypt', 'orders', bound, '--associated-data', ad, '--json'])).toContain(
      Buffer.from('bound').toString('base64'),
    );
    const unbound = await remote(['transit', 'decrypt', 'orders', bound]);
    expect(unbound.status).toBe(2);
    expect(unbound.stderr).toContain('[FX_INTEGRITY]');

    await ok(['transit', 'create', 'tenants', '--derived', '--convergent']);
    const context = Buffer.from('tenant-1').toString('base64');
    const a = await ok(['transit', 'encrypt', 'tenants', 'same', '--context', context]);
    expect(await ok(['transit', 'encrypt', 'tenants', 'same', '--context', context])).toBe(a);
    expect(
      (
        await remoteBytes(['transit', 'decrypt', 'tenants', a.trim(), '--context', context])
      ).stdout.toString(),
    ).toBe('same');
    const noContext = await remote(['transit', 'encrypt', 'tenants', 'same']);
    expect(noContext.status).toBe(2);
    expect(noContext.stderr).toContain('context: transit key tenants is derived');
  });

  it('rewrap and data keys', async () => {
    const old = (await ok(['transit', 'encrypt', 'orders', 'rewrap me'])).trim();
    await ok(['transit', 'rotate', 'orders']);
    const rewrapped = (await ok(['transit', 'rewrap', 'orders', old])).trim();
    expect(rewrapped).toMatch(/^fx:v2:/);
    expect((await remoteBytes(['transit', 'decrypt', 'orders', rewrapped])).stdout.toString()).toBe(
      'rewrap me',
    );

    const plain = JSON.parse(
      await ok(['transit', 'datakey', 'orders', '--plaintext', '--bits', '512', '--json']),
    ) as {
      ciphertext: string;
      keyVersion: number;
      plaintext: string;
    };
    expect(Buffer.from(plain.plaintext, 'base64')).toHaveLength(64);
    expect(await ok(['transit', 'decrypt', 'orders', plain.ciphertext, '--base64'])).toBe(
      `${plain.plaintext}\n`,
    );
    const wrapped = await ok(['transit', 'datakey', 'orders', '--wrapped']);
    expect(wrapped).toMatch(/^ciphertext {2}fx:v2:/m);
    expect(wrapped).not.toMatch(/plaintext/);
  });

  it('bulk rewrap: a job over a table column (--wait), its status and list; a stream on stdin, line for line', async () => {
    await ok(['transit', 'create', 'bulk']);
    const schema = path.join(tmp, 'cards.json');
    await writeFile(
      schema,
      JSON.stringify({ columns: { id: { type: 'integer', primaryKey: true }, token: { type: 'text' } } }),
    );
    await ok(['table', 'create', 'cards', '--schema', schema]);
    const tokens: string[] = [];
    for (let i = 0; i < 6; i++) tokens.push((await ok(['transit', 'encrypt', 'bulk', `card-${i}`])).trim());
    const ndjson = path.join(tmp, 'cards.ndjson');
    await writeFile(ndjson, tokens.map((token, id) => JSON.stringify({ id, token })).join('\n'));
    await ok(['import', 'cards', ndjson]);
    await ok(['transit', 'rotate', 'bulk']);

    const job = JSON.parse(
      await ok([
        'transit',
        'rewrap-job',
        'start',
        'bulk',
        '--table',
        'cards',
        '--column',
        'token',
        '--batch-size',
        '4',
        '--wait',
        '--json',
      ]),
    ) as { id: string; state: string; rewrapped: number };
    expect(job).toMatchObject({ state: 'done', rewrapped: 6 });
    expect(await ok(['transit', 'rewrap-job', 'status', job.id])).toMatch(/^state\s+done$/m);
    expect(await ok(['transit', 'rewrap-job', 'list'])).toContain(job.id);
    const missing = await remote(['transit', 'rewrap-job', 'status', 'no-such-job']);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('[FX_JOB_NOT_FOUND]');

    // The stream: one rewrapped ciphertext per input line; a bad one leaves an empty line and exit 1.
    const streamed = await remote(
      ['transit', 'rewrap-stream', 'bulk', '--batch-size', '2'],
      `${tokens.join('\n')}\n`,
    );
    expect(streamed.status, streamed.stderr).toBe(0);
    const lines = streamed.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    for (const line of lines) expect(line).toMatch(/^fx:v2:/);
    // A blank input line (an earlier failure) stays a blank output line; numbers are input lines.
    const mixed = await remote(
      ['transit', 'rewrap-stream', 'bulk'],
      `${tokens[0]!}\n\nfx:v1:garbage!\n${tokens[1]!}\n`,
    );
    expect(mixed.status).toBe(1);
    expect(mixed.stdout.split('\n').map((l) => l.slice(0, 6))).toEqual(['fx:v2:', '', '', 'fx:v2:', '']);
    expect(mixed.stderr).toContain('line 3: FX_TRANSIT_CIPHERTEXT_INVALID ciphertext: ');
  });

  it('hmac, sign and verify (exit 1 when not valid), random bytes and public-key export', async () => {
    const hmac = (await ok(['transit', 'hmac', 'orders', 'payload'])).trim();
    expect(hmac).toMatch(/^fx:v2:/);
    expect(await ok(['transit', 'verify', 'orders', 'payload', '--hmac', hmac])).toBe('valid\n');
    const wrong = await remote(['transit', 'verify', 'orders', 'payloaD', '--hmac', hmac]);
    expect(wrong.status).toBe(1);
    expect(wrong.stdout).toBe('invalid\n');
    const sha512 = (
      await ok(['transit', 'hmac', 'orders', '-', '--algorithm', 'sha2-512'], 'payload')
    ).trim();
    expect(
      await ok([
        'transit',
        'verify',
        'orders',
        'payload',
        '--hmac',
        sha512,
        '--algorithm',
        'sha2-512',
        '--json',
      ]),
    ).toBe('{\n  "valid": true\n}\n');

    await ok(['transit', 'create', 'signer', '--type', 'ml-dsa-65']);
    const signed = JSON.parse(await ok(['transit', 'sign', 'signer', '-', '--json'], 'release 1.2.3')) as {
      signature: string;
      publicKey: string;
    };
    expect(signed.signature).toMatch(/^fx:v1:/);
    expect(
      await ok(['transit', 'verify', 'signer', '-', '--signature', signed.signature], 'release 1.2.3'),
    ).toBe('valid\n');
    expect(
      (await remote(['transit', 'verify', 'signer', 'release 1.2.4', '--signature', signed.signature]))
        .status,
    ).toBe(1);
    // The public key is printed whole, not cut to a table cell.
    expect(await ok(['transit', 'export', 'signer', 'public-key', '--version', '1'])).toBe(
      `1  ${signed.publicKey}\n`,
    );
    const secret = await remote(['transit', 'export', 'signer', 'signing-key']);
    expect(secret.status).toBe(2);
    expect(secret.stderr).toContain('[FX_TRANSIT_NOT_EXPORTABLE]');

    expect(await ok(['transit', 'random', '16', '--hex'])).toMatch(/^[0-9a-f]{32}\n$/);
    expect(Buffer.from((await ok(['transit', 'random', '24'])).trim(), 'base64')).toHaveLength(24);
    const tooMany = await remote(['transit', 'random', '99999999']);
    expect(tooMany.status).toBe(2);
    expect(tooMany.stderr).toContain('[FX_REQUEST_INVALID]');
  });
});
