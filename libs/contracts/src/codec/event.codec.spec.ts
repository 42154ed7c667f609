import { EVENT_DEFINITIONS, type EventType } from '../catalog/event.catalog';
import { modelPromotedV1, type ModelPromotedV1 } from '../catalog/registry-events.schema';
import { isValidTraceparent } from '../envelope/traceparent.schema';
import { dlqTopic } from '../topics/topics.constants';
import { EventContractError } from './event-contract.error';
import {
  createEvent,
  eventRouting,
  parseEvent,
  parseEventJson,
  serializeEvent,
  type ParseEventResult,
} from './event.codec';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const promoted: ModelPromotedV1 = modelPromotedV1.schema.parse(modelPromotedV1.example);

function promotedEvent() {
  return createEvent('cairn.registry.model.promoted.v1', { data: promoted, traceparent: TRACEPARENT });
}

/** The serialized event as a mutable JSON object, to corrupt one attribute at a time. */
function wire(): Record<string, unknown> {
  return JSON.parse(serializeEvent(promotedEvent())) as Record<string, unknown>;
}

function failure(result: ParseEventResult) {
  if (result.ok) throw new Error(`expected a failure, got ${result.event.type}`);
  return result;
}

describe('createEvent', () => {
  it('fills the envelope from the catalog', () => {
    const before = Date.now();
    const event = promotedEvent();

    expect(event).toMatchObject({
      specversion: '1.0',
      source: '/cairn/registry',
      type: 'cairn.registry.model.promoted.v1',
      subject: 'churn-classifier',
      datacontenttype: 'application/json',
      dataschema: 'https://cairn.dev/schemas/cairn.registry.model.promoted.v1.json',
      traceparent: TRACEPARENT,
      data: promoted,
    });
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Date.parse(event.time)).toBeGreaterThanOrEqual(before - 1);
    expect(event.time).toMatch(/Z$/);
    expect('tracestate' in event).toBe(false);
  });

  it('keeps a given id and time', () => {
    const event = createEvent('cairn.registry.model.promoted.v1', {
      data: promoted,
      id: '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d',
      time: new Date('2025-01-15T11:20:01Z'),
    });
    expect(event.id).toBe('6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d');
    expect(event.time).toBe('2025-01-15T11:20:01.000Z');
  });

  it('types data by event type', () => {
    const event = promotedEvent();
    // The narrowed type gives typed access to the payload.
    const stage: string | undefined = event.data.to.kind === 'stage' ? event.data.to.stage : undefined;
    expect(stage).toBe('Production');
    const wrong = () =>
      createEvent('cairn.registry.model.promoted.v1', {
        // @ts-expect-error version is a decimal string, not a number
        data: { ...promoted, version: 7 },
      });
    expect(wrong).toThrow(EventContractError);
  });

  it('rejects data that does not match the schema, naming the field', () => {
    const error = catchError(() =>
      createEvent('cairn.registry.model.promoted.v1', { data: { ...promoted, artifactDigest: 'md5:abc' } }),
    );
    expect(error.reason).toBe('INVALID_DATA');
    expect(error.issues.map((i) => i.path)).toEqual(['data.artifactDigest']);
    expect(error.message).toContain('data.artifactDigest');
  });

  it('rejects a subject that is not the aggregate id', () => {
    const error = catchError(() =>
      createEvent('cairn.registry.model.promoted.v1', { data: promoted, subject: 'other-model' }),
    );
    expect(error.reason).toBe('INVALID_ENVELOPE');
    expect(error.issues).toEqual([{ path: 'subject', message: expect.stringContaining('data.model') }]);
  });

  it('rejects a malformed traceparent, id or time', () => {
    for (const options of [
      { traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01' },
      { id: 'not-a-uuid' },
      { time: '15/01/2025 11:20' },
      { time: new Date('nonsense') },
    ]) {
      const error = catchError(() =>
        createEvent('cairn.registry.model.promoted.v1', { data: promoted, ...options }),
      );
      expect(error.reason).toBe('INVALID_ENVELOPE');
      expect(error.issues).toHaveLength(1);
    }
  });

  it('rejects a type outside the catalog', () => {
    const error = catchError(() =>
      createEvent('cairn.registry.model.exploded.v1' as EventType, { data: promoted }),
    );
    expect(error.reason).toBe('UNKNOWN_TYPE');
  });
});

