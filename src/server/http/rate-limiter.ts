/**
 * @module server/http/rate-limiter
 * Request limits per token and per client address: a fixed one-minute window per key, in memory
 * (per process). Requests with a bearer token count against the token — keyed by a digest of the
 * header, never the token — others against the client address.
 *
 * Checked synchronously in the server's one `onRequest` hook: `@fastify/rate-limit` (used before)
 * ran four awaits and set three headers on every response, ≈ 4 % of a transit request's CPU; this
 * is one digest and one map lookup. Over the limit, the answer is 429 `FX_RATE_LIMITED` with
 * `Retry-After` (seconds until the window resets).
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ perToken: 6000, perAddress: 12000 });
 * const wait = limiter.hit(limiter.keyOf(request.headers.authorization, request.ip));
 * if (wait > 0) reply.code(429).header('retry-after', String(wait));
 * ```
 */
import { hash } from 'node:crypto';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: the route is not rate limited (metrics scrapes). */
    rateLimit?: false;
  }
}

export interface RateLimits {
  /** Requests per window for each token. */
  readonly perToken: number;
  /** Requests per window for each client address (requests without a token). */
  readonly perAddress: number;
}

/** A key's window: requests counted so far and when the count restarts (ms since the epoch). */
interface Window {
  count: number;
  resetAt: number;
}

/** Keys tracked at most: past this, expired windows are dropped, and if none were, all are. */
const MAX_KEYS = 100_000;
const TOKEN = 't:';

export class RateLimiter {
  readonly #limits: RateLimits;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(limits: RateLimits, options: { windowMs?: number; now?: () => number } = {}) {
    this.#limits = limits;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The key a request counts under: its token's digest, or its client address. */
  keyOf(authorization: string | undefined, address: string): string {
    return authorization === undefined || authorization === ''
      ? `a:${address}`
      : TOKEN + hash('sha256', authorization, 'base64url');
  }

  /** Counts one request under `key`: 0 when allowed, else the whole seconds until its window resets. */
  hit(key: string): number {
    const now = this.#now();
    let window = this.#windows.get(key);
    if (window === undefined) {
      if (this.#windows.size >= MAX_KEYS) this.#sweep(now);
      window = { count: 0, resetAt: now + this.#windowMs };
      this.#windows.set(key, window);
    } else if (window.resetAt <= now) {
      window.count = 0;
      window.resetAt = now + this.#windowMs;
    }
    window.count++;
    const max = key.startsWith(TOKEN) ? this.#limits.perToken : this.#limits.perAddress;
    return window.count > max ? Math.max(1, Math.ceil((window.resetAt - now) / 1000)) : 0;
  }

  /** Keys tracked (for tests and metrics). */
  get size(): number {
    return this.#windows.size;
  }

  #sweep(now: number): void {
    for (const [key, window] of this.#windows) if (window.resetAt <= now) this.#windows.delete(key);
    // Every window still open (a flood of distinct addresses): start over rather than grow.
    if (this.#windows.size >= MAX_KEYS) this.#windows.clear();
  }
}
