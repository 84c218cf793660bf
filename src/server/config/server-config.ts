/**
 * @module server/config/server-config
 * The `fortress server` configuration: a TOML file, then `FORTRESS_*` environment variables, then
 * command-line flags (each overrides the one before), validated before anything starts. Every
 * problem is reported at once, each naming its key, where it came from (file, variable or flag),
 * the offending value (hidden for secrets) and what is expected. Unknown keys and variables are
 * errors with the nearest valid name suggested, so a typo never silently falls back to a default.
 * The settings themselves are listed in `config-keys.ts`.
 *
 * @example
 * ```toml
 * listen = "0.0.0.0:8200"
 * [storage]
 * kind = "sqlite"
 * path = "/var/lib/fortress"   # relative paths resolve against this file's directory
 * [tls]
 * cert_file = "/etc/fortress/server.crt"
 * key_file = "/etc/fortress/server.key"
 * [limits]
 * body_bytes = 1048576
 * ```
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { FortressError } from '../../util/errors.js';
import {
  CONFIG_SECTIONS,
  SERVER_SETTINGS,
  isOtherFortressEnv,
  type ConfigSetting,
  type FlagValues,
  type LogLevel,
  type SealKind,
} from './config-keys.js';

export {
  LOG_LEVELS,
  SEAL_KINDS,
  SERVER_SETTINGS,
  type ConfigSetting,
  type FlagValues,
  type LogLevel,
  type SealKind,
} from './config-keys.js';

/** @deprecated use `Partial<FlagValues>`. */
export type ServerFlags = Partial<FlagValues>;

/** The resolved configuration: every default applied, every path absolute, deeply frozen. */
export interface ServerConfig {
  /** `path` is the data directory in both cases (with PostgreSQL: manifest, TLS, verifier key). */
  readonly storage:
    | { readonly kind: 'sqlite'; readonly path: string }
    | {
        readonly kind: 'postgres';
        readonly path: string;
        /** Without the password. */
        readonly url: string;
        readonly schema?: string;
        /** From FORTRESS_STORAGE_PASSWORD only; `describeConfig` hides it. */
        readonly password?: string;
      };
  readonly listen: { readonly host: string; readonly port: number };
  /** auto: a self-signed certificate in `<data>/tls`; files: the configured ones; off: only with insecureDev. */
  readonly tls: {
    readonly mode: 'auto' | 'files' | 'off';
    readonly certFile?: string;
    readonly keyFile?: string;
    /** mTLS: client certificates are required and verified against this CA. */
    readonly clientCaFile?: string;
  };
  readonly insecureDev: boolean;
  /** How `fortress init` seals the root key. */
  readonly seal: {
    readonly kind: SealKind;
    readonly shares?: number;
    readonly threshold?: number;
    readonly pkcs11Module?: string;
    readonly pkcs11Token?: string;
    /** From FORTRESS_SEAL_PKCS11_PIN only; `describeConfig` hides it. */
    readonly pkcs11Pin?: string;
  };
  readonly limits: {
    readonly bodyBytes: number;
    readonly requestTimeoutMs: number;
    /** Requests per minute. */
    readonly rateLimitPerToken: number;
    readonly rateLimitPerAddress: number;
    readonly maxConnections?: number;
  };
  /** Background jobs (re-encryption after a rotation…): batch size and throttle. */
  readonly jobs: { readonly batchSize?: number; readonly rowsPerSecond?: number };
  /** The secrets engines: how often the database engine's sweeper runs (ms). */
  readonly secrets: { readonly databaseSweepIntervalMs?: number };
  readonly logging: { readonly level: LogLevel; readonly file?: string };
  readonly auth: {
    readonly tokenTtlSeconds: number;
    readonly tokenMaxTtlSeconds: number;
    readonly jwt?: {
      readonly jwksFile?: string;
      readonly jwksUrl?: string;
      readonly issuer: string;
      readonly audience: string;
      readonly principalClaim: string;
      /** Whether the principal a JWT names is a user or a service account. */
      readonly kind: 'user' | 'service';
      readonly rolesClaim?: string;
      /** IdP value → Fortress role: the roles the IdP manages. */
      readonly roleMap?: Readonly<Record<string, string>>;
      readonly createUsers: boolean;
      readonly tenantClaim?: string;
    };
  };
}

