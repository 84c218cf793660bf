/**
 * @module client/wire-codec
 * Values on the wire. JSON has no bytes and no dates, so the server reads `bytes` columns as
 * base64 and `timestamp` columns as ISO 8601 strings (converting per the table's schema). The
 * client turns `Uint8Array` into base64 and `Date` into ISO text wherever they appear in what it
 * sends, and leaves answers as the JSON they are. Also here: the NDJSON and CSV encodings of a
 * streamed import and the record splitter of a streamed export. Browser-safe: no Buffer, no node:.
 */

const CHUNK = 0x8000;

/** Bytes as standard base64 (with padding), in any JavaScript runtime. */
export function toBase64(bytes: Uint8Array): string {
  const native = (bytes as Uint8Array & { toBase64?: () => string }).toBase64;
  if (typeof native === 'function') return native.call(bytes);
  let binary = '';
  // Chunked: spreading a whole large array into fromCharCode would overflow the call stack.
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/**
 * Base64 (as the server sends `bytes` columns) back to bytes.
 * @throws TypeError when `text` is not base64.
 */
export function fromBase64(text: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new TypeError('fromBase64: expected standard base64 text');
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A value as it travels: `Date` → ISO 8601, `Uint8Array` → base64, through arrays and plain
 * objects at any depth (filters and `json` columns included). Everything else is left for
 * `JSON.stringify`.
 * @throws TypeError for an invalid Date (JSON would silently send null).
 */
export function toWire(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError('an invalid Date cannot be sent');
    return value.toISOString();
  }
  if (value instanceof Uint8Array) return toBase64(value);
  if (Array.isArray(value)) return value.map(toWire);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = toWire(item);
  return out;
}

/** A row the caller passes: checked to be an object, since a stray array or string would import as garbage. */
function checkRow(row: unknown, index: number): Record<string, unknown> {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) {
    throw new TypeError(`importRows: row ${index + 1} is not an object`);
  }
  return row as Record<string, unknown>;
}

/** One NDJSON line (with its newline) of a row. */
export function ndjsonLine(row: unknown, index: number): string {
  return `${JSON.stringify(toWire(checkRow(row, index)))}\n`;
}

function quoteCsv(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/**
 * One CSV field. Text is always quoted: the server reads an unquoted `123`, `true` or empty field
 * as a number, a boolean or null, so quoting is what keeps a text value text. Numbers and booleans
 * go bare; null and undefined are an empty (null) field; objects and arrays (json columns) go as
 * quoted JSON.
 */
function csvField(value: unknown): string {
  const wire = toWire(value);
  if (wire === null || wire === undefined) return '';
  if (typeof wire === 'number') {
    if (!Number.isFinite(wire)) throw new TypeError(`importRows: ${String(wire)} has no CSV form`);
    return String(wire);
  }
  if (typeof wire === 'boolean') return String(wire);
  if (typeof wire === 'string') return quoteCsv(wire);
  return quoteCsv(JSON.stringify(wire));
}

/**
 * Encodes rows as CSV records: the first row's columns make the header, and a later row naming a
 * column the header lacks is refused (it would otherwise be dropped without a word).
 */
export class CsvEncoder {
  #columns: string[] | null = null;

  /** The text for one row: the header line first, before the first row. */
  encode(row: unknown, index: number): string {
    const record = checkRow(row, index);
    let head = '';
    if (this.#columns === null) {
      this.#columns = Object.keys(record).filter((k) => record[k] !== undefined);
      if (this.#columns.length === 0) throw new TypeError('importRows: the first CSV row has no columns');
      head = `${this.#columns.map((c) => (/^[A-Za-z0-9_]+$/.test(c) ? c : quoteCsv(c))).join(',')}\n`;
    }
    const columns = this.#columns;
    for (const key of Object.keys(record)) {
      if (record[key] !== undefined && !columns.includes(key)) {
        throw new TypeError(
          `importRows: row ${index + 1} has a column ${JSON.stringify(key)} that the first row (the CSV header) lacks`,
        );
      }
    }
    return `${head}${columns.map((c) => csvField(record[c])).join(',')}\n`;
  }
}

/**
 * Splits streamed text into records: NDJSON at every newline; CSV at newlines outside quoted
 * fields (a quoted field may hold a line break), with a trailing CR removed. State carries across
 * chunks, and each character is examined once.
 */
export class RecordSplitter {
  readonly #csv: boolean;
  #pending = '';
  /** Where scanning of `#pending` resumes, and whether that point is inside quotes (CSV). */
  #scanned = 0;
  #inQuotes = false;

  constructor(format: 'ndjson' | 'csv') {
    this.#csv = format === 'csv';
  }

  /** The records completed by `text`. */
  push(text: string): string[] {
    this.#pending += text;
    const out: string[] = [];
    let start = 0;
    const pending = this.#pending;
    for (let i = this.#scanned; i < pending.length; i++) {
      const ch = pending.charCodeAt(i);
      if (ch === 34 /* " */ && this.#csv) this.#inQuotes = !this.#inQuotes;
      else if (ch === 10 /* \n */ && !this.#inQuotes) {
        out.push(this.#trim(pending.slice(start, i)));
        start = i + 1;
      }
    }
    this.#pending = pending.slice(start);
    this.#scanned = this.#pending.length;
    return out.filter((r) => r !== '');
  }

  /** The last record, when the text did not end with a newline. */
  end(): string[] {
    const last = this.#trim(this.#pending);
    this.#pending = '';
    this.#scanned = 0;
    return last === '' ? [] : [last];
  }

  #trim(record: string): string {
    return record.endsWith('\r') ? record.slice(0, -1) : record;
  }
}
