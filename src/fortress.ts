/**
 * @module fortress
 * The Fortress facade: opens a data directory and wires storage, keys and the table engine.
 *
 * A data directory holds `fortress.json` (its layout), `fortress.db` (tables, schemas, jobs and —
 * unless page encryption is on — the wrapped keys and seal configuration) and, for zero-config use,
 * `dev-unseal.key`. With page encryption the wrapped keys live in `keys.db` beside it, because the
 * page key itself is a keyring key: the database cannot hold the keys that open it.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AeadName } from './crypto/aead/aead.js';
import { dataKeyMaterial } from './crypto/envelope/data-key.js';
import { checkJobOptions, Engine, Transaction, type KeyUsage } from './engine/engine.js';
import type { Job, JobOptions, JobProgress } from './engine/jobs/job.js';
import type {
  AnyRow,
  ColumnDefinition,
  EncryptOptions,
  InsertOf,
  RowOf,
  StoredTable,
  TableDefinition,
} from './engine/schema/table-schema.js';
import type { Table } from './engine/table/table.js';
import { AuditLedger } from './audit/ledger/audit-ledger.js';
import { AuditTrail, auditedAccessControl, auditedKeyManager, processPrincipal } from './audit-trail.js';
import { AuditHandle } from './audit-handle.js';
import type { AuditResource } from './audit/entry/audit-entry.js';
import type { AccessActor } from './engine/access/access-log.js';
import { randomBytes } from './crypto/random.js';
import { KeyManager } from './keys/key-manager.js';
import { DEV_KEY_FILE_WARNING, DevKeyFileSealProvider } from './keys/seal/dev-key-file-seal.js';
import type { SealProvider } from './keys/seal/seal-provider.js';
import type { StorageDriver } from './storage/dialect.js';
import { StorageKeyStore } from './storage/key-store/storage-key-store.js';
import { SqliteDialect } from './storage/sqlite/sqlite-dialect.js';
import { assertOptions, assertString } from './util/bytes.js';
import { FortressError, InvalidArgumentError } from './util/errors.js';
import { AccessControl } from './access-control.js';
import { AccessStore } from './storage/access-store/access-store.js';
import type { LabelSchemeOptions } from './policy/mac/security-label.js';
import { HmacSha256Key } from './crypto/mac/hmac-sha256-key.js';
import { PolicySession, type SessionPrincipal } from './policy-session.js';
import { ClusterSync, FORTRESS_DOMAINS } from './cluster-sync.js';
import { KvEngine } from './secrets/kv/kv-engine.js';
import { SecretsKv } from './secrets/kv/secrets-kv.js';
import type { SecretsAccess } from './secrets/secrets-access.js';
import { TransitEngine } from './secrets/transit/transit-engine.js';
import { SecretsTransit } from './secrets/transit/secrets-transit.js';
import { DatabaseEngine } from './secrets/database/database-engine.js';
import { SecretsDatabase } from './secrets/database/secrets-database.js';
import { RewrapJobs, type RewrapColumnOptions, type RewrapRows } from './secrets/transit/rewrap-job.js';
import type { ClusterChannel, ClusterLock, TrackedTable } from './storage/cluster.js';

export interface FortressOptions {
  /** The data directory (created on first open). */
  readonly path: string;
  /**
   * Encrypt whole database pages too (SQLite3MultipleCiphers, ChaCha20-Poly1305), so indexes,
   * schemas and free pages are ciphertext as well. Chosen when the directory is created. @default false
   */
  readonly pageEncryption?: boolean;
  /**
   * Where tables, keys and the audit ledger live: the directory's SQLite file (default), or a
   * PostgreSQL database. With PostgreSQL the directory keeps only its manifest, the ledger's
   * verifier key and (zero config) the dev key file; the URL is never written anywhere. Chosen
   * when the directory is created. @default { kind: 'sqlite' }
   */
  readonly storage?: StorageOption;
  /**
   * How to unseal. Omitted: a new directory is initialised with a dev key file and every open
   * unseals with it (zero config, with a warning); a directory sealed another way opens sealed —
   * call `unseal()`.
   */
  readonly unseal?: { readonly provider: SealProvider; readonly inputs?: readonly string[] };
  /**
   * `'normal'` (default): an acknowledged write survives a crash of the process (WAL, no fsync per
   * commit). `'full'`: it also survives a power loss or OS crash (fsync at every commit, several
   * times slower for small writes). @default 'normal'
   */
  readonly synchronous?: 'full' | 'normal';
  /** @default 'default' */
  readonly tenant?: string;
  /** @default 'main' */
  readonly database?: string;
  /** Where warnings go (e.g. the dev-key-file warning). @default process.emitWarning */
  readonly onWarning?: (message: string) => void;
  /** Background-job defaults (batch size, throttle). */
  readonly jobs?: JobOptions;
  /** The secrets engines. */
  readonly secrets?: {
    /**
     * How often the database secrets engine revokes expired leases and rotates due static roles
     * (ms; it also sweeps at every open and unseal, so leases that expired while the process was
     * down are revoked at once). @default 60000
     */
    readonly databaseSweepIntervalMs?: number;
  };
  /**
   * Who the embedded process acts as, in audit entries. @default { type: 'process', id: <OS user> }
   */
  readonly principal?: { readonly type?: string; readonly id: string };
  /** The audit ledger (always on; these tune it). */
  /**
   * Security levels (lowest first) and compartments for mandatory access control. Stored at first
   * open; afterwards levels are fixed and compartments can only be appended.
   * @default levels unclassified < cui < secret < top-secret, no compartments
   */
  readonly labels?: LabelSchemeOptions;
  readonly audit?: {
    /** Publish a signed checkpoint this often when the log grew (ms; 0 = on demand only). @default 60000 */
    readonly checkpointIntervalMs?: number;
    /** Sign checkpoints with ML-DSA-65 as well as Ed25519. @default false */
    readonly mlDsa?: boolean;
    /**
     * When a group commit of audit entries starts: as soon as the caller yields (`microtask`: the
     * lowest latency for one caller), or at the end of the event loop's turn (`turn`: concurrent
     * callers — a server's requests — share one durable commit). @default 'microtask'
     */
    readonly groupCommit?: 'microtask' | 'turn';
  };
}

/** Where a Fortress keeps its data. */
export type StorageOption =
  | { readonly kind: 'sqlite' }
  | {
      readonly kind: 'postgres';
      /** `postgres://user:password@host:port/database` (the password never reaches a message). */
      readonly url: string;
      /** A schema of that database to use (it must exist). @default the server's search_path */
      readonly schema?: string;
      /** Pooled connections. @default 10 */
      readonly maxConnections?: number;
    };

/** `fortress.json`: the layout of a data directory. */
export interface Manifest {
  readonly format: 1;
  readonly pageEncryption: boolean;
  /** Where the data lives (absent in directories made before PostgreSQL: SQLite). */
  readonly storage?: 'sqlite' | 'postgres';
}

