import { AppError } from '@cairn/rpc';
import {
  decodePageToken,
  type ListComparator,
  nextPageToken,
  type PageContext,
  pagedQuery,
  queryFingerprint,
  quoteSchema,
  type SortColumn,
  SqlParams,
  type StringComparator,
  validateMaxResults,
  SQL_OPS,
} from '@cairn/search';
import { parseRunOrderBy, type RunOrderByClause } from './order-by.parser';
import { parseRunFilter, type RunFilterClause } from './run-filter.parser';
import { MAX_RESULTS, PAGE_TOKEN_ERRORS } from './search-limits';
import { lifecycleCondition, type ViewTypeName } from './view-type';

/*
 * search_runs as one parameterized Postgres query (tables of migration TrackingTables1764200000000).
 *
 * Filters follow SqlAlchemyStore._search_runs: metrics, params, tags and datasets are
 * EXISTS subqueries on (run_id, key); `!=` on a param or tag means "the key is there with
 * another value"; runs lacking the key never match a comparison. Ordering follows
 * SqlAlchemyStore._get_orderby_clauses: per clause a rank (value present, then NaN for
 * metrics, then missing; always ascending) and the value in the requested direction; then
 * start_time DESC unless start_time was ordered on; then run_id.
 *
 * Where Cairn differs on purpose:
 * - A NaN metric satisfies no comparison, `!=` included. (MLflow's SQL store keeps NaN as 0
 *   with an is_nan flag, so there `metrics.x = 0` matches NaN; Postgres, for its part, orders
 *   NaN above every number and equal to itself, hence the explicit guard.)
 * - ±Infinity metrics are stored and compared as such (MLflow clamps them to ±1.8e308).
 * - `attributes.run_name` reads the runs.run_name column (MLflow reads the mlflow.runName tag
 *   because runs logged before MLflow 1.30 have no name column).
 */

export interface RunSearchInput {
  /** The tracking schema (configuration, e.g. "tracking"). */
  schema: string;
  /** Decimal experiment ids. */
  experimentIds: readonly string[];
  viewType: ViewTypeName;
  filter: string;
  orderBy: readonly string[];
  /** 1..50000; the query returns up to maxResults + 1 rows to tell whether a next page exists. */
  maxResults: number;
  pageToken?: string;
}

export interface CompiledRunSearch {
  /** Returns `run_id` and the sort keys `sk0`, `sk1`... as text, in page order. */
  sql: string;
  params: unknown[];
  page: PageContext;
}

export interface RunSearchRow {
  run_id: string;
  [sortKey: `sk${number}`]: string | null;
}

const EXPERIMENT_ID = /^\d{1,19}$/;
const INT64_MAX = 2n ** 63n - 1n;

/** Validated, canonical (no leading zeros), deduplicated and sorted experiment ids. */
export function normalizeExperimentIds(ids: readonly string[]): string[] {
  const out = new Set<string>();
  for (const id of ids) {
    if (typeof id !== 'string' || !EXPERIMENT_ID.test(id) || BigInt(id) > INT64_MAX) {
      throw new AppError(
        'invalid_argument',
        'INVALID_EXPERIMENT_ID',
        `Invalid experiment ID: '${String(id).slice(0, 40)}'. Experiment ids are decimal integers.`,
        { value: String(id).slice(0, 40) },
      );
    }
    out.add(BigInt(id).toString());
  }
  return [...out].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
}

type AttributeClause = Extract<RunFilterClause, { entity: 'attribute' }>;

function isTimeClause(c: AttributeClause): c is Extract<AttributeClause, { value: bigint }> {
  return typeof c.value === 'bigint';
}

/** The right-hand side of a string comparison: `= $1::text`, `LIKE $1::text`, `= ANY($1::text[])`. */
function comparison(
  c:
    | { comparator: StringComparator; value: string }
    | { comparator: ListComparator; value: readonly string[] },
  p: SqlParams,
): string {
  if (c.comparator === 'IN') return `= ANY(${p.add([...c.value], 'text[]')})`;
  if (c.comparator === 'NOT IN') return `<> ALL(${p.add([...c.value], 'text[]')})`;
  return `${SQL_OPS[c.comparator]} ${p.add(c.value, 'text')}`;
}

