/**
 * @module crypto/shamir/shamir
 * Shamir secret sharing over GF(2^8) with the audited `shamir-secret-sharing` package, plus a
 * share encoding that lets Fortress report *which* share is wrong:
 *
 * - a checksum on every share, so a mistyped share is caught on its own, before combining;
 * - a split id, threshold and share number, so shares of different splits are refused;
 * - a short verifier of the secret, so a combination that yields the wrong secret (a share that is
 *   well-formed but from a corrupted backup) is reported rather than returned.
 *
 * Text form: `fxs1-` followed by the hex of the binary share (docs/formats.md § Shamir share).
 */
import { createHash, createHmac } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { assertInteger, concatBytes, fromHex, toHex, utf8Encoder } from '../../util/bytes.js';
import { CryptoError, InvalidArgumentError } from '../../util/errors.js';
import { constantTimeEqual } from '../memory/constant-time.js';
import { assertSecretKey, keyMaterial, SecretKey, wipe } from '../memory/secret-key.js';
import { randomBytes } from '../random.js';

const SHARE_PREFIX = 'fxs1-';
const SHARE_VERSION = 1;
const SPLIT_ID_BYTES = 8;
const VERIFIER_BYTES = 8;
const CHECKSUM_BYTES = 4;
/** version, split id, threshold, share count, share number */
const HEAD_BYTES = 1 + SPLIT_ID_BYTES + 3;
const MIN_SECRET_BYTES = 16;
const MAX_SECRET_BYTES = 512;

/** What a share says about itself (nothing secret). */
export interface ShareInfo {
  /** Hex id of the split this share belongs to; all shares of one split have the same id. */
  readonly splitId: string;
  /** 1-based number of this share within its split. */
  readonly number: number;
  /** Shares needed to reconstruct. */
  readonly threshold: number;
  /** Shares the secret was split into. */
  readonly shares: number;
}

interface DecodedShare extends ShareInfo {
  readonly splitIdBytes: Uint8Array;
  readonly payload: Uint8Array;
  readonly verifier: Uint8Array;
}

function checksum(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest().subarray(0, CHECKSUM_BYTES);
}

function verifierOf(secret: Uint8Array, splitId: Uint8Array): Uint8Array {
  const label = utf8Encoder.encode('fortress/shamir/v1/verifier');
  return new Uint8Array(
    createHmac('sha256', secret).update(label).update(splitId).digest().subarray(0, VERIFIER_BYTES),
  );
}

function invalidShare(argument: string, why: string): CryptoError {
  return new CryptoError('FX_CRYPTO_INVALID_SHARE', `${argument}: ${why}`);
}

/**
 * Splits `secret` into `shares` shares, any `threshold` of which reconstruct it
 * (1 ≤ threshold ≤ shares ≤ 255). With threshold 1 every share is a full copy of the secret.
 *
 * @example
 * ```ts
 * const shares = await splitSecret(unsealKey, 5, 3); // ['fxs1-01…', …]
 * const again = await combineShares([shares[0], shares[3], shares[4]]);
 * ```
 */
export async function splitSecret(secret: SecretKey, shares: number, threshold: number): Promise<string[]> {
  assertSecretKey(secret, 'secret');
  if (secret.length < MIN_SECRET_BYTES || secret.length > MAX_SECRET_BYTES) {
    throw new InvalidArgumentError(
      'secret',
      `expected ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes of key material`,
    );
  }
  assertInteger(shares, 'shares', 1, 255);
  assertInteger(threshold, 'threshold', 1, 255);
  if (threshold > shares) throw new InvalidArgumentError('threshold', `must not exceed shares (${shares})`);
  const material = keyMaterial(secret);
  const splitId = randomBytes(SPLIT_ID_BYTES);
  const verifier = verifierOf(material, splitId);
  let payloads: Uint8Array[];
  if (threshold === 1) {
    // A 1-of-n "split" is n copies; the library requires threshold ≥ 2. Same payload layout
    // (secret bytes then a coordinate byte) so decoding is uniform.
    payloads = Array.from({ length: shares }, () => concatBytes(material, new Uint8Array([0])));
  } else {
    payloads = await split(new Uint8Array(material), shares, threshold);
  }
  return payloads.map((payload, i) => {
    const body = concatBytes(
      new Uint8Array([SHARE_VERSION]),
      splitId,
      new Uint8Array([threshold, shares, i + 1]),
      payload,
      verifier,
    );
    const encoded = SHARE_PREFIX + toHex(concatBytes(body, checksum(body)));
    wipe(body);
    wipe(payload);
    return encoded;
  });
}

