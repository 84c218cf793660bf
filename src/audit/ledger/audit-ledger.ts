/**
 * @module audit/ledger/audit-ledger
 * The tamper-evident audit ledger: an append-only log of entries whose bytes are the leaves of an
 * RFC 6962 Merkle tree, published as signed C2SP checkpoints, with inclusion and consistency proofs.
 *
 * Durability and fail-closed: `append()` resolves only once the entry is committed; if storage
 * refuses, every caller waiting on that batch gets `FX_AUDIT_UNAVAILABLE` — and the operation the
 * entry describes must fail with it. `appendWithin(tx, …)` writes entries inside the caller's own
 * transaction, so a data write and its entry commit (or roll back) together.
 *
 * Group commit: concurrent `append()` calls share one transaction — entries queue while a batch is
 * being written and the next batch takes them all (up to `maxBatch`). A batch starts when the
 * caller yields (`groupCommit: 'microtask'`, the lowest latency for one caller), or at the end of
 * the event loop's turn (`'turn'`): a server's requests that arrived together on different
 * connections are each handled in a callback of their own, and only `'turn'` lets their entries
 * share one commit.
 *
 * The tree: appends update the in-memory right edge (`MerkleFrontier`, O(log n) hashes) and queue
 * the nodes they complete; those nodes and the stored tree size are written every `treeFlushEntries`
 * entries, before a checkpoint or proof, and at close. A restart reads the right edge back from the
 * stored nodes and re-hashes only the entries after it. A transaction that rolled back after
 * appending is noticed at the next append (the entry count in storage differs from the one in
 * memory), and the tree state is reloaded from storage.
 *
 * Several processes on one database (PostgreSQL, `concurrentWriters`): the log stays one linear
 * sequence with one sequencer in the database — the state row, locked (`FOR UPDATE`) by every
 * transaction that appends, at READ COMMITTED, so the holder always reads the latest committed
 * state and never fails with a serialization conflict. Each commit stores the tree nodes it
 * completed, so a process that finds another's entries after its own reloads in O(1) round trips
 * (the right edge), without re-hashing. A caller's own transaction never takes that lock (it would
 * serialise every write in the cluster behind one row and, at SERIALIZABLE, fail whenever another
 * process appended first): `appendWithin` stages the entries in `fx_audit_staged`, where they commit
 * or roll back with the caller's data, and the group commit moves them into the log, numbered, in
 * its next batch (`sequenceStaged()` waits for that; every process also sweeps for entries a
 * process that died after its commit left behind).
 */
import { existsSync } from 'node:fs';
import { writeFile, rename, mkdir, open as openFile } from 'node:fs/promises';
import path from 'node:path';
import type { SqlSpelling, SqlValue, StorageDriver, StorageSession } from '../../storage/dialect.js';
import { AuditError, FortressError } from '../../util/errors.js';
import { assertInteger, assertOptions, assertString } from '../../util/bytes.js';
import {
  auditTime,
  checkAuditRecord,
  decodeAuditEntry,
  encodeAuditEntry,
  principalText,
  resourcePath,
  type AuditEntry,
  type AuditRecord,
} from '../entry/audit-entry.js';
import { hashLeaf } from '../merkle/merkle-hash.js';
import { MerkleFrontier, type NodeWrite } from '../merkle/merkle-frontier.js';
import { rangeNodes, type NodeId } from '../merkle/node-id.js';
import { consistencyPlan, inclusionPlan, rootPlan } from '../merkle/merkle-proofs.js';
import {
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type ParsedCheckpoint,
} from '../note/checkpoint.js';
import { parseSignedNote, type StandardNoteSigner } from '../note/signed-note.js';
import { formatTlogProof } from '../note/tlog-proof.js';
import { formatSegment, segmentFileName } from '../segment/segment-file.js';
import { bundlePath, TILE_HEIGHT, TILE_WIDTH, tilePath, tilesOf } from '../tiles/tile-layout.js';
import { constantTimeEqual } from '../../crypto/memory/constant-time.js';
import { verifyLiveLedger, type VerifyOptions, type VerifyReport } from '../verify/ledger-verifier.js';
import { ledgerDdl, SQL, type CheckpointRow, type StagedRow, type StateRow } from './ledger-schema.js';

export interface AuditLedgerOptions {
  readonly driver: StorageDriver;
  /**
   * The log's origin line in checkpoints (a C2SP key name: no spaces or "+"). Fixed when the ledger
   * is created; a different value later is ignored in favour of the stored one.
   */
  readonly origin: string;
  /** Checkpoint signers (the first is the log key); null or empty while sealed. */
  readonly signers?: () => readonly StandardNoteSigner[] | null;
  /** Publish a checkpoint this often when the log grew (ms; 0 = only on demand). @default 60000 */
  readonly checkpointIntervalMs?: number;
  /**
   * Several processes share the ledger: the periodic checkpoint is signed only by the one this
   * answers true for (the elected signer); the others still sign on demand. @default always true
   */
  readonly checkpointLeader?: () => Promise<boolean>;
  /** Store the tree nodes at least every this many entries. @default 4096 */
  readonly treeFlushEntries?: number;
  /** Most entries in one group commit. @default 1024 */
  readonly maxBatch?: number;
  /**
   * When a group commit starts: as soon as the appending caller yields (`microtask`), or once the
   * event loop's current turn is over (`turn`: entries of callbacks that ran in the same turn, such
   * as concurrent HTTP requests, share the commit). @default 'microtask'
   */
  readonly groupCommit?: 'microtask' | 'turn';
  /** Clock (ms since the epoch), for tests. @default Date.now */
  readonly now?: () => number;
}

export interface AppendOptions {
  /**
   * @internal The records were built by Fortress's own audit trail from checked parts, so the
   * per-field validation is skipped (it costs a few µs on every audited operation).
   */
  readonly wellFormed?: boolean;
  /**
   * The caller does not wait for the result from inside a transaction body (the entry is written
   * once that transaction ends), so `append` may be called there.
   */
  readonly queued?: boolean;
}

/** A checkpoint as stored: the signed note and what it says. */
export interface StoredCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  /** When it was signed (ms since the epoch). */
  readonly time: number;
  /** The signed C2SP note, verbatim. */
  readonly note: string;
}

