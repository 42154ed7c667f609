import { credentials, Metadata, status } from '@grpc/grpc-js';
import { gatewayAuthV1, gatewayEventsV1, registryV1, trackingV1 } from '@cairn/proto';
import { grpcFailure as failure, unaryApi, waitFor } from '@cairn/testing';
import { type PlatformUnderTest, startPlatform } from './platform';

/*
 * The gateway in front of the services, on the platform as a user starts it (`npm start`):
 * calls are authenticated at the gateway (HTTP Basic here, with the admin password given to
 * the first start), authorized by each RPC's rule, and reach tracking and the registry with a
 * gateway-signed identity token, which is how the registry knows who requested and approved.
 */

jest.setTimeout(240_000);

const ADMIN_PASSWORD = 'gateway-e2e-admin';
let started: PlatformUnderTest | undefined;
const clients: Array<{ close(): void }> = [];
const gatewayAddress = () => started!.gatewayAddress;

function as(authorization?: string) {
  const address = gatewayAddress();
  const creds = credentials.createInsecure();
  const md = () => {
    const m = new Metadata();
    if (authorization) m.set('authorization', authorization);
    return m;
  };
  const experiments = new trackingV1.ExperimentServiceClient(address, creds);
  const runs = new trackingV1.RunServiceClient(address, creds);
  const artifacts = new trackingV1.ArtifactServiceClient(address, creds);
  const models = new registryV1.ModelRegistryServiceClient(address, creds);
  const governance = new registryV1.GovernanceServiceClient(address, creds);
  const audit = new registryV1.AuditServiceClient(address, creds);
  const auth = new gatewayAuthV1.AuthServiceClient(address, creds);
  clients.push(experiments, runs, artifacts, models, governance, audit, auth);
  return {
    runsClient: runs,
    artifactsClient: artifacts,
    metadata: md,
    experiments: unaryApi<trackingV1.ExperimentServiceServer>(
      experiments,
      trackingV1.ExperimentServiceService,
      trackingV1,
      md,
    ),
    runs: unaryApi<trackingV1.RunServiceServer>(runs, trackingV1.RunServiceService, trackingV1, md),
    models: unaryApi<registryV1.ModelRegistryServiceServer>(
      models,
      registryV1.ModelRegistryServiceService,
      registryV1,
      md,
    ),
    governance: unaryApi<registryV1.GovernanceServiceServer>(
      governance,
      registryV1.GovernanceServiceService,
      registryV1,
      md,
    ),
    audit: unaryApi<registryV1.AuditServiceServer>(audit, registryV1.AuditServiceService, registryV1, md),
    auth: unaryApi<gatewayAuthV1.AuthServiceServer>(
      auth,
      gatewayAuthV1.AuthServiceService,
      gatewayAuthV1,
      md,
    ),
  };
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

type Api = ReturnType<typeof as>;
let admin: Api;
let anonymous: Api;
let viewer: Api;
let cora: Api;
let abe: Api;

beforeAll(async () => {
  started = await startPlatform('gateway-e2e', { CAIRN_ADMIN_PASSWORD: ADMIN_PASSWORD });
  admin = as(basic('admin', ADMIN_PASSWORD));
  anonymous = as();
  const users: Array<[string, gatewayAuthV1.Role]> = [
    ['vic', gatewayAuthV1.Role.ROLE_VIEWER],
    ['cora', gatewayAuthV1.Role.ROLE_CONTRIBUTOR],
    ['abe', gatewayAuthV1.Role.ROLE_APPROVER],
  ];
  for (const [name, role] of users) {
    await admin.auth.createUser({ username: name, password: `${name}-password`, roles: [role] });
  }
  viewer = as(basic('vic', 'vic-password'));
  cora = as(basic('cora', 'cora-password'));
  abe = as(basic('abe', 'abe-password'));
});

afterAll(async () => {
  for (const c of clients) c.close();
  await started?.stop();
});

describe('the gateway in front of tracking and the registry', () => {
  let experimentId: string;
  let runId: string;

  it('refuses a call without credentials, and one with wrong credentials', async () => {
    expect(await failure(anonymous.experiments.createExperiment({ name: 'x' }))).toMatchObject({
      code: status.UNAUTHENTICATED,
      reason: 'CREDENTIALS_REQUIRED',
    });
    expect(
      await failure(as(basic('cora', 'wrong')).experiments.getExperiment({ experimentId: '0' })),
    ).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'CREDENTIALS_INVALID' });
  });

  it('lets a contributor create and write, a viewer read but not write, with the services’ own errors passed through', async () => {
    ({ experimentId } = await cora.experiments.createExperiment({ name: 'churn' }));
    // Whoever the client claims to be, the run is the authenticated caller's.
    const { run } = await cora.runs.createRun({ experimentId, runName: 'first', userId: 'mallory' });
    runId = run!.info!.runId;
    expect(run!.info!.userId).toBe('cora');
    await cora.runs.logBatch({
      runId,
      metrics: [{ key: 'auc', value: 0.91, timestamp: 1, step: 0 }],
      params: [{ key: 'depth', value: '6' }],
    });

    const read = await viewer.runs.getRun({ runId });
    expect(read.run!.data!.params).toEqual([{ key: 'depth', value: '6' }]);
    expect(await failure(viewer.runs.logParam({ runId, key: 'x', value: 'y' }))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    expect(await failure(viewer.experiments.createExperiment({ name: 'mine' }))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    // The service's NOT_FOUND and reason reach the caller unchanged.
    expect(await failure(cora.experiments.getExperiment({ experimentId: '987654' }))).toMatchObject({
      code: status.NOT_FOUND,
      reason: 'EXPERIMENT_NOT_FOUND',
    });
  });

  it('streams metrics through the gateway, with the run checked on the first message', async () => {
    const res = await new Promise<trackingV1.StreamMetricsResponse>((resolve, reject) => {
      const stream = cora.runsClient.streamMetrics(cora.metadata(), (err, r) =>
        err ? reject(err) : resolve(r),
      );
      for (let i = 0; i < 5; i++) {
        stream.write({
          runId,
          metrics: Array.from({ length: 100 }, (_, j) => ({
            key: 'loss',
            value: 1 / (j + 1),
            timestamp: 2,
            step: i * 100 + j,
          })),
        });
      }
      stream.end();
    });
    expect(res.pointsLogged).toBe(500);
    const history = await viewer.runs.getMetricHistory({ runId, metricKey: 'loss' });
    expect(history.metrics).toHaveLength(500);

    const refused = await new Promise<{ code?: number }>((resolve) => {
      const stream = viewer.runsClient.streamMetrics(viewer.metadata(), (err) => resolve(err ?? {}));
      stream.write({ runId, metrics: [{ key: 'loss', value: 0, timestamp: 3, step: 9999 }] });
      stream.end();
    });
    expect(refused.code).toBe(status.PERMISSION_DENIED);
  });

  it('uploads an artifact through the gateway (a client stream whose header names the run)', async () => {
    const upload = (api: Api, file: string, body: string) =>
      new Promise<trackingV1.UploadArtifactResponse>((resolve, reject) => {
        const stream = api.artifactsClient.uploadArtifact(api.metadata(), (err, r) =>
          err ? reject(err) : resolve(r),
        );
        stream.write({ part: { $case: 'header', value: { runId, path: file } } });
        stream.write({ part: { $case: 'chunk', value: Buffer.from(body) } });
        stream.end();
      });
    const mlmodel = 'flavors:\n  sklearn: {}\n';
    expect((await upload(cora, 'model/MLmodel', mlmodel)).size).toBe(Buffer.byteLength(mlmodel));
    await upload(cora, 'model/model.pkl', 'weights');
    expect(await failure(upload(viewer, 'model/evil.pkl', 'x'))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
  });

  it('keeps approval for approvers: a contributor cannot approve, an approver promotes', async () => {
    await cora.runs.updateRun({
      runId,
      status: trackingV1.RunStatus.RUN_STATUS_FINISHED,
      endTime: Date.now(),
    });
    await cora.models.createRegisteredModel({ name: 'churn-model' });
    // The registry learns of the run from RunFinished (through the event bus) before runs:/ resolves.
    const created = await waitFor(
      'the registry to know the run',
      () =>
        cora.models
          .createModelVersion({ name: 'churn-model', source: `runs:/${runId}/model`, runId })
          .catch(() => undefined),
      30_000,
      100,
    );
    const version = created.modelVersion!.version;
    await waitFor(
      'the version to be READY',
      async () => {
        const { modelVersion } = await viewer.models.getModelVersion({ name: 'churn-model', version });
        return modelVersion!.status === registryV1.ModelVersionStatus.MODEL_VERSION_STATUS_READY
          ? true
          : undefined;
      },
      30_000,
      100,
    );
    const { request } = await cora.governance.requestTransition({
      name: 'churn-model',
      version,
      to: { target: { $case: 'stage', value: registryV1.Stage.STAGE_PRODUCTION } },
    });
    // The registry sees the caller the gateway authenticated.
    expect(request!.requestedBy).toBe('user:cora');
    expect(await failure(cora.governance.approveTransition({ requestId: request!.requestId }))).toMatchObject(
      {
        code: status.PERMISSION_DENIED,
      },
    );
    expect(
      await failure(viewer.governance.approveTransition({ requestId: request!.requestId })),
    ).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    const approved = await abe.governance.approveTransition({ requestId: request!.requestId, comment: 'ok' });
    expect(approved.request!.status).toBe(
      registryV1.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_APPLIED,
    );
    expect(approved.request!.approvals.map((a) => a.approver)).toEqual(['user:abe']);
    // The whole registry's audit trail is an operator's; one model's, its readers'.
    expect(await failure(viewer.audit.listAuditEntries({}))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    const trail = await viewer.audit.listAuditEntries({ model: 'churn-model' });
    expect(trail.entries.map((e) => e.actor)).toEqual(expect.arrayContaining(['user:cora', 'user:abe']));
  });

  it('lets a contributor register a version from a run it may only read, and not from one hidden from it', async () => {
    await admin.auth.createUser({
      username: 'dan',
      password: 'dan-password',
      roles: [gatewayAuthV1.Role.ROLE_CONTRIBUTOR],
    });
    const dan = as(basic('dan', 'dan-password'));
    await dan.models.createRegisteredModel({ name: 'dan-model' });
    const source = `runs:/${runId}/model`;
    // READ on the run's experiment (the default permission) is enough to register from it…
    expect(
      (await dan.models.createModelVersion({ name: 'dan-model', source, runId })).modelVersion!.version,
    ).toBe('1');
    // …but not EDIT on it, and nothing when the experiment is hidden from dan.
    expect(await failure(dan.runs.setTag({ runId, key: 'k', value: 'v' }))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    await admin.auth.createExperimentPermission({
      experimentId,
      username: 'dan',
      permission: gatewayAuthV1.Permission.PERMISSION_NO_PERMISSIONS,
    });
    expect(await failure(dan.models.createModelVersion({ name: 'dan-model', source, runId }))).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
  });

  it('filters searches by READ and denies what a NO_PERMISSIONS grant hides', async () => {
    expect((await viewer.experiments.searchExperiments({})).experiments.map((e) => e.name)).toContain(
      'churn',
    );
    await admin.auth.createExperimentPermission({
      experimentId,
      username: 'vic',
      permission: gatewayAuthV1.Permission.PERMISSION_NO_PERMISSIONS,
    });
    expect((await viewer.experiments.searchExperiments({})).experiments.map((e) => e.name)).not.toContain(
      'churn',
    );
    expect(await failure(viewer.runs.getRun({ runId }))).toMatchObject({ code: status.PERMISSION_DENIED });
    // Cora created the experiment, so she manages it.
    expect((await cora.experiments.getExperiment({ experimentId })).experiment!.name).toBe('churn');
  });

  it('delivers a model’s events on Events.Watch in the order they happened', async () => {
    const TYPES = [
      'cairn.registry.registered-model.created.v1',
      'cairn.registry.model-version.created.v1',
      'cairn.registry.alias.set.v1',
      'cairn.registry.alias.deleted.v1',
    ];
    const client = new gatewayEventsV1.EventsServiceClient(gatewayAddress(), credentials.createInsecure());
    clients.push(client);
    const md = new Metadata();
    md.set('authorization', basic('abe', 'abe-password'));
    const stream = client.watch({ types: TYPES, subjects: [], afterEventId: '' }, md);
    const got: gatewayEventsV1.Event[] = [];
    stream.on('data', (e: gatewayEventsV1.Event) => got.push(e));
    stream.on('error', () => undefined); // cancelled below
    try {
      // A watch delivers what arrives after it started: probe until it is live.
      let probes = 0;
      await waitFor(
        'the watch to be live',
        async () => {
          if (got.some((e) => e.subject.startsWith('watch-probe-'))) return true;
          await cora.models.createRegisteredModel({ name: `watch-probe-${probes++}` });
          return undefined;
        },
        30_000,
        500,
      );
      await cora.models.createRegisteredModel({ name: 'ordered-model' });
      const versions: string[] = [];
      for (let i = 0; i < 2; i++) {
        const { modelVersion } = await cora.models.createModelVersion({
          name: 'ordered-model',
          source: `runs:/${runId}/model`,
          runId,
        });
        versions.push(modelVersion!.version);
      }
      await waitFor('both versions to be READY', async () => {
        for (const version of versions) {
          const { modelVersion } = await cora.models.getModelVersion({ name: 'ordered-model', version });
          if (modelVersion!.status !== registryV1.ModelVersionStatus.MODEL_VERSION_STATUS_READY)
            return undefined;
        }
        return true;
      });
      await cora.models.setRegisteredModelAlias({
        name: 'ordered-model',
        alias: 'canary',
        version: versions[1],
      });
      await cora.models.deleteRegisteredModelAlias({ name: 'ordered-model', alias: 'canary' });
      const mine = () => got.filter((e) => e.subject === 'ordered-model');
      await waitFor('the five events', () => (mine().length >= 5 ? true : undefined), 30_000, 100);
      expect(mine().map((e) => e.type)).toEqual([
        'cairn.registry.registered-model.created.v1',
        'cairn.registry.model-version.created.v1',
        'cairn.registry.model-version.created.v1',
        'cairn.registry.alias.set.v1',
        'cairn.registry.alias.deleted.v1',
      ]);
      const created = mine().filter((e) => e.type === 'cairn.registry.model-version.created.v1');
      expect(created.map((e) => (JSON.parse(e.dataJson) as { version: string }).version)).toEqual(versions);
      const sequences = got.map((e) => e.sequence);
      expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    } finally {
      stream.cancel();
    }
  });
});
