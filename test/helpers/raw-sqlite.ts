/**
 * A raw better-sqlite3 connection for tests that look at or tamper with a database file from the
 * outside. better-sqlite3 ships no types here, so this declares the slice tests use.
 */
import { createRequire } from 'node:module';

export interface RawStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  raw(toggle?: boolean): RawStatement;
}

export interface RawDatabase {
  prepare(sql: string): RawStatement;
  exec(sql: string): void;
  close(): void;
}

type RawConstructor = new (
  file: string,
  options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number },
) => RawDatabase;

const Database = createRequire(import.meta.url)('better-sqlite3') as RawConstructor;

/**
 * Opens `file` with a plain better-sqlite3 connection (no Fortress in between). `timeout` is the
 * busy timeout in ms, for connections opened beside a running Fortress.
 */
export function openRaw(file: string, options: { readonly?: boolean; timeout?: number } = {}): RawDatabase {
  return new Database(file, { fileMustExist: true, ...options });
}
