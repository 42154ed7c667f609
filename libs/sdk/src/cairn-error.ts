import { Metadata, type ServiceError, status } from '@grpc/grpc-js';

/** The metadata key (trailer) on which Cairn's services put a failure's reason code. */
export const REASON_METADATA_KEY = 'cairn-reason';

/** Whether `err` is a grpc-js call failure. */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

/** The name of a gRPC status code, e.g. `NOT_FOUND`. */
export function statusName(code: status): string {
  return status[code] ?? `STATUS_${code}`;
}

/**
 * A failed call: its gRPC status, the `cairn-reason` code the service attached (the status
 * name when there is none, e.g. UNAVAILABLE when the gateway cannot be reached) and the message.
 */
export class CairnError extends Error {
  override readonly name = 'CairnError';

  constructor(
    readonly code: status,
    readonly reason: string,
    readonly details: string,
    readonly metadata: Metadata = new Metadata(),
    options?: { cause?: unknown },
  ) {
    super(`${reason}: ${details}`, options);
  }

  /** The status name, e.g. `PERMISSION_DENIED`. */
  get statusName(): string {
    return statusName(this.code);
  }

  /** Wraps whatever a call failed with; a CairnError is returned as is. */
  static from(err: unknown): CairnError {
    if (err instanceof CairnError) return err;
    if (isServiceError(err)) {
      const metadata = err.metadata ?? new Metadata();
      const reason = metadata.get(REASON_METADATA_KEY)[0];
      return new CairnError(
        err.code,
        reason !== undefined && String(reason) !== '' ? String(reason) : statusName(err.code),
        err.details || statusName(err.code),
        metadata,
        { cause: err },
      );
    }
    const message = err instanceof Error ? err.message : String(err);
    return new CairnError(status.UNKNOWN, 'UNKNOWN', message, new Metadata(), { cause: err });
  }
}
