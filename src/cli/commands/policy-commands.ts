/**
 * @module cli/commands/policy-commands
 * `fortress policy …`: manage a data directory's Cedar policies and check them before they ship.
 *
 * - `add`, `list`, `show`, `remove` work on the directory (unsealed for the command; every change
 *   is recorded in the audit ledger as `access.addPolicies` / `access.removePolicy`).
 * - `test FILE` runs a file of cases against the directory's policies and principals (optionally
 *   with candidate policies laid over them, `--with`, which are not stored); `explain` decides one
 *   request and names the policies that decided it.
 * - `validate FILE`, `lint FILE` and `template NAME` need no directory: they check files and print
 *   templates, so they run in a policy repository's CI. `lint` without a file lints the directory.
 *
 * Exit codes as for every command: 0 success, 1 a check failed (invalid policies, a failing test
 * case, a lint finding, a denied `explain`), 2 usage or another error. Every argument and file is
 * checked before anything is opened or asked for.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { AccessControl } from '../../access-control.js';
import {
  Authorizer,
  checkPolicies,
  type Decision,
  type EntityRef,
  type PolicyIssue,
} from '../../policy/authorizer/authorizer.js';
import { ACTIONS, type Action } from '../../policy/schema/fortress-schema.js';
import { renderTemplate, POLICY_TEMPLATES, TEMPLATE_NAMES } from '../../policy/templates/policy-templates.js';
import { formatPolicyFile, parsePolicyFile } from '../../policy/tools/policy-file.js';
import { lintPolicies, type LintFinding } from '../../policy/tools/policy-lint.js';
import {
  parsePolicyTestContext,
  parsePolicyTestFile,
  parseRequestRefs,
  requestContextOf,
  runPolicyTests,
  type PolicyTestCase,
  type PolicyTestReport,
} from '../../policy/tools/policy-test.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';
import { dataDirOf, withUnsealed } from '../data-dir.js';

const SUBCOMMANDS = 'add, list, show, remove, validate, test, explain, lint or template';
/** Policy and test files are read whole; this bounds what a typo'd path can make us read. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function usage(message: string): FortressError {
  return new FortressError('FX_CLI_USAGE', message);
}

function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** Reads a policy or test file; a missing or unreadable file is a usage error naming it. */
async function readText(file: string, what: string): Promise<string> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : 'cannot be read';
    throw new FortressError('FX_CLI_USAGE', `${what} ${file}: ${why}`, { cause });
  }
  if (data.length > MAX_FILE_BYTES) throw usage(`${what} ${file} is larger than ${MAX_FILE_BYTES} bytes`);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(data);
  if (text.includes('\uFFFD')) throw usage(`${what} ${file} is not UTF-8 text`);
  return text;
}

/** Reads and parses a policy file, naming the file in any error. */
async function readPolicies(file: string, id?: string): Promise<Record<string, string>> {
  const text = await readText(file, 'policy file');
  try {
    return parsePolicyFile(text, id === undefined ? {} : { id });
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      throw new InvalidArgumentError(file, error.message.replace(/^policy (test )?file: /, ''));
    }
    throw error;
  }
}

/** FX_POLICY_INVALID listing the validator's findings (nothing has been stored). */
function rejectInvalid(what: string, issues: readonly PolicyIssue[]): void {
  if (issues.length === 0) return;
  const listed = issues
    .slice(0, 10)
    .map((i) => `${i.policy}: ${i.message}`)
    .join('; ');
  const more = issues.length > 10 ? ` (and ${issues.length - 10} more)` : '';
  throw new FortressError('FX_POLICY_INVALID', `${what}: invalid policy: ${listed}${more}`);
}

function printFindings(findings: readonly LintFinding[]): void {
  for (const f of findings) out(`${f.kind.padEnd(9)} ${f.message}`);
}

