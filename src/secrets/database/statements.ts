/**
 * @module secrets/database/statements
 * Statement templates, with HashiCorp Vault's placeholders: `{{name}}` (also `{{username}}`), the
 * database user; `{{password}}`, its password (or, with SCRAM password authentication, the
 * verifier PostgreSQL stores for it); `{{expiration}}`, when the lease ends, as a UTC timestamp
 * PostgreSQL reads in `VALID UNTIL '…'`.
 *
 * Templates are trusted administrator input: values are substituted raw, inside the template's
 * own quotes (`"{{name}}"`, `'{{password}}'`), as Vault does. That is safe because every value
 * comes from an alphabet that needs no escaping there — generated names are `[a-z0-9-]`,
 * generated passwords `[A-Za-z0-9_-]`, verifiers base64 — and user names an administrator gives
 * (the connection's, a static role's) may not contain quotes, backslashes or control characters.
 *
 * Each kind of statement accepts only the placeholders it can fill; an unknown or misplaced one is
 * refused when the template is written (`FX_DB_TEMPLATE_INVALID`), never at use. Text like
 * `'{{1,2},{3,4}}'` (an array literal) is not a placeholder and passes unchanged.
 *
 * The PostgreSQL defaults live here too, including the built-in revocation, which runs queries.
 */
import { FortressError } from '../../util/errors.js';
import { describe } from '../../util/bytes.js';
import { DatabaseSecretsError } from './database-errors.js';
import type { TargetSession } from './target-pool.js';

/** What a template can ask for. */
export type Placeholder = 'name' | 'username' | 'password' | 'expiration';

/** The kinds of statement lists, each with the placeholders it can fill. */
export type StatementKind = 'creation' | 'revocation' | 'renew' | 'rootRotation' | 'rotation';

const ALLOWED: Readonly<Record<StatementKind, readonly Placeholder[]>> = {
  creation: ['name', 'username', 'password', 'expiration'],
  revocation: ['name', 'username'],
  renew: ['name', 'username', 'expiration'],
  rootRotation: ['name', 'username', 'password'],
  rotation: ['name', 'username', 'password'],
};

/** Most statements in one list. */
export const MAX_STATEMENTS = 50;
/** Longest statement template, in characters. */
export const MAX_STATEMENT_LENGTH = 16_384;

/** A word in double braces, with optional spaces: `{{name}}`, `{{ password }}`. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;

/** Renew: Vault's PostgreSQL default — move the login's expiry with the lease. */
export const DEFAULT_RENEW_STATEMENTS: readonly string[] = Object.freeze([
  `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`,
]);

/** Root rotation and static-role rotation: set the user's password. */
export const DEFAULT_ROTATION_STATEMENTS: readonly string[] = Object.freeze([
  `ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'`,
]);

/**
 * Checks a list of statement templates of one kind: an array of 0…50 non-empty strings (at least
 * one when `required`), each placeholder known and allowed for the kind, and each placeholder of
 * `mustUse` present somewhere. Returns a frozen copy.
 */
export function checkStatements(
  value: unknown,
  argument: string,
  kind: StatementKind,
  options: { readonly required?: boolean; readonly mustUse?: readonly Placeholder[] } = {},
): readonly string[] {
  if (!Array.isArray(value)) {
    throw new FortressError('FX_INVALID_ARGUMENT', `${argument}: expected an array of SQL statements`);
  }
  if (value.length > MAX_STATEMENTS) {
    throw new FortressError('FX_INVALID_ARGUMENT', `${argument}: at most ${MAX_STATEMENTS} statements`);
  }
  if (options.required === true && value.length === 0) {
    throw new FortressError('FX_INVALID_ARGUMENT', `${argument}: at least one statement is required`);
  }
  const used = new Set<Placeholder>();
  const out = value.map((statement: unknown, i) => {
    const where = `${argument}[${i}]`;
    if (typeof statement !== 'string') {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `${where}: expected a string, got ${describe(statement)}`,
      );
    }
    if (statement.trim() === '' || statement.length > MAX_STATEMENT_LENGTH) {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `${where}: expected a non-empty statement of at most ${MAX_STATEMENT_LENGTH} characters`,
      );
    }
    if (statement.includes('\0')) {
      throw new FortressError('FX_INVALID_ARGUMENT', `${where}: contains a NUL character`);
    }
    for (const match of statement.matchAll(PLACEHOLDER)) {
      const word = match[1]!;
      if (!(ALLOWED.creation as readonly string[]).includes(word)) {
        throw new DatabaseSecretsError(
          'FX_DB_TEMPLATE_INVALID',
          `${where}: unknown placeholder {{${word.slice(0, 40)}}}; known: {{name}}, {{username}}, {{password}}, {{expiration}}`,
        );
      }
      const placeholder = word as Placeholder;
      if (!ALLOWED[kind].includes(placeholder)) {
        throw new DatabaseSecretsError(
          'FX_DB_TEMPLATE_INVALID',
          `${where}: ${kind} statements cannot use {{${word}}}; they can use ${ALLOWED[kind].map((p) => `{{${p}}}`).join(', ')}`,
        );
      }
      used.add(placeholder === 'username' ? 'name' : placeholder);
    }
    return statement;
  });
  for (const needed of options.mustUse ?? []) {
    if (!used.has(needed)) {
      throw new DatabaseSecretsError(
        'FX_DB_TEMPLATE_INVALID',
        `${argument}: no statement uses {{${needed}}}; ${kind} statements must`,
      );
    }
  }
  return Object.freeze(out);
}

