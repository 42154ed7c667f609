import { z } from 'zod';
import { ConfigError, type ConfigIssue, loadConfig } from './load-config';

/** A TCP port given as an environment variable. */
export const port = (defaultPort: number) =>
  z.coerce
    .number({ message: 'must be an integer between 1 and 65535' })
    .int('must be an integer between 1 and 65535')
    .min(1, 'must be an integer between 1 and 65535')
    .max(65535, 'must be an integer between 1 and 65535')
    .default(defaultPort);

export const positiveInt = (defaultValue: number) =>
  z.coerce
    .number({ message: 'must be a positive integer' })
    .int('must be a positive integer')
    .positive('must be a positive integer')
    .default(defaultValue);

export const booleanFlag = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], { message: 'must be one of true, false, 1, 0' })
    .default(defaultValue ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

export const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), { message: 'must be a postgres:// or postgresql:// URL' });

export const SERVICE_NAMES = ['tracking', 'registry', 'orchestrator', 'monitor', 'gateway'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Default ports, from ARCHITECTURE.md. */
export const DEFAULT_PORTS: Record<ServiceName, { grpc: number; http: number }> = {
  gateway: { grpc: 50051, http: 8080 },
  tracking: { grpc: 50061, http: 9461 },
  registry: { grpc: 50062, http: 9462 },
  orchestrator: { grpc: 50063, http: 9463 },
  monitor: { grpc: 50064, http: 9464 },
};

/**
 * The settings every service has. Port variables carry the service name so that one
 * environment (the embedded launcher's, a developer's shell) can hold all five.
 */
export function serviceSettings(service: ServiceName) {
  const prefix = `CAIRN_${service.toUpperCase()}`;
  return z.object({
    [`${prefix}_GRPC_PORT`]: port(DEFAULT_PORTS[service].grpc),
    [`${prefix}_HTTP_PORT`]: port(DEFAULT_PORTS[service].http),
    CAIRN_BIND_HOST: z.string().min(1).default('0.0.0.0'),
    DATABASE_URL: postgresUrl,
    DATABASE_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
      .default(service),
    DATABASE_POOL_MAX: positiveInt(10),
    DATABASE_MIGRATE_ON_START: booleanFlag(true),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'must be one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info'),
    OTEL_TRACES_EXPORTER: z
      .enum(['none', 'otlp', 'console'], { message: 'must be one of none, otlp, console' })
      .default('none'),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ message: 'must be a URL' }).optional(),
    CAIRN_SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
    CAIRN_GRPC_MAX_MESSAGE_BYTES: positiveInt(16 * 1024 * 1024),
    ...eventBusSettings,
  });
}

const HOST_PORT_LIST = /^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/;

/** The event bus (ARCHITECTURE.md: `CAIRN_EVENT_BUS=postgres|kafka`). */
const eventBusSettings = {
  CAIRN_EVENT_BUS: z
    .enum(['postgres', 'kafka'], { message: 'must be one of postgres, kafka' })
    .default('postgres'),
  /** The Postgres log's database; default DATABASE_URL (the platform's one database). */
  CAIRN_EVENT_BUS_DATABASE_URL: postgresUrl.optional(),
  /** Partitions of the topics a service creates (the parallelism of each consumer group). */
  CAIRN_TOPIC_PARTITIONS: positiveInt(8),
  KAFKA_BROKERS: z.string().regex(HOST_PORT_LIST, 'must be a comma-separated list of host:port').optional(),
  KAFKA_CLIENT_ID: z.string().min(1).optional(),
  KAFKA_SSL: booleanFlag(false),
  KAFKA_SASL_MECHANISM: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'], {
      message: 'must be one of plain, scram-sha-256, scram-sha-512',
    })
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_REPLICATION_FACTOR: positiveInt(3),
  KAFKA_MIN_INSYNC_REPLICAS: positiveInt(2),
};

export type EventBusConfig =
  | { kind: 'postgres'; url: string }
  | {
      kind: 'kafka';
      brokers: string[];
      clientId: string;
      ssl: boolean;
      sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
      replicationFactor: number;
      minInsyncReplicas: number;
    };

/**
 * The event bus settings alone, for tools that talk to the bus without being a service
 * (e.g. dead-letter replay): the same variables, validated the same way.
 */
export function loadEventBusConfig(tool: string, env: NodeJS.ProcessEnv = process.env): EventBusConfig {
  const raw = loadConfig(tool, z.object({ ...eventBusSettings, DATABASE_URL: postgresUrl.optional() }), env);
  return eventBusConfig(tool, raw);
}

