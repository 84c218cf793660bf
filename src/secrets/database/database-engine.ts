/**
 * @module secrets/database/database-engine
 * Dynamic database credentials, with the semantics of HashiCorp Vault's database secrets engine
 * and its PostgreSQL plugin:
 *
 * - **connections** name a target PostgreSQL and an administrator who can create roles; the
 *   administrator's password is kept only as an envelope, and `rotateRoot` replaces it with one
 *   only Fortress knows;
 * - **roles** are templates of SQL statements: `createCredentials` makes a fresh user with a
 *   random password for a lease, `renewLease` extends it up to the role's maximum TTL, and
 *   `revokeLease` (or expiry, through `revokeExpired` and the sweeper) drops the user;
 * - **static roles** manage the password of a user that already exists, rotating it on a period.
 *
 * Storage (docs/formats.md, database-tables.ts): `fx_db_connections`, `fx_db_roles`,
 * `fx_db_static_roles` and `fx_db_leases`, every row keyed by tenant first. Passwords (the
 * administrator's, static roles') are encrypted under the tenant's `secrets/<tenant>/database`
 * data key (wrapped by `kek/<tenant>/secrets`) with the context (tenant, `secrets`, `database`,
 * `connection/<name>` or `static-role/<name>`, `password`); a ciphertext moved to another
 * connection or role fails to decrypt. A dynamic user's password is never stored: it is returned
 * once. Names, user names, statements, times and lease states are in clear (docs/security.md).
 *
 * Safety over crashes and concurrency: a lease row is written before its user is created (a user
 * never exists without a lease that will revoke it); a new administrator or static password is
 * stored (encrypted, as pending) before the target is told, and promoted after, so an interrupted
 * rotation never loses the only copy; revocations and rotations claim their row with a
 * conditional UPDATE, so processes sharing the storage never both work on one; and a revocation
 * that fails (the target is down) keeps its lease and is retried with backoff.
 *
 * Connection deletion is refused while roles, static roles or leases use it (Vault allows it; here
 * a lease whose connection is gone could never be revoked). Deleting a role keeps its leases: each
 * lease carries its role's revocation statements.
 *
 * Statement templates are trusted administrator input (see statements.ts). With the default
 * `passwordAuthentication: 'scram-sha-256'`, `{{password}}` is filled with the SCRAM verifier, so
 * passwords never appear in SQL text or the target's statement log; with `'password'` the
 * password itself is in the statements (and in that log, if the target logs DDL).
 *
 * This class enforces no policy and records no audit: the facade wraps it.
 */
import type { KeyManager } from '../../keys/key-manager.js';
import { ensureSecretsKey, secretsKeyName } from '../secrets-key.js';
import type { StorageDriver } from '../../storage/dialect.js';
import { EncryptionContext } from '../../crypto/envelope/encryption-context.js';
import {
  sealSettings,
  settingsOf,
  upgradeSealedTables,
  verifySettings,
  type SealPlace,
  type SettingValue,
} from '../settings-seal.js';
import {
  assertInteger,
  assertKnownFields,
  assertOptions,
  describe,
  utf8Decoder,
  utf8Encoder,
} from '../../util/bytes.js';
import { FortressError } from '../../util/errors.js';
import {
  generatePassword,
  generateUsername,
  MAX_PASSWORD_LENGTH,
  MAX_USERNAME_BYTES,
  MIN_PASSWORD_LENGTH,
  randomToken,
  scramSha256Verifier,
} from './credentials.js';
import { DatabaseSecretsError } from './database-errors.js';
import {
  databaseTablesDdl,
  SEALED_TABLES,
  SQL,
  type ConnectionRow,
  type LeaseRow,
  type RoleRow,
  type StaticRoleRow,
} from './database-tables.js';
import {
  checkStatements,
  DEFAULT_RENEW_STATEMENTS,
  DEFAULT_ROTATION_STATEMENTS,
  formatExpiration,
  renderStatement,
  revokeUserByDefault,
} from './statements.js';
import { checkConnectionUrl, isIndeterminate, TargetPool, type TargetSession } from './target-pool.js';

/** The shortest TTL (lease, default, maximum, renewal increment): one second. */
export const MIN_TTL_MS = 1000;
/** The longest TTL: ten years. */
export const MAX_TTL_MS: number = 10 * 365 * 86_400_000;
/** The shortest static rotation period (Vault's). */
export const MIN_ROTATION_PERIOD_MS = 5000;
/** Every lease id starts with this, then `<role>/<random>`. */
export const LEASE_PREFIX = 'database/creds/';

/**
 * The role a lease id (`database/creds/<role>/<id>`) names — for deciding and recording an
 * operation on it before the engine checks the whole id. FX_INVALID_ARGUMENT without a role part.
 */
export function roleOfLease(leaseId: unknown): string {
  const slash =
    typeof leaseId === 'string' && leaseId.startsWith(LEASE_PREFIX)
      ? leaseId.indexOf('/', LEASE_PREFIX.length)
      : -1;
  if (slash <= LEASE_PREFIX.length) {
    throw new FortressError('FX_INVALID_ARGUMENT', `leaseId: expected "${LEASE_PREFIX}<role>/<id>"`);
  }
  return (leaseId as string).slice(LEASE_PREFIX.length, slash);
}
const DEFAULT_MAX_OPEN = 4;
const MAX_OPEN_LIMIT = 100;
const DEFAULT_PASSWORD_LENGTH = 32;
const DEFAULT_LIST = 100;
const MAX_LIST = 1000;
const MAX_ALLOWED_ROLES = 1000;
/** How long a process may work on a claimed item before another may take it over. */
const CLAIM_MS = 2 * 60_000;
/** Static rotation retried this long after a failure. */
const STATIC_RETRY_MS = 60_000;
const SWEEP_BATCH = 100;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ALLOWED_ROLE = /^(?:\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\*?)$/;
const LEASE_ID = /^database\/creds\/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\/[A-Za-z0-9]{24}$/;
const LEASE_ID_PREFIX = /^database\/creds\/[A-Za-z0-9_./-]{0,200}$/;
const OWNER = /^[A-Za-z0-9._:-]{1,128}$/;

export interface DatabaseEngineOptions {
  readonly driver: StorageDriver;
  readonly keys: KeyManager;
  readonly tenant: string;
  /** @default Date.now */
  readonly now?: () => number;
  /** How long connecting to a target may take, in ms. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** `statement_timeout` of target connections, in ms. @default 30000 */
  readonly statementTimeoutMs?: number;
  /**
   * Called once when `open` sealed the settings of rows written before settings were sealed (a
   * one-time upgrade of the storage, which trusts those rows as they are): how many, per kind
   * (`connections`, `roles`, `staticRoles`, `leases`).
   * Fortress records it in the audit ledger, so an upgrade forced later shows there.
   */
  readonly onUpgrade?: (sealed: Readonly<Record<string, number>>) => void;
}

/**
 * How `{{password}}` is filled: `scram-sha-256` (the default) with the SCRAM verifier PostgreSQL
 * stores, so the password never travels in SQL text; `password` with the password itself (for
 * templates that need it, or targets older than PostgreSQL 10).
 */
export type PasswordAuthentication = 'scram-sha-256' | 'password';

/** A connection as written. */
export interface ConnectionConfig {
  readonly plugin: 'postgresql';
  /**
   * `postgresql://{{username}}:{{password}}@host:port/database?sslmode=…`; a URL without the
   * placeholders is fine too. A literal user or password is refused (the URL is stored in clear).
   */
  readonly connectionUrl: string;
  /** The administrator: a user that can create, alter and drop roles. */
  readonly username: string;
  /** The administrator's password. Required when creating; left out on an update, it is kept. */
  readonly password?: string;
  /** Roles that may use this connection: names, `prefix*`, or `*` for any. */
  readonly allowedRoles: readonly string[];
  /** Pooled connections at most. @default 4 */
  readonly maxOpenConnections?: number;
  /** Connect and `SELECT 1` before saving; a failure stores nothing. @default true */
  readonly verifyConnection?: boolean;
  /** Length of generated passwords. @default 32 (16 to 128) */
  readonly passwordLength?: number;
  /** Statements `rotateRoot` runs (`{{name}}`, `{{password}}`). @default ALTER ROLE … WITH PASSWORD */
  readonly rootRotationStatements?: readonly string[];
  /** @default 'scram-sha-256' */
  readonly passwordAuthentication?: PasswordAuthentication;
}

/** A connection as read: never its password. */
export interface ConnectionInfo {
  readonly name: string;
  readonly plugin: 'postgresql';
  readonly connectionUrl: string;
  readonly username: string;
  readonly allowedRoles: readonly string[];
  readonly maxOpenConnections: number;
  readonly passwordLength: number;
  readonly rootRotationStatements: readonly string[];
  readonly passwordAuthentication: PasswordAuthentication;
  /** ISO 8601. */
  readonly createdTime: string;
  readonly updatedTime: string;
  /** When `rotateRoot` last changed the administrator's password; null if never. */
  readonly lastRootRotation: string | null;
}

/** A dynamic role as written. TTLs in ms. */
export interface RoleConfig {
  readonly connection: string;
  /** Run in one transaction to create a user; must use `{{name}}`. */
  readonly creationStatements: readonly string[];
  /** Run in one transaction to drop a user. @default [] — the built-in PostgreSQL revocation */
  readonly revocationStatements?: readonly string[];
  /** Run on renewal. @default [] — `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'` */
  readonly renewStatements?: readonly string[];
  readonly defaultTtl: number;
  readonly maxTtl: number;
}

/** A dynamic role as read (empty statement lists: the defaults). */
export interface RoleInfo {
  readonly name: string;
  readonly connection: string;
  readonly creationStatements: readonly string[];
  readonly revocationStatements: readonly string[];
  readonly renewStatements: readonly string[];
  readonly defaultTtl: number;
  readonly maxTtl: number;
  readonly createdTime: string;
  readonly updatedTime: string;
}

