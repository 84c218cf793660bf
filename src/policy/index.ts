/**
 * @module fortress/policy
 * Access-control building blocks for policy authors and tools: the Cedar schema, the authorizer,
 * security labels, masking rules, ready-made templates, the policy linter and the policy test-file
 * runner. A database's policies are managed through `db.access` and enforced by `db.as()`.
 */
export {
  ACTIONS,
  FORTRESS_CEDAR_SCHEMA,
  NAMESPACE,
  PRINCIPAL_TYPES,
  RESOURCE_TYPES,
  type Action,
  type PrincipalType,
  type ResourceType,
} from './schema/fortress-schema.js';
export {
  Authorizer,
  checkPolicies,
  type AuthorizationRequest,
  type CedarEntity,
  type Decision,
  type EntityRef,
  type EntitySource,
  type PolicyIssue,
  type RequestContext,
} from './authorizer/authorizer.js';
export { GUARDRAILS, GUARDRAIL_PREFIX } from './authorizer/guardrails.js';
export { LabelScheme, type LabelSchemeOptions, type SecurityLabel } from './mac/security-label.js';
export { MASK_RULES, REDACTED, maskValue, type MaskRule } from './masking/masking.js';
export {
  POLICY_TEMPLATES,
  TEMPLATE_NAMES,
  renderTemplate,
  type TemplateName,
  type TemplateParams,
} from './templates/policy-templates.js';
export { lintPolicies, type LintFinding } from './tools/policy-lint.js';
export {
  parsePolicyTestFile,
  runPolicyTests,
  type PolicyTestCase,
  type PolicyTestReport,
} from './tools/policy-test.js';
