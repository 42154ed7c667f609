import { MlflowError } from './mlflow-error';

type Raw = Record<string, unknown>;

const invalid = (message: string) =>
  new MlflowError('INVALID_PARAMETER_VALUE', message, 'INVALID_PARAMETER_VALUE');

/** MLflow's message for a missing required parameter (mlflow/server/handlers.py). */
export const missing = (name: string) =>
  invalid(
    `Missing value for required parameter '${name}'. See the API docs for more information about request parameters.`,
  );

const describe = (v: unknown) => JSON.stringify(v)?.slice(0, 200) ?? String(v);

/**
 * The parameters of one MLflow REST request: the query string (GET, DELETE) merged with the
 * JSON body (the body wins), read as MLflow's proto2-JSON: int64 as a number or a decimal
 * string, doubles also as "NaN" / "Infinity", repeated fields as arrays (or a repeated query key).
 * A value of the wrong type is INVALID_PARAMETER_VALUE naming the parameter, never a coercion.
 */
export class RequestFields {
  constructor(private readonly raw: Raw) {}

  static of(query: unknown, body: unknown): RequestFields {
    const q = query && typeof query === 'object' ? (query as Raw) : {};
    if (body !== undefined && (body === null || typeof body !== 'object' || Array.isArray(body))) {
      throw new MlflowError('BAD_REQUEST', 'The request body must be a JSON object.', 'MALFORMED_REQUEST');
    }
    return new RequestFields({ ...q, ...((body as Raw | undefined) ?? {}) });
  }

  has(name: string): boolean {
    return this.raw[name] !== undefined && this.raw[name] !== null;
  }

  /** A query key given once is a string, given twice an array: a singular field takes the first. */
  private single(name: string): unknown {
    const v = this.raw[name];
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v[0] : v;
  }

  optString(name: string): string | undefined {
    const v = this.single(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string')
      throw invalid(`Invalid value ${describe(v)} for parameter '${name}': expected a string.`);
    return v;
  }

  string(name: string): string {
    const v = this.optString(name);
    if (v === undefined || v === '') throw missing(name);
    return v;
  }

  /** The first of several names that is present (`run_id`, then the deprecated `run_uuid`). */
  oneOf(...names: string[]): string {
    for (const name of names) {
      const v = this.optString(name);
      if (v !== undefined && v !== '') return v;
    }
    throw missing(names[0]);
  }

  optInt(name: string): number | undefined {
    const v = this.single(name);
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
      throw invalid(`Invalid value ${describe(v)} for parameter '${name}': expected an integer.`);
    }
    return n;
  }

  int(name: string): number {
    const v = this.optInt(name);
    if (v === undefined) throw missing(name);
    return v;
  }

  bool(name: string): boolean {
    const v = this.single(name);
    if (v === undefined || v === null) return false;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'True') return true;
    if (v === 'false' || v === 'False') return false;
    throw invalid(`Invalid value ${describe(v)} for parameter '${name}': expected true or false.`);
  }

  strings(name: string): string[] {
    const v = this.raw[name];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const item of list) {
      if (typeof item !== 'string') {
        throw invalid(`Invalid value ${describe(v)} for parameter '${name}': expected a list of strings.`);
      }
    }
    return list as string[];
  }

  /** A repeated message field: each element read with its own RequestFields. */
  messages(name: string): RequestFields[] {
    const v = this.raw[name];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) {
      throw invalid(`Invalid value ${describe(v)} for parameter '${name}': expected a list of objects.`);
    }
    return (v as Raw[]).map((x) => new RequestFields(x));
  }

  /** A singular message field. */
  message(name: string): RequestFields | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw invalid(`Invalid value ${describe(v)} for parameter '${name}': expected an object.`);
    }
    return new RequestFields(v as Raw);
  }

  /** A double, as proto3-JSON writes it: a number, or "NaN", "Infinity", "-Infinity". */
  double(name: string): number {
    const v = this.single(name);
    if (v === undefined || v === null) throw missing(name);
    if (typeof v === 'number') return v;
    if (v === 'NaN') return Number.NaN;
    if (v === 'Infinity') return Number.POSITIVE_INFINITY;
    if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
    throw invalid(`Invalid value ${describe(v)} for parameter '${name}': expected a number.`);
  }

  /** `[{key, value}]` pairs (tags, params). */
  keyValues(name: string): Array<{ key: string; value: string }> {
    return this.messages(name).map((m) => ({ key: m.string('key'), value: m.optString('value') ?? '' }));
  }
}