/** A static role as written. */
export interface StaticRoleConfig {
  readonly connection: string;
  /** An existing user of the target (not the connection's administrator). */
  readonly username: string;
  /** Rotate the password this often, in ms (at least 5 s). */
  readonly rotationPeriod: number;
  /** @default ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}' */
  readonly rotationStatements?: readonly string[];
}

/** A static role as read: never its password. */
export interface StaticRoleInfo {
  readonly name: string;
  readonly connection: string;
  readonly username: string;
  readonly rotationPeriod: number;
  readonly rotationStatements: readonly string[];
  /** ISO 8601; null until the first rotation completed. */
  readonly lastRotation: string | null;
  readonly nextRotation: string;
  /** Why the last rotation failed (redacted), until one succeeds. */
  readonly lastError: string | null;
  readonly createdTime: string;
  readonly updatedTime: string;
}

export interface StaticCredentials {
  readonly username: string;
  readonly password: string;
  /** ISO 8601. */
  readonly lastRotation: string;
  /** Ms until the next rotation (0: due). */
  readonly ttl: number;
  readonly rotationPeriod: number;
}

export interface CreateCredentialsOptions {
  /** The lease's TTL in ms. @default the role's default TTL (always capped at its maximum) */
  readonly ttl?: number;
  /** Who holds the lease (a server's token accessor): `revokeOwned(owner)` revokes it. */
  readonly owner?: string;
  /** The lease never lasts past this (ms since the epoch), renewals included: its owner's expiry. */
  readonly notAfter?: number;
}

/** New dynamic credentials. The password is returned here once and stored nowhere. */
export interface Credentials {
  readonly leaseId: string;
  readonly username: string;
  readonly password: string;
  /** Ms until the lease expires. */
  readonly leaseDuration: number;
  /** False when the lease already ends at its maximum (the role's, or its owner's expiry). */
  readonly renewable: boolean;
  /** ISO 8601. */
  readonly expiresAt: string;
}

/**
 * `creating`: its user is being created; `expired`: past its expiry, awaiting the sweeper;
 * `revoking`: being revoked; `revocation-failed`: a revocation failed and is retried later.
 */
export type LeaseState = 'creating' | 'active' | 'expired' | 'revoking' | 'revocation-failed';

export interface LeaseInfo {
  readonly leaseId: string;
  readonly role: string;
  readonly connection: string;
  readonly username: string;
  /** ISO 8601. */
  readonly issueTime: string;
  readonly expireTime: string;
  /** The lease can never be renewed past this. */
  readonly maxExpireTime: string;
  /** Ms until expiry (0 once expired). */
  readonly ttl: number;
  /** Active and below its maximum. */
  readonly renewable: boolean;
  readonly state: LeaseState;
  readonly revocationAttempts: number;
  /** Why the last revocation failed (redacted); null if none did. */
  readonly lastError: string | null;
}

export interface ListOptions {
  /** Continue after this entry (the `next` of the previous page). */
  readonly after?: string;
  /** @default 100, at most 1000 */
  readonly limit?: number;
}

export interface NameList {
  readonly keys: readonly string[];
  /** Pass as `after` for the next page; null at the end. */
  readonly next: string | null;
}

export interface LeaseListOptions extends ListOptions {
  /** Only this role's leases. */
  readonly role?: string;
}

export interface LeaseList {
  readonly leases: readonly LeaseInfo[];
  readonly next: string | null;
}

export interface SweepResult {
  /** Leases revoked. */
  readonly revoked: number;
  /** Static roles rotated. */
  readonly rotated: number;
  /** What failed (kept and retried later), passwords redacted. */
  readonly failures: readonly FortressError[];
}

/** What a sweep did to one lease or static role (`onAction`), for the audit ledger. */
export type SweepAction =
  | { readonly kind: 'lease-expired'; readonly leaseId: string; readonly role: string }
  /** Revoked by `revokePrefix` or `revokeOwned` (its owner was revoked). */
  | { readonly kind: 'lease-revoked'; readonly leaseId: string; readonly role: string }
  | { readonly kind: 'static-rotated'; readonly role: string };

export interface SweeperOptions {
  /** @default 60000 */
  readonly intervalMs?: number;
  /**
   * Each revocation of an expired lease and each scheduled static-role rotation the sweeper
   * attempted, with its failure (null when it worked). Never a password.
   */
  readonly onAction?: (action: SweepAction, error: FortressError | null) => void;
  /** Each failure of a sweep (an unreachable target, a storage error). */
  readonly onError?: (error: FortressError) => void;
  /** Each completed sweep. */
  readonly onSweep?: (result: SweepResult) => void;
}

// ---- Validation ------------------------------------------------------------------------------

function invalid(message: string): FortressError {
  return new FortressError('FX_INVALID_ARGUMENT', message);
}

function checkName(value: unknown, argument: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw invalid(
      `${argument}: expected a name of 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`,
    );
  }
  return value;
}

function required<T>(value: T | undefined, argument: string): T {
  if (value === undefined) throw invalid(`${argument}: required`);
  return value;
}

/** A database user name an administrator gives: it goes raw into `"{{name}}"`. */
function checkUsername(value: unknown, argument: string): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    Buffer.byteLength(value, 'utf8') > MAX_USERNAME_BYTES ||
    !value.isWellFormed() ||
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    /["'\\\u0000-\u001f\u007f]/.test(value)
  ) {
    throw invalid(
      `${argument}: expected a user name of 1-${MAX_USERNAME_BYTES} bytes without quotes, backslashes or control characters`,
    );
  }
  return value;
}

function checkTtl(value: unknown, argument: string, min = MIN_TTL_MS): number {
  assertInteger(value, argument, min, MAX_TTL_MS);
  return value;
}

function checkBoolean(value: unknown, argument: string): boolean {
  if (typeof value !== 'boolean')
    throw invalid(`${argument}: expected true or false, got ${describe(value)}`);
  return value;
}

function checkAllowedRoles(value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.length > MAX_ALLOWED_ROLES) {
    throw invalid(`allowedRoles: expected an array of at most ${MAX_ALLOWED_ROLES} role names ('*': any)`);
  }
  return Object.freeze(
    value.map((entry: unknown, i) => {
      if (typeof entry !== 'string' || !ALLOWED_ROLE.test(entry)) {
        throw invalid(`allowedRoles[${i}]: expected a role name, a name prefix ending in '*', or '*'`);
      }
      return entry;
    }),
  );
}

function allows(allowedRoles: readonly string[], role: string): boolean {
  return allowedRoles.some(
    (entry) =>
      entry === '*' || entry === role || (entry.endsWith('*') && role.startsWith(entry.slice(0, -1))),
  );
}

function checkListOptions(options: unknown): { after: string; limit: number } {
  assertOptions(options, 'options');
  const { after, limit = DEFAULT_LIST } = options as ListOptions;
  assertInteger(limit, 'limit', 1, MAX_LIST);
  if (after !== undefined && (typeof after !== 'string' || after.length > 300)) {
    throw invalid('after: expected the `next` of a previous page');
  }
  return { after: after ?? '', limit };
}

/** A lease owner: an opaque id such as a token accessor (never a secret: it is stored and audited). */
function checkOwner(value: unknown): string {
  if (typeof value !== 'string' || !OWNER.test(value)) {
    throw invalid('owner: expected an id of 1-128 letters, digits, ".", "_", ":" or "-"');
  }
  return value;
}

/** The latest time a lease may end (ms since the epoch), which must still be ahead. */
function checkNotAfter(value: unknown, now: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalid('notAfter: expected a time in ms since the epoch');
  }
  if (value - now < MIN_TTL_MS) {
    throw invalid(`notAfter: the lease's owner expires at ${iso(value)}, less than a second from now`);
  }
  return value;
}

function checkLeaseId(value: unknown): string {
  if (typeof value !== 'string' || !LEASE_ID.test(value)) {
    throw invalid('leaseId: expected a lease id (database/creds/<role>/<id>)');
  }
  return value;
}

interface CheckedConnection {
  readonly url: ReturnType<typeof checkConnectionUrl>;
  readonly username: string;
  readonly password: string | undefined;
  readonly allowedRoles: readonly string[];
  readonly maxOpen: number;
  readonly verify: boolean;
  readonly passwordLength: number;
  readonly rootRotation: readonly string[];
  readonly passwordAuth: PasswordAuthentication;
}

function checkConnectionConfig(config: unknown): CheckedConnection {
  assertOptions(config, 'config');
  assertKnownFields(
    config,
    [
      'plugin',
      'connectionUrl',
      'username',
      'password',
      'allowedRoles',
      'maxOpenConnections',
      'verifyConnection',
      'passwordLength',
      'rootRotationStatements',
      'passwordAuthentication',
    ],
    'config',
  );
  // Fields typed unknown: callers past the type checker (JSON over HTTP) send anything.
  const c = config as { readonly [K in keyof ConnectionConfig]?: unknown };
  if (required(c.plugin, 'plugin') !== 'postgresql') {
    throw invalid(`plugin: expected 'postgresql'`);
  }
  const url = checkConnectionUrl(required(c.connectionUrl, 'connectionUrl'));
  const username = checkUsername(required(c.username, 'username'), 'username');
  if (
    c.password !== undefined &&
    (typeof c.password !== 'string' || c.password.length === 0 || c.password.length > 1024)
  ) {
    throw invalid('password: expected a non-empty string of at most 1024 characters');
  }
  const allowedRoles = checkAllowedRoles(required(c.allowedRoles, 'allowedRoles'));
  const maxOpen = c.maxOpenConnections ?? DEFAULT_MAX_OPEN;
  assertInteger(maxOpen, 'maxOpenConnections', 1, MAX_OPEN_LIMIT);
  const verify = checkBoolean(c.verifyConnection ?? true, 'verifyConnection');
  const passwordLength = c.passwordLength ?? DEFAULT_PASSWORD_LENGTH;
  assertInteger(passwordLength, 'passwordLength', MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH);
  const rootRotation =
    c.rootRotationStatements === undefined
      ? DEFAULT_ROTATION_STATEMENTS
      : checkStatements(c.rootRotationStatements, 'rootRotationStatements', 'rootRotation', {
          required: true,
          mustUse: ['password'],
        });
  const auth = c.passwordAuthentication ?? 'scram-sha-256';
  if (auth !== 'scram-sha-256' && auth !== 'password') {
    throw invalid(`passwordAuthentication: expected 'scram-sha-256' or 'password'`);
  }
  const passwordAuth: PasswordAuthentication = auth;
  return {
    url,
    username,
    password: c.password,
    allowedRoles,
    maxOpen,
    verify,
    passwordLength,
    rootRotation,
    passwordAuth,
  };
}