export interface LoadServerConfigInput {
  /** The TOML file; relative paths in it resolve against its directory. */
  readonly file?: string;
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly flags?: Partial<FlagValues>;
  /** What relative paths from flags and the environment resolve against. @default process.cwd() */
  readonly cwd?: string;
}

const HIDDEN = '(hidden)';
/** What an unknown file key may be a typo of. */
const FILE_KEYS = [
  ...SERVER_SETTINGS.filter((s) => s.secret !== true && s.notInFile !== true).map((s) => s.key),
  ...CONFIG_SECTIONS,
];

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * " (did you mean X?)" when some candidate is close, else "". `prefix`, shared by every name, is
 * left out of the comparison so that it does not make unrelated names look alike.
 */
function suggestion(name: string, candidates: readonly string[], prefix = ''): string {
  const strip = (s: string): string => s.slice(prefix.length).toLowerCase();
  const wanted = strip(name);
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of candidates) {
    const score = editDistance(wanted, strip(candidate));
    if (score < bestScore) [best, bestScore] = [candidate, score];
  }
  if (best !== undefined && bestScore <= Math.max(2, Math.floor(strip(best).length / 3))) {
    return ` (did you mean ${best}?)`;
  }
  // A valid name with words appended: listen_address → listen.
  const stem = candidates.find((c) => wanted.startsWith(`${strip(c)}_`));
  return stem === undefined ? '' : ` (did you mean ${stem}?)`;
}

/** A URL with any password replaced: a rejected jwks_url must not print its credentials. */
function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = HIDDEN;
    return url.href;
  } catch {
    return value;
  }
}

