import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '@cairn/rpc';
import { artifactNotFound, artifactRootNotManaged, invalidArtifactPath } from '../artifact-errors';
import {
  assertSafeLocation,
  confineArtifactPath,
  confineArtifactScope,
  joinArtifactPath,
} from '../artifact-path';
import type {
  ArtifactContent,
  ArtifactEntry,
  ArtifactStore,
  PutArtifactOptions,
  StoredArtifact,
} from '../artifact-store.port';
import { ByteCounter } from '../byte-counter';

/** S3 bucket naming rules (the common subset every S3-compatible server accepts). */
export const S3_BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Part size and parallel parts of multipart uploads: at most ~(4 + 1) × 8 MiB in memory. */
export const S3_PART_SIZE = 8 * 1024 * 1024;
export const S3_QUEUE_SIZE = 4;
/** DeleteObjects takes at most 1000 keys per call. */
const DELETE_BATCH = 1000;

export interface S3ArtifactStoreOptions {
  bucket: string;
  /** Key prefix of the store root inside the bucket (no leading or trailing `/` needed). */
  prefix?: string;
  /** Default: the AWS default chain (AWS_REGION, profile); `us-east-1` with a custom endpoint. */
  region?: string;
  /** Any S3-compatible server (MinIO, Ceph, moto, …); default AWS. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Default: the AWS default credential chain (environment, profile, web identity, IMDS). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  partSize?: number;
  queueSize?: number;
  /** Keys per ListObjectsV2 page (S3 caps it at 1000, the default). */
  listPageSize?: number;
}

/** A key prefix confined like an artifact path; leading and trailing slashes are dropped. */
export function normalizeKeyPrefix(prefix: string): string {
  return confineArtifactPath(prefix.replace(/^\/+/, ''));
}

function isNoSuchKey(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: string; Code?: string };
  // Not any 404: NoSuchBucket is a misconfiguration, not a missing artifact.
  return e.name === 'NoSuchKey' || e.Code === 'NoSuchKey';
}

