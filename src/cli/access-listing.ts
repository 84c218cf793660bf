/**
 * @module cli/access-listing
 * What `fortress access` does the same on a data directory and against a server: `access list` as
 * text (principals with their clearance, roles and groups; roles with what they inherit; groups;
 * row filters), and the `--roles a,b` style name lists.
 */
import type { GroupInfo, PrincipalInfo, RoleInfo, RowFilterInfo } from '../access-control.js';
import { FortressError } from '../util/errors.js';

/** `a,b,c` → names; `""` → none (to clear a list); empty entries refused (names are checked later). */
export function nameList(value: string | undefined, flag: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (value === '') return [];
  const names = value.split(',').map((n) => n.trim());
  if (names.some((n) => n === '')) {
    throw new FortressError('FX_CLI_USAGE', `--${flag} expects names separated by commas`);
  }
  return names;
}

export interface AccessListing {
  readonly principals: readonly PrincipalInfo[];
  readonly roles: readonly RoleInfo[];
  readonly groups: readonly GroupInfo[];
  readonly rowFilters: readonly Pick<RowFilterInfo, 'id' | 'tenant' | 'role' | 'table'>[];
}

/** The listing's lines (no trailing newline). */
export function accessListingLines(listing: AccessListing): string[] {
  const names = (xs: readonly string[]): string => (xs.length === 0 ? '-' : xs.join(','));
  const lines = ['principals:'];
  for (const p of listing.principals) {
    lines.push(
      `  ${p.kind.padEnd(7)} ${`${p.tenant}/${p.name}`.padEnd(32)} clearance ${p.clearance.padEnd(14)} roles ${names(p.roles)}  groups ${names(p.groups)}`,
    );
  }
  lines.push('roles:');
  for (const r of listing.roles)
    lines.push(`  ${`${r.tenant}/${r.name}`.padEnd(40)} inherits ${names(r.roles)}`);
  lines.push('groups:');
  for (const g of listing.groups) {
    lines.push(`  ${`${g.tenant}/${g.name}`.padEnd(40)} roles ${names(g.roles)}  groups ${names(g.groups)}`);
  }
  if (listing.rowFilters.length > 0) {
    lines.push('row filters:');
    for (const f of listing.rowFilters)
      lines.push(`  ${f.id.padEnd(24)} ${f.tenant}/${f.role} on ${f.table}`);
  }
  return lines;
}
