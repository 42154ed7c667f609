import {
  type Comparator,
  excerpt,
  expectComparator,
  type FilterGrammar,
  type IdentifierToken,
  integerValue,
  INVALID_FILTER,
  isOneOf,
  LIST_COMPARATORS,
  listValue,
  type ListComparator,
  metricValue,
  NULL_COMPARATORS,
  type NullComparator,
  NUMERIC_COMPARATORS,
  type NumericComparator,
  pyList,
  pySet,
  scanFilter,
  SearchSyntaxError,
  STRING_COMPARATORS,
  type StringComparator,
  stringValue,
  withFilterErrors,
} from '@cairn/search';

/*
 * MLflow's search_runs filter (SearchUtils.parse_search_filter): `<identifier> <comparator>
 * <value>` clauses joined by AND. Deliberate differences, all accepting more than MLflow:
 * - IN / NOT IN work on every string attribute, not only run_id;
 * - params and tags also take IS NULL / IS NOT NULL (the key is absent / present);
 * - IN lists take double-quoted strings as well as single-quoted ones;
 * - run ids in an IN list are not dropped when they contain upper-case letters (MLflow drops
 *   them to work around MySQL's case-insensitive IN).
 */

export type RunFilterEntity = 'metric' | 'param' | 'tag' | 'attribute' | 'dataset';
export type NumericRunAttribute = 'start_time' | 'end_time';
export type StringRunAttribute = 'run_id' | 'run_name' | 'user_id' | 'status' | 'artifact_uri';
export type RunAttribute = NumericRunAttribute | StringRunAttribute;
export type DatasetAttribute = 'name' | 'digest' | 'context';

interface ClauseBase {
  /** 0-based position of the clause's identifier in the filter. */
  position: number;
}

export type RunFilterClause = ClauseBase &
  (
    | { entity: 'metric'; key: string; comparator: NumericComparator; value: number }
    | { entity: 'param' | 'tag'; key: string; comparator: StringComparator; value: string }
    | { entity: 'param' | 'tag'; key: string; comparator: NullComparator; value: null }
    | { entity: 'attribute'; key: NumericRunAttribute; comparator: NumericComparator; value: bigint }
    | { entity: 'attribute'; key: StringRunAttribute; comparator: StringComparator; value: string }
    | { entity: 'attribute'; key: StringRunAttribute; comparator: ListComparator; value: readonly string[] }
    | { entity: 'dataset'; key: DatasetAttribute; comparator: StringComparator; value: string }
    | { entity: 'dataset'; key: DatasetAttribute; comparator: ListComparator; value: readonly string[] }
  );

/** MLflow's canonical entity names, in the order its messages list them. */
const ENTITY_NAMES = ['metric', 'parameter', 'tag', 'attribute', 'dataset'];

export const RUN_ENTITY_PREFIXES: ReadonlyMap<string, RunFilterEntity> = new Map([
  ['metric', 'metric'],
  ['metrics', 'metric'],
  ['parameter', 'param'],
  ['parameters', 'param'],
  ['param', 'param'],
  ['params', 'param'],
  ['tag', 'tag'],
  ['tags', 'tag'],
  ['attribute', 'attribute'],
  ['attributes', 'attribute'],
  ['attr', 'attribute'],
  ['run', 'attribute'],
  ['dataset', 'dataset'],
  ['datasets', 'dataset'],
]);

const NUMERIC_RUN_ATTRIBUTES: readonly NumericRunAttribute[] = ['start_time', 'end_time'];

/** Searchable run attributes and MLflow's aliases for them (`created`, `Run name`...). */
export const RUN_SEARCH_ATTRIBUTES: ReadonlyMap<string, RunAttribute> = new Map([
  ['run_id', 'run_id'],
  ['run_name', 'run_name'],
  ['user_id', 'user_id'],
  ['status', 'status'],
  ['start_time', 'start_time'],
  ['end_time', 'end_time'],
  ['artifact_uri', 'artifact_uri'],
  ['created', 'start_time'],
  ['Created', 'start_time'],
  ['run name', 'run_name'],
  ['Run name', 'run_name'],
  ['Run Name', 'run_name'],
]);

const DATASET_ATTRIBUTES: readonly DatasetAttribute[] = ['name', 'digest', 'context'];

export type ResolvedRunIdentifier =
  | { entity: 'metric' | 'param' | 'tag'; key: string; position: number }
  | { entity: 'attribute'; key: RunAttribute; position: number }
  | { entity: 'dataset'; key: DatasetAttribute; position: number };

/**
 * Resolves `<entity>.<key>` for runs: the entity prefix aliases, and for attributes the
 * attribute aliases of `attributes` (MLflow validates against the searchable or orderable set).
 */
