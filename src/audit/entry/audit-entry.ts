/**
 * @module audit/entry/audit-entry
 * The audit entry: one canonical, versioned record per access. Its bytes — RFC 8785 canonical JSON
 * in UTF-8 — are the Merkle leaf (RFC 6962: leaf hash = SHA-256(0x00 ‖ entry)), so anyone can
 * re-derive the tree from the entries with a JSON canonicaliser and SHA-256. Sensitive values
 * (query literals, row keys, secrets, tokens) never appear: callers put `hmac-sha256:<hex>` digests
 * from an {@link AuditHasher} in their place. See docs/formats.md § Audit entries.
 */
import { AuditError } from '../../util/errors.js';

/** The entry format version written into every entry (`v`). */
export const AUDIT_ENTRY_VERSION = 1;

/** Longest identifier-like string (names, ids, codes) an entry accepts. */
export const MAX_AUDIT_STRING = 512;
/**
 * Most list items in one entry's `details`, all lists together (e.g. row-key and literal digests of
 * one request), and the longest item: an entry stays well under 200 KiB, so its evidence fits a
 * tlog-proof file.
 */
export const MAX_AUDIT_LIST = 1000;
export const MAX_AUDIT_LIST_ITEM = 128;

/** Who acted. */
export interface AuditPrincipal {
  /** `user`, `service`, `process` (embedded), `anonymous`, … */
  readonly type: string;
  readonly id: string;
  readonly tenant: string;
}

export type AuditResourceType =
  'system' | 'tenant' | 'database' | 'table' | 'column' | 'row' | 'key' | 'policy' | 'audit' | 'secret';

/** What was acted on. Only the fields that apply are present. */
export interface AuditResource {
  readonly type: AuditResourceType;
  readonly tenant?: string;
  readonly database?: string;
  readonly table?: string;
  readonly column?: string;
  /** A key's name in the keyring. */
  readonly key?: string;
  /** A secret's path, with its engine: `kv:apps/billing/db` (a folder ends in `/`). */
  readonly path?: string;
}

export interface AuditDecision {
  readonly effect: 'allow' | 'deny';
  /** The policies (or built-in rules) that decided, by id. */
  readonly policies: readonly string[];
}

export type AuditOutcome = { readonly status: 'ok' } | { readonly status: 'error'; readonly code: string };

/** A details value: non-sensitive facts, or digests of sensitive ones. */
export type AuditDetail = string | number | boolean | null | readonly string[];

/** What a caller records; the ledger adds `v`, `seq` and `time`. */
export interface AuditRecord {
  readonly principal: AuditPrincipal;
  /** Dotted verb, e.g. `table.get`, `key.rotate`, `system.unseal`. */
  readonly action: string;
  readonly resource: AuditResource;
  readonly decision: AuditDecision;
  readonly outcome: AuditOutcome;
  /** Correlates entries of one request (generated when the caller has none). */
  readonly requestId: string;
  /** The client's network address, or null in embedded use. */
  readonly client: string | null;
  /** `sha256:<hex>` of the canonical request, built from digests rather than sensitive values. */
  readonly request: string;
  readonly details?: Readonly<Record<string, AuditDetail>>;
}

/** A stored entry: the record plus its place in the log. */
export interface AuditEntry extends AuditRecord {
  readonly v: typeof AUDIT_ENTRY_VERSION;
  /** Zero-based position in the log: the Merkle leaf index. */
  readonly seq: number;
  /** RFC 3339 UTC time with milliseconds. */
  readonly time: string;
}

