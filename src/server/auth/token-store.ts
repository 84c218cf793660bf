/**
 * @module server/auth/token-store
 * Bearer tokens of the server. A token is 32 random bytes shown once (`fxt_` + base64url); the
 * store keeps only its SHA-256 (a 256-bit random secret needs no salt or slow hash: nothing can be
 * guessed from the digest), beside a public *accessor* that names the token in lists, audit
 * entries and revocations without being usable to authenticate.
 *
 * Each token has a TTL (renewable up to its max TTL), an optional use limit, and a parent: revoking
 * a token revokes every token created from it, transitively (Vault's token tree). Lookups read the
 * database on every request, so a revocation takes effect the moment the revoking call returns.
 *
 * Table: fx_tokens(accessor PK, hash UNIQUE, parent, expires_at, record JSON).
 */
import { hash, randomBytes } from 'node:crypto';
import type { SqlSpelling, StorageDriver, StorageSession } from '../../storage/dialect.js';
import { FortressError } from '../../util/errors.js';

function schemaSql(s: SqlSpelling): string {
  return `CREATE TABLE IF NOT EXISTS fx_tokens (
  accessor ${s.text} PRIMARY KEY,
  hash ${s.text} NOT NULL UNIQUE,
  parent ${s.text},
  expires_at ${s.int64} NOT NULL,
  record ${s.text} NOT NULL
);
CREATE INDEX IF NOT EXISTS fx_tokens_parent ON fx_tokens (parent)`;
}

const TOKEN_PREFIX = 'fxt_';
const TOKEN_RE = /^fxt_[A-Za-z0-9_-]{43}$/;
/** Revocation walks the tree breadth-first; a bound keeps a corrupted cycle from looping forever. */
const MAX_TREE = 100_000;
/** Cached authentications at most (the cache is emptied when full). */
const MAX_CACHED = 10_000;

export type PrincipalKind = 'user' | 'service';

/** Who a token acts as. */
export interface TokenPrincipal {
  readonly kind: PrincipalKind;
  readonly name: string;
  readonly tenant: string;
}

/** What the store keeps of a token (never the token itself). */
export interface TokenInfo {
  readonly accessor: string;
  readonly principal: TokenPrincipal;
  /** The accessor of the token this one was created from (null: a root of the tree). */
  readonly parent: string | null;
  /** How the token was obtained: `init`, `userpass`, `jwt`, `token`. */
  readonly method: string;
  readonly displayName: string;
  readonly createdAt: number;
  /** Seconds since the epoch; the token fails after this. */
  readonly expiresAt: number;
  /** Renewals never extend past this. */
  readonly maxExpiresAt: number;
  readonly ttlSeconds: number;
  readonly renewable: boolean;
  /** Uses left (null: unlimited). */
  readonly usesLeft: number | null;
}

export interface CreateTokenOptions {
  readonly principal: TokenPrincipal;
  readonly parent?: string | null;
  readonly method: string;
  readonly displayName?: string;
  readonly ttlSeconds: number;
  readonly maxTtlSeconds: number;
  readonly renewable?: boolean;
  readonly uses?: number | null;
}

interface TokenRow {
  accessor: string;
  record: string;
}

