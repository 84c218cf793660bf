/**
 * A private, throwaway PostgreSQL server for one test file: its own data directory in a temp
 * directory, its own port on 127.0.0.1, trust authentication (or, with `passwordAuth`, passwords
 * for every user but `postgres` over TCP), every statement logged
 * (`log_statement = all`, with bound parameters) to a file the test can read, and `fsync = on`.
 * Tests that stop, kill or restart PostgreSQL, or read its statement log, use one of these — never
 * the shared server of FORTRESS_TEST_PG_URL, which other test files use at the same time.
 *
 * The binaries come from FORTRESS_TEST_PG_BINDIR, `pg_config --bindir`, or the newest
 * /usr/lib/postgresql/<version>/bin. initdb and the server refuse to run as root, so under root
 * they run as the `postgres` user (`runuser`) in a directory handed to it. Without the binaries
 * (or, under root, without a `postgres` user) the tests fail with the reason — never a skip.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** How `pg_ctl stop` ends the server: `fast` rolls back sessions cleanly, `immediate` is a crash. */
export type PgStopMode = 'fast' | 'immediate';

export interface PgInstanceOptions {
  /** The database `url` names, created at the first start. @default 'fortress' */
  readonly database?: string;
  /** Extra `postgresql.conf` settings (values written as given, so quote strings: `"'on'"`). */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * Password authentication over TCP: every user but `postgres` must log in to 127.0.0.1 with its
   * password (`scram-sha-256`); `postgres` stays trusted (so `url`, `dump()` and setup work
   * unchanged) and the Unix socket in `dir` trusts everyone. @default false (trust for all)
   */
  readonly passwordAuth?: boolean;
}

export interface PgInstance {
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust authentication: no password). */
  readonly url: string;
  readonly port: number;
  readonly database: string;
  /** The temp directory: data directory, socket and log file. */
  readonly dir: string;
  readonly logFile: string;
  /** True between a successful `start()` and `stop()`. */
  readonly running: boolean;
  /** Starts the server (again) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops the server and waits until it is gone. @default mode 'fast' */
  stop(mode?: PgStopMode): Promise<void>;
  /** `stop('fast')`, then `start()`. */
  restart(): Promise<void>;
  /** Everything the server has logged so far (every statement, with its parameters). */
  log(): Promise<string>;
  /** `pg_dump` of the whole database in plain SQL: schema and every row. */
  dump(): Promise<string>;
  /** Stops the server (immediately) and removes its directory. */
  destroy(): Promise<void>;
}

const NEEDED = ['initdb', 'pg_ctl', 'postgres', 'pg_dump', 'createdb'] as const;

function hasAll(bindir: string): boolean {
  return NEEDED.every((name) => existsSync(path.join(bindir, name)));
}

/** The directory holding initdb, pg_ctl, postgres, pg_dump and createdb. */
function findBindir(): string {
  const tried: string[] = [];
  const fromEnv = process.env['FORTRESS_TEST_PG_BINDIR'];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (hasAll(fromEnv)) return fromEnv;
    tried.push(fromEnv);
  }
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: 'pipe' }).trim();
    if (hasAll(bindir)) return bindir;
    tried.push(bindir);
  } catch {
    tried.push('pg_config --bindir (not found)');
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+(\.\d+)?$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const bindir = path.join(root, version, 'bin');
    if (hasAll(bindir)) return bindir;
    tried.push(bindir);
  }
  throw new Error(
    `PostgreSQL server binaries (${NEEDED.join(', ')}) not found; looked in: ${tried.join(', ') || root}. ` +
      'Install them (`apt-get install -y postgresql`) or set FORTRESS_TEST_PG_BINDIR. ' +
      'These tests do not skip.',
  );
}

/** The environment without libpq settings of the caller's that would redirect the client tools. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('PG') || name === 'PGTZ'),
  );
}

interface Run {
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: cleanEnv(), timeout: timeoutMs, maxBuffer: 512 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(
            new Error(`${path.basename(command)} ${args.join(' ')} failed: ${error.message}\n${stderr}`),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** A port nobody listens on right now (the server binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** The uid and gid of the `postgres` user (root must hand it the directory). */
