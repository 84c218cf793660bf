/**
 * @module storage/access-store/access-store
 * Where access-control records live: policies, users, service accounts, groups, roles, row filters
 * and the label scheme, in the same database as the data (one file, one backup). The store keeps
 * each record as JSON text under (kind, id) and knows nothing of its meaning: the policy layer
 * validates everything it loads, so a hand-edited row fails loudly instead of granting access.
 *
 * Table: fx_access(kind, id, record) — primary key (kind, id).
 */
import type { SqlSpelling, StorageDriver } from '../dialect.js';

function schemaSql(s: SqlSpelling): string {
  return `CREATE TABLE IF NOT EXISTS fx_access (
  kind ${s.text} NOT NULL,
  id ${s.text} NOT NULL,
  record ${s.text} NOT NULL,
  PRIMARY KEY (kind, id)
)`;
}

export interface AccessRecordRow {
  readonly kind: string;
  readonly id: string;
  readonly record: string;
}

/**
 * @example
 * ```ts
 * const store = await AccessStore.open(driver);
 * await store.put('policy', 'analysts-read', JSON.stringify({ text: 'permit (…);' }));
 * const rows = await store.all();
 * ```
 */
export class AccessStore {
  readonly #driver: StorageDriver;

  private constructor(driver: StorageDriver) {
    this.#driver = driver;
  }

  static async open(driver: StorageDriver): Promise<AccessStore> {
    await driver.exec(schemaSql(driver.spelling));
    return new AccessStore(driver);
  }

  /** Every record, ordered by kind and id. */
  all(): Promise<AccessRecordRow[]> {
    return this.#driver.all<AccessRecordRow>('SELECT kind, id, record FROM fx_access ORDER BY kind, id');
  }

  /** Inserts or replaces several records and removes others, atomically. */
  async apply(
    puts: readonly AccessRecordRow[],
    removes: readonly { readonly kind: string; readonly id: string }[] = [],
  ): Promise<void> {
    await this.#driver.transaction(async (tx) => {
      for (const r of removes)
        await tx.run('DELETE FROM fx_access WHERE kind = ? AND id = ?', [r.kind, r.id]);
      for (const r of puts) {
        await tx.run(
          'INSERT INTO fx_access (kind, id, record) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET record = excluded.record',
          [r.kind, r.id, r.record],
        );
      }
    });
  }
}
