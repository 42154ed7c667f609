/**
 * `npm run bench:registry`: the registry service as it runs in production (built, in its own
 * process, on embedded Postgres), driven over gRPC from this process. Prints one
 * `name: value unit` line per figure (issue 5):
 *
 * - the latency from an ApproveTransition call to the ModelPromoted event it causes reaching a
 *   consumer group in this process, p50/p99, on each event bus: the Postgres log (the embedded
 *   default) and Kafka (librdkafka's mock cluster). The path measured is the whole of it: the
 *   approval transaction, the gates (a valid_signature gate, so the artifact is re-hashed), the
 *   promotion transaction with its outbox row, the relay to the bus, and delivery;
 * - the time to verify an audit chain of 100,000 entries.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { TOPICS } from '@cairn/contracts';
import { type EventBus, KafkaEventBus, PostgresEventBus } from '@cairn/messaging';
import { registryV1 } from '@cairn/proto';
import {
  createTestDatabase,
  freePort,
  grpcHealthCheck,
  type KafkaMock,
  startKafkaMock,
  startRunPostgres,
  stopRunPostgres,
  testIdentity,
  unaryApi,
  type UnaryApi,
  waitFor,
} from '@cairn/testing';
import { benchAuditVerifyOnFreshDatabase } from './audit-verify';

const SAMPLES = 200;
/** The registry signs each version at registration (the valid_signature gate checks it). */
const SIGNING_KEY = generateKeyPairSync('ed25519')
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
/** The gateway whose identity tokens the registry trusts (the acting principal of each call). */
const GATEWAY = testIdentity();
const WARMUP = 10;
const PROMOTED = 'cairn.registry.model.promoted.v1';

function print(name: string, value: number, unit: string): void {
  console.log(`${name}: ${value} ${unit}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round = (n: number) => Math.round(n * 10) / 10;

type Registry = UnaryApi<registryV1.ModelRegistryServiceServer>;
type Governance = UnaryApi<registryV1.GovernanceServiceServer>;

interface Service {
  child: ChildProcess;
  registry: Registry;
  governance: (principal: string) => Governance;
  close(): Promise<void>;
}

async function startService(env: Record<string, string>, artifactRoot: string): Promise<Service> {
  const grpcPort = await freePort();
  const child = spawn(process.execPath, ['dist/apps/registry/src/main.js'], {
    env: {
      ...process.env,
      ...env,
      CAIRN_REGISTRY_GRPC_PORT: String(grpcPort),
      CAIRN_REGISTRY_HTTP_PORT: String(await freePort()),
      CAIRN_BIND_HOST: '127.0.0.1',
      CAIRN_ARTIFACT_ROOT: artifactRoot,
      CAIRN_REGISTRY_SIGNING_KEY: SIGNING_KEY,
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'bench',
      CAIRN_REGISTRY_AUDIT_KEY_DIR: path.join(artifactRoot, 'keys'),
      ...GATEWAY.env,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const address = `127.0.0.1:${grpcPort}`;
  await waitFor(
    'the registry service',
    async () => ((await grpcHealthCheck(address).catch(() => '')) === 'SERVING' ? true : undefined),
    60_000,
    100,
  );
  // Tokens are reused until shortly before they expire, as a gateway would: the figures
  // measure the registry, not the client signing a token per call.
  const as = (principal: string) => () => GATEWAY.metadata({ principal, audience: 'registry' });
  const registryClient = new registryV1.ModelRegistryServiceClient(address, credentials.createInsecure());
  const governanceClient = new registryV1.GovernanceServiceClient(address, credentials.createInsecure());
  return {
    child,
    registry: unaryApi(registryClient, registryV1.ModelRegistryServiceService, registryV1, as('bench:alice')),
    governance: (principal) =>
      unaryApi(governanceClient, registryV1.GovernanceServiceService, registryV1, as(principal)),
    close: async () => {
      registryClient.close();
      governanceClient.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A model directory in the artifact store (what a training run leaves), one per version. */
async function writeModel(root: string, i: number): Promise<string> {
  const dir = path.join(root, 'bench-models', String(i));
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'MLmodel'), `flavors:\n  sklearn: {}\nbench: ${i}\n`);
  await writeFile(path.join(dir, 'model.pkl'), Buffer.alloc(64 * 1024, i % 251));
  return `bench-models/${i}`;
}

/**
 * SAMPLES + WARMUP versions of one model, each READY with a pending request to Production
 * (archive_existing_versions, a valid_signature gate), then approved one at a time: each
 * approval's latency is from the call to the ModelPromoted event for that request arriving.
 */
async function benchApprovalToPromoted(
  svc: Service,
  bus: EventBus,
  root: string,
  model: string,
): Promise<{ p50: number; p99: number }> {
  await svc.registry.createRegisteredModel({ name: model });
  await svc.governance('bench:admin').setModelPolicy({
    name: model,
    policy: {
      protectedStages: [registryV1.Stage.STAGE_PRODUCTION],
      protectedAliases: [],
      approvalsRequired: 1,
      requestTtlSeconds: 3600,
      gates: [{ kind: { $case: 'validSignature', value: {} } }],
      updatedAt: 0,
      updatedBy: '',
    },
  });
  const total = SAMPLES + WARMUP;
  const versions: string[] = [];
  for (let i = 0; i < total; i++) {
    const source = `file://${path.join(root, await writeModel(root, i))}`;
    const { modelVersion } = await svc.registry.createModelVersion({ name: model, source });
    versions.push(modelVersion!.version);
  }
  await waitFor(
    'every version READY',
    async () => {
      const last = await svc.registry.getModelVersion({
        name: model,
        version: versions[versions.length - 1],
      });
      return last.modelVersion?.status === registryV1.ModelVersionStatus.MODEL_VERSION_STATUS_READY
        ? true
        : undefined;
    },
    120_000,
    50,
  );
  const requests: string[] = [];
  for (const version of versions) {
    const { request } = await svc.governance('bench:alice').requestTransition({
      name: model,
      version,
      to: { target: { $case: 'stage', value: registryV1.Stage.STAGE_PRODUCTION } },
      archiveExistingVersions: true,
    });
    requests.push(request!.requestId);
  }

  const arrived = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const sub = await bus.subscribe({
    groupId: `bench-registry-${process.pid}-${model}`,
    topics: [TOPICS.registry],
    // From the start of the topic, so that no promotion is missed while the group forms; the
    // setup's own events do not match a request id.
    startFrom: 'earliest',
    handleBatch: async (batch) => {
      const now = performance.now();
      for (const m of batch.messages) {
        const event = JSON.parse(m.value) as { type: string; data: { requestId?: string } };
        if (event.type !== PROMOTED || !event.data.requestId) continue;
        arrived.set(event.data.requestId, now);
        waiters.get(event.data.requestId)?.();
      }
    },
  });
  try {
    await waitFor('the consumer to join', async () => (sub.running ? true : undefined), 60_000, 50);
    const approver = svc.governance('bench:bob');
    const latencies: number[] = [];
    for (let i = 0; i < total; i++) {
      const id = requests[i];
      const seen = new Promise<void>((resolve) => waiters.set(id, resolve));
      const started = performance.now();
      const { request } = await approver.approveTransition({ requestId: id });
      if (request?.status !== registryV1.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_APPLIED) {
        throw new Error(`request ${id} ended ${request?.status}: ${JSON.stringify(request?.gateResults)}`);
      }
      await Promise.race([
        seen,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`no ModelPromoted for ${id} in 30 s`)), 30_000),
        ),
      ]);
      if (i >= WARMUP) latencies.push((arrived.get(id) as number) - started);
    }
    latencies.sort((a, b) => a - b);
    return { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) };
  } finally {
    await sub.stop();
  }
}

