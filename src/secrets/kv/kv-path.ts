/**
 * @module secrets/kv/kv-path
 * Secret paths: `/`-separated segments such as `apps/billing/db`. A path names one secret; a
 * prefix ending in `/` names a folder (for listing). Paths are stored and audited in clear (like
 * table names), so they must not themselves be secret.
 */
import { FortressError } from '../../util/errors.js';

/** Longest path, in characters. */
export const MAX_PATH = 512;
const SEGMENT_RE = /^[A-Za-z0-9_@+=,:~-][A-Za-z0-9._@+=,:~-]{0,127}$/;

/** Checks a secret's path (no leading or trailing `/`, no empty, `.` or `..` segment). */
export function checkSecretPath(path: unknown, name = 'path'): string {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH) {
    throw new FortressError(
      'FX_INVALID_ARGUMENT',
      `${name}: expected a secret path of 1-${MAX_PATH} characters`,
    );
  }
  for (const segment of path.split('/')) {
    if (!SEGMENT_RE.test(segment) || segment === '..') {
      throw new FortressError(
        'FX_INVALID_ARGUMENT',
        `${name}: segments of 1-128 letters, digits and _.@+=,:~- separated by "/" (not starting with "."), e.g. apps/billing/db`,
      );
    }
  }
  return path;
}

/** Checks a folder prefix for listing: empty (the root) or a path ending in `/`. */
export function checkFolder(prefix: unknown): string {
  if (prefix === undefined || prefix === '') return '';
  if (typeof prefix !== 'string' || !prefix.endsWith('/')) {
    throw new FortressError(
      'FX_INVALID_ARGUMENT',
      'prefix: expected a folder ending in "/" (or nothing for the root)',
    );
  }
  checkSecretPath(prefix.slice(0, -1), 'prefix');
  return prefix;
}