/** C0 and C1 control characters and DEL (Unicode category Cc). */
const CONTROL_RE = /\p{Cc}/u;
const ACTION_RE = /^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/;
const DIGEST_RE = /^(sha256|hmac-sha256):[0-9a-f]{64}$/;
const DETAIL_KEY_RE = /^[a-z][a-zA-Z0-9]{0,63}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const RESOURCE_TYPES: readonly string[] = [
  'system',
  'tenant',
  'database',
  'table',
  'column',
  'row',
  'key',
  'policy',
  'audit',
  'secret',
];
const RESOURCE_FIELDS = ['tenant', 'database', 'table', 'column', 'key', 'path'] as const;
const PRINCIPAL_KEYS: ReadonlySet<string> = new Set(['type', 'id', 'tenant']);
const RESOURCE_KEYS: ReadonlySet<string> = new Set(['type', ...RESOURCE_FIELDS]);
const DECISION_KEYS: ReadonlySet<string> = new Set(['effect', 'policies']);
const OK_KEYS: ReadonlySet<string> = new Set(['status']);
const ERROR_KEYS: ReadonlySet<string> = new Set(['status', 'code']);
const RECORD_KEYS: ReadonlySet<string> = new Set([
  'principal',
  'action',
  'resource',
  'decision',
  'outcome',
  'requestId',
  'client',
  'request',
  'details',
]);
const STORED_KEYS: ReadonlySet<string> = new Set([...RECORD_KEYS, 'v', 'seq', 'time']);

function bad(path: string, message: string): never {
  throw new AuditError('FX_AUDIT_FORMAT', `audit entry ${path}: ${message}`);
}

/** A plain object (what JSON.parse makes): the encoder writes nothing else. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function checkKeys(value: Record<string, unknown>, path: string, allowed: ReadonlySet<string>): void {
  for (const key in value) {
    if (!allowed.has(key)) bad(path, `unknown field ${JSON.stringify(key.slice(0, 40))}`);
  }
}

/** Why `value` cannot be an entry's string (null when it can). */
function stringProblem(value: unknown, max: number): string | null {
  if (typeof value !== 'string') return 'expected a string';
  if (value.length === 0 || value.length > max) return `expected 1-${max} characters`;
  if (!value.isWellFormed()) return 'contains a lone UTF-16 surrogate';
  // Control characters would let a crafted name forge line breaks in text exports.
  if (CONTROL_RE.test(value)) return 'contains a control character';
  return null;
}

/** True when `value` may stand as a name or identifier in an entry (what `checkAuditRecord` accepts). */
export function isAuditString(value: unknown, max: number = MAX_AUDIT_STRING): value is string {
  return stringProblem(value, max) === null;
}

function checkString(value: unknown, path: string, max = MAX_AUDIT_STRING): string {
  const problem = stringProblem(value, max);
  if (problem !== null) bad(path, problem);
  return value as string;
}

