/**
 * @module selftest/selftest
 * `fortress selftest`: runs every algorithm's known-answer vectors and round trips on this machine
 * and reports pass/fail per check. Any failure means this build must not be trusted with data.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { aeadDecrypt, aeadEncrypt } from '../crypto/aead/raw-aead.js';
import { getAead, listAeads } from '../crypto/aead/registry.js';
import type { AeadName } from '../crypto/aead/aead.js';
import { BlindIndex } from '../crypto/blind-index/blind-index.js';
import { planBlindIndexBits } from '../crypto/blind-index/planner.js';
import { DataKey } from '../crypto/envelope/data-key.js';
import { EncryptionContext } from '../crypto/envelope/encryption-context.js';
import { decrypt, decryptMany, encrypt, encryptMany } from '../crypto/envelope/envelope.js';
import { hkdfSha256 } from '../crypto/kdf/hkdf.js';
import { argon2idRaw, scryptRaw } from '../crypto/kdf/passphrase.js';
import { hmacSha256 } from '../crypto/mac/hmac.js';
import { keyMaterial, SecretKey } from '../crypto/memory/secret-key.js';
import { constantTimeEqual } from '../crypto/memory/constant-time.js';
import { combineShares, splitSecret } from '../crypto/shamir/shamir.js';
import { createSigner, createVerifier } from '../crypto/signature/signature.js';
import { fromHex, toHex, utf8Encoder } from '../util/bytes.js';
import { FortressError } from '../util/errors.js';
import {
  AEAD_VECTORS,
  ARGON2ID_VECTOR,
  ED25519_VECTOR,
  HKDF_VECTOR,
  HMAC_VECTOR,
  ML_DSA_65_KEYGEN_PIN,
  SCRYPT_VECTOR,
} from './known-answers.js';

/** One line of the self-test report. */
export interface SelftestCheck {
  readonly algorithm: string;
  readonly check: string;
  readonly source: string;
  readonly ok: boolean;
  readonly ms: number;
  /** Why it failed (never contains key bytes or plaintext). */
  readonly error?: string;
}

interface Check {
  algorithm: string;
  check: string;
  source: string;
  run: () => void | Promise<void>;
}

class SelftestFailure extends Error {}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new SelftestFailure(what);
}

function expectThrows(fn: () => unknown, code: string, what: string): void {
  try {
    fn();
  } catch (error) {
    expect(
      error instanceof FortressError && error.code === code,
      `${what}: threw ${String(error)} instead of ${code}`,
    );
    return;
  }
  throw new SelftestFailure(`${what}: did not throw`);
}

const equalHex = (bytes: Uint8Array, hex: string): boolean => toHex(bytes) === hex;

function aeadChecks(): Check[] {
  const checks: Check[] = [];
  for (const [name, vectors] of Object.entries(AEAD_VECTORS)) {
    const algorithm = name as AeadName;
    for (const vector of vectors) {
      checks.push({
        algorithm,
        check:
          vector.mustFail === true ? 'known answer: forgery rejected' : 'known answer: encrypt + decrypt',
        source: vector.source,
        run: () => {
          using key = SecretKey.fromBytes(fromHex(vector.key));
          const nonce = fromHex(vector.nonce);
          const aad = fromHex(vector.aad);
          const sealed = fromHex(vector.ciphertext + vector.tag);
          if (vector.mustFail === true) {
            expectThrows(
              () => aeadDecrypt(algorithm, key, nonce, sealed, aad),
              'FX_INTEGRITY',
              'forged ciphertext',
            );
            return;
          }
          const plaintext = fromHex(vector.plaintext);
          expect(
            equalHex(aeadEncrypt(algorithm, key, nonce, plaintext, aad), vector.ciphertext + vector.tag),
            'ciphertext‖tag differs from the standard',
          );
          expect(
            equalHex(aeadDecrypt(algorithm, key, nonce, sealed, aad), vector.plaintext),
            'decryption differs from the standard',
          );
          const tampered = new Uint8Array(sealed);
          tampered[tampered.length - 1]! ^= 1;
          expectThrows(
            () => aeadDecrypt(algorithm, key, nonce, tampered, aad),
            'FX_INTEGRITY',
            'flipped tag bit',
          );
        },
      });
    }
  }
  return checks;
}