async function onPostgres(root: string): Promise<void> {
  const db = await createTestDatabase('bench_registry_pg');
  const svc = await startService({ DATABASE_URL: db.url, CAIRN_EVENT_BUS: 'postgres' }, root);
  const bus = new PostgresEventBus({ connection: db.url });
  try {
    const r = await benchApprovalToPromoted(svc, bus, root, 'bench-pg');
    print('registry.postgres_bus.approval_to_model_promoted_p50', r.p50, 'ms');
    print('registry.postgres_bus.approval_to_model_promoted_p99', r.p99, 'ms');
  } finally {
    await bus.close();
    if (svc.child.exitCode === null) await svc.close();
    await db.drop();
  }
}

async function onKafka(root: string): Promise<void> {
  let mock: KafkaMock | undefined;
  const db = await createTestDatabase('bench_registry_kafka');
  try {
    mock = await startKafkaMock({ brokers: 3 });
    // The mock cannot create topics through the admin API: provision them as an operator would.
    for (const topic of Object.values(TOPICS)) {
      await mock.createTopic(topic, 8);
      await mock.createTopic(`${topic}.dlq`, 8);
    }
    const svc = await startService(
      { DATABASE_URL: db.url, CAIRN_EVENT_BUS: 'kafka', KAFKA_BROKERS: mock.brokers.join(',') },
      root,
    );
    const bus = new KafkaEventBus({
      brokers: mock.brokers,
      clientId: 'cairn-registry-bench',
      clientLogLevel: 'error',
      // The mock answers an empty fetch only after the whole long-poll (see bench/events).
      consumer: {
        maxWaitTimeMs: 5,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        rebalanceTimeoutMs: 10_000,
      },
    });
    try {
      const r = await benchApprovalToPromoted(svc, bus, root, 'bench-kafka');
      print('registry.kafka_bus.approval_to_model_promoted_p50', r.p50, 'ms');
      print('registry.kafka_bus.approval_to_model_promoted_p99', r.p99, 'ms');
    } finally {
      await bus.close();
      await svc.close();
    }
  } finally {
    await mock?.stop();
    await db.drop();
  }
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  await startRunPostgres();
  const root = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-registry-'));
  try {
    await onPostgres(root);
    await onKafka(root);
    // On a database of its own: the chain is seeded in bulk and checkpointed with the bench's key.
    const audit = await benchAuditVerifyOnFreshDatabase();
    print('registry.audit_verify_100k_entries', audit.ms, 'ms');
  } finally {
    await rm(root, { recursive: true, force: true });
    await stopRunPostgres();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
