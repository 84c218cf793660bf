/**
 * @module policy/masking/masking
 * Column masking. Policy separates `read` (see that a column exists and get something back) from
 * `decrypt` (see its plaintext): a column the caller may read but not decrypt comes back masked by
 * the column's rule, so support staff can, say, confirm a card's last four digits without seeing
 * the number. What each rule reveals, beyond whether the value is null (every rule keeps nulls):
 *
 * - `redact` — nothing: always `'[redacted]'`.
 * - `null` — nothing: always null, as if the value were absent.
 * - `omit` — nothing: the column is left out of the row (the caller drops it; `maskValue` never
 *   sees it).
 * - `last4` — the last 4 characters, and the length, of values of 8 characters or more; nothing
 *   of shorter ones, which always become `'****'` so their length does not leak either.
 * - `email` — the first character of the local part and the whole domain.
 * - `hash` — a keyed HMAC-SHA256 tag: equal values give equal tags (rows can be linked and
 *   counted), but without the key no one can confirm a guess, even for values from a small domain
 *   such as social security numbers.
 *
 * `redact`, `null` and `omit` do not need the plaintext, so a caller applying them must not
 * decrypt at all (`needsPlaintext`): a value that is never decrypted cannot leak through a bug
 * further on. Error messages name the rule, type and argument, never the value.
 */
import type { HmacSha256Key } from '../../crypto/mac/hmac-sha256-key.js';
import type { ColumnType } from '../../engine/schema/column-types.js';
import { COLUMN_MASKS, type ColumnMask } from '../../engine/schema/table-schema.js';
import { describe, isBytes, toHex, utf8Encoder } from '../../util/bytes.js';
import { CryptoError, InvalidArgumentError } from '../../util/errors.js';

/** How a readable but not decryptable column is shown; see the module comment. */
export type MaskRule = ColumnMask;

/** The rules a column may declare (one list, owned by the table schema that stores them). */
export const MASK_RULES: readonly MaskRule[] = COLUMN_MASKS;

/** What `redact` (and any rule with nothing safe to show for a type) returns. */
export const REDACTED = '[redacted]';

/** `hash` output prefix: names the construction, so a tag is never mistaken for a value. */
const HASH_PREFIX = 'hmac-sha256:';
/** Bytes of the HMAC tag kept: 128 bits make accidental collisions negligible. */
const HASH_BYTES = 16;
/** `last4` reveals a suffix only of values at least this long (in code points). */
const LAST4_MIN_LENGTH = 8;
const LAST4_SHORT = '****';

