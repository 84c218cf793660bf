/**
 * FileKeyStore: the shared KeyStore conformance suite (key-store.case.ts), plus what only a
 * directory of files can get wrong: records survive reopening; shredding leaves the old wrapped
 * bytes in no file at all (temp files included); a hand-edited or torn file is reported as
 * FX_KEYSTORE_CORRUPT (or ignored, for crash leftovers) without affecting other records; and files
 * and directories are private to the owner (0600 / 0700).
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileKeyStore } from '../../src/keys/store/file-key-store.js';
import { expectCode, keyRecord, runKeyStoreConformance, versionRecord } from './key-store.case.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'fortress-keystore-'));
}

runKeyStoreConformance('FileKeyStore', async () => {
  const dir = await tempDir();
  const store = await FileKeyStore.open(path.join(dir, 'keys'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/** Every regular file under `dir`, recursively, dot files and temp files included. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await allFiles(full)));
    else out.push(full);
  }
  return out;
}

/** Every directory under `dir`, recursively, `dir` included. */
async function allDirs(dir: string): Promise<string[]> {
  const out = [dir];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...(await allDirs(path.join(dir, entry.name))));
  }
  return out;
}

describe('FileKeyStore on disk', () => {
  let base: string;
  let dir: string;
  let store: FileKeyStore;

  beforeEach(async () => {
    base = await tempDir();
    dir = path.join(base, 'store');
    store = await FileKeyStore.open(dir);
  });

  afterEach(async () => {
    await store.close();
    await rm(base, { recursive: true, force: true });
  });

  it('describes itself by its directory', () => {
    expect(store.description).toBe(`file:${dir}`);
  });

  it('keeps every record across close and reopen', async () => {
    const meta = new TextEncoder().encode('{"kind":"shamir"}');
    const keys = [keyRecord(1, { purpose: 'kek', parentId: null }), keyRecord(2), keyRecord(3)];
    const versions = [
      versionRecord(2, 1, { state: 'decrypt-only' }),
      versionRecord(2, 2),
      versionRecord(3, 1, { state: 'destroyed', wrapped: null }),
    ];
    await store.putMeta('seal', meta);
    for (const k of keys) await store.putKey(k);
    for (const v of versions) await store.putVersion(v);
    await store.shredVersion(2, 1);
    await store.close();

    const again = await FileKeyStore.open(dir);
    try {
      expect(await again.getMeta('seal')).toEqual(meta);
      expect(await again.listKeys()).toEqual(keys);
      expect(await again.listVersions(2)).toEqual([
        { ...versions[0]!, state: 'destroyed', wrapped: null },
        versions[1],
      ]);
      expect(await again.getVersion(3, 1)).toEqual(versions[2]);
      // Names stay unique across reopen.
      await expectCode(() => again.putKey(keyRecord(9, { name: keys[1]!.name })), 'FX_KEYSTORE_CORRUPT');
    } finally {
      await again.close();
    }
  });

  it('leaves the shredded wrapped bytes (raw or base64) in no file under the directory', async () => {
    const records = [1, 2, 3].map((v) => versionRecord(5, v));
    for (const r of records) await store.putVersion(r);
    // A version rewritten a few times before shredding (encryption counts persisted).
    for (const n of [100, 200]) await store.putVersion({ ...records[1]!, encryptions: n });
    await store.shredVersion(5, 2);

    const needles = (wrapped: Uint8Array): Buffer[] => {
      const b64 = Buffer.from(wrapped).toString('base64');
      return [
        Buffer.from(wrapped),
        Buffer.from(b64),
        Buffer.from(b64.replace(/=+$/, '')),
        Buffer.from(Buffer.from(wrapped).toString('base64url')),
        Buffer.from(Buffer.from(wrapped).toString('hex')),
      ];
    };
    const files = await allFiles(dir);
    const contents = await Promise.all(files.map(async (f) => ({ f, data: await readFile(f) })));
    const holders = (wrapped: Uint8Array): string[] =>
      contents
        .filter(({ data }) => needles(wrapped).some((needle) => data.includes(needle)))
        .map(({ f }) => path.relative(dir, f));

    expect(holders(records[1]!.wrapped!), 'files still holding the shredded bytes').toEqual([]);
    // The scan does find bytes that were not shredded (so an empty result above means something).
    expect(holders(records[0]!.wrapped!)).toEqual([path.join('versions', '5', '1.json')]);
    expect(holders(records[2]!.wrapped!)).toEqual([path.join('versions', '5', '3.json')]);
  });

  it('reports a hand-edited version file as FX_KEYSTORE_CORRUPT without affecting other records', async () => {
    const records = [1, 2, 3, 4].map((v) => versionRecord(6, v));
    for (const r of records) await store.putVersion(r);
    const other = versionRecord(7, 2);
    await store.putVersion(other);
    const versionFile = (keyId: number, v: number): string =>
      path.join(dir, 'versions', String(keyId), `${v}.json`);

    // 2.json: not JSON at all.
    await writeFile(versionFile(6, 2), '{"keyId":6,"version":2,"state":"act');
    // 3.json: valid JSON and a valid record, but of another key.
    await writeFile(
      versionFile(6, 3),
      (await readFile(versionFile(6, 3), 'utf8')).replace('"keyId":6', '"keyId":8'),
    );
    // 4.json: the right key but another version number.
    await writeFile(
      versionFile(6, 4),
      (await readFile(versionFile(6, 4), 'utf8')).replace('"version":4', '"version":1'),
    );

    await expectCode(() => store.getVersion(6, 2), 'FX_KEYSTORE_CORRUPT');
    await expectCode(() => store.getVersion(6, 3), 'FX_KEYSTORE_CORRUPT');
    await expectCode(() => store.getVersion(6, 4), 'FX_KEYSTORE_CORRUPT');
    await expectCode(() => store.listVersions(6), 'FX_KEYSTORE_CORRUPT');
    await expectCode(() => store.listVersions(6, { fromVersion: 3 }), 'FX_KEYSTORE_CORRUPT');

    expect(await store.getVersion(6, 1)).toEqual(records[0]);
    expect(await store.listVersions(6, { limit: 1 })).toEqual([records[0]]);
    expect(await store.getVersion(7, 2)).toEqual(other);
    expect(await store.listVersions(7)).toEqual([other]);

    // The store keeps working: a rewrite repairs the record.
    await store.putVersion(records[1]!);
    expect(await store.getVersion(6, 2)).toEqual(records[1]);
  });

  it('reports hand-edited wrapped bytes and key files as FX_KEYSTORE_CORRUPT', async () => {
    await store.putVersion(versionRecord(6, 1));
    const file = path.join(dir, 'versions', '6', '1.json');
    const stored = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    for (const wrapped of ['not base64!', 42, [1, 2, 3], { a: 1 }]) {
      await writeFile(file, JSON.stringify({ ...stored, wrapped }));
      await expectCode(() => store.getVersion(6, 1), 'FX_KEYSTORE_CORRUPT');
    }
    await writeFile(file, 'null');
    await expectCode(() => store.getVersion(6, 1), 'FX_KEYSTORE_CORRUPT');

    const good = keyRecord(2);
    await store.putKey(keyRecord(1));
    await store.putKey(good);
    await writeFile(path.join(dir, 'keys', '1.json'), JSON.stringify({ ...keyRecord(1), id: 3 }));
    await expectCode(() => store.getKey(1), 'FX_KEYSTORE_CORRUPT');
    await writeFile(path.join(dir, 'keys', '1.json'), '{"id":1,');
    await expectCode(() => store.getKey(1), 'FX_KEYSTORE_CORRUPT');
    await expectCode(() => store.listKeys(), 'FX_KEYSTORE_CORRUPT');
    expect(await store.getKey(2)).toEqual(good);
  });

  it('creates files 0600 and directories 0700', async () => {
    await store.putMeta('seal', new TextEncoder().encode('{}'));
    await store.putKey(keyRecord(1));
    await store.putVersion(versionRecord(1, 1));
    await store.putVersion(versionRecord(1, 2));
    await store.shredVersion(1, 2);

    const dirs = await allDirs(dir);
    expect(dirs.map((d) => path.relative(dir, d)).sort()).toEqual(
      ['', 'keys', 'meta', 'versions', path.join('versions', '1')].sort(),
    );
    const files = await allFiles(dir);
    expect(files.map((f) => path.relative(dir, f)).sort()).toEqual(
      [
        path.join('keys', '1.json'),
        path.join('meta', 'seal'),
        path.join('versions', '1', '1.json'),
        path.join('versions', '1', '2.json'),
      ].sort(),
    );
    const modes = async (paths: string[]): Promise<Record<string, string>> =>
      Object.fromEntries(
        await Promise.all(
          paths.map(async (p) => [path.relative(dir, p), ((await stat(p)).mode & 0o777).toString(8)]),
        ),
      ) as Record<string, string>;
    const expectAll = (got: Record<string, string>, mode: string): void => {
      expect(got).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, mode])));
    };
    expectAll(await modes(dirs), '700');
    expectAll(await modes(files), '600');
  });

  it('ignores torn temp files left by a crash', async () => {
    const records = [1, 2].map((v) => versionRecord(9, v));
    for (const r of records) await store.putVersion(r);
    const key = keyRecord(9);
    await store.putKey(key);
    const versions = path.join(dir, 'versions', '9');
    // A crash between creating the temp file and renaming it: garbage, half a record.
    await writeFile(path.join(versions, '.1.json.abc.tmp'), '{"keyId":9,"version":1,"sta', { mode: 0o600 });
    await writeFile(path.join(versions, '.3.json.0badc0ffee00.tmp'), 'garbage\0\0\0', { mode: 0o600 });
    await writeFile(path.join(versions, '.4.json.abc.tmp'), JSON.stringify(versionRecord(9, 4)));
    await writeFile(path.join(dir, 'keys', '.10.json.abc.tmp'), '{"id":10,"na', { mode: 0o600 });
    await writeFile(path.join(dir, 'meta', '.seal.abc.tmp'), 'torn', { mode: 0o600 });

    expect(await store.listVersions(9)).toEqual(records);
    expect(await store.listVersions(9, { fromVersion: 2 })).toEqual([records[1]]);
    expect(await store.getVersion(9, 1)).toEqual(records[0]);
    expect(await store.getVersion(9, 3)).toBeUndefined();
    expect(await store.getVersion(9, 4)).toBeUndefined();
    expect(await store.listKeys()).toEqual([key]);
    expect(await store.getKey(10)).toBeUndefined();
    expect(await store.getMeta('seal')).toBeUndefined();

    // Writes, shredding and reopening still work around the leftovers.
    await store.putKey(keyRecord(10));
    await store.putVersion(versionRecord(9, 3));
    await store.shredVersion(9, 1);
    expect((await store.listVersions(9)).map((r) => [r.version, r.state])).toEqual([
      [1, 'destroyed'],
      [2, 'active'],
      [3, 'active'],
    ]);
    const again = await FileKeyStore.open(dir);
    try {
      expect((await again.listKeys()).map((k) => k.id)).toEqual([9, 10]);
    } finally {
      await again.close();
    }
  });

  it('refuses an empty or non-string directory', async () => {
    await expectCode(() => FileKeyStore.open(''), 'FX_INVALID_ARGUMENT');
    await expectCode(() => FileKeyStore.open(42 as unknown as string), 'FX_INVALID_ARGUMENT');
  });
});
