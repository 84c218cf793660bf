/**
 * @module cli/commands/audit-commands
 * `fortress audit …`: verify the ledger offline, prove and check that an entry is in it, read it
 * (tail, search — themselves recorded), digest a value to find the entries about it, sign a
 * checkpoint, archive old entries to segment files.
 *
 * Which commands unseal: `verify` and `check-proof` need only public keys (the ledger's entries are
 * not secret: sensitive values in them are HMAC digests) — except `verify` on a page-encrypted
 * directory, whose file cannot be read without the page key. The others open the directory
 * unsealed: they sign (prove, checkpoint, archive), need the HMAC key (hash, --value), or read the
 * log as an audited access (tail, search).
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readAuditVerifierKeys } from '../../audit-trail.js';
import {
  decodeAuditEntry,
  principalText,
  resourcePath,
  type AuditEntry,
} from '../../audit/entry/audit-entry.js';
import type { AuditQuery } from '../../audit/ledger/audit-ledger.js';
import { hashLeaf } from '../../audit/merkle/merkle-hash.js';
import { verifyInclusion } from '../../audit/merkle/merkle-proofs.js';
import { parseCheckpoint } from '../../audit/note/checkpoint.js';
import {
  keyIdHex,
  noteVerifierFromKey,
  parseSignedNote,
  type NoteKeyRef,
  type StandardNoteVerifier,
} from '../../audit/note/signed-note.js';
import { openTlogProof, parseTlogProof, type OpenedTlogProof } from '../../audit/note/tlog-proof.js';
import { verifyLiveLedger, type VerifyReport } from '../../audit/verify/ledger-verifier.js';
import { verifySegments, type SegmentVerifyReport } from '../../audit/verify/segment-verifier.js';
import { SqliteDialect } from '../../storage/sqlite/sqlite-dialect.js';
import { AuditError, FortressError } from '../../util/errors.js';
import { dataDirOf, isPageEncrypted, storageOf, withUnsealed } from '../data-dir.js';
import { readSecret } from '../input.js';

const SUBCOMMANDS = 'verify, prove, check-proof, tail, search, hash, checkpoint, archive or tiles';

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function usage(message: string): FortressError {
  return new FortressError('FX_CLI_USAGE', message);
}

/**
 * parseArgs (strict), with usage errors that say what went wrong. A negative number is refused as
 * such up front (parseArgs would call it an unknown option or an ambiguous value); a value that
 * really starts with "-" goes after `--` (positionals) or as `--flag=-value`.
 */
function parse<const T extends ParseArgsConfig['options']>(
  command: string,
  args: string[],
  options: T,
): {
  values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>['values'];
  positionals: string[];
} {
  const end = args.indexOf('--');
  for (const [i, token] of (end < 0 ? args : args.slice(0, end)).entries()) {
    if (!/^-\d/.test(token)) continue;
    const flag = args[i - 1];
    if (command === 'hash' || flag === '--value') {
      throw usage(
        flag === '--value'
          ? `a value starting with "-" is given as --value=${token}`
          : `a value starting with "-" goes after --: fortress audit hash -- ${token}`,
      );
    }
    throw usage(`fortress audit ${command}: ${token} is negative; entry numbers and counts start at 0`);
  }
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw error;
    throw usage(`fortress audit ${command}: ${(error as Error).message.replace(/\s*\n\s*/g, ' ')}`);
  }
}

function noPositionals(command: string, positionals: readonly string[]): void {
  if (positionals.length > 0) {
    throw usage(`fortress audit ${command} takes no argument ${JSON.stringify(positionals[0])}`);
  }
}

/** An entry number: a decimal without sign or leading zeros, at most 2^53 − 1. */
function seqOf(text: string, what: string): number {
  if (!/^(0|[1-9]\d{0,15})$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw usage(`${what} must be an entry number (0, 1, 2, …), not ${JSON.stringify(text.slice(0, 40))}`);
  }
  return Number(text);
}

function countOf(text: string, flag: string, max: number): number {
  if (!/^[1-9]\d{0,9}$/.test(text) || Number(text) > max) {
    throw usage(`${flag} expects a whole number from 1 to ${max}, not ${JSON.stringify(text.slice(0, 40))}`);
  }
  return Number(text);
}