const MANIFEST = 'fortress.json';
const DATABASE = 'fortress.db';
const KEYS_DATABASE = 'keys.db';
const DEV_KEY_FILE = 'dev-unseal.key';
/** The index-purpose key whose bytes key the database pages. */
const PAGE_KEY = 'fortress/page-key';

async function readManifest(dir: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FortressError('FX_STORAGE', `cannot read ${path.join(dir, MANIFEST)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new FortressError('FX_STORAGE', `${path.join(dir, MANIFEST)} is not valid JSON`, { cause });
  }
  const m = parsed as Partial<Manifest> | null;
  if (m === null || typeof m !== 'object' || m.format !== 1 || typeof m.pageEncryption !== 'boolean') {
    throw new FortressError(
      'FX_STORAGE',
      `${path.join(dir, MANIFEST)} is not a Fortress data directory manifest (format 1)`,
    );
  }
  const storage: unknown = m.storage;
  if (storage !== undefined && storage !== 'sqlite' && storage !== 'postgres') {
    throw new FortressError('FX_STORAGE', `${path.join(dir, MANIFEST)} names an unknown storage kind`);
  }
  return {
    format: 1,
    pageEncryption: m.pageEncryption,
    ...(m.storage === 'postgres' ? { storage: 'postgres' as const } : {}),
  };
}

/** Checks the `storage` option; its URL is never echoed. */
function checkStorage(storage: unknown): StorageOption {
  if (storage === undefined) return { kind: 'sqlite' };
  assertOptions(storage, 'storage');
  const s = storage as Partial<Record<string, unknown>>;
  if (s['kind'] === 'sqlite') {
    if (Object.keys(s).length > 1)
      throw new InvalidArgumentError('storage', 'sqlite takes no other settings');
    return { kind: 'sqlite' };
  }
  if (s['kind'] !== 'postgres')
    throw new InvalidArgumentError('storage.kind', 'expected "sqlite" or "postgres"');
  for (const key of Object.keys(s)) {
    if (!['kind', 'url', 'schema', 'maxConnections'].includes(key)) {
      throw new InvalidArgumentError('storage', `unknown option ${JSON.stringify(key.slice(0, 40))}`);
    }
  }
  if (typeof s['url'] !== 'string' || !/^postgres(ql)?:\/\//.test(s['url'])) {
    throw new InvalidArgumentError('storage.url', 'expected a postgres:// URL');
  }
  if (s['schema'] !== undefined && typeof s['schema'] !== 'string') {
    throw new InvalidArgumentError('storage.schema', 'expected a schema name');
  }
  if (s['maxConnections'] !== undefined && typeof s['maxConnections'] !== 'number') {
    throw new InvalidArgumentError('storage.maxConnections', 'expected a whole number');
  }
  return storage as StorageOption;
}

/** The keys of a data directory, and the database that holds them. */
export interface DataDirectoryKeys {
  readonly keys: KeyManager;
  readonly manifest: Manifest;
  /** The database holding the key store (fortress.db, or keys.db with page encryption). */
  readonly driver: StorageDriver;
}

/**
 * Opens the key store of a data directory — the part `fortress init` and the CLI's key commands
 * work on. Without `create`, a directory that is not initialised is left untouched and reported as
 * `FX_NOT_INITIALIZED`.
 */
export async function openDataDirectoryKeys(
  dir: string,
  options: {
    create?: boolean;
    pageEncryption?: boolean;
    synchronous?: 'full' | 'normal';
    /** Closing the KeyManager closes the database too (when nothing else uses it). */
    ownDriver?: boolean;
    /** Where the data lives: needed to open a PostgreSQL directory, and chosen at creation. */
    storage?: StorageOption;
  } = {},
): Promise<DataDirectoryKeys> {
  const storage = checkStorage(options.storage);
  if (storage.kind === 'postgres' && options.pageEncryption === true) {
    throw new InvalidArgumentError('pageEncryption', 'page encryption is for SQLite files, not PostgreSQL');
  }
  let manifest = await readManifest(dir);
  const creating = manifest === undefined;
  if (manifest === undefined) {
    if (options.create !== true) {
      throw new FortressError(
        'FX_NOT_INITIALIZED',
        `${dir} is not an initialised Fortress data directory; run \`fortress init\` or Fortress.open()`,
      );
    }
    if (existsSync(path.join(dir, DATABASE))) {
      throw new FortressError(
        'FX_STORAGE',
        `${dir} holds a database but no ${MANIFEST}; refusing to guess its layout`,
      );
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    manifest = {
      format: 1,
      pageEncryption: options.pageEncryption ?? false,
      ...(storage.kind === 'postgres' ? { storage: 'postgres' as const } : {}),
    };
  } else if (options.pageEncryption !== undefined && options.pageEncryption !== manifest.pageEncryption) {
    throw new InvalidArgumentError(
      'pageEncryption',
      `${dir} was created with page encryption ${manifest.pageEncryption ? 'on' : 'off'}; it cannot change on open`,
    );
  }
  if ((manifest.storage ?? 'sqlite') !== storage.kind) {
    throw new InvalidArgumentError(
      'storage',
      manifest.storage === 'postgres'
        ? `${dir} keeps its data in PostgreSQL: open it with storage: { kind: 'postgres', url }`
        : `${dir} keeps its data in SQLite; its storage cannot change on open`,
    );
  }
  const driver =
    storage.kind === 'postgres'
      ? await openPostgres(storage)
      : await new SqliteDialect({
          path: path.join(dir, manifest.pageEncryption ? KEYS_DATABASE : DATABASE),
          synchronous: options.synchronous ?? 'normal',
        }).createDriver();
  try {
    const keys = await KeyManager.open({
      store: await StorageKeyStore.open(driver, { ownsDriver: options.ownDriver === true }),
    });
    if (creating)
      await writeFile(path.join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
    return { keys, manifest, driver };
  } catch (error) {
    await driver.close();
    throw error;
  }
}

/** The change feed and locks of shared storage, over the driver's database. */
async function openCluster(
  storage: Extract<StorageOption, { kind: 'postgres' }>,
  driver: StorageDriver,
): Promise<ClusterChannel> {
  const { PostgresDialect } = await import('./storage/postgres/postgres-dialect.js');
  return new PostgresDialect({
    url: storage.url,
    ...(storage.schema === undefined ? {} : { schema: storage.schema }),
  }).openCluster(driver);
}

/** The embedded operator's decision on secrets operations: not decided, recorded as the operator. */
const operator: SecretsAccess['authorize'] = () => Promise.resolve(undefined);

function checkSecretsOptions(secrets: FortressOptions['secrets']): void {
  if (secrets === undefined) return;
  if ((secrets as unknown) === null || typeof secrets !== 'object' || Array.isArray(secrets)) {
    throw new InvalidArgumentError('secrets', 'expected an object');
  }
  for (const key of Object.keys(secrets)) {
    if (key !== 'databaseSweepIntervalMs') {
      throw new InvalidArgumentError('secrets', `unknown option ${key}`);
    }
  }
  const interval: unknown = secrets.databaseSweepIntervalMs;
  if (
    interval !== undefined &&
    (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 100 || interval > 86_400_000)
  ) {
    throw new InvalidArgumentError(
      'secrets.databaseSweepIntervalMs',
      'expected an integer from 100 to 86400000',
    );
  }
}

