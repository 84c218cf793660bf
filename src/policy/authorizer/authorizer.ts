/**
 * @module policy/authorizer/authorizer
 * Decides requests with Cedar (`@cedar-policy/cedar-wasm`): deny by default, `forbid` beats
 * `permit`, the built-in guardrails always present. Policies are validated against Fortress's
 * schema when loaded — Cedar's `validate` can answer `success` and still list `validationErrors`,
 * so both are checked — and pre-parsed once, so an uncached decision parses only its entities.
 *
 * Decisions are cached per (principal and session, action, resource) and the whole cache is
 * dropped whenever policies or entities change. Actions that some policy decides from `context`
 * (time, client address, break-glass) are never cached: those are evaluated every time.
 *
 * Evaluation is pure: entities come from an {@link EntitySource} the caller supplies.
 */
import { setFlagsFromString } from 'node:v8';
import {
  checkParseSchema,
  policySetTextToParts,
  policyToJson,
  preparsePolicySet,
  preparseSchema,
  schemaToJson,
  statefulIsAuthorized,
  validate,
  type CedarValueJson,
  type DetailedError,
  type EntityJson,
  type PolicyJson,
} from '@cedar-policy/cedar-wasm/nodejs';
import { FortressError } from '../../util/errors.js';
import {
  ACTIONS,
  FORTRESS_CEDAR_SCHEMA,
  NAMESPACE,
  PRINCIPAL_TYPES,
  type Action,
} from '../schema/fortress-schema.js';
import { GUARDRAIL_PREFIX, GUARDRAIL_REASONS, GUARDRAILS } from './guardrails.js';

// Node 20's V8 (11.3) crashes the process ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when it lazily deoptimizes optimized code into which
// it inlined a JS→Wasm call — here setPolicies → policyJson → cedar-wasm's policyToJson, after a
// reopen (test/policy/enforcement.test.ts on PostgreSQL reproduced it every run). Turning that one
// inlining off keeps Cedar's calls as ordinary calls; it affects compilation only, so setting it
// at load, before any of Cedar's calls is optimized, is safe. Limited to Node 20, where it was seen.
if (process.versions.node.startsWith('20.')) setFlagsFromString('--no-turbo-inline-js-wasm-calls');

/** A Cedar entity reference: `type` without the namespace (`User`, `Table`, …). */
export interface EntityRef {
  readonly type: string;
  readonly id: string;
}

/** An entity with its attributes and direct parents. */
export interface CedarEntity {
  readonly uid: EntityRef;
  readonly attrs: Readonly<Record<string, CedarValueJson>>;
  readonly parents: readonly EntityRef[];
}

/** Supplies the entities a decision needs: the principal, the resource and all their ancestors. */
export interface EntitySource {
  entities(principal: EntityRef, resource: EntityRef): readonly CedarEntity[];
}

export interface RequestContext {
  /** Unix seconds. @default now */
  readonly now?: number;
  readonly clientAddress?: string;
  /** The caller invoked break-glass for this session. @default false */
  readonly breakGlass?: boolean;
}

export interface AuthorizationRequest {
  readonly principal: EntityRef;
  readonly action: Action;
  readonly resource: EntityRef;
  readonly context?: RequestContext;
  /**
   * What else distinguishes this principal's entity besides its id (e.g. a session's working
   * label): part of the cache key, so two sessions of one user never share a cached decision.
   */
  readonly variant?: string;
  /** Attributes that replace the principal entity's own (a session's working label). */
  readonly principalAttrs?: Readonly<Record<string, CedarValueJson>>;
}

export interface Decision {
  readonly allowed: boolean;
  /** The policies that determined the decision (the permits that allowed, or the forbids that denied). */
  readonly policies: readonly string[];
  /** Policies whose evaluation failed (a failed `forbid` denies: fail closed). */
  readonly errors: readonly string[];
  /** A determining permit is marked `@breakGlass`: the access must be loudly recorded. */
  readonly breakGlass: boolean;
  /** The decision came from the cache. */
  readonly cached: boolean;
}

