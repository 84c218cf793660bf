/**
 * @module client/http-transport
 * One HTTP exchange with a Fortress server, over the global `fetch` (or one the caller passes):
 * URL and headers, JSON bodies, the error body turned into a FortressClientError, a deadline per
 * call through an AbortController, and retries.
 *
 * Retries happen only where repeating a request cannot do something twice: GET, HEAD, PUT and
 * DELETE, and the POSTs the API marks safe (pure checks such as find, count, validate). They
 * answer network failures, 429 (after the server's Retry-After) and 503 — but not a 503 that says
 * the server is sealed or uninitialised, which waits for an operator, not for time. Delays grow
 * exponentially from 100 ms to at most 2 s, with jitter so that many clients do not retry in step.
 * The deadline covers the whole call, retries and waits included; a wait that would outlast it is
 * not started (the last error is reported instead). Redirects are refused, so a token and a body
 * never go anywhere but the configured address.
 */
import { FortressClientError } from './client-errors.js';
import { Deadline } from './deadline.js';
import { toWire } from './wire-codec.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Query values; undefined ones are left out. */
export type QueryValues = Readonly<Record<string, string | number | boolean | undefined>>;

/** One request as the API methods describe it. */
export interface RequestSpec {
  readonly method: HttpMethod;
  /** The path under the address, its variable segments already encoded (see `path`). */
  readonly path: string;
  readonly query?: QueryValues;
  /** A JSON body (Dates and bytes converted); absent: no body and no content type. */
  readonly body?: unknown;
  /** A streamed body: sent with `duplex: 'half'`, and never retried (it cannot be replayed). */
  readonly stream?: { readonly body: ReadableStream<Uint8Array>; readonly contentType: string };
  /** A POST that changes nothing, so it may be retried. */
  readonly safe?: boolean;
  /** Never retried, even as a GET: one that creates something (new database credentials). */
  readonly once?: boolean;
  /** Statuses whose bodies are answers rather than failures (health: 501, 503). */
  readonly accept?: readonly number[];
  /** How to read the answer. @default 'json' */
  readonly response?: 'json' | 'text';
}

export interface TransportOptions {
  readonly baseUrl: string;
  readonly fetch: typeof fetch;
  readonly retries: number;
  readonly timeoutMs: number;
  readonly userAgent: string | undefined;
}

const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 2000;
const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
/** 503s that need an operator (init, unseal): retrying them only delays the answer. */
const NOT_TRANSIENT: ReadonlySet<string> = new Set(['FX_SEALED', 'FX_NOT_INITIALIZED']);

/**
 * Builds a path from a template, encoding every interpolated value as one path segment, so a
 * table name or row key can never reach another route (`../`, `?`, `/`).
 *
 * @example
 * ```ts
 * path`/v1/db/tables/${table}/rows/${key}`  // '/v1/db/tables/t/rows/a%2Fb' for key 'a/b'
 * ```
 */
export function path(strings: TemplateStringsArray, ...values: readonly (string | number)[]): string {
  let out = strings[0]!;
  values.forEach((value, i) => {
    if (typeof value === 'string' ? value === '' : !Number.isFinite(value)) {
      throw new TypeError(`path segment ${i + 1}: expected a non-empty string or a finite number`);
    }
    // URL parsing resolves "." and ".." segments — encoded as %2E too — so they would address
    // another route (a row key ".." under DELETE …/rows/ names the table). Refuse them.
    if (value === '.' || value === '..') {
      throw new TypeError(
        `path segment ${JSON.stringify(value)} cannot be sent in a URL; for a row key, use db.transaction`,
      );
    }
    out += encodeURIComponent(String(value)) + strings[i + 1]!;
  });
  return out;
}

