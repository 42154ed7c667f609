import { z } from 'zod';
import { TOPICS } from '../topics/topics.constants';
import {
  identifier,
  modelName,
  modelVersion,
  principal,
  registryPosition,
  scalar,
  sha256Digest,
  timestamp,
  uri,
} from './common.schema';
import { defineEvent } from './event-definition.factory';

/* Pipeline-run events are keyed by pipeline run id, deployment events by deployment id. */

const pipelineRunId = identifier('Pipeline run id.');
const deploymentId = identifier('Deployment id.');

const pipelineRef = {
  pipelineRunId,
  pipelineId: identifier('Pipeline id.'),
  pipelineName: z.string().min(1).max(256),
  pipelineVersion: z.string().min(1).max(64).describe('Version of the pipeline spec the run executes.'),
  attempt: z
    .number()
    .int()
    .positive()
    .describe('1 for the first execution; incremented each time the run is retried from its failed step.'),
};

const pipelineTrigger = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('manual'), actor: principal('Who started the run') }),
    z.object({
      kind: z.literal('schedule'),
      scheduleId: identifier('Schedule id.'),
      scheduledFor: timestamp('The cron tick the run was started for.'),
    }),
    z.object({
      kind: z.literal('event'),
      triggerId: identifier('Event trigger id.'),
      eventId: z.uuid().describe('Id of the event that fired the trigger (deduplication key).'),
      eventType: z
        .string()
        .min(1)
        .max(256)
        .describe('Type of that event, e.g. cairn.monitor.drift.detected.v1.'),
    }),
  ])
  .describe('What started the run.');

export const pipelineRunStartedV1 = defineEvent({
  type: 'cairn.orchestrator.pipeline-run.started.v1',
  name: 'PipelineRunStarted',
  topic: TOPICS.orchestrator,
  keyField: 'pipelineRunId',
  description: 'A pipeline run started (or restarted from its failed step).',
  schema: z.object({
    ...pipelineRef,
    trigger: pipelineTrigger,
    parameters: z.record(z.string(), scalar).describe('Resolved run parameters.'),
    startedAt: timestamp('When the run started.'),
  }),
  example: {
    pipelineRunId: '5f0c6a8e-2d4b-4c1e-9a7f-3b2d1e0f9c8a',
    pipelineId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
    pipelineName: 'churn-retrain',
    pipelineVersion: '4',
    attempt: 1,
    trigger: {
      kind: 'event',
      triggerId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
      eventId: '7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a090',
      eventType: 'cairn.monitor.drift.detected.v1',
    },
    parameters: { model: 'churn-classifier', max_depth: 6, use_gpu: false },
    startedAt: '2025-01-15T10:04:30.000Z',
  },
});
export type PipelineRunStartedV1 = z.output<typeof pipelineRunStartedV1.schema>;

const taskCounts = z
  .object({
    total: z.number().int().nonnegative(),
    succeeded: z.number().int().nonnegative(),
    cached: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
  })
  .describe('Tasks of the run by final state.');

export const pipelineRunSucceededV1 = defineEvent({
  type: 'cairn.orchestrator.pipeline-run.succeeded.v1',
  name: 'PipelineRunSucceeded',
  topic: TOPICS.orchestrator,
  keyField: 'pipelineRunId',
  description: 'A pipeline run finished with every task succeeded, cached or skipped.',
  schema: z.object({
    ...pipelineRef,
    tasks: taskCounts,
    outputArtifacts: z
      .array(
        z.object({
          step: z.string().min(1).max(256),
          name: z.string().min(1).max(256),
          uri: uri('Where the artifact is stored.'),
          digest: sha256Digest('SHA-256 of the artifact'),
        }),
      )
      .describe('Output artifacts of the run, for lineage.'),
    startedAt: timestamp('When the run (this attempt) started.'),
    finishedAt: timestamp('When the run finished.'),
  }),
  example: {
    pipelineRunId: '5f0c6a8e-2d4b-4c1e-9a7f-3b2d1e0f9c8a',
    pipelineId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
    pipelineName: 'churn-retrain',
    pipelineVersion: '4',
    attempt: 1,
    tasks: { total: 4, succeeded: 3, cached: 1, skipped: 0, failed: 0 },
    outputArtifacts: [
      {
        step: 'train',
        name: 'model',
        uri: 's3://cairn-artifacts/pipelines/5f0c6a8e/train/model',
        digest: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      },
    ],
    startedAt: '2025-01-15T10:04:30.000Z',
    finishedAt: '2025-01-15T10:42:00.000Z',
  },
});
export type PipelineRunSucceededV1 = z.output<typeof pipelineRunSucceededV1.schema>;

