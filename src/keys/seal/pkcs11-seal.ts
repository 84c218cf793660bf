/**
 * @module keys/seal/pkcs11-seal
 * The PKCS#11 seal provider: the root key is encrypted with AES-256-GCM by a key that lives in an
 * HSM (or SoftHSM2) and cannot be read out of it. Fortress stores only the ciphertext; unsealing
 * asks the HSM to decrypt it, so stealing the disk (or a backup) without the HSM and its PIN gives
 * nothing. The wrapping key is generated inside the HSM as sensitive and non-extractable.
 *
 * Every HSM call goes through pkcs11js synchronously, between one C_Initialize and its
 * C_Finalize: with no `await` in between, two seal operations in one process cannot interleave
 * and finalise the library under each other. Sealing and unsealing are rare (init, start), so
 * blocking the event loop for the few HSM round trips is acceptable.
 */
import { endianness } from 'node:os';
import { isAbsolute } from 'node:path';
import pkcs11js from 'pkcs11js';
import type { GcmParams, Handle, Mechanism, PKCS11, Template } from 'pkcs11js';
import { assertSecretKey, keyMaterial, SecretKey, wipe } from '../../crypto/memory/secret-key.js';
import { randomBytes } from '../../crypto/random.js';
import { describe, utf8Encoder } from '../../util/bytes.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import type { SealConfig, SealProvider, SealResult, UnsealAttempt, UnsealProgress } from './seal-provider.js';

/** Label of the HSM wrapping key when the options name none. */
export const DEFAULT_PKCS11_KEY_LABEL = 'fortress-root-wrap';

/** Options of {@link Pkcs11SealProvider}. */
export interface Pkcs11SealOptions {
  /** Absolute path of the vendor's PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so). */
  readonly module: string;
  /** Label of the token (HSM partition) that holds the wrapping key. */
  readonly tokenLabel: string;
  /** The token's user PIN, or a function that returns it when needed (so it need not stay in memory). */
  readonly pin: string | (() => string);
  /** Label of the AES wrapping key on the token; default `fortress-root-wrap`. */
  readonly keyLabel?: string;
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['module', 'tokenLabel', 'pin', 'keyLabel']);
/** CK_TOKEN_INFO.label is 32 bytes, space-padded. */
const MAX_TOKEN_LABEL_BYTES = 32;
const MAX_KEY_LABEL_BYTES = 255;
const MAX_PIN_LENGTH = 255;

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Binds the ciphertext to its purpose: the HSM key cannot be tricked into opening another blob as a root key. */
const AAD = Buffer.from('fortress/seal/pkcs11/root-key', 'utf8');

/** CKR_AEAD_DECRYPT_FAILED (PKCS#11 v3.0), which pkcs11js (a v2.40 binding) does not name. */
const CKR_AEAD_DECRYPT_FAILED = 0x35;

/** Why a step failed, in words an operator can act on; indexed by CKR_ code. */
const REASONS: ReadonlyMap<number, string> = new Map([
  [pkcs11js.CKR_PIN_INCORRECT, 'the PIN is wrong'],
  [pkcs11js.CKR_PIN_INVALID, 'the PIN is wrong (the token rejects its format)'],
  [pkcs11js.CKR_PIN_LEN_RANGE, 'the PIN is wrong (wrong length for this token)'],
  [
    pkcs11js.CKR_PIN_LOCKED,
    'the user PIN is locked after too many wrong PINs; the security officer must reset it',
  ],
  [pkcs11js.CKR_USER_PIN_NOT_INITIALIZED, 'the token has no user PIN yet; the security officer must set one'],
  [pkcs11js.CKR_TOKEN_NOT_PRESENT, 'the token is not present'],
  [pkcs11js.CKR_TOKEN_NOT_RECOGNIZED, 'the token is not recognised'],
  [pkcs11js.CKR_TOKEN_WRITE_PROTECTED, 'the token is write-protected'],
  [pkcs11js.CKR_DEVICE_ERROR, 'the device reported an error'],
  [pkcs11js.CKR_DEVICE_MEMORY, 'the device is out of memory'],
  [pkcs11js.CKR_DEVICE_REMOVED, 'the device was removed'],
  [pkcs11js.CKR_MECHANISM_INVALID, 'the token does not support AES-GCM'],
  [
    pkcs11js.CKR_MECHANISM_PARAM_INVALID,
    'the token refuses the AES-GCM parameters (a caller-chosen 12-byte IV and 128-bit tag)',
  ],
  [
    pkcs11js.CKR_KEY_FUNCTION_NOT_PERMITTED,
    'the key does not permit this use (it needs CKA_ENCRYPT and CKA_DECRYPT)',
  ],
  [pkcs11js.CKR_SESSION_READ_ONLY, 'the session is read-only'],
]);

