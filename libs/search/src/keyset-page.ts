import { createHash } from 'node:crypto';
import { AppError } from '@cairn/rpc';

/*
 * Keyset pagination for searches compiled to one Postgres query (tracking's runs and
 * experiments, the registry's models and versions).
 *
 * A search query sorts by a list of sort-key columns (the last one unique), and returns each
 * key as text (`sk0`, `sk1`, ...). A page token holds the keys of the last row returned and a
 * fingerprint of the query; the next page asks for the rows strictly after those keys in the
 * sort order, so rows inserted meanwhile neither shift nor repeat what is still to come.
 *
 * Token format: base64url (no padding) of the JSON `{"v":1,"q":"<fingerprint>","k":[...]}`,
 * where `k` holds one string or null per sort-key column: ranks as "0".."2", doubles as
 * Postgres prints them ("0.1", "-1e-05", "NaN", "Infinity"), bigints as decimal strings and
 * texts as they are. The fingerprint is the first 128 bits (base64url) of the SHA-256 of the
 * query's identity (its kind and whatever selects and orders its rows, e.g. experiment ids,
 * view type, filter, order_by): a token only continues the query that produced it. Tokens are opaque to clients but not signed; every value is
 * checked against its column's type before it reaches SQL, so a forged token can only move
 * within the caller's own result.
 */

/** How a sort key is typed in SQL and in the token. */
export type SortValueType = 'rank' | 'float8' | 'bigint' | 'text';

export interface SortKeySpec {
  type: SortValueType;
  /** For a rank column: the largest rank (0 = value present). */
  maxRank?: number;
  /**
   * For a value that can be missing or NaN: the index of its rank column. Such a value is
   * compared only between rows of rank 0; other ranks hold one value each (NULL or NaN).
   */
  rankColumn?: number;
}

export interface SortColumn extends SortKeySpec {
  /** The SQL expression of the key, over the tables of the inner query. */
  expr: string;
  descending: boolean;
}

/** What a compiled search keeps to build the token of its next page. */
export interface PageContext {
  /** What is searched (`runs`, `registered_models`...). */
  kind: string;
  fingerprint: string;
  sortKeys: readonly SortKeySpec[];
  maxResults: number;
}

export type SortKeyValues = ReadonlyArray<string | null>;

const TOKEN_VERSION = 1;
/** Bounds the work a hostile token can cause (params sort on values of up to 6000 chars). */
const MAX_TOKEN_LENGTH = 256 * 1024;
const FLOAT8_TEXT = /^(?:-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|-?Infinity)$/;
const INT64_TEXT = /^-?\d{1,19}$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Collects positional parameters: every user-supplied value goes through here. */
export class SqlParams {
  readonly values: unknown[] = [];

  /** Adds a value and returns its placeholder, with an explicit cast (`$3::text`). */
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

/** The schema name is configuration, not user input; it is still checked before quoting. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name "${schema}"`);
  return `"${schema}"`;
}

export interface MaxResultsLimit {
  /** The largest page a search serves (MLflow: 50000 for runs, 1000 for registered models...). */
  max: number;
  /** The AppError reason when max_results is out of range; INVALID_MAX_RESULTS by default. */
  reason?: string;
}

/** MLflow's bounds check and messages for max_results: an integer from 1 to `limit.max`. */
export function validateMaxResults(maxResults: number, limit: MaxResultsLimit): void {
  const reason = limit.reason ?? 'INVALID_MAX_RESULTS';
  if (!Number.isSafeInteger(maxResults) || maxResults < 1) {
    throw new AppError(
      'invalid_argument',
      reason,
      `Invalid value for request parameter max_results. It must be a positive integer, but got ${maxResults}`,
      { value: String(maxResults) },
    );
  }
  if (maxResults > limit.max) {
    throw new AppError(
      'invalid_argument',
      reason,
      `Invalid value for request parameter max_results. It must be at most ${limit.max}, but got value ${maxResults}`,
      { value: String(maxResults) },
    );
  }
}

