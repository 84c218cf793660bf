/**
 * The layers above storage on PostgreSQL: every piece that opens on a bare driver — the audit
 * ledger, the token and password stores, the access store, the key store under a KeyManager, and
 * the table engine — run against the real server (FORTRESS_TEST_PG_URL, each test in a fresh
 * schema that is dropped afterwards), with the SQL they issue spelled by the driver's
 * `SqlSpelling`. The engine scenario runs on SQLite too and both transcripts must be equal: the
 * same rows, in the same order, on the same pages, with the same errors.
 *
 * SQLite's spellings are pinned here as well: they are its on-disk schema, so they never change.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/entry/audit-entry.js';
import { AuditLedger } from '../../src/audit/ledger/audit-ledger.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../src/audit/merkle/index.js';
import { ed25519NoteSigner, openTlogProof, type StandardNoteSigner } from '../../src/audit/note/index.js';
import { SecretKey } from '../../src/crypto/memory/secret-key.js';
import { createSigner } from '../../src/crypto/signature/signature.js';
import { EncryptionContext } from '../../src/crypto/envelope/encryption-context.js';
import { Engine } from '../../src/engine/engine.js';
import { KeyManager } from '../../src/keys/key-manager.js';
import { ShamirSealProvider } from '../../src/keys/seal/shamir-seal.js';
import { ValidatingKeyStore } from '../../src/keys/store/validating-key-store.js';
import { TokenStore } from '../../src/server/auth/token-store.js';
import { UserpassStore } from '../../src/server/auth/userpass.js';
import { AccessStore } from '../../src/storage/access-store/access-store.js';
import { StorageConstraintError } from '../../src/storage/constraint-error.js';
import type { SqlValue, StorageDriver } from '../../src/storage/dialect.js';
import { StorageKeyStore } from '../../src/storage/key-store/storage-key-store.js';
import { POSTGRES_SPELLING } from '../../src/storage/postgres/postgres-driver.js';
import { SQLITE_SPELLING, SqliteDialect } from '../../src/storage/sqlite/sqlite-dialect.js';
import { FortressError } from '../../src/util/errors.js';
import { expectCode } from '../helpers/expect-code.js';
import { freshPgSchema, type PgSchema } from '../helpers/postgres-schema.js';
import { runKeyStoreConformance } from '../keys/key-store.case.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A driver on a fresh schema, dropped after the test. */
async function pg(): Promise<{ driver: StorageDriver; schema: PgSchema }> {
  const schema = await freshPgSchema();
  cleanups.push(() => schema.cleanup());
  return { driver: await schema.open(), schema };
}

/** A driver on a fresh SQLite file, removed after the test. */
async function sqlite(): Promise<StorageDriver> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-portable-'));
  const driver = await new SqliteDialect({ path: path.join(dir, 'fortress.db') }).createDriver();
  cleanups.push(async () => {
    await driver.close();
    await rm(dir, { recursive: true, force: true });
  });
  return driver;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-portable-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('SqlSpelling', () => {
  it("SQLite's words are exactly those of every existing database file", () => {
    expect({ ...SQLITE_SPELLING, bytesContainText: SQLITE_SPELLING.bytesContainText('entry') }).toEqual({
      int64: 'INTEGER',
      float64: 'REAL',
      bytes: 'BLOB',
      text: 'TEXT',
      autoId: 'INTEGER PRIMARY KEY',
      true: '1',
      false: '0',
      withoutRowid: ' WITHOUT ROWID',
      indexNullsFirst: '',
      bytesContainText: 'instr(CAST(entry AS TEXT), ?) > 0',
      maxIdentifierLength: null,
      checkpointLog: 'PRAGMA wal_checkpoint(TRUNCATE)',
    });
  });

  it('PostgreSQL: 64-bit integers, code-point text order, an identity key, boolean literals', async () => {
    const { driver } = await pg();
    expect(driver.spelling).toBe(POSTGRES_SPELLING);
    expect(driver.spelling).toMatchObject({
      int64: 'BIGINT',
      float64: 'DOUBLE PRECISION',
      bytes: 'BYTEA',
      text: 'TEXT COLLATE "C"',
      true: 'TRUE',
      false: 'FALSE',
      withoutRowid: '',
      indexNullsFirst: ' NULLS FIRST',
      maxIdentifierLength: 63,
      checkpointLog: null,
    });
    const s = driver.spelling;
    await driver.exec(
      `CREATE TABLE t (id ${s.autoId}, n ${s.int64}, f ${s.float64}, b ${s.bytes}, t ${s.text})${s.withoutRowid}`,
    );
    const rows = [];
    for (const [n, t] of [
      [2 ** 53 - 1, 'a'],
      [-(2 ** 40), 'B'],
      [null, 'é'],
    ] as const) {
      rows.push(
        await driver.get<{ id: number }>('INSERT INTO t (n, f, b, t) VALUES (?, ?, ?, ?) RETURNING id', [
          n,
          0.5,
          Buffer.from(`bytes ${t}`),
          t,
        ]),
      );
    }
    expect(rows).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    // Code-point order (SQLite's BINARY), whatever the database's collation.
    expect(await driver.all(`SELECT t FROM t WHERE ${s.true} ORDER BY t`)).toEqual([
      { t: 'B' },
      { t: 'a' },
      { t: 'é' },
    ]);
    expect(await driver.all(`SELECT id FROM t WHERE ${s.false}`)).toEqual([]);
    expect(await driver.get('SELECT n, f FROM t WHERE id = 1')).toEqual({ n: 2 ** 53 - 1, f: 0.5 });
    expect(await driver.all(`SELECT id FROM t WHERE ${s.bytesContainText('b')}`, ['es é'])).toEqual([
      { id: 3 },
    ]);
    expect(await driver.all(`SELECT id FROM t WHERE ${s.bytesContainText('b')}`, ['ES'])).toEqual([]);
  });

  it('both backends say which constraint a write broke, by their error codes', async () => {
    for (const driver of [(await pg()).driver, await sqlite()]) {
      await driver.exec(
        `CREATE TABLE c (k ${driver.spelling.int64} PRIMARY KEY, v ${driver.spelling.text} NOT NULL)`,
      );
      await driver.run('INSERT INTO c (k, v) VALUES (1, ?)', ['x']);
      const duplicate = await driver
        .run('INSERT INTO c (k, v) VALUES (1, ?)', ['y'])
        .catch((e: unknown) => e);
      expect(duplicate).toBeInstanceOf(StorageConstraintError);
      expect(duplicate).toMatchObject({ code: 'FX_STORAGE_CONSTRAINT', constraint: 'unique' });
      const missing = await driver.run('INSERT INTO c (k, v) VALUES (2, NULL)').catch((e: unknown) => e);
      expect(missing).toMatchObject({ code: 'FX_STORAGE_CONSTRAINT', constraint: 'not-null' });
    }
  });
});

