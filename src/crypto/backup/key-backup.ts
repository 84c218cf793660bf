/**
 * @module crypto/backup/key-backup
 * Disaster-recovery key backups: a payload (typically wrapped root or key-encryption keys)
 * encrypted to one recipient's X25519 + ML-KEM-768 hybrid public key and signed twice, with Ed25519
 * and ML-DSA-65. Either signature alone would do today; requiring both means a forger must break a
 * classical AND a post-quantum scheme, and the encryption likewise survives the failure of either
 * KEM. Opening checks everything signed before it decrypts anything, so a forged backup never
 * reaches the decryption path.
 *
 * Byte layout, format version 1 (all integers unsigned big-endian; L = label length, P = payload
 * length; copied into docs/formats.md):
 *
 * ```
 * offset        size   field
 * 0             4      magic "FXBK" (46 58 42 4B)
 * 4             1      format version, 0x01
 * 5             8      created-at: milliseconds since the Unix epoch, UTC (u64, at most 8.64e15)
 * 13            2      L: label length in bytes (u16, at most 1024)
 * 15            L      label, UTF-8 (may be empty)
 * 15+L          32     recipient fingerprint: SHA-256 of the recipient's 1217-byte hybrid public key
 * 47+L          32     Ed25519 signer fingerprint: SHA-256 of the signer's 32-byte public key
 * 79+L          32     ML-DSA-65 signer fingerprint: SHA-256 of the signer's 1952-byte public key
 * 111+L         1121   hybrid KEM encapsulation: 0x01 ‖ ephemeral X25519 public key (32) ‖
 *                      ML-KEM-768 ciphertext (1088) — see crypto/hybrid/hybrid-kem.ts
 * 1232+L        24     XChaCha20-Poly1305 nonce, random per backup
 * 1256+L        4      P: payload length in bytes (u32, at most 16 MiB)
 * 1260+L        P+16   XChaCha20-Poly1305 ciphertext ‖ tag of the payload;
 *                      key = HKDF-SHA256(KEM shared key, info "fortress/v1/key-backup/payload" ‖ 0x00),
 *                      AAD = bytes [0, 1260+L) (everything before the ciphertext)
 * 1276+L+P      64     Ed25519 signature (RFC 8032, pure) over bytes [0, 1276+L+P)
 * 1340+L+P      3309   ML-DSA-65 signature (FIPS 204, context "fortress/key-backup") over the
 *                      same bytes [0, 1276+L+P)
 * total         4649+L+P
 * ```
 *
 * The length fields make every truncation or extension detectable before any signature check, so
 * the error says what is wrong. The header is both signed and the AEAD's associated data: the
 * signatures authenticate the sender, the AEAD binds the ciphertext to this exact header.
 */
import { createHash } from 'node:crypto';
import {
  assertBytes,
  assertOptions,
  assertString,
  isBytes,
  utf8Decoder,
  utf8Encoder,
} from '../../util/bytes.js';
import { CryptoError, FortressError, InvalidArgumentError } from '../../util/errors.js';
import { getAead } from '../aead/registry.js';
import {
  decapsulate,
  deriveRecipientPublicKey,
  encapsulate,
  HYBRID_ENCAPSULATION_BYTES,
  HYBRID_PUBLIC_KEY_BYTES,
  HYBRID_SECRET_KEY_BYTES,
} from '../hybrid/hybrid-kem.js';
import { deriveSubkey } from '../kdf/hkdf.js';
import { constantTimeEqual } from '../memory/constant-time.js';
import { assertSecretKey, keyMaterial, wipe, type SecretKey } from '../memory/secret-key.js';
import { randomBytes } from '../random.js';
import {
  createVerifier,
  signatureSizes,
  type SignatureOptions,
  type Signer,
  type Verifier,
} from '../signature/signature.js';

