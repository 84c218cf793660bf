/**
 * The log as static C2SP tlog-tiles: the layout rules of the spec (paths, partial tiles, its own
 * worked example), and an export read back by a minimal tiles client written here from the spec —
 * the checkpoint verifies, the level-0 tiles are the leaf hashes, each higher tile holds the roots of
 * the full tiles below, the tree recomputed from the tiles has the checkpoint's root, and every
 * entry bundle hashes to its level-0 tile. Archived entries' bundles are pruned, their tiles kept.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/entry/audit-entry.js';
import { decodeAuditEntry } from '../../src/audit/entry/audit-entry.js';
import { AuditLedger } from '../../src/audit/ledger/audit-ledger.js';
import { hashLeaf } from '../../src/audit/merkle/merkle-hash.js';
import { MerkleTree } from '../../src/audit/merkle/merkle-tree.js';
import { openCheckpoint } from '../../src/audit/note/checkpoint.js';
import { ed25519NoteSigner } from '../../src/audit/note/signed-note.js';
import {
  bundlePath,
  tileIndexPath,
  tilePath,
  tilesOf,
  TILE_WIDTH,
  type TileRef,
} from '../../src/audit/tiles/tile-layout.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { createSigner } from '../../src/crypto/signature/signature.js';
import type { StorageDriver } from '../../src/storage/dialect.js';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';

const ORIGIN = 'tiles.test.example/audit';
const SIGNER = ed25519NoteSigner(ORIGIN, createSigner('ed25519', SecretKey.generate(32)));

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function record(i: number): AuditRecord {
  return {
    principal: { type: 'user', id: `u${i % 7}`, tenant: 'acme' },
    action: 'table.get',
    resource: { type: 'table', tenant: 'acme', database: 'main', table: 't' },
    decision: { effect: 'allow', policies: ['p1'] },
    outcome: { status: 'ok' },
    requestId: `r${i}`,
    client: null,
    request: `sha256:${'cd'.repeat(32)}`,
    details: { rowCount: i },
  };
}

describe('tlog-tiles layout', () => {
  it("follows the spec's worked example: a tree of 70,000 leaves", () => {
    const tiles = tilesOf(70_000);
    const level = (l: number): TileRef[] => tiles.filter((t) => t.level === l);
    expect(level(0).filter((t) => t.width === TILE_WIDTH)).toHaveLength(273);
    expect(level(0).at(-1)).toEqual({ level: 0, index: 273, width: 112 });
    expect(level(1)).toEqual([
      { level: 1, index: 0, width: 256 },
      { level: 1, index: 1, width: 17 },
    ]);
    expect(level(2)).toEqual([{ level: 2, index: 0, width: 1 }]);
    expect(level(3)).toEqual([]);
  });

  it('a tree of 256 leaves is one full level-0 tile and a partial level-1 tile of width 1', () => {
    expect(tilesOf(256)).toEqual([
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
    ]);
    expect(tilesOf(0)).toEqual([]);
  });

  it('encodes indices as x-prefixed 3-digit path elements', () => {
    expect(tileIndexPath(1_234_067)).toBe('x001/x234/067');
    expect(tileIndexPath(0)).toBe('000');
    expect(tileIndexPath(999)).toBe('999');
    expect(tileIndexPath(1000)).toBe('x001/000');
    expect(tilePath({ level: 0, index: 273, width: 112 })).toBe('tile/0/273.p/112');
    expect(tilePath({ level: 2, index: 1_234_067, width: 256 })).toBe('tile/2/x001/x234/067');
    expect(bundlePath({ level: 0, index: 5, width: 3 })).toBe('tile/entries/005.p/3');
    expect(() => tileIndexPath(-1)).toThrow();
  });
});

/** A minimal tlog-tiles client: reads the export and checks it against the signed checkpoint. */
async function readBack(dir: string, archived = 0): Promise<{ size: number; entries: number }> {
  const note = await readFile(path.join(dir, 'checkpoint'), 'utf8');
  const { checkpoint } = openCheckpoint(note, [SIGNER.verifier()], { origin: ORIGIN });
  const tiles = tilesOf(checkpoint.size);
  const hashesOf = async (tile: TileRef): Promise<Uint8Array[]> => {
    const bytes = await readFile(path.join(dir, tilePath(tile)));
    expect(bytes.length).toBe(tile.width * 32);
    return Array.from({ length: tile.width }, (_, i) => new Uint8Array(bytes.subarray(i * 32, i * 32 + 32)));
  };
  const leaves: Uint8Array[] = [];
  let entries = 0;
  for (const tile of tiles.filter((t) => t.level === 0)) {
    const hashes = await hashesOf(tile);
    leaves.push(...hashes);
    const bundle = path.join(dir, bundlePath(tile));
    if (tile.index * TILE_WIDTH < archived) {
      expect(existsSync(bundle), `${bundlePath(tile)} is pruned`).toBe(false);
      continue;
    }
    const bytes = await readFile(bundle);
    let offset = 0;
    for (let i = 0; i < tile.width; i++) {
      const length = bytes.readUInt16BE(offset);
      const entry = bytes.subarray(offset + 2, offset + 2 + length);
      offset += 2 + length;
      expect(Buffer.from(hashLeaf(entry)).equals(hashes[i]!)).toBe(true);
      expect(decodeAuditEntry(entry).seq).toBe(tile.index * TILE_WIDTH + i);
      entries++;
    }
    expect(offset).toBe(bytes.length);
  }
  expect(leaves).toHaveLength(checkpoint.size);
  const tree = new MerkleTree(leaves);
  expect(Buffer.from(tree.root()).equals(checkpoint.rootHash)).toBe(true);
  // Each hash of a level-l tile (l ≥ 1) is the root of the 256^l leaves below it.
  for (const tile of tiles.filter((t) => t.level > 0)) {
    const hashes = await hashesOf(tile);
    for (let i = 0; i < tile.width; i++) {
      expect(Buffer.from(tree.node(8 * tile.level, tile.index * TILE_WIDTH + i)).equals(hashes[i]!)).toBe(
        true,
      );
    }
  }
  return { size: checkpoint.size, entries };
}

