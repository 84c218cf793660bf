/**
 * @module audit/verify/entry-check-worker
 * Worker-thread entry point for `verifyLedger`: checks and hashes batches of entries (see
 * entry-checker.ts) while the main thread reads the next batch and builds the tree.
 */
import { parentPort } from 'node:worker_threads';
import { checkEntryBatch, type EntryBatch } from './entry-checker.js';

parentPort?.on('message', (batch: EntryBatch) => {
  const result = checkEntryBatch(batch);
  parentPort!.postMessage(result, [result.leaves.buffer as ArrayBuffer]);
});