function show(setting: ConfigSetting, raw: unknown): string {
  if (setting.secret === true) return HIDDEN;
  const value =
    (setting.type.kind === 'url' || setting.type.kind === 'postgres-url') && typeof raw === 'string'
      ? redactUrl(raw)
      : raw;
  const text =
    typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
      ? String(value)
      : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

const TEXT_BOOLEANS = new Map([
  ['1', true],
  ['true', true],
  ['0', false],
  ['false', false],
]);

type Converted = { readonly value: unknown } | { readonly expected: string };

/** Role names as access control accepts them; role-map keys as the JWT login accepts IdP values. */
const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const IDP_VALUE = /^[^\u0000-\u001f\u007f-\u009f]{1,256}$/;
const MAX_ROLE_MAP_ENTRIES = 1024;

const LISTEN = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Checks one raw value against its setting. `fromText` (environment and flags) lets "8200" stand for
 * 8200 and "1" for true; the TOML file is typed, so there a quoted number is an error.
 */
function convert(setting: ConfigSetting, raw: unknown, fromText: boolean, base: string): Converted {
  const type = setting.type;
  const isText = (value: unknown): value is string =>
    typeof value === 'string' &&
    value.trim() !== '' &&
    value.length <= 4096 &&
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    !/[\u0000-\u001f\u007f]/.test(value);
  switch (type.kind) {
    case 'string':
      return isText(raw) ? { value: raw } : { expected: 'a non-empty string without control characters' };
    case 'path':
      return isText(raw) ? { value: path.resolve(base, raw) } : { expected: 'a file path' };
    case 'postgres-url': {
      const url = isText(raw) && URL.canParse(raw) ? new URL(raw) : null;
      if (url === null || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
        return { expected: 'a postgres:// URL' };
      }
      if (url.password !== '') {
        return { expected: 'a URL without a password (set FORTRESS_STORAGE_PASSWORD)' };
      }
      return { value: url.href };
    }
    case 'url': {
      const url = isText(raw) && URL.canParse(raw) ? new URL(raw) : null;
      if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
        return { expected: 'an https:// URL' };
      }
      if (url.username !== '' || url.password !== '') return { expected: 'a URL without credentials' };
      return { value: url.href };
    }
    case 'enum':
      return typeof raw === 'string' && type.values.includes(raw)
        ? { value: raw }
        : { expected: `one of ${type.values.join(', ')}` };
    case 'boolean': {
      const value = fromText && typeof raw === 'string' ? TEXT_BOOLEANS.get(raw) : raw;
      return typeof value === 'boolean'
        ? { value }
        : { expected: fromText ? '1, 0, true or false' : 'true or false' };
    }
    case 'integer': {
      const value = fromText && typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : raw;
      return typeof value === 'number' &&
        Number.isSafeInteger(value) &&
        value >= type.min &&
        value <= type.max
        ? { value }
        : { expected: `an integer from ${type.min} to ${type.max}` };
    }
    case 'role-map': {
      let map: unknown = raw;
      if (fromText && typeof raw === 'string') {
        try {
          map = JSON.parse(raw);
        } catch {
          map = undefined;
        }
      }
      if (!isTable(map)) {
        return {
          expected: fromText
            ? 'a JSON object of "IdP value": "Fortress role" strings'
            : 'a table of "IdP value" = "Fortress role" strings',
        };
      }
      const entries = Object.entries(map);
      if (entries.length > MAX_ROLE_MAP_ENTRIES) {
        return { expected: `at most ${MAX_ROLE_MAP_ENTRIES} "IdP value" = "Fortress role" entries` };
      }
      for (const [value, role] of entries) {
        if (!IDP_VALUE.test(value) || !value.isWellFormed()) {
          return { expected: 'IdP values of 1 to 256 characters without control characters' };
        }
        if (typeof role !== 'string' || !ROLE_NAME.test(role)) {
          return {
            expected: `a Fortress role name for ${JSON.stringify(value.slice(0, 64))} (letters, digits and _ . @ -, at most 128, starting with a letter or digit)`,
          };
        }
      }
      return { value: Object.freeze(Object.fromEntries(entries)) };
    }
    case 'listen': {
      const match = typeof raw === 'string' ? LISTEN.exec(raw) : null;
      const expected = 'host:port, e.g. 127.0.0.1:8200 or [::1]:8200 (IPv6 in brackets)';
      if (match === null) return { expected };
      const [, ipv6, host, port] = match;
      if (ipv6 !== undefined && isIP(ipv6) !== 6) return { expected };
      // All-digit names that are not IPv4 addresses (999.1.1.1) are typos, not hosts.
      if (host !== undefined && isIP(host) === 0 && (!HOSTNAME.test(host) || /^[\d.]+$/.test(host))) {
        return { expected };
      }
      if (Number(port) > 65_535) return { expected: 'a port from 0 to 65535' };
      return { value: { host: ipv6 ?? host!, port: Number(port) } };
    }
  }
}

/** A value that was accepted, and where it came from (for messages about combinations). */
interface Accepted {
  readonly value: unknown;
  readonly where: string;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

/** Reads and parses the file; null (and a problem) when it cannot. */
function readToml(absolute: string, file: string, problems: string[]): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    problems.push(`cannot read the configuration file ${file} (${code})`);
    return null;
  }
  try {
    return parseToml(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // Only the position and smol-toml's reason: its code excerpt could quote a secret.
    const reason = error.message.split('\n', 1)[0]!.replace(/^Invalid TOML document: /, '');
    problems.push(`${file} is not valid TOML: line ${error.line}, column ${error.column}: ${reason}`);
    return null;
  }
}

/** The document's known settings as [dotted key, value]; unknown keys and misplaced tables become problems. */
function settingsIn(
  table: Record<string, unknown>,
  prefix: string,
  file: string,
  problems: string[],
): [string, unknown][] {
  const found: [string, unknown][] = [];
  for (const [name, raw] of Object.entries(table)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (CONFIG_SECTIONS.has(key)) {
      if (isTable(raw)) found.push(...settingsIn(raw, key, file, problems));
      else problems.push(`${key} in ${file}: got ${JSON.stringify(raw)}, expected a table ([${key}])`);
    } else if (SERVER_SETTINGS.some((s) => s.key === key)) {
      found.push([key, raw]);
    } else {
      problems.push(`unknown key ${key} in ${file}${suggestion(key, FILE_KEYS)}`);
    }
  }
  return found;
}

