import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { SubscribeOptions, Subscription } from '../event-bus.port';
import { assignedPartitions, type GroupMemberView } from './assignment';
import { PartitionWorker, partitionKey } from './partition-worker';
import { groupChannel, topicChannel } from './schema';
import { abortableDelay } from './timing';
import type { BusLogger } from './types';
import { inTransaction } from './transaction';

/** What a member needs from the bus that created it. */
export interface MemberHost {
  pool: Pool;
  logger: BusLogger;
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
  drainTimeoutMs: number;
  retry: { initialMs: number; maxMs: number };
  /** Partition counts of the topics that exist (a topic may be created after subscribing). */
  topicPartitions(topics: string[]): Promise<Map<string, number>>;
  listen(channels: string[]): Promise<void>;
  unlisten(channels: string[]): void;
  workerStarted(worker: PartitionWorker): void;
  workerEnded(worker: PartitionWorker): void;
  memberEnded(member: GroupMember): void;
}

interface OwnerRow {
  topic: string;
  partition: number;
  owner: string | null;
  committed: string;
}

/**
 * One subscription: a member of a consumer group.
 *
 * Membership: a row in bus.members whose `expires_at` the member pushes forward every
 * heartbeat interval (default 1 s; session timeout default 10 s, Kafka's classic values).
 * Heartbeats run on their own timer, independent of batches and of revocations waiting for a
 * batch to finish, so a slow handler does not make its member look dead. A member whose
 * heartbeat finds its row expired or gone has been fenced: it drops every partition and joins
 * again.
 *
 * Assignment: each member derives its share from the live membership (assignment.ts) and
 * converges on it by leases: it releases what it should not own (after its batch finished and
 * was committed), and takes what it should own when the current owner is absent or dead.
 * Members announce joins, leaves and releases on the group's NOTIFY channel so that the others
 * rebalance at once; the heartbeat tick re-runs the assignment anyway, so a lost notification
 * only delays a handover by one heartbeat interval. Lease changes run under a per-group
 * transaction-level advisory lock, so that each sees the memberships and leases committed
 * before it (no two members can both believe a partition was free).
 */
export class GroupMember implements Subscription {
  readonly memberId = randomUUID();
  private readonly workers = new Map<string, PartitionWorker>();
  /** Partitions whose revoked worker is still finishing: not re-acquired until it is done. */
  private readonly retiring = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly channels: string[];
  private readonly startFrom: 'earliest' | 'latest';
  private readonly maxBatchSize: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private rebalanceRequested = false;
  private rebalanceLoop: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private joinedAt = 0;
  private lastHeartbeatOk = 0;
  private fenced = false;
  private assigned = false;
  /** Topics whose positions this member made sure exist (created lazily when a topic appears). */
  private readonly positioned = new Set<string>();
  private joinedOnce = false;

  constructor(
    private readonly host: MemberHost,
    private readonly opts: SubscribeOptions,
  ) {
    this.startFrom = opts.startFrom ?? 'earliest';
    this.maxBatchSize = opts.maxBatchSize ?? 500;
    this.channels = [groupChannel(opts.groupId), ...opts.topics.map(topicChannel)];
  }

  get groupId(): string {
    return this.opts.groupId;
  }

  get topics(): readonly string[] {
    return this.opts.topics;
  }

  /**
   * Joined, initial assignment done, and membership alive (a heartbeat succeeded within the
   * session timeout). Initial assignment is done when the member holds its whole share, or
   * after a session timeout (partitions still held by others then belong to live members that
   * will hand them over on their next tick, so readiness should not wait for them).
   */
  get running(): boolean {
    return (
      this.assigned &&
      !this.stopping.signal.aborted &&
      !this.fenced &&
      Date.now() - this.lastHeartbeatOk < this.host.sessionTimeoutMs
    );
  }

  /** Partitions this member currently consumes, for diagnostics and tests. */
  get ownedPartitions(): Array<{ topic: string; partition: number }> {
    return [...this.workers.values()].map((w) => ({ topic: w.topic, partition: w.partition }));
  }

  async join(): Promise<void> {
    await this.host.listen(this.channels);
    await this.insertMembership();
    await this.ensurePositions();
    this.scheduleHeartbeat();
    this.requestRebalance();
    await this.rebalanceLoop;
  }

  /** A NOTIFY on the group channel from another member. */
  onGroupNotification(fromMemberId: string): void {
    if (fromMemberId !== this.memberId) this.requestRebalance();
  }

  /** After the LISTEN session reconnects: announcements may have been missed. */
  onListenerReconnected(): void {
    this.requestRebalance();
  }

