/**
 * @module server/routes/policies-routes
 * `/v1/policies`: the Cedar policies in force — list, read, put, remove, add several atomically —
 * through the caller's `session.access` (`managePolicy` on each policy or on the tenant; every
 * change recorded in the audit ledger as the caller), and the checks `fortress policy` runs:
 * validate (any authenticated caller; nothing is read or stored), lint, explain one decision and
 * run test cases. Explain and test evaluate principals and resources of the caller's own tenant
 * only: naming another tenant's is decided as managing that tenant, which its guardrail refuses.
 */
import { Type, type Static } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AccessControl } from '../../access-control.js';
import type { PolicySession } from '../../policy-session.js';
import {
  Authorizer,
  checkPolicies,
  policyJson,
  POLICY_ID_RE,
  type Decision,
  type EntityRef,
  type RequestContext,
} from '../../policy/authorizer/authorizer.js';
import { ACTIONS, SYSTEM_TENANT, type Action } from '../../policy/schema/fortress-schema.js';
import { parsePolicyFile } from '../../policy/tools/policy-file.js';
import { lintPolicies } from '../../policy/tools/policy-lint.js';
import {
  parsePolicyTestContext,
  parsePolicyTestFile,
  parseRequestRefs,
  requestContextOf,
  runPolicyTests,
  MAX_POLICY_TEST_CASES,
  type PolicyTestCase,
} from '../../policy/tools/policy-test.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import type { ServerContext } from '../server-context.js';
import { ErrorResponse } from '../http/schemas.js';
import { emptyBodyAsObject } from '../http/validator.js';

const MAX_POLICY_TEXT = 64 * 1024;
const MAX_POLICIES = 1000;

const PolicyId = Type.String({ minLength: 1, maxLength: 128, pattern: POLICY_ID_RE.source });
const PolicyText = Type.String({ minLength: 1, maxLength: MAX_POLICY_TEXT });
/** id → Cedar text. */
const PolicySet = Type.Record(PolicyId, PolicyText, {
  additionalProperties: false,
  minProperties: 1,
  maxProperties: MAX_POLICIES,
});
const EntityText = Type.String({ minLength: 1, maxLength: 1024, description: 'e.g. user:default/ann' });
const ActionName = Type.Union(ACTIONS.map((a) => Type.Literal(a)));
const Context = Type.Object(
  {
    now: Type.Optional(Type.Integer({ minimum: 0, description: 'Unix seconds' })),
    clientAddress: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    breakGlass: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const TestCase = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    principal: EntityText,
    action: ActionName,
    resource: EntityText,
    context: Type.Optional(Context),
    expect: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  },
  { additionalProperties: false },
);

const PolicyView = Type.Object({
  id: Type.String(),
  effect: Type.String({ description: 'permit or forbid' }),
  text: Type.String(),
});
const Issue = Type.Object({ policy: Type.String(), message: Type.String() });
const Finding = Type.Object({
  kind: Type.String({ description: 'shadowed or conflict' }),
  policies: Type.Array(Type.String(), { description: "The permit's id, then the forbid's" }),
  message: Type.String(),
});
const EntityView = Type.Object({ type: Type.String(), id: Type.String() });
const DecisionView = Type.Object({
  principal: EntityView,
  action: Type.String(),
  resource: EntityView,
  decision: Type.String({ description: 'allow or deny' }),
  policies: Type.Array(Type.String(), {
    description: 'The permits that allowed, or the forbids that denied',
  }),
  errors: Type.Array(Type.String()),
  breakGlass: Type.Boolean(),
  explanation: Type.String(),
});
const TestFailure = Type.Object({
  name: Type.String(),
  expected: Type.String(),
  explanation: Type.String(),
  policies: Type.Array(Type.String()),
});
const TestResult = Type.Object({
  name: Type.String(),
  expected: Type.String(),
  decision: Type.String(),
  passed: Type.Boolean(),
  policies: Type.Array(Type.String()),
});

function policyView(id: string, text: string) {
  return { id, effect: policyJson(text).effect, text };
}

/** The tenant an entity belongs to, or null for system resources (decided by permits alone). */
function tenantOf(ref: EntityRef): string | null {
  if (ref.type === 'System') return null;
  const tenant = ref.id.split('/', 1)[0]!;
  return tenant === SYSTEM_TENANT ? null : tenant;
}

/**
 * `managePolicy` on the caller's tenant and on the tenant of every entity a check names: asking how
 * another tenant's principals are decided is administering that tenant (refused by its guardrail).
 */
