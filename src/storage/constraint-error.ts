/**
 * @module storage/constraint-error
 * The error every backend raises when a write breaks a constraint: code `FX_STORAGE_CONSTRAINT`,
 * plus which kind of constraint it was, taken from the backend's own error code (SQLite's extended
 * result code, PostgreSQL's SQLSTATE). Code above tells a duplicate key from a missing value by
 * `constraint`, never by the wording of a backend's message.
 */
import { FortressError } from '../util/errors.js';

/** Which kind of constraint a write broke. */
export type ConstraintKind = 'unique' | 'not-null' | 'foreign-key' | 'check' | 'other';

/** A write broke a constraint; nothing was written. */
export class StorageConstraintError extends FortressError {
  /** `unique` covers primary keys too. */
  readonly constraint: ConstraintKind;

  constructor(constraint: ConstraintKind, message: string, options?: ErrorOptions) {
    super('FX_STORAGE_CONSTRAINT', message, options);
    this.constraint = constraint;
  }
}

/** True when `error` is a broken unique or primary-key constraint (a duplicate key). */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof StorageConstraintError && error.constraint === 'unique';
}
