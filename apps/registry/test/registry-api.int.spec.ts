import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { DataSource } from 'typeorm';
import { FilesystemArtifactStore } from '@cairn/artifacts';
import { createEvent, type EventDataInput, TOPICS } from '@cairn/contracts';
import type { EventBus } from '@cairn/messaging';
import { registryV1 as pb } from '@cairn/proto';
import { EVENT_BUS, outboxRecordOf, type RunningService, startService } from '@cairn/service-runtime';
import {
  createTestDatabase,
  freePort,
  grpcFailure as failure,
  type KafkaMock,
  startKafkaMock,
  type TestDatabase,
  testIdentity,
  unaryApi,
  waitFor,
} from '@cairn/testing';
import { auditEntryHash } from '../src/audit/audit-chain';
import { RUN_PROJECTION_CONSUMER } from '../src/runs/run-finished.consumer';
import { registryBlueprint } from '../src/registry.blueprint';

/*
 * The registry as it is served: the real blueprint on a real Postgres, Kafka (librdkafka's mock
 * cluster) as the event bus, a filesystem artifact store in a temporary directory, driven over
 * gRPC the way the gateway drives it (the acting principal in a signed identity token). Runs become
 * known to the registry only through RunFinished events on cairn.tracking, as in production.
 */

jest.setTimeout(240_000);

const { Stage, ModelVersionStatus } = pb;
const RUN_ID = randomUUID().replace(/-/g, '');
const PIPELINE_RUN_ID = randomUUID();
const TOPIC_PARTITIONS = 2;
const registryKey = generateKeyPairSync('ed25519');
const clientKey = generateKeyPairSync('ed25519');
const rogueKey = generateKeyPairSync('ed25519');
const pem = (
  k: { export(o: { type: 'spki' | 'pkcs8'; format: 'pem' }): string | Buffer },
  type: 'spki' | 'pkcs8',
) => k.export({ type, format: 'pem' }).toString();

/** Ed25519 over the UTF-8 bytes of the digest string, as the README says clients sign. */
function signDigest(digest: string, privateKey = clientKey.privateKey): string {
  return sign(null, Buffer.from(digest, 'utf8'), privateKey).toString('base64');
}

let kafka: KafkaMock;
let db: TestDatabase;
let home: string;
let root: string;
let svc: RunningService;
let bus: EventBus;
let ds: DataSource;
const clients: Array<{ close(): void }> = [];

/** The gateway whose identity tokens the registry trusts. */
const gateway = testIdentity();

type MetadataSource = () => Metadata | Promise<Metadata>;

/** Calls as `who` (a token from the trusted gateway), or with no credentials at all. */
function principal(who?: string): MetadataSource {
  return async () =>
    who === undefined ? new Metadata() : gateway.metadata({ principal: who, audience: 'registry' });
}

function apis(who?: string | MetadataSource) {
  const metadata = typeof who === 'function' ? who : principal(who);
  const address = `127.0.0.1:${svc.grpcPort}`;
  const creds = credentials.createInsecure();
  const registry = new pb.ModelRegistryServiceClient(address, creds);
  const signing = new pb.SigningServiceClient(address, creds);
  const audit = new pb.AuditServiceClient(address, creds);
  const governance = new pb.GovernanceServiceClient(address, creds);
  clients.push(registry, signing, audit, governance);
  return {
    registry: unaryApi<pb.ModelRegistryServiceServer>(registry, pb.ModelRegistryServiceService, pb, metadata),
    signing: unaryApi<pb.SigningServiceServer>(signing, pb.SigningServiceService, pb, metadata),
    audit: unaryApi<pb.AuditServiceServer>(audit, pb.AuditServiceService, pb, metadata),
    governance: unaryApi<pb.GovernanceServiceServer>(governance, pb.GovernanceServiceService, pb, metadata),
  };
}

let alice: ReturnType<typeof apis>;
let bob: ReturnType<typeof apis>;
let anonymous: ReturnType<typeof apis>;

type RunFinished = EventDataInput<'cairn.tracking.run.finished.v1'>;

const runFinished: RunFinished = {
  runId: RUN_ID,
  experimentId: '7',
  runName: 'xgb-depth-6',
  status: 'FINISHED',
  metrics: { auc: 0.91, logloss: 0.28 },
  params: { max_depth: '6' },
  tags: { 'mlflow.source.type': 'JOB' },
  artifactUri: '', // set once the store root is known
  datasetInputs: [
    {
      name: 'churn-train',
      digest: '3f2a9c1e',
      source: 's3://datasets/churn/train.parquet',
      sourceType: 's3',
      context: 'training',
    },
  ],
  pipelineRunId: PIPELINE_RUN_ID,
  createdBy: 'user:alice',
  startedAt: '2026-01-15T10:05:00.000Z',
  endedAt: '2026-01-15T10:41:12.345Z',
};

/** Publishes RunFinished on cairn.tracking as tracking's outbox relay does; returns the event id. */
async function publishRunFinished(data: RunFinished, id?: string): Promise<string> {
  const event = createEvent('cairn.tracking.run.finished.v1', { data, ...(id ? { id } : {}) });
  const record = outboxRecordOf(event, 'run');
  await bus.publish([
    {
      topic: record.topic,
      key: record.aggregateId,
      value: record.payload,
      headers: { ce_id: event.id, ce_type: event.type },
    },
  ]);
  return event.id;
}

