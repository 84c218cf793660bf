/**
 * @module client/api/audit-api
 * `client.audit`: read the audit ledger (tail, search), hash a value the way the ledger records
 * it (to search for it), sign a checkpoint, fetch proofs (inclusion as a tlog-proof text,
 * consistency between two sizes), and have the server verify the whole ledger.
 */
import { expectObject, path, type HttpTransport } from '../http-transport.js';
import type { AuditSearchFilters, JsonObject } from '../client-types.js';

export class AuditApi {
  readonly #http: HttpTransport;

  /** @internal */
  constructor(http: HttpTransport) {
    this.#http = http;
  }

  /** The last `n` entries. */
  async tail(n?: number): Promise<JsonObject> {
    const body = await this.#http.request({ method: 'GET', path: '/v1/audit/tail', query: { n } });
    return expectObject(body, 'audit.tail');
  }

  /**
   * Entries matching every filter given.
   *
   * @example
   * ```ts
   * const { digest } = await client.audit.hash('ann@example.com');
   * const hits = await client.audit.search({ digest, action: 'table.', since: new Date(Date.now() - 86_400_000) });
   * ```
   */
  async search(filters: AuditSearchFilters = {}): Promise<JsonObject> {
    const query: Record<string, string | number | boolean | undefined> = {};
    for (const [key, value] of Object.entries(filters) as [string, unknown][]) {
      if (value instanceof Date) query[key] = value.getTime();
      else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        query[key] = value;
      }
    }
    const body = await this.#http.request({ method: 'GET', path: '/v1/audit/search', query });
    return expectObject(body, 'audit.search');
  }

  /** The keyed digest the ledger records for a value (never the value), to search entries by it. */
  async hash(value: string): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'POST',
      path: '/v1/audit/hash',
      body: { value },
      safe: true,
    });
    return expectObject(body, 'audit.hash');
  }

  /** Signs a checkpoint of the ledger as it stands. */
  async checkpoint(): Promise<JsonObject> {
    const body = await this.#http.request({ method: 'POST', path: '/v1/audit/checkpoint' });
    return expectObject(body, 'audit.checkpoint');
  }

  /** The latest signed checkpoint. */
  async latestCheckpoint(): Promise<JsonObject> {
    const body = await this.#http.request({ method: 'GET', path: '/v1/audit/checkpoint' });
    return expectObject(body, 'audit.latestCheckpoint');
  }

  /** The inclusion proof of entry `seq`, as a C2SP tlog-proof text to check offline. */
  async proof(seq: number): Promise<string> {
    const body = await this.#http.request({
      method: 'GET',
      path: path`/v1/audit/proof/${seq}`,
      response: 'text',
    });
    return body as string;
  }

  /** The consistency proof between ledger sizes `from` and `to`. */
  async consistency(from: number, to: number): Promise<JsonObject> {
    const body = await this.#http.request({
      method: 'GET',
      path: '/v1/audit/consistency',
      query: { from, to },
    });
    return expectObject(body, 'audit.consistency');
  }

  /** Has the server verify the whole ledger (hash chain, Merkle tree, signatures). */
  async verify(): Promise<JsonObject> {
    const body = await this.#http.request({ method: 'POST', path: '/v1/audit/verify', safe: true });
    return expectObject(body, 'audit.verify');
  }
}
