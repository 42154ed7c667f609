import type { EntityManager } from 'typeorm';
import { AppError } from '@cairn/rpc';
import {
  type Comparator,
  decodePageToken,
  excerpt,
  expectComparator,
  type FilterGrammar,
  type IdentifierToken,
  isOneOf,
  listValue,
  nextPageToken,
  NUMERIC_COMPARATORS,
  type NumericComparator,
  type PageContext,
  pagedQuery,
  type PageTokenErrors,
  parseOrderByList,
  pySet,
  queryFingerprint,
  quoteSchema,
  scanFilter,
  SearchSyntaxError,
  type SortColumn,
  SqlParams,
  STRING_COMPARATORS,
  type StringComparator,
  stringValue,
  validateMaxResults,
  type ValueToken,
  withFilterErrors,
  SQL_OPS,
} from '@cairn/search';
import type {
  ModelsRepository,
  ModelVersionRecord,
  RegisteredModelRecord,
} from '../models/models.repository';

/*
 * search_registered_models and search_model_versions with the semantics of MLflow's
 * SqlAlchemyStore (mlflow/store/model_registry/sqlalchemy_store.py, SearchModelUtils and
 * SearchModelVersionUtils in mlflow/utils/search_utils.py), each as one parameterized query
 * paged by keyset (@cairn/search), whose rows' records are then loaded in a constant number of
 * queries.
 *
 * - Registered models: `name` and `tags.<key>` with =, !=, LIKE, ILIKE, joined by AND. Order by
 *   `name`, `creation_timestamp`, `last_updated_timestamp` (alias `timestamp`), then `name ASC`
 *   unless ordered on: the name is unique, so the order is total. max_results 1..1000, 100 by
 *   default.
 * - Model versions: `name`, `run_id`, `source_path` with =, !=, LIKE, ILIKE (and IN for
 *   run_id), `version_number` with numeric comparators, `tags.<key>` with string ones. Order by
 *   `name`, `version_number`, `creation_timestamp`, `last_updated_timestamp`; by default
 *   `last_updated_timestamp DESC, name ASC, version_number DESC`, and `name ASC`,
 *   `version_number DESC` break ties unless ordered on. Every status (pending, failed, ready)
 *   and stage is found; deleted versions are gone from the table (MLflow keeps them as stage
 *   Deleted_Internal and leaves them out of search). max_results 1..200000, 10000 by default.
 * - A tag clause matches models (versions) that have the key with a matching value; `!=` means
 *   "the key is there with another value", as MLflow's join on the tag table makes it.
 * - Every error is invalid_argument with reason INVALID_PARAMETER_VALUE (MLflow's error code)
 *   and MLflow's message where it has one.
 *
 * Where Cairn differs on purpose:
 * - Page tokens are keyset positions bound to the filter and order_by (MLflow's are offsets):
 *   paging stays exact while models and versions are created, and a token replayed with another
 *   filter is refused.
 * - Registered models may be ordered by `creation_timestamp` (MLflow's SQL store only takes
 *   `name`, `timestamp` and `last_updated_timestamp`; its file store takes it).
 * - run ids in an IN list are kept when they hold upper-case letters or only digits (MLflow
 *   drops those that are not `str.islower()`, a MySQL workaround).
 * - `version_number` takes decimal bounds (`> 1.5`) and quoted integers (`= '3'`) alike, and
 *   anything else is refused here (MLflow hands it to the database).
 * - A repeated order_by field is INVALID_PARAMETER_VALUE (MLflow raises it without an error
 *   code, i.e. as an internal error).
 * - No prompt filtering: the prompt registry is not part of Cairn, so models tagged
 *   `mlflow.prompt.is_prompt` are searched like any other.
 */

export interface SearchQuery {
  filter: string;
  maxResults?: number;
  orderBy: string[];
  pageToken: string;
}

const REASON = 'INVALID_PARAMETER_VALUE';
const TOKEN_ERRORS: PageTokenErrors = { reason: REASON, boundTo: 'filter or order_by' };

const MODELS_DEFAULT_MAX_RESULTS = 100;
const MODELS_MAX_RESULTS = 1_000;
const VERSIONS_DEFAULT_MAX_RESULTS = 10_000;
const VERSIONS_MAX_RESULTS = 200_000;

