import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { Inject, Injectable } from '@nestjs/common';
import type { ServerReadableStream, ServerWritableStream } from '@grpc/grpc-js';
import { DataSource } from 'typeorm';
import { type ArtifactStore, confineArtifactPath } from '@cairn/artifacts';
import type { ServiceSettings } from '@cairn/config';
import { trackingV1 } from '@cairn/proto';
import { AppError, type CallContext, GrpcService } from '@cairn/rpc';
import { SERVICE_SETTINGS } from '@cairn/service-runtime';
import { assertRunActive, RunsRepository } from '../runs/runs.repository';
import { validateRunId } from '../validation/mlflow-validation';
import { ARTIFACT_STORE } from './artifact-store.token';

/** Chunk size of downloads: well under the gRPC message limit, large enough to stream fast. */
const DOWNLOAD_CHUNK_BYTES = 256 * 1024;

/** cairn.tracking.v1.ArtifactService: streamed, and confined to each run's artifact root. */
@Injectable()
@GrpcService(trackingV1.ArtifactServiceService)
export class ArtifactsGrpc {
  private readonly runs: RunsRepository;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
    @Inject(ARTIFACT_STORE) private readonly store: ArtifactStore,
  ) {
    this.runs = new RunsRepository(settings.databaseSchema);
  }

  async listArtifacts(req: trackingV1.ListArtifactsRequest): Promise<trackingV1.ListArtifactsResponse> {
    const { scope, uri } = await this.runScope(req.runId, false);
    const dir = confineArtifactPath(req.path);
    const entries = await this.store.list(scope, dir);
    return {
      rootUri: uri,
      files: entries.map((e) => ({
        path: e.path,
        isDir: e.isDir,
        ...(e.size === undefined ? {} : { fileSize: e.size }),
      })),
    };
  }

  async uploadArtifact(
    call: ServerReadableStream<trackingV1.UploadArtifactRequest, trackingV1.UploadArtifactResponse>,
    ctx: CallContext,
  ): Promise<trackingV1.UploadArtifactResponse> {
    const messages = (call as AsyncIterable<trackingV1.UploadArtifactRequest>)[Symbol.asyncIterator]();
    const first = await messages.next();
    if (first.done || first.value.part?.$case !== 'header') {
      throw new AppError(
        'invalid_argument',
        'MISSING_UPLOAD_HEADER',
        'The first message of an upload must be its header',
      );
    }
    const header = first.value.part.value;
    const path = confineArtifactPath(header.path);
    if (path === '')
      throw new AppError('invalid_argument', 'INVALID_ARTIFACT_PATH', 'An upload needs a file path');
    const { scope } = await this.runScope(header.runId, true);
    const hash = createHash('sha256');
    async function* chunks(): AsyncGenerator<Buffer> {
      for (;;) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        const next = await messages.next();
        if (next.done) return;
        if (next.value.part?.$case !== 'chunk') {
          throw new AppError(
            'invalid_argument',
            'UNEXPECTED_UPLOAD_MESSAGE',
            'Only the first upload message is a header',
          );
        }
        hash.update(next.value.part.value);
        yield next.value.part.value;
      }
    }
    // The store counts the bytes against the declared size and writes atomically: a failed
    // or mismatched upload (ARTIFACT_SIZE_MISMATCH) leaves nothing behind.
    const stored = await this.store.put(
      scope,
      path,
      Readable.from(chunks()),
      header.size === undefined ? {} : { contentLength: header.size },
    );
    return { path: stored.path, size: stored.size, sha256: hash.digest('hex') };
  }

  async downloadArtifact(
    req: trackingV1.DownloadArtifactRequest,
    call: ServerWritableStream<trackingV1.DownloadArtifactRequest, trackingV1.DownloadArtifactResponse>,
    ctx: CallContext,
  ): Promise<void> {
    const { scope } = await this.runScope(req.runId, false);
    const path = confineArtifactPath(req.path);
    const { stream, size } = await this.store.get(scope, path);
    try {
      call.write({ part: { $case: 'size', value: size } });
      for await (const data of stream as AsyncIterable<Buffer>) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        for (let offset = 0; offset < data.length; offset += DOWNLOAD_CHUNK_BYTES) {
          const ok = call.write({
            part: { $case: 'chunk', value: data.subarray(offset, offset + DOWNLOAD_CHUNK_BYTES) },
          });
          if (!ok) await once(call, 'drain', { signal: ctx.signal });
        }
      }
    } finally {
      stream.destroy();
    }
  }

  async deleteArtifact(req: trackingV1.DeleteArtifactRequest): Promise<trackingV1.DeleteArtifactResponse> {
    const { scope } = await this.runScope(req.runId, true);
    await this.store.delete(scope, confineArtifactPath(req.path));
    return {};
  }

  /** The run's artifact root as a store scope; writes need an active run. */
  private async runScope(runId: string, write: boolean): Promise<{ scope: string; uri: string }> {
    validateRunId(runId);
    const info = await this.runs.getInfo(this.ds.manager, runId);
    if (write) assertRunActive(info);
    return { scope: this.store.scopeOf(info.artifactUri), uri: info.artifactUri };
  }
}
