/**
 * @module keys/store/file-key-store
 * A KeyStore in a directory, one small file per record, so a key with 10,000 versions loads and
 * rotates as fast as a key with one (versions are read only when needed):
 *
 *   <dir>/meta/<name>                 metadata blobs (the seal configuration)
 *   <dir>/keys/<id>.json              key records
 *   <dir>/versions/<id>/<version>.json version records (wrapped key bytes in base64)
 *
 * Every write goes to a temporary file that is fsynced and renamed over the target, then the
 * directory is fsynced: a crash leaves the old record or the new one, never a torn one.
 * Shredding overwrites the old file's bytes with zeros and fsyncs before replacing it.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from '../../crypto/random.js';
import { assertString } from '../../util/bytes.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import type { KeyRecord, KeyStore, KeyVersionRecord } from './key-store.js';
import { checkKeyRecord, checkMetaName, checkPage, checkVersionRecord } from './records.js';

interface StoredVersion extends Omit<KeyVersionRecord, 'wrapped'> {
  readonly wrapped: string | null;
}

function isMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${Buffer.from(randomBytes(6)).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  await fsyncDir(dir);
}

async function readOptional(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (cause) {
    throw new FortressError('FX_KEYSTORE_CORRUPT', `${what} is not valid JSON`, { cause });
  }
}

/**
 * @example
 * ```ts
 * const store = await FileKeyStore.open('./data/keys');
 * ```
 */
export class FileKeyStore implements KeyStore {
  readonly description: string;
  readonly #dir: string;
  #closed = false;
  // putKey checks name uniqueness then writes: serialise those pairs within this process.
  #keyWrites: Promise<unknown> = Promise.resolve();

  private constructor(dir: string) {
    this.#dir = dir;
    this.description = `file:${dir}`;
  }

  /** Opens (creating if needed, mode 0700) the store directory. */
  static async open(dir: string): Promise<FileKeyStore> {
    assertString(dir, 'dir');
    if (dir.length === 0) throw new InvalidArgumentError('dir', 'must not be empty');
    const root = path.resolve(dir);
    for (const sub of ['', 'meta', 'keys', 'versions'])
      await mkdir(path.join(root, sub), { recursive: true, mode: 0o700 });
    return new FileKeyStore(root);
  }

  #check(): void {
    if (this.#closed) throw new FortressError('FX_INVALID_ARGUMENT', 'the key store is closed');
  }

  #keyFile(id: number): string {
    return path.join(this.#dir, 'keys', `${id}.json`);
  }

  #versionFile(keyId: number, version: number): string {
    return path.join(this.#dir, 'versions', String(keyId), `${version}.json`);
  }

