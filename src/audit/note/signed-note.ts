/**
 * @module audit/note/signed-note
 * C2SP signed notes (https://c2sp.org/signed-note), byte-compatible with Go's reference
 * implementation golang.org/x/mod/sumdb/note: text signed by one or more keys, verifier key
 * strings ("vkeys"), and the key IDs that bind a signature line to a key. The audit ledger's
 * checkpoints are signed notes, so third-party tools can check them without Fortress.
 *
 * Signature types: Ed25519 is the spec's type 0x01. C2SP assigns no byte to plain ML-DSA-65 note
 * signatures (0x06 is the ML-DSA-44 *cosignature*, whose signed message is a different structure),
 * so ML-DSA-65 uses the spec's 0xff escape, "reserved for signature types without an identifier
 * byte assigned by this specification … followed by a longer identifier that is unlikely to
 * collide": the identifier is the DER encoding of the ML-DSA-65 object identifier
 * 2.16.840.1.101.3.4.3.18 (RFC 9881 §2). So the signature type is the 12 bytes
 * `ff 06 09 60 86 48 01 65 03 04 03 12`, the key ID is SHA-256(name ‖ 0x0A ‖ those 12 bytes ‖
 * 1952-byte public key)[:4], and the signature is pure ML-DSA-65 (FIPS 204, empty context) over the
 * note text.
 */
import { createHash } from 'node:crypto';
import {
  createVerifier,
  signatureSizes,
  type Signer,
  type SignatureAlgorithm,
} from '../../crypto/signature/signature.js';
import { asBuffer, assertBytes, assertString, describe, isBytes } from '../../util/bytes.js';
import { AuditError, FortressError, InvalidArgumentError } from '../../util/errors.js';
import {
  decodeBase64,
  decodeNoteText,
  encodeBase64,
  formatError,
  hasForbiddenControl,
  isValidKeyName,
} from './note-syntax.js';

/** The signature algorithms this module can create verifiers and signers for. */
export type NoteSignatureAlgorithm = Extract<SignatureAlgorithm, 'ed25519' | 'ml-dsa-65'>;

/**
 * Most signature lines `openNote` reads (Go's note.Open limit; the spec requires at least 16).
 * More is refused as malformed rather than spending time on a hostile note.
 */
export const MAX_NOTE_SIGNATURES = 100;

/**
 * Largest signed note (UTF-8 bytes) `openNote` reads or `signNote` writes: 100 ML-DSA-87-sized
 * signature lines fit with room to spare. The spec asks verifiers to bound a note's size.
 */
export const MAX_NOTE_BYTES: number = 1 << 20;

/** The signature-type bytes that prefix the public key in key IDs and vkeys. */
const SIGNATURE_TYPE: Readonly<Record<NoteSignatureAlgorithm, Uint8Array>> = Object.freeze({
  // c2sp.org/signed-note: "0x01 — Ed25519 signatures as specified by this document".
  ed25519: Uint8Array.of(0x01),
  // 0xff escape + DER(OID 2.16.840.1.101.3.4.3.18, id-ml-dsa-65); see the module comment.
  'ml-dsa-65': Uint8Array.of(0xff, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12),
});

/** Em dash (U+2014) and space: the start of every signature line. */
const SIGNATURE_PREFIX = '\u2014 ';

const KEY_ID_HEX_RE = /^[0-9a-f]{8}$/;

/** Signs note texts with one key. `keyId` is the uint32 that prefixes each signature. */
export interface NoteSigner {
  /** The key name written in the signature line. */
  readonly name: string;
  /** The 32-bit key ID (big-endian on the wire). */
  readonly keyId: number;
  /** The raw signature (without key ID) of `message`, the note text's UTF-8 bytes. */
  sign(message: Uint8Array): Uint8Array;
}

/** Checks note signatures by one key, identified by name and key ID. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  /** True only for a valid raw signature (without key ID) of `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A NoteVerifier for a key type this module knows, which can print its vkey. */
export interface StandardNoteVerifier extends NoteVerifier {
  readonly algorithm: NoteSignatureAlgorithm;
  readonly publicKey: Uint8Array;
  /** The C2SP verifier key string `<name>+<hex key ID>+<base64(type ‖ public key)>`. */
  readonly verifierKey: string;
}

