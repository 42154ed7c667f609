/** A named condition the service must meet before it takes traffic. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<ReadinessResult>;
}

export interface ReadinessResult {
  ok: boolean;
  detail?: string;
}

/**
 * What `/readyz` and the gRPC health service report. Features register their own checks
 * (database reachable, migrations applied, consumers running); shutdown flips everything to
 * not-ready first so load balancers stop sending traffic before the servers drain.
 */
export class ReadinessRegistry {
  private readonly checks = new Map<string, ReadinessCheck>();
  private draining = false;

  register(check: ReadinessCheck): void {
    this.checks.set(check.name, check);
  }

  markDraining(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async evaluate(timeoutMs = 2_000): Promise<{ ready: boolean; checks: Record<string, ReadinessResult> }> {
    const results: Record<string, ReadinessResult> = {};
    if (this.draining) results.shutdown = { ok: false, detail: 'draining' };
    await Promise.all(
      [...this.checks.values()].map(async (c) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          results[c.name] = await Promise.race([
            c.check(),
            new Promise<ReadinessResult>((resolve) => {
              timer = setTimeout(
                () => resolve({ ok: false, detail: `timed out after ${timeoutMs} ms` }),
                timeoutMs,
              );
            }),
          ]);
        } catch (err) {
          results[c.name] = { ok: false, detail: err instanceof Error ? err.message : String(err) };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return { ready: Object.values(results).every((r) => r.ok), checks: results };
  }
}
