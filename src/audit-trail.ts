/**
 * @module audit-trail
 * Wires the audit ledger to the rest of Fortress: turns the engine's access events, schema and key
 * operations, and seal/unseal into audit records (who, what, on which resource, decided by which
 * rule, with what outcome), digesting every sensitive value with the ledger's HMAC key first.
 *
 * Keys: the ledger's signing key (`fortress/audit/ed25519`, optionally `fortress/audit/ml-dsa-65`)
 * and HMAC key (`fortress/audit/hmac`) live in the keyring under their own key-encryption key
 * (`fortress/audit`); they are loaded at unseal and dropped at seal. The verifier keys are written
 * to `audit.vkey` in the data directory on first use: copy that file somewhere safe — an auditor
 * who pins it detects a ledger re-signed with another key.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  isAuditString,
  resourcePath,
  type AuditDecision,
  type AuditPrincipal,
  type AuditRecord,
  type AuditResource,
} from './audit/entry/audit-entry.js';
import { AuditHasher, requestDigestOfFacts, requestDigestOfStrings } from './audit/entry/audit-hasher.js';
import type { AuditLedger } from './audit/ledger/audit-ledger.js';
import {
  ed25519NoteSigner,
  mlDsa65NoteSigner,
  noteVerifierFromKey,
  type StandardNoteSigner,
  type StandardNoteVerifier,
} from './audit/note/signed-note.js';
import type { AccessActor, AccessEvent, AccessLog } from './engine/access/access-log.js';
import type { KeyManager } from './keys/key-manager.js';
import type { Signer } from './crypto/signature/signature.js';
import type { StorageSession } from './storage/dialect.js';
import { AuditError, FortressError } from './util/errors.js';

export const AUDIT_KEK = 'fortress/audit';
export const AUDIT_HMAC_KEY = 'fortress/audit/hmac';
export const AUDIT_ED25519_KEY = 'fortress/audit/ed25519';
export const AUDIT_MLDSA_KEY = 'fortress/audit/ml-dsa-65';
/** The file (in the data directory) holding the ledger's verifier keys, one per line. */
export const AUDIT_VKEY_FILE = 'audit.vkey';

/** The rule that allows every access in embedded use until policies are configured. */
const EMBEDDED_RULE = 'builtin:embedded-owner';
/** Denied with no policy to name: nothing permitted it (deny by default). */
const DEFAULT_DENY_RULE = 'builtin:default-deny';
/**
 * Row and literal digests kept per entry, each: entries then stay under 64 KiB, the largest a
 * tlog-tiles entry bundle can hold (the rest is counted in rowCount).
 */
const MAX_DIGESTS = 300;
/** Records built here are well-formed by construction (names pass safeName, values are digests). */
const WELL_FORMED = { wellFormed: true } as const;
const QUEUED = { wellFormed: true, queued: true } as const;

const EMBEDDED_ALLOW: AuditDecision = Object.freeze({
  effect: 'allow',
  policies: Object.freeze([EMBEDDED_RULE]),
});
/** A session's actor is one object per cached decision: its recorded decision is built once. */
const allowedBy = new WeakMap<AccessActor, AuditDecision>();

/** The decision an entry records: the denying or permitting policies, or the embedded owner's rule. */
function decisionOf(actor: AccessActor | undefined, denied: readonly string[] | undefined): AuditDecision {
  if (denied !== undefined) {
    return { effect: 'deny', policies: denied.length === 0 ? [DEFAULT_DENY_RULE] : denied.map(safeName) };
  }
  if (actor === undefined) return EMBEDDED_ALLOW;
  let decision = allowedBy.get(actor);
  if (decision === undefined) {
    decision = Object.freeze({ effect: 'allow', policies: Object.freeze(actor.policies.map(safeName)) });
    allowedBy.set(actor, decision);
  }
  return decision;
}

/** The OS user running the process: the embedded principal's default id. */
export function processPrincipal(tenant: string): AuditPrincipal {
  let id = 'unknown';
  try {
    id = os.userInfo().username || 'unknown';
  } catch {
    // No passwd entry (some containers): keep "unknown".
  }
  return { type: 'process', id, tenant };
}

/**
 * A name as an entry may hold it: names that callers got wrong (not a string, empty, too long,
 * control characters) are still recorded — as `#invalid` — so the refusal itself is audited.
 */
