/**
 * @module bench/crypto
 * `npm run bench -- crypto` (or `fortress bench crypto`): envelope encryption against the raw
 * primitive calls it wraps, large-value throughput against `openssl speed`, batch decryption
 * against single calls, and Argon2id at the default parameters. Prints JSON.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import sodiumNative from 'sodium-native';
import libsodium from 'libsodium-wrappers-sumo';
import type { AeadName } from '../src/crypto/aead/aead.js';
import { listAeads } from '../src/crypto/aead/registry.js';
import { DataKey } from '../src/crypto/envelope/data-key.js';
import { EncryptionContext } from '../src/crypto/envelope/encryption-context.js';
import { decrypt, decryptMany, encrypt } from '../src/crypto/envelope/envelope.js';
import { ARGON2ID_DEFAULTS, deriveKeyFromPassphrase } from '../src/crypto/kdf/passphrase.js';
import { randomBytes } from '../src/crypto/random.js';
import { compare, median, progress, rate, round, type Comparison } from './harness.js';

await libsodium.ready;

/** A realistic context: what the engine binds for one field of one row. */
const CONTEXT = EncryptionContext.of({
  tenant: 'acme',
  database: 'main',
  table: 'people',
  column: 'email',
  row: '0190f5c2-7c1a-7def-8a3b-2f6d0c9e4b11',
});
// Raw baselines get associated data of the same length as the envelope's (header + context).
const AAD_LENGTH = 10 + CONTEXT.encode().length;

interface RawPair {
  encrypt: (pt: Uint8Array) => void;
  decrypt: () => void;
}

/** The cheapest correct call of each primitive: output and nonce preallocated, no envelope. */
function rawPrimitive(algorithm: AeadName, size: number): RawPair {
  const key = randomBytes(32);
  const aad = randomBytes(AAD_LENGTH);
  const plaintext = randomBytes(size);
  switch (algorithm) {
    case 'xchacha20-poly1305': {
      const nonce = randomBytes(24);
      const sealed = new Uint8Array(size + 16);
      const out = new Uint8Array(size);
      sodiumNative.crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, plaintext, aad, null, nonce, key);
      return {
        encrypt: (pt) =>
          sodiumNative.crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, pt, aad, null, nonce, key),
        decrypt: () =>
          sodiumNative.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, sealed, aad, nonce, key),
      };
    }
    case 'aegis-256': {
      const nonce = randomBytes(32);
      const sealed = libsodium.crypto_aead_aegis256_encrypt(plaintext, aad, null, nonce, key);
      return {
        encrypt: (pt) => libsodium.crypto_aead_aegis256_encrypt(pt, aad, null, nonce, key),
        decrypt: () => libsodium.crypto_aead_aegis256_decrypt(null, sealed, aad, nonce, key),
      };
    }
    default: {
      const cipher = algorithm as 'aes-256-gcm';
      const nonce = randomBytes(12);
      const c = createCipheriv(cipher, key, nonce, { authTagLength: 16 });
      c.setAAD(aad);
      const body = Buffer.concat([c.update(plaintext), c.final()]);
      const tag = c.getAuthTag();
      return {
        encrypt: (pt) => {
          const e = createCipheriv(cipher, key, nonce, { authTagLength: 16 });
          e.setAAD(aad);
          e.update(pt);
          e.final();
          e.getAuthTag();
        },
        decrypt: () => {
          const d = createDecipheriv(cipher, key, nonce, { authTagLength: 16 });
          d.setAAD(aad);
          d.setAuthTag(tag);
          d.update(body);
          d.final();
        },
      };
    }
  }
}

interface SmallValueResult {
  algorithm: AeadName;
  encrypt: Comparison;
  decrypt: Comparison;
}

