/**
 * @module cli/commands/remote-commands
 * The `fortress` commands against a running server, through the SDK: chosen by `--server URL` or
 * FORTRESS_ADDR. Secrets come from stdin (shares, passwords) or the environment / the token file
 * (tokens), never from argv; the only secrets printed are the ones a command exists to hand out
 * (the shares and root token of `init`, the token of `token create`).
 *
 *   fortress status|seal|unseal|init [--shares N --threshold T]
 *   fortress login USER [--tenant T]          fortress user passwd NAME [--tenant T]
 *   fortress access list | user add|update|remove NAME … | role add|remove NAME | group add|remove NAME
 *   fortress token create [--ttl S] [--uses N] [--service NAME] | lookup | renew | revoke [ACCESSOR] [--orphan]
 *   fortress table list | create NAME --schema FILE.json | describe NAME | drop NAME
 *   fortress insert|get|find|count|update|delete|import|export …
 *   fortress keys list | rotate NAME | config NAME [--min-decryption-version N] [--rotation-period 30d|none]
 *   fortress policy list | add FILE | remove ID    fortress audit tail|verify
 *   fortress transit create|read|list|config|rotate|trim|delete NAME …
 *   fortress transit encrypt|decrypt|rewrap|datakey|hmac|sign|verify|random|export …
 *
 * Output is an aligned table (long values cut with …) or, with `--json`, JSON for scripts.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type {
  CeremonyKind,
  CeremonyResult,
  CeremonyStatus,
  FortressClient,
  JsonObject,
  KvVersionInfo,
  SysStatus,
  TokenView,
  TransitKeyInfo,
  TransitRewrapJob,
} from '../../client/index.js';
import { FortressError } from '../../util/errors.js';
import { accessListingLines, nameList, type AccessListing } from '../access-listing.js';
import { readSecret } from '../input.js';
import {
  createRemoteClient,
  explainRemoteFailure,
  forgetToken,
  loadToken,
  resolveTarget,
  saveToken,
  type RemoteTarget,
} from '../remote.js';

/** Longest cell of an aligned table; longer values end in "…" (--json shows them whole). */
const MAX_CELL = 48;
/** KEY=VALUE pairs one `kv put` takes. */
const MAX_KV_PAIRS = 1000;
/** Rows per insertMany call of `insert --file`. */
const INSERT_BATCH = 1000;

const OPTIONS = {
  server: { type: 'string' },
  'ca-cert': { type: 'string' },
  json: { type: 'boolean', default: false },
  shares: { type: 'string' },
  threshold: { type: 'string' },
  tenant: { type: 'string' },
  ttl: { type: 'string' },
  uses: { type: 'string' },
  service: { type: 'string' },
  orphan: { type: 'boolean', default: false },
  schema: { type: 'string' },
  row: { type: 'string' },
  file: { type: 'string' },
  select: { type: 'string' },
  where: { type: 'string' },
  limit: { type: 'string' },
  set: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  to: { type: 'string' },
  label: { type: 'string' },
  id: { type: 'string' },
  n: { type: 'string', short: 'n' },
  nonce: { type: 'string' },
  detach: { type: 'boolean', default: false },
  'min-decryption-version': { type: 'string' },
  'rotation-period': { type: 'string' },
  version: { type: 'string' },
  versions: { type: 'string' },
  cas: { type: 'string' },
  field: { type: 'string' },
  'max-versions': { type: 'string' },
  'cas-required': { type: 'string' },
  'delete-version-after': { type: 'string' },
  custom: { type: 'string', multiple: true },
  type: { type: 'string' },
  exportable: { type: 'boolean', default: false },
  derived: { type: 'boolean', default: false },
  convergent: { type: 'boolean', default: false },
  'auto-rotate': { type: 'string' },
  'min-encryption-version': { type: 'string' },
  'min-available-version': { type: 'string' },
  'deletion-allowed': { type: 'string' },
  context: { type: 'string' },
  'associated-data': { type: 'string' },
  base64: { type: 'boolean', default: false },
  plaintext: { type: 'boolean', default: false },
  wrapped: { type: 'boolean', default: false },
  bits: { type: 'string' },
  algorithm: { type: 'string' },
  hmac: { type: 'string' },
  signature: { type: 'string' },
  hex: { type: 'boolean', default: false },
  table: { type: 'string' },
  column: { type: 'string' },
  'context-column': { type: 'string' },
  'associated-data-column': { type: 'string' },
  'batch-size': { type: 'string' },
  wait: { type: 'boolean', default: false },
  'connection-url': { type: 'string' },
  username: { type: 'string' },
  'allowed-roles': { type: 'string' },
  'max-open': { type: 'string' },
  'no-verify': { type: 'boolean', default: false },
  'keep-password': { type: 'boolean', default: false },
  'password-authentication': { type: 'string' },
  connection: { type: 'string' },
  'creation-statement': { type: 'string', multiple: true },
  'revocation-statement': { type: 'string', multiple: true },
  'renew-statement': { type: 'string', multiple: true },
  'rotation-statement': { type: 'string', multiple: true },
  'root-rotation-statement': { type: 'string', multiple: true },
  'password-length': { type: 'string' },
  'default-ttl': { type: 'string' },
  'max-ttl': { type: 'string' },
  increment: { type: 'string' },
  role: { type: 'string' },
  clearance: { type: 'string' },
  roles: { type: 'string' },
  groups: { type: 'string' },
  inherits: { type: 'string' },
} as const;

type Flag = keyof typeof OPTIONS;

type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** Which flags (beyond --server, --ca-cert, --json) and how many positionals each command takes. */
interface Spec {
  readonly flags: readonly Flag[];
  /** Positional arguments after the command words: [min, max]. */
  readonly args: readonly [number, number];
  readonly usage: string;
}

function ceremonySpecs(kind: CeremonyKind): Record<string, Spec> {
  return {
    [`${kind} start`]: {
      flags: ['shares', 'threshold'],
      args: [0, 0],
      usage:
        kind === 'rekey'
          ? `rekey start [--shares N --threshold T]   (a passphrase seal: the new passphrase on stdin)`
          : `rotate-root start [--shares N --threshold T]`,
    },
    [`${kind} submit`]: {
      flags: ['nonce'],
      args: [0, 0],
      usage: `${kind} submit --nonce NONCE   (current unseal shares, one per line on stdin)`,
    },
    [`${kind} status`]: { flags: [], args: [0, 0], usage: `${kind} status` },
    [`${kind} cancel`]: { flags: [], args: [0, 0], usage: `${kind} cancel` },
  };
}

