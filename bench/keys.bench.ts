/**
 * @module bench/keys
 * `npm run -s bench -- keys`: unseal time per seal provider (beside the primitive that dominates
 * it), rotation latency for a key with 10,000 versions (beside a key with one, same store), and the
 * cost of a key-cache hit (beside one 64-byte XChaCha20-Poly1305 encryption). Prints JSON.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sodiumNative from 'sodium-native';
import { EncryptionContext } from '../src/crypto/envelope/encryption-context.js';
import { readEnvelopeHeader } from '../src/crypto/envelope/envelope-format.js';
import { deriveKeyFromPassphrase } from '../src/crypto/kdf/passphrase.js';
import { SecretKey } from '../src/crypto/memory/secret-key.js';
import { randomBytes } from '../src/crypto/random.js';
import { combineShares, splitSecret } from '../src/crypto/shamir/shamir.js';
import { KeyManager } from '../src/keys/key-manager.js';
import { DevKeyFileSealProvider } from '../src/keys/seal/dev-key-file-seal.js';
import { PassphraseSealProvider } from '../src/keys/seal/passphrase-seal.js';
import type { SealProvider } from '../src/keys/seal/seal-provider.js';
import { ShamirSealProvider } from '../src/keys/seal/shamir-seal.js';
import { FileKeyStore } from '../src/keys/store/file-key-store.js';
import type { KeyStore } from '../src/keys/store/key-store.js';
import { MemoryKeyStore } from '../src/keys/store/memory-key-store.js';
import { compare, median, progress, round } from './harness.js';

async function timeMs(
  fn: () => Promise<unknown>,
  samples: number,
): Promise<{ medianMs: number; samples: number[] }> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return { medianMs: round(median(times), 3), samples: times.map((t) => round(t, 3)) };
}

async function unsealTimes(samples: number, dir: string): Promise<object> {
  const results: Record<string, object> = {};
  const measure = async (
    name: string,
    provider: SealProvider,
    inputs: string[],
    baseline: () => Promise<unknown>,
  ): Promise<void> => {
    progress(`unseal: ${name}`);
    const keys = await KeyManager.open({ store: new MemoryKeyStore() });
    const { shares } = await keys.init(provider);
    await keys.createKey({ name: 'kek', purpose: 'kek' });
    keys.seal();
    const unsealInputs = shares === undefined ? inputs : shares.slice(0, 3);
    const unseal = await timeMs(async () => {
      await keys.unseal(provider, unsealInputs);
      keys.seal();
    }, samples);
    const base = await timeMs(baseline, samples);
    results[name] = { unseal, baseline: base, ratio: round(unseal.medianMs / base.medianMs, 2) };
  };
  const secret = SecretKey.generate(32);
  const shares = await splitSecret(secret, 5, 3);
  await measure('shamir 3-of-5', new ShamirSealProvider({ shares: 5, threshold: 3 }), [], () =>
    combineShares(shares.slice(0, 3)),
  );
  const passphrase = 'correct horse battery staple';
  const { params } = await deriveKeyFromPassphrase(passphrase);
  await measure(
    'passphrase (Argon2id, 64 MiB, t=3, p=4)',
    new PassphraseSealProvider({ passphrase }),
    [passphrase],
    () => deriveKeyFromPassphrase(passphrase, params),
  );
  const devKeyPath = path.join(dir, 'dev.key');
  await measure('dev key file', new DevKeyFileSealProvider({ path: devKeyPath }), [], () =>
    readFile(devKeyPath),
  );
  results['pkcs11'] = await pkcs11Unseal(samples, dir);
  secret.dispose();
  return results;
}

/** PKCS#11 against SoftHSM2 when it is installed (it is in CI); otherwise says why not. */
async function pkcs11Unseal(samples: number, dir: string): Promise<object> {
  const module = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find(
    (m) => existsSync(m),
  );
  if (module === undefined) return { skipped: 'SoftHSM2 is not installed (apt-get install softhsm2)' };
  progress('unseal: pkcs11 (SoftHSM2)');
  const tokens = path.join(dir, 'tokens');
  await mkdir(tokens, { recursive: true });
  const conf = path.join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\n`);
  process.env['SOFTHSM2_CONF'] = conf;
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', 'bench', '--so-pin', '12345678', '--pin', '1234'],
    { stdio: 'ignore' },
  );
  const { Pkcs11SealProvider } = await import('../src/keys/seal/pkcs11-seal.js');
  const provider = new Pkcs11SealProvider({ module, tokenLabel: 'bench', pin: '1234' });
  const keys = await KeyManager.open({ store: new MemoryKeyStore() });
  await keys.init(provider);
  keys.seal();
  const unseal = await timeMs(async () => {
    await keys.unseal(provider);
    keys.seal();
  }, samples);
  return { unseal, module };
}

async function copyStore(from: KeyStore, to: KeyStore, keyIds: number[]): Promise<void> {
  await to.putMeta('seal', (await from.getMeta('seal'))!);
  for (const id of keyIds) {
    const versions = await from.listVersions(id);
    for (let i = 0; i < versions.length; i += 200) {
      await Promise.all(versions.slice(i, i + 200).map((v) => to.putVersion(v)));
    }
    await to.putKey((await from.getKey(id))!);
  }
}

async function rotation(rounds: number, dir: string): Promise<object> {
  progress('rotation: building a key with 10,000 versions');
  const memory = new MemoryKeyStore();
  const keys = await KeyManager.open({ store: memory });
  const { shares } = await keys.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
  await keys.createKey({ name: 'kek', purpose: 'kek' });
  await keys.createKey({ name: 'many', purpose: 'data', parent: 'kek' });
  await keys.createKey({ name: 'one', purpose: 'data', parent: 'kek' });
  for (let i = 1; i < 10_000; i++) await keys.rotate('many');
  const memoryMany = await timeMs(() => keys.rotate('many'), rounds);
  const memoryOne = await timeMs(() => keys.rotate('one'), rounds);
  const ids = keys.listKeys().map((k) => k.id);
  keys.seal();

  progress('rotation: copying it into a file store (fsync per record)');
  const fileDir = path.join(dir, 'file-store');
  const file = await FileKeyStore.open(fileDir);
  await copyStore(memory, file, ids);
  const fileKeys = await KeyManager.open({ store: file });
  const openStart = performance.now();
  await fileKeys.unseal(new ShamirSealProvider(), shares);
  const unsealWithManyMs = round(performance.now() - openStart, 2);
  const fileMany = await timeMs(() => fileKeys.rotate('many'), rounds);
  const fileOne = await timeMs(() => fileKeys.rotate('one'), rounds);
  await fileKeys.close();
  return {
    memoryStore: {
      versions: 10_000 + rounds,
      rotateMs: memoryMany,
      rotateOneVersionKeyMs: memoryOne,
      ratio: round(memoryMany.medianMs / memoryOne.medianMs, 2),
    },
    fileStore: {
      versions: 10_000 + 2 * rounds,
      unsealAndLoadMs: unsealWithManyMs,
      rotateMs: fileMany,
      rotateOneVersionKeyMs: fileOne,
      ratio: round(fileMany.medianMs / fileOne.medianMs, 2),
    },
  };
}

async function cacheHit(rounds: number, ms: number): Promise<object> {
  progress('key-cache hit vs one encryption');
  const keys = await KeyManager.open({ store: new MemoryKeyStore() });
  await keys.init(new ShamirSealProvider({ shares: 1, threshold: 1 }));
  await keys.createKey({ name: 'kek', purpose: 'kek' });
  await keys.createKey({ name: 'data', purpose: 'data', parent: 'kek' });
  const context = EncryptionContext.of({ table: 't', column: 'c', row: '1' });
  const envelope = await keys.encrypt('data', randomBytes(64), context);
  const header = readEnvelopeHeader(envelope);
  const resolve = keys.resolver();
  const rawKey = randomBytes(32);
  const nonce = randomBytes(24);
  const plaintext = randomBytes(64);
  const out = new Uint8Array(80);
  const aad = randomBytes(60);
  const comparison = compare(
    () => resolve(header.keyId, header.keyVersion, header.algorithm),
    () => sodiumNative.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, rawKey),
    rounds,
    ms,
  );
  // The async path (what a caller without the sync resolver pays): one measurement at a time.
  const asyncRates: number[] = [];
  for (let r = 0; r < 3; r++) {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < ms) {
      await keys.keyForEnvelope(envelope);
      n++;
    }
    asyncRates.push((n / (performance.now() - start)) * 1000);
  }
  const asyncHitsPerSec = median(asyncRates);
  await keys.close();
  return {
    syncHitNs: round(1e9 / comparison.subject.opsPerSec, 1),
    encryption64BNs: round(1e9 / comparison.baseline.opsPerSec, 1),
    hitCostAsFractionOfOneEncryption: round(comparison.baseline.opsPerSec / comparison.subject.opsPerSec, 3),
    asyncKeyForEnvelopeNs: round(1e9 / asyncHitsPerSec, 1),
    rounds: comparison,
  };
}

export async function run(options: { quick: boolean }): Promise<object> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-keys-'));
  try {
    const unseal = await unsealTimes(options.quick ? 1 : 5, dir);
    const rotate = await rotation(options.quick ? 3 : 20, dir);
    const cache = (await cacheHit(options.quick ? 1 : 7, options.quick ? 30 : 250)) as { syncHitNs: number };
    return {
      suite: 'keys',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version },
      unseal,
      rotation: rotate,
      keyCacheHit: cache,
      targets: { 'key-cache hit ≤ 1 µs': { valueNs: cache.syncHitNs, met: cache.syncHitNs <= 1000 } },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
