import fc from 'fast-check';
import { AppError } from '@cairn/rpc';
import { MAX_FILTER_LENGTH } from '@cairn/search';
import { compileExperimentSearch } from './experiment-search.compiler';
import { compileRunSearch, nextRunPageToken } from './run-search.compiler';
import { parseRunFilter } from './run-filter.parser';

/*
 * Hostile and malformed input never escapes as anything but an INVALID_ARGUMENT AppError with
 * the expected reason, and whatever parses compiles into SQL whose parameters line up with
 * its placeholders and whose text carries no user input.
 */

const RUNS = 5000;

function expectReason(err: unknown, reason: string, input?: string): void {
  if (!(err instanceof AppError)) throw err;
  expect(err.kind).toBe('invalid_argument');
  expect(err.reason).toBe(reason);
  if (input !== undefined) {
    const position = Number(err.details.position);
    expect(Number.isInteger(position)).toBe(true);
    expect(position).toBeGreaterThanOrEqual(0);
    expect(position).toBeLessThanOrEqual(Math.min(input.length, MAX_FILTER_LENGTH));
    expect(err.message).toContain(`at position ${position}`);
  }
}

function expectWellFormedSql(sql: string, params: readonly unknown[]): void {
  const used = new Set([...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  expect(used.size).toBe(params.length);
  for (let i = 1; i <= params.length; i++) expect(used.has(i)).toBe(true);
  const stripped = sql.replace(/'(active|deleted|NaN)'/g, '').replace(/"tracking"/g, '');
  expect(stripped).not.toMatch(/['"`]/);
  expect(stripped).toMatch(/^[\x20-\x7e\n]*$/);
}

/** Checks one filter; says whether it was accepted. */
function checkRunFilter(filter: string): 'accepted' | 'rejected' {
  let compiled;
  try {
    compiled = compileRunSearch({
      schema: 'tracking',
      experimentIds: ['1', '2'],
      viewType: 'ALL',
      filter,
      orderBy: ['metrics.m DESC', 'params.p', 'end_time'],
      maxResults: 10,
    });
  } catch (err) {
    expectReason(err, 'INVALID_FILTER', filter);
    return 'rejected';
  }
  expectWellFormedSql(compiled.sql, compiled.params);
  return 'accepted';
}

function checkExperimentFilter(filter: string): void {
  let compiled;
  try {
    compiled = compileExperimentSearch({
      schema: 'tracking',
      viewType: 'ACTIVE_ONLY',
      filter,
      orderBy: ['name'],
      maxResults: 10,
    });
  } catch (err) {
    expectReason(err, 'INVALID_FILTER', filter);
    return;
  }
  expectWellFormedSql(compiled.sql, compiled.params);
}

// The grammar's alphabet, with its near misses.
const GRAMMAR_TOKENS = [
  'metrics',
  'metric',
  'params',
  'param',
  'parameter',
  'parameters',
  'tags',
  'tag',
  'attributes',
  'attribute',
  'attr',
  'run',
  'datasets',
  'dataset',
  'Metrics',
  '`metrics`',
  '.',
  '..',
  'acc',
  'val.loss',
  'run_id',
  'run_name',
  'status',
  'start_time',
  'end_time',
  'created',
  'Created',
  'user_id',
  'artifact_uri',
  'name',
  'digest',
  'context',
  'creation_time',
  'last_update_time',
  '"run name"',
  '"',
  "'",
  '`',
  "''",
  '""',
  '\\',
  "\\'",
  '\\\\',
  '=',
  '!=',
  '>',
  '>=',
  '<',
  '<=',
  '<>',
  '==',
  '!',
  '~',
  'LIKE',
  'like',
  'ILIKE',
  'IN',
  'in',
  'NOT',
  'IS',
  'NULL',
  'null',
  '(',
  ')',
  ',',
  'AND',
  'and',
  'OR',
  'or',
  '0',
  '-1',
  '1.5',
  '.5',
  '5.',
  '1e3',
  '1e400',
  '-',
  '+',
  'e',
  'NaN',
  'Infinity',
  '%',
  '_',
  '日本',
  '😀',
  '\ud800',
  '\u0000',
  '\u00a0',
  "'a'",
  '"b"',
  "('x', 'y')",
  '()',
  ';',
  '--',
  '/*',
];

const whitespace = fc.constantFrom('', ' ', '  ', '\t', '\n', '\r\n');
const grammarToken = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...GRAMMAR_TOKENS) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
);
const tokenSoup = fc
  .array(fc.tuple(grammarToken, whitespace), { maxLength: 30 })
  .map((parts) => parts.map(([t, w]) => t + w).join(''));

// Well-formed filters, built clause by clause.
const text = fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replace(/\\/g, '/'));
const quoted = fc.oneof(
  text.map((s) => `'${s.replace(/'/g, "''")}'`),
  text.map((s) => `"${s.replace(/"/g, '""')}"`),
);
const key = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_./-]{0,12}$/),
  text.map((s) => `\`${s.replace(/`/g, '``')}\``),
  text.map((s) => `"${s.replace(/"/g, '""')}"`),
);
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? '-0' : String(d))),
  fc.constantFrom('.5', '5.', '1e400', '-1E-3'),
);
const numericOp = fc.constantFrom('=', '!=', '>', '>=', '<', '<=');
const stringOp = fc.constantFrom('=', '!=', 'LIKE', 'ILIKE', 'like', 'ilike');
const list = fc.array(quoted, { minLength: 1, maxLength: 4 }).map((items) => `(${items.join(', ')})`);
const listOp = fc.constantFrom('IN', 'NOT IN', 'not in');
const clause = fc.oneof(
  fc
    .tuple(fc.constantFrom('metric', 'metrics'), key, numericOp, numberText)
    .map(([p, k, op, n]) => `${p}.${k} ${op} ${n}`),
  fc
    .tuple(
      fc.constantFrom('param', 'params', 'parameter', 'parameters', 'tag', 'tags'),
      key,
      stringOp,
      quoted,
    )
    .map(([p, k, op, v]) => `${p}.${k} ${op} ${v}`),
  fc
    .tuple(fc.constantFrom('params', 'tags'), key, fc.constantFrom('IS NULL', 'IS NOT NULL', 'is not null'))
    .map(([p, k, op]) => `${p}.${k} ${op}`),
  fc
    .tuple(
      fc.constantFrom('', 'attributes.', 'attribute.', 'attr.', 'run.'),
      fc.constantFrom('run_id', 'run_name', 'user_id', 'status', 'artifact_uri', '`Run Name`'),
      fc.oneof(
        stringOp.chain((op) => quoted.map((v) => `${op} ${v}`)),
        listOp.chain((op) => list.map((l) => `${op} ${l}`)),
      ),
    )
    .map(([p, a, rest]) => `${p}${a} ${rest}`),
  fc
    .tuple(
      fc.constantFrom('', 'attributes.'),
      fc.constantFrom('start_time', 'end_time', 'created'),
      numericOp,
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    )
    .map(([p, a, op, n]) => `${p}${a} ${op} ${n}`),
  fc
    .tuple(
      fc.constantFrom('dataset', 'datasets'),
      fc.constantFrom('name', 'digest', 'context'),
      fc.oneof(
        stringOp.chain((op) => quoted.map((v) => `${op} ${v}`)),
        listOp.chain((op) => list.map((l) => `${op} ${l}`)),
      ),
    )
    .map(([p, k, rest]) => `${p}.${k} ${rest}`),
);
const validFilter = fc
  .array(clause, { minLength: 1, maxLength: 6 })
  .chain((clauses) =>
    fc.constantFrom(' AND ', ' and ', '\nAND\t').map((and) => ({ clauses, filter: clauses.join(and) })),
  );