function smallValues(rounds: number, ms: number): SmallValueResult[] {
  return listAeads().map((aead) => {
    progress(`64-byte values, ${aead.name}`);
    const key = DataKey.generate({ id: 1, version: 1, algorithm: aead.name });
    const plaintext = randomBytes(64);
    const envelope = encrypt(key, plaintext, CONTEXT);
    const raw = rawPrimitive(aead.name, 64);
    const result = {
      algorithm: aead.name,
      encrypt: compare(
        () => encrypt(key, plaintext, CONTEXT),
        () => {
          raw.encrypt(plaintext);
        },
        rounds,
        ms,
      ),
      decrypt: compare(() => decrypt(key, envelope, CONTEXT), raw.decrypt, rounds, ms),
    };
    key.dispose();
    return result;
  });
}

/**
 * The least a correct caller of the raw XChaCha20-Poly1305 call must also do: draw a fresh random
 * nonce (libsodium) and allocate the output. Shows how much of the envelope's overhead is that.
 */
function minimalCorrectUse(rounds: number, ms: number): Comparison {
  progress('xchacha: envelope vs raw call + fresh nonce + fresh output');
  const key = DataKey.generate({ id: 1, version: 1 });
  const rawKey = randomBytes(32);
  const aad = randomBytes(AAD_LENGTH);
  const plaintext = randomBytes(64);
  const comparison = compare(
    () => encrypt(key, plaintext, CONTEXT),
    () => {
      const nonce = Buffer.allocUnsafe(24);
      sodiumNative.randombytes_buf(nonce);
      const out = Buffer.allocUnsafe(64 + 16);
      sodiumNative.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, rawKey);
    },
    rounds,
    ms,
  );
  key.dispose();
  return comparison;
}

function batchDecrypt(rounds: number, ms: number): Comparison & { values: number } {
  progress('decryptMany(4) vs 4 × decrypt');
  const key = DataKey.generate({ id: 1, version: 1 });
  const contexts = ['email', 'ssn', 'name', 'notes'].map((column) =>
    EncryptionContext.of({
      tenant: 'acme',
      database: 'main',
      table: 'people',
      column,
      row: '0190f5c2-7c1a-7def-8a3b-2f6d0c9e4b11',
    }),
  );
  const envelopes = contexts.map((context) => encrypt(key, randomBytes(48), context));
  const comparison = compare(
    () => decryptMany(key, envelopes, contexts),
    () => {
      for (let i = 0; i < 4; i++) decrypt(key, envelopes[i]!, contexts[i]);
    },
    rounds,
    ms,
  );
  key.dispose();
  return { ...comparison, values: 4 };
}

