/**
 * @module server/server-context
 * What a running server holds: the Fortress of its data directory (absent until it is
 * initialised), the token and password stores, and the unseal attempt in progress. Routes ask it
 * for an unsealed Fortress and for the session of a request's token; both fail closed with a code
 * (`FX_NOT_INITIALIZED`, `FX_SEALED`, `FX_UNAUTHENTICATED`, `FX_TOKEN_EXPIRED`).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import { Fortress, storageInitialized, type FortressOptions, type StorageOption } from '../fortress.js';
import type { JobOptions } from '../engine/jobs/job.js';
import type { PolicySession } from '../policy-session.js';
import { DevKeyFileSealProvider } from '../keys/seal/dev-key-file-seal.js';
import { PassphraseSealProvider } from '../keys/seal/passphrase-seal.js';
import { ShamirSealProvider } from '../keys/seal/shamir-seal.js';
import type { SealProvider, SealResult } from '../keys/seal/seal-provider.js';
import { FortressError, InvalidArgumentError } from '../util/errors.js';
import { TokenStore, type TokenInfo, type TokenPrincipal } from './auth/token-store.js';
import { UserpassStore } from './auth/userpass.js';
import { JwtLogin, type JwtLoginOptions } from './auth/jwt-login.js';

/** The tenant, user, role and policy `init` creates for the first administrator. */
export const ADMIN: { readonly tenant: string; readonly user: string; readonly role: string } = Object.freeze(
  { tenant: 'default', user: 'admin', role: 'fortress-admin' },
);
/** Every action in the tenant; the guardrails (tenant isolation, no read up, no write down) still apply. */
const ADMIN_POLICY = `permit (principal in Fortress::Role::"${ADMIN.tenant}/${ADMIN.role}", action, resource);`;

export interface ServerContextOptions {
  /** The data directory. */
  readonly dataDir: string;
  readonly tokenTtlSeconds: number;
  readonly tokenMaxTtlSeconds: number;
  /** Allows the dev key file seal (never in production). */
  readonly insecureDev: boolean;
  readonly onWarning: (message: string) => void;
  /** JWT login against an identity provider's JWKS (absent: the route answers 404). */
  readonly jwt?: JwtLoginOptions;
  /**
   * How `init` seals when its request names no seal (`seal.*` in the configuration), and the HSM
   * that unseals a PKCS#11-sealed directory at start (module, token label, user PIN).
   */
  readonly seal?: ServerSealOptions;
  /** Where the data lives (default: SQLite in the data directory). */
  readonly storage?: StorageOption;
  /** Background-job batch size and throttle. */
  readonly jobs?: JobOptions;
  /** The secrets engines' settings (the database sweeper's interval). */
  readonly secrets?: FortressOptions['secrets'];
}

export interface ServerSealOptions {
  readonly kind: 'shamir' | 'passphrase' | 'pkcs11' | 'dev-key-file';
  readonly shares?: number;
  readonly threshold?: number;
  readonly pkcs11?: { readonly module: string; readonly token: string; readonly pin: string };
}

/** A request's identity: its token and the policy session acting for it. */
export interface Caller {
  readonly token: TokenInfo;
  readonly session: PolicySession;
}

export interface InitRequest {
  readonly seal?: 'shamir' | 'passphrase' | 'pkcs11' | 'dev-key-file';
  readonly shares?: number;
  readonly threshold?: number;
  readonly passphrase?: string;
}

export interface InitResult {
  readonly seal: string;
  readonly shares: readonly string[];
  readonly threshold: number | null;
  readonly rootToken: string;
  readonly rootTokenAccessor: string;
}

/** A key ceremony that takes the current unseal inputs, collected one holder at a time. */
export type CeremonyKind = 'rekey' | 'rotate-root';

/** The seal a ceremony leaves behind (absent fields: the current seal's). */
export interface NextSeal {
  readonly shares?: number;
  readonly threshold?: number;
  /** A passphrase seal's new passphrase (required to rekey one; rotate-root keeps the current one). */
  readonly passphrase?: string;
}

export interface CeremonyStatus {
  readonly kind: CeremonyKind;
  readonly started: boolean;
  /** Binds the updates to this ceremony (a holder submitting to a stale one is refused). */
  readonly nonce: string | null;
  readonly progress: number;
  readonly required: number;
  /** Shares and threshold of the new seal (Shamir), when started. */
  readonly next: { readonly shares: number; readonly threshold: number } | null;
}