function checkRoleConfig(config: unknown): {
  connection: string;
  creation: readonly string[];
  revocation: readonly string[];
  renew: readonly string[];
  defaultTtl: number;
  maxTtl: number;
} {
  assertOptions(config, 'config');
  assertKnownFields(
    config,
    ['connection', 'creationStatements', 'revocationStatements', 'renewStatements', 'defaultTtl', 'maxTtl'],
    'config',
  );
  const c = config as { readonly [K in keyof RoleConfig]?: unknown };
  const connection = checkName(required(c.connection, 'connection'), 'connection');
  const creation = checkStatements(
    required(c.creationStatements, 'creationStatements'),
    'creationStatements',
    'creation',
    {
      required: true,
      mustUse: ['name'],
    },
  );
  // Empty: the built-in revocation.
  const revocation =
    c.revocationStatements === undefined
      ? []
      : checkStatements(c.revocationStatements, 'revocationStatements', 'revocation', {});
  if (revocation.length > 0)
    checkStatements(revocation, 'revocationStatements', 'revocation', { mustUse: ['name'] });
  const renew =
    c.renewStatements === undefined ? [] : checkStatements(c.renewStatements, 'renewStatements', 'renew', {});
  const defaultTtl = checkTtl(required(c.defaultTtl, 'defaultTtl'), 'defaultTtl');
  const maxTtl = checkTtl(required(c.maxTtl, 'maxTtl'), 'maxTtl');
  if (defaultTtl > maxTtl) throw invalid(`defaultTtl: ${defaultTtl} ms is above maxTtl (${maxTtl} ms)`);
  return { connection, creation, revocation, renew, defaultTtl, maxTtl };
}

function checkStaticRoleConfig(config: unknown): {
  connection: string;
  username: string;
  rotationPeriod: number;
  rotation: readonly string[];
} {
  assertOptions(config, 'config');
  assertKnownFields(config, ['connection', 'username', 'rotationPeriod', 'rotationStatements'], 'config');
  const c = config as { readonly [K in keyof StaticRoleConfig]?: unknown };
  const connection = checkName(required(c.connection, 'connection'), 'connection');
  const username = checkUsername(required(c.username, 'username'), 'username');
  const rotationPeriod = checkTtl(
    required(c.rotationPeriod, 'rotationPeriod'),
    'rotationPeriod',
    MIN_ROTATION_PERIOD_MS,
  );
  const rotation =
    c.rotationStatements === undefined
      ? DEFAULT_ROTATION_STATEMENTS
      : checkStatements(c.rotationStatements, 'rotationStatements', 'rotation', {
          required: true,
          mustUse: ['password'],
        });
  return { connection, username, rotationPeriod, rotation };
}

// ---- Helpers ---------------------------------------------------------------------------------

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function statementsOf(json: string): readonly string[] {
  return JSON.parse(json) as string[];
}

function claimLive(row: { readonly claim_until: number | null }, now: number): boolean {
  return row.claim_until !== null && row.claim_until > now;
}

/** Revocation retry delay after `attempts` failures: 30 s doubling, at most an hour. */
function retryDelay(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.min(attempts, 7), 3_600_000);
}

/** The same error with `prefix` in front of its message (code and SQLSTATE kept). */
function prefixed(error: unknown, prefix: string): unknown {
  if (error instanceof DatabaseSecretsError) {
    return new DatabaseSecretsError(error.code as never, `${prefix}: ${error.message}`, error.sqlState);
  }
  return error;
}

function asFortressError(error: unknown): FortressError {
  return error instanceof FortressError
    ? error
    : new FortressError(
        'FX_INTERNAL',
        `unexpected failure: ${error instanceof Error ? error.name : typeof error}`,
      );
}

