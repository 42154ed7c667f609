import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase, waitFor } from '@cairn/testing';
import type { EventBus, IncomingMessage, MessageBatch, OutgoingMessage } from '../src/event-bus.port';
import { type EventParser, EventConsumer } from '../src/consumer/event-consumer';
import { dlqTopic, replayDeadLetters } from '../src/consumer/dead-letters';
import { createMessagingTablesSql } from '../src/outbox/messaging-tables';
import { OutboxRelay } from '../src/outbox/outbox-relay';
import { type OutboxRecord, UnitOfWork } from '../src/outbox/unit-of-work';

/**
 * The event backbone end to end — unit of work → outbox → relay → bus → idempotent consumer —
 * run against each real bus adapter. Covers the failure cases the services rely on.
 */
export interface BackboneFixture {
  /** A new bus instance (a new process, in effect) on the shared backend. */
  newBus(): Promise<EventBus>;
  createTopic(name: string, partitions: number): Promise<void>;
  /** Takes the whole backend down and up again, where the adapter allows it (Kafka mock). */
  outage?: { down(): Promise<void>; up(): Promise<void> };
}

const TYPE = 'cairn.test.thing.happened.v1';
const spans = new InMemorySpanExporter();
new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).register();
const silent = pino({ level: 'silent' });

/** The test catalog: one event type, data {seq: integer}; a real service uses the contracts library. */
const parse: EventParser = (value) => {
  let env: { id?: unknown; type?: unknown; subject?: unknown; data?: { seq?: unknown } };
  try {
    env = JSON.parse(value) as typeof env;
  } catch {
    return { ok: false, reason: 'INVALID_ENVELOPE', message: 'not JSON' };
  }
  if (typeof env.id !== 'string' || typeof env.type !== 'string') {
    return { ok: false, reason: 'INVALID_ENVELOPE', message: 'id and type are required' };
  }
  if (env.type !== TYPE) {
    return env.type.startsWith('cairn.test.thing.happened.')
      ? { ok: false, reason: 'UNSUPPORTED_VERSION', message: `unknown version ${env.type}` }
      : { ok: true, event: { id: env.id, type: env.type, data: env.data } };
  }
  if (!Number.isInteger(env.data?.seq))
    return { ok: false, reason: 'INVALID_DATA', message: 'data.seq must be an integer' };
  return { ok: true, event: { id: env.id, type: env.type, subject: String(env.subject), data: env.data } };
};

function thing(topic: string, key: string, seq: number, id = randomUUID()): OutboxRecord {
  return {
    id,
    topic,
    type: TYPE,
    aggregateType: 'thing',
    aggregateId: key,
    payload: JSON.stringify({
      specversion: '1.0',
      id,
      type: TYPE,
      source: '/test',
      subject: key,
      data: { seq },
    }),
  };
}

/** A bus that behaves like `bus` except for the given methods (failure injection). */
function decorate(bus: EventBus, overrides: Partial<Pick<EventBus, 'publish' | 'subscribe'>>): EventBus {
  return {
    kind: bus.kind,
    ensureTopics: (t) => bus.ensureTopics(t),
    publish: overrides.publish ?? ((m) => bus.publish(m)),
    subscribe: overrides.subscribe ?? ((o) => bus.subscribe(o)),
    resetOffsets: (g, t, to) => bus.resetOffsets(g, t, to),
    lag: (g, t) => bus.lag(g, t),
    close: () => bus.close(),
  };
}

