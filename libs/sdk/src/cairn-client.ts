import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ChannelOptions, Client, type ClientWritableStream, Metadata, status } from '@grpc/grpc-js';
import { gatewayAuthV1, gatewayEventsV1, registryV1, registryWebhooksV1, trackingV1 } from '@cairn/proto';
import { CairnError, isServiceError } from './cairn-error';
import { channelCredentials, parseGatewayAddress, readMethodsOf, retryServiceConfig } from './channel';
import { authorizationHeader, type CairnCredentials } from './credentials';
import {
  type CallOptions,
  type DeepPartial,
  type MethodDefinitionLike,
  type UnaryApi,
  unaryApi,
} from './unary-api';

export interface CairnClientOptions {
  /** The gateway: `host:port`, or `https://host[:port]` for TLS. */
  readonly address: string;
  /** Without credentials every call fails with UNAUTHENTICATED / CREDENTIALS_REQUIRED. */
  readonly credentials?: CairnCredentials;
  /** Deadline of unary calls without their own, in ms. Default 30 s. */
  readonly defaultTimeoutMs?: number;
  /** Attempts of an idempotent read when the gateway is UNAVAILABLE (1 disables retries). Default 4. */
  readonly maxAttempts?: number;
  /** Root certificates for TLS (the system's when unset). */
  readonly rootCerts?: Buffer;
  readonly channelOptions?: ChannelOptions;
}

/** One metric point; `timestamp` defaults to now and `step` to 0. */
export interface MetricPoint {
  readonly key: string;
  readonly value: number;
  readonly step?: number;
  readonly timestamp?: number;
}

/** Progress of one file's transfer. */
export interface TransferProgress {
  /** The artifact path. */
  readonly path: string;
  readonly bytes: number;
  readonly totalBytes: number;
}

/** Progress of a directory's upload: the file in flight and the whole. */
export interface DirectoryUploadProgress {
  readonly file: TransferProgress;
  readonly filesDone: number;
  readonly fileCount: number;
  readonly bytes: number;
  readonly totalBytes: number;
}

const SERVICES = {
  experiments: trackingV1.ExperimentServiceService,
  runs: trackingV1.RunServiceService,
  artifacts: trackingV1.ArtifactServiceService,
  models: registryV1.ModelRegistryServiceService,
  governance: registryV1.GovernanceServiceService,
  signing: registryV1.SigningServiceService,
  audit: registryV1.AuditServiceService,
  webhooks: registryWebhooksV1.WebhookServiceService,
  auth: gatewayAuthV1.AuthServiceService,
  events: gatewayEventsV1.EventsServiceService,
} as const;

/** Chunk size of uploads: well under the gateway's message limit (16 MiB by default). */
const CHUNK_BYTES = 256 * 1024;
const DEFAULT_METRIC_BATCH = 1000;

/**
 * A client of Cairn's public gRPC API (the gateway): every service as typed promise methods
 * taking partial requests (`client.runs.getRun({ runId })`), plus streaming helpers for
 * metrics, artifacts and events. Failures are thrown as {@link CairnError}.
 */
export class CairnClient {
  readonly experiments: UnaryApi<typeof trackingV1.ExperimentServiceService>;
  readonly runs: UnaryApi<typeof trackingV1.RunServiceService>;
  readonly artifacts: UnaryApi<typeof trackingV1.ArtifactServiceService>;
  readonly models: UnaryApi<typeof registryV1.ModelRegistryServiceService>;
  readonly governance: UnaryApi<typeof registryV1.GovernanceServiceService>;
  readonly signing: UnaryApi<typeof registryV1.SigningServiceService>;
  readonly audit: UnaryApi<typeof registryV1.AuditServiceService>;
  readonly webhooks: UnaryApi<typeof registryWebhooksV1.WebhookServiceService>;
  readonly auth: UnaryApi<typeof gatewayAuthV1.AuthServiceService>;

  private readonly channel: Client;
  private readonly authorization: string | undefined;
  private readonly defaultTimeoutMs: number;

  constructor(options: CairnClientOptions) {
    const target = parseGatewayAddress(options.address);
    const maxAttempts = options.maxAttempts ?? 4;
    this.channel = new Client(target.target, channelCredentials(target, options.rootCerts), {
      'grpc.primary_user_agent': 'cairn-sdk',
      'grpc.keepalive_time_ms': 30_000,
      ...(maxAttempts > 1
        ? { 'grpc.service_config': retryServiceConfig(readMethodsOf(Object.values(SERVICES)), maxAttempts) }
        : { 'grpc.enable_retries': 0 }),
      ...options.channelOptions,
    });
    this.authorization = options.credentials ? authorizationHeader(options.credentials) : undefined;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    const invoke = this.unary.bind(this);
    this.experiments = unaryApi(SERVICES.experiments, trackingV1, invoke);
    this.runs = unaryApi(SERVICES.runs, trackingV1, invoke);
    this.artifacts = unaryApi(SERVICES.artifacts, trackingV1, invoke);
    this.models = unaryApi(SERVICES.models, registryV1, invoke);
    this.governance = unaryApi(SERVICES.governance, registryV1, invoke);
    this.signing = unaryApi(SERVICES.signing, registryV1, invoke);
    this.audit = unaryApi(SERVICES.audit, registryV1, invoke);
    this.webhooks = unaryApi(SERVICES.webhooks, registryWebhooksV1, invoke);
    this.auth = unaryApi(SERVICES.auth, gatewayAuthV1, invoke);
  }

