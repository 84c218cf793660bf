/**
 * @module client/deadline
 * The time a call may take, as an AbortSignal for fetch. The deadline of a call covers its
 * retries and their waits; for streams it becomes an idle timeout, restarted as data moves.
 */
import { FortressClientError } from './client-errors.js';

/**
 * The time a call may take, as an AbortSignal. `touch()` restarts it, which makes it an idle
 * timeout for streams: a streamed import or export may run long, as long as bytes keep moving.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #ms: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #endsAt = 0;
  #expired = false;

  constructor(ms: number) {
    this.#ms = ms;
    this.touch();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get expired(): boolean {
    return this.#expired;
  }

  /** Milliseconds left. */
  remaining(): number {
    return Math.max(0, this.#endsAt - Date.now());
  }

  touch(): void {
    if (this.#expired || this.#controller.signal.aborted) return;
    clearTimeout(this.#timer);
    this.#endsAt = Date.now() + this.#ms;
    this.#timer = setTimeout(() => {
      this.#expired = true;
      this.#controller.abort(this.timeoutError());
    }, this.#ms);
  }

  /** Stops the timer: the call is over. */
  clear(): void {
    clearTimeout(this.#timer);
  }

  /** Cancels the call: an exchange in flight is aborted. */
  abort(): void {
    clearTimeout(this.#timer);
    this.#controller.abort();
  }

  timeoutError(): FortressClientError {
    return new FortressClientError('FX_TIMEOUT', `no answer within ${this.#ms} ms`);
  }

  /** Waits `ms`, or rejects with the timeout when the deadline passes first. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = this.#controller.signal;
      if (signal.aborted) {
        reject(this.timeoutError());
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(this.timeoutError());
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A failure seen while the deadline was passing is the timeout, whatever fetch called it. */
  translate(error: unknown): unknown {
    if (this.#expired && !(error instanceof FortressClientError && error.code !== 'FX_NETWORK')) {
      return this.timeoutError();
    }
    return error;
  }
}
