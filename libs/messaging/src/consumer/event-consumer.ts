import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { BatchContext, EventBus, IncomingMessage, MessageBatch, Subscription } from '../event-bus.port';
import { appendToOutbox, type OutboxRecord, type Transaction } from '../outbox/unit-of-work';
import { dlqTopic } from './dead-letters';

/** An event as the consumer hands it to a handler, after envelope and payload validation. */
export interface ConsumedEvent {
  id: string;
  type: string;
  subject?: string;
  data: unknown;
}

/** How the consumer validates a message value: against the contracts catalog in production. */
export type EventParser = (
  value: string,
) => { ok: true; event: ConsumedEvent } | { ok: false; reason: string; message: string };

export type EventHandler = (event: ConsumedEvent, tx: Transaction, message: IncomingMessage) => Promise<void>;

export interface EventConsumerOptions {
  bus: EventBus;
  ds: DataSource;
  /** The consuming service's schema, which holds its inbox (and outbox, for emitted events). */
  schema: string;
  groupId: string;
  topics: string[];
  /** Handlers by event type; valid events of other types are acknowledged without effect. */
  handlers: Record<string, EventHandler>;
  parse: EventParser;
  logger: Logger;
  metrics?: Registry;
  /** Attempts before an event is dead-lettered. Default 5. */
  maxAttempts?: number;
  backoff?: { initialMs: number; maxMs: number };
  startFrom?: 'earliest' | 'latest';
}

class Aborted extends Error {}

const tracer = trace.getTracer('cairn-messaging');

/**
 * Consumes events idempotently. Each event's effects and its inbox record (unique on consumer
 * group and event id) commit in one transaction, so a redelivered event — after a crash, a
 * rebalance, or two deliveries racing — has no second effect: the racing transaction waits on
 * the unique index and then finds the event done. Failures retry with exponential backoff and
 * full jitter; after the last attempt the event goes to `<topic>.dlq` with its error and the
 * partition moves on. Invalid payloads and unknown major versions go to the DLQ at once.
 */
export class EventConsumer {
  private subscription: Subscription | undefined;
  private readonly maxAttempts: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly metrics;

  constructor(private readonly opts: EventConsumerOptions) {
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.backoff = opts.backoff ?? { initialMs: 100, maxMs: 10_000 };
    this.metrics = opts.metrics
      ? consumerMetrics(opts.metrics, opts.bus, opts.groupId, opts.topics)
      : undefined;
  }

  get running(): boolean {
    return this.subscription?.running ?? false;
  }

