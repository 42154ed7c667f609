import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, positiveInt } from '@cairn/config';
import { loadOrGenerateEd25519Pem, publicKeyId } from '@cairn/identity';

export { publicKeyId };

/**
 * Settings of the audit log's checkpoints (merge into the registry's extra settings).
 *
 * - `CAIRN_REGISTRY_AUDIT_SIGNING_KEY`: the Ed25519 private key that signs checkpoints, either
 *   the PKCS#8 PEM itself (a value starting with `-----BEGIN`) or the path of a file holding it.
 *   Every replica must use the same key (or have the others' public keys configured), otherwise
 *   one replica cannot verify another's checkpoints.
 * - `CAIRN_REGISTRY_AUDIT_SIGNING_KEY_ID`: the id recorded with each checkpoint; default
 *   `ed25519:` + the first 16 hex digits of the SHA-256 of the public key (SPKI DER).
 * - `CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS`: JSON object `{"<key id>": "<SPKI PEM>"}` of further
 *   public keys accepted when verifying, i.e. the keys used before a rotation.
 * - `CAIRN_REGISTRY_AUDIT_KEY_DIR`: without a configured key (embedded mode), a key pair is
 *   generated once into `<dir>/registry-audit-ed25519.pem` (mode 0600) and reused afterwards.
 * - `CAIRN_REGISTRY_AUDIT_CHECKPOINT_INTERVAL_MS`: how often the head is checkpointed.
 */
export const auditSettings = z.object({
  CAIRN_REGISTRY_AUDIT_CHECKPOINT_INTERVAL_MS: positiveInt(60_000),
  CAIRN_REGISTRY_AUDIT_SIGNING_KEY: z.string().min(1).optional(),
  CAIRN_REGISTRY_AUDIT_SIGNING_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1 to 128 letters, digits or . _ : -')
    .optional(),
  CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS: z.string().min(1).optional(),
  CAIRN_REGISTRY_AUDIT_KEY_DIR: z.string().min(1).default('./.cairn/keys'),
});

export type AuditSettings = z.infer<typeof auditSettings>;

/** Signs checkpoints and knows every public key accepted when verifying them. */
export interface AuditSigner {
  readonly keyId: string;
  /** Ed25519 signature of `message`. */
  sign(message: Buffer): Buffer;
  /** Public keys by key id: this signer's own plus those configured for earlier keys. */
  readonly verificationKeys: ReadonlyMap<string, KeyObject>;
  /** Where the private key came from: `configured`, or the generated file's path. */
  readonly source: string;
}

const SERVICE = 'registry';
export const GENERATED_KEY_FILE = 'registry-audit-ed25519.pem';

function configError(setting: string, reason: string): ConfigError {
  return new ConfigError(SERVICE, [{ setting, reason }]);
}

function parseEd25519Private(pem: string, setting: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw configError(
      setting,
      `is not a PEM private key (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw configError(setting, `must be an Ed25519 key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return key;
}

function parsePublicKeys(raw: string | undefined): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  if (!raw) return keys;
  const setting = 'CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw configError(setting, 'must be a JSON object {"<key id>": "<public key PEM>"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw configError(setting, 'must be a JSON object {"<key id>": "<public key PEM>"}');
  }
  for (const [keyId, pem] of Object.entries(parsed)) {
    if (typeof pem !== 'string') throw configError(setting, `key "${keyId}" must be a PEM string`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: pem, format: 'pem' });
    } catch {
      throw configError(setting, `key "${keyId}" is not a PEM public key`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw configError(setting, `key "${keyId}" is not Ed25519`);
    keys.set(keyId, key);
  }
  return keys;
}

/** The checkpoint signer from settings; generates (once) a local key when none is configured. */
export function createAuditSigner(settings: AuditSettings): AuditSigner {
  const configured = settings.CAIRN_REGISTRY_AUDIT_SIGNING_KEY;
  let privateKey: KeyObject;
  let source: string;
  if (configured) {
    const setting = 'CAIRN_REGISTRY_AUDIT_SIGNING_KEY';
    let pem = configured;
    if (!configured.trimStart().startsWith('-----BEGIN')) {
      try {
        pem = readFileSync(configured, 'utf8');
      } catch (err) {
        throw configError(
          setting,
          `is neither a PEM nor a readable file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        );
      }
    }
    privateKey = parseEd25519Private(pem, setting);
    source = 'configured';
  } else {
    const setting = 'CAIRN_REGISTRY_AUDIT_KEY_DIR';
    source = path.resolve(settings.CAIRN_REGISTRY_AUDIT_KEY_DIR, GENERATED_KEY_FILE);
    privateKey = parseEd25519Private(loadOrGenerateEd25519Pem(source, setting, SERVICE), setting);
  }
  const publicKey = createPublicKey(privateKey);
  const keyId = settings.CAIRN_REGISTRY_AUDIT_SIGNING_KEY_ID ?? publicKeyId(publicKey);
  const verificationKeys = parsePublicKeys(settings.CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS);
  const other = verificationKeys.get(keyId);
  if (other && !other.equals(publicKey)) {
    throw configError(
      'CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS',
      `lists key id "${keyId}" with a different key than the signing key`,
    );
  }
  verificationKeys.set(keyId, publicKey);
  return {
    keyId,
    source,
    verificationKeys,
    sign: (message) => sign(null, message, privateKey),
  };
}

/** True when `signature` is a valid Ed25519 signature of `message` by `key`. */
export function verifySignature(key: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
