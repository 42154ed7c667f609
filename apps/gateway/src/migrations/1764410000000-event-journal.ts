import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The event journal behind `EventsService.Watch`: every event the gateway consumed, in the
 * order it appended them (`seq`). `event_id` is unique, so a redelivered event is never
 * journaled twice (the consumer's inbox already guards it; this is the second line). `time`
 * is the event's own time in ms since the epoch; rows older than the retention setting are
 * deleted periodically, so the journal stays bounded and a resume point can age out.
 */
export class EventJournal1764410000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'gateway';
    await q.query(`
      CREATE TABLE "${s}".event_journal (
        seq bigserial PRIMARY KEY,
        event_id text NOT NULL UNIQUE,
        type text NOT NULL,
        source text NOT NULL,
        subject text NOT NULL,
        time bigint NOT NULL,
        data jsonb NOT NULL,
        topic text NOT NULL
      );
      CREATE INDEX event_journal_time_idx ON "${s}".event_journal (time);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'gateway';
    await q.query(`DROP TABLE "${s}".event_journal`);
  }
}
