/**
 * @module keys/store/memory-key-store
 * A KeyStore in process memory: for tests and ephemeral instances. Records are copied in and out,
 * so callers can never mutate what is stored.
 */
import { wipe } from '../../crypto/memory/secret-key.js';
import { FortressError } from '../../util/errors.js';
import type { KeyRecord, KeyStore, KeyVersionRecord } from './key-store.js';
import { checkKeyRecord, checkMetaName, checkPage, checkVersionRecord } from './records.js';

/** Runs `fn`, turning a synchronous throw into a rejected promise (the KeyStore contract). */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

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
    return settle(() => {
      this.#open();
      const value = this.#meta.get(checkMetaName(name));
      return value === undefined ? undefined : new Uint8Array(value);
    });
  }

  putMeta(name: string, value: Uint8Array): Promise<void> {
    return settle(() => {
      this.#open();
      this.#meta.set(checkMetaName(name), new Uint8Array(value));
    });
  }

  deleteMeta(name: string): Promise<void> {
    return settle(() => {
      this.#open();
      const old = this.#meta.get(checkMetaName(name));
      if (old !== undefined) wipe(old);
      this.#meta.delete(name);
    });
  }

  listKeys(): Promise<KeyRecord[]> {
    return settle(() => {
      this.#open();
      return [...this.#keys.values()].sort((a, b) => a.id - b.id);
    });
  }

  getKey(id: number): Promise<KeyRecord | undefined> {
    return settle(() => {
      this.#open();
      return this.#keys.get(id);
    });
  }

  putKey(record: KeyRecord): Promise<void> {
    return settle(() => {
      this.#open();
      const checked = checkKeyRecord(record);
      for (const other of this.#keys.values()) {
        if (other.name === checked.name && other.id !== checked.id) {
          throw new FortressError('FX_KEYSTORE_CORRUPT', `another key is already named ${checked.name}`);
        }
      }
      this.#keys.set(checked.id, checked);
    });
  }

  getVersion(keyId: number, version: number): Promise<KeyVersionRecord | undefined> {
    return settle(() => {
      this.#open();
      const record = this.#versions.get(keyId)?.get(version);
      return record === undefined ? undefined : checkVersionRecord(record);
    });
  }

  putVersion(record: KeyVersionRecord): Promise<void> {
    return settle(() => {
      this.#open();
      const checked = checkVersionRecord(record);
      let versions = this.#versions.get(checked.keyId);
      if (versions === undefined) {
        versions = new Map<number, KeyVersionRecord>();
        this.#versions.set(checked.keyId, versions);
      }
      versions.set(checked.version, checked);
    });
  }

  listVersions(
    keyId: number,
    page: { fromVersion?: number; limit?: number } = {},
  ): Promise<KeyVersionRecord[]> {
    return settle(() => {
      this.#open();
      const { from, limit } = checkPage(page);
      const all = [...(this.#versions.get(keyId)?.values() ?? [])]
        .filter((r) => r.version >= from)
        .sort((a, b) => a.version - b.version)
        .slice(0, limit);
      return all.map((r) => checkVersionRecord(r));
    });
  }

  shredVersion(keyId: number, version: number): Promise<void> {
    return settle(() => {
      this.#open();
      const versions = this.#versions.get(keyId);
      const record = versions?.get(version);
      if (versions === undefined || record === undefined) {
        throw new FortressError('FX_KEY_NOT_FOUND', `no version ${version} of key ${keyId}`);
      }
      if (record.wrapped !== null) wipe(record.wrapped);
      versions.set(version, Object.freeze({ ...record, state: 'destroyed', wrapped: null }));
    });
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
