import type { Metadata } from '@grpc/grpc-js';

/** Who is calling, as established by the service's call authenticator. */
export interface CallerIdentity {
  /** The principal id, e.g. `user:alice` or `service-account:ci`. */
  principal: string;
  roles: string[];
  /** How the identity was established: `gateway-token`, `api-key`, `oidc`, `basic`, ... */
  via: string;
}

/** The call's request headers (gRPC metadata), by lower-case name. */
export interface HeaderSource {
  get(name: string): string | undefined;
}

/**
 * Establishes the caller of each call before its handler runs. Returns `undefined` when the
 * call presents no credentials (the handler sees no identity and decides whether it needs
 * one); throws an `AppError('unauthenticated', reason, …)` for credentials it refuses.
 */
export interface CallAuthenticator {
  authenticate(headers: HeaderSource): Promise<CallerIdentity | undefined>;
}

/** The Nest provider token of the application's CallAuthenticator. */
export const CALL_AUTHENTICATOR = Symbol('CALL_AUTHENTICATOR');

/** The first text value of each metadata key (binary `-bin` values are not headers). */
export function headersOf(metadata: Metadata): HeaderSource {
  return {
    get(name) {
      const [value] = metadata.get(name);
      return typeof value === 'string' ? value : undefined;
    },
  };
}
