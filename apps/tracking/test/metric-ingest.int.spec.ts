import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { DataSource } from 'typeorm';
import { type trackingV1 } from '@cairn/proto';
import { REASON_METADATA_KEY } from '@cairn/rpc';
import { startTracking, type TrackingHarness } from './tracking-harness';

/** Sends batches on one StreamMetrics call and resolves with the server's answer. */
function streamMetrics(
  h: TrackingHarness,
  batches: trackingV1.StreamMetricsRequest[],
): Promise<trackingV1.StreamMetricsResponse> {
  return new Promise((resolve, reject) => {
    const call = h.runClient.streamMetrics(new Metadata(), { deadline: Date.now() + 60_000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
    let i = 0;
    const pump = () => {
      while (i < batches.length) {
        if (!call.write(batches[i++])) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    pump();
  });
}

jest.setTimeout(120_000);

describe('metric ingestion under load (real Postgres)', () => {
  let h: TrackingHarness;
  let experimentId: string;

  beforeAll(async () => {
    h = await startTracking();
    experimentId = (await h.experiments.createExperiment({ name: 'load' })).experimentId;
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('10 concurrent writers to one run: no deadlock, no lost point, the right latest values', async () => {
    const runId = (await h.runs.createRun({ experimentId })).run!.info!.runId;
    const keys = Array.from({ length: 20 }, (_, k) => `m${k}`);
    // Every writer touches every key, in its own shuffled order: the classic deadlock setup.
    const writers = Array.from({ length: 10 }, async (_, w) => {
      for (let round = 0; round < 10; round++) {
        const order = [...keys].sort(() => Math.random() - 0.5);
        const metrics = order.flatMap((key) =>
          Array.from({ length: 5 }, (__, j) => ({
            key,
            value: w * 1000 + round * 10 + j,
            timestamp: round,
            step: w * 100 + round * 5 + j,
          })),
        );
        await h.runs.logBatch({
          runId,
          metrics,
          params: [{ key: 'shared', value: 'same' }],
          tags: [{ key: `writer-${w}`, value: String(round) }],
        });
      }
    });
    // And a stream writing to the same run at the same time.
    const streamed = streamMetrics(
      h,
      Array.from({ length: 20 }, (_, b) => ({
        runId,
        metrics: Array.from({ length: 500 }, (__, j) => ({
          key: 'streamed',
          value: j,
          timestamp: b,
          step: b * 500 + j,
        })),
      })),
    );
    await Promise.all(writers);
    expect((await streamed).pointsLogged).toBe(10_000);

    const rows = await h.svc.app
      .get(DataSource)
      .query<Array<{ key: string; n: string; max_step: string }>>(
        `SELECT key, count(*) AS n, max(step) AS max_step FROM tracking.metrics WHERE run_id = $1 GROUP BY key ORDER BY key`,
        [runId],
      );
    const counts = Object.fromEntries(rows.map((r) => [r.key, Number(r.n)]));
    for (const key of keys) expect(counts[key]).toBe(10 * 10 * 5);
    expect(counts.streamed).toBe(10_000);

    const { run } = await h.runs.getRun({ runId });
    const latest = Object.fromEntries(run!.data!.metrics.map((m) => [m.key, m]));
    // Greatest step: writer 9, round 9, j 4.
    for (const key of keys)
      expect(latest[key]).toMatchObject({ step: 9 * 100 + 9 * 5 + 4, value: 9 * 1000 + 90 + 4 });
    expect(latest.streamed).toMatchObject({ step: 19 * 500 + 499, value: 499 });
    expect(run!.data!.tags.filter((t) => t.key.startsWith('writer-'))).toHaveLength(10);
  });

  it('streams many points across runs and reports a bad point with how much was written', async () => {
    const a = (await h.runs.createRun({ experimentId })).run!.info!.runId;
    const b = (await h.runs.createRun({ experimentId })).run!.info!.runId;
    const batches = Array.from({ length: 100 }, (_, i) => ({
      runId: i % 2 === 0 ? a : b,
      metrics: Array.from({ length: 1000 }, (__, j) => ({
        key: 'loss',
        value: 1 / (j + 1),
        timestamp: i,
        step: i * 1000 + j,
      })),
    }));
    expect((await streamMetrics(h, batches)).pointsLogged).toBe(100_000);
    const history = await h.runs.getMetricHistory({ runId: a, metricKey: 'loss' });
    expect(history.metrics).toHaveLength(50_000);
    expect(history.metrics[0]).toMatchObject({ step: 0, value: 1 });
    for (let i = 1; i < history.metrics.length; i++) {
      expect(history.metrics[i].step).toBeGreaterThan(history.metrics[i - 1].step);
    }

    const err = (await streamMetrics(h, [
      { runId: a, metrics: [{ key: 'ok', value: 1, timestamp: 1, step: 1 }] },
      { runId: a, metrics: [{ key: 'bad$key', value: 1, timestamp: 1, step: 1 }] },
    ]).catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.metadata.get(REASON_METADATA_KEY)).toEqual(['INVALID_KEY']);

    const missing = (await streamMetrics(h, [
      { runId: 'f'.repeat(32), metrics: [{ key: 'ok', value: 1, timestamp: 1, step: 1 }] },
    ]).catch((e: unknown) => e)) as ServiceError;
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.details).toContain('0 points were written before');
  });
});