/** `value` as a mask rule, or `FX_INVALID_ARGUMENT` naming `what` (never echoing the value). */
export function checkMaskRule(value: unknown, what: string): MaskRule {
  if (typeof value !== 'string' || !(MASK_RULES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(what, 'expected one of redact, last4, email, hash, null, omit');
  }
  return value as MaskRule;
}

/** True when `rule` needs the decrypted value; `redact`, `null` and `omit` must never decrypt. */
export function needsPlaintext(rule: MaskRule): boolean {
  return rule === 'last4' || rule === 'email' || rule === 'hash';
}

/**
 * `value` (the decoded JavaScript value of a `type` column, or null) masked by `rule`. Null stays
 * null under every rule. `hashKey` is required for `hash` (checked before the value is looked at,
 * so a missing key fails on every row, not only on non-null ones) and ignored otherwise.
 *
 * @example
 * ```ts
 * maskValue('last4', 'text', '4111111111111111', null); // '************1111'
 * maskValue('email', 'text', 'ann@example.com', null); // 'a***@example.com'
 * maskValue('hash', 'integer', 123456789, key); // 'hmac-sha256:…' (32 hex digits)
 * ```
 */
export function maskValue(
  rule: Exclude<MaskRule, 'omit'>,
  type: ColumnType,
  value: unknown,
  hashKey: HmacSha256Key | null,
): string | null {
  if (rule === 'hash') {
    if (hashKey === null) throw new InvalidArgumentError('hashKey', 'the hash mask rule needs an HMAC key');
    if (hashKey.disposed) {
      throw new CryptoError('FX_CRYPTO_KEY_DISPOSED', 'the hash mask key was disposed');
    }
  }
  if (value === null) return null;
  switch (rule) {
    case 'null':
      return null;
    case 'redact':
      return REDACTED;
    case 'last4':
      checkPlain(type, value);
      return maskLast4(type, value);
    case 'email':
      checkPlain(type, value);
      return type === 'text' ? maskEmail(value as string) : REDACTED;
    case 'hash':
      checkPlain(type, value);
      return maskHash(type, value, hashKey!);
    default:
      throw new InvalidArgumentError('rule', 'expected one of redact, last4, email, hash, null');
  }
}

/**
 * Refuses a value whose JavaScript type does not match its column type — most likely ciphertext
 * or an undecoded value passed by mistake, which must not be masked as if it were the plaintext.
 */
function checkPlain(type: ColumnType, value: unknown): void {
  let ok: boolean;
  switch (type) {
    case 'text':
    case 'uuid':
      ok = typeof value === 'string';
      break;
    case 'integer':
      ok = Number.isSafeInteger(value);
      break;
    case 'real':
      ok = Number.isFinite(value);
      break;
    case 'boolean':
      ok = typeof value === 'boolean';
      break;
    case 'timestamp':
      ok = value instanceof Date && Number.isFinite(value.getTime());
      break;
    case 'json':
      ok = value !== undefined && typeof value !== 'function' && typeof value !== 'symbol';
      break;
    case 'bytes':
      ok = isBytes(value);
      break;
    default:
      throw new InvalidArgumentError('type', 'expected a column type');
  }
  if (!ok) throw new InvalidArgumentError('value', `expected a ${type} value, got ${describe(value)}`);
}

/**
 * Values of 8 or more code points keep their last 4 behind one `*` per hidden code point (the
 * length shows, as on a printed card number); shorter ones become a fixed `****`, since half or
 * more of a short value is too much and its length alone can narrow it down. Counting code points,
 * not UTF-16 units, keeps an emoji whole instead of splitting a surrogate pair.
 */
function maskLast4(type: ColumnType, value: unknown): string {
  let text: string;
  switch (type) {
    case 'text':
    case 'uuid':
      text = value as string;
      break;
    case 'integer':
    case 'real':
      text = String(value);
      break;
    case 'bytes':
      text = toHex(value as Uint8Array);
      break;
    default:
      // A timestamp, boolean or JSON document has no suffix that identifies it without revealing it.
      return REDACTED;
  }
  const points = Array.from(text);
  if (points.length < LAST4_MIN_LENGTH) return LAST4_SHORT;
  return '*'.repeat(points.length - 4) + points.slice(-4).join('');
}

/** `a***@example.com`: enough to recognise an address, not to use it. Anything else is redacted. */
function maskEmail(text: string): string {
  const at = text.indexOf('@');
  if (at <= 0 || at === text.length - 1 || text.lastIndexOf('@') !== at) return REDACTED;
  const first = String.fromCodePoint(text.codePointAt(0)!);
  return `${first}***${text.slice(at)}`;
}

/**
 * `hmac-sha256:` + hex of the first 16 bytes of HMAC(key, type ‖ 0x00 ‖ canonical bytes). The type
 * tag keeps the integer 1234 and the text '1234' apart; the 0x00 cannot occur in a type name, so
 * tag and value cannot run into each other. JSON is hashed as the serialised text it is stored as
 * (key order included), so one stored document always gives one tag.
 */
function maskHash(type: ColumnType, value: unknown, key: HmacSha256Key): string {
  let canonical: Uint8Array;
  switch (type) {
    case 'text':
      canonical = utf8Encoder.encode(value as string);
      break;
    case 'uuid':
      canonical = utf8Encoder.encode((value as string).toLowerCase());
      break;
    case 'integer':
    case 'real':
      canonical = utf8Encoder.encode(String(value));
      break;
    case 'boolean':
      canonical = utf8Encoder.encode(value === true ? 'true' : 'false');
      break;
    case 'timestamp':
      canonical = utf8Encoder.encode((value as Date).toISOString());
      break;
    case 'json':
      canonical = utf8Encoder.encode(JSON.stringify(value));
      break;
    case 'bytes':
      canonical = value as Uint8Array;
      break;
  }
  const tag = utf8Encoder.encode(type);
  const message = new Uint8Array(tag.length + 1 + canonical.length);
  message.set(tag, 0);
  message.set(canonical, tag.length + 1);
  const mac = new Uint8Array(32);
  try {
    key.macInto(message, mac);
    return HASH_PREFIX + toHex(mac.subarray(0, HASH_BYTES));
  } finally {
    // The message holds the plaintext and the untruncated tag is worth more than the output.
    message.fill(0);
    mac.fill(0);
    if (canonical !== value) canonical.fill(0);
  }
}