function opensslSpeed(cipher: string, bytes: number, seconds: number): number | undefined {
  try {
    const out = execFileSync(
      'openssl',
      ['speed', '-evp', cipher, '-bytes', String(bytes), '-seconds', String(seconds), '-mr'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const line = out.split('\n').find((l) => l.startsWith('+F:'));
    const value = line?.split(':').at(-1);
    return value === undefined ? undefined : Number(value);
  } catch {
    return undefined;
  }
}

interface ThroughputResult {
  algorithm: AeadName;
  size: number;
  encryptGBps: number;
  decryptGBps: number;
  rawEncryptGBps: number;
  openssl?: { cipher: string; GBps: number; ratio: number };
}

function throughput(rounds: number, ms: number, opensslSeconds: number): ThroughputResult[] {
  const results: ThroughputResult[] = [];
  for (const size of [16 * 1024, 1024 * 1024]) {
    for (const aead of listAeads()) {
      progress(`${size} bytes, ${aead.name}`);
      const key = DataKey.generate({ id: 1, version: 1, algorithm: aead.name });
      const plaintext = randomBytes(size);
      const envelope = encrypt(key, plaintext, CONTEXT);
      const raw = rawPrimitive(aead.name, size);
      const enc = compare(
        () => encrypt(key, plaintext, CONTEXT),
        () => {
          raw.encrypt(plaintext);
        },
        rounds,
        ms,
      );
      const dec = median(
        Array.from({ length: rounds }, () => rate(() => decrypt(key, envelope, CONTEXT), ms)),
      );
      const gb = (opsPerSec: number): number => round((opsPerSec * size) / 1e9, 3);
      const result: ThroughputResult = {
        algorithm: aead.name,
        size,
        encryptGBps: gb(enc.subject.opsPerSec),
        decryptGBps: gb(dec),
        rawEncryptGBps: gb(enc.baseline.opsPerSec),
      };
      const cipher = aead.name === 'aes-256-gcm' || aead.name === 'chacha20-poly1305' ? aead.name : undefined;
      if (size === 16 * 1024 && cipher !== undefined) {
        // Measured right after ours, in the same run, so both see the same machine load.
        const bytesPerSec = opensslSpeed(cipher, size, opensslSeconds);
        if (bytesPerSec !== undefined) {
          const GBps = round(bytesPerSec / 1e9, 3);
          result.openssl = { cipher, GBps, ratio: round(result.encryptGBps / GBps, 3) };
        }
      }
      results.push(result);
      key.dispose();
    }
  }
  return results;
}

async function argon2idDefaults(
  samples: number,
): Promise<{ params: typeof ARGON2ID_DEFAULTS; msPerDerivation: number; samples: number[] }> {
  progress('Argon2id at the default parameters');
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    const { key } = await deriveKeyFromPassphrase('correct horse battery staple');
    times.push(performance.now() - start);
    key.dispose();
  }
  return {
    params: ARGON2ID_DEFAULTS,
    msPerDerivation: round(median(times), 1),
    samples: times.map((t) => round(t, 1)),
  };
}

/** Runs the suite. `quick` shortens every measurement (a smoke run; its figures are not to be quoted). */
export async function run(options: { quick: boolean }): Promise<object> {
  const rounds = options.quick ? 1 : 7;
  const ms = options.quick ? 30 : 250;
  const small = smallValues(rounds, ms);
  const minimal = minimalCorrectUse(rounds, ms);
  const batch = batchDecrypt(rounds, ms);
  const large = throughput(options.quick ? 1 : 3, options.quick ? 30 : 400, options.quick ? 1 : 2);
  const argon = await argon2idDefaults(options.quick ? 1 : 5);

  const xchacha = small.find((s) => s.algorithm === 'xchacha20-poly1305')!;
  const targets = {
    'xchacha envelope encrypt ≥ 400,000/s': {
      value: xchacha.encrypt.subject.opsPerSec,
      met: xchacha.encrypt.subject.opsPerSec >= 400_000,
    },
    'xchacha envelope decrypt ≥ 500,000/s': {
      value: xchacha.decrypt.subject.opsPerSec,
      met: xchacha.decrypt.subject.opsPerSec >= 500_000,
    },
    'xchacha envelope encrypt ≥ 0.8 × raw call': {
      value: xchacha.encrypt.ratio,
      met: xchacha.encrypt.ratio >= 0.8,
    },
    'xchacha envelope decrypt ≥ 0.8 × raw call': {
      value: xchacha.decrypt.ratio,
      met: xchacha.decrypt.ratio >= 0.8,
    },
    'decryptMany(4) faster than 4 × decrypt': { value: batch.ratio, met: batch.ratio > 1 },
  };
  return {
    suite: 'crypto',
    quick: options.quick,
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      node: process.version,
      openssl: process.versions.openssl,
    },
    method:
      'ops/s are medians of interleaved rounds; ratio = median of per-round subject/baseline. Raw baselines: the bare library call with preallocated output and a fixed nonce (sodium-native, node:crypto createCipheriv, libsodium-wrappers); the envelope adds a fresh random nonce, header, context binding, validation and an output allocation.',
    smallValues64B: small,
    xchachaVsMinimalCorrectRawUse: minimal,
    decryptManyVsSingle: batch,
    throughput: large,
    argon2id: argon,
    targets,
  };
}
