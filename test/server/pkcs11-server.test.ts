/**
 * A server sealed by an HSM (SoftHSM2 through PKCS#11, as CI installs it): `init` with
 * `seal: "pkcs11"` gives no shares; every later start unseals itself with the configured PIN, so
 * data is served without an operator; a start without the HSM settings, or with a wrong PIN, fails
 * with a clear code and serves nothing.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FortressClient } from '../../src/client/index.js';
import type { RunningServer } from '../../src/server/server.js';
import { startTestServer } from '../helpers/backend.js';
import type { ServerSealOptions } from '../../src/server/server-context.js';
import { expectCode } from '../helpers/expect-code.js';
import { setUpSoftHsm, type SoftHsm } from '../helpers/softhsm.js';

const TOKEN = { label: 'fortress-server', pin: 'server-user-pin-6021', soPin: 'server-so-pin-3318' };

let hsm: SoftHsm;
let dataDir = '';
let seal: ServerSealOptions;

function start(options: { seal?: ServerSealOptions } = {}): Promise<RunningServer> {
  return startTestServer(dataDir, options.seal === undefined ? {} : { seal: options.seal });
}

beforeAll(() => {
  hsm = setUpSoftHsm('fx-server-hsm-');
  hsm.initToken(TOKEN);
  dataDir = join(hsm.dir, 'data');
  seal = { kind: 'pkcs11', pkcs11: { module: hsm.module, token: TOKEN.label, pin: TOKEN.pin } };
});

afterAll(() => {
  hsm.cleanup();
});

describe('a server sealed by an HSM (PKCS#11)', () => {
  let rootToken = '';

  it('init with seal "pkcs11" (the configured default) gives a root token and no shares', async () => {
    const server = await start({ seal });
    try {
      const client = new FortressClient({ address: server.url, retries: 0 });
      const init = await client.sys.init();
      expect(init).toMatchObject({ seal: 'pkcs11', shares: [], threshold: null });
      rootToken = init.rootToken;
      client.token = rootToken;
      await client.db.createTable('notes', {
        columns: { id: { type: 'integer', primaryKey: true }, body: { type: 'text', encrypt: {} } },
      });
      await client.db.insert('notes', { id: 1, body: 'behind the HSM' });
    } finally {
      await server.close();
    }
  }, 60_000);

  it('every later start unseals itself with the configured PIN; data is served at once', async () => {
    const server = await start({ seal });
    try {
      const client = new FortressClient({ address: server.url, token: rootToken, retries: 0 });
      expect(await client.sys.health()).toMatchObject({ initialized: true, sealed: false, seal: 'pkcs11' });
      expect(await client.db.get('notes', 1)).toMatchObject({ body: 'behind the HSM' });
      // An unseal request has nothing to do for an HSM seal: it names the way.
      await client.sys.seal();
      const refused = await client.sys.unseal('anything').catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'FX_SEAL_PROVIDER' });
      expect((refused as Error).message).toContain('restart the server');
    } finally {
      await server.close();
    }
  }, 60_000);

  it('a start without the HSM settings, or with a wrong PIN, fails with a clear code', async () => {
    await expectCode(() => start(), 'FX_CONFIG_INVALID');
    const wrongPin: ServerSealOptions = { ...seal, pkcs11: { ...seal.pkcs11!, pin: 'not-the-pin-0000' } };
    const failure = await start({ seal: wrongPin }).catch((error: unknown) => error);
    expect((failure as { code?: unknown }).code).toMatch(/^FX_/);
    expect((failure as Error).message).not.toContain('not-the-pin-0000');
  }, 60_000);
});
