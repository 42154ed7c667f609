import { Metadata, status } from '@grpc/grpc-js';
import { AppError, UpstreamError } from '@cairn/rpc';
import { HTTP_STATUS, MlflowError, mlflowErrorOf } from './mlflow-error';

function upstream(code: status, details: string, reason?: string): UpstreamError {
  const md = new Metadata();
  if (reason) md.set('cairn-reason', reason);
  return new UpstreamError(code, details, md);
}

describe('mlflowErrorOf', () => {
  it.each([
    [status.INVALID_ARGUMENT, 'INVALID_PARAMETER_VALUE', 400],
    [status.FAILED_PRECONDITION, 'INVALID_PARAMETER_VALUE', 400],
    [status.NOT_FOUND, 'RESOURCE_DOES_NOT_EXIST', 404],
    [status.ALREADY_EXISTS, 'RESOURCE_ALREADY_EXISTS', 400],
    [status.PERMISSION_DENIED, 'PERMISSION_DENIED', 403],
    [status.UNAUTHENTICATED, 'UNAUTHENTICATED', 401],
    [status.RESOURCE_EXHAUSTED, 'REQUEST_LIMIT_EXCEEDED', 429],
    [status.ABORTED, 'RESOURCE_CONFLICT', 409],
    [status.UNAVAILABLE, 'TEMPORARILY_UNAVAILABLE', 503],
    [status.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED', 504],
  ])(
    'maps gRPC status %s to %s (HTTP %s), keeping the service message and reason',
    (code, errorCode, http) => {
      const e = mlflowErrorOf(upstream(code, 'the service said so', 'SOME_REASON'));
      expect(e.body).toEqual({ error_code: errorCode, message: 'the service said so' });
      expect(e.httpStatus).toBe(http);
      expect(e.reason).toBe('SOME_REASON');
    },
  );

  it('never passes internal details on', () => {
    const e = mlflowErrorOf(upstream(status.INTERNAL, 'relation "x" does not exist'));
    expect(e.body).toEqual({ error_code: 'INTERNAL_ERROR', message: 'internal error' });
    expect(e.httpStatus).toBe(500);
    expect(mlflowErrorOf(new Error('secret')).body.message).toBe('internal error');
  });

  it("maps the gateway's own failures and its REST errors", () => {
    const denied = mlflowErrorOf(new AppError('permission_denied', 'PERMISSION_DENIED', 'no'));
    expect([denied.httpStatus, denied.body.error_code]).toEqual([403, 'PERMISSION_DENIED']);
    const nf = mlflowErrorOf(new MlflowError('ENDPOINT_NOT_FOUND', 'No endpoint'));
    expect([nf.httpStatus, nf.body.error_code, nf.reason]).toEqual([
      404,
      'ENDPOINT_NOT_FOUND',
      'ENDPOINT_NOT_FOUND',
    ]);
  });

  it("uses MLflow's HTTP statuses for its codes", () => {
    expect(HTTP_STATUS).toMatchObject({
      INVALID_PARAMETER_VALUE: 400,
      BAD_REQUEST: 400,
      RESOURCE_ALREADY_EXISTS: 400,
      UNAUTHENTICATED: 401,
      PERMISSION_DENIED: 403,
      RESOURCE_DOES_NOT_EXIST: 404,
      ENDPOINT_NOT_FOUND: 404,
      RESOURCE_CONFLICT: 409,
      REQUEST_LIMIT_EXCEEDED: 429,
      INTERNAL_ERROR: 500,
      INVALID_STATE: 500,
    });
  });
});