  async getMeta(name: string): Promise<Uint8Array | undefined> {
    this.#check();
    const bytes = await readOptional(path.join(this.#dir, 'meta', checkMetaName(name)));
    return bytes === undefined ? undefined : new Uint8Array(bytes);
  }

  async putMeta(name: string, value: Uint8Array): Promise<void> {
    this.#check();
    await writeAtomic(path.join(this.#dir, 'meta', checkMetaName(name)), value);
  }

  async deleteMeta(name: string): Promise<void> {
    this.#check();
    await rm(path.join(this.#dir, 'meta', checkMetaName(name)), { force: true });
  }

  async listKeys(): Promise<KeyRecord[]> {
    this.#check();
    const files = (await readdir(path.join(this.#dir, 'keys'))).filter((f) => /^\d+\.json$/.test(f));
    const records = await Promise.all(
      files.map(async (f) =>
        checkKeyRecord(parseJson(await readFile(path.join(this.#dir, 'keys', f)), `key file ${f}`)),
      ),
    );
    return records.sort((a, b) => a.id - b.id);
  }

  async getKey(id: number): Promise<KeyRecord | undefined> {
    this.#check();
    const bytes = await readOptional(this.#keyFile(id));
    if (bytes === undefined) return undefined;
    const record = checkKeyRecord(parseJson(bytes, `key file ${id}.json`));
    if (record.id !== id)
      throw new FortressError('FX_KEYSTORE_CORRUPT', `key file ${id}.json holds key ${record.id}`);
    return record;
  }

  putKey(record: KeyRecord): Promise<void> {
    const write = this.#keyWrites.then(() => this.#putKeyNow(record));
    this.#keyWrites = write.catch(() => undefined);
    return write;
  }

  async #putKeyNow(record: KeyRecord): Promise<void> {
    this.#check();
    const checked = checkKeyRecord(record);
    // Names are unique; scanning is fine at key-count scale (versions are the large dimension).
    for (const other of await this.listKeys()) {
      if (other.name === checked.name && other.id !== checked.id) {
        throw new FortressError('FX_KEYSTORE_CORRUPT', `another key is already named ${checked.name}`);
      }
    }
    await writeAtomic(this.#keyFile(checked.id), JSON.stringify(checked));
  }

  async getVersion(keyId: number, version: number): Promise<KeyVersionRecord | undefined> {
    this.#check();
    const bytes = await readOptional(this.#versionFile(keyId, version));
    if (bytes === undefined) return undefined;
    return this.#decodeVersion(bytes, keyId, version);
  }

  #decodeVersion(bytes: Buffer, keyId: number, version: number): KeyVersionRecord {
    const stored = parseJson(bytes, `version file ${keyId}/${version}.json`) as StoredVersion;
    if (typeof stored !== 'object' || (stored as unknown) === null) {
      throw new FortressError('FX_KEYSTORE_CORRUPT', `version file ${keyId}/${version}.json is malformed`);
    }
    const wrapped =
      typeof stored.wrapped === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(stored.wrapped)
        ? new Uint8Array(Buffer.from(stored.wrapped, 'base64'))
        : stored.wrapped;
    const record = checkVersionRecord({ ...stored, wrapped });
    if (record.keyId !== keyId || record.version !== version) {
      throw new FortressError(
        'FX_KEYSTORE_CORRUPT',
        `version file ${keyId}/${version}.json holds another version`,
      );
    }
    return record;
  }

  async putVersion(record: KeyVersionRecord): Promise<void> {
    this.#check();
    const checked = checkVersionRecord(record);
    const stored: StoredVersion = {
      ...checked,
      wrapped: checked.wrapped === null ? null : Buffer.from(checked.wrapped).toString('base64'),
    };
    const dir = path.join(this.#dir, 'versions', String(checked.keyId));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(this.#versionFile(checked.keyId, checked.version), JSON.stringify(stored));
  }

  async listVersions(
    keyId: number,
    page: { fromVersion?: number; limit?: number } = {},
  ): Promise<KeyVersionRecord[]> {
    this.#check();
    const { from, limit } = checkPage(page);
    let files: string[];
    try {
      files = await readdir(path.join(this.#dir, 'versions', String(keyId)));
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    const versions = files
      .map((f) => /^(\d+)\.json$/.exec(f)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number)
      .filter((v) => v >= from)
      .sort((a, b) => a - b)
      .slice(0, limit);
    return Promise.all(
      versions.map(async (v) => this.#decodeVersion(await readFile(this.#versionFile(keyId, v)), keyId, v)),
    );
  }

  async shredVersion(keyId: number, version: number): Promise<void> {
    this.#check();
    const file = this.#versionFile(keyId, version);
    const record = await this.getVersion(keyId, version);
    if (record === undefined)
      throw new FortressError('FX_KEY_NOT_FOUND', `no version ${version} of key ${keyId}`);
    // Overwrite the old bytes in place first, so they are gone from this file's blocks even before
    // the tombstone replaces it. (A journaling or copy-on-write file system or an SSD may keep older
    // copies elsewhere; docs/security.md says what crypto-shredding does and does not promise.)
    const handle = await open(file, 'r+');
    try {
      const { size } = await handle.stat();
      await handle.write(Buffer.alloc(size, 0), 0, size, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.putVersion({ ...record, state: 'destroyed', wrapped: null });
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
