import { registryV1, trackingV1 } from '@cairn/proto';
import { splitPrincipalId } from '../auth/principal-name';
import { MlflowError } from './mlflow-error';

/*
 * MLflow's REST shapes: proto2-JSON of mlflow/protos/service.proto and model_registry.proto
 * with the field names as in the protos, int64 as JSON numbers (MLflow's message_to_json),
 * enums by name, and fields left out when unset (an empty message is `{}`).
 */

export type Json = { [key: string]: JsonValue };
type JsonValue = string | number | boolean | null | Json | JsonValue[] | undefined;

/** Drops unset fields: undefined, empty strings and empty lists, as proto2-JSON leaves them out. */
function compact(obj: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out;
}

/** A double as protobuf's JSON writes it: non-finite values are strings. */
export function jsonDouble(v: number): number | string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return 'Infinity';
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity';
  return v;
}

/** MLflow's user_id of a principal: the user name (`user:alice` → `alice`). */
export function userNameOf(principal: string): string {
  return splitPrincipalId(principal)?.name ?? principal;
}

const tags = (list: Array<{ key: string; value: string }>): Json[] =>
  list.map((t) => ({ key: t.key, value: t.value }));

/**
 * Where MLflow clients read and write a run's artifacts: through this gateway's
 * `mlflow-artifacts` proxy (as `mlflow server --serve-artifacts` does), never the store itself.
 */
export const proxiedExperimentLocation = (experimentId: string) => `mlflow-artifacts:/${experimentId}`;
export const proxiedRunArtifactUri = (experimentId: string, runId: string) =>
  `mlflow-artifacts:/${experimentId}/${runId}/artifacts`;

// ---- tracking ---------------------------------------------------------------------------

function lifecycleStage(stage: trackingV1.LifecycleStage): string {
  return stage === trackingV1.LifecycleStage.LIFECYCLE_STAGE_DELETED ? 'deleted' : 'active';
}

export function experimentJson(e: trackingV1.Experiment): Json {
  return compact({
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: proxiedExperimentLocation(e.experimentId),
    lifecycle_stage: lifecycleStage(e.lifecycleStage),
    last_update_time: e.lastUpdateTime,
    creation_time: e.creationTime,
    tags: tags(e.tags),
  });
}

const RUN_STATUS_NAMES: Record<number, string> = {
  [trackingV1.RunStatus.RUN_STATUS_RUNNING]: 'RUNNING',
  [trackingV1.RunStatus.RUN_STATUS_SCHEDULED]: 'SCHEDULED',
  [trackingV1.RunStatus.RUN_STATUS_FINISHED]: 'FINISHED',
  [trackingV1.RunStatus.RUN_STATUS_FAILED]: 'FAILED',
  [trackingV1.RunStatus.RUN_STATUS_KILLED]: 'KILLED',
};

export function runStatusFromJson(name: string): trackingV1.RunStatus {
  const entry = Object.entries(RUN_STATUS_NAMES).find(([, n]) => n === name);
  if (!entry) {
    throw new MlflowError(
      'INVALID_PARAMETER_VALUE',
      `Invalid value '${name.slice(0, 64)}' for parameter 'status': one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED.`,
    );
  }
  return Number(entry[0]);
}

const VIEW_TYPES: Record<string, trackingV1.ViewType> = {
  ACTIVE_ONLY: trackingV1.ViewType.VIEW_TYPE_ACTIVE_ONLY,
  DELETED_ONLY: trackingV1.ViewType.VIEW_TYPE_DELETED_ONLY,
  ALL: trackingV1.ViewType.VIEW_TYPE_ALL,
  '1': trackingV1.ViewType.VIEW_TYPE_ACTIVE_ONLY,
  '2': trackingV1.ViewType.VIEW_TYPE_DELETED_ONLY,
  '3': trackingV1.ViewType.VIEW_TYPE_ALL,
};

/** MLflow's ViewType, by name or number; absent is ACTIVE_ONLY. */
export function viewTypeFromJson(name: string | undefined, param: string): trackingV1.ViewType {
  if (name === undefined || name === '') return trackingV1.ViewType.VIEW_TYPE_ACTIVE_ONLY;
  const v = VIEW_TYPES[name.toUpperCase()];
  if (v === undefined) {
    throw new MlflowError(
      'INVALID_PARAMETER_VALUE',
      `Invalid value '${name.slice(0, 64)}' for parameter '${param}': one of ACTIVE_ONLY, DELETED_ONLY, ALL.`,
    );
  }
  return v;
}

