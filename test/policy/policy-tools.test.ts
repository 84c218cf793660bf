import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Authorizer, type Decision, type EntityRef } from '../../src/policy/authorizer/authorizer.js';
import { lintPolicies } from '../../src/policy/tools/policy-lint.js';
import { formatPolicyFile, parsePolicyFile } from '../../src/policy/tools/policy-file.js';
import {
  MAX_POLICY_TEST_CASES,
  parseEntityRef,
  parsePolicyTestFile,
  runPolicyTests,
  type PolicyTestCase,
} from '../../src/policy/tools/policy-test.js';
import { renderTemplate, TEMPLATE_NAMES } from '../../src/policy/templates/policy-templates.js';
import { CedarWorld } from '../helpers/cedar-world.js';

/** The error `fn` throws (nested asymmetric matchers would be typed `any`). */
function thrown(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected a throw');
}

const READ_TABLES = 'permit (principal, action == Fortress::Action::"read", resource is Fortress::Table);';

describe('lintPolicies', () => {
  it('finds a permit shadowed by an unconditional forbid', () => {
    const findings = lintPolicies({
      p: READ_TABLES,
      f: 'forbid (principal, action, resource is Fortress::Table);',
    });
    expect(findings).toEqual([
      {
        kind: 'shadowed',
        policies: ['p', 'f'],
        message: 'permit "p" can never apply: the unconditional forbid "f" covers its whole scope',
      },
    ]);
  });

  it('shadowing: principal All or equal, action superset, resource All / equal / is-type', () => {
    const shadowed = (permit: string, forbid: string): boolean =>
      lintPolicies({ p: permit, f: forbid }).some((x) => x.kind === 'shadowed');
    const ann = 'principal == Fortress::User::"a/ann"';
    const role = 'principal in Fortress::Role::"a/r"';
    const read = 'action == Fortress::Action::"read"';
    const readQuery = 'action in [Fortress::Action::"read", Fortress::Action::"query"]';
    const table = 'resource == Fortress::Table::"a/main/t"';
    // principal
    expect(shadowed(`permit (${ann}, ${read}, ${table});`, `forbid (principal, ${read}, ${table});`)).toBe(
      true,
    );
    expect(shadowed(`permit (${ann}, ${read}, ${table});`, `forbid (${ann}, ${read}, ${table});`)).toBe(true);
    expect(shadowed(`permit (${role}, ${read}, ${table});`, `forbid (${role}, ${read}, ${table});`)).toBe(
      true,
    );
    expect(shadowed(`permit (${ann}, ${read}, ${table});`, `forbid (${role}, ${read}, ${table});`)).toBe(
      false,
    );
    expect(shadowed(`permit (principal, ${read}, ${table});`, `forbid (${ann}, ${read}, ${table});`)).toBe(
      false,
    );
    // action
    expect(shadowed(`permit (${ann}, ${read}, ${table});`, `forbid (${ann}, ${readQuery}, ${table});`)).toBe(
      true,
    );
    expect(shadowed(`permit (${ann}, ${readQuery}, ${table});`, `forbid (${ann}, ${read}, ${table});`)).toBe(
      false,
    );
    expect(shadowed(`permit (${ann}, action, ${table});`, `forbid (${ann}, ${readQuery}, ${table});`)).toBe(
      false,
    );
    expect(
      shadowed(
        `permit (${ann}, action in [Fortress::Action::"read"], ${table});`,
        `forbid (${ann}, ${read}, ${table});`,
      ),
    ).toBe(true);
    // resource
    expect(shadowed(`permit (${ann}, ${read}, ${table});`, `forbid (${ann}, ${read}, resource);`)).toBe(true);
    expect(
      shadowed(
        `permit (${ann}, ${read}, ${table});`,
        `forbid (${ann}, ${read}, resource is Fortress::Table);`,
      ),
    ).toBe(true);
    expect(
      shadowed(
        `permit (${ann}, ${read}, resource is Fortress::Table);`,
        `forbid (${ann}, ${read}, resource is Fortress::Table);`,
      ),
    ).toBe(true);
    expect(
      shadowed(
        `permit (${ann}, ${read}, resource is Fortress::Table in Fortress::Tenant::"a");`,
        `forbid (${ann}, ${read}, resource is Fortress::Table);`,
      ),
    ).toBe(true);
    expect(
      shadowed(
        `permit (${ann}, ${read}, resource is Fortress::Column);`,
        `forbid (${ann}, ${read}, resource is Fortress::Table);`,
      ),
    ).toBe(false);
    expect(
      shadowed(
        `permit (${ann}, ${read}, resource in Fortress::Tenant::"a");`,
        `forbid (${ann}, ${read}, resource is Fortress::Table);`,
      ),
    ).toBe(false);
    expect(
      shadowed(
        `permit (${ann}, ${read}, resource == Fortress::Tenant::"a");`,
        `forbid (${ann}, ${read}, resource in Fortress::Tenant::"a");`,
      ),
    ).toBe(true);
    expect(
      shadowed(
        `permit (${ann}, ${read}, resource == Fortress::Table::"a/main/u");`,
        `forbid (${ann}, ${read}, ${table});`,
      ),
    ).toBe(false);
    // A forbid's condition means it may not apply: never shadowing, whatever the scope.
    expect(shadowed(READ_TABLES, 'forbid (principal, action, resource) when { context.breakGlass };')).toBe(
      false,
    );
    // The permit's own conditions do not matter.
    expect(
      shadowed(
        'permit (principal, action, resource) when { context.breakGlass };',
        'forbid (principal, action, resource);',
      ),
    ).toBe(true);
  });

  it('reports a conflict for identical scopes that differ only in conditions', () => {
    const scope =
      '(principal in Fortress::Role::"a/r", action == Fortress::Action::"read", resource is Fortress::Table)';
    expect(
      lintPolicies({
        'a-permit': `permit ${scope};`,
        'b-forbid': `forbid ${scope} when { resource.level > 1 };`,
      }),
    ).toEqual([
      {
        kind: 'conflict',
        policies: ['a-permit', 'b-forbid'],
        message:
          'permit "a-permit" and forbid "b-forbid" have the same scope and differ only in conditions: check which should win',
      },
    ]);
    // Both conditional: still a conflict.
    expect(
      lintPolicies({
        p: `permit ${scope} when { context.breakGlass };`,
        f: `forbid ${scope} unless { context.breakGlass };`,
      }).map((x) => x.kind),
    ).toEqual(['conflict']);
    // An unconditional forbid with the same scope is shadowing, not a conflict.
    expect(
      lintPolicies({ p: `permit ${scope} when { context.breakGlass };`, f: `forbid ${scope};` }).map(
        (x) => x.kind,
      ),
    ).toEqual(['shadowed']);
    // `action == A` and `action in [A]` are the same scope.
    expect(
      lintPolicies({
        p: 'permit (principal, action in [Fortress::Action::"read"], resource) when { principal.level > 1 };',
        f: 'forbid (principal, action == Fortress::Action::"read", resource) when { principal.level > 2 };',
      }).map((x) => x.kind),
    ).toEqual(['conflict']);
    // Different scopes with conditions: nothing to report.
    expect(
      lintPolicies({
        p: 'permit (principal, action == Fortress::Action::"read", resource is Fortress::Table);',
        f: 'forbid (principal, action == Fortress::Action::"read", resource is Fortress::Column) when { true };',
      }),
    ).toEqual([]);
  });

  it('finds nothing in clean sets: every template, both tenants, and an empty set', () => {
    const all: Record<string, string> = {};
    for (const tenant of ['acme', 'globex']) {
      for (const t of TEMPLATE_NAMES) Object.assign(all, renderTemplate(t, { tenant, role: t }));
    }
    expect(lintPolicies(all)).toEqual([]);
    expect(lintPolicies({})).toEqual([]);
    expect(lintPolicies({ p: READ_TABLES, q: READ_TABLES })).toEqual([]);
  });

  it('catches a template permit shadowed by another template’s forbid on the same role', () => {
    // Rendering app and key-admin for one role forbids the very data access the app template grants.
    const set = {
      ...renderTemplate('app', { tenant: 'acme', role: 'ops' }),
      ...renderTemplate('key-admin', { tenant: 'acme', role: 'ops' }),
    };
    expect(lintPolicies(set)).toEqual([
      expect.objectContaining({
        kind: 'shadowed',
        policies: ['app.acme.ops.permit', 'key-admin.acme.ops.forbid-data'],
      }),
    ]);
  });

  it('is deterministic: sorted by permit id, then forbid id, whatever the insertion order', () => {
    const policies: Record<string, string> = {
      'z-permit': READ_TABLES,
      'b-forbid': 'forbid (principal, action, resource);',
      'a-permit': 'permit (principal, action == Fortress::Action::"query", resource is Fortress::Table);',
      'a-forbid': 'forbid (principal, action == Fortress::Action::"read", resource is Fortress::Table);',
      'm-permit':
        'permit (principal, action == Fortress::Action::"read", resource is Fortress::Table) when { true };',
    };
    const expected = [
      ['a-permit', 'b-forbid'],
      ['m-permit', 'a-forbid'],
      ['m-permit', 'b-forbid'],
      ['z-permit', 'a-forbid'],
      ['z-permit', 'b-forbid'],
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(Object.keys(policies), { minLength: 5, maxLength: 5 }), (order) => {
        const shuffled = Object.fromEntries(order.map((id) => [id, policies[id]!]));
        const findings = lintPolicies(shuffled);
        expect(findings.map((f) => f.policies)).toEqual(expected);
        expect(findings.every((f) => f.kind === 'shadowed')).toBe(true);
        for (const f of findings) for (const id of f.policies) expect(f.message).toContain(`"${id}"`);
      }),
      { numRuns: 20 },
    );
  });

  it('refuses text that does not parse', () => {
    expect(() => lintPolicies({ p: 'permit (principal, action' })).toThrow(
      expect.objectContaining({ code: 'FX_POLICY_INVALID' }),
    );
  });
});

