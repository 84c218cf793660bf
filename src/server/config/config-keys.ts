/**
 * @module server/config/config-keys
 * Every `fortress server` setting in one table: its TOML key, its `FORTRESS_*` variable, its flag
 * and what it accepts. The loader, the unknown-key check, `fortress config check` and the docs all
 * read this table, so a setting cannot exist in one place and be missing from another.
 *
 * Environment variables (TOML key in brackets; an empty value counts as unset):
 *
 * ```text
 * FORTRESS_LISTEN                         [listen]                  host:port, [::1]:8200 for IPv6
 * FORTRESS_INSECURE_DEV                   (flag or env only)        1/0/true/false
 * FORTRESS_STORAGE_KIND                   [storage.kind]            sqlite or postgres
 * FORTRESS_STORAGE_PATH                   [storage.path]            data directory
 * FORTRESS_STORAGE_URL                    [storage.url]             postgres://user@host:port/db
 * FORTRESS_STORAGE_SCHEMA                 [storage.schema]          PostgreSQL schema
 * FORTRESS_STORAGE_PASSWORD               (env only: a secret)
 * FORTRESS_TLS_CERT_FILE                  [tls.cert_file]
 * FORTRESS_TLS_KEY_FILE                   [tls.key_file]
 * FORTRESS_TLS_CLIENT_CA_FILE             [tls.client_ca_file]      mTLS
 * FORTRESS_TLS_DISABLE                    [tls.disable]             needs --insecure-dev
 * FORTRESS_SEAL_KIND                      [seal.kind]               shamir, passphrase, pkcs11, dev-key-file
 * FORTRESS_SEAL_SHARES                    [seal.shares]
 * FORTRESS_SEAL_THRESHOLD                 [seal.threshold]
 * FORTRESS_SEAL_PKCS11_MODULE             [seal.pkcs11_module]
 * FORTRESS_SEAL_PKCS11_TOKEN              [seal.pkcs11_token]
 * FORTRESS_SEAL_PKCS11_PIN                (env only: a secret)
 * FORTRESS_LIMITS_BODY_BYTES              [limits.body_bytes]
 * FORTRESS_LIMITS_REQUEST_TIMEOUT_MS      [limits.request_timeout_ms]
 * FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN    [limits.rate_limit_per_token]
 * FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS  [limits.rate_limit_per_address]
 * FORTRESS_LIMITS_MAX_CONNECTIONS         [limits.max_connections]
 * FORTRESS_JOBS_BATCH_SIZE                [jobs.batch_size]
 * FORTRESS_JOBS_ROWS_PER_SECOND           [jobs.rows_per_second]
 * FORTRESS_SECRETS_DATABASE_SWEEP_INTERVAL_MS [secrets.database_sweep_interval_ms]
 * FORTRESS_LOG_LEVEL                      [logging.level]
 * FORTRESS_LOG_FILE                       [logging.file]
 * FORTRESS_AUTH_TOKEN_TTL_SECONDS         [auth.token_ttl_seconds]
 * FORTRESS_AUTH_TOKEN_MAX_TTL_SECONDS     [auth.token_max_ttl_seconds]
 * FORTRESS_AUTH_JWT_JWKS_FILE             [auth.jwt.jwks_file]
 * FORTRESS_AUTH_JWT_JWKS_URL              [auth.jwt.jwks_url]
 * FORTRESS_AUTH_JWT_ISSUER                [auth.jwt.issuer]
 * FORTRESS_AUTH_JWT_AUDIENCE              [auth.jwt.audience]
 * FORTRESS_AUTH_JWT_PRINCIPAL_CLAIM       [auth.jwt.principal_claim]
 * FORTRESS_AUTH_JWT_PRINCIPAL_KIND        [auth.jwt.principal_kind]  user (default) or service
 * FORTRESS_AUTH_JWT_ROLES_CLAIM           [auth.jwt.roles_claim]     claim listing IdP groups/roles
 * FORTRESS_AUTH_JWT_ROLE_MAP              [auth.jwt.role_map]        JSON object in the environment
 * FORTRESS_AUTH_JWT_CREATE_USERS          [auth.jwt.create_users]
 * FORTRESS_AUTH_JWT_TENANT_CLAIM          [auth.jwt.tenant_claim]
 * ```
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export type SealKind = 'shamir' | 'passphrase' | 'pkcs11' | 'dev-key-file';
export const SEAL_KINDS: readonly SealKind[] = ['shamir', 'passphrase', 'pkcs11', 'dev-key-file'];

/** Values the CLI parsed from its flags. Numbers may arrive as the text typed. */
export interface FlagValues {
  readonly storagePath: string;
  readonly listen: string;
  readonly insecureDev: boolean;
  readonly logLevel: string;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly tlsClientCaFile: string;
  readonly tlsDisable: boolean;
  readonly sealKind: string;
  readonly sealShares: string | number;
  readonly sealThreshold: string | number;
  readonly pkcs11Module: string;
  readonly pkcs11Token: string;
}

