import type { ConnectionOptions } from 'node:tls';
import { KafkaBusError } from './kafka-bus.errors';

/**
 * SASL settings. Our own type rather than kafkajs's so callers do not depend on kafkajs; the
 * shape is the one both kafkajs and @confluentinc/kafka-javascript's KafkaJS-style API take.
 */
export type KafkaSaslConfig =
  | { mechanism: 'plain'; username: string; password: string }
  | { mechanism: 'scram-sha-256'; username: string; password: string }
  | { mechanism: 'scram-sha-512'; username: string; password: string }
  | { mechanism: 'oauthbearer'; oauthBearerProvider: () => Promise<{ value: string }> };

/** Client-level retry of failed requests (produce, fetch, group and admin calls). */
export interface KafkaRetryConfig {
  /** Attempts after the first one. Default 8. */
  retries?: number;
  /** First back-off, ms; it doubles (with ±20 % jitter) each attempt. Default 300. */
  initialRetryTimeMs?: number;
  /** Cap on one back-off, ms. Default 10 000. */
  maxRetryTimeMs?: number;
}

/** Structured logger; a pino Logger fits as is. */
export interface KafkaBusLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export interface KafkaEventBusConfig {
  brokers: string[];
  clientId: string;
  /** TLS: `true` for the system CAs, or Node TLS options (ca, cert, key, servername, ...). */
  ssl?: boolean | ConnectionOptions;
  sasl?: KafkaSaslConfig;
  /** Default 3 000. */
  connectionTimeoutMs?: number;
  /** Default 30 000. */
  requestTimeoutMs?: number;
  retry?: KafkaRetryConfig;

  producer?: {
    /**
     * Idempotent producer (the broker drops retried duplicates). Default false: kafkajs asks
     * the *controller* for a producer id, which the librdkafka mock used in tests cannot serve
     * (it reports controller id 0), so the tested configuration is acks=all + one in-flight
     * request per connection, with duplicates from retries absorbed by consumer inboxes.
     * Turn it on against real Kafka for fewer duplicates; ordering does not depend on it.
     */
    idempotent?: boolean;
    /** Default `gzip`: the only codec kafkajs ships without extra packages. */
    compression?: 'gzip' | 'none';
  };

  consumer?: {
    /** Default 30 000. The broker drops a member silent for this long. */
    sessionTimeoutMs?: number;
    /** Default 3 000; must be below a third of the session timeout. */
    heartbeatIntervalMs?: number;
    /** How long the group waits for members to re-join in a rebalance. Default 60 000. */
    rebalanceTimeoutMs?: number;
    /** Longest fetch long-poll, ms; bounds delivery latency on idle partitions. Default 500. */
    maxWaitTimeMs?: number;
    /** Partitions handled in parallel by one member. Default 1. */
    partitionsConsumedConcurrently?: number;
    /** Back-off before redelivering what a failing handler did not resolve. */
    redelivery?: {
      /** Default 500 ms; doubles per consecutive failure of the same partition. */
      initialBackoffMs?: number;
      /** Default 30 000 ms. */
      maxBackoffMs?: number;
    };
  };

  /** Settings of topics created by ensureTopics (real Kafka only; the mock cannot create topics). */
  topics?: {
    /** Default 3. */
    replicationFactor?: number;
    /** Default 2: with acks=all, a write then survives the loss of one replica. */
    minInsyncReplicas?: number;
  };

  /** Default: errors and warnings as JSON lines on stderr. */
  logger?: KafkaBusLogger;
  /** Which kafkajs internal log lines reach the logger. Default `warn`. */
  clientLogLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
}

/** The configuration with every default filled in. */
export interface ResolvedKafkaEventBusConfig {
  brokers: string[];
  clientId: string;
  ssl?: boolean | ConnectionOptions;
  sasl?: KafkaSaslConfig;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  retry: Required<KafkaRetryConfig>;
  idempotent: boolean;
  compression: 'gzip' | 'none';
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  maxWaitTimeMs: number;
  partitionsConsumedConcurrently: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  logger: KafkaBusLogger;
  clientLogLevel: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
}

const stderrLogger: KafkaBusLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg, ...obj })}\n`),
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', msg, ...obj })}\n`),
};

function positiveInt(setting: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) {
    throw new KafkaBusError('INVALID_CONFIG', `${setting} must be an integer >= ${min}, got ${v}`, {
      setting,
      value: v,
    });
  }
  return v;
}