export function queryFingerprint(identity: unknown): string {
  return createHash('sha256').update(JSON.stringify(identity)).digest('base64url').slice(0, 22);
}

/** How a search reports a token it cannot continue from. */
export interface PageTokenErrors {
  /** The AppError reason; INVALID_PAGE_TOKEN by default. */
  reason?: string;
  /** What a token is bound to, named when it comes from another search; `filter or order_by` by default. */
  boundTo?: string;
}

function validValue(type: SortValueType, value: string, spec: SortKeySpec): boolean {
  switch (type) {
    case 'rank':
      return /^\d$/.test(value) && Number(value) <= (spec.maxRank ?? 0);
    case 'float8':
      return FLOAT8_TEXT.test(value);
    case 'bigint': {
      if (!INT64_TEXT.test(value)) return false;
      const n = BigInt(value);
      return n >= INT64_MIN && n <= INT64_MAX;
    }
    case 'text':
      return !value.includes('\u0000');
    default: {
      const unreachable: never = type;
      throw new Error(`unhandled sort key type ${String(unreachable)}`);
    }
  }
}

/** Null when the keys fit the columns; otherwise what is wrong. */
function checkKeys(keys: readonly unknown[], specs: readonly SortKeySpec[]): string | null {
  if (keys.length !== specs.length) return `expected ${specs.length} sort keys, found ${keys.length}`;
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i];
    const key = keys[i];
    const ranked = spec.rankColumn !== undefined;
    const present = !ranked || keys[spec.rankColumn!] === '0';
    if (key === null) {
      if (present) return `sort key ${i} is missing`;
      continue;
    }
    if (typeof key !== 'string' || !validValue(spec.type, key, spec))
      return `sort key ${i} is not a valid ${spec.type}`;
    if (present && spec.type === 'float8' && ranked && key === 'NaN') return `sort key ${i} is NaN in rank 0`;
  }
  return null;
}

export function encodePageToken(context: PageContext, keys: SortKeyValues): string {
  const problem = checkKeys(keys, context.sortKeys);
  if (problem) throw new Error(`cannot build a page token from this row: ${problem}`);
  return Buffer.from(JSON.stringify({ v: TOKEN_VERSION, q: context.fingerprint, k: keys })).toString(
    'base64url',
  );
}

/**
 * The sort keys a token continues after; an invalid_argument AppError (INVALID_PAGE_TOKEN
 * unless `errors` names another reason) when it is not one of this query's.
 */
export function decodePageToken(
  token: string,
  fingerprint: string,
  specs: readonly SortKeySpec[],
  errors: PageTokenErrors = {},
): SortKeyValues {
  const invalidToken = (message: string) =>
    new AppError('invalid_argument', errors.reason ?? 'INVALID_PAGE_TOKEN', message);
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw invalidToken('Invalid page token, could not base64-decode');
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidToken('Invalid page token, could not be decoded');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidToken('Invalid page token, could not be decoded');
  }
  const { v, q, k } = body as Record<string, unknown>;
  if (v !== TOKEN_VERSION || typeof q !== 'string' || !Array.isArray(k)) {
    throw invalidToken('Invalid page token, could not be decoded');
  }
  if (q !== fingerprint) {
    throw invalidToken(
      `Invalid page token: it belongs to a different search (${errors.boundTo ?? 'filter or order_by'} changed)`,
    );
  }
  const keys: unknown[] = k;
  const problem = checkKeys(keys, specs);
  if (problem) throw invalidToken(`Invalid page token: ${problem}`);
  return keys as SortKeyValues;
}

const CASTS: Record<SortValueType, string> = {
  rank: 'int',
  float8: 'float8',
  bigint: 'bigint',
  text: 'text',
};