function safeName(value: unknown): string {
  return isAuditString(value) ? value : '#invalid';
}

function codeOf(error: unknown): string {
  return error instanceof FortressError ? error.code : 'internal';
}

/** Reads the pinned verifier keys of a data directory (`audit.vkey`). */
export async function readAuditVerifierKeys(dir: string): Promise<StandardNoteVerifier[]> {
  const file = path.join(dir, AUDIT_VKEY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new AuditError('FX_AUDIT_FORMAT', `cannot read the ledger's verifier keys from ${file}`, { cause });
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new AuditError('FX_AUDIT_FORMAT', `${file} holds no verifier key`);
  return lines.map((line) => noteVerifierFromKey(line.trim()));
}

export interface AuditTrailOptions {
  readonly dir: string;
  readonly keys: KeyManager;
  readonly tenant: string;
  readonly database: string;
  readonly principal: AuditPrincipal;
  /** Also sign checkpoints with ML-DSA-65. */
  readonly mlDsa: boolean;
}

export class AuditTrail implements AccessLog {
  readonly #options: AuditTrailOptions;
  #ledger: AuditLedger | null = null;
  #hasher: AuditHasher | null = null;
  #signers: StandardNoteSigner[] | null = null;
  /** The signers behind #signers, owned here so their seeds are zeroed at seal. */
  #rawSigners: Signer[] = [];
  /** Records made before the ledger could be opened (page-encrypted and sealed). */
  #early: AuditRecord[] = [];
  /** Read and failure entries written inside the running caller transaction (see `within`). */
  #keep: AuditRecord[] = [];

  constructor(options: AuditTrailOptions) {
    this.#options = options;
  }

  /** The checkpoint signers, or null while sealed. */
  signers(): readonly StandardNoteSigner[] | null {
    return this.#signers;
  }

  get ledger(): AuditLedger | null {
    return this.#ledger;
  }

  /** Connects the opened ledger and writes any records made before it existed. */
  async attach(ledger: AuditLedger): Promise<void> {
    this.#ledger = ledger;
    const early = this.#early;
    this.#early = [];
    for (const record of early) await ledger.append(record);
  }

  /** Loads (creating on first use) the audit keys; writes `audit.vkey` the first time. */
  async unsealed(origin: string): Promise<void> {
    const keys = this.#options.keys;
    const names = new Set(keys.listKeys().map((k) => k.name));
    if (!names.has(AUDIT_KEK)) await keys.createKey({ name: AUDIT_KEK, purpose: 'kek' });
    if (!names.has(AUDIT_HMAC_KEY))
      await keys.createKey({ name: AUDIT_HMAC_KEY, purpose: 'index', parent: AUDIT_KEK });
    if (!names.has(AUDIT_ED25519_KEY))
      await keys.createKey({ name: AUDIT_ED25519_KEY, purpose: 'signing', parent: AUDIT_KEK });
    if (this.#options.mlDsa && !names.has(AUDIT_MLDSA_KEY))
      await keys.createKey({ name: AUDIT_MLDSA_KEY, purpose: 'signing', parent: AUDIT_KEK });
    const hasher = new AuditHasher(await keys.indexKey(AUDIT_HMAC_KEY));
    this.#hasher?.dispose();
    this.#hasher = hasher;
    this.#disposeSigners();
    const raw: Signer[] = [await keys.signer(AUDIT_ED25519_KEY)];
    this.#rawSigners = raw;
    const signers = [ed25519NoteSigner(origin, raw[0]!)];
    if (this.#options.mlDsa || names.has(AUDIT_MLDSA_KEY)) {
      raw.push(await keys.signer(AUDIT_MLDSA_KEY, 'ml-dsa-65'));
      signers.push(mlDsa65NoteSigner(origin, raw[1]!));
    }
    this.#signers = signers;
    const file = path.join(this.#options.dir, AUDIT_VKEY_FILE);
    const current = signers.map((s) => s.verifierKey);
    const pinned = existsSync(file)
      ? (await readFile(file, 'utf8')).split('\n').filter((line) => line.trim() !== '')
      : [];
    if (pinned.some((line) => !current.includes(line.trim()))) {
      // A pinned key is not the keyring's: never sign silently with another one.
      this.#signers = null;
      this.#disposeSigners();
      throw new AuditError(
        'FX_AUDIT_SIGNATURE',
        `the ledger's signing key does not match the pinned ${file}; restore the key or the file`,
      );
    }
    const added = current.filter((vkey) => !pinned.some((line) => line.trim() === vkey));
    // First use, or a key added since (ML-DSA turned on later): pin it beside the existing ones.
    if (added.length > 0) await writeFile(file, [...pinned, ...added].join('\n') + '\n', { mode: 0o644 });
  }

  /** Drops the keys (at seal and close): the signing seeds and the audit HMAC state are zeroed. */
  sealed(): void {
    this.#hasher?.dispose();
    this.#hasher = null;
    this.#signers = null;
    this.#disposeSigners();
  }

  #disposeSigners(): void {
    for (const signer of this.#rawSigners) signer.dispose();
    this.#rawSigners = [];
  }

  /** `hmac-sha256:<hex>` of a value, as entries hold it (FX_SEALED while sealed). */
  hash(value: unknown): string {
    if (this.#hasher === null) throw new FortressError('FX_SEALED', 'Fortress is sealed; unseal it first');
    return this.#hasher.hash(value);
  }

  #digests(values: readonly unknown[] | undefined): string[] | undefined {
    if (values === undefined || values.length === 0) return undefined;
    const hasher = this.#hasher;
    if (hasher === null) return undefined;
    const out = new Array<string>(Math.min(values.length, MAX_DIGESTS));
    for (let i = 0; i < out.length; i++) out[i] = hasher.hash(values[i]);
    return out;
  }

  /** The record of an engine access event. */
  #fromEvent(event: AccessEvent, error: unknown): AuditRecord {
    const rows = this.#digests(event.rows);
    const literals = this.#digests(event.literals);
    const withheld =
      this.#hasher === null && ((event.rows?.length ?? 0) > 0 || (event.literals?.length ?? 0) > 0);
    const resource = this.resource(event.table, event.column);
    const details: Record<string, string | number | boolean | readonly string[]> = {};
    if (rows !== undefined) details['rows'] = rows;
    if (literals !== undefined) details['literals'] = literals;
    if (event.columns !== undefined && event.columns.length > 0)
      details['columns'] = event.columns.map(safeName);
    if (event.rowCount !== undefined) details['rowCount'] = event.rowCount;
    if (withheld) details['valuesWithheld'] = true;
    if (event.actor?.breakGlass === true) details['breakGlass'] = true;
    const decision = decisionOf(event.actor, event.denied);
    return this.#record(
      event.action,
      resource,
      error,
      details,
      requestDigestOfStrings([
        event.action,
        resourcePath(resource),
        rows ?? [],
        literals ?? [],
        (event.columns ?? []).map(String),
      ]),
      event.actor?.principal,
      decision,
      event.actor?.client,
    );
  }

  #record(
    action: string,
    resource: AuditResource,
    error: unknown,
    details: Record<string, string | number | boolean | readonly string[]>,
    request: string,
    principal: AuditRecord['principal'] = this.#options.principal,
    decision: AuditRecord['decision'] = { effect: 'allow', policies: [EMBEDDED_RULE] },
    client?: string,
  ): AuditRecord {
    return {
      principal: { type: principal.type, id: safeName(principal.id), tenant: principal.tenant },
      action,
      resource,
      decision,
      outcome:
        error === null || error === undefined ? { status: 'ok' } : { status: 'error', code: codeOf(error) },
      requestId: randomUUID(),
      client: client ?? null,
      request,
      ...(Object.keys(details).length === 0 ? {} : { details }),
    };
  }

  async within(
    session: StorageSession,
    event: AccessEvent,
    error: unknown,
    keepOnRollback: boolean,
  ): Promise<void> {
    const record = this.#fromEvent(event, error);
    if (this.#ledger === null) {
      this.#early.push(record);
      return;
    }
    await this.#ledger.appendWithin(session, [record], WELL_FORMED);
    if (keepOnRollback) this.#keep.push(record);
  }

  /**
   * A caller's transaction committed: its entries are durable with it. Where the log is shared by
   * several processes they were staged with the data and this waits for the group commit that
   * numbers them; if that fails the entries stay staged (committed) and a later group commit or
   * the ledger's sweep moves them, so the committed operation is not reported as failed.
   */
  async committed(): Promise<void> {
    this.#keep = [];
    if (this.#ledger !== null) await this.#ledger.sequenceStaged().catch(() => undefined);
  }

  /**
   * A caller's transaction rolled back, taking the entries recorded in it along: the reads and
   * failures among them happened all the same, so they are written again (group commit).
   */
  async rolledBack(): Promise<void> {
    const again = this.#keep;
    this.#keep = [];
    if (this.#ledger !== null) await Promise.all(again.map((r) => this.#ledger!.append(r, WELL_FORMED)));
  }

  async record(event: AccessEvent, error: unknown): Promise<void> {
    await this.#append(this.#fromEvent(event, error));
  }

  async #append(record: AuditRecord): Promise<void> {
    if (this.#ledger === null) {
      this.#early.push(record);
      return;
    }
    if (this.#ledger.inTransaction()) {
      // Called from inside a transaction body (a key or schema operation there): waiting for the
      // group commit would wait for that transaction. The entry is written as soon as it ends; a
      // ledger that cannot write it then refuses every later operation.
      void this.#ledger.append(record, QUEUED).catch(() => undefined);
      return;
    }
    await this.#ledger.append(record, WELL_FORMED);
  }

  /**
   * Records an administrative operation (schema, key, system) — `names` are non-sensitive
   * identifiers (table, column, key names), `values` sensitive ones (digested).
   */
  async operation(
    action: string,
    resource: AuditResource,
    error: unknown,
    facts: Readonly<Record<string, string | number | boolean>> = {},
    actor?: AccessActor,
    denied?: readonly string[],
  ): Promise<void> {
    const details: Record<string, string | number | boolean> = { ...facts };
    if (actor?.breakGlass === true) details['breakGlass'] = true;
    await this.#append(
      this.#record(
        action,
        resource,
        error,
        details,
        requestDigestOfFacts(action, resourcePath(resource), facts),
        actor?.principal,
        decisionOf(actor, denied),
        actor?.client,
      ),
    );
  }

  /** The resource of this database (or one of its tables / columns). */
  resource(table?: unknown, column?: unknown): AuditResource {
    const { tenant, database } = this.#options;
    if (table === undefined) return { type: 'database', tenant, database };
    if (column === undefined || column === null)
      return { type: 'table', tenant, database, table: safeName(table) };
    return { type: 'column', tenant, database, table: safeName(table), column: safeName(column) };
  }

  /** A key's resource (by name; ids are resolved to names where possible). */
  keyResource(nameOrId: unknown): AuditResource {
    let key = typeof nameOrId === 'string' ? safeName(nameOrId) : `#${safeName(String(nameOrId))}`;
    if (typeof nameOrId === 'number') {
      try {
        key = this.#options.keys.getKey(nameOrId).name;
      } catch {
        // Unknown id: keep "#id"; the operation itself reports the error.
      }
    }
    return { type: 'key', tenant: this.#options.tenant, key: key.slice(0, 512) };
  }
}