// ── audit ledger ───────────────────────────────────────────────────────────────────────────────

const ORIGIN = 'portable.test.example/audit';
const SIGNER: StandardNoteSigner = ed25519NoteSigner(ORIGIN, createSigner('ed25519', SecretKey.generate(32)));
const T0 = Date.UTC(2025, 0, 1);
const digestOf = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function record(i: number): AuditRecord {
  return {
    principal: { type: i % 5 === 0 ? 'service' : 'user', id: `u${i % 3}`, tenant: 'acme' },
    action: i % 2 === 0 ? 'table.get' : 'table.insert',
    resource: { type: 'table', tenant: 'acme', database: 'main', table: i % 4 === 0 ? 'people' : 'orders' },
    decision: { effect: i % 7 === 0 ? 'deny' : 'allow', policies: ['builtin:test'] },
    outcome: { status: 'ok' },
    requestId: `req-${i}`,
    client: null,
    request: digestOf(i),
  };
}

describe('AuditLedger on PostgreSQL', () => {
  it('appends, searches, proves, checkpoints, archives, reopens and verifies', async () => {
    const { schema } = await pg();
    const driver = await schema.open();
    let clock = T0;
    const open = (d: StorageDriver) =>
      AuditLedger.open({
        driver: d,
        origin: ORIGIN,
        signers: () => [SIGNER],
        checkpointIntervalMs: 0,
        treeFlushEntries: 16,
        now: () => clock,
      });
    const ledger = await open(driver);
    const seqs: number[] = [];
    for (let i = 0; i < 100; i += 10) {
      seqs.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => ledger.append(record(i + j))))));
      clock += 1000;
    }
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i));

    // Inside a caller's transaction: committed with it (staged, then numbered by the next group
    // commit once someone waits for it), or gone with its rollback.
    expect(await driver.transaction((tx) => ledger.appendWithin(tx, [record(100)]))).toBeUndefined();
    await ledger.sequenceStaged();
    await expect(
      driver.transaction(async (tx) => {
        await ledger.appendWithin(tx, [record(101)]);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await ledger.append(record(102))).toBe(101);
    expect(ledger.size).toBe(102);

    const all = [];
    for await (const entry of ledger.entries()) all.push(entry.seq);
    expect(all).toEqual(Array.from({ length: 102 }, (_, i) => i));
    const find = async (query: Parameters<AuditLedger['entries']>[0]): Promise<number[]> => {
      const out: number[] = [];
      for await (const entry of ledger.entries(query)) out.push(entry.seq);
      return out;
    };
    expect(await find({ digest: digestOf(42) })).toEqual([42]);
    expect(await find({ digest: digestOf(999) })).toEqual([]);
    expect(await find({ principal: 'service:' })).toEqual(all.filter((s) => s % 5 === 0 && s !== 101));
    expect(await find({ action: 'table.', limit: 3, newestFirst: true })).toEqual([101, 100, 99]);
    expect(await find({ resource: 'acme/main/people', decision: 'deny' })).toEqual([0, 28, 56, 84]);
    expect(await find({ since: T0 + 2000, until: T0 + 2999 })).toEqual(
      Array.from({ length: 10 }, (_, i) => 20 + i),
    );

    const checkpoint = await ledger.checkpoint();
    expect(checkpoint.size).toBe(102);
    const evidence = await ledger.proveInclusion(42);
    verifyInclusion(hashLeaf(evidence.entry!), 42, 102, evidence.proof, checkpoint.rootHash);
    expect(openTlogProof(await ledger.tlogProof(7), [SIGNER.verifier()], { origin: ORIGIN }).index).toBe(7);
    const early = (await ledger.checkpoints())[0]!;
    clock += 1000;
    await ledger.append(record(103));
    const later = await ledger.checkpoint();
    verifyConsistency(
      early.size,
      later.size,
      await ledger.proveConsistency(early.size, later.size),
      early.rootHash,
      later.rootHash,
    );

    const segments = await tempDir();
    expect(await ledger.archive({ before: 40, dir: segments })).toMatchObject({ first: 0, count: 40 });
    expect((await readdir(segments)).filter((f) => f.endsWith('.fxseg'))).toHaveLength(1);
    const tiles = await ledger.exportTiles(await tempDir());
    expect(tiles.size).toBe(103);
    const report = await ledger.verify({ segmentsDir: segments });
    expect(report).toMatchObject({ ok: true, size: 103 });
    await ledger.close();

    // A second process (another pool) reopens from the stored tree and right edge.
    const other = await open(await schema.open());
    expect(other.size).toBe(103);
    expect(other.archived).toBe(40);
    expect((await other.entry(90)).requestId).toBe('req-90');
    expect(await other.append(record(104))).toBe(103);
    expect((await other.verify()).ok).toBe(true);
    await other.close();
  });

  it('three processes append at once — group commits and staged transaction entries — into one log, no body run twice', async () => {
    const { schema } = await pg();
    // Each "process" is a pool and a ledger of its own; the body of every ledger transaction is
    // counted: behind the sequencer's lock at READ COMMITTED none may rerun after a conflict.
    let bodies = 0;
    let commits = 0;
    // Opened at the same instant on an empty schema: the schema statements must not race.
    const processes = await Promise.all(
      [0, 1, 2].map(async () => {
        const driver = await schema.open();
        const isolated = driver.isolatedTransaction.bind(driver);
        driver.isolatedTransaction = (fn, options) =>
          isolated(async (tx) => {
            bodies++;
            return fn(tx);
          }, options).then((result) => {
            commits++;
            return result;
          });
        const ledger = await AuditLedger.open({
          driver,
          origin: ORIGIN,
          signers: () => [SIGNER],
          checkpointIntervalMs: 0,
          groupCommit: 'turn',
        });
        return { driver, ledger };
      }),
    );
    const writes: Promise<unknown>[] = [];
    let n = 0;
    for (let round = 0; round < 20; round++) {
      for (const { driver, ledger } of processes) {
        for (let j = 0; j < 5; j++) writes.push(ledger.append(record(n++)));
        // A caller's transaction: its entries commit with it (staged), or vanish with its rollback.
        const i = n++;
        writes.push(
          driver
            .transaction((tx) => ledger.appendWithin(tx, [record(i)]))
            .then(() => ledger.sequenceStaged()),
        );
        const gone = n++;
        writes.push(
          driver
            .transaction(async (tx) => {
              await ledger.appendWithin(tx, [record(gone)]);
              throw new Error('rolled back');
            })
            .catch((e: unknown) => e),
        );
      }
    }
    await Promise.all(writes);
    expect(bodies).toBe(commits);
    const [a, b, c] = processes.map((p) => p.ledger) as [AuditLedger, AuditLedger, AuditLedger];
    const expected = 20 * 3 * 6;
    const seen: string[] = [];
    for await (const entry of b.entries()) {
      expect(entry.seq).toBe(seen.length);
      seen.push(entry.requestId);
    }
    expect(seen).toHaveLength(expected);
    expect(new Set(seen).size).toBe(expected);
    // The rolled-back transactions' entries are nowhere; nothing is left staged.
    expect(seen.filter((id) => Number(id.slice(4)) % 7 === 6)).toEqual([]);
    expect(await processes[0]!.driver.get('SELECT count(*)::int AS n FROM fx_audit_staged')).toEqual({
      n: 0,
    });
    // Every process's checkpoint covers the whole interleaved log, and they agree.
    const checkpoint = await c.checkpoint();
    expect(checkpoint.size).toBe(expected);
    expect((await a.checkpoint()).rootHash).toEqual(checkpoint.rootHash);
    expect(await a.verify()).toMatchObject({ ok: true, size: expected });
    for (const { ledger } of processes) await ledger.close();
  });

  it('entries staged by a process that died after its commit are sequenced by a survivor', async () => {
    const { schema } = await pg();
    const survivor = await AuditLedger.open({
      driver: await schema.open(),
      origin: ORIGIN,
      checkpointIntervalMs: 0,
    });
    await survivor.append(record(0));
    const driver = await schema.open();
    const orphan = await AuditLedger.open({ driver, origin: ORIGIN, checkpointIntervalMs: 0 });
    // Committed with the data it describes, never sequenced: the process is gone.
    await driver.transaction((tx) => orphan.appendWithin(tx, [record(1), record(2)]));
    await driver.close();
    // The survivor's sweep moves them into the log on its own (within a second or so).
    const deadline = Date.now() + 10_000;
    while (survivor.size < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(survivor.size).toBe(3);
    const ids: string[] = [];
    for await (const entry of survivor.entries()) ids.push(entry.requestId);
    expect(ids).toEqual(['req-0', 'req-1', 'req-2']);
    await survivor.close();
  });

  it('while the sequencer cannot write the log, staging is refused too; once it can, the staged entries land', async () => {
    const { schema } = await pg();
    const driver = await schema.open();
    const ledger = await AuditLedger.open({
      driver,
      origin: ORIGIN,
      signers: () => [SIGNER],
      checkpointIntervalMs: 0,
    });
    await ledger.append(record(0));
    await driver.exec(
      "CREATE FUNCTION fx_test_block() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk I/O error (simulated)'; END $$; " +
        'CREATE TRIGGER fx_test_block BEFORE INSERT ON fx_audit_entries FOR EACH ROW EXECUTE FUNCTION fx_test_block()',
    );
    // The staged entry commits with its transaction (durable), but cannot be sequenced …
    await driver.transaction((tx) => ledger.appendWithin(tx, [record(1)]));
    await expectCode(ledger.sequenceStaged(), 'FX_AUDIT_UNAVAILABLE');
    // … and from then on nothing more is acknowledged: not staged, not appended.
    await expectCode(
      driver.transaction((tx) => ledger.appendWithin(tx, [record(2)])),
      'FX_AUDIT_UNAVAILABLE',
    );
    await expectCode(ledger.append(record(3)), 'FX_AUDIT_UNAVAILABLE');
    expect(await driver.get('SELECT count(*)::int AS n FROM fx_audit_staged')).toEqual({ n: 1 });
    // The log can still be searched meanwhile (as it stands: the staged entry is not in it yet).
    const meanwhile: string[] = [];
    for await (const entry of ledger.entries()) meanwhile.push(entry.requestId);
    expect(meanwhile).toEqual(['req-0']);
    await driver.exec('DROP TRIGGER fx_test_block ON fx_audit_entries; DROP FUNCTION fx_test_block()');
    // The sweep retries on its own; the staged entry lands and staging works again.
    const deadline = Date.now() + 10_000;
    while (ledger.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(ledger.size).toBe(2);
    await driver.transaction((tx) => ledger.appendWithin(tx, [record(4)]));
    await ledger.sequenceStaged();
    const ids: string[] = [];
    for await (const entry of ledger.entries()) ids.push(entry.requestId);
    expect(ids).toEqual(['req-0', 'req-1', 'req-4']);
    expect(await ledger.verify()).toMatchObject({ ok: true, size: 3 });
    await ledger.close();
  });

  it('verify finds an entry altered behind its back', async () => {
    const { driver } = await pg();
    const ledger = await AuditLedger.open({
      driver,
      origin: ORIGIN,
      signers: () => [SIGNER],
      checkpointIntervalMs: 0,
    });
    for (let i = 0; i < 20; i++) await ledger.append(record(i));
    await ledger.checkpoint();
    await driver.run("UPDATE fx_audit_entries SET principal = 'user:mallory@acme' WHERE seq = 5");
    const report = await ledger.verify();
    expect(report.ok).toBe(false);
    expect(report.problem).toMatchObject({ seq: 5 });
    await ledger.close();
  });
});

