/**
 * The transit secrets engine through `db.transit` and `db.as(principal).transit`, on the test
 * backend (SQLite, or PostgreSQL with FORTRESS_TEST_BACKEND=postgres): every key type and
 * operation, single and batch; rewrap never reveals plaintext; derived and convergent keys;
 * minimum decryption / encryption versions, trim; exportability; a ciphertext moved to another
 * key, context or associated data fails; the algorithms behind each key type against Wycheproof
 * and transit's output checked by independent implementations with exported keys; policy, audit
 * and bad input.
 */
import { createDecipheriv, createHmac, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import sodium from 'sodium-native';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/entry/audit-entry.js';
import { getAead } from '../../src/crypto/aead/registry.js';
import { EncryptionContext } from '../../src/crypto/envelope/encryption-context.js';
import { createVerifier, type Verifier } from '../../src/crypto/signature/signature.js';
import type { Fortress } from '../../src/fortress.js';
import { KeyManager } from '../../src/keys/key-manager.js';
import { DevKeyFileSealProvider } from '../../src/keys/seal/dev-key-file-seal.js';
import { ShamirSealProvider } from '../../src/keys/seal/shamir-seal.js';
import { MemoryKeyStore } from '../../src/keys/store/memory-key-store.js';
import {
  TransitEngine,
  type ItemError,
  type Sealed,
  type TransitKeyType,
} from '../../src/secrets/transit/transit-engine.js';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { dropTestSchemas, openTestFortress } from '../helpers/backend.js';
import { expectCode } from '../helpers/expect-code.js';
import {
  loadWycheproof,
  type AeadFile,
  type EddsaFile,
  type MacFile,
  type MlDsaFile,
} from '../helpers/vectors.js';

const SENTINEL = 'transit-sentinel-Hq7w2';
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

const opened: { db: Fortress; dir: string }[] = [];
afterEach(async () => {
  for (const { db, dir } of opened.splice(0)) {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});
afterAll(dropTestSchemas);

async function open(): Promise<Fortress> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-transit-'));
  const db = await openTestFortress({
    path: dir,
    onWarning: () => undefined,
    audit: { checkpointIntervalMs: 0 },
  });
  opened.push({ db, dir });
  return db;
}

function isError(r: object): r is ItemError {
  return 'error' in r;
}

function ok<T extends object>(r: T | ItemError): T {
  if (isError(r)) throw new Error(`item failed: ${r.error.code} ${r.error.message}`);
  return r;
}

const AEADS = ['xchacha20-poly1305', 'aes-256-gcm', 'chacha20-poly1305', 'aegis-256'] as const;

describe('encryption keys', () => {
  it('each AEAD type encrypts and decrypts; ciphertexts carry the version and survive a reopen', async () => {
    const db = await open();
    for (const type of AEADS) {
      const info = await db.transit.createKey(`k-${type}`, { type });
      expect(info).toMatchObject({ type, latestVersion: 1, supportsEncryption: true, exportable: false });
      const { ciphertext, keyVersion } = await db.transit.encrypt(`k-${type}`, { plaintext: utf8(SENTINEL) });
      expect(keyVersion).toBe(1);
      expect(ciphertext).toMatch(/^fx:v1:[A-Za-z0-9+/]+=*$/);
      expect(ciphertext).not.toContain(Buffer.from(SENTINEL).toString('base64'));
      expect(text((await db.transit.decrypt(`k-${type}`, { ciphertext })).plaintext)).toBe(SENTINEL);
      // Random nonces: the same plaintext twice gives two ciphertexts.
      expect((await db.transit.encrypt(`k-${type}`, { plaintext: utf8(SENTINEL) })).ciphertext).not.toBe(
        ciphertext,
      );
    }
  });

  it('associated data is bound: decrypting without it, or with other bytes, fails', async () => {
    const db = await open();
    await db.transit.createKey('orders');
    const aad = utf8('order-42');
    const { ciphertext } = await db.transit.encrypt('orders', { plaintext: utf8('x'), associatedData: aad });
    expect(text((await db.transit.decrypt('orders', { ciphertext, associatedData: aad })).plaintext)).toBe(
      'x',
    );
    await expectCode(db.transit.decrypt('orders', { ciphertext }), 'FX_INTEGRITY');
    await expectCode(
      db.transit.decrypt('orders', { ciphertext, associatedData: utf8('order-43') }),
      'FX_INTEGRITY',
    );
    // A misspelt field is refused, not ignored: encrypting would otherwise bind no associated data.
    const misspelt = { plaintext: utf8('x'), associated_data: aad } as never;
    await expectCode(db.transit.encrypt('orders', misspelt), 'FX_INVALID_ARGUMENT');
    const [refused] = await db.transit.encryptBatch('orders', [misspelt]);
    expect(refused).toMatchObject({ error: { code: 'FX_INVALID_ARGUMENT' } });
    await expectCode(
      db.transit.decrypt('orders', { ciphertext, associatedData: aad, extra: 1 } as never),
      'FX_INVALID_ARGUMENT',
    );
    await expectCode(db.transit.dataKey('orders', 'wrapped', { bit: 128 } as never), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.listKeys({ limt: 1 } as never), 'FX_INVALID_ARGUMENT');
  });

  it('a ciphertext from one key fails under another; a tampered one fails; garbage is refused clearly', async () => {
    const db = await open();
    await db.transit.createKey('a');
    await db.transit.createKey('b');
    const { ciphertext } = await db.transit.encrypt('a', { plaintext: utf8('x') });
    await expectCode(db.transit.decrypt('b', { ciphertext }), 'FX_TRANSIT_CIPHERTEXT_INVALID');
    const body = Buffer.from(ciphertext.slice('fx:v1:'.length), 'base64');
    body[body.length - 1]! ^= 1;
    await expectCode(
      db.transit.decrypt('a', { ciphertext: `fx:v1:${body.toString('base64')}` }),
      'FX_INTEGRITY',
    );
    await expectCode(
      db.transit.decrypt('a', { ciphertext: ciphertext.replace('fx:v1:', 'fx:v2:') }),
      'FX_TRANSIT_CIPHERTEXT_INVALID',
    );
    for (const bad of ['', 'vault:v1:abc', 'fx:v1:not base64!', 'fx:v0:AAAA', 'fx:v1:AAAA']) {
      await expectCode(db.transit.decrypt('a', { ciphertext: bad }), 'FX_TRANSIT_CIPHERTEXT_INVALID');
    }
    // A deleted and recreated key of the same name does not open the old key's ciphertexts.
    await db.transit.createKey('c', { deletionAllowed: true });
    const old = await db.transit.encrypt('c', { plaintext: utf8('x') });
    await db.transit.deleteKey('c');
    await expectCode(db.transit.decrypt('c', old), 'FX_TRANSIT_KEY_NOT_FOUND');
    await db.transit.createKey('c');
    await expectCode(db.transit.decrypt('c', old), 'FX_TRANSIT_CIPHERTEXT_INVALID');
    // An unknown option (the old spelling allowDeletion, say) is refused, and no key is made.
    await expectCode(db.transit.createKey('d', { allowDeletion: true } as never), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.readKey('d'), 'FX_TRANSIT_KEY_NOT_FOUND');
  });

  it('batches give one result per item, in order, with per-item errors', async () => {
    const db = await open();
    await db.transit.createKey('orders');
    const items = Array.from({ length: 50 }, (_, i) => ({ plaintext: utf8(`value-${i}`) }));
    const sealed = await db.transit.encryptBatch('orders', [
      ...items.slice(0, 10),
      { plaintext: 'not bytes' as unknown as Uint8Array },
      ...items.slice(10),
    ]);
    expect(sealed).toHaveLength(51);
    expect(sealed[10]).toMatchObject({ error: { code: 'FX_INVALID_ARGUMENT' } });
    const good = sealed.filter((r) => !isError(r)).map((r) => ok(r));
    expect(good).toHaveLength(50);
    const opened = await db.transit.decryptBatch('orders', [
      ...good.slice(0, 5).map((s) => ({ ciphertext: s.ciphertext })),
      { ciphertext: 'fx:v1:AAAA' },
      ...good.slice(5).map((s) => ({ ciphertext: s.ciphertext })),
    ]);
    expect(opened[5]).toMatchObject({ error: { code: 'FX_TRANSIT_CIPHERTEXT_INVALID' } });
    const plaintexts = opened.filter((r) => !isError(r)).map((r) => text(ok(r).plaintext));
    expect(plaintexts).toEqual(items.map((i) => text(i.plaintext)));
    await expectCode(db.transit.encryptBatch('orders', []), 'FX_INVALID_ARGUMENT');
    await expectCode(
      db.transit.encryptBatch(
        'orders',
        Array.from({ length: 10_001 }, () => ({ plaintext: utf8('x') })),
      ),
      'FX_INVALID_ARGUMENT',
    );
  });
});

describe('versions', () => {
  it('rotate, rewrap (no plaintext returned), min decryption / encryption versions, trim', async () => {
    const db = await open();
    await db.transit.createKey('orders');
    const v1 = await db.transit.encrypt('orders', { plaintext: utf8(SENTINEL), associatedData: utf8('r1') });
    const rotated = await db.transit.rotate('orders');
    expect(rotated.latestVersion).toBe(2);
    expect(rotated.versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'decrypt-only'],
      [2, 'active'],
    ]);
    const v2 = await db.transit.encrypt('orders', { plaintext: utf8('new') });
    expect(v2.ciphertext.startsWith('fx:v2:')).toBe(true);
    // Rewrap: the newest version, the same plaintext, and nothing but a ciphertext and a version.
    const rewrapped = await db.transit.rewrap('orders', {
      ciphertext: v1.ciphertext,
      associatedData: utf8('r1'),
    });
    expect(Object.keys(rewrapped).sort()).toEqual(['ciphertext', 'keyVersion']);
    expect(rewrapped.keyVersion).toBe(2);
    expect(JSON.stringify(rewrapped)).not.toContain(Buffer.from(SENTINEL).toString('base64'));
    expect(
      text(
        (await db.transit.decrypt('orders', { ciphertext: rewrapped.ciphertext, associatedData: utf8('r1') }))
          .plaintext,
      ),
    ).toBe(SENTINEL);
    const batch = await db.transit.rewrapBatch('orders', [
      { ciphertext: v1.ciphertext, associatedData: utf8('r1') },
      { ciphertext: v1.ciphertext },
    ]);
    expect(ok(batch[0]!).keyVersion).toBe(2);
    expect(batch[1]).toMatchObject({ error: { code: 'FX_INTEGRITY' } });
    for (const r of batch) expect(Object.keys(r)).not.toContain('plaintext');
    // Encrypting under an older version on request, unless below minEncryptionVersion.
    expect((await db.transit.encrypt('orders', { plaintext: utf8('x'), keyVersion: 1 })).keyVersion).toBe(1);
    // A batch mixing versions: each item gets the version it asked for, in order.
    const mixed = await db.transit.encryptBatch('orders', [
      { plaintext: utf8('a') },
      { plaintext: utf8('b'), keyVersion: 1 },
      { plaintext: utf8('c') },
      { plaintext: utf8('d'), keyVersion: 2 },
    ]);
    expect(mixed.map((r) => ok(r).keyVersion)).toEqual([2, 1, 2, 2]);
    const opened = await db.transit.decryptBatch(
      'orders',
      mixed.map((r) => ({ ciphertext: ok(r).ciphertext })),
    );
    expect(opened.map((r) => Buffer.from(ok(r).plaintext).toString())).toEqual(['a', 'b', 'c', 'd']);
    await db.transit.configure('orders', { minEncryptionVersion: 2 });
    await expectCode(
      db.transit.encrypt('orders', { plaintext: utf8('x'), keyVersion: 1 }),
      'FX_TRANSIT_VERSION',
    );
    await expectCode(
      db.transit.encrypt('orders', { plaintext: utf8('x'), keyVersion: 3 }),
      'FX_TRANSIT_VERSION',
    );
    // minDecryptionVersion retires version 1 (reversibly).
    await db.transit.configure('orders', { minDecryptionVersion: 2 });
    await expectCode(
      db.transit.decrypt('orders', { ciphertext: v1.ciphertext, associatedData: utf8('r1') }),
      'FX_KEY_VERSION_RETIRED',
    );
    await expectCode(
      db.transit.rewrap('orders', { ciphertext: v1.ciphertext, associatedData: utf8('r1') }),
      'FX_KEY_VERSION_RETIRED',
    );
    await db.transit.configure('orders', { minDecryptionVersion: 1, minEncryptionVersion: 0 });
    expect(
      text(
        (await db.transit.decrypt('orders', { ciphertext: v1.ciphertext, associatedData: utf8('r1') }))
          .plaintext,
      ),
    ).toBe(SENTINEL);
    // Trim destroys for good, and only what minDecryptionVersion already retired.
    await expectCode(db.transit.trim('orders', 2), 'FX_INVALID_ARGUMENT');
    await db.transit.configure('orders', { minDecryptionVersion: 2 });
    const trimmed = await db.transit.trim('orders', 2);
    expect(trimmed.minAvailableVersion).toBe(2);
    expect(trimmed.versions.find((v) => v.version === 1)?.state).toBe('destroyed');
    await expectCode(db.transit.configure('orders', { minDecryptionVersion: 1 }), 'FX_INVALID_ARGUMENT');
    await expectCode(
      db.transit.decrypt('orders', { ciphertext: v1.ciphertext, associatedData: utf8('r1') }),
      'FX_KEY_VERSION_RETIRED',
    );
    expect(text((await db.transit.decrypt('orders', { ciphertext: v2.ciphertext })).plaintext)).toBe('new');
    // The settings are consistent in what readKey reports.
    expect(await db.transit.readKey('orders')).toMatchObject({
      latestVersion: 2,
      minDecryptionVersion: 2,
      minEncryptionVersion: 0,
      minAvailableVersion: 2,
    });
  });

  it('auto-rotation: encryption and HMAC keys rotate once at their first use after the period', async () => {
    // The engine on its own keyring, whose clock the test moves.
    let now = Date.parse('2026-01-01T00:00:00Z');
    const store = new MemoryKeyStore();
    const keys = await KeyManager.open({ store, now: () => new Date(now) });
    const { shares } = await keys.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-transit-clock-'));
    const driver = await new SqliteDialect({ path: path.join(dir, 'transit.db') }).createDriver();
    try {
      const transit = await TransitEngine.open({ driver, keys, tenant: 'acme', now: () => now });
      await transit.createKey('orders', { autoRotatePeriod: '1d' });
      await transit.createKey('mac', { type: 'hmac', autoRotatePeriod: '12h' });
      await expectCode(transit.createKey('fast', { autoRotatePeriod: '10m' }), 'FX_INVALID_ARGUMENT');
      expect((await transit.encrypt('orders', { plaintext: utf8('x') })).keyVersion).toBe(1);
      expect((await transit.readKey('orders')).updatedTime).toBe('2026-01-01T00:00:00.000Z');
      now += 86_400_000 + 1000;
      expect((await transit.encrypt('orders', { plaintext: utf8('x') })).keyVersion).toBe(2);
      // A rotation changes the key: its updated time is the new version's.
      const rotated = await transit.readKey('orders');
      expect(rotated.updatedTime).toBe(new Date(now).toISOString());
      expect(rotated.createdTime).toBe('2026-01-01T00:00:00.000Z');
      // Concurrent first uses after the period share one rotation: one new version, not three.
      const macs = await Promise.all([1, 2, 3].map(() => transit.hmacBatch('mac', [{ input: utf8('x') }])));
      for (const [mac] of macs) expect(ok(mac!).hmac.startsWith('fx:v2:')).toBe(true);
      expect((await transit.readKey('mac')).latestVersion).toBe(2);
      // Another process on the same store (its own keyring) finds the key due at the same moment:
      // under the store's shared lock it is still rotated once.
      let chain: Promise<unknown> = Promise.resolve();
      const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
        const run = chain.then(fn, fn);
        chain = run.catch(() => undefined);
        return run;
      };
      const otherKeys = await KeyManager.open({ store, now: () => new Date(now) });
      await otherKeys.unseal(new ShamirSealProvider(), shares);
      keys.shareStore(exclusive);
      otherKeys.shareStore(exclusive);
      const other = await TransitEngine.open({ driver, keys: otherKeys, tenant: 'acme', now: () => now });
      now += 12 * 3_600_000 + 1000;
      const [mine, theirs] = await Promise.all([
        transit.hmacBatch('mac', [{ input: utf8('x') }]),
        other.hmacBatch('mac', [{ input: utf8('x') }]),
      ]);
      expect(ok(mine[0]!).hmac.startsWith('fx:v3:')).toBe(true);
      expect(ok(theirs[0]!).hmac.startsWith('fx:v3:')).toBe(true);
      expect((await other.readKey('mac')).latestVersion).toBe(3);
      otherKeys.seal();
      expect((await transit.readKey('orders')).autoRotatePeriod).toBe('1d');
      await transit.configure('orders', { autoRotatePeriod: null });
      expect((await transit.readKey('orders')).autoRotatePeriod).toBeNull();
      // The keyring's periods: what a read gives back, config takes again.
      await transit.configure('orders', { autoRotatePeriod: '14d' });
      expect((await transit.readKey('orders')).autoRotatePeriod).toBe('2w');
      await transit.configure('orders', { autoRotatePeriod: '2w' });
      // A bad period refuses the whole change: the minimum decryption version stays as it was.
      await expectCode(
        transit.configure('orders', { minDecryptionVersion: 2, autoRotatePeriod: '3600s' }),
        'FX_INVALID_ARGUMENT',
      );
      expect((await transit.readKey('orders')).minDecryptionVersion).toBe(1);
    } finally {
      await driver.close();
      keys.seal();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('derived and convergent keys', () => {
  it('derived keys need a context, and a ciphertext opens only under its own context', async () => {
    const db = await open();
    await db.transit.createKey('tenants', { derived: true });
    const ctxA = utf8('tenant-a');
    const { ciphertext } = await db.transit.encrypt('tenants', { plaintext: utf8('x'), context: ctxA });
    expect(text((await db.transit.decrypt('tenants', { ciphertext, context: ctxA })).plaintext)).toBe('x');
    await expectCode(
      db.transit.decrypt('tenants', { ciphertext, context: utf8('tenant-b') }),
      'FX_INTEGRITY',
    );
    await expectCode(db.transit.decrypt('tenants', { ciphertext }), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.encrypt('tenants', { plaintext: utf8('x') }), 'FX_INVALID_ARGUMENT');
    // Random nonces still: not convergent.
    expect(
      (await db.transit.encrypt('tenants', { plaintext: utf8('x'), context: ctxA })).ciphertext,
    ).not.toBe(ciphertext);
    // A plain key refuses a context (associatedData is how to bind data there).
    await db.transit.createKey('plain');
    await expectCode(
      db.transit.encrypt('plain', { plaintext: utf8('x'), context: ctxA }),
      'FX_INVALID_ARGUMENT',
    );
    // Rewrap keeps the context.
    await db.transit.rotate('tenants');
    const re = await db.transit.rewrap('tenants', { ciphertext, context: ctxA });
    expect(re.keyVersion).toBe(2);
    expect(
      text((await db.transit.decrypt('tenants', { ciphertext: re.ciphertext, context: ctxA })).plaintext),
    ).toBe('x');
  });

  it('convergent keys: the same plaintext and context give the same ciphertext; anything else differs', async () => {
    const db = await open();
    await expectCode(db.transit.createKey('bad', { convergent: true }), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.createKey('bad', { type: 'hmac', derived: true }), 'FX_INVALID_ARGUMENT');
    for (const type of AEADS) {
      const name = `conv-${type}`;
      await db.transit.createKey(name, { type, derived: true, convergent: true });
      const ctx = utf8('ctx');
      const a = await db.transit.encrypt(name, { plaintext: utf8('4111 1111 1111 1111'), context: ctx });
      const b = await db.transit.encrypt(name, { plaintext: utf8('4111 1111 1111 1111'), context: ctx });
      expect(b.ciphertext).toBe(a.ciphertext);
      const other = await db.transit.encrypt(name, { plaintext: utf8('4111 1111 1111 1112'), context: ctx });
      expect(other.ciphertext).not.toBe(a.ciphertext);
      const otherCtx = await db.transit.encrypt(name, {
        plaintext: utf8('4111 1111 1111 1111'),
        context: utf8('ctx2'),
      });
      expect(otherCtx.ciphertext).not.toBe(a.ciphertext);
      const withAad = await db.transit.encrypt(name, {
        plaintext: utf8('4111 1111 1111 1111'),
        context: ctx,
        associatedData: utf8('row'),
      });
      expect(withAad.ciphertext).not.toBe(a.ciphertext);
      expect(
        text((await db.transit.decrypt(name, { ciphertext: a.ciphertext, context: ctx })).plaintext),
      ).toBe('4111 1111 1111 1111');
      // Equal again after a rotation only within a version: the new version gives a new ciphertext.
      await db.transit.rotate(name);
      const c = await db.transit.encrypt(name, { plaintext: utf8('4111 1111 1111 1111'), context: ctx });
      expect(c.ciphertext).not.toBe(a.ciphertext);
      expect(c.keyVersion).toBe(2);
    }
  });
});

describe('data keys, HMAC, signatures, random', () => {
  it('data keys: wrapped gives only the ciphertext; plaintext gives both, and they agree', async () => {
    const db = await open();
    await db.transit.createKey('dek');
    const wrapped = await db.transit.dataKey('dek', 'wrapped', { bits: 256 });
    expect(Object.keys(wrapped).sort()).toEqual(['ciphertext', 'keyVersion']);
    expect((await db.transit.decrypt('dek', { ciphertext: wrapped.ciphertext })).plaintext).toHaveLength(32);
    const plain = await db.transit.dataKey('dek', 'plaintext', { bits: 512 });
    expect(plain.plaintext).toHaveLength(64);
    expect(
      Buffer.from((await db.transit.decrypt('dek', { ciphertext: plain.ciphertext })).plaintext),
    ).toEqual(Buffer.from(plain.plaintext!));
    await expectCode(db.transit.dataKey('dek', 'wrapped', { bits: 100 }), 'FX_INVALID_ARGUMENT');
  });

  it('HMAC with any key type: verifies in constant time, fails for other input, key or version floor', async () => {
    const db = await open();
    await db.transit.createKey('mac', { type: 'hmac' });
    await db.transit.createKey('enc');
    for (const name of ['mac', 'enc']) {
      for (const algorithm of ['sha2-256', 'sha2-512'] as const) {
        const [made] = await db.transit.hmac(name, [{ input: utf8('message') }], algorithm);
        const { hmac } = ok(made!);
        expect(hmac).toMatch(/^fx:v1:/);
        const [good, bad] = await db.transit.verifyHmac(
          name,
          [
            { input: utf8('message'), hmac },
            { input: utf8('messagE'), hmac },
          ],
          algorithm,
        );
        expect(ok(good!).valid).toBe(true);
        expect(ok(bad!).valid).toBe(false);
      }
    }
    const [fromMac] = await db.transit.hmac('mac', [{ input: utf8('m') }]);
    const [onEnc] = await db.transit.verifyHmac('enc', [{ input: utf8('m'), hmac: ok(fromMac!).hmac }]);
    expect(ok(onEnc!).valid).toBe(false);
    await expectCode(
      db.transit.hmac('mac', [{ input: utf8('m') }], 'md5' as 'sha2-256'),
      'FX_INVALID_ARGUMENT',
    );
    const [badItem] = await db.transit.verifyHmac('mac', [{ input: utf8('m'), hmac: 'nope' }]);
    expect(badItem).toMatchObject({ error: { code: 'FX_TRANSIT_CIPHERTEXT_INVALID' } });
    await db.transit.rotate('mac');
    await db.transit.configure('mac', { minDecryptionVersion: 2 });
    const [retired] = await db.transit.verifyHmac('mac', [{ input: utf8('m'), hmac: ok(fromMac!).hmac }]);
    expect(retired).toMatchObject({ error: { code: 'FX_KEY_VERSION_RETIRED' } });
  });

  it('ed25519 and ml-dsa-65 sign and verify; a tampered message or another key fails; encryption keys refuse', async () => {
    const db = await open();
    for (const type of ['ed25519', 'ml-dsa-65'] as const) {
      const info = await db.transit.createKey(`sig-${type}`, { type });
      expect(info).toMatchObject({ supportsSigning: true, supportsEncryption: false });
      expect(info.versions[0]!.publicKey).toBeDefined();
      const signed = await db.transit.sign(`sig-${type}`, [
        { input: utf8('release 1.2.3') },
        { input: utf8('other') },
      ]);
      const { signature, publicKey } = ok(signed[0]!);
      expect(publicKey).toBe(info.versions[0]!.publicKey);
      const checks = await db.transit.verify(`sig-${type}`, [
        { input: utf8('release 1.2.3'), signature },
        { input: utf8('release 1.2.4'), signature },
        { input: utf8('other'), signature: ok(signed[1]!).signature },
      ]);
      expect(checks.map((c) => ok(c).valid)).toEqual([true, false, true]);
      await expectCode(db.transit.encrypt(`sig-${type}`, { plaintext: utf8('x') }), 'FX_TRANSIT_UNSUPPORTED');
      // Rotation: old signatures still verify; new ones name version 2.
      await db.transit.rotate(`sig-${type}`);
      const [again] = await db.transit.sign(`sig-${type}`, [{ input: utf8('x') }]);
      expect(ok(again!).signature.startsWith('fx:v2:')).toBe(true);
      const [old] = await db.transit.verify(`sig-${type}`, [{ input: utf8('release 1.2.3'), signature }]);
      expect(ok(old!).valid).toBe(true);
    }
    const [foreign] = await db.transit.sign('sig-ed25519', [{ input: utf8('m') }]);
    await db.transit.createKey('sig-other', { type: 'ed25519' });
    const [cross] = await db.transit.verify('sig-other', [
      { input: utf8('m'), signature: ok(foreign!).signature },
    ]);
    expect(cross).toMatchObject({ error: { code: 'FX_KEY_NOT_FOUND' } });
    await db.transit.createKey('enc');
    await expectCode(db.transit.sign('enc', [{ input: utf8('m') }]), 'FX_TRANSIT_UNSUPPORTED');
  });

  it('random bytes', async () => {
    const db = await open();
    const a = await db.transit.random(32);
    expect(a).toHaveLength(32);
    expect(Buffer.from(a)).not.toEqual(Buffer.from(await db.transit.random(32)));
    await expectCode(db.transit.random(0), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.random(1024 * 1024 + 1), 'FX_INVALID_ARGUMENT');
  });
});

/** AEAD decryption by an independent implementation (OpenSSL or libsodium directly). */
function openIndependently(type: TransitKeyType, key: Buffer, envelope: Buffer, aad: Uint8Array): Buffer {
  const aead = getAead(type);
  const nonce = envelope.subarray(10, 10 + aead.nonceLength);
  const body = envelope.subarray(10 + aead.nonceLength);
  const ct = body.subarray(0, body.length - aead.tagLength);
  const tag = body.subarray(body.length - aead.tagLength);
  if (type === 'aes-256-gcm' || type === 'chacha20-poly1305') {
    const decipher = createDecipheriv(type, key, nonce, { authTagLength: 16 } as never) as ReturnType<
      typeof createDecipheriv
    > & { setAuthTag(t: Buffer): void; setAAD(a: Uint8Array, o?: object): void };
    decipher.setAAD(aad, { plaintextLength: ct.length });
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  }
  if (type === 'xchacha20-poly1305') {
    const out = Buffer.alloc(ct.length);
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, body, aad, nonce, key);
    return out;
  }
  // AEGIS-256: libsodium (the one implementation in reach) through its raw call, not the envelope.
  const out = Buffer.alloc(ct.length);
  const raw = new Uint8Array(ct.length);
  const ok = aead.decryptInto(raw, body, aad, nonce, key);
  if (!ok) throw new Error('aegis-256: authentication failed');
  out.set(raw);
  return out;
}

describe('interoperability and known answers', () => {
  it('the algorithm behind each key type passes its Wycheproof vectors', () => {
    const aeadFiles: Record<string, string> = {
      'xchacha20-poly1305': 'xchacha20_poly1305_test.json',
      'aes-256-gcm': 'aes_gcm_test.json',
      'chacha20-poly1305': 'chacha20_poly1305_test.json',
      'aegis-256': 'aegis256_test.json',
    };
    for (const type of AEADS) {
      const aead = getAead(type);
      let checked = 0;
      for (const group of loadWycheproof<AeadFile>(aeadFiles[type]!).testGroups) {
        // Only the parameters a transit key of this type uses: its key, nonce and tag sizes.
        if (
          group.keySize !== aead.keyLength * 8 ||
          group.ivSize !== aead.nonceLength * 8 ||
          group.tagSize !== 128
        )
          continue;
        for (const t of group.tests) {
          if (aead.tagLength === 32) {
            // AEGIS-256 with libsodium's 256-bit tag: the vectors carry 128-bit tags, which are the
            // XOR of the two halves of the 256-bit one (test/crypto/shared-vectors.test.ts explains).
            if (t.result !== 'valid') continue;
            const msg = Buffer.from(t.msg, 'hex');
            const out = new Uint8Array(msg.length + 32);
            aead.encryptInto(
              out,
              msg,
              Buffer.from(t.aad, 'hex'),
              Buffer.from(t.iv, 'hex'),
              Buffer.from(t.key, 'hex'),
            );
            expect(Buffer.from(out.subarray(0, msg.length)).toString('hex'), `${type} tcId ${t.tcId}`).toBe(
              t.ct,
            );
            const folded = Buffer.alloc(16);
            for (let i = 0; i < 16; i++) folded[i] = out[msg.length + i]! ^ out[msg.length + 16 + i]!;
            expect(folded.toString('hex'), `${type} tcId ${t.tcId}`).toBe(t.tag);
            checked++;
            continue;
          }
          const sealed = Buffer.from(t.ct + t.tag, 'hex');
          const out = new Uint8Array(sealed.length - 16);
          const opened = aead.decryptInto(
            out,
            sealed,
            Buffer.from(t.aad, 'hex'),
            Buffer.from(t.iv, 'hex'),
            Buffer.from(t.key, 'hex'),
          );
          expect(opened, `${type} tcId ${t.tcId}`).toBe(t.result !== 'invalid');
          if (opened) expect(Buffer.from(out).toString('hex')).toBe(t.msg);
          checked++;
        }
      }
      expect(checked, type).toBeGreaterThan(20);
    }
    let macs = 0;
    for (const group of loadWycheproof<MacFile>('hmac_sha256_test.json').testGroups) {
      if (group.tagSize !== 256) continue;
      for (const t of group.tests) {
        const tag = createHmac('sha256', Buffer.from(t.key, 'hex'))
          .update(Buffer.from(t.msg, 'hex'))
          .digest('hex');
        expect(tag === t.tag, `hmac tcId ${t.tcId}`).toBe(t.result === 'valid');
        macs++;
      }
    }
    expect(macs).toBeGreaterThan(20);
    for (const [file, algorithm] of [
      ['ed25519_test.json', 'ed25519'],
      ['mldsa_65_verify_test.json', 'ml-dsa-65'],
    ] as const) {
      let sigs = 0;
      const groups: readonly {
        publicKey: string | { pk: string };
        tests: readonly (EddsaFile['testGroups'][number]['tests'][number] & { ctx?: string })[];
      }[] =
        algorithm === 'ed25519'
          ? loadWycheproof<EddsaFile>(file).testGroups
          : loadWycheproof<MlDsaFile>(file).testGroups;
      for (const group of groups) {
        const pk = typeof group.publicKey === 'string' ? group.publicKey : group.publicKey.pk;
        let verifier: Verifier;
        try {
          verifier = createVerifier(algorithm, Buffer.from(pk, 'hex'));
        } catch {
          // A malformed public key: every case of the group must be invalid.
          for (const t of group.tests) expect(t.result).not.toBe('valid');
          continue;
        }
        for (const t of group.tests) {
          if (t.ctx !== undefined && t.ctx !== '') continue; // transit signs with an empty context
          const valid = verifier.verify(Buffer.from(t.msg, 'hex'), Buffer.from(t.sig, 'hex'));
          if (t.result !== 'acceptable')
            expect(valid, `${algorithm} tcId ${t.tcId}`).toBe(t.result === 'valid');
          sigs++;
        }
      }
      expect(sigs, algorithm).toBeGreaterThan(20);
    }
  });

  it('exported keys let independent implementations open, check and verify what transit made', async () => {
    const db = await open();
    for (const type of AEADS) {
      const name = `x-${type}`;
      await db.transit.createKey(name, { type, exportable: true });
      const aad = utf8('row-7');
      const { ciphertext } = await db.transit.encrypt(name, {
        plaintext: utf8(SENTINEL),
        associatedData: aad,
      });
      const exported = await db.transit.exportKey(name, 'encryption-key');
      expect(Object.keys(exported.keys)).toEqual(['1']);
      expect(await db.transit.exportKey(name, 'encryption-key', 'latest')).toEqual(exported);
      const key = Buffer.from(exported.keys['1']!, 'base64');
      const envelope = Buffer.from(ciphertext.slice('fx:v1:'.length), 'base64');
      // The associated data, as docs/formats.md § Transit documents it: the envelope header, then
      // the context (tenant, "transit", key name, "", associated data) in the canonical encoding.
      const context = EncryptionContext.of({
        tenant: 'default',
        database: 'transit',
        table: name,
        column: '',
        row: aad,
      });
      const fullAad = Buffer.concat([envelope.subarray(0, 10), context.encode()]);
      expect(openIndependently(type, key, envelope, fullAad).toString()).toBe(SENTINEL);
    }
    // HMAC: the exported HMAC key reproduces the tag with plain OpenSSL.
    await db.transit.createKey('x-mac', { type: 'hmac', exportable: true });
    const [made] = await db.transit.hmac('x-mac', [{ input: utf8('message') }]);
    const hmacKey = Buffer.from((await db.transit.exportKey('x-mac', 'hmac-key')).keys['1']!, 'base64');
    expect(ok(made!).hmac).toBe(`fx:v1:${createHmac('sha256', hmacKey).update('message').digest('base64')}`);
    // Signatures: the public key verifies with OpenSSL (Ed25519) and noble (ML-DSA-65), no export flag needed.
    await db.transit.createKey('x-ed', { type: 'ed25519' });
    const [edSig] = await db.transit.sign('x-ed', [{ input: utf8('release') }]);
    const edPk = Buffer.from((await db.transit.exportKey('x-ed', 'public-key')).keys['1']!, 'base64');
    const spki = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), edPk]),
      format: 'der',
      type: 'spki',
    });
    expect(
      nodeVerify(null, Buffer.from('release'), spki, Buffer.from(ok(edSig!).signature.slice(6), 'base64')),
    ).toBe(true);
    await db.transit.createKey('x-ml', { type: 'ml-dsa-65' });
    const [mlSig] = await db.transit.sign('x-ml', [{ input: utf8('release') }]);
    const mlPk = Buffer.from((await db.transit.exportKey('x-ml', 'public-key')).keys['1']!, 'base64');
    expect(ml_dsa65.verify(Buffer.from(ok(mlSig!).signature.slice(6), 'base64'), utf8('release'), mlPk)).toBe(
      true,
    );
  });

  it('exportability: refused unless set, and once set it cannot be unset', async () => {
    const db = await open();
    await db.transit.createKey('locked');
    await expectCode(db.transit.exportKey('locked', 'encryption-key'), 'FX_TRANSIT_NOT_EXPORTABLE');
    await expectCode(db.transit.exportKey('locked', 'signing-key'), 'FX_TRANSIT_UNSUPPORTED');
    await db.transit.configure('locked', { exportable: true });
    expect(Object.keys((await db.transit.exportKey('locked', 'encryption-key')).keys)).toEqual(['1']);
    await expectCode(
      db.transit.configure('locked', { exportable: false }),
      'FX_TRANSIT_EXPORTABLE_IRREVERSIBLE',
    );
    expect((await db.transit.readKey('locked')).exportable).toBe(true);
  });
});

