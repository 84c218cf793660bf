/**
 * Key backups (src/crypto/backup/key-backup.ts): round trips with random payloads up to 1 MiB, the
 * documented byte layout, and every rejection — a flipped bit anywhere, every truncation, appended
 * bytes, another recipient, untrusted signers, one signature stripped, zeroed or swapped — each with
 * FX_BACKUP_INVALID and a message naming the failed check. Signature checks must come before the
 * recipient check and decryption; tampering that a trusted signer re-signed must still be caught by
 * the later checks. Bad arguments throw FX_INVALID_ARGUMENT naming the argument.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  KEY_BACKUP_MLDSA_CONTEXT,
  keyBackupSignerOptions,
  MAX_BACKUP_LABEL_BYTES,
  MAX_BACKUP_PAYLOAD_BYTES,
  openBackup,
  sealBackup,
  type OpenBackupOptions,
  type SealBackupOptions,
} from '../../src/crypto/backup/key-backup.js';
import { generateRecipientKeys, HYBRID_ENCAPSULATION_BYTES } from '../../src/crypto/hybrid/hybrid-kem.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { randomBytes } from '../../src/crypto/random.js';
import { createVerifier, generateSigner, type Signer } from '../../src/crypto/signature/signature.js';
import { FortressError, InvalidArgumentError } from '../../src/util/errors.js';
import { toHex } from '../helpers/vectors.js';

const ED_SIG = 64;
const PQ_SIG = 3309;

const alice = generateRecipientKeys();
const bob = generateRecipientKeys();
const ed = generateSigner('ed25519');
const pq = generateSigner('ml-dsa-65', keyBackupSignerOptions());
const evilEd = generateSigner('ed25519');
const evilPq = generateSigner('ml-dsa-65', keyBackupSignerOptions());
const trusted = { ed25519: ed.publicKey, mlDsa65: pq.publicKey };
const forAlice: OpenBackupOptions = { recipientSecretKey: alice.secretKey, trusted };

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function seal(payload: Uint8Array, overrides: Partial<SealBackupOptions> = {}): Uint8Array {
  return sealBackup({
    payload,
    recipient: alice.publicKey,
    signers: { ed25519: ed, mlDsa65: pq },
    ...overrides,
  });
}

/** Replaces both signatures with new ones over the (possibly tampered) signed part. */
function resign(bytes: Uint8Array, edSigner: Signer, pqSigner: Signer): Uint8Array {
  const out = new Uint8Array(bytes);
  const signedLength = out.length - ED_SIG - PQ_SIG;
  const signed = out.subarray(0, signedLength);
  out.set(edSigner.sign(signed), signedLength);
  out.set(pqSigner.sign(signed), signedLength + ED_SIG);
  return out;
}

type Outcome =
  | { readonly threw: false }
  | { readonly threw: true; readonly code: string; readonly argument?: string; readonly message: string };

function attempt(fn: () => unknown): Outcome {
  try {
    fn();
    return { threw: false };
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      return { threw: true, code: error.code, argument: error.argument, message: error.message };
    }
    if (error instanceof FortressError) return { threw: true, code: error.code, message: error.message };
    return { threw: true, code: `non-Fortress error: ${String(error)}`, message: String(error) };
  }
}

/** Asserts `fn` throws FX_BACKUP_INVALID with a message matching `pattern`. */
function expectInvalid(fn: () => unknown, pattern: RegExp): void {
  const outcome = attempt(fn);
  expect(outcome.threw, 'expected a rejection').toBe(true);
  if (!outcome.threw) return;
  expect(outcome.code, outcome.message).toBe('FX_BACKUP_INVALID');
  expect(outcome.message).toMatch(pattern);
}

