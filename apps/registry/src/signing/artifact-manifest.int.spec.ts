import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { type ArtifactStore, FilesystemArtifactStore, S3ArtifactStore } from '@cairn/artifacts';
import { AppError } from '@cairn/rpc';
import { startS3Server, type S3TestServer } from '@cairn/testing';
import {
  type ArtifactManifest,
  canonicalManifestJson,
  computeManifest,
  manifestDigest,
} from './artifact-manifest';
import { createSigningKeyring } from './signing-keyring';

// A 30 MiB upload to moto goes through multipart; generous, but never a fixed sleep.
jest.setTimeout(120_000);

const BUCKET = 'cairn-manifests';
const MiB = 1024 * 1024;

let s3: S3TestServer;
let fsRoot: string;
const stores: Record<'filesystem' | 's3', ArtifactStore> = {} as Record<'filesystem' | 's3', ArtifactStore>;

beforeAll(async () => {
  fsRoot = await mkdtemp(path.join(os.tmpdir(), 'cairn-manifest-'));
  stores.filesystem = new FilesystemArtifactStore(fsRoot);
  s3 = await startS3Server();
  const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  const admin = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  admin.destroy();
  stores.s3 = new S3ArtifactStore({
    bucket: BUCKET,
    prefix: 'mlruns',
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials,
  });
});

afterAll(async () => {
  await Promise.all(Object.values(stores).map((s) => s.close()));
  await s3?.stop();
  if (fsRoot) await rm(fsRoot, { recursive: true, force: true });
});

/** A model directory as MLflow logs one, with names that sort differently by byte and by UTF-16. */
const MODEL: Record<string, string> = {
  'model/MLmodel': 'artifact_path: model\nflavors:\n  python_function: {}\n',
  'model/conda.yaml': 'dependencies:\n- python=3.11\n',
  'model/data/model.pkl': 'not really a pickle',
  'model/data/weights/layer-0.bin': '\u0000\u0001\u0002',
  'model/requirements.txt': 'scikit-learn==1.5.0\n',
  'model/Zeta.txt': 'upper case sorts first',
  'model/\u00e9t\u00e9.txt': 'non-ASCII name',
  'model/\ud83d\ude00.txt': 'astral-plane name: after U+FFxx by code point, before it by UTF-16 unit',
  'model/\uff41.txt': 'fullwidth a',
  'model/empty.txt': '',
};

