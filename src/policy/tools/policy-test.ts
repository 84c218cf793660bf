/**
 * @module policy/tools/policy-test
 * Policy unit tests: a file of requests with the decision each one must get, run against a
 * decision function (normally a loaded `Authorizer`), so a policy change that opens or closes
 * access by accident fails a check before it ships. Pure: parsing and running touch no I/O.
 *
 * A test file is JSON:
 *
 * ```json
 * { "cases": [
 *   { "name": "ann reads patients", "principal": "user:acme/ann", "action": "read",
 *     "resource": "table:acme/main/patients", "expect": "allow" },
 *   { "name": "no decrypt", "principal": "user:acme/ann", "action": "decrypt",
 *     "resource": "column:acme/main/patients/ssn", "context": { "breakGlass": false }, "expect": "deny" }
 * ] }
 * ```
 *
 * Entities are written `<kind>:<path>`, the path being the entity id (see `fortress-schema`):
 *
 * | reference                         | entity                      |
 * |-----------------------------------|-----------------------------|
 * | `user:<tenant>/<name>`            | `User`                      |
 * | `service:<tenant>/<name>`         | `ServiceAccount`            |
 * | `tenant:<tenant>`                 | `Tenant`                    |
 * | `database:<tenant>/<db>`          | `Database`                  |
 * | `table:<tenant>/<db>/<table>`     | `Table`                     |
 * | `column:<tenant>/<db>/<table>/<column>` | `Column`              |
 * | `row:<tenant>/<db>/<table>/<row id>`    | `Row`                 |
 * | `key:<tenant>/<id…>`              | `Key` (the id may have `/`) |
 * | `policy:<tenant>/<id>`            | `Policy`                    |
 * | `audit:<tenant>[/<id>]`           | `AuditLog`                  |
 * | `system`                          | `System` (id `system`)      |
 *
 * Every field is checked when the file is parsed, with a message naming the case (numbered from
 * 1) and the field, so a typo fails loudly instead of becoming a test that passes by being denied.
 * For the same reason an action applied to a resource type it does not apply to is refused.
 */
import { describe } from '../../util/bytes.js';
import type { FortressError } from '../../util/errors.js';
import { InvalidArgumentError } from '../../util/errors.js';
import {
  Authorizer,
  resourceTypesOf,
  type Decision,
  type EntityRef,
  type RequestContext,
} from '../authorizer/authorizer.js';
import { parseJsonText } from './policy-file.js';
import { ACTIONS, PRINCIPAL_TYPES, RESOURCE_TYPES, type Action } from '../schema/fortress-schema.js';

/** The request context a case may set; anything left out takes the authorizer's default. */
export interface PolicyTestContext {
  /** Unix seconds. */
  readonly now?: number;
  readonly clientAddress?: string;
  readonly breakGlass?: boolean;
}

export interface PolicyTestCase {
  /** Unique within a file; names the case in reports. */
  readonly name: string;
  /** `user:…` or `service:…`. */
  readonly principal: string;
  readonly action: Action;
  /** Any non-principal reference, e.g. `table:acme/main/patients`. */
  readonly resource: string;
  readonly context?: PolicyTestContext;
  readonly expect: 'allow' | 'deny';
}

/** Decides one request; `Authorizer.authorize` wrapped. */
export type PolicyDecider = (
  principal: EntityRef,
  action: Action,
  resource: EntityRef,
  context: RequestContext,
) => Decision;

export interface PolicyTestFailure {
  readonly case: PolicyTestCase;
  readonly decision: Decision;
  /** What was expected and what decided instead, e.g. `expected allow, but no policy permits it`. */
  readonly explanation: string;
}

export interface PolicyTestReport {
  readonly passed: number;
  /** In the order the cases were given. */
  readonly failed: readonly PolicyTestFailure[];
}

/** A test file may hold at most this many cases. */
export const MAX_POLICY_TEST_CASES = 10_000;
const MAX_NAME = 200;
const MAX_CLIENT_ADDRESS = 256;
const MAX_REF = 1024;

