/**
 * Policy enforcement end to end on a real data directory: sessions (`db.as`), masking, the MAC
 * row filter in SQL, no write down, row filters, tenants, cache invalidation, audit entries,
 * persistence across reopen, and bypass attempts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fortress } from '../../src/fortress.js';
import { Authorizer, type Decision } from '../../src/policy/authorizer/authorizer.js';
import type { Action } from '../../src/policy/schema/fortress-schema.js';
import { renderTemplate } from '../../src/policy/templates/policy-templates.js';
import type { AuditEntry } from '../../src/audit/entry/audit-entry.js';
import { dropTestSchemas, openTestFortress } from '../helpers/backend.js';

let dir: string;
let db: Fortress;

const quiet = { onWarning: () => undefined };

/** Awaits a rejection and checks its code and message. */
async function rejects(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e as { code?: string; message?: string },
  );
  expect(error?.code).toBe(code);
  if (message !== undefined) expect(error?.message).toMatch(message);
}

function throws(fn: () => unknown, code: RegExp): void {
  let caught: { code?: string } | null = null;
  try {
    fn();
  } catch (e) {
    caught = e as { code?: string };
  }
  expect(caught?.code).toMatch(code);
}

async function seed(): Promise<void> {
  await db.createTable('patients', {
    columns: {
      id: { type: 'integer', primaryKey: true },
      email: { type: 'text', encrypt: { search: 'equality' }, mask: 'email' },
      ssn: { type: 'text', encrypt: true, mask: 'last4' },
      notes: { type: 'text', encrypt: true },
      secretNote: { type: 'text', encrypt: true, mask: 'omit' },
      ward: { type: 'text' },
      age: { type: 'integer' },
      label: { type: 'integer' },
    },
    rowLabel: 'label',
    classification: 'unclassified',
  });
  const s = db.access.labels;
  const p = db.table('patients');
  await p.insert({
    id: 1,
    email: 'ann@example.com',
    ssn: '123-45-6789',
    notes: 'n1',
    secretNote: 'x',
    ward: 'A',
    age: 41,
    label: s.pack(s.parse('unclassified')),
  });
  await p.insert({
    id: 2,
    email: 'bob@example.com',
    ssn: '987-65-4321',
    notes: 'n2',
    secretNote: 'y',
    ward: 'B',
    age: 29,
    label: s.pack(s.parse('secret')),
  });
  await p.insert({
    id: 3,
    email: 'cy@example.com',
    ssn: '555-55-5555',
    notes: 'n3',
    secretNote: 'z',
    ward: 'A',
    age: 60,
    label: s.pack(s.parse('top-secret')),
  });
  await db.access.addRole('analyst');
  await db.access.addRole('app');
  await db.access.addUser('ann', { roles: ['analyst'], clearance: 'secret' });
  await db.access.addServiceAccount('etl', { roles: ['app'], clearance: 'top-secret' });
  await db.access.addUser('low', { roles: ['app'], clearance: 'unclassified' });
  await db.access.addUser('nobody', {});
  await db.access.addPolicies({
    'analyst-read':
      'permit (principal in Fortress::Role::"default/analyst", action in [Fortress::Action::"read", Fortress::Action::"query"], resource);',
    'app-all':
      'permit (principal in Fortress::Role::"default/app", action in [Fortress::Action::"read", Fortress::Action::"decrypt", Fortress::Action::"query", Fortress::Action::"insert", Fortress::Action::"update", Fortress::Action::"delete"], resource);',
  });
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-policy-'));
  db = await openTestFortress({ path: dir, ...quiet, audit: { checkpointIntervalMs: 0 } });
  await seed();
});

afterEach(async () => {
  await db.close();
  await rm(dir, { recursive: true, force: true });
});
afterAll(dropTestSchemas);