const SPECS: Readonly<Record<string, Spec>> = {
  init: { flags: ['shares', 'threshold'], args: [0, 0], usage: 'init [--shares N --threshold T]' },
  unseal: { flags: [], args: [0, 0], usage: 'unseal   (one share per line on stdin)' },
  status: { flags: [], args: [0, 0], usage: 'status' },
  seal: { flags: [], args: [0, 0], usage: 'seal' },
  login: { flags: ['tenant'], args: [1, 1], usage: 'login USER [--tenant T]   (password on stdin)' },
  ...ceremonySpecs('rekey'),
  ...ceremonySpecs('rotate-root'),
  'token create': {
    flags: ['ttl', 'uses', 'service'],
    args: [0, 0],
    usage: 'token create [--ttl S] [--uses N] [--service NAME]',
  },
  'token lookup': { flags: [], args: [0, 0], usage: 'token lookup' },
  'token renew': { flags: [], args: [0, 0], usage: 'token renew' },
  'token revoke': { flags: ['orphan'], args: [0, 1], usage: 'token revoke [ACCESSOR] [--orphan]' },
  'user passwd': {
    flags: ['tenant'],
    args: [1, 1],
    usage: 'user passwd NAME [--tenant T]   (password on stdin)',
  },
  'access list': { flags: [], args: [0, 0], usage: 'access list [--json]' },
  'access user': {
    flags: ['service', 'tenant', 'clearance', 'roles', 'groups'],
    args: [2, 2],
    usage:
      'access user add|update|remove NAME [--service] [--tenant T] [--clearance LABEL] [--roles a,b] [--groups g,h]',
  },
  'access role': {
    flags: ['tenant', 'inherits'],
    args: [2, 2],
    usage: 'access role add|remove NAME [--tenant T] [--inherits a,b]',
  },
  'access group': {
    flags: ['tenant', 'roles', 'groups'],
    args: [2, 2],
    usage: 'access group add|remove NAME [--tenant T] [--roles a,b] [--groups g,h]',
  },
  'access roles-of': { flags: ['service', 'tenant'], args: [1, 1], usage: 'access roles-of NAME' },
  'table list': { flags: [], args: [0, 0], usage: 'table list' },
  'table create': { flags: ['schema'], args: [1, 1], usage: 'table create NAME --schema FILE.json' },
  'table describe': { flags: [], args: [1, 1], usage: 'table describe NAME' },
  'table drop': { flags: [], args: [1, 1], usage: 'table drop NAME' },
  'table rotate': {
    flags: ['detach'],
    args: [1, 1],
    usage: 'table rotate NAME [--detach]   (new key versions; a job re-encrypts every row)',
  },
  'job status': {
    flags: [],
    args: [1, 1],
    usage: 'job status ID   (waits, with a progress bar, until done)',
  },
  insert: { flags: ['row', 'file'], args: [1, 1], usage: 'insert TABLE (--row JSON | --file FILE.ndjson)' },
  get: { flags: ['select'], args: [2, 2], usage: 'get TABLE KEY [--select a,b]' },
  find: {
    flags: ['where', 'limit', 'select'],
    args: [1, 1],
    usage: 'find TABLE [--where JSON] [--limit N] [--select a,b]',
  },
  count: { flags: ['where'], args: [1, 1], usage: 'count TABLE [--where JSON]' },
  update: { flags: ['set'], args: [2, 2], usage: 'update TABLE KEY --set JSON' },
  delete: { flags: [], args: [2, 2], usage: 'delete TABLE KEY' },
  import: { flags: ['format'], args: [2, 2], usage: 'import TABLE FILE [--format ndjson|csv]' },
  export: {
    flags: ['format', 'out'],
    args: [1, 1],
    usage: 'export TABLE [--format ndjson|csv] [--out FILE]',
  },
  'keys list': { flags: [], args: [0, 0], usage: 'keys list' },
  'keys rotate': { flags: [], args: [1, 1], usage: 'keys rotate NAME' },
  'keys export': {
    flags: ['to', 'out', 'label'],
    args: [0, 0],
    usage:
      'keys export --to RECIPIENT.pub --out FILE [--label TEXT]   (an encrypted, signed backup of every key)',
  },
  'keys config': {
    flags: ['min-decryption-version', 'rotation-period'],
    args: [1, 1],
    usage: 'keys config NAME [--min-decryption-version N] [--rotation-period 30d|none]',
  },
  'policy list': { flags: [], args: [0, 0], usage: 'policy list' },
  'policy add': { flags: ['id'], args: [1, 1], usage: 'policy add FILE [--id ID]' },
  'policy remove': { flags: [], args: [1, 1], usage: 'policy remove ID' },
  'audit tail': { flags: ['n'], args: [0, 0], usage: 'audit tail [-n N]' },
  'kv get': { flags: ['version', 'field'], args: [1, 1], usage: 'kv get PATH [--version N] [--field NAME]' },
  'kv put': {
    flags: ['cas', 'file'],
    args: [1, 1 + MAX_KV_PAIRS],
    usage: 'kv put PATH KEY=VALUE… | --file FILE.json|-  [--cas N]   (VALUE "-": stdin; "@FILE": a file)',
  },
  'kv patch': {
    flags: ['cas', 'file'],
    args: [1, 1 + MAX_KV_PAIRS],
    usage: 'kv patch PATH KEY=VALUE… | --file FILE.json|-  [--cas N]',
  },
  'kv delete': {
    flags: ['versions'],
    args: [1, 1],
    usage: 'kv delete PATH [--versions 1,2]   (default: the latest)',
  },
  'kv undelete': { flags: ['versions'], args: [1, 1], usage: 'kv undelete PATH --versions 1,2' },
  'kv destroy': {
    flags: ['versions'],
    args: [1, 1],
    usage: 'kv destroy PATH --versions 1,2   (irreversible)',
  },
  'kv rollback': { flags: ['version', 'cas'], args: [1, 1], usage: 'kv rollback PATH --version N [--cas N]' },
  'kv list': { flags: ['limit'], args: [0, 1], usage: 'kv list [FOLDER/] [--limit N per page]' },
  'kv metadata': {
    flags: ['max-versions', 'cas-required', 'delete-version-after', 'custom'],
    args: [2, 2],
    usage:
      'kv metadata get PATH | delete PATH | put PATH [--max-versions N] [--cas-required true|false] [--delete-version-after 30d] [--custom KEY=VALUE]…',
  },
  'kv config': {
    flags: ['max-versions', 'cas-required', 'delete-version-after'],
    args: [0, 0],
    usage: 'kv config [--max-versions N] [--cas-required true|false] [--delete-version-after 30d]',
  },
  'audit verify': { flags: [], args: [0, 0], usage: 'audit verify' },
  'transit create': {
    flags: ['type', 'exportable', 'derived', 'convergent', 'deletion-allowed', 'auto-rotate'],
    args: [1, 1],
    usage:
      'transit create NAME [--type xchacha20-poly1305|aes-256-gcm|chacha20-poly1305|aegis-256|hmac|ed25519|ml-dsa-65] [--exportable] [--derived] [--convergent] [--deletion-allowed true] [--auto-rotate 30d]',
  },
  'transit read': { flags: [], args: [1, 1], usage: 'transit read NAME' },
  'transit list': { flags: ['limit'], args: [0, 0], usage: 'transit list [--limit N per page]' },
  'transit config': {
    flags: [
      'min-decryption-version',
      'min-encryption-version',
      'deletion-allowed',
      'exportable',
      'auto-rotate',
    ],
    args: [1, 1],
    usage:
      'transit config NAME [--min-decryption-version N] [--min-encryption-version N] [--deletion-allowed true|false] [--exportable] [--auto-rotate 30d|0]',
  },
  'transit rotate': { flags: [], args: [1, 1], usage: 'transit rotate NAME' },
  'transit trim': {
    flags: ['min-available-version'],
    args: [1, 1],
    usage: 'transit trim NAME --min-available-version N   (destroys older versions for good)',
  },
  'transit delete': {
    flags: [],
    args: [1, 1],
    usage: 'transit delete NAME   (needs --deletion-allowed true)',
  },
  'transit encrypt': {
    flags: ['context', 'associated-data'],
    args: [1, 2],
    usage:
      'transit encrypt NAME [TEXT|-] [--context B64] [--associated-data B64]   (no TEXT or "-": stdin, as is)',
  },
  'transit decrypt': {
    flags: ['context', 'associated-data', 'base64'],
    args: [2, 2],
    usage: 'transit decrypt NAME CIPHERTEXT [--context B64] [--associated-data B64] [--base64]',
  },
  'transit rewrap': {
    flags: ['context', 'associated-data'],
    args: [2, 2],
    usage: 'transit rewrap NAME CIPHERTEXT [--context B64] [--associated-data B64]',
  },
  'transit datakey': {
    flags: ['plaintext', 'wrapped', 'bits', 'context', 'associated-data'],
    args: [1, 1],
    usage:
      'transit datakey NAME --plaintext|--wrapped [--bits 128|256|512] [--context B64] [--associated-data B64]',
  },
  'transit hmac': {
    flags: ['algorithm'],
    args: [2, 2],
    usage: 'transit hmac NAME TEXT|- [--algorithm sha2-256|sha2-512]',
  },
  'transit sign': { flags: [], args: [2, 2], usage: 'transit sign NAME TEXT|-' },
  'transit verify': {
    flags: ['signature', 'hmac', 'algorithm'],
    args: [2, 2],
    usage: 'transit verify NAME TEXT|- (--signature S | --hmac H [--algorithm A])   (exit 1: not valid)',
  },
  'transit random': { flags: ['hex'], args: [1, 1], usage: 'transit random BYTES [--hex]' },
  'database config': {
    flags: [
      'connection-url',
      'username',
      'allowed-roles',
      'max-open',
      'no-verify',
      'password-authentication',
      'keep-password',
      'password-length',
      'root-rotation-statement',
      'limit',
    ],
    args: [1, 2],
    usage:
      'database config list | read NAME | delete NAME | write NAME --connection-url URL --username USER --allowed-roles R1,R2 [--max-open N] [--no-verify] [--password-authentication scram-sha-256|password] [--password-length N] [--root-rotation-statement SQL …] [--keep-password]   (the admin password: hidden prompt or stdin; --keep-password keeps the stored one on an update of the same target)',
  },
  'database rotate-root': { flags: [], args: [1, 1], usage: 'database rotate-root NAME' },
  'database reset': {
    flags: [],
    args: [1, 1],
    usage: 'database reset NAME   (closes the pooled sessions of a connection; the next use reconnects)',
  },
  'database role': {
    flags: [
      'connection',
      'creation-statement',
      'revocation-statement',
      'renew-statement',
      'default-ttl',
      'max-ttl',
      'limit',
    ],
    args: [1, 2],
    usage:
      'database role list | read NAME | delete NAME | write NAME --connection C --creation-statement SQL… [--revocation-statement SQL…] [--renew-statement SQL…] --default-ttl 1h --max-ttl 24h',
  },
  'database creds': {
    flags: ['ttl'],
    args: [1, 1],
    usage: 'database creds ROLE [--ttl 15m]   (a new user and password, with a lease)',
  },
  'database lease': {
    flags: ['increment', 'role', 'limit'],
    args: [1, 2],
    usage:
      'database lease lookup LEASE_ID | renew LEASE_ID [--increment 1h] | revoke LEASE_ID | revoke-prefix PREFIX | list [--role R]',
  },
  'database static-role': {
    flags: ['connection', 'username', 'rotation-period', 'rotation-statement', 'limit'],
    args: [1, 2],
    usage:
      'database static-role list | read NAME | delete NAME | rotate NAME | write NAME --connection C --username USER --rotation-period 24h [--rotation-statement SQL…]',
  },
  'database static-creds': { flags: [], args: [1, 1], usage: 'database static-creds NAME' },
  'transit rewrap-job': {
    flags: ['table', 'column', 'context-column', 'associated-data-column', 'batch-size', 'wait', 'limit'],
    args: [1, 2],
    usage:
      'transit rewrap-job start NAME --table T --column C [--context-column C] [--associated-data-column C] [--batch-size N] [--wait] | status ID [--wait] | list [--limit N] | pause ID | resume ID',
  },
  'transit rewrap-stream': {
    flags: ['batch-size'],
    args: [1, 1],
    usage:
      'transit rewrap-stream NAME [--batch-size N]   (ciphertexts on stdin, one per line; the rewrapped ones on stdout, line for line)',
  },
  'transit export': {
    flags: ['version'],
    args: [2, 2],
    usage: 'transit export NAME encryption-key|signing-key|hmac-key|public-key [--version N|latest]',
  },
};

/** Commands written as two words (`table list`). */
const GROUPS: ReadonlySet<string> = new Set([
  'access',
  'token',
  'user',
  'table',
  'keys',
  'policy',
  'audit',
  'rekey',
  'rotate-root',
  'job',
  'kv',
  'transit',
  'database',
]);

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function usage(message: string): FortressError {
  return new FortressError('FX_CLI_USAGE', message);
}

function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

// ── parsing helpers ─────────────────────────────────────────────────────────────────────────────

function text(values: Values, flag: Flag): string | undefined {
  const value = values[flag];
  return typeof value === 'string' ? value : undefined;
}

// ── kv ──────────────────────────────────────────────────────────────────────────────────────────

/** Reads all of stdin (a value kept out of shell history), without its final newline. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** A secret's data from KEY=VALUE arguments (VALUE "-": stdin, "@FILE": the file) or --file JSON. */
async function kvData(run: Run): Promise<Record<string, unknown>> {
  const file = text(run.values, 'file');
  const pairs = run.args.slice(1);
  if (file !== undefined) {
    if (pairs.length > 0) throw usage('give KEY=VALUE pairs or --file, not both');
    const json = file === '-' ? await readStdin() : await readFileText(file, '--file');
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw usage(`--file ${file}: not JSON`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw usage(`--file ${file}: expected a JSON object, e.g. {"password": "…"}`);
    }
    return parsed as Record<string, unknown>;
  }
  if (pairs.length === 0) throw usage('give the data as KEY=VALUE pairs or --file FILE.json');
  const data = new Map<string, unknown>();
  let stdinUsed = false;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usage(`expected KEY=VALUE, not ${JSON.stringify(pair.slice(0, 40))}`);
    const key = pair.slice(0, eq);
    let value = pair.slice(eq + 1);
    if (data.has(key)) throw usage(`${key} is given twice`);
    if (value === '-') {
      if (stdinUsed) throw usage('only one VALUE can be read from stdin ("-")');
      stdinUsed = true;
      value = await readStdin();
    } else if (value.startsWith('@')) {
      value = await readFileText(value.slice(1), key);
    }
    data.set(key, value);
  }
  return Object.fromEntries(data);
}

function versionList(values: Values, required: boolean): number[] | undefined {
  const given = text(values, 'versions');
  if (given === undefined) {
    if (required) throw usage('--versions is required, e.g. --versions 1,2');
    return undefined;
  }
  const versions = given.split(',').map((v) => (/^[1-9][0-9]{0,14}$/.test(v.trim()) ? Number(v) : NaN));
  if (versions.some((v) => !Number.isSafeInteger(v)))
    throw usage('--versions expects version numbers, e.g. 1,2');
  return versions;
}

function flagBoolean(values: Values, flag: Flag): boolean | undefined {
  const given = text(values, flag);
  if (given === undefined) return undefined;
  if (given !== 'true' && given !== 'false') throw usage(`--${flag} expects true or false`);
  return given === 'true';
}

function flagDuration(values: Values, flag: Flag): string | undefined {
  const given = text(values, flag);
  if (given === undefined) return undefined;
  if (!/^[0-9]{1,9}(ms|s|m|h|d)$/.test(given))
    throw usage(
      `--${flag} expects a duration such as 30s, 12h or 7d${flag === 'delete-version-after' ? ' (0s: never)' : ''}`,
    );
  return given;
}

/** `version 2`, `versions 1, 2`, `no versions`. */
function versionsText(versions: readonly number[]): string {
  if (versions.length === 0) return 'no versions';
  return `${versions.length === 1 ? 'version' : 'versions'} ${versions.join(', ')}`;
}

function printVersion(path: string, v: KvVersionInfo): void {
  const deleted = v.deletionTime === null ? '' : `, deleted at ${v.deletionTime}`;
  out(`${path}: version ${v.version}, created ${v.createdTime}${deleted}${v.destroyed ? ', destroyed' : ''}`);
}

