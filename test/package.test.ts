/**
 * Tests what ships: the built package, imported by its own name through the exports map
 * (dist/, built by `npm test`'s pretest step), exposes the documented API and nothing internal.
 */
import { describe, expect, it } from 'vitest';

describe('package exports', () => {
  it('the root entry exposes the crypto API and the error classes', async () => {
    const root = (await import('fortress')) as Record<string, unknown>;
    for (const name of [
      'encrypt',
      'decrypt',
      'encryptMany',
      'decryptMany',
      'DataKey',
      'EncryptionContext',
      'SecretKey',
      'BlindIndex',
      'planBlindIndexBits',
      'splitSecret',
      'combineShares',
      'createSigner',
      'createVerifier',
      'deriveKeyFromPassphrase',
      'hkdfSha256',
      'FortressError',
      'ERROR_CODES',
      'KeyManager',
      'ShamirSealProvider',
      'PassphraseSealProvider',
      'FileKeyStore',
      'MemoryKeyStore',
      'sealBackup',
      'openBackup',
      'generateRecipientKeys',
    ]) {
      expect(root[name], name).toBeDefined();
    }
  });

  it('fortress/crypto is the same API, and internals are not exported', async () => {
    const crypto = (await import('fortress/crypto')) as Record<string, unknown>;
    const root = (await import('fortress')) as Record<string, unknown>;
    expect(crypto['encrypt']).toBe(root['encrypt']);
    for (const internal of ['keyMaterial', 'dataKeyMaterial', 'argon2idRaw', 'scryptRaw', 'nonces']) {
      expect(crypto[internal], internal).toBeUndefined();
      expect(root[internal], internal).toBeUndefined();
    }
  });

  it('fortress/keys/pkcs11 exposes the HSM provider on its own subpath', async () => {
    const pkcs11 = (await import('fortress/keys/pkcs11')) as Record<string, unknown>;
    expect(pkcs11['Pkcs11SealProvider']).toBeDefined();
    const root = (await import('fortress')) as Record<string, unknown>;
    expect(root['Pkcs11SealProvider']).toBeUndefined();
  });

  it('fortress/policy exposes the policy toolkit and the root exposes sessions', async () => {
    const policy = (await import('fortress/policy')) as Record<string, unknown>;
    for (const name of [
      'Authorizer',
      'checkPolicies',
      'LabelScheme',
      'maskValue',
      'renderTemplate',
      'lintPolicies',
      'parsePolicyTestFile',
      'runPolicyTests',
      'FORTRESS_CEDAR_SCHEMA',
    ]) {
      expect(policy[name], name).toBeDefined();
    }
    const root = (await import('fortress')) as Record<string, unknown>;
    expect(root['PolicySession']).toBeDefined();
    expect(root['AccessControl']).toBeDefined();
  });

  it('fortress/audit exposes the verification toolkit: proofs, notes, checkpoints, entries, verify', async () => {
    const audit = (await import('fortress/audit')) as Record<string, unknown>;
    for (const name of [
      'verifyLedger',
      'verifySegments',
      'verifyInclusion',
      'verifyConsistency',
      'hashLeaf',
      'openTlogProof',
      'openCheckpoint',
      'openNote',
      'noteVerifierFromKey',
      'decodeAuditEntry',
      'canonicalJson',
      'tilesOf',
    ]) {
      expect(audit[name], name).toBeDefined();
    }
    // The ledger and its wiring stay internal (reached through db.audit).
    expect(audit['AuditLedger']).toBeUndefined();
  });

  it('a round trip through the built package works', async () => {
    const { DataKey, EncryptionContext, encrypt, decrypt } = await import('fortress');
    using key = DataKey.generate({ id: 1, version: 1 });
    const context = EncryptionContext.of({ table: 't', column: 'c', row: '1' });
    const envelope = encrypt(key, new TextEncoder().encode('hello'), context);
    expect(new TextDecoder().decode(decrypt(key, envelope, context))).toBe('hello');
  });
});