describe('parseEvent', () => {
  it('round-trips an event through its serialized form', () => {
    const event = promotedEvent();
    const result = parseEventJson(serializeEvent(event));
    expect(result).toEqual({ ok: true, event });
  });

  it.each(EVENT_DEFINITIONS.map((def) => [def.type, def] as const))(
    'round-trips the example of %s',
    (_type, def) => {
      const event = createEvent(def.type, { data: def.example });
      const result = parseEvent(JSON.parse(serializeEvent(event)));
      expect(result).toEqual({ ok: true, event });
    },
  );

  it('drops unknown data fields, so that an older consumer reads a newer revision', () => {
    const json = wire();
    json.data = { ...(json.data as object), addedInALaterRevision: 42 };
    const result = parseEvent(json);
    expect(result.ok && 'addedInALaterRevision' in result.event.data).toBe(false);
    expect(result.ok).toBe(true);
  });

  it.each([
    ['a non-object', 'hello'],
    ['null', null],
    ['a missing specversion', { ...wire(), specversion: undefined }],
    ['another specversion', { ...wire(), specversion: '0.3' }],
    ['a missing id', { ...wire(), id: undefined }],
    ['a time that is not RFC 3339', { ...wire(), time: 'Wed, 15 Jan 2025 11:20:01 GMT' }],
    ['a missing subject', { ...wire(), subject: undefined }],
    ['another datacontenttype', { ...wire(), datacontenttype: 'application/avro' }],
    ['data that is not an object', { ...wire(), data: 'x' }],
    ['an uppercase traceparent', { ...wire(), traceparent: TRACEPARENT.toUpperCase() }],
    [
      'a traceparent with a zero trace id',
      { ...wire(), traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` },
    ],
  ])('refuses an envelope with %s as INVALID_ENVELOPE', (_case, json) => {
    const result = failure(parseEvent(json));
    expect(result.reason).toBe('INVALID_ENVELOPE');
    expect(result.issues?.length).toBeGreaterThan(0);
  });

  it('refuses malformed JSON as INVALID_ENVELOPE', () => {
    const result = failure(parseEventJson('{"specversion": "1.0",'));
    expect(result.reason).toBe('INVALID_ENVELOPE');
    expect(result.message).toMatch(/^Not JSON/);
  });

  it.each([
    ['source', '/cairn/tracking'],
    ['dataschema', 'https://cairn.dev/schemas/cairn.registry.model.promoted.v2.json'],
    ['subject', 'other-model'],
  ])('refuses a %s inconsistent with the type and data as INVALID_ENVELOPE', (attribute, value) => {
    const result = failure(parseEvent({ ...wire(), [attribute]: value }));
    expect(result.reason).toBe('INVALID_ENVELOPE');
    expect(result.type).toBe('cairn.registry.model.promoted.v1');
    expect(result.issues?.map((i) => i.path)).toEqual([attribute]);
  });

  it.each(['cairn.registry.model.exploded.v1', 'cairn.billing.invoice.paid.v1', 'com.example.thing'])(
    'refuses %s as UNKNOWN_TYPE',
    (type) => {
      const result = failure(parseEvent({ ...wire(), type }));
      expect(result.reason).toBe('UNKNOWN_TYPE');
      expect(result.message).toContain(type);
    },
  );

  it('refuses an unknown major version of a known type as UNSUPPORTED_VERSION', () => {
    const result = failure(parseEvent({ ...wire(), type: 'cairn.registry.model.promoted.v9' }));
    expect(result.reason).toBe('UNSUPPORTED_VERSION');
    expect(result.message).toBe('cairn.registry.model.promoted v9 is not supported (known: v1)');
  });

  it('refuses data that does not match the schema as INVALID_DATA, with the paths', () => {
    const json = wire();
    const { version: _version, ...data } = json.data as Record<string, unknown>;
    json.data = { ...data, window: undefined, approvers: ['user:bob', 3] };
    const result = failure(parseEvent(json));
    expect(result.reason).toBe('INVALID_DATA');
    expect(result.issues?.map((i) => i.path).sort()).toEqual(['data.approvers[1]', 'data.version']);
  });
});

describe('isValidTraceparent', () => {
  it.each([
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', true],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', true],
    // A later version may append fields; a version-00 reader accepts them.
    ['cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds', true],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', false],
    ['ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', false],
    ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', false],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', false],
    ['00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01', false],
    ['00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', false],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', false],
    ['', false],
  ])('%s → %s', (value, valid) => {
    expect(isValidTraceparent(value)).toBe(valid);
  });
});

describe('routing', () => {
  it.each([
    ['cairn.registry.model.promoted.v1', 'cairn.registry', 'churn-classifier'],
    ['cairn.monitor.drift.detected.v1', 'cairn.monitor', '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7'],
    ['cairn.tracking.run.finished.v1', 'cairn.tracking', 'a1b2c3d4e5f60718293a4b5c6d7e8f90'],
    ['cairn.serving.inference.logged.v1', 'cairn.inference-logs', '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7'],
  ])('publishes %s on %s keyed by its aggregate id', (type, topic, key) => {
    const def = EVENT_DEFINITIONS.find((d) => d.type === type)!;
    const event = createEvent(def.type, { data: def.example });
    expect(eventRouting(event)).toEqual({ topic, key });
  });

  it('names dead-letter topics <topic>.dlq', () => {
    expect(dlqTopic('cairn.registry')).toBe('cairn.registry.dlq');
  });
});

function catchError(fn: () => unknown): EventContractError {
  try {
    fn();
  } catch (error) {
    if (error instanceof EventContractError) return error;
    throw error;
  }
  throw new Error('expected an EventContractError');
}
