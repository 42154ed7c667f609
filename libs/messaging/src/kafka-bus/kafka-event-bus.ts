import {
  type Admin,
  CompressionTypes,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
  type TopicMessages,
} from 'kafkajs';
import type {
  EventBus,
  OffsetReset,
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  TopicSpec,
} from '../event-bus.port';
import {
  type KafkaBusLogger,
  type KafkaEventBusConfig,
  type ResolvedKafkaEventBusConfig,
  resolveKafkaConfig,
} from './kafka-bus.config';
import { errorMessage, isUnsupportedApiError, KafkaBusError } from './kafka-bus.errors';
import { parseOffset, toKafkaMessage } from './kafka-messages';
import { KafkaSubscription } from './kafka-subscription';

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

const CLIENT_LOG_LEVELS = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
} as const;

/** Routes kafkajs's own log lines into our structured logger. */
function kafkajsLogCreator(logger: KafkaBusLogger) {
  return () =>
    ({ namespace, level, log }: LogEntry): void => {
      const { message, timestamp: _timestamp, ...extra } = log;
      const fields: Record<string, unknown> = { component: 'kafkajs', namespace, ...extra };
      const text = String(message);
      switch (level) {
        case logLevel.ERROR:
          logger.error(fields, text);
          break;
        case logLevel.WARN:
          logger.warn(fields, text);
          break;
        case logLevel.INFO:
          logger.info(fields, text);
          break;
        case logLevel.DEBUG:
        case logLevel.NOTHING:
          logger.debug(fields, text);
      }
    };
}

/**
 * The event-bus port over Kafka, with kafkajs behind it (nothing of kafkajs leaks through the
 * port or the config, so @confluentinc/kafka-javascript can replace it).
 *
 * Producer: acks from all in-sync replicas, GZIP, one request in flight per broker connection
 * (a retried request cannot be overtaken by a later one, so one partition never reorders), and
 * the Java-compatible murmur2 partitioner (a replacement client must use murmur2 too, e.g.
 * librdkafka's `partitioner: murmur2_random`, or keys would move partitions). Idempotence is off
 * by default, see KafkaEventBusConfig.producer.idempotent.
 *
 * Consumer: see KafkaSubscription.
 *
 * Against librdkafka's mock cluster (the test broker) every call works except ensureTopics for
 * topics that do not exist yet (CreateTopics goes to the controller, which the mock reports as
 * id 0, a broker that does not exist): tests create topics with KafkaMock.createTopic.
 */
export class KafkaEventBus implements EventBus {
  readonly kind = 'kafka' as const;
  private readonly config: ResolvedKafkaEventBusConfig;
  private readonly kafka: Kafka;
  private producer?: Promise<Producer>;
  private admin?: Promise<Admin>;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private closed = false;

  constructor(config: KafkaEventBusConfig) {
    this.config = resolveKafkaConfig(config);
    const c = this.config;
    const kafkaConfig: KafkaConfig = {
      clientId: c.clientId,
      brokers: c.brokers,
      ssl: c.ssl,
      sasl: c.sasl,
      connectionTimeout: c.connectionTimeoutMs,
      requestTimeout: c.requestTimeoutMs,
      retry: this.kafkaRetry(),
      logLevel: CLIENT_LOG_LEVELS[c.clientLogLevel],
      logCreator: kafkajsLogCreator(c.logger),
    };
    this.kafka = new Kafka(kafkaConfig);
  }

