import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  type KafkaBusLogger,
  KafkaEventBus,
  type OutgoingMessage,
  type Subscription,
} from '@cairn/messaging';

/**
 * Benchmark of the Kafka adapter: sustained publish→consume throughput, and publish→handler
 * latency at a steady 1,000 events/s. Not a test: it returns the figures for the caller to print.
 *
 * Against librdkafka's mock cluster the latency is bounded below by the fetch long-poll: the
 * mock answers an empty fetch only after the full `maxWaitTimeMs`, even when data arrives
 * meanwhile (a real broker answers as soon as data is there), so the latency run uses a short
 * long-poll.
 */
export async function benchKafkaBus(
  brokers: string[],
  createTopic: (name: string, partitions: number) => Promise<void>,
): Promise<{ eventsPerSecond: number; p50Ms: number; p99Ms: number }> {
  const eventsPerSecond = await measureThroughput(brokers, createTopic);
  const { p50Ms, p99Ms } = await measureLatency(brokers, createTopic);
  return { eventsPerSecond, p50Ms, p99Ms };
}

const THROUGHPUT_EVENTS = 200_000;
const WARMUP_EVENTS = 10_000;
const PUBLISH_BATCH = 500;
/** Publishes in flight at once, as several outbox relays (one per service) would have. */
const PUBLISH_CONCURRENCY = 4;
const KEYS = 1_000;
const LATENCY_RATE_PER_S = 1_000;
const LATENCY_TICK_MS = 10;
const LATENCY_DURATION_MS = 10_000;
const DEADLINE_MS = 120_000;

const silent: KafkaBusLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', msg, ...obj })}\n`),
};

function newBus(brokers: string[], maxWaitTimeMs: number): KafkaEventBus {
  return new KafkaEventBus({
    brokers,
    clientId: 'cairn-kafka-bench',
    retry: { retries: 10, initialRetryTimeMs: 100, maxRetryTimeMs: 1_000 },
    consumer: {
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
      maxWaitTimeMs,
      rebalanceTimeoutMs: 10_000,
    },
    logger: silent,
    clientLogLevel: 'error',
  });
}

/** A CloudEvent-sized message (~450 bytes of JSON plus headers), as the outbox relay sends. */
function event(topic: string, i: number, sentAt?: number): OutgoingMessage {
  const id = randomUUID();
  const key = `run-${i % KEYS}`;
  return {
    topic,
    key,
    value: JSON.stringify({
      specversion: '1.0',
      id,
      source: 'cairn/tracking',
      type: 'cairn.tracking.metric.logged.v1',
      subject: key,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: { runId: key, key: 'val_loss', value: Math.random(), step: i, timestamp: Date.now(), sentAt },
    }),
    headers: {
      ce_id: id,
      ce_type: 'cairn.tracking.metric.logged.v1',
      traceparent: `00-${randomUUID().replace(/-/g, '')}-${randomUUID().replace(/-/g, '').slice(0, 16)}-01`,
    },
  };
}

async function until(what: string, done: () => boolean, deadlineMs = DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`benchmark: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function publishAll(bus: KafkaEventBus, topic: string, from: number, count: number): Promise<void> {
  let next = from;
  const end = from + count;
  const worker = async (): Promise<void> => {
    while (next < end) {
      const start = next;
      next = Math.min(end, next + PUBLISH_BATCH);
      const batch: OutgoingMessage[] = [];
      for (let i = start; i < next; i++) batch.push(event(topic, i));
      await bus.publish(batch);
    }
  };
  await Promise.all(Array.from({ length: PUBLISH_CONCURRENCY }, worker));
}

async function measureThroughput(
  brokers: string[],
  createTopic: (name: string, partitions: number) => Promise<void>,
): Promise<number> {
  const topic = `bench.throughput.${randomUUID().slice(0, 8)}`;
  await createTopic(topic, 6);
  const bus = newBus(brokers, 100);
  let sub: Subscription | undefined;
  try {
    let consumed = 0;
    sub = await bus.subscribe({
      groupId: `bench-${randomUUID()}`,
      topics: [topic],
      handleBatch: async (batch) => {
        consumed += batch.messages.length;
      },
    });
    const running = sub;
    await until('the consumer to join', () => running.running);
    // Warm-up: connections, metadata, JIT.
    await publishAll(bus, topic, 0, WARMUP_EVENTS);
    await until('the warm-up events', () => consumed >= WARMUP_EVENTS);

    const started = performance.now();
    await publishAll(bus, topic, WARMUP_EVENTS, THROUGHPUT_EVENTS);
    await until('every event', () => consumed >= WARMUP_EVENTS + THROUGHPUT_EVENTS);
    const seconds = (performance.now() - started) / 1000;
    return Math.round(THROUGHPUT_EVENTS / seconds);
  } finally {
    await sub?.stop();
    await bus.close();
  }
}

async function measureLatency(
  brokers: string[],
  createTopic: (name: string, partitions: number) => Promise<void>,
): Promise<{ p50Ms: number; p99Ms: number }> {
  const topic = `bench.latency.${randomUUID().slice(0, 8)}`;
  await createTopic(topic, 3);
  const bus = newBus(brokers, 5);
  let sub: Subscription | undefined;
  try {
    const latencies: number[] = [];
    sub = await bus.subscribe({
      groupId: `bench-${randomUUID()}`,
      topics: [topic],
      handleBatch: async (batch) => {
        const now = performance.now();
        for (const m of batch.messages) {
          const sentAt = (JSON.parse(m.value) as { data: { sentAt?: number } }).data.sentAt;
          if (sentAt !== undefined) latencies.push(now - sentAt);
        }
      },
    });
    const running = sub;
    await until('the consumer to join', () => running.running);

    // A steady rate: every tick publishes its share, scheduled against the start time so a slow
    // tick does not lower the rate.
    const perTick = (LATENCY_RATE_PER_S * LATENCY_TICK_MS) / 1000;
    const ticks = LATENCY_DURATION_MS / LATENCY_TICK_MS;
    const start = performance.now();
    const pending: Promise<void>[] = [];
    for (let t = 0; t < ticks; t++) {
      const due = start + t * LATENCY_TICK_MS;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const sentAt = performance.now();
      const batch = Array.from({ length: perTick }, (_, j) => event(topic, t * perTick + j, sentAt));
      pending.push(bus.publish(batch));
    }
    await Promise.all(pending);
    const total = ticks * perTick;
    await until('every timed event', () => latencies.length >= total);
    latencies.sort((a, b) => a - b);
    const pct = (p: number): number =>
      Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 10) / 10;
    return { p50Ms: pct(0.5), p99Ms: pct(0.99) };
  } finally {
    await sub?.stop();
    await bus.close();
  }
}
