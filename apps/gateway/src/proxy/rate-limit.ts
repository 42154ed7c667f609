import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '@cairn/rpc';

export interface RateLimit {
  /** Sustained calls per second per principal. */
  perSecond: number;
  /** Extra calls a principal may make at once above the sustained rate, over ten seconds. */
  burst: number;
}

/**
 * Per-principal call limits at the gateway (rate-limiter-flexible): a sustained rate plus a
 * burst allowance. Counted per gateway replica, in memory: N replicas admit up to N times the
 * rate, which keeps a shared store off every call's path. A stream counts as one call.
 */
export class PrincipalRateLimiter {
  private readonly limiter: BurstyRateLimiter;

  constructor(limit: RateLimit) {
    this.limiter = new BurstyRateLimiter(
      new RateLimiterMemory({ keyPrefix: 'rate', points: limit.perSecond, duration: 1 }),
      new RateLimiterMemory({ keyPrefix: 'burst', points: limit.burst, duration: 10 }),
    );
  }

  /** Counts one call of `principal`; RESOURCE_EXHAUSTED / RATE_LIMITED when over its limit. */
  async take(principal: string): Promise<void> {
    try {
      await this.limiter.consume(principal);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const retryAfterMs = Math.max(1, Math.ceil(err.msBeforeNext));
      throw new AppError(
        'resource_exhausted',
        'RATE_LIMITED',
        `Too many calls from ${principal}; retry in ${retryAfterMs} ms.`,
        { retryAfterMs: String(retryAfterMs) },
      );
    }
  }
}
