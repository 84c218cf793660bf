/**
 * C2SP signed notes (src/audit/note/signed-note.ts): known answers published with the spec and
 * with Go's reference implementation, cross-checks against @noble (an implementation independent
 * of the OpenSSL path the module uses), the spec's verification rules, and lists of bad input.
 *
 * Known answers quoted (small spec examples, cited where used):
 * - Go golang.org/x/mod/sumdb/note, note.go package doc and note_test.go: the "PeterNeumann" key
 *   pair, its signed note, and the "EnochRoot" vkey and signature.
 * - C2SP signed-note.md, "Verifier keys → Example": the example.com/foo vkey and signed note.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ed25519NoteSigner,
  ed25519NoteVerifier,
  formatVerifierKey,
  keyIdHex,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  mlDsa65NoteSigner,
  mlDsa65NoteVerifier,
  noteKeyId,
  noteVerifierFromKey,
  openNote,
  parseVerifierKey,
  signNote,
  type NoteSigner,
  type NoteVerifier,
} from '../../src/audit/note/index.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { createSigner, type Signer } from '../../src/crypto/signature/signature.js';
import { expectCode } from '../helpers/expect-code.js';
import { hex } from '../helpers/vectors.js';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
/** `s` with every C0 control character (newline included) replaced by '.'. */
function dropControls(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += s.charCodeAt(i) < 0x20 ? '.' : s[i]!;
  return out;
}

// --- Go sumdb/note known answers (note.go doc comment; note_test.go TestSign/TestOpen) ---
const PETER_SKEY_MATERIAL = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'; // 0x01 ‖ Ed25519 seed
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const GO_TEXT =
  'If you think cryptography is the answer to your problem,\n' +
  "then you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const GO_NOTE = `${GO_TEXT}\n${PETER_SIG}`;

// --- C2SP signed-note.md "Verifier keys → Example" ---
const C2SP_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const C2SP_NOTE =
  'This is an example message.\n\n' +
  '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

function peterSigner(): Signer {
  return createSigner('ed25519', SecretKey.fromBytes(b64(PETER_SKEY_MATERIAL).subarray(1)));
}

/** A deterministic 32-byte seed per label (test keys only). */
function seedFor(label: string): Uint8Array {
  return sha256(utf8(`fortress test seed: ${label}`));
}

const peterVerifier = noteVerifierFromKey(PETER_VKEY);
const enochVerifier = noteVerifierFromKey(ENOCH_VKEY);