export type SettingType =
  | { readonly kind: 'string' }
  | { readonly kind: 'path' }
  | { readonly kind: 'url' }
  | { readonly kind: 'postgres-url' }
  | { readonly kind: 'listen' }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  /** IdP value → Fortress role name: a TOML table, or JSON object text from the environment. */
  | { readonly kind: 'role-map' };

export interface SettingFlag {
  readonly field: keyof FlagValues;
  /** How the CLI spells it, for messages and help. */
  readonly option: string;
}

export interface ConfigSetting {
  /** Dotted TOML key (`limits.body_bytes` is `body_bytes` in `[limits]`). */
  readonly key: string;
  readonly env: string;
  readonly flag?: SettingFlag;
  readonly type: SettingType;
  /** What is accepted and the default, for help and `config check`. */
  readonly help: string;
  /** Read from the environment only and never printed: a secret must not sit in a file or in `ps`. */
  readonly secret?: true;
  /** Refused in the file, so a config file checked into a repository cannot switch it on. */
  readonly notInFile?: true;
}

const text = { kind: 'string' } as const;
const file = { kind: 'path' } as const;
const bool = { kind: 'boolean' } as const;
const int = (min: number, max: number): SettingType => ({ kind: 'integer', min, max });
const flag = (field: keyof FlagValues, option: string): SettingFlag => ({ field, option });
const TEN_YEARS = 10 * 365 * 86_400;

