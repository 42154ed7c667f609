import type { Logger } from 'pino';
import { Client } from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { EventBus, OutgoingMessage } from '../event-bus.port';
import { outboxChannel } from './messaging-tables';

export interface OutboxRelayOptions {
  ds: DataSource;
  /** Connection URL for the relay's own session (leader lock and LISTEN). */
  url: string;
  schema: string;
  bus: EventBus;
  logger: Logger;
  metrics?: Registry;
  batchSize?: number;
  /** Polling fallback when no NOTIFY arrives (NOTIFY is only a wake-up, lost while disconnected). */
  pollIntervalMs?: number;
  /** Backoff for a failing key's head row, and for the relay after a failed pass. */
  retry?: { initialMs: number; maxMs: number };
  /** Sent rows older than this are deleted. */
  retentionMs?: number;
  pruneEveryMs?: number;
}

interface PendingRow {
  seq: string;
  id: string;
  topic: string;
  type: string;
  aggregate_id: string;
  payload: string;
  headers: Record<string, string>;
  attempts: number;
}

/** Waits `ms`, or less if the signal aborts or `woken` resolves; leaves no timer or listener behind. */
const sleep = (ms: number, signal?: AbortSignal, woken?: Promise<void>) =>
  new Promise<void>((resolve) => {
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    void woken?.then(done);
  });

