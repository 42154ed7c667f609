import { EVENT_CATALOG, type EventData } from '@cairn/contracts';
import type { AppError } from '@cairn/rpc';
import {
  EVENT_MAPPERS,
  type MappedEvent,
  examplePayload,
  VALID_ENTITY_ACTIONS,
  webhookBody,
  type WebhookSourceType,
} from './webhook-events';
import { signPayload } from './webhook-sender';
import { decodePageToken, encodePageToken, validateEvents, WEBHOOK_PAGE_KEY } from './webhook-validation';

const map = <T extends WebhookSourceType>(type: T) => {
  const example = EVENT_CATALOG[type].schema.parse(EVENT_CATALOG[type].example) as EventData<T>;
  return (EVENT_MAPPERS[type] as (d: EventData<T>) => MappedEvent)(example);
};

describe('MLflow webhook events', () => {
  it('maps the registry events onto MLflow events with its payload shapes', () => {
    expect(map('cairn.registry.registered-model.created.v1')).toEqual({
      event: { entity: 'registered_model', action: 'created' },
      data: {
        name: 'churn-classifier',
        tags: { owner: 'growth' },
        description: 'Predicts churn in the next 30 days.',
      },
      occurredAt: '2025-01-15T10:30:00.000Z',
    });
    expect(map('cairn.registry.model-version.created.v1').data).toEqual({
      name: 'churn-classifier',
      version: '7',
      source: 's3://cairn-artifacts/models/churn-classifier/7',
      run_id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
      tags: { owner: 'growth' },
      description: null,
    });
    expect(map('cairn.registry.model-version-tag.set.v1').event).toEqual({
      entity: 'model_version_tag',
      action: 'set',
    });
    expect(map('cairn.registry.model-version-tag.deleted.v1').data).toEqual({
      name: 'churn-classifier',
      version: '7',
      key: 'validation_status',
    });
    expect(map('cairn.registry.alias.set.v1')).toMatchObject({
      event: { entity: 'model_version_alias', action: 'created' },
      data: { name: 'churn-classifier', alias: 'champion', version: '7' },
    });
    expect(map('cairn.registry.alias.deleted.v1').data).toEqual({
      name: 'churn-classifier',
      alias: 'challenger',
    });
  });

  it('has an example payload for every valid event, and the body MLflow posts', () => {
    for (const [entity, actions] of Object.entries(VALID_ENTITY_ACTIONS)) {
      for (const action of actions) {
        const event = validateEvents([{ entity, action }])[0];
        expect(examplePayload(event)).toHaveProperty('name', 'example_model');
      }
    }
    expect(
      JSON.parse(
        webhookBody({ entity: 'model_version_alias', action: 'deleted' }, { name: 'm', alias: 'a' }, 'T'),
      ),
    ).toEqual({
      entity: 'model_version_alias',
      action: 'deleted',
      timestamp: 'T',
      data: { name: 'm', alias: 'a' },
    });
  });

  it("validates events with MLflow's messages and drops duplicates", () => {
    expect(
      validateEvents([
        { entity: 'model_version_tag', action: 'set' },
        { entity: 'model_version_tag', action: 'set' },
      ]),
    ).toEqual([{ entity: 'model_version_tag', action: 'set' }]);
    const message = (events: Array<{ entity: string; action: string }>) => {
      try {
        validateEvents(events);
      } catch (err) {
        return (err as AppError).message;
      }
      return 'valid';
    };
    expect(message([])).toBe('Webhook events cannot be empty');
    expect(message([{ entity: 'model_version_tag', action: 'created' }])).toBe(
      "Invalid action 'created' for entity 'model_version_tag'. Valid actions are: ['deleted', 'set']",
    );
    expect(message([{ entity: 'prompt', action: 'created' }])).toMatch(/^Invalid webhook entity: 'prompt'/);
  });

  it('signs like MLflow: v1, base64 HMAC-SHA256 over "{id}.{timestamp}.{payload}"', () => {
    // Computed independently with Python's hmac, hashlib and base64, as MLflow does.
    expect(
      signPayload(
        'my-secret',
        '0f6c1c1a-4b7e-4d0a-9e0e-2d3c4b5a6f70',
        '1736937900',
        '{"entity":"model_version","action":"created"}',
      ),
    ).toBe('v1,IDZozpBuWEH/weVbrbbszruEgRQh9fmzYU/xde+0Yv8=');
  });

  it('round-trips page tokens and rejects forged ones before they reach SQL', () => {
    const keys = { t: '1736937900000', id: '0f6c1c1a-4b7e-4d0a-9e0e-2d3c4b5a6f70' };
    expect(decodePageToken(encodePageToken(keys), WEBHOOK_PAGE_KEY)).toEqual(keys);
    expect(decodePageToken('', WEBHOOK_PAGE_KEY)).toBeUndefined();
    for (const forged of [
      'garbage',
      encodePageToken({ ...keys, t: "1'; DROP TABLE x; --" }),
      encodePageToken({ ...keys, id: 'x' }),
    ]) {
      let reason = 'accepted';
      try {
        decodePageToken(forged, WEBHOOK_PAGE_KEY);
      } catch (err) {
        reason = (err as AppError).reason;
      }
      expect(reason).toBe('INVALID_PAGE_TOKEN');
    }
  });
});
