#!/usr/bin/env node
/**
 * @module cli/main
 * The `fortress` command: the embedded data directory (init, unseal, keys, audit, policy), `selftest`
 * (known-answer tests on this machine) and `bench` (benchmarks that print JSON). Exit codes: 0
 * success, 1 a check failed (self-test, audit verification, a proof), 2 usage or other error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FortressError } from '../util/errors.js';
import { lockedMemoryLimit, runSelftest } from '../selftest/selftest.js';
import { auditCommand } from './commands/audit-commands.js';
import { demo } from './commands/demo.js';
import { accessCommand } from './commands/access-commands.js';
import { policyCommand } from './commands/policy-commands.js';
import { init, keysCommand, seal, status, unseal } from './commands/keys-commands.js';
import { configCheck, server } from './commands/server-commands.js';
import { helpFor, USAGE } from './help.js';
import { REMOTE_COMMANDS, REMOTE_ONLY_COMMANDS, wantsRemote } from './remote.js';

const BENCH_SUITES = [
  'crypto',
  'keys',
  'engine',
  'audit',
  'policy',
  'server',
  'postgres',
  'secrets',
] as const;

function usageError(message: string): FortressError {
  return new FortressError('FX_CLI_USAGE', message);
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function selftest(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false } },
    strict: true,
  });
  const results = await runSelftest();
  const failed = results.filter((r) => !r.ok).length;
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ passed: results.length - failed, failed, results }, null, 2)}\n`,
    );
    return failed === 0 ? 0 : 1;
  }
  const rows = results.map((r) => [
    r.ok ? 'PASS' : 'FAIL',
    r.algorithm,
    r.check,
    `${r.ms.toFixed(1)} ms`,
    r.source,
  ]);
  const header = ['result', 'algorithm', 'check', 'time', 'source'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out: string[] = [
    `Fortress ${packageVersion()} self-test — Node ${process.version}, OpenSSL ${process.versions.openssl}`,
    '',
  ];
  out.push(line(header), line(widths.map((w) => '-'.repeat(w))));
  for (const [i, row] of rows.entries()) {
    out.push(line(row));
    const error = results[i]!.error;
    if (error !== undefined) out.push(`      ↳ ${error}`);
  }
  const memlock = lockedMemoryLimit();
  out.push('', `${results.length - failed} passed, ${failed} failed`);
  if (memlock !== undefined) out.push(`locked-memory limit for key storage (ulimit -l): ${memlock}`);
  out.push(failed === 0 ? 'SELFTEST PASSED' : 'SELFTEST FAILED — do not use this build for data');
  process.stdout.write(`${out.join('\n')}\n`);
  return failed === 0 ? 0 : 1;
}

async function bench(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    options: { quick: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const suite = positionals[0] ?? 'crypto';
  if (positionals.length > 1 || !(BENCH_SUITES as readonly string[]).includes(suite)) {
    throw usageError(
      `unknown benchmark suite ${JSON.stringify(positionals.join(' '))}; suites: ${BENCH_SUITES.join(', ')}`,
    );
  }
  const module = (await import(new URL(`../../bench/${suite}.bench.js`, import.meta.url).href)) as {
    run: (options: { quick: boolean }) => Promise<unknown>;
  };
  const report = await module.run({ quick: values.quick });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

/** `fortress help [COMMAND [SUBCOMMAND]]`: the whole usage, or one command's entries. */
function help(words: readonly string[]): number {
  if (words.length === 0) {
    process.stdout.write(USAGE);
    return 0;
  }
  const text = helpFor(words);
  if (text === undefined) throw usageError(`unknown command ${JSON.stringify(words[0])}`);
  process.stdout.write(text);
  return 0;
}

/** `--help` or `-h` among a command's options (not after `--`, where everything is an argument). */
function asksForHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    return help(rest.filter((a) => !a.startsWith('-')));
  }
  if (command !== undefined && asksForHelp(rest)) {
    return help([command, ...rest.filter((a) => !a.startsWith('-'))]);
  }
  if (
    command !== undefined &&
    REMOTE_COMMANDS.has(command) &&
    (REMOTE_ONLY_COMMANDS.has(command) || wantsRemote(rest, process.env))
  ) {
    // Loaded on demand: embedded commands never load the SDK or undici.
    const { remoteCommand } = await import('./commands/remote-commands.js');
    return remoteCommand(command, rest);
  }
  switch (command) {
    case 'demo':
      if (rest.includes('--embedded')) return demo(rest.filter((a) => a !== '--embedded'));
      return (await import('./commands/server-demo.js')).serverDemo(rest);
    case 'selftest':
      return selftest(rest);
    case 'bench':
      return bench(rest);
    case 'init':
      return init(rest);
    case 'status':
      return status(rest);
    case 'unseal':
      return unseal(rest);
    case 'seal':
      return seal(rest);
    case 'keys':
      return keysCommand(rest);
    case 'audit':
      return auditCommand(rest);
    case 'policy':
      return policyCommand(rest);
    case 'access':
      return accessCommand(rest);
    case 'server':
      return server(rest);
    case 'config':
      if (rest[0] !== 'check')
        throw usageError('usage: fortress config check [--config FILE] [flags] [--json]');
      return configCheck(rest.slice(1));
    case 'version':
    case '--version':
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    case undefined:
      process.stdout.write(USAGE);
      return 0;
    default:
      throw usageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** Where a usage error sends the user: the command's own help when it has some. */
function helpHint(argv: readonly string[]): string {
  const command = argv[0];
  const known = command !== undefined && command !== 'help' && helpFor([command]) !== undefined;
  return `Run \`fortress help${known ? ` ${command}` : ''}\` for usage.\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof FortressError) {
      process.stderr.write(`fortress: ${error.message} [${error.code}]\n`);
      if (error.code === 'FX_CLI_USAGE') process.stderr.write(helpHint(process.argv.slice(2)));
      process.exitCode = 2;
    } else if (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`fortress: ${error.message} [FX_CLI_USAGE]\n${helpHint(process.argv.slice(2))}`);
      process.exitCode = 2;
    } else {
      process.stderr.write(
        `fortress: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
    }
  },
);
