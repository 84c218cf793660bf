/**
 * @module server/routes/transit-routes
 * `/v1/transit`: the transit secrets engine (encryption as a service), laid out as HashiCorp
 * Vault's transit engine is — `keys/` (create, read, list, `config`, `rotate`, `trim`, delete),
 * `encrypt/`, `decrypt/`, `rewrap/`, `datakey/plaintext|wrapped/`, `hmac/`, `sign/`, `verify/`,
 * `random` and `export/` — so a Vault user finds each operation where they expect it. Field names
 * are Fortress's (camelCase); bytes travel as standard base64, as in Vault.
 *
 * The data operations take one item (`{ plaintext, … }`) or a batch (`{ batch: [{ plaintext, … }, …] }`,
 * at most MAX_BATCH_ITEMS). One item's failure is the HTTP error; a batch answers 200 with one
 * result per item, in input order, each a value or `{ error: { code, message } }` (Vault's
 * batch_results). A malformed request — bad JSON, an unknown field, base64 that does not decode,
 * a batch beside a single item's fields — is refused whole, before anything is decided or done.
 * Everything else is decided on the key by the caller's policies and recorded in the audit ledger,
 * without plaintexts, ciphertexts or key bytes (secrets-transit.ts).
 */
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MAX_PLAINTEXT_BYTES } from '../../crypto/envelope/envelope-format.js';
import type { PolicySession } from '../../policy-session.js';
import type { SecretsTransit } from '../../secrets/transit/secrets-transit.js';
import {
  MAX_BATCH_ITEMS,
  MAX_RANDOM_BYTES,
  TRANSIT_KEY_TYPES,
  type DataKeyOptions,
  type DecryptItem,
  type EncryptItem,
  type HmacItem,
  type ItemResult,
  type Opened,
  type RewrapItem,
  type Sealed,
  type SignItem,
  type VerifyHmacItem,
  type VerifyItem,
} from '../../secrets/transit/transit-engine.js';
import { Base64Arena, decodeBase64, encodeBase64 } from '../../secrets/transit/transit-format.js';
import { FortressError } from '../../util/errors.js';
import type { ServerContext } from '../server-context.js';
import { ErrorResponse, Name } from '../http/schemas.js';
import { emptyBodyAsObject } from '../http/validator.js';
import { ndjsonValues } from '../http/ndjson.js';

// ── request schemas ─────────────────────────────────────────────────────────────────────────────
// Bounds here are ceilings that keep a request's shape sane; the engine enforces each field's
// exact limit (4 KiB of context, 16 MiB of input, …) with its own message.

const STRICT = { additionalProperties: false } as const;
/** Base64 characters of the largest plaintext an envelope takes. */
const BYTES_CHARS = 4 * Math.ceil(MAX_PLAINTEXT_BYTES / 3);
const BYTES_MAX = (BYTES_CHARS / 4) * 3;
/** Base64 characters of a context or associated data (the engine allows 4096 bytes). */
const SMALL_CHARS = 8192;
const SMALL_MAX = (SMALL_CHARS / 4) * 3;
const MAX_VERSION = 0xffff_ffff;

const Bytes = Type.String({ maxLength: BYTES_CHARS, description: 'standard base64 (with padding)' });
const SmallBytes = Type.String({
  maxLength: SMALL_CHARS,
  description: 'standard base64 (with padding), at most 4096 bytes',
});
const Ciphertext = Type.String({
  minLength: 1,
  maxLength: BYTES_CHARS + 1024,
  description: '"fx:v<version>:<base64>", as encrypt returned it',
});
const Tag = (what: string) =>
  Type.String({
    minLength: 1,
    maxLength: 16_384,
    description: `"fx:v<version>:<base64>", as ${what} returned it`,
  });
const KeyVersion = Type.Integer({
  minimum: 0,
  maximum: MAX_VERSION,
  description: 'The key version to use; 0 or absent: the latest',
});
const Version = Type.Integer({ minimum: 1, maximum: MAX_VERSION });
const Algorithm = Type.Enum(['sha2-256', 'sha2-512'], { description: 'HMAC hash; default sha2-256' });
const KeyParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) });
/** `'12h'`, `'30d'`, `'2w'` (1 hour to 10 years), or null / `"0"` for never; the engine checks the form. */
const Period = Type.Union([Type.String({ maxLength: 16 }), Type.Null()], {
  description: 'Rotate this often, e.g. "12h", "30d" or "2w" (1 hour to 10 years); null: never',
});

function batchOf<T extends Parameters<typeof Type.Array>[0]>(item: T) {
  return Type.Optional(
    Type.Array(item, {
      minItems: 1,
      maxItems: MAX_BATCH_ITEMS,
      description: `Up to ${MAX_BATCH_ITEMS} items instead of one; answered by results, in order`,
    }),
  );
}

const EncryptOptions = {
  context: Type.Optional(SmallBytes),
  associatedData: Type.Optional(SmallBytes),
  keyVersion: Type.Optional(KeyVersion),
};
const EncryptBody = Type.Object(
  {
    plaintext: Type.Optional(Bytes),
    ...EncryptOptions,
    batch: batchOf(Type.Object({ plaintext: Bytes, ...EncryptOptions }, STRICT)),
  },
  STRICT,
);

