import { randomBytes } from 'node:crypto';
import { credentials, Metadata } from '@grpc/grpc-js';
import { gatewayAuthV1 } from '@cairn/proto';
import { unaryApi, waitFor } from '@cairn/testing';
import { type PlatformUnderTest, startPlatform } from './platform';

/*
 * MLflow's REST API on the gateway's HTTP port, on the platform as a user starts it
 * (`npm start`), spoken exactly as MLflow's Python client speaks it (mlflow/utils/rest_utils.py:
 * GET with a query string, other methods with a JSON body, HTTP Basic from
 * MLFLOW_TRACKING_USERNAME/PASSWORD) and checked against MLflow's shapes, codes and statuses.
 */

jest.setTimeout(240_000);

const ADMIN_PASSWORD = 'mlflow-e2e-admin';
let started: PlatformUnderTest | undefined;
let base: string;

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', ADMIN_PASSWORD);
const CARL = basic('carl', 'carl-password-1');
const VERA = basic('vera', 'vera-password-1');

type Body = Record<string, unknown>;
interface Reply {
  status: number;
  json: Body;
  headers: Headers;
}

/** One MLflow REST call: GET and DELETE-less queries in the query string, the rest as JSON. */
async function mlflow(
  auth: string | undefined,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  endpoint: string,
  params: Body = {},
  prefix = '/api/2.0/mlflow',
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = auth;
  let url = `${base}${prefix}/${endpoint}`;
  let body: string | undefined;
  if (method === 'GET') {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item));
    }
    url += `?${q.toString()}`;
  } else {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(params);
  }
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Body) : {}, headers: res.headers };
}

interface KV {
  key: string;
  value: string;
}
interface MetricJson {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}
interface RunJson {
  info: { run_id: string; run_name: string; status: string } & Body;
  data: { metrics?: MetricJson[]; params?: KV[]; tags?: KV[] };
}
interface VersionJson extends Body {
  name: string;
  version: string;
  status: string;
  current_stage: string;
}
/** The MLflow responses this test reads, by the fields it reads. */
interface Shapes extends Body {
  experiment_id: string;
  experiment: Body;
  experiments: Array<{ name: string }>;
  run: RunJson;
  runs: RunJson[];
  run_info: Body;
  next_page_token?: string;
  metrics: MetricJson[];
  root_uri: string;
  files: Body[];
  registered_model: Body & { aliases?: Body[] };
  registered_models: Array<{ name: string }>;
  model_version: VersionJson;
  model_versions: VersionJson[];
  artifact_uri: string;
  experiment_permission: Body & { permission: string };
  user: Body;
}

