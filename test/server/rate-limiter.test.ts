/**
 * Request limits (src/server/http/rate-limiter.ts): the window arithmetic on a fake clock, and over
 * HTTP a real server answering 429 FX_RATE_LIMITED with Retry-After — per token and per address,
 * the metrics route exempt, a limited token not limiting another.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/server/http/rate-limiter.js';
import type { RunningServer } from '../../src/server/server.js';
import { dropTestSchemas, startTestServer } from '../helpers/backend.js';

describe('RateLimiter', () => {
  it('counts per key in a fixed window and tells how long until it resets', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter({ perToken: 2, perAddress: 3 }, { windowMs: 60_000, now: () => now });
    const token = limiter.keyOf('Bearer fxt_a', '10.0.0.1');
    const other = limiter.keyOf('Bearer fxt_b', '10.0.0.1');
    const address = limiter.keyOf(undefined, '10.0.0.1');
    expect(token).not.toContain('fxt_'); // a digest, never the token
    expect(token).not.toBe(other);
    expect([limiter.hit(token), limiter.hit(token)]).toEqual([0, 0]);
    expect(limiter.hit(token)).toBe(60);
    expect(limiter.hit(other)).toBe(0); // another token has its own window
    expect([limiter.hit(address), limiter.hit(address), limiter.hit(address)]).toEqual([0, 0, 0]);
    now += 30_500;
    expect(limiter.hit(address)).toBe(30); // seconds left, rounded up
    now += 29_500;
    expect(limiter.hit(token)).toBe(0); // a new window
    expect(limiter.hit(address)).toBe(0);
    expect(limiter.keyOf('', '10.0.0.2')).toBe('a:10.0.0.2'); // an empty header counts as none
  });

  it('stays bounded under a flood of distinct keys', () => {
    let now = 0;
    const limiter = new RateLimiter({ perToken: 10, perAddress: 10 }, { now: () => now });
    for (let i = 0; i < 100_000; i++) limiter.hit(`a:${i}`);
    now += 61_000; // every window has expired: the sweep drops them
    limiter.hit('a:fresh');
    expect(limiter.size).toBe(1);
    for (let i = 0; i < 100_000; i++) limiter.hit(`b:${i}`); // all still open: cleared when full
    expect(limiter.size).toBeLessThanOrEqual(100_000);
  });
});

describe('rate limits over HTTP', () => {
  let dir: string;
  let server: RunningServer;
  let root: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fx-rate-'));
    server = await startTestServer(dir, { rateLimit: { perToken: 5, perAddress: 4 } });
    const init = await fetch(`${server.url}/v1/sys/init`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ shares: 1, threshold: 1 }),
    });
    expect(init.status).toBe(200);
    root = ((await init.json()) as { rootToken: string }).rootToken;
  }, 60_000);

  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
    await dropTestSchemas();
  });

  it('answers 429 FX_RATE_LIMITED with Retry-After past a token’s limit', async () => {
    const lookup = () =>
      fetch(`${server.url}/v1/auth/token/lookup-self`, { headers: { authorization: `Bearer ${root}` } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await lookup()).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const limited = await lookup();
    expect(limited.status).toBe(429);
    const retry = Number(limited.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(limited.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const body = (await limited.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('FX_RATE_LIMITED');
    expect(body.error.message).toMatch(/retry in \d+ s/);
    expect(body.error.message).not.toContain(root);
    expect(body.error.requestId).toBe(limited.headers.get('x-request-id'));
  });

  it('counts requests without a token per address, and never limits the metrics route', async () => {
    // The address has spent one of its 4 on init already.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${server.url}/v1/sys/health`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    for (let i = 0; i < 8; i++) {
      const metrics = await fetch(`${server.url}/v1/sys/metrics`);
      expect(metrics.status).toBe(200);
      await metrics.text();
    }
  });
});
