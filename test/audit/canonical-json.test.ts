/**
 * RFC 8785 canonical JSON (src/audit/entry/canonical-json.ts): member order, and a refusal that
 * names where in the value the problem is; and the audited hot path's request digest, pinned to
 * the generic one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requestDigestOf, requestDigestOfFacts } from '../../src/audit/entry/audit-hasher.js';
import { canonicalJson } from '../../src/audit/entry/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts members by UTF-16 code units, drops undefined members, writes numbers as JSON does', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], é: 1e21, B: undefined, '\u20ac': 0.1 })).toBe(
      '{"a":[true,null,"x"],"b":1,"é":1e+21,"€":0.1}',
    );
    expect(canonicalJson(['transit.encrypt', 'transit:orders', { items: 1 }])).toBe(
      '["transit.encrypt","transit:orders",{"items":1}]',
    );
  });

  it('refuses what JSON cannot hold, naming the path', () => {
    const cases: [unknown, string][] = [
      [{ a: [1, Number.NaN] }, '$.a[1]: not a finite number'],
      [{ a: { b: '\ud800' } }, '$.a.b: lone UTF-16 surrogate'],
      [[{ ['\udc00']: 1 }], '$[0]: member name with a lone surrogate'],
      [{ when: new Date(0) }, '$.when: object is not a JSON value'],
      [{ list: [[1n]] }, '$.list[0][0]: bigint is not a JSON value'],
    ];
    for (const [value, message] of cases) {
      expect(() => canonicalJson(value)).toThrow(message);
    }
  });
});

describe('requestDigestOfFacts', () => {
  it('is requestDigestOf([action, path, facts]) for any scalar facts', () => {
    const scalar = fc.oneof(fc.string({ unit: 'binary' }), fc.double(), fc.integer(), fc.boolean());
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'binary' }),
        fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), scalar, { maxKeys: 6 }),
        (action, path, facts) => {
          let generic: string | Error;
          try {
            generic = requestDigestOf([action, path, facts]);
          } catch (error) {
            generic = error as Error;
          }
          if (generic instanceof Error) {
            expect(() => requestDigestOfFacts(action, path, facts)).toThrow(generic.message);
          } else {
            expect(requestDigestOfFacts(action, path, facts)).toBe(generic);
          }
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