/** How often a node of a cluster looks for jobs a dead node left running (ms). */
const ORPHAN_SCAN_MS = 2_000;

/**
 * Whether shared storage already holds initialised keys — asked by a new node of a cluster before it
 * joins (it then opens sealed and unseals like the others). Writes nothing but the key tables'
 * `CREATE … IF NOT EXISTS`.
 */
export async function storageInitialized(storage: StorageOption): Promise<boolean> {
  const checked = checkStorage(storage);
  if (checked.kind !== 'postgres') {
    throw new InvalidArgumentError('storage', 'only shared (PostgreSQL) storage is probed this way');
  }
  const driver = await openPostgres({ ...checked, maxConnections: 1 });
  try {
    const keys = await KeyManager.open({ store: await StorageKeyStore.open(driver) });
    return keys.state !== 'uninitialized';
  } finally {
    await driver.close();
  }
}

/** A PostgreSQL driver (the dialect and its `pg` client load only here, on demand). */
async function openPostgres(storage: Extract<StorageOption, { kind: 'postgres' }>): Promise<StorageDriver> {
  const { PostgresDialect } = await import('./storage/postgres/postgres-dialect.js');
  return new PostgresDialect({
    url: storage.url,
    ...(storage.schema === undefined ? {} : { schema: storage.schema }),
    ...(storage.maxConnections === undefined ? {} : { max: storage.maxConnections }),
  }).createDriver();
}

/**
 * An open Fortress database.
 *
 * @example
 * ```ts
 * const db = await Fortress.open({ path: './data' });
 * const patients = await db.createTable('patients', {
 *   columns: {
 *     id: { type: 'uuid', primaryKey: true },
 *     email: { type: 'text', encrypt: { search: 'equality' } },
 *     ssn: { type: 'text', encrypt: true },
 *     age: { type: 'integer' },
 *   },
 * });
 * const { id } = await patients.insert({ email: 'ann@example.com', ssn: '123-45-6789', age: 41 });
 * await patients.find({ where: { email: 'ann@example.com' } });
 * await db.close();
 * ```
 */
export class Fortress implements AsyncDisposable {
  /** The data directory. */
  readonly path: string;
  /** The keys layer (rotation, versions, backups). */
  readonly keys: KeyManager;
  /** The key manager without the audit wrapper: sessions wrap it again, recording their principal. */
  readonly #rawKeys: KeyManager;
  readonly #engine: Engine | null;
  readonly #drivers: StorageDriver[];
  readonly #options: FortressOptions;
  readonly #pending: (() => Promise<Engine>) | null;
  readonly #trail: AuditTrail;
  readonly #access: () => AccessControl | null;
  /** `db.access` as callers see it: every change recorded in the audit ledger. */
  #auditedAccess: { readonly raw: AccessControl; readonly audited: AccessControl } | null = null;
  #maskKey: HmacSha256Key | null = null;
  #lazyEngine: Engine | null = null;
  #closed = false;
  /** Shared storage: what keeps this process's caches coherent with the other nodes'. */
  readonly #sync: ClusterSync | null;
  #orphanScan: NodeJS.Timeout | null = null;
  /** The KV secrets engine, opened on first use on the engine's storage. */
  #kvEngine: { readonly driver: StorageDriver; readonly engine: Promise<KvEngine> } | null = null;
  #transitEngine: { readonly driver: StorageDriver; readonly engine: Promise<TransitEngine> } | null = null;
  #rewrapJobs: { readonly driver: StorageDriver; readonly jobs: Promise<RewrapJobs> } | null = null;
  #databaseEngine: { readonly driver: StorageDriver; readonly engine: Promise<DatabaseEngine> } | null = null;

  private constructor(
    dir: string,
    keys: KeyManager,
    rawKeys: KeyManager,
    engine: Engine | null,
    drivers: StorageDriver[],
    options: FortressOptions,
    pending: (() => Promise<Engine>) | null,
    trail: AuditTrail,
    access: () => AccessControl | null,
    sync: ClusterSync | null,
  ) {
    this.#access = access;
    this.#sync = sync;
    if (sync !== null) this.#joinCluster(sync);
    this.path = dir;
    this.keys = keys;
    this.#rawKeys = rawKeys;
    this.#engine = engine;
    this.#drivers = drivers;
    this.#options = options;
    this.#pending = pending;
    this.#trail = trail;
  }