/** One validator finding. */
export interface PolicyIssue {
  readonly policy: string;
  readonly message: string;
}

/** Policy ids: letters, digits and `._:-`, at most 128 characters. */
export const POLICY_ID_RE: RegExp = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const MAX_POLICY_TEXT = 64 * 1024;
/** The `errors` entry of a decision about a principal the entity source does not know. */
const UNKNOWN_PRINCIPAL = 'principal: unknown';
const MAX_CACHE_ENTRIES = 100_000;
const SCHEMA_NAME = 'fortress';

let schemaReady = false;
function ensureSchema(): void {
  if (schemaReady) return;
  const answer = preparseSchema(SCHEMA_NAME, FORTRESS_CEDAR_SCHEMA);
  if (answer.type !== 'success') {
    throw new FortressError(
      'FX_POLICY_INVALID',
      `the built-in Cedar schema does not parse: ${messages(answer.errors)}`,
    );
  }
  schemaReady = true;
}

function messages(errors: readonly DetailedError[]): string {
  return errors.map((e) => (e.help ? `${e.message} (${e.help})` : e.message)).join('; ');
}

function invalid(issues: readonly PolicyIssue[]): FortressError {
  const text = issues
    .slice(0, 10)
    .map((i) => `${i.policy}: ${i.message}`)
    .join('; ');
  const more = issues.length > 10 ? ` (and ${issues.length - 10} more)` : '';
  return new FortressError('FX_POLICY_INVALID', `invalid policy: ${text}${more}`);
}

/**
 * Checks user policies (id → Cedar text, one policy each) against the schema, together with the
 * guardrails. Returns every finding; an empty list means the set is valid.
 */