export const PIPELINE_FAILURE_REASONS = [
  'TASK_FAILED',
  'EXIT_HANDLER_FAILED',
  'INVALID_SPEC',
  'SCHEDULING_FAILED',
  'INTERNAL',
] as const;

export const pipelineRunFailedV1 = defineEvent({
  type: 'cairn.orchestrator.pipeline-run.failed.v1',
  name: 'PipelineRunFailed',
  topic: TOPICS.orchestrator,
  keyField: 'pipelineRunId',
  description: 'A pipeline run failed; it can be retried from the failed step.',
  schema: z.object({
    ...pipelineRef,
    reason: z.enum(PIPELINE_FAILURE_REASONS),
    message: z.string().max(10000),
    failedTasks: z
      .array(
        z.object({
          taskId: identifier('Task id.'),
          step: z.string().min(1).max(256),
          attempts: z.number().int().positive().describe('Attempts made, retries included.'),
          exitCode: z.number().int().optional(),
          message: z.string().max(10000),
        }),
      )
      .describe('The tasks that failed after their retries.'),
    tasks: taskCounts,
    startedAt: timestamp('When the run (this attempt) started.'),
    finishedAt: timestamp('When the run failed.'),
  }),
  example: {
    pipelineRunId: '5f0c6a8e-2d4b-4c1e-9a7f-3b2d1e0f9c8a',
    pipelineId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
    pipelineName: 'churn-retrain',
    pipelineVersion: '4',
    attempt: 1,
    reason: 'TASK_FAILED',
    message: 'step train failed after 3 attempts',
    failedTasks: [
      {
        taskId: '2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e',
        step: 'train',
        attempts: 3,
        exitCode: 137,
        message: 'OOMKilled',
      },
    ],
    tasks: { total: 4, succeeded: 1, cached: 1, skipped: 1, failed: 1 },
    startedAt: '2025-01-15T10:04:30.000Z',
    finishedAt: '2025-01-15T10:30:00.000Z',
  },
});
export type PipelineRunFailedV1 = z.output<typeof pipelineRunFailedV1.schema>;

const deploymentTarget = z
  .object({
    kind: z
      .enum(['kserve', 'local'])
      .describe('KServe InferenceService, or the local deployment plan (embedded mode).'),
    namespace: z.string().min(1).max(63).optional().describe('Kubernetes namespace (kserve).'),
    name: z.string().min(1).max(253).describe('InferenceService (or local server) name.'),
  })
  .describe('Where the model is served.');

const deploymentRef = {
  deploymentId,
  model: modelName,
  version: modelVersion.describe('The version being deployed.'),
  target: deploymentTarget,
};

export const deploymentStartedV1 = defineEvent({
  type: 'cairn.orchestrator.deployment.started.v1',
  name: 'DeploymentStarted',
  topic: TOPICS.orchestrator,
  keyField: 'deploymentId',
  description: 'The deployer began rolling out a model version.',
  schema: z.object({
    ...deploymentRef,
    modelFormat: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('Model flavor, mapped to the KServe modelFormat.'),
    storageUri: uri('Artifact the server loads.'),
    artifactDigest: sha256Digest('SHA-256 of the artifact manifest (verified before deploy)'),
    trigger: z
      .discriminatedUnion('kind', [
        z.object({
          kind: z.literal('promotion'),
          eventId: z.uuid().describe('Id of the ModelPromoted event that caused the deployment.'),
          to: registryPosition,
        }),
        z.object({ kind: z.literal('manual'), actor: principal('Who started the deployment') }),
      ])
      .describe('What caused the deployment.'),
    canarySteps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .describe('Traffic percentages the rollout steps through, ending at 100.'),
    previousVersion: modelVersion.optional().describe('The version served before, the rollback target.'),
    startedAt: timestamp('When the rollout started.'),
  }),
  example: {
    deploymentId: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7',
    model: 'churn-classifier',
    version: '7',
    target: { kind: 'kserve', namespace: 'models', name: 'churn-classifier' },
    modelFormat: 'xgboost',
    storageUri: 's3://cairn-artifacts/models/churn-classifier/7',
    artifactDigest: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    trigger: {
      kind: 'promotion',
      eventId: '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d',
      to: { kind: 'stage', stage: 'Production' },
    },
    canarySteps: [10, 50, 100],
    previousVersion: '6',
    startedAt: '2025-01-15T11:20:05.000Z',
  },
});
export type DeploymentStartedV1 = z.output<typeof deploymentStartedV1.schema>;

