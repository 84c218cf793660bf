/**
 * @module crypto/aead/registry
 * Looks AEADs up by name (configuration) or by id (envelope header).
 */
import { CryptoError } from '../../util/errors.js';
import type { Aead, AeadName } from './aead.js';
import { aegis256 } from './aegis-256.js';
import { aes256Gcm, chacha20Poly1305 } from './node-aead.js';
import { xchacha20Poly1305 } from './xchacha20-poly1305.js';

/** The default AEAD for new keys. */
export const DEFAULT_AEAD: AeadName = 'xchacha20-poly1305';

const BY_NAME: ReadonlyMap<string, Aead> = new Map(
  [xchacha20Poly1305, aes256Gcm, chacha20Poly1305, aegis256].map((aead) => [aead.name, aead]),
);
const BY_ID: readonly (Aead | undefined)[] = (() => {
  const table: (Aead | undefined)[] = new Array<Aead | undefined>(256).fill(undefined);
  for (const aead of BY_NAME.values()) table[aead.id] = aead;
  return table;
})();

/** Every AEAD this build provides. */
export function listAeads(): readonly Aead[] {
  return [...BY_NAME.values()];
}

/** The AEAD called `name`; throws `FX_CRYPTO_UNKNOWN_ALGORITHM` for anything else. */
export function getAead(name: string): Aead {
  const aead = typeof name === 'string' ? BY_NAME.get(name) : undefined;
  if (aead === undefined) {
    throw new CryptoError(
      'FX_CRYPTO_UNKNOWN_ALGORITHM',
      `unknown AEAD ${typeof name === 'string' ? JSON.stringify(name.slice(0, 40)) : typeof name}; expected one of ${[...BY_NAME.keys()].join(', ')}`,
    );
  }
  return aead;
}

/** The AEAD with envelope id `id`, or undefined. */
export function aeadById(id: number): Aead | undefined {
  return BY_ID[id];
}

/** True when `name` names a provided AEAD. */
export function isAeadName(name: unknown): name is AeadName {
  return typeof name === 'string' && BY_NAME.has(name);
}
