import type { EventBus } from './event-bus.port';
import type { KafkaBusLogger, KafkaSaslConfig } from './kafka-bus/kafka-bus.config';
import { KafkaEventBus } from './kafka-bus/kafka-event-bus';
import { PostgresEventBus } from './postgres-bus/postgres-event-bus';

/** Which bus a service talks to, as its validated configuration describes it. */
export type EventBusSettings =
  | {
      kind: 'postgres';
      /** The database holding the `bus` schema (the platform's database on one machine). */
      url: string;
      applicationName: string;
      poolSize?: number;
    }
  | {
      kind: 'kafka';
      brokers: string[];
      clientId: string;
      ssl?: boolean;
      sasl?: KafkaSaslConfig;
      replicationFactor?: number;
      minInsyncReplicas?: number;
    };

/** Builds the configured adapter; the rest of a service only ever sees the EventBus port. */
export function createEventBus(settings: EventBusSettings, logger: KafkaBusLogger): EventBus {
  switch (settings.kind) {
    case 'postgres':
      return new PostgresEventBus({
        connection: settings.url,
        applicationName: settings.applicationName,
        poolSize: settings.poolSize,
        logger,
      });
    case 'kafka':
      return new KafkaEventBus({
        brokers: settings.brokers,
        clientId: settings.clientId,
        ssl: settings.ssl,
        sasl: settings.sasl,
        logger,
        topics: {
          replicationFactor: settings.replicationFactor,
          minInsyncReplicas: settings.minInsyncReplicas,
        },
      });
  }
}