describe('known answers from Go sumdb/note and the C2SP spec', () => {
  it('derives the PeterNeumann vkey and key ID from the published private key', () => {
    using key = peterSigner();
    const signer = ed25519NoteSigner('PeterNeumann', key);
    expect(signer.keyId).toBe(0xc74f20a3);
    expect(keyIdHex(signer.keyId)).toBe('c74f20a3');
    expect(signer.verifierKey).toBe(PETER_VKEY);
    expect(formatVerifierKey('PeterNeumann', 'ed25519', key.publicKey)).toBe(PETER_VKEY);
    expect(noteKeyId('PeterNeumann', 'ed25519', key.publicKey)).toBe(0xc74f20a3);
  });

  it("signs Go's example text to exactly Go's bytes (Ed25519 is deterministic)", () => {
    using key = peterSigner();
    expect(signNote(GO_TEXT, [ed25519NoteSigner('PeterNeumann', key)])).toBe(GO_NOTE);
  });

  it("opens Go's example note, from a string and from bytes", () => {
    for (const input of [GO_NOTE, utf8(GO_NOTE), Buffer.from(GO_NOTE)]) {
      const opened = openNote(input, [peterVerifier]);
      expect(opened.text).toBe(GO_TEXT);
      expect(opened.verified).toEqual([{ name: 'PeterNeumann', keyId: 0xc74f20a3 }]);
      expect(opened.unverified).toEqual([]);
    }
  });

  it("follows Go's TestOpen: one known and one unknown key, both known, none known", async () => {
    const note = `${GO_TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    const one = openNote(note, [peterVerifier]);
    expect(one.verified).toEqual([{ name: 'PeterNeumann', keyId: 0xc74f20a3 }]);
    expect(one.unverified).toEqual([{ name: 'EnochRoot', keyId: 0xaf0cfe78 }]);
    const both = openNote(note, [enochVerifier, peterVerifier]);
    expect(both.verified).toEqual([
      { name: 'PeterNeumann', keyId: 0xc74f20a3 },
      { name: 'EnochRoot', keyId: 0xaf0cfe78 },
    ]);
    expect(both.unverified).toEqual([]);
    await expectCode(() => openNote(note, []), 'FX_AUDIT_SIGNATURE');
  });

  it('verifies the C2SP spec example with its vkey', () => {
    const key = parseVerifierKey(C2SP_VKEY);
    expect(key.name).toBe('example.com/foo');
    expect(key.keyId).toBe(0x530d903a);
    expect(key.algorithm).toBe('ed25519');
    expect(formatVerifierKey(key.name, key.algorithm, key.publicKey)).toBe(C2SP_VKEY);
    const opened = openNote(C2SP_NOTE, [noteVerifierFromKey(C2SP_VKEY)]);
    expect(opened.text).toBe('This is an example message.\n');
    expect(opened.verified).toEqual([{ name: 'example.com/foo', keyId: 0x530d903a }]);
  });

  it('computes key IDs as SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4] (checked with @noble/hashes)', () => {
    const { publicKey } = parseVerifierKey(PETER_VKEY);
    const digest = sha256(new Uint8Array([...utf8('PeterNeumann\n'), 0x01, ...publicKey]));
    expect(keyIdHex(noteKeyId('PeterNeumann', 'ed25519', publicKey))).toBe(
      Buffer.from(digest.subarray(0, 4)).toString('hex'),
    );
  });
});

describe('Ed25519 notes cross-checked against @noble/curves', () => {
  it('writes signature lines as em dash, space, name, space, base64(key ID ‖ RFC 8032 signature)', () => {
    const seed = seedFor('ed25519 cross-check');
    using key = createSigner('ed25519', SecretKey.fromBytes(seed));
    const signer = ed25519NoteSigner('audit.example.com/ledger', key);
    expect(key.publicKey).toEqual(ed25519.getPublicKey(seed));
    const text = 'audit.example.com/ledger\n3\n' + 'A'.repeat(43) + '=\n';
    const note = signNote(text, [signer]);
    const expected = new Uint8Array(68);
    new DataView(expected.buffer).setUint32(0, signer.keyId);
    expected.set(ed25519.sign(utf8(text), seed), 4);
    expect(note).toBe(
      `${text}\n\u2014 audit.example.com/ledger ${Buffer.from(expected).toString('base64')}\n`,
    );
  });
});

describe('ML-DSA-65 note signatures (signature type 0xff + DER id-ml-dsa-65)', () => {
  const name = 'audit.example.com/ledger';
  const seed = seedFor('ml-dsa-65');

  it('encodes the vkey as name+keyid+base64(ff 06 09 60 86 48 01 65 03 04 03 12 ‖ 1952-byte key)', () => {
    using key = createSigner('ml-dsa-65', SecretKey.fromBytes(seed));
    const signer = mlDsa65NoteSigner(name, key);
    const [vName, vId, vKey] = [
      signer.verifierKey.slice(0, name.length),
      signer.verifierKey.slice(name.length + 1, name.length + 9),
      signer.verifierKey.slice(name.length + 10),
    ];
    expect(vName).toBe(name);
    expect(vKey.startsWith('/wYJYIZIAWUDBAMS')).toBe(true); // base64 of the 12 type bytes
    expect(b64(vKey)).toEqual(new Uint8Array([...hex('ff0609608648016503040312'), ...key.publicKey]));
    const digest = sha256(new Uint8Array([...utf8(`${name}\n`), ...b64(vKey)]));
    expect(vId).toBe(Buffer.from(digest.subarray(0, 4)).toString('hex'));
    const parsed = parseVerifierKey(signer.verifierKey);
    expect(parsed.algorithm).toBe('ml-dsa-65');
    expect(parsed.publicKey).toEqual(key.publicKey);
    expect(mlDsa65NoteVerifier(name, key.publicKey).verifierKey).toBe(signer.verifierKey);
  });

  it('signs pure ML-DSA-65 with the empty context over the note text (checked with noble directly)', () => {
    using key = createSigner('ml-dsa-65', SecretKey.fromBytes(seed));
    const signer = mlDsa65NoteSigner(name, key);
    const note = signNote('hello\n', [signer]);
    const line = note.split('\n')[2]!;
    const raw = b64(line.slice(line.lastIndexOf(' ') + 1));
    expect(raw.length).toBe(4 + 3309);
    expect(ml_dsa65.verify(raw.subarray(4), utf8('hello\n'), key.publicKey)).toBe(true);
  });

  it('refuses a Signer made with a non-empty context (others could not verify its notes)', async () => {
    using key = createSigner('ml-dsa-65', SecretKey.fromBytes(seed), { context: utf8('fortress/backup') });
    await expectCode(() => mlDsa65NoteSigner(name, key), 'FX_INVALID_ARGUMENT');
  });

  it('dual-signed (Ed25519 + ML-DSA-65) notes verify with either verifier or both', () => {
    using edKey = createSigner('ed25519', SecretKey.fromBytes(seedFor('dual ed25519')));
    using pqKey = createSigner('ml-dsa-65', SecretKey.fromBytes(seed));
    const ed = ed25519NoteSigner(name, edKey);
    const pq = mlDsa65NoteSigner(name, pqKey);
    const note = signNote('audit.example.com/ledger\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n', [
      ed,
      pq,
    ]);
    const edRef = { name, keyId: ed.keyId };
    const pqRef = { name, keyId: pq.keyId };
    expect(ed.keyId).not.toBe(pq.keyId);
    expect(openNote(note, [ed.verifier()])).toMatchObject({ verified: [edRef], unverified: [pqRef] });
    expect(openNote(note, [noteVerifierFromKey(pq.verifierKey)])).toMatchObject({
      verified: [pqRef],
      unverified: [edRef],
    });
    expect(openNote(note, [pq.verifier(), ed.verifier()])).toMatchObject({
      verified: [edRef, pqRef],
      unverified: [],
    });
  });
});

describe('verification rules (c2sp.org/signed-note "Signatures")', () => {
  it('rejects a note whose text changed by one byte', async () => {
    for (let i = 0; i < GO_TEXT.length; i++) {
      const c = GO_TEXT[i]!;
      if (!/[a-z]/i.test(c)) continue;
      const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
      const note = `${GO_TEXT.slice(0, i)}${flipped}${GO_TEXT.slice(i + 1)}\n${PETER_SIG}`;
      await expectCode(() => openNote(note, [peterVerifier]), 'FX_AUDIT_SIGNATURE');
    }
  });

  it('rejects a bad signature by a known key even next to a good one', async () => {
    const bad = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(64)}`;
    await expectCode(() => openNote(`${GO_TEXT}\n${bad}`, [peterVerifier]), 'FX_AUDIT_SIGNATURE');
    await expectCode(() => openNote(`${GO_TEXT}\n${ENOCH_SIG}${bad}`, [peterVerifier]), 'FX_AUDIT_SIGNATURE');
    // Stricter than Go (which skips repeated lines by one key unverified): the spec says MUST verify.
    await expectCode(() => openNote(`${GO_TEXT}\n${PETER_SIG}${bad}`, [peterVerifier]), 'FX_AUDIT_SIGNATURE');
  });

  it('ignores (reports as unverified) keys that share only the name or only the key ID', () => {
    const sameName = PETER_SIG.replace('x08go/ZJ', 'AAAAAAZJ'); // key ID 0x00000000
    const sameId = PETER_SIG.replace('PeterNeumann', 'PeterNeumann2');
    const opened = openNote(`${GO_TEXT}\n${sameName}${sameId}${PETER_SIG}`, [peterVerifier]);
    expect(opened.verified).toEqual([{ name: 'PeterNeumann', keyId: 0xc74f20a3 }]);
    expect(opened.unverified).toEqual([
      { name: 'PeterNeumann', keyId: 0x00000000 },
      { name: 'PeterNeumann2', keyId: 0xc74f20a3 },
    ]);
  });

  it('reports repeated signatures once', () => {
    const enochBad = `${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`;
    const opened = openNote(`${GO_TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochBad}`, [
      peterVerifier,
    ]);
    expect(opened.verified).toHaveLength(1);
    expect(opened.unverified).toEqual([{ name: 'EnochRoot', keyId: 0xaf0cfe78 }]);
  });

  it('needs at least one signature by a known key', async () => {
    await expectCode(() => openNote(`${GO_TEXT}\n${ENOCH_SIG}`, [peterVerifier]), 'FX_AUDIT_SIGNATURE');
    await expectCode(() => openNote(GO_NOTE, []), 'FX_AUDIT_SIGNATURE');
  });

  it('treats a blank line inside the signatures as part of the text (the last blank line splits)', async () => {
    // The text becomes GO_TEXT + "\n" + PETER_SIG, which Peter did not sign.
    await expectCode(() => openNote(`${GO_NOTE}\n${PETER_SIG}`, [peterVerifier]), 'FX_AUDIT_SIGNATURE');
    // Texts may contain blank lines and even signature-like lines.
    using key = peterSigner();
    const text = `a\n\nb\n\n${PETER_SIG}\n`;
    const note = signNote(text, [ed25519NoteSigner('PeterNeumann', key)]);
    expect(openNote(note, [peterVerifier]).text).toBe(text);
  });

  it('accepts exactly MAX_NOTE_SIGNATURES (100, as Go) signature lines', () => {
    expect(MAX_NOTE_SIGNATURES).toBeGreaterThanOrEqual(16); // the spec's minimum
    const unknown = Array.from({ length: MAX_NOTE_SIGNATURES - 1 }, (_, i) =>
      ENOCH_SIG.replace('EnochRoot', `w${i}`),
    );
    const opened = openNote(`${GO_TEXT}\n${unknown.join('')}${PETER_SIG}`, [peterVerifier]);
    expect(opened.unverified).toHaveLength(MAX_NOTE_SIGNATURES - 1);
  });

  it('refuses ambiguous verifier lists but tolerates the same verifier twice', async () => {
    expect(openNote(GO_NOTE, [peterVerifier, peterVerifier]).verified).toHaveLength(1);
    await expectCode(
      () => openNote(GO_NOTE, [peterVerifier, noteVerifierFromKey(PETER_VKEY)]),
      'FX_INVALID_ARGUMENT',
    );
  });

  it('keeps a leading U+FEFF as part of the signed text', () => {
    using key = peterSigner();
    const text = '\uFEFFbom\n';
    const note = signNote(text, [ed25519NoteSigner('PeterNeumann', key)]);
    expect(openNote(utf8(note), [peterVerifier]).text).toBe(text);
  });

  it('signs and opens non-ASCII texts and key names', () => {
    const name = 'quasimodo.example/salvatore·例';
    using key = createSigner('ed25519', SecretKey.fromBytes(seedFor('unicode')));
    const signer = ed25519NoteSigner(name, key);
    const text =
      'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n';
    const note = signNote(text, [signer]);
    for (const input of [note, utf8(note)]) {
      expect(openNote(input, [noteVerifierFromKey(signer.verifierKey)])).toMatchObject({
        text,
        verified: [{ name, keyId: signer.keyId }],
      });
    }
  });
});

