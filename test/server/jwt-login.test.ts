import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';

let dir: string;
let server: RunningServer;
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let privateKey: SigningKey;
let otherKey: SigningKey;

const ISSUER = 'https://idp.example';
const AUDIENCE = 'fortress';

async function post(route: string, body: unknown, token?: string) {
  const response = await fetch(server.url + route, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function jwt(
  claims: Record<string, unknown>,
  options: { key?: SigningKey; issuer?: string; expires?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expires ?? '10m')
    .sign(options.key ?? privateKey);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fx-jwt-'));
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  privateKey = pair.privateKey;
  otherKey = (await generateKeyPair('EdDSA')).privateKey;
  const jwksFile = path.join(dir, 'idp.jwks.json');
  await writeFile(
    jwksFile,
    JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA' }] }),
  );
  server = await startServer({
    dataDir: path.join(dir, 'data'),
    host: '127.0.0.1',
    port: 0,
    tls: null,
    insecureDev: true,
    logLevel: 'silent',
    jwt: {
      jwksFile,
      issuer: ISSUER,
      audience: AUDIENCE,
      principalClaim: 'preferred_username',
      tenantClaim: 'tenant',
    },
  });
  expect((await post('/v1/sys/init', { shares: 1, threshold: 1 })).status).toBe(200);
  await server.context.unsealed().access.addUser('ann');
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('JWT login', () => {
  it('a valid JWT for an existing principal gets a token that never outlives it', async () => {
    const r = await post('/v1/auth/jwt/login', {
      jwt: await jwt({ preferred_username: 'ann', tenant: 'default' }, { expires: '5m' }),
    });
    expect(r.status).toBe(200);
    const info = r.body['info'] as { principal: unknown; method: string; maxExpiresAt: string };
    expect(info.principal).toEqual({ kind: 'user', name: 'ann', tenant: 'default' });
    expect(info.method).toBe('jwt');
    expect(Date.parse(info.maxExpiresAt)).toBeLessThanOrEqual(Date.now() + 5 * 60_000 + 1000);
    const self = await fetch(`${server.url}/v1/auth/token/lookup-self`, {
      headers: { authorization: `Bearer ${r.body['token'] as string}` },
    });
    expect(self.status).toBe(200);
  });

  it('refuses every flawed JWT alike: wrong key, issuer, expired, unknown principal, bad claims, alg none', async () => {
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ preferred_username: 'ann', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url')}.`;
    for (const token of [
      await jwt({ preferred_username: 'ann', tenant: 'default' }, { key: otherKey }),
      await jwt({ preferred_username: 'ann', tenant: 'default' }, { issuer: 'https://evil.example' }),
      await jwt({ preferred_username: 'ann', tenant: 'default' }, { expires: '-1m' }),
      await jwt({ preferred_username: 'ghost', tenant: 'default' }),
      await jwt({ preferred_username: 'ann', tenant: 'other' }),
      await jwt({ preferred_username: 'a b', tenant: 'default' }),
      await jwt({ tenant: 'default' }),
      none,
      'not.a.jwt',
    ]) {
      const r = await post('/v1/auth/jwt/login', { jwt: token });
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({
        error: { code: 'FX_LOGIN_FAILED', message: 'the JWT was not accepted' },
      });
    }
  });
});
