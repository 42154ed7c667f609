import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import type { RunningService } from '@cairn/service-runtime';
import { createTestDatabase, type TestDatabase, waitFor } from '@cairn/testing';
import { AuthService, GatewayAuthenticator } from '../src/auth';
import { ApiKeyUsageRecorder } from '../src/auth/api-key-usage.recorder';
import { OidcVerifier } from '../src/auth/oidc-verifier';
import { ADMIN_PASSWORD, basic, bearer, bootGateway, headers, refusal, TestIssuer } from './auth-harness';

/*
 * The gateway's authenticator on a real Postgres: API keys, HTTP Basic and OIDC bearer tokens
 * (from a local issuer whose JWKS is served on 127.0.0.1), with the reasons a client sees.
 */

jest.setTimeout(60_000);

describe('gateway authentication (Postgres, local OIDC issuer)', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let authn: GatewayAuthenticator;
  let auth: AuthService;
  let sql: DataSource;
  const idp = new TestIssuer();

  beforeAll(async () => {
    db = await createTestDatabase('gateway_authn');
    await idp.start();
    svc = await bootGateway(db, idp.env());
    authn = svc.app.get(GatewayAuthenticator);
    auth = svc.app.get(AuthService);
    sql = svc.app.get(DataSource);
    await auth.createUser({ id: 'service:ci', displayName: 'CI', roles: ['contributor'], password: '' });
    await auth.createUser({
      id: 'user:alice',
      displayName: 'Alice',
      roles: ['contributor', 'approver'],
      password: 'alice-password',
    });
  });

  afterAll(async () => {
    await svc?.stop();
    await idp.stop();
    await db?.drop();
  });

  const disable = (principal: string, disabled: boolean) =>
    sql.query(`UPDATE gateway.principals SET disabled = $2 WHERE principal_id = $1`, [principal, disabled]);

  describe('without credentials', () => {
    it('establishes no identity (the handler decides whether it needs one)', async () => {
      await expect(authn.authenticate(headers({}))).resolves.toBeUndefined();
      await expect(authn.authenticate(headers({ authorization: '   ' }))).resolves.toBeUndefined();
    });

    it('refuses schemes it does not know, and empty or unrecognizable bearer tokens', async () => {
      expect(await refusal(authn.authenticate(headers({ authorization: 'Digest username="x"' })))).toEqual({
        kind: 'unauthenticated',
        reason: 'AUTH_SCHEME_UNSUPPORTED',
      });
      expect((await refusal(authn.authenticate(headers({ authorization: 'Bearer' })))).reason).toBe(
        'CREDENTIALS_INVALID',
      );
      expect((await refusal(authn.authenticate(bearer('not-a-token')))).reason).toBe('CREDENTIALS_INVALID');
      expect((await refusal(authn.authenticate(bearer('x'.repeat(20_000))))).reason).toBe(
        'CREDENTIALS_INVALID',
      );
    });
  });

  describe('API keys', () => {
    it('authenticate as their principal with its stored roles, whatever the scheme case', async () => {
      const { key, token } = await auth.createApiKey({
        principal: 'service:ci',
        name: 'nightly',
        expiresAt: undefined,
      });
      expect(key).toMatchObject({
        principal: 'service:ci',
        name: 'nightly',
        revokedAt: null,
        lastUsedAt: null,
      });
      const expected = { principal: 'service:ci', roles: ['contributor'], via: 'api-key' };
      await expect(authn.authenticate(bearer(token))).resolves.toEqual(expected);
      await expect(authn.authenticate(headers({ authorization: `bearer   ${token}` }))).resolves.toEqual(
        expected,
      );
    });

    it('store only a hash: the database never holds the secret', async () => {
      const { key, token } = await auth.createApiKey({
        principal: 'service:ci',
        name: 'hash',
        expiresAt: undefined,
      });
      const secret = token.split('_').slice(2).join('_');
      const rows = await sql.query<Array<{ row: string }>>(
        `SELECT row_to_json(k)::text AS row FROM gateway.api_keys k WHERE key_id = $1`,
        [key.keyId],
      );
      expect(rows[0].row).not.toContain(secret);
      expect(rows[0].row).not.toContain(Buffer.from(secret, 'base64url').toString('hex'));
    });

    it('refuse a wrong secret, an unknown key id and a malformed token alike', async () => {
      const { key, token } = await auth.createApiKey({
        principal: 'service:ci',
        name: 'wrong',
        expiresAt: undefined,
      });
      const otherSecret = (
        await auth.createApiKey({ principal: 'service:ci', name: 'x', expiresAt: undefined })
      ).token
        .split('_')
        .slice(2)
        .join('_');
      for (const bad of [
        `cairn_${key.keyId}_${otherSecret}`,
        `cairn_0000000000000000_${otherSecret}`,
        `${token}x`,
        token.slice(0, -1),
      ]) {
        expect(await refusal(authn.authenticate(bearer(bad)))).toEqual({
          kind: 'unauthenticated',
          reason: 'CREDENTIALS_INVALID',
        });
      }
    });

    it("carry the principal's current roles: a role change applies at once, though the key was just verified", async () => {
      await auth.createUser({ id: 'service:roles', displayName: '', roles: ['viewer'], password: '' });
      const { token } = await auth.createApiKey({
        principal: 'service:roles',
        name: 'r',
        expiresAt: undefined,
      });
      await expect(authn.authenticate(bearer(token))).resolves.toMatchObject({ roles: ['viewer'] });
      await auth.updateUserRoles('service:roles', ['contributor']);
      await expect(authn.authenticate(bearer(token))).resolves.toMatchObject({ roles: ['contributor'] });
      await auth.deleteUser('service:roles');
      expect((await refusal(authn.authenticate(bearer(token)))).kind).toBe('unauthenticated');
    });

    it('stop working once revoked (API_KEY_REVOKED)', async () => {
      const { key, token } = await auth.createApiKey({
        principal: 'service:ci',
        name: 'revoke',
        expiresAt: undefined,
      });
      await expect(authn.authenticate(bearer(token))).resolves.toMatchObject({ principal: 'service:ci' });
      const revoked = await auth.revokeApiKey(key.keyId);
      expect(revoked.revokedAt).not.toBeNull();
      expect(await refusal(authn.authenticate(bearer(token)))).toEqual({
        kind: 'unauthenticated',
        reason: 'API_KEY_REVOKED',
      });
      // Revoking again keeps the first revocation time.
      expect((await auth.revokeApiKey(key.keyId)).revokedAt).toBe(revoked.revokedAt);
      expect((await auth.listApiKeys('service:ci', false)).map((k) => k.keyId)).not.toContain(key.keyId);
      expect((await auth.listApiKeys('service:ci', true)).map((k) => k.keyId)).toContain(key.keyId);
    });

    it('stop working when they expire (API_KEY_EXPIRED)', async () => {
      const { token } = await auth.createApiKey({
        principal: 'service:ci',
        name: 'short-lived',
        expiresAt: Date.now() + 1_500,
      });
      await expect(authn.authenticate(bearer(token))).resolves.toMatchObject({ principal: 'service:ci' });
      const refused = await waitFor('the key to expire', async () => {
        const r = await authn.authenticate(bearer(token)).then(
          () => undefined,
          (err: { reason: string }) => err.reason,
        );
        return r;
      });
      expect(refused).toBe('API_KEY_EXPIRED');
    });

    it('refuse an expiry in the past at creation', async () => {
      await expect(
        auth.createApiKey({ principal: 'service:ci', name: 'past', expiresAt: Date.now() - 1 }),
      ).rejects.toMatchObject({ kind: 'invalid_argument' });
    });

    it('stop working while their principal is disabled (told only to holders of the secret)', async () => {
      const { token } = await auth.createApiKey({
        principal: 'service:ci',
        name: 'disabled',
        expiresAt: undefined,
      });
      await disable('service:ci', true);
      try {
        expect((await refusal(authn.authenticate(bearer(token)))).reason).toBe('PRINCIPAL_DISABLED');
        expect((await refusal(authn.authenticate(bearer(`${token.slice(0, -2)}AA`)))).reason).toBe(
          'CREDENTIALS_INVALID',
        );
      } finally {
        await disable('service:ci', false);
      }
      await expect(authn.authenticate(bearer(token))).resolves.toMatchObject({ principal: 'service:ci' });
    });

    it('record their last use in batches, not with a write per call', async () => {
      const { key, token } = await auth.createApiKey({
        principal: 'service:ci',
        name: 'usage',
        expiresAt: undefined,
      });
      const before = Date.now();
      for (let i = 0; i < 5; i++) await authn.authenticate(bearer(token));
      const lastUsed = async () =>
        (await auth.listApiKeys('service:ci', true)).find((k) => k.keyId === key.keyId)!.lastUsedAt;
      expect(await lastUsed()).toBeNull();
      await svc.app.get(ApiKeyUsageRecorder).flush();
      const at = await lastUsed();
      expect(at).not.toBeNull();
      expect(at!).toBeGreaterThanOrEqual(before - 1_000);
      expect(at!).toBeLessThanOrEqual(Date.now() + 1_000);
    });

    it('cannot be created for an unregistered principal (its roles would come from nowhere)', async () => {
      await expect(
        auth.createApiKey({ principal: 'user:nobody', name: 'x', expiresAt: undefined }),
      ).rejects.toMatchObject({ kind: 'failed_precondition', reason: 'PRINCIPAL_NOT_REGISTERED' });
    });
  });

  describe('HTTP Basic (MLflow clients)', () => {
    it('authenticates a user with its password, with its stored roles', async () => {
      await expect(authn.authenticate(basic('alice', 'alice-password'))).resolves.toEqual({
        principal: 'user:alice',
        roles: ['contributor', 'approver'],
        via: 'basic',
      });
      // The bootstrap admin's password came from CAIRN_ADMIN_PASSWORD.
      await expect(authn.authenticate(basic('admin', ADMIN_PASSWORD))).resolves.toMatchObject({
        principal: 'user:admin',
        roles: ['admin'],
      });
    });

    it('refuses a wrong password, an unknown user, a user without a password and garbage alike', async () => {
      for (const h of [
        basic('alice', 'alice-passwor'),
        basic('alice', ''),
        basic('mallory', 'alice-password'),
        basic('ci', 'anything-at-all'),
        basic('../alice', 'alice-password'),
        headers({ authorization: 'Basic !!!' }),
        headers({ authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }),
      ]) {
        expect(await refusal(authn.authenticate(h))).toEqual({
          kind: 'unauthenticated',
          reason: 'CREDENTIALS_INVALID',
        });
      }
    });

    it('costs an unknown user what a wrong password costs (no user enumeration by timing)', async () => {
      const time = async (user: string) => {
        const t0 = performance.now();
        await authn.authenticate(basic(user, 'not-the-password')).catch(() => undefined);
        return performance.now() - t0;
      };
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const wrong: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 5; i++) {
        wrong.push(await time('alice'));
        unknown.push(await time(`nobody${i}`));
      }
      // Both run one scrypt (tens of ms); skipping it would make unknown users ~100x faster.
      expect(median(unknown)).toBeGreaterThan(median(wrong) * 0.4);
      expect(median(wrong)).toBeGreaterThan(median(unknown) * 0.4);
    });

    it('takes a password change into account at once, although verified passwords are cached', async () => {
      await auth.createUser({
        id: 'user:carol',
        displayName: '',
        roles: ['viewer'],
        password: 'carol-first',
      });
      await expect(authn.authenticate(basic('carol', 'carol-first'))).resolves.toMatchObject({
        principal: 'user:carol',
      });
      await auth.setUserPassword('user:carol', 'carol-second');
      expect((await refusal(authn.authenticate(basic('carol', 'carol-first')))).reason).toBe(
        'CREDENTIALS_INVALID',
      );
      await expect(authn.authenticate(basic('carol', 'carol-second'))).resolves.toMatchObject({
        principal: 'user:carol',
      });
    });

    it('refuses a disabled user who knows the password (PRINCIPAL_DISABLED)', async () => {
      await disable('user:alice', true);
      try {
        expect((await refusal(authn.authenticate(basic('alice', 'alice-password')))).reason).toBe(
          'PRINCIPAL_DISABLED',
        );
        expect((await refusal(authn.authenticate(basic('alice', 'wrong-password')))).reason).toBe(
          'CREDENTIALS_INVALID',
        );
      } finally {
        await disable('user:alice', false);
      }
    });
  });

  describe('OIDC bearer tokens', () => {
    it('authenticate user:<sub> with the roles of the roles claim that Cairn knows', async () => {
      const token = await idp.token({
        sub: 'dana@example.com',
        groups: ['approver', 'offline_access', 'viewer'],
      });
      await expect(authn.authenticate(bearer(token))).resolves.toEqual({
        principal: 'user:dana@example.com',
        roles: ['viewer', 'approver'],
        via: 'oidc',
      });
      expect(idp.jwksRequests).toBeGreaterThanOrEqual(1);
    });

    it('give no role when the claim names none', async () => {
      await expect(authn.authenticate(bearer(await idp.token({ sub: 'erin' })))).resolves.toEqual({
        principal: 'user:erin',
        roles: [],
        via: 'oidc',
      });
    });

    it.each<[string, () => Promise<string>, string]>([
      ['another issuer', () => idp.token({ sub: 'x' }, { issuer: 'https://evil.test' }), 'TOKEN_INVALID'],
      ['another audience', () => idp.token({ sub: 'x' }, { audience: 'someone-else' }), 'TOKEN_INVALID'],
      [
        'an expired token',
        () => idp.token({ sub: 'x' }, { expiresAt: Math.floor(Date.now() / 1000) - 3600 }),
        'TOKEN_EXPIRED',
      ],
      ['no expiry at all', () => idp.token({ sub: 'x' }, { noExp: true }), 'TOKEN_INVALID'],
      [
        'a key id the JWKS does not hold',
        () => idp.token({ sub: 'x' }, { kid: 'k2', forged: true }),
        'TOKEN_INVALID',
      ],
      [
        'a forged signature under the known key id',
        () => idp.token({ sub: 'x' }, { forged: true }),
        'TOKEN_INVALID',
      ],
      ['a subject that is no user name', () => idp.token({ sub: 'a b/c' }), 'TOKEN_INVALID'],
    ])('refuse %s', async (_what, make, reason) => {
      expect(await refusal(authn.authenticate(bearer(await make())))).toEqual({
        kind: 'unauthenticated',
        reason,
      });
    });

    it('refuse an HMAC token signed with the public key (algorithm confusion)', async () => {
      const [h, p] = (await idp.token({ sub: 'x' })).split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'k1' })).toString('base64url');
      expect(h).not.toBe(header);
      expect((await refusal(authn.authenticate(bearer(`${header}.${p}.c2ln`)))).reason).toBe('TOKEN_INVALID');
    });

    it('are refused for a registered user an admin disabled', async () => {
      await auth.createUser({ id: 'user:frank', displayName: '', roles: ['viewer'], password: '' });
      await disable('user:frank', true);
      expect(
        await refusal(authn.authenticate(bearer(await idp.token({ sub: 'frank', groups: ['admin'] })))),
      ).toEqual({ kind: 'unauthenticated', reason: 'PRINCIPAL_DISABLED' });
    });

    it('are refused by a gateway without OIDC settings', async () => {
      const verifier = new OidcVerifier({
        oidc: undefined,
        defaultPermission: 'READ',
        adminPassword: undefined,
        apiKeyUsageFlushMs: 60_000,
        apiKeyCacheMs: 2_000,
      });
      await expect(verifier.verify(await idp.token({ sub: 'x' }))).rejects.toMatchObject({
        reason: 'TOKEN_INVALID',
      });
    });
  });
});