/** Key-manager methods recorded as key operations (`key.<method>`) and how to name their resource. */
export const AUDITED_KEY_METHODS: Readonly<Record<string, 'key' | 'system'>> = Object.freeze({
  createKey: 'key',
  rotate: 'key',
  setMinDecryptionVersion: 'key',
  setRotationPeriod: 'key',
  destroyVersion: 'key',
  destroyKey: 'key',
  encrypt: 'key',
  decrypt: 'key',
  exportKeys: 'system',
  importKeys: 'system',
  backupSigningKeys: 'system',
  rotateDue: 'system',
  rekey: 'system',
  rotateRootKey: 'system',
  init: 'system',
  unseal: 'system',
  seal: 'system',
});

/**
 * Wraps the key manager so every key and seal operation called through it is recorded: after it
 * succeeds or fails, with the key's name (never key material, plaintexts or shares) — as the
 * embedded owner, or as `actor` (a session's principal and the policies that permitted it).
 */
export function auditedKeyManager(keys: KeyManager, trail: AuditTrail, actor?: AccessActor): KeyManager {
  return new Proxy(keys, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== 'string' || typeof value !== 'function') {
        return value ?? (Reflect.get(target, property, receiver) as unknown);
      }
      const kind = AUDITED_KEY_METHODS[property];
      const method = value as (...args: unknown[]) => unknown;
      if (kind === undefined) return method.bind(target);
      const action = `${kind}.${property}`;
      const resourceOf = (args: unknown[]): AuditResource => {
        if (kind === 'system') return { type: 'system' };
        const first = args[0];
        if (property === 'createKey' && typeof first === 'object' && first !== null) {
          return trail.keyResource((first as { name?: unknown }).name);
        }
        return trail.keyResource(first);
      };
      return (...args: unknown[]): unknown => {
        let result: unknown;
        try {
          result = method.apply(target, args);
        } catch (error) {
          void trail.operation(action, resourceOf(args), error, {}, actor).catch(() => undefined);
          throw error;
        }
        if (!(result instanceof Promise)) {
          // seal() is synchronous and must always work: its entry is queued, and close() waits for it.
          void trail.operation(action, resourceOf(args), null, {}, actor).catch(() => undefined);
          return result;
        }
        return result.then(
          async (ok: unknown) => {
            await trail.operation(action, resourceOf(args), null, {}, actor);
            return ok;
          },
          async (error: unknown) => {
            await trail.operation(action, resourceOf(args), error, {}, actor);
            throw error;
          },
        );
      };
    },
  });
}

