import { Writable } from 'node:stream';
import type { DataSource } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { createDataSource, runMigrationCli } from '@cairn/persistence';
import { createLogger } from '@cairn/telemetry';
import { createTestDatabase, type TestDatabase } from '@cairn/testing';
import { ADMIN_CREDENTIALS_MESSAGE, AuthService, GatewayAuthenticator } from '../src/auth';
import { printAdminCredentials } from '../src/auth/admin-bootstrap';
import { ApiKeyCache } from '../src/auth/api-key-cache';
import { ApiKeyUsageRecorder } from '../src/auth/api-key-usage.recorder';
import { type AuthConfig } from '../src/auth/auth.settings';
import { OidcVerifier } from '../src/auth/oidc-verifier';
import { PasswordVerifier } from '../src/auth/password-verifier';
import { ADMIN_PASSWORD, authBlueprint, basic, bearer, bootGateway } from './auth-harness';

/*
 * The first admin: created once when none exists, by exactly one of several replicas starting
 * together, printed once, and usable at once.
 */

jest.setTimeout(60_000);

const SCHEMA = 'gateway';
const settings = { databaseSchema: SCHEMA } as ServiceSettings;
const config: AuthConfig = {
  oidc: undefined,
  defaultPermission: 'READ',
  adminPassword: undefined,
  apiKeyUsageFlushMs: 60_000,
  apiKeyCacheMs: 2_000,
};

/** A gateway replica's view of the database, without the rest of the service. */
interface Replica {
  ds: DataSource;
  auth: AuthService;
  authn: GatewayAuthenticator;
}

