/**
 * @module engine/codec/value-codec
 * The typed encoding inside every encrypted value (docs/formats.md § Typed values): one tag byte
 * naming the type, then the payload. The tag travels inside the ciphertext, so a value decrypts to
 * the same JavaScript type it was written as, and null is encrypted like any other value (an
 * attacker cannot tell a null from a short value except by length).
 *
 * Row envelopes (row and table encryption levels) hold several columns:
 * `0x01 | (u8 name length | name | u32 value length | typed value)*`.
 */
import { FortressError } from '../../util/errors.js';
import type { ColumnType } from '../schema/column-types.js';

export const TAG = {
  null: 0,
  text: 1,
  integer: 2,
  real: 3,
  boolean: 4,
  timestamp: 5,
  json: 6,
  bytes: 7,
  uuid: 8,
} as const;

const TAG_OF: Readonly<Record<ColumnType, number>> = TAG;
const ROW_FORMAT = 1;
const NULL_VALUE: Buffer = Buffer.from([TAG.null]);

/** The typed encoding of a checked value (see `checkValue`), or of null. */
export function encodeValue(type: ColumnType, checked: unknown): Buffer {
  if (checked === null || checked === undefined) return NULL_VALUE;
  const tag = TAG_OF[type];
  switch (type) {
    case 'text':
    case 'json': {
      const text = checked as string;
      const out = Buffer.allocUnsafe(1 + Buffer.byteLength(text, 'utf8'));
      out[0] = tag;
      out.write(text, 1, 'utf8');
      return out;
    }
    case 'integer':
    case 'timestamp': {
      const out = Buffer.allocUnsafe(9);
      out[0] = tag;
      const n = type === 'timestamp' ? (checked as Date).getTime() : (checked as number);
      out.writeBigInt64BE(BigInt(n), 1);
      return out;
    }
    case 'real': {
      const out = Buffer.allocUnsafe(9);
      out[0] = tag;
      out.writeDoubleBE(checked as number, 1);
      return out;
    }
    case 'boolean':
      return Buffer.from([tag, checked === true ? 1 : 0]);
    case 'bytes': {
      const bytes = checked as Uint8Array;
      const out = Buffer.allocUnsafe(1 + bytes.length);
      out[0] = tag;
      out.set(bytes, 1);
      return out;
    }
    case 'uuid': {
      const out = Buffer.from('00' + (checked as string).replaceAll('-', ''), 'hex');
      out[0] = tag;
      return out;
    }
  }
}

function corrupt(column: string): FortressError {
  return new FortressError(
    'FX_INTEGRITY',
    `column ${column}: the decrypted value is not a well-formed typed value for its column`,
  );
}

/** Decodes a typed encoding as `type`'s JavaScript value (or null). */
export function decodeValue(type: ColumnType, bytes: Uint8Array, column: string): unknown {
  if (bytes.length === 0) throw corrupt(column);
  const tag = bytes[0]!;
  if (tag === TAG.null) {
    if (bytes.length !== 1) throw corrupt(column);
    return null;
  }
  if (tag !== TAG_OF[type]) {
    throw new FortressError(
      'FX_TYPE_MISMATCH',
      `column ${column}: the stored value has another type than the column's ${type}`,
    );
  }
  // Decrypted values already arrive as Buffers: no second view object for them.
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  switch (type) {
    case 'text':
      return buffer.toString('utf8', 1);
    case 'json':
      return JSON.parse(buffer.toString('utf8', 1)) as unknown;
    case 'integer':
      if (bytes.length !== 9) throw corrupt(column);
      return Number(buffer.readBigInt64BE(1));
    case 'timestamp':
      if (bytes.length !== 9) throw corrupt(column);
      return new Date(Number(buffer.readBigInt64BE(1)));
    case 'real':
      if (bytes.length !== 9) throw corrupt(column);
      return buffer.readDoubleBE(1);
    case 'boolean':
      if (bytes.length !== 2 || bytes[1]! > 1) throw corrupt(column);
      return bytes[1] === 1;
    case 'bytes':
      return Buffer.from(buffer.subarray(1));
    case 'uuid': {
      if (bytes.length !== 17) throw corrupt(column);
      const hex = buffer.toString('hex', 1);
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    }
  }
}

/** One column of a row envelope: its name and typed encoding. */
export interface RowEntry {
  readonly name: string;
  readonly encoded: Uint8Array;
}

/** Encodes the entries of a row envelope's plaintext. */
export function encodeRow(entries: readonly RowEntry[]): Buffer {
  let length = 1;
  const names: Buffer[] = [];
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    names.push(name);
    length += 1 + name.length + 4 + entry.encoded.length;
  }
  const out = Buffer.allocUnsafe(length);
  out[0] = ROW_FORMAT;
  let offset = 1;
  for (let i = 0; i < entries.length; i++) {
    const name = names[i]!;
    out[offset++] = name.length;
    out.set(name, offset);
    offset += name.length;
    const encoded = entries[i]!.encoded;
    out.writeUInt32BE(encoded.length, offset);
    offset += 4;
    out.set(encoded, offset);
    offset += encoded.length;
  }
  return out;
}

/** Splits a row envelope's plaintext into name → typed encoding (views into `bytes`). */
export function decodeRow(bytes: Uint8Array, table: string): Map<string, Uint8Array> {
  const bad = (): FortressError =>
    new FortressError('FX_INTEGRITY', `table ${table}: a row envelope's plaintext is malformed`);
  if (bytes.length === 0 || bytes[0] !== ROW_FORMAT) throw bad();
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const entries = new Map<string, Uint8Array>();
  let offset = 1;
  while (offset < bytes.length) {
    const nameLength = bytes[offset++]!;
    if (offset + nameLength + 4 > bytes.length) throw bad();
    const name = buffer.toString('utf8', offset, offset + nameLength);
    offset += nameLength;
    const valueLength = buffer.readUInt32BE(offset);
    offset += 4;
    if (offset + valueLength > bytes.length) throw bad();
    entries.set(name, buffer.subarray(offset, offset + valueLength));
    offset += valueLength;
  }
  return entries;
}