const ENTITY_TYPES = ['attribute', 'tag', 'tags'] as const;
/** Tag values are indexed by their first 256 characters (SearchIndexes1764240000000). */
const TAG_PREFIX = 256;

type ModelSearchKey = 'name';
type VersionStringKey = 'name' | 'run_id' | 'source_path';
type VersionSearchKey = VersionStringKey | 'version_number';
const MODEL_SEARCH_KEYS: readonly ModelSearchKey[] = ['name'];
const VERSION_SEARCH_KEYS: readonly VersionSearchKey[] = ['name', 'version_number', 'run_id', 'source_path'];

type Resolved<K extends string> = { entity: 'attribute'; key: K } | { entity: 'tag'; key: string };

interface TagClause {
  entity: 'tag';
  key: string;
  comparator: StringComparator;
  value: string;
}
type ModelFilterClause =
  { entity: 'attribute'; key: 'name'; comparator: StringComparator; value: string } | TagClause;

/** A version_number bound: integers compare as bigint, decimals as float8 (both exact for int4). */
interface VersionBound {
  type: 'bigint' | 'float8';
  text: string;
}
type VersionFilterClause =
  | { entity: 'attribute'; key: VersionStringKey; comparator: StringComparator; value: string }
  | { entity: 'attribute'; key: 'run_id'; comparator: 'IN'; value: readonly string[] }
  | { entity: 'attribute'; key: 'version_number'; comparator: NumericComparator; value: VersionBound }
  | TagClause;

function invalid(message: string, details: Record<string, string> = {}): AppError {
  return new AppError('invalid_argument', REASON, message, details);
}

/** `<entity>.<key>` or `<key>` with MLflow's registry prefixes: attribute, tag, tags. */
function resolveIdentifier<K extends string>(id: IdentifierToken, keys: readonly K[]): Resolved<K> {
  if (id.entity !== null && !isOneOf(id.entity, ENTITY_TYPES)) {
    throw new SearchSyntaxError(
      `Invalid entity type '${excerpt(id.entity)}'. Valid entity types are ('attribute', 'tag', 'tags')`,
      id.position,
    );
  }
  if (id.entity === 'tag' || id.entity === 'tags') return { entity: 'tag', key: id.key };
  if (!isOneOf(id.key, keys)) {
    throw new SearchSyntaxError(
      `Invalid attribute key '${excerpt(id.key)}' specified. Valid keys are '${pySet(keys)}'`,
      id.keyPosition,
    );
  }
  return { entity: 'attribute', key: id.key };
}

function tagComparator(token: { text: string; position: number }): StringComparator {
  return expectComparator(token, STRING_COMPARATORS, (c) => `Invalid comparator for tag: ${c}`);
}

function attributeComparator<C extends Comparator>(
  token: { text: string; position: number },
  allowed: readonly C[],
): C {
  return expectComparator(token, allowed, (c) => `Invalid comparator for attribute: ${c}`);
}

/** A string value for an attribute; a list is refused with MLflow's message unless IN takes it. */
function attributeString(value: ValueToken, comparator: StringComparator): string {
  if (value.kind === 'list') {
    throw new SearchSyntaxError(
      "Only the 'run_id' attribute supports comparison with a list of quoted string values.",
      value.position,
    );
  }
  return stringValue(value, 'attributes', comparator);
}

const MODEL_FILTER_GRAMMAR: FilterGrammar<Resolved<ModelSearchKey>, Comparator, ModelFilterClause> = {
  identifier: (id) => resolveIdentifier(id, MODEL_SEARCH_KEYS),
  comparator: (id, token) =>
    id.entity === 'tag' ? tagComparator(token) : attributeComparator(token, STRING_COMPARATORS),
  clause(id, comparator, value) {
    if (value === null || !isOneOf(comparator, STRING_COMPARATORS)) {
      throw new Error(`comparator ${comparator} reached a registered model clause`);
    }
    return id.entity === 'tag'
      ? { entity: 'tag', key: id.key, comparator, value: stringValue(value, 'tag', comparator) }
      : { entity: 'attribute', key: id.key, comparator, value: attributeString(value, comparator) };
  },
};

const INTEGER = /^-?\d+$/;

