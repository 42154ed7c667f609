import type { z } from 'zod';
import { dataSchemaUri, eventSource } from '../envelope/cloud-event.schema';
import type { Topic } from '../topics/topics.constants';

/** `cairn.<service>.<entity>.<verb>.v<N>`; segments are lowercase kebab-case. */
export const EVENT_TYPE_PATTERN =
  /^cairn\.([a-z][a-z0-9-]*)\.([a-z][a-z0-9-]*)\.([a-z][a-z0-9-]*)\.v([1-9][0-9]*)$/;

/** The parts of an event type name, or undefined when it does not follow the naming rule. */
export function parseEventTypeName(
  type: string,
): { service: string; entity: string; verb: string; baseType: string; version: number } | undefined {
  const match = EVENT_TYPE_PATTERN.exec(type);
  if (match === null) return undefined;
  const [, service, entity, verb, version] = match;
  return { service, entity, verb, baseType: `cairn.${service}.${entity}.${verb}`, version: Number(version) };
}

/** Names of the string fields of a schema's data: the candidates for the aggregate id. */
export type StringField<S extends z.ZodObject> = {
  [K in keyof z.output<S>]-?: z.output<S>[K] extends string ? K : never;
}[keyof z.output<S>] &
  string;

/** One entry of the event catalog: a versioned event type and everything needed to route it. */
export interface EventDefinition<TType extends string = string, TSchema extends z.ZodObject = z.ZodObject> {
  /** The CloudEvents `type`, e.g. `cairn.registry.model.promoted.v1`. */
  readonly type: TType;
  /** The type without its version, e.g. `cairn.registry.model.promoted`. */
  readonly baseType: string;
  /** The domain name of the event, e.g. `ModelPromoted`. */
  readonly name: string;
  /** The major version (the `N` of `.vN`). */
  readonly version: number;
  /** The producing service (the second segment of the type). */
  readonly service: string;
  /** The CloudEvents `source`: `/cairn/<service>`. */
  readonly source: string;
  readonly topic: Topic;
  /** The data field holding the aggregate id: the CloudEvents `subject` and the message key. */
  readonly keyField: string;
  readonly description: string;
  readonly dataschema: string;
  readonly schema: TSchema;
  /** A valid payload, used in the AsyncAPI document and in tests. */
  readonly example: z.input<TSchema>;
}

/** Declares a catalog entry; the type name is checked against the naming rule at load time. */
export function defineEvent<const TType extends string, TSchema extends z.ZodObject>(def: {
  type: TType;
  name: string;
  topic: Topic;
  keyField: NoInfer<StringField<TSchema>>;
  description: string;
  schema: TSchema;
  example: NoInfer<z.input<TSchema>>;
}): EventDefinition<TType, TSchema> {
  const parts = parseEventTypeName(def.type);
  // A misnamed type is a programming error in this library; failing at import makes every test fail.
  if (parts === undefined) throw new Error(`Event type "${def.type}" does not match ${EVENT_TYPE_PATTERN}`);
  return {
    ...def,
    baseType: parts.baseType,
    version: parts.version,
    service: parts.service,
    source: eventSource(parts.service),
    dataschema: dataSchemaUri(def.type),
  };
}
