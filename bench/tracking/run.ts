/**
 * `npm run bench:tracking`: the tracking service as it runs in production (built, in its own
 * process, on embedded Postgres), driven over gRPC from this process. Prints one
 * `name: value unit` line per figure. Targets (issue 4, 2 cores): metric ingestion through
 * StreamMetrics >= 150,000 points/s; SearchRuns p99 < 100 ms over 100,000 runs with 20 metrics
 * and 10 params each, for a three-clause filter with order_by; GetMetricHistory of a
 * 100,000-point metric < 200 ms.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { Client } from 'pg';
import { trackingV1 } from '@cairn/proto';
import {
  createTestDatabase,
  freePort,
  grpcHealthCheck,
  startRunPostgres,
  stopRunPostgres,
  waitFor,
  writeAllThenEnd,
} from '@cairn/testing';

const RUNS = 100_000;
const METRICS_PER_RUN = 20;
const PARAMS_PER_RUN = 10;
const STREAM_POINTS = 2_000_000;
const POINTS_PER_MESSAGE = 1_000;
const HISTORY_POINTS = 100_000;
const SEARCH_SAMPLES = 200;

function print(name: string, value: number, unit: string): void {
  console.log(`${name}: ${value} ${unit}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

type Clients = {
  experiments: trackingV1.ExperimentServiceClient;
  runs: trackingV1.RunServiceClient;
};

function call<Req, Res>(
  fn: (
    req: Req,
    md: Metadata,
    opts: { deadline: number },
    cb: (err: Error | null, res: Res) => void,
  ) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn(req, new Metadata(), { deadline: Date.now() + 120_000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

async function startService(
  databaseUrl: string,
): Promise<{ address: string; child: ChildProcess; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-bench-tracking-'));
  const grpcPort = await freePort();
  const child = spawn(process.execPath, ['dist/apps/tracking/src/main.js'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      CAIRN_TRACKING_GRPC_PORT: String(grpcPort),
      CAIRN_TRACKING_HTTP_PORT: String(await freePort()),
      CAIRN_BIND_HOST: '127.0.0.1',
      CAIRN_ARTIFACT_ROOT: dir,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const address = `127.0.0.1:${grpcPort}`;
  await waitFor(
    'the tracking service',
    async () => ((await grpcHealthCheck(address).catch(() => '')) === 'SERVING' ? true : undefined),
    60_000,
    100,
  );
  return { address, child, dir };
}

async function benchIngest(c: Clients, runId: string): Promise<number> {
  const messages = STREAM_POINTS / POINTS_PER_MESSAGE;
  const batch = (m: number): trackingV1.StreamMetricsRequest => ({
    runId,
    metrics: Array.from({ length: POINTS_PER_MESSAGE }, (_, j) => ({
      key: `m${j % 10}`,
      value: Math.random(),
      timestamp: 1_700_000_000_000 + m,
      step: m * POINTS_PER_MESSAGE + j,
    })),
  });
  // Encode once, up front: the figure is the server's ingestion rate, not the client's encoder.
  const prepared = Array.from({ length: 20 }, (_, i) => batch(i));
  const started = process.hrtime.bigint();
  const res = await new Promise<trackingV1.StreamMetricsResponse>((resolve, reject) => {
    const stream = c.runs.streamMetrics(new Metadata(), { deadline: Date.now() + 600_000 }, (err, r) =>
      err ? reject(err) : resolve(r),
    );
    writeAllThenEnd(stream, messages, (i) => prepared[i % prepared.length]);
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.pointsLogged !== STREAM_POINTS)
    throw new Error(`ingested ${res.pointsLogged} of ${STREAM_POINTS} points`);
  return STREAM_POINTS / seconds;
}

/**
 * 100,000 runs with 20 latest metrics and 10 params each, written straight into the schema.
 * The physical order follows how a client writes: a run's params arrive together (one
 * log_batch), while latest metric values are rewritten as training goes and the table
 * interleaves runs, so each run's metric rows are spread over the heap (the worst case).
 */
async function seedRuns(pg: Client, experimentId: string): Promise<void> {
  await pg.query(
    `INSERT INTO tracking.runs (run_id, experiment_id, run_name, user_id, status, start_time, end_time, artifact_uri)
     SELECT md5('bench' || g), $1, 'run-' || g, 'bench', (ARRAY['FINISHED','FAILED','RUNNING','KILLED'])[1 + floor(random() * 4)::int],
            1700000000000 + g, 1700000000000 + g + 1000, 'file:///bench/' || g
       FROM generate_series(1, $2) g`,
    [experimentId, RUNS],
  );
  await pg.query(
    `INSERT INTO tracking.latest_metrics (run_id, key, value, timestamp, step)
     SELECT md5('bench' || g), 'm' || k, random(), 1700000000000, 10
       FROM generate_series(1, $1) g, generate_series(0, $2 - 1) k ORDER BY k, g`,
    [RUNS, METRICS_PER_RUN],
  );
  await pg.query(
    `INSERT INTO tracking.params (run_id, key, value)
     SELECT md5('bench' || g), 'p' || k, 'v' || floor(random() * 10)::int
       FROM generate_series(1, $1) g, generate_series(0, $2 - 1) k ORDER BY g, k`,
    [RUNS, PARAMS_PER_RUN],
  );
  await pg.query(
    `INSERT INTO tracking.run_tags (run_id, key, value)
     SELECT md5('bench' || g), 'mlflow.runName', 'run-' || g FROM generate_series(1, $1) g`,
    [RUNS],
  );
  // What autovacuum does after a bulk load (statistics, visibility map), done now rather than
  // whenever its next cycle comes round.
  await pg.query('VACUUM ANALYZE tracking.runs, tracking.latest_metrics, tracking.params, tracking.run_tags');
}

