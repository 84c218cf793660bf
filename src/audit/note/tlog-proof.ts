/**
 * @module audit/note/tlog-proof
 * C2SP tlog-proof files (https://c2sp.org/tlog-proof, `.tlog-proof`): a self-contained,
 * offline-verifiable proof that an entry is in a log — header line, optional `extra` data, the
 * entry's index, its RFC 6962 inclusion proof, a blank line, then the signed checkpoint verbatim.
 * This module only parses and formats; checking the inclusion proof against the checkpoint's root
 * is `verifyInclusion`'s job (audit/merkle).
 */
import { assertBytes, assertString, isBytes } from '../../util/bytes.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import {
  CHECKPOINT_HASH_BYTES,
  openCheckpoint,
  parseCheckpoint,
  type OpenCheckpointOptions,
  type ParsedCheckpoint,
} from './checkpoint.js';
import { decodeBase64, decodeNoteText, encodeBase64, formatError, parseDecimal } from './note-syntax.js';
import { MAX_NOTE_BYTES, parseSignedNote, type NoteKeyRef, type NoteVerifier } from './signed-note.js';

/** The first line of every tlog-proof file (version 1 of the format). */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

/**
 * Most inclusion-proof hashes accepted: a proof has at most ⌈log2(tree size)⌉ hashes, and tree
 * sizes are below 2^53 here, so 64 is generous; it bounds the work a hostile file can cause.
 */
export const MAX_TLOG_PROOF_HASHES = 64;

/** Largest `extra` payload accepted (the spec sets none; this bounds hostile input). */
export const MAX_TLOG_PROOF_EXTRA_BYTES: number = 256 * 1024;

/** Largest tlog-proof file accepted: the largest note plus room for the other lines. */
export const MAX_TLOG_PROOF_BYTES: number = MAX_NOTE_BYTES + 128 * 1024;

const EXTRA_PREFIX = 'extra ';
const INDEX_PREFIX = 'index ';

/** The contents of a tlog-proof file. */
export interface TlogProof {
  /** Zero-based index of the entry in the log (a JS safe integer). */
  readonly index: number;
  /** The RFC 6962 inclusion proof, from the leaf's sibling up to the root's child (32 bytes each). */
  readonly proof: readonly Uint8Array[];
  /** The signed checkpoint note, verbatim (ends with a newline). Unverified until opened. */
  readonly checkpointNote: string;
  /** Opaque application data; NOT authenticated by anything in the file. */
  readonly extra?: Uint8Array;
}

/** A tlog-proof whose checkpoint signatures were verified by `openTlogProof`. */
export interface OpenedTlogProof extends TlogProof {
  readonly checkpoint: ParsedCheckpoint;
  readonly verified: NoteKeyRef[];
  readonly unverified: NoteKeyRef[];
}

/** Checks that `note` is a syntactically valid signed checkpoint; returns its parsed body. */
function checkCheckpointNote(note: string, firstLine: number): ParsedCheckpoint {
  try {
    return parseCheckpoint(parseSignedNote(note, 'checkpoint').text);
  } catch (error) {
    if (error instanceof FortressError && error.code === 'FX_AUDIT_FORMAT') {
      formatError(`tlog proof: the checkpoint starting at line ${firstLine} is malformed: ${error.message}`);
    }
    throw error;
  }
}

/**
 * The text of a tlog-proof file. Throws `FX_INVALID_ARGUMENT` for an index that is not a
 * non-negative safe integer, a proof hash that is not 32 bytes, more than `MAX_TLOG_PROOF_HASHES`
 * hashes, an empty or oversized `extra` (omit it instead), or a `checkpointNote` that is not a
 * well-formed signed checkpoint.
 *
 * @example
 * ```ts
 * const file = formatTlogProof({ index: 7, proof, checkpointNote: signCheckpoint(cp, signers) });
 * ```
 */
export function formatTlogProof(tlogProof: TlogProof): string {
  const value: unknown = tlogProof;
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgumentError('tlogProof', 'expected a tlog proof object');
  }
  const { index, proof, checkpointNote, extra } = tlogProof;
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new InvalidArgumentError('index', 'expected a non-negative safe integer');
  }
  if (!Array.isArray(proof) || proof.length > MAX_TLOG_PROOF_HASHES) {
    throw new InvalidArgumentError('proof', `expected an array of at most ${MAX_TLOG_PROOF_HASHES} hashes`);
  }
  assertString(checkpointNote, 'checkpointNote');
  try {
    checkCheckpointNote(checkpointNote, 1);
  } catch (error) {
    if (error instanceof FortressError && error.code === 'FX_AUDIT_FORMAT') {
      throw new InvalidArgumentError('checkpointNote', error.message);
    }
    throw error;
  }
  let text = `${TLOG_PROOF_HEADER}\n`;
  if (extra !== undefined) {
    assertBytes(extra, 'extra', { min: 1, max: MAX_TLOG_PROOF_EXTRA_BYTES });
    text += `${EXTRA_PREFIX}${encodeBase64(extra)}\n`;
  }
  text += `${INDEX_PREFIX}${index}\n`;
  for (const hash of proof as readonly unknown[]) {
    assertBytes(hash, 'proof[]', { exact: CHECKPOINT_HASH_BYTES });
    text += `${encodeBase64(hash)}\n`;
  }
  return `${text}\n${checkpointNote}`;
}