describe('key backup: round trips', () => {
  it('restores random payloads from 0 to 1 MiB with their labels', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 256 }), fc.integer({ min: 0, max: 1 << 20 })),
        fc.string({ unit: 'binary', maxLength: 40 }),
        (size, label) => {
          const payload = randomBytes(size);
          const before = Date.now();
          const backup = seal(payload, { label });
          const label8 = new TextEncoder().encode(label).length;
          expect(backup.length).toBe(4649 + label8 + size);
          const opened = openBackup(backup, forAlice);
          expect(opened.label).toBe(label);
          expect(opened.payload.length).toBe(size);
          expect(Buffer.from(opened.payload).equals(Buffer.from(payload))).toBe(true);
          const createdAt = Date.parse(opened.createdAt);
          expect(createdAt).toBeGreaterThanOrEqual(before);
          expect(createdAt).toBeLessThanOrEqual(Date.now());
        },
      ),
      { numRuns: 4 },
    );
  });

  it('handles the extremes: empty payload and label, exactly 1 MiB, a maximal multi-byte label', () => {
    const empty = openBackup(seal(new Uint8Array(0)), forAlice);
    expect(empty.payload.length).toBe(0);
    expect(empty.label).toBe('');
    const mib = randomBytes(1 << 20);
    expect(toHex(openBackup(seal(mib), forAlice).payload)).toBe(toHex(mib));
    const label = 'é'.repeat(MAX_BACKUP_LABEL_BYTES / 2); // 2 UTF-8 bytes each
    expect(openBackup(seal(randomBytes(10), { label }), forAlice).label).toBe(label);
  });

  it('writes the documented layout', () => {
    const payload = randomBytes(33);
    const label = 'prod root';
    const before = Date.now();
    const b = seal(payload, { label });
    const L = label.length;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    expect(Buffer.from(b.subarray(0, 4)).toString('latin1')).toBe('FXBK');
    expect(b[4]).toBe(1);
    const createdAt = Number(view.getBigUint64(5));
    expect(createdAt).toBeGreaterThanOrEqual(before);
    expect(createdAt).toBeLessThanOrEqual(Date.now());
    expect(view.getUint16(13)).toBe(L);
    expect(Buffer.from(b.subarray(15, 15 + L)).toString('utf8')).toBe(label);
    expect(toHex(b.subarray(15 + L, 47 + L))).toBe(sha256(alice.publicKey));
    expect(toHex(b.subarray(47 + L, 79 + L))).toBe(sha256(ed.publicKey));
    expect(toHex(b.subarray(79 + L, 111 + L))).toBe(sha256(pq.publicKey));
    expect(b[111 + L]).toBe(1); // hybrid encapsulation version
    expect(view.getUint32(1256 + L)).toBe(payload.length);
    const signedLength = 1260 + L + payload.length + 16;
    expect(b.length).toBe(signedLength + ED_SIG + PQ_SIG);
    const signed = b.subarray(0, signedLength);
    expect(
      createVerifier('ed25519', ed.publicKey).verify(signed, b.subarray(signedLength, signedLength + ED_SIG)),
    ).toBe(true);
    const context = new TextEncoder().encode(KEY_BACKUP_MLDSA_CONTEXT);
    expect(
      createVerifier('ml-dsa-65', pq.publicKey, { context }).verify(
        signed,
        b.subarray(signedLength + ED_SIG),
      ),
    ).toBe(true);
    // The ML-DSA signature does not verify without the context (domain separation is real).
    expect(createVerifier('ml-dsa-65', pq.publicKey).verify(signed, b.subarray(signedLength + ED_SIG))).toBe(
      false,
    );
    // Encryption is randomised: the same input twice gives different encapsulations and nonces.
    const again = seal(payload, { label });
    expect(toHex(again.subarray(111 + L, 1256 + L))).not.toBe(toHex(b.subarray(111 + L, 1256 + L)));
  });
});

