import { AppError } from '@cairn/rpc';
import { PrincipalRateLimiter } from './rate-limit';

async function refusal(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected the call to be refused');
}

describe('per-principal rate limits', () => {
  it('admits the rate plus the burst, then refuses with RATE_LIMITED and when to retry', async () => {
    const limiter = new PrincipalRateLimiter({ perSecond: 3, burst: 2 });
    for (let i = 0; i < 5; i++) await limiter.take('user:alice');
    const refused = await refusal(limiter.take('user:alice'));
    expect([refused.kind, refused.reason]).toEqual(['resource_exhausted', 'RATE_LIMITED']);
    expect(Number(refused.details.retryAfterMs)).toBeGreaterThan(0);
    expect(Number(refused.details.retryAfterMs)).toBeLessThanOrEqual(10_000);
  });

  it('counts each principal on its own', async () => {
    const limiter = new PrincipalRateLimiter({ perSecond: 1, burst: 0 });
    await limiter.take('user:alice');
    await expect(limiter.take('user:alice')).rejects.toBeInstanceOf(AppError);
    await expect(limiter.take('user:bob')).resolves.toBeUndefined();
  });
});
