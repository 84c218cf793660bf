/**
 * @module audit/note/note-syntax
 * The lexical rules shared by C2SP signed notes, checkpoints and tlog-proof files: strict UTF-8,
 * no control characters but newline, canonical standard base64, canonical decimals and key names.
 * Internal to `audit/note`; every parser there goes through these so that one byte string has at
 * most one accepted spelling (no malleable encodings that two verifiers could read differently).
 */
import { TextDecoder } from 'node:util';
import { AuditError, InvalidArgumentError } from '../../util/errors.js';

// fatal: malformed UTF-8 throws instead of becoming U+FFFD. ignoreBOM: a leading U+FEFF is part of
// the signed text (Go's note.Open keeps it too), so it must not be stripped silently.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Characters a key name must not contain besides controls: Unicode White_Space (exactly Go's
 * `unicode.IsSpace`) and plus (the vkey separator).
 */
const KEY_NAME_FORBIDDEN_RE = /[\p{White_Space}+]/u;

/** Canonical RFC 4648 §4 base64: padded, standard alphabet, no whitespace. */
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** ASCII decimal with no sign and no leading zero (except "0"), at most 16 digits (> 2^53). */
const DECIMAL_RE = /^(?:0|[1-9][0-9]{0,15})$/;

/** The std base64 alphabet's value of each character code (−1 for non-alphabet characters). */
const BASE64_VALUES: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/** Throws `FX_AUDIT_FORMAT` with `message`; the one place parse errors are built. */
export function formatError(message: string): never {
  throw new AuditError('FX_AUDIT_FORMAT', message);
}

/**
 * The text of `input` as a string, after checking it is well-formed UTF-8 (or, for a string, well-formed
 * UTF-16: no lone surrogates, which have no UTF-8 encoding) with no control character but newline.
 * `what` names the artefact in error messages, `argument` the parameter (for a wrong type).
 */
export function decodeNoteText(input: string | Uint8Array, what: string, argument: string): string {
  let text: string;
  if (typeof input === 'string') {
    if (!input.isWellFormed()) formatError(`${what} is not valid Unicode (lone surrogate)`);
    text = input;
  } else if (input instanceof Uint8Array) {
    try {
      text = strictUtf8.decode(input);
    } catch {
      return formatError(`${what} is not valid UTF-8`);
    }
  } else {
    throw new InvalidArgumentError(argument, 'expected a string or a Uint8Array');
  }
  const control = indexOfForbiddenControl(text);
  if (control !== -1) {
    const code = text.charCodeAt(control).toString(16).toUpperCase().padStart(4, '0');
    formatError(`${what} line ${lineNumberAt(text, control)} contains control character U+${code}`);
  }
  return text;
}

/**
 * Offset of the first ASCII control character other than newline (U+000A) in `text`, or −1.
 * C2SP signed-note forbids them all (CR, tab and NUL included); DEL and C1 controls are allowed,
 * as in the spec and Go.
 */
export function indexOfForbiddenControl(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return i;
  }
  return -1;
}

/** True if `text` has a control character other than newline. */
export function hasForbiddenControl(text: string): boolean {
  return indexOfForbiddenControl(text) !== -1;
}

/** 1-based line number of character offset `index` in `text`. */
export function lineNumberAt(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * True for a valid C2SP key name: non-empty, well-formed Unicode, no Unicode space, no plus and no
 * control character. Also used for checkpoint origins that Fortress writes (the spec's SHOULD).
 */
export function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    name.isWellFormed() &&
    !KEY_NAME_FORBIDDEN_RE.test(name) &&
    indexOfForbiddenControl(name) === -1 &&
    !name.includes('\n')
  );
}

/**
 * Decodes canonical standard base64 (RFC 4648 §4, padded, unused bits zero) into a fresh
 * Uint8Array, or returns undefined. Non-canonical spellings are refused so that every byte string
 * has exactly one accepted text form (Go's decoder tolerates non-zero pad bits; we do not).
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64_RE.test(text)) return undefined;
  const n = text.length;
  if (n > 0 && text.charCodeAt(n - 1) === 0x3d /* = */) {
    // "xx==" carries 8 bits in 12: the last 4 must be zero; "xxx=" carries 16 in 18: the last 2.
    const twoPads = text.charCodeAt(n - 2) === 0x3d;
    const last = BASE64_VALUES[text.charCodeAt(twoPads ? n - 3 : n - 2)]!;
    if ((last & (twoPads ? 0x0f : 0x03)) !== 0) return undefined;
  }
  const decoded = Buffer.from(text, 'base64');
  // Copy out of Buffer's shared pool so callers own exactly these bytes.
  return new Uint8Array(decoded);
}

/** Standard padded base64 of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Parses a canonical ASCII decimal (no sign, no leading zeros, not empty) that is a JS safe
 * integer; returns undefined for anything else.
 */
export function parseDecimal(text: string): number | undefined {
  if (!DECIMAL_RE.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}
