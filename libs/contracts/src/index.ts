// Topics and routing.
export * from './topics/topics.constants';

// Envelope.
export * from './envelope/cloud-event.schema';
export * from './envelope/traceparent.schema';

// Catalog: one schema and inferred type per event type and version.
export * from './catalog/common.schema';
export * from './catalog/event-definition.factory';
export * from './catalog/event.catalog';
export * from './catalog/tracking-events.schema';
export * from './catalog/registry-events.schema';
export * from './catalog/orchestrator-events.schema';
export * from './catalog/monitor-events.schema';
export * from './catalog/serving-events.schema';

// Building and validating events.
export * from './codec/event-contract.error';
export * from './codec/event.codec';

// Published forms: JSON Schema, AsyncAPI, compatibility rule.
export * from './json-schema/event-json-schema.generator';
export * from './asyncapi/asyncapi.generator';
export * from './compatibility/schema-compatibility.comparator';
