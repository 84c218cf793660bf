/**
 * @module secrets/settings-seal
 * Tamper evidence for the settings rows of the secrets engines: the SQL a database role runs as a
 * target's administrator, the host a connection's password is sent to, a transit key's
 * `exportable` flag. Whoever can write Fortress's storage could otherwise change them, and make
 * Fortress run their SQL or hand out a key.
 *
 * A seal is an envelope of nothing (the AEAD's tag over its associated data) under the engine's
 * data key, whose context binds the row's place (tenant, `secrets`, engine, `<kind>/<name>`) and
 * the SHA-256 of its settings' canonical JSON in the context's `row` field. Only a holder of the
 * unsealed data key can make one; a changed setting, a seal copied from another row, or a missing
 * seal fails with FX_INTEGRITY before the settings are used. It follows the data key's life:
 * rotation (old versions still verify), crypto-shredding (nothing verifies), sealing (nothing is
 * read until unsealed). What it does not catch: a row deleted, or a whole row put back as it was
 * at an earlier time (settings and seal together) — docs/security.md.
 */
import { createHash } from 'node:crypto';
import type { KeyManager } from '../keys/key-manager.js';
import type { StorageDriver } from '../storage/dialect.js';
import { EncryptionContext } from '../crypto/envelope/encryption-context.js';
import { readEnvelopeHeader } from '../crypto/envelope/envelope-format.js';
import { FortressError, IntegrityError } from '../util/errors.js';

/** One setting as stored: text (JSON text for lists), a number (flags are 1 or 0), or NULL. */
export type SettingValue = string | number | bigint | null;

/** Where a row lives: its engine's table name in the context, and the row's kind and name. */
export interface SealPlace {
  readonly tenant: string;
  /** The engine (`database`, `transit`, `kv`): the context's `table`. */
  readonly engine: string;
  /** `connection/<name>`, `role/<name>`, `lease/<id>`…: the context's `column`. */
  readonly item: string;
}

/** The values a seal covers: `columns` of a row, in that order (the order is part of the format). */
export function settingsOf<R extends object>(row: R, columns: readonly (keyof R)[]): SettingValue[] {
  return columns.map((column) => row[column] as SettingValue);
}

const EMPTY = new Uint8Array(0);

function normalise(value: SettingValue): string | number | null {
  return typeof value === 'bigint' ? value.toString() : value;
}

function sealContext(place: SealPlace, settings: readonly SettingValue[]): EncryptionContext {
  // JSON of an array of scalars is deterministic (a bigint, which JSON cannot hold, goes in as
  // its decimal text: drivers read an int64 beyond 2^53 back as one).
  const canonical = JSON.stringify(settings.map(normalise));
  const digest = createHash('sha256').update(canonical).digest();
  return EncryptionContext.of({
    tenant: place.tenant,
    database: 'secrets',
    table: place.engine,
    column: place.item,
    // 32 bytes: never equal to the `password` row of the engines' password envelopes.
    row: digest,
  });
}

/** Seals a row's settings under the data key `keyName` (which must exist and be unsealed). */
export async function sealSettings(
  keys: KeyManager,
  keyName: string,
  place: SealPlace,
  settings: readonly SettingValue[],
): Promise<Uint8Array> {
  return keys.encrypt(keyName, EMPTY, sealContext(place, settings));
}

/**
 * Checks a stored seal against the row's settings as read: FX_INTEGRITY when it is missing, made
 * under another key, or does not match (`what` names the row in the message). FX_SEALED and key
 * state errors pass through.
 */
export async function verifySettings(
  keys: KeyManager,
  keyName: string,
  seal: unknown,
  place: SealPlace,
  settings: readonly SettingValue[],
  what: string,
): Promise<void> {
  const changed = (): IntegrityError =>
    new IntegrityError(
      `the settings of ${what} do not match their seal: they were changed outside Fortress (restore them from a backup, or write them again)`,
    );
  if (!(seal instanceof Uint8Array) || seal.length === 0) throw changed();
  let keyId: number;
  try {
    keyId = readEnvelopeHeader(seal).keyId;
  } catch {
    throw changed();
  }
  // A seal made under any other key (a table's data key, say) is not one of ours; nor is any
  // seal while the key it must be under does not exist.
  let expected: number;
  try {
    expected = keys.getKey(keyName).id;
  } catch (error) {
    if (error instanceof FortressError && error.code === 'FX_KEY_NOT_FOUND') throw changed();
    throw error;
  }
  if (keyId !== expected) throw changed();
  let plaintext: Uint8Array;
  try {
    plaintext = await keys.decrypt(seal, sealContext(place, settings));
  } catch (error) {
    if (error instanceof FortressError && error.code === 'FX_INTEGRITY') throw changed();
    throw error;
  }
  if (plaintext.length !== 0) throw changed();
}

