/**
 * LabelScheme (Bell–LaPadula labels): every construction rule, the text and object forms and their
 * canonical order, every parse rejection, packing (exhaustively for a small scheme, at the limits
 * for the largest), a dominance table written by hand, and properties tying the storage filter
 * (`readableRange`, `canRead`) to `dominates` on random labels.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LabelScheme, type SecurityLabel } from '../../src/policy/mac/security-label.js';
import { expectCode } from '../helpers/expect-code.js';

const LEVELS = ['unclassified', 'cui', 'secret', 'top-secret'];
const scheme = new LabelScheme({ levels: LEVELS, compartments: ['alpha', 'beta', 'gamma'] });
const UNIT = 2 ** 48;

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const wide = new LabelScheme({ levels: names('l', 16), compartments: names('c', 48) });

/** Every subset of `items`, each in the original order. */
function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((acc, item) => [...acc, ...acc.map((s) => [...s, item])], [[]]);
}

describe('LabelScheme construction', () => {
  it('copies and freezes its options', () => {
    const levels = ['low', 'high'];
    const compartments = ['x'];
    const s = new LabelScheme({ levels, compartments });
    levels.push('higher');
    compartments.length = 0;
    expect(s.levels).toEqual(['low', 'high']);
    expect(s.compartments).toEqual(['x']);
    expect(Object.isFrozen(s.levels)).toBe(true);
    expect(Object.isFrozen(s.compartments)).toBe(true);
    expect(Object.isFrozen(s)).toBe(true);
    expect(new LabelScheme({ levels: ['only'] }).compartments).toEqual([]);
  });

  it('DEFAULT is unclassified < cui < secret < top-secret with no compartments', () => {
    expect(LabelScheme.DEFAULT.toJSON()).toEqual({ levels: LEVELS, compartments: [] });
    expect(LabelScheme.DEFAULT.rank('top-secret')).toBe(3);
  });

  it('accepts the limits: 16 levels, 48 compartments, 32-character names', () => {
    expect(wide.levels).toHaveLength(16);
    expect(wide.compartments).toHaveLength(48);
    const long = `a${'b'.repeat(31)}`;
    expect(new LabelScheme({ levels: [long], compartments: [long] }).levels).toEqual([long]);
    // Levels and compartments are separate namespaces.
    expect(() => new LabelScheme({ levels: ['a'], compartments: ['a'] })).not.toThrow();
    expect(() => new LabelScheme({ levels: ['a-b_9'] })).not.toThrow();
  });

  const bad: [string, unknown, RegExp][] = [
    ['options not an object', null, /options object/],
    ['options an array', [], /options object/],
    ['levels missing', {}, /levels must be an array/],
    ['levels not an array', { levels: 'secret' }, /levels must be an array/],
    ['no levels', { levels: [] }, /levels must hold 1 to 16 names, got 0/],
    ['17 levels', { levels: names('l', 17) }, /levels must hold 1 to 16 names, got 17/],
    ['49 compartments', { levels: ['a'], compartments: names('c', 49) }, /compartments must hold 0 to 48/],
    ['compartments not an array', { levels: ['a'], compartments: 'x' }, /compartments must be an array/],
    ['a level not a string', { levels: ['a', 7] }, /levels\[1\] must be a string, got number/],
    ['an upper-case level', { levels: ['a', 'Secret'] }, /levels\[1\] \("Secret"\) must be/],
    ['an empty level', { levels: [''] }, /levels\[0\] must be/],
    ['a level starting with a digit', { levels: ['1a'] }, /levels\[0\] \("1a"\) must be/],
    ['a level with a space', { levels: ['top secret'] }, /levels\[0\] must be/],
    ['a 33-character level', { levels: [`a${'b'.repeat(32)}`] }, /levels\[0\] must be/],
    ['a duplicate level', { levels: ['a', 'b', 'a'] }, /levels\[2\] \("a"\) is a duplicate/],
    ['a bad compartment', { levels: ['a'], compartments: ['x', 'y.z'] }, /compartments\[1\] must be/],
    ['a duplicate compartment', { levels: ['a'], compartments: ['x', 'x'] }, /compartments\[1\] \("x"\)/],
  ];
  it.each(bad)('refuses %s with FX_LABEL_INVALID', async (_, options, message) => {
    const error = await expectCode(() => new LabelScheme(options as never), 'FX_LABEL_INVALID');
    expect(error.message).toMatch(message);
  });
});

