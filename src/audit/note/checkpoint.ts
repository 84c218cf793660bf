/**
 * @module audit/note/checkpoint
 * C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint): the note text that commits
 * a log to its Merkle tree head — origin line, tree size, base64 root hash, then optional extension
 * lines — and its signing and opening as a signed note.
 */
import { assertBytes, assertString } from '../../util/bytes.js';
import { AuditError, InvalidArgumentError } from '../../util/errors.js';
import {
  decodeBase64,
  decodeNoteText,
  encodeBase64,
  formatError,
  hasForbiddenControl,
  isValidKeyName,
  parseDecimal,
} from './note-syntax.js';
import { openNote, signNote, type NoteKeyRef, type NoteSigner, type NoteVerifier } from './signed-note.js';

/** Size of an RFC 6962 SHA-256 root hash. */
export const CHECKPOINT_HASH_BYTES = 32;

/** A log's tree head as a checkpoint states it. */
export interface Checkpoint {
  /** The log's identity, e.g. `audit.example.com/ledger`. */
  readonly origin: string;
  /** Number of leaves (a JS safe integer). */
  readonly size: number;
  /** The RFC 6962 Merkle tree hash at `size` (32 bytes). */
  readonly rootHash: Uint8Array;
  /** Opaque extra lines after the root hash (non-empty each); NOT RECOMMENDED by the spec. */
  readonly extensions?: readonly string[];
}

/** A checkpoint read from its text: `extensions` is always present (possibly empty). */
export interface ParsedCheckpoint extends Checkpoint {
  readonly extensions: readonly string[];
}

/** A checkpoint whose signed note was verified by `openCheckpoint`. */
export interface OpenedCheckpoint {
  readonly checkpoint: ParsedCheckpoint;
  /** The exact note text that was signed. */
  readonly text: string;
  readonly verified: NoteKeyRef[];
  readonly unverified: NoteKeyRef[];
}

/** Options for `openCheckpoint`. */
export interface OpenCheckpointOptions {
  /**
   * The origin the checkpoint must name (the spec's "check that the origin line is acceptable").
   * A checkpoint of another log throws `FX_AUDIT_SIGNATURE`.
   * @default any origin
   */
  readonly origin?: string;
}

function checkLine(value: string, argument: string): void {
  if (value.length === 0) throw new InvalidArgumentError(argument, 'must not be empty');
  if (value.includes('\n') || hasForbiddenControl(value)) {
    throw new InvalidArgumentError(argument, 'must not contain a newline or control character');
  }
  if (!value.isWellFormed()) throw new InvalidArgumentError(argument, 'must be valid Unicode');
}

/**
 * The checkpoint note text: `<origin>\n<size>\n<base64 root hash>\n` and one line per extension.
 * Throws `FX_INVALID_ARGUMENT` for an origin that is not a valid key name (the spec's SHOULD:
 * non-empty, no spaces or plus, so that the log's key name can equal it), a size that is not a
 * non-negative safe integer, a root hash that is not 32 bytes, or an empty or multi-line extension.
 *
 * @example
 * ```ts
 * formatCheckpoint({ origin: 'audit.example.com/ledger', size: 5, rootHash });
 * // 'audit.example.com/ledger\n5\n<44 base64 characters>\n'
 * ```
 */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const value: unknown = checkpoint;
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgumentError('checkpoint', 'expected a checkpoint object');
  }
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  assertString(origin, 'origin');
  if (!isValidKeyName(origin)) {
    throw new InvalidArgumentError(
      'origin',
      'must be non-empty Unicode without spaces, plus signs or control characters',
    );
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new InvalidArgumentError('size', 'expected a non-negative safe integer');
  }
  assertBytes(rootHash, 'rootHash', { exact: CHECKPOINT_HASH_BYTES });
  if (!Array.isArray(extensions))
    throw new InvalidArgumentError('extensions', 'expected an array of strings');
  let text = `${origin}\n${size}\n${encodeBase64(rootHash)}\n`;
  for (const extension of extensions as readonly unknown[]) {
    assertString(extension, 'extensions[]');
    checkLine(extension, 'extensions[]');
    text += `${extension}\n`;
  }
  return text;
}

