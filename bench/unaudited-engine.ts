/**
 * @module bench/unaudited-engine
 * The table engine without the audit ledger, for benchmarks that measure the engine itself (the
 * engine suite) or the cost the ledger adds on top of it (the audit suite). Same data directory
 * layout, keys, storage driver and settings as `Fortress.open()`; only the access log is absent.
 * SQLite unless a `storage` option says otherwise (the PostgreSQL suite passes one).
 */
import path from 'node:path';
import { Engine } from '../src/engine/engine.js';
import { openDataDirectoryKeys, type StorageOption } from '../src/fortress.js';
import type { KeyManager } from '../src/keys/key-manager.js';
import { DevKeyFileSealProvider } from '../src/keys/seal/dev-key-file-seal.js';

export interface UnauditedEngine {
  readonly engine: Engine;
  /** The keys layer (for benchmarks that call the primitives directly with the same keys). */
  readonly keys: KeyManager;
  close(): Promise<void>;
}

/** Creates a data directory (dev key file) and opens its engine with no audit ledger attached. */
export async function openUnauditedEngine(dir: string, storage?: StorageOption): Promise<UnauditedEngine> {
  const { keys, driver } = await openDataDirectoryKeys(dir, {
    create: true,
    synchronous: 'normal',
    ...(storage === undefined ? {} : { storage }),
  });
  await keys.init(new DevKeyFileSealProvider({ path: path.join(dir, 'dev-unseal.key') }));
  const engine = await Engine.open({ driver, keys });
  return {
    engine,
    keys,
    async close() {
      engine.close();
      await keys.close();
      await driver.close();
    },
  };
}
