/**
 * @module audit/verify/ledger-verifier
 * Offline verification of a ledger, trusting nothing the database says about itself:
 *
 * 1. every entry is re-read (from the hot store, or from archived segment files), parsed strictly
 *    (canonical JSON, version, fields), checked against its row (seq, searchable copies) and hashed
 *    into a fresh RFC 6962 tree;
 * 2. every stored leaf hash must equal the recomputed one — the first that differs names the
 *    modified entry — and every stored inner node must equal the hash of its two stored children,
 *    level by level, so proofs served from the store are sound;
 * 3. every stored checkpoint must carry a valid signature by a pinned key, name this log's origin,
 *    and state the root of the recomputed tree at its size (so consecutive checkpoints are
 *    consistent by construction); a checkpoint beyond the log means it was truncated;
 * 4. optionally a checkpoint the auditor kept from earlier (`trusted`) must match the same way,
 *    which catches a log rewritten from scratch with a replaced signing key.
 *
 * It needs no keys beyond the public verifier keys: entries are not secret (sensitive values in them
 * are HMAC digests).
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import type { StorageDriver, StorageSession } from '../../storage/dialect.js';
import { AuditError, FortressError } from '../../util/errors.js';
import { HASH_BYTES } from '../merkle/merkle-hash.js';
import { checkEntryBatch, SEARCH_COLUMNS, type EntryBatch, type EntryBatchResult } from './entry-checker.js';
import { MerkleFrontier, type NodeWrite } from '../merkle/merkle-frontier.js';
import { openCheckpoint } from '../note/checkpoint.js';
import type { NoteVerifier } from '../note/signed-note.js';
import { openSegment } from '../segment/segment-file.js';
import { SQL, type CheckpointRow, type StateRow } from '../ledger/ledger-schema.js';

export interface VerifyOptions {
  /** The log's public keys (pinned by the auditor); at least one must sign every checkpoint. */
  readonly verifiers: readonly NoteVerifier[];
  /** A signed checkpoint kept from earlier: the log must still extend it. */
  readonly trusted?: string;
  /** Directory of archived segment files (for entries pruned from the hot store). */
  readonly segmentsDir?: string;
  /** Called every 65,536 entries. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface VerifyProblem {
  /** The first entry that does not match, when one can be named. */
  readonly seq?: number;
  /** The checkpoint (tree size) that failed, when that is the finding. */
  readonly checkpoint?: number;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly origin: string;
  /** Entries in the log (including archived ones). */
  readonly size: number;
  /** Entries whose bytes were re-read and re-hashed. */
  readonly entriesChecked: number;
  /** Archived entries checked through their stored hashes only (no segment file given). */
  readonly archivedByHashOnly: number;
  readonly nodesChecked: number;
  readonly checkpointsChecked: number;
  /**
   * Entries after the newest stored checkpoint: no signature covers them yet, so nothing here can
   * tell them from entries appended by someone with write access to the file. The next checkpoint
   * (published off the machine) will.
   */
  readonly uncheckpointed: number;
  /** Root of the recomputed tree (base64). */
  readonly root: string;
  readonly problem: VerifyProblem | null;
}

class Finding extends Error {
  constructor(readonly problem: VerifyProblem) {
    super(problem.message);
  }
}

const CHUNK = 4096;

/** Hashes are public: a plain comparison (the constant-time one costs a native call each). */
function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new Finding({ message: `${what} is not stored as bytes` });
  return value;
}

/**
 * Verifies the ledger of a live database: where writers run concurrently (PostgreSQL) inside one
 * read-only snapshot, so entries, tree nodes and checkpoints appended meanwhile are not mistaken
 * for tampering (a tree of 8 entries with 9 leaves read); SQLite serialises statements per
 * connection, and a transaction there would stop every writer for the whole verification.
 */
export function verifyLiveLedger(driver: StorageDriver, options: VerifyOptions): Promise<VerifyReport> {
  if (driver.dialect === 'sqlite') return verifyLedger(driver, options);
  return driver.isolatedTransaction((tx) => verifyLedger(tx, options), { isolation: 'snapshot' });
}