const KV_HANDLERS: Readonly<Record<string, (run: Run) => Promise<number>>> = {
  'kv get': async (run) => {
    const version = count(run.values, 'version');
    const secret = await (
      await run.authenticated()
    ).kv.get(run.args[0]!, version === undefined ? {} : { version });
    const field = text(run.values, 'field');
    if (field !== undefined) {
      if (secret.data === null)
        throw new FortressError(
          'FX_SECRET_DELETED',
          `version ${secret.metadata.version} of ${run.args[0]!} is deleted or destroyed`,
        );
      if (!Object.hasOwn(secret.data, field))
        throw usage(`${run.args[0]!} has no field ${JSON.stringify(field)}`);
      const value = secret.data[field];
      out(typeof value === 'string' ? value : JSON.stringify(value));
      return 0;
    }
    if (run.json) printJson(secret);
    else {
      printVersion(run.args[0]!, secret.metadata);
      if (secret.data === null) out('(no data: this version is deleted or destroyed)');
      else printRecord(secret.data);
    }
    return 0;
  },
  'kv put': async (run) => {
    const data = await kvData(run);
    const cas = count(run.values, 'cas', 0);
    const written = await (
      await run.authenticated()
    ).kv.put(run.args[0]!, data, cas === undefined ? {} : { cas });
    if (run.json) printJson(written);
    else printVersion(run.args[0]!, written);
    return 0;
  },
  'kv patch': async (run) => {
    const data = await kvData(run);
    const cas = count(run.values, 'cas', 0);
    const written = await (
      await run.authenticated()
    ).kv.patch(run.args[0]!, data, cas === undefined ? {} : { cas });
    if (run.json) printJson(written);
    else printVersion(run.args[0]!, written);
    return 0;
  },
  'kv delete': async (run) => {
    const versions = await (
      await run.authenticated()
    ).kv.delete(run.args[0]!, versionList(run.values, false));
    if (run.json) printJson({ versions });
    else
      out(
        `deleted ${versionsText(versions)} of ${run.args[0]!}${versions.length === 0 ? '' : ' (kv undelete restores them)'}`,
      );
    return 0;
  },
  'kv undelete': async (run) => {
    const versions = await (
      await run.authenticated()
    ).kv.undelete(run.args[0]!, versionList(run.values, true)!);
    if (run.json) printJson({ versions });
    else out(`undeleted ${versionsText(versions)} of ${run.args[0]!}`);
    return 0;
  },
  'kv destroy': async (run) => {
    const versions = await (
      await run.authenticated()
    ).kv.destroy(run.args[0]!, versionList(run.values, true)!);
    if (run.json) printJson({ versions });
    else out(`destroyed ${versionsText(versions)} of ${run.args[0]!}`);
    return 0;
  },
  'kv rollback': async (run) => {
    const version = count(run.values, 'version');
    if (version === undefined) throw usage('--version is required');
    const cas = count(run.values, 'cas', 0);
    const written = await (
      await run.authenticated()
    ).kv.rollback(run.args[0]!, version, cas === undefined ? {} : { cas });
    if (run.json) printJson(written);
    else printVersion(run.args[0]!, written);
    return 0;
  },
  'kv list': async (run) => {
    const client = await run.authenticated();
    const folder = run.args[0] ?? '';
    await printNames(
      run,
      count(run.values, 'limit', 1, 1000),
      (page) => client.kv.list(folder, page),
      folder === '' ? 'no secrets' : `no secrets under ${folder}`,
    );
    return 0;
  },
  'kv metadata': async (run) => {
    const [verb, path] = run.args as [string, string];
    const client = await run.authenticated();
    const settings = ['max-versions', 'cas-required', 'delete-version-after', 'custom'] as const;
    if (verb !== 'put' && settings.some((f) => run.values[f] !== undefined)) {
      throw usage(`kv metadata ${verb} takes no settings; they belong to kv metadata put`);
    }
    if (verb === 'get') {
      const meta = await client.kv.metadata(path);
      if (run.json) printJson(meta);
      else {
        const { versions, ...rest } = meta;
        printRecord(rest);
        out();
        printTable(versions as unknown as Record<string, unknown>[]);
      }
      return 0;
    }
    if (verb === 'delete') {
      const deleted = await client.kv.deleteAll(path);
      if (run.json) printJson({ deleted });
      else out(deleted ? `removed ${path}: every version and its metadata` : `no secret at ${path}`);
      return 0;
    }
    if (verb !== 'put') throw usage('usage: fortress kv metadata get|put|delete PATH');
    const maxVersions = count(run.values, 'max-versions', 0, 1000);
    const casRequired = flagBoolean(run.values, 'cas-required');
    const deleteVersionAfter = flagDuration(run.values, 'delete-version-after');
    const customPairs = (run.values['custom'] as string[] | undefined) ?? [];
    const custom = new Map<string, string>();
    for (const pair of customPairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw usage(`--custom expects KEY=VALUE, not ${JSON.stringify(pair.slice(0, 40))}`);
      custom.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const changes = {
      ...(maxVersions === undefined ? {} : { maxVersions }),
      ...(casRequired === undefined ? {} : { casRequired }),
      ...(deleteVersionAfter === undefined ? {} : { deleteVersionAfter }),
      ...(custom.size === 0 ? {} : { customMetadata: Object.fromEntries(custom) }),
    };
    if (Object.keys(changes).length === 0) throw usage('kv metadata put needs at least one setting');
    const meta = await client.kv.setMetadata(path, changes);
    if (run.json) printJson(meta);
    else
      out(
        `${path}: max versions ${meta.maxVersions || 'engine default'}, cas required ${String(meta.casRequired)}, delete after ${meta.deleteVersionAfter === 0 ? 'never' : durationText(meta.deleteVersionAfter)}`,
      );
    return 0;
  },
  'kv config': async (run) => {
    const client = await run.authenticated();
    const maxVersions = count(run.values, 'max-versions', 1, 1000);
    const casRequired = flagBoolean(run.values, 'cas-required');
    const deleteVersionAfter = flagDuration(run.values, 'delete-version-after');
    const changes = {
      ...(maxVersions === undefined ? {} : { maxVersions }),
      ...(casRequired === undefined ? {} : { casRequired }),
      ...(deleteVersionAfter === undefined ? {} : { deleteVersionAfter }),
    };
    const config =
      Object.keys(changes).length === 0 ? await client.kv.config() : await client.kv.configure(changes);
    if (run.json) printJson(config);
    else printRecord(config as unknown as Record<string, unknown>);
    return 0;
  },
};

// ── transit ─────────────────────────────────────────────────────────────────────────────────────

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Reads all of stdin as bytes, as they are (a file encrypted this way decrypts to itself). */
async function readStdinBytes(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A transit key name; "." and ".." cannot travel in a URL (the server refuses other bad names). */
function transitName(run: Run): string {
  const name = run.args[0]!;
  if (name === '.' || name === '..') throw usage(`${JSON.stringify(name)} is not a transit key name`);
  return name;
}

/** TEXT as its UTF-8, or "-" (or no TEXT, when stdin is not a terminal) for stdin's bytes. */
async function transitInput(arg: string | undefined): Promise<string | Uint8Array> {
  if (arg !== undefined && arg !== '-') return arg;
  if (arg === undefined && process.stdin.isTTY) {
    throw usage('give the TEXT, or "-" and the bytes on stdin');
  }
  return readStdinBytes();
}

/** A base64 flag (--context, --associated-data) as bytes. */
function flagBytes(values: Values, flag: Flag): Uint8Array | undefined {
  const given = text(values, flag);
  if (given === undefined) return undefined;
  if (given.length % 4 !== 0 || !BASE64_RE.test(given)) {
    throw usage(`--${flag} expects standard base64 (with padding), e.g. $(printf tenant-1 | base64)`);
  }
  return Buffer.from(given, 'base64');
}

/** --context and --associated-data, as the SDK takes them. */
function transitBindings(values: Values): { context?: Uint8Array; associatedData?: Uint8Array } {
  const context = flagBytes(values, 'context');
  const associatedData = flagBytes(values, 'associated-data');
  return {
    ...(context === undefined ? {} : { context }),
    ...(associatedData === undefined ? {} : { associatedData }),
  };
}

function flagAlgorithm(values: Values): 'sha2-256' | 'sha2-512' | undefined {
  const given = text(values, 'algorithm');
  if (given === undefined) return undefined;
  if (given !== 'sha2-256' && given !== 'sha2-512') throw usage('--algorithm expects sha2-256 or sha2-512');
  return given;
}

/** --auto-rotate: a period such as 12h or 30d (the server checks the range), or 0 for never. */
function flagPeriod(values: Values): string | null | undefined {
  const given = text(values, 'auto-rotate');
  if (given === undefined) return undefined;
  if (given === '0' || given === 'never') return null;
  if (!/^[1-9][0-9]{0,5}[mhdw]$/.test(given)) {
    throw usage(`--auto-rotate expects a period such as 12h, 30d or 2w (at least 1h), or 0 for never`);
  }
  return given;
}

/** A key's settings as "key  value" lines, then its versions as a table. */
function printTransitKey(run: Run, key: TransitKeyInfo): void {
  if (run.json) {
    printJson(key);
    return;
  }
  const { versions, ...settings } = key;
  printRecord(settings);
  out();
  printTable(versions.map((v) => ({ ...v })));
}

const TRANSIT_HANDLERS: Readonly<Record<string, (run: Run) => Promise<number>>> = {
  'transit create': async (run) => {
    const type = text(run.values, 'type');
    const period = flagPeriod(run.values);
    const flag = (f: Flag): boolean => run.values[f] === true;
    const deletionAllowed = flagBoolean(run.values, 'deletion-allowed');
    const key = await (
      await run.authenticated()
    ).transit.createKey(transitName(run), {
      ...(type === undefined ? {} : { type: type as TransitKeyInfo['type'] }),
      ...(flag('exportable') ? { exportable: true } : {}),
      ...(flag('derived') ? { derived: true } : {}),
      ...(flag('convergent') ? { convergent: true } : {}),
      ...(deletionAllowed === undefined ? {} : { deletionAllowed }),
      ...(period === undefined ? {} : { autoRotatePeriod: period }),
    });
    printTransitKey(run, key);
    return 0;
  },
  'transit read': async (run) => {
    printTransitKey(run, await (await run.authenticated()).transit.readKey(transitName(run)));
    return 0;
  },
  'transit list': async (run) => {
    const client = await run.authenticated();
    await printNames(
      run,
      count(run.values, 'limit', 1, 1000),
      (page) => client.transit.listKeys(page),
      'no transit keys',
    );
    return 0;
  },
  'transit config': async (run) => {
    const minDecryptionVersion = count(run.values, 'min-decryption-version', 1, 0xffff_ffff);
    const minEncryptionVersion = count(run.values, 'min-encryption-version', 0, 0xffff_ffff);
    const deletionAllowed = flagBoolean(run.values, 'deletion-allowed');
    const period = flagPeriod(run.values);
    const changes = {
      ...(minDecryptionVersion === undefined ? {} : { minDecryptionVersion }),
      ...(minEncryptionVersion === undefined ? {} : { minEncryptionVersion }),
      ...(deletionAllowed === undefined ? {} : { deletionAllowed }),
      ...(run.values['exportable'] === true ? { exportable: true } : {}),
      ...(period === undefined ? {} : { autoRotatePeriod: period }),
    };
    if (Object.keys(changes).length === 0) throw usage(`usage: fortress ${SPECS['transit config']!.usage}`);
    printTransitKey(run, await (await run.authenticated()).transit.configure(transitName(run), changes));
    return 0;
  },
  'transit rotate': async (run) => {
    const key = await (await run.authenticated()).transit.rotate(transitName(run));
    if (run.json) printJson(key);
    else out(`rotated ${key.name}: new ciphertexts use version ${key.latestVersion}`);
    return 0;
  },
  'transit trim': async (run) => {
    const version = count(run.values, 'min-available-version', 1, 0xffff_ffff);
    if (version === undefined) throw usage('--min-available-version is required');
    const key = await (await run.authenticated()).transit.trim(transitName(run), version);
    if (run.json) printJson(key);
    else out(`trimmed ${key.name}: versions below ${key.minAvailableVersion} are destroyed`);
    return 0;
  },
  'transit delete': async (run) => {
    const name = transitName(run);
    await (await run.authenticated()).transit.deleteKey(name);
    if (run.json) printJson({ deleted: name });
    else out(`deleted transit key ${name}: every version is shredded`);
    return 0;
  },
  'transit encrypt': async (run) => {
    const bindings = transitBindings(run.values);
    const plaintext = await transitInput(run.args[1]);
    const sealed = await (await run.authenticated()).transit.encrypt(transitName(run), plaintext, bindings);
    if (run.json) printJson(sealed);
    else out(sealed.ciphertext);
    return 0;
  },
  'transit decrypt': async (run) => {
    const plaintext = await (
      await run.authenticated()
    ).transit.decrypt(transitName(run), run.args[1]!, transitBindings(run.values));
    const encoded =
      run.json || run.values['base64'] === true ? Buffer.from(plaintext).toString('base64') : null;
    if (run.json) printJson({ plaintext: encoded });
    else if (encoded !== null) out(encoded);
    // The bytes as they are (no newline added): `… decrypt k "$c" > file` restores the file.
    else
      await write(process.stdout, Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength));
    plaintext.fill(0);
    return 0;
  },
  'transit rewrap': async (run) => {
    const sealed = await (
      await run.authenticated()
    ).transit.rewrap(transitName(run), run.args[1]!, transitBindings(run.values));
    if (run.json) printJson(sealed);
    else out(sealed.ciphertext);
    return 0;
  },
  'transit datakey': async (run) => {
    const plaintext = run.values['plaintext'] === true;
    if (plaintext === (run.values['wrapped'] === true)) {
      throw usage(
        'give exactly one of --plaintext (the key and its ciphertext) and --wrapped (only the ciphertext)',
      );
    }
    const bits = text(run.values, 'bits');
    if (bits !== undefined && bits !== '128' && bits !== '256' && bits !== '512') {
      throw usage('--bits expects 128, 256 or 512');
    }
    const key = await (
      await run.authenticated()
    ).transit.dataKey(transitName(run), plaintext ? 'plaintext' : 'wrapped', {
      ...transitBindings(run.values),
      ...(bits === undefined ? {} : { bits: Number(bits) as 128 | 256 | 512 }),
    });
    // Handing out the data key is this command's purpose (with --plaintext): printed once, here.
    const view = {
      ciphertext: key.ciphertext,
      keyVersion: key.keyVersion,
      ...(key.plaintext === undefined ? {} : { plaintext: Buffer.from(key.plaintext).toString('base64') }),
    };
    if (run.json) printJson(view);
    else for (const [field, value] of Object.entries(view)) out(`${field.padEnd(10)}  ${String(value)}`);
    return 0;
  },
  'transit hmac': async (run) => {
    const algorithm = flagAlgorithm(run.values);
    const input = await transitInput(run.args[1]);
    const hmac = await (
      await run.authenticated()
    ).transit.hmac(transitName(run), input, algorithm === undefined ? {} : { algorithm });
    if (run.json) printJson({ hmac });
    else out(hmac);
    return 0;
  },
  'transit sign': async (run) => {
    const input = await transitInput(run.args[1]);
    const signed = await (await run.authenticated()).transit.sign(transitName(run), input);
    if (run.json) printJson(signed);
    else out(signed.signature);
    return 0;
  },
  'transit verify': async (run) => {
    const signature = text(run.values, 'signature');
    const hmac = text(run.values, 'hmac');
    const algorithm = flagAlgorithm(run.values);
    if ((signature === undefined) === (hmac === undefined)) {
      throw usage('give exactly one of --signature S and --hmac H');
    }
    if (signature !== undefined && algorithm !== undefined) throw usage('--algorithm applies to --hmac only');
    const input = await transitInput(run.args[1]);
    const transit = (await run.authenticated()).transit;
    const valid =
      signature === undefined
        ? await transit.verifyHmac(
            transitName(run),
            input,
            hmac!,
            algorithm === undefined ? {} : { algorithm },
          )
        : await transit.verify(transitName(run), input, signature);
    if (run.json) printJson({ valid });
    else out(valid ? 'valid' : 'invalid');
    return valid ? 0 : 1;
  },
  'transit random': async (run) => {
    const n = /^[0-9]{1,8}$/.test(run.args[0]!) ? Number(run.args[0]) : NaN;
    if (!Number.isSafeInteger(n) || n < 1)
      throw usage(`BYTES is a whole number from 1, not ${JSON.stringify(run.args[0])}`);
    const bytes = Buffer.from(await (await run.authenticated()).transit.random(n));
    const random = bytes.toString(run.values['hex'] === true ? 'hex' : 'base64');
    bytes.fill(0);
    if (run.json) printJson({ random });
    else out(random);
    return 0;
  },
  'transit rewrap-job': async (run) => {
    // Arguments are checked before anything is sent.
    const client = (): Promise<FortressClient> => run.authenticated();
    const [action, target] = run.args as [string, string | undefined];
    if (!['start', 'status', 'list', 'pause', 'resume'].includes(action)) {
      throw usage('transit rewrap-job start|status|list|pause|resume');
    }
    if (target === undefined && action !== 'list') {
      throw usage(`transit rewrap-job ${action} needs the ${action === 'start' ? 'key NAME' : 'job ID'}`);
    }
    let job: TransitRewrapJob;
    switch (action) {
      case 'start': {
        const table = text(run.values, 'table');
        const column = text(run.values, 'column');
        if (table === undefined || column === undefined) throw usage('start needs --table and --column');
        const contextColumn = text(run.values, 'context-column');
        const associatedDataColumn = text(run.values, 'associated-data-column');
        const batchSize = count(run.values, 'batch-size', 1, 10_000);
        const name = target!;
        job = await (
          await client()
        ).transit.startRewrap(name, {
          table,
          column,
          ...(contextColumn === undefined ? {} : { contextColumn }),
          ...(associatedDataColumn === undefined ? {} : { associatedDataColumn }),
          ...(batchSize === undefined ? {} : { batchSize }),
        });
        break;
      }
      case 'status':
        job = await (await client()).transit.rewrapJob(target!);
        break;
      case 'pause':
        job = await (await client()).transit.pauseRewrap(target!);
        break;
      case 'resume':
        job = await (await client()).transit.resumeRewrap(target!);
        break;
      case 'list': {
        if (target !== undefined) throw usage('transit rewrap-job list takes no argument');
        const limit = count(run.values, 'limit', 1, 1000);
        const jobs = await (await client()).transit.listRewrapJobs(limit);
        if (run.json) printJson(jobs);
        else printTable(jobs as unknown as Record<string, unknown>[]);
        return 0;
      }
      default:
        throw usage(`transit rewrap-job ${action}: unknown`);
    }
    if (run.values['wait'] === true && job.state === 'running') {
      job = await (await client()).transit.waitForRewrap(job.id);
    }
    if (run.json) printJson(job);
    else printRecord(job as unknown as Record<string, unknown>);
    return job.state === 'failed' ? 1 : 0;
  },
  'transit rewrap-stream': async (run) => {
    const batchSize = count(run.values, 'batch-size', 1, 10_000);
    const name = transitName(run);
    const client = await run.authenticated();
    // Blank input lines (a failed item of an earlier run) pass through as blank output lines, so
    // the output lines up with the input; lineNumbers[i] is the input line of the i-th ciphertext.
    const blanksBefore: number[] = [];
    const lineNumbers: number[] = [];
    let blanks = 0;
    let lineNumber = 0;
    async function* lines(): AsyncGenerator<string> {
      let pending = '';
      const take = function* (line: string): Generator<string> {
        lineNumber++;
        if (line === '') {
          blanks++;
          return;
        }
        blanksBefore.push(blanks);
        lineNumbers.push(lineNumber);
        blanks = 0;
        yield line;
      };
      for await (const chunk of process.stdin) {
        pending += (chunk as Buffer).toString('utf8');
        let at: number;
        while ((at = pending.indexOf('\n')) >= 0) {
          yield* take(pending.slice(0, at).trim());
          pending = pending.slice(at + 1);
        }
      }
      if (pending.trim() !== '') yield* take(pending.trim());
    }
    let failed = 0;
    // Line for line: a ciphertext that could not be rewrapped leaves an empty line on stdout and
    // its reason on stderr, so the output still lines up with the input.
    for await (const r of client.transit.rewrapStream(
      name,
      lines(),
      batchSize === undefined ? {} : { batchSize },
    )) {
      for (let b = blanksBefore.shift() ?? 0; b > 0; b--) out();
      const at = lineNumbers.shift() ?? r.index + 1;
      if ('error' in r) {
        failed++;
        process.stderr.write(`line ${at}: ${r.error.code} ${r.error.message}\n`);
        out();
      } else {
        out(r.ciphertext);
      }
    }
    for (; blanks > 0; blanks--) out();
    return failed === 0 ? 0 : 1;
  },
  'transit export': async (run) => {
    const type = run.args[1]!;
    const types = ['encryption-key', 'signing-key', 'hmac-key', 'public-key'] as const;
    if (!(types as readonly string[]).includes(type)) throw usage(`TYPE is one of ${types.join(', ')}`);
    const version =
      run.values['version'] === 'latest' ? ('latest' as const) : count(run.values, 'version', 1, 0xffff_ffff);
    const exported = await (
      await run.authenticated()
    ).transit.exportKey(transitName(run), type as (typeof types)[number], version);
    if (run.json) printJson(exported);
    // Whole (not cut to a table cell): the key is what was asked for.
    else for (const [v, key] of Object.entries(exported.keys)) out(`${v}  ${key}`);
    return 0;
  },
};

// ── database ────────────────────────────────────────────────────────────────────────────────────

/** A name argument of a `database` command, checked before anything is sent. */
function databaseName(run: Run, what: string): string {
  const name = run.args[1];
  if (name === undefined) throw usage(`database ${run.args[0]!}: give the ${what}`);
  if (name === '.' || name === '..') throw usage(`${JSON.stringify(name)} is not a ${what}`);
  return name;
}

function noName(run: Run): void {
  if (run.args.length > 1) throw usage(`database … ${run.args[0]!} takes no name`);
}

function required(values: Values, flag: Flag): string {
  const value = text(values, flag);
  if (value === undefined) throw usage(`--${flag} is required`);
  return value;
}

function statements(values: Values, flag: Flag): string[] | undefined {
  const given = values[flag];
  return Array.isArray(given) ? given : undefined;
}

interface NamePage {
  readonly keys: readonly string[];
  readonly next: string | null;
}

/**
 * Every page of a list of names, one request each (the server never answers an unbounded list):
 * a name per line, or `{ keys }` with --json. An empty list says so on stderr (`empty`), so stdout
 * stays a clean list for scripts.
 */
async function printNames(
  run: Run,
  limit: number | undefined,
  list: (page: { after?: string; limit?: number }) => Promise<NamePage>,
  empty: string,
): Promise<void> {
  const keys: string[] = [];
  let printed = 0;
  let after: string | undefined;
  for (;;) {
    const page = await list({
      ...(limit === undefined ? {} : { limit }),
      ...(after === undefined ? {} : { after }),
    });
    if (run.json) keys.push(...page.keys);
    else for (const key of page.keys) out(key);
    printed += page.keys.length;
    if (page.next === null) break;
    after = page.next;
  }
  if (run.json) printJson({ keys });
  else if (printed === 0) process.stderr.write(`(${empty})\n`);
}

function printObject(run: Run, value: object): void {
  if (run.json) printJson(value);
  else printRecord(value as Record<string, unknown>);
}

const DATABASE_HANDLERS: Readonly<Record<string, (run: Run) => Promise<number>>> = {
  'database config': async (run) => {
    const action = run.args[0]!;
    const limit = count(run.values, 'limit', 1, 1000);
    switch (action) {
      case 'list':
        noName(run);
        {
          const client = await run.authenticated();
          await printNames(run, limit, (page) => client.database.listConnections(page), 'no connections');
        }
        return 0;
      case 'read': {
        const name = databaseName(run, 'connection NAME');
        printObject(run, await (await run.authenticated()).database.readConnection(name));
        return 0;
      }
      case 'delete': {
        const name = databaseName(run, 'connection NAME');
        const deleted = await (await run.authenticated()).database.deleteConnection(name);
        out(deleted ? `deleted connection ${name}` : `no connection ${name}`);
        return deleted ? 0 : 1;
      }
      case 'write': {
        const name = databaseName(run, 'connection NAME');
        const connectionUrl = required(run.values, 'connection-url');
        const username = required(run.values, 'username');
        const allowed = required(run.values, 'allowed-roles')
          .split(',')
          .map((r) => r.trim())
          .filter((r) => r !== '');
        if (allowed.length === 0) throw usage('--allowed-roles expects role names, prefix* or *');
        const maxOpen = count(run.values, 'max-open', 1, 1000);
        const passwordLength = count(run.values, 'password-length', 16, 128);
        const rootRotation = statements(run.values, 'root-rotation-statement');
        const auth = text(run.values, 'password-authentication');
        if (auth !== undefined && auth !== 'scram-sha-256' && auth !== 'password') {
          throw usage('--password-authentication expects scram-sha-256 or password');
        }
        // Never a flag: a password on the command line is in the shell history and `ps`. An
        // update of the same target may keep the stored one (after rotate-root only Fortress has it).
        const password =
          run.values['keep-password'] === true
            ? undefined
            : await readSecret(`Password of ${username}: `, { exact: true });
        const info = await (
          await run.authenticated()
        ).database.writeConnection(name, {
          plugin: 'postgresql',
          connectionUrl,
          username,
          ...(password === undefined ? {} : { password }),
          allowedRoles: allowed,
          ...(maxOpen === undefined ? {} : { maxOpenConnections: maxOpen }),
          ...(passwordLength === undefined ? {} : { passwordLength }),
          ...(rootRotation === undefined ? {} : { rootRotationStatements: rootRotation }),
          ...(run.values['no-verify'] === true ? { verifyConnection: false } : {}),
          ...(auth === undefined ? {} : { passwordAuthentication: auth }),
        });
        printObject(run, info);
        return 0;
      }
      default:
        throw usage('database config list|read|write|delete');
    }
  },
  'database rotate-root': async (run) => {
    const name = run.args[0]!;
    const info = await (await run.authenticated()).database.rotateRoot(name);
    if (run.json) printJson(info);
    else out(`rotated the administrator password of ${name} (only Fortress knows it now)`);
    return 0;
  },
  'database reset': async (run) => {
    const name = run.args[0]!;
    await (await run.authenticated()).database.resetConnection(name);
    if (run.json) printJson({ reset: true });
    else out(`closed the pooled sessions of ${name}; the next use reconnects`);
    return 0;
  },
  'database role': async (run) => {
    const action = run.args[0]!;
    const limit = count(run.values, 'limit', 1, 1000);
    switch (action) {
      case 'list':
        noName(run);
        {
          const client = await run.authenticated();
          await printNames(run, limit, (page) => client.database.listRoles(page), 'no roles');
        }
        return 0;
      case 'read': {
        const name = databaseName(run, 'role NAME');
        printObject(run, await (await run.authenticated()).database.readRole(name));
        return 0;
      }
      case 'delete': {
        const name = databaseName(run, 'role NAME');
        const deleted = await (await run.authenticated()).database.deleteRole(name);
        out(deleted ? `deleted role ${name}` : `no role ${name}`);
        return deleted ? 0 : 1;
      }
      case 'write': {
        const name = databaseName(run, 'role NAME');
        const connection = required(run.values, 'connection');
        const creationStatements = statements(run.values, 'creation-statement');
        if (creationStatements === undefined)
          throw usage('--creation-statement is required (one per statement)');
        const defaultTtl = flagDuration(run.values, 'default-ttl') ?? required(run.values, 'default-ttl');
        const maxTtl = flagDuration(run.values, 'max-ttl') ?? required(run.values, 'max-ttl');
        const revocationStatements = statements(run.values, 'revocation-statement');
        const renewStatements = statements(run.values, 'renew-statement');
        const info = await (
          await run.authenticated()
        ).database.writeRole(name, {
          connection,
          creationStatements,
          ...(revocationStatements === undefined ? {} : { revocationStatements }),
          ...(renewStatements === undefined ? {} : { renewStatements }),
          defaultTtl,
          maxTtl,
        });
        printObject(run, info);
        return 0;
      }
      default:
        throw usage('database role list|read|write|delete');
    }
  },
  'database creds': async (run) => {
    const ttl = flagDuration(run.values, 'ttl');
    const creds = await (
      await run.authenticated()
    ).database.credentials(run.args[0]!, ttl === undefined ? {} : { ttl });
    printObject(run, creds);
    return 0;
  },
  'database lease': async (run) => {
    const action = run.args[0]!;
    const limit = count(run.values, 'limit', 1, 1000);
    switch (action) {
      case 'list': {
        noName(run);
        const role = text(run.values, 'role');
        const page = await (
          await run.authenticated()
        ).database.listLeases({
          ...(role === undefined ? {} : { role }),
          ...(limit === undefined ? {} : { limit }),
        });
        if (run.json) printJson(page);
        else
          printTable(page.leases as unknown as Record<string, unknown>[], [
            'leaseId',
            'username',
            'state',
            'expireTime',
          ]);
        return 0;
      }
      case 'lookup': {
        const name = databaseName(run, 'LEASE_ID');
        printObject(run, await (await run.authenticated()).database.lookupLease(name));
        return 0;
      }
      case 'renew': {
        const leaseId = databaseName(run, 'LEASE_ID');
        const increment = flagDuration(run.values, 'increment');
        printObject(
          run,
          await (
            await run.authenticated()
          ).database.renewLease(leaseId, increment === undefined ? {} : { increment }),
        );
        return 0;
      }
      case 'revoke': {
        const leaseId = databaseName(run, 'LEASE_ID');
        await (await run.authenticated()).database.revokeLease(leaseId);
        out(`revoked ${leaseId}`);
        return 0;
      }
      case 'revoke-prefix': {
        const prefix = databaseName(run, 'PREFIX (e.g. database/creds/ROLE/)');
        const revoked = await (await run.authenticated()).database.revokePrefix(prefix);
        if (run.json) printJson({ revoked });
        else out(`revoked ${revoked} lease${revoked === 1 ? '' : 's'}`);
        return 0;
      }
      default:
        throw usage('database lease list|lookup|renew|revoke|revoke-prefix');
    }
  },
  'database static-role': async (run) => {
    const action = run.args[0]!;
    const limit = count(run.values, 'limit', 1, 1000);
    switch (action) {
      case 'list':
        noName(run);
        {
          const client = await run.authenticated();
          await printNames(run, limit, (page) => client.database.listStaticRoles(page), 'no static roles');
        }
        return 0;
      case 'read': {
        const name = databaseName(run, 'static role NAME');
        printObject(run, await (await run.authenticated()).database.readStaticRole(name));
        return 0;
      }
      case 'rotate': {
        const name = databaseName(run, 'static role NAME');
        printObject(run, await (await run.authenticated()).database.rotateStaticRole(name));
        return 0;
      }
      case 'delete': {
        const name = databaseName(run, 'static role NAME');
        const deleted = await (await run.authenticated()).database.deleteStaticRole(name);
        out(deleted ? `deleted static role ${name}` : `no static role ${name}`);
        return deleted ? 0 : 1;
      }
      case 'write': {
        const name = databaseName(run, 'static role NAME');
        const connection = required(run.values, 'connection');
        const username = required(run.values, 'username');
        const rotationPeriod =
          flagDuration(run.values, 'rotation-period') ?? required(run.values, 'rotation-period');
        const rotationStatements = statements(run.values, 'rotation-statement');
        printObject(
          run,
          await (
            await run.authenticated()
          ).database.writeStaticRole(name, {
            connection,
            username,
            rotationPeriod,
            ...(rotationStatements === undefined ? {} : { rotationStatements }),
          }),
        );
        return 0;
      }
      default:
        throw usage('database static-role list|read|write|rotate|delete');
    }
  },
  'database static-creds': async (run) => {
    printObject(run, await (await run.authenticated()).database.staticCredentials(run.args[0]!));
    return 0;
  },
};

function count(values: Values, flag: Flag, min = 1, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = text(values, flag);
  if (value === undefined) return undefined;
  const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw usage(`--${flag} expects a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return n;
}

function jsonObject(values: Values, flag: Flag): Record<string, unknown> | undefined {
  const value = text(values, flag);
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw usage(`--${flag} expects a JSON object, e.g. '{"name":"ann"}'`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw usage(`--${flag} expects a JSON object, e.g. '{"name":"ann"}'`);
  }
  return parsed as Record<string, unknown>;
}

function columns(values: Values, flag: Flag): string[] | undefined {
  const value = text(values, flag);
  if (value === undefined) return undefined;
  const names = value.split(',').map((c) => c.trim());
  if (names.some((c) => c === '')) throw usage(`--${flag} expects column names separated by commas`);
  return names;
}

function formatOf(values: Values, file: string | undefined): 'ndjson' | 'csv' {
  const given = text(values, 'format');
  if (given !== undefined) {
    if (given !== 'ndjson' && given !== 'csv') throw usage('--format expects ndjson or csv');
    return given;
  }
  return file !== undefined && path.extname(file).toLowerCase() === '.csv' ? 'csv' : 'ndjson';
}

async function readFileText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new FortressError('FX_CLI_USAGE', `${what} ${file}: cannot be read`, { cause });
  }
}

// ── output helpers ──────────────────────────────────────────────────────────────────────────────

/** Fields the API answers in milliseconds: tables show them as durations (`--json` keeps ms). */
const DURATION_FIELDS: ReadonlySet<string> = new Set([
  'ttl',
  'leaseDuration',
  'defaultTtl',
  'maxTtl',
  'rotationPeriod',
  'deleteVersionAfter',
]);

/** `1h59m59s`, `90s`, `2d`, `0s`: whole seconds (under one second, milliseconds). */
function durationText(ms: number): string {
  if (ms > 0 && ms < 1000) return `${ms}ms`;
  let rest = Math.floor(ms / 1000);
  let text = '';
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text === '' ? '0s' : text;
}

/** One cell: on one line, cut to MAX_CELL characters; `field` names what the value is. */
function cell(value: unknown, field?: string): string {
  let s: string;
  if (typeof value === 'number' && field !== undefined && DURATION_FIELDS.has(field)) {
    s = durationText(value);
  } else if (value === null || value === undefined) s = '';
  else if (typeof value === 'string') s = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    s = String(value);
  } else s = JSON.stringify(value);
  // Control characters would break the alignment (or forge lines): shown as spaces.
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s;
}

/** Rows as an aligned table under a header; the columns are those of the rows unless given. */
function printTable(rows: readonly Record<string, unknown>[], header?: readonly string[]): void {
  const names = header ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  if (rows.length === 0 || names.length === 0) {
    out('(none)');
    return;
  }
  const cells = rows.map((r) => names.map((n) => cell(r[n], n)));
  const widths = names.map((n, i) => Math.max(n.length, ...cells.map((c) => c[i]!.length)));
  const line = (parts: readonly string[]): string =>
    parts
      .map((p, i) => p.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  out(line(names));
  out(line(widths.map((w) => '-'.repeat(w))));
  for (const c of cells) out(line(c));
}

/** One record as "key  value" lines. */
function printRecord(record: Readonly<Record<string, unknown>>): void {
  const keys = Object.keys(record);
  const width = Math.max(0, ...keys.map((k) => k.length));
  for (const k of keys) out(`${k.padEnd(width)}  ${cell(record[k], k)}`.trimEnd());
}

/** "rows so far, rows/s" on stderr, redrawn at most 4 times a second; only on a terminal. */
class ProgressLine {
  readonly #enabled = process.stderr.isTTY;
  readonly #start = Date.now();
  #last = 0;

  update(rows: number, force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#last < 250) return;
    this.#last = now;
    const seconds = Math.max((now - this.#start) / 1000, 0.001);
    process.stderr.write(`\r${rows} rows, ${Math.round(rows / seconds)} rows/s`);
  }

  done(rows: number): void {
    if (!this.#enabled) return;
    this.update(rows, true);
    process.stderr.write('\n');
  }
}

/** A job's progress bar on stderr (a terminal only), redrawn as the server reports progress. */
async function waitForJob(run: Run, client: FortressClient, id: number): Promise<number> {
  const bar = process.stderr.isTTY;
  const done = await client.keys.waitForJob(id, {
    intervalMs: 250,
    onProgress: (job) => {
      if (!bar) return;
      const percent = Number(job['percent'] ?? 0);
      const eta = typeof job['etaMs'] === 'number' ? `, ETA ${Math.ceil(job['etaMs'] / 1000)} s` : '';
      process.stderr.write(
        `\r[${'#'.repeat(Math.round(percent / 5)).padEnd(20, '.')}] ${percent.toFixed(0).padStart(3)}%  ${String(job['processed'])}/${String(job['total'])} rows${eta}   `,
      );
    },
  });
  if (bar) process.stderr.write('\n');
  if (run.json) printJson(done);
  else
    out(
      `job ${String(done['id'])} ${String(done['state'])}: ${String(done['rewritten'])} of ${String(done['total'])} rows re-encrypted (${String(done['kind'])} on ${String(done['table'])})`,
    );
  return 0;
}

function tokenRecord(view: TokenView): Record<string, unknown> {
  return {
    accessor: view.accessor,
    principal: `${view.principal.kind}:${view.principal.tenant}/${view.principal.name}`,
    method: view.method,
    displayName: view.displayName,
    createdAt: view.createdAt,
    expiresAt: view.expiresAt,
    maxExpiresAt: view.maxExpiresAt,
    renewable: view.renewable,
    usesLeft: view.usesLeft ?? 'unlimited',
    parent: view.parent,
  };
}

// ── the commands ────────────────────────────────────────────────────────────────────────────────

/** What a command runs with. */
interface Run {
  readonly target: RemoteTarget;
  readonly json: boolean;
  readonly values: Values;
  readonly args: readonly string[];
  /** A client without a token (status, init, unseal, login). */
  anonymous(): Promise<FortressClient>;
  /** A client with the caller's token; FX_UNAUTHENTICATED with the next step when there is none. */
  authenticated(): Promise<FortressClient>;
}

/**
 * Runs one remote command. Usage errors are thrown (main.ts reports them, exit 2); failures the
 * server or the network report are printed with the next step to take, and give exit 2.
 */
export async function remoteCommand(command: string, argv: string[]): Promise<number> {
  if (argv.some((a) => a === '--token' || a.startsWith('--token='))) {
    throw usage(
      'there is no --token flag (it would land in shell history and `ps`): set FORTRESS_TOKEN or run `fortress login`',
    );
  }
  const { values, positionals } = parseArgs({
    // `access … --service` is a switch (as on a data directory), where `token create` takes
    // `--service NAME`: here it becomes `--service=yes` before parsing.
    args: command === 'access' ? argv.map((a) => (a === '--service' ? '--service=yes' : a)) : argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const grouped = GROUPS.has(command);
  const name = grouped ? `${command} ${positionals[0] ?? ''}`.trim() : command;
  const spec = SPECS[name];
  if (spec === undefined) {
    const choices = Object.keys(SPECS)
      .filter((k) => k.startsWith(`${command} `))
      .map((k) => k.slice(command.length + 1));
    throw usage(
      grouped && positionals[0] === undefined
        ? `fortress ${command} needs a subcommand: ${choices.join(', ')}`
        : `unknown command ${JSON.stringify(name)} against a server; expected ${command} ${choices.join('|')}`,
    );
  }
  const args = positionals.slice(grouped ? 1 : 0);
  for (const [flag, value] of Object.entries(values)) {
    if (value === false) continue;
    if (flag === 'server' || flag === 'ca-cert' || flag === 'json') continue;
    if (!(spec.flags as readonly string[]).includes(flag)) {
      throw usage(`fortress ${name} takes no --${flag}; usage: fortress ${spec.usage}`);
    }
  }
  if (args.length < spec.args[0] || args.length > spec.args[1]) {
    throw usage(`usage: fortress ${spec.usage}`);
  }
  const target = await resolveTarget(values, process.env);
  const run: Run = {
    target,
    json: values.json,
    values,
    args,
    anonymous: () => createRemoteClient(target),
    authenticated: async () => {
      const token = await loadToken(process.env);
      if (token === undefined) {
        throw new FortressError(
          'FX_UNAUTHENTICATED',
          `no token: run \`fortress login USER --server ${target.address}\` (or set FORTRESS_TOKEN)`,
        );
      }
      try {
        return await createRemoteClient(target, token);
      } catch (error) {
        if (error instanceof TypeError) {
          throw new FortressError(
            'FX_UNAUTHENTICATED',
            `the token (FORTRESS_TOKEN or the saved one) is malformed: run \`fortress login USER --server ${target.address}\``,
          );
        }
        throw error;
      }
    },
  };
  try {
    return await HANDLERS[name]!(run);
  } catch (error) {
    const failure = explainRemoteFailure(error, target.address);
    if (failure === undefined) throw argumentError(error);
    process.stderr.write(`fortress: ${failure.message} [${failure.code}]\n`);
    return 2;
  }
}

