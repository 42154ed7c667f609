import { randomUUID } from 'node:crypto';
import { type Consumer, Kafka, type KafkaMessage, logLevel, Partitioners, type Producer } from 'kafkajs';
import { startKafkaMock, type KafkaMock } from '../src/kafka-mock';
import { waitFor } from '../src/ports';

jest.setTimeout(90_000);

const KEYS = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];
const PER_KEY = 6; // 5 keys x 6 = 30 messages

interface Received {
  partition: number;
  offset: number;
  key: string;
  value: string;
}

/**
 * Producer settings for librdkafka's mock: idempotence off (transactions/idempotence are not what
 * these tests exercise), one request in flight so retries cannot reorder, no auto topic creation.
 */
function newProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: false,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}

function toReceived(partition: number, message: KafkaMessage): Received {
  return {
    partition,
    offset: Number(message.offset),
    key: message.key?.toString() ?? '',
    value: message.value?.toString() ?? '',
  };
}

/** Starts a consumer in `groupId` that reads `topic` from the beginning (unless offsets are committed). */
async function startConsumer(
  kafka: Kafka,
  groupId: string,
  topic: string,
  sink: Received[],
  commits: Map<number, number>,
): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId,
    // The mock holds a re-join of a group whose member left for (session timeout - 1 s), and a
    // first join for a fixed 3 s: a short session timeout keeps re-joins quick.
    sessionTimeout: 4_000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 100,
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
  consumer.on(consumer.events.COMMIT_OFFSETS, (event) => {
    for (const t of event.payload.topics) {
      if (t.topic !== topic) continue;
      for (const p of t.partitions) {
        commits.set(p.partition, Math.max(commits.get(p.partition) ?? 0, Number(p.offset)));
      }
    }
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: true,
    eachMessage: async ({ partition, message }) => {
      sink.push(toReceived(partition, message));
    },
  });
  return consumer;
}