/** Format version this build writes and reads. */
export const KEY_BACKUP_FORMAT_VERSION = 1;
/** Largest payload a backup holds (a key backup is small; the cap bounds memory on open). */
export const MAX_BACKUP_PAYLOAD_BYTES: number = 16 * 1024 * 1024;
/** Largest label, in UTF-8 bytes. */
export const MAX_BACKUP_LABEL_BYTES = 1024;
/**
 * The FIPS 204 context string of the ML-DSA-65 signature, which keeps backup signatures from being
 * valid in any other Fortress signing domain. The ML-DSA signer passed to `sealBackup` must be
 * created with it (see `keyBackupSignerOptions`).
 */
export const KEY_BACKUP_MLDSA_CONTEXT = 'fortress/key-backup';

/**
 * Signature options for the ML-DSA-65 backup signer (a fresh object each call, so no caller can
 * change the shared context bytes).
 *
 * @example
 * ```ts
 * using pq = createSigner('ml-dsa-65', seed, keyBackupSignerOptions());
 * ```
 */
export function keyBackupSignerOptions(): SignatureOptions {
  return { context: utf8Encoder.encode(KEY_BACKUP_MLDSA_CONTEXT) };
}

const MLDSA_CONTEXT = utf8Encoder.encode(KEY_BACKUP_MLDSA_CONTEXT);
const MAGIC = Uint8Array.of(0x46, 0x58, 0x42, 0x4b); // "FXBK"
const FIXED_HEADER_BYTES = 15; // magic, version, created-at, label length
const FINGERPRINT_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const ED25519_SIGNATURE_BYTES = 64;
const MLDSA65_SIGNATURE_BYTES = 3309;
const MAX_DATE_MS = 8.64e15; // the largest time a JavaScript Date represents
const PAYLOAD_KEY_PURPOSE = 'key-backup/payload';
const AEAD = getAead('xchacha20-poly1305');

// The offsets below are written as literals to match the table above; this pins them to the sizes.
if (
  FIXED_HEADER_BYTES + 3 * FINGERPRINT_BYTES + HYBRID_ENCAPSULATION_BYTES + NONCE_BYTES + 4 !== 1260 ||
  AEAD.nonceLength !== NONCE_BYTES ||
  AEAD.tagLength !== TAG_BYTES ||
  signatureSizes('ed25519').signature !== ED25519_SIGNATURE_BYTES ||
  signatureSizes('ml-dsa-65').signature !== MLDSA65_SIGNATURE_BYTES
) {
  throw new CryptoError(
    'FX_CRYPTO_UNKNOWN_ALGORITHM',
    'key-backup layout constants disagree with the primitives',
  );
}

/** The two signers of a backup. */
export interface BackupSigners {
  readonly ed25519: Signer;
  /** Must be created with `keyBackupSignerOptions()` (the key-backup ML-DSA context). */
  readonly mlDsa65: Signer;
}

/** What `sealBackup` needs. */
export interface SealBackupOptions {
  /** The secret bytes to back up (0 to 16 MiB). Not modified or kept. */
  readonly payload: Uint8Array;
  /** The recipient's hybrid public key (1217 bytes, from `generateRecipientKeys`). */
  readonly recipient: Uint8Array;
  readonly signers: BackupSigners;
  /** A human-readable note stored in the clear (signed, not encrypted). @default '' */
  readonly label?: string;
}

/** The public keys whose signatures `openBackup` accepts. */
export interface TrustedBackupSigners {
  /** 32-byte Ed25519 public key. */
  readonly ed25519: Uint8Array;
  /** 1952-byte ML-DSA-65 public key. */
  readonly mlDsa65: Uint8Array;
}

/** What `openBackup` needs. */
export interface OpenBackupOptions {
  /** The recipient's 96-byte hybrid secret key. */
  readonly recipientSecretKey: SecretKey;
  readonly trusted: TrustedBackupSigners;
}

/** A verified, decrypted backup. */
export interface OpenedBackup {
  /** The decrypted payload; the caller owns it and should `wipe` it when done. */
  readonly payload: Uint8Array;
  /** When the backup was sealed (ISO 8601, UTC), as the sealer's clock said. */
  readonly createdAt: string;
  readonly label: string;
}

