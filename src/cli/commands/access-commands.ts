/**
 * @module cli/commands/access-commands
 * `fortress access …`: the principals policies talk about — users, service accounts, groups and
 * roles of a data directory — so that `fortress policy explain` and `policy test` can be used from
 * the command line alone. Every change is recorded in the audit ledger (`access.addUser`, …).
 *
 *   fortress access list [--json]
 *   fortress access user add NAME [--service] [--tenant T] [--clearance LABEL] [--roles a,b] [--groups g,h]
 *   fortress access user update NAME [--service] [--tenant T] [--clearance LABEL] [--roles …] [--groups …]
 *   fortress access user remove NAME [--service] [--tenant T]
 *   fortress access role add NAME [--tenant T] [--inherits a,b]   |  role remove NAME [--tenant T]
 *   fortress access group add NAME [--tenant T] [--roles a,b] [--groups g]  |  group remove NAME
 *   fortress access roles-of NAME [--service] [--tenant T]
 */
import { parseArgs } from 'node:util';
import type { AccessControl, PrincipalKind, PrincipalOptions } from '../../access-control.js';
import { FortressError } from '../../util/errors.js';
import { accessListingLines, nameList } from '../access-listing.js';
import { dataDirOf, withUnsealed } from '../data-dir.js';

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function usage(message: string): FortressError {
  return new FortressError('FX_CLI_USAGE', message);
}

const OPTIONS = {
  data: { type: 'string' },
  json: { type: 'boolean', default: false },
  service: { type: 'boolean', default: false },
  tenant: { type: 'string' },
  clearance: { type: 'string' },
  roles: { type: 'string' },
  groups: { type: 'string' },
  inherits: { type: 'string' },
} as const;

/** Which flags each command takes: anything else is a usage error, found before unsealing. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  list: ['data', 'json'],
  'user add': ['data', 'service', 'tenant', 'clearance', 'roles', 'groups'],
  'user update': ['data', 'service', 'tenant', 'clearance', 'roles', 'groups'],
  'user remove': ['data', 'service', 'tenant'],
  'role add': ['data', 'tenant', 'inherits'],
  'role remove': ['data', 'tenant'],
  'group add': ['data', 'tenant', 'roles', 'groups'],
  'group remove': ['data', 'tenant'],
  'roles-of': ['data', 'service', 'tenant', 'json'],
};

export async function accessCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const [first, second] = positionals;
  const grouped = first === 'user' || first === 'role' || first === 'group';
  const command = grouped ? `${first} ${second ?? ''}` : (first ?? '');
  const rest = positionals.slice(grouped ? 2 : 1);
  const allowed = ALLOWED[command];
  if (allowed === undefined) {
    throw usage(
      `unknown access command ${JSON.stringify(command.trim())}; expected list, user add|update|remove, role add|remove, group add|remove or roles-of`,
    );
  }
  for (const [flag, value] of Object.entries(values)) {
    // Booleans default to false: only a flag actually given counts.
    if (value !== false && !allowed.includes(flag))
      throw usage(`fortress access ${command} takes no --${flag}`);
  }
  if (command === 'list' ? rest.length !== 0 : rest.length !== 1) {
    throw usage(
      command === 'list'
        ? 'fortress access list takes no arguments'
        : `fortress access ${command} needs one name`,
    );
  }
  const name = rest[0]!;
  const kind: PrincipalKind = values.service ? 'service' : 'user';
  const tenant = values.tenant === undefined ? {} : { tenant: values.tenant };
  const roles = nameList(values.roles, 'roles');
  const groups = nameList(values.groups, 'groups');
  const inherits = nameList(values.inherits, 'inherits');
  const principalOptions: PrincipalOptions = {
    ...tenant,
    ...(values.clearance === undefined ? {} : { clearance: values.clearance }),
    ...(roles === undefined ? {} : { roles }),
    ...(groups === undefined ? {} : { groups }),
  };
  const what = `${kind === 'user' ? 'user' : 'service account'} ${name}`;
  return withUnsealed(dataDirOf(values.data), async (db) => {
    const access = db.access;
    switch (command) {
      case 'list':
        printAll(access, values.json);
        return 0;
      case 'user add':
        await (kind === 'user'
          ? access.addUser(name, principalOptions)
          : access.addServiceAccount(name, principalOptions));
        out(`added ${what}`);
        return 0;
      case 'user update': {
        // Flags left out keep their current value.
        const current = access.principal(kind, name, values.tenant);
        await access.updatePrincipal(kind, name, {
          tenant: current.tenant,
          clearance: principalOptions.clearance ?? current.clearance,
          roles: principalOptions.roles ?? current.roles,
          groups: principalOptions.groups ?? current.groups,
        });
        out(`updated ${what}`);
        return 0;
      }
      case 'user remove':
        await access.removePrincipal(kind, name, values.tenant);
        out(`removed ${what}`);
        return 0;
      case 'role add':
        await access.addRole(name, { ...tenant, ...(inherits === undefined ? {} : { roles: inherits }) });
        out(`added role ${name}`);
        return 0;
      case 'role remove':
        await access.removeRole(name, values.tenant);
        out(`removed role ${name}`);
        return 0;
      case 'group add':
        await access.addGroup(name, {
          ...tenant,
          ...(roles === undefined ? {} : { roles }),
          ...(groups === undefined ? {} : { groups }),
        });
        out(`added group ${name}`);
        return 0;
      case 'group remove':
        await access.removeGroup(name, values.tenant);
        out(`removed group ${name}`);
        return 0;
      default: {
        const held = access.rolesOf(kind, name, values.tenant);
        if (values.json) out(JSON.stringify(held));
        else out(held.length === 0 ? `${what} holds no role` : held.join('\n'));
        return 0;
      }
    }
  });
}

function printAll(access: AccessControl, json: boolean): void {
  const listing = {
    principals: access.listPrincipals(),
    roles: access.listRoles(),
    groups: access.listGroups(),
    rowFilters: access.listRowFilters(),
  };
  if (json) out(JSON.stringify(listing, null, 2));
  else for (const line of accessListingLines(listing)) out(line);
}
