/**
 * The SealProvider conformance suite, shared by every provider (seal-providers.test.ts runs it for
 * Shamir, passphrase and the dev key file; an HSM provider runs it too).
 *
 * A seal provider stands between the operators and every key Fortress holds, so the suite checks
 * the whole round trip (seal a fresh root key, unseal it interactively or automatically, get the
 * same key back); that the persisted config is plain JSON and holds nothing secret (no root key
 * bytes, no unseal inputs); that wrong inputs fail with FX_UNSEAL_FAILED and reset the attempt
 * without spoiling a correct retry; that a tampered wrapped root key or a config of another kind
 * is refused; and that sealing is randomised but every config it produced keeps working.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import type {
  SealConfig,
  SealKind,
  SealProvider,
  SealResult,
  UnsealAttempt,
} from '../../src/keys/seal/seal-provider.js';
import { FortressError } from '../../src/util/errors.js';
import { expectCode as expectCodeAsync } from '../helpers/expect-code.js';

export interface SealProviderFixture {
  readonly provider: SealProvider;
  /** The inputs that unseal `result` (empty for automatic providers), in submission order. */
  readonly inputs: (result: SealResult) => string[];
  /**
   * Inputs to submit one at a time that must end in FX_UNSEAL_FAILED (at the latest on the last);
   * a prefix of correct inputs shows that the reset forgets them. Empty for automatic providers.
   */
  readonly wrongInputs: (result: SealResult) => string[];
  readonly cleanup: () => Promise<void>;
}

const KINDS: readonly SealKind[] = ['shamir', 'passphrase', 'pkcs11', 'dev-key-file'];

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * Unseals `config` with `inputs` through a fresh attempt (or `attempt`), checking the progress
 * reported after every input, and returns the root key.
 */
export async function unsealWith(
  provider: SealProvider,
  config: SealConfig,
  inputs: readonly string[],
  attempt: UnsealAttempt = provider.beginUnseal(config),
): Promise<SecretKey> {
  if (attempt.required === 0) {
    expect(inputs, 'an automatic provider takes no inputs').toEqual([]);
    return attempt.auto();
  }
  expect(inputs).toHaveLength(attempt.required);
  expect(attempt.received).toBe(0);
  for (const [i, input] of inputs.entries()) {
    const progress = await attempt.submit(input);
    if (i < inputs.length - 1) {
      expect(progress).toEqual({ done: false, received: i + 1, required: attempt.required });
      expect(attempt.received).toBe(i + 1);
    } else {
      if (!progress.done) return expect.fail(`not done after all ${inputs.length} inputs`);
      // A finished attempt keeps none of the inputs.
      expect(attempt.received).toBe(0);
      return progress.rootKey;
    }
  }
  return expect.fail('unreachable');
}

/** Unseals and checks the result equals `root`, disposing the unsealed copy. */
async function expectUnsealsTo(
  root: SecretKey,
  provider: SealProvider,
  config: SealConfig,
  inputs: readonly string[],
  attempt?: UnsealAttempt,
): Promise<void> {
  using unsealed = await unsealWith(provider, config, inputs, attempt);
  expect(unsealed.length).toBe(root.length);
  expect(unsealed.equals(root), 'the unsealed key equals the sealed root key').toBe(true);
}

/** The text forms in which root key bytes could leak into a config. */
function encodingsOf(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes);
  return [
    b.toString('hex'),
    b.toString('hex').toUpperCase(),
    b.toString('base64'),
    b.toString('base64').replace(/=+$/, ''),
    b.toString('base64url'),
    // Any 12-byte window, in case part of the key leaks.
    b.subarray(0, 12).toString('hex'),
    b.subarray(20, 32).toString('hex'),
    b.subarray(0, 12).toString('base64'),
  ];
}

/** A copy of `config` without `field` (as a store could hand back after damage). */
export function withoutField(config: SealConfig, field: string): SealConfig {
  return Object.fromEntries(Object.entries(config).filter(([key]) => key !== field)) as unknown as SealConfig;
}

