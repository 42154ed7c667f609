import { backoffDelay, judgeAttempt, type RetryPolicy } from './retry-policy';

const policy: RetryPolicy = { maxAttempts: 4, backoffBaseMs: 1000, backoffCapMs: 5000 };
const noJitter = () => 1;
const response = (status: number, retryAfter?: string) =>
  ({ kind: 'response', status, body: 'nope', retryAfter }) as const;

describe('webhook retry policy', () => {
  it('doubles the delay per attempt up to the cap, jittered within its upper half', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, policy, noJitter))).toEqual([
      1000, 2000, 4000, 5000, 5000,
    ]);
    expect(backoffDelay(2, policy, () => 0)).toBe(1000);
  });

  it('succeeds on any 2xx', () => {
    expect(judgeAttempt(response(200), 1, policy)).toEqual({ state: 'SUCCEEDED', responseStatus: 200 });
    expect(judgeAttempt(response(204), 3, policy)).toEqual({ state: 'SUCCEEDED', responseStatus: 204 });
  });

  it.each([429, 500, 502, 503, 504, 599])('retries %i until the last attempt, then fails', (status) => {
    expect(judgeAttempt(response(status), 1, policy, noJitter)).toMatchObject({
      state: 'RETRY',
      delayMs: 1000,
      responseStatus: status,
    });
    expect(judgeAttempt(response(status), 4, policy, noJitter)).toMatchObject({
      state: 'FAILED',
      responseStatus: status,
      error: expect.stringContaining('gave up after 4 attempts'),
    });
  });

  it('retries network errors', () => {
    expect(judgeAttempt({ kind: 'network-error', error: 'ECONNREFUSED' }, 2, policy, noJitter)).toEqual({
      state: 'RETRY',
      delayMs: 2000,
      responseStatus: undefined,
      error: 'ECONNREFUSED',
    });
  });

  it.each([301, 400, 401, 403, 404, 410, 422])('fails %i at once (permanent)', (status) => {
    expect(judgeAttempt(response(status), 1, policy)).toMatchObject({
      state: 'FAILED',
      responseStatus: status,
    });
  });

  it('never retries a forbidden destination', () => {
    expect(judgeAttempt({ kind: 'forbidden', error: 'loopback' }, 1, policy)).toEqual({
      state: 'FAILED',
      error: 'loopback',
    });
  });

  it('honours Retry-After in seconds, within the cap', () => {
    expect(judgeAttempt(response(429, '2'), 1, policy)).toMatchObject({ state: 'RETRY', delayMs: 2000 });
    expect(judgeAttempt(response(503, '3600'), 1, policy)).toMatchObject({ state: 'RETRY', delayMs: 5000 });
    expect(judgeAttempt(response(503, 'Wed, 21 Oct 2015 07:28:00 GMT'), 1, policy, noJitter)).toMatchObject({
      delayMs: 1000,
    });
  });
});
