import { z } from 'zod';
import { TOPICS } from '../topics/topics.constants';
import {
  aliasName,
  artifactSignature,
  datasetInput,
  identifier,
  modelName,
  modelVersion,
  principal,
  registryPosition,
  sha256Digest,
  stage,
  tags,
  timestamp,
  uri,
} from './common.schema';
import { defineEvent } from './event-definition.factory';

/*
 * Registry events are keyed by model name (not by version): the promotion of one version and the
 * archiving of the version it replaces must reach consumers in that order.
 */

const transitionRequestId = identifier('Transition request id.');
const artifactDigest = sha256Digest('SHA-256 of the artifact manifest');
const EXAMPLE_DIGEST = 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

export const modelVersionCreatedV1 = defineEvent({
  type: 'cairn.registry.model-version.created.v1',
  name: 'ModelVersionCreated',
  topic: TOPICS.registry,
  keyField: 'model',
  description: 'A model version was registered (in stage None).',
  schema: z.object({
    model: modelName,
    version: modelVersion,
    runId: identifier('Source run, when the version was registered from a run.').optional(),
    artifactUri: uri('Where the model artifact is stored (MLflow `source`).'),
    artifactDigest,
    signature: artifactSignature.optional(),
    modelFormat: z.string().min(1).max(64).optional().describe('Model flavor, e.g. sklearn, xgboost, onnx.'),
    description: z.string().max(5000).optional(),
    tags,
    createdBy: principal('Who registered the version'),
    createdAt: timestamp('When the version was registered.'),
  }),
  example: {
    model: 'churn-classifier',
    version: '7',
    runId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
    artifactUri: 's3://cairn-artifacts/models/churn-classifier/7',
    artifactDigest: EXAMPLE_DIGEST,
    signature: { algorithm: 'Ed25519', keyId: 'release-2025', value: 'c2lnbmF0dXJlLWJ5dGVz' },
    modelFormat: 'xgboost',
    tags: { owner: 'growth' },
    createdBy: 'user:alice',
    createdAt: '2025-01-15T10:45:00.000Z',
  },
});
export type ModelVersionCreatedV1 = z.output<typeof modelVersionCreatedV1.schema>;

export const transitionRequestedV1 = defineEvent({
  type: 'cairn.registry.transition.requested.v1',
  name: 'TransitionRequested',
  topic: TOPICS.registry,
  keyField: 'model',
  description: 'A transition of a model version to a protected stage or alias was requested.',
  schema: z.object({
    requestId: transitionRequestId,
    model: modelName,
    version: modelVersion,
    from: registryPosition.describe('Where the version is now.'),
    to: registryPosition.describe('Where the request would move it.'),
    requestedBy: principal('Who requested the transition'),
    comment: z.string().max(5000).optional(),
    approvalsRequired: z.number().int().nonnegative(),
    requestedAt: timestamp('When the request was made.'),
  }),
  example: {
    requestId: '0d7e4c9a-1b2f-4e3d-8a6c-5f4e3d2c1b0a',
    model: 'churn-classifier',
    version: '7',
    from: { kind: 'stage', stage: 'Staging' },
    to: { kind: 'stage', stage: 'Production' },
    requestedBy: 'user:alice',
    comment: 'Beats v6 on AUC by 1.2 points.',
    approvalsRequired: 1,
    requestedAt: '2025-01-15T11:00:00.000Z',
  },
});
export type TransitionRequestedV1 = z.output<typeof transitionRequestedV1.schema>;

export const transitionApprovedV1 = defineEvent({
  type: 'cairn.registry.transition.approved.v1',
  name: 'TransitionApproved',
  topic: TOPICS.registry,
  keyField: 'model',
  description:
    'An approver approved a transition request (one event per approval; ModelPromoted follows once all approvals and gates pass).',
  schema: z.object({
    requestId: transitionRequestId,
    model: modelName,
    version: modelVersion,
    to: registryPosition.describe('Where the request would move the version.'),
    approver: principal('Who approved'),
    comment: z.string().max(5000).optional(),
    approvalsGranted: z.number().int().positive().describe('Approvals recorded so far, this one included.'),
    approvalsRequired: z.number().int().nonnegative(),
    approvedAt: timestamp('When the approval was recorded.'),
  }),
  example: {
    requestId: '0d7e4c9a-1b2f-4e3d-8a6c-5f4e3d2c1b0a',
    model: 'churn-classifier',
    version: '7',
    to: { kind: 'stage', stage: 'Production' },
    approver: 'user:bob',
    approvalsGranted: 1,
    approvalsRequired: 1,
    approvedAt: '2025-01-15T11:20:00.000Z',
  },
});
export type TransitionApprovedV1 = z.output<typeof transitionApprovedV1.schema>;