describe('settings integrity', () => {
  async function entries(db: Fortress, action: string): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for await (const e of db.audit.entries({ newestFirst: true, limit: 500 })) {
      if (e.action === action) out.push(e);
    }
    return out;
  }

  it('a key whose settings were changed in storage is refused (FX_INTEGRITY) until they are put back', async () => {
    const db = await open();
    const driver = db.storageDriver();
    await db.transit.createKey('locked');
    await db.transit.createKey('other', { exportable: true });
    const { ciphertext } = await db.transit.encrypt('locked', { plaintext: utf8(SENTINEL) });
    const set = async (column: string, value: string | number | null): Promise<void> => {
      const changed = await driver.run(`UPDATE fx_transit_keys SET ${column} = ? WHERE name = 'locked'`, [
        value,
      ]);
      expect(changed.changes).toBe(1);
    };
    // A fresh engine on the same storage reads the row (the facade's caches it for a second).
    const fresh = (): Promise<TransitEngine> =>
      TransitEngine.open({ driver, keys: db.keys, tenant: 'default' });

    // Exportability switched on behind Fortress's back.
    await set('exportable', 1);
    const refused = await expectCode(db.transit.exportKey('locked', 'encryption-key'), 'FX_INTEGRITY');
    expect(refused.message).toContain('transit key locked');
    await expectCode(db.transit.readKey('locked'), 'FX_INTEGRITY');
    await expectCode(db.transit.configure('locked', { exportable: false }), 'FX_INTEGRITY');
    await expectCode(db.transit.deleteKey('locked'), 'FX_INTEGRITY');
    await expectCode((await fresh()).encrypt('locked', { plaintext: utf8('x') }), 'FX_INTEGRITY');
    await expectCode((await fresh()).decrypt('locked', { ciphertext }), 'FX_INTEGRITY');
    await set('exportable', 0);
    expect(text((await (await fresh()).decrypt('locked', { ciphertext })).plaintext)).toBe(SENTINEL);
    await expectCode(db.transit.exportKey('locked', 'encryption-key'), 'FX_TRANSIT_NOT_EXPORTABLE');

    // The name pointed at another key's keyring key (an exportable one), a lowered floor, a
    // deletion allowed, a missing seal.
    const otherKeyName = (await driver.get<{ key_name: string }>(
      "SELECT key_name FROM fx_transit_keys WHERE name = 'other'",
    ))!.key_name;
    const original = (await driver.get<{ key_name: string }>(
      "SELECT key_name FROM fx_transit_keys WHERE name = 'locked'",
    ))!.key_name;
    await set('key_name', otherKeyName);
    await expectCode(db.transit.readKey('locked'), 'FX_INTEGRITY');
    await set('key_name', original);
    await set('deletion_allowed', 1);
    await expectCode(db.transit.deleteKey('locked'), 'FX_INTEGRITY');
    await set('deletion_allowed', 0);
    await set('min_available_version', 0);
    await expectCode(db.transit.readKey('locked'), 'FX_INTEGRITY');
    await set('min_available_version', 1);
    await driver.run(
      "UPDATE fx_transit_keys SET settings_seal = (SELECT settings_seal FROM fx_transit_keys WHERE name = 'other') WHERE name = 'locked'",
    );
    await expectCode(db.transit.readKey('locked'), 'FX_INTEGRITY');
    await set('settings_seal', null);
    await expectCode(db.transit.readKey('locked'), 'FX_INTEGRITY');
    // The other key was never touched.
    expect((await db.transit.readKey('other')).exportable).toBe(true);
  });

  it('keys written before settings were sealed are sealed once, when unsealed, and that is recorded', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-transit-upgrade-'));
    const reopen = (): Promise<Fortress> =>
      openTestFortress({ path: dir, onWarning: () => undefined, audit: { checkpointIntervalMs: 0 } });
    let db = await reopen();
    try {
      await db.transit.createKey('a');
      await db.transit.createKey('b', { type: 'hmac' });
      const { ciphertext } = await db.transit.encrypt('a', { plaintext: utf8(SENTINEL) });
      await db.storageDriver().exec('ALTER TABLE fx_transit_keys DROP COLUMN settings_seal');
      await db.close();

      db = await reopen();
      db.seal();
      await expectCode(db.transit.readKey('a'), 'FX_SEALED');
      await db.unseal(new DevKeyFileSealProvider({ path: path.join(dir, 'dev-unseal.key') }));
      expect(text((await db.transit.decrypt('a', { ciphertext })).plaintext)).toBe(SENTINEL);
      expect((await db.transit.readKey('a')).exportable).toBe(false);
      await expect.poll(async () => (await entries(db, 'transit.settings.upgrade')).length).toBe(1);
      expect((await entries(db, 'transit.settings.upgrade'))[0]!.details).toEqual({ keys: 2 });
      // Sealed now: a seal removed later is a change, not an old row.
      await db.storageDriver().run("UPDATE fx_transit_keys SET settings_seal = NULL WHERE name = 'b'");
      await expectCode(db.transit.readKey('b'), 'FX_INTEGRITY');
      await db.close();
      db = await reopen();
      await expectCode(db.transit.readKey('b'), 'FX_INTEGRITY');
      expect(await entries(db, 'transit.settings.upgrade')).toHaveLength(1);
    } finally {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bulk rewrap job', () => {
  it('rewraps every older ciphertext of a column in batches, skips the rest, and the values still decrypt', async () => {
    const db = await open();
    await db.transit.createKey('cards');
    await db.transit.createKey('other');
    const payments = await db.createTable('payments', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        card: { type: 'text' },
        order: { type: 'text' },
      },
    });
    const rows = [];
    for (let i = 1; i <= 40; i++) {
      const order = `order-${i}`;
      const { ciphertext } = await db.transit.encrypt('cards', {
        plaintext: utf8(`4111-${i}`),
        associatedData: utf8(order),
      });
      rows.push({ id: i, card: ciphertext, order });
    }
    // Not ciphertexts of an old version: left alone.
    rows.push({ id: 41, card: 'not a ciphertext', order: 'order-41' });
    await payments.insertMany(rows);
    await db.transit.rotate('cards');
    const fresh = await db.transit.encrypt('cards', {
      plaintext: utf8('4111-42'),
      associatedData: utf8('order-42'),
    });
    await payments.insert({ id: 42, card: fresh.ciphertext, order: 'order-42' });
    // One value sealed under another key: rewrap fails for it, and it is counted, not changed.
    const foreign = await db.transit.encrypt('other', { plaintext: utf8('x') });
    await payments.insert({
      id: 43,
      card: foreign.ciphertext.replace('fx:v1:', 'fx:v1:'),
      order: 'order-43',
    });

    const started = await db.transit.startRewrap('cards', {
      table: 'payments',
      column: 'card',
      associatedDataColumn: 'order',
      batchSize: 7,
    });
    expect(started).toMatchObject({ key: 'cards', table: 'payments', column: 'card', total: 43 });
    const done = await db.transit.waitForRewrap(started.id);
    expect(done).toMatchObject({ state: 'done', processed: 43, rewrapped: 40, failed: 1, percent: 100 });
    expect(done.lastError).toMatch(/FX_TRANSIT_CIPHERTEXT_INVALID/);
    for (const row of await payments.find({})) {
      if (row.id === 41) expect(row.card).toBe('not a ciphertext');
      else if (row.id === 43) expect(row.card).toBe(foreign.ciphertext);
      else {
        expect(String(row.card).startsWith('fx:v2:')).toBe(true);
        const { plaintext } = await db.transit.decrypt('cards', {
          ciphertext: String(row.card),
          associatedData: utf8(String(row.order)),
        });
        expect(text(plaintext)).toBe(`4111-${String(row.id)}`);
      }
    }
    expect((await db.transit.listRewrapJobs()).map((j) => j.id)).toEqual([started.id]);
    // A second run has nothing left to do.
    const again = await db.transit.waitForRewrap(
      (
        await db.transit.startRewrap('cards', {
          table: 'payments',
          column: 'card',
          associatedDataColumn: 'order',
        })
      ).id,
    );
    expect(again).toMatchObject({ state: 'done', rewrapped: 0, failed: 1 });
    // Bad input: unknown table, column, key type; nothing is recorded for them.
    await expectCode(
      db.transit.startRewrap('cards', { table: 'nope', column: 'card' }),
      'FX_TABLE_NOT_FOUND',
    );
    await expectCode(
      db.transit.startRewrap('cards', { table: 'payments', column: 'nope' }),
      'FX_COLUMN_NOT_FOUND',
    );
    await expectCode(
      db.transit.startRewrap('cards', { table: 'payments', column: 'card', batchSize: 0 }),
      'FX_INVALID_ARGUMENT',
    );
    await db.transit.createKey('sig', { type: 'ed25519' });
    await expectCode(
      db.transit.startRewrap('sig', { table: 'payments', column: 'card' }),
      'FX_TRANSIT_UNSUPPORTED',
    );
    await expectCode(db.transit.rewrapJob('no-such-job'), 'FX_JOB_NOT_FOUND');
    expect(await db.transit.listRewrapJobs()).toHaveLength(2);
  });

  it('is resumable: a job stopped by a close continues after reopening, from its checkpoint', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-transit-job-'));
    const options = { path: dir, onWarning: () => undefined, audit: { checkpointIntervalMs: 0 } };
    let db = await openTestFortress(options);
    try {
      await db.transit.createKey('cards');
      const t = await db.createTable('payments', {
        columns: { id: { type: 'integer', primaryKey: true }, card: { type: 'text' } },
      });
      const items = Array.from({ length: 300 }, (_, i) => ({ plaintext: utf8(`card-${i}`) }));
      const sealed = await db.transit.encryptBatch('cards', items);
      await t.insertMany(sealed.map((r, i) => ({ id: i + 1, card: ok(r).ciphertext })));
      await db.transit.rotate('cards');
      const job = await db.transit.startRewrap('cards', { table: 'payments', column: 'card', batchSize: 10 });
      // Stop it part-way: pause after the first batches, then close while paused.
      const paused = await db.transit.pauseRewrap(job.id);
      expect(['paused', 'done']).toContain(paused.state);
      await db.close();
      db = await openTestFortress(options);
      const before = await db.transit.rewrapJob(job.id);
      expect(before.processed).toBe(paused.processed);
      await db.transit.resumeRewrap(job.id);
      // Closed while running: the job is picked up again when the database opens.
      await db.close();
      db = await openTestFortress(options);
      const done = await db.transit.waitForRewrap(job.id);
      expect(done).toMatchObject({ state: 'done', processed: 300, rewrapped: 300, failed: 0 });
      const rows = await db.table('payments').find({});
      expect(rows.every((r) => String(r['card']).startsWith('fx:v2:'))).toBe(true);
      const opened = await db.transit.decryptBatch(
        'cards',
        rows.map((r) => ({ ciphertext: String(r['card']) })),
      );
      expect(opened.map((r) => text(ok(r).plaintext))).toEqual(items.map((i) => text(i.plaintext)));
    } finally {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rewraps a stream of ciphertexts in bounded batches, results in input order with their index', async () => {
    const db = await open();
    await db.transit.createKey('stream');
    const sealed = (
      await db.transit.encryptBatch(
        'stream',
        Array.from({ length: 25 }, (_, i) => ({ plaintext: utf8(`v${i}`) })),
      )
    ).map((r) => ok(r).ciphertext);
    await db.transit.rotate('stream');
    function* source(): Generator<string> {
      for (const [i, c] of sealed.entries()) yield i === 7 ? 'fx:v1:AAAA' : c;
    }
    const results = [];
    for await (const r of db.transit.rewrapStream('stream', source(), { batchSize: 4 })) results.push(r);
    expect(results.map((r) => r.index)).toEqual([...Array(25).keys()]);
    expect(results[7]).toMatchObject({ index: 7, error: { code: 'FX_TRANSIT_CIPHERTEXT_INVALID' } });
    for (const [i, r] of results.entries()) {
      if (i === 7) continue;
      const { ciphertext, keyVersion } = ok(r as Sealed | ItemError);
      expect(keyVersion).toBe(2);
      expect(text((await db.transit.decrypt('stream', { ciphertext })).plaintext)).toBe(`v${i}`);
    }
    // One audit entry per batch of four.
    let batches = 0;
    for await (const e of db.audit.entries({ action: 'transit.rewrap' }))
      if (e.outcome.status === 'ok') batches++;
    expect(batches).toBe(7);
  });

  it('a session needs manageTransitKey on the key and update on the table', async () => {
    const db = await open();
    await db.transit.createKey('cards');
    await db.createTable('payments', {
      columns: { id: { type: 'integer', primaryKey: true }, card: { type: 'text' } },
    });
    await db.access.addServiceAccount('ops');
    await db.access.addPolicies({
      ops: `permit (principal == Fortress::ServiceAccount::"default/ops", action == Fortress::Action::"manageTransitKey", resource is Fortress::TransitKey);`,
    });
    const ops = db.as({ service: 'ops' }).transit;
    await expectCode(ops.startRewrap('cards', { table: 'payments', column: 'card' }), 'FX_FORBIDDEN');
    await db.access.addPolicies({
      'ops-update': `permit (principal == Fortress::ServiceAccount::"default/ops", action == Fortress::Action::"update", resource == Fortress::Table::"default/main/payments");`,
    });
    const job = await ops.startRewrap('cards', { table: 'payments', column: 'card' });
    expect((await db.transit.waitForRewrap(job.id)).state).toBe('done');
  });
});

