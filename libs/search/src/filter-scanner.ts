/*
 * The lexical layer shared by MLflow's search grammars (tracking's runs and experiments
 * filters, the registry's models and versions filters, order_by clauses). MLflow tokenizes
 * with sqlparse; this scanner reads the same surface syntax by hand and remembers where each
 * token starts, so that every error can name its 0-based position.
 *
 * String literals: single or double quotes. The text between the quotes is taken as written,
 * as MLflow takes it, except that the enclosing quote may appear inside when doubled
 * (`'it''s'`) or backslash-escaped (`'it\'s'`); a double backslash stays a double backslash
 * but does not escape the quote after it (`'C:\\'` ends there). So `LIKE '50\%'` reaches
 * Postgres unchanged, where the backslash is LIKE's escape character, as with MLflow's
 * SQLAlchemy store on Postgres.
 */

/** Longest filter accepted: a bound on the work a hostile request can cause. */
export const MAX_FILTER_LENGTH = 10_000;
/** Most clauses in one filter: each one becomes a subquery. */
export const MAX_FILTER_CLAUSES = 100;

/** A syntax or validation failure at a character position; parsers turn it into an AppError. */
export class SearchSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'SearchSyntaxError';
  }
}

export type Quote = "'" | '"' | '`';

export interface IdentifierToken {
  /** The entity prefix (`metrics`, `tags`...) with backticks removed; null when absent. */
  entity: string | null;
  key: string;
  position: number;
  /** Where the key starts (after the entity prefix and its dot, if any). */
  keyPosition: number;
  /** The identifier as written. */
  text: string;
}

export interface ComparatorToken {
  /** Upper-cased, with words joined by one space: `=`, `LIKE`, `NOT IN`, `IS NOT NULL`. */
  text: string;
  position: number;
}

export type ValueToken =
  | { kind: 'string'; value: string; quote: Quote; position: number; text: string }
  | { kind: 'number'; position: number; text: string }
  | { kind: 'list'; values: string[]; position: number; text: string }
  | { kind: 'bare'; position: number; text: string };

// Characters that end an unquoted identifier part or an unquoted value.
const DELIMITERS = new Set([...`'"\`=!<>~(),`]);
const COMPARATOR_CHARS = new Set([...'<>=!~']);
const NUMBER = /-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const WORD_CHAR = /[A-Za-z0-9_]/;
const QUOTES = new Set<string>(["'", '"', '`']);

function isSpace(ch: string): boolean {
  return /\s/.test(ch);
}

/** Shows a piece of user input in a message without echoing an unbounded string. */
export function excerpt(text: string, max = 40): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** Python's repr of a list of strings, as MLflow's messages print them. */
export function pyList(values: readonly string[]): string {
  return `[${values.map((v) => `'${v}'`).join(', ')}]`;
}

/** Python's repr of a set of strings (sorted here, so that messages are stable). */
export function pySet(values: Iterable<string>): string {
  return `{${[...values]
    .sort()
    .map((v) => `'${v}'`)
    .join(', ')}}`;
}

export class FilterScanner {
  pos = 0;

  constructor(readonly src: string) {}

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  peek(): string {
    return this.src[this.pos] ?? '';
  }

  skipWhitespace(): void {
    while (this.pos < this.src.length && isSpace(this.src[this.pos])) this.pos++;
  }

  /** The next run of characters up to whitespace, for "found '...'" in messages. */
  upcoming(): string {
    let end = this.pos;
    while (end < this.src.length && !isSpace(this.src[end]) && end - this.pos < 40) end++;
    return this.src.slice(this.pos, Math.max(end, this.pos + 1));
  }

  /** True (and consumes it) when the next word is `word`, case-insensitively. */
  acceptKeyword(word: string): boolean {
    const end = this.pos + word.length;
    if (this.src.slice(this.pos, end).toUpperCase() !== word) return false;
    if (end < this.src.length && WORD_CHAR.test(this.src[end])) return false;
    this.pos = end;
    return true;
  }

  peekKeyword(word: string): boolean {
    const at = this.pos;
    const found = this.acceptKeyword(word);
    this.pos = at;
    return found;
  }

  /** A quoted string starting at the current position (which holds the quote). */
  readQuoted(): { value: string; quote: Quote } {
    const start = this.pos;
    const quote = this.src[start] as Quote;
    let out = '';
    let i = start + 1;
    for (;;) {
      if (i >= this.src.length) {
        throw new SearchSyntaxError(`Unterminated quoted string starting with ${quote}`, start);
      }
      const ch = this.src[i];
      const next = this.src[i + 1];
      if (ch === quote) {
        if (next === quote) {
          out += quote;
          i += 2;
          continue;
        }
        this.pos = i + 1;
        return { value: out, quote };
      }
      if (ch === '\\' && next === quote) {
        out += quote;
        i += 2;
        continue;
      }
      if (ch === '\\' && next === '\\') {
        // Kept as written; read as a pair so that it does not escape a following quote.
        out += '\\\\';
        i += 2;
        continue;
      }
      out += ch;
      i++;
    }
  }