describe('integration harness: librdkafka mock Kafka cluster + kafkajs', () => {
  let mock: KafkaMock;
  let kafka: Kafka;

  beforeAll(async () => {
    mock = await startKafkaMock({ brokers: 3 });
    kafka = new Kafka({
      clientId: 'cairn-kafka-int',
      brokers: mock.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
  });

  afterAll(async () => {
    await mock?.stop();
  });

  it('starts a cluster of three brokers on loopback and rejects bad launcher commands', async () => {
    expect(mock.brokers).toHaveLength(3);
    for (const b of mock.brokers) expect(b).toMatch(/^127\.0\.0\.1:\d+$/);
    const topic = `dup-${randomUUID()}`;
    await mock.createTopic(topic, 1, 1);
    await expect(mock.createTopic(topic, 1, 1)).rejects.toThrow(/already exists/i);
    await expect(mock.brokerDown(4)).rejects.toThrow(/no broker 4/);
  });

  it('delivers keyed messages in per-key order to two consumer groups and commits their offsets', async () => {
    const topic = `orders-${randomUUID()}`;
    await mock.createTopic(topic, 3, 3);

    const producer = newProducer(kafka);
    await producer.connect();
    const sent: { key: string; value: string }[] = [];
    try {
      // Interleave keys across sends so per-key order is meaningful; several sends, not one batch.
      for (let i = 0; i < PER_KEY; i += 1) {
        const batch = KEYS.map((key) => ({ key, value: `${key}:${i}` }));
        const meta = await producer.send({ topic, acks: -1, messages: batch });
        expect(meta.every((m) => m.errorCode === 0)).toBe(true);
        sent.push(...batch);
      }
    } finally {
      await producer.disconnect();
    }
    expect(sent).toHaveLength(30);

    const groups = [`group-a-${randomUUID()}`, `group-b-${randomUUID()}`];
    const received = groups.map(() => [] as Received[]);
    const commits = groups.map(() => new Map<number, number>());
    const consumers = await Promise.all(
      groups.map((g, i) => startConsumer(kafka, g, topic, received[i], commits[i])),
    );
    try {
      // Each group sees all 30, and its commits reach the end of every partition it read.
      await waitFor(
        'both groups to consume and commit 30 messages',
        () =>
          received.every((r) => r.length >= 30) &&
          commits.every((c) => [...c.values()].reduce((a, b) => a + b, 0) === 30)
            ? true
            : undefined,
        45_000,
        50,
      );
    } finally {
      await Promise.all(consumers.map((c) => c.disconnect()));
    }

    const partitionsUsed = new Set<number>();
    for (const r of received) {
      expect(r).toHaveLength(30);
      expect(r.map((m) => m.value).sort()).toEqual(sent.map((m) => m.value).sort());
      for (const key of KEYS) {
        const ofKey = r.filter((m) => m.key === key);
        // Same key => same partition, and delivered in the order produced.
        expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1);
        expect(ofKey.map((m) => m.value)).toEqual(Array.from({ length: PER_KEY }, (_, i) => `${key}:${i}`));
        partitionsUsed.add(ofKey[0].partition);
      }
    }
    // The keys spread over more than one partition, so the per-key order check is not trivial.
    expect(partitionsUsed.size).toBeGreaterThan(1);

    // The broker holds the commits: OffsetFetch (group coordinator, not controller) works on the mock.
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const groupId of groups) {
        const [fetched] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const total = fetched.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
        expect(total).toBe(30);
      }
    } finally {
      await admin.disconnect();
    }

    // Re-join each group (fromBeginning): committed offsets mean only the newer messages arrive.
    const producer2 = newProducer(kafka);
    await producer2.connect();
    const later = KEYS.map((key) => ({ key, value: `${key}:later` }));
    try {
      await producer2.send({ topic, acks: -1, messages: later });
    } finally {
      await producer2.disconnect();
    }
    const again = groups.map(() => [] as Received[]);
    const consumers2 = await Promise.all(
      groups.map((g, i) => startConsumer(kafka, g, topic, again[i], new Map<number, number>())),
    );
    try {
      await waitFor(
        'the re-joined groups to receive the newer messages',
        () => (again.every((r) => r.length >= later.length) ? true : undefined),
        45_000,
        50,
      );
    } finally {
      await Promise.all(consumers2.map((c) => c.disconnect()));
    }
    for (const r of again) {
      expect(r.map((m) => m.value).sort()).toEqual(later.map((m) => m.value).sort());
    }
  });

  it('keeps producing after the leader broker goes down and comes back up', async () => {
    const topic = `failover-${randomUUID()}`;
    await mock.createTopic(topic, 3, 3);

    // Metadata requests work against the mock (only controller-bound admin calls fail).
    const admin = kafka.admin();
    await admin.connect();
    let leader: number;
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const p0 = topics[0].partitions.find((p) => p.partitionId === 0);
      if (!p0) throw new Error('no partition 0 in metadata');
      leader = p0.leader;
    } finally {
      await admin.disconnect();
    }
    expect(leader).toBeGreaterThanOrEqual(1);
    expect(leader).toBeLessThanOrEqual(3);

    const producer = newProducer(kafka);
    await producer.connect();
    // A producer that does not retry, bootstrapped from the other brokers, shows the outage.
    const others = mock.brokers.filter((_, i) => i + 1 !== leader);
    const fragile = new Kafka({
      clientId: 'cairn-kafka-int-fragile',
      brokers: others,
      logLevel: logLevel.NOTHING,
    }).producer({
      idempotent: false,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 0 },
    });
    await fragile.connect();
    try {
      const first = await producer.send({
        topic,
        acks: -1,
        messages: [{ partition: 0, key: 'k', value: 'before' }],
      });
      expect(first[0]).toMatchObject({ partition: 0, errorCode: 0, baseOffset: '0' });

      await mock.brokerDown(leader);
      // The retrying producer's send starts during the outage and keeps retrying...
      const during = producer.send({
        topic,
        acks: -1,
        messages: [{ partition: 0, key: 'k', value: 'during' }],
      });
      during.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
      // ...while a send without retries to the same partition fails: the leader is really down.
      await expect(
        fragile.send({ topic, acks: -1, messages: [{ partition: 0, key: 'k', value: 'lost' }] }),
      ).rejects.toThrow();
      await mock.brokerUp(leader);

      const duringMeta = await during;
      expect(duringMeta[0]).toMatchObject({ partition: 0, errorCode: 0, baseOffset: '1' });
      const after = await producer.send({
        topic,
        acks: -1,
        messages: [{ partition: 0, key: 'k', value: 'after' }],
      });
      expect(after[0]).toMatchObject({ partition: 0, errorCode: 0, baseOffset: '2' });
    } finally {
      await Promise.all([producer.disconnect(), fragile.disconnect()]);
    }

    // The log holds exactly what was acknowledged, in order, and not the failed send.
    const got: Received[] = [];
    const consumer = await startConsumer(kafka, `failover-${randomUUID()}`, topic, got, new Map());
    try {
      await waitFor(
        'three messages after the broker restart',
        () => (got.length >= 3 ? true : undefined),
        45_000,
        50,
      );
    } finally {
      await consumer.disconnect();
    }
    expect(got.map((m) => `${m.partition}:${m.offset}:${m.value}`)).toEqual([
      '0:0:before',
      '0:1:during',
      '0:2:after',
    ]);
  });
});
