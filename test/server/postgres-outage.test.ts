/**
 * PostgreSQL goes away under load and comes back. A real `fortress server` process on a private
 * PostgreSQL (test/helpers/pg-instance.ts, never the shared test server) serves concurrent client
 * loops that insert rows with unique keys (recording every acknowledged insert) and read them
 * back. Mid-load PostgreSQL stops — `fast` (sessions terminated, a clean shutdown), then, in a
 * second outage, `immediate` (a crash: crash recovery at the next start) — for a second and a half.
 *
 * While it is down every request fails fast with 503 `FX_STORAGE_UNAVAILABLE` and a Retry-After
 * — never a 500, never a hang — and its message names no database host. Once PostgreSQL is back
 * the same server process (never restarted) serves again within a bounded time; at the end every
 * acknowledged insert reads back with its value and the audit ledger verifies. A request cut off
 * mid-commit may or may not have written its row: only acknowledged rows are checked.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFortressClientError, type FortressClient } from '../../src/client/index.js';
import { startPgInstance, type PgInstance, type PgStopMode } from '../helpers/pg-instance.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

const WRITERS = 4;
const READERS = 2;
const LOOPS = [
  ...Array.from({ length: WRITERS }, (_, i) => `writer-${i + 1}`),
  ...Array.from({ length: READERS }, (_, i) => `reader-${i + 1}`),
];
/** Load before PostgreSQL stops (at least: until every loop succeeded twice), how long it is down. */
const WARM_MS = 800;
const OUTAGE_MS = 1_500;
/** Load after recovery (at least: until every loop made two more requests). */
const AFTER_MS = 300;
/** The longest the warm-up or the load after recovery may take on a busy machine. */
const PHASE_LIMIT_MS = 20_000;
/**
 * The client's deadline per request (it never retries): a hang fails as FX_TIMEOUT. Generous: on a
 * busy two-core machine a request after recovery can take seconds (new connections, SERIALIZABLE
 * retries); requests during the outage must be much faster (FAIL_FAST_MS).
 */
const REQUEST_TIMEOUT_MS = 15_000;
/** While PostgreSQL is down a request is refused at least this fast. */
const FAIL_FAST_MS = 2_000;
/** The server serves every loop again this soon after PostgreSQL accepts connections. */
const RECOVERY_MS = 10_000;

/** One request of a load loop, as the client saw it (times from performance.now()). */
interface Call {
  readonly loop: string;
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  readonly status: number;
  readonly code: string | null;
}

/** What happened during one outage. */
interface Outage {
  readonly mode: PgStopMode;
  /** The load loops started. */
  readonly beganAt: number;
  /** `pg_ctl stop` called, returned (no server left), `pg_ctl start` called, returned (accepting). */
  readonly downAt: number;
  readonly stoppedAt: number;
  readonly upAt: number;
  readonly startedAt: number;
  /** Every loop had a request succeed that started after `startedAt`. */
  readonly recoveredAt: number;
  /** A request sent while PostgreSQL was down, as raw HTTP. */
  readonly raw: { status: number; retryAfter: string | null; body: string };
  /** The health endpoint's status while PostgreSQL was down, and after recovery. */
  readonly healthDown: readonly number[];
  readonly healthAfter: number;
}

