import {
  type Client,
  credentials,
  type handleUnaryCall,
  loadPackageDefinition,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { REASON_METADATA_KEY } from '@cairn/rpc';

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

/** Promise-returning versions of a ts-proto service's unary methods, taking partial requests. */
export type UnaryApi<S> = {
  [
    K in keyof S as S[K] extends handleUnaryCall<infer _Q, infer _R> ? (string extends K ? never : K) : never
  ]: S[K] extends handleUnaryCall<infer Req, infer Res> ? (req: Partial<Req>) => Promise<Res> : never;
};

/**
 * A typed test client over every unary method of `definition` (a ts-proto grpc-js service
 * definition): requests are completed with the request type's `fromPartial`, found in
 * `protoModule` (the generated file's namespace), and sent with `metadata` (made per call, so
 * it may carry a fresh identity token) and a 30 s deadline.
 */
export function unaryApi<S>(
  client: Client,
  definition: Record<string, { path: string }>,
  protoModule: object,
  metadata: () => Metadata | Promise<Metadata> = () => new Metadata(),
): UnaryApi<S> {
  const codecs = protoModule as Record<string, { fromPartial?: (o: unknown) => unknown } | undefined>;
  const fromPartial: Record<string, (o: unknown) => unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    fromPartial[name] = codecs[`${method.path.split('/')[2]}Request`]?.fromPartial ?? ((o) => o);
  }
  return new Proxy({} as UnaryApi<S>, {
    get(_t, name: string) {
      return async (req: unknown) => {
        const md = await metadata();
        return new Promise((resolve, reject) => {
          const method = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
          method.call(
            client,
            fromPartial[name](req),
            md,
            { deadline: Date.now() + 30_000 },
            (err: ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)),
          );
        });
      };
    },
  });
}

/** What a failed gRPC call reported: its status code, message and `cairn-reason`. */
export async function grpcFailure(
  p: Promise<unknown>,
): Promise<{ code: number; message: string; reason: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return {
      code: e.code,
      message: e.details,
      reason: String(e.metadata?.get(REASON_METADATA_KEY)[0] ?? ''),
    };
  }
  throw new Error('expected the call to fail');
}

/**
 * Writes `count` messages to a client stream as fast as it takes them (waiting for `drain`
 * whenever its buffer is full), then ends it. `messageAt(i)` is called once per message.
 */
export function writeAllThenEnd<Req>(
  stream: { write(msg: Req): boolean; once(event: 'drain', fn: () => void): unknown; end(): void },
  count: number,
  messageAt: (i: number) => Req,
): void {
  let sent = 0;
  const pump = () => {
    while (sent < count) {
      const ok = stream.write(messageAt(sent));
      sent++;
      if (!ok) {
        stream.once('drain', pump);
        return;
      }
    }
    stream.end();
  };
  pump();
}