/** Entity id segments: conservative, so every id is safe to echo and unambiguous to split. */
const SEGMENT_RE = /^[A-Za-z0-9_.:@+=~-]{1,128}$/;
const CONTROL_RE = /\p{Cc}/u;
const PRINTABLE_RE = /^[\x20-\x7e]*$/;

interface RefKind {
  readonly type: string;
  /** Path segments allowed, and what they are (for messages). */
  readonly min: number;
  readonly max: number;
  readonly shape: string;
}

const REF_KINDS: Readonly<Record<string, RefKind>> = Object.freeze({
  user: { type: 'User', min: 2, max: 2, shape: '<tenant>/<name>' },
  service: { type: 'ServiceAccount', min: 2, max: 2, shape: '<tenant>/<name>' },
  tenant: { type: 'Tenant', min: 1, max: 1, shape: '<tenant>' },
  database: { type: 'Database', min: 2, max: 2, shape: '<tenant>/<database>' },
  table: { type: 'Table', min: 3, max: 3, shape: '<tenant>/<database>/<table>' },
  column: { type: 'Column', min: 4, max: 4, shape: '<tenant>/<database>/<table>/<column>' },
  row: { type: 'Row', min: 4, max: 4, shape: '<tenant>/<database>/<table>/<row id>' },
  key: { type: 'Key', min: 2, max: 16, shape: '<tenant>/<key id>' },
  policy: { type: 'Policy', min: 2, max: 2, shape: '<tenant>/<policy id>' },
  audit: { type: 'AuditLog', min: 1, max: 2, shape: '<tenant>[/<id>]' },
  secret: { type: 'Secret', min: 2, max: 64, shape: '<tenant>/<secret path>' },
  'transit-key': { type: 'TransitKey', min: 2, max: 2, shape: '<tenant>/<key name>' },
  'database-role': { type: 'DatabaseRole', min: 2, max: 2, shape: '<tenant>/<role name>' },
});
const SYSTEM_REF: EntityRef = Object.freeze({ type: 'System', id: 'system' });
const KIND_LIST = [...Object.keys(REF_KINDS), 'system'].join(', ');

/** Quotes a value for a message when it is short printable text, so odd input never reaches a log. */
function shown(value: string): string {
  if (!PRINTABLE_RE.test(value)) return 'a value with non-printable characters';
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/**
 * Parses an entity reference such as `user:acme/ann` or `system`. `what` names the argument in the
 * `InvalidArgumentError` (`FX_INVALID_ARGUMENT`) thrown when the reference is malformed.
 */
export function parseEntityRef(text: string, what: string): EntityRef {
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(what, `expected a reference like "user:acme/ann", got ${describe(text)}`);
  }
  if (text.length > MAX_REF) throw new InvalidArgumentError(what, `longer than ${MAX_REF} characters`);
  if (text === 'system') return SYSTEM_REF;
  const colon = text.indexOf(':');
  const prefix = colon < 0 ? text : text.slice(0, colon);
  if (prefix === 'system') throw new InvalidArgumentError(what, 'the system reference is just "system"');
  const kind = Object.hasOwn(REF_KINDS, prefix) ? REF_KINDS[prefix] : undefined;
  if (kind === undefined || colon < 0) {
    throw new InvalidArgumentError(
      what,
      `${shown(text)} is not <kind>:<path> with kind one of ${KIND_LIST} (e.g. "user:acme/ann")`,
    );
  }
  const path = text.slice(colon + 1);
  const segments = path.split('/');
  if (
    segments.length < kind.min ||
    segments.length > kind.max ||
    !segments.every((s) => SEGMENT_RE.test(s))
  ) {
    throw new InvalidArgumentError(
      what,
      `${shown(text)} is not ${prefix}:${kind.shape} (each part 1-128 letters, digits or _.:@+=~-)`,
    );
  }
  return { type: kind.type, id: path };
}

