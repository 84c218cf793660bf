/**
 * @module cli/access-listing
 * `fortress access list` as text, the same for a data directory and a server: principals with
 * their clearance, roles and groups; roles with what they inherit; groups; row filters.
 */
import type { GroupInfo, PrincipalInfo, RoleInfo, RowFilterInfo } from '../access-control.js';

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
