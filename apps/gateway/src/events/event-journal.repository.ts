import type { EntityManager } from 'typeorm';

/** One journaled event, as Watch reads it. */
export interface JournalEntry {
  seq: number;
  eventId: string;
  type: string;
  source: string;
  subject: string;
  time: number;
  dataJson: string;
  /** `data.experimentId` when the payload carries one (tracking events), for authorization. */
  experimentId: string | undefined;
}

export interface JournalAppend {
  eventId: string;
  type: string;
  source: string;
  subject: string;
  time: number;
  data: unknown;
  topic: string;
}

export interface JournalFilter {
  types: readonly string[];
  subjects: readonly string[];
}

interface Row {
  seq: string;
  event_id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  data_json: string;
  experiment_id: string | null;
}

/** Arbitrary but fixed: the advisory lock that serializes journal appends (see `append`). */
const APPEND_LOCK = 0x63_61_69_72_6e_4a;

/** The gateway's event journal (`event_journal`, see the EventJournal migration). */
export class EventJournalRepository {
  constructor(private readonly schema: string) {}

  private get table(): string {
    return `"${this.schema}".event_journal`;
  }

  /**
   * Appends an event unless its id is already journaled. Appends are serialized by a
   * transaction-scoped advisory lock, so rows commit in `seq` order: a watcher that has read
   * up to some `seq` can never later find a smaller one committed behind it.
   */
  async append(m: EntityManager, e: JournalAppend): Promise<void> {
    await m.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
    await m.query(
      `INSERT INTO ${this.table} (event_id, type, source, subject, time, data, topic)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) ON CONFLICT (event_id) DO NOTHING`,
      [e.eventId, e.type, e.source, e.subject, e.time, JSON.stringify(e.data ?? {}), e.topic],
    );
  }

  /** The journal position of an event, undefined when it is not (or no longer) journaled. */
  async seqOf(m: EntityManager, eventId: string): Promise<number | undefined> {
    const rows: Array<{ seq: string }> = await m.query(`SELECT seq FROM ${this.table} WHERE event_id = $1`, [
      eventId,
    ]);
    return rows[0] ? Number(rows[0].seq) : undefined;
  }

  /** The last journaled position (0 for an empty journal). */
  async lastSeq(m: EntityManager): Promise<number> {
    const rows: Array<{ seq: string | null }> = await m.query(`SELECT max(seq) AS seq FROM ${this.table}`);
    return Number(rows[0]?.seq ?? 0);
  }

  /** Up to `limit` entries after `afterSeq` that match the filter, in `seq` order. */
  async page(
    m: EntityManager,
    afterSeq: number,
    filter: JournalFilter,
    limit: number,
  ): Promise<JournalEntry[]> {
    const rows: Row[] = await m.query(
      `SELECT seq, event_id, type, source, subject, time, data::text AS data_json,
              data->>'experimentId' AS experiment_id
         FROM ${this.table}
        WHERE seq > $1
          AND (cardinality($2::text[]) = 0 OR type = ANY($2::text[]))
          AND (cardinality($3::text[]) = 0 OR subject = ANY($3::text[]))
        ORDER BY seq LIMIT $4`,
      [afterSeq, filter.types, filter.subjects, limit],
    );
    return rows.map((r) => ({
      seq: Number(r.seq),
      eventId: r.event_id,
      type: r.type,
      source: r.source,
      subject: r.subject,
      time: Number(r.time),
      dataJson: r.data_json,
      experimentId: r.experiment_id ?? undefined,
    }));
  }

  /** Deletes events older than `cutoffMs` (their own time); returns how many. */
  async deleteOlderThan(m: EntityManager, cutoffMs: number): Promise<number> {
    const rows: Array<{ n: string }> = await m.query(
      `WITH d AS (DELETE FROM ${this.table} WHERE time < $1 RETURNING 1) SELECT count(*) AS n FROM d`,
      [cutoffMs],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