describe('parseEntityRef', () => {
  it('maps every prefix to its entity type, the path being the id', () => {
    const cases: [string, EntityRef][] = [
      ['user:acme/ann', { type: 'User', id: 'acme/ann' }],
      ['service:acme/etl', { type: 'ServiceAccount', id: 'acme/etl' }],
      ['tenant:acme', { type: 'Tenant', id: 'acme' }],
      ['database:acme/main', { type: 'Database', id: 'acme/main' }],
      ['table:acme/main/patients', { type: 'Table', id: 'acme/main/patients' }],
      ['column:acme/main/patients/ssn', { type: 'Column', id: 'acme/main/patients/ssn' }],
      ['row:acme/main/patients/42', { type: 'Row', id: 'acme/main/patients/42' }],
      ['key:acme/fortress/x', { type: 'Key', id: 'acme/fortress/x' }],
      ['key:acme/k1', { type: 'Key', id: 'acme/k1' }],
      ['policy:acme/p1', { type: 'Policy', id: 'acme/p1' }],
      ['audit:acme', { type: 'AuditLog', id: 'acme' }],
      ['audit:acme/main', { type: 'AuditLog', id: 'acme/main' }],
      ['system', { type: 'System', id: 'system' }],
    ];
    for (const [text, ref] of cases) expect(parseEntityRef(text, 'resource')).toEqual(ref);
  });

  it('rejects malformed references, naming the argument', () => {
    const bad: unknown[] = [
      '',
      'user',
      'user:',
      'user:acme',
      'user:acme/ann/x',
      'user:/ann',
      'user:acme/',
      'user:acme//ann',
      'usr:acme/ann',
      'User:acme/ann',
      ':acme/ann',
      'table:acme/main',
      'table:acme/main/t/x',
      'column:acme/main/t',
      'row:acme/main/t',
      'tenant:acme/x',
      'database:acme',
      'key:acme',
      'policy:acme',
      'policy:acme/p/q',
      'audit:',
      'audit:acme/a/b',
      'system:x',
      'system:',
      'SYSTEM',
      'user:acme/a nn',
      'user:acme/"ann"',
      'user:acme/ann\n',
      'user:acme/é',
      `table:acme/main/${'t'.repeat(129)}`,
      `key:acme/${'k/'.repeat(600)}k`,
      'constructor:acme/x',
      '__proto__:acme/x',
      42,
      null,
      undefined,
      {},
    ];
    for (const text of bad) {
      expect(() => parseEntityRef(text as string, 'principal'), String(text)).toThrow(
        expect.objectContaining({ code: 'FX_INVALID_ARGUMENT', argument: 'principal' }),
      );
    }
    expect(() => parseEntityRef('usr:acme/ann', 'principal')).toThrow(/"usr:acme\/ann".*user, service/);
    expect(() => parseEntityRef('table:acme/main', 'resource')).toThrow(
      /table:<tenant>\/<database>\/<table>/,
    );
  });
});