  /** Closes the channel; calls in flight fail. */
  close(): void {
    this.channel.close();
  }

  /** The caller as the gateway sees it. */
  whoAmI(options?: CallOptions): Promise<gatewayAuthV1.WhoAmIResponse> {
    return this.auth.whoAmI({}, options);
  }

  /**
   * Logs metric points through RunService.StreamMetrics in batches, with back-pressure (a
   * slow gateway slows the producer, nothing piles up in memory); resolves once every point
   * is durable, with how many were written.
   */
  async logMetrics(
    runId: string,
    points: Iterable<MetricPoint> | AsyncIterable<MetricPoint>,
    options: CallOptions & { batchSize?: number } = {},
  ): Promise<number> {
    const batchSize = options.batchSize ?? DEFAULT_METRIC_BATCH;
    async function* batches(): AsyncGenerator<trackingV1.StreamMetricsRequest> {
      let metrics: trackingV1.Metric[] = [];
      for await (const p of points) {
        metrics.push({ key: p.key, value: p.value, step: p.step ?? 0, timestamp: p.timestamp ?? Date.now() });
        if (metrics.length >= batchSize) {
          yield { runId, metrics };
          metrics = [];
        }
      }
      if (metrics.length > 0) yield { runId, metrics };
    }
    const res = await this.clientStream(SERVICES.runs.streamMetrics, batches(), options);
    return res.pointsLogged;
  }

  /**
   * Uploads one local file as the run artifact `remotePath`, in chunks, reading the file only
   * as fast as the gateway accepts them; `onProgress` is told after each chunk.
   */
  async uploadArtifact(
    runId: string,
    localFile: string,
    remotePath: string,
    onProgress?: (progress: TransferProgress) => void,
    options: CallOptions = {},
  ): Promise<trackingV1.UploadArtifactResponse> {
    const { size } = await stat(localFile);
    const artifactPath = toArtifactPath(remotePath);
    async function* messages(): AsyncGenerator<trackingV1.UploadArtifactRequest> {
      yield { part: { $case: 'header', value: { runId, path: artifactPath, size } } };
      let bytes = 0;
      onProgress?.({ path: artifactPath, bytes, totalBytes: size });
      for await (const chunk of createReadStream(localFile, { highWaterMark: CHUNK_BYTES })) {
        const buffer = chunk as Buffer;
        yield { part: { $case: 'chunk', value: buffer } };
        bytes += buffer.length;
        onProgress?.({ path: artifactPath, bytes, totalBytes: size });
      }
    }
    return this.clientStream(SERVICES.artifacts.uploadArtifact, messages(), options);
  }

  /**
   * Uploads every file under `localDir` (recursively) to `remoteDir` (the artifact root when
   * empty), one file after the other; returns the uploaded files.
   */
  async uploadArtifactDirectory(
    runId: string,
    localDir: string,
    remoteDir = '',
    onProgress?: (progress: DirectoryUploadProgress) => void,
    options: CallOptions = {},
  ): Promise<trackingV1.UploadArtifactResponse[]> {
    const files = await listLocalFiles(localDir);
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    const uploaded: trackingV1.UploadArtifactResponse[] = [];
    let done = 0;
    for (const file of files) {
      const res = await this.uploadArtifact(
        runId,
        path.join(localDir, file.relativePath),
        path.posix.join(toArtifactPath(remoteDir), file.relativePath),
        (p) =>
          onProgress?.({
            file: p,
            filesDone: uploaded.length,
            fileCount: files.length,
            bytes: done + p.bytes,
            totalBytes,
          }),
        options,
      );
      done += file.size;
      uploaded.push(res);
    }
    return uploaded;
  }

