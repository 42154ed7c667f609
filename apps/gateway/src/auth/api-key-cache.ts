import { createHmac, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { AUTH_CONFIG } from './auth.tokens';
import type { AuthConfig } from './auth.settings';

/** What a verified API key established. */
export interface VerifiedApiKey {
  keyId: string;
  principal: string;
  roles: string[];
  /** When the key itself expires (ms), if it does. */
  expiresAt: number | null;
}

const MAX_ENTRIES = 50_000;

/**
 * Verified API keys, remembered for `CAIRN_API_KEY_CACHE_MS` so that a client calling many
 * times a second costs one database read per key per interval instead of one per call (the
 * gateway's added latency is mostly that read). Entries are keyed by an HMAC of the whole token
 * under a per-process key, so the cache holds no usable secret and a wrong secret never hits.
 * This replica forgets a key at once when it revokes it, and a principal's keys when it changes
 * the principal's roles or deletes it; another replica's changes take effect here within the
 * interval. A key's own expiry is checked on every hit.
 */
@Injectable()
export class ApiKeyCache {
  private readonly hmacKey = randomBytes(32);
  private readonly entries: LRUCache<string, VerifiedApiKey> | undefined;

  constructor(@Inject(AUTH_CONFIG) config: AuthConfig) {
    this.entries =
      config.apiKeyCacheMs > 0 ? new LRUCache({ max: MAX_ENTRIES, ttl: config.apiKeyCacheMs }) : undefined;
  }

  private keyOf(token: string): string {
    return createHmac('sha256', this.hmacKey).update(token).digest('base64');
  }

  get(token: string, now = Date.now()): VerifiedApiKey | undefined {
    if (!this.entries) return undefined;
    const key = this.keyOf(token);
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt !== null && hit.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return hit;
  }

  remember(token: string, verified: VerifiedApiKey): void {
    this.entries?.set(this.keyOf(token), verified);
  }

  /** After a revocation. */
  forgetKey(keyId: string): void {
    this.forgetWhere((v) => v.keyId === keyId);
  }

  /** After a principal's roles change, or it is disabled or deleted. */
  forgetPrincipal(principal: string): void {
    this.forgetWhere((v) => v.principal === principal);
  }

  private forgetWhere(match: (v: VerifiedApiKey) => boolean): void {
    if (!this.entries) return;
    for (const [k, v] of this.entries.entries()) if (match(v)) this.entries.delete(k);
  }
}
