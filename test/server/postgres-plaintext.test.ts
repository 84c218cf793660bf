/**
 * No sensitive plaintext reaches PostgreSQL. A real `fortress server` process on a private
 * PostgreSQL (test/helpers/pg-instance.ts) that logs every statement with its bound parameters
 * (`log_statement = all`): init, a user with a password, a login, a table with an encrypted
 * searchable column and an encrypted column, sentinel values inserted, searched for, updated and
 * read back; a restart, unsealed share by share. Then neither `pg_dump` of the database nor the
 * server's statement log holds a sentinel — as text, hex or base64 — nor the password, a token or
 * an unseal share. Bytes bound as parameters appear hex-encoded in the log: that is ciphertext.
 *
 * The scan proves something only if it would have found a leak, so the test also checks that both
 * texts hold what they should: the statements and tables, the rows, hex-encoded bound bytes, and
 * the value of a column declared plaintext — in clear, in both.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FortressClient } from '../../src/client/index.js';
import { startPgInstance, type PgInstance } from '../helpers/pg-instance.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const RUN = randomBytes(6).toString('hex');
/** Values of encrypted columns: none may reach PostgreSQL in any form. */
const SENTINELS = {
  email1: `fx-sentinel-${RUN}-email-one@example.com`,
  email2: `fx-sentinel-${RUN}-email-two@example.com`,
  email3: `fx-sentinel-${RUN}-email-three@example.com`,
  ssn1: `FX-SENTINEL-${RUN}-SSN-ONE`,
  ssn2: `FX-SENTINEL-${RUN}-SSN-TWO`,
  ssn3: `FX-SENTINEL-${RUN}-SSN-THREE`,
  updated: `FX-SENTINEL-${RUN}-SSN-UPDATED`,
  kv: `FX-SENTINEL-${RUN}-KV-SECRET`,
  kvPatched: `FX-SENTINEL-${RUN}-KV-PATCHED`,
};
const PASSWORD = `fx-password-${RUN}-correct-horse`;
/** A column declared plaintext: stored as is, by design — the scan's positive control. */
const VISIBLE = `FX-VISIBLE-${RUN}-NOTE`;