function invalid(message: string, cause?: unknown): CryptoError {
  return new CryptoError(
    'FX_BACKUP_INVALID',
    `invalid key backup: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

/** Checks a signer's shape and algorithm; returns it with a verifier for its key-backup signatures. */
function checkSigner(
  value: unknown,
  argument: string,
  algorithm: 'ed25519' | 'ml-dsa-65',
): { signer: Signer; verifier: Verifier } {
  const signer = value as Partial<Signer> | null;
  if (
    typeof signer !== 'object' ||
    signer === null ||
    typeof signer.sign !== 'function' ||
    !isBytes(signer.publicKey)
  ) {
    throw new InvalidArgumentError(argument, 'expected a Signer (from createSigner or generateSigner)');
  }
  if (signer.algorithm !== algorithm) {
    throw new InvalidArgumentError(argument, `expected a ${algorithm} signer`);
  }
  return {
    signer: signer as Signer,
    verifier: verifierFor(signer.publicKey, `${argument}.publicKey`, algorithm),
  };
}

/** A verifier under the key-backup signing domain; a malformed key is a bad argument. */
function verifierFor(publicKey: unknown, argument: string, algorithm: 'ed25519' | 'ml-dsa-65'): Verifier {
  assertBytes(publicKey, argument, { exact: signatureSizes(algorithm).publicKey });
  try {
    return createVerifier(algorithm, publicKey, algorithm === 'ml-dsa-65' ? { context: MLDSA_CONTEXT } : {});
  } catch {
    throw new InvalidArgumentError(argument, `not a valid ${algorithm} public key`);
  }
}

/** The label's UTF-8 bytes; absent means empty (null is refused like any other non-string). */
function checkLabel(label: unknown): Uint8Array {
  if (label === undefined) return new Uint8Array(0);
  assertString(label, 'label');
  if (!label.isWellFormed()) throw new InvalidArgumentError('label', 'contains a lone UTF-16 surrogate');
  const bytes = utf8Encoder.encode(label);
  if (bytes.length > MAX_BACKUP_LABEL_BYTES) {
    throw new InvalidArgumentError(
      'label',
      `expected at most ${MAX_BACKUP_LABEL_BYTES} UTF-8 bytes, got ${bytes.length}`,
    );
  }
  return bytes;
}

/**
 * Seals `payload` for `recipient`: a fresh hybrid encapsulation, XChaCha20-Poly1305 under a key
 * derived from it, then an Ed25519 and an ML-DSA-65 signature over everything. Each signature is
 * verified before returning, which catches an ML-DSA signer made without
 * `keyBackupSignerOptions()` (and a faulty signer) now rather than at restore time.
 *
 * @example
 * ```ts
 * using ed = generateSigner('ed25519');
 * using pq = generateSigner('ml-dsa-65', keyBackupSignerOptions());
 * const backup = sealBackup({
 *   payload: wrappedRootKey,
 *   recipient: recoveryPublicKey,
 *   signers: { ed25519: ed, mlDsa65: pq },
 *   label: 'prod root key, 2025-06',
 * });
 * ```
 */
export function sealBackup(options: SealBackupOptions): Uint8Array {
  assertOptions(options, 'options');
  const { payload, recipient, signers } = options;
  assertBytes(payload, 'payload', { max: MAX_BACKUP_PAYLOAD_BYTES });
  assertBytes(recipient, 'recipient', { exact: HYBRID_PUBLIC_KEY_BYTES });
  assertOptions(signers, 'signers');
  const ed25519 = checkSigner(signers.ed25519, 'signers.ed25519', 'ed25519');
  const mlDsa65 = checkSigner(signers.mlDsa65, 'signers.mlDsa65', 'ml-dsa-65');
  const label = checkLabel(options.label);

  const kem = (() => {
    try {
      return encapsulate(recipient);
    } catch (error) {
      // Name the option the caller knows, not the KEM's parameter.
      if (error instanceof InvalidArgumentError) {
        throw new InvalidArgumentError('recipient', error.message.slice(error.argument.length + 2));
      }
      throw error;
    }
  })();

  const L = label.length;
  const P = payload.length;
  const ciphertextAt = 1260 + L;
  const signedLength = ciphertextAt + P + TAG_BYTES;
  const out = new Uint8Array(signedLength + ED25519_SIGNATURE_BYTES + MLDSA65_SIGNATURE_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = KEY_BACKUP_FORMAT_VERSION;
  view.setBigUint64(5, BigInt(Date.now()));
  view.setUint16(13, L);
  out.set(label, 15);
  out.set(sha256(recipient), 15 + L);
  out.set(sha256(ed25519.verifier.publicKey), 47 + L);
  out.set(sha256(mlDsa65.verifier.publicKey), 79 + L);
  out.set(kem.encapsulation, 111 + L);
  const nonce = randomBytes(NONCE_BYTES);
  out.set(nonce, 1232 + L);
  view.setUint32(1256 + L, P);

  try {
    using key = deriveSubkey(kem.sharedKey, PAYLOAD_KEY_PURPOSE);
    // Encrypt straight into the output: no second copy of the payload or ciphertext.
    AEAD.encryptInto(
      out.subarray(ciphertextAt, signedLength),
      payload,
      out.subarray(0, ciphertextAt),
      nonce,
      keyMaterial(key),
    );
  } finally {
    kem.sharedKey.dispose();
  }

  const signed = out.subarray(0, signedLength);
  const edSignature = ed25519.signer.sign(signed);
  const pqSignature = mlDsa65.signer.sign(signed);
  if (edSignature.length !== ED25519_SIGNATURE_BYTES || !ed25519.verifier.verify(signed, edSignature)) {
    throw new InvalidArgumentError('signers.ed25519', 'the signer produced a signature that does not verify');
  }
  if (pqSignature.length !== MLDSA65_SIGNATURE_BYTES || !mlDsa65.verifier.verify(signed, pqSignature)) {
    throw new InvalidArgumentError(
      'signers.mlDsa65',
      'the signature does not verify under the key-backup context; create the signer with keyBackupSignerOptions()',
    );
  }
  out.set(edSignature, signedLength);
  out.set(pqSignature, signedLength + ED25519_SIGNATURE_BYTES);
  return out;
}

/**
 * Verifies and decrypts a backup. In order: the structure and lengths; that the signer
 * fingerprints name the trusted keys; the Ed25519 signature; the ML-DSA-65 signature; that the
 * backup is addressed to this recipient; and only then decapsulation and decryption. Any failure
 * throws `FX_BACKUP_INVALID` naming the check (never key bytes); bad arguments throw
 * `FX_INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * const { payload, createdAt, label } = openBackup(backup, {
 *   recipientSecretKey,
 *   trusted: { ed25519: edPublicKey, mlDsa65: pqPublicKey },
 * });
 * // … restore from payload, then wipe(payload)
 * ```
 */
export function openBackup(backup: Uint8Array, options: OpenBackupOptions): OpenedBackup {
  assertBytes(backup, 'backup');
  assertOptions(options, 'options');
  const { recipientSecretKey, trusted } = options;
  assertSecretKey(recipientSecretKey, 'options.recipientSecretKey', HYBRID_SECRET_KEY_BYTES);
  assertOptions(trusted, 'options.trusted');
  const edVerifier = verifierFor(trusted.ed25519, 'options.trusted.ed25519', 'ed25519');
  const pqVerifier = verifierFor(trusted.mlDsa65, 'options.trusted.mlDsa65', 'ml-dsa-65');
  // Work on a private copy, so the bytes that were verified are the bytes that get decrypted even
  // if the caller's buffer (possibly a SharedArrayBuffer) changes meanwhile.
  const bytes = new Uint8Array(backup);

  // 1. Structure: magic, version, and lengths that account for every byte.
  if (bytes.length < MAGIC.length || !MAGIC.every((byte, i) => bytes[i] === byte)) {
    throw invalid('not a Fortress key backup (bad magic)');
  }
  if (bytes.length < FIXED_HEADER_BYTES) throw invalid('truncated inside the fixed header');
  if (bytes[4] !== KEY_BACKUP_FORMAT_VERSION) {
    throw invalid(
      `format version ${bytes[4]} is not supported (this build reads ${KEY_BACKUP_FORMAT_VERSION})`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const L = view.getUint16(13);
  if (L > MAX_BACKUP_LABEL_BYTES) throw invalid(`label length ${L} exceeds ${MAX_BACKUP_LABEL_BYTES}`);
  const ciphertextAt = 1260 + L;
  if (bytes.length < ciphertextAt) throw invalid('truncated before the payload');
  const P = view.getUint32(1256 + L);
  if (P > MAX_BACKUP_PAYLOAD_BYTES) throw invalid(`payload length ${P} exceeds ${MAX_BACKUP_PAYLOAD_BYTES}`);
  const signedLength = ciphertextAt + P + TAG_BYTES;
  const total = signedLength + ED25519_SIGNATURE_BYTES + MLDSA65_SIGNATURE_BYTES;
  if (bytes.length < total) throw invalid(`truncated: ${bytes.length} bytes, the header says ${total}`);
  if (bytes.length > total) throw invalid(`${bytes.length - total} unexpected bytes after the signatures`);

  // 2. Signers: the fingerprints must name the trusted keys, and both signatures must verify.
  if (!constantTimeEqual(bytes.subarray(47 + L, 79 + L), sha256(edVerifier.publicKey))) {
    throw invalid('the Ed25519 signer is not the trusted Ed25519 key');
  }
  if (!constantTimeEqual(bytes.subarray(79 + L, 111 + L), sha256(pqVerifier.publicKey))) {
    throw invalid('the ML-DSA-65 signer is not the trusted ML-DSA-65 key');
  }
  const signed = bytes.subarray(0, signedLength);
  if (!edVerifier.verify(signed, bytes.subarray(signedLength, signedLength + ED25519_SIGNATURE_BYTES))) {
    throw invalid('the Ed25519 signature does not verify');
  }
  if (!pqVerifier.verify(signed, bytes.subarray(signedLength + ED25519_SIGNATURE_BYTES))) {
    throw invalid('the ML-DSA-65 signature does not verify');
  }

  // 3. Signed header fields. A trusted signer wrote these, but they are still checked.
  const createdAtMs = view.getBigUint64(5);
  if (createdAtMs > BigInt(MAX_DATE_MS)) throw invalid('created-at is out of range');
  let label: string;
  try {
    label = utf8Decoder.decode(bytes.subarray(15, 15 + L));
  } catch {
    throw invalid('the label is not valid UTF-8');
  }
  const recipientPublicKey = deriveRecipientPublicKey(recipientSecretKey);
  if (!constantTimeEqual(bytes.subarray(15 + L, 47 + L), sha256(recipientPublicKey))) {
    throw invalid('the backup is addressed to a different recipient key');
  }

  // 4. Only now: decapsulate and decrypt.
  let sharedKey: SecretKey;
  try {
    sharedKey = decapsulate(
      bytes.subarray(111 + L, 111 + L + HYBRID_ENCAPSULATION_BYTES),
      recipientSecretKey,
    );
  } catch (error) {
    if (error instanceof FortressError)
      throw invalid(`the key encapsulation is invalid (${error.message})`, error);
    throw error;
  }
  const payload = new Uint8Array(P);
  try {
    using key = deriveSubkey(sharedKey, PAYLOAD_KEY_PURPOSE);
    const ok = AEAD.decryptInto(
      payload,
      bytes.subarray(ciphertextAt, signedLength),
      bytes.subarray(0, ciphertextAt),
      bytes.subarray(1232 + L, 1256 + L),
      keyMaterial(key),
    );
    if (!ok) {
      wipe(payload);
      throw invalid('the payload does not decrypt (wrong recipient key or corrupted ciphertext)');
    }
  } finally {
    sharedKey.dispose();
  }
  return { payload, createdAt: new Date(Number(createdAtMs)).toISOString(), label };
}
