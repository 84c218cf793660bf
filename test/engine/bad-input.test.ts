/**
 * Malformed input at every entry point: each call fails with its specific FX_ code, nothing stored
 * changes (the table's full contents, its schema, the table list and the key list are compared
 * before and after), and no error message repeats the rejected value.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Fortress } from '../../src/fortress.js';
import type { AnyRow, TableDefinition } from '../../src/engine/schema/table-schema.js';
import type { Table } from '../../src/engine/table/table.js';
import { DevKeyFileSealProvider } from '../../src/keys/seal/dev-key-file-seal.js';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { FortressError, type ErrorCode } from '../../src/util/errors.js';
import { expectCode } from '../helpers/expect-code.js';

/** Silences the dev-key-file warning. */
const quiet = (): void => undefined;

const SECRET = 'SECRET-VALUE';
const UUID_A = '0190f5c2-8a4b-7c3d-9e2f-0123456789ab';
const UUID_B = '0190f5c2-8a4b-7c3d-9e2f-0123456789ac';

/** Every column type, plaintext and encrypted, with small limits to hit. */
const TYPED = {
  columns: {
    id: { type: 'integer', primaryKey: true },
    t: { type: 'text', maxBytes: 16 },
    i: { type: 'integer' },
    r: { type: 'real' },
    b: { type: 'boolean' },
    ts: { type: 'timestamp' },
    j: { type: 'json', maxBytes: 64 },
    by: { type: 'bytes', maxBytes: 8 },
    u: { type: 'uuid' },
    et: { type: 'text', encrypt: true, maxBytes: 16 },
    ei: { type: 'integer', encrypt: { search: 'equality' } },
    ej: { type: 'json', encrypt: true },
    eby: { type: 'bytes', encrypt: true, maxBytes: 8 },
    req: { type: 'text', required: true },
  },
} as const satisfies TableDefinition;

/** Row-level encryption, uuid key: searchable, non-searchable and plaintext columns. */
const PEOPLE = {
  encryption: 'row',
  columns: {
    id: { type: 'uuid', primaryKey: true },
    email: { type: 'text', encrypt: { search: 'equality', normalize: ['casefold'] } },
    ssn: { type: 'text', encrypt: true },
    notes: { type: 'text', encrypt: true, maxBytes: 32 },
    age: { type: 'integer', index: true },
    data: { type: 'json' },
  },
} as const satisfies TableDefinition;

const goodTyped = (id: number): AnyRow => ({
  id,
  t: `row ${id}`,
  i: id * 10,
  r: id / 4,
  b: id % 2 === 0,
  ts: new Date(Date.UTC(2024, 0, id)),
  j: { n: id, tags: ['a'] },
  by: Buffer.from([id, 1, 2]),
  u: UUID_A,
  et: `secret ${id}`,
  ei: id,
  ej: [id, { x: 'y' }],
  eby: Buffer.from([9, id]),
  req: 'present',
});

async function everything(table: Table): Promise<AnyRow[]> {
  return table.find({ orderBy: { id: 'asc' } });
}

/** Asserts `call` fails with one of `codes` and that the table reads back exactly as before. */
async function rejectsUnchanged(
  table: Table,
  call: () => unknown,
  ...codes: ErrorCode[]
): Promise<FortressError> {
  const before = await everything(table);
  const error = await expectCode(call, ...codes);
  expect(await everything(table)).toEqual(before);
  return error;
}

function noSecret(error: FortressError, ...values: string[]): void {
  for (const value of [SECRET, ...values]) {
    expect(error.message).not.toContain(value);
    expect(String(error.stack)).not.toContain(value);
  }
}