/** Checks across settings that one field's schema cannot see; names the setting at fault. */
function eventBusConfig(service: string, r: Record<string, unknown>): EventBusConfig {
  if (r.CAIRN_EVENT_BUS === 'postgres') {
    const url = (r.CAIRN_EVENT_BUS_DATABASE_URL ?? r.DATABASE_URL) as string | undefined;
    if (!url) {
      throw new ConfigError(service, [
        {
          setting: 'CAIRN_EVENT_BUS_DATABASE_URL',
          reason: 'is required (or DATABASE_URL) when CAIRN_EVENT_BUS=postgres',
        },
      ]);
    }
    return { kind: 'postgres', url };
  }
  const issues: ConfigIssue[] = [];
  if (!r.KAFKA_BROKERS)
    issues.push({ setting: 'KAFKA_BROKERS', reason: 'is required when CAIRN_EVENT_BUS=kafka' });
  const mechanism = r.KAFKA_SASL_MECHANISM as 'plain' | 'scram-sha-256' | 'scram-sha-512' | undefined;
  if (mechanism) {
    for (const setting of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD']) {
      if (!r[setting]) issues.push({ setting, reason: `is required when KAFKA_SASL_MECHANISM is set` });
    }
  }
  if ((r.KAFKA_MIN_INSYNC_REPLICAS as number) > (r.KAFKA_REPLICATION_FACTOR as number)) {
    issues.push({
      setting: 'KAFKA_MIN_INSYNC_REPLICAS',
      reason: 'must not exceed KAFKA_REPLICATION_FACTOR',
      value: String(r.KAFKA_MIN_INSYNC_REPLICAS),
    });
  }
  if (issues.length > 0) throw new ConfigError(service, issues);
  return {
    kind: 'kafka',
    brokers: (r.KAFKA_BROKERS as string).split(','),
    clientId: (r.KAFKA_CLIENT_ID as string | undefined) ?? `cairn-${service}`,
    ssl: r.KAFKA_SSL as boolean,
    sasl: mechanism
      ? { mechanism, username: r.KAFKA_SASL_USERNAME as string, password: r.KAFKA_SASL_PASSWORD as string }
      : undefined,
    replicationFactor: r.KAFKA_REPLICATION_FACTOR as number,
    minInsyncReplicas: r.KAFKA_MIN_INSYNC_REPLICAS as number,
  };
}

/** The normalized view of the common settings that the runtime libraries consume. */
export interface ServiceSettings {
  service: ServiceName;
  grpcPort: number;
  httpPort: number;
  bindHost: string;
  databaseUrl: string;
  databaseSchema: string;
  databasePoolMax: number;
  migrateOnStart: boolean;
  logLevel: string;
  tracesExporter: 'none' | 'otlp' | 'console';
  otlpEndpoint?: string;
  shutdownTimeoutMs: number;
  grpcMaxMessageBytes: number;
  eventBus: EventBusConfig;
  topicPartitions: number;
}

export function toServiceSettings(
  service: ServiceName,
  raw: z.infer<ReturnType<typeof serviceSettings>>,
): ServiceSettings {
  const prefix = `CAIRN_${service.toUpperCase()}`;
  const r = raw as Record<string, unknown>;
  return {
    service,
    grpcPort: r[`${prefix}_GRPC_PORT`] as number,
    httpPort: r[`${prefix}_HTTP_PORT`] as number,
    bindHost: r.CAIRN_BIND_HOST as string,
    databaseUrl: r.DATABASE_URL as string,
    databaseSchema: r.DATABASE_SCHEMA as string,
    databasePoolMax: r.DATABASE_POOL_MAX as number,
    migrateOnStart: r.DATABASE_MIGRATE_ON_START as boolean,
    logLevel: r.LOG_LEVEL as string,
    tracesExporter: r.OTEL_TRACES_EXPORTER as ServiceSettings['tracesExporter'],
    otlpEndpoint: r.OTEL_EXPORTER_OTLP_ENDPOINT as string | undefined,
    shutdownTimeoutMs: r.CAIRN_SHUTDOWN_TIMEOUT_MS as number,
    grpcMaxMessageBytes: r.CAIRN_GRPC_MAX_MESSAGE_BYTES as number,
    eventBus: eventBusConfig(service, r),
    topicPartitions: r.CAIRN_TOPIC_PARTITIONS as number,
  };
}
