/**
 * Shamir secret sharing: `splitSecret`, `combineShares`, `inspectShare`.
 *
 * Reconstruction from every (or a sample of) k-of-n subsets for several (n, t), the typed errors
 * for too few, mistyped, mixed, repeated and corrupted-but-well-formed shares, share metadata, and
 * tolerant parsing (case, surrounding white space). Corrupted-but-well-formed shares are built by
 * re-computing the 4-byte truncated SHA-256 checksum over the share body, the way
 * src/crypto/shamir/shamir.ts does, so only the secret verifier can catch them.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { combineShares, inspectShare, SecretKey, splitSecret } from '../../src/crypto/index.js';
import { FortressError, type ErrorCode } from '../../src/util/errors.js';
import { combinations } from '../helpers/expect-code.js';

const PREFIX = 'fxs1-';
// Binary share layout: version(1) splitId(8) threshold(1) shares(1) number(1) payload(L+1) verifier(8) checksum(4)
const HEAD = 12;
const VERIFIER = 8;
const CHECKSUM = 4;

const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

async function expectFxAsync(fn: () => Promise<unknown>, code: ErrorCode): Promise<FortressError> {
  let result: unknown;
  try {
    result = await fn();
  } catch (error) {
    if (!(error instanceof FortressError)) {
      return expect.fail(
        `expected ${code}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      );
    }
    expect(error.code).toBe(code);
    return error;
  }
  return expect.fail(`expected ${code}, but the call returned ${String(result)}`);
}

function expectFx(fn: () => unknown, code: ErrorCode): FortressError {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof FortressError)) return expect.fail(`expected ${code}, got ${String(error)}`);
    expect(error.code).toBe(code);
    return error;
  }
  return expect.fail(`expected ${code}, but the call returned`);
}

/** A deterministic shuffle/sample helper (the subsets need not be random, just varied). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function sample(n: number, k: number, rand: () => number): number[] {
  const indices = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [indices[i], indices[j]] = [indices[j]!, indices[i]!];
  }
  return indices.slice(0, k);
}

function secretOf(length: number, seed: number): { bytes: Uint8Array; key: SecretKey } {
  const bytes = Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7 + 1) & 0xff);
  return { bytes, key: SecretKey.fromBytes(bytes) };
}

function shareBytes(share: string): Uint8Array {
  return new Uint8Array(Buffer.from(share.slice(PREFIX.length), 'hex'));
}

/** Re-encodes share bytes with a freshly computed checksum over the body. */
function withChecksum(bytes: Uint8Array): string {
  const body = bytes.subarray(0, bytes.length - CHECKSUM);
  const sum = createHash('sha256').update(body).digest().subarray(0, CHECKSUM);
  return PREFIX + hex(body) + hex(sum);
}

async function expectReconstructs(shares: readonly string[], expected: Uint8Array): Promise<void> {
  using secret = await combineShares(shares);
  expect(hex(secret.exportRaw())).toBe(hex(expected));
}

