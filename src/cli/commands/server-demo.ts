/**
 * @module cli/commands/server-demo
 * `fortress demo` (the README's main command): starts a real `fortress server` process on a free
 * port of 127.0.0.1 with a fresh data directory and its self-signed TLS certificate, then runs a
 * short scripted session against it through the SDK, as an operator and an application would:
 * init (Shamir shares), seal and unseal share by share, a table with encrypted columns, writes,
 * reads and an equality search over HTTPS, a least-privilege user whose reads come back masked and
 * whose writes are refused, a key rotation with its re-encryption job, a versioned KV secret and
 * transit encryption with a rotation and a rewrap, the audit ledger verified, a scan of the files
 * and logs for the sensitive values, and a seal that turns data routes into 503.
 * The server is stopped (drained, sealed) and the directory removed unless `--data` is given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FortressClient } from '../../client/index.js';
import { isFortressClientError } from '../../client/index.js';
import { renderTemplate } from '../../policy/templates/policy-templates.js';
import { FortressError } from '../../util/errors.js';
import { createRemoteClient } from '../remote.js';

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
const FIRST = ['Ann', 'Bob', 'Chen', 'Dana', 'Eli', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Jun'];
/** A sensitive value the demo writes, then looks for in every file and log line. */
const SENTINEL_SSN = '987-65-4329';
/** The application secret the demo keeps in the KV engine (also looked for). */
const SENTINEL_PASSWORD = 'billing-db-Hq7#rT2v';
/** The card number the demo encrypts through transit (also looked for). */
const SENTINEL_CARD = '4111 1111 1111 1111';

interface RunningChild {
  readonly child: ChildProcess;
  readonly url: string;
  readonly fingerprint: string;
}

/** Starts `fortress server` on a free port and resolves once it listens. */
function startServerProcess(dir: string, logFile: string): Promise<RunningChild> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'server', '--data', dir, '--listen', '127.0.0.1:0'], {
      env: { ...process.env, FORTRESS_LOG_FILE: logFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let printed = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new FortressError('FX_INTERNAL', `the server did not start within 30 s:\n${printed}`));
    }, 30_000);
    const collect = (chunk: string): void => {
      printed += chunk;
      const url = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(printed)?.[1];
      const fingerprint = /fingerprint: ([0-9A-F:]+)/i.exec(printed)?.[1];
      if (url !== undefined && fingerprint !== undefined && printed.includes('State:')) {
        clearTimeout(timer);
        resolve({ child, url, fingerprint });
      }
    };
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new FortressError('FX_INTERNAL', `the server exited (${String(code)}) before listening:\n${printed}`),
      );
    });
  });
}

/** SIGTERM: the server finishes in-flight requests, seals and exits. */
function stopServerProcess(running: RunningChild): Promise<number | null> {
  return new Promise((resolve) => {
    if (running.child.exitCode !== null) {
      resolve(running.child.exitCode);
      return;
    }
    running.child.removeAllListeners('exit');
    running.child.once('exit', (code) => {
      resolve(code);
    });
    running.child.kill('SIGTERM');
  });
}

