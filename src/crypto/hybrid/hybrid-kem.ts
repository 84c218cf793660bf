/**
 * @module crypto/hybrid/hybrid-kem
 * X25519 + ML-KEM-768 hybrid key encapsulation, for encrypting to someone's public key (key
 * backups, key export). The shared key stays secret as long as EITHER X25519 (classical) or
 * ML-KEM-768 (FIPS 203, post-quantum) holds: a backup recorded today cannot be opened later by a
 * quantum computer, and a flaw in the young ML-KEM implementations does not expose it either.
 * X25519 comes from OpenSSL (node:crypto), ML-KEM-768 from @noble/post-quantum; HKDF-SHA256
 * combines the two shared secrets.
 *
 * Encodings (all fixed-length, so concatenations are unambiguous):
 *
 * ```
 * public key     (1217 bytes) = version 0x01 ‖ X25519 public key (32) ‖ ML-KEM-768 encapsulation key (1184)
 * secret key     (96 bytes)   = X25519 private key (32) ‖ ML-KEM-768 key-generation seed d ‖ z (64)
 * encapsulation  (1121 bytes) = version 0x01 ‖ ephemeral X25519 public key (32) ‖ ML-KEM-768 ciphertext (1088)
 * shared key     (32 bytes)   = HKDF-SHA256(salt = empty,
 *                                           IKM  = ss_mlkem (32) ‖ ss_x25519 (32),
 *                                           info = "fortress/v1/hybrid-kem/x25519-mlkem768" ‖ 0x00 ‖
 *                                                  SHA-256(encapsulation ‖ public key),
 *                                           L = 32)
 * ```
 *
 * The secret key holds only seeds (like X-Wing's): the ML-KEM decapsulation key (2400 bytes) and
 * both public keys are re-derived when needed, so the one SecretKey in guarded memory is all there
 * is to protect and back up.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { assertBytes } from '../../util/bytes.js';
import { CryptoError, InvalidArgumentError } from '../../util/errors.js';
import { deriveSubkey } from '../kdf/hkdf.js';
import { assertSecretKey, keyMaterial, SecretKey, wipe } from '../memory/secret-key.js';

/** Format version of the public key and encapsulation encodings (their first byte). */
export const HYBRID_KEM_VERSION = 1;
/** 1 (version) + 32 (X25519) + 1184 (ML-KEM-768 encapsulation key). */
export const HYBRID_PUBLIC_KEY_BYTES = 1217;
/** 32 (X25519 private key) + 64 (ML-KEM-768 key-generation seed). */
export const HYBRID_SECRET_KEY_BYTES = 96;
/** 1 (version) + 32 (ephemeral X25519 public key) + 1088 (ML-KEM-768 ciphertext). */
export const HYBRID_ENCAPSULATION_BYTES = 1121;
/** Length of the combined shared key. */
export const HYBRID_SHARED_KEY_BYTES = 32;

const X25519_BYTES = 32;
const MLKEM_PUBLIC_KEY_BYTES = 1184;
const MLKEM_CIPHERTEXT_BYTES = 1088;
const MLKEM_SEED_BYTES = 64;
const MLKEM_MESSAGE_BYTES = 32;
/** HKDF purpose label (see `purposeInfo` in kdf/hkdf.ts): names the scheme and its parameters. */
const COMBINER_PURPOSE = 'hybrid-kem/x25519-mlkem768';

// DER prefix of the fixed-size RFC 8410 PKCS #8 encoding of a raw X25519 private key (OID 1.3.101.110).
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * An X25519 private KeyObject from 32 raw bytes (any 32 bytes are valid; X25519 clamps them).
 * Imported as DER, not JWK: a JWK would put the key in an immutable base64url string that cannot be
 * zeroed. (DER import is ~10x slower in OpenSSL 3, about a millisecond; public keys use JWK.)
 */
function x25519PrivateKey(raw: Uint8Array): KeyObject {
  const der = Buffer.concat([X25519_PKCS8_PREFIX, raw]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    // OpenSSL keeps its own copy (cleansed when the KeyObject is freed); ours is zeroed now.
    wipe(der);
  }
}