describe('reconstruction', () => {
  it('(1, 1): the one share is the secret', async () => {
    const { bytes, key } = secretOf(32, 1);
    const shares = await splitSecret(key, 1, 1);
    expect(shares).toHaveLength(1);
    await expectReconstructs(shares, bytes);
  });

  it('(3, 1): every single share reconstructs, and so do pairs and all three', async () => {
    const { bytes, key } = secretOf(32, 2);
    const shares = await splitSecret(key, 3, 1);
    for (const share of shares) await expectReconstructs([share], bytes);
    for (const subset of combinations(3, 2))
      await expectReconstructs(
        subset.map((i) => shares[i]!),
        bytes,
      );
    await expectReconstructs(shares, bytes);
  });

  it('(5, 3): all 10 three-share subsets, in several orders, and every larger subset', async () => {
    const { bytes, key } = secretOf(32, 3);
    const shares = await splitSecret(key, 5, 3);
    const triples = combinations(5, 3);
    expect(triples).toHaveLength(10);
    for (const subset of triples) {
      await expectReconstructs(
        subset.map((i) => shares[i]!),
        bytes,
      );
      await expectReconstructs(
        [...subset].reverse().map((i) => shares[i]!),
        bytes,
      );
    }
    for (const k of [4, 5]) {
      for (const subset of combinations(5, k))
        await expectReconstructs(
          subset.map((i) => shares[i]!),
          bytes,
        );
    }
  });

  it('(7, 7): all shares in any order; any 6 are not enough', async () => {
    const { bytes, key } = secretOf(32, 4);
    const shares = await splitSecret(key, 7, 7);
    const rand = lcg(7);
    for (let round = 0; round < 5; round++)
      await expectReconstructs(
        sample(7, 7, rand).map((i) => shares[i]!),
        bytes,
      );
    for (const subset of combinations(7, 6)) {
      await expectFxAsync(() => combineShares(subset.map((i) => shares[i]!)), 'FX_CRYPTO_NOT_ENOUGH_SHARES');
    }
  });

  it('(255, 2): a few pairs, including the first and last share', async () => {
    const { bytes, key } = secretOf(32, 5);
    const shares = await splitSecret(key, 255, 2);
    expect(shares).toHaveLength(255);
    expect(new Set(shares).size).toBe(255);
    await expectReconstructs([shares[0]!, shares[254]!], bytes);
    await expectReconstructs([shares[254]!, shares[253]!], bytes);
    await expectReconstructs([shares[100]!, shares[7]!], bytes);
    await expectFxAsync(() => combineShares([shares[42]!]), 'FX_CRYPTO_NOT_ENOUGH_SHARES');
    expect(inspectShare(shares[254]!)).toMatchObject({ number: 255, threshold: 2, shares: 255 });
  });

  it('(10, 4): a sample of subsets of each size from 4 to 10', async () => {
    const { bytes, key } = secretOf(48, 6);
    const shares = await splitSecret(key, 10, 4);
    const rand = lcg(10);
    for (let k = 4; k <= 10; k++) {
      for (let round = 0; round < 4; round++)
        await expectReconstructs(
          sample(10, k, rand).map((i) => shares[i]!),
          bytes,
        );
    }
  });

  it('secrets of the smallest and largest allowed sizes (16 and 512 bytes)', async () => {
    for (const length of [16, 17, 64, 512]) {
      const { bytes, key } = secretOf(length, length);
      const shares = await splitSecret(key, 4, 2);
      await expectReconstructs([shares[3]!, shares[1]!], bytes);
      expect(shares[0]!.length).toBe(PREFIX.length + 2 * (HEAD + length + 1 + VERIFIER + CHECKSUM));
    }
  });

  it('splitting does not consume or change the secret; two splits differ', async () => {
    const { bytes, key } = secretOf(32, 8);
    const a = await splitSecret(key, 3, 2);
    const b = await splitSecret(key, 3, 2);
    expect(key.disposed).toBe(false);
    expect(hex(key.exportRaw())).toBe(hex(bytes));
    expect(a[0]).not.toBe(b[0]);
    expect(inspectShare(a[0]!).splitId).not.toBe(inspectShare(b[0]!).splitId);
    using again = await combineShares([a[0]!, a[2]!]);
    expect(again.equals(key)).toBe(true);
  });
});

