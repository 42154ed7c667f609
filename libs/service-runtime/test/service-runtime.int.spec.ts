import { Injectable, Module } from '@nestjs/common';
import {
  credentials,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { ConfigError } from '@cairn/config';
import { systemV1 } from '@cairn/proto';
import { AppError, type CallContext, GrpcService } from '@cairn/rpc';
import {
  createTestDatabase,
  freePort,
  grpcHealthCheck,
  type TestDatabase,
  unary,
  waitFor,
} from '@cairn/testing';
import { type RunningService, type ServiceBlueprint, startService } from '../src';

class CreateWidgets1700000000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE widgets');
  }
}

// A hand-written definition keeps this test free of generated code for a test-only service.
const json = {
  requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
  responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const ProbeDefinition = {
  hold: { path: '/test.Probe/Hold', requestStream: false, responseStream: false, ...json },
  fail: { path: '/test.Probe/Fail', requestStream: false, responseStream: false, ...json },
  crash: { path: '/test.Probe/Crash', requestStream: false, responseStream: false, ...json },
} as unknown as ServiceDefinition;

const held: Array<() => void> = [];
let lastAbort: unknown;

@Injectable()
@GrpcService(ProbeDefinition)
class ProbeGrpc {
  /** Holds the call until the test releases it, or until the call is cancelled. */
  hold(_req: unknown, ctx: CallContext): Promise<{ done: boolean }> {
    return new Promise((resolve, reject) => {
      held.push(() => resolve({ done: true }));
      ctx.signal.addEventListener('abort', () => {
        lastAbort = ctx.signal.reason;
        reject(ctx.signal.reason as Error);
      });
    });
  }
  async fail(): Promise<never> {
    throw new AppError('not_found', 'WIDGET_NOT_FOUND', 'widget 42 does not exist', { widget_id: '42' });
  }
  async crash(): Promise<never> {
    throw new Error('relation "secret_table" does not exist');
  }
}

@Module({ providers: [ProbeGrpc] })
class ProbeModule {}

const blueprint: ServiceBlueprint = {
  service: 'tracking',
  migrations: [CreateWidgets1700000000000],
  features: () => [ProbeModule],
};

const ProbeClient = makeGenericClientConstructor(ProbeDefinition, 'Probe');
type Probe = {
  hold(
    req: object,
    opts: { deadline?: number },
    cb: (e: ServiceError | null, r: { done: boolean }) => void,
  ): void;
  fail(req: object, cb: (e: ServiceError | null, r: unknown) => void): void;
  crash(req: object, cb: (e: ServiceError | null, r: unknown) => void): void;
  close(): void;
};

describe('service runtime', () => {
  let db: TestDatabase;
  let svc: RunningService;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createTestDatabase('runtime');
    env = {
      DATABASE_URL: db.url,
      CAIRN_TRACKING_GRPC_PORT: String(await freePort()),
      CAIRN_TRACKING_HTTP_PORT: String(await freePort()),
      CAIRN_BIND_HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      CAIRN_SHUTDOWN_TIMEOUT_MS: '5000',
    };
    svc = await startService(blueprint, env);
  });
  afterAll(async () => {
    await svc?.stop();
    await db?.drop();
  });

  const http = (path: string) => fetch(`http://127.0.0.1:${svc.httpPort}${path}`);

  it('answers liveness, readiness and Prometheus metrics over HTTP', async () => {
    expect((await http('/healthz')).status).toBe(200);
    const ready = await http('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { database: { ok: true }, migrations: { ok: true } },
    });
    const metrics = await http('/metrics');
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toMatch(/^process_cpu_user_seconds_total\{service="tracking"\} /m);
  });

  it('applies the migrations into its own schema', async () => {
    const client = new systemV1.SystemServiceClient(
      `127.0.0.1:${svc.grpcPort}`,
      credentials.createInsecure(),
    );
    const info = await unary<systemV1.GetInfoRequest, systemV1.GetInfoResponse>(client.getInfo.bind(client))(
      {},
    );
    client.close();
    expect(info).toMatchObject({
      service: 'tracking',
      databaseSchema: 'tracking',
      appliedMigrations: ['CreateWidgets1700000000000'],
      tracesExporter: 'none',
    });
    expect(info.startedAtMs).toBeGreaterThan(Date.now() - 120_000);
  });

  it('serves grpc.health.v1 with SERVING for the server and each service', async () => {
    const addr = `127.0.0.1:${svc.grpcPort}`;
    expect(await grpcHealthCheck(addr)).toBe('SERVING');
    expect(await grpcHealthCheck(addr, 'cairn.system.v1.SystemService')).toBe('SERVING');
    await expect(grpcHealthCheck(addr, 'no.such.Service')).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it('maps application errors to precise status codes with a reason, and hides internal errors', async () => {
    const client = new ProbeClient(
      `127.0.0.1:${svc.grpcPort}`,
      credentials.createInsecure(),
    ) as unknown as Probe;
    const failErr = await new Promise<ServiceError>((resolve) => client.fail({}, (e) => resolve(e!)));
    expect(failErr.code).toBe(status.NOT_FOUND);
    expect(failErr.details).toBe('widget 42 does not exist');
    expect(failErr.metadata.get('cairn-reason')).toEqual(['WIDGET_NOT_FOUND']);
    expect(failErr.metadata.get('cairn-detail-widget_id')).toEqual(['42']);
    const crashErr = await new Promise<ServiceError>((resolve) => client.crash({}, (e) => resolve(e!)));
    expect(crashErr.code).toBe(status.INTERNAL);
    expect(crashErr.details).toBe('internal error');
    client.close();
    const metrics = await (await http('/metrics')).text();
    expect(metrics).toMatch(
      /grpc_server_handled_total\{[^}]*grpc_method="Fail"[^}]*grpc_code="NOT_FOUND"[^}]*\} 1/,
    );
  });

  it('tells a handler when its deadline passes', async () => {
    const client = new ProbeClient(
      `127.0.0.1:${svc.grpcPort}`,
      credentials.createInsecure(),
    ) as unknown as Probe;
    lastAbort = undefined;
    const err = await new Promise<ServiceError>((resolve) =>
      client.hold({}, { deadline: Date.now() + 200 }, (e) => resolve(e!)),
    );
    client.close();
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    await waitFor('the handler to observe cancellation', () => (lastAbort ? true : undefined), 5_000);
    expect(lastAbort).toBeInstanceOf(AppError);
    held.length = 0;
  });

  it('rejects a bad setting before starting, naming it', async () => {
    await expect(startService(blueprint, { ...env, CAIRN_TRACKING_GRPC_PORT: '70000' })).rejects.toThrow(
      ConfigError,
    );
    await expect(startService(blueprint, { ...env, CAIRN_TRACKING_GRPC_PORT: 'abc' })).rejects.toThrow(
      /CAIRN_TRACKING_GRPC_PORT: must be an integer between 1 and 65535 \(got "abc"\)/,
    );
    await expect(startService(blueprint, { ...env, DATABASE_URL: undefined })).rejects.toThrow(
      /DATABASE_URL: is required/,
    );
    await expect(startService(blueprint, { ...env, DATABASE_URL: 'mysql://u:secret@h/db' })).rejects.toThrow(
      /DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL$/m,
    );
  });

  // Last: it stops the service.
  it('drains in-flight calls on shutdown while refusing new ones, then closes the pool', async () => {
    const addr = `127.0.0.1:${svc.grpcPort}`;
    const client = new ProbeClient(addr, credentials.createInsecure()) as unknown as Probe;
    held.length = 0;
    const inFlight = new Promise<{ err: ServiceError | null; res?: { done: boolean } }>((resolve) =>
      client.hold({}, { deadline: Date.now() + 10_000 }, (err, res) => resolve({ err, res })),
    );
    await waitFor('the call to reach its handler', () => (held.length === 1 ? true : undefined));
    const stopped = svc.stop();
    await waitFor('readiness to turn off', async () =>
      (await http('/readyz').catch(() => undefined))?.status !== 200 ? true : undefined,
    );
    // A new connection is refused while the old call drains.
    await expect(grpcHealthCheck(addr, '', 1_000)).rejects.toMatchObject({ code: expect.any(Number) });
    // The in-flight call still completes after shutdown began.
    held[0]();
    const outcome = await inFlight;
    expect(outcome.err).toBeNull();
    expect(outcome.res).toEqual({ done: true });
    await stopped;
    client.close();
    // Everything is closed: the ports refuse connections.
    await expect(fetch(`http://127.0.0.1:${svc.httpPort}/healthz`)).rejects.toThrow();
    await expect(grpcHealthCheck(addr, '', 500)).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });
});
