import { AppError } from '@cairn/rpc';
import { MAX_FILTER_CLAUSES, MAX_FILTER_LENGTH } from '@cairn/search';
import { parseRunFilter, type RunFilterClause } from './run-filter.parser';

function one(filter: string): RunFilterClause {
  const clauses = parseRunFilter(filter);
  expect(clauses).toHaveLength(1);
  return clauses[0];
}

function filterError(filter: string): AppError {
  try {
    parseRunFilter(filter);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error(`expected ${JSON.stringify(filter)} to be rejected`);
}

function expectRejected(filter: string, position: number, message: RegExp): void {
  const err = filterError(filter);
  expect(err.kind).toBe('invalid_argument');
  expect(err.reason).toBe('INVALID_FILTER');
  expect(err.details).toEqual({ position: String(position) });
  expect(err.message).toMatch(message);
  expect(err.message).toContain(`at position ${position}`);
}

describe('parseRunFilter', () => {
  it.each(['', '   ', '\n\t '])('reads %j as no clauses', (filter) => {
    expect(parseRunFilter(filter)).toEqual([]);
  });

  describe('entity prefixes', () => {
    it.each([
      ['metric', 'metric'],
      ['metrics', 'metric'],
      ['`metrics`', 'metric'],
    ])('%s is a metric', (prefix, entity) => {
      expect(one(`${prefix}.acc > 1`)).toMatchObject({ entity, key: 'acc', comparator: '>', value: 1 });
    });

    it.each(['param', 'params', 'parameter', 'parameters'])('%s is a param', (prefix) => {
      expect(one(`${prefix}.lr = '0.1'`)).toEqual({
        entity: 'param',
        key: 'lr',
        comparator: '=',
        value: '0.1',
        position: 0,
      });
    });

    it.each(['tag', 'tags'])('%s is a tag', (prefix) => {
      expect(one(`${prefix}.team = 'nlp'`)).toMatchObject({ entity: 'tag', key: 'team', value: 'nlp' });
    });

    it.each(['attribute', 'attributes', 'attr', 'run'])('%s is an attribute', (prefix) => {
      expect(one(`${prefix}.status = 'FAILED'`)).toMatchObject({
        entity: 'attribute',
        key: 'status',
        value: 'FAILED',
      });
    });

    it.each(['dataset', 'datasets'])('%s is a dataset', (prefix) => {
      expect(one(`${prefix}.digest = 'abc'`)).toMatchObject({
        entity: 'dataset',
        key: 'digest',
        value: 'abc',
      });
    });

    it('reads an identifier without a prefix as an attribute', () => {
      expect(one(`run_id IN ('a', 'b')`)).toEqual({
        entity: 'attribute',
        key: 'run_id',
        comparator: 'IN',
        value: ['a', 'b'],
        position: 0,
      });
    });
  });

  describe('run attributes', () => {
    it.each([
      ['run_id', 'run_id'],
      ['run_name', 'run_name'],
      ['user_id', 'user_id'],
      ['status', 'status'],
      ['artifact_uri', 'artifact_uri'],
      ['"run name"', 'run_name'],
      ['`Run name`', 'run_name'],
      ['attributes.`Run Name`', 'run_name'],
    ])('%s is the string attribute %s', (identifier, key) => {
      expect(one(`${identifier} = 'x'`)).toMatchObject({ entity: 'attribute', key, value: 'x' });
    });

    it.each([
      ['start_time', 'start_time'],
      ['end_time', 'end_time'],
      ['created', 'start_time'],
      ['Created', 'start_time'],
      ['attributes.created', 'start_time'],
    ])('%s is the numeric attribute %s', (identifier, key) => {
      expect(one(`${identifier} >= 1700000000000`)).toMatchObject({
        entity: 'attribute',
        key,
        comparator: '>=',
        value: 1700000000000n,
      });
    });

    it.each(['=', '!=', '>', '>=', '<', '<='])('numeric attributes take %s', (op) => {
      expect(one(`attributes.end_time ${op} -5`)).toMatchObject({ comparator: op, value: -5n });
    });

    it.each(['=', '!=', 'LIKE', 'ILIKE', 'like', 'Ilike'])('string attributes take %s', (op) => {
      expect(one(`attributes.run_name ${op} 'r%'`)).toMatchObject({
        comparator: op.toUpperCase(),
        value: 'r%',
      });
    });

    it.each([
      ['IN', 'IN'],
      ['in', 'IN'],
      ['NOT IN', 'NOT IN'],
      ['not   in', 'NOT IN'],
    ])('string attributes take %s lists', (op, comparator) => {
      expect(one(`status ${op} ('FAILED',"KILLED" , 'it''s')`)).toMatchObject({
        comparator,
        value: ['FAILED', 'KILLED', "it's"],
      });
    });

    it('takes int64 bounds exactly', () => {
      expect(one('start_time <= 9223372036854775807').value).toBe(9223372036854775807n);
      expect(one('start_time >= -9223372036854775808').value).toBe(-9223372036854775808n);
    });
  });

  describe('metrics', () => {
    it.each(['=', '!=', '>', '>=', '<', '<='])('take %s', (op) => {
      expect(one(`metrics.acc ${op} 0.5`)).toMatchObject({ entity: 'metric', comparator: op, value: 0.5 });
    });

    it.each([
      ['1', 1],
      ['-1', -1],
      ['0.25', 0.25],
      ['.5', 0.5],
      ['5.', 5],
      ['-0.5', -0.5],
      ['1e3', 1000],
      ['1E-3', 0.001],
      ['-2.5e+2', -250],
      ['1e400', Infinity],
      ['-1e400', -Infinity],
    ])('read the number %s', (text, value) => {
      expect(one(`metrics.x > ${text}`).value).toBe(value);
    });

    it('read a comparison written without spaces', () => {
      expect(one('metrics.x>=-1')).toMatchObject({ key: 'x', comparator: '>=', value: -1 });
    });
  });

  describe('params and tags', () => {
    it.each(['=', '!=', 'LIKE', 'ILIKE'])('take %s', (op) => {
      expect(one(`params.p ${op} 'v'`)).toMatchObject({ entity: 'param', comparator: op, value: 'v' });
      expect(one(`tags.t ${op} "v"`)).toMatchObject({ entity: 'tag', comparator: op, value: 'v' });
    });

    it.each([
      ['IS NULL', 'IS NULL'],
      ['is null', 'IS NULL'],
      ['IS NOT NULL', 'IS NOT NULL'],
      ['is  not\nnull', 'IS NOT NULL'],
    ])('take %s', (op, comparator) => {
      expect(parseRunFilter(`tags.t ${op} AND params.p ${op}`)).toEqual([
        { entity: 'tag', key: 't', comparator, value: null, position: 0 },
        { entity: 'param', key: 'p', comparator, value: null, position: 12 + op.length },
      ]);
    });
  });

  describe('datasets', () => {
    it.each(['name', 'digest', 'context'])('%s takes every string comparator and lists', (key) => {
      for (const op of ['=', '!=', 'LIKE', 'ILIKE']) {
        expect(one(`datasets.${key} ${op} 'x'`)).toMatchObject({ entity: 'dataset', key, comparator: op });
      }
      expect(one(`datasets.${key} IN ('a')`)).toMatchObject({ comparator: 'IN', value: ['a'] });
      expect(one(`datasets.${key} NOT IN ('a', 'b')`)).toMatchObject({
        comparator: 'NOT IN',
        value: ['a', 'b'],
      });
    });
  });

  describe('keys', () => {
    it.each([
      [`tags."user-name" = 'x'`, 'user-name'],
      ['metrics.`f1 score` > 1', 'f1 score'],
      [`metrics.'prediction accuracy' >= 0.945`, 'prediction accuracy'],
      ['metrics."2019-04-02 error rate" < 1', '2019-04-02 error rate'],
      ['metrics.val.loss < 1', 'val.loss'],
      [`params.a/b-c_d.e = 'x'`, 'a/b-c_d.e'],
      [`tags."say ""hi""" = 'x'`, 'say "hi"'],
      ["tags.`a``b` = 'x'", 'a`b'],
      [`tags.日本語 = 'x'`, '日本語'],
      [`tags."" = 'x'`, ''],
    ])('%s has the key %j', (filter, key) => {
      expect(one(filter).key).toBe(key);
    });
  });

  describe('string values', () => {
    it.each([
      [`'abc'`, 'abc'],
      [`"abc"`, 'abc'],
      [`''`, ''],
      [`'it''s'`, "it's"],
      [`'it\\'s'`, "it's"],
      [`"say ""hi"""`, 'say "hi"'],
      [`"it's"`, "it's"],
      [`'C:\\dir\\file'`, 'C:\\dir\\file'],
      [`'50\\%'`, '50\\%'],
      [`'ends with \\\\'`, 'ends with \\\\'],
      [`'AND x = 1'`, 'AND x = 1'],
      [`'ünïcødé 😀'`, 'ünïcødé 😀'],
    ])('%s is %j', (literal, value) => {
      expect(one(`params.p = ${literal}`).value).toBe(value);
    });
  });

  it('joins clauses with AND in any case and records where each starts', () => {
    const filter = "metrics.acc > 0.9 and params.lr = '0.1'\nAnD\ttags.team LIKE 'v%'";
    expect(parseRunFilter(filter).map((c) => [c.entity, c.position])).toEqual([
      ['metric', 0],
      ['param', 22],
      ['tag', 44],
    ]);
  });

  it('accepts the documented examples', () => {
    expect(
      parseRunFilter(
        `params.model = "LogisticRegression" and params.lambda = "0.001" and metrics.error <= 0.05`,
      ),
    ).toHaveLength(3);
    expect(parseRunFilter(`attributes.status = "FAILED"`)).toHaveLength(1);
    expect(parseRunFilter(`tags."mlflow.runName" = "keras-hyperparam-search"`)[0]).toMatchObject({
      key: 'mlflow.runName',
    });
  });

  describe('malformed filters', () => {
    it.each<[string, number, RegExp]>([
      ['metrics.a > 1 OR metrics.b > 2', 14, /'OR' is not supported/],
      ['metrics.a > 1 AND', 14, /'AND' is not followed by a clause/],
      ['metrics.a > 1 AND   ', 14, /'AND' is not followed by a clause/],
      ['metrics.a > 1 AND AND metrics.b > 1', 18, /expected a clause, found 'AND'/],
      ['AND metrics.a > 1', 0, /expected a clause, found 'AND'/],
      ['or metrics.a > 1', 0, /expected a clause, found 'OR'/],
      ['(metrics.a > 1)', 0, /parentheses are not supported/],
      ["metrics.a > 1 AND (params.b = 'x')", 18, /parentheses are not supported/],
      ['metrics.a > 1 metrics.b > 2', 14, /expected AND or the end of the filter, found 'metrics.b'/],
      ['metrics.a > 1 ANDmetrics.b > 2', 14, /expected AND or the end/],
      ['metrics.a > 1)', 13, /expected AND or the end/],
      ['metrics.a', 9, /Expected a comparator but the input ended/],
      ['metrics.a >', 11, /Expected a value but the input ended/],
      ["metrics.a 'x'", 10, /Expected a comparator, found/],
      ["metrics.a > 'x'", 12, /Expected numeric value type for metric. Found 'x'/],
      ['metrics.a > abc', 12, /Expected numeric value type for metric. Found abc/],
      ['metrics.a > 1a', 12, /Expected numeric value type for metric. Found 1a/],
      ['metrics.a > 1.2.3', 12, /Expected numeric value type for metric/],
      ['metrics.a > -', 12, /Expected numeric value type for metric/],
      ['metrics.a > (1)', 13, /expected a quoted string value/],
      ['metrics.a LIKE 1', 10, /Invalid comparator 'LIKE' not one of/],
      ['metrics.a <> 1', 10, /Invalid comparator '<>'/],
      ['metrics.a == 1', 10, /Invalid comparator '=='/],
      ['metrics.a IS NULL', 10, /Invalid comparator 'IS NULL'/],
      ['metrics. > 1', 8, /Expected a key after 'metrics.'/],
      ["params.a > 'x'", 9, /Invalid comparator '>'/],
      ['params.a = 1', 11, /Expected a quoted string value for parameter \(e.g. 'my-value'\). Got value 1/],
      ['params.a = abc', 11, /Parameter value is either not quoted or unidentified quote types/],
      ['params.a = `abc`', 11, /Parameter value is either not quoted/],
      ["params.a = 'abc", 11, /Unterminated quoted string/],
      ["params.a = 'it\\'", 11, /Unterminated quoted string/],
      ["params.a IN ('x')", 9, /Invalid comparator 'IN'/],
      ["tags.a = ('x')", 9, /only IN and NOT IN take a list/],
      ["tags.a IS 'x'", 7, /Invalid comparator 'IS'/],
      ["tags.a NOT LIKE 'x'", 7, /Invalid comparator 'NOT LIKE'/],
      ["tags.a LIKE 'abc\\'", 12, /Unterminated quoted string/],
      [
        "foo.a = 'x'",
        0,
        /Invalid entity type 'foo'. Valid values are \['metric', 'parameter', 'tag', 'attribute', 'dataset'\]/,
      ],
      ['Metrics.a > 1', 0, /Invalid entity type 'Metrics'/],
      ['"metrics".a > 1', 0, /Invalid entity type '"metrics"'/],
      [
        "attributes.foo = 'x'",
        11,
        /Invalid attribute key 'foo' specified. Valid keys are '\{.*'run_id'.*\}'/,
      ],
      ["foo = 'x'", 0, /Invalid attribute key 'foo' specified/],
      ["attributes.experiment_id = '1'", 11, /Invalid attribute key 'experiment_id'/],
      ["start_time > 'x'", 13, /Expected numeric value type for numeric attribute: start_time. Found 'x'/],
      ['start_time > 1.5', 13, /Expected an integer value for numeric attribute: start_time/],
      ['end_time > 1e3', 11, /Expected an integer value for numeric attribute: end_time/],
      ['start_time > 9223372036854775808', 13, /out of range for numeric attribute: start_time/],
      ["start_time LIKE '1'", 11, /Invalid comparator 'LIKE'/],
      ["start_time IN ('1')", 11, /Invalid comparator 'IN'/],
      ['status = 1', 9, /Expected a quoted string value for attributes/],
      ["status IN 'a'", 10, /Expected a list of quoted string values like \('a', 'b'\) after IN/],
      ['status IN ()', 10, /expected a non-empty list of string values, but got empty list/],
      ["status IN ('a',)", 15, /expected a quoted string value, found '\)'/],
      ["status IN ('a' 'b')", 15, /expected ',' or '\)'/],
      ["status IN ('a'", 14, /expected a closing parenthesis but the input ended/],
      ['status IN (1, 2)', 11, /expected a quoted string value, found '1,'/],
      ["status > 'a'", 7, /Invalid comparator '>'/],
      [
        "datasets.foo = 'x'",
        9,
        /Invalid dataset key 'foo' specified. Valid keys are '\{'context', 'digest', 'name'\}'/,
      ],
      ["datasets.name > 'x'", 14, /Invalid comparator '>'/],
      ['datasets.name = 1', 16, /Expected a quoted string value for dataset attributes/],
      ["params.a = 'x\u0000'", 13, /NUL character/],
      [',', 0, /Expected an identifier, found ','/],
      ['= 1', 0, /Expected an identifier, found '='/],
      ['.x = 1', 0, /Expected an identifier/],
    ])('%j is rejected at position %d', (filter, position, message) => {
      expectRejected(filter, position, message);
    });

    it('rejects filters longer than the limit', () => {
      expectRejected(
        `params.p = '${'x'.repeat(MAX_FILTER_LENGTH)}'`,
        MAX_FILTER_LENGTH,
        /at most 10000 are accepted/,
      );
      expect(parseRunFilter(`params.p = '${'x'.repeat(MAX_FILTER_LENGTH - 13)}'`)).toHaveLength(1);
    });

    it('rejects more clauses than the limit', () => {
      const clauses = (n: number) => Array.from({ length: n }, (_, i) => `metrics.m${i} > 1`).join(' AND ');
      expect(parseRunFilter(clauses(MAX_FILTER_CLAUSES))).toHaveLength(MAX_FILTER_CLAUSES);
      const many = clauses(MAX_FILTER_CLAUSES + 1);
      expectRejected(many, many.indexOf(`metrics.m${MAX_FILTER_CLAUSES} `), /more than 100 clauses/);
    });
  });
});