/** `access user|role|group ACTION NAME`: the action, checked against those the noun has. */
function accessAction(run: Run, noun: string, actions: readonly string[]): string {
  const action = run.args[0]!;
  if (!actions.includes(action)) {
    throw usage(`fortress access ${noun} ${action}: expected ${actions.join(', ')}`);
  }
  return action;
}

/** `--service` (rewritten to `--service=yes` before parsing, see remoteCommand): a service account. */
function serviceSwitch(run: Run): boolean {
  const service = run.values['service'];
  if (service !== undefined && service !== 'yes') throw usage('--service takes no value here');
  return service === 'yes';
}

/** `{ tenant }` from --tenant, or `{}` (the caller's tenant). */
function tenantOption(run: Run): { tenant?: string } {
  const tenant = text(run.values, 'tenant');
  return tenant === undefined ? {} : { tenant };
}

/** Flags that only some actions take (`--clearance` on remove would be silently dropped). */
function onlyWith(run: Run, noun: string, allowed: readonly string[], flags: readonly Flag[]): void {
  const action = run.args[0]!;
  if (allowed.includes(action)) return;
  for (const flag of flags) {
    if (run.values[flag] !== undefined && run.values[flag] !== false) {
      throw usage(`fortress access ${noun} ${action} takes no --${flag}`);
    }
  }
}

