import { type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { type ConfigIssue } from '@cairn/config';
import { DEFAULT_IDENTITY_TTL_SECONDS, MAX_IDENTITY_TTL_SECONDS } from './identity-token';
import { ed25519PublicKeyOf, pemOf, publicKeyId } from './local-key';

/**
 * What a service needs to verify identity tokens (merge into its settings schema).
 * `CAIRN_IDENTITY_PUBLIC_KEYS`: JSON object `{"<key id>": "<SPKI PEM>"}` of the gateway's public
 * keys, several during a rotation. Each key id is the key's fingerprint (`publicKeyId`). Keys are
 * checked by `IdentityVerifier.fromSettings`, so that a bad one is reported by the setting's name
 * and never echoed.
 */
export const identityVerifierSettings = z.object({
  CAIRN_IDENTITY_PUBLIC_KEYS: z.string().optional(),
});
export type IdentityVerifierSettings = z.infer<typeof identityVerifierSettings>;

/**
 * What the gateway needs to issue identity tokens.
 * - `CAIRN_IDENTITY_SIGNING_KEY`: the Ed25519 private key, PKCS#8 PEM (real newlines or `\n`
 *   escapes) or the path of a file holding it. The same on every gateway replica.
 * - `CAIRN_IDENTITY_KEY_DIR`: without a signing key (one gateway, embedded mode), the key is
 *   `<dir>/gateway-identity-ed25519.pem`, generated once (mode 0600).
 * - `CAIRN_IDENTITY_TOKEN_TTL_SECONDS`: token lifetime, 1 to 300, default 60.
 */
export const identityIssuerSettings = z.object({
  CAIRN_IDENTITY_SIGNING_KEY: z.string().optional(),
  CAIRN_IDENTITY_KEY_DIR: z.string().min(1).optional(),
  CAIRN_IDENTITY_TOKEN_TTL_SECONDS: z.coerce
    .number({ message: `must be an integer between 1 and ${MAX_IDENTITY_TTL_SECONDS}` })
    .int(`must be an integer between 1 and ${MAX_IDENTITY_TTL_SECONDS}`)
    .min(1, `must be an integer between 1 and ${MAX_IDENTITY_TTL_SECONDS}`)
    .max(MAX_IDENTITY_TTL_SECONDS, `must be an integer between 1 and ${MAX_IDENTITY_TTL_SECONDS}`)
    .default(DEFAULT_IDENTITY_TTL_SECONDS),
});
export type IdentityIssuerSettings = z.infer<typeof identityIssuerSettings>;

/** The file a generated gateway identity key lives in, inside CAIRN_IDENTITY_KEY_DIR. */
export const GENERATED_IDENTITY_KEY_FILE = 'gateway-identity-ed25519.pem';

const PUBLIC_KEYS_SHAPE = 'must be a JSON object {"<key id>": "<SPKI PEM Ed25519 public key>"}';

/**
 * The public keys in a CAIRN_IDENTITY_PUBLIC_KEYS value by key id, or the issues with it
 * (never echoing key material). Each key id must be the key's own fingerprint, since tokens
 * name their key by it: a mismatch would only surface later as IDENTITY_KEY_UNKNOWN.
 */
export function parseIdentityPublicKeys(
  raw: string | undefined,
  setting = 'CAIRN_IDENTITY_PUBLIC_KEYS',
): { keys: Map<string, KeyObject>; issues: ConfigIssue[] } {
  const keys = new Map<string, KeyObject>();
  const issues: ConfigIssue[] = [];
  if (raw === undefined || raw.trim() === '') return { keys, issues };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { keys, issues: [{ setting, reason: PUBLIC_KEYS_SHAPE }] };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { keys, issues: [{ setting, reason: PUBLIC_KEYS_SHAPE }] };
  }
  for (const [keyId, value] of Object.entries(parsed as Record<string, unknown>)) {
    const id = JSON.stringify(keyId.slice(0, 64));
    if (typeof value !== 'string') {
      issues.push({ setting, reason: `key ${id} must be a PEM string` });
      continue;
    }
    const key = ed25519PublicKeyOf(pemOf(value));
    if (typeof key === 'string') {
      issues.push({ setting, reason: `key ${id} ${key}` });
      continue;
    }
    const fingerprint = publicKeyId(key);
    if (keyId !== fingerprint) {
      issues.push({
        setting,
        reason: `key ${id} is the key ${fingerprint}; a key id is its key's fingerprint`,
      });
      continue;
    }
    keys.set(keyId, key);
  }
  return { keys, issues };
}
