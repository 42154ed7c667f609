import { gatewayAuthV1 } from '@cairn/proto';
import { ACCESS_RULES } from '../proxy/access-rules';
import { MLFLOW_ARTIFACT_ROUTES, parseProxiedPath } from './mlflow-artifacts';
import { MLFLOW_ROUTES, registrySourceOf } from './mlflow-routes';

/** AuthService authorizes each of its methods itself (auth.grpc.ts), before anything else. */
const AUTH_SERVICE_PATHS = new Set(
  Object.values(gatewayAuthV1.AuthServiceService).map((m: { path: string }) => m.path),
);

/** MLflow's REST endpoints (ANCHORS.md, mlflow/protos/service.proto and model_registry.proto). */
const MLFLOW_ENDPOINTS: Array<[string, string]> = [
  ['POST', 'experiments/create'],
  ['GET', 'experiments/get'],
  ['GET', 'experiments/get-by-name'],
  ['GET', 'experiments/search'],
  ['POST', 'experiments/search'],
  ['POST', 'experiments/delete'],
  ['POST', 'experiments/restore'],
  ['POST', 'experiments/update'],
  ['POST', 'experiments/set-experiment-tag'],
  ['POST', 'experiments/delete-experiment-tag'],
  ['POST', 'runs/create'],
  ['GET', 'runs/get'],
  ['POST', 'runs/update'],
  ['POST', 'runs/delete'],
  ['POST', 'runs/restore'],
  ['POST', 'runs/log-metric'],
  ['POST', 'runs/log-parameter'],
  ['POST', 'runs/set-tag'],
  ['POST', 'runs/delete-tag'],
  ['POST', 'runs/log-batch'],
  ['POST', 'runs/log-inputs'],
  ['POST', 'runs/log-model'],
  ['POST', 'runs/search'],
  ['GET', 'metrics/get-history'],
  ['GET', 'artifacts/list'],
  ['POST', 'registered-models/create'],
  ['POST', 'registered-models/rename'],
  ['PATCH', 'registered-models/update'],
  ['DELETE', 'registered-models/delete'],
  ['GET', 'registered-models/get'],
  ['GET', 'registered-models/search'],
  ['POST', 'registered-models/get-latest-versions'],
  ['GET', 'registered-models/get-latest-versions'],
  ['POST', 'registered-models/set-tag'],
  ['DELETE', 'registered-models/delete-tag'],
  ['POST', 'registered-models/alias'],
  ['DELETE', 'registered-models/alias'],
  ['GET', 'registered-models/alias'],
  ['POST', 'model-versions/create'],
  ['PATCH', 'model-versions/update'],
  ['POST', 'model-versions/transition-stage'],
  ['DELETE', 'model-versions/delete'],
  ['GET', 'model-versions/get'],
  ['GET', 'model-versions/search'],
  ['GET', 'model-versions/get-download-uri'],
  ['POST', 'model-versions/set-tag'],
  ['DELETE', 'model-versions/delete-tag'],
  // MLflow's basic-auth app
  ['POST', 'experiments/permissions/create'],
  ['GET', 'experiments/permissions/get'],
  ['PATCH', 'experiments/permissions/update'],
  ['DELETE', 'experiments/permissions/delete'],
  ['POST', 'registered-models/permissions/create'],
  ['GET', 'registered-models/permissions/get'],
  ['PATCH', 'registered-models/permissions/update'],
  ['DELETE', 'registered-models/permissions/delete'],
  ['POST', 'users/create'],
  ['GET', 'users/get'],
  ['PATCH', 'users/update-password'],
  ['PATCH', 'users/update-admin'],
  ['DELETE', 'users/delete'],
];

const served = MLFLOW_ROUTES.flatMap((r) => r.methods.map((m) => `${m} ${r.path}`));

describe('MLflow REST routes', () => {
  it("serve every one of MLflow's endpoints with its method, and nothing twice", () => {
    for (const [method, path] of MLFLOW_ENDPOINTS) expect(served).toContain(`${method} ${path}`);
    expect(new Set(served).size).toBe(served.length);
    expect(served).toHaveLength(MLFLOW_ENDPOINTS.length);
  });

  it('each name the RPCs they make, and every one of those has an explicit access rule', () => {
    const routes = [...MLFLOW_ROUTES, ...MLFLOW_ARTIFACT_ROUTES];
    for (const route of routes) {
      expect(route.rpcs.length).toBeGreaterThan(0);
      for (const path of route.rpcs) {
        const governed = ACCESS_RULES.has(path) || AUTH_SERVICE_PATHS.has(path);
        if (!governed)
          throw new Error(`${route.methods.join('|')} ${route.path}: ${path} has no access rule`);
      }
    }
  });

  it('delete artifacts only with MANAGE on the experiment (CVE-2024-4263), upload with EDIT', () => {
    const ruleOf = (path: string) => ACCESS_RULES.get(path)?.action;
    expect(ruleOf('/cairn.tracking.v1.ArtifactService/DeleteArtifact')).toBe('manage');
    expect(ruleOf('/cairn.tracking.v1.ArtifactService/UploadArtifact')).toBe('edit');
    expect(ruleOf('/cairn.tracking.v1.ArtifactService/DownloadArtifact')).toBe('read');
  });
});

describe('registrySourceOf', () => {
  it("registers a run's proxied artifacts through the run", () => {
    expect(registrySourceOf('mlflow-artifacts:/3/abc/artifacts/model', 'abc')).toEqual({
      source: 'runs:/abc/model',
      runId: 'abc',
    });
    expect(registrySourceOf('mlflow-artifacts:/3/abc/artifacts/model', '')).toEqual({
      source: 'runs:/abc/model',
      runId: 'abc',
    });
  });

  it('leaves other sources, and a run id that disagrees with the path, to the registry to judge', () => {
    expect(registrySourceOf('mlflow-artifacts:/3/abc/artifacts/model', 'other')).toEqual({
      source: 'mlflow-artifacts:/3/abc/artifacts/model',
      runId: 'other',
    });
    expect(registrySourceOf('s3://bucket/x', '')).toEqual({ source: 's3://bucket/x', runId: '' });
    expect(registrySourceOf('runs:/abc/model', 'abc')).toEqual({ source: 'runs:/abc/model', runId: 'abc' });
  });
});

describe('parseProxiedPath', () => {
  it("splits <experiment>/<run>/artifacts/<path> and refuses what is not under a run's artifacts", () => {
    expect(parseProxiedPath('1/r1/artifacts/model/MLmodel')).toEqual({
      experimentId: '1',
      runId: 'r1',
      path: 'model/MLmodel',
    });
    expect(parseProxiedPath('1/r1/artifacts')).toEqual({ experimentId: '1', runId: 'r1', path: '' });
    expect(parseProxiedPath('1/r1/artifacts/dir/')).toEqual({ experimentId: '1', runId: 'r1', path: 'dir' });
    expect(parseProxiedPath('1/r1')).toBeUndefined();
    expect(parseProxiedPath('1/r1/other/x')).toBeUndefined();
    expect(parseProxiedPath('')).toBeUndefined();
  });
});