async function benchSearch(
  c: Clients,
  experimentId: string,
  maxResults: number,
): Promise<{ p50: number; p99: number; rows: number }> {
  const latencies: number[] = [];
  let rows = 0;
  for (let i = 0; i < SEARCH_SAMPLES + 10; i++) {
    const threshold = round(0.5 + (i % 40) / 100, 2);
    const req: trackingV1.SearchRunsRequest = {
      experimentIds: [experimentId],
      filter: `metrics.m3 > ${threshold} AND params.p2 = 'v${i % 10}' AND attributes.status = 'FINISHED'`,
      orderBy: ['metrics.m7 DESC'],
      runViewType: trackingV1.ViewType.VIEW_TYPE_ACTIVE_ONLY,
      maxResults,
      pageToken: '',
    };
    const started = process.hrtime.bigint();
    const res = await call(c.runs.searchRuns.bind(c.runs), req);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (i >= 10) {
      latencies.push(ms); // the first ten warm the caches and the plan
      rows += res.runs.length;
    }
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), rows: rows / SEARCH_SAMPLES };
}

async function benchHistory(
  c: Clients,
  runId: string,
  columnar: boolean,
): Promise<{ p50: number; p99: number }> {
  const latencies: number[] = [];
  for (let i = 0; i < 105; i++) {
    const started = process.hrtime.bigint();
    const res = await call(c.runs.getMetricHistory.bind(c.runs), {
      runId,
      metricKey: 'loss',
      pageToken: '',
      columnar,
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const points = columnar ? (res.series?.values.length ?? 0) : res.metrics.length;
    if (points !== HISTORY_POINTS) throw new Error(`history has ${points} points`);
    if (i >= 5) latencies.push(ms);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function main(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  await startRunPostgres();
  const db = await createTestDatabase('bench_tracking');
  const svc = await startService(db.url);
  const creds = credentials.createInsecure();
  const opts = { 'grpc.max_receive_message_length': 256 * 1024 * 1024 };
  const c: Clients = {
    experiments: new trackingV1.ExperimentServiceClient(svc.address, creds, opts),
    runs: new trackingV1.RunServiceClient(svc.address, creds, opts),
  };
  const pg = new Client({ connectionString: db.url });
  await pg.connect();
  try {
    const ingestExp = await call(c.experiments.createExperiment.bind(c.experiments), {
      name: 'ingest',
      tags: [],
    });
    const ingestRun = await call(c.runs.createRun.bind(c.runs), {
      experimentId: ingestExp.experimentId,
      userId: 'bench',
      tags: [],
    });
    const pointsPerSecond = await benchIngest(c, ingestRun.run!.info!.runId);
    print('tracking.stream_metrics.ingest', Math.round(pointsPerSecond), 'points/s');

    const historyRun = await call(c.runs.createRun.bind(c.runs), {
      experimentId: ingestExp.experimentId,
      userId: 'bench',
      tags: [],
    });
    const historyRunId = historyRun.run!.info!.runId;
    await pg.query(
      `INSERT INTO tracking.metrics (run_id, key, value, timestamp, step)
       SELECT $1, 'loss', random(), 1700000000000 + g, g FROM generate_series(1, $2) g`,
      [historyRunId, HISTORY_POINTS],
    );
    await pg.query('VACUUM ANALYZE tracking.metrics'); // as autovacuum would after the load
    for (const columnar of [false, true]) {
      const history = await benchHistory(c, historyRunId, columnar);
      const form = columnar ? 'columnar' : 'messages';
      print(`tracking.get_metric_history_100k_points.${form}.p50`, round(history.p50), 'ms');
      print(`tracking.get_metric_history_100k_points.${form}.p99`, round(history.p99), 'ms');
    }

    const searchExp = await call(c.experiments.createExperiment.bind(c.experiments), {
      name: 'search',
      tags: [],
    });
    await seedRuns(pg, searchExp.experimentId);
    for (const maxResults of [100, 1000]) {
      const s = await benchSearch(c, searchExp.experimentId, maxResults);
      print(
        `tracking.search_runs_100k_runs_3_clauses_order_by.max_results_${maxResults}.p50`,
        round(s.p50),
        'ms',
      );
      print(
        `tracking.search_runs_100k_runs_3_clauses_order_by.max_results_${maxResults}.p99`,
        round(s.p99),
        'ms',
      );
      print(
        `tracking.search_runs_100k_runs_3_clauses_order_by.max_results_${maxResults}.runs_per_page`,
        Math.round(s.rows),
        'runs',
      );
    }
  } finally {
    await pg.end();
    c.experiments.close();
    c.runs.close();
    const exited = new Promise((r) => svc.child.once('exit', r));
    svc.child.kill('SIGTERM');
    await exited;
    await rm(svc.dir, { recursive: true, force: true });
    await db.drop();
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
