import { z } from 'zod';
import { traceparentSchema } from './traceparent.schema';

export const CLOUDEVENTS_SPEC_VERSION = '1.0';
export const EVENT_DATA_CONTENT_TYPE = 'application/json';
/** Content type of a whole message in CloudEvents structured mode (the Kafka value). */
export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';

/**
 * Base of every `dataschema` URI: `https://cairn.dev/schemas/<type>.json`. The type already
 * carries the major version, so one URI names exactly one published schema, and the document at
 * that URI is the snapshot under libs/contracts/published/ (whose `$id` is the same URI).
 */
export const DATA_SCHEMA_BASE_URI = 'https://cairn.dev/schemas/';

/** The `dataschema` URI of an event type. */
export function dataSchemaUri(type: string): string {
  return `${DATA_SCHEMA_BASE_URI}${type}.json`;
}

/** The CloudEvents `source` of a producing service: `/cairn/<service>`. */
export function eventSource(service: string): string {
  return `/cairn/${service}`;
}

/**
 * RFC 3339 date-time. Cairn writes UTC with a `Z` and millisecond precision
 * (`Date.prototype.toISOString()`); readers also accept numeric offsets, which RFC 3339 allows.
 */
export const timestampSchema = z.iso.datetime({ offset: true });

/**
 * The CloudEvents 1.0 envelope in structured JSON mode, as every Cairn event carries it. The
 * optional CloudEvents attributes that Cairn always sets (`subject`, `dataschema`, `time`,
 * `datacontenttype`) are required here so that consumers can rely on them.
 */
export const cloudEventEnvelopeSchema = z
  .object({
    specversion: z.literal(CLOUDEVENTS_SPEC_VERSION),
    id: z.uuid().describe('Event id; consumers deduplicate on it (inbox), so a retried publish keeps it.'),
    source: z.string().min(1).describe('The producing service, `/cairn/<service>`.'),
    type: z.string().min(1).describe('`cairn.<service>.<entity>.<verb>.v<N>`.'),
    time: timestampSchema.describe('When the state change happened (RFC 3339).'),
    subject: z.string().min(1).describe('The aggregate id; also the message key.'),
    datacontenttype: z.literal(EVENT_DATA_CONTENT_TYPE),
    dataschema: z.url().describe('URI of the JSON Schema of `data` for this type and major version.'),
    data: z.record(z.string(), z.unknown()),
    traceparent: traceparentSchema.optional(),
    tracestate: z.string().max(512).optional().describe('W3C Trace Context tracestate, if any.'),
  })
  .describe('CloudEvents 1.0 envelope (structured JSON mode) with the distributed-tracing extension.');

export type CloudEventEnvelope = z.output<typeof cloudEventEnvelopeSchema>;