  /** ctx.heartbeat(): renews membership now (the timer does it anyway). */
  async heartbeat(): Promise<void> {
    await this.beat();
  }

  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.heartbeatTimer);
    await this.rebalanceLoop;
    const workers = [...this.workers.values()];
    for (const w of workers) w.abort();
    await this.drain(workers.map((w) => w.done));
    await Promise.all(this.retiring.values());
    // Leaving is an optimisation (others take over at once instead of after the session
    // timeout), so a database error here is logged, not thrown: expiry is the backstop.
    try {
      await inTransaction(this.host.pool, async (c) => {
        await c.query(
          `UPDATE bus.group_partitions SET owner = NULL, owner_since = NULL WHERE group_id = $1 AND owner = $2`,
          [this.groupId, this.memberId],
        );
        await c.query(`DELETE FROM bus.members WHERE group_id = $1 AND member_id = $2`, [
          this.groupId,
          this.memberId,
        ]);
        await c.query(`SELECT pg_notify($1, $2)`, [groupChannel(this.groupId), this.memberId]);
      });
    } catch (err) {
      this.host.logger.warn(
        { err, groupId: this.groupId, memberId: this.memberId },
        'postgres bus: leaving the group failed',
      );
    }
    this.host.unlisten(this.channels);
    this.host.memberEnded(this);
  }

  private async insertMembership(): Promise<void> {
    await inTransaction(this.host.pool, async (c) => {
      await c.query(
        `INSERT INTO bus.members (group_id, member_id, topics, expires_at)
         VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
         ON CONFLICT (group_id, member_id)
         DO UPDATE SET expires_at = EXCLUDED.expires_at, joined_at = now(), topics = EXCLUDED.topics`,
        [this.groupId, this.memberId, this.opts.topics, this.host.sessionTimeoutMs],
      );
      await c.query(`SELECT pg_notify($1, $2)`, [groupChannel(this.groupId), this.memberId]);
    });
    this.joinedAt = Date.now();
    this.lastHeartbeatOk = Date.now();
    this.fenced = false;
  }

  /**
   * Gives the group a position on every partition of its (existing) topics that has none:
   * the partition's head for `latest` (its head at join time: later messages are delivered),
   * its first retained offset for `earliest`. Done at join, before the member counts as
   * running, so nothing published after subscribe() resolved is skipped; concurrent members
   * agree through ON CONFLICT DO NOTHING (the first position wins). A topic that did not
   * exist at join is read from its beginning when it appears, whatever `startFrom` says:
   * all of it was published after the join.
   */
  private async ensurePositions(): Promise<void> {
    const atJoin = !this.joinedOnce;
    this.joinedOnce = true;
    const missing = this.opts.topics.filter((t) => !this.positioned.has(t));
    if (missing.length === 0) return;
    const existing = await this.host.topicPartitions(missing);
    const topics = missing.filter((t) => existing.has(t));
    if (topics.length === 0) return;
    await this.host.pool.query(
      `INSERT INTO bus.group_partitions (group_id, topic, partition, committed)
       SELECT $1, p.topic, p.partition,
              CASE WHEN $3 THEN p.next_offset
                   ELSE COALESCE((SELECT min(m."offset") FROM bus.messages m
                                  WHERE m.topic = p.topic AND m.partition = p.partition), p.next_offset)
              END
       FROM bus.partitions p
       WHERE p.topic = ANY($2::text[])
       ON CONFLICT (group_id, topic, partition) DO NOTHING`,
      [this.groupId, topics, atJoin && this.startFrom === 'latest'],
    );
    for (const t of topics) this.positioned.add(t);
  }

  private scheduleHeartbeat(): void {
    if (this.stopping.signal.aborted) return;
    this.heartbeatTimer = setTimeout(() => {
      void this.beat()
        .catch((err: unknown) => {
          this.host.logger.warn(
            { err, groupId: this.groupId, memberId: this.memberId },
            'postgres bus: heartbeat failed',
          );
          if (Date.now() - this.lastHeartbeatOk >= this.host.sessionTimeoutMs) {
            // Our lease is presumed gone (others may have taken over): stop processing now, as
            // a Kafka consumer does when its session times out, and rejoin once we can.
            this.fenced = true;
            this.revokeAllLocally();
          }
        })
        .finally(() => {
          this.requestRebalance();
          this.scheduleHeartbeat();
        });
    }, this.host.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  /** Renews membership; marks the member fenced if its row expired or was reaped. */
  private async beat(): Promise<void> {
    if (this.stopping.signal.aborted || this.fenced) return;
    const { rowCount } = await this.host.pool.query(
      `UPDATE bus.members SET expires_at = now() + $3 * interval '1 millisecond'
       WHERE group_id = $1 AND member_id = $2 AND expires_at > now()`,
      [this.groupId, this.memberId, this.host.sessionTimeoutMs],
    );
    if (rowCount === 1) {
      this.lastHeartbeatOk = Date.now();
    } else {
      this.host.logger.warn(
        { groupId: this.groupId, memberId: this.memberId },
        'postgres bus: membership expired; dropping partitions and rejoining',
      );
      this.fenced = true;
      this.revokeAllLocally();
    }
  }

  private requestRebalance(): void {
    // Not before our membership row exists (join() requests one right after inserting it). The
    // bus's first LISTEN connection calls onListenerReconnected() while join() is still under
    // way: a rebalance then would not see us among the live members, take our share to be
    // empty and mark the initial assignment done, so `running` would be true with nothing held.
    if (this.stopping.signal.aborted || this.joinedAt === 0) return;
    this.rebalanceRequested = true;
    this.rebalanceLoop ??= (async () => {
      try {
        while (this.rebalanceRequested && !this.stopping.signal.aborted) {
          this.rebalanceRequested = false;
          try {
            await this.rebalance();
          } catch (err) {
            // Retried on the next heartbeat tick.
            this.host.logger.warn(
              { err, groupId: this.groupId, memberId: this.memberId },
              'postgres bus: rebalance failed',
            );
          }
        }
      } finally {
        this.rebalanceLoop = undefined;
      }
    })();
  }

  private async rebalance(): Promise<void> {
    if (this.fenced) {
      // Wait for the dropped partitions' batches before owning anything again.
      await this.drain([...this.retiring.values()]);
      await this.insertMembership();
    }
    await this.ensurePositions();
    const partitions = await this.host.topicPartitions([...this.opts.topics]);
    const { rows: members } = await this.host.pool.query<{ member_id: string; topics: string[] }>(
      `SELECT member_id, topics FROM bus.members WHERE group_id = $1 AND expires_at > now()`,
      [this.groupId],
    );
    const live: GroupMemberView[] = members.map((m) => ({ memberId: m.member_id, topics: m.topics }));
    const desired = new Set<string>();
    for (const [topic, count] of partitions) {
      for (const p of assignedPartitions(topic, count, live, this.memberId))
        desired.add(partitionKey(topic, p));
    }

    const { rows: leases } = await this.host.pool.query<OwnerRow>(
      `SELECT topic, partition, owner, committed FROM bus.group_partitions WHERE group_id = $1 AND topic = ANY($2::text[])`,
      [this.groupId, [...partitions.keys()]],
    );
    const ownerOf = new Map(leases.map((l) => [partitionKey(l.topic, l.partition), l.owner]));

    // Partitions taken over behind our back (we were presumed dead): stop at once, the
    // worker could not commit anyway.
    for (const [key, worker] of this.workers) {
      if (ownerOf.get(key) !== this.memberId) this.retire(worker);
    }

    // Partitions that are ours but should go to another member: let their batch finish and
    // commit, then release them in the transaction below.
    const release: PartitionWorker[] = [...this.workers.values()].filter((w) => !desired.has(w.key));
    for (const w of release) this.retire(w);
    await this.drain(release.map((w) => w.done));
    if (this.stopping.signal.aborted) return;
    const releaseKeys = release.map((w) => w.key);
    // Also release leases recorded for us without a worker (e.g. left over from a fence).
    for (const l of leases) {
      const key = partitionKey(l.topic, l.partition);
      if (l.owner === this.memberId && !desired.has(key) && !releaseKeys.includes(key)) releaseKeys.push(key);
    }

    const acquire = [...desired].filter((k) => !this.workers.has(k) && !this.retiring.has(k));
    if (releaseKeys.length === 0 && acquire.length === 0) {
      this.markAssigned(desired);
      return;
    }

    const acquired = await inTransaction(this.host.pool, async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('cairn.bus.group'), hashtext($1))`, [
        this.groupId,
      ]);
      // Reap dead members so that membership (and everyone's share) shrinks.
      const { rows: reaped } = await c.query<{ member_id: string }>(
        `DELETE FROM bus.members WHERE group_id = $1 AND expires_at <= now() RETURNING member_id`,
        [this.groupId],
      );
      if (reaped.length > 0) {
        await c.query(
          `UPDATE bus.group_partitions SET owner = NULL, owner_since = NULL WHERE group_id = $1 AND owner = ANY($2::text[])`,
          [this.groupId, reaped.map((r) => r.member_id)],
        );
      }
      if (releaseKeys.length > 0) {
        const [topics, parts] = splitKeys(releaseKeys);
        await c.query(
          `UPDATE bus.group_partitions gp SET owner = NULL, owner_since = NULL
           FROM unnest($3::text[], $4::int[]) AS r(topic, partition)
           WHERE gp.group_id = $1 AND gp.owner = $2 AND gp.topic = r.topic AND gp.partition = r.partition`,
          [this.groupId, this.memberId, topics, parts],
        );
      }
      let taken: OwnerRow[] = [];
      if (acquire.length > 0) {
        const [topics, parts] = splitKeys(acquire);
        ({ rows: taken } = await c.query<OwnerRow>(
          `UPDATE bus.group_partitions gp SET owner = $2, owner_since = now()
           FROM unnest($3::text[], $4::int[]) AS a(topic, partition)
           WHERE gp.group_id = $1 AND gp.topic = a.topic AND gp.partition = a.partition
             AND (gp.owner IS NULL OR gp.owner = $2 OR NOT EXISTS (
                   SELECT 1 FROM bus.members m
                   WHERE m.group_id = gp.group_id AND m.member_id = gp.owner AND m.expires_at > now()))
           RETURNING gp.topic, gp.partition, gp.owner, gp.committed`,
          [this.groupId, this.memberId, topics, parts],
        ));
      }
      if (releaseKeys.length > 0 || reaped.length > 0 || taken.length > 0) {
        await c.query(`SELECT pg_notify($1, $2)`, [groupChannel(this.groupId), this.memberId]);
      }
      return taken;
    });

    for (const row of acquired) {
      if (this.stopping.signal.aborted || this.fenced) break;
      this.startWorker(row.topic, row.partition, BigInt(row.committed));
    }
    this.markAssigned(desired);
  }

  private markAssigned(desired: Set<string>): void {
    if (this.assigned || this.fenced) return;
    const complete = [...desired].every((k) => this.workers.has(k));
    if (complete || Date.now() - this.joinedAt >= this.host.sessionTimeoutMs) this.assigned = true;
  }

  private startWorker(topic: string, partition: number, position: bigint): void {
    const worker = new PartitionWorker({
      pool: this.host.pool,
      logger: this.host.logger,
      groupId: this.groupId,
      memberId: this.memberId,
      topic,
      partition,
      position,
      maxBatchSize: this.maxBatchSize,
      retry: this.host.retry,
      handleBatch: (batch, ctx) => this.opts.handleBatch(batch, ctx),
      heartbeat: () => this.heartbeat(),
      onLost: (w) => {
        this.retire(w);
        this.requestRebalance();
      },
    });
    this.workers.set(worker.key, worker);
    this.host.workerStarted(worker);
  }

  /** Aborts a worker and forgets it; its partition is not re-acquired until it is done. */
  private retire(worker: PartitionWorker): void {
    if (this.workers.get(worker.key) !== worker) return;
    this.workers.delete(worker.key);
    worker.abort();
    const finished = worker.done.then(() => {
      this.host.workerEnded(worker);
      if (this.retiring.get(worker.key) === finished) this.retiring.delete(worker.key);
    });
    this.retiring.set(worker.key, finished);
  }

  private revokeAllLocally(): void {
    for (const w of [...this.workers.values()]) this.retire(w);
  }

  /**
   * Waits for batches to finish, at most the drain timeout: a handler that ignores its abort
   * signal must not hold a partition (or a shutdown) forever. Past the timeout its lease is
   * released anyway and its late commit fails the owner check.
   */
  private async drain(done: Array<Promise<void>>): Promise<void> {
    if (done.length === 0) return;
    const timeout = new AbortController();
    const all = Promise.all(done).then(() => true);
    const timedOut = abortableDelay(this.host.drainTimeoutMs, timeout.signal).then(() => false);
    const finished = await Promise.race([all, timedOut]);
    timeout.abort();
    if (!finished) {
      this.host.logger.warn(
        { groupId: this.groupId, memberId: this.memberId, drainTimeoutMs: this.host.drainTimeoutMs },
        'postgres bus: a batch did not finish in time after its partition was revoked',
      );
    }
  }
}

function splitKeys(keys: string[]): [string[], number[]] {
  const topics: string[] = [];
  const parts: number[] = [];
  for (const k of keys) {
    const sep = k.indexOf('\u0000');
    parts.push(Number(k.slice(0, sep)));
    topics.push(k.slice(sep + 1));
  }
  return [topics, parts];
}