/** A policy on one line (annotations and comments left out), cut to fit a listing. */
function summary(text: string): string {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('@') && !l.startsWith('//'))
    .join(' ')
    .replace(/\s+/g, ' ')
    .replace(/\( /g, '(')
    .replace(/ \)/g, ')');
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function effectOf(text: string): 'permit' | 'forbid' | '?' {
  const m = /^\s*(?:@[^\n]*\n\s*|\/\/[^\n]*\n\s*)*(permit|forbid)\b/.exec(text);
  return (m?.[1] as 'permit' | 'forbid' | undefined) ?? '?';
}

function one(positionals: readonly string[], command: string, what: string): string {
  if (positionals.length !== 1) {
    throw usage(
      positionals.length === 0
        ? `fortress policy ${command} needs ${what}`
        : `fortress policy ${command} takes one ${what}, got ${positionals.length} arguments`,
    );
  }
  return positionals[0]!;
}

export async function policyCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add':
      return add(rest);
    case 'list':
      return list(rest);
    case 'show':
      return show(rest);
    case 'remove':
      return remove(rest);
    case 'validate':
      return validate(rest);
    case 'test':
      return test(rest);
    case 'explain':
      return explain(rest);
    case 'lint':
      return lint(rest);
    case 'template':
    case 'templates':
      return template(sub, rest);
    default:
      throw usage(`unknown policy command ${JSON.stringify(sub ?? '')}; expected ${SUBCOMMANDS}`);
  }
}

// ── the directory's policies ─────────────────────────────────────────────────────────────────────

async function add(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      id: { type: 'string' },
      replace: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const file = one(positionals, 'add', 'a policy file');
  const policies = await readPolicies(file, values.id);
  // Schema errors are reported before unsealing (nothing is stored); the directory re-checks the
  // whole set, its own policies included, when they are added.
  rejectInvalid(file, checkPolicies(policies));
  return withUnsealed(dataDirOf(values.data), async (db) => {
    await db.access.addPolicies(policies, { replace: values.replace });
    const ids = Object.keys(policies);
    const findings = lintPolicies(db.access.authorizer.policies).filter((f) =>
      f.policies.some((id) => ids.includes(id)),
    );
    if (values.json) {
      json({ added: ids, lint: findings });
    } else {
      out(`added ${plural(ids.length, 'policy', 'policies')}: ${ids.join(', ')}`);
      if (findings.length > 0) {
        out('');
        out('lint (run `fortress policy lint` for the whole set):');
        printFindings(findings);
      }
    }
    return 0;
  });
}

