/**
 * @module server/version
 * The package version, reported by `/v1/sys/status` and the OpenAPI document. Read from the
 * nearest package.json above this file (the built file sits one folder deeper than the source).
 */
import { existsSync, readFileSync } from 'node:fs';

function readVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    const url = new URL(up, import.meta.url);
    if (!existsSync(url)) continue;
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'fortress' && typeof pkg.version === 'string') return pkg.version;
  }
  return '0.0.0';
}

export const VERSION: string = readVersion();