  /** Opens (or creates) a data directory. */
  static async open(options: FortressOptions): Promise<Fortress> {
    assertOptions(options, 'options');
    assertString(options.path, 'path');
    if (options.path.length === 0) throw new InvalidArgumentError('path', 'must not be empty');
    if (options.pageEncryption !== undefined && typeof options.pageEncryption !== 'boolean') {
      throw new InvalidArgumentError('pageEncryption', 'expected true or false');
    }
    for (const name of ['tenant', 'database'] as const) {
      const value = options[name];
      if (value !== undefined && (typeof value !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(value))) {
        throw new InvalidArgumentError(name, 'expected 1-64 letters, digits, ".", "_" or "-"');
      }
    }
    const synchronous: unknown = options.synchronous ?? 'normal';
    if (synchronous !== 'normal' && synchronous !== 'full') {
      throw new InvalidArgumentError('synchronous', 'expected "full" or "normal"');
    }
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
      throw new InvalidArgumentError('onWarning', 'expected a function');
    }
    checkJobOptions(options.jobs);
    checkSecretsOptions(options.secrets);
    const principal = checkPrincipal(options.principal, options.tenant ?? 'default');
    const auditOptions = checkAuditOptions(options.audit);
    const warn =
      options.onWarning ??
      ((message: string) => {
        process.emitWarning(message, 'FortressWarning');
      });
    const dir = path.resolve(options.path);
    const drivers: StorageDriver[] = [];
    let opened: AuditLedger | null = null;
    let sync: ClusterSync | null = null;
    try {
      const {
        keys: rawKeys,
        manifest,
        driver: keysDriver,
      } = await openDataDirectoryKeys(dir, {
        create: true,
        synchronous,
        storage: checkStorage(options.storage),
        ...(options.pageEncryption === undefined ? {} : { pageEncryption: options.pageEncryption }),
      });
      drivers.push(keysDriver);
      const storage = checkStorage(options.storage);
      // Before anything is loaded into memory: a change committed meanwhile is reloaded at once.
      if (storage.kind === 'postgres') {
        const channel = await openCluster(storage, keysDriver);
        sync = await ClusterSync.open(channel).catch(async (error: unknown) => {
          await channel.close();
          throw error;
        });
      }
      const cluster = sync?.channel;
      if (cluster !== undefined) rawKeys.shareStore((fn) => cluster.exclusive('key-store', fn));
      let checkpointSigner: ClusterLock | null = null;
      const trail = new AuditTrail({
        dir,
        keys: rawKeys,
        tenant: options.tenant ?? 'default',
        database: options.database ?? 'main',
        principal,
        mlDsa: auditOptions.mlDsa,
      });
      const keys = auditedKeyManager(rawKeys, trail);
      const newLedger = (driver: StorageDriver): Promise<AuditLedger> =>
        AuditLedger.open({
          driver,
          origin: `fortress.local/audit/${Buffer.from(randomBytes(8)).toString('hex')}`,
          signers: () => trail.signers(),
          checkpointIntervalMs: auditOptions.checkpointIntervalMs,
          groupCommit: auditOptions.groupCommit,
          // One node of a cluster signs the periodic checkpoints: whichever holds the lock (it
          // passes to another when that node dies).
          ...(cluster === undefined
            ? {}
            : {
                checkpointLeader: async () => {
                  if (checkpointSigner?.held !== true)
                    checkpointSigner = await cluster.tryLock('audit-checkpoints');
                  return checkpointSigner !== null;
                },
              }),
        });
      // The ledger lives with the data (same file, same transactions). Without page encryption that
      // file is open already, so the ledger opens before unsealing and records the attempt — also
      // a failed one.
      let ledger: AuditLedger | null = null;
      if (!manifest.pageEncryption) {
        ledger = opened = await newLedger(keysDriver);
        await trail.attach(ledger);
      }
      const closeLedger = async (): Promise<void> => {
        await ledger?.close().catch(() => undefined);
      };
      const devKeyFile = path.join(dir, DEV_KEY_FILE);
      try {
        if (options.unseal !== undefined) {
          if (keys.state === 'uninitialized') await keys.init(options.unseal.provider);
          else await keys.unseal(options.unseal.provider, options.unseal.inputs ?? []);
        } else if (keys.state === 'uninitialized') {
          warn(`${DEV_KEY_FILE_WARNING} (${devKeyFile})`);
          // init leaves the keys unsealed.
          await keys.init(new DevKeyFileSealProvider({ path: devKeyFile }));
        } else if (keys.sealConfig?.kind === 'dev-key-file') {
          warn(`${DEV_KEY_FILE_WARNING} (${String(keys.sealConfig['path'])})`);
          await keys.unseal(new DevKeyFileSealProvider({ path: String(keys.sealConfig['path']) }));
        }
      } catch (error) {
        await closeLedger();
        throw error;
      }
      let accessControl: AccessControl | null = null;
      const openEngine = async (): Promise<Engine> => {
        let driver = keysDriver;
        if (manifest.pageEncryption) {
          driver = await new SqliteDialect({
            path: path.join(dir, DATABASE),
            synchronous,
            pageKey: await pageKeyOf(keys),
          }).createDriver();
          drivers.push(driver);
        }
        const engine = await Engine.open({
          driver,
          keys: rawKeys,
          ...(cluster === undefined ? {} : { cluster }),
          ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
          ...(options.database === undefined ? {} : { database: options.database }),
        });
        try {
          if (ledger === null) {
            ledger = opened = await newLedger(driver);
            await trail.attach(ledger);
          }
          if (rawKeys.state === 'unsealed') await trail.unsealed(ledger.origin);
        } catch (error) {
          await closeLedger();
          throw error;
        }
        engine.accessLog = trail;
        accessControl = await AccessControl.open({
          store: await AccessStore.open(driver),
          tenant: options.tenant ?? 'default',
          database: options.database ?? 'main',
          ...(options.labels === undefined ? {} : { labels: options.labels }),
          describeTable: (name) =>
            engine.listTables().includes(name) ? engine.describeTable(name) : undefined,
        });
        // Every table the domains cover exists now.
        await sync?.track(FORTRESS_DOMAINS);
        if (rawKeys.state === 'unsealed') await engine.resumeJobs(options.jobs);
        return engine;
      };
      // With page encryption the data file cannot even be opened while sealed.
      if (manifest.pageEncryption && rawKeys.state !== 'unsealed') {
        return new Fortress(
          dir,
          keys,
          rawKeys,
          null,
          drivers,
          options,
          openEngine,
          trail,
          () => accessControl,
          sync,
        );
      }
      const engine = await openEngine();
      const db = new Fortress(
        dir,
        keys,
        rawKeys,
        engine,
        drivers,
        options,
        null,
        trail,
        () => accessControl,
        sync,
      );
      if (rawKeys.state === 'unsealed') {
        db.#resumeRewrapJobs();
        db.#startDatabaseSweeper();
      }
      return db;
    } catch (error) {
      await opened?.close().catch(() => undefined);
      await sync?.close().catch(() => undefined);
      for (const driver of drivers.reverse()) await driver.close();
      throw error;
    }
  }

  get #e(): Engine {
    if (this.#closed) throw new FortressError('FX_CLOSED', 'the database is closed');
    const engine = this.#engine ?? this.#lazyEngine;
    if (engine === null) throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
    return engine;
  }

  #requireEngine(): void {
    if (this.#closed) throw new FortressError('FX_CLOSED', 'the database is closed');
  }

  /** `'unsealed'` when data can be read and written. */
  get state(): KeyManager['state'] {
    return this.keys.state;
  }

  /**
   * Shared storage: reload keys, tables and policies into this process as the other nodes change
   * them, and pick up the jobs a dead node left running.
   */
  #joinCluster(sync: ClusterSync): void {
    sync.on('keys', async () => {
      const wasUnsealed = this.#rawKeys.state === 'unsealed';
      if ((await this.#rawKeys.reload()) === 'sealed' && wasUnsealed) {
        // The root key was rotated on another node: this one cannot follow without the new shares.
        this.seal();
        const message =
          'the root key was rotated on another node: this node sealed itself; unseal it with the new shares';
        this.#warn(message);
      }
    });
    sync.on('catalog', async () => {
      await (this.#engine ?? this.#lazyEngine)?.reloadCatalog();
    });
    sync.on('policy', async () => {
      await this.#access()?.reload();
    });
    this.#orphanScan = setInterval(() => {
      const engine = this.#engine ?? this.#lazyEngine;
      if (this.#closed || engine === null || this.#rawKeys.state !== 'unsealed') return;
      engine.resumeJobs(this.#options.jobs, true).catch(() => undefined);
      this.#resumeRewrapJobs();
    }, ORPHAN_SCAN_MS);
    this.#orphanScan.unref();
  }

  /**
   * Shared storage (PostgreSQL, several processes): reloads whatever another process changed
   * (keys, tables, policies, and what `onClusterChange` registered) before it returns, so the
   * caller's next operation sees every change committed before this call. A server runs it before
   * every request. Without shared storage, resolves at once.
   */
  syncCluster(): Promise<void> {
    return this.#sync === null ? Promise.resolve() : this.#sync.sync();
  }

  /** Shared storage: runs `reload` (in `syncCluster`) whenever another process changed `domain`. */
  onClusterChange(domain: 'keys' | 'catalog' | 'policy' | 'tokens', reload: () => Promise<unknown>): void {
    this.#sync?.on(domain, reload);
  }

  /** @internal Shared storage: tracks more tables (the server's token store) as a domain. */
  async trackClusterDomain(domain: string, tables: readonly TrackedTable[]): Promise<void> {
    await this.#sync?.channel.track(domain, tables);
  }

  /** @internal Shared storage: a cluster-wide lock (null: another process holds it); undefined without. */
  clusterLock(name: string): Promise<ClusterLock | null> | undefined {
    return this.#sync?.channel.tryLock(name);
  }

  /** Unseals with `provider` (Shamir shares, passphrase, HSM PIN…) and resumes background jobs. */
  async unseal(provider: SealProvider, inputs: readonly string[] = []): Promise<void> {
    if (this.#closed) throw new FortressError('FX_CLOSED', 'the database is closed');
    await this.keys.unseal(provider, inputs);
    await this.#afterUnseal();
  }

  /**
   * Starts unsealing one input at a time (a server takes Shamir shares from several operators):
   * `submit` reports progress, and the call that completes the threshold unseals Fortress. A wrong
   * input rejects with `FX_UNSEAL_FAILED` and the attempt starts over; inputs live only in memory.
   *
   * @example
   * ```ts
   * const attempt = db.beginUnseal(new ShamirSealProvider());
   * await attempt.submit(share1); // { done: false, received: 1, required: 3 }
   * ```
   */
  beginUnseal(provider: SealProvider): {
    readonly required: number;
    readonly received: number;
    submit(input: string): Promise<{ done: false; received: number; required: number } | { done: true }>;
    reset(): void;
  } {
    if (this.#closed) throw new FortressError('FX_CLOSED', 'the database is closed');
    const attempt = this.keys.beginUnseal(provider);
    return {
      get required() {
        return attempt.required;
      },
      get received() {
        return attempt.received;
      },
      submit: async (input: string) => {
        // Recorded like unseal(): a wrong input and the completing one (the shares never).
        let progress;
        try {
          progress = await attempt.submit(input);
        } catch (error) {
          await this.#trail.operation('system.unseal', { type: 'system' }, error, {});
          throw error;
        }
        if (!progress.done) return { done: false, received: progress.received, required: progress.required };
        await this.#trail.operation('system.unseal', { type: 'system' }, null, {});
        await this.#afterUnseal();
        return { done: true };
      },
      reset: () => {
        attempt.reset();
      },
    };
  }

  /**
   * @internal Records a server event (a login, a token created or revoked) in the ledger, as
   * `principal` when known; resolves once durable. `facts` are non-sensitive names (accessors, methods).
   */
  recordEvent(
    action: string,
    error: unknown,
    principal?: { readonly type: string; readonly id: string; readonly tenant: string },
    facts: Readonly<Record<string, string | number | boolean>> = {},
  ): Promise<void> {
    const actor =
      principal === undefined
        ? undefined
        : { principal, policies: ['builtin:authentication'], breakGlass: false };
    return this.#trail.operation(action, { type: 'system' }, error, facts, actor);
  }

  /** @internal The storage driver of the data (for the server's token store); FX_SEALED before the data file is open. */
  storageDriver(): StorageDriver {
    this.#requireEngine();
    const driver = this.#drivers[this.#drivers.length - 1];
    if (driver === undefined || (this.#engine === null && this.#lazyEngine === null)) {
      throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
    }
    return driver;
  }

  async #afterUnseal(): Promise<void> {
    // Whatever other nodes changed while this one was sealed and not listening.
    await this.#sync?.sync();
    if (this.#engine === null && this.#lazyEngine === null && this.#pending !== null) {
      this.#lazyEngine = await this.#pending();
    } else {
      const ledger = this.#trail.ledger;
      if (ledger !== null) await this.#trail.unsealed(ledger.origin);
      await this.#e.resumeJobs(this.#options.jobs);
    }
    this.#resumeRewrapJobs();
    this.#startDatabaseSweeper();
  }

  /** Zeroes every key: nothing reads or writes data until `unseal()`. Running jobs stop and resume at unseal. */
  seal(): void {
    this.#maskKey?.dispose();
    this.#maskKey = null;
    // The sweeper needs keys (administrator passwords): it stops here and restarts at unseal.
    void this.#stopDatabaseSweeper();
    this.keys.seal();
    this.#trail.sealed();
    (this.#engine ?? this.#lazyEngine)?.dropCodecs();
  }

  /**
   * Access control: policies, principals, groups, roles, row filters, the label scheme.
   *
   * @example
   * ```ts
   * await db.access.addRole('analyst');
   * await db.access.addUser('ann', { roles: ['analyst'], clearance: 'secret' });
   * await db.access.addPolicies(renderTemplate('analyst', { tenant: 'default', role: 'analyst' }));
   * ```
   */
  get access(): AccessControl {
    const access = this.#rawAccess();
    if (this.#auditedAccess?.raw !== access) {
      this.#auditedAccess = { raw: access, audited: auditedAccessControl(access, this.#trail) };
    }
    return this.#auditedAccess.audited;
  }

  #rawAccess(): AccessControl {
    this.#requireEngine();
    if (this.#engine === null && this.#lazyEngine === null)
      throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
    const access = this.#access();
    if (access === null) throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
    return access;
  }

  /**
   * A session acting as `principal`: every operation is decided by policy (deny by default),
   * encrypted columns the principal may read but not decrypt come back masked, rows above its
   * label are invisible, and every decision is audited with the deciding policies.
   *
   * @example
   * ```ts
   * const ann = db.as('ann');                        // a user of the database's tenant
   * await ann.table('patients').find({ where: { age: { gte: 30 } } });
   * db.as({ service: 'etl', level: 'cui' });         // a service account working at 'cui'
   * ```
   */
  as(principal: SessionPrincipal): PolicySession {
    // The raw object on the hot path (no proxy per call); admin changes go through the audited one.
    const access = this.#rawAccess();
    return new PolicySession(
      {
        engine: () => this.#e,
        access,
        accessLog: this.#trail,
        maskKey: () => this.#maskKeyOf(access),
        warn: (message) => {
          this.#warn(message);
        },
        admin: (action, resource, body, actor) => this.#admin(action, resource, body, {}, actor),
        resource: (table, column) => this.#trail.resource(table, column),
        keys: (actor) => auditedKeyManager(this.#rawKeys, this.#trail, actor),
        accessAs: (actor) => auditedAccessControl(access, this.#trail, actor),
        audit: (actor) => this.#auditHandle(actor),
        seal: () => {
          this.seal();
        },
        kv: (authorize) => new SecretsKv({ ...this.#secretsAccess(authorize), engine: () => this.#kvOf() }),
        transit: (authorize) => this.#secretsTransit(authorize),
        database: (authorize) => this.#secretsDatabase(authorize),
        recordDenied: (action, resource, error, actor, denied) =>
          this.#trail.operation(action, resource, error, {}, actor, denied),
        jobs: this.#options.jobs,
        transaction: (fn) => this.transaction(fn),
      },
      principal,
    );
  }

  /**
   * The KV secrets engine (versioned secrets, as Vault's KV v2), as the embedded operator: not
   * decided by policy, every operation recorded in the audit ledger. `db.as(principal).kv` is the
   * same engine under the principal's policies.
   *
   * @example
   * ```ts
   * await db.kv.put('apps/billing/db', { user: 'billing', password: 's3cr3t' });
   * const { data, metadata } = await db.kv.get('apps/billing/db');   // metadata.version === 1
   * await db.kv.put('apps/billing/db', { user: 'billing', password: 'n3w' }, { cas: 1 });
   * ```
   */
  get kv(): SecretsKv {
    this.#requireEngine();
    return new SecretsKv({ ...this.#secretsAccess(operator), engine: () => this.#kvOf() });
  }

  /**
   * The transit secrets engine (encryption as a service, as Vault's transit), as the embedded
   * operator: not decided by policy, every operation recorded in the audit ledger.
   * `db.as(principal).transit` is the same engine under the principal's policies.
   *
   * @example
   * ```ts
   * await db.transit.createKey('orders');
   * const { ciphertext } = await db.transit.encrypt('orders', { plaintext: utf8('4111 1111 1111 1111') });
   * const { plaintext } = await db.transit.decrypt('orders', { ciphertext });
   * ```
   */
  get transit(): SecretsTransit {
    this.#requireEngine();
    return this.#secretsTransit(operator);
  }

  #secretsTransit(authorize: SecretsAccess['authorize']): SecretsTransit {
    return new SecretsTransit({
      ...this.#secretsAccess(authorize),
      engine: () => this.#transitOf(),
      jobs: () => this.#rewrapJobsOf(),
    });
  }

  /**
   * The database secrets engine (dynamic PostgreSQL credentials, as Vault's database engine), as
   * the embedded operator: not decided by policy, every operation recorded in the audit ledger.
   * `db.as(principal).database` is the same engine under the principal's policies. While the
   * database is open and unsealed a sweeper revokes expired leases (also those that expired while
   * it was closed) and rotates static roles.
   *
   * @example
   * ```ts
   * const creds = await db.database.createCredentials('readonly');   // { username, password, leaseId, … }
   * await db.database.revokeLease(creds.leaseId);
   * ```
   */
  get database(): SecretsDatabase {
    this.#requireEngine();
    return this.#secretsDatabase(operator);
  }

  #secretsDatabase(authorize: SecretsAccess['authorize']): SecretsDatabase {
    return new SecretsDatabase({ ...this.#secretsAccess(authorize), engine: () => this.#databaseOf() });
  }

  #databaseOf(): Promise<DatabaseEngine> {
    const engine = this.#e;
    if (this.#databaseEngine?.driver !== engine.driver) {
      const tenant = engine.scope.tenant;
      const opened = DatabaseEngine.open({
        driver: engine.driver,
        keys: this.#rawKeys,
        tenant,
        onUpgrade: (sealed) => {
          this.#recordUpgrade('database', tenant, sealed);
        },
      });
      this.#databaseEngine = { driver: engine.driver, engine: opened };
      opened.catch(() => {
        if (this.#databaseEngine?.engine === opened) this.#databaseEngine = null;
      });
    }
    return this.#databaseEngine.engine;
  }

  /** Starts (or restarts) the lease sweeper: its first sweep revokes what expired while closed or sealed. */
  #startDatabaseSweeper(): void {
    if (this.#closed || this.#rawKeys.state !== 'unsealed' || (this.#engine ?? this.#lazyEngine) === null)
      return;
    this.#databaseOf()
      .then((engine) => {
        if (this.#closed || this.#rawKeys.state !== 'unsealed') return;
        const tenant = this.#rawAccess().tenant;
        engine.startSweeper({
          intervalMs: this.#options.secrets?.databaseSweepIntervalMs ?? 60_000,
          // Messages name leases and users, never passwords; a failure is retried at the next sweep.
          onError: (error) => {
            this.#warn(`database secrets: ${error.message}`);
          },
          // What the sweeper does on its own — an expired lease's user dropped, a static role's
          // password rotated on schedule — is recorded like the same operation called by a user.
          onAction: (action, error) => {
            void this.#trail
              .operation(
                action.kind === 'lease-expired'
                  ? 'database.lease.expire'
                  : action.kind === 'lease-revoked'
                    ? 'database.lease.revoke'
                    : 'database.staticRole.scheduledRotate',
                { type: 'secret', tenant, path: `database:role/${action.role}` },
                error,
                action.kind === 'static-rotated' ? { role: action.role } : { lease: action.leaseId },
              )
              .catch((failure: unknown) => {
                this.#warn(`database secrets: the audit entry of a sweep failed: ${String(failure)}`);
              });
          },
        });
      })
      .catch(() => undefined);
  }

  /**
   * Records a secrets engine's one-time sealing of settings written by an older version (which
   * trusts them as they are), so that an upgrade forced again later (the column dropped) shows.
   */
  #recordUpgrade(
    engine: 'database' | 'transit' | 'kv',
    tenant: string,
    sealed: Readonly<Record<string, number>>,
  ): void {
    Promise.resolve()
      .then(() =>
        this.#trail.operation(
          `${engine}.settings.upgrade`,
          { type: 'secret', tenant, path: `${engine}:` },
          null,
          sealed,
        ),
      )
      .catch((failure: unknown) => {
        this.#warn(`${engine} secrets: the audit entry of the settings upgrade failed: ${String(failure)}`);
      });
  }

  /** A warning to `onWarning`, or to process.emitWarning when none was given. */
  #warn(message: string): void {
    if (this.#options.onWarning === undefined) process.emitWarning(message, 'FortressWarning');
    else this.#options.onWarning(message);
  }

  async #stopDatabaseSweeper(): Promise<void> {
    await (await this.#databaseEngine?.engine.catch(() => null))?.stop();
  }

  #secretsAccess(authorize: SecretsAccess['authorize']): SecretsAccess {
    const access = this.#rawAccess();
    return {
      tenant: access.tenant,
      database: access.database,
      authorize,
      record: (action, resource, error, facts, actor) =>
        this.#trail.operation(action, resource, error, facts, actor),
      hash: (value) => this.#trail.hash(value),
    };
  }

  #kvOf(): Promise<KvEngine> {
    const engine = this.#e;
    if (this.#kvEngine?.driver !== engine.driver) {
      const opened = KvEngine.open({
        driver: engine.driver,
        keys: this.#rawKeys,
        tenant: engine.scope.tenant,
      });
      this.#kvEngine = { driver: engine.driver, engine: opened };
      // A failed open (storage down) is tried again by the next call.
      opened.catch(() => {
        if (this.#kvEngine?.engine === opened) this.#kvEngine = null;
      });
    }
    return this.#kvEngine.engine;
  }

  #transitOf(): Promise<TransitEngine> {
    const engine = this.#e;
    if (this.#transitEngine?.driver !== engine.driver) {
      const tenant = engine.scope.tenant;
      const opened = TransitEngine.open({
        driver: engine.driver,
        keys: this.#rawKeys,
        tenant,
        onUpgrade: (sealed) => {
          this.#recordUpgrade('transit', tenant, sealed);
        },
      });
      this.#transitEngine = { driver: engine.driver, engine: opened };
      opened.catch(() => {
        if (this.#transitEngine?.engine === opened) this.#transitEngine = null;
      });
    }
    return this.#transitEngine.engine;
  }

  #rewrapJobsOf(): Promise<RewrapJobs> {
    const engine = this.#e;
    if (this.#rewrapJobs?.driver !== engine.driver) {
      const opened = RewrapJobs.open({
        driver: engine.driver,
        tenant: engine.scope.tenant,
        engine: () => this.#transitOf(),
        rows: this.#rewrapRows(),
      });
      this.#rewrapJobs = { driver: engine.driver, jobs: opened };
      opened.catch(() => {
        if (this.#rewrapJobs?.jobs === opened) this.#rewrapJobs = null;
      });
    }
    return this.#rewrapJobs.jobs;
  }

  /** Picks up rewrap jobs left running (by this process before a restart or seal, or by a dead node). */
  #resumeRewrapJobs(): void {
    if (this.#closed || this.#rawKeys.state !== 'unsealed' || (this.#engine ?? this.#lazyEngine) === null)
      return;
    this.#rewrapJobsOf()
      .then((jobs) => jobs.resume())
      .catch(() => undefined);
  }

  /** The table side of rewrap jobs: pages of a column, and compare-and-swap writes. */
  #rewrapRows(): RewrapRows {
    const columnsOf = (o: RewrapColumnOptions): { pk: string; select: string[] } => {
      const described = this.describeTable(o.table);
      const names = [o.column, o.contextColumn, o.associatedDataColumn].filter((c) => c !== undefined);
      for (const name of names) {
        if (!described.columns.some((c) => c.name === name))
          throw new FortressError('FX_COLUMN_NOT_FOUND', `table ${o.table} has no column ${name}`);
      }
      const pk = described.columns.find((c) => c.primaryKey)!.name;
      return { pk, select: [...new Set(names)] };
    };
    return {
      count: (o) => {
        columnsOf(o);
        return this.table(o.table).count();
      },
      page: async (o, cursor, limit) => {
        const { pk, select } = columnsOf(o);
        const page = await this.table(o.table).page({
          limit,
          select,
          ...(cursor === null ? {} : { after: cursor }),
        });
        return {
          rows: page.rows.map((r) => ({
            key: r[pk] as string | number,
            value: r[o.column],
            context: o.contextColumn === undefined ? undefined : r[o.contextColumn],
            associatedData: o.associatedDataColumn === undefined ? undefined : r[o.associatedDataColumn],
          })),
          next: page.next,
        };
      },
      swap: (o, changes) =>
        this.transaction(async (tx) => {
          const table = tx.table(o.table);
          let swapped = 0;
          for (const change of changes) {
            const row = await table.get(change.key, { select: [o.column] });
            if (row?.[o.column] !== change.from) continue;
            await table.update(change.key, { [o.column]: change.to });
            swapped++;
          }
          return swapped;
        }),
    };
  }

  async #maskKeyOf(access: AccessControl): Promise<HmacSha256Key> {
    if (this.#maskKey !== null && !this.#maskKey.disposed) return this.#maskKey;
    const name = `mask/${access.tenant}/${access.database}`;
    const kek = `kek/${access.tenant}/${access.database}`;
    if (!this.keys.listKeys().some((k) => k.name === name)) {
      if (!this.keys.listKeys().some((k) => k.name === kek))
        await this.keys.createKey({ name: kek, purpose: 'kek' });
      await this.keys.createKey({ name, purpose: 'index', parent: kek });
    }
    const material = dataKeyMaterial(await this.keys.indexKey(name, 1));
    this.#maskKey = new HmacSha256Key(material);
    return this.#maskKey;
  }

  /** Creates a table; the returned handle is typed from the definition. */
  createTable<const D extends TableDefinition>(
    name: string,
    definition: D,
  ): Promise<Table<RowOf<D>, InsertOf<D>>> {
    return this.#admin('schema.createTable', this.#trail.resource(name), () =>
      this.#e.createTable(name, definition),
    );
  }

  /** A handle on an existing table (`FX_TABLE_NOT_FOUND` otherwise). */
  table<R extends AnyRow = AnyRow, I extends AnyRow = Partial<R>>(name: string): Table<R, I> {
    return this.#e.table<R, I>(name);
  }

  listTables(): string[] {
    return this.#e.listTables();
  }

  /** A table's stored schema (columns, encryption, keys, transitions in progress). */
  describeTable(name: string): StoredTable {
    return this.#e.describeTable(name);
  }

  /** Drops a table and crypto-shreds its keys. */
  dropTable(name: string): Promise<void> {
    return this.#admin('schema.dropTable', this.#trail.resource(name), () => this.#e.dropTable(name));
  }

  addColumn(table: string, name: string, definition: ColumnDefinition): Promise<void> {
    return this.#admin('schema.addColumn', this.#trail.resource(table, name), () =>
      this.#e.addColumn(table, name, definition),
    );
  }

  dropColumn(table: string, name: string, options?: JobOptions): Promise<Job | null> {
    return this.#admin('schema.dropColumn', this.#trail.resource(table, name), () =>
      this.#e.dropColumn(table, name, options ?? this.#options.jobs),
    );
  }

  /** Encrypts a plaintext column online (a resumable background job). */
  encryptColumn(
    table: string,
    name: string,
    encrypt: true | EncryptOptions = true,
    options?: JobOptions,
  ): Promise<Job> {
    return this.#admin('schema.encryptColumn', this.#trail.resource(table, name), () =>
      this.#e.encryptColumn(table, name, encrypt, options ?? this.#options.jobs),
    );
  }

  /** Moves a column (or, with `column` null, a row-encrypted table) to another algorithm online. */
  changeAlgorithm(
    table: string,
    column: string | null,
    algorithm: AeadName,
    options?: JobOptions,
  ): Promise<Job> {
    return this.#admin(
      'schema.changeAlgorithm',
      this.#trail.resource(table, column),
      () => this.#e.changeAlgorithm(table, column, algorithm, options ?? this.#options.jobs),
      { algorithm },
    );
  }

  /** Rotates a table's data keys and re-encrypts its values in the background. */
  rotateKeys(table: string, options?: JobOptions): Promise<Job> {
    return this.#admin('key.rotateTable', this.#trail.resource(table), () =>
      this.#e.rotateKeys(table, options ?? this.#options.jobs),
    );
  }

  /** Re-encrypts values not under their key's active version. */
  reencrypt(table: string, options?: JobOptions): Promise<Job> {
    return this.#admin('key.reencrypt', this.#trail.resource(table), () =>
      this.#e.reencrypt(table, options ?? this.#options.jobs),
    );
  }

  /** Rotates a searchable column's index key; lookups stay exact during the transition. */
  rotateIndexKey(table: string, column: string, options?: JobOptions): Promise<Job> {
    return this.#admin('key.rotateIndexKey', this.#trail.resource(table, column), () =>
      this.#e.rotateIndexKey(table, column, options ?? this.#options.jobs),
    );
  }

  /** Exact row counts per key version (from envelope headers). */
  keyUsage(table: string): Promise<KeyUsage[]> {
    return this.#admin('key.usage', this.#trail.resource(table), () => this.#e.keyUsage(table));
  }

  /** Background jobs of this process. */
  jobs(): JobProgress[] {
    return this.#e.listJobs();
  }

  job(id: number): Job {
    return this.#e.job(id);
  }

  /** A job's progress — also a job another node of a cluster runs, or one that ended before this process started. */
  jobProgress(id: number): Promise<JobProgress> {
    return this.#e.jobProgress(id);
  }

  /** Resumes paused jobs and jobs an earlier process left unfinished. */
  resumeJobs(options?: JobOptions): Promise<Job[]> {
    return this.#e.resumeJobs(options ?? this.#options.jobs);
  }

  /**
   * Runs `fn` atomically: everything it writes commits together or not at all.
   *
   * @example
   * ```ts
   * await db.transaction(async (tx) => {
   *   const accounts = tx.table('accounts');
   *   await accounts.update(from, { balance: a - 10 });
   *   await accounts.update(to, { balance: b + 10 });
   * });
   * ```
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const engine = this.#e;
    if (engine.inTransaction()) return engine.transaction(fn);
    let result: T;
    try {
      result = await engine.transaction(fn);
    } catch (error) {
      await this.#trail.rolledBack();
      throw error;
    }
    await this.#trail.committed();
    return result;
  }

  /** Runs an administrative operation and records it (with its error code if it failed). */
  async #admin<T>(
    action: string,
    resource: AuditResource,
    body: () => Promise<T>,
    facts: Readonly<Record<string, string>> = {},
    actor?: AccessActor,
  ): Promise<T> {
    let result: T;
    try {
      result = await body();
    } catch (error) {
      if (!(error instanceof FortressError && error.code.startsWith('FX_AUDIT_')))
        await this.#trail.operation(action, resource, error, facts, actor);
      throw error;
    }
    await this.#trail.operation(action, resource, null, facts, actor);
    return result;
  }

  /**
   * The audit ledger: checkpoints, proofs, search, archiving.
   *
   * @example
   * ```ts
   * const checkpoint = await db.audit.checkpoint();   // a signed C2SP checkpoint
   * const proof = await db.audit.tlogProof(42);       // a .tlog-proof file for entry 42
   * for await (const entry of db.audit.entries({ action: 'table.', newestFirst: true, limit: 20 })) …
   * ```
   */
  get audit(): AuditHandle {
    return this.#auditHandle();
  }

  #auditHandle(actor?: AccessActor): AuditHandle {
    this.#requireEngine();
    const ledger = this.#trail.ledger;
    if (ledger === null) throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
    return new AuditHandle(ledger, this.#trail, actor);
  }

  /** Stops background jobs (they resume at the next open), seals and closes the files. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#orphanScan !== null) clearInterval(this.#orphanScan);
    this.#maskKey?.dispose();
    this.#maskKey = null;
    await (await this.#rewrapJobs?.jobs.catch(() => null))?.close();
    await this.#stopDatabaseSweeper();
    (this.#engine ?? this.#lazyEngine)?.close();
    try {
      await this.#trail.ledger?.close();
    } catch {
      // A ledger that cannot store its tail now finds it again at the next open (entries are durable).
    }
    this.#trail.sealed();
    if (this.keys.state === 'unsealed') {
      try {
        await this.keys.flushUsage();
      } catch {
        // Usage is leased ahead in the store; a missed flush never lets a counter go backwards.
      }
    }
    await this.keys.close();
    await this.#sync?.close().catch(() => undefined);
    for (const driver of [...this.#drivers].reverse()) await driver.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The page key: the raw bytes of a dedicated index-purpose key (created on first use). */
