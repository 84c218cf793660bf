/**
 * RFC 8785 canonical JSON (src/audit/entry/canonical-json.ts): member order, and a refusal that
 * names where in the value the problem is.
 */
import { describe, expect, it } from 'vitest';
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
