import { ConfigError, loadConfig } from '@cairn/config';
import { authSettings, toAuthConfig } from './auth.settings';

const load = (env: Record<string, string>) => toAuthConfig(loadConfig('gateway', authSettings, env));

describe('auth settings', () => {
  it('defaults: OIDC off, default permission READ (MLflow), usage flushed every minute', () => {
    expect(load({})).toEqual({
      oidc: undefined,
      defaultPermission: 'READ',
      adminPassword: undefined,
      apiKeyUsageFlushMs: 60_000,
      apiKeyCacheMs: 2_000,
    });
    expect(load({ CAIRN_API_KEY_CACHE_MS: '0' }).apiKeyCacheMs).toBe(0);
    expect(() => load({ CAIRN_API_KEY_CACHE_MS: '60001' })).toThrow(/CAIRN_API_KEY_CACHE_MS/);
  });

  it('turns OIDC on with issuer, audiences and JWKS URL together', () => {
    const c = load({
      CAIRN_OIDC_ISSUER: 'https://idp.example/realms/cairn',
      CAIRN_OIDC_AUDIENCE: 'cairn, cairn-cli',
      CAIRN_OIDC_JWKS_URL: 'https://idp.example/realms/cairn/protocol/openid-connect/certs',
      CAIRN_OIDC_ROLES_CLAIM: 'realm_access.roles',
    });
    expect(c.oidc).toMatchObject({
      issuer: 'https://idp.example/realms/cairn',
      audiences: ['cairn', 'cairn-cli'],
      principalClaim: 'sub',
      rolesClaim: 'realm_access.roles',
      clockToleranceSeconds: 30,
    });
  });

  it('refuses a partial OIDC configuration, naming what is missing', () => {
    expect(() => load({ CAIRN_OIDC_ISSUER: 'https://idp.example' })).toThrow(ConfigError);
    try {
      load({ CAIRN_OIDC_ISSUER: 'https://idp.example' });
    } catch (err) {
      expect((err as ConfigError).issues.map((i) => i.setting)).toEqual([
        'CAIRN_OIDC_AUDIENCE',
        'CAIRN_OIDC_JWKS_URL',
      ]);
    }
  });

  it('refuses bad values with the setting named, never echoing the admin password', () => {
    expect(() => load({ CAIRN_DEFAULT_PERMISSION: 'WRITE' })).toThrow(/CAIRN_DEFAULT_PERMISSION/);
    expect(() => load({ CAIRN_OIDC_JWKS_URL: 'file:///etc/jwks.json' })).toThrow(/CAIRN_OIDC_JWKS_URL/);
    let message = '';
    try {
      load({ CAIRN_ADMIN_PASSWORD: 'short' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/CAIRN_ADMIN_PASSWORD: must be at least 8 characters/);
    expect(message).not.toContain('short"');
  });
});
