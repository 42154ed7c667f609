import type { Metadata, ServiceError } from '@grpc/grpc-js';

/**
 * Another service's gRPC failure, to be passed to the caller as it is: status, message and
 * metadata (`cairn-reason`, `cairn-detail-*`). The gateway forwards calls; the services already
 * chose the precise status and reason, and the gateway must not turn them into INTERNAL.
 */
export class UpstreamError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    readonly metadata: Metadata,
  ) {
    super(details);
    this.name = 'UpstreamError';
  }

  static of(err: ServiceError): UpstreamError {
    return new UpstreamError(err.code, err.details, err.metadata);
  }
}
