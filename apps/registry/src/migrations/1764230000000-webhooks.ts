import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * MLflow-compatible webhooks and their deliveries.
 *
 * - `webhook_events` holds the (entity, action) pairs a webhook subscribes to, one row each, so
 *   the consumer finds the matching webhooks of an event with one indexed join.
 * - `secret` is kept so deliveries can be signed; the API never returns it. It is readable only
 *   by the registry's own database role, like the rest of this schema.
 * - A delivery is unique per (webhook, event): an event delivered twice to the consumer (a
 *   replay from the dead-letter topic after the inbox was pruned, say) creates no second one.
 * - `next_attempt_at` is the persisted schedule: the worker claims due PENDING rows with
 *   FOR UPDATE SKIP LOCKED and pushes it forward as a lease, so retries survive a restart and
 *   replicas never post the same attempt twice. The partial index keeps that scan to the
 *   pending rows, however many delivered ones accumulate.
 */
export class Webhooks1764230000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'registry';
    await q.query(`
      CREATE TABLE "${s}".webhooks (
        webhook_id uuid PRIMARY KEY,
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        url text NOT NULL,
        secret text,
        status text NOT NULL CHECK (status IN ('ACTIVE', 'DISABLED')),
        creation_timestamp bigint NOT NULL,
        last_updated_timestamp bigint NOT NULL
      );
      CREATE INDEX webhooks_listing_idx ON "${s}".webhooks (creation_timestamp DESC, webhook_id DESC);

      CREATE TABLE "${s}".webhook_events (
        webhook_id uuid NOT NULL REFERENCES "${s}".webhooks ON DELETE CASCADE,
        entity text NOT NULL,
        action text NOT NULL,
        PRIMARY KEY (webhook_id, entity, action)
      );
      CREATE INDEX webhook_events_event_idx ON "${s}".webhook_events (entity, action);

      CREATE TABLE "${s}".webhook_deliveries (
        delivery_id uuid PRIMARY KEY,
        webhook_id uuid NOT NULL REFERENCES "${s}".webhooks ON DELETE CASCADE,
        event_id text NOT NULL,
        entity text NOT NULL,
        action text NOT NULL,
        payload text NOT NULL,
        status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        last_response_status integer,
        last_error text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        CONSTRAINT webhook_deliveries_event_key UNIQUE (webhook_id, event_id)
      );
      CREATE INDEX webhook_deliveries_due_idx ON "${s}".webhook_deliveries (next_attempt_at)
        WHERE status = 'PENDING';
      CREATE INDEX webhook_deliveries_listing_idx
        ON "${s}".webhook_deliveries (webhook_id, created_at DESC, delivery_id DESC);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'registry';
    await q.query(`
      DROP TABLE "${s}".webhook_deliveries;
      DROP TABLE "${s}".webhook_events;
      DROP TABLE "${s}".webhooks;
    `);
  }
}
