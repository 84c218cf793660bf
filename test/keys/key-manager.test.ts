/**
 * The keys layer end to end: seal states and their bad transitions, the keyring (create, rotate,
 * minimum decryption version, shredding a version, a key, a tenant), schedules and usage limits,
 * rekey and root-key rotation, restart from a file store, and concurrency with rotation and seal.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EncryptionContext } from '../../src/crypto/envelope/encryption-context.js';
import { generateRecipientKeys } from '../../src/crypto/hybrid/hybrid-kem.js';
import { readEnvelopeHeader } from '../../src/crypto/envelope/envelope-format.js';
import { KeyManager } from '../../src/keys/key-manager.js';
import { DevKeyFileSealProvider } from '../../src/keys/seal/dev-key-file-seal.js';
import { PassphraseSealProvider } from '../../src/keys/seal/passphrase-seal.js';
import { ShamirSealProvider } from '../../src/keys/seal/shamir-seal.js';
import { FileKeyStore } from '../../src/keys/store/file-key-store.js';
import { MemoryKeyStore } from '../../src/keys/store/memory-key-store.js';
import type { KeyRecord, KeyStore } from '../../src/keys/store/key-store.js';
import { FortressError } from '../../src/util/errors.js';
import { expectCode as rejectsWith } from '../helpers/expect-code.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
/** A record as a version without tags wrote it. */
function withoutTagField(record: KeyRecord): KeyRecord {
  const copy: { -readonly [K in keyof KeyRecord]?: KeyRecord[K] } = { ...record };
  delete copy.tag;
  return copy as KeyRecord;
}

const FAST_KDF = { algorithm: 'argon2id' as const, memoryKiB: 1024, iterations: 1, parallelism: 1 };

async function unsealedWithKeys(
  store: KeyStore = new MemoryKeyStore(),
): Promise<{ keys: KeyManager; shares: readonly string[] }> {
  const keys = await KeyManager.open({ store });
  const { shares } = await keys.init(new ShamirSealProvider({ shares: 5, threshold: 3 }));
  await keys.createKey({ name: 'kek/acme/main', purpose: 'kek' });
  await keys.createKey({ name: 'acme/main/people/ssn', purpose: 'data', parent: 'kek/acme/main' });
  return { keys, shares: shares! };
}

const ctx = EncryptionContext.of({
  tenant: 'acme',
  database: 'main',
  table: 'people',
  column: 'ssn',
  row: '1',
});