function envelopeChecks(): Check[] {
  return listAeads().map((aead) => ({
    algorithm: aead.name,
    check: 'envelope round trip, batch, context binding',
    source: 'Fortress envelope v1 (docs/formats.md)',
    run: () => {
      using key = DataKey.generate({ id: 1, version: 1, algorithm: aead.name });
      const context = EncryptionContext.of({
        tenant: 't',
        database: 'd',
        table: 'people',
        column: 'ssn',
        row: '1',
      });
      const plaintext = utf8Encoder.encode('selftest value');
      const envelope = encrypt(key, plaintext, context);
      expect(constantTimeEqual(decrypt(key, envelope, context), plaintext), 'round trip');
      expect(
        !constantTimeEqual(encrypt(key, plaintext, context), envelope),
        'two encryptions are identical (nonce reuse)',
      );
      expectThrows(
        () => decrypt(key, envelope, context.withRow('2')),
        'FX_INTEGRITY',
        'value moved to another row',
      );
      const many = encryptMany(key, [plaintext, new Uint8Array(0)], context);
      const back = decryptMany(key, many, context);
      expect(constantTimeEqual(back[0]!, plaintext) && back[1]!.length === 0, 'batch round trip');
      expect(getAead(aead.name) === aead, 'registry lookup');
    },
  }));
}

function kdfChecks(): Check[] {
  return [
    {
      algorithm: 'hkdf-sha256',
      check: 'known answer',
      source: HKDF_VECTOR.source,
      run: () => {
        const okm = hkdfSha256(fromHex(HKDF_VECTOR.ikm), {
          salt: fromHex(HKDF_VECTOR.salt),
          info: fromHex(HKDF_VECTOR.info),
          length: HKDF_VECTOR.okm.length / 2,
        });
        expect(equalHex(okm, HKDF_VECTOR.okm), 'okm differs from the standard');
      },
    },
    {
      algorithm: 'hmac-sha256',
      check: 'known answer (and blind index over it)',
      source: HMAC_VECTOR.source,
      run: () => {
        expect(
          equalHex(hmacSha256(fromHex(HMAC_VECTOR.key), fromHex(HMAC_VECTOR.message)), HMAC_VECTOR.tag),
          'tag differs',
        );
        // A 256-bit blind index with no normalisation is exactly HMAC-SHA256 under the index key.
        using key = SecretKey.fromBytes(fromHex('0b'.repeat(32)));
        const index = new BlindIndex(key, { bits: 256 });
        const message = fromHex(HMAC_VECTOR.message);
        expect(equalHex(index.compute(message), toHex(hmacSha256(key, message))), 'blind index ≠ HMAC');
        const short = new BlindIndex(key, { bits: 12 });
        const value = short.compute(message);
        expect(value.length === 2 && (value[1]! & 0x0f) === 0, 'truncation to 12 bits');
      },
    },
    {
      algorithm: 'argon2id',
      check: 'known answer',
      source: ARGON2ID_VECTOR.source,
      run: async () => {
        const tag = await argon2idRaw(
          fromHex(ARGON2ID_VECTOR.password),
          {
            salt: fromHex(ARGON2ID_VECTOR.salt),
            memoryKiB: ARGON2ID_VECTOR.memoryKiB,
            iterations: ARGON2ID_VECTOR.iterations,
            parallelism: ARGON2ID_VECTOR.parallelism,
          },
          32,
          {
            secret: fromHex(ARGON2ID_VECTOR.secret),
            associatedData: fromHex(ARGON2ID_VECTOR.associatedData),
          },
        );
        expect(equalHex(tag, ARGON2ID_VECTOR.tag), 'tag differs from the standard');
      },
    },
    {
      algorithm: 'scrypt',
      check: 'known answer',
      source: SCRYPT_VECTOR.source,
      run: async () => {
        const key = await scryptRaw(
          utf8Encoder.encode(SCRYPT_VECTOR.password),
          {
            logN: SCRYPT_VECTOR.logN,
            blockSize: SCRYPT_VECTOR.blockSize,
            parallelism: SCRYPT_VECTOR.parallelism,
            salt: utf8Encoder.encode(SCRYPT_VECTOR.salt),
          },
          SCRYPT_VECTOR.key.length / 2,
        );
        expect(equalHex(key, SCRYPT_VECTOR.key), 'key differs from the standard');
      },
    },
  ];
}