  /** Unquoted characters up to whitespace or a delimiter; `allowDot` keeps dots in the run. */
  private readBare(allowDot: boolean): string {
    const start = this.pos;
    while (this.pos < this.src.length) {
      const ch = this.src[this.pos];
      if (isSpace(ch) || DELIMITERS.has(ch) || (!allowDot && ch === '.')) break;
      this.pos++;
    }
    return this.src.slice(start, this.pos);
  }

  /**
   * `<entity>.<key>` or a bare `<key>`. The entity is a word or a backtick-quoted word; the key
   * is quoted (', ", `) or a run of characters up to whitespace or an operator, dots included
   * (`metrics.val.loss` has the key `val.loss`).
   */
  readIdentifier(): IdentifierToken {
    const position = this.pos;
    const ch = this.peek();
    if (ch === '') throw new SearchSyntaxError('Expected an identifier but the input ended', position);
    if (ch === '(' || ch === ')') {
      throw new SearchSyntaxError(
        'Invalid clause(s) in filter string: parentheses are not supported, clauses can only be joined with AND',
        position,
      );
    }
    let first: string;
    let firstQuote: Quote | null = null;
    if (QUOTES.has(ch)) {
      const q = this.readQuoted();
      first = q.value;
      firstQuote = q.quote;
    } else {
      first = this.readBare(false);
      if (first === '') {
        throw new SearchSyntaxError(`Expected an identifier, found '${excerpt(this.upcoming())}'`, position);
      }
    }
    if (this.peek() !== '.') {
      return {
        entity: null,
        key: first,
        position,
        keyPosition: position,
        text: this.src.slice(position, this.pos),
      };
    }
    if (firstQuote !== null && firstQuote !== '`') {
      const written = this.src.slice(position, this.pos);
      throw new SearchSyntaxError(`Invalid entity type '${excerpt(written)}'`, position);
    }
    this.pos++; // the dot
    const keyPosition = this.pos;
    let key: string;
    const kc = this.peek();
    if (QUOTES.has(kc)) {
      key = this.readQuoted().value;
    } else {
      key = this.readBare(true);
      if (key === '') {
        throw new SearchSyntaxError(`Expected a key after '${excerpt(first)}.'`, keyPosition);
      }
    }
    return { entity: first, key, position, keyPosition, text: this.src.slice(position, this.pos) };
  }

  /** A symbolic comparator (`=`, `!=`, `>=`...) or a word one (`LIKE`, `NOT IN`, `IS NULL`...). */
  readComparator(): ComparatorToken {
    const position = this.pos;
    const ch = this.peek();
    if (ch === '') throw new SearchSyntaxError('Expected a comparator but the input ended', position);
    if (COMPARATOR_CHARS.has(ch)) {
      while (COMPARATOR_CHARS.has(this.peek())) this.pos++;
      return { text: this.src.slice(position, this.pos), position };
    }
    if (!/[A-Za-z]/.test(ch)) {
      throw new SearchSyntaxError(`Expected a comparator, found '${excerpt(this.upcoming())}'`, position);
    }
    const word = this.readWord().toUpperCase();
    if (word === 'NOT' || word === 'IS') {
      const words = [word];
      const save = this.pos;
      this.skipWhitespace();
      let next = this.readWord().toUpperCase();
      if (word === 'IS' && next === 'NOT') {
        words.push(next);
        this.skipWhitespace();
        next = this.readWord().toUpperCase();
      }
      if (next === '') this.pos = save;
      else words.push(next);
      return { text: words.join(' '), position };
    }
    return { text: word, position };
  }

  private readWord(): string {
    const start = this.pos;
    while (this.pos < this.src.length && WORD_CHAR.test(this.src[this.pos])) this.pos++;
    return this.src.slice(start, this.pos);
  }