/** ISO 8601 date or date-time (a date alone is midnight UTC; a time without offset is local). */
function timeOf(text: string, flag: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(text)
    ? Date.parse(text)
    : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0) {
    throw usage(
      `${flag} expects an ISO 8601 time such as 2026-01-31 or 2026-01-31T09:30:00Z, not ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  return ms;
}

async function readText(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new FortressError('FX_CLI_USAGE', `${flag}: cannot read ${file}`, { cause });
  }
}

/**
 * The verifier keys of `--key` flags: each a vkey (`name+keyid+base64`), or a file of them one per
 * line (such as a pinned copy of `audit.vkey`). Undefined when no `--key` was given.
 */
async function verifiersOf(keys: readonly string[] | undefined): Promise<StandardNoteVerifier[] | undefined> {
  if (keys === undefined || keys.length === 0) return undefined;
  const verifiers: StandardNoteVerifier[] = [];
  for (const key of keys) {
    let lines = [key];
    if (existsSync(key) && statSync(key).isFile()) {
      lines = (await readText(key, '--key')).split('\n').filter((l) => l.trim() !== '');
      if (lines.length === 0) throw usage(`--key: ${key} holds no verifier key`);
    }
    for (const line of lines) {
      try {
        verifiers.push(noteVerifierFromKey(line.trim()));
      } catch (cause) {
        if (!(cause instanceof FortressError)) throw cause;
        throw new FortressError(
          'FX_CLI_USAGE',
          `--key expects a verifier key (name+keyid+base64, as in audit.vkey) or a file of them: ${cause.message}`,
          { cause },
        );
      }
    }
  }
  return verifiers;
}

function signedBy(refs: readonly NoteKeyRef[]): string {
  return refs.map((r) => `${r.name}+${keyIdHex(r.keyId)}`).join(', ');
}

/** `fortress audit <sub> …` */
export async function auditCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'verify':
      return verify(rest);
    case 'prove':
      return prove(rest);
    case 'check-proof':
      return checkProof(rest);
    case 'tail':
      return read('tail', rest);
    case 'search':
      return read('search', rest);
    case 'hash':
      return hash(rest);
    case 'checkpoint':
      return checkpoint(rest);
    case 'archive':
      return archive(rest);
    case 'tiles':
      return tiles(rest);
    default:
      throw usage(`unknown audit command ${JSON.stringify(sub ?? '')}; expected ${SUBCOMMANDS}`);
  }
}

// ── verify ───────────────────────────────────────────────────────────────────────────────────────

/** A report for a finding that stopped verification before it could count anything. */
function stoppedReport(message: string): VerifyReport {
  return {
    ok: false,
    origin: '',
    size: 0,
    entriesChecked: 0,
    archivedByHashOnly: 0,
    nodesChecked: 0,
    checkpointsChecked: 0,
    uncheckpointed: 0,
    root: '',
    problem: { message },
  };
}

/** The finding, as the verifiers word it (their messages name the entry, checkpoint or file). */
function problemLine(problem: { readonly message: string }): string {
  return `  ${problem.message}`;
}

/**
 * `fortress audit verify [--data DIR] [--key VKEY]... [--from-checkpoint FILE] [--segments DIR] [--json]`
 * — offline: opens fortress.db without keys and re-derives everything (see `verifyLedger`).
 */
async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parse('verify', args, {
    data: { type: 'string' },
    key: { type: 'string', multiple: true },
    'from-checkpoint': { type: 'string' },
    segments: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  noPositionals('verify', positionals);
  const keys = await verifiersOf(values.key);
  let segmentsDir: string | undefined;
  if (values.segments !== undefined) {
    segmentsDir = path.resolve(values.segments);
    if (!existsSync(segmentsDir) || !statSync(segmentsDir).isDirectory()) {
      throw usage(`--segments: ${segmentsDir} is not a directory`);
    }
  }
  let trusted: string | undefined;
  if (values['from-checkpoint'] !== undefined) {
    const file = path.resolve(values['from-checkpoint']);
    trusted = await readText(file, '--from-checkpoint');
    try {
      parseCheckpoint(parseSignedNote(trusted, 'checkpoint').text);
    } catch (cause) {
      if (!(cause instanceof FortressError)) throw cause;
      throw new FortressError(
        'FX_CLI_USAGE',
        `--from-checkpoint: ${file} is not a signed checkpoint (${cause.message})`,
        { cause },
      );
    }
  }

  // Segment files alone: no database at all.
  if (values.data === undefined && segmentsDir !== undefined && keys === undefined) {
    if (process.env['FORTRESS_DATA'] === undefined) {
      throw usage(
        'verifying segment files alone needs --key VKEY (the log key to trust); add --data DIR to verify the ledger with them',
      );
    }
  }
  if (values.data === undefined && segmentsDir !== undefined && keys !== undefined) {
    if (trusted !== undefined) {
      throw usage(
        '--from-checkpoint needs the ledger (--data DIR); segment files carry their own checkpoints',
      );
    }
    const report = await verifySegments(segmentsDir, keys);
    printSegmentReport(report, segmentsDir, values.json);
    return report.ok ? 0 : 1;
  }

  const dataDir = dataDirOf(values.data);
  const pageEncrypted = await isPageEncrypted(dataDir);
  let verifiers = keys;
  if (verifiers === undefined) {
    verifiers = await readAuditVerifierKeys(dataDir);
    process.stderr.write(
      `note: trusting the verifier key in ${path.join(dataDir, 'audit.vkey')}, which sits beside the ledger it checks; keep a copy elsewhere and pass it with --key\n`,
    );
  }
  const options = {
    verifiers,
    ...(trusted === undefined ? {} : { trusted }),
    ...(segmentsDir === undefined ? {} : { segmentsDir }),
  };
  let report: VerifyReport;
  try {
    if (pageEncrypted) {
      // The file's pages are ciphertext: only an unsealed Fortress can read them.
      report = await withUnsealed(dataDir, (db) => db.audit.verify(options));
    } else {
      const storage = await storageOf(dataDir);
      const driver =
        storage?.kind === 'postgres'
          ? await new (await import('../../storage/postgres/postgres-dialect.js')).PostgresDialect({
              url: storage.url,
              max: 1,
              ...(storage.schema === undefined ? {} : { schema: storage.schema }),
            }).createDriver()
          : await new SqliteDialect({
              path: path.join(dataDir, 'fortress.db'),
              mustExist: true,
            }).createDriver();
      try {
        report = await verifyLiveLedger(driver, options);
      } finally {
        await driver.close();
      }
    }
  } catch (error) {
    // A trusted checkpoint or a segment file that does not verify is a finding, not a usage error.
    if (!(error instanceof AuditError) || error.code === 'FX_AUDIT_UNAVAILABLE') throw error;
    report = stoppedReport(error.message);
  }
  if (values.json) {
    out(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  }
  out(`Audit ledger ${report.origin === '' ? dataDir : report.origin} — ${report.ok ? 'OK' : 'FAILED'}`);
  if (report.problem !== null) {
    out(problemLine(report.problem));
    out(
      `  (checked before stopping: ${report.entriesChecked} entries, ${report.checkpointsChecked} checkpoints)`,
    );
    return 1;
  }
  const archived =
    report.archivedByHashOnly > 0
      ? `, ${report.archivedByHashOnly} archived ones by their stored hash only (pass --segments DIR to re-read them)`
      : '';
  out(`  entries:     ${report.size} (${report.entriesChecked} re-read and re-hashed${archived})`);
  out(`  tree nodes:  ${report.nodesChecked} checked against their children`);
  out(
    `  checkpoints: ${report.checkpointsChecked} signed by a pinned key, each matching the recomputed root`,
  );
  if (report.uncheckpointed > 0) {
    out(
      `  unsigned:    the newest ${report.uncheckpointed} entries come after the newest checkpoint; no signature covers them yet (\`fortress audit checkpoint\` signs one)`,
    );
  }
  if (trusted !== undefined)
    out('  trusted:     the log still extends the checkpoint from --from-checkpoint');
  out(`  root:        ${report.root} (tree size ${report.size})`);
  return 0;
}