// ── server credentials and access records ─────────────────────────────────────────────────────

describe('TokenStore, UserpassStore and AccessStore on PostgreSQL', () => {
  const ann = { kind: 'user', name: 'ann', tenant: 'default' } as const;

  it('tokens: create, authenticate, renew, child tokens, revoke the tree, purge — past 2038', async () => {
    const { driver } = await pg();
    // Beyond 2^31 seconds: a 32-bit INTEGER column would overflow here.
    let now = 4_000_000_000;
    const tokens = await TokenStore.open(driver, { now: () => now });
    const root = await tokens.create({ principal: ann, method: 'test', ttlSeconds: 60, maxTtlSeconds: 600 });
    expect((await tokens.authenticate(root.token)).accessor).toBe(root.info.accessor);
    const child = await tokens.create({
      principal: ann,
      parent: root.info.accessor,
      method: 'token',
      ttlSeconds: 30,
      maxTtlSeconds: 600,
    });
    const limited = await tokens.create({
      principal: ann,
      method: 'test',
      ttlSeconds: 60,
      maxTtlSeconds: 60,
      uses: 1,
    });
    expect((await tokens.authenticate(limited.token)).usesLeft).toBe(0);
    await expectCode(tokens.authenticate(limited.token), 'FX_UNAUTHENTICATED');
    now += 20;
    expect((await tokens.renew(root.info.accessor)).expiresAt).toBe(now + 60);
    expect((await tokens.listFor(ann)).map((t) => t.accessor).sort()).toEqual(
      [root.info.accessor, child.info.accessor].sort(),
    );
    expect(await tokens.revoke(root.info.accessor)).toBe(2);
    await expectCode(tokens.authenticate(child.token), 'FX_UNAUTHENTICATED');
    const short = await tokens.create({ principal: ann, method: 'test', ttlSeconds: 5, maxTtlSeconds: 5 });
    now += 10;
    await expectCode(tokens.authenticate(short.token), 'FX_TOKEN_EXPIRED');
    expect(await tokens.purgeExpired()).toBe(1);
  });

  it('passwords: set, check, replace, remove', async () => {
    const { driver } = await pg();
    const passwords = await UserpassStore.open(driver);
    await passwords.setPassword('default', 'ann', 'correct horse battery staple');
    await passwords.check('default', 'ann', 'correct horse battery staple');
    await expectCode(passwords.check('default', 'ann', 'wrong horse battery staple'), 'FX_LOGIN_FAILED');
    await passwords.setPassword('default', 'ann', 'another long passphrase');
    await passwords.check('default', 'ann', 'another long passphrase');
    expect(await passwords.hasPassword('default', 'ann')).toBe(true);
    expect(await passwords.removePassword('default', 'ann')).toBe(true);
    expect(await passwords.hasPassword('default', 'ann')).toBe(false);
    await expectCode(passwords.check('default', 'ann', 'another long passphrase'), 'FX_LOGIN_FAILED');
  });

  it('access records: upserts and removals in one transaction, listed in code-point order', async () => {
    const { driver } = await pg();
    const store = await AccessStore.open(driver);
    await store.apply([
      { kind: 'policy', id: 'b', record: '{"v":1}' },
      { kind: 'policy', id: 'B', record: '{"v":1}' },
      { kind: 'group', id: 'é', record: '{}' },
      { kind: 'group', id: 'z', record: '{}' },
    ]);
    await store.apply([{ kind: 'policy', id: 'b', record: '{"v":2}' }], [{ kind: 'group', id: 'z' }]);
    expect(await store.all()).toEqual([
      { kind: 'group', id: 'é', record: '{}' },
      { kind: 'policy', id: 'B', record: '{"v":1}' },
      { kind: 'policy', id: 'b', record: '{"v":2}' },
    ]);
  });
});

