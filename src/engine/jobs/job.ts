/**
 * @module engine/jobs/job
 * Background jobs that rewrite a table's rows in batches — re-encryption after a key rotation,
 * encrypting a plaintext column, changing an algorithm, filling a new blind-index slot, stripping a
 * dropped column. Each batch commits together with the job's checkpoint (the last primary key it
 * reached), so a crash loses at most the batch in flight and the job resumes where it stopped.
 */
import { EventEmitter } from 'node:events';

export type JobKind = 'reencrypt' | 'encrypt-column' | 'change-algorithm' | 'rotate-index' | 'drop-column';
export type JobState = 'running' | 'paused' | 'done' | 'failed';

export interface JobProgress {
  readonly id: number;
  readonly kind: JobKind;
  readonly table: string;
  readonly state: JobState;
  /** Rows examined so far. */
  readonly processed: number;
  /** Rows in the table when the job started (an estimate once writes continue). */
  readonly total: number;
  /** Rows actually rewritten (the others were already up to date). */
  readonly rewritten: number;
  /** 0 to 100. */
  readonly percent: number;
  /** Rows examined per second in this process. */
  readonly rowsPerSecond: number;
  /** Estimated milliseconds left, or null before the first batch. */
  readonly etaMs: number | null;
  readonly error: string | null;
}

export interface JobOptions {
  /** Rows per batch (one transaction each). @default 500 */
  readonly batchSize?: number;
  /** Throttle: examine at most this many rows per second. @default unlimited */
  readonly rowsPerSecond?: number;
}

/** Persistent state of a job (a row of `fx_jobs`). */
export interface JobRecord {
  id: number;
  kind: JobKind;
  table: string;
  state: JobState;
  /** Job-specific parameters, e.g. the column. */
  params: Record<string, unknown>;
  /** Last primary key processed (JSON), or null before the first batch. */
  checkpoint: string | null;
  processed: number;
  rewritten: number;
  total: number;
  error: string | null;
}

/**
 * A running (or finished) job. Emits `progress` after every batch and `done` / `failed` at the end.
 *
 * @example
 * ```ts
 * const job = await db.rotateKeys('patients');
 * job.on('progress', (p) => console.log(`${p.percent.toFixed(1)}% — ETA ${p.etaMs} ms`));
 * await job.done;
 * ```
 */
export class Job extends EventEmitter<{ progress: [JobProgress]; done: [JobProgress]; failed: [Error] }> {
  readonly id: number;
  readonly kind: JobKind;
  readonly table: string;
  /** Resolves with the final progress when the job finishes; rejects if it fails. */
  readonly done: Promise<JobProgress>;
  /** @internal */
  record: JobRecord;
  /** @internal */
  startedAt: number = Date.now();
  /** @internal Rows examined since `startedAt`. */
  processedHere: number = 0;
  /** @internal */
  pauseRequested: boolean = false;
  #resolve!: (progress: JobProgress) => void;
  #reject!: (error: Error) => void;
  /** @internal */
  readonly options: Required<JobOptions>;

  /** @internal */
  constructor(record: JobRecord, options: JobOptions = {}) {
    super();
    this.record = record;
    this.id = record.id;
    this.kind = record.kind;
    this.table = record.table;
    this.options = { batchSize: options.batchSize ?? 500, rowsPerSecond: options.rowsPerSecond ?? Infinity };
    this.done = new Promise<JobProgress>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A caller that never awaits `done` must not crash the process with an unhandled rejection;
    // the failure is still reported through `failed` and the job's state.
    this.done.catch(() => undefined);
  }

  get progress(): JobProgress {
    const r = this.record;
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const rate = elapsed > 0 ? this.processedHere / elapsed : 0;
    const left = Math.max(r.total - r.processed, 0);
    return Object.freeze({
      id: r.id,
      kind: r.kind,
      table: r.table,
      state: r.state,
      processed: r.processed,
      total: r.total,
      rewritten: r.rewritten,
      percent: r.state === 'done' ? 100 : r.total === 0 ? 0 : Math.min(100, (100 * r.processed) / r.total),
      rowsPerSecond: Math.round(rate),
      etaMs: r.state === 'done' ? 0 : rate > 0 ? Math.round((1000 * left) / rate) : null,
      error: r.error,
    });
  }

  /** Stops after the current batch; `resume()` continues from the checkpoint. */
  pause(): void {
    this.pauseRequested = true;
  }

  /** @internal */
  finish(): void {
    const progress = this.progress;
    this.emit('done', progress);
    this.#resolve(progress);
  }

  /** @internal */
  fail(error: Error): void {
    if (this.listenerCount('failed') > 0) this.emit('failed', error);
    this.#reject(error);
  }
}
