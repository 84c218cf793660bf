/**
 * C2SP tlog-proof files (src/audit/note/tlog-proof.ts): the spec example's layout, round trips
 * (fast-check), opening with checkpoint signatures, and malformed files.
 *
 * Quoted: the header, extra, index and proof lines of the example in C2SP tlog-proof.md. Its
 * checkpoint's signatures are elided ("[...]") in the spec, so the example is completed with the
 * (fully printed) example checkpoint of tlog-checkpoint.md.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ed25519NoteSigner,
  formatTlogProof,
  MAX_TLOG_PROOF_HASHES,
  openTlogProof,
  parseTlogProof,
  signCheckpoint,
  TLOG_PROOF_HEADER,
  type TlogProof,
} from '../../src/audit/note/index.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { createSigner } from '../../src/crypto/signature/signature.js';
import { expectCode } from '../helpers/expect-code.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

// C2SP tlog-proof.md example (header through proof lines).
const SPEC_HEAD =
  'c2sp.org/tlog-proof@v1\n' +
  'extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n' +
  'index 73894\n' +
  'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n' +
  'B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n' +
  'EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n' +
  'RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n' +
  'AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n';
// C2SP tlog-checkpoint.md example checkpoint.
const SPEC_CHECKPOINT =
  'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n' +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';
const SPEC_FILE = `${SPEC_HEAD}\n${SPEC_CHECKPOINT}`;

const ORIGIN = 'audit.example.com/ledger';
const edKey = createSigner('ed25519', SecretKey.fromBytes(sha256(utf8('fortress test seed: tlog-proof'))));
const signer = ed25519NoteSigner(ORIGIN, edKey);
const CHECKPOINT = signCheckpoint({ origin: ORIGIN, size: 1000, rootHash: sha256(utf8('root')) }, [signer]);
const hashes = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => sha256(utf8(`node ${i}`)));

describe('the spec example', () => {
  it('parses header, extra, index, proof hashes and the checkpoint', () => {
    const parsed = parseTlogProof(SPEC_FILE);
    expect(parsed.index).toBe(73894);
    expect(parsed.extra).toEqual(b64('YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ'));
    expect(parsed.proof).toHaveLength(5);
    expect(parsed.proof[0]).toEqual(b64('gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ='));
    expect(parsed.checkpointNote).toBe(SPEC_CHECKPOINT);
    expect(formatTlogProof(parsed)).toBe(SPEC_FILE);
    expect(parseTlogProof(utf8(SPEC_FILE))).toEqual(parsed);
  });

  it('cannot be opened without the log key', async () => {
    await expectCode(() => openTlogProof(SPEC_FILE, [signer.verifier()]), 'FX_AUDIT_SIGNATURE');
  });
});

describe('format, parse and open', () => {
  it('writes the layout of the spec', () => {
    const proof = hashes(2);
    const file = formatTlogProof({ index: 7, proof, checkpointNote: CHECKPOINT, extra: utf8('ctx') });
    expect(file).toBe(
      `${TLOG_PROOF_HEADER}\nextra Y3R4\nindex 7\n` +
        `${Buffer.from(proof[0]!).toString('base64')}\n${Buffer.from(proof[1]!).toString('base64')}\n\n${CHECKPOINT}`,
    );
  });

  it('omits the extra line when there is no extra data, and allows an empty proof', () => {
    const file = formatTlogProof({ index: 0, proof: [], checkpointNote: CHECKPOINT });
    expect(file).toBe(`${TLOG_PROOF_HEADER}\nindex 0\n\n${CHECKPOINT}`);
    const parsed = parseTlogProof(file);
    expect(parsed).toEqual({ index: 0, proof: [], checkpointNote: CHECKPOINT });
    expect('extra' in parsed).toBe(false);
  });

  it('openTlogProof verifies the checkpoint signatures and origin', async () => {
    const file = formatTlogProof({ index: 999, proof: hashes(10), checkpointNote: CHECKPOINT });
    const opened = openTlogProof(file, [signer.verifier()], { origin: ORIGIN });
    expect(opened.index).toBe(999);
    expect(opened.checkpoint.size).toBe(1000);
    expect(opened.checkpoint.rootHash).toEqual(sha256(utf8('root')));
    expect(opened.verified).toEqual([{ name: ORIGIN, keyId: signer.keyId }]);
    await expectCode(
      () => openTlogProof(file, [signer.verifier()], { origin: 'x.example/log' }),
      'FX_AUDIT_SIGNATURE',
    );
    const forged = file.replace('\n1000\n', '\n1001\n');
    await expectCode(() => openTlogProof(forged, [signer.verifier()]), 'FX_AUDIT_SIGNATURE');
  });
});

describe('parseTlogProof rejects malformed files (FX_AUDIT_FORMAT, naming the line)', () => {
  const h = Buffer.from(hashes(1)[0]!).toString('base64');
  const file = (head: string, note = CHECKPOINT): string => `${head}\n${note}`;
  const cases: [string, string | Uint8Array, string][] = [
    ['empty', '', 'line 1'],
    ['wrong header version', file(`c2sp.org/tlog-proof@v2\nindex 1\n${h}\n`), 'line 1'],
    ['header with trailing space', file(`${TLOG_PROOF_HEADER} \nindex 1\n`), 'line 1'],
    ['missing header', file(`index 1\n${h}\n`), 'line 1'],
    ['extra without a space', file(`${TLOG_PROOF_HEADER}\nextraY3R4\nindex 1\n`), 'line 2'],
    ['empty extra', file(`${TLOG_PROOF_HEADER}\nextra \nindex 1\n`), 'line 2'],
    ['extra with non-canonical base64', file(`${TLOG_PROOF_HEADER}\nextra Y3R5=\nindex 1\n`), 'line 2'],
    ['extra unpadded', file(`${TLOG_PROOF_HEADER}\nextra Y3Q\nindex 1\n`), 'line 2'],
    ['two extra lines', file(`${TLOG_PROOF_HEADER}\nextra Y3R4\nextra Y3R4\nindex 1\n`), 'line 3'],
    ['extra after index', file(`${TLOG_PROOF_HEADER}\nindex 1\nextra Y3R4\n`), 'line 3'],
    ['missing index', file(`${TLOG_PROOF_HEADER}\n${h}\n`), 'line 2'],
    ['index without a number', file(`${TLOG_PROOF_HEADER}\nindex \n`), 'line 2'],
    ['capitalised Index', file(`${TLOG_PROOF_HEADER}\nIndex 1\n`), 'line 2'],
    ['index with two spaces', file(`${TLOG_PROOF_HEADER}\nindex  1\n`), 'line 2'],
    ['negative index', file(`${TLOG_PROOF_HEADER}\nindex -1\n`), 'line 2'],
    ['index with leading zero', file(`${TLOG_PROOF_HEADER}\nindex 01\n`), 'line 2'],
    ['index with plus sign', file(`${TLOG_PROOF_HEADER}\nindex +1\n`), 'line 2'],
    ['index 2^53', file(`${TLOG_PROOF_HEADER}\nindex 9007199254740992\n`), 'line 2'],
    [
      '31-byte proof hash',
      file(`${TLOG_PROOF_HEADER}\nindex 1\n${Buffer.alloc(31).toString('base64')}\n`),
      'line 3',
    ],
    [
      '33-byte proof hash',
      file(`${TLOG_PROOF_HEADER}\nindex 1\n${h}\n${Buffer.alloc(33).toString('base64')}\n`),
      'line 4',
    ],
    ['hex proof hash', file(`${TLOG_PROOF_HEADER}\nindex 1\n${'00'.repeat(32)}\n`), 'line 3'],
    ['unpadded proof hash', file(`${TLOG_PROOF_HEADER}\nindex 1\n${h.slice(0, -1)}\n`), 'line 3'],
    [
      'too many proof hashes',
      file(`${TLOG_PROOF_HEADER}\nindex 1\n${`${h}\n`.repeat(MAX_TLOG_PROOF_HASHES + 1)}`),
      `line ${MAX_TLOG_PROOF_HASHES + 3}`,
    ],
    ['no blank line', `${TLOG_PROOF_HEADER}\nindex 1\n${h}\n`, 'blank line'],
    ['no checkpoint', `${TLOG_PROOF_HEADER}\nindex 1\n${h}\n\n`, 'no checkpoint'],
    ['two blank lines', `${TLOG_PROOF_HEADER}\nindex 1\n\n\n${CHECKPOINT}`, 'line 4'],
    ['unsigned checkpoint', `${TLOG_PROOF_HEADER}\nindex 1\n\n${CHECKPOINT.split('\n\n')[0]!}\n`, 'line 4'],
    [
      'malformed checkpoint body',
      file(`${TLOG_PROOF_HEADER}\nindex 1\n`, CHECKPOINT.replace('\n1000\n', '\n01000\n')),
      'tree size',
    ],
    [
      'checkpoint without final newline',
      file(`${TLOG_PROOF_HEADER}\nindex 1\n`, CHECKPOINT.slice(0, -1)),
      'line 4',
    ],
    ['CRLF', file(`${TLOG_PROOF_HEADER}\nindex 1\n`).replaceAll('\n', '\r\n'), 'line 1'],
    [
      'invalid UTF-8',
      new Uint8Array([...utf8(`${TLOG_PROOF_HEADER}\nindex 1\n\n`), 0xc3, ...utf8(CHECKPOINT)]),
      'UTF-8',
    ],
    ['too large', `${TLOG_PROOF_HEADER}\nindex 1\n\n${'a'.repeat(2 ** 21)}`, 'longer'],
  ];
  for (const [label, text, where] of cases) {
    it(label, async () => {
      const error = await expectCode(() => parseTlogProof(text), 'FX_AUDIT_FORMAT');
      expect(error.message).toContain(where);
    });
  }
});

describe('formatTlogProof argument checks (FX_INVALID_ARGUMENT)', () => {
  const base: TlogProof = { index: 1, proof: hashes(1), checkpointNote: CHECKPOINT };
  const cases: [string, unknown][] = [
    ['negative index', { ...base, index: -1 }],
    ['fractional index', { ...base, index: 0.5 }],
    ['index 2^53', { ...base, index: 2 ** 53 }],
    ['31-byte hash', { ...base, proof: [new Uint8Array(31)] }],
    ['hash as a string', { ...base, proof: ['abc'] }],
    ['too many hashes', { ...base, proof: hashes(MAX_TLOG_PROOF_HASHES + 1) }],
    ['proof not an array', { ...base, proof: new Uint8Array(32) }],
    ['empty extra', { ...base, extra: new Uint8Array(0) }],
    ['extra as a string', { ...base, extra: 'abc' }],
    ['unsigned checkpoint', { ...base, checkpointNote: CHECKPOINT.split('\n\n')[0]! + '\n' }],
    [
      'checkpoint note with a bad body',
      { ...base, checkpointNote: CHECKPOINT.replace('\n1000\n', '\n-1\n') },
    ],
    ['checkpoint note not a string', { ...base, checkpointNote: utf8(CHECKPOINT) }],
    ['null', null],
  ];
  for (const [label, value] of cases) {
    it(label, async () => {
      await expectCode(() => formatTlogProof(value as TlogProof), 'FX_INVALID_ARGUMENT');
    });
  }
});

describe('properties', () => {
  const tlogProof: fc.Arbitrary<TlogProof> = fc
    .record(
      {
        index: fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat()),
        proof: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
          maxLength: MAX_TLOG_PROOF_HASHES,
        }),
        checkpointNote: fc.constantFrom(CHECKPOINT, SPEC_CHECKPOINT),
        extra: fc.uint8Array({ minLength: 1, maxLength: 200 }),
      },
      { requiredKeys: ['index', 'proof', 'checkpointNote'] },
    )
    .map((p) => p as TlogProof);

  it('parseTlogProof(formatTlogProof(p)) = p, and formatting is canonical', () => {
    fc.assert(
      fc.property(tlogProof, (p) => {
        const file = formatTlogProof(p);
        const parsed = parseTlogProof(file);
        expect(parsed).toEqual(p);
        expect(formatTlogProof(parsed)).toBe(file);
        expect(parseTlogProof(utf8(file))).toEqual(p);
      }),
      { numRuns: 300 },
    );
  });
});
