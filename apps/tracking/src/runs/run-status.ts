import { AppError } from '@cairn/rpc';

export const RUN_STATUSES = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'] as const;
export type RunStatusName = (typeof RUN_STATUSES)[number];
export type TerminalRunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export function isTerminal(status: RunStatusName): status is TerminalRunStatus {
  return status === 'FINISHED' || status === 'FAILED' || status === 'KILLED';
}

/** What applying a status update does to a run. */
export interface StatusChange {
  status: RunStatusName;
  endTime: number | null;
  /** The run has just ended: RunFinished is due. */
  finished: boolean;
}

/**
 * The run status machine. SCHEDULED → RUNNING or a terminal status; RUNNING → a terminal
 * status; a terminal status → RUNNING (MLflow clients resume a run with
 * `start_run(run_id=...)`, which sets it RUNNING again). Setting the current status again is a
 * no-op (retried calls are safe). Moving a run back to SCHEDULED, or from one terminal status
 * straight to another, is refused: the first outcome was already announced as RunFinished.
 */
export function applyStatus(
  current: { status: RunStatusName; endTime: number | null },
  requested: RunStatusName,
  requestedEndTime: number | undefined,
  now: number,
): StatusChange {
  if (requested === current.status) {
    return {
      status: current.status,
      endTime: requestedEndTime ?? current.endTime,
      finished: false,
    };
  }
  const allowed =
    (current.status === 'SCHEDULED' && requested !== 'SCHEDULED') ||
    (current.status === 'RUNNING' && isTerminal(requested)) ||
    (isTerminal(current.status) && requested === 'RUNNING');
  if (!allowed) {
    throw new AppError(
      'failed_precondition',
      'INVALID_RUN_STATUS_TRANSITION',
      `Cannot change the status of a run from ${current.status} to ${requested}`,
      { from: current.status, to: requested },
    );
  }
  if (isTerminal(requested)) return { status: requested, endTime: requestedEndTime ?? now, finished: true };
  return { status: requested, endTime: null, finished: false };
}
