import { createHash, generateKeyPairSync, verify as cryptoVerify, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '@cairn/config';
import { publicKeyId } from '@cairn/identity';
import { AppError } from '@cairn/rpc';
import {
  type ArtifactSignature,
  createSigningKeyring,
  GENERATED_SIGNING_KEY_FILE,
  signatureRefused,
  type SigningSettings,
  signingSettings,
} from './signing-keyring';

function ed25519() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

const OLD = ed25519();
const NEW = ed25519();
const CLIENT = ed25519();
const DIGEST = `sha256:${createHash('sha256').update('a manifest').digest('hex')}`;
const OTHER_DIGEST = `sha256:${createHash('sha256').update('another manifest').digest('hex')}`;

function reasonThrownBy(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err.reason;
    throw err;
  }
  throw new Error('nothing was thrown');
}

function configError(settings: SigningSettings): ConfigError {
  try {
    createSigningKeyring(settings);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the keyring was created');
}

describe('signing keyring: sign and verify', () => {
  const keyring = createSigningKeyring({
    CAIRN_REGISTRY_SIGNING_KEY: NEW.privatePem,
    CAIRN_REGISTRY_SIGNING_KEY_ID: 'registry-2025',
    CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ 'ci-2024': CLIENT.publicPem }),
  });

  it('signs the UTF-8 bytes of the digest string with Ed25519', () => {
    const signature = keyring.sign(DIGEST);
    expect(signature).toEqual({ algorithm: 'Ed25519', keyId: 'registry-2025', value: expect.any(String) });
    // What an SDK or CLI reproduces: a plain Ed25519 signature over `sha256:<hex>`.
    expect(
      cryptoVerify(
        null,
        Buffer.from(DIGEST, 'utf8'),
        createPublicKey(NEW.publicPem),
        Buffer.from(signature.value, 'base64'),
      ),
    ).toBe(true);
    expect(keyring.verify(DIGEST, signature)).toEqual({ ok: true, keyId: 'registry-2025' });
  });

  it("accepts its own key implicitly and the configured clients' keys", () => {
    expect(keyring.keyIds()).toEqual(['ci-2024', 'registry-2025']);
    expect(keyring.signingKeyId).toBe('registry-2025');
    const clientKeyring = createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_KEY: CLIENT.privatePem,
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'ci-2024',
    });
    expect(keyring.verify(DIGEST, clientKeyring.sign(DIGEST))).toEqual({ ok: true, keyId: 'ci-2024' });
  });

  it('refuses a signature over another digest', () => {
    expect(keyring.verify(OTHER_DIGEST, keyring.sign(DIGEST))).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
    });
  });

  it('refuses a tampered signature', () => {
    const signature = keyring.sign(DIGEST);
    const bytes = Buffer.from(signature.value, 'base64');
    bytes[10] ^= 0x01;
    expect(keyring.verify(DIGEST, { ...signature, value: bytes.toString('base64') })).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
    });
  });

  it('refuses a signature relabelled with another known key id', () => {
    const signature = keyring.sign(DIGEST);
    expect(keyring.verify(DIGEST, { ...signature, keyId: 'ci-2024' })).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
    });
  });

  it.each<[string, Partial<ArtifactSignature>, string]>([
    ['another algorithm', { algorithm: 'RSA-SHA256' }, 'UNSUPPORTED_ALGORITHM'],
    ['the algorithm in lower case', { algorithm: 'ed25519' }, 'UNSUPPORTED_ALGORITHM'],
    ['an unknown key', { keyId: 'nobody' }, 'UNKNOWN_KEY'],
    ['an invalid key id', { keyId: '../etc' }, 'MALFORMED_SIGNATURE'],
    ['junk in the base64', { value: '!'.repeat(86) + '==' }, 'MALFORMED_SIGNATURE'],
    ['a short value', { value: Buffer.alloc(63).toString('base64') }, 'MALFORMED_SIGNATURE'],
    ['a long value', { value: Buffer.alloc(65).toString('base64') }, 'MALFORMED_SIGNATURE'],
    ['unpadded base64url', { value: Buffer.alloc(64, 0xff).toString('base64url') }, 'MALFORMED_SIGNATURE'],
  ])('reports %s', (_, change, reason) => {
    const result = keyring.verify(DIGEST, { ...keyring.sign(DIGEST), ...change });
    expect(result).toMatchObject({ ok: false, reason });
    expect(result.ok ? '' : result.message).not.toBe('');
  });

  it('refuses to sign or verify something that is not a manifest digest', () => {
    for (const bad of ['', 'sha256:abc', `sha512:${'a'.repeat(64)}`, DIGEST.toUpperCase(), `${DIGEST}\n`]) {
      expect(reasonThrownBy(() => keyring.sign(bad))).toBe('INVALID_MANIFEST_DIGEST');
      expect(reasonThrownBy(() => keyring.verify(bad, keyring.sign(DIGEST)))).toBe('INVALID_MANIFEST_DIGEST');
    }
  });

  it('cannot sign without a signing key, but still verifies', () => {
    const verifyOnly = createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ 'registry-2025': NEW.publicPem }),
    });
    expect(verifyOnly.signingKeyId).toBeUndefined();
    expect(reasonThrownBy(() => verifyOnly.sign(DIGEST))).toBe('SIGNING_KEY_NOT_CONFIGURED');
    expect(verifyOnly.verify(DIGEST, keyring.sign(DIGEST))).toEqual({ ok: true, keyId: 'registry-2025' });
  });
});