const GOOD_CASE = {
  name: 'ann reads',
  principal: 'user:acme/ann',
  action: 'read',
  resource: 'table:acme/main/patients',
  expect: 'allow',
};

function file(...cases: unknown[]): string {
  return JSON.stringify({ cases });
}

describe('parsePolicyTestFile', () => {
  it('parses a good file', () => {
    const cases = parsePolicyTestFile(
      file(GOOD_CASE, {
        name: 'no decrypt',
        principal: 'service:acme/etl',
        action: 'decrypt',
        resource: 'column:acme/main/patients/ssn',
        context: { now: 1_700_000_000, clientAddress: '10.0.0.1', breakGlass: true },
        expect: 'deny',
      }),
    );
    expect(cases).toEqual([
      GOOD_CASE,
      {
        name: 'no decrypt',
        principal: 'service:acme/etl',
        action: 'decrypt',
        resource: 'column:acme/main/patients/ssn',
        context: { now: 1_700_000_000, clientAddress: '10.0.0.1', breakGlass: true },
        expect: 'deny',
      },
    ]);
    expect(parsePolicyTestFile(file({ ...GOOD_CASE, context: {} }))[0]!.context).toEqual({});
    expect(
      parsePolicyTestFile(
        file({ name: 's', principal: 'user:a/b', action: 'seal', resource: 'system', expect: 'deny' }),
      ),
    ).toHaveLength(1);
  });

  it('names the case and the exact problem', () => {
    expect(() =>
      parsePolicyTestFile(
        file(GOOD_CASE, { ...GOOD_CASE, name: 'b' }, { ...GOOD_CASE, name: 'ann reads 2', action: 'reed' }),
      ),
    ).toThrow('case 3 ("ann reads 2"): unknown action "reed"');
    try {
      parsePolicyTestFile(file({ ...GOOD_CASE, action: 'reed' }));
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: 'FX_INVALID_ARGUMENT',
        message: 'case 1 ("ann reads"): unknown action "reed"',
      });
    }
  });

  const badFiles: [string, string, RegExp][] = [
    ['not JSON', '{ "cases": [', /policy test file: not valid JSON/],
    ['a JSON array', '[]', /expected an object/],
    ['JSON null', 'null', /expected an object/],
    ['an unknown top-level field', JSON.stringify({ cases: [GOOD_CASE], extra: 1 }), /unknown field "extra"/],
    ['cases missing', '{}', /"cases": expected an array, got undefined/],
    ['cases not an array', JSON.stringify({ cases: {} }), /"cases": expected an array/],
    ['no cases', file(), /expected 1 to 10000 cases, got 0/],
    ['a case that is not an object', file(GOOD_CASE, 'x'), /^case 2: expected an object, got string/],
    ['a case that is an array', file([]), /^case 1: expected an object, got an array/],
    ['a missing name', file({ ...GOOD_CASE, name: undefined }), /^case 1: name: expected 1-200 characters/],
    ['an empty name', file({ ...GOOD_CASE, name: '' }), /^case 1: name:/],
    ['a numeric name', file({ ...GOOD_CASE, name: 7 }), /^case 1: name:/],
    ['a long name', file({ ...GOOD_CASE, name: 'n'.repeat(201) }), /^case 1: name:/],
    ['a name with a control character', file({ ...GOOD_CASE, name: 'a\u0007b' }), /^case 1: name:/],
    ['a duplicate name', file(GOOD_CASE, GOOD_CASE), /^case 2 \("ann reads"\): name: already used by case 1/],
    [
      'an unknown field',
      file({ ...GOOD_CASE, expects: 'allow' }),
      /\("ann reads"\): unknown field "expects"/,
    ],
    ['a missing principal', file({ ...GOOD_CASE, principal: undefined }), /: missing "principal"/],
    ['a missing action', file({ ...GOOD_CASE, action: undefined }), /: missing "action"/],
    ['a missing resource', file({ ...GOOD_CASE, resource: undefined }), /: missing "resource"/],
    ['a missing expect', file({ ...GOOD_CASE, expect: undefined }), /: missing "expect"/],
    ['a numeric action', file({ ...GOOD_CASE, action: 3 }), /: action: expected a string, got number/],
    ['an action by wrong case', file({ ...GOOD_CASE, action: 'Read' }), /: unknown action "Read"/],
    [
      'a principal of unknown kind',
      file({ ...GOOD_CASE, principal: 'usr:acme/ann' }),
      /: principal: "usr:acme\/ann" is not/,
    ],
    [
      'a principal that is a table',
      file({ ...GOOD_CASE, principal: 'table:acme/main/t' }),
      /: principal: must be a user:… or service:…/,
    ],
    [
      'a principal that is not a string',
      file({ ...GOOD_CASE, principal: 5 }),
      /: principal: expected a reference/,
    ],
    [
      'a malformed principal path',
      file({ ...GOOD_CASE, principal: 'user:acme' }),
      /: principal: "user:acme" is not user:<tenant>\/<name>/,
    ],
    [
      'a resource that is a user',
      file({ ...GOOD_CASE, resource: 'user:acme/bob' }),
      /: resource: a user or service account is not a resource/,
    ],
    [
      'a malformed resource',
      file({ ...GOOD_CASE, resource: 'table:acme' }),
      /: resource: "table:acme" is not table:/,
    ],
    [
      'an action that does not apply to the resource',
      file({ ...GOOD_CASE, action: 'decrypt' }),
      /: resource: action "decrypt" does not apply to a Table \(it applies to Column\)/,
    ],
    [
      'seal on a tenant',
      file({ ...GOOD_CASE, action: 'seal', resource: 'tenant:acme' }),
      /does not apply to a Tenant/,
    ],
    [
      'a context that is not an object',
      file({ ...GOOD_CASE, context: 'now' }),
      /: context: expected an object, got string/,
    ],
    [
      'a context that is null',
      file({ ...GOOD_CASE, context: null }),
      /: context: expected an object, got null/,
    ],
    [
      'an unknown context field',
      file({ ...GOOD_CASE, context: { breakglass: true } }),
      /: context: unknown field "breakglass"/,
    ],
    [
      'a negative time',
      file({ ...GOOD_CASE, context: { now: -1 } }),
      /: context\.now: expected Unix seconds/,
    ],
    ['a fractional time', file({ ...GOOD_CASE, context: { now: 1.5 } }), /: context\.now:/],
    ['a time as a string', file({ ...GOOD_CASE, context: { now: '1700000000' } }), /: context\.now:/],
    ['a huge time', file({ ...GOOD_CASE, context: { now: 2 ** 60 } }), /: context\.now:/],
    [
      'an empty client address',
      file({ ...GOOD_CASE, context: { clientAddress: '' } }),
      /: context\.clientAddress:/,
    ],
    [
      'a numeric client address',
      file({ ...GOOD_CASE, context: { clientAddress: 10 } }),
      /: context\.clientAddress:/,
    ],
    [
      'a long client address',
      file({ ...GOOD_CASE, context: { clientAddress: 'a'.repeat(257) } }),
      /: context\.clientAddress:/,
    ],
    [
      'breakGlass as a string',
      file({ ...GOOD_CASE, context: { breakGlass: 'yes' } }),
      /: context\.breakGlass: expected true or false/,
    ],
    [
      'an unknown expectation',
      file({ ...GOOD_CASE, expect: 'permit' }),
      /: expect: must be "allow" or "deny"/,
    ],
    ['an expectation in capitals', file({ ...GOOD_CASE, expect: 'ALLOW' }), /: expect:/],
  ];

  it.each(badFiles)('rejects %s', (_what, text, message) => {
    const error = thrown(() => parsePolicyTestFile(text));
    expect(error.code).toBe('FX_INVALID_ARGUMENT');
    expect(error.message).toMatch(message);
  });

  it('rejects non-string input and more than the maximum number of cases', () => {
    expect(() => parsePolicyTestFile(42 as unknown as string)).toThrow(/expected JSON text, got number/);
    const many = Array.from({ length: MAX_POLICY_TEST_CASES + 1 }, (_, i) => ({
      ...GOOD_CASE,
      name: `c${i}`,
    }));
    expect(() => parsePolicyTestFile(file(...many))).toThrow(/expected 1 to 10000 cases, got 10001/);
    expect(parsePolicyTestFile(file(...many.slice(1)))).toHaveLength(MAX_POLICY_TEST_CASES);
  });

  it('does not echo unprintable input', () => {
    expect(() => parsePolicyTestFile(file({ ...GOOD_CASE, action: 'r\u0000d' }))).toThrow(
      'case 1 ("ann reads"): unknown action a value with non-printable characters',
    );
  });
});