function printSegmentReport(report: SegmentVerifyReport, dir: string, json: boolean): void {
  if (json) {
    out(JSON.stringify(report, null, 2));
    return;
  }
  out(
    `Audit segments in ${dir}${report.origin === '' ? '' : ` (log ${report.origin})`} — ${report.ok ? 'OK' : 'FAILED'}`,
  );
  if (report.problem !== null) {
    out(problemLine(report.problem));
    out(`  (checked before stopping: ${report.files} files, ${report.entriesChecked} entries)`);
    return;
  }
  out(`  files:       ${report.files}, signatures and entry digests valid`);
  out(`  entries:     ${report.first}–${report.size - 1} (${report.entriesChecked} decoded and hashed)`);
  if (report.root === null) {
    out(`  checkpoints: roots not recomputed (the segments start at entry ${report.first}, not 0)`);
  } else {
    out(
      `  checkpoints: ${report.checkpointsChecked} roots recomputed and matched; ${report.checkpointsUnchecked} beyond the segments`,
    );
    out(`  root:        ${report.root} (tree size ${report.size})`);
  }
}

// ── proofs ───────────────────────────────────────────────────────────────────────────────────────

/** `fortress audit prove <seq> [--out FILE]` — a C2SP tlog-proof file for one entry. */
async function prove(args: string[]): Promise<number> {
  const { values, positionals } = parse('prove', args, {
    data: { type: 'string' },
    out: { type: 'string' },
  });
  if (positionals.length !== 1) throw usage('fortress audit prove needs one entry number: prove <seq>');
  const seq = seqOf(positionals[0]!, 'seq');
  const file = path.resolve(values.out ?? `entry-${seq}.tlog-proof`);
  // Checked before unsealing, so nobody types shares for a command that cannot finish.
  if (existsSync(file)) throw usage(`--out: ${file} already exists`);
  const proof = await withUnsealed(dataDirOf(values.data), (db) => db.audit.tlogProof(seq));
  try {
    await writeFile(file, proof, { flag: 'wx', mode: 0o644 });
  } catch (cause) {
    throw new FortressError('FX_CLI_USAGE', `--out: cannot create ${file}`, { cause });
  }
  const size = parseCheckpoint(parseSignedNote(parseTlogProof(proof).checkpointNote).text).size;
  out(`Wrote ${file}: inclusion proof of entry ${seq} in the log's first ${size} entries.`);
  out(`Check it anywhere with: fortress audit check-proof ${file} --key <pinned audit.vkey>`);
  return 0;
}

