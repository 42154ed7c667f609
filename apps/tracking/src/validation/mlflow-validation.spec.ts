import { AppError } from '@cairn/rpc';
import {
  validateArtifactLocation,
  validateBatch,
  validateExperimentId,
  validateKey,
  validateMaxResults,
  validateMetric,
  validateParam,
  validateRunId,
} from './mlflow-validation';

function reasonOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof AppError) return err.reason;
    throw err;
  }
}

describe('MLflow validation rules', () => {
  it.each(['loss', 'val/loss', 'a.b-c_d e', 'précision', '指标', 'x'.repeat(250)])(
    'accepts key %s',
    (key) => {
      expect(reasonOf(() => validateKey('metric', key))).toBeUndefined();
    },
  );

  it.each([
    ['a$b', 'INVALID_KEY'],
    ['a\tb', 'INVALID_KEY'],
    ['/abs', 'INVALID_KEY'],
    ['a/../b', 'INVALID_KEY'],
    ['./a', 'INVALID_KEY'],
    ['a/', 'INVALID_KEY'],
    ['a//b', 'INVALID_KEY'],
    ['..', 'INVALID_KEY'],
    ['.', 'INVALID_KEY'],
    ['', 'MISSING_PARAMETER'],
    ['x'.repeat(251), 'VALUE_TOO_LONG'],
  ])('refuses key %j with %s', (key, reason) => {
    expect(reasonOf(() => validateKey('param', key))).toBe(reason);
  });

  it('limits param values to 6000 characters with MLflow message', () => {
    expect(reasonOf(() => validateParam('p', 'x'.repeat(6000)))).toBeUndefined();
    expect(() => validateParam('p', 'y'.repeat(6001))).toThrow(
      `Param value '${'y'.repeat(250)}' had length 6001, which exceeded length limit of 6000`,
    );
  });

  it('checks metric timestamps and steps', () => {
    expect(
      reasonOf(() => validateMetric({ key: 'm', value: Number.NaN, timestamp: 0, step: -5 })),
    ).toBeUndefined();
    expect(reasonOf(() => validateMetric({ key: 'm', value: 1, timestamp: -1, step: 0 }))).toBe(
      'INVALID_METRIC_TIMESTAMP',
    );
    expect(reasonOf(() => validateMetric({ key: 'm', value: 1, timestamp: 1, step: 2 ** 60 }))).toBe(
      'INVALID_METRIC_STEP',
    );
  });

  it('enforces the log-batch limits in MLflow order', () => {
    const metrics = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ key: 'm', value: i, timestamp: 0, step: i }));
    const kv = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    expect(reasonOf(() => validateBatch({ metrics: metrics(1000), params: [], tags: [] }))).toBeUndefined();
    expect(() => validateBatch({ metrics: metrics(1001), params: [], tags: [] })).toThrow(
      'at most 1000 metrics. Got 1001 metrics',
    );
    expect(() => validateBatch({ metrics: [], params: kv(101), tags: [] })).toThrow('at most 100 params');
    expect(() => validateBatch({ metrics: [], params: [], tags: kv(101) })).toThrow('at most 100 tags');
    expect(() => validateBatch({ metrics: metrics(900), params: kv(100), tags: kv(1) })).toThrow(
      'at most 1000 metrics, params, and tags. Got 1001',
    );
    expect(
      reasonOf(() =>
        validateBatch({
          metrics: [],
          params: [
            { key: 'a', value: '1' },
            { key: 'a', value: '1' },
          ],
          tags: [],
        }),
      ),
    ).toBeUndefined();
  });

  it('validates ids, page sizes and artifact locations', () => {
    expect(reasonOf(() => validateRunId('0123456789abcdef0123456789abcdef'))).toBeUndefined();
    expect(reasonOf(() => validateRunId('../x'))).toBe('INVALID_RUN_ID');
    expect(reasonOf(() => validateExperimentId('12'))).toBeUndefined();
    expect(reasonOf(() => validateExperimentId('99999999999999999999'))).toBe('INVALID_EXPERIMENT_ID');
    expect(validateMaxResults(undefined, 1000)).toBe(1000);
    expect(reasonOf(() => validateMaxResults(0, 1000))).toBe('INVALID_MAX_RESULTS');
    expect(reasonOf(() => validateMaxResults(50001, 1000))).toBe('INVALID_MAX_RESULTS');
    for (const ok of ['s3://bucket/prefix', 'file:///data/mlruns', '/data/mlruns', 'mlflow-artifacts:/x']) {
      expect(reasonOf(() => validateArtifactLocation(ok))).toBeUndefined();
    }
    for (const bad of [
      's3://b/x?a=../..',
      'file:///x#frag',
      's3://b/../x',
      's3://b/%252e%252e/x',
      'a\\b',
      'a%ZZ',
    ]) {
      expect(reasonOf(() => validateArtifactLocation(bad))).toBe('INVALID_ARTIFACT_LOCATION');
    }
  });
});
