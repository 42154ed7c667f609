import { Pool } from 'pg';
import pino from 'pino';
import type {
  EventBus,
  OffsetReset,
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
  TopicSpec,
} from '../event-bus.port';
import { GroupMember, type MemberHost } from './group-member';
import { NotificationListener } from './notification-listener';
import { type PartitionWorker, partitionKey } from './partition-worker';
import { partitionForKey } from './partitioner';
import { groupChannel, migrateBusSchema, topicChannel } from './schema';
import { type BusLogger, PostgresBusError, type PostgresEventBusOptions } from './types';
import { inTransaction } from './transaction';

/** A topic spec with this adapter's retention (Kafka's `retention.ms`; null = forever). */
export interface PostgresTopicSpec extends TopicSpec {
  retentionMs?: number | null;
}

/** Kafka's legal topic names, enforced so that topics stay portable between the two adapters. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** Rows deleted per statement by pruneExpired(), so that pruning never holds long locks. */
const PRUNE_BATCH = 20_000;

/**
 * The event-bus port over a durable log in Postgres (schema `bus`, see schema.ts), the
 * one-machine stand-in for Kafka with the guarantees services rely on: per-key order
 * (murmur2 key → partition, as Kafka), at-least-once delivery (positions committed after the
 * handler returns), independent consumer groups, replay (resetOffsets), and groups whose
 * members share partitions (leases, group-member.ts).
 *
 * Wake-up: one dedicated LISTEN session per bus instance; a publish NOTIFYs `bus_t_<hash>`
 * of each topic it wrote, in its own transaction. NOTIFY is best effort (lost while the
 * session is down), so a head poller also checks every `pollIntervalMs` (default 500 ms) —
 * one cheap query over partition heads per bus, not per partition — and wakes every worker
 * whose position is behind its partition's head.
 */