/**
 * Artifacts as objects under `s3://bucket/prefix/`. Uploads stream through lib-storage's
 * multipart `Upload` (bounded memory, aborted on failure so no partial object appears);
 * directories are key prefixes, listed with the `/` delimiter.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly rootUri: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly listPageSize?: number;

  constructor(options: S3ArtifactStoreOptions) {
    if (!S3_BUCKET_NAME.test(options.bucket)) {
      throw new Error(`Invalid S3 bucket name ${JSON.stringify(options.bucket)}`);
    }
    this.bucket = options.bucket;
    this.prefix = normalizeKeyPrefix(options.prefix ?? '');
    this.rootUri = `s3://${joinArtifactPath(this.bucket, this.prefix)}`;
    this.partSize = options.partSize ?? S3_PART_SIZE;
    this.queueSize = options.queueSize ?? S3_QUEUE_SIZE;
    this.listPageSize = options.listPageSize;
    const config: S3ClientConfig = {
      region: options.region ?? (options.endpoint ? 'us-east-1' : undefined),
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
    };
    if (options.endpoint) {
      // Many S3-compatible servers reject the SDK's default flexible checksums on every request.
      config.requestChecksumCalculation = 'WHEN_REQUIRED';
      config.responseChecksumValidation = 'WHEN_REQUIRED';
    }
    this.client = new S3Client(config);
  }

  async put(
    scope: string,
    artifactPath: string,
    body: Readable,
    opts: PutArtifactOptions = {},
  ): Promise<StoredArtifact> {
    let rel: string;
    let key: string;
    try {
      rel = confineArtifactPath(artifactPath);
      if (rel === '') throw invalidArtifactPath(artifactPath, 'must name a file');
      key = this.key(confineArtifactScope(scope), rel);
    } catch (err) {
      body.destroy();
      throw err;
    }
    const counter = new ByteCounter(rel, opts.contentLength);
    const piping = pipeline(body, counter);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: counter },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    let uploadFailed = false;
    const done = upload.done().catch((err: unknown) => {
      // The upload failed on its own (not because the body did): release the body rather
      // than leave it paused forever.
      if (!counter.destroyed) {
        uploadFailed = true;
        counter.destroy();
      }
      throw err;
    });
    const [uploaded, piped] = await Promise.allSettled([done, piping]);
    if (uploaded.status === 'rejected' && (uploadFailed || piped.status === 'fulfilled'))
      throw uploaded.reason;
    if (piped.status === 'rejected') {
      // The body failed or its size did not match: lib-storage aborted the multipart upload
      // (leavePartsOnError false), and an object that completed regardless is not kept.
      if (uploaded.status === 'fulfilled') await this.deleteKey(key);
      throw piped.reason;
    }
    return { path: rel, size: counter.bytes };
  }

  async get(scope: string, artifactPath: string): Promise<ArtifactContent> {
    const s = confineArtifactScope(scope);
    const rel = confineArtifactPath(artifactPath);
    if (rel === '') throw invalidArtifactPath(artifactPath, 'must name a file');
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.key(s, rel) }),
      );
      if (!(out.Body instanceof Readable))
        throw new Error(`S3 returned no readable body for ${this.key(s, rel)}`);
      return { stream: out.Body, size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isNoSuchKey(err)) throw artifactNotFound(s, rel);
      throw err;
    }
  }

  async list(scope: string, artifactPath = ''): Promise<ArtifactEntry[]> {
    const s = confineArtifactScope(scope);
    const rel = confineArtifactPath(artifactPath);
    const dirPrefix = `${this.key(s, rel)}/`;
    const entries: ArtifactEntry[] = [];
    for await (const page of this.pages(dirPrefix, '/')) {
      for (const p of page.CommonPrefixes ?? []) {
        const name = (p.Prefix ?? '').slice(dirPrefix.length, -1);
        if (name !== '') entries.push({ path: joinArtifactPath(rel, name), isDir: true });
      }
      for (const o of page.Contents ?? []) {
        const name = (o.Key ?? '').slice(dirPrefix.length);
        // '' is a directory marker object (`dir/`) some tools create.
        if (name !== '') entries.push({ path: joinArtifactPath(rel, name), isDir: false, size: o.Size ?? 0 });
      }
    }
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async delete(scope: string, artifactPath: string): Promise<void> {
    const s = confineArtifactScope(scope);
    const rel = confineArtifactPath(artifactPath);
    const base = this.key(s, rel);
    // A path names a file, a subtree, or (S3 allows it) both; the scope itself only a subtree.
    if (rel !== '') await this.deleteKey(base);
    for await (const page of this.pages(`${base}/`)) {
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      for (let i = 0; i < keys.length; i += DELETE_BATCH) {
        const out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.slice(i, i + DELETE_BATCH), Quiet: true },
          }),
        );
        const failed = out.Errors ?? [];
        if (failed.length > 0) {
          throw new AppError(
            'unavailable',
            'ARTIFACT_DELETE_FAILED',
            `Could not delete ${failed.length} object(s) under ${base}/, e.g. ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message}`,
            { scope: s, path: rel },
          );
        }
      }
    }
  }

  uriFor(scope: string): string {
    return `s3://${joinArtifactPath(this.bucket, this.prefix, confineArtifactScope(scope))}`;
  }

  scopeOf(uri: string): string {
    assertSafeLocation(uri);
    const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(uri);
    if (!match || match[1] !== this.bucket) throw artifactRootNotManaged(uri, this.rootUri);
    // Segment by segment, so `prefix-other/…` is not under `prefix`.
    const segments = (match[2] ?? '').split('/').filter((p) => p !== '');
    const root = this.prefix === '' ? [] : this.prefix.split('/');
    if (segments.length <= root.length || root.some((p, i) => segments[i] !== p)) {
      throw artifactRootNotManaged(uri, this.rootUri);
    }
    return confineArtifactScope(segments.slice(root.length).join('/'));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private key(scope: string, rel: string): string {
    return joinArtifactPath(this.prefix, scope, rel);
  }

  private async deleteKey(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  private async *pages(prefix: string, delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          Delimiter: delimiter,
          ContinuationToken: token,
          MaxKeys: this.listPageSize,
        }),
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