describe('bad input', () => {
  let dir: string;
  let db: Fortress;
  let typed: Table;
  let people: Table;
  let keyed: Table;

  /** Physical tables in fortress.db (read through a second connection). */
  async function physicalTables(): Promise<string[]> {
    const raw = await new SqliteDialect({ path: path.join(dir, 'fortress.db') }).createDriver();
    try {
      const rows = await raw.all<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
      );
      return rows.map((r) => r.name);
    } finally {
      await raw.close();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bad-input-'));
    db = await Fortress.open({ path: dir, onWarning: quiet });
    await db.createTable('typed', TYPED);
    await db.createTable('people', PEOPLE);
    await db.createTable('keyed', {
      columns: { id: { type: 'text', primaryKey: true }, v: { type: 'integer' } },
    });
    typed = db.table('typed');
    people = db.table('people');
    keyed = db.table('keyed');
    await typed.insertMany([goodTyped(1), goodTyped(2), goodTyped(3)]);
    await people.insertMany([
      { id: UUID_A, email: 'Ann@x.io', ssn: '123', notes: 'n1', age: 41, data: { a: 1 } },
      { id: UUID_B, email: 'bob@x.io', ssn: '456', notes: null, age: null, data: null },
    ]);
    await keyed.insert({ id: 'k1', v: 1 });
  });

  afterAll(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  // A check that fails because a bad value was accepted must not spoil the tests after it.
  afterEach(async () => {
    await typed.deleteMany({ where: { id: { gt: 3 } } });
    await people.deleteMany({ where: { id: { notIn: [UUID_A, UUID_B] } } });
    await keyed.deleteMany({ where: { id: { ne: 'k1' } } });
  });

  // ── unknown tables and columns ─────────────────────────────────────────────────────────────────

  describe('unknown table → FX_TABLE_NOT_FOUND', () => {
    it('every entry point that names a table', async () => {
      for (const name of ['nope', 'Typed', '', 'fx_t_typed', '__proto__', 42 as unknown as string]) {
        await expectCode(() => db.table(name), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.describeTable(name), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.dropTable(name), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.addColumn(name, 'x', { type: 'text' }), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.dropColumn(name, 'x'), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.encryptColumn(name, 'x'), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.changeAlgorithm(name, 'x', 'aes-256-gcm'), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.rotateKeys(name), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.reencrypt(name), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.rotateIndexKey(name, 'x'), 'FX_TABLE_NOT_FOUND');
        await expectCode(() => db.keyUsage(name), 'FX_TABLE_NOT_FOUND');
        await expectCode(
          db.transaction(async (tx) => {
            await tx.table(name).insert({});
          }),
          'FX_TABLE_NOT_FOUND',
        );
      }
      expect(db.listTables()).toEqual(['keyed', 'people', 'typed']);
    });

    it('a handle on a dropped table', async () => {
      await db.createTable('doomed', { columns: { id: { type: 'integer', primaryKey: true } } });
      const doomed = db.table('doomed');
      await doomed.insert({ id: 1 });
      await db.dropTable('doomed');
      await expectCode(doomed.insert({ id: 2 }), 'FX_TABLE_NOT_FOUND');
      await expectCode(doomed.find(), 'FX_TABLE_NOT_FOUND');
      await expectCode(doomed.get(1), 'FX_TABLE_NOT_FOUND');
      await expectCode(doomed.count(), 'FX_TABLE_NOT_FOUND');
      await expectCode(doomed.delete(1), 'FX_TABLE_NOT_FOUND');
    });
  });

  describe('unknown column → FX_COLUMN_NOT_FOUND', () => {
    for (const name of ['nope', 'ID', 'T', '__proto__', 'constructor', 'toString', 'p_t', 'e__row']) {
      it(`column ${JSON.stringify(name)} in insert, update, where, orderBy, select`, async () => {
        const extra: AnyRow = {};
        Object.defineProperty(extra, name, { value: 1, enumerable: true });
        await rejectsUnchanged(
          typed,
          () => typed.insert({ ...goodTyped(9), ...extra }),
          'FX_COLUMN_NOT_FOUND',
        );
        await rejectsUnchanged(typed, () => typed.update(1, extra), 'FX_COLUMN_NOT_FOUND');
        await rejectsUnchanged(
          people,
          () => people.update(UUID_A, { notes: 'x', ...extra }),
          'FX_COLUMN_NOT_FOUND',
        );
        await expectCode(typed.find({ where: extra }), 'FX_COLUMN_NOT_FOUND');
        await expectCode(typed.find({ where: { or: [{ i: 1 }, extra] } }), 'FX_COLUMN_NOT_FOUND');
        await expectCode(typed.count({ where: { not: extra } }), 'FX_COLUMN_NOT_FOUND');
        await rejectsUnchanged(typed, () => typed.deleteMany({ where: extra }), 'FX_COLUMN_NOT_FOUND');
        await expectCode(typed.find({ orderBy: { [name]: 'asc' } as never }), 'FX_COLUMN_NOT_FOUND');
        await expectCode(
          typed.page({ orderBy: [{ i: 'asc' }, { [name]: 'desc' }] as never }),
          'FX_COLUMN_NOT_FOUND',
        );
        await expectCode(typed.find({ select: ['t', name] }), 'FX_COLUMN_NOT_FOUND');
        await expectCode(typed.get(1, { select: [name] }), 'FX_COLUMN_NOT_FOUND');
      });
    }

    it('schema changes naming a missing column', async () => {
      const schema = db.describeTable('typed');
      await expectCode(db.dropColumn('typed', 'nope'), 'FX_COLUMN_NOT_FOUND');
      await expectCode(db.encryptColumn('typed', 'nope'), 'FX_COLUMN_NOT_FOUND');
      await expectCode(db.changeAlgorithm('typed', 'nope', 'aes-256-gcm'), 'FX_COLUMN_NOT_FOUND');
      await expectCode(db.rotateIndexKey('typed', 'nope'), 'FX_COLUMN_NOT_FOUND');
      expect(db.describeTable('typed')).toEqual(schema);
    });
  });

  // ── values ─────────────────────────────────────────────────────────────────────────────────────

  describe('wrong value types → FX_TYPE_MISMATCH', () => {
    const circular: Record<string, unknown> = { secret: SECRET };
    circular['self'] = circular;
    const cases: [column: string, label: string, value: unknown][] = [
      ['t', 'a number into text', 42],
      ['t', 'a boolean into text', true],
      ['t', 'an array into text', [SECRET]],
      ['t', 'bytes into text', Buffer.from(SECRET)],
      ['t', 'a Date into text', new Date()],
      ['t', 'a lone high surrogate', `${SECRET}\uD800`],
      ['t', 'a lone low surrogate', `\uDC00${SECRET}`],
      ['et', 'a lone surrogate into encrypted text', `x\uD83D${SECRET}`],
      ['et', 'a number into encrypted text', 7],
      ['i', 'a numeric string into integer', '1'],
      ['i', 'a string into integer', SECRET],
      ['i', '1.5 into integer', 1.5],
      ['i', 'NaN into integer', Number.NaN],
      ['i', 'Infinity into integer', Number.POSITIVE_INFINITY],
      ['i', '2^53 into integer', 2 ** 53],
      ['i', '-(2^53) into integer', -(2 ** 53)],
      ['i', 'a BigInt above the safe range', 2n ** 53n],
      ['i', 'a BigInt below the safe range', -(2n ** 53n)],
      ['i', 'a huge BigInt', 2n ** 70n],
      ['i', 'a boolean into integer', true],
      ['i', 'a Date into integer', new Date()],
      ['ei', '1.5 into encrypted searchable integer', 1.5],
      ['ei', 'a string into encrypted searchable integer', '7'],
      ['ei', 'a BigInt above the safe range (encrypted)', 2n ** 60n],
      ['r', 'NaN into real', Number.NaN],
      ['r', 'Infinity into real', Number.POSITIVE_INFINITY],
      ['r', '-Infinity into real', Number.NEGATIVE_INFINITY],
      ['r', 'a numeric string into real', '1.5'],
      ['r', 'a BigInt into real', 1n],
      ['b', '1 into boolean', 1],
      ['b', '0 into boolean', 0],
      ['b', '"true" into boolean', 'true'],
      ['b', 'a Boolean object', Object(true)],
      ['ts', 'an invalid Date', new Date(Number.NaN)],
      ['ts', 'free text into timestamp', SECRET],
      ['ts', 'a number into timestamp', 1_700_000_000_000],
      ['ts', 'an ISO-looking string that is no date', '2024-13-45T99:99:99Z'],
      ['ts', 'an ISO string with trailing text', `2024-01-01T00:00:00Z ${SECRET}`],
      ['u', 'a non-uuid string', SECRET],
      ['u', 'a number into uuid', 123],
      ['u', 'a braced uuid', `{${UUID_A}}`],
      ['u', 'a uuid one digit short', UUID_A.slice(0, -1)],
      ['u', 'a uuid without dashes', UUID_A.replaceAll('-', '')],
      ['u', 'a uuid with a non-hex digit', UUID_A.replace('a', 'g')],
      ['j', 'a function into json', () => SECRET],
      ['j', 'a symbol into json', Symbol(SECRET)],
      ['j', 'an object that serialises to nothing', { toJSON: () => undefined }],
      ['j', 'a circular object into json', circular],
      ['j', 'a BigInt into json', { n: 1n }],
      ['ej', 'a circular object into encrypted json', circular],
      ['ej', 'a function into encrypted json', () => 1],
      ['by', 'a string into bytes', SECRET],
      ['by', 'a number array into bytes', [1, 2, 3]],
      ['by', 'an ArrayBuffer into bytes', new ArrayBuffer(2)],
      ['by', 'a Uint16Array into bytes', new Uint16Array(2)],
      ['eby', 'a string into encrypted bytes', 'ab'],
    ];

    for (const [column, label, value] of cases) {
      it(label, async () => {
        const insert = await rejectsUnchanged(
          typed,
          () => typed.insert({ ...goodTyped(9), [column]: value }),
          'FX_TYPE_MISMATCH',
        );
        expect(insert.message).toContain(column);
        noSecret(insert);
        const update = await rejectsUnchanged(
          typed,
          () => typed.update(2, { [column]: value }),
          'FX_TYPE_MISMATCH',
        );
        noSecret(update);
        const many = await rejectsUnchanged(
          typed,
          () => typed.insertMany([goodTyped(10), { ...goodTyped(11), [column]: value }]),
          'FX_TYPE_MISMATCH',
        );
        noSecret(many);
      });
    }

    it('the same values in filters are invalid queries (not "no match")', async () => {
      const filterable = cases.filter(
        ([column, , value]) =>
          ['t', 'i', 'r', 'b', 'ts', 'u', 'by', 'ei'].includes(column) &&
          (typeof value !== 'object' || value === null || Array.isArray(value)),
      );
      expect(filterable.length).toBeGreaterThan(20);
      for (const [column, label, value] of filterable) {
        const error = await expectCode(
          typed.find({ where: { [column]: { eq: value } } }),
          'FX_QUERY_INVALID',
        );
        noSecret(error);
        await expectCode(typed.count({ where: { [column]: { in: [value] } } }), 'FX_QUERY_INVALID');
        if (!['ei'].includes(column)) {
          await expectCode(typed.find({ where: { [column]: { gt: value } } }), 'FX_QUERY_INVALID');
        }
        expect(label).toBeTypeOf('string');
      }
    });

    it('values that would not read back as written are refused (json)', async () => {
      // JSON.stringify would silently drop or rewrite these; the stored value would differ.
      for (const value of [
        { a: undefined },
        [undefined],
        { n: Number.NaN },
        { n: Number.POSITIVE_INFINITY },
        { f: () => 1 },
        new Map([[1, 2]]),
      ]) {
        await rejectsUnchanged(typed, () => typed.insert({ ...goodTyped(9), j: value }), 'FX_TYPE_MISMATCH');
        await rejectsUnchanged(typed, () => typed.update(1, { ej: value }), 'FX_TYPE_MISMATCH');
      }
    });

    it('timestamps that name no real date are refused', async () => {
      // Date.parse rolls these over to March 1st; storing that would silently change the value.
      for (const value of ['2023-02-29T00:00:00Z', '2024-02-30T12:00:00Z', '2024-04-31T00:00:00.000Z']) {
        await rejectsUnchanged(typed, () => typed.insert({ ...goodTyped(9), ts: value }), 'FX_TYPE_MISMATCH');
      }
    });

    it('values that fit are accepted and read back canonically (controls)', async () => {
      const row = await typed.insert({
        ...goodTyped(20),
        i: 9_007_199_254_740_991n,
        u: UUID_A.toUpperCase(),
        ts: '2024-02-29T10:00:00.000Z',
        t: 'x'.repeat(16),
        by: new Uint8Array(8),
      });
      expect(row['i']).toBe(Number.MAX_SAFE_INTEGER);
      expect(row['u']).toBe(UUID_A);
      const back = await typed.get(20);
      expect(back?.['i']).toBe(Number.MAX_SAFE_INTEGER);
      expect(back?.['u']).toBe(UUID_A);
      expect(back?.['ts']).toEqual(new Date('2024-02-29T10:00:00.000Z'));
      expect(await typed.delete(20)).toBe(true);
    });
  });

  describe('missing, required and key values', () => {
    it('a required column that is absent or null → FX_TYPE_MISMATCH', async () => {
      const row = goodTyped(9);
      delete row['req'];
      await rejectsUnchanged(typed, () => typed.insert(row), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(typed, () => typed.insert({ ...row, req: undefined }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(typed, () => typed.insert({ ...row, req: null }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(typed, () => typed.update(1, { req: null }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(typed, () => typed.insertMany([goodTyped(10), row]), 'FX_TYPE_MISMATCH');
    });

    it('a text primary key is never generated → FX_TYPE_MISMATCH when missing', async () => {
      await rejectsUnchanged(keyed, () => keyed.insert({ v: 2 }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(keyed, () => keyed.insert({ id: null, v: 2 }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(keyed, () => keyed.insert({ id: 5, v: 2 }), 'FX_TYPE_MISMATCH');
    });

    it('updating the primary key is refused', async () => {
      await rejectsUnchanged(typed, () => typed.update(1, { id: 99 }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(typed, () => typed.update(1, { id: 1 }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(typed, () => typed.update(1, { t: 'ok', id: 99 }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(people, () => people.update(UUID_A, { id: UUID_B }), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(keyed, () => keyed.update('k1', { id: 'k2' }), 'FX_TYPE_MISMATCH');
    });

    it('an update that changes nothing, or is no object', async () => {
      await rejectsUnchanged(typed, () => typed.update(1, {}), 'FX_TYPE_MISMATCH');
      await rejectsUnchanged(typed, () => typed.update(1, { t: undefined }), 'FX_TYPE_MISMATCH');
      for (const changes of [null, 'x', 5, ['t'], new Date()]) {
        await rejectsUnchanged(typed, () => typed.update(1, changes as never), 'FX_TYPE_MISMATCH');
      }
    });

    it('rows that are not objects', async () => {
      for (const row of [null, undefined, 'x', 5, [goodTyped(9)]]) {
        await rejectsUnchanged(typed, () => typed.insert(row as never), 'FX_TYPE_MISMATCH');
        await rejectsUnchanged(
          typed,
          () => typed.insertMany([goodTyped(10), row] as never),
          'FX_TYPE_MISMATCH',
        );
      }
      for (const rows of [null, 'x', goodTyped(9), new Set([goodTyped(9)])]) {
        await rejectsUnchanged(typed, () => typed.insertMany(rows as never), 'FX_TYPE_MISMATCH');
      }
    });

    it('primary key values of the wrong type in get, update, delete', async () => {
      for (const key of [null, undefined, 'x', '1', 1.5, Number.NaN, true, {}, 2 ** 53]) {
        await expectCode(() => typed.get(key), 'FX_TYPE_MISMATCH');
        await rejectsUnchanged(typed, () => typed.update(key, { t: 'x' }), 'FX_TYPE_MISMATCH');
        await rejectsUnchanged(typed, () => typed.delete(key), 'FX_TYPE_MISMATCH');
      }
      for (const key of ['not-a-uuid', 5, null]) {
        await expectCode(() => people.get(key), 'FX_TYPE_MISMATCH');
        await rejectsUnchanged(people, () => people.delete(key), 'FX_TYPE_MISMATCH');
      }
      const error = await expectCode(() => people.get(SECRET), 'FX_TYPE_MISMATCH');
      noSecret(error);
    });

    it('a generated integer key never leaves the safe-integer range', async () => {
      await db.createTable('counter', {
        columns: { id: { type: 'integer', primaryKey: true }, v: { type: 'text' } },
      });
      const counter = db.table('counter');
      try {
        await counter.insert({ id: Number.MAX_SAFE_INTEGER, v: 'last' });
        const before = await everything(counter);
        for (let attempt = 0; attempt < 2; attempt++) {
          // max + 1 would be 2^53: not a safe integer, so not a value the column accepts as input.
          const outcome = await counter.insert({ v: 'next' }).then(
            (row) => row['id'],
            (e: unknown) => e,
          );
          expect(outcome, 'refused with a FortressError').toBeInstanceOf(FortressError);
          expect(await everything(counter)).toEqual(before);
        }
      } finally {
        await db.dropTable('counter');
      }
    });

    it('FX_ROW_NOT_FOUND on update of a missing row, at field and row level', async () => {
      await rejectsUnchanged(typed, () => typed.update(404, { t: 'x' }), 'FX_ROW_NOT_FOUND');
      await rejectsUnchanged(typed, () => typed.update(404, { et: 'x' }), 'FX_ROW_NOT_FOUND');
      const missing = '0190f5c2-8a4b-7c3d-9e2f-000000000000';
      await rejectsUnchanged(people, () => people.update(missing, { age: 3 }), 'FX_ROW_NOT_FOUND');
      await rejectsUnchanged(people, () => people.update(missing, { ssn: 'x' }), 'FX_ROW_NOT_FOUND');
      await rejectsUnchanged(keyed, () => keyed.update('k404', { v: 3 }), 'FX_ROW_NOT_FOUND');
      expect(await typed.delete(404)).toBe(false);
    });

    it('FX_DUPLICATE_KEY on a duplicate insert, the stored row untouched', async () => {
      await rejectsUnchanged(typed, () => typed.insert({ ...goodTyped(1), t: 'other' }), 'FX_DUPLICATE_KEY');
      await rejectsUnchanged(people, () => people.insert({ id: UUID_A, ssn: 'other' }), 'FX_DUPLICATE_KEY');
      await rejectsUnchanged(
        people,
        () => people.insert({ id: UUID_A.toUpperCase(), ssn: 'other' }),
        'FX_DUPLICATE_KEY',
      );
      await rejectsUnchanged(keyed, () => keyed.insert({ id: 'k1', v: 9 }), 'FX_DUPLICATE_KEY');
    });
  });

  describe('oversize values → FX_VALUE_TOO_LARGE', () => {
    const cases: [column: string, label: string, value: unknown][] = [
      ['t', 'text one byte over maxBytes', `${SECRET}${'x'.repeat(5)}`],
      [
        't',
        'text within maxBytes in characters but not in UTF-8 bytes',
        `${'é'.repeat(6)}${SECRET.slice(0, 5)}`,
      ],
      ['et', 'encrypted text over maxBytes', `${SECRET}-${SECRET}`],
      ['j', 'json whose text is over maxBytes', { secret: SECRET.repeat(6) }],
      ['by', 'bytes over maxBytes', new Uint8Array(9)],
      ['eby', 'encrypted bytes over maxBytes', Buffer.from(SECRET)],
      ['ej', 'json over the 1 MiB default', { s: `${SECRET}${'x'.repeat(1 << 20)}` }],
    ];
    for (const [column, label, value] of cases) {
      it(label, async () => {
        const insert = await rejectsUnchanged(
          typed,
          () => typed.insert({ ...goodTyped(9), [column]: value }),
          'FX_VALUE_TOO_LARGE',
        );
        expect(insert.message).toContain(column);
        noSecret(insert);
        noSecret(
          await rejectsUnchanged(typed, () => typed.update(3, { [column]: value }), 'FX_VALUE_TOO_LARGE'),
        );
        noSecret(
          await rejectsUnchanged(
            typed,
            () => typed.insertMany([goodTyped(10), { ...goodTyped(11), [column]: value }]),
            'FX_VALUE_TOO_LARGE',
          ),
        );
      });
    }

    it('a row-level encrypted column over its limit, and the 1 MiB default on text', async () => {
      noSecret(
        await rejectsUnchanged(
          people,
          () => people.update(UUID_A, { notes: SECRET.repeat(3) }),
          'FX_VALUE_TOO_LARGE',
        ),
      );
      noSecret(
        await rejectsUnchanged(
          people,
          () => people.insert({ ssn: `${SECRET}${'y'.repeat(1 << 20)}` }),
          'FX_VALUE_TOO_LARGE',
        ),
      );
      // A filter value over the limit is an invalid query.
      await expectCode(typed.find({ where: { t: 'x'.repeat(17) } }), 'FX_QUERY_INVALID');
    });

    it('exactly maxBytes fits (control)', async () => {
      await typed.insert({ ...goodTyped(21), t: 'é'.repeat(8), by: new Uint8Array(8), et: 'z'.repeat(16) });
      expect((await typed.get(21))?.['t']).toBe('é'.repeat(8));
      expect(await typed.delete(21)).toBe(true);
    });
  });

  describe('insertMany and transactions are atomic', () => {
    it('insertMany with one bad row inserts nothing', async () => {
      await rejectsUnchanged(
        typed,
        () => typed.insertMany([goodTyped(30), goodTyped(31), goodTyped(1)]),
        'FX_DUPLICATE_KEY',
      );
      await rejectsUnchanged(
        typed,
        () => typed.insertMany([goodTyped(30), goodTyped(30)]),
        'FX_DUPLICATE_KEY',
      );
      await rejectsUnchanged(
        typed,
        () => typed.insertMany([goodTyped(30), { ...goodTyped(31), i: 'x' }]),
        'FX_TYPE_MISMATCH',
      );
      await rejectsUnchanged(
        people,
        () => people.insertMany([{ ssn: 'new' }, { id: UUID_B, ssn: 'dup' }]),
        'FX_DUPLICATE_KEY',
      );
      await rejectsUnchanged(
        keyed,
        () => keyed.insertMany([{ id: 'k2', v: 1 }, { v: 2 }]),
        'FX_TYPE_MISMATCH',
      );
    });

    it('a transaction whose body throws leaves nothing behind and rethrows that error', async () => {
      const before = [await everything(typed), await everything(people), await everything(keyed)];
      const boom = new Error('boom');
      await expect(
        db.transaction(async (tx) => {
          await tx.table('typed').insert(goodTyped(40));
          await tx.table('typed').update(1, { t: 'changed', et: 'changed' });
          await tx.table('typed').delete(2);
          await tx.table('people').update(UUID_A, { ssn: 'changed' });
          await tx.table('people').insert({ ssn: 'x' });
          await tx.table('keyed').deleteMany({ where: { v: 1 } });
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect([await everything(typed), await everything(people), await everything(keyed)]).toEqual(before);
    });

    it('a user TypeError thrown in a transaction is not reported as a storage error', async () => {
      class Custom extends TypeError {}
      const custom = new Custom('mine');
      const error: unknown = await db
        .transaction(async (tx) => {
          await tx.table('keyed').insert({ id: 'k9', v: 9 });
          throw custom;
        })
        .catch((e: unknown) => e);
      expect(error).toBe(custom);
      expect(await keyed.get('k9')).toBeUndefined();
    });

    it('a failing operation inside a transaction rolls back the earlier writes', async () => {
      const before = await everything(typed);
      await expectCode(
        db.transaction(async (tx) => {
          await tx.table('typed').insert(goodTyped(41));
          await tx.table('typed').update(3, { t: 'changed' });
          await tx.table('typed').insert(goodTyped(1)); // duplicate
        }),
        'FX_DUPLICATE_KEY',
      );
      await expectCode(
        db.transaction(async (tx) => {
          await tx.table('typed').insert(goodTyped(41));
          await tx.table('typed').update(3, { i: 1.5 });
        }),
        'FX_TYPE_MISMATCH',
      );
      await expectCode(
        db.transaction(async (tx) => {
          await tx.table('typed').insert(goodTyped(41));
          await db.createTable('intx', { columns: { id: { type: 'integer', primaryKey: true } } });
        }),
        'FX_JOB_CONFLICT',
      );
      expect(await everything(typed)).toEqual(before);
      expect(db.listTables()).not.toContain('intx');
    });

    it("a transaction's table handle does not write once the transaction is over", async () => {
      let leaked: Table | undefined;
      await db.transaction((tx) => {
        leaked = tx.table('keyed');
        return Promise.resolve();
      });
      // Meanwhile another transaction holds the connection and then rolls back.
      const other = db.transaction(async (tx) => {
        await tx.table('keyed').insert({ id: 'other', v: 1 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw new Error('roll back');
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
      const outcome = await leaked!.insert({ id: 'leaked', v: 1 }).then(
        () => 'acknowledged',
        (e: unknown) => (e instanceof FortressError ? e.code : String(e)),
      );
      await other.catch(() => undefined);
      const stored = await keyed.get('leaked');
      // Either refused, or acknowledged and durable — never acknowledged and then silently lost.
      if (outcome === 'acknowledged') expect(stored).toEqual({ id: 'leaked', v: 1 });
      else expect(stored).toBeUndefined();
      await keyed.delete('leaked');
    });
  });

  // ── schemas ────────────────────────────────────────────────────────────────────────────────────

  describe('invalid schema definitions → FX_SCHEMA_INVALID', () => {
    const pk = { id: { type: 'integer', primaryKey: true } } as const;
    const tableCases: [label: string, name: unknown, definition: unknown][] = [
      ['no primary key', 't1', { columns: { a: { type: 'text' } } }],
      ['two primary keys', 't1', { columns: { ...pk, b: { type: 'text', primaryKey: true } } }],
      [
        'an encrypted primary key',
        't1',
        { columns: { id: { type: 'uuid', primaryKey: true, encrypt: true } } },
      ],
      [
        'a searchable primary key',
        't1',
        { columns: { id: { type: 'text', primaryKey: true, encrypt: { search: 'equality' } } } },
      ],
      ['a real primary key', 't1', { columns: { id: { type: 'real', primaryKey: true } } }],
      ['a json primary key', 't1', { columns: { id: { type: 'json', primaryKey: true } } }],
      ['table name starting with a digit', '1abc', { columns: pk }],
      ['table name with a dash', 'a-b', { columns: pk }],
      ['empty table name', '', { columns: pk }],
      ['64-character table name', 'a'.repeat(64), { columns: pk }],
      ['table name with a space', 'a b', { columns: pk }],
      ['table name with a quote', 'a"b', { columns: pk }],
      ['non-ASCII table name', 'tablé', { columns: pk }],
      ['table name starting with _', '_t', { columns: pk }],
      ['non-string table name', 42, { columns: pk }],
      ['column name starting with a digit', 't1', { columns: { ...pk, '1abc': { type: 'text' } } }],
      ['column name with a dash', 't1', { columns: { ...pk, 'a-b': { type: 'text' } } }],
      ['empty column name', 't1', { columns: { ...pk, '': { type: 'text' } } }],
      ['64-character column name', 't1', { columns: { ...pk, ['c'.repeat(64)]: { type: 'text' } } }],
      ['column name with a quote', 't1', { columns: { ...pk, 'a"b': { type: 'text' } } }],
      ['unknown type', 't1', { columns: { ...pk, a: { type: 'varchar' } } }],
      ['missing type', 't1', { columns: { ...pk, a: {} } }],
      ['unknown column option', 't1', { columns: { ...pk, a: { type: 'text', nullable: true } } }],
      ['unknown table option', 't1', { columns: pk, shards: 4 }],
      [
        'unknown encrypt option',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { search: 'equality', fuzzy: true } } } },
      ],
      ['search on json', 't1', { columns: { ...pk, a: { type: 'json', encrypt: { search: 'equality' } } } }],
      [
        'unknown search kind',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { search: 'range' } } } },
      ],
      ...[0, 49, 1.5, -1, '8', Number.NaN].map((bits): [string, string, unknown] => [
        `indexBits ${String(bits)}`,
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { search: 'equality', indexBits: bits } } } },
      ]),
      [
        'indexBits without search',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { indexBits: 8 } } } },
      ],
      [
        'normaliser on a non-text column',
        't1',
        {
          columns: {
            ...pk,
            a: { type: 'integer', encrypt: { search: 'equality', normalize: ['casefold'] } },
          },
        },
      ],
      [
        'unknown normaliser',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { search: 'equality', normalize: ['lower'] } } } },
      ],
      [
        'normalize not a list',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { search: 'equality', normalize: 'casefold' } } } },
      ],
      [
        'empty normalize list',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { search: 'equality', normalize: [] } } } },
      ],
      [
        'normalize without search',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { normalize: ['trim'] } } } },
      ],
      ['unknown table algorithm', 't1', { algorithm: 'rot13', columns: pk }],
      [
        'unknown column algorithm',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: { algorithm: 'des' } } } },
      ],
      [
        'a column algorithm other than the table one under row level',
        't1',
        { encryption: 'row', columns: { ...pk, a: { type: 'text', encrypt: { algorithm: 'aes-256-gcm' } } } },
      ],
      ['unknown encryption level', 't1', { encryption: 'column', columns: pk }],
      ['encryption level of the wrong type', 't1', { encryption: true, columns: pk }],
      [
        'columns differing only in case',
        't1',
        { columns: { ...pk, Email: { type: 'text' }, email: { type: 'text' } } },
      ],
      ['a column differing from the key only in case', 't1', { columns: { ...pk, ID: { type: 'text' } } }],
      ['no columns', 't1', { columns: {} }],
      ['columns not an object', 't1', { columns: [pk] }],
      ['columns missing', 't1', {}],
      ['definition not an object', 't1', 'id integer'],
      ['definition null', 't1', null],
      ['column definition not an object', 't1', { columns: { ...pk, a: 'text' } }],
      ...[0, -1, 1.5, '10', 2 ** 40].map((maxBytes): [string, string, unknown] => [
        `maxBytes ${String(maxBytes)}`,
        't1',
        { columns: { ...pk, a: { type: 'text', maxBytes } } },
      ]),
      ...[0, -1, 1.5, 'many'].map((expectedRows): [string, string, unknown] => [
        `expectedRows ${String(expectedRows)}`,
        't1',
        { expectedRows, columns: pk },
      ]),
      ['required not a boolean', 't1', { columns: { ...pk, a: { type: 'text', required: 'yes' } } }],
      ['primaryKey not a boolean', 't1', { columns: { id: { type: 'integer', primaryKey: 'true' } } }],
      [
        'index on an encrypted column',
        't1',
        { columns: { ...pk, a: { type: 'text', encrypt: true, index: true } } },
      ],
      ['encrypt not a boolean or object', 't1', { columns: { ...pk, a: { type: 'text', encrypt: 'yes' } } }],
      [
        'a plaintext column under table-level encryption',
        't1',
        { encryption: 'table', columns: { ...pk, a: { type: 'text', encrypt: false } } },
      ],
    ];

    let tablesBefore: string[];
    let keysBefore: number;
    let physicalBefore: string[];

    beforeAll(async () => {
      tablesBefore = db.listTables();
      keysBefore = db.keys.listKeys().length;
      physicalBefore = await physicalTables();
    });

    for (const [label, name, definition] of tableCases) {
      it(label, async () => {
        try {
          const error = await expectCode(
            () => db.createTable(name as string, definition as TableDefinition),
            'FX_SCHEMA_INVALID',
          );
          expect(error.message.length).toBeGreaterThan(0);
          expect(db.listTables()).toEqual(tablesBefore);
          expect(db.keys.listKeys().length).toBe(keysBefore);
        } finally {
          // If the definition was wrongly accepted, do not let it spoil the cases after it.
          for (const table of db.listTables()) if (!tablesBefore.includes(table)) await db.dropTable(table);
          keysBefore = db.keys.listKeys().length;
          physicalBefore = await physicalTables();
        }
      });
    }

    it('left no physical table behind', async () => {
      expect(await physicalTables()).toEqual(physicalBefore);
    });

    it('the boundaries are accepted (controls)', async () => {
      const name = 'b'.repeat(63);
      await db.createTable(name, {
        columns: {
          id: { type: 'text', primaryKey: true },
          ['c'.repeat(63)]: { type: 'text', encrypt: { search: 'equality', indexBits: 48 } },
          d: {
            type: 'text',
            encrypt: { search: 'equality', indexBits: 1, normalize: ['nfc', 'trim', 'casefold'] },
          },
        },
      });
      await db.dropTable(name);
    });

    it('createTable of an existing table → FX_TABLE_EXISTS', async () => {
      const schema = db.describeTable('typed');
      await expectCode(db.createTable('typed', { columns: pk }), 'FX_TABLE_EXISTS');
      await expectCode(db.createTable('TYPED', { columns: pk }), 'FX_TABLE_EXISTS');
      await expectCode(db.createTable('People', PEOPLE), 'FX_TABLE_EXISTS');
      expect(db.describeTable('typed')).toEqual(schema);
      expect(await typed.count()).toBe(3);
    });

    it('invalid column additions leave the schema and the rows as they were', async () => {
      const cases: [name: string, definition: unknown, code: ErrorCode][] = [
        ['added', { type: 'text', required: true }, 'FX_SCHEMA_INVALID'],
        ['added', { type: 'integer', primaryKey: true }, 'FX_SCHEMA_INVALID'],
        ['id', { type: 'text' }, 'FX_SCHEMA_INVALID'],
        ['Id', { type: 'text' }, 'FX_SCHEMA_INVALID'],
        ['1bad', { type: 'text' }, 'FX_SCHEMA_INVALID'],
        ['', { type: 'text' }, 'FX_SCHEMA_INVALID'],
        ['added', { type: 'varchar' }, 'FX_SCHEMA_INVALID'],
        ['added', { type: 'json', encrypt: { search: 'equality' } }, 'FX_SCHEMA_INVALID'],
        ['added', { type: 'text', encrypt: { search: 'equality', indexBits: 0 } }, 'FX_SCHEMA_INVALID'],
        ['added', { type: 'text', encrypt: { algorithm: 'nope' } }, 'FX_SCHEMA_INVALID'],
        ['added', 'text', 'FX_SCHEMA_INVALID'],
      ];
      for (const [table, existing] of [
        [typed, 't'],
        [people, 'ssn'],
      ] as const) {
        const schema = db.describeTable(table.name);
        for (const [name, definition, code] of [
          ...cases,
          [existing, { type: 'text' }, 'FX_SCHEMA_INVALID'] as const,
          [existing.toUpperCase(), { type: 'integer' }, 'FX_SCHEMA_INVALID'] as const,
        ]) {
          await rejectsUnchanged(table, () => db.addColumn(table.name, name, definition as never), code);
          expect(db.describeTable(table.name)).toEqual(schema);
        }
      }
      const schema = db.describeTable('people');
      await rejectsUnchanged(
        people,
        () => db.addColumn('people', 'added', { type: 'text', encrypt: { algorithm: 'aes-256-gcm' } }),
        'FX_SCHEMA_INVALID',
      );
      expect(db.describeTable('people')).toEqual(schema);
    });

    it('invalid column changes leave the schema and the rows as they were', async () => {
      const schema = db.describeTable('typed');
      await rejectsUnchanged(typed, () => db.dropColumn('typed', 'id'), 'FX_SCHEMA_INVALID');
      await rejectsUnchanged(typed, () => db.encryptColumn('typed', 'id'), 'FX_SCHEMA_INVALID');
      await rejectsUnchanged(typed, () => db.encryptColumn('typed', 'et'), 'FX_SCHEMA_INVALID');
      await rejectsUnchanged(
        typed,
        () => db.encryptColumn('typed', 'j', { search: 'equality' }),
        'FX_SCHEMA_INVALID',
      );
      await rejectsUnchanged(
        typed,
        () => db.encryptColumn('typed', 't', { search: 'equality', indexBits: 99 }),
        'FX_SCHEMA_INVALID',
      );
      await rejectsUnchanged(
        typed,
        () => db.changeAlgorithm('typed', 'et', 'rot13' as never),
        'FX_SCHEMA_INVALID',
      );
      await rejectsUnchanged(
        typed,
        () => db.changeAlgorithm('typed', 't', 'aes-256-gcm'),
        'FX_SCHEMA_INVALID',
      );
      await rejectsUnchanged(
        typed,
        () => db.changeAlgorithm('typed', null, 'aes-256-gcm'),
        'FX_SCHEMA_INVALID',
      );
      await rejectsUnchanged(
        people,
        () => db.changeAlgorithm('people', 'ssn', 'aes-256-gcm'),
        'FX_SCHEMA_INVALID',
      );
      await rejectsUnchanged(typed, () => db.rotateIndexKey('typed', 'et'), 'FX_SCHEMA_INVALID');
      await rejectsUnchanged(typed, () => db.rotateIndexKey('typed', 't'), 'FX_SCHEMA_INVALID');
      expect(db.describeTable('typed')).toEqual(schema);
    });

    describe('bad job options are refused before anything changes', () => {
      const badOptions = [{ batchSize: 0 }, { batchSize: 1.5 }, { rowsPerSecond: -1 }];
      const operations: [label: string, run: (table: string, options: object) => Promise<unknown>][] = [
        ['encryptColumn', (table, options) => db.encryptColumn(table, 'plain', true, options)],
        ['changeAlgorithm', (table, options) => db.changeAlgorithm(table, 'secret', 'aes-256-gcm', options)],
        ['rotateIndexKey', (table, options) => db.rotateIndexKey(table, 'secret', options)],
        ['rotateKeys', (table, options) => db.rotateKeys(table, options)],
        ['reencrypt', (table, options) => db.reencrypt(table, options)],
        ['dropColumn (row level)', (table, options) => db.dropColumn(table, 'secret', options)],
      ];
      for (const [label, run] of operations) {
        it(label, async () => {
          const name = `jobs_${label.replace(/\W.*$/, '')}`;
          await db.createTable(name, {
            encryption: label.startsWith('dropColumn') ? 'row' : 'field',
            columns: {
              id: { type: 'integer', primaryKey: true },
              plain: { type: 'text' },
              secret: { type: 'text', encrypt: { search: 'equality' } },
            },
          });
          const table = db.table(name);
          const rows = [
            { id: 1, plain: 'a', secret: 's1' },
            { id: 2, plain: 'b', secret: 's2' },
          ];
          await table.insertMany(rows);
          const versions = (): [string, number][] =>
            db.keys.listKeys().map((k): [string, number] => [k.name, k.activeVersion]);
          for (const options of badOptions) {
            const schema = db.describeTable(name);
            const keys = versions();
            await rejectsUnchanged(table, () => run(name, options), 'FX_INVALID_ARGUMENT');
            expect(db.describeTable(name), JSON.stringify(options)).toEqual(schema);
            expect(versions(), JSON.stringify(options)).toEqual(keys);
          }
          expect(await table.find({ orderBy: { id: 'asc' } })).toEqual(rows);
          expect(await table.find({ where: { secret: 's2' } })).toEqual([rows[1]]);
          // Valid options afterwards: the table takes the change.
          const job = await run(name, {});
          if (job !== null) await (job as { done: Promise<unknown> }).done;
          await db.dropTable(name);
        });
      }
    });
  });

  // ── queries ────────────────────────────────────────────────────────────────────────────────────

  describe('invalid queries → FX_QUERY_INVALID', () => {
    const nested = (depth: number): AnyRow => {
      let where: AnyRow = { i: 1 };
      for (let d = 0; d < depth; d++) where = d % 2 === 0 ? { not: where } : { and: [where] };
      return where;
    };
    const cases: [label: string, options: unknown][] = [
      ['unknown operator', { where: { i: { like: 1 } } }],
      ['unknown operator on a searchable column', { where: { ei: { contains: 1 } } }],
      ['operator of another case', { where: { i: { EQ: 1 } } }],
      ['condition with no operator', { where: { i: {} } }],
      ['in with a non-array', { where: { i: { in: 5 } } }],
      ['in with a string', { where: { t: { in: 'abc' } } }],
      ['notIn with a non-array', { where: { i: { notIn: { a: 1 } } } }],
      ['in with a null', { where: { i: { in: [1, null] } } }],
      ['in on a searchable column with a null', { where: { ei: { in: [null] } } }],
      ['too many in values', { where: { i: { in: Array.from({ length: 10_001 }, (_, n) => n) } } }],
      ['isNull not a boolean', { where: { i: { isNull: 'yes' } } }],
      ['gt null', { where: { i: { gt: null } } }],
      ['ne null', { where: { i: { ne: null } } }],
      ['and not an array', { where: { and: { i: 1 } } }],
      ['or not an array', { where: { or: 'x' } }],
      ['not of a non-object', { where: { not: 5 } }],
      ['and of non-objects', { where: { and: [1, 2] } }],
      ['where a string', { where: 'i = 1' }],
      ['where an array', { where: [{ i: 1 }] }],
      ['where a number', { where: 5 }],
      ['where null', { where: null }],
      ['where a Date', { where: new Date() }],
      ['nesting deeper than 32 levels', { where: nested(40) }],
      ['a very deep nesting', { where: nested(5000) }],
      // Deeper than any thread's stack: refused, never a RangeError from a walk of the input.
      ['a nesting deeper than the stack', { where: nested(200_000) }],
      ['limit 0', { limit: 0 }],
      ['limit -1', { limit: -1 }],
      ['limit 1.5', { limit: 1.5 }],
      ["limit 'x'", { limit: 'x' }],
      ['limit NaN', { limit: Number.NaN }],
      ['limit Infinity', { limit: Number.POSITIVE_INFINITY }],
      ['limit as a string number', { limit: '5' }],
      ['orderBy direction', { orderBy: { i: 'up' } }],
      ['orderBy direction case', { orderBy: { i: 'ASC' } }],
      ['orderBy a string', { orderBy: 'i' }],
      ['orderBy list of strings', { orderBy: ['i'] }],
      ['unknown find option', { wher: { i: 1 } }],
      ['scan not a boolean', { scan: 'yes' }],
      ['select empty', { select: [] }],
      ['select a string', { select: 't' }],
      ['select a number in the list', { select: ['t', 5] }],
      ['options not an object', 'all'],
      ['options null', null],
      ['after a garbage string', { orderBy: { i: 'asc' }, after: 'garbage!!' }],
      ['after an empty string', { orderBy: { i: 'asc' }, after: '' }],
      ['after a number', { orderBy: { i: 'asc' }, after: 42 }],
      [
        'after base64 of non-JSON',
        { orderBy: { i: 'asc' }, after: Buffer.from('not json').toString('base64url') },
      ],
      ['after base64 of {}', { orderBy: { i: 'asc' }, after: Buffer.from('{}').toString('base64url') }],
      [
        'after with too few values',
        {
          orderBy: { i: 'asc' },
          after: Buffer.from(JSON.stringify({ o: 'i:a', v: [1] })).toString('base64url'),
        },
      ],
      [
        'after with an object value',
        {
          orderBy: { i: 'asc' },
          after: Buffer.from(JSON.stringify({ o: 'i:a', v: [{ x: 1 }, 1] })).toString('base64url'),
        },
      ],
      [
        'after with an integer beyond 64 bits',
        {
          orderBy: { i: 'asc' },
          after: Buffer.from(JSON.stringify({ o: 'i:a', v: [{ i: '99999999999999999999' }, 1] })).toString(
            'base64url',
          ),
        },
      ],
      ['after a huge string', { orderBy: { i: 'asc' }, after: 'A'.repeat(70_000) }],
      ['after with a scan sort', { orderBy: { et: 'asc' }, scan: true, after: 'x' }],
    ];

    for (const [label, options] of cases) {
      it(label, async () => {
        await expectCode(typed.find(options as never), 'FX_QUERY_INVALID');
        if (isWhereCase(options)) {
          await expectCode(typed.count(options as never), 'FX_QUERY_INVALID');
          await rejectsUnchanged(typed, () => typed.deleteMany(options as never), 'FX_QUERY_INVALID');
        }
      });
    }

    function isWhereCase(options: unknown): boolean {
      return typeof options === 'object' && options !== null && Object.keys(options).join() === 'where';
    }

    it('a cursor from a different orderBy (or another page size is fine)', async () => {
      const first = await typed.page({ orderBy: { i: 'asc' }, limit: 1 });
      expect(first.next).not.toBeNull();
      const after = first.next!;
      await expectCode(typed.page({ orderBy: { i: 'desc' }, limit: 1, after }), 'FX_QUERY_INVALID');
      await expectCode(typed.page({ orderBy: { r: 'asc' }, limit: 1, after }), 'FX_QUERY_INVALID');
      await expectCode(
        typed.page({ orderBy: [{ i: 'asc' }, { r: 'asc' }], limit: 1, after }),
        'FX_QUERY_INVALID',
      );
      await expectCode(typed.page({ limit: 1, after }), 'FX_QUERY_INVALID');
      await expectCode(typed.find({ orderBy: { t: 'asc' }, after }), 'FX_QUERY_INVALID');
      // Same order, other limit: fine.
      expect((await typed.page({ orderBy: { i: 'asc' }, limit: 5, after })).rows.map((r) => r['id'])).toEqual(
        [2, 3],
      );
    });

    it('page() and iterate() validate like find()', async () => {
      await expectCode(typed.page({ orderBy: { et: 'asc' }, scan: true }), 'FX_QUERY_INVALID');
      await expectCode(typed.page({ limit: 0 }), 'FX_QUERY_INVALID');
      await expectCode(async () => {
        for await (const row of typed.iterate({ where: { i: { like: 1 } } })) expect(row).toBeUndefined();
      }, 'FX_QUERY_INVALID');
      await expectCode(typed.findOne({ where: 5 } as never), 'FX_QUERY_INVALID');
      await rejectsUnchanged(typed, () => typed.deleteMany(undefined as never), 'FX_QUERY_INVALID');
      await rejectsUnchanged(typed, () => typed.deleteMany({}), 'FX_QUERY_INVALID');
      await expectCode(() => typed.get(1, { select: [] }), 'FX_QUERY_INVALID');
      await expectCode(() => typed.get(1, { select: 'i' } as never), 'FX_QUERY_INVALID');
    });

    it('count() validates its options (a misspelt where must not count every row)', async () => {
      await expectCode(() => typed.count({ wher: { i: 10 } } as never), 'FX_QUERY_INVALID');
      await expectCode(() => typed.count('x' as never), 'FX_QUERY_INVALID');
      await expectCode(() => typed.count({ where: { i: 10 }, limit: 1 } as never), 'FX_QUERY_INVALID');
    });

    it('deleteMany() refuses options it does not apply (a limit would be ignored)', async () => {
      await db.createTable('limited', {
        columns: { id: { type: 'integer', primaryKey: true }, v: { type: 'integer' } },
      });
      const limited = db.table('limited');
      try {
        await limited.insertMany([
          { id: 1, v: 1 },
          { id: 2, v: 1 },
          { id: 3, v: 1 },
        ]);
        // Meant as "delete one of them"; it must not delete all three.
        await rejectsUnchanged(
          limited,
          () => limited.deleteMany({ where: { v: 1 }, limit: 1 } as never),
          'FX_QUERY_INVALID',
        );
      } finally {
        await db.dropTable('limited');
      }
    });

    it('get() refuses unknown options', async () => {
      await expectCode(() => typed.get(1, { selct: ['t'] } as never), 'FX_QUERY_INVALID');
    });

    // Validation admits 10 000 `in` values (and any number of `or` branches); whatever SQL they
    // become must either run or be refused as an invalid query, never fail inside storage.
    const values = Array.from({ length: 5_000 }, (_, n) => n + 1000);
    for (const [label, where] of [
      ['5 000 in values on a searchable encrypted column', { ei: { in: values } }],
      ['5 000 in values on a plaintext column', { t: { in: values.map(String) } }],
      ['or of 5 000 plaintext equalities', { or: values.map((v) => ({ i: v })) }],
      ['or of 1 000 plaintext equalities', { or: values.slice(0, 1000).map((v) => ({ i: v })) }],
    ] as const) {
      it(label, async () => {
        const outcome = await typed.count({ where }).then(
          (n) => n,
          (e: unknown) => (e instanceof FortressError ? e.code : String(e)),
        );
        expect([0, 'FX_QUERY_INVALID']).toContain(outcome);
      });
    }
  });

  describe('unsupported queries → FX_QUERY_UNSUPPORTED naming the column', () => {
    const cases: [label: string, column: string, options: AnyRow][] = [
      ['gt on a searchable column', 'email', { where: { email: { gt: 'a' } } }],
      ['lte on a searchable column', 'email', { where: { email: { lte: 'a' } } }],
      ['ne on a searchable column', 'email', { where: { email: { ne: 'a' } } }],
      ['notIn on a searchable column', 'email', { where: { email: { notIn: ['a'] } } }],
      ['isNull false on a searchable column', 'email', { where: { email: { isNull: false } } }],
      ['ne inside or/not', 'email', { where: { or: [{ age: 1 }, { not: { email: { ne: 'a' } } }] } }],
      ['eq on a non-searchable encrypted column', 'ssn', { where: { ssn: '123' } }],
      ['isNull on a non-searchable encrypted column', 'ssn', { where: { ssn: { isNull: true } } }],
      ['in on a non-searchable encrypted column', 'ssn', { where: { ssn: { in: ['123'] } } }],
      ['gt on a non-searchable encrypted column', 'notes', { where: { notes: { gt: 'a' } } }],
      ['a filter on json', 'data', { where: { data: { eq: 1 } } }],
      ['json equality shorthand', 'data', { where: { data: 'x' } }],
      ['orderBy an encrypted column', 'ssn', { orderBy: { ssn: 'asc' } }],
      ['orderBy a searchable column', 'email', { orderBy: [{ age: 'asc' }, { email: 'desc' }] }],
      ['orderBy json, even with scan', 'data', { orderBy: { data: 'asc' }, scan: true }],
    ];
    for (const [label, column, options] of cases) {
      it(label, async () => {
        const error = await expectCode(people.find(options), 'FX_QUERY_UNSUPPORTED');
        expect(error.message).toContain(column);
        if ('where' in options) {
          await expectCode(people.count(options), 'FX_QUERY_UNSUPPORTED');
          await rejectsUnchanged(people, () => people.deleteMany(options), 'FX_QUERY_UNSUPPORTED');
          if (column !== 'data') expect(error.message).toMatch(/scan/);
        }
        if ('orderBy' in options) {
          await expectCode(people.page({ ...options, limit: 1 }), 'FX_QUERY_UNSUPPORTED');
        }
      });
    }

    it('with scan: true the same filters are answered', async () => {
      expect(
        (await people.find({ where: { email: { ne: 'ANN@x.io' } }, scan: true })).map((r) => r['id']),
      ).toEqual([UUID_B]);
      expect(await people.count({ where: { ssn: '123' }, scan: true })).toBe(1);
      expect(
        (await people.find({ orderBy: { ssn: 'desc' }, scan: true, select: ['ssn'] })).map((r) => r['ssn']),
      ).toEqual(['456', '123']);
    });
  });

  describe('messages never contain the rejected value', () => {
    it('type, size, key and query errors', async () => {
      const errors: FortressError[] = [
        await expectCode(typed.insert({ ...goodTyped(9), i: SECRET }), 'FX_TYPE_MISMATCH'),
        await expectCode(typed.insert({ ...goodTyped(9), et: SECRET.repeat(2) }), 'FX_VALUE_TOO_LARGE'),
        await expectCode(typed.insert({ ...goodTyped(9), u: SECRET }), 'FX_TYPE_MISMATCH'),
        await expectCode(typed.insert({ ...goodTyped(9), ts: `2024-01-01T${SECRET}` }), 'FX_TYPE_MISMATCH'),
        await expectCode(people.insert({ ssn: `${SECRET}\uD800` }), 'FX_TYPE_MISMATCH'),
        await expectCode(people.update(UUID_A, { age: SECRET }), 'FX_TYPE_MISMATCH'),
        await expectCode(keyed.insert({ id: 'k1', v: 1 }), 'FX_DUPLICATE_KEY'),
        await expectCode(typed.find({ where: { i: SECRET } }), 'FX_QUERY_INVALID'),
        await expectCode(people.find({ where: { email: { in: [SECRET, 5] } } }), 'FX_QUERY_INVALID'),
        await expectCode(people.find({ where: { email: { gt: SECRET } } }), 'FX_QUERY_UNSUPPORTED'),
        await expectCode(people.find({ where: { ssn: SECRET } }), 'FX_QUERY_UNSUPPORTED'),
        await expectCode(typed.find({ orderBy: { i: 'asc' }, after: SECRET }), 'FX_QUERY_INVALID'),
        await expectCode(people.get(SECRET), 'FX_TYPE_MISMATCH'),
        await expectCode(keyed.update(SECRET, { v: 1 }), 'FX_ROW_NOT_FOUND'),
      ];
      for (const error of errors) noSecret(error, 'k1');
    });
  });

  // ── lifecycle ──────────────────────────────────────────────────────────────────────────────────

  describe('sealed and closed databases', () => {
    it('after seal(): FX_SEALED everywhere data or keys are needed; unseal and reopen find the data intact', async () => {
      const sealDir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bad-input-seal-'));
      try {
        let s = await Fortress.open({ path: sealDir, onWarning: quiet });
        await s.createTable('t', PEOPLE);
        await s.createTable('plain', {
          columns: { id: { type: 'integer', primaryKey: true }, v: { type: 'text' } },
        });
        const rows = [
          { id: UUID_A, email: 'a@x.io', ssn: '1', notes: null, age: 1, data: [1] },
          { id: UUID_B, email: 'b@x.io', ssn: '2', notes: 'n', age: null, data: null },
        ];
        await s.table('t').insertMany(rows);
        await s.table('plain').insert({ id: 1, v: 'x' });
        const before = await s.table('t').find({ orderBy: { id: 'asc' } });
        const t = s.table('t');
        const plain = s.table('plain');
        s.seal();
        expect(s.state).toBe('sealed');
        for (const table of [t, plain]) {
          await expectCode(table.find(), 'FX_SEALED');
          await expectCode(table.get(table === t ? UUID_A : 1), 'FX_SEALED');
          await expectCode(table.count(), 'FX_SEALED');
          await expectCode(table.page({ orderBy: { id: 'asc' } }), 'FX_SEALED');
          await expectCode(table.insert(table === t ? { ssn: '3' } : { id: 2 }), 'FX_SEALED');
          await expectCode(table.delete(table === t ? UUID_A : 1), 'FX_SEALED');
          await expectCode(table.deleteMany({ where: { id: table === t ? UUID_A : 1 } }), 'FX_SEALED');
        }
        await expectCode(s.table('t').update(UUID_A, { ssn: 'y' }), 'FX_SEALED');
        await expectCode(s.table('plain').update(1, { v: 'y' }), 'FX_SEALED');
        await expectCode(
          s.createTable('new', { columns: { id: { type: 'integer', primaryKey: true } } }),
          'FX_SEALED',
        );
        await expectCode(s.addColumn('t', 'extra', { type: 'text', encrypt: true }), 'FX_SEALED');
        await expectCode(s.encryptColumn('t', 'age'), 'FX_SEALED');
        await expectCode(s.rotateKeys('t'), 'FX_SEALED');
        await expectCode(
          s.transaction(async (tx) => {
            await tx.table('t').insert({ ssn: '4' });
          }),
          'FX_SEALED',
        );
        expect(s.listTables()).toEqual(['plain', 't']);
        expect(s.describeTable('t').columns.map((c) => c.name)).toEqual(Object.keys(PEOPLE.columns));
        // Unsealing in process brings everything back.
        await s.unseal(new DevKeyFileSealProvider({ path: path.join(sealDir, 'dev-unseal.key') }));
        expect(await s.table('t').find({ orderBy: { id: 'asc' } })).toEqual(before);
        // Seal again, close, reopen: still intact.
        s.seal();
        await s.close();
        s = await Fortress.open({ path: sealDir, onWarning: quiet });
        expect(await s.table('t').find({ orderBy: { id: 'asc' } })).toEqual(before);
        expect(await s.table('t').find({ where: { email: 'A@X.IO' } })).toEqual([before[0]]);
        expect(await s.table('plain').get(1)).toEqual({ id: 1, v: 'x' });
        expect(s.describeTable('t').columns.map((c) => c.name)).toEqual(Object.keys(PEOPLE.columns));
        await s.close();
      } finally {
        await rm(sealDir, { recursive: true, force: true });
      }
    });

    it('after close(): FX_CLOSED everywhere; close is idempotent; reopening finds the data', async () => {
      const closeDir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bad-input-close-'));
      try {
        const c = await Fortress.open({ path: closeDir, onWarning: quiet });
        await c.createTable('t', PEOPLE);
        const t = c.table('t');
        await t.insert({ id: UUID_A, ssn: '1', age: 5 });
        await c.close();
        await c.close();
        await expectCode(t.find(), 'FX_CLOSED');
        await expectCode(t.get(UUID_A), 'FX_CLOSED');
        await expectCode(t.insert({ ssn: '2' }), 'FX_CLOSED');
        await expectCode(t.update(UUID_A, { ssn: '2' }), 'FX_CLOSED');
        await expectCode(t.delete(UUID_A), 'FX_CLOSED');
        await expectCode(t.count(), 'FX_CLOSED');
        await expectCode(t.page({ orderBy: { age: 'asc' } }), 'FX_CLOSED');
        await expectCode(t.deleteMany({ where: { age: 5 } }), 'FX_CLOSED');
        await expectCode(() => c.table('t'), 'FX_CLOSED');
        await expectCode(() => c.listTables(), 'FX_CLOSED');
        await expectCode(() => c.describeTable('t'), 'FX_CLOSED');
        await expectCode(
          () => c.createTable('u', { columns: { id: { type: 'integer', primaryKey: true } } }),
          'FX_CLOSED',
        );
        await expectCode(() => c.dropTable('t'), 'FX_CLOSED');
        await expectCode(() => c.addColumn('t', 'x', { type: 'text' }), 'FX_CLOSED');
        await expectCode(() => c.rotateKeys('t'), 'FX_CLOSED');
        await expectCode(() => c.transaction(() => Promise.resolve()), 'FX_CLOSED');
        await expectCode(
          () => c.unseal(new DevKeyFileSealProvider({ path: path.join(closeDir, 'dev-unseal.key') })),
          'FX_CLOSED',
        );
        const again = await Fortress.open({ path: closeDir, onWarning: quiet });
        expect(await again.table('t').find()).toEqual([
          { id: UUID_A, email: null, ssn: '1', notes: null, age: 5, data: null },
        ]);
        await again.close();
      } finally {
        await rm(closeDir, { recursive: true, force: true });
      }
    });
  });

  describe('Fortress.open with bad options → FX_INVALID_ARGUMENT', () => {
    const fresh = (): string =>
      path.join(os.tmpdir(), `fortress-bad-open-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const cases: [label: string, options: (dir: string) => unknown][] = [
      ['no options', () => undefined],
      ['null options', () => null],
      ['options a string', (d) => d],
      ['options an array', (d) => [d]],
      ['empty path', () => ({ path: '' })],
      ['path a number', () => ({ path: 42 })],
      ['path missing', () => ({})],
      ['path a Buffer', (d) => ({ path: Buffer.from(d) })],
      ['pageEncryption a string', (d) => ({ path: d, pageEncryption: 'yes' })],
      ['pageEncryption a number', (d) => ({ path: d, pageEncryption: 1 })],
      ['empty tenant', (d) => ({ path: d, tenant: '' })],
      ['tenant with a space', (d) => ({ path: d, tenant: 'a b' })],
      ['tenant with a slash', (d) => ({ path: d, tenant: 'a/b' })],
      ['tenant of 65 characters', (d) => ({ path: d, tenant: 't'.repeat(65) })],
      ['tenant a number', (d) => ({ path: d, tenant: 42 })],
      ['database with a slash', (d) => ({ path: d, database: '../main' })],
      ['empty database', (d) => ({ path: d, database: '' })],
      ['synchronous unknown', (d) => ({ path: d, synchronous: 'sometimes' })],
      ['audit.groupCommit unknown', (d) => ({ path: d, audit: { groupCommit: 'later' } })],
      ['audit with an unknown option', (d) => ({ path: d, audit: { batch: true } })],
      ['storage kind unknown', (d) => ({ path: d, storage: { kind: 'mysql' } })],
      ['storage postgres without a URL', (d) => ({ path: d, storage: { kind: 'postgres' } })],
      ['storage URL not postgres://', (d) => ({ path: d, storage: { kind: 'postgres', url: 'http://x' } })],
      ['storage with an unknown option', (d) => ({ path: d, storage: { kind: 'sqlite', file: 'x' } })],
      [
        'page encryption with PostgreSQL',
        (d) => ({ path: d, pageEncryption: true, storage: { kind: 'postgres', url: 'postgres://h/db' } }),
      ],
    ];
    for (const [label, options] of cases) {
      it(label, async () => {
        const d = fresh();
        try {
          await expectCode(() => Fortress.open(options(d) as never), 'FX_INVALID_ARGUMENT');
          // A refused open creates nothing.
          expect(existsSync(d)).toBe(false);
        } finally {
          await rm(d, { recursive: true, force: true });
        }
      });
    }

    it('pageEncryption cannot change on reopen, and the refused open changes nothing', async () => {
      const plainDir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bad-open-'));
      const pagedDir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bad-open-'));
      try {
        for (const [d, pageEncryption] of [
          [plainDir, false],
          [pagedDir, true],
        ] as const) {
          const first = await Fortress.open({ path: d, pageEncryption, onWarning: quiet });
          await first.createTable('t', {
            columns: { id: { type: 'integer', primaryKey: true }, s: { type: 'text', encrypt: true } },
          });
          await first.table('t').insert({ id: 1, s: 'kept' });
          await first.close();
          await expectCode(
            Fortress.open({ path: d, pageEncryption: !pageEncryption, onWarning: quiet }),
            'FX_INVALID_ARGUMENT',
          );
          const again = await Fortress.open({ path: d, pageEncryption, onWarning: quiet });
          expect(await again.table('t').find()).toEqual([{ id: 1, s: 'kept' }]);
          await again.close();
          const implicit = await Fortress.open({ path: d, onWarning: quiet });
          expect(await implicit.table('t').get(1)).toEqual({ id: 1, s: 'kept' });
          await implicit.close();
        }
      } finally {
        await rm(plainDir, { recursive: true, force: true });
        await rm(pagedDir, { recursive: true, force: true });
      }
    });
  });
});
