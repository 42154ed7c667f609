import type { Readable } from 'node:stream';
import type { ServiceError } from '@grpc/grpc-js';
import { trackingV1 } from '@cairn/proto';
import { type CallContext, UpstreamError } from '@cairn/rpc';
import type { GatewayCalls } from '../proxy/gateway-calls';
import { MlflowError } from './mlflow-error';
import { type HttpMethod, rpc } from './mlflow-routes';

const A = trackingV1.ArtifactServiceService;

/** Upload chunks sent to the tracking service: well under the gRPC message limit. */
const UPLOAD_CHUNK_BYTES = 256 * 1024;

/** A path of the `mlflow-artifacts` proxy, `<experiment id>/<run id>/artifacts[/<path>]`. */
export interface ProxiedArtifactPath {
  experimentId: string;
  runId: string;
  /** Relative to the run's artifact root; the tracking service confines it. */
  path: string;
}

/**
 * Splits a proxied path. Runs' artifact URIs are `mlflow-artifacts:/<experiment>/<run>/artifacts`
 * (mlflow-json.ts), so MLflow clients address files below that; anything else is not a run's.
 */
export function parseProxiedPath(raw: string): ProxiedArtifactPath | undefined {
  const m = /^\/*([^/]+)\/([^/]+)\/artifacts(?:\/+(.*))?$/.exec(raw);
  if (!m) return undefined;
  return { experimentId: m[1], runId: m[2], path: (m[3] ?? '').replace(/\/+$/, '') };
}

function notARunPath(raw: string): MlflowError {
  return new MlflowError(
    'INVALID_PARAMETER_VALUE',
    `'${raw.slice(0, 200)}' is not inside a run's artifacts: expected <experiment id>/<run id>/artifacts[/<path>].`,
    'INVALID_ARTIFACT_PATH',
  );
}

/** The routes of `/api/2.0/mlflow-artifacts/`, each with the RPCs it is translated onto. */
export const MLFLOW_ARTIFACT_ROUTES: Array<{
  methods: Array<HttpMethod | 'PUT'>;
  path: string;
  rpcs: string[];
}> = [
  { methods: ['GET'], path: 'artifacts', rpcs: rpc(A.listArtifacts) },
  { methods: ['GET'], path: 'artifacts/*', rpcs: rpc(A.downloadArtifact) },
  { methods: ['PUT'], path: 'artifacts/*', rpcs: rpc(A.uploadArtifact) },
  { methods: ['DELETE'], path: 'artifacts/*', rpcs: rpc(A.deleteArtifact) },
];

/**
 * The `mlflow-artifacts` proxy, translated onto the tracking service's ArtifactService as the
 * caller: the run named by the path must be in the experiment the path names (else
 * RESOURCE_DOES_NOT_EXIST; the run's experiment is the one authorization resolves, cached), and every access is the ArtifactService rule's (READ to list and
 * download, EDIT to upload, MANAGE to delete, on the run's experiment).
 */
export class MlflowArtifactsProxy {
  constructor(private readonly calls: GatewayCalls) {}

  private async resolve(raw: string, ctx: CallContext): Promise<ProxiedArtifactPath> {
    const p = parseProxiedPath(raw);
    if (!p) throw notARunPath(raw);
    if ((await this.calls.experimentOfRun(ctx, p.runId)) !== p.experimentId) {
      throw new MlflowError(
        'RESOURCE_DOES_NOT_EXIST',
        `Run '${p.runId}' is not in experiment '${p.experimentId.slice(0, 64)}'.`,
        'RUN_NOT_FOUND',
      );
    }
    return p;
  }

  /** `GET artifacts?path=`: the directory's entries by base name, as MLflow's proxy lists them. */
  async list(raw: string, ctx: CallContext): Promise<{ files?: Array<Record<string, unknown>> }> {
    const trimmed = raw.replace(/\/+$/, '');
    const runRoot = /^\/*([^/]+)\/([^/]+)$/.exec(trimmed);
    if (runRoot) {
      // A run's directory holds its artifact root only.
      await this.resolve(`${trimmed}/artifacts`, ctx);
      return { files: [{ path: 'artifacts', is_dir: true }] };
    }
    const p = await this.resolve(trimmed, ctx);
    const res = await this.calls.unary(A.listArtifacts, { runId: p.runId, path: p.path }, ctx);
    if (res.files.length === 0) return {};
    return {
      files: res.files.map((f) => ({
        path: f.path.split('/').pop() ?? f.path,
        is_dir: f.isDir,
        ...(f.fileSize === undefined ? {} : { file_size: f.fileSize }),
      })),
    };
  }

  /** `GET artifacts/<path>`: the file's size, then its bytes as they arrive. */
  async download(raw: string, ctx: CallContext): Promise<{ size: number; body: AsyncIterable<Buffer> }> {
    const p = await this.resolve(raw, ctx);
    if (p.path === '') throw notARunPath(raw);
    const upstream = await this.calls.serverStream(A.downloadArtifact, { runId: p.runId, path: p.path }, ctx);
    const messages = (upstream as AsyncIterable<trackingV1.DownloadArtifactResponse>)[Symbol.asyncIterator]();
    const first = await next(messages);
    if (first === undefined || first.part?.$case !== 'size') {
      upstream.cancel();
      throw new MlflowError('INTERNAL_ERROR', 'internal error', 'DOWNLOAD_WITHOUT_SIZE');
    }
    async function* body(): AsyncGenerator<Buffer> {
      for (;;) {
        const msg = await next(messages);
        if (msg === undefined) return;
        if (msg.part?.$case === 'chunk') yield msg.part.value;
      }
    }
    return { size: first.part.value, body: body() };
  }

  /** `PUT artifacts/<path>`: the request body streamed to the run's artifact root. */
  async upload(raw: string, body: Readable, size: number | undefined, ctx: CallContext): Promise<void> {
    const p = await this.resolve(raw, ctx);
    if (p.path === '') throw notARunPath(raw);
    const up = await this.calls.clientStream(
      A.uploadArtifact,
      { part: { $case: 'header', value: { runId: p.runId, path: p.path, size } } },
      ctx,
    );
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= UPLOAD_CHUNK_BYTES) {
          await up.write({ part: { $case: 'chunk', value: Buffer.concat(pending) } });
          pending = [];
          pendingBytes = 0;
        }
      }
      if (pendingBytes > 0) await up.write({ part: { $case: 'chunk', value: Buffer.concat(pending) } });
    } catch (err) {
      // The client went away mid-body, or the service failed: nothing is committed.
      up.cancel();
      throw err;
    }
    await up.end();
  }

  /** `DELETE artifacts/<path>`. */
  async delete(raw: string, ctx: CallContext): Promise<void> {
    const p = await this.resolve(raw, ctx);
    await this.calls.unary(A.deleteArtifact, { runId: p.runId, path: p.path }, ctx);
  }
}

/** The next message of a gRPC stream; its failure as the service's own error. */
async function next<T>(it: AsyncIterator<T>): Promise<T | undefined> {
  try {
    const r = await it.next();
    return r.done ? undefined : r.value;
  } catch (err) {
    if (err && typeof err === 'object' && 'code' in err && 'metadata' in err) {
      throw UpstreamError.of(err as ServiceError);
    }
    throw err;
  }
}
