/**
 * @module cli/remote
 * What every remote command shares: where the server is (`--server URL` or FORTRESS_ADDR), which
 * certificate authority to trust (`--ca-cert FILE` or FORTRESS_CACERT, else the system's), the
 * token (FORTRESS_TOKEN, else `~/.fortress/token` written by `fortress login`), and the translation
 * of SDK failures into messages that name the next step.
 *
 * The token is never a flag: a flag lands in shell history and in `ps` output.
 */
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import type { FortressClient } from '../client/fortress-client.js';
import { isFortressClientError } from '../client/client-errors.js';
import { FortressError } from '../util/errors.js';

/** Where a remote command talks to and how. */
export interface RemoteTarget {
  /** The server's base URL as given. */
  readonly address: string;
  /** PEM text of the CA to trust, or undefined for the system CAs. */
  readonly ca: string | undefined;
}

/** Commands that exist only against a server (without an address they say how to give one). */
export const REMOTE_ONLY_COMMANDS: ReadonlySet<string> = new Set([
  'login',
  'rekey',
  'rotate-root',
  'job',
  'token',
  'user',
  'table',
  'insert',
  'get',
  'find',
  'count',
  'update',
  'delete',
  'import',
  'export',
  'kv',
  'transit',
  'database',
]);

/** Commands that run against a server in remote mode: the remote-only ones and those that also run embedded. */
export const REMOTE_COMMANDS: ReadonlySet<string> = new Set([
  'access',
  'init',
  'unseal',
  'status',
  'seal',
  'keys',
  'policy',
  'audit',
  ...REMOTE_ONLY_COMMANDS,
]);

/** Whether the command line asks for remote mode: `--server` given, or FORTRESS_ADDR set without `--data`. */
export function wantsRemote(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (argv.some((a) => a === '--server' || a.startsWith('--server='))) return true;
  const dataGiven = argv.some((a) => a === '--data' || a.startsWith('--data='));
  return !dataGiven && env['FORTRESS_ADDR'] !== undefined && env['FORTRESS_ADDR'] !== '';
}

/** The directory holding the saved token: FORTRESS_HOME, else `~/.fortress`. */
export function fortressHome(env: NodeJS.ProcessEnv): string {
  const home = env['FORTRESS_HOME'];
  return home !== undefined && home !== '' ? home : path.join(homedir(), '.fortress');
}

/** Resolves the server address and CA from flags, then the environment. */
export async function resolveTarget(
  flags: { readonly server?: string | undefined; readonly 'ca-cert'?: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<RemoteTarget> {
  const address = flags.server ?? env['FORTRESS_ADDR'];
  if (address === undefined || address === '') {
    throw new FortressError('FX_CLI_USAGE', 'no server: pass --server URL or set FORTRESS_ADDR');
  }
  const caFile = flags['ca-cert'] ?? (env['FORTRESS_CACERT'] === '' ? undefined : env['FORTRESS_CACERT']);
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = await readFile(caFile, 'utf8');
    } catch (cause) {
      throw new FortressError('FX_CLI_USAGE', `--ca-cert ${caFile}: cannot be read`, { cause });
    }
  }
  return { address, ca };
}

/** The token to send: FORTRESS_TOKEN, else the saved one, else undefined. */
export async function loadToken(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const fromEnv = env['FORTRESS_TOKEN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv.trim();
  try {
    const saved = (await readFile(path.join(fortressHome(env), 'token'), 'utf8')).trim();
    return saved === '' ? undefined : saved;
  } catch {
    return undefined;
  }
}

/** Saves a token for later commands: 0600 in a 0700 directory (modes set even if they existed). */
export async function saveToken(env: NodeJS.ProcessEnv, token: string): Promise<string> {
  const dir = fortressHome(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const file = path.join(dir, 'token');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

/** Forgets the saved token (after it was revoked). */
export async function forgetToken(env: NodeJS.ProcessEnv): Promise<void> {
  await rm(path.join(fortressHome(env), 'token'), { force: true });
}

/**
 * A client of the target. With a CA, requests go through undici's own fetch and an Agent that
 * trusts it (the package's fetch, so the Agent and the fetch are of one undici version).
 */
export async function createRemoteClient(target: RemoteTarget, token?: string): Promise<FortressClient> {
  let fetchFn: typeof fetch | undefined;
  if (target.ca !== undefined) {
    const undici = await import('undici');
    const dispatcher = new undici.Agent({ connect: { ca: target.ca } });
    // One undici for the Agent and the fetch (the global fetch is Node's bundled copy). The SDK
    // passes URLs as text; undici's Request and Response types are its own, hence the casts.
    const undiciFetch = undici.fetch as unknown as (input: string, init: object) => Promise<Response>;
    fetchFn = (input, init) =>
      undiciFetch(input instanceof URL ? input.href : (input as string), { ...init, dispatcher });
  }
  // Loaded on demand: embedded commands never load the SDK.
  const { FortressClient } = await import('../client/fortress-client.js');
  try {
    return new FortressClient({
      address: target.address,
      ...(token === undefined ? {} : { token }),
      ...(fetchFn === undefined ? {} : { fetch: fetchFn }),
      userAgent: 'fortress-cli',
    });
  } catch (error) {
    if (error instanceof TypeError) {
      throw new FortressError('FX_CLI_USAGE', `--server ${target.address}: ${error.message}`);
    }
    throw error;
  }
}

/** An SDK failure as the CLI reports it: a message naming the next step, and a code. */
export interface RemoteFailure {
  readonly message: string;
  readonly code: string;
}

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The deepest `code` among an error's causes (undici wraps the socket error). */
function causeCode(error: unknown): string | undefined {
  let code: string | undefined;
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    const c = (current as { code?: unknown }).code;
    if (typeof c === 'string') code = c;
    current = current.cause;
  }
  return code;
}

/** Turns a failure of a remote call into what to tell the operator; undefined if it is not one. */
export function explainRemoteFailure(error: unknown, address: string): RemoteFailure | undefined {
  if (!isFortressClientError(error)) return undefined;
  const request = error.requestId === null ? '' : ` (request ${error.requestId})`;
  switch (error.code) {
    case 'FX_SEALED':
      return { code: error.code, message: `sealed: run \`fortress unseal --server ${address}\`` };
    case 'FX_NOT_INITIALIZED':
      return { code: error.code, message: `not initialised: run \`fortress init --server ${address}\`` };
    case 'FX_UNAUTHENTICATED':
    case 'FX_TOKEN_EXPIRED':
      return {
        code: error.code,
        message: `${error.message}: run \`fortress login USER --server ${address}\` (or set FORTRESS_TOKEN)`,
      };
    case 'FX_NETWORK':
    case 'FX_TIMEOUT': {
      const cause = causeCode(error.cause);
      if (cause !== undefined && TLS_CODES.has(cause)) {
        return {
          code: error.code,
          message: `cannot reach ${address}: its TLS certificate is not trusted (${cause}); pass --ca-cert FILE or set FORTRESS_CACERT`,
        };
      }
      return {
        code: error.code,
        message: `cannot reach ${address}: is \`fortress server\` running?${cause === undefined ? '' : ` (${cause})`}`,
      };
    }
    default:
      return { code: error.code, message: `${error.message}${request}` };
  }
}