type Mutation = (s: string) => string;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), grammarToken).map(
    ([i, t]): Mutation =>
      (s) =>
        s.slice(0, i % (s.length + 1)) + t + s.slice(i % (s.length + 1)),
  ),
  fc.tuple(fc.nat(), fc.nat({ max: 8 })).map(
    ([i, n]): Mutation =>
      (s) =>
        s.slice(0, i % (s.length + 1)) + s.slice((i % (s.length + 1)) + n),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]): Mutation => (s) => {
    const a = i % (s.length + 1);
    const b = j % (s.length + 1);
    return s.slice(0, a) + s.slice(Math.min(a, b), Math.max(a, b)) + s.slice(a);
  }),
  fc
    .tuple(fc.nat(), fc.constantFrom("'", '"', '`', '(', ')', ' ', '.', ',', '\\'))
    .map(([i, c]): Mutation => (s) => {
      const a = i % (s.length + 1);
      return s.slice(0, a) + c + s.slice(a + 1);
    }),
);
const mutatedFilter = fc
  .tuple(validFilter, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([{ filter }, mutations]) => mutations.reduce((s, m) => m(s), filter));

describe('search input fuzzing', () => {
  it('parses and compiles every well-formed filter', () => {
    fc.assert(
      fc.property(validFilter, ({ clauses, filter }) => {
        expect(parseRunFilter(filter)).toHaveLength(clauses.length);
        checkRunFilter(filter);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects arbitrary strings only with INVALID_FILTER', () => {
    const anyString = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
    );
    fc.assert(
      fc.property(anyString, (f) => {
        checkRunFilter(f);
      }),
      { numRuns: RUNS },
    );
    fc.assert(fc.property(anyString, checkExperimentFilter), { numRuns: RUNS / 5 });
  });

  it('rejects grammar-token soups only with INVALID_FILTER', () => {
    fc.assert(
      fc.property(tokenSoup, (f) => {
        checkRunFilter(f);
      }),
      { numRuns: RUNS },
    );
    fc.assert(fc.property(tokenSoup, checkExperimentFilter), { numRuns: RUNS / 5 });
  });

  it('rejects mutated filters only with INVALID_FILTER', () => {
    const outcomes = { accepted: 0, rejected: 0 };
    fc.assert(
      fc.property(mutatedFilter, (filter) => {
        outcomes[checkRunFilter(filter)]++;
      }),
      { numRuns: RUNS },
    );
    // Both paths were exercised: mutations that still parse, and mutations that break.
    expect(outcomes.accepted).toBeGreaterThan(RUNS / 20);
    expect(outcomes.rejected).toBeGreaterThan(RUNS / 20);
  });

  it('rejects arbitrary order_by lists only with INVALID_ORDER_BY', () => {
    const orderBy = fc.array(fc.oneof(tokenSoup, fc.string({ unit: 'binary', maxLength: 30 })), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(orderBy, (list) => {
        let compiled;
        try {
          compiled = compileRunSearch({
            schema: 'tracking',
            experimentIds: ['1'],
            viewType: 'ALL',
            filter: '',
            orderBy: list,
            maxResults: 5,
          });
        } catch (err) {
          expectReason(err, 'INVALID_ORDER_BY');
          return;
        }
        expectWellFormedSql(compiled.sql, compiled.params);
      }),
      { numRuns: RUNS / 5 },
    );
  });

  it('rejects forged and damaged page tokens only with INVALID_PAGE_TOKEN', () => {
    const input = {
      schema: 'tracking',
      experimentIds: ['1'],
      viewType: 'ALL' as const,
      filter: '',
      orderBy: ['metrics.m DESC', 'tags.t'],
      maxResults: 5,
    };
    const first = compileRunSearch(input);
    const valid = nextRunPageToken(first, {
      run_id: 'r',
      sk0: '0',
      sk1: '0.5',
      sk2: '0',
      sk3: 'x',
      sk4: '1700000000000',
      sk5: 'r',
    });
    const json = fc.oneof(
      fc.json().map((j) => Buffer.from(j).toString('base64url')),
      fc
        .record({
          v: fc.constantFrom(1, 2),
          q: fc.constantFrom(first.page.fingerprint, 'x'),
          k: fc.array(fc.oneof(fc.string(), fc.constant(null), fc.integer()), { maxLength: 7 }),
        })
        .map((body) => Buffer.from(JSON.stringify(body)).toString('base64url')),
    );
    const damaged = fc
      .tuple(fc.nat(), fc.constantFrom('A', '_', '-', '=', '!', ''))
      .map(([i, c]) => valid.slice(0, i % valid.length) + c + valid.slice((i % valid.length) + 1));
    fc.assert(
      fc.property(fc.oneof(fc.string(), json, damaged), (pageToken) => {
        let compiled;
        try {
          compiled = compileRunSearch({ ...input, pageToken });
        } catch (err) {
          expectReason(err, 'INVALID_PAGE_TOKEN');
          return;
        }
        expectWellFormedSql(compiled.sql, compiled.params);
      }),
      { numRuns: RUNS / 5 },
    );
  });
});