const OpenOptions = { context: Type.Optional(SmallBytes), associatedData: Type.Optional(SmallBytes) };
const DecryptBody = Type.Object(
  {
    ciphertext: Type.Optional(Ciphertext),
    ...OpenOptions,
    batch: batchOf(Type.Object({ ciphertext: Ciphertext, ...OpenOptions }, STRICT)),
  },
  STRICT,
);
const RewrapOptions = { ...OpenOptions, keyVersion: Type.Optional(KeyVersion) };
const RewrapBody = Type.Object(
  {
    ciphertext: Type.Optional(Ciphertext),
    ...RewrapOptions,
    batch: batchOf(Type.Object({ ciphertext: Ciphertext, ...RewrapOptions }, STRICT)),
  },
  STRICT,
);

const InputOptions = { keyVersion: Type.Optional(KeyVersion) };
const HmacBody = Type.Object(
  {
    input: Type.Optional(Bytes),
    ...InputOptions,
    algorithm: Type.Optional(Algorithm),
    batch: batchOf(Type.Object({ input: Bytes, ...InputOptions }, STRICT)),
  },
  STRICT,
);
const SignBody = Type.Object(
  {
    input: Type.Optional(Bytes),
    ...InputOptions,
    batch: batchOf(Type.Object({ input: Bytes, ...InputOptions }, STRICT)),
  },
  STRICT,
);
const Checked = { hmac: Type.Optional(Tag('hmac')), signature: Type.Optional(Tag('sign')) };
const VerifyBody = Type.Object(
  {
    input: Type.Optional(Bytes),
    ...Checked,
    algorithm: Type.Optional(Algorithm),
    batch: batchOf(Type.Object({ input: Bytes, ...Checked }, STRICT)),
  },
  STRICT,
);

const DataKeyBody = Type.Object(
  {
    bits: Type.Optional(Type.Enum([128, 256, 512], { description: '128, 256 or 512; default 256' })),
    ...EncryptOptions,
  },
  STRICT,
);

// ── answer schemas ──────────────────────────────────────────────────────────────────────────────
// An answer is one object whose members are all optional (a single item's fields, or `results`),
// not a union: fast-json-stringify picks a union's branch by validating each, on every response.

const ItemError = Type.Object({ code: Type.String(), message: Type.String() });

const SealedFields = {
  ciphertext: Type.Optional(Type.String({ description: '"fx:v<version>:<base64>"' })),
  keyVersion: Type.Optional(Type.Integer()),
};
const OpenedFields = { plaintext: Type.Optional(Type.String({ description: 'base64' })) };
const HmacFields = { hmac: Type.Optional(Type.String({ description: '"fx:v<version>:<base64>"' })) };
const SignedFields = {
  signature: Type.Optional(Type.String({ description: '"fx:v<version>:<base64>"' })),
  publicKey: Type.Optional(Type.String({ description: "The signing version's public key, base64" })),
};
const ValidFields = { valid: Type.Optional(Type.Boolean()) };

const resultsOf = <P extends Parameters<typeof Type.Object>[0]>(fields: P) =>
  Type.Optional(
    Type.Array(Type.Object({ ...fields, error: Type.Optional(ItemError) }), {
      description: 'A batch: one result per item, in order; a failed item has only error',
    }),
  );
const SealedAnswer = Type.Object({ ...SealedFields, results: resultsOf(SealedFields) });
const OpenedAnswer = Type.Object({ ...OpenedFields, results: resultsOf(OpenedFields) });
const HmacAnswer = Type.Object({ ...HmacFields, results: resultsOf(HmacFields) });
const SignedAnswer = Type.Object({ ...SignedFields, results: resultsOf(SignedFields) });
const ValidAnswer = Type.Object({ ...ValidFields, results: resultsOf(ValidFields) });

const KeyVersionInfo = Type.Object({
  version: Type.Integer(),
  createdTime: Type.String({ description: 'ISO 8601' }),
  state: Type.String({ description: 'active, decrypt-only, retired or destroyed' }),
  publicKey: Type.Optional(Type.String({ description: 'Signature keys: the public key, base64' })),
});
const KeyInfo = Type.Object({
  name: Type.String(),
  type: Type.String(),
  latestVersion: Type.Integer(),
  minDecryptionVersion: Type.Integer(),
  minEncryptionVersion: Type.Integer({ description: '0: the latest' }),
  minAvailableVersion: Type.Integer({ description: 'Versions below it were trimmed (destroyed)' }),
  exportable: Type.Boolean(),
  derived: Type.Boolean(),
  convergent: Type.Boolean(),
  deletionAllowed: Type.Boolean(),
  autoRotatePeriod: Type.Union([Type.String(), Type.Null()]),
  supportsEncryption: Type.Boolean(),
  supportsSigning: Type.Boolean(),
  supportsDerivation: Type.Boolean(),
  createdTime: Type.String({ description: 'ISO 8601' }),
  updatedTime: Type.String({
    description: "ISO 8601: the last change of settings or the newest version's creation",
  }),
  versions: Type.Array(KeyVersionInfo),
});
const KeyAnswer = { 200: KeyInfo, '4xx': ErrorResponse };

