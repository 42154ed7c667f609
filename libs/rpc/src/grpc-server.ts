import {
  type UntypedHandleCall,
  Metadata,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { grpcServerMetrics } from '@cairn/telemetry';
import { AppError, grpcStatusFor } from './app-error';
import { UpstreamError } from './upstream-error';
import { type CallAuthenticator, type CallerIdentity, headersOf } from './call-authentication';

/** What a handler learns about its call besides the request. */
export interface CallContext {
  metadata: Metadata;
  /** The caller, when the server's authenticator established one (see CallAuthenticator). */
  identity?: CallerIdentity;
  /** Aborted when the client cancels or the deadline passes: long work must watch it. */
  signal: AbortSignal;
  deadline: number | undefined;
  peer: string;
}

export interface GrpcServerOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  logger: Logger;
  metrics: Registry;
  /** Runs once per call before the handler; a refusal fails the call. */
  authenticator?: CallAuthenticator;
}

/** Channel options a public-facing server needs (grpc-js defaults allow unbounded connections). */
function serverChannelOptions(maxMessageBytes: number): Record<string, number> {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    'grpc.max_connection_age_ms': 30 * 60_000,
    'grpc.max_connection_age_grace_ms': 60_000,
    'grpc.max_connection_idle_ms': 10 * 60_000,
  };
}

export const REASON_METADATA_KEY = 'cairn-reason';

/** Converts any thrown value into a gRPC error with a precise status and a reason code. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: status } {
  if (err instanceof UpstreamError) {
    // Another service's verdict, passed through unchanged (its reason metadata included).
    return { code: err.code, details: err.details, metadata: err.metadata };
  }
  if (err instanceof AppError) {
    const metadata = new Metadata();
    metadata.set(REASON_METADATA_KEY, err.reason);
    for (const [k, v] of Object.entries(err.details)) {
      // Details echo the offending input, which may hold bytes ASCII metadata cannot carry.
      const value = /^[ -~]*$/.test(v) ? v : encodeURIComponent(v);
      metadata.set(`cairn-detail-${k.toLowerCase().replace(/[^a-z0-9_.-]/g, '_')}`, value.slice(0, 1024));
    }
    return { code: grpcStatusFor(err.kind), details: err.message, metadata };
  }
  const metadata = new Metadata();
  metadata.set(REASON_METADATA_KEY, 'INTERNAL');
  // Never leak internals (SQL, stack traces) to callers; the log has them.
  return { code: status.INTERNAL, details: 'internal error', metadata };
}

type AnyHandler = (...args: never[]) => unknown;

/**
 * Hosts a grpc-js server: binds generated service definitions to implementations, adds the
 * standard grpc.health.v1 service, maps errors, records metrics, turns cancellation into
 * an AbortSignal, and drains in-flight calls on shutdown.
 */
export class GrpcServerHost {
  readonly server: Server;
  readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly serviceNames: string[] = [];
  private readonly metrics;
  private boundPort: number | undefined;
  private authenticator: CallAuthenticator | undefined;

  constructor(private readonly opts: GrpcServerOptions) {
    this.server = new Server(serverChannelOptions(opts.maxMessageBytes));
    this.health.addToServer(this.server);
    this.metrics = grpcServerMetrics(opts.metrics);
    this.authenticator = opts.authenticator;
  }

  /**
   * Sets the authenticator every call of every service passes before its handler (the health
   * service excepted: probes carry no credentials). Set it before `start`.
   */
  useAuthenticator(authenticator: CallAuthenticator | undefined): void {
    this.authenticator = authenticator;
  }

  get port(): number | undefined {
    return this.boundPort;
  }

  addService(definition: ServiceDefinition, implementation: object): void {
    const handlers: UntypedServiceImplementation = {};
    let serviceName = '';
    for (const [key, method] of Object.entries(definition)) {
      const [, svc, rpc] = method.path.split('/');
      serviceName = svc;
      const fn = (implementation as Record<string, AnyHandler | undefined>)[key];
      if (typeof fn !== 'function') {
        throw new Error(
          `${implementation.constructor.name} does not implement ${method.path} (method "${key}")`,
        );
      }
      handlers[key] = this.wrap(
        svc,
        rpc,
        fn.bind(implementation),
        method.requestStream,
        method.responseStream,
      );
    }
    this.server.addService(definition, handlers);
    this.serviceNames.push(serviceName);
    this.health.setStatus(serviceName, 'NOT_SERVING');
  }

