/**
 * @module server/http/http-errors
 * Errors at the HTTP edge: every `FX_…` code has one HTTP status, and every error body is
 * `{ error: { code, message, requestId } }`. Fortress's own errors carry messages written to be
 * safe (no key bytes, plaintexts or secrets), so they go to the client; anything else is a generic
 * 500 with the request id, and its detail goes only to the server log.
 *
 * A database server that cannot be reached is one answer whatever layer noticed it: 503
 * `FX_STORAGE_UNAVAILABLE` with `Retry-After`, so load balancers and clients wait and retry; its
 * message (which names the database host) goes only to the log. The audit ledger refuses an
 * operation whose entry it cannot write (`FX_AUDIT_UNAVAILABLE`); when what stopped it is storage
 * that is unreachable or busy, the answer is that condition's code, which tells the client to retry.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FortressError, type ErrorCode } from '../../util/errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  FX_INVALID_ARGUMENT: 400,
  FX_REQUEST_INVALID: 400,
  FX_TYPE_MISMATCH: 400,
  FX_QUERY_INVALID: 400,
  FX_QUERY_UNSUPPORTED: 400,
  FX_SCHEMA_INVALID: 400,
  FX_POLICY_INVALID: 400,
  FX_LABEL_INVALID: 400,
  FX_VALUE_TOO_LARGE: 400,
  FX_UNSEAL_FAILED: 400,
  FX_SEAL_PROVIDER: 400,
  FX_BACKUP_INVALID: 400,
  FX_CLI_USAGE: 400,
  FX_CRYPTO_INVALID_SHARE: 400,
  FX_CRYPTO_SHARES_MISMATCH: 400,
  FX_CRYPTO_NOT_ENOUGH_SHARES: 400,
  FX_CRYPTO_INVALID_KDF_PARAMS: 400,
  FX_CRYPTO_MALFORMED_ENVELOPE: 400,
  FX_CRYPTO_UNSUPPORTED_VERSION: 400,
  FX_CRYPTO_UNKNOWN_ALGORITHM: 400,
  FX_CRYPTO_INVALID_SIGNATURE_KEY: 400,
  FX_CRYPTO_NO_SAFE_INDEX_SIZE: 400,
  FX_UNAUTHENTICATED: 401,
  FX_TOKEN_EXPIRED: 401,
  FX_LOGIN_FAILED: 401,
  FX_FORBIDDEN: 403,
  FX_NOT_FOUND: 404,
  FX_TABLE_NOT_FOUND: 404,
  FX_COLUMN_NOT_FOUND: 404,
  FX_ROW_NOT_FOUND: 404,
  FX_KEY_NOT_FOUND: 404,
  FX_JOB_NOT_FOUND: 404,
  FX_POLICY_NOT_FOUND: 404,
  FX_AUDIT_NOT_FOUND: 404,
  FX_TABLE_EXISTS: 409,
  FX_DUPLICATE_KEY: 409,
  FX_POLICY_CONFLICT: 409,
  FX_JOB_CONFLICT: 409,
  FX_SECRET_NOT_FOUND: 404,
  FX_SECRET_DELETED: 409,
  FX_SECRET_CAS_REQUIRED: 400,
  FX_SECRET_CAS_MISMATCH: 409,
  FX_TRANSIT_KEY_NOT_FOUND: 404,
  FX_TRANSIT_KEY_EXISTS: 409,
  FX_TRANSIT_UNSUPPORTED: 400,
  FX_TRANSIT_CIPHERTEXT_INVALID: 400,
  FX_TRANSIT_VERSION: 400,
  FX_TRANSIT_NOT_EXPORTABLE: 403,
  FX_TRANSIT_EXPORTABLE_IRREVERSIBLE: 409,
  FX_INTEGRITY: 400,
  FX_DB_CONNECTION_NOT_FOUND: 404,
  FX_DB_ROLE_NOT_FOUND: 404,
  FX_DB_STATIC_ROLE_NOT_FOUND: 404,
  FX_DB_LEASE_NOT_FOUND: 404,
  FX_DB_TEMPLATE_INVALID: 400,
  FX_DB_ROLE_NOT_ALLOWED: 400,
  FX_DB_IN_USE: 409,
  FX_DB_LEASE_EXPIRED: 409,
  FX_DB_BUSY: 409,
  // The target database failed, not Fortress: a bad gateway, as a proxy would say.
  FX_DB_CONNECTION_FAILED: 502,
  FX_DB_STATEMENT_FAILED: 502,
  FX_CRYPTO_KEY_MISMATCH: 400,
  FX_CRYPTO_VALUE_TOO_LARGE: 400,
  FX_ALREADY_INITIALIZED: 409,
  FX_ALREADY_UNSEALED: 409,
  FX_CEREMONY_IN_PROGRESS: 409,
  FX_NONCE_MISMATCH: 409,
  FX_KEY_STATE: 409,
  FX_CRYPTO_KEY_USAGE_EXCEEDED: 409,
  FX_KEY_VERSION_RETIRED: 409,
  FX_KEY_VERSION_DESTROYED: 409,
  FX_STORAGE_CONSTRAINT: 409,
  FX_PAYLOAD_TOO_LARGE: 413,
  FX_RATE_LIMITED: 429,
  FX_NOT_INITIALIZED: 503,
  FX_SEALED: 503,
  FX_CLOSED: 503,
  FX_STORAGE_BUSY: 503,
  FX_STORAGE_UNAVAILABLE: 503,
  FX_AUDIT_UNAVAILABLE: 503,
};

/** Seconds a client should wait before retrying, for the 503s that pass by themselves. */
const RETRY_AFTER: Partial<Record<ErrorCode, string>> = {
  FX_SEALED: '5',
  FX_NOT_INITIALIZED: '5',
  FX_STORAGE_UNAVAILABLE: '1',
};

