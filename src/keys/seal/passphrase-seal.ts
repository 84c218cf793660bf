/**
 * @module keys/seal/passphrase-seal
 * For embedded use and small deployments: the unseal key is derived from a passphrase with
 * Argon2id (parameters and salt stored in the seal config).
 */
import type { SecretKey } from '../../crypto/memory/secret-key.js';
import {
  decodeKdfParams,
  deriveKeyFromPassphrase,
  encodeKdfParams,
  passphraseParams,
  type PassphraseKdfOverrides,
  type PassphraseKdfParams,
} from '../../crypto/kdf/passphrase.js';
import { assertOptions } from '../../util/bytes.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import type { SealConfig, SealProvider, SealResult, UnsealAttempt, UnsealProgress } from './seal-provider.js';
import { unwrapRoot, wrapRoot } from './wrap-root.js';

export interface PassphraseSealOptions {
  /**
   * The passphrase to seal with (at least 12 characters). Not needed to unseal: there the
   * passphrase is submitted to the unseal attempt.
   */
  readonly passphrase?: string;
  /** KDF parameters; default Argon2id per RFC 9106 (see docs/formats.md). A fresh salt is drawn. */
  readonly kdf?: PassphraseKdfOverrides;
}

const MIN_PASSPHRASE_LENGTH = 12;

export class PassphraseSealProvider implements SealProvider {
  readonly kind = 'passphrase' as const;
  readonly insecure = false;
  readonly #passphrase: string | undefined;
  readonly #kdf: PassphraseSealOptions['kdf'];

  constructor(options: PassphraseSealOptions = {}) {
    assertOptions(options, 'options');
    if (
      options.passphrase !== undefined &&
      (typeof options.passphrase !== 'string' ||
        Array.from(options.passphrase.normalize('NFC')).length < MIN_PASSPHRASE_LENGTH)
    ) {
      throw new InvalidArgumentError(
        'passphrase',
        `must be a string of at least ${MIN_PASSPHRASE_LENGTH} characters`,
      );
    }
    this.#passphrase = options.passphrase;
    this.#kdf = options.kdf;
  }

  async seal(rootKey: SecretKey): Promise<SealResult> {
    if (this.#passphrase === undefined) {
      throw new InvalidArgumentError('passphrase', 'a passphrase is needed to seal');
    }
    const params = passphraseParams(this.#kdf ?? {});
    const { key } = await deriveKeyFromPassphrase(this.#passphrase, params);
    using unsealKey = key;
    return {
      config: {
        kind: 'passphrase',
        format: 1,
        wrappedRoot: wrapRoot('passphrase', unsealKey, rootKey),
        kdf: encodeKdfParams(params),
      },
    };
  }

  beginUnseal(config: SealConfig): UnsealAttempt {
    if (
      config.kind !== 'passphrase' ||
      typeof config['kdf'] !== 'string' ||
      typeof config.wrappedRoot !== 'string'
    ) {
      throw new FortressError('FX_KEYSTORE_CORRUPT', 'the stored passphrase seal configuration is malformed');
    }
    let params: PassphraseKdfParams;
    try {
      params = decodeKdfParams(config['kdf']).params;
    } catch (cause) {
      throw new FortressError(
        'FX_KEYSTORE_CORRUPT',
        'the stored passphrase seal has malformed KDF parameters',
        { cause },
      );
    }
    const wrappedRoot = config.wrappedRoot;
    return {
      required: 1,
      received: 0,
      async submit(input: string): Promise<UnsealProgress> {
        if (typeof input !== 'string' || input.length === 0) {
          throw new InvalidArgumentError('passphrase', 'expected a non-empty string');
        }
        const { key } = await deriveKeyFromPassphrase(input, params);
        using unsealKey = key;
        try {
          return { done: true, rootKey: unwrapRoot('passphrase', unsealKey, wrappedRoot) };
        } catch (cause) {
          if (cause instanceof FortressError && cause.code === 'FX_UNSEAL_FAILED') {
            throw new FortressError('FX_UNSEAL_FAILED', 'wrong passphrase; the unseal attempt was reset', {
              cause,
            });
          }
          throw cause;
        }
      },
      auto: () =>
        Promise.reject(new InvalidArgumentError('auto', 'passphrase unsealing needs the passphrase')),
      reset: () => undefined,
    };
  }
}