/**
 * `fortress audit check-proof FILE --key VKEY [--entry FILE]` — no database: the checkpoint must be
 * signed by a given key and the entry must hash, through the proof, to the checkpoint's root.
 */
async function checkProof(args: string[]): Promise<number> {
  const { values, positionals } = parse('check-proof', args, {
    data: { type: 'string' },
    key: { type: 'string', multiple: true },
    entry: { type: 'string' },
  });
  if (values.data !== undefined) {
    throw usage('fortress audit check-proof reads no data directory: it needs only the proof and --key');
  }
  if (positionals.length !== 1) throw usage('fortress audit check-proof needs one proof file');
  const verifiers = await verifiersOf(values.key);
  if (verifiers === undefined) {
    throw usage('fortress audit check-proof needs --key VKEY: the log key to trust (never the file itself)');
  }
  const file = path.resolve(positionals[0]!);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (cause) {
    throw new FortressError('FX_CLI_USAGE', `cannot read the proof file ${file}`, { cause });
  }
  let entryBytes: Uint8Array | undefined;
  if (values.entry !== undefined) {
    try {
      entryBytes = new Uint8Array(await readFile(path.resolve(values.entry)));
    } catch (cause) {
      throw new FortressError('FX_CLI_USAGE', `--entry: cannot read ${values.entry}`, { cause });
    }
    // Canonical JSON never ends in a newline; an editor's final one is not part of the entry.
    if (entryBytes.at(-1) === 0x0a) entryBytes = entryBytes.subarray(0, -1);
  }
  const failed = (reason: string): number => {
    out(`proof FAILED: ${reason}`);
    return 1;
  };
  let opened: OpenedTlogProof;
  try {
    opened = openTlogProof(bytes, verifiers);
  } catch (error) {
    if (!(error instanceof AuditError)) throw error;
    return failed(error.message);
  }
  entryBytes ??= opened.extra;
  if (entryBytes === undefined) {
    throw usage('the proof carries no entry (it was archived when the proof was made); pass --entry FILE');
  }
  const { size, rootHash, origin } = opened.checkpoint;
  try {
    verifyInclusion(hashLeaf(entryBytes), opened.index, size, opened.proof, rootHash);
  } catch (error) {
    if (!(error instanceof AuditError)) throw error;
    return failed(error.message);
  }
  let entry: AuditEntry;
  try {
    entry = decodeAuditEntry(entryBytes);
  } catch (error) {
    if (!(error instanceof AuditError)) throw error;
    return failed(`the entry is in the log but is not a valid audit entry: ${error.message}`);
  }
  if (entry.seq !== opened.index) {
    return failed(`the entry says it is entry ${entry.seq}, but the proof is for entry ${opened.index}`);
  }
  out(JSON.stringify(entry, null, 2));
  out(
    `proof OK (entry ${opened.index} of ${size}, checkpoint signed by ${signedBy(opened.verified)}; log ${origin})`,
  );
  return 0;
}

