/**
 * Secrets never appear in audit entries: sentinel values go through every API that can carry one
 * (row keys, inserted and updated values, query literals of every operator, failed operations,
 * transit encryption, the audit API itself), and then the ledger's storage — the raw bytes of the
 * database and its write-ahead log, while open and after close — is searched for each sentinel in
 * several encodings. The entries hold only `hmac-sha256:` digests, which `db.audit.hash` reproduces.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Fortress } from '../../src/fortress.js';
import { expectCode } from '../helpers/expect-code.js';
import { openRaw } from '../helpers/raw-sqlite.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function sentinel(label: string): string {
  return `${label}-${randomBytes(9).toString('base64url')}`;
}

function needles(value: string): { label: string; bytes: Buffer }[] {
  const utf8 = Buffer.from(value, 'utf8');
  return [
    { label: 'utf8', bytes: utf8 },
    { label: 'utf16le', bytes: Buffer.from(value, 'utf16le') },
    { label: 'hex', bytes: Buffer.from(utf8.toString('hex'), 'latin1') },
    { label: 'base64', bytes: Buffer.from(utf8.toString('base64').slice(0, 16), 'latin1') },
    { label: 'json', bytes: Buffer.from(JSON.stringify(value), 'utf8') },
  ];
}

async function scan(dir: string, values: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of await readdir(dir)) {
    if (!file.startsWith('fortress.db')) continue;
    const bytes = await readFile(path.join(dir, file));
    for (const value of values) {
      for (const needle of needles(value)) {
        if (bytes.includes(needle.bytes)) found.push(`${value} (${needle.label}) in ${file}`);
      }
    }
  }
  return found;
}

describe('no sensitive value reaches the audit ledger', () => {
  it('row keys, values and query literals through every API appear only as digests', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-audit-sentinel-'));
    dirs.push(dir);
    const db = await Fortress.open({
      path: dir,
      onWarning: () => undefined,
      audit: { checkpointIntervalMs: 0 },
    });
    const s = {
      key: sentinel('KEY'),
      key2: sentinel('KEYTWO'),
      email: sentinel('EMAIL'),
      ssn: sentinel('SSN'),
      updated: sentinel('UPDATED'),
      literal: sentinel('LITERAL'),
      inList: sentinel('INLIST'),
      missing: sentinel('MISSING'),
      transit: sentinel('TRANSIT'),
      dup: sentinel('DUP'),
    };
    // The primary key is plaintext in the table by design, so it gets its own table whose rows are
    // deleted at the end; everything else lives in encrypted columns.
    const t = await db.createTable('people', {
      columns: {
        id: { type: 'text', primaryKey: true },
        email: { type: 'text', encrypt: { search: 'equality' } },
        ssn: { type: 'text', encrypt: true },
        age: { type: 'integer' },
      },
    });
    await t.insert({ id: s.key, email: s.email, ssn: s.ssn, age: 40 });
    await t.insertMany([{ id: s.key2, email: s.inList, ssn: s.ssn, age: 41 }]);
    await t.get(s.key);
    await t.get(s.missing);
    await t.find({ where: { email: s.email } });
    await t.find({ where: { email: { in: [s.inList, s.literal] } } });
    await t.find({ where: { id: s.key } });
    await t.find({ where: { email: { ne: s.literal } }, scan: true });
    await t.count({ where: { email: s.literal } });
    await t.page({ where: { id: { gte: s.literal } }, orderBy: { id: 'asc' } });
    for await (const row of t.iterate({ where: { email: s.email } })) expect(row.id).toBe(s.key);
    await t.update(s.key, { ssn: s.updated });
    await expectCode(t.insert({ id: s.key, email: s.dup }), 'FX_DUPLICATE_KEY');
    await expectCode(t.find({ where: { ssn: s.literal } }), 'FX_QUERY_UNSUPPORTED');
    await expectCode(t.update(s.missing, { ssn: s.dup }), 'FX_ROW_NOT_FOUND');
    await t.deleteMany({ where: { email: s.inList } });
    await t.delete(s.key);
    await db.keys.createKey({ name: 'app/kek', purpose: 'kek' });
    await db.keys.createKey({ name: 'app/transit', purpose: 'transit', parent: 'app/kek' });
    const envelope = await db.keys.encrypt('app/transit', Buffer.from(s.transit));
    expect((await db.keys.decrypt(envelope)).toString()).toBe(s.transit);
    // Digests find the entries again.
    const about: string[] = [];
    for await (const e of db.audit.entries({ digest: db.audit.hash(s.literal) })) about.push(e.action);
    expect(about).toEqual(expect.arrayContaining(['table.find', 'table.count', 'table.page']));
    await db.audit.checkpoint();
    await db.audit.tlogProof(3);
    // Primary keys are stored in plaintext in their table by design (docs/security.md), so the raw
    // file scan leaves them out; the dump of the ledger's own tables below includes them.
    const notKeys = Object.entries(s)
      .filter(([name]) => name !== 'key' && name !== 'key2' && name !== 'missing')
      .map(([, v]) => v);
    expect(await scan(dir, notKeys), 'while open (WAL not checkpointed)').toEqual([]);
    await db.close();
    expect(await scan(dir, notKeys), 'after close').toEqual([]);
    const raw = openRaw(path.join(dir, 'fortress.db'), { readonly: true });
    const dump = Buffer.concat(
      ['fx_audit_entries', 'fx_audit_nodes', 'fx_audit_checkpoints', 'fx_audit_state'].flatMap((table) =>
        (raw.prepare(`SELECT * FROM ${table}`).raw().all() as unknown[][]).flatMap((row) =>
          row.map((v) => (v instanceof Uint8Array ? Buffer.from(v) : Buffer.from(String(v), 'utf8'))),
        ),
      ),
    );
    raw.close();
    expect(dump.length).toBeGreaterThan(1000);
    const inLedger = Object.values(s).flatMap((value) =>
      needles(value)
        .filter((n) => dump.includes(n.bytes))
        .map((n) => `${value} (${n.label})`),
    );
    expect(inLedger, 'in the ledger tables').toEqual([]);
  });
});
