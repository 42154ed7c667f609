import { AppError } from '@cairn/rpc';
import { type ComparatorToken, excerpt, SearchSyntaxError, type ValueToken } from './filter-scanner';

/*
 * Comparator sets, value coercions and error conversion shared by the search grammars.
 * Messages reuse MLflow's wording (mlflow/utils/search_utils.py) where it has one.
 */

export type NumericComparator = '=' | '!=' | '>' | '>=' | '<' | '<=';
export type StringComparator = '=' | '!=' | 'LIKE' | 'ILIKE';
export type ListComparator = 'IN' | 'NOT IN';
export type NullComparator = 'IS NULL' | 'IS NOT NULL';
export type Comparator = NumericComparator | StringComparator | ListComparator | NullComparator;

export const NUMERIC_COMPARATORS: readonly NumericComparator[] = ['>', '>=', '!=', '=', '<', '<='];
export const STRING_COMPARATORS: readonly StringComparator[] = ['!=', '=', 'LIKE', 'ILIKE'];
export const LIST_COMPARATORS: readonly ListComparator[] = ['IN', 'NOT IN'];
export const NULL_COMPARATORS: readonly NullComparator[] = ['IS NULL', 'IS NOT NULL'];

/** The SQL operator of each scalar comparator (values always go in as parameters). */
export const SQL_OPS: Readonly<Record<NumericComparator | StringComparator, string>> = {
  '=': '=',
  '!=': '<>',
  '>': '>',
  '>=': '>=',
  '<': '<',
  '<=': '<=',
  LIKE: 'LIKE',
  ILIKE: 'ILIKE',
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The reason of a rejected filter unless a service names its own (the registry says INVALID_PARAMETER_VALUE). */
export const INVALID_FILTER = 'INVALID_FILTER';

/** An invalid_argument AppError naming the 0-based position of the problem. */
export function filterError(message: string, position: number, reason: string = INVALID_FILTER): AppError {
  return new AppError('invalid_argument', reason, `${message} (at position ${position})`, {
    position: String(position),
  });
}

/** Runs a parser, turning its positioned syntax errors into invalid_argument application errors. */
export function withFilterErrors<T>(parse: () => T, reason: string = INVALID_FILTER): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SearchSyntaxError) throw filterError(err.message, err.position, reason);
    throw err;
  }
}

/** Checks a comparator against the allowed set, with MLflow's message when it is not in it. */
export function expectComparator<C extends Comparator>(
  token: ComparatorToken,
  allowed: readonly C[],
  message?: (comparator: string) => string,
): C {
  const found = allowed.find((c) => c === token.text);
  if (found !== undefined) return found;
  const text = excerpt(token.text);
  throw new SearchSyntaxError(
    message
      ? message(text)
      : `Invalid comparator '${text}' not one of '{${allowed.map((c) => `'${c}'`).join(', ')}}'`,
    token.position,
  );
}

/** A metric bound: any decimal number (`1`, `-0.5`, `.5`, `1e-3`); huge ones become ±Infinity. */
export function metricValue(value: ValueToken): number {
  if (value.kind !== 'number') {
    throw new SearchSyntaxError(
      `Expected numeric value type for metric. Found ${excerpt(value.text)}`,
      value.position,
    );
  }
  return Number(value.text);
}

/** A bound for a millisecond timestamp column (bigint): an integer literal within int64. */
export function integerValue(value: ValueToken, key: string): bigint {
  if (value.kind !== 'number') {
    throw new SearchSyntaxError(
      `Expected numeric value type for numeric attribute: ${key}. Found ${excerpt(value.text)}`,
      value.position,
    );
  }
  if (!/^-?\d+$/.test(value.text)) {
    throw new SearchSyntaxError(
      `Expected an integer value for numeric attribute: ${key}. Found ${excerpt(value.text)}`,
      value.position,
    );
  }
  const n = BigInt(value.text);
  if (n < INT64_MIN || n > INT64_MAX) {
    throw new SearchSyntaxError(
      `Value ${excerpt(value.text)} is out of range for numeric attribute: ${key}`,
      value.position,
    );
  }
  return n;
}

/** True when a LIKE pattern ends with an unpaired backslash, which Postgres rejects. */
function endsWithEscape(pattern: string): boolean {
  let i = 0;
  while (i < pattern.length) {
    if (pattern[i] === '\\') {
      if (i + 1 === pattern.length) return true;
      i += 2;
    } else i++;
  }
  return false;
}

/**
 * A string in single or double quotes; `label` names the entity in MLflow's message. For
 * LIKE and ILIKE the pattern is checked as Postgres will check it (the backslash escapes).
 */
export function stringValue(value: ValueToken, label: string, comparator: string): string {
  switch (value.kind) {
    case 'string':
      if (value.quote === '`') break;
      if ((comparator === 'LIKE' || comparator === 'ILIKE') && endsWithEscape(value.value)) {
        throw new SearchSyntaxError(
          `Invalid ${comparator} pattern ${excerpt(value.text)}: it must not end with the escape character '\\'`,
          value.position,
        );
      }
      return value.value;
    case 'bare':
      break;
    case 'number':
      throw new SearchSyntaxError(
        `Expected a quoted string value for ${label} (e.g. 'my-value'). Got value ${excerpt(value.text)}`,
        value.position,
      );
    case 'list':
      throw new SearchSyntaxError(
        `Expected a quoted string value for ${label}; only IN and NOT IN take a list of values`,
        value.position,
      );
    default: {
      const unreachable: never = value;
      throw new Error(`unhandled value token ${JSON.stringify(unreachable)}`);
    }
  }
  throw new SearchSyntaxError(
    `Parameter value is either not quoted or unidentified quote types used for string value ${excerpt(value.text)}. Use either single or double quotes.`,
    value.position,
  );
}

/** The parenthesized list that IN and NOT IN take: `('a', "b")`. */
export function listValue(value: ValueToken, comparator: ListComparator): string[] {
  if (value.kind === 'list') return value.values;
  throw new SearchSyntaxError(
    `Expected a list of quoted string values like ('a', 'b') after ${comparator}, got ${excerpt(value.text)}`,
    value.position,
  );
}

export function isOneOf<T extends string>(value: string, allowed: readonly T[]): value is T {
  return (allowed as readonly string[]).includes(value);
}