describe('errors', () => {
  it('t − 1 shares → FX_CRYPTO_NOT_ENOUGH_SHARES', async () => {
    for (const [n, t] of [
      [2, 2],
      [5, 3],
      [6, 5],
    ] as const) {
      const { key } = secretOf(32, n * 10 + t);
      const shares = await splitSecret(key, n, t);
      for (const subset of combinations(n, t - 1)) {
        const error = await expectFxAsync(
          () => combineShares(subset.map((i) => shares[i]!)),
          'FX_CRYPTO_NOT_ENOUGH_SHARES',
        );
        expect(error.message).toContain(String(t));
      }
    }
  });

  it('a share with one hex character changed → FX_CRYPTO_INVALID_SHARE naming shares[i] and the checksum', async () => {
    const { key } = secretOf(32, 9);
    const shares = await splitSecret(key, 5, 3);
    const hexLength = shares[0]!.length - PREFIX.length;
    for (const position of [0, 1, 2]) {
      const target = shares[position]!;
      // Every character of the hex body, including the checksum itself.
      for (let c = 0; c < hexLength; c++) {
        const at = PREFIX.length + c;
        const old = target[at]!;
        const replacement = old === 'f' ? '0' : (parseInt(old, 16) + 1).toString(16);
        const damaged = target.slice(0, at) + replacement + target.slice(at + 1);
        const subset = [shares[0]!, shares[1]!, shares[2]!];
        subset[position] = damaged;
        const error = await expectFxAsync(() => combineShares(subset), 'FX_CRYPTO_INVALID_SHARE');
        expect(error.message).toContain(`shares[${position}]`);
        expect(error.message).toContain('checksum');
        expect(expectFx(() => inspectShare(damaged), 'FX_CRYPTO_INVALID_SHARE').message).toContain(
          'checksum',
        );
      }
    }
  });

  it('mixing shares of two splits → FX_CRYPTO_SHARES_MISMATCH', async () => {
    const { key } = secretOf(32, 10);
    const { key: other } = secretOf(32, 11);
    const a = await splitSecret(key, 5, 3);
    const sameSecret = await splitSecret(key, 5, 3);
    const otherSecret = await splitSecret(other, 5, 3);
    for (const b of [sameSecret, otherSecret]) {
      const error = await expectFxAsync(
        () => combineShares([a[0]!, a[1]!, b[2]!]),
        'FX_CRYPTO_SHARES_MISMATCH',
      );
      expect(error.message).toContain('shares[2]');
      await expectFxAsync(() => combineShares([b[4]!, a[1]!, a[2]!]), 'FX_CRYPTO_SHARES_MISMATCH');
    }
    // Different thresholds or secret lengths are other splits too.
    const t2 = await splitSecret(key, 5, 2);
    await expectFxAsync(() => combineShares([a[0]!, t2[1]!, a[2]!]), 'FX_CRYPTO_SHARES_MISMATCH');
    const { key: longer } = secretOf(40, 12);
    const l = await splitSecret(longer, 5, 3);
    await expectFxAsync(() => combineShares([a[0]!, a[1]!, l[2]!]), 'FX_CRYPTO_SHARES_MISMATCH');
  });

  it('a repeated share → FX_CRYPTO_SHARES_MISMATCH (also when re-typed in another case)', async () => {
    const { key } = secretOf(32, 13);
    const shares = await splitSecret(key, 5, 3);
    for (const batch of [
      [shares[0]!, shares[0]!, shares[1]!],
      [shares[0]!, shares[1]!, shares[1]!],
      [shares[2]!, shares[3]!, ` ${shares[2]!.toUpperCase()} `],
      [shares[0]!, shares[1]!, shares[2]!, shares[1]!],
    ]) {
      const error = await expectFxAsync(() => combineShares(batch), 'FX_CRYPTO_SHARES_MISMATCH');
      expect(error.message).toMatch(/shares\[\d\] repeats/);
    }
    // t = 1: two copies of the same share are still a repeat.
    const single = await splitSecret(key, 2, 1);
    await expectFxAsync(() => combineShares([single[0]!, single[0]!]), 'FX_CRYPTO_SHARES_MISMATCH');
  });

  it('a payload byte altered with a re-computed checksum → FX_CRYPTO_SHARES_MISMATCH (the verifier catches it)', async () => {
    const secretLength = 32;
    const { key } = secretOf(secretLength, 14);
    const shares = await splitSecret(key, 5, 3);
    const payloadEnd = HEAD + secretLength; // the last payload byte (the x coordinate) is handled in the next test
    for (const position of [0, 2]) {
      const bytes = shareBytes(shares[position]!);
      for (let at = HEAD; at < payloadEnd; at++) {
        for (const delta of [0x01, 0x80, 0xff]) {
          const altered = new Uint8Array(bytes);
          altered[at]! ^= delta;
          const forged = withChecksum(altered);
          expect(inspectShare(forged).number).toBe(position + 1); // well-formed: passes the checksum
          const batch = [shares[0]!, shares[1]!, shares[2]!];
          batch[position] = forged;
          const error = await expectFxAsync(() => combineShares(batch), 'FX_CRYPTO_SHARES_MISMATCH');
          expect(error.message).toContain('corrupted');
        }
      }
    }
  });

  it('an altered x coordinate with a re-computed checksum → FX_CRYPTO_SHARES_MISMATCH', async () => {
    const secretLength = 32;
    const { key } = secretOf(secretLength, 15);
    const shares = await splitSecret(key, 5, 3);
    const at = HEAD + secretLength; // payload = secret-length y values, then the x coordinate
    const first = shareBytes(shares[0]!);
    const taken = new Set([1, 2].map((i) => shareBytes(shares[i]!)[at]!));
    const candidates = new Set([0, 1, 0x80, 0xff, first[at]! ^ 1]);
    candidates.delete(first[at]!);
    for (const x of candidates) {
      if (taken.has(x)) continue; // a collision is the next test
      const altered = new Uint8Array(first);
      altered[at] = x;
      await expectFxAsync(
        () => combineShares([withChecksum(altered), shares[1]!, shares[2]!]),
        'FX_CRYPTO_SHARES_MISMATCH',
      );
    }
  });

  it('an x coordinate altered to equal another given share’s → FX_CRYPTO_SHARES_MISMATCH, not a library Error', async () => {
    // Found by this suite: shamir-secret-sharing's combine() throws a plain Error ("shares must contain
    // unique values but a duplicate was found") that combineShares lets through untyped.
    const secretLength = 32;
    const { key } = secretOf(secretLength, 15);
    const shares = await splitSecret(key, 5, 3);
    const at = HEAD + secretLength;
    const altered = shareBytes(shares[0]!);
    altered[at] = shareBytes(shares[1]!)[at]!;
    await expectFxAsync(
      () => combineShares([withChecksum(altered), shares[1]!, shares[2]!]),
      'FX_CRYPTO_SHARES_MISMATCH',
    );
  });

  it('an altered verifier or header with a re-computed checksum is refused', async () => {
    const secretLength = 32;
    const { key } = secretOf(secretLength, 16);
    const shares = await splitSecret(key, 5, 3);
    const bytes = shareBytes(shares[1]!);
    const verifierStart = HEAD + secretLength + 1;
    for (let at = verifierStart; at < verifierStart + VERIFIER; at++) {
      const altered = new Uint8Array(bytes);
      altered[at]! ^= 0x10;
      // combineShares checks the verifier carried by shares[0], so the forged share goes first.
      await expectFxAsync(
        () => combineShares([withChecksum(altered), shares[0]!, shares[2]!]),
        'FX_CRYPTO_SHARES_MISMATCH',
      );
    }
    // Split id → another split.
    const otherSplit = new Uint8Array(bytes);
    otherSplit[3]! ^= 1;
    await expectFxAsync(
      () => combineShares([shares[0]!, withChecksum(otherSplit), shares[2]!]),
      'FX_CRYPTO_SHARES_MISMATCH',
    );
    // Threshold lowered to 2: refused as a mismatch with the other shares' threshold.
    const lowered = new Uint8Array(bytes);
    lowered[9] = 2;
    await expectFxAsync(
      () => combineShares([shares[0]!, withChecksum(lowered), shares[2]!]),
      'FX_CRYPTO_SHARES_MISMATCH',
    );
    // Share number changed to one already present → repeat.
    const renumbered = new Uint8Array(bytes);
    renumbered[11] = 1;
    await expectFxAsync(
      () => combineShares([shares[0]!, withChecksum(renumbered), shares[2]!]),
      'FX_CRYPTO_SHARES_MISMATCH',
    );
    // Inconsistent header fields and unknown versions are malformed shares.
    for (const [at, value] of [
      [0, 2], // version
      [9, 0], // threshold 0
      [9, 6], // threshold > shares
      [11, 0], // number 0
      [11, 6], // number > shares
    ] as const) {
      const altered = new Uint8Array(bytes);
      altered[at] = value;
      const error = await expectFxAsync(
        () => combineShares([shares[0]!, withChecksum(altered), shares[2]!]),
        'FX_CRYPTO_INVALID_SHARE',
      );
      expect(error.message).toContain('shares[1]');
    }
  });

  it('malformed share strings → FX_CRYPTO_INVALID_SHARE naming the share', async () => {
    const { key } = secretOf(32, 17);
    const shares = await splitSecret(key, 3, 2);
    const good = shares[0]!;
    const bad = [
      '',
      'fxs1-',
      good.slice(PREFIX.length), // no prefix
      `fxs2-${good.slice(PREFIX.length)}`,
      `${good}0`, // odd length
      `${good}00`, // extra byte
      good.slice(0, -2), // missing byte
      good.slice(0, 40),
      `${good.slice(0, 20)}g${good.slice(21)}`, // not hex
      `${good.slice(0, 20)} ${good.slice(20)}`, // inner space
      good.replace('fxs1-', 'fxs1_'),
    ];
    for (const share of bad) {
      const error = await expectFxAsync(() => combineShares([shares[1]!, share]), 'FX_CRYPTO_INVALID_SHARE');
      expect(error.message).toContain('shares[1]');
      expectFx(() => inspectShare(share), 'FX_CRYPTO_INVALID_SHARE');
    }
  });
});