export function describeBackboneContract(name: string, fixture: () => BackboneFixture): void {
  describe(`event backbone: ${name}`, () => {
    let db: TestDatabase;
    let ds: DataSource;
    const cleanups: Array<() => Promise<void>> = [];

    beforeAll(async () => {
      db = await createTestDatabase('backbone');
      ds = new DataSource({ type: 'postgres', url: db.url, extra: { max: 20 } });
      await ds.initialize();
      for (const schema of ['producer', 'consumer']) {
        await ds.query(`CREATE SCHEMA ${schema}`);
        for (const sql of createMessagingTablesSql(schema)) await ds.query(sql);
      }
      await ds.query(
        'CREATE TABLE consumer.effects (n bigserial PRIMARY KEY, event_id uuid NOT NULL, key text NOT NULL, seq int NOT NULL)',
      );
    });
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });
    afterAll(async () => {
      await ds?.destroy();
      await db?.drop();
    });

    const topicName = () => `backbone.${randomUUID().slice(0, 8)}`;

    async function relayOn(bus: EventBus, metrics?: Registry): Promise<OutboxRelay> {
      const relay = new OutboxRelay({
        ds,
        url: db.url,
        schema: 'producer',
        bus,
        logger: silent,
        metrics,
        pollIntervalMs: 200,
      });
      relay.start();
      cleanups.push(() => relay.stop());
      return relay;
    }

    async function consumerOn(
      bus: EventBus,
      topic: string,
      opts: {
        groupId?: string;
        fail?: (seq: number) => boolean;
        maxAttempts?: number;
        delayMs?: number;
        metrics?: Registry;
      } = {},
    ): Promise<{ consumer: EventConsumer; calls: number[] }> {
      const calls: number[] = [];
      const consumer = new EventConsumer({
        bus,
        ds,
        schema: 'consumer',
        groupId: opts.groupId ?? `g-${randomUUID()}`,
        topics: [topic],
        parse,
        logger: silent,
        metrics: opts.metrics,
        maxAttempts: opts.maxAttempts ?? 3,
        backoff: { initialMs: 10, maxMs: 50 },
        handlers: {
          [TYPE]: async (event, tx) => {
            const seq = (event.data as { seq: number }).seq;
            calls.push(seq);
            if (opts.fail?.(seq)) throw new Error(`cannot handle seq ${seq}`);
            if (opts.delayMs) await tx.manager.query('SELECT pg_sleep($1)', [opts.delayMs / 1000]);
            await tx.manager.query('INSERT INTO consumer.effects (event_id, key, seq) VALUES ($1, $2, $3)', [
              event.id,
              event.subject,
              seq,
            ]);
          },
        },
      });
      await consumer.start();
      cleanups.push(() => consumer.stop());
      return { consumer, calls };
    }

    async function effectsFor(key: string): Promise<number[]> {
      const rows: Array<{ seq: number }> = await ds.query(
        'SELECT seq FROM consumer.effects WHERE key = $1 ORDER BY n',
        [key],
      );
      return rows.map((r) => r.seq);
    }

    async function newBus(): Promise<EventBus> {
      const bus = await fixture().newBus();
      cleanups.push(() => bus.close());
      return bus;
    }

    it('delivers committed events once each, in per-key order, and carries the trace context', async () => {
      const topic = topicName();
      await fixture().createTopic(topic, 3);
      const bus = await newBus();
      const uow = new UnitOfWork(ds, 'producer');
      const metrics = new Registry();
      await relayOn(bus, metrics);
      await consumerOn(bus, topic);
      const keys = ['a', 'b', 'c', 'd'];
      let producing: { traceId: string; spanId: string } | undefined;
      for (let round = 0; round < 10; round++) {
        await trace.getTracer('test').startActiveSpan(`produce ${round}`, async (span) => {
          if (round === 3) producing = span.spanContext();
          await uow.run(async (tx) => {
            for (const k of keys) tx.emit(thing(topic, `order-${k}`, round));
          });
          span.end();
        });
      }
      // A rolled-back unit of work publishes nothing.
      await expect(
        uow.run(async (tx) => {
          tx.emit(thing(topic, 'order-a', 999));
          throw new Error('business rule violated');
        }),
      ).rejects.toThrow('business rule violated');
      await waitFor(
        '40 effects',
        async () => {
          const [{ n }] = await ds.query<Array<{ n: number }>>(
            "SELECT count(*)::int AS n FROM consumer.effects WHERE key LIKE 'order-%'",
          );
          return n >= 40 ? true : undefined;
        },
        60_000,
      );
      for (const k of keys) expect(await effectsFor(`order-${k}`)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      // The producing span's context travelled through the outbox row and the message headers
      // and became the parent of each consumer span of that round (a redelivery has its own span).
      const children = spans
        .getFinishedSpans()
        .filter((s) => s.name === `process ${TYPE}` && s.spanContext().traceId === producing!.traceId);
      expect(new Set(children.map((c) => c.attributes['messaging.message.id'])).size).toBe(4);
      for (const c of children) expect(c.parentSpanContext?.spanId).toBe(producing!.spanId);
      const metricsText = await metrics.metrics();
      expect(metricsText).toMatch(/cairn_outbox_published_total \d+/);
      expect(metricsText).toMatch(/cairn_outbox_backlog 0/);
      expect(metricsText).toMatch(/cairn_outbox_publish_latency_seconds_count [1-9]/);
    });

    it('loses nothing when the relay dies between commit and publish, or between publish and mark-sent', async () => {
      const topic = topicName();
      await fixture().createTopic(topic, 2);
      const bus = await newBus();
      const uow = new UnitOfWork(ds, 'producer');
      // Committed while no relay runs (the relay process is dead).
      await uow.run(async (tx) => {
        for (let i = 0; i < 5; i++) tx.emit(thing(topic, 'crash-relay', i));
      });
      // A relay that publishes and then dies before marking the rows sent.
      const dying = new OutboxRelay({
        ds,
        url: db.url,
        schema: 'producer',
        logger: silent,
        bus: decorate(bus, {
          publish: async (m: OutgoingMessage[]) => {
            await bus.publish(m);
            throw new Error('process killed after publish');
          },
        }),
      });
      await expect(dying.publishPass()).rejects.toThrow('process killed after publish');
      const [{ pending }] = await ds.query<Array<{ pending: number }>>(
        "SELECT count(*)::int AS pending FROM producer.outbox WHERE sent_at IS NULL AND aggregate_id = 'crash-relay'",
      );
      expect(pending).toBe(5);
      // A new relay publishes them (again); the consumer applies each once.
      await relayOn(bus);
      const { calls } = await consumerOn(bus, topic);
      await waitFor(
        '5 effects',
        async () => ((await effectsFor('crash-relay')).length >= 5 ? true : undefined),
        60_000,
      );
      await waitFor('the duplicates to be seen', () => (calls.length >= 5 ? true : undefined));
      expect(await effectsFor('crash-relay')).toEqual([0, 1, 2, 3, 4]);
    });

    it('redelivers after a consumer crash mid-batch with no second effect', async () => {
      const topic = topicName();
      await fixture().createTopic(topic, 1);
      const bus = await newBus();
      const uow = new UnitOfWork(ds, 'producer');
      await uow.run(async (tx) => {
        for (let i = 0; i < 10; i++) tx.emit(thing(topic, 'crash-consumer', i));
      });
      await relayOn(bus);
      // The first consumer "crashes" after handling 6 events: its effects are committed but
      // it never acknowledges the batch, so the bus redelivers all of it.
      let handled = 0;
      let crashed = false;
      const crashing = decorate(bus, {
        subscribe: (opts) =>
          bus.subscribe({
            ...opts,
            handleBatch: async (batch: MessageBatch, ctx) => {
              if (crashed) return opts.handleBatch(batch, ctx);
              // Handle (and commit the effects of) the first events, acknowledge none of them.
              const limited: MessageBatch = { ...batch, messages: batch.messages.slice(0, 6 - handled) };
              await opts.handleBatch(limited, { ...ctx, resolveOffset: () => undefined });
              handled += limited.messages.length;
              if (handled >= 6) crashed = true;
              throw new Error('consumer process crashed');
            },
          }),
      });
      const { calls } = await consumerOn(crashing, topic, { groupId: `g-${randomUUID()}` });
      await waitFor(
        '10 effects',
        async () => ((await effectsFor('crash-consumer')).length >= 10 ? true : undefined),
        60_000,
      );
      expect(await effectsFor('crash-consumer')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      // Events 0..5 reached the handler again after the crash, and changed nothing.
      expect(calls.filter((s) => s === 0).length).toBeGreaterThanOrEqual(1);
      const [{ dup }] = await ds.query<Array<{ dup: number }>>(
        "SELECT count(*)::int AS dup FROM (SELECT event_id FROM consumer.effects WHERE key = 'crash-consumer' GROUP BY event_id HAVING count(*) > 1) d",
      );
      expect(dup).toBe(0);
    });

    it('dead-letters malformed events, unknown versions and events that keep failing, keeps consuming, and replays after a fix', async () => {
      const topic = topicName();
      await fixture().createTopic(topic, 1);
      await fixture().createTopic(dlqTopic(topic), 1);
      const bus = await newBus();
      const key = 'dlq';
      const good = (seq: number) => {
        const r = thing(topic, key, seq);
        return { topic, key, value: r.payload, headers: { ce_id: r.id } };
      };
      await bus.publish([
        good(0),
        { topic, key, value: '{not json', headers: {} },
        {
          topic,
          key,
          value: JSON.stringify({ id: randomUUID(), type: 'cairn.test.thing.happened.v9', data: {} }),
          headers: {},
        },
        {
          topic,
          key,
          value: JSON.stringify({ id: randomUUID(), type: TYPE, data: { seq: 'x' } }),
          headers: {},
        },
        good(1),
        good(13), // the handler fails on this one until it is fixed
        good(2),
      ]);
      let broken = true;
      const { calls } = await consumerOn(bus, topic, { fail: (s) => s === 13 && broken, maxAttempts: 3 });
      await waitFor(
        'the valid events to be handled',
        async () => ((await effectsFor(key)).length >= 3 ? true : undefined),
        60_000,
      );
      expect(await effectsFor(key)).toEqual([0, 1, 2]);
      expect(calls.filter((s) => s === 13)).toHaveLength(3);

      const dead: IncomingMessage[] = [];
      const sub = await bus.subscribe({
        groupId: `dlq-reader-${randomUUID()}`,
        topics: [dlqTopic(topic)],
        handleBatch: async (b) => {
          dead.push(...b.messages);
        },
      });
      cleanups.push(() => sub.stop());
      await waitFor('4 dead letters', () => (dead.length >= 4 ? true : undefined), 60_000);
      expect(dead.map((m) => m.headers.dlq_reason)).toEqual([
        'INVALID_ENVELOPE',
        'UNSUPPORTED_VERSION',
        'INVALID_DATA',
        'HANDLER_FAILED',
      ]);
      expect(dead[3].headers).toMatchObject({
        dlq_original_topic: topic,
        dlq_attempts: '3',
        dlq_error: 'cannot handle seq 13',
      });

      // The handler is fixed; replaying the DLQ applies the event that failed, and nothing else.
      broken = false;
      const result = await replayDeadLetters({
        bus,
        topic,
        filter: (m) => m.headers.dlq_reason === 'HANDLER_FAILED',
      });
      expect(result).toEqual({ replayed: 1, skipped: 3 });
      await waitFor(
        'the replayed event',
        async () => ((await effectsFor(key)).length >= 4 ? true : undefined),
        60_000,
      );
      expect(await effectsFor(key)).toEqual([0, 1, 2, 13]);
    });

    it('falls back from one transaction per batch to one per event when a handler fails', async () => {
      const topic = topicName();
      await fixture().createTopic(topic, 1);
      await fixture().createTopic(dlqTopic(topic), 1);
      const bus = await newBus();
      const key = 'batch-fallback';
      // Published as one batch, so the consumer first tries all ten in one transaction.
      await bus.publish(
        Array.from({ length: 10 }, (_, seq) => {
          const r = thing(topic, key, seq);
          return { topic, key, value: r.payload, headers: { ce_id: r.id } };
        }),
      );
      const { calls } = await consumerOn(bus, topic, { fail: (s) => s === 5, maxAttempts: 2 });
      await waitFor(
        'nine effects',
        async () => ((await effectsFor(key)).length >= 9 ? true : undefined),
        60_000,
      );
      expect(await effectsFor(key)).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9]);
      // The rolled-back batch left nothing behind: every effect exists once.
      const [{ dup }] = await ds.query<Array<{ dup: number }>>(
        `SELECT count(*)::int AS dup FROM (SELECT event_id FROM consumer.effects WHERE key = '${key}' GROUP BY event_id HAVING count(*) > 1) d`,
      );
      expect(dup).toBe(0);
      expect(calls.filter((s) => s === 5).length).toBeGreaterThanOrEqual(2);
      const dead: IncomingMessage[] = [];
      const sub = await bus.subscribe({
        groupId: `dlq-reader-${randomUUID()}`,
        topics: [dlqTopic(topic)],
        handleBatch: async (b) => {
          dead.push(...b.messages);
        },
      });
      cleanups.push(() => sub.stop());
      await waitFor('the dead letter', () => (dead.length >= 1 ? true : undefined), 60_000);
      expect(dead.map((m) => m.headers.dlq_reason)).toEqual(['HANDLER_FAILED']);
    });

    it('applies an event delivered twice at the same time only once', async () => {
      const topic = topicName();
      // Two partitions for two members: against librdkafka's mock cluster a member left with
      // an empty assignment never completes SyncGroup (the group rebalances forever).
      await fixture().createTopic(topic, 2);
      const bus = await newBus();
      const id = randomUUID();
      const r = thing(topic, 'twice', 7, id);
      // Two members of one group, each handed the same event, inside overlapping transactions.
      const groupId = `g-${randomUUID()}`;
      const metrics = new Registry();
      const a = await consumerOn(bus, topic, { groupId, delayMs: 300, metrics });
      const batch: MessageBatch = {
        topic,
        partition: 0,
        messages: [
          {
            topic,
            partition: 0,
            offset: '0',
            key: 'twice',
            value: r.payload,
            headers: {},
            timestamp: Date.now(),
          },
        ],
      };
      const ctx = {
        signal: new AbortController().signal,
        resolveOffset: () => undefined,
        heartbeat: async () => undefined,
      };
      const handle = (c: EventConsumer) =>
        (c as unknown as { handleBatch(b: MessageBatch, x: typeof ctx): Promise<void> }).handleBatch(
          batch,
          ctx,
        );
      // The second member is another process: its own bus client.
      const b = await consumerOn(await newBus(), topic, { groupId, delayMs: 300, metrics });
      await Promise.all([handle(a.consumer), handle(b.consumer)]);
      expect(await effectsFor('twice')).toEqual([7]);
      // And through the bus: the same event published twice is applied once.
      await bus.publish([
        { topic, key: 'twice', value: r.payload, headers: {} },
        { topic, key: 'twice', value: r.payload, headers: {} },
      ]);
      const duplicates = async () => {
        const m = await metrics.getSingleMetric('cairn_consumer_events_total')!.get();
        return m.values.filter((v) => v.labels.outcome === 'duplicate').reduce((n, v) => n + v.value, 0);
      };
      // One of the two racing transactions found the other's inbox record; then both bus deliveries did.
      await waitFor('three duplicates', async () => ((await duplicates()) >= 3 ? true : undefined), 60_000);
      expect(a.calls.length + b.calls.length).toBe(1);
      expect(await effectsFor('twice')).toEqual([7]);
    });

    it('still delivers when the relay loses its LISTEN connection: it reconnects and polling covers the gap', async () => {
      const topic = topicName();
      await fixture().createTopic(topic, 1);
      const bus = await newBus();
      const relay = await relayOn(bus);
      await consumerOn(bus, topic);
      await waitFor('the relay to lead', () => (relay.isLeader ? true : undefined));
      await ds.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cairn-outbox-relay-producer'",
      );
      await new UnitOfWork(ds, 'producer').run(async (tx) => {
        tx.emit(thing(topic, 'listen-lost', 1), thing(topic, 'listen-lost', 2));
      });
      await waitFor(
        'the events to arrive',
        async () => ((await effectsFor('listen-lost')).length >= 2 ? true : undefined),
        60_000,
      );
      expect(await effectsFor('listen-lost')).toEqual([1, 2]);
      await waitFor('the relay to lead again', () => (relay.isLeader ? true : undefined), 30_000);
    });

    it('keeps one publishing relay among several, and another takes over when it stops', async () => {
      const topic = topicName();
      await fixture().createTopic(topic, 2);
      const bus = await newBus();
      const r1 = await relayOn(bus);
      const r2 = await relayOn(bus);
      await waitFor('a leader', () => (r1.isLeader || r2.isLeader ? true : undefined));
      expect(r1.isLeader && r2.isLeader).toBe(false);
      await consumerOn(bus, topic);
      const uow = new UnitOfWork(ds, 'producer');
      for (let i = 0; i < 5; i++) await uow.run(async (tx) => tx.emit(thing(topic, 'relays', i)));
      const [leader, standby] = r1.isLeader ? [r1, r2] : [r2, r1];
      await waitFor(
        'the first events',
        async () => ((await effectsFor('relays')).length >= 5 ? true : undefined),
        60_000,
      );
      await leader.stop();
      await waitFor('the standby to take over', () => (standby.isLeader ? true : undefined), 30_000);
      for (let i = 5; i < 10; i++) await uow.run(async (tx) => tx.emit(thing(topic, 'relays', i)));
      await waitFor(
        'all events',
        async () => ((await effectsFor('relays')).length >= 10 ? true : undefined),
        60_000,
      );
      expect(await effectsFor('relays')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('holds back only the failing key: its later rows wait, other keys flow', async () => {
      const topic = topicName();
      await fixture().createTopic(topic, 2);
      const bus = await newBus();
      let poisonFails = true;
      const picky = decorate(bus, {
        publish: async (m: OutgoingMessage[]) => {
          if (poisonFails && m.some((x) => x.key === 'poison'))
            throw new Error('message rejected by the broker');
          await bus.publish(m);
        },
      });
      const relay = new OutboxRelay({
        ds,
        url: db.url,
        schema: 'producer',
        bus: picky,
        logger: silent,
        pollIntervalMs: 100,
        retry: { initialMs: 50, maxMs: 200 },
      });
      relay.start();
      cleanups.push(() => relay.stop());
      await consumerOn(bus, topic);
      const uow = new UnitOfWork(ds, 'producer');
      await uow.run(async (tx) => tx.emit(thing(topic, 'poison', 0), thing(topic, 'healthy', 0)));
      await uow.run(async (tx) => tx.emit(thing(topic, 'poison', 1), thing(topic, 'healthy', 1)));
      await waitFor(
        'the healthy key',
        async () => ((await effectsFor('healthy')).length >= 2 ? true : undefined),
        60_000,
      );
      expect(await effectsFor('poison')).toEqual([]);
      const [row] = await ds.query<Array<{ attempts: number; last_error: string }>>(
        "SELECT attempts, last_error FROM producer.outbox WHERE aggregate_id = 'poison' ORDER BY seq LIMIT 1",
      );
      expect(row.attempts).toBeGreaterThan(0);
      expect(row.last_error).toBe('message rejected by the broker');
      poisonFails = false;
      await waitFor(
        'the poison key, in order',
        async () => ((await effectsFor('poison')).length >= 2 ? true : undefined),
        60_000,
      );
      expect(await effectsFor('poison')).toEqual([0, 1]);
    });

    it('backs off while the bus is down and catches up with nothing lost', async () => {
      const f = fixture();
      if (!f.outage) throw new Error('this fixture cannot take its bus down');
      const topic = topicName();
      await f.createTopic(topic, 1);
      const bus = await newBus();
      const metrics = new Registry();
      await consumerOn(bus, topic);
      await f.outage.down();
      const relay = await relayOn(bus, metrics);
      const uow = new UnitOfWork(ds, 'producer');
      for (let i = 0; i < 5; i++) await uow.run(async (tx) => tx.emit(thing(topic, 'outage', i)));
      await waitFor(
        'a failed publish',
        async () =>
          /cairn_outbox_publish_failures_total [1-9]/.test(await metrics.metrics()) ? true : undefined,
        60_000,
      );
      expect(relay.running).toBe(true);
      await f.outage.up();
      await waitFor(
        'all events after the outage',
        async () => ((await effectsFor('outage')).length >= 5 ? true : undefined),
        90_000,
      );
      expect(await effectsFor('outage')).toEqual([0, 1, 2, 3, 4]);
    });
  });
}
