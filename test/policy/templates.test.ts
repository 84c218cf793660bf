import { describe, expect, it } from 'vitest';
import { schemaToJson } from '@cedar-policy/cedar-wasm/nodejs';
import {
  Authorizer,
  checkPolicies,
  type CedarEntity,
  type EntityRef,
} from '../../src/policy/authorizer/authorizer.js';
import { ACTIONS, FORTRESS_CEDAR_SCHEMA, type Action } from '../../src/policy/schema/fortress-schema.js';
import {
  POLICY_TEMPLATES,
  renderTemplate,
  TEMPLATE_NAMES,
  type TemplateName,
} from '../../src/policy/templates/policy-templates.js';
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

const TENANTS = ['acme', 'globex'] as const;
type Tenant = (typeof TENANTS)[number];

/** The label scheme unclassified < cui < secret < top-secret, as ranks. */
const LEVELS = { unclassified: 0, cui: 1, secret: 2, 'top-secret': 3 } as const;
type LevelName = keyof typeof LEVELS;

/** Each template is rendered for a role of the same name. */
const roleOf = (template: TemplateName): string => template;

/**
 * Who is tested: one principal per template per tenant at top-secret, plus a second analyst at cui.
 * A profile picks its row in the expectation table below.
 */
interface Subject {
  readonly profile: string;
  readonly template: TemplateName;
  readonly type: 'User' | 'ServiceAccount';
  readonly name: string;
  readonly level: number;
}
const SUBJECTS: readonly Subject[] = [
  { profile: 'analyst', template: 'analyst', type: 'User', name: 'ann', level: LEVELS['top-secret'] },
  { profile: 'analyst', template: 'analyst', type: 'User', name: 'lou', level: LEVELS.cui },
  { profile: 'app', template: 'app', type: 'ServiceAccount', name: 'etl', level: LEVELS['top-secret'] },
  { profile: 'key-admin', template: 'key-admin', type: 'User', name: 'kim', level: LEVELS['top-secret'] },
  { profile: 'auditor', template: 'auditor', type: 'User', name: 'aud', level: LEVELS['top-secret'] },
  { profile: 'break-glass', template: 'break-glass', type: 'User', name: 'bg', level: LEVELS['top-secret'] },
];

type Kind =
  | 'Tenant'
  | 'Database'
  | 'Table'
  | 'Column'
  | 'Row'
  | 'Key'
  | 'Policy'
  | 'AuditLog'
  | 'System'
  | 'Secret'
  | 'TransitKey'
  | 'DatabaseRole';
type Expect = 'allow' | 'deny';
type Grants = Readonly<Record<Action, Partial<Record<Kind, Expect>>>>;

/*
 * THE EXPECTATIONS, written by hand: for each profile, each action, each resource kind the action
 * applies to, whether a principal of that profile gets it on its own tenant's resource — before
 * the security labels are considered (see LABEL_ALLOWS). Cross-tenant requests are always denied
 * and are derived, not listed.
 */
/** The transit and database engines' actions, all granted or all refused. */
function engines(e: Expect): Pick<Grants, Exclude<Action, KvOrTableAction>> {
  return {
    transitEncrypt: { TransitKey: e },
    transitDecrypt: { TransitKey: e },
    transitRewrap: { TransitKey: e },
    transitDataKey: { TransitKey: e },
    transitPlaintextDataKey: { TransitKey: e },
    transitHmac: { TransitKey: e },
    transitSign: { TransitKey: e },
    transitVerify: { TransitKey: e },
    readTransitKey: { TransitKey: e },
    manageTransitKey: { TransitKey: e },
    exportTransitKey: { TransitKey: e },
    listTransitKeys: { Tenant: e },
    transitRandom: { Tenant: e },
    readCredentials: { DatabaseRole: e },
    renewLease: { DatabaseRole: e },
    revokeLease: { DatabaseRole: e },
    manageDatabase: { Tenant: e },
  };
}
type KvOrTableAction = Extract<
  Action,
  | 'read'
  | 'decrypt'
  | 'query'
  | 'insert'
  | 'update'
  | 'delete'
  | 'createTable'
  | 'alterTable'
  | 'dropTable'
  | 'rotateKey'
  | 'destroyKey'
  | 'exportKey'
  | 'managePolicy'
  | 'readAudit'
  | 'seal'
  | 'unseal'
  | 'readSecret'
  | 'writeSecret'
  | 'deleteSecret'
  | 'destroySecret'
  | 'listSecrets'
  | 'configureSecrets'