/**
 * Loads and validates the configuration: flags > environment > file > defaults. Throws
 * `FX_CONFIG_INVALID` listing every problem, one per line (a bad value is reported even when a
 * higher-precedence source overrides it: it would bite the day the override goes away).
 *
 * @example
 * ```ts
 * const config = loadServerConfig({ file: 'fortress.toml', env: process.env, flags: { insecureDev: true } });
 * ```
 */
export function loadServerConfig(input: LoadServerConfigInput = {}): ServerConfig {
  const cwd = input.cwd ?? process.cwd();
  const problems: string[] = [];
  const accepted = new Map<string, Accepted>();
  const byKey = new Map(SERVER_SETTINGS.map((s) => [s.key, s]));

  const take = (
    setting: ConfigSetting,
    raw: unknown,
    where: string,
    fromText: boolean,
    base: string,
  ): void => {
    const result = convert(setting, raw, fromText, base);
    if ('expected' in result)
      problems.push(`${where}: got ${show(setting, raw)}, expected ${result.expected}`);
    else accepted.set(setting.key, { value: result.value, where });
  };

  if (input.file !== undefined) {
    const file = input.file;
    const doc = readToml(path.resolve(cwd, file), file, problems);
    const base = path.dirname(path.resolve(cwd, file));
    for (const [key, raw] of doc === null ? [] : settingsIn(doc, '', file, problems)) {
      const setting = byKey.get(key)!;
      if (setting.secret === true) {
        problems.push(
          `${key} in ${file}: ${HIDDEN}: a secret is read only from ${setting.env}, never from a file`,
        );
      } else if (setting.notInFile === true) {
        problems.push(
          `${key} in ${file}: not allowed in a file; pass ${setting.flag!.option} or set ${setting.env}=1`,
        );
      } else {
        take(setting, raw, `${key} in ${file}`, false, base);
      }
    }
  }

  const envNames = SERVER_SETTINGS.map((s) => s.env);
  for (const [name, raw] of Object.entries(input.env ?? process.env)) {
    if (!name.startsWith('FORTRESS_') || raw === undefined || raw === '' || isOtherFortressEnv(name))
      continue;
    const setting = SERVER_SETTINGS.find((s) => s.env === name);
    if (setting === undefined)
      problems.push(`unknown environment variable ${name}${suggestion(name, envNames, 'FORTRESS_')}`);
    else take(setting, raw, `${setting.key} from ${name}`, true, cwd);
  }

  for (const [field, raw] of Object.entries(input.flags ?? {}) as [string, unknown][]) {
    if (raw === undefined) continue;
    const setting = SERVER_SETTINGS.find((s) => s.flag?.field === field);
    if (setting === undefined) problems.push(`unknown flag field ${field}`);
    else take(setting, raw, `${setting.key} from ${setting.flag!.option}`, true, cwd);
  }

  const config = applyDefaults(accepted, problems, cwd);
  if (problems.length > 0) {
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    throw new FortressError(
      'FX_CONFIG_INVALID',
      `the server configuration has ${count}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return config;
}

/** Applies defaults and checks settings against each other; adds to `problems`. */
function applyDefaults(
  accepted: ReadonlyMap<string, Accepted>,
  problems: string[],
  cwd: string,
): ServerConfig {
  const value = (key: string): unknown => accepted.get(key)?.value;
  const text = (key: string) => value(key) as string | undefined;
  const num = (key: string) => value(key) as number | undefined;
  const bool = (key: string) => value(key) as boolean | undefined;
  const where = (key: string): string => accepted.get(key)?.where ?? key;
  const optional = <K extends string, V>(name: K, given: V | undefined): Partial<Record<K, V>> =>
    (given === undefined ? {} : { [name]: given }) as Partial<Record<K, V>>;

  const insecureDev = bool('insecure_dev') ?? false;
  const insecureHint = 'pass --insecure-dev (or set FORTRESS_INSECURE_DEV=1) on a development machine';

  const certFile = text('tls.cert_file');
  const keyFile = text('tls.key_file');
  const clientCaFile = text('tls.client_ca_file');
  const disable = bool('tls.disable') ?? false;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const [set, missing] =
      certFile === undefined ? ['tls.key_file', 'tls.cert_file'] : ['tls.cert_file', 'tls.key_file'];
    problems.push(`${where(set)}: ${missing} is missing; set both, or neither for a self-signed certificate`);
  }
  if (disable && !insecureDev) {
    problems.push(`${where('tls.disable')}: plain HTTP sends tokens and data unencrypted; ${insecureHint}`);
  }
  if (disable && (certFile ?? keyFile ?? clientCaFile) !== undefined) {
    problems.push(`${where('tls.disable')}: conflicts with the TLS files that are also configured`);
  }

  const storageKind = (value('storage.kind') as 'sqlite' | 'postgres' | undefined) ?? 'sqlite';
  if (storageKind === 'postgres' && !accepted.has('storage.url')) {
    problems.push(
      `${where('storage.kind')}: postgres needs storage.url (postgres://user@host:port/database)`,
    );
  }
  for (const key of ['storage.url', 'storage.schema', 'storage.password']) {
    if (storageKind !== 'postgres' && accepted.has(key)) {
      problems.push(`${where(key)}: does not apply to storage.kind ${storageKind}`);
    }
  }

  const sealKind = (value('seal.kind') as SealKind | undefined) ?? 'shamir';
  const sealKeys = [
    'seal.shares',
    'seal.threshold',
    'seal.pkcs11_module',
    'seal.pkcs11_token',
    'seal.pkcs11_pin',
  ];
  for (const key of sealKeys) {
    const applies = key.includes('pkcs11') ? sealKind === 'pkcs11' : sealKind === 'shamir';
    if (!applies && accepted.has(key)) {
      problems.push(`${where(key)}: does not apply to seal.kind ${sealKind}`);
    }
  }
  const shares = sealKind === 'shamir' ? (num('seal.shares') ?? 5) : undefined;
  const threshold = sealKind === 'shamir' ? (num('seal.threshold') ?? 3) : undefined;
  if (shares !== undefined && threshold !== undefined && threshold > shares) {
    problems.push(`${where('seal.threshold')}: threshold ${threshold} exceeds seal.shares ${shares}`);
  }
  if (sealKind === 'pkcs11') {
    for (const key of ['seal.pkcs11_module', 'seal.pkcs11_token']) {
      if (!accepted.has(key)) problems.push(`${where('seal.kind')}: pkcs11 needs ${key}`);
    }
  }
  if (sealKind === 'dev-key-file' && !insecureDev) {
    problems.push(
      `${where('seal.kind')}: dev-key-file keeps the unseal key beside the data; ${insecureHint}`,
    );
  }

  const tokenTtlSeconds = num('auth.token_ttl_seconds') ?? 86_400;
  const tokenMaxTtlSeconds = num('auth.token_max_ttl_seconds') ?? 30 * 86_400;
  if (tokenTtlSeconds > tokenMaxTtlSeconds) {
    problems.push(
      `${where('auth.token_ttl_seconds')}: ${tokenTtlSeconds} exceeds auth.token_max_ttl_seconds (${tokenMaxTtlSeconds})`,
    );
  }

  let jwt: NonNullable<ServerConfig['auth']['jwt']> | undefined;
  if ([...accepted.keys()].some((key) => key.startsWith('auth.jwt.'))) {
    const jwksFile = text('auth.jwt.jwks_file');
    const jwksUrl = text('auth.jwt.jwks_url');
    const issuer = text('auth.jwt.issuer');
    const audience = text('auth.jwt.audience');
    if ((jwksFile === undefined) === (jwksUrl === undefined)) {
      problems.push('auth.jwt: set exactly one of auth.jwt.jwks_file and auth.jwt.jwks_url');
    }
    if (jwksUrl?.startsWith('http:') === true && !insecureDev) {
      problems.push(
        `${where('auth.jwt.jwks_url')}: http:// lets a network attacker swap the keys; use https://`,
      );
    }
    if (issuer === undefined) problems.push('auth.jwt: auth.jwt.issuer is required');
    if (audience === undefined) problems.push('auth.jwt: auth.jwt.audience is required');
    const rolesClaim = text('auth.jwt.roles_claim');
    const roleMap = value('auth.jwt.role_map') as Readonly<Record<string, string>> | undefined;
    if (roleMap !== undefined && rolesClaim === undefined) {
      problems.push(
        `${where('auth.jwt.role_map')}: needs auth.jwt.roles_claim, the claim the IdP lists groups or roles in`,
      );
    }
    jwt = Object.freeze({
      ...optional('jwksFile', jwksFile),
      ...optional('jwksUrl', jwksUrl),
      issuer: issuer ?? '',
      audience: audience ?? '',
      principalClaim: text('auth.jwt.principal_claim') ?? 'sub',
      kind: (value('auth.jwt.principal_kind') as 'user' | 'service' | undefined) ?? 'user',
      ...optional('rolesClaim', rolesClaim),
      ...optional('roleMap', roleMap),
      createUsers: bool('auth.jwt.create_users') ?? false,
      ...optional('tenantClaim', text('auth.jwt.tenant_claim')),
    });
  }

  return Object.freeze({
    storage: Object.freeze(
      storageKind === 'postgres'
        ? {
            kind: 'postgres' as const,
            path: text('storage.path') ?? path.resolve(cwd, 'fortress-data'),
            url: text('storage.url') ?? '',
            ...optional('schema', text('storage.schema')),
            ...optional('password', text('storage.password')),
          }
        : { kind: 'sqlite' as const, path: text('storage.path') ?? path.resolve(cwd, 'fortress-data') },
    ),
    listen: Object.freeze(
      (value('listen') as ServerConfig['listen'] | undefined) ?? { host: '127.0.0.1', port: 8200 },
    ),
    tls: Object.freeze({
      mode: disable ? ('off' as const) : certFile !== undefined ? ('files' as const) : ('auto' as const),
      ...optional('certFile', certFile),
      ...optional('keyFile', keyFile),
      ...optional('clientCaFile', clientCaFile),
    }),
    insecureDev,
    seal: Object.freeze({
      kind: sealKind,
      ...optional('shares', shares),
      ...optional('threshold', threshold),
      ...optional('pkcs11Module', text('seal.pkcs11_module')),
      ...optional('pkcs11Token', text('seal.pkcs11_token')),
      ...optional('pkcs11Pin', text('seal.pkcs11_pin')),
    }),
    limits: Object.freeze({
      bodyBytes: num('limits.body_bytes') ?? 1 << 20,
      requestTimeoutMs: num('limits.request_timeout_ms') ?? 30_000,
      rateLimitPerToken: num('limits.rate_limit_per_token') ?? 6000,
      rateLimitPerAddress: num('limits.rate_limit_per_address') ?? 12_000,
      ...optional('maxConnections', num('limits.max_connections')),
    }),
    jobs: Object.freeze({
      ...optional('batchSize', num('jobs.batch_size')),
      ...optional('rowsPerSecond', num('jobs.rows_per_second')),
    }),
    secrets: Object.freeze({
      ...optional('databaseSweepIntervalMs', num('secrets.database_sweep_interval_ms')),
    }),
    logging: Object.freeze({
      level: (value('logging.level') as LogLevel | undefined) ?? 'info',
      ...optional('file', text('logging.file')),
    }),
    auth: Object.freeze({ tokenTtlSeconds, tokenMaxTtlSeconds, ...optional('jwt', jwt) }),
  });
}

/**
 * The configuration as `fortress config check --json` prints it: a plain copy with secrets
 * replaced by "(hidden)".
 */
export function describeConfig(config: ServerConfig): Record<string, unknown> {
  const shown = JSON.parse(JSON.stringify(config)) as { seal: { pkcs11Pin?: string } } & Record<
    string,
    unknown
  >;
  if (shown.seal.pkcs11Pin !== undefined) shown.seal.pkcs11Pin = HIDDEN;
  const storage = shown['storage'] as { password?: string };
  if (storage.password !== undefined) storage.password = HIDDEN;
  return shown;
}
