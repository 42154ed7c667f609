import type { EntityManager } from 'typeorm';
import type { WebhookAction, WebhookEntity, WebhookEvent } from './webhook-events';

export type WebhookStatusName = 'ACTIVE' | 'DISABLED';
export type DeliveryStatusName = 'PENDING' | 'SUCCEEDED' | 'FAILED';

/** A webhook as the API shows it: never with its secret. */
export interface WebhookRecord {
  webhookId: string;
  name: string;
  description: string;
  url: string;
  events: WebhookEvent[];
  status: WebhookStatusName;
  hasSecret: boolean;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
}

export interface DeliveryRecord {
  deliveryId: string;
  webhookId: string;
  eventId: string;
  event: WebhookEvent;
  status: DeliveryStatusName;
  payload: string;
  attempts: number;
  nextAttemptAt: number | null;
  lastResponseStatus: number | null;
  lastError: string;
  createdAt: number;
  deliveredAt: number | null;
  /** The sort key of the listing, as Postgres prints it (page tokens). */
  createdAtText: string;
}

/** A delivery claimed for one attempt, with what is needed to post it. */
export interface ClaimedDelivery {
  deliveryId: string;
  webhookId: string;
  payload: string;
  attempts: number;
  url: string;
  secret: string | null;
  webhookStatus: WebhookStatusName;
}

type Query = Pick<EntityManager, 'query'>;

interface WebhookRow {
  webhook_id: string;
  name: string;
  description: string;
  url: string;
  status: WebhookStatusName;
  has_secret: boolean;
  creation_timestamp: string;
  last_updated_timestamp: string;
  events: Array<{ entity: WebhookEntity; action: WebhookAction }> | null;
}

interface DeliveryRow {
  delivery_id: string;
  webhook_id: string;
  event_id: string;
  entity: WebhookEntity;
  action: WebhookAction;
  status: DeliveryStatusName;
  payload: string;
  attempts: number;
  next_attempt_ms: string | null;
  last_response_status: number | null;
  last_error: string;
  created_ms: string;
  delivered_ms: string | null;
  created_at_text: string;
}

const toWebhook = (r: WebhookRow): WebhookRecord => ({
  webhookId: r.webhook_id,
  name: r.name,
  description: r.description,
  url: r.url,
  events: r.events ?? [],
  status: r.status,
  hasSecret: r.has_secret,
  creationTimestamp: Number(r.creation_timestamp),
  lastUpdatedTimestamp: Number(r.last_updated_timestamp),
});

