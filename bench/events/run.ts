/**
 * `npm run bench:events`: the event backbone on each adapter, on this machine's real
 * components (embedded Postgres; librdkafka's mock cluster for Kafka). Prints one
 * `name: value unit` line per figure. Targets (issue 3, 2 cores): Postgres log >= 20,000
 * events/s sustained and commit-to-handler p99 < 25 ms at 1,000 events/s; Kafka >= 20,000
 * events/s.
 */
import { KafkaEventBus, PostgresEventBus } from '@cairn/messaging';
import { createTestDatabase, startKafkaMock, startRunPostgres, stopRunPostgres } from '@cairn/testing';
import { benchBackbone } from './backbone.bench';
import { benchKafkaBus } from './kafka-bus.bench';
import { benchPostgresBus } from './postgres-bus.bench';

const only = process.argv[2]; // optional: postgres | kafka

function print(name: string, value: number, unit: string): void {
  console.log(`${name}: ${value} ${unit}`);
}

async function postgres(): Promise<void> {
  const db = await createTestDatabase('bench_events');
  try {
    const bus = await benchPostgresBus(db.url);
    print('events.postgres.bus.sustained', bus.eventsPerSecond, 'events/s');
    print('events.postgres.bus.publish_to_handler_p50_at_1000_per_s', bus.p50Ms, 'ms');
    print('events.postgres.bus.publish_to_handler_p99_at_1000_per_s', bus.p99Ms, 'ms');
    const admin = new PostgresEventBus({ connection: db.url });
    try {
      const e2e = await benchBackbone(
        db.url,
        () => new PostgresEventBus({ connection: db.url }),
        (name, partitions) => admin.ensureTopics([{ name, partitions }]),
      );
      print('events.postgres.backbone.commit_to_handler_p50_at_1000_per_s', e2e.commitToHandlerP50Ms, 'ms');
      print('events.postgres.backbone.commit_to_handler_p99_at_1000_per_s', e2e.commitToHandlerP99Ms, 'ms');
      print('events.postgres.backbone.sustained_outbox_to_inbox', e2e.eventsPerSecond, 'events/s');
    } finally {
      await admin.close();
    }
  } finally {
    await db.drop();
  }
}

async function kafka(): Promise<void> {
  const mock = await startKafkaMock({ brokers: 3 });
  const db = await createTestDatabase('bench_events');
  try {
    const bus = await benchKafkaBus(mock.brokers, (name, partitions) => mock.createTopic(name, partitions));
    print('events.kafka.bus.sustained', bus.eventsPerSecond, 'events/s');
    print('events.kafka.bus.publish_to_handler_p50_at_1000_per_s', bus.p50Ms, 'ms');
    print('events.kafka.bus.publish_to_handler_p99_at_1000_per_s', bus.p99Ms, 'ms');
    const e2e = await benchBackbone(
      db.url,
      () =>
        new KafkaEventBus({
          brokers: mock.brokers,
          clientId: 'cairn-backbone-bench',
          clientLogLevel: 'error',
          // The mock answers an empty fetch only after the whole long-poll (see kafka-bus.bench).
          consumer: {
            maxWaitTimeMs: 5,
            sessionTimeoutMs: 6_000,
            heartbeatIntervalMs: 500,
            rebalanceTimeoutMs: 10_000,
          },
        }),
      (name, partitions) => mock.createTopic(name, partitions),
    );
    print('events.kafka.backbone.commit_to_handler_p50_at_1000_per_s', e2e.commitToHandlerP50Ms, 'ms');
    print('events.kafka.backbone.commit_to_handler_p99_at_1000_per_s', e2e.commitToHandlerP99Ms, 'ms');
    print('events.kafka.backbone.sustained_outbox_to_inbox', e2e.eventsPerSecond, 'events/s');
  } finally {
    await db.drop();
    await mock.stop();
  }
}

async function main(): Promise<void> {
  await startRunPostgres();
  try {
    if (!only || only === 'postgres') await postgres();
    if (!only || only === 'kafka') await kafka();
  } finally {
    await stopRunPostgres();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