export function metricJson(m: trackingV1.Metric): Json {
  return { key: m.key, value: jsonDouble(m.value), timestamp: m.timestamp, step: m.step };
}

export function runInfoJson(i: trackingV1.RunInfo): Json {
  return compact({
    run_id: i.runId,
    run_uuid: i.runId,
    run_name: i.runName,
    experiment_id: i.experimentId,
    user_id: i.userId,
    status: RUN_STATUS_NAMES[i.status] ?? 'RUNNING',
    start_time: i.startTime,
    end_time: i.endTime,
    artifact_uri: proxiedRunArtifactUri(i.experimentId, i.runId),
    lifecycle_stage: lifecycleStage(i.lifecycleStage),
  });
}

function datasetInputJson(d: trackingV1.DatasetInput): Json {
  const ds = d.dataset;
  return compact({
    tags: tags(d.tags),
    dataset: ds
      ? compact({
          name: ds.name,
          digest: ds.digest,
          source_type: ds.sourceType,
          source: ds.source,
          schema: ds.schema,
          profile: ds.profile,
        })
      : undefined,
  });
}

export function runJson(r: trackingV1.Run): Json {
  return {
    info: r.info ? runInfoJson(r.info) : {},
    data: compact({
      metrics: (r.data?.metrics ?? []).map(metricJson),
      params: (r.data?.params ?? []).map((p) => ({ key: p.key, value: p.value })),
      tags: tags(r.data?.tags ?? []),
    }),
    inputs: compact({ dataset_inputs: (r.inputs?.datasetInputs ?? []).map(datasetInputJson) }),
  };
}

// ---- registry ---------------------------------------------------------------------------

const STAGE_NAMES: Record<number, string> = {
  [registryV1.Stage.STAGE_NONE]: 'None',
  [registryV1.Stage.STAGE_STAGING]: 'Staging',
  [registryV1.Stage.STAGE_PRODUCTION]: 'Production',
  [registryV1.Stage.STAGE_ARCHIVED]: 'Archived',
};

/** A stage name, case-insensitive as MLflow reads it. */
export function stageFromJson(name: string): registryV1.Stage {
  const entry = Object.entries(STAGE_NAMES).find(([, n]) => n.toLowerCase() === name.trim().toLowerCase());
  if (!entry) {
    throw new MlflowError(
      'INVALID_PARAMETER_VALUE',
      `Invalid Model Version stage: ${name.slice(0, 64)}. Value must be one of None, Staging, Production, Archived.`,
    );
  }
  return Number(entry[0]);
}

const VERSION_STATUS_NAMES: Record<number, string> = {
  [registryV1.ModelVersionStatus.MODEL_VERSION_STATUS_PENDING_REGISTRATION]: 'PENDING_REGISTRATION',
  [registryV1.ModelVersionStatus.MODEL_VERSION_STATUS_READY]: 'READY',
  [registryV1.ModelVersionStatus.MODEL_VERSION_STATUS_FAILED_REGISTRATION]: 'FAILED_REGISTRATION',
};

export function modelVersionJson(v: registryV1.ModelVersion): Json {
  return compact({
    name: v.name,
    version: v.version,
    creation_timestamp: v.creationTimestamp,
    last_updated_timestamp: v.lastUpdatedTimestamp,
    user_id: userNameOf(v.userId),
    current_stage: STAGE_NAMES[v.currentStage] ?? 'None',
    description: v.description,
    source: v.source,
    run_id: v.runId,
    status: VERSION_STATUS_NAMES[v.status],
    status_message: v.statusMessage,
    tags: tags(v.tags),
    run_link: v.runLink,
    aliases: v.aliases,
  });
}

export function registeredModelJson(m: registryV1.RegisteredModel): Json {
  return compact({
    name: m.name,
    creation_timestamp: m.creationTimestamp,
    last_updated_timestamp: m.lastUpdatedTimestamp,
    user_id: userNameOf(m.createdBy),
    description: m.description,
    latest_versions: m.latestVersions.map(modelVersionJson),
    tags: tags(m.tags),
    aliases: m.aliases.map((a) => ({ alias: a.alias, version: a.version })),
  });
}
