/**
 * MemoryKeyStore against the shared KeyStore conformance suite (key-store.case.ts): the in-process
 * store that tests and ephemeral instances use must behave exactly like the durable ones.
 */
import { MemoryKeyStore } from '../../src/keys/store/memory-key-store.js';
import { runKeyStoreConformance } from './key-store.case.js';

runKeyStoreConformance('MemoryKeyStore', () => {
  const store = new MemoryKeyStore();
  return Promise.resolve({ store, cleanup: () => store.close() });
});
