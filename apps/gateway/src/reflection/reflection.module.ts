import { existsSync } from 'node:fs';
import path from 'node:path';
import { Inject, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import type { ServerDuplexStream, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { AppError, type CallContext, GrpcServerHost } from '@cairn/rpc';

/** The public API's protos, relative to the proto root: what reflection describes. */
const PUBLIC_PROTOS = [
  'cairn/tracking/v1/tracking.proto',
  'cairn/registry/v1/registry.proto',
  'cairn/registry/v1/webhooks.proto',
  'cairn/gateway/v1/auth.proto',
  'cairn/gateway/v1/events.proto',
  'cairn/system/v1/system.proto',
];

/**
 * The repository's `proto/` directory: beside the sources (tests) and the build (`dist/`), as
 * `npm start` and the container image lay them out. The descriptors are read from the .proto
 * files themselves so that reflection describes exactly what clients generate code from.
 */
export function protoRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'proto');
    if (existsSync(path.join(candidate, PUBLIC_PROTOS[0]))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`no proto/ directory above ${from}`);
  }
}

type Captured = Array<{ definition: ServiceDefinition; implementation: Record<string, unknown> }>;

/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) on the public port, for
 * authenticated callers only (ANCHORS: reflection behind authentication): grpcurl and Postman
 * work with an API key, and an anonymous caller learns nothing of the API's shape.
 * @grpc/reflection answers the requests; its handlers are re-registered through the gateway's
 * gRPC host, so that every reflection stream passes the same authentication as every other call.
 */
@Injectable()
class GatewayReflection implements OnModuleInit {
  constructor(@Inject(GrpcServerHost) private readonly host: GrpcServerHost) {}

  onModuleInit(): void {
    const packageDefinition = loadSync(PUBLIC_PROTOS, {
      includeDirs: [protoRoot()],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const captured: Captured = [];
    const collector = {
      addService: (definition: ServiceDefinition, implementation: Record<string, unknown>) =>
        captured.push({ definition, implementation }),
    };
    new ReflectionService(packageDefinition).addToServer(collector);
    for (const { definition, implementation } of captured) {
      const info = implementation.ServerReflectionInfo as (
        call: ServerDuplexStream<unknown, unknown>,
      ) => void;
      this.host.addService(definition, {
        ServerReflectionInfo: (call: ServerDuplexStream<unknown, unknown>, ctx: CallContext) => {
          if (!ctx.identity) {
            throw new AppError(
              'unauthenticated',
              'CREDENTIALS_REQUIRED',
              'Server reflection needs credentials: an API key or bearer token (authorization: Bearer …), or HTTP Basic.',
            );
          }
          // The library answers each request and ends the stream when the caller does.
          return new Promise<void>((resolve, reject) => {
            call.once('end', () => resolve());
            call.once('error', reject);
            info(call);
          });
        },
      });
    }
  }
}

/** Server reflection for authenticated callers. */
@Module({ providers: [GatewayReflection] })
export class GatewayReflectionModule {}
