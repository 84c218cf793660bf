/**
 * Fail-closed on a full disk: a child process runs Fortress with a file-size limit (`ulimit -f`, with
 * SIGXFSZ ignored, so writes past it fail as on a full disk) and inserts until an operation fails.
 * The failing write and the read after it must be refused with FX_AUDIT_UNAVAILABLE (never
 * acknowledged unrecorded), and after reopening without the limit every acknowledged row is there
 * with its entry, the refused one is not, and the ledger verifies.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Fortress } from '../../src/fortress.js';
import { readAuditVerifierKeys } from '../../src/audit-trail.js';

const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'disk-full-writer.mjs');
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('a full disk stops service with a clear error, and nothing acknowledged is lost', () => {
  it('refuses the write and the read it cannot record; every acknowledged row and entry survives', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-disk-full-'));
    dirs.push(dir);
    // 6 MiB per file: the database and its WAL fill up after a few hundred 16 KB rows.
    const run = spawnSync(
      'bash',
      ['-c', `trap '' XFSZ; ulimit -f 6144; exec "${process.execPath}" "${writer}" "${dir}"`],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      acked: number;
      failure: { code: string; message: string } | null;
      read: string;
    };
    expect(report.acked).toBeGreaterThan(10);
    // The write that did not fit is refused — by the ledger (its entry could not be stored) or by
    // storage (the commit holding the row and its entry failed) — with a message that says so.
    expect(['FX_AUDIT_UNAVAILABLE', 'FX_STORAGE']).toContain(report.failure?.code);
    expect(report.failure?.message).toMatch(
      /could not durably record the entry|disk I\/O error|disk is full/,
    );
    // The read after it either is refused, or — when a checkpoint freed room — returned its row only
    // once its entry was stored (checked below).
    expect(['FX_AUDIT_UNAVAILABLE', 'ok']).toContain(report.read);

    const db = await Fortress.open({
      path: dir,
      onWarning: () => undefined,
      audit: { checkpointIntervalMs: 0 },
    });
    const blobs = db.table('blobs');
    expect(await blobs.count()).toBe(report.acked);
    expect(await blobs.get(report.acked)).toBeDefined();
    expect(await blobs.get(report.acked + 1)).toBeUndefined();
    let inserts = 0;
    for await (const entry of db.audit.entries({ action: 'table.insert', outcome: 'ok' })) {
      if (entry.resource.table === 'blobs') inserts++;
    }
    expect(inserts).toBe(report.acked);
    if (report.read === 'ok') {
      const reads: number[] = [];
      // Row 1 is read only by the child, after the failure.
      for await (const entry of db.audit.entries({
        action: 'table.get',
        outcome: 'ok',
        digest: db.audit.hash(1),
      }))
        reads.push(entry.seq);
      expect(reads.length, 'the read that returned its row has its entry').toBeGreaterThanOrEqual(1);
    }
    const verified = await db.audit.verify({ verifiers: await readAuditVerifierKeys(dir) });
    expect(verified.problem).toBeNull();
    await db.close();
  }, 180_000);
});