/** Checks a record's shape; throws FX_AUDIT_FORMAT naming the first bad field. */
export function checkAuditRecord(
  record: unknown,
  path = '$',
  /** A stored entry (it also has `v`, `seq` and `time`); a caller's record must not. */
  stored = false,
): asserts record is AuditRecord {
  if (!isRecord(record)) bad(path, 'expected an object');
  const principal = record['principal'];
  if (!isRecord(principal)) bad(`${path}.principal`, 'expected an object');
  checkKeys(principal, `${path}.principal`, PRINCIPAL_KEYS);
  checkString(principal['type'], `${path}.principal.type`, 64);
  checkString(principal['id'], `${path}.principal.id`);
  checkString(principal['tenant'], `${path}.principal.tenant`, 64);
  const action = checkString(record['action'], `${path}.action`, 64);
  if (!ACTION_RE.test(action)) bad(`${path}.action`, 'expected a dotted verb such as table.get');
  const resource = record['resource'];
  if (!isRecord(resource)) bad(`${path}.resource`, 'expected an object');
  checkKeys(resource, `${path}.resource`, RESOURCE_KEYS);
  if (typeof resource['type'] !== 'string' || !RESOURCE_TYPES.includes(resource['type'])) {
    bad(`${path}.resource.type`, `expected one of ${RESOURCE_TYPES.join(', ')}`);
  }
  for (const field of RESOURCE_FIELDS) {
    if (resource[field] !== undefined) checkString(resource[field], `${path}.resource.${field}`);
  }
  const decision = record['decision'];
  if (!isRecord(decision)) bad(`${path}.decision`, 'expected an object');
  checkKeys(decision, `${path}.decision`, DECISION_KEYS);
  if (decision['effect'] !== 'allow' && decision['effect'] !== 'deny') {
    bad(`${path}.decision.effect`, 'expected "allow" or "deny"');
  }
  const policies = decision['policies'];
  if (!Array.isArray(policies) || policies.length > 64)
    bad(`${path}.decision.policies`, 'expected a list (≤ 64)');
  policies.forEach((p, i) => checkString(p, `${path}.decision.policies[${i}]`));
  const outcome = record['outcome'];
  if (!isRecord(outcome)) bad(`${path}.outcome`, 'expected an object');
  if (outcome['status'] === 'ok') {
    checkKeys(outcome, `${path}.outcome`, OK_KEYS);
  } else if (outcome['status'] === 'error') {
    checkKeys(outcome, `${path}.outcome`, ERROR_KEYS);
    checkString(outcome['code'], `${path}.outcome.code`, 64);
  } else {
    bad(`${path}.outcome.status`, 'expected "ok" or "error"');
  }
  checkString(record['requestId'], `${path}.requestId`, 128);
  if (record['client'] !== null) checkString(record['client'], `${path}.client`, 128);
  if (typeof record['request'] !== 'string' || !DIGEST_RE.test(record['request'])) {
    bad(`${path}.request`, 'expected sha256:<64 hex digits>');
  }
  const details = record['details'];
  if (details !== undefined) {
    if (!isRecord(details)) bad(`${path}.details`, 'expected an object');
    const keys = Object.keys(details);
    if (keys.length > 32) bad(`${path}.details`, 'at most 32 fields');
    let listed = 0;
    for (const key of keys) {
      const where = `${path}.details.${key.slice(0, 40)}`;
      if (!DETAIL_KEY_RE.test(key)) bad(where, 'field names are camelCase identifiers');
      const value = details[key];
      if (value === null || typeof value === 'boolean') continue;
      if (typeof value === 'number') {
        if (!Number.isSafeInteger(value)) bad(where, 'numbers must be safe integers');
        continue;
      }
      if (typeof value === 'string') {
        checkString(value, where);
        continue;
      }
      if (!Array.isArray(value) || value.length > MAX_AUDIT_LIST) {
        bad(where, `expected a scalar or a list of ≤ ${MAX_AUDIT_LIST} strings`);
      }
      listed += value.length;
      if (listed > MAX_AUDIT_LIST) bad(`${path}.details`, `at most ${MAX_AUDIT_LIST} list items in all`);
      value.forEach((item, i) => checkString(item, `${where}[${i}]`, MAX_AUDIT_LIST_ITEM));
    }
  }
  checkKeys(record, path, stored ? STORED_KEYS : RECORD_KEYS);
}

/** RFC 3339 UTC with milliseconds. */
export function auditTime(ms: number): string {
  return new Date(ms).toISOString();
}

const decoder = new TextDecoder('utf-8', { fatal: true });

const str = JSON.stringify;

/**
 * `details` in RFC 8785 form: members sorted, and every value a scalar or a list of strings, which
 * JSON.stringify already writes canonically (checked records hold nothing else).
 */
