/**
 * `npm run bench:gateway`: the gateway in front of the tracking service, both as they run in
 * production (built, each in its own process, on embedded Postgres), driven over gRPC from this
 * process with the bootstrap admin's API key (`authorization: Bearer cairn_…`, the key the
 * gateway prints on its first start). Prints one `name: value unit` line per figure:
 *
 * - metric ingestion through the gateway: RunService.StreamMetrics (1,000 points per message,
 *   several concurrent streams, one run each) and unary LogBatch (1,000 metrics per call, as
 *   many concurrent callers), each also straight to tracking for comparison;
 * - the gateway's added latency per unary call: RunService.GetRun and
 *   ExperimentService.GetExperiment, p50/p99 straight to tracking (with an identity token
 *   signed by the gateway's key, as the gateway sends) and through the gateway, the two
 *   interleaved call by call after a warm-up, and the difference of each percentile.
 *
 * The gateway's per-principal rate limit is raised for the run: the figures measure the
 * gateway's work per call, not its limiter refusing a benchmark.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { trackingV1 } from '@cairn/proto';
import {
  createTestDatabase,
  freePort,
  grpcHealthCheck,
  startRunPostgres,
  stopRunPostgres,
  testIdentity,
  unaryApi,
  type UnaryApi,
  waitFor,
  writeAllThenEnd,
} from '@cairn/testing';

const STREAMS = 4;
const MESSAGES_PER_STREAM = 100;
const POINTS_PER_MESSAGE = 1_000;
const BATCH_CALLERS = 4;
const BATCHES_PER_CALLER = 25;
const METRICS_PER_BATCH = 1_000;
const LATENCY_WARMUP = 200;
const LATENCY_SAMPLES = 2_000;
/** The gateway whose identity tokens tracking trusts: its key signs the direct calls' tokens too. */
const GATEWAY = testIdentity();
const ADMIN_MESSAGE = 'cairn admin credentials created';