// ── keys ───────────────────────────────────────────────────────────────────────────────────────

runKeyStoreConformance('StorageKeyStore on PostgreSQL', async () => {
  const schema = await freshPgSchema();
  const driver = await schema.open();
  return {
    store: new ValidatingKeyStore(await StorageKeyStore.open(driver)),
    cleanup: () => schema.cleanup(),
  };
});

describe('KeyManager on PostgreSQL', () => {
  it('init, create, encrypt, rotate, seal; a second pool unseals and decrypts; destroy a version', async () => {
    const { schema, driver } = await pg();
    const keys = await KeyManager.open({ store: await StorageKeyStore.open(driver) });
    const { shares } = await keys.init(new ShamirSealProvider({ shares: 3, threshold: 2 }));
    await keys.createKey({ name: 'kek/t', purpose: 'kek' });
    await keys.createKey({ name: 't/c', purpose: 'data', parent: 'kek/t' });
    const ctx = EncryptionContext.of({ table: 't', column: 'c', row: '1' });
    const envelope = await keys.encrypt('t/c', new TextEncoder().encode('shared database'), ctx);
    await keys.rotate('t/c');
    keys.seal();
    await keys.close();

    const again = await KeyManager.open({ store: await StorageKeyStore.open(await schema.open()) });
    expect(again.state).toBe('sealed');
    await again.unseal(new ShamirSealProvider(), shares!.slice(1));
    expect(new TextDecoder().decode(await again.decrypt(envelope, ctx))).toBe('shared database');
    expect(again.getKey('t/c').activeVersion).toBe(2);
    await again.destroyVersion('t/c', 1);
    await expectCode(again.decrypt(envelope, ctx), 'FX_KEY_VERSION_DESTROYED');
    await again.close();
  });
});

