import { MessagingTablesMigration } from '@cairn/messaging';

/** The gateway's outbox and inbox: it consumes the platform's events (the event journal). */
export class MessagingTables1764405000000 extends MessagingTablesMigration {}