describe('signing keyring: a key generated in CAIRN_REGISTRY_SIGNING_KEY_DIR', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-signing-keyring-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is generated once (mode 0600), signs, and is the same key on the next start', () => {
    const keyDir = path.join(dir, 'nested', 'keys');
    const file = path.join(keyDir, GENERATED_SIGNING_KEY_FILE);
    const first = createSigningKeyring({ CAIRN_REGISTRY_SIGNING_KEY_DIR: keyDir });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.signingKeyId).toMatch(/^ed25519:[0-9a-f]{16}$/);
    expect(first.keyIds()).toEqual([first.signingKeyId]);
    const signature = first.sign(DIGEST);
    expect(first.verify(DIGEST, signature)).toEqual({ ok: true, keyId: first.signingKeyId });

    const second = createSigningKeyring({ CAIRN_REGISTRY_SIGNING_KEY_DIR: keyDir });
    expect(second.signingKeyId).toBe(first.signingKeyId);
    expect(second.verify(DIGEST, signature)).toEqual({ ok: true, keyId: first.signingKeyId });
    expect(second.verify(OTHER_DIGEST, signature)).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
  });

  it('is named by CAIRN_REGISTRY_SIGNING_KEY_ID when that is given', () => {
    const keyring = createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_KEY_DIR: dir,
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'local-1',
    });
    expect(keyring.signingKeyId).toBe('local-1');
    expect(keyring.verify(DIGEST, keyring.sign(DIGEST))).toEqual({ ok: true, keyId: 'local-1' });
  });

  it('is refused when group or others can read it', () => {
    createSigningKeyring({ CAIRN_REGISTRY_SIGNING_KEY_DIR: dir });
    chmodSync(path.join(dir, GENERATED_SIGNING_KEY_FILE), 0o640);
    const err = configError({ CAIRN_REGISTRY_SIGNING_KEY_DIR: dir });
    expect(err.issues).toEqual([
      expect.objectContaining({
        setting: 'CAIRN_REGISTRY_SIGNING_KEY_DIR',
        reason: expect.stringMatching(/accessible by group or others \(mode 640\); chmod 600 it/),
      }),
    ]);
    expect(err.message).toContain('CAIRN_REGISTRY_SIGNING_KEY_DIR');
  });

  it('is neither used nor created when CAIRN_REGISTRY_SIGNING_KEY is set', () => {
    const keyring = createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_KEY: NEW.privatePem,
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'registry-2025',
      CAIRN_REGISTRY_SIGNING_KEY_DIR: path.join(dir, 'keys'),
    });
    expect(keyring.signingKeyId).toBe('registry-2025');
    const signature = keyring.sign(DIGEST);
    expect(
      cryptoVerify(
        null,
        Buffer.from(DIGEST, 'utf8'),
        createPublicKey(NEW.publicPem),
        Buffer.from(signature.value, 'base64'),
      ),
    ).toBe(true);
    expect(existsSync(path.join(dir, 'keys'))).toBe(false);
  });

  it('has the audit key id rule (the public key fingerprint), and must match a key listed under that id', () => {
    const keyring = createSigningKeyring({ CAIRN_REGISTRY_SIGNING_KEY_DIR: dir });
    const pem = readFileSync(path.join(dir, GENERATED_SIGNING_KEY_FILE), 'utf8');
    const publicKey = createPublicKey(pem);
    expect(keyring.signingKeyId).toBe(publicKeyId(publicKey));

    const clash = configError({
      CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ [keyring.signingKeyId!]: NEW.publicPem }),
      CAIRN_REGISTRY_SIGNING_KEY_DIR: dir,
    });
    expect(clash.issues).toEqual([
      expect.objectContaining({
        setting: 'CAIRN_REGISTRY_SIGNING_KEY_DIR',
        reason: expect.stringMatching(/different public key/),
      }),
    ]);
    const listed = createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({
        [keyring.signingKeyId!]: publicKey.export({ type: 'spki', format: 'pem' }),
      }),
      CAIRN_REGISTRY_SIGNING_KEY_DIR: dir,
    });
    expect(listed.verify(DIGEST, keyring.sign(DIGEST))).toEqual({ ok: true, keyId: keyring.signingKeyId });
  });
});

