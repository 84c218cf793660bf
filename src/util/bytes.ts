/**
 * @module util/bytes
 * Small byte helpers and argument guards shared by every layer. Nothing here is cryptographic.
 */
import { TextDecoder, TextEncoder } from 'node:util';
import { InvalidArgumentError } from './errors.js';

export const utf8Encoder: TextEncoder = new TextEncoder();
export const utf8Decoder: TextDecoder = new TextDecoder('utf-8', { fatal: true });

/** True for any Uint8Array (Buffer included), false for other typed arrays and everything else. */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** Throws `FX_INVALID_ARGUMENT` unless `value` is a Uint8Array of an allowed length. */
export function assertBytes(
  value: unknown,
  argument: string,
  length?: { exact?: number; min?: number; max?: number },
): asserts value is Uint8Array {
  if (!isBytes(value)) {
    throw new InvalidArgumentError(argument, `expected a Uint8Array, got ${describe(value)}`);
  }
  if (length === undefined) return;
  if (length.exact !== undefined && value.length !== length.exact) {
    throw new InvalidArgumentError(argument, `expected ${length.exact} bytes, got ${value.length}`);
  }
  if (length.min !== undefined && value.length < length.min) {
    throw new InvalidArgumentError(argument, `expected at least ${length.min} bytes, got ${value.length}`);
  }
  if (length.max !== undefined && value.length > length.max) {
    throw new InvalidArgumentError(argument, `expected at most ${length.max} bytes, got ${value.length}`);
  }
}

/** Throws `FX_INVALID_ARGUMENT` unless `value` is an integer in [min, max]. */
export function assertInteger(
  value: unknown,
  argument: string,
  min: number,
  max: number,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new InvalidArgumentError(argument, `expected an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new InvalidArgumentError(argument, `expected an integer from ${min} to ${max}, got ${value}`);
  }
}

/** Throws `FX_INVALID_ARGUMENT` unless `value` is a plain options object (not null, not an array). */
export function assertOptions(value: unknown, argument: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isBytes(value)) {
    throw new InvalidArgumentError(argument, `expected an options object, got ${describe(value)}`);
  }
}

/**
 * Throws `FX_INVALID_ARGUMENT` naming the first field of `value` not in `known`: an options object
 * with a misspelt field (`{ Cas: 3 }`) is refused instead of silently doing without it. No
 * allocation (it runs per item of a batch).
 */
export function assertKnownFields(value: object, known: readonly string[], argument: string): void {
  for (const key in value) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(
        argument,
        `unknown field ${JSON.stringify(key.slice(0, 40))} (expected ${known.join(', ')})`,
      );
    }
  }
}

/** Throws `FX_INVALID_ARGUMENT` unless `value` is a string. */
export function assertString(value: unknown, argument: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(argument, `expected a string, got ${describe(value)}`);
  }
}

/** A short description of a value's type for error messages; never includes the value itself. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (isBytes(value)) return `${value.length} bytes`;
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  return typeof value;
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Parses hex strictly (even length, hex digits only); throws `FX_INVALID_ARGUMENT` otherwise. */
export function fromHex(hex: string, argument = 'hex'): Uint8Array {
  assertString(hex, argument);
  if (!HEX_RE.test(hex)) throw new InvalidArgumentError(argument, 'expected an even number of hex digits');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Concatenates byte arrays into one new Uint8Array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A Buffer view over the same memory as `bytes` (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
