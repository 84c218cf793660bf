/**
 * @module policy/templates/policy-templates
 * Ready-made Cedar policies for the roles most deployments need, so an operator starts from a
 * reviewed, validated set instead of hand-writing scopes. Each template renders, for one tenant and
 * one role, a few static policies (id → Cedar text) that `Authorizer.setPolicies` accepts as they
 * are. Every grant is scoped to the tenant (`resource in Fortress::Tenant::"<tenant>"`), and the
 * built-in guardrails (tenant isolation, no read up, no write down) still apply on top.
 *
 * | template      | grants                                                                    |
 * |---------------|---------------------------------------------------------------------------|
 * | `analyst`     | `read`, `query` on tables, columns and rows — no `decrypt`, so encrypted columns come back masked |
 * | `app`         | `read`, `decrypt`, `query`, `insert`, `update`, `delete`                  |
 * | `key-admin`   | `rotateKey`, `destroyKey`, `exportKey`; every data action is forbidden    |
 * | `auditor`     | `readAudit`; every data action is forbidden                               |
 * | `break-glass` | everything in the tenant, plus `seal`/`unseal`, only when `context.breakGlass`; marked `@breakGlass` |
 *
 * @example
 * ```ts
 * const policies = renderTemplate('analyst', { tenant: 'acme', role: 'analysts' });
 * // { 'analyst.acme.analysts.permit': 'permit (principal in Fortress::Role::"acme/analysts", …);' }
 * authorizer.setPolicies({ ...authorizer.policies, ...policies });
 * ```
 */
import { InvalidArgumentError } from '../../util/errors.js';
import { POLICY_ID_RE } from '../authorizer/authorizer.js';
import type { Action } from '../schema/fortress-schema.js';

/** Who a template is rendered for. */
export interface TemplateParams {
  /** The tenant's name: 1–64 letters, digits or `_.-`. */
  readonly tenant: string;
  /** The role's name within the tenant (the role entity is `<tenant>/<role>`): 1–64 letters, digits or `_.-`. */
  readonly role: string;
}

export type TemplateName = 'analyst' | 'app' | 'key-admin' | 'auditor' | 'break-glass';

export interface PolicyTemplate {
  /** One line for `policy templates` listings. */
  readonly description: string;
  /** Policy id → Cedar text, one static policy per id. Throws `InvalidArgumentError` on bad params. */
  render(params: TemplateParams): Record<string, string>;
}

/** The template names, in listing order. */
export const TEMPLATE_NAMES: readonly TemplateName[] = Object.freeze([
  'analyst',
  'app',
  'key-admin',
  'auditor',
  'break-glass',
]);

/**
 * Names go verbatim into Cedar string literals and policy ids, so they are restricted to characters
 * that need no escaping in either (and cannot contain `/`, which separates entity id segments).
 */
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Every action that touches data; the separation-of-duty templates forbid them all. */
const DATA_ACTIONS: readonly Action[] = ['read', 'decrypt', 'query', 'insert', 'update', 'delete'];

const BREAK_GLASS_NOTE = 'every use is recorded loudly';

function checkParams(params: unknown): TemplateParams {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new InvalidArgumentError('params', 'expected an object { tenant, role }');
  }
  const { tenant, role } = params as Record<string, unknown>;
  for (const [field, value] of [
    ['tenant', tenant],
    ['role', role],
  ] as const) {
    if (typeof value !== 'string' || !NAME_RE.test(value)) {
      throw new InvalidArgumentError(`params.${field}`, 'expected 1-64 letters, digits or _.- characters');
    }
  }
  return { tenant: tenant as string, role: role as string };
}

function actionList(actions: readonly Action[]): string {
  return actions.length === 1
    ? `action == Fortress::Action::"${actions[0]!}"`
    : `action in [${actions.map((a) => `Fortress::Action::"${a}"`).join(', ')}]`;
}

/**
 * Builds a template whose policies are `<template>.<tenant>.<role><suffix>`. A long tenant and role
 * together can exceed the 128-character policy id limit; that is refused here rather than by the
 * validator later, so the caller learns which argument to shorten.
 */
