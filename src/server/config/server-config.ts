/**
 * @module server/config/server-config
 * The `fortress server` configuration: a TOML file, then `FORTRESS_*` environment variables, then
 * command-line flags (each overrides the one before), validated at start. Every problem is
 * reported at once, each naming its key, where it came from (file and key, variable or flag), the
 * offending value (hidden for secrets) and what is expected; unknown keys and variables are errors
 * with the nearest valid name suggested, so a typo never silently falls back to a default.
 *
 * @example
 * ```toml
 * listen = "0.0.0.0:8200"
 * [storage]
 * kind = "sqlite"
 * path = "/var/lib/fortress"
 * [tls]
 * cert_file = "/etc/fortress/server.crt"
 * key_file = "/etc/fortress/server.key"
 * [limits]
 * body_bytes = 1048576
 * ```
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { FortressError } from '../../util/errors.js';

export interface ServerConfig {
  readonly storage: { readonly kind: 'sqlite'; readonly path: string };
  readonly listen: { readonly host: string; readonly port: number };
  /** auto: a self-signed certificate in the data directory; files: the configured ones; off: --insecure-dev only. */
  readonly tls: {
    readonly mode: 'auto' | 'files' | 'off';
    readonly certFile?: string;
    readonly keyFile?: string;
    /** mTLS: client certificates are required and checked against this CA. */
    readonly clientCaFile?: string;
  };
  readonly insecureDev: boolean;
  readonly limits: {
    readonly bodyBytes: number;
    readonly requestTimeoutMs: number;
    /** Requests per minute. */
    readonly rateLimitPerToken: number;
    readonly rateLimitPerAddress: number;
  };
  readonly logging: { readonly level: LogLevel; readonly file?: string };
  readonly auth: { readonly tokenTtlSeconds: number; readonly tokenMaxTtlSeconds: number };
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Flag values (`fortress server --…`), already split by the CLI. */
export interface ServerFlags {
  readonly storagePath?: string;
  readonly listen?: string;
  readonly insecureDev?: boolean;
  readonly logLevel?: string;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  readonly tlsClientCaFile?: string;
}

type Kind = 'string' | 'path' | 'listen' | 'integer' | 'boolean' | 'level' | 'storageKind';

interface Setting {
  /** Dotted key in the TOML file. */
  readonly key: string;
  readonly env: string;
  readonly flag?: keyof ServerFlags;
  readonly kind: Kind;
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
}

/** Every setting: TOML key, environment variable, flag. `fortress config check` and the docs list them. */
export const SERVER_SETTINGS: readonly Setting[] = [
  {
    key: 'listen',
    env: 'FORTRESS_LISTEN',
    flag: 'listen',
    kind: 'listen',
    help: 'host:port ([::1]:8200 for IPv6); default 127.0.0.1:8200',
  },
  { key: 'storage.kind', env: 'FORTRESS_STORAGE_KIND', kind: 'storageKind', help: '"sqlite" (the default)' },
  {
    key: 'storage.path',
    env: 'FORTRESS_STORAGE_PATH',
    flag: 'storagePath',
    kind: 'path',
    help: 'the data directory; default ./fortress-data',
  },
  {
    key: 'tls.cert_file',
    env: 'FORTRESS_TLS_CERT_FILE',
    flag: 'tlsCertFile',
    kind: 'path',
    help: 'PEM certificate (with key_file); default: self-signed in <data>/tls',
  },
  {
    key: 'tls.key_file',
    env: 'FORTRESS_TLS_KEY_FILE',
    flag: 'tlsKeyFile',
    kind: 'path',
    help: 'PEM private key',
  },
  {
    key: 'tls.client_ca_file',
    env: 'FORTRESS_TLS_CLIENT_CA_FILE',
    flag: 'tlsClientCaFile',
    kind: 'path',
    help: 'require client certificates signed by this CA (mTLS)',
  },
  {
    key: 'insecure_dev',
    env: 'FORTRESS_INSECURE_DEV',
    flag: 'insecureDev',
    kind: 'boolean',
    help: 'plain HTTP and the dev key file seal; never in production',
  },
  {
    key: 'limits.body_bytes',
    env: 'FORTRESS_LIMITS_BODY_BYTES',
    kind: 'integer',
    min: 1024,
    max: 1 << 30,
    help: 'largest request body; default 1048576',
  },
  {
    key: 'limits.request_timeout_ms',
    env: 'FORTRESS_LIMITS_REQUEST_TIMEOUT_MS',
    kind: 'integer',
    min: 100,
    max: 3_600_000,
    help: 'default 30000',
  },
  {
    key: 'limits.rate_limit_per_token',
    env: 'FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN',
    kind: 'integer',
    min: 1,
    max: 100_000_000,
    help: 'requests per minute per token; default 6000',
  },
  {
    key: 'limits.rate_limit_per_address',
    env: 'FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS',
    kind: 'integer',
    min: 1,
    max: 100_000_000,
    help: 'requests per minute per client address; default 12000',
  },
  {
    key: 'logging.level',
    env: 'FORTRESS_LOG_LEVEL',
    flag: 'logLevel',
    kind: 'level',
    help: `${LOG_LEVELS.join(', ')}; default info`,
  },
  {
    key: 'logging.file',
    env: 'FORTRESS_LOG_FILE',
    kind: 'path',
    help: 'append JSON log lines here instead of stdout',
  },
  {
    key: 'auth.token_ttl_seconds',
    env: 'FORTRESS_AUTH_TOKEN_TTL_SECONDS',
    kind: 'integer',
    min: 60,
    max: 10 * 365 * 86_400,
    help: 'default 86400',
  },
  {
    key: 'auth.token_max_ttl_seconds',
    env: 'FORTRESS_AUTH_TOKEN_MAX_TTL_SECONDS',
    kind: 'integer',
    min: 60,
    max: 10 * 365 * 86_400,
    help: 'default 2592000 (30 days)',
  },
];