async function ok(
  auth: string,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  endpoint: string,
  params: Body = {},
): Promise<Shapes> {
  const r = await mlflow(auth, method, endpoint, params);
  if (r.status !== 200) throw new Error(`${method} ${endpoint}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as Shapes;
}

const artifactsUrl = (p: string) => `${base}/api/2.0/mlflow-artifacts/artifacts/${p}`;

beforeAll(async () => {
  started = await startPlatform('mlflow-e2e', { CAIRN_ADMIN_PASSWORD: ADMIN_PASSWORD });
  base = started.gatewayUrl;
  // carl through MLflow's own users endpoint (MLflow users may create and edit); vera, a viewer, over gRPC.
  await ok(ADMIN, 'POST', 'users/create', { username: 'carl', password: 'carl-password-1' });
  const client = new gatewayAuthV1.AuthServiceClient(started.gatewayAddress, credentials.createInsecure());
  const md = () => {
    const m = new Metadata();
    m.set('authorization', ADMIN);
    return m;
  };
  const auth = unaryApi<gatewayAuthV1.AuthServiceServer>(
    client,
    gatewayAuthV1.AuthServiceService,
    gatewayAuthV1,
    md,
  );
  await auth.createUser({
    username: 'vera',
    password: 'vera-password-1',
    roles: [gatewayAuthV1.Role.ROLE_VIEWER],
  });
  client.close();
});

afterAll(async () => {
  await started?.stop();
});

describe('the MLflow REST API on the gateway (npm start)', () => {
  it('refuses a call without credentials with 401 UNAUTHENTICATED and a Basic challenge, and unknown endpoints with 404', async () => {
    const r = await mlflow(undefined, 'GET', 'experiments/get', { experiment_id: '0' });
    expect(r.status).toBe(401);
    expect(r.json.error_code).toBe('UNAUTHENTICATED');
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="mlflow"');
    const wrong = await mlflow(basic('carl', 'not-his-password'), 'GET', 'experiments/get', {
      experiment_id: '0',
    });
    expect([wrong.status, wrong.json.error_code]).toEqual([401, 'UNAUTHENTICATED']);
    const missing = await mlflow(ADMIN, 'GET', 'experiments/no-such-thing');
    expect([missing.status, missing.json.error_code]).toEqual([404, 'ENDPOINT_NOT_FOUND']);
    // MLflow's unauthenticated liveness and version endpoints.
    const health = await fetch(`${base}/health`);
    expect([health.status, await health.text()]).toEqual([200, 'OK']);
    expect((await fetch(`${base}/version`)).status).toBe(200);
    // The UI's prefix serves the same API.
    const ajax = await mlflow(
      ADMIN,
      'GET',
      'experiments/get',
      { experiment_id: '0' },
      '/ajax-api/2.0/mlflow',
    );
    expect(ajax.status).toBe(200);
    expect(ajax.json.experiment).toMatchObject({
      experiment_id: '0',
      name: 'Default',
      lifecycle_stage: 'active',
    });
  });

  it("tracks an experiment and runs in MLflow's shapes: log-batch, get-history, search with filters", async () => {
    const created = await ok(CARL, 'POST', 'experiments/create', {
      name: 'mlflow-rest-e2e',
      tags: [{ key: 'team', value: 'fraud' }],
    });
    const experimentId = created.experiment_id;
    expect(typeof experimentId).toBe('string');
    const byName = await ok(CARL, 'GET', 'experiments/get-by-name', { experiment_name: 'mlflow-rest-e2e' });
    expect(byName.experiment).toEqual({
      experiment_id: experimentId,
      name: 'mlflow-rest-e2e',
      artifact_location: `mlflow-artifacts:/${experimentId}`,
      lifecycle_stage: 'active',
      creation_time: expect.any(Number),
      last_update_time: expect.any(Number),
      tags: [{ key: 'team', value: 'fraud' }],
    });
    const duplicate = await mlflow(CARL, 'POST', 'experiments/create', { name: 'mlflow-rest-e2e' });
    expect([duplicate.status, duplicate.json.error_code]).toEqual([400, 'RESOURCE_ALREADY_EXISTS']);

    const start = Date.now();
    const run = (
      await ok(CARL, 'POST', 'runs/create', {
        experiment_id: experimentId,
        start_time: start,
        run_name: 'sgd-1',
        tags: [{ key: 'mlflow.source.type', value: 'LOCAL' }],
      })
    ).run;
    const runId = run.info.run_id;
    expect(run.info).toEqual({
      run_id: runId,
      run_uuid: runId,
      run_name: 'sgd-1',
      experiment_id: experimentId,
      user_id: 'carl',
      status: 'RUNNING',
      start_time: start,
      artifact_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`,
      lifecycle_stage: 'active',
    });
    expect(run.data.tags).toEqual(
      expect.arrayContaining([
        { key: 'mlflow.runName', value: 'sgd-1' },
        { key: 'mlflow.source.type', value: 'LOCAL' },
      ]),
    );

    // run_uuid is accepted for run_id, as MLflow's older clients send it.
    expect(
      await ok(CARL, 'POST', 'runs/log-parameter', { run_uuid: runId, key: 'lr', value: '0.01' }),
    ).toEqual({});
    await ok(CARL, 'POST', 'runs/log-metric', {
      run_id: runId,
      key: 'acc',
      value: 0.5,
      timestamp: start,
      step: 0,
    });
    await ok(CARL, 'POST', 'runs/log-batch', {
      run_id: runId,
      metrics: [1, 2, 3].map((step) => ({
        key: 'acc',
        value: 0.5 + step / 10,
        timestamp: start + step,
        step,
      })),
      params: [{ key: 'epochs', value: '3' }],
      tags: [{ key: 'stage', value: 'dev' }],
    });
    const changed = await mlflow(CARL, 'POST', 'runs/log-parameter', {
      run_id: runId,
      key: 'lr',
      value: '0.1',
    });
    expect([changed.status, changed.json.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    const tooMany = await mlflow(CARL, 'POST', 'runs/log-batch', {
      run_id: runId,
      metrics: Array.from({ length: 1001 }, (_, i) => ({ key: 'm', value: i, timestamp: start, step: i })),
    });
    expect([tooMany.status, tooMany.json.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    const missingKey = await mlflow(CARL, 'POST', 'runs/log-metric', {
      run_id: runId,
      value: 1,
      timestamp: start,
    });
    expect(missingKey.status).toBe(400);
    expect(missingKey.json.message).toBe(
      "Missing value for required parameter 'key'. See the API docs for more information about request parameters.",
    );

    const history = await ok(CARL, 'GET', 'metrics/get-history', { run_id: runId, metric_key: 'acc' });
    expect(history.metrics.map((m) => [m.step, m.value])).toEqual([
      [0, 0.5],
      [1, 0.6],
      [2, 0.7],
      [3, 0.8],
    ]);
    expect(history.metrics[3]).toEqual({ key: 'acc', value: 0.8, timestamp: start + 3, step: 3 });

    const other = (await ok(CARL, 'POST', 'runs/create', { experiment_id: experimentId, run_name: 'sgd-2' }))
      .run;
    await ok(CARL, 'POST', 'runs/log-batch', {
      run_id: other.info.run_id,
      metrics: [{ key: 'acc', value: 0.3, timestamp: start, step: 0 }],
      params: [{ key: 'lr', value: '0.1' }],
    });
    const found = await ok(CARL, 'POST', 'runs/search', {
      experiment_ids: [experimentId],
      filter: "metrics.acc > 0.5 and params.lr = '0.01' and tags.stage = 'dev'",
      max_results: 10,
    });
    expect(found.runs.map((r) => r.info.run_id)).toEqual([runId]);
    expect(found.runs[0].data.metrics).toEqual([{ key: 'acc', value: 0.8, timestamp: start + 3, step: 3 }]);
    expect(found.next_page_token).toBeUndefined();
    const ordered = await ok(CARL, 'POST', 'runs/search', {
      experiment_ids: [experimentId],
      order_by: ['metrics.acc ASC'],
    });
    expect(ordered.runs.map((r) => r.info.run_name)).toEqual(['sgd-2', 'sgd-1']);
    const paged = await ok(CARL, 'POST', 'runs/search', { experiment_ids: [experimentId], max_results: 1 });
    expect(paged.runs).toHaveLength(1);
    expect(typeof paged.next_page_token).toBe('string');
    const bad = await mlflow(CARL, 'POST', 'runs/search', {
      experiment_ids: [experimentId],
      filter: 'metrics.acc >>> 1',
    });
    expect([bad.status, bad.json.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    const experiments = await ok(CARL, 'GET', 'experiments/search', { filter: "name LIKE 'mlflow-rest%'" });
    expect(experiments.experiments.map((e) => e.name)).toEqual(['mlflow-rest-e2e']);

    const end = Date.now();
    const updated = await ok(CARL, 'POST', 'runs/update', {
      run_id: runId,
      status: 'FINISHED',
      end_time: end,
    });
    expect(updated.run_info).toMatchObject({ run_id: runId, status: 'FINISHED', end_time: end });
    const got = await ok(CARL, 'GET', 'runs/get', { run_id: runId });
    expect(got.run.data.params).toEqual(
      expect.arrayContaining([
        { key: 'lr', value: '0.01' },
        { key: 'epochs', value: '3' },
      ]),
    );
  });

  it('uploads and downloads artifacts through the mlflow-artifacts proxy, confined to the run', async () => {
    const experimentId = (await ok(CARL, 'POST', 'experiments/create', { name: 'mlflow-artifacts-e2e' }))
      .experiment_id;
    const runId = (await ok(CARL, 'POST', 'runs/create', { experiment_id: experimentId })).run.info.run_id;
    const root = `${experimentId}/${runId}/artifacts`;
    const bytes = randomBytes(600 * 1024 + 17); // several upload and download chunks
    const put = await fetch(artifactsUrl(`${root}/model/model.pkl`), {
      method: 'PUT',
      headers: { authorization: CARL, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({});
    // A JSON file is stored as its bytes, not parsed.
    const mlmodel = Buffer.from('{"flavors": {"python_function": {}}}\n');
    const putJson = await fetch(artifactsUrl(`${root}/model/MLmodel`), {
      method: 'PUT',
      headers: { authorization: CARL, 'content-type': 'application/json' },
      body: mlmodel,
    });
    expect(putJson.status).toBe(200);

    const down = await fetch(artifactsUrl(`${root}/model/model.pkl`), { headers: { authorization: CARL } });
    expect(down.status).toBe(200);
    expect(down.headers.get('content-length')).toBe(String(bytes.length));
    expect(Buffer.from(await down.arrayBuffer()).equals(bytes)).toBe(true);

    const listed = await fetch(
      `${base}/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(`${root}/model`)}`,
      {
        headers: { authorization: CARL },
      },
    );
    expect(await listed.json()).toEqual({
      files: expect.arrayContaining([
        { path: 'model.pkl', is_dir: false, file_size: bytes.length },
        { path: 'MLmodel', is_dir: false, file_size: mlmodel.length },
      ]),
    });
    const runList = await ok(CARL, 'GET', 'artifacts/list', { run_id: runId, path: 'model' });
    expect(runList.root_uri).toBe(`mlflow-artifacts:/${root}`);
    expect(runList.files).toEqual(
      expect.arrayContaining([{ path: 'model/model.pkl', is_dir: false, file_size: bytes.length }]),
    );

    for (const hostile of [
      'model/../../../x',
      'model/%2e%2e/%2e%2e/x',
      'model/%252e%252e%252fx',
      'model/..%5c..%5cx',
    ]) {
      const r = await fetch(artifactsUrl(`${root}/${hostile}`), {
        method: 'PUT',
        headers: { authorization: CARL },
        body: 'x',
      });
      expect({ hostile, status: r.status }).toEqual({ hostile, status: 400 });
    }
    // The run must be in the experiment the path names.
    const elsewhere = await fetch(artifactsUrl(`0/${runId}/artifacts/model/model.pkl`), {
      headers: { authorization: CARL },
    });
    expect(elsewhere.status).toBe(404);
    // A viewer reads but cannot write; deleting needs MANAGE (carl created the experiment).
    const viewerGet = await fetch(artifactsUrl(`${root}/model/MLmodel`), {
      headers: { authorization: VERA },
    });
    expect(viewerGet.status).toBe(200);
    const viewerPut = await fetch(artifactsUrl(`${root}/model/evil`), {
      method: 'PUT',
      headers: { authorization: VERA },
      body: 'x',
    });
    expect(viewerPut.status).toBe(403);
    expect((await viewerPut.json()) as Body).toMatchObject({ error_code: 'PERMISSION_DENIED' });
    const del = await fetch(artifactsUrl(`${root}/model/MLmodel`), {
      method: 'DELETE',
      headers: { authorization: CARL },
    });
    expect(del.status).toBe(200);
    const gone = await fetch(artifactsUrl(`${root}/model/MLmodel`), { headers: { authorization: CARL } });
    expect(gone.status).toBe(404);
  });

  it('registers versions, transitions with archive_existing_versions, and sets aliases', async () => {
    const experimentId = (await ok(CARL, 'POST', 'experiments/create', { name: 'mlflow-registry-e2e' }))
      .experiment_id;
    const runId = (await ok(CARL, 'POST', 'runs/create', { experiment_id: experimentId })).run.info.run_id;
    const put = await fetch(artifactsUrl(`${experimentId}/${runId}/artifacts/model/model.pkl`), {
      method: 'PUT',
      headers: { authorization: CARL },
      body: Buffer.from('weights'),
    });
    expect(put.status).toBe(200);

    const model = await ok(CARL, 'POST', 'registered-models/create', {
      name: 'fraud-rest',
      description: 'd',
    });
    expect(model.registered_model).toEqual({
      name: 'fraud-rest',
      creation_timestamp: expect.any(Number),
      last_updated_timestamp: expect.any(Number),
      user_id: 'carl',
      description: 'd',
    });
    // As MLflow's client registers a runs:/ URI: the run's resolved artifact URI, while the run is running.
    const source = `mlflow-artifacts:/${experimentId}/${runId}/artifacts/model`;
    const versions: string[] = [];
    for (let i = 0; i < 2; i++) {
      // The registry learns of the run from its RunStarted event, a moment after it started.
      const created = await waitFor('the registry to know the run', async () => {
        const r = await mlflow(CARL, 'POST', 'model-versions/create', {
          name: 'fraud-rest',
          source,
          run_id: runId,
        });
        return r.status === 200 ? r.json : undefined;
      });
      const mv = (created as Shapes).model_version;
      expect(mv).toMatchObject({ name: 'fraud-rest', run_id: runId, current_stage: 'None', user_id: 'carl' });
      versions.push(mv.version);
    }
    expect(versions).toEqual(['1', '2']);
    for (const version of versions) {
      await waitFor(`version ${version} to be READY`, async () => {
        const r = await ok(CARL, 'GET', 'model-versions/get', { name: 'fraud-rest', version });
        return r.model_version.status === 'READY' ? true : undefined;
      });
    }

    const staged = await ok(CARL, 'POST', 'model-versions/transition-stage', {
      name: 'fraud-rest',
      version: '1',
      stage: 'staging',
      archive_existing_versions: false,
    });
    expect(staged.model_version).toMatchObject({ version: '1', current_stage: 'Staging' });
    const second = await ok(CARL, 'POST', 'model-versions/transition-stage', {
      name: 'fraud-rest',
      version: '2',
      stage: 'Staging',
      archive_existing_versions: true,
    });
    expect(second.model_version).toMatchObject({ version: '2', current_stage: 'Staging' });
    const first = await ok(CARL, 'GET', 'model-versions/get', { name: 'fraud-rest', version: '1' });
    expect(first.model_version.current_stage).toBe('Archived');
    const latest = await ok(CARL, 'POST', 'registered-models/get-latest-versions', {
      name: 'fraud-rest',
      stages: ['Staging'],
    });
    expect(latest.model_versions.map((v) => v.version)).toEqual(['2']);
    const badStage = await mlflow(CARL, 'POST', 'model-versions/transition-stage', {
      name: 'fraud-rest',
      version: '2',
      stage: 'Prod',
      archive_existing_versions: false,
    });
    expect([badStage.status, badStage.json.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    // Production is protected by default: it takes a transition request and an approver.
    const prod = await mlflow(CARL, 'POST', 'model-versions/transition-stage', {
      name: 'fraud-rest',
      version: '2',
      stage: 'Production',
      archive_existing_versions: true,
    });
    expect(prod.status).toBe(400);
    expect(prod.headers.get('x-cairn-reason')).toBe('TRANSITION_REQUIRES_APPROVAL');

    expect(
      await ok(CARL, 'POST', 'registered-models/alias', {
        name: 'fraud-rest',
        alias: 'champion',
        version: '2',
      }),
    ).toEqual({});
    const byAlias = await ok(CARL, 'GET', 'registered-models/alias', {
      name: 'fraud-rest',
      alias: 'champion',
    });
    expect(byAlias.model_version).toMatchObject({ version: '2', aliases: ['champion'] });
    const reserved = await mlflow(CARL, 'POST', 'registered-models/alias', {
      name: 'fraud-rest',
      alias: 'latest',
      version: '2',
    });
    expect([reserved.status, reserved.json.error_code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    const got = await ok(CARL, 'GET', 'registered-models/get', { name: 'fraud-rest' });
    expect(got.registered_model.aliases).toEqual([{ alias: 'champion', version: '2' }]);
    const searched = await ok(CARL, 'GET', 'model-versions/search', { filter: "name = 'fraud-rest'" });
    expect(searched.model_versions.map((v) => v.version).sort()).toEqual(['1', '2']);
    const models = await ok(CARL, 'GET', 'registered-models/search', { filter: "name LIKE 'fraud-%'" });
    expect(models.registered_models.map((m) => m.name)).toEqual(['fraud-rest']);

    // The download URI leads back through the artifacts proxy to the version's files.
    const uri = (
      await ok(CARL, 'GET', 'model-versions/get-download-uri', { name: 'fraud-rest', version: '2' })
    ).artifact_uri;
    expect(uri).toBe(`mlflow-artifacts:/${experimentId}/${runId}/artifacts/model`);
    const weights = await fetch(artifactsUrl(`${uri.slice('mlflow-artifacts:/'.length)}/model.pkl`), {
      headers: { authorization: CARL },
    });
    expect(await weights.text()).toBe('weights');

    await ok(CARL, 'DELETE', 'registered-models/alias', { name: 'fraud-rest', alias: 'champion' });
    const noAlias = await mlflow(CARL, 'GET', 'registered-models/alias', {
      name: 'fraud-rest',
      alias: 'champion',
    });
    expect([noAlias.status, noAlias.json.error_code]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
  });

  it("lets a viewer read but not write (403), and MLflow's permission endpoints take access away", async () => {
    const experimentId = (await ok(CARL, 'POST', 'experiments/create', { name: 'mlflow-permissions-e2e' }))
      .experiment_id;
    const runId = (await ok(CARL, 'POST', 'runs/create', { experiment_id: experimentId })).run.info.run_id;
    expect((await ok(VERA, 'GET', 'runs/get', { run_id: runId })).run.info.run_id).toBe(runId);
    const write = await mlflow(VERA, 'POST', 'runs/log-metric', {
      run_id: runId,
      key: 'x',
      value: 1,
      timestamp: 1,
    });
    expect([write.status, write.json.error_code]).toEqual([403, 'PERMISSION_DENIED']);
    const create = await mlflow(VERA, 'POST', 'experiments/create', { name: 'vera-was-here' });
    expect([create.status, create.json.error_code]).toEqual([403, 'PERMISSION_DENIED']);

    // carl created the experiment, so he MANAGEs it and may set others' permissions on it.
    const granted = await ok(CARL, 'POST', 'experiments/permissions/create', {
      experiment_id: experimentId,
      username: 'vera',
      permission: 'NO_PERMISSIONS',
    });
    expect(granted.experiment_permission).toMatchObject({
      experiment_id: experimentId,
      permission: 'NO_PERMISSIONS',
    });
    const hidden = await mlflow(VERA, 'GET', 'runs/get', { run_id: runId });
    expect([hidden.status, hidden.json.error_code]).toEqual([403, 'PERMISSION_DENIED']);
    const read = await ok(CARL, 'GET', 'experiments/permissions/get', {
      experiment_id: experimentId,
      username: 'vera',
    });
    expect(read.experiment_permission.permission).toBe('NO_PERMISSIONS');
    await ok(CARL, 'PATCH', 'experiments/permissions/update', {
      experiment_id: experimentId,
      username: 'vera',
      permission: 'READ',
    });
    expect((await mlflow(VERA, 'GET', 'runs/get', { run_id: runId })).status).toBe(200);
    // A contributor is no admin: users are an admin's.
    const notAdmin = await mlflow(CARL, 'POST', 'users/create', {
      username: 'mallory',
      password: 'mallory-password',
    });
    expect([notAdmin.status, notAdmin.json.error_code]).toEqual([403, 'PERMISSION_DENIED']);
    const user = await ok(ADMIN, 'GET', 'users/get', { username: 'vera' });
    expect(user.user).toMatchObject({ username: 'vera', is_admin: false });
  });
});