/** A copy of `config` with one bit of the wrapped root key's envelope flipped. */
function flipBit(config: SealConfig, byteIndex: number, bit: number): SealConfig {
  const bytes = Buffer.from(config.wrappedRoot, 'base64');
  bytes[byteIndex]! ^= 1 << bit;
  return { ...config, wrappedRoot: bytes.toString('base64') };
}

export function runSealProviderConformance(name: string, make: () => Promise<SealProviderFixture>): void {
  describe(`SealProvider conformance: ${name}`, () => {
    let fixture: SealProviderFixture;
    let provider: SealProvider;
    let root: SecretKey;
    const extraCleanups: (() => Promise<void>)[] = [];

    beforeEach(async () => {
      fixture = await make();
      provider = fixture.provider;
      root = SecretKey.generate(32);
    });

    afterEach(async () => {
      root.dispose();
      await fixture.cleanup();
      for (const cleanup of extraCleanups.splice(0)) await cleanup();
    });

    it('seals a random root key and unseals it back', async () => {
      expect(KINDS).toContain(provider.kind);
      expect(typeof provider.insecure).toBe('boolean');
      const result = await provider.seal(root);
      expect(root.disposed, 'seal does not take ownership of the root key').toBe(false);
      expect(result.config.kind).toBe(provider.kind);
      expect(result.config.format).toBe(1);
      expect(typeof result.config.wrappedRoot).toBe('string');
      expect(result.config.wrappedRoot).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);

      const attempt = provider.beginUnseal(result.config);
      expect(Number.isInteger(attempt.required)).toBe(true);
      expect(attempt.required).toBeGreaterThanOrEqual(0);
      expect(attempt.received).toBe(0);
      await expectUnsealsTo(root, provider, result.config, fixture.inputs(result), attempt);

      // Unsealing again (a restart) gives the same key; the unsealed keys are independent copies.
      using first = await unsealWith(provider, result.config, fixture.inputs(result));
      using second = await unsealWith(provider, result.config, fixture.inputs(result));
      first.dispose();
      expect(second.equals(root)).toBe(true);
      expect(root.disposed).toBe(false);
    });

    it('produces a JSON-serialisable config that still unseals after a JSON round trip', async () => {
      const result = await provider.seal(root);
      const json = JSON.stringify(result.config);
      const parsed = JSON.parse(json) as SealConfig;
      expect(parsed, 'nothing is lost in JSON (no undefined, bytes, functions)').toEqual(result.config);
      await expectUnsealsTo(root, provider, parsed, fixture.inputs(result));
    });

    it('keeps the root key bytes and the unseal inputs out of the config', async () => {
      const result = await provider.seal(root);
      const json = JSON.stringify(result.config);
      const raw = root.exportRaw();
      try {
        for (const text of encodingsOf(raw))
          expect(json.includes(text), `config contains ${text}`).toBe(false);
      } finally {
        raw.fill(0);
      }
      for (const input of fixture.inputs(result)) {
        expect(json.includes(input), 'config contains an unseal input').toBe(false);
        expect(json.toLowerCase().includes(input.toLowerCase())).toBe(false);
      }
      for (const share of result.shares ?? []) expect(json.includes(share)).toBe(false);
    });

    it('fails wrong inputs with FX_UNSEAL_FAILED, resets the attempt, and a correct unseal still works', async () => {
      const result = await provider.seal(root);
      const attempt = provider.beginUnseal(result.config);
      if (attempt.required === 0) {
        // Automatic providers take no inputs at all; their wrong-key cases are provider-specific.
        await expectCodeAsync(() => attempt.submit('anything'), 'FX_INVALID_ARGUMENT');
        await expectUnsealsTo(root, provider, result.config, [], attempt);
        return;
      }
      const wrong = fixture.wrongInputs(result);
      expect(wrong.length, 'the fixture gives wrong inputs for an interactive provider').toBeGreaterThan(0);
      for (let round = 0; round < 2; round++) {
        let failed: FortressError | undefined;
        for (const [i, input] of wrong.entries()) {
          try {
            const progress = await attempt.submit(input);
            expect(progress.done, `wrong input ${i} must not unseal`).toBe(false);
            expect(attempt.received).toBe(i + 1);
          } catch (error) {
            if (!(error instanceof FortressError)) return expect.fail(describeError(error));
            failed = error;
            break;
          }
        }
        expect(failed, 'the wrong inputs were refused').toBeDefined();
        expect(failed!.code, failed!.message).toBe('FX_UNSEAL_FAILED');
        expect(failed!.message).toMatch(/reset/);
        expect(attempt.received, 'the attempt was reset').toBe(0);
      }
      // The same attempt, and a fresh one, now unseal with the right inputs.
      await expectUnsealsTo(root, provider, result.config, fixture.inputs(result), attempt);
      await expectUnsealsTo(root, provider, result.config, fixture.inputs(result));
    });

    it('refuses a wrapped root key with any one bit flipped (FX_UNSEAL_FAILED or FX_KEYSTORE_CORRUPT)', async () => {
      const result = await provider.seal(root);
      const length = Buffer.from(result.config.wrappedRoot, 'base64').length;
      expect(length).toBeGreaterThan(32);
      const inputs = fixture.inputs(result);
      for (let i = 0; i < length; i++) {
        const tampered = flipBit(result.config, i, i % 8);
        const error = await expectCodeAsync(
          () => unsealWith(provider, tampered, inputs),
          'FX_UNSEAL_FAILED',
          'FX_KEYSTORE_CORRUPT',
        );
        expect(error.message).not.toMatch(/[0-9a-f]{32}/);
      }
      // Truncated and emptied envelopes too.
      const bytes = Buffer.from(result.config.wrappedRoot, 'base64');
      for (const wrappedRoot of [
        bytes.subarray(0, length - 1).toString('base64'),
        bytes.subarray(0, 20).toString('base64'),
        '',
      ]) {
        await expectCodeAsync(
          () => unsealWith(provider, { ...result.config, wrappedRoot }, inputs),
          'FX_UNSEAL_FAILED',
          'FX_KEYSTORE_CORRUPT',
        );
      }
      // And the untouched config still works.
      await expectUnsealsTo(root, provider, result.config, inputs);
    });

    it('refuses a config of another kind, or without a wrapped root key, with FX_KEYSTORE_CORRUPT', async () => {
      const result = await provider.seal(root);
      for (const kind of KINDS.filter((k) => k !== provider.kind)) {
        await expectCodeAsync(() => provider.beginUnseal({ ...result.config, kind }), 'FX_KEYSTORE_CORRUPT');
      }
      await expectCodeAsync(
        () => provider.beginUnseal({ ...result.config, kind: 'rot13' as SealKind }),
        'FX_KEYSTORE_CORRUPT',
      );
      await expectCodeAsync(
        () => provider.beginUnseal(withoutField(result.config, 'wrappedRoot')),
        'FX_KEYSTORE_CORRUPT',
      );
      await expectCodeAsync(
        () => provider.beginUnseal({ ...result.config, wrappedRoot: 42 as unknown as string }),
        'FX_KEYSTORE_CORRUPT',
      );
    });

    it('seals the same root twice into different configs that both unseal to it', async () => {
      const first = await provider.seal(root);
      // A second fixture: some providers (the dev key file) seal only once per location.
      const other = await make();
      extraCleanups.push(other.cleanup);
      const second = await other.provider.seal(root);
      expect(second.config.wrappedRoot, 'sealing is randomised').not.toBe(first.config.wrappedRoot);
      await expectUnsealsTo(root, provider, first.config, fixture.inputs(first));
      await expectUnsealsTo(root, other.provider, second.config, other.inputs(second));
    });
  });
}

export { expectCodeAsync };
