/**
 * The key ceremonies over HTTP, driven through the SDK against a real server and data directory:
 * rekey (new shares and threshold for the same root key) and rotate-root (a new root key), each
 * collecting the current shares one holder at a time under a nonce. After each, the old shares no
 * longer unseal and the new ones do, and the stored data stays readable. Refusals: no `unseal`
 * permission, a stale nonce, a second ceremony, a wrong share (which ends the ceremony), a
 * passphrase given to a Shamir seal; and the audit ledger names the administrator, never a share.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { FortressClient, FortressClientError } from '../../src/client/index.js';
import { dropTestSchemas, startTestServer } from '../helpers/backend.js';

let dir: string;
let server: RunningServer;
let root: FortressClient;
let shares: readonly string[];

interface Entry {
  readonly principal: unknown;
  readonly outcome: { readonly status: string };
  readonly client: string | null;
}

async function restart(): Promise<void> {
  await server.close();
  server = await startTestServer(dir);
  root = new FortressClient({ address: server.url, token: root.token!, retries: 0 });
}

async function failure(promise: Promise<unknown>): Promise<FortressClientError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FortressClientError) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

/** Seals, then unseals with `inputs`; resolves to whether the server unsealed. */
async function unsealsWith(inputs: readonly string[]): Promise<boolean> {
  await restart();
  const anonymous = new FortressClient({ address: server.url, retries: 0 });
  let sealed = true;
  for (const input of inputs) {
    try {
      sealed = (await anonymous.sys.unseal(input)).sealed;
    } catch (error) {
      if (error instanceof FortressClientError) {
        await anonymous.sys.resetUnseal();
        return false;
      }
      throw error;
    }
    if (!sealed) break;
  }
  return !sealed;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-ceremony-'));
  server = await startTestServer(dir);
  root = new FortressClient({ address: server.url, retries: 0 });
  const init = await root.sys.init({ shares: 5, threshold: 3 });
  shares = init.shares;
  root.token = init.rootToken;
  await root.db.createTable('notes', {
    columns: { id: { type: 'integer', primaryKey: true }, body: { type: 'text', encrypt: {} } },
  });
  await root.db.insert('notes', { id: 1, body: 'kept across ceremonies' });
}, 60_000);

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  await dropTestSchemas();
});

