import type { z } from 'zod';
import type { EventDefinition } from './event-definition.factory';
import { driftDetectedV1, dataQualityViolatedV1 } from './monitor-events.schema';
import {
  deploymentFailedV1,
  deploymentRolledBackV1,
  deploymentStartedV1,
  deploymentSucceededV1,
  pipelineRunFailedV1,
  pipelineRunStartedV1,
  pipelineRunSucceededV1,
} from './orchestrator-events.schema';
import {
  aliasDeletedV1,
  aliasSetV1,
  modelArchivedV1,
  modelPromotedV1,
  modelVersionCreatedV1,
  modelVersionTagDeletedV1,
  modelVersionTagSetV1,
  registeredModelCreatedV1,
  transitionApprovedV1,
  transitionRejectedV1,
  transitionRequestedV1,
} from './registry-events.schema';
import { inferenceLoggedV1 } from './serving-events.schema';
import { experimentCreatedV1, runFinishedV1, runStartedV1 } from './tracking-events.schema';

/**
 * Every event type Cairn publishes, in a stable order (the AsyncAPI document follows it). A
 * published type is never removed or changed incompatibly: a breaking change is a new `.vN`
 * entry next to the old one, and producers emit both during the migration.
 */
export const EVENT_DEFINITIONS = [
  experimentCreatedV1,
  runStartedV1,
  runFinishedV1,
  modelVersionCreatedV1,
  transitionRequestedV1,
  transitionApprovedV1,
  transitionRejectedV1,
  modelPromotedV1,
  modelArchivedV1,
  aliasSetV1,
  aliasDeletedV1,
  registeredModelCreatedV1,
  modelVersionTagSetV1,
  modelVersionTagDeletedV1,
  pipelineRunStartedV1,
  pipelineRunSucceededV1,
  pipelineRunFailedV1,
  deploymentStartedV1,
  deploymentSucceededV1,
  deploymentFailedV1,
  deploymentRolledBackV1,
  driftDetectedV1,
  dataQualityViolatedV1,
  inferenceLoggedV1,
] as const;

type AnyEventDefinition = (typeof EVENT_DEFINITIONS)[number];

/** Every catalog event type, e.g. `'cairn.registry.model.promoted.v1'`. */
export type EventType = AnyEventDefinition['type'];

/** The catalog entry of one event type. */
export type EventDefinitionOf<T extends EventType> = Extract<AnyEventDefinition, { type: T }>;

/** The payload (`data`) of an event type, after validation. */
export type EventData<T extends EventType> = z.output<EventDefinitionOf<T>['schema']>;

/** The payload of an event type as a producer may pass it (before defaults and transforms). */
export type EventDataInput<T extends EventType> = z.input<EventDefinitionOf<T>['schema']>;

/** The catalog by event type. */
export const EVENT_CATALOG = Object.fromEntries(EVENT_DEFINITIONS.map((def) => [def.type, def])) as {
  readonly [D in AnyEventDefinition as D['type']]: D;
};

export const EVENT_TYPES: readonly EventType[] = EVENT_DEFINITIONS.map((def) => def.type);

const byType: ReadonlyMap<string, EventDefinition> = new Map(EVENT_DEFINITIONS.map((def) => [def.type, def]));
const versionsByBaseType: ReadonlyMap<string, readonly number[]> = EVENT_DEFINITIONS.reduce((map, def) => {
  map.set(def.baseType, [...(map.get(def.baseType) ?? []), def.version]);
  return map;
}, new Map<string, number[]>());

export function isEventType(type: string): type is EventType {
  return byType.has(type);
}

/** The catalog entry of a type, or undefined for a type the catalog does not have. */
export function findEventDefinition(type: string): EventDefinition | undefined {
  return byType.get(type);
}

/** The major versions the catalog has of a base type (`cairn.registry.model.promoted`). */
export function knownVersions(baseType: string): readonly number[] {
  return versionsByBaseType.get(baseType) ?? [];
}