// ── the table engine ───────────────────────────────────────────────────────────────────────────

interface Opened {
  readonly engine: Engine;
  readonly driver: StorageDriver;
  /** The unseal share (a second process opening the same keys needs it). */
  readonly shares: readonly string[];
}

/** An engine on `driver` with keys in the same database: initialised (unsealed), or unsealed with `shares`. */
async function openEngine(driver: StorageDriver, shares?: readonly string[]): Promise<Opened> {
  const keys = await KeyManager.open({ store: await StorageKeyStore.open(driver) });
  if (shares === undefined) {
    // init leaves the keys unsealed.
    shares = (await keys.init(new ShamirSealProvider({ shares: 1, threshold: 1 }))).shares!;
  } else {
    await keys.unseal(new ShamirSealProvider(), shares);
  }
  const engine = await Engine.open({ driver, keys });
  cleanups.push(async () => {
    engine.close();
    await keys.close();
  });
  return { engine, driver, shares };
}

const PEOPLE = {
  encryption: 'field',
  columns: {
    id: { type: 'integer', primaryKey: true },
    email: { type: 'text', encrypt: { search: 'equality', normalize: ['casefold'] } },
    ssn: { type: 'text', encrypt: true },
    age: { type: 'integer', index: true },
    name: { type: 'text', index: true },
    score: { type: 'real' },
    active: { type: 'boolean' },
    born: { type: 'timestamp' },
    doc: { type: 'json' },
    photo: { type: 'bytes' },
  },
} as const;