const ACCESS_HANDLERS: Readonly<Record<string, (run: Run) => Promise<number>>> = {
  'access list': async (run) => {
    const listing = (await (await run.authenticated()).principals.list()) as unknown as AccessListing;
    if (run.json) printJson(listing);
    else for (const line of accessListingLines(listing)) out(line);
    return 0;
  },
  'access user': async (run) => {
    const action = accessAction(run, 'user', ['add', 'update', 'remove']);
    onlyWith(run, 'user', ['add', 'update'], ['clearance', 'roles', 'groups']);
    const kind = serviceSwitch(run) ? 'service' : 'user';
    const name = run.args[1]!;
    const what = `${kind === 'user' ? 'user' : 'service account'} ${name}`;
    const where = tenantOption(run);
    const tenant = where.tenant;
    const api = (await run.authenticated()).principals;
    if (action === 'remove') {
      await (kind === 'user' ? api.removeUser(name, where) : api.removeService(name, where));
      out(`removed ${what}`);
      return 0;
    }
    // A PUT replaces the whole record: `add` refuses to overwrite one, `update` keeps what no flag changes.
    const listing = (await api.list()) as unknown as AccessListing;
    const current = listing.principals.find(
      (p) => p.kind === kind && p.name === name && (tenant === undefined || p.tenant === tenant),
    );
    if (action === 'add' && current !== undefined) {
      throw new FortressError(
        'FX_POLICY_CONFLICT',
        `${what} exists already; change it with fortress access user update`,
      );
    }
    if (action === 'update' && current === undefined) {
      throw new FortressError('FX_NOT_FOUND', `no ${what}; create it with fortress access user add`);
    }
    const clearance = text(run.values, 'clearance') ?? current?.clearance;
    const roles = nameList(text(run.values, 'roles'), 'roles') ?? current?.roles;
    const groups = nameList(text(run.values, 'groups'), 'groups') ?? current?.groups;
    const record = {
      ...where,
      ...(clearance === undefined ? {} : { clearance }),
      ...(roles === undefined ? {} : { roles }),
      ...(groups === undefined ? {} : { groups }),
    };
    await (kind === 'user' ? api.putUser(name, record) : api.putService(name, record));
    out(`${action === 'add' ? 'added' : 'updated'} ${what}`);
    return 0;
  },
  'access role': async (run) => {
    const action = accessAction(run, 'role', ['add', 'remove']);
    onlyWith(run, 'role', ['add'], ['inherits']);
    const [, name] = run.args as [string, string];
    const where = tenantOption(run);
    const api = (await run.authenticated()).principals;
    if (action === 'remove') await api.removeRole(name, where);
    else {
      const inherits = nameList(text(run.values, 'inherits'), 'inherits');
      await api.putRole(name, {
        ...where,
        ...(inherits === undefined ? {} : { roles: inherits }),
      });
    }
    out(`${action === 'add' ? 'added' : 'removed'} role ${name}`);
    return 0;
  },
  'access group': async (run) => {
    const action = accessAction(run, 'group', ['add', 'remove']);
    onlyWith(run, 'group', ['add'], ['roles', 'groups']);
    const [, name] = run.args as [string, string];
    const where = tenantOption(run);
    const api = (await run.authenticated()).principals;
    if (action === 'remove') await api.removeGroup(name, where);
    else {
      const roles = nameList(text(run.values, 'roles'), 'roles');
      const groups = nameList(text(run.values, 'groups'), 'groups');
      await api.putGroup(name, {
        ...where,
        ...(roles === undefined ? {} : { roles }),
        ...(groups === undefined ? {} : { groups }),
      });
    }
    out(`${action === 'add' ? 'added' : 'removed'} group ${name}`);
    return 0;
  },
  'access roles-of': async (run) => {
    const service = serviceSwitch(run);
    const name = run.args[0]!;
    const held = await (
      await run.authenticated()
    ).principals.rolesOf(name, { ...tenantOption(run), ...(service ? { service } : {}) });
    if (run.json) printJson(held);
    else
      out(
        held.length === 0 ? `${service ? 'service account' : 'user'} ${name} holds no role` : held.join('\n'),
      );
    return 0;
  },
};

