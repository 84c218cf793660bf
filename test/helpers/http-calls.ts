/**
 * @module test/helpers/http-calls
 * Plain `fetch` calls against a running test server, shared by the route tests (kv, transit,
 * database) that used to carry identical copies: `call` sends one request (a JSON body, or raw
 * text for malformed-body cases) with a bearer token and parses the answer tolerantly, `ok`
 * asserts a 200 and returns the body, `expectError` asserts a status and a stable FX_ code. The
 * server and the root token only exist after a file's beforeAll, so the helpers read them through
 * a function at call time instead of capturing them.
 */
import { expect } from 'vitest';

/** One HTTP answer: the status, the body parsed as JSON (`{}` when it is not JSON), and the raw text. */
export interface Reply {
  status: number;
  body: Record<string, unknown>;
  text: string;
  headers: Headers;
}

/** Where requests go, read at each call: the server's base URL and the token used by default. */
export interface HttpTarget {
  url: string;
  token: string;
}

export interface HttpCalls {
  /**
   * Sends `method route` with `Authorization: Bearer <token>` (the target's token unless given).
   * `raw`, when given, is sent verbatim as the JSON body instead of `body` serialised.
   */
  call: (method: string, route: string, body?: unknown, token?: string, raw?: string) => Promise<Reply>;
  /** `call`, asserting a 200 (the message names the request and shows the answer); returns the body. */
  ok: (method: string, route: string, body?: unknown, token?: string) => Promise<Record<string, unknown>>;
  /** Asserts the reply has `status` and the error code `code`. */
  expectError: (reply: Reply, status: number, code: string) => void;
}

/** How much of an answer's text a failed `ok` shows. */
const OK_MESSAGE_CHARS = 500;

/** The helpers bound to `target`, which is called on every request (not when this is called). */
export function httpCalls(target: () => HttpTarget): HttpCalls {
  async function call(
    method: string,
    route: string,
    body?: unknown,
    token: string = target().token,
    raw?: string,
  ): Promise<Reply> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    const text = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    if (text !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(target().url + route, {
      method,
      headers,
      ...(text === undefined ? {} : { body: text }),
    });
    const out = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(out) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed, text: out, headers: response.headers };
  }

  async function ok(
    method: string,
    route: string,
    body?: unknown,
    token: string = target().token,
  ): Promise<Record<string, unknown>> {
    const r = await call(method, route, body, token);
    expect(r.status, `${method} ${route}: ${r.text.slice(0, OK_MESSAGE_CHARS)}`).toBe(200);
    return r.body;
  }

  function expectError(r: Reply, status: number, code: string): void {
    expect(r.status, r.text).toBe(status);
    expect((r.body['error'] as { code?: string } | undefined)?.code, r.text).toBe(code);
  }

  return { call, ok, expectError };
}
