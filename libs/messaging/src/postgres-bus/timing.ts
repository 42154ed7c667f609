/** Resolves after `ms`, or as soon as the signal aborts (never rejects). */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Capped exponential backoff: initial, 2×initial, 4×initial, … up to max. */
export function backoffMs(attempt: number, retry: { initialMs: number; maxMs: number }): number {
  return Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
}

/**
 * A level-triggered wake-up: `wake()` before `wait()` is not lost (the flag stays set until the
 * next `wait()` consumes it), which closes the race between "fetched nothing" and "a NOTIFY
 * arrived while fetching".
 */
export class Waker {
  private pending = false;
  private release: (() => void) | undefined;

  wake(): void {
    this.pending = true;
    const r = this.release;
    this.release = undefined;
    r?.();
  }

  /** Clears a pending wake-up, so that the next wait() only returns on a newer one. */
  clear(): void {
    this.pending = false;
  }

  wait(signal: AbortSignal, timeoutMs: number): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.release === done) this.release = undefined;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.release = done;
    });
  }
}
