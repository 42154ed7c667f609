import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, positiveInt } from '@cairn/config';

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

/** The default key id: a fingerprint of the public key, stable across restarts. */
export function publicKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `ed25519:${createHash('sha256').update(der).digest('hex').slice(0, 16)}`;
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

/**
 * Reads the generated key, or creates it. The file is written under a temporary name and
 * hard-linked into place, so two processes starting together never see a half-written key and
 * agree on one of the two (the second link fails with EEXIST and that process reads the winner).
 */
function loadOrGenerateKey(dir: string): { key: KeyObject; file: string } {
  const file = path.resolve(dir, GENERATED_KEY_FILE);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const read = (): KeyObject | undefined => {
    let pem: string;
    try {
      const st = statSync(file);
      // Like ssh: a signing key others can read is not a secret any more; refuse, don't guess.
      if ((st.mode & 0o077) !== 0) {
        throw configError(
          'CAIRN_REGISTRY_AUDIT_KEY_DIR',
          `${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
        );
      }
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseEd25519Private(pem, 'CAIRN_REGISTRY_AUDIT_KEY_DIR');
  };
  const existing = read();
  if (existing) return { key: existing, file };
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, pem, { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600); // the umask may have narrowed the mode further, never widened; be exact
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  const key = read();
  if (!key) throw new Error(`could not create the audit signing key ${file}`);
  return { key, file };
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
    const generated = loadOrGenerateKey(settings.CAIRN_REGISTRY_AUDIT_KEY_DIR);
    privateKey = generated.key;
    source = generated.file;
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