const NAMES = ['ann', 'Bob', 'émile', 'Zoë', 'bob', null, 'Ann', 'carl', null, 'Ünal', 'dave', 'eve'];

/**
 * The engine through its whole surface, on `driver`; returns everything observable, so runs on two
 * backends can be compared.
 */
async function engineScenario({ engine }: Opened): Promise<unknown[]> {
  const out: unknown[] = [];
  const people = await engine.createTable('people', PEOPLE);
  for (let i = 0; i < NAMES.length; i++) {
    await people.insert({
      email: `User${i % 4}@Example.com`,
      ssn: `000-00-${String(i).padStart(4, '0')}`,
      age: i % 5 === 0 ? null : 20 + ((i * 7) % 30),
      name: NAMES[i] ?? null,
      score: i / 4,
      active: i % 2 === 0,
      born: new Date(Date.UTC(1950 + i, i % 12, 1)),
      doc: { i, tags: ['x', i] },
      photo: i % 3 === 0 ? null : new Uint8Array([i, 0, 255]),
    });
  }
  // 2^53 − 1 keys and values, and timestamps past 2^31 ms and seconds.
  await people.insert({ id: Number.MAX_SAFE_INTEGER, age: Number.MAX_SAFE_INTEGER, born: new Date(8.64e15) });
  out.push(await people.get(Number.MAX_SAFE_INTEGER));
  await expectCode(people.insert({ id: 3, name: 'duplicate' }), 'FX_DUPLICATE_KEY');
  await expectCode(people.insertMany([{ id: 500 }, { id: 500 }]), 'FX_DUPLICATE_KEY');
  expect(await people.count()).toBe(NAMES.length + 1);

  out.push(await people.get(3));
  out.push(await people.get(4, { select: ['email', 'age'] }));
  out.push((await people.find({ where: { email: 'user1@example.com' } })).map((r) => r.id));
  out.push(
    (await people.find({ where: { email: { in: ['USER2@example.com', 'nobody@x'] } } })).map((r) => r.id),
  );
  out.push(
    (await people.find({ where: { age: { gte: 30, lt: 45 } }, orderBy: { age: 'asc' } })).map((r) => [
      r.id,
      r.age,
    ]),
  );
  out.push((await people.find({ where: { age: { notIn: [] }, active: true } })).map((r) => r.id));
  out.push((await people.find({ where: { age: { in: [] } } })).map((r) => r.id));
  out.push((await people.find({ where: { or: [] } })).map((r) => r.id));
  out.push((await people.find({ where: { not: { age: { isNull: true } } }, select: ['age'] })).length);
  out.push(
    (await people.find({ where: { score: { gt: 1.5 } }, orderBy: { score: 'desc' } })).map((r) => r.id),
  );
  out.push((await people.find({ where: { born: { lt: new Date(Date.UTC(1955, 0, 1)) } } })).map((r) => r.id));
  out.push((await people.find({ where: { photo: new Uint8Array([4, 0, 255]) } })).map((r) => r.id));
  out.push((await people.find({ where: { age: { bitsClear: 1 } } })).map((r) => r.id));
  // Orderings with nulls: first ascending, last descending, on both backends.
  for (const orderBy of [
    { name: 'asc' },
    { name: 'desc' },
    [{ age: 'desc' }, { name: 'asc' }],
    { id: 'desc' },
  ] as const) {
    out.push((await people.find({ orderBy })).map((r) => [r.id, r.name, r.age]));
    // The same order, page by page, through cursors.
    const paged: unknown[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await people.page({ orderBy, limit: 5, ...(after === undefined ? {} : { after }) });
      paged.push(...page.rows.map((r) => [r.id, r.name, r.age]));
      if (page.next === null) break;
      after = page.next;
    }
    expect(paged).toEqual(out.at(-1));
  }
  // Mixed filters: a blind-index superset re-checked after decryption, plus plaintext ranges.
  out.push(
    (
      await people.find({
        where: { email: 'USER0@example.com', name: { gt: 'B' } },
        orderBy: { name: 'asc' },
      })
    ).map((r) => r.id),
  );
  out.push(
    (await people.find({ where: { ssn: '000-00-0007', name: { gte: 'a' } }, scan: true })).map((r) => r.id),
  );
  out.push(await people.count({ where: { email: 'user3@example.com' } }));
  out.push(await people.count({ where: { age: { isNull: true } } }));
  const iterated: number[] = [];
  for await (const row of people.iterate({ where: { active: false } })) iterated.push(row.id);
  out.push(iterated);

  await people.update(2, { name: 'renamed', ssn: '999-99-9999', email: 'New@Example.com' });
  out.push(await people.get(2));
  await expectCode(people.update(12345, { name: 'ghost' }), 'FX_ROW_NOT_FOUND');
  out.push(await people.delete(1), await people.delete(1));
  out.push(await people.deleteMany({ where: { email: 'user3@example.com' } }));
  out.push(await people.deleteMany({ where: { age: { gt: 45 } } }));
  out.push(await people.count());

  // Transactions: committed together, or not at all.
  await engine.transaction(async (tx) => {
    await tx.table('people').insert({ id: 100, name: 'in tx', email: 'tx@example.com' });
    await tx.table('people').update(100, { ssn: 'set in tx' });
  });
  await expect(
    engine.transaction(async (tx) => {
      await tx.table('people').insert({ id: 101, name: 'rolled back' });
      throw new Error('abort');
    }),
  ).rejects.toThrow('abort');
  out.push(await people.get(100), await people.get(101));

  // Row-level table with a uuid key: one envelope per row.
  const notes = await engine.createTable('notes', {
    encryption: 'row',
    columns: {
      id: { type: 'text', primaryKey: true },
      body: { type: 'text', encrypt: true },
      tag: { type: 'text', encrypt: { search: 'equality' } },
      rank: { type: 'integer', index: true },
    },
  });
  for (let i = 0; i < 9; i++)
    await notes.insert({ id: `n${i}`, body: `note ${i}`, tag: `t${i % 3}`, rank: i % 4 });
  await notes.update('n4', { body: 'edited' });
  out.push(await notes.find({ where: { tag: 't1' }, orderBy: { rank: 'desc' } }));

  // Schema changes and background jobs.
  await engine.addColumn('people', 'nickname', { type: 'text', index: true });
  await engine.table('people').update(3, { nickname: 'nick' });
  const encrypting = await engine.encryptColumn('people', 'name', { search: 'equality' }, { batchSize: 3 });
  await encrypting.done;
  out.push((await people.find({ where: { name: 'renamed' } })).map((r) => r.id));
  const rotating = await engine.rotateKeys('people', { batchSize: 4 });
  out.push((await rotating.done).state);
  out.push((await engine.keyUsage('people')).map((u) => [u.column, u.version, u.rows]));
  const reindexing = await engine.rotateIndexKey('people', 'email', { batchSize: 4 });
  await reindexing.done;
  out.push((await people.find({ where: { email: 'user2@example.com' } })).map((r) => r.id));
  const dropping = await engine.dropColumn('notes', 'body', { batchSize: 2 });
  await dropping?.done;
  out.push(await notes.get('n4'));
  await engine.dropColumn('people', 'score');
  out.push(await people.get(3));
  out.push(engine.listJobs().map((j) => [j.kind, j.state, j.processed]));
  await engine.dropTable('notes');
  out.push(engine.listTables());
  return out;
}