/** An entry's inclusion evidence against a checkpoint. */
export interface InclusionEvidence {
  readonly seq: number;
  /** The entry's canonical bytes (null once archived and pruned). */
  readonly entry: Uint8Array | null;
  readonly checkpoint: StoredCheckpoint;
  readonly proof: Uint8Array[];
}

/** Filters for `entries()`; every one given must match. */
export interface AuditQuery {
  readonly fromSeq?: number;
  readonly toSeq?: number;
  /** `type:id@tenant`, or a prefix of it ending in `:` or `@` (e.g. `user:`). */
  readonly principal?: string;
  /** Exact action (`table.get`) or a prefix ending in `.` (`table.`). */
  readonly action?: string;
  /** Resource path prefix: `tenant/database/table[/column]` or `key:<name>`. */
  readonly resource?: string;
  readonly decision?: 'allow' | 'deny';
  readonly outcome?: 'ok' | 'error';
  /** Time range (ms since the epoch), inclusive. */
  readonly since?: number;
  readonly until?: number;
  /** Newest first. @default false */
  readonly newestFirst?: boolean;
  /** At most this many entries. @default unlimited */
  readonly limit?: number;
  /** A digest to look for anywhere in the entry (from `AuditHasher.hash`). */
  readonly digest?: string;
}

interface Waiting {
  readonly record: AuditRecord;
  readonly resolve: (seq: number) => void;
  readonly reject: (error: Error) => void;
}

interface WaitingForStaged {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

const DEFAULTS = { checkpointIntervalMs: 60_000, treeFlushEntries: 4096, maxBatch: 1024 };
/** How often each process looks for staged entries nobody sequenced (their process died). */
const STAGED_SWEEP_MS = 1000;
/** Tree nodes fetched per statement. */
const NODES_PER_QUERY = 32;

function unavailable(cause: unknown): AuditError {
  if (cause instanceof AuditError && cause.code === 'FX_AUDIT_UNAVAILABLE') return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new AuditError(
    'FX_AUDIT_UNAVAILABLE',
    `the audit ledger could not durably record the entry, so the operation was refused: ${detail}`,
    { cause },
  );
}

function toBytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new AuditError('FX_AUDIT_FORMAT', 'a stored ledger value is not bytes (corrupt ledger)');
  }
  return value;
}

/**
 * @example
 * ```ts
 * const ledger = await AuditLedger.open({ driver, origin: 'fortress.example/audit', signers: () => [signer] });
 * const seq = await ledger.append(record);           // resolves once durable
 * const cp = await ledger.checkpoint();               // signed C2SP checkpoint
 * const file = await ledger.tlogProof(seq);           // .tlog-proof text
 * ```
 */
export class AuditLedger {
  readonly #driver: StorageDriver;
  readonly #options: Required<
    Omit<AuditLedgerOptions, 'driver' | 'origin' | 'signers' | 'checkpointLeader'>
  > & {
    signers: () => readonly StandardNoteSigner[] | null;
    checkpointLeader: (() => Promise<boolean>) | undefined;
  };
  #origin = '';
  /** Entries committed (as far as this process knows): the next seq. */
  #size = 0;
  /** Entries archived and pruned (seq < archived live in segment files). */
  #archived = 0;
  /** Tree size whose nodes are in storage. */
  #treeSize = 0;
  #frontier: MerkleFrontier = MerkleFrontier.empty();
  /** Completed nodes not yet stored. */
  #pending: NodeWrite[] = [];
  #queue: Waiting[] = [];
  /** Callers of `sequenceStaged()` waiting for the next batch. */
  #stagedWaiting: WaitingForStaged[] = [];
  #flushing = false;
  /** Several processes append to this database (entries from transactions are staged). */
  readonly #concurrent: boolean;
  #sweep: NodeJS.Timeout | null = null;
  /**
   * The last group commit failed (processes appending concurrently): until one succeeds, entries
   * are not staged either — fail closed rather than pile up acknowledged operations whose entries
   * cannot reach the log.
   */
  #sequencerFailure: AuditError | null = null;
  /** Starts a group commit (see `groupCommit`). */
  readonly #schedule: (run: () => void) => void;
  #closed = false;
  #broken: AuditError | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastCheckpointSize = -1;
  /** An `appendWithin` transaction may have rolled back: check storage before the next append. */
  #unsure = true;
  /** A ledger transaction that stored tree nodes did not (yet) commit: reload before the next one. */
  #mustReload = false;
  #ownEpoch = 0;

