/**
 * @module keys/store/memory-key-store
 * A KeyStore in process memory: for tests and ephemeral instances. Records are copied in and out,
 * so callers can never mutate what is stored.
 */
import { wipe } from '../../crypto/memory/secret-key.js';
import { FortressError } from '../../util/errors.js';
import type { KeyRecord, KeyStore, KeyVersionRecord } from './key-store.js';
import { checkKeyRecord, checkMetaName, checkVersionRecord } from './records.js';

export class MemoryKeyStore implements KeyStore {
  readonly description = 'memory';
  readonly #meta = new Map<string, Uint8Array>();
  readonly #keys = new Map<number, KeyRecord>();
  readonly #versions = new Map<number, Map<number, KeyVersionRecord>>();
  #closed = false;

  #open(): void {
    if (this.#closed) throw new FortressError('FX_INVALID_ARGUMENT', 'the key store is closed');
  }

  getMeta(name: string): Promise<Uint8Array | undefined> {
    this.#open();
    const value = this.#meta.get(checkMetaName(name));
    return Promise.resolve(value === undefined ? undefined : new Uint8Array(value));
  }

  putMeta(name: string, value: Uint8Array): Promise<void> {
    this.#open();
    this.#meta.set(checkMetaName(name), new Uint8Array(value));
    return Promise.resolve();
  }

  deleteMeta(name: string): Promise<void> {
    this.#open();
    const old = this.#meta.get(checkMetaName(name));
    if (old !== undefined) wipe(old);
    this.#meta.delete(name);
    return Promise.resolve();
  }

  listKeys(): Promise<KeyRecord[]> {
    this.#open();
    return Promise.resolve([...this.#keys.values()].sort((a, b) => a.id - b.id));
  }

  getKey(id: number): Promise<KeyRecord | undefined> {
    this.#open();
    return Promise.resolve(this.#keys.get(id));
  }

  putKey(record: KeyRecord): Promise<void> {
    this.#open();
    const checked = checkKeyRecord(record);
    for (const other of this.#keys.values()) {
      if (other.name === checked.name && other.id !== checked.id) {
        return Promise.reject(
          new FortressError('FX_KEYSTORE_CORRUPT', `another key is already named ${checked.name}`),
        );
      }
    }
    this.#keys.set(checked.id, checked);
    return Promise.resolve();
  }

  getVersion(keyId: number, version: number): Promise<KeyVersionRecord | undefined> {
    this.#open();
    const record = this.#versions.get(keyId)?.get(version);
    return Promise.resolve(record === undefined ? undefined : checkVersionRecord(record));
  }

  putVersion(record: KeyVersionRecord): Promise<void> {
    this.#open();
    const checked = checkVersionRecord(record);
    let versions = this.#versions.get(checked.keyId);
    if (versions === undefined) {
      versions = new Map<number, KeyVersionRecord>();
      this.#versions.set(checked.keyId, versions);
    }
    versions.set(checked.version, checked);
    return Promise.resolve();
  }

  listVersions(
    keyId: number,
    page: { fromVersion?: number; limit?: number } = {},
  ): Promise<KeyVersionRecord[]> {
    this.#open();
    const from = page.fromVersion ?? 1;
    const limit = page.limit ?? Number.MAX_SAFE_INTEGER;
    const all = [...(this.#versions.get(keyId)?.values() ?? [])]
      .filter((r) => r.version >= from)
      .sort((a, b) => a.version - b.version)
      .slice(0, limit);
    return Promise.resolve(all.map((r) => checkVersionRecord(r)));
  }

  shredVersion(keyId: number, version: number): Promise<void> {
    this.#open();
    const versions = this.#versions.get(keyId);
    const record = versions?.get(version);
    if (versions === undefined || record === undefined) {
      return Promise.reject(new FortressError('FX_KEY_NOT_FOUND', `no version ${version} of key ${keyId}`));
    }
    if (record.wrapped !== null) wipe(record.wrapped);
    versions.set(version, Object.freeze({ ...record, state: 'destroyed', wrapped: null }));
    return Promise.resolve();
  }

  close(): Promise<void> {
    for (const value of this.#meta.values()) wipe(value);
    for (const versions of this.#versions.values()) {
      for (const record of versions.values()) if (record.wrapped !== null) wipe(record.wrapped);
    }
    this.#closed = true;
    return Promise.resolve();
  }
}
