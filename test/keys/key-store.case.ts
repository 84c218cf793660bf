/**
 * The KeyStore conformance suite, shared by every implementation (memory-key-store.test.ts,
 * file-key-store.test.ts, and later the storage engine's tables).
 *
 * The keys layer trusts its store for exactly four things, and this suite checks each of them:
 * records come back as they were written (meta blobs, key records, version records, ascending and
 * paged); nothing malformed gets in (`FX_KEYSTORE_CORRUPT` for bad records, unique key names);
 * callers can never change stored state through the objects they pass in or get back (copies);
 * and crypto-shredding leaves only a tombstone. It also checks that a key with 10,000 versions is
 * read without scanning them all, and that a closed store refuses work.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyRecord, KeyStore, KeyVersionRecord } from '../../src/keys/store/key-store.js';
import { FortressError } from '../../src/util/errors.js';
import { expectCode } from '../helpers/expect-code.js';

export interface KeyStoreFixture {
  readonly store: KeyStore;
  readonly cleanup: () => Promise<void>;
}

/** Mutable view of a record, to try to tamper with what a store handed out. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const ALGORITHMS = ['xchacha20-poly1305', 'aes-256-gcm'] as const;
const BASE_TIME = Date.parse('2025-03-14T09:26:53.589Z');
const DAY_MS = 24 * 60 * 60 * 1000;

const iso = (offsetMs: number): string => new Date(BASE_TIME + offsetMs).toISOString();

/** Random bytes the size of a wrapped 32-byte key (an envelope: header, nonce, key, tag). */
export function wrappedBytes(length = 90): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

/** A realistic key record (a column data key under KEK 1), with `overrides` applied. */
export function keyRecord(id: number, overrides: Partial<Mutable<KeyRecord>> = {}): KeyRecord {
  return {
    id,
    name: `tenant/acme/db/main/table/people/column/c${id}`,
    purpose: 'data',
    algorithm: ALGORITHMS[id % 2]!,
    parentId: 1,
    activeVersion: 1,
    latestVersion: 1,
    minDecryptionVersion: 1,
    rotationPeriodMs: 90 * DAY_MS,
    createdAt: iso((id % 100_000) * 1000),
    rotatedAt: iso((id % 100_000) * 1000),
    ...overrides,
  };
}

/** A realistic version record holding random wrapped bytes, with `overrides` applied. */
export function versionRecord(
  keyId: number,
  version: number,
  overrides: Partial<Mutable<KeyVersionRecord>> = {},
): KeyVersionRecord {
  return {
    keyId,
    version,
    state: 'active',
    createdAt: iso((version % 3650) * DAY_MS),
    encryptions: version * 17,
    wrapped: wrappedBytes(),
    ...overrides,
  };
}