async function requireTenants(
  session: PolicySession,
  refs: readonly EntityRef[],
  auditAction: string,
): Promise<void> {
  const tenants = new Set([session.tenant]);
  for (const ref of refs) {
    const tenant = tenantOf(ref);
    if (tenant !== null) tenants.add(tenant);
  }
  for (const tenant of tenants)
    await session.require('managePolicy', { type: 'Tenant', id: tenant }, auditAction);
}

/** Decides with the policies in force, or with `overlay` laid over them (nothing is stored). */
function authorizerWith(
  access: AccessControl,
  overlay: Readonly<Record<string, string>> | undefined,
): Authorizer {
  if (overlay === undefined) return access.authorizer;
  const authorizer = new Authorizer(access);
  authorizer.setPolicies({ ...access.authorizer.policies, ...overlay }); // FX_POLICY_INVALID: nothing changes
  return authorizer;
}

function decisionView(
  request: { principal: EntityRef; action: Action; resource: EntityRef },
  d: Decision,
): Static<typeof DecisionView> {
  return {
    principal: { type: request.principal.type, id: request.principal.id },
    action: request.action,
    resource: { type: request.resource.type, id: request.resource.id },
    decision: d.allowed ? 'allow' : 'deny',
    policies: [...d.policies],
    errors: [...d.errors],
    breakGlass: d.breakGlass,
    explanation: Authorizer.explain(d),
  };
}

/** Test cases as `fortress policy test` reads them, from the body's cases or a test file's text. */
function testCases(body: { cases?: unknown[]; file?: string }): PolicyTestCase[] {
  try {
    return parsePolicyTestFile(body.file ?? JSON.stringify({ cases: body.cases }));
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new FortressError('FX_REQUEST_INVALID', error.message);
    throw error;
  }
}