function decodeShare(text: unknown, argument: string): DecodedShare {
  if (typeof text !== 'string') throw new InvalidArgumentError(argument, 'expected a share string');
  const trimmed = text.trim().toLowerCase();
  if (!trimmed.startsWith(SHARE_PREFIX))
    throw invalidShare(argument, `does not start with "${SHARE_PREFIX}"`);
  const hex = trimmed.slice(SHARE_PREFIX.length);
  if (!/^[0-9a-f]*$/.test(hex) || hex.length % 2 !== 0) {
    throw invalidShare(argument, 'contains characters other than hex digits (mistyped?)');
  }
  const bytes = fromHex(hex);
  const minLength = HEAD_BYTES + MIN_SECRET_BYTES + 1 + VERIFIER_BYTES + CHECKSUM_BYTES;
  if (
    bytes.length < minLength ||
    bytes.length > HEAD_BYTES + MAX_SECRET_BYTES + 1 + VERIFIER_BYTES + CHECKSUM_BYTES
  ) {
    throw invalidShare(
      argument,
      `has the wrong length (${bytes.length} bytes); part of it is missing or extra`,
    );
  }
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (!constantTimeEqual(checksum(body), bytes.subarray(bytes.length - CHECKSUM_BYTES))) {
    throw invalidShare(argument, 'checksum does not match: the share was mistyped or damaged');
  }
  if (bytes[0] !== SHARE_VERSION) throw invalidShare(argument, `has unsupported share version ${bytes[0]}`);
  const threshold = bytes[1 + SPLIT_ID_BYTES]!;
  const shares = bytes[2 + SPLIT_ID_BYTES]!;
  const number = bytes[3 + SPLIT_ID_BYTES]!;
  if (threshold < 1 || shares < threshold || number < 1 || number > shares) {
    throw invalidShare(argument, 'has inconsistent threshold, share count or share number');
  }
  const splitIdBytes = bytes.subarray(1, 1 + SPLIT_ID_BYTES);
  return {
    splitId: toHex(splitIdBytes),
    splitIdBytes,
    number,
    threshold,
    shares,
    payload: body.subarray(HEAD_BYTES, body.length - VERIFIER_BYTES),
    verifier: body.subarray(body.length - VERIFIER_BYTES),
  };
}

/** Interpolates the payloads; a damaged coordinate (checksum recomputed) is reported as a mismatch. */
async function combinePayloads(shares: readonly DecodedShare[]): Promise<Uint8Array> {
  const xs = new Set(shares.map((share) => share.payload[share.payload.length - 1]));
  if (xs.size !== shares.length || xs.has(0)) {
    throw new CryptoError(
      'FX_CRYPTO_SHARES_MISMATCH',
      'two shares have the same coordinate: a share is corrupted',
    );
  }
  try {
    return await combine(shares.map((share) => new Uint8Array(share.payload)));
  } catch (cause) {
    throw new CryptoError(
      'FX_CRYPTO_SHARES_MISMATCH',
      'the shares cannot be combined: a share is corrupted',
      {
        cause,
      },
    );
  }
}

/** Checks one share's encoding and checksum and says which split and number it is. */
export function inspectShare(share: string): ShareInfo {
  const { splitId, number, threshold, shares } = decodeShare(share, 'share');
  return { splitId, number, threshold, shares };
}

/**
 * Reconstructs the secret from at least `threshold` shares of one split. Throws
 * `FX_CRYPTO_INVALID_SHARE` naming a mistyped share, `FX_CRYPTO_NOT_ENOUGH_SHARES`, or
 * `FX_CRYPTO_SHARES_MISMATCH` when shares come from different splits, repeat, or do not
 * reconstruct the secret they were made from.
 */
export async function combineShares(shares: readonly string[]): Promise<SecretKey> {
  if (!Array.isArray(shares) || shares.length === 0) {
    throw new InvalidArgumentError('shares', 'expected a non-empty array of share strings');
  }
  if (shares.length > 255) throw new InvalidArgumentError('shares', 'expected at most 255 shares');
  const decoded = shares.map((share, i) => decodeShare(share, `shares[${i}]`));
  const first = decoded[0]!;
  const seen = new Set<number>();
  for (const [i, share] of decoded.entries()) {
    if (
      share.splitId !== first.splitId ||
      share.threshold !== first.threshold ||
      share.payload.length !== first.payload.length
    ) {
      throw new CryptoError(
        'FX_CRYPTO_SHARES_MISMATCH',
        `shares[${i}] belongs to another split than shares[0]`,
      );
    }
    if (seen.has(share.number)) {
      throw new CryptoError('FX_CRYPTO_SHARES_MISMATCH', `shares[${i}] repeats share number ${share.number}`);
    }
    seen.add(share.number);
  }
  if (decoded.length < first.threshold) {
    throw new CryptoError(
      'FX_CRYPTO_NOT_ENOUGH_SHARES',
      `${decoded.length} of ${first.threshold} shares given; ${first.threshold - decoded.length} more needed`,
    );
  }
  const secret =
    first.threshold === 1
      ? new Uint8Array(first.payload.subarray(0, first.payload.length - 1))
      : await combinePayloads(decoded.slice(0, first.threshold));
  try {
    if (!constantTimeEqual(verifierOf(secret, first.splitIdBytes), first.verifier)) {
      throw new CryptoError(
        'FX_CRYPTO_SHARES_MISMATCH',
        'the shares do not reconstruct the original secret: at least one share is corrupted',
      );
    }
    return SecretKey.fromBytes(secret);
  } finally {
    wipe(secret);
  }
}