/**
 * Parses a tlog-proof file strictly: the exact header, an optional `extra <base64>` line (non-empty
 * canonical base64), `index <decimal>` (no sign or leading zeros, a safe integer), 0 to
 * `MAX_TLOG_PROOF_HASHES` canonical base64 lines of 32 bytes, one blank line, then a well-formed
 * signed checkpoint to the end. Anything else throws `FX_AUDIT_FORMAT` naming the line. Verifies
 * nothing: call `openTlogProof` (signatures) and `verifyInclusion` (the proof) before trusting it.
 *
 * @example
 * ```ts
 * const { index, proof, checkpointNote, extra } = parseTlogProof(readFileSync('entry.tlog-proof'));
 * ```
 */
export function parseTlogProof(file: string | Uint8Array): TlogProof {
  if ((typeof file === 'string' || isBytes(file)) && file.length > MAX_TLOG_PROOF_BYTES) {
    formatError(`tlog proof is longer than ${MAX_TLOG_PROOF_BYTES} bytes`);
  }
  const str = decodeNoteText(file, 'tlog proof', 'file');
  let pos = 0;
  let lineNo = 0;
  const nextLine = (): string | undefined => {
    const end = str.indexOf('\n', pos);
    if (end === -1) return undefined;
    const line = str.slice(pos, end);
    pos = end + 1;
    lineNo++;
    return line;
  };

  if (nextLine() !== TLOG_PROOF_HEADER) formatError(`tlog proof line 1 must be "${TLOG_PROOF_HEADER}"`);
  let line = nextLine();
  let extra: Uint8Array | undefined;
  if (line?.startsWith('extra') === true) {
    const decoded = line.startsWith(EXTRA_PREFIX) ? decodeBase64(line.slice(EXTRA_PREFIX.length)) : undefined;
    if (decoded === undefined || decoded.length === 0) {
      formatError(`tlog proof line ${lineNo}: expected "extra " and non-empty canonical base64`);
    }
    if (decoded.length > MAX_TLOG_PROOF_EXTRA_BYTES) {
      formatError(`tlog proof line ${lineNo}: extra data is longer than ${MAX_TLOG_PROOF_EXTRA_BYTES} bytes`);
    }
    extra = decoded;
    line = nextLine();
  }
  const index =
    line?.startsWith(INDEX_PREFIX) === true ? parseDecimal(line.slice(INDEX_PREFIX.length)) : undefined;
  if (index === undefined) {
    formatError(
      `tlog proof line ${lineNo + (line === undefined ? 1 : 0)}: expected "index " and a decimal without sign or leading zeros, at most 2^53 − 1`,
    );
  }

  const proof: Uint8Array[] = [];
  for (;;) {
    line = nextLine();
    if (line === undefined) formatError('tlog proof has no blank line before its checkpoint');
    if (line === '') break;
    if (proof.length === MAX_TLOG_PROOF_HASHES) {
      formatError(`tlog proof line ${lineNo}: more than ${MAX_TLOG_PROOF_HASHES} proof hashes`);
    }
    const hash = decodeBase64(line);
    if (hash?.length !== CHECKPOINT_HASH_BYTES) {
      formatError(
        `tlog proof line ${lineNo}: a proof hash must be canonical base64 of ${CHECKPOINT_HASH_BYTES} bytes`,
      );
    }
    proof.push(hash);
  }

  const checkpointNote = str.slice(pos);
  if (checkpointNote.length === 0) formatError('tlog proof has no checkpoint after the blank line');
  checkCheckpointNote(checkpointNote, lineNo + 1);
  const result: TlogProof =
    extra === undefined ? { index, proof, checkpointNote } : { index, proof, checkpointNote, extra };
  return Object.freeze(result);
}

/**
 * Parses a tlog-proof file and verifies its checkpoint's signatures (see `openCheckpoint`): at
 * least one by a known log key, every known one valid, and the origin `options.origin` if given.
 * The inclusion proof is still unchecked: pass `index`, `proof` and `checkpoint` to
 * `verifyInclusion` with the leaf hash. Throws `FX_AUDIT_FORMAT` or `FX_AUDIT_SIGNATURE`.
 *
 * @example
 * ```ts
 * const opened = openTlogProof(file, [logVerifier], { origin: 'audit.example.com/ledger' });
 * const { index, proof, checkpoint } = opened;
 * verifyInclusion(leafHash, index, checkpoint.size, proof, checkpoint.rootHash); // audit/merkle
 * ```
 */
export function openTlogProof(
  file: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  options: OpenCheckpointOptions = {},
): OpenedTlogProof {
  const parsed = parseTlogProof(file);
  const opened = openCheckpoint(parsed.checkpointNote, verifiers, options);
  return Object.freeze({
    ...parsed,
    checkpoint: opened.checkpoint,
    verified: opened.verified,
    unverified: opened.unverified,
  });
}
