/**
 * The standards' own vectors that `fortress selftest` embeds (src/selftest/known-answers.ts), run
 * through the public raw AEAD calls. For AEGIS-256 these are the only vectors with the 256-bit tag
 * that libsodium produces (Wycheproof's AEGIS file uses 128-bit tags; see shared-vectors.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { aeadDecrypt, aeadEncrypt } from '../../src/crypto/aead/raw-aead.js';
import type { AeadName } from '../../src/crypto/aead/aead.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { AEAD_VECTORS } from '../../src/selftest/known-answers.js';
import { fromHex, toHex } from '../../src/util/bytes.js';
import { FortressError } from '../../src/util/errors.js';

describe('standard AEAD vectors', () => {
  for (const [algorithm, vectors] of Object.entries(AEAD_VECTORS)) {
    it(`${algorithm}: ${vectors.length} vectors`, () => {
      for (const v of vectors) {
        const key = SecretKey.fromBytes(fromHex(v.key));
        const nonce = fromHex(v.nonce);
        const aad = fromHex(v.aad);
        const sealed = fromHex(v.ciphertext + v.tag);
        if (v.mustFail === true) {
          let error: unknown;
          try {
            aeadDecrypt(algorithm as AeadName, key, nonce, sealed, aad);
          } catch (e) {
            error = e;
          }
          expect(error instanceof FortressError && error.code === 'FX_INTEGRITY', v.source).toBe(true);
        } else {
          expect(
            toHex(aeadEncrypt(algorithm as AeadName, key, nonce, fromHex(v.plaintext), aad)),
            v.source,
          ).toBe(v.ciphertext + v.tag);
          expect(toHex(aeadDecrypt(algorithm as AeadName, key, nonce, sealed, aad)), v.source).toBe(
            v.plaintext,
          );
        }
        key.dispose();
      }
    });
  }
});
