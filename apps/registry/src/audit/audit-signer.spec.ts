import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '@cairn/config';
import {
  auditSettings,
  createAuditSigner,
  GENERATED_KEY_FILE,
  publicKeyId,
  verifySignature,
} from './audit-signer';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-audit-signer-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const settings = (env: Record<string, string>) => loadConfig('registry', auditSettings, env);

describe('auditSettings', () => {
  it('has defaults for embedded mode', () => {
    expect(settings({})).toEqual({
      CAIRN_REGISTRY_AUDIT_CHECKPOINT_INTERVAL_MS: 60_000,
      CAIRN_REGISTRY_AUDIT_KEY_DIR: './.cairn/keys',
    });
  });

  it('rejects a bad interval and key id, naming the setting', () => {
    expect(() =>
      settings({
        CAIRN_REGISTRY_AUDIT_CHECKPOINT_INTERVAL_MS: '0',
        CAIRN_REGISTRY_AUDIT_SIGNING_KEY_ID: 'a b',
      }),
    ).toThrow(/CAIRN_REGISTRY_AUDIT_CHECKPOINT_INTERVAL_MS[\s\S]*CAIRN_REGISTRY_AUDIT_SIGNING_KEY_ID/);
  });
});

describe('createAuditSigner', () => {
  it('generates a key once, mode 0600, and reuses it on the next start', () => {
    const keyDir = path.join(dir, 'nested', 'keys');
    const first = createAuditSigner(settings({ CAIRN_REGISTRY_AUDIT_KEY_DIR: keyDir }));
    const file = path.join(keyDir, GENERATED_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.source).toBe(file);
    expect(first.keyId).toMatch(/^ed25519:[0-9a-f]{16}$/);
    const pem = readFileSync(file, 'utf8');

    const second = createAuditSigner(settings({ CAIRN_REGISTRY_AUDIT_KEY_DIR: keyDir }));
    expect(second.keyId).toBe(first.keyId);
    expect(readFileSync(file, 'utf8')).toBe(pem);
    const msg = Buffer.from('head');
    expect(verifySignature(second.verificationKeys.get(first.keyId)!, msg, first.sign(msg))).toBe(true);
    expect(
      verifySignature(second.verificationKeys.get(first.keyId)!, Buffer.from('other'), first.sign(msg)),
    ).toBe(false);
  });

  it('refuses a generated key file that others can read', () => {
    createAuditSigner(settings({ CAIRN_REGISTRY_AUDIT_KEY_DIR: dir }));
    chmodSync(path.join(dir, GENERATED_KEY_FILE), 0o644);
    expect(() => createAuditSigner(settings({ CAIRN_REGISTRY_AUDIT_KEY_DIR: dir }))).toThrow(/chmod 600/);
  });

  it('takes a configured key inline or from a file, and extra public keys', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const old = generateKeyPairSync('ed25519').publicKey;
    const inline = createAuditSigner(
      settings({
        CAIRN_REGISTRY_AUDIT_SIGNING_KEY: pem,
        CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS: JSON.stringify({
          old: old.export({ type: 'spki', format: 'pem' }),
        }),
        CAIRN_REGISTRY_AUDIT_KEY_DIR: path.join(dir, 'unused'),
      }),
    );
    expect(inline.keyId).toBe(publicKeyId(publicKey));
    expect(inline.source).toBe('configured');
    expect([...inline.verificationKeys.keys()].sort()).toEqual([inline.keyId, 'old'].sort());
    expect(() => statSync(path.join(dir, 'unused'))).toThrow(); // nothing generated

    const file = path.join(dir, 'signing.pem');
    writeFileSync(file, pem, { mode: 0o600 });
    const fromFile = createAuditSigner(
      settings({ CAIRN_REGISTRY_AUDIT_SIGNING_KEY: file, CAIRN_REGISTRY_AUDIT_SIGNING_KEY_ID: 'k1' }),
    );
    expect(fromFile.keyId).toBe('k1');
    expect(fromFile.verificationKeys.get('k1')!.equals(publicKey)).toBe(true);
  });

  it.each([
    [
      { CAIRN_REGISTRY_AUDIT_SIGNING_KEY: '/nonexistent/key.pem' },
      /CAIRN_REGISTRY_AUDIT_SIGNING_KEY: is neither/,
    ],
    [
      {
        CAIRN_REGISTRY_AUDIT_SIGNING_KEY: generateKeyPairSync('ec', {
          namedCurve: 'P-256',
        }).privateKey.export({
          type: 'pkcs8',
          format: 'pem',
        }) as string,
      },
      /must be an Ed25519 key, got ec/,
    ],
    [
      { CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS: '{not json' },
      /CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS: must be a JSON object/,
    ],
    [{ CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS: '{"k":"nope"}' }, /key "k" is not a PEM public key/],
  ])('rejects bad key settings with a ConfigError (%#)', (env, message) => {
    let err: unknown;
    try {
      createAuditSigner(settings({ CAIRN_REGISTRY_AUDIT_KEY_DIR: dir, ...env }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });

  it('refuses a public key listed under the signing key id that is not the signing key', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
    expect(() =>
      createAuditSigner(
        settings({
          CAIRN_REGISTRY_AUDIT_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
          CAIRN_REGISTRY_AUDIT_SIGNING_KEY_ID: 'k1',
          CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS: JSON.stringify({ k1: other }),
        }),
      ),
    ).toThrow(/different key/);
  });
});
