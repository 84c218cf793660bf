/**
 * Shared assertions: "this call fails with one of these stable FX_ codes", and small combinatorics.
 */
import { expect } from 'vitest';
import { FortressError, type ErrorCode } from '../../src/util/errors.js';

/**
 * Awaits `call` (a promise, or a function whose result is awaited) and asserts it fails with a
 * FortressError whose code is one of `codes`. Returns the error for further checks.
 */
export async function expectCode(
  call: Promise<unknown> | (() => unknown),
  ...codes: ErrorCode[]
): Promise<FortressError> {
  let result: unknown;
  try {
    result = await (typeof call === 'function' ? call() : call);
  } catch (error) {
    if (!(error instanceof FortressError)) {
      return expect.fail(
        `expected ${codes.join(' or ')}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      );
    }
    expect(codes, `${error.code}: ${error.message}`).toContain(error.code);
    return error;
  }
  return expect.fail(`expected ${codes.join(' or ')}, but the call returned ${String(result)}`);
}

/** Every k-element subset of 0…n−1, in lexicographic order. */
export function combinations(n: number, k: number): number[][] {
  const out: number[][] = [];
  const pick = (start: number, chosen: number[]): void => {
    if (chosen.length === k) {
      out.push([...chosen]);
      return;
    }
    for (let i = start; i < n; i++) pick(i + 1, [...chosen, i]);
  };
  pick(0, []);
  return out;
}