describe('policy sessions', () => {
  it('denies by default with FX_FORBIDDEN and a data-free explanation', async () => {
    const err = await db
      .as('nobody')
      .table('patients')
      .find()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FX_FORBIDDEN' });
    expect((err as Error).message).toMatch(/no policy permits it/);
    expect((err as Error).message).not.toMatch(/ann@example/);
  });

  it('an analyst reads masked values and never sees rows above their clearance', async () => {
    const rows = await db
      .as('ann')
      .table('patients')
      .find({ orderBy: { id: 'asc' } });
    expect(rows.map((r) => r['id'])).toEqual([1, 2]);
    expect(rows[0]).toMatchObject({
      email: 'a***@example.com',
      ssn: '*******6789',
      notes: '[redacted]',
      ward: 'A',
      label: 'unclassified',
    });
    expect(rows[0]).not.toHaveProperty('secretNote');
    expect(await db.as('ann').table('patients').get(3)).toBeUndefined();
    expect(await db.as('ann').table('patients').count()).toBe(2);
  });

  it('the row filter runs in SQL: limits and counts see only visible rows', async () => {
    const low = db.as('low').table('patients');
    expect(await low.count()).toBe(1);
    expect((await low.find({ limit: 5 })).map((r) => r['id'])).toEqual([1]);
    expect(await low.find({ where: { email: 'cy@example.com' } })).toEqual([]);
  });

  it('every read path — key read, blind-index lookup, planner, count — sees only rows at or below the session label', async () => {
    // etl (clearance top-secret) working at secret: whole rows are fetched, so the engine's fast
    // paths run, with the label range in their SQL.
    const etl = db.as({ service: 'etl', level: 'secret' }).table('patients');
    expect(await etl.get(3)).toBeUndefined();
    expect(await etl.get(2)).toMatchObject({ email: 'bob@example.com', label: 'secret' });
    expect(await etl.find({ where: { email: 'cy@example.com' } })).toEqual([]);
    expect((await etl.find({ where: { email: 'bob@example.com' } })).map((r) => r['id'])).toEqual([2]);
    expect((await etl.find({ where: { ward: 'A' } })).map((r) => r['id'])).toEqual([1]);
    expect((await etl.find({ orderBy: { id: 'desc' }, limit: 1 })).map((r) => r['id'])).toEqual([2]);
    expect(await db.table('patients').count()).toBe(3); // the owner's handle is not scoped
    expect(await etl.count()).toBe(2);
    expect(await etl.count({ where: { ward: 'A' } })).toBe(1);
    expect(await etl.findOne({ where: { email: 'cy@example.com' } })).toBeUndefined();
    // At top-secret the same handle shape sees the row.
    expect(await db.as('service:etl').table('patients').get(3)).toMatchObject({ id: 3 });
  });

  it('an app with decrypt sees plaintext', async () => {
    const row = await db.as('service:etl').table('patients').get(3);
    expect(row).toMatchObject({
      email: 'cy@example.com',
      ssn: '555-55-5555',
      secretNote: 'z',
      label: 'top-secret',
    });
  });

  it('no write down: a write labelled below the session level is refused; at or above it succeeds', async () => {
    const etl = db.as('service:etl').table('patients');
    await rejects(etl.insert({ id: 10, ward: 'C', label: 'secret' }), 'FX_FORBIDDEN', /below/);
    await etl.insert({ id: 11, ward: 'C' }); // defaults to the session's own label
    expect((await db.table('patients').get(11))!['label']).toBe(
      db.access.labels.pack(db.access.labels.parse('top-secret')),
    );
    // Working at a lower level (within the clearance) allows writing there.
    await db
      .as({ service: 'etl', level: 'secret' })
      .table('patients')
      .insert({ id: 12, ward: 'C', label: 'secret' });
    await expect(
      db.as({ service: 'etl', level: 'top-secret' }).table('patients').update(1, { ward: 'Z' }),
    ).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    throws(() => db.as({ user: 'low', level: 'secret' }), /^FX_FORBIDDEN$/);
  });

  it('updates and deletes only reach visible rows', async () => {
    const low = db.as('low').table('patients');
    await expect(low.update(2, { ward: 'Q' })).rejects.toMatchObject({ code: 'FX_ROW_NOT_FOUND' });
    expect(await low.delete(3)).toBe(false);
    expect(await db.table('patients').count()).toBe(3);
    await low.update(1, { ward: 'Q' });
    expect((await db.table('patients').get(1))!['ward']).toBe('Q');
  });

  it('a permit cannot override the MAC guardrail', async () => {
    await db.access.addPolicy('everything', 'permit (principal, action, resource);');
    expect((await db.as('low').table('patients').find()).map((r) => r['id'])).toEqual([1]);
  });

  it('querying a column needs query on it (no blind-index probing)', async () => {
    await db.access.addPolicy(
      'no-email-query',
      'forbid (principal, action == Fortress::Action::"query", resource == Fortress::Column::"default/main/patients/email");',
    );
    await expect(
      db
        .as('ann')
        .table('patients')
        .find({ where: { email: 'ann@example.com' } }),
    ).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    expect(
      await db
        .as('ann')
        .table('patients')
        .find({ where: { ward: 'A' } }),
    ).toHaveLength(1);
  });

  it('a policy change takes effect at once (no stale cache)', async () => {
    const ann = db.as('ann').table('patients');
    expect(await ann.count()).toBe(2);
    await db.access.addPolicy(
      'ban-ann',
      'forbid (principal == Fortress::User::"default/ann", action, resource);',
    );
    await expect(ann.count()).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    await db.access.removePolicy('ban-ann');
    expect(await ann.count()).toBe(2);
    await db.access.updatePrincipal('user', 'ann', { roles: [], clearance: 'secret' });
    await expect(ann.count()).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
  });

  it('per-role row filters are pushed down and OR across roles', async () => {
    await db.access.addRowFilter('analysts-ward-a', {
      table: 'patients',
      role: 'analyst',
      where: { ward: 'A' },
    });
    expect((await db.as('ann').table('patients').find()).map((r) => r['id'])).toEqual([1]);
    expect(await db.as('service:etl').table('patients').count()).toBe(3);
    await expect(
      db.access.addRowFilter('bad', { table: 'patients', role: 'analyst', where: { ssn: 'x' } }),
    ).rejects.toMatchObject({ code: 'FX_QUERY_UNSUPPORTED' });
  });

  it('identifier tricks: case and Unicode variants of names do not reach the table', async () => {
    for (const name of ['PATIENTS', 'Patients', 'pаtients' /* Cyrillic а */, 'patients ', 'patients\u200b']) {
      throws(() => db.as('ann').table(name), /^(FX_TABLE_NOT_FOUND|FX_SCHEMA_INVALID)$/);
    }
    // Cedar's validator flags mixed-script identifiers: a look-alike name cannot even be written.
    await rejects(
      db.access.addPolicy(
        'cyr',
        'permit (principal, action, resource == Fortress::Table::"default/main/pаtients");',
      ),
      'FX_POLICY_INVALID',
      /mixed scripts/,
    );
    expect(await db.as('low').table('patients').count()).toBe(1);
  });

  it('a principal of another tenant sees nothing, whatever the policies say', async () => {
    await db.access.addUser('mallory', { tenant: 'other', clearance: 'top-secret' });
    await db.access.addPolicy('everything', 'permit (principal, action, resource);');
    await rejects(
      db.as({ user: 'mallory', tenant: 'other' }).table('patients').find(),
      'FX_FORBIDDEN',
      /another tenant/,
    );
  });

  it("keys, policies, audit logs and databases of another tenant are that tenant's, whatever the policies say", async () => {
    await db.access.addPolicy('everything', 'permit (principal, action, resource);');
    await db.access.addServiceAccount('ops', { clearance: 'top-secret' });
    const decide = (action: Action, type: string, id: string): Decision =>
      db.access.authorizer.evaluate({
        principal: { type: 'ServiceAccount', id: 'default/ops' },
        action,
        resource: { type, id },
      });
    expect(decide('rotateKey', 'Key', 'default/kek/default/main').allowed).toBe(true);
    for (const [action, type, id] of [
      ['rotateKey', 'Key', 'other/kek/other/main'],
      ['managePolicy', 'Policy', 'other/p1'],
      ['readAudit', 'AuditLog', 'other'],
      ['readAudit', 'AuditLog', 'other/main'],
      ['createTable', 'Database', 'other/main'],
    ] as const) {
      const d = decide(action, type, id);
      expect(d, `${action} ${type} ${id}`).toMatchObject({
        allowed: false,
        policies: ['fortress.guard.tenant'],
      });
    }
    expect(decide('readAudit', 'AuditLog', 'default').allowed).toBe(true);
  });

  it('an unknown principal is denied and the explanation says so', () => {
    const d = db.access.authorizer.evaluate({
      principal: { type: 'User', id: 'default/ghost' },
      action: 'read',
      resource: { type: 'Table', id: 'default/main/patients' },
    });
    expect(d.allowed).toBe(false);
    expect(Authorizer.explain(d)).toBe('the principal does not exist');
  });

  it('invalid policies are rejected with the validator message and nothing changes', async () => {
    await rejects(
      db.access.addPolicy('bad', 'permit (principal, action, resource) when { resource.nope };'),
      'FX_POLICY_INVALID',
      /nope/,
    );
    await expect(
      db.access.addPolicy('fortress.guard.tenant', 'permit (principal, action, resource);'),
    ).rejects.toMatchObject({ code: 'FX_POLICY_INVALID' });
    await expect(
      db.access.addPolicy('analyst-read', 'permit (principal, action, resource);'),
    ).rejects.toMatchObject({ code: 'FX_POLICY_CONFLICT' });
    expect(db.access.listPolicies().map((p) => p.id)).toEqual(['analyst-read', 'app-all']);
  });

  it('records allowed and denied decisions with the deciding policies', async () => {
    await db.as('ann').table('patients').count();
    await db
      .as('nobody')
      .table('patients')
      .count()
      .catch(() => undefined);
    const entries = [];
    for await (const e of db.audit.entries({ newestFirst: true, limit: 5 })) entries.push(e);
    const denied = entries.find((e) => e.decision.effect === 'deny')!;
    expect(denied).toMatchObject({
      principal: { type: 'user', id: 'default/nobody' },
      outcome: { status: 'error', code: 'FX_FORBIDDEN' },
      decision: { policies: ['builtin:default-deny'] },
    });
    const allowed = entries.find((e) => e.principal.id === 'default/ann')!;
    expect(allowed.decision).toEqual({ effect: 'allow', policies: ['analyst-read'] });
  });

  it('break-glass permits work only when invoked, and are flagged and warned', async () => {
    const warnings: string[] = [];
    await db.close();
    db = await openTestFortress({
      path: dir,
      onWarning: (m) => warnings.push(m),
      audit: { checkpointIntervalMs: 0 },
    });
    await db.access.addPolicy(
      'bg',
      '@breakGlass("") permit (principal == Fortress::User::"default/nobody", action, resource) when { context.breakGlass };',
    );
    await expect(db.as('nobody').table('patients').count()).rejects.toMatchObject({ code: 'FX_FORBIDDEN' });
    expect(await db.as({ user: 'nobody', breakGlass: true }).table('patients').count()).toBe(1);
    expect(warnings.some((w) => w.startsWith('break-glass'))).toBe(true);
    const entries = [];
    for await (const e of db.audit.entries({ newestFirst: true, limit: 10 })) entries.push(e);
    const used = entries.find((e) => e.principal.id === 'default/nobody' && e.decision.effect === 'allow')!;
    expect(used.decision.policies).toEqual(['bg']);
    expect(used.details).toMatchObject({ breakGlass: true });
  });

  it('policies, principals, roles and row filters survive a reopen', async () => {
    await db.access.addRowFilter('f', { table: 'patients', role: 'analyst', where: { ward: 'A' } });
    await db.close();
    db = await openTestFortress({ path: dir, ...quiet });
    expect(db.access.listPolicies()).toHaveLength(2);
    expect(db.access.rolesOf('user', 'ann')).toEqual(['analyst']);
    expect(await db.as('ann').table('patients').count()).toBe(1);
  });

  it('the label scheme is fixed once stored (compartments may be appended)', async () => {
    await db.close();
    await expect(
      openTestFortress({ path: dir, ...quiet, labels: { levels: ['low', 'high'] } }),
    ).rejects.toMatchObject({ code: 'FX_LABEL_INVALID' });
    db = await openTestFortress({
      path: dir,
      ...quiet,
      labels: { levels: ['unclassified', 'cui', 'secret', 'top-secret'], compartments: ['alpha'] },
    });
    expect(db.access.labels.compartments).toEqual(['alpha']);
  });
});

