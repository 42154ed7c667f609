import { AppError } from '@cairn/rpc';
import { resolveExperimentIdentifier } from './experiment-filter.parser';
import { excerpt, FilterScanner, type IdentifierToken, pyList, SearchSyntaxError } from './filter-scanner';
import { RUN_SEARCH_ATTRIBUTES, resolveRunIdentifier, type RunAttribute } from './run-filter.parser';

/*
 * MLflow's order_by lists: each string is `<identifier> [ASC|DESC]` (ASC by default,
 * case-insensitive), identifiers written as in filters.
 */

/** Most order_by clauses accepted: each one adds a join and two sort columns. */
export const MAX_ORDER_BY_CLAUSES = 20;
const MAX_ORDER_BY_CLAUSE_LENGTH = 1_000;

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

function orderByError(message: string, clause: string, index: number, position: number): AppError {
  return new AppError('invalid_argument', 'INVALID_ORDER_BY', `${message} (at position ${position})`, {
    order_by: excerpt(clause, 200),
    index: String(index),
    position: String(position),
  });
}

function parseClause(clause: string): { identifier: IdentifierToken; ascending: boolean } {
  const unparsable = `Invalid order_by clause '${excerpt(clause, 200)}'. Could not be parsed.`;
  if (clause.length > MAX_ORDER_BY_CLAUSE_LENGTH || clause.includes('\u0000')) {
    throw new SearchSyntaxError(unparsable, 0);
  }
  const s = new FilterScanner(clause);
  s.skipWhitespace();
  if (s.atEnd()) throw new SearchSyntaxError(unparsable, s.pos);
  let identifier: IdentifierToken;
  try {
    identifier = s.readIdentifier();
  } catch (err) {
    if (err instanceof SearchSyntaxError) throw new SearchSyntaxError(unparsable, err.position);
    throw err;
  }
  s.skipWhitespace();
  let ascending = true;
  if (!s.atEnd()) {
    const at = s.pos;
    if (s.acceptKeyword('ASC')) ascending = true;
    else if (s.acceptKeyword('DESC')) ascending = false;
    else if (/[A-Za-z]/.test(s.peek())) {
      throw new SearchSyntaxError(`Invalid ordering key in order_by clause '${excerpt(clause, 200)}'.`, at);
    } else throw new SearchSyntaxError(unparsable, at);
    s.skipWhitespace();
    if (!s.atEnd()) throw new SearchSyntaxError(unparsable, s.pos);
  }
  return { identifier, ascending };
}

function parseList<T>(
  orderBy: readonly string[],
  resolve: (identifier: IdentifierToken, ascending: boolean) => T,
  identity: (clause: T) => string,
): T[] {
  if (orderBy.length > MAX_ORDER_BY_CLAUSES) {
    throw new AppError(
      'invalid_argument',
      'INVALID_ORDER_BY',
      `order_by has ${orderBy.length} clauses; at most ${MAX_ORDER_BY_CLAUSES} are accepted`,
      { count: String(orderBy.length) },
    );
  }
  const seen = new Set<string>();
  return orderBy.map((clause, index) => {
    let parsed: T;
    try {
      const { identifier, ascending } = parseClause(clause);
      parsed = resolve(identifier, ascending);
    } catch (err) {
      if (err instanceof SearchSyntaxError) throw orderByError(err.message, clause, index, err.position);
      throw err;
    }
    const id = identity(parsed);
    if (seen.has(id)) {
      throw orderByError(
        `\`order_by\` contains duplicate fields: ${excerpt(pyList(orderBy), 400)}`,
        clause,
        index,
        0,
      );
    }
    seen.add(id);
    return parsed;
  });
}

/** Parses search_runs' order_by; errors are AppError(invalid_argument, INVALID_ORDER_BY). */
export function parseRunOrderBy(orderBy: readonly string[]): RunOrderByClause[] {
  return parseList(
    orderBy,
    (identifier, ascending): RunOrderByClause => {
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
    (c) => JSON.stringify([c.entity, c.key]),
  );
}

/**
 * Parses search_experiments' order_by (attributes only). Duplicates are accepted, as MLflow
 * accepts them there.
 */
export function parseExperimentOrderBy(orderBy: readonly string[]): ExperimentOrderByClause[] {
  let n = 0;
  return parseList(
    orderBy,
    (identifier, ascending): ExperimentOrderByClause => {
      const id = resolveExperimentIdentifier(identifier, EXPERIMENT_ORDER_KEYS);
      if (id.entity === 'tag') {
        throw new SearchSyntaxError(`Invalid order_by entity: ${id.entity}`, identifier.position);
      }
      return { key: id.key, ascending };
    },
    () => String(n++),
  );
}
