import { createHash } from 'node:crypto';
import { Document } from 'yaml';
import { EVENT_DEFINITIONS } from '../catalog/event.catalog';
import type { EventDefinition } from '../catalog/event-definition.factory';
import { createEvent } from '../codec/event.codec';
import { cloudEventEnvelopeSchema, STRUCTURED_CONTENT_TYPE } from '../envelope/cloud-event.schema';
import { dataJsonSchema, toJsonSchema, type JsonObject } from '../json-schema/event-json-schema.generator';
import { ALL_TOPICS, type Topic } from '../topics/topics.constants';

/** Where the generated document is committed, relative to the workspace root. */
export const ASYNCAPI_DOCUMENT_PATH = 'libs/contracts/asyncapi.yaml';

const ENVELOPE_SCHEMA_ID = 'CloudEventEnvelope';
const KAFKA_BINDING_VERSION = '0.5.0';
const EXAMPLE_TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const TOPIC_DESCRIPTIONS: Record<Topic, string> = {
  'cairn.tracking': 'Experiment and run lifecycle, produced by the tracking service.',
  'cairn.registry': 'Model versions, transition requests, promotions and aliases, produced by the registry.',
  'cairn.orchestrator': 'Pipeline runs and deployments, produced by the orchestrator.',
  'cairn.monitor': 'Drift and data-quality findings, produced by the monitor.',
  'cairn.inference-logs': 'High-volume inference logs from model servers, consumed by the monitor.',
};

/**
 * The AsyncAPI 3.0 document of every catalog event: one channel per topic, one `send` operation
 * and one message per event type, the `data` schemas under components. Deterministic: generating
 * twice gives the same document, so the committed file can be checked against it.
 */
export function buildAsyncApiDocument(): JsonObject {
  const channels: JsonObject = {};
  for (const topic of ALL_TOPICS) {
    const defs = EVENT_DEFINITIONS.filter((def) => def.topic === topic);
    channels[topic] = {
      address: topic,
      description:
        `${TOPIC_DESCRIPTIONS[topic]} Each message is a CloudEvent in structured JSON mode keyed by its ` +
        `aggregate id. Consumers dead-letter what they cannot handle to \`${topic}.dlq\`.`,
      messages: Object.fromEntries(
        defs.map((def) => [def.type, { $ref: `#/components/messages/${def.type}` }]),
      ),
      bindings: { kafka: { topic, bindingVersion: KAFKA_BINDING_VERSION } },
    };
  }

  const operations = Object.fromEntries(
    EVENT_DEFINITIONS.map((def) => [
      def.type,
      {
        action: 'send',
        channel: { $ref: `#/channels/${def.topic}` },
        title: `Publish ${def.name} v${def.version}`,
        summary: def.description,
        messages: [{ $ref: `#/channels/${def.topic}/messages/${def.type}` }],
      },
    ]),
  );

  const schemas: JsonObject = { [ENVELOPE_SCHEMA_ID]: toJsonSchema(cloudEventEnvelopeSchema) };
  for (const def of EVENT_DEFINITIONS) schemas[def.type] = payloadComponentSchema(def);

  return {
    asyncapi: '3.0.0',
    id: 'urn:cairn:events',
    info: {
      title: 'Cairn events',
      version: '1.0.0',
      description:
        'Events exchanged by the Cairn services over Kafka (or the embedded Postgres log). ' +
        'Envelope: CloudEvents 1.0, structured JSON mode, with the W3C traceparent extension. ' +
        'Types are named cairn.<service>.<entity>.<verb>.v<N>; a version only ever gains optional ' +
        'fields, anything else is a new type. Times are RFC 3339 strings (UTC). ' +
        'Generated from libs/contracts; do not edit by hand.',
    },
    defaultContentType: STRUCTURED_CONTENT_TYPE,
    channels,
    operations,
    components: {
      schemas,
      messages: Object.fromEntries(EVENT_DEFINITIONS.map((def) => [def.type, messageComponent(def)])),
    },
  };
}

/** The document as YAML, with a header saying how to regenerate it. */
export function renderAsyncApiYaml(document: JsonObject = buildAsyncApiDocument()): string {
  // The YAML 1.1 schema quotes every scalar a 1.1 reader (js-yaml, PyYAML) would not read back as
  // a string, such as example timestamps and `yes`/`no`.
  const yaml = new Document(document, { schema: 'yaml-1.1', aliasDuplicateObjects: false });
  yaml.commentBefore =
    ' Generated from the event catalog in libs/contracts; do not edit.\n' +
    ' Regenerate with: npx nx run contracts:asyncapi';
  return yaml.toString({ lineWidth: 0, singleQuote: true });
}

function payloadComponentSchema(def: EventDefinition): JsonObject {
  // $schema and $id belong to the standalone published document, not to an embedded schema.
  const { $schema: _dialect, $id: _id, ...schema } = dataJsonSchema(def);
  return { ...schema, externalDocs: { url: def.dataschema } };
}

function messageComponent(def: EventDefinition): JsonObject {
  return {
    name: def.name,
    title: `${def.name} v${def.version}`,
    summary: def.description,
    contentType: STRUCTURED_CONTENT_TYPE,
    payload: {
      allOf: [
        { $ref: `#/components/schemas/${ENVELOPE_SCHEMA_ID}` },
        {
          type: 'object',
          properties: {
            type: { const: def.type },
            source: { const: def.source },
            dataschema: { const: def.dataschema },
            subject: { type: 'string', description: `The aggregate id: data.${def.keyField}.` },
            data: { $ref: `#/components/schemas/${def.type}` },
          },
        },
      ],
    },
    bindings: {
      kafka: {
        key: { type: 'string', description: `The aggregate id: data.${def.keyField}.` },
        bindingVersion: KAFKA_BINDING_VERSION,
      },
    },
    examples: [{ name: `${def.name}-example`, payload: exampleEvent(def) }],
    'x-cairn-version': def.version,
    'x-cairn-key-field': def.keyField,
  };
}

function exampleEvent(def: EventDefinition): JsonObject {
  const event = createEvent(
    // The catalog's own entries: the type is known and the example matches its schema.
    def.type as (typeof EVENT_DEFINITIONS)[number]['type'],
    {
      data: def.example as (typeof EVENT_DEFINITIONS)[number]['example'],
      id: deterministicUuid(def.type),
      time: eventTimeOf(def.example),
      traceparent: EXAMPLE_TRACEPARENT,
    },
  );
  return JSON.parse(JSON.stringify(event)) as JsonObject;
}

/** The example's own time: its last `...At` field (each schema lists the event's time last). */
function eventTimeOf(example: Record<string, unknown>): string {
  const times = Object.entries(example).filter(
    (entry): entry is [string, string] => entry[0].endsWith('At') && typeof entry[1] === 'string',
  );
  return times.at(-1)?.[1] ?? '2025-01-15T12:00:00.000Z';
}

/** A stable UUID (version 4 layout) derived from a name, so that examples do not change between runs. */
function deterministicUuid(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    `4${hex.slice(13, 16)}`,
    `8${hex.slice(17, 20)}`,
    hex.slice(20, 32),
  ].join('-');
}
