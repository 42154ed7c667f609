import { AppError } from '@cairn/rpc';
import { excerpt, FilterScanner, type IdentifierToken, pyList, SearchSyntaxError } from './filter-scanner';

/*
 * MLflow's order_by lists: each string is `<identifier> [ASC|DESC]` (ASC by default,
 * case-insensitive), identifiers written as in filters. What an identifier may name is up to
 * each search (runs, experiments, registered models, model versions).
 */

/** Most order_by clauses accepted: each one adds sort columns (and for runs a join). */
export const MAX_ORDER_BY_CLAUSES = 20;
const MAX_ORDER_BY_CLAUSE_LENGTH = 1_000;

/** The reason of a rejected order_by unless a service names its own. */
export const INVALID_ORDER_BY = 'INVALID_ORDER_BY';

export interface OrderByClauseToken {
  identifier: IdentifierToken;
  ascending: boolean;
}

/** Reads one `<identifier> [ASC|DESC]` clause; throws SearchSyntaxError with MLflow's messages. */
export function parseOrderByClause(clause: string): OrderByClauseToken {
  const unparsable = `Invalid order_by clause '${excerpt(clause, 200)}'. Could not be parsed.`;
  if (clause.length > MAX_ORDER_BY_CLAUSE_LENGTH || clause.includes('\u0000')) {
    throw new SearchSyntaxError(unparsable, 0);
  }
  const s = new FilterScanner(clause);
  s.skipWhitespace();
  if (s.atEnd()) throw new SearchSyntaxError(unparsable, s.pos);
  let identifier: IdentifierToken;
  try {
    identifier = s.readIdentifier();
  } catch (err) {
    if (err instanceof SearchSyntaxError) throw new SearchSyntaxError(unparsable, err.position);
    throw err;
  }
  s.skipWhitespace();
  let ascending = true;
  if (!s.atEnd()) {
    const at = s.pos;
    if (s.acceptKeyword('ASC')) ascending = true;
    else if (s.acceptKeyword('DESC')) ascending = false;
    else if (/[A-Za-z]/.test(s.peek())) {
      throw new SearchSyntaxError(`Invalid ordering key in order_by clause '${excerpt(clause, 200)}'.`, at);
    } else throw new SearchSyntaxError(unparsable, at);
    s.skipWhitespace();
    if (!s.atEnd()) throw new SearchSyntaxError(unparsable, s.pos);
  }
  return { identifier, ascending };
}

export interface OrderByListOptions<T> {
  /** Turns a clause into the search's own form; throws SearchSyntaxError when it names nothing orderable. */
  resolve: (identifier: IdentifierToken, ascending: boolean) => T;
  /**
   * What makes two clauses the same field; a repeated one is rejected with MLflow's
   * "`order_by` contains duplicate fields" message. Without it, repeats are accepted.
   */
  identity?: (clause: T) => string;
  /** The AppError reason; INVALID_ORDER_BY by default. */
  reason?: string;
}

function orderByError(
  message: string,
  reason: string,
  clause: string,
  index: number,
  position: number,
): AppError {
  return new AppError('invalid_argument', reason, `${message} (at position ${position})`, {
    order_by: excerpt(clause, 200),
    index: String(index),
    position: String(position),
  });
}

/**
 * Parses an order_by list. Errors are invalid_argument AppErrors naming the clause's index and
 * the 0-based position of the problem within it.
 */
export function parseOrderByList<T>(orderBy: readonly string[], options: OrderByListOptions<T>): T[] {
  const reason = options.reason ?? INVALID_ORDER_BY;
  if (orderBy.length > MAX_ORDER_BY_CLAUSES) {
    throw new AppError(
      'invalid_argument',
      reason,
      `order_by has ${orderBy.length} clauses; at most ${MAX_ORDER_BY_CLAUSES} are accepted`,
      { count: String(orderBy.length) },
    );
  }
  const seen = new Set<string>();
  return orderBy.map((clause, index) => {
    let parsed: T;
    try {
      const { identifier, ascending } = parseOrderByClause(clause);
      parsed = options.resolve(identifier, ascending);
    } catch (err) {
      if (err instanceof SearchSyntaxError) {
        throw orderByError(err.message, reason, clause, index, err.position);
      }
      throw err;
    }
    if (options.identity) {
      const id = options.identity(parsed);
      if (seen.has(id)) {
        throw orderByError(
          `\`order_by\` contains duplicate fields: ${excerpt(pyList(orderBy), 400)}`,
          reason,
          clause,
          index,
          0,
        );
      }
      seen.add(id);
    }
    return parsed;
  });
}
