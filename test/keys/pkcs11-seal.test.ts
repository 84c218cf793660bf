/**
 * @module test/keys/pkcs11-seal
 * The PKCS#11 seal provider against a real SoftHSM2 token, created in a private temp directory
 * for this file (SOFTHSM2_CONF points there before the library is first loaded). SoftHSM2 missing
 * is a failure, not a skip: CI installs it, and a skipped HSM suite would hide a broken seal.
 */
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11 } from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { DEFAULT_PKCS11_KEY_LABEL, Pkcs11SealProvider } from '../../src/keys/seal/pkcs11-seal.js';
import type { Pkcs11SealOptions } from '../../src/keys/seal/pkcs11-seal.js';
import type { SealConfig } from '../../src/keys/seal/seal-provider.js';
import { FortressError, InvalidArgumentError } from '../../src/util/errors.js';
import { setUpSoftHsm, type SoftHsm } from '../helpers/softhsm.js';
import { runSealProviderConformance } from './seal-provider.case.js';

const TOKEN_A = { label: 'fortress-a', pin: 'user-pin-a-7731', soPin: 'so-pin-a-2291' };
const TOKEN_B = { label: 'fortress-b', pin: 'user-pin-b-4410', soPin: 'so-pin-b-8802' };
const WRONG_PIN = 'not-the-pin-5150';

let hsm: SoftHsm;
let module = '';
let tempDir = '';

beforeAll(() => {
  hsm = setUpSoftHsm('fortress-softhsm-');
  module = hsm.module;
  tempDir = hsm.dir;
  hsm.initToken(TOKEN_A);
  hsm.initToken(TOKEN_B);
});

afterAll(() => {
  hsm.cleanup();
});

function providerFor(token: { label: string; pin: string }, extra: Partial<Pkcs11SealOptions> = {}) {
  return new Pkcs11SealProvider({ module, tokenLabel: token.label, pin: token.pin, ...extra });
}

/** Runs `use` in a logged-in session of the test's own, independent PKCS#11 handle. */
function withTestSession<T>(
  token: { label: string; pin: string },
  use: (lib: PKCS11, session: Handle) => T,
): T {
  const lib = new pkcs11js.PKCS11();
  lib.load(module);
  lib.C_Initialize();
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === token.label);
    if (slot === undefined) throw new Error(`test token ${token.label} is missing`);
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      lib.C_Login(session, pkcs11js.CKU_USER, token.pin);
      return use(lib, session);
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    lib.C_Finalize();
    lib.close();
  }
}

function findKeys(lib: PKCS11, session: Handle, label: string): Handle[] {
  lib.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  try {
    return lib.C_FindObjects(session, 10);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

async function rejection(promise: Promise<unknown>): Promise<FortressError> {
  const error: unknown = await promise.then(
    () => new Error('expected a rejection'),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(FortressError);
  return error as FortressError;
}

function thrown(action: () => unknown): FortressError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(FortressError);
    return error as FortressError;
  }
  throw new Error('expected a throw');
}

/** The option an FX_INVALID_ARGUMENT error names. */
function argumentOf(error: FortressError): string {
  expect(error).toBeInstanceOf(InvalidArgumentError);
  return error instanceof InvalidArgumentError ? error.argument : '';
}

/** Everything an error could show someone: message, stack and the whole cause chain. */
function everythingShown(error: Error): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current instanceof Error) {
    parts.push(current.message, current.stack ?? '', JSON.stringify(current));
    current = current.cause;
  }
  return parts.join('\n');
}

function withWrappedRoot(config: SealConfig, edit: (bytes: Buffer) => void): SealConfig {
  const bytes = Buffer.from(config.wrappedRoot, 'base64');
  edit(bytes);
  return { ...config, wrappedRoot: bytes.toString('base64') };
}