  /** A quoted string, a number, a parenthesized list of quoted strings, or a bare word. */
  readValue(): ValueToken {
    const position = this.pos;
    const ch = this.peek();
    if (ch === '') throw new SearchSyntaxError('Expected a value but the input ended', position);
    if (QUOTES.has(ch)) {
      const { value, quote } = this.readQuoted();
      return { kind: 'string', value, quote, position, text: this.src.slice(position, this.pos) };
    }
    if (ch === '(') return this.readList();
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.src);
    if (m) {
      const end = this.pos + m[0].length;
      const after = this.src[end];
      if (after === undefined || !/[A-Za-z0-9_.]/.test(after)) {
        this.pos = end;
        return { kind: 'number', position, text: m[0] };
      }
    }
    const text = this.readBare(true);
    if (text === '') {
      throw new SearchSyntaxError(`Expected a value, found '${excerpt(this.upcoming())}'`, position);
    }
    return { kind: 'bare', position, text };
  }

  private readList(): ValueToken {
    const position = this.pos;
    this.pos++; // (
    const values: string[] = [];
    this.skipWhitespace();
    if (this.peek() === ')') {
      throw new SearchSyntaxError(
        'While parsing a list in the query, expected a non-empty list of string values, but got empty list',
        position,
      );
    }
    for (;;) {
      this.skipWhitespace();
      const ch = this.peek();
      if (ch !== "'" && ch !== '"') {
        throw new SearchSyntaxError(
          ch === ''
            ? 'While parsing a list in the query, expected a closing parenthesis but the input ended'
            : `While parsing a list in the query, expected a quoted string value, found '${excerpt(this.upcoming())}'`,
          this.pos,
        );
      }
      values.push(this.readQuoted().value);
      this.skipWhitespace();
      const sep = this.peek();
      if (sep === ',') {
        this.pos++;
        continue;
      }
      if (sep === ')') {
        this.pos++;
        return { kind: 'list', values, position, text: this.src.slice(position, this.pos) };
      }
      throw new SearchSyntaxError(
        sep === ''
          ? 'While parsing a list in the query, expected a closing parenthesis but the input ended'
          : `While parsing a list in the query, expected ',' or ')', found '${excerpt(this.upcoming())}'`,
        this.pos,
      );
    }
  }
}

/**
 * One filter grammar (runs, experiments): each stage validates what has just been read, so
 * that errors come out in reading order and point at the offending token.
 */
export interface FilterGrammar<I, C extends string, T> {
  identifier(identifier: IdentifierToken): I;
  comparator(identifier: I, comparator: ComparatorToken): C;
  /** `value` is null for the comparators that take none (`IS NULL`, `IS NOT NULL`). */
  clause(identifier: I, comparator: C, value: ValueToken | null, position: number): T;
}

/** Reads `<identifier> <comparator> [<value>]` clauses joined by AND. */
export function scanFilter<I, C extends string, T>(filter: string, grammar: FilterGrammar<I, C, T>): T[] {
  if (filter.length > MAX_FILTER_LENGTH) {
    throw new SearchSyntaxError(
      `Filter is ${filter.length} characters long; at most ${MAX_FILTER_LENGTH} are accepted`,
      MAX_FILTER_LENGTH,
    );
  }
  const nul = filter.indexOf('\u0000');
  if (nul >= 0) throw new SearchSyntaxError('Filter contains a NUL character', nul);
  const s = new FilterScanner(filter);
  const clauses: T[] = [];
  s.skipWhitespace();
  if (s.atEnd()) return clauses;
  for (;;) {
    for (const kw of ['AND', 'OR']) {
      if (s.peekKeyword(kw)) {
        throw new SearchSyntaxError(
          `Invalid clause(s) in filter string: expected a clause, found '${kw}'`,
          s.pos,
        );
      }
    }
    if (clauses.length >= MAX_FILTER_CLAUSES) {
      throw new SearchSyntaxError(`Filter has more than ${MAX_FILTER_CLAUSES} clauses`, s.pos);
    }
    const position = s.pos;
    const identifier = grammar.identifier(s.readIdentifier());
    s.skipWhitespace();
    const comparator = grammar.comparator(identifier, s.readComparator());
    let value: ValueToken | null = null;
    if (comparator !== 'IS NULL' && comparator !== 'IS NOT NULL') {
      s.skipWhitespace();
      value = s.readValue();
    }
    clauses.push(grammar.clause(identifier, comparator, value, position));
    s.skipWhitespace();
    if (s.atEnd()) return clauses;
    const andAt = s.pos;
    if (s.acceptKeyword('AND')) {
      s.skipWhitespace();
      if (s.atEnd()) {
        throw new SearchSyntaxError(
          "Invalid clause(s) in filter string: 'AND' is not followed by a clause",
          andAt,
        );
      }
      continue;
    }
    if (s.peekKeyword('OR')) {
      throw new SearchSyntaxError(
        "Invalid clause(s) in filter string: 'OR' is not supported, clauses can only be joined with AND",
        s.pos,
      );
    }
    throw new SearchSyntaxError(
      `Invalid clause(s) in filter string: expected AND or the end of the filter, found '${excerpt(s.upcoming())}'`,
      s.pos,
    );
  }
}