interface Settings {
  readonly module: string;
  readonly tokenLabel: string;
  readonly keyLabel: string;
  readonly pin: string | (() => string);
}

/** One logged-in session on the configured token. */
interface TokenSession {
  readonly lib: PKCS11;
  readonly session: Handle;
}

/**
 * Seals the root key with an AES-256 key that never leaves a PKCS#11 HSM. Unsealing is automatic
 * (`required === 0`): the HSM decrypts the stored ciphertext when Fortress starts.
 *
 * @example
 * ```ts
 * const provider = new Pkcs11SealProvider({
 *   module: '/usr/lib/softhsm/libsofthsm2.so',
 *   tokenLabel: 'fortress',
 *   pin: () => process.env.FORTRESS_HSM_PIN ?? '',
 * });
 * const { config } = await provider.seal(rootKey); // persist config (it holds no secret)
 * using unsealed = await provider.beginUnseal(config).auto();
 * ```
 */
export class Pkcs11SealProvider implements SealProvider {
  readonly kind = 'pkcs11' as const;
  readonly insecure = false;
  readonly #settings: Settings;

  constructor(options: Pkcs11SealOptions) {
    this.#settings = validateOptions(options);
  }

  /** Encrypts `rootKey` in the HSM, creating the wrapping key on the token on first use. */
  seal(rootKey: SecretKey): Promise<SealResult> {
    const settings = this.#settings;
    return settle(() => {
      assertSecretKey(rootKey, 'rootKey');
      const wrappedRoot = withSession(settings, true, (token) => {
        const key = findOrCreateKey(token, settings);
        const sealed = encrypt(token, settings, key, keyMaterial(rootKey));
        // Open it once before handing out the config: an HSM that cannot decrypt what it just
        // encrypted must fail `fortress init`, not the next start.
        if (!opensTo(token, settings, key, sealed, rootKey)) {
          throw new FortressError('FX_SEAL_PROVIDER', 'the HSM did not decrypt the root key it just sealed');
        }
        return sealed.toString('base64');
      });
      const config: SealConfig = {
        kind: 'pkcs11',
        format: 1,
        wrappedRoot,
        module: settings.module,
        tokenLabel: settings.tokenLabel,
        keyLabel: settings.keyLabel,
      };
      return { config };
    });
  }

  /** An automatic unseal attempt for a config this provider sealed (with the same token and key). */
  beginUnseal(config: SealConfig): UnsealAttempt {
    assertPkcs11Config(config);
    const settings = this.#settings;
    return {
      required: 0,
      received: 0,
      submit(): Promise<UnsealProgress> {
        return Promise.reject(
          new InvalidArgumentError('input', 'this provider unseals automatically; call auto() instead'),
        );
      },
      auto(): Promise<SecretKey> {
        return settle(() => {
          const sealed = parseWrappedRoot(config.wrappedRoot);
          return withSession(settings, false, (token) => {
            const key = findKey(token, settings);
            if (key === null) throw missingKey(settings, config);
            return decrypt(token, settings, key, sealed, config);
          });
        });
      },
      reset(): void {
        // Nothing to forget: an automatic attempt takes no inputs.
      },
    };
  }
}

/** Runs synchronous HSM work as a promise: a throw becomes a rejection. */
function settle<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => {
    resolve(work());
  });
}

/** True when `sealed` decrypts in the HSM to exactly `rootKey`. */
function opensTo(
  token: TokenSession,
  settings: Settings,
  key: Handle,
  sealed: Buffer,
  rootKey: SecretKey,
): boolean {
  try {
    using check = decrypt(token, settings, key, sealed, undefined);
    return check.equals(rootKey);
  } catch (error) {
    if (error instanceof FortressError && error.code === 'FX_UNSEAL_FAILED') return false;
    throw error;
  }
}

