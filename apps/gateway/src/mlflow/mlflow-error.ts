import { status } from '@grpc/grpc-js';
import { AppError, grpcStatusFor, REASON_METADATA_KEY, UpstreamError } from '@cairn/rpc';

/** MLflow's error codes (mlflow/protos/databricks.proto) that the REST API answers with. */
export type MlflowErrorCode =
  | 'INVALID_PARAMETER_VALUE'
  | 'BAD_REQUEST'
  | 'RESOURCE_ALREADY_EXISTS'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_DOES_NOT_EXIST'
  | 'ENDPOINT_NOT_FOUND'
  | 'RESOURCE_CONFLICT'
  | 'REQUEST_LIMIT_EXCEEDED'
  | 'INTERNAL_ERROR'
  | 'INVALID_STATE'
  | 'TEMPORARILY_UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'NOT_IMPLEMENTED';

/** The HTTP status of each code, as MLflow's server maps them (mlflow/exceptions.py). */
export const HTTP_STATUS: Record<MlflowErrorCode, number> = {
  INVALID_PARAMETER_VALUE: 400,
  BAD_REQUEST: 400,
  RESOURCE_ALREADY_EXISTS: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404,
  RESOURCE_CONFLICT: 409,
  REQUEST_LIMIT_EXCEEDED: 429,
  CANCELLED: 499,
  INTERNAL_ERROR: 500,
  INVALID_STATE: 500,
  NOT_IMPLEMENTED: 501,
  TEMPORARILY_UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** A failure of the REST layer itself (a malformed request, an unknown endpoint). */
export class MlflowError extends Error {
  constructor(
    readonly errorCode: MlflowErrorCode,
    message: string,
    /** Cairn's reason code, sent as the `X-Cairn-Reason` header. */
    readonly reason: string = errorCode,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
}

export interface MlflowErrorReply {
  httpStatus: number;
  body: { error_code: MlflowErrorCode; message: string };
  reason: string;
}

/**
 * The MLflow error code of a gRPC status. FAILED_PRECONDITION (a deleted run, a changed param,
 * a transition needing approval) is MLflow's INVALID_PARAMETER_VALUE: MLflow answers those
 * cases with it, and its clients retry 5xx answers, which would repeat a call that cannot succeed.
 */
function codeOfStatus(code: status): MlflowErrorCode {
  switch (code) {
    case status.INVALID_ARGUMENT:
    case status.FAILED_PRECONDITION:
    case status.OUT_OF_RANGE:
      return 'INVALID_PARAMETER_VALUE';
    case status.NOT_FOUND:
      return 'RESOURCE_DOES_NOT_EXIST';
    case status.ALREADY_EXISTS:
      return 'RESOURCE_ALREADY_EXISTS';
    case status.PERMISSION_DENIED:
      return 'PERMISSION_DENIED';
    case status.UNAUTHENTICATED:
      return 'UNAUTHENTICATED';
    case status.RESOURCE_EXHAUSTED:
      return 'REQUEST_LIMIT_EXCEEDED';
    case status.ABORTED:
      return 'RESOURCE_CONFLICT';
    case status.UNAVAILABLE:
      return 'TEMPORARILY_UNAVAILABLE';
    case status.DEADLINE_EXCEEDED:
      return 'DEADLINE_EXCEEDED';
    case status.CANCELLED:
      return 'CANCELLED';
    case status.UNIMPLEMENTED:
      return 'NOT_IMPLEMENTED';
    case status.OK:
    case status.UNKNOWN:
    case status.INTERNAL:
    case status.DATA_LOSS:
      return 'INTERNAL_ERROR';
    default:
      return 'INTERNAL_ERROR';
  }
}

function reply(errorCode: MlflowErrorCode, message: string, reason: string): MlflowErrorReply {
  return { httpStatus: HTTP_STATUS[errorCode], body: { error_code: errorCode, message }, reason };
}

/**
 * MLflow's answer to any failure: `{"error_code", "message"}` with the code's HTTP status. The
 * services' own messages pass through; anything unexpected is INTERNAL_ERROR without internals.
 */
export function mlflowErrorOf(err: unknown): MlflowErrorReply {
  if (err instanceof MlflowError) return reply(err.errorCode, err.message, err.reason);
  if (err instanceof UpstreamError) {
    const [reason] = err.metadata.get(REASON_METADATA_KEY);
    const code = codeOfStatus(err.code);
    const message = code === 'INTERNAL_ERROR' ? 'internal error' : err.details;
    return reply(code, message, typeof reason === 'string' ? reason : code);
  }
  if (err instanceof AppError) return reply(codeOfStatus(grpcStatusFor(err.kind)), err.message, err.reason);
  return reply('INTERNAL_ERROR', 'internal error', 'INTERNAL');
}
