/**
 * @module keys/seal/seal-provider
 * A seal provider protects the root key at rest. Sealed, Fortress holds only the *wrapped* root
 * key; unsealing turns operator material (Shamir shares, a passphrase) or an external device (an
 * HSM, a dev key file) back into the root key in guarded memory.
 *
 * Every provider runs the shared conformance suite (test/keys/seal-provider.case.ts).
 */
import type { SecretKey } from '../../crypto/memory/secret-key.js';

export type SealKind = 'shamir' | 'passphrase' | 'pkcs11' | 'dev-key-file';

/**
 * The persisted, non-secret description of how the root key is sealed. JSON-serialisable; each
 * provider adds its own fields (threshold, KDF parameters, HSM key label, …).
 */
export interface SealConfig {
  readonly kind: SealKind;
  /** Config format version. */
  readonly format: 1;
  /**
   * The root key wrapped under the unseal key, base64: a Fortress envelope, or the provider's own
   * format where the wrapping happens elsewhere (PKCS#11: IV ‖ AES-GCM ciphertext ‖ tag from the HSM).
   */
  readonly wrappedRoot: string;
  readonly [field: string]: unknown;
}

/** What sealing a new root key produces. */
export interface SealResult {
  /** Persist this. */
  readonly config: SealConfig;
  /** Shamir only: the unseal key shares, shown to the operators once and never stored. */
  readonly shares?: readonly string[];
}

/** Progress of an unseal attempt. */
export type UnsealProgress =
  | { readonly done: false; readonly received: number; readonly required: number }
  | { readonly done: true; readonly rootKey: SecretKey };

/**
 * One unseal attempt. Interactive providers (Shamir, passphrase) take inputs through `submit`;
 * automatic ones (`required === 0`: HSM, dev key file) unseal with `auto`. A wrong input rejects
 * with `FX_UNSEAL_FAILED` and resets the attempt; inputs are never persisted.
 */
export interface UnsealAttempt {
  /** Inputs needed in all (Shamir: the threshold; passphrase: 1; automatic providers: 0). */
  readonly required: number;
  /** Inputs accepted so far in this attempt. */
  readonly received: number;
  submit(input: string): Promise<UnsealProgress>;
  auto(): Promise<SecretKey>;
  /** Forgets every input received so far. */
  reset(): void;
}

export interface SealProvider {
  readonly kind: SealKind;
  /**
   * True for providers that are not for production (the dev key file): Fortress prints a loud
   * warning at every start and `fortress status` reports it.
   */
  readonly insecure: boolean;
  /** Protects `rootKey` (which the provider does not take ownership of). */
  seal(rootKey: SecretKey): Promise<SealResult>;
  /** Starts an unseal attempt against a config this kind of provider produced. */
  beginUnseal(config: SealConfig): UnsealAttempt;
}
