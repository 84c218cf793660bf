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
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { StorageSession } from '../../storage/dialect.js';
import { AuditError, FortressError } from '../../util/errors.js';
import { constantTimeEqual } from '../../crypto/memory/constant-time.js';
import { decodeAuditEntry, principalText, resourcePath } from '../entry/audit-entry.js';
import { hashChildren, hashLeaf } from '../merkle/merkle-hash.js';
import { MerkleFrontier } from '../merkle/merkle-frontier.js';
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

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new Finding({ message: `${what} is not stored as bytes` });
  return value;
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
  try {
    const state = await session.get<StateRow>(SQL.state);
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
        if (!constantTimeEqual(root!, expected)) {
          throw new Finding({
            checkpoint: n,
            message: `checkpoint at size ${n} does not match the entries: an entry in [${lastGood}, ${n}) was changed, inserted or removed together with the tree's hashes`,
          });
        }
        checkpointsChecked++;
        lastGood = n;
      }
      if (trusted?.size === n && !constantTimeEqual(root!, trusted.root)) {
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
          for (const entry of segment.entries) {
            checkEntry(entry, seq, null);
            await leaf(seq, hashLeaf(entry));
            seq++;
            entriesChecked++;
          }
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
        }
      }
    }

    // Hot entries, in chunks, joined with the stored leaf hashes.
    while (seq < size) {
      const end = Math.min(seq + CHUNK, size);
      const rows = await session.all<{
        seq: number;
        entry: unknown;
        time: number;
        principal: string;
        action: string;
        resource: string;
        decision: string;
        outcome: string;
      }>(
        'SELECT seq, entry, time, principal, action, resource, decision, outcome FROM fx_audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq',
        [seq, end],
      );
      const leaves = await session.all<{ idx: number; hash: unknown }>(SQL.nodesOfLevel, [0, seq, end]);
      let li = 0;
      for (const row of rows) {
        if (row.seq !== seq) {
          throw new Finding({
            seq,
            message: `entry ${seq} is missing (the next stored entry is ${row.seq})`,
          });
        }
        const entryBytes = bytes(row.entry, `entry ${seq}`);
        checkEntry(entryBytes, seq, row);
        const computed = hashLeaf(entryBytes);
        const stored = leaves[li];
        if (stored?.idx === seq) {
          li++;
          if (!constantTimeEqual(bytes(stored.hash, `leaf ${seq}`), computed)) {
            throw new Finding({
              seq,
              message: `entry ${seq} does not match its leaf hash in the tree: the entry was modified`,
            });
          }
          nodesChecked++;
        }
        append(computed);
        seq++;
        entriesChecked++;
        if (seq % 65_536 === 0) options.onProgress?.(seq, size);
      }
      if (seq < end) throw new Finding({ seq, message: `entry ${seq} is missing` });
    }

    // Every complete node below the stored tree size must be there (proofs and restarts read them)…
    await checkNodesPresent(session, state.tree_size);
    // …and each inner node must be the hash of its two stored children.
    nodesChecked += await checkInnerNodes(session);
    const stray = await session.get<{ n: number }>(
      'SELECT count(*) AS n FROM fx_audit_checkpoints WHERE size > ?',
      [size],
    );
    if ((stray?.n ?? 0) > 0) throw new Finding({ message: 'a checkpoint lies beyond the log' });
    options.onProgress?.(size, size);
    return {
      ok: true,
      origin,
      size,
      entriesChecked,
      archivedByHashOnly,
      nodesChecked,
      checkpointsChecked,
      root: Buffer.from(frontier.root()).toString('base64'),
      problem: null,
    };

    function append(leafHash: Uint8Array): void {
      frontier.append(leafHash);
      atSize();
    }
    async function leaf(index: number, computed: Uint8Array): Promise<void> {
      const stored = await session.get<{ hash: unknown }>(SQL.node, [0, index]);
      if (stored !== undefined && !constantTimeEqual(bytes(stored.hash, `leaf ${index}`), computed)) {
        throw new Finding({
          seq: index,
          message: `archived entry ${index} does not match its leaf hash in the tree`,
        });
      }
      append(computed);
    }
  } catch (error) {
    if (!(error instanceof Finding)) throw error;
    return {
      ok: false,
      origin,
      size,
      entriesChecked,
      archivedByHashOnly,
      nodesChecked,
      checkpointsChecked,
      root: Buffer.from(frontier.root()).toString('base64'),
      problem: error.problem,
    };
  }
}

