import type { CallAuthenticator, CallerIdentity, HeaderSource } from '@cairn/rpc';
import { IDENTITY_METADATA_KEY } from './identity-token';
import type { IdentityVerifier } from './identity-verifier';

/**
 * The call authenticator every service has by default: the caller is whoever the gateway's
 * identity token (metadata `cairn-identity`) says it is. A call without a token has no
 * identity (the handler decides whether it needs one); a bad token fails the call.
 */
export class IdentityTokenAuthenticator implements CallAuthenticator {
  constructor(private readonly verifier: IdentityVerifier) {}

  authenticate(headers: HeaderSource): Promise<CallerIdentity | undefined> {
    const token = headers.get(IDENTITY_METADATA_KEY);
    return token === undefined ? NO_IDENTITY : this.verifier.verify(token);
  }
}

// One settled promise for every call without credentials: the common internal case costs nothing.
const NO_IDENTITY: Promise<undefined> = Promise.resolve(undefined);
