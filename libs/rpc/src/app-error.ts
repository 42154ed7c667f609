import { status } from '@grpc/grpc-js';

/**
 * The kinds of application failure a caller can act on. Each maps to one precise gRPC
 * status (the library itself never emits these) and, at the gateway, to an MLflow error code.
 */
export type AppErrorKind =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'permission_denied'
  | 'unauthenticated'
  | 'resource_exhausted'
  | 'aborted'
  | 'unavailable';

/** An error with a machine-readable reason code (e.g. `RUN_NOT_FOUND`) and the offending value. */
export class AppError extends Error {
  constructor(
    readonly kind: AppErrorKind,
    readonly reason: string,
    message: string,
    readonly details: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export function grpcStatusFor(kind: AppErrorKind): status {
  switch (kind) {
    case 'invalid_argument':
      return status.INVALID_ARGUMENT;
    case 'not_found':
      return status.NOT_FOUND;
    case 'already_exists':
      return status.ALREADY_EXISTS;
    case 'failed_precondition':
      return status.FAILED_PRECONDITION;
    case 'permission_denied':
      return status.PERMISSION_DENIED;
    case 'unauthenticated':
      return status.UNAUTHENTICATED;
    case 'resource_exhausted':
      return status.RESOURCE_EXHAUSTED;
    case 'aborted':
      return status.ABORTED;
    case 'unavailable':
      return status.UNAVAILABLE;
    default: {
      const unreachable: never = kind;
      throw new Error(`unhandled error kind ${String(unreachable)}`);
    }
  }
}
