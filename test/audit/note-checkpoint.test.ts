/**
 * C2SP tlog-checkpoint bodies and signed checkpoints (src/audit/note/checkpoint.ts): the spec's
 * examples, round trips (fast-check), cross-checks of the signature bytes against @noble/curves,
 * and every line the spec forbids.
 *
 * Quoted: the example checkpoint of C2SP tlog-checkpoint.md and the cosigned example of
 * tlog-cosignature.md (their signatures are by keys the specs do not publish, so they are read as
 * structure only).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ed25519NoteSigner,
  formatCheckpoint,
  mlDsa65NoteSigner,
  noteVerifierFromKey,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  signNote,
  type Checkpoint,
} from '../../src/audit/note/index.js';
import { parseSignedNote } from '../../src/audit/note/signed-note.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { createSigner } from '../../src/crypto/signature/signature.js';
import { expectCode } from '../helpers/expect-code.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const hasControl = (s: string): boolean => dropControls(s) !== s;
/** `s` with every C0 control character (newline included) replaced by '.'. */
function dropControls(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += s.charCodeAt(i) < 0x20 ? '.' : s[i]!;
  return out;
}
const seedFor = (label: string): Uint8Array => sha256(utf8(`fortress test seed: ${label}`));

// C2SP tlog-checkpoint.md, opening example.
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_LOG_SIG =
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';
// C2SP tlog-cosignature.md, opening example (a witness cosignature, signature type 0x04).
const SPEC_WITNESS_SIG =
  '— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n';

const ORIGIN = 'audit.example.com/ledger';
const ROOT = sha256(utf8('some root'));
const HASH_B64 = Buffer.from(ROOT).toString('base64');

describe('the spec examples', () => {
  it('parses the tlog-checkpoint example body', () => {
    const cp = parseCheckpoint(SPEC_TEXT);
    expect(cp.origin).toBe('example.com/behind-the-sofa');
    expect(cp.size).toBe(20852163);
    expect(Buffer.from(cp.rootHash).toString('base64')).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    expect(cp.extensions).toEqual([]);
    expect(formatCheckpoint(cp)).toBe(SPEC_TEXT);
  });

  it('reads the cosigned example as a well-formed note with two signature lines', () => {
    const parsed = parseSignedNote(`${SPEC_TEXT}\n${SPEC_LOG_SIG}${SPEC_WITNESS_SIG}`);
    expect(parsed.text).toBe(SPEC_TEXT);
    expect(parsed.signatures.map((s) => s.name)).toEqual([
      'example.com/behind-the-sofa',
      'witness.example.com/w1',
    ]);
    // tlog-cosignature: timestamped_signature = u64 timestamp ‖ 64-byte Ed25519 signature.
    expect(parsed.signatures[1]!.signature.length).toBe(8 + 64);
  });

  it('opening it without the log key fails with FX_AUDIT_SIGNATURE, not a format error', async () => {
    await expectCode(
      () => openCheckpoint(`${SPEC_TEXT}\n${SPEC_LOG_SIG}${SPEC_WITNESS_SIG}`, []),
      'FX_AUDIT_SIGNATURE',
    );
  });
});