async function failureOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'allowed (unexpected)';
  } catch (error) {
    if (isFortressClientError(error)) return `${String(error.status)} ${error.code}`;
    throw error;
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

export async function serverDemo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { data: { type: 'string' }, rows: { type: 'string', default: '2000' } },
    strict: true,
  });
  const rows = Number(values.rows);
  if (!Number.isInteger(rows) || rows < 10 || rows > 100_000) {
    throw new FortressError('FX_CLI_USAGE', '--rows must be an integer from 10 to 100000');
  }
  const temporary = values.data === undefined;
  const dir = values.data ?? (await mkdtemp(path.join(os.tmpdir(), 'fortress-demo-')));
  const logFile = path.join(os.tmpdir(), `fortress-demo-${String(process.pid)}.log`);
  let running: RunningChild | undefined;
  try {
    out(`Fortress demo — a dev server on this machine, driven through the SDK over HTTPS`);
    out();
    out(`1. Start \`fortress server --data ${dir} --listen 127.0.0.1:0\`:`);
    running = await startServerProcess(dir, logFile);
    out(`   listening on ${running.url} (TLS, self-signed certificate made in ${path.join(dir, 'tls')})`);
    out(`   certificate SHA-256 fingerprint: ${running.fingerprint}`);
    const target = { address: running.url, ca: readFileSync(path.join(dir, 'tls', 'server.crt'), 'utf8') };
    const operator = await createRemoteClient(target);
    const health = await operator.sys.health();
    out(`   GET /v1/sys/health → initialized: ${String(health.initialized)} (501 until init)`);
    out();

    out('2. Init: the root key is made and split into 5 Shamir shares, any 3 unseal:');
    const init = await operator.sys.init({ shares: 5, threshold: 3 });
    for (const [i, share] of init.shares.entries())
      out(`   share ${String(i + 1)}: ${share.slice(0, 5)}…${share.slice(-8)} (shown once; one per holder)`);
    out(`   root token: ${init.rootToken.slice(0, 8)}… (accessor ${init.rootTokenAccessor})`);
    const admin = await createRemoteClient(target, init.rootToken);
    await admin.sys.seal();
    out(
      `   sealed: every key zeroed; GET /v1/sys/health → ${(await operator.sys.health()).sealed ? '503' : '200'}`,
    );
    for (const share of [init.shares[4]!, init.shares[1]!, init.shares[2]!]) {
      const status = await operator.sys.unseal(share);
      out(
        `   unseal share → ${status.sealed ? `${String(status.progress)} of ${String(status.threshold)}` : 'unsealed'}`,
      );
    }
    out();

    out('3. A table with encrypted columns (email searchable by equality, ssn and notes encrypted):');
    await admin.db.createTable('patients', {
      columns: {
        id: { type: 'integer', primaryKey: true },
        email: { type: 'text', encrypt: { search: 'equality', normalize: ['trim', 'casefold'] } },
        ssn: { type: 'text', encrypt: {} },
        name: { type: 'text', encrypt: {} },
        age: { type: 'integer', index: true },
        notes: { type: 'text', encrypt: { algorithm: 'aes-256-gcm' } },
      },
    });
    let start = performance.now();
    for (let i = 0; i < rows; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(i + 500, rows); j++) {
        batch.push({
          id: j,
          email: `${FIRST[j % FIRST.length]!.toLowerCase()}${String(j)}@example.com`,
          ssn:
            j === 0
              ? SENTINEL_SSN
              : `${String(100 + (j % 800))}-${String(10 + (j % 89))}-${String(1000 + (j % 8999))}`,
          name: `${FIRST[j % FIRST.length]!} ${String(j)}`,
          age: 18 + (j % 70),
          notes: `Visit ${String(j % 9)}: blood pressure normal.`,
        });
      }
      await admin.db.insertMany('patients', batch);
    }
    out(
      `   POST /v1/db/tables/patients/rows × ${String(Math.ceil(rows / 500))}: ${String(rows)} rows in ${(performance.now() - start).toFixed(0)} ms`,
    );
    start = performance.now();
    const one = await admin.db.get('patients', 0);
    out(
      `   GET …/rows/0 → ${one['name'] as string}, ssn ${one['ssn'] as string} (${(performance.now() - start).toFixed(1)} ms)`,
    );
    const found = await admin.db.find('patients', { where: { email: '  ANN0@Example.com ' } });
    out(
      `   find email = '  ANN0@Example.com ' → ${found.map((r) => r['name'] as string).join(', ')} (blind index, normalised)`,
    );
    out(
      `   find ssn > '500' → refused: ${await failureOf(admin.db.find('patients', { where: { ssn: { gt: '500' } } }))}`,
    );
    out();

    out('4. Least privilege: user ann with the `analyst` policy template (read and query, no decrypt):');
    await admin.principals.putRole('analysts');
    await admin.policies.addMany(renderTemplate('analyst', { tenant: 'default', role: 'analysts' }));
    await admin.principals.putUser('ann', { roles: ['analysts'] });
    await admin.auth.setPassword('ann', 'correct horse battery staple');
    const ann = await createRemoteClient(target);
    await ann.auth.login('ann', 'correct horse battery staple');
    const seen = await ann.db.get('patients', 0);
    out(
      `   ann reads row 0 → name ${String(seen['name'])}, ssn ${String(seen['ssn'])}, age ${String(seen['age'])} (encrypted columns masked)`,
    );
    out(
      `   ann inserts a row → refused: ${await failureOf(ann.db.insert('patients', { id: rows + 1, age: 40 }))}`,
    );
    out(`   ann rotates a key → refused: ${await failureOf(ann.keys.rotateTable('patients'))}`);
    out();

    out('5. Rotate the table keys; a background job re-encrypts every row (reads keep working):');
    const job = (await admin.keys.rotateTable('patients'))['job'] as { id: number } | undefined;
    if (job !== undefined) {
      const done = await admin.keys.waitForJob(job.id, {
        onProgress: (p) => {
          const percent = Number(p['percent'] ?? 0);
          out(
            `   [${'#'.repeat(Math.round(percent / 5)).padEnd(20, '.')}] ${percent.toFixed(0).padStart(3)}%`,
          );
        },
      });
      const rewritten = done['rewritten'] ?? done['processed'];
      out(
        `   job ${String(done['state'])}: ${typeof rewritten === 'number' ? String(rewritten) : '?'} rows re-encrypted`,
      );
    }
    out(`   GET …/rows/0 after rotation → ${(await admin.db.get('patients', 0))['name'] as string}`);
    out();

    await secrets(admin, ann);
    await auditAndSeal(admin, ann, dir, logFile);
    return 0;
  } finally {
    if (running !== undefined) {
      const code = await stopServerProcess(running);
      out(`Server stopped (SIGTERM: drained, sealed; exit ${String(code)}).`);
    }
    await rm(logFile, { force: true });
    if (temporary) await rm(dir, { recursive: true, force: true });
  }
}

