/**
 * @module bench/policy
 * `npm run -s bench -- policy`: what policy enforcement costs, each figure beside a baseline
 * measured in the same run, on a real data directory with 100 policies (templates, per-role table
 * grants, column forbids, row write rules, a few `context` conditions on non-data actions) plus the
 * built-in guardrails:
 * - a cached decision: `Authorizer.authorize` hits over the 92 distinct requests that sessions of
 *   four principals make to read `people`, beside a bare `Map` lookup of a prebuilt key (the floor
 *   of any decision cache);
 * - an uncached decision: `Authorizer.evaluate`, beside the raw `statefulIsAuthorized` call of
 *   cedar-wasm on the whole preparsed policy set with the entities prebuilt (Fortress gives Cedar
 *   only the policies whose action scope can match; both decide alike, checked on every request);
 * - a point read and an equality lookup on a searchable encrypted column through a policy session
 *   (`db.as('ann').table('people')`, every column readable and decryptable, a MAC row-label column
 *   with rows below and above ann's clearance) against the same operations through
 *   `db.table('people')` on the same Fortress, and against `db.table('people')` running the
 *   session's filter as a general query (the label range ANDed in; sessions themselves keep the
 *   engine's key and blind-index paths, with the range in their SQL). Every side is audited and
 *   reads only rows ann may see, so all decrypt the same values.
 * Prints JSON.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  getCedarVersion,
  preparsePolicySet,
  preparseSchema,
  statefulIsAuthorized,
  type StatefulAuthorizationCall,
} from '@cedar-policy/cedar-wasm/nodejs';
import { Fortress } from '../src/fortress.js';
import type { AuthorizationRequest, Authorizer } from '../src/policy/authorizer/authorizer.js';
import { GUARDRAILS } from '../src/policy/authorizer/guardrails.js';
import { renderTemplate } from '../src/policy/templates/policy-templates.js';
import { FORTRESS_CEDAR_SCHEMA, NAMESPACE, type Action } from '../src/policy/schema/fortress-schema.js';
import type { AccessControl } from '../src/access-control.js';
import { compare, machineInfo, median, progress, round, target, measure, type Latency } from './harness.js';
import { PEOPLE_COLUMNS, personValues } from './people.js';

const TENANT = 'default';
const DATABASE = 'main';
const ROLES = [
  'clinician',
  'analyst',
  'app',
  'billing',
  'support',
  'researcher',
  'hr',
  'marketing',
  'oncall',
  'intern',
  'auditor',
  'key-admin',
] as const;
/** Tables the policies name; only `people` exists (policies may name tables before they exist). */
const TABLES = [
  'people',
  'orders',
  'invoices',
  'claims',
  'visits',
  'payments',
  'devices',
  'tickets',
] as const;
/** The column of each table that the column forbids single out. */
const SENSITIVE: Readonly<Record<(typeof TABLES)[number], string>> = {
  people: 'ssn',
  orders: 'card',
  invoices: 'iban',
  claims: 'diagnosis',
  visits: 'notes',
  payments: 'card',
  devices: 'imei',
  tickets: 'body',
};
/** Row labels cycle through these; ann (secret:alpha) sees the first four. */
const ROW_LABELS = ['unclassified', 'cui', 'secret', 'secret:alpha', 'secret:beta', 'top-secret'] as const;
const ANN_CLEARANCE = 'secret:alpha';
const POLICY_COUNT = 100;

const role = (name: string): string => `Fortress::Role::"${TENANT}/${name}"`;
const table = (name: string): string => `Fortress::Table::"${TENANT}/${DATABASE}/${name}"`;
const actions = (list: readonly Action[]): string =>
  `[${list.map((a) => `Fortress::Action::"${a}"`).join(', ')}]`;

/**
 * 100 policies of the kinds a deployment accumulates. None of them conditions `read`, `decrypt` or
 * `query` on `context`, so those decisions are cacheable (a context condition on them would make
 * every such decision uncached — that cost is the uncached figure).
 */
