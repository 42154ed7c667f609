import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Inject,
  Injectable,
  type InjectionToken,
  Module,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, ModuleRef } from '@nestjs/core';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { GRPC_SERVICE_METADATA } from './grpc-service.decorator';
import type { CallAuthenticator } from './call-authentication';
import { GrpcServerHost } from './grpc-server';

export interface GrpcServerModuleOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  shutdownTimeoutMs: number;
  logger: Logger;
  /**
   * The provider token of the CallAuthenticator every call passes before its handler. It is
   * looked up anywhere in the application, so the provider may live in (and inject from) the
   * root or a feature module.
   */
  authenticator?: InjectionToken<CallAuthenticator>;
}

export const GRPC_SERVER_OPTIONS = Symbol('GRPC_SERVER_OPTIONS');

@Injectable()
export class GrpcServerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly moduleRef: ModuleRef,
    @Inject(GrpcServerHost) private readonly host: GrpcServerHost,
    @Inject(GRPC_SERVER_OPTIONS) private readonly opts: GrpcServerModuleOptions,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.opts.authenticator) {
      this.host.useAuthenticator(
        this.moduleRef.get<CallAuthenticator>(this.opts.authenticator, { strict: false }),
      );
    }
    for (const wrapper of this.discovery.getProviders()) {
      const type = wrapper.metatype;
      if (!type || !wrapper.instance) continue;
      const definition = Reflect.getMetadata(GRPC_SERVICE_METADATA, type) as ServiceDefinition | undefined;
      if (definition) this.host.addService(definition, wrapper.instance as object);
    }
    const port = await this.host.start();
    this.opts.logger.info({ port }, 'gRPC server listening');
  }

  // Before the HTTP server and the database pool close: in-flight calls still need them.
  async beforeApplicationShutdown(): Promise<void> {
    await this.host.shutdown(this.opts.shutdownTimeoutMs);
    this.opts.logger.info('gRPC server drained');
  }
}

/** Serves every provider marked with @GrpcService on the service's internal gRPC port. */
@Module({})
export class GrpcServerModule {
  static forRoot(opts: GrpcServerModuleOptions): DynamicModule {
    return {
      module: GrpcServerModule,
      global: true,
      imports: [DiscoveryModule],
      providers: [
        { provide: GRPC_SERVER_OPTIONS, useValue: opts },
        {
          provide: GrpcServerHost,
          inject: [Registry],
          useFactory: (metrics: Registry) =>
            new GrpcServerHost({
              host: opts.host,
              port: opts.port,
              maxMessageBytes: opts.maxMessageBytes,
              logger: opts.logger,
              metrics,
            }),
        },
        GrpcServerLifecycle,
      ],
      exports: [GrpcServerHost],
    };
  }
}
