import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  type BusLogger,
  type IncomingMessage,
  type OutgoingMessage,
  PostgresEventBus,
  type Subscription,
} from '@cairn/messaging';

/** Sizes chosen to look like Cairn's traffic: CloudEvents of ~400 bytes, relay batches of a few hundred. */
const THROUGHPUT_EVENTS = 200_000;
const THROUGHPUT_BATCH = 250;
const THROUGHPUT_PUBLISHERS = 4;
const LATENCY_RATE_PER_S = 1_000;
const LATENCY_TICK_MS = 10;
const LATENCY_SECONDS = 10;
const PARTITIONS = 4;

const describe = (obj: object) => {
  const err = (obj as { err?: unknown }).err;
  return err instanceof Error ? err.message : JSON.stringify(obj);
};
const logger: BusLogger = {
  warn: (obj, msg) => console.warn(`${msg}: ${describe(obj)}`),
  error: (obj, msg) => console.error(`${msg}: ${describe(obj)}`),
};

function event(topic: string, seq: number): OutgoingMessage {
  const id = randomUUID();
  const key = `model-${seq % 97}`;
  return {
    topic,
    key,
    value: JSON.stringify({
      specversion: '1.0',
      id,
      source: '/cairn/bench',
      type: 'cairn.bench.event.emitted.v1',
      time: new Date().toISOString(),
      subject: key,
      datacontenttype: 'application/json',
      data: { seq, runId: randomUUID(), metrics: { accuracy: 0.93, loss: 0.21 }, note: 'x'.repeat(80) },
    }),
    headers: {
      ce_id: id,
      ce_type: 'cairn.bench.event.emitted.v1',
      traceparent: `00-${randomUUID().replace(/-/g, '')}-${randomUUID().replace(/-/g, '').slice(0, 16)}-01`,
    },
  };
}

const seqOf = (m: IncomingMessage) => (JSON.parse(m.value) as { data: { seq: number } }).data.seq;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Measures the Postgres bus on the database at `url` (its `bus` schema is created if needed;
 * the bench's topics are removed afterwards):
 * - eventsPerSecond: sustained end-to-end throughput, 4 publishers sending batches of 250
 *   events to a 4-partition topic while one consumer group reads it, from the first publish
 *   until the consumer has handled all 200 000;
 * - p50Ms / p99Ms: latency from publish() resolving (the commit is acknowledged) to the
 *   handler receiving the event, at a steady 1 000 events/s (10 events every 10 ms) for 10 s.
 *   An event the handler sees before publish()'s acknowledgement reaches the publisher
 *   counts as 0 ms.
 */
export async function benchPostgresBus(
  url: string,
): Promise<{ eventsPerSecond: number; p50Ms: number; p99Ms: number }> {
  const bus = new PostgresEventBus({ connection: url, pruneIntervalMs: 0, logger });
  const topics = [
    `bench.throughput.${randomUUID().slice(0, 8)}`,
    `bench.latency.${randomUUID().slice(0, 8)}`,
  ];
  const subs: Subscription[] = [];
  try {
    await bus.ensureTopics(topics.map((name) => ({ name, partitions: PARTITIONS })));
    const eventsPerSecond = await throughput(bus, topics[0], subs);
    const { p50Ms, p99Ms } = await latency(bus, topics[1], subs);
    return { eventsPerSecond, p50Ms, p99Ms };
  } finally {
    await Promise.all(subs.map((s) => s.stop()));
    await bus.pool.query(`DELETE FROM bus.messages WHERE topic = ANY($1::text[])`, [topics]);
    await bus.pool.query(`DELETE FROM bus.topics WHERE name = ANY($1::text[])`, [topics]);
    await bus.close();
  }
}

async function throughput(bus: PostgresEventBus, topic: string, subs: Subscription[]): Promise<number> {
  // Built beforehand so that the measurement is the bus, not JSON.stringify.
  const batches: OutgoingMessage[][] = [];
  for (let i = 0; i < THROUGHPUT_EVENTS; i += THROUGHPUT_BATCH) {
    batches.push(Array.from({ length: THROUGHPUT_BATCH }, (_, j) => event(topic, i + j)));
  }
  let received = 0;
  subs.push(
    await bus.subscribe({
      groupId: `bench-${randomUUID()}`,
      topics: [topic],
      maxBatchSize: 1_000,
      handleBatch: async (batch) => {
        received += batch.messages.length;
      },
    }),
  );
  const start = performance.now();
  let next = 0;
  let publishedAt = 0;
  await Promise.all(
    Array.from({ length: THROUGHPUT_PUBLISHERS }, async () => {
      while (next < batches.length) await bus.publish(batches[next++]);
      publishedAt = performance.now();
    }),
  );
  await until('the consumer to catch up', () => received >= THROUGHPUT_EVENTS, 300_000);
  const elapsedS = (performance.now() - start) / 1000;
  console.log(
    `bench: published ${THROUGHPUT_EVENTS} in ${((publishedAt - start) / 1000).toFixed(2)} s ` +
      `(${Math.round(THROUGHPUT_EVENTS / ((publishedAt - start) / 1000))}/s), consumed all in ${elapsedS.toFixed(2)} s`,
  );
  return Math.round(THROUGHPUT_EVENTS / elapsedS);
}

async function latency(
  bus: PostgresEventBus,
  topic: string,
  subs: Subscription[],
): Promise<{ p50Ms: number; p99Ms: number }> {
  const perTick = (LATENCY_RATE_PER_S * LATENCY_TICK_MS) / 1000;
  const total = (perTick * (LATENCY_SECONDS * 1000)) / LATENCY_TICK_MS;
  const sent = new Float64Array(total);
  const acked = new Float64Array(total);
  const seen = new Float64Array(total);
  let received = 0;
  subs.push(
    await bus.subscribe({
      groupId: `bench-${randomUUID()}`,
      topics: [topic],
      startFrom: 'latest',
      handleBatch: async (batch) => {
        const now = performance.now();
        for (const m of batch.messages) seen[seqOf(m)] = now;
        received += batch.messages.length;
      },
    }),
  );
  const start = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let tick = 0, seq = 0; seq < total; tick++) {
    // Paced against the absolute schedule so that slow ticks do not lower the rate.
    const due = start + tick * LATENCY_TICK_MS;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const batch = Array.from({ length: perTick }, (_, j) => event(topic, seq + j));
    const first = seq;
    seq += perTick;
    sent.fill(performance.now(), first, first + perTick);
    inFlight.push(
      bus.publish(batch).then(() => {
        const now = performance.now();
        for (let j = 0; j < perTick; j++) acked[first + j] = now;
      }),
    );
  }
  await Promise.all(inFlight);
  await until('every latency event', () => received >= total, 60_000);
  const latencies = Array.from(seen, (s, i) => Math.max(0, s - acked[i])).sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  const fromSend = Array.from(seen, (s, i) => s - sent[i]).sort((a, b) => a - b);
  const early = Array.from(seen, (s, i) => (s < acked[i] ? 1 : 0)).reduce<number>((a, b) => a + b, 0);
  console.log(
    `bench: latency at ${LATENCY_RATE_PER_S}/s: from publish() call p50 ${round(percentile(fromSend, 50))} ms, ` +
      `p99 ${round(percentile(fromSend, 99))} ms; ${early} of ${total} handled before publish() resolved`,
  );
  return { p50Ms: round(percentile(latencies, 50)), p99Ms: round(percentile(latencies, 99)) };
}