function policySet(): Record<string, string> {
  const out: Record<string, string> = {
    ...renderTemplate('analyst', { tenant: TENANT, role: 'analyst' }),
    ...renderTemplate('app', { tenant: TENANT, role: 'app' }),
    ...renderTemplate('key-admin', { tenant: TENANT, role: 'key-admin' }),
    ...renderTemplate('auditor', { tenant: TENANT, role: 'auditor' }),
    'clinician-people': `permit (principal in ${role('clinician')}, action in ${actions(['read', 'decrypt', 'query'])}, resource in ${table('people')})
when { principal.level >= resource.level };`,
    'key-export-from-vpn': `permit (principal in ${role('key-admin')}, action == Fortress::Action::"exportKey", resource in Fortress::Tenant::"${TENANT}")
when { context has clientAddress && context.clientAddress like "10.*" };`,
    'oncall-seal': `@breakGlass("paged")
permit (principal in ${role('oncall')}, action in ${actions(['seal', 'unseal'])}, resource is Fortress::System)
when { context.breakGlass };`,
    'ban-mallory': `forbid (principal == Fortress::User::"${TENANT}/mallory", action, resource);`,
    'billing-cards': `permit (principal in ${role('billing')}, action == Fortress::Action::"decrypt", resource is Fortress::Column)
when { principal.compartments.contains("alpha") && resource.table == "invoices" };`,
    'research-plain-columns': `permit (principal in ${role('researcher')}, action == Fortress::Action::"read", resource is Fortress::Column)
when { !resource.encrypted && resource.level <= principal.level };`,
  };
  const grantees = ['billing', 'support', 'researcher', 'hr', 'marketing', 'oncall', 'intern'];
  for (const [r, who] of grantees.entries()) {
    for (const [t, name] of TABLES.entries()) {
      out[`${who}-reads-${name}`] =
        `permit (principal in ${role(who)}, action in ${actions(['read', 'query'])}, resource in ${table(name)})
when { principal.level >= ${(r + t) % 3} };`;
    }
  }
  for (const who of ['support', 'marketing', 'intern']) {
    for (const name of TABLES) {
      out[`${who}-no-${name}-${SENSITIVE[name]}`] =
        `forbid (principal in ${role(who)}, action == Fortress::Action::"decrypt", resource is Fortress::Column)
when { resource.table == "${name}" && resource.name == "${SENSITIVE[name]}" };`;
    }
  }
  for (const name of TABLES) {
    out[`app-writes-${name}`] =
      `permit (principal in ${role('app')}, action in ${actions(['insert', 'update', 'delete'])}, resource is Fortress::Row)
when { resource.table == "${name}" && resource.level >= principal.level };`;
  }
  const count = Object.keys(out).length;
  if (count !== POLICY_COUNT) throw new Error(`policy set has ${count} policies, expected ${POLICY_COUNT}`);
  return out;
}

async function setUpAccess(access: AccessControl): Promise<void> {
  for (const name of ROLES) await access.addRole(name);
  await access.addGroup('ward-a', { roles: ['clinician'] });
  await access.addGroup('staff', { groups: ['ward-a'], roles: ['oncall'] });
  await access.addUser('ann', { groups: ['staff'], roles: ['researcher'], clearance: ANN_CLEARANCE });
  await access.addUser('bob', { roles: ['analyst'], clearance: 'secret' });
  await access.addUser('carol', { roles: ['support', 'intern'], clearance: 'cui' });
  await access.addServiceAccount('etl', { roles: ['app'], clearance: 'top-secret:alpha+beta' });
  await access.addPolicies(policySet());
}

/** The requests sessions make for a read of `people`, as `PolicySession.decide` builds them. */
function sessionRequests(access: AccessControl): AuthorizationRequest[] {
  const principals = [
    { type: 'User', name: 'ann', clearance: ANN_CLEARANCE },
    { type: 'User', name: 'bob', clearance: 'secret' },
    { type: 'User', name: 'carol', clearance: 'cui' },
    { type: 'ServiceAccount', name: 'etl', clearance: 'top-secret:alpha+beta' },
  ];
  const tableId = `${TENANT}/${DATABASE}/people`;
  const requests: AuthorizationRequest[] = [];
  for (const p of principals) {
    const label = access.labels.parse(p.clearance);
    const base = {
      principal: { type: p.type, id: `${TENANT}/${p.name}` },
      variant: access.labels.format(label),
      principalAttrs: access.labelAttrs(label),
      context: { breakGlass: false },
    };
    for (const action of ['read', 'query'] as const)
      requests.push({ ...base, action, resource: { type: 'Table', id: tableId } });
    for (const column of [...Object.keys(PEOPLE_COLUMNS), 'label']) {
      for (const action of ['read', 'decrypt', 'query'] as const)
        requests.push({ ...base, action, resource: { type: 'Column', id: `${tableId}/${column}` } });
    }
  }
  return requests;
}

/**
 * The call `Authorizer.evaluate` makes for `request`, built once and on the whole policy set: the
 * raw cedar-wasm cost of a plain integration, with no entity gathering or conversion per decision. With `schemaName`, the call a plain Cedar
 * integration makes instead (Cedar validates the request and parses entities by the schema), which
 * Fortress replaces by its own request check.
 */
