/**
 * @module client/client-types
 * The shapes the HTTP API sends and takes, as the SDK types them. Table definitions and filters
 * are the engine's own types (imported as types only, so nothing of the engine is bundled).
 * Answers of routes whose shapes are still settling are typed as plain JSON objects.
 */
import type { ColumnFilter, Where } from '../engine/query/where.js';
import type { ColumnDefinition, StoredTable, TableDefinition } from '../engine/schema/table-schema.js';
import type { OrderBy } from '../engine/table/table.js';
import type { CeremonyKind, CeremonyResult, CeremonyStatus } from '../server/server-context.js';

// Re-exported from type-only imports: the client's public types, with nothing of the engine loaded.
export type { ColumnDefinition, ColumnFilter, StoredTable, TableDefinition, Where };
// The ceremonies' shapes are the server's own: type imports, so nothing of the server is loaded.
export type { CeremonyKind, CeremonyResult, CeremonyStatus };

/** A JSON object as the server sent it. */
export type JsonObject = Record<string, unknown>;

/**
 * A row as the server sends it: JSON values, `bytes` columns as base64 text (`fromBase64` turns
 * them back), `timestamp` columns as ISO 8601 text.
 */
export type Row = Record<string, unknown>;

/** A row (or changes) to send: JSON values, `Uint8Array` for bytes, `Date` for timestamps. */
export type RowInput = Readonly<Record<string, unknown>>;

/** A primary key: text, uuid or integer. */
export type RowKey = string | number;

/** A filter on rows (Dates and bytes in it are converted like row values). */
export type RowFilter = Where<Record<string, unknown>>;

// ── sys ─────────────────────────────────────────────────────────────────────────────────────────

export interface SysStatus {
  readonly initialized: boolean;
  readonly sealed: boolean;
  /** The seal kind (`shamir`, `passphrase`, …), or null before init. */
  readonly seal: string | null;
  /** Unseal inputs received in the current attempt. */
  readonly progress: number;
  /** Unseal inputs needed (0: the seal unseals itself). */
  readonly threshold: number;
  readonly version: string;
}

export interface InitOptions {
  /** @default 'shamir' */
  readonly seal?: 'shamir' | 'passphrase' | 'dev-key-file';
  /** Shamir: shares to create. @default 5 */
  readonly shares?: number;
  /** Shamir: shares needed to unseal. @default 3 */
  readonly threshold?: number;
  /** Required for the passphrase seal. */
  readonly passphrase?: string;
}

export interface InitResult {
  readonly seal: string;
  /** The unseal shares: shown once; hand each to a different person. */
  readonly shares: readonly string[];
  readonly threshold: number | null;
  /** A token of the first administrator (`default/admin`). */
  readonly rootToken: string;
  readonly rootTokenAccessor: string;
}

export interface CeremonyOptions {
  /** Shamir: shares of the new seal. @default the current count */
  readonly shares?: number;
  /** Shamir: shares needed to unseal afterwards. @default the current threshold */
  readonly threshold?: number;
  /** Passphrase seal: the new passphrase (required to rekey; rotate-root keeps the current one without it). */
  readonly passphrase?: string;
}

// ── auth ────────────────────────────────────────────────────────────────────────────────────────

/** A token as the server shows it (never the token itself). */
export interface TokenView {
  /** Names the token in lists, audit entries and revocations; cannot authenticate. */
  readonly accessor: string;
  readonly principal: { readonly kind: string; readonly name: string; readonly tenant: string };
  /** Accessor of the token this one was created from, or null. */
  readonly parent: string | null;
  readonly method: string;
  readonly displayName: string;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly maxExpiresAt: string;
  readonly renewable: boolean;
  /** Uses left, or null for unlimited. */
  readonly usesLeft: number | null;
}

/** A new token: the secret (shown once) and its record. */
export interface TokenGrant {
  readonly token: string;
  readonly info: TokenView;
}

export interface CreateTokenOptions {
  /** Seconds until it expires (renewable up to `maxTtl`). */
  readonly ttl?: number;
  /** Seconds it may live at most; never past its parent. */
  readonly maxTtl?: number;
  /** Requests it may make; the last use revokes it. */
  readonly uses?: number;
  /** @default true */
  readonly renewable?: boolean;
  readonly displayName?: string;
  /** A token for this service account instead of the caller (administrators only). */
  readonly service?: string;
}

