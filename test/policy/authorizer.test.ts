import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { preparsePolicySet, statefulIsAuthorized } from '@cedar-policy/cedar-wasm/nodejs';
import {
  Authorizer,
  checkPolicies,
  type AuthorizationRequest,
  type CedarEntity,
} from '../../src/policy/authorizer/authorizer.js';
import type { Action } from '../../src/policy/schema/fortress-schema.js';
import { GUARDRAILS } from '../../src/policy/authorizer/guardrails.js';
import { CedarWorld } from '../helpers/cedar-world.js';

function user(
  tenant: string,
  name: string,
  level: number,
  compartments: string[] = [],
  roles: string[] = [],
): CedarEntity {
  return {
    uid: { type: 'User', id: `${tenant}/${name}` },
    attrs: { tenant, name, level, compartments },
    parents: roles.map((r) => ({ type: 'Role', id: `${tenant}/${r}` })),
  };
}
function role(tenant: string, name: string, parents: string[] = []): CedarEntity {
  return {
    uid: { type: 'Role', id: `${tenant}/${name}` },
    attrs: { tenant, name },
    parents: parents.map((p) => ({ type: 'Role', id: `${tenant}/${p}` })),
  };
}
function table(tenant: string, name: string, level: number, compartments: string[] = []): CedarEntity {
  return {
    uid: { type: 'Table', id: `${tenant}/main/${name}` },
    attrs: { tenant, database: 'main', name, level, compartments },
    parents: [{ type: 'Database', id: `${tenant}/main` }],
  };
}
function database(tenant: string): CedarEntity {
  return {
    uid: { type: 'Database', id: `${tenant}/main` },
    attrs: { tenant, name: 'main' },
    parents: [{ type: 'Tenant', id: tenant }],
  };
}

function world(): CedarWorld {
  return new CedarWorld()
    .add({ uid: { type: 'Tenant', id: 'a' }, attrs: { tenant: 'a' }, parents: [] })
    .add({ uid: { type: 'Tenant', id: 'b' }, attrs: { tenant: 'b' }, parents: [] })
    .add(database('a'))
    .add(database('b'))
    .add(role('a', 'staff'))
    .add(role('a', 'analyst', ['staff']))
    .add(role('b', 'analyst'))
    .add(user('a', 'ann', 2, ['alpha'], ['analyst']))
    .add(user('a', 'bob', 0, [], ['staff']))
    .add(user('b', 'eve', 3, ['alpha'], ['analyst']))
    .add(table('a', 'patients', 1))
    .add(table('a', 'secrets', 3))
    .add(table('a', 'alpha', 1, ['alpha']))
    .add(table('b', 'patients', 1));
}

const EVERYONE_READS = 'permit (principal, action == Fortress::Action::"read", resource is Fortress::Table);';

describe('checkPolicies', () => {
  it('accepts the guardrails and a valid policy', () => {
    expect(checkPolicies({ p: EVERYONE_READS })).toEqual([]);
  });

  it('reports validator errors that come with a "success" answer', () => {
    const issues = checkPolicies({
      bad: 'permit (principal, action, resource) when { resource.nope == 1 };',
    });
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.every((i) => i.policy === 'bad')).toBe(true);
    expect(issues[0]!.message).toMatch(/nope/);
  });

  it('rejects syntax errors, two policies under one id, reserved and malformed ids', () => {
    expect(checkPolicies({ p: 'permit (principal, action, resource' })[0]!.policy).toBe('p');
    expect(checkPolicies({ p: `${EVERYONE_READS}\n${EVERYONE_READS}` })[0]!.message).toMatch(/exactly one/);
    expect(checkPolicies({ 'fortress.guard.x': EVERYONE_READS })[0]!.message).toMatch(/reserved/);
    expect(checkPolicies({ 'bad id': EVERYONE_READS })[0]!.message).toMatch(/policy id/);
    expect(checkPolicies({ p: '' })[0]!.message).toMatch(/Cedar text/);
    expect(checkPolicies({ p: 42 as unknown as string })[0]!.message).toMatch(/Cedar text/);
    expect(checkPolicies([] as unknown as Record<string, string>)[0]!.message).toMatch(/record/);
  });

  it('rejects an action applied to a resource type it does not apply to', () => {
    const issues = checkPolicies({
      p: 'permit (principal, action == Fortress::Action::"decrypt", resource is Fortress::Table);',
    });
    expect(issues.map((i) => i.message).join(' ')).toMatch(/impossible|applicable action/);
  });

  it('the guardrails validate on their own', () => {
    expect(Object.keys(GUARDRAILS)).toHaveLength(3);
  });
});