/**
 * Publishes a service's outbox to the event bus.
 *
 * - One relay per schema publishes at a time: instances contend for a session-level advisory
 *   lock, and the holder's LISTEN session is the same connection, so losing the connection
 *   loses leadership at once. Standbys take over when the leader's session ends. This keeps
 *   per-key order with any number of instances; a crash between publish and mark-sent
 *   republishes those rows (at-least-once), and consumers' inboxes absorb the duplicates.
 * - Rows go out in `seq` order, only from transactions older than every running one (see
 *   messaging-tables.ts), so per key they leave in commit order.
 * - A row that fails is retried with capped exponential backoff and holds back the later rows
 *   of its own key only (Axon's sequenced dead letters); other keys keep flowing.
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly retry: { initialMs: number; maxMs: number };
  private readonly retentionMs: number;
  private readonly pruneEveryMs: number;
  private readonly lockKey: string;
  private session: Client | undefined;
  private leader = false;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly stopController = new AbortController();
  private readonly metrics;

  constructor(private readonly opts: OutboxRelayOptions) {
    this.batchSize = opts.batchSize ?? 500;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1_000;
    this.retry = opts.retry ?? { initialMs: 200, maxMs: 30_000 };
    this.retentionMs = opts.retentionMs ?? 7 * 24 * 3600_000;
    this.pruneEveryMs = opts.pruneEveryMs ?? 60_000;
    this.lockKey = `cairn.outbox.${opts.schema}`;
    this.metrics = opts.metrics ? this.createMetrics(opts.metrics) : undefined;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** True while the relay loop is alive (leader or standby): readiness reports it. */
  get running(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.wake?.();
    await this.loop;
    await this.dropSession();
  }

  /**
   * One publishing pass over what is ready now; returns how many rows were published.
   * Exposed for tests and benchmarks; the running relay calls it in its loop.
   */
  async publishPass(): Promise<number> {
    const rows = await this.readyRows();
    if (rows.length === 0) return 0;
    try {
      await this.opts.bus.publish(rows.map(toMessage));
      await this.markSent(rows);
      return rows.length;
    } catch (err) {
      return this.publishKeyByKey(rows, err);
    }
  }

  /**
   * After a failed batch: publish each key's rows on their own, in order, so that one bad
   * key (a message the broker rejects) holds back only itself. A key that fails gets a
   * backoff on its head row; the rest of its rows wait behind it. When the first keys all fail
   * the bus itself is likely down: stop there and let the loop back off.
   */
  private async publishKeyByKey(rows: PendingRow[], batchError: unknown): Promise<number> {
    const byKey = new Map<string, PendingRow[]>();
    for (const r of rows) {
      const list = byKey.get(keyOf(r)) ?? [];
      list.push(r);
      byKey.set(keyOf(r), list);
    }
    let published = 0;
    let failedInARow = 0;
    for (const keyRows of byKey.values()) {
      try {
        await this.opts.bus.publish(keyRows.map(toMessage));
        await this.markSent(keyRows);
        published += keyRows.length;
        failedInARow = 0;
      } catch (err) {
        await this.markFailed(keyRows[0], err);
        this.metrics?.failures.inc();
        failedInARow += 1;
        if (published === 0 && failedInARow >= OUTAGE_AFTER_FAILED_KEYS) throw batchError;
      }
    }
    if (published === 0) throw batchError;
    return published;
  }

  private async run(): Promise<void> {
    let lastPrune = 0;
    let failures = 0;
    while (!this.stopped) {
      try {
        if (!this.leader) {
          await this.tryBecomeLeader();
          if (!this.leader) {
            await sleep(this.pollIntervalMs * 2, this.stopController.signal);
            continue;
          }
          this.opts.logger.info({ schema: this.opts.schema }, 'outbox relay is the leader');
        }
        const woken = this.nextWake();
        const published = await this.publishPass();
        failures = 0;
        if (Date.now() - lastPrune > this.pruneEveryMs) {
          lastPrune = Date.now();
          await this.prune();
        }
        if (published < this.batchSize) await sleep(this.pollIntervalMs, this.stopController.signal, woken);
      } catch (err) {
        failures += 1;
        const delay = Math.min(5_000, this.retry.initialMs * 2 ** (failures - 1));
        this.opts.logger.warn({ err, delay, schema: this.opts.schema }, 'outbox publish failed; backing off');
        if (!this.session) this.leader = false;
        await sleep(delay, this.stopController.signal);
      }
    }
  }

  private nextWake(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private async tryBecomeLeader(): Promise<void> {
    await this.dropSession();
    const session = new Client({
      connectionString: this.opts.url,
      application_name: `cairn-outbox-relay-${this.opts.schema}`,
    });
    session.on('error', (err) => {
      this.opts.logger.warn({ err }, 'outbox relay session lost; giving up leadership');
      this.leader = false;
      this.session = undefined;
      this.wake?.();
    });
    await session.connect();
    const { rows } = await session.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked',
      [this.lockKey],
    );
    if (!rows[0].locked) {
      await session.end();
      return;
    }
    session.on('notification', () => this.wake?.());
    await session.query(`LISTEN "${outboxChannel(this.opts.schema)}"`);
    this.session = session;
    this.leader = true;
  }

  private async dropSession(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    this.leader = false;
    if (session) await session.end().catch(() => undefined);
  }

  private async readyRows(): Promise<PendingRow[]> {
    // Keys whose head row waits for a retry are skipped entirely, so they keep their order
    // without blocking anyone else.
    return this.opts.ds.query(
      `WITH held AS (
         SELECT DISTINCT topic, aggregate_id FROM "${this.opts.schema}".outbox
          WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL AND next_attempt_at > clock_timestamp())
       SELECT seq::text, id::text, topic, type, aggregate_id, payload, headers, attempts
         FROM "${this.opts.schema}".outbox o
        WHERE sent_at IS NULL
          AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
          AND NOT EXISTS (SELECT 1 FROM held h WHERE h.topic = o.topic AND h.aggregate_id = o.aggregate_id)
        ORDER BY o.seq -- the column: the output alias "seq" is text and would sort "10" before "2"
        LIMIT $1`,
      [this.batchSize],
    );
  }

  private async markSent(rows: PendingRow[]): Promise<void> {
    const result: Array<{ latency: number }> = await this.opts.ds.query(
      // Wrapped in a SELECT: TypeORM returns [rows, count] for a bare UPDATE ... RETURNING.
      `WITH sent AS (
         UPDATE "${this.opts.schema}".outbox
            SET sent_at = clock_timestamp(), attempts = attempts + 1, next_attempt_at = NULL
          WHERE seq = ANY($1::bigint[])
          RETURNING extract(epoch FROM (sent_at - created_at))::float8 AS latency)
       SELECT latency FROM sent`,
      [rows.map((r) => r.seq)],
    );
    if (this.metrics) {
      this.metrics.published.inc(rows.length);
      for (const r of result) this.metrics.latency.observe(r.latency);
    }
  }

  private async markFailed(row: PendingRow, err: unknown): Promise<void> {
    const attempts = row.attempts + 1;
    const base = Math.min(this.retry.maxMs, this.retry.initialMs * 2 ** (attempts - 1));
    const delay = Math.round(base / 2 + Math.random() * (base / 2)); // jitter spreads retries
    await this.opts.ds.query(
      `UPDATE "${this.opts.schema}".outbox
          SET attempts = $2, last_error = $3, next_attempt_at = clock_timestamp() + ($4::int * interval '1 millisecond')
        WHERE seq = $1`,
      [row.seq, attempts, err instanceof Error ? err.message.slice(0, 2_000) : String(err), delay],
    );
  }

  private async prune(): Promise<void> {
    await this.opts.ds.query(
      `DELETE FROM "${this.opts.schema}".outbox
        WHERE sent_at IS NOT NULL AND sent_at < clock_timestamp() - ($1::bigint * interval '1 millisecond')`,
      [this.retentionMs],
    );
  }

  private createMetrics(registry: Registry) {
    const ds = this.opts.ds;
    const schema = this.opts.schema;
    return {
      published: new Counter({
        name: 'cairn_outbox_published_total',
        help: 'Outbox rows published to the event bus.',
        registers: [registry],
      }),
      failures: new Counter({
        name: 'cairn_outbox_publish_failures_total',
        help: 'Outbox publish attempts that failed and were scheduled for retry.',
        registers: [registry],
      }),
      latency: new Histogram({
        name: 'cairn_outbox_publish_latency_seconds',
        help: 'Time from an event being committed to the outbox to its publication.',
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
        registers: [registry],
      }),
      backlog: new Gauge({
        name: 'cairn_outbox_backlog',
        help: 'Outbox rows not yet published.',
        registers: [registry],
        async collect() {
          const rows: Array<{ n: number }> = await ds.query(
            `SELECT count(*)::int AS n FROM "${schema}".outbox WHERE sent_at IS NULL`,
          );
          this.set(rows[0].n);
        },
      }),
    };
  }
}

/** This many keys failing in a row, with none published, is taken for a bus outage. */
const OUTAGE_AFTER_FAILED_KEYS = 3;

const keyOf = (r: PendingRow) => `${r.topic}\u0000${r.aggregate_id}`;

function toMessage(r: PendingRow): OutgoingMessage {
  return {
    topic: r.topic,
    key: r.aggregate_id,
    value: r.payload,
    headers: { ...r.headers, ce_id: r.id, ce_type: r.type },
  };
}
