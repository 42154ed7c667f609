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

  /**
   * Full runs for ids, in the order of `ids` (missing ids are skipped), in one query: what
   * was logged comes back as one JSON document per run, because node-pg decodes JSON with
   * JSON.parse far faster than it decodes tens of thousands of rows (non-finite metric values
   * arrive as the strings "NaN", "Infinity", "-Infinity", which Number() reads back).
   */
  async loadMany(db: Queryable, ids: string[]): Promise<RunRecord[]> {
    if (ids.length === 0) return [];
    const s = this.schema;
    const rows = await db.query<Array<RunRow & { logged: LoggedJson }>>(
      `SELECT ${RUN_COLUMNS.split(',')
        .map((c) => `r.${c.trim()}`)
        .join(', ')},
         json_build_object(
           'm', (SELECT json_agg(json_build_array(m.key, m.value, m.timestamp, m.step) ORDER BY m.key)
                   FROM "${s}".latest_metrics m WHERE m.run_id = r.run_id),
           'p', (SELECT json_agg(json_build_array(p.key, p.value) ORDER BY p.key)
                   FROM "${s}".params p WHERE p.run_id = r.run_id),
           't', (SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.key)
                   FROM "${s}".run_tags t WHERE t.run_id = r.run_id),
           'i', (SELECT json_agg(json_build_array(i.tags, d.name, d.digest, d.source_type, d.source, d.schema, d.profile)
                                 ORDER BY d.name, d.digest)
                   FROM "${s}".run_inputs i JOIN "${s}".datasets d USING (dataset_id) WHERE i.run_id = r.run_id)
         ) AS logged
         FROM "${s}".runs r WHERE r.run_id = ANY($1)`,
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.run_id, r]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      if (!row) return [];
      const { m, p, t, i } = row.logged;
      return [
        {
          info: toInfo(row),
          metrics: (m ?? []).map(([key, value, timestamp, step]) => ({
            key,
            value: Number(value),
            timestamp: Number(timestamp),
            step: Number(step),
          })),
          params: (p ?? []).map(([key, value]) => ({ key, value })),
          tags: (t ?? []).map(([key, value]) => ({ key, value })),
          inputs: (i ?? []).map(([tags, name, digest, sourceType, source, schema, profile]) => ({
            tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
            dataset: {
              name,
              digest,
              sourceType,
              source,
              ...(schema === null ? {} : { schema }),
              ...(profile === null ? {} : { profile }),
            },
          })),
        },
      ];
    });
  }
}

interface LoggedJson {
  m: Array<[string, number | string, number, number]> | null;
  p: Array<[string, string]> | null;
  t: Array<[string, string]> | null;
  i: Array<[Record<string, string>, string, string, string, string, string | null, string | null]> | null;
}

export function runNotFound(runId: string): AppError {
  return new AppError('not_found', 'RUN_NOT_FOUND', `Run with id=${runId} not found`, { run_id: runId });
}

/** MLflow's `_check_run_is_active` message. */
export function assertRunActive(info: Pick<RunInfoRecord, 'runId' | 'lifecycleStage'>): void {
  if (info.lifecycleStage !== 'active') {
    throw new AppError(
      'invalid_argument',
      'RUN_NOT_ACTIVE',
      `The run ${info.runId} must be in the 'active' state. Current state is ${info.lifecycleStage}.`,
      { run_id: info.runId },
    );
  }
}