/** The raw 32-byte public key of an X25519 KeyObject (via JWK: public, and far faster than DER). */
function x25519RawPublicKey(key: KeyObject): Uint8Array {
  const { x } = createPublicKey(key).export({ format: 'jwk' });
  const raw = new Uint8Array(Buffer.from(x ?? '', 'base64url'));
  if (raw.length !== X25519_BYTES) throw new CryptoError('FX_CRYPTO_UNKNOWN_ALGORITHM', 'not an X25519 key');
  return raw;
}

/**
 * X25519(privateKey, publicKey) as a Buffer the caller must wipe. Low-order public keys give an
 * all-zero secret that an attacker can predict without any private key (RFC 7748 §6.1), so that
 * is refused. OpenSSL already refuses it; the explicit check keeps the rule if the provider
 * changes. Non-canonical and twist points are accepted as RFC 7748 §5 recommends; the transcript
 * hash binds their exact bytes, so two encodings of one point still give different keys.
 */
function x25519(privateKey: KeyObject, publicKey: Uint8Array, argument: string): Buffer {
  const lowOrder = (): InvalidArgumentError =>
    new InvalidArgumentError(
      argument,
      'the X25519 public key is a low-order point (the shared secret would be all zero)',
    );
  let shared: Buffer;
  try {
    const peer = createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(publicKey).toString('base64url') },
      format: 'jwk',
    });
    shared = diffieHellman({ privateKey, publicKey: peer });
  } catch {
    throw lowOrder();
  }
  let bits = 0;
  for (const byte of shared) bits |= byte; // constant time: no early exit
  if (bits === 0 || shared.length !== X25519_BYTES) {
    wipe(shared);
    throw lowOrder();
  }
  return shared;
}

/** Throws `FX_CRYPTO_UNSUPPORTED_VERSION` unless the first byte is `HYBRID_KEM_VERSION`. */
function checkVersion(bytes: Uint8Array, what: string): void {
  if (bytes[0] !== HYBRID_KEM_VERSION) {
    throw new CryptoError(
      'FX_CRYPTO_UNSUPPORTED_VERSION',
      `${what} has format version ${bytes[0] ?? 'none'}; this build reads version ${HYBRID_KEM_VERSION}`,
    );
  }
}

/** The recipient's keys re-derived from the 96-byte secret. The caller wipes `mlKemSecretKey`. */
interface ExpandedSecret {
  readonly publicKey: Uint8Array;
  readonly x25519Private: KeyObject;
  readonly mlKemSecretKey: Uint8Array;
}

function expandSecret(secret: SecretKey): ExpandedSecret {
  const material = keyMaterial(secret);
  const x25519Private = x25519PrivateKey(material.subarray(0, X25519_BYTES));
  const mlKem = ml_kem768.keygen(material.subarray(X25519_BYTES));
  const publicKey = new Uint8Array(HYBRID_PUBLIC_KEY_BYTES);
  publicKey[0] = HYBRID_KEM_VERSION;
  publicKey.set(x25519RawPublicKey(x25519Private), 1);
  publicKey.set(mlKem.publicKey, 1 + X25519_BYTES);
  return { publicKey, x25519Private, mlKemSecretKey: mlKem.secretKey };
}

/**
 * The combiner, in the style of X-Wing (draft-connolly-cfrg-xwing-kem) and the LAMPS composite
 * ML-KEM drafts (draft-ietf-lamps-pq-composite-kem): KDF(ss_mlkem ‖ ss_trad ‖ ct_trad ‖ pk_trad ‖
 * domain label), ML-KEM's secret first. Why every input is bound:
 * - both shared secrets: the key is secret while either component is;
 * - the ephemeral X25519 key (X25519's "ciphertext") and the recipient's X25519 key: a bare DH value
 *   is not bound to the keys that made it, and without them a re-encoded or re-used ephemeral key
 *   could yield the same key under a different encapsulation (X-Wing binds these for its IND-CCA proof);
 * - the ML-KEM ciphertext and encapsulation key: X-Wing and the LAMPS drafts may omit them because
 *   ML-KEM is ciphertext-binding, but binding them costs one hash over ~2.3 KB and makes the
 *   combiner a generic one (Giacon–Heuer–Poettering) that needs no property of ML-KEM beyond IND-CCA;
 * - the version bytes and a purpose label: domain separation from every other Fortress HKDF use.
 * HKDF-SHA256 stands in for X-Wing's SHA3-256 because the rest of Fortress derives with it. Node
 * caps HKDF `info` at 1024 bytes, so the 2338-byte transcript enters as its SHA-256 digest, which
 * binds it equally (collision resistance).
 */