describe('Pkcs11SealProvider against SoftHSM2', () => {
  it('seals and unseals the root key (round trip)', async () => {
    const provider = providerFor(TOKEN_A);
    expect(provider.kind).toBe('pkcs11');
    expect(provider.insecure).toBe(false);
    using rootKey = SecretKey.generate(32);
    const { config, shares } = await provider.seal(rootKey);
    expect(shares).toBeUndefined();
    expect(rootKey.disposed).toBe(false); // the provider does not take ownership
    expect(config).toMatchObject({
      kind: 'pkcs11',
      format: 1,
      module,
      tokenLabel: TOKEN_A.label,
      keyLabel: DEFAULT_PKCS11_KEY_LABEL,
    });
    // iv (12) ‖ ciphertext (32) ‖ tag (16)
    expect(Buffer.from(config.wrappedRoot, 'base64')).toHaveLength(12 + 32 + 16);
    expect(JSON.stringify(config)).not.toContain(TOKEN_A.pin);

    const attempt = provider.beginUnseal(JSON.parse(JSON.stringify(config)) as SealConfig);
    expect(attempt.required).toBe(0);
    expect(attempt.received).toBe(0);
    using unsealed = await attempt.auto();
    expect(unsealed.equals(rootKey)).toBe(true);
    // A fresh provider (as after a restart) unseals it as well.
    using again = await providerFor(TOKEN_A).beginUnseal(config).auto();
    expect(again.equals(rootKey)).toBe(true);
  });

  it('keeps the wrapping key in the HSM: sensitive, never extractable, CKA_VALUE refused', async () => {
    using rootKey = SecretKey.generate(32);
    await providerFor(TOKEN_A).seal(rootKey);
    withTestSession(TOKEN_A, (lib, session) => {
      const keys = findKeys(lib, session, DEFAULT_PKCS11_KEY_LABEL);
      expect(keys).toHaveLength(1);
      const key = keys[0]!;
      let refusal: unknown;
      try {
        lib.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]);
      } catch (error) {
        refusal = error;
      }
      expect(refusal).toBeInstanceOf(pkcs11js.Pkcs11Error);
      expect((refusal as Error).message).toBe('CKR_ATTRIBUTE_SENSITIVE');

      const attributes = lib.C_GetAttributeValue(session, key, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
        { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
        { type: pkcs11js.CKA_TOKEN },
        { type: pkcs11js.CKA_PRIVATE },
        { type: pkcs11js.CKA_WRAP },
        { type: pkcs11js.CKA_KEY_TYPE },
        { type: pkcs11js.CKA_VALUE_LEN },
      ]);
      const [sensitive, extractable, alwaysSensitive, neverExtractable, onToken, isPrivate, wrap] =
        attributes.map((attribute) => attribute.value[0]);
      expect({ sensitive, extractable, alwaysSensitive, neverExtractable, onToken, isPrivate, wrap }).toEqual(
        {
          sensitive: 1,
          extractable: 0,
          alwaysSensitive: 1,
          neverExtractable: 1,
          onToken: 1,
          isPrivate: 1,
          wrap: 0,
        },
      );
      expect(attributes[7]!.value.readUInt32LE()).toBe(pkcs11js.CKK_AES);
      expect(attributes[8]!.value.readUInt32LE()).toBe(32);

      // The one-way switch cannot be flipped back.
      expect(() => {
        lib.C_SetAttributeValue(session, key, [{ type: pkcs11js.CKA_EXTRACTABLE, value: true }]);
      }).toThrow(/CKR_ATTRIBUTE_READ_ONLY/);
    });
  });

  it('reuses the existing HSM key on a second seal', async () => {
    const provider = providerFor(TOKEN_A, { keyLabel: 'reuse-test' });
    using first = SecretKey.generate(32);
    using second = SecretKey.generate(32);
    const sealedFirst = await provider.seal(first);
    const countAfterFirst = withTestSession(TOKEN_A, (lib, s) => findKeys(lib, s, 'reuse-test').length);
    const sealedSecond = await provider.seal(second);
    const countAfterSecond = withTestSession(TOKEN_A, (lib, s) => findKeys(lib, s, 'reuse-test').length);
    expect(countAfterFirst).toBe(1);
    expect(countAfterSecond).toBe(1);
    expect(sealedSecond.config['keyLabel']).toBe('reuse-test');
    using openedFirst = await provider.beginUnseal(sealedFirst.config).auto();
    using openedSecond = await provider.beginUnseal(sealedSecond.config).auto();
    expect(openedFirst.equals(first)).toBe(true);
    expect(openedSecond.equals(second)).toBe(true);
    // Fresh IVs: sealing the same key twice gives different ciphertexts.
    const again = await provider.seal(first);
    expect(again.config.wrappedRoot).not.toBe(sealedFirst.config.wrappedRoot);
  });

  it('asks a pin function for the PIN at each operation', async () => {
    let calls = 0;
    const provider = providerFor(TOKEN_A, {
      pin: () => {
        calls += 1;
        return TOKEN_A.pin;
      },
    });
    expect(calls).toBe(0);
    using rootKey = SecretKey.generate(32);
    const { config } = await provider.seal(rootKey);
    using unsealed = await provider.beginUnseal(config).auto();
    expect(unsealed.equals(rootKey)).toBe(true);
    expect(calls).toBe(2);
  });

  it('reports a wrong PIN as FX_SEAL_PROVIDER, saying so without showing any PIN', async () => {
    using rootKey = SecretKey.generate(32);
    const { config } = await providerFor(TOKEN_A).seal(rootKey);
    const wrong = providerFor({ label: TOKEN_A.label, pin: WRONG_PIN });

    for (const error of [
      await rejection(wrong.seal(rootKey)),
      await rejection(wrong.beginUnseal(config).auto()),
    ]) {
      expect(error.code).toBe('FX_SEAL_PROVIDER');
      expect(error.message).toMatch(/PIN is wrong/);
      expect(error.message).toContain(TOKEN_A.label);
      const shown = everythingShown(error);
      expect(shown).not.toContain(WRONG_PIN);
      expect(shown).not.toContain(TOKEN_A.pin);
    }
    // The right PIN still works (the failed logins did not lock the token).
    using unsealed = await providerFor(TOKEN_A).beginUnseal(config).auto();
    expect(unsealed.equals(rootKey)).toBe(true);
  });

  it('reports an unknown token label as FX_SEAL_PROVIDER', async () => {
    using rootKey = SecretKey.generate(32);
    const error = await rejection(providerFor({ label: 'no-such-token', pin: TOKEN_A.pin }).seal(rootKey));
    expect(error.code).toBe('FX_SEAL_PROVIDER');
    expect(error.message).toContain("no token labelled 'no-such-token'");
    expect(error.message).toContain(`'${TOKEN_A.label}'`); // lists what is there
  });

  it('reports a module that cannot be loaded as FX_SEAL_PROVIDER', async () => {
    using rootKey = SecretKey.generate(32);
    const provider = providerFor(TOKEN_A, { module: join(tempDir, 'missing-libpkcs11.so') });
    const error = await rejection(provider.seal(rootKey));
    expect(error.code).toBe('FX_SEAL_PROVIDER');
    expect(error.message).toMatch(/cannot load the PKCS#11 module/);
  });

  it('reports a missing HSM key on unseal as FX_SEAL_PROVIDER', async () => {
    using rootKey = SecretKey.generate(32);
    const { config } = await providerFor(TOKEN_A).seal(rootKey);
    const error = await rejection(
      providerFor(TOKEN_A, { keyLabel: 'never-created' }).beginUnseal(config).auto(),
    );
    expect(error.code).toBe('FX_SEAL_PROVIDER');
    expect(error.message).toContain("no AES key labelled 'never-created'");
    expect(error.message).toContain(DEFAULT_PKCS11_KEY_LABEL); // the hint: what the config was sealed with
  });

  it('rejects a tampered wrappedRoot with FX_UNSEAL_FAILED', async () => {
    const provider = providerFor(TOKEN_A);
    using rootKey = SecretKey.generate(32);
    const { config } = await provider.seal(rootKey);
    const length = Buffer.from(config.wrappedRoot, 'base64').length;
    // A bit in the IV, the ciphertext and the tag.
    for (const offset of [0, 12, 20, length - 1]) {
      const tampered = withWrappedRoot(config, (bytes) => {
        bytes[offset]! ^= 0x01;
      });
      const error = await rejection(provider.beginUnseal(tampered).auto());
      expect(error.code).toBe('FX_UNSEAL_FAILED');
    }
    // Truncated by one byte: still well-formed, so it is a failed unseal too.
    const cut = {
      ...config,
      wrappedRoot: Buffer.from(config.wrappedRoot, 'base64').subarray(0, -1).toString('base64'),
    };
    expect((await rejection(provider.beginUnseal(cut).auto())).code).toBe('FX_UNSEAL_FAILED');
    // Not base64, or too short to hold an IV and a tag: a corrupt store.
    for (const wrappedRoot of ['not base64!', 'AAAA', '']) {
      const error = await rejection(provider.beginUnseal({ ...config, wrappedRoot }).auto());
      expect(error.code).toBe('FX_KEYSTORE_CORRUPT');
    }
  });

  it('rejects a config sealed on another token (with its own key) with FX_UNSEAL_FAILED', async () => {
    using rootKey = SecretKey.generate(32);
    const onB = await providerFor(TOKEN_B).seal(rootKey);
    await providerFor(TOKEN_A).seal(rootKey); // token A has its own key under the same label
    const error = await rejection(providerFor(TOKEN_A).beginUnseal(onB.config).auto());
    expect(error.code).toBe('FX_UNSEAL_FAILED');
    expect(error.message).toContain(`sealed on token "${TOKEN_B.label}"`);
    // Even with the config's token label rewritten to A's, A's key does not open B's ciphertext.
    const relabelled = { ...onB.config, tokenLabel: TOKEN_A.label };
    expect((await rejection(providerFor(TOKEN_A).beginUnseal(relabelled).auto())).code).toBe(
      'FX_UNSEAL_FAILED',
    );
    using fromB = await providerFor(TOKEN_B).beginUnseal(onB.config).auto();
    expect(fromB.equals(rootKey)).toBe(true);
  });

  it('refuses to seal under a pre-existing key that can leave the HSM', async () => {
    withTestSession(TOKEN_A, (lib, session) => {
      lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: false },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
        { type: pkcs11js.CKA_LABEL, value: 'weak-key' },
      ]);
    });
    using rootKey = SecretKey.generate(32);
    const error = await rejection(providerFor(TOKEN_A, { keyLabel: 'weak-key' }).seal(rootKey));
    expect(error.code).toBe('FX_SEAL_PROVIDER');
    expect(error.message).toMatch(/not sensitive, extractable; refusing to seal/);
  });

  it('works while the process already holds the library initialised and logged in', async () => {
    using rootKey = SecretKey.generate(32);
    const lib = new pkcs11js.PKCS11();
    lib.load(module);
    lib.C_Initialize();
    try {
      const slot = lib
        .C_GetSlotList(true)
        .find((s) => lib.C_GetTokenInfo(s).label.trimEnd() === TOKEN_A.label)!;
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      lib.C_Login(session, pkcs11js.CKU_USER, TOKEN_A.pin);
      const provider = providerFor(TOKEN_A);
      const { config } = await provider.seal(rootKey);
      using unsealed = await provider.beginUnseal(config).auto();
      expect(unsealed.equals(rootKey)).toBe(true);
      // The provider neither finalised the library nor logged this application out: the private
      // key object is still visible through the session opened before.
      expect(findKeys(lib, session, DEFAULT_PKCS11_KEY_LABEL)).toHaveLength(1);
    } finally {
      lib.C_Finalize();
      lib.close();
    }
  });

  it('unseals only automatically: submit rejects with FX_INVALID_ARGUMENT', async () => {
    using rootKey = SecretKey.generate(32);
    const { config } = await providerFor(TOKEN_A).seal(rootKey);
    const attempt = providerFor(TOKEN_A).beginUnseal(config);
    const error = await rejection(attempt.submit('anything'));
    expect(error.code).toBe('FX_INVALID_ARGUMENT');
    expect(error.message).toMatch(/unseals automatically/);
    attempt.reset();
    using unsealed = await attempt.auto();
    expect(unsealed.equals(rootKey)).toBe(true);
  });

  it('refuses a stored config of another kind or format with FX_KEYSTORE_CORRUPT', async () => {
    using rootKey = SecretKey.generate(32);
    const { config } = await providerFor(TOKEN_A).seal(rootKey);
    const provider = providerFor(TOKEN_A);
    for (const bad of [
      { ...config, kind: 'passphrase' },
      { ...config, format: 2 },
      { ...config, wrappedRoot: 42 },
      null,
    ]) {
      expect(thrown(() => provider.beginUnseal(bad as unknown as SealConfig)).code).toBe(
        'FX_KEYSTORE_CORRUPT',
      );
    }
  });
});

