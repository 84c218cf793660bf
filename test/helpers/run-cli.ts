/**
 * The built `fortress` CLI as a child process, with none of the caller's FORTRESS_* settings
 * leaking in (tests that talk to a server, or to a data directory, set what they need).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI: string = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../dist/src/cli/main.js',
);

/** The environment without anything of the caller's own Fortress setup. */
export const CLEAN_ENV: Record<string, string | undefined> = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith('FORTRESS_')),
);

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `fortress …args` with `input` on stdin and resolves once it exits. */
export function runCli(
  args: readonly string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...CLEAN_ENV, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