/** A NoteSigner for a key type this module knows, with its matching verifier. */
export interface StandardNoteSigner extends NoteSigner {
  readonly algorithm: NoteSignatureAlgorithm;
  /** The vkey to publish so that others can verify this signer's notes. */
  readonly verifierKey: string;
  verifier(): StandardNoteVerifier;
}

/** A parsed verifier key string. */
export interface VerifierKey {
  readonly name: string;
  readonly keyId: number;
  readonly algorithm: NoteSignatureAlgorithm;
  readonly publicKey: Uint8Array;
}

/** The key that made a signature line: its name and key ID. */
export interface NoteKeyRef {
  readonly name: string;
  readonly keyId: number;
}

/** A note whose signatures were checked by `openNote`. */
export interface OpenedNote {
  /** The note text, including its final newline (excluding the blank separator line). */
  readonly text: string;
  /** Known keys whose signatures verified, once each, in order of first appearance. */
  readonly verified: NoteKeyRef[];
  /** Keys no verifier was given for (ignored, per the spec), once each, in order. */
  readonly unverified: NoteKeyRef[];
}

/** One syntactically valid signature line. @internal */
export interface ParsedNoteSignature {
  readonly name: string;
  readonly keyId: number;
  /** The raw signature after the key ID. */
  readonly signature: Uint8Array;
  /** 1-based line number in the note, for error messages. */
  readonly line: number;
}

/** A signed note split into text and signature lines, nothing verified. @internal */
export interface ParsedNote {
  readonly text: string;
  /** The UTF-8 bytes of `text`: the signed message. */
  readonly textBytes: Uint8Array;
  readonly signatures: readonly ParsedNoteSignature[];
}