async function pageKeyOf(keys: KeyManager): Promise<Uint8Array> {
  if (!keys.listKeys().some((k) => k.name === PAGE_KEY)) {
    if (!keys.listKeys().some((k) => k.name === 'fortress/storage')) {
      await keys.createKey({ name: 'fortress/storage', purpose: 'kek' });
    }
    await keys.createKey({ name: PAGE_KEY, purpose: 'index', parent: 'fortress/storage' });
  }
  const key = await keys.indexKey(PAGE_KEY, 1);
  return dataKeyMaterial(key);
}

export { Transaction };

function checkPrincipal(
  principal: FortressOptions['principal'],
  tenant: string,
): { type: string; id: string; tenant: string } {
  if (principal === undefined) return processPrincipal(tenant);
  assertOptions(principal, 'principal');
  const type: unknown = principal.type ?? 'process';
  if (typeof type !== 'string' || !/^[a-z][a-z0-9-]{0,63}$/.test(type)) {
    throw new InvalidArgumentError('principal.type', 'expected 1-64 lower-case letters, digits or "-"');
  }
  if (
    typeof principal.id !== 'string' ||
    principal.id.length === 0 ||
    principal.id.length > 256 ||
    /\p{Cc}/u.test(principal.id)
  ) {
    throw new InvalidArgumentError('principal.id', 'expected 1-256 characters without control characters');
  }
  return { type, id: principal.id, tenant };
}