/** Polls until registration has finished with the version (READY or FAILED_REGISTRATION). */
function registered(name: string, version: string): Promise<pb.ModelVersion> {
  return waitFor(
    `${name}/${version} to finish registration`,
    async () => {
      const { modelVersion } = await alice.registry.getModelVersion({ name, version });
      return modelVersion!.status === ModelVersionStatus.MODEL_VERSION_STATUS_PENDING_REGISTRATION
        ? undefined
        : modelVersion;
    },
    30_000,
  );
}

async function writeModel(dir: string, weights: Buffer): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'MLmodel'), MLMODEL);
  await writeFile(path.join(dir, 'model.pkl'), weights);
}

const MLMODEL = 'flavors:\n  sklearn: {}\n';
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  kafka = await startKafkaMock({ brokers: 1 });
  // The mock cluster cannot create topics through the admin API: provision them as an operator would.
  for (const topic of [TOPICS.registry, TOPICS.tracking]) {
    await kafka.createTopic(topic, TOPIC_PARTITIONS, 1);
    await kafka.createTopic(`${topic}.dlq`, TOPIC_PARTITIONS, 1);
  }
  db = await createTestDatabase('registry_api');
  home = await mkdtemp(path.join(os.tmpdir(), 'cairn-registry-api-'));
  root = path.join(home, 'artifacts');
  await mkdir(root, { recursive: true });
  runFinished.artifactUri = new FilesystemArtifactStore(root).uriFor(`7/${RUN_ID}/artifacts`);

  svc = await startService(registryBlueprint, {
    DATABASE_URL: db.url,
    CAIRN_REGISTRY_GRPC_PORT: String(await freePort()),
    CAIRN_REGISTRY_HTTP_PORT: String(await freePort()),
    CAIRN_BIND_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    CAIRN_EVENT_BUS: 'kafka',
    KAFKA_BROKERS: kafka.brokers.join(','),
    KAFKA_REPLICATION_FACTOR: '1',
    KAFKA_MIN_INSYNC_REPLICAS: '1',
    CAIRN_TOPIC_PARTITIONS: String(TOPIC_PARTITIONS),
    CAIRN_ARTIFACT_ROOT: root,
    CAIRN_REGISTRY_AUDIT_KEY_DIR: path.join(home, 'keys'),
    CAIRN_REGISTRY_AUDIT_CHECKPOINT_INTERVAL_MS: '500',
    CAIRN_REGISTRY_SIGNING_KEY: pem(registryKey.privateKey, 'pkcs8'),
    CAIRN_REGISTRY_SIGNING_KEY_ID: 'registry-key',
    CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({ 'ci-key': pem(clientKey.publicKey, 'spki') }),
    ...gateway.env,
  });
  bus = svc.app.get<EventBus>(EVENT_BUS);
  ds = svc.app.get(DataSource);
  alice = apis('user:alice');
  bob = apis('user:bob');
  anonymous = apis();
});

