import { Writable } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { createLogger } from './logger';
import { createMetricsRegistry } from './metrics';
import { ReadinessRegistry } from './readiness';
import { startTracing } from './tracing';

function capture(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, stream };
}

describe('logs', () => {
  it('are JSON lines with the service, and carry trace and span ids inside a span', () => {
    startTracing('test', { OTEL_TRACES_EXPORTER: 'none' });
    const { lines, stream } = capture();
    const log = createLogger('tracking', 'info', stream);
    log.info('outside');
    const tracer = trace.getTracer('test');
    let ids: { traceId: string; spanId: string } | undefined;
    tracer.startActiveSpan('work', (span) => {
      ids = span.spanContext();
      log.info({ password: 'hunter2' }, 'inside');
      span.end();
    });
    expect(lines[0]).toMatchObject({ level: 'info', service: 'tracking', msg: 'outside' });
    expect(lines[0].trace_id).toBeUndefined();
    expect(lines[1]).toMatchObject({ trace_id: ids!.traceId, span_id: ids!.spanId, password: '[redacted]' });
    expect(ids!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(ids!.traceId).not.toBe('0'.repeat(32));
  });
});

describe('readiness', () => {
  it('is ready only when every check passes, reporting each', async () => {
    const r = new ReadinessRegistry();
    r.register({ name: 'database', check: async () => ({ ok: true }) });
    expect(await r.evaluate()).toEqual({ ready: true, checks: { database: { ok: true } } });
    r.register({
      name: 'consumers',
      check: async () => {
        throw new Error('consumer group rebalancing');
      },
    });
    expect(await r.evaluate()).toEqual({
      ready: false,
      checks: { database: { ok: true }, consumers: { ok: false, detail: 'consumer group rebalancing' } },
    });
  });

  it('fails a check that hangs, after the timeout', async () => {
    const r = new ReadinessRegistry();
    r.register({ name: 'stuck', check: () => new Promise(() => undefined) });
    const result = await r.evaluate(50);
    expect(result.ready).toBe(false);
    expect(result.checks.stuck).toEqual({ ok: false, detail: 'timed out after 50 ms' });
  });

  it('turns not-ready while draining', async () => {
    const r = new ReadinessRegistry();
    r.register({ name: 'database', check: async () => ({ ok: true }) });
    r.markDraining();
    expect(await r.evaluate()).toMatchObject({
      ready: false,
      checks: { shutdown: { ok: false, detail: 'draining' } },
    });
  });
});

describe('metrics', () => {
  it('label every series with the service', async () => {
    const text = await createMetricsRegistry('monitor').metrics();
    expect(text).toMatch(/^process_resident_memory_bytes\{service="monitor"\} \d+/m);
  });
});