/** Checks that `fn` reports its failure as a rejected promise, not a synchronous throw. */
async function expectAsyncRejection(label: string, fn: () => Promise<unknown>): Promise<void> {
  let promise: Promise<unknown>;
  try {
    promise = fn();
  } catch (error) {
    return expect.fail(
      `${label} threw synchronously (${error instanceof Error ? error.message : String(error)}) ` +
        'instead of returning a rejected promise',
    );
  }
  expect(promise, label).toBeInstanceOf(Promise);
  await expect(promise, label).rejects.toBeInstanceOf(FortressError);
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

export function runKeyStoreConformance(name: string, make: () => Promise<KeyStoreFixture>): void {
  describe(`KeyStore conformance: ${name}`, () => {
    let store: KeyStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await make());
    });

    afterEach(async () => {
      await cleanup();
    });

    it('has a non-empty description', () => {
      expect(typeof store.description).toBe('string');
      expect(store.description.length).toBeGreaterThan(0);
    });

    describe('metadata blobs', () => {
      it('round-trips put, get, overwrite and delete', async () => {
        expect(await store.getMeta('seal')).toBeUndefined();
        const config = bytes(JSON.stringify({ kind: 'shamir', format: 1, wrappedRoot: 'AAEC' }));
        await store.putMeta('seal', config);
        expect(await store.getMeta('seal')).toEqual(config);

        const next = bytes('{"kind":"passphrase"}');
        await store.putMeta('seal', next);
        expect(await store.getMeta('seal')).toEqual(next);

        await store.putMeta('seal.previous', config);
        await store.deleteMeta('seal');
        expect(await store.getMeta('seal')).toBeUndefined();
        expect(await store.getMeta('seal.previous')).toEqual(config);
        // Deleting what is not there is not an error.
        await store.deleteMeta('seal');
        await store.deleteMeta('never-written');
      });

      it('stores empty and large values byte for byte', async () => {
        await store.putMeta('empty', new Uint8Array(0));
        expect(await store.getMeta('empty')).toEqual(new Uint8Array(0));
        const large = new Uint8Array(randomBytes(64 * 1024));
        await store.putMeta('large', large);
        expect(await store.getMeta('large')).toEqual(large);
      });

      it('accepts names at the edges of the allowed set', async () => {
        for (const metaName of ['a', '0', 'x'.repeat(64), 'seal.v1_previous-2', '9.._--']) {
          const value = bytes(metaName);
          await store.putMeta(metaName, value);
          expect(await store.getMeta(metaName)).toEqual(value);
        }
      });

      it('returns copies and keeps copies: mutating either side does not change the store', async () => {
        const original = new Uint8Array(randomBytes(48));
        const input = new Uint8Array(original);
        await store.putMeta('seal', input);
        input.fill(0xee);
        expect(await store.getMeta('seal')).toEqual(original);

        const got = (await store.getMeta('seal'))!;
        got.fill(0);
        expect(await store.getMeta('seal')).toEqual(original);
      });

      it('rejects bad names with FX_INVALID_ARGUMENT for get, put and delete', async () => {
        const bad: unknown[] = [
          '',
          'Seal',
          '.seal',
          '-seal',
          '_seal',
          '../seal',
          'meta/seal',
          'seal\\x',
          'seal config',
          'seal\0',
          'x'.repeat(65),
          'sceau-é',
          42,
          null,
          undefined,
        ];
        for (const metaName of bad) {
          const n = metaName as string;
          await expectCode(() => store.getMeta(n), 'FX_INVALID_ARGUMENT');
          await expectCode(() => store.putMeta(n, bytes('x')), 'FX_INVALID_ARGUMENT');
          await expectCode(() => store.deleteMeta(n), 'FX_INVALID_ARGUMENT');
        }
      });
    });

    describe('key records', () => {
      it('starts empty', async () => {
        expect(await store.listKeys()).toEqual([]);
        expect(await store.getKey(1)).toBeUndefined();
      });

      it('round-trips putKey and getKey for every purpose and both parent kinds', async () => {
        const records = [
          keyRecord(1, { name: 'root/kek/main', purpose: 'kek', parentId: null, rotationPeriodMs: null }),
          keyRecord(2, { purpose: 'data' }),
          keyRecord(3, { purpose: 'index', algorithm: 'aes-256-gcm' }),
          keyRecord(4, {
            purpose: 'transit',
            activeVersion: 7,
            latestVersion: 9,
            minDecryptionVersion: 10,
            rotatedAt: iso(30 * DAY_MS),
          }),
          keyRecord(0xffff_ffff, { name: 'A.b_c:d/e-f' }),
          keyRecord(0, { name: 'k'.repeat(256) }),
        ];
        for (const record of records) await store.putKey(record);
        for (const record of records) expect(await store.getKey(record.id)).toEqual(record);
        expect(await store.getKey(5)).toBeUndefined();
      });

      it('lists keys sorted by numeric id', async () => {
        const ids = [42, 7, 1000, 3, 0xffff_ffff, 100, 9, 10];
        for (const id of ids) await store.putKey(keyRecord(id));
        const listed = await store.listKeys();
        expect(listed.map((r) => r.id)).toEqual([...ids].sort((a, b) => a - b));
        for (const record of listed) expect(record).toEqual(keyRecord(record.id));
      });

      it('replaces a record on put with the same id (rotation, rename)', async () => {
        await store.putKey(keyRecord(5));
        const rotated = keyRecord(5, { activeVersion: 2, latestVersion: 2, rotatedAt: iso(DAY_MS) });
        await store.putKey(rotated);
        expect(await store.getKey(5)).toEqual(rotated);
        const renamed = keyRecord(5, { ...rotated, name: 'tenant/acme/renamed' });
        await store.putKey(renamed);
        expect(await store.getKey(5)).toEqual(renamed);
        expect(await store.listKeys()).toEqual([renamed]);
      });

      it('enforces unique names with FX_KEYSTORE_CORRUPT and stores nothing', async () => {
        const first = keyRecord(1, { name: 'tenant/acme/ssn' });
        await store.putKey(first);
        await expectCode(
          () => store.putKey(keyRecord(2, { name: 'tenant/acme/ssn' })),
          'FX_KEYSTORE_CORRUPT',
        );
        expect(await store.getKey(2)).toBeUndefined();
        expect(await store.listKeys()).toEqual([first]);

        // Once key 1 is renamed, its old name is free.
        await store.putKey(keyRecord(1, { name: 'tenant/acme/ssn-old' }));
        const second = keyRecord(2, { name: 'tenant/acme/ssn' });
        await store.putKey(second);
        expect(await store.getKey(2)).toEqual(second);
      });

      it('concurrent putKey calls cannot create two keys with one name', async () => {
        const results = await Promise.allSettled(
          [1, 2, 3, 4].map((id) => store.putKey(keyRecord(id, { name: 'tenant/acme/race' }))),
        );
        const fulfilled = results.filter((r) => r.status === 'fulfilled');
        expect(fulfilled, 'exactly one of four same-name puts may succeed').toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') {
            expect(r.reason).toBeInstanceOf(FortressError);
            expect((r.reason as FortressError).code).toBe('FX_KEYSTORE_CORRUPT');
          }
        }
        const named = (await store.listKeys()).filter((r) => r.name === 'tenant/acme/race');
        expect(named).toHaveLength(1);
      });

      it('rejects malformed key records with FX_KEYSTORE_CORRUPT and stores nothing', async () => {
        const cases: [string, unknown][] = [
          ['null', null],
          ['a string', 'key'],
          ['bad purpose', { ...keyRecord(9), purpose: 'encryption' }],
          ['missing purpose', { ...keyRecord(9), purpose: undefined }],
          ['unknown algorithm', { ...keyRecord(9), algorithm: 'rot13' }],
          ['negative id', { ...keyRecord(9), id: -1 }],
          ['fractional id', { ...keyRecord(9), id: 1.5 }],
          ['id above u32', { ...keyRecord(9), id: 2 ** 32 }],
          ['string id', { ...keyRecord(9), id: '9' }],
          ['empty name', { ...keyRecord(9), name: '' }],
          ['name starting with /', { ...keyRecord(9), name: '/tenant/acme' }],
          ['name with a space', { ...keyRecord(9), name: 'tenant acme' }],
          ['name of 257 characters', { ...keyRecord(9), name: 'k'.repeat(257) }],
          ['negative parentId', { ...keyRecord(9), parentId: -1 }],
          ['string parentId', { ...keyRecord(9), parentId: '1' }],
          ['activeVersion 0', { ...keyRecord(9), activeVersion: 0 }],
          ['activeVersion > latestVersion', { ...keyRecord(9), activeVersion: 3, latestVersion: 2 }],
          ['minDecryptionVersion > latestVersion + 1', { ...keyRecord(9), minDecryptionVersion: 3 }],
          ['rotationPeriodMs 0', { ...keyRecord(9), rotationPeriodMs: 0 }],
          ['negative rotationPeriodMs', { ...keyRecord(9), rotationPeriodMs: -DAY_MS }],
          ['createdAt not a date', { ...keyRecord(9), createdAt: 'yesterday' }],
          ['rotatedAt missing', { ...keyRecord(9), rotatedAt: undefined }],
          ['rotatedAt a number', { ...keyRecord(9), rotatedAt: BASE_TIME }],
        ];
        for (const [label, record] of cases) {
          const error = await expectCode(() => store.putKey(record as KeyRecord), 'FX_KEYSTORE_CORRUPT');
          expect(error.message, label).toMatch(/malformed/);
        }
        expect(await store.listKeys()).toEqual([]);
      });

      it('keeps a copy: mutating the record passed in or a record returned does not change the store', async () => {
        const input: Mutable<KeyRecord> = { ...keyRecord(3) };
        await store.putKey(input);
        input.name = 'tenant/acme/changed';
        input.activeVersion = 99;
        expect(await store.getKey(3)).toEqual(keyRecord(3));

        const tamper = (record: KeyRecord | undefined): void => {
          try {
            (record as Mutable<KeyRecord>).latestVersion = 1234;
            (record as Mutable<KeyRecord>).name = 'tenant/acme/tampered';
          } catch {
            // Frozen records are fine: they cannot be changed at all.
          }
        };
        tamper(await store.getKey(3));
        tamper((await store.listKeys())[0]);
        expect(await store.getKey(3)).toEqual(keyRecord(3));
        expect(await store.listKeys()).toEqual([keyRecord(3)]);
      });
    });

    describe('version records', () => {
      it('returns undefined / [] for unknown keys and versions', async () => {
        expect(await store.getVersion(1, 1)).toBeUndefined();
        expect(await store.listVersions(1)).toEqual([]);
        await store.putVersion(versionRecord(1, 1));
        expect(await store.getVersion(1, 2)).toBeUndefined();
        expect(await store.getVersion(2, 1)).toBeUndefined();
        expect(await store.listVersions(2)).toEqual([]);
      });

      it('round-trips putVersion and getVersion in every state', async () => {
        const records = [
          versionRecord(7, 1, { state: 'retired', encryptions: 2 ** 40 }),
          versionRecord(7, 2, { state: 'decrypt-only' }),
          versionRecord(7, 3, { state: 'destroyed', wrapped: null }),
          versionRecord(7, 4, { state: 'active', encryptions: 0, wrapped: wrappedBytes(1) }),
          versionRecord(0xffff_ffff, 0xffff_ffff, { wrapped: wrappedBytes(4096) }),
        ];
        for (const record of records) await store.putVersion(record);
        for (const record of records) {
          const got = await store.getVersion(record.keyId, record.version);
          expect(got).toEqual(record);
          if (record.wrapped !== null) expect(got!.wrapped).toBeInstanceOf(Uint8Array);
        }
      });

      it('replaces a version on put (state change, persisted encryption count)', async () => {
        const first = versionRecord(3, 1);
        await store.putVersion(first);
        const updated = { ...first, state: 'decrypt-only' as const, encryptions: first.encryptions + 1000 };
        await store.putVersion(updated);
        expect(await store.getVersion(3, 1)).toEqual(updated);
        expect(await store.listVersions(3)).toEqual([updated]);
      });

      it('lists versions in ascending order, with fromVersion and limit paging', async () => {
        const records = new Map<number, KeyVersionRecord>();
        for (const v of [5, 1, 12, 3, 2, 9, 4, 10]) {
          const record = versionRecord(11, v);
          records.set(v, record);
          await store.putVersion(record);
        }
        // Another key's versions never leak into the listing.
        await store.putVersion(versionRecord(12, 6));
        await store.putVersion(versionRecord(1, 7));
        const page = async (p?: { fromVersion?: number; limit?: number }): Promise<number[]> => {
          const listed = await store.listVersions(11, p);
          for (const r of listed) expect(r).toEqual(records.get(r.version));
          return listed.map((r) => r.version);
        };
        expect(await page()).toEqual([1, 2, 3, 4, 5, 9, 10, 12]);
        expect(await page({})).toEqual([1, 2, 3, 4, 5, 9, 10, 12]);
        expect(await page({ fromVersion: 3 })).toEqual([3, 4, 5, 9, 10, 12]);
        expect(await page({ fromVersion: 6 })).toEqual([9, 10, 12]);
        expect(await page({ limit: 2 })).toEqual([1, 2]);
        expect(await page({ fromVersion: 4, limit: 3 })).toEqual([4, 5, 9]);
        expect(await page({ fromVersion: 10, limit: 100 })).toEqual([10, 12]);
        expect(await page({ fromVersion: 13 })).toEqual([]);
        expect(await page({ limit: 0 })).toEqual([]);

        // Walking the pages visits every version once.
        const walked: number[] = [];
        let from = 1;
        for (;;) {
          const batch = await page({ fromVersion: from, limit: 3 });
          if (batch.length === 0) break;
          walked.push(...batch);
          from = batch[batch.length - 1]! + 1;
        }
        expect(walked).toEqual([1, 2, 3, 4, 5, 9, 10, 12]);
      });

      it('rejects malformed version records with FX_KEYSTORE_CORRUPT and stores nothing', async () => {
        const cases: [string, unknown][] = [
          ['null', null],
          ['version 0', { ...versionRecord(4, 1), version: 0 }],
          ['fractional version', { ...versionRecord(4, 1), version: 1.5 }],
          ['negative keyId', { ...versionRecord(4, 1), keyId: -4 }],
          ['keyId above u32', { ...versionRecord(4, 1), keyId: 2 ** 32 }],
          ['unknown state', { ...versionRecord(4, 1), state: 'compromised' }],
          ['destroyed state with bytes', { ...versionRecord(4, 1), state: 'destroyed' }],
          ['active state without bytes', { ...versionRecord(4, 1), wrapped: null }],
          ['retired state without bytes', { ...versionRecord(4, 1), state: 'retired', wrapped: null }],
          ['wrapped as a string', { ...versionRecord(4, 1), wrapped: 'AAECAw==' }],
          ['wrapped as a number array', { ...versionRecord(4, 1), wrapped: [1, 2, 3] }],
          ['wrapped missing', { ...versionRecord(4, 1), wrapped: undefined }],
          ['negative encryptions', { ...versionRecord(4, 1), encryptions: -1 }],
          ['fractional encryptions', { ...versionRecord(4, 1), encryptions: 0.5 }],
          ['unsafe encryptions', { ...versionRecord(4, 1), encryptions: 2 ** 53 }],
          ['createdAt not a date', { ...versionRecord(4, 1), createdAt: 'not a date' }],
        ];
        for (const [label, record] of cases) {
          const error = await expectCode(
            () => store.putVersion(record as KeyVersionRecord),
            'FX_KEYSTORE_CORRUPT',
          );
          expect(error.message, label).toMatch(/malformed/);
        }
        expect(await store.listVersions(4)).toEqual([]);
        expect(await store.getVersion(4, 1)).toBeUndefined();
      });

      it('keeps copies: mutating wrapped bytes passed in or returned does not change the store', async () => {
        const record = versionRecord(8, 1);
        const original = new Uint8Array(record.wrapped!);
        await store.putVersion(record);
        record.wrapped!.fill(0);
        expect((await store.getVersion(8, 1))!.wrapped).toEqual(original);

        const got = (await store.getVersion(8, 1))!;
        got.wrapped!.fill(0xaa);
        try {
          (got as Mutable<KeyVersionRecord>).state = 'destroyed';
          (got as Mutable<KeyVersionRecord>).wrapped = null;
        } catch {
          // Frozen records are fine.
        }
        const listed = await store.listVersions(8);
        listed[0]!.wrapped!.fill(0xbb);

        const again = await store.getVersion(8, 1);
        expect(again!.state).toBe('active');
        expect(again!.wrapped).toEqual(original);
        expect((await store.listVersions(8))[0]!.wrapped).toEqual(original);
      });

      it(
        'handles 10,000 versions of one key: point reads and pages stay fast',
        { timeout: 45_000 },
        async () => {
          const COUNT = 10_000;
          const CHUNK = 250;
          const keyId = 77;
          await store.putKey(keyRecord(keyId, { activeVersion: COUNT, latestVersion: COUNT }));
          const last = versionRecord(keyId, COUNT);
          const writeStart = performance.now();
          for (let start = 1; start <= COUNT; start += CHUNK) {
            const writes: Promise<void>[] = [];
            for (let v = start; v < start + CHUNK && v <= COUNT; v++) {
              writes.push(
                store.putVersion(
                  v === COUNT
                    ? last
                    : versionRecord(keyId, v, { state: 'decrypt-only', wrapped: wrappedBytes(16) }),
                ),
              );
            }
            await Promise.all(writes);
          }
          const writeMs = performance.now() - writeStart;

          // Best of three: the point is that no call scans the 10,000 records, not raw speed.
          const time = async <T>(fn: () => Promise<T>): Promise<{ ms: number; all: number[]; value: T }> => {
            const all: number[] = [];
            let value!: T;
            for (let i = 0; i < 3; i++) {
              const t0 = performance.now();
              value = await fn();
              all.push(performance.now() - t0);
            }
            return { ms: Math.min(...all), all, value };
          };
          const point = await time(() => store.getVersion(keyId, COUNT));
          const tail = await time(() => store.listVersions(keyId, { fromVersion: COUNT - 9, limit: 10 }));
          const middle = await time(() => store.listVersions(keyId, { fromVersion: 5000, limit: 100 }));
          const first = await time(() => store.listVersions(keyId, { limit: 20 }));
          const key = await time(() => store.getKey(keyId));

          expect(point.value).toEqual(last);
          expect(tail.value.map((r) => r.version)).toEqual(
            Array.from({ length: 10 }, (_, i) => COUNT - 9 + i),
          );
          expect(tail.value[9]).toEqual(last);
          expect(middle.value.map((r) => r.version)).toEqual(Array.from({ length: 100 }, (_, i) => 5000 + i));
          expect(first.value.map((r) => r.version)).toEqual(Array.from({ length: 20 }, (_, i) => 1 + i));
          expect(key.value!.latestVersion).toBe(COUNT);

          const timings = { point, tail, middle, first, key };
          const slow = Object.entries(timings).filter(([, t]) => t.ms > 50);
          if (slow.length > 0) {
            console.log(
              `[${name}] 10,000 versions written in ${writeMs.toFixed(0)} ms; slow reads (ms, best of 3): ` +
                slow.map(([label, t]) => `${label} ${t.all.map((ms) => ms.toFixed(1)).join('/')}`).join(', '),
            );
          }
          for (const [label, t] of Object.entries(timings)) expect(t.ms, `${label} (ms)`).toBeLessThan(200);
        },
      );
    });

    describe('shredding', () => {
      it('replaces the record by a tombstone and leaves other versions alone', async () => {
        const records = [1, 2, 3].map((v) => versionRecord(21, v, { state: v === 3 ? 'active' : 'retired' }));
        for (const record of records) await store.putVersion(record);
        const other = versionRecord(22, 2);
        await store.putVersion(other);

        await store.shredVersion(21, 2);
        const tombstone = await store.getVersion(21, 2);
        expect(tombstone).toEqual({ ...records[1]!, state: 'destroyed', wrapped: null });
        expect(await store.getVersion(21, 1)).toEqual(records[0]);
        expect(await store.getVersion(21, 3)).toEqual(records[2]);
        expect(await store.getVersion(22, 2)).toEqual(other);
        expect(await store.listVersions(21)).toEqual([records[0], tombstone, records[2]]);
      });

      it('shreds an active version too (the key manager decides what may be shredded)', async () => {
        const record = versionRecord(23, 1);
        await store.putVersion(record);
        await store.shredVersion(23, 1);
        expect(await store.getVersion(23, 1)).toEqual({ ...record, state: 'destroyed', wrapped: null });
      });

      it('is idempotent: shredding twice, or shredding a stored tombstone, is fine', async () => {
        const record = versionRecord(24, 5);
        await store.putVersion(record);
        await store.shredVersion(24, 5);
        await store.shredVersion(24, 5);
        expect(await store.getVersion(24, 5)).toEqual({ ...record, state: 'destroyed', wrapped: null });

        const stored = versionRecord(24, 6, { state: 'destroyed', wrapped: null });
        await store.putVersion(stored);
        await store.shredVersion(24, 6);
        expect(await store.getVersion(24, 6)).toEqual(stored);
      });

      it('rejects unknown versions and keys with FX_KEY_NOT_FOUND and changes nothing', async () => {
        const record = versionRecord(25, 1);
        await store.putVersion(record);
        await expectCode(() => store.shredVersion(25, 2), 'FX_KEY_NOT_FOUND');
        await expectCode(() => store.shredVersion(26, 1), 'FX_KEY_NOT_FOUND');
        expect(await store.getVersion(25, 2)).toBeUndefined();
        expect(await store.getVersion(26, 1)).toBeUndefined();
        expect(await store.listVersions(25)).toEqual([record]);
      });

      it('does not touch copies handed out earlier', async () => {
        const record = versionRecord(27, 1);
        await store.putVersion(record);
        const before = await store.getVersion(27, 1);
        await store.shredVersion(27, 1);
        expect(before!.wrapped).toEqual(record.wrapped);
      });
    });

    describe('errors and closing', () => {
      it('reports errors by rejecting the returned promise, never by throwing synchronously', async () => {
        await store.putVersion(versionRecord(1, 1));
        await expectAsyncRejection('getMeta(bad name)', () => store.getMeta('Bad Name'));
        await expectAsyncRejection('putMeta(bad name)', () => store.putMeta('../x', bytes('x')));
        await expectAsyncRejection('deleteMeta(bad name)', () => store.deleteMeta(''));
        await expectAsyncRejection('putKey(malformed)', () =>
          store.putKey({ ...keyRecord(1), purpose: 'nope' } as unknown as KeyRecord),
        );
        await expectAsyncRejection('putVersion(malformed)', () =>
          store.putVersion({ ...versionRecord(1, 2), version: 0 }),
        );
        await expectAsyncRejection('shredVersion(unknown)', () => store.shredVersion(1, 99));
        await store.close();
        await expectAsyncRejection('listKeys() after close', () => store.listKeys());
        await expectAsyncRejection('getVersion() after close', () => store.getVersion(1, 1));
      });

      it('refuses every operation after close()', async () => {
        await store.putMeta('seal', bytes('x'));
        await store.putKey(keyRecord(1));
        await store.putVersion(versionRecord(1, 1));
        await store.close();
        const calls: [string, () => Promise<unknown>][] = [
          ['getMeta', () => store.getMeta('seal')],
          ['putMeta', () => store.putMeta('seal', bytes('y'))],
          ['deleteMeta', () => store.deleteMeta('seal')],
          ['listKeys', () => store.listKeys()],
          ['getKey', () => store.getKey(1)],
          ['putKey', () => store.putKey(keyRecord(2))],
          ['getVersion', () => store.getVersion(1, 1)],
          ['putVersion', () => store.putVersion(versionRecord(1, 2))],
          ['listVersions', () => store.listVersions(1)],
          ['shredVersion', () => store.shredVersion(1, 1)],
        ];
        for (const [label, call] of calls) {
          let failed: unknown;
          try {
            await call();
          } catch (error) {
            failed = error;
          }
          expect(failed, `${label} after close()`).toBeInstanceOf(FortressError);
        }
        // Closing again is harmless.
        await store.close();
      });
    });
  });
}

export { expectCode };
