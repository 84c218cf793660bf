/**
 * @module secrets/transit/transit-format
 * The strings transit hands out: `fx:v<version>:<base64>` for ciphertexts, HMACs and signatures
 * (docs/formats.md § Transit). The version is the key version the value was made with, so callers
 * can see which values a rotation left behind without asking the server; for ciphertexts it
 * repeats the envelope header's version and the two must agree.
 */
import { FortressError } from '../../util/errors.js';

const PREFIX_RE = /^fx:v([1-9][0-9]{0,9}):/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** `fx:v<version>:<base64 of bytes>`. */
export function formatVersioned(version: number, bytes: Uint8Array): string {
  return `fx:v${version}:${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
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
  const body = value.slice(match[0].length);
  if (version > 0xffff_ffff || body.length % 4 !== 0 || !BASE64_RE.test(body)) {
    throw new FortressError(
      'FX_TRANSIT_CIPHERTEXT_INVALID',
      `${what}: the part after fx:v${match[1]}: is not base64`,
    );
  }
  return { version, bytes: Buffer.from(body, 'base64') };
}

/** Strict standard base64 (padding required) to bytes; `what` names the field in errors. */
export function decodeBase64(value: unknown, what: string, maxBytes: number): Buffer {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64_RE.test(value)) {
    throw new FortressError('FX_INVALID_ARGUMENT', `${what}: expected standard base64 (with padding)`);
  }
  if ((value.length / 4) * 3 > maxBytes + 2) {
    throw new FortressError('FX_VALUE_TOO_LARGE', `${what}: more than ${maxBytes} bytes`);
  }
  return Buffer.from(value, 'base64');
}

/** Bytes to standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
