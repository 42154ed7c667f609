import { AppError } from '@cairn/rpc';
import {
  decodePageToken,
  encodePageToken,
  keysetCondition,
  nextPageToken,
  type PageContext,
  pagedQuery,
  queryFingerprint,
  quoteSchema,
  type SortColumn,
  SqlParams,
  validateMaxResults,
} from './keyset-page';

function rejection(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

// A missing-or-present double (rank, value), a bigint and a unique text.
const columns: SortColumn[] = [
  { expr: 'rank_expr', type: 'rank', maxRank: 2, descending: false },
  { expr: 'value_expr', type: 'float8', rankColumn: 0, descending: true },
  { expr: 't.time', type: 'bigint', descending: false },
  { expr: 't.name', type: 'text', descending: false },
];
const context: PageContext = {
  kind: 'things',
  fingerprint: queryFingerprint(['things', "name = 'x'", []]),
  sortKeys: columns.map(({ type, maxRank, rankColumn }) => ({ type, maxRank, rankColumn })),
  maxResults: 10,
};
const keys = ['0', '-1e-05', '9223372036854775807', "it's"];

describe('page tokens', () => {
  it('round-trip the sort keys exactly, as opaque base64url', () => {
    const token = encodePageToken(context, keys);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodePageToken(token, context.fingerprint, context.sortKeys)).toEqual(keys);
    const missing = encodePageToken(context, ['2', null, '1', 'a']);
    expect(decodePageToken(missing, context.fingerprint, context.sortKeys)).toEqual(['2', null, '1', 'a']);
  });

  it('are built from the sk<i> columns of the last row', () => {
    const row = { id: '1', sk0: '0', sk1: '0.5', sk2: 7, sk3: 'b' };
    const token = nextPageToken({ page: context }, row);
    expect(decodePageToken(token, context.fingerprint, context.sortKeys)).toEqual(['0', '0.5', '7', 'b']);
    expect(() => nextPageToken({ page: context }, { id: '1' })).toThrow(/sk0/);
    expect(() => encodePageToken(context, ['0', 'NaN', '1', 'a'])).toThrow(/NaN in rank 0/);
  });

  it('continue only the query whose fingerprint they carry', () => {
    const token = encodePageToken(context, keys);
    const other = queryFingerprint(['things', "name = 'y'", []]);
    const err = rejection(() => decodePageToken(token, other, context.sortKeys));
    expect(err).toMatchObject({ kind: 'invalid_argument', reason: 'INVALID_PAGE_TOKEN' });
    expect(err.message).toBe(
      'Invalid page token: it belongs to a different search (filter or order_by changed)',
    );
    const named = rejection(() =>
      decodePageToken(token, other, context.sortKeys, {
        reason: 'INVALID_PARAMETER_VALUE',
        boundTo: 'the moon',
      }),
    );
    expect(named).toMatchObject({ reason: 'INVALID_PARAMETER_VALUE' });
    expect(named.message).toContain('(the moon changed)');
  });

  const encode = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');
  const q = context.fingerprint;
  it.each([
    ['not base64url', 'abc+/=', /could not base64-decode/],
    ['not JSON', Buffer.from('hello').toString('base64url'), /could not be decoded/],
    ['a JSON array', encode([1]), /could not be decoded/],
    ['another version', encode({ v: 2, q, k: keys }), /could not be decoded/],
    ['too few keys', encode({ v: 1, q, k: keys.slice(1) }), /expected 4 sort keys, found 3/],
    [
      'a rank out of range',
      encode({ v: 1, q, k: ['3', ...keys.slice(1)] }),
      /sort key 0 is not a valid rank/,
    ],
    ['a double that is not one', encode({ v: 1, q, k: ['0', '1;', ...keys.slice(2)] }), /not a valid float8/],
    ['NaN in rank 0', encode({ v: 1, q, k: ['0', 'NaN', ...keys.slice(2)] }), /NaN in rank 0/],
    [
      'a missing value in rank 0',
      encode({ v: 1, q, k: ['0', null, ...keys.slice(2)] }),
      /sort key 1 is missing/,
    ],
    [
      'a bigint out of range',
      encode({ v: 1, q, k: ['0', '1', '9223372036854775808', 'a'] }),
      /not a valid bigint/,
    ],
    ['a number instead of a string', encode({ v: 1, q, k: ['0', '1', 5, 'a'] }), /not a valid bigint/],
    ['a NUL in a text', encode({ v: 1, q, k: ['0', '1', '5', 'a\u0000'] }), /not a valid text/],
    ['a huge token', 'A'.repeat(300_000), /could not base64-decode/],
  ])('reject %s', (_what, token, message) => {
    const err = rejection(() =>
      decodePageToken(token, context.fingerprint, context.sortKeys, { reason: 'INVALID_PARAMETER_VALUE' }),
    );
    expect(err).toMatchObject({ kind: 'invalid_argument', reason: 'INVALID_PARAMETER_VALUE' });
    expect(err.message).toMatch(message);
  });
});

