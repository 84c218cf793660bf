/**
 * @module cli/commands/demo
 * `fortress demo`: the embedded database in one minute — a table with encrypted columns, writes,
 * searches, a refused query, what the file holds, a key rotation and the re-encryption job's
 * progress, a versioned KV secret and transit encryption with a rewrap, and the audit ledger. Runs in a fresh temporary directory (removed afterwards) unless `--data` is given.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Fortress } from '../../fortress.js';
import { FortressError } from '../../util/errors.js';

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const FIRST = ['Ann', 'Bob', 'Chen', 'Dana', 'Eli', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Jun'];

export async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { data: { type: 'string' }, rows: { type: 'string', default: '20000' } },
    strict: true,
  });
  const rows = Number(values.rows);
  if (!Number.isInteger(rows) || rows < 10 || rows > 1_000_000) {
    throw new FortressError('FX_CLI_USAGE', '--rows must be an integer from 10 to 1000000');
  }
  const temporary = values.data === undefined;
  const dir = values.data ?? (await mkdtemp(path.join(os.tmpdir(), 'fortress-demo-')));
  try {
    out(`Fortress demo — data directory ${dir}${temporary ? ' (temporary)' : ''}`);
    out();
    const db = await Fortress.open({
      path: dir,
      onWarning: (message) => {
        process.stderr.write(`!!! ${message}\n\n`);
      },
    });
    try {
      out('1. A table with encrypted columns (email searchable by equality):');
      const patients = await db.createTable('patients', {
        expectedRows: rows,
        columns: {
          id: { type: 'uuid', primaryKey: true },
          email: { type: 'text', encrypt: { search: 'equality', normalize: ['trim', 'casefold'] } },
          ssn: { type: 'text', encrypt: true },
          name: { type: 'text', encrypt: true },
          age: { type: 'integer', index: true },
          notes: { type: 'text', encrypt: { algorithm: 'aes-256-gcm' } },
        },
      });
      const search = db.describeTable('patients').columns.find((c) => c.name === 'email')!.encryption!
        .search!;
      out(
        `   email: blind index of ${search.bits} bits (planned for ${rows} rows); ssn, name, notes: encrypted`,
      );
      out();

      out(`2. Insert ${rows} rows (transactions of 1,000):`);
      let start = performance.now();
      for (let i = 0; i < rows; i += 1000) {
        const batch = [];
        for (let j = i; j < Math.min(i + 1000, rows); j++) {
          batch.push({
            email: `${FIRST[j % FIRST.length]!.toLowerCase()}${j}@example.com`,
            ssn: `${String(100 + (j % 800))}-${String(10 + (j % 89))}-${String(1000 + (j % 8999))}`,
            name: `${FIRST[j % FIRST.length]!} ${String(j)}`,
            age: 18 + (j % 70),
            notes: `Visit ${String(j % 9)}: blood pressure normal.`,
          });
        }
        await patients.insertMany(batch);
      }
      out(`   ${rows} rows in ${(performance.now() - start).toFixed(0)} ms`);
      out();

      out('3. Search:');
      start = performance.now();
      const ann = await patients.find({ where: { email: '  ANN0@example.com ' } });
      out(
        `   find({ email: '  ANN0@example.com ' }) → ${JSON.stringify(ann.map((r) => ({ name: r.name, ssn: r.ssn })))} (${(performance.now() - start).toFixed(2)} ms)`,
      );
      const seniors = await patients.find({
        where: { age: { gte: 85 } },
        orderBy: { age: 'desc' },
        limit: 3,
      });
      out(
        `   find({ age ≥ 85 }, orderBy age desc, limit 3) → ${seniors.map((r) => `${r.name} (${String(r.age)})`).join(', ')}`,
      );
      out(`   count({ age < 30 }) → ${String(await patients.count({ where: { age: { lt: 30 } } }))}`);
      try {
        await patients.find({ where: { ssn: { gt: '500' } } });
      } catch (error) {
        if (!(error instanceof FortressError)) throw error;
        out(`   find({ ssn > '500' }) → refused: ${error.code}`);
        out(`     "${error.message}"`);
      }
      out();

      out('4. What the database file holds for one row (no plaintext anywhere):');
      const first = ann[0]!;
      const leaked = readdirSync(dir).filter((name) =>
        readFileSync(path.join(dir, name)).includes(first.ssn!),
      );
      out(`   files containing the SSN ${first.ssn!}: ${leaked.length === 0 ? 'none' : leaked.join(', ')}`);
      out();

      out('5. Rotate the table keys; a background job re-encrypts old values (reads keep working):');
      const before = await db.keyUsage('patients');
      out(
        `   before: ${before.map((u) => `${u.column} v${String(u.version)}: ${String(u.rows)}`).join(', ')}`,
      );
      const job = await db.rotateKeys('patients', { batchSize: Math.max(100, Math.floor(rows / 20)) });
      job.on('progress', (p) => {
        const bar = '#'.repeat(Math.round(p.percent / 5)).padEnd(20, '.');
        out(
          `   [${bar}] ${p.percent.toFixed(0).padStart(3)}%  ${String(p.processed)}/${String(p.total)} rows  ${String(p.rowsPerSecond)} rows/s  ETA ${p.etaMs === null ? '?' : `${String(p.etaMs)} ms`}`,
        );
      });
      const read = await patients.get(first.id);
      out(`   during the job, get(ann) → ${read?.name ?? 'missing'}`);
      const done = await job.done;
      out(`   job ${done.state}: ${String(done.rewritten)} rows re-encrypted`);
      const after = await db.keyUsage('patients');
      out(`   after: ${after.map((u) => `${u.column} v${String(u.version)}: ${String(u.rows)}`).join(', ')}`);
      out();

      out('6. Secrets beside the data, as in Vault: a versioned KV secret and encryption as a service:');
      const password = 'billing-db-Hq7#rT2v';
      const card = '4111 1111 1111 1111';
      const v1 = await db.kv.put('apps/billing/db', { user: 'billing', password: 'initial-password' });
      const v2 = await db.kv.put('apps/billing/db', { user: 'billing', password }, { cas: v1.version });
      out(`   kv.put('apps/billing/db') × 2 → version ${String(v2.version)} (check-and-set on version 1)`);
      await db.transit.createKey('payments');
      const sealed = await db.transit.encrypt('payments', { plaintext: new TextEncoder().encode(card) });
      await db.transit.rotate('payments');
      const rewrapped = await db.transit.rewrap('payments', { ciphertext: sealed.ciphertext });
      const opened = await db.transit.decrypt('payments', { ciphertext: rewrapped.ciphertext });
      out(
        `   transit: ${sealed.ciphertext.slice(0, 10)}… → rotate, rewrap → ${rewrapped.ciphertext.slice(0, 10)}… → decrypts to ${new TextDecoder().decode(opened.plaintext) === card ? 'the same card number' : 'A DIFFERENT VALUE'}`,
      );
      const holders = readdirSync(dir).filter((name) => {
        const bytes = readFileSync(path.join(dir, name));
        return bytes.includes(password) || bytes.includes(card);
      });
      out(
        `   files containing the password or the card number: ${holders.length === 0 ? 'none' : holders.join(', ')}`,
      );
      out();

      out('7. Everything above is in the tamper-evident audit ledger:');
      const recent: string[] = [];
      for await (const entry of db.audit.entries({ action: 'table.', newestFirst: true, limit: 3 })) {
        recent.push(
          `#${String(entry.seq)} ${entry.action} ${entry.resource.table ?? ''} ${entry.outcome.status}`,
        );
      }
      out(`   latest table entries: ${recent.reverse().join(', ')}`);
      const about = [];
      for await (const entry of db.audit.entries({ digest: db.audit.hash('  ANN0@example.com ') }))
        about.push(entry);
      out(
        `   entries about the searched email (by its keyed digest, never the value): ${String(about.length)}`,
      );
      const checkpoint = await db.audit.checkpoint();
      out(`   signed checkpoint of ${String(checkpoint.size)} entries:`);
      for (const line of checkpoint.note.trimEnd().split('\n')) out(line === '' ? '' : `     ${line}`);
      const verified = await db.audit.verify();
      out(
        `   verify: ${verified.ok ? 'OK' : `FAILED (${verified.problem?.message ?? ''})`} — ${String(verified.entriesChecked)} entries re-hashed, ${String(verified.checkpointsChecked)} checkpoint(s) checked`,
      );
      out();
      out('Done. Read README.md for the API, docs/security.md for what an attacker with the file learns.');
    } finally {
      await db.close();
    }
    return 0;
  } finally {
    if (temporary) await rm(dir, { recursive: true, force: true });
  }
}
