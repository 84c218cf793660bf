/**
 * `encryptConvergent`: deterministic envelopes with a synthetic nonce. The same key, plaintext and
 * context give the same envelope; anything else changes it; `decrypt` opens it like any envelope;
 * and the nonce is exactly the documented derivation (docs/formats.md § Transit), recomputed here
 * with node:crypto alone.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DataKey } from '../../src/crypto/envelope/data-key.js';
import { EncryptionContext } from '../../src/crypto/envelope/encryption-context.js';
import { decrypt, encrypt, encryptConvergent } from '../../src/crypto/envelope/envelope.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import type { AeadName } from '../../src/crypto/aead/aead.js';
import { getAead } from '../../src/crypto/aead/registry.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('encryptConvergent', () => {
  for (const algorithm of [
    'xchacha20-poly1305',
    'aes-256-gcm',
    'chacha20-poly1305',
    'aegis-256',
  ] as AeadName[]) {
    it(`${algorithm}: deterministic, bound to key, plaintext and context; opens with decrypt`, () => {
      const raw = Buffer.alloc(32, 0x42);
      using key = new DataKey({ id: 9, version: 3, algorithm, key: SecretKey.fromBytes(raw) });
      using other = DataKey.generate({ id: 9, version: 3, algorithm });
      const ctx = EncryptionContext.of({ tenant: 't', database: 'transit', table: 'k', row: utf8('aad') });
      const a = encryptConvergent(key, utf8('4111 1111 1111 1111'), ctx);
      expect(encryptConvergent(key, utf8('4111 1111 1111 1111'), ctx)).toEqual(a);
      expect(encryptConvergent(key, utf8('4111 1111 1111 1112'), ctx)).not.toEqual(a);
      expect(encryptConvergent(key, utf8('4111 1111 1111 1111'), ctx.withRow(utf8('aae')))).not.toEqual(a);
      expect(encryptConvergent(other, utf8('4111 1111 1111 1111'), ctx)).not.toEqual(a);
      expect(Buffer.from(decrypt(key, a, ctx)).toString()).toBe('4111 1111 1111 1111');
      // Random-nonce envelopes of the same value differ from it and from each other.
      expect(encrypt(key, utf8('4111 1111 1111 1111'), ctx)).not.toEqual(a);

      // The nonce, recomputed from the documented recipe with node:crypto alone.
      const aead = getAead(algorithm);
      const aad = Buffer.concat([a.subarray(0, 10), ctx.encode()]);
      const nonceKey = Buffer.from(
        hkdfSync('sha256', raw, new Uint8Array(0), Buffer.from('fortress/v1/envelope/synthetic-nonce\0'), 32),
      );
      const length = Buffer.alloc(4);
      length.writeUInt32BE(aad.length);
      const mac = createHmac('sha256', nonceKey)
        .update(length)
        .update(aad)
        .update('4111 1111 1111 1111')
        .digest();
      expect(a.subarray(10, 10 + aead.nonceLength)).toEqual(mac.subarray(0, aead.nonceLength));
    });
  }

  it('counts against the key version usage like any encryption', () => {
    using key = DataKey.generate({ id: 1, version: 1, algorithm: 'aes-256-gcm' });
    encryptConvergent(key, utf8('x'));
    encryptConvergent(key, utf8('x'));
    expect(key.encryptions).toBe(2);
  });
});