function rawCall(
  access: AccessControl,
  request: AuthorizationRequest,
  policySetId: string,
  schemaName: string | null,
): StatefulAuthorizationCall {
  const qualified = (ref: { type: string; id: string }) => ({
    type: `${NAMESPACE}::${ref.type}`,
    id: ref.id,
  });
  return {
    principal: qualified(request.principal),
    action: { type: `${NAMESPACE}::Action`, id: request.action },
    resource: qualified(request.resource),
    context: { now: Math.floor(Date.now() / 1000), breakGlass: request.context?.breakGlass ?? false },
    preparsedPolicySetId: policySetId,
    ...(schemaName === null ? {} : { preparsedSchemaName: schemaName }),
    validateRequest: schemaName !== null,
    entities: access.entities(request.principal, request.resource).map((e) => ({
      uid: qualified(e.uid),
      attrs:
        e.uid.type === request.principal.type && e.uid.id === request.principal.id
          ? { ...e.attrs, ...request.principalAttrs }
          : { ...e.attrs },
      parents: e.parents.map(qualified),
    })),
  };
}

function authorizationSuite(access: AccessControl, rounds: number, ms: number) {
  const authorizer: Authorizer = access.authorizer;
  const requests = sessionRequests(access);
  for (const action of ['read', 'decrypt', 'query'] as const) {
    if (authorizer.isContextual(action)) throw new Error(`${action} is contextual: nothing would be cached`);
  }
  // Warm the cache, and check every later call is a hit that agrees with an uncached evaluation.
  const decisions = requests.map((r) => authorizer.evaluate(r));
  for (const r of requests) authorizer.authorize(r);
  for (const [i, r] of requests.entries()) {
    const hit = authorizer.authorize(r);
    if (!hit.cached || hit.allowed !== decisions[i]!.allowed) throw new Error('cache miss or mismatch');
  }
  const allowed = decisions.filter((d) => d.allowed).length;

  const schemaName = 'fortress-bench';
  const setId = 'fortress-bench-raw';
  if (preparseSchema(schemaName, FORTRESS_CEDAR_SCHEMA).type !== 'success') throw new Error('schema');
  const all = { ...authorizer.policies, ...GUARDRAILS };
  if (preparsePolicySet(setId, { staticPolicies: all }).type !== 'success') throw new Error('policies');
  const calls = requests.map((r) => rawCall(access, r, setId, null));
  const schemaCalls = requests.map((r) => rawCall(access, r, setId, schemaName));
  for (const [i, call] of calls.entries()) {
    const answer = statefulIsAuthorized(call);
    if (answer.type !== 'success') throw new Error('raw call failed');
    if ((answer.response.decision === 'allow') !== decisions[i]!.allowed) throw new Error('raw mismatch');
    const reasons = [...answer.response.diagnostics.reason].sort().join();
    if (reasons !== [...decisions[i]!.policies].sort().join()) throw new Error('raw reasons differ');
    // Without Cedar's schema the decisions are the same (checked here on every request).
    const validated = statefulIsAuthorized(schemaCalls[i]!);
    if (validated.type !== 'success' || validated.response.decision !== answer.response.decision) {
      throw new Error('schema-validated call decides differently');
    }
  }

  const n = requests.length;
  let i = 0;
  progress(`authorization: cached hits over ${n} requests`);
  const keys = requests.map(
    (r) =>
      `${r.principal.type}\u0000${r.principal.id}\u0000${r.variant}\u0000${r.action}\u0000${r.resource.id}`,
  );
  const floor = new Map(keys.map((k, j) => [k, decisions[j]!]));
  let sink = 0;
  const cached = compare(
    () => {
      if (authorizer.authorize(requests[i++ % n]!).allowed) sink++;
    },
    () => {
      if (floor.get(keys[i++ % n]!)!.allowed) sink++;
    },
    rounds,
    ms / 2,
  );
  progress(`authorization: uncached evaluations over ${n} requests, ${Object.keys(all).length} policies`);
  const uncached = compare(
    () => {
      if (authorizer.evaluate(requests[i++ % n]!).allowed) sink++;
    },
    () => {
      if (statefulIsAuthorized(calls[i++ % n]!).type === 'success') sink++;
    },
    rounds,
    ms,
  );
  progress('authorization: raw calls without and with Cedar schema validation');
  const validation = compare(
    () => {
      if (statefulIsAuthorized(calls[i++ % n]!).type === 'success') sink++;
    },
    () => {
      if (statefulIsAuthorized(schemaCalls[i++ % n]!).type === 'success') sink++;
    },
    rounds,
    ms / 2,
  );
  if (sink === 0) throw new Error('nothing was decided');
  const us = (opsPerSec: number): number => round(1e6 / opsPerSec, 2);
  return {
    cedar: getCedarVersion(),
    policies: { user: Object.keys(authorizer.policies).length, guardrails: Object.keys(GUARDRAILS).length },
    requests: { distinct: n, allowed, denied: n - allowed },
    cached: {
      description:
        'Authorizer.authorize cache hits (key built from the request, Map lookup); baseline: Map.get of a prebuilt key',
      usPerDecision: us(cached.subject.opsPerSec),
      decisionsPerSec: cached.subject.opsPerSec,
      floorUsPerDecision: us(cached.baseline.opsPerSec),
      ratioToFloor: cached.ratio,
      rounds: cached.subject.rounds,
    },
    uncached: {
      description:
        'Authorizer.evaluate (entities gathered and converted, then statefulIsAuthorized on the policies whose action scope can match); baseline: statefulIsAuthorized alone on the whole preparsed policy set with prebuilt entities; ratioToRaw = evaluate rate / raw rate',
      usPerDecision: us(uncached.subject.opsPerSec),
      decisionsPerSec: uncached.subject.opsPerSec,
      rawUsPerDecision: us(uncached.baseline.opsPerSec),
      rawDecisionsPerSec: uncached.baseline.opsPerSec,
      ratioToRaw: uncached.ratio,
      rounds: uncached.subject.rounds,
      rawWithSchemaValidationUsPerDecision: us(validation.baseline.opsPerSec),
      schemaValidationSaving:
        'rawUs with Cedar request validation and schema-typed entities (a plain integration) vs without (Fortress checks the request itself): ratio ' +
        String(validation.ratio),
    },
  };
}

