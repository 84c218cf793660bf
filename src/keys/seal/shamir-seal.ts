/**
 * @module keys/seal/shamir-seal
 * The production default: the root key is wrapped under a random unseal key, and the unseal key is
 * split into N Shamir shares with threshold T (default 5 and 3). Unsealing takes shares one at a
 * time, possibly from different operators, and reports progress. Shares are never stored.
 */
import { SecretKey } from '../../crypto/memory/secret-key.js';
import { combineShares, inspectShare, splitSecret } from '../../crypto/shamir/shamir.js';
import { assertInteger, assertOptions } from '../../util/bytes.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import type { SealConfig, SealProvider, SealResult, UnsealAttempt, UnsealProgress } from './seal-provider.js';
import { unwrapRoot, wrapRoot } from './wrap-root.js';

export interface ShamirSealOptions {
  /** Number of shares, 1–255. @default 5 */
  readonly shares?: number;
  /** Shares needed to unseal, 1–shares. @default 3 */
  readonly threshold?: number;
}

interface ShamirSealConfig extends SealConfig {
  readonly kind: 'shamir';
  readonly shares: number;
  readonly threshold: number;
  readonly splitId: string;
}

function readConfig(config: SealConfig): ShamirSealConfig {
  const { shares, threshold, splitId, wrappedRoot } = config;
  if (
    config.kind !== 'shamir' ||
    typeof shares !== 'number' ||
    typeof threshold !== 'number' ||
    typeof splitId !== 'string' ||
    typeof wrappedRoot !== 'string'
  ) {
    throw new FortressError('FX_KEYSTORE_CORRUPT', 'the stored Shamir seal configuration is malformed');
  }
  return config as ShamirSealConfig;
}

/**
 * @example
 * ```ts
 * const provider = new ShamirSealProvider({ shares: 5, threshold: 3 });
 * const { config, shares } = await provider.seal(rootKey); // show each share to one operator
 * const attempt = provider.beginUnseal(config);
 * await attempt.submit(shares[0]); // { done: false, received: 1, required: 3 }
 * ```
 */
export class ShamirSealProvider implements SealProvider {
  readonly kind = 'shamir' as const;
  readonly insecure = false;
  readonly shares: number;
  readonly threshold: number;

  constructor(options: ShamirSealOptions = {}) {
    assertOptions(options, 'options');
    const shares = options.shares ?? 5;
    const threshold = options.threshold ?? 3;
    assertInteger(shares, 'shares', 1, 255);
    assertInteger(threshold, 'threshold', 1, 255);
    if (threshold > shares) throw new InvalidArgumentError('threshold', `must not exceed shares (${shares})`);
    this.shares = shares;
    this.threshold = threshold;
  }

  async seal(rootKey: SecretKey): Promise<SealResult> {
    using unsealKey = SecretKey.generate(32);
    const shares = await splitSecret(unsealKey, this.shares, this.threshold);
    const config: ShamirSealConfig = {
      kind: 'shamir',
      format: 1,
      wrappedRoot: wrapRoot('shamir', unsealKey, rootKey),
      shares: this.shares,
      threshold: this.threshold,
      splitId: inspectShare(shares[0]!).splitId,
    };
    return { config, shares };
  }

  beginUnseal(config: SealConfig): UnsealAttempt {
    return new ShamirUnsealAttempt(readConfig(config));
  }
}

class ShamirUnsealAttempt implements UnsealAttempt {
  readonly required: number;
  readonly #config: ShamirSealConfig;
  // Held only for the attempt, in memory; reset() and completion drop them.
  #shares: string[] = [];
  #numbers = new Set<number>();

  constructor(config: ShamirSealConfig) {
    this.#config = config;
    this.required = config.threshold;
  }

  get received(): number {
    return this.#shares.length;
  }

  #fail(message: string, cause?: unknown): never {
    this.reset();
    throw new FortressError('FX_UNSEAL_FAILED', `${message}; the unseal attempt was reset`, { cause });
  }

  async submit(input: string): Promise<UnsealProgress> {
    if (typeof input !== 'string') throw new InvalidArgumentError('share', 'expected a share string');
    let info;
    try {
      info = inspectShare(input);
    } catch (cause) {
      this.#fail(
        cause instanceof Error ? cause.message.replace(/^share: /, 'the share ') : 'the share is malformed',
        cause,
      );
    }
    if (info.splitId !== this.#config.splitId) {
      this.#fail('the share belongs to another Fortress (or an older set of shares)');
    }
    if (this.#numbers.has(info.number)) {
      this.#fail(`share ${info.number} was already given in this attempt`);
    }
    this.#shares.push(input.trim());
    this.#numbers.add(info.number);
    if (this.#shares.length < this.required) {
      return { done: false, received: this.#shares.length, required: this.required };
    }
    const shares = this.#shares;
    this.reset();
    let unsealKey: SecretKey;
    try {
      unsealKey = await combineShares(shares);
    } catch (cause) {
      this.#fail('the shares do not combine into the unseal key (one is wrong or corrupted)', cause);
    }
    try {
      return { done: true, rootKey: unwrapRoot('shamir', unsealKey, this.#config.wrappedRoot) };
    } catch (cause) {
      if (cause instanceof FortressError && cause.code === 'FX_UNSEAL_FAILED') {
        this.#fail('the shares do not open the root key', cause);
      }
      throw cause;
    } finally {
      unsealKey.dispose();
    }
  }

  auto(): Promise<SecretKey> {
    return Promise.reject(
      new InvalidArgumentError(
        'auto',
        `Shamir unsealing needs ${this.required} shares; submit them one at a time`,
      ),
    );
  }

  reset(): void {
    this.#shares = [];
    this.#numbers = new Set();
  }
}
