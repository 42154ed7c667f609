import type { EntityManager } from 'typeorm';
import type { DatasetInput, RunFinishedV1, RunStartedV1 } from '@cairn/contracts';

/** What the registry knows of a tracking run: its RunStarted, then the last RunFinished it consumed for it. */
export interface ProjectedRun {
  runId: string;
  experimentId: string;
  runName: string | null;
  status: string;
  metrics: Record<string, number>;
  params: Record<string, string>;
  tags: Record<string, string>;
  artifactUri: string;
  datasetInputs: DatasetInput[];
  pipelineRunId: string | null;
  createdBy: string | null;
  startedAt: number;
  endedAt: number;
}

interface RunRow {
  run_id: string;
  experiment_id: string;
  run_name: string | null;
  status: string;
  metrics: Record<string, number>;
  params: Record<string, string>;
  tags: Record<string, string>;
  artifact_uri: string;
  dataset_inputs: DatasetInput[];
  pipeline_run_id: string | null;
  created_by: string | null;
  started_at: string;
  ended_at: string;
}

/**
 * The registry's projection of tracking runs (event-carried state transfer: it never reads
 * tracking's tables). A run can finish more than once (MLflow resumes a finished run), so the
 * projection keeps the latest end; an older RunFinished arriving late changes nothing, and a
 * redelivered one is absorbed by the consumer's inbox before it gets here.
 */
export class RunProjection {
  constructor(private readonly schema: string) {}

  async apply(m: EntityManager, eventId: string, run: RunFinishedV1, now = Date.now()): Promise<void> {
    await m.query(
      `INSERT INTO "${this.schema}".runs (run_id, experiment_id, run_name, status, metrics, params, tags, artifact_uri,
                                          dataset_inputs, pipeline_run_id, created_by, started_at, ended_at, event_id, projected_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       ON CONFLICT (run_id) DO UPDATE SET
         experiment_id = EXCLUDED.experiment_id, run_name = EXCLUDED.run_name, status = EXCLUDED.status,
         metrics = EXCLUDED.metrics, params = EXCLUDED.params, tags = EXCLUDED.tags, artifact_uri = EXCLUDED.artifact_uri,
         dataset_inputs = EXCLUDED.dataset_inputs, pipeline_run_id = EXCLUDED.pipeline_run_id,
         created_by = EXCLUDED.created_by, started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
         event_id = EXCLUDED.event_id, projected_at = EXCLUDED.projected_at
       WHERE "${this.schema}".runs.ended_at <= EXCLUDED.ended_at`,
      [
        run.runId,
        run.experimentId,
        run.runName ?? null,
        run.status,
        JSON.stringify(run.metrics),
        JSON.stringify(run.params),
        JSON.stringify(run.tags),
        run.artifactUri,
        JSON.stringify(run.datasetInputs),
        run.pipelineRunId ?? run.tags['cairn.pipelineRunId'] ?? null,
        run.createdBy ?? null,
        Date.parse(run.startedAt),
        Date.parse(run.endedAt),
        eventId,
        now,
      ],
    );
  }

  /**
   * A started run, so that a version can be registered from it before it ends (MLflow clients
   * log and register a model inside the run). Its metrics and params arrive with RunFinished;
   * a run already projected (finished, or started before) is left as it is.
   */
  async applyStarted(m: EntityManager, eventId: string, run: RunStartedV1, now = Date.now()): Promise<void> {
    await m.query(
      `INSERT INTO "${this.schema}".runs (run_id, experiment_id, run_name, status, metrics, params, tags, artifact_uri,
                                          dataset_inputs, pipeline_run_id, created_by, started_at, ended_at, event_id, projected_at)
       VALUES ($1, $2, $3, 'RUNNING', '{}', '{}', $4, $5, '[]', $6, $7, $8, 0, $9, $10)
       ON CONFLICT (run_id) DO NOTHING`,
      [
        run.runId,
        run.experimentId,
        run.runName ?? null,
        JSON.stringify(run.tags),
        run.artifactUri,
        run.pipelineRunId ?? run.tags['cairn.pipelineRunId'] ?? null,
        run.createdBy ?? null,
        Date.parse(run.startedAt),
        eventId,
        now,
      ],
    );
  }

  async find(m: EntityManager, runId: string): Promise<ProjectedRun | undefined> {
    const [r] = await m.query<RunRow[]>(
      `SELECT run_id, experiment_id, run_name, status, metrics, params, tags, artifact_uri, dataset_inputs,
              pipeline_run_id, created_by, started_at, ended_at
         FROM "${this.schema}".runs WHERE run_id = $1`,
      [runId],
    );
    if (!r) return undefined;
    return {
      runId: r.run_id,
      experimentId: r.experiment_id,
      runName: r.run_name,
      status: r.status,
      metrics: r.metrics,
      params: r.params,
      tags: r.tags,
      artifactUri: r.artifact_uri,
      datasetInputs: r.dataset_inputs,
      pipelineRunId: r.pipeline_run_id,
      createdBy: r.created_by,
      startedAt: Number(r.started_at),
      endedAt: Number(r.ended_at),
    };
  }
}