describe('administration through a session', () => {
  const entriesOf = async (action: string): Promise<AuditEntry[]> => {
    const out: AuditEntry[] = [];
    for await (const e of db.audit.entries({ action, newestFirst: true, limit: 20 })) out.push(e);
    return out;
  };

  it('schema changes need createTable / alterTable / dropTable, are recorded as the principal, and never write down', async () => {
    await db.access.addRole('dba');
    await db.access.addUser('dora', { roles: ['dba'], clearance: 'secret' });
    await db.access.addPolicy(
      'dba-schema',
      'permit (principal in Fortress::Role::"default/dba", action in [Fortress::Action::"createTable", Fortress::Action::"alterTable", Fortress::Action::"dropTable"], resource);',
    );
    const dora = db.as('dora');
    await rejects(
      dora.createTable('notes', { columns: { id: { type: 'integer', primaryKey: true } } }),
      'FX_FORBIDDEN',
      /labelled below the session's level/,
    );
    expect(db.listTables()).not.toContain('notes');
    const low = db.as({ user: 'dora', level: 'unclassified' });
    await low.createTable('notes', { columns: { id: { type: 'integer', primaryKey: true } } });
    await dora.createTable('briefs', {
      columns: { id: { type: 'integer', primaryKey: true } },
      classification: 'secret',
    });
    await dora.addColumn('briefs', 'body', { type: 'text', encrypt: true });
    expect(db.describeTable('briefs').columns.map((c) => c.name)).toEqual(['id', 'body']);
    await rejects(
      db.as('ann').addColumn('patients', 'x', { type: 'text' }),
      'FX_FORBIDDEN',
      /may not alterTable table default\/main\/patients/,
    );
    await rejects(db.as('ann').dropTable('patients'), 'FX_FORBIDDEN');
    expect(db.listTables()).toContain('patients');
    await dora.dropTable('notes');
    expect(db.listTables()).not.toContain('notes');

    const [created] = await entriesOf('schema.createTable');
    expect(created).toMatchObject({
      principal: { type: 'user', id: 'default/dora' },
      decision: { effect: 'allow', policies: ['dba-schema'] },
      resource: { type: 'table', table: 'briefs' },
      outcome: { status: 'ok' },
    });
    const denied = (await entriesOf('schema.')).filter((e) => e.decision.effect === 'deny');
    expect(denied.map((e) => e.principal.id)).toEqual(
      expect.arrayContaining(['default/ann', 'default/dora']),
    );
  });

  it('a key administrator rotates the tenant keys but not Fortress own keys, and reads no data', async () => {
    await db.access.addRole('keys');
    await db.access.addUser('kim', { roles: ['keys'] });
    await db.access.addPolicies(renderTemplate('key-admin', { tenant: 'default', role: 'keys' }));
    await db.keys.createKey({ name: 'kek/default/extra', purpose: 'kek' });
    const kim = db.as('kim');
    const rotated = await kim.rotateKey('kek/default/extra');
    expect(rotated.activeVersion).toBe(2);
    await rejects(
      kim.rotateKey('fortress/audit/ed25519'),
      'FX_FORBIDDEN',
      /key \*\/fortress\/audit\/ed25519/,
    );
    await rejects(kim.table('patients').count(), 'FX_FORBIDDEN');
    await rejects(db.as('ann').rotateKey('kek/default/extra'), 'FX_FORBIDDEN');
    await kim.destroyKey('kek/default/extra', { version: 1 });
    await rejects(kim.destroyKey('kek/default/extra', {} as { all: true }), 'FX_INVALID_ARGUMENT');
    const rotations = await entriesOf('key.rotate');
    expect(
      rotations.find((e) => e.principal.id === 'default/kim' && e.decision.effect === 'allow'),
    ).toMatchObject({
      resource: { type: 'key', key: 'kek/default/extra' },
      decision: { policies: [expect.stringMatching(/^key-admin\./)] },
      outcome: { status: 'ok' },
    });
    expect(rotations.find((e) => e.principal.id === 'default/ann')).toMatchObject({
      decision: { effect: 'deny' },
      outcome: { code: 'FX_FORBIDDEN' },
    });
  });

  it('an auditor reads the audit log; others may not; seal needs break-glass', async () => {
    await db.access.addRole('audit');
    await db.access.addUser('aud', { roles: ['audit'] });
    await db.access.addPolicies(renderTemplate('auditor', { tenant: 'default', role: 'audit' }));
    const handle = await db.as('aud').readAudit();
    expect((await handle.verify()).ok).toBe(true);
    await rejects(db.as('ann').readAudit(), 'FX_FORBIDDEN');
    // Reads through a session's handle are recorded as the session's principal, not the process.
    const seen: string[] = [];
    for await (const e of handle.entries({ action: 'table.get' })) seen.push(e.action);
    await handle.entry(0);
    const reads = [];
    for await (const e of db.audit.entries({ action: 'audit.search' })) reads.push(e);
    for await (const e of db.audit.entries({ action: 'audit.read' })) reads.push(e);
    const byAud = reads.filter((e) => e.principal.id === 'default/aud');
    expect(byAud.map((e) => e.action).sort()).toEqual(['audit.read', 'audit.search']);
    expect(byAud[0]).toMatchObject({
      principal: { type: 'user', tenant: 'default' },
      decision: { effect: 'allow', policies: [expect.stringMatching(/^auditor\./)] },
    });

    await db.access.addRole('ops');
    await db.access.addUser('ozzy', { roles: ['ops'] });
    await db.access.addPolicies(renderTemplate('break-glass', { tenant: 'default', role: 'ops' }));
    await rejects(db.as('ozzy').seal(), 'FX_FORBIDDEN');
    expect(db.keys.state).toBe('unsealed');
    await db.as({ user: 'ozzy', breakGlass: true }).seal();
    expect(db.keys.state).toBe('sealed');
  });

  it('policy and principal changes need managePolicy, within the tenant, and are recorded as the principal', async () => {
    await db.access.addRole('admins');
    await db.access.addUser('ada', { roles: ['admins'] });
    await db.access.addPolicy(
      'admins-manage',
      'permit (principal in Fortress::Role::"default/admins", action == Fortress::Action::"managePolicy", resource);',
    );
    const ada = db.as('ada').access;
    await ada.addUser('newbie', { roles: ['analyst'] });
    await ada.addPolicy(
      'newbie-none',
      'forbid (principal == Fortress::User::"default/newbie", action, resource);',
    );
    expect((await ada.listPolicies()).map((p) => p.id)).toContain('newbie-none');
    expect((await ada.listPrincipals()).every((p) => p.tenant === 'default')).toBe(true);
    await rejects(ada.addUser('spy', { tenant: 'other' }), 'FX_FORBIDDEN', /another tenant/);
    await rejects(
      db.as('ann').access.addPolicy('mine', 'permit (principal, action, resource);'),
      'FX_FORBIDDEN',
    );
    await rejects(db.as('ann').access.listPolicies(), 'FX_FORBIDDEN');
    expect(db.access.listPolicies().map((p) => p.id)).not.toContain('mine');
    await rejects(db.as('newbie').table('patients').count(), 'FX_FORBIDDEN', /newbie-none/);
    const entry = (await entriesOf('access.addPolicy')).find((e) => e.principal.id === 'default/ada');
    expect(entry).toMatchObject({
      principal: { id: 'default/ada' },
      decision: { effect: 'allow', policies: ['admins-manage'] },
      details: { name: 'newbie-none' },
    });
  });

  it('transactions in a session commit together, or roll back on a denial or a missing row', async () => {
    const low = db.as('low');
    await low.transaction(async (tx) => {
      await tx.table('patients').insert({ id: 20, ward: 'T', label: 'unclassified' });
      await tx.table('patients').update(20, { ward: 'U' });
    });
    expect(await db.table('patients').get(20)).toMatchObject({ ward: 'U' });
    await rejects(
      low.transaction(async (tx) => {
        await tx.table('patients').insert({ id: 21, ward: 'T', label: 'unclassified' });
        await tx.table('patients').update(3, { ward: 'X' }); // top-secret: invisible to low
      }),
      'FX_ROW_NOT_FOUND',
    );
    await rejects(
      db.as('ann').transaction(async (tx) => {
        expect(await tx.table('patients').count()).toBe(3); // reads are scoped inside too (1, 2, 20)
        await tx.table('patients').insert({ id: 22, ward: 'T' });
      }),
      'FX_FORBIDDEN',
    );
    expect(await db.table('patients').get(21)).toBeUndefined();
    expect(await db.table('patients').get(22)).toBeUndefined();
    expect(await db.table('patients').get(3)).toMatchObject({ ward: 'A' });
  });
});
