/**
 * DDL for the outbox and inbox tables that live in each service's own schema. A service's
 * migration calls these so the tables version with the rest of its schema.
 *
 * Outbox rows follow Debezium's event-router shape (id = dedup key, aggregate id = message
 * key, type, payload, headers, created time) plus relay bookkeeping. `tx_id` is the id of the
 * inserting transaction: the relay only reads rows of transactions older than every running
 * one, so a row with a lower `seq` can never become visible after a later one was published.
 */
export function createMessagingTablesSql(schema: string): string[] {
  const s = `"${schema}"`;
  return [
    `CREATE TABLE ${s}.outbox (
      seq             bigserial PRIMARY KEY,
      id              uuid NOT NULL UNIQUE,
      topic           text NOT NULL,
      aggregate_type  text NOT NULL,
      aggregate_id    text NOT NULL,
      type            text NOT NULL,
      payload         text NOT NULL,
      headers         jsonb NOT NULL DEFAULT '{}'::jsonb,
      tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
      created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
      sent_at         timestamptz,
      attempts        integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz,
      last_error      text
    )`,
    `CREATE INDEX outbox_pending_idx ON ${s}.outbox (seq) WHERE sent_at IS NULL`,
    `CREATE INDEX outbox_pending_key_idx ON ${s}.outbox (topic, aggregate_id, seq) WHERE sent_at IS NULL`,
    `CREATE INDEX outbox_sent_idx ON ${s}.outbox (sent_at) WHERE sent_at IS NOT NULL`,
    // Rows waiting for a retry: tiny, so finding the held-back keys does not scan the backlog.
    `CREATE INDEX outbox_retry_idx ON ${s}.outbox (topic, aggregate_id) WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL`,
    `CREATE TABLE ${s}.inbox (
      consumer_group text NOT NULL,
      event_id       text NOT NULL,
      event_type     text NOT NULL,
      processed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (consumer_group, event_id)
    )`,
    `CREATE INDEX inbox_processed_idx ON ${s}.inbox (processed_at)`,
  ];
}

export function dropMessagingTablesSql(schema: string): string[] {
  return [`DROP TABLE IF EXISTS "${schema}".inbox`, `DROP TABLE IF EXISTS "${schema}".outbox`];
}

/** The NOTIFY channel a schema's outbox uses to wake its relay. */
export function outboxChannel(schema: string): string {
  return `cairn_outbox_${schema}`;
}
