export { PostgresEventBus, type PostgresTopicSpec } from './postgres-event-bus';
export { PostgresBusError, type BusLogger, type PostgresEventBusOptions } from './types';
export { partitionForKey, murmur2 } from './partitioner';
export { migrateBusSchema, BUS_SCHEMA } from './schema';