// ── helpers ─────────────────────────────────────────────────────────────────────────────────────

/** Each session's facade, made once (sessions are cached per token; the facade holds nothing else). */
const FACADES = new WeakMap<PolicySession, SecretsTransit>();

function facadeOf(session: PolicySession): SecretsTransit {
  let facade = FACADES.get(session);
  if (facade === undefined) {
    facade = session.transit;
    FACADES.set(session, facade);
  }
  return facade;
}

const ENGINE_ITEM = /^items\[(\d+)\]\./;

/**
 * The engine names an item `items[i]`; over HTTP it is `batch[i]`, or — a single call — the body
 * itself, so `items[0].context: …` reads `context: …`.
 */
function relabel(message: string, batch: boolean): string {
  return message.replace(ENGINE_ITEM, batch ? 'batch[$1].' : '');
}

/** A single call's failure, its message relabelled (anything else passes unchanged). */
function singleFailure(error: unknown): unknown {
  if (!(error instanceof FortressError) || !ENGINE_ITEM.test(error.message)) return error;
  return new FortressError(error.code, relabel(error.message, false), { cause: error });
}

/** A batch's results with their errors relabelled, in place. */
function relabelled<T extends object>(results: ItemResult<T>[]): ItemResult<T>[] {
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if ('error' in r && ENGINE_ITEM.test(r.error.message)) {
      results[i] = { error: { code: r.error.code, message: relabel(r.error.message, true) } };
    }
  }
  return results;
}

/** One item of a single call: its error is the call's. */
function only<T extends object>(results: ItemResult<T>[]): T {
  const r = results[0]!;
  if ('error' in r) throw new FortressError(r.error.code, relabel(r.error.message, false));
  return r;
}

/** Decodes a batch's items; a malformed one refuses the request, naming it (`batch[3].plaintext`). */
function decodeBatch<I, O>(batch: readonly I[], decode: (item: I) => O): O[] {
  const out = new Array<O>(batch.length);
  for (let i = 0; i < batch.length; i++) {
    try {
      out[i] = decode(batch[i]!);
    } catch (error) {
      if (error instanceof FortressError) throw new FortressError(error.code, `batch[${i}].${error.message}`);
      throw error;
    }
  }
  return out;
}

/** Base64 characters of a batch's plaintexts: the size of its arena. */
function plaintextChars(batch: readonly EncryptFields[]): number {
  let chars = 0;
  for (const item of batch) chars += item.plaintext?.length ?? 0;
  return chars;
}

/**
 * A batch's answer, `{"results":[…]}`, written here rather than by the response schema's
 * serializer, whose per-character escape scan of 100 ciphertexts cost ≈ 30 µs a request. `write`
 * writes one success: every string it writes is base64 or "fx:v<n>:<base64>" (made by the
 * engine or by `encodeBase64`), which JSON needs no escaping for. Failures go through
 * JSON.stringify. The shape is the schema's (`SealedAnswer`, `OpenedAnswer`); the route sends it
 * with `asJson`.
 */
function batchJson<T extends object>(
  results: readonly ItemResult<T>[],
  write: (result: T) => string,
): string {
  let json = '{"results":[';
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (i > 0) json += ',';
    json +=
      'error' in r
        ? JSON.stringify({ error: { code: r.error.code, message: relabel(r.error.message, true) } })
        : write(r);
  }
  return json + ']}';
}

/**
 * Marks the reply as JSON and returns `json`: a string answer with a JSON content type is sent as
 * is, not serialised again.
 */
function asJson(reply: FastifyReply, json: string): string {
  void reply.type('application/json; charset=utf-8');
  return json;
}

/** One ciphertext's answer (single or batch item). */
const sealedJson = (r: Sealed): string =>
  '{"ciphertext":"' + r.ciphertext + '","keyVersion":' + String(r.keyVersion) + '}';

/** A batch comes alone: a single item's fields beside it would be silently ignored otherwise. */
function batchAlone(body: Readonly<Record<string, unknown>>, fields: readonly string[]): void {
  for (const field of fields) {
    if (body[field] !== undefined) {
      throw new FortressError(
        'FX_REQUEST_INVALID',
        `body: ${field} goes inside each batch item, not beside batch`,
      );
    }
  }
}

function required(value: string | undefined, field: string, example: string): string {
  if (value === undefined) {
    throw new FortressError(
      'FX_REQUEST_INVALID',
      `body: give ${field} (${example}), or batch: [{ ${field}, … }, …]`,
    );
  }
  return value;
}

interface EncryptFields {
  readonly plaintext?: string;
  readonly context?: string;
  readonly associatedData?: string;
  readonly keyVersion?: number;
}

