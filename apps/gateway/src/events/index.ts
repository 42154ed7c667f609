export { EventsModule } from './events.module';
export { eventsSettings, type EventsSettings } from './events.settings';
export { EventsGrpc } from './events.grpc';
export { EventJournalRetention } from './event-journal.retention';
export { EVENT_JOURNAL_CONSUMER, JOURNALED_TOPICS } from './event-journal.consumer';
