import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata } from '@grpc/grpc-js';
import { registryV1, trackingV1 } from '@cairn/proto';
import { unaryApi } from '@cairn/testing';
import { type PlatformUnderTest, startPlatform } from './platform';

/*
 * examples/python-training as its README has a user run it: a venv with its requirements from
 * the package index pip is configured with, the client generated from proto/ with grpcio-tools,
 * and train.py against the platform started with `npm start`, authenticated with the admin API
 * key the gateway prints on the first start. What the script reports is then checked through
 * the gateway: the run, its params, metric histories and artifacts, the registered version and
 * the pending request to promote it.
 */

jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, '../../..');
const EXAMPLE = path.join(ROOT, 'examples/python-training');
const EPOCHS = 6;
const MODEL = 'python-example-classifier';
const METRICS = ['train_loss', 'val_loss', 'train_accuracy', 'val_accuracy'];

let work: string;
let starting: Promise<PlatformUnderTest> | undefined;
let started: PlatformUnderTest;
const clients: Array<{ close(): void }> = [];

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`), keeping what it printed. */
function run(
  command: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function succeed(what: string, result: Promise<Finished>): Promise<Finished> {
  const r = await result;
  if (r.code !== 0) {
    throw new Error(`${what} exited with ${r.code}:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  }
  return r;
}

/** A venv with the example's requirements and its generated client, in a copy of the example. */
async function prepareExample(dir: string): Promise<string> {
  await cp(EXAMPLE, dir, {
    recursive: true,
    // What a developer may have left in the example: never what is tested.
    filter: (src) => !/[/\\](\.venv|gen|__pycache__)$/.test(src),
  });
  const venv = path.join(dir, '.venv');
  await succeed(
    'python3 -m venv (on Debian, the python3-venv package provides it)',
    run('python3', ['-m', 'venv', venv], { cwd: dir, timeoutMs: 120_000 }),
  );
  await succeed(
    'pip install -r requirements.txt',
    run(path.join(venv, 'bin/pip'), ['install', '-q', '-r', 'requirements.txt'], {
      cwd: dir,
      // Where the default index is unreachable and a mirror serves the packages, each retry of
      // the unreachable one only backs off; the mirror answers at once.
      env: { PIP_RETRIES: process.env.PIP_RETRIES ?? '0' },
      timeoutMs: 420_000,
    }),
  );
  const python = path.join(venv, 'bin/python');
  await succeed(
    'generate.py',
    run(python, ['generate.py', '--proto-dir', path.join(ROOT, 'proto')], { cwd: dir, timeoutMs: 120_000 }),
  );
  return python;
}

function gateway(apiKey: string) {
  const address = started.gatewayAddress;
  const creds = credentials.createInsecure();
  const metadata = () => {
    const m = new Metadata();
    m.set('authorization', `Bearer ${apiKey}`);
    return m;
  };
  const runs = new trackingV1.RunServiceClient(address, creds);
  const artifacts = new trackingV1.ArtifactServiceClient(address, creds);
  const models = new registryV1.ModelRegistryServiceClient(address, creds);
  const governance = new registryV1.GovernanceServiceClient(address, creds);
  clients.push(runs, artifacts, models, governance);
  return {
    runs: unaryApi<trackingV1.RunServiceServer>(runs, trackingV1.RunServiceService, trackingV1, metadata),
    artifacts: unaryApi<trackingV1.ArtifactServiceServer>(
      artifacts,
      trackingV1.ArtifactServiceService,
      trackingV1,
      metadata,
    ),
    models: unaryApi<registryV1.ModelRegistryServiceServer>(
      models,
      registryV1.ModelRegistryServiceService,
      registryV1,
      metadata,
    ),
    governance: unaryApi<registryV1.GovernanceServiceServer>(
      governance,
      registryV1.GovernanceServiceService,
      registryV1,
      metadata,
    ),
    /** DownloadArtifact's stream: the size it announced first, and the bytes that followed. */
    download: (runId: string, file: string) =>
      new Promise<{ announced: number; bytes: Buffer }>((resolve, reject) => {
        const call = artifacts.downloadArtifact({ runId, path: file }, metadata(), {
          deadline: Date.now() + 30_000,
        });
        let announced = -1;
        const chunks: Buffer[] = [];
        call.on('data', (res: trackingV1.DownloadArtifactResponse) => {
          if (res.part?.$case === 'size') announced = res.part.value;
          if (res.part?.$case === 'chunk') chunks.push(Buffer.from(res.part.value));
        });
        call.once('error', reject);
        call.once('end', () => resolve({ announced, bytes: Buffer.concat(chunks) }));
      }),
  };
}

