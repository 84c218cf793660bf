/**
 * @module keys/store/validating-key-store
 * The trust boundary for key stores that the keys layer did not write itself (a database table, a
 * future remote store): every record going in or coming out is validated and copied here, so a
 * malformed row surfaces as `FX_KEYSTORE_CORRUPT` instead of a confusing failure later. Stores in
 * other layers (storage/) can then implement `KeyStore` with type-only imports.
 */
import type { KeyRecord, KeyStore, KeyVersionRecord } from './key-store.js';
import { checkKeyRecord, checkMetaName, checkPage, checkVersionRecord } from './records.js';

export class ValidatingKeyStore implements KeyStore {
  readonly description: string;
  readonly #inner: KeyStore;

  constructor(inner: KeyStore) {
    this.#inner = inner;
    this.description = inner.description;
  }

  async getMeta(name: string): Promise<Uint8Array | undefined> {
    return this.#inner.getMeta(checkMetaName(name));
  }

  async putMeta(name: string, value: Uint8Array): Promise<void> {
    await this.#inner.putMeta(checkMetaName(name), value);
  }

  async createMeta(name: string, value: Uint8Array): Promise<boolean> {
    checkMetaName(name);
    if (this.#inner.createMeta !== undefined) return this.#inner.createMeta(name, value);
    if ((await this.#inner.getMeta(name)) !== undefined) return false;
    await this.#inner.putMeta(name, value);
    return true;
  }

  async deleteMeta(name: string): Promise<void> {
    await this.#inner.deleteMeta(checkMetaName(name));
  }

  async listKeys(): Promise<KeyRecord[]> {
    return (await this.#inner.listKeys()).map((r) => checkKeyRecord(r)).sort((a, b) => a.id - b.id);
  }

  async getKey(id: number): Promise<KeyRecord | undefined> {
    const record = await this.#inner.getKey(id);
    return record === undefined ? undefined : checkKeyRecord(record);
  }

  async putKey(record: KeyRecord): Promise<void> {
    await this.#inner.putKey(checkKeyRecord(record));
  }

  async getVersion(keyId: number, version: number): Promise<KeyVersionRecord | undefined> {
    const record = await this.#inner.getVersion(keyId, version);
    return record === undefined ? undefined : checkVersionRecord(record);
  }

  async putVersion(record: KeyVersionRecord): Promise<void> {
    await this.#inner.putVersion(checkVersionRecord(record));
  }

  async listVersions(
    keyId: number,
    page?: { fromVersion?: number; limit?: number },
  ): Promise<KeyVersionRecord[]> {
    checkPage(page);
    return (await this.#inner.listVersions(keyId, page)).map((r) => checkVersionRecord(r));
  }

  async shredVersion(keyId: number, version: number): Promise<void> {
    await this.#inner.shredVersion(keyId, version);
  }

  async close(): Promise<void> {
    await this.#inner.close();
  }
}
