/**
 * @module audit/verify/entry-checker
 * The per-entry half of verification, kept free of I/O so it can run in a worker thread beside the
 * reading and tree work: parse each entry strictly, check that it says its own seq and that its
 * row's searchable copies match it, and hash it into its RFC 6962 leaf.
 */
import { decodeAuditEntry, principalText, resourcePath } from '../entry/audit-entry.js';
import { HASH_BYTES, hashLeaf } from '../merkle/merkle-hash.js';

/**
 * The searchable copies in an entry's row, as one string (one value to fetch, not six), separated
 * by U+001F. The separator is a literal inside the SQL string constants (every backend reads the
 * same string; SQLite spells the function that makes it `char`, PostgreSQL `chr`).
 */
export const SEARCH_COLUMNS =
  "principal || '\x1f' || action || '\x1f' || resource || '\x1f' || decision || '\x1f' || outcome || '\x1f' || time";

export interface EntryBatch {
  /** Seq of `entries[0]`; the others follow without gaps. */
  readonly first: number;
  readonly entries: readonly Uint8Array[];
  /** The row's SEARCH_COLUMNS string per entry, or null where there is no row (segment files). */
  readonly columns: readonly (string | null)[];
}

export interface EntryBatchResult {
  /** Leaf hashes, HASH_BYTES each, for the entries before `problem` (all of them without one). */
  readonly leaves: Uint8Array;
  readonly problem: { readonly seq: number; readonly message: string } | null;
}

/** Checks and hashes a batch of entries; stops at the first one that fails. */
export function checkEntryBatch(batch: EntryBatch): EntryBatchResult {
  const leaves = new Uint8Array(batch.entries.length * HASH_BYTES);
  for (let i = 0; i < batch.entries.length; i++) {
    const seq = batch.first + i;
    const problem = checkEntry(batch.entries[i]!, seq, batch.columns[i] ?? null);
    if (problem !== null)
      return { leaves: leaves.subarray(0, i * HASH_BYTES), problem: { seq, message: problem } };
    leaves.set(hashLeaf(batch.entries[i]!), i * HASH_BYTES);
  }
  return { leaves, problem: null };
}

function checkEntry(bytes: Uint8Array, seq: number, columns: string | null): string | null {
  let entry;
  try {
    entry = decodeAuditEntry(bytes);
  } catch (error) {
    return `entry ${seq} is malformed: ${(error as Error).message}`;
  }
  if (entry.seq !== seq) return `entry ${seq} says it is entry ${entry.seq}: entries were reordered or moved`;
  if (columns !== null) {
    const expected = `${principalText(entry.principal)}\x1f${entry.action}\x1f${resourcePath(entry.resource)}\x1f${entry.decision.effect}\x1f${entry.outcome.status}\x1f${Date.parse(entry.time)}`;
    if (columns !== expected) return `entry ${seq}: the searchable columns of its row do not match the entry`;
  }
  return null;
}
