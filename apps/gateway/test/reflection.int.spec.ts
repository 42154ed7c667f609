import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type ClientDuplexStream, credentials, loadPackageDefinition, Metadata, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { type RunningService, startService } from '@cairn/service-runtime';
import { createTestDatabase, freePort, type TestDatabase } from '@cairn/testing';
import { gatewayBlueprint } from '../src/gateway.blueprint';
import { ADMIN_PASSWORD, basicValue } from './auth-harness';

/*
 * Server reflection on the gateway's public port (grpcurl, Postman, Evans): the public API's
 * services and their descriptors, for authenticated callers only.
 */

interface ReflectionResponse {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}
type ReflectionStream = ClientDuplexStream<Record<string, unknown>, ReflectionResponse>;
interface ReflectionClient {
  ServerReflectionInfo(md: Metadata): ReflectionStream;
  close(): void;
}

let db: TestDatabase;
let svc: RunningService;
let home: string;
let Client: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => ReflectionClient;

beforeAll(async () => {
  db = await createTestDatabase('gateway_reflection');
  home = await mkdtemp(path.join(os.tmpdir(), 'cairn-gateway-reflection-'));
  svc = await startService(gatewayBlueprint, {
    DATABASE_URL: db.url,
    CAIRN_GATEWAY_GRPC_PORT: String(await freePort()),
    CAIRN_GATEWAY_HTTP_PORT: String(await freePort()),
    CAIRN_BIND_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    CAIRN_IDENTITY_KEY_DIR: path.join(home, 'keys'),
    CAIRN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  });
  const reflectionProto = path.join(
    path.dirname(require.resolve('@grpc/reflection/package.json')),
    'build/proto/grpc/reflection/v1/reflection.proto',
  );
  const pkg = loadPackageDefinition(
    loadSync(reflectionProto, { keepCase: false, oneofs: true }),
  ) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: typeof Client } } };
  };
  Client = pkg.grpc.reflection.v1.ServerReflection;
});

afterAll(async () => {
  await svc?.stop();
  await db?.drop();
  if (home) await rm(home, { recursive: true, force: true });
});

/** One request on a reflection stream, and its one answer (or the stream's failure). */
function ask(
  authorization: string | undefined,
  request: Record<string, unknown>,
): Promise<ReflectionResponse> {
  const client = new Client(`127.0.0.1:${svc.grpcPort}`, credentials.createInsecure());
  const md = new Metadata();
  if (authorization) md.set('authorization', authorization);
  const stream = client.ServerReflectionInfo(md);
  return new Promise<ReflectionResponse>((resolve, reject) => {
    stream.once('data', (res: ReflectionResponse) => {
      resolve(res);
      stream.end();
    });
    stream.once('error', reject);
    stream.write(request);
  }).finally(() => client.close());
}

describe('gRPC server reflection on the gateway', () => {
  it('refuses callers without credentials, or with wrong ones, with UNAUTHENTICATED', async () => {
    await expect(ask(undefined, { listServices: '' })).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    await expect(ask(basicValue('admin', 'wrong-password'), { listServices: '' })).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
  });

  it("lists the public API's services to an authenticated caller", async () => {
    const res = await ask(basicValue('admin', ADMIN_PASSWORD), { listServices: '' });
    const names = (res.listServicesResponse?.service ?? []).map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'cairn.tracking.v1.RunService',
        'cairn.tracking.v1.ArtifactService',
        'cairn.registry.v1.ModelRegistryService',
        'cairn.registry.v1.GovernanceService',
        'cairn.gateway.v1.AuthService',
        'cairn.gateway.v1.EventsService',
      ]),
    );
  });

  it('returns the file descriptor that defines a symbol, and an error for an unknown one', async () => {
    const res = await ask(basicValue('admin', ADMIN_PASSWORD), {
      fileContainingSymbol: 'cairn.tracking.v1.RunService',
    });
    const files = res.fileDescriptorResponse?.fileDescriptorProto ?? [];
    expect(files.length).toBeGreaterThan(0);
    // Serialized FileDescriptorProtos: the package, the service and its methods are in them.
    const text = Buffer.concat(files).toString('latin1');
    for (const name of ['cairn.tracking.v1', 'RunService', 'StreamMetrics', 'LogBatchRequest']) {
      expect(text).toContain(name);
    }
    const unknown = await ask(basicValue('admin', ADMIN_PASSWORD), {
      fileContainingSymbol: 'no.such.Service',
    });
    expect(unknown.errorResponse?.errorCode).toBe(status.NOT_FOUND);
  });
});
