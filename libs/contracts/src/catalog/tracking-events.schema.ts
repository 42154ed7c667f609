import { z } from 'zod';
import { TOPICS } from '../topics/topics.constants';
import { datasetInput, identifier, principal, tags, timestamp, uri } from './common.schema';
import { defineEvent } from './event-definition.factory';

const runId = identifier('Run id (MLflow run_id).');
const experimentId = identifier('Experiment id.');

export const experimentCreatedV1 = defineEvent({
  type: 'cairn.tracking.experiment.created.v1',
  name: 'ExperimentCreated',
  topic: TOPICS.tracking,
  keyField: 'experimentId',
  description: 'An experiment was created.',
  schema: z.object({
    experimentId,
    name: z.string().min(1).max(500),
    artifactLocation: uri('Root URI under which the runs of the experiment store artifacts.'),
    tags,
    createdBy: principal('Who created the experiment').optional(),
    createdAt: timestamp('When the experiment was created.'),
  }),
  example: {
    experimentId: '12',
    name: 'churn-classifier',
    artifactLocation: 's3://cairn-artifacts/experiments/12',
    tags: { team: 'growth' },
    createdBy: 'user:alice',
    createdAt: '2025-01-15T10:00:00.000Z',
  },
});
export type ExperimentCreatedV1 = z.output<typeof experimentCreatedV1.schema>;

export const runStartedV1 = defineEvent({
  type: 'cairn.tracking.run.started.v1',
  name: 'RunStarted',
  topic: TOPICS.tracking,
  keyField: 'runId',
  description: 'A run started in an experiment.',
  schema: z.object({
    runId,
    experimentId,
    runName: z.string().max(250).optional(),
    artifactUri: uri('Artifact root of the run.'),
    tags,
    parentRunId: identifier('Parent run id, for nested runs.').optional(),
    pipelineRunId: identifier('Pipeline run the run belongs to, when a pipeline step started it.').optional(),
    createdBy: principal('Who started the run').optional(),
    startedAt: timestamp('When the run started.'),
  }),
  example: {
    runId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
    experimentId: '12',
    runName: 'xgb-depth-6',
    artifactUri: 's3://cairn-artifacts/experiments/12/a1b2c3d4e5f60718293a4b5c6d7e8f90/artifacts',
    tags: { 'mlflow.source.type': 'JOB' },
    pipelineRunId: '5f0c6a8e-2d4b-4c1e-9a7f-3b2d1e0f9c8a',
    createdBy: 'user:alice',
    startedAt: '2025-01-15T10:05:00.000Z',
  },
});
export type RunStartedV1 = z.output<typeof runStartedV1.schema>;

/** Terminal MLflow run statuses. */
export const RUN_FINAL_STATUSES = ['FINISHED', 'FAILED', 'KILLED'] as const;

export const runFinishedV1 = defineEvent({
  type: 'cairn.tracking.run.finished.v1',
  name: 'RunFinished',
  topic: TOPICS.tracking,
  keyField: 'runId',
  description:
    'A run ended; carries its final metrics, params, tags and dataset inputs (registry run projection).',
  schema: z.object({
    runId,
    experimentId,
    runName: z.string().max(250).optional(),
    status: z.enum(RUN_FINAL_STATUSES).describe('Terminal run status, as in MLflow.'),
    metrics: z
      .record(z.string(), z.number())
      .describe(
        'Latest value of each metric by key (non-finite values are left out: JSON cannot carry them).',
      ),
    params: z.record(z.string(), z.string()).describe('Run parameters by key (strings, as in MLflow).'),
    tags,
    artifactUri: uri('Artifact root of the run.'),
    datasetInputs: z.array(datasetInput).describe('Datasets the run consumed.'),
    parentRunId: identifier('Parent run id, for nested runs.').optional(),
    pipelineRunId: identifier('Pipeline run the run belongs to, when a pipeline step started it.').optional(),
    createdBy: principal('Who started the run').optional(),
    startedAt: timestamp('When the run started.'),
    endedAt: timestamp('When the run ended.'),
  }),
  example: {
    runId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
    experimentId: '12',
    runName: 'xgb-depth-6',
    status: 'FINISHED',
    metrics: { auc: 0.913, logloss: 0.284 },
    params: { max_depth: '6', learning_rate: '0.1' },
    tags: { 'mlflow.source.type': 'JOB' },
    artifactUri: 's3://cairn-artifacts/experiments/12/a1b2c3d4e5f60718293a4b5c6d7e8f90/artifacts',
    datasetInputs: [
      {
        name: 'churn-train',
        digest: '3f2a9c1e',
        source: 's3://datasets/churn/2025-01/train.parquet',
        sourceType: 's3',
        context: 'training',
      },
    ],
    pipelineRunId: '5f0c6a8e-2d4b-4c1e-9a7f-3b2d1e0f9c8a',
    createdBy: 'user:alice',
    startedAt: '2025-01-15T10:05:00.000Z',
    endedAt: '2025-01-15T10:41:12.345Z',
  },
});
export type RunFinishedV1 = z.output<typeof runFinishedV1.schema>;