function versionBound(value: ValueToken): VersionBound {
  const text = value.kind === 'string' && value.quote !== '`' ? value.value.trim() : value.text;
  if ((value.kind === 'number' || value.kind === 'string') && INTEGER.test(text)) {
    const n = BigInt(text);
    // Outside int64 the comparison is decided as well by a double (versions are int4).
    if (n >= -(2n ** 63n) && n < 2n ** 63n) return { type: 'bigint', text: n.toString() };
    return { type: 'float8', text: String(Number(text)) };
  }
  if (value.kind === 'number') return { type: 'float8', text: String(Number(text)) };
  throw new SearchSyntaxError(
    `Expected numeric value type for numeric attribute: version_number. Found ${excerpt(value.text)}`,
    value.position,
  );
}

const VERSION_FILTER_GRAMMAR: FilterGrammar<Resolved<VersionSearchKey>, Comparator, VersionFilterClause> = {
  identifier: (id) => resolveIdentifier(id, VERSION_SEARCH_KEYS),
  comparator(id, token) {
    if (id.entity === 'tag') return tagComparator(token);
    if (id.key === 'version_number') {
      return expectComparator(
        token,
        NUMERIC_COMPARATORS,
        (c) => `Invalid comparator for attribute version_number: ${c}`,
      );
    }
    return attributeComparator<Comparator>(
      token,
      id.key === 'run_id' ? [...STRING_COMPARATORS, 'IN'] : STRING_COMPARATORS,
    );
  },
  clause(id, comparator, value) {
    if (value === null) throw new Error(`comparator ${comparator} without a value`);
    if (id.entity === 'tag') {
      if (!isOneOf(comparator, STRING_COMPARATORS)) throw new Error(`unexpected comparator ${comparator}`);
      return { entity: 'tag', key: id.key, comparator, value: stringValue(value, 'tag', comparator) };
    }
    if (id.key === 'version_number') {
      if (!isOneOf(comparator, NUMERIC_COMPARATORS)) throw new Error(`unexpected comparator ${comparator}`);
      return { entity: 'attribute', key: id.key, comparator, value: versionBound(value) };
    }
    if (comparator === 'IN' && id.key === 'run_id') {
      return { entity: 'attribute', key: id.key, comparator, value: listValue(value, comparator) };
    }
    if (!isOneOf(comparator, STRING_COMPARATORS)) throw new Error(`unexpected comparator ${comparator}`);
    if (value.kind === 'number') {
      throw new SearchSyntaxError(
        `Only the '${pySet(['version_number', 'creation_timestamp', 'last_updated_timestamp'])}' attributes support comparison with numeric values.`,
        value.position,
      );
    }
    return { entity: 'attribute', key: id.key, comparator, value: attributeString(value, comparator) };
  },
};

/** `EXISTS` on a tag table; `=` reads the (key, value prefix) index alone for a short literal. */
function tagCondition(c: TagClause, table: string, join: string, p: SqlParams): string {
  const keyed = `SELECT 1 FROM ${table} t WHERE ${join} AND t.key = ${p.add(c.key, 'text')}`;
  if (c.comparator === '=') {
    const v = p.add(c.value, 'text');
    if (Array.from(c.value).length < TAG_PREFIX)
      return `EXISTS (${keyed} AND left(t.value, ${TAG_PREFIX}) = ${v})`;
    return `EXISTS (${keyed} AND left(t.value, ${TAG_PREFIX}) = left(${v}, ${TAG_PREFIX}) AND t.value = ${v})`;
  }
  return `EXISTS (${keyed} AND t.value ${SQL_OPS[c.comparator]} ${p.add(c.value, 'text')})`;
}

function modelCondition(c: ModelFilterClause, s: string, p: SqlParams): string {
  if (c.entity === 'tag') return tagCondition(c, `${s}.registered_model_tags`, 't.model_id = m.model_id', p);
  return `m.name ${SQL_OPS[c.comparator]} ${p.add(c.value, 'text')}`;
}

const VERSION_COLUMNS: Record<VersionStringKey, string> = {
  name: 'm.name',
  run_id: 'v.run_id',
  source_path: 'v.source',
};

