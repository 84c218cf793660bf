/**
 * @module server/http/ndjson
 * Newline-delimited JSON request bodies, read as a stream: one parsed value per non-blank line,
 * never the whole body in memory. A line that is not JSON, or longer than 16 MiB, stops the
 * stream with FX_REQUEST_INVALID naming the line.
 */
import { StringDecoder } from 'node:string_decoder';
import { FortressError } from '../../util/errors.js';

const MAX_LINE_CHARS = 16 * 1024 * 1024;

/** Each line's JSON value with its 1-based line number (blank lines are skipped, not counted). */
export async function* ndjsonValues(
  body: AsyncIterable<Buffer>,
): AsyncGenerator<{ readonly value: unknown; readonly line: number }> {
  let pending = '';
  let line = 0;
  const parse = (text: string): { value: unknown; line: number } => {
    line++;
    try {
      return { value: JSON.parse(text) as unknown, line };
    } catch {
      throw new FortressError('FX_REQUEST_INVALID', `NDJSON line ${line} is not valid JSON`);
    }
  };
  const decoder = new StringDecoder('utf8');
  for await (const chunk of body) {
    pending += decoder.write(chunk);
    let at: number;
    while ((at = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, at).trim();
      pending = pending.slice(at + 1);
      if (text !== '') yield parse(text);
    }
    if (pending.length > MAX_LINE_CHARS)
      throw new FortressError('FX_REQUEST_INVALID', `NDJSON line ${line + 1} exceeds 16 MiB`);
  }
  pending += decoder.end();
  if (pending.trim() !== '') yield parse(pending.trim());
}
