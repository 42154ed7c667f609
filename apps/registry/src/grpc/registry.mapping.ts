import type { Stage } from '@cairn/contracts';
import { registryV1 as pb } from '@cairn/proto';
import { AppError } from '@cairn/rpc';
import type { Target } from '../governance/model-policy';
import type {
  ModelVersionRecord,
  ModelVersionStatusName,
  RegisteredModelRecord,
  TagRecord,
} from '../models/models.repository';
import type { VersionLineage } from '../models/models.service';
import type { ArtifactSignature } from '../signing/signing-keyring';
import { missingValue, validateAlias } from '../validation/registry-validation';

/*
 * Translations between cairn.registry.v1 messages and the registry's records, shared by every
 * gRPC handler of the registry. Enums arriving from clients are checked here: an unspecified
 * value is a missing parameter, an unknown number an invalid one.
 */

const STAGE_TO_PROTO: Record<Stage, pb.Stage> = {
  None: pb.Stage.STAGE_NONE,
  Staging: pb.Stage.STAGE_STAGING,
  Production: pb.Stage.STAGE_PRODUCTION,
  Archived: pb.Stage.STAGE_ARCHIVED,
};

const STATUS_TO_PROTO: Record<ModelVersionStatusName, pb.ModelVersionStatus> = {
  PENDING_REGISTRATION: pb.ModelVersionStatus.MODEL_VERSION_STATUS_PENDING_REGISTRATION,
  READY: pb.ModelVersionStatus.MODEL_VERSION_STATUS_READY,
  FAILED_REGISTRATION: pb.ModelVersionStatus.MODEL_VERSION_STATUS_FAILED_REGISTRATION,
};

export function stageToProto(stage: Stage): pb.Stage {
  return STAGE_TO_PROTO[stage];
}

/** A stage sent by a client; `field` names it in the error (e.g. `stage`, `stages[2]`). */
export function stageFromProto(stage: pb.Stage, field = 'stage'): Stage {
  switch (stage) {
    case pb.Stage.STAGE_NONE:
      return 'None';
    case pb.Stage.STAGE_STAGING:
      return 'Staging';
    case pb.Stage.STAGE_PRODUCTION:
      return 'Production';
    case pb.Stage.STAGE_ARCHIVED:
      return 'Archived';
    case pb.Stage.STAGE_UNSPECIFIED:
      throw missingValue(field);
    case pb.Stage.UNRECOGNIZED:
    default:
      throw new AppError(
        'invalid_argument',
        'INVALID_PARAMETER_VALUE',
        `Invalid Model Version stage: ${String(stage)}. Value must be one of None, Staging, Production, Archived.`,
        { field, value: String(stage) },
      );
  }
}

export function statusToProto(status: ModelVersionStatusName): pb.ModelVersionStatus {
  return STATUS_TO_PROTO[status];
}

/** Where a version sits or is to go; a missing position is a missing parameter. */
export function positionFromProto(p: pb.Position | undefined, field = 'to'): Target {
  const target = p?.target;
  if (!target) throw missingValue(field);
  switch (target.$case) {
    case 'stage':
      return { kind: 'stage', stage: stageFromProto(target.value, `${field}.stage`) };
    case 'alias':
      validateAlias(target.value);
      return { kind: 'alias', alias: target.value };
    default: {
      const unreachable: never = target;
      throw new Error(`unhandled position ${JSON.stringify(unreachable)}`);
    }
  }
}

export function positionToProto(t: Target): pb.Position {
  switch (t.kind) {
    case 'stage':
      return { target: { $case: 'stage', value: stageToProto(t.stage) } };
    case 'alias':
      return { target: { $case: 'alias', value: t.alias } };
    default: {
      const unreachable: never = t;
      throw new Error(`unhandled target ${JSON.stringify(unreachable)}`);
    }
  }
}

export function tagsFromProto(tags: pb.Tag[]): TagRecord[] {
  return tags.map((t) => ({ key: t.key, value: t.value }));
}

/** A client's signature as the keyring takes it; undefined when the request carries none. */
export function signatureFromProto(s: pb.Signature | undefined): ArtifactSignature | undefined {
  return s ? { algorithm: s.algorithm, keyId: s.keyId, value: s.value } : undefined;
}

export function modelVersionToProto(v: ModelVersionRecord): pb.ModelVersion {
  return {
    name: v.name,
    version: String(v.version),
    creationTimestamp: v.creationTime,
    lastUpdatedTimestamp: v.lastUpdatedTime,
    userId: v.userId,
    currentStage: stageToProto(v.stage),
    description: v.description,
    source: v.source,
    runId: v.runId ?? '',
    status: statusToProto(v.status),
    statusMessage: v.statusMessage,
    tags: v.tags.map((t) => ({ key: t.key, value: t.value })),
    runLink: v.runLink,
    aliases: [...v.aliases],
    storageLocation: v.storageUri,
    artifactDigest: v.artifactDigest ?? '',
    signature: v.signature
      ? { algorithm: v.signature.algorithm, keyId: v.signature.keyId, value: v.signature.value }
      : undefined,
  };
}

export function registeredModelToProto(r: RegisteredModelRecord): pb.RegisteredModel {
  return {
    name: r.name,
    creationTimestamp: r.creationTime,
    lastUpdatedTimestamp: r.lastUpdatedTime,
    description: r.description,
    latestVersions: r.latestVersions.map(modelVersionToProto),
    tags: r.tags.map((t) => ({ key: t.key, value: t.value })),
    aliases: r.aliases.map((a) => ({ alias: a.alias, version: String(a.version) })),
    createdBy: r.createdBy,
  };
}

export function lineageToProto(l: VersionLineage): pb.GetModelVersionLineageResponse {
  const { run } = l;
  return {
    modelVersion: modelVersionToProto(l.version),
    run: run
      ? {
          runId: run.runId,
          experimentId: run.experimentId,
          runName: run.runName ?? '',
          status: run.status,
          metrics: { ...run.metrics },
          params: { ...run.params },
          artifactUri: run.artifactUri,
          createdBy: run.createdBy ?? '',
          startTime: run.startedAt,
          endTime: run.endedAt,
        }
      : undefined,
    datasetInputs: l.datasetInputs.map((d) => ({
      name: d.name,
      digest: d.digest,
      sourceType: d.sourceType ?? '',
      source: d.source,
      context: d.context ?? '',
    })),
    pipelineRunId: l.pipelineRunId ?? '',
    deployments: l.deployments.map((d) => ({
      deploymentId: d.deploymentId,
      target: d.target,
      status: d.status,
      updatedAt: d.updatedAt,
    })),
  };
}