function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: 'pipe' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: 'pipe' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(
      'running as root, and there is no `postgres` user to run initdb and the server as ' +
        '(PostgreSQL refuses root); install the postgresql package, which creates it',
    );
  }
}

/**
 * Initialises and starts a private PostgreSQL server (about a second) with a database of its own.
 * Call `destroy()` when done (an exit handler stops it if a test forgets).
 */
export async function startPgInstance(options: PgInstanceOptions = {}): Promise<PgInstance> {
  const bindir = findBindir();
  const bin = (name: (typeof NEEDED)[number]): string => path.join(bindir, name);
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? postgresUser() : null;
  /** Runs a server-side binary as the user that owns the data directory. */
  const runServerTool = (name: 'initdb' | 'pg_ctl', args: readonly string[]): Promise<Run> =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', bin(name), ...args]) : run(bin(name), args);

  const database = options.database ?? 'fortress';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fx-pg-'));
  if (owner !== null) await chown(dir, owner.uid, owner.gid);
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const pidFile = path.join(data, 'postmaster.pid');

  let running = false;
  // If the test process ends without destroy() (a crash, a forgotten afterAll), the server must
  // not outlive it: SIGQUIT is PostgreSQL's immediate shutdown.
  const onExit = (): void => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // Not running.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const cleanUp = async (): Promise<void> => {
    process.removeListener('exit', onExit);
    if (running || existsSync(pidFile)) {
      await runServerTool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      running = false;
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await runServerTool('initdb', [
      '-D',
      data,
      '--auth=trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C',
      // The throwaway directory need not survive a power loss; the server itself runs with fsync.
      '--no-sync',
      '--no-instructions',
    ]);
    const port = await freePort();
    const settings: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      port: String(port),
      unix_socket_directories: `'${dir}'`,
      fsync: 'on',
      synchronous_commit: 'on',
      // Every statement, with its bound parameters (in full), to stderr — which pg_ctl sends to the
      // log file.
      log_statement: "'all'",
      log_parameter_max_length: '-1',
      log_parameter_max_length_on_error: '-1',
      log_min_error_statement: "'error'",
      log_destination: "'stderr'",
      logging_collector: 'off',
      log_line_prefix: "'%m [%p] '",
      max_connections: '40',
      shared_buffers: "'16MB'",
      ...options.settings,
    };
    await appendFile(
      path.join(data, 'postgresql.conf'),
      `\n# test/helpers/pg-instance.ts\n${Object.entries(settings)
        .map(([key, value]) => `${key} = ${value}\n`)
        .join('')}`,
    );
    if (options.passwordAuth === true) {
      // First match wins: the superuser keeps trust, everyone else proves a password.
      await writeFile(
        path.join(data, 'pg_hba.conf'),
        [
          '# test/helpers/pg-instance.ts (passwordAuth)',
          'local all all trust',
          'host all postgres 127.0.0.1/32 trust',
          'host all all 127.0.0.1/32 scram-sha-256',
          'host all all ::1/128 scram-sha-256',
          '',
        ].join('\n'),
      );
    }
    const url = `postgres://postgres@127.0.0.1:${port}/${database}`;

    const start = async (): Promise<void> => {
      await runServerTool('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', 'start']);
      running = true;
    };
    const stop = async (mode: PgStopMode = 'fast'): Promise<void> => {
      await runServerTool('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
      running = false;
    };

    await start();
    await run(bin('createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', database]);

    return {
      url,
      port,
      database,
      dir,
      logFile,
      get running() {
        return running;
      },
      start,
      stop,
      restart: async () => {
        await stop('fast');
        await start();
      },
      log: () => readFile(logFile, 'utf8'),
      dump: async () =>
        (
          await run(bin('pg_dump'), [
            '-h',
            '127.0.0.1',
            '-p',
            String(port),
            '-U',
            'postgres',
            '--no-password',
            '--format=plain',
            database,
          ])
        ).stdout,
      destroy: cleanUp,
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