/** One item to encrypt; a batch's plaintexts go into the request's `arena` (wiped once answered). */
function encryptItem(item: EncryptFields, arena?: Base64Arena): EncryptItem {
  const plaintext = required(item.plaintext, 'plaintext', 'base64');
  const out: { -readonly [K in keyof EncryptItem]: EncryptItem[K] } = {
    plaintext:
      arena === undefined
        ? decodeBase64(plaintext, 'plaintext', BYTES_MAX)
        : arena.decode(plaintext, 'plaintext', BYTES_MAX),
  };
  if (item.context !== undefined) out.context = decodeBase64(item.context, 'context', SMALL_MAX);
  if (item.associatedData !== undefined)
    out.associatedData = decodeBase64(item.associatedData, 'associatedData', SMALL_MAX);
  if (item.keyVersion !== undefined) out.keyVersion = item.keyVersion;
  return out;
}

interface OpenFields {
  readonly ciphertext?: string;
  readonly context?: string;
  readonly associatedData?: string;
  readonly keyVersion?: number;
}

function rewrapItem(item: OpenFields): RewrapItem {
  const out: { -readonly [K in keyof RewrapItem]: RewrapItem[K] } = {
    ciphertext: required(item.ciphertext, 'ciphertext', '"fx:v<version>:<base64>"'),
  };
  if (item.context !== undefined) out.context = decodeBase64(item.context, 'context', SMALL_MAX);
  if (item.associatedData !== undefined)
    out.associatedData = decodeBase64(item.associatedData, 'associatedData', SMALL_MAX);
  if (item.keyVersion !== undefined) out.keyVersion = item.keyVersion;
  return out;
}

const decryptItem: (item: OpenFields) => DecryptItem = rewrapItem;

interface DataKeyFields {
  readonly bits?: number;
  readonly context?: string;
  readonly associatedData?: string;
  readonly keyVersion?: number;
}

function dataKeyOptions(body: DataKeyFields): DataKeyOptions {
  const out: { -readonly [K in keyof DataKeyOptions]: DataKeyOptions[K] } = {};
  if (body.bits !== undefined) out.bits = body.bits;
  if (body.context !== undefined) out.context = decodeBase64(body.context, 'context', SMALL_MAX);
  if (body.associatedData !== undefined)
    out.associatedData = decodeBase64(body.associatedData, 'associatedData', SMALL_MAX);
  if (body.keyVersion !== undefined) out.keyVersion = body.keyVersion;
  return out;
}

interface InputFields {
  readonly input?: string;
  readonly keyVersion?: number;
  readonly hmac?: string;
  readonly signature?: string;
}

function inputItem(item: InputFields): HmacItem & SignItem {
  const input = decodeBase64(required(item.input, 'input', 'base64'), 'input', BYTES_MAX);
  return item.keyVersion === undefined ? { input } : { input, keyVersion: item.keyVersion };
}

function verifyHmacItem(item: InputFields): VerifyHmacItem {
  return {
    input: decodeBase64(required(item.input, 'input', 'base64'), 'input', BYTES_MAX),
    hmac: item.hmac!,
  };
}

function verifySignatureItem(item: InputFields): VerifyItem {
  return {
    input: decodeBase64(required(item.input, 'input', 'base64'), 'input', BYTES_MAX),
    signature: item.signature!,
  };
}

/** What an item of verify checks: an HMAC or a signature, exactly one. */
function checkedKind(item: InputFields): 'hmac' | 'signature' {
  if ((item.hmac === undefined) === (item.signature === undefined)) {
    throw new FortressError('FX_REQUEST_INVALID', 'give exactly one of hmac and signature');
  }
  return item.hmac === undefined ? 'signature' : 'hmac';
}

/** A decrypted item's answer, `{"plaintext":"<base64>"}`; the plaintext bytes are zeroed once encoded. */
function openedJson(opened: Opened): string {
  const plaintext = encodeBase64(opened.plaintext);
  opened.plaintext.fill(0);
  return '{"plaintext":"' + plaintext + '"}';
}

const JobProgress = Type.Object({
  id: Type.String(),
  key: Type.String(),
  table: Type.String(),
  column: Type.String(),
  state: Type.String({ description: 'running, paused, done or failed' }),
  processed: Type.Integer({ description: 'Rows examined' }),
  rewrapped: Type.Integer({ description: 'Values rewrapped and written back' }),
  failed: Type.Integer({ description: 'Values left as they were (see lastError)' }),
  total: Type.Integer({ description: 'Rows in the table when the job started' }),
  percent: Type.Number(),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdTime: Type.String({ description: 'ISO 8601' }),
  updatedTime: Type.String({ description: 'ISO 8601' }),
});
const JobParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/**
 * The items of a rewrap stream: each NDJSON line a ciphertext string, or an object
 * `{ ciphertext, context?, associatedData?, keyVersion? }` (bytes as base64).
 */
