/**
 * @module audit/entry/audit-hasher
 * Digests of sensitive values for audit entries: `hmac-sha256:<hex>` under the ledger's audit key,
 * as Vault's audit devices do. An entry can then say *which* value a request touched without
 * holding it, and an authorised auditor who knows a value (and can unseal) finds the entries about
 * it with `fortress audit hash <value>`. The HMAC is the blind-index primitive at full width (256
 * bits), under a key used for nothing else.
 */
import { hash } from 'node:crypto';
import { BlindIndex } from '../../crypto/blind-index/blind-index.js';
import type { DataKey } from '../../crypto/envelope/data-key.js';
import { canonicalJson } from './canonical-json.js';

/** The text form of a value that `hash` digests: what an auditor types to find it again. */
export function auditValueText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.length).toString('hex');
  if (value === null || value === undefined) return 'null';
  return canonicalJson(value);
}

export class AuditHasher implements Disposable {
  readonly #index: BlindIndex;

  /** `key` is the ledger's audit HMAC key (an index-purpose key from the keyring). */
  constructor(key: DataKey) {
    this.#index = new BlindIndex(key, { bits: 256 });
  }

  /**
   * `hmac-sha256:<64 hex>` of a value's text form (see {@link auditValueText}).
   *
   * @example
   * ```ts
   * hasher.hash('ann@example.com'); // 'hmac-sha256:5f1c…'
   * ```
   */
  hash(value: unknown): string {
    const text = auditValueText(value);
    return `hmac-sha256:${this.#index.compute(Buffer.from(text, 'utf8')).toString('hex')}`;
  }

  /** Zeroes the audit key's HMAC state (at seal and close). Idempotent. */
  dispose(): void {
    this.#index.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * `sha256:<hex>` of a request's parts (action, resource path, digests of its sensitive values,
 * non-sensitive names and facts) as RFC 8785 canonical JSON — never of the sensitive values
 * themselves. See docs/formats.md § Audit entries.
 */
export function requestDigestOf(parts: readonly unknown[]): string {
  return `sha256:${hash('sha256', canonicalJson(parts), 'hex')}`;
}

/**
 * {@link requestDigestOf} for parts that are only strings and arrays of strings, where
 * JSON.stringify already writes RFC 8785 form (no object members to sort): the audited hot path.
 */
export function requestDigestOfStrings(parts: readonly (string | readonly string[])[]): string {
  return `sha256:${hash('sha256', JSON.stringify(parts), 'hex')}`;
}

/**
 * {@link requestDigestOf} of `[action, path, facts]` where `facts` are scalars — an operation's
 * entry, once per audited call: members sorted and each value written by JSON.stringify, which is
 * RFC 8785's form for strings and finite numbers (the tests pin it to the generic path).
 */
export function requestDigestOfFacts(
  action: string,
  path: string,
  facts: Readonly<Record<string, string | number | boolean>>,
): string {
  // Anything the generic path would refuse or write differently goes that way (it names the problem).
  if (!action.isWellFormed() || !path.isWellFormed() || Object.getPrototypeOf(facts) !== Object.prototype) {
    return requestDigestOf([action, path, facts]);
  }
  let text = `[${JSON.stringify(action)},${JSON.stringify(path)},{`;
  let first = true;
  // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
  for (const key of Object.keys(facts).sort()) {
    const value: unknown = facts[key];
    if (value === undefined) continue;
    const plain =
      typeof value === 'string'
        ? value.isWellFormed()
        : typeof value === 'number'
          ? Number.isFinite(value)
          : typeof value === 'boolean';
    if (!plain || !key.isWellFormed()) return requestDigestOf([action, path, facts]);
    text += `${first ? '' : ','}${JSON.stringify(key)}:${JSON.stringify(value)}`;
    first = false;
  }
  return `sha256:${hash('sha256', `${text}}]`, 'hex')}`;
}