/** SHA-256 of a token, hex: what the store indexes. */
function digest(token: string): string {
  return hash('sha256', token, 'hex');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * @example
 * ```ts
 * const tokens = await TokenStore.open(driver);
 * const { token, info } = await tokens.create({ principal, method: 'userpass', ttlSeconds: 3600, maxTtlSeconds: 86400 });
 * const who = await tokens.authenticate(token); // TokenInfo, or FX_UNAUTHENTICATED / FX_TOKEN_EXPIRED
 * await tokens.revoke(info.accessor);           // and every token created from it
 * ```
 */
export class TokenStore {
  readonly #driver: StorageDriver;
  readonly #now: () => number;
  /**
   * Authenticated tokens without a use limit, by digest: the token check runs on every request and
   * its SQLite read was a tenth of a point read's CPU. Every change to any token (revoke, renew,
   * spend) empties it and moves the generation, so an authentication that read the row before a
   * revocation committed cannot put it back: once a revoking call returns, the token is refused.
   * Per process: servers sharing one database call `invalidate()` when another node changed a
   * token (the server's per-request cluster check), before the request authenticates.
   */
  readonly #cache = new Map<string, TokenInfo>();
  #generation = 0;

  readonly #onRevoke: ((accessors: readonly string[]) => Promise<void>) | undefined;

  private constructor(
    driver: StorageDriver,
    now: () => number,
    onRevoke: ((accessors: readonly string[]) => Promise<void>) | undefined,
  ) {
    this.#driver = driver;
    this.#now = now;
    this.#onRevoke = onRevoke;
  }

  /**
   * `onRevoke` runs after every `revoke` / `revokeOrphan` committed, with the accessors it revoked
   * (a server revokes their database leases there); its failure is the revoking call's.
   */
  static async open(
    driver: StorageDriver,
    options: { now?: () => number; onRevoke?: (accessors: readonly string[]) => Promise<void> } = {},
  ): Promise<TokenStore> {
    await driver.exec(schemaSql(driver.spelling));
    return new TokenStore(driver, options.now ?? nowSeconds, options.onRevoke);
  }

  /** Creates a token; the secret is returned once and never stored. */
  async create(options: CreateTokenOptions): Promise<{ token: string; info: TokenInfo }> {
    const now = this.#now();
    const parent = options.parent ?? null;
    let maxExpiresAt = now + options.maxTtlSeconds;
    if (parent !== null) {
      // A child never outlives its parent.
      const p = await this.lookup(parent);
      if (p === undefined) throw new FortressError('FX_UNAUTHENTICATED', 'the parent token is not valid');
      maxExpiresAt = Math.min(maxExpiresAt, p.maxExpiresAt);
    }
    const info: TokenInfo = {
      accessor: randomBytes(12).toString('base64url'),
      principal: {
        kind: options.principal.kind,
        name: options.principal.name,
        tenant: options.principal.tenant,
      },
      parent,
      method: options.method,
      displayName: options.displayName ?? `${options.method}-${options.principal.name}`,
      createdAt: now,
      expiresAt: Math.min(now + options.ttlSeconds, maxExpiresAt),
      maxExpiresAt,
      ttlSeconds: options.ttlSeconds,
      renewable: options.renewable ?? true,
      usesLeft: options.uses ?? null,
    };
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    await this.#driver.run(
      'INSERT INTO fx_tokens (accessor, hash, parent, expires_at, record) VALUES (?, ?, ?, ?, ?)',
      [info.accessor, digest(token), parent, info.expiresAt, JSON.stringify(info)],
    );
    return { token, info: Object.freeze(info) };
  }

  /**
   * The token's record, after checking it: unknown, malformed or revoked → FX_UNAUTHENTICATED,
   * past its expiry → FX_TOKEN_EXPIRED. A use-limited token spends one use (the last use deletes it).
   */
  async authenticate(token: unknown): Promise<TokenInfo> {
    if (typeof token !== 'string' || !TOKEN_RE.test(token)) {
      throw new FortressError('FX_UNAUTHENTICATED', 'the token is malformed');
    }
    const hash = digest(token);
    const cached = this.#cache.get(hash);
    if (cached !== undefined) {
      if (cached.expiresAt > this.#now()) return cached;
      this.#cache.delete(hash);
    }
    const generation = this.#generation;
    const row = await this.#driver.get<TokenRow>('SELECT accessor, record FROM fx_tokens WHERE hash = ?', [
      hash,
    ]);
    if (row === undefined)
      throw new FortressError('FX_UNAUTHENTICATED', 'the token is not valid (unknown or revoked)');
    const info = Object.freeze(JSON.parse(row.record) as TokenInfo);
    if (info.expiresAt <= this.#now()) {
      throw new FortressError('FX_TOKEN_EXPIRED', 'the token has expired; log in again');
    }
    if (info.usesLeft !== null) return this.#spend(info);
    if (generation === this.#generation) {
      if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
      this.#cache.set(hash, info);
    }
    return info;
  }

  /** Another process changed tokens: cached authentications are dropped (as for a change here). */
  invalidate(): void {
    this.#generation++;
    this.#cache.clear();
  }

  /** Every token change lands here: cached authentications are dropped. */
  #changed<T>(result: Promise<T>): Promise<T> {
    return result.finally(() => {
      this.#generation++;
      this.#cache.clear();
    });
  }

  async #spend(info: TokenInfo): Promise<TokenInfo> {
    // Atomic read-modify-write: two concurrent requests cannot both spend the last use.
    return this.#changed(
      this.#driver.transaction(async (tx) => {
        const row = await tx.get<TokenRow>('SELECT accessor, record FROM fx_tokens WHERE accessor = ?', [
          info.accessor,
        ]);
        if (row === undefined)
          throw new FortressError('FX_UNAUTHENTICATED', 'the token is not valid (unknown or revoked)');
        const current = JSON.parse(row.record) as TokenInfo;
        const left = (current.usesLeft ?? 1) - 1;
        if (left <= 0) {
          await this.#revokeTree(tx, current.accessor);
        } else {
          await tx.run('UPDATE fx_tokens SET record = ? WHERE accessor = ?', [
            JSON.stringify({ ...current, usesLeft: left }),
            current.accessor,
          ]);
        }
        return Object.freeze({ ...current, usesLeft: left });
      }),
    );
  }

  /** A token's record by accessor (undefined when unknown, revoked or expired). */
  async lookup(accessor: string): Promise<TokenInfo | undefined> {
    const row = await this.#driver.get<TokenRow>(
      'SELECT accessor, record FROM fx_tokens WHERE accessor = ?',
      [accessor],
    );
    if (row === undefined) return undefined;
    const info = JSON.parse(row.record) as TokenInfo;
    return info.expiresAt <= this.#now() ? undefined : info;
  }

  /** Extends the TTL by `incrementSeconds` (default: the token's TTL), never past its max TTL. */
  async renew(accessor: string, incrementSeconds?: number): Promise<TokenInfo> {
    return this.#changed(
      this.#driver.transaction(async (tx) => {
        const row = await tx.get<TokenRow>('SELECT accessor, record FROM fx_tokens WHERE accessor = ?', [
          accessor,
        ]);
        if (row === undefined)
          throw new FortressError('FX_UNAUTHENTICATED', 'the token is not valid (unknown or revoked)');
        const info = JSON.parse(row.record) as TokenInfo;
        const now = this.#now();
        if (info.expiresAt <= now)
          throw new FortressError('FX_TOKEN_EXPIRED', 'the token has expired; log in again');
        if (!info.renewable) throw new FortressError('FX_FORBIDDEN', 'this token is not renewable');
        const expiresAt = Math.min(now + (incrementSeconds ?? info.ttlSeconds), info.maxExpiresAt);
        const renewed: TokenInfo = { ...info, expiresAt };
        await tx.run('UPDATE fx_tokens SET expires_at = ?, record = ? WHERE accessor = ?', [
          expiresAt,
          JSON.stringify(renewed),
          accessor,
        ]);
        return Object.freeze(renewed);
      }),
    );
  }

  /** Revokes a token and every token created from it; returns how many were revoked. */
  async revoke(accessor: string): Promise<number> {
    const revoked = await this.#changed(this.#driver.transaction((tx) => this.#revokeTree(tx, accessor)));
    return this.#revoked(revoked);
  }

  async #revoked(accessors: readonly string[]): Promise<number> {
    if (accessors.length > 0) await this.#onRevoke?.(accessors);
    return accessors.length;
  }

  /** Revokes only this token; its children become roots of their own trees. */
  async revokeOrphan(accessor: string): Promise<number> {
    const revoked = await this.#changed(
      this.#driver.transaction(async (tx) => {
        await tx.run('UPDATE fx_tokens SET parent = NULL WHERE parent = ?', [accessor]);
        const rows = await tx.all<TokenRow>(
          'SELECT accessor, record FROM fx_tokens WHERE parent IS NULL',
          [],
        );
        for (const row of rows) {
          const info = JSON.parse(row.record) as TokenInfo;
          if (info.parent === accessor) {
            await tx.run('UPDATE fx_tokens SET record = ? WHERE accessor = ?', [
              JSON.stringify({ ...info, parent: null }),
              row.accessor,
            ]);
          }
        }
        const { changes } = await tx.run('DELETE FROM fx_tokens WHERE accessor = ?', [accessor]);
        return changes > 0 ? [accessor] : [];
      }),
    );
    return this.#revoked(revoked);
  }

  /** Deletes a token and its descendants; returns the accessors deleted. */
  async #revokeTree(tx: StorageSession, accessor: string): Promise<string[]> {
    const doomed: string[] = [accessor];
    for (let i = 0; i < doomed.length && doomed.length < MAX_TREE; i++) {
      const children = await tx.all<{ accessor: string }>('SELECT accessor FROM fx_tokens WHERE parent = ?', [
        doomed[i]!,
      ]);
      for (const c of children) doomed.push(c.accessor);
    }
    const revoked: string[] = [];
    for (const a of doomed) {
      if ((await tx.run('DELETE FROM fx_tokens WHERE accessor = ?', [a])).changes > 0) revoked.push(a);
    }
    return revoked;
  }

  /** Tokens of a principal (for listing and for revoking them when the principal is removed). */
  async listFor(principal: TokenPrincipal): Promise<TokenInfo[]> {
    const rows = await this.#driver.all<TokenRow>(
      'SELECT accessor, record FROM fx_tokens ORDER BY accessor',
      [],
    );
    const now = this.#now();
    return rows
      .map((r) => JSON.parse(r.record) as TokenInfo)
      .filter(
        (t) =>
          t.expiresAt > now &&
          t.principal.kind === principal.kind &&
          t.principal.name === principal.name &&
          t.principal.tenant === principal.tenant,
      );
  }

  /** Deletes expired tokens (run periodically); returns how many. */
  async purgeExpired(): Promise<number> {
    const { changes } = await this.#driver.run('DELETE FROM fx_tokens WHERE expires_at <= ?', [this.#now()]);
    return changes;
  }
}