async function* rewrapStreamItems(body: AsyncIterable<Buffer>): AsyncGenerator<RewrapItem> {
  for await (const { value, line } of ndjsonValues(body)) {
    if (typeof value === 'string') {
      yield { ciphertext: value };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new FortressError(
        'FX_REQUEST_INVALID',
        `NDJSON line ${line}: expected a ciphertext string or { ciphertext, context?, associatedData?, keyVersion? }`,
      );
    }
    const fields = value as Record<string, unknown>;
    for (const field of Object.keys(fields)) {
      if (!['ciphertext', 'context', 'associatedData', 'keyVersion'].includes(field)) {
        throw new FortressError('FX_REQUEST_INVALID', `NDJSON line ${line}: unknown field ${field}`);
      }
    }
    const { ciphertext, context, associatedData, keyVersion } = fields;
    const bad = (what: string): never => {
      throw new FortressError('FX_REQUEST_INVALID', `NDJSON line ${line}: ${what}`);
    };
    if (typeof ciphertext !== 'string' || ciphertext.length === 0)
      bad('ciphertext: expected "fx:v<version>:<base64>"');
    if (context !== undefined && typeof context !== 'string') bad('context: expected base64');
    if (associatedData !== undefined && typeof associatedData !== 'string')
      bad('associatedData: expected base64');
    if (
      keyVersion !== undefined &&
      (typeof keyVersion !== 'number' ||
        !Number.isInteger(keyVersion) ||
        keyVersion < 0 ||
        keyVersion > MAX_VERSION)
    ) {
      bad('keyVersion: expected an integer, 0 for the latest');
    }
    try {
      yield rewrapItem(fields);
    } catch (error) {
      if (error instanceof FortressError) bad(error.message);
      throw error;
    }
  }
}

/** One NDJSON line of a rewrap stream's answer. */
function rewrapLine(result: ItemResult<Sealed> & { readonly index: number }): string {
  if ('error' in result) {
    return `${JSON.stringify({
      index: result.index,
      error: { code: result.error.code, message: relabel(result.error.message, false) },
    })}\n`;
  }
  return `${JSON.stringify({ index: result.index, ciphertext: result.ciphertext, keyVersion: result.keyVersion })}\n`;
}