/** Exponential backoff with "equal jitter": half the step fixed, half random. */
function backoff(attempt: number): number {
  const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return step / 2 + Math.random() * (step / 2);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
function retryAfterMs(response: Response): number | null {
  const value = response.headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return null;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

interface ErrorBodyShape {
  readonly error: { readonly code: string; readonly message: string; readonly requestId?: unknown };
}

function isErrorBody(value: unknown): value is ErrorBodyShape {
  if (value === null || typeof value !== 'object') return false;
  const error = (value as { error?: unknown }).error;
  return (
    error !== null &&
    typeof error === 'object' &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

/** The HTTP layer of a FortressClient. */
export class HttpTransport {
  readonly #options: TransportOptions;
  #token: string | undefined;
  #level: string | undefined;

  constructor(options: TransportOptions, token: string | undefined, level: string | undefined) {
    this.#options = options;
    this.#token = token;
    this.#level = level;
  }

  /** The working security level sent as `X-Fortress-Level`, or undefined (the clearance). */
  get level(): string | undefined {
    return this.#level;
  }

  set level(level: string | undefined) {
    this.#level = level;
  }

  get token(): string | undefined {
    return this.#token;
  }

  set token(token: string | undefined) {
    this.#token = token;
  }

  /** A deadline of the configured length, for a caller that must touch it while it sends (import). */
  deadline(): Deadline {
    return new Deadline(this.#options.timeoutMs);
  }

  /** Sends a request and reads its answer (JSON, text, or undefined for 204). */
  async request(spec: RequestSpec, deadline: Deadline = this.deadline()): Promise<unknown> {
    try {
      const response = await this.#exchange(spec, deadline);
      return await this.#read(response, spec.response ?? 'json', deadline);
    } catch (error) {
      throw deadline.translate(error);
    } finally {
      deadline.clear();
    }
  }

  /**
   * Sends a request and hands over the response with its body unread, for streaming. The deadline
   * becomes an idle timeout the caller touches as data moves, and must clear when done.
   */
  async open(spec: RequestSpec): Promise<{ response: Response; deadline: Deadline }> {
    const deadline = this.deadline();
    try {
      return { response: await this.#exchange(spec, deadline), deadline };
    } catch (error) {
      deadline.clear();
      throw deadline.translate(error);
    }
  }

  async #exchange(spec: RequestSpec, deadline: Deadline): Promise<Response> {
    const retryable =
      spec.stream === undefined && spec.once !== true && (IDEMPOTENT.has(spec.method) || spec.safe === true);
    const retries = retryable ? this.#options.retries : 0;
    const url = this.#url(spec);
    const init = this.#init(spec, deadline.signal);
    const fetchFn = this.#options.fetch; // called unbound: a browser's fetch refuses another `this`
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await fetchFn(url, init);
      } catch (error) {
        if (deadline.expired) throw deadline.timeoutError();
        if (error instanceof FortressClientError) throw error; // e.g. a failing import source
        const failure = new FortressClientError(
          'FX_NETWORK',
          // The address, never the path: a path may hold a row key.
          `${spec.method} to ${this.#options.baseUrl} got no answer: ${describeCause(error)}`,
          { cause: error },
        );
        if (attempt >= retries) throw failure;
        const wait = backoff(attempt);
        if (wait >= deadline.remaining()) throw failure;
        await deadline.sleep(wait);
        continue;
      }
      if (response.ok || spec.accept?.includes(response.status) === true) return response;
      const failure = await this.#failure(response, deadline);
      const transient =
        response.status === 429 || (response.status === 503 && !NOT_TRANSIENT.has(failure.code));
      if (!transient || attempt >= retries) throw failure;
      const wait = Math.max(retryAfterMs(response) ?? 0, backoff(attempt));
      if (wait >= deadline.remaining()) throw failure;
      await deadline.sleep(wait);
    }
  }

  #url(spec: RequestSpec): string {
    let url = this.#options.baseUrl + spec.path;
    if (spec.query !== undefined) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(spec.query)) {
        if (value !== undefined) params.set(key, String(value));
      }
      const query = params.toString();
      if (query !== '') url += `?${query}`;
    }
    return url;
  }

  #init(spec: RequestSpec, signal: AbortSignal): RequestInit {
    const headers: Record<string, string> = {
      accept: spec.response === 'text' ? 'text/plain, */*' : 'application/json',
    };
    if (this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`;
    if (this.#level !== undefined) headers['x-fortress-level'] = this.#level;
    if (this.#options.userAgent !== undefined) headers['user-agent'] = this.#options.userAgent;
    const init: RequestInit = { method: spec.method, headers, signal, redirect: 'error' };
    if (spec.stream !== undefined) {
      headers['content-type'] = spec.stream.contentType;
      init.body = spec.stream.body;
      // Node's fetch (undici) and the fetch standard require it for a stream body.
      (init as RequestInit & { duplex: 'half' }).duplex = 'half';
    } else if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(toWire(spec.body));
    }
    return init;
  }

  /** The error an unsuccessful response stands for: the server's, or FX_BAD_RESPONSE. */
  async #failure(response: Response, deadline: Deadline): Promise<FortressClientError> {
    const headerId = response.headers.get('x-request-id');
    let text = '';
    try {
      text = await response.text();
    } catch {
      // A cut-off error body still leaves the status to report; only the deadline outranks it.
      if (deadline.expired) throw deadline.timeoutError();
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text) as unknown;
    } catch {
      parsed = undefined;
    }
    if (isErrorBody(parsed)) {
      const bodyId = parsed.error.requestId;
      return new FortressClientError(parsed.error.code, parsed.error.message, {
        status: response.status,
        requestId: typeof bodyId === 'string' ? bodyId : headerId,
      });
    }
    const reason = response.statusText === '' ? '' : ` ${response.statusText}`;
    return new FortressClientError(
      'FX_BAD_RESPONSE',
      `HTTP ${response.status}${reason}, without a Fortress error body`,
      { status: response.status, requestId: headerId },
    );
  }

  async #read(response: Response, kind: 'json' | 'text', deadline: Deadline): Promise<unknown> {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (deadline.expired) throw deadline.timeoutError();
      throw new FortressClientError('FX_NETWORK', `the answer was cut off: ${describeCause(error)}`, {
        status: response.status,
        requestId: response.headers.get('x-request-id'),
        cause: error,
      });
    }
    if (kind === 'text') return text;
    if (response.status === 204 || text === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new FortressClientError('FX_BAD_RESPONSE', `HTTP ${response.status}: the body is not JSON`, {
        status: response.status,
        requestId: response.headers.get('x-request-id'),
        cause: error,
      });
    }
  }
}

/** The answer as a JSON object, or FX_BAD_RESPONSE naming the call. */
export function expectObject(body: unknown, what: string): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new FortressClientError('FX_BAD_RESPONSE', `${what}: expected a JSON object in the answer`);
  }
  return body as Record<string, unknown>;
}

/** One field of the answer, or FX_BAD_RESPONSE when the server left it out. */
export function expectField(body: unknown, key: string, what: string): unknown {
  const value = expectObject(body, what)[key];
  if (value === undefined) {
    throw new FortressClientError('FX_BAD_RESPONSE', `${what}: the answer has no ${key}`);
  }
  return value;
}