describe('seal states', () => {
  it('walks uninitialised → unsealed → sealed → unsealed and refuses the bad transitions', async () => {
    const keys = await KeyManager.open({ store: new MemoryKeyStore() });
    expect(keys.state).toBe('uninitialized');
    await rejectsWith(keys.encrypt('x', utf8('v')), 'FX_NOT_INITIALIZED');
    await rejectsWith(keys.unseal(new ShamirSealProvider()), 'FX_NOT_INITIALIZED');
    expect(() => {
      keys.seal();
    }).toThrow(FortressError);

    const { shares } = await keys.init(new ShamirSealProvider({ shares: 5, threshold: 3 }));
    expect(keys.state).toBe('unsealed');
    expect(shares).toHaveLength(5);
    await rejectsWith(keys.init(new ShamirSealProvider()), 'FX_ALREADY_INITIALIZED');
    await rejectsWith(keys.unseal(new ShamirSealProvider(), shares!.slice(0, 3)), 'FX_ALREADY_UNSEALED');

    keys.seal();
    keys.seal(); // idempotent
    expect(keys.state).toBe('sealed');
    await rejectsWith(keys.createKey({ name: 'kek/a/b', purpose: 'kek' }), 'FX_SEALED');
    await rejectsWith(keys.rotate('kek/a/b'), 'FX_SEALED');
    await rejectsWith(keys.encrypt('x', utf8('v')), 'FX_SEALED');
    await rejectsWith(keys.decrypt(utf8('v')), 'FX_SEALED');
    expect(() => keys.listKeys()).toThrow(/sealed/);

    await rejectsWith(
      keys.unseal(new PassphraseSealProvider({ passphrase: 'a long passphrase here' })),
      'FX_SEAL_PROVIDER',
    );
    const attempt = keys.beginUnseal(new ShamirSealProvider());
    expect(await attempt.submit(shares![4]!)).toEqual({ done: false, received: 1, required: 3 });
    expect(await attempt.submit(shares![1]!)).toEqual({ done: false, received: 2, required: 3 });
    expect(keys.state).toBe('sealed');
    expect(await attempt.submit(shares![2]!)).toEqual({ done: true });
    expect(keys.state).toBe('unsealed');
  });

  it('wrong shares, too few shares and shares of another Fortress fail clearly and reset', async () => {
    const { keys, shares } = await unsealedWithKeys();
    const other = await unsealedWithKeys();
    keys.seal();
    await rejectsWith(keys.unseal(new ShamirSealProvider(), shares.slice(0, 2)), 'FX_UNSEAL_FAILED');
    const attempt = keys.beginUnseal(new ShamirSealProvider());
    await attempt.submit(shares[0]!);
    const error = await rejectsWith(attempt.submit(other.shares[1]!), 'FX_UNSEAL_FAILED');
    expect(error.message).toMatch(/another Fortress/);
    expect(attempt.received).toBe(0);
    const typo = shares[1]!.slice(0, 30) + (shares[1]![30] === '0' ? '1' : '0') + shares[1]!.slice(31);
    await rejectsWith(attempt.submit(typo), 'FX_UNSEAL_FAILED');
    await rejectsWith(
      keys.unseal(new ShamirSealProvider(), [shares[0]!, shares[0]!, shares[1]!]),
      'FX_UNSEAL_FAILED',
    );
    expect(keys.state).toBe('sealed');
    await keys.unseal(new ShamirSealProvider(), [shares[3]!, shares[0]!, shares[2]!]);
    expect(keys.state).toBe('unsealed');
  });

  it('persists: restart over the same files, unseal with any three shares, read old data', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-keys-'));
    try {
      const first = await unsealedWithKeys(await FileKeyStore.open(dir));
      const envelope = await first.keys.encrypt('acme/main/people/ssn', utf8('123-45-6789'), ctx);
      await first.keys.close();

      const keys = await KeyManager.open({ store: await FileKeyStore.open(dir) });
      expect(keys.state).toBe('sealed');
      expect(keys.sealKind).toBe('shamir');
      await keys.unseal(new ShamirSealProvider(), [first.shares[1]!, first.shares[3]!, first.shares[4]!]);
      expect(text(await keys.decrypt(envelope, ctx))).toBe('123-45-6789');
      expect(keys.listKeys().map((k) => k.name)).toEqual(['kek/acme/main', 'acme/main/people/ssn']);
      await keys.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the dev key file unseals automatically; the passphrase provider with its passphrase', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-dev-'));
    try {
      const store = new MemoryKeyStore();
      const dev = new DevKeyFileSealProvider({ path: path.join(dir, 'unseal.key') });
      const keys = await KeyManager.open({ store });
      await keys.init(dev);
      keys.seal();
      await keys.unseal(dev);
      expect(keys.state).toBe('unsealed');

      const pass = await KeyManager.open({ store: new MemoryKeyStore() });
      await pass.init(
        new PassphraseSealProvider({ passphrase: 'correct horse battery staple', kdf: FAST_KDF }),
      );
      pass.seal();
      const provider = new PassphraseSealProvider({ passphrase: 'unused for unsealing' });
      await rejectsWith(pass.unseal(provider, ['wrong horse battery staple']), 'FX_UNSEAL_FAILED');
      await pass.unseal(provider, ['correct horse battery staple']);
      expect(pass.state).toBe('unsealed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('keyring', () => {
  let keys: KeyManager;
  let store: MemoryKeyStore;
  beforeEach(async () => {
    store = new MemoryKeyStore();
    ({ keys } = await unsealedWithKeys(store));
  });
  afterEach(async () => {
    await keys.close();
  });

  it('creates a hierarchy and refuses malformed keys', async () => {
    const kek = keys.getKey('kek/acme/main');
    const data = keys.getKey('acme/main/people/ssn');
    expect(kek.parentId).toBeNull();
    expect(data.parentId).toBe(kek.id);
    expect(data.activeVersion).toBe(1);
    await rejectsWith(keys.createKey({ name: 'acme/x', purpose: 'data' }), 'FX_INVALID_ARGUMENT');
    await rejectsWith(
      keys.createKey({ name: 'acme/y', purpose: 'data', parent: 'acme/main/people/ssn' }),
      'FX_INVALID_ARGUMENT',
    );
    await rejectsWith(keys.createKey({ name: 'kek/acme/main', purpose: 'kek' }), 'FX_KEY_STATE');
    await rejectsWith(keys.createKey({ name: 'bad name!', purpose: 'kek' }), 'FX_INVALID_ARGUMENT');
    await rejectsWith(
      keys.createKey({ name: 'k', purpose: 'kek', rotationPeriod: 'weekly' }),
      'FX_INVALID_ARGUMENT',
    );
    await rejectsWith(
      keys.createKey({ name: 'k', purpose: 'kek', algorithm: 'rot13' as never }),
      'FX_CRYPTO_UNKNOWN_ALGORITHM',
    );
    await rejectsWith(keys.encrypt('kek/acme/main', utf8('x')), 'FX_KEY_STATE');
    await rejectsWith(keys.encrypt('nope', utf8('x')), 'FX_KEY_NOT_FOUND');
    expect(keys.listKeys()).toHaveLength(2);
  });

  it('rotates: new writes use the new version, old values still decrypt, old version becomes decrypt-only', async () => {
    const name = 'acme/main/people/ssn';
    const v1 = await keys.encrypt(name, utf8('one'), ctx);
    const info = await keys.rotate(name);
    expect(info.activeVersion).toBe(2);
    const v2 = await keys.encrypt(name, utf8('two'), ctx);
    expect(readEnvelopeHeader(v1).keyVersion).toBe(1);
    expect(readEnvelopeHeader(v2).keyVersion).toBe(2);
    expect(text(await keys.decrypt(v1, ctx))).toBe('one');
    expect(text(await keys.decrypt(v2, ctx))).toBe('two');
    expect(await keys.versionState(name, 1)).toBe('decrypt-only');
    expect(await keys.versionState(name, 2)).toBe('active');
    expect((await keys.listVersions(name)).map((v) => v.version)).toEqual([1, 2]);
  });

  it('minimum decryption version refuses older versions, reversibly', async () => {
    const name = 'acme/main/people/ssn';
    const v1 = await keys.encrypt(name, utf8('one'), ctx);
    await keys.rotate(name);
    await keys.setMinDecryptionVersion(name, 2);
    await rejectsWith(keys.decrypt(v1, ctx), 'FX_KEY_VERSION_RETIRED');
    expect(await keys.versionState(name, 1)).toBe('retired');
    expect((await keys.listVersions(name)).map((v) => v.state)).toEqual(['retired', 'active']);
    await rejectsWith(keys.setMinDecryptionVersion(name, 3), 'FX_INVALID_ARGUMENT');
    await keys.setMinDecryptionVersion(name, 1);
    expect(await keys.versionState(name, 1)).toBe('decrypt-only');
    expect(text(await keys.decrypt(v1, ctx))).toBe('one');
  });

  it('destroys a version (crypto-shredding) but never the active one', async () => {
    const name = 'acme/main/people/ssn';
    const v1 = await keys.encrypt(name, utf8('one'), ctx);
    await keys.encrypt(name, utf8('one again'), ctx);
    await rejectsWith(keys.destroyVersion(name, 1), 'FX_KEY_STATE');
    await keys.rotate(name);
    const result = await keys.destroyVersion(name, 1);
    expect(result.version).toBe(1);
    expect(result.encryptions).toBeGreaterThanOrEqual(2);
    await rejectsWith(keys.decrypt(v1, ctx), 'FX_KEY_VERSION_DESTROYED');
    const stored = await store.getVersion(keys.getKey(name).id, 1);
    expect(stored?.state).toBe('destroyed');
    expect(stored?.wrapped).toBeNull();
    // Reversing the minimum version cannot bring a destroyed version back.
    await keys.setMinDecryptionVersion(name, 1);
    await rejectsWith(keys.decrypt(v1, ctx), 'FX_KEY_VERSION_DESTROYED');
  });

  it("destroying a tenant's key-encryption key shreds every data key under it", async () => {
    await keys.createKey({ name: 'kek/other/main', purpose: 'kek' });
    await keys.createKey({ name: 'other/main/t/c', purpose: 'data', parent: 'kek/other/main' });
    const mine = await keys.encrypt('acme/main/people/ssn', utf8('acme value'), ctx);
    const theirs = await keys.encrypt('other/main/t/c', utf8('other value'), ctx);
    await keys.destroyKey('kek/acme/main');
    await rejectsWith(keys.decrypt(mine, ctx), 'FX_KEY_VERSION_DESTROYED');
    expect(text(await keys.decrypt(theirs, ctx))).toBe('other value');
    // Also after the cache is gone (restart-equivalent).
    keys.seal();
    expect(keys.cachedKeyCount).toBe(0);
  });

  it('rotates on schedule and before the AES-GCM usage limit', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const scheduled = await KeyManager.open({ store: new MemoryKeyStore(), now: () => now });
    await scheduled.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
    await scheduled.createKey({ name: 'kek', purpose: 'kek' });
    await scheduled.createKey({ name: 'weekly', purpose: 'data', parent: 'kek', rotationPeriod: '7d' });
    await scheduled.encrypt('weekly', utf8('a'));
    expect(scheduled.getKey('weekly').activeVersion).toBe(1);
    now = new Date('2026-01-08T00:00:01Z');
    const envelope = await scheduled.encrypt('weekly', utf8('b'));
    expect(readEnvelopeHeader(envelope).keyVersion).toBe(2);
    expect(scheduled.getKey('weekly').rotationPeriod).toBe('1w');
    now = new Date('2026-01-16T00:00:00Z');
    expect((await scheduled.rotateDue()).map((k) => k.name)).toEqual(['weekly']);

    const gcmStore = new MemoryKeyStore();
    const gcm = await KeyManager.open({ store: gcmStore });
    const { shares } = await gcm.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
    await gcm.createKey({ name: 'kek', purpose: 'kek' });
    await gcm.createKey({ name: 'gcm', purpose: 'data', parent: 'kek', algorithm: 'aes-256-gcm' });
    const id = gcm.getKey('gcm').id;
    gcm.seal(); // drop the cache so the next unwrap reads the counter written below
    const record = (await gcmStore.getVersion(id, 1))!;
    await gcmStore.putVersion({ ...record, encryptions: 2 ** 32 - 1000 });
    await gcm.unseal(new ShamirSealProvider(), shares);
    const envelope2 = await gcm.encrypt('gcm', utf8('x'));
    expect(readEnvelopeHeader(envelope2).keyVersion).toBe(2);
    expect(readEnvelopeHeader(envelope2).algorithm).toBe('aes-256-gcm');
  });

  it('two processes sharing a store that find a key due at once rotate it once (ifActiveVersion)', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const store = new MemoryKeyStore();
    // The shared store's lock, as a cluster provides it (here: one chain of promises).
    let chain: Promise<unknown> = Promise.resolve();
    const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = chain.then(fn, fn);
      chain = run.catch(() => undefined);
      return run;
    };
    const first = await KeyManager.open({ store, now: () => now });
    const { shares } = await first.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
    await first.createKey({ name: 'kek', purpose: 'kek' });
    await first.createKey({ name: 'weekly', purpose: 'data', parent: 'kek', rotationPeriod: '7d' });
    const second = await KeyManager.open({ store, now: () => now });
    await second.unseal(new ShamirSealProvider(), shares);
    first.shareStore(exclusive);
    second.shareStore(exclusive);
    now = new Date('2026-01-08T00:00:01Z');
    const [a, b] = await Promise.all([first.rotateDue(), second.rotateDue()]);
    expect([...a, ...b].map((k) => k.activeVersion)).toEqual([2, 2]);
    expect((await first.listVersions('weekly')).map((v) => v.version)).toEqual([1, 2]);
    // Without the condition a rotation always adds a version; with a stale one it adds none.
    expect((await second.rotate('weekly', { ifActiveVersion: 1 })).activeVersion).toBe(2);
    expect((await second.rotate('weekly')).activeVersion).toBe(3);
    await rejectsWith(second.rotate('weekly', { ifActiveVersion: 0 }), 'FX_INVALID_ARGUMENT');
    await rejectsWith(
      second.rotate('weekly', { ifActiveVersion: 3, extra: 1 } as { ifActiveVersion: number }),
      'FX_INVALID_ARGUMENT',
    );
  });

  it('sets, persists and clears a rotation period; rotateDue follows the new schedule', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-period-'));
    let now = new Date('2026-01-01T00:00:00Z');
    const open = async (shares?: readonly string[]): Promise<KeyManager> => {
      const manager = await KeyManager.open({ store: await FileKeyStore.open(dir), now: () => now });
      if (shares !== undefined) await manager.unseal(new ShamirSealProvider(), shares);
      return manager;
    };
    try {
      const first = await open();
      const { shares } = await first.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
      await first.createKey({ name: 'kek', purpose: 'kek' });
      await first.createKey({ name: 'data', purpose: 'data', parent: 'kek' });
      expect(first.getKey('data').rotationPeriod).toBeNull();
      const set = await first.setRotationPeriod('data', '30d');
      expect(set.rotationPeriod).toBe('30d');
      expect(set.activeVersion).toBe(1);
      expect((await first.setRotationPeriod('kek', '52w')).rotationPeriod).toBe('52w');
      // Malformed or out of range (under 1 hour, over 10 years): refused, nothing changed.
      for (const bad of ['30 days', '30', 'd', '0d', '59m', '3651d', '', 30 as never, undefined as never]) {
        await rejectsWith(first.setRotationPeriod('data', bad), 'FX_INVALID_ARGUMENT');
      }
      await rejectsWith(first.setRotationPeriod('nope', '30d'), 'FX_KEY_NOT_FOUND');
      expect(first.getKey('data').rotationPeriod).toBe('30d');
      await first.close();

      // Persisted: a restart reads the schedules back.
      const second = await open(shares);
      expect(second.getKey('data').rotationPeriod).toBe('30d');
      expect(second.getKey('kek').rotationPeriod).toBe('52w');
      now = new Date('2026-01-30T23:59:59Z');
      expect(await second.rotateDue()).toEqual([]);
      now = new Date('2026-01-31T00:00:00Z');
      expect((await second.rotateDue()).map((k) => [k.name, k.activeVersion])).toEqual([['data', 2]]);
      // A shorter period counts from the last rotation: due as soon as it has elapsed.
      await second.setRotationPeriod('data', '1h');
      now = new Date('2026-01-31T01:00:00Z');
      expect((await second.rotateDue()).map((k) => k.name)).toEqual(['data']);
      // Cleared: never due again, however long it waits (the KEK keeps its own schedule).
      const cleared = await second.setRotationPeriod('data', null);
      expect(cleared.rotationPeriod).toBeNull();
      expect(cleared.activeVersion).toBe(3);
      now = new Date('2026-06-01T00:00:00Z');
      expect(await second.rotateDue()).toEqual([]);
      second.seal();
      await rejectsWith(second.setRotationPeriod('data', '7d'), 'FX_SEALED');
      await second.close();

      const third = await open(shares);
      expect(third.getKey('data').rotationPeriod).toBeNull();
      expect(third.getKey('data').activeVersion).toBe(3);
      expect(third.getKey('kek').rotationPeriod).toBe('52w');
      await third.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('leases usage ahead so a restarted process never reuses counter values', async () => {
    await keys.createKey({ name: 'gcm', purpose: 'data', parent: 'kek/acme/main', algorithm: 'aes-256-gcm' });
    await keys.encrypt('gcm', utf8('x'));
    const stored = (await store.getVersion(keys.getKey('gcm').id, 1))!;
    expect(stored.encryptions).toBeGreaterThanOrEqual(1 << 20);
  });
});

describe('rekey and root-key rotation', () => {
  it('rekey moves to new shares (and to a passphrase) without touching data', async () => {
    const { keys, shares } = await unsealedWithKeys();
    const envelope = await keys.encrypt('acme/main/people/ssn', utf8('kept'), ctx);
    await rejectsWith(
      keys.rekey(
        { provider: new ShamirSealProvider(), inputs: shares.slice(0, 2) },
        new ShamirSealProvider({ shares: 3, threshold: 2 }),
      ),
      'FX_UNSEAL_FAILED',
    );
    const { shares: next } = await keys.rekey(
      { provider: new ShamirSealProvider(), inputs: shares.slice(0, 3) },
      new ShamirSealProvider({ shares: 3, threshold: 2 }),
    );
    expect(next).toHaveLength(3);
    keys.seal();
    await rejectsWith(keys.unseal(new ShamirSealProvider(), shares.slice(0, 3)), 'FX_UNSEAL_FAILED');
    await keys.unseal(new ShamirSealProvider(), next!.slice(1));
    expect(text(await keys.decrypt(envelope, ctx))).toBe('kept');

    await keys.rekey(
      { provider: new ShamirSealProvider(), inputs: next!.slice(0, 2) },
      new PassphraseSealProvider({ passphrase: 'a brand new passphrase', kdf: FAST_KDF }),
    );
    keys.seal();
    await keys.unseal(new PassphraseSealProvider({ passphrase: 'irrelevant here' }), [
      'a brand new passphrase',
    ]);
    expect(text(await keys.decrypt(envelope, ctx))).toBe('kept');
  });

  it('root-key rotation rewraps the key-encryption keys; data and data keys are untouched', async () => {
    const store = new MemoryKeyStore();
    const { keys, shares } = await unsealedWithKeys(store);
    const envelope = await keys.encrypt('acme/main/people/ssn', utf8('survives'), ctx);
    const dataKeyId = keys.getKey('acme/main/people/ssn').id;
    const dataBefore = (await store.getVersion(dataKeyId, 1))!.wrapped;
    const kekId = keys.getKey('kek/acme/main').id;
    const kekBefore = (await store.getVersion(kekId, 1))!.wrapped!;
    const { rootVersion, shares: next } = await keys.rotateRootKey({
      provider: new ShamirSealProvider(),
      inputs: shares.slice(2),
    });
    expect(rootVersion).toBe(2);
    const kekAfter = (await store.getVersion(kekId, 1))!.wrapped!;
    expect(readEnvelopeHeader(kekBefore).keyVersion).toBe(1);
    expect(readEnvelopeHeader(kekAfter).keyVersion).toBe(2);
    expect((await store.getVersion(dataKeyId, 1))!.wrapped).toEqual(dataBefore);
    keys.seal();
    await rejectsWith(keys.unseal(new ShamirSealProvider(), shares.slice(0, 3)), 'FX_UNSEAL_FAILED');
    await keys.unseal(new ShamirSealProvider(), next!.slice(0, 3));
    expect(text(await keys.decrypt(envelope, ctx))).toBe('survives');
  });
});

describe('key record tags', () => {
  it('a key record changed in the store is refused at the next load, whatever field changed', async () => {
    for (const change of [
      (r: KeyRecord): KeyRecord => ({ ...r, minDecryptionVersion: 1 }),
      (r: KeyRecord): KeyRecord => ({ ...r, activeVersion: 1 }),
      (r: KeyRecord): KeyRecord => ({ ...r, algorithm: 'aes-256-gcm' }),
      (r: KeyRecord): KeyRecord => ({ ...r, name: 'acme/main/people/other' }),
      (r: KeyRecord): KeyRecord => withoutTagField({ ...r, rotationPeriodMs: null }),
    ]) {
      const store = new MemoryKeyStore();
      const { keys, shares } = await unsealedWithKeys(store);
      await keys.rotate('acme/main/people/ssn');
      await keys.setMinDecryptionVersion('acme/main/people/ssn', 2);
      await keys.setRotationPeriod('acme/main/people/ssn', '30d');
      const record = (await store.getKey(keys.getKey('acme/main/people/ssn').id))!;
      expect(record.tag).toMatch(/^r1\./);
      const changed = change(record);
      await store.putKey(changed);
      keys.seal();
      const refused = await rejectsWith(
        keys.unseal(new ShamirSealProvider(), shares.slice(0, 3)),
        'FX_KEYSTORE_CORRUPT',
      );
      expect(refused.message).toContain(`key record ${record.id}`);
      expect(keys.state).toBe('sealed');
      // Put back as it was, the keyring opens again.
      await store.putKey(record);
      await keys.unseal(new ShamirSealProvider(), shares.slice(0, 3));
      expect(keys.getKey('acme/main/people/ssn').minDecryptionVersion).toBe(2);
    }
  });

  it('records written before tags are tagged once, at the first load; after that an untagged record is refused', async () => {
    const store = new MemoryKeyStore();
    const { keys, shares } = await unsealedWithKeys(store);
    const envelope = await keys.encrypt('acme/main/people/ssn', utf8('old'), ctx);
    // The store as an older version left it: no tags, no marker.
    for (const record of await store.listKeys()) await store.putKey(withoutTagField(record));
    await store.deleteMeta('record-tags');
    keys.seal();
    const reopened = await KeyManager.open({ store });
    await reopened.unseal(new ShamirSealProvider(), shares.slice(0, 3));
    expect(text(await reopened.decrypt(envelope, ctx))).toBe('old');
    for (const record of await store.listKeys()) expect(record.tag).toMatch(/^r1\./);
    expect(await store.getMeta('record-tags')).toBeDefined();
    // KeyInfo never shows the tag.
    expect(reopened.listKeys().every((k) => !('tag' in k))).toBe(true);
    const first = (await store.listKeys())[0]!;
    await store.putKey(withoutTagField(first));
    reopened.seal();
    await rejectsWith(reopened.unseal(new ShamirSealProvider(), shares.slice(0, 3)), 'FX_KEYSTORE_CORRUPT');
  });

  it('version records (untagged): wrapped bytes moved to another version do not unwrap; a state change decides nothing', async () => {
    const store = new MemoryKeyStore();
    const { keys, shares } = await unsealedWithKeys(store);
    const name = 'acme/main/people/ssn';
    const underV1 = await keys.encrypt(name, utf8('one'), ctx);
    await keys.rotate(name);
    const underV2 = await keys.encrypt(name, utf8('two'), ctx);
    await keys.setMinDecryptionVersion(name, 2);
    const id = keys.getKey(name).id;
    const v1 = (await store.getVersion(id, 1))!;
    const v2 = (await store.getVersion(id, 2))!;
    // Version 1's bytes put in version 2's place: the envelope is bound to (key id, version).
    await store.putVersion({ ...v2, wrapped: v1.wrapped });
    keys.seal();
    await keys.unseal(new ShamirSealProvider(), shares.slice(0, 3));
    const refused = await rejectsWith(keys.decrypt(underV2, ctx), 'FX_KEYSTORE_CORRUPT');
    expect(refused.message).toContain('does not unwrap');
    await store.putVersion(v2);
    // Version 1 marked active again in the store: still retired (the tagged record decides),
    // and encryption still uses version 2.
    await store.putVersion({ ...v1, state: 'active' });
    keys.seal();
    await keys.unseal(new ShamirSealProvider(), shares.slice(0, 3));
    await rejectsWith(keys.decrypt(underV1, ctx), 'FX_KEY_VERSION_RETIRED');
    expect(readEnvelopeHeader(await keys.encrypt(name, utf8('three'), ctx)).keyVersion).toBe(2);
    expect(text(await keys.decrypt(underV2, ctx))).toBe('two');
  });

  it('root-key rotation tags every record under the new root; backups carry no tags', async () => {
    const store = new MemoryKeyStore();
    const { keys, shares } = await unsealedWithKeys(store);
    const { shares: next } = await keys.rotateRootKey({
      provider: new ShamirSealProvider(),
      inputs: shares.slice(0, 3),
    });
    for (const record of await store.listKeys()) expect(record.tag).toMatch(/^r2\./);
    keys.seal();
    await keys.unseal(new ShamirSealProvider(), next!.slice(0, 3));
    const recipient = generateRecipientKeys();
    const { backup, signers } = await keys.exportKeys({ recipient: recipient.publicKey });
    expect(Buffer.from(backup).includes(Buffer.from('"tag"'))).toBe(false);
    const fresh = await KeyManager.open({ store: new MemoryKeyStore() });
    await fresh.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
    await fresh.importKeys(backup, { recipientSecretKey: recipient.secretKey, trusted: signers });
    expect(fresh.listKeys().map((k) => k.name)).toEqual(keys.listKeys().map((k) => k.name));
  });
});

describe('scale and concurrency', () => {
  it('a key with 10,000 versions still rotates and decrypts fast', async () => {
    const { keys } = await unsealedWithKeys();
    const name = 'acme/main/people/ssn';
    const first = await keys.encrypt(name, utf8('v1'), ctx);
    for (let i = 0; i < 9_999; i++) await keys.rotate(name);
    expect(keys.getKey(name).activeVersion).toBe(10_000);
    const start = performance.now();
    await keys.rotate(name);
    const rotateMs = performance.now() - start;
    expect(rotateMs).toBeLessThan(50);
    expect(text(await keys.decrypt(first, ctx))).toBe('v1');
    expect(keys.cachedKeyCount).toBeLessThanOrEqual(1024);
  }, 120_000);

  it('many encrypt/decrypt calls while the key rotates and the seal closes: each succeeds or fails typed', async () => {
    const { keys } = await unsealedWithKeys();
    const name = 'acme/main/people/ssn';
    const seed = await Promise.all(
      Array.from({ length: 50 }, (_, i) => keys.encrypt(name, utf8(`seed ${i}`), ctx)),
    );
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 600; i++) {
      calls.push(
        keys.encrypt(name, utf8(`value ${i}`), ctx).then((envelope) => {
          const version = readEnvelopeHeader(envelope).keyVersion;
          expect(version).toBeGreaterThanOrEqual(1);
          return envelope;
        }),
      );
      calls.push(
        keys.decrypt(seed[i % seed.length]!, ctx).then((plain) => {
          expect(text(plain)).toBe(`seed ${i % seed.length}`);
        }),
      );
      if (i % 50 === 0) calls.push(keys.rotate(name));
      if (i === 450)
        calls.push(
          Promise.resolve().then(() => {
            keys.seal();
          }),
        );
    }
    const outcomes = await Promise.allSettled(calls);
    let ok = 0;
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') {
        ok++;
        continue;
      }
      expect(outcome.reason).toBeInstanceOf(FortressError);
      expect(['FX_SEALED']).toContain((outcome.reason as FortressError).code);
    }
    expect(ok).toBeGreaterThan(0);
    expect(keys.state).toBe('sealed');
    expect(keys.cachedKeyCount).toBe(0);
  });
});