function authorizer(): Authorizer {
  const world = new CedarWorld([
    { uid: { type: 'Tenant', id: 'acme' }, attrs: { tenant: 'acme' }, parents: [] },
    {
      uid: { type: 'Database', id: 'acme/main' },
      attrs: { tenant: 'acme', name: 'main' },
      parents: [{ type: 'Tenant', id: 'acme' }],
    },
    { uid: { type: 'Role', id: 'acme/analyst' }, attrs: { tenant: 'acme', name: 'analyst' }, parents: [] },
    { uid: { type: 'Role', id: 'acme/bg' }, attrs: { tenant: 'acme', name: 'bg' }, parents: [] },
    {
      uid: { type: 'User', id: 'acme/ann' },
      attrs: { tenant: 'acme', name: 'ann', level: 1, compartments: [] },
      parents: [{ type: 'Role', id: 'acme/analyst' }],
    },
    {
      uid: { type: 'User', id: 'globex/eve' },
      attrs: { tenant: 'globex', name: 'eve', level: 3, compartments: [] },
      parents: [],
    },
    {
      uid: { type: 'User', id: 'acme/bo' },
      attrs: { tenant: 'acme', name: 'bo', level: 1, compartments: [] },
      parents: [{ type: 'Role', id: 'acme/bg' }],
    },
    {
      uid: { type: 'Table', id: 'acme/main/patients' },
      attrs: { tenant: 'acme', database: 'main', name: 'patients', level: 1, compartments: [] },
      parents: [{ type: 'Database', id: 'acme/main' }],
    },
    {
      uid: { type: 'Column', id: 'acme/main/patients/ssn' },
      attrs: {
        tenant: 'acme',
        database: 'main',
        table: 'patients',
        name: 'ssn',
        encrypted: true,
        level: 1,
        compartments: [],
      },
      parents: [{ type: 'Table', id: 'acme/main/patients' }],
    },
  ]);
  const az = new Authorizer(world);
  az.setPolicies({
    ...renderTemplate('analyst', { tenant: 'acme', role: 'analyst' }),
    ...renderTemplate('break-glass', { tenant: 'acme', role: 'bg' }),
  });
  return az;
}