/** A table whose rows carry a `settings_seal` column: its name, the key column beside `tenant`, and the name its count is reported under. */
export interface SealedTable {
  readonly table: string;
  readonly key: string;
  readonly counted: string;
}

/** A row read by `SELECT *` during the upgrade. */
export type UpgradeRow = Readonly<Record<string, unknown>> & { readonly tenant: string };

/**
 * The tables made before settings were sealed (no `settings_seal` column yet). A probe query per
 * table, outside any transaction: the only spelling SQLite and PostgreSQL answer alike.
 */
async function tablesWithoutSeals(
  driver: StorageDriver,
  tables: readonly SealedTable[],
): Promise<SealedTable[]> {
  const missing: SealedTable[] = [];
  for (const entry of tables) {
    try {
      await driver.get(`SELECT settings_seal FROM ${entry.table} WHERE 1 = 0`);
    } catch (error) {
      // "no such column: settings_seal" / column "settings_seal" does not exist; anything else
      // (the storage is down) is not a missing column.
      if (!(error instanceof Error && error.message.includes('settings_seal'))) throw error;
      missing.push(entry);
    }
  }
  return missing;
}

const UNSEALABLE: ReadonlySet<string> = new Set([
  'FX_KEY_NOT_FOUND',
  'FX_KEY_STATE',
  'FX_KEY_VERSION_DESTROYED',
  'FX_KEY_VERSION_RETIRED',
]);

/** A key error that means a tenant's key can seal nothing any more (its tenant was crypto-shredded). */
export function isUnsealable(error: unknown): boolean {
  return error instanceof FortressError && UNSEALABLE.has(error.code);
}

/**
 * Upgrades tables made before settings were sealed: adds the `settings_seal` column and seals
 * every row as it is (of every tenant), in one transaction — nothing changes if storage fails.
 * A row whose tenant's key can seal nothing any more (shredded) is left without a seal, so it is
 * refused like any unsealed row (its secrets were unreadable already), and counted as `skipped`.
 * Returns how many rows of each table were sealed, or null when nothing needed it. Needs the keys:
 * while sealed it fails with FX_SEALED (the caller's next open tries again). `prepare` runs
 * first, outside the transaction, with the tenants found (to create their keys).
 */
export async function upgradeSealedTables(options: {
  readonly driver: StorageDriver;
  readonly keys: KeyManager;
  readonly tables: readonly SealedTable[];
  /** Names the tables in the FX_SEALED message ("the transit tables"). */
  readonly what: string;
  readonly prepare?: (tenants: readonly string[]) => Promise<void>;
  readonly seal: (table: SealedTable, row: UpgradeRow) => Promise<Uint8Array>;
}): Promise<Record<string, number> | null> {
  const { driver, keys } = options;
  const missing = await tablesWithoutSeals(driver, options.tables);
  if (missing.length === 0) return null;
  if (keys.state !== 'unsealed') {
    throw new FortressError(
      'FX_SEALED',
      `${options.what} need a one-time upgrade (sealing their settings), which runs once Fortress is unsealed`,
    );
  }
  if (options.prepare !== undefined) {
    const tenants = new Set<string>();
    for (const { table } of missing) {
      for (const row of await driver.all<{ tenant: string }>(`SELECT DISTINCT tenant FROM ${table}`)) {
        tenants.add(row.tenant);
      }
    }
    await options.prepare([...tenants].sort());
  }
  // PostgreSQL: IF NOT EXISTS makes a node that lost the race (it waited on the table's lock) a
  // no-op; SQLite has one writer at a time, and a loser's duplicate column fails its open, which
  // the next call repeats and finds done.
  const ifNotExists = driver.dialect === 'postgres' ? ' IF NOT EXISTS' : '';
  const sealed: Record<string, number> = {};
  await driver.transaction(async (tx) => {
    let skipped = 0;
    for (const entry of missing) {
      await tx.exec(
        `ALTER TABLE ${entry.table} ADD COLUMN${ifNotExists} settings_seal ${driver.spelling.bytes}`,
      );
      let count = 0;
      for (const row of await tx.all<UpgradeRow>(
        `SELECT * FROM ${entry.table} WHERE settings_seal IS NULL`,
      )) {
        let seal: Uint8Array;
        try {
          seal = await options.seal(entry, row);
        } catch (error) {
          if (!isUnsealable(error)) throw error;
          skipped += 1;
          continue;
        }
        await tx.run(`UPDATE ${entry.table} SET settings_seal = ? WHERE tenant = ? AND ${entry.key} = ?`, [
          seal,
          row.tenant,
          row[entry.key] as string,
        ]);
        count += 1;
      }
      sealed[entry.counted] = count;
    }
    if (skipped > 0) sealed['skipped'] = skipped;
  });
  return sealed;
}
