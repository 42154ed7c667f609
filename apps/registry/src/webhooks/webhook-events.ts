import type { EventData } from '@cairn/contracts';

/*
 * MLflow 3's webhook vocabulary (mlflow/entities/webhook.py) and payloads
 * (mlflow/webhooks/types.py), and how Cairn's registry events map onto them. Plain TypeScript:
 * no framework, tested without Nest.
 */

export const WEBHOOK_ENTITIES = [
  'registered_model',
  'model_version',
  'model_version_tag',
  'model_version_alias',
] as const;
export type WebhookEntity = (typeof WEBHOOK_ENTITIES)[number];

export const WEBHOOK_ACTIONS = ['created', 'updated', 'deleted', 'set'] as const;
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number];

export interface WebhookEvent {
  entity: WebhookEntity;
  action: WebhookAction;
}

/** MLflow's VALID_ENTITY_ACTIONS, for the registry's entities. */
export const VALID_ENTITY_ACTIONS: Readonly<Record<WebhookEntity, readonly WebhookAction[]>> = {
  registered_model: ['created'],
  model_version: ['created'],
  model_version_tag: ['set', 'deleted'],
  model_version_alias: ['created', 'deleted'],
};

export function isValidCombination(event: WebhookEvent): boolean {
  return VALID_ENTITY_ACTIONS[event.entity].includes(event.action);
}

/** `model_version.created`: how MLflow writes an event. */
export const eventName = (e: WebhookEvent) => `${e.entity}.${e.action}`;

/** The `data` of MLflow's payloads, by event. */
export interface RegisteredModelCreatedPayload {
  name: string;
  tags: Record<string, string>;
  description: string | null;
}
export interface ModelVersionCreatedPayload {
  name: string;
  version: string;
  source: string;
  run_id: string | null;
  tags: Record<string, string>;
  description: string | null;
}
export interface ModelVersionTagSetPayload {
  name: string;
  version: string;
  key: string;
  value: string;
}
export interface ModelVersionTagDeletedPayload {
  name: string;
  version: string;
  key: string;
}
export interface ModelVersionAliasCreatedPayload {
  name: string;
  alias: string;
  version: string;
}
export interface ModelVersionAliasDeletedPayload {
  name: string;
  alias: string;
}
export type WebhookPayloadData =
  | RegisteredModelCreatedPayload
  | ModelVersionCreatedPayload
  | ModelVersionTagSetPayload
  | ModelVersionTagDeletedPayload
  | ModelVersionAliasCreatedPayload
  | ModelVersionAliasDeletedPayload;

/** What one registry event becomes for webhooks: the MLflow event, its data and its time. */
export interface MappedEvent {
  event: WebhookEvent;
  data: WebhookPayloadData;
  /** When the registry change happened (the body's `timestamp`). */
  occurredAt: string;
}

/** The registry event types that webhooks carry. */
export type WebhookSourceType =
  | 'cairn.registry.registered-model.created.v1'
  | 'cairn.registry.model-version.created.v1'
  | 'cairn.registry.model-version-tag.set.v1'
  | 'cairn.registry.model-version-tag.deleted.v1'
  | 'cairn.registry.alias.set.v1'
  | 'cairn.registry.alias.deleted.v1';

/**
 * Catalog event type → MLflow webhook event and payload. AliasSet is MLflow's
 * `model_version_alias.created`: MLflow fires it on every set_registered_model_alias, also
 * when the alias moves from another version.
 */
export const EVENT_MAPPERS: { [T in WebhookSourceType]: (data: EventData<T>) => MappedEvent } = {
  'cairn.registry.registered-model.created.v1': (d) => ({
    event: { entity: 'registered_model', action: 'created' },
    data: { name: d.model, tags: d.tags, description: d.description ?? null },
    occurredAt: d.createdAt,
  }),
  'cairn.registry.model-version.created.v1': (d) => ({
    event: { entity: 'model_version', action: 'created' },
    data: {
      name: d.model,
      version: d.version,
      source: d.artifactUri,
      run_id: d.runId ?? null,
      tags: d.tags,
      description: d.description ?? null,
    },
    occurredAt: d.createdAt,
  }),
  'cairn.registry.model-version-tag.set.v1': (d) => ({
    event: { entity: 'model_version_tag', action: 'set' },
    data: { name: d.model, version: d.version, key: d.key, value: d.value },
    occurredAt: d.setAt,
  }),
  'cairn.registry.model-version-tag.deleted.v1': (d) => ({
    event: { entity: 'model_version_tag', action: 'deleted' },
    data: { name: d.model, version: d.version, key: d.key },
    occurredAt: d.deletedAt,
  }),
  'cairn.registry.alias.set.v1': (d) => ({
    event: { entity: 'model_version_alias', action: 'created' },
    data: { name: d.model, alias: d.alias, version: d.version },
    occurredAt: d.setAt,
  }),
  'cairn.registry.alias.deleted.v1': (d) => ({
    event: { entity: 'model_version_alias', action: 'deleted' },
    data: { name: d.model, alias: d.alias },
    occurredAt: d.deletedAt,
  }),
};

/** MLflow's example payloads (`<Payload>.example()`), which TestWebhook sends. */
export function examplePayload(event: WebhookEvent): WebhookPayloadData {
  switch (eventName(event)) {
    case 'registered_model.created':
      return {
        name: 'example_model',
        tags: { example_key: 'example_value' },
        description: 'An example registered model',
      };
    case 'model_version.created':
      return {
        name: 'example_model',
        version: '1',
        source: 'runs:/abcd1234abcd5678/model',
        run_id: 'abcd1234abcd5678',
        tags: { example_key: 'example_value' },
        description: 'An example model version',
      };
    case 'model_version_tag.set':
      return { name: 'example_model', version: '1', key: 'example_key', value: 'example_value' };
    case 'model_version_tag.deleted':
      return { name: 'example_model', version: '1', key: 'example_key' };
    case 'model_version_alias.created':
      return { name: 'example_model', alias: 'example_alias', version: '1' };
    case 'model_version_alias.deleted':
      return { name: 'example_model', alias: 'example_alias' };
    default:
      // Callers validate combinations first; an invalid one here is a programming error.
      throw new Error(`no example payload for ${eventName(event)}`);
  }
}

/**
 * The body MLflow posts: `{entity, action, timestamp, data}`. Serialized once, when the
 * delivery is recorded, so every attempt posts (and signs) the same bytes. `timestamp` is when
 * the registry change happened (MLflow, which posts synchronously, puts the send time there;
 * the send time of each attempt is in X-MLflow-Timestamp).
 */
export function webhookBody(event: WebhookEvent, data: WebhookPayloadData, timestamp: string): string {
  return JSON.stringify({ entity: event.entity, action: event.action, timestamp, data });
}
