import { AppError } from '@cairn/rpc';
import { FilterScanner, SearchSyntaxError, type ValueToken } from './filter-scanner';
import {
  expectComparator,
  filterError,
  integerValue,
  isOneOf,
  listValue,
  metricValue,
  NUMERIC_COMPARATORS,
  STRING_COMPARATORS,
  stringValue,
  withFilterErrors,
} from './search-grammar';

const value = (text: string): ValueToken => new FilterScanner(text).readValue();

function syntaxError(fn: () => unknown): SearchSyntaxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SearchSyntaxError);
    return err as SearchSyntaxError;
  }
  throw new Error('expected a SearchSyntaxError');
}

describe('expectComparator', () => {
  it('returns an allowed comparator and rejects others with MLflow’s message or the given one', () => {
    expect(expectComparator({ text: 'LIKE', position: 3 }, STRING_COMPARATORS)).toBe('LIKE');
    const err = syntaxError(() => expectComparator({ text: '>', position: 3 }, STRING_COMPARATORS));
    expect(err.message).toBe("Invalid comparator '>' not one of '{'!=', '=', 'LIKE', 'ILIKE'}'");
    expect(err.position).toBe(3);
    const custom = syntaxError(() =>
      expectComparator({ text: 'IN', position: 0 }, NUMERIC_COMPARATORS, (c) => `no ${c} here`),
    );
    expect(custom.message).toBe('no IN here');
  });
});

describe('value coercions', () => {
  it('reads metric bounds as doubles', () => {
    expect(metricValue(value('-1.5e2'))).toBe(-150);
    expect(metricValue(value('1e999'))).toBe(Infinity);
    expect(syntaxError(() => metricValue(value("'1'"))).message).toBe(
      "Expected numeric value type for metric. Found '1'",
    );
  });

  it('reads integer bounds within int64', () => {
    expect(integerValue(value('9223372036854775807'), 't')).toBe(9223372036854775807n);
    expect(integerValue(value('-9223372036854775808'), 't')).toBe(-9223372036854775808n);
    expect(syntaxError(() => integerValue(value('9223372036854775808'), 't')).message).toMatch(
      /out of range for numeric attribute: t/,
    );
    expect(syntaxError(() => integerValue(value('1.5'), 't')).message).toMatch(/Expected an integer value/);
    expect(syntaxError(() => integerValue(value("'1'"), 't')).message).toMatch(
      /Expected numeric value type for numeric attribute: t/,
    );
  });

  it('reads single- and double-quoted strings only', () => {
    expect(stringValue(value(`"a"`), 'tag', '=')).toBe('a');
    expect(stringValue(value(`'a%'`), 'tag', 'LIKE')).toBe('a%');
    expect(syntaxError(() => stringValue(value('`a`'), 'tag', '=')).message).toMatch(
      /either not quoted or unidentified quote types/,
    );
    expect(syntaxError(() => stringValue(value('abc'), 'tag', '=')).message).toMatch(/not quoted/);
    expect(syntaxError(() => stringValue(value('1'), 'tag', '=')).message).toBe(
      "Expected a quoted string value for tag (e.g. 'my-value'). Got value 1",
    );
    expect(syntaxError(() => stringValue(value("('a')"), 'tag', '=')).message).toMatch(
      /only IN and NOT IN take a list/,
    );
  });

  it('refuses a LIKE pattern that ends with an unpaired escape, as Postgres would', () => {
    expect(stringValue(value(`'a\\\\'`), 'tag', 'LIKE')).toBe('a\\\\');
    expect(stringValue(value(`'a\\'`.concat("'")), 'tag', '=')).toBe("a'");
    const err = syntaxError(() =>
      stringValue({ kind: 'string', value: 'a\\', quote: "'", position: 2, text: "'a\\'" }, 'tag', 'ILIKE'),
    );
    expect(err.message).toMatch(/Invalid ILIKE pattern/);
    expect(err.position).toBe(2);
  });

  it('reads lists for IN and NOT IN only', () => {
    expect(listValue(value(`('a', 'b')`), 'IN')).toEqual(['a', 'b']);
    expect(syntaxError(() => listValue(value(`'a'`), 'NOT IN')).message).toMatch(
      /Expected a list of quoted string values like \('a', 'b'\) after NOT IN/,
    );
  });

  it('narrows strings to a set', () => {
    expect(isOneOf('=', STRING_COMPARATORS)).toBe(true);
    expect(isOneOf('<', STRING_COMPARATORS)).toBe(false);
  });
});

describe('filter errors', () => {
  it('turns syntax errors into invalid_argument AppErrors with a position and the given reason', () => {
    const fail = () => {
      throw new SearchSyntaxError('broken', 7);
    };
    for (const [reason, expected] of [
      [undefined, 'INVALID_FILTER'],
      ['INVALID_PARAMETER_VALUE', 'INVALID_PARAMETER_VALUE'],
    ] as const) {
      let err: unknown;
      try {
        withFilterErrors(fail, reason);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({
        kind: 'invalid_argument',
        reason: expected,
        message: 'broken (at position 7)',
        details: { position: '7' },
      });
    }
    expect(filterError('x', 0).reason).toBe('INVALID_FILTER');
  });

  it('lets other errors through unchanged', () => {
    const boom = new Error('boom');
    expect(() =>
      withFilterErrors(() => {
        throw boom;
      }),
    ).toThrow(boom);
    expect(withFilterErrors(() => 42)).toBe(42);
  });
});
