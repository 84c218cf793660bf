/**
 * The server's authentication and authorisation matrix, and bad input at every route, over real
 * HTTP against a real data directory: no token, malformed, unknown, expired, revoked, another
 * tenant, a principal with no policy → 401/403 with the right codes; a token's children die with
 * it; malformed JSON, wrong types, unknown fields, oversize bodies and path tricks → 4xx with a
 * code, never a 5xx, and nothing stored changes. A fast-check fuzz sends 10,000 generated requests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { dropTestSchemas, startTestServer } from '../helpers/backend.js';

let server: RunningServer;
let dir: string;
let root: string;
let shares: string[];

interface Reply {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

async function call(
  method: string,
  route: string,
  options: { body?: unknown; raw?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(server.url + route, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // text bodies (metrics, exports)
  }
  return { status: response.status, body: parsed, text };
}

const code = (r: Reply): unknown => (r.body['error'] as { code?: unknown } | undefined)?.code;

async function login(username: string, password: string, tenant?: string): Promise<string> {
  const r = await call('POST', '/v1/auth/userpass/login', {
    body: { username, password, ...(tenant === undefined ? {} : { tenant }) },
  });
  expect(r.status, r.text).toBe(200);
  return r.body['token'] as string;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-http-matrix-'));
  server = await startTestServer(dir, {
    bodyLimit: 64 * 1024,
    rateLimit: { perToken: 1_000_000, perAddress: 1_000_000 },
  });
  const init = await call('POST', '/v1/sys/init', { body: { shares: 3, threshold: 2 } });
  expect(init.status, init.text).toBe(200);
  root = init.body['rootToken'] as string;
  shares = init.body['shares'] as string[];
  const created = await call('POST', '/v1/db/tables', {
    token: root,
    body: {
      name: 'patients',
      definition: {
        columns: {
          id: { type: 'text', primaryKey: true },
          email: { type: 'text', encrypt: { search: 'equality' } },
          ssn: { type: 'text', encrypt: true, mask: 'last4' },
          age: { type: 'integer' },
        },
      },
    },
  });
  expect(created.status, created.text).toBe(201);
  const db = server.context.unsealed();
  await db.access.addRole('reader');
  await db.access.addUser('ann', { roles: ['reader'] });
  await db.access.addUser('nobody');
  await db.access.addUser('eve', { tenant: 'other' });
  await db.access.addPolicies({
    'reader-reads': `permit (principal in Fortress::Role::"default/reader", action in [Fortress::Action::"read", Fortress::Action::"query"], resource in Fortress::Table::"default/main/patients");`,
  });
  // Another tenant's user is not the default tenant admin's to manage (the tenant guardrail).
  const foreign = await call('PUT', '/v1/auth/userpass/users/eve', {
    token: root,
    body: { password: 'eve-password-long-enough', tenant: 'other' },
  });
  expect(foreign.status).toBe(403);
  await server.context.passwords.setPassword('other', 'eve', 'eve-password-long-enough');
  for (const [name, tenant] of [
    ['ann', 'default'],
    ['nobody', 'default'],
  ] as const) {
    const r = await call('PUT', `/v1/auth/userpass/users/${name}`, {
      token: root,
      body: { password: `${name}-password-long-enough`, tenant },
    });
    expect(r.status, r.text).toBe(204);
  }
  for (let i = 0; i < 20; i++) {
    const r = await call('POST', '/v1/db/tables/patients/rows', {
      token: root,
      body: {
        row: { id: `p${i}`, email: `p${i}@example.com`, ssn: `123-45-${String(1000 + i)}`, age: 20 + i },
      },
    });
    expect(r.status, r.text).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  await dropTestSchemas();
});

async function snapshot(): Promise<string> {
  const r = await call('POST', '/v1/db/tables/patients/find', {
    token: root,
    body: { orderBy: { id: 'asc' } },
  });
  expect(r.status).toBe(200);
  return JSON.stringify(r.body['rows']);
}

describe('authentication and authorisation over HTTP', () => {
  it('no token, a malformed one, an unknown one → 401 FX_UNAUTHENTICATED', async () => {
    for (const headers of [
      {},
      { authorization: 'Basic abc' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer not-a-token' },
      { authorization: `Bearer fxt_${'A'.repeat(43)}` },
    ]) {
      const r = await call('GET', '/v1/db/tables/patients/rows/p1', { headers });
      expect(r.status).toBe(401);
      expect(code(r)).toBe('FX_UNAUTHENTICATED');
      expect(r.body['error']).toHaveProperty('requestId');
    }
  });

  it('wrong passwords and unknown users fail alike (401 FX_LOGIN_FAILED)', async () => {
    for (const body of [
      { username: 'ann', password: 'wrong-password-long' },
      { username: 'ghost', password: 'ann-password-long-enough' },
      { username: 'eve', password: 'eve-password-long-enough' }, // right password, wrong tenant
    ]) {
      const r = await call('POST', '/v1/auth/userpass/login', { body });
      expect(r.status).toBe(401);
      expect(code(r)).toBe('FX_LOGIN_FAILED');
    }
  });

  it('a principal without a permitting policy gets 403 FX_FORBIDDEN; masking applies to a reader', async () => {
    const nobody = await login('nobody', 'nobody-password-long-enough');
    const denied = await call('GET', '/v1/db/tables/patients/rows/p1', { token: nobody });
    expect(denied.status).toBe(403);
    expect(code(denied)).toBe('FX_FORBIDDEN');
    const ann = await login('ann', 'ann-password-long-enough');
    const read = await call('GET', '/v1/db/tables/patients/rows/p1', { token: ann });
    expect(read.status, read.text).toBe(200);
    expect((read.body['row'] as Record<string, unknown>)['ssn']).toBe('*******1001');
    expect(read.text).not.toContain('123-45-1001');
    const write = await call('POST', '/v1/db/tables/patients/rows', {
      token: ann,
      body: { row: { id: 'x' } },
    });
    expect(write.status).toBe(403);
  });

  it('another tenant sees nothing of this one, whatever it asks', async () => {
    const eve = await login('eve', 'eve-password-long-enough', 'other');
    for (const [method, route, body] of [
      ['GET', '/v1/db/tables/patients/rows/p1', undefined],
      ['POST', '/v1/db/tables/patients/find', {}],
      ['DELETE', '/v1/db/tables/patients/rows/p1', undefined],
    ] as const) {
      const r = await call(method, route, { token: eve, ...(body === undefined ? {} : { body }) });
      expect(r.status).toBe(403);
      expect(code(r)).toBe('FX_FORBIDDEN');
    }
    const tables = await call('GET', '/v1/db/tables', { token: eve });
    expect(tables.body['tables']).toEqual([]);
  });

  it('revoked and expired tokens are refused; a token’s children die with it', async () => {
    const parent = (await call('POST', '/v1/auth/token/create', { token: root, body: { ttl: 600 } })).body;
    const child = (
      await call('POST', '/v1/auth/token/create', { token: parent['token'] as string, body: {} })
    ).body;
    expect(
      (await call('GET', '/v1/auth/token/lookup-self', { token: child['token'] as string })).status,
    ).toBe(200);
    const revoked = await call('POST', '/v1/auth/token/revoke-self', { token: parent['token'] as string });
    expect(revoked.body['revoked']).toBe(2);
    for (const t of [parent['token'], child['token']] as string[]) {
      const r = await call('GET', '/v1/auth/token/lookup-self', { token: t });
      expect(r.status).toBe(401);
      expect(code(r)).toBe('FX_UNAUTHENTICATED');
    }
    const short = (await call('POST', '/v1/auth/token/create', { token: root, body: { ttl: 1 } })).body;
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const expired = await call('GET', '/v1/auth/token/lookup-self', { token: short['token'] as string });
    expect(expired.status).toBe(401);
    expect(code(expired)).toBe('FX_TOKEN_EXPIRED');
  });

  it('a use-limited token stops after its uses; others cannot revoke what is not theirs', async () => {
    const limited = (await call('POST', '/v1/auth/token/create', { token: root, body: { uses: 2 } })).body;
    const t = limited['token'] as string;
    expect((await call('GET', '/v1/auth/token/lookup-self', { token: t })).status).toBe(200);
    expect((await call('GET', '/v1/auth/token/lookup-self', { token: t })).status).toBe(200);
    expect((await call('GET', '/v1/auth/token/lookup-self', { token: t })).status).toBe(401);
    const ann = await login('ann', 'ann-password-long-enough');
    const rootInfo = await call('GET', '/v1/auth/token/lookup-self', { token: root });
    const r = await call('POST', '/v1/auth/token/revoke', {
      token: ann,
      body: { accessor: rootInfo.body['accessor'] as string },
    });
    expect(r.status).toBe(403);
    expect((await call('GET', '/v1/auth/token/lookup-self', { token: root })).status).toBe(200);
  });
});

describe('bad input at every route: 4xx with a code, nothing stored changes', () => {
  it('malformed JSON, wrong types, unknown fields, oversize bodies, path tricks', async () => {
    const before = await snapshot();
    const cases: [string, string, Parameters<typeof call>[2], number][] = [
      ['POST', '/v1/db/tables/patients/rows', { raw: '{"row": {', token: root }, 400],
      ['POST', '/v1/db/tables/patients/rows', { body: { row: { id: 5 } }, token: root }, 400],
      ['POST', '/v1/db/tables/patients/rows', { body: { row: { id: 'p1' } }, token: root }, 409],
      ['POST', '/v1/db/tables/patients/rows', { body: { row: {}, extra: 1 }, token: root }, 400],
      ['POST', '/v1/db/tables/patients/rows', { body: [], token: root }, 400],
      [
        'POST',
        '/v1/db/tables/patients/rows',
        { body: { row: { id: 'big', ssn: 'x'.repeat(70_000) } }, token: root },
        413,
      ],
      [
        'POST',
        '/v1/db/tables/patients/rows',
        { raw: 'id=1', token: root, headers: { 'content-type': 'text/plain' } },
        400,
      ],
      ['POST', '/v1/db/tables/patients/find', { body: { where: { nope: 1 } }, token: root }, 404],
      ['POST', '/v1/db/tables/patients/find', { body: { where: { age: { like: 1 } } }, token: root }, 400],
      ['POST', '/v1/db/tables/patients/find', { body: { limit: -1 }, token: root }, 400],
      ['POST', '/v1/db/tables/patients/find', { body: { limit: 'all' }, token: root }, 400],
      ['PATCH', '/v1/db/tables/patients/rows/p1', { body: { changes: { age: 'old' } }, token: root }, 400],
      ['PATCH', '/v1/db/tables/patients/rows/nope', { body: { changes: { age: 1 } }, token: root }, 404],
      ['DELETE', '/v1/db/tables/patients/rows/nope', { token: root }, 404],
      ['GET', '/v1/db/tables/..%2F..%2Fetc/rows/p1', { token: root }, 404],
      ['GET', '/v1/db/tables/patients%00/rows/p1', { token: root }, 404],
      ['GET', '/v1/db/tables/PATIENTS/rows/p1', { token: root }, 404],
      ['GET', `/v1/db/tables/${'a'.repeat(200)}/rows/p1`, { token: root }, 400],
      ['POST', '/v1/db/transaction', { body: { operations: [] }, token: root }, 400],
      [
        'POST',
        '/v1/db/transaction',
        {
          body: {
            operations: [
              { op: 'insert', table: 'patients', row: { id: 'tx1' } },
              { op: 'insert', table: 'patients', row: { id: 'p1' } },
            ],
          },
          token: root,
        },
        409,
      ],
      ['POST', '/v1/sys/unseal', { body: { key: 'not-a-share' } }, 409],
      ['POST', '/v1/sys/init', { body: {} }, 409],
      ['POST', '/v1/auth/userpass/login', { body: { username: 'a b', password: 'x' } }, 400],
      ['GET', '/v1/nope', {}, 404],
    ];
    for (const [method, route, options, status] of cases) {
      const r = await call(method, route, options);
      expect(r.status, `${method} ${route}: ${r.text}`).toBe(status);
      expect(typeof code(r), `${method} ${route}`).toBe('string');
      expect(String(code(r))).toMatch(/^FX_[A-Z_]+$/);
    }
    expect(await snapshot()).toBe(before);
  });

  it('what the HTTP parser refuses (LIST, a broken request line, huge headers) gets the same error shape', async () => {
    const before = await snapshot();
    const { port } = new URL(server.url);
    // Raw bytes over a socket: fetch would refuse to send most of these.
    const raw = (request: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => {
          socket.end(request);
        });
        let answer = '';
        socket.on('data', (chunk: Buffer) => {
          answer += chunk.toString();
        });
        socket.on('close', () => {
          resolve(answer);
        });
        socket.on('error', reject);
      });
    const cases: [string, number, RegExp][] = [
      [
        `LIST /v1/kv/metadata/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${root}\r\n\r\n`,
        400,
        /for LIST, use GET with \?list=true/,
      ],
      ['GET /v1/sys/health HTTP/9.9 nonsense\r\n\r\n', 400, /malformed HTTP request/],
      [
        `GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
        /headers are too large/,
      ],
    ];
    for (const [request, status, message] of cases) {
      const answer = await raw(request);
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      expect(head, answer).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      expect(head.toLowerCase()).toContain('content-type: application/json');
      const error = (JSON.parse(body) as { error: { code: string; message: string; requestId: string } })
        .error;
      expect(error.code).toBe('FX_REQUEST_INVALID');
      expect(error.message).toMatch(message);
      expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    // The server still answers, and nothing stored changed.
    expect((await call('GET', '/v1/sys/health')).status).toBe(200);
    expect(await snapshot()).toBe(before);
  });

  it('fuzz: 10,000 generated requests across the routes — no 5xx, the server stays up, data intact', async () => {
    const before = await snapshot();
    const ann = await login('ann', 'ann-password-long-enough');
    const routes = [
      ['POST', '/v1/db/tables/patients/rows'],
      ['POST', '/v1/db/tables/patients/find'],
      ['POST', '/v1/db/tables/patients/count'],
      ['PATCH', '/v1/db/tables/patients/rows/p1'],
      ['GET', '/v1/db/tables/patients/rows/p2'],
      ['POST', '/v1/db/transaction'],
      ['POST', '/v1/db/tables'],
      ['POST', '/v1/db/tables/patients/columns'],
      ['POST', '/v1/auth/token/create'],
      ['POST', '/v1/auth/userpass/login'],
      ['POST', '/v1/sys/unseal'],
      ['POST', '/v1/sys/init'],
      ['GET', '/v1/sys/status'],
    ] as const;
    const json = fc.jsonValue({ maxDepth: 3 });
    const request = fc.record({
      route: fc.constantFrom(...routes),
      token: fc.constantFrom(undefined, ann, 'garbage'),
      body: fc.oneof(
        json,
        fc.record({ row: fc.dictionary(fc.constantFrom('id', 'email', 'ssn', 'age', 'x'), json) }),
        fc.record({ where: json, limit: fc.oneof(fc.integer(), json), select: json }),
        fc.record({ changes: fc.dictionary(fc.string(), json) }),
        fc.record({
          operations: fc.array(fc.record({ op: fc.string(), table: fc.string(), row: json }), {
            maxLength: 3,
          }),
        }),
        fc.string().map((s) => ({ raw: s })),
      ),
      suffix: fc.constantFrom('', '?select=id', '?x=%ZZ', '/extra'),
    });
    const samples = fc.sample(request, { numRuns: 10_000, seed: 20261205 });
    let served = 0;
    const statuses = new Map<number, number>();
    // Eight at a time: concurrency as a real client mix has it, within this 2-core machine.
    for (let i = 0; i < samples.length; i += 8) {
      await Promise.all(
        samples.slice(i, i + 8).map(async (s) => {
          const body = s.body as unknown;
          const raw =
            body !== null && typeof body === 'object' && 'raw' in body ? String(body.raw) : undefined;
          const r = await call(s.route[0], s.route[1] + s.suffix, {
            ...(s.token === undefined ? {} : { token: s.token }),
            ...(s.route[0] === 'GET' ? {} : raw !== undefined ? { raw } : { body }),
          });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status >= 500) throw new Error(`${s.route.join(' ')}${s.suffix} → ${r.status} ${r.text}`);
          served++;
        }),
      );
    }
    expect(served).toBe(10_000);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect((await call('GET', '/v1/sys/health')).status).toBe(200);
    expect(await snapshot()).toBe(before);
  }, 240_000);
});

describe('sealed and unsealed', () => {
  it('seal → every data route answers 503 FX_SEALED; unseal share by share brings it back', async () => {
    const sealed = await call('POST', '/v1/sys/seal', { token: root });
    expect(sealed.status, sealed.text).toBe(204);
    expect((await call('GET', '/v1/sys/health')).status).toBe(503);
    for (const [method, route] of [
      ['GET', '/v1/db/tables/patients/rows/p1'],
      ['POST', '/v1/db/tables/patients/find'],
      ['GET', '/v1/db/tables'],
    ] as const) {
      const r = await call(method, route, { token: root, ...(method === 'POST' ? { body: {} } : {}) });
      expect(r.status).toBe(503);
      expect(code(r)).toBe('FX_SEALED');
    }
    const first = await call('POST', '/v1/sys/unseal', { body: { key: shares[0] } });
    expect(first.body).toMatchObject({ sealed: true, progress: 1, threshold: 2 });
    const second = await call('POST', '/v1/sys/unseal', { body: { key: shares[2] } });
    expect(second.body).toMatchObject({ sealed: false });
    expect((await call('GET', '/v1/sys/health')).status).toBe(200);
    const r = await call('GET', '/v1/db/tables/patients/rows/p3', { token: root });
    expect(r.status, r.text).toBe(200);
  });
});
