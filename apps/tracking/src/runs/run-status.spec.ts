import { AppError } from '@cairn/rpc';
import { applyStatus, RUN_STATUSES, type RunStatusName } from './run-status';
import { latestPoints } from './metric-writer';

describe('run status machine', () => {
  const allowed: Array<[RunStatusName, RunStatusName]> = [
    ['SCHEDULED', 'RUNNING'],
    ['SCHEDULED', 'FINISHED'],
    ['SCHEDULED', 'FAILED'],
    ['SCHEDULED', 'KILLED'],
    ['RUNNING', 'FINISHED'],
    ['RUNNING', 'FAILED'],
    ['RUNNING', 'KILLED'],
    ['FINISHED', 'RUNNING'],
    ['FAILED', 'RUNNING'],
    ['KILLED', 'RUNNING'],
  ];

  it('allows exactly the listed transitions (and every self-transition as a no-op)', () => {
    for (const from of RUN_STATUSES) {
      for (const to of RUN_STATUSES) {
        const expectAllowed = from === to || allowed.some(([a, b]) => a === from && b === to);
        let outcome: boolean;
        try {
          applyStatus({ status: from, endTime: null }, to, undefined, 1);
          outcome = true;
        } catch (err) {
          expect(err).toBeInstanceOf(AppError);
          expect((err as AppError).reason).toBe('INVALID_RUN_STATUS_TRANSITION');
          outcome = false;
        }
        expect({ from, to, allowed: outcome }).toEqual({ from, to, allowed: expectAllowed });
      }
    }
  });

  it('ends a run at the given time or now, and clears the end on resume', () => {
    expect(applyStatus({ status: 'RUNNING', endTime: null }, 'FINISHED', undefined, 42)).toEqual({
      status: 'FINISHED',
      endTime: 42,
      finished: true,
    });
    expect(applyStatus({ status: 'RUNNING', endTime: null }, 'FAILED', 7, 42)).toMatchObject({
      endTime: 7,
      finished: true,
    });
    expect(applyStatus({ status: 'FINISHED', endTime: 7 }, 'RUNNING', undefined, 42)).toEqual({
      status: 'RUNNING',
      endTime: null,
      finished: false,
    });
    expect(applyStatus({ status: 'FINISHED', endTime: 7 }, 'FINISHED', undefined, 42)).toMatchObject({
      finished: false,
      endTime: 7,
    });
  });
});

describe('latest metric value', () => {
  it('takes the greatest step, then timestamp, then value (NaN above numbers, as Postgres orders it)', () => {
    const p = (step: number, timestamp: number, value: number) => ({
      runId: 'r',
      key: 'k',
      step,
      timestamp,
      value,
    });
    expect(latestPoints([p(1, 9, 1), p(2, 1, 0), p(0, 99, 5)])[0]).toMatchObject({ step: 2 });
    expect(latestPoints([p(1, 1, 1), p(1, 2, 0)])[0]).toMatchObject({ timestamp: 2 });
    expect(latestPoints([p(1, 1, 1), p(1, 1, 3), p(1, 1, 2)])[0]).toMatchObject({ value: 3 });
    expect(latestPoints([p(1, 1, 1), p(1, 1, Number.NaN)])[0].value).toBeNaN();
  });

  it('sorts by run then key so concurrent writers lock rows in one order', () => {
    const rows = latestPoints([
      { runId: 'b', key: 'x', step: 0, timestamp: 0, value: 0 },
      { runId: 'a', key: 'z', step: 0, timestamp: 0, value: 0 },
      { runId: 'a', key: 'y', step: 0, timestamp: 0, value: 0 },
    ]);
    expect(rows.map((r) => `${r.runId}/${r.key}`)).toEqual(['a/y', 'a/z', 'b/x']);
  });
});
