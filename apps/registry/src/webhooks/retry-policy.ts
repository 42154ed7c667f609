import type { SendOutcome } from './webhook-sender';

/*
 * What an attempt's outcome means for its delivery (MLflow retries 429, 500, 502, 503, 504 with
 * capped exponential backoff and honours Retry-After; Cairn retries every 5xx and network
 * errors too). The schedule is persisted as the delivery's next_attempt_at rather than run by
 * an in-process retry library, so that it survives restarts and moves between replicas; what
 * is left to compute is one capped power of two, written here.
 */

export interface RetryPolicy {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
}

export type Verdict =
  | { state: 'SUCCEEDED'; responseStatus: number }
  | { state: 'RETRY'; delayMs: number; responseStatus?: number; error: string }
  | { state: 'FAILED'; responseStatus?: number; error: string };

/**
 * The delay before attempt `attempt + 1`: base·2^(attempt−1), capped, with "equal jitter"
 * (half fixed, half random) so that deliveries failing together do not retry in lockstep.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const exp = Math.min(policy.backoffCapMs, policy.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/** Retry-After in seconds (the HTTP-date form is rare for webhooks and is ignored). */
function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,9}$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

const retryable = (status: number) => status === 429 || (status >= 500 && status <= 599);

/** The verdict on attempt number `attempt` (1-based), given what it got back. */
export function judgeAttempt(
  outcome: SendOutcome,
  attempt: number,
  policy: RetryPolicy,
  random = Math.random,
): Verdict {
  switch (outcome.kind) {
    case 'forbidden':
      return { state: 'FAILED', error: outcome.error };
    case 'network-error':
      return retryOrFail(undefined, outcome.error, attempt, policy, random);
    case 'response': {
      const status = outcome.status;
      if (status >= 200 && status <= 299) return { state: 'SUCCEEDED', responseStatus: status };
      const error = `HTTP ${status}${outcome.body ? `: ${outcome.body.slice(0, 500)}` : ''}`;
      if (!retryable(status)) return { state: 'FAILED', responseStatus: status, error };
      const verdict = retryOrFail(status, error, attempt, policy, random);
      const asked = retryAfterMs(outcome.retryAfter);
      if (verdict.state === 'RETRY' && asked !== undefined) {
        // The receiver's wish wins over the backoff, within the cap.
        return { ...verdict, delayMs: Math.min(policy.backoffCapMs, asked) };
      }
      return verdict;
    }
    default: {
      const unreachable: never = outcome;
      throw new Error(`unhandled outcome ${JSON.stringify(unreachable)}`);
    }
  }
}

function retryOrFail(
  responseStatus: number | undefined,
  error: string,
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
): Verdict {
  if (attempt >= policy.maxAttempts) {
    return { state: 'FAILED', responseStatus, error: `${error} (gave up after ${attempt} attempts)` };
  }
  return { state: 'RETRY', responseStatus, error, delayMs: backoffDelay(attempt, policy, random) };
}
