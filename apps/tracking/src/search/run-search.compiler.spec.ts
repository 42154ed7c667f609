import { AppError } from '@cairn/rpc';
import { decodePageToken } from '@cairn/search';
import { compileExperimentSearch, nextExperimentPageToken } from './experiment-search.compiler';
import {
  compileRunSearch,
  nextRunPageToken,
  normalizeExperimentIds,
  type RunSearchInput,
} from './run-search.compiler';

const base: RunSearchInput = {
  schema: 'tracking',
  experimentIds: ['1'],
  viewType: 'ACTIVE_ONLY',
  filter: '',
  orderBy: [],
  maxResults: 100,
};

function rejection(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

/** Every placeholder $1..$n is used and no other: the parameters line up with the SQL. */
function expectPlaceholdersMatch(sql: string, params: readonly unknown[]): void {
  const used = new Set([...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  expect([...used].sort((a, b) => a - b)).toEqual(params.map((_, i) => i + 1));
}

/** The SQL text holds no quoted literal other than the constants the compiler writes itself. */
function expectNoUserText(sql: string): void {
  const stripped = sql.replace(/'(active|deleted|NaN)'/g, '').replace(/"tracking"/g, '');
  expect(stripped).not.toMatch(/['"`]/);
  expect(stripped).toMatch(/^[\x20-\x7e\n]*$/);
}

describe('compileRunSearch', () => {
  it('keeps every key and value out of the SQL text', () => {
    const filter = [
      `metrics."m'; DROP TABLE runs; --" > 0.5`,
      `params.\`p"x\` = 'v''; SELECT 1; --'`,
      `tags.t LIKE '%\\'x%'`,
      `tags.n IS NULL`,
      `run_id IN ('a''b', "c")`,
      `status NOT IN ('X')`,
      `start_time >= 17`,
      `datasets.context = 'ctx ü'`,
      `datasets.name NOT IN ('n1')`,
    ].join(' AND ');
    const compiled = compileRunSearch({
      ...base,
      experimentIds: ['1', '2'],
      filter,
      orderBy: ['metrics.`o"rder` DESC', "params.'pp'", 'tags.tt', 'end_time'],
    });
    expectNoUserText(compiled.sql);
    expectPlaceholdersMatch(compiled.sql, compiled.params);
    expect(compiled.params).toEqual(
      expect.arrayContaining([
        "m'; DROP TABLE runs; --",
        'p"x',
        "v'; SELECT 1; --",
        "%'x%",
        ["a'b", 'c'],
        ['X'],
        '17',
        'ctx ü',
        'o"rder',
        'pp',
      ]),
    );
  });

  it('uses the param and tag prefix index for equality: alone for a short literal', () => {
    const { sql } = compileRunSearch({ ...base, filter: `params.p = 'v'` });
    expect(sql).toMatch(/left\(v\.value, 256\) = \$\d+::text\)/);
    expect(sql).not.toMatch(/v\.value = /);
  });

  it('rechecks the full value when the literal is as long as the indexed prefix', () => {
    const long = 'é'.repeat(256); // 256 characters (Postgres counts characters, not bytes)
    const { sql, params } = compileRunSearch({ ...base, filter: `params.p = '${long}'` });
    expect(sql).toMatch(/left\(v\.value, 256\) = left\(\$(\d+)::text, 256\) AND v\.value = \$\1::text/);
    expect(params).toContain(long);
    const short = '😀'.repeat(255); // 510 UTF-16 units, 255 characters
    expect(compileRunSearch({ ...base, filter: `params.p = '${short}'` }).sql).not.toMatch(/v\.value = /);
  });

  it('guards the metric comparisons that NaN would satisfy in Postgres', () => {
    for (const op of ['>', '>=', '!=']) {
      expect(compileRunSearch({ ...base, filter: `metrics.m ${op} 1` }).sql).toContain(
        `m.value <> 'NaN'::float8`,
      );
    }
    for (const op of ['<', '<=', '=']) {
      expect(compileRunSearch({ ...base, filter: `metrics.m ${op} 1` }).sql).not.toContain(`'NaN'::float8)`);
    }
  });

  it.each([
    ['ACTIVE_ONLY', `r.lifecycle_stage = 'active'`],
    ['DELETED_ONLY', `r.lifecycle_stage = 'deleted'`],
  ] as const)('restricts %s to %s', (viewType, condition) => {
    expect(compileRunSearch({ ...base, viewType }).sql).toContain(condition);
  });

  it('does not restrict the lifecycle for ALL', () => {
    expect(compileRunSearch({ ...base, viewType: 'ALL' }).sql).not.toContain('lifecycle_stage');
  });

  it('orders by start_time DESC then run_id by default, and asks for one row more than the page', () => {
    const compiled = compileRunSearch(base);
    expect(compiled.sql).toContain('r.start_time AS k0');
    expect(compiled.sql).toContain('r.run_id AS k1');
    expect(compiled.sql).toContain('ORDER BY q.k0 DESC, q.k1 ASC');
    expect(compiled.params.at(-1)).toBe(101);
    expect(compiled.sql).toMatch(/LIMIT \$\d+::int$/);
  });

  it('ranks metrics (present, NaN, missing) ascending before the value, and drops the start_time default', () => {
    const { sql } = compileRunSearch({ ...base, orderBy: ['metrics.acc DESC', 'created ASC'] });
    expect(sql).toContain(
      `CASE WHEN o0.value IS NULL THEN 2 WHEN o0.value = 'NaN'::float8 THEN 1 ELSE 0 END AS k0`,
    );
    expect(sql).toContain('ORDER BY q.k0 ASC, q.k1 DESC, q.k2 ASC, q.k3 ASC');
    expect(sql).toContain('r.start_time AS k2');
    expect(sql).toContain('r.run_id AS k3');
    expect(sql).not.toContain('k4');
  });

  it('filters on one experiment with a scalar and on several with an array', () => {
    const one = compileRunSearch(base);
    expect(one.sql).toContain('r.experiment_id = $1::bigint');
    expect(one.params[0]).toBe('1');
    const many = compileRunSearch({ ...base, experimentIds: ['2', '010', '2'] });
    expect(many.sql).toContain('r.experiment_id = ANY($1::bigint[])');
    expect(many.params[0]).toEqual(['2', '10']);
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects max_results %p', (maxResults) => {
    const err = rejection(() => compileRunSearch({ ...base, maxResults }));
    expect(err.reason).toBe('INVALID_MAX_RESULTS');
    expect(err.message).toBe(
      `Invalid value for request parameter max_results. It must be a positive integer, but got ${maxResults}`,
    );
  });

  it('accepts max_results up to 50000 and no more', () => {
    expect(compileRunSearch({ ...base, maxResults: 50000 }).params.at(-1)).toBe(50001);
    const err = rejection(() => compileRunSearch({ ...base, maxResults: 50001 }));
    expect(err).toMatchObject({ kind: 'invalid_argument', reason: 'INVALID_MAX_RESULTS' });
    expect(err.message).toBe(
      'Invalid value for request parameter max_results. It must be at most 50000, but got value 50001',
    );
  });

  it.each(['abc', '-1', '1.0', ' 1', '', '99999999999999999999', '9223372036854775808'])(
    'rejects the experiment id %j',
    (id) => {
      expect(rejection(() => compileRunSearch({ ...base, experimentIds: ['1', id] })).reason).toBe(
        'INVALID_EXPERIMENT_ID',
      );
    },
  );

  it('normalizes experiment ids', () => {
    expect(normalizeExperimentIds(['10', '9', '009', '0', '9223372036854775807'])).toEqual([
      '0',
      '9',
      '10',
      '9223372036854775807',
    ]);
  });

  it('reports filter and order_by errors with their reasons', () => {
    expect(rejection(() => compileRunSearch({ ...base, filter: 'metrics.a > ' })).reason).toBe(
      'INVALID_FILTER',
    );
    expect(rejection(() => compileRunSearch({ ...base, orderBy: ['metrics.a UP'] })).reason).toBe(
      'INVALID_ORDER_BY',
    );
  });
});

describe('run page tokens', () => {
  const orderBy = ['metrics.acc DESC', 'params.lr', 'end_time'];
  const first = compileRunSearch({ ...base, orderBy, filter: `tags.t = 'x'` });
  // acc rank/value, lr rank/value, end_time rank/value, start_time, run_id
  const row = {
    run_id: 'r1',
    sk0: '0',
    sk1: '-1e-05',
    sk2: '1',
    sk3: null,
    sk4: '0',
    sk5: '9223372036854775807',
    sk6: '-9223372036854775808',
    sk7: "r'1",
  };

  it('round-trips doubles, bigints, NULLs and texts exactly', () => {
    const token = nextRunPageToken(first, row);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodePageToken(token, first.page.fingerprint, first.page.sortKeys)).toEqual([
      '0',
      '-1e-05',
      '1',
      null,
      '0',
      '9223372036854775807',
      '-9223372036854775808',
      "r'1",
    ]);
  });

  it.each(['NaN', 'Infinity', '-Infinity', '-0', '1e+308', '4.9e-324'])(
    'keeps the double %s exactly (as a string)',
    (value) => {
      const rank = value === 'NaN' ? '1' : '0';
      const token = nextRunPageToken(first, { ...row, sk0: rank, sk1: value });
      expect(decodePageToken(token, first.page.fingerprint, first.page.sortKeys)[1]).toBe(value);
    },
  );

  it('continues strictly after the last row, comparing values only within rank 0', () => {
    const next = compileRunSearch({
      ...base,
      orderBy,
      filter: `tags.t = 'x'`,
      pageToken: nextRunPageToken(first, row),
    });
    expectPlaceholdersMatch(next.sql, next.params);
    expectNoUserText(next.sql);
    // lr is missing (rank 1): its value is neither compared nor bound.
    expect(next.sql).not.toMatch(/q\.k3 [<>=]/);
    expect(next.sql).toContain('(q.k0 > $');
    expect(next.sql).toMatch(/q\.k0 = \$(\d+)::int AND q\.k1 < \$\d+::float8/);
    expect(next.sql).toMatch(/q\.k2 > \$\d+::int/);
    expect(next.sql).toMatch(/q\.k5 > \$\d+::bigint/);
    expect(next.sql).toMatch(/q\.k6 < \$\d+::bigint/);
    expect(next.sql).toMatch(/q\.k7 > \$\d+::text/);
    expect(next.params).toEqual(expect.arrayContaining(['-1e-05', '9223372036854775807', "r'1"]));
    expect(next.params).not.toContain(null);
  });

  it('rejects a token from another query', () => {
    const token = nextRunPageToken(first, row);
    for (const other of [
      { filter: `tags.t = 'y'` },
      { orderBy: ['metrics.acc', 'params.lr', 'end_time'] },
      { experimentIds: ['2'] },
      { viewType: 'ALL' as const },
    ]) {
      const err = rejection(() =>
        compileRunSearch({ ...base, orderBy, filter: `tags.t = 'x'`, ...other, pageToken: token }),
      );
      expect(err).toMatchObject({ kind: 'invalid_argument', reason: 'INVALID_PAGE_TOKEN' });
    }
  });

  it('accepts a token whatever the page size', () => {
    const token = nextRunPageToken(first, row);
    expect(() =>
      compileRunSearch({ ...base, orderBy, filter: `tags.t = 'x'`, maxResults: 3, pageToken: token }),
    ).not.toThrow();
  });

  const encode = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');
  const q = first.page.fingerprint;
  const keys = ['0', '1', '1', null, '0', '5', '6', 'r'];
  it.each([
    ['not base64', 'abc!'],
    ['base64 of something else', Buffer.from('hello').toString('base64url')],
    ['a JSON array', encode([1, 2])],
    ['another version', encode({ v: 2, q, k: keys })],
    ['too few keys', encode({ v: 1, q, k: keys.slice(1) })],
    ['a rank out of range', encode({ v: 1, q, k: ['3', ...keys.slice(1)] })],
    ['a double that is not one', encode({ v: 1, q, k: ['0', '1; DROP', ...keys.slice(2)] })],
    ['a NaN in rank 0', encode({ v: 1, q, k: ['0', 'NaN', ...keys.slice(2)] })],
    ['a missing value in rank 0', encode({ v: 1, q, k: ['0', null, ...keys.slice(2)] })],
    ['a bigint that is not one', encode({ v: 1, q, k: [...keys.slice(0, 5), '1.5', ...keys.slice(6)] })],
    [
      'a bigint out of range',
      encode({ v: 1, q, k: [...keys.slice(0, 5), '9223372036854775808', ...keys.slice(6)] }),
    ],
    ['a number instead of a string', encode({ v: 1, q, k: [...keys.slice(0, 5), 5, ...keys.slice(6)] })],
    ['a missing run id', encode({ v: 1, q, k: [...keys.slice(0, 7), null] })],
    ['a huge token', 'A'.repeat(300_000)],
  ])('rejects %s', (_what, pageToken) => {
    const err = rejection(() => compileRunSearch({ ...base, orderBy, filter: `tags.t = 'x'`, pageToken }));
    expect(err).toMatchObject({ kind: 'invalid_argument', reason: 'INVALID_PAGE_TOKEN' });
  });

  it('treats an empty token as the first page', () => {
    expect(compileRunSearch({ ...base, pageToken: '' }).sql).not.toContain('WHERE (');
  });

  it('refuses to build a token from a row without its sort keys', () => {
    expect(() => nextRunPageToken(first, { run_id: 'r1' })).toThrow(/sk0/);
  });
});

describe('compileExperimentSearch', () => {
  const exp = {
    schema: 'tracking',
    viewType: 'ACTIVE_ONLY' as const,
    filter: '',
    orderBy: [],
    maxResults: 10,
  };

  it('orders by creation_time DESC, experiment_id ASC by default', () => {
    const { sql } = compileExperimentSearch(exp);
    expect(sql).toContain('e.creation_time AS k0');
    expect(sql).toContain('e.experiment_id AS k1');
    expect(sql).toContain('ORDER BY q.k0 DESC, q.k1 ASC');
    expect(sql).toContain(`e.lifecycle_stage = 'active'`);
  });

  it('breaks ties of an explicit order with experiment_id DESC, as MLflow does', () => {
    const { sql } = compileExperimentSearch({ ...exp, orderBy: ['name'] });
    expect(sql).toContain('ORDER BY q.k0 ASC, q.k1 DESC');
    expect(sql).toContain('e.experiment_id AS k1');
    expect(compileExperimentSearch({ ...exp, orderBy: ['experiment_id DESC'] }).sql).toContain(
      'ORDER BY q.k0 DESC\n',
    );
  });

  it('parameterizes filters and continues after a page token', () => {
    const input = {
      ...exp,
      filter: `name LIKE 'a''%' AND tags."k'" != 'v' AND creation_time > 5`,
      orderBy: ['name'],
    };
    const first = compileExperimentSearch(input);
    expectNoUserText(first.sql);
    expectPlaceholdersMatch(first.sql, first.params);
    expect(first.params).toEqual(expect.arrayContaining(["a'%", "k'", 'v', '5']));
    const token = nextExperimentPageToken(first, { experiment_id: '7', sk0: "a'b", sk1: '7' });
    const next = compileExperimentSearch({ ...input, pageToken: token });
    expectPlaceholdersMatch(next.sql, next.params);
    expect(next.sql).toMatch(
      /\(q\.k0 > \$\d+::text\)\s+OR \(q\.k0 = \$\d+::text AND q\.k1 < \$\d+::bigint\)/,
    );
    expect(rejection(() => compileExperimentSearch({ ...input, filter: '', pageToken: token })).reason).toBe(
      'INVALID_PAGE_TOKEN',
    );
  });
});
