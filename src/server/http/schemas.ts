/**
 * @module server/http/schemas
 * TypeBox schemas shared by the routes (they become the OpenAPI document's components).
 */
import {
  Type,
  type TInteger,
  type TRecord,
  type TSchema,
  type TString,
  type TUnion,
  type TUnknown,
} from 'typebox';

export const ErrorResponse: TSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable FX_… code' }),
      message: Type.String(),
      requestId: Type.String(),
    }),
  },
  { description: 'Every failure: a stable code, a safe message and the request id' },
);

/** A table or column name, as the engine accepts them (the engine checks the rest). */
export const Name: TString = Type.String({ minLength: 1, maxLength: 128 });

/** Any JSON row: column → value (the engine checks types against the table's schema). */
export const Row: TRecord<string, TUnknown> = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown());

/** A duration: milliseconds, or a number with a unit (`"30s"`, `"12h"`, `"7d"`). */
export const Duration: TUnion<[TInteger, TString]> = Type.Union([
  Type.Integer({ minimum: 0, maximum: 100 * 365 * 86_400_000, description: 'milliseconds' }),
  Type.String({ pattern: '^[0-9]{1,9}(ms|s|m|h|d)$', maxLength: 11, description: 'e.g. "30s", "12h", "7d"' }),
]);

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A {@link Duration} (already validated by its schema) in milliseconds. */
export function durationMs(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(value)!;
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