/**
 * `db.access` methods that change who may do what, recorded as `access.<method>`: resource `policy`
 * for policy changes, the tenant for principals, groups, roles and row filters. Facts name what
 * changed (policy ids, principal names — identifiers, never policy text or filter values).
 */
export const AUDITED_ACCESS_METHODS: Readonly<Record<string, (args: readonly unknown[]) => AccessChange>> =
  Object.freeze({
    addPolicies: (args) => ({ policy: true, name: isObject(args[0]) ? Object.keys(args[0]).join(' ') : '' }),
    addPolicy: (args) => ({ policy: true, name: args[0] }),
    removePolicy: (args) => ({ policy: true, name: args[0] }),
    addUser: (args) => ({ name: args[0], tenant: optionTenant(args[1]) }),
    addServiceAccount: (args) => ({ name: args[0], tenant: optionTenant(args[1]) }),
    updatePrincipal: (args) => ({
      name: `${String(args[0])}:${String(args[1])}`,
      tenant: optionTenant(args[2]),
    }),
    removePrincipal: (args) => ({ name: `${String(args[0])}:${String(args[1])}`, tenant: args[2] }),
    addGroup: (args) => ({ name: args[0], tenant: optionTenant(args[1]) }),
    addRole: (args) => ({ name: args[0], tenant: optionTenant(args[1]) }),
    removeGroup: (args) => ({ name: args[0], tenant: args[1] }),
    removeRole: (args) => ({ name: args[0], tenant: args[1] }),
    addRowFilter: (args) => ({ name: args[0], tenant: optionTenant(args[1]) }),
    removeRowFilter: (args) => ({ name: args[0] }),
  });