export const TRANSITION_REJECTION_REASONS = [
  'REJECTED_BY_APPROVER',
  'POLICY_GATE_FAILED',
  'WITHDRAWN',
] as const;

export const transitionRejectedV1 = defineEvent({
  type: 'cairn.registry.transition.rejected.v1',
  name: 'TransitionRejected',
  topic: TOPICS.registry,
  keyField: 'model',
  description:
    'A transition request was closed without promotion: rejected, failed a policy gate, or withdrawn.',
  schema: z.object({
    requestId: transitionRequestId,
    model: modelName,
    version: modelVersion,
    to: registryPosition.describe('Where the request would have moved the version.'),
    reason: z.enum(TRANSITION_REJECTION_REASONS),
    rejectedBy: principal('Who rejected or withdrew the request')
      .optional()
      .describe('Who rejected or withdrew the request (a principal id); absent when a policy gate failed.'),
    failedGates: z
      .array(z.object({ gate: z.string().min(1).max(256), message: z.string().max(5000) }))
      .optional()
      .describe('The policy gates that failed, with why.'),
    comment: z.string().max(5000).optional(),
    rejectedAt: timestamp('When the request was closed.'),
  }),
  example: {
    requestId: '0d7e4c9a-1b2f-4e3d-8a6c-5f4e3d2c1b0a',
    model: 'churn-classifier',
    version: '7',
    to: { kind: 'stage', stage: 'Production' },
    reason: 'POLICY_GATE_FAILED',
    failedGates: [{ gate: 'metric-threshold:auc>=0.9', message: 'auc 0.884 < 0.9 on run a1b2c3d4' }],
    rejectedAt: '2025-01-15T11:20:00.000Z',
  },
});
export type TransitionRejectedV1 = z.output<typeof transitionRejectedV1.schema>;

export const modelPromotedV1 = defineEvent({
  type: 'cairn.registry.model.promoted.v1',
  name: 'ModelPromoted',
  topic: TOPICS.registry,
  keyField: 'model',
  description:
    'A model version moved to a stage (Staging, Production) or took an alias; carries what deployers and monitors need.',
  schema: z.object({
    model: modelName,
    version: modelVersion,
    from: registryPosition.describe('Where the version was before.'),
    to: registryPosition.describe('Where the version is now.'),
    actor: principal('Who performed the transition (the requester, for an approved request)'),
    approvers: z.array(principal('Approver')).describe('Who approved; empty for an unprotected transition.'),
    requestId: transitionRequestId.optional().describe('The approved transition request, if one was needed.'),
    replacedVersion: modelVersion
      .optional()
      .describe('The version that held the target stage or alias before.'),
    artifactUri: uri('Where the model artifact is stored.'),
    artifactDigest,
    signature: artifactSignature.optional(),
    modelFormat: z.string().min(1).max(64).optional().describe('Model flavor, e.g. sklearn, xgboost, onnx.'),
    runId: identifier('Source run of the version.').optional(),
    datasetInputs: z
      .array(datasetInput)
      .optional()
      .describe(
        "The source run's dataset inputs (lineage; the monitor builds reference profiles from them).",
      ),
    promotedAt: timestamp('When the transition took effect.'),
  }),
  example: {
    model: 'churn-classifier',
    version: '7',
    from: { kind: 'stage', stage: 'Staging' },
    to: { kind: 'stage', stage: 'Production' },
    actor: 'user:alice',
    approvers: ['user:bob'],
    requestId: '0d7e4c9a-1b2f-4e3d-8a6c-5f4e3d2c1b0a',
    replacedVersion: '6',
    artifactUri: 's3://cairn-artifacts/models/churn-classifier/7',
    artifactDigest: EXAMPLE_DIGEST,
    signature: { algorithm: 'Ed25519', keyId: 'release-2025', value: 'c2lnbmF0dXJlLWJ5dGVz' },
    modelFormat: 'xgboost',
    runId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
    datasetInputs: [
      {
        name: 'churn-train',
        digest: '3f2a9c1e',
        source: 's3://datasets/churn/2025-01/train.parquet',
        sourceType: 's3',
        context: 'training',
      },
    ],
    promotedAt: '2025-01-15T11:20:01.000Z',
  },
});
export type ModelPromotedV1 = z.output<typeof modelPromotedV1.schema>;

export const ARCHIVE_REASONS = ['MANUAL', 'SUPERSEDED'] as const;

