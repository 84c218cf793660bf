/**
 * @module secrets/transit/secrets-transit
 * The transit engine as callers use it (`db.transit`, `db.as(principal).transit`, `/v1/transit`):
 * every operation is decided by policy on the key (`Fortress::TransitKey::"<tenant>/<name>"`, or
 * the tenant for listing and random bytes) and recorded in the audit ledger with its outcome: the
 * key, the number of items and of failed items, the key versions used — never plaintexts,
 * ciphertexts, data keys or exported key bytes.
 *
 * Actions: `transitEncrypt`, `transitDecrypt`, `transitRewrap`, `transitDataKey` (wrapped data
 * keys), `transitPlaintextDataKey` (data keys with their plaintext), `transitHmac` (make and check
 * HMACs), `transitSign`, `transitVerify`, `readTransitKey`, `manageTransitKey` (create, configure,
 * rotate, trim, delete), `exportTransitKey` on the key; `listTransitKeys` and `transitRandom` on
 * the tenant.
 *
 * ```cedar
 * permit (principal == Fortress::ServiceAccount::"acme/billing",
 *         action in [Fortress::Action::"transitEncrypt", Fortress::Action::"transitDecrypt"],
 *         resource == Fortress::TransitKey::"acme/orders");
 * ```
 */
import type { Action } from '../../policy/schema/fortress-schema.js';
import { FortressError } from '../../util/errors.js';
import type { RewrapColumnOptions, RewrapJobProgress, RewrapJobs } from './rewrap-job.js';
import { runAudited, type Facts, type SecretTarget, type SecretsAccess } from '../secrets-access.js';
import {
  MAX_BATCH_ITEMS,
  type CreateTransitKeyOptions,
  type DataKeyOptions,
  type DecryptItem,
  type EncryptItem,
  type ExportType,
  type ExportedKey,
  type GeneratedDataKey,
  type HmacAlgorithm,
  type HmacItem,
  type ItemResult,
  type Opened,
  type RewrapItem,
  type Sealed,
  type SignItem,
  type TransitEngine,
  type TransitKeyChanges,
  type TransitKeyInfo,
  type TransitKeyList,
  type VerifyHmacItem,
  type VerifyItem,
} from './transit-engine.js';

/** What the transit facade needs: the shared secrets access, and the engine. */
export interface TransitAccess extends SecretsAccess {
  engine(): Promise<TransitEngine>;
  jobs(): Promise<RewrapJobs>;
}

function target(name: string): SecretTarget {
  return { type: 'TransitKey', id: name, path: `transit:${name}` };
}

/** Counts of a batch's items and failures, and the versions its results name. */
function batchFacts(results: readonly ItemResult<object>[]): Facts {
  let failed = 0;
  const versions = new Set<number>();
  for (const r of results) {
    if ('error' in r) failed++;
    else if ('keyVersion' in r && typeof r.keyVersion === 'number') versions.add(r.keyVersion);
  }
  return {
    items: results.length,
    failed,
    ...(versions.size === 0 ? {} : { versions: [...versions].sort((a, b) => a - b).join(',') }),
  };
}

/**
 * @example
 * ```ts
 * await db.transit.createKey('orders');
 * const { ciphertext } = await db.transit.encrypt('orders', { plaintext: utf8('4111…') });
 * const billing = db.as('service:billing').transit;      // decided by billing's policies
 * const { plaintext } = await billing.decrypt('orders', { ciphertext });
 * ```
 */
export class SecretsTransit {
  readonly #access: TransitAccess;

  constructor(access: TransitAccess) {
    this.#access = access;
  }