type Op = (i: number) => Promise<unknown>;

/**
 * The session, the plain table, and the plain table running the session's filter as a general
 * query (the key or email AND the MAC label range), interleaved for `rounds` rounds in a rotating
 * order. Each ratio is the median of its per-round ratios. `ratio` (session / plain) is the cost of
 * going through a session (the target). `engineScopeRatio` (scoped / plain) is what the same
 * filter costs through the engine's general planner — what sessions paid before the engine took
 * the label range into its key-read and blind-index paths (`RowScope`); `policyLayerRatio` is
 * session / scoped (above 1: the session beats the general query).
 */
async function compareOps(ops: { session: Op; plain: Op; scoped: Op }, rounds: number, ms: number) {
  const names = ['plain', 'scoped', 'session'] as const;
  const results: Record<(typeof names)[number], Latency[]> = { plain: [], scoped: [], session: [] };
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length]!;
      results[name].push(await measure(ops[name], ms));
    }
  }
  const pick = (list: Latency[]): Latency => {
    const ops = median(list.map((l) => l.opsPerSec));
    return list.reduce((best, l) =>
      Math.abs(l.opsPerSec - ops) < Math.abs(best.opsPerSec - ops) ? l : best,
    );
  };
  const ratios = (a: Latency[], b: Latency[]): number[] => a.map((l, r) => l.opsPerSec / b[r]!.opsPerSec);
  const perRound = ratios(results.session, results.plain);
  return {
    session: pick(results.session),
    plain: pick(results.plain),
    scoped: pick(results.scoped),
    ratio: round(median(perRound), 3),
    engineScopeRatio: round(median(ratios(results.scoped, results.plain)), 3),
    policyLayerRatio: round(median(ratios(results.session, results.scoped)), 3),
    rounds: perRound.map((r) => round(r, 3)),
  };
}

interface Person {
  id: string;
  email: string;
  label: number;
}

