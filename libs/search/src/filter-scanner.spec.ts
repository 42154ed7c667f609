import {
  excerpt,
  FilterScanner,
  type FilterGrammar,
  type IdentifierToken,
  MAX_FILTER_CLAUSES,
  MAX_FILTER_LENGTH,
  pyList,
  pySet,
  scanFilter,
  SearchSyntaxError,
  type ValueToken,
} from './filter-scanner';

function syntaxError(fn: () => unknown): SearchSyntaxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SearchSyntaxError);
    return err as SearchSyntaxError;
  }
  throw new Error('expected a SearchSyntaxError');
}

/** Accepts every clause and keeps what the scanner read. */
const RAW: FilterGrammar<IdentifierToken, string, [IdentifierToken, string, ValueToken | null, number]> = {
  identifier: (id) => id,
  comparator: (_id, token) => token.text,
  clause: (id, comparator, value, position) => [id, comparator, value, position],
};

describe('FilterScanner', () => {
  it.each<[string, Partial<IdentifierToken>]>([
    ['name', { entity: null, key: 'name', keyPosition: 0, text: 'name' }],
    ['metrics.acc', { entity: 'metrics', key: 'acc', keyPosition: 8 }],
    ['metrics.val.loss', { entity: 'metrics', key: 'val.loss' }],
    ['tags."user-name"', { entity: 'tags', key: 'user-name', text: 'tags."user-name"' }],
    ["tags.'a b'", { entity: 'tags', key: 'a b' }],
    ['tags.`x y`', { entity: 'tags', key: 'x y' }],
    ['`tags`.k', { entity: 'tags', key: 'k' }],
    ['"run name"', { entity: null, key: 'run name' }],
  ])('reads the identifier %j', (text, expected) => {
    const s = new FilterScanner(`${text} = 'v'`);
    expect(s.readIdentifier()).toMatchObject({ position: 0, ...expected });
    expect(s.src[s.pos]).toBe(' ');
  });

  it.each<[string, number, RegExp]>([
    ['', 0, /input ended/],
    ['(a = 1)', 0, /parentheses are not supported/],
    ['= 1', 0, /Expected an identifier, found '='/],
    ['"tags".k', 0, /Invalid entity type '"tags"'/],
    ['tags. = 1', 5, /Expected a key after 'tags.'/],
  ])('rejects the identifier %j at %d', (text, position, message) => {
    const err = syntaxError(() => new FilterScanner(text).readIdentifier());
    expect(err.position).toBe(position);
    expect(err.message).toMatch(message);
  });

  it.each([
    ["'it''s'", "it's"],
    ["'it\\'s'", "it's"],
    ['"say ""hi"""', 'say "hi"'],
    ["'C:\\\\'", 'C:\\\\'],
    ["'50\\%'", '50\\%'],
    ["''", ''],
  ])('reads the quoted string %s', (text, value) => {
    const s = new FilterScanner(`${text} AND`);
    expect(s.readValue()).toMatchObject({ kind: 'string', value, text, position: 0 });
    expect(s.pos).toBe(text.length);
  });

  it('names where an unterminated string starts', () => {
    const err = syntaxError(() => {
      const s = new FilterScanner("x = 'abc");
      s.pos = 4;
      s.readQuoted();
    });
    expect(err.position).toBe(4);
    expect(err.message).toBe("Unterminated quoted string starting with '");
  });

  it.each([
    ['1', 'number'],
    ['-0.5', 'number'],
    ['.5', 'number'],
    ['1e-3', 'number'],
    ['12abc', 'bare'],
    ['1.2.3', 'bare'],
    ['abc', 'bare'],
  ])('reads %j as a %s', (text, kind) => {
    expect(new FilterScanner(text).readValue()).toEqual({ kind, position: 0, text });
  });

  it('reads a list of quoted strings', () => {
    const s = new FilterScanner(`( 'a', "b" ,'c''d' ) AND`);
    expect(s.readValue()).toEqual({
      kind: 'list',
      values: ['a', 'b', "c'd"],
      position: 0,
      text: `( 'a', "b" ,'c''d' )`,
    });
  });

  it.each<[string, number, RegExp]>([
    ['()', 0, /got empty list/],
    ["('a' 'b')", 5, /expected ',' or '\)'/],
    ["('a', 1)", 6, /expected a quoted string value, found '1\)'/],
    ["('a',", 5, /expected a closing parenthesis but the input ended/],
  ])('rejects the list %j at %d', (text, position, message) => {
    const err = syntaxError(() => new FilterScanner(text).readValue());
    expect(err.position).toBe(position);
    expect(err.message).toMatch(message);
  });

  it.each([
    ['=', '='],
    ['!=', '!='],
    ['>=', '>='],
    ['like', 'LIKE'],
    ['ILike', 'ILIKE'],
    ['not  in', 'NOT IN'],
    ['IS NULL', 'IS NULL'],
    ['is not null', 'IS NOT NULL'],
  ])('reads the comparator %j as %j', (text, expected) => {
    expect(new FilterScanner(`${text} 'x'`).readComparator()).toEqual({ text: expected, position: 0 });
  });

  it('keeps a lone NOT or IS as written when nothing follows', () => {
    const s = new FilterScanner('NOT ');
    expect(s.readComparator().text).toBe('NOT');
    expect(s.pos).toBe(3);
  });

  it('matches keywords case-insensitively and only as whole words', () => {
    const s = new FilterScanner('and ANDROID');
    expect(s.acceptKeyword('AND')).toBe(true);
    s.skipWhitespace();
    expect(s.peekKeyword('AND')).toBe(false);
    expect(s.pos).toBe(4);
  });
});

