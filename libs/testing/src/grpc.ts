import { credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

type HealthClient = {
  check(
    req: { service: string },
    opts: { deadline: number },
    cb: (err: ServiceError | null, res?: { status: string }) => void,
  ): void;
  close(): void;
};

let healthCtor:
  (new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => HealthClient) | undefined;

/** Calls grpc.health.v1.Health/Check and returns the status name (e.g. `SERVING`). */
export async function grpcHealthCheck(address: string, service = '', timeoutMs = 2_000): Promise<string> {
  if (!healthCtor) {
    const def = loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
    const pkg = loadPackageDefinition(def) as unknown as {
      grpc: { health: { v1: { Health: typeof healthCtor } } };
    };
    healthCtor = pkg.grpc.health.v1.Health;
  }
  const Ctor = healthCtor as NonNullable<typeof healthCtor>;
  const client = new Ctor(address, credentials.createInsecure());
  try {
    return await new Promise<string>((resolve, reject) =>
      client.check({ service }, { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res?.status ?? 'UNKNOWN'),
      ),
    );
  } finally {
    client.close();
  }
}

/** Promisifies one unary method of a ts-proto generated grpc-js client. */
export function unary<Req, Res>(
  call: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown,
): (req: Req) => Promise<Res> {
  return (req) =>
    new Promise((resolve, reject) => call(req, (err, res) => (err ? reject(err) : resolve(res))));
}