/** The values a rendering fills in (`username` is filled from `name`). */
export interface TemplateValues {
  readonly name: string;
  readonly password?: string;
  readonly expiration?: string;
}

/** `template` with every placeholder replaced (one pass: inserted values are never re-read). */
export function renderStatement(template: string, values: TemplateValues): string {
  return template.replace(PLACEHOLDER, (_match, word: string) => {
    const value = word === 'name' || word === 'username' ? values.name : values[word as 'password'];
    if (value === undefined) {
      // checkStatements refused this placeholder for the kind; reaching here is a bug.
      throw new FortressError('FX_INTERNAL', `no value for {{${word}}} in this kind of statement`);
    }
    return value;
  });
}

/**
 * A time as `{{expiration}}`: `YYYY-MM-DD HH:MM:SS.mmm+00`, UTC, which PostgreSQL reads as a
 * `timestamptz` (`VALID UNTIL '2030-01-31 12:00:00.000+00'`).
 */
export function formatExpiration(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '+00');
}

/** A PostgreSQL identifier in double quotes. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Which of a user's privileges in a schema the built-in revocation must take back. */
interface SchemaGrants {
  readonly schema: string;
  readonly relations: boolean;
  readonly functions: boolean;
  readonly usage: boolean;
}

const GRANTS_OF_USER = `
WITH r AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)
SELECT * FROM (SELECT n.nspname AS schema,
  (EXISTS (SELECT 1 FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
           WHERE c.relnamespace = n.oid AND a.grantee = r.oid)
   OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute t JOIN pg_catalog.pg_class c ON c.oid = t.attrelid
           CROSS JOIN LATERAL pg_catalog.aclexplode(t.attacl) a WHERE c.relnamespace = n.oid AND a.grantee = r.oid)
  ) AS relations,
  EXISTS (SELECT 1 FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
          WHERE p.pronamespace = n.oid AND a.grantee = r.oid) AS functions,
  EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a WHERE a.grantee = r.oid) AS usage
FROM pg_catalog.pg_namespace n CROSS JOIN r) g
WHERE relations OR functions OR usage`;

const DATABASE_GRANT = `
SELECT current_database() AS database,
  EXISTS (SELECT 1 FROM pg_catalog.pg_database d CROSS JOIN LATERAL pg_catalog.aclexplode(d.datacl) a
          WHERE d.datname = current_database()
            AND a.grantee = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)) AS granted`;

/**
 * The built-in PostgreSQL revocation (a role with no revocation statements), run inside the
 * revocation's transaction once the user is known to exist. It removes everything the user holds
 * in the connection's database, then the user:
 *
 * - when the administrator has the user's privileges (a superuser, or a member of the user):
 *   `REASSIGN OWNED BY <user> TO CURRENT_USER; DROP OWNED BY <user>` — objects the user created
 *   pass to the administrator and every privilege granted to the user goes;
 * - otherwise (a `CREATEROLE` administrator, which PostgreSQL does not let reassign or drop what a
 *   role owns): `REVOKE ALL` on the tables, sequences and functions of every schema where the
 *   catalogs show the user holds a privilege, on those schemas and on the database — the grants
 *   creation statements make. (Vault's default revokes in the same way.)
 *
 * then `DROP ROLE IF EXISTS <user>`. Anything left that PostgreSQL will not drop the role with
 * (objects it owns, default privileges naming it) makes the revocation fail with PostgreSQL's
 * explanation; the lease is kept and retried — write revocation statements for such roles.
 */
export async function revokeUserByDefault(session: TargetSession, username: string): Promise<void> {
  const user = quoteIdentifier(username);
  const [membership] = await session.query<{ member: boolean }>(
    "SELECT pg_catalog.pg_has_role(current_user, $1, 'USAGE') AS member",
    [username],
  );
  if (membership?.member === true) {
    await session.exec(`REASSIGN OWNED BY ${user} TO CURRENT_USER; DROP OWNED BY ${user}`);
  } else {
    const grants = await session.query<SchemaGrants>(GRANTS_OF_USER, [username]);
    for (const grant of grants) {
      const schema = quoteIdentifier(grant.schema);
      if (grant.relations) {
        await session.exec(
          `REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA ${schema} FROM ${user}; ` +
            `REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA ${schema} FROM ${user}`,
        );
      }
      if (grant.functions) {
        await session.exec(`REVOKE ALL PRIVILEGES ON ALL FUNCTIONS IN SCHEMA ${schema} FROM ${user}`);
      }
      if (grant.usage) await session.exec(`REVOKE ALL PRIVILEGES ON SCHEMA ${schema} FROM ${user}`);
    }
    const [database] = await session.query<{ database: string; granted: boolean }>(DATABASE_GRANT, [
      username,
    ]);
    if (database?.granted === true) {
      await session.exec(
        `REVOKE ALL PRIVILEGES ON DATABASE ${quoteIdentifier(database.database)} FROM ${user}`,
      );
    }
  }
  await session.exec(`DROP ROLE IF EXISTS ${user}`);
}