  async start(): Promise<number> {
    const address = `${this.opts.host}:${this.opts.port}`;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(new Error(`cannot listen for gRPC on ${address}: ${err.message}`)) : resolve(port),
      ),
    );
    return this.boundPort;
  }

  setServing(serving: boolean): void {
    const s: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', s);
    for (const name of this.serviceNames) this.health.setStatus(name, s);
  }

  /** Stops accepting calls, lets in-flight ones finish, and cuts them off after the timeout. */
  shutdown(timeoutMs: number): Promise<void> {
    return (this.shuttingDown ??= this.drain(timeoutMs));
  }

  private shuttingDown?: Promise<void>;

  private async drain(timeoutMs: number): Promise<void> {
    this.setServing(false);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.opts.logger.warn({ timeoutMs }, 'gRPC drain timed out; cancelling remaining calls');
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wrap(
    svc: string,
    rpc: string,
    fn: AnyHandler,
    requestStream: boolean,
    responseStream: boolean,
  ): UntypedHandleCall {
    const log = this.opts.logger;
    const { handled, latency } = this.metrics;
    const record = (code: status, started: bigint) => {
      handled.inc({ grpc_service: svc, grpc_method: rpc, grpc_code: status[code] });
      latency.observe(
        { grpc_service: svc, grpc_method: rpc },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    };
    const contextOf = (
      call:
        | ServerUnaryCall<unknown, unknown>
        | ServerReadableStream<unknown, unknown>
        | ServerWritableStream<unknown, unknown>
        | ServerDuplexStream<unknown, unknown>,
    ): CallContext => {
      const controller = new AbortController();
      (call as ServerUnaryCall<unknown, unknown>).on('cancelled', () =>
        controller.abort(new AppError('aborted', 'CANCELLED', 'call cancelled or deadline exceeded')),
      );
      const deadline = call.getDeadline();
      return {
        metadata: call.metadata,
        signal: controller.signal,
        deadline:
          deadline instanceof Date ? deadline.getTime() : Number.isFinite(deadline) ? deadline : undefined,
        peer: call.getPeer(),
      };
    };
    const settled = Promise.resolve();
    // Once per call, before the handler; the identity lands on the context the handler gets.
    const authenticated = (ctx: CallContext): Promise<unknown> => {
      const authenticator = this.authenticator;
      if (!authenticator) return settled;
      return settled
        .then(() => authenticator.authenticate(headersOf(ctx.metadata)))
        .then((identity) => {
          ctx.identity = identity;
        });
    };
    const fail = (err: unknown, started: bigint) => {
      const se = toServiceError(err);
      if (se.code === status.INTERNAL)
        log.error({ err, rpc: `${svc}/${rpc}` }, 'unhandled error in gRPC handler');
      record(se.code, started);
      return se;
    };

    if (!requestStream && !responseStream) {
      return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const started = process.hrtime.bigint();
        const ctx = contextOf(call);
        authenticated(ctx)
          .then(() => (fn as (req: unknown, ctx: CallContext) => unknown)(call.request, ctx))
          .then(
            (res) => {
              record(status.OK, started);
              callback(null, res);
            },
            (err: unknown) => callback(fail(err, started)),
          );
      };
    }
    if (requestStream && !responseStream) {
      return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const started = process.hrtime.bigint();
        const ctx = contextOf(call);
        authenticated(ctx)
          .then(() => (fn as (c: unknown, ctx: CallContext) => unknown)(call, ctx))
          .then(
            (res) => {
              record(status.OK, started);
              callback(null, res);
            },
            (err: unknown) => callback(fail(err, started)),
          );
      };
    }
    // Server-streaming and bidirectional: the handler writes to the call and resolves when done.
    return (call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>) => {
      const started = process.hrtime.bigint();
      const ctx = contextOf(call);
      const args: unknown[] = requestStream
        ? [call, ctx]
        : [(call as ServerWritableStream<unknown, unknown>).request, call, ctx];
      authenticated(ctx)
        .then(() => (fn as (...a: unknown[]) => unknown)(...args))
        .then(
          () => {
            record(status.OK, started);
            call.end();
          },
          // grpc-js sends a stream's status from its 'error' listener; destroy() would skip
          // the status and leave the client waiting for its deadline.
          (err: unknown) => call.emit('error', fail(err, started) as ServiceError),
        );
    };
  }
}