/** `keyId` as 8 lowercase hex digits, as in vkeys and error messages. */
export function keyIdHex(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

function checkAlgorithm(algorithm: unknown): asserts algorithm is NoteSignatureAlgorithm {
  if (algorithm !== 'ed25519' && algorithm !== 'ml-dsa-65') {
    throw new InvalidArgumentError('algorithm', 'expected "ed25519" or "ml-dsa-65"');
  }
}

function checkName(name: unknown, argument: string): asserts name is string {
  assertString(name, argument);
  if (!isValidKeyName(name)) {
    throw new InvalidArgumentError(
      argument,
      'a key name must be non-empty Unicode without spaces, plus signs or control characters',
    );
  }
}

function checkPublicKey(
  algorithm: NoteSignatureAlgorithm,
  publicKey: unknown,
): asserts publicKey is Uint8Array {
  assertBytes(publicKey, 'publicKey', { exact: signatureSizes(algorithm).publicKey });
}

function computeKeyId(name: string, type: Uint8Array, publicKey: Uint8Array): number {
  const digest = createHash('sha256')
    .update(name, 'utf8')
    .update('\n')
    .update(type)
    .update(publicKey)
    .digest();
  return digest.readUInt32BE(0);
}

/**
 * The C2SP key ID of a key: the first four bytes (big-endian) of
 * SHA-256(name ‖ 0x0A ‖ signature type ‖ public key).
 *
 * @example
 * ```ts
 * keyIdHex(noteKeyId('example.com/log', 'ed25519', publicKey)); // e.g. '530d903a'
 * ```
 */
export function noteKeyId(name: string, algorithm: NoteSignatureAlgorithm, publicKey: Uint8Array): number {
  checkName(name, 'name');
  checkAlgorithm(algorithm);
  checkPublicKey(algorithm, publicKey);
  return computeKeyId(name, SIGNATURE_TYPE[algorithm], publicKey);
}

/**
 * The C2SP verifier key string `<name>+<hex key ID>+<base64(signature type ‖ public key)>`.
 *
 * @example
 * ```ts
 * const vkey = formatVerifierKey('audit.example.com/log', 'ed25519', signer.publicKey);
 * // 'audit.example.com/log+1a2b3c4d+AR…'
 * ```
 */
export function formatVerifierKey(
  name: string,
  algorithm: NoteSignatureAlgorithm,
  publicKey: Uint8Array,
): string {
  const keyId = noteKeyId(name, algorithm, publicKey);
  const type = SIGNATURE_TYPE[algorithm];
  const material = new Uint8Array(type.length + publicKey.length);
  material.set(type, 0);
  material.set(publicKey, type.length);
  return `${name}+${keyIdHex(keyId)}+${encodeBase64(material)}`;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * Parses a verifier key string, checking the name, the lowercase hex key ID, the canonical base64
 * key, the signature type and key length, and that the key ID matches the name and key.
 * Throws `FX_AUDIT_FORMAT` for anything malformed or for a signature type this build does not verify.
 *
 * @example
 * ```ts
 * const { name, keyId, algorithm } = parseVerifierKey('example.com/foo+530d903a+AekyeRrm…');
 * ```
 */
export function parseVerifierKey(vkey: string): VerifierKey {
  assertString(vkey, 'vkey');
  // The name and hex ID cannot contain '+', but base64 can: split on the first two only.
  const first = vkey.indexOf('+');
  const second = first === -1 ? -1 : vkey.indexOf('+', first + 1);
  if (second === -1) formatError('verifier key: expected <name>+<key ID>+<key>');
  const name = vkey.slice(0, first);
  const hex = vkey.slice(first + 1, second);
  const material = decodeBase64(vkey.slice(second + 1));
  if (!isValidKeyName(name)) {
    formatError('verifier key: the name is empty or contains a space, plus or control character');
  }
  if (!KEY_ID_HEX_RE.test(hex)) formatError('verifier key: the key ID must be 8 lowercase hex digits');
  if (material === undefined || material.length === 0) {
    formatError('verifier key: the key is not non-empty canonical base64');
  }
  let algorithm: NoteSignatureAlgorithm;
  if (startsWith(material, SIGNATURE_TYPE.ed25519)) {
    algorithm = 'ed25519';
  } else if (startsWith(material, SIGNATURE_TYPE['ml-dsa-65'])) {
    algorithm = 'ml-dsa-65';
  } else {
    const type = material[0]!;
    return formatError(
      `verifier key: unsupported signature type 0x${type.toString(16).padStart(2, '0')}${type === 0xff ? ' (unknown 0xff identifier)' : ''}`,
    );
  }
  const type = SIGNATURE_TYPE[algorithm];
  const publicKey = material.slice(type.length);
  const expected = signatureSizes(algorithm).publicKey;
  if (publicKey.length !== expected) {
    formatError(`verifier key: an ${algorithm} public key is ${expected} bytes, got ${publicKey.length}`);
  }
  const keyId = computeKeyId(name, type, publicKey);
  if (keyIdHex(keyId) !== hex) formatError('verifier key: the key ID does not match the name and key');
  return Object.freeze({ name, keyId, algorithm, publicKey });
}

function standardVerifier(
  name: string,
  algorithm: NoteSignatureAlgorithm,
  publicKey: Uint8Array,
): StandardNoteVerifier {
  // No ML-DSA context: a C2SP note signature is over the note text alone, so any verifier
  // (Fortress or not) checks it with the empty FIPS 204 context.
  const inner = createVerifier(algorithm, publicKey);
  const verifierKey = formatVerifierKey(name, algorithm, inner.publicKey);
  return Object.freeze({
    name,
    keyId: computeKeyId(name, SIGNATURE_TYPE[algorithm], inner.publicKey),
    algorithm,
    // A copy: the inner verifier may check against its own array, which callers must not reach.
    publicKey: new Uint8Array(inner.publicKey),
    verifierKey,
    verify: (message: Uint8Array, signature: Uint8Array): boolean => inner.verify(message, signature),
  });
}

/**
 * A note verifier for an Ed25519 public key (signature type 0x01).
 *
 * @example
 * ```ts
 * const verifier = ed25519NoteVerifier('audit.example.com/log', publicKey);
 * openNote(note, [verifier]).text;
 * ```
 */
export function ed25519NoteVerifier(name: string, publicKey: Uint8Array): StandardNoteVerifier {
  checkName(name, 'name');
  checkPublicKey('ed25519', publicKey);
  return standardVerifier(name, 'ed25519', publicKey);
}

/**
 * A note verifier for an ML-DSA-65 public key (signature type 0xff + id-ml-dsa-65; see the module
 * comment).
 *
 * @example
 * ```ts
 * const verifier = mlDsa65NoteVerifier('audit.example.com/log', publicKey);
 * ```
 */
export function mlDsa65NoteVerifier(name: string, publicKey: Uint8Array): StandardNoteVerifier {
  checkName(name, 'name');
  checkPublicKey('ml-dsa-65', publicKey);
  return standardVerifier(name, 'ml-dsa-65', publicKey);
}

/**
 * A note verifier from a verifier key string (see `parseVerifierKey`).
 *
 * @example
 * ```ts
 * const verifier = noteVerifierFromKey(config.audit.logKey);
 * ```
 */
export function noteVerifierFromKey(vkey: string): StandardNoteVerifier {
  const parsed = parseVerifierKey(vkey);
  try {
    return standardVerifier(parsed.name, parsed.algorithm, parsed.publicKey);
  } catch (cause) {
    // The crypto layer rejects a key it cannot load (e.g. not a curve point): for a vkey that is
    // malformed input, not a programming error.
    if (cause instanceof FortressError) formatError(`verifier key: ${cause.message}`);
    throw cause;
  }
}

function standardSigner(name: string, algorithm: NoteSignatureAlgorithm, signer: Signer): StandardNoteSigner {
  const verifier = standardVerifier(name, algorithm, signer.publicKey);
  return Object.freeze({
    name,
    keyId: verifier.keyId,
    algorithm,
    verifierKey: verifier.verifierKey,
    sign: (message: Uint8Array): Uint8Array => signer.sign(message),
    verifier: (): StandardNoteVerifier => verifier,
  });
}

function checkSigner(signer: unknown, algorithm: NoteSignatureAlgorithm): asserts signer is Signer {
  const candidate = signer as Partial<Signer> | null | undefined;
  if (
    typeof candidate !== 'object' ||
    candidate?.algorithm !== algorithm ||
    typeof candidate.sign !== 'function' ||
    !isBytes(candidate.publicKey)
  ) {
    throw new InvalidArgumentError('signer', `expected an ${algorithm} Signer, got ${describe(signer)}`);
  }
}

/**
 * A note signer over an Ed25519 `Signer` from `crypto/signature` (which it uses but does not own:
 * dispose the Signer when done). Ed25519 is deterministic, so the same key and text always give
 * the same note.
 *
 * @example
 * ```ts
 * using key = createSigner('ed25519', seed);
 * const signer = ed25519NoteSigner('audit.example.com/log', key);
 * const note = signNote('hello\n', [signer]);
 * signer.verifierKey; // publish this
 * ```
 */
export function ed25519NoteSigner(name: string, signer: Signer): StandardNoteSigner {
  checkName(name, 'name');
  checkSigner(signer, 'ed25519');
  return standardSigner(name, 'ed25519', signer);
}

/**
 * A note signer over an ML-DSA-65 `Signer` (used, not owned). The Signer must have been created
 * without a context: note signatures use the empty FIPS 204 context so that anyone holding the
 * vkey can verify them. This is checked once here by signing the empty message (which can never be
 * a note text, since note texts end in a newline) and verifying it context-free.
 *
 * @example
 * ```ts
 * using key = createSigner('ml-dsa-65', seed);
 * const note = signNote(text, [ed25519NoteSigner(name, edKey), mlDsa65NoteSigner(name, key)]);
 * ```
 */
export function mlDsa65NoteSigner(name: string, signer: Signer): StandardNoteSigner {
  checkName(name, 'name');
  checkSigner(signer, 'ml-dsa-65');
  const noteSigner = standardSigner(name, 'ml-dsa-65', signer);
  const probe = new Uint8Array(0);
  if (!noteSigner.verifier().verify(probe, signer.sign(probe))) {
    throw new InvalidArgumentError(
      'signer',
      'the ML-DSA-65 signer uses a non-empty context; note signatures need the empty context',
    );
  }
  return noteSigner;
}

function checkNoteText(text: unknown): asserts text is string {
  assertString(text, 'text');
  if (!text.endsWith('\n')) throw new InvalidArgumentError('text', 'a note text must end with a newline');
  if (!text.isWellFormed()) throw new InvalidArgumentError('text', 'a note text must be valid Unicode');
  if (hasForbiddenControl(text)) {
    throw new InvalidArgumentError('text', 'a note text must not contain control characters but newline');
  }
}

/**
 * Signs `text` with every signer and returns the signed note: the text, a blank line, then one
 * line `— <name> base64(key ID ‖ signature)` per signer, in order. Throws `FX_INVALID_ARGUMENT` for
 * a text that is not valid note text (must end in a newline; no control characters but newline),
 * no signers, more than `MAX_NOTE_SIGNATURES`, two signers with the same name and key ID, or a
 * signer that returns no signature.
 *
 * @example
 * ```ts
 * const note = signNote('example.com/log\n5\n…=\n', [signer]);
 * ```
 */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkNoteText(text);
  if (!Array.isArray(signers) || signers.length === 0 || signers.length > MAX_NOTE_SIGNATURES) {
    throw new InvalidArgumentError('signers', `expected an array of 1 to ${MAX_NOTE_SIGNATURES} NoteSigners`);
  }
  const message = Buffer.from(text, 'utf8');
  const seen = new Set<string>();
  let note = `${text}\n`;
  for (const signer of signers as readonly unknown[]) {
    const s = signer as Partial<NoteSigner> | null;
    if (typeof s !== 'object' || s === null || typeof s.sign !== 'function') {
      throw new InvalidArgumentError('signers', `expected NoteSigner objects, got ${describe(signer)}`);
    }
    checkName(s.name, 'signers[].name');
    if (!isUint32(s.keyId)) throw new InvalidArgumentError('signers[].keyId', 'expected a uint32');
    const ref = `${s.name} ${s.keyId}`;
    if (seen.has(ref)) {
      throw new InvalidArgumentError('signers', `two signers for key ${s.name}+${keyIdHex(s.keyId)}`);
    }
    seen.add(ref);
    const signature: unknown = s.sign(message);
    if (!isBytes(signature) || signature.length === 0) {
      throw new InvalidArgumentError('signers', `signer ${s.name} returned no signature bytes`);
    }
    const raw = new Uint8Array(4 + signature.length);
    new DataView(raw.buffer).setUint32(0, s.keyId);
    raw.set(signature, 4);
    note += `${SIGNATURE_PREFIX}${s.name} ${encodeBase64(raw)}\n`;
  }
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) {
    throw new InvalidArgumentError('signers', `the signed note would exceed ${MAX_NOTE_BYTES} bytes`);
  }
  return note;
}