/**
 * The SDK checks its arguments before sending anything and throws TypeError or RangeError naming
 * the argument (`path: "a//b" has an empty … segment`): bad input, not a crash — FX_INVALID_ARGUMENT,
 * exit 2. Any other error passes unchanged.
 */
function argumentError(error: unknown): unknown {
  if (!(error instanceof TypeError || error instanceof RangeError)) return error;
  if (!/^[A-Za-z][\w.[\]]*: /.test(error.message)) return error;
  return new FortressError('FX_INVALID_ARGUMENT', error.message, { cause: error });
}

const HANDLERS: Readonly<Record<string, (run: Run) => Promise<number>>> = {
  ...ACCESS_HANDLERS,
  ...KV_HANDLERS,
  ...TRANSIT_HANDLERS,
  ...DATABASE_HANDLERS,
  ...ceremonyHandlers('rekey'),
  ...ceremonyHandlers('rotate-root'),
  init: initServer,
  unseal: unsealServer,
  status: async (run) => {
    const status = await (await run.anonymous()).sys.status();
    if (run.json) printJson(status);
    else printStatus(run.target.address, status);
    return 0;
  },
  seal: async (run) => {
    await (await run.authenticated()).sys.seal();
    if (run.json) printJson({ sealed: true });
    else out(`sealed: every key on ${run.target.address} is zeroed until unsealed`);
    return 0;
  },
  login,
  'token create': async (run) => {
    const client = await run.authenticated();
    const ttl = count(run.values, 'ttl');
    const uses = count(run.values, 'uses');
    const service = text(run.values, 'service');
    const grant = await client.auth.createToken({
      ...(ttl === undefined ? {} : { ttl }),
      ...(uses === undefined ? {} : { uses }),
      ...(service === undefined ? {} : { service }),
    });
    if (run.json) printJson(grant);
    else {
      // Handing out a token is this command's purpose: it is printed once, here.
      printRecord({ token: grant.token, ...tokenRecord(grant.info) });
    }
    return 0;
  },
  'token lookup': async (run) => {
    const view = await (await run.authenticated()).auth.lookupSelf();
    if (run.json) printJson(view);
    else printRecord(tokenRecord(view));
    return 0;
  },
  'token renew': async (run) => {
    const view = await (await run.authenticated()).auth.renewSelf();
    if (run.json) printJson(view);
    else out(`renewed: token ${view.accessor} now expires ${view.expiresAt}`);
    return 0;
  },
  'token revoke': async (run) => {
    const client = await run.authenticated();
    const accessor = run.args[0];
    let revoked: number;
    if (accessor === undefined) {
      if (run.values['orphan'] === true) throw usage('--orphan needs an ACCESSOR (revoking your own token)');
      revoked = await client.auth.revokeSelf();
      // A saved token that no longer works only confuses the next command.
      if (process.env['FORTRESS_TOKEN'] === undefined || process.env['FORTRESS_TOKEN'] === '') {
        await forgetToken(process.env);
      }
    } else {
      revoked = await client.auth.revoke(accessor, { orphan: run.values['orphan'] === true });
    }
    if (run.json) printJson({ revoked });
    else out(`revoked ${revoked} token${revoked === 1 ? '' : 's'}`);
    return 0;
  },
  'user passwd': async (run) => {
    const client = await run.authenticated();
    const password = await readNewPassword();
    const tenant = text(run.values, 'tenant');
    await client.auth.setPassword(run.args[0]!, password, tenant);
    if (run.json) printJson({ user: run.args[0], passwordSet: true });
    else out(`password set for ${run.args[0]!}`);
    return 0;
  },
  'table list': async (run) => {
    const tables = await (await run.authenticated()).db.listTables();
    if (run.json) printJson(tables);
    else
      printTable(
        tables.map((t) => ({ table: t })),
        ['table'],
      );
    return 0;
  },
  'table create': async (run) => {
    const file = text(run.values, 'schema');
    if (file === undefined) throw usage('usage: fortress table create NAME --schema FILE.json');
    let definition: unknown;
    try {
      definition = JSON.parse(await readFileText(file, '--schema'));
    } catch (error) {
      if (error instanceof FortressError) throw error;
      throw usage(`--schema ${file}: not JSON`);
    }
    if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) {
      throw usage(`--schema ${file}: expected a JSON object such as {"columns": {…}}`);
    }
    const client = await run.authenticated();
    const table = await client.db.createTable(run.args[0]!, definition as never);
    if (run.json) printJson(table);
    else {
      out(`created table ${table.name}`);
      printColumns(table.columns);
    }
    return 0;
  },
  'table describe': async (run) => {
    const table = await (await run.authenticated()).db.describeTable(run.args[0]!);
    if (run.json) printJson(table);
    else {
      out(
        `table ${table.name}: encryption ${table.level}, ${table.algorithm}, schema version ${table.version}`,
      );
      printColumns(table.columns);
    }
    return 0;
  },
  'table drop': async (run) => {
    await (await run.authenticated()).db.dropTable(run.args[0]!);
    if (run.json) printJson({ dropped: run.args[0] });
    else out(`dropped table ${run.args[0]!}`);
    return 0;
  },
  'table rotate': async (run) => {
    const client = await run.authenticated();
    const job = (await client.keys.rotateTable(run.args[0]!))['job'] as JsonObject;
    if (run.values['detach'] === true) {
      if (run.json) printJson(job);
      else
        out(
          `rotating ${run.args[0]!}: job ${String(job['id'])} (\`fortress job status ${String(job['id'])}\`)`,
        );
      return 0;
    }
    return waitForJob(run, client, job['id'] as number);
  },
  'job status': async (run) => {
    const id = /^[0-9]{1,15}$/.test(run.args[0]!) ? Number(run.args[0]) : NaN;
    if (!Number.isSafeInteger(id))
      throw usage(`a job id is a whole number, not ${JSON.stringify(run.args[0])}`);
    return waitForJob(run, await run.authenticated(), id);
  },
  insert: insertRows,
  get: async (run) => {
    const select = columns(run.values, 'select');
    const row = await (
      await run.authenticated()
    ).db.get(run.args[0]!, run.args[1]!, select === undefined ? {} : { select });
    if (run.json) printJson(row);
    else printRecord(row);
    return 0;
  },
  find: async (run) => {
    const where = jsonObject(run.values, 'where');
    const limit = count(run.values, 'limit');
    const select = columns(run.values, 'select');
    const rows = await (
      await run.authenticated()
    ).db.find(run.args[0]!, {
      ...(where === undefined ? {} : { where }),
      ...(limit === undefined ? {} : { limit }),
      ...(select === undefined ? {} : { select }),
    });
    if (run.json) printJson(rows);
    else printTable(rows, select);
    return 0;
  },
  count: async (run) => {
    const where = jsonObject(run.values, 'where');
    const n = await (await run.authenticated()).db.count(run.args[0]!, where);
    if (run.json) printJson({ count: n });
    else out(String(n));
    return 0;
  },
  update: async (run) => {
    const changes = jsonObject(run.values, 'set');
    if (changes === undefined) throw usage('usage: fortress update TABLE KEY --set JSON');
    await (await run.authenticated()).db.update(run.args[0]!, run.args[1]!, changes);
    if (run.json) printJson({ updated: true });
    else out(`updated ${run.args[0]!}/${run.args[1]!}`);
    return 0;
  },
  delete: async (run) => {
    await (await run.authenticated()).db.delete(run.args[0]!, run.args[1]!);
    if (run.json) printJson({ deleted: true });
    else out(`deleted ${run.args[0]!}/${run.args[1]!}`);
    return 0;
  },
  import: importRows,
  export: exportRows,
  'keys list': async (run) => {
    const body = await (await run.authenticated()).keys.list();
    const keys = (body['keys'] ?? []) as JsonObject[];
    if (run.json) printJson(keys);
    else
      printTable(keys, [
        'name',
        'purpose',
        'algorithm',
        'activeVersion',
        'minDecryptionVersion',
        'rotationPeriod',
        'rotatedAt',
      ]);
    return 0;
  },
  'keys export': async (run) => {
    const to = text(run.values, 'to');
    const outFile = text(run.values, 'out');
    if (to === undefined || outFile === undefined) {
      throw usage('usage: fortress keys export --to RECIPIENT.pub --out FILE [--label TEXT]');
    }
    let recipient: string;
    try {
      recipient = (await readFile(to, 'utf8')).trim();
    } catch (cause) {
      throw new FortressError('FX_CLI_USAGE', `--to ${to}: cannot be read`, { cause });
    }
    const label = text(run.values, 'label');
    const result = await (
      await run.authenticated()
    ).keys.exportKeys({ recipient, ...(label === undefined ? {} : { label }) });
    const backup = Buffer.from(String(result['backup']), 'base64');
    const signers = result['signers'] as { ed25519: string; mlDsa65: string };
    // New files only: a backup never overwrites another.
    try {
      await writeFile(outFile, backup, { flag: 'wx', mode: 0o600 });
      await writeFile(`${outFile}.signers.json`, `${JSON.stringify(signers, null, 2)}\n`, {
        flag: 'wx',
        mode: 0o644,
      });
    } catch (cause) {
      throw new FortressError('FX_CLI_USAGE', `cannot create ${outFile} (does it already exist?)`, { cause });
    }
    const summary = { file: outFile, keys: result['keys'], versions: result['versions'], signers };
    if (run.json) printJson(summary);
    else {
      out(
        `Wrote ${outFile}: ${String(result['keys'])} keys, ${String(result['versions'])} versions, encrypted to the recipient and signed.`,
      );
      out(
        `Signer public keys: ${outFile}.signers.json — check their fingerprints through another channel before restoring.`,
      );
    }
    return 0;
  },
  'keys rotate': async (run) => {
    const body = await (await run.authenticated()).keys.rotate(run.args[0]!);
    const key = (body['key'] ?? {}) as JsonObject;
    if (run.json) printJson(key);
    else out(`rotated ${run.args[0]!}: active version ${String(key['activeVersion'])}`);
    return 0;
  },
  'keys config': async (run) => {
    const minDecryptionVersion = count(run.values, 'min-decryption-version', 1, 0xffff_ffff);
    const period = text(run.values, 'rotation-period');
    if (minDecryptionVersion === undefined && period === undefined) {
      throw usage(
        'usage: fortress keys config NAME [--min-decryption-version N] [--rotation-period 30d|none]',
      );
    }
    // The syntax is checked here for a clear message; the range (1h to 10 years) by the server.
    if (period !== undefined && period !== 'none' && !/^[0-9]{1,6}[mhdw]$/.test(period)) {
      throw usage(
        `--rotation-period expects a period such as 23h, 30d or 12w, or none; not ${JSON.stringify(period)}`,
      );
    }
    const client = await run.authenticated();
    const body = await client.keys.config(run.args[0]!, {
      ...(minDecryptionVersion === undefined ? {} : { minDecryptionVersion }),
      ...(period === undefined ? {} : { rotationPeriod: period === 'none' ? null : period }),
    });
    const key = (body['key'] ?? {}) as JsonObject;
    if (run.json) printJson(key);
    else
      out(
        `${run.args[0]!}: versions below ${String(key['minDecryptionVersion'])} refuse to decrypt; rotation ${
          typeof key['rotationPeriod'] === 'string' ? `every ${key['rotationPeriod']}` : 'by hand only'
        }`,
      );
    return 0;
  },
  'policy list': async (run) => {
    const body = await (await run.authenticated()).policies.list();
    const policies = (body['policies'] ?? []) as JsonObject[];
    if (run.json) printJson(policies);
    else printTable(policies, ['id', 'effect', 'text']);
    return 0;
  },
  'policy add': addPolicies,
  'policy remove': async (run) => {
    await (await run.authenticated()).policies.remove(run.args[0]!);
    if (run.json) printJson({ removed: run.args[0] });
    else out(`removed policy ${run.args[0]!}`);
    return 0;
  },
  'audit tail': async (run) => {
    const n = count(run.values, 'n', 1, 9999);
    const body = await (await run.authenticated()).audit.tail(n ?? 20);
    const entries = (body['entries'] ?? []) as JsonObject[];
    if (run.json) printJson(body);
    else
      printTable(entries.map(entryRow), [
        'seq',
        'time',
        'principal',
        'action',
        'resource',
        'decision',
        'outcome',
      ]);
    return 0;
  },
  'audit verify': async (run) => {
    const report = await (await run.authenticated()).audit.verify();
    if (run.json) printJson(report);
    else if (report['ok'] === true) {
      out(
        `verify: OK — ${String(report['entriesChecked'])} entries re-hashed, ${String(report['checkpointsChecked'])} checkpoints checked, size ${String(report['size'])}`,
      );
    } else {
      const problem = (report['problem'] ?? {}) as JsonObject;
      out(
        `verify: FAILED — ${cell(problem['message'] ?? 'unknown problem')}${problem['seq'] === undefined ? '' : ` (entry ${cell(problem['seq'])})`}`,
      );
    }
    return report['ok'] === true ? 0 : 1;
  },
};

