import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Client, credentials, type handleUnaryCall, Metadata, type ServiceError } from '@grpc/grpc-js';
import { EVENT_BUS, type RunningService, startService } from '@cairn/service-runtime';
import type { EventBus, IncomingMessage } from '@cairn/messaging';
import { trackingV1 } from '@cairn/proto';
import { REASON_METADATA_KEY } from '@cairn/rpc';
import { createTestDatabase, freePort, type TestDatabase } from '@cairn/testing';
import { trackingBlueprint } from '../src/tracking.blueprint';

/** Promise-returning versions of a ts-proto service's unary methods. */
export type UnaryApi<S> = {
  [
    K in keyof S as S[K] extends handleUnaryCall<infer _Q, infer _R> ? (string extends K ? never : K) : never
  ]: S[K] extends handleUnaryCall<infer Req, infer Res> ? (req: Partial<Req>) => Promise<Res> : never;
};

function unaryApi<S>(client: Client, fromPartial: Record<string, (o: unknown) => unknown>): UnaryApi<S> {
  return new Proxy({} as UnaryApi<S>, {
    get(_t, name: string) {
      return (req: unknown) =>
        new Promise((resolve, reject) => {
          const method = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
          method.call(
            client,
            fromPartial[name](req),
            new Metadata(),
            { deadline: Date.now() + 30_000 },
            (err: ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)),
          );
        });
    },
  });
}

/** The request type's `fromPartial` of every method, so tests can pass partial requests. */
function partials(
  definition: Record<string, { requestDeserialize: unknown; path: string }>,
): Record<string, (o: unknown) => unknown> {
  const out: Record<string, (o: unknown) => unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const typeName = `${method.path.split('/')[2]}Request`;
    const codec = (trackingV1 as unknown as Record<string, { fromPartial?: (o: unknown) => unknown }>)[
      typeName
    ];
    out[name] = codec?.fromPartial ?? ((o) => o);
  }
  return out;
}

export interface TrackingHarness {
  svc: RunningService;
  db: TestDatabase;
  address: string;
  experiments: UnaryApi<trackingV1.ExperimentServiceServer>;
  runs: UnaryApi<trackingV1.RunServiceServer>;
  artifacts: UnaryApi<trackingV1.ArtifactServiceServer>;
  runClient: trackingV1.RunServiceClient;
  artifactClient: trackingV1.ArtifactServiceClient;
  /** Every event published on cairn.tracking since start. */
  events: IncomingMessage[];
  stop(): Promise<void>;
}

/** Starts the tracking service on a fresh database, with the given artifact-store settings. */
export async function startTracking(extraEnv: NodeJS.ProcessEnv = {}): Promise<TrackingHarness> {
  const db = await createTestDatabase('tracking');
  const artifactDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-artifacts-'));
  const svc = await startService(trackingBlueprint, {
    DATABASE_URL: db.url,
    CAIRN_TRACKING_GRPC_PORT: String(await freePort()),
    CAIRN_TRACKING_HTTP_PORT: String(await freePort()),
    CAIRN_BIND_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    CAIRN_ARTIFACT_ROOT: artifactDir,
    ...extraEnv,
  });
  const address = `127.0.0.1:${svc.grpcPort}`;
  const creds = credentials.createInsecure();
  const options = { 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
  const experimentClient = new trackingV1.ExperimentServiceClient(address, creds, options);
  const runClient = new trackingV1.RunServiceClient(address, creds, options);
  const artifactClient = new trackingV1.ArtifactServiceClient(address, creds, options);
  const events: IncomingMessage[] = [];
  const bus = svc.app.get<EventBus>(EVENT_BUS);
  const sub = await bus.subscribe({
    groupId: `tracking-test-${Date.now()}`,
    topics: ['cairn.tracking'],
    startFrom: 'earliest',
    handleBatch: async (b) => {
      events.push(...b.messages);
    },
  });
  return {
    svc,
    db,
    address,
    experiments: unaryApi(experimentClient, partials(trackingV1.ExperimentServiceService)),
    runs: unaryApi(runClient, partials(trackingV1.RunServiceService)),
    artifacts: unaryApi(artifactClient, partials(trackingV1.ArtifactServiceService)),
    runClient,
    artifactClient,
    events,
    async stop() {
      await sub.stop();
      experimentClient.close();
      runClient.close();
      artifactClient.close();
      await svc.stop();
      await db.drop();
      await rm(artifactDir, { recursive: true, force: true });
    },
  };
}

/** The gRPC error of a failed call: code, message and the `cairn-reason` code. */
export async function failure(
  p: Promise<unknown>,
): Promise<{ code: number; message: string; reason: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return {
      code: e.code,
      message: e.details,
      reason: String(e.metadata?.get(REASON_METADATA_KEY)[0] ?? ''),
    };
  }
  throw new Error('expected the call to fail');
}

/** Parsed event payloads of one type. */
export function eventsOf(
  events: IncomingMessage[],
  type: string,
): Array<{ id: string; data: Record<string, unknown> }> {
  return events
    .map((m) => JSON.parse(m.value) as { id: string; type: string; data: Record<string, unknown> })
    .filter((e) => e.type === type);
}