function upperBound(prefix: string): string {
  // Lease ids are ASCII: the prefix with its last character incremented bounds every id under it.
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function connectionNotFound(name: string): DatabaseSecretsError {
  return new DatabaseSecretsError('FX_DB_CONNECTION_NOT_FOUND', `no database connection named ${name}`);
}

/**
 * What each row's seal covers: every setting that decides where Fortress connects, as whom, and
 * what SQL it runs there (docs/security.md). State that Fortress itself updates (generations,
 * claims, times, errors, the password envelopes, which are bound on their own) is not covered.
 */
type Sealed = readonly [SealPlace, readonly SettingValue[]];

const CONNECTION_SETTINGS = [
  'plugin',
  'connection_url',
  'username',
  'allowed_roles',
  'max_open',
  'password_length',
  'password_auth',
  'root_rotation',
] as const satisfies readonly (keyof ConnectionRow)[];
const ROLE_SETTINGS = [
  'connection',
  'creation',
  'revocation',
  'renew',
  'default_ttl',
  'max_ttl',
] as const satisfies readonly (keyof RoleRow)[];
const STATIC_ROLE_SETTINGS = [
  'connection',
  'username',
  'rotation_period',
  'rotation',
] as const satisfies readonly (keyof StaticRoleRow)[];
/** A lease's user and the revocation statements copied into it: what its revocation runs. */
const LEASE_SETTINGS = [
  'role',
  'connection',
  'username',
  'revocation',
] as const satisfies readonly (keyof LeaseRow)[];

type ConnectionSettings = Pick<ConnectionRow, 'name' | (typeof CONNECTION_SETTINGS)[number]>;

function connectionSeal(tenant: string, row: ConnectionSettings): Sealed {
  return [
    { tenant, engine: 'database', item: `connection/${row.name}` },
    settingsOf(row, CONNECTION_SETTINGS),
  ];
}

function roleSeal(tenant: string, row: Pick<RoleRow, 'name' | (typeof ROLE_SETTINGS)[number]>): Sealed {
  return [{ tenant, engine: 'database', item: `role/${row.name}` }, settingsOf(row, ROLE_SETTINGS)];
}

function staticRoleSeal(
  tenant: string,
  row: Pick<StaticRoleRow, 'name' | (typeof STATIC_ROLE_SETTINGS)[number]>,
): Sealed {
  return [
    { tenant, engine: 'database', item: `static-role/${row.name}` },
    settingsOf(row, STATIC_ROLE_SETTINGS),
  ];
}

function leaseSeal(
  tenant: string,
  row: Pick<LeaseRow, 'lease_id' | (typeof LEASE_SETTINGS)[number]>,
): Sealed {
  return [{ tenant, engine: 'database', item: `lease/${row.lease_id}` }, settingsOf(row, LEASE_SETTINGS)];
}

interface PoolEntry {
  readonly generation: number;
  readonly pool: Promise<TargetPool>;
}

/**
 * @example
 * ```ts
 * const db = await DatabaseEngine.open({ driver, keys, tenant: 'default' });
 * await db.writeConnection('main', {
 *   plugin: 'postgresql',
 *   connectionUrl: 'postgresql://{{username}}:{{password}}@db.internal:5432/app',
 *   username: 'vault_admin', password: process.env.PG_ADMIN_PASSWORD!, allowedRoles: ['readonly'],
 * });
 * await db.rotateRoot('main');                       // now only Fortress knows the admin password
 * await db.writeRole('readonly', {
 *   connection: 'main',
 *   creationStatements: [
 *     `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
 *     `GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"`,
 *   ],
 *   defaultTtl: 3_600_000, maxTtl: 86_400_000,
 * });
 * const { username, password, leaseId } = await db.createCredentials('readonly');
 * db.startSweeper({ intervalMs: 60_000 });           // revokes expired leases, rotates static roles
 * ```
 */
export class DatabaseEngine {
  readonly #driver: StorageDriver;
  readonly #keys: KeyManager;
  readonly #tenant: string;
  readonly #now: () => number;
  readonly #connectTimeoutMs: number;
  readonly #statementTimeoutMs: number;
  readonly #keyName: string;
  #keyReady = false;
  readonly #pools = new Map<string, PoolEntry>();
  #timer: NodeJS.Timeout | null = null;
  #sweeping: Promise<void> | null = null;
  /** The running sweeper's `onAction` (sweeps started by `sweep()` report to it too). */
  #onAction: SweeperOptions['onAction'] | null = null;
  /** Counts `startSweeper` calls: a `stop` that waited across a restart leaves the new sweeper be. */
  #sweeperStarts = 0;

  private constructor(options: DatabaseEngineOptions) {
    this.#driver = options.driver;
    this.#keys = options.keys;
    this.#tenant = options.tenant;
    this.#now = options.now ?? Date.now;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
    this.#keyName = secretsKeyName(options.tenant, 'database');
  }

  /** Creates the tables if needed. Connects to no target (the sweeper's first run revokes what expired). */
  static async open(options: DatabaseEngineOptions): Promise<DatabaseEngine> {
    assertOptions(options, 'options');
    if (typeof options.tenant !== 'string' || options.tenant.length === 0) {
      throw invalid('tenant: expected a non-empty string');
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw invalid('now: expected a function returning ms since the epoch');
    }
    if (options.connectTimeoutMs !== undefined) {
      assertInteger(options.connectTimeoutMs, 'connectTimeoutMs', 1, 600_000);
    }
    if (options.statementTimeoutMs !== undefined) {
      assertInteger(options.statementTimeoutMs, 'statementTimeoutMs', 1, 3_600_000);
    }
    if (options.onUpgrade !== undefined && typeof options.onUpgrade !== 'function') {
      throw invalid('onUpgrade: expected a function');
    }
    await options.driver.exec(databaseTablesDdl(options.driver));
    const engine = new DatabaseEngine(options);
    const sealed = await upgradeSealedTables({
      driver: options.driver,
      keys: options.keys,
      tables: SEALED_TABLES,
      what: 'the database secrets tables',
      // Every row's tenant has its key already: its connection's password is sealed under it.
      seal: (entry, row) => {
        const tenant = row.tenant;
        const settings =
          entry.table === 'fx_db_connections'
            ? connectionSeal(tenant, row as unknown as ConnectionRow)
            : entry.table === 'fx_db_roles'
              ? roleSeal(tenant, row as unknown as RoleRow)
              : entry.table === 'fx_db_static_roles'
                ? staticRoleSeal(tenant, row as unknown as StaticRoleRow)
                : leaseSeal(tenant, row as unknown as LeaseRow);
        return sealSettings(options.keys, `secrets/${tenant}/database`, ...settings);
      },
    });
    if (sealed !== null) options.onUpgrade?.(sealed);
    return engine;
  }

  /** Checks a row's seal (FX_INTEGRITY when its settings were changed outside Fortress). */
  async #verify([place, settings]: Sealed, seal: unknown, what: string): Promise<void> {
    await verifySettings(this.#keys, this.#keyName, seal, place, settings, what);
  }

  #verifyConnection(row: ConnectionRow): Promise<void> {
    return this.#verify(connectionSeal(this.#tenant, row), row.settings_seal, `connection ${row.name}`);
  }

  #verifyRole(row: RoleRow): Promise<void> {
    return this.#verify(roleSeal(this.#tenant, row), row.settings_seal, `role ${row.name}`);
  }

  #verifyStaticRole(row: StaticRoleRow): Promise<void> {
    return this.#verify(staticRoleSeal(this.#tenant, row), row.settings_seal, `static role ${row.name}`);
  }

  async #sealOf([place, settings]: Sealed): Promise<Uint8Array> {
    await this.#ensureKey();
    return sealSettings(this.#keys, this.#keyName, place, settings);
  }

  /** The key passwords are encrypted under (created on the first write). */
  get keyName(): string {
    return this.#keyName;
  }

  // ---- Keys ----------------------------------------------------------------------------------

  async #ensureKey(): Promise<void> {
    if (this.#keyReady) return;
    await ensureSecretsKey(this.#keys, this.#tenant, 'database');
    this.#keyReady = true;
  }

  #context(kind: 'connection' | 'static-role', name: string): EncryptionContext {
    return EncryptionContext.of({
      tenant: this.#tenant,
      database: 'secrets',
      table: 'database',
      column: `${kind}/${name}`,
      row: 'password',
    });
  }

  async #seal(password: string, context: EncryptionContext): Promise<Uint8Array> {
    await this.#ensureKey();
    const plaintext = utf8Encoder.encode(password);
    try {
      return await this.#keys.encrypt(this.#keyName, plaintext, context);
    } finally {
      plaintext.fill(0);
    }
  }

  async #unseal(envelope: unknown, context: EncryptionContext, what: string): Promise<string> {
    if (!(envelope instanceof Uint8Array)) {
      throw new FortressError('FX_STORAGE', `the stored password of ${what} is not bytes`);
    }
    const plaintext = await this.#keys.decrypt(envelope, context);
    try {
      return utf8Decoder.decode(plaintext);
    } finally {
      plaintext.fill(0);
    }
  }

  // ---- Target pools --------------------------------------------------------------------------

  async #newPool(row: ConnectionRow, password: string, max = row.max_open): Promise<TargetPool> {
    return TargetPool.open({
      url: checkConnectionUrl(row.connection_url),
      username: row.username,
      password,
      max,
      connectTimeoutMs: this.#connectTimeoutMs,
      statementTimeoutMs: this.#statementTimeoutMs,
    });
  }

  /**
   * The pool of a connection, rebuilt when its password changed (here or in another process). A
   * pending password left by an interrupted root rotation is resolved first: when the target
   * refuses the current password but takes the pending one, the pending one becomes current.
   */
  async #pool(row: ConnectionRow): Promise<TargetPool> {
    const now = this.#now();
    const unresolved = row.pending_password !== null && !claimLive(row, now);
    const cached = this.#pools.get(row.name);
    if (cached?.generation === row.generation && !unresolved) return cached.pool;
    if (cached !== undefined) this.#dropPool(row.name);
    const opening = this.#openPool(row);
    const entry: PoolEntry = { generation: row.generation, pool: opening };
    this.#pools.set(row.name, entry);
    opening.catch(() => {
      if (this.#pools.get(row.name) === entry) this.#pools.delete(row.name);
    });
    return opening;
  }

  async #openPool(row: ConnectionRow): Promise<TargetPool> {
    const context = this.#context('connection', row.name);
    const what = `connection ${row.name}`;
    const pool = await this.#newPool(row, await this.#unseal(row.password, context, what));
    if (row.pending_password === null) return pool;
    try {
      await pool.verify();
    } catch (error) {
      await pool.close();
      if (!(error instanceof DatabaseSecretsError && error.sqlState === '28P01')) throw error;
      // The current password is refused: the interrupted rotation reached the target.
      const healed = await this.#newPool(row, await this.#unseal(row.pending_password, context, what));
      try {
        await healed.verify();
      } catch (failure) {
        await healed.close();
        throw failure;
      }
      const now = this.#now();
      await this.#driver.run(SQL.promoteRoot, [now, now, this.#tenant, row.name, row.generation]);
      return healed;
    }
    // The current password works: the interrupted rotation never reached the target.
    await this.#driver.run(
      'UPDATE fx_db_connections SET pending_password = NULL WHERE tenant = ? AND name = ? AND generation = ? AND (claim_until IS NULL OR claim_until <= ?)',
      [this.#tenant, row.name, row.generation, this.#now()],
    );
    return pool;
  }

  #dropPool(name: string): void {
    const entry = this.#pools.get(name);
    if (entry === undefined) return;
    this.#pools.delete(name);
    entry.pool.then(
      (pool) => pool.close(),
      () => undefined,
    );
  }

  // ---- Connections ---------------------------------------------------------------------------

  async #connection(name: string): Promise<ConnectionRow> {
    const row = await this.#driver.get<ConnectionRow>(SQL.connection, [this.#tenant, name]);
    if (row === undefined) throw connectionNotFound(name);
    await this.#verifyConnection(row);
    return row;
  }

  #connectionInfo(row: ConnectionRow): ConnectionInfo {
    return {
      name: row.name,
      plugin: 'postgresql',
      connectionUrl: row.connection_url,
      username: row.username,
      allowedRoles: JSON.parse(row.allowed_roles) as string[],
      maxOpenConnections: row.max_open,
      passwordLength: row.password_length,
      rootRotationStatements: statementsOf(row.root_rotation),
      passwordAuthentication: row.password_auth as PasswordAuthentication,
      createdTime: iso(row.created_at),
      updatedTime: iso(row.updated_at),
      lastRootRotation: row.root_rotated_at === null ? null : iso(row.root_rotated_at),
    };
  }

  /**
   * Creates or replaces a connection. With `verifyConnection` (the default) the target must take
   * the login and answer `SELECT 1` first, else FX_DB_CONNECTION_FAILED and nothing is stored.
   * On an update, a left-out `password` keeps the stored one (after `rotateRoot` nobody else
   * knows it). Pooled connections are dropped.
   */
  async writeConnection(name: string, config: ConnectionConfig): Promise<ConnectionInfo> {
    checkName(name, 'name');
    const c = checkConnectionConfig(config);
    let existing = await this.#driver.get<ConnectionRow>(SQL.connection, [this.#tenant, name]);
    if (existing !== undefined) {
      try {
        await this.#verifyConnection(existing);
      } catch (error) {
        // Settings changed outside Fortress are overwritten by a write that gives the password
        // anew; without one, the stored password would go where the changed row says.
        if (!(c.password !== undefined && error instanceof FortressError && error.code === 'FX_INTEGRITY')) {
          throw error;
        }
      }
      if (claimLive(existing, this.#now())) throw busy(`connection ${name}`);
    }
    if (
      existing !== undefined &&
      c.password === undefined &&
      (checkConnectionUrl(existing.connection_url).where !== c.url.where || existing.username !== c.username)
    ) {
      // The stored password goes only where it was given for: never to a new host, port,
      // database or user (a server there could ask for it in clear).
      throw invalid(
        `password: required when connection ${name} changes its host, port, database or username`,
      );
    }
    if (existing !== undefined && c.password === undefined && existing.pending_password !== null) {
      // Resolve an interrupted root rotation before keeping "the" stored password.
      await (await this.#pool(existing)).verify();
      existing = await this.#connection(name);
    }
    const password =
      c.password ??
      (existing === undefined
        ? required<string>(undefined, 'password (when creating a connection)')
        : await this.#unseal(existing.password, this.#context('connection', name), `connection ${name}`));
    if (c.verify) {
      const probe = await TargetPool.open({
        url: c.url,
        username: c.username,
        password,
        max: 1,
        connectTimeoutMs: this.#connectTimeoutMs,
        statementTimeoutMs: this.#statementTimeoutMs,
      });
      try {
        await probe.verify();
      } catch (error) {
        throw prefixed(error, `connection ${name} not saved`);
      } finally {
        await probe.close();
      }
    }
    const envelope = await this.#seal(password, this.#context('connection', name));
    const allowed = JSON.stringify(c.allowedRoles);
    const rotation = JSON.stringify(c.rootRotation);
    const seal = await this.#sealOf(
      connectionSeal(this.#tenant, {
        name,
        plugin: 'postgresql',
        connection_url: c.url.template,
        username: c.username,
        allowed_roles: allowed,
        max_open: c.maxOpen,
        password_length: c.passwordLength,
        password_auth: c.passwordAuth,
        root_rotation: rotation,
      }),
    );
    await this.#driver.transaction(async (tx) => {
      const now = this.#now();
      const current = await tx.get<ConnectionRow>(SQL.connection, [this.#tenant, name]);
      if (current === undefined) {
        await tx.run(SQL.insertConnection, [
          this.#tenant,
          name,
          'postgresql',
          c.url.template,
          c.username,
          envelope,
          allowed,
          c.maxOpen,
          c.passwordLength,
          c.passwordAuth,
          rotation,
          now,
          now,
          seal,
        ]);
        return;
      }
      if (claimLive(current, now)) throw busy(`connection ${name}`);
      await tx.run(SQL.updateConnection, [
        'postgresql',
        c.url.template,
        c.username,
        envelope,
        allowed,
        c.maxOpen,
        c.passwordLength,
        c.passwordAuth,
        rotation,
        now,
        seal,
        this.#tenant,
        name,
        current.generation,
      ]);
    });
    this.#dropPool(name);
    return this.readConnection(name);
  }

  /** A connection's settings (never its password). FX_DB_CONNECTION_NOT_FOUND if none. */
  async readConnection(name: string): Promise<ConnectionInfo> {
    checkName(name, 'name');
    return this.#connectionInfo(await this.#connection(name));
  }

  /** One page of connection names, in order. */
  async listConnections(options: ListOptions = {}): Promise<NameList> {
    return this.#listNames(SQL.listConnections, options);
  }

  async #listNames(sql: string, options: ListOptions): Promise<NameList> {
    const { after, limit } = checkListOptions(options);
    const rows = await this.#driver.all<{ name: string }>(sql, [this.#tenant, after, limit + 1]);
    const keys = rows.slice(0, limit).map((r) => r.name);
    return { keys, next: rows.length > limit ? keys[keys.length - 1]! : null };
  }

  /**
   * Deletes a connection; false if there was none. Refused (FX_DB_IN_USE) while roles, static
   * roles or unrevoked leases use it: a lease without its connection could never be revoked.
   */
  async deleteConnection(name: string): Promise<boolean> {
    checkName(name, 'name');
    const deleted = await this.#driver.transaction(async (tx) => {
      const row = await tx.get<ConnectionRow>(SQL.connection, [this.#tenant, name]);
      if (row === undefined) return false;
      if (claimLive(row, this.#now())) throw busy(`connection ${name}`);
      const users: string[] = [];
      const roles = await tx.all<{ name: string }>(SQL.rolesOfConnection, [this.#tenant, name]);
      users.push(...roles.map((r) => `role ${r.name}`));
      const statics = await tx.all<{ name: string }>(SQL.staticRolesOfConnection, [this.#tenant, name]);
      users.push(...statics.map((r) => `static role ${r.name}`));
      const leases = await tx.all<{ lease_id: string }>(SQL.leasesOfConnection, [this.#tenant, name]);
      users.push(...leases.map((r) => `lease ${r.lease_id}`));
      if (users.length > 0) {
        throw new DatabaseSecretsError(
          'FX_DB_IN_USE',
          `connection ${name} is still used by ${users.join(', ')}; delete those roles and revoke those leases first`,
        );
      }
      await tx.run(SQL.deleteConnection, [this.#tenant, name]);
      return true;
    });
    this.#dropPool(name);
    return deleted;
  }

  /** Closes a connection's pooled target connections (the next use opens new ones). */
  async resetConnection(name: string): Promise<void> {
    checkName(name, 'name');
    await this.#connection(name);
    const entry = this.#pools.get(name);
    this.#pools.delete(name);
    if (entry !== undefined) await entry.pool.then((pool) => pool.close()).catch(() => undefined);
  }

  /**
   * Gives the connection's administrator a new random password that only Fortress knows: runs the
   * root rotation statements on the target, then stores the password (encrypted) and drops the
   * pooled connections. If the target refuses, nothing stored changes.
   */
  async rotateRoot(name: string): Promise<ConnectionInfo> {
    checkName(name, 'name');
    let row = await this.#connection(name);
    if (claimLive(row, this.#now())) throw busy(`connection ${name}`);
    if (row.pending_password !== null) {
      await this.#pool(row);
      row = await this.#connection(name);
    }
    const password = generatePassword(row.password_length);
    const envelope = await this.#seal(password, this.#context('connection', name));
    const token = randomToken();
    const now = this.#now();
    // The new password is stored (as pending) before the target hears of it: whatever happens
    // next, Fortress never loses the only copy.
    const claimed = await this.#driver.run(SQL.claimRoot, [
      envelope,
      token,
      now + CLAIM_MS,
      this.#tenant,
      name,
      row.generation,
      now,
    ]);
    if (claimed.changes === 0) throw busy(`connection ${name}`);
    const secret = row.password_auth === 'scram-sha-256' ? scramSha256Verifier(password) : password;
    try {
      const pool = await this.#pool(row);
      await pool.transaction(
        async (session) => {
          for (const statement of statementsOf(row.root_rotation)) {
            await session.exec(renderStatement(statement, { name: row.username, password: secret }));
          }
        },
        [password, secret],
      );
    } catch (error) {
      const unknown = isIndeterminate(error);
      await this.#driver
        .run(unknown ? SQL.releaseRoot : SQL.abandonRoot, [this.#tenant, name, token])
        .catch(() => undefined);
      if (unknown) this.#dropPool(name);
      throw prefixed(error, `rotating the root password of connection ${name}`);
    }
    // Sessions already logged in keep working with the old password; new ones need the new one.
    this.#dropPool(name);
    const done = this.#now();
    // Should this write fail, the pending password stays and the next pool resolves it.
    await this.#driver.run(SQL.promoteRoot, [done, done, this.#tenant, name, row.generation]);
    return this.readConnection(name);
  }

  // ---- Roles ---------------------------------------------------------------------------------

  async #role(name: string): Promise<RoleRow> {
    const row = await this.#driver.get<RoleRow>(SQL.role, [this.#tenant, name]);
    if (row === undefined) {
      throw new DatabaseSecretsError('FX_DB_ROLE_NOT_FOUND', `no database role named ${name}`);
    }
    await this.#verifyRole(row);
    return row;
  }

  #checkAllowed(connection: ConnectionRow, role: string): void {
    if (!allows(JSON.parse(connection.allowed_roles) as string[], role)) {
      throw new DatabaseSecretsError(
        'FX_DB_ROLE_NOT_ALLOWED',
        `connection ${connection.name} does not allow role ${role} (add it to the connection's allowedRoles)`,
      );
    }
  }

  /**
   * Creates or replaces a dynamic role. Its connection must exist and allow it; templates are
   * checked now (FX_DB_TEMPLATE_INVALID), and creation statements must use `{{name}}`.
   */
  async writeRole(name: string, config: RoleConfig): Promise<RoleInfo> {
    checkName(name, 'name');
    const c = checkRoleConfig(config);
    const creation = JSON.stringify(c.creation);
    const revocation = JSON.stringify(c.revocation);
    const renew = JSON.stringify(c.renew);
    const seal = await this.#sealOf(
      roleSeal(this.#tenant, {
        name,
        connection: c.connection,
        creation,
        revocation,
        renew,
        default_ttl: c.defaultTtl,
        max_ttl: c.maxTtl,
      }),
    );
    await this.#driver.transaction(async (tx) => {
      const connection = await tx.get<ConnectionRow>(SQL.connection, [this.#tenant, c.connection]);
      if (connection === undefined) throw connectionNotFound(c.connection);
      await this.#verifyConnection(connection);
      this.#checkAllowed(connection, name);
      if ((await tx.get(SQL.staticRole, [this.#tenant, name])) !== undefined) {
        throw new DatabaseSecretsError('FX_DB_IN_USE', `${name} is already the name of a static role`);
      }
      const now = this.#now();
      await tx.run(SQL.upsertRole, [
        this.#tenant,
        name,
        c.connection,
        creation,
        revocation,
        renew,
        c.defaultTtl,
        c.maxTtl,
        now,
        now,
        seal,
      ]);
    });
    return this.readRole(name);
  }

  /** A dynamic role. FX_DB_ROLE_NOT_FOUND if none. */
  async readRole(name: string): Promise<RoleInfo> {
    checkName(name, 'name');
    const row = await this.#role(name);
    return {
      name: row.name,
      connection: row.connection,
      creationStatements: statementsOf(row.creation),
      revocationStatements: statementsOf(row.revocation),
      renewStatements: statementsOf(row.renew),
      defaultTtl: row.default_ttl,
      maxTtl: row.max_ttl,
      createdTime: iso(row.created_at),
      updatedTime: iso(row.updated_at),
    };
  }

  /** One page of dynamic role names, in order. */
  async listRoles(options: ListOptions = {}): Promise<NameList> {
    return this.#listNames(SQL.listRoles, options);
  }

  /** Deletes a dynamic role; false if there was none. Its leases stay, and are revoked as usual. */
  async deleteRole(name: string): Promise<boolean> {
    checkName(name, 'name');
    return (await this.#driver.run(SQL.deleteRole, [this.#tenant, name])).changes > 0;
  }

  // ---- Dynamic credentials and leases --------------------------------------------------------

  /**
   * Creates a user for `role` on its connection's target, with a fresh name and password, and a
   * lease for it. TTL: `ttl`, else the role's default, capped at its maximum. If the creation
   * statements fail, no lease is kept (unless the target's answer to COMMIT was lost: then the
   * lease is kept, already expired, so the sweeper revokes whatever was created).
   *
   * `owner` (a server's token accessor) ties the lease to its caller: `revokeOwned(owner)` revokes
   * it, and it never outlives `notAfter` (ms since the epoch; the token's expiry) — renewals
   * included.
   */
  async createCredentials(role: string, options: CreateCredentialsOptions = {}): Promise<Credentials> {
    checkName(role, 'role');
    assertOptions(options, 'options');
    assertKnownFields(options, ['ttl', 'owner', 'notAfter'], 'options');
    if (options.ttl !== undefined) checkTtl(options.ttl, 'ttl');
    if (options.owner !== undefined) checkOwner(options.owner);
    const roleRow = await this.#role(role);
    const connection = await this.#connection(roleRow.connection);
    this.#checkAllowed(connection, role);
    const now = this.#now();
    const notAfter = options.notAfter === undefined ? Infinity : checkNotAfter(options.notAfter, now);
    const pool = await this.#pool(connection);
    const maxExpiresAt = Math.min(now + roleRow.max_ttl, notAfter);
    const expiresAt = Math.min(now + (options.ttl ?? roleRow.default_ttl), maxExpiresAt);
    const ttl = expiresAt - now;
    const username = generateUsername(role);
    const password = generatePassword(connection.password_length);
    const leaseId = `${LEASE_PREFIX}${role}/${randomToken()}`;
    const token = randomToken();
    const seal = await this.#sealOf(
      leaseSeal(this.#tenant, {
        lease_id: leaseId,
        role,
        connection: connection.name,
        username,
        revocation: roleRow.revocation,
      }),
    );
    // The lease first, claimed by this call: a user never exists on the target without a lease
    // that will revoke it, and no sweeper revokes the lease before its user exists.
    await this.#driver.transaction(async (tx) => {
      // Read in the same transaction, so a concurrent deleteConnection and this insert conflict.
      if ((await tx.get(SQL.connection, [this.#tenant, connection.name])) === undefined) {
        throw connectionNotFound(connection.name);
      }
      await tx.run(SQL.insertLease, [
        this.#tenant,
        leaseId,
        role,
        connection.name,
        username,
        roleRow.revocation,
        now,
        expiresAt,
        maxExpiresAt,
        token,
        now + CLAIM_MS,
        seal,
      ]);
      if (options.owner !== undefined) {
        await tx.run(SQL.insertLeaseOwner, [this.#tenant, leaseId, options.owner]);
      }
    });
    const secret = connection.password_auth === 'scram-sha-256' ? scramSha256Verifier(password) : password;
    const expiration = formatExpiration(expiresAt);
    try {
      await pool.transaction(
        async (session) => {
          for (const statement of statementsOf(roleRow.creation)) {
            await session.exec(renderStatement(statement, { name: username, password: secret, expiration }));
          }
        },
        [password, secret],
      );
    } catch (error) {
      const failure = asFortressError(prefixed(error, `creating a user for role ${role}`));
      if (isIndeterminate(error)) {
        // The user may exist: the next sweep revokes it.
        await this.#driver
          .run(SQL.failLease, [now, failure.message.slice(0, 2000), this.#tenant, leaseId, token])
          .catch(() => undefined);
      } else {
        await this.#driver
          .transaction(async (tx) => {
            await tx.run(SQL.deleteClaimedLease, [this.#tenant, leaseId, token]);
            await tx.run(SQL.deleteLeaseOwner, [this.#tenant, leaseId]);
          })
          .catch(() => undefined);
      }
      throw failure;
    }
    const activated = await this.#driver.run(SQL.activateLease, [this.#tenant, leaseId, token]);
    if (activated.changes === 0) {
      // The claim lapsed (creation took minutes) and a sweeper took the lease over to revoke it.
      throw busy(`lease ${leaseId} (its creation outlasted its claim; it is revoked)`);
    }
    return {
      leaseId,
      username,
      password,
      leaseDuration: ttl,
      renewable: expiresAt < maxExpiresAt,
      expiresAt: iso(expiresAt),
    };
  }

  async #lease(leaseId: string): Promise<LeaseRow> {
    const row = await this.#driver.get<LeaseRow>(SQL.lease, [this.#tenant, leaseId]);
    if (row === undefined) {
      throw new DatabaseSecretsError(
        'FX_DB_LEASE_NOT_FOUND',
        `no lease ${leaseId} (never issued, or revoked)`,
      );
    }
    await this.#verify(leaseSeal(this.#tenant, row), row.settings_seal, `lease ${leaseId}`);
    return row;
  }

  #leaseInfo(row: LeaseRow, now: number): LeaseInfo {
    const state: LeaseState =
      row.state === 'active'
        ? row.expires_at <= now
          ? 'expired'
          : 'active'
        : row.state === 'failed'
          ? 'revocation-failed'
          : row.state;
    return {
      leaseId: row.lease_id,
      role: row.role,
      connection: row.connection,
      username: row.username,
      issueTime: iso(row.issued_at),
      expireTime: iso(row.expires_at),
      maxExpireTime: iso(row.max_expires_at),
      ttl: Math.max(0, row.expires_at - now),
      renewable: state === 'active' && row.expires_at < row.max_expires_at,
      state,
      revocationAttempts: row.attempts,
      lastError: row.last_error,
    };
  }

  /** A lease's state. FX_DB_LEASE_NOT_FOUND once revoked. */
  async lookupLease(leaseId: string): Promise<LeaseInfo> {
    checkLeaseId(leaseId);
    return this.#leaseInfo(await this.#lease(leaseId), this.#now());
  }

  /**
   * Extends a lease to now + `increment` (default: the role's default TTL), never past its issue
   * time + the role's maximum TTL, and runs the role's renew statements with the new
   * `{{expiration}}`. A lease already at its maximum comes back unchanged. FX_DB_LEASE_EXPIRED when
   * it has expired or is being revoked.
   */
  async renewLease(leaseId: string, options: { readonly increment?: number } = {}): Promise<LeaseInfo> {
    checkLeaseId(leaseId);
    assertOptions(options, 'options');
    assertKnownFields(options, ['increment'], 'options');
    if (options.increment !== undefined) checkTtl(options.increment, 'increment');
    const row = await this.#lease(leaseId);
    const now = this.#now();
    if (row.state !== 'active' || row.expires_at <= now) {
      throw new DatabaseSecretsError(
        'FX_DB_LEASE_EXPIRED',
        row.state === 'active'
          ? `lease ${leaseId} expired at ${iso(row.expires_at)}; request new credentials`
          : `lease ${leaseId} is being ${row.state === 'creating' ? 'created' : 'revoked'}`,
      );
    }
    const role = await this.#role(row.role);
    const expiresAt = Math.min(now + (options.increment ?? role.default_ttl), row.max_expires_at);
    if (expiresAt !== row.expires_at) {
      const connection = await this.#connection(row.connection);
      const pool = await this.#pool(connection);
      const custom = statementsOf(role.renew);
      const statements = custom.length === 0 ? DEFAULT_RENEW_STATEMENTS : custom;
      const expiration = formatExpiration(expiresAt);
      try {
        await pool.transaction(async (session) => {
          for (const statement of statements) {
            await session.exec(renderStatement(statement, { name: row.username, expiration }));
          }
        });
      } catch (error) {
        throw prefixed(error, `renewing lease ${leaseId}`);
      }
      const changed = await this.#driver.run(SQL.renewLease, [
        expiresAt,
        this.#tenant,
        leaseId,
        row.expires_at,
      ]);
      if (changed.changes === 0) throw busy(`lease ${leaseId}`);
    }
    return this.#leaseInfo({ ...row, expires_at: expiresAt }, now);
  }

  /**
   * Runs a claimed lease's revocation: nothing when its user no longer exists, else the role's
   * revocation statements (the lease's copy if the role is gone; the built-in revocation when
   * there are none). Success deletes the lease; failure keeps it, to retry with backoff.
   */
  async #revokeClaimed(leaseId: string, token: string): Promise<void> {
    const row = await this.#lease(leaseId);
    try {
      const connection = await this.#connection(row.connection);
      const role = await this.#driver.get<RoleRow>(SQL.role, [this.#tenant, row.role]);
      if (role !== undefined) await this.#verifyRole(role);
      const statements = statementsOf(role?.connection === row.connection ? role.revocation : row.revocation);
      const pool = await this.#pool(connection);
      await pool.transaction(async (session: TargetSession) => {
        const exists = await session.query('SELECT 1 AS one FROM pg_catalog.pg_roles WHERE rolname = $1', [
          row.username,
        ]);
        if (exists.length === 0) return;
        if (statements.length === 0) {
          await revokeUserByDefault(session, row.username);
        } else {
          for (const statement of statements) {
            await session.exec(renderStatement(statement, { name: row.username }));
          }
        }
      });
    } catch (error) {
      const failure = asFortressError(prefixed(error, `revoking lease ${leaseId} (kept; retried later)`));
      await this.#driver
        .run(SQL.failLease, [
          this.#now() + retryDelay(row.attempts),
          failure.message.slice(0, 2000),
          this.#tenant,
          leaseId,
          token,
        ])
        .catch(() => undefined);
      throw failure;
    }
    await this.#driver.transaction(async (tx) => {
      await tx.run(SQL.revokedLease, [this.#tenant, leaseId, token]);
      await tx.run(SQL.deleteLeaseOwner, [this.#tenant, leaseId]);
    });
  }

  /**
   * Revokes a lease now: its user is dropped and the lease deleted. A lease whose user is already
   * gone is revoked cleanly. If the target fails, the lease is kept (state `revocation-failed`),
   * the sweeper retries it, and the error says why. FX_DB_BUSY while another process revokes it.
   */
  async revokeLease(leaseId: string): Promise<void> {
    checkLeaseId(leaseId);
    await this.#lease(leaseId);
    const token = randomToken();
    const now = this.#now();
    const claimed = await this.#driver.run(SQL.claimLease, [
      token,
      now + CLAIM_MS,
      this.#tenant,
      leaseId,
      now,
    ]);
    if (claimed.changes === 0) {
      await this.#lease(leaseId);
      throw busy(`lease ${leaseId}`);
    }
    await this.#revokeClaimed(leaseId, token);
  }

  /**
   * Revokes every lease whose id starts with `prefix` (`database/creds/<role>/`: all of a role's).
   * Returns how many were revoked. Leases another process is revoking are left to it; if any
   * revocation fails, the others still run, the failed ones are kept for retry, and the call
   * throws the first failure.
   */
  async revokePrefix(prefix: string): Promise<number> {
    if (typeof prefix !== 'string' || !LEASE_ID_PREFIX.test(prefix)) {
      throw invalid(`prefix: expected a lease id prefix starting with ${LEASE_PREFIX}`);
    }
    const upper = upperBound(prefix);
    return this.#revokeAll(`under ${prefix}`, (cursor) =>
      this.#driver.all<{ lease_id: string }>(cursor === null ? SQL.leaseIdsFrom : SQL.leaseIdsAfter, [
        this.#tenant,
        cursor ?? prefix,
        upper,
        SWEEP_BATCH,
      ]),
    );
  }

  /**
   * Revokes every lease `owner` holds (`createCredentials`' `owner`: a server revokes a token's
   * leases when the token is revoked), now. A revocation the target refuses is kept and retried by
   * the sweeper; leases that could not be taken now (being created, or issued meanwhile) are made
   * expired, so the sweeper revokes them too. Returns how many were revoked; throws the first
   * failure after trying them all, as `revokePrefix` does.
   */
  async revokeOwned(owner: string): Promise<number> {
    checkOwner(owner);
    try {
      return await this.#revokeAll(`of ${owner}`, (cursor) =>
        this.#driver.all<{ lease_id: string }>(SQL.ownedLeases, [
          this.#tenant,
          owner,
          cursor ?? '',
          SWEEP_BATCH,
        ]),
      );
    } finally {
      const now = this.#now();
      await this.#driver.run(SQL.expireOwned, [now, now, this.#tenant, now, this.#tenant, owner]);
    }
  }

  /** Whether `owner` holds any lease (one indexed read). */
  async ownsLeases(owner: string): Promise<boolean> {
    checkOwner(owner);
    return (await this.#driver.get(SQL.anyOwned, [this.#tenant, owner])) !== undefined;
  }

  /**
   * Claims and revokes the leases `page` lists (pages of SWEEP_BATCH, after the cursor), leaving
   * those another process is revoking to it; failures are kept for retry and the first is thrown
   * once every lease was tried. `which` says which leases, in that error.
   */
  async #revokeAll(
    which: string,
    page: (cursor: string | null) => Promise<{ lease_id: string }[]>,
  ): Promise<number> {
    let cursor: string | null = null;
    let revoked = 0;
    const failures: FortressError[] = [];
    for (;;) {
      const rows = await page(cursor);
      for (const { lease_id: leaseId } of rows) {
        const token = randomToken();
        const now = this.#now();
        const claimed = await this.#driver.run(SQL.claimLease, [
          token,
          now + CLAIM_MS,
          this.#tenant,
          leaseId,
          now,
        ]);
        if (claimed.changes === 0) continue;
        const action: SweepAction = { kind: 'lease-revoked', leaseId, role: roleOfLease(leaseId) };
        try {
          await this.#revokeClaimed(leaseId, token);
          revoked++;
          this.#report(action, null);
        } catch (error) {
          const failure = asFortressError(error);
          failures.push(failure);
          this.#report(action, failure);
        }
      }
      if (rows.length < SWEEP_BATCH) break;
      cursor = rows[rows.length - 1]!.lease_id;
    }
    const first = failures[0];
    if (first !== undefined) {
      throw first instanceof DatabaseSecretsError
        ? new DatabaseSecretsError(
            first.code as never,
            `${failures.length} lease(s) ${which} could not be revoked (${revoked} were): ${first.message}`,
            first.sqlState,
          )
        : first;
    }
    return revoked;
  }

  /** One page of leases (all, or one role's), in lease id order. */
  async listLeases(options: LeaseListOptions = {}): Promise<LeaseList> {
    assertOptions(options, 'options');
    assertKnownFields(options, ['role', 'after', 'limit'], 'options');
    const { role, ...page } = options;
    const { after, limit } = checkListOptions(page);
    const prefix = role === undefined ? LEASE_PREFIX : `${LEASE_PREFIX}${checkName(role, 'role')}/`;
    const lower = after > prefix ? after : prefix;
    const rows = await this.#driver.all<LeaseRow>(SQL.listLeases, [
      this.#tenant,
      lower,
      upperBound(prefix),
      limit + 1,
    ]);
    const now = this.#now();
    const leases = rows.slice(0, limit).map((row) => this.#leaseInfo(row, now));
    return { leases, next: rows.length > limit ? leases[leases.length - 1]!.leaseId : null };
  }

  async #revokeExpired(): Promise<{ revoked: number; failures: FortressError[] }> {
    const now = this.#now();
    const seen = new Set<string>();
    const failures: FortressError[] = [];
    let revoked = 0;
    for (;;) {
      const rows = await this.#driver.all<{ lease_id: string }>(SQL.dueLeases, [
        this.#tenant,
        now,
        now,
        SWEEP_BATCH,
      ]);
      const fresh = rows.filter((r) => !seen.has(r.lease_id));
      if (fresh.length === 0) break;
      for (const { lease_id: leaseId } of fresh) {
        seen.add(leaseId);
        const token = randomToken();
        // Another process sweeping the same storage may have claimed it first: then it is theirs.
        const claimed = await this.#driver.run(SQL.claimDueLease, [
          token,
          this.#now() + CLAIM_MS,
          this.#tenant,
          leaseId,
          now,
          now,
        ]);
        if (claimed.changes === 0) continue;
        const action: SweepAction = { kind: 'lease-expired', leaseId, role: roleOfLease(leaseId) };
        try {
          await this.#revokeClaimed(leaseId, token);
          revoked++;
          this.#report(action, null);
        } catch (error) {
          const failure = asFortressError(error);
          failures.push(failure);
          this.#report(action, failure);
        }
      }
      if (rows.length < SWEEP_BATCH) break;
    }
    return { revoked, failures };
  }

  /**
   * Revokes every lease past its expiry (and retries failed revocations whose time came). Returns
   * how many were revoked; failures stay in storage (`lookupLease` shows them) and are retried.
   */
  async revokeExpired(): Promise<number> {
    return (await this.#revokeExpired()).revoked;
  }

  // ---- Static roles --------------------------------------------------------------------------

  async #staticRole(name: string): Promise<StaticRoleRow> {
    const row = await this.#driver.get<StaticRoleRow>(SQL.staticRole, [this.#tenant, name]);
    if (row === undefined) {
      throw new DatabaseSecretsError('FX_DB_STATIC_ROLE_NOT_FOUND', `no static database role named ${name}`);
    }
    await this.#verifyStaticRole(row);
    return row;
  }

  /**
   * Creates or updates a static role. Creating rotates the user's password at once (the role is
   * not kept if that fails). An update may change the period and statements only; the connection
   * and user of a static role are fixed (delete and write it again).
   */
  async writeStaticRole(name: string, config: StaticRoleConfig): Promise<StaticRoleInfo> {
    checkName(name, 'name');
    const c = checkStaticRoleConfig(config);
    const token = randomToken();
    const rotation = JSON.stringify(c.rotation);
    const seal = await this.#sealOf(
      staticRoleSeal(this.#tenant, {
        name,
        connection: c.connection,
        username: c.username,
        rotation_period: c.rotationPeriod,
        rotation,
      }),
    );
    const created = await this.#driver.transaction(async (tx) => {
      const now = this.#now();
      const connection = await tx.get<ConnectionRow>(SQL.connection, [this.#tenant, c.connection]);
      if (connection === undefined) throw connectionNotFound(c.connection);
      await this.#verifyConnection(connection);
      this.#checkAllowed(connection, name);
      if (connection.username === c.username) {
        throw new DatabaseSecretsError(
          'FX_DB_IN_USE',
          `${c.username} is connection ${c.connection}'s administrator; rotate it with rotateRoot`,
        );
      }
      if ((await tx.get(SQL.role, [this.#tenant, name])) !== undefined) {
        throw new DatabaseSecretsError('FX_DB_IN_USE', `${name} is already the name of a dynamic role`);
      }
      const other = await tx.get<{ name: string }>(SQL.staticRoleOfUser, [
        this.#tenant,
        c.connection,
        c.username,
        name,
      ]);
      if (other !== undefined) {
        throw new DatabaseSecretsError(
          'FX_DB_IN_USE',
          `user ${c.username} of connection ${c.connection} is already managed by static role ${other.name}`,
        );
      }
      const existing = await tx.get<StaticRoleRow>(SQL.staticRole, [this.#tenant, name]);
      if (existing !== undefined) {
        if (existing.connection !== c.connection || existing.username !== c.username) {
          throw invalid(
            `static role ${name}: its connection and username cannot change; delete it and write it again`,
          );
        }
        const next =
          existing.last_rotation === null
            ? existing.next_rotation
            : existing.last_rotation + c.rotationPeriod;
        await tx.run(SQL.updateStaticRole, [c.rotationPeriod, rotation, next, now, seal, this.#tenant, name]);
        return false;
      }
      // Claimed from the start: the first rotation is this call's.
      await tx.run(SQL.insertStaticRole, [
        this.#tenant,
        name,
        c.connection,
        c.username,
        c.rotationPeriod,
        rotation,
        now,
        token,
        now + CLAIM_MS,
        now,
        now,
        seal,
      ]);
      return true;
    });
    if (created) await this.#rotateClaimed(name, token, true);
    return this.readStaticRole(name);
  }

  /**
   * Rotates a claimed static role: a new password is stored as pending (or a pending one left by
   * an interrupted rotation is reused — running it again is harmless), the rotation statements
   * run, and the pending password becomes the password.
   */
  async #rotateClaimed(name: string, token: string, creating: boolean): Promise<void> {
    const now = this.#now();
    const context = this.#context('static-role', name);
    let fresh = false;
    let row: StaticRoleRow | undefined;
    try {
      row = await this.#driver.get<StaticRoleRow>(SQL.staticRole, [this.#tenant, name]);
      if (row?.claim_token !== token) throw busy(`static role ${name}`);
      await this.#verifyStaticRole(row);
      const connection = await this.#connection(row.connection);
      let password: string;
      if (row.pending_password !== null) {
        password = await this.#unseal(row.pending_password, context, `static role ${name}`);
      } else {
        password = generatePassword(connection.password_length);
        fresh = true;
        const envelope = await this.#seal(password, context);
        const set = await this.#driver.run(SQL.setStaticPending, [envelope, this.#tenant, name, token]);
        if (set.changes === 0) throw busy(`static role ${name}`);
      }
      const secret = connection.password_auth === 'scram-sha-256' ? scramSha256Verifier(password) : password;
      const pool = await this.#pool(connection);
      const username = row.username;
      const statements = statementsOf(row.rotation);
      await pool.transaction(
        async (session) => {
          for (const statement of statements) {
            await session.exec(renderStatement(statement, { name: username, password: secret }));
          }
        },
        [password, secret],
      );
    } catch (error) {
      const known = !isIndeterminate(error);
      const failure = asFortressError(prefixed(error, `rotating the password of static role ${name}`));
      if (creating && known) {
        // Nothing changed on the target: the role is not kept.
        await this.#driver
          .run(SQL.deleteClaimedStaticRole, [this.#tenant, name, token])
          .catch(() => undefined);
      } else {
        // Only a pending password this attempt made, and the target surely never took, is dropped.
        await this.#driver
          .run(SQL.failStatic, [
            known && fresh ? 1 : 0,
            creating ? now : now + STATIC_RETRY_MS,
            failure.message.slice(0, 2000),
            this.#tenant,
            name,
            token,
          ])
          .catch(() => undefined);
      }
      throw failure;
    }
    const done = this.#now();
    await this.#driver.run(SQL.promoteStatic, [
      done,
      done + row.rotation_period,
      done,
      this.#tenant,
      name,
      token,
    ]);
  }

  #staticInfo(row: StaticRoleRow): StaticRoleInfo {
    return {
      name: row.name,
      connection: row.connection,
      username: row.username,
      rotationPeriod: row.rotation_period,
      rotationStatements: statementsOf(row.rotation),
      lastRotation: row.last_rotation === null ? null : iso(row.last_rotation),
      nextRotation: iso(row.next_rotation),
      lastError: row.last_error,
      createdTime: iso(row.created_at),
      updatedTime: iso(row.updated_at),
    };
  }

  /** A static role's settings (never its password). */
  async readStaticRole(name: string): Promise<StaticRoleInfo> {
    checkName(name, 'name');
    return this.#staticInfo(await this.#staticRole(name));
  }

  /** A static role's user and current password. FX_DB_BUSY until its first rotation completed. */
  async readStaticCredentials(name: string): Promise<StaticCredentials> {
    checkName(name, 'name');
    const row = await this.#staticRole(name);
    if (row.password === null || row.last_rotation === null) {
      throw busy(`static role ${name} (its first rotation has not completed)`);
    }
    return {
      username: row.username,
      password: await this.#unseal(row.password, this.#context('static-role', name), `static role ${name}`),
      lastRotation: iso(row.last_rotation),
      ttl: Math.max(0, row.next_rotation - this.#now()),
      rotationPeriod: row.rotation_period,
    };
  }

  /** Rotates a static role's password now. */
  async rotateStaticRole(name: string): Promise<StaticRoleInfo> {
    checkName(name, 'name');
    await this.#staticRole(name);
    const token = randomToken();
    const now = this.#now();
    const claimed = await this.#driver.run(SQL.claimStatic, [token, now + CLAIM_MS, this.#tenant, name, now]);
    if (claimed.changes === 0) {
      await this.#staticRole(name);
      throw busy(`static role ${name}`);
    }
    await this.#rotateClaimed(name, token, false);
    return this.readStaticRole(name);
  }

  async #rotateDue(): Promise<{ rotated: number; failures: FortressError[] }> {
    const now = this.#now();
    const seen = new Set<string>();
    const failures: FortressError[] = [];
    let rotated = 0;
    for (;;) {
      const rows = await this.#driver.all<{ name: string }>(SQL.dueStaticRoles, [
        this.#tenant,
        now,
        now,
        now,
        SWEEP_BATCH,
      ]);
      const fresh = rows.filter((r) => !seen.has(r.name));
      if (fresh.length === 0) break;
      for (const { name } of fresh) {
        seen.add(name);
        const token = randomToken();
        const claimed = await this.#driver.run(SQL.claimStatic, [
          token,
          now + CLAIM_MS,
          this.#tenant,
          name,
          now,
        ]);
        if (claimed.changes === 0) continue;
        const action: SweepAction = { kind: 'static-rotated', role: name };
        try {
          await this.#rotateClaimed(name, token, false);
          rotated++;
          this.#report(action, null);
        } catch (error) {
          const failure = asFortressError(error);
          failures.push(failure);
          this.#report(action, failure);
        }
      }
      if (rows.length < SWEEP_BATCH) break;
    }
    return { rotated, failures };
  }

  /** Rotates every static role whose period has passed. Returns how many; failures retry later. */
  async rotateDueStaticRoles(): Promise<number> {
    return (await this.#rotateDue()).rotated;
  }

  /** One page of static role names, in order. */
  async listStaticRoles(options: ListOptions = {}): Promise<NameList> {
    return this.#listNames(SQL.listStaticRoles, options);
  }

  /** Deletes a static role; false if there was none. The user stays, with its current password. */
  async deleteStaticRole(name: string): Promise<boolean> {
    checkName(name, 'name');
    const deleted = await this.#driver.run(SQL.deleteStaticRole, [this.#tenant, name, this.#now()]);
    if (deleted.changes > 0) return true;
    const row = await this.#driver.get(SQL.staticRole, [this.#tenant, name]);
    if (row !== undefined) throw busy(`static role ${name}`);
    return false;
  }

  // ---- Sweeper -------------------------------------------------------------------------------

  /** One sweep: revokes expired leases, then rotates due static roles. */
  async sweep(): Promise<SweepResult> {
    const failures: FortressError[] = [];
    let revoked = 0;
    let rotated = 0;
    try {
      const leases = await this.#revokeExpired();
      revoked = leases.revoked;
      failures.push(...leases.failures);
    } catch (error) {
      failures.push(asFortressError(error));
    }
    try {
      const statics = await this.#rotateDue();
      rotated = statics.rotated;
      failures.push(...statics.failures);
    } catch (error) {
      failures.push(asFortressError(error));
    }
    return { revoked, rotated, failures };
  }

  /**
   * Sweeps now (revoke on start: leases live in storage and survive restarts) and then every
   * `intervalMs`. The timer does not keep the process alive. Calling it again restarts it.
   */
  startSweeper(options: SweeperOptions = {}): void {
    assertOptions(options, 'options');
    assertKnownFields(options, ['intervalMs', 'onError', 'onSweep', 'onAction'], 'options');
    const intervalMs = options.intervalMs ?? 60_000;
    assertInteger(intervalMs, 'intervalMs', 100, 86_400_000);
    const { onError, onSweep } = options;
    if (options.onAction !== undefined && typeof options.onAction !== 'function') {
      throw new FortressError('FX_INVALID_ARGUMENT', 'options.onAction: expected a function');
    }
    this.#onAction = options.onAction ?? null;
    this.#sweeperStarts++;
    if (this.#timer !== null) clearInterval(this.#timer);
    const run = (): void => {
      if (this.#sweeping !== null) return;
      this.#sweeping = this.sweep()
        .then((result) => {
          for (const failure of result.failures) onError?.(failure);
          onSweep?.(result);
        })
        .catch(() => undefined)
        .finally(() => {
          this.#sweeping = null;
        });
    };
    run();
    this.#timer = setInterval(run, intervalMs);
    this.#timer.unref();
  }

  /** Tells the sweeper's listener; a listener that throws does not stop the sweep. */
  #report(action: SweepAction, error: FortressError | null): void {
    try {
      this.#onAction?.(action, error);
    } catch {
      // The listener's own failure (an audit write) is its to report.
    }
  }

  /**
   * Stops the sweeper (waiting for a sweep in progress) and closes every pooled target connection.
   * If the sweeper is started again while this waits (a seal quickly followed by an unseal), the
   * new sweeper keeps its listener and connections.
   */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const starts = this.#sweeperStarts;
    await this.#sweeping;
    if (this.#sweeperStarts !== starts) return;
    this.#onAction = null;
    const entries = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(entries.map((entry) => entry.pool.then((pool) => pool.close()).catch(() => undefined)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function busy(what: string): DatabaseSecretsError {
  return new DatabaseSecretsError(
    'FX_DB_BUSY',
    `${what} is being rotated or revoked right now (perhaps by another process); retry shortly`,
  );
}
