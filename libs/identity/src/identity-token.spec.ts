import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { ConfigError } from '@cairn/config';
import { AppError } from '@cairn/rpc';
import { IdentityIssuer } from './identity-issuer';
import { IdentityTokenAuthenticator } from './identity-token.authenticator';
import { IdentityVerifier } from './identity-verifier';
import { GENERATED_IDENTITY_KEY_FILE, parseIdentityPublicKeys } from './identity.settings';
import { publicKeyId } from './local-key';

const gateway = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const pem = (key: KeyObject) =>
  key
    .export(key.type === 'private' ? { type: 'pkcs8', format: 'pem' } : { type: 'spki', format: 'pem' })
    .toString();
const publicKeys = (...keys: KeyObject[]) =>
  JSON.stringify(Object.fromEntries(keys.map((k) => [publicKeyId(k), pem(k)])));

const issuer = new IdentityIssuer({ privateKey: gateway.privateKey });
const registry = IdentityVerifier.fromSettings('registry', {
  CAIRN_IDENTITY_PUBLIC_KEYS: publicKeys(gateway.publicKey),
});
const alice = { principal: 'user:alice', roles: ['approver'], audience: 'registry' } as const;

/** What verifying `token` was refused with (kind, reason, details). */
async function refusal(
  token: string,
  verifier = registry,
): Promise<Pick<AppError, 'kind' | 'reason' | 'details'>> {
  try {
    await verifier.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    const { kind, reason, details } = err as AppError;
    return { kind, reason, details };
  }
  throw new Error('expected the token to be refused');
}