describe('key backup export and import', () => {
  it('restores every key on a fresh Fortress, which then reads the old data', async () => {
    const { keys } = await unsealedWithKeys();
    const name = 'acme/main/people/ssn';
    const v1 = await keys.encrypt(name, utf8('before rotation'), ctx);
    await keys.rotate(name);
    const v2 = await keys.encrypt(name, utf8('after rotation'), ctx);
    await keys.createKey({ name: 'kek/gone', purpose: 'kek' });
    await keys.createKey({ name: 'gone/col', purpose: 'data', parent: 'kek/gone' });
    await keys.destroyKey('kek/gone');
    const recipient = generateRecipientKeys();
    const exported = await keys.exportKeys({ recipient: recipient.publicKey, label: 'nightly' });
    expect(exported.keys).toBe(7);

    const fresh = await KeyManager.open({ store: new MemoryKeyStore() });
    await fresh.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
    const restored = await fresh.importKeys(exported.backup, {
      recipientSecretKey: recipient.secretKey,
      trusted: exported.signers,
    });
    expect(restored.label).toBe('nightly');
    expect(text(await fresh.decrypt(v1, ctx))).toBe('before rotation');
    expect(text(await fresh.decrypt(v2, ctx))).toBe('after rotation');
    expect(fresh.getKey(name).activeVersion).toBe(2);
    expect(await fresh.versionState('gone/col', 1)).toBe('destroyed');
    expect(readEnvelopeHeader(await fresh.encrypt(name, utf8('new'), ctx)).keyVersion).toBe(2);
    await rejectsWith(
      fresh.importKeys(exported.backup, {
        recipientSecretKey: recipient.secretKey,
        trusted: exported.signers,
      }),
      'FX_KEY_STATE',
    );
  });

  it('refuses tampered, foreign and untrusted backups without importing anything', async () => {
    const { keys } = await unsealedWithKeys();
    const recipient = generateRecipientKeys();
    const other = generateRecipientKeys();
    const { backup, signers } = await keys.exportKeys({ recipient: recipient.publicKey });
    const target = await KeyManager.open({ store: new MemoryKeyStore() });
    await target.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
    const tampered = new Uint8Array(backup);
    tampered[tampered.length >> 1]! ^= 1;
    await rejectsWith(
      target.importKeys(tampered, { recipientSecretKey: recipient.secretKey, trusted: signers }),
      'FX_BACKUP_INVALID',
    );
    await rejectsWith(
      target.importKeys(backup, { recipientSecretKey: other.secretKey, trusted: signers }),
      'FX_BACKUP_INVALID',
    );
    const impostor = await unsealedWithKeys();
    const impostorSigners = await impostor.keys.backupSigningKeys();
    await rejectsWith(
      target.importKeys(backup, { recipientSecretKey: recipient.secretKey, trusted: impostorSigners }),
      'FX_BACKUP_INVALID',
    );
    expect(target.listKeys()).toHaveLength(0);
  });
});

describe('synchronous resolver', () => {
  it('answers from the cache, misses cleanly, and enforces seal and retirement', async () => {
    const { keys } = await unsealedWithKeys();
    const name = 'acme/main/people/ssn';
    const envelope = await keys.encrypt(name, utf8('hot'), ctx);
    const resolve = keys.resolver();
    const header = readEnvelopeHeader(envelope);
    const hit = resolve(header.keyId, header.keyVersion, header.algorithm);
    expect(hit?.version).toBe(1);
    expect(resolve(999, 1, header.algorithm)).toBeUndefined();
    await keys.rotate(name);
    await keys.setMinDecryptionVersion(name, 2);
    expect(() => resolve(header.keyId, 1, header.algorithm)).toThrow(/minimum decryption version/);
    keys.seal();
    expect(() => resolve(header.keyId, 2, header.algorithm)).toThrow(/sealed/);
  });
});