/** Polls a condition with a deadline (streams are released asynchronously). */
async function eventually(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function write(store: ArtifactStore, scope: string, files: Record<string, string | Buffer>) {
  for (const [p, content] of Object.entries(files)) {
    const body = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    await store.put(scope, p, Readable.from([body]), { contentLength: body.length });
  }
}

function newScope(): string {
  return `1/${randomUUID().replace(/-/g, '')}/artifacts`;
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected an AppError, got ${String(err)}`);
  return err;
}

/**
 * The expected digest built by hand, independently of `canonicalManifestJson`: the exact
 * bytes an SDK must produce.
 */
function expectedDigest(files: Record<string, string>, prefix: string): string {
  const entries = Object.entries(files)
    .map(([p, content]) => ({ path: p.slice(prefix.length), content }))
    .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
    .map(
      ({ path: p, content }) =>
        `{"path":${JSON.stringify(p)},"sha256":"${sha256(content)}","size":${Buffer.byteLength(content)}}`,
    );
  return `sha256:${sha256(`[${entries.join(',')}]`)}`;
}

const keyring = (() => {
  const { privateKey } = generateKeyPairSync('ed25519');
  return createSigningKeyring({
    CAIRN_REGISTRY_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    CAIRN_REGISTRY_SIGNING_KEY_ID: 'test',
  });
})();

describe('canonical manifest JSON', () => {
  it('is the RFC 8785 form: sorted keys, no whitespace, integers', () => {
    expect(canonicalManifestJson([{ size: 3, sha256: 'ab', path: 'a "b"/\u00e9' }])).toBe(
      '[{"path":"a \\"b\\"/\u00e9","sha256":"ab","size":3}]',
    );
  });
});

const digests: Record<string, string> = {};

describe.each(['filesystem', 's3'] as const)('computeManifest on the %s store', (kind) => {
  let store: ArtifactStore;
  beforeAll(() => {
    store = stores[kind];
  });

  it('hashes every file of a directory, sorted by the UTF-8 bytes of its path', async () => {
    const scope = newScope();
    await write(store, scope, MODEL);
    const manifest = await computeManifest(store, scope, 'model');
    const names = Object.keys(MODEL).map((p) => p.slice('model/'.length));
    expect(manifest.files.map((f) => f.path)).toEqual(
      [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    // Code point order puts the astral-plane name after the fullwidth one.
    expect(manifest.files.map((f) => f.path).slice(-2)).toEqual(['\uff41.txt', '\ud83d\ude00.txt']);
    for (const file of manifest.files) {
      const content = MODEL[`model/${file.path}`];
      expect(file).toEqual({ path: file.path, size: Buffer.byteLength(content), sha256: sha256(content) });
    }
    expect(manifest.digest).toBe(expectedDigest(MODEL, 'model/'));
    expect(manifest.digest).toBe(manifestDigest(manifest.files));
    // Where the model lives does not matter; a trailing slash does not either.
    expect((await computeManifest(store, scope, 'model/')).digest).toBe(manifest.digest);
    digests[kind] = manifest.digest;
  });

  it('hashes a whole scope when the path is empty', async () => {
    const scope = newScope();
    await write(store, scope, { 'a.txt': 'a', 'sub/b.txt': 'b' });
    const manifest = await computeManifest(store, scope, '');
    expect(manifest.files.map((f) => f.path)).toEqual(['a.txt', 'sub/b.txt']);
  });

  it('names a single-file model by its file name alone', async () => {
    const scope = newScope();
    await write(store, scope, { 'exports/fraud/model.onnx': 'onnx bytes' });
    const manifest = await computeManifest(store, scope, 'exports/fraud/model.onnx');
    expect(manifest.files).toEqual([{ path: 'model.onnx', size: 10, sha256: sha256('onnx bytes') }]);
  });

  it('refuses an empty location with MODEL_ARTIFACT_EMPTY', async () => {
    const scope = newScope();
    await write(store, scope, { 'other/file.txt': 'x' });
    const err = await rejection(computeManifest(store, scope, 'model'));
    expect(err.reason).toBe('MODEL_ARTIFACT_EMPTY');
    expect(err.details).toEqual({ scope, path: 'model' });
    expect((await rejection(computeManifest(store, newScope(), ''))).reason).toBe('MODEL_ARTIFACT_EMPTY');
  });

  it('refuses more files than the limit with MODEL_ARTIFACT_TOO_MANY_FILES', async () => {
    const scope = newScope();
    await write(store, scope, { 'm/a': '1', 'm/b': '2', 'm/sub/c': '3' });
    expect((await computeManifest(store, scope, 'm', { maxFiles: 3 })).files).toHaveLength(3);
    const err = await rejection(computeManifest(store, scope, 'm', { maxFiles: 2 }));
    expect(err.reason).toBe('MODEL_ARTIFACT_TOO_MANY_FILES');
    expect(err.details.limit).toBe('2');
  });

  describe('changes since signing', () => {
    let scope: string;
    let recorded: ArtifactManifest;
    beforeEach(async () => {
      scope = newScope();
      await write(store, scope, MODEL);
      recorded = await computeManifest(store, scope, 'model');
    });

    async function check(): Promise<{ manifest: ArtifactManifest; verdict: unknown; digestOnly: unknown }> {
      const signature = keyring.sign(recorded.digest);
      const manifest = await computeManifest(store, scope, 'model');
      return {
        manifest,
        verdict: await keyring.verifyArtifact(store, scope, 'model', recorded, signature),
        digestOnly: await keyring.verifyArtifact(store, scope, 'model', recorded.digest, signature),
      };
    }

    it('verifies an unchanged artifact', async () => {
      const { manifest, verdict, digestOnly } = await check();
      expect(manifest.digest).toBe(recorded.digest);
      expect(verdict).toEqual({ ok: true, keyId: 'test', manifest: recorded });
      expect(digestOnly).toMatchObject({ ok: true });
    });

    it('detects one changed byte and names the file', async () => {
      const changed = Buffer.from(MODEL['model/data/model.pkl']);
      changed[0] ^= 0x20;
      await write(store, scope, { 'model/data/model.pkl': changed });
      const { manifest, verdict, digestOnly } = await check();
      expect(manifest.digest).not.toBe(recorded.digest);
      expect(verdict).toMatchObject({
        ok: false,
        reason: 'DIGEST_MISMATCH',
        file: 'data/model.pkl',
        change: 'modified',
        message: expect.stringContaining('data/model.pkl'),
      });
      expect(digestOnly).toMatchObject({ ok: false, reason: 'DIGEST_MISMATCH' });
      expect(digestOnly).not.toHaveProperty('file');
    });

    it('detects an added file and names it', async () => {
      await write(store, scope, { 'model/data/backdoor.py': 'import os' });
      const { manifest, verdict } = await check();
      expect(manifest.digest).not.toBe(recorded.digest);
      expect(verdict).toMatchObject({ reason: 'DIGEST_MISMATCH', file: 'data/backdoor.py', change: 'added' });
    });

    it('detects a removed file and names it', async () => {
      await store.delete(scope, 'model/requirements.txt');
      const { manifest, verdict } = await check();
      expect(manifest.digest).not.toBe(recorded.digest);
      expect(verdict).toMatchObject({
        reason: 'DIGEST_MISMATCH',
        file: 'requirements.txt',
        change: 'removed',
      });
    });

    it('reports a deleted artifact as a mismatch rather than an error', async () => {
      await store.delete(scope, 'model');
      const verdict = await keyring.verifyArtifact(
        store,
        scope,
        'model',
        recorded,
        keyring.sign(recorded.digest),
      );
      expect(verdict).toMatchObject({ ok: false, reason: 'DIGEST_MISMATCH' });
    });

    it('does not trust a recorded file list that does not reproduce the signed digest', async () => {
      await write(store, scope, { 'model/conda.yaml': 'changed' });
      const forged = { ...recorded, files: recorded.files.filter((f) => f.path !== 'MLmodel') };
      const verdict = await keyring.verifyArtifact(
        store,
        scope,
        'model',
        forged,
        keyring.sign(recorded.digest),
      );
      expect(verdict).toMatchObject({ ok: false, reason: 'DIGEST_MISMATCH' });
      expect(verdict).not.toHaveProperty('file');
    });

    it('reports a bad signature before reading the artifact', async () => {
      const reads: string[] = [];
      const spy: ArtifactStore = Object.create(store) as ArtifactStore;
      spy.get = (s, p) => {
        reads.push(p);
        return store.get(s, p);
      };
      const signature = keyring.sign(recorded.digest);
      const verdict = await keyring.verifyArtifact(spy, scope, 'model', recorded, {
        ...signature,
        keyId: 'unknown',
      });
      expect(verdict).toMatchObject({ ok: false, reason: 'UNKNOWN_KEY' });
      expect(reads).toEqual([]);
    });
  });

  it('streams a 30 MiB file through SHA-256 in small chunks', async () => {
    const scope = newScope();
    const size = 30 * MiB;
    // Generated, never held whole: 1 MiB blocks of a deterministic pattern.
    const block = (i: number) => Buffer.alloc(MiB, sha256(`block ${i}`));
    const expected = createHash('sha256');
    for (let i = 0; i < 30; i++) expected.update(block(i));
    await stores[kind].put(
      scope,
      'big/model.bin',
      Readable.from(
        (function* () {
          for (let i = 0; i < 30; i++) yield block(i);
        })(),
      ),
      { contentLength: size },
    );

    const chunks: number[] = [];
    const sources: Readable[] = [];
    let onChunk = () => {};
    const spy: ArtifactStore = Object.create(store) as ArtifactStore;
    spy.get = async (s, p) => {
      const content = await store.get(s, p);
      const source = content.stream;
      sources.push(source);
      const counted = Readable.from(
        (async function* () {
          for await (const chunk of source as AsyncIterable<Buffer>) {
            chunks.push(chunk.length);
            onChunk();
            yield chunk;
          }
        })(),
      );
      return { ...content, stream: counted };
    };

    const manifest = await computeManifest(spy, scope, 'big');
    expect(manifest.files).toEqual([{ path: 'model.bin', size, sha256: expected.digest('hex') }]);
    // The file arrived as many small reads, not as one buffer, and the source was released.
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(size);
    expect(chunks.length).toBeGreaterThan(30);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(MiB);
    await eventually(() => sources.every((r) => r.destroyed));

    // An abort stops the read part-way and releases the source.
    const controller = new AbortController();
    chunks.length = 0;
    sources.length = 0;
    onChunk = () => {
      if (chunks.length === 3) controller.abort(new Error('stop'));
    };
    await expect(computeManifest(spy, scope, 'big', { signal: controller.signal })).rejects.toThrow('stop');
    expect(chunks.reduce((a, b) => a + b, 0)).toBeLessThan(size);
    await eventually(() => sources.every((r) => r.destroyed));
  });
});

describe('across stores', () => {
  it('gives identical content the same digest on the filesystem and on S3', () => {
    expect(digests.filesystem).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(digests.s3).toBe(digests.filesystem);
  });

  it('ignores empty directories on the filesystem (S3 has none)', async () => {
    const scope = newScope();
    await write(stores.filesystem, scope, MODEL);
    await mkdir(path.join(fsRoot, scope, 'model', 'empty-dir', 'deeper'), { recursive: true });
    expect((await computeManifest(stores.filesystem, scope, 'model')).digest).toBe(digests.filesystem);
    const bare = newScope();
    await mkdir(path.join(fsRoot, bare, 'model', 'nothing'), { recursive: true });
    expect((await rejection(computeManifest(stores.filesystem, bare, 'model'))).reason).toBe(
      'MODEL_ARTIFACT_EMPTY',
    );
  });
});