function validateOptions(options: unknown): Settings {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', `expected an options object, got ${describe(options)}`);
  }
  // Catches typos such as `pinn` or `slot`, which would otherwise be silently ignored.
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw new InvalidArgumentError('options', `unknown option '${name}'`);
  }
  const { module, tokenLabel, pin, keyLabel } = options as Record<string, unknown>;

  const path = checkText(module, 'module', 4096);
  // A bare name would make dlopen search the library path, letting whoever controls it pick the library.
  if (!isAbsolute(path)) {
    throw new InvalidArgumentError('module', 'expected an absolute path to the PKCS#11 library');
  }

  const token = checkText(tokenLabel, 'tokenLabel', MAX_TOKEN_LABEL_BYTES);
  if (token.endsWith(' ')) {
    throw new InvalidArgumentError('tokenLabel', 'must not end with a space (token labels are space-padded)');
  }

  const key = keyLabel === undefined ? DEFAULT_PKCS11_KEY_LABEL : checkText(keyLabel, 'keyLabel');

  if (typeof pin === 'string') checkPin(pin);
  else if (typeof pin !== 'function') {
    throw new InvalidArgumentError('pin', `expected a string or a function, got ${describe(pin)}`);
  }

  return { module: path, tokenLabel: token, keyLabel: key, pin: pin as string | (() => string) };
}

/** A non-empty string of at most `maxBytes` UTF-8 bytes with no NUL (which C would cut at). */
function checkText(value: unknown, argument: string, maxBytes = MAX_KEY_LABEL_BYTES): string {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(argument, `expected a string, got ${describe(value)}`);
  }
  if (value.length === 0) throw new InvalidArgumentError(argument, 'must not be empty');
  if (value.includes('\0')) throw new InvalidArgumentError(argument, 'must not contain NUL characters');
  if (!value.isWellFormed()) throw new InvalidArgumentError(argument, 'contains a lone UTF-16 surrogate');
  if (utf8Encoder.encode(value).length > maxBytes) {
    throw new InvalidArgumentError(argument, `is longer than ${maxBytes} bytes`);
  }
  return value;
}

/** Validates a PIN without ever echoing it. */
function checkPin(pin: unknown): asserts pin is string {
  if (typeof pin !== 'string')
    throw new InvalidArgumentError('pin', `expected a string, got ${describe(pin)}`);
  if (pin.length === 0) throw new InvalidArgumentError('pin', 'must not be empty');
  if (pin.length > MAX_PIN_LENGTH || pin.includes('\0')) {
    throw new InvalidArgumentError('pin', `expected at most ${MAX_PIN_LENGTH} characters and no NUL`);
  }
}

function resolvePin(pin: string | (() => string)): string {
  if (typeof pin === 'string') return pin;
  let value: unknown;
  try {
    value = pin();
  } catch (cause) {
    throw new FortressError('FX_SEAL_PROVIDER', 'the pin callback threw', { cause });
  }
  checkPin(value);
  return value;
}

/** A stored config that is not a pkcs11 one (other kind, other format, no wrapped root) is corrupt. */
function assertPkcs11Config(config: unknown): asserts config is SealConfig {
  const fields = typeof config === 'object' && config !== null ? (config as Record<string, unknown>) : {};
  if (fields['kind'] !== 'pkcs11' || fields['format'] !== 1 || typeof fields['wrappedRoot'] !== 'string') {
    throw new FortressError('FX_KEYSTORE_CORRUPT', 'the stored PKCS#11 seal configuration is malformed');
  }
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** iv ‖ ciphertext ‖ tag, decoded; a structurally impossible value is a corrupt store, not a wrong key. */
function parseWrappedRoot(wrappedRoot: string): Buffer {
  const bytes = BASE64_RE.test(wrappedRoot) ? Buffer.from(wrappedRoot, 'base64') : null;
  if (bytes === null || bytes.length < IV_BYTES + 1 + TAG_BYTES) {
    throw new FortressError('FX_KEYSTORE_CORRUPT', 'the stored wrapped root key is malformed');
  }
  return bytes;
}

/**
 * Loads the module, opens a session on the configured token, logs in and runs `use`. Each step
 * pushes its undo (log out, close the session, finalise, unload), and a finally block runs them in
 * reverse whatever happens; their own errors are dropped so they never mask the real outcome.
 */
function withSession<T>(settings: Settings, readWrite: boolean, use: (token: TokenSession) => T): T {
  const undo: (() => void)[] = [];
  try {
    const lib = new pkcs11js.PKCS11();
    try {
      lib.load(settings.module);
    } catch (cause) {
      throw new FortressError('FX_SEAL_PROVIDER', `cannot load the PKCS#11 module '${settings.module}'`, {
        cause,
      });
    }
    undo.push(() => {
      lib.close();
    });
    // Another part of the process may already have initialised this library: then it stays
    // initialised (and logged in) when we are done.
    const ownsLibrary = call(settings, INITIALISE_STEP, () => {
      try {
        initialise(lib);
        return true;
      } catch (error) {
        if (pkcs11Code(error) === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) return false;
        throw error;
      }
    });
    if (ownsLibrary) {
      undo.push(() => {
        lib.C_Finalize();
      });
    }
    const slot = findSlot(lib, settings);
    const flags = pkcs11js.CKF_SERIAL_SESSION | (readWrite ? pkcs11js.CKF_RW_SESSION : 0);
    const session = call(settings, 'open a session', () => lib.C_OpenSession(slot, flags));
    undo.push(() => {
      lib.C_CloseSession(session);
    });
    if (login(lib, session, settings)) {
      undo.push(() => {
        lib.C_Logout(session);
      });
    }
    return use({ lib, session });
  } finally {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // Cleanup only: the operation's own value or error is what the caller needs.
      }
    }
  }
}

