/**
 * @module cluster-sync
 * Keeps one process's in-memory state — key records, the table catalog, policies and principals, a
 * server's token cache — coherent with the other processes sharing its database.
 *
 * Every tracked table's committed writes move a per-domain generation in the database (see
 * storage/cluster.ts). `sync()` reads the generations (one statement) and reloads each domain that
 * moved, before the caller goes on: a server runs it before every request, so a request that starts
 * after a change on another node committed — a rotation, a revocation, a policy change — sees it.
 * Concurrent callers share one read, and it always starts after they called. Notifications make
 * every process reload soon after a change even when no request comes (a destroyed key's bytes are
 * zeroed on every node promptly).
 */
import type { ClusterChannel, TrackedTable } from './storage/cluster.js';

export interface SyncedDomain {
  readonly domain: string;
  readonly tables: readonly TrackedTable[];
}

/** The domains Fortress itself keeps in memory, and the tables behind them. */
export const FORTRESS_DOMAINS: readonly SyncedDomain[] = [
  { domain: 'keys', tables: [{ table: 'fx_keys' }, { table: 'fx_key_versions' }, { table: 'fx_meta' }] },
  { domain: 'catalog', tables: [{ table: 'fx_tables' }] },
  { domain: 'policy', tables: [{ table: 'fx_access' }] },
];

export class ClusterSync {
  readonly channel: ClusterChannel;
  readonly #reloaders = new Map<string, (() => Promise<unknown>)[]>();
  readonly #seen = new Map<string, number>();
  /** The next check, not yet started: callers arriving now share it. */
  #pending: Promise<void> | null = null;
  /** Checks run one after another (a reload is never interleaved with another of the same domain). */
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(channel: ClusterChannel) {
    this.channel = channel;
  }

  /**
   * Records the generations now — before the caller loads what they cover, so a change committed
   * in between is reloaded at the first `sync()`. `track` the domains once their tables exist.
   */
  static async open(channel: ClusterChannel): Promise<ClusterSync> {
    const sync = new ClusterSync(channel);
    for (const [domain, generation] of await channel.generations()) sync.#seen.set(domain, generation);
    channel.onChange(() => {
      sync.sync().catch(() => undefined);
    });
    return sync;
  }

  /** Counts writes to the domains' tables (idempotent: every node does it at every start). */
  async track(domains: readonly SyncedDomain[]): Promise<void> {
    for (const { domain, tables } of domains) await this.channel.track(domain, tables);
  }

  /** Runs `reload` whenever `domain` changed (after the ones registered before it). */
  on(domain: string, reload: () => Promise<unknown>): void {
    let list = this.#reloaders.get(domain);
    if (list === undefined) this.#reloaders.set(domain, (list = []));
    list.push(reload);
  }

  /** Reloads every domain changed by a commit before this call. Fails (closed) if storage does. */
  sync(): Promise<void> {
    this.#pending ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#pending = null;
      const run = this.#chain.then(() => this.#check());
      this.#chain = run.catch(() => undefined);
      return run;
    });
    return this.#pending;
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    for (const [domain, generation] of await this.channel.generations()) {
      if (this.#seen.get(domain) === generation) continue;
      for (const reload of this.#reloaders.get(domain) ?? []) await reload();
      // Recorded after the reloads succeed: a failed one is tried again at the next check.
      this.#seen.set(domain, generation);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.channel.close();
  }
}
