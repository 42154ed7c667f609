import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { DataSource } from 'typeorm';
import {
  createMessagingTablesSql,
  type EventBus,
  EventConsumer,
  type EventParser,
  OutboxRelay,
  type OutboxRecord,
  UnitOfWork,
} from '@cairn/messaging';

/**
 * The whole backbone as a service uses it: a unit of work commits state and events, the
 * outbox relay publishes them, the bus delivers them, and an idempotent consumer (inbox
 * record in the same transaction as its effect) handles them. Measures:
 * - commit-to-handler latency at a steady 1,000 events/s (10 events per unit of work every
 *   10 ms), from the commit's acknowledgement to the handler being called;
 * - sustained end-to-end throughput: units of work of 100 events from 4 writers until the
 *   consumer has applied every event.
 */
const TYPE = 'cairn.bench.thing.happened.v1';
const RATE_PER_S = 1_000;
const TICK_MS = 10;
const LATENCY_SECONDS = 10;
const THROUGHPUT_EVENTS = 50_000;
const THROUGHPUT_UOW = 100;
const WRITERS = 4;
const KEYS = 97;
const POLL_MS = 5;

const parse: EventParser = (value) => {
  const env = JSON.parse(value) as { id: string; type: string; subject: string; data: { seq: number } };
  return { ok: true, event: { id: env.id, type: env.type, subject: env.subject, data: env.data } };
};

function record(topic: string, seq: number): OutboxRecord {
  const id = randomUUID();
  const key = `model-${seq % KEYS}`;
  return {
    id,
    topic,
    type: TYPE,
    aggregateType: 'model',
    aggregateId: key,
    payload: JSON.stringify({
      specversion: '1.0',
      id,
      source: '/cairn/bench',
      type: TYPE,
      time: new Date().toISOString(),
      subject: key,
      datacontenttype: 'application/json',
      data: { seq, note: 'x'.repeat(200) },
    }),
  };
}

async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const pct = (sorted: number[], p: number) =>
  Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] * 100) / 100;

export interface BackboneFigures {
  commitToHandlerP50Ms: number;
  commitToHandlerP99Ms: number;
  eventsPerSecond: number;
}

/**
 * Runs on database `url` (schemas `bench_producer` / `bench_consumer` are created there) with
 * `newBus` building the adapter under test; `createTopic` provisions a topic on it.
 */
export async function benchBackbone(
  url: string,
  newBus: () => EventBus,
  createTopic: (name: string, partitions: number) => Promise<void>,
): Promise<BackboneFigures> {
  const suffix = randomUUID().slice(0, 8);
  const producer = `bench_producer_${suffix}`;
  const consumer = `bench_consumer_${suffix}`;
  const ds = new DataSource({ type: 'postgres', url, extra: { max: 16 } });
  await ds.initialize();
  const logger = pino({ level: 'warn' });
  const bus = newBus();
  const stops: Array<() => Promise<void>> = [];
  try {
    for (const schema of [producer, consumer]) {
      await ds.query(`CREATE SCHEMA "${schema}"`);
      for (const sql of createMessagingTablesSql(schema)) await ds.query(sql);
    }
    await ds.query(`CREATE TABLE "${consumer}".effects (event_id uuid PRIMARY KEY, seq int NOT NULL)`);
    const relay = new OutboxRelay({ ds, url, schema: producer, bus, logger });
    relay.start();
    stops.push(() => relay.stop());
    const uow = new UnitOfWork(ds, producer);

    const run = async (topic: string, onEvent: (seq: number) => void) => {
      const c = new EventConsumer({
        bus,
        ds,
        schema: consumer,
        groupId: `bench-${randomUUID()}`,
        topics: [topic],
        parse,
        logger,
        handlers: {
          [TYPE]: async (event, tx) => {
            const seq = (event.data as { seq: number }).seq;
            onEvent(seq);
            await tx.manager.query(`INSERT INTO "${consumer}".effects (event_id, seq) VALUES ($1, $2)`, [
              event.id,
              seq,
            ]);
          },
        },
      });
      await c.start();
      stops.push(() => c.stop());
      await until('the consumer to run', () => c.running, 60_000);
    };

    // Latency at a fixed rate.
    const latencyTopic = `bench.backbone.latency.${suffix}`;
    await createTopic(latencyTopic, 4);
    const perTick = (RATE_PER_S * TICK_MS) / 1000;
    const total = perTick * ((LATENCY_SECONDS * 1000) / TICK_MS);
    const committed = new Float64Array(total);
    const handled = new Float64Array(total);
    let seen = 0;
    await run(latencyTopic, (seq) => {
      if (handled[seq] === 0) {
        handled[seq] = performance.now();
        seen++;
      }
    });
    const start = performance.now();
    const inFlight: Array<Promise<void>> = [];
    for (let tick = 0, seq = 0; seq < total; tick++) {
      const wait = start + tick * TICK_MS - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const first = seq;
      seq += perTick;
      inFlight.push(
        uow
          .run(async (tx) => {
            for (let i = first; i < first + perTick; i++) tx.emit(record(latencyTopic, i));
          })
          .then(() => {
            committed.fill(performance.now(), first, first + perTick);
          }),
      );
    }
    await Promise.all(inFlight);
    await until('every latency event', () => seen >= total, 120_000);
    // An event can reach the handler before the committing call's promise resolves: 0 ms then.
    const latencies = Array.from(handled, (h, i) => Math.max(0, h - committed[i])).sort((a, b) => a - b);

    // Sustained throughput.
    const tpTopic = `bench.backbone.throughput.${suffix}`;
    await createTopic(tpTopic, 8);
    let applied = 0;
    await run(tpTopic, () => applied++);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < THROUGHPUT_EVENTS) {
          const first = next;
          next += THROUGHPUT_UOW;
          await uow.run(async (tx) => {
            for (let i = first; i < first + THROUGHPUT_UOW; i++) tx.emit(record(tpTopic, i));
          });
        }
      }),
    );
    await until('every throughput event', () => applied >= THROUGHPUT_EVENTS, 300_000);
    const seconds = (performance.now() - t0) / 1000;
    return {
      commitToHandlerP50Ms: pct(latencies, 50),
      commitToHandlerP99Ms: pct(latencies, 99),
      eventsPerSecond: Math.round(THROUGHPUT_EVENTS / seconds),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await bus.close().catch(() => undefined);
    for (const schema of [producer, consumer]) await ds.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await ds.destroy();
  }
}