export const modelArchivedV1 = defineEvent({
  type: 'cairn.registry.model.archived.v1',
  name: 'ModelArchived',
  topic: TOPICS.registry,
  keyField: 'model',
  description: 'A model version moved to stage Archived, by hand or because a promotion superseded it.',
  schema: z.object({
    model: modelName,
    version: modelVersion,
    fromStage: stage.describe('The stage the version left.'),
    reason: z.enum(ARCHIVE_REASONS),
    supersededBy: modelVersion
      .optional()
      .describe('The promoted version that replaced it (reason SUPERSEDED).'),
    actor: principal('Who archived it, or who made the superseding promotion'),
    archivedAt: timestamp('When the version was archived.'),
  }),
  example: {
    model: 'churn-classifier',
    version: '6',
    fromStage: 'Production',
    reason: 'SUPERSEDED',
    supersededBy: '7',
    actor: 'user:alice',
    archivedAt: '2025-01-15T11:20:01.000Z',
  },
});
export type ModelArchivedV1 = z.output<typeof modelArchivedV1.schema>;

export const aliasSetV1 = defineEvent({
  type: 'cairn.registry.alias.set.v1',
  name: 'AliasSet',
  topic: TOPICS.registry,
  keyField: 'model',
  description: 'An alias now points to a model version (moved from another version, or new).',
  schema: z.object({
    model: modelName,
    alias: aliasName,
    version: modelVersion,
    previousVersion: modelVersion.optional().describe('The version the alias pointed to before, if any.'),
    actor: principal('Who set the alias'),
    setAt: timestamp('When the alias was set.'),
  }),
  example: {
    model: 'churn-classifier',
    alias: 'champion',
    version: '7',
    previousVersion: '6',
    actor: 'user:alice',
    setAt: '2025-01-15T11:25:00.000Z',
  },
});
export type AliasSetV1 = z.output<typeof aliasSetV1.schema>;

export const aliasDeletedV1 = defineEvent({
  type: 'cairn.registry.alias.deleted.v1',
  name: 'AliasDeleted',
  topic: TOPICS.registry,
  keyField: 'model',
  description: 'An alias was removed from a model.',
  schema: z.object({
    model: modelName,
    alias: aliasName,
    version: modelVersion.describe('The version the alias pointed to.'),
    actor: principal('Who deleted the alias'),
    deletedAt: timestamp('When the alias was deleted.'),
  }),
  example: {
    model: 'churn-classifier',
    alias: 'challenger',
    version: '8',
    actor: 'user:alice',
    deletedAt: '2025-01-16T09:00:00.000Z',
  },
});
export type AliasDeletedV1 = z.output<typeof aliasDeletedV1.schema>;

export const registeredModelCreatedV1 = defineEvent({
  type: 'cairn.registry.registered-model.created.v1',
  name: 'RegisteredModelCreated',
  topic: TOPICS.registry,
  keyField: 'model',
  description: 'A registered model was created (it has no versions yet).',
  schema: z.object({
    model: modelName,
    description: z.string().max(5000).optional(),
    tags,
    createdBy: principal('Who created the model'),
    createdAt: timestamp('When the model was created.'),
  }),
  example: {
    model: 'churn-classifier',
    description: 'Predicts churn in the next 30 days.',
    tags: { owner: 'growth' },
    createdBy: 'user:alice',
    createdAt: '2025-01-15T10:30:00.000Z',
  },
});
export type RegisteredModelCreatedV1 = z.output<typeof registeredModelCreatedV1.schema>;

/** MLflow's limits on model-version tags (mlflow/utils/validation.py). */
const modelVersionTagKey = z.string().min(1).max(250).describe('Tag key.');

export const modelVersionTagSetV1 = defineEvent({
  type: 'cairn.registry.model-version-tag.set.v1',
  name: 'ModelVersionTagSet',
  topic: TOPICS.registry,
  keyField: 'model',
  description: 'A tag was set (created or overwritten) on a model version.',
  schema: z.object({
    model: modelName,
    version: modelVersion,
    key: modelVersionTagKey,
    value: z.string().max(5000).describe('Tag value.'),
    actor: principal('Who set the tag'),
    setAt: timestamp('When the tag was set.'),
  }),
  example: {
    model: 'churn-classifier',
    version: '7',
    key: 'validation_status',
    value: 'approved',
    actor: 'user:alice',
    setAt: '2025-01-15T10:50:00.000Z',
  },
});
export type ModelVersionTagSetV1 = z.output<typeof modelVersionTagSetV1.schema>;

export const modelVersionTagDeletedV1 = defineEvent({
  type: 'cairn.registry.model-version-tag.deleted.v1',
  name: 'ModelVersionTagDeleted',
  topic: TOPICS.registry,
  keyField: 'model',
  description: 'A tag was removed from a model version.',
  schema: z.object({
    model: modelName,
    version: modelVersion,
    key: modelVersionTagKey,
    actor: principal('Who deleted the tag'),
    deletedAt: timestamp('When the tag was deleted.'),
  }),
  example: {
    model: 'churn-classifier',
    version: '7',
    key: 'validation_status',
    actor: 'user:alice',
    deletedAt: '2025-01-16T08:00:00.000Z',
  },
});
export type ModelVersionTagDeletedV1 = z.output<typeof modelVersionTagDeletedV1.schema>;
