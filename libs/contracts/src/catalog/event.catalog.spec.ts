import { toJsonSchema } from '../json-schema/event-json-schema.generator';
import { TOPICS } from '../topics/topics.constants';
import { EVENT_CATALOG, EVENT_DEFINITIONS, EVENT_TYPES, knownVersions } from './event.catalog';
import { EVENT_TYPE_PATTERN } from './event-definition.factory';

const definitions = EVENT_DEFINITIONS.map((def) => [def.type, def] as const);

describe('event catalog', () => {
  it('has every event of the architecture, once', () => {
    expect(EVENT_DEFINITIONS.map((def) => def.name)).toEqual([
      'ExperimentCreated',
      'RunStarted',
      'RunFinished',
      'ModelVersionCreated',
      'TransitionRequested',
      'TransitionApproved',
      'TransitionRejected',
      'ModelPromoted',
      'ModelArchived',
      'AliasSet',
      'AliasDeleted',
      'RegisteredModelCreated',
      'ModelVersionTagSet',
      'ModelVersionTagDeleted',
      'PipelineRunStarted',
      'PipelineRunSucceeded',
      'PipelineRunFailed',
      'DeploymentStarted',
      'DeploymentSucceeded',
      'DeploymentFailed',
      'DeploymentRolledBack',
      'DriftDetected',
      'DataQualityViolated',
      'InferenceLogged',
    ]);
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
    expect(Object.keys(EVENT_CATALOG)).toEqual(EVENT_TYPES);
  });

  it('knows the versions of a base type', () => {
    expect(knownVersions('cairn.registry.model.promoted')).toEqual([1]);
    expect(knownVersions('cairn.registry.model.exploded')).toEqual([]);
  });

  it.each(definitions)('%s is named, routed and keyed consistently', (type, def) => {
    expect(type).toMatch(EVENT_TYPE_PATTERN);
    expect(type).toBe(`${def.baseType}.v${def.version}`);
    expect(def.topic).toBe(def.service === 'serving' ? TOPICS.inferenceLogs : `cairn.${def.service}`);
    expect(def.source).toBe(`/cairn/${def.service}`);
    expect(def.dataschema).toBe(`https://cairn.dev/schemas/${type}.json`);
    expect(def.description).not.toBe('');

    // The key must always be there: consumers partition and order by it.
    const json = toJsonSchema(def.schema);
    expect(json.required).toContain(def.keyField);
    expect(json.properties).toHaveProperty([def.keyField, 'type'], 'string');
  });

  it.each(definitions)('%s has a valid example whose last ...At field is the event time', (_type, def) => {
    expect(def.schema.safeParse(def.example).error).toBeUndefined();
    const timeFields = Object.keys(def.schema.shape).filter((key) => key.endsWith('At'));
    expect(timeFields.length).toBeGreaterThan(0);
    // The AsyncAPI examples take their envelope time from that field.
    expect(toJsonSchema(def.schema)).toHaveProperty(
      ['properties', timeFields.at(-1)!, 'format'],
      'date-time',
    );
  });
});