>;

const NOTHING: Grants = {
  read: { Table: 'deny', Column: 'deny', Row: 'deny' },
  decrypt: { Column: 'deny' },
  query: { Table: 'deny', Column: 'deny' },
  insert: { Table: 'deny', Row: 'deny' },
  update: { Table: 'deny', Row: 'deny' },
  delete: { Table: 'deny', Row: 'deny' },
  createTable: { Database: 'deny' },
  alterTable: { Table: 'deny' },
  dropTable: { Table: 'deny' },
  rotateKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
  destroyKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
  exportKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
  managePolicy: { Policy: 'deny', Tenant: 'deny' },
  readAudit: { AuditLog: 'deny' },
  seal: { System: 'deny' },
  unseal: { System: 'deny' },
  readSecret: { Secret: 'deny' },
  writeSecret: { Secret: 'deny' },
  deleteSecret: { Secret: 'deny' },
  destroySecret: { Secret: 'deny' },
  listSecrets: { Secret: 'deny' },
  configureSecrets: { Tenant: 'deny' },
  ...engines('deny'),
};

const EXPECTED: Readonly<Record<string, Grants>> = {
  analyst: {
    read: { Table: 'allow', Column: 'allow', Row: 'allow' },
    decrypt: { Column: 'deny' },
    query: { Table: 'allow', Column: 'allow' },
    insert: { Table: 'deny', Row: 'deny' },
    update: { Table: 'deny', Row: 'deny' },
    delete: { Table: 'deny', Row: 'deny' },
    createTable: { Database: 'deny' },
    alterTable: { Table: 'deny' },
    dropTable: { Table: 'deny' },
    rotateKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    destroyKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    exportKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    managePolicy: { Policy: 'deny', Tenant: 'deny' },
    readAudit: { AuditLog: 'deny' },
    seal: { System: 'deny' },
    unseal: { System: 'deny' },
    readSecret: { Secret: 'deny' },
    writeSecret: { Secret: 'deny' },
    deleteSecret: { Secret: 'deny' },
    destroySecret: { Secret: 'deny' },
    listSecrets: { Secret: 'deny' },
    configureSecrets: { Tenant: 'deny' },
    ...engines('deny'),
  },
  app: {
    read: { Table: 'allow', Column: 'allow', Row: 'allow' },
    decrypt: { Column: 'allow' },
    query: { Table: 'allow', Column: 'allow' },
    insert: { Table: 'allow', Row: 'allow' },
    update: { Table: 'allow', Row: 'allow' },
    delete: { Table: 'allow', Row: 'allow' },
    createTable: { Database: 'deny' },
    alterTable: { Table: 'deny' },
    dropTable: { Table: 'deny' },
    rotateKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    destroyKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    exportKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    managePolicy: { Policy: 'deny', Tenant: 'deny' },
    readAudit: { AuditLog: 'deny' },
    seal: { System: 'deny' },
    unseal: { System: 'deny' },
    readSecret: { Secret: 'deny' },
    writeSecret: { Secret: 'deny' },
    deleteSecret: { Secret: 'deny' },
    destroySecret: { Secret: 'deny' },
    listSecrets: { Secret: 'deny' },
    configureSecrets: { Tenant: 'deny' },
    ...engines('deny'),
  },
  'key-admin': {
    read: { Table: 'deny', Column: 'deny', Row: 'deny' },
    decrypt: { Column: 'deny' },
    query: { Table: 'deny', Column: 'deny' },
    insert: { Table: 'deny', Row: 'deny' },
    update: { Table: 'deny', Row: 'deny' },
    delete: { Table: 'deny', Row: 'deny' },
    createTable: { Database: 'deny' },
    alterTable: { Table: 'deny' },
    dropTable: { Table: 'deny' },
    rotateKey: { Key: 'allow', Table: 'allow', Tenant: 'allow' },
    destroyKey: { Key: 'allow', Table: 'allow', Tenant: 'allow' },
    exportKey: { Key: 'allow', Table: 'allow', Tenant: 'allow' },
    managePolicy: { Policy: 'deny', Tenant: 'deny' },
    readAudit: { AuditLog: 'deny' },
    seal: { System: 'deny' },
    unseal: { System: 'deny' },
    readSecret: { Secret: 'deny' },
    writeSecret: { Secret: 'deny' },
    deleteSecret: { Secret: 'deny' },
    destroySecret: { Secret: 'deny' },
    listSecrets: { Secret: 'deny' },
    configureSecrets: { Tenant: 'deny' },
    ...engines('deny'),
  },
  auditor: {
    read: { Table: 'deny', Column: 'deny', Row: 'deny' },
    decrypt: { Column: 'deny' },
    query: { Table: 'deny', Column: 'deny' },
    insert: { Table: 'deny', Row: 'deny' },
    update: { Table: 'deny', Row: 'deny' },
    delete: { Table: 'deny', Row: 'deny' },
    createTable: { Database: 'deny' },
    alterTable: { Table: 'deny' },
    dropTable: { Table: 'deny' },
    rotateKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    destroyKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    exportKey: { Key: 'deny', Table: 'deny', Tenant: 'deny' },
    managePolicy: { Policy: 'deny', Tenant: 'deny' },
    readAudit: { AuditLog: 'allow' },
    seal: { System: 'deny' },
    unseal: { System: 'deny' },
    readSecret: { Secret: 'deny' },
    writeSecret: { Secret: 'deny' },
    deleteSecret: { Secret: 'deny' },
    destroySecret: { Secret: 'deny' },
    listSecrets: { Secret: 'deny' },
    configureSecrets: { Tenant: 'deny' },
    ...engines('deny'),
  },
  // Without context.breakGlass the role has nothing at all.
  'break-glass': NOTHING,
  'break-glass (invoked)': {
    read: { Table: 'allow', Column: 'allow', Row: 'allow' },
    decrypt: { Column: 'allow' },
    query: { Table: 'allow', Column: 'allow' },
    insert: { Table: 'allow', Row: 'allow' },
    update: { Table: 'allow', Row: 'allow' },
    delete: { Table: 'allow', Row: 'allow' },
    createTable: { Database: 'allow' },
    alterTable: { Table: 'allow' },
    dropTable: { Table: 'allow' },
    rotateKey: { Key: 'allow', Table: 'allow', Tenant: 'allow' },
    destroyKey: { Key: 'allow', Table: 'allow', Tenant: 'allow' },
    exportKey: { Key: 'allow', Table: 'allow', Tenant: 'allow' },
    managePolicy: { Policy: 'allow', Tenant: 'allow' },
    readAudit: { AuditLog: 'allow' },
    seal: { System: 'allow' },
    unseal: { System: 'allow' },
    readSecret: { Secret: 'allow' },
    writeSecret: { Secret: 'allow' },
    deleteSecret: { Secret: 'allow' },
    destroySecret: { Secret: 'allow' },
    listSecrets: { Secret: 'allow' },
    configureSecrets: { Tenant: 'allow' },
    ...engines('allow'),
  },
};