describe('Authorizer', () => {
  it('denies by default', () => {
    const az = new Authorizer(world());
    const d = az.authorize({
      principal: { type: 'User', id: 'a/ann' },
      action: 'read',
      resource: { type: 'Table', id: 'a/main/patients' },
    });
    expect(d.allowed).toBe(false);
    expect(d.policies).toEqual([]);
    expect(Authorizer.explain(d)).toBe('no policy permits it');
  });

  it('permits through role inheritance and names the deciding policy', () => {
    const az = new Authorizer(world());
    az.setPolicies({
      staff:
        'permit (principal in Fortress::Role::"a/staff", action == Fortress::Action::"read", resource is Fortress::Table);',
    });
    const d = az.authorize({
      principal: { type: 'User', id: 'a/ann' },
      action: 'read',
      resource: { type: 'Table', id: 'a/main/patients' },
    });
    expect(d).toMatchObject({ allowed: true, policies: ['staff'], cached: false });
    expect(
      az.authorize({
        principal: { type: 'User', id: 'a/ann' },
        action: 'read',
        resource: { type: 'Table', id: 'a/main/patients' },
      }).cached,
    ).toBe(true);
  });

  it('the tenant guardrail beats any permit', () => {
    const az = new Authorizer(world());
    az.setPolicies({ all: 'permit (principal, action, resource);' });
    const d = az.authorize({
      principal: { type: 'User', id: 'b/eve' },
      action: 'read',
      resource: { type: 'Table', id: 'a/main/patients' },
    });
    expect(d.allowed).toBe(false);
    expect(d.policies).toContain('fortress.guard.tenant');
    expect(Authorizer.explain(d)).toMatch(/another tenant/);
  });

  it('no read up, no write down, compartments', () => {
    const az = new Authorizer(world());
    az.setPolicies({ all: 'permit (principal, action, resource);' });
    const ask = (who: string, action: 'read' | 'insert', t: string) =>
      az.authorize({
        principal: { type: 'User', id: who },
        action,
        resource: { type: 'Table', id: `a/main/${t}` },
      });
    expect(ask('a/ann', 'read', 'secrets').policies).toEqual(['fortress.guard.no-read-up']);
    expect(ask('a/ann', 'read', 'patients').allowed).toBe(true);
    expect(ask('a/ann', 'insert', 'patients').policies).toEqual(['fortress.guard.no-write-down']);
    expect(ask('a/ann', 'insert', 'secrets').allowed).toBe(true);
    expect(ask('a/ann', 'read', 'alpha').allowed).toBe(true);
    expect(ask('a/bob', 'read', 'alpha').allowed).toBe(false);
  });

  it('a bad policy set leaves the previous one in force', () => {
    const az = new Authorizer(world());
    az.setPolicies({ p: EVERYONE_READS });
    expect(() => {
      az.setPolicies({
        p: EVERYONE_READS,
        q: 'permit (principal, action, resource) when { principal.nope };',
      });
    }).toThrow(expect.objectContaining({ code: 'FX_POLICY_INVALID' }));
    expect(Object.keys(az.policies)).toEqual(['p']);
  });

  it('never caches actions decided from context', () => {
    const az = new Authorizer(world());
    az.setPolicies({
      office:
        'permit (principal, action == Fortress::Action::"read", resource is Fortress::Table) when { context.now < 1000 };',
    });
    expect(az.isContextual('read')).toBe(true);
    expect(az.isContextual('insert')).toBe(false);
    const req = {
      principal: { type: 'User', id: 'a/ann' },
      action: 'read' as const,
      resource: { type: 'Table', id: 'a/main/patients' },
    };
    expect(az.authorize({ ...req, context: { now: 10 } }).allowed).toBe(true);
    expect(az.authorize({ ...req, context: { now: 5000 } }).allowed).toBe(false);
    expect(az.authorize({ ...req, context: { now: 10 } }).cached).toBe(false);
  });

  it('a changed policy set is seen at once (no stale cache)', () => {
    const az = new Authorizer(world());
    const req = {
      principal: { type: 'User', id: 'a/ann' },
      action: 'read' as const,
      resource: { type: 'Table', id: 'a/main/patients' },
    };
    az.setPolicies({ p: EVERYONE_READS });
    expect(az.authorize(req).allowed).toBe(true);
    az.setPolicies({
      p: EVERYONE_READS,
      f: 'forbid (principal == Fortress::User::"a/ann", action, resource);',
    });
    expect(az.authorize(req)).toMatchObject({ allowed: false, policies: ['f'], cached: false });
  });

  it('marks break-glass permits', () => {
    const az = new Authorizer(world());
    az.setPolicies({
      bg: '@breakGlass("") permit (principal, action, resource) when { context.breakGlass };',
    });
    const req = {
      principal: { type: 'User', id: 'a/ann' },
      action: 'read' as const,
      resource: { type: 'Table', id: 'a/main/patients' },
    };
    expect(az.authorize(req).allowed).toBe(false);
    expect(az.authorize({ ...req, context: { breakGlass: true } })).toMatchObject({
      allowed: true,
      breakGlass: true,
    });
  });

  it('denies a request that does not fit the schema', () => {
    const az = new Authorizer(world());
    az.setPolicies({ all: 'permit (principal, action, resource);' });
    const d = az.authorize({
      principal: { type: 'User', id: 'a/ann' },
      action: 'decrypt',
      resource: { type: 'Table', id: 'a/main/patients' },
    });
    expect(d.allowed).toBe(false);
    expect(Authorizer.explain(d)).toMatch(/schema/);
  });

  it('denies requests that do not fit the schema, whatever the policies say', () => {
    const az = new Authorizer(world());
    az.setPolicies({ all: 'permit (principal, action, resource);' });
    const ann = { type: 'User', id: 'a/ann' };
    const table = { type: 'Table', id: 'a/main/patients' };
    const bad: AuthorizationRequest[] = [
      { principal: { type: 'Role', id: 'a/staff' }, action: 'read', resource: table },
      { principal: ann, action: 'reed' as Action, resource: table },
      { principal: ann, action: 'seal', resource: table },
      { principal: ann, action: 'read', resource: { type: 'Bogus\n', id: 'x' } },
      { principal: ann, action: 'read', resource: table, context: { now: 1.5 } },
      {
        principal: ann,
        action: 'read',
        resource: table,
        context: { breakGlass: 'yes' as unknown as boolean },
      },
      { principal: ann, action: 'read', resource: table, context: { clientAddress: 7 as unknown as string } },
    ];
    for (const request of bad) {
      const d = az.evaluate(request);
      expect(d.allowed, JSON.stringify(request)).toBe(false);
      expect(d.errors[0]).toMatch(/^request: /);
      expect(Authorizer.explain(d)).toMatch(/schema/);
    }
    expect(
      az.evaluate({ principal: ann, action: 'read', resource: { type: 'Bogus\n', id: 'x' } }).errors[0],
    ).not.toContain('\n');
    expect(az.evaluate({ principal: ann, action: 'read', resource: table }).allowed).toBe(true);
  });

  it('property: cached decisions always equal uncached evaluation, across policy changes', () => {
    const principals = ['a/ann', 'a/bob', 'b/eve'];
    const tables = ['a/main/patients', 'a/main/secrets', 'a/main/alpha', 'b/main/patients'];
    const actions = ['read', 'query', 'insert', 'update', 'delete'] as const;
    const permitOf = fc.record({
      effect: fc.constantFrom('permit', 'forbid'),
      who: fc.constantFrom(
        'principal',
        'principal in Fortress::Role::"a/staff"',
        'principal == Fortress::User::"a/bob"',
        'principal in Fortress::Role::"b/analyst"',
      ),
      action: fc.constantFrom(...actions),
      cond: fc.constantFrom(
        '',
        ' when { resource.level <= 1 }',
        ' when { resource.name == "patients" }',
        ' unless { principal.level > 1 }',
      ),
    });
    const az = new Authorizer(world());
    fc.assert(
      fc.property(
        fc.array(permitOf, { maxLength: 6 }),
        fc.array(
          fc.tuple(fc.constantFrom(...principals), fc.constantFrom(...actions), fc.constantFrom(...tables)),
          { minLength: 1, maxLength: 20 },
        ),
        (policies, requests) => {
          const set: Record<string, string> = {};
          policies.forEach((p, i) => {
            set[`p${i}`] =
              `${p.effect} (${p.who}, action == Fortress::Action::"${p.action}", resource is Fortress::Table)${p.cond};`;
          });
          az.setPolicies(set);
          for (const [who, action, t] of [...requests, ...requests]) {
            const req = { principal: { type: 'User', id: who }, action, resource: { type: 'Table', id: t } };
            const cached = az.authorize(req);
            const fresh = az.evaluate(req);
            expect(cached.allowed).toBe(fresh.allowed);
            expect([...cached.policies].sort()).toEqual([...fresh.policies].sort());
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('property: one preparsed set per action decides exactly as Cedar does with the whole set', () => {
    // The authorizer hands Cedar only the policies whose action scope can match the request.
    const principals = ['a/ann', 'a/bob', 'b/eve'];
    const tables = ['a/main/patients', 'a/main/secrets', 'a/main/alpha', 'b/main/patients'];
    const actions = ['read', 'query', 'insert', 'update', 'delete'] as const;
    const scopeOf = fc.oneof(
      fc.constant('action'),
      fc.constantFrom(...actions).map((a) => `action == Fortress::Action::"${a}"`),
      fc
        .uniqueArray(fc.constantFrom(...actions), { minLength: 1, maxLength: 3 })
        .map((list) => `action in [${list.map((a) => `Fortress::Action::"${a}"`).join(', ')}]`),
    );
    const policyOf = fc.record({
      effect: fc.constantFrom('permit', 'forbid'),
      who: fc.constantFrom(
        'principal',
        'principal in Fortress::Role::"a/staff"',
        'principal in Fortress::Role::"b/analyst"',
      ),
      scope: scopeOf,
      cond: fc.constantFrom('', ' when { resource.level <= 1 }', ' unless { principal.level > 1 }'),
    });
    const w = world();
    const az = new Authorizer(w);
    const qualified = (ref: { type: string; id: string }) => ({ type: `Fortress::${ref.type}`, id: ref.id });
    fc.assert(
      fc.property(fc.array(policyOf, { maxLength: 8 }), (policies) => {
        const set: Record<string, string> = {};
        policies.forEach((p, i) => {
          set[`p${i}`] = `${p.effect} (${p.who}, ${p.scope}, resource is Fortress::Table)${p.cond};`;
        });
        az.setPolicies(set);
        expect(preparsePolicySet('whole-set', { staticPolicies: { ...set, ...GUARDRAILS } }).type).toBe(
          'success',
        );
        for (const who of principals) {
          for (const action of actions) {
            for (const t of tables) {
              const principal = { type: 'User', id: who };
              const resource = { type: 'Table', id: t };
              const fresh = az.evaluate({ principal, action, resource });
              const whole = statefulIsAuthorized({
                principal: qualified(principal),
                action: { type: 'Fortress::Action', id: action },
                resource: qualified(resource),
                context: { now: Math.floor(Date.now() / 1000), breakGlass: false },
                preparsedPolicySetId: 'whole-set',
                validateRequest: false,
                entities: w.entities(principal, resource).map((e) => ({
                  uid: qualified(e.uid),
                  attrs: { ...e.attrs },
                  parents: e.parents.map(qualified),
                })),
              });
              if (whole.type !== 'success') throw new Error('the whole-set call failed');
              expect(fresh.allowed).toBe(whole.response.decision === 'allow');
              expect([...fresh.policies].sort()).toEqual([...whole.response.diagnostics.reason].sort());
            }
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});