export function resolveRunIdentifier(
  id: IdentifierToken,
  attributes: ReadonlyMap<string, RunAttribute>,
): ResolvedRunIdentifier {
  let entity: RunFilterEntity = 'attribute';
  if (id.entity !== null) {
    const found = RUN_ENTITY_PREFIXES.get(id.entity);
    if (found === undefined) {
      throw new SearchSyntaxError(
        `Invalid entity type '${excerpt(id.entity)}'. Valid values are ${pyList(ENTITY_NAMES)}`,
        id.position,
      );
    }
    entity = found;
  }
  switch (entity) {
    case 'attribute': {
      const key = attributes.get(id.key);
      if (key === undefined) {
        throw new SearchSyntaxError(
          `Invalid attribute key '${excerpt(id.key)}' specified. Valid keys are '${pySet(attributes.keys())}'`,
          id.keyPosition,
        );
      }
      return { entity, key, position: id.position };
    }
    case 'dataset':
      if (!isOneOf(id.key, DATASET_ATTRIBUTES)) {
        throw new SearchSyntaxError(
          `Invalid dataset key '${excerpt(id.key)}' specified. Valid keys are '${pySet(DATASET_ATTRIBUTES)}'`,
          id.keyPosition,
        );
      }
      return { entity, key: id.key, position: id.position };
    case 'metric':
    case 'param':
    case 'tag':
      return { entity, key: id.key, position: id.position };
    default: {
      const unreachable: never = entity;
      throw new Error(`unhandled entity ${String(unreachable)}`);
    }
  }
}

function allowedComparators(id: ResolvedRunIdentifier): readonly Comparator[] {
  switch (id.entity) {
    case 'metric':
      return NUMERIC_COMPARATORS;
    case 'param':
    case 'tag':
      return [...STRING_COMPARATORS, ...NULL_COMPARATORS];
    case 'attribute':
      return isOneOf(id.key, NUMERIC_RUN_ATTRIBUTES)
        ? NUMERIC_COMPARATORS
        : [...STRING_COMPARATORS, ...LIST_COMPARATORS];
    case 'dataset':
      return [...STRING_COMPARATORS, ...LIST_COMPARATORS];
    default: {
      const unreachable: never = id;
      throw new Error(`unhandled identifier ${JSON.stringify(unreachable)}`);
    }
  }
}

const RUN_FILTER_GRAMMAR: FilterGrammar<ResolvedRunIdentifier, Comparator, RunFilterClause> = {
  identifier: (id) => resolveRunIdentifier(id, RUN_SEARCH_ATTRIBUTES),
  comparator: (id, token) => expectComparator(token, allowedComparators(id)),
  clause(id, comparator, value, position): RunFilterClause {
    if (value === null) {
      if ((id.entity === 'param' || id.entity === 'tag') && isOneOf(comparator, NULL_COMPARATORS)) {
        return { entity: id.entity, key: id.key, comparator, value: null, position };
      }
      throw new Error(`comparator ${comparator} without a value`);
    }
    switch (id.entity) {
      case 'metric':
        if (!isOneOf(comparator, NUMERIC_COMPARATORS)) break;
        return { entity: 'metric', key: id.key, comparator, value: metricValue(value), position };
      case 'param':
      case 'tag':
        if (!isOneOf(comparator, STRING_COMPARATORS)) break;
        return {
          entity: id.entity,
          key: id.key,
          comparator,
          value: stringValue(value, id.entity === 'param' ? 'parameter' : 'tag', comparator),
          position,
        };
      case 'attribute':
        if (id.key === 'start_time' || id.key === 'end_time') {
          if (!isOneOf(comparator, NUMERIC_COMPARATORS)) break;
          return {
            entity: 'attribute',
            key: id.key,
            comparator,
            value: integerValue(value, id.key),
            position,
          };
        }
        if (isOneOf(comparator, LIST_COMPARATORS)) {
          return {
            entity: 'attribute',
            key: id.key,
            comparator,
            value: listValue(value, comparator),
            position,
          };
        }
        if (!isOneOf(comparator, STRING_COMPARATORS)) break;
        return {
          entity: 'attribute',
          key: id.key,
          comparator,
          value: stringValue(value, 'attributes', comparator),
          position,
        };
      case 'dataset':
        if (isOneOf(comparator, LIST_COMPARATORS)) {
          return {
            entity: 'dataset',
            key: id.key,
            comparator,
            value: listValue(value, comparator),
            position,
          };
        }
        if (!isOneOf(comparator, STRING_COMPARATORS)) break;
        return {
          entity: 'dataset',
          key: id.key,
          comparator,
          value: stringValue(value, 'dataset attributes', comparator),
          position,
        };
      default: {
        const unreachable: never = id;
        throw new Error(`unhandled identifier ${JSON.stringify(unreachable)}`);
      }
    }
    // The comparator stage only lets through comparators the entity accepts.
    throw new Error(`comparator ${comparator} reached a clause for ${id.entity}`);
  },
};

/**
 * Parses a search_runs filter. Empty or blank filters give no clauses. Throws
 * AppError(invalid_argument, INVALID_FILTER) with the 0-based position of the problem.
 */
export function parseRunFilter(filter: string): RunFilterClause[] {
  return withFilterErrors(() => scanFilter(filter, RUN_FILTER_GRAMMAR), INVALID_FILTER);
}
