import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type EventData, TOPICS } from '@cairn/contracts';
import type { ConsumedEvent, EventHandler, Transaction } from '@cairn/messaging';
import { EventConsumers, SERVICE_SETTINGS } from '@cairn/service-runtime';
import type { ServiceSettings } from '@cairn/config';
import { EVENT_MAPPERS, type MappedEvent, webhookBody, type WebhookSourceType } from './webhook-events';
import { WebhooksRepository } from './webhooks.repository';

/** The consumer group is `cairn.registry.webhooks`. */
export const WEBHOOKS_CONSUMER = 'webhooks';

/**
 * Turns registry events into webhook deliveries "from the event stream": each event that maps
 * to an MLflow webhook event gets one PENDING delivery per ACTIVE webhook subscribed to it,
 * written in the consumer's inbox transaction (so a redelivered event adds nothing). Posting
 * is the delivery worker's job, outside any transaction.
 */
@Injectable()
export class WebhookEventConsumer implements OnModuleInit {
  private readonly repository: WebhooksRepository;

  constructor(
    @Inject(EventConsumers) private readonly consumers: EventConsumers,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
  ) {
    this.repository = new WebhooksRepository(settings.databaseSchema);
  }

  onModuleInit(): void {
    const handlers: Record<string, EventHandler> = {};
    for (const type of Object.keys(EVENT_MAPPERS) as WebhookSourceType[]) {
      handlers[type] = (event, tx) => this.handle(type, event, tx);
    }
    // A new consumer group starts at the end of the topic: webhooks announce changes from now
    // on (as MLflow's), not the registry's history to a webhook created during a catch-up.
    this.consumers.register({
      name: WEBHOOKS_CONSUMER,
      topics: [TOPICS.registry],
      handlers,
      startFrom: 'latest',
    });
  }

  private async handle<T extends WebhookSourceType>(
    type: T,
    event: ConsumedEvent,
    tx: Transaction,
  ): Promise<void> {
    // The consumer runtime validated `data` against the catalog schema of `type`.
    const mapper = EVENT_MAPPERS[type] as (data: EventData<T>) => MappedEvent;
    const mapped = mapper(event.data as EventData<T>);
    await this.repository.enqueueDeliveries(
      tx.manager,
      event.id,
      mapped.event,
      webhookBody(mapped.event, mapped.data, mapped.occurredAt),
    );
  }
}
