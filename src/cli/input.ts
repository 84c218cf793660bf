/**
 * @module cli/input
 * Reading secrets from the operator: from a terminal without echo, or line by line from a pipe
 * (`fortress unseal < shares.txt`, scripts, tests). Secrets are never printed or logged.
 */
import { FortressError } from '../util/errors.js';

/** Reads lines from a non-interactive stdin, once, lazily. */
class PipedLines {
  #lines: Promise<string[]> | undefined;
  #next = 0;

  async next(): Promise<string | undefined> {
    this.#lines ??= new Promise<string[]>((resolve, reject) => {
      const chunks: Buffer[] = [];
      process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
      process.stdin.on('end', () => {
        resolve(
          Buffer.concat(chunks)
            .toString('utf8')
            .split(/\r?\n/)
            .filter((l) => l.trim().length > 0),
        );
      });
      process.stdin.on('error', reject);
    });
    const lines = await this.#lines;
    return lines[this.#next++];
  }
}

const piped = new PipedLines();

/** Prompts on a terminal without echoing what is typed. */
function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const done = (error?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (data: Buffer): void => {
      for (const char of data.toString('utf8')) {
        if (char === '\r' || char === '\n') {
          done();
          return;
        }
        if (char === '\u0003') {
          done(new FortressError('FX_CLI_USAGE', 'cancelled'));
          return;
        }
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.on('data', onData);
  });
}

/** One secret input: hidden prompt on a terminal, next line of stdin otherwise. */
export async function readSecret(prompt: string, options: { exact?: boolean } = {}): Promise<string> {
  if (process.stdin.isTTY) return promptHidden(prompt);
  const raw = await piped.next();
  // Shares and passphrases are trimmed (stray spaces from copy and paste); `exact` keeps the line as
  // it is, for values whose spaces matter (`fortress audit hash -`).
  const line = raw === undefined || options.exact === true ? raw : raw.trim();
  if (line === undefined) {
    throw new FortressError(
      'FX_CLI_USAGE',
      `expected more input on stdin (${prompt.replace(/:\s*$/, '').trim()})`,
    );
  }
  return line;
}
