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
import { runAudited, type Facts, type SecretTarget, type SecretsAccess } from '../secrets-access.js';
import type {
  CreateTransitKeyOptions,
  DataKeyOptions,
  DecryptItem,
  EncryptItem,
  ExportType,
  ExportedKey,
  GeneratedDataKey,
  HmacAlgorithm,
  HmacItem,
  ItemResult,
  Opened,
  RewrapItem,
  Sealed,
  SignItem,
  TransitEngine,
  TransitKeyChanges,
  TransitKeyInfo,
  TransitKeyList,
  VerifyHmacItem,
  VerifyItem,
} from './transit-engine.js';

/** What the transit facade needs: the shared secrets access, and the engine. */
export interface TransitAccess extends SecretsAccess {
  engine(): Promise<TransitEngine>;
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
  exportKey(name: string, type: ExportType, version?: number): Promise<ExportedKey> {
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