// ── reading the log ──────────────────────────────────────────────────────────────────────────────

const FILTERS = {
  principal: { type: 'string' },
  action: { type: 'string' },
  resource: { type: 'string' },
  decision: { type: 'string' },
  outcome: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  'from-seq': { type: 'string' },
  'to-seq': { type: 'string' },
  value: { type: 'string' },
  digest: { type: 'string' },
} as const;

type FilterValues = { [K in keyof typeof FILTERS]?: string | undefined };
type MutableQuery = { -readonly [K in keyof AuditQuery]: AuditQuery[K] };

function textFilter(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (value.length === 0 || value.length > 1024 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw usage(`${flag} expects non-empty text without control characters`);
  }
  return value;
}

/** The query of the filter flags; `--value` is digested later, once the HMAC key is unsealed. */
function queryOf(values: FilterValues): MutableQuery {
  const query: MutableQuery = {};
  const principal = textFilter(values.principal, '--principal');
  if (principal !== undefined) query.principal = principal;
  const action = textFilter(values.action, '--action');
  if (action !== undefined) {
    if (!/^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)*\.?$/.test(action)) {
      throw usage('--action expects an action such as table.get, or a prefix ending in "." such as key.');
    }
    query.action = action;
  }
  const resource = textFilter(values.resource, '--resource');
  if (resource !== undefined) query.resource = resource.replace(/\/+$/, '');
  if (values.decision !== undefined) {
    if (values.decision !== 'allow' && values.decision !== 'deny') {
      throw usage(`--decision expects allow or deny, not ${JSON.stringify(values.decision.slice(0, 40))}`);
    }
    query.decision = values.decision;
  }
  if (values.outcome !== undefined) {
    if (values.outcome !== 'ok' && values.outcome !== 'error') {
      throw usage(`--outcome expects ok or error, not ${JSON.stringify(values.outcome.slice(0, 40))}`);
    }
    query.outcome = values.outcome;
  }
  if (values.since !== undefined) query.since = timeOf(values.since, '--since');
  if (values.until !== undefined) query.until = timeOf(values.until, '--until');
  if (query.since !== undefined && query.until !== undefined && query.since > query.until) {
    throw usage('--since is after --until: no entry can match');
  }
  if (values['from-seq'] !== undefined) query.fromSeq = seqOf(values['from-seq'], '--from-seq');
  if (values['to-seq'] !== undefined) query.toSeq = seqOf(values['to-seq'], '--to-seq');
  if (query.fromSeq !== undefined && query.toSeq !== undefined && query.fromSeq > query.toSeq) {
    throw usage('--from-seq is greater than --to-seq: no entry can match');
  }
  if (values.value !== undefined && values.digest !== undefined) {
    throw usage('give --value or --digest, not both');
  }
  if (values.digest !== undefined) {
    if (!/^(hmac-sha256|sha256):[0-9a-f]{64}$/.test(values.digest)) {
      throw usage(
        '--digest expects hmac-sha256:<64 hex digits> (from `fortress audit hash`) or sha256:<64 hex digits>',
      );
    }
    query.digest = values.digest;
  }
  return query;
}

function outcomeText(entry: AuditEntry): string {
  return entry.outcome.status === 'ok' ? 'ok' : `error:${entry.outcome.code}`;
}

/** `seq time principal action resource decision outcome` */
function entryLine(entry: AuditEntry): string {
  return [
    entry.seq,
    entry.time,
    principalText(entry.principal),
    entry.action,
    resourcePath(entry.resource),
    entry.decision.effect,
    outcomeText(entry),
  ].join(' ');
}

/** A value from the command line, or from stdin when it is `-` (kept out of shell history). */
async function valueOf(value: string): Promise<string> {
  return value === '-' ? readSecret('Value: ', { exact: true }) : value;
}

/**
 * `fortress audit tail [-n N] [filters] [--json]` (the newest N, printed oldest first) and
 * `fortress audit search [filters] [--limit N] [--json]` (oldest first). Reading is recorded.
 */