const b64url = (v: object | string) =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A hand-made compact JWS over arbitrary header and claims, signed Ed25519 with `key`. */
function craft(header: object, claims: object, key = gateway.privateKey): string {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

const nowS = () => Math.floor(Date.now() / 1000);
const goodClaims = () => ({
  iss: 'cairn-gateway',
  sub: 'user:alice',
  aud: 'registry',
  roles: [],
  iat: nowS(),
  exp: nowS() + 60,
  jti: 'j1',
});
const goodHeader = { alg: 'EdDSA', kid: publicKeyId(gateway.publicKey) };

describe('identity tokens', () => {
  it('are compact EdDSA JWTs naming their key, with exactly the documented claims', async () => {
    const token = await issuer.issue(alice);
    expect(token.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'EdDSA',
      kid: publicKeyId(gateway.publicKey),
      typ: 'JWT',
    });
    const claims = decodeJwt(token);
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'roles', 'sub']);
    expect(claims).toMatchObject({
      iss: 'cairn-gateway',
      sub: 'user:alice',
      aud: 'registry',
      roles: ['approver'],
    });
    expect(claims.exp! - claims.iat!).toBe(60);
    expect(Math.abs(claims.iat! - nowS())).toBeLessThanOrEqual(1);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeJwt(await issuer.issue(alice)).jti).not.toBe(claims.jti);
  });

  it('verify into the caller identity, for the audience only', async () => {
    expect(await registry.verify(await issuer.issue(alice))).toEqual({
      principal: 'user:alice',
      roles: ['approver'],
      via: 'gateway-token',
    });
    expect(await refusal(await issuer.issue({ ...alice, audience: 'tracking' }))).toEqual({
      kind: 'unauthenticated',
      reason: 'IDENTITY_TOKEN_WRONG_AUDIENCE',
      details: { audience: 'tracking' },
    });
  });

  it('refuse a token signed by another key, under its own id or the gateway’s', async () => {
    const forged = new IdentityIssuer({ privateKey: other.privateKey });
    expect(await refusal(await forged.issue(alice))).toEqual({
      kind: 'unauthenticated',
      reason: 'IDENTITY_KEY_UNKNOWN',
      details: { kid: publicKeyId(other.publicKey) },
    });
    const impostor = new IdentityIssuer({
      privateKey: other.privateKey,
      keyId: publicKeyId(gateway.publicKey),
    });
    expect((await refusal(await impostor.issue(alice))).reason).toBe('IDENTITY_TOKEN_INVALID');
    // A tampered payload breaks the signature too.
    const [h, , sig] = (await issuer.issue(alice)).split('.');
    const tampered = `${h}.${b64url({ ...goodClaims(), sub: 'user:root' })}.${sig}`;
    expect((await refusal(tampered)).reason).toBe('IDENTITY_TOKEN_INVALID');
  });

  it('expire after their TTL, give or take 5 s of clock skew', async () => {
    const at = (ms: number) => new IdentityIssuer({ privateKey: gateway.privateKey, now: () => ms });
    expect(await refusal(await at(Date.now() - 66_000).issue(alice))).toMatchObject({
      reason: 'IDENTITY_TOKEN_EXPIRED',
    });
    // 63 s old with a 60 s TTL: within the tolerance.
    await expect(registry.verify(await at(Date.now() - 63_000).issue(alice))).resolves.toMatchObject({
      principal: 'user:alice',
    });
    // Issued in the future beyond the tolerance: refused; within it: accepted.
    expect((await refusal(await at(Date.now() + 30_000).issue(alice))).reason).toBe('IDENTITY_TOKEN_INVALID');
    await expect(registry.verify(await at(Date.now() + 3_000).issue(alice))).resolves.toBeDefined();
  });

  it('refuse a lifetime beyond 300 s even when not yet expired', async () => {
    const claims = { ...goodClaims(), exp: nowS() + 3600 };
    expect((await refusal(craft(goodHeader, claims))).reason).toBe('IDENTITY_TOKEN_INVALID');
    // And a token issued more than 300 s ago is expired whatever its exp says.
    const old = { ...goodClaims(), iat: nowS() - 400, exp: nowS() + 60 };
    expect((await refusal(craft(goodHeader, old))).reason).toBe('IDENTITY_TOKEN_EXPIRED');
  });

  it.each<[string, string, object, object]>([
    ['another algorithm', 'IDENTITY_TOKEN_INVALID', { ...goodHeader, alg: 'ES256' }, {}],
    ['no kid', 'IDENTITY_TOKEN_INVALID', { alg: 'EdDSA' }, {}],
    ['another issuer', 'IDENTITY_TOKEN_INVALID', goodHeader, { iss: 'someone-else' }],
    ['no subject', 'IDENTITY_TOKEN_INVALID', goodHeader, { sub: undefined }],
    ['a subject with spaces', 'IDENTITY_TOKEN_INVALID', goodHeader, { sub: 'user alice' }],
    ['roles that are not strings', 'IDENTITY_TOKEN_INVALID', goodHeader, { roles: [1] }],
    ['no roles', 'IDENTITY_TOKEN_INVALID', goodHeader, { roles: undefined }],
    ['no jti', 'IDENTITY_TOKEN_INVALID', goodHeader, { jti: undefined }],
    ['no exp', 'IDENTITY_TOKEN_INVALID', goodHeader, { exp: undefined }],
    ['no audience', 'IDENTITY_TOKEN_INVALID', goodHeader, { aud: undefined }],
    [
      'several audiences, this one among them',
      'IDENTITY_TOKEN_INVALID',
      goodHeader,
      { aud: ['registry', 'tracking'] },
    ],
    [
      'several audiences, not this one',
      'IDENTITY_TOKEN_WRONG_AUDIENCE',
      goodHeader,
      { aud: ['tracking', 'monitor'] },
    ],
  ])('refuse a token with %s', async (_what, reason, header, change) => {
    expect((await refusal(craft(header, { ...goodClaims(), ...change }))).reason).toBe(reason);
  });

  it('refuse what is not a JWT at all, and alg none', async () => {
    for (const junk of [
      '',
      'abc',
      'a.b.c',
      'x'.repeat(5000),
      `${b64url({ alg: 'none' })}.${b64url(goodClaims())}.`,
    ]) {
      expect((await refusal(junk)).reason).toBe('IDENTITY_TOKEN_INVALID');
    }
  });

  it('are refused as IDENTITY_NOT_CONFIGURED by a service without gateway keys', async () => {
    const unconfigured = IdentityVerifier.fromSettings('monitor', {});
    expect(unconfigured.configured).toBe(false);
    expect((await refusal(await issuer.issue({ ...alice, audience: 'monitor' }), unconfigured)).reason).toBe(
      'IDENTITY_NOT_CONFIGURED',
    );
  });

  it('rotate: a service accepts every configured key', async () => {
    const next = new IdentityIssuer({ privateKey: other.privateKey });
    const both = IdentityVerifier.fromSettings('registry', {
      CAIRN_IDENTITY_PUBLIC_KEYS: publicKeys(gateway.publicKey, other.publicKey),
    });
    expect(both.keyIds()).toEqual([publicKeyId(gateway.publicKey), publicKeyId(other.publicKey)].sort());
    await expect(both.verify(await issuer.issue(alice))).resolves.toMatchObject({ principal: 'user:alice' });
    await expect(both.verify(await next.issue(alice))).resolves.toMatchObject({ principal: 'user:alice' });
    expect(JSON.parse(next.publicKeysSetting())).toEqual({
      [publicKeyId(other.publicKey)]: pem(other.publicKey),
    });
  });

  it('are issued only for a valid principal, roles and audience', async () => {
    await expect(issuer.issue({ ...alice, principal: '' })).rejects.toThrow(/principal/);
    await expect(issuer.issue({ ...alice, principal: 'x'.repeat(257) })).rejects.toThrow(/256/);
    await expect(issuer.issue({ ...alice, roles: [''] })).rejects.toThrow(/role/);
    await expect(issuer.issue({ ...alice, audience: 'gateway' as never })).rejects.toThrow(/gateway/);
    expect(() => new IdentityIssuer({ privateKey: gateway.privateKey, ttlSeconds: 301 })).toThrow(RangeError);
    expect(() => new IdentityIssuer({ privateKey: gateway.publicKey })).toThrow(TypeError);
  });
});

