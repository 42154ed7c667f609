import type { EntityManager } from 'typeorm';
import { AppError } from '@cairn/rpc';
import type { LifecycleStageName } from '../experiments/experiments.repository';
import type { RunStatusName } from './run-status';

export interface RunInfoRecord {
  runId: string;
  runName: string;
  experimentId: string;
  userId: string;
  status: RunStatusName;
  startTime: number;
  endTime: number | null;
  artifactUri: string;
  lifecycleStage: LifecycleStageName;
  deletedTime: number | null;
}

export interface MetricRecord {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface DatasetInputRecord {
  tags: KeyValue[];
  dataset: {
    name: string;
    digest: string;
    sourceType: string;
    source: string;
    schema?: string;
    profile?: string;
  };
}

export interface RunRecord {
  info: RunInfoRecord;
  metrics: MetricRecord[];
  params: KeyValue[];
  tags: KeyValue[];
  inputs: DatasetInputRecord[];
}

interface RunRow {
  run_id: string;
  run_name: string;
  experiment_id: string;
  user_id: string;
  status: RunStatusName;
  start_time: string;
  end_time: string | null;
  artifact_uri: string;
  lifecycle_stage: LifecycleStageName;
  deleted_time: string | null;
}

export type Queryable = Pick<EntityManager, 'query'>;

const RUN_COLUMNS = `run_id, run_name, experiment_id::text, user_id, status, start_time, end_time, artifact_uri,
  lifecycle_stage, deleted_time`;

function toInfo(r: RunRow): RunInfoRecord {
  return {
    runId: r.run_id,
    runName: r.run_name,
    experimentId: r.experiment_id,
    userId: r.user_id,
    status: r.status,
    startTime: Number(r.start_time),
    endTime: r.end_time === null ? null : Number(r.end_time),
    artifactUri: r.artifact_uri,
    lifecycleStage: r.lifecycle_stage,
    deletedTime: r.deleted_time === null ? null : Number(r.deleted_time),
  };
}

function groupBy<T extends { run_id: string }, U>(rows: T[], map: (row: T) => U): Map<string, U[]> {
  const out = new Map<string, U[]>();
  for (const row of rows) {
    const list = out.get(row.run_id);
    if (list) list.push(map(row));
    else out.set(row.run_id, [map(row)]);
  }
  return out;
}

/** Reads runs and everything logged to them, a page of runs in a fixed number of queries. */
export class RunsRepository {
  constructor(private readonly schema: string) {}

  async findInfo(
    db: Queryable,
    runId: string,
    lock?: 'update' | 'share',
  ): Promise<RunInfoRecord | undefined> {
    const suffix = lock === 'update' ? ' FOR UPDATE' : lock === 'share' ? ' FOR SHARE' : '';
    const rows = await db.query<RunRow[]>(
      `SELECT ${RUN_COLUMNS} FROM "${this.schema}".runs WHERE run_id = $1${suffix}`,
      [runId],
    );
    return rows.length > 0 ? toInfo(rows[0]) : undefined;
  }

  async getInfo(db: Queryable, runId: string, lock?: 'update' | 'share'): Promise<RunInfoRecord> {
    const info = await this.findInfo(db, runId, lock);
    if (!info) throw runNotFound(runId);
    return info;
  }

  async get(db: Queryable, runId: string): Promise<RunRecord> {
    const [run] = await this.loadMany(db, [runId]);
    if (!run) throw runNotFound(runId);
    return run;
  }

  /** Full runs for ids, in the order of `ids` (missing ids are skipped). */
  async loadMany(db: Queryable, ids: string[]): Promise<RunRecord[]> {
    if (ids.length === 0) return [];
    const s = this.schema;
    // Outside a transaction the five reads go to five pooled connections at once; inside one
    // they share its connection, which runs one query at a time anyway.
    const inTransaction = (db as Partial<EntityManager>).queryRunner !== undefined;
    const all = <T extends unknown[]>(thunks: { [K in keyof T]: () => Promise<T[K]> }): Promise<T> =>
      inTransaction ? sequentially(thunks) : (Promise.all(thunks.map((t) => t())) as Promise<T>);
    const [runs, metrics, params, tags, inputs] = await all([
      () => db.query<RunRow[]>(`SELECT ${RUN_COLUMNS} FROM "${s}".runs WHERE run_id = ANY($1)`, [ids]),
      () =>
        db.query<Array<{ run_id: string; key: string; value: number; timestamp: string; step: string }>>(
          `SELECT run_id, key, value, timestamp, step FROM "${s}".latest_metrics WHERE run_id = ANY($1) ORDER BY key`,
          [ids],
        ),
      () =>
        db.query<Array<{ run_id: string; key: string; value: string }>>(
          `SELECT run_id, key, value FROM "${s}".params WHERE run_id = ANY($1) ORDER BY key`,
          [ids],
        ),
      () =>
        db.query<Array<{ run_id: string; key: string; value: string }>>(
          `SELECT run_id, key, value FROM "${s}".run_tags WHERE run_id = ANY($1) ORDER BY key`,
          [ids],
        ),
      () =>
        db.query<
          Array<{
            run_id: string;
            tags: Record<string, string>;
            name: string;
            digest: string;
            source_type: string;
            source: string;
            schema: string | null;
            profile: string | null;
          }>
        >(
          `SELECT i.run_id, i.tags, d.name, d.digest, d.source_type, d.source, d.schema, d.profile
           FROM "${s}".run_inputs i JOIN "${s}".datasets d USING (dataset_id)
          WHERE i.run_id = ANY($1) ORDER BY d.name, d.digest`,
          [ids],
        ),
    ]);
    const metricsBy = groupBy(metrics, (m) => ({
      key: m.key,
      value: Number(m.value),
      timestamp: Number(m.timestamp),
      step: Number(m.step),
    }));
    const paramsBy = groupBy(params, (p) => ({ key: p.key, value: p.value }));
    const tagsBy = groupBy(tags, (t) => ({ key: t.key, value: t.value }));
    const inputsBy = groupBy(inputs, (i) => ({
      tags: Object.entries(i.tags).map(([key, value]) => ({ key, value })),
      dataset: {
        name: i.name,
        digest: i.digest,
        sourceType: i.source_type,
        source: i.source,
        ...(i.schema === null ? {} : { schema: i.schema }),
        ...(i.profile === null ? {} : { profile: i.profile }),
      },
    }));
    const byId = new Map(runs.map((r) => [r.run_id, r]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      if (!row) return [];
      return [
        {
          info: toInfo(row),
          metrics: metricsBy.get(id) ?? [],
          params: paramsBy.get(id) ?? [],
          tags: tagsBy.get(id) ?? [],
          inputs: inputsBy.get(id) ?? [],
        },
      ];
    });
  }
}

async function sequentially<T extends unknown[]>(thunks: {
  [K in keyof T]: () => Promise<T[K]>;
}): Promise<T> {
  const out: unknown[] = [];
  for (const t of thunks as Array<() => Promise<unknown>>) out.push(await t());
  return out as T;
}

export function runNotFound(runId: string): AppError {
  return new AppError('not_found', 'RUN_NOT_FOUND', `Run with id=${runId} not found`, { run_id: runId });
}

/** MLflow's `_check_run_is_active` message. */
export function assertRunActive(info: RunInfoRecord): void {
  if (info.lifecycleStage !== 'active') {
    throw new AppError(
      'invalid_argument',
      'RUN_NOT_ACTIVE',
      `The run ${info.runId} must be in the 'active' state. Current state is ${info.lifecycleStage}.`,
      { run_id: info.runId },
    );
  }
}