  #run<T>(
    action: Action,
    auditAction: string,
    on: SecretTarget | 'tenant',
    body: (engine: TransitEngine) => Promise<T>,
    facts: (result: T) => Facts = () => ({}),
  ): Promise<T> {
    return runAudited(
      this.#access,
      action,
      auditAction,
      on,
      async () => body(await this.#access.engine()),
      facts,
    );
  }

  /** Creates a key (`manageTransitKey`). */
  createKey(name: string, options: CreateTransitKeyOptions = {}): Promise<TransitKeyInfo> {
    return this.#run(
      'manageTransitKey',
      'transit.createKey',
      target(name),
      (t) => t.createKey(name, options),
      (r) => ({ type: r.type, exportable: r.exportable, derived: r.derived, convergent: r.convergent }),
    );
  }

  /** A key's settings and versions (`readTransitKey`). */
  readKey(name: string): Promise<TransitKeyInfo> {
    return this.#run('readTransitKey', 'transit.readKey', target(name), (t) => t.readKey(name));
  }

  /** A page of key names (`listTransitKeys` on the tenant). */
  listKeys(options: { readonly after?: string; readonly limit?: number } = {}): Promise<TransitKeyList> {
    return this.#run(
      'listTransitKeys',
      'transit.listKeys',
      'tenant',
      (t) => t.listKeys(options),
      (r) => ({ count: r.keys.length }),
    );
  }

  /** Changes a key's settings (`manageTransitKey`). */
  configure(name: string, changes: TransitKeyChanges): Promise<TransitKeyInfo> {
    return this.#run(
      'manageTransitKey',
      'transit.configure',
      target(name),
      (t) => t.configure(name, changes),
      (r) => ({
        minDecryptionVersion: r.minDecryptionVersion,
        minEncryptionVersion: r.minEncryptionVersion,
        exportable: r.exportable,
        deletionAllowed: r.deletionAllowed,
      }),
    );
  }

  /** Rotates a key (`manageTransitKey`). */
  rotate(name: string): Promise<TransitKeyInfo> {
    return this.#run(
      'manageTransitKey',
      'transit.rotate',
      target(name),
      (t) => t.rotate(name),
      (r) => ({ latestVersion: r.latestVersion }),
    );
  }

  /** Destroys versions below `minAvailableVersion` (`manageTransitKey`). */
  trim(name: string, minAvailableVersion: number): Promise<TransitKeyInfo> {
    return this.#run(
      'manageTransitKey',
      'transit.trim',
      target(name),
      (t) => t.trim(name, minAvailableVersion),
      (r) => ({ minAvailableVersion: r.minAvailableVersion }),
    );
  }

  /** Deletes a key that allows deletion (`manageTransitKey`). */
  deleteKey(name: string): Promise<void> {
    return this.#run('manageTransitKey', 'transit.deleteKey', target(name), (t) => t.deleteKey(name));
  }

  /** Exports key versions of an exportable key (`exportTransitKey`). */
  exportKey(name: string, type: ExportType, version?: number | 'latest'): Promise<ExportedKey> {
    return this.#run(
      'exportTransitKey',
      'transit.export',
      target(name),
      (t) => t.exportKey(name, type, version),
      (r) => ({ type: r.type, versions: Object.keys(r.keys).join(',') }),
    );
  }

  /** Encrypts one value (`transitEncrypt`). */
  encrypt(name: string, item: EncryptItem): Promise<Sealed> {
    return this.#run(
      'transitEncrypt',
      'transit.encrypt',
      target(name),
      (t) => t.encrypt(name, item),
      (r) => ({ items: 1, versions: String(r.keyVersion) }),
    );
  }

  /** Encrypts a batch; per-item results (`transitEncrypt`). */
  encryptBatch(name: string, items: readonly EncryptItem[]): Promise<ItemResult<Sealed>[]> {
    return this.#run(
      'transitEncrypt',
      'transit.encrypt',
      target(name),
      (t) => t.encryptBatch(name, items),
      batchFacts,
    );
  }

  /** Decrypts one ciphertext (`transitDecrypt`). */
  decrypt(name: string, item: DecryptItem): Promise<Opened> {
    return this.#run(
      'transitDecrypt',
      'transit.decrypt',
      target(name),
      (t) => t.decrypt(name, item),
      () => ({
        items: 1,
      }),
    );
  }

  /** Decrypts a batch; per-item results (`transitDecrypt`). */
  decryptBatch(name: string, items: readonly DecryptItem[]): Promise<ItemResult<Opened>[]> {
    return this.#run(
      'transitDecrypt',
      'transit.decrypt',
      target(name),
      (t) => t.decryptBatch(name, items),
      batchFacts,
    );
  }

  /** Rewraps one ciphertext to the latest version without revealing it (`transitRewrap`). */
  rewrap(name: string, item: RewrapItem): Promise<Sealed> {
    return this.#run(
      'transitRewrap',
      'transit.rewrap',
      target(name),
      (t) => t.rewrap(name, item),
      (r) => ({ items: 1, versions: String(r.keyVersion) }),
    );
  }

  /** Rewraps a batch; per-item results (`transitRewrap`). */
  rewrapBatch(name: string, items: readonly RewrapItem[]): Promise<ItemResult<Sealed>[]> {
    return this.#run(
      'transitRewrap',
      'transit.rewrap',
      target(name),
      (t) => t.rewrapBatch(name, items),
      batchFacts,
    );
  }

  /**
   * A new data key: `'wrapped'` returns only its ciphertext (`transitDataKey`), `'plaintext'` also
   * the key itself (`transitPlaintextDataKey`).
   */
  dataKey(
    name: string,
    kind: 'plaintext' | 'wrapped',
    options: DataKeyOptions = {},
  ): Promise<GeneratedDataKey> {
    return this.#run(
      kind === 'plaintext' ? 'transitPlaintextDataKey' : 'transitDataKey',
      `transit.dataKey.${kind === 'plaintext' ? 'plaintext' : 'wrapped'}`,
      target(name),
      (t) => t.dataKey(name, kind, options),
      (r) => ({ versions: String(r.keyVersion), bits: options.bits ?? 256 }),
    );
  }

  /** HMACs (`transitHmac`). */
  hmac(
    name: string,
    items: readonly HmacItem[],
    algorithm?: HmacAlgorithm,
  ): Promise<ItemResult<{ readonly hmac: string }>[]> {
    return this.#run(
      'transitHmac',
      'transit.hmac',
      target(name),
      (t) => t.hmacBatch(name, items, algorithm),
      batchFacts,
    );
  }

  /** Checks HMACs (`transitHmac`). */
  verifyHmac(
    name: string,
    items: readonly VerifyHmacItem[],
    algorithm?: HmacAlgorithm,
  ): Promise<ItemResult<{ readonly valid: boolean }>[]> {
    return this.#run(
      'transitHmac',
      'transit.verifyHmac',
      target(name),
      (t) => t.verifyHmacBatch(name, items, algorithm),
      batchFacts,
    );
  }

  /** Signs (`transitSign`). */
  sign(
    name: string,
    items: readonly SignItem[],
  ): Promise<ItemResult<{ readonly signature: string; readonly publicKey: string }>[]> {
    return this.#run(
      'transitSign',
      'transit.sign',
      target(name),
      (t) => t.signBatch(name, items),
      batchFacts,
    );
  }

  /** Verifies signatures (`transitVerify`). */
  verify(name: string, items: readonly VerifyItem[]): Promise<ItemResult<{ readonly valid: boolean }>[]> {
    return this.#run(
      'transitVerify',
      'transit.verify',
      target(name),
      (t) => t.verifyBatch(name, items),
      batchFacts,
    );
  }

  /**
   * Starts the bulk rewrap job over a table column (`manageTransitKey` on the key and `update` on
   * the table): every older-version ciphertext of the key in the column is rewrapped to the newest
   * version, in resumable batches. Returns the job's progress; `rewrapJob(id)` follows it.
   */
  async startRewrap(name: string, options: RewrapColumnOptions): Promise<RewrapJobProgress> {
    const table = (options as Partial<RewrapColumnOptions> | null)?.table;
    if (typeof table === 'string') {
      const tableTarget: SecretTarget = {
        type: 'Table',
        id: `${this.#access.database}/${table}`,
        path: `table:${table}`,
        audit: { type: 'table', tenant: this.#access.tenant, database: this.#access.database, table },
      };
      await this.#access.authorize('update', tableTarget, 'transit.rewrapJob.start');
    }
    return runAudited(
      this.#access,
      'manageTransitKey',
      'transit.rewrapJob.start',
      target(name),
      async () => (await this.#access.jobs()).start(name, options),
      (r) => ({ job: r.id, table: r.table, column: r.column, total: r.total }),
    );
  }

  /** A rewrap job's progress (`readTransitKey` on its key). */
  async rewrapJob(id: string): Promise<RewrapJobProgress> {
    const jobs = await this.#access.jobs();
    const job = await jobs.progress(id);
    return runAudited(this.#access, 'readTransitKey', 'transit.rewrapJob.read', target(job.key), () =>
      jobs.progress(id),
    );
  }

  /** Waits until a rewrap job stops running in this process, then its progress (`readTransitKey`). */
  async waitForRewrap(id: string): Promise<RewrapJobProgress> {
    const jobs = await this.#access.jobs();
    const job = await jobs.progress(id);
    return runAudited(this.#access, 'readTransitKey', 'transit.rewrapJob.read', target(job.key), () =>
      jobs.wait(id),
    );
  }

  /** The newest rewrap jobs (`listTransitKeys` on the tenant). */
  listRewrapJobs(limit?: number): Promise<RewrapJobProgress[]> {
    return this.#run(
      'listTransitKeys',
      'transit.rewrapJob.list',
      'tenant',
      async () => (await this.#access.jobs()).list(limit),
      (r) => ({ count: r.length }),
    );
  }

  /** Pauses a rewrap job after its current batch (`manageTransitKey` on its key). */
  async pauseRewrap(id: string): Promise<RewrapJobProgress> {
    const jobs = await this.#access.jobs();
    const job = await jobs.progress(id);
    return runAudited(this.#access, 'manageTransitKey', 'transit.rewrapJob.pause', target(job.key), () =>
      jobs.pause(id),
    );
  }

  /** Continues a paused or failed rewrap job (`manageTransitKey` on its key). */
  async resumeRewrap(id: string): Promise<RewrapJobProgress> {
    const jobs = await this.#access.jobs();
    const job = await jobs.progress(id);
    return runAudited(this.#access, 'manageTransitKey', 'transit.rewrapJob.resume', target(job.key), () =>
      jobs.resumeJob(id),
    );
  }

  /**
   * Rewraps a stream of ciphertexts (strings, or items with context / associated data) of any
   * length, `batchSize` at a time (`transitRewrap`, one audit entry per batch), yielding one
   * result per input in order, each with its input `index`. Memory stays bounded by the batch;
   * a caller that stops can resume by skipping the inputs it already has results for.
   *
   * @example
   * ```ts
   * for await (const r of db.transit.rewrapStream('orders', readLines('ciphertexts.txt'))) {
   *   if ('error' in r) console.error(r.index, r.error.code); else write(r.index, r.ciphertext);
   * }
   * ```
   */
  async *rewrapStream(
    name: string,
    source: AsyncIterable<string | RewrapItem> | Iterable<string | RewrapItem>,
    options: { readonly batchSize?: number } = {},
  ): AsyncGenerator<ItemResult<Sealed> & { readonly index: number }> {
    const batchSize = options.batchSize ?? 1000;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_ITEMS) {
      throw new FortressError('FX_INVALID_ARGUMENT', `batchSize: expected 1 to ${MAX_BATCH_ITEMS}`);
    }
    let index = 0;
    let batch: RewrapItem[] = [];
    const flush = async function* (
      this: SecretsTransit,
    ): AsyncGenerator<ItemResult<Sealed> & { readonly index: number }> {
      const results = await this.rewrapBatch(name, batch);
      batch = [];
      for (const result of results) yield { ...result, index: index++ };
    };
    for await (const input of source) {
      batch.push(typeof input === 'string' ? { ciphertext: input } : input);
      if (batch.length === batchSize) yield* flush.call(this);
    }
    if (batch.length > 0) yield* flush.call(this);
  }

  /** Random bytes from the system CSPRNG (`transitRandom` on the tenant). */
  random(bytes: number): Promise<Uint8Array> {
    return this.#run(
      'transitRandom',
      'transit.random',
      'tenant',
      (t) => Promise.resolve(t.random(bytes)),
      () => ({ bytes }),
    );
  }
}
