/**
 * @module engine/schema/uuid-v7
 * UUIDv7 (RFC 9562 § 5.7) for generated primary keys: a 48-bit millisecond timestamp, then random
 * bits. Time-ordered keys keep inserts at the end of the primary-key B-tree (no page splits all
 * over the file), which is why they are the default over UUIDv4.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 16 * 1024;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A new UUIDv7 in canonical lower-case form. */
export function uuidV7(now: number = Date.now()): string {
  if (offset + 10 > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const r = offset;
  offset += 10;
  const ms = Math.floor(now);
  const high = Math.floor(ms / 0x1_0000_0000);
  const low = ms >>> 0;
  const b = [
    (high >>> 8) & 0xff,
    high & 0xff,
    low >>> 24,
    (low >>> 16) & 0xff,
    (low >>> 8) & 0xff,
    low & 0xff,
    0x70 | (pool[r]! & 0x0f),
    pool[r + 1]!,
    0x80 | (pool[r + 2]! & 0x3f),
    pool[r + 3]!,
    pool[r + 4]!,
    pool[r + 5]!,
    pool[r + 6]!,
    pool[r + 7]!,
    pool[r + 8]!,
    pool[r + 9]!,
  ];
  let out = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
    out += HEX[b[i]!]!;
  }
  return out;
}
