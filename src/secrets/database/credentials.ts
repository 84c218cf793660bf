/**
 * @module secrets/database/credentials
 * What the database secrets engine generates: user names, passwords, lease ids and claim tokens,
 * all drawn uniformly from a fixed alphabet with rejection sampling over libsodium's CSPRNG — and
 * the SCRAM-SHA-256 verifier PostgreSQL stores for a password, so the password itself need never
 * travel in SQL text (where the server's statement log would keep it).
 *
 * Alphabets avoid quotes, backslashes and anything else a SQL literal, an identifier in double
 * quotes or a connection URL would have to escape.
 */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { randomBytes } from '../../crypto/random.js';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
/** Passwords: 64 symbols, 6 bits each (32 characters: 192 bits). */
const PASSWORD_ALPHABET = `${LOWER}${UPPER}${DIGITS}-_`;
/** User names: what PostgreSQL keeps unquoted-lowercase-safe, and `-`. */
const USERNAME_ALPHABET = `${LOWER}${DIGITS}`;
const TOKEN_ALPHABET = `${LOWER}${UPPER}${DIGITS}`;

/** Shortest and longest password the engine generates. */
export const MIN_PASSWORD_LENGTH = 16;
export const MAX_PASSWORD_LENGTH = 128;
/** PostgreSQL keeps identifiers of at most 63 bytes (NAMEDATALEN − 1) and silently cuts longer ones. */
export const MAX_USERNAME_BYTES = 63;
/** Random characters in a generated user name (36^20: 103 bits). */
const USERNAME_RANDOM = 20;
/** Characters of the role name kept in a generated user name. */
const USERNAME_ROLE_PART = 16;
/** PostgreSQL's default SCRAM iteration count (`scram_iterations`). */
const SCRAM_ITERATIONS = 4096;

/** `length` characters drawn uniformly from `alphabet` (at most 256 symbols). */
export function randomString(alphabet: string, length: number): string {
  const n = alphabet.length;
  // Bytes at or above `limit` would make the first symbols likelier: draw again instead.
  const limit = 256 - (256 % n);
  let out = '';
  while (out.length < length) {
    const bytes = randomBytes(Math.max(16, (length - out.length) * 2));
    for (const byte of bytes) {
      if (byte >= limit) continue;
      out += alphabet[byte % n]!;
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * A fresh password of `length` characters from letters, digits, `-` and `_`, with at least one
 * lower-case letter, one upper-case letter and one digit (password-policy extensions ask for
 * that; redrawing keeps the choice uniform among such passwords).
 */
export function generatePassword(length: number): string {
  for (;;) {
    const password = randomString(PASSWORD_ALPHABET, length);
    if (/[a-z]/.test(password) && /[A-Z]/.test(password) && /[0-9]/.test(password)) return password;
  }
}

/**
 * A fresh user name for role `role`: `v-<role>-<20 random>`, of `[a-z0-9-]` only (the role name
 * lower-cased, other characters as `-`, cut to 16), at most 39 bytes — under PostgreSQL's 63.
 */
export function generateUsername(role: string): string {
  const part = role
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, USERNAME_ROLE_PART);
  return `v-${part}-${randomString(USERNAME_ALPHABET, USERNAME_RANDOM)}`;
}

/** A random token of letters and digits (lease ids, claim tokens). */
export function randomToken(length = 24): string {
  return randomString(TOKEN_ALPHABET, length);
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802 / RFC 7677, PostgreSQL's
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` text): `ALTER ROLE … PASSWORD
 * '<verifier>'` sets the password without the password itself reaching the server. Its callers
 * (root rotation, dynamic credentials, static rotation) pass only passwords from
 * `generatePassword` — letters, digits, `-` and `_` — which SASLprep (RFC 4013) leaves as they
 * are, so the verifier is exact without a SASLprep implementation.
 */
export function scramSha256Verifier(password: string, salt: Uint8Array = randomBytes(16)): string {
  if (!/^[\x21-\x7e]+$/.test(password)) {
    // A guard on the invariant above: any other password would need SASLprep first.
    throw new RangeError('password: SCRAM verifiers are only computed for generated (ASCII) passwords');
  }
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  salted.fill(0);
  clientKey.fill(0);
  const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}