/** Verifies the ledger stored in `session`'s database; never throws for a finding, only reports it. */
export async function verifyLedger(session: StorageSession, options: VerifyOptions): Promise<VerifyReport> {
  if (!Array.isArray(options.verifiers) || options.verifiers.length === 0) {
    throw new FortressError('FX_INVALID_ARGUMENT', 'verifiers: at least one pinned public key is needed');
  }
  let origin = '';
  let size = 0;
  let entriesChecked = 0;
  let archivedByHashOnly = 0;
  let nodesChecked = 0;
  let checkpointsChecked = 0;
  const frontier = MerkleFrontier.empty();
  let inner: NodeWrite[] = [];
  let state: StateRow | undefined;
  let newestCheckpoint = 0;
  const report = (problem: VerifyProblem | null): VerifyReport => ({
    ok: problem === null,
    origin,
    size,
    entriesChecked,
    archivedByHashOnly,
    nodesChecked,
    checkpointsChecked,
    uncheckpointed: Math.max(0, size - newestCheckpoint),
    root: Buffer.from(frontier.root()).toString('base64'),
    problem,
  });
  try {
    state = await session.get<StateRow>(SQL.state);
    if (state === undefined) throw new Finding({ message: 'no ledger in this database (state row missing)' });
    origin = state.origin;
    const max = await session.get<{ m: number | null }>(SQL.maxSeq);
    // The log is as long as anything says: entries, the archive mark, or the stored tree.
    size = Math.max(max?.m == null ? 0 : max.m + 1, state.archived, state.tree_size);

    // Checkpoints first: roots are compared as the recomputed tree passes their sizes.
    const checkpoints = new Map<number, Uint8Array>();
    for (const row of await session.all<CheckpointRow>(SQL.checkpoints)) {
      let opened;
      try {
        opened = openCheckpoint(row.note, options.verifiers, { origin });
      } catch (error) {
        throw new Finding({
          checkpoint: row.size,
          message: `checkpoint at size ${row.size}: ${(error as Error).message}`,
        });
      }
      if (opened.checkpoint.size !== row.size) {
        throw new Finding({
          checkpoint: row.size,
          message: `checkpoint row ${row.size} holds a checkpoint for size ${opened.checkpoint.size}`,
        });
      }
      if (row.size > size) {
        throw new Finding({
          checkpoint: row.size,
          message: `checkpoint at size ${row.size} covers more entries than the log has (${size}): the log was truncated`,
        });
      }
      checkpoints.set(row.size, opened.checkpoint.rootHash);
      newestCheckpoint = Math.max(newestCheckpoint, row.size);
    }
    let trusted: { size: number; root: Uint8Array } | null = null;
    if (options.trusted !== undefined) {
      let opened;
      try {
        opened = openCheckpoint(options.trusted, options.verifiers, { origin });
      } catch (error) {
        throw new Finding({ message: `the trusted checkpoint: ${(error as Error).message}` });
      }
      if (opened.checkpoint.size > size) {
        throw new Finding({
          checkpoint: opened.checkpoint.size,
          message: `the trusted checkpoint covers ${opened.checkpoint.size} entries but the log has ${size}: it was truncated`,
        });
      }
      trusted = { size: opened.checkpoint.size, root: opened.checkpoint.rootHash };
    }
    let lastGood = 0;
    const atSize = (): void => {
      const n = frontier.size;
      const expected = checkpoints.get(n);
      const root = expected !== undefined || trusted?.size === n ? frontier.root() : null;
      if (expected !== undefined) {
        if (!sameHash(root!, expected)) {
          throw new Finding({
            checkpoint: n,
            message: `checkpoint at size ${n} does not match the entries: an entry in [${lastGood}, ${n}) was changed, inserted or removed together with the tree's hashes`,
          });
        }
        checkpointsChecked++;
        lastGood = n;
      }
      if (trusted?.size === n && !sameHash(root!, trusted.root)) {
        throw new Finding({
          checkpoint: n,
          message: `the log no longer extends the trusted checkpoint at size ${n}: its first ${n} entries were rewritten`,
        });
      }
    };
    atSize();

    // Archived range: from segment files if given, else from the stored leaf hashes.
    let seq = 0;
    if (state.archived > 0) {
      if (options.segmentsDir !== undefined) {
        const files = (await readdir(options.segmentsDir)).filter((f) => f.endsWith('.fxseg')).sort();
        for (const file of files) {
          let segment;
          try {
            segment = openSegment(await readFile(path.join(options.segmentsDir, file)), options.verifiers);
          } catch (error) {
            throw new Finding({ seq, message: `segment ${file}: ${(error as Error).message}` });
          }
          if (segment.origin !== origin)
            throw new Finding({ message: `segment ${file} belongs to another log` });
          if (segment.first !== seq) {
            throw new Finding({
              seq,
              message: `segment ${file} starts at entry ${segment.first}, expected ${seq}: a segment is missing`,
            });
          }
          const checked = checkEntryBatch({
            first: seq,
            entries: segment.entries,
            columns: segment.entries.map(() => null),
          });
          for (let i = 0; i < checked.leaves.length / HASH_BYTES; i++) {
            await leaf(seq, checked.leaves.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES));
            seq++;
            entriesChecked++;
          }
          if (checked.problem !== null) throw new Finding(checked.problem);
          await compareInner();
        }
        if (seq < state.archived) {
          throw new Finding({
            seq,
            message: `entries ${seq}–${state.archived - 1} are archived but no segment file holds them`,
          });
        }
      } else {
        for (; seq < state.archived;) {
          const rows = await session.all<{ idx: number; hash: unknown }>(SQL.nodesOfLevel, [
            0,
            seq,
            Math.min(seq + CHUNK, state.archived),
          ]);
          for (const row of rows) {
            if (row.idx !== seq)
              throw new Finding({ seq, message: `the leaf hash of archived entry ${seq} is missing` });
            append(bytes(row.hash, `leaf ${seq}`));
            seq++;
            archivedByHashOnly++;
          }
          if (rows.length === 0)
            throw new Finding({ seq, message: `the leaf hash of archived entry ${seq} is missing` });
          await compareInner();
        }
      }
    }

    // Hot entries, in chunks: a worker thread parses and hashes one chunk while this thread reads
    // the next and folds the previous into the tree.
    const treeSize = state.tree_size;
    const readChunk = async (from: number) => {
      const to = Math.min(from + CHUNK, size);
      const rows = await session.all<{ seq: number; entry: unknown; cols: string }>(
        `SELECT seq, entry, ${SEARCH_COLUMNS} AS cols FROM fx_audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq`,
        [from, to],
      );
      const leaves = await session.all<{ idx: number; hash: unknown }>(SQL.nodesOfLevel, [0, from, to]);
      const entries: Uint8Array[] = [];
      const columns: string[] = [];
      let gap: VerifyProblem | null = null;
      for (const row of rows) {
        const at = from + entries.length;
        if (row.seq !== at) {
          gap = { seq: at, message: `entry ${at} is missing (the next stored entry is ${row.seq})` };
          break;
        }
        entries.push(bytes(row.entry, `entry ${at}`));
        columns.push(row.cols);
      }
      if (gap === null && from + entries.length < to) {
        gap = { seq: from + entries.length, message: `entry ${from + entries.length} is missing` };
      }
      return { batch: { first: from, entries, columns }, leaves, to, gap };
    };
    const checker = EntryChecker.create();
    try {
      // Keep a few chunks in flight so the worker never waits for this thread, nor this for it.
      type Chunk = Awaited<ReturnType<typeof readChunk>>;
      const inFlight: { chunk: Chunk; result: Promise<EntryBatchResult> }[] = [];
      let readFrom = seq;
      let stop = false;
      const refill = async (): Promise<void> => {
        while (!stop && inFlight.length < 3 && readFrom < size) {
          const chunk = await readChunk(readFrom);
          inFlight.push({ chunk, result: checker.check(chunk.batch) });
          readFrom = chunk.to;
          if (chunk.gap !== null) stop = true;
        }
      };
      await refill();
      while (inFlight.length > 0) {
        const { chunk, result: pending } = inFlight.shift()!;
        await refill();
        const result = await pending;
        const count = result.leaves.length / HASH_BYTES;
        let li = 0;
        for (let i = 0; i < count; i++) {
          const computed = result.leaves.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
          const stored = chunk.leaves[li];
          if (stored?.idx === seq) {
            li++;
            if (!sameHash(bytes(stored.hash, `leaf ${seq}`), computed)) {
              throw new Finding({
                seq,
                message: `entry ${seq} does not match its leaf hash in the tree: the entry was modified`,
              });
            }
            nodesChecked++;
          } else if (seq < treeSize) {
            throw new Finding({ seq, message: `the leaf hash of entry ${seq} is missing from the tree` });
          }
          append(computed);
          seq++;
          entriesChecked++;
          if (seq % 65_536 === 0) options.onProgress?.(seq, size);
        }
        if (result.problem !== null) throw new Finding(result.problem);
        if (chunk.gap !== null) throw new Finding(chunk.gap);
        await compareInner();
      }
    } finally {
      await checker.close();
    }

    // No stored node beyond the ones just compared (level by level, exactly the complete subtrees
    // of the stored tree size).
    const counts = await session.all<{ level: number; n: number }>(
      'SELECT level, count(*) AS n FROM fx_audit_nodes GROUP BY level ORDER BY level',
    );
    for (const { level, n } of counts) {
      const expected = Math.floor(state.tree_size / 2 ** level);
      if (n !== expected) {
        throw new Finding({
          message: `the tree holds ${n} nodes at level ${level} where a tree of ${state.tree_size} has ${expected}: its hashes were altered`,
        });
      }
    }
    const stray = await session.get<{ n: number }>(
      'SELECT count(*) AS n FROM fx_audit_checkpoints WHERE size > ?',
      [size],
    );
    if ((stray?.n ?? 0) > 0) throw new Finding({ message: 'a checkpoint lies beyond the log' });
    options.onProgress?.(size, size);
    return report(null);

    function append(leafHash: Uint8Array): void {
      for (const node of frontier.append(leafHash)) if (node.level > 0) inner.push(node);
      atSize();
    }
    /** Compares the inner nodes the recomputation completed with the stored ones. */
    async function compareInner(): Promise<void> {
      const byLevel = new Map<number, NodeWrite[]>();
      for (const node of inner) {
        let list = byLevel.get(node.level);
        if (list === undefined) byLevel.set(node.level, (list = []));
        list.push(node);
      }
      inner = [];
      for (const [level, list] of byLevel) {
        const first = list[0]!.index;
        const rows = await session.all<{ idx: number; hash: unknown }>(SQL.nodesOfLevel, [
          level,
          first,
          list[list.length - 1]!.index + 1,
        ]);
        let ri = 0;
        for (const node of list) {
          // Nodes past the stored tree size are not written yet (they are re-derived at open).
          if ((node.index + 1) * 2 ** level > state!.tree_size) break;
          const row = rows[ri];
          if (row?.idx !== node.index) {
            throw new Finding({
              seq: node.index * 2 ** level,
              message: `tree node (${level}, ${node.index}) is missing: the stored tree was altered`,
            });
          }
          ri++;
          if (!sameHash(bytes(row.hash, 'node'), node.hash)) {
            throw new Finding({
              seq: node.index * 2 ** level,
              message: `tree node (${level}, ${node.index}) does not match the entries below it: the tree's hashes were altered`,
            });
          }
          nodesChecked++;
        }
      }
    }
    async function leaf(index: number, computed: Uint8Array): Promise<void> {
      const stored = await session.get<{ hash: unknown }>(SQL.node, [0, index]);
      if (stored !== undefined && !sameHash(bytes(stored.hash, `leaf ${index}`), computed)) {
        throw new Finding({
          seq: index,
          message: `archived entry ${index} does not match its leaf hash in the tree`,
        });
      }
      append(computed);
    }
  } catch (error) {
    if (!(error instanceof Finding)) throw error;
    return report(error.problem);
  }
}