describe('malformed notes are FX_AUDIT_FORMAT', () => {
  const peterB64 = PETER_SIG.slice('— PeterNeumann '.length, -1);
  const withSig = (line: string): string => `${GO_TEXT}\n${line}`;
  const cases: [string, string | Uint8Array][] = [
    ['text only', GO_TEXT],
    ['no signature lines', `${GO_TEXT}\n`],
    ['no final newline', GO_NOTE.slice(0, -1)],
    ['trailing blank line', `${GO_NOTE}\n`],
    ['control character U+0001', `\u0001${GO_NOTE}`],
    ['tab in the text', `a\tb\n\n${PETER_SIG}`],
    ['CRLF line ends', GO_NOTE.replaceAll('\n', '\r\n')],
    ['NUL after the signatures', `${GO_NOTE}\u0000`],
    ['lone surrogate', `\uD800${GO_NOTE}`],
    ['invalid UTF-8 byte 0xff', new Uint8Array([0xff, ...utf8(GO_NOTE)])],
    ['overlong UTF-8 (C0 AF)', new Uint8Array([0xc0, 0xaf, 0x0a, ...utf8(`\n${PETER_SIG}`)])],
    [
      'UTF-8-encoded surrogate (ED A0 80)',
      new Uint8Array([0xed, 0xa0, 0x80, 0x0a, ...utf8(`\n${PETER_SIG}`)]),
    ],
    ['truncated UTF-8 sequence', new Uint8Array([...utf8(GO_NOTE), 0xe2, 0x80])],
    ['unexpected line after signatures', `${GO_NOTE}Unexpected line.\n`],
    ['hyphen instead of em dash', withSig(`- PeterNeumann ${peterB64}\n`)],
    ['en dash instead of em dash', withSig(`\u2013 PeterNeumann ${peterB64}\n`)],
    ['no space after the em dash', withSig(`\u2014PeterNeumann ${peterB64}\n`)],
    ['name with a space', withSig(`\u2014 Bad Name ${peterB64}\n`)],
    ['empty name', withSig(`\u2014  ${peterB64}\n`)],
    ['name with a plus', withSig(`\u2014 Peter+Neumann ${peterB64}\n`)],
    ['name with U+00A0', withSig(`\u2014 Peter\u00A0Neumann ${peterB64}\n`)],
    ['name with U+0085', withSig(`\u2014 Peter\u0085Neumann ${peterB64}\n`)],
    ['name with U+3000', withSig(`\u2014 Peter\u3000Neumann ${peterB64}\n`)],
    ['no signature', withSig('\u2014 PeterNeumann\n')],
    ['empty signature', withSig('\u2014 PeterNeumann \n')],
    ['two spaces before the signature', withSig(`\u2014 PeterNeumann  ${peterB64}\n`)],
    ['trailing space', withSig(`\u2014 PeterNeumann ${peterB64} \n`)],
    ['unpadded base64', withSig(`\u2014 PeterNeumann ${peterB64.replace(/=+$/, '')}\n`)],
    ['URL-safe base64', withSig(`\u2014 PeterNeumann ${peterB64.replaceAll('/', '_')}\n`)],
    ['non-zero base64 pad bits', withSig(`\u2014 PeterNeumann ${peterB64.slice(0, -2)}N=\n`)],
    ['key ID only (4 bytes)', withSig('\u2014 PeterNeumann x08gow==\n')],
    ['too many signature lines', withSig(PETER_SIG.repeat(MAX_NOTE_SIGNATURES + 1))],
    ['larger than MAX_NOTE_BYTES', `${'a'.repeat(MAX_NOTE_BYTES)}\n\n${PETER_SIG}`],
  ];
  for (const [label, note] of cases) {
    it(label, async () => {
      await expectCode(() => openNote(note, [peterVerifier]), 'FX_AUDIT_FORMAT');
    });
  }

  it('names the offending line', async () => {
    const error = await expectCode(() => openNote(`${GO_NOTE}oops\n`, [peterVerifier]), 'FX_AUDIT_FORMAT');
    expect(error.message).toContain('line 5');
  });

  it('non-string, non-bytes input is FX_INVALID_ARGUMENT', async () => {
    await expectCode(() => openNote(42 as unknown as string, [peterVerifier]), 'FX_INVALID_ARGUMENT');
    await expectCode(() => openNote(GO_NOTE, 'x' as unknown as NoteVerifier[]), 'FX_INVALID_ARGUMENT');
  });
});

