import { gatewayAuthV1, registryV1, trackingV1 } from '@cairn/proto';
import type { CallContext } from '@cairn/rpc';
import type { AuthGrpc } from '../auth/auth.grpc';
import type { GatewayCalls } from '../proxy/gateway-calls';
import { MlflowError } from './mlflow-error';
import {
  experimentJson,
  type Json,
  metricJson,
  modelVersionJson,
  proxiedRunArtifactUri,
  registeredModelJson,
  runInfoJson,
  runJson,
  runStatusFromJson,
  stageFromJson,
  viewTypeFromJson,
} from './mlflow-json';
import { missing, type RequestFields } from './mlflow-request';

/** What a route's handler works with: the caller's context and the one path to the services. */
export interface MlflowCall {
  fields: RequestFields;
  ctx: CallContext;
  calls: GatewayCalls;
  auth: AuthGrpc;
  /** The size of the JSON body in bytes (log-batch has a limit on it). */
  bodyBytes: number;
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One endpoint under `/api/2.0/mlflow/` (and `/ajax-api/2.0/mlflow/`). */
export interface MlflowRoute {
  methods: HttpMethod[];
  path: string;
  /**
   * The RPCs the route is translated onto, in the order it makes them. Each one's access rule
   * (proxy/access-rules.ts, or AuthService's own checks) governs the route: a route has no
   * other way to the services, so it cannot do more than its RPCs allow the caller.
   */
  rpcs: string[];
  handle(call: MlflowCall): Promise<Json>;
}

const E = trackingV1.ExperimentServiceService;
const R = trackingV1.RunServiceService;
const A = trackingV1.ArtifactServiceService;
const M = registryV1.ModelRegistryServiceService;
const P = gatewayAuthV1.AuthServiceService;

/** The method paths of the RPCs a route makes. */
export const rpc = (...methods: Array<{ path: string }>): string[] => methods.map((m) => m.path);

/** MLflow's batch limit on the body of log-batch (mlflow/utils/validation.py). */
export const MAX_LOG_BATCH_BODY_BYTES = 1_000_000;
/** The tag MLflow records logged models in (runs/log-model). */
const LOGGED_MODELS_TAG = 'mlflow.log-model.history';

function route(
  methods: HttpMethod[],
  path: string,
  rpcs: string[],
  handle: (call: MlflowCall) => Promise<Json>,
): MlflowRoute {
  return { methods, path, rpcs, handle };
}

const runIdOf = (f: RequestFields) => f.oneOf('run_id', 'run_uuid');

function metricOf(f: RequestFields): trackingV1.Metric {
  return {
    key: f.string('key'),
    value: f.double('value'),
    timestamp: f.int('timestamp'),
    step: f.optInt('step') ?? 0,
  };
}

function datasetInputOf(f: RequestFields): trackingV1.DatasetInput {
  const d = f.message('dataset');
  if (!d) throw missing('dataset');
  return {
    tags: f.keyValues('tags'),
    dataset: {
      name: d.string('name'),
      digest: d.string('digest'),
      sourceType: d.string('source_type'),
      source: d.string('source'),
      schema: d.optString('schema'),
      profile: d.optString('profile'),
    },
  };
}

const PERMISSIONS: Record<string, gatewayAuthV1.Permission> = {
  READ: gatewayAuthV1.Permission.PERMISSION_READ,
  EDIT: gatewayAuthV1.Permission.PERMISSION_EDIT,
  MANAGE: gatewayAuthV1.Permission.PERMISSION_MANAGE,
  NO_PERMISSIONS: gatewayAuthV1.Permission.PERMISSION_NO_PERMISSIONS,
};

function permissionOf(f: RequestFields): gatewayAuthV1.Permission {
  const name = f.string('permission');
  const p = PERMISSIONS[name];
  if (p === undefined) {
    throw new MlflowError(
      'INVALID_PARAMETER_VALUE',
      `Invalid permission '${name.slice(0, 64)}': one of READ, EDIT, MANAGE, NO_PERMISSIONS.`,
    );
  }
  return p;
}

const permissionName = (p: gatewayAuthV1.Permission) =>
  Object.entries(PERMISSIONS).find(([, v]) => v === p)?.[0] ?? 'NO_PERMISSIONS';

function userJson(u: gatewayAuthV1.User | undefined): Json {
  if (!u) return {};
  return {
    id: u.id,
    username: u.username,
    is_admin: u.isAdmin,
    experiment_permissions: u.experimentPermissions.map((p) => ({
      experiment_id: p.experimentId,
      user_id: p.userId,
      permission: permissionName(p.permission),
    })),
    registered_model_permissions: u.registeredModelPermissions.map((p) => ({
      name: p.name,
      user_id: p.userId,
      permission: permissionName(p.permission),
    })),
  };
}

/**
 * A source under a run's proxied artifacts (`mlflow-artifacts:/<exp>/<run>/artifacts/<path>`,
 * what MLflow clients register from runs:/ URIs) becomes `runs:/<run>/<path>`: the registry
 * resolves it through the run itself, wherever the run's artifacts are stored.
 */
export function registrySourceOf(source: string, runId: string): { source: string; runId: string } {
  const m = /^mlflow-artifacts:\/+([^/]+)\/([^/]+)\/artifacts(?:\/(.*))?$/.exec(source);
  if (m && (runId === '' || runId === m[2])) return { source: `runs:/${m[2]}/${m[3] ?? ''}`, runId: m[2] };
  return { source, runId };
}

/** Every MLflow REST endpoint the gateway serves. */
export const MLFLOW_ROUTES: MlflowRoute[] = [
  // ---- experiments ----
  route(['POST'], 'experiments/create', rpc(E.createExperiment), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(
      E.createExperiment,
      {
        name: f.string('name'),
        artifactLocation: f.optString('artifact_location'),
        tags: f.keyValues('tags'),
      },
      ctx,
    );
    return { experiment_id: res.experimentId };
  }),
  route(['GET'], 'experiments/get', rpc(E.getExperiment), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(E.getExperiment, { experimentId: f.string('experiment_id') }, ctx);
    return { experiment: res.experiment ? experimentJson(res.experiment) : {} };
  }),
  route(['GET'], 'experiments/get-by-name', rpc(E.getExperimentByName), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(
      E.getExperimentByName,
      { experimentName: f.string('experiment_name') },
      ctx,
    );
    return { experiment: res.experiment ? experimentJson(res.experiment) : {} };
  }),
  route(
    ['GET', 'POST'],
    'experiments/search',
    rpc(E.searchExperiments),
    async ({ fields: f, calls, ctx }) => {
      const res = await calls.unary(
        E.searchExperiments,
        {
          maxResults: f.optInt('max_results'),
          pageToken: f.optString('page_token') ?? '',
          filter: f.optString('filter') ?? '',
          orderBy: f.strings('order_by'),
          viewType: viewTypeFromJson(f.optString('view_type'), 'view_type'),
        },
        ctx,
      );
      return compactPage({ experiments: res.experiments.map(experimentJson) }, res.nextPageToken);
    },
  ),
  route(['POST'], 'experiments/update', rpc(E.updateExperiment), async ({ fields: f, calls, ctx }) => {
    await calls.unary(
      E.updateExperiment,
      { experimentId: f.string('experiment_id'), newName: f.string('new_name') },
      ctx,
    );
    return {};
  }),
  route(['POST'], 'experiments/delete', rpc(E.deleteExperiment), async ({ fields: f, calls, ctx }) => {
    await calls.unary(E.deleteExperiment, { experimentId: f.string('experiment_id') }, ctx);
    return {};
  }),
  route(['POST'], 'experiments/restore', rpc(E.restoreExperiment), async ({ fields: f, calls, ctx }) => {
    await calls.unary(E.restoreExperiment, { experimentId: f.string('experiment_id') }, ctx);
    return {};
  }),
  route(
    ['POST'],
    'experiments/set-experiment-tag',
    rpc(E.setExperimentTag),
    async ({ fields: f, calls, ctx }) => {
      await calls.unary(
        E.setExperimentTag,
        { experimentId: f.string('experiment_id'), key: f.string('key'), value: f.optString('value') ?? '' },
        ctx,
      );
      return {};
    },
  ),
  route(
    ['POST'],
    'experiments/delete-experiment-tag',
    rpc(E.deleteExperimentTag),
    async ({ fields: f, calls, ctx }) => {
      await calls.unary(
        E.deleteExperimentTag,
        { experimentId: f.string('experiment_id'), key: f.string('key') },
        ctx,
      );
      return {};
    },
  ),

  // ---- runs ----
  route(['POST'], 'runs/create', rpc(R.createRun), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(
      R.createRun,
      {
        experimentId: f.optString('experiment_id') || '0',
        // The gateway stamps the authenticated caller's name (access-rules.ts).
        userId: '',
        startTime: f.optInt('start_time'),
        tags: f.keyValues('tags'),
        runName: f.optString('run_name') || undefined,
      },
      ctx,
    );
    return { run: res.run ? runJson(res.run) : {} };
  }),
  route(['GET'], 'runs/get', rpc(R.getRun), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(R.getRun, { runId: runIdOf(f) }, ctx);
    return { run: res.run ? runJson(res.run) : {} };
  }),
  route(['POST'], 'runs/update', rpc(R.updateRun), async ({ fields: f, calls, ctx }) => {
    const status = f.optString('status');
    const res = await calls.unary(
      R.updateRun,
      {
        runId: runIdOf(f),
        status: status ? runStatusFromJson(status) : trackingV1.RunStatus.RUN_STATUS_UNSPECIFIED,
        endTime: f.optInt('end_time'),
        runName: f.optString('run_name') || undefined,
      },
      ctx,
    );
    return { run_info: res.runInfo ? runInfoJson(res.runInfo) : {} };
  }),
  route(['POST'], 'runs/delete', rpc(R.deleteRun), async ({ fields: f, calls, ctx }) => {
    await calls.unary(R.deleteRun, { runId: f.string('run_id') }, ctx);
    return {};
  }),
  route(['POST'], 'runs/restore', rpc(R.restoreRun), async ({ fields: f, calls, ctx }) => {
    await calls.unary(R.restoreRun, { runId: f.string('run_id') }, ctx);
    return {};
  }),
  route(['POST'], 'runs/log-metric', rpc(R.logMetric), async ({ fields: f, calls, ctx }) => {
    await calls.unary(R.logMetric, { runId: runIdOf(f), metric: metricOf(f) }, ctx);
    return {};
  }),
  route(['POST'], 'runs/log-parameter', rpc(R.logParam), async ({ fields: f, calls, ctx }) => {
    await calls.unary(
      R.logParam,
      { runId: runIdOf(f), key: f.string('key'), value: f.optString('value') ?? '' },
      ctx,
    );
    return {};
  }),
  route(['POST'], 'runs/set-tag', rpc(R.setTag), async ({ fields: f, calls, ctx }) => {
    await calls.unary(
      R.setTag,
      { runId: runIdOf(f), key: f.string('key'), value: f.optString('value') ?? '' },
      ctx,
    );
    return {};
  }),
  route(['POST'], 'runs/delete-tag', rpc(R.deleteTag), async ({ fields: f, calls, ctx }) => {
    await calls.unary(R.deleteTag, { runId: f.string('run_id'), key: f.string('key') }, ctx);
    return {};
  }),
  route(['POST'], 'runs/log-batch', rpc(R.logBatch), async ({ fields: f, calls, ctx, bodyBytes }) => {
    if (bodyBytes > MAX_LOG_BATCH_BODY_BYTES) {
      throw new MlflowError(
        'INVALID_PARAMETER_VALUE',
        `Batch size ${bodyBytes} exceeds max of ${MAX_LOG_BATCH_BODY_BYTES}`,
        'BATCH_TOO_LARGE',
      );
    }
    await calls.unary(
      R.logBatch,
      {
        runId: runIdOf(f),
        metrics: f.messages('metrics').map(metricOf),
        params: f.keyValues('params'),
        tags: f.keyValues('tags'),
      },
      ctx,
    );
    return {};
  }),
  route(['POST'], 'runs/log-inputs', rpc(R.logInputs), async ({ fields: f, calls, ctx }) => {
    await calls.unary(
      R.logInputs,
      { runId: f.string('run_id'), datasets: f.messages('datasets').map(datasetInputOf) },
      ctx,
    );
    return {};
  }),
  // MLflow records each logged model's MLmodel in a run tag (SqlAlchemyStore.record_logged_model).
  route(['POST'], 'runs/log-model', rpc(R.getRun, R.setTag), async ({ fields: f, calls, ctx }) => {
    const runId = runIdOf(f);
    let model: unknown;
    try {
      model = JSON.parse(f.string('model_json'));
    } catch {
      throw new MlflowError('INVALID_PARAMETER_VALUE', "Parameter 'model_json' is not valid JSON.");
    }
    const res = await calls.unary(R.getRun, { runId }, ctx);
    const previous = res.run?.data?.tags.find((t) => t.key === LOGGED_MODELS_TAG)?.value;
    let history: unknown[] = [];
    try {
      const parsed: unknown = previous ? JSON.parse(previous) : [];
      if (Array.isArray(parsed)) history = parsed;
    } catch {
      history = [];
    }
    await calls.unary(
      R.setTag,
      { runId, key: LOGGED_MODELS_TAG, value: JSON.stringify([...history, model]) },
      ctx,
    );
    return {};
  }),
  route(['POST'], 'runs/search', rpc(R.searchRuns), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(
      R.searchRuns,
      {
        experimentIds: f.strings('experiment_ids'),
        filter: f.optString('filter') ?? '',
        runViewType: viewTypeFromJson(f.optString('run_view_type'), 'run_view_type'),
        maxResults: f.optInt('max_results'),
        orderBy: f.strings('order_by'),
        pageToken: f.optString('page_token') ?? '',
      },
      ctx,
    );
    return compactPage({ runs: res.runs.map(runJson) }, res.nextPageToken);
  }),
  route(['GET'], 'metrics/get-history', rpc(R.getMetricHistory), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(
      R.getMetricHistory,
      {
        runId: runIdOf(f),
        metricKey: f.string('metric_key'),
        maxResults: f.optInt('max_results'),
        pageToken: f.optString('page_token') ?? '',
        columnar: false,
      },
      ctx,
    );
    return compactPage({ metrics: res.metrics.map(metricJson) }, res.nextPageToken);
  }),
  route(['GET'], 'artifacts/list', rpc(A.listArtifacts), async ({ fields: f, calls, ctx }) => {
    const runId = runIdOf(f);
    const res = await calls.unary(A.listArtifacts, { runId, path: f.optString('path') ?? '' }, ctx);
    return {
      root_uri: proxiedRunArtifactUri(await calls.experimentOfRun(ctx, runId), runId),
      files: res.files.map((x) => ({
        path: x.path,
        is_dir: x.isDir,
        ...(x.fileSize === undefined ? {} : { file_size: x.fileSize }),
      })),
    };
  }),

  // ---- registered models ----
  route(
    ['POST'],
    'registered-models/create',
    rpc(M.createRegisteredModel),
    async ({ fields: f, calls, ctx }) => {
      const res = await calls.unary(
        M.createRegisteredModel,
        { name: f.string('name'), tags: f.keyValues('tags'), description: f.optString('description') ?? '' },
        ctx,
      );
      return { registered_model: res.registeredModel ? registeredModelJson(res.registeredModel) : {} };
    },
  ),
  route(['GET'], 'registered-models/get', rpc(M.getRegisteredModel), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(M.getRegisteredModel, { name: f.string('name') }, ctx);
    return { registered_model: res.registeredModel ? registeredModelJson(res.registeredModel) : {} };
  }),
  route(
    ['POST'],
    'registered-models/rename',
    rpc(M.renameRegisteredModel),
    async ({ fields: f, calls, ctx }) => {
      const res = await calls.unary(
        M.renameRegisteredModel,
        { name: f.string('name'), newName: f.string('new_name') },
        ctx,
      );
      return { registered_model: res.registeredModel ? registeredModelJson(res.registeredModel) : {} };
    },
  ),
  route(
    ['PATCH'],
    'registered-models/update',
    rpc(M.updateRegisteredModel),
    async ({ fields: f, calls, ctx }) => {
      const res = await calls.unary(
        M.updateRegisteredModel,
        { name: f.string('name'), description: f.optString('description') ?? '' },
        ctx,
      );
      return { registered_model: res.registeredModel ? registeredModelJson(res.registeredModel) : {} };
    },
  ),
  route(
    ['DELETE'],
    'registered-models/delete',
    rpc(M.deleteRegisteredModel),
    async ({ fields: f, calls, ctx }) => {
      await calls.unary(M.deleteRegisteredModel, { name: f.string('name') }, ctx);
      return {};
    },
  ),
  route(
    ['GET'],
    'registered-models/search',
    rpc(M.searchRegisteredModels),
    async ({ fields: f, calls, ctx }) => {
      const res = await calls.unary(
        M.searchRegisteredModels,
        {
          filter: f.optString('filter') ?? '',
          maxResults: f.optInt('max_results'),
          orderBy: f.strings('order_by'),
          pageToken: f.optString('page_token') ?? '',
        },
        ctx,
      );
      return compactPage(
        { registered_models: res.registeredModels.map(registeredModelJson) },
        res.nextPageToken,
      );
    },
  ),
  route(
    ['GET', 'POST'],
    'registered-models/get-latest-versions',
    rpc(M.getLatestVersions),
    async ({ fields: f, calls, ctx }) => {
      const res = await calls.unary(
        M.getLatestVersions,
        { name: f.string('name'), stages: f.strings('stages').map(stageFromJson) },
        ctx,
      );
      return compactPage({ model_versions: res.modelVersions.map(modelVersionJson) }, '');
    },
  ),
  route(
    ['POST'],
    'registered-models/set-tag',
    rpc(M.setRegisteredModelTag),
    async ({ fields: f, calls, ctx }) => {
      await calls.unary(
        M.setRegisteredModelTag,
        { name: f.string('name'), key: f.string('key'), value: f.optString('value') ?? '' },
        ctx,
      );
      return {};
    },
  ),
  route(
    ['DELETE'],
    'registered-models/delete-tag',
    rpc(M.deleteRegisteredModelTag),
    async ({ fields: f, calls, ctx }) => {
      await calls.unary(M.deleteRegisteredModelTag, { name: f.string('name'), key: f.string('key') }, ctx);
      return {};
    },
  ),
  route(
    ['POST'],
    'registered-models/alias',
    rpc(M.setRegisteredModelAlias),
    async ({ fields: f, calls, ctx }) => {
      await calls.unary(
        M.setRegisteredModelAlias,
        { name: f.string('name'), alias: f.string('alias'), version: f.string('version') },
        ctx,
      );
      return {};
    },
  ),
  route(
    ['DELETE'],
    'registered-models/alias',
    rpc(M.deleteRegisteredModelAlias),
    async ({ fields: f, calls, ctx }) => {
      await calls.unary(
        M.deleteRegisteredModelAlias,
        { name: f.string('name'), alias: f.string('alias') },
        ctx,
      );
      return {};
    },
  ),
  route(
    ['GET'],
    'registered-models/alias',
    rpc(M.getModelVersionByAlias),
    async ({ fields: f, calls, ctx }) => {
      const res = await calls.unary(
        M.getModelVersionByAlias,
        { name: f.string('name'), alias: f.string('alias') },
        ctx,
      );
      return { model_version: res.modelVersion ? modelVersionJson(res.modelVersion) : {} };
    },
  ),

  // ---- model versions ----
  route(['POST'], 'model-versions/create', rpc(M.createModelVersion), async ({ fields: f, calls, ctx }) => {
    const { source, runId } = registrySourceOf(f.string('source'), f.optString('run_id') ?? '');
    const res = await calls.unary(
      M.createModelVersion,
      {
        name: f.string('name'),
        source,
        runId,
        tags: f.keyValues('tags'),
        runLink: f.optString('run_link') ?? '',
        description: f.optString('description') ?? '',
      },
      ctx,
    );
    return { model_version: res.modelVersion ? modelVersionJson(res.modelVersion) : {} };
  }),
  route(['GET'], 'model-versions/get', rpc(M.getModelVersion), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(
      M.getModelVersion,
      { name: f.string('name'), version: f.string('version') },
      ctx,
    );
    return { model_version: res.modelVersion ? modelVersionJson(res.modelVersion) : {} };
  }),
  route(['PATCH'], 'model-versions/update', rpc(M.updateModelVersion), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(
      M.updateModelVersion,
      { name: f.string('name'), version: f.string('version'), description: f.optString('description') ?? '' },
      ctx,
    );
    return { model_version: res.modelVersion ? modelVersionJson(res.modelVersion) : {} };
  }),
  route(['DELETE'], 'model-versions/delete', rpc(M.deleteModelVersion), async ({ fields: f, calls, ctx }) => {
    await calls.unary(M.deleteModelVersion, { name: f.string('name'), version: f.string('version') }, ctx);
    return {};
  }),
  route(['GET'], 'model-versions/search', rpc(M.searchModelVersions), async ({ fields: f, calls, ctx }) => {
    const res = await calls.unary(
      M.searchModelVersions,
      {
        filter: f.optString('filter') ?? '',
        maxResults: f.optInt('max_results'),
        orderBy: f.strings('order_by'),
        pageToken: f.optString('page_token') ?? '',
      },
      ctx,
    );
    return compactPage({ model_versions: res.modelVersions.map(modelVersionJson) }, res.nextPageToken);
  }),
  route(
    ['POST'],
    'model-versions/transition-stage',
    rpc(M.transitionModelVersionStage),
    async ({ fields: f, calls, ctx }) => {
      const res = await calls.unary(
        M.transitionModelVersionStage,
        {
          name: f.string('name'),
          version: f.string('version'),
          stage: stageFromJson(f.string('stage')),
          archiveExistingVersions: f.bool('archive_existing_versions'),
          comment: f.optString('comment') ?? '',
        },
        ctx,
      );
      return { model_version: res.modelVersion ? modelVersionJson(res.modelVersion) : {} };
    },
  ),
  // A version registered from a run downloads through the run's proxied artifacts.
  route(
    ['GET'],
    'model-versions/get-download-uri',
    rpc(M.getModelVersion, M.getModelVersionDownloadUri),
    async ({ fields: f, calls, ctx }) => {
      const key = { name: f.string('name'), version: f.string('version') };
      const version = (await calls.unary(M.getModelVersion, key, ctx)).modelVersion;
      const runSource = /^runs:\/+([^/]+)(?:\/(.*))?$/.exec(version?.source ?? '');
      if (runSource) {
        const root = proxiedRunArtifactUri(await calls.experimentOfRun(ctx, runSource[1]), runSource[1]);
        const rest = (runSource[2] ?? '').replace(/\/+$/, '');
        return { artifact_uri: rest ? `${root}/${rest}` : root };
      }
      if (version?.source.startsWith('mlflow-artifacts:')) return { artifact_uri: version.source };
      const res = await calls.unary(M.getModelVersionDownloadUri, key, ctx);
      return { artifact_uri: res.artifactUri };
    },
  ),
  route(['POST'], 'model-versions/set-tag', rpc(M.setModelVersionTag), async ({ fields: f, calls, ctx }) => {
    await calls.unary(
      M.setModelVersionTag,
      {
        name: f.string('name'),
        version: f.string('version'),
        key: f.string('key'),
        value: f.optString('value') ?? '',
      },
      ctx,
    );
    return {};
  }),
  route(
    ['DELETE'],
    'model-versions/delete-tag',
    rpc(M.deleteModelVersionTag),
    async ({ fields: f, calls, ctx }) => {
      await calls.unary(
        M.deleteModelVersionTag,
        { name: f.string('name'), version: f.string('version'), key: f.string('key') },
        ctx,
      );
      return {};
    },
  ),

  // ---- permissions and users (MLflow's basic-auth app) ----
  route(
    ['POST'],
    'experiments/permissions/create',
    rpc(P.createExperimentPermission),
    async ({ fields: f, auth, ctx }) => {
      const res = await auth.createExperimentPermission(
        {
          experimentId: f.string('experiment_id'),
          username: f.string('username'),
          permission: permissionOf(f),
        },
        ctx,
      );
      return { experiment_permission: experimentPermissionJson(res.experimentPermission) };
    },
  ),
  route(
    ['GET'],
    'experiments/permissions/get',
    rpc(P.getExperimentPermission),
    async ({ fields: f, auth, ctx }) => {
      const res = await auth.getExperimentPermission(
        { experimentId: f.string('experiment_id'), username: f.string('username') },
        ctx,
      );
      return { experiment_permission: experimentPermissionJson(res.experimentPermission) };
    },
  ),
  route(
    ['PATCH'],
    'experiments/permissions/update',
    rpc(P.updateExperimentPermission),
    async ({ fields: f, auth, ctx }) => {
      await auth.updateExperimentPermission(
        {
          experimentId: f.string('experiment_id'),
          username: f.string('username'),
          permission: permissionOf(f),
        },
        ctx,
      );
      return {};
    },
  ),
  route(
    ['DELETE'],
    'experiments/permissions/delete',
    rpc(P.deleteExperimentPermission),
    async ({ fields: f, auth, ctx }) => {
      await auth.deleteExperimentPermission(
        { experimentId: f.string('experiment_id'), username: f.string('username') },
        ctx,
      );
      return {};
    },
  ),
  route(
    ['POST'],
    'registered-models/permissions/create',
    rpc(P.createRegisteredModelPermission),
    async ({ fields: f, auth, ctx }) => {
      const res = await auth.createRegisteredModelPermission(
        { name: f.string('name'), username: f.string('username'), permission: permissionOf(f) },
        ctx,
      );
      return { registered_model_permission: modelPermissionJson(res.registeredModelPermission) };
    },
  ),
  route(
    ['GET'],
    'registered-models/permissions/get',
    rpc(P.getRegisteredModelPermission),
    async ({ fields: f, auth, ctx }) => {
      const res = await auth.getRegisteredModelPermission(
        { name: f.string('name'), username: f.string('username') },
        ctx,
      );
      return { registered_model_permission: modelPermissionJson(res.registeredModelPermission) };
    },
  ),
  route(
    ['PATCH'],
    'registered-models/permissions/update',
    rpc(P.updateRegisteredModelPermission),
    async ({ fields: f, auth, ctx }) => {
      await auth.updateRegisteredModelPermission(
        { name: f.string('name'), username: f.string('username'), permission: permissionOf(f) },
        ctx,
      );
      return {};
    },
  ),
  route(
    ['DELETE'],
    'registered-models/permissions/delete',
    rpc(P.deleteRegisteredModelPermission),
    async ({ fields: f, auth, ctx }) => {
      await auth.deleteRegisteredModelPermission(
        { name: f.string('name'), username: f.string('username') },
        ctx,
      );
      return {};
    },
  ),
  // MLflow's users are Cairn users with the contributor role (MLflow users may create and edit).
  route(['POST'], 'users/create', rpc(P.createUser), async ({ fields: f, auth, ctx }) => {
    const res = await auth.createUser(
      {
        username: f.string('username'),
        password: f.string('password'),
        kind: gatewayAuthV1.PrincipalKind.PRINCIPAL_KIND_USER,
        displayName: '',
        roles: [gatewayAuthV1.Role.ROLE_CONTRIBUTOR],
      },
      ctx,
    );
    return { user: userJson(res.user) };
  }),
  route(['GET'], 'users/get', rpc(P.getUser), async ({ fields: f, auth, ctx }) => {
    const res = await auth.getUser({ username: f.string('username') }, ctx);
    return { user: userJson(res.user) };
  }),
  route(['PATCH'], 'users/update-password', rpc(P.setUserPassword), async ({ fields: f, auth, ctx }) => {
    await auth.setUserPassword({ username: f.string('username'), password: f.string('password') }, ctx);
    return {};
  }),
  // is_admin adds or removes the admin role and keeps the others.
  route(
    ['PATCH'],
    'users/update-admin',
    rpc(P.getUser, P.updateUserRoles),
    async ({ fields: f, auth, ctx }) => {
      const username = f.string('username');
      if (!f.has('is_admin')) throw missing('is_admin');
      const admin = f.bool('is_admin');
      const user = (await auth.getUser({ username }, ctx)).user;
      const others = (user?.roles ?? []).filter((r) => r !== gatewayAuthV1.Role.ROLE_ADMIN);
      const roles = admin
        ? [...others, gatewayAuthV1.Role.ROLE_ADMIN]
        : others.length > 0
          ? others
          : [gatewayAuthV1.Role.ROLE_CONTRIBUTOR];
      await auth.updateUserRoles({ username, roles }, ctx);
      return {};
    },
  ),
  route(['DELETE'], 'users/delete', rpc(P.deleteUser), async ({ fields: f, auth, ctx }) => {
    await auth.deleteUser({ username: f.string('username') }, ctx);
    return {};
  }),
];

function experimentPermissionJson(p: gatewayAuthV1.ExperimentPermission | undefined): Json {
  return p
    ? { experiment_id: p.experimentId, user_id: p.userId, permission: permissionName(p.permission) }
    : {};
}

function modelPermissionJson(p: gatewayAuthV1.RegisteredModelPermission | undefined): Json {
  return p ? { name: p.name, user_id: p.userId, permission: permissionName(p.permission) } : {};
}

/** A page of results: empty lists and an empty token are left out, as MLflow does. */
function compactPage(items: Json, nextPageToken: string): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(items)) if (!Array.isArray(v) || v.length > 0) out[k] = v;
  if (nextPageToken) out.next_page_token = nextPageToken;
  return out;
}
