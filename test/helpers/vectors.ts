/**
 * Loads known-answer test vectors (Project Wycheproof JSON) from the shared vectors directory, which
 * lives outside the repository: `$FORTRESS_VECTORS_DIR`, or `<repo root>/../shared/vectors`. The
 * vector files are never copied into the repo. A missing directory or file, or a file that does not
 * look like a Wycheproof test file, throws: known-answer tests must fail loudly, never skip.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: two levels up from this file (test/helpers/vectors.ts). */
export const REPO_ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared vectors directory (not checked for existence; `loadWycheproof` does that). */
export function vectorsDir(): string {
  const fromEnv = process.env['FORTRESS_VECTORS_DIR'];
  return fromEnv !== undefined && fromEnv !== ''
    ? path.resolve(fromEnv)
    : path.resolve(REPO_ROOT, '../shared/vectors');
}

/** Wycheproof's verdict for a test case. */
export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

/** Fields every Wycheproof test case has. */
export interface WycheproofTest {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly result: WycheproofResult;
}

/** A group of test cases sharing parameters (the group-level fields depend on the schema). */
export interface WycheproofGroup<T extends WycheproofTest> {
  readonly type: string;
  readonly tests: readonly T[];
}

/** A whole Wycheproof file. */
export interface WycheproofFile<G extends WycheproofGroup<WycheproofTest>> {
  readonly algorithm: string;
  readonly numberOfTests: number;
  readonly notes?: Readonly<Record<string, unknown>>;
  readonly testGroups: readonly G[];
}

/** aead_test_schema: AES-GCM, ChaCha20-Poly1305, XChaCha20-Poly1305, AEGIS. All byte fields are hex. */
export interface AeadTest extends WycheproofTest {
  readonly key: string;
  readonly iv: string;
  readonly aad: string;
  readonly msg: string;
  readonly ct: string;
  readonly tag: string;
}
export interface AeadGroup extends WycheproofGroup<AeadTest> {
  /** Sizes in bits. */
  readonly keySize: number;
  readonly ivSize: number;
  readonly tagSize: number;
}
export type AeadFile = WycheproofFile<AeadGroup>;

/** hkdf_test_schema. `size` is the output length in bytes. */
export interface HkdfTest extends WycheproofTest {
  readonly ikm: string;
  readonly salt: string;
  readonly info: string;
  readonly size: number;
  readonly okm: string;
}
export interface HkdfGroup extends WycheproofGroup<HkdfTest> {
  readonly keySize: number;
}
export type HkdfFile = WycheproofFile<HkdfGroup>;

/** mac_test_schema. `tag` may be a truncation (group `tagSize` bits). */
export interface MacTest extends WycheproofTest {
  readonly key: string;
  readonly msg: string;
  readonly tag: string;
}
export interface MacGroup extends WycheproofGroup<MacTest> {
  readonly keySize: number;
  readonly tagSize: number;
}
export type MacFile = WycheproofFile<MacGroup>;

/** eddsa_verify_schema. */
export interface EddsaTest extends WycheproofTest {
  readonly msg: string;
  readonly sig: string;
}
export interface EddsaGroup extends WycheproofGroup<EddsaTest> {
  readonly publicKey: { readonly curve: string; readonly keySize: number; readonly pk: string };
}
export type EddsaFile = WycheproofFile<EddsaGroup>;

/** mldsa_verify_schema. `ctx` is the FIPS 204 context string, when the case has one. */
export interface MlDsaTest extends WycheproofTest {
  readonly msg: string;
  readonly sig: string;
  readonly ctx?: string;
}
export interface MlDsaGroup extends WycheproofGroup<MlDsaTest> {
  readonly publicKey: string;
}
export type MlDsaFile = WycheproofFile<MlDsaGroup>;

const cache = new Map<string, unknown>();

/**
 * Reads and parses `<vectors dir>/wycheproof/<name>`. Throws when the directory or file is missing,
 * the JSON is malformed, or the file is not a non-empty Wycheproof file whose `numberOfTests` matches
 * the cases it holds. The type parameter is trusted (beyond those structural checks) — use the
 * `*File` types above.
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the file's schema type
export function loadWycheproof<T extends WycheproofFile<WycheproofGroup<WycheproofTest>>>(name: string): T {
  const cached = cache.get(name);
  if (cached !== undefined) return cached as T;
  const dir = vectorsDir();
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(
      `test vectors directory not found: ${dir} (set FORTRESS_VECTORS_DIR, or provide ../shared/vectors next to the repo)`,
    );
  }
  const file = path.join(dir, 'wycheproof', name);
  if (!existsSync(file)) throw new Error(`Wycheproof vector file not found: ${file}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new Error(`Wycheproof vector file ${file} is not valid JSON`, { cause });
  }
  const data = parsed as Partial<WycheproofFile<WycheproofGroup<WycheproofTest>>> | null;
  if (
    data === null ||
    typeof data !== 'object' ||
    !Array.isArray(data.testGroups) ||
    data.testGroups.length === 0
  ) {
    throw new Error(`${file}: expected a Wycheproof file with a non-empty testGroups array`);
  }
  const groups: readonly unknown[] = data.testGroups;
  let total = 0;
  for (const [i, group] of groups.entries()) {
    const tests =
      typeof group === 'object' && group !== null ? (group as { tests?: unknown }).tests : undefined;
    if (!Array.isArray(tests)) throw new Error(`${file}: testGroups[${i}].tests is not an array`);
    total += tests.length;
  }
  if (total === 0) throw new Error(`${file}: holds no test cases`);
  if (data.numberOfTests !== total) {
    throw new Error(
      `${file}: numberOfTests is ${String(data.numberOfTests)} but the groups hold ${total} cases`,
    );
  }
  cache.set(name, data);
  return data as T;
}

/** Every test case of a file, paired with its group. */
export function casesOf<G extends WycheproofGroup<WycheproofTest>>(
  file: WycheproofFile<G>,
): { group: G; test: G['tests'][number] }[] {
  return file.testGroups.flatMap((group) => group.tests.map((test) => ({ group, test })));
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** Strict hex decoding (even length, hex digits only) into a plain Uint8Array; throws otherwise. */
export function hex(s: string): Uint8Array {
  if (!HEX_RE.test(s)) throw new Error(`not an even-length hex string: ${s.slice(0, 40)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Lower-case hex of `bytes` (for comparisons whose failure message should be readable). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