/**
 * Parses a checkpoint note text, rejecting with `FX_AUDIT_FORMAT` (naming the line) everything
 * c2sp.org/tlog-checkpoint forbids: fewer than three lines, an empty line, a missing final newline,
 * a size with a sign, leading zero or non-digit (or above 2^53 − 1), a root hash that is not
 * canonical base64 of 32 bytes, control characters or invalid UTF-8. Any non-empty origin is
 * accepted (clients "MUST NOT assume that the origin is following this format"). Does not check
 * signatures: parse only text that `openNote` returned, or use `openCheckpoint`.
 *
 * @example
 * ```ts
 * const { origin, size, rootHash } = parseCheckpoint(openNote(note, verifiers).text);
 * ```
 */
export function parseCheckpoint(text: string | Uint8Array): ParsedCheckpoint {
  const str = decodeNoteText(text, 'checkpoint', 'text');
  if (!str.endsWith('\n')) formatError('checkpoint does not end with a newline');
  const lines = str.slice(0, -1).split('\n');
  if (lines.length < 3) {
    formatError(`checkpoint has ${lines.length} line(s); it needs an origin, a tree size and a root hash`);
  }
  const [origin, sizeLine, hashLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) formatError('checkpoint line 1 (origin) is empty');
  const size = parseDecimal(sizeLine);
  if (size === undefined) {
    formatError(
      'checkpoint line 2 (tree size) must be a decimal without sign or leading zeros, at most 2^53 − 1',
    );
  }
  const rootHash = decodeBase64(hashLine);
  if (rootHash?.length !== CHECKPOINT_HASH_BYTES) {
    formatError(`checkpoint line 3 (root hash) must be canonical base64 of ${CHECKPOINT_HASH_BYTES} bytes`);
  }
  const empty = extensions.indexOf('');
  if (empty !== -1) formatError(`checkpoint line ${empty + 4} (extension) is empty`);
  return Object.freeze({ origin, size, rootHash, extensions: Object.freeze(extensions) });
}

/**
 * Formats and signs a checkpoint: `signNote(formatCheckpoint(checkpoint), signers)`.
 *
 * @example
 * ```ts
 * const note = signCheckpoint({ origin, size, rootHash }, [ed25519NoteSigner(origin, key)]);
 * ```
 */
export function signCheckpoint(checkpoint: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(checkpoint), signers);
}

/**
 * Opens a signed checkpoint: verifies the note (see `openNote`), then parses its text. Throws
 * `FX_AUDIT_FORMAT` for a malformed note or checkpoint and `FX_AUDIT_SIGNATURE` for a missing or
 * bad signature by a known key, or an origin other than `options.origin`.
 *
 * @example
 * ```ts
 * const { checkpoint } = openCheckpoint(note, [logVerifier], { origin: 'audit.example.com/ledger' });
 * checkpoint.size; checkpoint.rootHash;
 * ```
 */
export function openCheckpoint(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
  options: OpenCheckpointOptions = {},
): OpenedCheckpoint {
  const expectedOrigin = options.origin;
  if (expectedOrigin !== undefined) assertString(expectedOrigin, 'options.origin');
  const opened = openNote(note, verifiers);
  const checkpoint = parseCheckpoint(opened.text);
  if (expectedOrigin !== undefined && checkpoint.origin !== expectedOrigin) {
    throw new AuditError('FX_AUDIT_SIGNATURE', 'the checkpoint is for another log (origin does not match)');
  }
  return Object.freeze({
    checkpoint,
    text: opened.text,
    verified: opened.verified,
    unverified: opened.unverified,
  });
}