describe('signing keyring: checking a signature before its digest is known', () => {
  const keyring = createSigningKeyring({
    CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ 'ci-2024': CLIENT.publicPem }),
  });
  const signed: ArtifactSignature = {
    algorithm: 'Ed25519',
    keyId: 'ci-2024',
    value: createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_KEY: CLIENT.privatePem,
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'ci-2024',
    }).sign(DIGEST).value,
  };

  it('accepts a well-formed signature by a known key, whatever it signs', () => {
    expect(keyring.checkSignature(signed)).toEqual({ ok: true, keyId: 'ci-2024' });
    // The digest decides later.
    expect(keyring.verify(OTHER_DIGEST, signed)).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
  });

  it('refuses what no digest could make valid, as errors with the same reasons', () => {
    const cases: Array<[ArtifactSignature, string, string]> = [
      [{ ...signed, keyId: 'stranger' }, 'UNKNOWN_KEY', 'failed_precondition'],
      [{ ...signed, algorithm: 'RSA' }, 'UNSUPPORTED_ALGORITHM', 'invalid_argument'],
      [{ ...signed, value: 'c2hvcnQ=' }, 'MALFORMED_SIGNATURE', 'invalid_argument'],
      [{ ...signed, keyId: 'bad key' }, 'MALFORMED_SIGNATURE', 'invalid_argument'],
    ];
    for (const [signature, reason, kind] of cases) {
      const check = keyring.checkSignature(signature);
      expect(check).toMatchObject({ ok: false, reason });
      if (check.ok) continue;
      expect(signatureRefused(check, signature.keyId)).toMatchObject({ reason, kind });
    }
  });
});

describe('signing keyring: rotation', () => {
  it('verifies an old key while its public key is configured, and reports UNKNOWN_KEY once it is removed', () => {
    const before = createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_KEY: OLD.privatePem,
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'k1',
    });
    const signedByOld = before.sign(DIGEST);

    // Rotation: sign with k2, keep k1's public key for what it signed.
    const during = createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_KEY: NEW.privatePem,
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'k2',
      CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ k1: OLD.publicPem }),
    });
    expect(during.verify(DIGEST, signedByOld)).toEqual({ ok: true, keyId: 'k1' });
    expect(during.sign(DIGEST).keyId).toBe('k2');

    const after = createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_KEY: NEW.privatePem,
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'k2',
    });
    expect(after.verify(DIGEST, signedByOld)).toMatchObject({ ok: false, reason: 'UNKNOWN_KEY' });
    expect(after.verify(DIGEST, during.sign(DIGEST))).toEqual({ ok: true, keyId: 'k2' });
  });
});

