import { AppError } from '@cairn/rpc';
import { SearchSyntaxError } from './filter-scanner';
import { MAX_ORDER_BY_CLAUSES, parseOrderByClause, parseOrderByList } from './order-by';

function rejection(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected a rejection');
}

describe('parseOrderByClause', () => {
  it.each<[string, string | null, string, boolean]>([
    ['name', null, 'name', true],
    ['name DESC', null, 'name', false],
    ['name desc', null, 'name', false],
    ['  last_updated_timestamp   Asc ', null, 'last_updated_timestamp', true],
    ['metrics.val.loss DESC', 'metrics', 'val.loss', false],
    ['tags."user-name"', 'tags', 'user-name', true],
    ['metrics.`f1 score` DESC', 'metrics', 'f1 score', false],
  ])('reads %j', (clause, entity, key, ascending) => {
    const parsed = parseOrderByClause(clause);
    expect(parsed.identifier).toMatchObject({ entity, key });
    expect(parsed.ascending).toBe(ascending);
  });

  it.each<[string, number, RegExp]>([
    ['', 0, /Invalid order_by clause ''. Could not be parsed./],
    ['   ', 3, /Could not be parsed/],
    ['name UP', 5, /Invalid ordering key in order_by clause 'name UP'./],
    ['name DESC ASC', 10, /Could not be parsed/],
    ['name > 1', 5, /Could not be parsed/],
    ['name, version', 4, /Could not be parsed/],
    ['`name', 0, /Could not be parsed/],
    ['(name)', 0, /Could not be parsed/],
    ['x'.repeat(1001), 0, /Could not be parsed/],
    ['name\u0000', 0, /Could not be parsed/],
  ])('rejects %j at position %d', (clause, position, message) => {
    let err: unknown;
    try {
      parseOrderByClause(clause);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SearchSyntaxError);
    expect((err as SearchSyntaxError).position).toBe(position);
    expect((err as SearchSyntaxError).message).toMatch(message);
  });
});

describe('parseOrderByList', () => {
  const resolve = (
    identifier: { entity: string | null; key: string; position: number },
    ascending: boolean,
  ) => {
    if (identifier.key === 'nope') throw new SearchSyntaxError('nothing to order by', identifier.position);
    return { key: identifier.key, ascending };
  };

  it('resolves each clause in order', () => {
    expect(parseOrderByList(['a DESC', 'b'], { resolve })).toEqual([
      { key: 'a', ascending: false },
      { key: 'b', ascending: true },
    ]);
    expect(parseOrderByList([], { resolve })).toEqual([]);
  });

  it('names the clause and position of a problem, with the given reason', () => {
    const err = rejection(() =>
      parseOrderByList(['a', '  nope'], { resolve, reason: 'INVALID_PARAMETER_VALUE' }),
    );
    expect(err).toMatchObject({
      kind: 'invalid_argument',
      reason: 'INVALID_PARAMETER_VALUE',
      message: 'nothing to order by (at position 2)',
      details: { order_by: '  nope', index: '1', position: '2' },
    });
    expect(rejection(() => parseOrderByList(['a UP'], { resolve })).reason).toBe('INVALID_ORDER_BY');
  });

  it('rejects duplicate fields only when the search defines what a field is', () => {
    expect(parseOrderByList(['a', 'a DESC'], { resolve })).toHaveLength(2);
    const err = rejection(() => parseOrderByList(['a', 'a DESC'], { resolve, identity: (c) => c.key }));
    expect(err.message).toBe("`order_by` contains duplicate fields: ['a', 'a DESC'] (at position 0)");
    expect(err.details.index).toBe('1');
  });

  it(`accepts at most ${MAX_ORDER_BY_CLAUSES} clauses`, () => {
    const clauses = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);
    expect(parseOrderByList(clauses(MAX_ORDER_BY_CLAUSES), { resolve })).toHaveLength(MAX_ORDER_BY_CLAUSES);
    const err = rejection(() =>
      parseOrderByList(clauses(MAX_ORDER_BY_CLAUSES + 1), { resolve, reason: 'R' }),
    );
    expect(err).toMatchObject({ reason: 'R', details: { count: String(MAX_ORDER_BY_CLAUSES + 1) } });
  });

  it('lets other errors through', () => {
    const boom = new Error('boom');
    expect(() =>
      parseOrderByList(['a'], {
        resolve: () => {
          throw boom;
        },
      }),
    ).toThrow(boom);
  });
});
