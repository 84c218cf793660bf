/**
 * @module crypto/signature/signature
 * One signing interface over Ed25519 (OpenSSL via node:crypto) and ML-DSA-65 (FIPS 204, from
 * @noble/post-quantum). Audit checkpoints and key backups sign with one or both.
 */
import {
  createPrivateKey,
  createPublicKey,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { assertBytes, assertOptions, isBytes } from '../../util/bytes.js';
import { CryptoError, InvalidArgumentError } from '../../util/errors.js';
import { assertSecretKey, keyMaterial, SecretKey, wipe } from '../memory/secret-key.js';

export type SignatureAlgorithm = 'ed25519' | 'ml-dsa-65';

/** Checks signatures made by one public key. */
export interface Verifier {
  readonly algorithm: SignatureAlgorithm;
  readonly publicKey: Uint8Array;
  /** True only for a valid signature of `message`; false for any malformed or wrong input. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** Signs with one private key. */
export interface Signer extends Disposable {
  readonly algorithm: SignatureAlgorithm;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
  verifier(): Verifier;
  /** Zeroes the private key material that Fortress holds. */
  dispose(): void;
}

/** Options for ML-DSA: a FIPS 204 context string (0–255 bytes) that separates signing domains. */
export interface SignatureOptions {
  /**
   * ML-DSA only: signatures made under one context verify only under the same context (e.g.
   * `fortress/checkpoint` vs `fortress/backup`). Ed25519 (pure, RFC 8032) has no context.
   * @default empty
   */
  readonly context?: Uint8Array;
}

function contextOf(algorithm: SignatureAlgorithm, options: SignatureOptions): Uint8Array {
  assertOptions(options, 'options');
  const context = options.context ?? new Uint8Array(0);
  assertBytes(context, 'context', { max: 255 });
  if (algorithm === 'ed25519' && context.length > 0) {
    throw new InvalidArgumentError(
      'context',
      'Ed25519 signatures take no context; use ml-dsa-65 or sign the label into the message',
    );
  }
  return new Uint8Array(context);
}

/** Seed sizes: an Ed25519 private key and an ML-DSA key-generation seed are both 32 bytes. */
export const SIGNATURE_SEED_BYTES = 32;

const SIZES: Readonly<Record<SignatureAlgorithm, { publicKey: number; signature: number }>> = Object.freeze({
  ed25519: { publicKey: 32, signature: 64 },
  'ml-dsa-65': { publicKey: 1952, signature: 3309 },
});

// DER prefixes of the fixed-size RFC 8410 encodings of raw Ed25519 keys.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function checkAlgorithm(algorithm: unknown): asserts algorithm is SignatureAlgorithm {
  if (algorithm !== 'ed25519' && algorithm !== 'ml-dsa-65') {
    throw new CryptoError(
      'FX_CRYPTO_UNKNOWN_ALGORITHM',
      'signature algorithm must be "ed25519" or "ml-dsa-65"',
    );
  }
}

function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  try {
    return createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
  } catch (cause) {
    throw new CryptoError('FX_CRYPTO_INVALID_SIGNATURE_KEY', 'not a valid Ed25519 public key', { cause });
  }
}

/** A verifier for `publicKey`. Throws `FX_CRYPTO_INVALID_SIGNATURE_KEY` for a key of the wrong size or encoding. */
export function createVerifier(
  algorithm: SignatureAlgorithm,
  publicKey: Uint8Array,
  options: SignatureOptions = {},
): Verifier {
  checkAlgorithm(algorithm);
  const context = contextOf(algorithm, options);
  assertBytes(publicKey, 'publicKey');
  const sizes = SIZES[algorithm];
  if (publicKey.length !== sizes.publicKey) {
    throw new CryptoError(
      'FX_CRYPTO_INVALID_SIGNATURE_KEY',
      `a ${algorithm} public key is ${sizes.publicKey} bytes, got ${publicKey.length}`,
    );
  }
  const pk = new Uint8Array(publicKey);
  if (algorithm === 'ed25519') {
    const keyObject = ed25519PublicKeyObject(pk);
    return Object.freeze({
      algorithm,
      publicKey: pk,
      verify(message: Uint8Array, signature: Uint8Array): boolean {
        if (!isBytes(message) || !isBytes(signature) || signature.length !== sizes.signature) return false;
        try {
          return nodeVerify(null, message, keyObject, signature);
        } catch {
          return false;
        }
      },
    });
  }
  return Object.freeze({
    algorithm,
    // A copy: the key verify() checks against must not change if a caller writes into this one.
    publicKey: new Uint8Array(pk),
    verify(message: Uint8Array, signature: Uint8Array): boolean {
      if (!isBytes(message) || !isBytes(signature) || signature.length !== sizes.signature) return false;
      try {
        return ml_dsa65.verify(signature, message, pk, { context });
      } catch {
        return false;
      }
    },
  });
}

