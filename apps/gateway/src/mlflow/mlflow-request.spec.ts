import { MlflowError } from './mlflow-error';
import { RequestFields } from './mlflow-request';

function failure(fn: () => unknown): MlflowError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MlflowError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('RequestFields', () => {
  it('merges the query string and the JSON body, the body winning', () => {
    const f = RequestFields.of({ name: 'q', max_results: '5' }, { name: 'b' });
    expect(f.string('name')).toBe('b');
    expect(f.optInt('max_results')).toBe(5);
  });

  it("names a missing required parameter in MLflow's words", () => {
    const err = failure(() => RequestFields.of({}, {}).string('experiment_id'));
    expect(err.errorCode).toBe('INVALID_PARAMETER_VALUE');
    expect(err.message).toBe(
      "Missing value for required parameter 'experiment_id'. See the API docs for more information about request parameters.",
    );
  });

  it('refuses values of the wrong type instead of coercing them', () => {
    expect(failure(() => RequestFields.of({}, { name: 5 }).string('name')).message).toContain(
      "parameter 'name'",
    );
    expect(
      failure(() => RequestFields.of({ max_results: 'ten' }, undefined).optInt('max_results')).errorCode,
    ).toBe('INVALID_PARAMETER_VALUE');
    expect(failure(() => RequestFields.of({}, { step: 1.5 }).optInt('step')).message).toContain('integer');
    expect(failure(() => RequestFields.of({}, { value: 'abc' }).double('value')).message).toContain('number');
    expect(failure(() => RequestFields.of({}, { archive: 'yes' }).bool('archive')).message).toContain(
      'true or false',
    );
    expect(failure(() => RequestFields.of({}, { tags: { key: 'a' } }).keyValues('tags')).message).toContain(
      'list of objects',
    );
  });

  it('refuses a body that is not a JSON object', () => {
    expect(failure(() => RequestFields.of({}, [1, 2])).errorCode).toBe('BAD_REQUEST');
    expect(failure(() => RequestFields.of({}, 'text')).errorCode).toBe('BAD_REQUEST');
  });

  it("reads int64 as numbers or decimal strings, and doubles as protobuf's JSON writes them", () => {
    const f = RequestFields.of(
      {},
      { a: '1700000000000', b: 7, nan: 'NaN', inf: 'Infinity', neg: '-Infinity', s: '0.5' },
    );
    expect(f.int('a')).toBe(1_700_000_000_000);
    expect(f.int('b')).toBe(7);
    expect(f.double('nan')).toBeNaN();
    expect(f.double('inf')).toBe(Number.POSITIVE_INFINITY);
    expect(f.double('neg')).toBe(Number.NEGATIVE_INFINITY);
    expect(f.double('s')).toBe(0.5);
  });

  it('reads repeated fields from a repeated query key or a JSON list, and run_uuid for run_id', () => {
    const q = RequestFields.of({ order_by: ['a', 'b'], run_uuid: 'r1' }, undefined);
    expect(q.strings('order_by')).toEqual(['a', 'b']);
    expect(q.oneOf('run_id', 'run_uuid')).toBe('r1');
    expect(RequestFields.of({ order_by: 'a' }, undefined).strings('order_by')).toEqual(['a']);
    expect(RequestFields.of({}, { stages: ['Staging'] }).strings('stages')).toEqual(['Staging']);
    expect(RequestFields.of({}, { bool: 'true' }).bool('bool')).toBe(true);
  });
});