describe('LabelScheme.parse and format', () => {
  it('parses the text and object forms into the same frozen canonical label', () => {
    const fromText = scheme.parse('secret:gamma+alpha');
    const fromObject = scheme.parse({ level: 'secret', compartments: ['gamma', 'alpha'] });
    expect(fromText).toEqual({ level: 'secret', compartments: ['alpha', 'gamma'] });
    expect(fromObject).toEqual(fromText);
    expect(Object.isFrozen(fromText)).toBe(true);
    expect(Object.isFrozen(fromText.compartments)).toBe(true);
    expect(scheme.parse('cui')).toEqual({ level: 'cui', compartments: [] });
    expect(scheme.parse({ level: 'cui' })).toEqual({ level: 'cui', compartments: [] });
    expect(scheme.parse({ level: 'cui', compartments: [] })).toEqual({ level: 'cui', compartments: [] });
  });

  it('formats in declared order and round-trips every label of the scheme', () => {
    expect(scheme.format({ level: 'secret', compartments: ['gamma', 'beta'] })).toBe('secret:beta+gamma');
    expect(scheme.format({ level: 'unclassified', compartments: [] })).toBe('unclassified');
    for (const level of LEVELS) {
      for (const compartments of subsets(scheme.compartments)) {
        const text = compartments.length === 0 ? level : `${level}:${compartments.join('+')}`;
        const label = scheme.parse(text);
        expect(label).toEqual({ level, compartments });
        expect(scheme.format(label)).toBe(text);
        expect(scheme.parse(label)).toEqual(label);
      }
    }
  });

  it('format refuses a label outside the scheme', async () => {
    await expectCode(() => scheme.format({ level: 'secret', compartments: ['delta'] }), 'FX_LABEL_INVALID');
  });

  const rejected: [string, unknown, RegExp][] = [
    ['an unknown level', 'confidential', /label: level "confidential" is not in the scheme/],
    ['a level in the wrong case', 'Secret', /level "Secret" is not in the scheme/],
    ['a leading space', ' secret', /label: an unknown level is not in the scheme/],
    ['a trailing space', 'secret ', /an unknown level/],
    ['an empty string', '', /the level is empty/],
    ['no level before the colon', ':alpha', /the level is empty/],
    ['an empty compartment list', 'secret:', /no compartments after ':'/],
    ['an unknown compartment', 'secret:delta', /compartment "delta" is not in the scheme/],
    ['a compartment in the wrong case', 'secret:Alpha', /compartment "Alpha" is not in the scheme/],
    ['an unquotable compartment', 'secret:al pha', /an unknown compartment is not in the scheme/],
    ['a second colon', 'secret:alpha:beta', /an unknown compartment/],
    ['an empty compartment between pluses', 'secret:alpha++beta', /an empty compartment name/],
    ['a trailing plus', 'secret:alpha+', /an empty compartment name/],
    ['a repeated compartment', 'secret:alpha+beta+alpha', /compartment "alpha" is repeated/],
    ['text over 1024 characters', `secret:${'alpha+'.repeat(200)}`, /longer than 1024 characters/],
    ['a number', 3, /expected a label string or a \{ level, compartments \} object, got number/],
    ['null', null, /got null/],
    ['undefined', undefined, /got undefined/],
    ['an array', ['secret'], /got an array/],
    ['an object without a level', {}, /level must be a string, got undefined/],
    ['an object with a numeric level', { level: 2 }, /level must be a string, got number/],
    ['an object with an unknown level', { level: 'TOP SECRET' }, /an unknown level/],
    ['an object with compartments as text', { level: 'secret', compartments: 'alpha' }, /must be an array/],
    ['an object with a numeric compartment', { level: 'secret', compartments: [1] }, /must be strings/],
    [
      'an object with a repeated compartment',
      { level: 'secret', compartments: ['beta', 'beta'] },
      /repeated/,
    ],
    ['an object with an unknown property', { level: 'secret', caveats: [] }, /unknown property "caveats"/],
  ];
  it.each(rejected)('refuses %s with FX_LABEL_INVALID', async (_, input, message) => {
    const error = await expectCode(() => scheme.parse(input), 'FX_LABEL_INVALID');
    expect(error.message).toMatch(message);
  });

  it('names the input with `what` and never echoes text that is not a plain name', async () => {
    const error = await expectCode(() => scheme.parse('<script>', 'clearance'), 'FX_LABEL_INVALID');
    expect(error.message).toBe('clearance: an unknown level is not in the scheme');
    const long = await expectCode(() => scheme.parse(`secret:${'x'.repeat(40)}`), 'FX_LABEL_INVALID');
    expect(long.message).not.toContain('xxxx');
  });
});