function print(name: string, value: number, unit: string): void {
  console.log(`${name}: ${value} ${unit}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

interface Service {
  name: string;
  child: ChildProcess;
  address: string;
  output: string[];
  stop(): Promise<void>;
}

/** Starts dist/apps/<name>/src/main.js and waits until its gRPC health check says SERVING. */
async function startService(name: string, env: Record<string, string>): Promise<Service> {
  const prefix = `CAIRN_${name.toUpperCase()}`;
  const grpcPort = await freePort();
  const child = spawn(process.execPath, [`dist/apps/${name}/src/main.js`], {
    env: {
      ...process.env,
      ...env,
      [`${prefix}_GRPC_PORT`]: String(grpcPort),
      [`${prefix}_HTTP_PORT`]: String(await freePort()),
      CAIRN_BIND_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Kept for a failure; the gateway's first lines also carry the admin's API key.
  const output: string[] = [];
  const collect = (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const address = `127.0.0.1:${grpcPort}`;
  try {
    await waitFor(
      `the ${name} service`,
      async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
        return (await grpcHealthCheck(address).catch(() => '')) === 'SERVING' ? true : undefined;
      },
      60_000,
      100,
    );
  } catch (err) {
    console.error(output.slice(-40).join('\n'));
    child.kill('SIGKILL');
    throw err;
  }
  return {
    name,
    child,
    address,
    output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface Target {
  runsClient: trackingV1.RunServiceClient;
  experimentsClient: trackingV1.ExperimentServiceClient;
  metadata: () => Promise<Metadata>;
  runs: UnaryApi<trackingV1.RunServiceServer>;
  experiments: UnaryApi<trackingV1.ExperimentServiceServer>;
  close(): void;
}

function target(address: string, metadata: () => Promise<Metadata>): Target {
  const runsClient = new trackingV1.RunServiceClient(address, credentials.createInsecure());
  const experimentsClient = new trackingV1.ExperimentServiceClient(address, credentials.createInsecure());
  return {
    runsClient,
    experimentsClient,
    metadata,
    runs: unaryApi(runsClient, trackingV1.RunServiceService, trackingV1, metadata),
    experiments: unaryApi(experimentsClient, trackingV1.ExperimentServiceService, trackingV1, metadata),
    close: () => {
      runsClient.close();
      experimentsClient.close();
    },
  };
}

function metricBatch(m: number, size: number): trackingV1.Metric[] {
  return Array.from({ length: size }, (_, j) => ({
    key: `m${j % 10}`,
    value: Math.random(),
    timestamp: 1_700_000_000_000 + m,
    step: m * size + j,
  }));
}

/** One StreamMetrics call of MESSAGES_PER_STREAM messages, written with back-pressure. */
async function streamOnce(t: Target, runId: string): Promise<number> {
  // Built up front: the figure is the servers' rate, not this process building messages.
  const prepared = Array.from({ length: 10 }, (_, i) => ({
    runId,
    metrics: metricBatch(i, POINTS_PER_MESSAGE),
  }));
  const md = await t.metadata();
  const res = await new Promise<trackingV1.StreamMetricsResponse>((resolve, reject) => {
    const stream = t.runsClient.streamMetrics(md, { deadline: Date.now() + 600_000 }, (err, r) =>
      err ? reject(err) : resolve(r),
    );
    writeAllThenEnd(stream, MESSAGES_PER_STREAM, (i) => prepared[i % prepared.length]);
  });
  return res.pointsLogged;
}

async function newRuns(t: Target, experimentId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await t.runs.createRun({ experimentId })).run!.info!.runId);
  return ids;
}

/** Points per second over STREAMS concurrent StreamMetrics calls, one run each. */
async function benchStream(t: Target, experimentId: string): Promise<number> {
  const runIds = await newRuns(t, experimentId, STREAMS);
  const started = process.hrtime.bigint();
  const logged = await Promise.all(runIds.map((id) => streamOnce(t, id)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const expected = STREAMS * MESSAGES_PER_STREAM * POINTS_PER_MESSAGE;
  const total = logged.reduce((a, b) => a + b, 0);
  if (total !== expected) throw new Error(`StreamMetrics logged ${total} of ${expected} points`);
  return expected / seconds;
}

/** Points per second over BATCH_CALLERS concurrent callers of LogBatch, one run each. */
async function benchLogBatch(t: Target, experimentId: string): Promise<number> {
  const runIds = await newRuns(t, experimentId, BATCH_CALLERS);
  const prepared = Array.from({ length: 10 }, (_, i) => metricBatch(i, METRICS_PER_BATCH));
  const started = process.hrtime.bigint();
  await Promise.all(
    runIds.map(async (runId) => {
      for (let i = 0; i < BATCHES_PER_CALLER; i++) {
        await t.runs.logBatch({ runId, metrics: prepared[i % prepared.length] });
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const points = BATCH_CALLERS * BATCHES_PER_CALLER * METRICS_PER_BATCH;
  const { metrics } = await t.runs.getMetricHistory({ runId: runIds[0], metricKey: 'm0' });
  if (metrics.length !== BATCHES_PER_CALLER * (METRICS_PER_BATCH / 10)) {
    throw new Error(`LogBatch left ${metrics.length} points of m0 on one run`);
  }
  return points / seconds;
}

interface Percentiles {
  p50: number;
  p99: number;
}

/**
 * The same call straight to tracking and through the gateway, alternating which goes first,
 * so that both see the same machine, caches and Postgres: p50/p99 of each in milliseconds.
 */
async function benchLatency(
  direct: () => Promise<unknown>,
  viaGateway: () => Promise<unknown>,
): Promise<{ direct: Percentiles; gateway: Percentiles }> {
  const samples = { direct: [] as number[], gateway: [] as number[] };
  const time = async (call: () => Promise<unknown>, into: number[] | undefined) => {
    const started = process.hrtime.bigint();
    await call();
    into?.push(Number(process.hrtime.bigint() - started) / 1e6);
  };
  for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i++) {
    const warm = i < LATENCY_WARMUP;
    const order: Array<[() => Promise<unknown>, number[]]> = [
      [direct, samples.direct],
      [viaGateway, samples.gateway],
    ];
    if (i % 2) order.reverse();
    for (const [call, into] of order) await time(call, warm ? undefined : into);
  }
  const stats = (xs: number[]): Percentiles => {
    const sorted = [...xs].sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  };
  return { direct: stats(samples.direct), gateway: stats(samples.gateway) };
}

function printLatency(call: string, r: { direct: Percentiles; gateway: Percentiles }): void {
  print(`gateway.${call}.direct_p50`, round(r.direct.p50, 3), 'ms');
  print(`gateway.${call}.direct_p99`, round(r.direct.p99, 3), 'ms');
  print(`gateway.${call}.via_gateway_p50`, round(r.gateway.p50, 3), 'ms');
  print(`gateway.${call}.via_gateway_p99`, round(r.gateway.p99, 3), 'ms');
  print(`gateway.${call}.added_p50`, round(r.gateway.p50 - r.direct.p50, 3), 'ms');
  print(`gateway.${call}.added_p99`, round(r.gateway.p99 - r.direct.p99, 3), 'ms');
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  await startRunPostgres();
  // One database, as `npm start` has: each service its own schema, the event bus shared.
  const db = await createTestDatabase('bench_gateway');
  const artifactRoot = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-gateway-'));
  const services: Service[] = [];
  const targets: Target[] = [];
  try {
    const common = { DATABASE_URL: db.url, CAIRN_ARTIFACT_ROOT: artifactRoot, ...GATEWAY.env };
    const tracking = await startService('tracking', common);
    services.push(tracking);
    const gateway = await startService('gateway', {
      ...common,
      ...GATEWAY.signingEnv,
      CAIRN_GATEWAY_TRACKING_ADDRESS: tracking.address,
      // Not started: nothing here is forwarded to the registry.
      CAIRN_GATEWAY_REGISTRY_ADDRESS: `127.0.0.1:${await freePort()}`,
      CAIRN_GATEWAY_RATE_LIMIT_PER_SECOND: '1000000',
      CAIRN_GATEWAY_RATE_LIMIT_BURST: '1000000',
    });
    services.push(gateway);
    const apiKey = await waitFor(
      "the gateway's admin API key",
      () => /"adminApiKey":"([^"]+)"/.exec(gateway.output.find((l) => l.includes(ADMIN_MESSAGE)) ?? '')?.[1],
      30_000,
      50,
    );

    const viaGateway = target(gateway.address, () => {
      const md = new Metadata();
      md.set('authorization', `Bearer ${apiKey}`);
      return Promise.resolve(md);
    });
    // What the gateway sends for the admin: a token for tracking, reused until near expiry.
    const direct = target(tracking.address, () =>
      GATEWAY.metadata({ principal: 'user:admin', roles: ['admin'], audience: 'tracking' }),
    );
    targets.push(viaGateway, direct);
    const { experimentId } = await viaGateway.experiments.createExperiment({ name: 'bench-gateway' });

    print(
      'gateway.stream_metrics_via_gateway',
      Math.round(await benchStream(viaGateway, experimentId)),
      'points/s',
    );
    print('gateway.stream_metrics_direct', Math.round(await benchStream(direct, experimentId)), 'points/s');
    print(
      'gateway.log_batch_via_gateway',
      Math.round(await benchLogBatch(viaGateway, experimentId)),
      'points/s',
    );
    print('gateway.log_batch_direct', Math.round(await benchLogBatch(direct, experimentId)), 'points/s');

    // A run as a training script leaves it: a few params, tags and latest metrics.
    const { run } = await viaGateway.runs.createRun({ experimentId, runName: 'latency' });
    const runId = run!.info!.runId;
    await viaGateway.runs.logBatch({
      runId,
      params: Array.from({ length: 10 }, (_, i) => ({ key: `p${i}`, value: String(i) })),
      metrics: Array.from({ length: 10 }, (_, i) => ({ key: `m${i}`, value: i, timestamp: 1, step: 0 })),
      tags: [{ key: 'team', value: 'bench' }],
    });
    printLatency(
      'get_run',
      await benchLatency(
        () => direct.runs.getRun({ runId }),
        () => viaGateway.runs.getRun({ runId }),
      ),
    );
    printLatency(
      'get_experiment',
      await benchLatency(
        () => direct.experiments.getExperiment({ experimentId }),
        () => viaGateway.experiments.getExperiment({ experimentId }),
      ),
    );
  } finally {
    for (const t of targets) t.close();
    // The gateway first, as Ctrl-C on `npm start` does: it drains before its upstream goes.
    for (const s of [...services].reverse()) await s.stop();
    await db.drop();
    await rm(artifactRoot, { recursive: true, force: true });
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