/** Step 6: the Vault-style engines beside the data — a versioned secret, transit with a rotation. */
async function secrets(admin: FortressClient, ann: FortressClient): Promise<void> {
  out('6. Secrets beside the data, as in Vault: a versioned KV secret and encryption as a service:');
  const first = await admin.kv.put('apps/billing/db', { user: 'billing', password: 'initial-password' });
  const second = await admin.kv.put(
    'apps/billing/db',
    { user: 'billing', password: SENTINEL_PASSWORD },
    { cas: first.version },
  );
  const latest = await admin.kv.get('apps/billing/db');
  const password = String(latest.data?.['password']);
  out(
    `   POST /v1/kv/data/apps/billing/db × 2 → version ${String(second.version)}; GET → user ${String(latest.data?.['user'])}, a password of ${String(password.length)} characters (version ${String(latest.metadata.version)})`,
  );
  out(
    `   a write with a stale cas (version ${String(first.version)}) → refused: ${await failureOf(admin.kv.put('apps/billing/db', { user: 'x' }, { cas: first.version }))}`,
  );
  out(`   ann reads it → refused: ${await failureOf(ann.kv.get('apps/billing/db'))} (policy per path)`);
  await admin.transit.createKey('payments');
  const sealed = await admin.transit.encrypt('payments', SENTINEL_CARD);
  out(
    `   transit encrypt with key payments → ${sealed.ciphertext.slice(0, 10)}…${sealed.ciphertext.slice(-6)} (the card number is not stored)`,
  );
  await admin.transit.rotate('payments');
  const rewrapped = await admin.transit.rewrap('payments', sealed.ciphertext);
  out(
    `   rotate payments, rewrap → ${rewrapped.ciphertext.slice(0, 10)}…${rewrapped.ciphertext.slice(-6)} (key version ${String(rewrapped.keyVersion)}; the plaintext never left the server)`,
  );
  const card = await admin.transit.decryptText('payments', rewrapped.ciphertext);
  out(`   decrypt → ${card === SENTINEL_CARD ? 'the same card number' : 'A DIFFERENT VALUE'}`);
  out('   (GET /v1/database/creds/ROLE hands out short-lived PostgreSQL logins: docs/secrets-database.md)');
  out();
}

async function auditAndSeal(
  admin: FortressClient,
  ann: FortressClient,
  dir: string,
  logFile: string,
): Promise<void> {
  out('7. Every call above is in the tamper-evident audit ledger:');
  const tail = (await admin.audit.tail(4))['entries'] as {
    seq: number;
    action: string;
    principal: { id: string };
    outcome: { status: string };
    client: string | null;
  }[];
  for (const e of tail)
    out(`   #${String(e.seq)} ${e.action} by ${e.principal.id} from ${e.client ?? '-'}: ${e.outcome.status}`);
  const denied = (await admin.audit.search({ action: 'table.insert' }))['entries'] as {
    decision: { effect: string };
  }[];
  out(
    `   ann's refused insert is there too: ${String(denied.filter((e) => e.decision.effect === 'deny').length)} denied table.insert entry`,
  );
  const checkpoint = await admin.audit.checkpoint();
  out(`   signed checkpoint of ${String(checkpoint['size'])} entries`);
  const verified = await admin.audit.verify();
  out(
    `   verify: ${verified['ok'] === true ? 'OK' : 'FAILED'} — ${String(verified['entriesChecked'])} entries re-hashed`,
  );
  out();

  out(
    `8. Where are the SSN ${SENTINEL_SSN}, the billing password and the card number stored in the clear? (data directory and server log)`,
  );
  const holders = [...filesUnder(dir), logFile].filter((file) => {
    const bytes = readFileSync(file);
    return [SENTINEL_SSN, SENTINEL_PASSWORD, SENTINEL_CARD].some((value) => bytes.includes(value));
  });
  out(`   files holding any of them: ${holders.length === 0 ? 'none' : holders.join(', ')}`);
  out();

  out('9. Seal: keys zeroed; data routes answer 503 until the shares come back:');
  await admin.sys.seal();
  out(`   ann reads row 0 → ${await failureOf(ann.db.get('patients', 0))}`);
  out();
  out('Done. docs/operations.md runs a server for real; README.md shows the API, the SDK and the CLI.');
}