function detailsJson(details: Readonly<Record<string, AuditDetail>>): string {
  const keys = Object.keys(details).sort();
  let out = '{';
  for (const key of keys) {
    const value = details[key];
    if (value === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${str(key)}:${str(value)}`;
  }
  return `${out}}`;
}

/**
 * The entry's canonical bytes (what the Merkle leaf hashes). The record must be checked. Writes
 * the members in RFC 8785 order directly (this runs once per audited operation); the tests pin it
 * to the generic `canonicalJson` byte for byte.
 */
export function encodeAuditEntry(record: AuditRecord, seq: number, time: string): Uint8Array {
  const { principal: p, resource: r, decision: d, outcome: o } = record;
  let policies = '';
  for (let i = 0; i < d.policies.length; i++) policies += (i === 0 ? '' : ',') + str(d.policies[i]);
  let resource = '{';
  if (r.column !== undefined) resource += `"column":${str(r.column)},`;
  if (r.database !== undefined) resource += `"database":${str(r.database)},`;
  if (r.key !== undefined) resource += `"key":${str(r.key)},`;
  if (r.path !== undefined) resource += `"path":${str(r.path)},`;
  if (r.table !== undefined) resource += `"table":${str(r.table)},`;
  if (r.tenant !== undefined) resource += `"tenant":${str(r.tenant)},`;
  resource += `"type":"${r.type}"}`;
  const text =
    `{"action":${str(record.action)},"client":${record.client === null ? 'null' : str(record.client)}` +
    // effect, status and resource type come from closed sets of plain words (checked): no escaping.
    `,"decision":{"effect":"${d.effect}","policies":[${policies}]}` +
    (record.details === undefined ? '' : `,"details":${detailsJson(record.details)}`) +
    `,"outcome":${o.status === 'ok' ? '{"status":"ok"}' : `{"code":${str(o.code)},"status":"error"}`}` +
    `,"principal":{"id":${str(p.id)},"tenant":${str(p.tenant)},"type":${str(p.type)}}` +
    `,"request":${str(record.request)},"requestId":${str(record.requestId)},"resource":${resource}` +
    `,"seq":${seq},"time":${str(time)},"v":${AUDIT_ENTRY_VERSION}}`;
  // Buffer.from takes small strings from Node's pool: cheaper than TextEncoder's fresh buffer.
  const bytes = Buffer.from(text, 'utf8');
  return bytes;
}

/**
 * Parses stored entry bytes strictly: valid UTF-8, canonical JSON (re-encoding gives the same
 * bytes), format version 1, every field well-formed. Throws FX_AUDIT_FORMAT otherwise.
 */
export function decodeAuditEntry(bytes: Uint8Array): AuditEntry {
  let text: string;
  let parsed: unknown;
  try {
    text = decoder.decode(bytes);
    parsed = JSON.parse(text);
  } catch {
    return bad('bytes', 'not UTF-8 JSON');
  }
  if (!isRecord(parsed)) bad('$', 'expected an object');
  if (parsed['v'] !== AUDIT_ENTRY_VERSION)
    bad('$.v', `unsupported entry version (this build reads ${AUDIT_ENTRY_VERSION})`);
  const seq = parsed['seq'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    bad('$.seq', 'expected a non-negative integer');
  const time = parsed['time'];
  if (typeof time !== 'string' || !TIME_RE.test(time)) bad('$.time', 'expected RFC 3339 UTC time');
  checkAuditRecord(parsed, '$entry', true);
  // Canonical form: re-encoding the parsed entry must give back exactly the stored bytes (this also
  // rejects unknown members, duplicate members, other number spellings and escapes).
  const again = encodeAuditEntry(parsed, seq, time);
  if (!Buffer.from(again.buffer, again.byteOffset, again.length).equals(bytes)) {
    bad('bytes', 'not in canonical (RFC 8785) form');
  }
  return parsed as unknown as AuditEntry;
}

/** `tenant/database/table/column` or `key:<name>` — the searchable resource column. */
export function resourcePath(resource: AuditResource): string {
  if (resource.key !== undefined) return `key:${resource.key}`;
  if (resource.path !== undefined) return `secret:${resource.path}`;
  const parts = [resource.tenant, resource.database, resource.table, resource.column].filter(
    (p): p is string => p !== undefined,
  );
  return parts.length === 0 ? resource.type : parts.join('/');
}

/** `type:id@tenant` — the searchable principal column. */
export function principalText(principal: AuditPrincipal): string {
  return `${principal.type}:${principal.id}@${principal.tenant}`;
}