describe('policy and audit', () => {
  it('each operation needs its action on the key; plaintext data keys are their own action', async () => {
    const db = await open();
    await db.transit.createKey('orders');
    await db.transit.createKey('other');
    await db.access.addServiceAccount('billing');
    await db.access.addServiceAccount('keysvc');
    await db.access.addPolicies({
      billing: `permit (
  principal == Fortress::ServiceAccount::"default/billing",
  action in [Fortress::Action::"transitEncrypt", Fortress::Action::"transitDataKey"],
  resource == Fortress::TransitKey::"default/orders"
);`,
      keysvc: `permit (
  principal == Fortress::ServiceAccount::"default/keysvc",
  action in [Fortress::Action::"transitDecrypt", Fortress::Action::"transitPlaintextDataKey"],
  resource is Fortress::TransitKey
) when { resource.name == "orders" };`,
    });
    const billing = db.as({ service: 'billing' }).transit;
    const keysvc = db.as({ service: 'keysvc' }).transit;
    const { ciphertext } = await billing.encrypt('orders', { plaintext: utf8(SENTINEL) });
    await expectCode(billing.decrypt('orders', { ciphertext }), 'FX_FORBIDDEN');
    await expectCode(billing.encrypt('other', { plaintext: utf8('x') }), 'FX_FORBIDDEN');
    await expectCode(billing.dataKey('orders', 'plaintext'), 'FX_FORBIDDEN');
    const wrapped = await billing.dataKey('orders', 'wrapped');
    expect(text((await keysvc.decrypt('orders', { ciphertext })).plaintext)).toBe(SENTINEL);
    expect((await keysvc.dataKey('orders', 'plaintext')).plaintext).toHaveLength(32);
    expect((await keysvc.decrypt('orders', { ciphertext: wrapped.ciphertext })).plaintext).toHaveLength(32);
    await expectCode(keysvc.rotate('orders'), 'FX_FORBIDDEN');
    await expectCode(keysvc.listKeys(), 'FX_FORBIDDEN');
    await expectCode(keysvc.random(8), 'FX_FORBIDDEN');
    const denied: AuditEntry[] = [];
    for await (const e of db.audit.entries({ action: 'transit.decrypt' }))
      if (e.outcome.status === 'error') denied.push(e);
    expect(denied[0]).toMatchObject({
      principal: { type: 'service', id: 'default/billing' },
      resource: { type: 'secret', path: 'transit:orders' },
      outcome: { status: 'error', code: 'FX_FORBIDDEN' },
    });
  });

  it('every operation is recorded with the key, item counts and versions — never a plaintext, ciphertext or key', async () => {
    const db = await open();
    await db.transit.createKey('orders', { exportable: true });
    const { ciphertext } = await db.transit.encrypt('orders', { plaintext: utf8(SENTINEL) });
    await db.transit.decrypt('orders', { ciphertext });
    await db.transit.decryptBatch('orders', [{ ciphertext }, { ciphertext: 'fx:v1:AAAA' }]);
    const dk = await db.transit.dataKey('orders', 'plaintext');
    const exported = await db.transit.exportKey('orders', 'encryption-key');
    await expectCode(db.transit.decrypt('missing', { ciphertext }), 'FX_TRANSIT_KEY_NOT_FOUND');
    const all: AuditEntry[] = [];
    for await (const e of db.audit.entries({ action: 'transit.' })) all.push(e);
    expect(all.map((e) => e.action)).toEqual([
      'transit.createKey',
      'transit.encrypt',
      'transit.decrypt',
      'transit.decrypt',
      'transit.dataKey.plaintext',
      'transit.export',
      'transit.decrypt',
    ]);
    expect(all[1]).toMatchObject({
      resource: { type: 'secret', path: 'transit:orders' },
      details: { items: 1, versions: '1' },
    });
    expect(all[3]).toMatchObject({ details: { items: 2, failed: 1 } });
    expect(all[6]).toMatchObject({ outcome: { status: 'error', code: 'FX_TRANSIT_KEY_NOT_FOUND' } });
    const everything = JSON.stringify(all);
    for (const secret of [
      SENTINEL,
      Buffer.from(SENTINEL).toString('base64'),
      ciphertext.slice(6, 40),
      Buffer.from(dk.plaintext!).toString('base64'),
      exported.keys['1']!,
    ]) {
      expect(everything).not.toContain(secret);
    }
    expect((await db.audit.verify()).ok).toBe(true);
  });
});