describe('metadata and parsing', () => {
  it('inspectShare reports number, threshold, share count and split id', async () => {
    const { key } = secretOf(32, 18);
    const shares = await splitSecret(key, 6, 4);
    const infos = shares.map((share) => inspectShare(share));
    infos.forEach((info, i) => {
      expect(info).toEqual({ splitId: infos[0]!.splitId, number: i + 1, threshold: 4, shares: 6 });
    });
    expect(infos[0]!.splitId).toMatch(/^[0-9a-f]{16}$/);
    expect(hex(shareBytes(shares[0]!).subarray(1, 9))).toBe(infos[0]!.splitId);
    for (const share of shares) expect(share).toMatch(/^fxs1-[0-9a-f]+$/);
  });

  it('accepts upper case and surrounding white space', async () => {
    const { bytes, key } = secretOf(32, 19);
    const shares = await splitSecret(key, 3, 2);
    const retyped = [`  ${shares[0]!.toUpperCase()}\n`, `\t${shares[2]!}  `];
    await expectReconstructs(retyped, bytes);
    expect(inspectShare(`\n ${shares[1]!.toUpperCase()} \r\n`)).toEqual(inspectShare(shares[1]!));
    await expectReconstructs([shares[1]!.replace('fxs1-', 'FXS1-'), shares[2]!], bytes);
  });

  it('the reconstructed key is a fresh SecretKey equal to the original', async () => {
    const { key } = secretOf(64, 20);
    const shares = await splitSecret(key, 3, 3);
    const again = await combineShares(shares);
    expect(again).toBeInstanceOf(SecretKey);
    expect(again.length).toBe(64);
    expect(again.equals(key)).toBe(true);
    again.dispose();
    expect(key.disposed).toBe(false);
  });
});
