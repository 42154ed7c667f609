import { status } from '@grpc/grpc-js';
import { AppError, type AppErrorKind, grpcStatusFor } from './app-error';
import { toServiceError } from './grpc-server';

describe('application errors over gRPC', () => {
  it.each<[AppErrorKind, status]>([
    ['invalid_argument', status.INVALID_ARGUMENT],
    ['not_found', status.NOT_FOUND],
    ['already_exists', status.ALREADY_EXISTS],
    ['failed_precondition', status.FAILED_PRECONDITION],
    ['permission_denied', status.PERMISSION_DENIED],
    ['unauthenticated', status.UNAUTHENTICATED],
    ['resource_exhausted', status.RESOURCE_EXHAUSTED],
    ['aborted', status.ABORTED],
    ['unavailable', status.UNAVAILABLE],
  ])('%s maps to its precise status', (kind, code) => {
    expect(grpcStatusFor(kind)).toBe(code);
    const se = toServiceError(new AppError(kind, 'SOME_REASON', 'what went wrong', { run_id: 'r1' }));
    expect(se.code).toBe(code);
    expect(se.details).toBe('what went wrong');
    expect(se.metadata?.get('cairn-reason')).toEqual(['SOME_REASON']);
    expect(se.metadata?.get('cairn-detail-run_id')).toEqual(['r1']);
  });

  it('carries details metadata cannot hold as is, percent-encoded', () => {
    const se = toServiceError(new AppError('invalid_argument', 'BAD_PATH', 'bad', { path: 'a\u0000b/é' }));
    expect(se.metadata?.get('cairn-detail-path')).toEqual(['a%00b%2F%C3%A9']);
  });

  it('hides anything else behind INTERNAL', () => {
    const se = toServiceError(new TypeError('cannot read properties of undefined (reading "password")'));
    expect(se.code).toBe(status.INTERNAL);
    expect(se.details).toBe('internal error');
    expect(se.metadata?.get('cairn-reason')).toEqual(['INTERNAL']);
  });
});