function checkAuditOptions(audit: FortressOptions['audit']): {
  checkpointIntervalMs: number;
  mlDsa: boolean;
  groupCommit: 'microtask' | 'turn';
} {
  if (audit === undefined) return { checkpointIntervalMs: 60_000, mlDsa: false, groupCommit: 'microtask' };
  assertOptions(audit, 'audit');
  for (const key of Object.keys(audit)) {
    if (key !== 'checkpointIntervalMs' && key !== 'mlDsa' && key !== 'groupCommit') {
      throw new InvalidArgumentError('audit', `unknown option ${JSON.stringify(key.slice(0, 40))}`);
    }
  }
  const interval: unknown = audit.checkpointIntervalMs ?? 60_000;
  if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 0 || interval > 86_400_000) {
    throw new InvalidArgumentError('audit.checkpointIntervalMs', 'expected an integer from 0 to 86400000');
  }
  const mlDsa: unknown = audit.mlDsa ?? false;
  if (typeof mlDsa !== 'boolean') throw new InvalidArgumentError('audit.mlDsa', 'expected true or false');
  const groupCommit: unknown = audit.groupCommit ?? 'microtask';
  if (groupCommit !== 'microtask' && groupCommit !== 'turn') {
    throw new InvalidArgumentError('audit.groupCommit', "expected 'microtask' or 'turn'");
  }
  return { checkpointIntervalMs: interval, mlDsa, groupCommit };
}