describe('sign and open', () => {
  const seed = seedFor('checkpoint ed25519');

  it('signs the exact checkpoint text with Ed25519 (bytes checked with @noble/curves)', () => {
    using key = createSigner('ed25519', SecretKey.fromBytes(seed));
    const signer = ed25519NoteSigner(ORIGIN, key);
    const note = signCheckpoint({ origin: ORIGIN, size: 5, rootHash: ROOT }, [signer]);
    const text = `${ORIGIN}\n5\n${HASH_B64}\n`;
    const raw = new Uint8Array(68);
    new DataView(raw.buffer).setUint32(0, signer.keyId);
    raw.set(ed25519.sign(utf8(text), seed), 4);
    expect(note).toBe(`${text}\n— ${ORIGIN} ${Buffer.from(raw).toString('base64')}\n`);

    const opened = openCheckpoint(note, [noteVerifierFromKey(signer.verifierKey)], { origin: ORIGIN });
    expect(opened.text).toBe(text);
    expect(opened.checkpoint).toEqual({ origin: ORIGIN, size: 5, rootHash: ROOT, extensions: [] });
    expect(opened.verified).toEqual([{ name: ORIGIN, keyId: signer.keyId }]);
  });

  it('carries extension lines and a dual Ed25519 + ML-DSA-65 signature', () => {
    using edKey = createSigner('ed25519', SecretKey.fromBytes(seed));
    using pqKey = createSigner('ml-dsa-65', SecretKey.fromBytes(seedFor('checkpoint ml-dsa')));
    const ed = ed25519NoteSigner(ORIGIN, edKey);
    const pq = mlDsa65NoteSigner(ORIGIN, pqKey);
    const cp: Checkpoint = {
      origin: ORIGIN,
      size: 2 ** 53 - 1,
      rootHash: ROOT,
      extensions: ['ext one', 'x'],
    };
    const note = signCheckpoint(cp, [ed, pq]);
    expect(openCheckpoint(note, [pq.verifier()]).checkpoint).toEqual(cp);
    expect(openCheckpoint(note, [ed.verifier()]).unverified).toEqual([{ name: ORIGIN, keyId: pq.keyId }]);
  });

  it('refuses a checkpoint of another origin, and a changed size or root', async () => {
    using key = createSigner('ed25519', SecretKey.fromBytes(seed));
    const signer = ed25519NoteSigner(ORIGIN, key);
    const note = signCheckpoint({ origin: ORIGIN, size: 10, rootHash: ROOT }, [signer]);
    await expectCode(
      () => openCheckpoint(note, [signer.verifier()], { origin: 'other.example/log' }),
      'FX_AUDIT_SIGNATURE',
    );
    await expectCode(
      () => openCheckpoint(note.replace('\n10\n', '\n11\n'), [signer.verifier()]),
      'FX_AUDIT_SIGNATURE',
    );
    const otherRoot = Buffer.from(sha256(utf8('other'))).toString('base64');
    await expectCode(
      () => openCheckpoint(note.replace(HASH_B64, otherRoot), [signer.verifier()]),
      'FX_AUDIT_SIGNATURE',
    );
  });

  it('a validly signed note that is not a checkpoint is FX_AUDIT_FORMAT', async () => {
    using key = createSigner('ed25519', SecretKey.fromBytes(seed));
    const signer = ed25519NoteSigner(ORIGIN, key);
    await expectCode(
      () => openCheckpoint(signNote(`${ORIGIN}\n05\n${HASH_B64}\n`, [signer]), [signer.verifier()]),
      'FX_AUDIT_FORMAT',
    );
  });
});

