/**
 * @module crypto/envelope/encryption-context
 * The encryption context: where a value lives (tenant, database, table, column, row key). Its
 * canonical encoding is part of every envelope's associated data, so a ciphertext moved to any
 * other place fails to decrypt.
 *
 * Canonical encoding (docs/formats.md): for each field in the order tenant, database, table,
 * column, row: a 4-byte big-endian length, then the field's bytes (UTF-8 for strings). Empty
 * fields are length 0. Length prefixes make the encoding injective.
 */
import { InvalidArgumentError } from '../../util/errors.js';
import { describe, isBytes, utf8Encoder } from '../../util/bytes.js';
import { ENVELOPE_HEADER_LENGTH } from './envelope-format.js';

/** Longest field of a context, in bytes. */
export const MAX_CONTEXT_FIELD_BYTES = 65_536;

/** Where a value lives. Any field may be left out (encoded as empty). */
export interface ContextFields {
  readonly tenant?: string;
  readonly database?: string;
  readonly table?: string;
  readonly column?: string;
  /** The row's primary key, as text or bytes. */
  readonly row?: string | Uint8Array;
}

const FIELD_NAMES = ['tenant', 'database', 'table', 'column'] as const;

function encodeField(value: unknown, argument: string): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (typeof value === 'string') {
    // A lone surrogate would encode as U+FFFD and make two different contexts collide.
    if (!value.isWellFormed()) throw new InvalidArgumentError(argument, 'contains a lone UTF-16 surrogate');
    const bytes = utf8Encoder.encode(value);
    if (bytes.length > MAX_CONTEXT_FIELD_BYTES) {
      throw new InvalidArgumentError(argument, `is longer than ${MAX_CONTEXT_FIELD_BYTES} bytes`);
    }
    return bytes;
  }
  if (isBytes(value) && argument === 'context.row') {
    if (value.length > MAX_CONTEXT_FIELD_BYTES) {
      throw new InvalidArgumentError(argument, `is longer than ${MAX_CONTEXT_FIELD_BYTES} bytes`);
    }
    return value;
  }
  throw new InvalidArgumentError(
    argument,
    `expected a string${argument === 'context.row' ? ' or bytes' : ''}, got ${describe(value)}`,
  );
}

function writeField(target: Uint8Array, offset: number, field: Uint8Array): number {
  const n = field.length;
  target[offset] = n >>> 24;
  target[offset + 1] = (n >>> 16) & 0xff;
  target[offset + 2] = (n >>> 8) & 0xff;
  target[offset + 3] = n & 0xff;
  target.set(field, offset + 4);
  return offset + 4 + n;
}

/**
 * An immutable, pre-encoded encryption context. Build one per column with `EncryptionContext.of`
 * and derive the per-row context with `withRow`, which reuses the column's encoding.
 *
 * @example
 * ```ts
 * const column = EncryptionContext.of({ tenant: 'acme', database: 'main', table: 'patients', column: 'ssn' });
 * const envelope = encrypt(dataKey, plaintext, column.withRow('0190f5c2-…'));
 * ```
 */
export class EncryptionContext {
  /** The context with every field empty. */
  static readonly EMPTY: EncryptionContext = EncryptionContext.of({});

  readonly #prefix: Uint8Array;
  /**
   * ENVELOPE_HEADER_LENGTH bytes of scratch for the envelope header, then the canonical encoding.
   * The envelope code writes the header in place right before each synchronous AEAD call, so the
   * associated data needs no per-call allocation. Nothing can interleave between that write and
   * the call (JavaScript runs one call at a time), so sharing the scratch is safe.
   */
  readonly #aad: Buffer;
  readonly fields: Readonly<ContextFields>;

