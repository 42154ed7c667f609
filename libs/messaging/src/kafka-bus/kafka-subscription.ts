import type { Admin, Consumer, EachBatchPayload, IMemberAssignment, Kafka } from 'kafkajs';
import type { BatchContext, IncomingMessage, SubscribeOptions, Subscription } from '../event-bus.port';
import type { ResolvedKafkaEventBusConfig } from './kafka-bus.config';
import { errorMessage, isGroupMembershipError, KafkaBusError } from './kafka-bus.errors';
import { fromKafkaMessage, nextOffset } from './kafka-messages';

/** One handler call in progress: what aborts it and whether the group moved on meanwhile. */
interface ActiveBatch {
  controller: AbortController;
  /** A heartbeat or commit said this member's generation is over; kafkajs must re-join. */
  membershipError?: Error;
}

const COMMIT_ATTEMPTS = 3;

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Keeps the original object (kafkajs reads its `type`); `instanceof` fails across Jest realms. */
const asError = (err: unknown): Error =>
  typeof err === 'object' && err !== null && 'message' in err ? (err as Error) : new Error(String(err));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One consumer-group member over kafkajs, driving SubscribeOptions.handleBatch.
 *
 * Delivery: kafkajs `eachBatch` with auto-resolve and auto-commit off. Offsets are committed by
 * us, only after the handler returned (all of the batch) or threw (what it resolved). After a
 * throw the partition is sought back to the first unresolved offset and paused for a capped
 * exponential back-off; pausing (not sleeping in the handler) keeps the member's other
 * partitions flowing and its heartbeats going.
 *
 * Rebalances: kafkajs only learns about one when a heartbeat or commit fails. While a handler
 * runs we heartbeat in the background, so a rebalance (or session loss) aborts the batch's
 * signal within one heartbeat interval; the membership error is then handed back to kafkajs so
 * that it re-joins. Whatever was not committed is redelivered (to whichever member gets the
 * partition), so handlers must be idempotent, as the inbox makes them.
 *
 * Crashes: kafkajs restarts its consumer after errors it deems retriable and gives up on the
 * others, which left the subscription dead for good (subscribe() had resolved; `running` stayed
 * false). We restart the consumer ourselves instead, with a capped exponential back-off, until
 * stop(). One such error is a SyncGroup rejected with INVALID_REQUEST, which librdkafka's mock
 * cluster (the test broker) answers a follower whose SyncGroup arrives after the leader's has
 * completed the round (a real broker hands that follower its assignment). The crash arrives as
 * an event after run() has resolved, so a promise-retry library does not fit: the back-off is
 * the configured retry times, doubled per attempt and capped at maxRetryTimeMs.
 */
export class KafkaSubscription implements Subscription {
  private readonly consumer: Consumer;
  private ready = false;
  private stopping = false;
  private stopped?: Promise<void>;
  /** Bumped on every group join, so positioning work of an older generation is dropped. */
  private generation = 0;
  private assignment: IMemberAssignment = {};
  private readonly active = new Map<string, ActiveBatch>();
  private readonly failures = new Map<string, number>();
  private readonly backoffTimers = new Map<string, NodeJS.Timeout>();
  /** Partitions paused until their "latest" position is pinned. */
  private readonly held = new Set<string>();
  /** Our own restarts after crashes kafkajs does not restart (see the class comment). */
  private restarts = 0;
  private restartTimer?: NodeJS.Timeout;
  private restarting?: Promise<void>;