describe('LabelScheme ranks, masks and packing', () => {
  it('ranks levels from 0 and refuses unknown ones', async () => {
    expect(LEVELS.map((level) => scheme.rank(level))).toEqual([0, 1, 2, 3]);
    await expectCode(() => scheme.rank('restricted'), 'FX_LABEL_INVALID');
  });

  it('sets bit i for the i-th declared compartment', async () => {
    expect(scheme.compartmentMask([])).toBe(0);
    expect(scheme.compartmentMask(['alpha'])).toBe(1);
    expect(scheme.compartmentMask(['gamma', 'alpha'])).toBe(5);
    expect(scheme.compartmentMask(['alpha', 'beta', 'gamma'])).toBe(7);
    expect(wide.compartmentMask(['c47'])).toBe(2 ** 47);
    expect(wide.compartmentMask(wide.compartments)).toBe(UNIT - 1);
    await expectCode(() => scheme.compartmentMask(['delta']), 'FX_LABEL_INVALID');
    await expectCode(() => scheme.compartmentMask(['beta', 'beta']), 'FX_LABEL_INVALID');
  });

  it('packs as rank * 2^48 + mask', () => {
    expect(scheme.pack(scheme.parse('unclassified'))).toBe(0);
    expect(scheme.pack(scheme.parse('secret:alpha+gamma'))).toBe(562949953421317);
    expect(scheme.pack(scheme.parse('top-secret:beta'))).toBe(3 * UNIT + 2);
  });

  it('round-trips all 32 labels of a 4-level, 3-compartment scheme, each to a distinct integer', () => {
    const seen = new Set<number>();
    for (const level of LEVELS) {
      for (const compartments of subsets(scheme.compartments)) {
        const label = { level, compartments };
        const packed = scheme.pack(label);
        expect(Number.isSafeInteger(packed)).toBe(true);
        expect(scheme.unpack(packed)).toEqual(label);
        expect(Object.isFrozen(scheme.unpack(packed))).toBe(true);
        seen.add(packed);
      }
    }
    expect(seen.size).toBe(32);
  });

  it('keeps the largest label of a 16-level, 48-compartment scheme a safe integer', () => {
    const top = { level: 'l15', compartments: wide.compartments };
    const packed = wide.pack(top);
    expect(packed).toBe(2 ** 52 - 1);
    expect(Number.isSafeInteger(packed)).toBe(true);
    expect(wide.unpack(packed)).toEqual(top);
    expect(wide.unpack(15 * UNIT + 2 ** 47)).toEqual({ level: 'l15', compartments: ['c47'] });
  });

  const badPacked: [string, unknown][] = [
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
    ['unsafe', 2 ** 53],
    ['a string', '0'],
    ['a bigint', 0n],
    ['a rank past the last level', 4 * UNIT],
    ['an undeclared compartment bit', 8],
    ['the highest compartment bit of a 3-compartment scheme', 2 * UNIT + 2 ** 47],
  ];
  it.each(badPacked)('unpack refuses %s', async (_, packed) => {
    await expectCode(() => scheme.unpack(packed as number), 'FX_LABEL_INVALID');
  });
});

