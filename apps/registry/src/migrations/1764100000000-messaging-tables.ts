import { MessagingTablesMigration } from '@cairn/messaging';

/** The outbox (events this service publishes) and the inbox (events it has consumed). */
export class MessagingTables1764100000000 extends MessagingTablesMigration {}
