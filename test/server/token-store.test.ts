import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import type { SqlValue, StorageDriver } from '../../src/storage/dialect.js';
import { TokenStore } from '../../src/server/auth/token-store.js';
import { UserpassStore } from '../../src/server/auth/userpass.js';

const ann = { kind: 'user', name: 'ann', tenant: 'default' } as const;

describe('TokenStore', () => {
  let dir: string;
  let driver: StorageDriver;
  let now = 1_000_000;
  let tokens: TokenStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fx-tokens-'));
    driver = await new SqliteDialect({ path: path.join(dir, 'db.sqlite') }).createDriver();
    now = 1_000_000;
    tokens = await TokenStore.open(driver, { now: () => now });
  });
  afterEach(async () => {
    await driver.close();
    await rm(dir, { recursive: true, force: true });
  });

  const make = (extra: Partial<Parameters<TokenStore['create']>[0]> = {}) =>
    tokens.create({ principal: ann, method: 'test', ttlSeconds: 60, maxTtlSeconds: 600, ...extra });

  it('authenticates a token; stores only its digest', async () => {
    const { token, info } = await make();
    expect(token).toMatch(/^fxt_[A-Za-z0-9_-]{43}$/);
    expect((await tokens.authenticate(token)).accessor).toBe(info.accessor);
    await driver.close();
    const file = readFileSync(path.join(dir, 'db.sqlite')).toString('latin1');
    const wal = readFileSync(path.join(dir, 'db.sqlite-wal'), { flag: 'a+' }).toString('latin1');
    expect(file + wal).not.toContain(token);
    expect(file + wal).not.toContain(token.slice(4));
    driver = await new SqliteDialect({ path: path.join(dir, 'db.sqlite') }).createDriver();
  });

  it('refuses malformed, unknown and expired tokens with their codes', async () => {
    const { token } = await make();
    for (const bad of [undefined, '', 'Bearer x', 'fxt_short', 42, `${token}x`]) {
      await expect(tokens.authenticate(bad)).rejects.toMatchObject({ code: 'FX_UNAUTHENTICATED' });
    }
    await expect(tokens.authenticate(`fxt_${'A'.repeat(43)}`)).rejects.toMatchObject({
      code: 'FX_UNAUTHENTICATED',
    });
    now += 61;
    await expect(tokens.authenticate(token)).rejects.toMatchObject({ code: 'FX_TOKEN_EXPIRED' });
  });

  it('renews up to the max TTL, never past it; non-renewable tokens refuse', async () => {
    const { token, info } = await make();
    now += 50;
    expect((await tokens.renew(info.accessor)).expiresAt).toBe(now + 60);
    now += 55;
    expect((await tokens.renew(info.accessor, 3600)).expiresAt).toBe(1_000_000 + 600);
    now = 1_000_000 + 600;
    await expect(tokens.authenticate(token)).rejects.toMatchObject({ code: 'FX_TOKEN_EXPIRED' });
    const fixed = await make({ renewable: false });
    await expect(tokens.renew(fixed.info.accessor)).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
  });

  it('revoking a token revokes its whole subtree; orphan revocation keeps the children', async () => {
    const root = await make();
    const child = await make({ parent: root.info.accessor });
    const grandchild = await make({ parent: child.info.accessor });
    const other = await make();
    expect(await tokens.revoke(root.info.accessor)).toBe(3);
    for (const t of [root, child, grandchild]) {
      await expect(tokens.authenticate(t.token)).rejects.toMatchObject({ code: 'FX_UNAUTHENTICATED' });
    }
    expect((await tokens.authenticate(other.token)).accessor).toBe(other.info.accessor);

    const a = await make();
    const b = await make({ parent: a.info.accessor });
    expect(await tokens.revokeOrphan(a.info.accessor)).toBe(1);
    expect((await tokens.authenticate(b.token)).parent).toBeNull();
  });

  it('cached authentications never outlive a revocation, a renewal or the expiry', async () => {
    const parent = await make();
    const child = await make({ parent: parent.info.accessor });
    // Authenticated once: the next checks come from the cache.
    await tokens.authenticate(parent.token);
    await tokens.authenticate(child.token);
    expect((await tokens.authenticate(child.token)).accessor).toBe(child.info.accessor);
    // Revoking the parent refuses both the moment the call returns.
    await tokens.revoke(parent.info.accessor);
    await expect(tokens.authenticate(parent.token)).rejects.toMatchObject({ code: 'FX_UNAUTHENTICATED' });
    await expect(tokens.authenticate(child.token)).rejects.toMatchObject({ code: 'FX_UNAUTHENTICATED' });

    // An authentication that read the row before a revocation committed does not re-cache it:
    // its read is held (by a driver that delays answering) until the revocation has returned.
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let hold = false;
    const slowGet = async <T extends object>(
      sql: string,
      params?: readonly SqlValue[],
    ): Promise<T | undefined> => {
      const row = await driver.get<T>(sql, params);
      if (hold && sql.includes('WHERE hash = ?')) await gate;
      return row;
    };
    const slow = new Proxy(driver, {
      get(target, property) {
        if (property === 'get') return slowGet;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const held = await TokenStore.open(slow, { now: () => now });
    const racing = await held.create({ principal: ann, method: 'test', ttlSeconds: 60, maxTtlSeconds: 600 });
    hold = true;
    const inFlight = held.authenticate(racing.token);
    await held.revoke(racing.info.accessor);
    release();
    // Begun before the revocation returned, it may still succeed; nothing after it may.
    await inFlight;
    hold = false;
    await expect(held.authenticate(racing.token)).rejects.toMatchObject({ code: 'FX_UNAUTHENTICATED' });

    // A renewal shows at once; the cached record's expiry is still checked on every hit.
    const renewed = await make();
    expect((await tokens.authenticate(renewed.token)).expiresAt).toBe(now + 60);
    now += 30;
    await tokens.renew(renewed.info.accessor);
    expect((await tokens.authenticate(renewed.token)).expiresAt).toBe(now + 60);
    now += 61;
    await expect(tokens.authenticate(renewed.token)).rejects.toMatchObject({ code: 'FX_TOKEN_EXPIRED' });
  });

  it('a child never outlives its parent', async () => {
    const parent = await make({ maxTtlSeconds: 100 });
    const child = await make({ parent: parent.info.accessor, ttlSeconds: 1000, maxTtlSeconds: 1000 });
    expect(child.info.maxExpiresAt).toBe(parent.info.maxExpiresAt);
    expect(child.info.expiresAt).toBeLessThanOrEqual(parent.info.maxExpiresAt);
  });

  it('use-limited tokens die after their last use, even under concurrency', async () => {
    const { token } = await make({ uses: 3 });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => tokens.authenticate(token)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    await expect(tokens.authenticate(token)).rejects.toMatchObject({ code: 'FX_UNAUTHENTICATED' });
  });

  it('lists a principal’s live tokens and purges expired ones', async () => {
    await make();
    await make();
    await make({ principal: { kind: 'user', name: 'bob', tenant: 'default' } });
    expect(await tokens.listFor(ann)).toHaveLength(2);
    now += 61;
    expect(await tokens.listFor(ann)).toHaveLength(0);
    expect(await tokens.purgeExpired()).toBe(3);
  });
});

describe('UserpassStore', () => {
  it('checks Argon2id hashes; unknown users and wrong passwords fail alike', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-userpass-'));
    const driver = await new SqliteDialect({ path: path.join(dir, 'db.sqlite') }).createDriver();
    try {
      const passwords = await UserpassStore.open(driver);
      await expect(passwords.setPassword('default', 'ann', 'short')).rejects.toMatchObject({
        code: 'FX_INVALID_ARGUMENT',
      });
      await passwords.setPassword('default', 'ann', 'correct horse battery staple');
      await passwords.check('default', 'ann', 'correct horse battery staple');
      for (const [tenant, name, password] of [
        ['default', 'ann', 'wrong horse battery staple'],
        ['default', 'nobody', 'correct horse battery staple'],
        ['other', 'ann', 'correct horse battery staple'],
        ['default', 'ann', ''],
      ] as const) {
        await expect(passwords.check(tenant, name, password)).rejects.toMatchObject({
          code: 'FX_LOGIN_FAILED',
        });
      }
      const row = await driver.get<{ hash: string }>('SELECT hash FROM fx_userpass');
      expect(row?.hash).toMatch(/^\$argon2id\$/);
      expect(row?.hash).not.toContain('horse');
      expect(await passwords.removePassword('default', 'ann')).toBe(true);
      await expect(passwords.check('default', 'ann', 'correct horse battery staple')).rejects.toMatchObject({
        code: 'FX_LOGIN_FAILED',
      });
    } finally {
      await driver.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