/**
 * Rows strictly after `after` in the order of `columns`, expanded as
 * `k0 > a0 OR (k0 = a0 AND k1 < a1) OR ...` so that each column keeps its own direction. A
 * value whose rank is not 0 (missing or NaN) equals every other value of its rank, so it
 * adds neither an equality nor a strict comparison.
 *
 * With `seek`, a first column that is a plain value also gets the bound `k0 >= a0` (`<=` when
 * descending) in front: implied by the disjunction, but one an index on that column can start
 * its scan from, so that a deep page does not read every row before it.
 */
export function keysetCondition(
  columns: readonly SortColumn[],
  ref: (index: number) => string,
  after: SortKeyValues,
  params: SqlParams,
  seek = false,
): string {
  const first = columns[0];
  const bound =
    seek && first !== undefined && first.type !== 'rank' && first.rankColumn === undefined
      ? `${ref(0)} ${first.descending ? '<=' : '>='} ${params.add(after[0], CASTS[first.type])}`
      : null;
  const disjuncts: string[] = [];
  const equalities: string[] = [];
  columns.forEach((column, i) => {
    if (column.rankColumn !== undefined && after[column.rankColumn] !== '0') return;
    const placeholder = params.add(after[i], CASTS[column.type]);
    const op = column.descending ? '<' : '>';
    disjuncts.push([...equalities, `${ref(i)} ${op} ${placeholder}`].join(' AND '));
    equalities.push(`${ref(i)} = ${placeholder}`);
  });
  if (disjuncts.length === 0) return 'FALSE';
  const expanded = disjuncts.map((d) => `(${d})`).join('\n     OR ');
  return bound === null ? expanded : `${bound}\n  AND (${expanded})`;
}

/**
 * `SELECT <id>, sk0, sk1... FROM (<inner>) q [WHERE <keyset>] ORDER BY ... LIMIT <max + 1>`:
 * the inner query computes the typed sort keys, the outer one pages on them and returns them
 * as text, so that doubles and bigints reach the token exactly. `seek`: see keysetCondition.
 */
export function pagedQuery(q: {
  idExpr: string;
  idName: string;
  from: string;
  where: readonly string[];
  columns: readonly SortColumn[];
  after: SortKeyValues | null;
  params: SqlParams;
  maxResults: number;
  seek?: boolean;
}): string {
  const inner = [
    `SELECT ${[`${q.idExpr} AS id`, ...q.columns.map((c, i) => `${c.expr} AS k${i}`)].join(',\n         ')}`,
    `  FROM ${q.from}`,
    ...(q.where.length > 0 ? [` WHERE ${q.where.join('\n   AND ')}`] : []),
  ].join('\n');
  const keyset = q.after
    ? `\nWHERE ${keysetCondition(q.columns, (i) => `q.k${i}`, q.after, q.params, q.seek)}`
    : '';
  const order = q.columns.map((c, i) => `q.k${i} ${c.descending ? 'DESC' : 'ASC'}`).join(', ');
  const select = [`q.id::text AS ${q.idName}`, ...q.columns.map((_, i) => `q.k${i}::text AS sk${i}`)].join(
    ', ',
  );
  return `SELECT ${select}\nFROM (\n${inner}\n) q${keyset}\nORDER BY ${order}\nLIMIT ${q.params.add(q.maxResults + 1, 'int')}`;
}

/** The sort keys of a row returned by a compiled search (its `sk0`, `sk1`... columns). */
export function rowSortKeys(context: PageContext, row: Readonly<Record<string, unknown>>): SortKeyValues {
  return context.sortKeys.map((_, i) => {
    const v = row[`sk${i}`];
    if (v === null || typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    throw new Error(`row has no sort key sk${i}`);
  });
}

/** The page token that continues a search after `lastRow` (the last row of the page returned). */
export function nextPageToken(
  compiled: { page: PageContext },
  lastRow: Readonly<Record<string, unknown>>,
): string {
  return encodePageToken(compiled.page, rowSortKeys(compiled.page, lastRow));
}