export function policiesRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/v1/policies',
    {
      schema: {
        tags: ['policies'],
        summary: 'The policies in force (managePolicy on the tenant)',
        response: { 200: Type.Object({ policies: Type.Array(PolicyView) }), '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const policies = await session.access.listPolicies();
      return { policies: policies.map((p) => policyView(p.id, p.text)) };
    },
  );

  r.get(
    '/v1/policies/:id',
    {
      schema: {
        tags: ['policies'],
        summary: 'One policy (managePolicy on the tenant)',
        params: Type.Object({ id: PolicyId }),
        response: { 200: PolicyView, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const text = await session.access.getPolicy(request.params.id);
      return policyView(request.params.id, text);
    },
  );

  r.put(
    '/v1/policies/:id',
    {
      schema: {
        tags: ['policies'],
        summary:
          'Add a policy, or change one with replace: true; validated with the whole set (managePolicy on the policy)',
        params: Type.Object({ id: PolicyId }),
        body: Type.Object(
          { text: PolicyText, replace: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.access.addPolicy(request.params.id, request.body.text, {
        replace: request.body.replace === true,
      });
      return reply.status(204).send(null);
    },
  );

  r.delete(
    '/v1/policies/:id',
    {
      schema: {
        tags: ['policies'],
        summary: 'Remove a policy (managePolicy on the policy)',
        params: Type.Object({ id: PolicyId }),
        response: { 204: Type.Null(), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.access.removePolicy(request.params.id);
      return reply.status(204).send(null);
    },
  );

  r.post(
    '/v1/policies',
    {
      schema: {
        tags: ['policies'],
        summary:
          'Add several policies at once, validated as one set: all or none (managePolicy on each policy)',
        body: Type.Object({ policies: PolicySet }, { additionalProperties: false }),
        response: { 201: Type.Object({ added: Type.Array(Type.String()) }), '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { session } = await ctx.caller(request);
      await session.access.addPolicies(request.body.policies);
      return reply.status(201).send({ added: Object.keys(request.body.policies) });
    },
  );

  r.post(
    '/v1/policies/validate',
    {
      schema: {
        tags: ['policies'],
        summary:
          'Check policies (id → text, or a .cedar / JSON policy file) against the schema and the guardrails; stores nothing',
        body: Type.Union([
          Type.Object({ policies: PolicySet }, { additionalProperties: false }),
          Type.Object(
            { file: Type.String({ minLength: 1, maxLength: 1024 * 1024 }) },
            { additionalProperties: false },
          ),
        ]),
        response: {
          200: Type.Object({ valid: Type.Boolean(), policies: Type.Integer(), issues: Type.Array(Issue) }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      await ctx.caller(request); // any authenticated caller: nothing of the server's is read
      const body = request.body;
      let policies: Record<string, string>;
      if ('policies' in body) policies = body.policies;
      else {
        try {
          policies = parsePolicyFile(body.file);
        } catch (error) {
          // A file that does not parse is the answer, not a bad request.
          if (!(error instanceof InvalidArgumentError)) throw error;
          return { valid: false, policies: 0, issues: [{ policy: '(file)', message: error.message }] };
        }
      }
      const issues = checkPolicies(policies);
      return { valid: issues.length === 0, policies: Object.keys(policies).length, issues };
    },
  );

  r.post(
    '/v1/policies/lint',
    {
      schema: {
        tags: ['policies'],
        summary:
          'Permits shadowed or contradicted by forbids: in the policies in force (managePolicy on the tenant), or in those given',
        body: Type.Object({ policies: Type.Optional(PolicySet) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ policies: Type.Integer(), findings: Type.Array(Finding) }),
          '4xx': ErrorResponse,
        },
      },
      // An empty POST lints the policies in force: it is checked as the empty object.
      preValidation: emptyBodyAsObject,
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const given = request.body.policies;
      let policies: Readonly<Record<string, string>>;
      if (given === undefined) {
        await session.require('managePolicy', { type: 'Tenant', id: session.tenant }, 'policy.lint');
        policies = ctx.unsealed().access.authorizer.policies;
      } else {
        const issues = checkPolicies(given);
        if (issues.length > 0) {
          throw new FortressError(
            'FX_POLICY_INVALID',
            `invalid policy: ${issues
              .slice(0, 10)
              .map((i) => `${i.policy}: ${i.message}`)
              .join('; ')}`,
          );
        }
        policies = given;
      }
      const findings = lintPolicies(policies).map((f) => ({ ...f, policies: [...f.policies] }));
      return { policies: Object.keys(policies).length, findings };
    },
  );

  r.post(
    '/v1/policies/explain',
    {
      schema: {
        tags: ['policies'],
        summary:
          'Decide one request and name the policies that decided it, optionally with candidate policies laid over (managePolicy on the tenant)',
        body: Type.Object(
          {
            principal: EntityText,
            action: ActionName,
            resource: EntityText,
            context: Type.Optional(Context),
            with: Type.Optional(PolicySet),
          },
          { additionalProperties: false },
        ),
        response: { 200: DecisionView, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      const action = body.action as Action;
      const { principal, resource } = parseRequestRefs(body.principal, action, body.resource);
      const context: RequestContext =
        body.context === undefined ? {} : requestContextOf(parsePolicyTestContext(body.context));
      await requireTenants(session, [principal, resource], 'policy.explain');
      const decision = authorizerWith(ctx.unsealed().access, body.with).evaluate({
        principal,
        action,
        resource,
        context,
      });
      return decisionView({ principal, action, resource }, decision);
    },
  );

  r.post(
    '/v1/policies/test',
    {
      schema: {
        tags: ['policies'],
        summary:
          'Run policy test cases (or a test file) against the policies in force, or with candidate policies laid over (managePolicy on the tenant)',
        body: Type.Union([
          Type.Object(
            {
              cases: Type.Array(TestCase, { minItems: 1, maxItems: MAX_POLICY_TEST_CASES }),
              with: Type.Optional(PolicySet),
            },
            { additionalProperties: false },
          ),
          Type.Object(
            { file: Type.String({ minLength: 1, maxLength: 1024 * 1024 }), with: Type.Optional(PolicySet) },
            { additionalProperties: false },
          ),
        ]),
        response: {
          200: Type.Object({
            passed: Type.Integer(),
            failed: Type.Array(TestFailure),
            results: Type.Array(TestResult, { description: 'Every case, in order' }),
          }),
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { session } = await ctx.caller(request);
      const body = request.body;
      const cases = testCases(body);
      const refs = cases.flatMap((c) => Object.values(parseRequestRefs(c.principal, c.action, c.resource)));
      await requireTenants(session, refs, 'policy.test');
      const authorizer = authorizerWith(ctx.unsealed().access, body.with);
      const decisions: Decision[] = [];
      const report = runPolicyTests(cases, (principal, action, resource, context) => {
        const decision = authorizer.evaluate({ principal, action, resource, context });
        decisions.push(decision);
        return decision;
      });
      return {
        passed: report.passed,
        failed: report.failed.map((f) => ({
          name: f.case.name,
          expected: f.case.expect,
          explanation: f.explanation,
          policies: [...f.decision.policies],
        })),
        results: cases.map((c, i) => {
          const d = decisions[i]!;
          return {
            name: c.name,
            expected: c.expect,
            decision: d.allowed ? 'allow' : 'deny',
            passed: d.allowed === (c.expect === 'allow'),
            policies: [...d.policies],
          };
        }),
      };
    },
  );
}
