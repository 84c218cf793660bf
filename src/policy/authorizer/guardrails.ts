/**
 * @module policy/authorizer/guardrails
 * The built-in `forbid` policies that every policy set carries and no one can remove or override:
 * in Cedar a `forbid` wins over any `permit`, so whatever operators and tenants write, these hold.
 *
 * - Tenant isolation: a principal acts only on resources of its own tenant (system resources, whose
 *   tenant is `*`, are governed by permits alone).
 * - Bell–LaPadula simple security property (no read up): reading, decrypting or querying a resource
 *   needs a clearance whose level is at least the resource's and whose compartments include all of
 *   the resource's.
 * - Bell–LaPadula ★-property (no write down): inserting, updating or deleting a resource labelled
 *   below the principal's (session) level is refused.
 */

/** Ids of built-in policies start with this; user policies may not. */
export const GUARDRAIL_PREFIX = 'fortress.guard.';

export const GUARDRAILS: Readonly<Record<string, string>> = Object.freeze({
  [`${GUARDRAIL_PREFIX}tenant`]: `forbid (principal, action, resource)
unless { resource.tenant == principal.tenant || resource.tenant == "*" };`,
  [`${GUARDRAIL_PREFIX}no-read-up`]: `forbid (
  principal,
  action in [Fortress::Action::"read", Fortress::Action::"decrypt", Fortress::Action::"query"],
  resource
)
when { resource.level > principal.level || !principal.compartments.containsAll(resource.compartments) };`,
  [`${GUARDRAIL_PREFIX}no-write-down`]: `forbid (
  principal,
  action in [Fortress::Action::"insert", Fortress::Action::"update", Fortress::Action::"delete"],
  resource
)
when { resource.level < principal.level };`,
});

/** Human wording of each guardrail, for denials (`FX_FORBIDDEN`) and `policy explain`. */
export const GUARDRAIL_REASONS: Readonly<Record<string, string>> = Object.freeze({
  [`${GUARDRAIL_PREFIX}tenant`]: 'the resource belongs to another tenant',
  [`${GUARDRAIL_PREFIX}no-read-up`]: "the resource's security label is above the principal's clearance",
  [`${GUARDRAIL_PREFIX}no-write-down`]: "the write is labelled below the principal's level",
});