describe('runPolicyTests', () => {
  const az = authorizer();
  const decide = (
    principal: EntityRef,
    action: PolicyTestCase['action'],
    resource: EntityRef,
    context: object,
  ) => az.authorize({ principal, action, resource, context });

  it('counts passes and explains each failure', () => {
    const cases = parsePolicyTestFile(
      file(
        GOOD_CASE,
        { ...GOOD_CASE, name: 'ann reads ssn', resource: 'column:acme/main/patients/ssn' },
        {
          ...GOOD_CASE,
          name: 'ann cannot decrypt',
          action: 'decrypt',
          resource: 'column:acme/main/patients/ssn',
          expect: 'deny',
        },
        {
          ...GOOD_CASE,
          name: 'wrongly expects decrypt',
          action: 'decrypt',
          resource: 'column:acme/main/patients/ssn',
        },
        { ...GOOD_CASE, name: 'wrongly expects deny', expect: 'deny' },
        { ...GOOD_CASE, name: 'bo idle', principal: 'user:acme/bo', expect: 'deny' },
        { ...GOOD_CASE, name: 'bo breaks glass', principal: 'user:acme/bo', context: { breakGlass: true } },
        {
          ...GOOD_CASE,
          name: 'bo breaks glass, expected deny',
          principal: 'user:acme/bo',
          context: { breakGlass: true },
          expect: 'deny',
        },
        {
          ...GOOD_CASE,
          name: 'bo writes at his level',
          principal: 'user:acme/bo',
          action: 'insert',
          context: { breakGlass: true },
        },
      ),
    );
    const report = runPolicyTests(cases, decide);
    expect(report.passed).toBe(6);
    expect(report.failed.map((f) => [f.case.name, f.explanation])).toEqual([
      ['wrongly expects decrypt', 'expected allow, but no policy permits it'],
      ['wrongly expects deny', 'expected deny, but allowed by analyst.acme.analyst.permit'],
      ['bo breaks glass, expected deny', 'expected deny, but allowed by break-glass.acme.bg.permit'],
    ]);
    const bg = report.failed[2]!;
    expect(bg.decision).toMatchObject({ allowed: true, breakGlass: true });
    expect(bg.case).toBe(cases[7]);
  });

  it('passes the context through and names guardrail denials', () => {
    const seen: unknown[] = [];
    const report = runPolicyTests(
      [
        {
          ...GOOD_CASE,
          name: 'c1',
          expect: 'deny',
          context: { now: 5, clientAddress: '10.1.1.1', breakGlass: true },
        } as PolicyTestCase,
        { ...GOOD_CASE, name: 'c2', principal: 'user:globex/eve', expect: 'allow' } as PolicyTestCase,
      ],
      (principal, action, resource, context) => {
        seen.push(context);
        return decide(principal, action, resource, context);
      },
    );
    expect(seen).toEqual([{ now: 5, clientAddress: '10.1.1.1', breakGlass: true }, {}]);
    expect(report.passed).toBe(0);
    expect(report.failed[0]!.explanation).toBe('expected deny, but allowed by analyst.acme.analyst.permit');
    expect(report.failed[1]!.explanation).toBe(
      'expected allow, but forbidden by fortress.guard.tenant: the resource belongs to another tenant',
    );
  });

  it('an empty list passes trivially; a case built in code with a bad reference is refused', () => {
    expect(runPolicyTests([], decide)).toEqual({ passed: 0, failed: [] });
    const never = (): Decision => {
      throw new Error('not called');
    };
    const error = thrown(() =>
      runPolicyTests([{ ...GOOD_CASE, name: 'bad', resource: 'table:acme' } as PolicyTestCase], never),
    );
    expect(error.code).toBe('FX_INVALID_ARGUMENT');
    expect(error.message).toMatch(/^case 1 \("bad"\): resource:/);
    expect(() =>
      runPolicyTests([{ ...GOOD_CASE, name: 'bad', action: 'decrypt' } as PolicyTestCase], never),
    ).toThrow(/does not apply to a Table/);
  });
});

