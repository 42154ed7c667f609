import { createHmac, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { dummyPasswordHash, verifyPassword } from './password-hash';

/** How long a verified password is remembered, and for how many users at most. */
const CACHE_TTL_MS = 10 * 60_000;
const CACHE_MAX = 10_000;

/**
 * Verifies HTTP Basic passwords against stored scrypt hashes at the same cost whether the user
 * exists or not, and remembers successful verifications so that an MLflow client, which sends
 * Basic credentials on every request, pays for scrypt once rather than per call.
 *
 * The cache maps HMAC(per-process key, principal + password) to the stored hash it matched;
 * a hit counts only while that is still the stored hash, so a password change takes effect at
 * once. Only correct passwords are cached: a wrong one always costs a full scrypt.
 */
@Injectable()
export class PasswordVerifier {
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, { hash: string; until: number }>();
  private readonly dummy: Promise<string>;

  constructor() {
    // Made up front, so the first unknown user does not pay for making it.
    this.dummy = dummyPasswordHash();
    this.dummy.catch(() => undefined);
  }

  /** Whether `password` is right for a principal whose stored hash is `stored` (null: none). */
  async verify(principal: string, password: string, stored: string | null): Promise<boolean> {
    const key = createHmac('sha256', this.cacheKey)
      .update(principal)
      .update('\0')
      .update(password)
      .digest('base64');
    const hit = this.verified.get(key);
    if (hit && stored !== null && hit.hash === stored && hit.until > Date.now()) return true;
    // Unknown users and users without a password cost the same scrypt as a wrong password.
    const ok = await verifyPassword(password, stored ?? (await this.dummy));
    if (!ok || stored === null) return false;
    this.remember(key, stored);
    return true;
  }

  private remember(key: string, hash: string): void {
    this.verified.delete(key);
    if (this.verified.size >= CACHE_MAX) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(key, { hash, until: Date.now() + CACHE_TTL_MS });
  }
}