function versionCondition(c: VersionFilterClause, s: string, p: SqlParams): string {
  if (c.entity === 'tag') {
    return tagCondition(c, `${s}.model_version_tags`, 't.model_id = v.model_id AND t.version = v.version', p);
  }
  switch (c.key) {
    case 'version_number':
      return `v.version ${SQL_OPS[c.comparator]} ${p.add(c.value.text, c.value.type)}`;
    case 'run_id':
      if (c.comparator === 'IN') return `v.run_id = ANY(${p.add([...c.value], 'text[]')})`;
      return `v.run_id ${SQL_OPS[c.comparator]} ${p.add(c.value, 'text')}`;
    case 'name':
    case 'source_path':
      return `${VERSION_COLUMNS[c.key]} ${SQL_OPS[c.comparator]} ${p.add(c.value, 'text')}`;
    default: {
      const unreachable: never = c;
      throw new Error(`unhandled clause ${JSON.stringify(unreachable)}`);
    }
  }
}

interface OrderField {
  /** The column, which also identifies the field for duplicate detection. */
  expr: string;
  type: 'text' | 'bigint';
  descending: boolean;
}

const MODEL_ORDER_FIELDS: ReadonlyMap<string, Omit<OrderField, 'descending'>> = new Map([
  ['name', { expr: 'm.name', type: 'text' }],
  ['creation_timestamp', { expr: 'm.creation_time', type: 'bigint' }],
  ['last_updated_timestamp', { expr: 'm.last_updated_time', type: 'bigint' }],
  ['timestamp', { expr: 'm.last_updated_time', type: 'bigint' }],
] as const);

type VersionOrderKey = 'name' | 'version_number' | 'creation_timestamp' | 'last_updated_timestamp';
const VERSION_ORDER_KEYS: readonly VersionOrderKey[] = [
  'name',
  'version_number',
  'creation_timestamp',
  'last_updated_timestamp',
];
const VERSION_ORDER_FIELDS: Record<VersionOrderKey, Omit<OrderField, 'descending'>> = {
  name: { expr: 'm.name', type: 'text' },
  version_number: { expr: 'v.version', type: 'bigint' },
  creation_timestamp: { expr: 'v.creation_time', type: 'bigint' },
  last_updated_timestamp: { expr: 'v.last_updated_time', type: 'bigint' },
};

/** search_registered_models' order_by (SqlAlchemyStore._parse_search_registered_models_order_by). */
function parseModelOrderBy(orderBy: readonly string[]): OrderField[] {
  return parseOrderByList(orderBy, {
    reason: REASON,
    resolve: (id, ascending) => {
      const field =
        id.entity === null || id.entity === 'attribute' ? MODEL_ORDER_FIELDS.get(id.key) : undefined;
      if (field === undefined) {
        throw new SearchSyntaxError(
          `Invalid order by key '${excerpt(id.text)}' specified. Valid keys are '${pySet(MODEL_ORDER_FIELDS.keys())}'`,
          id.position,
        );
      }
      return { ...field, descending: !ascending };
    },
    identity: (f) => f.expr,
  });
}

/** search_model_versions' order_by (SqlAlchemyStore._parse_search_model_versions_order_by). */
function parseVersionOrderBy(orderBy: readonly string[]): OrderField[] {
  return parseOrderByList(orderBy, {
    reason: REASON,
    resolve: (identifier, ascending) => {
      const id = resolveIdentifier(identifier, VERSION_ORDER_KEYS);
      if (id.entity === 'tag')
        throw new SearchSyntaxError('Invalid order_by entity: tag', identifier.position);
      return { ...VERSION_ORDER_FIELDS[id.key], descending: !ascending };
    },
    identity: (f) => f.expr,
  });
}

const DEFAULT_VERSION_ORDER = ['last_updated_timestamp DESC', 'name ASC', 'version_number DESC'];

/** The order's columns, then the tie-breakers it lacks, so that the order is total. */
function withTieBreakers(order: readonly OrderField[], tieBreakers: readonly OrderField[]): SortColumn[] {
  const columns = [...order, ...tieBreakers.filter((t) => !order.some((o) => o.expr === t.expr))];
  return columns.map(({ expr, type, descending }) => ({ expr, type, descending }));
}

function maxResultsOf(q: SearchQuery, defaultMax: number, max: number): number {
  const n = q.maxResults ?? defaultMax;
  validateMaxResults(n, { max, reason: REASON });
  return n;
}

function parseFilter<I, T>(filter: string, grammar: FilterGrammar<I, Comparator, T>): T[] {
  return withFilterErrors(() => scanFilter(filter, grammar), REASON);
}

/** Searches registered models and model versions with MLflow's filters, order and limits. */
export class ModelSearch {
  private readonly s: string;