function combine(
  ssMlKem: Uint8Array,
  ssX25519: Uint8Array,
  encapsulation: Uint8Array,
  recipientPublicKey: Uint8Array,
): SecretKey {
  const transcript = createHash('sha256').update(encapsulation).update(recipientPublicKey).digest();
  using ikm = SecretKey.fill(2 * 32, (target) => {
    target.set(ssMlKem, 0);
    target.set(ssX25519, 32);
  });
  return deriveSubkey(ikm, COMBINER_PURPOSE, transcript, HYBRID_SHARED_KEY_BYTES);
}

/**
 * A new recipient key pair. The secret is drawn straight into guarded memory (rather than exported
 * from a generated KeyObject) so no unwipeable copy of it ever exists on the JS heap.
 *
 * @example
 * ```ts
 * const { publicKey, secretKey } = generateRecipientKeys();
 * // publish publicKey (1217 bytes); keep secretKey (96 bytes) offline, e.g. split with splitSecret
 * ```
 */
export function generateRecipientKeys(): { publicKey: Uint8Array; secretKey: SecretKey } {
  const secretKey = SecretKey.generate(HYBRID_SECRET_KEY_BYTES);
  try {
    return { publicKey: deriveRecipientPublicKey(secretKey), secretKey };
  } catch (error) {
    secretKey.dispose();
    throw error;
  }
}

/**
 * The public key that belongs to a recipient secret key (both public keys are re-derived from the
 * seeds it holds).
 *
 * @example
 * ```ts
 * const publicKey = deriveRecipientPublicKey(secretKey); // equals the one generateRecipientKeys returned
 * ```
 */
export function deriveRecipientPublicKey(recipientSecretKey: SecretKey): Uint8Array {
  assertSecretKey(recipientSecretKey, 'recipientSecretKey', HYBRID_SECRET_KEY_BYTES);
  const expanded = expandSecret(recipientSecretKey);
  wipe(expanded.mlKemSecretKey);
  return expanded.publicKey;
}

/**
 * Encapsulation with caller-supplied randomness (X-Wing's EncapsulateDerand). For known-answer
 * tests only: reusing `ephemeralX25519` or `mlKemMessage` breaks security. Not exported by the
 * package; applications call `encapsulate`.
 *
 * @internal
 * @example
 * ```ts
 * const { encapsulation, sharedKey } = encapsulateDerand(publicKey, eph32, m32);
 * ```
 */
export function encapsulateDerand(
  recipientPublicKey: Uint8Array,
  ephemeralX25519: Uint8Array,
  mlKemMessage: Uint8Array,
): { encapsulation: Uint8Array; sharedKey: SecretKey } {
  assertBytes(ephemeralX25519, 'ephemeralX25519', { exact: X25519_BYTES });
  assertBytes(mlKemMessage, 'mlKemMessage', { exact: MLKEM_MESSAGE_BYTES });
  return encapsulateWith(recipientPublicKey, x25519PrivateKey(ephemeralX25519), mlKemMessage);
}

function encapsulateWith(
  recipientPublicKey: unknown,
  ephemeral: KeyObject,
  mlKemMessage: Uint8Array | undefined,
): { encapsulation: Uint8Array; sharedKey: SecretKey } {
  assertBytes(recipientPublicKey, 'recipientPublicKey', { exact: HYBRID_PUBLIC_KEY_BYTES });
  checkVersion(recipientPublicKey, 'the recipient public key');
  let mlKem: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    // noble performs FIPS 203 §7.2's input check (every coefficient below q) on the key.
    mlKem = ml_kem768.encapsulate(recipientPublicKey.subarray(1 + X25519_BYTES), mlKemMessage);
  } catch {
    throw new InvalidArgumentError(
      'recipientPublicKey',
      'the ML-KEM-768 encapsulation key is not valid (a coefficient is not reduced modulo q)',
    );
  }
  let ssX25519: Buffer | undefined;
  try {
    ssX25519 = x25519(ephemeral, recipientPublicKey.subarray(1, 1 + X25519_BYTES), 'recipientPublicKey');
    const encapsulation = new Uint8Array(HYBRID_ENCAPSULATION_BYTES);
    encapsulation[0] = HYBRID_KEM_VERSION;
    encapsulation.set(x25519RawPublicKey(ephemeral), 1);
    encapsulation.set(mlKem.cipherText, 1 + X25519_BYTES);
    const sharedKey = combine(mlKem.sharedSecret, ssX25519, encapsulation, recipientPublicKey);
    return { encapsulation, sharedKey };
  } finally {
    wipe(mlKem.sharedSecret);
    if (ssX25519 !== undefined) wipe(ssX25519);
  }
}