async function sessionSuite(db: Fortress, rows: number, rounds: number, ms: number) {
  const labels = db.access.labels;
  const packed = ROW_LABELS.map((l) => labels.pack(labels.parse(l)));
  const clearance = labels.parse(ANN_CLEARANCE);
  const people = db.table('people');
  const visible: Person[] = [];
  let hidden = 0;
  progress(`session: inserting ${rows} rows at ${ROW_LABELS.length} labels`);
  for (let start = 0; start < rows; start += 1000) {
    const batch = [];
    for (let i = start; i < Math.min(rows, start + 1000); i++) {
      const person = { id: randomUUID(), ...personValues(i), label: packed[i % packed.length]! };
      batch.push(person);
      if (labels.canRead(clearance, person.label)) visible.push(person);
      else hidden++;
    }
    await people.insertMany(batch);
  }
  const ann = db.as('ann').table('people');
  // The row filter must matter: a hidden row is invisible to ann, by key and by index.
  const above = (i: number) => ({ id: randomUUID(), ...personValues(rows + i), label: packed[5]! });
  const secret = above(0);
  await people.insert(secret);
  if ((await ann.get(secret.id)) !== undefined) throw new Error('a row above the clearance was visible');
  if ((await ann.find({ where: { email: secret.email } })).length !== 0)
    throw new Error('a row above the clearance was found');
  const sample = visible[0]!;
  const [viaSession, viaPlain] = [await ann.get(sample.id), await people.get(sample.id)];
  if (viaSession?.['ssn'] !== viaPlain?.['ssn'] || viaSession?.['ssn'] === undefined)
    throw new Error('the session does not read the same plaintext');

  const pick = (i: number): Person => visible[(i * 7919) % visible.length]!;
  // The filter the session ANDs into its query (GuardedTable's row scope: ann has no row filters).
  const { maxRank, forbiddenMask } = labels.readableRange(clearance);
  const scope = { label: { lt: (maxRank + 1) * 2 ** 48, bitsClear: forbiddenMask } };
  const select = [...Object.keys(PEOPLE_COLUMNS), 'label'];
  progress('session: point reads (plain, plain with the session query, session)');
  const pointRead = await compareOps(
    {
      session: async (i) => {
        if ((await ann.get(pick(i).id)) === undefined) throw new Error('missing row');
      },
      plain: async (i) => {
        if ((await people.get(pick(i).id)) === undefined) throw new Error('missing row');
      },
      scoped: async (i) => {
        const found = await people.find({ where: { and: [{ id: pick(i).id }, scope] }, limit: 1, select });
        if (found.length !== 1) throw new Error('missing row');
      },
    },
    rounds,
    ms,
  );
  progress('session: equality lookups (plain, plain with the session query, session)');
  const lookup = await compareOps(
    {
      session: async (i) => {
        if ((await ann.find({ where: { email: pick(i).email } })).length !== 1) throw new Error('lookup');
      },
      plain: async (i) => {
        if ((await people.find({ where: { email: pick(i).email } })).length !== 1) throw new Error('lookup');
      },
      scoped: async (i) => {
        const found = await people.find({ where: { and: [{ email: pick(i).email }, scope] }, select });
        if (found.length !== 1) throw new Error('lookup');
      },
    },
    rounds,
    ms,
  );
  return {
    rows: rows + 1,
    rowsVisibleToSession: visible.length,
    rowsHiddenFromSession: hidden + 1,
    session: `ann (clearance ${ANN_CLEARANCE}; read, decrypt and query on people by a conditional permit)`,
    scoped:
      "db.table('people').find with the session's filter as a general query: the key or email AND the MAC label range (limit 1 for the point read); sessions themselves run the engine's key and blind-index paths with the label range in their SQL",
    ratios:
      'ratio = session / plain ops/s (target); engineScopeRatio = scoped / plain (the label filter through the general planner); policyLayerRatio = session / scoped; each the median of per-round ratios',
    pointRead,
    equalityLookup: lookup,
  };
}

export async function run(options: { quick: boolean }): Promise<object> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fortress-bench-policy-'));
  const rows = options.quick ? 2_000 : 20_000;
  // Three rounds even when quick: with one, whichever side runs second pays for the other's WAL.
  const rounds = options.quick ? 3 : 5;
  const ms = options.quick ? 200 : 1000;
  let db: Fortress | null = null;
  try {
    progress('opening a Fortress (dev key file) and loading 100 policies');
    db = await Fortress.open({
      path: dir,
      onWarning: () => undefined,
      labels: { levels: ['unclassified', 'cui', 'secret', 'top-secret'], compartments: ['alpha', 'beta'] },
      audit: { checkpointIntervalMs: 0 },
    });
    await db.createTable('people', {
      expectedRows: rows,
      columns: { ...PEOPLE_COLUMNS, label: { type: 'integer' } },
      rowLabel: 'label',
    });
    await setUpAccess(db.access);
    const authorization = authorizationSuite(db.access, rounds, ms);
    const session = await sessionSuite(db, rows, rounds, ms);
    return {
      suite: 'policy',
      quick: options.quick,
      date: new Date().toISOString(),
      machine: machineInfo(),
      authorization,
      session,
      targets: {
        'cached decision ≤ 5 µs': target(authorization.cached.usPerDecision, 5, true),
        'uncached decision (100 policies) ≤ 500 µs': target(authorization.uncached.usPerDecision, 500, true),
        'point read through a session ≥ 0.85× plain': target(session.pointRead.ratio, 0.85),
        'equality lookup through a session ≥ 0.85× plain': target(session.equalityLookup.ratio, 0.85),
      },
    };
  } finally {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  }
}
