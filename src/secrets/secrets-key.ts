/**
 * @module secrets/secrets-key
 * The data key a secrets engine encrypts under: `secrets/<tenant>/<engine>` (`kv`, `database`,
 * `transit`), wrapped by the tenant's `kek/<tenant>/secrets`. Both are created on first use.
 */
import type { KeyManager } from '../keys/key-manager.js';
import { FortressError } from '../util/errors.js';

/** The data key's name for an engine of a tenant. */
export function secretsKeyName(tenant: string, engine: string): string {
  return `secrets/${tenant}/${engine}`;
}

/** Creates the tenant's secrets KEK and the engine's data key where missing; returns the key's name. */
export async function ensureSecretsKey(keys: KeyManager, tenant: string, engine: string): Promise<string> {
  const kek = `kek/${tenant}/secrets`;
  const keyName = secretsKeyName(tenant, engine);
  const names = new Set(keys.listKeys().map((k) => k.name));
  const create = async (name: string, purpose: 'kek' | 'data', parent?: string): Promise<void> => {
    if (names.has(name)) return;
    try {
      await keys.createKey({ name, purpose, ...(parent === undefined ? {} : { parent }) });
    } catch (error) {
      // Another engine (they share the KEK) or a node sharing the store created it first.
      if (!(error instanceof FortressError && error.code === 'FX_KEY_STATE')) throw error;
      if (!keys.listKeys().some((k) => k.name === name)) throw error;
    }
  };
  await create(kek, 'kek');
  await create(keyName, 'data', kek);
  return keyName;
}
