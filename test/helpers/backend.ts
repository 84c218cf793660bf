/**
 * The storage backend the behaviour suites run on: `FORTRESS_TEST_BACKEND=sqlite` (the default: the
 * data directory's own SQLite file) or `postgres` (a fresh schema of FORTRESS_TEST_PG_URL per data
 * directory). Anything else throws, so a typo never silently runs the SQLite suite twice.
 *
 * A file that opens through this helper calls `dropTestSchemas()` in its `afterAll`: reopening a
 * directory reuses its schema (a test that reopens must see its data), and every schema made for
 * the file is dropped at the end. On SQLite the helper adds nothing to the options.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Fortress, type FortressOptions, type StorageOption } from '../../src/fortress.js';
import type { RunningServer, ServerOptions } from '../../src/server/server.js';
import { PG_URL, freshPgSchema, type PgSchema } from './postgres-schema.js';

export type TestBackend = 'sqlite' | 'postgres';

function readBackend(value: string | undefined): TestBackend {
  if (value === undefined || value === '' || value === 'sqlite') return 'sqlite';
  if (value === 'postgres') return 'postgres';
  throw new Error(`FORTRESS_TEST_BACKEND must be "sqlite" or "postgres", not ${JSON.stringify(value)}`);
}

export const TEST_BACKEND: TestBackend = readBackend(process.env['FORTRESS_TEST_BACKEND']);

/** The schema of each data directory (by resolved path), while the test file runs. */
const schemas = new Map<string, Promise<PgSchema>>();

/**
 * The storage for the data directory `dir`: undefined on SQLite; on PostgreSQL a fresh schema the
 * first time `dir` is seen and the same schema every later time.
 */
export async function testStorage(dir: string): Promise<StorageOption | undefined> {
  if (TEST_BACKEND === 'sqlite') return undefined;
  const key = path.resolve(dir);
  let schema = schemas.get(key);
  if (schema === undefined) {
    schema = freshPgSchema();
    schemas.set(key, schema);
  }
  return { kind: 'postgres', url: PG_URL, schema: (await schema).schema };
}

/** `{ storage }` for `dir`, or `{}` on SQLite: spread into `Fortress.open` or `startServer` options. */
export async function testStorageOptions(dir: string): Promise<{ readonly storage?: StorageOption }> {
  const storage = await testStorage(dir);
  return storage === undefined ? {} : { storage };
}

/** `Fortress.open(options)` on the test backend. */
export async function openTestFortress(options: FortressOptions): Promise<Fortress> {
  return Fortress.open({ ...options, ...(await testStorageOptions(options.path)) });
}

/** Drops every schema made for this file (call it in `afterAll`, after the Fortresses are closed). */
export async function dropTestSchemas(): Promise<void> {
  const made = [...schemas.values()];
  schemas.clear();
  const failures: unknown[] = [];
  for (const schema of made) {
    try {
      await (await schema).cleanup();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, 'dropping the test schemas failed');
}

/**
 * An in-process server for tests: plain HTTP on a free port of 127.0.0.1, silent logs, the data
 * directory on the test backend. `options` adds to or overrides any of that (e.g. `storage`).
 */
export async function startTestServer(
  dataDir: string,
  options: Partial<Omit<ServerOptions, 'dataDir'>> = {},
): Promise<RunningServer> {
  // Loaded on demand: the engine and policy suites use this file without the HTTP stack.
  const { startServer } = await import('../../src/server/server.js');
  return startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    tls: null,
    insecureDev: true,
    logLevel: 'silent',
    // A test that names its own storage gets no schema of the backend's (none to drop, then).
    ...(options.storage === undefined ? await testStorageOptions(dataDir) : {}),
    ...options,
  });
}

/** A test server on a fresh data directory, initialised with one share, and its root token. */
export interface InitialisedTestServer {
  readonly server: RunningServer;
  readonly dir: string;
  readonly root: string;
}

/**
 * `startTestServer` on a fresh temporary directory named after `prefix`, rate limits out of the
 * way (tests send thousands of requests), then `POST /v1/sys/init` with one share. Stop it with
 * `stopTestServer`.
 */
export async function startInitialisedTestServer(
  prefix: string,
  options: Partial<Omit<ServerOptions, 'dataDir'>> = {},
): Promise<InitialisedTestServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const server = await startTestServer(dir, {
    rateLimit: { perToken: 1_000_000, perAddress: 1_000_000 },
    ...options,
  });
  const response = await fetch(`${server.url}/v1/sys/init`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ shares: 1, threshold: 1 }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`init answered ${response.status}: ${text}`);
  return { server, dir, root: (JSON.parse(text) as { rootToken: string }).rootToken };
}

/** Closes a test server, removes its directory and drops this file's schemas. */
export async function stopTestServer(server: RunningServer, dir: string): Promise<void> {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  await dropTestSchemas();
}
