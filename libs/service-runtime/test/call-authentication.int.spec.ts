import { Inject, Injectable, Module } from '@nestjs/common';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { ConfigError } from '@cairn/config';
import {
  AppError,
  type CallAuthenticator,
  type CallContext,
  type CallerIdentity,
  GrpcService,
  type HeaderSource,
} from '@cairn/rpc';
import { createTestDatabase, freePort, type TestDatabase, testIdentity } from '@cairn/testing';
import { type RunningService, type ServiceBlueprint, startService } from '../src';

const json = {
  requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
  responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const WhoDefinition = {
  whoAmI: { path: '/test.Who/WhoAmI', requestStream: false, responseStream: false, ...json },
} as unknown as ServiceDefinition;

@Injectable()
@GrpcService(WhoDefinition)
class WhoGrpc {
  async whoAmI(_req: unknown, ctx: CallContext): Promise<{ identity: CallerIdentity | null }> {
    return { identity: ctx.identity ?? null };
  }
}

/** A feature provider the replacement authenticator injects (the gateway's API keys, say). */
@Injectable()
class ApiKeys {
  private readonly keys = new Map([['k-123', 'service-account:ci']]);
  principalOf(key: string): string | undefined {
    return this.keys.get(key);
  }
}

@Module({ providers: [WhoGrpc, ApiKeys], exports: [ApiKeys] })
class WhoModule {}

@Injectable()
class ApiKeyAuthenticator implements CallAuthenticator {
  constructor(@Inject(ApiKeys) private readonly keys: ApiKeys) {}
  async authenticate(headers: HeaderSource): Promise<CallerIdentity | undefined> {
    const key = headers.get('x-api-key');
    if (key === undefined) return undefined;
    const principal = this.keys.principalOf(key);
    if (!principal) throw new AppError('unauthenticated', 'API_KEY_INVALID', 'unknown API key');
    return { principal, roles: ['writer'], via: 'api-key' };
  }
}

const blueprint: ServiceBlueprint = { service: 'monitor', migrations: [], features: () => [WhoModule] };
const Client = makeGenericClientConstructor(WhoDefinition, 'Who');
type WhoClient = {
  whoAmI(
    req: object,
    md: Metadata,
    cb: (e: ServiceError | null, r: { identity: CallerIdentity | null }) => void,
  ): void;
  close(): void;
};

describe('call authentication in a service', () => {
  const gateway = testIdentity();
  let db: TestDatabase;
  const running: RunningService[] = [];
  let base: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createTestDatabase('runtime_auth');
    base = { DATABASE_URL: db.url, CAIRN_BIND_HOST: '127.0.0.1', LOG_LEVEL: 'silent' };
  });
  afterAll(async () => {
    for (const svc of running) await svc.stop();
    await db?.drop();
  });

  async function start(bp: ServiceBlueprint, env: NodeJS.ProcessEnv) {
    const svc = await startService(bp, {
      ...base,
      CAIRN_MONITOR_GRPC_PORT: String(await freePort()),
      CAIRN_MONITOR_HTTP_PORT: String(await freePort()),
      ...env,
    });
    running.push(svc);
    const client = new Client(
      `127.0.0.1:${svc.grpcPort}`,
      credentials.createInsecure(),
    ) as unknown as WhoClient;
    const call = (md: Metadata) =>
      new Promise<{ identity?: CallerIdentity | null; code?: number; reason?: string }>((resolve) =>
        client.whoAmI({}, md, (err, res) =>
          resolve(
            err
              ? { code: err.code, reason: String(err.metadata.get('cairn-reason')[0]) }
              : { identity: res.identity },
          ),
        ),
      );
    return { svc, call, close: () => client.close() };
  }

  const withHeader = (key: string, value: string) => {
    const md = new Metadata();
    md.set(key, value);
    return md;
  };

  it('verifies the gateway identity token by default and hands the identity to the handler', async () => {
    const { call, close } = await start(blueprint, gateway.env);
    expect(
      await call(await gateway.metadata({ principal: 'user:alice', roles: ['admin'], audience: 'monitor' })),
    ).toEqual({
      identity: { principal: 'user:alice', roles: ['admin'], via: 'gateway-token' },
    });
    expect(await call(new Metadata())).toEqual({ identity: null });
    expect(await call(await gateway.metadata({ principal: 'user:alice', audience: 'registry' }))).toEqual({
      code: status.UNAUTHENTICATED,
      reason: 'IDENTITY_TOKEN_WRONG_AUDIENCE',
    });
    expect(
      await call(await testIdentity().metadata({ principal: 'user:alice', audience: 'monitor' })),
    ).toEqual({
      code: status.UNAUTHENTICATED,
      reason: 'IDENTITY_KEY_UNKNOWN',
    });
    // Another authenticator's credentials mean nothing here.
    expect(await call(withHeader('x-api-key', 'k-123'))).toEqual({ identity: null });
    close();
  });

  it('refuses a token when no gateway key is configured, and serves calls without one', async () => {
    const { call, close } = await start(blueprint, {});
    expect(await call(await gateway.metadata({ principal: 'user:alice', audience: 'monitor' }))).toEqual({
      code: status.UNAUTHENTICATED,
      reason: 'IDENTITY_NOT_CONFIGURED',
    });
    expect(await call(new Metadata())).toEqual({ identity: null });
    close();
  });

  it('refuses to start with a bad CAIRN_IDENTITY_PUBLIC_KEYS, naming it', async () => {
    await expect(
      start(blueprint, {
        CAIRN_IDENTITY_PUBLIC_KEYS: '{"k": "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----"}',
      }),
    ).rejects.toThrow(ConfigError);
    await expect(start(blueprint, { CAIRN_IDENTITY_PUBLIC_KEYS: 'nope' })).rejects.toThrow(
      /CAIRN_IDENTITY_PUBLIC_KEYS: must be a JSON object/,
    );
  });

  it('replaces the default with the blueprint’s authenticator, which injects feature providers', async () => {
    const { call, close } = await start(
      { ...blueprint, callAuthenticator: ApiKeyAuthenticator },
      // Not the default's setting any more: not even validated.
      { CAIRN_IDENTITY_PUBLIC_KEYS: 'nope' },
    );
    expect(await call(withHeader('x-api-key', 'k-123'))).toEqual({
      identity: { principal: 'service-account:ci', roles: ['writer'], via: 'api-key' },
    });
    expect(await call(withHeader('x-api-key', 'wrong'))).toEqual({
      code: status.UNAUTHENTICATED,
      reason: 'API_KEY_INVALID',
    });
    // The default is gone: a gateway token is not what this service reads.
    expect(await call(await gateway.metadata({ principal: 'user:alice', audience: 'monitor' }))).toEqual({
      identity: null,
    });
    close();
  });
});
