import { ApiKeyCache, type VerifiedApiKey } from './api-key-cache';
import type { AuthConfig } from './auth.settings';

const config = (apiKeyCacheMs: number): AuthConfig => ({
  oidc: undefined,
  defaultPermission: 'READ',
  adminPassword: undefined,
  apiKeyUsageFlushMs: 60_000,
  apiKeyCacheMs,
});
const verified = (over: Partial<VerifiedApiKey> = {}): VerifiedApiKey => ({
  keyId: 'k1',
  principal: 'user:ann',
  roles: ['viewer'],
  expiresAt: null,
  ...over,
});

describe('ApiKeyCache', () => {
  it('remembers a verified token, and only that exact token', () => {
    const cache = new ApiKeyCache(config(2_000));
    cache.remember('cairn_k1_secret', verified());
    expect(cache.get('cairn_k1_secret')).toEqual(verified());
    expect(cache.get('cairn_k1_secreT')).toBeUndefined();
  });

  it("never returns a key past its own expiry, whatever the cache's interval", () => {
    const cache = new ApiKeyCache(config(60_000));
    cache.remember('t', verified({ expiresAt: 1_000 }));
    expect(cache.get('t', 999)).toBeDefined();
    expect(cache.get('t', 1_000)).toBeUndefined();
  });

  it("forgets a revoked key and a changed principal's keys", () => {
    const cache = new ApiKeyCache(config(2_000));
    cache.remember('a', verified({ keyId: 'ka' }));
    cache.remember('b', verified({ keyId: 'kb' }));
    cache.remember('c', verified({ keyId: 'kc', principal: 'user:bob' }));
    cache.forgetKey('ka');
    expect([cache.get('a'), cache.get('b')?.keyId]).toEqual([undefined, 'kb']);
    cache.forgetPrincipal('user:ann');
    expect([cache.get('b'), cache.get('c')?.keyId]).toEqual([undefined, 'kc']);
  });

  it('remembers nothing when the interval is 0', () => {
    const cache = new ApiKeyCache(config(0));
    cache.remember('t', verified());
    expect(cache.get('t')).toBeUndefined();
  });
});