function printStatus(address: string, status: SysStatus): void {
  printRecord({
    server: address,
    initialized: status.initialized ? 'yes' : 'no',
    sealed: status.sealed ? 'yes' : 'no',
    seal: status.seal ?? '-',
    ...(status.sealed && status.initialized ? { progress: `${status.progress} of ${status.threshold}` } : {}),
    version: status.version,
  });
}

function printColumns(list: readonly unknown[]): void {
  printTable(
    (list as JsonObject[]).map((c) => ({
      column: c['name'],
      type: c['type'],
      primaryKey: c['primaryKey'] === true ? 'yes' : '',
      encrypted:
        c['encrypt'] === undefined || c['encrypt'] === false || c['encrypt'] === null ? '' : c['encrypt'],
      required: c['required'] === true ? 'yes' : '',
    })),
    ['column', 'type', 'primaryKey', 'encrypted', 'required'],
  );
}

function entryRow(entry: JsonObject): Record<string, unknown> {
  const p = (entry['principal'] ?? {}) as JsonObject;
  const r = (entry['resource'] ?? {}) as JsonObject;
  const d = (entry['decision'] ?? {}) as JsonObject;
  const o = (entry['outcome'] ?? {}) as JsonObject;
  const resource = [r['tenant'], r['database'], r['table'], r['column']].filter((x) => typeof x === 'string');
  return {
    seq: entry['seq'],
    time: entry['time'],
    principal: `${String(p['type'])}:${String(p['id'])}@${String(p['tenant'])}`,
    action: entry['action'],
    resource:
      typeof r['key'] === 'string' ? `key:${r['key']}` : `${String(r['type'])} ${resource.join('/')}`.trim(),
    decision: d['effect'],
    outcome: o['code'] === undefined ? o['status'] : `${cell(o['status'])} ${cell(o['code'])}`,
  };
}

async function initServer(run: Run): Promise<number> {
  const shares = count(run.values, 'shares', 1, 255);
  const threshold = count(run.values, 'threshold', 1, 255);
  if ((shares === undefined) !== (threshold === undefined)) {
    throw usage('--shares and --threshold go together (default 5 shares, threshold 3)');
  }
  if (shares !== undefined && threshold !== undefined && threshold > shares) {
    throw usage('--threshold cannot be more than --shares');
  }
  const client = await run.anonymous();
  const result = await client.sys.init({
    ...(shares === undefined ? {} : { shares }),
    ...(threshold === undefined ? {} : { threshold }),
  });
  process.stderr.write(
    '\n!!! These unseal shares and the root token are shown ONCE. Store each share apart, with a\n' +
      '!!! different person; store the root token apart from the shares. Anyone holding the\n' +
      '!!! threshold of shares can unseal; anyone holding the root token is administrator.\n\n',
  );
  if (run.json) {
    printJson(result);
    return 0;
  }
  out(
    `Initialised ${run.target.address} (seal: ${result.seal}${result.threshold === null ? '' : `, ${result.threshold} of ${result.shares.length} shares unseal`})`,
  );
  out();
  for (const [i, share] of result.shares.entries()) out(`Unseal share ${i + 1}: ${share}`);
  out();
  out(`Root token: ${result.rootToken}`);
  out(`Root token accessor: ${result.rootTokenAccessor}`);
  out();
  out('The server is unsealed now. After a restart: `fortress unseal` with the threshold of shares.');
  return 0;
}