interface TrainResult {
  run_id: string;
  experiment_id: string;
  model_name: string;
  version: string;
  transition_request_id: string;
  transition_status: string;
}

let python: string;
let apiKey: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'cairn-python-example-'));
  // The venv is built while the platform starts.
  starting = startPlatform('python-example-e2e');
  [python, started] = await Promise.all([prepareExample(path.join(work, 'python-training')), starting]);
  // As a user finds it: the key the gateway shows once on the first start.
  apiKey = started.adminApiKey();
  expect(apiKey).toMatch(/^cairn_/);
});

afterAll(async () => {
  for (const c of clients) c.close();
  // Stopped even when the venv failed while the platform was still starting.
  await starting?.then(
    (p) => p.stop(),
    () => undefined,
  );
  if (work) await rm(work, { recursive: true, force: true });
});

describe('examples/python-training against the platform started with npm start', () => {
  let result: TrainResult;
  let api: ReturnType<typeof gateway>;

  it('trains, records the run, registers a version and requests its promotion, printing what it did', async () => {
    const trained = await succeed(
      'train.py',
      run(python, ['train.py', '--epochs', String(EPOCHS), '--model-name', MODEL], {
        cwd: path.join(work, 'python-training'),
        env: {
          CAIRN_ADDRESS: started.gatewayAddress,
          CAIRN_API_KEY: apiKey,
          CAIRN_PROTO_DIR: path.join(ROOT, 'proto'),
        },
        timeoutMs: 300_000,
      }),
    );
    const lines = trained.stdout.trim().split('\n');
    result = JSON.parse(lines[lines.length - 1]) as TrainResult;
    expect(result).toMatchObject({ model_name: MODEL, version: '1', transition_status: 'PENDING' });
    expect(trained.stdout).toContain(result.run_id);
    expect(trained.stdout).toContain(result.transition_request_id);
    api = gateway(apiKey);
  });

  it('left a FINISHED run with its params, dataset input and one metric point per epoch', async () => {
    const { run: recorded } = await api.runs.getRun({ runId: result.run_id });
    expect(recorded!.info).toMatchObject({
      experimentId: result.experiment_id,
      status: trackingV1.RunStatus.RUN_STATUS_FINISHED,
      // The gateway's authenticated caller (the admin's API key), not what the client says.
      userId: 'admin',
    });
    expect(recorded!.info!.endTime).toBeGreaterThanOrEqual(recorded!.info!.startTime);
    expect(recorded!.data!.params).toEqual(
      expect.arrayContaining([
        { key: 'epochs', value: String(EPOCHS) },
        { key: 'model', value: 'SGDClassifier' },
        { key: 'dataset', value: 'sklearn-breast-cancer' },
      ]),
    );
    expect(recorded!.inputs!.datasetInputs.map((d) => d.dataset!.name)).toEqual(['sklearn-breast-cancer']);
    for (const key of METRICS) {
      const { metrics } = await api.runs.getMetricHistory({ runId: result.run_id, metricKey: key });
      expect({ key, steps: metrics.map((m) => m.step) }).toEqual({
        key,
        steps: Array.from({ length: EPOCHS }, (_, epoch) => epoch),
      });
      for (const m of metrics) expect(Number.isFinite(m.value)).toBe(true);
    }
    const accuracy = recorded!.data!.metrics.find((m) => m.key === 'val_accuracy');
    expect(accuracy!.value).toBeGreaterThan(0.8);
  });

  it('uploaded the model as artifacts that download whole', async () => {
    const { files } = await api.artifacts.listArtifacts({ runId: result.run_id, path: 'model' });
    expect(files.map((f) => f.path).sort()).toEqual([
      'model/MLmodel',
      'model/model.pkl',
      'model/requirements.txt',
    ]);
    for (const file of files) {
      const { announced, bytes } = await api.download(result.run_id, file.path);
      expect({ file: file.path, announced, downloaded: bytes.length }).toEqual({
        file: file.path,
        announced: file.fileSize,
        downloaded: file.fileSize,
      });
      expect(bytes.length).toBeGreaterThan(0);
    }
    const mlmodel = (await api.download(result.run_id, 'model/MLmodel')).bytes.toString();
    expect(mlmodel).toContain(`run_id: ${result.run_id}`);
    expect(mlmodel).toContain('pickled_model: model.pkl');
  });

  it('registered a READY version from runs:/<run>/model with a pending request to Production', async () => {
    const { modelVersion } = await api.models.getModelVersion({ name: MODEL, version: result.version });
    expect(modelVersion).toMatchObject({
      source: `runs:/${result.run_id}/model`,
      runId: result.run_id,
      status: registryV1.ModelVersionStatus.MODEL_VERSION_STATUS_READY,
      currentStage: registryV1.Stage.STAGE_NONE,
    });
    expect(modelVersion!.artifactDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const { requests } = await api.governance.listTransitionRequests({
      name: MODEL,
      status: registryV1.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_PENDING,
    });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      requestId: result.transition_request_id,
      version: result.version,
      to: { target: { $case: 'stage', value: registryV1.Stage.STAGE_PRODUCTION } },
      requestedBy: 'user:admin',
    });
  });

  it('is visible through the cairn CLI: the run, its metrics, its artifacts, the version and the request', async () => {
    const cli = async <T>(...args: string[]): Promise<T> => {
      const r = await succeed(
        `cairn ${args.join(' ')}`,
        run(process.execPath, [path.join(ROOT, 'dist/tools/cli/src/main.js'), ...args, '--json'], {
          cwd: ROOT,
          env: {
            CAIRN_ADDRESS: started.gatewayAddress,
            CAIRN_API_KEY: apiKey,
            CAIRN_CONFIG: path.join(work, 'cli.json'),
          },
          timeoutMs: 60_000,
        }),
      );
      return JSON.parse(r.stdout) as T;
    };
    const shown = await cli<{
      info: { runId: string; status: string; experimentId: string };
      data: { params: Array<{ key: string; value: string }>; metrics: Array<{ key: string; step: number }> };
    }>('runs', 'show', result.run_id);
    expect(shown.info).toMatchObject({
      runId: result.run_id,
      status: 'FINISHED',
      experimentId: result.experiment_id,
    });
    expect(shown.data.params).toContainEqual({ key: 'epochs', value: String(EPOCHS) });
    for (const key of METRICS) {
      expect(shown.data.metrics).toContainEqual(expect.objectContaining({ key, step: EPOCHS - 1 }));
    }
    const artifacts = await cli<{ files: Array<{ path: string }> }>(
      'runs',
      'artifacts',
      result.run_id,
      'model',
    );
    expect(artifacts.files.map((f) => f.path)).toContain('model/model.pkl');
    const versions = await cli<Array<{ version: string; status: string; runId: string }>>(
      'models',
      'versions',
      MODEL,
    );
    expect(versions).toContainEqual(
      expect.objectContaining({ version: result.version, status: 'READY', runId: result.run_id }),
    );
    const requests = await cli<Array<{ requestId: string; status: string }>>(
      'models',
      'requests',
      '--model',
      MODEL,
    );
    expect(requests).toContainEqual(
      expect.objectContaining({ requestId: result.transition_request_id, status: 'PENDING' }),
    );
  });
});