/*
 * The security labels, also by hand: which resource levels a principal of each clearance may read
 * (no read up) and write (no write down — so a top-secret principal writes only top-secret
 * tables, which is intended). Other actions ignore labels.
 */
const READS: readonly Action[] = ['read', 'decrypt', 'query'];
const WRITES: readonly Action[] = ['insert', 'update', 'delete'];
const LABEL_ALLOWS: Readonly<Record<'read' | 'write', Readonly<Record<number, readonly number[]>>>> = {
  read: { 3: [0, 1, 2, 3], 1: [0, 1] },
  write: { 3: [3], 1: [1, 2, 3] },
};

function labelAllows(action: Action, principalLevel: number, resourceLevel: number | undefined): boolean {
  if (resourceLevel === undefined) return true;
  const rule = READS.includes(action) ? 'read' : WRITES.includes(action) ? 'write' : undefined;
  return rule === undefined || LABEL_ALLOWS[rule][principalLevel]!.includes(resourceLevel);
}

interface Target {
  readonly ref: EntityRef;
  readonly kind: Kind;
  readonly tenant: Tenant | '*';
  readonly level?: number;
}

function buildWorld(): { world: CedarWorld; targets: Target[] } {
  const world = new CedarWorld();
  const targets: Target[] = [];
  const resource = (e: CedarEntity, tenant: Tenant | '*', level?: number): void => {
    world.add(e);
    targets.push({ ref: e.uid, kind: e.uid.type as Kind, tenant, ...(level === undefined ? {} : { level }) });
  };
  resource({ uid: { type: 'System', id: 'system' }, attrs: { tenant: '*' }, parents: [] }, '*');
  for (const tenant of TENANTS) {
    const inTenant = [{ type: 'Tenant', id: tenant }];
    resource({ uid: { type: 'Tenant', id: tenant }, attrs: { tenant }, parents: [] }, tenant);
    resource(
      { uid: { type: 'Database', id: `${tenant}/main` }, attrs: { tenant, name: 'main' }, parents: inTenant },
      tenant,
    );
    resource(
      { uid: { type: 'Key', id: `${tenant}/fortress/k1` }, attrs: { tenant, name: 'k1' }, parents: inTenant },
      tenant,
    );
    resource(
      { uid: { type: 'Policy', id: `${tenant}/p1` }, attrs: { tenant, name: 'p1' }, parents: inTenant },
      tenant,
    );
    resource({ uid: { type: 'AuditLog', id: tenant }, attrs: { tenant }, parents: inTenant }, tenant);
    resource(
      {
        uid: { type: 'Secret', id: `${tenant}/apps/db` },
        attrs: { tenant, path: 'apps/db', owner: '' },
        parents: inTenant,
      },
      tenant,
    );
    resource(
      {
        uid: { type: 'TransitKey', id: `${tenant}/orders` },
        attrs: { tenant, name: 'orders' },
        parents: inTenant,
      },
      tenant,
    );
    resource(
      {
        uid: { type: 'DatabaseRole', id: `${tenant}/readonly` },
        attrs: { tenant, name: 'readonly' },
        parents: inTenant,
      },
      tenant,
    );
    for (const [name, level] of Object.entries(LEVELS) as [LevelName, number][]) {
      const table = { type: 'Table', id: `${tenant}/main/${name}` };
      const labelled = { tenant, database: 'main', level, compartments: [] };
      resource(
        { uid: table, attrs: { ...labelled, name }, parents: [{ type: 'Database', id: `${tenant}/main` }] },
        tenant,
        level,
      );
      resource(
        {
          uid: { type: 'Column', id: `${table.id}/ssn` },
          attrs: { ...labelled, table: name, name: 'ssn', encrypted: true },
          parents: [table],
        },
        tenant,
        level,
      );
      resource(
        { uid: { type: 'Row', id: `${table.id}/1` }, attrs: { ...labelled, table: name }, parents: [table] },
        tenant,
        level,
      );
    }
    for (const template of TEMPLATE_NAMES) {
      world.add({
        uid: { type: 'Role', id: `${tenant}/${roleOf(template)}` },
        attrs: { tenant, name: roleOf(template) },
        parents: [],
      });
    }
    for (const s of SUBJECTS) {
      world.add({
        uid: { type: s.type, id: `${tenant}/${s.name}` },
        attrs: { tenant, name: s.name, level: s.level, compartments: [] },
        parents: [{ type: 'Role', id: `${tenant}/${roleOf(s.template)}` }],
      });
    }
  }
  return { world, targets };
}