describe('keysetCondition', () => {
  it('continues strictly after the keys, each column in its own direction', () => {
    const params = new SqlParams();
    const sql = keysetCondition(columns, (i) => `k${i}`, keys, params);
    expect(sql).toBe(
      [
        '(k0 > $1::int)',
        '(k0 = $1::int AND k1 < $2::float8)',
        '(k0 = $1::int AND k1 = $2::float8 AND k2 > $3::bigint)',
        '(k0 = $1::int AND k1 = $2::float8 AND k2 = $3::bigint AND k3 > $4::text)',
      ].join('\n     OR '),
    );
    expect(params.values).toEqual(keys);
  });

  it('compares a ranked value only in rank 0', () => {
    const params = new SqlParams();
    const sql = keysetCondition(columns, (i) => `k${i}`, ['2', null, '5', 'a'], params);
    expect(sql).not.toContain('k1');
    expect(params.values).toEqual(['2', '5', 'a']);
  });

  it('with seek, bounds a plain first column so that an index can start there', () => {
    const plain: SortColumn[] = [
      { expr: 't.time', type: 'bigint', descending: true },
      { expr: 't.name', type: 'text', descending: false },
    ];
    const params = new SqlParams();
    expect(keysetCondition(plain, (i) => `k${i}`, ['5', 'a'], params, true)).toBe(
      'k0 <= $1::bigint\n  AND ((k0 < $2::bigint)\n     OR (k0 = $2::bigint AND k1 > $3::text))',
    );
    expect(params.values).toEqual(['5', '5', 'a']);
    // A ranked first column has no such bound.
    expect(keysetCondition(columns, (i) => `k${i}`, keys, new SqlParams(), true)).toMatch(
      /^\(k0 > \$1::int\)/,
    );
  });
});

describe('pagedQuery', () => {
  it('selects the id and the keys as text, pages after the token and asks for one row more', () => {
    const params = new SqlParams();
    const where = [`t.name = ${params.add('x', 'text')}`];
    const sql = pagedQuery({
      idExpr: 't.id',
      idName: 'thing_id',
      from: '"s".things t',
      where,
      columns,
      after: keys,
      params,
      maxResults: 10,
    });
    expect(sql).toContain('SELECT q.id::text AS thing_id, q.k0::text AS sk0, q.k1::text AS sk1');
    expect(sql).toContain('t.id AS id');
    expect(sql).toContain('rank_expr AS k0');
    expect(sql).toContain(' WHERE t.name = $1::text');
    expect(sql).toContain('WHERE (q.k0 > $2::int)');
    expect(sql).toContain('ORDER BY q.k0 ASC, q.k1 DESC, q.k2 ASC, q.k3 ASC');
    expect(sql).toMatch(/LIMIT \$6::int$/);
    expect(params.values).toEqual(['x', ...keys, 11]);
  });

  it('has no keyset condition on the first page', () => {
    const params = new SqlParams();
    const sql = pagedQuery({
      idExpr: 't.id',
      idName: 'id',
      from: 't',
      where: [],
      columns,
      after: null,
      params,
      maxResults: 1,
      seek: true,
    });
    expect(sql).not.toContain('WHERE');
    expect(params.values).toEqual([2]);
  });
});

describe('validateMaxResults', () => {
  it.each([1, 7, 1000])('accepts %d up to the limit', (n) => {
    expect(() => validateMaxResults(n, { max: 1000 })).not.toThrow();
  });

  it.each<[number, string]>([
    [0, 'Invalid value for request parameter max_results. It must be a positive integer, but got 0'],
    [-1, 'Invalid value for request parameter max_results. It must be a positive integer, but got -1'],
    [1.5, 'Invalid value for request parameter max_results. It must be a positive integer, but got 1.5'],
    [1001, 'Invalid value for request parameter max_results. It must be at most 1000, but got value 1001'],
  ])('rejects %d with MLflow’s message', (n, message) => {
    expect(rejection(() => validateMaxResults(n, { max: 1000 }))).toMatchObject({
      kind: 'invalid_argument',
      reason: 'INVALID_MAX_RESULTS',
      message,
      details: { value: String(n) },
    });
    expect(rejection(() => validateMaxResults(n, { max: 1000, reason: 'X' })).reason).toBe('X');
  });
});

describe('SQL helpers', () => {
  it('numbers placeholders in order, with casts', () => {
    const p = new SqlParams();
    expect([p.add('a'), p.add(1, 'int'), p.add(['x'], 'text[]')]).toEqual(['$1', '$2::int', '$3::text[]']);
    expect(p.values).toEqual(['a', 1, ['x']]);
  });

  it('quotes only plain schema names', () => {
    expect(quoteSchema('registry')).toBe('"registry"');
    for (const bad of ['Registry', 'a"b', '', 'x;drop', `a${'b'.repeat(63)}`]) {
      expect(() => quoteSchema(bad)).toThrow(/invalid schema name/);
    }
  });

  it('fingerprints a query identity in 128 bits', () => {
    expect(queryFingerprint(['a', 1])).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(queryFingerprint(['a', 1])).toBe(queryFingerprint(['a', 1]));
    expect(queryFingerprint(['a', 1])).not.toBe(queryFingerprint(['a', 2]));
  });
});