// ── db ──────────────────────────────────────────────────────────────────────────────────────────

export interface FindOptions {
  readonly where?: RowFilter;
  readonly orderBy?: OrderBy<Record<string, unknown>> | readonly OrderBy<Record<string, unknown>>[];
  /** @default 1000 (the server's cap when none is given) */
  readonly limit?: number;
  /** Columns to return. */
  readonly select?: readonly string[];
  /** Allow a full scan (decrypt every row) for conditions an encrypted column cannot answer. */
  readonly scan?: boolean;
}

/** One operation of `db.transaction`. */
export type TransactionOperation =
  | { readonly op: 'insert'; readonly table: string; readonly row: RowInput }
  | { readonly op: 'update'; readonly table: string; readonly key: RowKey; readonly changes: RowInput }
  | { readonly op: 'delete'; readonly table: string; readonly key: RowKey }
  | { readonly op: 'get'; readonly table: string; readonly key: RowKey };

/** Results of `db.transaction`, one per operation and in order. */
export type TransactionResult =
  { readonly row: Row | null } | { readonly updated: true } | { readonly deleted: boolean };

export interface ImportProgress {
  /** Rows handed to the connection so far. */
  readonly rows: number;
  /** Body bytes handed to the connection so far. */
  readonly bytes: number;
}

export interface ImportOptions {
  readonly format: 'ndjson' | 'csv';
  /** Called as rows go out (every 64 KiB or so), and once at the end. */
  readonly onProgress?: (progress: ImportProgress) => void;
}

export interface ImportResult {
  /** Rows the server inserted. */
  readonly inserted: number;
}

// ── keys ────────────────────────────────────────────────────────────────────────────────────────

export interface KeyVersionsOptions {
  /** First version to list. */
  readonly from?: number;
  readonly limit?: number;
}

export interface KeyConfigOptions {
  /** Versions below this no longer decrypt. */
  readonly minDecryptionVersion?: number;
  /**
   * Automatic rotation period: a number and a unit `m`, `h`, `d` or `w` (`'23h'`, `'30d'`), from one
   * hour to ten years; null turns scheduled rotation off.
   */
  readonly rotationPeriod?: string | null;
}

/** Destroy one version, or every version of the key (crypto-shredding). */
export type DestroyKeyOptions = { readonly version: number } | { readonly all: true };

export interface ExportKeysOptions {
  /** The recipient's public key (X25519 + ML-KEM-768), as bytes or as the text the CLI prints. */
  readonly recipient: Uint8Array | string;
  readonly label?: string;
}

export interface WaitForJobOptions {
  /** Called with every state the job is seen in. */
  readonly onProgress?: (job: JsonObject) => void;
  /** @default 500 */
  readonly intervalMs?: number;
  /** Stops waiting (the job goes on). */
  readonly signal?: AbortSignal;
}

// ── policies, principals, audit ─────────────────────────────────────────────────────────────────

export interface PutPrincipalOptions {
  /** @default the caller's tenant */
  readonly tenant?: string;
  /** Security clearance, e.g. `'secret:alpha'`. */
  readonly clearance?: string;
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
}

export interface PutRoleOptions {
  readonly tenant?: string;
  /** Roles this one inherits. */
  readonly roles?: readonly string[];
}

export interface PutGroupOptions {
  readonly tenant?: string;
  readonly groups?: readonly string[];
  readonly roles?: readonly string[];
}

export interface RowFilterDefinition {
  readonly table: string;
  readonly role: string;
  readonly where: RowFilter;
  readonly tenant?: string;
}

/** Filters of `audit.search` (sent as query parameters). */
export interface AuditSearchFilters {
  readonly fromSeq?: number;
  readonly toSeq?: number;
  /** `type:id@tenant`, or a prefix ending in `:` or `@`. */
  readonly principal?: string;
  /** An action (`table.get`) or a prefix ending in `.`. */
  readonly action?: string;
  /** A resource path prefix. */
  readonly resource?: string;
  readonly decision?: 'allow' | 'deny';
  readonly outcome?: 'ok' | 'error';
  /** Time range, inclusive. */
  readonly since?: Date | number;
  readonly until?: Date | number;
  readonly newestFirst?: boolean;
  readonly limit?: number;
  /** A digest from `audit.hash`. */
  readonly digest?: string;
}