describe('verifier keys', () => {
  it("rejects every proper substring and every one-byte change of Go's vkey (as Go's TestNewVerifier)", async () => {
    const bytes = PETER_VKEY;
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i + 1; j <= bytes.length; j++) {
        if (i === 0 && j === bytes.length) continue;
        await expectCode(() => parseVerifierKey(bytes.slice(i, j)), 'FX_AUDIT_FORMAT');
      }
    }
    for (let i = 0; i < bytes.length; i++) {
      const changed = bytes.slice(0, i) + String.fromCharCode(bytes.charCodeAt(i) + 1) + bytes.slice(i + 1);
      await expectCode(() => parseVerifierKey(changed), 'FX_AUDIT_FORMAT');
    }
  });

  const cases: [string, string][] = [
    // From Go's TestNewVerifier: wrong key length and unknown algorithm, each with a matching key ID.
    ['wrong key length', 'PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='],
    ['unknown signature type', 'PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['uppercase hex key ID', PETER_VKEY.replace('c74f20a3', 'C74F20A3')],
    ['7-digit key ID', PETER_VKEY.replace('c74f20a3', 'c74f20a')],
    ['signed key ID', PETER_VKEY.replace('c74f20a3', '+c74f20a')],
    ['empty name', PETER_VKEY.replace('PeterNeumann', '')],
    ['name with a space', PETER_VKEY.replace('PeterNeumann', 'Peter Neumann')],
    ['name with a tab', PETER_VKEY.replace('PeterNeumann', 'Peter\tNeumann')],
    ['no parts', 'PeterNeumann'],
    ['empty key', 'PeterNeumann+c74f20a3+'],
    ['unpadded key', PETER_VKEY.slice(0, -1)],
    ['whitespace around', ` ${PETER_VKEY}`],
    ['trailing newline', `${PETER_VKEY}\n`],
    ['0xff type with an unknown identifier', `x+00000000+/wYJYIZIAWUDBAMT${'A'.repeat(2604)}`],
  ];
  for (const [label, vkey] of cases) {
    it(`rejects: ${label}`, async () => {
      await expectCode(() => parseVerifierKey(vkey), 'FX_AUDIT_FORMAT');
      await expectCode(() => noteVerifierFromKey(vkey), 'FX_AUDIT_FORMAT');
    });
  }

  it('rejects a well-encoded vkey whose Ed25519 key is 31 or 33 bytes (key ID matching)', async () => {
    const { publicKey } = parseVerifierKey(PETER_VKEY);
    for (const material of [
      new Uint8Array([0x01, ...publicKey.subarray(1)]),
      new Uint8Array([0x01, ...publicKey, 0]),
    ]) {
      const id = Buffer.from(sha256(new Uint8Array([...utf8('PeterNeumann\n'), ...material])).subarray(0, 4));
      const vkey = `PeterNeumann+${id.toString('hex')}+${Buffer.from(material).toString('base64')}`;
      const error = await expectCode(() => parseVerifierKey(vkey), 'FX_AUDIT_FORMAT');
      expect(error.message).toContain('32 bytes');
    }
  });

  it('rejects an ML-DSA-65 vkey whose key ID does not match', async () => {
    using key = createSigner('ml-dsa-65', SecretKey.fromBytes(seedFor('ml-dsa-65')));
    const vkey = mlDsa65NoteSigner('a.example/log', key).verifierKey;
    await expectCode(
      () => parseVerifierKey(vkey.replace('a.example/log', 'b.example/log')),
      'FX_AUDIT_FORMAT',
    );
  });

  it('rejects bad programmatic arguments with FX_INVALID_ARGUMENT', async () => {
    using key = peterSigner();
    using pq = createSigner('ml-dsa-65', SecretKey.fromBytes(seedFor('ml-dsa-65')));
    await expectCode(() => ed25519NoteSigner('bad name', key), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ed25519NoteSigner('a+b', key), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ed25519NoteSigner('', key), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ed25519NoteSigner('ok', pq), 'FX_INVALID_ARGUMENT');
    await expectCode(() => mlDsa65NoteSigner('ok', key), 'FX_INVALID_ARGUMENT');
    await expectCode(() => ed25519NoteVerifier('ok', new Uint8Array(31)), 'FX_INVALID_ARGUMENT');
    await expectCode(() => mlDsa65NoteVerifier('ok', new Uint8Array(32)), 'FX_INVALID_ARGUMENT');
    await expectCode(() => noteKeyId('ok', 'rsa' as 'ed25519', key.publicKey), 'FX_INVALID_ARGUMENT');
    await expectCode(() => parseVerifierKey(7 as unknown as string), 'FX_INVALID_ARGUMENT');
  });
});

