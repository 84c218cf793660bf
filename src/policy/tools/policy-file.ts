/**
 * @module policy/tools/policy-file
 * Policy files as operators write them, turned into the record of id → Cedar text that Fortress
 * stores (every policy has a stable id, so a change or a denial names exactly one policy).
 *
 * Two forms are read:
 *
 * - **Cedar** (`.cedar`): any number of policies, each carrying its id in an `@id("…")` annotation —
 *   the Cedar convention, so the same file works with other Cedar tools. A file of exactly one
 *   policy may leave the annotation out when the caller supplies the id (`--id`).
 * - **JSON** (text starting with `{`): `{ "<id>": "<Cedar text>", … }`, what `db.access.addPolicies`
 *   takes.
 *
 * `formatPolicyFile` writes the Cedar form back, so `fortress policy template … > f.cedar` and
 * `fortress policy add f.cedar` round-trip. Pure: no I/O.
 *
 * @example
 * ```ts
 * parsePolicyFile('@id("analysts-read")\npermit (principal, action == Fortress::Action::"read", resource);');
 * // { 'analysts-read': '@id("analysts-read")\npermit (principal, action == …, resource);' }
 * ```
 */
import { policySetTextToParts } from '@cedar-policy/cedar-wasm/nodejs';
import { describe } from '../../util/bytes.js';
import { InvalidArgumentError } from '../../util/errors.js';
import { POLICY_ID_RE, policyJson } from '../authorizer/authorizer.js';

/** A policy file may hold at most this many policies (and this much text). */
export const MAX_POLICY_FILE_POLICIES: number = 10_000;
export const MAX_POLICY_FILE_BYTES: number = 16 * 1024 * 1024;

const ID_HINT = 'ids are 1-128 letters, digits or ._:- starting with a letter or digit';

function checkId(id: unknown, where: string): string {
  if (typeof id !== 'string' || !POLICY_ID_RE.test(id)) {
    const shown = typeof id === 'string' && /^[\x20-\x7e]{0,80}$/.test(id) ? ` ${JSON.stringify(id)}` : '';
    throw new InvalidArgumentError(where, `invalid policy id${shown} (${ID_HINT})`);
  }
  return id;
}

/** `text` parsed as JSON, or `InvalidArgumentError` naming `what` with the parser's (shortened) reason. */
export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const detail = (error as Error).message;
    throw new InvalidArgumentError(
      what,
      `not valid JSON (${detail.length > 120 ? `${detail.slice(0, 120)}…` : detail})`,
    );
  }
}

function parseJsonFile(text: string): Record<string, string> {
  const root = parseJsonText(text, 'policy file');
  if (root === null || typeof root !== 'object' || Array.isArray(root)) {
    throw new InvalidArgumentError(
      'policy file',
      `expected { "<id>": "<Cedar text>", … }, got ${describe(root)}`,
    );
  }
  const entries = Object.entries(root as Record<string, unknown>);
  if (entries.length === 0) throw new InvalidArgumentError('policy file', 'holds no policies');
  if (entries.length > MAX_POLICY_FILE_POLICIES) {
    throw new InvalidArgumentError('policy file', `holds more than ${MAX_POLICY_FILE_POLICIES} policies`);
  }
  const out: Record<string, string> = {};
  for (const [id, value] of entries) {
    checkId(id, 'policy file');
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`policy ${id}`, `expected Cedar text, got ${describe(value)}`);
    }
    out[id] = value;
  }
  return out;
}

/**
 * Parses a policy file (Cedar or JSON, see the module notes). `options.id` names the policy of a
 * one-policy Cedar file without an `@id`. Throws `InvalidArgumentError` (`FX_INVALID_ARGUMENT`) with
 * the parser's message, naming the policy by position, when the text does not parse, a policy has
 * no id, or two share one. Whether the policies are *valid* (schema, guardrails) is checked when
 * they are added (`checkPolicies`).
 */
export function parsePolicyFile(text: string, options: { id?: string } = {}): Record<string, string> {
  if (typeof text !== 'string') {
    throw new InvalidArgumentError('policy file', `expected text, got ${describe(text)}`);
  }
  if (text.length > MAX_POLICY_FILE_BYTES) {
    throw new InvalidArgumentError('policy file', `larger than ${MAX_POLICY_FILE_BYTES} bytes`);
  }
  if (options.id !== undefined) checkId(options.id, 'id');
  if (/^\s*\{/.test(text)) {
    if (options.id !== undefined) {
      throw new InvalidArgumentError('id', 'a JSON policy file names its own ids; leave the id out');
    }
    return parseJsonFile(text);
  }
  const answer = policySetTextToParts(text);
  if (answer.type !== 'success') {
    const first = answer.errors[0];
    throw new InvalidArgumentError(
      'policy file',
      `does not parse as Cedar: ${first === undefined ? 'unknown error' : first.message}`,
    );
  }
  if (answer.policy_templates.length > 0) {
    throw new InvalidArgumentError(
      'policy file',
      'holds a policy template (?principal / ?resource slots); Fortress stores static policies only',
    );
  }
  const parts = answer.policies;
  if (parts.length === 0) throw new InvalidArgumentError('policy file', 'holds no policies');
  if (parts.length > MAX_POLICY_FILE_POLICIES) {
    throw new InvalidArgumentError('policy file', `holds more than ${MAX_POLICY_FILE_POLICIES} policies`);
  }
  const out: Record<string, string> = {};
  parts.forEach((part, i) => {
    const annotated = policyJson(part).annotations?.['id'];
    let id: string;
    if (annotated !== undefined) {
      id = checkId(annotated, `policy ${i + 1} of the file`);
      if (options.id !== undefined && options.id !== id) {
        throw new InvalidArgumentError(
          'id',
          `the policy is annotated @id("${id}"); leave the id out or make them agree`,
        );
      }
    } else if (parts.length === 1 && options.id !== undefined) {
      id = options.id;
    } else {
      throw new InvalidArgumentError(
        `policy ${i + 1} of the file`,
        parts.length === 1
          ? 'has no @id("…") annotation; add one or pass the id'
          : 'has no @id("…") annotation (every policy of a multi-policy file needs one)',
      );
    }
    if (Object.hasOwn(out, id)) {
      throw new InvalidArgumentError(`policy ${i + 1} of the file`, `repeats the id "${id}"`);
    }
    out[id] = part.trim();
  });
  return out;
}

/**
 * Writes policies as one Cedar file, each under an `@id("…")` annotation (added unless the text
 * already starts with its own), in the order given. `parsePolicyFile` reads it back unchanged.
 */
export function formatPolicyFile(policies: Readonly<Record<string, string>>): string {
  return Object.entries(policies)
    .map(([id, text]) => {
      const body = text.trim();
      const annotated = policyJson(body).annotations?.['id'];
      return annotated === id ? body : `@id("${checkId(id, 'policies')}")\n${body}`;
    })
    .join('\n\n')
    .concat('\n');
}
