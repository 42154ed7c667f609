import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ServerReadableStream,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { AppError } from './app-error';
import type { CallAuthenticator, CallerIdentity, HeaderSource } from './call-authentication';
import { type CallContext, GrpcServerHost } from './grpc-server';

const json = {
  requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
  responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const WhoDefinition = {
  whoAmI: { path: '/test.Who/WhoAmI', requestStream: false, responseStream: false, ...json },
  watch: { path: '/test.Who/Watch', requestStream: false, responseStream: true, ...json },
  upload: { path: '/test.Who/Upload', requestStream: true, responseStream: false, ...json },
} as unknown as ServiceDefinition;

type Who = { principal: string | null; via?: string };
const who = (ctx: CallContext): Who => ({
  principal: ctx.identity?.principal ?? null,
  via: ctx.identity?.via,
});

let handled = 0;
class WhoGrpc {
  async whoAmI(_req: unknown, ctx: CallContext): Promise<Who> {
    handled += 1;
    return who(ctx);
  }
  async watch(_req: unknown, call: ServerWritableStream<unknown, unknown>, ctx: CallContext): Promise<void> {
    handled += 1;
    call.write(who(ctx));
    call.write(who(ctx));
  }
  async upload(call: ServerReadableStream<unknown, unknown>, ctx: CallContext): Promise<Who> {
    handled += 1;
    for await (const _ of call) {
      /* drain */
    }
    return who(ctx);
  }
}

/** Accepts `x-user: <name>`; refuses `x-user: mallory`; no header, no identity. */
class HeaderAuthenticator implements CallAuthenticator {
  calls = 0;
  async authenticate(headers: HeaderSource): Promise<CallerIdentity | undefined> {
    this.calls += 1;
    const user = headers.get('x-user');
    if (user === undefined) return undefined;
    if (user === 'mallory') throw new AppError('unauthenticated', 'TEST_REFUSED', 'not you');
    return { principal: `user:${user}`, roles: [], via: 'test-header' };
  }
}

const Client = makeGenericClientConstructor(WhoDefinition, 'Who');
type WhoClient = {
  whoAmI(req: object, md: Metadata, cb: (e: ServiceError | null, r: Who) => void): void;
  watch(
    req: object,
    md: Metadata,
  ): NodeJS.ReadableStream & { on(e: 'error', l: (e: ServiceError) => void): void };
  upload(md: Metadata, cb: (e: ServiceError | null, r: Who) => void): { write(m: object): void; end(): void };
  close(): void;
};

const md = (user?: string) => {
  const m = new Metadata();
  if (user !== undefined) m.set('x-user', user);
  return m;
};

describe('call authentication in the gRPC server host', () => {
  const authenticator = new HeaderAuthenticator();
  const metrics = new Registry();
  let host: GrpcServerHost;
  let client: WhoClient;

  beforeAll(async () => {
    host = new GrpcServerHost({
      host: '127.0.0.1',
      port: 0,
      maxMessageBytes: 1024 * 1024,
      logger: pino({ level: 'silent' }),
      metrics,
    });
    host.addService(WhoDefinition, new WhoGrpc());
    host.useAuthenticator(authenticator);
    const port = await host.start();
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as WhoClient;
  });
  afterAll(async () => {
    client.close();
    await host.shutdown(1_000);
  });

  const unary = (user?: string) =>
    new Promise<{ err: ServiceError | null; res?: Who }>((resolve) =>
      client.whoAmI({}, md(user), (err, res) => resolve({ err, res })),
    );
  const stream = (user?: string) =>
    new Promise<{ err?: ServiceError; items: Who[] }>((resolve) => {
      const items: Who[] = [];
      const call = client.watch({}, md(user));
      call.on('data', (d: Who) => items.push(d));
      call.on('error', (err: ServiceError) => resolve({ err, items }));
      call.on('end', () => resolve({ items }));
    });
  const upload = (user?: string) =>
    new Promise<{ err: ServiceError | null; res?: Who }>((resolve) => {
      const call = client.upload(md(user), (err, res) => resolve({ err, res }));
      call.write({ chunk: 1 });
      call.end();
    });

  it('hands the established identity to unary, server-streaming and client-streaming handlers', async () => {
    const before = authenticator.calls;
    expect((await unary('alice')).res).toEqual({ principal: 'user:alice', via: 'test-header' });
    expect((await stream('bob')).items).toEqual([
      { principal: 'user:bob', via: 'test-header' },
      { principal: 'user:bob', via: 'test-header' },
    ]);
    expect((await upload('carol')).res).toEqual({ principal: 'user:carol', via: 'test-header' });
    // Once per call, however many messages the call carries.
    expect(authenticator.calls - before).toBe(3);
  });

  it('runs the handler without an identity when the call presents no credentials', async () => {
    expect((await unary()).res).toEqual({ principal: null });
    expect((await stream()).items).toEqual([{ principal: null }, { principal: null }]);
  });

  it('fails a call whose credentials are refused with UNAUTHENTICATED and the reason, before its handler', async () => {
    const before = handled;
    for (const outcome of [await unary('mallory'), await stream('mallory'), await upload('mallory')]) {
      expect(outcome.err?.code).toBe(status.UNAUTHENTICATED);
      expect(outcome.err?.details).toBe('not you');
      expect(outcome.err?.metadata.get('cairn-reason')).toEqual(['TEST_REFUSED']);
    }
    expect(handled).toBe(before);
  });

  it('counts refused calls in the metrics like any other failure', async () => {
    const text = await metrics.metrics();
    expect(text).toMatch(
      /grpc_server_handled_total\{[^}]*grpc_method="WhoAmI"[^}]*grpc_code="UNAUTHENTICATED"[^}]*\} 1/,
    );
  });
});
