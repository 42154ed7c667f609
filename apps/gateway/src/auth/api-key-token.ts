import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/*
 * API key tokens: `cairn_<key id>_<secret>`.
 * - key id: 16 lower-case hex characters (64 random bits), public: listed, logged, the lookup key;
 * - secret: 32 random bytes in base64url (43 characters), never stored: the database keeps its
 *   SHA-256. A slow hash would add nothing against 256 random bits, and keeps authentication
 *   to one primary-key read.
 * The prefix makes leaked keys easy to spot (secret scanners) and to tell from JWTs.
 */

export const API_KEY_PREFIX = 'cairn_';
const KEY_ID_HEX = 16;
const SECRET_BYTES = 32;
const TOKEN = /^cairn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface ApiKeyToken {
  keyId: string;
  secret: string;
}

export function newApiKeyToken(): ApiKeyToken & { token: string } {
  const keyId = randomBytes(KEY_ID_HEX / 2).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { keyId, secret, token: `${API_KEY_PREFIX}${keyId}_${secret}` };
}

/** True when the bearer token claims to be an API key (it may still be malformed). */
export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/** The key id and secret of a well-formed token; undefined otherwise. */
export function parseApiKeyToken(token: string): ApiKeyToken | undefined {
  const m = TOKEN.exec(token);
  return m ? { keyId: m[1], secret: m[2] } : undefined;
}

export function hashApiKeySecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant-time comparison of a presented secret with the stored hash. */
export function apiKeySecretMatches(secret: string, storedSha256: Buffer): boolean {
  const presented = hashApiKeySecret(secret);
  return storedSha256.length === presented.length && timingSafeEqual(presented, storedSha256);
}

/** A well-formed key id (what RevokeApiKey and the repository accept). */
export function isKeyId(value: string): boolean {
  return /^[0-9a-f]{16}$/.test(value);
}
