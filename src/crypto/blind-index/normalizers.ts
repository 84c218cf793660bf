/**
 * @module crypto/blind-index/normalizers
 * Text normalisers applied before a value is blind-indexed, so that values a user considers equal
 * index equal. They compose left to right; the list is part of the index definition and must be
 * stored with it (changing it changes every index value).
 */
import { InvalidArgumentError } from '../../util/errors.js';

/**
 * - `exact`: no change.
 * - `nfc`: Unicode canonical composition (é as one code point or e + ◌́ index the same).
 * - `trim`: removes leading and trailing Unicode white space.
 * - `casefold`: case-insensitive matching: upper- then lower-casing, which maps ß→ss, ς→σ and
 *   other special cases that plain lower-casing misses (close to Unicode full case folding).
 */
export type NormalizerName = 'exact' | 'nfc' | 'trim' | 'casefold';

const NORMALIZERS: Readonly<Record<NormalizerName, (value: string) => string>> = Object.freeze({
  exact: (value: string) => value,
  nfc: (value: string) => value.normalize('NFC'),
  trim: (value: string) => value.trim(),
  casefold: (value: string) => {
    const folded = value.toUpperCase().toLowerCase();
    // U+1E9E ẞ lower-cases to ß, which needs a second pass to become "ss"; the only such code point.
    return folded.includes('ß') ? folded.toUpperCase().toLowerCase() : folded;
  },
});

/** Composes the named normalisers (applied in the given order) into one function. */
export function composeNormalizers(names: readonly NormalizerName[]): (value: string) => string {
  if (!Array.isArray(names) || names.length === 0) {
    throw new InvalidArgumentError('normalizers', 'expected a non-empty array of normaliser names');
  }
  const steps = names.map((name, i) => {
    const step =
      typeof name === 'string'
        ? (NORMALIZERS as Record<string, ((v: string) => string) | undefined>)[name]
        : undefined;
    if (step === undefined) {
      throw new InvalidArgumentError(
        `normalizers[${i}]`,
        `expected one of ${Object.keys(NORMALIZERS).join(', ')}`,
      );
    }
    return step;
  });
  const active = steps.filter((step) => step !== NORMALIZERS.exact);
  if (active.length === 0) return NORMALIZERS.exact;
  if (active.length === 1) return active[0]!;
  return (value: string) => {
    let out = value;
    for (const step of active) out = step(out);
    return out;
  };
}