describe('admin bootstrap (Postgres)', () => {
  let db: TestDatabase;
  const replicas: Replica[] = [];
  const quiet = createLogger('gateway', 'silent');

  const migration = (command: string) =>
    runMigrationCli(
      { url: db.url, schema: SCHEMA, service: 'gateway', migrations: authBlueprint.migrations },
      command,
      () => undefined,
    );

  async function replica(): Promise<Replica> {
    const ds = createDataSource({
      url: db.url,
      schema: SCHEMA,
      service: 'gateway',
      migrations: [],
      poolMax: 2,
    });
    await ds.initialize();
    const recorder = new ApiKeyUsageRecorder(ds, settings, config, quiet);
    const keys = new ApiKeyCache(config);
    const authn = new GatewayAuthenticator(
      ds,
      settings,
      new OidcVerifier(config),
      new PasswordVerifier(),
      recorder,
      keys,
    );
    const r = { ds, auth: new AuthService(ds, settings, keys), authn };
    replicas.push(r);
    return r;
  }

  const admins = async (ds: DataSource) =>
    (
      await ds.query<Array<{ principal_id: string }>>(
        `SELECT principal_id FROM gateway.principals WHERE 'admin' = ANY (roles) ORDER BY 1`,
      )
    ).map((r) => r.principal_id);

  beforeEach(async () => {
    db = await createTestDatabase('gateway_bootstrap');
    await migration('up');
  });

  afterEach(async () => {
    for (const r of replicas.splice(0)) await r.ds.destroy();
    await db?.drop();
  });

  it('creates exactly one admin when four replicas start at once, with working credentials', async () => {
    const four = await Promise.all([replica(), replica(), replica(), replica()]);
    const results = await Promise.all(four.map((r) => r.auth.ensureAdmin(undefined)));
    const created = results.filter((r) => r !== undefined);
    expect(created).toHaveLength(1);
    const admin = created[0];
    expect(admin.principal).toBe('user:admin');
    expect(admin.generatedPassword).toMatch(/^[A-Za-z0-9_-]{32}$/);

    const ds = four[0].ds;
    expect(await admins(ds)).toEqual(['user:admin']);
    const keys = await ds.query<Array<{ key_id: string; name: string }>>(
      `SELECT key_id, name FROM gateway.api_keys`,
    );
    expect(keys).toEqual([{ key_id: admin.apiKeyId, name: 'bootstrap' }]);
    // Both stored hashed: neither secret appears in the database.
    const dump = JSON.stringify(
      await ds.query(`SELECT p.*, k.* FROM gateway.principals p, gateway.api_keys k`),
    );
    expect(dump).not.toContain(admin.generatedPassword);
    expect(dump).not.toContain(admin.apiKey.slice(-43));

    await expect(four[1].authn.authenticate(basic('admin', admin.generatedPassword!))).resolves.toEqual({
      principal: 'user:admin',
      roles: ['admin'],
      via: 'basic',
    });
    await expect(four[2].authn.authenticate(bearer(admin.apiKey))).resolves.toMatchObject({
      principal: 'user:admin',
      via: 'api-key',
    });
    // Later starts find the admin and create nothing.
    await expect(four[3].auth.ensureAdmin(undefined)).resolves.toBeUndefined();
    expect(await ds.query(`SELECT count(*)::int AS n FROM gateway.api_keys`)).toEqual([{ n: 1 }]);
  });

  it('uses CAIRN_ADMIN_PASSWORD when given (and does not print it back)', async () => {
    const r = await replica();
    const admin = await r.auth.ensureAdmin('operator-chosen-pw');
    expect(admin).toBeDefined();
    expect(admin!.generatedPassword).toBeUndefined();
    await expect(r.authn.authenticate(basic('admin', 'operator-chosen-pw'))).resolves.toMatchObject({
      principal: 'user:admin',
    });
  });

  it('does nothing while any admin exists, whatever its name', async () => {
    const r = await replica();
    await r.auth.createUser({ id: 'user:root', displayName: '', roles: ['admin'], password: '' });
    await expect(r.auth.ensureAdmin(undefined)).resolves.toBeUndefined();
    expect(await admins(r.ds)).toEqual(['user:root']);
  });

  it('restores user:admin when the database was edited to leave no admin', async () => {
    const r = await replica();
    await r.auth.ensureAdmin('first-password');
    await r.ds.query(`UPDATE gateway.principals SET roles = '{viewer}', disabled = true`);
    const again = await r.auth.ensureAdmin('second-password');
    expect(again).toBeDefined();
    await expect(r.authn.authenticate(basic('admin', 'second-password'))).resolves.toMatchObject({
      roles: ['admin'],
    });
  });

  it('prints the credentials once, on a dedicated line that LOG_LEVEL cannot hide', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger('gateway', 'error', sink);
    logger.warn('an ordinary warning, below the level');
    printAdminCredentials(logger, {
      principal: 'user:admin',
      generatedPassword: 'generated-pw-123',
      apiKey: 'cairn_0123456789abcdef_' + 'x'.repeat(43),
      apiKeyId: '0123456789abcdef',
    });
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]) as Record<string, string>;
    expect(line).toMatchObject({
      msg: ADMIN_CREDENTIALS_MESSAGE,
      adminUsername: 'admin',
      adminInitialPassword: 'generated-pw-123',
      adminApiKey: 'cairn_0123456789abcdef_' + 'x'.repeat(43),
    });
    expect(lines[0]).not.toContain('[redacted]');
  });

  it('runs at service start: the admin can log in at once, and a restart creates nothing more', async () => {
    let svc = await bootGateway(db);
    try {
      await expect(
        svc.app.get(GatewayAuthenticator).authenticate(basic('admin', ADMIN_PASSWORD)),
      ).resolves.toMatchObject({ principal: 'user:admin', roles: ['admin'] });
    } finally {
      await svc.stop();
    }
    svc = await bootGateway(db, { CAIRN_ADMIN_PASSWORD: 'ignored-once-an-admin-exists' });
    try {
      const r = await replica();
      expect(await r.ds.query(`SELECT count(*)::int AS n FROM gateway.api_keys`)).toEqual([{ n: 1 }]);
      await expect(
        svc.app.get(GatewayAuthenticator).authenticate(basic('admin', ADMIN_PASSWORD)),
      ).resolves.toMatchObject({ principal: 'user:admin' });
    } finally {
      await svc.stop();
    }
  });

  it('has a migration that goes down and up again', async () => {
    const lines: string[] = [];
    const opts = { url: db.url, schema: SCHEMA, service: 'gateway', migrations: authBlueprint.migrations };
    await runMigrationCli(opts, 'down', () => undefined);
    const r = await replica();
    expect(await r.ds.query(`SELECT to_regclass('gateway.principals') IS NULL AS gone`)).toEqual([
      { gone: true },
    ]);
    await runMigrationCli(opts, 'up', (l) => lines.push(l));
    expect(lines).toEqual(['applied: AuthTables1764400000000']);
    await expect(r.auth.ensureAdmin(undefined)).resolves.toBeDefined();
  });
});
