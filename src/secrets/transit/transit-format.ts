/**
 * @module secrets/transit/transit-format
 * The strings transit hands out: `fx:v<version>:<base64>` for ciphertexts, HMACs and signatures
 * (docs/formats.md § Transit). The version is the key version the value was made with, so callers
 * can see which values a rotation left behind without asking the server; for ciphertexts it
 * repeats the envelope header's version and the two must agree.
 */
import { base64Length, decodeBase64Into } from '../../util/base64.js';
import { FortressError } from '../../util/errors.js';

const PREFIX_RE = /^fx:v([1-9][0-9]{0,9}):/;

/** `fx:v<n>:` of the first versions, made once (a batch formats one per item). */
const PREFIXES: readonly string[] = Array.from({ length: 64 }, (_, v) => `fx:v${v}:`);

/** `fx:v<version>:<base64 of bytes>`. */
export function formatVersioned(version: number, bytes: Uint8Array): string {
  return (version < PREFIXES.length ? PREFIXES[version]! : `fx:v${version}:`) + encodeBase64(bytes);
}

/** The version and bytes of an `fx:v<n>:…` string; `what` names the value in errors. */
export function parseVersioned(value: unknown, what: string): { version: number; bytes: Buffer } {
  if (typeof value !== 'string') {
    throw new FortressError(
      'FX_TRANSIT_CIPHERTEXT_INVALID',
      `${what}: expected a string "fx:v<version>:<base64>"`,
    );
  }
  const match = PREFIX_RE.exec(value);
  if (match === null) {
    throw new FortressError(
      'FX_TRANSIT_CIPHERTEXT_INVALID',
      `${what}: expected "fx:v<version>:<base64>" (it does not start with fx:v<version>:)`,
    );
  }
  const version = Number(match[1]);
  const start = match[0].length;
  const length = base64Length(value, start);
  const bytes = length < 0 ? null : Buffer.allocUnsafe(length);
  if (version > 0xffff_ffff || bytes === null || decodeBase64Into(value, start, bytes, 0) < 0) {
    throw new FortressError(
      'FX_TRANSIT_CIPHERTEXT_INVALID',
      `${what}: the part after fx:v${match[1]}: is not base64`,
    );
  }
  return { version, bytes };
}

function notBase64(what: string): FortressError {
  return new FortressError('FX_INVALID_ARGUMENT', `${what}: expected standard base64 (with padding)`);
}

/** The bytes a strict base64 field decodes to, or its error. */
function checkedLength(value: unknown, what: string, maxBytes: number): number {
  const length = typeof value === 'string' ? base64Length(value) : -1;
  if (length < 0) throw notBase64(what);
  if (length > maxBytes)
    throw new FortressError('FX_VALUE_TOO_LARGE', `${what}: more than ${maxBytes} bytes`);
  return length;
}

/** Decodes a checked field of `length` bytes into `out` at `offset`; on failure zeroes what it wrote. */
function decodeAt(value: unknown, what: string, length: number, out: Buffer, offset: number): void {
  if (decodeBase64Into(value as string, 0, out, offset) < 0) {
    out.fill(0, offset, offset + length);
    throw notBase64(what);
  }
}

/** Strict standard base64 (padding required) to bytes; `what` names the field in errors. */
export function decodeBase64(value: unknown, what: string, maxBytes: number): Buffer {
  const length = checkedLength(value, what, maxBytes);
  const bytes = Buffer.allocUnsafe(length);
  decodeAt(value, what, length, bytes, 0);
  return bytes;
}

/**
 * The base64 fields of one request (a batch's plaintexts) decoded into one buffer: no allocation
 * per field, and one `wipe()` zeroes every plaintext the request carried once it is answered —
 * rather than leaving them in Buffer's shared pool until overwritten.
 *
 * @example
 * ```ts
 * const arena = new Base64Arena(items.reduce((n, i) => n + i.plaintext.length, 0));
 * try { plaintexts = items.map((i, k) => arena.decode(i.plaintext, `batch[${k}].plaintext`, max)); … }
 * finally { arena.wipe(); }
 * ```
 */
export class Base64Arena {
  readonly #bytes: Buffer;
  #used = 0;

  /** `chars`: how many base64 characters it will decode in all (more is refused). */
  constructor(chars: number) {
    this.#bytes = Buffer.alloc(Math.ceil(chars / 4) * 3);
  }

  /** As {@link decodeBase64}; the bytes are a view into the arena, zeroed by `wipe()`. */
  decode(value: unknown, what: string, maxBytes: number): Uint8Array {
    const length = checkedLength(value, what, maxBytes);
    const start = this.#used;
    if (start + length > this.#bytes.length) {
      throw new FortressError('FX_INTERNAL', `${what}: the request's base64 arena is full`);
    }
    decodeAt(value, what, length, this.#bytes, start);
    this.#used = start + length;
    return new Uint8Array(this.#bytes.buffer, this.#bytes.byteOffset + start, length);
  }

  /** Zeroes every decoded byte. */
  wipe(): void {
    this.#bytes.fill(0, 0, this.#used);
  }
}

/** Bytes to standard base64 (a Buffer, such as an envelope, without a second view). */
export function encodeBase64(bytes: Uint8Array): string {
  const buffer =
    bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buffer.toString('base64');
}
