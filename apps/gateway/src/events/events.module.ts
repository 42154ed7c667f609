import { type DynamicModule, Module } from '@nestjs/common';
import type { ServiceSettings } from '@cairn/config';
import { SERVICE_SETTINGS } from '@cairn/service-runtime';
import { EventJournalConsumer } from './event-journal.consumer';
import { EventJournalRepository } from './event-journal.repository';
import { EventJournalRetention } from './event-journal.retention';
import { EventsGrpc } from './events.grpc';
import type { EventsSettings } from './events.settings';
import { EVENTS_SETTINGS } from './events.tokens';

/**
 * Events.Watch: the event journal (its consumer and retention) and the EventsService gRPC API.
 * Needs the auth feature (AuthorizationService), the gateway's messaging (outbox and inbox) and
 * the EventJournal migration: `EventsModule.forRoot(extra)`.
 */
@Module({})
export class EventsModule {
  static forRoot(settings: EventsSettings): DynamicModule {
    return {
      module: EventsModule,
      providers: [
        { provide: EVENTS_SETTINGS, useValue: settings },
        {
          provide: EventJournalRepository,
          inject: [SERVICE_SETTINGS],
          useFactory: (s: ServiceSettings) => new EventJournalRepository(s.databaseSchema),
        },
        EventJournalConsumer,
        EventJournalRetention,
        EventsGrpc,
      ],
    };
  }
}