  constructor(
    schema: string,
    private readonly repository: ModelsRepository,
  ) {
    this.s = quoteSchema(schema);
  }

  /** search_registered_models: one page of models and the token of the next ('' when none). */
  async searchModels(
    m: EntityManager,
    q: SearchQuery,
  ): Promise<{ models: RegisteredModelRecord[]; nextPageToken: string }> {
    const maxResults = maxResultsOf(q, MODELS_DEFAULT_MAX_RESULTS, MODELS_MAX_RESULTS);
    const filter = parseFilter(q.filter, MODEL_FILTER_GRAMMAR);
    const columns = withTieBreakers(parseModelOrderBy(q.orderBy), [
      { expr: 'm.name', type: 'text', descending: false },
    ]);
    const params = new SqlParams();
    const where = filter.map((c) => modelCondition(c, this.s, params));
    const { rows, next } = await this.page(m, q, 'registered_models', columns, params, maxResults, {
      idExpr: 'm.model_id',
      from: `${this.s}.registered_models m`,
      where,
    });
    const models = await this.repository.loadModels(
      m,
      rows.map((r) => r.model_id),
    );
    return { models, nextPageToken: next };
  }

  /** search_model_versions: one page of versions and the token of the next ('' when none). */
  async searchVersions(
    m: EntityManager,
    q: SearchQuery,
  ): Promise<{ versions: ModelVersionRecord[]; nextPageToken: string }> {
    const n = q.maxResults ?? VERSIONS_DEFAULT_MAX_RESULTS;
    if (Number.isSafeInteger(n) && n < 1) {
      // MLflow's own wording for search_model_versions.
      throw invalid(`Invalid value for max_results. It must be a positive integer, but got ${n}`, {
        value: String(n),
      });
    }
    const maxResults = maxResultsOf(q, VERSIONS_DEFAULT_MAX_RESULTS, VERSIONS_MAX_RESULTS);
    const filter = parseFilter(q.filter, VERSION_FILTER_GRAMMAR);
    const columns = withTieBreakers(
      parseVersionOrderBy(q.orderBy.length > 0 ? q.orderBy : DEFAULT_VERSION_ORDER),
      [
        { expr: 'm.name', type: 'text', descending: false },
        { expr: 'v.version', type: 'bigint', descending: true },
      ],
    );
    const params = new SqlParams();
    const where = filter.map((c) => versionCondition(c, this.s, params));
    const { rows, next } = await this.page(m, q, 'model_versions', columns, params, maxResults, {
      idExpr: 'v.model_id',
      from: `${this.s}.model_versions v JOIN ${this.s}.registered_models m ON m.model_id = v.model_id`,
      where,
    });
    const versionKey = `sk${columns.findIndex((c) => c.expr === 'v.version')}`;
    const versions = await this.repository.loadVersions(
      m,
      rows.map((r) => ({ modelId: r.model_id, version: Number(r[versionKey]) })),
    );
    return { versions, nextPageToken: next };
  }

  /** Runs the keyset query for one page: its rows (model ids and sort keys) and the next token. */
  private async page(
    m: EntityManager,
    q: SearchQuery,
    kind: string,
    columns: readonly SortColumn[],
    params: SqlParams,
    maxResults: number,
    source: { idExpr: string; from: string; where: readonly string[] },
  ): Promise<{ rows: Array<Record<string, string>>; next: string }> {
    const page: PageContext = {
      kind,
      // The raw filter and order_by, as given: a token continues exactly the query it came from.
      fingerprint: queryFingerprint([kind, q.filter, q.orderBy]),
      sortKeys: columns.map(({ type }) => ({ type })),
      maxResults,
    };
    const after = q.pageToken
      ? decodePageToken(q.pageToken, page.fingerprint, page.sortKeys, TOKEN_ERRORS)
      : null;
    const sql = pagedQuery({
      idExpr: source.idExpr,
      idName: 'model_id',
      from: source.from,
      where: source.where,
      columns,
      after,
      params,
      maxResults,
      seek: true,
    });
    const rows = await m.query<Array<Record<string, string>>>(sql, params.values);
    const more = rows.length > maxResults;
    const shown = more ? rows.slice(0, maxResults) : rows;
    return { rows: shown, next: more ? nextPageToken({ page }, shown[shown.length - 1]) : '' };
  }
}
