/**
 * @module keys/store/records
 * Validation and copying of key-store records, shared by the store implementations: a store
 * returns only records that passed these checks (`FX_KEYSTORE_CORRUPT` otherwise).
 */
import { isAeadName } from '../../crypto/aead/registry.js';
import { isBytes } from '../../util/bytes.js';
import { FortressError } from '../../util/errors.js';
import type { KeyPurpose, KeyRecord, KeyVersionRecord, KeyVersionState } from './key-store.js';

const PURPOSES: readonly KeyPurpose[] = ['kek', 'data', 'index', 'transit', 'signing'];
const STATES: readonly KeyVersionState[] = ['active', 'decrypt-only', 'retired', 'destroyed'];
export const KEY_NAME_RE: RegExp = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/;
export const META_NAME_RE: RegExp = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A key record's tag: `r<root version>.` and 32 bytes in base64url (43 characters). */
export const TAG_RE: RegExp = /^r[1-9][0-9]{0,9}\.[A-Za-z0-9_-]{43}$/;

function corrupt(what: string): FortressError {
  return new FortressError('FX_KEYSTORE_CORRUPT', `malformed ${what}`);
}

const isU32 = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** Returns a frozen, validated copy of a key record; throws `FX_KEYSTORE_CORRUPT`. */
export function checkKeyRecord(value: unknown): KeyRecord {
  const r = value as Partial<KeyRecord> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    !isU32(r.id) ||
    typeof r.name !== 'string' ||
    !KEY_NAME_RE.test(r.name) ||
    !PURPOSES.includes(r.purpose!) ||
    !isAeadName(r.algorithm) ||
    !(r.parentId === null || isU32(r.parentId)) ||
    !isU32(r.activeVersion) ||
    !isU32(r.latestVersion) ||
    !isU32(r.minDecryptionVersion) ||
    r.activeVersion < 1 ||
    r.activeVersion > r.latestVersion ||
    r.minDecryptionVersion > r.latestVersion + 1 ||
    !(r.rotationPeriodMs === null || (typeof r.rotationPeriodMs === 'number' && r.rotationPeriodMs > 0)) ||
    !isTime(r.createdAt) ||
    !isTime(r.rotatedAt) ||
    !(r.tag === undefined || (typeof r.tag === 'string' && TAG_RE.test(r.tag)))
  ) {
    throw corrupt(`key record${typeof r === 'object' && r !== null && isU32(r.id) ? ` ${r.id}` : ''}`);
  }
  return Object.freeze({
    ...recordFields(r as KeyRecord),
    ...(r.tag === undefined ? {} : { tag: r.tag }),
  });
}

/** A key record's fields without its tag (a fresh object: nothing else is copied along). */
export function recordFields(r: KeyRecord): KeyRecord {
  return {
    id: r.id,
    name: r.name,
    purpose: r.purpose,
    algorithm: r.algorithm,
    parentId: r.parentId,
    activeVersion: r.activeVersion,
    latestVersion: r.latestVersion,
    minDecryptionVersion: r.minDecryptionVersion,
    rotationPeriodMs: r.rotationPeriodMs,
    createdAt: r.createdAt,
    rotatedAt: r.rotatedAt,
  };
}

/** Returns a frozen, validated copy of a version record (the wrapped bytes copied); throws `FX_KEYSTORE_CORRUPT`. */
export function checkVersionRecord(value: unknown): KeyVersionRecord {
  const r = value as Partial<KeyVersionRecord> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    !isU32(r.keyId) ||
    !isU32(r.version) ||
    r.version < 1 ||
    !STATES.includes(r.state!) ||
    !isTime(r.createdAt) ||
    typeof r.encryptions !== 'number' ||
    !Number.isSafeInteger(r.encryptions) ||
    r.encryptions < 0 ||
    !(r.wrapped === null || (isBytes(r.wrapped) && r.wrapped.length > 0)) ||
    (r.state === 'destroyed') !== (r.wrapped === null)
  ) {
    throw corrupt('key version record');
  }
  return Object.freeze({
    keyId: r.keyId,
    version: r.version,
    state: r.state!,
    createdAt: r.createdAt,
    encryptions: r.encryptions,
    wrapped: r.wrapped === null ? null : new Uint8Array(r.wrapped),
  });
}

/** Validates a listVersions page: fromVersion ≥ 1, limit ≥ 0 (both optional). */
export function checkPage(page: { fromVersion?: number; limit?: number } | undefined): {
  from: number;
  limit: number;
} {
  const from = page?.fromVersion ?? 1;
  const limit = page?.limit ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(from) || from < 1 || !Number.isSafeInteger(limit) || limit < 0) {
    throw new FortressError(
      'FX_INVALID_ARGUMENT',
      'page: fromVersion must be a whole number ≥ 1 and limit ≥ 0',
    );
  }
  return { from, limit };
}

/** Throws `FX_INVALID_ARGUMENT` for a bad metadata name. */
export function checkMetaName(name: unknown): string {
  if (typeof name !== 'string' || !META_NAME_RE.test(name)) {
    throw new FortressError(
      'FX_INVALID_ARGUMENT',
      'name: expected 1-64 characters of a-z, 0-9, ".", "_" or "-"',
    );
  }
  return name;
}