afterAll(async () => {
  for (const c of clients) c.close();
  await svc?.stop();
  await db?.drop();
  await kafka?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('registry API (gRPC, real Postgres, Kafka)', () => {
  const MODEL = 'churn-clf';
  let runVersion: pb.ModelVersion;
  let uriVersion: pb.ModelVersion;

  it('keeps its audit key under the configured directory, owner-only', async () => {
    const key = await stat(path.join(home, 'keys', 'registry-audit-ed25519.pem'));
    expect(key.mode & 0o077).toBe(0);
  });

  it('refuses a change without an acting principal', async () => {
    expect(await failure(anonymous.registry.createRegisteredModel({ name: 'nobody' }))).toMatchObject({
      code: status.UNAUTHENTICATED,
      reason: 'PRINCIPAL_REQUIRED',
    });
    expect(
      await failure(anonymous.signing.setModelVersionSignature({ name: 'nobody', version: '1' })),
    ).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'PRINCIPAL_REQUIRED' });
    expect(await failure(alice.registry.getRegisteredModel({ name: 'nobody' }))).toMatchObject({
      code: status.NOT_FOUND,
      reason: 'REGISTERED_MODEL_NOT_FOUND',
    });
  });

  it('trusts only a valid identity token from its gateway, for the registry, and no bare header', async () => {
    const token = (md: Metadata | Promise<Metadata>) => async () => md;
    const withToken = (value: Promise<string>) =>
      token(
        value.then((t) => {
          const md = new Metadata();
          md.set('cairn-identity', t);
          return md;
        }),
      );
    const forger = testIdentity();
    const cases: Array<[string, MetadataSource, string]> = [
      [
        'a token signed by another key',
        token(forger.metadata({ principal: 'user:alice', audience: 'registry' })),
        'IDENTITY_KEY_UNKNOWN',
      ],
      [
        "another key's token claiming the gateway's key id",
        withToken(
          forger.token({ principal: 'user:alice', audience: 'registry' }).then((t) => {
            const [, claims, sig] = t.split('.');
            const header = Buffer.from(
              JSON.stringify({ alg: 'EdDSA', kid: gateway.keyId, typ: 'JWT' }),
            ).toString('base64url');
            return `${header}.${claims}.${sig}`;
          }),
        ),
        'IDENTITY_TOKEN_INVALID',
      ],
      [
        'an expired token',
        token(
          gateway.metadata({
            principal: 'user:alice',
            audience: 'registry',
            issuedAt: new Date(Date.now() - 120_000),
          }),
        ),
        'IDENTITY_TOKEN_EXPIRED',
      ],
      [
        'a token for tracking',
        token(gateway.metadata({ principal: 'user:alice', audience: 'tracking' })),
        'IDENTITY_TOKEN_WRONG_AUDIENCE',
      ],
      ['a garbled token', withToken(Promise.resolve('not-a-jwt')), 'IDENTITY_TOKEN_INVALID'],
      [
        'the retired cairn-principal header alone',
        () => {
          const md = new Metadata();
          md.set('cairn-principal', 'user:alice');
          return md;
        },
        'PRINCIPAL_REQUIRED',
      ],
    ];
    for (const [what, metadata, reason] of cases) {
      const api = apis(metadata);
      expect({
        what,
        ...(await failure(api.registry.createRegisteredModel({ name: 'forged' }))),
      }).toMatchObject({
        what,
        code: status.UNAUTHENTICATED,
        reason,
      });
    }
    // A bad token fails even a read, which needs no principal: presented credentials are checked.
    const expired = apis(
      token(
        gateway.metadata({
          principal: 'user:alice',
          audience: 'registry',
          issuedAt: new Date(Date.now() - 120_000),
        }),
      ),
    );
    expect(await failure(expired.registry.getRegisteredModel({ name: 'forged' }))).toMatchObject({
      code: status.UNAUTHENTICATED,
      reason: 'IDENTITY_TOKEN_EXPIRED',
    });
    expect(await failure(alice.registry.getRegisteredModel({ name: 'forged' }))).toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it('creates, reads, renames, updates, tags and deletes registered models', async () => {
    const { registeredModel } = await alice.registry.createRegisteredModel({
      name: 'churn',
      description: 'first cut',
      tags: [{ key: 'team', value: 'growth' }],
    });
    expect(registeredModel).toMatchObject({
      name: 'churn',
      description: 'first cut',
      createdBy: 'user:alice',
      tags: [{ key: 'team', value: 'growth' }],
      latestVersions: [],
      aliases: [],
    });
    expect(await failure(bob.registry.createRegisteredModel({ name: 'churn' }))).toMatchObject({
      code: status.ALREADY_EXISTS,
      reason: 'REGISTERED_MODEL_ALREADY_EXISTS',
      message: 'Registered Model (name=churn) already exists.',
    });
    expect(await failure(alice.registry.createRegisteredModel({ name: '' }))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'MISSING_PARAMETER',
    });
    expect(await failure(alice.registry.createRegisteredModel({ name: 'a/b' }))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'INVALID_PARAMETER_VALUE',
    });

    const renamed = await bob.registry.renameRegisteredModel({ name: 'churn', newName: MODEL });
    expect(renamed.registeredModel!.name).toBe(MODEL);
    expect(await failure(alice.registry.getRegisteredModel({ name: 'churn' }))).toMatchObject({
      code: status.NOT_FOUND,
    });
    const updated = await alice.registry.updateRegisteredModel({
      name: MODEL,
      description: 'churn classifier',
    });
    expect(updated.registeredModel!.description).toBe('churn classifier');
    expect(
      await failure(alice.registry.updateRegisteredModel({ name: MODEL, description: 'nul\u0000' })),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_PARAMETER_VALUE' });

    await alice.registry.setRegisteredModelTag({ name: MODEL, key: 'owner', value: 'ml-platform' });
    await alice.registry.setRegisteredModelTag({ name: MODEL, key: 'team', value: 'retention' });
    await alice.registry.deleteRegisteredModelTag({ name: MODEL, key: 'owner' });
    expect((await alice.registry.getRegisteredModel({ name: MODEL })).registeredModel!.tags).toEqual([
      { key: 'team', value: 'retention' },
    ]);
    expect(
      await failure(alice.registry.deleteRegisteredModelTag({ name: MODEL, key: 'owner' })),
    ).toMatchObject({
      code: status.NOT_FOUND,
      reason: 'TAG_NOT_FOUND',
    });

    await alice.registry.createRegisteredModel({ name: 'scratch' });
    await alice.registry.deleteRegisteredModel({ name: 'scratch' });
    expect(await failure(alice.registry.getRegisteredModel({ name: 'scratch' }))).toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it('registers a version from a run it learned of through RunFinished, and it turns READY, signed', async () => {
    await writeModel(path.join(root, '7', RUN_ID, 'artifacts', 'model'), Buffer.alloc(8192, 1));
    const fromRun = {
      name: MODEL,
      source: `runs:/${RUN_ID}/model`,
      runId: RUN_ID,
      description: 'from the run',
    };
    // Tracking has not said anything about the run yet.
    expect(await failure(alice.registry.createModelVersion(fromRun))).toMatchObject({
      code: status.NOT_FOUND,
      reason: 'RUN_NOT_FOUND',
    });

    await publishRunFinished(runFinished);
    const created = await waitFor(
      'the run projection to know the run',
      async () => {
        try {
          return await alice.registry.createModelVersion(fromRun);
        } catch (err) {
          if ((err as { code?: number }).code === status.NOT_FOUND) return undefined;
          throw err;
        }
      },
      60_000,
      200,
    );
    expect(created.modelVersion).toMatchObject({
      name: MODEL,
      version: '1',
      runId: RUN_ID,
      userId: 'user:alice',
    });

    runVersion = await registered(MODEL, '1');
    expect(runVersion).toMatchObject({
      status: ModelVersionStatus.MODEL_VERSION_STATUS_READY,
      currentStage: Stage.STAGE_NONE,
      source: `runs:/${RUN_ID}/model`,
      storageLocation: `${runFinished.artifactUri}/model`,
      signature: { algorithm: 'Ed25519', keyId: 'registry-key' },
    });
    expect(runVersion.artifactDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('registers a version from a source URI inside the store, and refuses hostile or badly signed ones', async () => {
    const store = new FilesystemArtifactStore(root);
    await writeModel(path.join(root, 'shared', 'iris', 'model'), Buffer.alloc(4096, 2));
    const source = store.uriFor('shared/iris/model');
    const created = await bob.registry.createModelVersion({
      name: MODEL,
      source,
      tags: [{ key: 'framework', value: 'sklearn' }],
    });
    expect(created.modelVersion).toMatchObject({ version: '2', runId: '', userId: 'user:bob' });
    uriVersion = await registered(MODEL, '2');
    expect(uriVersion).toMatchObject({
      status: ModelVersionStatus.MODEL_VERSION_STATUS_READY,
      storageLocation: source,
      tags: [{ key: 'framework', value: 'sklearn' }],
    });

    const refusals: Array<[Partial<pb.CreateModelVersionRequest>, number, string]> = [
      [{ source: `runs:/${RUN_ID}/../../../etc` }, status.INVALID_ARGUMENT, 'MODEL_SOURCE_PATH_TRAVERSAL'],
      [{ source: 'file:///etc/passwd' }, status.INVALID_ARGUMENT, 'MODEL_SOURCE_OUTSIDE_STORE'],
      [{ source: `models:/${MODEL}/1` }, status.INVALID_ARGUMENT, 'MODEL_SOURCE_MODELS_URI'],
      [{ source: '' }, status.INVALID_ARGUMENT, 'MISSING_PARAMETER'],
      [{ source, runId: 'not a run id' }, status.INVALID_ARGUMENT, 'INVALID_PARAMETER_VALUE'],
      [{ source, runLink: 'x'.repeat(501) }, status.INVALID_ARGUMENT, 'INVALID_PARAMETER_VALUE'],
      [
        {
          source,
          signature: { algorithm: 'Ed25519', keyId: 'rogue', value: signDigest('x', rogueKey.privateKey) },
        },
        status.FAILED_PRECONDITION,
        'UNKNOWN_KEY',
      ],
      [
        { source, signature: { algorithm: 'RSA', keyId: 'ci-key', value: signDigest('x') } },
        status.INVALID_ARGUMENT,
        'UNSUPPORTED_ALGORITHM',
      ],
      [
        { source, signature: { algorithm: 'Ed25519', keyId: 'ci-key', value: 'bm90IGEgc2lnbmF0dXJl' } },
        status.INVALID_ARGUMENT,
        'MALFORMED_SIGNATURE',
      ],
    ];
    for (const [req, code, reason] of refusals) {
      expect({
        req,
        ...(await failure(alice.registry.createModelVersion({ name: MODEL, ...req }))),
      }).toMatchObject({
        req,
        code,
        reason,
      });
    }
    // None of the refusals took a version number.
    const { registeredModel } = await alice.registry.getRegisteredModel({ name: MODEL });
    expect(registeredModel!.latestVersions.map((v) => v.version)).toEqual(['2']);
  });

  it('reads, updates and tags versions, and gives their download location', async () => {
    const got = await alice.registry.getModelVersion({ name: MODEL, version: '1' });
    expect(got.modelVersion).toEqual(runVersion);
    expect(await failure(alice.registry.getModelVersion({ name: MODEL, version: '99' }))).toMatchObject({
      code: status.NOT_FOUND,
      reason: 'MODEL_VERSION_NOT_FOUND',
    });
    expect(await failure(alice.registry.getModelVersion({ name: MODEL, version: 'one' }))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'INVALID_PARAMETER_VALUE',
    });
    const updated = await alice.registry.updateModelVersion({
      name: MODEL,
      version: '1',
      description: 'baseline',
    });
    expect(updated.modelVersion!.description).toBe('baseline');
    await alice.registry.setModelVersionTag({ name: MODEL, version: '1', key: 'validated', value: 'yes' });
    await alice.registry.setModelVersionTag({ name: MODEL, version: '1', key: 'tmp', value: 'x' });
    await alice.registry.deleteModelVersionTag({ name: MODEL, version: '1', key: 'tmp' });
    expect((await alice.registry.getModelVersion({ name: MODEL, version: '1' })).modelVersion!.tags).toEqual([
      { key: 'validated', value: 'yes' },
    ]);
    expect(
      await failure(alice.registry.deleteModelVersionTag({ name: MODEL, version: '1', key: 'tmp' })),
    ).toMatchObject({ code: status.NOT_FOUND, reason: 'TAG_NOT_FOUND' });

    const { artifactUri } = await alice.registry.getModelVersionDownloadUri({ name: MODEL, version: '2' });
    expect(artifactUri).toBe(uriVersion.storageLocation);
  });

  it('moves versions between stages, archiving the existing ones when asked, and keeps Production protected', async () => {
    const staged = await alice.registry.transitionModelVersionStage({
      name: MODEL,
      version: '1',
      stage: Stage.STAGE_STAGING,
      comment: 'first candidate',
    });
    expect(staged.modelVersion!.currentStage).toBe(Stage.STAGE_STAGING);
    const second = await bob.registry.transitionModelVersionStage({
      name: MODEL,
      version: '2',
      stage: Stage.STAGE_STAGING,
      archiveExistingVersions: true,
    });
    expect(second.modelVersion!.currentStage).toBe(Stage.STAGE_STAGING);
    expect(
      (await alice.registry.getModelVersion({ name: MODEL, version: '1' })).modelVersion!.currentStage,
    ).toBe(Stage.STAGE_ARCHIVED);

    const latest = await alice.registry.getLatestVersions({ name: MODEL, stages: [] });
    expect(latest.modelVersions.map((v) => [v.version, v.currentStage])).toEqual([
      ['1', Stage.STAGE_ARCHIVED],
      ['2', Stage.STAGE_STAGING],
    ]);
    const staging = await alice.registry.getLatestVersions({ name: MODEL, stages: [Stage.STAGE_STAGING] });
    expect(staging.modelVersions.map((v) => v.version)).toEqual(['2']);
    expect(
      await failure(alice.registry.getLatestVersions({ name: MODEL, stages: [Stage.STAGE_UNSPECIFIED] })),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'MISSING_PARAMETER', message: /stages\[0\]/ });

    expect(
      await failure(
        alice.registry.transitionModelVersionStage({
          name: MODEL,
          version: '2',
          stage: Stage.STAGE_PRODUCTION,
        }),
      ),
    ).toMatchObject({ code: status.FAILED_PRECONDITION, reason: 'TRANSITION_REQUIRES_APPROVAL' });
    expect(
      await failure(
        alice.registry.transitionModelVersionStage({
          name: MODEL,
          version: '2',
          stage: Stage.STAGE_ARCHIVED,
          archiveExistingVersions: true,
        }),
      ),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_PARAMETER_VALUE' });
    expect(
      await failure(alice.registry.transitionModelVersionStage({ name: MODEL, version: '2' })),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'MISSING_PARAMETER' });
    expect(
      await failure(
        alice.registry.transitionModelVersionStage({ name: MODEL, version: '2', stage: 42 as pb.Stage }),
      ),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_PARAMETER_VALUE' });
  });

  it('points aliases at versions and removes them', async () => {
    await alice.registry.setRegisteredModelAlias({ name: MODEL, alias: 'champion', version: '2' });
    await alice.registry.setRegisteredModelAlias({ name: MODEL, alias: 'challenger', version: '1' });
    const byAlias = await alice.registry.getModelVersionByAlias({ name: MODEL, alias: 'champion' });
    expect(byAlias.modelVersion).toMatchObject({ version: '2', aliases: ['champion'] });
    expect((await alice.registry.getRegisteredModel({ name: MODEL })).registeredModel!.aliases).toEqual([
      { alias: 'challenger', version: '1' },
      { alias: 'champion', version: '2' },
    ]);
    await alice.registry.deleteRegisteredModelAlias({ name: MODEL, alias: 'challenger' });
    expect(
      await failure(alice.registry.getModelVersionByAlias({ name: MODEL, alias: 'challenger' })),
    ).toMatchObject({ code: status.NOT_FOUND, reason: 'ALIAS_NOT_FOUND' });
    for (const alias of ['latest', 'v3', 'bad alias']) {
      expect(
        await failure(alice.registry.setRegisteredModelAlias({ name: MODEL, alias, version: '2' })),
      ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_PARAMETER_VALUE' });
    }
  });

  it('searches models and versions', async () => {
    const models = await alice.registry.searchRegisteredModels({ filter: `name = '${MODEL}'` });
    expect(models.registeredModels.map((m) => m.name)).toEqual([MODEL]);
    expect(models.registeredModels[0].latestVersions.map((v) => v.version)).toEqual(['1', '2']);
    const byRun = await alice.registry.searchModelVersions({ filter: `run_id = '${RUN_ID}'` });
    expect(byRun.modelVersions.map((v) => [v.name, v.version])).toEqual([[MODEL, '1']]);
    const all = await alice.registry.searchModelVersions({ filter: `name = '${MODEL}'` });
    expect(all.modelVersions.map((v) => v.version).sort()).toEqual(['1', '2']);
    expect(await failure(alice.registry.searchRegisteredModels({ filter: 'name === nope' }))).toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  });

  it('traces a version back to its run, dataset inputs and pipeline run', async () => {
    const lineage = await alice.registry.getModelVersionLineage({ name: MODEL, version: '1' });
    expect(lineage.modelVersion!.version).toBe('1');
    expect(lineage.run).toEqual({
      runId: RUN_ID,
      experimentId: '7',
      runName: 'xgb-depth-6',
      status: 'FINISHED',
      metrics: { auc: 0.91, logloss: 0.28 },
      params: { max_depth: '6' },
      artifactUri: runFinished.artifactUri,
      createdBy: 'user:alice',
      startTime: Date.parse(runFinished.startedAt),
      endTime: Date.parse(runFinished.endedAt),
    });
    expect(lineage.datasetInputs).toEqual([
      {
        name: 'churn-train',
        digest: '3f2a9c1e',
        source: 's3://datasets/churn/train.parquet',
        sourceType: 's3',
        context: 'training',
      },
    ]);
    expect(lineage.pipelineRunId).toBe(PIPELINE_RUN_ID);
    expect(lineage.deployments).toEqual([]);

    const fromUri = await alice.registry.getModelVersionLineage({ name: MODEL, version: '2' });
    expect(fromUri.run).toBeUndefined();
    expect(fromUri.datasetInputs).toEqual([]);
    expect(fromUri.pipelineRunId).toBe('');
  });

  it('absorbs a redelivered RunFinished: the same event id changes nothing', async () => {
    const [before] = await ds.query<Array<{ event_id: string; projected_at: string }>>(
      `SELECT event_id, projected_at FROM registry.runs WHERE run_id = $1`,
      [RUN_ID],
    );
    // The same id with other content (a later end, other metrics): were it applied, it would show.
    await publishRunFinished(
      { ...runFinished, metrics: { auc: 0.5 }, endedAt: '2026-01-16T00:00:00.000Z' },
      before.event_id,
    );
    const group = `cairn.registry.${RUN_PROJECTION_CONSUMER}`;
    await waitFor(
      'the run projection to consume the redelivery',
      async () => ((await bus.lag(group, TOPICS.tracking)).every((p) => p.lag === 0) ? true : undefined),
      30_000,
      100,
    );
    const [after] = await ds.query<Array<{ event_id: string; projected_at: string }>>(
      `SELECT event_id, projected_at FROM registry.runs WHERE run_id = $1`,
      [RUN_ID],
    );
    expect(after).toEqual(before);
    const lineage = await alice.registry.getModelVersionLineage({ name: MODEL, version: '1' });
    expect(lineage.run!.metrics).toEqual({ auc: 0.91, logloss: 0.28 });
    expect(lineage.run!.endTime).toBe(Date.parse(runFinished.endedAt));
  });

  it('gives the manifest, verifies the signature, and takes a client signature only if it verifies', async () => {
    const manifest = await alice.signing.getModelVersionManifest({ name: MODEL, version: '1' });
    const weights = await readFile(path.join(root, '7', RUN_ID, 'artifacts', 'model', 'model.pkl'));
    expect(manifest).toEqual({
      digest: runVersion.artifactDigest,
      files: [
        { path: 'MLmodel', size: Buffer.byteLength(MLMODEL), sha256: sha256(MLMODEL) },
        { path: 'model.pkl', size: 8192, sha256: sha256(weights) },
      ],
    });
    expect(await alice.signing.verifyModelVersion({ name: MODEL, version: '1' })).toMatchObject({
      valid: true,
      reason: '',
      recordedDigest: runVersion.artifactDigest,
      computedDigest: runVersion.artifactDigest,
    });

    const digest = runVersion.artifactDigest;
    const good = { algorithm: 'Ed25519', keyId: 'ci-key', value: signDigest(digest) };
    const signed = await bob.signing.setModelVersionSignature({ name: MODEL, version: '1', signature: good });
    expect(signed.modelVersion!.signature).toEqual(good);
    expect((await alice.signing.verifyModelVersion({ name: MODEL, version: '1' })).message).toContain(
      'ci-key',
    );

    const refusals: Array<[pb.Signature | undefined, number, string]> = [
      [{ ...good, value: signDigest(uriVersion.artifactDigest) }, status.INVALID_ARGUMENT, 'BAD_SIGNATURE'],
      // The digest's bytes with a newline are other bytes: exactly the string is signed.
      [{ ...good, value: signDigest(`${digest}\n`) }, status.INVALID_ARGUMENT, 'BAD_SIGNATURE'],
      [
        { ...good, keyId: 'rogue', value: signDigest(digest, rogueKey.privateKey) },
        status.FAILED_PRECONDITION,
        'UNKNOWN_KEY',
      ],
      [{ ...good, value: good.value.slice(4) }, status.INVALID_ARGUMENT, 'MALFORMED_SIGNATURE'],
      [{ ...good, algorithm: 'ed448' }, status.INVALID_ARGUMENT, 'UNSUPPORTED_ALGORITHM'],
      [undefined, status.INVALID_ARGUMENT, 'MISSING_PARAMETER'],
    ];
    for (const [signature, code, reason] of refusals) {
      expect({
        signature,
        ...(await failure(alice.signing.setModelVersionSignature({ name: MODEL, version: '1', signature }))),
      }).toMatchObject({ signature, code, reason });
    }
    expect(
      (await alice.registry.getModelVersion({ name: MODEL, version: '1' })).modelVersion!.signature,
    ).toEqual(good);
  });

  it('notices a file changed in the store after signing: DIGEST_MISMATCH naming the file', async () => {
    await writeFile(path.join(root, '7', RUN_ID, 'artifacts', 'model', 'model.pkl'), Buffer.alloc(8192, 9));
    const verdict = await alice.signing.verifyModelVersion({ name: MODEL, version: '1' });
    expect(verdict).toMatchObject({
      valid: false,
      reason: 'DIGEST_MISMATCH',
      recordedDigest: runVersion.artifactDigest,
    });
    expect(verdict.message).toContain('"model.pkl" was modified');
    expect(verdict.computedDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(verdict.computedDigest).not.toBe(runVersion.artifactDigest);
    // The other version's files are untouched.
    expect((await alice.signing.verifyModelVersion({ name: MODEL, version: '2' })).valid).toBe(true);
  });

  it('lists the audit trail by model, actor and time, in pages, each entry verifiable offline', async () => {
    const everything: pb.AuditEntry[] = [];
    let pageToken = '';
    do {
      const page = await alice.audit.listAuditEntries({ maxResults: 7, pageToken });
      expect(page.entries.length).toBeLessThanOrEqual(7);
      everything.push(...page.entries);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    // Newest first, contiguous, each hash recomputed from the listed fields and linked to the one before.
    const seqs = everything.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(seqs[seqs.length - 1]).toBe(1);
    expect(new Set(seqs).size).toBe(seqs.length);
    for (const [i, e] of everything.entries()) {
      const recomputed = auditEntryHash({
        seq: e.seq,
        id: e.entryId,
        prevHash: e.prevHash,
        occurredAt: e.occurredAt,
        actor: e.actor,
        action: e.action,
        objectType: e.objectType,
        objectId: e.objectId,
        model: e.model === '' ? null : e.model,
        beforeJson: e.beforeJson === '' ? null : e.beforeJson,
        afterJson: e.afterJson === '' ? null : e.afterJson,
        reason: e.reason === '' ? null : e.reason,
      });
      expect({ seq: e.seq, hash: recomputed }).toEqual({ seq: e.seq, hash: e.hash });
      if (i + 1 < everything.length) expect(e.prevHash).toBe(everything[i + 1].hash);
    }

    const ofModel = await alice.audit.listAuditEntries({ model: MODEL, maxResults: 1000 });
    const actions = ofModel.entries.map((e) => e.action);
    for (const action of [
      'registered_model.rename',
      'model_version.create',
      'model_version.ready',
      'model_version.transition',
      'alias.set',
      'alias.delete',
      'model_version.signature.set',
    ]) {
      expect(actions).toContain(action);
    }
    expect(ofModel.entries.every((e) => e.model === MODEL)).toBe(true);
    const ready = ofModel.entries.find(
      (e) => e.action === 'model_version.ready' && e.objectId === `${MODEL}/1`,
    )!;
    expect(ready.actor).toBe('system:registry');
    const signature = ofModel.entries.find((e) => e.action === 'model_version.signature.set')!;
    expect(signature).toMatchObject({ actor: 'user:bob', objectId: `${MODEL}/1` });
    expect(JSON.parse(signature.afterJson)).toMatchObject({
      keyId: 'ci-key',
      artifactDigest: runVersion.artifactDigest,
    });
    expect(JSON.parse(signature.beforeJson)).toEqual({ algorithm: 'Ed25519', keyId: 'registry-key' });

    const byBob = await alice.audit.listAuditEntries({ actor: 'user:bob', maxResults: 1000 });
    expect(byBob.entries.length).toBeGreaterThan(0);
    expect(byBob.entries.every((e) => e.actor === 'user:bob')).toBe(true);
    expect(byBob.entries.map((e) => e.action)).toEqual(
      expect.arrayContaining([
        'registered_model.rename',
        'model_version.create',
        'model_version.signature.set',
      ]),
    );

    // Time bounds are inclusive at both ends.
    const at = signature.occurredAt;
    const instant = await alice.audit.listAuditEntries({ fromTime: at, toTime: at, maxResults: 1000 });
    expect(instant.entries.map((e) => e.entryId)).toContain(signature.entryId);
    expect(instant.entries.every((e) => e.occurredAt === at)).toBe(true);
    const after = await alice.audit.listAuditEntries({ fromTime: at + 1, maxResults: 1000 });
    expect(after.entries.map((e) => e.entryId)).not.toContain(signature.entryId);

    const bad: Array<[Partial<pb.ListAuditEntriesRequest>, string]> = [
      [{ fromTime: 10, toTime: 5 }, 'INVALID_TIME_RANGE'],
      [{ fromTime: -1 }, 'INVALID_TIME_RANGE'],
      [{ maxResults: 0 }, 'INVALID_MAX_RESULTS'],
      [{ maxResults: 1001 }, 'INVALID_MAX_RESULTS'],
      [{ pageToken: 'garbage!' }, 'INVALID_PAGE_TOKEN'],
      [{ model: 'a/b' }, 'INVALID_PARAMETER_VALUE'],
    ];
    for (const [req, reason] of bad) {
      expect({ req, ...(await failure(alice.audit.listAuditEntries(req))) }).toMatchObject({
        req,
        code: status.INVALID_ARGUMENT,
        reason,
      });
    }
    // A page token continues only the listing it came from.
    const first = await alice.audit.listAuditEntries({ model: MODEL, maxResults: 1 });
    expect(
      await failure(alice.audit.listAuditEntries({ actor: 'user:bob', pageToken: first.nextPageToken })),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_PAGE_TOKEN' });
  });

  it('verifies the whole audit chain with its signed checkpoints', async () => {
    const verdict = await waitFor(
      'a signed checkpoint of the audit head',
      async () => {
        const r = await alice.audit.verifyAuditChain({});
        return r.checkpointsChecked > 0 ? r : undefined;
      },
      15_000,
      100,
    );
    expect(verdict).toMatchObject({ ok: true, reason: '', firstBadSeq: 0 });
    expect(verdict.entriesChecked).toBe(verdict.headSeq);
    expect(verdict.headSeq).toBeGreaterThan(20);
  });

  it('deletes a version (its number is never reused) and its aliases', async () => {
    await alice.registry.deleteModelVersion({ name: MODEL, version: '2' });
    expect(await failure(alice.registry.getModelVersion({ name: MODEL, version: '2' }))).toMatchObject({
      code: status.NOT_FOUND,
      reason: 'MODEL_VERSION_NOT_FOUND',
    });
    expect(
      await failure(alice.registry.getModelVersionByAlias({ name: MODEL, alias: 'champion' })),
    ).toMatchObject({ code: status.NOT_FOUND, reason: 'ALIAS_NOT_FOUND' });
    const next = await alice.registry.createModelVersion({ name: MODEL, source: uriVersion.storageLocation });
    expect(next.modelVersion!.version).toBe('3');
    await registered(MODEL, '3');
  });
});

describe('governance over gRPC (four eyes, gates, ModelPromoted on the bus)', () => {
  const MODEL = 'fraud-gbm';
  const PRODUCTION: pb.Position = { target: { $case: 'stage', value: Stage.STAGE_PRODUCTION } };
  const promoted: Array<{ requestId?: string; version: string; approvers: string[] }> = [];
  let stopConsumer: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const sub = await bus.subscribe({
      groupId: `governance-test-${randomUUID()}`,
      topics: [TOPICS.registry],
      startFrom: 'earliest',
      handleBatch: async (batch) => {
        for (const m of batch.messages) {
          const e = JSON.parse(m.value) as {
            type: string;
            data: (typeof promoted)[number] & { model: string };
          };
          if (e.type === 'cairn.registry.model.promoted.v1' && e.data.model === MODEL) promoted.push(e.data);
        }
      },
    });
    stopConsumer = () => sub.stop();
  });

  afterAll(async () => {
    await stopConsumer?.();
  });

  async function newVersion(dir: string, fill: number): Promise<string> {
    const store = new FilesystemArtifactStore(root);
    await writeModel(path.join(root, 'governed', dir), Buffer.alloc(4096, fill));
    const { modelVersion } = await alice.registry.createModelVersion({
      name: MODEL,
      source: store.uriFor(`governed/${dir}`),
    });
    const ready = await registered(MODEL, modelVersion!.version);
    expect(ready.status).toBe(ModelVersionStatus.MODEL_VERSION_STATUS_READY);
    return ready.version;
  }

  it('sets a policy with a signature gate; self-approval is refused and a second approver promotes', async () => {
    await alice.registry.createRegisteredModel({ name: MODEL });
    const { policy } = await bob.governance.setModelPolicy({
      name: MODEL,
      policy: {
        protectedStages: [Stage.STAGE_PRODUCTION],
        protectedAliases: [],
        approvalsRequired: 1,
        requestTtlSeconds: 3600,
        gates: [{ kind: { $case: 'validSignature', value: {} } }],
        updatedAt: 0,
        updatedBy: '',
      },
    });
    expect(policy).toMatchObject({ approvalsRequired: 1, updatedBy: 'user:bob' });
    expect((await alice.governance.getModelPolicy({ name: MODEL })).explicit).toBe(true);

    const version = await newVersion('v1', 1);
    const { request } = await alice.governance.requestTransition({
      name: MODEL,
      version,
      to: PRODUCTION,
      archiveExistingVersions: true,
      comment: 'beats the baseline',
    });
    expect(request).toMatchObject({
      status: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_PENDING,
      requestedBy: 'user:alice',
    });
    expect(
      await failure(alice.governance.approveTransition({ requestId: request!.requestId })),
    ).toMatchObject({ code: status.PERMISSION_DENIED, reason: 'SELF_APPROVAL_FORBIDDEN' });
    expect(
      await failure(anonymous.governance.approveTransition({ requestId: request!.requestId })),
    ).toMatchObject({
      code: status.UNAUTHENTICATED,
    });

    const approved = await bob.governance.approveTransition({ requestId: request!.requestId, comment: 'ok' });
    expect(approved.request).toMatchObject({
      status: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_APPLIED,
      gateResults: [
        expect.objectContaining({ gate: 'version-ready', passed: true }),
        expect.objectContaining({ gate: 'valid-signature', passed: true }),
      ],
    });
    expect((await alice.registry.getModelVersion({ name: MODEL, version })).modelVersion!.currentStage).toBe(
      Stage.STAGE_PRODUCTION,
    );
    const event = await waitFor(
      'ModelPromoted on cairn.registry',
      async () => promoted.find((p) => p.requestId === request!.requestId),
      30_000,
    );
    expect(event).toMatchObject({ version, approvers: ['user:bob'] });
  });

  it('cannot promote a version whose artifact was tampered with after signing', async () => {
    const version = await newVersion('v2', 2);
    await writeFile(path.join(root, 'governed', 'v2', 'MLmodel'), 'flavors:\n  pickle_rce: {}\n');
    const { request } = await alice.governance.requestTransition({ name: MODEL, version, to: PRODUCTION });
    const evaluated = await alice.governance.evaluateGates({ name: MODEL, version, to: PRODUCTION });
    expect(evaluated.passed).toBe(false);

    const decided = await bob.governance.approveTransition({ requestId: request!.requestId });
    expect(decided.request!.status).toBe(pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_GATES_FAILED);
    expect(decided.request!.gateResults.find((g) => g.gate === 'valid-signature')).toMatchObject({
      passed: false,
      message: expect.stringContaining('DIGEST_MISMATCH'),
    });
    expect((await alice.registry.getModelVersion({ name: MODEL, version })).modelVersion!.currentStage).toBe(
      Stage.STAGE_NONE,
    );
    const listed = await alice.governance.listTransitionRequests({
      name: MODEL,
      status: pb.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_GATES_FAILED,
    });
    expect(listed.requests.map((r) => r.requestId)).toEqual([request!.requestId]);
    expect(promoted.some((p) => p.requestId === request!.requestId)).toBe(false);
  });
});
