/**
 * A real `fortress server` process for tests: spawned from the built CLI with the given
 * environment, on a free port, with its own self-signed certificate; SDK clients and a `fetch`
 * that trust it. A process the test forgets (a failed hook, vitest ending) is killed on exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { FortressClient } from '../../src/client/index.js';
import { CLEAN_ENV, CLI } from './run-cli.js';

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed (stdout and stderr). */
  readonly output: string[];
  /** `fetch` trusting the server's certificate (for raw requests). */
  readonly fetch: typeof fetch;
  /** An SDK client of this server (no retries unless asked). */
  client(
    token?: string,
    options?: { readonly retries?: number; readonly timeoutMs?: number },
  ): FortressClient;
  /** SIGTERM (drains and seals; SIGKILL after 15 s) and waits for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no draining, no sealing — a crashed node. */
  kill(): Promise<void>;
}

/** Starts `fortress server --data dataDir` with `env` added to a clean environment (rate limits lifted). */
export async function startServerProcess(
  dataDir: string,
  env: Record<string, string>,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'server', '--data', dataDir, '--listen', '127.0.0.1:0'], {
    env: {
      ...CLEAN_ENV,
      FORTRESS_LIMITS_RATE_LIMIT_PER_TOKEN: '100000000',
      FORTRESS_LIMITS_RATE_LIMIT_PER_ADDRESS: '100000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      process.removeListener('exit', killOnExit);
      resolve(code);
    });
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${output.join('')}`));
    }, 30_000);
    const collect = (d: string): void => {
      output.push(d);
      const match = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(output.join(''));
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${String(code)}): ${output.join('')}`));
    });
  });
  const agent = new Agent({
    connect: { ca: await readFile(path.join(dataDir, 'tls', 'server.crt'), 'utf8') },
    connections: 64,
  });
  const fetchFn = ((input: string, init?: object) =>
    undiciFetch(input, { ...init, dispatcher: agent })) as unknown as typeof fetch;
  return {
    url,
    child,
    output,
    fetch: fetchFn,
    client: (token, options = {}) =>
      new FortressClient({
        address: url,
        fetch: fetchFn,
        retries: options.retries ?? 0,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(token === undefined ? {} : { token }),
      }),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(killOnExit, 15_000);
      const code = await exited;
      clearTimeout(timer);
      await agent.close();
      return code;
    },
    kill: async () => {
      killOnExit();
      await exited;
      await agent.destroy();
    },
  };
}
