/**
 * Tests what ships for the SDK: `fortress/client` resolves through the exports map to the built
 * files, and those files import nothing at run time but each other — no `node:` module, no Buffer,
 * nothing of the server or the engine — so the SDK also runs in browsers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../dist/src/client/', import.meta.url));

function builtFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return builtFiles(full);
    return entry.name.endsWith('.js') ? [full] : [];
  });
}

describe('fortress/client package entry', () => {
  it('exposes the client, its error class and guard, and the base64 helpers', async () => {
    const sdk = (await import('fortress/client')) as Record<string, unknown>;
    for (const name of [
      'FortressClient',
      'FortressClientError',
      'isFortressClientError',
      'toBase64',
      'fromBase64',
    ]) {
      expect(sdk[name], name).toBeTypeOf('function');
    }
    // Internals stay internal.
    for (const name of ['HttpTransport', 'Deadline', 'toWire', 'RecordSplitter', 'CsvEncoder']) {
      expect(sdk[name], name).toBeUndefined();
    }
  });

  it('imports nothing at run time outside src/client: no node: modules, no Buffer', () => {
    const files = builtFiles(dist);
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      // Comments out first: the JSDoc examples show imports of the package itself.
      const code = readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '');
      const specifiers = [...code.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)].map(
        (m) => m[1]!,
      );
      specifiers.push(...[...code.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!));
      for (const specifier of specifiers) {
        expect(specifier, `${path.relative(dist, file)} imports ${specifier}`).toMatch(/^\.\.?\//);
        const target = path.resolve(path.dirname(file), specifier);
        expect(target.startsWith(dist), `${path.relative(dist, file)} imports ${specifier}`).toBe(true);
      }
      expect(code, path.relative(dist, file)).not.toMatch(/\bBuffer\b|\bprocess\.|require\(/);
    }
  });
});