export interface CeremonyResult extends CeremonyStatus {
  readonly complete: boolean;
  /** The new unseal shares (Shamir), returned once: on the update that completes the ceremony. */
  readonly shares: readonly string[];
  /** rotate-root: the new root key version. */
  readonly rootVersion: number | null;
}

interface Ceremony {
  readonly kind: CeremonyKind;
  readonly nonce: string;
  /** Who started it: the completing call runs (and is recorded) as this principal. */
  readonly session: PolicySession;
  readonly required: number;
  /** Null: re-seal under the current passphrase (known once it is submitted). */
  readonly next: SealProvider | null;
  readonly nextShape: { readonly shares: number; readonly threshold: number } | null;
  readonly inputs: string[];
}

export interface UnsealStatus {
  readonly initialized: boolean;
  readonly sealed: boolean;
  readonly seal: string | null;
  readonly progress: number;
  readonly threshold: number;
}

/** The token each request authenticated with (read by the debug-level request log line). */
const CALLERS = new WeakMap<FastifyRequest, TokenInfo>();

/** The token a request authenticated with, if it did: its accessor and principal (log fields). */
export function callerOf(request: FastifyRequest): { accessor: string; principal: string } | undefined {
  const token = CALLERS.get(request);
  if (token === undefined) return undefined;
  const p = token.principal;
  return { accessor: token.accessor, principal: `${p.kind}:${p.tenant}/${p.name}` };
}

/** Concurrent requests' audit entries share one durable commit (see `FortressOptions.audit`). */
const SERVER_AUDIT = { groupCommit: 'turn' } as const;

function sealProviderFor(kind: string): SealProvider {
  switch (kind) {
    case 'shamir':
      return new ShamirSealProvider();
    case 'passphrase':
      return new PassphraseSealProvider();
    default:
      throw new FortressError(
        'FX_SEAL_PROVIDER',
        `a ${kind} seal unseals itself at start; nothing to submit (restart the server to unseal it)`,
      );
  }
}

export class ServerContext {
  readonly options: ServerContextOptions;
  #db: Fortress | null = null;
  #tokens: TokenStore | null = null;
  #passwords: UserpassStore | null = null;
  #attempt: ReturnType<Fortress['beginUnseal']> | null = null;
  #initializing = false;
  #joining: Promise<void> | null = null;
  #lastJoinAttempt = 0;
  /** The token store's cluster hook is registered once per Fortress. */
  #tokensTracked: Fortress | null = null;
  #ceremony: Ceremony | null = null;
  /** Sessions by token accessor and client address, dropped when policies or principals change. */
  readonly #sessions = new Map<string, { generation: number; session: PolicySession }>();

  /** Null when JWT login is not configured. */
  readonly jwt: JwtLogin | null;

  constructor(options: ServerContextOptions) {
    this.options = options;
    this.jwt = options.jwt === undefined ? null : new JwtLogin(options.jwt);
  }

  /** Shared storage (PostgreSQL): this server is one node of a cluster. */
  get clustered(): boolean {
    return this.options.storage?.kind === 'postgres';
  }

