import { INVALID_ORDER_BY, parseOrderByList, pyList, SearchSyntaxError } from '@cairn/search';
import { resolveExperimentIdentifier } from './experiment-filter.parser';
import { RUN_SEARCH_ATTRIBUTES, resolveRunIdentifier, type RunAttribute } from './run-filter.parser';

/*
 * search_runs' and search_experiments' order_by lists (the clause syntax is @cairn/search's).
 */

export type RunOrderByClause =
  | { entity: 'attribute'; key: RunAttribute; ascending: boolean }
  | { entity: 'metric' | 'param' | 'tag'; key: string; ascending: boolean };

export type ExperimentOrderKey = 'name' | 'experiment_id' | 'creation_time' | 'last_update_time';
export interface ExperimentOrderByClause {
  key: ExperimentOrderKey;
  ascending: boolean;
}

/** Orderable run attributes: the searchable ones and `created`, as in MLflow. */
const RUN_ORDER_ATTRIBUTES: ReadonlyMap<string, RunAttribute> = new Map(
  [...RUN_SEARCH_ATTRIBUTES].filter(([alias]) => !alias.includes(' ')),
);
const EXPERIMENT_ORDER_KEYS: readonly ExperimentOrderKey[] = [
  'name',
  'experiment_id',
  'creation_time',
  'last_update_time',
];

/** Parses search_runs' order_by; errors are AppError(invalid_argument, INVALID_ORDER_BY). */
export function parseRunOrderBy(orderBy: readonly string[]): RunOrderByClause[] {
  return parseOrderByList(orderBy, {
    reason: INVALID_ORDER_BY,
    resolve: (identifier, ascending): RunOrderByClause => {
      const id = resolveRunIdentifier(identifier, RUN_ORDER_ATTRIBUTES);
      if (id.entity === 'dataset') {
        throw new SearchSyntaxError(
          `Invalid order_by entity type '${id.entity}'. Valid values are ${pyList(['metric', 'parameter', 'tag', 'attribute'])}`,
          identifier.position,
        );
      }
      return id.entity === 'attribute'
        ? { entity: 'attribute', key: id.key, ascending }
        : { entity: id.entity, key: id.key, ascending };
    },
    // MLflow compares (entity, key) after alias translation: `created` duplicates `start_time`.
    identity: (c) => JSON.stringify([c.entity, c.key]),
  });
}

/**
 * Parses search_experiments' order_by (attributes only). Duplicates are accepted, as MLflow
 * accepts them there.
 */
export function parseExperimentOrderBy(orderBy: readonly string[]): ExperimentOrderByClause[] {
  return parseOrderByList(orderBy, {
    reason: INVALID_ORDER_BY,
    resolve: (identifier, ascending): ExperimentOrderByClause => {
      const id = resolveExperimentIdentifier(identifier, EXPERIMENT_ORDER_KEYS);
      if (id.entity === 'tag') {
        throw new SearchSyntaxError(`Invalid order_by entity: ${id.entity}`, identifier.position);
      }
      return { key: id.key, ascending };
    },
  });
}