async function ledgerWith(
  entries: number,
): Promise<{ driver: StorageDriver; ledger: AuditLedger; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-tiles-'));
  dirs.push(dir);
  const driver = await new SqliteDialect({ path: path.join(dir, 'ledger.db') }).createDriver();
  const ledger = await AuditLedger.open({
    driver,
    origin: ORIGIN,
    signers: () => [SIGNER],
    checkpointIntervalMs: 0,
  });
  await Promise.all(Array.from({ length: entries }, (_, i) => ledger.append(record(i))));
  return { driver, ledger, dir };
}

describe('exportTiles', () => {
  it('writes every tile and bundle of a checkpoint, which a tiles client verifies', async () => {
    const { driver, ledger, dir } = await ledgerWith(600);
    const out = path.join(dir, 'tiles');
    const result = await ledger.exportTiles(out);
    expect(result).toEqual({ size: 600, tiles: 4, bundles: 3, pruned: 0 });
    expect(await readBack(out)).toEqual({ size: 600, entries: 600 });
    // Growing the log: full tiles stay as they were, partial ones and the checkpoint move on.
    const full = path.join(out, 'tile/0/000');
    const before = (await stat(full)).mtimeMs;
    await Promise.all(Array.from({ length: 200 }, (_, i) => ledger.append(record(600 + i))));
    const again = await ledger.exportTiles(out);
    expect(again.size).toBe(800);
    expect((await stat(full)).mtimeMs).toBe(before);
    expect(await readBack(out)).toEqual({ size: 800, entries: 800 });
    await ledger.close();
    await driver.close();
  });

  it('leaves out the bundles of archived entries (pruned) but keeps their tiles', async () => {
    const { driver, ledger, dir } = await ledgerWith(600);
    await ledger.archive({ before: 300, dir: path.join(dir, 'segments') });
    const out = path.join(dir, 'tiles');
    const result = await ledger.exportTiles(out);
    expect(result.pruned).toBe(2); // bundles 0 and 1 reach into entries below 300
    expect(await readBack(out, 300)).toEqual({ size: 600, entries: 600 - 512 });
    await ledger.close();
    await driver.close();
  });
});