/** The spellings of `text` a leak could take: as is, hex of its UTF-8, base64 at every alignment. */
function leakForms(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const forms = [text, bytes.toString('hex'), bytes.toString('hex').toUpperCase()];
  for (let shift = 0; shift < 3; shift++) {
    // Encoded after `shift` other bytes: only the groups made of the text's bytes alone are fixed.
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const full = encoded.slice(shift === 0 ? 0 : 4, Math.floor((shift + bytes.length) / 3) * 4);
    forms.push(full, full.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

/** The secrets (by name) whose forms occur in `haystack`. */
function leaks(haystack: string, secrets: Readonly<Record<string, string>>): string[] {
  const lower = haystack.toLowerCase();
  return Object.entries(secrets).flatMap(([name, secret]) =>
    leakForms(secret)
      // Hex may be printed in either case; text and base64 are case-sensitive.
      .filter(
        (form) =>
          haystack.includes(form) || (/^[0-9a-f]+$/i.test(form) && lower.includes(form.toLowerCase())),
      )
      .map((form) => `${name} as ${form === secret ? 'text' : form}`),
  );
}

describe('no sensitive plaintext reaches PostgreSQL (pg_dump and the statement log)', () => {
  let pg: PgInstance;
  let tmp: string;
  let dataDir: string;
  let server: ServerProcess | undefined;
  const secrets: Record<string, string> = { ...SENTINELS, password: PASSWORD };
  let dump = '';
  let log = '';

  function startServer(): Promise<ServerProcess> {
    return startServerProcess(dataDir, { FORTRESS_STORAGE_KIND: 'postgres', FORTRESS_STORAGE_URL: pg.url });
  }

  function sdk(token?: string): FortressClient {
    return server!.client(token);
  }

  beforeAll(async () => {
    pg = await startPgInstance();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'fx-pg-plaintext-'));
    dataDir = path.join(tmp, 'data');
    server = await startServer();
  }, 60_000);

  afterAll(async () => {
    await server?.stop().catch(() => undefined);
    await pg.destroy();
    await rm(tmp, { recursive: true, force: true });
  }, 60_000);

  it('init, a user and a login, encrypted columns written, searched, updated and read; a restart and an unseal', async () => {
    const init = await sdk().sys.init({ shares: 3, threshold: 2 });
    secrets['rootToken'] = init.rootToken;
    init.shares.forEach((share, i) => (secrets[`share${i + 1}`] = share));
    const root = sdk(init.rootToken);
    await root.principals.putUser('clerk', { roles: ['fortress-admin'] });
    await root.auth.setPassword('clerk', PASSWORD);
    const clerk = sdk();
    secrets['clerkToken'] = (await clerk.auth.login('clerk', PASSWORD)).token;

    await clerk.db.createTable('patients', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        email: { type: 'text', encrypt: { search: 'equality' } },
        ssn: { type: 'text', encrypt: true },
        note: { type: 'text' },
      },
    });
    await clerk.db.insert('patients', { id: 1, email: SENTINELS.email1, ssn: SENTINELS.ssn1, note: VISIBLE });
    await clerk.db.insertMany('patients', [
      { id: 2, email: SENTINELS.email2, ssn: SENTINELS.ssn2, note: null },
      { id: 3, email: SENTINELS.email3, ssn: SENTINELS.ssn3, note: null },
      ...Array.from({ length: 7 }, (_, i) => ({
        id: 10 + i,
        email: `p${i}@example.com`,
        ssn: `ssn-${i}`,
        note: null,
      })),
    ]);
    const found = await clerk.db.find('patients', { where: { email: SENTINELS.email2 } });
    expect(found).toEqual([{ id: 2, email: SENTINELS.email2, ssn: SENTINELS.ssn2, note: null }]);
    expect(await clerk.db.count('patients', { email: SENTINELS.email3 })).toBe(1);
    await clerk.db.update('patients', 3, { ssn: SENTINELS.updated });
    expect(await clerk.db.get('patients', 3)).toMatchObject({ ssn: SENTINELS.updated });
    expect(await clerk.db.get('patients', 1)).toEqual({
      id: 1,
      email: SENTINELS.email1,
      ssn: SENTINELS.ssn1,
      note: VISIBLE,
    });

    // A restart: the server comes back sealed and is unsealed share by share (the shares travel
    // to the server, never on to PostgreSQL); the token still works.
    await server!.stop();
    server = await startServer();
    const anonymous = sdk();
    expect((await anonymous.sys.unseal(init.shares[0]!)).sealed).toBe(true);
    expect((await anonymous.sys.unseal(init.shares[2]!)).sealed).toBe(false);
    expect(await sdk(secrets['clerkToken']).db.get('patients', 2)).toMatchObject({ ssn: SENTINELS.ssn2 });
    // KV secrets: written, patched, read back (the values travel as bind parameters only as envelopes).
    const kv = sdk(init.rootToken).kv;
    await kv.put('apps/plaintext/db', { password: SENTINELS.kv });
    await kv.patch('apps/plaintext/db', { rotated: SENTINELS.kvPatched });
    expect((await kv.get('apps/plaintext/db')).data).toEqual({
      password: SENTINELS.kv,
      rotated: SENTINELS.kvPatched,
    });
    expect((await sdk(secrets['clerkToken']).audit.verify())['ok']).toBe(true);

    dump = await pg.dump();
    log = await pg.log();
  }, 60_000);

  it('the scan would see a leak: both texts hold the statements, the rows and a plaintext column', () => {
    // pg_dump: the schema and every row, the data table's included (10 rows: ids and ciphertext).
    expect(dump).toContain('CREATE TABLE public.fx_t_patients');
    expect(dump).toMatch(/COPY public\.fx_tokens /);
    const copy = /COPY public\.fx_t_patients \([^)]*\) FROM stdin;\n([\s\S]*?)\n\\\.\n/.exec(dump);
    expect(copy, 'the rows of fx_t_patients').not.toBeNull();
    expect(copy![1]!.split('\n')).toHaveLength(10);
    expect(dump).toMatch(/\\\\x[0-9a-f]{64}/);
    // The statement log: every statement with its bound values, bytes hex-encoded.
    expect(log).toMatch(/LOG: {2}(statement|execute [^:]*): INSERT INTO "?fx_t_patients"?/);
    expect(log).toMatch(/UPDATE "?fx_t_patients"?/);
    expect(log).toMatch(/INSERT INTO "?fx_userpass"?/);
    expect(log).toMatch(/DETAIL: {2}parameters: \$1 = /);
    expect(log).toMatch(/'\\x[0-9a-f]{64,}'/);
    // A column declared plaintext is stored in clear by design: both texts show it.
    expect(leaks(dump, { visible: VISIBLE })).toContain('visible as text');
    expect(leaks(log, { visible: VISIBLE })).toContain('visible as text');
    // Each scanned form is long enough not to match by chance.
    for (const secret of Object.values(secrets)) {
      for (const form of leakForms(secret)) expect(form.length).toBeGreaterThanOrEqual(16);
    }
  });

  it('pg_dump holds no sentinel, password, token or unseal share in any form', () => {
    expect(Object.keys(secrets)).toHaveLength(Object.keys(SENTINELS).length + 1 + 2 + 3);
    expect(leaks(dump, secrets)).toEqual([]);
  });

  it('the statement log holds no sentinel, password, token or unseal share in any form', () => {
    expect(leaks(log, secrets)).toEqual([]);
  });
});