/** Fills in defaults and rejects bad settings with an error that names the setting. */
export function resolveKafkaConfig(config: KafkaEventBusConfig): ResolvedKafkaEventBusConfig {
  if (!Array.isArray(config.brokers) || config.brokers.length === 0) {
    throw new KafkaBusError('INVALID_CONFIG', 'brokers must list at least one host:port', {
      setting: 'brokers',
      value: config.brokers,
    });
  }
  for (const b of config.brokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(b)) {
      throw new KafkaBusError('INVALID_CONFIG', `brokers: ${JSON.stringify(b)} is not host:port`, {
        setting: 'brokers',
        value: b,
      });
    }
  }
  if (!config.clientId) {
    throw new KafkaBusError('INVALID_CONFIG', 'clientId must not be empty', { setting: 'clientId' });
  }
  const c = config.consumer ?? {};
  const sessionTimeoutMs = positiveInt('consumer.sessionTimeoutMs', c.sessionTimeoutMs, 30_000);
  const heartbeatIntervalMs = positiveInt('consumer.heartbeatIntervalMs', c.heartbeatIntervalMs, 3_000);
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) {
    throw new KafkaBusError(
      'INVALID_CONFIG',
      `consumer.heartbeatIntervalMs (${heartbeatIntervalMs}) must be at most a third of consumer.sessionTimeoutMs (${sessionTimeoutMs})`,
      { setting: 'consumer.heartbeatIntervalMs', value: heartbeatIntervalMs },
    );
  }
  const initialBackoffMs = positiveInt(
    'consumer.redelivery.initialBackoffMs',
    c.redelivery?.initialBackoffMs,
    500,
  );
  const maxBackoffMs = positiveInt('consumer.redelivery.maxBackoffMs', c.redelivery?.maxBackoffMs, 30_000);
  if (maxBackoffMs < initialBackoffMs) {
    throw new KafkaBusError(
      'INVALID_CONFIG',
      `consumer.redelivery.maxBackoffMs (${maxBackoffMs}) must not be below initialBackoffMs (${initialBackoffMs})`,
      { setting: 'consumer.redelivery.maxBackoffMs', value: maxBackoffMs },
    );
  }
  const r = config.retry ?? {};
  const replicationFactor = positiveInt('topics.replicationFactor', config.topics?.replicationFactor, 3);
  const minInsyncReplicas = positiveInt('topics.minInsyncReplicas', config.topics?.minInsyncReplicas, 2);
  if (minInsyncReplicas > replicationFactor) {
    throw new KafkaBusError(
      'INVALID_CONFIG',
      `topics.minInsyncReplicas (${minInsyncReplicas}) must not exceed topics.replicationFactor (${replicationFactor})`,
      { setting: 'topics.minInsyncReplicas', value: minInsyncReplicas },
    );
  }
  return {
    brokers: [...config.brokers],
    clientId: config.clientId,
    ssl: config.ssl,
    sasl: config.sasl,
    connectionTimeoutMs: positiveInt('connectionTimeoutMs', config.connectionTimeoutMs, 3_000),
    requestTimeoutMs: positiveInt('requestTimeoutMs', config.requestTimeoutMs, 30_000),
    retry: {
      retries: positiveInt('retry.retries', r.retries, 8, 0),
      initialRetryTimeMs: positiveInt('retry.initialRetryTimeMs', r.initialRetryTimeMs, 300),
      maxRetryTimeMs: positiveInt('retry.maxRetryTimeMs', r.maxRetryTimeMs, 10_000),
    },
    idempotent: config.producer?.idempotent ?? false,
    compression: config.producer?.compression ?? 'gzip',
    sessionTimeoutMs,
    heartbeatIntervalMs,
    rebalanceTimeoutMs: positiveInt('consumer.rebalanceTimeoutMs', c.rebalanceTimeoutMs, 60_000),
    maxWaitTimeMs: positiveInt('consumer.maxWaitTimeMs', c.maxWaitTimeMs, 500),
    partitionsConsumedConcurrently: positiveInt(
      'consumer.partitionsConsumedConcurrently',
      c.partitionsConsumedConcurrently,
      1,
    ),
    initialBackoffMs,
    maxBackoffMs,
    replicationFactor,
    minInsyncReplicas,
    logger: config.logger ?? stderrLogger,
    clientLogLevel: config.clientLogLevel ?? 'warn',
  };
}