export class PostgresEventBus implements EventBus {
  readonly kind = 'postgres' as const;
  readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly logger: BusLogger;
  private readonly host: MemberHost;
  private readonly pollIntervalMs: number;
  private readonly pruneIntervalMs: number;
  private readonly defaultRetentionMs: number | null;
  private readonly listenerAppName: string;
  private readonly listenReconnect: { initialMs: number; maxMs: number };
  /** Partition counts never change once a topic exists (ensureTopics keeps them), so they are cached forever. */
  private readonly partitionCounts = new Map<string, number>();
  private readonly members = new Set<GroupMember>();
  /** Workers of all this bus's subscriptions by (topic, partition): groups may share a partition. */
  private readonly workers = new Map<string, Set<PartitionWorker>>();
  /** Topic → number of workers reading it: what the head poller asks about. */
  private readonly workerTopics = new Map<string, number>();
  private readonly channelTopics = new Map<string, string>();
  private listener: NotificationListener | undefined;
  private migrated: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: PostgresEventBusOptions | string | Pool) {
    const opts: PostgresEventBusOptions =
      typeof options === 'string' || options instanceof Pool ? { connection: options } : options;
    const appName = opts.applicationName ?? 'cairn-bus';
    if (typeof opts.connection === 'string') {
      this.pool = new Pool({
        connectionString: opts.connection,
        max: opts.poolSize ?? 10,
        application_name: appName,
      });
      this.ownsPool = true;
    } else {
      this.pool = opts.connection;
      this.ownsPool = false;
    }
    this.logger = opts.logger ?? pino({ name: 'cairn.postgres-bus', level: 'warn' });
    if (this.ownsPool) {
      // An idle pooled session that the server terminates emits 'error' on the pool; without a
      // listener Node would crash. The next query simply opens a new session.
      this.pool.on('error', (err) => {
        if (!this.closing) this.logger.warn({ err }, 'postgres bus: idle session lost');
      });
    }
    const sessionTimeoutMs = opts.sessionTimeoutMs ?? 10_000;
    const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 1_000;
    if (heartbeatIntervalMs * 2 > sessionTimeoutMs) {
      throw new PostgresBusError(
        'BUS_INVALID_ARGUMENT',
        'heartbeatIntervalMs must be at most half of sessionTimeoutMs',
        { heartbeatIntervalMs, sessionTimeoutMs },
      );
    }
    this.pollIntervalMs = opts.pollIntervalMs ?? 500;
    this.pruneIntervalMs = opts.pruneIntervalMs ?? 300_000;
    this.defaultRetentionMs =
      opts.defaultRetentionMs === undefined ? 7 * 24 * 3600_000 : opts.defaultRetentionMs;
    this.listenerAppName = `${opts.applicationName ?? this.pool.options.application_name ?? appName}:listen`;
    this.listenReconnect = opts.listenReconnect ?? { initialMs: 100, maxMs: 5_000 };
    this.host = {
      pool: this.pool,
      logger: this.logger,
      heartbeatIntervalMs,
      sessionTimeoutMs,
      drainTimeoutMs: opts.drainTimeoutMs ?? sessionTimeoutMs,
      retry: opts.retry ?? { initialMs: 100, maxMs: 30_000 },
      topicPartitions: (topics) => this.topicPartitions(topics),
      listen: (channels) => this.listen(channels),
      unlisten: (channels) => this.listener?.remove(channels),
      workerStarted: (w) => this.workerStarted(w),
      workerEnded: (w) => this.workerEnded(w),
      memberEnded: (m) => this.members.delete(m),
    };
    if (this.pruneIntervalMs > 0) this.schedulePrune();
  }

  /** True while the LISTEN session is up (polling covers the gaps either way). */
  get listening(): boolean {
    return this.listener?.connected ?? false;
  }

  /** Creates or upgrades the `bus` schema; every other method calls it first (once). */
  migrate(): Promise<void> {
    this.migrated ??= migrateBusSchema(this.pool).catch((err: unknown) => {
      this.migrated = undefined; // let the next call retry
      throw err;
    });
    return this.migrated;
  }

  async ensureTopics(topics: PostgresTopicSpec[]): Promise<void> {
    this.assertOpen();
    for (const t of topics) {
      if (!TOPIC_NAME.test(t.name)) {
        throw new PostgresBusError('BUS_INVALID_TOPIC', 'topic names are 1-249 of [a-zA-Z0-9._-]', t.name);
      }
      if (!Number.isInteger(t.partitions) || t.partitions < 1 || t.partitions > 10_000) {
        throw new PostgresBusError('BUS_INVALID_ARGUMENT', `bad partition count for ${t.name}`, t.partitions);
      }
      const r = t.retentionMs;
      if (r !== undefined && r !== null && (!Number.isInteger(r) || r <= 0)) {
        throw new PostgresBusError('BUS_INVALID_ARGUMENT', `bad retention for ${t.name}`, r);
      }
    }
    if (topics.length === 0) return;
    await this.migrate();
    // One statement: a topic and its partition heads appear together, and a concurrent
    // creator of the same topic loses the ON CONFLICT and adds no partitions.
    await this.pool.query(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::int[], $3::int8[]) AS i(name, partitions, retention_ms)
       ), created AS (
         INSERT INTO bus.topics (name, partitions, retention_ms)
         SELECT name, partitions, retention_ms FROM input
         ON CONFLICT (name) DO NOTHING
         RETURNING name, partitions
       )
       INSERT INTO bus.partitions (topic, partition)
       SELECT name, generate_series(0, partitions - 1) FROM created`,
      [
        topics.map((t) => t.name),
        topics.map((t) => t.partitions),
        topics.map((t) => (t.retentionMs === undefined ? this.defaultRetentionMs : t.retentionMs)),
      ],
    );
  }

  /**
   * One single-statement transaction (bus.append) for the whole batch, whatever its topics
   * and partitions: resolves once committed, rejects with nothing stored.
   */
  async publish(messages: OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    await this.migrate();
    const counts = await this.topicPartitions([...new Set(messages.map((m) => m.topic))]);
    const n = messages.length;
    const topics = new Array<string>(n);
    const partitions = new Array<number>(n);
    const seqs = new Array<number>(n);
    const keys = new Array<string>(n);
    const values = new Array<string>(n);
    const headers = new Array<string>(n);
    const nextSeq = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const m = messages[i];
      const count = counts.get(m.topic);
      if (count === undefined)
        throw new PostgresBusError('BUS_UNKNOWN_TOPIC', `no topic ${m.topic}`, m.topic);
      const p = partitionForKey(m.key, count);
      const pk = partitionKey(m.topic, p);
      const seq = nextSeq.get(pk) ?? 0;
      nextSeq.set(pk, seq + 1);
      topics[i] = m.topic;
      partitions[i] = p;
      seqs[i] = seq;
      keys[i] = m.key;
      values[i] = m.value;
      headers[i] = JSON.stringify(m.headers);
    }
    await this.pool.query({
      name: 'bus_append',
      text: 'SELECT bus.append($1::text[], $2::int[], $3::int[], $4::text[], $5::text[], $6::jsonb[])',
      values: [topics, partitions, seqs, keys, values, headers],
    });
  }

  async subscribe(opts: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    if (!opts.groupId)
      throw new PostgresBusError('BUS_INVALID_ARGUMENT', 'groupId is required', opts.groupId);
    if (opts.topics.length === 0)
      throw new PostgresBusError('BUS_INVALID_ARGUMENT', 'no topics', opts.topics);
    const max = opts.maxBatchSize;
    if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
      throw new PostgresBusError('BUS_INVALID_ARGUMENT', 'maxBatchSize must be a positive integer', max);
    }
    await this.migrate();
    for (const t of opts.topics) this.channelTopics.set(topicChannel(t), t);
    const member = new GroupMember(this.host, { ...opts, topics: [...new Set(opts.topics)] });
    this.members.add(member);
    try {
      await member.join();
    } catch (err) {
      await member.stop();
      throw err;
    }
    return member;
  }

  /** Kafka semantics: only an empty group (no live member) may be reset. */
  async resetOffsets(groupId: string, topic: string, to: OffsetReset): Promise<void> {
    this.assertOpen();
    await this.migrate();
    const count = (await this.topicPartitions([topic])).get(topic);
    if (count === undefined) throw new PostgresBusError('BUS_UNKNOWN_TOPIC', `no topic ${topic}`, topic);
    const explicit = Array.isArray(to) ? to : [];
    for (const e of explicit) {
      if (
        !Number.isInteger(e.partition) ||
        e.partition < 0 ||
        e.partition >= count ||
        !/^\d+$/.test(e.offset)
      ) {
        throw new PostgresBusError('BUS_INVALID_ARGUMENT', `bad reset target for ${topic}`, e);
      }
    }
    await inTransaction(this.pool, async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('cairn.bus.group'), hashtext($1))`, [groupId]);
      const { rows: live } = await c.query<{ member_id: string }>(
        `SELECT member_id FROM bus.members WHERE group_id = $1 AND expires_at > now()`,
        [groupId],
      );
      if (live.length > 0) {
        throw new PostgresBusError(
          'BUS_GROUP_NOT_IDLE',
          `group ${groupId} has live members`,
          live.map((r) => r.member_id),
        );
      }
      if (Array.isArray(to)) {
        const { rows: heads } = await c.query<{ partition: number; next_offset: string }>(
          `SELECT partition, next_offset FROM bus.partitions WHERE topic = $1`,
          [topic],
        );
        const head = new Map(heads.map((h) => [h.partition, BigInt(h.next_offset)]));
        for (const e of to) {
          if (BigInt(e.offset) > (head.get(e.partition) ?? 0n)) {
            throw new PostgresBusError(
              'BUS_OFFSET_OUT_OF_RANGE',
              `offset beyond the head of ${topic}/${e.partition}`,
              e,
            );
          }
        }
        await c.query(
          `INSERT INTO bus.group_partitions (group_id, topic, partition, committed)
           SELECT $1, $2, r.partition, r.committed FROM unnest($3::int[], $4::int8[]) AS r(partition, committed)
           ON CONFLICT (group_id, topic, partition)
           DO UPDATE SET committed = EXCLUDED.committed, committed_at = now()`,
          [groupId, topic, to.map((e) => e.partition), to.map((e) => e.offset)],
        );
      } else {
        await c.query(
          `INSERT INTO bus.group_partitions (group_id, topic, partition, committed)
           SELECT $1, p.topic, p.partition,
                  CASE WHEN $3 = 'latest' THEN p.next_offset
                       ELSE COALESCE((SELECT min(m."offset") FROM bus.messages m
                                      WHERE m.topic = p.topic AND m.partition = p.partition), p.next_offset)
                  END
           FROM bus.partitions p WHERE p.topic = $2
           ON CONFLICT (group_id, topic, partition)
           DO UPDATE SET committed = EXCLUDED.committed, committed_at = now()`,
          [groupId, topic, to],
        );
      }
    });
  }

  /**
   * Head minus committed position per partition. A group without a position on a partition
   * would start at its first retained message, so that is what it counts from.
   */
  async lag(groupId: string, topic: string): Promise<Array<{ partition: number; lag: number }>> {
    this.assertOpen();
    await this.migrate();
    if (!(await this.topicPartitions([topic])).has(topic)) {
      throw new PostgresBusError('BUS_UNKNOWN_TOPIC', `no topic ${topic}`, topic);
    }
    const { rows } = await this.pool.query<{ partition: number; lag: string }>(
      `SELECT p.partition,
              p.next_offset - COALESCE(g.committed,
                (SELECT min(m."offset") FROM bus.messages m WHERE m.topic = p.topic AND m.partition = p.partition),
                p.next_offset) AS lag
       FROM bus.partitions p
       LEFT JOIN bus.group_partitions g ON g.group_id = $1 AND g.topic = p.topic AND g.partition = p.partition
       WHERE p.topic = $2
       ORDER BY p.partition`,
      [groupId, topic],
    );
    return rows.map((r) => ({ partition: r.partition, lag: Math.max(0, Number(r.lag)) }));
  }

  /**
   * Kafka's time-based retention: per partition, deletes the oldest messages up to the first
   * one younger than the topic's retention, whether or not every group consumed them (a
   * group behind the log start simply continues at the first retained offset). Deleting a
   * prefix keeps each partition's log contiguous (a log start offset, as Kafka's). Offsets are
   * never reused: heads are not touched. Returns the number of messages deleted.
   */
  async pruneExpired(): Promise<number> {
    this.assertOpen();
    await this.migrate();
    const { rows: parts } = await this.pool.query<{
      topic: string;
      partition: number;
      low: string | null;
      start: string;
    }>(
      `SELECT p.topic, p.partition,
              (SELECT min(m."offset") FROM bus.messages m WHERE m.topic = p.topic AND m.partition = p.partition) AS low,
              COALESCE((SELECT m."offset" FROM bus.messages m
                        WHERE m.topic = p.topic AND m.partition = p.partition
                          AND m.created_at >= now() - t.retention_ms * interval '1 millisecond'
                        ORDER BY m."offset" LIMIT 1), p.next_offset) AS start
       FROM bus.partitions p JOIN bus.topics t ON t.name = p.topic
       WHERE t.retention_ms IS NOT NULL`,
    );
    let deleted = 0;
    for (const part of parts) {
      if (part.low === null) continue;
      const start = BigInt(part.start);
      for (let low = BigInt(part.low); low < start; low += BigInt(PRUNE_BATCH)) {
        const upper = low + BigInt(PRUNE_BATCH) < start ? low + BigInt(PRUNE_BATCH) : start;
        const { rowCount } = await this.pool.query(
          `DELETE FROM bus.messages WHERE topic = $1 AND partition = $2 AND "offset" >= $3 AND "offset" < $4`,
          [part.topic, part.partition, low.toString(), upper.toString()],
        );
        deleted += rowCount ?? 0;
      }
    }
    return deleted;
  }

  /** Stops every subscription (leaving their groups), the LISTEN session, timers, and the pool if ours. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.pruneTimer);
      await Promise.all([...this.members].map((m) => m.stop()));
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
      await this.listener?.close();
      if (this.ownsPool) await this.pool.end();
    })();
    return this.closing;
  }

  /** Partition counts of those topics that exist (cached; a miss is looked up each time). */
  private async topicPartitions(topics: string[]): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    const missing: string[] = [];
    for (const t of topics) {
      const n = this.partitionCounts.get(t);
      if (n === undefined) missing.push(t);
      else result.set(t, n);
    }
    if (missing.length > 0) {
      const { rows } = await this.pool.query<{ name: string; partitions: number }>(
        `SELECT name, partitions FROM bus.topics WHERE name = ANY($1::text[])`,
        [missing],
      );
      for (const r of rows) {
        this.partitionCounts.set(r.name, r.partitions);
        result.set(r.name, r.partitions);
      }
    }
    return result;
  }

  private async listen(channels: string[]): Promise<void> {
    this.listener ??= new NotificationListener({
      config: { ...this.pool.options, application_name: this.listenerAppName, keepAlive: true },
      logger: this.logger,
      reconnect: this.listenReconnect,
      onNotification: (channel, payload) => this.onNotification(channel, payload),
      onReconnected: () => {
        // Notifications sent while we were away are lost: catch up on everything.
        for (const set of this.workers.values()) for (const w of set) w.wake();
        for (const m of this.members) m.onListenerReconnected();
      },
    });
    await this.listener.add(channels);
  }

  private onNotification(channel: string, payload: string): void {
    const topic = this.channelTopics.get(channel);
    if (topic !== undefined) {
      if (!this.workerTopics.has(topic)) return;
      if (payload === '') {
        for (const set of this.workers.values()) for (const w of set) if (w.topic === topic) w.wake();
      } else {
        for (const p of payload.split(',')) {
          for (const w of this.workers.get(partitionKey(topic, Number(p))) ?? []) w.wake();
        }
      }
      return;
    }
    for (const m of this.members) {
      if (groupChannel(m.groupId) === channel) m.onGroupNotification(payload);
    }
  }

  private workerStarted(worker: PartitionWorker): void {
    let set = this.workers.get(worker.key);
    if (!set) this.workers.set(worker.key, (set = new Set<PartitionWorker>()));
    set.add(worker);
    this.workerTopics.set(worker.topic, (this.workerTopics.get(worker.topic) ?? 0) + 1);
    this.schedulePoll();
  }

  private workerEnded(worker: PartitionWorker): void {
    const set = this.workers.get(worker.key);
    if (!set?.delete(worker)) return;
    if (set.size === 0) this.workers.delete(worker.key);
    const n = (this.workerTopics.get(worker.topic) ?? 1) - 1;
    if (n > 0) this.workerTopics.set(worker.topic, n);
    else this.workerTopics.delete(worker.topic);
  }

  /** The head poller runs while this bus has partition workers. */
  private schedulePoll(): void {
    if (this.pollTimer || this.closing) return;
    this.pollTimer = setTimeout(() => {
      void this.pollHeads().finally(() => {
        this.pollTimer = undefined;
        if (this.workers.size > 0) this.schedulePoll();
      });
    }, this.pollIntervalMs);
    this.pollTimer.unref();
  }

  private async pollHeads(): Promise<void> {
    const topics = [...this.workerTopics.keys()];
    if (topics.length === 0 || this.closing) return;
    try {
      const { rows } = await this.pool.query<{ topic: string; partition: number; next_offset: string }>({
        name: 'bus_heads',
        text: `SELECT topic, partition, next_offset FROM bus.partitions WHERE topic = ANY($1::text[])`,
        values: [topics],
      });
      for (const r of rows) {
        const head = BigInt(r.next_offset);
        for (const w of this.workers.get(partitionKey(r.topic, r.partition)) ?? []) {
          if (w.nextOffset < head) w.wake();
        }
      }
    } catch (err) {
      this.logger.warn({ err }, 'postgres bus: polling partition heads failed');
    }
  }

  private schedulePrune(): void {
    this.pruneTimer = setTimeout(() => {
      void this.pruneExpired()
        .catch((err: unknown) => this.logger.warn({ err }, 'postgres bus: pruning expired messages failed'))
        .finally(() => {
          if (!this.closing) this.schedulePrune();
        });
    }, this.pruneIntervalMs);
    this.pruneTimer.unref();
  }

  private assertOpen(): void {
    if (this.closing) throw new PostgresBusError('BUS_CLOSED', 'the bus is closed');
  }
}