function countNewlines(text: string): number {
  let count = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

/**
 * Splits a signed note into its text and syntactically valid signature lines, verifying nothing.
 * Throws `FX_AUDIT_FORMAT` naming the line for anything the spec (or Go's note.Open) rejects.
 * @internal Parsers of formats that embed a note use this; everyone else calls `openNote`.
 */
export function parseSignedNote(note: string | Uint8Array, what = 'signed note'): ParsedNote {
  // Cheap size bound before any decoding: UTF-16 length never exceeds UTF-8 length.
  if ((typeof note === 'string' || isBytes(note)) && note.length > MAX_NOTE_BYTES) {
    formatError(`${what} is longer than ${MAX_NOTE_BYTES} bytes`);
  }
  const str = decodeNoteText(note, what, 'note');
  const bytes = typeof note === 'string' ? Buffer.from(note, 'utf8') : asBuffer(note);
  if (bytes.length > MAX_NOTE_BYTES) formatError(`${what} is longer than ${MAX_NOTE_BYTES} bytes`);
  // The text ends at the *last* blank line: texts may contain blank lines, signatures cannot.
  // 0x0A never occurs inside a multi-byte UTF-8 sequence, so the last "\n\n" in the string and in
  // the bytes is the same one.
  const split = str.lastIndexOf('\n\n');
  if (split === -1) formatError(`${what} has no blank line between its text and signatures`);
  const byteSplit = bytes.lastIndexOf('\n\n');
  const text = str.slice(0, split + 1);
  const block = str.slice(split + 2);
  if (block.length === 0) formatError(`${what} has no signature lines`);
  if (!block.endsWith('\n')) formatError(`${what} does not end with a newline`);
  const lines = block.slice(0, -1).split('\n', MAX_NOTE_SIGNATURES + 1);
  if (lines.length > MAX_NOTE_SIGNATURES) {
    formatError(`${what} has more than ${MAX_NOTE_SIGNATURES} signature lines`);
  }
  const firstLine = countNewlines(text) + 2;
  const signatures = lines.map((line, i): ParsedNoteSignature => {
    const lineNo = firstLine + i;
    const where = `${what} line ${lineNo}`;
    if (!line.startsWith(SIGNATURE_PREFIX)) {
      formatError(`${where}: a signature line must start with an em dash (U+2014) and a space`);
    }
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space === -1) formatError(`${where}: no space between the key name and the signature`);
    const name = rest.slice(0, space);
    if (!isValidKeyName(name)) {
      formatError(`${where}: the key name is empty or contains a space, plus or control character`);
    }
    const raw = decodeBase64(rest.slice(space + 1));
    if (raw === undefined) formatError(`${where}: the signature is not canonical base64`);
    if (raw.length < 5) formatError(`${where}: the signature is shorter than a key ID and one byte`);
    const keyId = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(0);
    return { name, keyId, signature: raw.subarray(4), line: lineNo };
  });
  return { text, textBytes: bytes.subarray(0, byteSplit + 1), signatures };
}

