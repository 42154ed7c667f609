import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { EVENT_BUS, type RunningService, startService } from '@cairn/service-runtime';
import type { EventBus, IncomingMessage } from '@cairn/messaging';
import { trackingV1 } from '@cairn/proto';
import { createTestDatabase, freePort, type TestDatabase, type UnaryApi, unaryApi } from '@cairn/testing';
import { trackingBlueprint } from '../src/tracking.blueprint';

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
    experiments: unaryApi(experimentClient, trackingV1.ExperimentServiceService, trackingV1),
    runs: unaryApi(runClient, trackingV1.RunServiceService, trackingV1),
    artifacts: unaryApi(artifactClient, trackingV1.ArtifactServiceService, trackingV1),
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
export { grpcFailure as failure } from '@cairn/testing';

/** Parsed event payloads of one type. */
export function eventsOf(
  events: IncomingMessage[],
  type: string,
): Array<{ id: string; data: Record<string, unknown> }> {
  return events
    .map((m) => JSON.parse(m.value) as { id: string; type: string; data: Record<string, unknown> })
    .filter((e) => e.type === type);
}
