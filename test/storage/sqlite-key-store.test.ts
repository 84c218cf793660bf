/**
 * The keys layer's KeyStore on a SQLite database (keys and data in one file): the KeyStore
 * conformance suite through the validating boundary, a KeyManager end to end on it, and shredding
 * that leaves no wrapped bytes anywhere in the database files.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { EncryptionContext } from '../../src/crypto/envelope/encryption-context.js';
import { KeyManager } from '../../src/keys/key-manager.js';
import { ShamirSealProvider } from '../../src/keys/seal/shamir-seal.js';
import { ValidatingKeyStore } from '../../src/keys/store/validating-key-store.js';
import { StorageKeyStore } from '../../src/storage/key-store/storage-key-store.js';
import { SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { runKeyStoreConformance } from '../keys/key-store.case.js';

runKeyStoreConformance('StorageKeyStore on SQLite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sqlite-keys-'));
  const db = await new SqliteDialect({
    path: path.join(dir, 'fortress.db'),
    synchronous: 'normal',
  }).createDriver();
  return {
    store: new ValidatingKeyStore(await StorageKeyStore.open(db)),
    cleanup: async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

it('a KeyManager on SQLite: restart, unseal, decrypt; shredded bytes leave the database files', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-sqlite-km-'));
  const file = path.join(dir, 'fortress.db');
  try {
    const db = await new SqliteDialect({ path: file }).createDriver();
    const keys = await KeyManager.open({ store: await StorageKeyStore.open(db) });
    const { shares } = await keys.init(new ShamirSealProvider({ shares: 3, threshold: 2 }));
    await keys.createKey({ name: 'kek/t', purpose: 'kek' });
    await keys.createKey({ name: 't/c', purpose: 'data', parent: 'kek/t' });
    const ctx = EncryptionContext.of({ table: 't', column: 'c', row: '1' });
    const envelope = await keys.encrypt('t/c', new TextEncoder().encode('in one file'), ctx);
    await keys.rotate('t/c');
    const id = keys.getKey('t/c').id;
    keys.seal();
    await db.close();

    const again = await new SqliteDialect({ path: file, mustExist: true }).createDriver();
    const reopened = await KeyManager.open({ store: await StorageKeyStore.open(again) });
    expect(reopened.state).toBe('sealed');
    await reopened.unseal(new ShamirSealProvider(), shares!.slice(1));
    expect(new TextDecoder().decode(await reopened.decrypt(envelope, ctx))).toBe('in one file');
    const wrapped = (await again.get<{ wrapped: Uint8Array }>(
      'SELECT wrapped FROM fx_key_versions WHERE key_id = ? AND version = 1',
      [id],
    ))!.wrapped;
    const needle = Buffer.from(wrapped);
    await reopened.destroyVersion('t/c', 1);
    await again.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    await again.close();
    for (const name of await readdir(dir)) {
      const bytes = await readFile(path.join(dir, name));
      expect(bytes.includes(needle), `${name} still holds the shredded version`).toBe(false);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
