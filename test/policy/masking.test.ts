/**
 * Column masking: every rule on every column type with the expected output written out (hash tags
 * pinned from node:crypto's HMAC, an independent implementation), nulls, email and last4 edge
 * cases, the hash's keying and type separation, bad arguments, and properties that a mask never
 * reveals more than its rule allows.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { HmacSha256Key } from '../../src/crypto/mac/hmac-sha256-key.js';
import { COLUMN_TYPES, type ColumnType } from '../../src/engine/schema/column-types.js';
import {
  MASK_RULES,
  REDACTED,
  checkMaskRule,
  maskValue,
  needsPlaintext,
  type MaskRule,
} from '../../src/policy/masking/masking.js';
import { expectCode } from '../helpers/expect-code.js';

const keyBytes = Uint8Array.from({ length: 32 }, (_, i) => i);
const key = new HmacSha256Key(keyBytes);
const otherKey = new HmacSha256Key(Uint8Array.from({ length: 32 }, (_, i) => 255 - i));
afterAll(() => {
  key.dispose();
  otherKey.dispose();
});

/** The hash rule recomputed with node:crypto: type ‖ 0x00 ‖ canonical bytes, first 16 bytes. */
function reference(type: ColumnType, canonical: Uint8Array | string): string {
  const message = Buffer.concat([Buffer.from(type), Buffer.of(0), Buffer.from(canonical)]);
  return `hmac-sha256:${createHmac('sha256', keyBytes).update(message).digest('hex').slice(0, 32)}`;
}

type Rule = Exclude<MaskRule, 'omit'>;

interface Case {
  type: ColumnType;
  value: unknown;
  expected: Record<Rule, string | null>;
}

const cases: Case[] = [
  {
    type: 'text',
    value: 'ann@example.com',
    expected: {
      redact: REDACTED,
      null: null,
      last4: '***********.com',
      email: 'a***@example.com',
      hash: 'hmac-sha256:4d238c4aa003dbf827f0b8ff50877023',
    },
  },
  {
    type: 'integer',
    value: 4111111111111111,
    expected: {
      redact: REDACTED,
      null: null,
      last4: '************1111',
      email: REDACTED,
      hash: 'hmac-sha256:89bd1321c62a53a0fb1e5d1087899004',
    },
  },
  {
    type: 'real',
    value: 1234.5678,
    expected: {
      redact: REDACTED,
      null: null,
      last4: '*****5678',
      email: REDACTED,
      hash: 'hmac-sha256:3d7088f277750c6db7678cd1f49fd2e2',
    },
  },
  {
    type: 'boolean',
    value: true,
    expected: {
      redact: REDACTED,
      null: null,
      last4: REDACTED,
      email: REDACTED,
      hash: 'hmac-sha256:dfc88db50c762e806f3eb487bad28937',
    },
  },
  {
    type: 'timestamp',
    value: new Date('2026-01-02T03:04:05.678Z'),
    expected: {
      redact: REDACTED,
      null: null,
      last4: REDACTED,
      email: REDACTED,
      hash: 'hmac-sha256:c00c58268230cb7b06e00936a7d5f6ce',
    },
  },
  {
    type: 'json',
    value: { a: 1, b: 'x' },
    expected: {
      redact: REDACTED,
      null: null,
      last4: REDACTED,
      email: REDACTED,
      hash: 'hmac-sha256:69134627c7b3772b769e33201d1bd1dd',
    },
  },
  {
    type: 'bytes',
    value: Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0x01, 0x02),
    expected: {
      redact: REDACTED,
      null: null,
      last4: '********0102',
      email: REDACTED,
      hash: 'hmac-sha256:adcdccaf1d852b06753ecc9720c48e50',
    },
  },
  {
    type: 'uuid',
    value: '0190f5c2-8a4b-7c3d-9e2f-0123456789ab',
    expected: {
      redact: REDACTED,
      null: null,
      last4: `${'*'.repeat(32)}89ab`,
      email: REDACTED,
      hash: 'hmac-sha256:2ebddc81189106cb10b88e0a78c709b4',
    },
  },
];

const RULES: Rule[] = ['redact', 'null', 'last4', 'email', 'hash'];