describe('key backup: rejections', () => {
  const label = 'dr';
  const L = label.length;
  const payload = randomBytes(40);
  const backup = seal(payload, { label });
  const signedLength = backup.length - ED_SIG - PQ_SIG;

  /** The check that must fail when byte `index` is flipped. */
  function expectedFor(index: number): RegExp {
    if (index < 4) return /bad magic/;
    if (index === 4) return /format version/;
    if (index >= 13 && index < 15) return /truncated|unexpected bytes|label length|payload length/;
    if (index >= 47 + L && index < 79 + L) return /Ed25519 signer is not the trusted/;
    if (index >= 79 + L && index < 111 + L) return /ML-DSA-65 signer is not the trusted/;
    if (index >= 1256 + L && index < 1260 + L) return /truncated|unexpected bytes|payload length/;
    if (index >= signedLength + ED_SIG) return /ML-DSA-65 signature does not verify/;
    return /Ed25519 signature does not verify/;
  }

  it('rejects a flipped bit in every header, ciphertext and Ed25519-signature byte; sampled elsewhere', () => {
    const failures: string[] = [];
    let checked = 0;
    const kemStart = 111 + L;
    const kemEnd = kemStart + HYBRID_ENCAPSULATION_BYTES;
    for (let index = 0; index < backup.length; index++) {
      // The encapsulation's 1121 bytes all fall to the same check, and ML-DSA verification costs
      // milliseconds: sample those two regions (always including their first and last bytes).
      const inKem = index >= kemStart && index < kemEnd;
      const inPq = index >= signedLength + ED_SIG;
      const edge = index === kemStart || index === kemEnd - 1 || index === backup.length - 1;
      if (
        !edge &&
        ((inKem && (index - kemStart) % 7 !== 0) || (inPq && (index - signedLength - ED_SIG) % 47 !== 0))
      ) {
        continue;
      }
      const tampered = new Uint8Array(backup);
      tampered[index]! ^= 1 << (index % 8);
      const outcome = attempt(() => openBackup(tampered, forAlice));
      checked++;
      if (
        !outcome.threw ||
        outcome.code !== 'FX_BACKUP_INVALID' ||
        !expectedFor(index).test(outcome.message)
      ) {
        failures.push(`byte ${index}: ${outcome.threw ? `${outcome.code} ${outcome.message}` : 'opened'}`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(signedLength + ED_SIG - HYBRID_ENCAPSULATION_BYTES + 160 + 70);
  });

  it('rejects truncation at every header byte and throughout the rest, and any appended bytes', () => {
    const failures: string[] = [];
    for (let length = 0; length < backup.length; length++) {
      // Every length through the fixed fields and around the payload; every 11th elsewhere.
      const dense =
        length <= 112 + L || (length >= 1220 + L && length <= 1300 + L) || length >= backup.length - 100;
      if (!dense && length % 11 !== 0) continue;
      const outcome = attempt(() => openBackup(backup.subarray(0, length), forAlice));
      const pattern = length < 4 ? /bad magic/ : /truncated/;
      if (!outcome.threw || outcome.code !== 'FX_BACKUP_INVALID' || !pattern.test(outcome.message)) {
        failures.push(`length ${length}: ${outcome.threw ? outcome.message : 'opened'}`);
      }
    }
    expect(failures).toEqual([]);
    for (const extra of [Uint8Array.of(0), randomBytes(2), randomBytes(PQ_SIG), backup]) {
      expectInvalid(
        () => openBackup(Buffer.concat([backup, extra]), forAlice),
        /unexpected bytes after the signatures/,
      );
    }
  });

  it('opens from an offset view of a larger buffer, but not from a shifted one', () => {
    const big = new Uint8Array(backup.length + 10);
    big.set(backup, 7);
    expect(toHex(openBackup(big.subarray(7, 7 + backup.length), forAlice).payload)).toBe(toHex(payload));
    expectInvalid(() => openBackup(big.subarray(6, 6 + backup.length), forAlice), /bad magic/);
  });

  it('rejects a backup for another recipient (after checking its signatures)', () => {
    expectInvalid(
      () => openBackup(backup, { recipientSecretKey: bob.secretKey, trusted }),
      /addressed to a different recipient/,
    );
    const forBob = sealBackup({ payload, recipient: bob.publicKey, signers: { ed25519: ed, mlDsa65: pq } });
    expectInvalid(() => openBackup(forBob, forAlice), /addressed to a different recipient/);
    expect(toHex(openBackup(forBob, { recipientSecretKey: bob.secretKey, trusted }).payload)).toBe(
      toHex(payload),
    );
    // A bad signature is reported first: the recipient check comes after both signatures.
    const tampered = new Uint8Array(forBob);
    tampered[20]! ^= 1;
    expectInvalid(() => openBackup(tampered, forAlice), /Ed25519 signature does not verify/);
  });

  it('rejects backups signed by untrusted keys, even with forged fingerprints', () => {
    const both = seal(payload, { signers: { ed25519: evilEd, mlDsa65: evilPq } });
    expectInvalid(() => openBackup(both, forAlice), /Ed25519 signer is not the trusted/);
    const edOnly = seal(payload, { signers: { ed25519: evilEd, mlDsa65: pq } });
    expectInvalid(() => openBackup(edOnly, forAlice), /Ed25519 signer is not the trusted/);
    const pqOnly = seal(payload, { signers: { ed25519: ed, mlDsa65: evilPq } });
    expectInvalid(() => openBackup(pqOnly, forAlice), /ML-DSA-65 signer is not the trusted/);
    // The forger writes the trusted fingerprints and signs with whatever keys they hold.
    const forge = (bytes: Uint8Array, edSigner: Signer, pqSigner: Signer): Uint8Array => {
      const out = new Uint8Array(bytes);
      out.set(Buffer.from(sha256(ed.publicKey), 'hex'), 47);
      out.set(Buffer.from(sha256(pq.publicKey), 'hex'), 79);
      return resign(out, edSigner, pqSigner);
    };
    expectInvalid(
      () => openBackup(forge(both, evilEd, evilPq), forAlice),
      /Ed25519 signature does not verify/,
    );
    // Holding the trusted Ed25519 key alone is not enough, nor the trusted ML-DSA key alone.
    expectInvalid(
      () => openBackup(forge(pqOnly, ed, evilPq), forAlice),
      /ML-DSA-65 signature does not verify/,
    );
    expectInvalid(() => openBackup(forge(edOnly, evilEd, pq), forAlice), /Ed25519 signature does not verify/);
    // Trusting the evil keys opens the evil backup: the keys, not the bytes, decide.
    const evilTrusted = { ed25519: evilEd.publicKey, mlDsa65: evilPq.publicKey };
    expect(
      openBackup(both, { recipientSecretKey: alice.secretKey, trusted: evilTrusted }).payload.length,
    ).toBe(40);
    expectInvalid(
      () => openBackup(backup, { recipientSecretKey: alice.secretKey, trusted: evilTrusted }),
      /Ed25519 signer is not the trusted/,
    );
  });

  it('rejects a stripped, zeroed, swapped or transplanted signature', () => {
    const edSig = backup.subarray(signedLength, signedLength + ED_SIG);
    const pqSig = backup.subarray(signedLength + ED_SIG);
    const body = backup.subarray(0, signedLength);
    expectInvalid(() => openBackup(Buffer.concat([body, pqSig]), forAlice), /truncated/);
    expectInvalid(() => openBackup(Buffer.concat([body, edSig]), forAlice), /truncated/);
    expectInvalid(() => openBackup(body, forAlice), /truncated/);
    expectInvalid(
      () => openBackup(Buffer.concat([body, new Uint8Array(ED_SIG), pqSig]), forAlice),
      /Ed25519 signature does not verify/,
    );
    expectInvalid(
      () => openBackup(Buffer.concat([body, edSig, new Uint8Array(PQ_SIG)]), forAlice),
      /ML-DSA-65 signature does not verify/,
    );
    // Swapped order (same total length): the first 64 bytes are no Ed25519 signature.
    expectInvalid(
      () => openBackup(Buffer.concat([body, pqSig, edSig]), forAlice),
      /Ed25519 signature does not verify/,
    );
    // Signatures transplanted from another backup by the same trusted signers.
    const other = seal(payload, { label });
    const otherEd = other.subarray(signedLength, signedLength + ED_SIG);
    const otherPq = other.subarray(signedLength + ED_SIG);
    expectInvalid(
      () => openBackup(Buffer.concat([body, otherEd, pqSig]), forAlice),
      /Ed25519 signature does not verify/,
    );
    expectInvalid(
      () => openBackup(Buffer.concat([body, edSig, otherPq]), forAlice),
      /ML-DSA-65 signature does not verify/,
    );
  });

  it('checks what a trusted signer signed too (defence in depth after the signatures)', () => {
    const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
    // Tampered ciphertext re-signed: the AEAD catches it. Not re-signed: the signature does, first.
    const ct = new Uint8Array(backup);
    ct[1260 + L + 5]! ^= 1;
    expectInvalid(() => openBackup(ct, forAlice), /Ed25519 signature does not verify/);
    expectInvalid(() => openBackup(resign(ct, ed, pq), forAlice), /payload does not decrypt/);
    // A changed header field is bound by the AEAD's associated data.
    const header = new Uint8Array(backup);
    header[15]! ^= 1; // label 'dr' → 'er'
    expectInvalid(() => openBackup(resign(header, ed, pq), forAlice), /payload does not decrypt/);
    // A changed nonce.
    const nonce = new Uint8Array(backup);
    nonce[1232 + L]! ^= 1;
    expectInvalid(() => openBackup(resign(nonce, ed, pq), forAlice), /payload does not decrypt/);
    // A tampered ML-KEM ciphertext: implicit rejection gives another key, so decryption fails.
    const kem = new Uint8Array(backup);
    kem[111 + L + 500]! ^= 1;
    expectInvalid(() => openBackup(resign(kem, ed, pq), forAlice), /payload does not decrypt/);
    // A low-order ephemeral X25519 key.
    const lowOrder = new Uint8Array(backup);
    lowOrder.fill(0, 112 + L, 144 + L);
    expectInvalid(() => openBackup(resign(lowOrder, ed, pq), forAlice), /key encapsulation is invalid/);
    // An encapsulation of an unknown version.
    const kemVersion = new Uint8Array(backup);
    kemVersion[111 + L] = 2;
    expectInvalid(() => openBackup(resign(kemVersion, ed, pq), forAlice), /key encapsulation is invalid/);
    // created-at beyond what a Date holds.
    const date = new Uint8Array(backup);
    view(date).setBigUint64(5, 2n ** 64n - 1n);
    expectInvalid(() => openBackup(resign(date, ed, pq), forAlice), /created-at is out of range/);
    // A label that is not UTF-8.
    const utf8 = new Uint8Array(backup);
    utf8[15] = 0xff;
    expectInvalid(() => openBackup(resign(utf8, ed, pq), forAlice), /label is not valid UTF-8/);
    // An unsupported format version (checked before the signatures).
    const version = new Uint8Array(backup);
    version[4] = 2;
    expectInvalid(() => openBackup(resign(version, ed, pq), forAlice), /format version 2 is not supported/);
    // Length fields beyond the caps.
    const bigLabel = new Uint8Array(backup);
    view(bigLabel).setUint16(13, MAX_BACKUP_LABEL_BYTES + 1);
    expectInvalid(() => openBackup(bigLabel, forAlice), /label length 1025 exceeds/);
    const bigPayload = new Uint8Array(backup);
    view(bigPayload).setUint32(1256 + L, 0xffffffff);
    expectInvalid(() => openBackup(bigPayload, forAlice), /payload length \d+ exceeds/);
  });

  it('never puts key bytes in messages', () => {
    const raw = alice.secretKey.exportRaw();
    const secrets = [toHex(raw.subarray(0, 32)), toHex(raw.subarray(32, 64)), toHex(raw.subarray(64))];
    raw.fill(0);
    const tampered = new Uint8Array(backup);
    tampered[1260 + L]! ^= 1;
    for (const bytes of [tampered, resign(tampered, ed, pq), backup.subarray(0, 100)]) {
      const outcome = attempt(() => openBackup(bytes, forAlice));
      expect(outcome.threw).toBe(true);
      if (!outcome.threw) continue;
      expect(outcome.message.length).toBeLessThan(200);
      for (const secret of secrets) expect(outcome.message).not.toContain(secret);
      expect(outcome.message).not.toMatch(/[0-9a-f]{32}/i);
    }
  });
});

describe('key backup: bad arguments', () => {
  const payload = randomBytes(8);
  const backup = seal(payload);
  const signers = { ed25519: ed, mlDsa65: pq };
  const base: SealBackupOptions = { payload, recipient: alice.publicKey, signers };
  const withByte = (bytes: Uint8Array, index: number, value: number): Uint8Array => {
    const copy = new Uint8Array(bytes);
    copy[index] = value;
    return copy;
  };
  const lowOrderRecipient = new Uint8Array(alice.publicKey);
  lowOrderRecipient.fill(0, 1, 33);
  const notReduced = withByte(withByte(alice.publicKey, 33, 0xff), 34, 0xff);
  const noContext = generateSigner('ml-dsa-65');
  const disposedEd = generateSigner('ed25519');
  disposedEd.dispose();
  const disposedKey = SecretKey.generate(96);
  disposedKey.dispose();
  /** Deliberately wrong-typed arguments. */
  const as = (value: unknown): never => value as never;

  const cases: readonly [string, () => unknown, string, string?][] = [
    // sealBackup
    ['seal: no options', () => sealBackup(as(undefined)), 'FX_INVALID_ARGUMENT', 'options'],
    ['seal: options array', () => sealBackup(as([])), 'FX_INVALID_ARGUMENT', 'options'],
    [
      'seal: payload string',
      () => sealBackup({ ...base, payload: as('secret') }),
      'FX_INVALID_ARGUMENT',
      'payload',
    ],
    [
      'seal: payload ArrayBuffer',
      () => sealBackup({ ...base, payload: as(new ArrayBuffer(8)) }),
      'FX_INVALID_ARGUMENT',
      'payload',
    ],
    [
      'seal: payload missing',
      () => sealBackup(as({ recipient: alice.publicKey, signers })),
      'FX_INVALID_ARGUMENT',
      'payload',
    ],
    [
      'seal: payload over 16 MiB',
      () => sealBackup({ ...base, payload: new Uint8Array(MAX_BACKUP_PAYLOAD_BYTES + 1) }),
      'FX_INVALID_ARGUMENT',
      'payload',
    ],
    [
      'seal: recipient missing',
      () => sealBackup(as({ payload, signers })),
      'FX_INVALID_ARGUMENT',
      'recipient',
    ],
    [
      'seal: recipient short',
      () => sealBackup({ ...base, recipient: alice.publicKey.subarray(1) }),
      'FX_INVALID_ARGUMENT',
      'recipient',
    ],
    [
      'seal: recipient is a signer key',
      () => sealBackup({ ...base, recipient: pq.publicKey }),
      'FX_INVALID_ARGUMENT',
      'recipient',
    ],
    [
      'seal: recipient version 9',
      () => sealBackup({ ...base, recipient: withByte(alice.publicKey, 0, 9) }),
      'FX_CRYPTO_UNSUPPORTED_VERSION',
    ],
    [
      'seal: recipient low-order X25519',
      () => sealBackup({ ...base, recipient: lowOrderRecipient }),
      'FX_INVALID_ARGUMENT',
      'recipient',
    ],
    [
      'seal: recipient ML-KEM not reduced',
      () => sealBackup({ ...base, recipient: notReduced }),
      'FX_INVALID_ARGUMENT',
      'recipient',
    ],
    [
      'seal: signers missing',
      () => sealBackup(as({ payload, recipient: alice.publicKey })),
      'FX_INVALID_ARGUMENT',
      'signers',
    ],
    [
      'seal: ed25519 missing',
      () => sealBackup({ ...base, signers: as({ mlDsa65: pq }) }),
      'FX_INVALID_ARGUMENT',
      'signers.ed25519',
    ],
    [
      'seal: mlDsa65 missing',
      () => sealBackup({ ...base, signers: as({ ed25519: ed }) }),
      'FX_INVALID_ARGUMENT',
      'signers.mlDsa65',
    ],
    [
      'seal: signers swapped',
      () => sealBackup({ ...base, signers: { ed25519: pq, mlDsa65: ed } }),
      'FX_INVALID_ARGUMENT',
      'signers.ed25519',
    ],
    [
      'seal: two Ed25519 signers',
      () => sealBackup({ ...base, signers: { ed25519: ed, mlDsa65: ed } }),
      'FX_INVALID_ARGUMENT',
      'signers.mlDsa65',
    ],
    [
      'seal: signer is a public key',
      () => sealBackup({ ...base, signers: { ed25519: as(ed.publicKey), mlDsa65: pq } }),
      'FX_INVALID_ARGUMENT',
      'signers.ed25519',
    ],
    [
      'seal: signer with a malformed public key',
      () =>
        sealBackup({
          ...base,
          signers: { ed25519: as({ ...ed, publicKey: new Uint8Array(31) }), mlDsa65: pq },
        }),
      'FX_INVALID_ARGUMENT',
      'signers.ed25519.publicKey',
    ],
    [
      'seal: ML-DSA signer without the key-backup context',
      () => sealBackup({ ...base, signers: { ed25519: ed, mlDsa65: noContext } }),
      'FX_INVALID_ARGUMENT',
      'signers.mlDsa65',
    ],
    [
      'seal: disposed signer',
      () => sealBackup({ ...base, signers: { ed25519: disposedEd, mlDsa65: pq } }),
      'FX_CRYPTO_KEY_DISPOSED',
    ],
    ['seal: label number', () => sealBackup({ ...base, label: as(7) }), 'FX_INVALID_ARGUMENT', 'label'],
    ['seal: label null', () => sealBackup({ ...base, label: as(null) }), 'FX_INVALID_ARGUMENT', 'label'],
    [
      'seal: label lone surrogate',
      () => sealBackup({ ...base, label: 'a\ud800b' }),
      'FX_INVALID_ARGUMENT',
      'label',
    ],
    [
      'seal: label over 1024 UTF-8 bytes',
      () => sealBackup({ ...base, label: '€'.repeat(342) }),
      'FX_INVALID_ARGUMENT',
      'label',
    ],
    // openBackup
    ['open: bytes string', () => openBackup(as('FXBK'), forAlice), 'FX_INVALID_ARGUMENT', 'backup'],
    [
      'open: bytes ArrayBuffer',
      () => openBackup(as(backup.buffer), forAlice),
      'FX_INVALID_ARGUMENT',
      'backup',
    ],
    ['open: bytes null', () => openBackup(as(null), forAlice), 'FX_INVALID_ARGUMENT', 'backup'],
    ['open: no options', () => openBackup(backup, as(undefined)), 'FX_INVALID_ARGUMENT', 'options'],
    [
      'open: secret key missing',
      () => openBackup(backup, as({ trusted })),
      'FX_INVALID_ARGUMENT',
      'options.recipientSecretKey',
    ],
    [
      'open: secret key as raw bytes',
      () => openBackup(backup, { recipientSecretKey: as(new Uint8Array(96)), trusted }),
      'FX_INVALID_ARGUMENT',
      'options.recipientSecretKey',
    ],
    [
      'open: 32-byte secret key',
      () => openBackup(backup, { recipientSecretKey: SecretKey.generate(32), trusted }),
      'FX_INVALID_ARGUMENT',
      'options.recipientSecretKey',
    ],
    [
      'open: disposed secret key',
      () => openBackup(backup, { recipientSecretKey: disposedKey, trusted }),
      'FX_CRYPTO_KEY_DISPOSED',
    ],
    [
      'open: trusted missing',
      () => openBackup(backup, as({ recipientSecretKey: alice.secretKey })),
      'FX_INVALID_ARGUMENT',
      'options.trusted',
    ],
    [
      'open: trusted.ed25519 missing',
      () =>
        openBackup(backup, { recipientSecretKey: alice.secretKey, trusted: as({ mlDsa65: pq.publicKey }) }),
      'FX_INVALID_ARGUMENT',
      'options.trusted.ed25519',
    ],
    [
      'open: trusted keys swapped',
      () =>
        openBackup(backup, {
          recipientSecretKey: alice.secretKey,
          trusted: { ed25519: pq.publicKey, mlDsa65: ed.publicKey },
        }),
      'FX_INVALID_ARGUMENT',
      'options.trusted.ed25519',
    ],
    [
      'open: trusted.mlDsa65 short',
      () =>
        openBackup(backup, {
          recipientSecretKey: alice.secretKey,
          trusted: { ed25519: ed.publicKey, mlDsa65: pq.publicKey.subarray(1) },
        }),
      'FX_INVALID_ARGUMENT',
      'options.trusted.mlDsa65',
    ],
    [
      'open: trusted signer object instead of key',
      () =>
        openBackup(backup, {
          recipientSecretKey: alice.secretKey,
          trusted: { ed25519: as(ed), mlDsa65: pq.publicKey },
        }),
      'FX_INVALID_ARGUMENT',
      'options.trusted.ed25519',
    ],
  ];

  it.each(cases)('%s', (_name, fn, code, argument) => {
    const outcome = attempt(fn);
    expect(outcome.threw, 'expected a rejection').toBe(true);
    if (!outcome.threw) return;
    expect(outcome.code, outcome.message).toBe(code);
    if (argument !== undefined) expect(outcome.argument).toBe(argument);
    expect(outcome.message.length).toBeLessThan(200);
  });

  it('still opens after all that (nothing was consumed or disposed)', () => {
    expect(toHex(openBackup(backup, forAlice).payload)).toBe(toHex(payload));
  });
});
