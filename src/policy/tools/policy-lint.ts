/**
 * @module policy/tools/policy-lint
 * Finds policy mistakes the Cedar validator cannot see, because each policy is valid on its own and
 * only the combination is wrong:
 *
 * - `shadowed`: a `permit` whose whole scope is covered by an unconditional `forbid`. Since a forbid
 *   always wins, the permit can never grant anything — almost always a mistake in one of the two.
 * - `conflict`: a `permit` and a `forbid` with exactly the same scope, told apart only by their
 *   conditions. Not necessarily wrong, but which one wins depends on the conditions alone, so it is
 *   listed for the author to check.
 *
 * Scopes are compared structurally on Cedar's JSON form, without the entity hierarchy, so the lint
 * is sound (every `shadowed` finding is real) but not complete: a forbid on a parent role does not
 * shadow a permit on a child role here, because which roles are children is data, not policy.
 * Only user policies are linted; the built-in guardrails are conditional and shadow nothing.
 *
 * @example
 * ```ts
 * lintPolicies({
 *   p: 'permit (principal, action == Fortress::Action::"read", resource is Fortress::Table);',
 *   f: 'forbid (principal, action, resource is Fortress::Table);',
 * });
 * // [{ kind: 'shadowed', policies: ['p', 'f'], message: 'permit "p" can never apply: …' }]
 * ```
 */
import type {
  ActionConstraint,
  EntityUidJson,
  PolicyJson,
  PrincipalConstraint,
  ResourceConstraint,
} from '@cedar-policy/cedar-wasm/nodejs';
import { policyJson } from '../authorizer/authorizer.js';
import { ACTIONS, NAMESPACE } from '../schema/fortress-schema.js';

export interface LintFinding {
  readonly kind: 'shadowed' | 'conflict';
  /** The permit's id, then the forbid's. */
  readonly policies: readonly string[];
  readonly message: string;
}

type ScopeConstraint = PrincipalConstraint | ResourceConstraint;

function uid(ref: EntityUidJson): string {
  const { type, id } = '__entity' in ref ? ref.__entity : ref;
  return `${type}::${JSON.stringify(id)}`;
}

/** The type name of `Fortress::Table::"x"` as written in an `is` constraint (`Fortress::Table`). */
function typeOf(ref: EntityUidJson): string {
  return '__entity' in ref ? ref.__entity.type : ref.type;
}

function inTarget(c: { entity: EntityUidJson } | { slot: string }): string {
  return 'slot' in c ? `?${c.slot}` : uid(c.entity);
}

/** One canonical string per principal or resource constraint: equal strings, equal scopes. */
function scopeKey(c: ScopeConstraint): string {
  switch (c.op) {
    case 'All':
      return '*';
    case '==':
      return `== ${'slot' in c ? `?${c.slot}` : uid(c.entity)}`;
    case 'in':
      return `in ${inTarget(c)}`;
    case 'is':
      return c.in === undefined ? `is ${c.entity_type}` : `is ${c.entity_type} in ${inTarget(c.in)}`;
  }
}

/**
 * Whether every request matching `inner` also matches `outer`, judged without the entity
 * hierarchy. Beyond equality: `in E` contains `== E` (Cedar's `in` is reflexive) and `is T in E`,
 * and `is T` contains anything that can only be a `T`.
 */
function covers(outer: ScopeConstraint, inner: ScopeConstraint): boolean {
  if (outer.op === 'All') return true;
  if (scopeKey(outer) === scopeKey(inner)) return true;
  if (outer.op === 'in' && !('slot' in outer)) {
    if (inner.op === '==' && !('slot' in inner)) return uid(outer.entity) === uid(inner.entity);
    if (inner.op === 'is' && inner.in !== undefined && !('slot' in inner.in)) {
      return uid(outer.entity) === uid(inner.in.entity);
    }
  }
  if (outer.op === 'is' && outer.in === undefined) {
    if (inner.op === 'is') return inner.entity_type === outer.entity_type;
    if (inner.op === '==' && !('slot' in inner)) return typeOf(inner.entity) === outer.entity_type;
  }
  return false;
}

const ALL_ACTIONS: readonly string[] = ACTIONS.map((a) => uid({ type: `${NAMESPACE}::Action`, id: a }));

/** The actions a scope can match. Fortress's schema has no action groups, so `in A` is just `A`. */
function actionSet(c: ActionConstraint): ReadonlySet<string> {
  if (c.op === 'All') return new Set(ALL_ACTIONS);
  if ('slot' in c) return new Set([`?${c.slot}`]);
  return new Set('entities' in c ? c.entities.map(uid) : [uid(c.entity)]);
}

function sameActions(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

interface Parsed {
  readonly id: string;
  readonly json: PolicyJson;
  readonly actions: ReadonlySet<string>;
}

/**
 * Lints a policy set (id → Cedar text, one policy each, as `checkPolicies` accepts). Findings are
 * sorted by the permit's id, then the forbid's. Throws `FX_POLICY_INVALID` if a text
 * does not parse.
 */
export function lintPolicies(policies: Readonly<Record<string, string>>): LintFinding[] {
  const permits: Parsed[] = [];
  const forbids: Parsed[] = [];
  for (const id of Object.keys(policies).sort()) {
    const json = policyJson(policies[id]!);
    const parsed = { id, json, actions: actionSet(json.action) };
    (json.effect === 'permit' ? permits : forbids).push(parsed);
  }
  const findings: LintFinding[] = [];
  for (const p of permits) {
    for (const f of forbids) {
      const unconditional = f.json.conditions.length === 0;
      if (
        unconditional &&
        covers(f.json.principal, p.json.principal) &&
        [...p.actions].every((a) => f.actions.has(a)) &&
        covers(f.json.resource, p.json.resource)
      ) {
        findings.push({
          kind: 'shadowed',
          policies: [p.id, f.id],
          message: `permit "${p.id}" can never apply: the unconditional forbid "${f.id}" covers its whole scope`,
        });
      } else if (
        scopeKey(f.json.principal) === scopeKey(p.json.principal) &&
        sameActions(f.actions, p.actions) &&
        scopeKey(f.json.resource) === scopeKey(p.json.resource)
      ) {
        findings.push({
          kind: 'conflict',
          policies: [p.id, f.id],
          message: `permit "${p.id}" and forbid "${f.id}" have the same scope and differ only in conditions: check which should win`,
        });
      }
    }
  }
  // Both loops already run in id order, so findings come out sorted by (permit, forbid).
  return findings;
}