describe('the identity token authenticator', () => {
  const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] });
  const authenticator = new IdentityTokenAuthenticator(registry);

  it('establishes no identity for a call without a token, and the token’s for one with', async () => {
    expect(await authenticator.authenticate(headers({ 'cairn-principal': 'user:mallory' }))).toBeUndefined();
    expect(
      await authenticator.authenticate(headers({ 'cairn-identity': await issuer.issue(alice) })),
    ).toEqual({
      principal: 'user:alice',
      roles: ['approver'],
      via: 'gateway-token',
    });
    await expect(authenticator.authenticate(headers({ 'cairn-identity': 'junk' }))).rejects.toMatchObject({
      kind: 'unauthenticated',
      reason: 'IDENTITY_TOKEN_INVALID',
    });
  });
});

describe('identity settings', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-identity-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const configError = (fn: () => unknown): ConfigError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  it('take the signing key as a PEM (with \\n escapes) or a file, and the TTL', () => {
    const inline = IdentityIssuer.fromEnv({
      CAIRN_IDENTITY_SIGNING_KEY: pem(gateway.privateKey).replace(/\n/g, '\\n'),
      CAIRN_IDENTITY_TOKEN_TTL_SECONDS: '120',
    });
    expect(inline.keyId).toBe(publicKeyId(gateway.publicKey));
    expect(inline.ttlSeconds).toBe(120);
    const file = path.join(dir, 'key.pem');
    writeFileSync(file, pem(gateway.privateKey), { mode: 0o600 });
    const fromFile = IdentityIssuer.fromEnv({ CAIRN_IDENTITY_SIGNING_KEY: file });
    expect(fromFile.keyId).toBe(inline.keyId);
    expect(fromFile.ttlSeconds).toBe(60);
  });

  it('generate the key once in CAIRN_IDENTITY_KEY_DIR, owner-only, and reuse it', () => {
    const keys = path.join(dir, 'keys');
    const first = IdentityIssuer.fromEnv({ CAIRN_IDENTITY_KEY_DIR: keys });
    const file = path.join(keys, GENERATED_IDENTITY_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(IdentityIssuer.fromEnv({ CAIRN_IDENTITY_KEY_DIR: keys }).keyId).toBe(first.keyId);
    chmodSync(file, 0o644);
    expect(configError(() => IdentityIssuer.fromEnv({ CAIRN_IDENTITY_KEY_DIR: keys })).message).toMatch(
      /CAIRN_IDENTITY_KEY_DIR: .* is accessible by group or others/,
    );
  });

  it('name the bad setting and never echo key material', () => {
    const secret = pem(other.privateKey);
    const body = secret.split('\n')[1];
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /CAIRN_IDENTITY_SIGNING_KEY: is required \(or CAIRN_IDENTITY_KEY_DIR/],
      [
        { CAIRN_IDENTITY_SIGNING_KEY: path.join(dir, 'missing.pem') },
        /CAIRN_IDENTITY_SIGNING_KEY: is neither a PEM nor a readable file \(ENOENT\)/,
      ],
      [
        { CAIRN_IDENTITY_SIGNING_KEY: pem(other.publicKey) },
        /CAIRN_IDENTITY_SIGNING_KEY: is not a PEM PKCS#8 private key/,
      ],
      [
        { CAIRN_IDENTITY_SIGNING_KEY: pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey) },
        /is a ec key, not Ed25519/,
      ],
      [
        { CAIRN_IDENTITY_SIGNING_KEY: secret, CAIRN_IDENTITY_TOKEN_TTL_SECONDS: '301' },
        /CAIRN_IDENTITY_TOKEN_TTL_SECONDS: must be an integer between 1 and 300$/m,
      ],
    ];
    for (const [env, message] of cases) {
      const err = configError(() => IdentityIssuer.fromEnv(env));
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain(body);
    }
  });

  it('check every public key, and that its id is its fingerprint', () => {
    const ok = parseIdentityPublicKeys(publicKeys(gateway.publicKey));
    expect(ok.issues).toEqual([]);
    expect([...ok.keys.keys()]).toEqual([publicKeyId(gateway.publicKey)]);
    const cases: Array<[string, RegExp]> = [
      ['not json', /must be a JSON object/],
      ['["a"]', /must be a JSON object/],
      [
        JSON.stringify({ 'ed25519:0000': pem(gateway.publicKey) }),
        /key "ed25519:0000" is the key ed25519:[0-9a-f]{16}; a key id is its key's fingerprint/,
      ],
      [JSON.stringify({ k: pem(gateway.privateKey) }), /key "k" holds a private key/],
      [JSON.stringify({ k: 42 }), /key "k" must be a PEM string/],
    ];
    for (const [raw, reason] of cases) {
      const err = configError(() =>
        IdentityVerifier.fromEnv('registry', { CAIRN_IDENTITY_PUBLIC_KEYS: raw }),
      );
      expect(err.issues[0].setting).toBe('CAIRN_IDENTITY_PUBLIC_KEYS');
      expect(err.message).toMatch(reason);
      expect(err.message).not.toContain(pem(gateway.privateKey).split('\n')[1]);
    }
  });

  it('leave the generated key file alone when it exists', () => {
    const keys = path.join(dir, 'keys');
    const issuer1 = IdentityIssuer.fromEnv({ CAIRN_IDENTITY_KEY_DIR: keys });
    const before = readFileSync(path.join(keys, GENERATED_IDENTITY_KEY_FILE), 'utf8');
    IdentityIssuer.fromEnv({ CAIRN_IDENTITY_KEY_DIR: keys });
    expect(readFileSync(path.join(keys, GENERATED_IDENTITY_KEY_FILE), 'utf8')).toBe(before);
    expect(issuer1.keyId).toMatch(/^ed25519:[0-9a-f]{16}$/);
  });
});
