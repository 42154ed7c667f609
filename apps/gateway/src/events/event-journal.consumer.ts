import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { cloudEventEnvelopeSchema, EVENT_TYPES, TOPICS } from '@cairn/contracts';
import type { ConsumedEvent, EventHandler, IncomingMessage, Transaction } from '@cairn/messaging';
import { EventConsumers } from '@cairn/service-runtime';
import { EventJournalRepository } from './event-journal.repository';

/** The consumer group is `cairn.gateway.event-journal`. */
export const EVENT_JOURNAL_CONSUMER = 'event-journal';

/** Every producing topic but inference logs, which are data, not platform events. */
export const JOURNALED_TOPICS = Object.entries(TOPICS)
  .filter(([name]) => name !== 'inferenceLogs')
  .map(([, topic]) => topic);

/** The envelope attributes the journal keeps beyond what the consumer runtime hands over. */
const envelopeAttributes = cloudEventEnvelopeSchema.pick({ source: true, time: true });

/**
 * Journals every catalog event of the platform's topics for Events.Watch, in the consumer's
 * inbox transaction: a redelivered event (same id) is claimed once, and the journal's unique
 * `event_id` guards the rest. The consumer runtime has validated the whole envelope and `data`
 * against the catalog; events of types this build does not know are acknowledged unjournaled.
 * It starts at the topics' end: the journal is a window on what happens from now on.
 */
@Injectable()
export class EventJournalConsumer implements OnModuleInit {
  constructor(
    @Inject(EventConsumers) private readonly consumers: EventConsumers,
    @Inject(EventJournalRepository) private readonly journal: EventJournalRepository,
  ) {}

  onModuleInit(): void {
    const handlers: Record<string, EventHandler> = {};
    for (const type of EVENT_TYPES) handlers[type] = (event, tx, message) => this.handle(event, tx, message);
    this.consumers.register({
      name: EVENT_JOURNAL_CONSUMER,
      topics: JOURNALED_TOPICS,
      handlers,
      startFrom: 'latest',
    });
  }

  private async handle(event: ConsumedEvent, tx: Transaction, message: IncomingMessage): Promise<void> {
    const envelope = envelopeAttributes.parse(JSON.parse(message.value));
    await this.journal.append(tx.manager, {
      eventId: event.id,
      type: event.type,
      source: envelope.source,
      subject: event.subject ?? '',
      time: Date.parse(envelope.time),
      data: event.data,
      topic: message.topic,
    });
  }
}