const toDelivery = (r: DeliveryRow): DeliveryRecord => ({
  deliveryId: r.delivery_id,
  webhookId: r.webhook_id,
  eventId: r.event_id,
  event: { entity: r.entity, action: r.action },
  status: r.status,
  payload: r.payload,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_ms === null ? null : Number(r.next_attempt_ms),
  lastResponseStatus: r.last_response_status,
  lastError: r.last_error,
  createdAt: Number(r.created_ms),
  deliveredAt: r.delivered_ms === null ? null : Number(r.delivered_ms),
  createdAtText: r.created_at_text,
});

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::bigint::text`;

/** SQL of the webhook tables; every method runs on the manager it is given (a transaction or not). */
export class WebhooksRepository {
  constructor(private readonly schema: string) {}

  private get s(): string {
    return `"${this.schema}"`;
  }

  private selectWebhooks(where: string): string {
    return `SELECT w.webhook_id::text, w.name, w.description, w.url, w.status, w.secret IS NOT NULL AS has_secret,
                   w.creation_timestamp::text, w.last_updated_timestamp::text,
                   (SELECT json_agg(json_build_object('entity', e.entity, 'action', e.action) ORDER BY e.entity, e.action)
                      FROM ${this.s}.webhook_events e WHERE e.webhook_id = w.webhook_id) AS events
              FROM ${this.s}.webhooks w ${where}`;
  }

  async insert(
    m: Query,
    w: {
      webhookId: string;
      name: string;
      description: string;
      url: string;
      secret: string | null;
      status: WebhookStatusName;
      events: WebhookEvent[];
      now: number;
    },
  ): Promise<void> {
    await m.query(
      `INSERT INTO ${this.s}.webhooks (webhook_id, name, description, url, secret, status, creation_timestamp, last_updated_timestamp)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
      [w.webhookId, w.name, w.description, w.url, w.secret, w.status, w.now],
    );
    await this.writeEvents(m, w.webhookId, w.events);
  }

  async find(m: Query, id: string, forUpdate = false): Promise<WebhookRecord | undefined> {
    const rows = await m.query<WebhookRow[]>(
      this.selectWebhooks(`WHERE w.webhook_id = $1${forUpdate ? ' FOR UPDATE OF w' : ''}`),
      [id],
    );
    return rows[0] ? toWebhook(rows[0]) : undefined;
  }

  /** The secret, for signing; only the delivery path and Test read it. */
  async secretOf(m: Query, id: string): Promise<string | null> {
    const rows = await m.query<Array<{ secret: string | null }>>(
      `SELECT secret FROM ${this.s}.webhooks WHERE webhook_id = $1`,
      [id],
    );
    return rows[0]?.secret ?? null;
  }

  /** Newest first; `after` is the last row of the previous page. */
  async list(m: Query, limit: number, after?: { t: string; id: string }): Promise<WebhookRecord[]> {
    const rows = after
      ? await m.query<WebhookRow[]>(
          this.selectWebhooks(
            `WHERE (w.creation_timestamp, w.webhook_id) < ($2::bigint, $3::uuid)
             ORDER BY w.creation_timestamp DESC, w.webhook_id DESC LIMIT $1`,
          ),
          [limit, after.t, after.id],
        )
      : await m.query<WebhookRow[]>(
          this.selectWebhooks(`ORDER BY w.creation_timestamp DESC, w.webhook_id DESC LIMIT $1`),
          [limit],
        );
    return rows.map(toWebhook);
  }

  async update(
    m: Query,
    id: string,
    change: {
      name?: string;
      description?: string;
      url?: string;
      /** null removes the secret. */
      secret?: string | null;
      status?: WebhookStatusName;
      events?: WebhookEvent[];
      now: number;
    },
  ): Promise<void> {
    await m.query(
      `UPDATE ${this.s}.webhooks SET
         name = COALESCE($2, name),
         description = COALESCE($3, description),
         url = COALESCE($4, url),
         secret = CASE WHEN $5::boolean THEN $6 ELSE secret END,
         status = COALESCE($7, status),
         last_updated_timestamp = $8
       WHERE webhook_id = $1`,
      [
        id,
        change.name ?? null,
        change.description ?? null,
        change.url ?? null,
        change.secret !== undefined,
        change.secret ?? null,
        change.status ?? null,
        change.now,
      ],
    );
    if (change.events) {
      await m.query(`DELETE FROM ${this.s}.webhook_events WHERE webhook_id = $1`, [id]);
      await this.writeEvents(m, id, change.events);
    }
  }

  async delete(m: Query, id: string): Promise<boolean> {
    const rows = await m.query<Array<{ webhook_id: string }>>(
      `WITH d AS (DELETE FROM ${this.s}.webhooks WHERE webhook_id = $1 RETURNING webhook_id) SELECT webhook_id FROM d`,
      [id],
    );
    return rows.length > 0;
  }

  private async writeEvents(m: Query, id: string, events: WebhookEvent[]): Promise<void> {
    await m.query(
      `INSERT INTO ${this.s}.webhook_events (webhook_id, entity, action)
       SELECT $1, e, a FROM unnest($2::text[], $3::text[]) AS t(e, a)`,
      [id, events.map((e) => e.entity), events.map((e) => e.action)],
    );
  }

  /**
   * One PENDING delivery per ACTIVE webhook subscribed to the event, due at once. A webhook
   * that already has this event (a redelivered event) gets no second one.
   */
  async enqueueDeliveries(m: Query, eventId: string, event: WebhookEvent, payload: string): Promise<number> {
    const rows = await m.query<Array<{ delivery_id: string }>>(
      `INSERT INTO ${this.s}.webhook_deliveries (delivery_id, webhook_id, event_id, entity, action, payload, next_attempt_at)
       SELECT gen_random_uuid(), w.webhook_id, $1, $2, $3, $4, now()
         FROM ${this.s}.webhooks w
         JOIN ${this.s}.webhook_events e ON e.webhook_id = w.webhook_id AND e.entity = $2 AND e.action = $3
        WHERE w.status = 'ACTIVE'
       ON CONFLICT ON CONSTRAINT webhook_deliveries_event_key DO NOTHING
       RETURNING delivery_id`,
      [eventId, event.entity, event.action, payload],
    );
    return rows.length;
  }

  /**
   * Claims up to `limit` due deliveries for one attempt each: counts the attempt and pushes
   * next_attempt_at forward by the lease, in one statement. SKIP LOCKED lets several replicas
   * claim at once without waiting on or taking each other's rows; the lease makes a delivery
   * whose replica died mid-attempt due again once it runs out. The UPDATE sits in a CTE
   * because TypeORM returns `[rows, count]` for a bare UPDATE statement.
   */
  async claimDue(m: Query, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const rows = await m.query<
      Array<{
        delivery_id: string;
        webhook_id: string;
        payload: string;
        attempts: number;
        url: string;
        secret: string | null;
        webhook_status: WebhookStatusName;
      }>
    >(
      `WITH due AS (
         SELECT delivery_id FROM ${this.s}.webhook_deliveries
          WHERE status = 'PENDING' AND next_attempt_at <= now()
          ORDER BY next_attempt_at
          LIMIT $1
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE ${this.s}.webhook_deliveries d
            SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
           FROM due, ${this.s}.webhooks w
          WHERE d.delivery_id = due.delivery_id AND w.webhook_id = d.webhook_id
         RETURNING d.delivery_id::text, d.webhook_id::text, d.payload, d.attempts, w.url, w.secret, w.status AS webhook_status
       )
       SELECT * FROM claimed`,
      [limit, leaseMs],
    );
    return rows.map((r) => ({
      deliveryId: r.delivery_id,
      webhookId: r.webhook_id,
      payload: r.payload,
      attempts: r.attempts,
      url: r.url,
      secret: r.secret,
      webhookStatus: r.webhook_status,
    }));
  }

  /** Records an attempt's outcome; `retryInMs` set means PENDING again after that delay. */
  async recordAttempt(
    m: Query,
    deliveryId: string,
    outcome: {
      status: DeliveryStatusName;
      retryInMs?: number;
      responseStatus?: number;
      error: string;
    },
  ): Promise<void> {
    await m.query(
      `UPDATE ${this.s}.webhook_deliveries SET
         status = $2,
         next_attempt_at = CASE WHEN $2 = 'PENDING' THEN now() + make_interval(secs => $3::float8 / 1000) END,
         last_response_status = $4,
         last_error = $5,
         delivered_at = CASE WHEN $2 = 'SUCCEEDED' THEN now() END
       WHERE delivery_id = $1 AND status = 'PENDING'`,
      [deliveryId, outcome.status, outcome.retryInMs ?? 0, outcome.responseStatus ?? null, outcome.error],
    );
  }

  /** A webhook's deliveries, newest first; `after` is the last row of the previous page. */
  async listDeliveries(
    m: Query,
    webhookId: string,
    limit: number,
    after?: { t: string; id: string },
  ): Promise<DeliveryRecord[]> {
    const select = `SELECT delivery_id::text, webhook_id::text, event_id, entity, action, status, payload, attempts,
                           CASE WHEN status = 'PENDING' THEN ${ms('next_attempt_at')} END AS next_attempt_ms,
                           last_response_status, last_error, ${ms('created_at')} AS created_ms,
                           ${ms('delivered_at')} AS delivered_ms, created_at::text AS created_at_text
                      FROM ${this.s}.webhook_deliveries WHERE webhook_id = $1`;
    const order = `ORDER BY created_at DESC, delivery_id DESC LIMIT $2`;
    const rows = after
      ? await m.query<DeliveryRow[]>(
          `${select} AND (created_at, delivery_id) < ($3::timestamptz, $4::uuid) ${order}`,
          [webhookId, limit, after.t, after.id],
        )
      : await m.query<DeliveryRow[]>(`${select} ${order}`, [webhookId, limit]);
    return rows.map(toDelivery);
  }
}
