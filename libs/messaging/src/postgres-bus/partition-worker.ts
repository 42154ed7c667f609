import type { Pool } from 'pg';
import type { BatchContext, IncomingMessage, MessageBatch, SubscribeOptions } from '../event-bus.port';
import { abortableDelay, backoffMs, Waker } from './timing';
import type { BusLogger } from './types';

interface MessageRow {
  offset: string;
  key: string;
  value: string;
  headers: Record<string, string>;
  ts: number;
}

export interface PartitionWorkerOptions {
  pool: Pool;
  logger: BusLogger;
  groupId: string;
  memberId: string;
  topic: string;
  partition: number;
  /** The group's committed position when the lease was taken: the next offset to deliver. */
  position: bigint;
  maxBatchSize: number;
  retry: { initialMs: number; maxMs: number };
  handleBatch: SubscribeOptions['handleBatch'];
  heartbeat(): Promise<void>;
  /** Called once when a commit finds that the lease belongs to someone else. */
  onLost(worker: PartitionWorker): void;
}

/**
 * Safety net only: idle workers are woken by NOTIFY and by the bus's head poller, so their own
 * wait can be long without delaying anything.
 */
const IDLE_WAIT_MS = 30_000;

/**
 * Consumes one leased partition for one group member: fetch after the position in offset
 * order, hand the batch over, commit the position under the lease, repeat.
 *
 * Commit rules (the port's contract):
 * - handler returned, signal not aborted: the whole batch is handled; commit after its last
 *   message;
 * - handler threw, or the signal was aborted (revocation, stop) whatever the handler did:
 *   commit only up to the highest resolved offset; the rest is redelivered, from here after
 *   a capped exponential backoff if it threw, by the next owner otherwise. On abort, a handler
 *   that stopped early may still return normally, so returning cannot be taken as "all done".
 * - the commit is `UPDATE ... WHERE owner = me`: if it matches nothing the partition was
 *   taken over (our heartbeat lapsed); the worker aborts its signal and ends without moving
 *   the position, and the new owner redelivers from the last committed position.
 */
export class PartitionWorker {
  readonly key: string;
  /** Aborted when this member loses the partition or stops: the handler's ctx.signal. */
  private readonly controller = new AbortController();
  private readonly waker = new Waker();
  private position: bigint;
  private lost = false;
  readonly done: Promise<void>;

  constructor(private readonly opts: PartitionWorkerOptions) {
    this.key = partitionKey(opts.topic, opts.partition);
    this.position = opts.position;
    this.done = this.run().catch((err: unknown) => {
      // Not expected (run() handles its own failures); the member re-acquires on its next tick.
      this.controller.abort();
      this.opts.logger.error({ err, ...this.where() }, 'postgres bus: partition worker crashed');
      this.opts.onLost(this);
    });
  }

  get topic(): string {
    return this.opts.topic;
  }

  get partition(): number {
    return this.opts.partition;
  }

  /** The next offset this worker will deliver. */
  get nextOffset(): bigint {
    return this.position;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** New messages may be there (NOTIFY or the head poller). */
  wake(): void {
    this.waker.wake();
  }

  /** Stops fetching and aborts the current batch's signal; `done` resolves after its commit. */
  abort(): void {
    this.controller.abort();
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    let failures = 0;
    while (!signal.aborted) {
      this.waker.clear();
      let rows: MessageRow[];
      try {
        rows = await this.fetch();
      } catch (err) {
        failures++;
        this.opts.logger.warn({ err, ...this.where() }, 'postgres bus: fetch failed; retrying');
        await abortableDelay(backoffMs(failures, this.opts.retry), signal);
        continue;
      }
      if (rows.length === 0) {
        await this.waker.wait(signal, IDLE_WAIT_MS);
        continue;
      }
      const outcome = await this.deliver(rows);
      if (this.lost) return;
      if (outcome === 'failed') {
        failures++;
        await abortableDelay(backoffMs(failures, this.opts.retry), signal);
      } else {
        failures = 0;
      }
    }
  }

  private async fetch(): Promise<MessageRow[]> {
    const { rows } = await this.opts.pool.query<MessageRow>({
      name: 'bus_fetch',
      text: `SELECT "offset", key, value, headers,
                    (extract(epoch FROM created_at) * 1000)::float8 AS ts
             FROM bus.messages
             WHERE topic = $1 AND partition = $2 AND "offset" >= $3
             ORDER BY "offset"
             LIMIT $4`,
      values: [this.opts.topic, this.opts.partition, this.position.toString(), this.opts.maxBatchSize],
    });
    return rows;
  }

  private async deliver(rows: MessageRow[]): Promise<'handled' | 'failed'> {
    const { topic, partition } = this.opts;
    const messages: IncomingMessage[] = rows.map((r) => ({
      topic,
      partition,
      offset: r.offset,
      key: r.key,
      value: r.value,
      headers: r.headers,
      timestamp: Math.floor(r.ts),
    }));
    const first = BigInt(rows[0].offset);
    const last = BigInt(rows[rows.length - 1].offset);
    let resolved: bigint | undefined;
    const ctx: BatchContext = {
      signal: this.controller.signal,
      resolveOffset: (offset: string) => {
        const o = BigInt(offset);
        if (o < first || o > last) {
          throw new RangeError(`offset ${offset} is not in this batch (${first}..${last})`);
        }
        if (resolved === undefined || o > resolved) resolved = o;
      },
      heartbeat: () => this.opts.heartbeat(),
    };
    const batch: MessageBatch = { topic, partition, messages };
    let failed = false;
    try {
      await this.opts.handleBatch(batch, ctx);
    } catch (err) {
      failed = true;
      if (!this.controller.signal.aborted) {
        this.opts.logger.warn(
          { err, ...this.where(), first: first.toString() },
          'postgres bus: batch handler failed; backing off',
        );
      }
    }
    const all = !failed && !this.controller.signal.aborted;
    const next = all ? last + 1n : resolved === undefined ? undefined : resolved + 1n;
    if (next !== undefined && next > this.position) await this.commit(next);
    return failed ? 'failed' : 'handled';
  }

  /**
   * Commits under the lease, retrying transient database errors while we still own the
   * partition: the handler's effects are done, so retrying the commit avoids a redelivery.
   */
  private async commit(next: bigint): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { rowCount } = await this.opts.pool.query({
          name: 'bus_commit',
          text: `UPDATE bus.group_partitions
                 SET committed = $5, committed_at = now()
                 WHERE group_id = $1 AND topic = $2 AND partition = $3 AND owner = $4`,
          values: [
            this.opts.groupId,
            this.opts.topic,
            this.opts.partition,
            this.opts.memberId,
            next.toString(),
          ],
        });
        if (rowCount === 1) {
          this.position = next;
          return;
        }
        this.lost = true;
        this.controller.abort();
        this.opts.logger.warn(
          this.where(),
          'postgres bus: partition was taken over; batch will be redelivered',
        );
        this.opts.onLost(this);
        return;
      } catch (err) {
        this.opts.logger.warn({ err, ...this.where(), next: next.toString() }, 'postgres bus: commit failed');
        if (this.controller.signal.aborted) return; // the next owner redelivers from the last commit
        await abortableDelay(backoffMs(attempt, this.opts.retry), this.controller.signal);
      }
    }
  }

  private where() {
    return { groupId: this.opts.groupId, topic: this.opts.topic, partition: this.opts.partition };
  }
}

export function partitionKey(topic: string, partition: number): string {
  return `${partition}\u0000${topic}`;
}