describe('signNote argument checks', () => {
  // Not `using`: the describe body ends before the tests run.
  const signer = ed25519NoteSigner('PeterNeumann', peterSigner());
  const cases: [string, () => unknown][] = [
    ['text without final newline', () => signNote('abc', [signer])],
    ['text with a control character', () => signNote('a\rb\n', [signer])],
    ['text with a lone surrogate', () => signNote('\uDC00\n', [signer])],
    ['no signers', () => signNote(GO_TEXT, [])],
    [
      'too many signers',
      () =>
        signNote(
          GO_TEXT,
          Array.from({ length: 101 }, (_, i) => ({ ...signer, keyId: i })),
        ),
    ],
    ['duplicate signers', () => signNote(GO_TEXT, [signer, signer])],
    ['a signer with a bad name', () => signNote(GO_TEXT, [{ ...signer, name: 'bad name' }])],
    ['a signer with a bad key ID', () => signNote(GO_TEXT, [{ ...signer, keyId: 2 ** 32 }])],
    [
      'a signer that returns nothing',
      () => signNote(GO_TEXT, [{ ...signer, sign: () => new Uint8Array(0) }]),
    ],
    ['not a signer', () => signNote(GO_TEXT, [{} as NoteSigner])],
  ];
  for (const [label, call] of cases) {
    it(label, async () => {
      await expectCode(call, 'FX_INVALID_ARGUMENT');
    });
  }
});

