/**
 * @module audit/tiles/tile-layout
 * The C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles): which tiles and entry bundles a tree of
 * a given size has, and their paths. Tiles are 256 hashes wide; the tile at level `l` index `n`
 * holds the Merkle Tree Hashes of the 256^l-leaf subtrees `n·256 + i` — in Fortress's node table,
 * the complete nodes at tree level 8·l. The rightmost tile of each level may be partial (`.p/<W>`).
 */
import { assertTreeInteger } from '../merkle/node-id.js';

export const TILE_WIDTH = 256;
/** Tree levels per tile level. */
export const TILE_HEIGHT = 8;

/** One tile (or, at level -1, an entry bundle) of a tree. */
export interface TileRef {
  /** Tile level (0 … 63); entry bundles use the level-0 geometry and `bundle: true`. */
  readonly level: number;
  readonly index: number;
  /** Hashes (or entries) it holds: 256, or 1 … 255 for a partial tile. */
  readonly width: number;
}

/** `x001/x234/067` for 1234067: zero-padded 3-digit elements, all but the last prefixed with `x`. */
export function tileIndexPath(index: number): string {
  assertTreeInteger(index, 'index');
  const groups: string[] = [];
  let n = index;
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** `tile/<L>/<N>[.p/<W>]`. */
export function tilePath(tile: TileRef): string {
  const partial = tile.width < TILE_WIDTH ? `.p/${tile.width}` : '';
  return `tile/${tile.level}/${tileIndexPath(tile.index)}${partial}`;
}

/** `tile/entries/<N>[.p/<W>]`. */
export function bundlePath(tile: TileRef): string {
  const partial = tile.width < TILE_WIDTH ? `.p/${tile.width}` : '';
  return `tile/entries/${tileIndexPath(tile.index)}${partial}`;
}

/**
 * Every tile of a tree of `size` leaves, level by level: full tiles, then the partial one (if the
 * level's width is not a multiple of 256). Entry bundles follow the level-0 tiles one for one.
 */
export function tilesOf(size: number): TileRef[] {
  assertTreeInteger(size, 'size');
  const out: TileRef[] = [];
  for (let level = 0; level < 64; level++) {
    const hashes = Math.floor(size / TILE_WIDTH ** level);
    if (hashes === 0) break;
    const full = Math.floor(hashes / TILE_WIDTH);
    for (let index = 0; index < full; index++) out.push({ level, index, width: TILE_WIDTH });
    const rest = hashes % TILE_WIDTH;
    if (rest > 0) out.push({ level, index: full, width: rest });
  }
  return out;
}