describe('signing keyring: settings', () => {
  it('reads the settings from the environment, PEMs with escaped newlines included', () => {
    const settings = loadConfig('registry', signingSettings, {
      CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ k1: OLD.publicPem.replace(/\n/g, '\\n') }),
      CAIRN_REGISTRY_SIGNING_KEY: NEW.privatePem.replace(/\n/g, '\\n'),
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'k2',
    });
    expect(createSigningKeyring(settings).keyIds()).toEqual(['k1', 'k2']);
  });

  it('starts with no keys at all (signing is optional)', () => {
    expect(createSigningKeyring(loadConfig('registry', signingSettings, {})).keyIds()).toEqual([]);
  });

  it('refuses a malformed key id in the environment', () => {
    expect(() =>
      loadConfig('registry', signingSettings, {
        CAIRN_REGISTRY_SIGNING_KEY: NEW.privatePem,
        CAIRN_REGISTRY_SIGNING_KEY_ID: 'has spaces',
      }),
    ).toThrow(/CAIRN_REGISTRY_SIGNING_KEY_ID/);
  });

  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaPublic = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const rsaPrivate = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const encrypted = generateKeyPairSync('ed25519')
    .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' })
    .toString();
  // The DER header of an Ed25519 SPKI key without the key itself.
  const truncated = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n';

  it.each<[string, SigningSettings, string, RegExp]>([
    [
      'public keys that are not JSON',
      { CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: OLD.publicPem },
      'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS',
      /JSON object/,
    ],
    [
      'a JSON array of keys',
      { CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify([OLD.publicPem]) },
      'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS',
      /JSON object/,
    ],
    [
      'a public key that is not PEM',
      { CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ k1: 'not a key' }) },
      'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS',
      /key "k1" is not a PEM SPKI public key/,
    ],
    [
      'a corrupted public key',
      { CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ k1: truncated }) },
      'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS',
      /key "k1" is not a valid public key/,
    ],
    [
      'an RSA public key',
      { CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ k1: rsaPublic }) },
      'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS',
      /key "k1" is a rsa key, not Ed25519/,
    ],
    [
      'a private key among the public keys',
      { CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ k1: OLD.privatePem }) },
      'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS',
      /holds a private key/,
    ],
    [
      'a bad key id in the public keys',
      { CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ 'a b': OLD.publicPem }) },
      'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS',
      /key id "a b"/,
    ],
    [
      'a signing key that is not PEM',
      { CAIRN_REGISTRY_SIGNING_KEY: 'garbage', CAIRN_REGISTRY_SIGNING_KEY_ID: 'k' },
      'CAIRN_REGISTRY_SIGNING_KEY',
      /not a PEM PKCS#8 private key/,
    ],
    [
      'an RSA signing key',
      { CAIRN_REGISTRY_SIGNING_KEY: rsaPrivate, CAIRN_REGISTRY_SIGNING_KEY_ID: 'k' },
      'CAIRN_REGISTRY_SIGNING_KEY',
      /not Ed25519/,
    ],
    [
      'an encrypted signing key',
      { CAIRN_REGISTRY_SIGNING_KEY: encrypted, CAIRN_REGISTRY_SIGNING_KEY_ID: 'k' },
      'CAIRN_REGISTRY_SIGNING_KEY',
      /is encrypted/,
    ],
    [
      'a signing key without an id',
      { CAIRN_REGISTRY_SIGNING_KEY: NEW.privatePem },
      'CAIRN_REGISTRY_SIGNING_KEY_ID',
      /is required/,
    ],
    [
      'an id without a signing key',
      { CAIRN_REGISTRY_SIGNING_KEY_ID: 'k' },
      'CAIRN_REGISTRY_SIGNING_KEY',
      /is required/,
    ],
    [
      'a signing key id that names another public key',
      {
        CAIRN_REGISTRY_SIGNING_KEY: NEW.privatePem,
        CAIRN_REGISTRY_SIGNING_KEY_ID: 'k1',
        CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ k1: OLD.publicPem }),
      },
      'CAIRN_REGISTRY_SIGNING_KEY_ID',
      /different public key/,
    ],
  ])('stops start-up on %s, naming the setting', (_, settings, setting, reason) => {
    const err = configError(settings);
    expect(err.issues).toEqual([expect.objectContaining({ setting, reason: expect.stringMatching(reason) })]);
    expect(err.message).toContain(setting);
    // Key material is never echoed back.
    expect(err.message).not.toContain('MC4CAQAw');
    expect(err.issues[0].value).toBeUndefined();
  });

  it('reports every bad setting at once', () => {
    const err = configError({
      CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ k1: 'x', k2: OLD.publicPem }),
      CAIRN_REGISTRY_SIGNING_KEY: 'garbage',
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'k3',
    });
    expect(err.issues.map((i) => i.setting)).toEqual([
      'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS',
      'CAIRN_REGISTRY_SIGNING_KEY',
    ]);
  });
});