/** 503s that are a state, not a failure: not logged as errors. */
const QUIET: ReadonlySet<ErrorCode> = new Set(['FX_SEALED', 'FX_NOT_INITIALIZED']);

const UNAVAILABLE_MESSAGE = 'the database server cannot be reached; retry later';

/** Storage conditions that pass by themselves: behind an audit refusal, they are the answer. */
const TRANSIENT_STORAGE: ReadonlySet<ErrorCode> = new Set(['FX_STORAGE_UNAVAILABLE', 'FX_STORAGE_BUSY']);

/**
 * The code to answer with: the error's own, or for the audit ledger's refusal, the transient
 * storage condition that caused it (the ledger keeps the storage error as its `cause`).
 */
function answerCode(error: FortressError): ErrorCode {
  if (error.code !== 'FX_AUDIT_UNAVAILABLE') return error.code;
  let current: unknown = error.cause;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if (current instanceof FortressError && TRANSIENT_STORAGE.has(current.code)) return current.code;
    current = current.cause;
  }
  return error.code;
}

/** The HTTP status of a Fortress error code (500 for codes that mean the server failed). */
export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly requestId: string };
}

export function errorBody(code: string, message: string, requestId: string): ErrorBody {
  return { error: { code, message, requestId } };
}

function validationMessage(error: FastifyError): string {
  const all = error.validation ?? [];
  const first = all[0];
  if (first === undefined) return error.message;
  const where = error.validationContext ?? 'request';
  const path = first.instancePath === '' ? '' : ` at ${first.instancePath}`;
  return `${where}${path}: ${problemOf(first, all)}`.slice(0, 300);
}

type ValidationProblem = NonNullable<FastifyError['validation']>[number];

const oneOf = (values: readonly unknown[]): string =>
  `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;

/**
 * The schema checker's message, said so a caller can act on it: which values are allowed (an enum,
 * or a union of constants, which reports one failed constant per member), which field is unknown.
 */
function problemOf(problem: ValidationProblem, all: readonly ValidationProblem[]): string {
  const params = problem.params;
  switch (problem.keyword) {
    case 'enum':
      if (Array.isArray(params['allowedValues'])) return oneOf(params['allowedValues']);
      break;
    case 'const': {
      const values = all
        .filter((p) => p.keyword === 'const' && p.instancePath === problem.instancePath)
        .map((p) => p.params['allowedValue']);
      return values.length > 1 ? oneOf(values) : `must be ${JSON.stringify(values[0])}`;
    }
    case 'boolean':
      // A `false` schema under additionalProperties: the path names the member it refused.
      if (problem.schemaPath.endsWith('/additionalProperties')) return 'unknown field';
      break;
    case 'additionalProperties': {
      const names = params['additionalProperties'];
      if (Array.isArray(names)) return `unknown field ${names.map((n) => JSON.stringify(n)).join(', ')}`;
      break;
    }
  }
  return problem.message ?? 'invalid';
}

/**
 * What Node's HTTP parser refuses before any route runs (Fastify's `clientErrorHandler`): an
 * unknown method such as Vault's `LIST`, a malformed request line, headers over the size limit, a
 * request that took too long. Answered in the same `{ error: { code, message, requestId } }` shape
 * as every other error (Fastify's default is a bare "Client Error"), then the connection closes.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let message = 'malformed HTTP request';
  if (error.code === 'HPE_INVALID_METHOD') {
    message = 'unsupported HTTP method (GET, POST, PUT, PATCH, DELETE); for LIST, use GET with ?list=true';
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    message = 'the request headers are too large';
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    message = 'the request was not received in time';
  }
  const body = JSON.stringify(errorBody('FX_REQUEST_INVALID', message, randomUUID()));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** Installs the error and not-found handlers that give every failure a code. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const id = request.id;
    if (error instanceof FortressError) {
      const code = answerCode(error);
      const unavailable = code === 'FX_STORAGE_UNAVAILABLE';
      const status = statusOf(code);
      if (status >= 500 && !QUIET.has(code)) {
        request.log.error({ err: error, code: error.code }, 'request failed');
      }
      const retryAfter = RETRY_AFTER[code];
      if (retryAfter !== undefined) void reply.header('retry-after', retryAfter);
      return reply
        .status(status)
        .send(errorBody(code, unavailable ? UNAVAILABLE_MESSAGE : error.message, id));
    }
    if (error.validation !== undefined) {
      return reply.status(400).send(errorBody('FX_REQUEST_INVALID', validationMessage(error), id));
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send(errorBody('FX_PAYLOAD_TOO_LARGE', 'the request body is too large', id));
    }
    if (error.statusCode === 429) {
      void reply.header('retry-after', String(reply.getHeader('retry-after') ?? 1));
      return reply.status(429).send(errorBody('FX_RATE_LIMITED', 'too many requests; retry later', id));
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      // Fastify's own client errors: bad JSON, wrong content type, empty body, bad URL.
      const message = error.code.startsWith('FST_ERR_CTP_INVALID_MEDIA_TYPE')
        ? 'unsupported content type; send application/json'
        : error.message.slice(0, 300);
      return reply
        .status(error.statusCode === 415 ? 415 : 400)
        .send(errorBody('FX_REQUEST_INVALID', message, id));
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply
      .status(500)
      .send(errorBody('FX_INTERNAL', `internal error; quote request id ${id} to the operator`, id));
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(
        errorBody(
          'FX_NOT_FOUND',
          `no route ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`,
          request.id,
        ),
      ),
  );
}
