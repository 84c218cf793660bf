/**
 * @module client/fortress-client
 * The TypeScript SDK of a Fortress server: one typed method per route, grouped as the API is
 * (`sys`, `auth`, `db`, `keys`, `policies`, `principals`, `audit`, `kv`, `transit`,
 * `database`). It needs
 * only a `fetch` — Node 20+, Deno, Bun and browsers — and imports nothing of the server or the
 * engine at run time.
 */
import { HttpTransport } from './http-transport.js';
import { AuditApi } from './api/audit-api.js';
import { AuthApi } from './api/auth-api.js';
import { DbApi } from './api/db-api.js';
import { KeysApi } from './api/keys-api.js';
import { KvApi } from './api/kv-api.js';
import { PoliciesApi } from './api/policies-api.js';
import { PrincipalsApi } from './api/principals-api.js';
import { SysApi } from './api/sys-api.js';
import { TransitApi } from './api/transit-api.js';
import { DatabaseApi } from './api/database-api.js';

export interface FortressClientOptions {
  /** The server's base URL, e.g. `https://fortress.internal:8200` (a path prefix is kept). */
  readonly address: string;
  /** A bearer token; `auth.login` sets one, and so can `client.token = …`. */
  readonly token?: string;
  /** The fetch to use (a test double, a proxy-aware fetch). @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Retries of an idempotent request after a network failure, a 429 or a transient 503. @default 3 */
  readonly retries?: number;
  /** The most a call may take, retries included (for streams: the longest wait for data). @default 30000 */
  readonly timeoutMs?: number;
  /** A User-Agent header (browsers ignore it). @default none */
  readonly userAgent?: string;
  /**
   * A working security level below the principal's clearance (`X-Fortress-Level`), e.g. to write
   * rows at a lower level; also settable later as `client.level`. @default the clearance
   */
  readonly level?: string;
}

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'address',
  'token',
  'fetch',
  'retries',
  'timeoutMs',
  'userAgent',
  'level',
]);

/** A misspelt or unsupported option is an error, not silently ignored (a `ca` would fail later, at TLS). */
function checkOptionNames(options: object): void {
  for (const name of Object.keys(options)) {
    if (OPTION_NAMES.has(name)) continue;
    const hint =
      name === 'ca' || name === 'caCert' || name === 'tls'
        ? ': the SDK only uses fetch — trust a private CA with NODE_EXTRA_CA_CERTS=<file>, or pass a fetch whose dispatcher trusts it (options.fetch)'
        : `; expected ${[...OPTION_NAMES].join(', ')}`;
    throw new TypeError(`options.${name}: unknown option${hint}`);
  }
}

/** Tokens go into a header: only visible ASCII, so a stray newline cannot split the request. */
const TOKEN_RE = /^[\x21-\x7e]{1,4096}$/;

function checkToken(token: unknown): string | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== 'string' || !TOKEN_RE.test(token)) {
    throw new TypeError('token: expected 1-4096 visible ASCII characters');
  }
  return token;
}

function checkLevel(level: unknown): string | undefined {
  if (level === undefined) return undefined;
  if (typeof level !== 'string' || !/^[\x20-\x7e]{1,256}$/.test(level) || level.trim() !== level) {
    throw new TypeError('level: expected one label such as "secret" (1-256 printable ASCII characters)');
  }
  return level;
}

function checkAddress(address: unknown): string {
  if (typeof address !== 'string') throw new TypeError('address: expected a URL string');
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TypeError(`address: not a URL: ${JSON.stringify(address.slice(0, 200))}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError('address: expected an http: or https: URL');
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new TypeError('address: expected no query, fragment or credentials');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function checkCount(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

/**
 * A client of one Fortress server.
 *
 * @example
 * ```ts
 * import { FortressClient, isFortressClientError } from 'fortress/client';
 *
 * const client = new FortressClient({ address: 'https://fortress.internal:8200' });
 * await client.auth.login('ann', process.env.FORTRESS_PASSWORD!);
 * await client.db.insert('patients', { email: 'ann@example.com', admittedAt: new Date() });
 * const rows = await client.db.find('patients', { where: { email: 'ann@example.com' } });
 * try {
 *   await client.db.get('patients', 999);
 * } catch (error) {
 *   if (!isFortressClientError(error, 'FX_ROW_NOT_FOUND')) throw error;
 * }
 * ```
 */
export class FortressClient {
  /** Health, status, init, unseal, seal. */
  readonly sys: SysApi;
  /** Login, passwords, tokens. */
  readonly auth: AuthApi;
  /** Tables, rows, transactions, import and export. */
  readonly db: DbApi;
  /** Data keys, key export, re-encryption jobs. */
  readonly keys: KeysApi;
  /** Cedar policies and policy tools. */
  readonly policies: PoliciesApi;
  /** Users, service accounts, roles, groups, row filters. */
  readonly principals: PrincipalsApi;
  /** The audit ledger: search, proofs, checkpoints, verification. */
  readonly audit: AuditApi;
  /** Versioned secrets (the KV engine). */
  readonly kv: KvApi;
  /** Encryption as a service (the transit engine): named keys that never leave the server. */
  readonly transit: TransitApi;
  /** Dynamic PostgreSQL credentials (the database secrets engine): connections, roles, leases. */
  readonly database: DatabaseApi;
  /** The base URL requests go to (without a trailing slash). */
  readonly address: string;
  readonly #http: HttpTransport;

  constructor(options: FortressClientOptions) {
    if ((options as unknown) === null || typeof options !== 'object') {
      throw new TypeError(
        'options: expected { address, token?, fetch?, retries?, timeoutMs?, userAgent?, level? }',
      );
    }
    checkOptionNames(options);
    this.address = checkAddress(options.address);
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== 'function') {
      throw new TypeError('fetch: no global fetch here; pass one in options.fetch');
    }
    if (options.userAgent !== undefined && !/^[\x20-\x7e]{1,512}$/.test(options.userAgent)) {
      throw new TypeError('userAgent: expected 1-512 printable ASCII characters');
    }
    this.#http = new HttpTransport(
      Object.freeze({
        baseUrl: this.address,
        // Called as a plain function: a browser's fetch throws when called as another object's method.
        fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
        retries: checkCount(options.retries, 'retries', 3, 0, 10),
        timeoutMs: checkCount(options.timeoutMs, 'timeoutMs', 30_000, 1, 24 * 3_600_000),
        userAgent: options.userAgent,
      }),
      checkToken(options.token),
      checkLevel(options.level),
    );
    this.sys = new SysApi(this.#http);
    this.auth = new AuthApi(this.#http);
    this.db = new DbApi(this.#http);
    this.keys = new KeysApi(this.#http);
    this.policies = new PoliciesApi(this.#http);
    this.principals = new PrincipalsApi(this.#http);
    this.audit = new AuditApi(this.#http);
    this.kv = new KvApi(this.#http);
    this.transit = new TransitApi(this.#http);
    this.database = new DatabaseApi(this.#http);
  }

  /** The bearer token sent with every request, or undefined. */
  get token(): string | undefined {
    return this.#http.token;
  }

  set token(token: string | undefined) {
    this.#http.token = checkToken(token);
  }

  /** The working security level sent with every request, or undefined (the principal's clearance). */
  get level(): string | undefined {
    return this.#http.level;
  }

  set level(level: string | undefined) {
    this.#http.level = checkLevel(level);
  }

  /** The server's Prometheus metrics, as text. */
  async metrics(): Promise<string> {
    return (await this.#http.request({ method: 'GET', path: '/v1/sys/metrics', response: 'text' })) as string;
  }
}