  /** Downloads the artifact `remotePath` of a run into `localFile` (replaced; removed on failure). */
  async downloadArtifact(
    runId: string,
    remotePath: string,
    localFile: string,
    onProgress?: (progress: TransferProgress) => void,
    options: CallOptions = {},
  ): Promise<{ size: number }> {
    // Before the call starts: its status may arrive while we await, and the pipeline below must
    // already be listening then (an early failure would otherwise go unheard and leave 0 bytes).
    await mkdir(path.dirname(path.resolve(localFile)), { recursive: true });
    const method = SERVICES.artifacts.downloadArtifact;
    const call = this.channel.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      trackingV1.DownloadArtifactRequest.fromPartial({ runId, path: remotePath }),
      this.metadata(),
      { deadline: this.deadlineOf(options, Infinity) },
    );
    const cancel = () => call.cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    let totalBytes = 0;
    let bytes = 0;
    const toBytes = new Transform({
      writableObjectMode: true,
      transform(message: trackingV1.DownloadArtifactResponse, _encoding, done) {
        const part = message.part;
        if (part?.$case === 'size') {
          totalBytes = part.value;
          onProgress?.({ path: remotePath, bytes, totalBytes });
          done();
        } else if (part?.$case === 'chunk') {
          bytes += part.value.length;
          onProgress?.({ path: remotePath, bytes, totalBytes });
          done(null, part.value);
        } else {
          done();
        }
      },
    });
    try {
      await pipeline(call, toBytes, createWriteStream(localFile));
      return { size: bytes };
    } catch (err) {
      await rm(localFile, { force: true });
      throw isServiceError(err) ? CairnError.from(err) : err;
    } finally {
      options.signal?.removeEventListener('abort', cancel);
    }
  }

  /**
   * Follows the platform's events (EventsService.Watch) as an async iterator, from
   * `after_event_id` when given, else from now on. It ends when `signal` aborts (or the loop
   * breaks); a failure of the stream is thrown as a CairnError. No deadline unless one is given.
   */
  async *watchEvents(
    request: DeepPartial<gatewayEventsV1.WatchRequest> = {},
    options: CallOptions = {},
  ): AsyncGenerator<gatewayEventsV1.Event, void, undefined> {
    if (options.signal?.aborted) return;
    const method = SERVICES.events.watch;
    const call = this.channel.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      gatewayEventsV1.WatchRequest.fromPartial(request),
      this.metadata(),
      { deadline: this.deadlineOf(options, Infinity) },
    );
    const cancel = () => call.cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    try {
      // The call is a Readable: iterating it reads only as fast as the consumer, which is
      // the back-pressure the gateway waits on.
      for await (const event of call as AsyncIterable<gatewayEventsV1.Event>) yield event;
    } catch (err) {
      if (options.signal?.aborted && isServiceError(err) && err.code === status.CANCELLED) return;
      throw CairnError.from(err);
    } finally {
      options.signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.authorization) md.set('authorization', this.authorization);
    return md;
  }

  private deadlineOf(options: CallOptions | undefined, defaultMs: number): Date | number {
    if (options?.deadline !== undefined) return options.deadline;
    const ms = options?.timeoutMs ?? defaultMs;
    return Number.isFinite(ms) ? Date.now() + ms : Infinity;
  }

  private unary<Req, Res>(
    method: MethodDefinitionLike<Req, Res>,
    request: Req,
    options?: CallOptions,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (options?.signal?.aborted) {
        reject(new CairnError(status.CANCELLED, 'CANCELLED', 'the call was aborted before it started'));
        return;
      }
      const cancel = () => call.cancel();
      const call = this.channel.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        this.metadata(),
        { deadline: this.deadlineOf(options, this.defaultTimeoutMs) },
        (err, value) => {
          options?.signal?.removeEventListener('abort', cancel);
          if (err) reject(CairnError.from(err));
          else resolve(value as Res);
        },
      );
      options?.signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /**
   * A client-streaming call fed from `messages` through a stream pipeline (which honours the
   * call's back-pressure); resolves with the response, or rejects with the service's error
   * rather than the local stream error it causes.
   */
  private async clientStream<Req, Res>(
    method: MethodDefinitionLike<Req, Res>,
    messages: AsyncIterable<Req>,
    options: CallOptions,
  ): Promise<Res> {
    const stop = new AbortController();
    let call: ClientWritableStream<Req> | undefined;
    const response = new Promise<Res>((resolve, reject) => {
      call = this.channel.makeClientStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        this.metadata(),
        { deadline: this.deadlineOf(options, Infinity) },
        (err, value) => {
          if (err) {
            // The service refused: stop feeding the stream.
            stop.abort();
            reject(CairnError.from(err));
          } else {
            resolve(value as Res);
          }
        },
      );
    });
    const writable = call as ClientWritableStream<Req>;
    const cancel = () => writable.cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    try {
      // grpc-js types the call as an object-mode writable of its own; it is a Node Writable.
      await pipeline(Readable.from(messages, { highWaterMark: 1 }), writable as unknown as Writable, {
        signal: stop.signal,
      });
    } catch (err) {
      writable.cancel();
      const upstream = await response.then(
        () => undefined,
        (e: unknown) => e,
      );
      throw upstream instanceof CairnError && (upstream.code !== status.CANCELLED || options.signal?.aborted)
        ? upstream
        : err;
    } finally {
      options.signal?.removeEventListener('abort', cancel);
    }
    return response;
  }
}

/** An artifact path: forward slashes, no leading slash. */
export function toArtifactPath(p: string): string {
  return p.split(path.sep).join('/').replace(/^\/+/, '').replace(/\/+$/, '');
}

/** The regular files under `dir`, with paths relative to it (forward slashes), sorted. */
export async function listLocalFiles(dir: string): Promise<Array<{ relativePath: string; size: number }>> {
  const entries = await readdir(dir, { recursive: true });
  const files: Array<{ relativePath: string; size: number }> = [];
  for (const entry of entries.sort()) {
    const info = await stat(path.join(dir, entry));
    if (info.isFile()) files.push({ relativePath: entry.split(path.sep).join('/'), size: info.size });
  }
  return files;
}