/**
 * Makes a fresh shared key for the holder of `recipientPublicKey`: an ephemeral X25519 key pair
 * plus an ML-KEM-768 encapsulation. Send `encapsulation`; use `sharedKey` (32 bytes, guarded) to
 * derive encryption keys, then dispose it.
 *
 * Throws `FX_INVALID_ARGUMENT` for a key of the wrong length, an ML-KEM key that fails the FIPS 203
 * modulus check or a low-order X25519 key; `FX_CRYPTO_UNSUPPORTED_VERSION` for an unknown version.
 *
 * @example
 * ```ts
 * const { encapsulation, sharedKey } = encapsulate(recipientPublicKey);
 * using key = deriveSubkey(sharedKey, 'my-purpose');
 * sharedKey.dispose();
 * ```
 */
export function encapsulate(recipientPublicKey: Uint8Array): {
  encapsulation: Uint8Array;
  sharedKey: SecretKey;
} {
  // The ephemeral private key lives only in OpenSSL memory and is freed with the KeyObject.
  const { privateKey } = generateKeyPairSync('x25519');
  return encapsulateWith(recipientPublicKey, privateKey, undefined);
}

/**
 * Recovers the shared key from an encapsulation with the recipient's secret key. A tampered ML-KEM
 * ciphertext does not throw: ML-KEM's implicit rejection returns an unrelated key, so the
 * authenticated decryption that uses the key is what fails.
 *
 * Throws `FX_INVALID_ARGUMENT` for an encapsulation of the wrong length or with a low-order
 * ephemeral X25519 key, or a secret key that is not a live 96-byte SecretKey;
 * `FX_CRYPTO_UNSUPPORTED_VERSION` for an unknown version.
 *
 * @example
 * ```ts
 * using sharedKey = decapsulate(encapsulation, recipientSecretKey);
 * ```
 */
export function decapsulate(encapsulation: Uint8Array, recipientSecretKey: SecretKey): SecretKey {
  assertBytes(encapsulation, 'encapsulation', { exact: HYBRID_ENCAPSULATION_BYTES });
  checkVersion(encapsulation, 'the encapsulation');
  assertSecretKey(recipientSecretKey, 'recipientSecretKey', HYBRID_SECRET_KEY_BYTES);
  const expanded = expandSecret(recipientSecretKey);
  let ssMlKem: Uint8Array | undefined;
  let ssX25519: Buffer | undefined;
  try {
    ssX25519 = x25519(expanded.x25519Private, encapsulation.subarray(1, 1 + X25519_BYTES), 'encapsulation');
    ssMlKem = ml_kem768.decapsulate(encapsulation.subarray(1 + X25519_BYTES), expanded.mlKemSecretKey);
    return combine(ssMlKem, ssX25519, encapsulation, expanded.publicKey);
  } finally {
    wipe(expanded.mlKemSecretKey);
    if (ssMlKem !== undefined) wipe(ssMlKem);
    if (ssX25519 !== undefined) wipe(ssX25519);
  }
}

// Sizes the module relies on; a library change that broke them would otherwise corrupt formats.
if (
  ml_kem768.lengths.publicKey !== MLKEM_PUBLIC_KEY_BYTES ||
  ml_kem768.lengths.cipherText !== MLKEM_CIPHERTEXT_BYTES ||
  ml_kem768.lengths.seed !== MLKEM_SEED_BYTES
) {
  throw new CryptoError('FX_CRYPTO_UNKNOWN_ALGORITHM', 'the installed ML-KEM-768 has unexpected sizes');
}