function indexVerifiers(verifiers: readonly NoteVerifier[]): Map<string, NoteVerifier> {
  if (!Array.isArray(verifiers)) {
    throw new InvalidArgumentError(
      'verifiers',
      `expected an array of NoteVerifiers, got ${describe(verifiers)}`,
    );
  }
  const known = new Map<string, NoteVerifier>();
  for (const verifier of verifiers as readonly unknown[]) {
    const v = verifier as Partial<NoteVerifier> | null;
    if (typeof v !== 'object' || v === null || typeof v.verify !== 'function') {
      throw new InvalidArgumentError('verifiers', `expected NoteVerifier objects, got ${describe(verifier)}`);
    }
    checkName(v.name, 'verifiers[].name');
    if (!isUint32(v.keyId)) throw new InvalidArgumentError('verifiers[].keyId', 'expected a uint32');
    const ref = `${v.name} ${v.keyId}`;
    const existing = known.get(ref);
    // Two different keys under one (name, key ID) make the lookup ambiguous: Go's VerifierList
    // reports this as an error too, rather than picking one.
    if (existing !== undefined && existing !== verifier) {
      throw new InvalidArgumentError(
        'verifiers',
        `two verifiers share key name ${v.name} and key ID ${keyIdHex(v.keyId)}`,
      );
    }
    known.set(ref, verifier as NoteVerifier);
  }
  return known;
}

