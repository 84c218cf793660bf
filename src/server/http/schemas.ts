/**
 * @module server/http/schemas
 * TypeBox schemas shared by the routes (they become the OpenAPI document's components).
 */
import { Type, type TRecord, type TSchema, type TString, type TUnknown } from 'typebox';

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
