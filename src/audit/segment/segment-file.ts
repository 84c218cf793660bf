/**
 * @module audit/segment/segment-file
 * Archive segments: a run of audit entries moved out of the hot store into a signed, self-checking
 * text file (see docs/formats.md § Audit segment files). Layout:
 *
 *     fortress.audit-segment/v1
 *     <entry first, canonical JSON, one line>
 *     …
 *     <entry first+count-1>
 *     <blank line>
 *     <segment note: a C2SP signed note, text = header, origin, first, count, sha256 of the entry lines>
 *     <blank line>
 *     <the signed checkpoint that covered the segment when it was written>
 *
 * Entries contain no raw newline (JSON escapes it), so each is one line. The segment note signs
 * the SHA-256 of the entry lines (each with its "\n"), so a changed, dropped or reordered entry
 * fails before the tree is even consulted; the tree's leaf hashes check each entry again.
 */
import { createHash } from 'node:crypto';
import { AuditError } from '../../util/errors.js';
import { openCheckpoint, type ParsedCheckpoint } from '../note/checkpoint.js';
import { openNote, signNote, type NoteSigner, type NoteVerifier } from '../note/signed-note.js';

export const SEGMENT_HEADER = 'fortress.audit-segment/v1';

export interface SegmentContents {
  readonly origin: string;
  readonly first: number;
  /** Canonical entry bytes, in order (seq first, first+1, …). */
  readonly entries: readonly Uint8Array[];
  /** A signed checkpoint whose size covers the segment. */
  readonly checkpointNote: string;
}

export interface OpenedSegment extends SegmentContents {
  readonly checkpoint: ParsedCheckpoint;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function bad(message: string): never {
  throw new AuditError('FX_AUDIT_FORMAT', `audit segment: ${message}`);
}

/** `segment-<first>-<last>.fxseg` with zero-padded numbers, so files sort in log order. */
export function segmentFileName(first: number, count: number): string {
  const pad = (n: number): string => String(n).padStart(16, '0');
  return `segment-${pad(first)}-${pad(first + count - 1)}.fxseg`;
}

function noteText(origin: string, first: number, count: number, digest: string): string {
  return `${SEGMENT_HEADER}\n${origin}\nfirst ${first}\ncount ${count}\nsha256 ${digest}\n`;
}

/** Formats and signs a segment; returns the file text and the base64 SHA-256 of its entry lines. */
export function formatSegment(
  contents: SegmentContents,
  signers: readonly NoteSigner[],
): { text: string; sha256: string } {
  const lines = contents.entries.map((entry) => {
    const line = decoder.decode(entry);
    if (line.includes('\n')) bad('an entry contains a newline (not canonical JSON)');
    return `${line}\n`;
  });
  const body = lines.join('');
  const sha256 = createHash('sha256').update(body).digest('base64');
  const note = signNote(noteText(contents.origin, contents.first, contents.entries.length, sha256), signers);
  return { text: `${SEGMENT_HEADER}\n${body}\n${note}\n${contents.checkpointNote}`, sha256 };
}

/**
 * Parses a segment file and checks its signatures with `verifiers` (the log's pinned keys): the
 * segment note, the entry digest it signs, and the checkpoint. Throws FX_AUDIT_FORMAT for a
 * malformed file and FX_AUDIT_SIGNATURE for a bad or missing signature.
 */
export function openSegment(file: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedSegment {
  let text: string;
  try {
    text = typeof file === 'string' ? file : decoder.decode(file);
  } catch {
    return bad('not UTF-8');
  }
  if (!text.startsWith(`${SEGMENT_HEADER}\n`)) bad(`the first line is not ${SEGMENT_HEADER}`);
  const bodyEnd = text.indexOf('\n\n', SEGMENT_HEADER.length);
  if (bodyEnd < 0) bad('no blank line after the entries');
  const body = text.slice(SEGMENT_HEADER.length + 1, bodyEnd + 1);
  const rest = text.slice(bodyEnd + 2);
  // The segment note: five text lines, a blank line, signature lines; then a blank line.
  const restLines = rest.split('\n');
  let end = 6;
  while (end < restLines.length && restLines[end]!.startsWith('\u2014 ')) end++;
  if (end === 6 || restLines[end] !== '') bad('the segment note is malformed');
  const noteSource = `${restLines.slice(0, end).join('\n')}\n`;
  const checkpointNote = restLines.slice(end + 1).join('\n');
  const opened = openNote(noteSource, verifiers);
  const fields = opened.text.split('\n');
  if (fields.length !== 6 || fields[0] !== SEGMENT_HEADER) bad('the segment note text is malformed');
  const origin = fields[1]!;
  const first = /^first (0|[1-9]\d{0,15})$/.exec(fields[2]!)?.[1];
  const count = /^count ([1-9]\d{0,15})$/.exec(fields[3]!)?.[1];
  const digest = /^sha256 ([A-Za-z0-9+/]{43}=)$/.exec(fields[4]!)?.[1];
  if (first === undefined || count === undefined || digest === undefined)
    bad('the segment note text is malformed');
  if (createHash('sha256').update(body).digest('base64') !== digest) {
    throw new AuditError(
      'FX_AUDIT_VERIFY_FAILED',
      'audit segment: the entries do not match the signed digest',
    );
  }
  const entries =
    body.length === 0
      ? []
      : body
          .slice(0, -1)
          .split('\n')
          .map((line) => Buffer.from(line, 'utf8'));
  if (entries.length !== Number(count)) bad(`the note says ${count} entries, the file has ${entries.length}`);
  const { checkpoint } = openCheckpoint(checkpointNote, verifiers, { origin });
  if (checkpoint.size < Number(first) + entries.length) bad('the checkpoint does not cover the segment');
  return { origin, first: Number(first), entries, checkpointNote, checkpoint };
}