/**
 * Parses a signed note and checks its signatures against `verifiers`, following c2sp.org/signed-note:
 * signatures by keys not in `verifiers` (name and key ID both matching) are ignored and listed
 * as unverified; every signature by a known key must verify, or the whole note is rejected with
 * `FX_AUDIT_SIGNATURE`; and at least one must, or `FX_AUDIT_SIGNATURE` too. A malformed note throws
 * `FX_AUDIT_FORMAT` (checked before any signature). Only use `text` after this returns.
 *
 * @example
 * ```ts
 * const { text, verified } = openNote(note, [noteVerifierFromKey(vkey)]);
 * ```
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const parsed = parseSignedNote(note);
  const known = indexVerifiers(verifiers);
  const verified: NoteKeyRef[] = [];
  const unverified: NoteKeyRef[] = [];
  const seen = new Set<string>();
  for (const { name, keyId, signature, line } of parsed.signatures) {
    const ref = `${name} ${keyId}`;
    const verifier = known.get(ref);
    if (verifier === undefined) {
      if (!seen.has(ref)) unverified.push(Object.freeze({ name, keyId }));
      seen.add(ref);
      continue;
    }
    // Unlike Go's note.Open, a repeated line by a known key is verified too: the spec says a
    // signature by a known key MUST be verified, so a bad duplicate cannot hide behind a good one.
    // Exactly `true`: a custom verifier that returns something truthy (say, a Promise) must not pass.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-boolean-literal-compare
    if (verifier.verify(parsed.textBytes, signature) !== true) {
      throw new AuditError(
        'FX_AUDIT_SIGNATURE',
        `signed note line ${line}: the signature by known key ${name}+${keyIdHex(keyId)} does not verify`,
      );
    }
    if (!seen.has(ref)) verified.push(Object.freeze({ name, keyId }));
    seen.add(ref);
  }
  if (verified.length === 0) {
    throw new AuditError(
      'FX_AUDIT_SIGNATURE',
      `signed note has no signature by a known key (${unverified.length} by unknown keys)`,
    );
  }
  return Object.freeze({ text: parsed.text, verified, unverified });
}