describe('bad input', () => {
  it('is refused with a specific code, and nothing stored changes', async () => {
    const db = await open();
    await db.transit.createKey('orders');
    const before = await db.transit.readKey('orders');
    await expectCode(db.transit.createKey('orders'), 'FX_TRANSIT_KEY_EXISTS');
    await expectCode(db.transit.createKey('bad name'), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.createKey('../x'), 'FX_INVALID_ARGUMENT');
    await expectCode(
      db.transit.createKey('k', { type: 'rsa-2048' as TransitKeyType }),
      'FX_INVALID_ARGUMENT',
    );
    await expectCode(
      db.transit.createKey('k', { exportable: 'yes' as unknown as boolean }),
      'FX_INVALID_ARGUMENT',
    );
    await expectCode(db.transit.readKey('missing'), 'FX_TRANSIT_KEY_NOT_FOUND');
    await expectCode(db.transit.configure('orders', { minDecryptionVersion: 5 }), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.configure('orders', { unknown: 1 } as never), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.configure('orders', { autoRotatePeriod: 'weekly' }), 'FX_INVALID_ARGUMENT');
    await expectCode(db.transit.deleteKey('orders'), 'FX_KEY_STATE');
    await expectCode(
      db.transit.encrypt('orders', { plaintext: utf8('x'), keyVersion: -1 }),
      'FX_INVALID_ARGUMENT',
    );
    await expectCode(db.transit.listKeys({ limit: 0 }), 'FX_INVALID_ARGUMENT');
    expect(await db.transit.readKey('orders')).toEqual(before);
    expect((await db.transit.listKeys()).keys).toEqual(['orders']);
  });

  it('lists keys in pages that never skip or repeat', async () => {
    const db = await open();
    const names = Array.from({ length: 7 }, (_, i) => `key-${i}`);
    for (const name of names) await db.transit.createKey(name);
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await db.transit.listKeys({ limit: 3, ...(after === undefined ? {} : { after }) });
      seen.push(...page.keys);
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual(names);
  });
});
