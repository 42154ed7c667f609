import { trackingV1 } from '@cairn/proto';
import { AppError } from '@cairn/rpc';
import type { LifecycleStageName } from './experiments/experiments.repository';
import type { RunStatusName } from './runs/run-status';
import type { ViewTypeName } from './search';

/* Translations between the proto enums and the names stored in the database (MLflow's). */

export function lifecycleStageToProto(stage: LifecycleStageName): trackingV1.LifecycleStage {
  return stage === 'active'
    ? trackingV1.LifecycleStage.LIFECYCLE_STAGE_ACTIVE
    : trackingV1.LifecycleStage.LIFECYCLE_STAGE_DELETED;
}

export function viewTypeFromProto(v: trackingV1.ViewType): ViewTypeName {
  switch (v) {
    case trackingV1.ViewType.VIEW_TYPE_DELETED_ONLY:
      return 'DELETED_ONLY';
    case trackingV1.ViewType.VIEW_TYPE_ALL:
      return 'ALL';
    case trackingV1.ViewType.VIEW_TYPE_ACTIVE_ONLY:
    case trackingV1.ViewType.VIEW_TYPE_UNSPECIFIED:
      return 'ACTIVE_ONLY';
    case trackingV1.ViewType.UNRECOGNIZED:
    default:
      throw new AppError('invalid_argument', 'INVALID_VIEW_TYPE', `Unknown view type ${String(v)}`);
  }
}

const STATUS_TO_PROTO: Record<RunStatusName, trackingV1.RunStatus> = {
  RUNNING: trackingV1.RunStatus.RUN_STATUS_RUNNING,
  SCHEDULED: trackingV1.RunStatus.RUN_STATUS_SCHEDULED,
  FINISHED: trackingV1.RunStatus.RUN_STATUS_FINISHED,
  FAILED: trackingV1.RunStatus.RUN_STATUS_FAILED,
  KILLED: trackingV1.RunStatus.RUN_STATUS_KILLED,
};

export function runStatusToProto(s: RunStatusName): trackingV1.RunStatus {
  return STATUS_TO_PROTO[s];
}

/** Undefined for RUN_STATUS_UNSPECIFIED: the update leaves the status as it is. */
export function runStatusFromProto(s: trackingV1.RunStatus): RunStatusName | undefined {
  if (s === trackingV1.RunStatus.RUN_STATUS_UNSPECIFIED) return undefined;
  const found = (Object.entries(STATUS_TO_PROTO) as Array<[RunStatusName, trackingV1.RunStatus]>).find(
    ([, p]) => p === s,
  );
  if (!found) throw new AppError('invalid_argument', 'INVALID_RUN_STATUS', `Unknown run status ${String(s)}`);
  return found[0];
}