/** Environment variables that are not settings but are allowed (read elsewhere). */
const OTHER_ENV = new Set([
  'FORTRESS_TEST_PG_URL',
  'FORTRESS_VECTORS_DIR',
  'FORTRESS_ADDR',
  'FORTRESS_TOKEN',
  'FORTRESS_CACERT',
]);

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return d[a.length]![b.length]!;
}

function suggest(name: string, candidates: readonly string[]): string {
  let best = '';
  let bestScore = Infinity;
  for (const c of candidates) {
    const score = distance(name.toLowerCase(), c.toLowerCase());
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  if (bestScore <= Math.max(2, Math.floor(best.length / 3))) return ` (did you mean ${best}?)`;
  // A known key with something appended (listen_address → listen).
  const stem = candidates.find((c) => name.toLowerCase().startsWith(`${c.toLowerCase()}_`));
  return stem === undefined ? '' : ` (did you mean ${stem}?)`;
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** Flattens a TOML document into dotted keys; tables nest one level (the settings' sections). */
function flatten(doc: Record<string, unknown>, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(doc)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date))
      out.push(...flatten(v as Record<string, unknown>, key));
    else out.push([key, v]);
  }
  return out;
}

/**
 * Loads and validates the configuration (flags > environment > file > defaults). Throws
 * `FX_CONFIG_INVALID` listing every problem, one per line.
 */