const INITIALISE_STEP = "initialise the module (check the module's own configuration, e.g. SOFTHSM2_CONF)";

/** C_Initialize, asking for OS locking; a module that cannot lock gets the plain call. */
function initialise(lib: PKCS11): void {
  try {
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (pkcs11Code(error) !== pkcs11js.CKR_CANT_LOCK) throw error;
    lib.C_Initialize();
  }
}

/** The slot whose initialised token carries the configured label; exactly one must match. */
function findSlot(lib: PKCS11, settings: Settings): Handle {
  const slots = call(settings, 'list the slots', () => lib.C_GetSlotList(true));
  const labels: string[] = [];
  const matches: Handle[] = [];
  for (const slot of slots) {
    let info;
    try {
      info = lib.C_GetTokenInfo(slot);
    } catch {
      continue; // removed between the two calls, or not readable: not our token either way
    }
    if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) continue;
    const label = info.label.replace(/ +$/, '');
    labels.push(label);
    if (label === settings.tokenLabel) matches.push(slot);
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new FortressError(
      'FX_SEAL_PROVIDER',
      `${matches.length} tokens are labelled '${settings.tokenLabel}'; give each token a distinct label`,
    );
  }
  const found = labels.length === 0 ? 'none' : labels.map((label) => `'${label}'`).join(', ');
  throw new FortressError(
    'FX_SEAL_PROVIDER',
    `no token labelled '${settings.tokenLabel}' in PKCS#11 module '${settings.module}' (tokens found: ${found})`,
  );
}

/** Logs in as the user; false when the application was already logged in (then it is not ours to log out). */
function login(lib: PKCS11, session: Handle, settings: Settings): boolean {
  const pin = resolvePin(settings.pin);
  try {
    lib.C_Login(session, pkcs11js.CKU_USER, pin);
    return true;
  } catch (error) {
    if (pkcs11Code(error) === pkcs11js.CKR_USER_ALREADY_LOGGED_IN) return false;
    // The message names the token and the CKR_ code only: the PIN never reaches an error.
    throw hsmError(settings, 'log in', error);
  }
}

function keyTemplate(keyLabel: string): Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: keyLabel },
  ];
}

/** The wrapping key's handle, or null when the token has none. */
function findKey(token: TokenSession, settings: Settings): Handle | null {
  const { lib, session } = token;
  const found = call(settings, 'search for the key', () => {
    lib.C_FindObjectsInit(session, keyTemplate(settings.keyLabel));
    try {
      return lib.C_FindObjects(session, 2);
    } finally {
      lib.C_FindObjectsFinal(session);
    }
  });
  if (found.length > 1) {
    throw new FortressError(
      'FX_SEAL_PROVIDER',
      `token '${settings.tokenLabel}' holds more than one AES key labelled '${settings.keyLabel}'`,
    );
  }
  return found[0] ?? null;
}

function missingKey(settings: Settings, config: SealConfig): FortressError {
  const sealedWith = config['keyLabel'];
  const hint =
    typeof sealedWith === 'string' && sealedWith !== settings.keyLabel
      ? ` (the config was sealed with key ${JSON.stringify(sealedWith.slice(0, 64))})`
      : ' (deleted, or this is not the token the root key was sealed on)';
  return new FortressError(
    'FX_SEAL_PROVIDER',
    `token '${settings.tokenLabel}' has no AES key labelled '${settings.keyLabel}'${hint}`,
  );
}