describe('parseCheckpoint rejects what the spec forbids (FX_AUDIT_FORMAT, naming the line)', () => {
  const ok = (size: string, hash = HASH_B64, rest = ''): string => `${ORIGIN}\n${size}\n${hash}\n${rest}`;
  const hash31 = Buffer.from(ROOT.subarray(0, 31)).toString('base64');
  const hash33 = Buffer.from([...ROOT, 0]).toString('base64');
  const cases: [string, string | Uint8Array, string][] = [
    ['empty', '', 'newline'],
    ['origin only', `${ORIGIN}\n`, 'line'],
    ['two lines', `${ORIGIN}\n5\n`, 'line'],
    ['no final newline', ok('5').slice(0, -1), 'newline'],
    ['empty origin', `\n5\n${HASH_B64}\n`, 'line 1'],
    ['size with plus sign', ok('+5'), 'line 2'],
    ['negative size', ok('-1'), 'line 2'],
    ['size with leading zero', ok('05'), 'line 2'],
    ['size 00', ok('00'), 'line 2'],
    ['size with leading space', ok(' 5'), 'line 2'],
    ['size with trailing space', ok('5 '), 'line 2'],
    ['hex size', ok('0x10'), 'line 2'],
    ['exponent size', ok('1e3'), 'line 2'],
    ['fractional size', ok('5.0'), 'line 2'],
    ['empty size', ok(''), 'line 2'],
    ['full-width digits', ok('５'), 'line 2'],
    ['size 2^53 (not a safe integer)', ok('9007199254740992'), 'line 2'],
    ['size of 20 digits', ok('18446744073709551615'), 'line 2'],
    ['31-byte root hash', ok('5', hash31), 'line 3'],
    ['33-byte root hash', ok('5', hash33), 'line 3'],
    ['unpadded root hash', ok('5', HASH_B64.slice(0, -1)), 'line 3'],
    ['URL-safe root hash', ok('5', 'CsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I='), 'line 3'],
    ['root hash with non-zero pad bits', ok('5', 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J='), 'line 3'],
    ['hex root hash', ok('5', Buffer.from(ROOT).toString('hex')), 'line 3'],
    ['empty root hash', ok('5', ''), 'line 3'],
    ['empty extension line', ok('5', HASH_B64, '\next\n'), 'line 4'],
    ['trailing blank line', ok('5', HASH_B64, '\n'), 'line 4'],
    ['empty line after an extension', ok('5', HASH_B64, 'a\n\n'), 'line 5'],
    ['CRLF', ok('5').replaceAll('\n', '\r\n'), 'line 1'],
    ['tab in an extension', ok('5', HASH_B64, 'a\tb\n'), 'line 4'],
    ['lone surrogate in the origin', `\uD834${ok('5')}`, 'Unicode'],
    ['invalid UTF-8', new Uint8Array([0xff, ...utf8(ok('5'))]), 'UTF-8'],
  ];
  for (const [label, text, where] of cases) {
    it(label, async () => {
      const error = await expectCode(() => parseCheckpoint(text), 'FX_AUDIT_FORMAT');
      expect(error.message).toContain(where);
    });
  }

  it('accepts the largest safe size and any non-empty origin (clients must not assume its format)', () => {
    expect(parseCheckpoint(ok('9007199254740991')).size).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseCheckpoint(ok('0')).size).toBe(0);
    expect(parseCheckpoint(`a log with spaces+plus\n1\n${HASH_B64}\n`).origin).toBe('a log with spaces+plus');
  });
});

describe('formatCheckpoint argument checks (FX_INVALID_ARGUMENT)', () => {
  const base = { origin: ORIGIN, size: 1, rootHash: ROOT };
  const cases: [string, unknown][] = [
    ['origin with a space', { ...base, origin: 'a b' }],
    ['origin with a plus', { ...base, origin: 'a+b' }],
    ['empty origin', { ...base, origin: '' }],
    ['origin with a newline', { ...base, origin: 'a\nb' }],
    ['negative size', { ...base, size: -1 }],
    ['fractional size', { ...base, size: 1.5 }],
    ['size 2^53', { ...base, size: 2 ** 53 }],
    ['NaN size', { ...base, size: Number.NaN }],
    ['string size', { ...base, size: '5' }],
    ['31-byte root', { ...base, rootHash: ROOT.subarray(0, 31) }],
    ['root as base64 string', { ...base, rootHash: HASH_B64 }],
    ['empty extension', { ...base, extensions: [''] }],
    ['multi-line extension', { ...base, extensions: ['a\nb'] }],
    ['extension with a control character', { ...base, extensions: ['a\u0007'] }],
    ['extensions not an array', { ...base, extensions: 'x' }],
    ['null', null],
  ];
  for (const [label, cp] of cases) {
    it(label, async () => {
      await expectCode(() => formatCheckpoint(cp as Checkpoint), 'FX_INVALID_ARGUMENT');
    });
  }
});

describe('properties', () => {
  const keyNameChar = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 3 })
    .filter((s) => !/[\p{White_Space}+]/u.test(s) && !hasControl(s));
  const origin = fc.array(keyNameChar, { minLength: 1, maxLength: 12 }).map((parts) => parts.join(''));
  const extension = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).map(dropControls);
  const checkpoint: fc.Arbitrary<Checkpoint> = fc.record({
    origin,
    size: fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat()),
    rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    extensions: fc.array(extension, { maxLength: 3 }),
  });

  it('parseCheckpoint(formatCheckpoint(cp)) = cp and formatting is canonical', () => {
    fc.assert(
      fc.property(checkpoint, (cp) => {
        const text = formatCheckpoint(cp);
        const parsed = parseCheckpoint(text);
        expect(parsed).toEqual(cp);
        expect(formatCheckpoint(parsed)).toBe(text);
        expect(parseCheckpoint(utf8(text))).toEqual(cp);
      }),
      { numRuns: 300 },
    );
  });

  it('openCheckpoint(signCheckpoint(cp)) = cp', () => {
    using key = createSigner('ed25519', SecretKey.fromBytes(seedFor('checkpoint property')));
    fc.assert(
      fc.property(checkpoint, (cp) => {
        const signer = ed25519NoteSigner(cp.origin, key);
        expect(openCheckpoint(signCheckpoint(cp, [signer]), [signer.verifier()]).checkpoint).toEqual(cp);
      }),
      { numRuns: 100 },
    );
  });
});