function signatureChecks(): Check[] {
  return [
    {
      algorithm: 'ed25519',
      check: 'known answer: sign + verify',
      source: ED25519_VECTOR.source,
      run: () => {
        using signer = createSigner('ed25519', SecretKey.fromBytes(fromHex(ED25519_VECTOR.seed)));
        expect(equalHex(signer.publicKey, ED25519_VECTOR.publicKey), 'public key differs');
        const message = fromHex(ED25519_VECTOR.message);
        expect(equalHex(signer.sign(message), ED25519_VECTOR.signature), 'signature differs');
        const verifier = createVerifier('ed25519', fromHex(ED25519_VECTOR.publicKey));
        expect(verifier.verify(message, fromHex(ED25519_VECTOR.signature)), 'valid signature rejected');
        expect(
          !verifier.verify(utf8Encoder.encode('x'), fromHex(ED25519_VECTOR.signature)),
          'wrong message accepted',
        );
      },
    },
    {
      algorithm: 'ml-dsa-65',
      check: 'keygen pin + pairwise consistency',
      source: ML_DSA_65_KEYGEN_PIN.source,
      run: () => {
        using signer = createSigner('ml-dsa-65', SecretKey.fromBytes(fromHex(ML_DSA_65_KEYGEN_PIN.seed)));
        const digest = createHash('sha256').update(signer.publicKey).digest('hex');
        expect(
          digest === ML_DSA_65_KEYGEN_PIN.publicKeySha256,
          'key generation differs from the pinned result',
        );
        const message = utf8Encoder.encode('fortress selftest');
        const signature = signer.sign(message);
        expect(signer.verifier().verify(message, signature), 'own signature rejected');
        expect(
          !signer.verifier().verify(utf8Encoder.encode('fortress selftesT'), signature),
          'modified message accepted',
        );
      },
    },
  ];
}

function otherChecks(): Check[] {
  return [
    {
      algorithm: 'blind-index planner',
      check: "CipherSweet's documented example",
      source: 'CipherSweet blind index planning (50,000 rows → 8–15 bits)',
      run: () => {
        const plan = planBlindIndexBits({ rows: 50_000 });
        expect(plan.min === 8 && plan.max === 15, `got ${plan.min}–${plan.max}`);
        const withExisting = planBlindIndexBits({ rows: 50_000, existing: [{ bits: 4, domainBits: 16 }] });
        expect(
          withExisting.min === 4 && withExisting.max === 11,
          `with existing index got ${withExisting.min}–${withExisting.max}`,
        );
      },
    },
    {
      algorithm: 'shamir',
      check: '3-of-5 split, combine, mistyped share detected',
      source: 'shamir-secret-sharing (GF(2^8)) + Fortress share encoding',
      run: async () => {
        using secret = SecretKey.generate(32);
        const shares = await splitSecret(secret, 5, 3);
        using back = await combineShares([shares[4]!, shares[0]!, shares[2]!]);
        expect(back.equals(secret), 'reconstructed secret differs');
        const typo = shares[1]!.slice(0, 20) + (shares[1]![20] === 'a' ? 'b' : 'a') + shares[1]!.slice(21);
        let caught = false;
        try {
          await combineShares([shares[0]!, typo, shares[2]!]);
        } catch (error) {
          caught = error instanceof FortressError && error.code === 'FX_CRYPTO_INVALID_SHARE';
        }
        expect(caught, 'mistyped share not reported');
      },
    },
    {
      algorithm: 'key memory',
      check: 'guarded allocation, zeroed on dispose',
      source: 'libsodium sodium_malloc / sodium_memzero',
      run: () => {
        const key = SecretKey.generate(32);
        const bytes = keyMaterial(key);
        expect(
          (bytes as Buffer & { secure?: boolean }).secure === true,
          'key bytes are not in sodium_malloc memory',
        );
        key.dispose();
        expect(
          bytes.every((b) => b === 0),
          'dispose did not zero the key',
        );
        expectThrows(() => keyMaterial(key), 'FX_CRYPTO_KEY_DISPOSED', 'use after dispose');
      },
    },
  ];
}

/** Every check, in report order. */
export function selftestChecks(): Check[] {
  return [...aeadChecks(), ...envelopeChecks(), ...kdfChecks(), ...signatureChecks(), ...otherChecks()];
}

/** Runs every check; never throws — failures are reported in the results. */
export async function runSelftest(): Promise<SelftestCheck[]> {
  const results: SelftestCheck[] = [];
  for (const check of selftestChecks()) {
    const start = performance.now();
    try {
      await check.run();
      results.push({
        algorithm: check.algorithm,
        check: check.check,
        source: check.source,
        ok: true,
        ms: performance.now() - start,
      });
    } catch (error) {
      results.push({
        algorithm: check.algorithm,
        check: check.check,
        source: check.source,
        ok: false,
        ms: performance.now() - start,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  }
  return results;
}

/** The locked-memory limit of this process (Linux), for the report: keys are mlock'ed within it. */
export function lockedMemoryLimit(): string | undefined {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const line = limits.split('\n').find((l) => l.startsWith('Max locked memory'));
    if (line === undefined) return undefined;
    const [soft] = line.replace('Max locked memory', '').trim().split(/\s+/);
    if (soft === undefined) return undefined;
    return soft === 'unlimited' ? 'unlimited' : `${Math.round(Number(soft) / 1024)} KiB`;
  } catch {
    return undefined;
  }
}