function allTemplates(): Record<string, string> {
  const all: Record<string, string> = {};
  for (const tenant of TENANTS) {
    for (const template of TEMPLATE_NAMES) {
      Object.assign(all, renderTemplate(template, { tenant, role: roleOf(template) }));
    }
  }
  return all;
}

/** Resource types each action applies to, from the schema (to prove the table above is complete). */
function schemaAppliesTo(): Record<string, string[]> {
  const answer = schemaToJson(FORTRESS_CEDAR_SCHEMA);
  if (answer.type !== 'success') throw new Error('schema does not parse');
  const out: Record<string, string[]> = {};
  for (const [action, spec] of Object.entries(answer.json['Fortress']!.actions)) {
    out[action] = [...(spec.appliesTo?.resourceTypes ?? [])].sort();
  }
  return out;
}

describe('policy templates: rendering', () => {
  it('every template, for either tenant, renders a set that checkPolicies accepts', () => {
    for (const tenant of TENANTS) {
      for (const template of TEMPLATE_NAMES) {
        const set = renderTemplate(template, { tenant, role: roleOf(template) });
        expect(checkPolicies(set)).toEqual([]);
        for (const id of Object.keys(set))
          expect(id.startsWith(`${template}.${tenant}.${template}.`)).toBe(true);
      }
    }
    expect(checkPolicies(allTemplates())).toEqual([]);
  });

  it('renders the documented ids and scopes', () => {
    expect(Object.keys(renderTemplate('analyst', { tenant: 'acme', role: 'analysts' }))).toEqual([
      'analyst.acme.analysts.permit',
    ]);
    expect(Object.keys(renderTemplate('key-admin', { tenant: 'acme', role: 'ka' }))).toEqual([
      'key-admin.acme.ka.permit',
      'key-admin.acme.ka.forbid-data',
    ]);
    expect(Object.keys(renderTemplate('auditor', { tenant: 'acme', role: 'aud' }))).toEqual([
      'auditor.acme.aud.permit',
      'auditor.acme.aud.forbid-data',
    ]);
    const bg = renderTemplate('break-glass', { tenant: 'acme', role: 'bg' });
    expect(Object.keys(bg)).toEqual(['break-glass.acme.bg.permit', 'break-glass.acme.bg.permit-system']);
    for (const text of Object.values(bg)) {
      expect(text).toMatch(/^@breakGlass\("every use is recorded loudly"\)/);
      expect(text).toContain('principal in Fortress::Role::"acme/bg"');
      expect(text).toContain('when { context.breakGlass }');
    }
    const analyst = renderTemplate('analyst', { tenant: 'acme', role: 'analysts' })[
      'analyst.acme.analysts.permit'
    ]!;
    expect(analyst).toContain('resource in Fortress::Tenant::"acme"');
    expect(analyst).not.toContain('decrypt');
  });

  it('odd but valid names render valid sets', () => {
    const set = renderTemplate('app', { tenant: 'a.b-c_9', role: 'R.0' });
    expect(checkPolicies(set)).toEqual([]);
    expect(Object.keys(set)).toEqual(['app.a.b-c_9.R.0.permit']);
  });

  it('each template has a description, and POLICY_TEMPLATES render equals renderTemplate', () => {
    for (const name of TEMPLATE_NAMES) {
      expect(POLICY_TEMPLATES[name].description.length).toBeGreaterThan(10);
      expect(POLICY_TEMPLATES[name].render({ tenant: 't', role: 'r' })).toEqual(
        renderTemplate(name, { tenant: 't', role: 'r' }),
      );
    }
    expect(Object.keys(POLICY_TEMPLATES).sort()).toEqual([...TEMPLATE_NAMES].sort());
  });

  it('rejects unknown templates, listing the names', () => {
    for (const name of ['reader', '', 42, null, undefined, 'ANALYST', 'toString', '__proto__']) {
      const error = thrown(() => renderTemplate(name, { tenant: 'acme', role: 'r' }));
      expect(error.code).toBe('FX_INVALID_ARGUMENT');
      expect(error.message).toContain('analyst, app, key-admin, auditor, break-glass');
    }
    expect(() => renderTemplate('reader', { tenant: 'acme', role: 'r' })).toThrow(
      /unknown template "reader"/,
    );
  });

  it('rejects malformed tenant and role names (they go verbatim into Cedar and ids)', () => {
    const bad: unknown[] = [
      null,
      undefined,
      'acme',
      [],
      {},
      { tenant: 'acme' },
      { role: 'r' },
      { tenant: '', role: 'r' },
      { tenant: 'acme', role: '' },
      { tenant: 'a/b', role: 'r' },
      { tenant: 'acme', role: 'x/y' },
      { tenant: 'a"b', role: 'r' },
      { tenant: 'acme', role: 'r" ) ; permit (principal, action, resource' },
      { tenant: 'a b', role: 'r' },
      { tenant: 'acme\n', role: 'r' },
      { tenant: 'é', role: 'r' },
      { tenant: 'x'.repeat(65), role: 'r' },
      { tenant: 'acme', role: 'x'.repeat(65) },
      { tenant: 7, role: 'r' },
      { tenant: 'acme', role: ['r'] },
    ];
    for (const params of bad) {
      for (const name of TEMPLATE_NAMES) {
        expect(() => renderTemplate(name, params)).toThrow(
          expect.objectContaining({ code: 'FX_INVALID_ARGUMENT' }),
        );
        expect(() => POLICY_TEMPLATES[name].render(params as never)).toThrow(
          expect.objectContaining({ code: 'FX_INVALID_ARGUMENT' }),
        );
      }
    }
    expect(() => renderTemplate('app', { tenant: 'a/b', role: 'r' })).toThrow(/params\.tenant/);
  });

  it('names at the 64-character limit render unless the policy ids would pass 128 characters', () => {
    const long = 'x'.repeat(64);
    expect(checkPolicies(renderTemplate('app', { tenant: 'acme', role: long }))).toEqual([]);
    const error = thrown(() => renderTemplate('break-glass', { tenant: long, role: long }));
    expect(error.code).toBe('FX_INVALID_ARGUMENT');
    expect(error.message).toMatch(/128/);
  });
});