describe('maskValue on every column type', () => {
  it('covers every column type', () => {
    expect(cases.map((c) => c.type).sort()).toEqual([...COLUMN_TYPES].sort());
  });

  for (const { type, value, expected } of cases) {
    for (const rule of RULES) {
      it(`${rule} of a ${type} gives ${JSON.stringify(expected[rule])}`, () => {
        expect(maskValue(rule, type, value, key)).toBe(expected[rule]);
      });
    }
  }

  it('agrees with node:crypto on each pinned hash', () => {
    expect(reference('text', 'ann@example.com')).toBe(cases[0]!.expected.hash);
    expect(reference('bytes', Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0x01, 0x02))).toBe(
      cases[6]!.expected.hash,
    );
  });

  it('keeps null as null under every rule and every type', () => {
    for (const type of COLUMN_TYPES) {
      for (const rule of RULES) expect(maskValue(rule, type, null, key)).toBeNull();
    }
  });

  it('needs no key for rules other than hash', () => {
    for (const rule of ['redact', 'null', 'last4', 'email'] as const) {
      expect(() => maskValue(rule, 'text', 'ann@example.com', null)).not.toThrow();
    }
  });

  it('does not look at the value for redact and null (it was never decrypted)', () => {
    const ciphertext = Uint8Array.of(1, 2, 3);
    expect(maskValue('redact', 'integer', ciphertext, null)).toBe(REDACTED);
    expect(maskValue('null', 'text', ciphertext, null)).toBeNull();
  });
});

describe('last4', () => {
  it('shows the last 4 of 8 or more code points, and nothing of shorter values', () => {
    expect(maskValue('last4', 'text', '12345678', null)).toBe('****5678');
    expect(maskValue('last4', 'text', '1234567', null)).toBe('****');
    expect(maskValue('last4', 'text', '1', null)).toBe('****');
    expect(maskValue('last4', 'text', '', null)).toBe('****');
    expect(maskValue('last4', 'integer', -12345678, null)).toBe('*****5678');
    expect(maskValue('last4', 'integer', 1234, null)).toBe('****');
    expect(maskValue('last4', 'real', 0.5, null)).toBe('****');
    expect(maskValue('last4', 'bytes', Uint8Array.of(1, 2, 3), null)).toBe('****');
    expect(maskValue('last4', 'bytes', Uint8Array.of(0xab, 0xcd, 0xef, 0x12), null)).toBe('****ef12');
  });

  it('counts an astral character (emoji) as one', () => {
    // 8 code points, 12 UTF-16 units.
    expect(maskValue('last4', 'text', 'abcd😀😁😂😃', null)).toBe('****😀😁😂😃');
    expect(maskValue('last4', 'text', '😀😁😂😃😄😅😆', null)).toBe('****');
    expect(maskValue('last4', 'text', '😀😁😂😃😄😅😆😇', null)).toBe('****😄😅😆😇');
    expect(maskValue('last4', 'text', 'abcdefg😀', null)).toBe('****efg😀');
  });
});

describe('email', () => {
  const email = (text: string): string | null => maskValue('email', 'text', text, null);

  it('keeps the first character of the local part and the domain', () => {
    expect(email('ann@example.com')).toBe('a***@example.com');
    expect(email('a@b')).toBe('a***@b');
    expect(email('😀bob@example.org')).toBe('😀***@example.org');
  });

  it('redacts anything that is not local@domain', () => {
    expect(email('ann.example.com')).toBe(REDACTED);
    expect(email('ann@ex@ample.com')).toBe(REDACTED);
    expect(email('@example.com')).toBe(REDACTED);
    expect(email('ann@')).toBe(REDACTED);
    expect(email('@')).toBe(REDACTED);
    expect(email('')).toBe(REDACTED);
  });
});

