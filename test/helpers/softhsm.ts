/**
 * A SoftHSM2 token store of the test's own: a temp directory with its configuration, set in
 * SOFTHSM2_CONF before any C_Initialize in this process. SoftHSM2 must be installed (CI installs
 * it); the tests that use it fail rather than skip without it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODULE_CANDIDATES = [
  process.env['FORTRESS_TEST_SOFTHSM_MODULE'],
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

export interface SoftHsmToken {
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
}

export interface SoftHsm {
  /** The PKCS#11 library. */
  readonly module: string;
  /** The temp directory holding the configuration and the tokens. */
  readonly dir: string;
  /** Initialises a token in the first free slot. */
  initToken(token: SoftHsmToken): void;
  /** Restores SOFTHSM2_CONF and removes the directory. */
  cleanup(): void;
}

/** Sets up a private SoftHSM2 store; throws with the install command when SoftHSM2 is missing. */
export function setUpSoftHsm(prefix: string): SoftHsm {
  const module = MODULE_CANDIDATES.find((path) => path !== undefined && existsSync(path));
  let utilWorks = true;
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'pipe' });
  } catch {
    utilWorks = false;
  }
  if (module === undefined || !utilWorks) {
    throw new Error(
      'SoftHSM2 is not installed (no libsofthsm2.so or softhsm2-util found). Install it with ' +
        '`apt-get update && apt-get install -y softhsm2`, or set FORTRESS_TEST_SOFTHSM_MODULE. ' +
        'These tests do not skip: CI installs SoftHSM2.',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  // Before any C_Initialize in this process: SoftHSM2 reads the variable when it initialises.
  const previousConf = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = conf;
  return {
    module,
    dir,
    initToken(token) {
      execFileSync(
        'softhsm2-util',
        ['--init-token', '--free', '--label', token.label, '--so-pin', token.soPin, '--pin', token.pin],
        { stdio: 'pipe', env: process.env },
      );
    },
    cleanup() {
      if (previousConf === undefined) delete process.env['SOFTHSM2_CONF'];
      else process.env['SOFTHSM2_CONF'] = previousConf;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
