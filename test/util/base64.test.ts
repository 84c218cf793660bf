/**
 * The strict base64 decoder (src/util/base64.ts) against Node's own encoder and the regular
 * expression it replaced: the same values, the same acceptance — including code units above 0xff
 * whose low byte is a base64 letter, which a table lookup by low byte alone would have accepted.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64Length, decodeBase64Into } from '../../src/util/base64.js';

const STRICT = /^[A-Za-z0-9+/]*={0,2}$/;

function decode(text: string, start = 0): Buffer | null {
  const length = base64Length(text, start);
  if (length < 0) return null;
  const out = Buffer.alloc(length);
  return decodeBase64Into(text, start, out, 0) === length ? out : null;
}

describe('decodeBase64Into', () => {
  it('decodes what Buffer encodes, every length 0-70 and random values', () => {
    for (let n = 0; n <= 70; n++) {
      const bytes = randomBytes(n);
      expect(decode(bytes.toString('base64'))).toEqual(bytes);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(decode(Buffer.from(bytes).toString('base64'))).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it('accepts exactly what the strict expression accepts (length a multiple of 4)', () => {
    const chars = fc.constantFrom(...'AZaz09+/=-_ \n.\u00e9\u0141\u0130\uff21\ud83d'.split(''));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 16 }), (list) => {
        const text = list.join('');
        const strict = text.length % 4 === 0 && STRICT.test(text);
        const decoded = decode(text);
        expect(decoded !== null).toBe(strict);
        if (decoded !== null) expect(decoded).toEqual(Buffer.from(text, 'base64'));
      }),
      { numRuns: 20_000 },
    );
  });

  it('refuses misplaced padding, wrong lengths, the URL alphabet and look-alike code units', () => {
    for (const bad of [
      'A',
      'AB',
      'ABC',
      'A===',
      '====',
      'AB=C',
      'A=BC',
      'ab-_',
      'YQ==YQ==',
      'aGk\u0121', // U+0121: its low byte is 0x21 ('!'), not in the alphabet either
      'aGk\u0141', // U+0141: its low byte is 0x41 ('A')
      '\u0141\u0141\u0141\u0141',
    ]) {
      expect(decode(bad), JSON.stringify(bad)).toBeNull();
    }
    expect(base64Length('AB')).toBe(-1);
    expect(base64Length('')).toBe(0);
  });

  it('decodes from an offset in the text into an offset in the output', () => {
    const out = Buffer.alloc(8, 0xee);
    expect(decodeBase64Into('fx:v1:aGk=', 6, out, 3)).toBe(2);
    expect(out).toEqual(Buffer.from([0xee, 0xee, 0xee, 0x68, 0x69, 0xee, 0xee, 0xee]));
    expect(base64Length('fx:v1:aGk=', 6)).toBe(2);
  });

  it('throws when the output has no room, rather than writing past it', () => {
    expect(() => decodeBase64Into('aGVsbG8=', 0, new Uint8Array(4), 0)).toThrow(RangeError);
  });
});