describe('Engine on PostgreSQL', () => {
  it('runs the whole engine scenario with the same results as on SQLite', { timeout: 120_000 }, async () => {
    const onSqlite = await engineScenario(await openEngine(await sqlite()));
    const { driver, schema } = await pg();
    const opened = await openEngine(driver);
    const onPostgres = await engineScenario(opened);
    expect(onPostgres).toEqual(onSqlite);
    expect(onPostgres).toHaveLength(40);

    // Reopened by another pool: the catalog, the jobs and the data are all there.
    const { engine } = await openEngine(await schema.open(), opened.shares);
    expect(engine.listTables()).toEqual(['people']);
    const rows = await engine.table('people').find({ where: { email: 'user2@example.com' } });
    expect(rows.map((r) => r['id'])).toEqual([3, 7, 11]);
    expect(await engine.resumeJobs()).toEqual([]);
  });

  it('a catalog reload whose read raced a local create or drop never undoes it', async () => {
    const { driver } = await pg();
    const { engine } = await openEngine(driver);
    // Holds the reload's catalog read until the local change has landed in memory.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const all = driver.all.bind(driver);
    let holdNext = false;
    driver.all = (async (sql: string, params?: readonly SqlValue[]) => {
      const rows = await all(sql, params);
      if (holdNext && sql.includes('FROM fx_tables')) {
        holdNext = false;
        await held;
      }
      return rows;
    }) as typeof driver.all;
    const columns = {
      id: { type: 'integer', primaryKey: true },
      s: { type: 'text', encrypt: true },
    } as const;
    holdNext = true;
    const reload = engine.reloadCatalog();
    await engine.createTable('raced', { columns });
    release();
    await reload;
    expect(engine.describeTable('raced').name).toBe('raced');
    await engine.table('raced').insert({ s: 'x' });
    // And a drop that lands while a reload's read (which still saw the table) is held.
    let releaseDrop: () => void = () => undefined;
    const heldDrop = new Promise<void>((resolve) => (releaseDrop = resolve));
    driver.all = (async (sql: string, params?: readonly SqlValue[]) => {
      const rows = await all(sql, params);
      if (sql.includes('FROM fx_tables')) await heldDrop;
      return rows;
    }) as typeof driver.all;
    const second = engine.reloadCatalog();
    await engine.dropTable('raced');
    releaseDrop();
    await second;
    expect(() => engine.describeTable('raced')).toThrow(/no table/);
  });

  it('the jobs table numbers jobs itself (identity key, RETURNING)', async () => {
    const { engine, driver } = await openEngine((await pg()).driver);
    await engine.createTable('t', {
      columns: { id: { type: 'integer', primaryKey: true }, v: { type: 'text', encrypt: true } },
    });
    await engine.table('t').insert({ v: 'x' });
    const first = await engine.rotateKeys('t');
    const second = (await first.done, await engine.reencrypt('t'));
    await second.done;
    expect([first.id, second.id]).toEqual([1, 2]);
    expect(await driver.all('SELECT id, kind, state FROM fx_jobs ORDER BY id')).toEqual([
      { id: 1, kind: 'reencrypt', state: 'done' },
      { id: 2, kind: 'reencrypt', state: 'done' },
    ]);
  });

  it('concurrent insertMany with generated keys: a transaction run again takes fresh keys', async () => {
    const { engine } = await openEngine((await pg()).driver);
    const t = await engine.createTable('t', {
      columns: { id: { type: 'integer', primaryKey: true }, v: { type: 'text', encrypt: true } },
    });
    const batches = await Promise.all(
      Array.from({ length: 4 }, (_, b) =>
        t.insertMany(Array.from({ length: 5 }, (_, i) => ({ v: `${b}.${i}` }))),
      ),
    );
    const ids = batches.flat().map((r) => r.id);
    expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await t.find()).map((r) => [r.id, r.v])).toEqual(
      batches
        .flat()
        .map((r) => [r.id, r.v])
        .sort((x, y) => (x[0] as number) - (y[0] as number)),
    );
  });

  it('a duplicate key inside a transaction fails the whole transaction (PostgreSQL aborts it)', async () => {
    const { engine } = await openEngine((await pg()).driver);
    const t = await engine.createTable('t', {
      columns: { id: { type: 'integer', primaryKey: true }, v: { type: 'text' } },
    });
    await t.insert({ id: 1, v: 'a' });
    const error = await engine
      .transaction(async (tx) => {
        await tx
          .table('t')
          .insert({ id: 1, v: 'b' })
          .catch((e: unknown) => {
            expect(e).toMatchObject({ code: 'FX_DUPLICATE_KEY' });
          });
        await tx.table('t').insert({ id: 2, v: 'c' });
      })
      .catch((e: unknown) => e);
    // PostgreSQL refuses every statement after a failed one until the transaction ends.
    expect(error).toBeInstanceOf(FortressError);
    expect(await t.count()).toBe(1);
  });
});

