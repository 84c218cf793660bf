/**
 * @module audit-handle
 * `db.audit`: the embedded API over the ledger. Reading the audit log is itself an access, so
 * searches, proofs, checkpoints and archiving are recorded too (`audit.*` actions).
 */
import type { AuditEntry } from './audit/entry/audit-entry.js';
import type {
  AuditLedger,
  AuditQuery,
  InclusionEvidence,
  StoredCheckpoint,
} from './audit/ledger/audit-ledger.js';
import type { VerifyOptions, VerifyReport } from './audit/verify/ledger-verifier.js';
import type { AuditTrail } from './audit-trail.js';
import type { AccessActor } from './engine/access/access-log.js';

export class AuditHandle {
  readonly #ledger: AuditLedger;
  readonly #trail: AuditTrail;
  /** Who reads: a policy session's principal (absent: the embedded process). */
  readonly #actor: AccessActor | undefined;

  /** @internal From `Fortress.audit`, or a session's `readAudit()` (then `actor` is the session's). */
  constructor(ledger: AuditLedger, trail: AuditTrail, actor?: AccessActor) {
    this.#ledger = ledger;
    this.#trail = trail;
    this.#actor = actor;
  }

  /** The log's origin (first line of its checkpoints). */
  get origin(): string {
    return this.#ledger.origin;
  }

  /** Entries in the log (the next entry's seq). */
  get size(): number {
    return this.#ledger.size;
  }

  async #recorded<T>(
    action: string,
    body: () => Promise<T>,
    facts: Record<string, string | number> = {},
  ): Promise<T> {
    const resource = { type: 'audit' as const, tenant: this.#trail.resource().tenant! };
    let result: T;
    try {
      result = await body();
    } catch (error) {
      await this.#trail.operation(action, resource, error, facts, this.#actor);
      throw error;
    }
    await this.#trail.operation(action, resource, null, facts, this.#actor);
    return result;
  }

  /** Signs and stores a checkpoint of the current log now (or returns the latest if nothing changed). */
  checkpoint(): Promise<StoredCheckpoint> {
    return this.#recorded('audit.checkpoint', () => this.#ledger.checkpoint());
  }

  latestCheckpoint(): Promise<StoredCheckpoint | null> {
    return this.#ledger.latestCheckpoint();
  }

  checkpoints(): Promise<StoredCheckpoint[]> {
    return this.#ledger.checkpoints();
  }

  /** Entry `seq` (FX_AUDIT_NOT_FOUND if it does not exist or was archived). */
  entry(seq: number): Promise<AuditEntry> {
    return this.#recorded('audit.read', () => this.#ledger.entry(seq), { seq });
  }

  /** Entries matching `query` (see AuditQuery); the search is recorded before the first entry. */
  async *entries(query: AuditQuery = {}): AsyncGenerator<AuditEntry> {
    await this.#trail.operation(
      'audit.search',
      { type: 'audit', tenant: this.#trail.resource().tenant! },
      null,
      {},
      this.#actor,
    );
    yield* this.#ledger.entries(query);
  }

  /** Inclusion proof of entry `seq` against a signed checkpoint. */
  proveInclusion(seq: number, size?: number): Promise<InclusionEvidence> {
    return this.#recorded('audit.prove', () => this.#ledger.proveInclusion(seq, size), { seq });
  }

  /** Consistency proof between two tree sizes. */
  proveConsistency(size1: number, size2: number): Promise<Uint8Array[]> {
    return this.#recorded('audit.prove', () => this.#ledger.proveConsistency(size1, size2), { size1, size2 });
  }

  /** Entry `seq`'s evidence as a C2SP `.tlog-proof` file (the entry rides in its `extra` line). */
  tlogProof(seq: number): Promise<string> {
    return this.#recorded('audit.prove', () => this.#ledger.tlogProof(seq), { seq });
  }

  /** Archives entries below `before` to a signed segment file in `dir` and prunes them. */
  archive(options: {
    readonly before: number;
    readonly dir: string;
  }): Promise<{ file: string; first: number; count: number }> {
    return this.#recorded('audit.archive', () => this.#ledger.archive(options), { before: options.before });
  }

  /** Writes the log as static C2SP tlog-tiles under `dir` (see `AuditLedger.exportTiles`). */
  exportTiles(dir: string): Promise<{ size: number; tiles: number; bundles: number; pruned: number }> {
    return this.#recorded('audit.exportTiles', () => this.#ledger.exportTiles(dir));
  }

  /** `hmac-sha256:<hex>` of a value, to find the entries about it (`digest` in `entries()`). */
  hash(value: unknown): string {
    const digest = this.#trail.hash(value);
    // Recorded (without the value); the digest is returned at once, the entry follows.
    void this.#trail
      .operation(
        'audit.hash',
        { type: 'audit', tenant: this.#trail.resource().tenant! },
        null,
        {},
        this.#actor,
      )
      .catch(() => undefined);
    return digest;
  }

  /** Verifies the whole ledger (see `verifyLedger`); with no verifiers, the pinned `audit.vkey` keys. */
  verify(options: Partial<VerifyOptions> = {}): Promise<VerifyReport> {
    return this.#ledger.verify(options);
  }
}
