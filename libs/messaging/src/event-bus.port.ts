/**
 * The event-bus port. Services publish through the outbox relay and consume through the
 * consumer runtime; neither knows which adapter is behind this port:
 *  - Kafka (kafkajs) at scale;
 *  - the Postgres log (schema `bus`) on one machine, the default.
 * Both give the guarantees the services rely on: per-key order, at-least-once delivery,
 * independent consumer groups, replay from an offset.
 */

/** A record to publish; the outbox relay builds these from outbox rows. */
export interface OutgoingMessage {
  topic: string;
  /** Partitioning key (the aggregate id): messages with one key stay in order. */
  key: string;
  /** The serialized CloudEvent (structured JSON). */
  value: string;
  /** Transport headers (e.g. `ce_id`, `ce_type`, `traceparent`). */
  headers: Record<string, string>;
}

/** A record as a consumer receives it. */
export interface IncomingMessage {
  topic: string;
  partition: number;
  /** Offset within the partition, a decimal string (offsets are 64-bit). */
  offset: string;
  key: string;
  value: string;
  headers: Record<string, string>;
  /** When the broker or log appended it, in ms since the epoch. */
  timestamp: number;
}

/** Consecutive messages of one partition, in offset order. */
export interface MessageBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
}

export interface BatchContext {
  /**
   * Aborted when the subscription stops or this member loses the partition (rebalance):
   * the handler should stop early; whatever it did not resolve is redelivered.
   */
  signal: AbortSignal;
  /**
   * Marks every message of the batch up to and including `offset` as processed. The adapter
   * commits the group's position only for resolved messages, and only after the handler
   * returns (its effects are committed by then).
   */
  resolveOffset(offset: string): void;
  /** Keeps group membership alive during long batches (Kafka); harmless elsewhere. */
  heartbeat(): Promise<void>;
}

export interface SubscribeOptions {
  /** Consumer group: each group sees every message; members of one group share partitions. */
  groupId: string;
  topics: string[];
  /** Where a group without a committed position starts. Default `earliest`. */
  startFrom?: 'earliest' | 'latest';
  /** Upper bound on messages per batch (adapters may deliver fewer). */
  maxBatchSize?: number;
  /**
   * Handles one batch. Returning means every message was handled (the adapter then commits
   * the position after the last one; explicitly resolved offsets are committed too).
   * Throwing means "not handled": the adapter commits what was resolved, backs off, and
   * redelivers the rest of the partition from there.
   */
  handleBatch(batch: MessageBatch, ctx: BatchContext): Promise<void>;
}

export interface Subscription {
  /** True while connected and consuming: readiness reports it. */
  readonly running: boolean;
  /** Stops fetching, lets the current batch finish, commits, leaves the group. */
  stop(): Promise<void>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
}

/** Where to move a consumer group's position to, for replay. */
export type OffsetReset = 'earliest' | 'latest' | Array<{ partition: number; offset: string }>;

export interface EventBus {
  /** Which adapter this is, for logs and metrics. */
  readonly kind: 'kafka' | 'postgres';
  /** Creates the topics that do not exist yet; existing ones are left as they are. */
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  /**
   * Publishes messages and resolves once all are durably stored (acks from all in-sync
   * replicas; or committed). Messages with one key are stored in the order given. Rejects if
   * any message was not stored; the caller retries (duplicates are absorbed by inboxes).
   */
  publish(messages: OutgoingMessage[]): Promise<void>;
  subscribe(opts: SubscribeOptions): Promise<Subscription>;
  /** Moves a group's committed position on one topic (replay); the group must be idle. */
  resetOffsets(groupId: string, topic: string, to: OffsetReset): Promise<void>;
  /** Lag per topic and partition for a group: last offset minus committed position. */
  lag(groupId: string, topic: string): Promise<Array<{ partition: number; lag: number }>>;
  close(): Promise<void>;
}
