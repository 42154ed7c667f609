import {
  apiKeySecretMatches,
  hashApiKeySecret,
  looksLikeApiKey,
  newApiKeyToken,
  parseApiKeyToken,
} from './api-key-token';

describe('API key tokens', () => {
  it('are cairn_<16 hex>_<43 base64url>, with 256 random bits of secret, and parse back', () => {
    const t = newApiKeyToken();
    expect(t.token).toMatch(/^cairn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(t.secret, 'base64url')).toHaveLength(32);
    expect(parseApiKeyToken(t.token)).toEqual({ keyId: t.keyId, secret: t.secret });
    expect(looksLikeApiKey(t.token)).toBe(true);
  });

  it('never repeat', () => {
    const seen = new Set(Array.from({ length: 1000 }, () => newApiKeyToken().token));
    expect(seen.size).toBe(1000);
  });

  it.each([
    'cairn_',
    'cairn_0123456789abcdef',
    'cairn_0123456789ABCDEF_' + 'a'.repeat(43),
    'cairn_0123456789abcde_' + 'a'.repeat(43),
    'cairn_0123456789abcdef_' + 'a'.repeat(42),
    'cairn_0123456789abcdef_' + 'a'.repeat(44),
    'cairn_0123456789abcdef_' + 'a'.repeat(42) + '=',
    'eyJhbGciOi.eyJzdWIi.sig',
  ])('refuses the malformed token %s', (token) => {
    expect(parseApiKeyToken(token)).toBeUndefined();
  });

  it('matches a secret only against the hash of that same secret', () => {
    const a = newApiKeyToken();
    const b = newApiKeyToken();
    const stored = hashApiKeySecret(a.secret);
    expect(apiKeySecretMatches(a.secret, stored)).toBe(true);
    expect(apiKeySecretMatches(b.secret, stored)).toBe(false);
    expect(apiKeySecretMatches(a.secret, Buffer.alloc(5))).toBe(false);
  });
});