/** Throws FX_AUDIT_VERIFY_FAILED with the report's problem when it failed. */
export function assertVerified(report: VerifyReport): void {
  if (!report.ok) throw new AuditError('FX_AUDIT_VERIFY_FAILED', report.problem!.message);
}

/** Runs `checkEntryBatch` in a worker thread when the compiled worker is there, else inline. */
class EntryChecker {
  readonly #worker: Worker | null;
  /** Callers waiting for results, in the order their batches were posted (the worker keeps it). */
  readonly #waiting: { resolve: (r: EntryBatchResult) => void; reject: (e: Error) => void }[] = [];

  private constructor(worker: Worker | null) {
    this.#worker = worker;
    worker?.on('message', (result: EntryBatchResult) => this.#waiting.shift()?.resolve(result));
    worker?.on('error', (error: Error) => {
      for (const waiting of this.#waiting.splice(0)) waiting.reject(error);
    });
  }

  static create(): EntryChecker {
    const url = new URL('./entry-check-worker.js', import.meta.url);
    // Running from TypeScript sources (tests) there is no compiled worker: check inline.
    if (url.protocol !== 'file:' || !existsSync(fileURLToPath(url))) return new EntryChecker(null);
    return new EntryChecker(new Worker(url));
  }

  check(batch: EntryBatch): Promise<EntryBatchResult> {
    const worker = this.#worker;
    if (worker === null) return Promise.resolve(checkEntryBatch(batch));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      worker.postMessage(batch);
    });
  }

  async close(): Promise<void> {
    await this.#worker?.terminate();
  }
}
