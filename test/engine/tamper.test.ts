/**
 * Tampering with the stored bytes behind Fortress's back.
 *
 * While a Fortress is open, a second raw SQLite connection (plain better-sqlite3; the database is in
 * WAL mode, so both see each other's commits) rewrites envelopes and blind indexes in
 * `fortress.db`. Every tampering must surface as a stable `FX_` error — never as a wrong value, a
 * wrong row or a crash — and must not disturb the rows that were not touched.
 *
 * What authenticated encryption cannot see (documented at the end): an envelope replaced by an
 * older envelope of the same row and column (a replay), and an envelope removed (set to NULL, which
 * is how a row written before a column was added looks).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Table } from '../../src/engine/table/table.js';
import { Fortress } from '../../src/fortress.js';
import type { ErrorCode } from '../../src/util/errors.js';
import { expectCode } from '../helpers/expect-code.js';
import { openRaw, type RawDatabase } from '../helpers/raw-sqlite.js';

// ── fixtures ──────────────────────────────────────────────────────────────────────────────────

interface Person {
  id: string;
  email: string;
  ssn: string;
  name: string;
  age: number;
}

type Level = 'field' | 'row' | 'table';

interface Fixture {
  readonly db: Fortress;
  readonly raw: RawDatabase;
  readonly people: Table<Record<string, unknown>>;
  readonly rows: Person[];
  /** The physical table. */
  readonly physical: string;
  /** Reads one stored blob. */
  blob(id: string, column: string): Buffer;
  /** Writes one stored value (any SQL value: tampering is not limited to blobs). */
  set(id: string, column: string, value: unknown): void;
  /** Every row other than `except` still reads back exactly as written. */
  expectUntouched(...except: string[]): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(level: Level = 'field', tableName = 'people'): Promise<Fixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-tamper-'));
  const db = await Fortress.open({ path: dir, onWarning: () => undefined });
  const raw = openRaw(path.join(dir, 'fortress.db'), { timeout: 5000 });
  cleanups.push(async () => {
    raw.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  await db.createTable(tableName, {
    encryption: level,
    columns: {
      id: { type: 'uuid', primaryKey: true },
      email: { type: 'text', encrypt: { search: 'equality' } },
      ssn: { type: 'text', encrypt: true },
      name: { type: 'text', encrypt: true },
      // Plaintext except at table level, which encrypts every non-key column.
      age: { type: 'integer' },
    },
  });
  const people = db.table(tableName);
  const inserted = await people.insertMany(
    ['ann', 'bob', 'cyd', 'dee', 'eve'].map((n, i) => ({
      email: `${n}@example.com`,
      ssn: `${100 + i}-45-${6789 + i}`,
      name: `${n.toUpperCase()} ${randomBytes(3).toString('hex')}`,
      age: 30 + i,
    })),
  );
  const rows = inserted.map((r) => r as unknown as Person);
  const physical = `fx_t_${tableName}`;
  return {
    db,
    raw,
    people,
    rows,
    physical,
    blob(id, column) {
      const row = raw.prepare(`SELECT "${column}" AS v FROM "${physical}" WHERE p_id = ?`).get(id) as {
        v: unknown;
      };
      expect(Buffer.isBuffer(row.v), `${column} is a blob`).toBe(true);
      return row.v as Buffer;
    },
    set(id, column, value) {
      const result = raw.prepare(`UPDATE "${physical}" SET "${column}" = ? WHERE p_id = ?`).run(value, id);
      expect(result.changes).toBe(1);
    },
    async expectUntouched(...except) {
      for (const row of rows) {
        if (except.includes(row.id)) continue;
        expect(await people.get(row.id)).toEqual(row);
      }
    },
  };
}

/** The envelope column holding `column` at a level. */
function envelopeColumn(level: Level, column: string): string {
  return level === 'field' ? `e_${column}` : 'e__row';
}

const INTEGRITY: ErrorCode[] = ['FX_INTEGRITY'];
/** Where the header (key id, key version) is touched, the key lookup may refuse first. */
const HEADER: ErrorCode[] = [
  'FX_INTEGRITY',
  'FX_KEY_STATE',
  'FX_KEY_NOT_FOUND',
  'FX_CRYPTO_KEY_MISMATCH',
  'FX_CRYPTO_MALFORMED_ENVELOPE',
];
const MALFORMED: ErrorCode[] = ['FX_CRYPTO_MALFORMED_ENVELOPE', 'FX_INTEGRITY'];

/** Nonce length of the default algorithm (XChaCha20-Poly1305); header is 10 bytes, tag 16. */
const HEADER_LENGTH = 10;
const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;

// ── moving envelopes ──────────────────────────────────────────────────────────────────────────

describe('moving envelopes (field level)', () => {
  it('swapping e_ssn between two rows fails both rows with FX_INTEGRITY', async () => {
    const f = await setup();
    const [a, b] = f.rows as [Person, Person];
    const ea = f.blob(a.id, 'e_ssn');
    const eb = f.blob(b.id, 'e_ssn');
    f.set(a.id, 'e_ssn', eb);
    f.set(b.id, 'e_ssn', ea);

    await expectCode(() => f.people.get(a.id), ...INTEGRITY);
    await expectCode(() => f.people.get(b.id), ...INTEGRITY);
    await expectCode(() => f.people.get(a.id, { select: ['ssn'] }), ...INTEGRITY);
    // Through a query too: the candidate row is decrypted, and fails.
    await expectCode(() => f.people.find({ where: { email: a.email } }), ...INTEGRITY);
    await expectCode(() => f.people.find({ where: { ssn: a.ssn }, scan: true }), ...INTEGRITY);
    // The columns that were not moved still read correctly.
    expect(await f.people.get(a.id, { select: ['email', 'name', 'age'] })).toEqual({
      id: a.id,
      email: a.email,
      name: a.name,
      age: a.age,
    });
    await f.expectUntouched(a.id, b.id);

    // Swapped back, both rows read again: the failure was the move, nothing else.
    f.set(a.id, 'e_ssn', ea);
    f.set(b.id, 'e_ssn', eb);
    await f.expectUntouched();
  });

  it('copying e_ssn into e_name of the same row fails with FX_INTEGRITY', async () => {
    const f = await setup();
    const a = f.rows[2]!;
    const original = f.blob(a.id, 'e_name');
    f.set(a.id, 'e_name', f.blob(a.id, 'e_ssn'));

    await expectCode(() => f.people.get(a.id), ...INTEGRITY);
    await expectCode(() => f.people.get(a.id, { select: ['name'] }), ...INTEGRITY);
    expect(await f.people.get(a.id, { select: ['ssn'] })).toEqual({ id: a.id, ssn: a.ssn });
    await f.expectUntouched(a.id);

    f.set(a.id, 'e_name', original);
    await f.expectUntouched();
  });

  it('copying an envelope to another table (same column, same primary key) fails with FX_INTEGRITY', async () => {
    const f = await setup();
    const a = f.rows[0]!;
    const other = await f.db.createTable('others', {
      columns: {
        id: { type: 'uuid', primaryKey: true },
        ssn: { type: 'text', encrypt: true },
      },
    });
    await other.insert({ id: a.id, ssn: '000-00-0000' });
    const ssn = f.blob(a.id, 'e_ssn');
    const result = f.raw.prepare('UPDATE fx_t_others SET e_ssn = ? WHERE p_id = ?').run(ssn, a.id);
    expect(result.changes).toBe(1);

    await expectCode(() => other.get(a.id), ...INTEGRITY);
    await f.expectUntouched();
  });

  it('a wrapped data key copied into a value slot does not decrypt (FX_INTEGRITY)', async () => {
    const f = await setup();
    const a = f.rows[1]!;
    const ssnKey = f.db.keys.listKeys().find((k) => k.name.includes('/col.ssn.'));
    expect(ssnKey).toBeDefined();
    const wrapped = f.raw
      .prepare('SELECT wrapped FROM fx_key_versions WHERE key_id = ? AND version = 1')
      .get(ssnKey!.id) as { wrapped: Buffer };
    expect(Buffer.isBuffer(wrapped.wrapped)).toBe(true);
    f.set(a.id, 'e_ssn', wrapped.wrapped);

    // The wrapped key is a well-formed envelope under a key-encryption key; the field context
    // (table, column, row) is not its wrapping context, so it must not open — and above all it
    // must never come back as the key's bytes.
    await expectCode(() => f.people.get(a.id), 'FX_INTEGRITY', 'FX_KEY_STATE', 'FX_CRYPTO_KEY_MISMATCH');
    await f.expectUntouched(a.id);
  });
});

// ── flipping bytes ────────────────────────────────────────────────────────────────────────────

interface Mutation {
  readonly name: string;
  readonly codes: readonly ErrorCode[];
  apply(envelope: Buffer, context: { ssnKeyId: number; nameKeyId: number }): Buffer;
}

function flip(offset: (length: number) => number, mask = 0x01): (envelope: Buffer) => Buffer {
  return (envelope) => {
    const out = Buffer.from(envelope);
    const at = offset(out.length);
    out[at] = out[at]! ^ mask;
    return out;
  };
}

function withU32(offset: number, value: number): (envelope: Buffer) => Buffer {
  return (envelope) => {
    const out = Buffer.from(envelope);
    out.writeUInt32BE(value >>> 0, offset);
    return out;
  };
}

const MUTATIONS: Mutation[] = [
  { name: 'first ciphertext byte', codes: INTEGRITY, apply: flip(() => HEADER_LENGTH + NONCE_LENGTH) },
  {
    name: 'middle ciphertext byte',
    codes: INTEGRITY,
    apply: flip((n) => HEADER_LENGTH + NONCE_LENGTH + Math.floor((n - HEADER_LENGTH - NONCE_LENGTH) / 2)),
  },
  { name: 'last tag byte', codes: INTEGRITY, apply: flip((n) => n - 1) },
  { name: 'high bit of a tag byte', codes: INTEGRITY, apply: flip((n) => n - TAG_LENGTH, 0x80) },
  { name: 'first nonce byte', codes: INTEGRITY, apply: flip(() => HEADER_LENGTH) },
  { name: 'last nonce byte', codes: INTEGRITY, apply: flip(() => HEADER_LENGTH + NONCE_LENGTH - 1) },
  // Header: key version (bytes 6-9). Version 0 is below every key's minimum decryption version,
  // which the key lookup reports as FX_KEY_VERSION_RETIRED (a refusal by header, never a value).
  {
    name: 'key version low byte (1 → 0)',
    codes: [...HEADER, 'FX_KEY_VERSION_RETIRED'],
    apply: flip(() => 9),
  },
  { name: 'key version high byte', codes: HEADER, apply: flip(() => 6) },
  { name: 'key version → 2 (not created)', codes: HEADER, apply: withU32(6, 2) },
  { name: 'key version → 0xffffffff', codes: HEADER, apply: withU32(6, 0xffff_ffff) },
  // Header: key id (bytes 2-5).
  { name: 'key id low byte', codes: HEADER, apply: flip(() => 5) },
  { name: 'key id → an unknown id', codes: HEADER, apply: withU32(2, 0x7fff_fff0) },
  {
    name: 'key id → another key of the table',
    codes: HEADER,
    apply: (envelope, { nameKeyId }) => withU32(2, nameKeyId)(envelope),
  },
  // Key id 0 is the root key, which the engine refuses to decrypt values with.
  { name: 'key id → 0 (the root key)', codes: [...HEADER, 'FX_KEY_STATE'], apply: withU32(2, 0) },
  // Header: algorithm id (byte 1) and format version (byte 0).
  {
    name: 'algorithm id',
    codes: [...HEADER, 'FX_CRYPTO_UNKNOWN_ALGORITHM'],
    apply: flip(() => 1),
  },
  {
    name: 'algorithm id → 0xff',
    codes: [...HEADER, 'FX_CRYPTO_UNKNOWN_ALGORITHM'],
    apply: flip(() => 1, 0xfe),
  },
  {
    name: 'format version',
    codes: [...HEADER, 'FX_CRYPTO_UNSUPPORTED_VERSION'],
    apply: flip(() => 0, 0x02),
  },
  // Length.
  { name: 'one byte appended', codes: MALFORMED, apply: (e) => Buffer.concat([e, Buffer.from([0])]) },
  { name: 'last byte removed', codes: MALFORMED, apply: (e) => e.subarray(0, e.length - 1) },
  { name: 'tag removed', codes: MALFORMED, apply: (e) => e.subarray(0, e.length - TAG_LENGTH) },
  {
    name: 'truncated inside the tag of an empty body',
    codes: MALFORMED,
    apply: (e) => e.subarray(0, HEADER_LENGTH + NONCE_LENGTH + TAG_LENGTH - 1),
  },
  {
    name: 'truncated to header + nonce',
    codes: MALFORMED,
    apply: (e) => e.subarray(0, HEADER_LENGTH + NONCE_LENGTH),
  },
  { name: 'truncated to the header', codes: MALFORMED, apply: (e) => e.subarray(0, HEADER_LENGTH) },
  { name: 'truncated to 9 bytes', codes: MALFORMED, apply: (e) => e.subarray(0, 9) },
  { name: 'truncated to 6 bytes', codes: MALFORMED, apply: (e) => e.subarray(0, 6) },
  { name: 'truncated to 1 byte', codes: MALFORMED, apply: (e) => e.subarray(0, 1) },
  { name: 'truncated to 0 bytes', codes: MALFORMED, apply: (e) => e.subarray(0, 0) },
];

describe.each(['field', 'row', 'table'] as const)('tampered envelope bytes (%s level)', (level) => {
  it.each(MUTATIONS.map((m) => [m.name, m] as const))(
    '%s → an FX_ error, never a value',
    async (_, mutation) => {
      const f = await setup(level);
      const column = envelopeColumn(level, 'ssn');
      const keyIdOf = (pattern: string): number =>
        f.db.keys.listKeys().find((k) => k.name.includes(pattern))!.id;
      // Another key of the same table: the name column's data key, or (one row key per table) the
      // email column's blind-index key.
      const context = {
        ssnKeyId: keyIdOf(level === 'field' ? '/col.ssn.' : '/row.'),
        nameKeyId: keyIdOf(level === 'field' ? '/col.name.' : '/idx.email'),
      };
      const a = f.rows[3]!;
      const original = f.blob(a.id, column);
      // The envelope is what the layout says: format 1, the column's key, version 1.
      expect(original[0]).toBe(1);
      expect(original.readUInt32BE(2)).toBe(context.ssnKeyId);
      expect(original.readUInt32BE(6)).toBe(1);
      const tampered = mutation.apply(original, context);
      expect(tampered.equals(original)).toBe(false);
      f.set(a.id, column, tampered);

      await expectCode(() => f.people.get(a.id), ...mutation.codes);
      await expectCode(() => f.people.get(a.id, { select: ['ssn'] }), ...mutation.codes);
      await expectCode(() => f.people.find({ where: { email: a.email } }), ...mutation.codes);
      if (level === 'field') {
        // Only the tampered column is unreadable.
        expect(await f.people.get(a.id, { select: ['email', 'name'] })).toEqual({
          id: a.id,
          email: a.email,
          name: a.name,
        });
      }
      await f.expectUntouched(a.id);

      // Restored, the row reads again: nothing (no cache, no key state) was poisoned.
      f.set(a.id, column, original);
      await f.expectUntouched();
    },
  );

  it('a key version that exists but did not seal the envelope → FX_INTEGRITY', async () => {
    const f = await setup(level);
    const column = envelopeColumn(level, 'ssn');
    const a = f.rows[0]!;
    const original = f.blob(a.id, column);
    const key = f.db.keys.listKeys().find((k) => k.id === original.readUInt32BE(2))!;
    await f.db.keys.rotate(key.id);
    f.set(a.id, column, withU32(6, 2)(original));

    await expectCode(() => f.people.get(a.id), 'FX_INTEGRITY', 'FX_CRYPTO_KEY_MISMATCH');
    await f.expectUntouched(a.id);
    f.set(a.id, column, original);
    await f.expectUntouched();
  });

  // Stored bytes that are not an envelope at all are a malformed envelope (or an integrity
  // failure), like a truncated one.
  it.each([
    ['the envelope as TEXT', (e: Buffer): unknown => e.toString('latin1')],
    ['an INTEGER', (): unknown => 42],
    ['a REAL', (): unknown => 1.5],
  ] as const)(
    'an envelope slot holding %s → FX_CRYPTO_MALFORMED_ENVELOPE or FX_INTEGRITY',
    async (_, make) => {
      const f = await setup(level);
      const column = envelopeColumn(level, 'ssn');
      const a = f.rows[1]!;
      const original = f.blob(a.id, column);
      f.set(a.id, column, make(original));
      await expectCode(() => f.people.get(a.id), ...MALFORMED);
      await f.expectUntouched(a.id);
      f.set(a.id, column, original);
      await f.expectUntouched();
    },
  );
});

describe.each(['row', 'table'] as const)('moving row envelopes (%s level)', (level) => {
  it('swapping e__row between two rows fails both rows with FX_INTEGRITY', async () => {
    const f = await setup(level);
    const [, a, b] = f.rows as [Person, Person, Person];
    const ea = f.blob(a.id, 'e__row');
    const eb = f.blob(b.id, 'e__row');
    f.set(a.id, 'e__row', eb);
    f.set(b.id, 'e__row', ea);

    await expectCode(() => f.people.get(a.id), ...INTEGRITY);
    await expectCode(() => f.people.get(b.id), ...INTEGRITY);
    await expectCode(() => f.people.get(b.id, { select: ['name'] }), ...INTEGRITY);
    await expectCode(() => f.people.find({ where: { email: b.email } }), ...INTEGRITY);
    // The key alone needs no decryption.
    expect(await f.people.get(a.id, { select: ['id'] })).toEqual({ id: a.id });
    await f.expectUntouched(a.id, b.id);

    f.set(a.id, 'e__row', ea);
    f.set(b.id, 'e__row', eb);
    await f.expectUntouched();
  });

  it('a row envelope copied to the same primary key in another table fails with FX_INTEGRITY', async () => {
    const f = await setup(level);
    const a = f.rows[0]!;
    const twin = await f.db.createTable('twin', {
      encryption: level,
      columns: {
        id: { type: 'uuid', primaryKey: true },
        email: { type: 'text', encrypt: { search: 'equality' } },
        ssn: { type: 'text', encrypt: true },
        name: { type: 'text', encrypt: true },
        age: { type: 'integer' },
      },
    });
    await twin.insert({ id: a.id, email: 'x@example.com', ssn: 'x', name: 'x', age: 1 });
    const result = f.raw
      .prepare('UPDATE fx_t_twin SET e__row = ? WHERE p_id = ?')
      .run(f.blob(a.id, 'e__row'), a.id);
    expect(result.changes).toBe(1);
    await expectCode(() => twin.get(a.id), ...INTEGRITY);
    await f.expectUntouched();
  });
});

// ── blind indexes ─────────────────────────────────────────────────────────────────────────────

describe.each(['field', 'row'] as const)('tampered blind indexes (%s level)', (level) => {
  /** Every row a query returns really matches: decrypted email equals the one asked for. */
  async function expectOnlyMatches(f: Fixture, email: string, expected: string[]): Promise<void> {
    const found = await f.people.find({ where: { email } });
    for (const row of found) expect(row['email']).toBe(email);
    expect(found.map((r) => r['id'])).toEqual(expected);
  }

  it("a row whose index is set to another row's value is filtered out, never returned wrongly", async () => {
    const f = await setup(level);
    const [a, b] = f.rows as [Person, Person];
    const indexA = f.raw.prepare(`SELECT b0_email AS v FROM "${f.physical}" WHERE p_id = ?`).get(a.id) as {
      v: number | bigint;
    };
    f.set(b.id, 'b0_email', indexA.v);

    // B is now a candidate for A's email; decryption shows it is not A's, so only A comes back.
    await expectOnlyMatches(f, a.email, [a.id]);
    expect(await f.people.count({ where: { email: a.email } })).toBe(1);
    expect((await f.people.findOne({ where: { email: a.email } }))!['id']).toBe(a.id);
    expect(
      (await f.people.find({ where: { email: { in: [a.email, 'nobody@example.com'] } } })).map(
        (r) => r['id'],
      ),
    ).toEqual([a.id]);
    expect(
      (await f.people.find({ where: { or: [{ email: a.email }, { age: 999 }] } })).map((r) => r['id']),
    ).toEqual([a.id]);

    // B's own email: its index no longer matches, so B may be missed (index tampering can hide a
    // row) — but nothing else is ever returned in its place.
    const forB = await f.people.find({ where: { email: b.email } });
    for (const row of forB) expect(row).toEqual(b);
    expect(forB.length).toBeLessThanOrEqual(1);
    // A full scan does not trust the index.
    expect(
      (await f.people.find({ where: { email: { ne: 'x' } }, scan: true })).map((r) => r['id']).sort(),
    ).toEqual(f.rows.map((r) => r.id).sort());

    // Reads by key are unaffected; so are the other rows.
    await f.expectUntouched();

    // A delete by A's email removes A only, never B.
    expect(await f.people.deleteMany({ where: { email: a.email } })).toBe(1);
    expect(await f.people.get(a.id)).toBeUndefined();
    expect(await f.people.get(b.id)).toEqual(b);
    await f.expectUntouched(a.id);
  });

  it("every row's index set to one row's value: queries still return exactly that row", async () => {
    const f = await setup(level);
    const target = f.rows[2]!;
    const index = f.raw
      .prepare(`SELECT b0_email AS v FROM "${f.physical}" WHERE p_id = ?`)
      .get(target.id) as {
      v: number | bigint;
    };
    f.raw.prepare(`UPDATE "${f.physical}" SET b0_email = ?`).run(index.v);

    await expectOnlyMatches(f, target.email, [target.id]);
    expect(await f.people.count({ where: { email: target.email } })).toBe(1);
    for (const row of f.rows) {
      if (row.id === target.id) continue;
      await expectOnlyMatches(f, row.email, []);
    }
    await f.expectUntouched();
  });

  it('a row whose index is set to NULL is not returned by an "is null" query', async () => {
    const f = await setup(level);
    const a = f.rows[4]!;
    f.set(a.id, 'b0_email', null);
    expect(await f.people.find({ where: { email: null } })).toEqual([]);
    expect(await f.people.find({ where: { email: { isNull: true } } })).toEqual([]);
    expect(await f.people.count({ where: { email: null } })).toBe(0);
    expect(await f.people.deleteMany({ where: { email: null } })).toBe(0);
    await f.expectUntouched();
  });

  it('random index values never produce a wrong row', async () => {
    const f = await setup(level);
    for (const row of f.rows) f.set(row.id, 'b0_email', randomBytes(4).readUInt32BE() % 1024);
    for (const row of f.rows) {
      const found = await f.people.find({ where: { email: row.email } });
      for (const r of found) expect(r).toEqual(row);
    }
    await f.expectUntouched();
  });
});

// ── what authentication cannot see (documented) ──────────────────────────────────────────────

describe('limits of tamper detection (documented behaviour)', () => {
  it('an older envelope of the same row and column (a replay) decrypts to the older value', async () => {
    // The envelope is bound to (table, column, row), not to a row version: rolling one cell back to
    // an earlier ciphertext of itself is not detectable by authenticated encryption alone.
    const f = await setup();
    const a = f.rows[0]!;
    const old = f.blob(a.id, 'e_ssn');
    await f.people.update(a.id, { ssn: '999-99-9999' });
    f.set(a.id, 'e_ssn', old);
    expect((await f.people.get(a.id))!['ssn']).toBe(a.ssn);
  });

  it('an envelope set to NULL reads as null, like a row written before the column existed', async () => {
    const f = await setup();
    const a = f.rows[0]!;
    f.set(a.id, 'e_ssn', null);
    expect((await f.people.get(a.id))!['ssn']).toBeNull();
    await f.expectUntouched(a.id);
  });
});