const CASE_FIELDS: ReadonlySet<string> = new Set([
  'name',
  'principal',
  'action',
  'resource',
  'context',
  'expect',
]);
const CONTEXT_FIELDS: ReadonlySet<string> = new Set(['now', 'clientAddress', 'breakGlass']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function parseContext(value: unknown): PolicyTestContext {
  if (!isRecord(value)) throw new Error(`context: expected an object, got ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (!CONTEXT_FIELDS.has(key)) {
      throw new Error(`context: unknown field ${shown(key)} (expected now, clientAddress, breakGlass)`);
    }
  }
  const { now, clientAddress, breakGlass } = value;
  const context: { now?: number; clientAddress?: string; breakGlass?: boolean } = {};
  if (now !== undefined) {
    if (typeof now !== 'number' || !Number.isSafeInteger(now) || now < 0) {
      throw new Error('context.now: expected Unix seconds, a non-negative integer');
    }
    context.now = now;
  }
  if (clientAddress !== undefined) {
    if (
      typeof clientAddress !== 'string' ||
      clientAddress.length === 0 ||
      clientAddress.length > MAX_CLIENT_ADDRESS ||
      CONTROL_RE.test(clientAddress)
    ) {
      throw new Error(`context.clientAddress: expected 1-${MAX_CLIENT_ADDRESS} characters of text`);
    }
    context.clientAddress = clientAddress;
  }
  if (breakGlass !== undefined) {
    if (typeof breakGlass !== 'boolean') throw new Error('context.breakGlass: expected true or false');
    context.breakGlass = breakGlass;
  }
  return context;
}

/**
 * Parses a request context (`{ "now": …, "clientAddress": …, "breakGlass": … }`) as test cases hold
 * it; `FX_INVALID_ARGUMENT` naming the field otherwise.
 */
export function parsePolicyTestContext(value: unknown): PolicyTestContext {
  try {
    return parseContext(value);
  } catch (error) {
    throw new InvalidArgumentError('context', (error as Error).message.replace(/^context(\.|: )/, ''));
  }
}

/** The request context a parsed test context stands for. */
export function requestContextOf(context: PolicyTestContext | undefined): RequestContext {
  return requestContext(context);
}

/**
 * A request's references (`user:acme/ann`, `table:acme/main/patients`), checked against the roles
 * they play and against the action's schema (`FX_INVALID_ARGUMENT` naming the problem).
 */
export function parseRequestRefs(
  principal: string,
  action: Action,
  resource: string,
): { principal: EntityRef; resource: EntityRef } {
  return parseCaseRefs(principal, action, resource);
}

/** A case's references, checked against the roles they play and against the action's schema. */
function parseCaseRefs(
  principalText: unknown,
  action: Action,
  resourceText: unknown,
): { principal: EntityRef; resource: EntityRef } {
  const principal = parseEntityRef(principalText as string, 'principal');
  if (!(PRINCIPAL_TYPES as readonly string[]).includes(principal.type)) {
    throw new InvalidArgumentError('principal', 'must be a user:… or service:… reference');
  }
  const resource = parseEntityRef(resourceText as string, 'resource');
  if (!(RESOURCE_TYPES as readonly string[]).includes(resource.type)) {
    throw new InvalidArgumentError('resource', 'a user or service account is not a resource');
  }
  const types = resourceTypesOf(action);
  if (!types.includes(resource.type)) {
    throw new InvalidArgumentError(
      'resource',
      `action "${action}" does not apply to a ${resource.type} (it applies to ${types.join(', ')})`,
    );
  }
  return { principal, resource };
}

function parseCase(raw: unknown, label: string, names: Map<string, number>, index: number): PolicyTestCase {
  const fail = (message: string): FortressError => new InvalidArgumentError(label, message);
  if (!isRecord(raw)) throw fail(`expected an object, got ${describe(raw)}`);
  const { name } = raw;
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME || CONTROL_RE.test(name)) {
    throw fail(`name: expected 1-${MAX_NAME} characters of text`);
  }
  // From here on the message names the case, so the author finds it without counting.
  const named = (message: string): FortressError =>
    new InvalidArgumentError(`${label} (${shown(name)})`, message);
  const earlier = names.get(name);
  if (earlier !== undefined) throw named(`name: already used by case ${earlier}`);
  names.set(name, index);
  for (const key of Object.keys(raw)) {
    if (!CASE_FIELDS.has(key)) {
      throw named(`unknown field ${shown(key)} (expected ${[...CASE_FIELDS].join(', ')})`);
    }
  }
  for (const key of ['principal', 'action', 'resource', 'expect']) {
    if (raw[key] === undefined) throw named(`missing "${key}"`);
  }
  const { principal, action, resource, context, expect } = raw;
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
    throw named(
      typeof action === 'string'
        ? `unknown action ${shown(action)}`
        : `action: expected a string, got ${describe(action)}`,
    );
  }
  try {
    parseCaseRefs(principal, action as Action, resource);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    throw named(error.message);
  }
  let parsedContext: PolicyTestContext | undefined;
  if (context !== undefined) {
    try {
      parsedContext = parseContext(context);
    } catch (error) {
      throw named((error as Error).message);
    }
  }
  if (expect !== 'allow' && expect !== 'deny') throw named('expect: must be "allow" or "deny"');
  return {
    name,
    principal: principal as string,
    action: action as Action,
    resource: resource as string,
    ...(parsedContext === undefined ? {} : { context: parsedContext }),
    expect,
  };
}

/**
 * Parses a policy test file. Throws `FortressError('FX_INVALID_ARGUMENT')` naming the first bad
 * case and field, e.g. `case 3 ("ann reads"): unknown action "reed"`.
 *
 * @example
 * ```ts
 * const cases = parsePolicyTestFile(await readFile('policy-tests.json', 'utf8'));
 * const report = runPolicyTests(cases, (principal, action, resource, context) =>
 *   authorizer.authorize({ principal, action, resource, context }));
 * ```
 */
export function parsePolicyTestFile(text: string): PolicyTestCase[] {
  if (typeof text !== 'string') {
    throw new InvalidArgumentError('policy test file', `expected JSON text, got ${describe(text)}`);
  }
  const root = parseJsonText(text, 'policy test file');
  if (!isRecord(root)) {
    throw new InvalidArgumentError(
      'policy test file',
      `expected an object { "cases": [...] }, got ${describe(root)}`,
    );
  }
  for (const key of Object.keys(root)) {
    if (key !== 'cases') {
      throw new InvalidArgumentError('policy test file', `unknown field ${shown(key)} (expected "cases")`);
    }
  }
  const { cases } = root;
  if (!Array.isArray(cases)) {
    throw new InvalidArgumentError('policy test file', `"cases": expected an array, got ${describe(cases)}`);
  }
  if (cases.length === 0 || cases.length > MAX_POLICY_TEST_CASES) {
    throw new InvalidArgumentError(
      'policy test file',
      `"cases": expected 1 to ${MAX_POLICY_TEST_CASES} cases, got ${cases.length}`,
    );
  }
  const names = new Map<string, number>();
  return cases.map((raw: unknown, i) => parseCase(raw, `case ${i + 1}`, names, i + 1));
}

function requestContext(context: PolicyTestContext | undefined): RequestContext {
  if (context === undefined) return {};
  return {
    ...(context.now === undefined ? {} : { now: context.now }),
    ...(context.clientAddress === undefined ? {} : { clientAddress: context.clientAddress }),
    ...(context.breakGlass === undefined ? {} : { breakGlass: context.breakGlass }),
  };
}

/**
 * Runs every case through `decide` and reports the ones whose decision differs from `expect`.
 * A case with a malformed reference throws `FX_INVALID_ARGUMENT` naming it (cases built in code
 * skip `parsePolicyTestFile`'s checks).
 */
export function runPolicyTests(cases: readonly PolicyTestCase[], decide: PolicyDecider): PolicyTestReport {
  let passed = 0;
  const failed: PolicyTestFailure[] = [];
  cases.forEach((testCase, i) => {
    let principal: EntityRef;
    let resource: EntityRef;
    try {
      ({ principal, resource } = parseCaseRefs(testCase.principal, testCase.action, testCase.resource));
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      throw new InvalidArgumentError(`case ${i + 1} (${shown(testCase.name)})`, error.message);
    }
    const decision = decide(principal, testCase.action, resource, requestContext(testCase.context));
    if (decision.allowed === (testCase.expect === 'allow')) {
      passed++;
    } else {
      failed.push({
        case: testCase,
        decision,
        explanation: `expected ${testCase.expect}, but ${Authorizer.explain(decision)}`,
      });
    }
  });
  return { passed, failed };
}
