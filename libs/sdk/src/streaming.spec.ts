import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  Metadata,
  Server,
  ServerCredentials,
  status,
} from '@grpc/grpc-js';
import { gatewayEventsV1, trackingV1 } from '@cairn/proto';
import { CairnClient, type TransferProgress } from './cairn-client';

/*
 * The SDK's streaming helpers against an in-process gRPC server implementing the streaming
 * methods as the gateway re-exports them: what reaches the server, and what the caller gets.
 */

let server: Server;
let client: CairnClient;
let dir: string;
const uploads = new Map<
  string,
  { header?: trackingV1.UploadArtifactHeader; data: Buffer; authorization: string }
>();
let watchCancelled: Promise<void>;

function refuse(reason: string, details: string, code: status) {
  const metadata = new Metadata();
  metadata.set('cairn-reason', reason);
  return { code, details, metadata };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-sdk-'));
  server = new Server();
  const upload: handleClientStreamingCall<
    trackingV1.UploadArtifactRequest,
    trackingV1.UploadArtifactResponse
  > = (call, callback) => {
    const entry = {
      header: undefined as trackingV1.UploadArtifactHeader | undefined,
      data: Buffer.alloc(0),
      authorization: String(call.metadata.get('authorization')[0]),
    };
    call.on('data', (m: trackingV1.UploadArtifactRequest) => {
      if (m.part?.$case === 'header') entry.header = m.part.value;
      if (m.part?.$case === 'chunk') entry.data = Buffer.concat([entry.data, m.part.value]);
    });
    call.on('end', () => {
      if (entry.header?.path.endsWith('forbidden.bin')) {
        callback(refuse('PERMISSION_DENIED', 'no writing here', status.PERMISSION_DENIED));
        return;
      }
      uploads.set(entry.header!.path, entry);
      callback(null, { path: entry.header!.path, size: entry.data.length, sha256: '' });
    });
  };
  const download: handleServerStreamingCall<
    trackingV1.DownloadArtifactRequest,
    trackingV1.DownloadArtifactResponse
  > = (call) => {
    const stored = uploads.get(call.request.path);
    if (!stored) {
      call.emit('error', refuse('ARTIFACT_NOT_FOUND', `no ${call.request.path}`, status.NOT_FOUND));
      return;
    }
    call.write({ part: { $case: 'size', value: stored.data.length } });
    for (let i = 0; i < stored.data.length; i += 1000) {
      call.write({ part: { $case: 'chunk', value: stored.data.subarray(i, i + 1000) } });
    }
    call.end();
  };
  const streamMetrics: handleClientStreamingCall<
    trackingV1.StreamMetricsRequest,
    trackingV1.StreamMetricsResponse
  > = (call, callback) => {
    let points = 0;
    call.on('data', (m: trackingV1.StreamMetricsRequest) => (points += m.metrics.length));
    call.on('end', () => callback(null, { pointsLogged: points }));
  };
  let signalCancelled: () => void = () => undefined;
  watchCancelled = new Promise((resolve) => (signalCancelled = resolve));
  const watch: handleServerStreamingCall<gatewayEventsV1.WatchRequest, gatewayEventsV1.Event> = (call) => {
    for (let i = 1; i <= 3; i++) {
      call.write({
        id: `e${i}`,
        type: call.request.types[0] ?? 't',
        source: 's',
        subject: 'm',
        time: i,
        dataJson: '{}',
        sequence: i,
      });
    }
    // Like the gateway: the stream stays open until the client cancels.
    call.on('cancelled', () => signalCancelled());
  };
  server.addService(trackingV1.ArtifactServiceService, {
    uploadArtifact: upload,
    downloadArtifact: download,
  });
  server.addService(trackingV1.RunServiceService, {
    streamMetrics,
  });
  server.addService(gatewayEventsV1.EventsServiceService, { watch });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  client = new CairnClient({ address: `127.0.0.1:${port}`, credentials: { apiKey: 'cairn_k_s' } });
});

afterAll(async () => {
  client?.close();
  server?.forceShutdown();
  await rm(dir, { recursive: true, force: true });
});

describe('uploadArtifact and downloadArtifact', () => {
  it('streams a file in chunks with a header, reports progress, and downloads it back intact', async () => {
    const body = randomBytes(700 * 1024 + 13);
    const file = path.join(dir, 'weights.bin');
    await writeFile(file, body);
    const progress: TransferProgress[] = [];
    const res = await client.uploadArtifact('r1', file, 'model/weights.bin', (p) => progress.push(p));
    expect(res.size).toBe(body.length);
    const stored = uploads.get('model/weights.bin')!;
    expect(stored.header).toMatchObject({ runId: 'r1', path: 'model/weights.bin', size: body.length });
    expect(stored.data.equals(body)).toBe(true);
    expect(stored.authorization).toBe('Bearer cairn_k_s');
    // 256 KiB chunks: a first report at 0, then one per chunk, ending at the whole.
    expect(progress.map((p) => p.bytes)).toEqual([0, 262144, 524288, body.length]);

    const copy = path.join(dir, 'out', 'copy.bin');
    const seen: number[] = [];
    expect(await client.downloadArtifact('r1', 'model/weights.bin', copy, (p) => seen.push(p.bytes))).toEqual(
      {
        size: body.length,
      },
    );
    expect((await readFile(copy)).equals(body)).toBe(true);
    expect(seen.at(-1)).toBe(body.length);
  });

  it('uploads a directory recursively under a destination', async () => {
    const local = path.join(dir, 'model-dir');
    await mkdir(path.join(local, 'sub'), { recursive: true });
    await writeFile(path.join(local, 'MLmodel'), 'flavors: {}\n');
    await writeFile(path.join(local, 'sub', 'w.pkl'), 'weights');
    const res = await client.uploadArtifactDirectory('r1', local, 'model');
    expect(res.map((r) => r.path)).toEqual(['model/MLmodel', 'model/sub/w.pkl']);
    expect(uploads.get('model/sub/w.pkl')!.data.toString()).toBe('weights');
  });

  it('surfaces the service’s refusal with its reason, and removes a partial download', async () => {
    const file = path.join(dir, 'small.bin');
    await writeFile(file, 'x');
    await expect(client.uploadArtifact('r1', file, 'forbidden.bin')).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
      reason: 'PERMISSION_DENIED',
    });
    const target = path.join(dir, 'missing.bin');
    await expect(client.downloadArtifact('r1', 'nope', target)).rejects.toMatchObject({
      code: status.NOT_FOUND,
      reason: 'ARTIFACT_NOT_FOUND',
    });
    await expect(readFile(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('logMetrics', () => {
  it('sends points in batches and returns how many the service wrote', async () => {
    function* points() {
      for (let step = 0; step < 2_500; step++) yield { key: 'loss', value: 1 / (step + 1), step };
    }
    expect(await client.logMetrics('r1', points(), { batchSize: 1000 })).toBe(2_500);
  });
});

describe('watchEvents', () => {
  it('yields events as they come and ends, cancelling the call, when the signal aborts', async () => {
    const stop = new AbortController();
    const got: string[] = [];
    for await (const event of client.watchEvents({ types: ['cairn.x.v1'] }, { signal: stop.signal })) {
      got.push(`${event.id}:${event.type}`);
      if (got.length === 3) stop.abort();
    }
    expect(got).toEqual(['e1:cairn.x.v1', 'e2:cairn.x.v1', 'e3:cairn.x.v1']);
    // The server saw the cancellation (it would otherwise keep the stream open forever).
    await watchCancelled;
  });
});