async function read(command: 'tail' | 'search', args: string[]): Promise<number> {
  const { values, positionals } = parse(command, args, {
    data: { type: 'string' },
    json: { type: 'boolean', default: false },
    ...FILTERS,
    ...(command === 'tail' ? { count: { type: 'string', short: 'n' } } : { limit: { type: 'string' } }),
  });
  noPositionals(command, positionals);
  const query = queryOf(values);
  const flags = values as { count?: string; limit?: string };
  const limit =
    command === 'tail'
      ? countOf(flags.count ?? '20', '-n', 100_000)
      : countOf(flags.limit ?? '1000', '--limit', 10_000_000);
  const value = values.value === undefined ? undefined : await valueOf(values.value);
  return withUnsealed(dataDirOf(values.data), async (db) => {
    if (value !== undefined) query.digest = db.audit.hash(value);
    const entries: AuditEntry[] = [];
    // One more than asked for, to say when there are more.
    for await (const entry of db.audit.entries({
      ...query,
      newestFirst: command === 'tail',
      limit: limit + 1,
    })) {
      entries.push(entry);
    }
    const more = entries.length > limit;
    if (more) entries.length = limit;
    if (command === 'tail') entries.reverse();
    if (values.json) {
      out(entries.length === 0 ? '[]' : `[\n${entries.map((e) => JSON.stringify(e)).join(',\n')}\n]`);
    } else {
      for (const entry of entries) out(entryLine(entry));
    }
    if (more && command === 'search') {
      process.stderr.write(`note: more than ${limit} entries match; narrow the filters or raise --limit\n`);
    }
    return 0;
  });
}

/** `fortress audit hash <value>|-` — the digest entries hold for a value (`-`: read it from stdin). */
async function hash(args: string[]): Promise<number> {
  const { values, positionals } = parse('hash', args, { data: { type: 'string' } });
  if (positionals.length !== 1) {
    throw usage('fortress audit hash needs one value (or - to read it from stdin, out of shell history)');
  }
  const value = await valueOf(positionals[0]!);
  return withUnsealed(dataDirOf(values.data), (db) => {
    out(db.audit.hash(value));
    return Promise.resolve(0);
  });
}

// ── checkpoints and archiving ────────────────────────────────────────────────────────────────────

/** `fortress audit checkpoint` — signs a checkpoint of the log now and prints the signed note. */
async function checkpoint(args: string[]): Promise<number> {
  const { values, positionals } = parse('checkpoint', args, { data: { type: 'string' } });
  noPositionals('checkpoint', positionals);
  return withUnsealed(dataDirOf(values.data), async (db) => {
    const signed = await db.audit.checkpoint();
    process.stdout.write(signed.note);
    return 0;
  });
}

/** `fortress audit archive --before SEQ --out DIR` — entries below SEQ to a signed segment file. */
async function archive(args: string[]): Promise<number> {
  const { values, positionals } = parse('archive', args, {
    data: { type: 'string' },
    before: { type: 'string' },
    out: { type: 'string' },
  });
  noPositionals('archive', positionals);
  if (values.before === undefined) throw usage('fortress audit archive needs --before SEQ');
  if (values.out === undefined) throw usage('fortress audit archive needs --out DIR');
  const before = seqOf(values.before, '--before');
  if (before === 0) throw usage('--before 0 archives nothing; give the first entry to keep');
  const dir = path.resolve(values.out);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw usage(`--out: ${dir} is not a directory`);
  return withUnsealed(dataDirOf(values.data), async (db) => {
    const result = await db.audit.archive({ before, dir });
    out(
      `Archived entries ${result.first}–${result.first + result.count - 1} (${result.count}) to ${result.file}; they were removed from the database.`,
    );
    out(`Keep the segment files: \`fortress audit verify --segments ${dir}\` re-reads them.`);
    return 0;
  });
}

/** `fortress audit tiles --out DIR`: the log as static C2SP tlog-tiles. */
async function tiles(args: string[]): Promise<number> {
  const { values, positionals } = parse('tiles', args, {
    data: { type: 'string' },
    out: { type: 'string' },
  });
  noPositionals('tiles', positionals);
  if (values.out === undefined) throw usage('fortress audit tiles needs --out DIR');
  const dir = path.resolve(values.out);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw usage(`--out: ${dir} is not a directory`);
  return withUnsealed(dataDirOf(values.data), async (db) => {
    const result = await db.audit.exportTiles(dir);
    out(
      `Wrote the log of ${result.size} entries as tlog-tiles in ${dir}: ${result.tiles} tile(s), ${result.bundles} entry bundle(s) written` +
        (result.pruned > 0 ? `, ${result.pruned} bundle(s) of archived entries left out (pruned)` : '') +
        '.',
    );
    out(`Serve ${dir} as static files: <prefix>/checkpoint, <prefix>/tile/… (https://c2sp.org/tlog-tiles).`);
    return 0;
  });
}