/** `rekey …` and `rotate-root …`: start, submit the current shares, status, cancel. */
function ceremonyHandlers(kind: CeremonyKind): Record<string, (run: Run) => Promise<number>> {
  const show = (run: Run, status: CeremonyStatus): void => {
    if (run.json) printJson(status);
    else if (!status.started) out(`no ${kind} in progress`);
    else {
      const next =
        status.next === null ? '' : `; new seal: ${status.next.threshold} of ${status.next.shares}`;
      out(`${kind} in progress: ${status.progress} of ${status.required} current shares${next}`);
      out(`nonce: ${status.nonce!}`);
    }
  };
  return {
    [`${kind} start`]: async (run) => {
      const client = await run.authenticated();
      const seal = (await client.sys.status()).seal;
      let passphrase: string | undefined;
      // Rotate-root keeps the current passphrase; rekeying a passphrase seal is choosing a new one.
      if (seal === 'passphrase' && kind === 'rekey') {
        passphrase = await readSecret('New passphrase: ', { exact: true });
        if (passphrase === '') throw usage('an empty passphrase');
      }
      const shares = count(run.values, 'shares', 1, 255);
      const threshold = count(run.values, 'threshold', 1, 255);
      const status = await client.sys.beginCeremony(kind, {
        ...(shares === undefined ? {} : { shares }),
        ...(threshold === undefined ? {} : { threshold }),
        ...(passphrase === undefined ? {} : { passphrase }),
      });
      show(run, status);
      if (!run.json) {
        out(
          `Each holder of a current unseal share now runs: fortress ${kind} submit --nonce ${status.nonce!} --server ${run.target.address}`,
        );
      }
      return 0;
    },
    [`${kind} submit`]: async (run) => {
      const nonce = text(run.values, 'nonce');
      if (nonce === undefined) throw usage(`usage: fortress ${kind} submit --nonce NONCE`);
      const client = await run.anonymous();
      let result: CeremonyResult | undefined;
      let status = await client.sys.ceremonyStatus(kind).catch(() => undefined);
      for (;;) {
        let share: string;
        const progress = status === undefined ? '' : ` (${status.progress + 1} of ${status.required})`;
        try {
          share = await readSecret(`Current unseal share${progress}: `);
        } catch (error) {
          // Piped input may hold fewer shares than needed (one holder at a time): that is progress.
          if (result !== undefined && error instanceof FortressError && error.code === 'FX_CLI_USAGE') break;
          throw error;
        }
        result = await client.sys.ceremonyUpdate(kind, nonce, share);
        status = result;
        if (result.complete) break;
        if (!run.json) out(`${kind} progress: ${result.progress} of ${result.required}`);
      }
      if (run.json) {
        printJson(result);
        return 0;
      }
      if (!result.complete) {
        out(`${result.required - result.progress} more current share(s) needed`);
        return 0;
      }
      if (result.shares.length > 0) {
        process.stderr.write(
          '\n!!! The new unseal shares are shown ONCE; the old shares no longer unseal. Store each\n' +
            '!!! share apart, with a different person.\n\n',
        );
        for (const [i, share] of result.shares.entries()) out(`New unseal share ${i + 1}: ${share}`);
      }
      out(
        kind === 'rekey'
          ? 'Rekeyed: the root key is re-protected under the new seal.'
          : `Root key rotated to version ${result.rootVersion ?? '?'}: every key-encryption key is rewrapped.`,
      );
      return 0;
    },
    [`${kind} status`]: async (run) => {
      show(run, await (await run.authenticated()).sys.ceremonyStatus(kind));
      return 0;
    },
    [`${kind} cancel`]: async (run) => {
      const status = await (await run.authenticated()).sys.cancelCeremony(kind);
      if (run.json) printJson(status);
      else out(`${kind} cancelled; the shares it received are forgotten`);
      return 0;
    },
  };
}

async function unsealServer(run: Run): Promise<number> {
  const client = await run.anonymous();
  let status = await client.sys.status();
  if (!status.initialized) {
    throw new FortressError(
      'FX_NOT_INITIALIZED',
      `not initialised: run \`fortress init --server ${run.target.address}\``,
    );
  }
  let submitted = 0;
  while (status.sealed) {
    let share: string;
    try {
      share = await readSecret(`Unseal share (${status.progress + 1} of ${status.threshold}): `);
    } catch (error) {
      // Piped input may hold fewer shares than needed (one holder at a time): that is progress.
      if (
        submitted > 0 &&
        error instanceof FortressError &&
        error.code === 'FX_CLI_USAGE' &&
        !process.stdin.isTTY
      )
        break;
      if (
        error instanceof FortressError &&
        error.code === 'FX_CLI_USAGE' &&
        submitted === 0 &&
        !process.stdin.isTTY
      ) {
        throw usage('no unseal share on stdin (one share per line; never as an argument)');
      }
      throw error;
    }
    status = await client.sys.unseal(share);
    submitted++;
    if (status.sealed && !run.json) out(`Unseal progress: ${status.progress} of ${status.threshold}`);
  }
  if (run.json) printJson(status);
  else if (!status.sealed) out(submitted === 0 ? 'already unsealed' : 'Unsealed.');
  else out(`still sealed: ${status.threshold - status.progress} more share(s) needed`);
  return 0;
}

async function login(run: Run): Promise<number> {
  const user = run.args[0]!;
  const tenant = text(run.values, 'tenant');
  const password = await readSecret('Password: ', { exact: true });
  if (password === '') throw usage('an empty password');
  const client = await run.anonymous();
  const grant = await client.auth.login(user, password, tenant);
  const file = await saveToken(process.env, grant.token);
  if (run.json) printJson({ info: grant.info, tokenFile: file });
  else {
    const p = grant.info.principal;
    out(
      `logged in as ${p.tenant}/${p.name}; token saved to ${file} (accessor ${grant.info.accessor}, expires ${grant.info.expiresAt})`,
    );
  }
  return 0;
}

/** A new password from stdin; typed twice on a terminal. */
async function readNewPassword(): Promise<string> {
  const password = await readSecret('New password: ', { exact: true });
  if (password === '') throw usage('an empty password');
  if (process.stdin.isTTY) {
    const again = await readSecret('Again: ', { exact: true });
    if (again !== password) throw usage('the passwords differ');
  }
  return password;
}

/** Non-empty lines of a file, with their line numbers, read as a stream. */
async function* lines(file: string): AsyncGenerator<{ line: string; n: number }> {
  const input = createReadStream(file, { encoding: 'utf8' });
  const reader = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of reader) {
      n++;
      if (line.trim() !== '') yield { line, n };
    }
  } catch (cause) {
    throw new FortressError('FX_CLI_USAGE', `${file}: cannot be read`, { cause });
  } finally {
    reader.close();
    input.destroy();
  }
}

async function* ndjsonRows(file: string): AsyncGenerator<Record<string, unknown>> {
  for await (const { line, n } of lines(file)) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw usage(`${file} line ${n}: not JSON`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw usage(`${file} line ${n}: expected a JSON object`);
    }
    yield value as Record<string, unknown>;
  }
}

/** Splits one CSV record (RFC 4180: quoted fields, "" for a quote) into its fields. */
function csvFields(record: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < record.length; i++) {
    const c = record[i]!;
    if (quoted) {
      if (c === '"' && record[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/**
 * A CSV field as the value of a column of `type`. The SDK quotes every text value it sends, and
 * the server reads a quoted field as text: numbers and booleans must go out as such.
 */
function csvValue(field: string, type: string | undefined): unknown {
  if (field === '') return null;
  switch (type) {
    case 'integer':
    case 'real': {
      const n = Number(field);
      return field.trim() !== '' && Number.isFinite(n) ? n : field;
    }
    case 'boolean':
      return field === 'true' ? true : field === 'false' ? false : field;
    case 'json':
      try {
        return JSON.parse(field) as unknown;
      } catch {
        return field;
      }
    default:
      return field;
  }
}

/** CSV records as rows of a table whose column types are `types` (a quoted field may span lines). */
async function* csvRows(
  file: string,
  types: ReadonlyMap<string, string>,
): AsyncGenerator<Record<string, unknown>> {
  let header: string[] | null = null;
  let pending = '';
  let start = 0;
  for await (const { line, n } of lines(file)) {
    if (pending === '') start = n;
    pending = pending === '' ? line : `${pending}\n${line}`;
    // An odd number of quotes so far: the record goes on on the next line.
    if ((pending.match(/"/g)?.length ?? 0) % 2 === 1) continue;
    const fields = csvFields(pending);
    pending = '';
    if (header === null) {
      header = fields;
      continue;
    }
    if (fields.length !== header.length) {
      throw usage(`${file} line ${start}: ${fields.length} fields, the header has ${header.length}`);
    }
    const names = header;
    yield Object.fromEntries(names.map((h, i) => [h, csvValue(fields[i]!, types.get(h))]));
  }
  if (pending !== '') throw usage(`${file}: an unterminated quoted field`);
}

async function insertRows(run: Run): Promise<number> {
  const table = run.args[0]!;
  const row = jsonObject(run.values, 'row');
  const file = text(run.values, 'file');
  if ((row === undefined) === (file === undefined)) {
    throw usage('usage: fortress insert TABLE (--row JSON | --file FILE.ndjson)');
  }
  const client = await run.authenticated();
  if (row !== undefined) {
    const stored = await client.db.insert(table, row);
    if (run.json) printJson(stored);
    else printRecord(stored);
    return 0;
  }
  let inserted = 0;
  let batch: Record<string, unknown>[] = [];
  const progress = new ProgressLine();
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    try {
      inserted += (await client.db.insertMany(table, batch)).length;
    } catch (error) {
      // Each batch is atomic, the file is not: say what is already stored.
      progress.done(inserted);
      process.stderr.write(`${inserted} rows were inserted before the failing batch\n`);
      throw error;
    }
    batch = [];
    progress.update(inserted);
  };
  for await (const r of ndjsonRows(file!)) {
    batch.push(r);
    if (batch.length >= INSERT_BATCH) await flush();
  }
  await flush();
  progress.done(inserted);
  if (run.json) printJson({ inserted });
  else out(`inserted ${inserted} row${inserted === 1 ? '' : 's'} into ${table}`);
  return 0;
}

async function importRows(run: Run): Promise<number> {
  const [table, file] = run.args as [string, string];
  const format = formatOf(run.values, file);
  const client = await run.authenticated();
  let source: AsyncIterable<Record<string, unknown>>;
  if (format === 'csv') {
    const schema = await client.db.describeTable(table);
    source = csvRows(file, new Map(schema.columns.map((c) => [c.name, c.type])));
  } else source = ndjsonRows(file);
  const progress = new ProgressLine();
  const { inserted } = await client.db.importRows(table, source, {
    format,
    onProgress: ({ rows }) => {
      progress.update(rows);
    },
  });
  progress.done(inserted);
  if (run.json) printJson({ inserted });
  else out(`imported ${inserted} row${inserted === 1 ? '' : 's'} into ${table}`);
  return 0;
}

/** Writes text, waiting when the stream's buffer is full (an export may be larger than memory). */
async function write(stream: NodeJS.WritableStream, chunk: string | Uint8Array): Promise<void> {
  if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

async function exportRows(run: Run): Promise<number> {
  const table = run.args[0]!;
  const file = text(run.values, 'out');
  const format = formatOf(run.values, file);
  const client = await run.authenticated();
  const progress = new ProgressLine();
  let fileStream: WriteStream | undefined;
  if (file !== undefined) {
    fileStream = createWriteStream(file, { mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      fileStream!.once('open', () => {
        resolve();
      });
      fileStream!.once('error', (cause) => {
        reject(new FortressError('FX_CLI_USAGE', `--out ${file}: cannot be written`, { cause }));
      });
    });
  }
  const sink: NodeJS.WritableStream = fileStream ?? process.stdout;
  let rows = 0;
  try {
    if (format === 'csv') {
      let header = true;
      for await (const record of client.db.exportRows(table, { format: 'csv' })) {
        await write(sink, `${record}\n`);
        if (header) header = false;
        else progress.update(++rows);
      }
    } else {
      for await (const row of client.db.exportRows(table)) {
        await write(sink, `${JSON.stringify(row)}\n`);
        progress.update(++rows);
      }
    }
  } finally {
    if (fileStream !== undefined) await new Promise<void>((resolve) => fileStream.end(resolve));
  }
  progress.done(rows);
  if (file !== undefined) {
    if (run.json) printJson({ exported: rows, file });
    else out(`exported ${rows} row${rows === 1 ? '' : 's'} of ${table} to ${file}`);
  }
  return 0;
}

async function addPolicies(run: Run): Promise<number> {
  const file = run.args[0]!;
  const source = await readFileText(file, 'policy file');
  const id = text(run.values, 'id');
  let policies: Record<string, string>;
  if (path.extname(file).toLowerCase() === '.json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(source);
    } catch {
      throw usage(`policy file ${file}: not JSON`);
    }
    if (
      parsed === null ||
      typeof parsed !== 'object' ||
      Array.isArray(parsed) ||
      Object.values(parsed).some((v) => typeof v !== 'string')
    ) {
      throw usage(`policy file ${file}: expected { "id": "policy text", … }`);
    }
    policies = parsed as Record<string, string>;
  } else {
    // Loaded on demand: the Cedar parser is large and only this command needs it.
    const { parsePolicyFile } = await import('../../policy/tools/policy-file.js');
    policies = parsePolicyFile(source, id === undefined ? {} : { id });
  }
  const ids = Object.keys(policies);
  if (ids.length === 0) throw usage(`policy file ${file}: no policy in it`);
  await (await run.authenticated()).policies.addMany(policies);
  if (run.json) printJson({ added: ids });
  else out(`added ${ids.length} polic${ids.length === 1 ? 'y' : 'ies'}: ${ids.join(', ')}`);
  return 0;
}
