/**
 * @module secrets/database/database-errors
 * The error class of the database secrets engine. Its stable `FX_DB_…` codes, with what each
 * means, are listed with every other code in util/errors.ts (their HTTP statuses in
 * server/http/http-errors.ts). Messages name connections, roles, leases and users, and quote the
 * target's own error text with every password redacted — never a password (admin, dynamic or
 * static) or a password hash.
 */
import { FortressError, type ErrorCode } from '../../util/errors.js';

export type DatabaseErrorCode = Extract<ErrorCode, `FX_DB_${string}`>;

/** A database secrets engine error, with one of the `FX_DB_…` codes. */
export class DatabaseSecretsError extends FortressError {
  /** The target's SQLSTATE when the target raised it (e.g. `28P01`: wrong password). */
  readonly sqlState: string | undefined;

  constructor(code: DatabaseErrorCode, message: string, sqlState?: string) {
    super(code, message);
    this.sqlState = sqlState;
  }
}