// The shared SealProvider suite, against token A (each fixture reuses the token's wrapping key).
runSealProviderConformance('Pkcs11SealProvider (SoftHSM2)', () =>
  Promise.resolve({
    provider: providerFor(TOKEN_A),
    inputs: () => [],
    wrongInputs: () => [],
    cleanup: () => Promise.resolve(),
  }),
);

describe('Pkcs11SealProvider options', () => {
  const good = { module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'fortress', pin: '1234' };
  const cases: [string, unknown, string][] = [
    ['not an object', 'options', 'options'],
    ['null', null, 'options'],
    ['unknown option', { ...good, slot: 0 }, 'options'],
    ['module missing', { tokenLabel: 'fortress', pin: '1234' }, 'module'],
    ['module not a string', { ...good, module: 7 }, 'module'],
    ['module relative', { ...good, module: 'libsofthsm2.so' }, 'module'],
    ['module empty', { ...good, module: '' }, 'module'],
    ['tokenLabel missing', { module: good.module, pin: '1234' }, 'tokenLabel'],
    ['tokenLabel empty', { ...good, tokenLabel: '' }, 'tokenLabel'],
    ['tokenLabel over 32 bytes', { ...good, tokenLabel: 'x'.repeat(33) }, 'tokenLabel'],
    ['tokenLabel over 32 UTF-8 bytes', { ...good, tokenLabel: 'é'.repeat(17) }, 'tokenLabel'],
    ['tokenLabel trailing space', { ...good, tokenLabel: 'fortress ' }, 'tokenLabel'],
    ['tokenLabel with NUL', { ...good, tokenLabel: 'a\0b' }, 'tokenLabel'],
    ['pin missing', { module: good.module, tokenLabel: 'fortress' }, 'pin'],
    ['pin empty', { ...good, pin: '' }, 'pin'],
    ['pin a number', { ...good, pin: 1234 }, 'pin'],
    ['keyLabel empty', { ...good, keyLabel: '' }, 'keyLabel'],
    ['keyLabel not a string', { ...good, keyLabel: 5 }, 'keyLabel'],
  ];
  it.each(cases)('rejects %s with FX_INVALID_ARGUMENT naming the option', (_name, options, argument) => {
    const error = thrown(() => new Pkcs11SealProvider(options as Pkcs11SealOptions));
    expect(error.code).toBe('FX_INVALID_ARGUMENT');
    expect(argumentOf(error)).toBe(argument);
  });

  it('never echoes a rejected PIN', () => {
    const pin = `secret-${'9'.repeat(300)}`;
    const error = thrown(() => new Pkcs11SealProvider({ ...good, pin }));
    expect(error.code).toBe('FX_INVALID_ARGUMENT');
    expect(everythingShown(error)).not.toContain(pin.slice(0, 20));
  });

  it('rejects a pin function that returns no PIN, when it is called', async () => {
    using rootKey = SecretKey.generate(32);
    const provider = new Pkcs11SealProvider({ module, tokenLabel: TOKEN_A.label, pin: () => '' });
    const error = await rejection(provider.seal(rootKey));
    expect(error.code).toBe('FX_INVALID_ARGUMENT');
    expect(argumentOf(error)).toBe('pin');
  });

  it('rejects a rootKey that is not a live SecretKey', async () => {
    const provider = new Pkcs11SealProvider({ module, tokenLabel: TOKEN_A.label, pin: TOKEN_A.pin });
    const error = await rejection(provider.seal(new Uint8Array(32) as unknown as SecretKey));
    expect(error.code).toBe('FX_INVALID_ARGUMENT');
  });
});