function filterCondition(c: RunFilterClause, s: string, p: SqlParams): string {
  switch (c.entity) {
    case 'metric': {
      // Only these comparisons can be true of NaN in Postgres.
      const guard = c.comparator === '>' || c.comparator === '>=' || c.comparator === '!=';
      return (
        `EXISTS (SELECT 1 FROM ${s}.latest_metrics m WHERE m.run_id = r.run_id` +
        ` AND m.key = ${p.add(c.key, 'text')}` +
        ` AND m.value ${SQL_OPS[c.comparator]} ${p.add(String(c.value), 'float8')}` +
        `${guard ? ` AND m.value <> 'NaN'::float8` : ''})`
      );
    }
    case 'param':
    case 'tag': {
      const table = c.entity === 'param' ? 'params' : 'run_tags';
      const keyed = `SELECT 1 FROM ${s}.${table} v WHERE v.run_id = r.run_id AND v.key = ${p.add(c.key, 'text')}`;
      switch (c.comparator) {
        case 'IS NULL':
          return `NOT EXISTS (${keyed})`;
        case 'IS NOT NULL':
          return `EXISTS (${keyed})`;
        case '=': {
          // The (key, left(value, 256)) index serves the prefix. A literal under 256 characters
          // can only equal a prefix that is the whole value, so the index decides alone (an
          // index-only scan); a longer one is rechecked against the full value.
          const v = p.add(c.value, 'text');
          if (Array.from(c.value).length < 256) return `EXISTS (${keyed} AND left(v.value, 256) = ${v})`;
          return `EXISTS (${keyed} AND left(v.value, 256) = left(${v}, 256) AND v.value = ${v})`;
        }
        case '!=':
        case 'LIKE':
        case 'ILIKE':
          return `EXISTS (${keyed} AND v.value ${SQL_OPS[c.comparator]} ${p.add(c.value, 'text')})`;
        default: {
          const unreachable: never = c;
          throw new Error(`unhandled clause ${JSON.stringify(unreachable)}`);
        }
      }
    }
    case 'attribute': {
      const column = `r.${c.key}`;
      if (isTimeClause(c)) return `${column} ${SQL_OPS[c.comparator]} ${p.add(c.value.toString(), 'bigint')}`;
      return `${column} ${comparison(c, p)}`;
    }
    case 'dataset': {
      const column = c.key === 'context' ? 'i.context' : `d.${c.key}`;
      const from =
        c.key === 'context'
          ? `${s}.run_inputs i`
          : `${s}.run_inputs i JOIN ${s}.datasets d ON d.dataset_id = i.dataset_id`;
      return `EXISTS (SELECT 1 FROM ${from} WHERE i.run_id = r.run_id AND ${column} ${comparison(c, p)})`;
    }
    default: {
      const unreachable: never = c;
      throw new Error(`unhandled clause ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Sort columns and joins for the order_by clauses, then MLflow's tie-breakers. */
function sortColumns(
  orderBy: readonly RunOrderByClause[],
  s: string,
  p: SqlParams,
  joins: string[],
): SortColumn[] {
  const columns: SortColumn[] = [];
  orderBy.forEach((o, n) => {
    const descending = !o.ascending;
    switch (o.entity) {
      case 'attribute':
        if (o.key === 'end_time') {
          columns.push({
            expr: `CASE WHEN r.end_time IS NULL THEN 1 ELSE 0 END`,
            type: 'rank',
            maxRank: 1,
            descending: false,
          });
          columns.push({ expr: 'r.end_time', type: 'bigint', rankColumn: columns.length - 1, descending });
        } else {
          // The other attributes are NOT NULL columns: no rank needed.
          columns.push({ expr: `r.${o.key}`, type: o.key === 'start_time' ? 'bigint' : 'text', descending });
        }
        break;
      case 'metric': {
        const alias = `o${n}`;
        joins.push(
          `LEFT JOIN ${s}.latest_metrics ${alias} ON ${alias}.run_id = r.run_id AND ${alias}.key = ${p.add(o.key, 'text')}`,
        );
        columns.push({
          expr: `CASE WHEN ${alias}.value IS NULL THEN 2 WHEN ${alias}.value = 'NaN'::float8 THEN 1 ELSE 0 END`,
          type: 'rank',
          maxRank: 2,
          descending: false,
        });
        columns.push({ expr: `${alias}.value`, type: 'float8', rankColumn: columns.length - 1, descending });
        break;
      }
      case 'param':
      case 'tag': {
        const alias = `o${n}`;
        const table = o.entity === 'param' ? 'params' : 'run_tags';
        joins.push(
          `LEFT JOIN ${s}.${table} ${alias} ON ${alias}.run_id = r.run_id AND ${alias}.key = ${p.add(o.key, 'text')}`,
        );
        columns.push({
          expr: `CASE WHEN ${alias}.value IS NULL THEN 1 ELSE 0 END`,
          type: 'rank',
          maxRank: 1,
          descending: false,
        });
        columns.push({ expr: `${alias}.value`, type: 'text', rankColumn: columns.length - 1, descending });
        break;
      }
      default: {
        const unreachable: never = o;
        throw new Error(`unhandled order_by clause ${JSON.stringify(unreachable)}`);
      }
    }
  });
  if (!orderBy.some((o) => o.entity === 'attribute' && o.key === 'start_time')) {
    columns.push({ expr: 'r.start_time', type: 'bigint', descending: true });
  }
  columns.push({ expr: 'r.run_id', type: 'text', descending: false });
  return columns;
}

/**
 * Compiles search_runs into one parameterized query. Throws AppError(invalid_argument) with
 * reason INVALID_FILTER, INVALID_ORDER_BY, INVALID_MAX_RESULTS, INVALID_EXPERIMENT_ID or
 * INVALID_PAGE_TOKEN.
 */
export function compileRunSearch(input: RunSearchInput): CompiledRunSearch {
  const s = quoteSchema(input.schema);
  validateMaxResults(input.maxResults, MAX_RESULTS);
  const experimentIds = normalizeExperimentIds(input.experimentIds);
  const filter = parseRunFilter(input.filter);
  const orderBy = parseRunOrderBy(input.orderBy);
  const fingerprint = queryFingerprint(['runs', experimentIds, input.viewType, input.filter, input.orderBy]);

  const params = new SqlParams();
  const where: string[] = [
    experimentIds.length === 1
      ? `r.experiment_id = ${params.add(experimentIds[0], 'bigint')}`
      : `r.experiment_id = ANY(${params.add(experimentIds, 'bigint[]')})`,
  ];
  const lifecycle = lifecycleCondition('r.lifecycle_stage', input.viewType);
  if (lifecycle) where.push(lifecycle);
  const joins: string[] = [];
  const columns = sortColumns(orderBy, s, params, joins);
  for (const clause of filter) where.push(filterCondition(clause, s, params));

  const page: PageContext = {
    kind: 'runs',
    fingerprint,
    sortKeys: columns.map(({ type, maxRank, rankColumn }) => ({ type, maxRank, rankColumn })),
    maxResults: input.maxResults,
  };
  const after = input.pageToken
    ? decodePageToken(input.pageToken, fingerprint, page.sortKeys, PAGE_TOKEN_ERRORS)
    : null;
  const sql = pagedQuery({
    idExpr: 'r.run_id',
    idName: 'run_id',
    from: [`${s}.runs r`, ...joins].join('\n  '),
    where,
    columns,
    after,
    params,
    maxResults: input.maxResults,
  });
  return { sql, params: params.values, page };
}

/** The page token continuing a run search after `lastRow`, the last row of the page returned. */
export function nextRunPageToken(
  compiled: CompiledRunSearch,
  lastRow: Readonly<Record<string, unknown>>,
): string {
  return nextPageToken(compiled, lastRow);
}