function template(
  name: TemplateName,
  description: string,
  policies: (principal: string, tenant: string) => Readonly<Record<string, string>>,
): PolicyTemplate {
  return Object.freeze({
    description,
    render(params: TemplateParams): Record<string, string> {
      const { tenant, role } = checkParams(params);
      const principal = `principal in Fortress::Role::"${tenant}/${role}"`;
      const out: Record<string, string> = {};
      for (const [suffix, text] of Object.entries(policies(principal, tenant))) {
        const id = `${name}.${tenant}.${role}${suffix}`;
        if (!POLICY_ID_RE.test(id)) {
          throw new InvalidArgumentError(
            'params',
            `tenant and role names are too long together: the policy ids would exceed 128 characters`,
          );
        }
        out[id] = text;
      }
      return out;
    },
  });
}

function permit(principal: string, actions: readonly Action[], tenant: string): string {
  return `permit (
  ${principal},
  ${actionList(actions)},
  resource in Fortress::Tenant::"${tenant}"
);`;
}

/**
 * The resource is left unconstrained on purpose: the point is that this role never touches data,
 * so no permit anywhere — in this tenant or granted system-wide — can give it any.
 */
function forbidData(principal: string): string {
  return `forbid (
  ${principal},
  ${actionList(DATA_ACTIONS)},
  resource
);`;
}

export const POLICY_TEMPLATES: Readonly<Record<TemplateName, PolicyTemplate>> = Object.freeze({
  analyst: template(
    'analyst',
    'read-only analyst: read and query tables, columns and rows; no decrypt, so encrypted columns come back masked',
    (principal, tenant) => ({ '.permit': permit(principal, ['read', 'query'], tenant) }),
  ),
  app: template(
    'app',
    'application service account: read, decrypt, query, insert, update and delete data',
    (principal, tenant) => ({
      '.permit': permit(principal, ['read', 'decrypt', 'query', 'insert', 'update', 'delete'], tenant),
    }),
  ),
  'key-admin': template(
    'key-admin',
    "key administrator: rotate, destroy and export the tenant's keys; never any data access",
    (principal, tenant) => ({
      '.permit': permit(principal, ['rotateKey', 'destroyKey', 'exportKey'], tenant),
      '.forbid-data': forbidData(principal),
    }),
  ),
  auditor: template(
    'auditor',
    "auditor: read the tenant's audit log; never any data access",
    (principal, tenant) => ({
      '.permit': permit(principal, ['readAudit'], tenant),
      '.forbid-data': forbidData(principal),
    }),
  ),
  'break-glass': template(
    'break-glass',
    'emergency access: every action in the tenant, and seal/unseal, only when break-glass is invoked; every use is recorded loudly',
    (principal, tenant) => ({
      '.permit': `@breakGlass("${BREAK_GLASS_NOTE}")
permit (
  ${principal},
  action,
  resource in Fortress::Tenant::"${tenant}"
)
when { context.breakGlass };`,
      // Seal and unseal act on the one System entity, which belongs to no tenant, so the tenant-scoped
      // permit above can never match them. Note that sealing is system-wide: whoever holds this role
      // in any tenant can seal (or unseal) Fortress for every tenant.
      '.permit-system': `@breakGlass("${BREAK_GLASS_NOTE}")
permit (
  ${principal},
  ${actionList(['seal', 'unseal'])},
  resource is Fortress::System
)
when { context.breakGlass };`,
    }),
  ),
});

/**
 * Renders one template by name. Throws `InvalidArgumentError` (`FX_INVALID_ARGUMENT`) for an unknown
 * name (the message lists the known ones) or malformed params.
 */
export function renderTemplate(name: unknown, params: unknown): Record<string, string> {
  if (typeof name !== 'string' || !(TEMPLATE_NAMES as readonly string[]).includes(name)) {
    // Echo the name only when it is plainly a name, so arbitrary input never reaches a log.
    const shown = typeof name === 'string' && NAME_RE.test(name) ? ` "${name}"` : '';
    throw new InvalidArgumentError(
      'template',
      `unknown template${shown}; expected one of ${TEMPLATE_NAMES.join(', ')}`,
    );
  }
  return POLICY_TEMPLATES[name as TemplateName].render(checkParams(params));
}