/** What an access change names (before the names are made safe for an entry). */
interface AccessChange {
  readonly policy?: boolean;
  readonly name: unknown;
  readonly tenant?: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionTenant(options: unknown): unknown {
  return isObject(options) ? options['tenant'] : undefined;
}

/**
 * Wraps access control so every change to policies, principals, groups, roles and row filters is
 * recorded after it succeeds or fails — as the embedded owner, or as `actor` (a session's principal
 * that was permitted `managePolicy`). Reads (`listPolicies`, `principal`, …) pass through unrecorded.
 */
export function auditedAccessControl<T extends object>(
  access: T & { readonly tenant: string },
  trail: AuditTrail,
  actor?: AccessActor,
): T {
  return new Proxy(access, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== 'string' || typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      const describe = AUDITED_ACCESS_METHODS[property];
      if (describe === undefined) return method.bind(target);
      const action = `access.${property}`;
      return async (...args: unknown[]): Promise<unknown> => {
        const change = describe(args);
        const tenant = typeof change.tenant === 'string' ? safeName(change.tenant) : target.tenant;
        const resource: AuditResource =
          change.policy === true ? { type: 'policy', tenant } : { type: 'tenant', tenant };
        const name = typeof change.name === 'string' ? change.name.slice(0, 512) || '#none' : change.name;
        const facts = { name: safeName(name) };
        let result: unknown;
        try {
          result = await method.apply(target, args);
        } catch (error) {
          await trail.operation(action, resource, error, facts, actor);
          throw error;
        }
        await trail.operation(action, resource, null, facts, actor);
        return result;
      };
    },
  });
}
