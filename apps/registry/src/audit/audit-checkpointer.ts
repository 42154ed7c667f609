import type { AuditCheckpoint, AuditLog } from './audit-log';

/**
 * Checkpoints the audit head every `intervalMs`: the interval bounds how much of the tail an
 * attacker with database access could remove undetected. Runs are chained with setTimeout so
 * they never overlap; a failed run is reported and the next one tries again. Several replicas
 * may run it: AuditLog.checkpoint() skips an unmoved head and keeps one checkpoint per seq.
 */
export class AuditCheckpointer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;

  constructor(
    private readonly log: Pick<AuditLog, 'checkpoint'>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly onCheckpoint: (cp: AuditCheckpoint) => void = () => undefined,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Checkpoints now (unless the head is already checkpointed). */
  async runOnce(): Promise<AuditCheckpoint | null> {
    const cp = await this.log.checkpoint();
    if (cp) this.onCheckpoint(cp);
    return cp;
  }

  /**
   * Stops the timer, waits for a run in progress, then takes a last checkpoint so entries
   * written since the previous one are anchored too (before the database pool closes).
   */
  async stop(finalCheckpoint = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    if (finalCheckpoint) await this.runOnce().catch(this.onError);
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .catch(this.onError)
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule();
        });
    }, this.intervalMs);
    // A pending checkpoint must not keep a process alive that is otherwise done.
    this.timer.unref();
  }
}
