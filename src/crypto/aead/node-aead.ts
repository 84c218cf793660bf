/**
 * @module crypto/aead/node-aead
 * AES-256-GCM and ChaCha20-Poly1305 (RFC 8439) from OpenSSL through node:crypto.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import type { Aead, AeadName } from './aead.js';

type NodeCipherName = CipherGCMTypes | 'chacha20-poly1305';

function nodeAead(name: AeadName, id: number, cipher: NodeCipherName, maxEncryptionsPerKey: number): Aead {
  const tagLength = 16;
  return Object.freeze({
    name,
    id,
    keyLength: 32,
    nonceLength: 12,
    tagLength,
    maxEncryptionsPerKey,
    provider: `OpenSSL ${process.versions.openssl} (node:crypto)`,
    encryptInto(
      out: Uint8Array,
      plaintext: Uint8Array,
      aad: Uint8Array,
      nonce: Uint8Array,
      key: Uint8Array,
    ): void {
      // node's typings split GCM and ChaCha overloads; both accept authTagLength.
      const c = createCipheriv(cipher as CipherGCMTypes, key, nonce, { authTagLength: tagLength });
      c.setAAD(aad);
      const body = c.update(plaintext);
      const tail = c.final();
      out.set(body, 0);
      if (tail.length > 0) out.set(tail, body.length);
      out.set(c.getAuthTag(), plaintext.length);
    },
    decryptInto(
      out: Uint8Array,
      sealed: Uint8Array,
      aad: Uint8Array,
      nonce: Uint8Array,
      key: Uint8Array,
    ): boolean {
      const bodyLength = sealed.length - tagLength;
      const d = createDecipheriv(cipher as CipherGCMTypes, key, nonce, { authTagLength: tagLength });
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(bodyLength));
      // OpenSSL streams plaintext before it checks the tag: keep it in a temporary and release it to
      // `out` only after final() has verified the tag; zero the temporary on failure.
      const body = d.update(sealed.subarray(0, bodyLength));
      try {
        d.final();
      } catch {
        body.fill(0);
        out.fill(0);
        return false;
      }
      out.set(body, 0);
      body.fill(0);
      return true;
    },
  } satisfies Aead);
}

/** AES-256-GCM, 96-bit random nonces: at most 2^32 encryptions per key version (NIST SP 800-38D). */
export const aes256Gcm: Aead = nodeAead('aes-256-gcm', 2, 'aes-256-gcm', 2 ** 32);

/** ChaCha20-Poly1305 (RFC 8439), 96-bit random nonces: the same 2^32 bound as AES-GCM applies. */
export const chacha20Poly1305: Aead = nodeAead('chacha20-poly1305', 3, 'chacha20-poly1305', 2 ** 32);
