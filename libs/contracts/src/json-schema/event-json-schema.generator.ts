import { z } from 'zod';
import type { EventDefinition } from '../catalog/event-definition.factory';

/** A JSON Schema (or any JSON object), as read from or written to disk. */
export type JsonObject = { [key: string]: unknown };

export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';

/**
 * JSON Schema of a zod schema, draft-07 (the dialect AsyncAPI 3.0 payloads build on). The input
 * side is used: it is what a producer may write, and objects stay open (no
 * `additionalProperties: false`), which is what lets an older consumer read a newer revision.
 */
export function toJsonSchema(schema: z.ZodType): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-07',
    io: 'input',
    override: ({ jsonSchema }) => {
      // For formats (date-time, uuid), zod also emits its own regex. The format is the contract;
      // the regex is zod's implementation and would churn the published snapshots on upgrades.
      if (jsonSchema.format !== undefined) delete jsonSchema.pattern;
    },
  });
  return rest;
}

/**
 * The JSON Schema of an event type's `data`, as published: the document its `dataschema` URI
 * names, and the snapshot kept under libs/contracts/published/.
 */
export function dataJsonSchema(def: EventDefinition): JsonObject {
  return {
    $schema: JSON_SCHEMA_DIALECT,
    $id: def.dataschema,
    title: `${def.name} v${def.version}`,
    description: def.description,
    ...toJsonSchema(def.schema),
  };
}
