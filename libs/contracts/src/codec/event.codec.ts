import { randomUUID } from 'node:crypto';
import {
  CLOUDEVENTS_SPEC_VERSION,
  cloudEventEnvelopeSchema,
  EVENT_DATA_CONTENT_TYPE,
  type CloudEventEnvelope,
} from '../envelope/cloud-event.schema';
import {
  findEventDefinition,
  knownVersions,
  type EventData,
  type EventDataInput,
  type EventType,
} from '../catalog/event.catalog';
import { parseEventTypeName, type EventDefinition } from '../catalog/event-definition.factory';
import type { Topic } from '../topics/topics.constants';
import {
  EventContractError,
  toContractIssues,
  type ContractIssue,
  type EventContractReason,
} from './event-contract.error';

/** A validated Cairn event: the CloudEvents envelope with the typed payload of its type. */
export type CairnEvent<T extends EventType = EventType> = {
  [K in T]: Omit<CloudEventEnvelope, 'type' | 'data'> & { type: K; data: EventData<K> };
}[T];

export interface CreateEventOptions<T extends EventType> {
  data: EventDataInput<T>;
  /** The aggregate id; defaults to the type's key field of `data`, and must equal it when given. */
  subject?: string;
  /** Defaults to a random UUID. Pass the stored id when re-creating an event (it is the dedup key). */
  id?: string;
  /** When the state change happened; defaults to now. Strings must be RFC 3339. */
  time?: Date | string;
  traceparent?: string;
  tracestate?: string;
}

/**
 * Builds an event of a catalog type: validates `data` against the type's schema and the envelope
 * (id, time, traceparent), fills source, dataschema and subject. Throws EventContractError.
 */
export function createEvent<T extends EventType>(type: T, options: CreateEventOptions<T>): CairnEvent<T> {
  const def = findEventDefinition(type);
  if (def === undefined) throw new EventContractError('UNKNOWN_TYPE', `Unknown event type "${type}"`, type);

  const data = def.schema.safeParse(options.data);
  if (!data.success) {
    throw new EventContractError(
      'INVALID_DATA',
      `Invalid data for ${type}`,
      type,
      toContractIssues(data.error, ['data']),
    );
  }
  const key = aggregateId(def, data.data);
  const subject = options.subject ?? key;
  if (subject !== key) {
    throw new EventContractError('INVALID_ENVELOPE', `Invalid envelope for ${type}`, type, [
      subjectMismatch(def, subject, key),
    ]);
  }

  const envelope: CloudEventEnvelope = {
    specversion: CLOUDEVENTS_SPEC_VERSION,
    id: options.id ?? randomUUID(),
    source: def.source,
    type,
    time: formatTime(options.time ?? new Date()),
    subject,
    datacontenttype: EVENT_DATA_CONTENT_TYPE,
    dataschema: def.dataschema,
    data: data.data,
    // Absent rather than undefined, so that the event equals its parsed serialization.
    ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
    ...(options.tracestate === undefined ? {} : { tracestate: options.tracestate }),
  };
  const checked = cloudEventEnvelopeSchema.safeParse(envelope);
  if (!checked.success) {
    throw new EventContractError(
      'INVALID_ENVELOPE',
      `Invalid envelope for ${type}`,
      type,
      toContractIssues(checked.error),
    );
  }
  return envelope as CairnEvent<T>;
}

export type ParseEventResult =
  | { ok: true; event: CairnEvent }
  | {
      ok: false;
      reason: EventContractReason;
      message: string;
      /** The envelope's `type`, once the envelope was readable. */
      type?: string;
      issues?: ContractIssue[];
    };

/**
 * Validates a consumed event (already JSON-decoded): the envelope, then the type against the
 * catalog, then `data` against the type's schema. Failure reasons:
 *  - INVALID_ENVELOPE: not a CloudEvent as Cairn writes it, or `source`, `dataschema` or `subject`
 *    inconsistent with the type and data;
 *  - UNKNOWN_TYPE: a type the catalog does not have at all;
 *  - UNSUPPORTED_VERSION: a known base type with a major version this build does not know;
 *  - INVALID_DATA: `data` does not match the type's schema.
 * Unknown fields of `data` are dropped, so that an older consumer reads a newer minor revision.
 */