  constructor(
    kafka: Kafka,
    private readonly getAdmin: () => Promise<Admin>,
    private readonly config: ResolvedKafkaEventBusConfig,
    private readonly opts: SubscribeOptions,
    private readonly onStopped: (sub: KafkaSubscription) => void,
  ) {
    this.consumer = kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      rebalanceTimeout: config.rebalanceTimeoutMs,
      maxWaitTimeInMs: config.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      retry: {
        retries: config.retry.retries,
        initialRetryTime: config.retry.initialRetryTimeMs,
        maxRetryTime: config.retry.maxRetryTimeMs,
      },
    });
  }

  get running(): boolean {
    return this.ready && !this.stopping;
  }

  /** Connects, subscribes and joins the group; resolves once kafkajs has joined (or is retrying). */
  async start(): Promise<void> {
    const { consumer } = this;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.restarts = 0;
      this.onGroupJoin(e.payload.memberAssignment);
    });
    consumer.on(consumer.events.REBALANCING, () => {
      this.ready = false;
      this.abortActive(undefined, 'PARTITION_REVOKED', 'the group is rebalancing');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.ready = false;
      this.abortActive(undefined, 'PARTITION_REVOKED', 'the consumer crashed and re-joins');
      if (this.stopping) return;
      if (e.payload.restart) {
        this.config.logger.warn(
          { groupId: this.opts.groupId, err: errorMessage(e.payload.error) },
          'kafka consumer crashed; kafkajs restarts it',
        );
        return;
      }
      this.scheduleRestart(e.payload.error);
    });
    consumer.on(consumer.events.STOP, () => {
      this.ready = false;
    });

    await consumer.connect();
    await consumer.subscribe({ topics: this.opts.topics, fromBeginning: this.opts.startFrom !== 'latest' });
    await this.run();
  }

  /** Resolves once kafkajs has joined, or has crashed (the CRASH listener decides what next). */
  private run(): Promise<void> {
    return this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.config.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  /** After a crash kafkajs does not restart from (it has disconnected the consumer by then). */
  private scheduleRestart(err: unknown): void {
    const attempt = ++this.restarts;
    const delayMs = Math.min(
      this.config.retry.maxRetryTimeMs,
      this.config.retry.initialRetryTimeMs * 2 ** Math.min(attempt - 1, 20),
    );
    this.config.logger.error(
      { groupId: this.opts.groupId, err: errorMessage(err), attempt, delayMs },
      'kafka consumer crashed and kafkajs will not restart it; restarting it',
    );
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      this.restarting = (async () => {
        await this.consumer.connect();
        if (!this.stopping) await this.run();
      })().catch((restartErr: unknown) => {
        if (!this.stopping) this.scheduleRestart(restartErr);
      });
    }, delayMs);
  }

  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    this.ready = false;
    this.abortActive(undefined, 'SUBSCRIPTION_STOPPED', 'the subscription is stopping');
    for (const timer of this.backoffTimers.values()) clearTimeout(timer);
    this.backoffTimers.clear();
    clearTimeout(this.restartTimer);
    try {
      // A restart in flight ends its join first, so that the disconnect below stops that consumer.
      await this.restarting;
      // kafkajs waits for the batch in progress (whose commit we make ourselves, see commit()),
      // then leaves the group, so the partitions move to other members without a session timeout.
      await this.consumer.disconnect();
    } finally {
      this.onStopped(this);
    }
  }

  // --- group membership -------------------------------------------------------------------

  /** Runs synchronously inside kafkajs's join, before the first fetch of the new generation. */
  private onGroupJoin(assignment: IMemberAssignment): void {
    if (this.stopping) return;
    const generation = ++this.generation;
    this.assignment = assignment;
    // Normally nothing runs here (kafkajs re-joins between batches), but a partition we no
    // longer own must not be worked on any further.
    for (const [key, batch] of this.active) {
      const [topic, partition] = key.split('\u0000');
      if (!(assignment[topic] ?? []).includes(Number(partition))) {
        batch.controller.abort(
          new KafkaBusError('PARTITION_REVOKED', 'the partition was assigned to another member'),
        );
      }
    }
    if (this.opts.startFrom !== 'latest') {
      // Positions are the committed offsets, else the log start: nothing can be skipped.
      this.ready = true;
      return;
    }
    // kafkajs looks up "latest" lazily, on the first fetch: a message published after `running`
    // turned true but before that lookup would be skipped. So hold the partitions, pin every
    // position without a committed offset to the current end, then release them.
    this.held.clear();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const p of partitions) this.held.add(tpKey(topic, p));
    }
    this.consumer.pause(Object.entries(assignment).map(([topic, partitions]) => ({ topic, partitions })));
    this.positionAtEnd(generation, assignment).catch((err: unknown) => {
      // Only a kafkajs consumer torn down mid-way gets here; its restart joins (and positions) again.
      this.config.logger.warn(
        { groupId: this.opts.groupId, err: errorMessage(err) },
        'positioning at the end failed',
      );
    });
  }

  private async positionAtEnd(generation: number, assignment: IMemberAssignment): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopping || generation !== this.generation) return;
      try {
        await this.pinUncommittedToEnd(generation, assignment);
        break;
      } catch (err) {
        if (this.stopping || generation !== this.generation) return;
        this.config.logger.warn(
          { groupId: this.opts.groupId, err: errorMessage(err), attempt },
          'cannot position new partitions at the end yet; retrying',
        );
        await sleep(
          Math.min(this.config.retry.maxRetryTimeMs, this.config.retry.initialRetryTimeMs * 2 ** attempt),
        );
      }
    }
    if (this.stopping || generation !== this.generation) return;
    this.held.clear();
    for (const [topic, partitions] of Object.entries(assignment)) {
      // A partition still in a redelivery back-off is resumed by its timer.
      const free = partitions.filter((p) => !this.backoffTimers.has(tpKey(topic, p)));
      if (free.length > 0) this.consumer.resume([{ topic, partitions: free }]);
    }
    this.ready = true;
  }

  private async pinUncommittedToEnd(generation: number, assignment: IMemberAssignment): Promise<void> {
    const admin = await this.getAdmin();
    for (const [topic, partitions] of Object.entries(assignment)) {
      const [committed] = await admin.fetchOffsets({ groupId: this.opts.groupId, topics: [topic] });
      const without = partitions.filter((p) => {
        const c = committed?.partitions.find((x) => x.partition === p);
        return c === undefined || BigInt(c.offset) < 0n;
      });
      if (without.length === 0) continue;
      const ends = await admin.fetchTopicOffsets(topic);
      if (generation !== this.generation || this.stopping) return;
      const pins = without.map((partition) => {
        const end = ends.find((e) => e.partition === partition);
        if (!end)
          throw new KafkaBusError('UNKNOWN_TOPIC', `no end offset for ${topic}[${partition}]`, {
            topic,
            partition,
          });
        return { topic, partition, offset: end.high };
      });
      // The seek decides where this member reads; the commit keeps that position for the group
      // if the partition moves to another member (or this one restarts) before consuming.
      for (const pin of pins) this.consumer.seek(pin);
      await this.consumer.commitOffsets(pins);
    }
  }

  private abortActive(
    only: ((key: string) => boolean) | undefined,
    reason: 'PARTITION_REVOKED' | 'SUBSCRIPTION_STOPPED',
    message: string,
  ): void {
    for (const [key, batch] of this.active) {
      if (only && !only(key)) continue;
      batch.controller.abort(new KafkaBusError(reason, message, { groupId: this.opts.groupId }));
    }
  }

  // --- delivery --------------------------------------------------------------------------

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    if (batch.messages.length === 0 || this.stopping) return;

    const key = tpKey(topic, partition);
    const active: ActiveBatch = { controller: new AbortController() };
    this.active.set(key, active);
    // Keeps the membership alive during long handlers, and notices a rebalance while one runs.
    const beat = setInterval(() => void this.heartbeat(payload, active), this.config.heartbeatIntervalMs);
    try {
      const messages = batch.messages.map((m) => fromKafkaMessage(topic, partition, m));
      const size =
        this.opts.maxBatchSize && this.opts.maxBatchSize > 0 ? this.opts.maxBatchSize : messages.length;
      for (let start = 0; start < messages.length; start += size) {
        if (active.controller.signal.aborted || !payload.isRunning()) break;
        const chunk = messages.slice(start, start + size);
        const isBatchEnd = start + size >= messages.length;
        const handled = await this.deliver(payload, active, chunk, isBatchEnd);
        if (!handled) break;
      }
    } finally {
      clearInterval(beat);
      this.active.delete(key);
    }
    // Handing the membership error back is what makes kafkajs re-join the group.
    if (active.membershipError !== undefined) throw active.membershipError;
  }

  /** Hands one chunk to the handler and commits; false when the rest of the batch must wait. */
  private async deliver(
    payload: EachBatchPayload,
    active: ActiveBatch,
    chunk: IncomingMessage[],
    isBatchEnd: boolean,
  ): Promise<boolean> {
    const { topic, partition } = payload.batch;
    const first = BigInt(chunk[0].offset);
    const last = BigInt(chunk[chunk.length - 1].offset);
    let resolved: bigint | undefined;
    const ctx: BatchContext = {
      signal: active.controller.signal,
      resolveOffset: (offset: string) => {
        if (!/^\d+$/.test(offset)) {
          throw new KafkaBusError(
            'INVALID_ARGUMENT',
            `resolveOffset: not an offset: ${JSON.stringify(offset)}`,
            {
              topic,
              partition,
              offset,
            },
          );
        }
        // Offsets outside the batch say nothing about it: below is already done, above is capped.
        let o = BigInt(offset);
        if (o < first) return;
        if (o > last) o = last;
        if (resolved === undefined || o > resolved) resolved = o;
      },
      heartbeat: () => this.heartbeat(payload, active),
    };

    try {
      await this.opts.handleBatch({ topic, partition, messages: chunk }, ctx);
    } catch (err) {
      await this.afterFailure(payload, active, chunk, resolved, err);
      return false;
    }

    // At the end of a kafkajs batch, commit past its last offset: it may end in control
    // records (transaction markers) that never reach the handler.
    const lastOffset = chunk[chunk.length - 1].offset;
    const commitAt = isBatchEnd ? nextOffset(payload.batch.lastOffset()) : nextOffset(lastOffset);
    payload.resolveOffset(lastOffset);
    await this.commit(payload, active, commitAt);
    this.failures.delete(tpKey(topic, partition));
    return active.membershipError === undefined;
  }

  private async afterFailure(
    payload: EachBatchPayload,
    active: ActiveBatch,
    chunk: IncomingMessage[],
    resolved: bigint | undefined,
    err: unknown,
  ): Promise<void> {
    const { topic, partition } = payload.batch;
    if (resolved !== undefined) {
      payload.resolveOffset(resolved.toString());
      await this.commit(payload, active, (resolved + 1n).toString());
    }
    // Stopping or revoked: what was resolved is committed; the rest waits for the next owner.
    if (active.controller.signal.aborted || this.stopping || active.membershipError !== undefined) return;

    const from = resolved !== undefined ? (resolved + 1n).toString() : chunk[0].offset;
    const key = tpKey(topic, partition);
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    const delayMs = Math.min(this.config.maxBackoffMs, this.config.initialBackoffMs * 2 ** (attempt - 1));
    this.config.logger.warn(
      {
        groupId: this.opts.groupId,
        topic,
        partition,
        offset: from,
        attempt,
        delayMs,
        err: errorMessage(err),
      },
      'event handler failed; redelivering the unresolved messages after a back-off',
    );
    // The seek drops whatever kafkajs fetched beyond `from` and makes the next fetch start there;
    // the pause is the back-off. A pending seek applies even while the partition is paused.
    this.consumer.seek({ topic, partition, offset: from });
    this.pauseFor(topic, partition, delayMs);
  }

  private pauseFor(topic: string, partition: number, delayMs: number): void {
    const key = tpKey(topic, partition);
    clearTimeout(this.backoffTimers.get(key));
    try {
      this.consumer.pause([{ topic, partitions: [partition] }]);
    } catch {
      // kafkajs is between a crash and its restart: the restart re-reads committed offsets, which
      // already redelivers; only the back-off is lost.
      return;
    }
    const timer = setTimeout(() => {
      this.backoffTimers.delete(key);
      if (this.stopping) return;
      try {
        // A partition held for "latest" positioning is resumed by that positioning instead.
        if (!this.held.has(key)) this.consumer.resume([{ topic, partitions: [partition] }]);
      } catch {
        // Same as above: a fresh kafkajs consumer group does not carry the pause over.
      }
    }, delayMs);
    this.backoffTimers.set(key, timer);
  }

  /** Commits `offset` (the next one to read) for the batch's partition, with a few retries. */
  private async commit(payload: EachBatchPayload, active: ActiveBatch, offset: string): Promise<void> {
    const { topic, partition } = payload.batch;
    const offsets = { topics: [{ topic, partitions: [{ partition, offset }] }] };
    for (let attempt = 1; ; attempt++) {
      try {
        // Not consumer.commitOffsets(): kafkajs turns that into a silent no-op once stop() has
        // begun, which would drop the commit of the very batch stop() waits for.
        await payload.commitOffsetsIfNecessary(offsets);
        return;
      } catch (err) {
        if (isGroupMembershipError(err)) {
          active.membershipError ??= asError(err);
          active.controller.abort(new KafkaBusError('PARTITION_REVOKED', 'the group is rebalancing'));
          return;
        }
        if (attempt >= COMMIT_ATTEMPTS) {
          // kafkajs restarts its fetch loop on this; the handled offsets stay resolved in kafkajs
          // and the next commit of this partition covers them.
          throw err;
        }
        await sleep(this.config.retry.initialRetryTimeMs * attempt);
      }
    }
  }

  private async heartbeat(payload: EachBatchPayload, active: ActiveBatch): Promise<void> {
    if (active.membershipError !== undefined) return;
    try {
      await payload.heartbeat();
    } catch (err) {
      if (isGroupMembershipError(err)) {
        active.membershipError ??= asError(err);
        active.controller.abort(
          new KafkaBusError(
            'PARTITION_REVOKED',
            'the group is rebalancing; this batch may go to another member',
          ),
        );
        return;
      }
      // Connection trouble: kafkajs's fetch loop meets it too and recovers; a handler asking for
      // a heartbeat should not fail because of it.
      this.config.logger.debug(
        { groupId: this.opts.groupId, err: errorMessage(err) },
        'kafka heartbeat failed',
      );
    }
  }
}
