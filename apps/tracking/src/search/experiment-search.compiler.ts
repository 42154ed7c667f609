import {
  decodePageToken,
  nextPageToken,
  type PageContext,
  pagedQuery,
  queryFingerprint,
  quoteSchema,
  type SortColumn,
  SqlParams,
  validateMaxResults,
  SQL_OPS,
} from '@cairn/search';
import { type ExperimentFilterClause, parseExperimentFilter } from './experiment-filter.parser';
import { type ExperimentOrderByClause, parseExperimentOrderBy } from './order-by.parser';
import { MAX_RESULTS, PAGE_TOKEN_ERRORS } from './search-limits';
import { lifecycleCondition, type ViewTypeName } from './view-type';

/*
 * search_experiments as one parameterized query, after SqlAlchemyStore._search_experiments:
 * default order `creation_time DESC, experiment_id ASC`; an explicit order_by without
 * experiment_id gets `experiment_id DESC` as its tie-breaker. Every ordered column is NOT NULL,
 * so no rank columns are needed.
 */

export interface ExperimentSearchInput {
  schema: string;
  viewType: ViewTypeName;
  filter: string;
  orderBy: readonly string[];
  maxResults: number;
  pageToken?: string;
}

export interface CompiledExperimentSearch {
  /** Returns `experiment_id` (text) and the sort keys `sk0`, `sk1`... as text, in page order. */
  sql: string;
  params: unknown[];
  page: PageContext;
}

const DEFAULT_ORDER: readonly ExperimentOrderByClause[] = [
  { key: 'creation_time', ascending: false },
  { key: 'experiment_id', ascending: true },
];

function filterCondition(c: ExperimentFilterClause, s: string, p: SqlParams): string {
  switch (c.entity) {
    case 'attribute':
      if (c.key === 'name') return `e.name ${SQL_OPS[c.comparator]} ${p.add(c.value, 'text')}`;
      return `e.${c.key} ${SQL_OPS[c.comparator]} ${p.add(c.value.toString(), 'bigint')}`;
    case 'tag':
      return (
        `EXISTS (SELECT 1 FROM ${s}.experiment_tags t WHERE t.experiment_id = e.experiment_id` +
        ` AND t.key = ${p.add(c.key, 'text')} AND t.value ${SQL_OPS[c.comparator]} ${p.add(c.value, 'text')})`
      );
    default: {
      const unreachable: never = c;
      throw new Error(`unhandled clause ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Compiles search_experiments; errors as compileRunSearch's. */
export function compileExperimentSearch(input: ExperimentSearchInput): CompiledExperimentSearch {
  const s = quoteSchema(input.schema);
  validateMaxResults(input.maxResults, MAX_RESULTS);
  const filter = parseExperimentFilter(input.filter);
  const parsedOrder = parseExperimentOrderBy(input.orderBy);
  const order = parsedOrder.length > 0 ? parsedOrder : DEFAULT_ORDER;
  const fingerprint = queryFingerprint(['experiments', input.viewType, input.filter, input.orderBy]);

  const columns: SortColumn[] = order.map((o) => ({
    expr: `e.${o.key}`,
    type: o.key === 'name' ? 'text' : 'bigint',
    descending: !o.ascending,
  }));
  if (!order.some((o) => o.key === 'experiment_id')) {
    columns.push({ expr: 'e.experiment_id', type: 'bigint', descending: true });
  }

  const params = new SqlParams();
  const where: string[] = [];
  const lifecycle = lifecycleCondition('e.lifecycle_stage', input.viewType);
  if (lifecycle) where.push(lifecycle);
  for (const clause of filter) where.push(filterCondition(clause, s, params));

  const page: PageContext = {
    kind: 'experiments',
    fingerprint,
    sortKeys: columns.map(({ type }) => ({ type })),
    maxResults: input.maxResults,
  };
  const after = input.pageToken
    ? decodePageToken(input.pageToken, fingerprint, page.sortKeys, PAGE_TOKEN_ERRORS)
    : null;
  const sql = pagedQuery({
    idExpr: 'e.experiment_id',
    idName: 'experiment_id',
    from: `${s}.experiments e`,
    where,
    columns,
    after,
    params,
    maxResults: input.maxResults,
  });
  return { sql, params: params.values, page };
}

/** The page token continuing an experiment search after `lastRow`. */
export function nextExperimentPageToken(
  compiled: CompiledExperimentSearch,
  lastRow: Readonly<Record<string, unknown>>,
): string {
  return nextPageToken(compiled, lastRow);
}