export function transitRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ['transit'];

  // ── keys ──────────────────────────────────────────────────────────────────────────────────────

  r.post(
    '/v1/transit/keys/:name',
    {
      schema: {
        tags,
        summary:
          'Create a named key (version 1): an AEAD (default xchacha20-poly1305), hmac, ed25519 or ml-dsa-65 (manageTransitKey)',
        params: KeyParams,
        body: Type.Object(
          {
            type: Type.Optional(
              Type.Enum([...TRANSIT_KEY_TYPES], {
                description: `${TRANSIT_KEY_TYPES.join(', ')}; default xchacha20-poly1305`,
              }),
            ),
            exportable: Type.Optional(
              Type.Boolean({ description: 'Its versions may be exported; irreversible' }),
            ),
            derived: Type.Optional(
              Type.Boolean({ description: 'Every encryption takes a context (AEAD types)' }),
            ),
            convergent: Type.Optional(
              Type.Boolean({
                description: 'Equal plaintexts give equal ciphertexts per context; needs derived',
              }),
            ),
            deletionAllowed: Type.Optional(Type.Boolean({ description: 'The key may be deleted' })),
            autoRotatePeriod: Type.Optional(Period),
          },
          STRICT,
        ),
        response: KeyAnswer,
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).createKey(request.params.name, request.body);
    },
  );

  r.get(
    '/v1/transit/keys/:name',
    {
      schema: {
        tags,
        summary: "A key's settings and versions (readTransitKey); never key bytes",
        params: KeyParams,
        response: KeyAnswer,
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).readKey(request.params.name);
    },
  );

  r.get(
    '/v1/transit/keys',
    {
      schema: {
        tags,
        summary: 'A page of key names, in order (listTransitKeys on the tenant)',
        querystring: Type.Object(
          {
            after: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
            limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', maxLength: 4 })),
          },
          STRICT,
        ),
        response: {
          200: Type.Object({
            keys: Type.Array(Type.String()),
            next: Type.Union([Type.String(), Type.Null()], {
              description: 'after for the next page; null at the end',
            }),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const { after, limit } = request.query;
      return facadeOf(session).listKeys({
        ...(after === undefined ? {} : { after }),
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
    },
  );

  r.post(
    '/v1/transit/keys/:name/config',
    {
      schema: {
        tags,
        summary:
          "Change a key's settings: minDecryptionVersion, minEncryptionVersion, deletionAllowed, exportable (true only), autoRotatePeriod (manageTransitKey)",
        params: KeyParams,
        body: Type.Object(
          {
            minDecryptionVersion: Type.Optional(Version),
            minEncryptionVersion: Type.Optional(
              Type.Integer({ minimum: 0, maximum: MAX_VERSION, description: '0: the latest' }),
            ),
            deletionAllowed: Type.Optional(Type.Boolean()),
            exportable: Type.Optional(
              Type.Boolean({ description: 'Only true: exportability cannot be taken back' }),
            ),
            autoRotatePeriod: Type.Optional(Period),
          },
          { ...STRICT, minProperties: 1 },
        ),
        response: KeyAnswer,
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).configure(request.params.name, request.body);
    },
  );

  r.post(
    '/v1/transit/keys/:name/rotate',
    {
      schema: {
        tags,
        summary: 'A new latest version; older versions still decrypt (manageTransitKey)',
        params: KeyParams,
        response: KeyAnswer,
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).rotate(request.params.name);
    },
  );

  r.post(
    '/v1/transit/keys/:name/trim',
    {
      schema: {
        tags,
        summary:
          'Destroy every version below minAvailableVersion, which may not exceed minDecryptionVersion (manageTransitKey)',
        params: KeyParams,
        body: Type.Object({ minAvailableVersion: Version }, STRICT),
        response: KeyAnswer,
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).trim(request.params.name, request.body.minAvailableVersion);
    },
  );

  r.delete(
    '/v1/transit/keys/:name',
    {
      schema: {
        tags,
        summary: 'Delete a key for good, every version shredded; needs deletionAllowed (manageTransitKey)',
        params: KeyParams,
        response: { 200: Type.Object({ deleted: Type.Boolean() }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      await facadeOf(session).deleteKey(request.params.name);
      return { deleted: true };
    },
  );

  // ── encryption ────────────────────────────────────────────────────────────────────────────────

  r.post(
    '/v1/transit/encrypt/:name',
    {
      schema: {
        tags,
        summary:
          'Encrypt base64 plaintext into "fx:v<version>:…" (transitEncrypt); context for derived keys, associatedData bound to the ciphertext',
        params: KeyParams,
        body: EncryptBody,
        response: { 200: SealedAnswer, '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      if (body.batch !== undefined) {
        batchAlone(body, ['plaintext', 'context', 'associatedData', 'keyVersion']);
        const arena = new Base64Arena(plaintextChars(body.batch));
        try {
          const items = decodeBatch(body.batch, (item) => encryptItem(item, arena));
          const results = await facadeOf(session).encryptBatch(request.params.name, items);
          return asJson(reply, batchJson(results, sealedJson));
        } finally {
          arena.wipe();
        }
      }
      const item = encryptItem(body);
      try {
        const sealed = await facadeOf(session).encrypt(request.params.name, item);
        return asJson(reply, sealedJson(sealed));
      } catch (error) {
        throw singleFailure(error);
      } finally {
        item.plaintext.fill(0);
      }
    },
  );

  r.post(
    '/v1/transit/decrypt/:name',
    {
      schema: {
        tags,
        summary: 'Decrypt a ciphertext into base64 plaintext (transitDecrypt)',
        params: KeyParams,
        body: DecryptBody,
        response: { 200: OpenedAnswer, '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      if (body.batch !== undefined) {
        batchAlone(body, ['ciphertext', 'context', 'associatedData']);
        const items = decodeBatch(body.batch, decryptItem);
        const results = await facadeOf(session).decryptBatch(request.params.name, items);
        return asJson(reply, batchJson(results, openedJson));
      }
      try {
        const opened = await facadeOf(session).decrypt(request.params.name, decryptItem(body));
        return asJson(reply, openedJson(opened));
      } catch (error) {
        throw singleFailure(error);
      }
    },
  );

  r.post(
    '/v1/transit/rewrap/:name',
    {
      schema: {
        tags,
        summary:
          'Re-encrypt a ciphertext under the latest version (or keyVersion) without revealing its plaintext (transitRewrap)',
        params: KeyParams,
        body: RewrapBody,
        response: { 200: SealedAnswer, '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      if (body.batch !== undefined) {
        batchAlone(body, ['ciphertext', 'context', 'associatedData', 'keyVersion']);
        const items = decodeBatch(body.batch, rewrapItem);
        return asJson(
          reply,
          batchJson(await facadeOf(session).rewrapBatch(request.params.name, items), sealedJson),
        );
      }
      try {
        return asJson(
          reply,
          sealedJson(await facadeOf(session).rewrap(request.params.name, rewrapItem(body))),
        );
      } catch (error) {
        throw singleFailure(error);
      }
    },
  );

  // Two routes, two actions: policy decides who may see a data key's plaintext.
  for (const kind of ['plaintext', 'wrapped'] as const) {
    r.post(
      `/v1/transit/datakey/${kind}/:name`,
      {
        schema: {
          tags,
          summary:
            kind === 'plaintext'
              ? 'A fresh data key: its plaintext (base64) and its ciphertext under the key (transitPlaintextDataKey)'
              : 'A fresh data key, only as its ciphertext under the key; decrypt opens it later (transitDataKey)',
          params: KeyParams,
          body: DataKeyBody,
          response: {
            200: Type.Object({
              ciphertext: Type.String(),
              keyVersion: Type.Integer(),
              ...(kind === 'plaintext' ? { plaintext: Type.String({ description: 'base64' }) } : {}),
            }),
            '4xx': ErrorResponse,
          },
        },
      },
      async (request) => {
        const { session } = await ctx.caller(request);
        const options = dataKeyOptions(request.body);
        try {
          const key = await facadeOf(session).dataKey(request.params.name, kind, options);
          if (key.plaintext === undefined) return { ciphertext: key.ciphertext, keyVersion: key.keyVersion };
          const encoded = encodeBase64(key.plaintext);
          key.plaintext.fill(0);
          return { ciphertext: key.ciphertext, keyVersion: key.keyVersion, plaintext: encoded };
        } catch (error) {
          throw singleFailure(error);
        }
      },
    );
  }

  // ── HMAC and signatures ───────────────────────────────────────────────────────────────────────

  r.post(
    '/v1/transit/hmac/:name',
    {
      schema: {
        tags,
        summary: 'HMAC base64 input with the key (any type has an HMAC key) (transitHmac)',
        params: KeyParams,
        body: HmacBody,
        response: { 200: HmacAnswer, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      const transit = facadeOf(session);
      if (body.batch !== undefined) {
        batchAlone(body, ['input', 'keyVersion']);
        const items = decodeBatch(body.batch, inputItem);
        return { results: relabelled(await transit.hmac(request.params.name, items, body.algorithm)) };
      }
      return only(await transit.hmac(request.params.name, [inputItem(body)], body.algorithm));
    },
  );

  r.post(
    '/v1/transit/sign/:name',
    {
      schema: {
        tags,
        summary: 'Sign base64 input with an ed25519 or ml-dsa-65 key (transitSign)',
        params: KeyParams,
        body: SignBody,
        response: { 200: SignedAnswer, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      const transit = facadeOf(session);
      if (body.batch !== undefined) {
        batchAlone(body, ['input', 'keyVersion']);
        const items = decodeBatch(body.batch, inputItem);
        return { results: relabelled(await transit.sign(request.params.name, items)) };
      }
      return only(await transit.sign(request.params.name, [inputItem(body)]));
    },
  );

  r.post(
    '/v1/transit/verify/:name',
    {
      schema: {
        tags,
        summary:
          'Check an hmac (transitHmac) or a signature (transitVerify) of base64 input: valid true or false',
        params: KeyParams,
        body: VerifyBody,
        response: { 200: ValidAnswer, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      const transit = facadeOf(session);
      const name = request.params.name;
      let kind: 'hmac' | 'signature';
      if (body.batch !== undefined) {
        batchAlone(body, ['input', 'hmac', 'signature']);
        kind = checkedKind(body.batch[0]!);
        for (let i = 1; i < body.batch.length; i++) {
          if (checkedKind(body.batch[i]!) !== kind) {
            throw new FortressError(
              'FX_REQUEST_INVALID',
              `batch[${i}]: every item of one batch checks the same thing (batch[0] has ${kind === 'hmac' ? 'an hmac' : 'a signature'})`,
            );
          }
        }
      } else {
        kind = checkedKind(body);
      }
      if (kind === 'signature' && body.algorithm !== undefined) {
        throw new FortressError('FX_REQUEST_INVALID', 'body: algorithm applies to HMACs, not signatures');
      }
      if (body.batch !== undefined) {
        const results =
          kind === 'hmac'
            ? await transit.verifyHmac(name, decodeBatch(body.batch, verifyHmacItem), body.algorithm)
            : await transit.verify(name, decodeBatch(body.batch, verifySignatureItem));
        return { results: relabelled(results) };
      }
      return only(
        kind === 'hmac'
          ? await transit.verifyHmac(name, [verifyHmacItem(body)], body.algorithm)
          : await transit.verify(name, [verifySignatureItem(body)]),
      );
    },
  );

  // ── random bytes and export ───────────────────────────────────────────────────────────────────

  const RandomFormat = Type.Optional(
    Type.Enum(['base64', 'hex'], { description: 'base64 or hex; default base64' }),
  );
  const RandomAnswer = { 200: Type.Object({ random: Type.String() }), '4xx': ErrorResponse };
  const random = async (request: FastifyRequest, count: number, format: 'base64' | 'hex' | undefined) => {
    const { session } = await ctx.caller(request);
    const bytes = await facadeOf(session).random(count);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(format ?? 'base64');
    bytes.fill(0);
    return { random: text };
  };
  r.post(
    '/v1/transit/random',
    {
      schema: {
        tags,
        summary: 'Random bytes from the system CSPRNG, as base64 or hex (transitRandom on the tenant)',
        body: Type.Object(
          { bytes: Type.Integer({ minimum: 1, maximum: MAX_RANDOM_BYTES }), format: RandomFormat },
          STRICT,
        ),
        response: RandomAnswer,
      },
    },
    (request) => random(request, request.body.bytes, request.body.format),
  );
  // Vault's form: the count in the path, the body (only `format`) optional.
  r.post(
    '/v1/transit/random/:bytes',
    {
      schema: {
        tags,
        summary: 'Random bytes, the count in the path as Vault has it (transitRandom on the tenant)',
        params: Type.Object({
          bytes: Type.String({ pattern: '^[1-9][0-9]{0,6}$', maxLength: 7, description: '1 to 1048576' }),
        }),
        body: Type.Object({ format: RandomFormat }, STRICT),
        response: RandomAnswer,
      },
      preValidation: emptyBodyAsObject,
    },
    // The engine refuses a count over its limit (FX_INVALID_ARGUMENT), as for the body form.
    (request) => random(request, Number(request.params.bytes), request.body.format),
  );

  const ExportParams = {
    type: Type.Enum(['encryption-key', 'signing-key', 'hmac-key', 'public-key'], {
      description: 'encryption-key, signing-key, hmac-key or public-key',
    }),
    name: KeyParams.properties.name,
  };
  const ExportAnswer = {
    200: Type.Object({
      name: Type.String(),
      type: Type.String(),
      keys: Type.Record(Type.String(), Type.String(), { description: 'version → key bytes, base64' }),
    }),
    '4xx': ErrorResponse,
  };
  r.get(
    '/v1/transit/export/:type/:name',
    {
      schema: {
        tags,
        summary:
          "An exportable key's versions (public-key: any signature key) (exportTransitKey); key bytes, base64",
        params: Type.Object(ExportParams),
        response: ExportAnswer,
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).exportKey(request.params.name, request.params.type);
    },
  );
  r.get(
    '/v1/transit/export/:type/:name/:version',
    {
      schema: {
        tags,
        summary: 'One version (or latest) of an exportable key (exportTransitKey); key bytes, base64',
        params: Type.Object({
          ...ExportParams,
          version: Type.String({
            pattern: '^([1-9][0-9]{0,9}|latest)$',
            maxLength: 10,
            description: 'a version number, or latest',
          }),
        }),
        response: ExportAnswer,
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const { name, type, version } = request.params;
      return facadeOf(session).exportKey(name, type, version === 'latest' ? version : Number(version));
    },
  );

  // ── bulk rewrap: a job over a table column, or a stream of ciphertexts ─────────────────────────

  r.post(
    '/v1/transit/keys/:name/rewrap-jobs',
    {
      schema: {
        tags,
        summary:
          'Start a resumable job rewrapping every older-version ciphertext of the key in a table column to the latest version (manageTransitKey on the key, update on the table); GET /v1/transit/rewrap-jobs/:id follows it',
        params: KeyParams,
        body: Type.Object(
          {
            table: Name,
            column: Name,
            contextColumn: Type.Optional(Name),
            associatedDataColumn: Type.Optional(Name),
            batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_ITEMS })),
          },
          STRICT,
        ),
        response: { 200: JobProgress, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).startRewrap(request.params.name, request.body);
    },
  );

  r.get(
    '/v1/transit/rewrap-jobs',
    {
      schema: {
        tags,
        summary: 'The newest rewrap jobs first (listTransitKeys on the tenant)',
        querystring: Type.Object(
          { limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$|^1000$', maxLength: 4 })) },
          STRICT,
        ),
        response: { 200: Type.Object({ jobs: Type.Array(JobProgress) }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const { limit } = request.query;
      return {
        jobs: await facadeOf(session).listRewrapJobs(limit === undefined ? undefined : Number(limit)),
      };
    },
  );

  r.get(
    '/v1/transit/rewrap-jobs/:id',
    {
      schema: {
        tags,
        summary: "A rewrap job's progress (readTransitKey on its key)",
        params: JobParams,
        response: { 200: JobProgress, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      return facadeOf(session).rewrapJob(request.params.id);
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    r.post(
      `/v1/transit/rewrap-jobs/:id/${action}`,
      {
        schema: {
          tags,
          summary:
            action === 'pause'
              ? 'Stop a rewrap job after its current batch (manageTransitKey on its key)'
              : 'Continue a paused or failed rewrap job from its checkpoint (manageTransitKey on its key)',
          params: JobParams,
          response: { 200: JobProgress, '4xx': ErrorResponse },
        },
      },
      async (request) => {
        const { session } = await ctx.caller(request);
        const transit = facadeOf(session);
        return action === 'pause'
          ? transit.pauseRewrap(request.params.id)
          : transit.resumeRewrap(request.params.id);
      },
    );
  }

  r.post(
    '/v1/transit/rewrap-stream/:name',
    {
      schema: {
        tags,
        summary:
          'Rewrap any number of ciphertexts: an application/x-ndjson body (each line a ciphertext string or { ciphertext, context?, associatedData?, keyVersion? }) answered as NDJSON, one { index, ciphertext, keyVersion } or { index, error } line per input, in order, batchSize at a time (transitRewrap)',
        params: KeyParams,
        querystring: Type.Object(
          { batchSize: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,4}$', maxLength: 5 })) },
          STRICT,
        ),
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (type !== 'application/x-ndjson') {
        throw new FortressError('FX_REQUEST_INVALID', 'rewrap-stream takes an application/x-ndjson body');
      }
      const batchSize = request.query.batchSize === undefined ? undefined : Number(request.query.batchSize);
      const results = facadeOf(session).rewrapStream(
        request.params.name,
        rewrapStreamItems(request.body as AsyncIterable<Buffer>),
        batchSize === undefined ? {} : { batchSize },
      );
      // The first batch (and with it the policy decision) runs before any byte is sent, so a
      // refusal or a malformed first line is still a clean error response.
      const first = await results.next();
      async function* lines(): AsyncGenerator<string> {
        let next = first;
        try {
          while (next.done !== true) {
            yield rewrapLine(next.value);
            next = await results.next();
          }
        } catch (error) {
          // Past the headers an error can only be said in the stream: a last line without index.
          const known = error instanceof FortressError;
          if (!known) request.log.error({ err: error }, 'rewrap stream failed');
          yield `${JSON.stringify({
            error: known
              ? { code: error.code, message: error.message }
              : {
                  code: 'FX_INTERNAL',
                  message: `internal error; quote request id ${request.id} to the operator`,
                },
          })}\n`;
        }
      }
      void reply.header('content-type', 'application/x-ndjson');
      return reply.send(Readable.from(lines(), { objectMode: false }));
    },
  );
}
