import { type DynamicModule, Global, Inject, Injectable, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { type CairnEvent, eventRouting, parseEventJson, serializeEvent } from '@cairn/contracts';
import {
  createEventBus,
  dlqTopic,
  type EventBus,
  EventConsumer,
  type EventHandler,
  type EventParser,
  type OutboxRecord,
  OutboxRelay,
  UnitOfWork,
} from '@cairn/messaging';
import { ReadinessRegistry } from '@cairn/telemetry';
import { ROOT_LOGGER, SERVICE_SETTINGS } from './runtime.tokens';

/** The service's event bus (the EventBus port); inject with @Inject(EVENT_BUS). */
export const EVENT_BUS = Symbol('EVENT_BUS');
export const MESSAGING_OPTIONS = Symbol('MESSAGING_OPTIONS');

export interface MessagingOptions {
  /** Topics this service publishes to through its outbox; created at start-up if missing. */
  publishes: string[];
}

/** A consumer a feature module registers; the runtime starts it once the app is up. */
export interface ConsumerSpec {
  /** Short name, unique in the service: the consumer group is `cairn.<service>.<name>`. */
  name: string;
  topics: string[];
  /** Handlers by event type; valid events of other types are acknowledged without effect. */
  handlers: Record<string, EventHandler>;
  startFrom?: 'earliest' | 'latest';
  maxAttempts?: number;
}

/** Inbox records are kept at least twice the bus's default retention (7 days), then pruned. */
const INBOX_RETENTION_DAYS = 14;
const INBOX_PRUNE_EVERY_MS = 60 * 60 * 1000;

/** The outbox row for a catalog event: routed to its producer's topic, keyed by its subject. */
export function outboxRecordOf(event: CairnEvent, aggregateType: string): OutboxRecord {
  const { topic, key } = eventRouting(event);
  return {
    id: event.id,
    topic,
    type: event.type,
    aggregateType,
    aggregateId: key,
    payload: serializeEvent(event),
  };
}

/**
 * Validates a consumed message against the contracts catalog. A type the catalog does not
 * know at all (a producer newer than this build added it) cannot be one this service handles,
 * so it is acknowledged without effect; a known type with an unknown major version, an
 * invalid envelope or invalid data goes to the dead-letter topic.
 */
export const contractsParser: EventParser = (value) => {
  const r = parseEventJson(value);
  if (r.ok) return { ok: true, event: r.event };
  if (r.reason === 'UNKNOWN_TYPE') {
    const env = JSON.parse(value) as { id: string; type: string; subject?: string; data?: unknown };
    return { ok: true, event: { id: env.id, type: env.type, subject: env.subject, data: env.data } };
  }
  return { ok: false, reason: r.reason, message: r.message };
};

/**
 * Registry of a service's consumers. Feature modules call `register` while the app is built
 * (in a provider's constructor or onModuleInit); consumers start after every module is ready.
 */
@Injectable()
export class EventConsumers {
  readonly specs: ConsumerSpec[] = [];

  register(spec: ConsumerSpec): void {
    if (this.specs.some((s) => s.name === spec.name))
      throw new Error(`consumer ${spec.name} registered twice`);
    this.specs.push(spec);
  }
}

/**
 * Runs a service's side of the event backbone: the outbox relay (one leader among the
 * service's replicas), the registered consumers, topic provisioning, inbox pruning, and the
 * `consumers` readiness check. Stopped explicitly by the runtime after the gRPC server has
 * drained and before the database pool closes.
 */
@Injectable()
export class MessagingRuntime {
  private relay?: OutboxRelay;
  private readonly consumers: EventConsumer[] = [];
  private pruneTimer?: NodeJS.Timeout;
  private stopping?: Promise<void>;

  constructor(
    @Inject(EVENT_BUS) readonly bus: EventBus,
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) private readonly settings: ServiceSettings,
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    @Inject(Registry) private readonly metrics: Registry,
    @Inject(ReadinessRegistry) private readonly readiness: ReadinessRegistry,
    @Inject(EventConsumers) private readonly registry: EventConsumers,
    @Inject(MESSAGING_OPTIONS) private readonly opts: MessagingOptions,
  ) {}

  /** Called by the runtime once the Nest application is initialized. */
  async start(): Promise<void> {
    const s = this.settings;
    const consumed = this.registry.specs.flatMap((c) => c.topics);
    const topics = new Set([...this.opts.publishes, ...consumed, ...consumed.map(dlqTopic)]);
    await this.bus.ensureTopics([...topics].map((name) => ({ name, partitions: s.topicPartitions })));

    this.relay = new OutboxRelay({
      ds: this.ds,
      url: s.databaseUrl,
      schema: s.databaseSchema,
      bus: this.bus,
      logger: this.logger.child({ component: 'outbox-relay' }),
      metrics: this.metrics,
    });
    this.relay.start();

    for (const spec of this.registry.specs) {
      const consumer = new EventConsumer({
        bus: this.bus,
        ds: this.ds,
        schema: s.databaseSchema,
        groupId: `cairn.${s.service}.${spec.name}`,
        topics: spec.topics,
        handlers: spec.handlers,
        parse: contractsParser,
        logger: this.logger.child({ component: 'consumer', consumer: spec.name }),
        metrics: this.metrics,
        maxAttempts: spec.maxAttempts,
        startFrom: spec.startFrom,
      });
      await consumer.start();
      this.consumers.push(consumer);
    }
    this.readiness.register({
      name: 'consumers',
      check: async () => {
        const down = this.registry.specs.filter((_, i) => !this.consumers[i]?.running).map((c) => c.name);
        return down.length === 0 ? { ok: true } : { ok: false, detail: `not consuming: ${down.join(', ')}` };
      },
    });
    this.readiness.register({
      name: 'outbox-relay',
      check: async () => (this.relay?.running ? { ok: true } : { ok: false, detail: 'relay stopped' }),
    });
    this.pruneTimer = setInterval(() => void this.pruneInbox(), INBOX_PRUNE_EVERY_MS);
    this.pruneTimer.unref();
    this.logger.info(
      {
        bus: this.bus.kind,
        publishes: this.opts.publishes,
        consumers: this.registry.specs.map((c) => c.name),
      },
      'event backbone running',
    );
  }

  /** A unit of work on this service's schema: state and events in one transaction. */
  unitOfWork(): UnitOfWork {
    return new UnitOfWork(this.ds, this.settings.databaseSchema);
  }

  /** Consumers first (their batches finish and commit), then the relay, then the bus. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      clearInterval(this.pruneTimer);
      await Promise.allSettled(this.consumers.map((c) => c.stop()));
      await this.relay?.stop();
      await this.bus.close();
      this.logger.info('event backbone stopped');
    })());
  }

  private async pruneInbox(): Promise<void> {
    try {
      await this.ds.query(
        `DELETE FROM "${this.settings.databaseSchema}".inbox WHERE processed_at < now() - make_interval(days => $1)`,
        [INBOX_RETENTION_DAYS],
      );
    } catch (err) {
      this.logger.warn({ err }, 'inbox pruning failed; retried at the next interval');
    }
  }
}

@Global()
@Module({})
export class MessagingModule {
  static forRoot(opts: MessagingOptions): DynamicModule {
    return {
      module: MessagingModule,
      providers: [
        { provide: MESSAGING_OPTIONS, useValue: opts },
        {
          provide: EVENT_BUS,
          inject: [SERVICE_SETTINGS, ROOT_LOGGER],
          useFactory: (settings: ServiceSettings, logger: Logger) =>
            createEventBus(
              settings.eventBus.kind === 'postgres'
                ? { ...settings.eventBus, applicationName: `cairn-${settings.service}-bus` }
                : settings.eventBus,
              logger.child({ component: 'event-bus' }),
            ),
        },
        EventConsumers,
        MessagingRuntime,
      ],
      exports: [EVENT_BUS, EventConsumers, MessagingRuntime],
    };
  }
}