/** Finds the wrapping key, or generates it in the HSM: AES-256, sensitive, never extractable. */
function findOrCreateKey(token: TokenSession, settings: Settings): Handle {
  const existing = findKey(token, settings);
  if (existing !== null) {
    assertKeyPolicy(token, settings, existing);
    return existing;
  }
  const { lib, session } = token;
  return call(settings, 'generate the wrapping key', () =>
    lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      ...keyTemplate(settings.keyLabel),
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      // Only encrypt/decrypt: the key cannot wrap other keys out or be used to derive new ones.
      { type: pkcs11js.CKA_WRAP, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: false },
      { type: pkcs11js.CKA_DERIVE, value: false },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_VERIFY, value: false },
    ]),
  );
}

/**
 * Refuses to seal under a pre-existing key that could leave the HSM (or is not AES-256): a key
 * someone created with the same label must not silently weaken the seal.
 */
function assertKeyPolicy(token: TokenSession, settings: Settings, key: Handle): void {
  const { lib, session } = token;
  const [sensitive, extractable, length] = call(settings, 'read the key attributes', () =>
    lib.C_GetAttributeValue(session, key, [
      { type: pkcs11js.CKA_SENSITIVE },
      { type: pkcs11js.CKA_EXTRACTABLE },
      { type: pkcs11js.CKA_VALUE_LEN },
    ]),
  );
  const problems: string[] = [];
  if (!isTrue(sensitive?.value)) problems.push('not sensitive');
  if (isTrue(extractable?.value)) problems.push('extractable');
  if (readUlong(length?.value) !== 32) problems.push('not 256 bits');
  if (problems.length > 0) {
    throw new FortressError(
      'FX_SEAL_PROVIDER',
      `the existing key '${settings.keyLabel}' on token '${settings.tokenLabel}' is ${problems.join(', ')}; ` +
        'refusing to seal under it (delete it or choose another keyLabel)',
    );
  }
}

function isTrue(value: unknown): boolean {
  return Buffer.isBuffer(value) && value.length > 0 && value[0] !== 0;
}

/** A CK_ULONG attribute value (native byte order, 4 or 8 bytes). */
function readUlong(value: unknown): number | null {
  if (!Buffer.isBuffer(value)) return null;
  const le = endianness() === 'LE';
  if (value.length === 8) return Number(le ? value.readBigUInt64LE() : value.readBigUInt64BE());
  if (value.length === 4) return le ? value.readUInt32LE() : value.readUInt32BE();
  return null;
}