describe('parsePolicyFile / formatPolicyFile', () => {
  it("reads ids from @id annotations, keeps each policy's own text, and round-trips", () => {
    const text = `// analysts\n@id("a")\npermit (principal, action == Fortress::Action::"read", resource);\n\n@id("b")\n@breakGlass("x")\nforbid (principal, action, resource is Fortress::System);\n`;
    const parsed = parsePolicyFile(text);
    expect(Object.keys(parsed)).toEqual(['a', 'b']);
    expect(parsed['b']).toBe(
      '@id("b")\n@breakGlass("x")\nforbid (principal, action, resource is Fortress::System);',
    );
    expect(parsePolicyFile(formatPolicyFile(parsed))).toEqual(parsed);
    for (const name of TEMPLATE_NAMES) {
      const policies = renderTemplate(name, { tenant: 'acme', role: 'r' });
      expect(Object.keys(parsePolicyFile(formatPolicyFile(policies)))).toEqual(Object.keys(policies));
    }
  });

  it('takes the id of a one-policy file from the caller, and JSON records as they are', () => {
    expect(parsePolicyFile('permit (principal, action, resource);', { id: 'all' })).toEqual({
      all: 'permit (principal, action, resource);',
    });
    expect(parsePolicyFile(' {"x": "permit (principal, action, resource);"}')).toEqual({
      x: 'permit (principal, action, resource);',
    });
  });

  it('refuses files it cannot give every policy one id', () => {
    const cases: [string, { id?: string }, RegExp][] = [
      ['permit (principal, action, resource);', {}, /policy 1 of the file: has no @id/],
      [
        '@id("a") permit (principal, action, resource); permit (principal, action, resource);',
        {},
        /policy 2 of the file: has no @id/,
      ],
      [
        '@id("a") permit (principal, action, resource); @id("a") forbid (principal, action, resource);',
        {},
        /repeats the id "a"/,
      ],
      ['@id("a b") permit (principal, action, resource);', {}, /invalid policy id "a b"/],
      ['@id("a") permit (principal, action, resource);', { id: 'b' }, /annotated @id\("a"\)/],
      ['permit (principal, action, resource', {}, /does not parse as Cedar/],
      ['permit (principal == ?principal, action, resource);', {}, /policy template/],
      ['', {}, /holds no policies/],
      ['// only a comment', {}, /holds no policies/],
      ['{', {}, /not valid JSON/],
      ['{}', {}, /holds no policies/],
      ['{"x": 1}', {}, /policy x: expected Cedar text/],
      ['{"bad id": "permit (principal, action, resource);"}', {}, /invalid policy id/],
      ['{"x": "permit (principal, action, resource);"}', { id: 'x' }, /JSON policy file names its own ids/],
      ['permit (principal, action, resource);', { id: '-x' }, /invalid policy id/],
    ];
    for (const [text, options, message] of cases) {
      const error = thrown(() => parsePolicyFile(text, options));
      expect(error.code, text).toBe('FX_INVALID_ARGUMENT');
      expect(error.message, text).toMatch(message);
    }
    expect(thrown(() => parsePolicyFile(42 as unknown as string)).code).toBe('FX_INVALID_ARGUMENT');
  });
});
