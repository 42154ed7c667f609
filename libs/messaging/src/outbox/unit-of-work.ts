import { context, propagation } from '@opentelemetry/api';
import type { DataSource, EntityManager } from 'typeorm';
import { outboxChannel } from './messaging-tables';

/** One row for the outbox: an event and where it goes. */
export interface OutboxRecord {
  /** The event id (CloudEvents `id`): the consumers' dedup key. */
  id: string;
  topic: string;
  /** The event type, e.g. `cairn.registry.model.promoted.v1`. */
  type: string;
  aggregateType: string;
  /** The message key: one aggregate's events stay in order. */
  aggregateId: string;
  /** The serialized CloudEvent. */
  payload: string;
  headers?: Record<string, string>;
}

/** The W3C trace context of the active span, to be carried with an event. */
export function currentTraceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/**
 * Appends events to the schema's outbox inside the caller's transaction, with one multi-row
 * insert. The NOTIFY is delivered only if and when that transaction commits.
 */
export async function appendToOutbox(
  manager: EntityManager,
  schema: string,
  records: OutboxRecord[],
): Promise<void> {
  if (records.length === 0) return;
  const trace = currentTraceHeaders();
  await manager.query(
    `INSERT INTO "${schema}".outbox (id, topic, type, aggregate_type, aggregate_id, payload, headers)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[])`,
    [
      records.map((r) => r.id),
      records.map((r) => r.topic),
      records.map((r) => r.type),
      records.map((r) => r.aggregateType),
      records.map((r) => r.aggregateId),
      records.map((r) => r.payload),
      records.map((r) => JSON.stringify({ ...trace, ...r.headers })),
    ],
  );
  await manager.query(`SELECT pg_notify($1, '')`, [outboxChannel(schema)]);
}

/** What a unit of work can do: change state and emit events, atomically. */
export interface Transaction {
  manager: EntityManager;
  emit(...records: OutboxRecord[]): void;
}

/**
 * Runs a unit of work: the service writes its state and its events in one transaction, so an
 * event is published if and only if the state change committed (no dual writes).
 */
export class UnitOfWork {
  constructor(
    private readonly ds: DataSource,
    private readonly schema: string,
  ) {}

  run<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.ds.transaction(async (manager) => {
      const pending: OutboxRecord[] = [];
      const result = await work({ manager, emit: (...records) => pending.push(...records) });
      await appendToOutbox(manager, this.schema, pending);
      return result;
    });
  }
}