describe('rekey', () => {
  it('collects the current shares one at a time, then gives new ones; the old stop unsealing', async () => {
    const started = await root.sys.beginCeremony('rekey', { shares: 4, threshold: 2 });
    expect(started).toMatchObject({
      started: true,
      progress: 0,
      required: 3,
      next: { shares: 4, threshold: 2 },
    });
    const nonce = started.nonce!;
    expect(await root.sys.ceremonyStatus('rekey')).toMatchObject({ started: true, nonce });

    // The holders need no token, only the nonce.
    const holder = new FortressClient({ address: server.url, retries: 0 });
    const first = await holder.sys.ceremonyUpdate('rekey', nonce, shares[0]!);
    expect(first).toMatchObject({ complete: false, progress: 1, required: 3, shares: [] });
    await holder.sys.ceremonyUpdate('rekey', nonce, shares[2]!);
    const done = await holder.sys.ceremonyUpdate('rekey', nonce, shares[4]!);
    expect(done.complete).toBe(true);
    expect(done.shares).toHaveLength(4);
    expect(new Set(done.shares).size).toBe(4);
    expect(done.shares.some((s) => shares.includes(s))).toBe(false);
    expect((await root.sys.ceremonyStatus('rekey')).started).toBe(false);

    expect(await unsealsWith(shares.slice(0, 3))).toBe(false);
    expect(await unsealsWith([done.shares[1]!, done.shares[3]!])).toBe(true);
    expect(await root.db.get('notes', 1)).toMatchObject({ body: 'kept across ceremonies' });
    shares = done.shares;
  }, 120_000);

  it('refuses a stale nonce, a second ceremony, a passphrase for a Shamir seal; cancel forgets', async () => {
    const started = await root.sys.beginCeremony('rekey', {});
    expect(started.next).toEqual({ shares: 4, threshold: 2 });
    const second = await failure(root.sys.beginCeremony('rotate-root', {}));
    expect([second.status, second.code]).toEqual([409, 'FX_CEREMONY_IN_PROGRESS']);
    const stale = await failure(root.sys.ceremonyUpdate('rekey', 'not-the-nonce', shares[0]!));
    expect([stale.status, stale.code]).toEqual([409, 'FX_NONCE_MISMATCH']);
    await root.sys.ceremonyUpdate('rekey', started.nonce!, shares[0]!);
    const cancelled = await root.sys.cancelCeremony('rekey');
    expect(cancelled).toMatchObject({ started: false, progress: 0, nonce: null });
    const none = await failure(root.sys.ceremonyUpdate('rekey', started.nonce!, shares[1]!));
    expect([none.status, none.code]).toEqual([404, 'FX_NOT_FOUND']);

    const wrongKind = await failure(
      root.sys.beginCeremony('rekey', { passphrase: 'a passphrase long enough' }),
    );
    expect([wrongKind.status, wrongKind.code]).toEqual([400, 'FX_INVALID_ARGUMENT']);
    const badShape = await failure(root.sys.beginCeremony('rekey', { shares: 2, threshold: 3 }));
    expect(badShape.status).toBe(400);
    expect((await root.sys.ceremonyStatus('rekey')).started).toBe(false);
  });

  it('a wrong share ends the ceremony and changes nothing', async () => {
    const { nonce } = await root.sys.beginCeremony('rekey', { shares: 3, threshold: 3 });
    await root.sys.ceremonyUpdate('rekey', nonce!, shares[0]!);
    const forged = shares[1]!.slice(0, -4) + (shares[1]!.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const wrong = await failure(root.sys.ceremonyUpdate('rekey', nonce!, forged));
    expect(wrong.status).toBeGreaterThanOrEqual(400);
    expect(wrong.status).toBeLessThan(500);
    expect((await root.sys.ceremonyStatus('rekey')).started).toBe(false);
    expect(await unsealsWith([shares[0]!, shares[1]!])).toBe(true);
  }, 60_000);

  it('needs the unseal action on the system: a user without it is refused, and cannot cancel', async () => {
    await root.principals.putUser('clerk');
    const { token } = await server.context.tokens.create({
      principal: { kind: 'user', name: 'clerk', tenant: 'default' },
      method: 'test',
      ttlSeconds: 600,
      maxTtlSeconds: 600,
    });
    const clerk = new FortressClient({ address: server.url, token, retries: 0 });
    const refused = await failure(clerk.sys.beginCeremony('rekey', {}));
    expect([refused.status, refused.code]).toEqual([403, 'FX_FORBIDDEN']);
    await root.sys.beginCeremony('rekey', {});
    const cancel = await failure(clerk.sys.cancelCeremony('rekey'));
    expect([cancel.status, cancel.code]).toEqual([403, 'FX_FORBIDDEN']);
    await root.sys.cancelCeremony('rekey');
    const anonymous = new FortressClient({ address: server.url, retries: 0 });
    const noToken = await failure(anonymous.sys.beginCeremony('rekey', {}));
    expect([noToken.status, noToken.code]).toEqual([401, 'FX_UNAUTHENTICATED']);
  });
});

describe('rotate-root', () => {
  it('makes a new root key version and new shares; data stays readable; old shares stop unsealing', async () => {
    const { nonce, required } = await root.sys.beginCeremony('rotate-root', { shares: 3, threshold: 2 });
    expect(required).toBe(2);
    await root.sys.ceremonyUpdate('rotate-root', nonce!, shares[0]!);
    const done = await root.sys.ceremonyUpdate('rotate-root', nonce!, shares[2]!);
    expect(done).toMatchObject({ complete: true, rootVersion: 2 });
    expect(done.shares).toHaveLength(3);
    expect(await root.db.get('notes', 1)).toMatchObject({ body: 'kept across ceremonies' });
    await root.db.insert('notes', { id: 2, body: 'after rotation' });

    expect(await unsealsWith([shares[0]!, shares[2]!])).toBe(false);
    expect(await unsealsWith([done.shares[0]!, done.shares[1]!])).toBe(true);
    const rows = await root.db.find('notes', { orderBy: { id: 'asc' } });
    expect(rows.map((r) => r['body'])).toEqual(['kept across ceremonies', 'after rotation']);
    shares = done.shares;
  }, 120_000);

  it('records each ceremony in the audit ledger as the administrator, with no share in it', async () => {
    const search = async (action: string): Promise<Entry[]> =>
      (await root.audit.search({ action }))['entries'] as Entry[];
    const entries = await search('system.rotateRootKey');
    expect(entries.length).toBeGreaterThanOrEqual(1);
    expect(entries.at(-1)).toMatchObject({
      principal: { type: 'user', id: 'default/admin' },
      outcome: { status: 'ok' },
      // The caller's address reaches the entry (the session was made for this client).
      client: '127.0.0.1',
    });
    const rekeys = await search('system.rekey');
    expect(rekeys.some((e) => e.outcome.status === 'ok')).toBe(true);
    expect(rekeys.some((e) => e.outcome.status === 'error')).toBe(true);
    const text = JSON.stringify([...entries, ...rekeys]);
    for (const share of shares) expect(text).not.toContain(share.slice(0, 16));
  });
});
