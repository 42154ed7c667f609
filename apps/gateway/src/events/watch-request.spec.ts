import { type AppError } from '@cairn/rpc';
import { MAX_SUBJECT_FILTERS, MAX_TYPE_FILTERS, validateWatchRequest, watchTargetOf } from './watch-request';

const reasonOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    return (err as AppError).reason;
  }
  throw new Error('expected a refusal');
};

describe('validateWatchRequest', () => {
  it('accepts empty filters (everything, from now on) and deduplicates filters', () => {
    expect(validateWatchRequest({ types: [], subjects: [], afterEventId: '' })).toEqual({
      filter: { types: [], subjects: [] },
      afterEventId: undefined,
    });
    expect(validateWatchRequest({ types: ['a', 'a'], subjects: ['m'], afterEventId: 'e1' })).toEqual({
      filter: { types: ['a'], subjects: ['m'] },
      afterEventId: 'e1',
    });
  });

  it('refuses too many or malformed filters', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `x${i}`);
    expect(
      reasonOf(() =>
        validateWatchRequest({ types: many(MAX_TYPE_FILTERS + 1), subjects: [], afterEventId: '' }),
      ),
    ).toBe('TOO_MANY_FILTERS');
    expect(
      reasonOf(() =>
        validateWatchRequest({ types: [], subjects: many(MAX_SUBJECT_FILTERS + 1), afterEventId: '' }),
      ),
    ).toBe('TOO_MANY_FILTERS');
    expect(reasonOf(() => validateWatchRequest({ types: [''], subjects: [], afterEventId: '' }))).toBe(
      'INVALID_FILTER',
    );
    expect(
      reasonOf(() => validateWatchRequest({ types: [], subjects: [], afterEventId: 'x'.repeat(300) })),
    ).toBe('INVALID_EVENT_ID');
  });
});

describe('watchTargetOf', () => {
  it('checks registry events against their model and tracking events against their experiment', () => {
    expect(
      watchTargetOf({ type: 'cairn.registry.model.promoted.v1', subject: 'churn', experimentId: undefined }),
    ).toEqual({
      kind: 'registered_model',
      id: 'churn',
    });
    expect(
      watchTargetOf({ type: 'cairn.tracking.run.finished.v1', subject: 'r1', experimentId: '12' }),
    ).toEqual({
      kind: 'experiment',
      id: '12',
    });
    expect(
      watchTargetOf({ type: 'cairn.tracking.run.finished.v1', subject: 'r1', experimentId: undefined }),
    ).toBeUndefined();
    expect(
      watchTargetOf({
        type: 'cairn.orchestrator.pipeline-run.started.v1',
        subject: 'p1',
        experimentId: '12',
      }),
    ).toBeUndefined();
  });
});
