/**
 * HmacSha256Key (libsodium SHA-256 with precomputed pad states) tested four ways: every Wycheproof
 * HMAC-SHA256 vector (all key sizes, full and truncated tags), a property cross-check against two
 * independent implementations (OpenSSL through node:crypto, and @noble/hashes in pure JS) on random
 * keys of 0–200 bytes (so keys longer than a block are hashed first) and messages of 0–1,000 bytes,
 * repeated use of one key (no state carried from one call to the next), and its lifecycle and bad
 * inputs.
 */
import { createHmac } from 'node:crypto';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HmacSha256Key } from '../../src/crypto/mac/hmac-sha256-key.js';
import { BlindIndex } from '../../src/crypto/blind-index/blind-index.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { casesOf, hex, loadWycheproof, toHex, type MacFile } from '../helpers/vectors.js';
import { expectCode } from '../helpers/expect-code.js';

describe('HmacSha256Key against Wycheproof (hmac_sha256_test.json)', () => {
  it('every valid tag is reproduced and no invalid tag is, at every key and tag size', () => {
    const file = loadWycheproof<MacFile>('hmac_sha256_test.json');
    const failures: string[] = [];
    const counts = { valid: 0, invalid: 0 };
    const keySizes = new Set<number>();
    for (const { group, test } of casesOf(file)) {
      keySizes.add(group.keySize);
      using key = new HmacSha256Key(hex(test.key));
      const tag = toHex(key.mac(hex(test.msg)).subarray(0, group.tagSize / 8));
      if (test.result === 'valid') {
        counts.valid++;
        if (tag !== test.tag) failures.push(`tcId ${test.tcId}: ${tag} ≠ ${test.tag}`);
      } else {
        counts.invalid++;
        if (tag === test.tag) failures.push(`tcId ${test.tcId}: matches an invalid tag`);
      }
    }
    expect(failures).toEqual([]);
    expect(counts).toEqual({ valid: 66, invalid: 108 });
    expect([...keySizes].sort((a, b) => a - b)).toEqual([128, 256, 520]);
  });
});

describe('HmacSha256Key against independent implementations', () => {
  it('equals node:crypto (OpenSSL) and @noble/hashes on random keys and messages', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 1000 }), { minLength: 1, maxLength: 4 }),
        (keyBytes, messages) => {
          using key = new HmacSha256Key(keyBytes);
          // Several messages through one key: each call starts again from the pad states.
          for (const message of messages) {
            const ours = toHex(key.mac(message));
            expect(ours).toBe(createHmac('sha256', keyBytes).update(message).digest('hex'));
            expect(ours).toBe(toHex(hmac(sha256, keyBytes, message)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('macInto writes the same tag into a caller buffer (and only its first 32 bytes)', () => {
    using key = new HmacSha256Key(new Uint8Array(32).fill(7));
    const message = new TextEncoder().encode('ann@example.com');
    const out = new Uint8Array(40).fill(0xaa);
    key.macInto(message, out);
    expect(toHex(out.subarray(0, 32))).toBe(toHex(key.mac(message)));
    expect([...out.subarray(32)]).toEqual(new Array(8).fill(0xaa));
  });

  it('mac() returns a fresh buffer each call', () => {
    using key = new HmacSha256Key(new Uint8Array(32).fill(1));
    const a = key.mac(new Uint8Array([1]));
    const b = key.mac(new Uint8Array([2]));
    expect(toHex(a)).not.toBe(toHex(b));
    expect(toHex(a)).toBe(
      createHmac('sha256', new Uint8Array(32).fill(1))
        .update(new Uint8Array([1]))
        .digest('hex'),
    );
  });
});

describe('HmacSha256Key lifecycle and bad input', () => {
  it('dispose() zeroes the state: later calls throw FX_CRYPTO_KEY_DISPOSED; dispose is idempotent', async () => {
    const key = new HmacSha256Key(new Uint8Array(32).fill(3));
    key.mac(new Uint8Array(1));
    expect(key.disposed).toBe(false);
    key.dispose();
    key.dispose();
    expect(key.disposed).toBe(true);
    await expectCode(() => key.mac(new Uint8Array(1)), 'FX_CRYPTO_KEY_DISPOSED');
    await expectCode(() => {
      key.macInto(new Uint8Array(1), new Uint8Array(32));
    }, 'FX_CRYPTO_KEY_DISPOSED');
  });

  it('refuses keys and messages that are not bytes, naming the argument', async () => {
    for (const bad of ['key', 42, null, undefined, [1, 2], {}]) {
      await expectCode(() => new HmacSha256Key(bad as Uint8Array), 'FX_INVALID_ARGUMENT');
    }
    using key = new HmacSha256Key(new Uint8Array(32));
    for (const bad of ['text', 1, null, [1]]) {
      await expectCode(() => key.mac(bad as unknown as Uint8Array), 'FX_INVALID_ARGUMENT');
    }
  });

  it('serialises as a placeholder, never its state', () => {
    using key = new HmacSha256Key(new Uint8Array(32).fill(9));
    expect(JSON.stringify({ key })).toBe('{"key":"[HmacSha256Key]"}');
  });

  it('a disposed BlindIndex refuses to compute (its index key is zeroed)', async () => {
    using secret = SecretKey.generate();
    const index = new BlindIndex(secret, { bits: 16 });
    const before = index.computeInt('ann@example.com');
    expect(index.computeInt('ann@example.com')).toBe(before);
    index.dispose();
    expect(index.disposed).toBe(true);
    await expectCode(() => index.compute('ann@example.com'), 'FX_CRYPTO_KEY_DISPOSED');
  });
});