  /** What every open of the data directory passes through from the configuration. */
  #engineOptions(): Pick<FortressOptions, 'jobs' | 'storage' | 'secrets'> {
    const { jobs, storage, secrets } = this.options;
    return {
      ...(jobs === undefined ? {} : { jobs }),
      ...(storage === undefined ? {} : { storage }),
      ...(secrets === undefined ? {} : { secrets }),
    };
  }

  /** Opens the data directory if it is initialised (sealed unless its seal unseals itself). */
  async start(): Promise<void> {
    const storage = this.options.storage;
    if (storage?.kind === 'postgres') {
      // A new node of a cluster has an empty directory: what counts is whether the shared
      // database holds keys (another node's init). It then opens sealed and unseals like the others.
      if (
        !existsSync(path.join(this.options.dataDir, 'fortress.json')) &&
        !(await storageInitialized(storage))
      )
        return;
    } else if (!existsSync(path.join(this.options.dataDir, 'fortress.json'))) return;
    const db = await Fortress.open({
      path: this.options.dataDir,
      onWarning: this.options.onWarning,
      audit: SERVER_AUDIT,
      ...this.#engineOptions(),
    });
    if (db.keys.state === 'uninitialized') {
      await db.close();
      return;
    }
    if (db.keys.sealConfig?.kind === 'dev-key-file' && !this.options.insecureDev) {
      await db.close();
      throw new FortressError(
        'FX_SEAL_PROVIDER',
        'this data directory is sealed with a development key file; start the server with --insecure-dev to use it',
      );
    }
    this.#db = db;
    if (db.state !== 'unsealed' && db.keys.sealConfig?.kind === 'pkcs11') {
      // An HSM seal unseals itself with the configured PIN: no operator at each start.
      const config = db.keys.sealConfig;
      try {
        await db.unseal(
          await this.#pkcs11Provider({
            module: String(config['module']),
            tokenLabel: String(config['tokenLabel']),
            keyLabel: String(config['keyLabel']),
          }),
        );
      } catch (error) {
        await db.close();
        this.#db = null;
        throw error;
      }
    }
    if (db.state === 'unsealed') await this.#openStores();
  }

  /** A PKCS#11 provider with the configured PIN (FX_CONFIG_INVALID without one). */
  async #pkcs11Provider(where: {
    module: string;
    tokenLabel: string;
    keyLabel?: string;
  }): Promise<SealProvider> {
    const hsm = this.options.seal?.pkcs11;
    if (hsm === undefined) {
      throw new FortressError(
        'FX_CONFIG_INVALID',
        'this data directory is sealed by an HSM: set seal.kind = "pkcs11", seal.pkcs11_module, seal.pkcs11_token and FORTRESS_SEAL_PKCS11_PIN',
      );
    }
    const { Pkcs11SealProvider } = await import('../keys/seal/pkcs11-seal.js').catch((cause: unknown) => {
      throw new FortressError(
        'FX_SEAL_PROVIDER',
        'PKCS#11 support needs the optional package pkcs11js, which is not installed',
        { cause },
      );
    });
    return new Pkcs11SealProvider({
      module: where.module,
      tokenLabel: where.tokenLabel,
      ...(where.keyLabel === undefined ? {} : { keyLabel: where.keyLabel }),
      pin: hsm.pin,
    });
  }

  get initialized(): boolean {
    return this.#db !== null;
  }

  /**
   * A node that started before its cluster was initialised joins once another node has: status,
   * health, init and unseal look again (at most once a second).
   */
  async rejoin(): Promise<void> {
    if (this.#db !== null || this.#initializing || !this.clustered) return;
    if (this.#joining !== null) return this.#joining;
    if (Date.now() - this.#lastJoinAttempt < 1_000) return;
    this.#lastJoinAttempt = Date.now();
    this.#joining = this.start().finally(() => {
      this.#joining = null;
    });
    return this.#joining;
  }

  /** Shared storage: reloads what other nodes changed, before a request is served (else nothing). */
  syncCluster(): Promise<void> | undefined {
    const db = this.#db;
    if (db?.state !== 'unsealed') return undefined;
    return db.syncCluster();
  }

  /** The Fortress, whatever its state (FX_NOT_INITIALIZED before init). */
  fortress(): Fortress {
    if (this.#db === null) {
      throw new FortressError('FX_NOT_INITIALIZED', 'Fortress is not initialised: run `fortress init`');
    }
    return this.#db;
  }

  /** The Fortress, unsealed (FX_SEALED otherwise, with the next step). */
  unsealed(): Fortress {
    const db = this.fortress();
    if (db.state !== 'unsealed' || this.#tokens === null) {
      throw new FortressError('FX_SEALED', 'Fortress is sealed: run `fortress unseal`');
    }
    return db;
  }

  get tokens(): TokenStore {
    this.unsealed();
    return this.#tokens!;
  }

  get passwords(): UserpassStore {
    this.unsealed();
    return this.#passwords!;
  }

  async #openStores(): Promise<void> {
    const db = this.fortress();
    const driver = db.storageDriver();
    this.#tokens = await TokenStore.open(driver, {
      // A revoked token's database credentials die with it, as in Vault. Leases a target refuses
      // to drop now are left expired, so the sweeper retries them; the ledger records each try.
      onRevoke: async (accessors) => {
        for (const accessor of accessors) {
          await db.database.revokeOwned(accessor).catch((error: unknown) => {
            this.options.onWarning(
              `database secrets: leases of revoked token ${accessor} are left to the sweeper: ${error instanceof Error ? error.message : String(error)}`,
            );
          });
        }
      },
    });
    this.#passwords = await UserpassStore.open(driver);
    if (this.clustered && this.#tokensTracked !== db) {
      // A revocation or renewal on any node empties every node's token cache (creating one needs
      // nothing: an unknown token is read from the database).
      this.#tokensTracked = db;
      await db.trackClusterDomain('tokens', [{ table: 'fx_tokens', on: ['UPDATE', 'DELETE'] }]);
      db.onClusterChange('tokens', () => {
        this.#tokens?.invalidate();
        return Promise.resolve();
      });
    }
  }

  status(): UnsealStatus {
    const db = this.#db;
    if (db === null) return { initialized: false, sealed: true, seal: null, progress: 0, threshold: 0 };
    const config = db.keys.sealConfig;
    const threshold =
      config?.kind === 'shamir' ? Number(config['threshold']) : config?.kind === 'passphrase' ? 1 : 0;
    return {
      initialized: true,
      sealed: db.state !== 'unsealed',
      seal: config?.kind ?? null,
      progress: this.#attempt?.received ?? 0,
      threshold,
    };
  }

  /** Creates the root key, the first administrator and a root token for it. Only once. */
  async init(request: InitRequest): Promise<InitResult> {
    await this.rejoin();
    if (this.#db !== null || this.#initializing) {
      throw new FortressError('FX_ALREADY_INITIALIZED', 'Fortress is already initialised');
    }
    const configured = this.options.seal;
    const kind = request.seal ?? configured?.kind ?? 'shamir';
    const shareCount = request.shares ?? configured?.shares ?? 5;
    const threshold = request.threshold ?? configured?.threshold ?? 3;
    let provider: SealProvider;
    if (kind === 'shamir') {
      provider = new ShamirSealProvider({ shares: shareCount, threshold });
    } else if (kind === 'pkcs11') {
      const hsm = configured?.pkcs11;
      if (hsm === undefined) {
        throw new FortressError(
          'FX_SEAL_PROVIDER',
          'a pkcs11 seal needs the server configured with seal.pkcs11_module, seal.pkcs11_token and FORTRESS_SEAL_PKCS11_PIN',
        );
      }
      provider = await this.#pkcs11Provider({ module: hsm.module, tokenLabel: hsm.token });
    } else if (kind === 'passphrase') {
      if (request.passphrase === undefined)
        throw new InvalidArgumentError('passphrase', 'required for a passphrase seal');
      provider = new PassphraseSealProvider({ passphrase: request.passphrase });
    } else {
      if (!this.options.insecureDev) {
        throw new FortressError(
          'FX_SEAL_PROVIDER',
          'the dev-key-file seal needs a server started with --insecure-dev',
        );
      }
      provider = new DevKeyFileSealProvider({ path: path.join(this.options.dataDir, 'dev-unseal.key') });
    }
    let shares: readonly string[] = [];
    const observed: SealProvider = {
      kind: provider.kind,
      insecure: provider.insecure,
      async seal(rootKey): Promise<SealResult> {
        const result = await provider.seal(rootKey);
        shares = result.shares ?? [];
        return result;
      },
      beginUnseal: (config) => provider.beginUnseal(config),
    };
    this.#initializing = true;
    try {
      const db = await Fortress.open({
        path: this.options.dataDir,
        unseal: { provider: observed },
        onWarning: this.options.onWarning,
        audit: SERVER_AUDIT,
        ...this.#engineOptions(),
      });
      this.#db = db;
      await this.#openStores();
      const access = db.access;
      // The administrator works at the lowest level: it may create tables at any level (never
      // below its own: no write down) and give users their clearances, but reading classified rows
      // takes a user cleared for them — mandatory access control binds administrators too.
      await access.addRole(ADMIN.role);
      await access.addUser(ADMIN.user, { roles: [ADMIN.role], clearance: access.labels.levels[0]! });
      await access.addPolicies({ 'fortress-admin': ADMIN_POLICY });
      const { token, info } = await this.#tokens!.create({
        principal: { kind: 'user', name: ADMIN.user, tenant: ADMIN.tenant },
        method: 'init',
        displayName: 'root',
        ttlSeconds: this.options.tokenMaxTtlSeconds,
        maxTtlSeconds: this.options.tokenMaxTtlSeconds,
      });
      return {
        seal: provider.kind,
        shares,
        threshold: kind === 'shamir' ? threshold : null,
        rootToken: token,
        rootTokenAccessor: info.accessor,
      };
    } finally {
      this.#initializing = false;
    }
  }

  /** Takes one unseal input (a share, a passphrase); the one that completes the threshold unseals. */
  async unseal(key: string): Promise<UnsealStatus> {
    await this.rejoin();
    const db = this.fortress();
    if (db.state === 'unsealed')
      throw new FortressError('FX_ALREADY_UNSEALED', 'Fortress is already unsealed');
    const kind = db.keys.sealConfig?.kind ?? 'shamir';
    this.#attempt ??= db.beginUnseal(sealProviderFor(kind));
    try {
      const progress = await this.#attempt.submit(key);
      if (progress.done) {
        this.#attempt = null;
        await this.#openStores();
      }
    } catch (error) {
      this.#attempt = null;
      throw error;
    }
    return this.status();
  }

  /** Forgets the shares received so far. */
  resetUnseal(): UnsealStatus {
    this.#attempt?.reset();
    this.#attempt = null;
    return this.status();
  }

  /** The ceremony of `kind` in progress, if any. */
  ceremonyStatus(kind: CeremonyKind): CeremonyStatus {
    const c = this.#ceremony?.kind === kind ? this.#ceremony : null;
    return {
      kind,
      started: c !== null,
      nonce: c?.nonce ?? null,
      progress: c?.inputs.length ?? 0,
      required: c?.required ?? this.#unsealThreshold(),
      next: c?.nextShape ?? null,
    };
  }

  #unsealThreshold(): number {
    const config = this.#db?.keys.sealConfig;
    return config?.kind === 'shamir' ? Number(config['threshold']) : config?.kind === 'passphrase' ? 1 : 0;
  }

  /**
   * Starts a rekey or root rotation on behalf of `session` (which must be allowed `unseal` on the
   * system: checked now, and again when the last input arrives). One ceremony at a time.
   */
  beginCeremony(kind: CeremonyKind, session: PolicySession, next: NextSeal): CeremonyStatus {
    const db = this.unsealed();
    if (this.#ceremony !== null) {
      throw new FortressError(
        'FX_CEREMONY_IN_PROGRESS',
        `a ${this.#ceremony.kind} is in progress: finish it, or cancel it with DELETE /v1/sys/${this.#ceremony.kind}`,
      );
    }
    if (!session.decide('unseal', { type: 'System', id: 'system' }).allowed) {
      throw new FortressError('FX_FORBIDDEN', `${kind} needs the unseal action on the system`);
    }
    const config = db.keys.sealConfig;
    let provider: SealProvider | null;
    let shape: Ceremony['nextShape'] = null;
    if (config?.kind === 'shamir') {
      if (next.passphrase !== undefined) {
        throw new InvalidArgumentError(
          'passphrase',
          'this Fortress has a Shamir seal: give shares and threshold',
        );
      }
      const shares = next.shares ?? Number(config['shares']);
      const threshold = next.threshold ?? Math.min(Number(config['threshold']), shares);
      provider = new ShamirSealProvider({ shares, threshold }); // validates 1 ≤ threshold ≤ shares ≤ 255
      shape = { shares, threshold };
    } else if (config?.kind === 'passphrase') {
      if (next.shares !== undefined || next.threshold !== undefined) {
        throw new InvalidArgumentError('shares', 'this Fortress has a passphrase seal: give a passphrase');
      }
      if (next.passphrase === undefined && kind === 'rekey') {
        throw new InvalidArgumentError('passphrase', 'rekeying a passphrase seal needs the new passphrase');
      }
      // rotate-root without a new passphrase re-seals under the current one (the submitted input).
      provider =
        next.passphrase === undefined ? null : new PassphraseSealProvider({ passphrase: next.passphrase });
    } else {
      throw new FortressError(
        'FX_SEAL_PROVIDER',
        `a ${config?.kind ?? 'missing'} seal takes no unseal inputs: rekey and rotate the root offline`,
      );
    }
    this.#ceremony = {
      kind,
      nonce: randomUUID(),
      session,
      required: this.#unsealThreshold(),
      next: provider,
      nextShape: shape,
      inputs: [],
    };
    return this.ceremonyStatus(kind);
  }

  /** Takes one current unseal input; the one that completes the threshold runs the ceremony. */
  async ceremonyUpdate(kind: CeremonyKind, nonce: string, key: string): Promise<CeremonyResult> {
    const db = this.unsealed();
    const c = this.#ceremony;
    if (c?.kind !== kind) {
      throw new FortressError(
        'FX_NOT_FOUND',
        `no ${kind} is in progress: start one with POST /v1/sys/${kind}`,
      );
    }
    if (nonce !== c.nonce) {
      throw new FortressError(
        'FX_NONCE_MISMATCH',
        `this ${kind} has another nonce: check \`fortress ${kind} status\``,
      );
    }
    c.inputs.push(key);
    if (c.inputs.length < c.required) {
      return { ...this.ceremonyStatus(kind), complete: false, shares: [], rootVersion: null };
    }
    // Every input is in: the ceremony ends here, succeeded or not (a wrong share restarts it).
    this.#ceremony = null;
    const current = sealProviderFor(db.keys.sealConfig?.kind ?? 'shamir');
    // Rotate-root of a passphrase seal without a new passphrase re-seals under the current one.
    const next = c.next ?? new PassphraseSealProvider({ passphrase: c.inputs[0]! });
    const inputs = [...c.inputs];
    c.inputs.length = 0;
    let shares: readonly string[];
    let rootVersion: number | null = null;
    if (kind === 'rekey') {
      shares = (await c.session.rekey({ provider: current, inputs }, next)).shares ?? [];
    } else {
      const result = await c.session.rotateRootKey({ provider: current, inputs }, next);
      shares = result.shares ?? [];
      rootVersion = result.rootVersion;
    }
    return {
      kind,
      started: false,
      nonce: null,
      progress: 0,
      required: this.#unsealThreshold(),
      next: c.nextShape,
      complete: true,
      shares,
      rootVersion,
    };
  }

  /** Forgets a ceremony in progress and the inputs it received (`unseal` on the system, as to start one). */
  cancelCeremony(kind: CeremonyKind, session: PolicySession): CeremonyStatus {
    if (!session.decide('unseal', { type: 'System', id: 'system' }).allowed) {
      throw new FortressError('FX_FORBIDDEN', `cancelling a ${kind} needs the unseal action on the system`);
    }
    if (this.#ceremony?.kind === kind) {
      this.#ceremony.inputs.length = 0;
      this.#ceremony = null;
    }
    return this.ceremonyStatus(kind);
  }

  /** Zeroes every key and forgets sessions; data routes answer 503 until unsealed again. */
  seal(): void {
    if (this.#ceremony !== null) this.#ceremony.inputs.length = 0;
    this.#ceremony = null;
    this.#sessions.clear();
    this.#tokens = null;
    this.#passwords = null;
    this.#attempt = null;
    if (this.#db?.state === 'unsealed') this.#db.seal();
  }

  /**
   * The caller of a request: its bearer token checked on every request (revocation is immediate)
   * and a policy session acting as the token's principal.
   */
  async caller(request: FastifyRequest): Promise<Caller> {
    const db = this.unsealed();
    const header = request.headers.authorization;
    if (header === undefined || header === '') {
      throw new FortressError(
        'FX_UNAUTHENTICATED',
        'no token: send Authorization: Bearer <token> (`fortress login`)',
      );
    }
    const match = /^Bearer ([^\s]+)$/.exec(header);
    if (match === null)
      throw new FortressError('FX_UNAUTHENTICATED', 'the Authorization header is not "Bearer <token>"');
    const token = await this.#tokens!.authenticate(match[1]);
    const level = request.headers['x-fortress-level'];
    if (level !== undefined && (typeof level !== 'string' || level.length === 0 || level.length > 256)) {
      throw new FortressError('FX_LABEL_INVALID', 'X-Fortress-Level: expected one label such as "secret"');
    }
    // For the debug-level request line: who called (an accessor and a name, never the token).
    CALLERS.set(request, token);
    return { token, session: this.session(db, token.principal, token.accessor, request.ip, level) };
  }

  /**
   * The policy session of a token's principal, cached per token, client address and working level
   * (`X-Fortress-Level`: work below one's clearance, e.g. to write at a lower level).
   */
  session(
    db: Fortress,
    principal: TokenPrincipal,
    accessor: string,
    clientAddress: string,
    level?: string,
  ): PolicySession {
    const generation = db.access.authorizer.generation;
    const key = `${accessor}\u0000${clientAddress}\u0000${level ?? ''}`;
    const cached = this.#sessions.get(key);
    if (cached?.generation === generation) return cached.session;
    const session = db.as({
      ...(principal.kind === 'user' ? { user: principal.name } : { service: principal.name }),
      tenant: principal.tenant,
      clientAddress,
      ...(level === undefined ? {} : { level }),
    });
    if (this.#sessions.size >= 10_000) this.#sessions.clear();
    this.#sessions.set(key, { generation, session });
    return session;
  }

  async close(): Promise<void> {
    this.#sessions.clear();
    const db = this.#db;
    this.#db = null;
    this.#tokens = null;
    this.#passwords = null;
    if (db !== null) {
      if (db.state === 'unsealed') db.seal();
      await db.close();
    }
  }
}