async function list(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { data: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw usage('fortress policy list takes no arguments');
  return withUnsealed(dataDirOf(values.data), (db) => {
    const policies = db.access.listPolicies();
    if (values.json) {
      json(policies.map((p) => ({ id: p.id, effect: effectOf(p.text), text: p.text })));
    } else if (policies.length === 0) {
      out('no policies: every request is denied (add one with `fortress policy add FILE`)');
    } else {
      const width = Math.max(...policies.map((p) => p.id.length));
      for (const p of policies)
        out(`${p.id.padEnd(width)}  ${effectOf(p.text).padEnd(6)}  ${summary(p.text)}`);
    }
    return Promise.resolve(0);
  });
}

async function show(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { data: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const id = one(positionals, 'show', 'a policy id');
  return withUnsealed(dataDirOf(values.data), (db) => {
    const text = db.access.getPolicy(id);
    if (values.json) json({ id, effect: effectOf(text), text });
    else out(formatPolicyFile({ [id]: text }).trimEnd());
    return Promise.resolve(0);
  });
}

async function remove(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { data: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw usage('fortress policy remove needs one or more policy ids');
  return withUnsealed(dataDirOf(values.data), async (db) => {
    // All named policies must exist before any is removed: a typo removes nothing.
    for (const id of positionals) db.access.getPolicy(id);
    for (const id of positionals) await db.access.removePolicy(id);
    out(`removed ${positionals.join(', ')}`);
    return 0;
  });
}

// ── checks that need no directory ────────────────────────────────────────────────────────────────

async function validate(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { id: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw usage('fortress policy validate needs one or more policy files');
  if (values.id !== undefined && positionals.length > 1) throw usage('--id names the policy of one file');
  const all: Record<string, string> = {};
  for (const file of positionals) {
    for (const [id, text] of Object.entries(await readPolicies(file, values.id))) {
      if (Object.hasOwn(all, id))
        throw new InvalidArgumentError(file, `policy id "${id}" is used by another file too`);
      all[id] = text;
    }
  }
  const issues = checkPolicies(all);
  const count = Object.keys(all).length;
  if (values.json) json({ valid: issues.length === 0, policies: count, issues });
  else if (issues.length === 0)
    out(`${plural(count, 'policy', 'policies')} valid against the Fortress schema`);
  else {
    out(`${plural(issues.length, 'problem', 'problems')} in ${plural(count, 'policy', 'policies')}:`);
    for (const issue of issues) out(`  ${issue.policy}: ${issue.message}`);
  }
  return issues.length === 0 ? 0 : 1;
}

async function lint(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { data: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const report = (policies: Readonly<Record<string, string>>): number => {
    const findings = lintPolicies(policies);
    if (values.json) json({ policies: Object.keys(policies).length, findings });
    else if (findings.length === 0)
      out(`no findings in ${plural(Object.keys(policies).length, 'policy', 'policies')}`);
    else printFindings(findings);
    return findings.length === 0 ? 0 : 1;
  };
  if (positionals.length > 0) {
    if (values.data !== undefined) throw usage('lint either files or the directory (--data), not both');
    const all: Record<string, string> = {};
    for (const file of positionals) Object.assign(all, await readPolicies(file));
    rejectInvalid(positionals.join(', '), checkPolicies(all));
    return report(all);
  }
  return withUnsealed(dataDirOf(values.data), (db) => Promise.resolve(report(db.access.authorizer.policies)));
}

async function template(sub: string, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      tenant: { type: 'string' },
      role: { type: 'string' },
      add: { type: 'boolean', default: false },
      replace: { type: 'boolean', default: false },
      data: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (sub === 'templates' || positionals.length === 0) {
    if (values.json) {
      json(TEMPLATE_NAMES.map((name) => ({ name, description: POLICY_TEMPLATES[name].description })));
    } else {
      const width = Math.max(...TEMPLATE_NAMES.map((n) => n.length));
      for (const name of TEMPLATE_NAMES) out(`${name.padEnd(width)}  ${POLICY_TEMPLATES[name].description}`);
      out('');
      out('fortress policy template NAME --role ROLE [--tenant T] [--add] prints (or adds) one for a role');
    }
    return 0;
  }
  const name = one(positionals, 'template', 'a template name');
  if (values.role === undefined) throw usage(`fortress policy template ${name} needs --role ROLE`);
  if (!values.add && (values.data !== undefined || values.replace)) {
    throw usage('--data and --replace go with --add');
  }
  const render = (tenant: string): Record<string, string> =>
    renderTemplate(name, { tenant, role: values.role });
  if (!values.add) {
    const policies = render(values.tenant ?? 'default');
    if (values.json) json(policies);
    else process.stdout.write(formatPolicyFile(policies));
    return 0;
  }
  render(values.tenant ?? 'default'); // a bad name or role fails before unsealing
  return withUnsealed(dataDirOf(values.data), async (db) => {
    const policies = render(values.tenant ?? db.access.tenant);
    await db.access.addPolicies(policies, { replace: values.replace });
    if (values.json) json({ added: Object.keys(policies) });
    else out(`added ${Object.keys(policies).join(', ')}`);
    return 0;
  });
}

// ── decisions: test and explain ──────────────────────────────────────────────────────────────────

/** Decides with the directory's policies, or with `overlay` laid over them (nothing is stored). */
function decider(access: AccessControl, overlay: Readonly<Record<string, string>> | undefined): Authorizer {
  if (overlay === undefined) return access.authorizer;
  const authorizer = new Authorizer(access);
  authorizer.setPolicies({ ...access.authorizer.policies, ...overlay });
  return authorizer;
}

function printTestReport(cases: readonly PolicyTestCase[], report: PolicyTestReport): void {
  const failed = new Set(report.failed.map((f) => f.case));
  for (const c of cases) if (!failed.has(c)) out(`PASS  ${c.name}`);
  for (const f of report.failed) out(`FAIL  ${f.case.name}: ${f.explanation}`);
  out('');
  out(`${report.passed} passed, ${report.failed.length} failed`);
}

async function test(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      with: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const file = one(positionals, 'test', 'a test file');
  let cases: PolicyTestCase[];
  try {
    cases = parsePolicyTestFile(await readText(file, 'test file'));
  } catch (error) {
    if (error instanceof InvalidArgumentError)
      throw new InvalidArgumentError(file, error.message.replace(/^policy (test )?file: /, ''));
    throw error;
  }
  let overlay: Record<string, string> | undefined;
  for (const policyFile of values.with ?? []) {
    overlay = { ...overlay, ...(await readPolicies(policyFile)) };
  }
  if (overlay !== undefined) rejectInvalid('--with', checkPolicies(overlay));
  return withUnsealed(dataDirOf(values.data), (db) => {
    const authorizer = decider(db.access, overlay);
    const report = runPolicyTests(cases, (principal, action, resource, context) =>
      authorizer.evaluate({ principal, action, resource, context }),
    );
    if (values.json) {
      json({
        passed: report.passed,
        failed: report.failed.map((f) => ({
          name: f.case.name,
          expected: f.case.expect,
          explanation: f.explanation,
          policies: f.decision.policies,
        })),
      });
    } else printTestReport(cases, report);
    return Promise.resolve(report.failed.length === 0 ? 0 : 1);
  });
}

function decisionJson(
  request: { principal: EntityRef; action: Action; resource: EntityRef },
  d: Decision,
): unknown {
  return {
    principal: request.principal,
    action: request.action,
    resource: request.resource,
    decision: d.allowed ? 'allow' : 'deny',
    policies: d.policies,
    errors: d.errors,
    breakGlass: d.breakGlass,
    explanation: Authorizer.explain(d),
  };
}

async function explain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      context: { type: 'string' },
      with: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 3) {
    throw usage(
      'fortress policy explain needs PRINCIPAL ACTION RESOURCE, e.g. user:default/ann read table:default/main/patients',
    );
  }
  const [principalText, actionText, resourceText] = positionals as [string, string, string];
  if (!(ACTIONS as readonly string[]).includes(actionText)) {
    throw usage(`unknown action ${JSON.stringify(actionText.slice(0, 40))}; actions: ${ACTIONS.join(', ')}`);
  }
  const action = actionText as Action;
  const { principal, resource } = parseRequestRefs(principalText, action, resourceText);
  let context = {};
  if (values.context !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(values.context);
    } catch {
      throw usage('--context expects JSON, e.g. \'{"breakGlass": true, "clientAddress": "10.0.0.7"}\'');
    }
    context = requestContextOf(parsePolicyTestContext(raw));
  }
  let overlay: Record<string, string> | undefined;
  for (const policyFile of values.with ?? []) overlay = { ...overlay, ...(await readPolicies(policyFile)) };
  if (overlay !== undefined) rejectInvalid('--with', checkPolicies(overlay));
  return withUnsealed(dataDirOf(values.data), (db) => {
    const decision = decider(db.access, overlay).evaluate({ principal, action, resource, context });
    if (values.json) json(decisionJson({ principal, action, resource }, decision));
    else {
      out(`${decision.allowed ? 'ALLOW' : 'DENY'}  ${principalText} ${action} ${resourceText}`);
      out(`  ${Authorizer.explain(decision)}`);
      if (decision.breakGlass) out('  break-glass: every use of this permit is flagged in the audit log');
      // (An unknown principal is the explanation itself, not an evaluation error.)
      for (const error of decision.errors.filter((e) => !e.startsWith('principal:'))) {
        out(`  evaluation error: ${error}`);
      }
    }
    return Promise.resolve(decision.allowed ? 0 : 1);
  });
}
