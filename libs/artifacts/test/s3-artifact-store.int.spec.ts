import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { AppError } from '@cairn/rpc';
import { startS3Server, type S3TestServer } from '@cairn/testing';
import { S3ArtifactStore, type S3ArtifactStoreOptions } from '../src/s3/s3-artifact-store';
import {
  bodyOf,
  describeArtifactStoreContract,
  readAll,
  rejectionOf,
  thrownBy,
} from './artifact-store.contract';

const BUCKET = 'cairn-artifacts';
const PREFIX = 'mlruns/v1';

let s3: S3TestServer;
let admin: S3Client;
let store: S3ArtifactStore;
const stores: S3ArtifactStore[] = [];

function newStore(opts: Partial<S3ArtifactStoreOptions> = {}): S3ArtifactStore {
  const s = new S3ArtifactStore({
    bucket: BUCKET,
    prefix: PREFIX,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    ...opts,
  });
  stores.push(s);
  return s;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await admin.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

beforeAll(async () => {
  s3 = await startS3Server();
  admin = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  store = newStore();
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  admin?.destroy();
  await s3?.stop();
});

describeArtifactStoreContract('s3', () => ({
  store,
  siblingUri: (scope) => `s3://${BUCKET}/${PREFIX}not/${scope}`,
  afterLargeUpload: async (scope, path) => {
    const head = await admin.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${scope}/${path}` }),
    );
    // A multipart ETag is "<md5 of part md5s>-<parts>": 20 MiB in 8 MiB parts is 3 parts.
    expect(head.ETag).toMatch(/-3"?$/);
    expect(head.ContentLength).toBe(20 * 1024 * 1024);
  },
  pendingUploads: async (scope) => {
    const out = await admin.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${PREFIX}/${scope}/` }),
    );
    return out.Uploads?.length ?? 0;
  },
}));

describe('S3 artifact store', () => {
  it('stores objects at <prefix>/<scope>/<path> and names the root as an s3:// URI', async () => {
    await store.put('1/abc/artifacts', 'model/MLmodel', bodyOf(Buffer.from('flavors: {}')));
    expect(await keysUnder(`${PREFIX}/1/abc/`)).toEqual([`${PREFIX}/1/abc/artifacts/model/MLmodel`]);
    expect(store.rootUri).toBe(`s3://${BUCKET}/${PREFIX}`);
    expect(store.uriFor('1/abc/artifacts')).toBe(`s3://${BUCKET}/${PREFIX}/1/abc/artifacts`);
  });

  it('works without a prefix, at the bucket root', async () => {
    const bare = newStore({ prefix: '' });
    expect(bare.rootUri).toBe(`s3://${BUCKET}`);
    await bare.put('2/def/artifacts', 'a.txt', bodyOf(Buffer.from('a')));
    expect(await keysUnder('2/def/')).toEqual(['2/def/artifacts/a.txt']);
    expect(bare.scopeOf(`s3://${BUCKET}/2/def/artifacts`)).toBe('2/def/artifacts');
    expect(thrownBy(() => bare.scopeOf(`s3://${BUCKET}-other/2/def/artifacts`)).reason).toBe(
      'ARTIFACT_ROOT_NOT_MANAGED',
    );
  });

  it('pages through listings and deletes subtrees larger than one page', async () => {
    const small = newStore({ listPageSize: 3 });
    const scope = '4/paged/artifacts';
    const files = Array.from({ length: 8 }, (_, i) => `steps/step-${i}.json`);
    const dirs = Array.from({ length: 5 }, (_, i) => `dir-${i}/x.txt`);
    for (const p of [...files, ...dirs, 'top.txt']) await small.put(scope, p, bodyOf(Buffer.from(p)));
    expect((await small.list(scope)).map((e) => e.path)).toEqual([
      'dir-0',
      'dir-1',
      'dir-2',
      'dir-3',
      'dir-4',
      'steps',
      'top.txt',
    ]);
    expect((await small.list(scope, 'steps')).map((e) => e.path)).toEqual(files);
    await small.delete(scope, 'steps');
    expect(await keysUnder(`${PREFIX}/${scope}/steps`)).toEqual([]);
    await small.delete(scope, '');
    expect(await keysUnder(`${PREFIX}/${scope}/`)).toEqual([]);
  });

  it('skips directory markers and empty segments written by other tools', async () => {
    const scope = '7/foreign/artifacts';
    for (const key of [`${scope}/dir/`, `${scope}/dir/file.txt`, `${scope}/odd//double.txt`]) {
      await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${key}`, Body: 'x' }));
    }
    expect(await store.list(scope)).toStrictEqual([
      { path: 'dir', isDir: true },
      { path: 'odd', isDir: true },
    ]);
    expect(await store.list(scope, 'dir')).toStrictEqual([{ path: 'dir/file.txt', isDir: false, size: 1 }]);
  });

  it('does not mistake a missing bucket for a missing artifact', async () => {
    const lost = newStore({ bucket: 'no-such-bucket' });
    const err = await rejectionOf(lost.get('1/abc/artifacts', 'x.txt'));
    expect(err).not.toBeInstanceOf(AppError);
    expect(err.name).toBe('NoSuchBucket');
  });

  it('reads back what another client wrote under the store root', async () => {
    const key = `${PREFIX}/8/shared/artifacts/notes.md`;
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: '# notes' }));
    const got = await store.get('8/shared/artifacts', 'notes.md');
    expect(got.size).toBe(7);
    expect((await readAll(got.stream)).toString()).toBe('# notes');
  });
});
