import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { systemV1 } from '@cairn/proto';
import { createTestDatabase, freePort, type TestDatabase, unary, waitFor } from '@cairn/testing';

const ROOT = path.resolve(__dirname, '../../..');

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string };
}
interface OtlpExport {
  resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: Array<{ spans: Array<{ name: string; traceId: string; kind: number }> }>;
  }>;
}

/** A built service as its own process, the way the launcher or a Kubernetes pod runs it. */
describe('a service process', () => {
  let db: TestDatabase;
  let collector: http.Server;
  const exports: OtlpExport[] = [];
  let child: ChildProcess | undefined;
  const output: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('process');
    // A stand-in OpenTelemetry collector: accepts OTLP/HTTP JSON exports.
    collector = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/v1/traces') exports.push(JSON.parse(body) as OtlpExport);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  });
  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });
  afterAll(async () => {
    await new Promise((r) => collector.close(r));
    await db.drop();
  });

  function startTracking(env: Record<string, string>): { exited: Promise<number | null> } {
    output.length = 0;
    child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/tracking/src/main.js')], {
      env: { ...process.env, DATABASE_URL: db.url, CAIRN_BIND_HOST: '127.0.0.1', ...env },
    });
    child.stdout?.on('data', (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean)));
    child.stderr?.on('data', (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean)));
    const c = child;
    return { exited: new Promise((r) => c.once('exit', (code) => r(code))) };
  }

  it('exports traces of its gRPC calls over OTLP when configured, and stops on SIGTERM with exit 0', async () => {
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const collectorPort = (collector.address() as AddressInfo).port;
    const proc = startTracking({
      CAIRN_TRACKING_GRPC_PORT: String(grpcPort),
      CAIRN_TRACKING_HTTP_PORT: String(httpPort),
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    await waitFor(
      'tracking to be ready',
      async () => {
        const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      },
      60_000,
    );

    const client = new systemV1.SystemServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    const info = await unary<systemV1.GetInfoRequest, systemV1.GetInfoResponse>(client.getInfo.bind(client))(
      {},
    );
    client.close();
    expect(info.tracesExporter).toBe('otlp');

    const span = await waitFor(
      'the GetInfo server span at the collector',
      () => {
        for (const e of exports) {
          for (const rs of e.resourceSpans) {
            const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
            for (const ss of rs.scopeSpans) {
              const s = ss.spans.find((x) => x.name === 'grpc.cairn.system.v1.SystemService/GetInfo');
              if (s && service === 'cairn-tracking') return s;
            }
          }
        }
        return undefined;
      },
      20_000,
    );
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
    // The database query made inside the call is a child span of the same trace.
    const sameTrace = exports
      .flatMap((e) => e.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)))
      .filter((s) => s.traceId === span.traceId)
      .map((s) => s.name);
    expect(sameTrace.some((n) => /^pg\.query/.test(n))).toBe(true);

    child!.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(output.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });

  it('refuses to start on a bad setting, naming it, with exit code 78', async () => {
    const proc = startTracking({ CAIRN_TRACKING_HTTP_PORT: '-1', OTEL_TRACES_EXPORTER: 'zipkin' });
    expect(await proc.exited).toBe(78);
    const text = output.join('\n');
    expect(text).toContain('Invalid configuration for tracking:');
    expect(text).toContain('CAIRN_TRACKING_HTTP_PORT: must be an integer between 1 and 65535 (got "-1")');
    expect(text).toContain('OTEL_TRACES_EXPORTER: must be one of none, otlp, console (got "zipkin")');
  });
});
