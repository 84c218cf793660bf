/**
 * @module audit/entry/canonical-json
 * The JSON Canonicalization Scheme (RFC 8785, "JCS") for the values audit entries hold: objects,
 * arrays, strings, finite numbers, booleans and null. Object members are sorted by the UTF-16 code
 * units of their names and nothing is indented; strings and numbers are serialised exactly as
 * ECMAScript's JSON.stringify does, which is what RFC 8785 §3.2.2 prescribes. So any JCS library
 * (Go, Java, Python, …) reproduces the bytes an entry was hashed as.
 */
import { AuditError } from '../../util/errors.js';

/** A value JCS can serialise. */
export type JsonValue =
  null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** `$`, `$.a`, `$.a[2]`: where in the value a problem is (built only when there is one). */
function pathOf(trail: readonly (string | number)[]): string {
  let path = '$';
  for (const step of trail) path += typeof step === 'number' ? `[${step}]` : `.${step}`;
  return path;
}

function write(value: unknown, trail: (string | number)[], out: string[]): void {
  if (value === null || typeof value === 'boolean') {
    out.push(String(value));
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new AuditError('FX_AUDIT_FORMAT', `${pathOf(trail)}: not a finite number`);
    out.push(JSON.stringify(value));
  } else if (typeof value === 'string') {
    if (!value.isWellFormed())
      throw new AuditError('FX_AUDIT_FORMAT', `${pathOf(trail)}: lone UTF-16 surrogate`);
    out.push(JSON.stringify(value));
  } else if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      trail.push(i);
      write(value[i], trail, out);
      trail.pop();
    }
    out.push(']');
  } else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
    const keys = Object.keys(record).sort();
    out.push('{');
    let first = true;
    for (const key of keys) {
      const member = record[key];
      if (member === undefined) continue;
      if (!first) out.push(',');
      first = false;
      if (!key.isWellFormed())
        throw new AuditError('FX_AUDIT_FORMAT', `${pathOf(trail)}: member name with a lone surrogate`);
      out.push(JSON.stringify(key), ':');
      trail.push(key);
      write(member, trail, out);
      trail.pop();
    }
    out.push('}');
  } else {
    throw new AuditError('FX_AUDIT_FORMAT', `${pathOf(trail)}: ${typeof value} is not a JSON value`);
  }
}

/** The RFC 8785 canonical text of `value` (members whose value is undefined are left out). */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, [], out);
  return out.join('');
}