export function loadServerConfig(input: {
  file?: string;
  env?: Readonly<Record<string, string | undefined>>;
  flags?: ServerFlags;
  cwd?: string;
}): ServerConfig {
  const cwd = input.cwd ?? process.cwd();
  const problems: string[] = [];
  const values = new Map<string, unknown>();
  const byKey = new Map(SERVER_SETTINGS.map((s) => [s.key, s]));

  const accept = (setting: Setting, raw: unknown, source: string, base: string): void => {
    const bad = (expected: string): void => {
      problems.push(`${source}: ${shown(raw)} is not valid; expected ${expected}`);
    };
    const fromText = typeof raw === 'string' && source.startsWith('FORTRESS_');
    switch (setting.kind) {
      case 'path':
      case 'string': {
        if (typeof raw !== 'string' || raw.trim() === '' || raw.length > 4096 || raw.includes('\0')) {
          bad('a non-empty path');
          return;
        }
        values.set(setting.key, setting.kind === 'path' ? path.resolve(base, raw) : raw);
        return;
      }
      case 'storageKind':
        if (raw !== 'sqlite') {
          bad('"sqlite" (PostgreSQL storage is not available yet)');
          return;
        }
        values.set(setting.key, raw);
        return;
      case 'level':
        if (typeof raw !== 'string' || !(LOG_LEVELS as readonly string[]).includes(raw)) {
          bad(`one of ${LOG_LEVELS.join(', ')}`);
          return;
        }
        values.set(setting.key, raw);
        return;
      case 'boolean': {
        const value = fromText
          ? raw === '1' || raw === 'true'
            ? true
            : raw === '0' || raw === 'false'
              ? false
              : raw
          : raw;
        if (typeof value !== 'boolean') {
          bad(fromText ? '1, 0, true or false' : 'true or false');
          return;
        }
        values.set(setting.key, value);
        return;
      }
      case 'integer': {
        const value = fromText && /^-?\d+$/.test(raw) ? Number(raw) : raw;
        if (
          typeof value !== 'number' ||
          !Number.isSafeInteger(value) ||
          value < setting.min! ||
          value > setting.max!
        ) {
          bad(`an integer from ${setting.min!} to ${setting.max!}`);
          return;
        }
        values.set(setting.key, value);
        return;
      }
      case 'listen': {
        const match =
          typeof raw === 'string' ? /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw) : null;
        const port = match === null ? NaN : Number(match[2]);
        if (match === null || port > 65535) {
          bad('host:port, e.g. 127.0.0.1:8200 or [::1]:8200');
          return;
        }
        values.set(setting.key, { host: match[1]!.replace(/^\[|\]$/g, ''), port });
        return;
      }
    }
  };

  if (input.file !== undefined) {
    const file = path.resolve(cwd, input.file);
    let text: string | null = null;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(
        `${file}: cannot read the configuration file (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    if (text !== null) {
      let doc: Record<string, unknown> | null = null;
      try {
        doc = parseToml(text);
      } catch (error) {
        const where = error instanceof TomlError ? ` at line ${error.line}, column ${error.column}` : '';
        problems.push(`${file}: not valid TOML${where}`);
      }
      for (const [key, raw] of doc === null ? [] : flatten(doc)) {
        const setting = byKey.get(key);
        if (setting === undefined) {
          problems.push(`${file}: unknown key ${key}${suggest(key, [...byKey.keys()])}`);
          continue;
        }
        accept(setting, raw, `${file}: ${key}`, path.dirname(file));
      }
    }
  }
  const env = input.env ?? {};
  const envNames = SERVER_SETTINGS.map((s) => s.env);
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('FORTRESS_') || raw === undefined || OTHER_ENV.has(name)) continue;
    const setting = SERVER_SETTINGS.find((s) => s.env === name);
    if (setting === undefined) {
      problems.push(`${name}: unknown environment variable${suggest(name, envNames)}`);
      continue;
    }
    accept(setting, raw, name, cwd);
  }
  for (const [flag, raw] of Object.entries(input.flags ?? {})) {
    if (raw === undefined) continue;
    const setting = SERVER_SETTINGS.find((s) => s.flag === flag);
    if (setting === undefined) throw new FortressError('FX_CONFIG_INVALID', `unknown flag ${flag}`);
    accept(setting, raw, `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, cwd);
  }

  const get = <T>(key: string, fallback: T): T => (values.has(key) ? (values.get(key) as T) : fallback);
  const insecureDev = get<boolean>('insecure_dev', false);
  const certFile = get<string | undefined>('tls.cert_file', undefined);
  const keyFile = get<string | undefined>('tls.key_file', undefined);
  const clientCaFile = get<string | undefined>('tls.client_ca_file', undefined);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push(
      'tls: cert_file and key_file go together (set both, or neither for a self-signed certificate)',
    );
  }
  const ttl = get('auth.token_ttl_seconds', 86_400);
  const maxTtl = get('auth.token_max_ttl_seconds', 30 * 86_400);
  if (ttl > maxTtl)
    problems.push(`auth: token_ttl_seconds (${ttl}) exceeds token_max_ttl_seconds (${maxTtl})`);
  if (problems.length > 0) {
    throw new FortressError(
      'FX_CONFIG_INVALID',
      `the server configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
    );
  }
  const listen = get('listen', { host: '127.0.0.1', port: 8200 });
  const tlsMode: ServerConfig['tls']['mode'] =
    certFile !== undefined ? 'files' : insecureDev ? 'off' : 'auto';
  return Object.freeze({
    storage: Object.freeze({
      kind: 'sqlite' as const,
      path: get('storage.path', path.resolve(cwd, 'fortress-data')),
    }),
    listen: Object.freeze(listen),
    tls: Object.freeze({
      mode: tlsMode,
      ...(certFile === undefined ? {} : { certFile }),
      ...(keyFile === undefined ? {} : { keyFile }),
      ...(clientCaFile === undefined ? {} : { clientCaFile }),
    }),
    insecureDev,
    limits: Object.freeze({
      bodyBytes: get('limits.body_bytes', 1 << 20),
      requestTimeoutMs: get('limits.request_timeout_ms', 30_000),
      rateLimitPerToken: get('limits.rate_limit_per_token', 6000),
      rateLimitPerAddress: get('limits.rate_limit_per_address', 12_000),
    }),
    logging: Object.freeze({
      level: get<LogLevel>('logging.level', 'info'),
      ...(values.has('logging.file') ? { file: get('logging.file', '') } : {}),
    }),
    auth: Object.freeze({ tokenTtlSeconds: ttl, tokenMaxTtlSeconds: maxTtl }),
  });
}

/** The configuration as `fortress config check` prints it (it holds no secrets: keys live in files). */
export function describeConfig(config: ServerConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
}