export const deploymentSucceededV1 = defineEvent({
  type: 'cairn.orchestrator.deployment.succeeded.v1',
  name: 'DeploymentSucceeded',
  topic: TOPICS.orchestrator,
  keyField: 'deploymentId',
  description: 'A model version serves 100% of the traffic of its deployment.',
  schema: z.object({
    ...deploymentRef,
    url: uri('Inference endpoint.').optional(),
    revision: z.string().min(1).max(253).optional().describe('Ready revision (KServe latestReadyRevision).'),
    previousVersion: modelVersion.optional().describe('The version it replaced.'),
    startedAt: timestamp('When the rollout started.'),
    succeededAt: timestamp('When the new version took all traffic.'),
  }),
  example: {
    deploymentId: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7',
    model: 'churn-classifier',
    version: '7',
    target: { kind: 'kserve', namespace: 'models', name: 'churn-classifier' },
    url: 'http://churn-classifier.models.svc.cluster.local/v2/models/churn-classifier/infer',
    revision: 'churn-classifier-predictor-00007',
    previousVersion: '6',
    startedAt: '2025-01-15T11:20:05.000Z',
    succeededAt: '2025-01-15T11:31:40.000Z',
  },
});
export type DeploymentSucceededV1 = z.output<typeof deploymentSucceededV1.schema>;

export const DEPLOYMENT_FAILURE_REASONS = [
  'SIGNATURE_INVALID',
  'ARTIFACT_UNAVAILABLE',
  'APPLY_FAILED',
  'READY_TIMEOUT',
  'REVISION_FAILED',
  'CANCELLED',
] as const;

export const deploymentFailedV1 = defineEvent({
  type: 'cairn.orchestrator.deployment.failed.v1',
  name: 'DeploymentFailed',
  topic: TOPICS.orchestrator,
  keyField: 'deploymentId',
  description: 'A rollout failed; DeploymentRolledBack follows when a previous version was restored.',
  schema: z.object({
    ...deploymentRef,
    reason: z.enum(DEPLOYMENT_FAILURE_REASONS),
    message: z.string().max(10000),
    canaryPercent: z.number().int().min(0).max(100).describe('Traffic share the new version had reached.'),
    willRollBack: z.boolean().describe('Whether the deployer is restoring the previous version.'),
    startedAt: timestamp('When the rollout started.'),
    failedAt: timestamp('When the rollout was declared failed.'),
  }),
  example: {
    deploymentId: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7',
    model: 'churn-classifier',
    version: '7',
    target: { kind: 'kserve', namespace: 'models', name: 'churn-classifier' },
    reason: 'READY_TIMEOUT',
    message: 'revision churn-classifier-predictor-00007 not Ready after 600s',
    canaryPercent: 10,
    willRollBack: true,
    startedAt: '2025-01-15T11:20:05.000Z',
    failedAt: '2025-01-15T11:30:05.000Z',
  },
});
export type DeploymentFailedV1 = z.output<typeof deploymentFailedV1.schema>;

export const deploymentRolledBackV1 = defineEvent({
  type: 'cairn.orchestrator.deployment.rolled-back.v1',
  name: 'DeploymentRolledBack',
  topic: TOPICS.orchestrator,
  keyField: 'deploymentId',
  description: 'A failed rollout was undone: the previous version serves all traffic again.',
  schema: z.object({
    ...deploymentRef,
    version: modelVersion.describe('The version that was rolled back.'),
    restoredVersion: modelVersion.describe('The version serving again.'),
    reason: z.enum(DEPLOYMENT_FAILURE_REASONS).describe('Why the rollout failed.'),
    rolledBackAt: timestamp('When the previous version took all traffic again.'),
  }),
  example: {
    deploymentId: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7',
    model: 'churn-classifier',
    version: '7',
    target: { kind: 'kserve', namespace: 'models', name: 'churn-classifier' },
    restoredVersion: '6',
    reason: 'READY_TIMEOUT',
    rolledBackAt: '2025-01-15T11:31:00.000Z',
  },
});
export type DeploymentRolledBackV1 = z.output<typeof deploymentRolledBackV1.schema>;
