/**
 * @module server/auth/userpass
 * Passwords of users who log in with a user name and password. Only an Argon2id PHC string is
 * stored (RFC 9106 parameters, `crypto/kdf/passphrase`). A login for an unknown user still runs
 * one Argon2id verification against a dummy hash, so timing does not tell which names exist.
 *
 * Table: fx_userpass(tenant, name, hash) — primary key (tenant, name).
 */
import { hashPassphrase, verifyPassphrase } from '../../crypto/kdf/passphrase.js';
import type { SqlSpelling, StorageDriver } from '../../storage/dialect.js';
import { FortressError, InvalidArgumentError } from '../../util/errors.js';

function schemaSql(s: SqlSpelling): string {
  return `CREATE TABLE IF NOT EXISTS fx_userpass (
  tenant ${s.text} NOT NULL,
  name ${s.text} NOT NULL,
  hash ${s.text} NOT NULL,
  PRIMARY KEY (tenant, name)
)`;
}

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * @example
 * ```ts
 * const passwords = await UserpassStore.open(driver);
 * await passwords.setPassword('default', 'ann', 'correct horse battery staple');
 * await passwords.check('default', 'ann', 'correct horse battery staple'); // resolves, or FX_LOGIN_FAILED
 * ```
 */
export class UserpassStore {
  readonly #driver: StorageDriver;
  #dummy: Promise<string> | null = null;

  private constructor(driver: StorageDriver) {
    this.#driver = driver;
  }

  static async open(driver: StorageDriver): Promise<UserpassStore> {
    await driver.exec(schemaSql(driver.spelling));
    return new UserpassStore(driver);
  }

  /** Sets (or replaces) a user's password. The caller checks the user exists and may be changed. */
  async setPassword(tenant: string, name: string, password: unknown): Promise<void> {
    if (typeof password !== 'string') throw new InvalidArgumentError('password', 'expected a string');
    if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
      throw new InvalidArgumentError(
        'password',
        `must be ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters long`,
      );
    }
    const hash = await hashPassphrase(password);
    await this.#driver.run(
      'INSERT INTO fx_userpass (tenant, name, hash) VALUES (?, ?, ?) ON CONFLICT (tenant, name) DO UPDATE SET hash = excluded.hash',
      [tenant, name, hash],
    );
  }

  async removePassword(tenant: string, name: string): Promise<boolean> {
    const { changes } = await this.#driver.run('DELETE FROM fx_userpass WHERE tenant = ? AND name = ?', [
      tenant,
      name,
    ]);
    return changes > 0;
  }

  async hasPassword(tenant: string, name: string): Promise<boolean> {
    const row = await this.#driver.get('SELECT 1 AS one FROM fx_userpass WHERE tenant = ? AND name = ?', [
      tenant,
      name,
    ]);
    return row !== undefined;
  }

  /** Resolves when the password is right; FX_LOGIN_FAILED otherwise (the same for an unknown user). */
  async check(tenant: string, name: string, password: unknown): Promise<void> {
    const failed = (): FortressError => new FortressError('FX_LOGIN_FAILED', 'wrong user name or password');
    if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
      throw failed();
    }
    const row = await this.#driver.get<{ hash: string }>(
      'SELECT hash FROM fx_userpass WHERE tenant = ? AND name = ?',
      [tenant, name],
    );
    const hash = row?.hash ?? (await this.#dummyHash());
    const ok = await verifyPassphrase(hash, password);
    if (!ok || row === undefined) throw failed();
  }

  #dummyHash(): Promise<string> {
    this.#dummy ??= hashPassphrase('fortress-no-such-user-dummy-password');
    return this.#dummy;
  }
}
