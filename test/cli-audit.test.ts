/**
 * `fortress audit …` as an operator and an auditor run it: the built CLI in a child process, on a
 * data directory sealed with the dev key file (so no unseal input is needed), whose ledger holds
 * entries made by a real Fortress (table writes, reads, a refused insert).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatVerifierKey } from '../src/audit/note/signed-note.js';
import { SecretKey } from '../src/crypto/memory/secret-key.js';
import { createSigner } from '../src/crypto/signature/signature.js';
import { Fortress } from '../src/fortress.js';
import { openRaw } from './helpers/raw-sqlite.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/src/cli/main.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

// Every command names its data directory (or none): an inherited $FORTRESS_DATA must not leak in.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'FORTRESS_DATA'));

function fortress(args: string[], input = ''): Run {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    input,
    timeout: 60_000,
    env: ENV,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function fortressAsync(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { encoding: 'utf8', timeout: 60_000, env: ENV },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : (error as { code?: unknown }).code;
        resolve({ status: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

interface Entry {
  seq: number;
  time: string;
  action: string;
  resource: { type: string; table?: string };
  decision: { effect: string };
  outcome: { status: string; code?: string };
  details?: { rows?: string[] };
}

describe('fortress audit', () => {
  let root: string;
  let dir: string;
  let vkey: string;
  let origin: string;
  const data = (): string[] => ['--data', dir];
  const ok = (args: string[], input = ''): Run => {
    const run = fortress(args, input);
    expect(run.status, `${args.join(' ')}\n${run.stderr}`).toBe(0);
    return run;
  };
  const json = (args: string[]): Entry[] => JSON.parse(ok([...args, '--json', ...data()]).stdout) as Entry[];
  const usage = (args: string[], message?: RegExp): void => {
    const run = fortress(args);
    expect(run.status, args.join(' ')).toBe(2);
    expect(run.stderr, args.join(' ')).toContain('FX_CLI_USAGE');
    if (message !== undefined) expect(run.stderr, args.join(' ')).toMatch(message);
  };

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-audit-'));
    dir = path.join(root, 'data');
    ok(['init', '--seal', 'dev-key-file', ...data()]);
    const db = await Fortress.open({ path: dir, onWarning: () => undefined });
    try {
      const people = await db.createTable('people', {
        columns: { id: { type: 'text', primaryKey: true }, name: { type: 'text', encrypt: true } },
      });
      await people.insert({ id: 'ann-123', name: 'Ann' });
      await people.insert({ id: 'bob-456', name: 'Bob' });
      await people.get('ann-123');
      await expect(people.insert({ id: 'bob-456', name: 'Bob again' })).rejects.toThrow();
    } finally {
      await db.close();
    }
    vkey = (await readFile(path.join(dir, 'audit.vkey'), 'utf8')).trim();
    origin = vkey.split('+')[0]!;
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('tail prints the newest entries oldest first, one line each; reading is itself recorded', () => {
    const lines = ok(['audit', 'tail', '-n', '3', ...data()])
      .stdout.trim()
      .split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).toMatch(/^\d+ \S+Z process:\S+@default [a-z][\w.]+ \S+ (allow|deny) (ok|error:FX_\w+)$/);
    }
    const seqs = lines.map((l) => Number(l.split(' ')[0]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(lines.at(-1)).toContain(' audit.search ');
    const all = json(['audit', 'tail', '-n', '1000']);
    expect(all[0]!.seq).toBe(0);
    expect(all[0]!.action).toBe('system.init');
  });

  it('search filters by principal, action, resource, decision, outcome, time and seq', () => {
    const all = json(['audit', 'search']);
    const byAction = (action: string): number[] => all.filter((e) => e.action === action).map((e) => e.seq);
    expect(json(['audit', 'search', '--action', 'table.get']).map((e) => e.seq)).toEqual(
      byAction('table.get'),
    );
    expect(json(['audit', 'search', '--action', 'table.']).map((e) => e.action)).toEqual([
      'table.insert',
      'table.insert',
      'table.get',
      'table.insert',
    ]);
    expect(json(['audit', 'search', '--principal', 'process:']).length).toBeGreaterThanOrEqual(all.length);
    expect(json(['audit', 'search', '--principal', 'user:'])).toEqual([]);
    expect(
      json(['audit', 'search', '--resource', 'default/main/people']).every(
        (e) => e.resource.table === 'people',
      ),
    ).toBe(true);
    expect(json(['audit', 'search', '--decision', 'deny'])).toEqual([]);
    const errors = json(['audit', 'search', '--outcome', 'error', '--action', 'table.']);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.outcome).toEqual({ status: 'error', code: 'FX_DUPLICATE_KEY' });
    const range = json(['audit', 'search', '--from-seq', '2', '--to-seq', '4']);
    expect(range.map((e) => e.seq)).toEqual([2, 3, 4]);
    const [from, to] = [all[2]!.time, all[4]!.time];
    const timed = json(['audit', 'search', '--since', from, '--until', to]);
    expect(timed.length).toBeGreaterThanOrEqual(1);
    for (const e of timed) expect(e.time >= from && e.time <= to).toBe(true);
    const limited = fortress(['audit', 'search', '--limit', '2', ...data()]);
    expect(limited.stdout.trim().split('\n')).toHaveLength(2);
    expect(limited.stderr).toContain('more than 2 entries match');
  });

  it('hash gives the digest entries hold; --value and --digest find the entries about that row', () => {
    const digest = ok(['audit', 'hash', 'ann-123', ...data()]).stdout.trim();
    expect(digest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    // From stdin: the value stays out of shell history.
    expect(ok(['audit', 'hash', '-', ...data()], 'ann-123\n').stdout.trim()).toBe(digest);
    // …exactly as typed: spaces around a value are part of it there.
    const spaced = ok(['audit', 'hash', '  ann-123 ', ...data()]).stdout.trim();
    expect(spaced).not.toBe(digest);
    expect(ok(['audit', 'hash', '-', ...data()], '  ann-123 \n').stdout.trim()).toBe(spaced);
    const byValue = json(['audit', 'search', '--value', 'ann-123']);
    expect(byValue.map((e) => e.action)).toEqual(['table.insert', 'table.get']);
    for (const e of byValue) expect(e.details?.rows).toContain(digest);
    expect(json(['audit', 'search', '--digest', digest, '--action', 'table.get'])).toHaveLength(1);
    expect(json(['audit', 'search', '--value', 'nobody'])).toEqual([]);
  });

  it('tiles writes the checkpoint, the tiles and the entry bundles of the log', async () => {
    const out = path.join(root, 'tiles');
    const run = ok(['audit', 'tiles', '--out', out, ...data()]);
    expect(run.stdout).toMatch(/as tlog-tiles in .*: \d+ tile\(s\), 1 entry bundle\(s\) written/);
    const note = await readFile(path.join(out, 'checkpoint'), 'utf8');
    expect(note.split('\n')[0]).toBe(origin);
    const size = Number(note.split('\n')[1]);
    const tile = await readFile(path.join(out, `tile/0/000.p/${size}`));
    expect(tile.length).toBe(32 * size);
    const bundle = await readFile(path.join(out, `tile/entries/000.p/${size}`));
    expect(bundle.readUInt16BE(0)).toBeGreaterThan(0);
    usage(['audit', 'tiles', ...data()], /needs --out DIR/);
    usage(['audit', 'tiles', '--out', CLI, ...data()], /not a directory/);
  });

  it('prove writes a tlog-proof that check-proof accepts with the pinned key, and nothing else', async () => {
    const get = json(['audit', 'search', '--action', 'table.get'])[0]!;
    const file = path.join(root, 'get.tlog-proof');
    expect(ok(['audit', 'prove', String(get.seq), '--out', file, ...data()]).stdout).toContain(file);
    const checked = ok(['audit', 'check-proof', file, '--key', vkey]);
    expect(checked.stdout).toMatch(new RegExp(`proof OK \\(entry ${get.seq} of \\d+, checkpoint signed by `));
    expect(JSON.parse(checked.stdout.slice(0, checked.stdout.lastIndexOf('}') + 1))).toMatchObject({
      seq: get.seq,
      action: 'table.get',
    });
    // The key may also be given as a file of verifier keys (a pinned copy of audit.vkey).
    expect(ok(['audit', 'check-proof', file, '--key', path.join(dir, 'audit.vkey')]).stdout).toContain(
      'proof OK',
    );

    const failed = (args: string[], reason: RegExp): void => {
      const run = fortress(['audit', 'check-proof', ...args]);
      expect(run.status, run.stdout + run.stderr).toBe(1);
      expect(run.stdout).toMatch(reason);
    };
    const otherKey = formatVerifierKey(
      origin,
      'ed25519',
      createSigner('ed25519', SecretKey.generate(32)).publicKey,
    );
    failed([file, '--key', otherKey], /proof FAILED: .*signature/i);
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    // A proof hash changed (line 4: after the header, extra and index lines).
    const hashLine = lines[3]!;
    lines[3] = (hashLine.startsWith('A') ? 'B' : 'A') + hashLine.slice(1);
    await writeFile(path.join(root, 'bad-hash.tlog-proof'), lines.join('\n'));
    failed([path.join(root, 'bad-hash.tlog-proof'), '--key', vkey], /proof FAILED: .*root mismatch/);
    // The entry changed, in the file's extra line or given apart.
    const entry = Buffer.from(text.split('\n')[1]!.slice('extra '.length), 'base64').toString('utf8');
    const forged = entry.replace('"rowCount":1', '"rowCount":2');
    expect(forged).not.toBe(entry);
    const forgedFile = text.replace(/^extra .*$/m, `extra ${Buffer.from(forged).toString('base64')}`);
    await writeFile(path.join(root, 'bad-entry.tlog-proof'), forgedFile);
    failed([path.join(root, 'bad-entry.tlog-proof'), '--key', vkey], /proof FAILED: .*root mismatch/);
    await writeFile(path.join(root, 'forged.json'), forged);
    failed([file, '--key', vkey, '--entry', path.join(root, 'forged.json')], /proof FAILED/);
    await writeFile(path.join(root, 'entry.json'), `${entry}\n`);
    expect(
      ok(['audit', 'check-proof', file, '--key', vkey, '--entry', path.join(root, 'entry.json')]).stdout,
    ).toContain('proof OK');
  });

  it('verify checks the ledger offline: the local audit.vkey (with a warning), --key, --from-checkpoint', async () => {
    const local = ok(['audit', 'verify', ...data()]);
    expect(local.stdout).toMatch(/ — OK\n/);
    expect(local.stdout).toMatch(/entries: +\d+ \(\d+ re-read and re-hashed\)/);
    expect(local.stderr).toContain('audit.vkey');
    const report = JSON.parse(ok(['audit', 'verify', '--key', vkey, '--json', ...data()]).stdout) as {
      ok: boolean;
      size: number;
      entriesChecked: number;
      checkpointsChecked: number;
      origin: string;
    };
    expect(report).toMatchObject({ ok: true, origin });
    expect(report.entriesChecked).toBe(report.size);
    expect(report.checkpointsChecked).toBeGreaterThan(0);

    const note = ok(['audit', 'checkpoint', ...data()]).stdout;
    expect(note.startsWith(`${origin}\n`)).toBe(true);
    const trusted = path.join(root, 'trusted.checkpoint');
    await writeFile(trusted, note);
    expect(ok(['audit', 'verify', '--key', vkey, '--from-checkpoint', trusted, ...data()]).stdout).toContain(
      'still extends',
    );
    // A "trusted" checkpoint whose root was changed carries no valid signature: a finding (exit 1).
    const lines = note.split('\n');
    lines[2] = Buffer.alloc(32, 7).toString('base64');
    await writeFile(path.join(root, 'forged.checkpoint'), lines.join('\n'));
    const forged = fortress([
      'audit',
      'verify',
      '--key',
      vkey,
      '--from-checkpoint',
      path.join(root, 'forged.checkpoint'),
      ...data(),
    ]);
    expect(forged.status).toBe(1);
    expect(forged.stdout).toContain('FAILED');
  });

  it('verify names the entry that was modified in the database', async () => {
    const copy = path.join(root, 'tampered');
    await cp(dir, copy, { recursive: true });
    const sqlite = openRaw(path.join(copy, 'fortress.db'));
    try {
      const row = sqlite.prepare('SELECT entry FROM fx_audit_entries WHERE seq = 3').get() as {
        entry: Buffer;
      };
      const text = row.entry.toString('utf8');
      const changed = text.replace(
        /"requestId":"(.)/,
        (_m, c: string) => `"requestId":"${c === 'a' ? 'b' : 'a'}`,
      );
      expect(changed).not.toBe(text);
      sqlite.prepare('UPDATE fx_audit_entries SET entry = ? WHERE seq = 3').run(Buffer.from(changed));
    } finally {
      sqlite.close();
    }
    const run = fortress(['audit', 'verify', '--key', vkey, '--data', copy]);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('FAILED');
    expect(run.stdout).toMatch(/entry 3 does not match/);
    const report = JSON.parse(
      fortress(['audit', 'verify', '--key', vkey, '--json', '--data', copy]).stdout,
    ) as {
      ok: boolean;
      problem: { seq: number };
    };
    expect(report).toMatchObject({ ok: false, problem: { seq: 3 } });
  });

  it('archive moves entries to signed segments; verify re-reads them, with the ledger or alone', async () => {
    const segments = path.join(root, 'segments');
    expect(ok(['audit', 'archive', '--before', '4', '--out', segments, ...data()]).stdout).toMatch(
      /Archived entries 0–3 \(4\)/,
    );
    // The first segment carries a checkpoint past its end: archive up to it, so that the segments
    // alone reach a size a signed checkpoint states (and its root can be recomputed).
    const first = (await readdir(segments))[0]!;
    const segmentText = await readFile(path.join(segments, first), 'utf8');
    const checkpointSize = Number(segmentText.split(`\n${origin}\n`).at(-1)!.split('\n')[0]);
    expect(checkpointSize).toBeGreaterThan(4);
    ok(['audit', 'archive', '--before', String(checkpointSize), '--out', segments, ...data()]);
    ok(['audit', 'archive', '--before', String(checkpointSize + 1), '--out', segments, ...data()]);

    expect(ok(['audit', 'verify', '--key', vkey, ...data()]).stdout).toContain('by their stored hash only');
    const withSegments = JSON.parse(
      ok(['audit', 'verify', '--key', vkey, '--segments', segments, '--json', ...data()]).stdout,
    ) as { ok: boolean; size: number; entriesChecked: number; archivedByHashOnly: number };
    expect(withSegments).toMatchObject({ ok: true, archivedByHashOnly: 0 });
    expect(withSegments.entriesChecked).toBe(withSegments.size);

    const alone = JSON.parse(
      ok(['audit', 'verify', '--segments', segments, '--key', vkey, '--json']).stdout,
    ) as {
      ok: boolean;
      files: number;
      first: number;
      size: number;
      checkpointsChecked: number;
    };
    expect(alone).toMatchObject({ ok: true, files: 3, first: 0, size: checkpointSize + 1 });
    expect(alone.checkpointsChecked).toBeGreaterThanOrEqual(1);
    expect(ok(['audit', 'verify', '--segments', segments, '--key', vkey]).stdout).toMatch(/ — OK\n/);

    // An archived entry's proof carries no entry: the auditor supplies it from the segment.
    const proof = path.join(root, 'archived.tlog-proof');
    ok(['audit', 'prove', '1', '--out', proof, ...data()]);
    usage(['audit', 'check-proof', proof, '--key', vkey], /--entry/);
    await writeFile(path.join(root, 'entry-1.json'), segmentText.split('\n')[2]!);
    expect(
      ok(['audit', 'check-proof', proof, '--key', vkey, '--entry', path.join(root, 'entry-1.json')]).stdout,
    ).toContain('proof OK (entry 1 of');

    // A missing segment, a changed entry, another log's key: each is a finding (exit 1).
    const names = (await readdir(segments)).sort();
    const gap = path.join(root, 'gap');
    await mkdir(gap);
    for (const name of [names[0]!, names[2]!]) await cp(path.join(segments, name), path.join(gap, name));
    const gapRun = fortress(['audit', 'verify', '--segments', gap, '--key', vkey]);
    expect(gapRun.status).toBe(1);
    expect(gapRun.stdout).toContain('a segment is missing');
    const changed = path.join(root, 'changed');
    await cp(segments, changed, { recursive: true });
    await writeFile(
      path.join(changed, names[0]!),
      segmentText.replace('"client":null', '"client":"10.0.0.1"'),
    );
    const changedRun = fortress(['audit', 'verify', '--segments', changed, '--key', vkey]);
    expect(changedRun.status).toBe(1);
    expect(changedRun.stdout).toContain(names[0]!);
    const otherKey = formatVerifierKey(
      origin,
      'ed25519',
      createSigner('ed25519', SecretKey.generate(32)).publicKey,
    );
    expect(fortress(['audit', 'verify', '--segments', segments, '--key', otherKey]).status).toBe(1);
  });

  it('verify reads a page-encrypted directory by unsealing it', async () => {
    const encrypted = path.join(root, 'encrypted');
    const db = await Fortress.open({ path: encrypted, pageEncryption: true, onWarning: () => undefined });
    await db.createTable('t', { columns: { id: { type: 'integer', primaryKey: true } } });
    await db.close();
    expect(ok(['audit', 'verify', '--data', encrypted]).stdout).toMatch(/ — OK\n/);
  });

  it('every bad flag or value is a usage error (exit 2, FX_CLI_USAGE) with a specific message', async () => {
    const d = data();
    const cases: [string[], RegExp][] = [
      [['audit'], /unknown audit command/],
      [['audit', 'frobnicate'], /unknown audit command/],
      [['audit', 'verify', '--nope', ...d], /Unknown option '--nope'/],
      [['audit', 'verify', 'extra', ...d], /takes no argument/],
      [['audit', 'verify', '--key', 'not-a-key', ...d], /--key expects a verifier key/],
      [['audit', 'verify', '--from-checkpoint', path.join(root, 'missing'), ...d], /--from-checkpoint/],
      [['audit', 'verify', '--from-checkpoint', CLI, ...d], /not a signed checkpoint/],
      [['audit', 'verify', '--segments', path.join(root, 'missing'), ...d], /not a directory/],
      [['audit', 'verify', '--segments', root], /needs --key/],
      [['audit', 'prove', ...d], /one entry number/],
      [['audit', 'prove', 'abc', ...d], /entry number/],
      [['audit', 'prove', '-1', ...d], /negative/],
      [['audit', 'prove', '01', ...d], /entry number/],
      [['audit', 'prove', '99999999999999999', ...d], /entry number/],
      [['audit', 'check-proof', CLI], /needs --key/],
      [['audit', 'check-proof', path.join(root, 'missing'), '--key', vkey], /cannot read/],
      [['audit', 'check-proof', CLI, '--key', vkey, ...d], /no data directory/],
      [['audit', 'tail', '-n', '0', ...d], /-n expects/],
      [['audit', 'tail', '-n', '-5', ...d], /negative/],
      [['audit', 'tail', '-n', 'ten', ...d], /-n expects/],
      [['audit', 'search', '--limit', '0', ...d], /--limit expects/],
      [['audit', 'search', '--decision', 'maybe', ...d], /--decision expects allow or deny/],
      [['audit', 'search', '--outcome', 'fine', ...d], /--outcome expects ok or error/],
      [['audit', 'search', '--since', 'yesterday', ...d], /--since expects an ISO 8601 time/],
      [['audit', 'search', '--until', '2026-13-45T99:00', ...d], /--until expects/],
      [['audit', 'search', '--since', '2026-02-01', '--until', '2026-01-01', ...d], /after --until/],
      [['audit', 'search', '--from-seq', 'x', ...d], /--from-seq must be an entry number/],
      [['audit', 'search', '--from-seq=-1', ...d], /--from-seq must be an entry number/],
      [['audit', 'search', '--from-seq', '5', '--to-seq', '2', ...d], /greater than --to-seq/],
      [['audit', 'search', '--action', 'Table Get', ...d], /--action expects/],
      [['audit', 'search', '--principal', '', ...d], /--principal expects/],
      [['audit', 'search', '--digest', 'md5:abc', ...d], /--digest expects/],
      [['audit', 'search', '--value', 'x', '--digest', `hmac-sha256:${'0'.repeat(64)}`, ...d], /not both/],
      [['audit', 'search', '--value', '-5', ...d], /--value=-5/],
      [['audit', 'hash', ...d], /needs one value/],
      [['audit', 'hash', '-5', ...d], /after --/],
      [['audit', 'checkpoint', 'now', ...d], /takes no argument/],
      [['audit', 'archive', '--out', root, ...d], /needs --before/],
      [['audit', 'archive', '--before', '3', ...d], /needs --out/],
      [['audit', 'archive', '--before', '0', '--out', root, ...d], /archives nothing/],
      [['audit', 'archive', '--before', '3', '--out', CLI, ...d], /not a directory/],
    ];
    // Two at a time: each case is a process start, and they are independent.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < cases.length) {
        const [args, message] = cases[next++]!;
        const run = await fortressAsync(args);
        expect(run.status, args.join(' ')).toBe(2);
        expect(run.stderr, args.join(' ')).toContain('FX_CLI_USAGE');
        expect(run.stderr, args.join(' ')).toMatch(message);
      }
    };
    await Promise.all([worker(), worker()]);
    // Values that parse but name nothing in the log have their own codes.
    const beyond = fortress(['audit', 'prove', '999999', ...d]);
    expect(beyond.status).toBe(2);
    expect(beyond.stderr).toContain('FX_AUDIT_NOT_FOUND');
    expect(fortress(['audit', 'verify', '--data', path.join(root, 'nope')]).stderr).toContain(
      'FX_NOT_INITIALIZED',
    );
    expect(existsSync(path.join(root, 'nope'))).toBe(false);
  });
});
