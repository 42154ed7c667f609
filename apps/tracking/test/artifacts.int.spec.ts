import { createHash, randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { trackingV1 } from '@cairn/proto';
import { REASON_METADATA_KEY } from '@cairn/rpc';
import { type S3TestServer, startS3Server } from '@cairn/testing';
import { failure, startTracking, type TrackingHarness } from './tracking-harness';

/** Hostile artifact paths from MLflow's CVEs (shared/ANCHORS.md, Security). */
jest.setTimeout(120_000);

const TRAVERSAL_CORPUS = [
  '../x',
  '..\\x',
  'a/../../x',
  'a/..',
  '/etc/passwd',
  '\\\\server\\share',
  'C:\\Windows\\win.ini',
  'C:/Windows/win.ini',
  '%2e%2e%2fx',
  '%2E%2E/x',
  '%252e%252e%252fx',
  '..%2fx',
  '..%5cx',
  'a/%2e%2e/%2e%2e/x',
  'x;/../../etc/passwd',
  'model;jsessionid=1',
  'x#/../../etc',
  'x?a=../..',
  'file:///etc/passwd',
  's3://other-bucket/key',
  'http://169.254.169.254/latest',
  'a\u0000b',
  '.%00./x',
];

async function upload(
  h: TrackingHarness,
  runId: string,
  path: string,
  chunks: Buffer[],
  size?: number,
): Promise<trackingV1.UploadArtifactResponse> {
  return new Promise((resolve, reject) => {
    const call = h.artifactClient.uploadArtifact(
      new Metadata(),
      { deadline: Date.now() + 60_000 },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    call.write({
      part: { $case: 'header', value: { runId, path, ...(size === undefined ? {} : { size }) } },
    });
    let i = 0;
    const pump = () => {
      while (i < chunks.length) {
        if (!call.write({ part: { $case: 'chunk', value: chunks[i++] } })) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    pump();
  });
}

async function download(
  h: TrackingHarness,
  runId: string,
  path: string,
): Promise<{ size: number; data: Buffer }> {
  const call = h.artifactClient.downloadArtifact({ runId, path }, { deadline: Date.now() + 60_000 });
  let size = -1;
  const parts: Buffer[] = [];
  for await (const msg of call as AsyncIterable<trackingV1.DownloadArtifactResponse>) {
    if (msg.part?.$case === 'size') size = msg.part.value;
    else if (msg.part?.$case === 'chunk') parts.push(msg.part.value);
  }
  return { size, data: Buffer.concat(parts) };
}

function describeArtifactApi(
  name: string,
  env: () => Promise<{ env: NodeJS.ProcessEnv; stop(): Promise<void> }>,
) {
  describe(`artifact API on the ${name} store`, () => {
    let h: TrackingHarness;
    let cleanup: () => Promise<void>;
    let runId: string;

    beforeAll(async () => {
      const e = await env();
      cleanup = e.stop;
      h = await startTracking(e.env);
      const { experimentId } = await h.experiments.createExperiment({ name: 'artifacts' });
      runId = (await h.runs.createRun({ experimentId })).run!.info!.runId;
    });
    afterAll(async () => {
      await h?.stop();
      await cleanup?.();
    });

    it('uploads, lists, downloads and deletes, streamed', async () => {
      const mlmodel = Buffer.from('flavors:\n  sklearn: {}\n');
      const up = await upload(h, runId, 'model/MLmodel', [mlmodel], mlmodel.length);
      expect(up).toMatchObject({ path: 'model/MLmodel', size: mlmodel.length });
      expect(up.sha256).toBe(createHash('sha256').update(mlmodel).digest('hex'));
      await upload(h, runId, 'model/data/weights.bin', [randomBytes(1000)]);
      await upload(h, runId, 'metrics.json', [Buffer.from('{}')]);

      const root = await h.artifacts.listArtifacts({ runId });
      expect(root.rootUri.endsWith(`/${runId}/artifacts`)).toBe(true);
      expect(root.files).toEqual([
        { path: 'metrics.json', isDir: false, fileSize: 2 },
        { path: 'model', isDir: true },
      ]);
      expect((await h.artifacts.listArtifacts({ runId, path: 'model' })).files).toEqual([
        { path: 'model/MLmodel', isDir: false, fileSize: mlmodel.length },
        { path: 'model/data', isDir: true },
      ]);

      const got = await download(h, runId, 'model/MLmodel');
      expect(got).toEqual({ size: mlmodel.length, data: mlmodel });

      await h.artifacts.deleteArtifact({ runId, path: 'model' });
      expect((await h.artifacts.listArtifacts({ runId })).files.map((f) => f.path)).toEqual(['metrics.json']);
      const gone = (await download(h, runId, 'model/MLmodel').catch((e: unknown) => e)) as ServiceError;
      expect(gone.code).toBe(status.NOT_FOUND);
    });

    it('streams a 40 MiB file both ways with the same SHA-256', async () => {
      const chunk = randomBytes(1024 * 1024);
      const chunks = Array.from({ length: 40 }, (_, i) =>
        Buffer.concat([chunk.subarray(i), chunk.subarray(0, i)]),
      );
      const expected = createHash('sha256');
      for (const c of chunks) expected.update(c);
      const up = await upload(h, runId, 'big/blob.bin', chunks, 40 * 1024 * 1024);
      expect(up.sha256).toBe(expected.digest('hex'));
      const got = await download(h, runId, 'big/blob.bin');
      expect(got.size).toBe(40 * 1024 * 1024);
      expect(createHash('sha256').update(got.data).digest('hex')).toBe(up.sha256);
    });

    it('leaves nothing behind when an upload does not match its declared size', async () => {
      const err = (await upload(h, runId, 'partial.bin', [Buffer.alloc(10)], 20).catch(
        (e: unknown) => e,
      )) as ServiceError;
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.metadata.get(REASON_METADATA_KEY)).toEqual(['ARTIFACT_SIZE_MISMATCH']);
      expect((await h.artifacts.listArtifacts({ runId })).files.map((f) => f.path)).not.toContain(
        'partial.bin',
      );
    });

    it('rejects every path of the traversal corpus, on every operation', async () => {
      for (const path of TRAVERSAL_CORPUS) {
        const listed = await failure(h.artifacts.listArtifacts({ runId, path }));
        expect({ path, ...listed }).toMatchObject({
          path,
          code: status.INVALID_ARGUMENT,
          reason: 'INVALID_ARTIFACT_PATH',
        });
        const deleted = await failure(h.artifacts.deleteArtifact({ runId, path }));
        expect({ path, ...deleted }).toMatchObject({ path, code: status.INVALID_ARGUMENT });
        const uploaded = (await upload(h, runId, path, [Buffer.from('x')]).catch(
          (e: unknown) => e,
        )) as ServiceError;
        expect({ path, code: uploaded.code }).toEqual({ path, code: status.INVALID_ARGUMENT });
        const downloaded = (await download(h, runId, path).catch((e: unknown) => e)) as ServiceError;
        expect({ path, code: downloaded.code }).toEqual({ path, code: status.INVALID_ARGUMENT });
      }
    });

    it('refuses writes to a deleted run', async () => {
      const { experimentId } = await h.experiments.createExperiment({ name: `deleted-run-${Date.now()}` });
      const doomed = (await h.runs.createRun({ experimentId })).run!.info!.runId;
      await h.runs.deleteRun({ runId: doomed });
      const err = (await upload(h, doomed, 'a.txt', [Buffer.from('x')]).catch(
        (e: unknown) => e,
      )) as ServiceError;
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.metadata.get(REASON_METADATA_KEY)).toEqual(['RUN_NOT_ACTIVE']);
    });
  });
}

describeArtifactApi('filesystem', async () => ({ env: {}, stop: async () => undefined }));

let s3: S3TestServer | undefined;
describeArtifactApi('S3-compatible', async () => {
  s3 = await startS3Server();
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: 'cairn-artifacts' }));
  client.destroy();
  // The S3 client reads credentials through the AWS default chain, which looks at process.env.
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  return {
    env: {
      CAIRN_ARTIFACT_STORE: 's3',
      CAIRN_S3_BUCKET: 'cairn-artifacts',
      CAIRN_S3_PREFIX: 'mlruns',
      CAIRN_S3_ENDPOINT: s3.endpoint,
      CAIRN_S3_REGION: s3.region,
      CAIRN_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    },
    stop: async () => s3?.stop(),
  };
});