/**
 * A signer from a 32-byte seed held in guarded memory (the signer takes ownership of `seed` and
 * disposes it with itself): the Ed25519 private key, or the ML-DSA-65
 * key-generation seed (FIPS 204 ML-DSA.KeyGen_internal). The same seed always gives the same keys,
 * so only the seed needs to be stored (wrapped).
 *
 * @example
 * ```ts
 * using signer = createSigner('ed25519', SecretKey.generate(32));
 * const signature = signer.sign(checkpoint);
 * signer.verifier().verify(checkpoint, signature); // true
 * ```
 */
export function createSigner(
  algorithm: SignatureAlgorithm,
  seed: SecretKey,
  options: SignatureOptions = {},
): Signer {
  checkAlgorithm(algorithm);
  const context = contextOf(algorithm, options);
  assertSecretKey(seed, 'seed', SIGNATURE_SEED_BYTES);
  const material = keyMaterial(seed);
  if (algorithm === 'ed25519') {
    const der = Buffer.concat([ED25519_PKCS8_PREFIX, material]);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      wipe(der);
    }
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    const publicKey = new Uint8Array(spki.subarray(ED25519_SPKI_PREFIX.length));
    const verifier = createVerifier('ed25519', publicKey);
    let disposed = false;
    return {
      algorithm,
      publicKey,
      sign(message: Uint8Array): Uint8Array {
        if (disposed) throw new CryptoError('FX_CRYPTO_KEY_DISPOSED', 'the signer was disposed');
        assertBytes(message, 'message');
        return new Uint8Array(nodeSign(null, message, privateKey));
      },
      verifier: () => verifier,
      dispose(): void {
        // OpenSSL owns the KeyObject's copy and frees (cleanses) it when the object is collected.
        disposed = true;
        seed.dispose();
      },
      [Symbol.dispose](): void {
        this.dispose();
      },
    };
  }
  const keys = ml_dsa65.keygen(material);
  // Keep the expanded secret key in guarded memory; noble's temporaries are on the JS heap.
  const secretKey = SecretKey.fromBytes(keys.secretKey, { wipeSource: true });
  const publicKey = new Uint8Array(keys.publicKey);
  const verifier = createVerifier('ml-dsa-65', publicKey, { context });
  return {
    algorithm,
    publicKey,
    sign(message: Uint8Array): Uint8Array {
      assertBytes(message, 'message');
      return ml_dsa65.sign(message, keyMaterial(secretKey), { context });
    },
    verifier: () => verifier,
    dispose(): void {
      secretKey.dispose();
      seed.dispose();
    },
    [Symbol.dispose](): void {
      this.dispose();
    },
  };
}

/** A signer with a fresh random seed. */
export function generateSigner(algorithm: SignatureAlgorithm, options: SignatureOptions = {}): Signer {
  checkAlgorithm(algorithm);
  return createSigner(algorithm, SecretKey.generate(SIGNATURE_SEED_BYTES), options);
}

/** The expected sizes for an algorithm's public keys and signatures. */
export function signatureSizes(algorithm: SignatureAlgorithm): { publicKey: number; signature: number } {
  checkAlgorithm(algorithm);
  return { ...SIZES[algorithm] };
}
