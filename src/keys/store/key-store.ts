/**
 * @module keys/store/key-store
 * Where the keys layer persists what it must keep: key metadata, one record per key version
 * (holding only *wrapped* key bytes), and small metadata blobs (the seal configuration). The keys
 * layer never writes anywhere else, and never hands this interface an unwrapped key.
 *
 * Implementations: `MemoryKeyStore` (tests, ephemeral), `FileKeyStore` (a directory, one file per
 * record), and later the storage engine's tables. All run the shared conformance suite
 * (test/keys/key-store.case.ts).
 */
import type { AeadName } from '../../crypto/aead/aead.js';

/** What a key is for. Encryption and index keys are always distinct keys, never the same bytes. */
/** `signing`: a 32-byte seed for an Ed25519 or ML-DSA-65 signer (e.g. the key-backup signing identity). */
export type KeyPurpose = 'kek' | 'data' | 'index' | 'transit' | 'signing';

/** Lifecycle of one key version. Exactly one version of a key is `active`. */
export type KeyVersionState = 'active' | 'decrypt-only' | 'retired' | 'destroyed';

/** A key's metadata. No key material. */
export interface KeyRecord {
  /** Unsigned 32-bit id, unique in this store (written into every envelope). */
  readonly id: number;
  /** Unique path-like name, e.g. `tenant/acme/db/main/table/people/column/ssn`. */
  readonly name: string;
  readonly purpose: KeyPurpose;
  readonly algorithm: AeadName;
  /** The key-encryption key that wraps this key's versions; `null` = wrapped by the root key. */
  readonly parentId: number | null;
  /** The version that encrypts. */
  readonly activeVersion: number;
  /** The highest version ever created (versions are numbered from 1 and never reused). */
  readonly latestVersion: number;
  /** Versions below this refuse to decrypt (reversible until destroyed). */
  readonly minDecryptionVersion: number;
  /** Automatic rotation period in milliseconds, or null for none. */
  readonly rotationPeriodMs: number | null;
  /** ISO-8601 times. */
  readonly createdAt: string;
  readonly rotatedAt: string;
  /**
   * `r<root version>.<base64url HMAC-SHA256>` over every field above, under a key derived from
   * that root key version: made by the keys layer whenever it saves the record, checked whenever
   * it loads it (docs/formats.md § Keys). Stores keep it as they keep the rest.
   */
  readonly tag?: string;
}

/** One version of a key: its state and its wrapped bytes. */
export interface KeyVersionRecord {
  readonly keyId: number;
  readonly version: number;
  readonly state: KeyVersionState;
  readonly createdAt: string;
  /** Encryptions performed under this version, as last persisted. */
  readonly encryptions: number;
  /** The key bytes wrapped (an envelope) by the parent key, or null once destroyed. */
  readonly wrapped: Uint8Array | null;
}

/** Persistence for the keys layer. Every method is atomic on its own. */
export interface KeyStore {
  /** A short name for messages (`memory`, `file:/path`). */
  readonly description: string;
  getMeta(name: string): Promise<Uint8Array | undefined>;
  putMeta(name: string, value: Uint8Array): Promise<void>;
  /**
   * Stores `value` only if `name` has none yet, atomically (two processes initialising one shared
   * store at once: exactly one wins). False: it had one. Stores without it are one process's, where
   * a check and a put suffice.
   */
  createMeta?(name: string, value: Uint8Array): Promise<boolean>;
  deleteMeta(name: string): Promise<void>;
  listKeys(): Promise<KeyRecord[]>;
  getKey(id: number): Promise<KeyRecord | undefined>;
  putKey(record: KeyRecord): Promise<void>;
  getVersion(keyId: number, version: number): Promise<KeyVersionRecord | undefined>;
  putVersion(record: KeyVersionRecord): Promise<void>;
  /** Versions of one key in ascending version order, optionally a page of them. */
  listVersions(keyId: number, page?: { fromVersion?: number; limit?: number }): Promise<KeyVersionRecord[]>;
  /**
   * Crypto-shredding: overwrite the stored wrapped bytes of this version and keep only a tombstone
   * (state `destroyed`, `wrapped: null`). Must not leave the old bytes readable through this store.
   */
  shredVersion(keyId: number, version: number): Promise<void>;
  close(): Promise<void>;
}
