/**
 * `fortress policy …` as a policy author runs it: a real `fortress` process on a real data
 * directory (dev-key-file seal, so no unseal input is needed), principals and tables made through
 * the embedded API between commands.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fortress } from '../src/fortress.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/src/cli/main.js');

function fortress(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const ANALYST = `@id("analysts-read")
permit (
  principal in Fortress::Role::"default/analysts",
  action in [Fortress::Action::"read", Fortress::Action::"query"],
  resource in Fortress::Tenant::"default"
);`;

describe('fortress policy', () => {
  let dir: string;
  let data: string;
  const file = (name: string): string => path.join(dir, name);
  const inData = (...args: string[]): string[] => [...args, '--data', data];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-cli-policy-'));
    data = path.join(dir, 'data');
    expect(fortress(['init', '--seal', 'dev-key-file', '--data', data]).status).toBe(0);
    // Principals and tables come from the embedded API (the CLI manages policies).
    const db = await Fortress.open({ path: data, onWarning: () => undefined });
    try {
      await db.createTable('patients', {
        columns: { id: { type: 'integer', primaryKey: true }, ssn: { type: 'text', encrypt: true } },
      });
      await db.createTable('vault', {
        columns: { id: { type: 'integer', primaryKey: true } },
        classification: 'top-secret',
      });
      await db.access.addRole('analysts');
      await db.access.addUser('ann', { roles: ['analysts'], clearance: 'secret' });
      await db.access.addUser('zed', { tenant: 'acme', roles: ['analysts'], clearance: 'top-secret' });
    } finally {
      await db.close();
    }
    await writeFile(file('analyst.cedar'), ANALYST);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists templates and prints one as a .cedar file that validates and adds', async () => {
    const listed = fortress(['policy', 'template']);
    expect(listed.status).toBe(0);
    for (const name of ['analyst', 'app', 'key-admin', 'auditor', 'break-glass']) {
      expect(listed.stdout).toContain(name);
    }
    const printed = fortress(['policy', 'template', 'auditor', '--role', 'auditors']);
    expect(printed.status).toBe(0);
    expect(printed.stdout).toMatch(/^@id\("auditor\.default\.auditors\./m);
    await writeFile(file('auditor.cedar'), printed.stdout);
    const valid = fortress(['policy', 'validate', file('auditor.cedar')]);
    expect(valid.status).toBe(0);
    expect(valid.stdout).toMatch(/valid against the Fortress schema/);
    const added = fortress(inData('policy', 'add', file('auditor.cedar')));
    expect(added.status).toBe(0);
    expect(added.stdout).toMatch(/added \d+ polic(y|ies): auditor\.default\.auditors\./);
    const bad = fortress(['policy', 'template', 'superuser', '--role', 'x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown template "superuser"; expected one of analyst.*FX_INVALID_ARGUMENT/);
    const noRole = fortress(['policy', 'template', 'analyst']);
    expect(noRole.status).toBe(2);
    expect(noRole.stderr).toContain('needs --role ROLE');
  });

  it('template --add adds straight to the directory', () => {
    const added = fortress(inData('policy', 'template', 'key-admin', '--role', 'keyadmins', '--add'));
    expect(added.status).toBe(0);
    expect(fortress(inData('policy', 'list')).stdout).toContain('key-admin.default.keyadmins.');
  });

  it('add, list, show; a second add of the same id needs --replace', () => {
    const added = fortress(inData('policy', 'add', file('analyst.cedar')));
    expect(added.status).toBe(0);
    expect(added.stdout).toContain('added 1 policy: analysts-read');
    const listed = fortress(inData('policy', 'list', '--json'));
    const policies = JSON.parse(listed.stdout) as { id: string; effect: string }[];
    expect(policies).toContainEqual(expect.objectContaining({ id: 'analysts-read', effect: 'permit' }));
    const shown = fortress(inData('policy', 'show', 'analysts-read'));
    expect(shown.stdout.trim()).toBe(ANALYST);
    const again = fortress(inData('policy', 'add', file('analyst.cedar')));
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('FX_POLICY_CONFLICT');
    expect(fortress(inData('policy', 'add', file('analyst.cedar'), '--replace')).status).toBe(0);
    const missing = fortress(inData('policy', 'show', 'nope'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('FX_POLICY_NOT_FOUND');
  });

  it('refuses invalid, unparsable, id-less and unreadable policy files, storing nothing', async () => {
    const before = fortress(inData('policy', 'list', '--json')).stdout;
    await writeFile(
      file('bad-action.cedar'),
      '@id("typo")\npermit (principal, action == Fortress::Action::"reed", resource);',
    );
    const invalid = fortress(inData('policy', 'add', file('bad-action.cedar')));
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toMatch(/typo: .*reed.*FX_POLICY_INVALID/);
    const validate = fortress(['policy', 'validate', file('bad-action.cedar')]);
    expect(validate.status).toBe(1);
    expect(validate.stdout).toMatch(/\d+ problems? in 1 policy:\n {2}typo: .*did you mean/);

    await writeFile(file('broken.cedar'), '@id("x")\npermit (principal, action, resource');
    const broken = fortress(inData('policy', 'add', file('broken.cedar')));
    expect(broken.status).toBe(2);
    expect(broken.stderr).toMatch(/broken\.cedar: does not parse as Cedar: .*FX_INVALID_ARGUMENT/);

    await writeFile(
      file('anon.cedar'),
      'permit (principal, action, resource);\nforbid (principal, action, resource);',
    );
    const anon = fortress(inData('policy', 'add', file('anon.cedar')));
    expect(anon.status).toBe(2);
    expect(anon.stderr).toMatch(/policy 1 of the file: has no @id/);
    await writeFile(file('one.cedar'), 'permit (principal, action, resource is Fortress::AuditLog);');
    expect(fortress(['policy', 'validate', file('one.cedar'), '--id', 'audit-all']).status).toBe(0);

    await writeFile(
      file('guard.cedar'),
      '@id("fortress.guard.tenant")\nforbid (principal, action, resource);',
    );
    const guard = fortress(inData('policy', 'add', file('guard.cedar')));
    expect(guard.status).toBe(2);
    expect(guard.stderr).toContain('FX_POLICY_INVALID');

    await writeFile(file('bad.json'), '{"ok": 42}');
    const json = fortress(inData('policy', 'add', file('bad.json')));
    expect(json.status).toBe(2);
    expect(json.stderr).toMatch(/policy ok: expected Cedar text.*FX_INVALID_ARGUMENT/);

    const nofile = fortress(inData('policy', 'add', file('missing.cedar')));
    expect(nofile.status).toBe(2);
    expect(nofile.stderr).toMatch(/missing\.cedar: no such file.*FX_CLI_USAGE/);
    expect(fortress(inData('policy', 'add')).status).toBe(2);
    expect(fortress(inData('policy', 'frobnicate')).stderr).toContain('unknown policy command');

    expect(fortress(inData('policy', 'list', '--json')).stdout).toBe(before);
  });

  it('explain names the deciding policy, the guardrail, or the missing permit', () => {
    const allow = fortress(
      inData('policy', 'explain', 'user:default/ann', 'read', 'table:default/main/patients'),
    );
    expect(allow.status).toBe(0);
    expect(allow.stdout).toContain('ALLOW  user:default/ann read table:default/main/patients');
    expect(allow.stdout).toContain('allowed by analysts-read');

    const decrypt = fortress(
      inData(
        'policy',
        'explain',
        'user:default/ann',
        'decrypt',
        'column:default/main/patients/ssn',
        '--json',
      ),
    );
    expect(decrypt.status).toBe(1);
    expect(JSON.parse(decrypt.stdout)).toMatchObject({
      decision: 'deny',
      explanation: 'no policy permits it',
    });

    const up = fortress(inData('policy', 'explain', 'user:default/ann', 'read', 'table:default/main/vault'));
    expect(up.status).toBe(1);
    expect(up.stdout).toMatch(/forbidden by fortress\.guard\.no-read-up/);

    const tenant = fortress(
      inData('policy', 'explain', 'user:acme/zed', 'read', 'table:default/main/patients'),
    );
    expect(tenant.status).toBe(1);
    expect(tenant.stdout).toMatch(/forbidden by fortress\.guard\.tenant/);

    const ghost = fortress(
      inData('policy', 'explain', 'user:default/ghost', 'read', 'table:default/main/patients'),
    );
    expect(ghost.status).toBe(1);
    expect(ghost.stdout).toContain('the principal does not exist');
    expect(ghost.stdout).not.toContain('evaluation error');

    const glass = fortress(
      inData(
        'policy',
        'explain',
        'user:default/ann',
        'read',
        'table:default/main/patients',
        '--context',
        '{"breakGlass":true}',
      ),
    );
    expect(glass.status).toBe(0);

    const badAction = fortress(
      inData('policy', 'explain', 'user:default/ann', 'reed', 'table:default/main/patients'),
    );
    expect(badAction.status).toBe(2);
    expect(badAction.stderr).toMatch(/unknown action "reed".*FX_CLI_USAGE/);
    const badRef = fortress(inData('policy', 'explain', 'ann', 'read', 'table:default/main/patients'));
    expect(badRef.status).toBe(2);
    expect(badRef.stderr).toContain('FX_INVALID_ARGUMENT');
    const wrongType = fortress(
      inData('policy', 'explain', 'user:default/ann', 'seal', 'table:default/main/patients'),
    );
    expect(wrongType.status).toBe(2);
    expect(wrongType.stderr).toMatch(/does not apply to a Table/);
    const badContext = fortress(
      inData(
        'policy',
        'explain',
        'user:default/ann',
        'read',
        'table:default/main/patients',
        '--context',
        '{"breakGlass":"yes"}',
      ),
    );
    expect(badContext.status).toBe(2);
    expect(badContext.stderr).toMatch(/context: breakGlass: expected true or false.*FX_INVALID_ARGUMENT/);
    const notJson = fortress(
      inData(
        'policy',
        'explain',
        'user:default/ann',
        'read',
        'table:default/main/patients',
        '--context',
        '{',
      ),
    );
    expect(notJson.stderr).toContain('--context expects JSON');
  });

  it('test runs a case file, fails on a wrong expectation, and --with tries policies without storing them', async () => {
    const cases = {
      cases: [
        {
          name: 'ann reads',
          principal: 'user:default/ann',
          action: 'read',
          resource: 'table:default/main/patients',
          expect: 'allow',
        },
        {
          name: 'no decrypt',
          principal: 'user:default/ann',
          action: 'decrypt',
          resource: 'column:default/main/patients/ssn',
          expect: 'deny',
        },
        {
          name: 'no read up',
          principal: 'user:default/ann',
          action: 'read',
          resource: 'table:default/main/vault',
          expect: 'deny',
        },
        {
          name: 'other tenant',
          principal: 'user:acme/zed',
          action: 'read',
          resource: 'table:default/main/patients',
          expect: 'deny',
        },
      ],
    };
    await writeFile(file('tests.json'), JSON.stringify(cases));
    const pass = fortress(inData('policy', 'test', file('tests.json')));
    expect(pass.status).toBe(0);
    expect(pass.stdout).toContain('4 passed, 0 failed');

    const wrong = { cases: [{ ...cases.cases[1]!, expect: 'allow' }] };
    await writeFile(file('wrong.json'), JSON.stringify(wrong));
    const fail = fortress(inData('policy', 'test', file('wrong.json')));
    expect(fail.status).toBe(1);
    expect(fail.stdout).toContain('FAIL  no decrypt: expected allow, but no policy permits it');

    await writeFile(
      file('decrypt.cedar'),
      '@id("analysts-decrypt")\npermit (principal in Fortress::Role::"default/analysts", action == Fortress::Action::"decrypt", resource);',
    );
    const withIt = fortress(
      inData('policy', 'test', file('wrong.json'), '--with', file('decrypt.cedar'), '--json'),
    );
    expect(withIt.status).toBe(0);
    expect(JSON.parse(withIt.stdout)).toEqual({ passed: 1, failed: [] });
    // Nothing was stored.
    expect(fortress(inData('policy', 'test', file('wrong.json'))).status).toBe(1);

    await writeFile(file('typo.json'), JSON.stringify({ cases: [{ ...cases.cases[0]!, action: 'reed' }] }));
    const typo = fortress(inData('policy', 'test', file('typo.json')));
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(/case 1 \("ann reads"\): unknown action "reed"/);
  });

  it('lint reports shadowed permits in files and in the directory', async () => {
    await writeFile(
      file('shadow.cedar'),
      `@id("p")\npermit (principal, action == Fortress::Action::"read", resource is Fortress::Table);\n` +
        `@id("f")\nforbid (principal, action, resource is Fortress::Table);`,
    );
    const lint = fortress(['policy', 'lint', file('shadow.cedar')]);
    expect(lint.status).toBe(1);
    expect(lint.stdout).toMatch(/^shadowed .*"p"/m);
    expect(fortress(['policy', 'lint', file('analyst.cedar')]).status).toBe(0);
    const added = fortress(inData('policy', 'add', file('shadow.cedar')));
    expect(added.status).toBe(0);
    expect(added.stdout).toContain('shadowed');
    expect(fortress(inData('policy', 'lint')).status).toBe(1);
    expect(fortress(inData('policy', 'remove', 'p', 'f')).status).toBe(0);
    expect(fortress(inData('policy', 'lint')).status).toBe(0);
  });

  it('access manages the principals policies name, refusing bad names, labels and flags', () => {
    expect(fortress(inData('access', 'role', 'add', 'readers', '--inherits', 'analysts')).status).toBe(0);
    expect(fortress(inData('access', 'group', 'add', 'night-shift', '--roles', 'readers')).status).toBe(0);
    const added = fortress(
      inData('access', 'user', 'add', 'bob', '--groups', 'night-shift', '--clearance', 'cui'),
    );
    expect(added.status).toBe(0);
    expect(added.stdout).toContain('added user bob');
    expect(fortress(inData('access', 'user', 'add', 'etl', '--service', '--roles', 'analysts')).status).toBe(
      0,
    );
    const roles = fortress(inData('access', 'roles-of', 'bob', '--json'));
    expect((JSON.parse(roles.stdout) as string[]).sort()).toEqual(['analysts', 'readers']);
    const listed = JSON.parse(fortress(inData('access', 'list', '--json')).stdout) as {
      principals: { kind: string; name: string; clearance: string }[];
    };
    expect(listed.principals).toContainEqual(expect.objectContaining({ kind: 'service', name: 'etl' }));
    expect(listed.principals).toContainEqual(expect.objectContaining({ name: 'bob', clearance: 'cui' }));
    // bob reads through group → role → inherited role; his clearance keeps the secret table out.
    const ok = fortress(
      inData('policy', 'explain', 'user:default/bob', 'read', 'table:default/main/patients'),
    );
    expect(ok.status).toBe(0);
    expect(fortress(inData('access', 'user', 'update', 'bob', '--roles', '')).status).toBe(0);
    expect(fortress(inData('access', 'roles-of', 'bob', '--json')).stdout.trim()).toBe(
      '["analysts","readers"]',
    );

    const again = fortress(inData('access', 'user', 'add', 'bob'));
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('FX_POLICY_CONFLICT');
    const badName = fortress(inData('access', 'user', 'add', 'a/b'));
    expect(badName.status).toBe(2);
    expect(badName.stderr).toContain('FX_INVALID_ARGUMENT');
    const badLabel = fortress(inData('access', 'user', 'add', 'carol', '--clearance', 'cosmic'));
    expect(badLabel.status).toBe(2);
    expect(badLabel.stderr).toMatch(/cosmic|clearance/);
    const flag = fortress(inData('access', 'role', 'add', 'x', '--clearance', 'secret'));
    expect(flag.status).toBe(2);
    expect(flag.stderr).toMatch(/takes no --clearance.*FX_CLI_USAGE/);
    expect(fortress(inData('access', 'user', 'add')).stderr).toContain('needs one name');
    expect(fortress(inData('access', 'users')).stderr).toContain('unknown access command');
    const ghost = fortress(inData('access', 'user', 'remove', 'ghost'));
    expect(ghost.status).toBe(2);
    expect(ghost.stderr).toContain('FX_POLICY_NOT_FOUND');
    expect(fortress(inData('access', 'user', 'remove', 'etl', '--service')).status).toBe(0);
    const names = (
      JSON.parse(fortress(inData('access', 'list', '--json')).stdout) as { principals: { name: string }[] }
    ).principals.map((p) => p.name);
    expect(names).not.toContain('etl');
    expect(names).not.toContain('carol');
  });

  it('remove refuses an unknown id without removing anything, and every change is audited', () => {
    const missing = fortress(inData('policy', 'remove', 'analysts-read', 'nope'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('FX_POLICY_NOT_FOUND');
    expect(fortress(inData('policy', 'show', 'analysts-read')).status).toBe(0);
    expect(fortress(inData('policy', 'remove', 'analysts-read')).status).toBe(0);
    expect(fortress(inData('policy', 'show', 'analysts-read')).status).toBe(2);

    const audit = fortress(inData('audit', 'search', '--action', 'access.', '--json'));
    expect(audit.status).toBe(0);
    const entries = JSON.parse(audit.stdout) as {
      action: string;
      resource: { type: string };
      details?: { name?: string };
      outcome: { status: string; code?: string };
    }[];
    expect(entries).toContainEqual(
      expect.objectContaining({
        action: 'access.removePolicy',
        details: { name: 'analysts-read' },
        outcome: { status: 'ok' },
      }),
    );
    // The refused second add (FX_POLICY_CONFLICT) is on record too, and the users made in setup.
    expect(entries).toContainEqual(
      expect.objectContaining({
        action: 'access.addPolicies',
        details: { name: 'analysts-read' },
        outcome: { status: 'error', code: 'FX_POLICY_CONFLICT' },
      }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ action: 'access.addUser', details: { name: 'ann' } }),
    );
    // Identifiers only: no policy text in the log.
    expect(audit.stdout).not.toContain('permit (');
    expect(
      entries
        .filter((e) => e.action.endsWith('Policies') || e.action.endsWith('Policy'))
        .every((e) => e.resource.type === 'policy'),
    ).toBe(true);
  });
});