/** CK_GCM_PARAMS in its PKCS#11 v2.40 / v3.0 layout (with ulIvBits), the one current HSMs expect. */
function gcm(iv: Buffer): Mechanism {
  const parameter: GcmParams = {
    type: pkcs11js.CK_PARAMS_GCM,
    iv,
    ivBits: IV_BYTES * 8,
    aad: AAD,
    tagBits: TAG_BYTES * 8,
  };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

/** iv ‖ ciphertext ‖ tag of `plain` under the HSM key; the plaintext goes straight from guarded memory to the HSM. */
function encrypt(token: TokenSession, settings: Settings, key: Handle, plain: Buffer): Buffer {
  const { lib, session } = token;
  const iv = Buffer.from(randomBytes(IV_BYTES));
  const sealed = call(settings, 'encrypt the root key', () => {
    lib.C_EncryptInit(session, gcm(iv), key);
    return lib.C_Encrypt(session, plain, Buffer.alloc(plain.length + TAG_BYTES));
  });
  if (sealed.length !== plain.length + TAG_BYTES) {
    throw new FortressError('FX_SEAL_PROVIDER', 'the HSM returned an AES-GCM ciphertext of the wrong length');
  }
  return Buffer.concat([iv, sealed]);
}

/**
 * Decrypts iv ‖ ciphertext ‖ tag into guarded memory. A tag mismatch is `FX_UNSEAL_FAILED`; any
 * other HSM failure is `FX_SEAL_PROVIDER`.
 */
function decrypt(
  token: TokenSession,
  settings: Settings,
  key: Handle,
  sealed: Buffer,
  config: SealConfig | undefined,
): SecretKey {
  const { lib, session } = token;
  const iv = sealed.subarray(0, IV_BYTES);
  const body = sealed.subarray(IV_BYTES);
  call(settings, 'start decrypting', () => {
    lib.C_DecryptInit(session, gcm(iv), key);
  });
  // Some tokens (SoftHSM2 among them) want room for the whole input, tag included.
  const out = Buffer.alloc(body.length);
  try {
    let plain: Buffer;
    try {
      plain = lib.C_Decrypt(session, body, out);
    } catch (error) {
      if (isAuthenticationFailure(token, key, error)) throw unsealFailed(settings, config);
      throw hsmError(settings, 'decrypt the root key', error);
    }
    if (plain.length !== body.length - TAG_BYTES) {
      throw new FortressError('FX_SEAL_PROVIDER', 'the HSM returned a plaintext of the wrong length');
    }
    return SecretKey.fromBytes(plain, { wipeSource: true });
  } finally {
    wipe(out);
  }
}

/**
 * True when C_Decrypt failed because the tag did not verify. The standard codes say so directly;
 * SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, so for that code the key is probed with a
 * throw-away round trip: if the HSM works, the failure was the tag.
 */
function isAuthenticationFailure(token: TokenSession, key: Handle, error: unknown): boolean {
  const code = pkcs11Code(error);
  if (code === CKR_AEAD_DECRYPT_FAILED || code === pkcs11js.CKR_ENCRYPTED_DATA_INVALID) return true;
  if (code === pkcs11js.CKR_ENCRYPTED_DATA_LEN_RANGE) return true;
  if (code !== pkcs11js.CKR_GENERAL_ERROR) return false;
  const { lib, session } = token;
  const probe = Buffer.from(randomBytes(16));
  const iv = Buffer.from(randomBytes(IV_BYTES));
  try {
    lib.C_EncryptInit(session, gcm(iv), key);
    const sealed = Buffer.from(lib.C_Encrypt(session, probe, Buffer.alloc(probe.length + TAG_BYTES)));
    lib.C_DecryptInit(session, gcm(iv), key);
    return lib.C_Decrypt(session, sealed, Buffer.alloc(sealed.length)).equals(probe);
  } catch {
    return false;
  }
}

function unsealFailed(settings: Settings, config: SealConfig | undefined): FortressError {
  const sealedOn = config?.['tokenLabel'];
  const hint =
    typeof sealedOn === 'string' && sealedOn !== settings.tokenLabel
      ? `; the config was sealed on token ${JSON.stringify(sealedOn.slice(0, 64))}`
      : '';
  return new FortressError(
    'FX_UNSEAL_FAILED',
    `the HSM key '${settings.keyLabel}' on token '${settings.tokenLabel}' does not open the wrapped root key ` +
      `(tampered config, or sealed under another key)${hint}`,
  );
}

/**
 * The CKR_ name and code of a failed PKCS#11 call, or null for any other error. pkcs11js wraps
 * most calls' failures as Pkcs11Error, but a few methods (C_FindObjects with a count,
 * C_SetAttributeValue) throw a plain Error whose message is `CKR_NAME:code`.
 */
function pkcs11Failure(error: unknown): { readonly name: string; readonly code: number } | null {
  if (error instanceof pkcs11js.Pkcs11Error) return { name: error.message, code: error.code };
  const match = error instanceof Error ? /^(CKR_[A-Z0-9_]+):(\d+)/.exec(error.message) : null;
  return match === null ? null : { name: match[1]!, code: Number(match[2]) };
}

function pkcs11Code(error: unknown): number | null {
  return pkcs11Failure(error)?.code ?? null;
}

/** Runs one HSM step, turning a PKCS#11 failure into FX_SEAL_PROVIDER (Fortress errors pass through). */
function call<T>(settings: Settings, step: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    throw hsmError(settings, step, error);
  }
}

function hsmError(settings: Settings, step: string, error: unknown): FortressError {
  if (error instanceof FortressError) return error;
  // Only the CKR_ name is repeated (e.g. CKR_PIN_INCORRECT), never the message of a foreign error.
  const failure = pkcs11Failure(error);
  const name = failure?.name ?? (error instanceof Error ? error.name : 'unknown error');
  const reason = (failure === null ? undefined : REASONS.get(failure.code)) ?? 'the HSM refused';
  return new FortressError(
    'FX_SEAL_PROVIDER',
    `PKCS#11 token '${settings.tokenLabel}': could not ${step}: ${reason} (${name})`,
    { cause: error },
  );
}
