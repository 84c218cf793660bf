/**
 * @module client/client-errors
 * The one error class of the SDK. A failure the server reports keeps the server's stable `FX_…`
 * code, its HTTP status, its (safe) message and its request id; a failure on the client's side of
 * the wire gets one of three client codes — `FX_NETWORK` (no answer: refused, reset, DNS),
 * `FX_TIMEOUT` (no answer within `timeoutMs`) or `FX_BAD_RESPONSE` (an answer that is not what a
 * Fortress server sends, e.g. a proxy's HTML error page) — with status 0 when no response arrived.
 */
import type { ErrorCode } from '../util/errors.js';

/** Codes the client gives to failures that carry no server code. */
export type ClientFailureCode = 'FX_NETWORK' | 'FX_TIMEOUT' | 'FX_BAD_RESPONSE' | 'FX_JOB_FAILED';

/**
 * A server code, a client code, or (from a newer server) a code this SDK does not know yet; the
 * `string & {}` keeps editor completion for the known ones.
 */
export type FortressClientErrorCode = ErrorCode | ClientFailureCode | (string & {});

export interface FortressClientErrorOptions {
  /** HTTP status; 0 when no response arrived. @default 0 */
  readonly status?: number;
  /** The server's request id (quote it to the operator), or null. @default null */
  readonly requestId?: string | null;
  readonly cause?: unknown;
}

/**
 * A failed call. Match on `code`, never on `message`.
 *
 * @example
 * ```ts
 * try {
 *   await client.db.get('patients', 42);
 * } catch (error) {
 *   if (isFortressClientError(error, 'FX_ROW_NOT_FOUND')) return null;
 *   throw error;
 * }
 * ```
 */
export class FortressClientError extends Error {
  readonly code: FortressClientErrorCode;
  /** HTTP status of the answer; 0 when none arrived (`FX_NETWORK`, `FX_TIMEOUT`). */
  readonly status: number;
  /** The server's id for the request (from the error body or the `x-request-id` header), or null. */
  readonly requestId: string | null;

  constructor(code: FortressClientErrorCode, message: string, options: FortressClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FortressClientError';
    this.code = code;
    this.status = options.status ?? 0;
    this.requestId = options.requestId ?? null;
  }
}

/**
 * Whether `value` is a FortressClientError (with the given code, when one is passed). Also
 * recognises one from another copy of the SDK (two bundles, an iframe), where `instanceof` fails.
 */
export function isFortressClientError(
  value: unknown,
  code?: FortressClientErrorCode,
): value is FortressClientError {
  const looksLike =
    value instanceof FortressClientError ||
    (value instanceof Error &&
      value.name === 'FortressClientError' &&
      typeof (value as { code?: unknown }).code === 'string' &&
      typeof (value as { status?: unknown }).status === 'number');
  return looksLike && (code === undefined || (value as FortressClientError).code === code);
}