  /** Creates the missing topics (replication and min.insync.replicas from the config). */
  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    this.assertOpen();
    const wanted = new Map<string, TopicSpec>();
    for (const t of topics) {
      if (!TOPIC_NAME.test(t.name)) {
        throw new KafkaBusError('INVALID_ARGUMENT', `invalid topic name ${JSON.stringify(t.name)}`, {
          topic: t.name,
        });
      }
      if (!Number.isInteger(t.partitions) || t.partitions < 1) {
        throw new KafkaBusError('INVALID_ARGUMENT', `topic ${t.name}: partitions must be an integer >= 1`, {
          topic: t.name,
          partitions: t.partitions,
        });
      }
      wanted.set(t.name, t);
    }
    if (wanted.size === 0) return;
    const admin = await this.getAdmin();
    // Asking first (metadata, which any broker answers) keeps the call cheap and controller-free
    // when everything exists, which is the common case at start-up.
    const existing = new Set(await admin.listTopics());
    const missing = [...wanted.values()].filter((t) => !existing.has(t.name));
    if (missing.length === 0) return;
    try {
      // false means another instance created some of them first: that is fine too.
      await admin.createTopics({
        waitForLeaders: true,
        timeout: this.config.requestTimeoutMs,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: this.config.replicationFactor,
          configEntries: [{ name: 'min.insync.replicas', value: String(this.config.minInsyncReplicas) }],
        })),
      });
    } catch (err) {
      throw new KafkaBusError(
        'TOPIC_CREATION_FAILED',
        `creating topics ${missing.map((t) => t.name).join(', ')} failed: ${errorMessage(err)}`,
        { topics: missing.map((t) => t.name) },
        { cause: err },
      );
    }
  }

  /** Resolves when the brokers acknowledged every message (acks=all); rejects otherwise. */
  async publish(messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    // One entry per topic in first-seen order; within a topic the caller's order is kept, and
    // the partitioner sends one key's messages to one partition in that order.
    const byTopic = new Map<string, TopicMessages>();
    for (const m of messages) {
      let entry = byTopic.get(m.topic);
      if (!entry) {
        entry = { topic: m.topic, messages: [] };
        byTopic.set(m.topic, entry);
      }
      entry.messages.push(toKafkaMessage(m));
    }
    const topics = [...byTopic.keys()];
    try {
      const producer = await this.getProducer();
      const results = await producer.sendBatch({
        acks: -1,
        timeout: this.config.requestTimeoutMs,
        compression: this.config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        topicMessages: [...byTopic.values()],
      });
      const failed = results.filter((r) => r.errorCode !== 0);
      if (failed.length > 0) {
        throw new Error(
          `broker error codes ${failed.map((f) => `${f.topicName}[${f.partition}]=${f.errorCode}`).join(', ')}`,
        );
      }
    } catch (err) {
      throw new KafkaBusError(
        'PUBLISH_FAILED',
        `publishing ${messages.length} messages to ${topics.join(', ')} failed: ${errorMessage(err)}`,
        { topics, count: messages.length },
        { cause: err },
      );
    }
  }

  async subscribe(opts: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    if (!opts.groupId) throw new KafkaBusError('INVALID_ARGUMENT', 'groupId must not be empty', {});
    if (opts.topics.length === 0) {
      throw new KafkaBusError('INVALID_ARGUMENT', 'topics must not be empty', { groupId: opts.groupId });
    }
    const sub = new KafkaSubscription(
      this.kafka,
      () => this.getAdmin(),
      this.config,
      opts,
      (s) => this.subscriptions.delete(s),
    );
    this.subscriptions.add(sub);
    try {
      await sub.start();
    } catch (err) {
      await sub.stop().catch(() => undefined);
      throw err;
    }
    return sub;
  }

  /**
   * Moves the group's committed offsets on `topic`. kafkajs's admin.setOffsets/resetOffsets
   * cannot be used: they first call DescribeGroups, which librdkafka's mock does not implement.
   * They join the group with a temporary consumer anyway, so we do the same ourselves: join
   * (proving the group idle: this member gets every partition), commit, leave. On brokers that
   * have DescribeGroups, a busy group is refused before anyone joins it.
   */
  async resetOffsets(groupId: string, topic: string, to: OffsetReset): Promise<void> {
    this.assertOpen();
    const admin = await this.getAdmin();
    const ends = await admin.fetchTopicOffsets(topic).catch((err: unknown) => {
      throw new KafkaBusError(
        'UNKNOWN_TOPIC',
        `cannot read the offsets of ${topic}: ${errorMessage(err)}`,
        { topic },
        {
          cause: err,
        },
      );
    });
    const partitions = ends.map((e) => e.partition).sort((a, b) => a - b);
    let targets: Array<{ partition: number; offset: string }>;
    if (to === 'earliest' || to === 'latest') {
      targets = ends.map((e) => ({ partition: e.partition, offset: to === 'earliest' ? e.low : e.high }));
    } else {
      targets = to.map((t) => {
        if (!partitions.includes(t.partition)) {
          throw new KafkaBusError('INVALID_ARGUMENT', `${topic} has no partition ${t.partition}`, {
            topic,
            partition: t.partition,
          });
        }
        return {
          partition: t.partition,
          offset: parseOffset(t.offset, { topic, partition: t.partition }).toString(),
        };
      });
      if (targets.length === 0) return;
    }

    try {
      const { groups } = await admin.describeGroups([groupId]);
      const state = groups.find((g) => g.groupId === groupId)?.state;
      if (state !== undefined && state !== 'Empty' && state !== 'Dead') {
        throw new KafkaBusError('GROUP_NOT_IDLE', `group ${groupId} is ${state}: stop its members first`, {
          groupId,
          state,
        });
      }
    } catch (err) {
      // The mock lacks DescribeGroups; the assignment check below still catches a busy group.
      if (!isUnsupportedApiError(err)) throw err;
    }

    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: this.config.heartbeatIntervalMs,
      rebalanceTimeout: this.config.rebalanceTimeoutMs,
      maxWaitTimeInMs: this.config.maxWaitTimeMs,
      retry: { ...this.kafkaRetry(), restartOnFailure: async () => false },
    });
    let assigned: number[] | undefined;
    let crash: unknown;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assigned = e.payload.memberAssignment[topic] ?? [];
      // Synchronous, inside the join: this member never fetches, so it never moves anything.
      consumer.pause([{ topic }]);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      crash = e.payload.error;
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic] });
      // Resolves once the join is done (or failed: kafkajs reports that as a crash).
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async () => undefined,
      });
      if (assigned === undefined) {
        throw new KafkaBusError(
          'OFFSET_RESET_FAILED',
          `could not join group ${groupId}: ${crash === undefined ? 'no assignment' : errorMessage(crash)}`,
          { groupId, topic },
          { cause: crash },
        );
      }
      const got = [...assigned].sort((a, b) => a - b);
      if (got.length !== partitions.length) {
        throw new KafkaBusError(
          'GROUP_NOT_IDLE',
          `group ${groupId} has other members on ${topic} (got partitions ${got.join(',')} of ${partitions.join(',')}): stop them first`,
          { groupId, topic },
        );
      }
      await consumer.commitOffsets(targets.map((t) => ({ topic, partition: t.partition, offset: t.offset })));
    } finally {
      await consumer.disconnect();
    }

    // consumer.commitOffsets gives no error back when the consumer stopped meanwhile: check.
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    for (const t of targets) {
      const now = committed?.partitions.find((p) => p.partition === t.partition)?.offset;
      if (now !== t.offset) {
        throw new KafkaBusError(
          'OFFSET_RESET_FAILED',
          `group ${groupId} ${topic}[${t.partition}] is at ${now ?? 'none'} after the reset, not ${t.offset}`,
          { groupId, topic, partition: t.partition },
        );
      }
    }
  }

  /**
   * Log end offset minus committed offset, per partition. A group without a committed offset
   * on a partition counts everything retained there (log end minus log start).
   */
  async lag(groupId: string, topic: string): Promise<Array<{ partition: number; lag: number }>> {
    this.assertOpen();
    const admin = await this.getAdmin();
    const [ends, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    return ends
      .map((e) => {
        const c = committed?.partitions.find((p) => p.partition === e.partition)?.offset;
        const from = c !== undefined && BigInt(c) >= 0n ? BigInt(c) : BigInt(e.low);
        const lag = BigInt(e.high) - from;
        return { partition: e.partition, lag: lag > 0n ? Number(lag) : 0 };
      })
      .sort((a, b) => a.partition - b.partition);
  }

  /** Stops every subscription (each commits and leaves its group), then the clients. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const results = await Promise.allSettled([
      ...[...this.subscriptions].map((s) => s.stop()),
      this.producer?.then((p) => p.disconnect()),
      this.admin?.then((a) => a.disconnect()),
    ]);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  private assertOpen(): void {
    if (this.closed) throw new KafkaBusError('CLOSED', 'the Kafka event bus is closed', {});
  }

  private kafkaRetry(): { retries: number; initialRetryTime: number; maxRetryTime: number } {
    return {
      retries: this.config.retry.retries,
      initialRetryTime: this.config.retry.initialRetryTimeMs,
      maxRetryTime: this.config.retry.maxRetryTimeMs,
    };
  }

  private getProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: this.config.idempotent,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: this.kafkaRetry(),
      });
      const connecting = producer.connect().then(() => producer);
      this.producer = connecting;
      // A failed connect is not cached: the next publish tries again.
      connecting.catch(() => {
        if (this.producer === connecting) this.producer = undefined;
      });
    }
    return this.producer;
  }

  private getAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin({ retry: this.kafkaRetry() });
      const connecting = admin.connect().then(() => admin);
      this.admin = connecting;
      connecting.catch(() => {
        if (this.admin === connecting) this.admin = undefined;
      });
    }
    return this.admin;
  }
}
