/**
 * @module secrets/secrets-access
 * What every secrets engine's facade needs from the database: the tenant, a policy decision per
 * operation (a session's; embedded use is the operator's own and is not decided), the audit
 * ledger, and an HMAC for values that entries must identify without holding.
 */
import type { AuditResource } from '../audit/entry/audit-entry.js';
import type { AccessActor } from '../engine/access/access-log.js';
import type { Action } from '../policy/schema/fortress-schema.js';

export type Facts = Readonly<Record<string, string | number | boolean>>;

/**
 * The Cedar resource an operation is decided on: `Fortress::<type>::"<tenant>/<id>"`, recorded in
 * the audit ledger as resource `secret` with `path` (e.g. `kv:apps/db`, `transit:orders`).
 */
export interface SecretTarget {
  readonly type: 'Secret' | 'TransitKey' | 'DatabaseRole' | 'Table';
  readonly id: string;
  readonly path: string;
  /** What the ledger records instead of `{ type: 'secret', path }` (a table a job rewrites). */
  readonly audit?: AuditResource;
}

export interface SecretsAccess {
  readonly tenant: string;
  /** The database's name (tables are `Fortress::Table::"<tenant>/<database>/<table>"`). */
  readonly database: string;
  /**
   * Decides `action` on a target (or, for tenant-wide operations, the tenant): returns the audit
   * actor (undefined: the embedded operator), or throws FX_FORBIDDEN after recording the denial.
   */
  authorize(
    action: Action,
    target: SecretTarget | 'tenant',
    auditAction: string,
  ): Promise<AccessActor | undefined>;
  /** Records an operation's entry (fails with FX_AUDIT_UNAVAILABLE when it cannot). */
  record(
    action: string,
    resource: AuditResource,
    error: unknown,
    facts: Facts,
    actor?: AccessActor,
  ): Promise<void>;
  /** `hmac-sha256:<hex>` of a value, for the entry. */
  hash(value: string): string;
}

/** The audit resource of a target. */
export function auditResourceOf(tenant: string, target: SecretTarget | 'tenant'): AuditResource {
  if (target === 'tenant') return { type: 'tenant', tenant };
  return target.audit ?? { type: 'secret', tenant, path: target.path };
}

/**
 * Runs one facade operation: decide, run, record the outcome (with `facts` of the result), and
 * rethrow a failure after recording it. A result whose entry cannot be recorded is not returned.
 */
export async function runAudited<T>(
  access: SecretsAccess,
  action: Action,
  auditAction: string,
  target: SecretTarget | 'tenant',
  body: () => Promise<T>,
  facts: (result: T) => Facts = () => ({}),
  known: Facts = {},
): Promise<T> {
  const actor = await access.authorize(action, target, auditAction);
  return runDecided(access, actor, auditAction, target, body, facts, known);
}

/**
 * The part of `runAudited` after the decision (`actor`, from `access.authorize`): for a facade
 * that must decide before it reads anything, then may find there is nothing to do.
 */
export async function runDecided<T>(
  access: SecretsAccess,
  actor: AccessActor | undefined,
  auditAction: string,
  target: SecretTarget | 'tenant',
  body: () => Promise<T>,
  facts: (result: T) => Facts = () => ({}),
  known: Facts = {},
): Promise<T> {
  const resource = auditResourceOf(access.tenant, target);
  let result: T;
  try {
    result = await body();
  } catch (error) {
    await access.record(auditAction, resource, error, known, actor);
    throw error;
  }
  await access.record(auditAction, resource, null, { ...known, ...facts(result) }, actor);
  return result;
}
