/**
 * Crash test: a child process appends heavily (16 concurrent workers: inserts and reads, each
 * recorded; checkpoints every 20 ms) and is killed with SIGKILL at a random moment, several times
 * over the same directory. After each kill the directory reopens, the ledger verifies (entries,
 * tree, every checkpoint — so the last checkpoint is consistent with the entries), and every
 * acknowledged operation has its entry: each acknowledged insert's row exists and the entries
 * about it are found by its digest.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Fortress } from '../../src/fortress.js';
import { readAuditVerifierKeys } from '../../src/audit-trail.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const writer = path.join(here, 'fixtures', 'audit-crash-writer.mjs');
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function runAndKill(dir: string, ackFile: string, afterMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dir, ackFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) setTimeout(() => child.kill('SIGKILL'), afterMs);
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
}

describe('audit ledger survives SIGKILL during heavy appends', () => {
  it('after each of 8 kills: verify passes, the last checkpoint matches, acknowledged operations have entries', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-audit-crash-'));
    dirs.push(dir);
    const ackFile = path.join(dir, '..', `${path.basename(dir)}.acks`);
    dirs.push(ackFile);
    let lastSize = 0;
    for (let round = 0; round < 8; round++) {
      await runAndKill(dir, ackFile, 150 + Math.floor(Math.random() * 400));
      const db = await Fortress.open({
        path: dir,
        onWarning: () => undefined,
        audit: { checkpointIntervalMs: 0 },
      });
      const report = await db.audit.verify({ verifiers: await readAuditVerifierKeys(dir) });
      expect(report.problem, `round ${round}`).toBeNull();
      expect(report.ok).toBe(true);
      expect(report.size).toBeGreaterThan(lastSize);
      lastSize = report.size;
      const latest = await db.audit.latestCheckpoint();
      expect(latest).not.toBeNull();
      expect(latest!.size).toBeLessThanOrEqual(report.size);
      const acks = (await readFile(ackFile, 'utf8'))
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { op: string; id: string });
      // A sample of acknowledged operations: the insert's row exists and its entries are findable.
      const sample = acks.filter((_, i) => i % Math.max(1, Math.floor(acks.length / 25)) === 0);
      for (const ack of sample) {
        if (ack.op === 'insert') expect(await db.table('events').get(ack.id), `row ${ack.id}`).toBeDefined();
        const about: string[] = [];
        for await (const entry of db.audit.entries({ digest: db.audit.hash(ack.id), action: 'table.' })) {
          about.push(`${entry.action}:${entry.outcome.status}`);
        }
        expect(about, `entries about ${ack.op} ${ack.id}`).toContain(`table.${ack.op}:ok`);
      }
      await db.close();
    }
  }, 240_000);
});
