/**
 * @module bench/engine-million
 * Child process of `bench engine`: inserts 1,000,000 rows (transactions of 1,000), streams them all
 * back, rotates the keys and re-encrypts every row, sampling RSS throughout. Prints JSON on stdout.
 * Usage: node dist/bench/engine-million.bench.js DIR ROWS
 */
import path from 'node:path';
import { openUnauditedEngine } from './unaudited-engine.js';
import { PEOPLE_COLUMNS, personValues } from './people.js';
import type { KeyUsage } from '../src/engine/engine.js';
import { progress, round } from './harness.js';

export interface MillionReport {
  rows: number;
  insertSeconds: number;
  streamReadSeconds: number;
  rowsRead: number;
  reencryptSeconds: number;
  rewritten: number;
  keyUsageAfter: KeyUsage[];
  maxRssMiB: number;
}

/** 1,000,000 rows in, streamed back, re-encrypted after a rotation; RSS sampled throughout. */
async function millionSuite(dir: string, rows: number): Promise<MillionReport> {
  const opened = await openUnauditedEngine(path.join(dir, 'million'));
  const db = opened.engine;
  const people = await db.createTable('people', {
    expectedRows: rows,
    columns: PEOPLE_COLUMNS,
  });
  let maxRss = process.memoryUsage().rss;
  const sample = (): void => {
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
  };
  progress(`million: inserting ${rows} rows`);
  let start = performance.now();
  for (let i = 0; i < rows; i += 1000) {
    const batch: ReturnType<typeof personValues>[] = [];
    for (let j = i; j < Math.min(i + 1000, rows); j++) batch.push(personValues(j));
    await people.insertMany(batch);
    sample();
  }
  const insertSeconds = (performance.now() - start) / 1000;
  progress('million: streaming every row back');
  start = performance.now();
  let read = 0;
  for await (const row of people.iterate()) {
    if (row.ssn === null) throw new Error('undecrypted row');
    if (++read % 10_000 === 0) sample();
  }
  const readSeconds = (performance.now() - start) / 1000;
  progress('million: rotating the keys and re-encrypting every row');
  start = performance.now();
  const job = await db.rotateKeys('people', { batchSize: 2000 });
  job.on('progress', (p) => {
    sample();
    if (p.processed % 100_000 < 2000)
      progress(`re-encrypt ${p.percent.toFixed(0)}% eta ${p.etaMs ?? '?'} ms`);
  });
  const done = await job.done;
  const reencryptSeconds = (performance.now() - start) / 1000;
  const usage = await db.keyUsage('people');
  await opened.close();
  return {
    rows,
    insertSeconds: round(insertSeconds, 1),
    streamReadSeconds: round(readSeconds, 1),
    rowsRead: read,
    reencryptSeconds: round(reencryptSeconds, 1),
    rewritten: done.rewritten,
    keyUsageAfter: usage,
    maxRssMiB: round(maxRss / 2 ** 20, 1),
  };
}

const [dir, rows] = process.argv.slice(2);
if (dir === undefined || rows === undefined) throw new Error('usage: engine-million.bench.js DIR ROWS');
process.stdout.write(`${JSON.stringify(await millionSuite(dir, Number(rows)))}\n`);