describe('hash', () => {
  it('is deterministic and keyed', () => {
    const a = maskValue('hash', 'text', '078-05-1120', key);
    expect(maskValue('hash', 'text', '078-05-1120', key)).toBe(a);
    expect(maskValue('hash', 'text', '078-05-1121', key)).not.toBe(a);
    expect(maskValue('hash', 'text', '078-05-1120', otherKey)).not.toBe(a);
    expect(a).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
  });

  it('separates types whose text forms are equal', () => {
    const outputs = [
      maskValue('hash', 'integer', 1234, key),
      maskValue('hash', 'text', '1234', key),
      maskValue('hash', 'real', 1234, key),
      maskValue('hash', 'json', 1234, key),
      maskValue('hash', 'bytes', Buffer.from('1234'), key),
    ];
    expect(new Set(outputs).size).toBe(outputs.length);
    expect(outputs[0]).toBe('hmac-sha256:5a3ed0a341d1d2e850e32c36873dfa2d');
    expect(outputs[1]).toBe('hmac-sha256:eda514350e09ba076ad8a05de5694190');
  });

  it('hashes a uuid in lower case', () => {
    const lower = '0190f5c2-8a4b-7c3d-9e2f-0123456789ab';
    expect(maskValue('hash', 'uuid', lower.toUpperCase(), key)).toBe(maskValue('hash', 'uuid', lower, key));
  });

  it('does not change or zero the caller’s bytes', () => {
    const bytes = Uint8Array.of(9, 8, 7);
    maskValue('hash', 'bytes', bytes, key);
    expect([...bytes]).toEqual([9, 8, 7]);
  });

  it('matches node:crypto and never contains the plaintext, on random text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), (text) => {
        const output = maskValue('hash', 'text', text, key)!;
        expect(output).toBe(reference('text', text));
        // Shorter texts may turn up in 32 random hex digits by chance.
        if (text.length >= 8) expect(output).not.toContain(text);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a missing or disposed key, even for a null value', async () => {
    const error = await expectCode(() => maskValue('hash', 'text', null, null), 'FX_INVALID_ARGUMENT');
    expect(error.message).toMatch(/^hashKey: /);
    const gone = new HmacSha256Key(keyBytes);
    gone.dispose();
    await expectCode(() => maskValue('hash', 'text', 'x', gone), 'FX_CRYPTO_KEY_DISPOSED');
  });
});

describe('rules and arguments', () => {
  it('lists the rules and which need plaintext', () => {
    expect(MASK_RULES).toEqual(['redact', 'last4', 'email', 'hash', 'null', 'omit']);
    expect(Object.isFrozen(MASK_RULES)).toBe(true);
    expect(MASK_RULES.filter(needsPlaintext)).toEqual(['last4', 'email', 'hash']);
  });

  it('checkMaskRule accepts each rule and refuses anything else without echoing it', async () => {
    for (const rule of MASK_RULES) expect(checkMaskRule(rule, 'mask')).toBe(rule);
    for (const bad of ['Redact', 'last4 ', '', 'secret-value', 4, null, undefined, ['hash']]) {
      const error = await expectCode(() => checkMaskRule(bad, 'columns.ssn.mask'), 'FX_INVALID_ARGUMENT');
      expect(error.message).toBe('columns.ssn.mask: expected one of redact, last4, email, hash, null, omit');
    }
  });

  it('maskValue refuses omit and unknown rules', async () => {
    await expectCode(() => maskValue('omit' as Rule, 'text', 'x', null), 'FX_INVALID_ARGUMENT');
    await expectCode(() => maskValue('blur' as Rule, 'text', 'x', null), 'FX_INVALID_ARGUMENT');
  });

  const mismatched: [Rule, ColumnType, unknown][] = [
    ['last4', 'text', 12345678],
    ['last4', 'integer', '12345678'],
    ['last4', 'integer', 1.5],
    ['last4', 'real', Number.NaN],
    ['email', 'text', Buffer.from('ann@example.com')],
    ['hash', 'boolean', 'true'],
    ['hash', 'timestamp', '2026-01-02T03:04:05Z'],
    ['hash', 'timestamp', new Date(Number.NaN)],
    ['hash', 'bytes', [1, 2]],
    ['hash', 'uuid', 7],
    ['hash', 'json', undefined],
  ];
  it.each(mismatched)('%s refuses a %s column holding the wrong JS type', async (rule, type, value) => {
    const error = await expectCode(() => maskValue(rule, type, value, key), 'FX_INVALID_ARGUMENT');
    expect(error.message).toMatch(/^value: expected a /);
    if (typeof value === 'string') expect(error.message).not.toContain(value);
  });
});

describe('masks reveal no more than their rule allows', () => {
  it('last4 shows exactly the last 4 code points of strings of 8 or more, and only stars before', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 8, maxLength: 64 }), (text) => {
        const points = Array.from(text);
        fc.pre(points.length >= 8);
        const output = Array.from(maskValue('last4', 'text', text, null)!);
        expect(output).toHaveLength(points.length);
        expect(output.slice(-4)).toEqual(points.slice(-4));
        expect(output.slice(0, -4).every((c) => c === '*')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('last4 of a shorter string is always ****', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 7 }), (text) => {
        expect(maskValue('last4', 'text', text, null)).toBe('****');
      }),
    );
  });

  it('redact and null never contain the input', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (text) => {
        const redacted = maskValue('redact', 'text', text, null);
        expect(redacted).toBe(REDACTED);
        if (text !== REDACTED && !REDACTED.includes(text)) expect(redacted).not.toContain(text);
        expect(maskValue('null', 'text', text, null)).toBeNull();
      }),
    );
  });
});