  private constructor(options: AuditLedgerOptions) {
    this.#driver = options.driver;
    this.#concurrent = options.driver.capabilities.concurrentWriters;
    this.#options = {
      checkpointIntervalMs: options.checkpointIntervalMs ?? DEFAULTS.checkpointIntervalMs,
      treeFlushEntries: options.treeFlushEntries ?? DEFAULTS.treeFlushEntries,
      maxBatch: options.maxBatch ?? DEFAULTS.maxBatch,
      groupCommit: options.groupCommit ?? 'microtask',
      now: options.now ?? Date.now,
      signers: options.signers ?? (() => null),
      checkpointLeader: options.checkpointLeader,
    };
    this.#schedule = this.#options.groupCommit === 'turn' ? (run) => setImmediate(run) : queueMicrotask;
  }

  /** Opens (creating if needed) the ledger in `driver`'s database and recovers its tree. */
  static async open(options: AuditLedgerOptions): Promise<AuditLedger> {
    assertOptions(options, 'options');
    assertString(options.origin, 'origin');
    if (!/^[^\s+]{1,255}$/u.test(options.origin)) {
      throw new FortressError('FX_INVALID_ARGUMENT', 'origin: 1-255 characters, no whitespace or "+"');
    }
    if (options.checkpointIntervalMs !== undefined)
      assertInteger(options.checkpointIntervalMs, 'checkpointIntervalMs', 0, 86_400_000);
    if (options.treeFlushEntries !== undefined)
      assertInteger(options.treeFlushEntries, 'treeFlushEntries', 1, 1_000_000);
    if (options.maxBatch !== undefined) assertInteger(options.maxBatch, 'maxBatch', 1, 100_000);
    const groupCommit: unknown = options.groupCommit ?? 'microtask';
    if (groupCommit !== 'microtask' && groupCommit !== 'turn') {
      throw new FortressError('FX_INVALID_ARGUMENT', "groupCommit: 'microtask' or 'turn'");
    }
    const driver: unknown = options.driver;
    if (
      typeof driver !== 'object' ||
      driver === null ||
      typeof (driver as StorageDriver).isolatedTransaction !== 'function' ||
      typeof (driver as StorageDriver).inTransaction !== 'function'
    ) {
      throw new FortressError('FX_INVALID_ARGUMENT', 'driver: expected a StorageDriver');
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new FortressError('FX_INVALID_ARGUMENT', 'now: expected a function returning ms since the epoch');
    }
    if (options.signers !== undefined && typeof options.signers !== 'function') {
      throw new FortressError('FX_INVALID_ARGUMENT', 'signers: expected a function');
    }
    const ledger = new AuditLedger(options);
    await options.driver.exec(ledgerDdl(options.driver.spelling));
    await options.driver.transaction(async (tx) => {
      const state = await tx.get<StateRow>(SQL.state);
      if (state === undefined) await tx.run(SQL.insertState, [options.origin]);
      await ledger.#reload(tx);
    });
    const last = await options.driver.get<CheckpointRow>(SQL.lastCheckpoint);
    ledger.#lastCheckpointSize = last?.size ?? -1;
    ledger.#startTimer();
    if (ledger.#concurrent) ledger.#startSweep();
    return ledger;
  }

  /** The log's origin (checkpoint first line). */
  get origin(): string {
    return this.#origin;
  }

  /** True when called from inside a transaction body of the ledger's driver. */
  inTransaction(): boolean {
    return this.#driver.inTransaction();
  }

  /** Number of entries committed (including archived ones): the next entry's seq. */
  get size(): number {
    return this.#size;
  }

  /** Entries archived to segment files and pruned (seq below this). */
  get archived(): number {
    return this.#archived;
  }

  #startTimer(): void {
    const every = this.#options.checkpointIntervalMs;
    if (every === 0) return;
    const leader = this.#options.checkpointLeader;
    this.#timer = setInterval(() => {
      if (this.#broken !== null) return;
      const signers = this.#options.signers();
      if (signers === null || signers.length === 0) return;
      // A failed periodic checkpoint surfaces at the next explicit one or at verify.
      if (leader === undefined) {
        if (this.#size !== this.#lastCheckpointSize) this.checkpoint().catch(() => undefined);
        return;
      }
      // Other processes append too (this one's size is not the log's): the elected signer asks
      // storage; checkpoint() returns the latest one when the log has not grown.
      leader()
        .then(
          (elected) => (elected ? this.checkpoint() : null),
          () => null,
        )
        .catch(() => undefined);
    }, every);
    this.#timer.unref();
  }

  /**
   * Sequences entries that committed transactions staged and nobody sequenced (a process died
   * between its commit and its group commit). A failure is retried at the next sweep.
   */
  #startSweep(): void {
    this.#sweep = setInterval(() => {
      if (this.#broken !== null || this.#closed || this.#flushing) return;
      // After a failure, try again even with nothing staged: success lifts the refusal.
      (this.#sequencerFailure !== null ? this.sequenceStaged() : this.#driver.get(SQL.anyStaged))
        .then((row) => (row === undefined ? undefined : this.sequenceStaged()))
        .catch(() => undefined);
    }, STAGED_SWEEP_MS);
    this.#sweep.unref();
  }

  /** Re-reads size, archive mark and the stored right edge, and re-hashes entries after it. */
  async #reload(session: StorageSession): Promise<void> {
    const state = await session.get<StateRow>(SQL.state);
    if (state === undefined) throw new AuditError('FX_AUDIT_UNAVAILABLE', 'the ledger state row is missing');
    this.#origin = state.origin;
    this.#archived = state.archived;
    this.#treeSize = state.tree_size;
    const max = await session.get<{ m: number | null }>(SQL.maxSeq);
    this.#size = Math.max(max?.m == null ? 0 : max.m + 1, state.archived, state.tree_size);
    const edge = rangeNodes(0, this.#treeSize);
    const hashes = await this.#nodes(session, edge);
    this.#frontier = MerkleFrontier.fromNodes(this.#treeSize, hashes);
    this.#pending = [];
    for (let from = this.#treeSize; from < this.#size; from += 1024) {
      const rows = await session.all<{ seq: number; entry: unknown }>(SQL.entriesRange, [
        from,
        Math.min(from + 1024, this.#size),
      ]);
      let expected = from;
      for (const row of rows) {
        if (row.seq !== expected) {
          throw new AuditError(
            'FX_AUDIT_UNAVAILABLE',
            `the ledger is missing entry ${expected}; run fortress audit verify`,
          );
        }
        for (const node of this.#frontier.append(hashLeaf(toBytes(row.entry)))) this.#pending.push(node);
        expected++;
      }
      if (expected !== Math.min(from + 1024, this.#size)) {
        throw new AuditError(
          'FX_AUDIT_UNAVAILABLE',
          `the ledger is missing entry ${expected}; run fortress audit verify`,
        );
      }
    }
  }

  /** The hashes of tree nodes `ids`, in order, a few statements in all (a right edge or a proof). */
  async #nodes(session: StorageSession, ids: readonly NodeId[]): Promise<Uint8Array[]> {
    const found = new Map<string, Uint8Array>();
    for (let from = 0; from < ids.length; from += NODES_PER_QUERY) {
      const chunk = ids.slice(from, from + NODES_PER_QUERY);
      const params: number[] = [];
      for (const id of chunk) params.push(id.level, id.index);
      const rows = await session.all<{ level: number; idx: number; hash: unknown }>(
        `SELECT level, idx, hash FROM fx_audit_nodes WHERE ${chunk.map(() => '(level = ? AND idx = ?)').join(' OR ')}`,
        params,
      );
      for (const row of rows) found.set(`${row.level}/${row.idx}`, toBytes(row.hash));
    }
    return ids.map((id) => {
      const hash = found.get(`${id.level}/${id.index}`);
      if (hash === undefined) {
        throw new AuditError(
          'FX_AUDIT_UNAVAILABLE',
          `the ledger's tree is missing node (${id.level}, ${id.index}); run fortress audit verify`,
        );
      }
      return hash;
    });
  }

  /**
   * Makes memory match storage before an append. Where writes are serialised (SQLite) they can
   * differ only after a transaction that appended through `appendWithin` rolled back (group commits
   * run in transactions of their own), so the check runs only then. Where processes append
   * concurrently, see `#syncLocked`.
   */
  async #sync(session: StorageSession): Promise<void> {
    if (this.#concurrent) return this.#syncLocked(session);
    if (this.#mustReload) {
      await this.#reload(session);
      this.#mustReload = false;
      this.#unsure = false;
      return;
    }
    if (!this.#unsure) return;
    const max = await session.get<{ m: number | null }>(SQL.maxSeq);
    const stored = max?.m == null ? this.#archived : max.m + 1;
    if (stored !== this.#size) await this.#reload(session);
    this.#unsure = false;
  }

  /**
   * Takes the sequencer: the state row's lock, held until the transaction ends (the transaction
   * runs at READ COMMITTED, so what it reads from here on is the latest committed state). Every
   * commit here stores its tree, so the stored tree size is the log's size: when it differs from
   * memory, another process appended (or this one's last commit failed) and the right edge is read
   * back — O(1) statements, nothing re-hashed.
   */
  async #syncLocked(session: StorageSession): Promise<void> {
    const state = await session.get<StateRow>(SQL.lockState);
    if (state === undefined) throw new AuditError('FX_AUDIT_UNAVAILABLE', 'the ledger state row is missing');
    if (
      this.#mustReload ||
      state.tree_size !== this.#size ||
      state.tree_size !== this.#treeSize ||
      state.archived !== this.#archived
    ) {
      await this.#reload(session);
    }
    this.#mustReload = false;
  }

  /** Reads work on a broken ledger (for forensics), not on a closed one. */
  #checkOpen(): void {
    if (this.#closed) throw new FortressError('FX_CLOSED', 'the audit ledger is closed');
  }

  #check(): void {
    if (this.#closed) throw new FortressError('FX_CLOSED', 'the audit ledger is closed');
    if (this.#broken !== null) throw this.#broken;
  }

  /**
   * Appends entries inside the caller's transaction `tx` (they commit or roll back with it).
   * Returns the first entry's seq — or, where processes append concurrently, `undefined`: the
   * entries are staged with the caller's data and numbered by the next group commit after the
   * transaction commits (call `sequenceStaged()` then to wait for it). Throws FX_AUDIT_FORMAT for a
   * malformed record and FX_AUDIT_UNAVAILABLE when storage refuses (the caller's transaction must
   * then fail).
   */
  async appendWithin(
    tx: StorageSession,
    records: readonly AuditRecord[],
    options: AppendOptions = {},
  ): Promise<number | undefined> {
    this.#check();
    if (options.wellFormed !== true) {
      records.forEach((record, i) => {
        checkAuditRecord(record, `records[${i}]`);
      });
    }
    try {
      if (this.#concurrent) {
        if (this.#sequencerFailure !== null) throw this.#sequencerFailure;
        await this.#stage(tx, records);
        return undefined;
      }
      await this.#sync(tx);
      // Until this transaction's fate is known, the next append checks storage first.
      this.#unsure = true;
      return await this.#appendRows(tx, records);
    } catch (error) {
      throw unavailable(error);
    }
  }

  /** The entries as they will be stored, but with seq 0: the sequencer numbers them. */
  async #stage(tx: StorageSession, records: readonly AuditRecord[]): Promise<void> {
    const now = this.#options.now();
    const time = auditTime(now);
    await tx.runBatch(
      SQL.stageEntry,
      records.map((record) => [now, encodeAuditEntry(record, 0, time)]),
    );
  }

  /**
   * Writes `staged` entries (numbered now, keeping the time they were staged at), then `records`,
   * as the next entries of the log, and moves the tree along.
   */
  async #appendRows(
    tx: StorageSession,
    records: readonly AuditRecord[],
    staged: readonly StagedRow[] = [],
  ): Promise<number> {
    const first = this.#size;
    const count = staged.length + records.length;
    const now = this.#options.now();
    const time = auditTime(now);
    const rows: SqlValue[][] = new Array<SqlValue[]>(count);
    const leaves: Uint8Array[] = new Array<Uint8Array>(count);
    for (let i = 0; i < count; i++) {
      const seq = first + i;
      let record: AuditRecord;
      let bytes: Uint8Array;
      let ms: number;
      if (i < staged.length) {
        const row = staged[i]!;
        // Decoded strictly: a staged row is storage content like any other.
        const entry = decodeAuditEntry(toBytes(row.entry));
        record = entry;
        bytes = encodeAuditEntry(entry, seq, entry.time);
        ms = row.time;
      } else {
        record = records[i - staged.length]!;
        bytes = encodeAuditEntry(record, seq, time);
        ms = now;
      }
      leaves[i] = hashLeaf(bytes);
      rows[i] = [
        seq,
        ms,
        principalText(record.principal),
        record.action,
        resourcePath(record.resource),
        record.decision.effect,
        record.outcome.status,
        bytes,
      ];
    }
    if (count > 0) await tx.runBatch(SQL.insertEntry, rows);
    // Memory moves ahead now; if `tx` rolls back, the next #sync notices and reloads.
    this.#size = first + count;
    for (const leaf of leaves) for (const node of this.#frontier.append(leaf)) this.#pending.push(node);
    // Where processes share the log every commit stores its tree (see #syncLocked).
    if (this.#concurrent || this.#frontier.size - this.#treeSize >= this.#options.treeFlushEntries)
      await this.#storeTree(tx);
    return first;
  }

  /**
   * The sequencer's turn (processes appending concurrently): takes the lock, moves up to a batch of
   * staged entries into the log ahead of `records` (when `takeStaged`: someone waits for them, or
   * the sweep found some — a batch of reads alone saves the round trip), stores the tree. Returns
   * `records`' first seq and whether entries may still be staged.
   */
  async #sequence(
    tx: StorageSession,
    records: readonly AuditRecord[],
    takeStaged = true,
  ): Promise<{ first: number; more: boolean }> {
    await this.#syncLocked(tx);
    if (!takeStaged) return { first: await this.#appendRows(tx, records), more: false };
    const limit = Math.max(1, this.#options.maxBatch - records.length);
    const staged = await tx.all<StagedRow>(SQL.takeStaged, [limit]);
    // DELETE … RETURNING gives no order: staged order is commit-ish order, by id.
    staged.sort((a, b) => a.id - b.id);
    const first = await this.#appendRows(tx, records, staged);
    return { first: first + staged.length, more: staged.length === limit };
  }

  async #storeTree(tx: StorageSession): Promise<void> {
    if (this.#pending.length === 0 && this.#treeSize === this.#frontier.size) return;
    await tx.runBatch(
      SQL.insertNode,
      this.#pending.map((n) => [n.level, n.index, n.hash]),
    );
    await tx.run(SQL.setTreeSize, [this.#frontier.size]);
    this.#pending = [];
    this.#treeSize = this.#frontier.size;
  }

  /**
   * Appends one entry with group commit: resolves with its seq once it is durably stored, or
   * rejects with FX_AUDIT_UNAVAILABLE (fail closed: the described operation must then fail too).
   */
  append(record: AuditRecord, options: AppendOptions = {}): Promise<number> {
    try {
      this.#check();
      if (options.queued !== true && this.#driver.inTransaction()) {
        // The group commit waits for the running transaction, which waits for this: refuse
        // instead of hanging. Inside a transaction, record with appendWithin(tx, …).
        throw new AuditError(
          'FX_AUDIT_UNAVAILABLE',
          'append() was awaited inside a transaction body; use appendWithin(tx, …) there',
        );
      }
      if (options.wellFormed !== true) checkAuditRecord(record);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ record, resolve, reject });
      this.#startFlush();
    });
  }

  /**
   * Resolves once every entry that transactions staged and committed before the call is in the
   * log (processes appending concurrently; elsewhere at once). Rejects with FX_AUDIT_UNAVAILABLE if
   * the group commit failed — the entries stay staged, committed, and a later one moves them.
   */
  sequenceStaged(): Promise<void> {
    if (!this.#concurrent) return Promise.resolve();
    try {
      this.#check();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return new Promise<void>((resolve, reject) => {
      this.#stagedWaiting.push({ resolve, reject });
      this.#startFlush();
    });
  }

  #startFlush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    this.#schedule(() => {
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    try {
      let more = false;
      while (this.#queue.length > 0 || this.#stagedWaiting.length > 0 || more) {
        const batch = this.#queue.splice(0, this.#options.maxBatch);
        const stagedWaiting = this.#stagedWaiting.splice(0);
        const records = batch.map((w) => w.record);
        try {
          let first: number;
          if (this.#concurrent) {
            const takeStaged: boolean = more || stagedWaiting.length > 0;
            const done: { first: number; more: boolean } = await this.#transact(false, (tx) =>
              this.#sequence(tx, records, takeStaged),
            );
            this.#sequencerFailure = null;
            first = done.first;
            more = done.more;
          } else {
            first = await this.#driver.isolatedTransaction(async (tx) => {
              await this.#sync(tx);
              return this.#appendRows(tx, records);
            });
          }
          for (let i = 0; i < batch.length; i++) batch[i]!.resolve(first + i);
          // Waiters from before this batch: everything they wait for was committed when it began,
          // unless more than one batch was staged — then they wait for the next one.
          if (more) this.#stagedWaiting.unshift(...stagedWaiting);
          else for (const waiting of stagedWaiting) waiting.resolve();
        } catch (error) {
          more = false;
          const failure = unavailable(error);
          if (this.#concurrent) this.#sequencerFailure = failure;
          for (const waiting of batch) waiting.reject(failure);
          for (const waiting of stagedWaiting) waiting.reject(failure);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Stores pending tree nodes now (also done before checkpoints, proofs and at close). */
  async flushTree(): Promise<void> {
    this.#check();
    await this.#own(async (tx) => {
      await this.#takeTurn(tx);
      await this.#storeTree(tx);
    });
  }

  /** Before a ledger operation of its own: in step with storage, and staged entries sequenced. */
  async #takeTurn(tx: StorageSession): Promise<void> {
    if (!this.#concurrent) return this.#sync(tx);
    let more = true;
    while (more) more = (await this.#sequence(tx, [])).more;
  }

  /**
   * A transaction of the ledger's own, never part of a caller's: from inside a transaction body it
   * would wait for itself, so it is refused there.
   */
  #own<T>(fn: (tx: StorageSession) => Promise<T>): Promise<T> {
    if (this.#driver.inTransaction()) {
      return Promise.reject(
        new AuditError(
          'FX_AUDIT_UNAVAILABLE',
          'audit ledger operations cannot run inside a transaction body',
        ),
      );
    }
    return this.#transact(true, fn);
  }

  /**
   * A ledger transaction: at READ COMMITTED behind the state row's lock where processes append
   * concurrently (the body takes the lock first), serialised elsewhere. `own`: not a group commit.
   */
  #transact<T>(own: boolean, fn: (tx: StorageSession) => Promise<T>): Promise<T> {
    if (!own && !this.#concurrent) return this.#driver.isolatedTransaction(fn);
    // Tree nodes move from memory to storage inside `fn`; until its transaction commits, memory
    // may be ahead of storage (a failed COMMIT, or a rerun after a serialization failure, would
    // otherwise leave memory believing nodes are stored that are not).
    const epoch = ++this.#ownEpoch;
    return this.#driver
      .isolatedTransaction(
        async (tx) => {
          const result = await fn(tx).catch((error: unknown) => {
            this.#mustReload = true;
            throw error;
          });
          this.#mustReload = true;
          return result;
        },
        { isolation: 'read-committed' },
      )
      .then(
        (result) => {
          if (epoch === this.#ownEpoch) this.#mustReload = false;
          return result;
        },
        (error: unknown) => {
          this.#mustReload = true;
          throw error;
        },
      );
  }

  #signers(): readonly StandardNoteSigner[] {
    const signers = this.#options.signers();
    if (signers === null || signers.length === 0) {
      throw new FortressError('FX_SEALED', 'no checkpoint signing key is available (Fortress is sealed)');
    }
    return signers;
  }

  #parse(row: CheckpointRow, signers: readonly StandardNoteSigner[] | null): StoredCheckpoint {
    let checkpoint: ParsedCheckpoint;
    if (signers !== null && signers.length > 0) {
      checkpoint = openCheckpoint(
        row.note,
        signers.map((s) => s.verifier()),
        { origin: this.#origin },
      ).checkpoint;
    } else {
      // Read-only use without keys: parsed, not verified — verify() checks signatures with pinned keys.
      checkpoint = parseCheckpoint(parseSignedNote(row.note, 'stored checkpoint').text);
    }
    if (checkpoint.size !== row.size) {
      throw new AuditError(
        'FX_AUDIT_VERIFY_FAILED',
        `the checkpoint stored at size ${row.size} says ${checkpoint.size}`,
      );
    }
    return Object.freeze({ size: row.size, rootHash: checkpoint.rootHash, time: row.time, note: row.note });
  }

  /**
   * Signs and stores a checkpoint of the current tree (or returns the latest one if the log has
   * not grown). Before signing it checks that the stored tree still has the root the previous
   * checkpoint signed: the log never signs two inconsistent checkpoints. A mismatch marks the
   * ledger broken (FX_AUDIT_VERIFY_FAILED): appends are refused until it is repaired.
   */
  async checkpoint(): Promise<StoredCheckpoint> {
    this.#check();
    const signers = this.#signers();
    return this.#own(async (tx) => {
      await this.#takeTurn(tx);
      await this.#storeTree(tx);
      const size = this.#size;
      const lastRow = await tx.get<CheckpointRow>(SQL.lastCheckpoint);
      const last = lastRow === undefined ? null : this.#parse(lastRow, signers);
      if (last !== null && last.size === size) return last;
      if (last !== null) {
        if (last.size > size) {
          throw this.#fail(
            `the latest checkpoint is for ${last.size} entries but the log has ${size}: it was truncated`,
          );
        }
        const plan = rootPlan(last.size);
        const [root] = plan.assemble(await this.#nodes(tx, plan.nodes));
        if (!constantTimeEqual(root!, last.rootHash)) {
          throw this.#fail(
            `the stored tree no longer has the root checkpoint ${last.size} signed; run fortress audit verify`,
          );
        }
      }
      const rootHash = this.#frontier.root();
      const note = signCheckpoint({ origin: this.#origin, size, rootHash }, signers);
      const time = this.#options.now();
      await tx.run(SQL.insertCheckpoint, [size, time, note]);
      this.#lastCheckpointSize = size;
      return Object.freeze({ size, rootHash, time, note });
    });
  }

  #fail(message: string): AuditError {
    this.#broken = new AuditError('FX_AUDIT_VERIFY_FAILED', `audit ledger: ${message}`);
    return this.#broken;
  }

  /** The latest stored checkpoint, or null. */
  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    this.#checkOpen();
    const row = await this.#driver.get<CheckpointRow>(SQL.lastCheckpoint);
    return row === undefined ? null : this.#parse(row, this.#options.signers());
  }

  /** Every stored checkpoint, oldest first. */
  async checkpoints(): Promise<StoredCheckpoint[]> {
    this.#checkOpen();
    const signers = this.#options.signers();
    return (await this.#driver.all<CheckpointRow>(SQL.checkpoints)).map((row) => this.#parse(row, signers));
  }

  /** A checkpoint covering `seq`: the latest stored one if it does, else a new one. */
  async #checkpointFor(seq: number, size: number | undefined): Promise<StoredCheckpoint> {
    const signers = this.#options.signers();
    if (size !== undefined) {
      const row = await this.#driver.get<CheckpointRow>(SQL.checkpointAt, [size]);
      if (row === undefined) throw new AuditError('FX_AUDIT_NOT_FOUND', `no checkpoint at size ${size}`);
      return this.#parse(row, signers);
    }
    const latest = await this.#driver.get<CheckpointRow>(SQL.lastCheckpoint);
    if (latest !== undefined && latest.size > seq) return this.#parse(latest, signers);
    return this.checkpoint();
  }

  /** The stored bytes of entry `seq` (undefined if it does not exist or was archived). */
  async entryBytes(seq: number): Promise<Uint8Array | undefined> {
    this.#checkOpen();
    const row = await this.#driver.get<{ entry: unknown }>(SQL.entry, [seq]);
    return row === undefined ? undefined : toBytes(row.entry);
  }

  /** Entry `seq`, parsed (FX_AUDIT_NOT_FOUND if absent or archived). */
  async entry(seq: number): Promise<AuditEntry> {
    assertInteger(seq, 'seq', 0, Number.MAX_SAFE_INTEGER);
    const bytes = await this.entryBytes(seq);
    if (bytes === undefined) {
      throw new AuditError(
        'FX_AUDIT_NOT_FOUND',
        seq < this.#archived ? `entry ${seq} was archived to a segment file` : `no entry ${seq}`,
      );
    }
    return decodeAuditEntry(bytes);
  }

  /**
   * The inclusion proof of entry `seq` against the checkpoint at `size` (default: the latest
   * checkpoint that covers it, signing a new one if none does).
   */
  async proveInclusion(seq: number, size?: number): Promise<InclusionEvidence> {
    this.#check();
    assertInteger(seq, 'seq', 0, Number.MAX_SAFE_INTEGER);
    if (size !== undefined) assertInteger(size, 'size', 1, Number.MAX_SAFE_INTEGER);
    if (size !== undefined && seq >= size) {
      throw new FortressError('FX_INVALID_ARGUMENT', `seq ${seq} is not below the checkpoint size ${size}`);
    }
    // After the flush memory matches storage (a rolled-back append is forgotten by then).
    await this.flushTree();
    if (seq >= this.#size)
      throw new AuditError('FX_AUDIT_NOT_FOUND', `no entry ${seq} (the log has ${this.#size})`);
    const checkpoint = await this.#checkpointFor(seq, size);
    const plan = inclusionPlan(seq, checkpoint.size);
    const proof = plan.assemble(await this.#nodes(this.#driver, plan.nodes));
    const entry = (await this.entryBytes(seq)) ?? null;
    return { seq, entry, checkpoint, proof };
  }

  /** The consistency proof between two tree sizes (0 < size1 ≤ size2 ≤ stored tree). */
  async proveConsistency(size1: number, size2: number): Promise<Uint8Array[]> {
    this.#check();
    assertInteger(size1, 'size1', 1, Number.MAX_SAFE_INTEGER);
    assertInteger(size2, 'size2', size1, Number.MAX_SAFE_INTEGER);
    await this.flushTree();
    if (size2 > this.#treeSize) {
      throw new AuditError('FX_AUDIT_NOT_FOUND', `the log has ${this.#treeSize} entries, not ${size2}`);
    }
    const plan = consistencyPlan(size1, size2);
    return plan.assemble(await this.#nodes(this.#driver, plan.nodes));
  }

  /**
   * Entry `seq`'s evidence as a C2SP tlog-proof file. The entry's canonical bytes ride in the
   * `extra` line (which the format leaves unauthenticated: a checker authenticates them by hashing
   * them into the leaf the proof leads from).
   */
  async tlogProof(seq: number): Promise<string> {
    const evidence = await this.proveInclusion(seq);
    return formatTlogProof({
      index: seq,
      proof: evidence.proof,
      checkpointNote: evidence.checkpoint.note,
      ...(evidence.entry === null ? {} : { extra: evidence.entry }),
    });
  }

  /** Entries matching `query`, streamed in batches (oldest first unless `newestFirst`). */
  async *entries(query: AuditQuery = {}): AsyncGenerator<AuditEntry> {
    this.#checkOpen();
    const { sql, params } = compileQuery(query, this.#driver.spelling);
    // Entries staged by committed transactions belong in the answer. If they cannot be moved into
    // the log now, the log is still read as it stands (searching it must work for forensics).
    if (this.#broken === null) await this.sequenceStaged().catch(() => undefined);
    let remaining = query.limit ?? Number.POSITIVE_INFINITY;
    let cursor: number | null = null;
    const desc = query.newestFirst === true;
    while (remaining > 0) {
      const page = Math.min(512, remaining);
      const rows: { seq: number; entry: unknown }[] = await this.#driver.all<{ seq: number; entry: unknown }>(
        `${sql}${cursor === null ? '' : ` AND seq ${desc ? '<' : '>'} ?`} ORDER BY seq ${desc ? 'DESC' : 'ASC'} LIMIT ?`,
        [...params, ...(cursor === null ? [] : [cursor]), page],
      );
      for (const row of rows) {
        // A digest filter is decided in SQL: the digest is plain ASCII inside the canonical bytes.
        yield decodeAuditEntry(toBytes(row.entry));
        remaining--;
        if (remaining === 0) return;
      }
      if (rows.length < page) return;
      cursor = rows[rows.length - 1]!.seq;
    }
  }

  /**
   * Archives entries below `through` (exclusive) — those not yet archived — to a signed segment
   * file in `dir`, then prunes them from the hot store. The tree keeps their hashes, so proofs and
   * checkpoints stay valid, and `fortress audit verify --segments DIR` re-checks the entries.
   */
  async archive(options: { readonly before: number; readonly dir: string }): Promise<{
    file: string;
    first: number;
    count: number;
  }> {
    this.#check();
    assertOptions(options, 'options');
    assertInteger(options.before, 'before', 1, Number.MAX_SAFE_INTEGER);
    assertString(options.dir, 'dir');
    const signers = this.#signers();
    const checkpoint = await this.checkpoint();
    const before = options.before;
    if (before > checkpoint.size) {
      throw new FortressError('FX_INVALID_ARGUMENT', `before: the log has ${checkpoint.size} entries`);
    }
    const first = this.#archived;
    if (before <= first)
      throw new FortressError('FX_INVALID_ARGUMENT', `before: entries below ${first} are already archived`);
    const entries: Uint8Array[] = [];
    for (let from = first; from < before; from += 1024) {
      const rows = await this.#driver.all<{ seq: number; entry: unknown }>(SQL.entriesRange, [
        from,
        Math.min(from + 1024, before),
      ]);
      for (const row of rows) entries.push(toBytes(row.entry));
    }
    if (entries.length !== before - first) {
      throw new AuditError(
        'FX_AUDIT_VERIFY_FAILED',
        'entries are missing from the range to archive; run fortress audit verify',
      );
    }
    const segment = formatSegment(
      { origin: this.#origin, first, entries, checkpointNote: checkpoint.note },
      signers,
    );
    await mkdir(options.dir, { recursive: true });
    const file = path.join(options.dir, segmentFileName(first, entries.length));
    // Durable before anything is pruned: write, fsync, rename.
    const temporary = `${file}.tmp-${process.pid}`;
    await writeFile(temporary, segment.text);
    const handle = await openFile(temporary, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
    await this.#own(async (tx) => {
      if (this.#concurrent) await this.#syncLocked(tx);
      await tx.run(SQL.deleteThrough, [before]);
      await tx.run(SQL.setArchived, [before]);
      await tx.run(SQL.insertSegment, [
        first,
        entries.length,
        path.basename(file),
        segment.sha256,
        this.#options.now(),
      ]);
    });
    this.#archived = before;
    return { file, first, count: entries.length };
  }

  /**
   * Verifies the whole ledger offline-style (see `verifyLedger`) after storing pending nodes. With
   * no `verifiers`, the current signers' public keys are used — pass pinned keys to catch a
   * replaced signing key.
   */
  async verify(options: Partial<VerifyOptions> = {}): Promise<VerifyReport> {
    this.#check();
    await this.flushTree();
    const verifiers = options.verifiers ?? this.#signers().map((s) => s.verifier());
    return verifyLiveLedger(this.#driver, { ...options, verifiers });
  }

  /**
   * Writes the log as static C2SP tlog-tiles (https://c2sp.org/tlog-tiles) under `dir`: every tile
   * of a fresh checkpoint's tree, every entry bundle whose entries are still in the hot store
   * (bundles reaching into archived entries are left out: pruned, as the spec allows), and the
   * signed `checkpoint` last, so a client that reads it finds every tile it needs. Full tiles and
   * bundles already present are kept (they never change); partial ones are rewritten.
   */
  async exportTiles(dir: string): Promise<{ size: number; tiles: number; bundles: number; pruned: number }> {
    this.#check();
    assertString(dir, 'dir');
    const checkpoint = await this.checkpoint();
    let tiles = 0;
    let bundles = 0;
    let pruned = 0;
    const write = async (relative: string, bytes: Uint8Array | string): Promise<void> => {
      const file = path.join(dir, relative);
      await mkdir(path.dirname(file), { recursive: true });
      const temporary = `${file}.tmp-${process.pid}`;
      await writeFile(temporary, bytes);
      await rename(temporary, file);
    };
    for (const tile of tilesOf(checkpoint.size)) {
      const first = tile.index * TILE_WIDTH;
      const full = tile.width === TILE_WIDTH;
      if (!full || !existsSync(path.join(dir, tilePath(tile)))) {
        const rows = await this.#driver.all<{ idx: number; hash: unknown }>(SQL.nodesOfLevel, [
          tile.level * TILE_HEIGHT,
          first,
          first + tile.width,
        ]);
        if (rows.length !== tile.width) {
          throw new AuditError(
            'FX_AUDIT_UNAVAILABLE',
            `the ledger's tree lacks nodes of ${tilePath(tile)}; run fortress audit verify`,
          );
        }
        await write(tilePath(tile), Buffer.concat(rows.map((r) => toBytes(r.hash))));
        tiles++;
      }
      if (tile.level !== 0) continue;
      if (first < this.#archived) {
        pruned++;
        continue;
      }
      if (full && existsSync(path.join(dir, bundlePath(tile)))) continue;
      const entries = await this.#driver.all<{ seq: number; entry: unknown }>(SQL.entriesRange, [
        first,
        first + tile.width,
      ]);
      if (entries.length !== tile.width) {
        throw new AuditError(
          'FX_AUDIT_UNAVAILABLE',
          `entries of ${bundlePath(tile)} are missing; run fortress audit verify`,
        );
      }
      const parts: Uint8Array[] = [];
      for (const row of entries) {
        const bytes = toBytes(row.entry);
        // Bundles prefix each entry with a big-endian uint16 length.
        if (bytes.length > 0xffff) {
          throw new AuditError(
            'FX_AUDIT_FORMAT',
            `entry ${row.seq} is ${bytes.length} bytes: too large for a tlog-tiles bundle`,
          );
        }
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(bytes.length);
        parts.push(prefix, bytes);
      }
      await write(bundlePath(tile), Buffer.concat(parts));
      bundles++;
    }
    await write('checkpoint', checkpoint.note);
    return { size: checkpoint.size, tiles, bundles, pruned };
  }

  /** Waits for queued appends, stores the tree, signs a final checkpoint if it can. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#flushing || this.#queue.length > 0) await new Promise((r) => setImmediate(r));
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#sweep !== null) clearInterval(this.#sweep);
    try {
      if (this.#broken === null) {
        await this.flushTree();
        const signers = this.#options.signers();
        if (signers !== null && signers.length > 0 && this.#size !== this.#lastCheckpointSize)
          await this.checkpoint();
      }
    } finally {
      this.#closed = true;
    }
  }
}

const QUERY_KEYS = [
  'fromSeq',
  'toSeq',
  'principal',
  'action',
  'resource',
  'decision',
  'outcome',
  'since',
  'until',
  'newestFirst',
  'limit',
  'digest',
];

function compileQuery(query: AuditQuery, spelling: SqlSpelling): { sql: string; params: SqlValue[] } {
  assertOptions(query, 'query');
  for (const key of Object.keys(query)) {
    // A misspelt filter must not silently widen the search to everything.
    if (!QUERY_KEYS.includes(key)) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `query: unknown filter ${JSON.stringify(key.slice(0, 40))}`,
      );
    }
  }
  if (query.newestFirst !== undefined && typeof query.newestFirst !== 'boolean') {
    throw new FortressError('FX_INVALID_ARGUMENT', 'newestFirst: expected true or false');
  }
  const where: string[] = ['1 = 1'];
  const params: SqlValue[] = [];
  const prefix = (column: string, value: string, separators: string): void => {
    if (separators.includes(value.at(-1) ?? '')) {
      // SQLite's length() and substr() count characters, JavaScript's .length UTF-16 units.
      where.push(`substr(${column}, 1, length(?)) = ?`);
      params.push(value, value);
    } else {
      where.push(`${column} = ?`);
      params.push(value);
    }
  };
  const bound = (name: 'fromSeq' | 'toSeq' | 'since' | 'until', condition: string): void => {
    const value = query[name];
    if (value === undefined) return;
    assertInteger(value, name, 0, Number.MAX_SAFE_INTEGER);
    where.push(condition);
    params.push(value);
  };
  const oneOf = (name: 'decision' | 'outcome', choices: readonly string[]): void => {
    const value = query[name];
    if (value === undefined) return;
    if (!choices.includes(value)) {
      throw new FortressError('FX_INVALID_ARGUMENT', `${name}: expected "${choices.join('" or "')}"`);
    }
    where.push(`${name} = ?`);
    params.push(value);
  };
  bound('fromSeq', 'seq >= ?');
  bound('toSeq', 'seq <= ?');
  if (query.principal !== undefined) {
    assertString(query.principal, 'principal');
    prefix('principal', query.principal, ':@');
  }
  if (query.action !== undefined) {
    assertString(query.action, 'action');
    prefix('action', query.action, '.');
  }
  if (query.resource !== undefined) {
    assertString(query.resource, 'resource');
    where.push('(resource = ? OR substr(resource, 1, length(?)) = ?)');
    params.push(query.resource, `${query.resource}/`, `${query.resource}/`);
  }
  oneOf('decision', ['allow', 'deny']);
  oneOf('outcome', ['ok', 'error']);
  bound('since', 'time >= ?');
  bound('until', 'time <= ?');
  if (query.limit !== undefined) assertInteger(query.limit, 'limit', 1, Number.MAX_SAFE_INTEGER);
  if (query.digest !== undefined) {
    assertString(query.digest, 'digest');
    if (!/^(hmac-sha256|sha256):[0-9a-f]{64}$/.test(query.digest)) {
      throw new FortressError('FX_INVALID_ARGUMENT', 'digest: expected hmac-sha256:<64 hex digits>');
    }
    // The digest is plain ASCII inside the canonical JSON: an exact, case-sensitive substring test
    // (LIKE would ignore case) decides it.
    where.push(spelling.bytesContainText('entry'));
    params.push(query.digest);
  }
  return { sql: `SELECT seq, entry FROM fx_audit_entries WHERE ${where.join(' AND ')}`, params };
}
