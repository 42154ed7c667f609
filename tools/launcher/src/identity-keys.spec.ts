import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '@cairn/config';
import { IdentityIssuer, publicKeyId } from '@cairn/identity';
import { embeddedIdentity } from './identity-keys';

describe('the embedded gateway identity key', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(path.join(os.tmpdir(), 'cairn-launcher-identity-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('is generated once under $CAIRN_HOME/keys, its path given to the gateway alone, its public key to all', () => {
    const first = embeddedIdentity({ CAIRN_IDENTITY_SIGNING_KEY: undefined }, home);
    const file = path.join(home, 'keys', 'gateway-identity-ed25519.pem');
    expect(first.keyFile).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.gateway.CAIRN_IDENTITY_SIGNING_KEY).toBe(file);
    expect(first.services).toEqual({
      CAIRN_IDENTITY_SIGNING_KEY: undefined,
      CAIRN_IDENTITY_KEY_DIR: undefined,
      CAIRN_IDENTITY_PUBLIC_KEYS: first.gateway.CAIRN_IDENTITY_PUBLIC_KEYS,
    });
    expect(Object.keys(JSON.parse(first.services.CAIRN_IDENTITY_PUBLIC_KEYS!) as object)).toEqual([
      first.keyId,
    ]);
    expect(embeddedIdentity({}, home).keyId).toBe(first.keyId);
    expect(first.warning).toBeUndefined();
  });

  it('respects the user’s key, key directory and public keys', () => {
    const dir = path.join(home, 'elsewhere');
    expect(embeddedIdentity({ CAIRN_IDENTITY_KEY_DIR: dir }, home).keyFile).toBe(
      path.join(dir, 'gateway-identity-ed25519.pem'),
    );
    const own = generateKeyPairSync('ed25519');
    const pem = own.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const given = embeddedIdentity({ CAIRN_IDENTITY_SIGNING_KEY: pem }, home);
    expect(given.keyFile).toBeUndefined();
    expect(given.gateway.CAIRN_IDENTITY_SIGNING_KEY).toBe(pem);
    expect(given.keyId).toBe(publicKeyId(own.publicKey));
    expect(given.services.CAIRN_IDENTITY_PUBLIC_KEYS).toBe(
      new IdentityIssuer({ privateKey: own.privateKey }).publicKeysSetting(),
    );
    const other = new IdentityIssuer({ privateKey: generateKeyPairSync('ed25519').privateKey });
    const mismatched = embeddedIdentity(
      { CAIRN_IDENTITY_SIGNING_KEY: pem, CAIRN_IDENTITY_PUBLIC_KEYS: other.publicKeysSetting() },
      home,
    );
    expect(mismatched.services.CAIRN_IDENTITY_PUBLIC_KEYS).toBe(other.publicKeysSetting());
    expect(mismatched.warning).toContain(`does not list the gateway's key ${given.keyId}`);
  });

  it('names a bad key setting', () => {
    expect(() =>
      embeddedIdentity(
        { CAIRN_IDENTITY_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' },
        home,
      ),
    ).toThrow(ConfigError);
  });
});