describe('LabelScheme dominance and the storage filter', () => {
  // Row and column order: U, C:alpha, S:alpha+beta, S:gamma, TS, TS:alpha+beta+gamma.
  const labels = [
    'unclassified',
    'cui:alpha',
    'secret:alpha+beta',
    'secret:gamma',
    'top-secret',
    'top-secret:alpha+beta+gamma',
  ].map((text) => scheme.parse(text));
  // dominates[i][j]: does labels[i] dominate labels[j]? Worked out by hand.
  const table = [
    [1, 0, 0, 0, 0, 0],
    [1, 1, 0, 0, 0, 0],
    [1, 1, 1, 0, 0, 0],
    [1, 0, 0, 1, 0, 0],
    [1, 0, 0, 0, 1, 0],
    [1, 1, 1, 1, 1, 1],
  ];

  it('matches the hand-written dominance table', () => {
    const actual = labels.map((a) => labels.map((b) => (scheme.dominates(a, b) ? 1 : 0)));
    expect(actual).toEqual(table);
    const reads = labels.map((a) => labels.map((b) => (scheme.canRead(a, scheme.pack(b)) ? 1 : 0)));
    expect(reads).toEqual(table);
  });

  it('computes the readable range from rank and missing compartments', () => {
    expect(scheme.readableRange(scheme.parse('secret:beta'))).toEqual({
      maxRank: 2,
      forbiddenMask: UNIT - 1 - 2,
    });
    expect(wide.readableRange({ level: 'l15', compartments: wide.compartments })).toEqual({
      maxRank: 15,
      forbiddenMask: 0,
    });
  });

  it('hides rows carrying compartments the scheme does not declare (a newer, extended scheme)', async () => {
    const all = scheme.parse('top-secret:alpha+beta+gamma');
    expect(scheme.canRead(all, 3 * UNIT + 7)).toBe(true);
    expect(scheme.canRead(all, 8)).toBe(false);
    expect(scheme.canRead(all, 2 ** 47)).toBe(false);
    expect(scheme.canRead(all, 4 * UNIT)).toBe(false);
    await expectCode(() => scheme.canRead(all, -1), 'FX_LABEL_INVALID');
    await expectCode(() => scheme.canRead(all, 0.5), 'FX_LABEL_INVALID');
    await expectCode(() => scheme.canRead({ level: 'nope', compartments: [] }, 0), 'FX_LABEL_INVALID');
  });

  /** A random label of `s`, compartments in declared order. */
  const labelOf = (s: LabelScheme): fc.Arbitrary<SecurityLabel> =>
    fc.record({ level: fc.constantFrom(...s.levels), compartments: fc.subarray([...s.compartments]) });

  /** The row filter a storage backend would run, written out from the readableRange contract. */
  const filter = (s: LabelScheme, clearance: SecurityLabel, packed: number): boolean => {
    const { maxRank, forbiddenMask } = s.readableRange(clearance);
    if (Math.floor(packed / UNIT) > maxRank) return false;
    const low = BigInt(packed % UNIT);
    return (low & BigInt(forbiddenMask)) === 0n;
  };

  for (const [name, s] of [
    ['4 levels x 3 compartments', scheme],
    ['16 levels x 48 compartments', wide],
  ] as const) {
    it(`canRead(c, pack(l)) === dominates(c, l) === the readableRange filter (${name})`, () => {
      fc.assert(
        fc.property(labelOf(s), labelOf(s), (clearance, label) => {
          const packed = s.pack(label);
          const expected = s.dominates(clearance, label);
          expect(s.canRead(clearance, packed)).toBe(expected);
          expect(filter(s, clearance, packed)).toBe(expected);
          expect(s.unpack(packed)).toEqual(label);
        }),
        { numRuns: 500 },
      );
    });
  }

  it('readableRange agrees with canRead on arbitrary 52-bit integers, declared or not', () => {
    fc.assert(
      fc.property(labelOf(wide), fc.integer({ min: 0, max: 2 ** 52 - 1 }), (clearance, packed) => {
        expect(wide.canRead(clearance, packed)).toBe(filter(wide, clearance, packed));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(labelOf(scheme), fc.maxSafeNat(), (clearance, packed) => {
        expect(scheme.canRead(clearance, packed)).toBe(filter(scheme, clearance, packed));
      }),
      { numRuns: 500 },
    );
  });
});

describe('LabelScheme comparison', () => {
  const base = new LabelScheme({ levels: ['low', 'high'], compartments: ['a', 'b'] });

  it('toJSON rebuilds an equal scheme', () => {
    expect(base.toJSON()).toEqual({ levels: ['low', 'high'], compartments: ['a', 'b'] });
    expect(JSON.parse(JSON.stringify(base))).toEqual(base.toJSON());
    expect(new LabelScheme(base.toJSON()).equals(base)).toBe(true);
  });

  it('equals only an identical scheme', () => {
    const other = (levels: string[], compartments: string[]): boolean =>
      base.equals(new LabelScheme({ levels, compartments }));
    expect(other(['low', 'high'], ['a', 'b'])).toBe(true);
    expect(other(['low', 'high'], ['b', 'a'])).toBe(false);
    expect(other(['low', 'high'], ['a', 'b', 'c'])).toBe(false);
    expect(other(['low', 'high'], ['a'])).toBe(false);
    expect(other(['high', 'low'], ['a', 'b'])).toBe(false);
    expect(other(['low', 'mid', 'high'], ['a', 'b'])).toBe(false);
  });

  it('extends a scheme only by appending compartments', () => {
    const candidate = (levels: string[], compartments: string[]): boolean =>
      new LabelScheme({ levels, compartments }).extends(base);
    expect(candidate(['low', 'high'], ['a', 'b'])).toBe(true);
    expect(candidate(['low', 'high'], ['a', 'b', 'c', 'd'])).toBe(true);
    expect(candidate(['low', 'high'], ['c', 'a', 'b'])).toBe(false);
    expect(candidate(['low', 'high'], ['a'])).toBe(false);
    expect(candidate(['low', 'high'], ['b', 'a', 'c'])).toBe(false);
    expect(candidate(['low', 'high', 'top'], ['a', 'b'])).toBe(false);
    expect(candidate(['low', 'hi'], ['a', 'b'])).toBe(false);
    expect(base.extends(new LabelScheme({ levels: ['low', 'high'] }))).toBe(true);
    // Every label packed under the old scheme means the same under the extension.
    const extended = new LabelScheme({ levels: ['low', 'high'], compartments: ['a', 'b', 'c'] });
    for (const compartments of subsets(base.compartments)) {
      const label = { level: 'high', compartments };
      expect(extended.unpack(base.pack(label))).toEqual(label);
    }
  });
});