/** Every setting `fortress server` reads. */
export const SERVER_SETTINGS: readonly ConfigSetting[] = [
  {
    key: 'listen',
    env: 'FORTRESS_LISTEN',
    flag: flag('listen', '--listen'),
    type: { kind: 'listen' },
    help: 'host:port ([::1]:8200 for IPv6); default 127.0.0.1:8200',
  },
  {
    key: 'insecure_dev',
    env: 'FORTRESS_INSECURE_DEV',
    flag: flag('insecureDev', '--insecure-dev'),
    type: bool,
    notInFile: true,
    help: 'allows plain HTTP (tls.disable) and the dev-key-file seal; never in production',
  },
  {
    key: 'storage.kind',
    env: 'FORTRESS_STORAGE_KIND',
    type: { kind: 'enum', values: ['sqlite', 'postgres'] },
    help: '"sqlite" (the default: a file in the data directory) or "postgres"',
  },
  {
    key: 'storage.url',
    env: 'FORTRESS_STORAGE_URL',
    type: { kind: 'postgres-url' },
    help: 'postgres: postgres://user@host:port/database (the password goes in FORTRESS_STORAGE_PASSWORD)',
  },
  {
    key: 'storage.schema',
    env: 'FORTRESS_STORAGE_SCHEMA',
    type: text,
    help: 'postgres: the schema to use (it must exist); default the server search_path',
  },
  {
    key: 'storage.password',
    env: 'FORTRESS_STORAGE_PASSWORD',
    type: text,
    secret: true,
    help: 'postgres: the password (environment only)',
  },
  {
    key: 'storage.path',
    env: 'FORTRESS_STORAGE_PATH',
    flag: flag('storagePath', '--data'),
    type: file,
    help: 'the data directory; default ./fortress-data',
  },
  {
    key: 'tls.cert_file',
    env: 'FORTRESS_TLS_CERT_FILE',
    flag: flag('tlsCertFile', '--tls-cert'),
    type: file,
    help: 'PEM certificate (with tls.key_file); default: self-signed in <data>/tls',
  },
  {
    key: 'tls.key_file',
    env: 'FORTRESS_TLS_KEY_FILE',
    flag: flag('tlsKeyFile', '--tls-key'),
    type: file,
    help: 'PEM private key of tls.cert_file',
  },
  {
    key: 'tls.client_ca_file',
    env: 'FORTRESS_TLS_CLIENT_CA_FILE',
    flag: flag('tlsClientCaFile', '--tls-client-ca'),
    type: file,
    help: 'require client certificates signed by this CA (mTLS)',
  },
  {
    key: 'tls.disable',
    env: 'FORTRESS_TLS_DISABLE',
    flag: flag('tlsDisable', '--tls-disable'),
    type: bool,
    help: 'plain HTTP; only with --insecure-dev',
  },
  {
    key: 'seal.kind',
    env: 'FORTRESS_SEAL_KIND',
    flag: flag('sealKind', '--seal'),
    type: { kind: 'enum', values: SEAL_KINDS },
    help: 'how `fortress init` seals the root key; default shamir',
  },
  {
    key: 'seal.shares',
    env: 'FORTRESS_SEAL_SHARES',
    flag: flag('sealShares', '--shares'),
    type: int(1, 255),
    help: 'shamir: shares made; default 5',
  },
  {
    key: 'seal.threshold',
    env: 'FORTRESS_SEAL_THRESHOLD',
    flag: flag('sealThreshold', '--threshold'),
    type: int(1, 255),
    help: 'shamir: shares needed to unseal; default 3',
  },
  {
    key: 'seal.pkcs11_module',
    env: 'FORTRESS_SEAL_PKCS11_MODULE',
    flag: flag('pkcs11Module', '--pkcs11-module'),
    type: file,
    help: 'pkcs11: the PKCS#11 library',
  },
  {
    key: 'seal.pkcs11_token',
    env: 'FORTRESS_SEAL_PKCS11_TOKEN',
    flag: flag('pkcs11Token', '--pkcs11-token'),
    type: text,
    help: 'pkcs11: the token label',
  },
  {
    key: 'seal.pkcs11_pin',
    env: 'FORTRESS_SEAL_PKCS11_PIN',
    type: text,
    secret: true,
    help: 'pkcs11: the user PIN (environment only)',
  },
  {
    key: 'limits.body_bytes',
    env: 'FORTRESS_LIMITS_BODY_BYTES',
    type: int(1024, 1 << 30),
    help: 'largest request body in bytes; default 1048576',
  },
  {
    key: 'limits.request_timeout_ms',
    env: 'FORTRESS_LIMITS_REQUEST_TIMEOUT_MS',
    type: int(100, 3_600_000),
    help: 'default 30000',
  },
  {
    key: 'limits.rate_limit_per_token',
    env: 'FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN',
    type: int(1, 100_000_000),
    help: 'requests per minute per token; default 6000',
  },
  {
    key: 'limits.rate_limit_per_address',
    env: 'FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS',
    type: int(1, 100_000_000),
    help: 'requests per minute per client address; default 12000',
  },
  {
    key: 'limits.max_connections',
    env: 'FORTRESS_LIMITS_MAX_CONNECTIONS',
    type: int(1, 1_000_000),
    help: 'open connections at most; default unlimited',
  },
  {
    key: 'jobs.batch_size',
    env: 'FORTRESS_JOBS_BATCH_SIZE',
    type: int(1, 100_000),
    help: 'rows per transaction of a background job (re-encryption…); default 500',
  },
  {
    key: 'jobs.rows_per_second',
    env: 'FORTRESS_JOBS_ROWS_PER_SECOND',
    type: int(1, 100_000_000),
    help: 'throttle for background jobs, so re-encryption leaves the database room; default unlimited',
  },
  {
    key: 'secrets.database_sweep_interval_ms',
    env: 'FORTRESS_SECRETS_DATABASE_SWEEP_INTERVAL_MS',
    type: int(1000, 86_400_000),
    help: 'how often expired database leases are revoked and static roles rotated; default 60000',
  },
  {
    key: 'logging.level',
    env: 'FORTRESS_LOG_LEVEL',
    flag: flag('logLevel', '--log-level'),
    type: { kind: 'enum', values: LOG_LEVELS },
    help: 'default info',
  },
  {
    key: 'logging.file',
    env: 'FORTRESS_LOG_FILE',
    type: file,
    help: 'append JSON log lines here instead of stdout',
  },
  {
    key: 'auth.token_ttl_seconds',
    env: 'FORTRESS_AUTH_TOKEN_TTL_SECONDS',
    type: int(60, TEN_YEARS),
    help: 'default 86400',
  },
  {
    key: 'auth.token_max_ttl_seconds',
    env: 'FORTRESS_AUTH_TOKEN_MAX_TTL_SECONDS',
    type: int(60, TEN_YEARS),
    help: 'default 2592000 (30 days)',
  },
  {
    key: 'auth.jwt.jwks_file',
    env: 'FORTRESS_AUTH_JWT_JWKS_FILE',
    type: file,
    help: 'JWT login: the issuer keys as a JWKS file (or jwks_url)',
  },
  {
    key: 'auth.jwt.jwks_url',
    env: 'FORTRESS_AUTH_JWT_JWKS_URL',
    type: { kind: 'url' },
    help: 'JWT login: https:// URL of the JWKS (or jwks_file)',
  },
  { key: 'auth.jwt.issuer', env: 'FORTRESS_AUTH_JWT_ISSUER', type: text, help: 'JWT login: required `iss`' },
  {
    key: 'auth.jwt.audience',
    env: 'FORTRESS_AUTH_JWT_AUDIENCE',
    type: text,
    help: 'JWT login: required `aud`',
  },
  {
    key: 'auth.jwt.principal_claim',
    env: 'FORTRESS_AUTH_JWT_PRINCIPAL_CLAIM',
    type: text,
    help: 'claim naming the principal; default sub',
  },
  {
    key: 'auth.jwt.principal_kind',
    env: 'FORTRESS_AUTH_JWT_PRINCIPAL_KIND',
    type: { kind: 'enum', values: ['user', 'service'] },
    help: 'the principal a JWT names is a user (default) or a service account',
  },
  {
    key: 'auth.jwt.roles_claim',
    env: 'FORTRESS_AUTH_JWT_ROLES_CLAIM',
    type: text,
    help: "claim listing the IdP's groups or roles (a string or an array; a.b reaches nested claims)",
  },
  {
    key: 'auth.jwt.role_map',
    env: 'FORTRESS_AUTH_JWT_ROLE_MAP',
    type: { kind: 'role-map' },
    help: 'IdP value = Fortress role; the IdP manages exactly these roles (needs roles_claim)',
  },
  {
    key: 'auth.jwt.create_users',
    env: 'FORTRESS_AUTH_JWT_CREATE_USERS',
    type: bool,
    help: 'create an unknown principal at login, at the lowest clearance; default false',
  },
  {
    key: 'auth.jwt.tenant_claim',
    env: 'FORTRESS_AUTH_JWT_TENANT_CLAIM',
    type: text,
    help: 'claim naming the tenant',
  },
];

function sectionsOf(key: string): string[] {
  const parts = key.split('.');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
}

/** TOML tables the settings live in (`auth`, `auth.jwt`, …). */
export const CONFIG_SECTIONS: ReadonlySet<string> = new Set(
  SERVER_SETTINGS.flatMap((s) => sectionsOf(s.key)),
);

/**
 * `FORTRESS_*` variables that other parts of Fortress read, so a server started from the same
 * shell does not reject them as typos.
 */
const OTHER_FORTRESS_ENV = new Set([
  'FORTRESS_DATA', // the embedded CLI's data directory
  'FORTRESS_PKCS11_PIN', // embedded `fortress init --seal pkcs11`
  'FORTRESS_ADDR', // reserved for the client CLI
  'FORTRESS_TOKEN',
  'FORTRESS_CACERT',
  'FORTRESS_VECTORS_DIR', // test suites
]);

/** True for a `FORTRESS_*` variable that is not a server setting but is read elsewhere. */
export function isOtherFortressEnv(name: string): boolean {
  return OTHER_FORTRESS_ENV.has(name) || name.startsWith('FORTRESS_TEST_');
}
