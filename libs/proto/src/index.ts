// Generated code lives under ./generated (from proto/ by `nx run proto:generate`); never edit it.
export * as systemV1 from './generated/cairn/system/v1/system';
export * as trackingV1 from './generated/cairn/tracking/v1/tracking';
export * as registryV1 from './generated/cairn/registry/v1/registry';
export * as registryWebhooksV1 from './generated/cairn/registry/v1/webhooks';
export * as gatewayAuthV1 from './generated/cairn/gateway/v1/auth';
export * as gatewayEventsV1 from './generated/cairn/gateway/v1/events';
