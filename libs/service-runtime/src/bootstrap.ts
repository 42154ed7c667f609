import 'reflect-metadata';
import { type DynamicModule, Global, Module, type Provider, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { z } from 'zod';
import {
  ConfigError,
  loadConfig,
  type ServiceName,
  type ServiceSettings,
  serviceSettings,
  toServiceSettings,
} from '@cairn/config';
import {
  IdentityTokenAuthenticator,
  IdentityVerifier,
  identityVerifierSettings,
  type IdentityVerifierSettings,
} from '@cairn/identity';
import { type ClassList, type EntityList, PersistenceModule, runMigrationCli } from '@cairn/persistence';
import { CALL_AUTHENTICATOR, type CallAuthenticator, GrpcServerHost, GrpcServerModule } from '@cairn/rpc';
import {
  createLogger,
  createMetricsRegistry,
  PinoNestLogger,
  ReadinessRegistry,
  startTracing,
} from '@cairn/telemetry';
import { MessagingModule, type MessagingOptions, MessagingRuntime } from './messaging.module';
import { ProbesController } from './probes.controller';
import { ROOT_LOGGER, SERVICE_SETTINGS, SERVICE_STARTED_AT } from './runtime.tokens';
import { SystemGrpc } from './system.grpc';

export interface ServiceBlueprint<Extra extends z.ZodObject = z.ZodObject> {
  service: ServiceName;
  /** Service-specific settings, validated together with the common ones. */
  extraSettings?: Extra;
  migrations: ClassList;
  entities?: EntityList;
  /**
   * The service's side of the event backbone (outbox relay, consumers, topics). Its
   * migrations must then include the outbox and inbox tables (MessagingTablesMigration).
   */
  messaging?: MessagingOptions;
  /** The service's feature modules, given its validated settings. */
  features?: (settings: ServiceSettings, extra: z.infer<Extra>) => Array<Type | DynamicModule>;
  /**
   * Replaces the default call authenticator (the gateway's identity token, `cairn-identity`,
   * verified against CAIRN_IDENTITY_PUBLIC_KEYS). A Nest injectable class, instantiated in the
   * application's root module: it may inject what the feature modules export.
   */
  callAuthenticator?: Type<CallAuthenticator>;
}

export interface RunningService {
  app: NestFastifyApplication;
  settings: ServiceSettings;
  logger: Logger;
  grpcPort: number;
  httpPort: number;
  /** Graceful stop: not-ready, drain gRPC, close HTTP, stop consumers, close the pool. */
  stop(): Promise<void>;
}

/**
 * Builds and starts one Cairn service: validated configuration, JSON logs with trace ids,
 * tracing, Prometheus metrics, probes, the internal gRPC server with grpc.health.v1 and call
 * authentication (the gateway's identity token by default), and the database with its migrations.
 */
export async function startService<Extra extends z.ZodObject>(
  blueprint: ServiceBlueprint<Extra>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningService> {
  const startedAt = Date.now();
  const common = blueprint.extraSettings
    ? serviceSettings(blueprint.service).extend(blueprint.extraSettings.shape)
    : serviceSettings(blueprint.service);
  // The default authenticator's settings are validated with the rest, in one round trip.
  const schema = blueprint.callAuthenticator ? common : common.extend(identityVerifierSettings.shape);
  const raw = loadConfig(blueprint.service, schema, env) as z.infer<ReturnType<typeof serviceSettings>> &
    z.infer<Extra>;
  const settings = toServiceSettings(blueprint.service, raw);
  const authenticator: Provider = blueprint.callAuthenticator
    ? { provide: CALL_AUTHENTICATOR, useClass: blueprint.callAuthenticator }
    : {
        provide: CALL_AUTHENTICATOR,
        useValue: new IdentityTokenAuthenticator(
          IdentityVerifier.fromSettings(blueprint.service, raw as unknown as IdentityVerifierSettings),
        ),
      };
  const logger = createLogger(blueprint.service, settings.logLevel);
  const tracing = startTracing(blueprint.service, env);
  const metrics = createMetricsRegistry(blueprint.service);
  const readiness = new ReadinessRegistry();

  @Global()
  @Module({
    providers: [
      { provide: SERVICE_SETTINGS, useValue: settings },
      { provide: SERVICE_STARTED_AT, useValue: startedAt },
      { provide: ROOT_LOGGER, useValue: logger },
      { provide: Registry, useValue: metrics },
      { provide: ReadinessRegistry, useValue: readiness },
    ],
    exports: [SERVICE_SETTINGS, SERVICE_STARTED_AT, ROOT_LOGGER, Registry, ReadinessRegistry],
  })
  class RuntimeModule {}

  @Module({
    imports: [
      RuntimeModule,
      PersistenceModule.forRoot({
        url: settings.databaseUrl,
        schema: settings.databaseSchema,
        service: blueprint.service,
        migrations: blueprint.migrations,
        entities: blueprint.entities,
        poolMax: settings.databasePoolMax,
        migrateOnStart: settings.migrateOnStart,
      }),
      GrpcServerModule.forRoot({
        host: settings.bindHost,
        port: settings.grpcPort,
        maxMessageBytes: settings.grpcMaxMessageBytes,
        shutdownTimeoutMs: settings.shutdownTimeoutMs,
        logger,
        authenticator: CALL_AUTHENTICATOR,
      }),
      ...(blueprint.messaging ? [MessagingModule.forRoot(blueprint.messaging)] : []),
      ...(blueprint.features?.(settings, raw) ?? []),
    ],
    controllers: [ProbesController],
    providers: [SystemGrpc, authenticator],
  })
  class ServiceRootModule {}

  const app = await NestFactory.create<NestFastifyApplication>(ServiceRootModule, new FastifyAdapter(), {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  await app.init();
  const messaging = blueprint.messaging ? app.get(MessagingRuntime) : undefined;
  await messaging?.start();
  await app.listen(settings.httpPort, settings.bindHost);
  const grpc = app.get(GrpcServerHost);
  const address = app.getHttpServer().address();
  const httpPort = typeof address === 'object' && address ? address.port : settings.httpPort;

  // gRPC health follows readiness, so a lost database turns Check into NOT_SERVING too.
  const refresh = async () => grpc.setServing((await readiness.evaluate()).ready);
  await refresh();
  const ticker = setInterval(() => void refresh().catch(() => grpc.setServing(false)), 5_000);
  ticker.unref();

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(ticker);
      readiness.markDraining();
      grpc.setServing(false);
      logger.info('shutting down');
      // In order: in-flight calls finish (they may still write to the outbox), consumers
      // finish their batches, the relay and the bus stop, then Nest closes the pool.
      await grpc.shutdown(settings.shutdownTimeoutMs);
      await messaging?.stop();
      await app.close();
      await tracing.shutdown().catch(() => undefined);
      logger.info('stopped');
    })());

  logger.info(
    { grpcPort: grpc.port, httpPort, schema: settings.databaseSchema, startupMs: Date.now() - startedAt },
    `${blueprint.service} ready`,
  );
  return { app, settings, logger, grpcPort: grpc.port ?? settings.grpcPort, httpPort, stop };
}

/**
 * The process entry point of a service: starts it, stops it gracefully on SIGTERM or SIGINT
 * (a second signal, or a drain that overruns the shutdown timeout, exits at once), and turns
 * a configuration error into a message naming the setting and exit code 78 (EX_CONFIG).
 */
export async function runServiceProcess<Extra extends z.ZodObject>(
  blueprint: ServiceBlueprint<Extra>,
): Promise<void> {
  let running: RunningService;
  try {
    running = await startService(blueprint);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    createLogger(blueprint.service).fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      running.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    running.logger.info({ signal }, 'signal received');
    const hardStop = setTimeout(() => {
      running.logger.error('graceful shutdown overran its deadline: exiting');
      process.exit(1);
    }, running.settings.shutdownTimeoutMs + 5_000);
    hardStop.unref();
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        running.logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (process.env.CAIRN_SUPERVISED === '1') {
    // The launcher holds our stdin open; when it goes (even killed with SIGKILL) we stop too.
    process.stdin.on('end', () => onSignal('SIGTERM'));
    process.stdin.on('error', () => onSignal('SIGTERM'));
    process.stdin.resume();
  }
}

/**
 * The `migrate` entry point of a service (`nx run <service>:migrate --direction=up|down|status`):
 * production applies migrations with it before a rollout, as the service's own database role,
 * and starts the service with DATABASE_MIGRATE_ON_START=false.
 */
export async function runMigrationProcess(blueprint: ServiceBlueprint, argv = process.argv): Promise<void> {
  try {
    const settings = toServiceSettings(
      blueprint.service,
      loadConfig(blueprint.service, serviceSettings(blueprint.service)),
    );
    await runMigrationCli(
      {
        url: settings.databaseUrl,
        schema: settings.databaseSchema,
        service: blueprint.service,
        migrations: blueprint.migrations,
      },
      argv[2] ?? 'up',
    );
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof ConfigError ? 78 : 1);
  }
}