export function parseEvent(json: unknown): ParseEventResult {
  const envelope = cloudEventEnvelopeSchema.safeParse(json);
  if (!envelope.success) {
    return {
      ok: false,
      reason: 'INVALID_ENVELOPE',
      message: 'Not a valid CloudEvents 1.0 envelope',
      issues: toContractIssues(envelope.error),
    };
  }
  const { type } = envelope.data;
  const def = findEventDefinition(type);
  if (def === undefined) return unknownType(type);

  const mismatches: ContractIssue[] = [];
  if (envelope.data.source !== def.source) {
    mismatches.push({
      path: 'source',
      message: `expected "${def.source}" for ${type}, got "${envelope.data.source}"`,
    });
  }
  if (envelope.data.dataschema !== def.dataschema) {
    mismatches.push({
      path: 'dataschema',
      message: `expected "${def.dataschema}" for ${type}, got "${envelope.data.dataschema}"`,
    });
  }

  const data = def.schema.safeParse(envelope.data.data);
  if (!data.success) {
    return {
      ok: false,
      reason: 'INVALID_DATA',
      message: `Invalid data for ${type}`,
      type,
      issues: toContractIssues(data.error, ['data']),
    };
  }
  const key = aggregateId(def, data.data);
  if (envelope.data.subject !== key) mismatches.push(subjectMismatch(def, envelope.data.subject, key));
  if (mismatches.length > 0) {
    return {
      ok: false,
      reason: 'INVALID_ENVELOPE',
      message: `Envelope inconsistent with ${type}`,
      type,
      issues: mismatches,
    };
  }
  return { ok: true, event: { ...envelope.data, data: data.data } as CairnEvent };
}

/** `parseEvent` for a serialized event (a Kafka message value); malformed JSON is INVALID_ENVELOPE. */
export function parseEventJson(text: string): ParseEventResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      reason: 'INVALID_ENVELOPE',
      message: `Not JSON: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  return parseEvent(json);
}

/** The structured-mode JSON of an event (the message value). */
export function serializeEvent(event: CairnEvent): string {
  return JSON.stringify(event);
}

/** Where an event is published: its producer's topic, keyed by the aggregate id (the subject). */
export function eventRouting(event: CairnEvent): { topic: Topic; key: string } {
  const def = findEventDefinition(event.type);
  // CairnEvent values only come from createEvent/parseEvent, which both looked the type up.
  if (def === undefined)
    throw new EventContractError('UNKNOWN_TYPE', `Unknown event type "${event.type}"`, event.type);
  return { topic: def.topic, key: event.subject };
}

function unknownType(type: string): ParseEventResult {
  const parts = parseEventTypeName(type);
  const versions = parts === undefined ? [] : knownVersions(parts.baseType);
  if (parts !== undefined && versions.length > 0) {
    return {
      ok: false,
      reason: 'UNSUPPORTED_VERSION',
      message: `${parts.baseType} v${parts.version} is not supported (known: ${versions.map((v) => `v${v}`).join(', ')})`,
      type,
    };
  }
  return { ok: false, reason: 'UNKNOWN_TYPE', message: `Unknown event type "${type}"`, type };
}

function aggregateId(def: EventDefinition, data: Record<string, unknown>): string {
  const value = data[def.keyField];
  // defineEvent only accepts string fields as keys, so this is a broken catalog entry.
  if (typeof value !== 'string') throw new Error(`${def.type}: key field "${def.keyField}" is not a string`);
  return value;
}

function subjectMismatch(def: EventDefinition, subject: string, key: string): ContractIssue {
  return { path: 'subject', message: `must equal data.${def.keyField} ("${key}"), got "${subject}"` };
}

function formatTime(time: Date | string): string {
  if (typeof time === 'string') return time;
  // An invalid Date would make toISOString throw a RangeError with no context.
  return Number.isNaN(time.getTime()) ? 'Invalid Date' : time.toISOString();
}