describe('PostgreSQL stopped and started again under load', () => {
  let pg: PgInstance;
  let tmp: string;
  let server: ServerProcess;
  let token: string;
  let pid: number | undefined;
  const calls: Call[] = [];
  const acked = new Map<number, { owner: string; balance: string }>();
  const outages: Outage[] = [];
  function sdk(options: { token?: string; retries?: number } = {}): FortressClient {
    return server.client(options.token, {
      retries: options.retries ?? 0,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
  }

  async function rawGet(route: string, auth?: string): Promise<Outage['raw']> {
    const response = await server.fetch(`${server.url}${route}`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: auth === undefined ? {} : { authorization: `Bearer ${auth}` },
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: await response.text(),
    };
  }

  beforeAll(async () => {
    pg = await startPgInstance();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'fx-pg-outage-'));
    server = await startServerProcess(path.join(tmp, 'data'), {
      FORTRESS_STORAGE_KIND: 'postgres',
      FORTRESS_STORAGE_URL: pg.url,
      FORTRESS_LOG_FILE: path.join(tmp, 'server.log'),
    });
    pid = server.child.pid;
    const init = await sdk().sys.init({ shares: 3, threshold: 2 });
    token = init.rootToken;
    await sdk({ token }).db.createTable('accounts', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        owner: { type: 'text', encrypt: { search: 'equality' } },
        balance: { type: 'text', encrypt: true },
      },
    });
  }, 60_000);

  afterAll(async () => {
    // Each step runs even if one before it failed (a server that never started, …).
    await server.stop().catch(() => undefined);
    await pg.destroy();
    await rm(tmp, { recursive: true, force: true });
  }, 60_000);

  /** Waits until `done()` (polling), failing after `limitMs`. */
  async function waitFor(what: string, limitMs: number, done: () => boolean): Promise<void> {
    const start = performance.now();
    while (!done()) {
      if (performance.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  }

  /** Every loop made `count` requests that started after `since` (and succeeded, if `ok`). */
  function everyLoop(since: number, count: number, ok: boolean): boolean {
    return LOOPS.every(
      (loop) => calls.filter((c) => c.loop === loop && c.start > since && (c.ok || !ok)).length >= count,
    );
  }

  /** Runs the load loops through one outage of PostgreSQL. */
  async function outage(mode: PgStopMode): Promise<Outage> {
    let stopping = false;

    async function observe(loop: string, fn: () => Promise<unknown>): Promise<void> {
      const start = performance.now();
      try {
        await fn();
        calls.push({ loop, start, end: performance.now(), ok: true, status: 200, code: null });
      } catch (error) {
        const end = performance.now();
        if (!isFortressClientError(error)) throw error;
        calls.push({ loop, start, end, ok: false, status: error.status, code: error.code });
        // The server refuses in a millisecond: do not spin.
        await sleep(20);
      }
    }

    const writer = async (loop: string, base: number): Promise<void> => {
      const client = sdk({ token });
      for (let i = 0; !stopping; i++) {
        const id = base + i;
        const row = { owner: `owner-${i % 7}`, balance: randomUUID() };
        await observe(loop, async () => {
          await client.db.insert('accounts', { id, ...row });
          acked.set(id, row);
        });
      }
    };
    const reader = async (loop: string, byOwner: boolean): Promise<void> => {
      const client = sdk({ token });
      while (!stopping) {
        const ids = [...acked.keys()];
        if (ids.length === 0) {
          await sleep(10);
          continue;
        }
        const id = ids[Math.floor(Math.random() * ids.length)]!;
        const expected = acked.get(id)!;
        await observe(loop, async () => {
          if (byOwner) {
            const found = await client.db.find('accounts', { where: { owner: expected.owner } });
            expect(found.map((row) => row['id'])).toContain(id);
          } else {
            expect(await client.db.get('accounts', id)).toEqual({ id, ...expected });
          }
        });
      }
    };

    // Keys unique across outages: 1e6 per loop per outage.
    const round = outages.length;
    const beganAt = performance.now();
    const loops = LOOPS.map((loop, i) =>
      i < WRITERS
        ? writer(loop, (round * LOOPS.length + i + 1) * 1_000_000)
        : reader(loop, (i - WRITERS) % 2 === 1),
    );
    try {
      await sleep(WARM_MS);
      await waitFor('the warm-up', PHASE_LIMIT_MS, () => everyLoop(beganAt, 2, true));
      const someId = [...acked.keys()][0] ?? 0;
      const downAt = performance.now();
      await pg.stop(mode);
      const stoppedAt = performance.now();
      const healthDown: number[] = [];
      const raw = await rawGet(`/v1/db/tables/accounts/rows/${someId}`, token);
      while (performance.now() - stoppedAt < OUTAGE_MS) {
        healthDown.push((await rawGet('/v1/sys/health')).status);
        await sleep(100);
      }
      const upAt = performance.now();
      await pg.start();
      const startedAt = performance.now();
      await waitFor('recovery', RECOVERY_MS, () => everyLoop(startedAt, 1, true));
      const recoveredAt = performance.now();
      // Some more load once recovered: nothing may fail any more.
      await sleep(AFTER_MS);
      await waitFor('load after recovery', PHASE_LIMIT_MS, () => everyLoop(recoveredAt, 2, false));
      const healthAfter = (await rawGet('/v1/sys/health')).status;
      stopping = true;
      await Promise.all(loops);
      const result = {
        mode,
        beganAt,
        downAt,
        stoppedAt,
        upAt,
        startedAt,
        recoveredAt,
        raw,
        healthDown,
        healthAfter,
      };
      outages.push(result);
      return result;
    } finally {
      stopping = true;
      await Promise.allSettled(loops);
      if (!pg.running) await pg.start();
    }
  }

  function checkOutage(o: Outage): void {
    const summary = (list: readonly Call[]): string[] =>
      list.map((c) => `${c.loop} ${c.status} ${c.code} ${Math.round(c.start - o.downAt)}ms`);
    const before = calls.filter((c) => c.start >= o.beganAt && c.end < o.downAt);
    const during = calls.filter((c) => c.start >= o.stoppedAt && c.end <= o.upAt);
    const after = calls.filter((c) => c.start >= o.recoveredAt);

    // Every failure is a 503 that says "retry": storage unreachable (the outage, including the
    // requests cut off as PostgreSQL went down or came up) — never a 500, never a timeout, never
    // "busy" (no write conflicts on the audit ledger's sequencer).
    expect(
      summary(calls.filter((c) => !c.ok && (c.status !== 503 || c.code !== 'FX_STORAGE_UNAVAILABLE'))),
    ).toEqual([]);
    // Before the outage: load ran, and nothing failed.
    expect(before.filter((c) => c.ok).length).toBeGreaterThanOrEqual(2 * LOOPS.length);
    expect(summary(before.filter((c) => !c.ok))).toEqual([]);
    // While it was down every loop was refused, as unreachable storage, and fast.
    expect(summary(during.filter((c) => c.ok || c.code !== 'FX_STORAGE_UNAVAILABLE'))).toEqual([]);
    for (const loop of LOOPS)
      expect(
        during.some((c) => c.loop === loop),
        loop,
      ).toBe(true);
    expect(Math.max(...during.map((c) => c.end - c.start))).toBeLessThan(FAIL_FAST_MS);
    // What a client sees: 503, Retry-After, a stable code, no database address.
    expect(o.raw.status).toBe(503);
    expect(o.raw.retryAfter).toBe('1');
    const body = JSON.parse(o.raw.body) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FX_STORAGE_UNAVAILABLE');
    expect(body.error.message).not.toContain(String(pg.port));
    expect(body.error.message).not.toContain('postgres://');
    // Back within RECOVERY_MS (outage() waited for that), and from then on nothing fails.
    expect(after.length).toBeGreaterThanOrEqual(2 * LOOPS.length);
    expect(summary(after.filter((c) => !c.ok))).toEqual([]);
    // The same process throughout.
    expect(server.child.pid).toBe(pid);
    expect(server.child.exitCode).toBeNull();
  }

  it('fast shutdown: 503 FX_STORAGE_UNAVAILABLE while down, serving again once it is back', async () => {
    checkOutage(await outage('fast'));
  });

  it('immediate shutdown (a crash): the same, after crash recovery', async () => {
    checkOutage(await outage('immediate'));
  });

  it('every acknowledged insert reads back with its value; the audit ledger verifies', async () => {
    expect(outages.length).toBe(2);
    expect(acked.size).toBeGreaterThan(50);
    const admin = sdk({ token, retries: 3 });
    const rows = new Map<number, unknown>();
    for await (const row of admin.db.exportRows('accounts')) rows.set(row['id'] as number, row);
    const wrong = [...acked].filter(([id, row]) => {
      const stored = rows.get(id) as Record<string, unknown> | undefined;
      return stored?.['owner'] !== row.owner || stored['balance'] !== row.balance;
    });
    expect(wrong.map(([id]) => id)).toEqual([]);
    // Writes after the outages appended audit entries, so the ledger did not wedge; the whole
    // ledger still verifies and signs a checkpoint.
    const verified = await admin.audit.verify();
    expect(verified).toMatchObject({ ok: true, problem: null });
    expect(verified['size']).toBeGreaterThan(acked.size);
    expect(await admin.audit.checkpoint()).toMatchObject({ size: expect.any(Number) as number });
    expect(server.child.pid).toBe(pid);
    expect(server.child.exitCode).toBeNull();
  });

  // The health check must take a node whose database is unreachable out of a load balancer's
  // rotation: 503 (the cluster check before every request fails with FX_STORAGE_UNAVAILABLE),
  // never a 500.
  it('the health check answers 503 while PostgreSQL is down, 200 once it is back', () => {
    expect(outages.length).toBe(2);
    for (const o of outages) {
      expect(o.healthDown.length).toBeGreaterThan(3);
      expect(new Set(o.healthDown), o.mode).toEqual(new Set([503]));
      expect(o.healthAfter, o.mode).toBe(200);
    }
  });
});