describe('scanFilter', () => {
  it('reads nothing from a blank filter', () => {
    expect(scanFilter(' \n\t', RAW)).toEqual([]);
  });

  it('reads clauses joined by AND with their positions', () => {
    const clauses = scanFilter("name = 'a' and tags.t LIKE 'b%' AND v >= 2 AND k IS NOT NULL", RAW);
    expect(clauses.map(([id, c, v, p]) => [id.text, c, v?.text ?? null, p])).toEqual([
      ['name', '=', "'a'", 0],
      ['tags.t', 'LIKE', "'b%'", 15],
      ['v', '>=', '2', 36],
      ['k', 'IS NOT NULL', null, 47],
    ]);
  });

  it.each<[string, number, RegExp]>([
    ["a = 'x' OR b = 'y'", 8, /'OR' is not supported/],
    ["AND a = 'x'", 0, /expected a clause, found 'AND'/],
    ["a = 'x' AND", 8, /'AND' is not followed by a clause/],
    ["a = 'x' b = 'y'", 8, /expected AND or the end of the filter, found 'b'/],
    ["a = 'x' AND OR", 12, /expected a clause, found 'OR'/],
    ["a = 'x\u0000'", 6, /NUL character/],
  ])('rejects %j at %d', (filter, position, message) => {
    const err = syntaxError(() => scanFilter(filter, RAW));
    expect(err.position).toBe(position);
    expect(err.message).toMatch(message);
  });

  it(`accepts at most ${MAX_FILTER_LENGTH} characters and ${MAX_FILTER_CLAUSES} clauses`, () => {
    const clauses = (n: number) => Array.from({ length: n }, (_, i) => `k${i} = 1`).join(' AND ');
    expect(scanFilter(clauses(MAX_FILTER_CLAUSES), RAW)).toHaveLength(MAX_FILTER_CLAUSES);
    expect(syntaxError(() => scanFilter(clauses(MAX_FILTER_CLAUSES + 1), RAW)).message).toMatch(
      /more than 100 clauses/,
    );
    const long = `k = '${'x'.repeat(MAX_FILTER_LENGTH)}'`;
    expect(syntaxError(() => scanFilter(long, RAW)).position).toBe(MAX_FILTER_LENGTH);
  });

  it('lets the grammar reject each stage in reading order', () => {
    const grammar: FilterGrammar<string, string, string> = {
      identifier: (id) => {
        if (id.key === 'bad') throw new SearchSyntaxError('bad identifier', id.position);
        return id.key;
      },
      comparator: (_id, token) => {
        if (token.text !== '=') throw new SearchSyntaxError('bad comparator', token.position);
        return token.text;
      },
      clause: (id, _c, value) => `${id}:${value?.text ?? ''}`,
    };
    expect(scanFilter("a = 'x' AND b = 2", grammar)).toEqual(["a:'x'", 'b:2']);
    expect(syntaxError(() => scanFilter("a = 'x' AND bad = 1", grammar)).position).toBe(12);
    expect(syntaxError(() => scanFilter("a = 'x' AND b > 1", grammar)).position).toBe(14);
  });
});

describe('message helpers', () => {
  it('shortens long input and prints Python reprs', () => {
    expect(excerpt('abc')).toBe('abc');
    expect(excerpt('x'.repeat(50), 10)).toBe(`${'x'.repeat(10)}...`);
    expect(pyList(['a', 'b'])).toBe("['a', 'b']");
    expect(pySet(['name', 'attr'])).toBe("{'attr', 'name'}");
  });
});