describe('properties', () => {
  // Printable text (any Unicode scalar but controls), as lines, ending in a newline.
  const noteLine = fc.string({ unit: 'grapheme', maxLength: 40 }).map(dropControls);
  const noteText = fc.array(noteLine, { minLength: 1, maxLength: 6 }).map((lines) => `${lines.join('\n')}\n`);

  it('openNote(signNote(text)) returns the text', () => {
    using key = createSigner('ed25519', SecretKey.fromBytes(seedFor('property')));
    const signer = ed25519NoteSigner('prop.example/log', key);
    const verifier = signer.verifier();
    fc.assert(
      fc.property(noteText, (text) => {
        const note = signNote(text, [signer]);
        expect(openNote(note, [verifier]).text).toBe(text);
        expect(openNote(utf8(note), [verifier]).text).toBe(text);
      }),
      { numRuns: 150 },
    );
  });

  it('no single-byte change of a signed note opens', () => {
    const note = utf8(GO_NOTE);
    fc.assert(
      fc.property(fc.nat({ max: note.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const changed = new Uint8Array(note);
        changed[i]! ^= x;
        let code: string | undefined;
        try {
          openNote(changed, [peterVerifier]);
        } catch (error) {
          code = (error as { code?: string }).code;
        }
        expect(['FX_AUDIT_FORMAT', 'FX_AUDIT_SIGNATURE']).toContain(code);
      }),
      { numRuns: 300 },
    );
  });
});
