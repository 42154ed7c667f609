import pino from 'pino';
import { type KafkaMock, startKafkaMock } from '@cairn/testing';
import { KafkaEventBus } from '../src/kafka-bus/kafka-event-bus';
import { type BackboneFixture, describeBackboneContract } from './backbone.contract';

/**
 * The backbone suite on the Kafka adapter against librdkafka's mock cluster (3 brokers,
 * replication 3). The outage takes every broker down and brings them back.
 */
let mock: KafkaMock;
const verbose = process.env.CAIRN_TEST_KAFKA_LOG === '1';
const BROKERS = 3;

function newBus(): KafkaEventBus {
  return new KafkaEventBus({
    brokers: mock.brokers,
    clientId: 'cairn-backbone-int',
    connectionTimeoutMs: 3_000,
    requestTimeoutMs: 10_000,
    // Short retries so that an outage surfaces as failed publishes the relay backs off from.
    retry: { retries: 2, initialRetryTimeMs: 100, maxRetryTimeMs: 500 },
    clientLogLevel: verbose ? 'info' : 'nothing',
    logger: verbose ? pino({ level: 'debug' }, pino.destination(2)) : pino({ level: 'silent' }),
    consumer: {
      // The mock holds a re-join for (session timeout - 1 s): keep it short for tests.
      sessionTimeoutMs: 4_000,
      heartbeatIntervalMs: 300,
      rebalanceTimeoutMs: 8_000,
      maxWaitTimeMs: 100,
      redelivery: { initialBackoffMs: 100, maxBackoffMs: 1_000 },
    },
  });
}

const fixture: BackboneFixture = {
  newBus: async () => newBus(),
  createTopic: (name, partitions) => mock.createTopic(name, partitions),
  outage: {
    async down() {
      for (let id = 1; id <= BROKERS; id++) await mock.brokerDown(id);
    },
    async up() {
      for (let id = 1; id <= BROKERS; id++) await mock.brokerUp(id);
    },
  },
};

beforeAll(async () => {
  mock = await startKafkaMock({ brokers: BROKERS });
});
afterAll(async () => {
  await mock?.stop();
});

describeBackboneContract('kafka', () => fixture);
