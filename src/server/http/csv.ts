/**
 * @module server/http/csv
 * CSV for import and export (RFC 4180: comma separated, CRLF or LF lines, fields with a comma,
 * quote or line break quoted, quotes doubled). The first line names the columns. Empty fields
 * import as null; numbers and booleans are read for the engine to check against the column type,
 * json columns as JSON text. Export writes null as an empty field.
 */
import { StringDecoder } from 'node:string_decoder';
import { FortressError } from '../../util/errors.js';

type AnyRow = Record<string, unknown>;

const MAX_FIELD = 16 * 1024 * 1024;

function quote(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return quote(JSON.stringify(value));
}

export function csvHeader(columns: readonly string[]): string {
  return `${columns.map(quote).join(',')}\n`;
}

export function csvLine(columns: readonly string[], row: AnyRow): string {
  return `${columns.map((c) => cell(row[c])).join(',')}\n`;
}

/** A field's text as a value: empty → null, then integer, real, boolean, JSON object/array, else text. */
function valueOf(text: string, quoted: boolean): unknown {
  if (text === '' && !quoted) return null;
  if (quoted) {
    if ((text.startsWith('{') && text.endsWith('}')) || (text.startsWith('[') && text.endsWith(']'))) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return text;
      }
    }
    return text;
  }
  if (/^-?\d{1,15}$/.test(text)) return Number(text);
  if (/^-?\d+\.\d+(e[+-]?\d+)?$/i.test(text)) return Number(text);
  if (text === 'true') return true;
  if (text === 'false') return false;
  return text;
}

/** Parses a streamed CSV body into rows keyed by the header's column names. */
export async function* parseCsvRecords(body: AsyncIterable<Buffer>): AsyncGenerator<AnyRow> {
  let header: string[] | null = null;
  let fields: { text: string; quoted: boolean }[] = [];
  let field = '';
  let quoted = false;
  let inQuotes = false;
  let afterQuote = false;
  let line = 1;
  const endField = (): void => {
    fields.push({ text: field, quoted });
    field = '';
    quoted = false;
    afterQuote = false;
  };
  const endRecord = (): AnyRow | null => {
    endField();
    const record = fields;
    fields = [];
    line++;
    if (record.length === 1 && record[0]!.text === '' && !record[0]!.quoted) return null; // blank line
    if (header === null) {
      header = record.map((f) => f.text);
      if (new Set(header).size !== header.length) {
        throw new FortressError('FX_REQUEST_INVALID', 'the CSV header names a column twice');
      }
      return null;
    }
    if (record.length !== header.length) {
      throw new FortressError(
        'FX_REQUEST_INVALID',
        `CSV line ${line - 1} has ${record.length} fields; the header has ${header.length}`,
      );
    }
    const row: AnyRow = {};
    header.forEach((name, i) => {
      row[name] = valueOf(record[i]!.text, record[i]!.quoted);
    });
    return row;
  };
  const decoder = new StringDecoder('utf8');
  for await (const chunk of body) {
    // A multi-byte character split across chunks is held back until its last byte arrives.
    const text = decoder.write(chunk);
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (inQuotes) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i++;
          } else {
            inQuotes = false;
            afterQuote = true;
          }
        } else field += ch;
      } else if (ch === '"' && field === '' && !afterQuote) {
        inQuotes = true;
        quoted = true;
      } else if (ch === ',') endField();
      else if (ch === '\n') {
        const row = endRecord();
        if (row !== null) yield row;
      } else if (ch === '\r') continue;
      else if (afterQuote) {
        throw new FortressError('FX_REQUEST_INVALID', `CSV line ${line}: text after a closing quote`);
      } else field += ch;
      if (field.length > MAX_FIELD)
        throw new FortressError('FX_REQUEST_INVALID', `CSV line ${line}: a field exceeds 16 MiB`);
    }
  }
  if (inQuotes) throw new FortressError('FX_REQUEST_INVALID', `CSV line ${line}: unterminated quoted field`);
  if (field !== '' || fields.length > 0 || quoted) {
    const row = endRecord();
    if (row !== null) yield row;
  }
}