  async start(): Promise<void> {
    this.subscription = await this.opts.bus.subscribe({
      groupId: this.opts.groupId,
      topics: this.opts.topics,
      startFrom: this.opts.startFrom,
      handleBatch: (batch, ctx) => this.handleBatch(batch, ctx),
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  /**
   * Fast path first: the batch's valid events are applied in one transaction (one commit for
   * the whole batch instead of one per event). If anything in it fails, that transaction rolls
   * back whole and the batch is handled again event by event, each in its own transaction with
   * its own retries and dead-lettering; handlers must therefore keep their effects inside the
   * transaction they are given, which they must anyway for redelivery to be harmless.
   */
  private async handleBatch(batch: MessageBatch, ctx: BatchContext): Promise<void> {
    if (batch.messages.length > 1 && !ctx.signal.aborted) {
      const parsed = batch.messages.map((message) => ({ message, parsed: this.opts.parse(message.value) }));
      if (parsed.every((p) => p.parsed.ok)) {
        const applied = await this.applyBatch(
          parsed.map((p) => ({ message: p.message, event: (p.parsed as { event: ConsumedEvent }).event })),
        ).then(
          () => true,
          (err: unknown) => {
            this.opts.logger.debug(
              { err, topic: batch.topic, partition: batch.partition },
              'batch transaction failed; handling events one by one',
            );
            return false;
          },
        );
        if (applied) {
          ctx.resolveOffset(batch.messages[batch.messages.length - 1].offset);
          return;
        }
      }
    }
    for (const message of batch.messages) {
      if (ctx.signal.aborted) throw new Aborted('partition revoked or consumer stopping');
      await this.handleMessage(message, ctx);
      ctx.resolveOffset(message.offset);
    }
  }

  /** Every event of a batch in one transaction: inbox records claimed at once, then the handlers. */
  private async applyBatch(items: Array<{ message: IncomingMessage; event: ConsumedEvent }>): Promise<void> {
    const handled = items.filter((i) => this.opts.handlers[i.event.type]);
    const outcomes: Array<{ topic: string; outcome: 'handled' | 'duplicate' | 'ignored' }> = [];
    await this.opts.ds.transaction(async (manager) => {
      const claimed = new Set<string>();
      if (handled.length > 0) {
        const rows: Array<{ event_id: string }> = await manager.query(
          `INSERT INTO "${this.opts.schema}".inbox (consumer_group, event_id, event_type)
           SELECT $1, e.id, e.type FROM unnest($2::text[], $3::text[]) AS e(id, type)
           ON CONFLICT DO NOTHING RETURNING event_id`,
          [this.opts.groupId, handled.map((i) => i.event.id), handled.map((i) => i.event.type)],
        );
        for (const r of rows) claimed.add(r.event_id);
      }
      const pending: OutboxRecord[] = [];
      const tx = { manager, emit: (...records: OutboxRecord[]) => pending.push(...records) };
      for (const { message, event } of items) {
        const handler = this.opts.handlers[event.type];
        if (!handler) {
          outcomes.push({ topic: message.topic, outcome: 'ignored' });
          continue;
        }
        // An id claimed once in this batch is applied once, even if the batch holds it twice.
        if (!claimed.delete(event.id)) {
          outcomes.push({ topic: message.topic, outcome: 'duplicate' });
          continue;
        }
        await this.traced(event, message, () => handler(event, tx, message));
        outcomes.push({ topic: message.topic, outcome: 'handled' });
      }
      await appendToOutbox(manager, this.opts.schema, pending);
    });
    for (const o of outcomes)
      this.metrics?.events.inc({ group: this.opts.groupId, topic: o.topic, outcome: o.outcome });
  }

  /** Runs `work` in a consumer span whose parent is the producer's context from the headers. */
  private async traced<T>(
    event: ConsumedEvent,
    message: IncomingMessage,
    work: () => Promise<T>,
  ): Promise<T> {
    const parent = propagation.extract(ROOT_CONTEXT, message.headers);
    const span = tracer.startSpan(
      `process ${event.type}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': this.opts.bus.kind,
          'messaging.destination.name': message.topic,
          'messaging.consumer.group.name': this.opts.groupId,
          'messaging.message.id': event.id,
        },
      },
      parent,
    );
    const started = process.hrtime.bigint();
    try {
      const result = await context.with(trace.setSpan(parent, span), work);
      span.setStatus({ code: SpanStatusCode.OK });
      return result;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
      this.metrics?.duration.observe(
        { group: this.opts.groupId },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    }
  }

  private async handleMessage(message: IncomingMessage, ctx: BatchContext): Promise<void> {
    const parsed = this.opts.parse(message.value);
    if (!parsed.ok) {
      await this.deadLetter(message, parsed.reason, parsed.message, 0);
      return;
    }
    const event = parsed.event;
    const handler = this.opts.handlers[event.type];
    if (!handler) {
      this.metrics?.events.inc({ group: this.opts.groupId, topic: message.topic, outcome: 'ignored' });
      return;
    }
    await this.traced(event, message, () => this.handleWithRetries(event, handler, message, ctx));
  }

  private async handleWithRetries(
    event: ConsumedEvent,
    handler: EventHandler,
    message: IncomingMessage,
    ctx: BatchContext,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await this.applyOnce(event, handler, message);
        this.metrics?.events.inc({ group: this.opts.groupId, topic: message.topic, outcome });
        return;
      } catch (err) {
        if (attempt >= this.maxAttempts) {
          const reason =
            err instanceof Error && 'reason' in err && typeof err.reason === 'string'
              ? err.reason
              : 'HANDLER_FAILED';
          await this.deadLetter(message, reason, err instanceof Error ? err.message : String(err), attempt);
          return;
        }
        const cap = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (attempt - 1));
        const delay = Math.random() * cap; // full jitter: retries of many consumers spread out
        this.opts.logger.warn(
          { err, eventId: event.id, type: event.type, attempt, delayMs: Math.round(delay) },
          'event handler failed; retrying',
        );
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            clearTimeout(timer);
            reject(new Aborted('stopped while waiting to retry'));
          };
          const timer = setTimeout(() => {
            ctx.signal.removeEventListener('abort', onAbort);
            resolve();
          }, delay);
          ctx.signal.addEventListener('abort', onAbort, { once: true });
        });
      }
    }
  }

  /** One transaction: the inbox record and the handler's effects (and any events it emits). */
  private applyOnce(
    event: ConsumedEvent,
    handler: EventHandler,
    message: IncomingMessage,
  ): Promise<'handled' | 'duplicate'> {
    return this.opts.ds.transaction(async (manager) => {
      const inserted: unknown[] = await manager.query(
        `INSERT INTO "${this.opts.schema}".inbox (consumer_group, event_id, event_type) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING 1`,
        [this.opts.groupId, event.id, event.type],
      );
      if (inserted.length === 0) return 'duplicate';
      const pending: OutboxRecord[] = [];
      await handler(event, { manager, emit: (...records) => pending.push(...records) }, message);
      await appendToOutbox(manager, this.opts.schema, pending);
      return 'handled';
    });
  }

  private async deadLetter(
    message: IncomingMessage,
    reason: string,
    error: string,
    attempts: number,
  ): Promise<void> {
    this.opts.logger.error(
      { topic: message.topic, partition: message.partition, offset: message.offset, reason, error, attempts },
      'event dead-lettered',
    );
    await this.opts.bus.publish([
      {
        topic: dlqTopic(message.topic),
        key: message.key,
        value: message.value,
        headers: {
          ...message.headers,
          dlq_reason: reason,
          dlq_error: error.slice(0, 4_000),
          dlq_original_topic: message.topic,
          dlq_original_partition: String(message.partition),
          dlq_original_offset: message.offset,
          dlq_consumer_group: this.opts.groupId,
          dlq_attempts: String(attempts),
          dlq_failed_at: new Date().toISOString(),
        },
      },
    ]);
    this.metrics?.events.inc({ group: this.opts.groupId, topic: message.topic, outcome: 'dead_lettered' });
    this.metrics?.dlq.inc({ topic: message.topic });
  }
}

function consumerMetrics(registry: Registry, bus: EventBus, groupId: string, topics: string[]) {
  const existing = registry.getSingleMetric('cairn_consumer_events_total');
  const events =
    (existing as Counter<'group' | 'topic' | 'outcome'> | undefined) ??
    new Counter({
      name: 'cairn_consumer_events_total',
      help: 'Events consumed, by outcome: handled, duplicate (inbox hit), ignored (no handler), dead_lettered.',
      labelNames: ['group', 'topic', 'outcome'] as const,
      registers: [registry],
    });
  const dlq =
    (registry.getSingleMetric('cairn_consumer_dlq_total') as Counter<'topic'> | undefined) ??
    new Counter({
      name: 'cairn_consumer_dlq_total',
      help: 'Events sent to the dead-letter topic, by original topic.',
      labelNames: ['topic'] as const,
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric('cairn_consumer_handling_seconds') as Histogram<'group'> | undefined) ??
    new Histogram({
      name: 'cairn_consumer_handling_seconds',
      help: 'Time to handle one event, retries included.',
      labelNames: ['group'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    });
  // Lag is read from the bus when Prometheus scrapes, for every consumer on this registry.
  const sources = lagSources.get(registry) ?? [];
  lagSources.set(registry, sources);
  if (!registry.getSingleMetric('cairn_consumer_lag')) {
    new Gauge({
      name: 'cairn_consumer_lag',
      help: 'Messages not yet consumed by the group, per topic.',
      labelNames: ['group', 'topic'] as const,
      registers: [registry],
      async collect() {
        await Promise.all(sources.map((read) => read(this)));
      },
    });
  }
  sources.push(async (gauge) => {
    for (const topic of topics) {
      const lag = await bus.lag(groupId, topic).catch(() => undefined);
      if (lag)
        gauge.set(
          { group: groupId, topic },
          lag.reduce((s, l) => s + l.lag, 0),
        );
    }
  });
  return { events, dlq, duration };
}

const lagSources = new WeakMap<Registry, Array<(gauge: Gauge<'group' | 'topic'>) => Promise<void>>>();