  private constructor(fields: Readonly<ContextFields>, prefix: Uint8Array, row: Uint8Array) {
    this.fields = fields;
    this.#prefix = prefix;
    const aad = Buffer.allocUnsafeSlow(ENVELOPE_HEADER_LENGTH + prefix.length + 4 + row.length);
    aad.fill(0, 0, ENVELOPE_HEADER_LENGTH);
    aad.set(prefix, ENVELOPE_HEADER_LENGTH);
    writeField(aad, ENVELOPE_HEADER_LENGTH + prefix.length, row);
    this.#aad = aad;
  }

  /** Validates and encodes `fields`; throws `FX_INVALID_ARGUMENT` naming a bad field. */
  static of(fields: ContextFields): EncryptionContext {
    if (typeof fields !== 'object' || (fields as unknown) === null || Array.isArray(fields)) {
      throw new InvalidArgumentError('context', `expected an object, got ${describe(fields)}`);
    }
    for (const key of Object.keys(fields)) {
      if (!(FIELD_NAMES as readonly string[]).includes(key) && key !== 'row') {
        throw new InvalidArgumentError('context', `unknown field ${JSON.stringify(key.slice(0, 40))}`);
      }
    }
    const encoded = FIELD_NAMES.map((name) => encodeField(fields[name], `context.${name}`));
    let length = 0;
    for (const field of encoded) length += 4 + field.length;
    const prefix = new Uint8Array(length);
    let offset = 0;
    for (const field of encoded) offset = writeField(prefix, offset, field);
    const row = encodeField(fields.row, 'context.row');
    const copy: ContextFields = {
      ...fields,
      ...(isBytes(fields.row) ? { row: new Uint8Array(fields.row) } : {}),
    };
    return new EncryptionContext(Object.freeze(copy), prefix, row);
  }

  /** The same tenant/database/table/column with another row key. */
  withRow(row: string | Uint8Array): EncryptionContext {
    // An undefined row id would silently bind every such row to one context: refuse it.
    if (typeof row !== 'string' && !isBytes(row)) {
      throw new InvalidArgumentError('row', `expected a string or bytes row key, got ${describe(row)}`);
    }
    const encoded = encodeField(row, 'context.row');
    return new EncryptionContext(
      Object.freeze({ ...this.fields, row: isBytes(row) ? new Uint8Array(row) : row }),
      this.#prefix,
      encoded,
    );
  }

  /**
   * @internal A reusable per-row context for hot loops: `rowScratch()` returns a function that
   * writes a row key into a scratch context of this table/column (one scratch per row-key length)
   * and returns it. The returned context is only valid until the next call: use it in the very
   * next synchronous envelope call. It encodes exactly as `withRow(row)` does.
   */
  rowScratch(): (row: string) => EncryptionContext {
    const scratches = new Map<number, EncryptionContext>();
    const rowOffset = ENVELOPE_HEADER_LENGTH + this.#prefix.length;
    return (row: string): EncryptionContext => {
      const length = Buffer.byteLength(row, 'utf8');
      let scratch = scratches.get(length);
      if (scratch === undefined) {
        if (!row.isWellFormed()) throw new InvalidArgumentError('row', 'contains a lone UTF-16 surrogate');
        scratch = this.withRow(row);
        scratches.set(length, scratch);
        return scratch;
      }
      const aad = scratch.#aad;
      // A lone surrogate would be written as U+FFFD and collide with another key: refuse it.
      if (!row.isWellFormed()) throw new InvalidArgumentError('row', 'contains a lone UTF-16 surrogate');
      aad.write(row, rowOffset + 4, 'utf8');
      return scratch;
    };
  }

  /** The canonical encoding (without header scratch), as documented in docs/formats.md. */
  encode(): Uint8Array {
    return new Uint8Array(this.#aad.subarray(ENVELOPE_HEADER_LENGTH));
  }

  /** @internal The associated-data buffer whose first bytes are header scratch. */
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- `this: void` lets callers hoist the method
  static aadBuffer(this: void, context: EncryptionContext): Buffer {
    return context.#aad;
  }
}