describe('policy templates: the decision matrix', () => {
  const { world, targets } = buildWorld();
  const authorizer = new Authorizer(world);
  authorizer.setPolicies(allTemplates());
  const applies = schemaAppliesTo();

  it('the expectation table covers exactly the schema’s action–resource pairs', () => {
    for (const [profile, grants] of Object.entries(EXPECTED)) {
      expect(Object.keys(grants).sort(), profile).toEqual([...ACTIONS].sort());
      for (const action of ACTIONS) {
        expect(Object.keys(grants[action]).sort(), `${profile} ${action}`).toEqual(applies[action]);
      }
    }
    // The world has at least one resource of every kind the table mentions, in both tenants.
    for (const action of ACTIONS) {
      for (const kind of applies[action]!) {
        for (const tenant of kind === 'System' ? ['*'] : TENANTS) {
          expect(targets.some((t) => t.kind === kind && t.tenant === tenant)).toBe(true);
        }
      }
    }
  });

  const cases = SUBJECTS.flatMap((subject) =>
    TENANTS.flatMap((tenant) =>
      [false, true].map((breakGlass) => ({
        title: `${subject.profile} ${tenant}/${subject.name} (level ${subject.level}), breakGlass=${breakGlass}`,
        subject,
        tenant,
        breakGlass,
      })),
    ),
  );

  it.each(cases)('$title', ({ subject, tenant, breakGlass }) => {
    const profile =
      subject.template === 'break-glass' && breakGlass ? 'break-glass (invoked)' : subject.profile;
    const grants = EXPECTED[profile]!;
    const principal = { type: subject.type, id: `${tenant}/${subject.name}` };
    const mismatches: string[] = [];
    let checked = 0;
    let allowed = 0;
    for (const action of ACTIONS) {
      for (const target of targets) {
        if (!applies[action]!.includes(target.kind)) continue;
        const sameTenant = target.tenant === tenant || target.tenant === '*';
        // Derived: another tenant's resource is always denied. The rest comes from the tables.
        const want: Expect =
          sameTenant &&
          grants[action][target.kind] === 'allow' &&
          labelAllows(action, subject.level, target.level)
            ? 'allow'
            : 'deny';
        const d = authorizer.authorize({
          principal,
          action,
          resource: target.ref,
          context: { breakGlass },
        });
        checked++;
        const got: Expect = d.allowed ? 'allow' : 'deny';
        if (got !== want) {
          mismatches.push(
            `${action} ${target.ref.type}::${target.ref.id}: want ${want}, got ${got} (${Authorizer.explain(d)})`,
          );
        }
        if (d.allowed) {
          allowed++;
          // The permit that allowed is the principal's own template for its own tenant.
          expect(d.policies.every((id) => id.startsWith(`${subject.template}.${tenant}.`))).toBe(true);
          expect(d.breakGlass).toBe(subject.template === 'break-glass');
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(150);
    // Sanity: each profile except the idle break-glass role is allowed something.
    expect(allowed > 0).toBe(profile !== 'break-glass');
  });

  it('spot checks, spelled out', () => {
    const ask = (who: string, type: string, action: Action, rtype: string, rid: string, breakGlass = false) =>
      authorizer.authorize({
        principal: { type, id: who },
        action,
        resource: { type: rtype, id: rid },
        context: { breakGlass },
      });
    // The analyst reads but cannot decrypt: encrypted columns stay masked.
    expect(ask('acme/ann', 'User', 'read', 'Column', 'acme/main/secret/ssn').allowed).toBe(true);
    expect(Authorizer.explain(ask('acme/ann', 'User', 'decrypt', 'Column', 'acme/main/secret/ssn'))).toBe(
      'no policy permits it',
    );
    // The cui analyst cannot read up.
    expect(Authorizer.explain(ask('acme/lou', 'User', 'read', 'Table', 'acme/main/secret'))).toMatch(
      /clearance/,
    );
    // The key admin's data forbid names itself.
    expect(ask('acme/kim', 'User', 'read', 'Table', 'acme/main/cui').policies).toEqual([
      'key-admin.acme.key-admin.forbid-data',
    ]);
    // A top-secret app writing to a secret table is a write-down.
    expect(ask('acme/etl', 'ServiceAccount', 'insert', 'Table', 'acme/main/secret').policies).toEqual([
      'fortress.guard.no-write-down',
    ]);
    // Break-glass in one tenant does not reach the other, but seal is system-wide.
    expect(ask('acme/bg', 'User', 'read', 'Table', 'globex/main/cui', true).policies).toEqual([
      'fortress.guard.tenant',
    ]);
    expect(ask('globex/bg', 'User', 'seal', 'System', 'system', true)).toMatchObject({
      allowed: true,
      breakGlass: true,
      policies: ['break-glass.globex.break-glass.permit-system'],
    });
  });

  it('the data forbid of key-admin and auditor holds against a permit-everything policy', () => {
    const az = new Authorizer(world);
    az.setPolicies({ ...allTemplates(), everything: 'permit (principal, action, resource);' });
    for (const who of ['acme/kim', 'acme/aud']) {
      for (const action of ['read', 'query', 'insert'] as const) {
        const d = az.authorize({
          principal: { type: 'User', id: who },
          action,
          resource: { type: 'Table', id: 'acme/main/top-secret' },
        });
        expect(d.allowed).toBe(false);
        expect(d.policies[0]).toMatch(/\.forbid-data$/);
      }
      // Non-data actions are not forbidden by the template, so the broad permit gives them.
      expect(
        az.authorize({
          principal: { type: 'User', id: who },
          action: 'managePolicy',
          resource: { type: 'Policy', id: 'acme/p1' },
        }).allowed,
      ).toBe(true);
    }
    // …while the analyst, with no forbid, now can decrypt: the analyst template is a grant, not a cap.
    expect(
      az.authorize({
        principal: { type: 'User', id: 'acme/ann' },
        action: 'decrypt',
        resource: { type: 'Column', id: 'acme/main/cui/ssn' },
      }).allowed,
    ).toBe(true);
  });
});
