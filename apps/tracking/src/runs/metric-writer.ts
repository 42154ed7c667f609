import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Queryable } from './runs.repository';

export interface MetricPoint {
  runId: string;
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

/** Postgres orders NaN above every number; the latest-value rule must agree with it. */
function compareValues(a: number, b: number): number {
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a === b ? 0 : a > b ? 1 : -1;
}

/** MLflow's rule for the latest value of a metric: greatest step, then timestamp, then value. */
export function isLaterPoint(a: MetricPoint, b: MetricPoint): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return compareValues(a.value, b.value) > 0;
}

/** The latest point of each (run, key) among `points`, sorted by run then key (stable lock order). */
export function latestPoints(points: MetricPoint[]): MetricPoint[] {
  const latest = new Map<string, MetricPoint>();
  for (const p of points) {
    const id = `${p.runId}\u0000${p.key}`;
    const prior = latest.get(id);
    if (!prior || isLaterPoint(p, prior)) latest.set(id, p);
  }
  return [...latest.values()].sort((a, b) =>
    a.runId === b.runId ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.runId < b.runId ? -1 : 1,
  );
}

/**
 * Writes metric points: the history rows and the latest-value rows, inside the caller's
 * transaction. Concurrent writers to one run cannot deadlock: every writer locks latest-value
 * rows in the same (run, key) order, and history rows take no locks at all.
 */
export class MetricWriter {
  constructor(private readonly schema: string) {}

  /** Small batches (log-metric, log-batch): one multi-row insert. */
  async insert(db: Queryable, points: MetricPoint[]): Promise<void> {
    if (points.length === 0) return;
    await db.query(
      `INSERT INTO "${this.schema}".metrics (run_id, key, value, timestamp, step)
       SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::bigint[], $5::bigint[])`,
      [
        points.map((p) => p.runId),
        points.map((p) => p.key),
        points.map((p) => p.value),
        points.map((p) => p.timestamp),
        points.map((p) => p.step),
      ],
    );
    await this.upsertLatest(db, points);
  }

  /**
   * Large batches (the metric stream): COPY, which Postgres ingests several times faster than
   * an insert. Keys and run ids were validated (no tab, newline or backslash can reach the
   * text format), and JS prints NaN and ±Infinity exactly as Postgres reads them.
   */
  async copy(client: PoolClient, points: MetricPoint[]): Promise<void> {
    if (points.length === 0) return;
    const sink = client.query(
      copyFrom(`COPY "${this.schema}".metrics (run_id, key, value, timestamp, step) FROM STDIN`),
    );
    await pipeline(Readable.from(copyLines(points)), sink);
    await this.upsertLatest(client, points);
  }

  private async upsertLatest(db: Queryable | PoolClient, points: MetricPoint[]): Promise<void> {
    const latest = latestPoints(points);
    const sql = `INSERT INTO "${this.schema}".latest_metrics AS l (run_id, key, value, timestamp, step)
       SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::bigint[], $5::bigint[])
       ON CONFLICT (run_id, key) DO UPDATE
         SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp, step = EXCLUDED.step
         WHERE (EXCLUDED.step, EXCLUDED.timestamp, EXCLUDED.value) > (l.step, l.timestamp, l.value)`;
    const params = [
      latest.map((p) => p.runId),
      latest.map((p) => p.key),
      latest.map((p) => p.value),
      latest.map((p) => p.timestamp),
      latest.map((p) => p.step),
    ];
    if ('release' in db) await db.query(sql, params);
    else await db.query(sql, params);
  }
}

/** The COPY text rows, in chunks of about 64 KiB. */
function* copyLines(points: MetricPoint[]): Generator<string> {
  let chunk = '';
  for (const p of points) {
    chunk += `${p.runId}\t${p.key}\t${p.value}\t${p.timestamp}\t${p.step}\n`;
    if (chunk.length >= 65536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}
