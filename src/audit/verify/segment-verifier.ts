/**
 * @module audit/verify/segment-verifier
 * Offline verification of archived segment files alone — no database, only the log's pinned public
 * keys. This is what an auditor can check from an archive shipped off-site:
 *
 * 1. every `*.fxseg` file in the directory opens (`openSegment`): its segment note and checkpoint
 *    carry valid signatures by a pinned key, and the entries match the digest the note signs;
 * 2. the files are of one log (same origin) and contiguous: each starts where the previous ended
 *    (the first may start anywhere — earlier segments may have been stored elsewhere);
 * 3. every entry decodes strictly (canonical JSON, known version) and states its own position;
 * 4. when the segments start at entry 0, the RFC 6962 tree is recomputed from the entries, and at
 *    every checkpoint size the segments reach, the recomputed root must equal the signed root — so
 *    the archive is the same log the checkpoints committed to, not merely a signed file. Checkpoints
 *    beyond the last archived entry cannot be checked from the segments and are counted apart.
 *
 * Like `verifyLedger`, it never throws for a finding: it reports the first one.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { constantTimeEqual } from '../../crypto/memory/constant-time.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import { decodeAuditEntry } from '../entry/audit-entry.js';
import { MerkleFrontier } from '../merkle/merkle-frontier.js';
import { hashLeaf } from '../merkle/merkle-hash.js';
import type { NoteVerifier } from '../note/signed-note.js';
import { openSegment, type OpenedSegment } from '../segment/segment-file.js';
import type { VerifyProblem } from './ledger-verifier.js';

/** A finding about segment files: the first entry or checkpoint that fails, and in which file. */
export interface SegmentProblem extends VerifyProblem {
  /** The segment file (name within the directory) where the problem was found. */
  readonly file?: string;
}

/** What `verifySegments` checked (shaped like `VerifyReport` where the two overlap). */
export interface SegmentVerifyReport {
  readonly ok: boolean;
  /** The log's origin, from the first segment ('' when none could be opened). */
  readonly origin: string;
  /** Segment files opened and checked. */
  readonly files: number;
  /** The first entry the segments hold (-1 when none could be opened). */
  readonly first: number;
  /** One past the last entry the segments hold: the tree size they reach. */
  readonly size: number;
  /** Entries decoded and hashed. */
  readonly entriesChecked: number;
  /** Distinct checkpoints whose root was recomputed from the entries and matched. */
  readonly checkpointsChecked: number;
  /** Distinct checkpoints not checkable from the segments (beyond them, or segments not from 0). */
  readonly checkpointsUnchecked: number;
  /** Root of the recomputed tree of entries [0, size) (base64), or null when not from entry 0. */
  readonly root: string | null;
  readonly problem: SegmentProblem | null;
}

class Finding extends Error {
  constructor(readonly problem: SegmentProblem) {
    super(problem.message);
  }
}

/** The name every archive segment file ends with (see `segmentFileName`). */
const SEGMENT_SUFFIX = '.fxseg';

/**
 * Verifies the segment files in `dir` against the log's pinned verifier keys; see the module
 * comment for what is checked. Throws only for a bad argument or an unreadable directory.
 *
 * @example
 * ```ts
 * const report = await verifySegments('./archive', [noteVerifierFromKey(pinnedVkey)]);
 * if (!report.ok) console.error(report.problem!.file, report.problem!.message);
 * ```
 */