export function checkPolicies(policies: Readonly<Record<string, string>>): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  if (
    (policies as unknown) === null ||
    typeof (policies as unknown) !== 'object' ||
    Array.isArray(policies)
  ) {
    return [{ policy: '(set)', message: 'expected a record of policy id → Cedar text' }];
  }
  for (const [id, text] of Object.entries(policies)) {
    if (!POLICY_ID_RE.test(id)) {
      issues.push({
        policy: POLICY_ID_RE.test(id.slice(0, 128)) ? id : '(id)',
        message: 'a policy id is 1-128 letters, digits or ._:- starting with a letter or digit',
      });
      continue;
    }
    if (id.startsWith(GUARDRAIL_PREFIX)) {
      issues.push({
        policy: id,
        message: `ids starting with "${GUARDRAIL_PREFIX}" are reserved for built-in guardrails`,
      });
      continue;
    }
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_POLICY_TEXT) {
      issues.push({ policy: id, message: `expected Cedar text of 1 to ${MAX_POLICY_TEXT} characters` });
      continue;
    }
    const parts = policySetTextToParts(text);
    if (parts.type !== 'success') {
      issues.push({ policy: id, message: messages(parts.errors) });
      continue;
    }
    if (parts.policy_templates.length > 0 || parts.policies.length !== 1) {
      issues.push({
        policy: id,
        message: `expected exactly one static policy, found ${parts.policies.length} policies and ${parts.policy_templates.length} templates`,
      });
    }
  }
  if (issues.length > 0) return issues;
  ensureSchema();
  const answer = validate({
    schema: FORTRESS_CEDAR_SCHEMA,
    policies: { staticPolicies: { ...policies, ...GUARDRAILS } },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type !== 'success') return [{ policy: '(set)', message: messages(answer.errors) }];
  // A "success" answer still carries the validator's findings: each one rejects the set. Warnings
  // do too — an impossible policy, or one whose scope fits no action, is a mistake that would
  // silently grant or forbid nothing, and Unicode-confusable identifiers are a classic trick.
  const seen = new Set<string>();
  for (const finding of [...answer.validationErrors, ...answer.validationWarnings]) {
    const message = messages([finding.error]);
    const key = `${finding.policyId}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ policy: finding.policyId, message });
  }
  for (const warning of answer.otherWarnings) issues.push({ policy: '(set)', message: messages([warning]) });
  return issues;
}

/** Cedar JSON of one policy's text (after `checkPolicies` accepted it). */
export function policyJson(text: string): PolicyJson {
  const answer = policyToJson(text);
  if (answer.type !== 'success') throw new FortressError('FX_POLICY_INVALID', messages(answer.errors));
  return answer.json;
}

// Plain loops here, not Array.prototype.some with a recursive callback: the same V8 crash as
// above was first seen with a `some` continuation over this function on the stack.
function mentionsContext(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false;
  if (Array.isArray(node)) {
    for (const item of node as unknown[]) if (mentionsContext(item)) return true;
    return false;
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'Var' && value === 'context') return true;
    if (mentionsContext(value)) return true;
  }
  return false;
}

/** Actions a policy's scope can match. */
function actionsOf(policy: PolicyJson): readonly Action[] {
  const scope = policy.action;
  const ids = (refs: readonly unknown[]): Action[] =>
    refs
      .map((r) => {
        const ref = r as { id?: string; __entity?: { id: string } };
        return ref.__entity?.id ?? ref.id ?? '';
      })
      .filter((id): id is Action => (ACTIONS as readonly string[]).includes(id));
  if (scope.op === 'All') return ACTIONS;
  if (scope.op === '==') return 'entity' in scope ? ids([scope.entity]) : ACTIONS;
  return 'entities' in scope ? ids(scope.entities) : ids([scope.entity]);
}

let nextSetId = 0;

/**
 * @example
 * ```ts
 * const authorizer = new Authorizer(directory);          // directory implements EntitySource
 * authorizer.setPolicies({ 'analysts-read': 'permit (principal in Fortress::Role::"acme/analyst", …);' });
 * const d = authorizer.authorize({
 *   principal: { type: 'User', id: 'acme/ann' },
 *   action: 'read',
 *   resource: { type: 'Table', id: 'acme/main/patients' },
 * });
 * d.allowed; d.policies; // true, ['analysts-read']
 * ```
 */
export class Authorizer {
  readonly #source: EntitySource;
  readonly #setId = `fortress-${nextSetId++}`;
  readonly #cache = new Map<string, Decision>();
  #policies: Readonly<Record<string, string>> = Object.freeze({});
  #contextActions: ReadonlySet<Action> = new Set();
  #breakGlassPolicies: ReadonlySet<string> = new Set();
  #generation = 0;
  /** Which of the two preparsed slots is in use, and its set id per action. */
  #slot: 'a' | 'b' = 'b';
  #setIds: ReadonlyMap<Action, string> = new Map();

  constructor(source: EntitySource) {
    this.#source = source;
    this.setPolicies({});
  }

  /** The user policies in force (guardrails not included). */
  get policies(): Readonly<Record<string, string>> {
    return this.#policies;
  }

  /** Bumped whenever policies or entities change. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Replaces the user policies. The whole set is validated first (`FX_POLICY_INVALID` with the
   * validator's messages): on any error nothing changes.
   */
  setPolicies(policies: Readonly<Record<string, string>>): void {
    const issues = checkPolicies(policies);
    if (issues.length > 0) throw invalid(issues);
    const copy = Object.freeze({ ...policies });
    const all = { ...copy, ...GUARDRAILS };
    const contextActions = new Set<Action>();
    const breakGlass = new Set<string>();
    // One preparsed set per action, holding the policies whose action scope can match it: a
    // policy scoped to other actions is never satisfied, so leaving it out changes no decision,
    // and Cedar's evaluation time grows with the policies it is given.
    const byAction = new Map<Action, Record<string, string>>(ACTIONS.map((a) => [a, {}]));
    for (const [id, text] of Object.entries(all)) {
      const json = policyJson(text);
      const actions = actionsOf(json);
      for (const action of actions) byAction.get(action)![id] = text;
      let contextual = false;
      for (const condition of json.conditions) contextual ||= mentionsContext(condition.body);
      if (contextual) for (const action of actions) contextActions.add(action);
      if (json.annotations !== undefined && 'breakGlass' in json.annotations) breakGlass.add(id);
    }
    // Into the slot not in use, switched to only once every set parsed: on error nothing changes
    // (cedar-wasm cannot drop a set, so two slots are reused rather than a new id each time).
    const slot = this.#slot === 'a' ? 'b' : 'a';
    for (const [action, subset] of byAction) {
      const answer = preparsePolicySet(`${this.#setId}/${slot}/${action}`, { staticPolicies: subset });
      if (answer.type !== 'success') throw new FortressError('FX_POLICY_INVALID', messages(answer.errors));
    }
    this.#slot = slot;
    this.#setIds = new Map(ACTIONS.map((a) => [a, `${this.#setId}/${slot}/${a}`]));
    this.#policies = copy;
    this.#contextActions = contextActions;
    this.#breakGlassPolicies = breakGlass;
    this.invalidate();
  }

  /** Drops every cached decision (call on any principal, group, role or resource change). */
  invalidate(): void {
    this.#cache.clear();
    this.#generation++;
  }

  /** Whether `action` is decided from request context, and so never cached. */
  isContextual(action: Action): boolean {
    return this.#contextActions.has(action);
  }

  authorize(request: AuthorizationRequest): Decision {
    const cacheable = !this.#contextActions.has(request.action);
    let key = '';
    if (cacheable) {
      key = `${request.principal.type}\u0000${request.principal.id}\u0000${request.variant ?? ''}\u0000${request.action}\u0000${request.resource.type}\u0000${request.resource.id}`;
      const hit = this.#cache.get(key);
      if (hit !== undefined) return hit;
    }
    const decision = this.evaluate(request);
    if (cacheable) {
      if (this.#cache.size >= MAX_CACHE_ENTRIES) this.#cache.clear();
      this.#cache.set(key, { ...decision, cached: true });
    }
    return decision;
  }

  /** Evaluates without the cache (the property tests compare the two). */
  evaluate(request: AuthorizationRequest): Decision {
    // The request is checked against the schema here, cheaply, rather than by Cedar: Cedar's own
    // request validation and schema-typed entity parsing cost ~40% of an uncached decision, and
    // the entities come from Fortress's store, typed by construction.
    const problem = requestProblem(request);
    if (problem !== null) {
      return {
        allowed: false,
        policies: [],
        errors: [`request: ${problem}`],
        breakGlass: false,
        cached: false,
      };
    }
    const known = this.#source.entities(request.principal, request.resource);
    if (!known.some((e) => e.uid.type === request.principal.type && e.uid.id === request.principal.id)) {
      // No such principal: every policy on its attributes would error; say so instead.
      return { allowed: false, policies: [], errors: [UNKNOWN_PRINCIPAL], breakGlass: false, cached: false };
    }
    const entities: EntityJson[] = known.map((e) => ({
      uid: qualified(e.uid),
      attrs:
        request.principalAttrs !== undefined &&
        e.uid.type === request.principal.type &&
        e.uid.id === request.principal.id
          ? { ...e.attrs, ...request.principalAttrs }
          : { ...e.attrs },
      parents: e.parents.map(qualified),
    }));
    const context = request.context ?? {};
    const answer = statefulIsAuthorized({
      principal: qualified(request.principal),
      action: { type: `${NAMESPACE}::Action`, id: request.action },
      resource: qualified(request.resource),
      context: {
        now: context.now ?? Math.floor(Date.now() / 1000),
        breakGlass: context.breakGlass ?? false,
        ...(context.clientAddress === undefined ? {} : { clientAddress: context.clientAddress }),
      },
      preparsedPolicySetId: this.#setIds.get(request.action)!,
      validateRequest: false,
      entities,
    });
    if (answer.type !== 'success') {
      // A malformed request (wrong entity type for the action, bad attributes) is denied.
      return {
        allowed: false,
        policies: [],
        errors: [`request: ${messages(answer.errors)}`],
        breakGlass: false,
        cached: false,
      };
    }
    const { decision, diagnostics } = answer.response;
    const errored = diagnostics.errors.map((e) => e.policyId);
    // Cedar skips a policy whose evaluation errors. For a forbid that would fail open: deny instead.
    const failedForbids = errored.filter((id) => id.startsWith(GUARDRAIL_PREFIX) || this.#isForbid(id));
    if (failedForbids.length > 0) {
      return { allowed: false, policies: failedForbids, errors: errored, breakGlass: false, cached: false };
    }
    const allowed = decision === 'allow';
    return {
      allowed,
      policies: diagnostics.reason,
      errors: errored,
      breakGlass: allowed && diagnostics.reason.some((id) => this.#breakGlassPolicies.has(id)),
      cached: false,
    };
  }

  #isForbid(id: string): boolean {
    const text = this.#policies[id];
    return text !== undefined && policyJson(text).effect === 'forbid';
  }

  /** A one-line, data-free explanation of a decision. */
  static explain(decision: Decision): string {
    if (decision.allowed) return `allowed by ${decision.policies.join(', ')}`;
    if (decision.policies.length === 0) {
      if (decision.errors.includes(UNKNOWN_PRINCIPAL)) return 'the principal does not exist';
      return decision.errors.some((e) => e.startsWith('request:'))
        ? 'the request does not fit the schema (no policy applies)'
        : 'no policy permits it';
    }
    const guard = decision.policies.find((id) => id in GUARDRAIL_REASONS);
    if (guard !== undefined) return `forbidden by ${guard}: ${GUARDRAIL_REASONS[guard]}`;
    return `forbidden by ${decision.policies.join(', ')}`;
  }
}

let appliesTo: ReadonlyMap<string, readonly string[]> | undefined;

/** Resource types each action applies to, read from the schema itself so the two never drift. */
export function resourceTypesOf(action: Action): readonly string[] {
  if (appliesTo === undefined) {
    const answer = schemaToJson(FORTRESS_CEDAR_SCHEMA);
    if (answer.type !== 'success') {
      throw new FortressError('FX_POLICY_INVALID', 'the built-in Cedar schema does not parse');
    }
    const actions = answer.json[NAMESPACE]?.actions ?? {};
    appliesTo = new Map(
      Object.entries(actions).map(([name, spec]) => [name, spec.appliesTo?.resourceTypes ?? []]),
    );
  }
  return appliesTo.get(action) ?? [];
}

/** An entity type as a message may show it (caller input: shown only when plainly a type name). */
function typeName(type: string): string {
  return /^[A-Za-z]{1,32}$/.test(type) ? type : 'resource of another type';
}

/** Why a request does not fit the schema (principal type, action, resource type), or null. */
function requestProblem(request: AuthorizationRequest): string | null {
  if (!(PRINCIPAL_TYPES as readonly string[]).includes(request.principal.type)) {
    return `a ${typeName(request.principal.type)} cannot be a principal`;
  }
  if (!(ACTIONS as readonly string[]).includes(request.action)) return 'unknown action';
  if (!resourceTypesOf(request.action).includes(request.resource.type)) {
    return `action ${request.action} does not apply to a ${typeName(request.resource.type)}`;
  }
  const context = request.context;
  if (context !== undefined) {
    if (context.now !== undefined && !Number.isSafeInteger(context.now))
      return 'context.now is not an integer';
    if (context.breakGlass !== undefined && typeof context.breakGlass !== 'boolean') {
      return 'context.breakGlass is not a boolean';
    }
    if (context.clientAddress !== undefined && typeof context.clientAddress !== 'string') {
      return 'context.clientAddress is not a string';
    }
  }
  return null;
}

function qualified(ref: EntityRef): { type: string; id: string } {
  return { type: `${NAMESPACE}::${ref.type}`, id: ref.id };
}

/** Checks that the built-in schema parses (selftest). */
export function checkSchema(): void {
  const answer = checkParseSchema(FORTRESS_CEDAR_SCHEMA);
  if (answer.type !== 'success') throw new FortressError('FX_POLICY_INVALID', messages(answer.errors));
}