function checkEntry(
  entryBytes: Uint8Array,
  seq: number,
  row: {
    time: number;
    principal: string;
    action: string;
    resource: string;
    decision: string;
    outcome: string;
  } | null,
): void {
  let entry;
  try {
    entry = decodeAuditEntry(entryBytes);
  } catch (error) {
    throw new Finding({ seq, message: `entry ${seq} is malformed: ${(error as Error).message}` });
  }
  if (entry.seq !== seq) {
    throw new Finding({
      seq,
      message: `entry ${seq} says it is entry ${entry.seq}: entries were reordered or moved`,
    });
  }
  if (
    row !== null &&
    (row.principal !== principalText(entry.principal) ||
      row.action !== entry.action ||
      row.resource !== resourcePath(entry.resource) ||
      row.decision !== entry.decision.effect ||
      row.outcome !== entry.outcome.status ||
      row.time !== Date.parse(entry.time))
  ) {
    throw new Finding({
      seq,
      message: `entry ${seq}: the searchable columns of its row do not match the entry`,
    });
  }
}

async function checkNodesPresent(session: StorageSession, treeSize: number): Promise<void> {
  for (let level = 0; Math.floor(treeSize / 2 ** level) > 0; level++) {
    const expected = Math.floor(treeSize / 2 ** level);
    const row = await session.get<{ n: number }>(
      'SELECT count(*) AS n FROM fx_audit_nodes WHERE level = ? AND idx < ?',
      [level, expected],
    );
    if ((row?.n ?? 0) === expected) continue;
    for (let from = 0; from < expected; from += CHUNK) {
      const end = Math.min(from + CHUNK, expected);
      const rows = await session.all<{ idx: number }>(
        'SELECT idx FROM fx_audit_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx',
        [level, from, end],
      );
      let idx = from;
      for (const r of rows) {
        if (r.idx !== idx) break;
        idx++;
      }
      if (idx < end) {
        throw new Finding({
          seq: idx * 2 ** level,
          message: `tree node (${level}, ${idx}) is missing: the stored tree was altered`,
        });
      }
    }
  }
}

async function checkInnerNodes(session: StorageSession): Promise<number> {
  let checked = 0;
  for (let level = 1; level < 64; level++) {
    let any = false;
    for (let from = 0; ; from += CHUNK) {
      const parents = await session.all<{ idx: number; hash: unknown }>(SQL.nodesOfLevel, [
        level,
        from,
        from + CHUNK,
      ]);
      if (parents.length === 0) break;
      any = true;
      const children = await session.all<{ idx: number; hash: unknown }>(SQL.nodesOfLevel, [
        level - 1,
        from * 2,
        (from + CHUNK) * 2,
      ]);
      const byIndex = new Map(children.map((c) => [c.idx, c.hash]));
      for (const parent of parents) {
        const left = byIndex.get(parent.idx * 2);
        const right = byIndex.get(parent.idx * 2 + 1);
        if (left === undefined || right === undefined) {
          throw new Finding({ message: `tree node (${level}, ${parent.idx}) has no stored children` });
        }
        const expected = hashChildren(bytes(left, 'node'), bytes(right, 'node'));
        if (!constantTimeEqual(expected, bytes(parent.hash, 'node'))) {
          throw new Finding({
            seq: parent.idx * 2 ** level,
            message: `tree node (${level}, ${parent.idx}) is not the hash of its children: the tree's hashes were altered`,
          });
        }
        checked++;
      }
    }
    if (!any) break;
  }
  return checked;
}

/** Throws FX_AUDIT_VERIFY_FAILED with the report's problem when it failed. */
export function assertVerified(report: VerifyReport): void {
  if (!report.ok) throw new AuditError('FX_AUDIT_VERIFY_FAILED', report.problem!.message);
}