export async function verifySegments(
  dir: string,
  verifiers: readonly NoteVerifier[],
): Promise<SegmentVerifyReport> {
  if (typeof dir !== 'string' || dir.length === 0) throw new InvalidArgumentError('dir', 'expected a path');
  if (!Array.isArray(verifiers) || verifiers.length === 0) {
    throw new InvalidArgumentError('verifiers', 'at least one pinned public key is needed');
  }
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith(SEGMENT_SUFFIX)).sort();
  } catch (cause) {
    throw new FortressError('FX_INVALID_ARGUMENT', `dir: cannot read the directory ${dir}`, { cause });
  }

  let origin = '';
  let first = -1;
  let seq = 0;
  let files = 0;
  let entriesChecked = 0;
  let checkpointsChecked = 0;
  // The tree can be recomputed only from entry 0; a later start leaves `frontier` null.
  let frontier: MerkleFrontier | null = null;
  // Signed roots by tree size, from every segment's checkpoint seen so far.
  const signedRoots = new Map<number, Uint8Array>();
  const report = (problem: SegmentProblem | null): SegmentVerifyReport => {
    const end = first < 0 ? 0 : seq;
    let unchecked = 0;
    for (const size of signedRoots.keys()) if (frontier === null || size > end) unchecked++;
    return {
      ok: problem === null,
      origin,
      files,
      first,
      size: end,
      entriesChecked,
      checkpointsChecked,
      checkpointsUnchecked: unchecked,
      root: frontier === null ? null : Buffer.from(frontier.root()).toString('base64'),
      problem,
    };
  };

  try {
    if (names.length === 0) {
      throw new Finding({ message: `no segment files (*${SEGMENT_SUFFIX}) in ${dir}` });
    }
    for (const file of names) {
      let segment: OpenedSegment;
      try {
        segment = openSegment(await readFile(path.join(dir, file)), verifiers);
      } catch (error) {
        if (!(error instanceof FortressError)) throw error;
        throw new Finding({
          file,
          ...(first < 0 ? {} : { seq }),
          message: `segment ${file}: ${error.message}`,
        });
      }
      if (first < 0) {
        first = segment.first;
        seq = first;
        origin = segment.origin;
        frontier = first === 0 ? MerkleFrontier.empty() : null;
      } else if (segment.origin !== origin) {
        throw new Finding({
          file,
          seq,
          message: `segment ${file} belongs to another log (${segment.origin})`,
        });
      }
      if (segment.first !== seq) {
        throw new Finding({
          file,
          seq,
          message: `segment ${file} starts at entry ${segment.first}, expected ${seq}: ${segment.first > seq ? 'a segment is missing' : 'segments overlap'}`,
        });
      }
      // openSegment guarantees the checkpoint covers the segment, so its size is still ahead of
      // (or exactly at the end of) the recomputed tree: it is compared as the tree passes it.
      const { size, rootHash } = segment.checkpoint;
      const known = signedRoots.get(size);
      if (known !== undefined && !constantTimeEqual(known, rootHash)) {
        throw new Finding({
          file,
          checkpoint: size,
          message: `segment ${file} carries a checkpoint for size ${size} whose root differs from another signed checkpoint of that size: the log forked`,
        });
      }
      signedRoots.set(size, rootHash);
      for (const entry of segment.entries) {
        checkEntry(entry, seq, file);
        if (frontier !== null) {
          frontier.append(hashLeaf(entry));
          const expected = signedRoots.get(frontier.size);
          if (expected !== undefined) {
            if (!constantTimeEqual(frontier.root(), expected)) {
              throw new Finding({
                file,
                checkpoint: frontier.size,
                message: `the entries up to ${frontier.size} do not hash to the root their signed checkpoint states: an archived entry was changed, added or removed`,
              });
            }
            checkpointsChecked++;
          }
        }
        seq++;
        entriesChecked++;
      }
      files++;
    }
    return report(null);
  } catch (error) {
    if (!(error instanceof Finding)) throw error;
    return report(error.problem);
  }
}

function checkEntry(bytes: Uint8Array, seq: number, file: string): void {
  let stated: number;
  try {
    stated = decodeAuditEntry(bytes).seq;
  } catch (error) {
    throw new Finding({
      file,
      seq,
      message: `entry ${seq} (in ${file}) is malformed: ${(error as Error).message}`,
    });
  }
  if (stated !== seq) {
    throw new Finding({
      file,
      seq,
      message: `entry ${seq} (in ${file}) says it is entry ${stated}: entries were reordered or moved`,
    });
  }
}