describe('long names on PostgreSQL (identifiers are cut at 63 bytes there)', () => {
  it('refuses table and column names whose stored form would be cut; index names never collide', async () => {
    const { engine, driver } = await openEngine((await pg()).driver);
    const id = { type: 'integer', primaryKey: true } as const;
    await expectCode(engine.createTable('t'.repeat(59), { columns: { id } }), 'FX_SCHEMA_INVALID');
    await expectCode(
      engine.createTable('t', {
        columns: { id, ['c'.repeat(61)]: { type: 'text', encrypt: { search: 'equality' } } },
      }),
      'FX_SCHEMA_INVALID',
    );
    expect(engine.listTables()).toEqual([]);

    // The longest names: every index name is over 63 characters and differs only at its end.
    const table = 't'.repeat(58);
    const a = `${'c'.repeat(59)}a`;
    const b = `${'c'.repeat(59)}b`;
    const p = `${'c'.repeat(60)}p`;
    const q = `${'c'.repeat(60)}q`;
    const t = await engine.createTable(table, {
      columns: {
        id,
        [a]: { type: 'text', encrypt: { search: 'equality' } },
        [b]: { type: 'text', encrypt: { search: 'equality' } },
        [p]: { type: 'integer', index: true },
        [q]: { type: 'integer', index: true },
      },
    });
    await expectCode(engine.addColumn(table, 'd'.repeat(62), { type: 'text' }), 'FX_SCHEMA_INVALID');
    const indexes = async (): Promise<string[]> =>
      (
        await driver.all<{ name: string }>(
          "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE 'fx_i_%' ORDER BY indexname",
        )
      ).map((r) => r.name);
    const created = await indexes();
    expect(created).toHaveLength(4);
    for (const name of created) expect(name.length).toBeLessThanOrEqual(63);
    for (let i = 0; i < 6; i++)
      await t.insert({ id: i, [a]: `a${i % 2}`, [b]: `b${i % 3}`, [p]: i, [q]: -i });
    expect((await t.find({ where: { [a]: 'a1' } })).map((r) => r.id)).toEqual([1, 3, 5]);
    expect((await t.find({ where: { [q]: { lt: -3 } }, orderBy: { [q]: 'asc' } })).map((r) => r.id)).toEqual([
      5, 4,
    ]);

    // Index rotation drops the old slot's index by its (shortened) name; the others stay.
    await (
      await engine.rotateIndexKey(table, a)
    ).done;
    expect(await indexes()).toHaveLength(4);
    expect(await indexes()).not.toEqual(created);
    expect((await t.find({ where: { [a]: 'a0' } })).map((r) => r.id)).toEqual([0, 2, 4]);
    await engine.dropColumn(table, p);
    expect(await indexes()).toHaveLength(3);
    expect((await t.find({ where: { [b]: 'b2' } })).map((r) => r.id)).toEqual([2, 5]);
  });
});
