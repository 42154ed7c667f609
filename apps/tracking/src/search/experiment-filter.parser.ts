import {
  type Comparator,
  excerpt,
  expectComparator,
  type FilterGrammar,
  type IdentifierToken,
  integerValue,
  INVALID_FILTER,
  isOneOf,
  NUMERIC_COMPARATORS,
  type NumericComparator,
  pySet,
  scanFilter,
  SearchSyntaxError,
  STRING_COMPARATORS,
  type StringComparator,
  stringValue,
  withFilterErrors,
} from '@cairn/search';

/*
 * MLflow's search_experiments filter (SearchExperimentsUtils and
 * SqlAlchemyStore._get_search_experiments_filter_clauses): `name` with string comparators,
 * `creation_time` and `last_update_time` with numeric ones, `tags.<key>` with string ones.
 * As in MLflow, the only entity prefixes are `attribute`, `tag` and `tags`.
 */

export type NumericExperimentAttribute = 'creation_time' | 'last_update_time';

export type ExperimentFilterClause = { position: number } & (
  | { entity: 'attribute'; key: 'name'; comparator: StringComparator; value: string }
  | { entity: 'attribute'; key: NumericExperimentAttribute; comparator: NumericComparator; value: bigint }
  | { entity: 'tag'; key: string; comparator: StringComparator; value: string }
);

export const EXPERIMENT_ENTITY_PREFIXES: ReadonlyMap<string, 'attribute' | 'tag'> = new Map([
  ['attribute', 'attribute'],
  ['tag', 'tag'],
  ['tags', 'tag'],
]);

const SEARCH_ATTRIBUTES = ['name', 'creation_time', 'last_update_time'] as const;
type SearchAttribute = (typeof SEARCH_ATTRIBUTES)[number];

type ResolvedExperimentIdentifier =
  { entity: 'attribute'; key: SearchAttribute } | { entity: 'tag'; key: string };

/** Resolves an experiment identifier against `attributes` (the searchable or orderable keys). */
export function resolveExperimentIdentifier<K extends string>(
  id: IdentifierToken,
  attributes: readonly K[],
): { entity: 'attribute'; key: K } | { entity: 'tag'; key: string } {
  let entity: 'attribute' | 'tag' = 'attribute';
  if (id.entity !== null) {
    const found = EXPERIMENT_ENTITY_PREFIXES.get(id.entity);
    if (found === undefined) {
      throw new SearchSyntaxError(
        `Invalid entity type '${excerpt(id.entity)}'. Valid entity types are ('attribute', 'tag', 'tags')`,
        id.position,
      );
    }
    entity = found;
  }
  if (entity === 'tag') return { entity, key: id.key };
  if (!isOneOf(id.key, attributes)) {
    throw new SearchSyntaxError(
      `Invalid attribute key '${excerpt(id.key)}' specified. Valid keys are '${pySet(attributes)}'`,
      id.keyPosition,
    );
  }
  return { entity, key: id.key };
}

const EXPERIMENT_FILTER_GRAMMAR: FilterGrammar<
  ResolvedExperimentIdentifier,
  Comparator,
  ExperimentFilterClause
> = {
  identifier: (id) => resolveExperimentIdentifier(id, SEARCH_ATTRIBUTES),
  comparator(id, token) {
    if (id.entity === 'tag') {
      return expectComparator(token, STRING_COMPARATORS, (c) => `Invalid comparator for tag: ${c}`);
    }
    return id.key === 'name'
      ? expectComparator(token, STRING_COMPARATORS, (c) => `Invalid comparator for string attribute: ${c}`)
      : expectComparator(token, NUMERIC_COMPARATORS, (c) => `Invalid comparator for numeric attribute: ${c}`);
  },
  clause(id, comparator, value, position): ExperimentFilterClause {
    if (value === null) throw new Error(`comparator ${comparator} without a value`);
    if (id.entity === 'tag') {
      if (!isOneOf(comparator, STRING_COMPARATORS)) throw new Error(`unexpected comparator ${comparator}`);
      return {
        entity: 'tag',
        key: id.key,
        comparator,
        value: stringValue(value, 'tag', comparator),
        position,
      };
    }
    if (id.key === 'name') {
      if (!isOneOf(comparator, STRING_COMPARATORS)) throw new Error(`unexpected comparator ${comparator}`);
      return {
        entity: 'attribute',
        key: 'name',
        comparator,
        value: stringValue(value, 'attributes', comparator),
        position,
      };
    }
    if (!isOneOf(comparator, NUMERIC_COMPARATORS)) throw new Error(`unexpected comparator ${comparator}`);
    return { entity: 'attribute', key: id.key, comparator, value: integerValue(value, id.key), position };
  },
};

/** Parses a search_experiments filter; errors are AppError(invalid_argument, INVALID_FILTER). */
export function parseExperimentFilter(filter: string): ExperimentFilterClause[] {
  return withFilterErrors(() => scanFilter(filter, EXPERIMENT_FILTER_GRAMMAR), INVALID_FILTER);
}
