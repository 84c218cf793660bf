/**
 * After seal(), a V8 heap snapshot of the process contains none of the key bytes that were in use
 * (raw, hex or base64). The work runs in a child process so the needles this test searches for
 * never live in the snapshotted heap; a canary string that *is* kept alive proves the search works.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/heap-snapshot-child.mjs');

it('a heap snapshot taken after seal() holds none of the key bytes that were in use', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-heap-'));
  try {
    const needles = path.join(dir, 'needles.bin');
    const snapshot = path.join(dir, 'after-seal.heapsnapshot');
    const child = spawnSync(process.execPath, [CHILD, needles, snapshot], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('ok');
    const heap = await readFile(snapshot);
    const keyBytes = await readFile(needles);
    expect(keyBytes.length).toBe(96);
    const canary = await readFile(`${needles}.canary`, 'utf8');
    expect(heap.includes(Buffer.from(canary))).toBe(true);
    for (let offset = 0; offset < keyBytes.length; offset += 32) {
      const key = keyBytes.subarray(offset, offset + 32);
      for (const form of [
        key,
        Buffer.from(key.toString('hex')),
        Buffer.from(key.toString('hex').toUpperCase()),
        Buffer.from(key.toString('base64')),
      ]) {
        expect(heap.includes(form), `key ${offset / 32} found in the heap snapshot`).toBe(false);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
